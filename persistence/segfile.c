/* segfile -- the segment writer (see segfile.h for the format and rules).
 *
 * A writer owns one file descriptor, the offset of its next chunk (it
 * pwrites there itself, so a prepared file of zeros is overwritten in
 * place), the hash of the last chunk it wrote (the next chunk's
 * prev_hash), how much of the file its syncs made durable (each chunk
 * records it as sync_floor) and, when encrypting, the secretstream
 * state. The first write or fsync error is remembered in `failed` and
 * returned by every later call.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segfile_internal.h"

struct segfile_writer {
    int fd;
    segfile_status failed;       /* SEGFILE_OK until a write/sync fails */
    int failed_errno;
    uint64_t offset;             /* where the next chunk goes */
    uint64_t durable_end;        /* [0, durable_end) synced (sync_floor) */
    uint64_t file_bytes;         /* file size (> offset: zeros follow) */
    int prepared;                /* made from a segfile_prepare'd file */
    uint64_t prev_hash;          /* header_hash of the last chunk */
    int encrypted;
    segfile_crypt crypt;
    chunk_codec codec;
    segfile_file_header header;
};

/* Record the first failure for good: once a write or fsync failed we no
 * longer know what the file holds, so nothing may be written after it. */
static segfile_status writer_fail(segfile_writer *w, segfile_status st)
{
    assert(st != SEGFILE_OK);
    if (w->failed == SEGFILE_OK) {
        w->failed = st;
        w->failed_errno = errno;
    }
    return w->failed;
}

static segfile_status writer_new(segfile_writer **out)
{
    segfile_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return SEGFILE_ERR_NOMEM;
    w->fd = -1;
    if (chunk_codec_init(&w->codec) != CHUNK_OK) {
        free(w);
        return SEGFILE_ERR_NOMEM;
    }
    *out = w;
    return SEGFILE_OK;
}

static void writer_free(segfile_writer *w)
{
    chunk_codec_free(&w->codec);
    segfile_crypt_wipe(&w->crypt);
    free(w);
}

/* Pack w's header and write it at offset 0. */
static segfile_status header_write(segfile_writer *w)
{
    uint8_t buf[SEGFILE_HEADER_BYTES];
    segfile_hdr_pack(&w->header, buf);
    int err = segfile_io_pwrite_full(w->fd, buf, sizeof buf, 0);
    if (err != 0) {
        errno = err;
        return SEGFILE_ERR_WRITE;
    }
    return SEGFILE_OK;
}

/* Write the header of a just-created file and make file and directory
 * entry durable, so a crash after create returns leaves a valid file. */
static segfile_status create_fill(segfile_writer *w, const char *dir)
{
    segfile_status st = header_write(w);
    if (st != SEGFILE_OK)
        return st;
    if (fsync(w->fd) != 0)
        return SEGFILE_ERR_SYNC;
    st = segfile_fsync_dir(dir);
    if (st != SEGFILE_OK)
        return st;
    w->offset = SEGFILE_HEADER_BYTES;
    if (w->file_bytes < w->offset)
        w->file_bytes = w->offset;
    w->durable_end = w->offset;
    return SEGFILE_OK;
}

static segfile_status create_header(segfile_writer *w, segfile_kind kind,
                                    uint64_t segno, uint64_t created_ms,
                                    const uint8_t *key)
{
    w->header.version = SEGFILE_VERSION;
    w->header.kind = (uint16_t)kind;
    w->header.segno = segno;
    w->header.created_ms = created_ms;
    if (key == NULL)
        return SEGFILE_OK;
    w->encrypted = 1;
    w->header.flags = SEGFILE_FLAG_ENCRYPTED;
    return segfile_crypt_init_push(&w->crypt, key, &w->header);
}

/* Turn the prepared file at spare into the new file at path: header
 * first (durable before the name appears, so a crash leaves either the
 * spare, which startup removes, or a file with a whole header), then the
 * rename, which never replaces an existing file, then the directory. */
