/* test_tagtab_model.c -- packed tag -> pointer table against a reference
 * model (random, colliding homes, shared tag tops) and its probing layout
 * under heavy collisions. Helpers: tagtab_fx.h. */
#include "tagtab_fx.h"

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

static void test_heavy_collisions(void)
{
    heavy_collisions_at(0, CAP_MIN, 200);  /* 13 in 16 */
    heavy_collisions_at(17, 20, 100);      /* 17 in 20 */
    heavy_collisions_at(21, 25, 100);      /* 21 in 25 */
    heavy_collisions_at(26, 31, 100);      /* 26 in 31 */
}

static void test_backward_shift_layout(void)
{
    backward_shift_layout_at(0, CAP_MIN);
    backward_shift_layout_at(17, 20);
    backward_shift_layout_at(21, 25);
    backward_shift_layout_at(1000, 1293);
}

int main(void)
{
    T_RUN(test_random_vs_model);
    T_RUN(test_colliding_homes_vs_model);
    T_RUN(test_fingerprint);
    T_RUN(test_heavy_collisions);
    T_RUN(test_backward_shift_layout);
    return t_done();
}
