/* plog -- the append-only log writer: group commit of every state change.
 *
 *   worker threads (shard lock held)         log writer thread
 *   ---------------------------------        -----------------
 *   change state, seq = next (atomic),
 *   rec_append -> shard->log buffer
 *   reply parked until durable (always) --kick--> S = current seq
 *                                                 for each shard: lock,
 *                                                   swap its log buffer
 *                                                 order records by seq,
 *                                                 one zstd chunk, write,
 *                                                 fdatasync (always)
 *   worker eventfd <--notify(durable = S)-------- durable_seq = S
 *   (only workers holding parked replies)
 *   release parked replies with seq <= S
 *   released_seq = S ----------released---------> a fast commit waits for
 *                                                 the release of the one
 *                                                 before (plog_gate)
 *
 * On a fast log device (commits under PLOG_INLINE_COMMIT_US_MAX on
 * average) the worker runs the writer's column itself at the end of its
 * event-loop pass (plog_commit_inline, one commit at a time under
 * commit_mu) and releases its own replies at once: no kick, no notify to
 * itself. The writer thread then only rotates, snapshots and ticks.
 *
 * Every record with seq <= S was appended before S was read (seq is taken
 * and the record appended under one shard lock hold), so after the sweep
 * all of them are in the chunk: "durable up to S" is exact.
 * A write or fsync error is fatal for durability: the store turns
 * read-only, parked replies are never sent, the error is logged.
 */
#ifndef QD_PLOG_H
#define QD_PLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef enum plog_fsync {
    PLOG_FSYNC_ALWAYS = 0,   /* group commit; replies wait for fsync */
    PLOG_FSYNC_EVERYSEC = 1, /* fsync once a second; replies do not wait */
    PLOG_FSYNC_NO = 2,       /* the OS decides; replies do not wait */
} plog_fsync;

#define PLOG_ZSTD_LEVEL 1
#define PLOG_SEGMENT_BYTES_DEFAULT (64ull * 1024 * 1024)
#define PLOG_EVERYSEC_MS 1000u
#define PLOG_IDLE_WAKE_MS 100u         /* writer wakes at least this often */
#define PLOG_GATE_COMMIT_US_MAX 200u   /* only commits faster than this wait */
#define PLOG_GATE_WAIT_US_MAX 2000u    /* for the workers' release (plog_gate) */
#define PLOG_INLINE_COMMIT_US_MAX 100u /* workers commit if commits are faster */
#define PLOG_INLINE_ROUNDS_MAX 4u      /* commits one worker runs in a row */
#define PLOG_SNAPSHOT_LOG_BYTES_DEFAULT (256ull * 1024 * 1024)
#define PLOG_SNAPSHOT_INTERVAL_S_DEFAULT 3600u

typedef void (*plog_notify_fn)(void *arg);
/* Have the workers sent every parked reply up to upto that the notifies
 * so far asked them to? (plog_gate) */
typedef bool (*plog_released_fn)(void *arg, uint64_t upto);

typedef struct plog_opts {
    const char *dir;
    plog_fsync fsync;
    const uint8_t *key;              /* NULL, or 32 bytes: encrypt at rest */
    uint64_t segment_bytes_max;
    uint64_t snapshot_log_bytes;     /* snapshot after this much log; 0 off */
    uint32_t snapshot_interval_s;    /* and at least this often; 0 off */
    uint64_t first_segno;            /* segment number to create first */
    uint32_t idle_wake_ms;           /* writer's idle tick; 0: the default
                                      * PLOG_IDLE_WAKE_MS (tests raise it
                                      * so only kicks make it commit) */
    bool no_spare;                   /* no zero-filled spare segment
                                      * (plog_spare.c): grow as written */
} plog_opts;

typedef struct plog plog;

/* Start logging st into opts->dir (recovery already done). Sets
 * st->plog. Returns 0 or -1 (logged). */
__attribute__((warn_unused_result))
int plog_open(store *st, const plog_opts *opts, plog **out);

/* Flush and fsync everything, stop the thread, close the segment, clear
 * st->plog. Returns 0, or -1 if durability was lost at any point. */
int plog_close(plog *pl);

/* notify is called (from the writer thread) after durable_seq advanced
 * or the log failed; released before a fast commit (plog_gate). Both
 * must be cheap and thread-safe (notify kicks worker eventfds). */
void plog_set_notify(plog *pl, plog_notify_fn notify,
                     plog_released_fn released, void *arg);

/* A worker sent the parked replies a notify asked for: wake the writer
 * if it waits on that. Cheap when it does not. */
void plog_released(plog *pl);

/* Ask the writer to run soon. Cheap when already asked. */
void plog_kick(plog *pl);
/* Worker thread, at the end of an event-loop pass with parked replies:
 * should it commit itself (the log is fast), and do so (never waits; see
 * plog.c). When not ok, kick the writer instead. */
bool plog_inline_ok(const plog *pl);
void plog_commit_inline(plog *pl);

/* Replies must wait for durability (policy always). */
bool plog_holds_replies(const plog *pl);
uint64_t plog_durable_seq(const plog *pl);
bool plog_failed(const plog *pl);

/* Group commits, records, bytes written, fsyncs, microseconds spent in
 * those fsyncs since start (log_fsync_us / log_fsyncs = the disk's commit
 * latency, which bounds durable throughput: see bench/ANALYSIS.md),
 * spare segments prepared (plog_spare.c), fast commits held back for the
 * workers' release (plog_gate), and commits run by workers inline
 * (plog_commit_inline). */
#define PLOG_COUNTERS 8
void plog_counters(const plog *pl, uint64_t out[PLOG_COUNTERS]);

/* Take a snapshot now and compact the log; blocks the caller (not the
 * hot path: shards are locked one at a time). Returns 0 or -1 with err. */
int plog_snapshot(plog *pl, char *err, size_t err_cap);

/* Start a snapshot in a background thread; -1 if one is running or the
 * log is closing. */
int plog_snapshot_start(plog *pl);
bool plog_snapshot_running(const plog *pl);
/* Seq of the last snapshot this process completed (0: none yet). */
uint64_t plog_last_snapshot_seq(const plog *pl);

#endif
