/* tagtab -- packed tag -> pointer table; see tagtab.h. */
#include "tagtab.h"

#include <assert.h>
#include <stdlib.h>

#define TAGTAB_CAP_MIN 16u
#define TAGTAB_PTR_BITS 48u
#define TAGTAB_PTR_MASK ((UINT64_C(1) << TAGTAB_PTR_BITS) - 1u)
#define TAGTAB_ALIGN_BYTES 8u           /* slab alignment: 3 free bits */
#define TAGTAB_ALT_BIT UINT64_C(1)

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
    size_t mask = t->cap - 1, i = (size_t)tag & mask;
    uint64_t top = tag >> TAGTAB_PTR_BITS;
    for (;;) {
        uint64_t s = t->slots[i];
        if (s == 0 ||
            ((s >> TAGTAB_PTR_BITS) == top && slot_tag(t, s) == tag)) {
            return i;
        }
        i = (i + 1) & mask;
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
    __builtin_prefetch(&t->slots[(size_t)tag & (t->cap - 1)]);
}

const void *tagtab_peek(const tagtab *t, uint64_t tag)
{
    if (t->cap == 0) {
        return NULL;
    }
    size_t mask = t->cap - 1, i = (size_t)tag & mask;
    uint64_t top = tag >> TAGTAB_PTR_BITS;
    for (uint32_t n = 0; n < TAGTAB_PEEK_SLOTS_MAX; n++) {
        uint64_t s = t->slots[i];
        if (s == 0) {
            return NULL;
        }
        if ((s >> TAGTAB_PTR_BITS) == top) {
            return slot_val(s);
        }
        i = (i + 1) & mask;
    }
    return NULL;
}

static int grow(tagtab *t)
{
    size_t ncap = t->cap ? t->cap * 2 : TAGTAB_CAP_MIN;
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

int tagtab_reserve(tagtab *t, size_t n)
{
    if (n > SIZE_MAX / 4 - t->count) {
        return -1;
    }
    while ((t->count + n) * 4 > t->cap * 3) {
        if (grow(t) != 0) {
            return -1;
        }
    }
    return 0;
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
    size_t mask = t->cap - 1, i = probe(t, tag);
    uint64_t s = t->slots[i];
    if (s == 0) {
        return NULL;
    }
    /* Backward shift: pull later entries of the run into the hole when
     * the hole lies on their probe path (no tombstones). */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        uint64_t sj = t->slots[j];
        if (sj == 0) {
            break;
        }
        size_t home = (size_t)slot_tag(t, sj) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
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
