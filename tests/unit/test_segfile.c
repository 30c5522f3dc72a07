/* test_segfile -- segment files: write and scan back, torn tails at every
 * offset, flips, corrupt middles, truncate and re-append, encryption,
 * sticky writer failures, key files, atomic small files.
 * Deterministic (seeded xorshift); every file lives in a mkdtemp dir. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "chunk.h"
#include "chunk_le.h"
#include "lib/daemon.h"
#include "lib/persist_util.h"
#include "segfile.h"
#include "t.h"

#define SEED 0xc0ffee1234ULL
#define LEVEL 1
#define N_CHUNKS 8u
#define RECS_PER_CHUNK_MAX 6u
#define PAYLOAD_MAX 120u
#define EARLY_CUTS 60u
#define LAST_FLIPS 200u
#define MIDDLE_FLIPS_PER_CHUNK 8u
#define DIR_BYTES 64u /* mkdtemp template fits; leaves room for names */
#define SEGNO 77u
#define CREATED_MS 1700000000000ULL

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The payload of record `seq` is a pure function of seq, so a scan can
 * check every record without keeping a copy. */
static size_t payload_for(uint64_t seq, uint8_t *out)
{
    size_t len = (size_t)(XXH3_64bits(&seq, sizeof seq) % PAYLOAD_MAX);
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(seq * 31u + i * 7u);
    return len;
}

static char g_dir[DIR_BYTES];

static int dir_make(void)
{
    return pu_scratch_make(g_dir, sizeof g_dir, "test_segfile") == 0;
}

/* g_dir/name in one of a few static buffers (enough for one statement
 * to hold several paths). */
static const char *path_of(const char *name)
{
    return pu_path(g_dir, name);
}

/* The segment the tests share: written once per test run into g_dir. */
typedef struct seg {
    uint8_t *bytes;
    size_t len;
    uint64_t off[N_CHUNKS + 1u]; /* chunk starts; off[N_CHUNKS] = len */
    uint64_t records;
    uint64_t next_seq;
} seg;

static seg g_seg; /* the test's segment; freed after each test */

/* Each test runs in a fresh temp dir, removed even if the test returns
 * early through T_REQUIRE. */
static void (*g_body)(void);

static void in_dir(void)
{
    static uint64_t test_no;
    rng_state = SEED + ++test_no; /* deterministic: tests run in order */
    T_REQUIRE(dir_make());
    g_body();
    td_remove_tree(g_dir);
    free(g_seg.bytes);
    memset(&g_seg, 0, sizeof g_seg);
}

#define RUN(fn) (g_body = (fn), t_run(#fn, in_dir))

static int append_chunk(segfile_writer *w, seg *s, unsigned n_recs)
{
    chunk_builder b;
    chunk_builder_init(&b);
    uint8_t p[PAYLOAD_MAX];
    int ok = 1;
    for (unsigned r = 0; r < n_recs && ok; r++) {
        size_t len = payload_for(s->next_seq, p);
        ok = chunk_builder_add(&b, s->next_seq++, p, len) == CHUNK_OK;
    }
    s->records += n_recs;
    ok = ok && segfile_append_records(w, &b, LEVEL, NULL) == SEGFILE_OK;
    chunk_builder_free(&b);
    return ok;
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    *out = pu_read_bin(path, SEGFILE_BYTES_MAX, len);
    return *out != NULL;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    return pu_write_file(path, p, n) == 0;
}

/* Write N_CHUNKS chunks (one of them empty) to dir/name, each synced
 * before the next is written (as --fsync always does: damage before a
 * later chunk is then never a crash's torn window; test_segwindow has
 * unsynced ones); remember where each chunk starts; load the bytes. */
static int seg_write(seg *s, const char *name, const uint8_t *key)
{
    memset(s, 0, sizeof *s);
    s->next_seq = 1;
    segfile_writer *w;
    if (segfile_create(g_dir, name, SEGFILE_KIND_LOG, SEGNO, CREATED_MS, key,
                       &w) != SEGFILE_OK)
        return 0;
    int ok = 1;
    for (unsigned i = 0; i < N_CHUNKS && ok; i++) {
        s->off[i] = segfile_writer_offset(w);
        unsigned n = i == 2 ? 0u : 1u + (unsigned)(rng() % RECS_PER_CHUNK_MAX);
        ok = append_chunk(w, s, n) && segfile_sync(w) == SEGFILE_OK;
    }
    s->off[N_CHUNKS] = segfile_writer_offset(w);
    ok = segfile_close(w) == SEGFILE_OK && ok;
    return ok && read_file(path_of(name), &s->bytes, &s->len) &&
           s->len == s->off[N_CHUNKS];
}

