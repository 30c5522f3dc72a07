/* test_segprep -- preallocated segments: segfile_prepare writes a spare
 * of zeros, segfile_create_prepared turns it into a segment whose chunks
 * overwrite the zeros, segfile_finish cuts the unused rest.
 *
 * What must hold: while open (or after a crash) the file scans as a torn
 * tail with zero_tail set and every written record readable; a tail with
 * any non-zero byte is not called zero; after finish it scans CLEAN at
 * exactly the written size; writing past the prepared size just grows
 * the file; encryption and reopen-for-append work the same; the renames
 * never replace a file, failures leave nothing half-made, and a canceled
 * preparation stops. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "lib/daemon.h"
#include "lib/persist_util.h"
#include "segfile.h"
#include "t.h"

#define LEVEL 1
#define SEGNO 9u
#define CREATED_MS 1700000000000ULL
#define SPARE "spare.tmp"
#define SEG "log-9.qlog"
#define PREP_BYTES (256u * 1024u)
#define SMALL_PREP_BYTES 4096u
#define CHUNKS 6u
#define RECS_PER_CHUNK 5u
#define PAYLOAD_BYTES 200u

static char g_dir[64];

static const char *path_of(const char *name)
{
    return pu_path(g_dir, name);
}

static int64_t file_size(const char *name)
{
    struct stat sb;
    return stat(path_of(name), &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* Record seq's payload: a pure function of seq (random-looking, so zstd
 * does not shrink a chunk to nothing). */
static void payload_for(uint64_t seq, uint8_t *out)
{
    uint64_t x = seq * 0x9e3779b97f4a7c15ULL + 1u;
    for (size_t i = 0; i < PAYLOAD_BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (uint8_t)x;
    }
}

/* Append `chunks` chunks of records next_seq.. to w. */
static int write_chunks(segfile_writer *w, uint64_t *next_seq,
                        unsigned chunks)
{
    chunk_builder b;
    chunk_builder_init(&b);
    uint8_t p[PAYLOAD_BYTES];
    int ok = 1;
    for (unsigned c = 0; c < chunks && ok; c++) {
        chunk_builder_reset(&b);
        for (unsigned r = 0; r < RECS_PER_CHUNK && ok; r++) {
            payload_for(*next_seq, p);
            ok = chunk_builder_add(&b, (*next_seq)++, p, sizeof p) ==
                 CHUNK_OK;
        }
        ok = ok && segfile_append_records(w, &b, LEVEL, NULL) == SEGFILE_OK;
    }
    chunk_builder_free(&b);
    return ok;
}

typedef struct seen {
    uint64_t next_seq, records;
    int bad;
} seen;

static int check_chunk(void *ctx, const chunk_header *h, const uint8_t *raw,
                       size_t raw_len, uint64_t off)
{
    seen *s = ctx;
    size_t pos = 0, len;
    const uint8_t *p;
    uint8_t want[PAYLOAD_BYTES];
    (void)h;
    (void)off;
    while (chunk_record_next(raw, raw_len, &pos, &p, &len) == CHUNK_OK) {
        payload_for(s->next_seq++, want);
        if (len != sizeof want || memcmp(p, want, len) != 0)
            s->bad++;
        s->records++;
    }
    return 0;
}

/* Scan dir/name; the records must be 1..records in order. */
static segfile_scan_result scan(const char *name, const uint8_t *key,
                                uint64_t records, segfile_report *rep)
{
    seen s = {.next_seq = 1};
    segfile_scan_result r = segfile_scan(path_of(name), key, check_chunk, &s,
                                         rep);
    T_EQ_I64(s.records, records);
    T_EQ_I64(s.bad, 0);
    return r;
}

static segfile_writer *make_prepared(uint64_t bytes, const uint8_t *key)
{
    segfile_writer *w = NULL;
    if (segfile_prepare(g_dir, SPARE, bytes, NULL) != SEGFILE_OK)
        return NULL;
    if (file_size(SPARE) != (int64_t)bytes)
        return NULL;
    if (segfile_create_prepared(g_dir, SPARE, SEG, SEGFILE_KIND_LOG, SEGNO,
                                CREATED_MS, key, &w) != SEGFILE_OK)
        return NULL;
    return w;
}

