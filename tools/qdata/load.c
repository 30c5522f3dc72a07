/* load.c -- fill a fresh in-memory store from a data dir or one snapshot
 * file, and write a store back out as a snapshot, always through the
 * daemon's own code (recover_load, rec_apply, plog_snapshot): the tool
 * accepts exactly what the daemon would, and the files it writes are the
 * daemon's files.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "plog.h"
#include "qdata.h"
#include "rec.h"

int qd_store_new(const qd_opts *o, store **out)
{
    store_opts so;
    store_opts_default(&so);
    if (store_open(&so, out) != 0) {
        *out = NULL;
        return qd_fail(o, QD_EXIT_IO, "out of memory (store)");
    }
    return QD_EXIT_OK;
}

/* What the snapshot loader's record callback needs. */
typedef struct qd_apply_ctx {
    const char *cmd;              /* for progress lines */
    store *st;
    qd_walk *w;
    qd_snap_load *sl;
    int64_t t0;
} qd_apply_ctx;

/* Apply one snapshot record; progress every QD_PROGRESS_RECORDS. */
static int qd_apply_record(void *ctx, const Quotad__LogRecord *r,
                           uint64_t off)
{
    qd_apply_ctx *c = ctx;
    (void)off;
    if (c->w->is_log)
        return QD_EXIT_USAGE; /* a log segment is not a snapshot */
    rec_result rr = rec_apply(c->st, r, c->sl->err, sizeof c->sl->err);
    if (rr == REC_NOMEM) {
        snprintf(c->sl->err, sizeof c->sl->err, "out of memory");
        return QD_EXIT_IO;
    }
    if (rr == REC_INCONSISTENT)
        return QD_EXIT_CORRUPT;
    if (r->change_case == QUOTAD__LOG_RECORD__CHANGE_META)
        c->sl->log_segno = r->meta->log_segno;
    c->sl->records++;
    if (c->sl->progress && c->sl->records % QD_PROGRESS_RECORDS == 0)
        fprintf(stderr, "%s %s: %" PRIu64 " records loaded (%" PRId64
                " ms)\n", QD_PROG, c->cmd, c->sl->records,
                store_clock_real_ms() - c->t0);
    return 0;
}

int qd_load_snapshot(const qd_opts *o, const char *path, store *st,
                     qd_snap_load *sl)
{
    qd_walk w;
    segfile_report rep;
    memset(&w, 0, sizeof w);
    qd_apply_ctx c = {.cmd = o->cmd, .st = st, .w = &w, .sl = sl,
                      .t0 = store_clock_real_ms()};
    w.fn = qd_apply_record;
    w.ctx = &c;
    (void)qd_walk_file(path, qd_key(o), &w, &rep);
    sl->ms = store_clock_real_ms() - c.t0;
    int code = qd_walk_code(&w, &rep, false);
    if (code == QD_EXIT_OK && rep.header.kind != SEGFILE_KIND_SNAPSHOT)
        code = QD_EXIT_USAGE;
    if (code == QD_EXIT_OK)
        return QD_EXIT_OK;
    if (code == QD_EXIT_USAGE)
        return qd_usage(o, "%s is a log segment, not a snapshot", path);
    char buf[QD_ERR_BYTES];
    const char *why = sl->err[0] != '\0' ? sl->err
                                         : qd_walk_why(&w, &rep, buf,
                                                       sizeof buf);
    return qd_fail(o, code, "%s: %s: the daemon would refuse it", path, why);
}

/* recover_load failed: tell a key or I/O problem (4) from damage (2) by
 * scanning the files without applying anything. */
static int qd_classify_dir(const qd_opts *o, const char *dir)
{
    qd_file_list l;
    if (qd_list_dir(o, dir, &l) != 0)
        return QD_EXIT_IO;
    int worst = QD_EXIT_CORRUPT;
    for (size_t i = 0; i < l.n; i++) {
        qd_walk w;
        segfile_report rep;
        memset(&w, 0, sizeof w);
        (void)qd_walk_file(l.v[i].path, qd_key(o), &w, &rep);
        if (qd_walk_code(&w, &rep, false) == QD_EXIT_IO)
            worst = QD_EXIT_IO;
    }
    qd_list_free(&l);
    return worst;
}

int qd_load_dir(const qd_opts *o, const char *dir, bool read_only,
                store **out, recover_report *rep)
{
    char err[QD_ERR_BYTES] = "";
    int code = qd_store_new(o, out);
    if (code != QD_EXIT_OK)
        return code;
    recover_opts ro = {.dir = dir, .key = qd_key(o), .repair = false,
                       .read_only = read_only};
    if (recover_load(*out, &ro, rep, err, sizeof err) == 0)
        return rep->tail_cut && !rep->tail_zero ? QD_EXIT_TORN
                                                : QD_EXIT_OK;
    store_close(*out);
    *out = NULL;
    code = qd_is_dir(dir) == 1 ? qd_classify_dir(o, dir) : QD_EXIT_IO;
    return qd_fail(o, code, "%s: %s", dir, err);
}

/* Read the new snapshot back: what we just wrote must verify. */
static int qd_check_written(const qd_opts *o, const char *path)
{
    qd_walk w;
    segfile_report rep;
    memset(&w, 0, sizeof w);
    (void)qd_walk_file(path, qd_key(o), &w, &rep);
    int code = qd_walk_code(&w, &rep, false);
    if (code == QD_EXIT_OK)
        return QD_EXIT_OK;
    char buf[QD_ERR_BYTES];
    return qd_fail(o, QD_EXIT_IO, "%s does not verify after writing: %s",
                   path, qd_walk_why(&w, &rep, buf, sizeof buf));
}

int qd_write_snapshot(const qd_opts *o, store *st, const char *dir,
                      uint64_t first_segno, uint64_t *seq, char *path,
                      size_t cap)
{
    plog_opts po = {
        .dir = dir,
        .fsync = PLOG_FSYNC_ALWAYS,
        .key = qd_key(o),
        .segment_bytes_max = PLOG_SEGMENT_BYTES_DEFAULT,
        .snapshot_log_bytes = 0,
        .snapshot_interval_s = 0,
        .first_segno = first_segno,
    };
    plog *pl = NULL;
    if (plog_open(st, &po, &pl) != 0)
        return qd_fail(o, QD_EXIT_IO, "cannot open the log in %s", dir);
    char err[QD_ERR_BYTES] = "";
    int rc = plog_snapshot(pl, err, sizeof err);
    *seq = plog_last_snapshot_seq(pl);
    if (plog_close(pl) != 0 && rc == 0) {
        rc = -1;
        snprintf(err, sizeof err, "the log lost durability");
    }
    if (rc != 0)
        return qd_fail(o, QD_EXIT_IO, "snapshot in %s failed: %s", dir, err);
    char name[QD_PATH_BYTES];
    snprintf(name, sizeof name, QD_SNAPSHOT_FMT, (unsigned long long)*seq);
    if (qd_join(dir, name, path, cap) != 0)
        return qd_fail(o, QD_EXIT_IO, "%s: path too long", dir);
    return qd_check_written(o, path);
}
