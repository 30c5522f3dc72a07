/* test_htab.c -- open-addressing table against a reference model. */
#include "htab.h"
#include "t.h"

#define MODEL_KEYS 4096u            /* key space of the random test */
#define RANDOM_OPS 200000u
#define SMALL_CAP 16u               /* initial capacity */
#define SMALL_MAX 12u               /* 3/4 of 16: fits without growing */
#define BIG_N 100000u

static uint64_t prng_state = UINT64_C(0x1234567887654321);
static uint64_t prng(void)
{
    uint64_t z = (prng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void *V(uint64_t x)
{
    return (void *)(uintptr_t)x;
}

/* Slot index of key in t, or -1 (test-only peek at the layout). */
static long slot_of(const htab *t, uint64_t key)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key == key)
            return (long)i;
    return -1;
}

static size_t count_items(const htab *t)
{
    size_t n = 0, pos = 0;
    uint64_t k;
    void *v;
    while (htab_next(t, &pos, &k, &v))
        n++;
    return n;
}

static void test_basic(void)
{
    htab t;
    htab_init(&t);
    T_CHECK(htab_get(&t, 1) == NULL);
    T_CHECK(htab_del(&t, 1) == NULL);
    T_EQ_I64(count_items(&t), 0);
    T_REQUIRE(htab_put(&t, 1, V(100)) == 0);
    T_REQUIRE(htab_put(&t, 2, V(200)) == 0);
    T_REQUIRE(htab_put(&t, UINT64_MAX, V(300)) == 0);
    T_EQ_I64(t.count, 3);
    T_EQ_I64(t.cap, SMALL_CAP);
    T_CHECK(htab_get(&t, 1) == V(100));
    T_CHECK(htab_get(&t, 2) == V(200));
    T_CHECK(htab_get(&t, UINT64_MAX) == V(300));
    T_CHECK(htab_get(&t, 3) == NULL);
    T_REQUIRE(htab_put(&t, 2, V(222)) == 0);        /* replace */
    T_EQ_I64(t.count, 3);
    T_CHECK(htab_get(&t, 2) == V(222));
    T_CHECK(htab_del(&t, 2) == V(222));
    T_EQ_I64(t.count, 2);
    T_CHECK(htab_get(&t, 2) == NULL);
    T_CHECK(htab_del(&t, 2) == NULL);
    T_REQUIRE(htab_put(&t, 4, NULL) == 0);           /* NULL value ok */
    T_EQ_I64(t.count, 3);
    T_CHECK(htab_del(&t, 4) == NULL);
    T_EQ_I64(t.count, 2);
    htab_free(&t);
    T_CHECK(t.slots == NULL);
    T_EQ_I64(t.cap, 0);
    T_EQ_I64(t.count, 0);
    htab zero = {0};                                  /* zeroed is valid */
    T_CHECK(htab_get(&zero, 9) == NULL);
    T_REQUIRE(htab_put(&zero, 9, V(9)) == 0);
    T_CHECK(htab_get(&zero, 9) == V(9));
    htab_free(&zero);
}

/* Capacity doubles exactly when count would pass 3/4 load. */
static void test_growth(void)
{
    htab t;
    htab_init(&t);
    for (uint64_t k = 1; k <= 12; k++)
        T_REQUIRE(htab_put(&t, k, V(k)) == 0);
    T_EQ_I64(t.cap, 16);
    T_REQUIRE(htab_put(&t, 13, V(13)) == 0);
    T_EQ_I64(t.cap, 32);
    for (uint64_t k = 14; k <= 24; k++)
        T_REQUIRE(htab_put(&t, k, V(k)) == 0);
    T_EQ_I64(t.cap, 32);
    T_REQUIRE(htab_put(&t, 25, V(25)) == 0);
    T_EQ_I64(t.cap, 64);
    for (uint64_t k = 1; k <= 25; k++)
        T_CHECK(htab_get(&t, k) == V(k));
    T_REQUIRE(htab_put(&t, 25, V(99)) == 0);    /* replace never grows */
    T_EQ_I64(t.cap, 64);
    htab_free(&t);
}

