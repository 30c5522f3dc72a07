/* test_tagtab.c -- packed tag -> pointer table against a reference model.
 *
 * Values are malloc'ed entries that hold their own two tags (main and
 * alt), as store.c's keys do; tag_of reads them back. Tags are built so
 * that home slots collide (home_of below restates the table's mapping:
 * the low 48 bits scaled to the capacity), so that only the 16 bits kept
 * in the slot differ, or at random, and a plain array is the model. */
#include <stdbool.h>

#include "tagtab.h"
#include "t.h"

#define CAP_MIN 16u                 /* first capacity */
#define CAP_MIN_FILL 13u            /* 85% of 16, rounded down */
#define CAP_SECOND 20u              /* 16 * 1.25 */
#define LOAD_MAX_PCT 85u            /* a put never takes the load past it */
#define GROW_PCT 125u               /* each growth: cap * 125 / 100 */
#define LOAD_MIN_PCT 68u            /* 85 / 1.25: load right after growth */
#define TOP_SHIFT 48u               /* tag bits kept in the slot */
#define PTR_MASK ((UINT64_C(1) << TOP_SHIFT) - 1u)
#define LOAD_N 60000u               /* values (2 tags each), load test */
#define SHARD_KEYS 15625u           /* 1 M keys over 64 shards */
#define SHARD_CAP 18803u            /* the capacity that holds them */
#define BIG_N 100000u               /* values (2 tags each) in test_many */
#define RANDOM_N 4096u              /* values in the random model test */
#define RANDOM_OPS 100000u
#define CLUSTER_N 300u              /* values when every tag shares a home */
#define CLUSTER_OPS 30000u

typedef struct ent {
    uint64_t tag[2];                /* [0] main, [1] alt */
} ent;

static unsigned long tag_of_calls;

/* The table's rules, restated. Home slot: the tag's low 48 bits scaled
 * to [0, cap). */
static size_t home_of(size_t cap, uint64_t tag)
{
    return (size_t)(((unsigned __int128)(tag << 16) * cap) >> 64);
}

static bool fits(size_t cap, size_t n)
{
    return n * 100u <= cap * LOAD_MAX_PCT;
}

static size_t cap_after(size_t cap)
{
    return cap == 0 ? CAP_MIN : cap * GROW_PCT / 100u;
}

/* The most entries cap slots hold. */
static size_t cap_fill(size_t cap)
{
    return cap * LOAD_MAX_PCT / 100u;
}

/* A tag whose home is slot h of a cap-slot table, unique by k (small):
 * the lowest 48-bit value that maps to h, plus k + 1; top 16 bits 0. */
static uint64_t tag_at(size_t cap, size_t h, uint64_t k)
{
    unsigned __int128 lo = (((unsigned __int128)h << 48) + cap - 1) / cap;
    return (uint64_t)lo + k + 1;
}

static uint64_t ent_tag_of(const void *val, bool alt)
{
    tag_of_calls++;
    return ((const ent *)val)->tag[alt ? 1 : 0];
}

