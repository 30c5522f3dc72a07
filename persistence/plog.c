/* plog -- the log writer thread; see plog.h for the picture. */
#include "plog.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunk.h"
#include "log.h"
#include "plog_internal.h"
#include "rec.h"
#include "segfile.h"

#include <sodium.h>

/* Tell the network layer (under mu, so plog_set_notify(NULL) waits for
 * a call in progress before the workers go away). */
static void plog_notify_all(plog *pl)
{
    pthread_mutex_lock(&pl->mu);
    if (pl->notify != NULL) {
        pl->notify(atomic_load(&pl->notify_arg));
    }
    pthread_mutex_unlock(&pl->mu);
}

/* ---- failure: durability lost ---- */

void plog_fail(plog *pl, const char *what, int status)
{
    if (atomic_exchange(&pl->failed, 1) == 0) {
        log_error("log %s failed (%s): durability lost; refusing all writes "
                  "until restart",
                  what, segfile_status_str((segfile_status)status));
    }
    atomic_store(&pl->st->read_only, 1);
    plog_notify_all(pl);
}

void plog_counters(const plog *pl, uint64_t out[PLOG_COUNTERS])
{
    out[0] = atomic_load(&pl->n_commits);
    out[1] = atomic_load(&pl->n_records);
    out[2] = atomic_load(&pl->n_bytes);
    out[3] = atomic_load(&pl->n_fsyncs);
    out[4] = atomic_load(&pl->n_fsync_us);
    out[5] = atomic_load(&pl->n_spares);
    out[6] = atomic_load(&pl->n_gate_waits);
    out[7] = atomic_load(&pl->n_inline);
}

bool plog_failed(const plog *pl)
{
    return atomic_load(&pl->failed) != 0;
}

bool plog_holds_replies(const plog *pl)
{
    return pl->opt.fsync == PLOG_FSYNC_ALWAYS;
}

uint64_t plog_durable_seq(const plog *pl)
{
    return atomic_load(&pl->durable_seq);
}

void plog_set_notify(plog *pl, plog_notify_fn notify,
                     plog_released_fn released, void *arg)
{
    pthread_mutex_lock(&pl->mu);
    pl->notify = notify;
    if (released != NULL) {
        atomic_store(&pl->notify_arg, arg);
        atomic_store(&pl->released, released);
    } else {
        atomic_store(&pl->released, released);
        atomic_store(&pl->notify_arg, arg);
    }
    pthread_mutex_unlock(&pl->mu);
}

/* Called for every parked reply, so it must cost next to nothing: a load
 * when already asked (no write to the shared line), and the mutex only
 * when the writer sleeps. Under load the writer is inside a commit when
 * the first reply of the next group parks, and it re-reads `kicked`
 * before it would wait. seq_cst on both flags: either the writer sees
 * kicked = 1 before waiting, or we see sleeping = 1 and signal (taking
 * mu, so the signal cannot fall between its check and its wait). */
