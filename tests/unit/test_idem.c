/* test_idem.c -- idempotency window: expiry, FIFO eviction, collisions. */
#include "idem.h"
#include "t.h"

#define WIN_MS INT64_C(1000)
#define T0 INT64_C(1700000000000)

static idem_key K(uint64_t lo, uint64_t hi)
{
    idem_key k = {lo, hi};
    return k;
}

static int put(idem_tab *t, idem_key k, uint8_t tag, int64_t now)
{
    uint8_t ans[IDEM_ANSWER_BYTES];
    memset(ans, tag, sizeof ans);
    return idem_put(t, k, 0, (uint64_t)tag * 1000u, ans, sizeof ans, now);
}

/* The entry for k is live and carries the answer written by put(tag). */
static int has(idem_tab *t, idem_key k, uint8_t tag, int64_t now)
{
    const idem_entry *e = idem_find(t, k, now);
    if (e == NULL || e->input_hash != (uint64_t)tag * 1000u)
        return 0;
    for (size_t i = 0; i < IDEM_ANSWER_BYTES; i++)
        if (e->answer[i] != tag)
            return 0;
    return 1;
}

static void test_make_key(void)
{
    idem_key a = idem_make_key(1, 'C', "req-1", 5);
    idem_key b = idem_make_key(1, 'C', "req-1", 5);
    T_CHECK(a.lo == b.lo && a.hi == b.hi);
    idem_key c = idem_make_key(2, 'C', "req-1", 5);
    idem_key d = idem_make_key(1, 'S', "req-1", 5);
    idem_key e = idem_make_key(1, 'C', "req-2", 5);
    idem_key f = idem_make_key(1, 'C', "req-1x", 5);  /* len bounds it */
    idem_key g = idem_make_key(1, 'C', "req-", 4);
    idem_key h = idem_make_key(1, 'C', NULL, 0);
    T_CHECK(a.lo != c.lo && a.hi != c.hi);
    T_CHECK(a.lo != d.lo && a.hi != d.hi);
    T_CHECK(a.lo != e.lo && a.hi != e.hi);
    T_CHECK(a.lo == f.lo && a.hi == f.hi);
    T_CHECK(a.lo != g.lo && a.lo != h.lo);
    /* Scope and kind are fixed-width: (scope, kind) can't shift into id. */
    idem_key x = idem_make_key(0x4100000000000000u, 0, "", 0);
    idem_key y = idem_make_key(0, 0x41, "", 0);
    T_CHECK(x.lo != y.lo);
    /* A long id (beyond any small fixed buffer) hashes fine. */
    char big[4096];
    memset(big, 'z', sizeof big);
    idem_key l1 = idem_make_key(1, 'C', big, sizeof big);
    big[sizeof big - 1] = 'y';
    idem_key l2 = idem_make_key(1, 'C', big, sizeof big);
    T_CHECK(l1.lo != l2.lo);
}

static void test_init_args(void)
{
    idem_tab t;
    T_EQ_I64(idem_init(&t, 0, WIN_MS), -1);
    T_EQ_I64(idem_init(&t, 4, -1), -1);
    T_REQUIRE(idem_init(&t, 4, WIN_MS) == 0);
    T_EQ_I64(t.cap, 4);
    T_EQ_I64(t.count, 0);
    T_EQ_I64(t.window_ms, WIN_MS);
    idem_free(&t);
    T_CHECK(t.ring == NULL);
}

static void test_put_find(void)
{
    idem_tab t;
    T_REQUIRE(idem_init(&t, 8, WIN_MS) == 0);
    idem_key a = idem_make_key(7, 'C', "a", 1);
    idem_key b = idem_make_key(7, 'C', "b", 1);
    T_CHECK(idem_find(&t, a, T0) == NULL);
    T_REQUIRE(put(&t, a, 0x11, T0) == 0);
    T_EQ_I64(has(&t, a, 0x11, T0), 1);
    T_CHECK(idem_find(&t, b, T0) == NULL);
    T_REQUIRE(put(&t, b, 0x22, T0 + 5) == 0);
    T_EQ_I64(has(&t, a, 0x11, T0 + 5), 1);
    T_EQ_I64(has(&t, b, 0x22, T0 + 5), 1);
    const idem_entry *e = idem_find(&t, b, T0 + 6);
    T_REQUIRE(e != NULL);
    T_EQ_I64(e->at_ms, T0 + 5);
    T_CHECK(e->key.lo == b.lo && e->key.hi == b.hi);
    T_EQ_I64(t.count, 2);
    idem_free(&t);
}