/* Scan callback: every record must be the next expected one. */
typedef struct check {
    uint64_t next_seq;
    uint64_t records;
    uint64_t chunks;
    int bad;
} check;

static int check_chunk(void *ctx, const chunk_header *h, const uint8_t *raw,
                       size_t raw_len, uint64_t off)
{
    check *c = ctx;
    size_t pos = 0, len;
    const uint8_t *p;
    uint8_t want[PAYLOAD_MAX];
    (void)off;
    if (h->n_records > 0 && h->first_seq != c->next_seq)
        c->bad++;
    while (chunk_record_next(raw, raw_len, &pos, &p, &len) == CHUNK_OK) {
        size_t wl = payload_for(c->next_seq++, want);
        if (wl != len || memcmp(want, p, len) != 0)
            c->bad++;
        c->records++;
    }
    c->chunks++;
    return 0;
}

/* Report and record check of the last scan_mem. */
static segfile_report g_rep;
static check g_chk;

/* Write p[0..n) to a probe file and scan it, checking every record. */
static segfile_scan_result scan_mem(const uint8_t *p, size_t n,
                                    const uint8_t *key)
{
    const char *path = path_of("probe");
    memset(&g_chk, 0, sizeof g_chk);
    g_chk.next_seq = 1;
    if (!write_file(path, p, n))
        return SEGFILE_SCAN_IO_ERROR;
    return segfile_scan(path, key, check_chunk, &g_chk, &g_rep);
}

static void test_roundtrip(void)
{
    seg *s = &g_seg;
    T_REQUIRE(seg_write(s, "log.1", NULL));
    const char *path = path_of("log.1");
    g_chk = (check){.next_seq = 1};
    T_EQ_I64(segfile_scan(path, NULL, check_chunk, &g_chk, &g_rep),
             SEGFILE_SCAN_CLEAN);
    T_EQ_I64(g_chk.bad, 0);
    T_EQ_I64(g_chk.records, s->records);
    T_EQ_I64(g_rep.records, s->records);
    T_EQ_I64(g_rep.chunks, N_CHUNKS);
    T_EQ_I64(g_rep.valid_end_offset, s->len);
    T_EQ_I64(g_rep.first_seq, 1);
    T_EQ_I64(g_rep.last_seq, s->next_seq - 1u);
    T_EQ_I64(g_rep.header.kind, SEGFILE_KIND_LOG);
    T_EQ_I64(g_rep.header.segno, SEGNO);
    T_CHECK(g_rep.header.created_ms == CREATED_MS);
    T_EQ_I64(s->off[0], SEGFILE_HEADER_BYTES);
    /* Header only: clean and empty. */
    T_EQ_I64(scan_mem(s->bytes, SEGFILE_HEADER_BYTES, NULL),
             SEGFILE_SCAN_CLEAN);
    T_EQ_I64(g_rep.chunks, 0);
    T_EQ_I64(g_rep.valid_end_offset, SEGFILE_HEADER_BYTES);
}

/* A cut anywhere in chunk k (or at its end) leaves k chunks good. */
static void expect_cut(const seg *s, size_t cut, unsigned k)
{
    segfile_scan_result r = scan_mem(s->bytes, cut, NULL);
    if (cut == s->off[k]) {
        T_EQ_I64(r, SEGFILE_SCAN_CLEAN);
    } else {
        T_EQ_I64(r, SEGFILE_SCAN_TORN_TAIL);
        T_EQ_I64(g_rep.bad_offset, s->off[k]);
    }
    T_EQ_I64(g_rep.valid_end_offset, s->off[k]);
    T_EQ_I64(g_rep.chunks, k);
    T_EQ_I64(g_chk.chunks, k);
    T_EQ_I64(g_chk.bad, 0);
}

static void test_torn_tail_every_offset(void)
{
    seg *s = &g_seg;
    T_REQUIRE(seg_write(s, "log", NULL));
    unsigned last = N_CHUNKS - 1u;
    for (size_t cut = s->off[last]; cut < s->len; cut++)
        expect_cut(s, cut, last);
    for (unsigned i = 0; i < EARLY_CUTS; i++) {
        size_t cut = s->off[0] + (size_t)(rng() % (s->off[last] - s->off[0]));
        unsigned k = 0;
        while (s->off[k + 1u] <= cut)
            k++;
        expect_cut(s, cut, k);
    }
}

/* Damage confined to the last chunk (flips, zeroed tail, trailing junk)
 * is indistinguishable from a torn write: TORN_TAIL at its start. */