void plog_kick(plog *pl)
{
    if (atomic_load(&pl->kicked) || atomic_exchange(&pl->kicked, 1)) {
        return;
    }
    if (!atomic_load(&pl->sleeping)) {
        return;
    }
    pthread_mutex_lock(&pl->mu);
    pthread_cond_signal(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* seq_cst against plog_gate's store of gating before it reads the
 * workers' progress: either it sees our release, or we see it waiting
 * and signal (under mu, so not between its check and its wait). Only a
 * gated writer is signalled: one waiting for kicks must not be woken by
 * every release, or it would commit more often, not less. */
void plog_released(plog *pl)
{
    if (!atomic_load(&pl->gating))
        return;
    pthread_mutex_lock(&pl->mu);
    pthread_cond_signal(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

/* ---- segments ---- */

void plog_segment_name(uint64_t segno, char *out, size_t cap)
{
    snprintf(out, cap, PLOG_SEGMENT_FMT, segno);
}

/* Segment pl->segno: from the spare when one is ready, else a new file
 * that grows as it is written. */
static segfile_status plog_create_segment(plog *pl)
{
    char name[PLOG_NAME_BYTES];
    plog_segment_name(pl->segno, name, sizeof(name));
    if (plog_spare_ready(pl)) {
        segfile_status s = plog_spare_take(pl, name, &pl->w);
        if (s == SEGFILE_OK) {
            return s;
        }
        log_warn("log: spare segment not usable (%s): creating %s",
                 segfile_status_str(s), name);
    }
    return segfile_create(pl->opt.dir, name, SEGFILE_KIND_LOG, pl->segno,
                          (uint64_t)store_clock_real_ms(),
                          pl->has_key ? pl->key : NULL, &pl->w);
}

/* Close the current segment (zero tail cut, synced) and start
 * segno + 1. */
int plog_rotate(plog *pl)
{
    if (pl->w != NULL) {
        segfile_status s = segfile_finish(pl->w);
        segfile_status c = segfile_close(pl->w);
        pl->w = NULL;
        if (s != SEGFILE_OK || c != SEGFILE_OK) {
            plog_fail(pl, "sync at rotation", s != SEGFILE_OK ? s : c);
            return -1;
        }
        pl->segno++;
    }
    segfile_status s = plog_create_segment(pl);
    if (s != SEGFILE_OK) {
        plog_fail(pl, "segment create", s);
        return -1;
    }
    pl->unsynced = false;
    return 0;
}

/* ---- collecting records from the shards ---- */

/* Swap every shard's log buffer with our spare; returns records taken. */
static size_t plog_swap_buffers(plog *pl)
{
    store *st = pl->st;
    size_t n = 0;
    for (uint32_t i = 0; i < st->opt.shards; i++) {
        shard *sh = &st->shards[i];
        shard_log *sp = &pl->spare[i];
        assert(sp->len == 0 && sp->n == 0);
        store_lock(sh);
        shard_log t = sh->log;
        sh->log = *sp;
        *sp = t;
        store_unlock(sh);
        n += sp->n;
    }
    return n;
}

/* Index the swapped buffers and put the records in seq order. */
static int plog_gather(plog *pl, size_t n)
{
    if (plog_refs_grow(&pl->refs, &pl->refs_cap, n) != 0) {
        return -1;
    }
    size_t k = 0;
    for (uint32_t i = 0; i < pl->st->opt.shards; i++) {
        shard_log *sp = &pl->spare[i];
        size_t pos = 0;
        while (pos < sp->len) {
            uint32_t len;
            memcpy(&len, sp->buf + pos, sizeof(len));
            plog_ref *r = &pl->refs[k++];
            memcpy(&r->seq, sp->buf + pos + 4, sizeof(r->seq));
            r->p = sp->buf + pos + REC_FRAME_BYTES;
            r->len = len;
            pos += REC_FRAME_BYTES + len;
        }
        assert(pos == sp->len);
    }
    assert(k == n);
    plog_order(pl->refs, n, &pl->order);
    return 0;
}

static int plog_append_builder(plog *pl)
{
    segfile_status s = segfile_append_records(pl->w, &pl->b, PLOG_ZSTD_LEVEL,
                                              NULL);
    if (s != SEGFILE_OK) {
        plog_fail(pl, "write", s);
        return -1;
    }
    atomic_fetch_add(&pl->log_bytes_since_snap, pl->b.raw.len);
    chunk_builder_reset(&pl->b);
    return 0;
}

/* Write the sorted records as chunks (one, unless over the chunk size). */
static int plog_write_refs(plog *pl, size_t n)
{
    chunk_builder_reset(&pl->b);
    for (size_t i = 0; i < n; i++) {
        const plog_ref *r = &pl->refs[i];
        chunk_status cs = chunk_builder_add(&pl->b, r->seq, r->p, r->len);
        if (cs == CHUNK_ERR_FULL) {
            if (plog_append_builder(pl) != 0) {
                return -1;
            }
            cs = chunk_builder_add(&pl->b, r->seq, r->p, r->len);
        }
        if (cs != CHUNK_OK) {
            plog_fail(pl, "chunk build", SEGFILE_ERR_ENCODE);
            return -1;
        }
    }
    return plog_append_builder(pl);
}

static void plog_spare_reset(plog *pl)
{
    for (uint32_t i = 0; i < pl->st->opt.shards; i++) {
        pl->spare[i].len = 0;
        pl->spare[i].n = 0;
    }
}

static uint64_t plog_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* fsync per policy; everysec syncs when a second has passed. */
static int plog_sync_policy(plog *pl, bool force)
{
    int64_t now = store_clock_real_ms();
    bool due = force || pl->opt.fsync == PLOG_FSYNC_ALWAYS ||
               (pl->opt.fsync == PLOG_FSYNC_EVERYSEC &&
                now - pl->last_sync_ms >= PLOG_EVERYSEC_MS);
    if (!pl->unsynced || !due) {
        return 0;
    }
    uint64_t t0 = plog_mono_us();
    segfile_status s = segfile_sync(pl->w);
    if (s != SEGFILE_OK) {
        plog_fail(pl, "fsync", s);
        return -1;
    }
    pl->unsynced = false;
    pl->last_sync_ms = now;
    atomic_fetch_add(&pl->n_fsyncs, 1);
    atomic_fetch_add(&pl->n_fsync_us, plog_mono_us() - t0);
    return 0;
}

/* The segment is full, or it grows as written (made before a spare was
 * ready: at start, or after a failed spare), holds records, and a spare
 * is ready now. An empty one is kept until it gets records, so an idle
 * start leaves one header-only segment, not two. */
static bool plog_rotate_due(const plog *pl)
{
    uint64_t off = segfile_writer_offset(pl->w);
    return off > pl->opt.segment_bytes_max ||
           (!segfile_writer_prepared(pl->w) && off > SEGFILE_HEADER_BYTES &&
            plog_spare_ready(pl));
}

/* One group commit: everything appended so far becomes durable (per
 * policy) and durable_seq moves to the seq read before the sweep.
 * Under commit_mu. A commit that may not rotate (a worker's) kicks the
 * writer to do it. */
int plog_commit(plog *pl, bool force_sync, bool may_rotate)
{
    if (plog_failed(pl)) {
        return -1;
    }
    uint64_t upto = store_current_seq(pl->st);
    size_t n = plog_swap_buffers(pl);
    int rc = 0;
    if (n > 0) {
        rc = plog_gather(pl, n);
        if (rc != 0) {
            plog_fail(pl, "index (out of memory)", SEGFILE_ERR_NOMEM);
        } else {
            uint64_t before = segfile_writer_offset(pl->w);
            rc = plog_write_refs(pl, n);
            pl->unsynced = true;
            atomic_fetch_add(&pl->n_commits, 1);
            atomic_fetch_add(&pl->n_records, n);
            atomic_fetch_add(&pl->n_bytes,
                             segfile_writer_offset(pl->w) - before);
        }
    }
    plog_spare_reset(pl);
    if (rc == 0) {
        rc = plog_sync_policy(pl, force_sync);
    }
    if (rc == 0 && upto > atomic_load(&pl->durable_seq)) {
        atomic_store(&pl->gate_seq, atomic_load(&pl->durable_seq));
        atomic_store(&pl->durable_seq, upto);
        plog_notify_all(pl);
    }
    if (rc == 0 && plog_rotate_due(pl)) {
        if (may_rotate)
            rc = plog_rotate(pl);
        else
            plog_kick(pl);
    }
    return rc;
}

/* Under commit_mu: one commit, timed for plog_gate and plog_inline_ok;
 * *wrote (if not NULL) says whether it wrote records.
 * Only commits that wrote records count, and as a running mean (1/8 per
 * commit): an empty commit (a kick with nothing new) or one lucky flush
 * must not make a disk look fast, or a worker would block on the next
 * flush. Clearing commit_pending before the sweep is what lets a worker
 * that found commit_mu taken leave: its records are either in this
 * sweep, or its flag is set again after our clear and the holder loops. */
static int plog_commit_round(plog *pl, bool force_sync, bool may_rotate,
                             bool *wrote)
{
    atomic_store(&pl->commit_pending, 0);
    uint64_t records = atomic_load(&pl->n_records);
    uint64_t t0 = plog_mono_us();
    int rc = plog_commit(pl, force_sync, may_rotate);
    bool w = atomic_load(&pl->n_records) != records;
    if (wrote != NULL)
        *wrote = w;
    if (w) {
        uint64_t us = plog_mono_us() - t0;
        uint64_t avg = atomic_load(&pl->commit_us);
        avg = avg - (avg >> PLOG_COMMIT_AVG_SHIFT) + (us >> PLOG_COMMIT_AVG_SHIFT);
        atomic_store(&pl->commit_us, avg);
    }
    return rc;
}

/* commit_mu released: did a worker ask for a commit meanwhile? The fence
 * pairs with the one in plog_commit_inline (store flag, fence, trylock):
 * either we see its flag, or it sees the mutex free. */
static bool plog_unlock_commit(plog *pl)
{
    pthread_mutex_unlock(&pl->commit_mu);
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load(&pl->commit_pending) != 0;
}

/* ---- inline commits (leader-based group commit) ---- */

/* Have the workers sent the replies of the commit before the last (the
 * gate's condition)? Any thread. */
static bool plog_gate_open(const plog *pl)
{
    void *arg = atomic_load(&pl->notify_arg);
    plog_released_fn released = atomic_load(&pl->released);
    return released == NULL || arg == NULL ||
           released(arg, atomic_load(&pl->gate_seq));
}

/* On a fast log device the commit itself costs a few µs, and what a
 * durable request pays is the hand-off: the worker wakes the writer, the
 * writer wakes the worker back (two cross-thread wake-ups, each a VM exit
 * here; tmpfs, 32 in flight per connection: 55 % of in-memory). So when
 * the last commit was fast, the worker commits itself at the end of its
 * event-loop pass, as RocksDB's write-group leader does. A slow commit (a
 * disk's flush) stays on the writer, so a worker never blocks on it and
 * keeps reading the next group meanwhile. */
bool plog_inline_ok(const plog *pl)
{
    return plog_holds_replies(pl) && !plog_failed(pl) &&
           atomic_load(&pl->commit_us) < PLOG_INLINE_COMMIT_US_MAX;
}

/* Never waits: if another thread holds commit_mu, commit_pending makes it
 * run one more round for us. Bounded, so a worker does not commit for
 * the others for ever under load; past that the writer takes over. */
void plog_commit_inline(plog *pl)
{
    if (store_current_seq(pl->st) <= plog_durable_seq(pl))
        return;                        /* someone committed it already */
    if (!plog_gate_open(pl)) {
        /* As plog_gate, without the wait: the worker that still has to
         * send the replies commits after it has (its own pass ends here
         * too), and this one's replies go out with that commit. */
        atomic_fetch_add(&pl->n_gate_waits, 1);
        return;
    }
    atomic_store(&pl->commit_pending, 1);
    atomic_thread_fence(memory_order_seq_cst);
    for (uint32_t round = 0; round < PLOG_INLINE_ROUNDS_MAX; round++) {
        if (pthread_mutex_trylock(&pl->commit_mu) != 0)
            return;                    /* the holder sees our flag */
        bool wrote;
        int rc = plog_commit_round(pl, false, false, &wrote);
        if (wrote)
            atomic_fetch_add(&pl->n_inline, 1);   /* a commit, not a no-op */
        if (!plog_unlock_commit(pl) || rc != 0)
            return;
    }
    plog_kick(pl);
}

/* ---- the thread ---- */

void plog_deadline(struct timespec *ts, uint64_t us)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(us / 1000000u);
    ts->tv_nsec += (long)(us % 1000000u) * 1000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec += 1;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Under fsync=always, fast commits (a fast disk) under load come faster
 * than the workers send the replies they release: each then carries a
 * handful of records, and each costs the writer, every woken worker and
 * every client a wake-up and a write for those few replies (tmpfs, 512
 * in flight per connection: 13 k commits/s of 16 records, durable at
 * 58 % of in-memory). So before the next commit the writer waits, up to
 * PLOG_GATE_WAIT_US_MAX, until the workers have sent the replies of the
 * commit before the last: one commit's replies may be on their way
 * while the next is written, not more. Groups then grow with the load
 * (~180 records, 75-87 % of in-memory in the same test). A slow commit (a
 * disk's flush) gives the workers that time anyway and never waits, so
 * disk-bound rows keep their latency. Called with mu held. */
static void plog_gate(plog *pl)
{
    if (!plog_holds_replies(pl) ||
        atomic_load(&pl->commit_us) >= PLOG_GATE_COMMIT_US_MAX || pl->stop ||
        pl->rotate_req)
        return;
    atomic_store(&pl->gating, 1);   /* before reading: see plog_released */
    if (!plog_gate_open(pl)) {
        atomic_fetch_add(&pl->n_gate_waits, 1);
        struct timespec until;
        plog_deadline(&until, PLOG_GATE_WAIT_US_MAX);
        int rc = 0;
        while (rc != ETIMEDOUT && !pl->stop && !pl->rotate_req &&
               !plog_gate_open(pl))
            rc = pthread_cond_timedwait(&pl->cv, &pl->mu, &until);
    }
    atomic_store(&pl->gating, 0);
}

/* Wait for a kick, a request or the idle tick; returns the flags seen. */
static void plog_wait(plog *pl, bool *stop, bool *rotate)
{
    pthread_mutex_lock(&pl->mu);
    plog_gate(pl);
    atomic_store(&pl->sleeping, 1);     /* before reading kicked: see kick */
    if (!atomic_load(&pl->kicked) && !pl->stop && !pl->rotate_req) {
        struct timespec ts;
        uint32_t ms = pl->opt.idle_wake_ms ? pl->opt.idle_wake_ms
                                           : PLOG_IDLE_WAKE_MS;
        plog_deadline(&ts, (uint64_t)ms * 1000u);
        (void)pthread_cond_timedwait(&pl->cv, &pl->mu, &ts);
    }
    atomic_store(&pl->sleeping, 0);
    *stop = pl->stop;
    *rotate = pl->rotate_req;
    pthread_mutex_unlock(&pl->mu);
    atomic_store(&pl->kicked, 0);
}

static void plog_finish_rotate(plog *pl)
{
    pthread_mutex_lock(&pl->commit_mu);
    int rc = plog_commit_round(pl, true, true, NULL);
    if (rc == 0) {
        rc = plog_rotate(pl);
    }
    if (plog_unlock_commit(pl))
        atomic_store(&pl->kicked, 1);
    pthread_mutex_lock(&pl->mu);
    pl->rotate_req = false;
    pl->rotate_rc = rc;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
}

static void *plog_main(void *arg)
{
    plog *pl = arg;
    (void)pthread_setname_np(pthread_self(), "qd-log");
    for (;;) {
        bool stop = false, rotate = false;
        plog_wait(pl, &stop, &rotate);
        if (rotate) {
            plog_finish_rotate(pl);
        } else {
            pthread_mutex_lock(&pl->commit_mu);
            (void)plog_commit_round(pl, stop, true, NULL);
            if (plog_unlock_commit(pl))
                atomic_store(&pl->kicked, 1);   /* commit again at once */
        }
        if (stop) {
            break;
        }
        plog_auto_snapshot(pl);
    }
    return NULL;
}

/* Ask the writer thread to close the segment and start the next; wait.
 * Returns the segment number now being written, or 0 on failure. */
uint64_t plog_request_rotate(plog *pl)
{
    pthread_mutex_lock(&pl->mu);
    pl->rotate_req = true;
    pthread_cond_broadcast(&pl->cv);
    while (pl->rotate_req) {
        pthread_cond_wait(&pl->cv, &pl->mu);
    }
    int rc = pl->rotate_rc;
    uint64_t segno = pl->segno;
    pthread_mutex_unlock(&pl->mu);
    return rc == 0 ? segno : 0;
}

/* ---- open and close ---- */

static int plog_alloc(plog *pl, store *st, const plog_opts *o)
{
    pl->st = st;
    pl->opt = *o;
    snprintf(pl->dir, sizeof(pl->dir), "%s", o->dir);
    pl->opt.dir = pl->dir;
    if (o->key != NULL) {
        memcpy(pl->key, o->key, sizeof(pl->key));
        pl->has_key = true;
    }
    pl->segno = o->first_segno ? o->first_segno : 1;
    pl->spare = calloc(st->opt.shards, sizeof(*pl->spare));
    chunk_builder_init(&pl->b);
    pl->last_sync_ms = store_clock_real_ms();
    pl->last_snap_ms = pl->last_sync_ms;
    atomic_init(&pl->durable_seq, store_current_seq(st));
    atomic_init(&pl->commit_us, PLOG_GATE_COMMIT_US_MAX); /* slow until seen */
    return pl->spare != NULL ? 0 : -1;
}

static void plog_free(plog *pl)
{
    if (pl->spare != NULL) {
        for (uint32_t i = 0; i < pl->st->opt.shards; i++) {
            free(pl->spare[i].buf);
        }
    }
    free(pl->spare);
    free(pl->refs);
    plog_order_free(&pl->order);
    chunk_builder_free(&pl->b);
    sodium_memzero(pl->key, sizeof(pl->key));
    pthread_cond_destroy(&pl->cv);
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->spare_cv);
    pthread_mutex_destroy(&pl->spare_mu);
    pthread_mutex_destroy(&pl->snap_mu);
    pthread_mutex_destroy(&pl->commit_mu);
    free(pl);
}

int plog_open(store *st, const plog_opts *o, plog **out)
{
    *out = NULL;
    plog *pl = calloc(1, sizeof(*pl));
    if (pl == NULL) {
        return -1;
    }
    pthread_mutex_init(&pl->mu, NULL);
    pthread_mutex_init(&pl->snap_mu, NULL);
    pthread_mutex_init(&pl->commit_mu, NULL);
    pthread_cond_init(&pl->cv, NULL);
    pthread_mutex_init(&pl->spare_mu, NULL);
    pthread_cond_init(&pl->spare_cv, NULL);
    if (plog_alloc(pl, st, o) != 0 || plog_rotate(pl) != 0) {
        log_error("log: cannot start in %s", o->dir);
        plog_free(pl);
        return -1;
    }
    atomic_store(&pl->failed, 0);
    atomic_store(&st->read_only, 0);
    st->plog = pl;
    (void)plog_spare_start(pl); /* not fatal: segments then grow */
    if (pthread_create(&pl->tid, NULL, plog_main, pl) != 0) {
        plog_spare_stop(pl);
        st->plog = NULL;
        if (segfile_close(pl->w) != SEGFILE_OK) {
            log_warn("log: closing the new segment failed");
        }
        plog_free(pl);
        return -1;
    }
    *out = pl;
    return 0;
}

int plog_close(plog *pl)
{
    if (pl == NULL) {
        return 0;
    }
    plog_snapshot_join(pl);
    pthread_mutex_lock(&pl->mu);
    pl->stop = true;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    pthread_join(pl->tid, NULL);
    plog_spare_stop(pl);
    int failed = plog_failed(pl);
    if (pl->w != NULL) {
        segfile_status s = segfile_finish(pl->w);
        segfile_status c = segfile_close(pl->w);
        failed = failed || s != SEGFILE_OK || c != SEGFILE_OK;
    }
    pl->st->plog = NULL;
    plog_free(pl);
    return failed ? -1 : 0;
}
