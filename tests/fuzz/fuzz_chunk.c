/* fuzz_chunk -- the log/snapshot chunk decoder and what recovery does
 * with what it decodes: chunk_probe, chunk_decode (hash chain, opener,
 * zstd, record framing), chunk_record_next, quotad__log_record__unpack and
 * rec_apply into a scratch store, whose invariants are then checked
 * (fuzz_common.h) and which is then served (views, hold expiry).
 *
 * Input: a mode byte, then:
 *   mode 0  raw bytes, decoded as a file body (chunks back to back,
 *           chained from prev_hash 0). Reaches header and hash checks.
 *   mode 1  the same, but the harness first fixes each chunk's magic,
 *           stored_len (clamped to the bytes present), body_hash,
 *           header_hash and (mode bit 0x10) prev_hash, so mutations get
 *           past the hashes into field limits, the opener, zstd and the
 *           record framing.
 *   mode 2  a control byte and a raw records area ([u32 LE len][payload]
 *           ...): the harness compresses it into one valid chunk (with
 *           a record count, raw_len, version and flags bent as the control
 *           byte says), so mutations reach record decoding and rec_apply.
 *   mode 3  a control byte, then a file body fixed as in mode 1 (chained;
 *           control bit 0: every sync_floor clamped into [80, its own
 *           offset]) with one chunk then damaged (control bits 4-7: which),
 *           written after a real file header and read by segfile_scan
 *           itself: torn tails, unsynced windows and corrupt middles.
 * Encrypted chunks go through a stand-in opener (the real one is
 * segfile's): the body's last 16 bytes play the tag, 24 more the stream
 * header on a restart; a body too short for them fails to open.
 *
 * Invariants: probe and decode agree (status, total, header); on OK the
 * header re-packs to the same bytes, raw.len == raw_len and the area walks
 * to exactly n_records records then END; the scratch store can be served
 * (fz_store_exercise) and then passes fz_store_check. Mode 3: the scan
 * ends CLEAN (valid end = file size), TORN_TAIL (cut at the bad chunk,
 * an unsynced window only before a later good chunk) or CORRUPT_MIDDLE,
 * and delivers exactly the chunks before valid_end, in order.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk_le.h"
#include "fuzz_common.h"
#include "segfile.h"

#define FZ_CHUNKS_MAX 16u
#define FZ_SCRATCH_SHARDS 2u
#define FZ_TAG_BYTES 16u
#define FZ_STREAM_HDR_BYTES 24u
#define FZ_ZSTD_LEVEL 1
#define FZ_OFF_STORED_LEN 16u
#define FZ_OFF_PREV_HASH 40u
#define FZ_OFF_BODY_HASH 48u
#define FZ_OFF_HEADER_HASH 56u
#define FZ_OFF_VERSION 4u
#define FZ_OFF_SYNC_FLOOR 20u
#define FZ_MODES 4u
#define FZ_SCAN_DIR_TEMPLATE "/tmp/fuzz_chunk.XXXXXX"
#define FZ_PATH_BYTES 256u

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static chunk_codec g_codec;

static chunk_status fake_open(void *ctx, uint16_t flags, const uint8_t *in,
                              size_t in_len, const uint8_t *ad, size_t ad_len,
                              const uint8_t **plain, size_t *plain_len)
{
    (void)ctx;
    (void)ad;
    if (ad_len != CHUNK_AD_BYTES)
        fz_die("opener got %zu bytes of AD", ad_len);
    size_t skip = (flags & CHUNK_FLAG_STREAM_RESTART) ? FZ_STREAM_HDR_BYTES
                                                       : 0;
    if (in_len < skip + FZ_TAG_BYTES)
        return CHUNK_BAD_SEAL;
    *plain = in + skip;
    *plain_len = in_len - skip - FZ_TAG_BYTES;
    return CHUNK_OK;
}

static const chunk_opener g_opener = {fake_open, NULL};

/* Mode 3: a real plaintext log file header, and where scans happen. */
static uint8_t g_file_hdr[SEGFILE_HEADER_BYTES];
static char g_scan_dir[FZ_PATH_BYTES];
static char g_scan_path[FZ_PATH_BYTES];