static void test_last_chunk_damage_is_torn(void)
{
    seg *s = &g_seg;
    T_REQUIRE(seg_write(s, "log", NULL));
    uint64_t start = s->off[N_CHUNKS - 1u];
    for (unsigned i = 0; i < LAST_FLIPS; i++) {
        size_t at = start + (size_t)(rng() % (s->len - start));
        uint8_t mask = (uint8_t)(1u + rng() % 255u);
        s->bytes[at] ^= mask;
        T_EQ_I64(scan_mem(s->bytes, s->len, NULL), SEGFILE_SCAN_TORN_TAIL);
        T_EQ_I64(g_rep.valid_end_offset, start);
        s->bytes[at] ^= mask;
    }
    uint8_t *z = calloc(1, s->len + 100u);
    T_REQUIRE(z != NULL);
    memcpy(z, s->bytes, s->len);
    memset(z + start + 10u, 0, s->len - start - 10u); /* power loss zeros */
    T_EQ_I64(scan_mem(z, s->len, NULL), SEGFILE_SCAN_TORN_TAIL);
    T_EQ_I64(g_rep.valid_end_offset, start);
    memcpy(z, s->bytes, s->len); /* zeros after a clean end */
    T_EQ_I64(scan_mem(z, s->len + 100u, NULL), SEGFILE_SCAN_TORN_TAIL);
    T_EQ_I64(g_rep.valid_end_offset, s->len);
    T_EQ_I64(g_rep.chunks, N_CHUNKS);
    free(z);
}

/* A flip in chunk k with good chunks after it: refuse, point at k. */
static void test_corrupt_middle(void)
{
    seg *s = &g_seg;
    T_REQUIRE(seg_write(s, "log", NULL));
    for (unsigned k = 0; k + 1u < N_CHUNKS; k++) {
        for (unsigned i = 0; i < MIDDLE_FLIPS_PER_CHUNK; i++) {
            size_t span = s->off[k + 1] - s->off[k];
            size_t at = s->off[k] + (size_t)(rng() % span);
            s->bytes[at] ^= 0x40;
            T_EQ_I64(scan_mem(s->bytes, s->len, NULL),
                     SEGFILE_SCAN_CORRUPT_MIDDLE);
            T_EQ_I64(g_rep.bad_offset, s->off[k]);
            T_EQ_I64(g_rep.next_valid_offset, s->off[k + 1]);
            T_EQ_I64(g_rep.valid_end_offset, s->off[k]);
            T_EQ_I64(g_chk.chunks, k);
            s->bytes[at] ^= 0x40;
        }
    }
}

/* Chunks whose own hashes verify but that sit in the wrong place were
 * written that way: no crash does that, even at the end of the file. */
static void test_reordered_and_duplicated(void)
{
    seg *s = &g_seg;
    T_REQUIRE(seg_write(s, "log", NULL));
    size_t last = s->off[N_CHUNKS - 1u], last_len = s->len - last;
    uint8_t *dup = malloc(s->len + last_len);
    T_REQUIRE(dup != NULL);
    memcpy(dup, s->bytes, s->len);
    memcpy(dup + s->len, s->bytes + last, last_len);
    T_EQ_I64(scan_mem(dup, s->len + last_len, NULL),
             SEGFILE_SCAN_CORRUPT_MIDDLE);
    T_EQ_I64(g_rep.chunk_status, CHUNK_BAD_CHAIN);
    T_EQ_I64(g_rep.bad_offset, s->len);
    /* Swap the last two chunks. */
    size_t prev = s->off[N_CHUNKS - 2u], prev_len = last - prev;
    memcpy(dup, s->bytes, prev);
    memcpy(dup + prev, s->bytes + last, last_len);
    memcpy(dup + prev + last_len, s->bytes + prev, prev_len);
    T_EQ_I64(scan_mem(dup, s->len, NULL), SEGFILE_SCAN_CORRUPT_MIDDLE);
    T_EQ_I64(g_rep.bad_offset, prev);
    /* Drop a middle chunk entirely. */
    memcpy(dup, s->bytes, s->off[3]);
    memcpy(dup + s->off[3], s->bytes + s->off[4], s->len - s->off[4]);
    size_t dropped = s->off[4] - s->off[3];
    T_EQ_I64(scan_mem(dup, s->len - dropped, NULL),
             SEGFILE_SCAN_CORRUPT_MIDDLE);
    T_EQ_I64(g_rep.chunk_status, CHUNK_BAD_CHAIN);
    free(dup);
}

/* Cut a torn tail, reopen, append more: the file scans clean with every
 * record, old and new. Works the same when encrypted (fresh stream). */
