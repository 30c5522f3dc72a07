/* plog_snap -- snapshots and log compaction.
 *
 * A snapshot is a consistent cut per workspace, taken without stopping the
 * hot path for more than one shard at a time:
 *   1. the writer closes its segment and starts segment B (all records
 *      collected before are in segments < B and already in memory);
 *   2. shard by shard, under that shard's lock only, every workspace is
 *      written with snap_seq = the seq at that moment, then its keys,
 *      holds and idempotency answers (records <= snap_seq of that
 *      workspace are in the snapshot, later ones are in segments >= B);
 *   3. written to snap-S.tmp, fsynced, renamed to snap-S.qsnap, dir
 *      fsynced; only then are older snapshots and segments < B removed.
 * Recovery loads the newest snapshot and replays segments >= B, skipping
 * records a workspace already holds (rec_apply).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "log.h"
#include "plog_internal.h"
#include "rec.h"

typedef struct snap_ctx {
    plog *pl;
    segfile_writer *w;
    chunk_builder b;
    uint8_t *scratch;
    size_t scratch_cap;
    uint64_t n_ws, n_keys, n_holds, n_idem;
    int failed;               /* a segfile or chunk error happened */
} snap_ctx;

static int snap_flush(snap_ctx *c)
{
    if (c->b.n_records == 0) {
        return 0;
    }
    if (segfile_append_records(c->w, &c->b, PLOG_ZSTD_LEVEL, NULL) !=
        SEGFILE_OK) {
        c->failed = 1;
        return -1;
    }
    chunk_builder_reset(&c->b);
    return 0;
}

/* Pack r (snapshot records carry seq 0) into the current chunk. */
static int snap_add(snap_ctx *c, const Quotad__LogRecord *r)
{
    size_t n = quotad__log_record__get_packed_size(r);
    if (n > c->scratch_cap) {
        uint8_t *p = realloc(c->scratch, n);
        if (p == NULL) {
            c->failed = 1;
            return -1;
        }
        c->scratch = p;
        c->scratch_cap = n;
    }
    quotad__log_record__pack(r, c->scratch);
    chunk_status cs = chunk_builder_add(&c->b, 0, c->scratch, n);
    if (cs == CHUNK_ERR_FULL) {
        if (snap_flush(c) != 0) {
            return -1;
        }
        cs = chunk_builder_add(&c->b, 0, c->scratch, n);
    }
    if (cs != CHUNK_OK) {
        c->failed = 1;
        return -1;
    }
    return 0;
}

