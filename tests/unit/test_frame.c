/* test_frame -- qd_frame: peek, header, encode/decode, capped allocator.
 * No sockets: the framing layer is pure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qd_frame.h"
#include "quotad.pb-c.h"
#include "t.h"

/* A body length used throughout; any value below max works. */
#define BODY_LEN 10u
/* Small max for tests that do not want a megabyte buffer. */
#define SMALL_MAX 64u
/* Bytes per secret in the big batch (fits SECRET_CHARS_MAX). */
#define SECRET_LEN 100u
/* Far below what decoding a full batch needs. */
#define CAP_TOO_SMALL 4096u

static void test_peek_need_more_header(void)
{
    uint8_t buf[FRAME_HEADER_BYTES];
    qd_frame_put_header(buf, BODY_LEN);
    for (size_t n = 0; n < FRAME_HEADER_BYTES; n++) {
        uint32_t len = 12345;
        T_EQ_I64(qd_frame_peek(buf, n, SMALL_MAX, &len), QD_FRAME_NEED_MORE);
        T_EQ_I64(len, 12345); /* not set until the header is complete */
    }
    uint32_t len = 0;
    T_EQ_I64(qd_frame_peek(NULL, 0, SMALL_MAX, &len), QD_FRAME_NEED_MORE);
}

static void test_peek_partial_body_and_ready(void)
{
    uint8_t buf[FRAME_HEADER_BYTES + BODY_LEN];
    memset(buf, 0xab, sizeof buf);
    qd_frame_put_header(buf, BODY_LEN);
    for (size_t n = FRAME_HEADER_BYTES; n < sizeof buf; n++) {
        uint32_t len = 0;
        T_EQ_I64(qd_frame_peek(buf, n, SMALL_MAX, &len), QD_FRAME_NEED_MORE);
        T_EQ_I64(len, BODY_LEN);
    }
    uint32_t len = 0;
    T_EQ_I64(qd_frame_peek(buf, sizeof buf, SMALL_MAX, &len), QD_FRAME_READY);
    T_EQ_I64(len, BODY_LEN);
    /* Extra bytes after the frame (the next one) do not matter. */
    uint8_t two[2 * sizeof buf];
    memcpy(two, buf, sizeof buf);
    memcpy(two + sizeof buf, buf, sizeof buf);
    T_EQ_I64(qd_frame_peek(two, sizeof two, SMALL_MAX, &len), QD_FRAME_READY);
    T_EQ_I64(len, BODY_LEN);
}

static void test_peek_empty_and_oversized(void)
{
    uint8_t buf[FRAME_HEADER_BYTES];
    uint32_t len = 99;
    qd_frame_put_header(buf, 0);
    T_EQ_I64(qd_frame_peek(buf, sizeof buf, SMALL_MAX, &len), QD_FRAME_EMPTY);
    T_EQ_I64(len, 0);
    /* Oversized is known from the 4 header bytes alone. */
    qd_frame_put_header(buf, SMALL_MAX + 1);
    T_EQ_I64(qd_frame_peek(buf, sizeof buf, SMALL_MAX, &len),
             QD_FRAME_OVERSIZED);
    T_EQ_I64(len, SMALL_MAX + 1);
    qd_frame_put_header(buf, UINT32_MAX);
    T_EQ_I64(qd_frame_peek(buf, sizeof buf, FRAME_BYTES_MAX, &len),
             QD_FRAME_OVERSIZED);
    T_EQ_I64(len, UINT32_MAX);
    /* Exactly max is fine (needs its body). */
    qd_frame_put_header(buf, SMALL_MAX);
    T_EQ_I64(qd_frame_peek(buf, sizeof buf, SMALL_MAX, &len),
             QD_FRAME_NEED_MORE);
}