static void truncate_reappend(const uint8_t *key)
{
    seg *s = &g_seg;
    T_REQUIRE(seg_write(s, "log", key));
    const char *path = path_of("log");
    size_t cut = s->off[N_CHUNKS - 1u] + 5u;
    T_REQUIRE(truncate(path, (off_t)cut) == 0);
    segfile_writer *w = NULL;
    T_EQ_I64(segfile_open_append(g_dir, "log", key, &w), SEGFILE_ERR_NOT_CLEAN);
    T_CHECK(w == NULL);
    segfile_report rep;
    T_EQ_I64(segfile_scan(path, key, NULL, NULL, &rep), SEGFILE_SCAN_TORN_TAIL);
    T_EQ_I64(segfile_truncate(path, SEGFILE_HEADER_BYTES - 1u),
             SEGFILE_ERR_ARG);
    T_EQ_I64(segfile_truncate(path, cut + 1u), SEGFILE_ERR_ARG);
    T_EQ_I64(segfile_truncate(path, rep.valid_end_offset), SEGFILE_OK);
    T_EQ_I64(segfile_scan(path, key, NULL, NULL, &rep), SEGFILE_SCAN_CLEAN);
    /* The records of the cut chunk are gone; sequence continues after the
     * last durable one. */
    s->next_seq = rep.last_seq + 1u;
    s->records = rep.records;
    for (unsigned round = 0; round < 2u; round++) { /* reopen twice */
        T_REQUIRE(segfile_open_append(g_dir, "log", key, &w) == SEGFILE_OK);
        T_EQ_I64(segfile_writer_offset(w), rep.valid_end_offset);
        T_CHECK(segfile_writer_prev_hash(w) == rep.last_hash);
        T_CHECK(append_chunk(w, s, 3));
        T_CHECK(append_chunk(w, s, 2));
        T_EQ_I64(segfile_sync(w), SEGFILE_OK);
        T_EQ_I64(segfile_close(w), SEGFILE_OK);
        check c = {.next_seq = 1};
        T_EQ_I64(segfile_scan(path, key, check_chunk, &c, &rep),
                 SEGFILE_SCAN_CLEAN);
        T_EQ_I64(c.bad, 0);
        T_EQ_I64(rep.records, s->records);
        T_EQ_I64(c.records, s->records);
    }
}

static void test_truncate_then_reappend(void) { truncate_reappend(NULL); }

static void test_encrypted_truncate_then_reappend(void)
{
    uint8_t key[SEGFILE_KEY_BYTES];
    memset(key, 0x42, sizeof key);
    truncate_reappend(key);
}

/* Rewrite chunk k's body byte `at` and fix both unkeyed hashes, as a
 * forger without the key would. */
static void forge_body(uint8_t *bytes, size_t chunk_off, size_t at)
{
    chunk_header h;
    chunk_header_unpack(bytes + chunk_off, &h);
    bytes[chunk_off + CHUNK_HEADER_BYTES + at] ^= 0x01;
    h.body_hash = XXH3_64bits(bytes + chunk_off + CHUNK_HEADER_BYTES,
                              h.stored_len);
    chunk_header_pack(&h, bytes + chunk_off);
}

static void test_encrypted(void)
{
    uint8_t key[SEGFILE_KEY_BYTES], wrong[SEGFILE_KEY_BYTES];
    for (size_t i = 0; i < sizeof key; i++) {
        key[i] = (uint8_t)rng();
        wrong[i] = key[i];
    }
    wrong[5] ^= 1;
    seg *s = &g_seg;
    T_REQUIRE(seg_write(s, "enc", key));
    T_EQ_I64(scan_mem(s->bytes, s->len, key), SEGFILE_SCAN_CLEAN);
    T_EQ_I64(g_chk.records, s->records);
    T_EQ_I64(g_chk.bad, 0);
    T_CHECK(g_rep.header.flags & SEGFILE_FLAG_ENCRYPTED);
    T_EQ_I64(scan_mem(s->bytes, s->len, wrong), SEGFILE_SCAN_KEY_ERROR);
    T_EQ_I64(g_rep.detail, SEGFILE_ERR_BAD_KEY);
    T_EQ_I64(g_chk.chunks, 0);
    T_EQ_I64(scan_mem(s->bytes, s->len, NULL), SEGFILE_SCAN_KEY_ERROR);
    T_EQ_I64(g_rep.detail, SEGFILE_ERR_KEY_REQUIRED);
    /* Plain ciphertext flip in a middle chunk: the body hash catches it. */
    size_t mid = s->off[3];
    s->bytes[mid + CHUNK_HEADER_BYTES + 2u] ^= 0x08;
    T_EQ_I64(scan_mem(s->bytes, s->len, key), SEGFILE_SCAN_CORRUPT_MIDDLE);
    T_EQ_I64(g_rep.bad_offset, mid);
    s->bytes[mid + CHUNK_HEADER_BYTES + 2u] ^= 0x08;
    /* Forged flip with fixed hashes, even in the LAST chunk: decryption
     * catches it, and it is damage, not a torn tail. */
    size_t last = s->off[N_CHUNKS - 1u];
    forge_body(s->bytes, last, 3);
    T_EQ_I64(scan_mem(s->bytes, s->len, key), SEGFILE_SCAN_CORRUPT_MIDDLE);
    T_EQ_I64(g_rep.chunk_status, CHUNK_BAD_SEAL);
    T_EQ_I64(g_rep.bad_offset, last);
    T_EQ_I64(g_chk.chunks, N_CHUNKS - 1u);
    forge_body(s->bytes, last, 3); /* flip back */
    /* Header edit with a fixed header hash: the AD no longer matches. */
    chunk_header h;
    chunk_header_unpack(s->bytes + mid, &h);
    h.last_seq++;
    chunk_header_pack(&h, s->bytes + mid);
    T_EQ_I64(scan_mem(s->bytes, s->len, key), SEGFILE_SCAN_CORRUPT_MIDDLE);
    T_EQ_I64(g_rep.chunk_status, CHUNK_BAD_SEAL);
    T_EQ_I64(g_rep.bad_offset, mid);
}