static segfile_status prepared_fill(segfile_writer *w, const char *dir,
                                    const char *spare, const char *path)
{
    struct stat sb;
    if (fstat(w->fd, &sb) != 0)
        return SEGFILE_ERR_IO;
    if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < SEGFILE_HEADER_BYTES ||
        (uint64_t)sb.st_size > SEGFILE_BYTES_MAX)
        return SEGFILE_ERR_ARG;
    segfile_status st = header_write(w);
    if (st != SEGFILE_OK)
        return st;
    if (fdatasync(w->fd) != 0)
        return SEGFILE_ERR_SYNC;
    if (renameat2(AT_FDCWD, spare, AT_FDCWD, path, RENAME_NOREPLACE) != 0)
        return SEGFILE_ERR_IO;
    w->offset = SEGFILE_HEADER_BYTES;
    w->file_bytes = (uint64_t)sb.st_size;
    w->prepared = 1;
    w->durable_end = w->offset;
    return segfile_fsync_dir(dir);
}

/* Open the new file: created (spare NULL) or the prepared spare. */
static segfile_status create_open(segfile_writer *w, const char *dir,
                                  const char *spath, const char *path)
{
    if (spath == NULL) {
        w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                     SEGFILE_FILE_MODE);
        return w->fd < 0 ? SEGFILE_ERR_IO : create_fill(w, dir);
    }
    w->fd = open(spath, O_WRONLY | O_CLOEXEC);
    return w->fd < 0 ? SEGFILE_ERR_IO : prepared_fill(w, dir, spath, path);
}

/* segfile_create (spare NULL) and segfile_create_prepared. On error a
 * created file goes (it never held data); a spare stays for its owner. */
static segfile_status create_any(const char *dir, const char *spare,
                                 const char *name, segfile_kind kind,
                                 uint64_t segno, uint64_t created_ms,
                                 const uint8_t *key, segfile_writer **out)
{
    char path[SEGFILE_PATH_BYTES_MAX];
    char spath[SEGFILE_PATH_BYTES_MAX];
    *out = NULL;
    if (kind != SEGFILE_KIND_LOG && kind != SEGFILE_KIND_SNAPSHOT)
        return SEGFILE_ERR_ARG;
    segfile_status st = segfile_io_join(dir, name, path, sizeof path);
    if (st == SEGFILE_OK && spare != NULL)
        st = segfile_io_join(dir, spare, spath, sizeof spath);
    if (st != SEGFILE_OK)
        return st;
    segfile_writer *w = NULL;
    st = writer_new(&w);
    if (st != SEGFILE_OK)
        return st;
    st = create_header(w, kind, segno, created_ms, key);
    if (st == SEGFILE_OK)
        st = create_open(w, dir, spare != NULL ? spath : NULL, path);
    if (st != SEGFILE_OK) {
        int saved = errno;
        if (w->fd >= 0) {
            close(w->fd);
            if (spare == NULL)
                unlink(path);
        }
        writer_free(w);
        errno = saved;
        return st;
    }
    *out = w;
    return SEGFILE_OK;
}

segfile_status segfile_create(const char *dir, const char *name,
                              segfile_kind kind, uint64_t segno,
                              uint64_t created_ms, const uint8_t *key,
                              segfile_writer **out)
{
    return create_any(dir, NULL, name, kind, segno, created_ms, key, out);
}

segfile_status segfile_create_prepared(const char *dir, const char *spare,
                                       const char *name, segfile_kind kind,
                                       uint64_t segno, uint64_t created_ms,
                                       const uint8_t *key,
                                       segfile_writer **out)
{
    return create_any(dir, spare, name, kind, segno, created_ms, key, out);
}

/* The scan proved the file clean; the size must not have changed since,
 * or the chain we continue from is not the file's last chunk. */
static segfile_status reopen_fd(segfile_writer *w, const char *path,
                                const segfile_report *rep)
{
    w->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (w->fd < 0)
        return SEGFILE_ERR_IO;
    struct stat sb;
    if (fstat(w->fd, &sb) != 0)
        return SEGFILE_ERR_IO;
    if ((uint64_t)sb.st_size != rep->file_bytes)
        return SEGFILE_ERR_NOT_CLEAN;
    w->offset = rep->file_bytes;
    w->file_bytes = rep->file_bytes;
    w->prev_hash = rep->last_hash;
    /* What the scan read may sit only in the page cache (a process crash
     * leaves it there): sync it before new chunks say it is durable. */
    if (fdatasync(w->fd) != 0)
        return SEGFILE_ERR_SYNC;
    w->durable_end = w->offset;
    return SEGFILE_OK;
}

