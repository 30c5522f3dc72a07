/* test_tagtab.c -- packed tag -> pointer table: basics, growth, reserve,
 * iteration, load bounds (test_tagtab_model.c: against a reference model
 * and under collisions; shared helpers in tagtab_fx.h). */
#include "tagtab_fx.h"

static void test_empty(void)
{
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    T_CHECK(t.slots == NULL);
    T_EQ_I64(t.cap, 0);
    T_EQ_I64(t.count, 0);
    T_CHECK(t.tag_of == ent_tag_of);
    bool alt = true;
    T_CHECK(tagtab_get(&t, 1, &alt) == NULL);
    T_CHECK(tagtab_get(&t, UINT64_MAX, NULL) == NULL);
    T_CHECK(tagtab_del(&t, 1) == NULL);
    T_CHECK(tagtab_del(&t, UINT64_MAX) == NULL);
    size_t pos = 0;
    void *v = NULL;
    T_EQ_I64(tagtab_next(&t, &pos, &v, &alt), 0);
    T_REQUIRE(tagtab_reserve(&t, 0) == 0);      /* nothing to make room for */
    T_EQ_I64(t.cap, 0);
    tagtab_free(&t);
    tagtab_free(&t);                            /* twice is harmless */
    T_CHECK(t.slots == NULL);
    T_EQ_I64(t.cap, 0);
}

static void test_basic(void)
{
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    ent *a = ent_new(0x1111, 0x2222);
    ent *b = ent_new(UINT64_MAX, UINT64_C(0x8000000000000000));
    ent *c = ent_new(UINT64_C(0xabcd000000000001), 0x3333);
    T_REQUIRE(tagtab_put(&t, a->tag[0], a, false) == 0);
    T_REQUIRE(tagtab_put(&t, b->tag[0], b, false) == 0);
    T_REQUIRE(tagtab_put(&t, b->tag[1], b, true) == 0);
    T_REQUIRE(tagtab_put(&t, c->tag[0], c, false) == 0);
    T_EQ_I64(t.count, 4);
    T_EQ_I64(t.cap, CAP_MIN);
    bool alt = true;
    T_CHECK(tagtab_get(&t, a->tag[0], &alt) == a);
    T_CHECK(!alt);
    T_CHECK(tagtab_get(&t, a->tag[1], &alt) == NULL);   /* never put */
    T_CHECK(tagtab_get(&t, b->tag[0], &alt) == b);
    T_CHECK(!alt);
    T_CHECK(tagtab_get(&t, b->tag[1], &alt) == b);
    T_CHECK(alt);
    T_CHECK(tagtab_get(&t, c->tag[0], NULL) == c);      /* alt optional */
    T_CHECK(tagtab_get(&t, 0x4444, NULL) == NULL);
    /* Same low 48 bits as c, other top: a miss, not c. */
    T_CHECK(tagtab_get(&t, UINT64_C(0xabce000000000001), NULL) == NULL);
    T_CHECK(tagtab_get(&t, UINT64_C(0x0000000000000001), NULL) == NULL);
    /* Same top as c, other low bits: a miss. */
    T_CHECK(tagtab_get(&t, UINT64_C(0xabcd000000000011), NULL) == NULL);

    T_CHECK(tagtab_del(&t, a->tag[1]) == NULL);         /* absent */
    T_CHECK(tagtab_del(&t, 0x9999) == NULL);
    T_EQ_I64(t.count, 4);
    T_CHECK(tagtab_del(&t, b->tag[0]) == b);
    T_EQ_I64(t.count, 3);
    T_CHECK(tagtab_get(&t, b->tag[0], NULL) == NULL);
    T_CHECK(tagtab_get(&t, b->tag[1], &alt) == b);      /* alt tag stays */
    T_CHECK(alt);
    T_CHECK(tagtab_del(&t, b->tag[0]) == NULL);         /* twice */
    T_CHECK(tagtab_del(&t, b->tag[1]) == b);
    T_CHECK(tagtab_del(&t, a->tag[0]) == a);
    T_CHECK(tagtab_del(&t, c->tag[0]) == c);
    T_EQ_I64(t.count, 0);
    T_CHECK(tagtab_get(&t, c->tag[0], NULL) == NULL);
    T_CHECK(tagtab_del(&t, c->tag[0]) == NULL);         /* empty, cap > 0 */
    T_EQ_I64(count_items(&t), 0);
    for (size_t i = 0; i < t.cap; i++)
        T_CHECK(t.slots[i] == 0);
    /* Put back after emptying; then free and reuse the same struct. */
    T_REQUIRE(tagtab_put(&t, a->tag[1], a, true) == 0);
    T_CHECK(tagtab_get(&t, a->tag[1], &alt) == a && alt);
    tagtab_free(&t);
    T_CHECK(t.slots == NULL);
    T_EQ_I64(t.count, 0);
    T_CHECK(tagtab_get(&t, a->tag[1], NULL) == NULL);
    T_REQUIRE(tagtab_put(&t, c->tag[0], c, false) == 0);
    T_CHECK(tagtab_get(&t, c->tag[0], NULL) == c);
    tagtab_free(&t);
    free(a);
    free(b);
    free(c);
}

