/* htab.c -- open addressing, linear probing, backward-shift deletion.
 *
 * Invariant: every key is reachable from its home slot (hash & mask) by
 * walking forward without crossing an empty slot. Deletion preserves it by
 * shifting later members of the cluster back instead of leaving
 * tombstones, so lookups never slow down after many deletes.
 */
#include "htab.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define HTAB_CAP_INITIAL 16u
/* Grow when count would exceed LOAD_NUM/LOAD_DEN of the capacity. */
#define HTAB_LOAD_NUM 3u
#define HTAB_LOAD_DEN 4u
#define HTAB_GROWTH_FACTOR 2u
/* Largest capacity: doubling and byte size must not overflow size_t. */
#define HTAB_CAP_MAX (((size_t)1 << (sizeof(size_t) * 8u - 2u)) / \
                      sizeof(htab_slot))

_Static_assert((HTAB_CAP_INITIAL & (HTAB_CAP_INITIAL - 1u)) == 0,
               "initial capacity is a power of two");
_Static_assert(HTAB_LOAD_NUM < HTAB_LOAD_DEN, "load factor below 1");

/* splitmix64 finalizer: sequential ids (and tags that differ only in high
 * bits) spread over the low bits used as the slot index. */
static uint64_t htab_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static size_t htab_home(size_t cap, uint64_t key)
{
    assert(cap != 0);
    assert((cap & (cap - 1u)) == 0);
    return (size_t)htab_mix(key) & (cap - 1u);
}

/* Slot index holding key, or cap if absent. Terminates because the load
 * factor keeps at least one slot empty. */
static size_t htab_find(const htab *t, uint64_t key)
{
    assert(key != 0);
    if (t->cap == 0)
        return 0;
    size_t mask = t->cap - 1u;
    size_t i = htab_home(t->cap, key);
    for (size_t probes = 0; probes < t->cap; probes++) {
        if (t->slots[i].key == key)
            return i;
        if (t->slots[i].key == 0)
            return t->cap;
        i = (i + 1u) & mask;
    }
    assert(!"htab full: load factor invariant broken");
    return t->cap;
}

/* Place a key known to be absent; the caller guarantees a free slot. */
static void htab_insert_new(htab_slot *slots, size_t cap, uint64_t key,
                            void *val)
{
    size_t mask = cap - 1u;
    size_t i = htab_home(cap, key);
    for (size_t probes = 0; probes < cap; probes++) {
        if (slots[i].key == 0) {
            slots[i].key = key;
            slots[i].val = val;
            return;
        }
        assert(slots[i].key != key);
        i = (i + 1u) & mask;
    }
    assert(!"htab_insert_new: no free slot");
}

/* Rehash into a table twice the size. The new array is built completely
 * before the old one is freed, so an allocation failure leaves the table
 * exactly as it was. */
static int htab_grow(htab *t)
{
    size_t ncap = t->cap == 0 ? HTAB_CAP_INITIAL
                              : t->cap * HTAB_GROWTH_FACTOR;
    if (ncap > HTAB_CAP_MAX || ncap < t->cap)
        return -1;
    htab_slot *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key != 0)
            htab_insert_new(ns, ncap, t->slots[i].key, t->slots[i].val);
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    assert(t->count * HTAB_LOAD_DEN <= t->cap * HTAB_LOAD_NUM);
    return 0;
}

void htab_init(htab *t)
{
    assert(t != NULL);
    memset(t, 0, sizeof *t);
}

void htab_free(htab *t)
{
    assert(t != NULL);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

void *htab_get(const htab *t, uint64_t key)
{
    assert(t != NULL);
    assert(key != 0);
    size_t i = htab_find(t, key);
    return i < t->cap ? t->slots[i].val : NULL;
}

/* Replace in place if present; otherwise grow first if the new count would
 * pass 3/4 load, then insert. */
int htab_put(htab *t, uint64_t key, void *val)
{
    assert(t != NULL);
    assert(key != 0);
    size_t i = htab_find(t, key);
    if (i < t->cap) {
        t->slots[i].val = val;
        return 0;
    }
    bool full = (t->count + 1u) * HTAB_LOAD_DEN > t->cap * HTAB_LOAD_NUM;
    if (full && htab_grow(t) != 0)
        return -1;
    htab_insert_new(t->slots, t->cap, key, val);
    t->count++;
    assert(t->count < t->cap);
    return 0;
}

/* Backward-shift deletion: after emptying slot hole, walk the rest of the
 * cluster; an entry whose home lies cyclically at or before the hole (its
 * probe distance is at least the hole's distance) moves into the hole,
 * which then moves to where that entry was. */
void *htab_del(htab *t, uint64_t key)
{
    assert(t != NULL);
    assert(key != 0);
    size_t hole = htab_find(t, key);
    if (hole >= t->cap)
        return NULL;
    void *val = t->slots[hole].val;
    size_t mask = t->cap - 1u;
    size_t j = hole;
    for (size_t probes = 0; probes < t->cap; probes++) {
        j = (j + 1u) & mask;
        uint64_t k = t->slots[j].key;
        if (k == 0)
            break;
        size_t home = htab_home(t->cap, k);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].key = 0;
    t->slots[hole].val = NULL;
    assert(t->count > 0);
    t->count--;
    return val;
}

int htab_next(const htab *t, size_t *pos, uint64_t *key, void **val)
{
    assert(t != NULL);
    assert(pos != NULL);
    for (size_t i = *pos; i < t->cap; i++) {
        if (t->slots[i].key != 0) {
            if (key != NULL)
                *key = t->slots[i].key;
            if (val != NULL)
                *val = t->slots[i].val;
            *pos = i + 1u;
            return 1;
        }
    }
    *pos = t->cap;
    return 0;
}
