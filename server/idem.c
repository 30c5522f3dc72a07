/* idem.c -- bounded idempotency window: FIFO ring + htab index.
 *
 * The index maps (key.lo | 1) -- htab reserves key 0 -- to ring slot + 1.
 * Two different keys may share that index key; the ring entry holds the
 * full 128-bit key, so a find compares it and treats a mismatch as absent,
 * a put simply takes the index entry over (the older entry becomes
 * unreachable, which only costs a forgotten answer), and an eviction
 * removes the index entry only if it still points at the evicted slot.
 */
#include "idem.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* Fixed, so keys stay stable across restarts (they may be persisted). */
#define IDEM_KEY_SEED UINT64_C(0x71756f7461640002) /* "quotad",2 */
#define IDEM_SCOPE_BYTES 8u
#define IDEM_KIND_BYTES 4u

static void idem_put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8u * i));
}

/* Scope and kind are encoded at fixed width (little-endian) before the id
 * bytes, so (scope, kind, id) triples can never alias each other. The
 * streaming state bounds nothing on id_len and needs no allocation. */
idem_key idem_make_key(uint64_t scope, uint32_t kind, const char *id,
                       size_t id_len)
{
    uint8_t head[IDEM_SCOPE_BYTES + IDEM_KIND_BYTES];
    XXH3_state_t st;
    idem_key k;

    assert(id != NULL || id_len == 0);
    idem_put_le(head, scope, IDEM_SCOPE_BYTES);
    idem_put_le(head + IDEM_SCOPE_BYTES, kind, IDEM_KIND_BYTES);
    XXH_errorcode rc = XXH3_128bits_reset_withSeed(&st, IDEM_KEY_SEED);
    assert(rc == XXH_OK);
    rc = XXH3_128bits_update(&st, head, sizeof head);
    assert(rc == XXH_OK);
    if (id_len > 0) {
        rc = XXH3_128bits_update(&st, id, id_len);
        assert(rc == XXH_OK);
    }
    (void)rc;
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    k.lo = h.low64;
    k.hi = h.high64;
    return k;
}

static uint64_t idem_index_key(idem_key key)
{
    return key.lo | 1u;
}

/* Safe against overflow for any at_ms and window_ms >= 0. */
static bool idem_expired(const idem_tab *t, const idem_entry *e,
                         int64_t now_ms)
{
    assert(t->window_ms >= 0);
    if (e->at_ms > INT64_MAX - t->window_ms)
        return false;
    return e->at_ms + t->window_ms <= now_ms;
}

int idem_init(idem_tab *t, uint32_t cap, int64_t window_ms)
{
    assert(t != NULL);
    memset(t, 0, sizeof *t);
    if (cap == 0 || window_ms < 0)
        return -1;
    t->ring = calloc(cap, sizeof *t->ring);
    if (t->ring == NULL)
        return -1;
    t->cap = cap;
    t->window_ms = window_ms;
    htab_init(&t->index);
    assert(t->count == 0);
    return 0;
}

void idem_free(idem_tab *t)
{
    assert(t != NULL);
    free(t->ring);
    htab_free(&t->index);
    memset(t, 0, sizeof *t);
}

/* Remove the oldest entry; its index entry goes only if it still names
 * this slot (a later entry with the same lo|1 may have taken it over). */
static void idem_evict_head(idem_tab *t, int64_t now_ms)
{
    assert(t->count > 0);
    uint32_t slot = t->head;
    idem_entry *e = &t->ring[slot];
    uint64_t ik = idem_index_key(e->key);
    void *v = htab_get(&t->index, ik);
    if (v != NULL && (uintptr_t)v == (uintptr_t)slot + 1u)
        (void)htab_del(&t->index, ik);
    if (!idem_expired(t, e, now_ms))
        t->evicted_early++;
    memset(e, 0, sizeof *e);
    t->head = (t->head + 1u) % t->cap;
    t->count--;
    assert(t->head < t->cap);
}

/* Arrival order is time order (for a monotonic clock), so expired entries
 * form a prefix of the ring; the loop is bounded by the ring size. */
static void idem_drop_expired(idem_tab *t, int64_t now_ms)
{
    while (t->count > 0 && idem_expired(t, &t->ring[t->head], now_ms))
        idem_evict_head(t, now_ms);
    assert(t->count <= t->cap);
}

const idem_entry *idem_find(idem_tab *t, idem_key key, int64_t now_ms)
{
    assert(t != NULL);
    assert(t->ring != NULL);
    idem_drop_expired(t, now_ms);
    void *v = htab_get(&t->index, idem_index_key(key));
    if (v == NULL)
        return NULL;
    uintptr_t slot = (uintptr_t)v - 1u;
    assert(slot < t->cap);
    const idem_entry *e = &t->ring[slot];
    if (e->key.lo != key.lo || e->key.hi != key.hi)
        return NULL;
    /* Not at the head (e.g. the clock stepped back): still check. */
    if (idem_expired(t, e, now_ms))
        return NULL;
    return e;
}

/* Make room (expired first, then the oldest live entry), point the index
 * at the target slot, and only then write the entry: if the index insert
 * fails nothing new is stored. */
int idem_put(idem_tab *t, idem_key key, uint32_t route, uint64_t input_hash,
             const void *answer, size_t answer_len, int64_t now_ms)
{
    assert(t != NULL);
    assert(answer_len <= IDEM_ANSWER_BYTES);
    assert(answer != NULL || answer_len == 0);
    idem_drop_expired(t, now_ms);
    if (t->count == t->cap)
        idem_evict_head(t, now_ms);
    uint32_t slot = (uint32_t)(((uint64_t)t->head + t->count) % t->cap);
    uintptr_t v = (uintptr_t)slot + 1u;
    if (htab_put(&t->index, idem_index_key(key), (void *)v) != 0)
        return -1;
    idem_entry *e = &t->ring[slot];
    memset(e, 0, sizeof *e);
    e->key = key;
    e->at_ms = now_ms;
    e->input_hash = input_hash;
    e->route = route;
    if (answer_len > 0)
        memcpy(e->answer, answer, answer_len);
    t->count++;
    assert(t->count <= t->cap);
    return 0;
}
