/* tagtab_fx.h -- what test_tagtab.c and test_tagtab_model.c share.
 *
 * Values are malloc'ed entries that hold their own two tags (main and
 * alt), as store.c's keys do; tag_of reads them back. Tags are built so
 * that home slots collide (home_of below restates the table's mapping:
 * the low 48 bits scaled to the capacity), so that only the 16 bits kept
 * in the slot differ, or at random, and a plain array is the model. */
#ifndef QD_TEST_TAGTAB_FX_H
#define QD_TEST_TAGTAB_FX_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

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
static inline size_t home_of(size_t cap, uint64_t tag)
{
    return (size_t)(((unsigned __int128)(tag << 16) * cap) >> 64);
}

static inline bool fits(size_t cap, size_t n)
{
    return n * 100u <= cap * LOAD_MAX_PCT;
}

static inline size_t cap_after(size_t cap)
{
    return cap == 0 ? CAP_MIN : cap * GROW_PCT / 100u;
}

/* The most entries cap slots hold. */
static inline size_t cap_fill(size_t cap)
{
    return cap * LOAD_MAX_PCT / 100u;
}

/* A tag whose home is slot h of a cap-slot table, unique by k (small):
 * the lowest 48-bit value that maps to h, plus k + 1; top 16 bits 0. */
static inline uint64_t tag_at(size_t cap, size_t h, uint64_t k)
{
    unsigned __int128 lo = (((unsigned __int128)h << 48) + cap - 1) / cap;
    return (uint64_t)lo + k + 1;
}

static inline uint64_t ent_tag_of(const void *val, bool alt)
{
    tag_of_calls++;
    return ((const ent *)val)->tag[alt ? 1 : 0];
}

static uint64_t prng_state = UINT64_C(0x0ddc0ffee15bad);
static inline uint64_t splitmix(uint64_t x)
{
    uint64_t z = x + UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
static inline uint64_t prng(void)
{
    prng_state += UINT64_C(0x9e3779b97f4a7c15);
    return splitmix(prng_state);
}

/* A 16-byte aligned entry (glibc malloc aligns to 16 on 64-bit; checked,
 * since tagtab keeps only bits 4..47 of the pointer). */
static inline ent *ent_new(uint64_t main_tag, uint64_t alt_tag)
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
static inline long slot_of(const tagtab *t, const void *val, bool alt)
{
    for (size_t i = 0; i < t->cap; i++) {
        uint64_t s = t->slots[i];
        if (s != 0 && (s & PTR_MASK & ~UINT64_C(15)) == (uintptr_t)val &&
            ((s & 1u) != 0) == alt)
            return (long)i;
    }
    return -1;
}

static inline size_t count_items(const tagtab *t)
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
static inline size_t layout_errors(const tagtab *t)
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

/* order = 0 .. n-1, shuffled (seeded prng) unless identity. */
static inline void shuffle(size_t *order, size_t n, bool identity)
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

#endif
