/* segfile_scan -- verify a segment file and classify how it ends.
 *
 * The file is mapped read-only (segments are bounded by SEGFILE_BYTES_MAX)
 * and decoded chunk by chunk. At the first chunk that fails, the question
 * is "crash or damage?". A crash (or power loss) can only damage what was
 * written since the last completed sync, and the kernel may have written
 * those pages back in any order: a later chunk can be whole on disk while
 * an earlier one is torn. So a failure that looks like a partial write
 * (chunk incomplete, or a header/body hash mismatch) is a torn tail, safe
 * to cut, when every good chunk after it was written before the failed
 * one was synced: each says so with its sync_floor (the bytes durable
 * when it was written) <= the failed chunk's offset. No sync covered
 * those chunks, so nothing in them was acknowledged as durable. With
 * --fsync always a chunk is written only after the previous one was
 * synced, so there a good chunk after a bad one is always damage.
 * A later good chunk with a higher floor (or none: version 1) means the
 * middle was damaged; and a chunk whose hashes verify but which is wrong
 * anyway (chain, version, fields, floor, decryption, zstd, records) was
 * written that way, which no crash does. Both are refused, never
 * skipped.
 *
 * The mapping assumes nobody truncates the file while it is scanned.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segfile_internal.h"

typedef struct scanner {
    const uint8_t *map;
    size_t size;
    int encrypted;
    segfile_crypt crypt;
    chunk_codec codec;
    segfile_chunk_fn fn;
    void *ctx;
    segfile_report *rep;
} scanner;

static segfile_scan_result scan_io_fail(segfile_report *rep,
                                        segfile_status detail, int err)
{
    rep->result = SEGFILE_SCAN_IO_ERROR;
    rep->detail = detail;
    rep->sys_errno = err;
    return rep->result;
}

/* Offset of the first chunk at or after `from` whose magic, header hash
 * and body hash all verify, or 0 if there is none (offset 0 holds the
 * file header, never a chunk). memmem skips to candidate magics, so a
 * torn tail of zeros or garbage costs one pass. */
static uint64_t find_later_chunk(const scanner *s, uint64_t from)
{
    const uint8_t *end = s->map + s->size;
    const uint8_t *p = s->map + from;
    while (p < end) { /* each pass advances p by at least one byte */
        const uint8_t *hit = memmem(p, (size_t)(end - p), CHUNK_MAGIC,
                                    CHUNK_MAGIC_BYTES);
        if (hit == NULL)
            return 0;
        chunk_header h;
        size_t total = 0;
        if (chunk_probe(hit, (size_t)(end - hit), &h, &total) == CHUNK_OK)
            return (uint64_t)(hit - s->map);
        p = hit + 1;
    }
    return 0;
}

/* What a partial write can look like; everything else failed on a chunk
 * whose header and body hashes verified. */
static int looks_torn(chunk_status cs)
{
    return cs == CHUNK_NEED_MORE || cs == CHUNK_BAD_HEADER ||
           cs == CHUNK_BAD_BODY;
}

/* 1 if every byte of [from, size) is zero. */
static int all_zero(const scanner *s, uint64_t from)
{
    const uint8_t *p = s->map + from;
    size_t n = s->size - (size_t)from;
    if (n == 0)
        return 1;
    return p[0] == 0 && memcmp(p, p + 1, n - 1u) == 0;
}

/* 1 if every good chunk from `first` on was written while the bytes at
 * `bad` were not yet synced (see the top); *n = how many there are. */
static int unsynced_window(const scanner *s, uint64_t bad, uint64_t first,
                           uint64_t *n)
{
    *n = 0;
    for (uint64_t at = first; at != 0;) { /* each pass moves past a chunk */
        chunk_header h;
        size_t total = 0;
        chunk_status cs = chunk_probe(s->map + at, s->size - (size_t)at,
                                      &h, &total);
        assert(cs == CHUNK_OK && total >= CHUNK_HEADER_BYTES);
        (void)cs;
        if (h.sync_floor == 0 || h.sync_floor > bad)
            return 0;
        (*n)++;
        at = at + total < s->size ? find_later_chunk(s, at + total) : 0;
    }
    return 1;
}

static segfile_scan_result chunk_failed(scanner *s, uint64_t off,
                                        chunk_status cs)
{
    segfile_report *rep = s->rep;
    rep->bad_offset = off;
    rep->chunk_status = cs;
    if (cs == CHUNK_ERR_NOMEM)
        return scan_io_fail(rep, SEGFILE_ERR_NOMEM, ENOMEM);
    assert(cs < 0 || cs == CHUNK_NEED_MORE);
    rep->next_valid_offset = find_later_chunk(s, off + 1u);
    uint64_t n = 0;
    if (looks_torn(cs) && rep->next_valid_offset == 0) {
        rep->result = SEGFILE_SCAN_TORN_TAIL;
        rep->zero_tail = all_zero(s, off);
    } else if (looks_torn(cs) &&
               unsynced_window(s, off, rep->next_valid_offset, &n)) {
        rep->result = SEGFILE_SCAN_TORN_TAIL;
        rep->unsynced_chunks = n;
    } else
        rep->result = SEGFILE_SCAN_CORRUPT_MIDDLE;
    return rep->result;
}