/* Sequential keys (the common id pattern) over many growths. */
static void test_many_sequential(void)
{
    htab t;
    htab_init(&t);
    for (uint64_t k = 1; k <= BIG_N; k++)
        T_REQUIRE(htab_put(&t, k, V(k * 3)) == 0);
    T_EQ_I64(t.count, BIG_N);
    T_CHECK(t.count * 4 <= t.cap * 3);
    size_t bad = 0;
    for (uint64_t k = 1; k <= BIG_N; k++)
        bad += htab_get(&t, k) != V(k * 3);
    T_EQ_I64(bad, 0);
    T_CHECK(htab_get(&t, BIG_N + 1) == NULL);
    for (uint64_t k = 1; k <= BIG_N; k += 2)
        T_CHECK(htab_del(&t, k) == V(k * 3));
    for (uint64_t k = 1; k <= BIG_N; k++)
        bad += htab_get(&t, k) != (k % 2 ? NULL : V(k * 3));
    T_EQ_I64(bad, 0);
    T_EQ_I64(t.count, BIG_N / 2);
    htab_free(&t);
}

/* 200k random put/replace/del/get against a plain array model; a small
 * key space keeps clusters long and deletions frequent. */
static void test_random_vs_model(void)
{
    static uint64_t model[MODEL_KEYS + 1];   /* 0 = absent */
    htab t;
    size_t live = 0, bad = 0;
    htab_init(&t);
    memset(model, 0, sizeof model);
    for (uint32_t op = 0; op < RANDOM_OPS; op++) {
        uint64_t r = prng();
        uint64_t k = 1 + (r >> 8) % MODEL_KEYS;
        uint64_t key = k * UINT64_C(0x100000001);     /* spread bits */
        switch (r % 4) {
        case 0:
        case 1: {
            uint64_t val = (prng() | 1);
            T_REQUIRE(htab_put(&t, key, V(val)) == 0);
            live += model[k] == 0;
            model[k] = val;
            break;
        }
        case 2: {
            void *got = htab_del(&t, key);
            bad += got != (model[k] ? V(model[k]) : NULL);
            live -= model[k] != 0;
            model[k] = 0;
            break;
        }
        default:
            bad += htab_get(&t, key) != (model[k] ? V(model[k]) : NULL);
        }
        bad += t.count != live;
    }
    for (uint64_t k = 1; k <= MODEL_KEYS; k++)
        bad += htab_get(&t, k * UINT64_C(0x100000001)) !=
               (model[k] ? V(model[k]) : NULL);
    T_EQ_I64(bad, 0);
    T_EQ_I64(count_items(&t), live);
    htab_free(&t);
}

/* Iteration visits every item exactly once, with the right value. */
static void test_iteration(void)
{
    enum { N = 5000 };
    static unsigned char seen[N + 1];
    htab t;
    htab_init(&t);
    memset(seen, 0, sizeof seen);
    for (uint64_t k = 1; k <= N; k++)
        T_REQUIRE(htab_put(&t, k, V(k + 7)) == 0);
    for (uint64_t k = 1; k <= N; k += 3)
        T_REQUIRE(htab_del(&t, k) == V(k + 7));
    size_t pos = 0, n = 0, bad = 0;
    uint64_t key;
    void *val;
    while (htab_next(&t, &pos, &key, &val)) {
        T_REQUIRE(key >= 1 && key <= N);
        bad += val != V(key + 7) || key % 3 == 1;
        seen[key]++;
        n++;
    }
    T_EQ_I64(n, t.count);
    for (uint64_t k = 1; k <= N; k++)
        bad += seen[k] != (k % 3 == 1 ? 0 : 1);
    T_EQ_I64(bad, 0);
    T_EQ_I64(htab_next(&t, &pos, &key, &val), 0);   /* stays at the end */
    htab_free(&t);
    pos = 0;
    T_EQ_I64(htab_next(&t, &pos, &key, &val), 0);   /* empty table */
}

/* Find up to want keys (from start on) whose home slot in a 16-slot table
 * is home, by probing an empty scratch table: in an empty table a key
 * lands exactly on its home slot. */
static size_t keys_with_home(long home, uint64_t *out, size_t want,
                             uint64_t start)
{
    htab s;
    size_t n = 0;
    htab_init(&s);
    for (uint64_t k = start; n < want && k < start + 100000; k++) {
        if (htab_put(&s, k, V(1)) != 0)
            break;
        if (slot_of(&s, k) == home)
            out[n++] = k;
        (void)htab_del(&s, k);
    }
    htab_free(&s);
    return n;
}

