/* test_segwindow -- the scan's torn-window rule (segfile_scan.c).
 *
 * A power loss can persist pages written since the last sync in any
 * order: a later chunk whole, an earlier one torn. Each chunk records
 * the bytes durable when it was written (sync_floor), so a damaged chunk
 * followed only by chunks written before it was synced is a torn tail
 * (cut), while one followed by a chunk written after a sync covering it
 * is damage (refused). Segments here: chunks 0-2 each synced, then 3-5
 * written with no sync in between (--fsync everysec / no between syncs).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "chunk.h"
#include "chunk_le.h"
#include "lib/daemon.h"
#include "lib/persist_util.h"
#include "segfile.h"
#include "t.h"

#define LEVEL 1
#define N_CHUNKS 6u
#define N_SYNCED 3u                /* chunks 0..2 synced one by one */
#define RECS_PER_CHUNK 3u
#define PAYLOAD_BYTES 40u
#define SEGNO 5u
#define CREATED_MS 1700000000000ULL
#define OFF_SYNC_FLOOR 20u         /* chunk.h layout */
#define OFF_HEADER_HASH 56u

static char g_dir[64];
static uint64_t g_off[N_CHUNKS + 1u];  /* chunk starts; [N] = file end */
static uint8_t *g_bytes;
static size_t g_len;
static segfile_report g_rep;
static uint64_t g_seen;                /* chunks the scan delivered */

static const char *path_of(const char *name)
{
    return pu_path(g_dir, name);
}

static int append_chunk(segfile_writer *w, uint64_t *seq)
{
    chunk_builder b;
    chunk_builder_init(&b);
    uint8_t p[PAYLOAD_BYTES];
    int ok = 1;
    for (unsigned r = 0; r < RECS_PER_CHUNK && ok; r++) {
        memset(p, (int)(*seq & 0xffu), sizeof p);
        ok = chunk_builder_add(&b, (*seq)++, p, sizeof p) == CHUNK_OK;
    }
    ok = ok && segfile_append_records(w, &b, LEVEL, NULL) == SEGFILE_OK;
    chunk_builder_free(&b);
    return ok;
}

static int read_all(const char *path)
{
    g_bytes = pu_read_bin(path, SEGFILE_BYTES_MAX, &g_len);
    return g_bytes != NULL;
}

/* The shared segment: N_SYNCED chunks synced one by one, then the rest
 * with no sync until the end. */
static int seg_write(void)
{
    segfile_writer *w;
    if (segfile_create(g_dir, "log", SEGFILE_KIND_LOG, SEGNO, CREATED_MS,
                       NULL, &w) != SEGFILE_OK)
        return 0;
    uint64_t seq = 1;
    int ok = 1;
    for (unsigned i = 0; i < N_CHUNKS && ok; i++) {
        g_off[i] = segfile_writer_offset(w);
        ok = append_chunk(w, &seq);
        if (i < N_SYNCED)
            ok = ok && segfile_sync(w) == SEGFILE_OK;
    }
    g_off[N_CHUNKS] = segfile_writer_offset(w);
    ok = ok && segfile_sync(w) == SEGFILE_OK;
    ok = segfile_close(w) == SEGFILE_OK && ok;
    return ok && read_all(path_of("log")) && g_len == g_off[N_CHUNKS];
}

static int count_chunk(void *ctx, const chunk_header *h, const uint8_t *raw,
                       size_t raw_len, uint64_t off)
{
    (void)ctx, (void)h, (void)raw, (void)raw_len, (void)off;
    g_seen++;
    return 0;
}

/* Scan a copy of buf (the shared bytes, edited). */
static segfile_scan_result scan_copy(const uint8_t *buf, size_t len)
{
    const char *path = path_of("probe");
    if (pu_write_file(path, buf, len) != 0)
        return SEGFILE_SCAN_IO_ERROR;
    g_seen = 0;
    return segfile_scan(path, NULL, count_chunk, NULL, &g_rep);
}

static uint32_t floor_of(unsigned k)
{
    return chunk_le_get32(g_bytes + g_off[k] + OFF_SYNC_FLOOR);
}

/* Set chunk k's floor and fix its header hash (what a buggy writer could
 * produce: the chunk verifies on its own). */
static void set_floor(uint8_t *buf, unsigned k, uint32_t floor)
{
    uint8_t *h = buf + g_off[k];
    chunk_le_put32(h + OFF_SYNC_FLOOR, floor);
    chunk_le_put64(h + OFF_HEADER_HASH, XXH3_64bits(h, OFF_HEADER_HASH));
}

