/* pb_recov.h -- recovery of many keys, for persist_bench: one daemon
 * (--fsync no) gets o->keys keys (PB_KEYS_PER_WS per workspace, created
 * PB_BATCH per frame over PB_LOADERS connections); then a clean restart
 * from the log, a snapshot taken while one connection runs synchronous
 * checks, and a restart from that snapshot. Each restart records start to
 * port file and the ms of the daemon's "recover:" line. */
#ifndef PB_RECOV_H
#define PB_RECOV_H

#include <stdint.h>

#include "pb_opts.h"
#include "pb_seg.h"

#define PB_KEYS_PER_WS 100
#define PB_BATCH 256
#define PB_LOADERS 2

/* What the recovery run measured (-1: a "recover:" line not found). */
typedef struct pb_recov_res {
    int keys;
    double load_s;
    pb_seg_stats seg;
    int64_t log_port_ms, log_recover_ms, snap_ms, snap_port_ms,
        snap_recover_ms, probe_checks, probe_max_ms;
} pb_recov_res;

/* Load the keys, restart from the log, snapshot, restart again; progress
 * to stderr. With o->keep the data dir is kept (its path printed). */
__attribute__((warn_unused_result))
int pb_recov_run(const pb_opts *o, pb_recov_res *res);

#endif
