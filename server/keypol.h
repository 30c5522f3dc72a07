/* keypol -- a key's limits and allowlists as one immutable, shared record.
 *
 * Keys made by the same script or for the same tier carry identical
 * limits (quota, spend caps, rpm/tpm) and allowlists (models, IP ranges).
 * Interning them means a key holds one 8-byte pointer instead of ~250
 * bytes of arrays and strings, and the check reads a record that is
 * shared by many keys and therefore usually in cache.
 *
 * Records are immutable once interned, so a check reads them with only
 * its shard lock held. Interning and releasing take one process-wide
 * mutex: only key create/update/delete and recovery do that, never a
 * check. Lock order: a shard lock may be held when calling in; the
 * keypol mutex is never held while taking a shard lock.
 */
#ifndef QD_KEYPOL_H
#define QD_KEYPOL_H

#include <stdint.h>

#include "ipnet.h"

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
} keypol;

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
 * memory. */
__attribute__((warn_unused_result))
const keypol *keypol_intern(const keypol_draft *d);
/* Drop one reference (NULL is ignored); the last one frees the record. */
void keypol_release(const keypol *p);

/* Distinct records alive (tests, stats). */
uint32_t keypol_count(void);

#endif