/* No plaintext leaks; file header edits need the key; a plaintext chunk
 * spliced into an encrypted file is refused; raw appends are refused. */
static void test_encrypted_forgeries(void)
{
    static const char marker[] = "PLAINTEXT-MARKER-0123456789";
    uint8_t key[SEGFILE_KEY_BYTES];
    memset(key, 0x17, sizeof key);
    segfile_writer *w;
    T_REQUIRE(segfile_create(g_dir, "e", SEGFILE_KIND_SNAPSHOT, 1, 2, key,
                             &w) == SEGFILE_OK);
    chunk_builder b;
    chunk_builder_init(&b);
    T_REQUIRE(chunk_builder_add(&b, 1, marker, sizeof marker) == CHUNK_OK);
    T_EQ_I64(segfile_append_records(w, &b, 0, NULL), SEGFILE_OK);
    chunk_codec cc;
    T_REQUIRE(chunk_codec_init(&cc) == CHUNK_OK);
    uint64_t hash;
    T_REQUIRE(chunk_encode(&cc, &b, segfile_writer_prev_hash(w), 0, LEVEL, NULL,
                           &hash) == CHUNK_OK);
    T_EQ_I64(segfile_append(w, cc.out.data, cc.out.len), SEGFILE_ERR_ARG);
    T_EQ_I64(segfile_sync(w), SEGFILE_OK);
    T_EQ_I64(segfile_close(w), SEGFILE_OK);
    const char *path = path_of("e");
    uint8_t *bytes;
    size_t len;
    T_REQUIRE(read_file(path, &bytes, &len));
    T_CHECK(memmem(bytes, len, marker, 10) == NULL);
    uint8_t *spliced = malloc(len + cc.out.len);
    T_REQUIRE(spliced != NULL);
    memcpy(spliced, bytes, len);
    memcpy(spliced + len, cc.out.data, cc.out.len);
    T_EQ_I64(scan_mem(spliced, len + cc.out.len, key),
             SEGFILE_SCAN_CORRUPT_MIDDLE);
    T_EQ_I64(g_rep.chunk_status, CHUNK_BAD_FIELDS);
    bytes[16] ^= 1; /* segno, then fix the XXH3 header hash */
    chunk_le_put64(bytes + 72, XXH3_64bits(bytes, 72));
    T_EQ_I64(scan_mem(bytes, len, key), SEGFILE_SCAN_KEY_ERROR);
    T_EQ_I64(g_rep.detail, SEGFILE_ERR_BAD_KEY);
    free(spliced);
    free(bytes);
    chunk_codec_free(&cc);
    chunk_builder_free(&b);
}