static void scan_cleanup(void)
{
    char p[FZ_PATH_BYTES + 8];
    snprintf(p, sizeof p, "%s/hdr", g_scan_dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/seg", g_scan_dir);
    unlink(p);
    rmdir(g_scan_dir);
}

static void scan_setup(void)
{
    snprintf(g_scan_dir, sizeof g_scan_dir, "%s", FZ_SCAN_DIR_TEMPLATE);
    if (mkdtemp(g_scan_dir) == NULL)
        fz_die("mkdtemp failed");
    segfile_writer *w = NULL;
    if (segfile_create(g_scan_dir, "hdr", SEGFILE_KIND_LOG, 1, 0, NULL,
                       &w) != SEGFILE_OK ||
        segfile_close(w) != SEGFILE_OK)
        fz_die("segfile_create failed");
    snprintf(g_scan_path, sizeof g_scan_path, "%s/hdr", g_scan_dir);
    FILE *f = fopen(g_scan_path, "rb");
    if (f == NULL || fread(g_file_hdr, 1, sizeof g_file_hdr, f) !=
                         sizeof g_file_hdr)
        fz_die("reading the file header failed");
    fclose(f);
    snprintf(g_scan_path, sizeof g_scan_path, "%s/seg", g_scan_dir);
    atexit(scan_cleanup);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (chunk_codec_init(&g_codec) != CHUNK_OK)
        fz_die("chunk_codec_init failed");
    scan_setup();
    return 0;
}

/* The decoded area must walk to exactly n records, then END. */
static void check_area(const chunk_header *h)
{
    if (g_codec.raw.len != h->raw_len)
        fz_die("decoded %zu raw bytes, header says %u", g_codec.raw.len,
               h->raw_len);
    size_t pos = 0, len = 0;
    const uint8_t *p = NULL;
    uint32_t n = 0;
    chunk_status st;
    while ((st = chunk_record_next(g_codec.raw.data, g_codec.raw.len, &pos,
                                   &p, &len)) == CHUNK_OK)
        n++;
    if (st != CHUNK_END || n != h->n_records)
        fz_die("decoded area: %u records then %d, header says %u", n,
               (int)st, h->n_records);
}

/* A verified header must re-pack to the very same bytes. */
static void check_repack(const uint8_t *buf, const chunk_header *h)
{
    uint8_t again[CHUNK_HEADER_BYTES];
    uint64_t hash = chunk_header_pack(h, again);
    if (hash != h->header_hash || memcmp(again, buf, sizeof again) != 0)
        fz_die("verified chunk header does not re-pack identically");
}

/* Decode chunks back to back as segfile_scan would, applying the records
 * of each good chunk until recovery would stop. */
static void walk(const uint8_t *buf, size_t n)
{
    store *st = fz_scratch_open(FZ_SCRATCH_SHARDS);
    uint64_t prev = 0;
    size_t off = 0;
    int applying = 1;
    for (unsigned i = 0; i < FZ_CHUNKS_MAX && off < n; i++) {
        chunk_header h1 = {0}, h2 = {0};
        size_t total = 0, consumed = 0;
        chunk_status p = chunk_probe(buf + off, n - off, &h1, &total);
        chunk_status d = chunk_decode(&g_codec, buf + off, n - off, prev,
                                      &g_opener, &h2, &consumed);
        if (p != CHUNK_OK && d != p)
            fz_die("probe says %d but decode says %d", (int)p, (int)d);
        if (p == CHUNK_OK) {
            if (total != CHUNK_HEADER_BYTES + (size_t)h1.stored_len ||
                total > n - off)
                fz_die("probe total %zu (stored_len %u, %zu available)",
                       total, h1.stored_len, n - off);
            check_repack(buf + off, &h1);
        }
        if (d != CHUNK_OK)
            break;
        if (consumed != total || memcmp(&h1, &h2, sizeof h1) != 0)
            fz_die("decode consumed %zu, probe total %zu", consumed, total);
        check_area(&h2);
        if (applying &&
            fz_apply_records(st, g_codec.raw.data, g_codec.raw.len) <
                h2.n_records)
            applying = 0;
        prev = h2.header_hash;
        off += consumed;
    }
    fz_store_exercise(st);
    fz_store_check(st);
    store_close(st);
}

/* Mode 1: make each chunk's hashes (and optionally chain) right. */
static void fix_chunks(uint8_t *buf, size_t n, int chain)
{
    uint64_t prev = 0;
    size_t off = 0;
    for (unsigned i = 0; i < FZ_CHUNKS_MAX; i++) {
        if (n - off < CHUNK_HEADER_BYTES)
            return;
        uint8_t *h = buf + off;
        memcpy(h, CHUNK_MAGIC, CHUNK_MAGIC_BYTES);
        size_t room = n - off - CHUNK_HEADER_BYTES;
        uint32_t stored = chunk_le_get32(h + FZ_OFF_STORED_LEN);
        if (stored > room) {
            stored = (uint32_t)room;
            chunk_le_put32(h + FZ_OFF_STORED_LEN, stored);
        }
        if (chain)
            chunk_le_put64(h + FZ_OFF_PREV_HASH, prev);
        chunk_le_put64(h + FZ_OFF_BODY_HASH,
                       XXH3_64bits(h + CHUNK_HEADER_BYTES, stored));
        prev = XXH3_64bits(h, FZ_OFF_HEADER_HASH);
        chunk_le_put64(h + FZ_OFF_HEADER_HASH, prev);
        off += CHUNK_HEADER_BYTES + stored;
    }
}

/* Mode 2: one chunk around a raw records area. Control byte:
 *   bits 0-1  n_records = records found + (bits - 1): -1, 0, +1, +2
 *   bit 2     raw_len one too big      bit 3  version + 1
 *   bit 4     encrypted (tag appended) bit 5  also stream restart
 *   bit 6     first_seq > last_seq */
static void wrap_records(uint8_t ctl, const uint8_t *raw, size_t raw_len)
{
    if (raw_len > CHUNK_RAW_BYTES_MAX)
        return;
    uint32_t found = 0;
    size_t pos = 0, len = 0;
    const uint8_t *p = NULL;
    while (chunk_record_next(raw, raw_len, &pos, &p, &len) == CHUNK_OK)
        found++;
    size_t bound = ZSTD_compressBound(raw_len);
    size_t extra = FZ_STREAM_HDR_BYTES + FZ_TAG_BYTES;
    uint8_t *buf = malloc(CHUNK_HEADER_BYTES + bound + extra);
    if (buf == NULL)
        fz_die("out of memory");
    uint8_t *body = buf + CHUNK_HEADER_BYTES;
    size_t skip = (ctl & 0x30u) == 0x30u ? FZ_STREAM_HDR_BYTES : 0;
    memset(body, 0, skip);
    size_t clen = ZSTD_compress(body + skip, bound, raw_len ? raw : buf,
                                raw_len, FZ_ZSTD_LEVEL);
    if (ZSTD_isError(clen))
        fz_die("ZSTD_compress: %s", ZSTD_getErrorName(clen));
    size_t stored = skip + clen;
    if (ctl & 0x10u) {
        memset(body + stored, 0, FZ_TAG_BYTES);
        stored += FZ_TAG_BYTES;
    }
    int64_t n_rec = (int64_t)found + (int64_t)(ctl & 3u) - 1;
    chunk_header h = {
        .version = (ctl & 8u) ? CHUNK_VERSION + 1u : CHUNK_VERSION,
        .flags = (uint16_t)(((ctl & 0x10u) ? CHUNK_FLAG_ENCRYPTED : 0u) |
                            ((ctl & 0x20u) ? CHUNK_FLAG_STREAM_RESTART : 0u)),
        .n_records = n_rec < 0 ? 0u : (uint32_t)n_rec,
        .raw_len = (uint32_t)raw_len + ((ctl & 4u) ? 1u : 0u),
        .stored_len = (uint32_t)stored,
        .first_seq = n_rec > 0 ? ((ctl & 0x40u) ? 9u : 1u) : 0u,
        .last_seq = n_rec > 0 ? (uint64_t)n_rec : 0u,
    };
    h.body_hash = XXH3_64bits(body, stored);
    (void)chunk_header_pack(&h, buf);
    walk(buf, CHUNK_HEADER_BYTES + stored);
    free(buf);
}

/* Mode 3 fixing: version 2 and (ctl bit 0) floors clamped into
 * [header, own offset], before mode 1's fix makes the hashes right. */
static void clamp_floors(uint8_t *buf, size_t n)
{
    size_t off = 0;
    for (unsigned i = 0; i < FZ_CHUNKS_MAX; i++) {
        if (n - off < CHUNK_HEADER_BYTES)
            return;
        uint8_t *h = buf + off;
        uint64_t at = SEGFILE_HEADER_BYTES + off;
        uint32_t f = chunk_le_get32(h + FZ_OFF_SYNC_FLOOR);
        f = (uint32_t)(SEGFILE_HEADER_BYTES +
                       f % (at - SEGFILE_HEADER_BYTES + 1u));
        chunk_le_put16(h + FZ_OFF_VERSION, CHUNK_VERSION);
        chunk_le_put32(h + FZ_OFF_SYNC_FLOOR, f);
        size_t room = n - off - CHUNK_HEADER_BYTES;
        uint32_t stored = chunk_le_get32(h + FZ_OFF_STORED_LEN);
        off += CHUNK_HEADER_BYTES + (stored > room ? room : stored);
    }
}

/* Flip a byte in chunk number k (counted as fix_chunks lays them out). */
static void damage_chunk(uint8_t *buf, size_t n, unsigned k)
{
    size_t off = 0;
    for (unsigned i = 0; n - off >= CHUNK_HEADER_BYTES; i++) {
        uint32_t stored = chunk_le_get32(buf + off + FZ_OFF_STORED_LEN);
        if (i == k) {
            buf[off + CHUNK_HEADER_BYTES / 2u + stored % 7u] ^= 0x5au;
            return;
        }
        off += CHUNK_HEADER_BYTES + stored;
    }
}

typedef struct scan_seen {
    uint64_t chunks, next_off;
} scan_seen;

static int scan_chunk(void *ctx, const chunk_header *h, const uint8_t *raw,
                      size_t raw_len, uint64_t off)
{
    scan_seen *s = ctx;
    (void)raw, (void)raw_len;
    if (off != s->next_off || h->sync_floor > off)
        fz_die("scan delivered a chunk at %llu, expected %llu (floor %u)",
               (unsigned long long)off, (unsigned long long)s->next_off,
               h->sync_floor);
    s->chunks++;
    s->next_off = off + CHUNK_HEADER_BYTES + h->stored_len;
    return 0;
}

static void scan_check(const segfile_report *r, const scan_seen *s)
{
    if (s->chunks != r->chunks || s->next_off != r->valid_end_offset)
        fz_die("scan delivered %llu chunks to %llu, report %llu to %llu",
               (unsigned long long)s->chunks,
               (unsigned long long)s->next_off,
               (unsigned long long)r->chunks,
               (unsigned long long)r->valid_end_offset);
    switch (r->result) {
    case SEGFILE_SCAN_CLEAN:
        if (r->valid_end_offset != r->file_bytes)
            fz_die("clean scan ends before the file");
        return;
    case SEGFILE_SCAN_TORN_TAIL:
        if (r->bad_offset != r->valid_end_offset ||
            r->bad_offset > r->file_bytes ||
            (r->unsynced_chunks > 0) != (r->next_valid_offset != 0) ||
            (r->unsynced_chunks > 0 && r->zero_tail))
            fz_die("torn tail report inconsistent");
        return;
    case SEGFILE_SCAN_CORRUPT_MIDDLE:
        if (r->bad_offset < r->valid_end_offset)
            fz_die("corruption reported before the valid end");
        return;
    default:
        fz_die("scan of a file with a good header: %s",
               segfile_scan_result_str(r->result));
    }
}

/* Mode 3: the body behind a real header, through segfile_scan. */
static void scan_file(uint8_t ctl, const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        fz_die("out of memory");
    memcpy(copy, data, size);
    if (ctl & 1u)
        clamp_floors(copy, size);
    fix_chunks(copy, size, 1);
    damage_chunk(copy, size, ctl >> 4);
    int fd = open(g_scan_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0600);
    if (fd < 0 || write(fd, g_file_hdr, sizeof g_file_hdr) !=
                      (ssize_t)sizeof g_file_hdr ||
        (size > 0 && write(fd, copy, size) != (ssize_t)size) || close(fd))
        fz_die("writing the scan file failed");
    free(copy);
    segfile_report rep;
    scan_seen seen = {0, SEGFILE_HEADER_BYTES};
    (void)segfile_scan(g_scan_path, NULL, scan_chunk, &seen, &rep);
    scan_check(&rep, &seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    switch (mode % FZ_MODES) {
    case 0:
        walk(data, size);
        break;
    case 1: {
        uint8_t *copy = malloc(size ? size : 1);
        if (copy == NULL)
            fz_die("out of memory");
        memcpy(copy, data, size);
        fix_chunks(copy, size, (mode & 0x10u) != 0);
        walk(copy, size);
        free(copy);
        break;
    }
    case 2:
        if (size >= 1)
            wrap_records(data[0], data + 1, size - 1);
        break;
    default:
        if (size >= 1)
            scan_file(data[0], data + 1, size - 1);
        break;
    }
    return 0;
}