static void account(segfile_report *rep, const chunk_header *h,
                    uint64_t end)
{
    if (h->n_records > 0) {
        if (rep->records == 0)
            rep->first_seq = h->first_seq;
        rep->last_seq = h->last_seq;
    }
    rep->chunks++;
    rep->records += h->n_records;
    rep->last_hash = h->header_hash;
    rep->valid_end_offset = end;
}

static segfile_scan_result scan_chunks(scanner *s)
{
    segfile_report *rep = s->rep;
    chunk_opener opener;
    segfile_crypt_opener(&s->crypt, &opener);
    uint64_t off = SEGFILE_HEADER_BYTES;
    uint64_t prev = 0;
    rep->valid_end_offset = off;
    while (off < s->size) { /* each good chunk is >= CHUNK_HEADER_BYTES */
        chunk_header h;
        size_t used = 0;
        chunk_status cs = chunk_decode(&s->codec, s->map + off,
                                       s->size - off, prev,
                                       s->encrypted ? &opener : NULL, &h,
                                       &used);
        /* A plaintext chunk in an encrypted file would be a forgery; a
         * floor past the chunk itself was never true. */
        if (cs == CHUNK_OK &&
            (((h.flags & CHUNK_FLAG_ENCRYPTED) != 0) != (s->encrypted != 0) ||
             h.sync_floor > off))
            cs = CHUNK_BAD_FIELDS;
        if (cs != CHUNK_OK)
            return chunk_failed(s, off, cs);
        assert(used >= CHUNK_HEADER_BYTES && used <= s->size - off);
        if (s->fn != NULL) {
            int rc = s->fn(s->ctx, &h, s->codec.raw.data, s->codec.raw.len,
                           off);
            if (rc != 0) {
                rep->callback_rc = rc;
                rep->bad_offset = off;
                rep->result = SEGFILE_SCAN_ABORTED;
                return rep->result;
            }
        }
        prev = h.header_hash;
        off += used;
        account(rep, &h, off);
    }
    assert(off == s->size);
    rep->result = SEGFILE_SCAN_CLEAN;
    return rep->result;
}

static segfile_scan_result header_failed(segfile_report *rep,
                                         segfile_status st)
{
    rep->detail = st;
    if (st == SEGFILE_ERR_CRYPTO)
        return scan_io_fail(rep, st, 0);
    if (st == SEGFILE_ERR_KEY_REQUIRED || st == SEGFILE_ERR_KEY_UNEXPECTED ||
        st == SEGFILE_ERR_BAD_KEY)
        rep->result = SEGFILE_SCAN_KEY_ERROR;
    else
        rep->result = SEGFILE_SCAN_BAD_FILE_HEADER;
    return rep->result;
}

static segfile_scan_result scan_map(scanner *s, const uint8_t *key)
{
    segfile_report *rep = s->rep;
    segfile_status st = segfile_hdr_parse(s->map, s->size, key,
                                          &rep->header);
    if (st != SEGFILE_OK)
        return header_failed(rep, st);
    if (chunk_codec_init(&s->codec) != CHUNK_OK)
        return scan_io_fail(rep, SEGFILE_ERR_NOMEM, ENOMEM);
    s->encrypted = (rep->header.flags & SEGFILE_FLAG_ENCRYPTED) != 0;
    segfile_scan_result res;
    if (s->encrypted &&
        (st = segfile_crypt_init_pull(&s->crypt, key, &rep->header)) !=
            SEGFILE_OK)
        res = scan_io_fail(rep, st, 0);
    else
        res = scan_chunks(s);
    chunk_codec_free(&s->codec);
    segfile_crypt_wipe(&s->crypt);
    return res;
}

static segfile_scan_result scan_fd(int fd, scanner *s, const uint8_t *key)
{
    segfile_report *rep = s->rep;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return scan_io_fail(rep, SEGFILE_ERR_IO, errno);
    if (!S_ISREG(sb.st_mode))
        return scan_io_fail(rep, SEGFILE_ERR_ARG, EINVAL);
    if ((uint64_t)sb.st_size > SEGFILE_BYTES_MAX)
        return scan_io_fail(rep, SEGFILE_ERR_TOO_BIG, EFBIG);
    s->size = (size_t)sb.st_size;
    rep->file_bytes = s->size;
    if (s->size < SEGFILE_HEADER_BYTES)
        return header_failed(rep, SEGFILE_ERR_SHORT_HEADER);
    void *m = mmap(NULL, s->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return scan_io_fail(rep, SEGFILE_ERR_IO, errno);
    (void)madvise(m, s->size, MADV_SEQUENTIAL); /* a hint only */
    s->map = m;
    segfile_scan_result res = scan_map(s, key);
    munmap(m, s->size);
    return res;
}

segfile_scan_result segfile_scan(const char *path, const uint8_t *key,
                                 segfile_chunk_fn fn, void *ctx,
                                 segfile_report *rep)
{
    assert(path != NULL && rep != NULL);
    memset(rep, 0, sizeof *rep);
    scanner s;
    memset(&s, 0, sizeof s);
    s.fn = fn;
    s.ctx = ctx;
    s.rep = rep;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return scan_io_fail(rep, SEGFILE_ERR_IO, errno);
    segfile_scan_result res = scan_fd(fd, &s, key);
    close(fd); /* read-only: nothing to lose */
    return res;
}
