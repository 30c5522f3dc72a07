/* test_connpark -- parked replies: pushed in order, released exactly up
 * to the durable seq (never one more), moved to the output byte-exact and
 * in order, across ring growth and the large-frame (no copy) path; each
 * release times its replies; a drained large ring is freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "connpark.h"
#include "limits.h"
#include "t.h"

#define REPLIES 300u            /* > the first ring size: it grows */
#define SMALL_BYTES 40u
#define BIG_EVERY 97u           /* every 97th reply is a large frame */
#define BIG_BYTES (CONN_REPLY_COPY_BYTES_MAX + 100u)
#define RX_NS_BASE 1000u

static size_t len_of(uint32_t i)
{
    return i % BIG_EVERY == 0 ? BIG_BYTES : SMALL_BYTES + i % 7u;
}

/* Reply i: its bytes say who it is. */
static uint8_t *frame_of(uint32_t i, size_t len)
{
    uint8_t *f = malloc(len);
    if (f != NULL)
        for (size_t k = 0; k < len; k++)
            f[k] = (uint8_t)(i * 13u + k);
    return f;
}

/* out must hold replies from..to-1, in order, and nothing else. */
static int out_holds(struct evbuffer *out, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; i++) {
        size_t len = len_of(i);
        uint8_t *want = frame_of(i, len);
        uint8_t *got = malloc(len);
        int ok = want != NULL && got != NULL &&
                 evbuffer_remove(out, got, len) == (int)len &&
                 memcmp(want, got, len) == 0;
        free(want);
        free(got);
        if (!ok)
            return 0;
    }
    return evbuffer_get_length(out) == 0;
}

static uint64_t runs_count(const lathist_batch *b)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < b->n; i++)
        n += b->run[i].count;
    return n;
}

static void test_release_in_order(void)
{
    parkq q = {0};
    struct evbuffer *out = evbuffer_new();
    T_REQUIRE(out != NULL);
    size_t total = 0;
    for (uint32_t i = 0; i < REPLIES; i++) {
        size_t len = len_of(i);
        uint8_t *f = frame_of(i, len);
        T_REQUIRE(f != NULL);
        /* seq 2i+1: a durable seq between two is exercised. One read
         * time for all: the batch keeps one run (it flushes when full). */
        T_REQUIRE(parkq_push(&q, f, len, 2u * i + 1u, RX_NS_BASE) == 0);
        total += len;
    }
    T_EQ_I64(q.n, REPLIES);
    T_EQ_I64(q.bytes, total);
    T_CHECK(q.cap >= REPLIES);

    lathist_batch lat = {0};
    T_EQ_I64(parkq_release(&q, 0, out, &lat), 0);      /* nothing durable */
    T_EQ_I64(evbuffer_get_length(out), 0);
    T_EQ_I64(q.n, REPLIES);

    /* durable = 100: replies with seq 1..99 (i = 0..49) go, 50 stays. */
    T_EQ_I64(parkq_release(&q, 100, out, &lat), 0);
    T_EQ_I64(q.n, REPLIES - 50u);
    T_CHECK(out_holds(out, 0, 50));
    T_EQ_I64(runs_count(&lat), 50);
    lathist_batch_flush_at(&lat, &g_lathist, 0);       /* drop, untimed */

    T_EQ_I64(parkq_release(&q, 100, out, &lat), 0);    /* idempotent */
    T_EQ_I64(evbuffer_get_length(out), 0);

    T_EQ_I64(parkq_release(&q, UINT64_MAX, out, &lat), 0);
    T_EQ_I64(q.n, 0);
    T_EQ_I64(q.bytes, 0);
    T_CHECK(out_holds(out, 50, REPLIES));
    lathist_batch_flush_at(&lat, &g_lathist, 0);
    parkq_free(&q);
    evbuffer_free(out);
}

/* A burst that grew the ring past its keep size frees it once drained;
 * the queue is usable again afterwards. */
static void test_big_ring_freed(void)
{
    parkq q = {0};
    struct evbuffer *out = evbuffer_new();
    T_REQUIRE(out != NULL);
    const uint32_t burst = 3000u;
    for (uint32_t i = 0; i < burst; i++) {
        uint8_t *f = frame_of(i, SMALL_BYTES);
        T_REQUIRE(f != NULL);
        T_REQUIRE(parkq_push(&q, f, SMALL_BYTES, i + 1u, 0) == 0);
    }
    T_CHECK(q.cap >= burst);
    lathist_batch lat = {0};
    T_EQ_I64(parkq_release(&q, burst, out, &lat), 0);
    T_EQ_I64(q.n, 0);
    T_CHECK(q.ring == NULL && q.cap == 0);
    T_EQ_I64(lat.n, 0);                                 /* rx 0: untimed */
    T_EQ_I64(evbuffer_get_length(out), (size_t)burst * SMALL_BYTES);
    uint8_t *f = frame_of(7, SMALL_BYTES);
    T_REQUIRE(f != NULL);
    T_EQ_I64(parkq_push(&q, f, SMALL_BYTES, burst + 1u, 0), 0);
    T_EQ_I64(q.n, 1);
    parkq_free(&q);                                     /* frees its frame */
    T_CHECK(q.buf == NULL && q.n == 0);
    evbuffer_free(out);
}

int main(void)
{
    T_RUN(test_release_in_order);
    T_RUN(test_big_ring_freed);
    return t_done();
}
