/* files.c -- the data directory as quotad-data sees it: which files are
 * segments and snapshots, in what order, and whether it is safe to write.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qdata.h"

#define QD_FILES_MAX 200000u      /* entries we list in one dir */
#define QD_FILES_CAP_FIRST 16u

/* Strict parse: prefix, digits only, exactly the expected suffix. */
static int qd_parse_name(const char *name, const char *prefix,
                         const char *suffix, uint64_t *num)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), nl = strlen(name);
    if (nl <= pl + sl || strncmp(name, prefix, pl) != 0 ||
        strcmp(name + nl - sl, suffix) != 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = pl; i < nl - sl; i++) {
        unsigned d = (unsigned)(name[i] - '0');
        if (d > 9u || v > (UINT64_MAX - d) / 10u)
            return -1;
        v = v * 10u + d;
    }
    *num = v;
    return 0;
}

qd_fkind qd_name_kind(const char *name, uint64_t *num)
{
    if (qd_parse_name(name, "log-", ".qlog", num) == 0)
        return QD_FILE_LOG;
    if (qd_parse_name(name, "snap-", ".qsnap", num) == 0)
        return QD_FILE_SNAPSHOT;
    return QD_FILE_NONE;
}

int qd_join(const char *dir, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int qd_is_dir(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -1;
    return S_ISDIR(sb.st_mode) ? 1 : 0;
}

/* Snapshots first (by seq), then segments (by segno): the order the
 * daemon reads them in. */
static int qd_file_cmp(const void *a, const void *b)
{
    const qd_file *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind == QD_FILE_SNAPSHOT ? -1 : 1;
    return x->num < y->num ? -1 : x->num > y->num;
}

/* Append one entry; -1 when out of memory or over QD_FILES_MAX. */
static int qd_list_add(qd_file_list *l, size_t *cap, const char *dir,
                       const char *name, qd_fkind kind, uint64_t num)
{
    if (l->n == *cap) {
        size_t nc = *cap ? *cap * 2 : QD_FILES_CAP_FIRST;
        qd_file *p = nc <= QD_FILES_MAX ? realloc(l->v, nc * sizeof *p)
                                        : NULL;
        if (p == NULL)
            return -1;
        l->v = p;
        *cap = nc;
    }
    qd_file *f = &l->v[l->n];
    if (qd_join(dir, name, f->path, sizeof f->path) != 0)
        return -1;
    f->name = f->path + strlen(dir) + 1;
    f->kind = kind;
    f->num = num;
    l->n++;
    return 0;
}

int qd_list_dir(const qd_opts *o, const char *dir, qd_file_list *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (d == NULL) {
        qd_fail(o, QD_EXIT_IO, "cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *ent;
    int rc = 0;
    while (rc == 0 && (ent = readdir(d)) != NULL) {
        uint64_t num = 0;
        qd_fkind k = qd_name_kind(ent->d_name, &num);
        if (k != QD_FILE_NONE)
            rc = qd_list_add(l, &cap, dir, ent->d_name, k, num);
        else if (qd_parse_name(ent->d_name, "snap-", ".tmp", &num) == 0)
            l->tmp_files++;
    }
    closedir(d);
    if (rc != 0) {
        qd_fail(o, QD_EXIT_IO, "%s: too many files or path too long", dir);
        qd_list_free(l);
        return -1;
    }
    if (l->n > 0)
        qsort(l->v, l->n, sizeof *l->v, qd_file_cmp);
    return 0;
}

void qd_list_free(qd_file_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* flock on the directory itself: no lock file to leave behind, and the
 * lock dies with the process. The daemon holds the same lock for its
 * whole run, so a tool and a daemon never write one directory at once. */
int qd_lock_dir(const qd_opts *o, const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        qd_fail(o, QD_EXIT_IO, "cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        qd_fail(o, QD_EXIT_IO, "cannot lock %s: %s", dir,
                err == EWOULDBLOCK
                    ? "in use (is quotad running, or another quotad-data?)"
                    : strerror(err));
        return -1;
    }
    return fd;
}

void qd_unlock_dir(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* A write lease is granted only when no other descriptor of the file is
 * open anywhere, which is exactly "no daemon is appending to it". We drop
 * it at once; nobody can be blocked on it for long. */
int qd_file_in_use(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fcntl(fd, F_SETLEASE, F_WRLCK);
    int err = errno;
    if (rc == 0)
        (void)fcntl(fd, F_SETLEASE, F_UNLCK);
    close(fd);
    if (rc == 0)
        return 0;
    return err == EAGAIN ? 1 : -1;
}
