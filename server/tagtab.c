/* tagtab -- packed tag -> pointer table; see tagtab.h. */
#include "tagtab.h"

#include <assert.h>
#include <stdlib.h>

#define TAGTAB_CAP_MIN 16u              /* slots of the first table */
#define TAGTAB_LOAD_MAX_PCT 85u         /* grow when a put would pass it */
#define TAGTAB_GROW_PCT 125u            /* new cap = cap * this / 100 */
/* Entries at most: keeps need * 100 and cap * TAGTAB_GROW_PCT in range
 * (the capacity stays below 1.5 * TAGTAB_COUNT_MAX). */
#define TAGTAB_COUNT_MAX (SIZE_MAX / 256u)
#define TAGTAB_PTR_BITS 48u
#define TAGTAB_PTR_MASK ((UINT64_C(1) << TAGTAB_PTR_BITS) - 1u)
#define TAGTAB_FILTER_BITS (64u - TAGTAB_PTR_BITS)  /* tag bits in a slot */
#define TAGTAB_ALIGN_BYTES 8u           /* slab alignment: 3 free bits */
#define TAGTAB_ALT_BIT UINT64_C(1)

/* Every probe run ends at an empty slot. */
_Static_assert(TAGTAB_LOAD_MAX_PCT < 100u, "load must stay below 1");
_Static_assert(TAGTAB_CAP_MIN * TAGTAB_LOAD_MAX_PCT >= 100u,
               "the first table must hold an entry");
/* Each growth adds slots (cap only ever takes values cap_next made). */
_Static_assert(TAGTAB_CAP_MIN * TAGTAB_GROW_PCT / 100u > TAGTAB_CAP_MIN,
               "growth must add slots");
_Static_assert(TAGTAB_GROW_PCT > 100u && TAGTAB_GROW_PCT <= 200u,
               "growth factor in (1, 2]");

static uint64_t slot_make(uint64_t tag, const void *val, bool alt)
{
    uint64_t p = (uint64_t)(uintptr_t)val;
    assert(p != 0 && (p & ~TAGTAB_PTR_MASK) == 0);
    assert(p % TAGTAB_ALIGN_BYTES == 0);
    return (tag >> TAGTAB_PTR_BITS) << TAGTAB_PTR_BITS | p |
           (alt ? TAGTAB_ALT_BIT : 0);
}

static void *slot_val(uint64_t s)
{
    return (void *)(uintptr_t)(s & TAGTAB_PTR_MASK & ~(uint64_t)
                                                      (TAGTAB_ALIGN_BYTES - 1));
}

static bool slot_alt(uint64_t s)
{
    return (s & TAGTAB_ALT_BIT) != 0;
}

static uint64_t slot_tag(const tagtab *t, uint64_t s)
{
    return t->tag_of(slot_val(s), slot_alt(s));
}

/* Home slot of tag: its low 48 bits, which are independent of the 16
 * bits the slot keeps, scaled to [0, cap) by a multiply and a shift
 * ("fastrange"; no division on the look-up path). */
static inline size_t slot_home(size_t cap, uint64_t tag)
{
    uint64_t x = tag << TAGTAB_FILTER_BITS;
    return (size_t)(((unsigned __int128)x * cap) >> 64);
}

static inline size_t slot_next(size_t cap, size_t i)
{
    return i + 1 == cap ? 0 : i + 1;
}

/* Slots from 'from' forward to 'to', wrapping at cap. */
static inline size_t slot_dist(size_t cap, size_t from, size_t to)
{
    return to >= from ? to - from : to + cap - from;
}

/* Whether cap slots hold n entries within the load limit. */
static bool cap_fits(size_t cap, size_t n)
{
    assert(n <= TAGTAB_COUNT_MAX);
    return n * 100u <= cap * TAGTAB_LOAD_MAX_PCT;
}

static size_t cap_next(size_t cap)
{
    return cap == 0 ? TAGTAB_CAP_MIN : cap * TAGTAB_GROW_PCT / 100u;
}

void tagtab_init(tagtab *t, tagtab_tag_fn tag_of)
{
    t->slots = NULL;
    t->cap = t->count = 0;
    t->tag_of = tag_of;
}