static void test_header_round_trip(void)
{
    const uint32_t vals[] = {0, 1, 255, 256, 65535, 0x01020304u,
                             FRAME_BYTES_MAX, UINT32_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint8_t buf[FRAME_HEADER_BYTES];
        qd_frame_put_header(buf, vals[i]);
        uint32_t len = 0;
        (void)qd_frame_peek(buf, sizeof buf, UINT32_MAX, &len);
        T_EQ_I64(len, vals[i]);
    }
    uint8_t be[FRAME_HEADER_BYTES];
    qd_frame_put_header(be, 0x01020304u);
    T_CHECK(be[0] == 1 && be[1] == 2 && be[2] == 3 && be[3] == 4);
}

/* Storage for a batch ClientFrame built on the heap. */
typedef struct batch {
    Quotad__ClientFrame f;
    Quotad__Request *reqs[BATCH_OPS_MAX];
    Quotad__Request req[BATCH_OPS_MAX];
    Quotad__Check ck[BATCH_OPS_MAX];
    char secret[BATCH_OPS_MAX][SECRET_LEN + 1];
} batch;

static batch *batch_new(size_t n)
{
    batch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    quotad__client_frame__init(&b->f);
    b->f.has_version = 1;
    b->f.version = PROTO_VERSION;
    for (size_t i = 0; i < n; i++) {
        quotad__check__init(&b->ck[i]);
        memset(b->secret[i], 'a' + (int)(i % 26), SECRET_LEN);
        b->ck[i].secret = b->secret[i];
        b->ck[i].has_amount = 1;
        b->ck[i].amount = (int64_t)i * 1000;
        quotad__request__init(&b->req[i]);
        b->req[i].has_id = 1;
        b->req[i].id = i + 1;
        b->req[i].op_case = QUOTAD__REQUEST__OP_CHECK;
        b->req[i].check = &b->ck[i];
        b->reqs[i] = &b->req[i];
    }
    b->f.n_requests = n;
    b->f.requests = b->reqs;
    return b;
}

static void test_encode_decode_batch(void)
{
    batch *b = batch_new(BATCH_OPS_MAX);
    T_REQUIRE(b != NULL);
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = qd_frame_encode(&b->f.base, FRAME_BYTES_MAX, &buf, &n);
    T_EQ_I64(rc, 0);
    uint32_t len = 0;
    T_EQ_I64(qd_frame_peek(buf, n, FRAME_BYTES_MAX, &len), QD_FRAME_READY);
    T_EQ_I64(len + FRAME_HEADER_BYTES, n);
    Quotad__ClientFrame *f = quotad__client_frame__unpack(
        NULL, len, buf + FRAME_HEADER_BYTES);
    T_CHECK(f != NULL);
    if (f != NULL) {
        T_EQ_I64(f->version, PROTO_VERSION);
        T_EQ_I64(f->n_requests, BATCH_OPS_MAX);
        for (size_t i = 0; i < f->n_requests; i++) {
            T_EQ_I64(f->requests[i]->id, i + 1);
            T_EQ_I64(f->requests[i]->op_case, QUOTAD__REQUEST__OP_CHECK);
            T_EQ_I64(f->requests[i]->check->amount, (int64_t)i * 1000);
            T_EQ_STR(f->requests[i]->check->secret, b->secret[i]);
        }
        quotad__client_frame__free_unpacked(f, NULL);
    }
    free(buf);
    free(b);
}

static void test_encode_refuses_oversized(void)
{
    batch *b = batch_new(BATCH_OPS_MAX);
    T_REQUIRE(b != NULL);
    size_t body = protobuf_c_message_get_packed_size(&b->f.base);
    uint8_t *buf = (uint8_t *)1;
    size_t n = 7;
    T_EQ_I64(qd_frame_encode(&b->f.base, (uint32_t)body - 1, &buf, &n), -1);
    T_CHECK(buf == NULL);
    T_EQ_I64(n, 0);
    /* Exactly body bytes is allowed. */
    T_EQ_I64(qd_frame_encode(&b->f.base, (uint32_t)body, &buf, &n), 0);
    T_EQ_I64(n, body + FRAME_HEADER_BYTES);
    free(buf);
    free(b);
}