/* One value under both tags: either tag finds it and reports which. */
static void test_alt_pairs(void)
{
    enum { N = 40 };
    ent *e[N];
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    for (uint64_t i = 0; i < N; i++) {
        /* Main and alt tags share their low 48 bits: same home slot,
         * other stored bits. */
        e[i] = ent_new(splitmix(i) | 1u,
                       (splitmix(i) | 1u) ^ (UINT64_C(0x5a5a) << TOP_SHIFT));
        T_REQUIRE(tagtab_put(&t, e[i]->tag[0], e[i], false) == 0);
        T_REQUIRE(tagtab_put(&t, e[i]->tag[1], e[i], true) == 0);
    }
    T_EQ_I64(t.count, 2 * N);
    size_t bad = 0;
    for (size_t i = 0; i < N; i++) {
        bool alt = true;
        bad += tagtab_get(&t, e[i]->tag[0], &alt) != e[i] || alt;
        alt = false;
        bad += tagtab_get(&t, e[i]->tag[1], &alt) != e[i] || !alt;
    }
    T_EQ_I64(bad, 0);
    /* Iteration sees each value twice, once per alt flag. */
    unsigned seen[N][2];
    memset(seen, 0, sizeof seen);
    size_t pos = 0;
    void *v;
    bool alt;
    while (tagtab_next(&t, &pos, &v, &alt)) {
        size_t i = 0;
        while (i < N && e[i] != v)
            i++;
        if (i < N)
            seen[i][alt ? 1 : 0]++;
        else
            bad++; /* a value that was never put */
    }
    for (size_t i = 0; i < N; i++)
        bad += seen[i][0] != 1 || seen[i][1] != 1;
    T_EQ_I64(bad, 0);
    /* Drop the main tags of the even values, the alt tags of the odd. */
    for (size_t i = 0; i < N; i++)
        bad += tagtab_del(&t, e[i]->tag[i % 2]) != e[i];
    T_EQ_I64(bad, 0);
    T_EQ_I64(t.count, N);
    for (size_t i = 0; i < N; i++) {
        bool a2 = (i % 2) == 0;     /* the one left */
        bool got = !a2;
        bad += tagtab_get(&t, e[i]->tag[i % 2], NULL) != NULL;
        bad += tagtab_get(&t, e[i]->tag[a2 ? 1 : 0], &got) != e[i];
        bad += got != a2;
    }
    T_EQ_I64(bad, 0);
    tagtab_free(&t);
    for (size_t i = 0; i < N; i++)
        free(e[i]);
}

/* Capacity grows by 5/4 exactly when count would pass 85% load, and
 * every entry survives each rehash. */
