/* pb_load.h -- check throughput per durability policy, for persist_bench:
 * a fresh daemon per policy, o->conns connections (one thread and one
 * funded key each) keeping o->pipeline checks in flight for o->seconds,
 * then the log statistics of its data dir after a clean stop. */
#ifndef PB_LOAD_H
#define PB_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "pb_daemon.h"
#include "pb_opts.h"
#include "pb_seg.h"

/* Debits of 1..PB_AMOUNT_MAX micro-units, 0..PB_TOKENS_MAX-1 tokens. */
#define PB_AMOUNT_MAX 5000
#define PB_TOKENS_MAX 2000

/* One connection's load: its thread keeps `pipeline` checks in flight
 * until end_ms (another thread may move it), then drains. */
typedef struct pb_loader {
    pthread_t th;
    qc_ctx *c;
    char secret[160];
    int pipeline;
    uint64_t rng;
    _Atomic int64_t end_ms;
    int64_t done, errors, max_gap_ms;   /* longest wait between replies */
} pb_loader;

/* What one policy measured. */
typedef struct pb_load_res {
    const char *name;
    double per_s;
    int64_t done, errors;
    pb_seg_stats seg;
} pb_load_res;

/* A funded workspace with one unlimited key; its secret into out. */
__attribute__((warn_unused_result))
int pb_load_make_key(qc_ctx *c, char *out, size_t cap);
/* Connect l (its secret set) and start its thread; join it and
 * qc_free(l->c) afterwards. */
__attribute__((warn_unused_result))
int pb_loader_start(pb_loader *l, const pb_daemon *d, int pipeline,
                    int64_t end_ms, uint64_t seed);
/* One policy: fresh daemon with --fsync fsync --persist persist, load,
 * clean stop, log statistics (persist "1" only); a line to stderr. */
__attribute__((warn_unused_result))
int pb_load_policy(const pb_opts *o, const char *name, const char *fsync,
                   const char *persist, pb_load_res *res);

#endif
