/* test_plog_order -- a commit's records put in seq order: dense seqs
 * shuffled (placement), seqs with holes, a span too wide for placement
 * (qsort), tiny inputs and the scratch reused across commits, each
 * checked against qsort of the same refs, payload pointers included;
 * and the growth of ref arrays (plog_refs_grow). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/persist_util.h"
#include "plog_order.h"
#include "t.h"

#define REFS_MAX 5000u
#define ROUNDS 200u

static uint8_t g_bytes[REFS_MAX];
static uint64_t g_rng = 42;

static uint64_t rnd(void)
{
    return pu_rand(&g_rng);
}

static int by_seq(const void *a, const void *b)
{
    const plog_ref *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* refs[i] gets seqs[i] and a payload that names it. */
static void fill(plog_ref *refs, const uint64_t *seqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        refs[i].seq = seqs[i];
        refs[i].p = &g_bytes[i];
        refs[i].len = (uint32_t)i + 1u;
    }
}

static void shuffle(uint64_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rnd() % i);
        uint64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* plog_order must give exactly what qsort gives. */
static int order_matches(const uint64_t *seqs, size_t n, plog_order_buf *b)
{
    static plog_ref got[REFS_MAX], want[REFS_MAX];
    fill(got, seqs, n);
    fill(want, seqs, n);
    plog_order(got, n, b);
    qsort(want, n, sizeof(*want), by_seq);
    return memcmp(got, want, n * sizeof(*got)) == 0;
}

static void test_dense_shuffled(void)
{
    static uint64_t seqs[REFS_MAX];
    plog_order_buf b = {0};
    for (uint32_t r = 0; r < ROUNDS; r++) {
        size_t n = 2u + (size_t)(rnd() % (REFS_MAX - 1u));
        uint64_t base = rnd() >> 8;
        for (size_t i = 0; i < n; i++)
            seqs[i] = base + i;
        shuffle(seqs, n);
        T_CHECK(order_matches(seqs, n, &b));
    }
    T_CHECK(b.cap > 0);                   /* placement ran */
    plog_order_free(&b);
    T_CHECK(b.slots == NULL && b.cap == 0);
}

/* Per-shard runs in order, concatenated: what the writer gathers. */
static void test_shard_runs_with_holes(void)
{
    static uint64_t seqs[REFS_MAX];
    plog_order_buf b = {0};
    for (uint32_t r = 0; r < ROUNDS; r++) {
        size_t n = 0;
        uint64_t s = 1000u + rnd() % 1000u;
        while (n < REFS_MAX / 2u) {
            s += 1u + (rnd() % 4u == 0 ? rnd() % 3u : 0u);  /* holes */
            seqs[n++] = s;
        }
        /* Split into "shards": deal by a hash, keeping each run ordered. */
        static uint64_t dealt[REFS_MAX];
        size_t k = 0;
        for (uint32_t sh = 0; sh < 8u; sh++)
            for (size_t i = 0; i < n; i++)
                if ((seqs[i] * 0x9e3779b1u >> 7) % 8u == sh)
                    dealt[k++] = seqs[i];
        T_REQUIRE(k == n);
        T_CHECK(order_matches(dealt, n, &b));
    }
    plog_order_free(&b);
}

static void test_sparse_falls_back(void)
{
    static uint64_t seqs[REFS_MAX];
    plog_order_buf b = {0};
    size_t n = 1000;
    for (size_t i = 0; i < n; i++)
        seqs[i] = 7u + i * (PLOG_ORDER_SPAN_FACTOR + 1u) * 3u;
    shuffle(seqs, n);
    T_CHECK(order_matches(seqs, n, &b));
    T_EQ_I64(b.cap, 0);                   /* qsort, no span allocated */
    /* One stray old seq in an otherwise dense commit: still ordered. */
    for (size_t i = 0; i < n; i++)
        seqs[i] = 1000000u + i;
    seqs[n / 2] = 3;
    shuffle(seqs, n);
    T_CHECK(order_matches(seqs, n, &b));
    /* Extremes of the seq range. */
    uint64_t ends[4] = {UINT64_MAX, 1, UINT64_MAX - 1u, 2};
    T_CHECK(order_matches(ends, 4, &b));
    uint64_t whole[2] = {UINT64_MAX, 0};  /* the span wraps to 0 */
    T_CHECK(order_matches(whole, 2, &b));
    plog_order_free(&b);
}

static void test_tiny(void)
{
    plog_order_buf b = {0};
    uint64_t one = 42, two[2] = {9, 8};
    plog_order(NULL, 0, &b);
    T_CHECK(order_matches(&one, 1, &b));
    T_CHECK(order_matches(two, 2, &b));
    uint64_t exact[3] = {12, 10, 11};
    T_CHECK(order_matches(exact, 3, &b));
    plog_order_free(&b);
}

/* Growth keeps what was there; an absurd size is refused untouched. */
static void test_refs_grow(void)
{
    plog_ref *r = NULL;
    size_t cap = 0;
    T_REQUIRE(plog_refs_grow(&r, &cap, 1) == 0);
    T_EQ_I64(cap, PLOG_REFS_FIRST_CAP);
    for (size_t i = 0; i < cap; i++)
        r[i] = (plog_ref){.seq = i, .p = g_bytes, .len = (uint32_t)i};
    T_REQUIRE(plog_refs_grow(&r, &cap, 3 * PLOG_REFS_FIRST_CAP) == 0);
    T_EQ_I64(cap, 4 * PLOG_REFS_FIRST_CAP);
    for (size_t i = 0; i < PLOG_REFS_FIRST_CAP; i++)
        T_CHECK(r[i].seq == i && r[i].len == i);
    plog_ref *before = r;
    T_EQ_I64(plog_refs_grow(&r, &cap, SIZE_MAX), -1);
    T_CHECK(r == before && cap == 4 * PLOG_REFS_FIRST_CAP);
    T_EQ_I64(plog_refs_grow(&r, &cap, 2), 0);      /* fits: no change */
    T_CHECK(r == before);
    free(r);
}

int main(void)
{
    T_RUN(test_dense_shuffled);
    T_RUN(test_shard_runs_with_holes);
    T_RUN(test_sparse_falls_back);
    T_RUN(test_tiny);
    T_RUN(test_refs_grow);
    return t_done();
}
