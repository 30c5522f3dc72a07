/* htab -- open-addressing hash table from a nonzero uint64_t to a pointer.
 *
 * Linear probing with backward-shift deletion (no tombstones), power-of-two
 * capacity, grows at 3/4 load. Keys are mixed with a 64-bit finalizer, so
 * sequential ids spread well. Not thread-safe: the owner (a shard) holds
 * its lock. Key 0 is reserved (asserted).
 */
#ifndef QD_HTAB_H
#define QD_HTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct htab_slot {
    uint64_t key;       /* 0 = empty */
    void *val;
} htab_slot;

typedef struct htab {
    htab_slot *slots;
    size_t cap;         /* power of two, or 0 before first insert */
    size_t count;
} htab;

/* Zero-initialised htab is a valid empty table. */
void htab_init(htab *t);
void htab_free(htab *t);          /* frees slots, not values */

void *htab_get(const htab *t, uint64_t key);

/* Insert or replace. Returns 0, or -1 on allocation failure (table
 * unchanged). */
__attribute__((warn_unused_result))
int htab_put(htab *t, uint64_t key, void *val);

/* Remove; returns the value that was stored, or NULL if absent. */
void *htab_del(htab *t, uint64_t key);

/* Iterate: start with *pos = 0; returns 1 and fills key/val while items
 * remain, 0 at the end. Must not insert or delete during iteration. */
int htab_next(const htab *t, size_t *pos, uint64_t *key, void **val);

#endif
