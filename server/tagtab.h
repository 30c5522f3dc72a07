/* tagtab -- the secret-tag index: 64-bit tag -> key, 8 bytes per slot.
 *
 * The by-secret index holds every key once (twice during a rotation
 * grace period), so its slot size is a large part of the memory per key.
 * A slot packs the value pointer (48 bits, 8-byte aligned), an "alt"
 * bit (this entry is the value's second tag) and the top 16 bits of the
 * tag, so most probes that miss are rejected without touching the value.
 * Full tags are never stored: the table asks the owner for them through
 * tag_of(value, alt), which it needs to confirm a match and to move
 * entries when growing or deleting.
 *
 * Linear probing, backward-shift deletion. The home slot comes from the
 * tag's low 48 bits (independent of the 16 kept in the slot) scaled to
 * the capacity by a multiply and shift, so the capacity can be any size:
 * it grows by 5/4 when a put would pass 85% load, which keeps the load
 * between about 0.68 and 0.85 (8 / 0.76 = ~10.5 bytes per entry on
 * average). Tags must be well mixed in their low 48 bits (keyfmt_tag
 * takes them from a hash). Not thread-safe: the owning shard's lock
 * protects it. Tag 0 is reserved (keyfmt_tag never returns it).
 */
#ifndef QD_TAGTAB_H
#define QD_TAGTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t (*tagtab_tag_fn)(const void *val, bool alt);

typedef struct tagtab {
    uint64_t *slots;    /* 0 = empty */
    size_t cap;         /* slots (any size), 0 before the first insert */
    size_t count;
    tagtab_tag_fn tag_of;
} tagtab;

void tagtab_init(tagtab *t, tagtab_tag_fn tag_of);
void tagtab_free(tagtab *t);            /* frees slots, not values */

/* The value stored under tag, or NULL; *alt tells which of its tags
 * matched (alt may be NULL). */
void *tagtab_get(const tagtab *t, uint64_t tag, bool *alt);

/* Prefetch hints (no result, nothing confirmed). Callers hold the owning
 * shard's lock like for every other call: the slot array may move.
 *   prefetch: start loading the slot tag maps to;
 *   peek: the first value of tag's probe run whose stored tag bits match,
 *   within TAGTAB_PEEK_SLOTS_MAX slots (wrapping at the end), without
 *   touching any value (so it may be another value sharing those bits);
 *   NULL if none. Use it only to choose what to prefetch; tagtab_get is
 *   the lookup. */
#define TAGTAB_PEEK_SLOTS_MAX 8u   /* one cache line of 8-byte slots */
void tagtab_prefetch(const tagtab *t, uint64_t tag);
const void *tagtab_peek(const tagtab *t, uint64_t tag);

/* Insert val under tag (which must equal tag_of(val, alt) and must not be
 * present). Returns 0, or -1 on allocation failure (table unchanged). */
__attribute__((warn_unused_result))
int tagtab_put(tagtab *t, uint64_t tag, void *val, bool alt);

/* Make room so the next n puts cannot fail. Returns 0 or -1. */
__attribute__((warn_unused_result))
int tagtab_reserve(tagtab *t, size_t n);

/* Iterate: start with *pos = 0; returns 1 and fills val/alt while entries
 * remain, 0 at the end. No insert or delete during iteration. */
int tagtab_next(const tagtab *t, size_t *pos, void **val, bool *alt);

/* Remove the entry for tag; returns its value, or NULL if absent. */
void *tagtab_del(tagtab *t, uint64_t tag);

#endif
