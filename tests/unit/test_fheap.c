/* test_fheap -- the per-frame decode heap: alignment, the inline buffer
 * then blocks, the byte cap, oversized requests, decoding a frame through
 * it and giving everything back at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fheap.h"
#include "limits.h"
#include "qd_frame.h"
#include "quotad.pb-c.h"
#include "t.h"

#define SMALL_ALLOCS 1000u          /* far past the inline buffer */
#define CAP_SMALL 4096u

static void test_alignment_and_spill(void)
{
    fheap h;
    fheap_init(&h, DECODE_HEAP_BYTES_MAX);
    unsigned char *prev = NULL;
    for (uint32_t i = 0; i < SMALL_ALLOCS; i++) {
        size_t n = 1u + i % 37u;
        unsigned char *p = fheap_alloc(&h, n);
        T_REQUIRE(p != NULL);
        T_EQ_I64((uintptr_t)p % 16u, 0);
        memset(p, (int)i, n);            /* ASan: the whole size is ours */
        T_CHECK(p != prev);
        prev = p;
    }
    T_CHECK(h.blocks != NULL);           /* spilled past the inline part */
    void *big = fheap_alloc(&h, 3u * FHEAP_BLOCK_BYTES);
    T_REQUIRE(big != NULL);
    memset(big, 0xab, 3u * FHEAP_BLOCK_BYTES);
    fheap_free_all(&h);
    T_CHECK(h.blocks == NULL);
    T_CHECK(fheap_alloc(&h, 1) == NULL); /* until fheap_init */
}

static void test_first_allocs_are_inline(void)
{
    fheap h;
    fheap_init(&h, DECODE_HEAP_BYTES_MAX);
    unsigned char *p = fheap_alloc(&h, 100);
    T_CHECK(p >= h.first && p < h.first + sizeof(h.first));
    T_CHECK(h.blocks == NULL);
    T_CHECK(fheap_alloc(&h, 0) != NULL); /* protobuf-c may ask for 0 */
    fheap_free_all(&h);
}

static void test_cap(void)
{
    fheap h;
    fheap_init(&h, CAP_SMALL);
    T_CHECK(fheap_alloc(&h, CAP_SMALL + 1) == NULL);
    T_CHECK(fheap_alloc(&h, SIZE_MAX) == NULL);
    T_CHECK(fheap_alloc(&h, SIZE_MAX - 8) == NULL);
    size_t got = 0;
    while (fheap_alloc(&h, 64) != NULL)
        got += 64;
    T_CHECK(got > 0 && got <= CAP_SMALL);
    T_CHECK(h.used <= h.cap);
    fheap_free_all(&h);
}

/* A frame of checks decodes through the heap; a cap too small for it
 * fails cleanly (protobuf-c frees into it: no-ops). */
static void test_unpack(void)
{
    enum { N = 40 };
    Quotad__Check ck[N];
    Quotad__Request rq[N];
    Quotad__Request *pp[N];
    for (int i = 0; i < N; i++) {
        quotad__check__init(&ck[i]);
        ck[i].secret = "sk-0123456789abcdef0123456789abcdef0123456789abcdef"
                       "0123456789abcdef";
        ck[i].model = "gpt-4o";
        quotad__request__init(&rq[i]);
        rq[i].has_id = 1;
        rq[i].id = (uint64_t)i;
        rq[i].op_case = QUOTAD__REQUEST__OP_CHECK;
        rq[i].check = &ck[i];
        pp[i] = &rq[i];
    }
    Quotad__ClientFrame cf = QUOTAD__CLIENT_FRAME__INIT;
    cf.n_requests = N;
    cf.requests = pp;
    uint8_t *buf = NULL;
    size_t len = 0;
    T_REQUIRE(qd_frame_encode(&cf.base, FRAME_BYTES_MAX, &buf, &len) == 0);
    fheap h;
    fheap_init(&h, DECODE_HEAP_BYTES_MAX);
    Quotad__ClientFrame *f = quotad__client_frame__unpack(
        &h.base, len - FRAME_HEADER_BYTES, buf + FRAME_HEADER_BYTES);
    T_REQUIRE(f != NULL);
    T_EQ_I64(f->n_requests, N);
    T_EQ_STR(f->requests[N - 1]->check->model, "gpt-4o");
    T_EQ_I64(f->requests[N - 1]->id, N - 1);
    fheap_free_all(&h);
    fheap_init(&h, CAP_SMALL);
    f = quotad__client_frame__unpack(&h.base, len - FRAME_HEADER_BYTES,
                                     buf + FRAME_HEADER_BYTES);
    T_CHECK(f == NULL);
    fheap_free_all(&h);
    free(buf);
}

int main(void)
{
    T_RUN(test_alignment_and_spill);
    T_RUN(test_first_allocs_are_inline);
    T_RUN(test_cap);
    T_RUN(test_unpack);
    return t_done();
}
