/* segfile_io -- syscall helpers: full writes, fsync of files and
 * directories, atomic small-file replace, truncation, key files. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "segfile_internal.h"

/* One write(2) never asks for more than this (Linux caps a call near
 * 2 GiB anyway; a bound keeps the loop's arithmetic obvious). */
#define SEGFILE_WRITE_CALL_BYTES_MAX (64u * 1024u * 1024u)
/* Key file sizes: raw key, hex key, hex key + "\n". */
#define SEGFILE_KEY_HEX_CHARS (2u * SEGFILE_KEY_BYTES)
#define SEGFILE_KEY_FILE_BYTES_MAX (SEGFILE_KEY_HEX_CHARS + 1u)
/* Mode bits that give group or others any access. */
#define SEGFILE_KEY_MODE_FORBIDDEN 077
/* Zeros written per call when preparing a file (one buffer of this). */
#define SEGFILE_ZERO_WRITE_BYTES (1024u * 1024u)
/* Suffix mkostemp fills in for atomic writes. */
#define SEGFILE_TMP_SUFFIX ".tmp-XXXXXX"

/* pwrite(2) until all len bytes are at offset off. A short write is not
 * an error (signals, quotas near full): keep going until every byte is
 * out or pwrite(2) reports a real error. The writer places chunks itself,
 * so a preallocated file is overwritten in place. */
int segfile_io_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    size_t left = len;
    while (left > 0) {
        size_t n = left < SEGFILE_WRITE_CALL_BYTES_MAX
                       ? left
                       : SEGFILE_WRITE_CALL_BYTES_MAX;
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        if (w == 0)
            return EIO; /* no progress: would loop forever */
        assert((size_t)w <= n);
        p += w;
        off += (uint64_t)w;
        left -= (size_t)w;
    }
    return 0;
}

/* Write `bytes` zeros to fd from offset 0, SEGFILE_ZERO_WRITE_BYTES at a
 * time (bounded memory), then fdatasync: every block is allocated and
 * initialised, so later overwrites change no file metadata. */
static segfile_status zero_fill(int fd, uint64_t bytes,
                                const _Atomic int *cancel)
{
    void *z = calloc(1, SEGFILE_ZERO_WRITE_BYTES);
    if (z == NULL)
        return SEGFILE_ERR_NOMEM;
    int err = 0;
    bool canceled = false;
    for (uint64_t off = 0; off < bytes && err == 0 && !canceled;) {
        if (cancel != NULL && atomic_load(cancel) != 0) {
            canceled = true;
            break;
        }
        size_t n = bytes - off < SEGFILE_ZERO_WRITE_BYTES
                       ? (size_t)(bytes - off)
                       : SEGFILE_ZERO_WRITE_BYTES;
        err = segfile_io_pwrite_full(fd, z, n, off);
        off += n;
    }
    free(z);
    if (canceled)
        return SEGFILE_ERR_CANCELED;
    if (err != 0) {
        errno = err;
        return SEGFILE_ERR_WRITE;
    }
    return fdatasync(fd) == 0 ? SEGFILE_OK : SEGFILE_ERR_SYNC;
}

segfile_status segfile_prepare(const char *dir, const char *name,
                               uint64_t bytes, const _Atomic int *cancel)
{
    char path[SEGFILE_PATH_BYTES_MAX];
    if (bytes < SEGFILE_HEADER_BYTES || bytes > SEGFILE_BYTES_MAX)
        return SEGFILE_ERR_ARG;
    segfile_status st = segfile_io_join(dir, name, path, sizeof path);
    if (st != SEGFILE_OK)
        return st;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                  SEGFILE_FILE_MODE);
    if (fd < 0)
        return SEGFILE_ERR_IO;
    st = zero_fill(fd, bytes, cancel);
    int saved = errno;
    if (close(fd) != 0 && st == SEGFILE_OK) {
        saved = errno;
        st = SEGFILE_ERR_CLOSE;
    }
    if (st != SEGFILE_OK)
        (void)unlink(path); /* half-zeroed: worth nothing */
    errno = saved;
    return st;
}

segfile_status segfile_io_join(const char *dir, const char *name, char *out,
                               size_t cap)
{
    if (dir == NULL || dir[0] == '\0' || name == NULL || name[0] == '\0' ||
        strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return SEGFILE_ERR_ARG;
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return SEGFILE_ERR_ARG;
    return SEGFILE_OK;
}

segfile_status segfile_io_parent(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        if (cap < 2u)
            return SEGFILE_ERR_ARG;
        memcpy(out, ".", 2u);
        return SEGFILE_OK;
    }
    size_t n = slash == path ? 1u : (size_t)(slash - path);
    if (n >= cap)
        return SEGFILE_ERR_ARG;
    memcpy(out, path, n);
    out[n] = '\0';
    return SEGFILE_OK;
}

/* Creating, renaming or truncating a file is only durable once the
 * directory entry is: fsync the directory too (../shared/DESIGN.md). */
segfile_status segfile_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return SEGFILE_ERR_IO;
    segfile_status st = SEGFILE_OK;
    if (fsync(fd) != 0)
        st = SEGFILE_ERR_SYNC;
    int saved = errno;
    close(fd); /* read-only: nothing to lose */
    errno = saved;
    return st;
}

/* Write, fsync and close the temp file; on any failure the caller
 * unlinks it. */