static int setup(void)
{
    return pu_scratch_make(g_dir, sizeof g_dir, "test_segwindow") == 0 &&
           seg_write();
}

static void teardown(void)
{
    td_remove_tree(g_dir);
    free(g_bytes);
    g_bytes = NULL;
}

/* What the writer recorded: synced chunks claim everything before them;
 * the unsynced ones all claim the end of the last synced chunk. */
static void test_floors_written(void)
{
    T_EQ_I64(floor_of(0), SEGFILE_HEADER_BYTES);
    for (unsigned k = 1; k < N_CHUNKS; k++)
        T_EQ_I64(floor_of(k), k <= N_SYNCED ? g_off[k] : g_off[N_SYNCED]);
    T_EQ_I64(scan_copy(g_bytes, g_len), SEGFILE_SCAN_CLEAN);
    T_EQ_I64(g_seen, N_CHUNKS);
}

/* Damage in any unsynced chunk, whole chunks after it: a torn tail cut
 * at the damaged chunk, with the later ones counted. */
static void test_unsynced_damage_is_torn(void)
{
    uint8_t *buf = malloc(g_len);
    T_REQUIRE(buf != NULL);
    for (unsigned k = N_SYNCED; k + 1u < N_CHUNKS; k++) {
        for (int zero = 0; zero <= 1; zero++) {
            memcpy(buf, g_bytes, g_len);
            if (zero) /* a page never written back */
                memset(buf + g_off[k], 0, g_off[k + 1] - g_off[k]);
            else
                buf[g_off[k] + (g_off[k + 1] - g_off[k]) / 2u] ^= 0x10;
            T_EQ_I64(scan_copy(buf, g_len), SEGFILE_SCAN_TORN_TAIL);
            T_EQ_I64(g_rep.valid_end_offset, g_off[k]);
            T_EQ_I64(g_rep.bad_offset, g_off[k]);
            T_EQ_I64(g_rep.unsynced_chunks, N_CHUNKS - 1u - k);
            T_EQ_I64(g_rep.zero_tail, 0);
            T_EQ_I64(g_seen, k);
        }
    }
    free(buf);
}

/* Damage in a synced chunk: some later chunk was written after a sync
 * that covered it, so no crash explains it: refused. */
static void test_synced_damage_is_corrupt(void)
{
    uint8_t *buf = malloc(g_len);
    T_REQUIRE(buf != NULL);
    for (unsigned k = 0; k < N_SYNCED; k++) {
        memcpy(buf, g_bytes, g_len);
        buf[g_off[k] + CHUNK_HEADER_BYTES] ^= 0x01;
        T_EQ_I64(scan_copy(buf, g_len), SEGFILE_SCAN_CORRUPT_MIDDLE);
        T_EQ_I64(g_rep.bad_offset, g_off[k]);
        T_EQ_I64(g_rep.next_valid_offset, g_off[k + 1]);
    }
    free(buf);
}

/* One later chunk that does not vouch for the window (no floor, as in
 * version 1, or a floor past the damaged chunk) makes it damage. */
static void test_window_needs_every_floor(void)
{
    const unsigned bad = N_SYNCED;
    uint8_t *buf = malloc(g_len);
    T_REQUIRE(buf != NULL);
    const uint32_t floors[] = {0u, (uint32_t)g_off[bad] + 1u,
                               (uint32_t)g_off[bad + 1u]};
    for (size_t i = 0; i < sizeof floors / sizeof floors[0]; i++) {
        memcpy(buf, g_bytes, g_len);
        buf[g_off[bad] + CHUNK_HEADER_BYTES] ^= 0x01;
        set_floor(buf, N_CHUNKS - 1u, floors[i]);
        T_EQ_I64(scan_copy(buf, g_len), SEGFILE_SCAN_CORRUPT_MIDDLE);
        T_EQ_I64(g_rep.bad_offset, g_off[bad]);
    }
    /* ... while the same edit to a floor still inside the window is fine */
    memcpy(buf, g_bytes, g_len);
    buf[g_off[bad] + CHUNK_HEADER_BYTES] ^= 0x01;
    set_floor(buf, N_CHUNKS - 1u, SEGFILE_HEADER_BYTES);
    T_EQ_I64(scan_copy(buf, g_len), SEGFILE_SCAN_TORN_TAIL);
    /* A hash-valid chunk that fails for another reason (here its chain)
     * was written that way: never a torn window. */
    memcpy(buf, g_bytes, g_len);
    chunk_le_put64(buf + g_off[bad] + 40u, 12345u); /* prev_hash */
    set_floor(buf, bad, floor_of(bad));
    T_EQ_I64(scan_copy(buf, g_len), SEGFILE_SCAN_CORRUPT_MIDDLE);
    T_EQ_I64(g_rep.chunk_status, CHUNK_BAD_CHAIN);
    free(buf);
}