void tagtab_free(tagtab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

/* Slot index holding tag, or the empty slot where it would go. */
static size_t probe(const tagtab *t, uint64_t tag)
{
    const uint64_t *slots = t->slots;
    size_t cap = t->cap, i = slot_home(cap, tag);
    uint64_t top = tag >> TAGTAB_PTR_BITS;
    for (;;) { /* ends: the load limit leaves an empty slot */
        uint64_t s = slots[i];
        if (s == 0 ||
            ((s >> TAGTAB_PTR_BITS) == top && slot_tag(t, s) == tag)) {
            return i;
        }
        i = slot_next(cap, i);
    }
}

void *tagtab_get(const tagtab *t, uint64_t tag, bool *alt)
{
    assert(tag != 0);
    if (alt != NULL) {
        *alt = false;
    }
    if (t->count == 0) {
        return NULL;
    }
    uint64_t s = t->slots[probe(t, tag)];
    if (alt != NULL) {
        *alt = slot_alt(s);
    }
    return s == 0 ? NULL : slot_val(s);
}

void tagtab_prefetch(const tagtab *t, uint64_t tag)
{
    if (t->cap == 0) {
        return;
    }
    __builtin_prefetch(&t->slots[slot_home(t->cap, tag)]);
}

const void *tagtab_peek(const tagtab *t, uint64_t tag)
{
    if (t->cap == 0) {
        return NULL;
    }
    size_t cap = t->cap, i = slot_home(cap, tag);
    uint64_t top = tag >> TAGTAB_PTR_BITS;
    for (uint32_t n = 0; n < TAGTAB_PEEK_SLOTS_MAX; n++) {
        uint64_t s = t->slots[i];
        if (s == 0) {
            return NULL;
        }
        if ((s >> TAGTAB_PTR_BITS) == top) {
            return slot_val(s);
        }
        i = slot_next(cap, i);
    }
    return NULL;
}

/* Rehash into ncap slots (one pass; asks tag_of for every entry). */
static int grow_to(tagtab *t, size_t ncap)
{
    assert(ncap > t->cap);
    assert(cap_fits(ncap, t->count));
    uint64_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL) {
        return -1;
    }
    tagtab nt = {.slots = ns, .cap = ncap, .count = t->count,
                 .tag_of = t->tag_of};
    for (size_t i = 0; i < t->cap; i++) {
        uint64_t s = t->slots[i];
        if (s != 0) {
            nt.slots[probe(&nt, slot_tag(t, s))] = s;
        }
    }
    free(t->slots);
    *t = nt;
    return 0;
}

/* Grows in one rehash, straight to the first capacity that holds
 * count + n in the sequence puts go through (TAGTAB_CAP_MIN, then times
 * TAGTAB_GROW_PCT / 100), so capacities do not depend on how the table
 * was filled. */
int tagtab_reserve(tagtab *t, size_t n)
{
    if (n > TAGTAB_COUNT_MAX - t->count) {
        return -1;
    }
    size_t need = t->count + n, ncap = t->cap;
    while (!cap_fits(ncap, need)) { /* bounded: ncap grows geometrically */
        ncap = cap_next(ncap);
    }
    return ncap == t->cap ? 0 : grow_to(t, ncap);
}

int tagtab_put(tagtab *t, uint64_t tag, void *val, bool alt)
{
    assert(tag != 0);
    assert(t->tag_of(val, alt) == tag);
    if (tagtab_reserve(t, 1) != 0) {
        return -1;
    }
    size_t i = probe(t, tag);
    assert(t->slots[i] == 0); /* callers check for presence first */
    t->slots[i] = slot_make(tag, val, alt);
    t->count++;
    return 0;
}

void *tagtab_del(tagtab *t, uint64_t tag)
{
    if (t->count == 0) {
        return NULL;
    }
    size_t cap = t->cap, i = probe(t, tag);
    uint64_t s = t->slots[i];
    if (s == 0) {
        return NULL;
    }
    /* Backward shift: pull later entries of the run into the hole when
     * the hole lies on their probe path, i.e. their home is not in the
     * wrapped range (hole, j] (no tombstones). */
    size_t j = i;
    for (;;) { /* ends at the run's empty slot */
        j = slot_next(cap, j);
        uint64_t sj = t->slots[j];
        if (sj == 0) {
            break;
        }
        size_t home = slot_home(cap, slot_tag(t, sj));
        if (slot_dist(cap, home, j) >= slot_dist(cap, i, j)) {
            t->slots[i] = sj;
            i = j;
        }
    }
    t->slots[i] = 0;
    t->count--;
    return slot_val(s);
}

int tagtab_next(const tagtab *t, size_t *pos, void **val, bool *alt)
{
    while (*pos < t->cap) {
        uint64_t s = t->slots[(*pos)++];
        if (s != 0) {
            *val = slot_val(s);
            *alt = slot_alt(s);
            return 1;
        }
    }
    return 0;
}