static segfile_status tmp_fill(int fd, const void *data, size_t len)
{
    int err = segfile_io_pwrite_full(fd, data, len, 0);
    if (err != 0) {
        close(fd);
        errno = err;
        return SEGFILE_ERR_WRITE;
    }
    if (fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return SEGFILE_ERR_SYNC;
    }
    if (close(fd) != 0)
        return SEGFILE_ERR_CLOSE;
    return SEGFILE_OK;
}

segfile_status segfile_atomic_write_file(const char *dir, const char *name,
                                         const void *data, size_t len)
{
    char path[SEGFILE_PATH_BYTES_MAX];
    char tmp[SEGFILE_PATH_BYTES_MAX];
    if (len > SEGFILE_SMALL_FILE_BYTES_MAX || (len > 0 && data == NULL))
        return SEGFILE_ERR_ARG;
    segfile_status st = segfile_io_join(dir, name, path, sizeof path);
    if (st != SEGFILE_OK)
        return st;
    int n = snprintf(tmp, sizeof tmp, "%s/.%s" SEGFILE_TMP_SUFFIX, dir, name);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return SEGFILE_ERR_ARG;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return SEGFILE_ERR_IO;
    st = tmp_fill(fd, data, len);
    if (st == SEGFILE_OK && rename(tmp, path) != 0)
        st = SEGFILE_ERR_IO;
    if (st != SEGFILE_OK) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return st;
    }
    return segfile_fsync_dir(dir);
}

static segfile_status truncate_fd(int fd, uint64_t offset)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return SEGFILE_ERR_IO;
    if (!S_ISREG(sb.st_mode) || offset > (uint64_t)sb.st_size)
        return SEGFILE_ERR_ARG;
    int rc;
    do {
        rc = ftruncate(fd, (off_t)offset);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0)
        return SEGFILE_ERR_WRITE;
    if (fsync(fd) != 0)
        return SEGFILE_ERR_SYNC;
    return SEGFILE_OK;
}

segfile_status segfile_truncate(const char *path, uint64_t offset)
{
    char dir[SEGFILE_PATH_BYTES_MAX];
    if (offset < SEGFILE_HEADER_BYTES || offset > SEGFILE_BYTES_MAX)
        return SEGFILE_ERR_ARG;
    segfile_status st = segfile_io_parent(path, dir, sizeof dir);
    if (st != SEGFILE_OK)
        return st;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return SEGFILE_ERR_IO;
    st = truncate_fd(fd, offset);
    int saved = errno;
    if (close(fd) != 0 && st == SEGFILE_OK)
        return SEGFILE_ERR_CLOSE;
    errno = saved;
    if (st != SEGFILE_OK)
        return st;
    return segfile_fsync_dir(dir);
}

/* Parse the key file's bytes: exactly 32 raw bytes, or 64 hex characters
 * optionally followed by one newline. Lengths alone decide the format. */
static segfile_status key_parse(const uint8_t *buf, size_t n,
                                uint8_t key[SEGFILE_KEY_BYTES])
{
    if (n == SEGFILE_KEY_BYTES) {
        memcpy(key, buf, SEGFILE_KEY_BYTES);
        return SEGFILE_OK;
    }
    if (n == SEGFILE_KEY_HEX_CHARS + 1u && buf[n - 1u] == '\n')
        n--;
    if (n != SEGFILE_KEY_HEX_CHARS)
        return SEGFILE_ERR_KEY_FILE;
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_hex2bin(key, SEGFILE_KEY_BYTES, (const char *)buf, n, NULL,
                       &bin_len, &end) != 0 ||
        bin_len != SEGFILE_KEY_BYTES || end != (const char *)buf + n)
        return SEGFILE_ERR_KEY_FILE;
    return SEGFILE_OK;
}

/* Read at most cap bytes (one more than any valid key file, so an
 * oversized file is seen as such), retrying EINTR and short reads. */
static segfile_status key_read(int fd, uint8_t *buf, size_t cap, size_t *n)
{
    *n = 0;
    while (*n < cap) {
        ssize_t r = read(fd, buf + *n, cap - *n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return SEGFILE_ERR_IO;
        if (r == 0)
            break;
        *n += (size_t)r;
    }
    return SEGFILE_OK;
}

segfile_status segfile_load_key(const char *path,
                                uint8_t key[SEGFILE_KEY_BYTES])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SEGFILE_ERR_IO;
    struct stat sb;
    segfile_status st = SEGFILE_OK;
    if (fstat(fd, &sb) != 0)
        st = SEGFILE_ERR_IO;
    else if (!S_ISREG(sb.st_mode))
        st = SEGFILE_ERR_KEY_FILE;
    else if ((sb.st_mode & SEGFILE_KEY_MODE_FORBIDDEN) != 0)
        st = SEGFILE_ERR_KEY_PERMS;
    uint8_t buf[SEGFILE_KEY_FILE_BYTES_MAX + 1u];
    size_t n = 0;
    if (st == SEGFILE_OK)
        st = key_read(fd, buf, sizeof buf, &n);
    if (st == SEGFILE_OK)
        st = key_parse(buf, n, key);
    sodium_memzero(buf, sizeof buf);
    int saved = errno;
    close(fd); /* read-only: nothing to lose */
    errno = saved;
    if (st != SEGFILE_OK)
        sodium_memzero(key, SEGFILE_KEY_BYTES);
    return st;
}