/* A floor past the chunk's own offset was never true: refused even in
 * an otherwise clean file. */
static void test_floor_past_itself(void)
{
    uint8_t *buf = malloc(g_len);
    T_REQUIRE(buf != NULL);
    memcpy(buf, g_bytes, g_len);
    set_floor(buf, N_CHUNKS - 1u, (uint32_t)g_off[N_CHUNKS - 1u] + 1u);
    T_EQ_I64(scan_copy(buf, g_len), SEGFILE_SCAN_CORRUPT_MIDDLE);
    T_EQ_I64(g_rep.chunk_status, CHUNK_BAD_FIELDS);
    T_EQ_I64(g_rep.bad_offset, g_off[N_CHUNKS - 1u]);
    free(buf);
}

/* Cut at the torn chunk, reopen, append: the reopened writer synced what
 * it found first, so its chunks' floor is the cut point. */
static void test_cut_and_reappend(void)
{
    const char *path = path_of("log");
    FILE *f = fopen(path, "r+b");
    T_REQUIRE(f != NULL);
    T_REQUIRE(fseek(f, (long)(g_off[N_SYNCED] + 8u), SEEK_SET) == 0);
    T_REQUIRE(fputc(0xee, f) != EOF);
    T_REQUIRE(fclose(f) == 0);
    T_EQ_I64(segfile_scan(path, NULL, NULL, NULL, &g_rep),
             SEGFILE_SCAN_TORN_TAIL);
    T_EQ_I64(segfile_truncate(path, g_rep.valid_end_offset), SEGFILE_OK);
    segfile_writer *w;
    T_REQUIRE(segfile_open_append(g_dir, "log", NULL, &w) == SEGFILE_OK);
    uint64_t seq = 1000;
    T_CHECK(append_chunk(w, &seq));
    T_EQ_I64(segfile_close(w), SEGFILE_OK);
    free(g_bytes);
    T_REQUIRE(read_all(path));
    T_EQ_I64(floor_of(N_SYNCED), g_off[N_SYNCED]);
    T_EQ_I64(scan_copy(g_bytes, g_len), SEGFILE_SCAN_CLEAN);
    T_EQ_I64(g_seen, N_SYNCED + 1u);
}

/* Pre-encoded chunks may not claim more than lies before them. */
static void test_append_checks_floor(void)
{
    segfile_writer *w;
    T_REQUIRE(segfile_create(g_dir, "enc", SEGFILE_KIND_LOG, SEGNO,
                             CREATED_MS, NULL, &w) == SEGFILE_OK);
    chunk_codec cc;
    T_REQUIRE(chunk_codec_init(&cc) == CHUNK_OK);
    chunk_builder b;
    chunk_builder_init(&b);
    T_REQUIRE(chunk_builder_add(&b, 1, "x", 1) == CHUNK_OK);
    uint64_t h = 0;
    uint32_t past = SEGFILE_HEADER_BYTES + 1u;
    T_REQUIRE(chunk_encode(&cc, &b, 0, past, LEVEL, NULL, &h) == CHUNK_OK);
    T_EQ_I64(segfile_append(w, cc.out.data, cc.out.len), SEGFILE_ERR_ARG);
    T_REQUIRE(chunk_encode(&cc, &b, 0, SEGFILE_HEADER_BYTES, LEVEL, NULL,
                           &h) == CHUNK_OK);
    T_EQ_I64(segfile_append(w, cc.out.data, cc.out.len), SEGFILE_OK);
    chunk_builder_free(&b);
    chunk_codec_free(&cc);
    T_EQ_I64(segfile_close(w), SEGFILE_OK);
    T_EQ_I64(segfile_scan(path_of("enc"), NULL, NULL, NULL, &g_rep),
             SEGFILE_SCAN_CLEAN);
    unlink(path_of("enc"));
}

static void (*g_body)(void);

static void in_segment(void)
{
    if (setup())
        g_body();
    else
        T_CHECK(!"segment written");
    teardown();
}

#define RUN(fn) (g_body = (fn), t_run(#fn, in_segment))

int main(void)
{
    RUN(test_floors_written);
    RUN(test_unsynced_damage_is_torn);
    RUN(test_synced_damage_is_corrupt);
    RUN(test_window_needs_every_floor);
    RUN(test_floor_past_itself);
    RUN(test_cut_and_reappend);
    RUN(test_append_checks_floor);
    return t_done();
}
