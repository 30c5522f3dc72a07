/* cmd_restore.c -- `quotad-data restore SNAPFILE --dir NEWDIR [--force]`.
 *
 * Rebuilds a data directory from one snapshot file: the snapshot is
 * verified and loaded in one pass (CLEAN, meta first, end marker last,
 * counts matching; every record applied by the daemon's rec_apply), and
 * only then is NEWDIR created and the state written there as a fresh
 * snapshot by the daemon's writer, so `quotad --data-dir NEWDIR` starts
 * from it. Existing data is never overwritten: NEWDIR must be absent or
 * empty, and even --force refuses one holding segments or snapshots.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "qdata.h"

#define QD_NEWDIR_MODE 0700       /* like the daemon's data_dir */

/* What is already in dir: 0 nothing, 1 other files, 2 data files, -1
 * error (errno). */
static int qd_dir_contents(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int found = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        uint64_t num;
        const char *n = ent->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        bool data = qd_name_kind(n, &num) != QD_FILE_NONE ||
                    (strncmp(n, "snap-", 5) == 0 && strstr(n, ".tmp"));
        found = data ? 2 : (found > 1 ? found : 1);
    }
    closedir(d);
    return found;
}

/* May we restore into dir? Returns an exit code (printed on refusal). */
static int qd_check_target(const qd_opts *o, const char *dir)
{
    int isdir = qd_is_dir(dir);
    if (isdir < 0 && errno == ENOENT)
        return QD_EXIT_OK;
    if (isdir < 0)
        return qd_fail(o, QD_EXIT_IO, "%s: %s", dir, strerror(errno));
    if (isdir == 0)
        return qd_usage(o, "%s exists and is not a directory", dir);
    int c = qd_dir_contents(dir);
    if (c < 0)
        return qd_fail(o, QD_EXIT_IO, "%s: %s", dir, strerror(errno));
    if (c == 2)
        return qd_usage(o, "%s already holds segments or snapshots: "
                        "refusing to mix or overwrite data (use a new dir)",
                        dir);
    if (c == 1 && !o->force)
        return qd_usage(o, "%s is not empty (--force to use it anyway)", dir);
    return QD_EXIT_OK;
}

/* Create dir (one level) and make its entry durable in the parent. */
static int qd_make_dir(const qd_opts *o, const char *dir)
{
    if (mkdir(dir, QD_NEWDIR_MODE) != 0 && errno != EEXIST)
        return qd_fail(o, QD_EXIT_IO, "mkdir %s: %s", dir, strerror(errno));
    char parent[QD_PATH_BYTES];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        snprintf(parent, sizeof parent, ".");
    if (segfile_fsync_dir(parent) != SEGFILE_OK)
        return qd_fail(o, QD_EXIT_IO, "fsync %s failed", parent);
    return QD_EXIT_OK;
}

/* Totals of a loaded store (single-threaded). */
static void qd_counts(store *st, uint64_t *ws, uint64_t *keys,
                      uint64_t *holds)
{
    *ws = *keys = *holds = 0;
    for (uint32_t i = 0; i < st->opt.shards; i++) {
        *ws += st->shards[i].wss.count;
        *keys += st->shards[i].n_keys;
        *holds += st->shards[i].holds.count;
    }
}

/* The end-of-load line goes to stderr with the progress lines; the
 * result (what a script needs) to stdout. */
static void qd_restore_print(const qd_opts *o, store *st,
                             const qd_snap_load *sl, const char *path,
                             uint64_t seq, int64_t ms)
{
    uint64_t ws, keys, holds;
    qd_counts(st, &ws, &keys, &holds);
    fprintf(stderr, "%s restore: loaded %" PRIu64 " records: %" PRIu64
            " workspaces, %" PRIu64 " keys, %" PRIu64 " holds in %" PRId64
            " ms\n", QD_PROG, sl->records, ws, keys, holds, sl->ms);
    qd_emit e;
    qe_init(&e, stdout, o->json);
    qe_begin(&e);
    qe_str(&e, "snapshot", path);
    qe_u64(&e, "seq", seq);
    qe_u64(&e, "records", sl->records);
    qe_u64(&e, "workspaces", ws);
    qe_u64(&e, "keys", keys);
    qe_u64(&e, "holds", holds);
    qe_i64(&e, "elapsed_ms", ms);
    qe_end(&e);
}

/* Create, lock, re-check and write the new dir. */
static int qd_restore_write(const qd_opts *o, store *st,
                            const qd_snap_load *sl, int64_t t0)
{
    int code = qd_make_dir(o, o->dir);
    if (code != QD_EXIT_OK)
        return code;
    int lock = qd_lock_dir(o, o->dir);
    if (lock < 0)
        return QD_EXIT_IO;
    code = qd_check_target(o, o->dir); /* nobody slipped data in */
    char path[QD_PATH_BYTES];
    uint64_t seq = 0;
    if (code == QD_EXIT_OK)
        code = qd_write_snapshot(o, st, o->dir, 1, &seq, path, sizeof path);
    if (code == QD_EXIT_OK)
        qd_restore_print(o, st, sl, path, seq, store_clock_real_ms() - t0);
    qd_unlock_dir(lock);
    return code;
}

/* Check the target first (cheap, before a long load), then load and
 * verify, then write: nothing is created unless the snapshot is good. */
int qd_cmd_restore(qd_opts *o)
{
    if (o->dir == NULL)
        return qd_usage(o, "--dir NEWDIR is required");
    int64_t t0 = store_clock_real_ms();
    int code = qd_check_target(o, o->dir);
    if (code != QD_EXIT_OK)
        return code;
    store *st = NULL;
    code = qd_store_new(o, &st);
    if (code != QD_EXIT_OK)
        return code;
    qd_snap_load sl;
    memset(&sl, 0, sizeof sl);
    sl.progress = true;
    code = qd_load_snapshot(o, o->pos[0], st, &sl);
    if (code == QD_EXIT_OK)
        code = qd_restore_write(o, st, &sl, t0);
    store_close(st);
    return code;
}