static segfile_status scan_to_status(const segfile_report *rep)
{
    switch (rep->result) {
    case SEGFILE_SCAN_CLEAN:
        return SEGFILE_OK;
    case SEGFILE_SCAN_TORN_TAIL:
    case SEGFILE_SCAN_CORRUPT_MIDDLE:
    case SEGFILE_SCAN_ABORTED:
        return SEGFILE_ERR_NOT_CLEAN;
    case SEGFILE_SCAN_IO_ERROR:
        errno = rep->sys_errno;
        return rep->detail != SEGFILE_OK ? rep->detail : SEGFILE_ERR_IO;
    case SEGFILE_SCAN_BAD_FILE_HEADER:
    case SEGFILE_SCAN_KEY_ERROR:
        return rep->detail;
    }
    return SEGFILE_ERR_NOT_CLEAN;
}

segfile_status segfile_open_append(const char *dir, const char *name,
                                   const uint8_t *key, segfile_writer **out)
{
    char path[SEGFILE_PATH_BYTES_MAX];
    *out = NULL;
    segfile_status st = segfile_io_join(dir, name, path, sizeof path);
    if (st != SEGFILE_OK)
        return st;
    segfile_report rep;
    if (segfile_scan(path, key, NULL, NULL, &rep) != SEGFILE_SCAN_CLEAN)
        return scan_to_status(&rep);
    segfile_writer *w = NULL;
    st = writer_new(&w);
    if (st != SEGFILE_OK)
        return st;
    w->header = rep.header;
    if (key != NULL) {
        w->encrypted = 1;
        segfile_crypt_init_restart(&w->crypt, key, &w->header);
    }
    st = reopen_fd(w, path, &rep);
    if (st != SEGFILE_OK) {
        int saved = errno;
        if (w->fd >= 0)
            close(w->fd);
        writer_free(w);
        errno = saved;
        return st;
    }
    *out = w;
    return SEGFILE_OK;
}

static segfile_status writer_write(segfile_writer *w, const uint8_t *buf,
                                   size_t len, uint64_t last_hash)
{
    int err = segfile_io_pwrite_full(w->fd, buf, len, w->offset);
    if (err != 0) {
        errno = err;
        return writer_fail(w, SEGFILE_ERR_WRITE);
    }
    w->offset += len;
    if (w->file_bytes < w->offset)
        w->file_bytes = w->offset;
    w->prev_hash = last_hash;
    assert(w->offset <= SEGFILE_BYTES_MAX);
    return SEGFILE_OK;
}

segfile_status segfile_append_records(segfile_writer *w,
                                      const chunk_builder *b, int level,
                                      uint64_t *hash_out)
{
    assert(w != NULL && b != NULL);
    if (w->failed != SEGFILE_OK)
        return w->failed;
    /* Check the size limit before sealing: a sealed chunk must be
     * written, or its nonce would be spent on nothing. */
    size_t worst = CHUNK_HEADER_BYTES + ZSTD_compressBound(b->raw.len) +
                   CHUNK_SEAL_OVERHEAD_BYTES_MAX;
    if (worst > SEGFILE_BYTES_MAX - w->offset)
        return SEGFILE_ERR_FULL;
    chunk_sealer sealer;
    if (w->encrypted)
        segfile_crypt_sealer(&w->crypt, &sealer);
    uint64_t hash = 0;
    assert(w->durable_end <= w->offset && w->offset <= SEGFILE_BYTES_MAX);
    chunk_status cs = chunk_encode(&w->codec, b, w->prev_hash,
                                   (uint32_t)w->durable_end, level,
                                   w->encrypted ? &sealer : NULL, &hash);
    if (cs == CHUNK_BAD_SEAL)
        return writer_fail(w, SEGFILE_ERR_CRYPTO); /* stream state unknown */
    if (cs == CHUNK_ERR_NOMEM)
        return SEGFILE_ERR_NOMEM;
    if (cs == CHUNK_ERR_ARG)
        return SEGFILE_ERR_ARG;
    if (cs != CHUNK_OK)
        return SEGFILE_ERR_ENCODE;
    segfile_status st = writer_write(w, w->codec.out.data, w->codec.out.len,
                                     hash);
    if (st == SEGFILE_OK && hash_out != NULL)
        *hash_out = hash;
    return st;
}