static void test_file_header(void)
{
    seg *s = &g_seg;
    T_REQUIRE(seg_write(s, "log", NULL));
    uint8_t key[SEGFILE_KEY_BYTES] = {1};
    T_EQ_I64(scan_mem(s->bytes, s->len, key), SEGFILE_SCAN_KEY_ERROR);
    T_EQ_I64(g_rep.detail, SEGFILE_ERR_KEY_UNEXPECTED);
    for (size_t n = 0; n < SEGFILE_HEADER_BYTES; n++) {
        T_EQ_I64(scan_mem(s->bytes, n, NULL), SEGFILE_SCAN_BAD_FILE_HEADER);
        T_EQ_I64(g_rep.detail, SEGFILE_ERR_SHORT_HEADER);
    }
    for (size_t i = 0; i < SEGFILE_HEADER_BYTES; i++) {
        s->bytes[i] ^= 0x20;
        T_EQ_I64(scan_mem(s->bytes, s->len, NULL),
                 SEGFILE_SCAN_BAD_FILE_HEADER);
        T_EQ_I64(g_rep.detail, SEGFILE_ERR_HEADER);
        T_EQ_I64(g_chk.chunks, 0);
        s->bytes[i] ^= 0x20;
    }
    s->bytes[4] = 9; /* version, hash fixed */
    chunk_le_put64(s->bytes + 72, XXH3_64bits(s->bytes, 72));
    T_EQ_I64(scan_mem(s->bytes, s->len, NULL), SEGFILE_SCAN_BAD_FILE_HEADER);
    T_EQ_I64(g_rep.detail, SEGFILE_ERR_VERSION);
    T_EQ_I64(segfile_scan(path_of("missing"), NULL, NULL, NULL, &g_rep),
             SEGFILE_SCAN_IO_ERROR);
    T_EQ_I64(g_rep.sys_errno, ENOENT);
    T_EQ_I64(segfile_scan(g_dir, NULL, NULL, NULL, &g_rep),
             SEGFILE_SCAN_IO_ERROR);
}

static int stop_at_second(void *ctx, const chunk_header *h,
                          const uint8_t *raw, size_t raw_len, uint64_t off)
{
    int *n = ctx;
    (void)h, (void)raw, (void)raw_len, (void)off;
    return ++*n == 2 ? 7 : 0;
}

static void test_create_errors_and_abort(void)
{
    segfile_writer *w = NULL;
    static const char *const bad_names[] = {"a/b", "", "..", "."};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        T_EQ_I64(segfile_create(g_dir, bad_names[i], SEGFILE_KIND_LOG, 1, 0,
                                NULL, &w), SEGFILE_ERR_ARG);
    T_EQ_I64(segfile_create(g_dir, "x", (segfile_kind)9, 1, 0, NULL, &w),
             SEGFILE_ERR_ARG);
    T_EQ_I64(segfile_create("/nonexistent-qd", "x", SEGFILE_KIND_LOG, 1, 0,
                            NULL, &w), SEGFILE_ERR_IO);
    seg *s = &g_seg;
    T_REQUIRE(seg_write(s, "log", NULL));
    T_EQ_I64(segfile_create(g_dir, "log", SEGFILE_KIND_LOG, 1, 0, NULL, &w),
             SEGFILE_ERR_IO);
    T_EQ_I64(errno, EEXIST);
    T_CHECK(w == NULL);
    const char *path = path_of("log");
    segfile_report rep;
    int n = 0;
    T_EQ_I64(segfile_scan(path, NULL, stop_at_second, &n, &rep),
             SEGFILE_SCAN_ABORTED);
    T_EQ_I64(rep.callback_rc, 7);
    T_EQ_I64(rep.chunks, 1);
    T_EQ_I64(rep.bad_offset, s->off[1]);
}

/* Caller-encoded chunks: verified before writing; a bad one is refused
 * without failing the writer. */
static void test_append_encoded(void)
{
    segfile_writer *w;
    T_REQUIRE(segfile_create(g_dir, "raw", SEGFILE_KIND_LOG, 1, 0, NULL, &w) ==
              SEGFILE_OK);
    chunk_builder b;
    chunk_builder_init(&b);
    T_REQUIRE(chunk_builder_add(&b, 1, "one", 3) == CHUNK_OK);
    chunk_codec cc;
    T_REQUIRE(chunk_codec_init(&cc) == CHUNK_OK);
    uint64_t h1, h2;
    T_REQUIRE(chunk_encode(&cc, &b, 12345, 0, LEVEL, NULL, &h1) == CHUNK_OK);
    T_EQ_I64(segfile_append(w, cc.out.data, cc.out.len), SEGFILE_ERR_ARG);
    T_REQUIRE(chunk_encode(&cc, &b, segfile_writer_prev_hash(w), 0, LEVEL, NULL,
                           &h1) == CHUNK_OK);
    uint8_t two[1024];
    T_REQUIRE(cc.out.len < sizeof two / 2u);
    size_t l1 = cc.out.len;
    memcpy(two, cc.out.data, l1);
    T_EQ_I64(segfile_append(w, two, l1 - 1u), SEGFILE_ERR_ARG); /* partial */
    T_REQUIRE(chunk_encode(&cc, &b, h1, 0, LEVEL, NULL, &h2) == CHUNK_OK);
    memcpy(two + l1, cc.out.data, cc.out.len);
    T_EQ_I64(segfile_append(w, two, l1 + cc.out.len), SEGFILE_OK);
    T_CHECK(segfile_writer_prev_hash(w) == h2);
    T_EQ_I64(segfile_sync(w), SEGFILE_OK);
    T_EQ_I64(segfile_close(w), SEGFILE_OK);
    const char *path = path_of("raw");
    segfile_report rep;
    T_EQ_I64(segfile_scan(path, NULL, NULL, NULL, &rep), SEGFILE_SCAN_CLEAN);
    T_EQ_I64(rep.chunks, 2);
    chunk_codec_free(&cc);
    chunk_builder_free(&b);
}

