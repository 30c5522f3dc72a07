/* idem -- idempotency window: remembers the first answer to a request that
 * carried an idempotency id, for a bounded time and count, so a retry gets
 * the same answer and moves no money again.
 *
 * Entries live in a FIFO ring in arrival order plus an htab index. An entry
 * older than window_ms is gone; when the ring is full the oldest entry is
 * evicted (counted in evicted_early if still inside its window). Not
 * thread-safe: owned by a shard, used under its lock.
 */
#ifndef QD_IDEM_H
#define QD_IDEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htab.h"

#define IDEM_ANSWER_BYTES 96u   /* opaque answer blob per entry */

typedef struct idem_key {
    uint64_t lo, hi;            /* XXH3_128 of (scope, kind, id string) */
} idem_key;

typedef struct idem_entry {
    idem_key key;
    int64_t at_ms;              /* when the first answer was stored */
    uint64_t input_hash;        /* hash of the request input */
    uint32_t route;             /* workspace whose shard owns the entry */
    uint8_t answer[IDEM_ANSWER_BYTES];
} idem_entry;

typedef struct idem_tab {
    idem_entry *ring;
    uint32_t cap, head, count;  /* head = oldest entry */
    int64_t window_ms;
    htab index;                 /* key.lo|1 -> ring slot + 1 (as pointer) */
    uint64_t evicted_early;
} idem_tab;

/* Key of an id string within a scope (e.g. workspace id) and kind (e.g.
 * 'C' check, 'S' settle, 'W' wallet). */
idem_key idem_make_key(uint64_t scope, uint32_t kind, const char *id,
                       size_t id_len);

__attribute__((warn_unused_result))
int idem_init(idem_tab *t, uint32_t cap, int64_t window_ms);
void idem_free(idem_tab *t);

/* The live entry for key at now_ms, or NULL. Expired entries at the head
 * are dropped as a side effect. */
const idem_entry *idem_find(idem_tab *t, idem_key key, int64_t now_ms);

/* Store the first answer (route: the workspace whose shard owns it, so a
 * snapshot can put it back in the right shard whatever the shard count) (answer_len <= IDEM_ANSWER_BYTES). The caller has
 * checked idem_find returned NULL. Returns 0 or -1 on allocation failure. */
__attribute__((warn_unused_result))
int idem_put(idem_tab *t, idem_key key, uint32_t route, uint64_t input_hash,
             const void *answer, size_t answer_len, int64_t now_ms);

#endif