/* Verify caller-encoded chunks before they reach the file: each must be
 * whole, plaintext, chained to the one before, and claim no more of the
 * file durable than lies before it. */
static segfile_status chunks_check(const segfile_writer *w,
                                   const uint8_t *buf, size_t len,
                                   uint64_t *last_hash)
{
    uint64_t prev = w->prev_hash;
    size_t off = 0;
    while (off < len) { /* each pass consumes >= CHUNK_HEADER_BYTES */
        chunk_header h;
        size_t total = 0;
        if (chunk_probe(buf + off, len - off, &h, &total) != CHUNK_OK)
            return SEGFILE_ERR_ARG;
        if (h.prev_hash != prev || (h.flags & CHUNK_FLAG_ENCRYPTED) ||
            h.sync_floor > w->offset + off)
            return SEGFILE_ERR_ARG;
        assert(total >= CHUNK_HEADER_BYTES);
        prev = h.header_hash;
        off += total;
    }
    *last_hash = prev;
    return SEGFILE_OK;
}

segfile_status segfile_append(segfile_writer *w, const uint8_t *chunks,
                              size_t len)
{
    assert(w != NULL);
    if (w->failed != SEGFILE_OK)
        return w->failed;
    if (w->encrypted || chunks == NULL || len == 0)
        return SEGFILE_ERR_ARG;
    if (len > SEGFILE_BYTES_MAX - w->offset)
        return SEGFILE_ERR_FULL;
    uint64_t last_hash = 0;
    segfile_status st = chunks_check(w, chunks, len, &last_hash);
    if (st != SEGFILE_OK)
        return st;
    return writer_write(w, chunks, len, last_hash);
}

/* fdatasync is enough: it flushes the data and the size change needed to
 * read it back. Any error, EINTR included, is final: we cannot tell
 * whether the kernel already consumed and forgot a writeback error. */
segfile_status segfile_sync(segfile_writer *w)
{
    assert(w != NULL);
    if (w->failed != SEGFILE_OK)
        return w->failed;
    if (fdatasync(w->fd) != 0)
        return writer_fail(w, SEGFILE_ERR_SYNC);
    w->durable_end = w->offset;
    return SEGFILE_OK;
}

/* A prepared file still ends in zeros: cut them, so a finished file
 * scans CLEAN and its size is its content. ftruncate changes the size,
 * which fdatasync makes durable with the data. */
segfile_status segfile_finish(segfile_writer *w)
{
    assert(w != NULL);
    if (w->failed != SEGFILE_OK)
        return w->failed;
    if (w->file_bytes > w->offset) {
        int rc;
        do {
            rc = ftruncate(w->fd, (off_t)w->offset);
        } while (rc != 0 && errno == EINTR);
        if (rc != 0)
            return writer_fail(w, SEGFILE_ERR_WRITE);
        w->file_bytes = w->offset;
    }
    return segfile_sync(w);
}

segfile_status segfile_close(segfile_writer *w)
{
    if (w == NULL)
        return SEGFILE_OK;
    segfile_status st = w->failed;
    /* No retry on EINTR: Linux has released the descriptor either way. */
    if (w->fd >= 0 && close(w->fd) != 0 && st == SEGFILE_OK)
        st = SEGFILE_ERR_CLOSE;
    int saved = errno;
    writer_free(w);
    errno = saved;
    return st;
}

segfile_status segfile_writer_status(const segfile_writer *w)
{
    return w->failed;
}

int segfile_writer_errno(const segfile_writer *w)
{
    return w->failed_errno;
}

uint64_t segfile_writer_offset(const segfile_writer *w)
{
    return w->offset;
}

uint64_t segfile_writer_prev_hash(const segfile_writer *w)
{
    return w->prev_hash;
}

int segfile_writer_prepared(const segfile_writer *w)
{
    return w->prepared;
}

int segfile_writer_fd(const segfile_writer *w)
{
    return w->fd;
}
