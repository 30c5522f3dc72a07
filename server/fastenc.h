/* fastenc -- hand encoding of the hottest reply frame.
 *
 * A check answer is the reply gateways wait for. protobuf-c encodes it in
 * two passes over its descriptors (get_packed_size, then pack); this
 * module writes the same bytes in one pass for frames whose replies carry
 * only scalar fields, an error text, and at most a CheckReply or Pong.
 * The output is byte-for-byte what protobuf-c would produce
 * (tests/unit/test_fastenc.c compares them); any other frame is left to
 * protobuf-c.
 */
#ifndef QD_FASTENC_H
#define QD_FASTENC_H

#include <stddef.h>
#include <stdint.h>

#include "quotad.pb-c.h"

/* Encode sf with its 4-byte length prefix into a malloc'd buffer.
 * Returns 1 on success, 0 when sf has a reply this encoder does not
 * handle (nothing allocated), -1 when out of memory or the body would
 * exceed max_body. */
int fastenc_server_frame(const Quotad__ServerFrame *sf, uint32_t max_body,
                         uint8_t **out, size_t *out_len);

#endif