/* A short answer is copied and the rest of the blob is zero. */
static void test_answer_bytes(void)
{
    idem_tab t;
    T_REQUIRE(idem_init(&t, 2, WIN_MS) == 0);
    uint8_t ans[IDEM_ANSWER_BYTES];
    for (size_t i = 0; i < sizeof ans; i++)
        ans[i] = (uint8_t)(i * 7 + 3);
    idem_key a = K(10, 20), b = K(30, 40), c = K(50, 60);
    T_REQUIRE(idem_put(&t, a, 0, 0xfeedu, ans, sizeof ans, T0) == 0);
    T_REQUIRE(idem_put(&t, b, 0, 0xbeefu, ans, 5, T0) == 0);
    const idem_entry *e = idem_find(&t, a, T0);
    T_REQUIRE(e != NULL);
    T_CHECK(memcmp(e->answer, ans, sizeof ans) == 0);
    T_CHECK(e->input_hash == 0xfeedu);
    e = idem_find(&t, b, T0);
    T_REQUIRE(e != NULL);
    T_CHECK(memcmp(e->answer, ans, 5) == 0);
    for (size_t i = 5; i < IDEM_ANSWER_BYTES; i++)
        T_EQ_I64(e->answer[i], 0);
    /* The slot reused after eviction does not keep old bytes. */
    T_REQUIRE(idem_put(&t, c, 0, 1, NULL, 0, T0) == 0);
    e = idem_find(&t, c, T0);
    T_REQUIRE(e != NULL);
    for (size_t i = 0; i < IDEM_ANSWER_BYTES; i++)
        T_EQ_I64(e->answer[i], 0);
    idem_free(&t);
}

/* Live through at_ms + window - 1, gone at exactly at_ms + window. */
static void test_expiry_edge(void)
{
    idem_tab t;
    T_REQUIRE(idem_init(&t, 8, WIN_MS) == 0);
    idem_key a = K(1, 1), b = K(3, 3);
    T_REQUIRE(put(&t, a, 1, T0) == 0);
    T_REQUIRE(put(&t, b, 2, T0 + 500) == 0);
    T_EQ_I64(has(&t, a, 1, T0 + WIN_MS - 1), 1);
    T_EQ_I64(t.count, 2);
    T_CHECK(idem_find(&t, a, T0 + WIN_MS) == NULL);
    T_EQ_I64(t.count, 1);                   /* expired head dropped */
    T_EQ_I64(has(&t, b, 2, T0 + WIN_MS), 1);
    T_EQ_I64(has(&t, b, 2, T0 + 500 + WIN_MS - 1), 1);
    T_CHECK(idem_find(&t, b, T0 + 500 + WIN_MS) == NULL);
    T_EQ_I64(t.count, 0);
    T_EQ_I64(t.index.count, 0);
    T_EQ_I64(t.evicted_early, 0);
    /* After expiry the same key can be stored again. */
    T_REQUIRE(put(&t, a, 9, T0 + 5000) == 0);
    T_EQ_I64(has(&t, a, 9, T0 + 5000), 1);
    idem_free(&t);
}

/* Looking up any key drops every expired entry at the head. */
static void test_expired_head_dropped(void)
{
    idem_tab t;
    T_REQUIRE(idem_init(&t, 8, WIN_MS) == 0);
    for (uint64_t i = 0; i < 5; i++)
        T_REQUIRE(put(&t, K(i * 2 + 2, i), (uint8_t)i, T0 + (int64_t)i * 100)
                  == 0);
    T_CHECK(idem_find(&t, K(999, 999), T0 + WIN_MS + 250) == NULL);
    T_EQ_I64(t.count, 2);                   /* entries at T0+300, T0+400 */
    T_EQ_I64(t.index.count, 2);
    T_EQ_I64(t.head, 3);
    T_CHECK(idem_find(&t, K(2, 0), T0 + WIN_MS + 250) == NULL);
    T_EQ_I64(has(&t, K(8, 3), 3, T0 + WIN_MS + 250), 1);
    T_EQ_I64(has(&t, K(10, 4), 4, T0 + WIN_MS + 250), 1);
    T_EQ_I64(t.evicted_early, 0);
    idem_free(&t);
}

/* A full ring evicts oldest first; only live evictions count as early. */
static void test_fifo_eviction(void)
{
    idem_tab t;
    T_REQUIRE(idem_init(&t, 3, WIN_MS) == 0);
    T_REQUIRE(put(&t, K(2, 1), 1, T0) == 0);
    T_REQUIRE(put(&t, K(4, 2), 2, T0 + 1) == 0);
    T_REQUIRE(put(&t, K(6, 3), 3, T0 + 2) == 0);
    T_EQ_I64(t.count, 3);
    T_REQUIRE(put(&t, K(8, 4), 4, T0 + 3) == 0);
    T_EQ_I64(t.count, 3);
    T_EQ_I64(t.evicted_early, 1);
    T_CHECK(idem_find(&t, K(2, 1), T0 + 3) == NULL);
    T_EQ_I64(has(&t, K(4, 2), 2, T0 + 3), 1);
    T_EQ_I64(has(&t, K(6, 3), 3, T0 + 3), 1);
    T_EQ_I64(has(&t, K(8, 4), 4, T0 + 3), 1);
    T_REQUIRE(put(&t, K(10, 5), 5, T0 + 4) == 0);
    T_EQ_I64(t.evicted_early, 2);
    T_CHECK(idem_find(&t, K(4, 2), T0 + 4) == NULL);
    T_EQ_I64(has(&t, K(6, 3), 3, T0 + 4), 1);
    T_EQ_I64(t.index.count, 3);
    /* Past the window the oldest expires instead: not counted early. */
    T_REQUIRE(put(&t, K(12, 6), 6, T0 + 2 + WIN_MS) == 0);
    T_EQ_I64(t.evicted_early, 2);
    T_CHECK(idem_find(&t, K(6, 3), T0 + 2 + WIN_MS) == NULL);
    T_EQ_I64(has(&t, K(8, 4), 4, T0 + 2 + WIN_MS), 1);
    T_EQ_I64(has(&t, K(12, 6), 6, T0 + 2 + WIN_MS), 1);
    idem_free(&t);
}

