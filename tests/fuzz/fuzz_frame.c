/* fuzz_frame -- the framing layer and the capped protobuf decoder.
 *
 * Input: one control byte, then a byte stream as a socket would deliver
 * it. The control byte picks the max_body given to qd_frame_peek (the real
 * FRAME_BYTES_MAX or a small one, so both sides of the limit are reached
 * with short inputs) and the capped allocator's budget (the real
 * DECODE_HEAP_BYTES_MAX or a small one, so refusals happen mid-decode).
 * The stream is peeled frame by frame, as conn.c does.
 *
 * Invariants checked:
 *   peek: fewer than 4 bytes -> NEED_MORE and *body_len untouched;
 *         otherwise *body_len is the big-endian prefix; READY only when
 *         0 < len <= max_body and the whole body is among the bytes given;
 *         NEED_MORE only for a valid length whose body is incomplete;
 *         EMPTY iff len 0; OVERSIZED iff len > max_body; one byte less
 *         than a READY frame is NEED_MORE.
 *   decode (ClientFrame and ServerFrame, capped allocator):
 *         live bytes and peak never exceed the cap; after a failed decode
 *         or free_unpacked every byte is given back; a body that decodes
 *         under a small cap decodes under the full one.
 *   re-encode: a decoded message encodes (qd_frame_encode) to one READY
 *         frame; if that decodes again it encodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define FZ_FRAMES_MAX 64u
#define FZ_SMALL_BODY_SHIFT_MAX 7u  /* small max_body: 16 << 0..7 */
#define FZ_SMALL_CAP_BASE 64u       /* small heap cap: 64 << 0..15 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Check one peek against its contract; returns the result. */
static qd_frame_peek_result peek_checked(const uint8_t *buf, size_t n,
                                         uint32_t max_body, uint32_t *len)
{
    const uint32_t poison = 0xa5a5a5a5u;
    *len = poison;
    qd_frame_peek_result r = qd_frame_peek(buf, n, max_body, len);
    if (n < FRAME_HEADER_BYTES) {
        if (r != QD_FRAME_NEED_MORE || *len != poison)
            fz_die("peek of %zu bytes: result %d, len set", n, (int)r);
        return r;
    }
    uint32_t want = be32(buf);
    if (*len != want)
        fz_die("peek: body_len %u, prefix says %u", *len, want);
    int complete = (size_t)want <= n - FRAME_HEADER_BYTES;
    qd_frame_peek_result expect =
        want == 0 ? QD_FRAME_EMPTY
        : want > max_body ? QD_FRAME_OVERSIZED
        : complete ? QD_FRAME_READY : QD_FRAME_NEED_MORE;
    if (r != expect)
        fz_die("peek: len %u max %u n %zu gave %d, want %d", want, max_body,
               n, (int)r, (int)expect);
    if (r == QD_FRAME_READY) {
        uint32_t l2 = 0;
        if (qd_frame_peek(buf, FRAME_HEADER_BYTES + (size_t)want - 1,
                          max_body, &l2) != QD_FRAME_NEED_MORE)
            fz_die("peek: READY with one byte less than the frame");
    }
    return r;
}

/* Decode body with a cap; check the allocator's accounting. Returns the
 * message (freed by the caller with the same allocator) or NULL. */
static ProtobufCMessage *decode_capped(const ProtobufCMessageDescriptor *d,
                                       qd_capalloc *a, size_t cap,
                                       const uint8_t *body, size_t len)
{
    qd_capalloc_init(a, cap);
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &a->base, len, body);
    if (a->used > a->cap || a->peak > a->cap)
        fz_die("capped decode of %s: used %zu peak %zu cap %zu", d->name,
               a->used, a->peak, a->cap);
    if (m == NULL && a->used != 0)
        fz_die("failed decode of %s kept %zu bytes", d->name, a->used);
    return m;
}

static void release(ProtobufCMessage *m, qd_capalloc *a)
{
    protobuf_c_message_free_unpacked(m, &a->base);
    if (a->used != 0)
        fz_die("free_unpacked left %zu bytes accounted", a->used);
}

/* Encode m as a frame, decode that again, encode again: same bytes. */
static void reencode(const ProtobufCMessageDescriptor *d,
                     const ProtobufCMessage *m)
{
    uint8_t *f1 = NULL, *f2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (qd_frame_encode(m, UINT32_MAX, &f1, &n1) != 0)
        fz_die("decoded %s does not encode", d->name);
    uint32_t len = 0;
    if (qd_frame_peek(f1, n1, UINT32_MAX, &len) != QD_FRAME_READY ||
        (size_t)len + FRAME_HEADER_BYTES != n1) {
        /* an empty message encodes to an empty body: EMPTY is right */
        if (!(n1 == FRAME_HEADER_BYTES && len == 0))
            fz_die("encoded %s is not one READY frame", d->name);
    }
    ProtobufCMessage *m2 = protobuf_c_message_unpack(
        d, NULL, n1 - FRAME_HEADER_BYTES, f1 + FRAME_HEADER_BYTES);
    if (m2 == NULL) {
        /* libprotobuf-c quirk, not ours: it keeps an unknown field whose
         * tag is an overlong varint for field number 0 ("81 00"), packs it
         * canonically ("01") and then refuses that. quotad never re-sends
         * a client's message, so only the fixpoint below is required. */
        free(f1);
        return;
    }
    if (qd_frame_encode(m2, UINT32_MAX, &f2, &n2) != 0 || n2 != n1 ||
        memcmp(f1, f2, n1) != 0)
        fz_die("%s: encode(decode(encode(m))) != encode(m)", d->name);
    protobuf_c_message_free_unpacked(m2, NULL);
    free(f1);
    free(f2);
}

static void decode_body(const ProtobufCMessageDescriptor *d,
                        const uint8_t *body, size_t len, size_t small_cap)
{
    qd_capalloc a;
    ProtobufCMessage *m = decode_capped(d, &a, small_cap, body, len);
    int small_ok = m != NULL;
    if (m != NULL)
        release(m, &a);
    m = decode_capped(d, &a, DECODE_HEAP_BYTES_MAX, body, len);
    if (small_ok && m == NULL)
        fz_die("%s decodes with a %zu-byte cap but not with the full one",
               d->name, small_cap);
    if (m != NULL) {
        reencode(d, m);
        release(m, &a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctl = data[0];
    data++;
    size--;
    uint32_t max_body = (ctl & 1u)
        ? FRAME_BYTES_MAX
        : 16u << ((ctl >> 1) & FZ_SMALL_BODY_SHIFT_MAX);
    size_t small_cap = (size_t)FZ_SMALL_CAP_BASE << ((ctl >> 4) & 15u);
    size_t off = 0;
    for (unsigned i = 0; i < FZ_FRAMES_MAX; i++) {
        uint32_t len = 0;
        qd_frame_peek_result r = peek_checked(data + off, size - off,
                                              max_body, &len);
        if (r != QD_FRAME_READY)
            break;
        const uint8_t *body = data + off + FRAME_HEADER_BYTES;
        decode_body(&quotad__client_frame__descriptor, body, len, small_cap);
        decode_body(&quotad__server_frame__descriptor, body, len, small_cap);
        uint8_t hdr[FRAME_HEADER_BYTES];
        qd_frame_put_header(hdr, len);
        if (memcmp(hdr, data + off, sizeof hdr) != 0)
            fz_die("put_header(%u) differs from the prefix read", len);
        off += FRAME_HEADER_BYTES + (size_t)len;
    }
    return 0;
}
