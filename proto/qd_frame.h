/* qd_frame -- length-prefixed protobuf framing shared by server and client.
 *
 * A frame is a 4-byte big-endian body length, then the body. This module
 * has no I/O: callers feed bytes and get frames (hiredis style), so it is
 * unit-tested without sockets. Decoding uses a capped allocator so a
 * hostile body cannot make protobuf-c allocate more than a fixed budget.
 */
#ifndef QD_FRAME_H
#define QD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "../server/limits.h"

typedef enum qd_frame_peek_result {
    QD_FRAME_READY = 0,       /* a whole frame is present */
    QD_FRAME_NEED_MORE = 1,   /* header or body incomplete */
    QD_FRAME_EMPTY = -1,      /* length 0: malformed */
    QD_FRAME_OVERSIZED = -2,  /* length > max_body */
} qd_frame_peek_result;

/* Look at the first n bytes of buf. Sets *body_len once the header is
 * complete (even if the body is not). Checks the length against max_body
 * before any body byte is needed. */
qd_frame_peek_result qd_frame_peek(const uint8_t *buf, size_t n,
                                   uint32_t max_body, uint32_t *body_len);

void qd_frame_put_header(uint8_t out[FRAME_HEADER_BYTES], uint32_t body_len);

/* Pack msg into a new malloc'd buffer: header + body. Returns 0, or -1 on
 * allocation failure or if the body would exceed max_body. */
__attribute__((warn_unused_result))
int qd_frame_encode(const ProtobufCMessage *msg, uint32_t max_body,
                    uint8_t **out, size_t *out_len);

/* A protobuf-c allocator that refuses to hand out more than cap bytes in
 * total (live). Use: qd_capalloc a; qd_capalloc_init(&a, cap);
 * x = quotad__client_frame__unpack(&a.base, len, buf); ...
 * quotad__client_frame__free_unpacked(x, &a.base); */
typedef struct qd_capalloc {
    ProtobufCAllocator base;  /* must be first; base.allocator_data = self */
    size_t used, cap, peak;
    int refused;              /* 1 after an allocation was refused */
} qd_capalloc;

void qd_capalloc_init(qd_capalloc *a, size_t cap);

#endif
