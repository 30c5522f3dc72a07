/* cmd_verify.c -- `quotad-data verify PATH...`: check every chunk, checksum
 * and record of segments and snapshots, and for a data dir also replay it
 * read-only exactly as the daemon would at start (which catches records
 * that decode but do not fit the state: "inconsistent").
 *
 * A torn tail is only what a crash leaves in the NEWEST log segment (or a
 * lone segment given by name); anywhere else it is corruption, and so is
 * a snapshot that is torn, unterminated or miscounted.
 */
#include <inttypes.h>
#include <string.h>

#include "qdata.h"

/* One line about one file. */
static void qd_verify_print(qd_emit *e, const char *path, const qd_walk *w,
                            const segfile_report *rep, int code)
{
    char buf[QD_ERR_BYTES];
    qe_begin(e);
    qe_str(e, "file", path);
    qe_tag(e, "kind", qd_kind_name(rep));
    qe_u64(e, "segno", rep->header.segno);
    qe_u64(e, "chunks", rep->chunks);
    qe_u64(e, "records", rep->records);
    qe_u64(e, "first_seq", rep->first_seq);
    qe_u64(e, "last_seq", rep->last_seq);
    qe_u64(e, "file_bytes", rep->file_bytes);
    qe_u64(e, "valid_end", rep->valid_end_offset);
    if (rep->result == SEGFILE_SCAN_TORN_TAIL ||
        rep->result == SEGFILE_SCAN_CORRUPT_MIDDLE) {
        qe_u64(e, "bad_offset", rep->bad_offset);
        qe_u64(e, "next_valid_offset", rep->next_valid_offset);
        qe_u64(e, "unsynced_chunks", rep->unsynced_chunks);
    }
    qe_u64(e, "undecodable", w->undecodable);
    qe_str(e, "result", segfile_scan_result_str(rep->result));
    qe_str(e, "detail", qd_walk_why(w, rep, buf, sizeof buf));
    qe_i64(e, "exit", code);
    qe_end(e);
}

/* Verify one file; tail_ok: a torn tail here is a crash's. */
static int qd_verify_file(qd_emit *e, const qd_opts *o, const char *path,
                          bool tail_ok)
{
    qd_walk w;
    segfile_report rep;
    memset(&w, 0, sizeof w);
    (void)qd_walk_file(path, qd_key(o), &w, &rep);
    int code = qd_walk_code(&w, &rep, tail_ok);
    qd_verify_print(e, path, &w, &rep, code);
    return code;
}

/* Highest per-workspace watermark after a replay. Above the store's seq,
 * the daemon would hand out seqs that recovery later skips as "already in
 * the snapshot" (a server issue, reported): warn about it. */
static uint64_t qd_max_snap_seq(store *st)
{
    uint64_t max = 0;
    for (uint32_t i = 0; i < st->opt.shards; i++) {
        size_t pos = 0;
        uint64_t id;
        void *v;
        while (htab_next(&st->shards[i].wss, &pos, &id, &v))
            if (((workspace *)v)->snap_seq > max)
                max = ((workspace *)v)->snap_seq;
    }
    return max;
}

/* Warn only: the daemon would start, but could lose changes later. */
static void qd_warn_seq(const qd_opts *o, const char *dir, store *st)
{
    uint64_t seq = store_current_seq(st), max = qd_max_snap_seq(st);
    if (max > seq)
        qd_fail(o, 0, "%s: WARNING: recovery ends at seq %" PRIu64 " but a "
                "workspace already holds seq %" PRIu64 ": the daemon would "
                "reuse seqs %" PRIu64 "..%" PRIu64 " and a later recovery "
                "would skip those changes; take a snapshot (quotad-data "
                "snapshot --dir) before starting it", dir, seq, max,
                seq + 1, max);
}

/* Replay the dir read-only, as the daemon would at start. */
static int qd_verify_replay(qd_emit *e, const qd_opts *o, const char *dir)
{
    store *st = NULL;
    recover_report rep;
    memset(&rep, 0, sizeof rep);
    int code = qd_load_dir(o, dir, true, &st, &rep);
    qe_begin(e);
    qe_str(e, "replay", dir);
    qe_str(e, "snapshot", rep.snapshot);
    qe_u64(e, "segments", rep.segments);
    qe_u64(e, "applied", rep.records_applied);
    qe_u64(e, "skipped", rep.records_skipped);
    qe_u64(e, "seq", st ? store_current_seq(st) : 0);
    if (rep.tail_cut) {
        qe_u64(e, "torn_tail_offset", rep.tail_offset);
        qe_u64(e, "torn_tail_bytes", rep.tail_bytes);
    }
    qe_str(e, "result", code == QD_EXIT_OK     ? "ok"
                        : code == QD_EXIT_TORN ? "torn tail (left in place)"
                                               : "refused");
    qe_i64(e, "exit", code);
    qe_end(e);
    if (st != NULL)
        qd_warn_seq(o, dir, st);
    store_close(st);
    return code;
}

/* Every data file of dir, then the replay (skipped when a file already
 * makes the daemon refuse: the replay would only repeat it). */
static int qd_verify_dir(qd_emit *e, const qd_opts *o, const char *dir)
{
    qd_file_list l;
    if (qd_list_dir(o, dir, &l) != 0)
        return QD_EXIT_IO;
    uint64_t last_log = 0;
    bool any_log = false;
    for (size_t i = 0; i < l.n; i++) {
        if (l.v[i].kind == QD_FILE_LOG) {
            last_log = l.v[i].num;
            any_log = true;
        }
    }
    int worst = QD_EXIT_OK;
    for (size_t i = 0; i < l.n; i++) {
        const qd_file *f = &l.v[i];
        bool tail_ok = f->kind == QD_FILE_LOG && any_log &&
                       f->num == last_log;
        worst = qd_worst(worst, qd_verify_file(e, o, f->path, tail_ok));
    }
    if (l.tmp_files > 0)
        fprintf(stderr, "%s verify: %s: %zu unfinished snapshot temp "
                "file(s) (removed by the daemon at start)\n", QD_PROG, dir,
                l.tmp_files);
    if (l.n == 0)
        fprintf(stderr, "%s verify: %s: no segments or snapshots\n",
                QD_PROG, dir);
    qd_list_free(&l);
    if (worst < QD_EXIT_CORRUPT)
        worst = qd_worst(worst, qd_verify_replay(e, o, dir));
    return worst;
}

/* Directories get the full treatment; a lone file is judged alone. */
int qd_cmd_verify(qd_opts *o)
{
    qd_emit e;
    qe_init(&e, stdout, o->json);
    int worst = QD_EXIT_OK;
    for (int i = 0; i < o->npos; i++) {
        const char *p = o->pos[i];
        int d = qd_is_dir(p);
        int code;
        if (d == 1) {
            code = qd_verify_dir(&e, o, p);
        } else {
            uint64_t num = 0;
            const char *base = strrchr(p, '/');
            base = base ? base + 1 : p;
            bool tail_ok = qd_name_kind(base, &num) != QD_FILE_SNAPSHOT;
            code = qd_verify_file(&e, o, p, tail_ok);
        }
        worst = qd_worst(worst, code);
    }
    return worst;
}
