/* recover -- load the newest snapshot and replay the log at start. */
#ifndef QD_RECOVER_H
#define QD_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct recover_opts {
    const char *dir;
    const uint8_t *key;        /* NULL, or 32 bytes (encrypted data) */
    bool repair;               /* cut the log at a corrupt chunk */
    bool read_only;            /* inspect only: never cut, remove or fix */
} recover_opts;

typedef struct recover_report {
    char snapshot[600];        /* path loaded, "" if none */
    uint64_t segments;         /* replayed */
    uint64_t records_applied, records_skipped;
    uint64_t last_segno;       /* highest segment present (0: none) */
    bool tail_cut;             /* a torn tail was cut */
    bool tail_zero;            /* ... and it was all zeros: preallocated
                                * space of a segment open at the crash */
    uint64_t tail_offset, tail_bytes;
    bool repaired;             /* --repair dropped data */
    int64_t ms;
} recover_report;

/* Fill the (empty) store from o->dir. Returns 0, or -1 with err set:
 * the daemon must not start. */
int recover_load(store *st, const recover_opts *o, recover_report *rep,
                 char *err, size_t err_cap);

#endif
