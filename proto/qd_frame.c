/* qd_frame.c -- length-prefixed protobuf framing and the capped allocator.
 *
 * No I/O here: see qd_frame.h. Both the server and libquotad link this.
 */
#include "qd_frame.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every capped block starts with a header holding its payload size, so
 * free() can give the bytes back. The header is as big as the strictest
 * alignment, so the payload after it stays aligned for any type. */
#define CAPALLOC_HDR_BYTES ((size_t)_Alignof(max_align_t))

_Static_assert(CAPALLOC_HDR_BYTES >= sizeof(size_t),
               "the block header must hold a size_t");
_Static_assert(FRAME_HEADER_BYTES == 4u, "the length prefix is 32 bits");

/* Decode the big-endian prefix. Split out so peek stays a straight line of
 * checks. */
static uint32_t frame_get_header(const uint8_t *buf)
{
    return ((uint32_t)buf[0] << 24) | ((uint32_t)buf[1] << 16) |
           ((uint32_t)buf[2] << 8) | (uint32_t)buf[3];
}

/* The length is judged as soon as the 4 header bytes are in, so an
 * oversized frame is refused before the caller buffers any of its body. */
qd_frame_peek_result qd_frame_peek(const uint8_t *buf, size_t n,
                                   uint32_t max_body, uint32_t *body_len)
{
    assert(buf != NULL || n == 0);
    assert(body_len != NULL);
    if (n < FRAME_HEADER_BYTES)
        return QD_FRAME_NEED_MORE;
    uint32_t len = frame_get_header(buf);
    *body_len = len;
    if (len == 0)
        return QD_FRAME_EMPTY;
    if (len > max_body)
        return QD_FRAME_OVERSIZED;
    if (n - FRAME_HEADER_BYTES < (size_t)len)
        return QD_FRAME_NEED_MORE;
    return QD_FRAME_READY;
}

void qd_frame_put_header(uint8_t out[FRAME_HEADER_BYTES], uint32_t body_len)
{
    assert(out != NULL);
    out[0] = (uint8_t)(body_len >> 24);
    out[1] = (uint8_t)(body_len >> 16);
    out[2] = (uint8_t)(body_len >> 8);
    out[3] = (uint8_t)body_len;
}

/* One malloc for header and body so the caller can send it with one write
 * and free it with one free. The size is checked before allocating so an
 * oversized message costs nothing. */
int qd_frame_encode(const ProtobufCMessage *msg, uint32_t max_body,
                    uint8_t **out, size_t *out_len)
{
    assert(msg != NULL);
    assert(out != NULL && out_len != NULL);
    *out = NULL;
    *out_len = 0;
    size_t body = protobuf_c_message_get_packed_size(msg);
    if (body > (size_t)max_body)
        return -1;
    size_t total = FRAME_HEADER_BYTES + body;
    uint8_t *buf = malloc(total);
    if (buf == NULL)
        return -1;
    qd_frame_put_header(buf, (uint32_t)body);
    size_t packed = protobuf_c_message_pack(msg, buf + FRAME_HEADER_BYTES);
    assert(packed == body);
    (void)packed;
    *out = buf;
    *out_len = total;
    return 0;
}

/* Hand out a block only if the live total (headers included) stays within
 * cap. Sizes come from a hostile peer's length fields, so every addition
 * is checked for overflow before it is made. */
static void *capalloc_alloc(void *data, size_t size)
{
    qd_capalloc *a = data;
    assert(a != NULL);
    assert(a->used <= a->cap);
    if (size > SIZE_MAX - CAPALLOC_HDR_BYTES) {
        a->refused = 1;
        return NULL;
    }
    size_t total = size + CAPALLOC_HDR_BYTES;
    if (total > a->cap - a->used) {
        a->refused = 1;
        return NULL;
    }
    unsigned char *block = malloc(total);
    if (block == NULL) {
        a->refused = 1;
        return NULL;
    }
    memcpy(block, &size, sizeof size);
    a->used += total;
    if (a->used > a->peak)
        a->peak = a->used;
    return block + CAPALLOC_HDR_BYTES;
}

/* Give a block's bytes back to the budget. */
static void capalloc_free(void *data, void *ptr)
{
    qd_capalloc *a = data;
    assert(a != NULL);
    if (ptr == NULL)
        return;
    unsigned char *block = (unsigned char *)ptr - CAPALLOC_HDR_BYTES;
    size_t size;
    memcpy(&size, block, sizeof size);
    size_t total = size + CAPALLOC_HDR_BYTES;
    assert(total <= a->used);
    a->used -= total;
    free(block);
}

void qd_capalloc_init(qd_capalloc *a, size_t cap)
{
    assert(a != NULL);
    memset(a, 0, sizeof *a);
    a->base.alloc = capalloc_alloc;
    a->base.free = capalloc_free;
    a->base.allocator_data = a;
    a->cap = cap;
}