/* Open: a zero tail after the chunks; finished: CLEAN at the exact size. */
static void prepared_cycle(const uint8_t *key)
{
    segfile_writer *w = make_prepared(PREP_BYTES, key);
    T_REQUIRE(w != NULL);
    T_CHECK(segfile_writer_prepared(w));
    T_EQ_I64(file_size(SPARE), -1);           /* renamed, not copied */
    T_EQ_I64(file_size(SEG), PREP_BYTES);
    uint64_t seq = 1;
    T_REQUIRE(write_chunks(w, &seq, CHUNKS));
    T_REQUIRE(segfile_sync(w) == SEGFILE_OK);
    uint64_t end = segfile_writer_offset(w);
    T_CHECK(end < PREP_BYTES);
    T_EQ_I64(file_size(SEG), PREP_BYTES);     /* overwrote, did not grow */

    segfile_report rep;                         /* what a crash leaves */
    T_EQ_I64(scan(SEG, key, seq - 1, &rep), SEGFILE_SCAN_TORN_TAIL);
    T_CHECK(rep.zero_tail);
    T_EQ_I64(rep.valid_end_offset, end);
    T_EQ_I64(rep.header.segno, SEGNO);

    T_REQUIRE(segfile_finish(w) == SEGFILE_OK);
    T_CHECK(segfile_close(w) == SEGFILE_OK);
    T_EQ_I64(file_size(SEG), end);
    T_EQ_I64(scan(SEG, key, seq - 1, &rep), SEGFILE_SCAN_CLEAN);
    T_CHECK(!rep.zero_tail);

    /* A finished prepared segment reopens like any other. */
    T_REQUIRE(segfile_open_append(g_dir, SEG, key, &w) == SEGFILE_OK);
    T_CHECK(!segfile_writer_prepared(w));
    T_REQUIRE(write_chunks(w, &seq, 2));
    T_CHECK(segfile_finish(w) == SEGFILE_OK);
    T_CHECK(segfile_close(w) == SEGFILE_OK);
    T_EQ_I64(scan(SEG, key, seq - 1, &rep), SEGFILE_SCAN_CLEAN);
}

static void test_prepared_roundtrip(void)
{
    prepared_cycle(NULL);
}

static void test_prepared_encrypted(void)
{
    uint8_t key[SEGFILE_KEY_BYTES];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)(i * 7u + 3u);
    prepared_cycle(key);
}

/* Chunks past the prepared size extend the file as a plain append. */
static void test_prepared_overflow(void)
{
    segfile_writer *w = make_prepared(SMALL_PREP_BYTES, NULL);
    T_REQUIRE(w != NULL);
    uint64_t seq = 1;
    T_REQUIRE(write_chunks(w, &seq, CHUNKS * 4u));
    uint64_t end = segfile_writer_offset(w);
    T_CHECK(end > SMALL_PREP_BYTES);
    T_EQ_I64(file_size(SEG), end);
    segfile_report rep;
    T_EQ_I64(scan(SEG, NULL, seq - 1, &rep), SEGFILE_SCAN_CLEAN);
    T_CHECK(segfile_finish(w) == SEGFILE_OK);
    T_CHECK(segfile_close(w) == SEGFILE_OK);
    T_EQ_I64(file_size(SEG), end);
}

/* One stray byte far into the zeros: still a torn tail (no chunk there),
 * but not "all zeros". */
static void test_nonzero_tail_is_not_zero(void)
{
    segfile_writer *w = make_prepared(PREP_BYTES, NULL);
    T_REQUIRE(w != NULL);
    uint64_t seq = 1;
    T_REQUIRE(write_chunks(w, &seq, 2));
    T_REQUIRE(segfile_sync(w) == SEGFILE_OK);
    int fd = open(path_of(SEG), O_WRONLY);
    T_REQUIRE(fd >= 0);
    uint8_t one = 1;
    T_CHECK(pwrite(fd, &one, 1, PREP_BYTES - 1u) == 1);
    close(fd);
    segfile_report rep;
    T_EQ_I64(scan(SEG, NULL, seq - 1, &rep), SEGFILE_SCAN_TORN_TAIL);
    T_CHECK(!rep.zero_tail);
    T_EQ_I64(rep.valid_end_offset, segfile_writer_offset(w));
    T_CHECK(segfile_close(w) == SEGFILE_OK);
}

