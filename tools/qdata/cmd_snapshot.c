/* cmd_snapshot.c -- `quotad-data snapshot --dir DIR`: an offline snapshot.
 *
 * Recovers DIR exactly as the daemon does at start (a torn tail is cut;
 * corruption refuses), then writes the state with the daemon's snapshot
 * writer, which also compacts: segments before the new one and older
 * snapshots are removed once the snapshot is durable.
 *
 * The daemon must not run on DIR meanwhile: both would append. The
 * daemon takes no lock (reported), so we flock DIR against other
 * quotad-data runs and refuse if any segment is open by another process
 * (a write-lease probe: the daemon always holds its segment open).
 */
#include <inttypes.h>
#include <string.h>

#include "qdata.h"

/* Refuse when a segment of dir is open anywhere else. */
static int qd_check_idle(const qd_opts *o, const char *dir)
{
    qd_file_list l;
    if (qd_list_dir(o, dir, &l) != 0)
        return QD_EXIT_IO;
    int code = QD_EXIT_OK;
    for (size_t i = 0; i < l.n && code == QD_EXIT_OK; i++) {
        if (l.v[i].kind == QD_FILE_LOG && qd_file_in_use(l.v[i].path) == 1)
            code = qd_fail(o, QD_EXIT_IO, "%s is open in another process: "
                           "is quotad running on %s? Stop it, or use "
                           "`quotadctl snapshot` for a running daemon",
                           l.v[i].path, dir);
    }
    qd_list_free(&l);
    return code;
}

/* Where the snapshot went and whether recovery had to cut a tail. */
static void qd_snapshot_print(const qd_opts *o, const char *path,
                              uint64_t seq, const recover_report *rep,
                              store *st)
{
    qd_emit e;
    qe_init(&e, stdout, o->json);
    qe_begin(&e);
    qe_str(&e, "snapshot", path);
    qe_u64(&e, "seq", seq);
    qe_u64(&e, "records_replayed", rep->records_applied);
    qe_u64(&e, "next_ws_id", atomic_load(&st->next_ws_id));
    qe_bool(&e, "tail_cut", rep->tail_cut);
    if (rep->tail_cut) {
        qe_u64(&e, "tail_offset", rep->tail_offset);
        qe_u64(&e, "tail_bytes", rep->tail_bytes);
    }
    qe_end(&e);
}

/* Recover, snapshot, print; the dir is locked by the caller. */
static int qd_snapshot_locked(const qd_opts *o, const char *dir)
{
    int code = qd_check_idle(o, dir);
    if (code != QD_EXIT_OK)
        return code;
    store *st = NULL;
    recover_report rep;
    code = qd_load_dir(o, dir, false, &st, &rep);
    if (st == NULL)
        return code;
    if (code == QD_EXIT_TORN)
        qd_fail(o, code, "%s: torn tail cut at offset %" PRIu64 " (%" PRIu64
                " bytes of an unfinished write dropped)", dir,
                rep.tail_offset, rep.tail_bytes);
    char path[QD_PATH_BYTES];
    uint64_t seq = 0;
    code = qd_write_snapshot(o, st, dir, rep.last_segno + 1, &seq, path,
                             sizeof path);
    if (code == QD_EXIT_OK)
        qd_snapshot_print(o, path, seq, &rep, st);
    store_close(st);
    return code;
}

/* Lock first so two offline runs never interleave their writes. */
int qd_cmd_snapshot(qd_opts *o)
{
    if (o->dir == NULL)
        return qd_usage(o, "--dir DIR is required");
    if (qd_is_dir(o->dir) != 1)
        return qd_fail(o, QD_EXIT_IO, "%s is not a directory", o->dir);
    int lock = qd_lock_dir(o, o->dir);
    if (lock < 0)
        return QD_EXIT_IO;
    int code = qd_snapshot_locked(o, o->dir);
    qd_unlock_dir(lock);
    return code;
}