/* After a failure every call returns it, even once the fault is gone. */
static void expect_sticky(segfile_writer *w, segfile_status want)
{
    chunk_builder b;
    chunk_builder_init(&b);
    T_REQUIRE(chunk_builder_add(&b, 1, "z", 1) == CHUNK_OK);
    uint8_t junk[CHUNK_HEADER_BYTES] = {0};
    for (int i = 0; i < 3; i++) {
        T_EQ_I64(segfile_writer_status(w), want);
        T_EQ_I64(segfile_append_records(w, &b, LEVEL, NULL), want);
        T_EQ_I64(segfile_append(w, junk, sizeof junk), want);
        T_EQ_I64(segfile_sync(w), want);
    }
    chunk_builder_free(&b);
}

/* Write one chunk, then slide `fault` under the writer's descriptor so
 * the next append (or, with on_sync, the next fsync) fails; restore the
 * real file and check the failure stays. */
static void sticky_case(const char *name, int fault, int on_sync,
                        segfile_status want, int want_errno)
{
    chunk_builder b;
    chunk_builder_init(&b);
    segfile_writer *w;
    T_REQUIRE(chunk_builder_add(&b, 1, "abc", 3) == CHUNK_OK);
    T_REQUIRE(segfile_create(g_dir, name, SEGFILE_KIND_LOG, 1, 0, NULL, &w) ==
              SEGFILE_OK);
    T_EQ_I64(segfile_append_records(w, &b, LEVEL, NULL), SEGFILE_OK);
    int fd = segfile_writer_fd(w), saved = dup(fd);
    T_REQUIRE(saved >= 0 && dup2(fault, fd) == fd);
    segfile_status st = segfile_append_records(w, &b, LEVEL, NULL);
    if (on_sync) {
        T_EQ_I64(st, SEGFILE_OK);
        st = segfile_sync(w);
    }
    T_EQ_I64(st, want);
    T_EQ_I64(segfile_writer_errno(w), want_errno);
    T_REQUIRE(dup2(saved, fd) == fd); /* the fault is gone: still failed */
    expect_sticky(w, want);
    T_EQ_I64(segfile_close(w), want);
    close(saved);
    chunk_builder_free(&b);
}

static void test_failed_writer_is_sticky(void)
{
    /* Read-only: the write fails. /dev/null for writing: the pwrite
     * succeeds, the fdatasync fails (EINVAL on a character device). */
    int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int wo = open("/dev/null", O_WRONLY | O_CLOEXEC);
    T_REQUIRE(ro >= 0 && wo >= 0);
    sticky_case("w1", ro, 0, SEGFILE_ERR_WRITE, EBADF);
    sticky_case("w2", wo, 1, SEGFILE_ERR_SYNC, EINVAL); /* fdatasync */
    close(ro);
    close(wo);
    const char *path = path_of("w1"); /* the failed write changed nothing */
    segfile_report rep;
    T_EQ_I64(segfile_scan(path, NULL, NULL, NULL, &rep), SEGFILE_SCAN_CLEAN);
    T_EQ_I64(rep.chunks, 1);
    /* The descriptor closed underneath (EBADF on write). */
    segfile_writer *w;
    chunk_builder b;
    chunk_builder_init(&b);
    T_REQUIRE(segfile_create(g_dir, "w3", SEGFILE_KIND_LOG, 1, 0, NULL, &w) ==
              SEGFILE_OK);
    close(segfile_writer_fd(w));
    T_EQ_I64(segfile_append_records(w, &b, LEVEL, NULL), SEGFILE_ERR_WRITE);
    expect_sticky(w, SEGFILE_ERR_WRITE);
    T_EQ_I64(segfile_close(w), SEGFILE_ERR_WRITE);
    chunk_builder_free(&b);
}

static segfile_status key_case(const void *content, size_t n, mode_t mode,
                               uint8_t key[SEGFILE_KEY_BYTES])
{
    const char *path = path_of("key");
    unlink(path);
    if (!write_file(path, (const uint8_t *)content, n) ||
        chmod(path, mode) != 0)
        return SEGFILE_ERR_IO;
    return segfile_load_key(path, key);
}