static void test_prepare_errors(void)
{
    T_EQ_I64(segfile_prepare(g_dir, SPARE, SEGFILE_HEADER_BYTES - 1u, NULL),
             SEGFILE_ERR_ARG);
    T_EQ_I64(segfile_prepare(g_dir, "a/b", PREP_BYTES, NULL), SEGFILE_ERR_ARG);
    T_REQUIRE(segfile_prepare(g_dir, SPARE, PREP_BYTES, NULL) == SEGFILE_OK);
    T_EQ_I64(segfile_prepare(g_dir, SPARE, PREP_BYTES, NULL), SEGFILE_ERR_IO);
    T_EQ_I64(file_size(SPARE), PREP_BYTES);   /* the first is untouched */

    /* The target exists: no rename over it, the spare stays. */
    segfile_writer *w = NULL;
    T_REQUIRE(segfile_create(g_dir, SEG, SEGFILE_KIND_LOG, SEGNO, CREATED_MS,
                             NULL, &w) == SEGFILE_OK);
    T_CHECK(segfile_close(w) == SEGFILE_OK);
    w = NULL;
    T_CHECK(segfile_create_prepared(g_dir, SPARE, SEG, SEGFILE_KIND_LOG,
                                    SEGNO, CREATED_MS, NULL, &w) !=
            SEGFILE_OK);
    T_CHECK(w == NULL);
    T_EQ_I64(file_size(SEG), SEGFILE_HEADER_BYTES);
    T_EQ_I64(file_size(SPARE), PREP_BYTES);

    /* No spare at all. */
    T_CHECK(unlink(path_of(SPARE)) == 0);
    T_EQ_I64(segfile_create_prepared(g_dir, SPARE, "log-10.qlog",
                                     SEGFILE_KIND_LOG, SEGNO + 1u,
                                     CREATED_MS, NULL, &w),
             SEGFILE_ERR_IO);
    T_EQ_I64(file_size("log-10.qlog"), -1);
}

/* A canceled preparation stops and leaves no file; a flag still clear
 * changes nothing. */
static void test_prepare_canceled(void)
{
    _Atomic int cancel = 1;
    T_EQ_I64(segfile_prepare(g_dir, SPARE, PREP_BYTES, &cancel),
             SEGFILE_ERR_CANCELED);
    T_EQ_I64(file_size(SPARE), -1);
    atomic_store(&cancel, 0);
    T_EQ_I64(segfile_prepare(g_dir, SPARE, PREP_BYTES, &cancel), SEGFILE_OK);
    T_EQ_I64(file_size(SPARE), PREP_BYTES);
}

/* A crash between the header write and the rename leaves a spare with a
 * header and zeros, never a segment name: nothing to recover from it. A
 * crash after the rename leaves a segment of header + zeros: it scans as
 * a zero tail at the header, cut by recovery with nothing lost. */
static void test_header_only_prepared(void)
{
    segfile_writer *w = make_prepared(PREP_BYTES, NULL);
    T_REQUIRE(w != NULL);
    T_CHECK(segfile_close(w) == SEGFILE_OK);   /* "crash": no finish */
    segfile_report rep;
    T_EQ_I64(scan(SEG, NULL, 0, &rep), SEGFILE_SCAN_TORN_TAIL);
    T_CHECK(rep.zero_tail);
    T_EQ_I64(rep.valid_end_offset, SEGFILE_HEADER_BYTES);
    T_REQUIRE(segfile_truncate(path_of(SEG), rep.valid_end_offset) ==
              SEGFILE_OK);
    T_EQ_I64(scan(SEG, NULL, 0, &rep), SEGFILE_SCAN_CLEAN);
}

static void (*g_body)(void);

static void in_dir(void)
{
    T_REQUIRE(pu_scratch_make(g_dir, sizeof g_dir, "test_segprep") == 0);
    g_body();
    td_remove_tree(g_dir);
}

#define RUN(fn) (g_body = (fn), t_run(#fn, in_dir))

int main(void)
{
    RUN(test_prepared_roundtrip);
    RUN(test_prepared_encrypted);
    RUN(test_prepared_overflow);
    RUN(test_nonzero_tail_is_not_zero);
    RUN(test_prepare_errors);
    RUN(test_prepare_canceled);
    RUN(test_header_only_prepared);
    return t_done();
}