/* Wrap the ring many times; the newest cap entries are always present. */
static void test_ring_wraps(void)
{
    enum { CAP = 5, N = 53 };
    idem_tab t;
    T_REQUIRE(idem_init(&t, CAP, INT64_MAX) == 0);
    size_t bad = 0;
    for (uint64_t i = 0; i < N; i++) {
        idem_key k = idem_make_key(1, 'C', (const char *)&i, sizeof i);
        T_REQUIRE(put(&t, k, (uint8_t)i, T0 + (int64_t)i) == 0);
        for (uint64_t j = 0; j <= i; j++) {
            idem_key kj = idem_make_key(1, 'C', (const char *)&j, sizeof j);
            int want = j + CAP > i;
            bad += has(&t, kj, (uint8_t)j, T0 + (int64_t)i) != want;
        }
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(t.evicted_early, N - CAP);
    T_EQ_I64(t.index.count, CAP);
    idem_free(&t);
}

/* Keys with equal lo (or lo differing only in bit 0) share an index entry:
 * a find for the other key must not return this key's answer. */
static void test_lo_collision(void)
{
    idem_tab t;
    T_REQUIRE(idem_init(&t, 8, WIN_MS) == 0);
    idem_key a = K(0x1234, 1), b = K(0x1234, 2), c = K(0x1235, 1);
    T_REQUIRE(put(&t, a, 0xa, T0) == 0);
    T_EQ_I64(has(&t, a, 0xa, T0), 1);
    T_CHECK(idem_find(&t, b, T0) == NULL);      /* same lo, other hi */
    T_CHECK(idem_find(&t, c, T0) == NULL);      /* lo|1 equal */
    /* Storing b takes the index entry over; a is then forgotten. */
    T_REQUIRE(put(&t, b, 0xb, T0 + 10) == 0);
    T_EQ_I64(has(&t, b, 0xb, T0 + 10), 1);
    T_CHECK(idem_find(&t, a, T0 + 10) == NULL);
    T_EQ_I64(t.index.count, 1);
    /* When a (the older slot) expires, b's index entry must survive. */
    T_CHECK(idem_find(&t, K(77, 77), T0 + WIN_MS) == NULL);
    T_EQ_I64(t.count, 1);
    T_EQ_I64(has(&t, b, 0xb, T0 + WIN_MS), 1);
    T_EQ_I64(t.index.count, 1);
    T_CHECK(idem_find(&t, b, T0 + 10 + WIN_MS) == NULL);
    T_EQ_I64(t.index.count, 0);
    idem_free(&t);
}

/* Same as above but the older colliding entry leaves by capacity. */
static void test_lo_collision_eviction(void)
{
    idem_tab t;
    T_REQUIRE(idem_init(&t, 2, WIN_MS) == 0);
    idem_key a = K(0x40, 1), b = K(0x41, 2), c = K(0x99, 3);
    T_REQUIRE(put(&t, a, 1, T0) == 0);
    T_REQUIRE(put(&t, b, 2, T0 + 1) == 0);
    T_REQUIRE(put(&t, c, 3, T0 + 2) == 0);      /* evicts a */
    T_EQ_I64(t.evicted_early, 1);
    T_EQ_I64(has(&t, b, 2, T0 + 2), 1);
    T_EQ_I64(has(&t, c, 3, T0 + 2), 1);
    T_CHECK(idem_find(&t, a, T0 + 2) == NULL);
    idem_free(&t);
}

/* With the clock stepped back, an entry behind the head may expire
 * before the head; find still refuses it. */
static void test_non_monotonic_clock(void)
{
    idem_tab t;
    T_REQUIRE(idem_init(&t, 4, WIN_MS) == 0);
    T_REQUIRE(put(&t, K(2, 2), 2, T0 + 500) == 0);
    T_REQUIRE(put(&t, K(4, 4), 4, T0) == 0);    /* clock went back */
    T_CHECK(idem_find(&t, K(4, 4), T0 + WIN_MS) == NULL);
    T_EQ_I64(has(&t, K(2, 2), 2, T0 + WIN_MS), 1);
    idem_free(&t);
}

int main(void)
{
    T_RUN(test_make_key);
    T_RUN(test_init_args);
    T_RUN(test_put_find);
    T_RUN(test_answer_bytes);
    T_RUN(test_expiry_edge);
    T_RUN(test_expired_head_dropped);
    T_RUN(test_fifo_eviction);
    T_RUN(test_ring_wraps);
    T_RUN(test_lo_collision);
    T_RUN(test_lo_collision_eviction);
    T_RUN(test_non_monotonic_clock);
    return t_done();
}
