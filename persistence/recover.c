/* recover -- rebuild the store from the data directory at start.
 *
 * Redis AOF loader style: load the newest snapshot, replay the log
 * segments it does not cover, track the last good offset. A torn tail (a
 * partial last write: what a crash leaves) in the last segment is cut and
 * reported with its offset; anything else that does not verify -- a
 * corrupt middle, a damaged snapshot, a record that disagrees with the
 * state -- stops the start with a clear message, unless repair is asked
 * for (then the log is cut at the first bad chunk and the loss reported).
 */
#include "recover.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "plog_internal.h"
#include "rec.h"
#include "segfile.h"

#define RECOVER_SEGMENTS_MAX 100000u

typedef struct dir_list {
    uint64_t *segs;
    size_t n_segs;
    uint64_t snap_seq;      /* newest snapshot, 0 = none */
    bool has_snap;
} dir_list;

typedef struct apply_ctx {
    store *st;
    recover_report *rep;
    char *err;
    size_t err_cap;
    bool snapshot;          /* loading a snapshot (expects meta) */
    bool saw_end;
    uint64_t base_segno;
    uint64_t meta_ws, meta_keys;
} apply_ctx;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Remove leftovers of an interrupted snapshot (never published). */
static void remove_tmp(const char *dir, const char *name)
{
    char path[PLOG_DIR_BYTES + 300];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (unlink(path) == 0) {
        log_info("recover: removed unfinished snapshot %s", path);
    }
}

static int list_dir(const char *dir, dir_list *l, bool read_only, char *err,
                    size_t cap)
{
    memset(l, 0, sizeof(*l));
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errf(err, cap, "cannot open data dir %s: %s", dir,
                    strerror(errno));
    }
    size_t cap_segs = 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        uint64_t n = 0;
        char tail[8] = "";
        if (sscanf(e->d_name, "snap-%" SCNu64 ".%5s", &n, tail) == 2) {
            if (strcmp(tail, "tmp") == 0) {
                if (!read_only) {
                    remove_tmp(dir, e->d_name);
                }
            } else if (strcmp(tail, "qsnap") == 0 &&
                       (!l->has_snap || n > l->snap_seq)) {
                l->has_snap = true;
                l->snap_seq = n;
            }
        } else if (sscanf(e->d_name, "log-%" SCNu64 ".qlo%1s", &n, tail) ==
                       2 && strcmp(tail, "g") == 0) {
            if (l->n_segs == cap_segs) {
                cap_segs = cap_segs ? cap_segs * 2 : 16;
                uint64_t *p = cap_segs <= RECOVER_SEGMENTS_MAX
                                  ? realloc(l->segs, cap_segs * sizeof(*p))
                                  : NULL;
                if (p == NULL) {
                    rc = errf(err, cap, "too many log segments");
                    break;
                }
                l->segs = p;
            }
            l->segs[l->n_segs++] = n;
        }
    }
    closedir(d);
    if (l->segs != NULL) {
        qsort(l->segs, l->n_segs, sizeof(*l->segs), cmp_u64);
    }
    return rc;
}

static void note_meta(apply_ctx *a, const Quotad__SnapshotMeta *m)
{
    if (m->has_log_segno) {
        a->base_segno = m->log_segno;
    }
    if (m->has_end && m->end) {
        a->saw_end = true;
        a->meta_ws = m->workspaces;
        a->meta_keys = m->keys;
    }
}

/* segfile_scan callback: every record of a good chunk. */
static int apply_chunk(void *ctx, const chunk_header *hdr, const uint8_t *raw,
                       size_t raw_len, uint64_t off)
{
    apply_ctx *a = ctx;
    size_t pos = 0;
    const uint8_t *p;
    size_t len;
    (void)hdr;
    while (chunk_record_next(raw, raw_len, &pos, &p, &len) == CHUNK_OK) {
        Quotad__LogRecord *r = quotad__log_record__unpack(NULL, len, p);
        if (r == NULL) {
            errf(a->err, a->err_cap, "undecodable record in chunk at "
                 "offset %" PRIu64, off);
            return -1;
        }
        if (r->change_case == QUOTAD__LOG_RECORD__CHANGE_META) {
            note_meta(a, r->meta);
        }
        rec_result rr = rec_apply(a->st, r, a->err, a->err_cap);
        quotad__log_record__free_unpacked(r, NULL);
        if (rr == REC_NOMEM) {
            errf(a->err, a->err_cap, "out of memory during recovery");
        }
        if (rr < 0) {
            return -1;
        }
        if (rr == REC_SKIPPED) {
            a->rep->records_skipped++;
        } else {
            a->rep->records_applied++;
        }
    }
    return 0;
}