static void test_load_key(void)
{
    static const char hex[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    static const char nothex[] =
        "0001020304g5060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    uint8_t key[SEGFILE_KEY_BYTES], want[SEGFILE_KEY_BYTES], big[200];
    for (size_t i = 0; i < sizeof want; i++)
        want[i] = (uint8_t)i;
    memset(big, 'a', sizeof big);
    const struct {
        const void *content;
        size_t n;
        mode_t mode;
        segfile_status want;
    } cases[] = {
        {want, 32, 0600, SEGFILE_OK},   {hex, 64, 0400, SEGFILE_OK},
        {hex, 65, 0600, SEGFILE_OK},    {hex, 65, 0640, SEGFILE_ERR_KEY_PERMS},
        {hex, 65, 0604, SEGFILE_ERR_KEY_PERMS},
        {hex, 65, 0620, SEGFILE_ERR_KEY_PERMS},
        {hex, 31, 0600, SEGFILE_ERR_KEY_FILE},
        {hex, 33, 0600, SEGFILE_ERR_KEY_FILE},
        {hex, 63, 0600, SEGFILE_ERR_KEY_FILE},
        {big, 65, 0600, SEGFILE_ERR_KEY_FILE}, /* 65 chars, no newline */
        {nothex, 64, 0600, SEGFILE_ERR_KEY_FILE},
        {big, sizeof big, 0600, SEGFILE_ERR_KEY_FILE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(key, 0xee, sizeof key);
        T_EQ_I64(key_case(cases[i].content, cases[i].n, cases[i].mode, key),
                 cases[i].want);
        if (cases[i].want == SEGFILE_OK)
            T_CHECK(memcmp(key, want, sizeof key) == 0);
    }
    const char *path = path_of("nokey");
    T_EQ_I64(segfile_load_key(path, key), SEGFILE_ERR_IO);
    T_EQ_I64(segfile_load_key(g_dir, key), SEGFILE_ERR_KEY_FILE);
}

static int dir_entries(void)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    if (d == NULL)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_atomic_write_and_fsync_dir(void)
{
    const char *path = path_of("CURRENT");
    uint8_t *got;
    size_t len;
    T_EQ_I64(segfile_atomic_write_file(g_dir, "CURRENT", "snap.1\n", 7),
             SEGFILE_OK);
    T_REQUIRE(read_file(path, &got, &len));
    T_CHECK(len == 7 && memcmp(got, "snap.1\n", 7) == 0);
    free(got);
    T_EQ_I64(segfile_atomic_write_file(g_dir, "CURRENT", "snap.22\n", 8),
             SEGFILE_OK);
    T_REQUIRE(read_file(path, &got, &len));
    T_CHECK(len == 8 && memcmp(got, "snap.22\n", 8) == 0);
    free(got);
    T_EQ_I64(segfile_atomic_write_file(g_dir, "EMPTY", NULL, 0), SEGFILE_OK);
    T_EQ_I64(dir_entries(), 2); /* no temp files left */
    T_EQ_I64(segfile_atomic_write_file(g_dir, "a/b", "x", 1), SEGFILE_ERR_ARG);
    T_EQ_I64(segfile_atomic_write_file(g_dir, "big", "x",
                                       SEGFILE_SMALL_FILE_BYTES_MAX + 1u),
             SEGFILE_ERR_ARG);
    T_EQ_I64(segfile_atomic_write_file("/nonexistent-qd", "x", "x", 1),
             SEGFILE_ERR_IO);
    T_EQ_I64(segfile_fsync_dir(g_dir), SEGFILE_OK);
    T_EQ_I64(segfile_fsync_dir("/nonexistent-qd"), SEGFILE_ERR_IO);
    T_CHECK(strlen(segfile_status_str(SEGFILE_ERR_KEY_PERMS)) > 0);
    T_CHECK(strlen(segfile_scan_result_str(SEGFILE_SCAN_TORN_TAIL)) > 0);
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_torn_tail_every_offset);
    RUN(test_last_chunk_damage_is_torn);
    RUN(test_corrupt_middle);
    RUN(test_reordered_and_duplicated);
    RUN(test_truncate_then_reappend);
    RUN(test_encrypted_truncate_then_reappend);
    RUN(test_encrypted);
    RUN(test_encrypted_forgeries);
    RUN(test_file_header);
    RUN(test_create_errors_and_abort);
    RUN(test_append_encoded);
    RUN(test_failed_writer_is_sticky);
    RUN(test_load_key);
    RUN(test_atomic_write_and_fsync_dir);
    return t_done();
}