/* Pack a full batch; the caller frees *body. */
static int pack_big(uint8_t **body, size_t *len)
{
    batch *b = batch_new(BATCH_OPS_MAX);
    if (b == NULL)
        return -1;
    *len = protobuf_c_message_get_packed_size(&b->f.base);
    *body = malloc(*len);
    if (*body != NULL)
        protobuf_c_message_pack(&b->f.base, *body);
    free(b);
    return *body != NULL ? 0 : -1;
}

static void test_capalloc_refuses_cleanly(void)
{
    uint8_t *body = NULL;
    size_t len = 0;
    T_REQUIRE(pack_big(&body, &len) == 0);
    qd_capalloc a;
    qd_capalloc_init(&a, CAP_TOO_SMALL);
    Quotad__ClientFrame *f = quotad__client_frame__unpack(&a.base, len, body);
    T_CHECK(f == NULL);
    T_EQ_I64(a.refused, 1);
    T_EQ_I64(a.used, 0); /* protobuf-c gave back everything it took */
    T_CHECK(a.peak <= CAP_TOO_SMALL);
    free(body);
}

static void test_capalloc_succeeds_and_returns_to_zero(void)
{
    uint8_t *body = NULL;
    size_t len = 0;
    T_REQUIRE(pack_big(&body, &len) == 0);
    qd_capalloc a;
    qd_capalloc_init(&a, DECODE_HEAP_BYTES_MAX);
    T_CHECK(a.base.allocator_data == &a);
    Quotad__ClientFrame *f = quotad__client_frame__unpack(&a.base, len, body);
    T_CHECK(f != NULL);
    T_EQ_I64(a.refused, 0);
    T_CHECK(a.used > len);
    T_CHECK(a.peak >= a.used);
    if (f != NULL) {
        T_EQ_I64(f->n_requests, BATCH_OPS_MAX);
        quotad__client_frame__free_unpacked(f, &a.base);
    }
    T_EQ_I64(a.used, 0);
    T_CHECK(a.peak > len);
    free(body);
}

static void test_capalloc_overflow_guard(void)
{
    qd_capalloc a;
    qd_capalloc_init(&a, DECODE_HEAP_BYTES_MAX);
    T_CHECK(a.base.alloc(a.base.allocator_data, SIZE_MAX) == NULL);
    T_CHECK(a.base.alloc(a.base.allocator_data, SIZE_MAX - 8) == NULL);
    T_EQ_I64(a.refused, 1);
    T_EQ_I64(a.used, 0);
    /* Exact fit: the budget is hit, not exceeded. */
    qd_capalloc_init(&a, 1024);
    void *p = a.base.alloc(a.base.allocator_data, 100);
    T_CHECK(p != NULL);
    size_t one = a.used;
    T_CHECK(one >= 100);
    void *q = a.base.alloc(a.base.allocator_data, 1024 - one - (one - 100));
    T_CHECK(q != NULL);
    T_EQ_I64(a.used, 1024);
    T_CHECK(a.base.alloc(a.base.allocator_data, 0) == NULL);
    a.base.free(a.base.allocator_data, q);
    a.base.free(a.base.allocator_data, p);
    a.base.free(a.base.allocator_data, NULL);
    T_EQ_I64(a.used, 0);
    T_EQ_I64(a.peak, 1024);
}

int main(void)
{
    T_RUN(test_peek_need_more_header);
    T_RUN(test_peek_partial_body_and_ready);
    T_RUN(test_peek_empty_and_oversized);
    T_RUN(test_header_round_trip);
    T_RUN(test_encode_decode_batch);
    T_RUN(test_encode_refuses_oversized);
    T_RUN(test_capalloc_refuses_cleanly);
    T_RUN(test_capalloc_succeeds_and_returns_to_zero);
    T_RUN(test_capalloc_overflow_guard);
    return t_done();
}