static int load_snapshot(apply_ctx *a, const char *dir, uint64_t seq,
                         const uint8_t *enc_key)
{
    char path[PLOG_DIR_BYTES + PLOG_NAME_BYTES];
    snprintf(path, sizeof(path), "%s/" PLOG_SNAPSHOT_FMT, dir, seq);
    segfile_report rep;
    a->snapshot = true;
    segfile_scan_result r = segfile_scan(path, enc_key, apply_chunk, a, &rep);
    a->snapshot = false;
    if (r == SEGFILE_SCAN_ABORTED) {
        return errf(a->err, a->err_cap, "snapshot %s: %s", path, a->err);
    }
    if (r != SEGFILE_SCAN_CLEAN || !a->saw_end) {
        return errf(a->err, a->err_cap,
                    "snapshot %s is damaged (%s%s): refusing to start; move "
                    "it away to recover from an older snapshot and the log",
                    path, segfile_scan_result_str(r),
                    a->saw_end ? "" : ", no end marker");
    }
    snprintf(a->rep->snapshot, sizeof(a->rep->snapshot), "%s", path);
    log_info("recover: loaded %s (%" PRIu64 " workspaces, %" PRIu64
             " keys)", path, a->meta_ws, a->meta_keys);
    return 0;
}

/* The tail after the last good chunk of the newest segment, for the
 * report (cut, or left in place when read-only). */
static void note_tail(apply_ctx *a, const segfile_report *rep)
{
    a->rep->tail_cut = true;
    a->rep->tail_zero = rep->zero_tail != 0;
    a->rep->tail_offset = rep->valid_end_offset;
    a->rep->tail_bytes = rep->file_bytes - rep->valid_end_offset;
}

/* A segment that did not scan clean. Returns 0 if recovery may go on. */
static int bad_segment(apply_ctx *a, const char *path, bool last,
                       const segfile_report *rep, bool repair, bool read_only)
{
    if (read_only && last && (rep->result == SEGFILE_SCAN_TORN_TAIL ||
                              rep->detail == SEGFILE_ERR_SHORT_HEADER)) {
        if (rep->zero_tail) {
            log_info("recover: %s: unused preallocated space at offset %"
                     PRIu64 " (read-only: left in place)", path,
                     rep->valid_end_offset);
        } else {
            log_warn("recover: %s: torn tail at offset %" PRIu64
                     " (read-only: left in place)", path,
                     rep->valid_end_offset);
        }
        note_tail(a, rep);
        return 0;
    }
    if (rep->result == SEGFILE_SCAN_TORN_TAIL && last) {
        uint64_t cut = rep->file_bytes - rep->valid_end_offset;
        if (segfile_truncate(path, rep->valid_end_offset) != SEGFILE_OK) {
            return errf(a->err, a->err_cap, "cannot cut torn tail of %s",
                        path);
        }
        if (rep->zero_tail) {
            log_info("recover: %s: %" PRIu64 " bytes of unused preallocated "
                     "space cut at offset %" PRIu64 " (the segment was open "
                     "at a crash; only unacknowledged writes can be missing)",
                     path, cut, rep->valid_end_offset);
        } else if (rep->unsynced_chunks > 0) {
            log_warn("recover: %s: torn tail cut at offset %" PRIu64
                     " (%" PRIu64 " bytes dropped: a torn chunk and %" PRIu64
                     " later ones written before it was synced, so none "
                     "was acknowledged as durable)",
                     path, rep->valid_end_offset, cut, rep->unsynced_chunks);
        } else {
            log_warn("recover: %s: torn tail cut at offset %" PRIu64
                     " (%" PRIu64 " bytes of an unfinished write dropped)",
                     path, rep->valid_end_offset, cut);
        }
        note_tail(a, rep);
        return 0;
    }
    if (rep->result == SEGFILE_SCAN_BAD_FILE_HEADER &&
        rep->detail == SEGFILE_ERR_SHORT_HEADER && last) {
        log_warn("recover: %s was never written (crash at creation); "
                 "removed", path);
        return unlink(path) == 0 ? 0 : -1;
    }
    if (!repair || read_only || rep->result == SEGFILE_SCAN_KEY_ERROR) {
        return errf(a->err, a->err_cap,
                    "%s: %s at offset %" PRIu64 " (%s): refusing to start; "
                    "run with --repair to cut the log there and lose what "
                    "follows",
                    path, segfile_scan_result_str(rep->result),
                    rep->bad_offset, chunk_status_str(rep->chunk_status));
    }
    log_error("recover: REPAIR: %s: cutting at offset %" PRIu64
              "; everything after it is lost", path, rep->bad_offset);
    a->rep->repaired = true;
    uint64_t at = rep->bad_offset > rep->valid_end_offset
                      ? rep->valid_end_offset : rep->bad_offset;
    return segfile_truncate(path, at) == SEGFILE_OK ? 1 : -1;
}