static void test_growth(void)
{
    enum { N = 5000 };
    static ent *e[N];
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    size_t bad = 0, expect_cap = CAP_MIN, grows = 0;
    for (uint64_t i = 0; i < N; i++) {
        e[i] = ent_new(splitmix(i + 1000) | 1u, 0);
        size_t need = (size_t)i + 1, old_cap = t.cap;
        while (!fits(expect_cap, need))
            expect_cap = cap_after(expect_cap);
        T_REQUIRE(tagtab_put(&t, e[i]->tag[0], e[i], false) == 0);
        bad += t.cap != expect_cap;
        if (i + 1 == CAP_MIN_FILL)
            bad += t.cap != CAP_MIN;
        if (i + 1 == CAP_MIN_FILL + 1)
            bad += t.cap != CAP_SECOND;
        /* Right after each growth, everything put so far is reachable. */
        if (t.cap != old_cap) {
            grows++;
            for (uint64_t j = 0; j <= i; j++)
                bad += tagtab_get(&t, e[j]->tag[0], NULL) != e[j];
            bad += layout_errors(&t);
        }
    }
    T_EQ_I64(grows, 28);                /* 0 -> 16 -> 20 -> ... -> 6163 */
    T_EQ_I64(t.cap, 6163);
    T_EQ_I64(bad, 0);
    T_EQ_I64(t.count, N);
    T_CHECK(fits(t.cap, t.count));
    for (size_t i = 0; i < N; i++)
        bad += tagtab_get(&t, e[i]->tag[0], NULL) != e[i];
    T_EQ_I64(bad, 0);
    T_EQ_I64(count_items(&t), N);
    tagtab_free(&t);
    for (size_t i = 0; i < N; i++)
        free(e[i]);
}

/* reserve(n) grows once, up front, to the capacity puts would reach;
 * the next n puts never grow. */
static void test_reserve(void)
{
    enum { N = 1000, M = 10000 };
    static ent *e[N + M];
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    for (uint64_t i = 0; i < N + M; i++)
        e[i] = ent_new(splitmix(i + 77) | 1u, 0);
    T_REQUIRE(tagtab_reserve(&t, N) == 0);
    T_EQ_I64(t.cap, 1293);              /* 1035 * 85% < 1000 <= 1293 * 85% */
    T_EQ_I64(t.count, 0);
    uint64_t *slots = t.slots;
    for (size_t i = 0; i < N; i++)
        T_REQUIRE(tagtab_put(&t, e[i]->tag[0], e[i], false) == 0);
    T_CHECK(t.slots == slots);          /* no rehash */
    T_EQ_I64(t.cap, 1293);
    T_REQUIRE(tagtab_reserve(&t, 0) == 0);
    T_REQUIRE(tagtab_reserve(&t, 99) == 0);    /* 1099 <= 1293 * 85% */
    T_EQ_I64(t.cap, 1293);
    T_CHECK(t.slots == slots);
    T_REQUIRE(tagtab_reserve(&t, 100) == 0);
    T_EQ_I64(t.cap, 1616);
    /* Far ahead: one rehash (tag_of about once per entry), straight to
     * 15043 (11000 > 12035 * 85%), not through every step. */
    tag_of_calls = 0;
    T_REQUIRE(tagtab_reserve(&t, M) == 0);
    T_EQ_I64(t.cap, 15043);
    T_CHECK(tag_of_calls >= N && tag_of_calls < 2 * N);
    slots = t.slots;
    for (size_t i = N; i < N + M; i++)
        T_REQUIRE(tagtab_put(&t, e[i]->tag[0], e[i], false) == 0);
    T_CHECK(t.slots == slots);
    size_t bad = 0;
    for (size_t i = 0; i < N + M; i++)
        bad += tagtab_get(&t, e[i]->tag[0], NULL) != e[i];
    T_EQ_I64(bad, 0);
    T_EQ_I64(t.count, N + M);
    T_EQ_I64(layout_errors(&t), 0);
    /* Past the count bound: refused before allocating, table unchanged. */
    T_CHECK(tagtab_reserve(&t, SIZE_MAX) == -1);
    T_CHECK(tagtab_reserve(&t, SIZE_MAX / 256u) == -1);
    T_CHECK(t.slots == slots && t.cap == 15043 && t.count == N + M);
    tagtab_free(&t);
    /* Reserve on a table already holding a few entries. */
    tagtab_init(&t, ent_tag_of);
    for (size_t i = 0; i < 10; i++)
        T_REQUIRE(tagtab_put(&t, e[i]->tag[0], e[i], false) == 0);
    T_EQ_I64(t.cap, CAP_MIN);
    T_REQUIRE(tagtab_reserve(&t, 3) == 0);     /* 13 fits in 16 */
    T_EQ_I64(t.cap, CAP_MIN);
    T_REQUIRE(tagtab_reserve(&t, 4) == 0);     /* 14 does not */
    T_EQ_I64(t.cap, CAP_SECOND);
    for (size_t i = 0; i < 10; i++)
        bad += tagtab_get(&t, e[i]->tag[0], NULL) != e[i];
    T_EQ_I64(bad, 0);
    tagtab_free(&t);
    for (size_t i = 0; i < N + M; i++)
        free(e[i]);
}




