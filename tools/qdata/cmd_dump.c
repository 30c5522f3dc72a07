/* cmd_dump.c -- `quotad-data dump PATH`: every record of a segment, a
 * snapshot or a whole data dir (snapshots, then segments, in the order
 * the daemon reads them), one line each. Records of good chunks before a
 * bad one are printed; the exit code says how the file ended (as verify).
 */
#include <string.h>

#include "qdata.h"

/* Per-file context of the record callback. */
typedef struct qd_dump_ctx {
    qd_emit *e;
    const char *name;             /* file name shown in JSON lines */
} qd_dump_ctx;

/* One line per record; a failing stdout stops the scan (exit 4). */
static int qd_dump_record(void *ctx, const Quotad__LogRecord *r,
                          uint64_t off)
{
    qd_dump_ctx *c = ctx;
    (void)off;
    qe_begin(c->e);
    if (c->e->json)
        qe_str(c->e, "file", c->name);
    qd_emit_record(c->e, r);
    qe_end(c->e);
    return ferror(c->e->f) ? QD_EXIT_IO : 0;
}

/* Header line (human), records, then the verdict on stderr: the records
 * of good chunks are worth seeing even when the file ends badly. */
static int qd_dump_file(qd_emit *e, const qd_opts *o, const char *path,
                        bool tail_ok)
{
    const char *base = strrchr(path, '/');
    qd_dump_ctx c = {.e = e, .name = base ? base + 1 : path};
    qd_walk w;
    segfile_report rep;
    memset(&w, 0, sizeof w);
    w.fn = qd_dump_record;
    w.ctx = &c;
    if (!e->json)
        fprintf(e->f, "# %s\n", path);
    (void)qd_walk_file(path, qd_key(o), &w, &rep);
    int code = qd_walk_code(&w, &rep, tail_ok);
    if (code != QD_EXIT_OK) {
        char buf[QD_ERR_BYTES];
        qd_fail(o, code, "%s: %s", path, qd_walk_why(&w, &rep, buf,
                                                      sizeof buf));
    }
    return code;
}

/* Snapshots then segments; only the newest segment may end torn. */
static int qd_dump_dir(qd_emit *e, const qd_opts *o, const char *dir)
{
    qd_file_list l;
    if (qd_list_dir(o, dir, &l) != 0)
        return QD_EXIT_IO;
    uint64_t last_log = 0;
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i].kind == QD_FILE_LOG)
            last_log = l.v[i].num;
    int worst = QD_EXIT_OK;
    for (size_t i = 0; i < l.n; i++) {
        const qd_file *f = &l.v[i];
        bool tail_ok = f->kind == QD_FILE_LOG && f->num == last_log;
        worst = qd_worst(worst, qd_dump_file(e, o, f->path, tail_ok));
    }
    qd_list_free(&l);
    return worst;
}

/* A single file may be torn unless it is named as a snapshot. */
int qd_cmd_dump(qd_opts *o)
{
    qd_emit e;
    qe_init(&e, stdout, o->json);
    const char *p = o->pos[0];
    if (qd_is_dir(p) == 1)
        return qd_dump_dir(&e, o, p);
    uint64_t num = 0;
    const char *base = strrchr(p, '/');
    bool tail_ok = qd_name_kind(base ? base + 1 : p, &num) !=
                   QD_FILE_SNAPSHOT;
    return qd_dump_file(&e, o, p, tail_ok);
}
