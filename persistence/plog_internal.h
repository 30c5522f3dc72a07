/* plog_internal -- the log writer's state, shared by plog.c (group commit)
 * and plog_snap.c (snapshots). Not for other modules. */
#ifndef QD_PLOG_INTERNAL_H
#define QD_PLOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "chunk.h"
#include "plog.h"
#include "plog_order.h"
#include "segfile.h"
#include "store.h"

#define PLOG_SEGMENT_FMT "log-%016" PRIu64 ".qlog"
#define PLOG_SNAPSHOT_FMT "snap-%020" PRIu64 ".qsnap"
#define PLOG_SNAPSHOT_TMP_FMT "snap-%020" PRIu64 ".tmp"
/* The zero-filled spare segment (plog_spare.c); neither recovery nor
 * compaction matches this name as a segment. */
#define PLOG_SPARE_NAME "log-spare.tmp"
/* Spare size beyond segment_bytes_max: rotation happens after the commit
 * that crosses it, so the last commit's chunks still land in zeros. */
#define PLOG_SPARE_SLACK_BYTES (1024u * 1024u)
/* After a failed spare (disk full, file size limit), wait this long. */
#define PLOG_SPARE_RETRY_MS 10000u
/* commit_us moves 1/2^this of the way to each commit's time. */
#define PLOG_COMMIT_AVG_SHIFT 3u
#define PLOG_NAME_BYTES 64u
#define PLOG_DIR_BYTES 512u
/* Snapshot chunk size before it is written out (bounded memory). */
#define PLOG_SNAP_CHUNK_BYTES (4u * 1024u * 1024u)

struct plog {
    store *st;
    plog_opts opt;
    char dir[PLOG_DIR_BYTES];
    uint8_t key[32];
    bool has_key;

    pthread_t tid;
    pthread_mutex_t mu;            /* guards the request flags below */
    pthread_cond_t cv;
    bool stop, rotate_req;
    int rotate_rc;
    _Atomic int kicked;
    _Atomic int sleeping;          /* writer in (or about to) cond wait */
    _Atomic int gating;            /* writer in plog_gate's wait */
    plog_notify_fn notify;         /* under mu */
    /* Set under mu, read without it by workers too (plog_gate_open):
     * arg is stored before released is set and after it is cleared. */
    _Atomic(plog_released_fn) released;
    _Atomic(void *) notify_arg;

    _Atomic uint64_t durable_seq;
    _Atomic int failed;
    _Atomic uint64_t n_commits, n_records, n_bytes, n_fsyncs; /* stats */
    _Atomic uint64_t n_fsync_us;   /* stats: time spent in fdatasync */
    _Atomic uint64_t n_gate_waits; /* stats: plog_gate waited */
    _Atomic uint64_t n_inline;     /* stats: commits run by a worker */

    /* One commit at a time, by the writer or inline by a worker
     * (plog_commit_inline); it guards the writer-side state below. Never
     * taken while holding mu (a commit takes mu to notify). */
    pthread_mutex_t commit_mu;
    _Atomic int commit_pending;    /* a worker wants a commit after this */
    _Atomic uint64_t commit_us;    /* mean commit time (plog_commit_round) */
    _Atomic uint64_t gate_seq;     /* durable_seq before its last advance */

    /* Under commit_mu. */
    segfile_writer *w;
    uint64_t segno;                /* of w (read by others under mu) */
    bool unsynced;
    int64_t last_sync_ms;
    shard_log *spare;              /* per shard: swapped-out buffers */
    plog_ref *refs;
    size_t refs_cap;
    plog_order_buf order;          /* scratch for plog_order */
    chunk_builder b;
    _Atomic uint64_t log_bytes_since_snap;

    /* Spare segment (plog_spare.c). */
    pthread_t spare_tid;
    bool spare_started;
    pthread_mutex_t spare_mu;      /* with spare_cv: the preparer's waits */
    pthread_cond_t spare_cv;
    _Atomic int spare_stop;        /* also cancels a preparation underway */
    _Atomic int spare_ready;       /* PLOG_SPARE_NAME is whole and synced */
    _Atomic uint64_t n_spares;     /* stats: spares prepared */

    /* Snapshots: one at a time. */
    pthread_mutex_t snap_mu;
    _Atomic int snap_running;      /* an automatic snapshot thread runs */
    pthread_t snap_tid;
    bool snap_started;             /* snap_tid needs a join (under mu) */
    bool no_more_snaps;            /* closing (under mu) */
    int64_t last_snap_ms;
    _Atomic uint64_t last_snap_seq;
};

void plog_fail(plog *pl, const char *what, int status);
int plog_rotate(plog *pl);
int plog_commit(plog *pl, bool force_sync, bool may_rotate);
uint64_t plog_request_rotate(plog *pl);
void plog_segment_name(uint64_t segno, char *out, size_t cap);
/* ts = now + us on CLOCK_REALTIME (pthread_cond_timedwait's clock). */
void plog_deadline(struct timespec *ts, uint64_t us);

/* plog_spare.c */
int plog_spare_start(plog *pl);      /* 0, or -1 (logged; not fatal) */
void plog_spare_stop(plog *pl);      /* join, remove the spare */
bool plog_spare_ready(const plog *pl);
segfile_status plog_spare_take(plog *pl, const char *name,
                               segfile_writer **w);

/* plog_snap.c */
void plog_auto_snapshot(plog *pl);   /* writer thread: start one if due */
void plog_snapshot_join(plog *pl);   /* wait for an automatic one */

#endif
