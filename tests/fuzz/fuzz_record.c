/* fuzz_record -- rec_apply on hostile log records: what recovery does
 * with a damaged (but checksum-valid) log or snapshot, without the chunk
 * layer in the way, so mutations act directly on the records.
 *
 * Input: a control byte (scratch store shard count = 1 + (ctl & 3), so the
 * same records route to different shards), then a raw records area as in
 * a chunk: [u32 LE length][packed LogRecord] ... Records are decoded and
 * applied in order until one does not decode or is rejected (recovery
 * stops there, refusing to start). rec_apply must never crash, whatever
 * it is given; the store it leaves must be servable (views, checks) and
 * survive every hold expiring (fz_store_exercise), then pass
 * fz_store_check.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    store *st = fz_scratch_open(1u + (data[0] & 3u));
    (void)fz_apply_records(st, data + 1, size - 1);
    fz_store_exercise(st);
    fz_store_check(st);
    store_close(st);
    return 0;
}