/* Tag with home slot h of a CAP_MIN-slot table, unique by k. */
static uint64_t home_tag(unsigned h, uint64_t k)
{
    return tag_at(CAP_MIN, h, k);
}



/* Iteration visits every entry exactly once, with the right alt flag. */
static void test_iteration(void)
{
    enum { N = 5000 };
    static ent *e[N];
    static unsigned char seen[N][2];
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    memset(seen, 0, sizeof seen);
    for (uint64_t i = 0; i < N; i++) {
        /* Index in the low 32 bits of the alt tag for the look-up below. */
        e[i] = ent_new(splitmix(i + 5) | 1u, (splitmix(i) << 32) | (i + 1));
        T_REQUIRE(tagtab_put(&t, e[i]->tag[0], e[i], false) == 0);
        if (i % 2 == 0)
            T_REQUIRE(tagtab_put(&t, e[i]->tag[1], e[i], true) == 0);
    }
    for (size_t i = 0; i < N; i += 3)
        T_REQUIRE(tagtab_del(&t, e[i]->tag[0]) == e[i]);
    size_t pos = 0, n = 0, bad = 0;
    void *v;
    bool alt;
    while (tagtab_next(&t, &pos, &v, &alt)) {
        const ent *x = v;
        uint64_t i = (x->tag[1] & 0xffffffffu) - 1;
        T_REQUIRE(i < N && e[i] == x);
        seen[i][alt ? 1 : 0]++;
        n++;
    }
    T_EQ_I64(n, t.count);
    for (size_t i = 0; i < N; i++) {
        bad += seen[i][0] != (i % 3 == 0 ? 0 : 1);
        bad += seen[i][1] != (i % 2 == 0 ? 1 : 0);
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(tagtab_next(&t, &pos, &v, &alt), 0);   /* stays at the end */
    T_EQ_I64(tagtab_next(&t, &pos, &v, &alt), 0);
    tagtab_free(&t);
    pos = 0;
    T_EQ_I64(tagtab_next(&t, &pos, &v, &alt), 0);   /* freed table */
    for (size_t i = 0; i < N; i++)
        free(e[i]);
}

/* 100k values under both tags: put, find, delete half, find again. */
static void test_many(void)
{
    ent **e = malloc(BIG_N * sizeof(*e));
    T_REQUIRE(e != NULL);
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    size_t bad = 0;
    for (uint64_t i = 0; i < BIG_N; i++) {
        e[i] = ent_new(splitmix(2 * i) | 1u, splitmix(2 * i + 1) | 1u);
        bad += tagtab_put(&t, e[i]->tag[0], e[i], false) != 0;
        bad += tagtab_put(&t, e[i]->tag[1], e[i], true) != 0;
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(t.count, 2 * BIG_N);
    T_CHECK(fits(t.cap, t.count));
    for (size_t i = 0; i < BIG_N; i++) {
        bool alt = true;
        bad += tagtab_get(&t, e[i]->tag[0], &alt) != e[i] || alt;
        bad += tagtab_get(&t, e[i]->tag[1], &alt) != e[i] || !alt;
    }
    T_EQ_I64(bad, 0);
    for (size_t i = 0; i < BIG_N; i += 2) {
        bad += tagtab_del(&t, e[i]->tag[0]) != e[i];
        bad += tagtab_del(&t, e[i]->tag[1]) != e[i];
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(t.count, BIG_N);
    for (size_t i = 0; i < BIG_N; i++) {
        void *want = i % 2 ? e[i] : NULL;
        bad += tagtab_get(&t, e[i]->tag[0], NULL) != want;
        bad += tagtab_get(&t, e[i]->tag[1], NULL) != want;
        bad += tagtab_get(&t, splitmix(2 * i + 2 * BIG_N) | 1u, NULL) != NULL;
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(count_items(&t), BIG_N);
    tagtab_free(&t);
    for (size_t i = 0; i < BIG_N; i++)
        free(e[i]);
    free(e);
}

/* peek: a prefetch hint that never calls tag_of, follows the probe run
 * at most TAGTAB_PEEK_SLOTS_MAX slots (wrapping at the end of the array),
 * and may name a value that merely shares the stored 16 tag bits. */
static void test_peek(void)
{
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    T_CHECK(tagtab_peek(&t, 5) == NULL);           /* no slots yet */
    tagtab_prefetch(&t, 5);                        /* harmless */
    const uint64_t top = UINT64_C(0x1234) << TOP_SHIFT;
    ent *a = ent_new(top | home_tag(2, 0), 0);
    T_REQUIRE(tagtab_put(&t, a->tag[0], a, false) == 0);
    unsigned long calls = tag_of_calls;
    T_CHECK(tagtab_peek(&t, top | home_tag(2, 0)) == a);
    T_CHECK(tagtab_peek(&t, top | home_tag(2, 1)) == a);  /* same bits */
    T_CHECK(tagtab_get(&t, top | home_tag(2, 1), NULL) == NULL);
    calls = tag_of_calls - calls;
    T_EQ_I64(calls, 1);                            /* only the get */
    T_CHECK(tagtab_peek(&t, (UINT64_C(0x9999) << TOP_SHIFT) |
                                home_tag(2, 0)) == NULL);
    T_CHECK(tagtab_peek(&t, top | home_tag(3, 0)) == NULL); /* empty home */
    tagtab_prefetch(&t, top | home_tag(2, 0));
    /* A run of other tops from home 9, as long as peek looks: slots 9..15
     * then 0; one more from home 9 goes to 1, out of peek's reach. */
    ent *run[TAGTAB_PEEK_SLOTS_MAX] = {0};
    for (uint32_t i = 0; i < TAGTAB_PEEK_SLOTS_MAX; i++) {
        run[i] = ent_new((UINT64_C(0x4000) + i) << TOP_SHIFT | home_tag(9, i),
                         0);
        T_REQUIRE(tagtab_put(&t, run[i]->tag[0], run[i], false) == 0);
    }
    ent *last = ent_new(UINT64_C(0x7777) << TOP_SHIFT | home_tag(9, 100), 0);
    T_REQUIRE(tagtab_put(&t, last->tag[0], last, false) == 0);
    T_EQ_I64(t.cap, CAP_MIN);
    T_EQ_I64(slot_of(&t, run[TAGTAB_PEEK_SLOTS_MAX - 1], false), 0);
    T_EQ_I64(slot_of(&t, last, false), 1);
    T_CHECK(tagtab_get(&t, last->tag[0], NULL) == last);
    T_CHECK(tagtab_peek(&t, last->tag[0]) == NULL);       /* too far */
    T_CHECK(tagtab_peek(&t, run[0]->tag[0]) == run[0]);
    /* The 8th slot looked at is slot 0, after the wrap. */
    T_CHECK(tagtab_peek(&t, run[TAGTAB_PEEK_SLOTS_MAX - 1]->tag[0]) ==
            run[TAGTAB_PEEK_SLOTS_MAX - 1]);
    tagtab_free(&t);
    free(a);
    free(last);
    for (uint32_t i = 0; i < TAGTAB_PEEK_SLOTS_MAX; i++)
        free(run[i]);
}

/* Only adding: after the first growth the load stays within
 * [LOAD_MIN_PCT, LOAD_MAX_PCT] and averages about 0.76; a shard's share
 * of 1 M keys fits in SHARD_CAP slots (8 * 18803 / 15625 = 9.6 bytes per
 * key). Deleting never moves the capacity. */
static void test_load_bounds(void)
{
    ent **e = malloc(LOAD_N * sizeof(*e));
    T_REQUIRE(e != NULL);
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    size_t bad = 0, low = 0, high = 0, steps = 0, expect_cap = 0;
    double load_sum = 0;
    for (uint64_t i = 0; i < LOAD_N; i++) {
        e[i] = ent_new(splitmix(3 * i + 7) | 1u, splitmix(3 * i + 8) | 1u);
        for (int a = 0; a < 2; a++) {
            size_t old_cap = t.cap;
            bad += tagtab_put(&t, e[i]->tag[a], e[i], a == 1) != 0;
            if (t.cap != old_cap) {
                bad += t.cap != cap_after(old_cap);
                bad += old_cap != expect_cap;
                expect_cap = t.cap;
                steps++;
            }
            high += t.count * 100u > t.cap * LOAD_MAX_PCT;
            low += t.count > CAP_MIN_FILL &&
                   t.count * 100u < t.cap * LOAD_MIN_PCT;
            load_sum += (double)t.count / (double)t.cap;
            if (t.count == SHARD_KEYS)
                bad += t.cap != SHARD_CAP;
        }
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(high, 0);
    T_EQ_I64(low, 0);
    T_EQ_I64(t.count, 2 * LOAD_N);
    T_EQ_I64(steps, 43);                /* 16, 20, ... 175097 */
    T_EQ_I64(t.cap, 175097);
    double avg = load_sum / (2.0 * LOAD_N);
    T_CHECK(avg > 0.74 && avg < 0.78);
    size_t cap = t.cap;
    for (size_t i = 0; i < LOAD_N; i++)
        bad += tagtab_del(&t, e[i]->tag[i % 2]) != e[i];
    T_EQ_I64(bad, 0);
    T_EQ_I64(t.cap, cap);
    T_EQ_I64(t.count, LOAD_N);
    T_EQ_I64(layout_errors(&t), 0);
    for (size_t i = 0; i < LOAD_N; i++)
        bad += tagtab_get(&t, e[i]->tag[1 - i % 2], NULL) != e[i];
    T_EQ_I64(bad, 0);
    tagtab_free(&t);
    for (size_t i = 0; i < LOAD_N; i++)
        free(e[i]);
    free(e);
}

/* Capacities that are not powers of two: every slot is some tag's home
 * (tag_at lands where home_of says, first slot and last included), a
 * full table wraps its last run into the first slots, and deleting
 * across the wrap keeps every entry reachable. */
static void test_odd_caps(void)
{
    enum { FILL_MAX = 900 };
    static ent *e[FILL_MAX];
    static size_t order[FILL_MAX];
    size_t bad = 0, caps = 0;
    for (size_t cap = CAP_SECOND; cap_fill(cap) <= FILL_MAX;
         cap = cap_after(cap)) {
        size_t n = cap_fill(cap);
        caps++;
        bad += (cap & (cap - 1)) == 0;              /* none is 2^k */
        tagtab t;
        tagtab_init(&t, ent_tag_of);
        T_REQUIRE(tagtab_reserve(&t, n) == 0);
        T_EQ_I64(t.cap, cap);
        /* One tag per home, alone in the table: it sits at its home. */
        for (size_t h = 0; h < cap; h++) {
            ent *x = ent_new(tag_at(cap, h, h) | (UINT64_C(0xbeef) << 48), 0);
            bad += home_of(cap, x->tag[0]) != h;
            bad += tagtab_put(&t, x->tag[0], x, false) != 0;
            bad += slot_of(&t, x, false) != (long)h;
            bad += tagtab_del(&t, x->tag[0]) != x;
            free(x);
        }
        /* Full: a third of the tags on each of the last two homes and
         * the rest random, so the last run wraps far into the start. */
        for (size_t i = 0; i < n; i++) {
            uint64_t tag = i % 3 == 2 ? splitmix(cap * 1000 + i) | 1u
                                      : tag_at(cap, cap - 1 - i % 3, i);
            e[i] = ent_new(tag, 0);
            bad += tagtab_put(&t, tag, e[i], false) != 0;
        }
        bad += t.cap != cap;
        bad += t.slots[0] == 0;                     /* the run wrapped */
        bad += layout_errors(&t);
        shuffle(order, n, false);
        for (size_t d = 0; d < n; d++) {
            bad += tagtab_del(&t, e[order[d]]->tag[0]) != e[order[d]];
            if (d % 16 == 0) {
                bad += layout_errors(&t);
                for (size_t r = d + 1; r < n; r++)
                    bad += tagtab_get(&t, e[order[r]]->tag[0], NULL) !=
                           e[order[r]];
            }
        }
        bad += t.count != 0 || t.cap != cap;
        for (size_t i = 0; i < cap; i++)
            bad += t.slots[i] != 0;
        tagtab_free(&t);
        for (size_t i = 0; i < n; i++)
            free(e[i]);
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(caps, 19);                 /* 20, 25, 31, ... 1035 */
}

int main(void)
{
    T_RUN(test_empty);
    T_RUN(test_basic);
    T_RUN(test_alt_pairs);
    T_RUN(test_growth);
    T_RUN(test_reserve);
    T_RUN(test_iteration);
    T_RUN(test_many);
    T_RUN(test_peek);
    T_RUN(test_load_bounds);
    T_RUN(test_odd_caps);
    return t_done();
}