static int snap_ws(snap_ctx *c, arena *a, const workspace *w, uint64_t seq)
{
    Quotad__WsState ws;
    if (rec_ws_state(a, w, &ws) != 0) {
        return -1;
    }
    ws.has_snap_seq = 1;
    ws.snap_seq = seq;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_WS_PUT;
    r.ws_put = &ws;
    c->n_ws++;
    if (snap_add(c, &r) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < w->n_keys; i++) {
        Quotad__KeyState ks;
        if (rec_key_state(a, ws_key_at(w, i), &ks) != 0) {
            return -1;
        }
        Quotad__LogRecord kr = QUOTAD__LOG_RECORD__INIT;
        kr.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_PUT;
        kr.key_put = &ks;
        c->n_keys++;
        if (snap_add(c, &kr) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Holds and idempotency answers of one shard (after its workspaces). */
static int snap_shard_extras(snap_ctx *c, shard *sh)
{
    size_t pos = 0;
    uint64_t id;
    void *v;
    while (htab_next(&sh->holds, &pos, &id, &v)) {
        Quotad__HoldState hs;
        rec_hold_state(v, &hs);
        Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
        r.change_case = QUOTAD__LOG_RECORD__CHANGE_HOLD_PUT;
        r.hold_put = &hs;
        c->n_holds++;
        if (snap_add(c, &r) != 0) {
            return -1;
        }
    }
    const idem_tab *t = &sh->idem;
    for (uint32_t i = 0; i < t->count; i++) {
        const idem_entry *e = &t->ring[(t->head + i) % t->cap];
        Quotad__IdemState is;
        rec_idem_state(e->route, e, &is);
        Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
        r.change_case = QUOTAD__LOG_RECORD__CHANGE_IDEM_PUT;
        r.idem_put = &is;
        c->n_idem++;
        if (snap_add(c, &r) != 0) {
            return -1;
        }
    }
    return 0;
}

/* One shard under its lock: the only time a snapshot blocks checks. */
static int snap_shard(snap_ctx *c, shard *sh)
{
    arena a;
    arena_init(&a);
    store_lock(sh);
    uint64_t seq = store_current_seq(c->pl->st);
    int rc = 0;
    size_t pos = 0;
    uint64_t id;
    void *v;
    while (rc == 0 && htab_next(&sh->wss, &pos, &id, &v)) {
        rc = snap_ws(c, &a, v, seq);
        if (a.total > ARENA_BYTES_MAX / 2) {
            arena_free(&a); /* records already packed: strings not needed */
        }
    }
    if (rc == 0) {
        rc = snap_shard_extras(c, sh);
    }
    store_unlock(sh);
    arena_free(&a);
    if (rc == 0 && c->b.raw.len >= PLOG_SNAP_CHUNK_BYTES) {
        rc = snap_flush(c);
    }
    return rc;
}

static int snap_meta(snap_ctx *c, uint64_t seq, uint64_t base, bool end)
{
    Quotad__SnapshotMeta m = QUOTAD__SNAPSHOT_META__INIT;
    m.has_seq = m.has_next_ws_id = m.has_log_segno = 1;
    m.seq = seq;
    m.next_ws_id = atomic_load(&c->pl->st->next_ws_id);
    m.log_segno = base;
    if (end) {
        m.has_end = m.end = 1;
        m.has_workspaces = m.has_keys = m.has_holds = 1;
        m.workspaces = c->n_ws;
        m.keys = c->n_keys;
        m.holds = c->n_holds;
    }
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_META;
    r.meta = &m;
    return snap_add(c, &r);
}

/* Delete snapshots older than keep_seq and segments before base. */
static void snap_compact(plog *pl, uint64_t keep_seq, uint64_t base)
{
    DIR *d = opendir(pl->dir);
    if (d == NULL) {
        log_warn("snapshot: cannot list %s: %s", pl->dir, strerror(errno));
        return;
    }
    struct dirent *e;
    char path[PLOG_DIR_BYTES + sizeof(e->d_name) + 2];
    uint32_t removed = 0;
    while ((e = readdir(d)) != NULL) {
        uint64_t n = 0;
        bool old = (sscanf(e->d_name, "snap-%" SCNu64 ".qsnap", &n) == 1 &&
                    n < keep_seq) ||
                   (sscanf(e->d_name, "log-%" SCNu64 ".qlog", &n) == 1 &&
                    n < base);
        if (!old) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", pl->dir, e->d_name);
        if (unlink(path) != 0) {
            log_warn("snapshot: remove %s: %s", path, strerror(errno));
        } else {
            removed++;
        }
    }
    closedir(d);
    if (removed > 0 && segfile_fsync_dir(pl->dir) != SEGFILE_OK) {
        log_warn("snapshot: fsync %s failed", pl->dir);
    }
}

/* Write every shard into the open snapshot file. */
static int snap_write_all(snap_ctx *c, uint64_t seq, uint64_t base)
{
    store *st = c->pl->st;
    if (snap_meta(c, seq, base, false) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < st->opt.shards; i++) {
        if (snap_shard(c, &st->shards[i]) != 0) {
            return -1;
        }
    }
    if (snap_meta(c, seq, base, true) != 0 || snap_flush(c) != 0) {
        return -1;
    }
    return segfile_sync(c->w) == SEGFILE_OK ? 0 : -1;
}

/* Make the temp file the snapshot: rename, then fsync the directory. */
static int snap_publish(plog *pl, const char *tmp, uint64_t seq,
                        char *err, size_t cap)
{
    char from[PLOG_DIR_BYTES + PLOG_NAME_BYTES], to[sizeof(from)];
    char name[PLOG_NAME_BYTES];
    snprintf(name, sizeof(name), PLOG_SNAPSHOT_FMT, seq);
    snprintf(from, sizeof(from), "%s/%s", pl->dir, tmp);
    snprintf(to, sizeof(to), "%s/%s", pl->dir, name);
    if (rename(from, to) != 0) {
        return errf(err, cap, "rename %s: %s", from, strerror(errno));
    }
    if (segfile_fsync_dir(pl->dir) != SEGFILE_OK) {
        return errf(err, cap, "fsync %s failed", pl->dir);
    }
    return 0;
}

static int snapshot_locked(plog *pl, char *err, size_t cap)
{
    int64_t t0 = store_clock_real_ms();
    if (plog_failed(pl)) {
        return errf(err, cap, "the log has failed: no snapshot");
    }
    uint64_t base = plog_request_rotate(pl);
    if (base == 0) {
        return errf(err, cap, "log rotation failed");
    }
    uint64_t seq = store_current_seq(pl->st);
    char tmp[PLOG_NAME_BYTES];
    snprintf(tmp, sizeof(tmp), PLOG_SNAPSHOT_TMP_FMT, seq);
    char tpath[PLOG_DIR_BYTES + PLOG_NAME_BYTES];
    snprintf(tpath, sizeof(tpath), "%s/%s", pl->dir, tmp);
    (void)unlink(tpath); /* a leftover of a crashed attempt */
    snap_ctx c = {.pl = pl};
    chunk_builder_init(&c.b);
    segfile_status s = segfile_create(pl->dir, tmp, SEGFILE_KIND_SNAPSHOT,
                                      base, (uint64_t)t0,
                                      pl->has_key ? pl->key : NULL, &c.w);
    int rc = s == SEGFILE_OK ? snap_write_all(&c, seq, base) : -1;
    segfile_status cs = c.w ? segfile_close(c.w) : SEGFILE_OK;
    chunk_builder_free(&c.b);
    free(c.scratch);
    if (rc != 0 || cs != SEGFILE_OK) {
        (void)unlink(tpath);
        return errf(err, cap, "writing %s failed", tpath);
    }
    if (snap_publish(pl, tmp, seq, err, cap) != 0) {
        return -1;
    }
    snap_compact(pl, seq, base);
    log_info("snapshot at seq %" PRIu64 ": %" PRIu64 " workspaces, %" PRIu64
             " keys, %" PRIu64 " holds, %" PRIu64 " idempotency answers in %"
             PRId64 " ms",
             seq, c.n_ws, c.n_keys, c.n_holds, c.n_idem,
             store_clock_real_ms() - t0);
    pl->last_snap_seq = seq;
    return 0;
}

int plog_snapshot(plog *pl, char *err, size_t err_cap)
{
    pthread_mutex_lock(&pl->snap_mu);
    int rc = snapshot_locked(pl, err, err_cap);
    pthread_mutex_unlock(&pl->snap_mu);
    return rc;
}

static void *snap_thread(void *arg)
{
    plog *pl = arg;
    (void)pthread_setname_np(pthread_self(), "qd-snapshot");
    char err[256];
    if (plog_snapshot(pl, err, sizeof(err)) != 0) {
        log_error("automatic snapshot failed: %s", err);
    }
    atomic_store(&pl->snap_running, 0);
    return NULL;
}

/* Start a snapshot in the background (writer thread, or an admin op). */
int plog_snapshot_start(plog *pl)
{
    pthread_mutex_lock(&pl->mu);
    bool closing = pl->stop || pl->no_more_snaps;
    pthread_mutex_unlock(&pl->mu);
    if (closing || atomic_exchange(&pl->snap_running, 1) == 1) {
        return -1;
    }
    pthread_mutex_lock(&pl->mu);
    if (pl->snap_started) {
        pthread_join(pl->snap_tid, NULL); /* finished: snap_running was 0 */
        pl->snap_started = false;
    }
    int rc = pthread_create(&pl->snap_tid, NULL, snap_thread, pl);
    pl->snap_started = rc == 0;
    pthread_mutex_unlock(&pl->mu);
    if (rc != 0) {
        atomic_store(&pl->snap_running, 0);
        return -1;
    }
    atomic_store(&pl->log_bytes_since_snap, 0);
    pl->last_snap_ms = store_clock_real_ms();
    return 0;
}

void plog_auto_snapshot(plog *pl)
{
    uint64_t bytes = atomic_load(&pl->log_bytes_since_snap);
    int64_t age_ms = store_clock_real_ms() - pl->last_snap_ms;
    bool by_size = pl->opt.snapshot_log_bytes != 0 &&
                   bytes >= pl->opt.snapshot_log_bytes;
    bool by_time = pl->opt.snapshot_interval_s != 0 && bytes > 0 &&
                   age_ms >= (int64_t)pl->opt.snapshot_interval_s * 1000;
    if ((by_size || by_time) && atomic_load(&pl->snap_running) == 0) {
        (void)plog_snapshot_start(pl);
    }
}

void plog_snapshot_join(plog *pl)
{
    pthread_mutex_lock(&pl->mu);
    pl->no_more_snaps = true;
    bool started = pl->snap_started;
    pl->snap_started = false;
    pthread_mutex_unlock(&pl->mu);
    if (started) {
        pthread_join(pl->snap_tid, NULL);
    }
}

bool plog_snapshot_running(const plog *pl)
{
    return atomic_load(&pl->snap_running) != 0;
}

uint64_t plog_last_snapshot_seq(const plog *pl)
{
    return pl->last_snap_seq;
}
