/* keypol -- a key's limits and allowlists as one immutable, shared record.
 *
 * Keys made by the same script or for the same tier carry identical
 * limits (quota, spend caps, rpm/tpm) and allowlists (models, IP ranges).
 * Interning them means a key holds one 4-byte id instead of ~250 bytes of
 * arrays and strings, and the check reads a record that is shared by many
 * keys and therefore usually in cache. An id names its record through a
 * directory that never moves (keypol_at), so a check needs no lock to
 * follow it.
 *
 * Records are immutable once interned, so a check reads them with only
 * its shard lock held. Interning and releasing take one process-wide
 * mutex: only key create/update/delete and recovery do that, never a
 * check. Lock order: a shard lock may be held when calling in; the
 * keypol mutex is never held while taking a shard lock.
 */
#ifndef QD_KEYPOL_H
#define QD_KEYPOL_H

#include <stdatomic.h>
#include <stdint.h>

#include "ipnet.h"

#define KEYPOL_ID_NONE 0u               /* no record */
#define KEYPOL_DIR_CHUNK_IDS 1024u      /* ids per directory chunk */
#define KEYPOL_DIR_CHUNKS 65536u        /* directory: 512 KiB of pointers */
#define KEYPOL_IDS_MAX (KEYPOL_DIR_CHUNK_IDS * KEYPOL_DIR_CHUNKS)

typedef struct keypol {
    int64_t quota_total;                  /* LIMIT_NONE = unlimited */
    int64_t cap_day, cap_week, cap_month; /* LIMIT_NONE = none */
    int64_t rpm, tpm;                     /* LIMIT_NONE = none */
    uint32_t n_models, n_ips;
    char **models;                        /* n_models strings, in the record */
    ipnet_range *ips;                     /* n_ips ranges, in the record */
    /* interning: owned by keypol.c */
    uint64_t hash;
    struct keypol *next;
    uint32_t refs;
    uint32_t id;                          /* never KEYPOL_ID_NONE */
} keypol;

/* id -> record directory (keypol.c). Chunks and entries are published
 * with release stores under the keypol mutex before the id is handed
 * out; a key holds a reference, so its id's entry stays set. */
typedef _Atomic(const keypol *) keypol_slot;
extern keypol_slot *_Atomic keypol_dir[KEYPOL_DIR_CHUNKS];

/* The record of an id a key holds (NULL for KEYPOL_ID_NONE). */
static inline const keypol *keypol_at(uint32_t id)
{
    if (id == KEYPOL_ID_NONE) {
        return NULL;
    }
    keypol_slot *c = atomic_load_explicit(
        &keypol_dir[id / KEYPOL_DIR_CHUNK_IDS], memory_order_acquire);
    return atomic_load_explicit(&c[id % KEYPOL_DIR_CHUNK_IDS],
                                memory_order_acquire);
}

static inline uint32_t keypol_id(const keypol *p)
{
    return p != NULL ? p->id : KEYPOL_ID_NONE;
}

/* The settings to intern; arrays are borrowed (copied by keypol_intern). */
typedef struct keypol_draft {
    int64_t quota_total, cap_day, cap_week, cap_month, rpm, tpm;
    uint32_t n_models, n_ips;
    char *const *models;
    const ipnet_range *ips;
} keypol_draft;

/* Every limit none, no allowlists. */
void keypol_draft_none(keypol_draft *d);
/* A draft equal to p (arrays borrowed from p). */
void keypol_draft_of(keypol_draft *d, const keypol *p);

/* The shared record equal to d, with one more reference; NULL when out of
 * memory or of ids (KEYPOL_IDS_MAX distinct records). */
__attribute__((warn_unused_result))
const keypol *keypol_intern(const keypol_draft *d);
/* Drop one reference (NULL is ignored); the last one frees the record. */
void keypol_release(const keypol *p);

/* Distinct records alive (tests, stats). */
uint32_t keypol_count(void);

#endif