static uint64_t prng_state = UINT64_C(0x0ddc0ffee15bad);
static uint64_t splitmix(uint64_t x)
{
    uint64_t z = x + UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
static uint64_t prng(void)
{
    prng_state += UINT64_C(0x9e3779b97f4a7c15);
    return splitmix(prng_state);
}

/* A 16-byte aligned entry (glibc malloc aligns to 16 on 64-bit; checked,
 * since tagtab keeps only bits 4..47 of the pointer). */
static ent *ent_new(uint64_t main_tag, uint64_t alt_tag)
{
    ent *e = malloc(sizeof(*e));
    if (e == NULL || ((uintptr_t)e & 15u) != 0 ||
        ((uint64_t)(uintptr_t)e & ~PTR_MASK) != 0) {
        fprintf(stderr, "ent_new: allocation unusable (%p)\n", (void *)e);
        abort();
    }
    e->tag[0] = main_tag;
    e->tag[1] = alt_tag;
    return e;
}

/* Slot index holding (val, alt), or -1 (test-only peek at the layout). */
static long slot_of(const tagtab *t, const void *val, bool alt)
{
    for (size_t i = 0; i < t->cap; i++) {
        uint64_t s = t->slots[i];
        if (s != 0 && (s & PTR_MASK & ~UINT64_C(15)) == (uintptr_t)val &&
            ((s & 1u) != 0) == alt)
            return (long)i;
    }
    return -1;
}

static size_t count_items(const tagtab *t)
{
    size_t n = 0, pos = 0;
    void *v;
    bool alt;
    while (tagtab_next(t, &pos, &v, &alt))
        n++;
    return n;
}

/* Linear-probing invariant, read straight from the slots (no tag_of
 * call): each entry keeps its tag's top 16 bits, and no empty slot lies
 * between its home and where it sits (wrapping at cap). */
static size_t layout_errors(const tagtab *t)
{
    size_t bad = 0;
    for (size_t i = 0; i < t->cap; i++) {
        uint64_t s = t->slots[i];
        if (s == 0)
            continue;
        const ent *x = (const ent *)(uintptr_t)(s & PTR_MASK & ~UINT64_C(15));
        uint64_t tag = x->tag[s & 1u];
        bad += (s >> TOP_SHIFT) != (tag >> TOP_SHIFT);
        for (size_t j = home_of(t->cap, tag); j != i; j = (j + 1) % t->cap)
            bad += t->slots[j] == 0;
    }
    return bad;
}

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

/* Tag families for the model test; every one is unique per (i, alt) and
 * never 0. */
enum { FAM_RANDOM, FAM_SAME_HOME, FAM_TOP_ONLY, FAM_MIXED, FAM_N };

static uint64_t family_tag(int fam, uint64_t i, bool alt)
{
    uint64_t k = 2 * i + (alt ? 1 : 0);
    switch (fam) {
    case FAM_RANDOM:
        return splitmix(k) | 1u;
    case FAM_SAME_HOME:
        /* Differ only in bits 0..23: bits 24..47 all ones put a tag on
         * the last slot of any table up to 2^24 slots, all zeros on the
         * first. Two in three go last, so that cluster wraps into the
         * first slot's; the top 16 bits are all equal, so every probe has
         * to ask tag_of. */
        return (k % 3 == 1 ? 0 : UINT64_C(0xffffff) << 24) | (k + 1);
    case FAM_TOP_ONLY:
        /* Differ only in the top 16 bits (plus one of two low patterns,
         * both on the last slot). */
        return ((k + 1) << TOP_SHIFT) |
               (UINT64_C(0x0000fffffffffffe) + (k & 1));
    default:
        /* Main tags random, alt tags all on the first slot, with equal
         * top bits. */
        return alt ? ((k + 1) << 8) | 0x7fu : splitmix(k) | 1u;
    }
}

/* Random put/del/get against an array model. */
static size_t model_run(int fam, uint32_t n, uint32_t ops)
{
    ent **e = calloc(n, sizeof(*e));
    unsigned char(*in)[2] = calloc(n, sizeof(*in));
    if (e == NULL || in == NULL)
        abort();
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    size_t bad = 0, live = 0;
    for (uint64_t i = 0; i < n; i++)
        e[i] = ent_new(family_tag(fam, i, false), family_tag(fam, i, true));
    for (uint32_t op = 0; op < ops; op++) {
        uint64_t r = prng();
        uint32_t i = (uint32_t)((r >> 8) % n);
        bool alt = (r >> 40) & 1u;
        uint64_t tag = e[i]->tag[alt ? 1 : 0];
        bool got_alt = !alt;
        switch (r % 6) {
        case 0:
        case 1:
        case 2:
            if (in[i][alt]) {
                bad += tagtab_get(&t, tag, &got_alt) != e[i] || got_alt != alt;
            } else {
                if (tagtab_put(&t, tag, e[i], alt) != 0)
                    bad++;
                in[i][alt] = 1;
                live++;
            }
            break;
        case 3:
        case 4: {
            void *got = tagtab_del(&t, tag);
            bad += got != (in[i][alt] ? e[i] : NULL);
            live -= in[i][alt];
            in[i][alt] = 0;
            break;
        }
        default: {
            void *got = tagtab_get(&t, tag, &got_alt);
            bad += got != (in[i][alt] ? e[i] : NULL);
            bad += got != NULL && got_alt != alt;
            /* A tag of the same family that was never put. */
            bad += tagtab_get(&t, family_tag(fam, n + i, alt), NULL) != NULL;
        }
        }
        bad += t.count != live;
        bad += !fits(t.cap, t.count);
        if (op % 10000 == 0)
            bad += layout_errors(&t);
    }
    bad += layout_errors(&t);
    /* Final state: every tag, and iteration sees each entry once. */
    for (uint32_t i = 0; i < n; i++)
        for (int a = 0; a < 2; a++) {
            bool got_alt = a == 0;
            void *got = tagtab_get(&t, e[i]->tag[a], &got_alt);
            bad += got != (in[i][a] ? e[i] : NULL);
            bad += got != NULL && got_alt != (a == 1);
        }
    /* Entries are distinct pointers; find i through the tag. */
    size_t pos = 0, seen = 0;
    void *v;
    bool a;
    while (tagtab_next(&t, &pos, &v, &a)) {
        const ent *x = v;
        uint64_t tag = x->tag[a ? 1 : 0];
        bool ga = !a;
        bad += tagtab_get(&t, tag, &ga) != v || ga != a;
        seen++;
    }
    bad += seen != live;
    /* Delete everything left; the table must end empty. */
    for (uint32_t i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            void *got = tagtab_del(&t, e[i]->tag[k]);
            bad += got != (in[i][k] ? e[i] : NULL);
        }
    bad += t.count != 0;
    for (size_t s = 0; s < t.cap; s++)
        bad += t.slots[s] != 0;
    tagtab_free(&t);
    for (uint32_t i = 0; i < n; i++)
        free(e[i]);
    free(e);
    free(in);
    return bad;
}

static void test_random_vs_model(void)
{
    T_EQ_I64(model_run(FAM_RANDOM, RANDOM_N, RANDOM_OPS), 0);
    T_EQ_I64(model_run(FAM_RANDOM, 20, 20000), 0);    /* dense, tiny */
    T_EQ_I64(model_run(FAM_TOP_ONLY, RANDOM_N, RANDOM_OPS), 0);
    T_EQ_I64(model_run(FAM_MIXED, 1000, RANDOM_OPS), 0);
}

static void test_colliding_homes_vs_model(void)
{
    T_EQ_I64(model_run(FAM_SAME_HOME, CLUSTER_N, CLUSTER_OPS), 0);
    T_EQ_I64(model_run(FAM_SAME_HOME, 6, 5000), 0);   /* stays at cap 16 */
    T_EQ_I64(model_run(FAM_SAME_HOME, 10, 5000), 0);  /* 16, 20, 25 */
}

/* The 16 tag bits in the slot reject misses without calling tag_of:
 * entries sharing the low 48 bits (one home, one cluster) cost exactly one
 * tag_of call per hit and none per miss. Entries sharing the top 16 bits
 * must each be confirmed through tag_of. */
static void test_fingerprint(void)
{
    enum { N = 12 };
    ent *e[N];
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    for (uint64_t i = 0; i < N; i++) {
        e[i] = ent_new(((i + 1) << TOP_SHIFT) | UINT64_C(0x123456789ab0), 0);
        T_REQUIRE(tagtab_put(&t, e[i]->tag[0], e[i], false) == 0);
    }
    T_EQ_I64(t.cap, CAP_MIN);
    for (size_t i = 0; i < N; i++) {
        tag_of_calls = 0;
        T_CHECK(tagtab_get(&t, e[i]->tag[0], NULL) == e[i]);
        T_EQ_I64(tag_of_calls, 1);
    }
    tag_of_calls = 0;
    T_CHECK(tagtab_get(&t, (UINT64_C(0xfff) << TOP_SHIFT) |
                               UINT64_C(0x123456789ab0), NULL) == NULL);
    T_EQ_I64(tag_of_calls, 0);
    tag_of_calls = 0;
    T_CHECK(tagtab_del(&t, (UINT64_C(0xfff) << TOP_SHIFT) |
                               UINT64_C(0x123456789ab0)) == NULL);
    T_EQ_I64(tag_of_calls, 0);
    /* Every slot's top bits are the tag's top 16 bits. */
    for (size_t i = 0; i < N; i++) {
        long s = slot_of(&t, e[i], false);
        T_REQUIRE(s >= 0);
        T_EQ_I64(t.slots[s] >> TOP_SHIFT, i + 1);
    }
    for (size_t i = 0; i < N; i++)
        free(tagtab_del(&t, e[i]->tag[0]));
    T_EQ_I64(t.count, 0);

    /* Same top, same home: a miss has to look at every entry. */
    for (uint64_t i = 0; i < N; i++) {
        e[i] = ent_new(((i + 1) << 8) | 5u, 0);
        T_REQUIRE(tagtab_put(&t, e[i]->tag[0], e[i], false) == 0);
    }
    tag_of_calls = 0;
    T_CHECK(tagtab_get(&t, (UINT64_C(100) << 8) | 5u, NULL) == NULL);
    T_EQ_I64(tag_of_calls, N);
    tag_of_calls = 0;
    T_CHECK(tagtab_get(&t, e[N - 1]->tag[0], NULL) == e[N - 1]);
    T_EQ_I64(tag_of_calls, N);
    tagtab_free(&t);
    for (size_t i = 0; i < N; i++)
        free(e[i]);
}

/* Tag with home slot h of a CAP_MIN-slot table, unique by k. */
static uint64_t home_tag(unsigned h, uint64_t k)
{
    return tag_at(CAP_MIN, h, k);
}

/* Reserve room for reserve_n (so the table has cap slots), put the tags,
 * delete them in order, and after every delete check that each remaining
 * tag is still found (and the deleted one is not). */
static size_t delete_order_errors(ent *const *e, size_t n,
                                  const size_t *order, size_t reserve_n,
                                  size_t cap)
{
    tagtab t;
    size_t bad = 0;
    tagtab_init(&t, ent_tag_of);
    if (tagtab_reserve(&t, reserve_n) != 0)
        return 1000;
    for (size_t i = 0; i < n; i++)
        if (tagtab_put(&t, e[i]->tag[0], e[i], false) != 0)
            return 1000;
    bad += t.cap != cap;
    bad += layout_errors(&t);
    for (size_t d = 0; d < n; d++) {
        bad += tagtab_del(&t, e[order[d]]->tag[0]) != e[order[d]];
        for (size_t r = d + 1; r < n; r++)
            bad += tagtab_get(&t, e[order[r]]->tag[0], NULL) != e[order[r]];
        bad += tagtab_get(&t, e[order[d]]->tag[0], NULL) != NULL;
        bad += t.count != n - d - 1;
        bad += layout_errors(&t);
    }
    for (size_t i = 0; i < t.cap; i++)
        bad += t.slots[i] != 0;
    tagtab_free(&t);
    return bad;
}

static void shuffle(size_t *order, size_t n, bool identity)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n - 1; i > 0 && !identity; i--) {
        size_t j = prng() % (i + 1);
        size_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

/* A full table of cap slots (reserve_n makes it): all tags on one home
 * (several homes, including the last two slots so the run wraps), then
 * spread over the last three homes, half differing only in the top 16
 * bits; deleted in many orders. */
static void heavy_collisions_at(size_t reserve_n, size_t cap, int trials)
{
    enum { FILL_MAX = 32 };
    ent *e[FILL_MAX];
    size_t order[FILL_MAX], n = cap_fill(cap);
    T_REQUIRE(n <= FILL_MAX);
    const size_t homes[] = {0, cap / 2 - 1, cap - 2, cap - 1};
    for (size_t h = 0; h < sizeof homes / sizeof *homes; h++) {
        for (size_t i = 0; i < n; i++)
            e[i] = ent_new(tag_at(cap, homes[h], i), 0);
        for (int trial = 0; trial < trials; trial++) {
            shuffle(order, n, trial == 0);
            T_EQ_I64(delete_order_errors(e, n, order, reserve_n, cap), 0);
        }
        for (size_t i = 0; i < n; i++)
            free(e[i]);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t tag = tag_at(cap, cap - 3 + i % 3, i % 2);
        tag |= (uint64_t)(i + 1) << TOP_SHIFT;
        e[i] = ent_new(tag, 0);
    }
    for (int trial = 0; trial < 2 * trials; trial++) {
        shuffle(order, n, false);
        T_EQ_I64(delete_order_errors(e, n, order, reserve_n, cap), 0);
    }
    for (size_t i = 0; i < n; i++)
        free(e[i]);
}

static void test_heavy_collisions(void)
{
    heavy_collisions_at(0, CAP_MIN, 200);  /* 13 in 16 */
    heavy_collisions_at(17, 20, 100);      /* 17 in 20 */
    heavy_collisions_at(21, 25, 100);      /* 21 in 25 */
    heavy_collisions_at(26, 31, 100);      /* 26 in 31 */
}

/* Deleting from a wrapped run moves exactly the entries whose probe path
 * crosses the hole, at the table's capacity after reserving reserve_n
 * (cap): L is the last slot, so slot L + 1 is 0. */
static void backward_shift_layout_at(size_t reserve_n, size_t cap)
{
    const size_t L = cap - 1;
    tagtab t;
    tagtab_init(&t, ent_tag_of);
    T_REQUIRE(tagtab_reserve(&t, reserve_n) == 0);
    ent *a0 = ent_new(tag_at(cap, L, 1), 0);
    ent *a1 = ent_new(tag_at(cap, L, 2), 0);
    ent *b = ent_new(tag_at(cap, 0, 3), 0);
    T_REQUIRE(tagtab_put(&t, a0->tag[0], a0, false) == 0);
    T_REQUIRE(tagtab_put(&t, a1->tag[0], a1, false) == 0);
    T_REQUIRE(tagtab_put(&t, b->tag[0], b, false) == 0);
    T_EQ_I64(t.cap, cap);
    T_EQ_I64(slot_of(&t, a0, false), L);
    T_EQ_I64(slot_of(&t, a1, false), 0);
    T_EQ_I64(slot_of(&t, b, false), 1);
    T_CHECK(tagtab_del(&t, a0->tag[0]) == a0);
    T_EQ_I64(slot_of(&t, a1, false), L);
    T_EQ_I64(slot_of(&t, b, false), 0);
    T_CHECK(t.slots[1] == 0);
    T_CHECK(tagtab_get(&t, a1->tag[0], NULL) == a1);
    T_CHECK(tagtab_get(&t, b->tag[0], NULL) == b);
    tagtab_free(&t);

    /* x@L-1 (home L-1), y@L (home L), z@0 (home L), w@1 (home 0).
     * Deleting x moves nothing: each of the others is at or after its
     * home with the hole before the home. */
    tagtab_init(&t, ent_tag_of);
    T_REQUIRE(tagtab_reserve(&t, reserve_n) == 0);
    ent *x = ent_new(tag_at(cap, L - 1, 4), 0);
    ent *y = ent_new(tag_at(cap, L, 5), 0);
    ent *z = ent_new(tag_at(cap, L, 6), 0), *w = ent_new(tag_at(cap, 0, 7), 0);
    T_REQUIRE(tagtab_put(&t, x->tag[0], x, false) == 0);
    T_REQUIRE(tagtab_put(&t, y->tag[0], y, false) == 0);
    T_REQUIRE(tagtab_put(&t, z->tag[0], z, false) == 0);
    T_REQUIRE(tagtab_put(&t, w->tag[0], w, false) == 0);
    T_EQ_I64(t.cap, cap);
    T_EQ_I64(slot_of(&t, x, false), L - 1);
    T_EQ_I64(slot_of(&t, y, false), L);
    T_EQ_I64(slot_of(&t, z, false), 0);
    T_EQ_I64(slot_of(&t, w, false), 1);
    T_CHECK(tagtab_del(&t, x->tag[0]) == x);
    T_CHECK(t.slots[L - 1] == 0);
    T_EQ_I64(slot_of(&t, y, false), L);
    T_EQ_I64(slot_of(&t, z, false), 0);
    T_EQ_I64(slot_of(&t, w, false), 1);
    /* Deleting y now: z moves to L, w to 0. */
    T_CHECK(tagtab_del(&t, y->tag[0]) == y);
    T_EQ_I64(slot_of(&t, z, false), L);
    T_EQ_I64(slot_of(&t, w, false), 0);
    T_CHECK(t.slots[1] == 0);
    T_CHECK(tagtab_get(&t, z->tag[0], NULL) == z);
    T_CHECK(tagtab_get(&t, w->tag[0], NULL) == w);
    T_EQ_I64(t.count, 2);
    /* q (alt tag, home L) lands in 1 behind z@L and w@0. Deleting z:
     * w (home 0) must stay at 0, q moves to L and keeps its alt bit. */
    ent *q = ent_new(0, tag_at(cap, L, 8));
    T_REQUIRE(tagtab_put(&t, q->tag[1], q, true) == 0);
    T_EQ_I64(slot_of(&t, q, true), 1);
    T_CHECK(tagtab_del(&t, z->tag[0]) == z);
    T_EQ_I64(slot_of(&t, w, false), 0);
    T_EQ_I64(slot_of(&t, q, true), L);
    T_EQ_I64(slot_of(&t, q, false), -1);
    T_CHECK(t.slots[1] == 0);
    bool alt = false;
    T_CHECK(tagtab_get(&t, q->tag[1], &alt) == q && alt);
    T_EQ_I64(layout_errors(&t), 0);
    tagtab_free(&t);
    free(a0);
    free(a1);
    free(b);
    free(x);
    free(y);
    free(z);
    free(w);
    free(q);
}

static void test_backward_shift_layout(void)
{
    backward_shift_layout_at(0, CAP_MIN);
    backward_shift_layout_at(17, 20);
    backward_shift_layout_at(21, 25);
    backward_shift_layout_at(1000, 1293);
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
    T_RUN(test_random_vs_model);
    T_RUN(test_colliding_homes_vs_model);
    T_RUN(test_fingerprint);
    T_RUN(test_heavy_collisions);
    T_RUN(test_backward_shift_layout);
    T_RUN(test_iteration);
    T_RUN(test_many);
    T_RUN(test_peek);
    T_RUN(test_load_bounds);
    T_RUN(test_odd_caps);
    return t_done();
}