/* Replay one segment. Returns 0 go on, 1 stop here (repaired), -1 fail. */
static int replay_segment(apply_ctx *a, const char *dir, uint64_t segno,
                          bool last, const recover_opts *o)
{
    char path[PLOG_DIR_BYTES + PLOG_NAME_BYTES];
    snprintf(path, sizeof(path), "%s/" PLOG_SEGMENT_FMT, dir, segno);
    segfile_report rep;
    segfile_scan_result r = segfile_scan(path, o->key, apply_chunk, a, &rep);
    a->rep->segments++;
    if (r == SEGFILE_SCAN_ABORTED) {
        return errf(a->err, a->err_cap, "%s: %s", path, a->err);
    }
    if (r == SEGFILE_SCAN_CLEAN) {
        return 0;
    }
    return bad_segment(a, path, last, &rep, o->repair, o->read_only);
}

/* After a repair, later segments describe a history with a hole. */
static void drop_after(const char *dir, const dir_list *l, size_t from)
{
    for (size_t i = from; i < l->n_segs; i++) {
        char path[PLOG_DIR_BYTES + PLOG_NAME_BYTES];
        snprintf(path, sizeof(path), "%s/" PLOG_SEGMENT_FMT, dir,
                 l->segs[i]);
        log_error("recover: REPAIR: removing %s", path);
        (void)unlink(path);
    }
}

int recover_load(store *st, const recover_opts *o, recover_report *rep,
                 char *err, size_t err_cap)
{
    memset(rep, 0, sizeof(*rep));
    int64_t t0 = store_clock_real_ms();
    dir_list l;
    if (list_dir(o->dir, &l, o->read_only, err, err_cap) != 0) {
        free(l.segs);
        return -1;
    }
    apply_ctx a = {.st = st, .rep = rep, .err = err, .err_cap = err_cap};
    int rc = l.has_snap ? load_snapshot(&a, o->dir, l.snap_seq, o->key) : 0;
    for (size_t i = 0; rc == 0 && i < l.n_segs; i++) {
        rep->last_segno = l.segs[i];
        if (l.segs[i] < a.base_segno) {
            continue; /* compacted into the snapshot; removal was cut */
        }
        int s = replay_segment(&a, o->dir, l.segs[i], i + 1 == l.n_segs, o);
        if (s == 1) {
            drop_after(o->dir, &l, i + 1);
            break;
        }
        rc = s;
    }
    if (l.n_segs > 0 && rep->last_segno < l.segs[l.n_segs - 1] && rc == 0 &&
        !rep->repaired) {
        rep->last_segno = l.segs[l.n_segs - 1];
    }
    if (a.base_segno > rep->last_segno + 1) {
        rep->last_segno = a.base_segno - 1;
    }
    free(l.segs);
    rep->ms = store_clock_real_ms() - t0;
    if (rc == 0) {
        log_info("recover: %" PRIu64 " records applied, %" PRIu64
                 " already in the snapshot, %" PRIu64 " segments, seq %"
                 PRIu64 ", %" PRId64 " ms",
                 rep->records_applied, rep->records_skipped, rep->segments,
                 store_current_seq(st), rep->ms);
    }
    return rc;
}