/* Put keys, delete them one at a time in the given order, checking after
 * each delete that every remaining key is still reachable. */
static size_t delete_order_errors(const uint64_t *keys, size_t n,
                                  const size_t *order)
{
    htab t;
    size_t bad = 0;
    htab_init(&t);
    for (size_t i = 0; i < n; i++)
        if (htab_put(&t, keys[i], V(keys[i] ^ 0xabc)) != 0)
            return 1000;
    bad += t.cap != SMALL_CAP;
    for (size_t d = 0; d < n; d++) {
        bad += htab_del(&t, keys[order[d]]) != V(keys[order[d]] ^ 0xabc);
        for (size_t r = d + 1; r < n; r++)
            bad += htab_get(&t, keys[order[r]]) != V(keys[order[r]] ^ 0xabc);
        bad += htab_get(&t, keys[order[d]]) != NULL;
    }
    bad += t.count != 0;
    for (size_t i = 0; i < t.cap; i++)
        bad += t.slots[i].key != 0;
    htab_free(&t);
    return bad;
}

/* 12 keys sharing one home slot, plus mixes of neighbouring homes that
 * wrap around the end of the table, deleted in many orders. */
static void test_heavy_collisions(void)
{
    uint64_t keys[SMALL_MAX];
    size_t order[SMALL_MAX];
    const long homes[] = {0, 7, 14, 15};
    for (size_t h = 0; h < sizeof homes / sizeof *homes; h++) {
        T_REQUIRE(keys_with_home(homes[h], keys, SMALL_MAX, 1) == SMALL_MAX);
        for (int trial = 0; trial < 200; trial++) {
            for (size_t i = 0; i < SMALL_MAX; i++)
                order[i] = i;
            for (size_t i = SMALL_MAX - 1; i > 0 && trial > 0; i--) {
                size_t j = prng() % (i + 1);
                size_t tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
            }
            T_EQ_I64(delete_order_errors(keys, SMALL_MAX, order), 0);
        }
    }
    /* Mixed: 4 keys each homed at 13, 14, 15 -> cluster wraps to 0..2. */
    for (long h = 13; h <= 15; h++)
        T_REQUIRE(keys_with_home(h, keys + (h - 13) * 4, 4,
                                 (uint64_t)h * 1000003u) == 4);
    for (int trial = 0; trial < 500; trial++) {
        for (size_t i = 0; i < SMALL_MAX; i++)
            order[i] = i;
        for (size_t i = SMALL_MAX - 1; i > 0; i--) {
            size_t j = prng() % (i + 1);
            size_t tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        T_EQ_I64(delete_order_errors(keys, SMALL_MAX, order), 0);
    }
}

/* Deleting from the middle of a wrapped cluster moves the right entries
 * back: after deleting the entry in slot 15, a key homed at 15 that sat in
 * slot 0 moves to 15, and a key homed at 0 that sat in 1 moves to 0. */
static void test_backward_shift_layout(void)
{
    uint64_t a[2], b[1];
    T_REQUIRE(keys_with_home(15, a, 2, 1) == 2);
    T_REQUIRE(keys_with_home(0, b, 1, 1) == 1);
    htab t;
    htab_init(&t);
    T_REQUIRE(htab_put(&t, a[0], V(1)) == 0);
    T_REQUIRE(htab_put(&t, a[1], V(2)) == 0);
    T_REQUIRE(htab_put(&t, b[0], V(3)) == 0);
    T_EQ_I64(slot_of(&t, a[0]), 15);
    T_EQ_I64(slot_of(&t, a[1]), 0);
    T_EQ_I64(slot_of(&t, b[0]), 1);
    T_CHECK(htab_del(&t, a[0]) == V(1));
    T_EQ_I64(slot_of(&t, a[1]), 15);
    T_EQ_I64(slot_of(&t, b[0]), 0);
    T_EQ_I64(t.slots[1].key, 0);
    T_CHECK(htab_get(&t, a[1]) == V(2));
    T_CHECK(htab_get(&t, b[0]) == V(3));
    htab_free(&t);
}

int main(void)
{
    T_RUN(test_basic);
    T_RUN(test_growth);
    T_RUN(test_many_sequential);
    T_RUN(test_random_vs_model);
    T_RUN(test_iteration);
    T_RUN(test_heavy_collisions);
    T_RUN(test_backward_shift_layout);
    return t_done();
}
