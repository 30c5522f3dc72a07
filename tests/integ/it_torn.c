/* it_torn -- damaged logs against a real daemon.
 *
 * A base data dir is built by a daemon with --fsync always and one
 * synchronous client, so every request is its own group commit (chunk),
 * and every reply's seq says which records it made. Stopped cleanly, its
 * segment is mapped chunk by chunk (tests/lib/persist_util, independent
 * of the server's parser). Then, each time on a fresh copy:
 *   (a) truncate at seeded random offsets inside the last chunks: the
 *       daemon starts, says "torn tail cut at offset N" with N the end of
 *       the last complete chunk, and the state is exactly the state after
 *       the last request whose records are all in complete chunks;
 *   (b) flip random bytes in the last chunk: the same, cut at its start;
 *   (c) flip a byte in a middle chunk: the daemon refuses to start (exit
 *       1, message names the corruption and --repair); with --repair 1 it
 *       starts, reports the cut, and holds the prefix before that chunk;
 *   (d) an empty or short extra segment (crash while creating it) is
 *       dropped and the state is complete;
 *   (e) a torn tail in a segment that is not the last is refused, and
 *       --repair 1 cuts it and drops the later segments.
 * Seed: env QUOTAD_TEST_SEED (printed). QUOTAD_SOAK=1: SOAK_FACTOR times
 * the trials.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/persist_util.h"
#include "t.h"

#define N_OPS 48                  /* requests after the set-up */
#define ADJUST_EVERY 8            /* every 8th op is a wallet adjust */
#define HIST_MAX (N_OPS + 4)
#define WALLET (INT64_C(1000000) * FX_UNIT)
#define QUOTA (INT64_C(500000) * FX_UNIT)
#define AMOUNT_MAX INT64_C(5000000)
#define ADJUST_DELTA (7 * FX_UNIT)
#define TAIL_CHUNKS 4             /* truncations fall in the last 4 chunks */
#define TRUNC_TRIALS 24
#define FLIP_TRIALS 10
#define FLIPS_PER_TRIAL_MAX 3
#define MIDDLE_TRIALS 3
#define SOAK_FACTOR 10            /* QUOTAD_SOAK=1: ten times the trials */
#define MIDDLE_FIRST 6            /* middle chunks are check requests */
#define REFUSE_TIMEOUT_MS 20000
#define EXIT_REFUSED 1
#define SHORT_SEG_BYTES 40u
#define STDERR_MAX (1024u * 1024u)
#define TMP_TEMPLATE "/tmp/quotad-it-XXXXXX"
#define CUT_TEXT "torn tail cut at offset "
#define REPAIR_TEXT "cutting at offset "

/* State after a request: its seq and the two numbers we compare. */
typedef struct hist {
    uint64_t seq;
    int64_t balance, quota;
} hist;

static hist g_hist[HIST_MAX];
static size_t g_n_hist;
static uint32_t g_ws;
static uint64_t g_key;
static uint64_t g_rng;
static td_daemon g_base;
static char g_seg_name[PU_PATH_BYTES];
static char g_base_data[PU_PATH_BYTES];
static pu_segment g_seg;

/* A copy of the base data dir that a trial may damage. */
typedef struct trial {
    td_daemon owner;              /* its dir is removed by td_cleanup */
    char data[PU_PATH_BYTES];
    char seg[PU_PATH_BYTES];
} trial;

/* Remember the state a reply reports. */
static void hist_push(uint64_t seq, int64_t balance, int64_t quota)
{
    if (g_n_hist < HIST_MAX)
        g_hist[g_n_hist++] = (hist){seq, balance, quota};
}

/* One debit with a random amount; its reply is the state after it. */
static int op_check(qc_ctx *c, const char *secret)
{
    qc_check_res rs = {0};
    int rc = fx_check(c, secret, pu_rand_range(&g_rng, 1, AMOUNT_MAX), &rs);
    if (rc != QC_OK || rs.decision != QC_ALLOWED)
        return -1;
    hist_push(rs.seq, rs.wallet_balance, rs.quota_remaining);
    return 0;
}

/* A wallet top-up: balance from the reply, quota unchanged. */
static int op_adjust(qc_ctx *c)
{
    Quotad__Reply *r = NULL;
    int rc = qc_adjust_wallet(c, g_ws, ADJUST_DELTA, "torn", NULL, &r);
    if (rc == QC_OK && g_n_hist > 0)
        hist_push(r->seq, r->workspace->balance,
                  g_hist[g_n_hist - 1].quota);
    qc_reply_free(r);
    return rc == QC_OK ? 0 : -1;
}

/* Run the workload on the base daemon (one request per chunk). */
static int build_workload(qc_ctx *c)
{
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, QUOTA);
    fx_key k;
    if (fx_workspace(c, WALLET, 0, 0, &g_ws) != QC_OK ||
        fx_key_create(c, g_ws, &l, &k) != QC_OK)
        return -1;
    g_key = k.id;
    hist_push(qc_last_seq(c), WALLET, QUOTA);
    for (int i = 1; i <= N_OPS; i++) {
        int rc = i % ADJUST_EVERY == 0 ? op_adjust(c) : op_check(c, k.secret);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Start, load, stop cleanly; then map the one log segment. */
static void test_build_base(void)
{
    /* No spare segment: its rotation at start would split the records
     * over two segments at a moment that depends on timing. Prepared
     * segments end the same once finished (test_segprep, it_restart). */
    const char *args[] = {"--fsync", "always", "--log-prealloc", "0", NULL};
    T_REQUIRE(pu_base_build(&g_base, args, build_workload, g_base_data,
                            sizeof g_base_data, g_seg_name,
                            sizeof g_seg_name, &g_seg) == 0);
    T_CHECK(g_seg.clean);
    /* fsync always: each chunk was written after the one before it was
     * synced, and says so; that is why damage before it is refused. */
    for (size_t i = 0; i < g_seg.n_chunks; i++)
        T_EQ_I64(g_seg.chunks[i].sync_floor, g_seg.chunks[i].off);
    T_REQUIRE(g_seg.n_chunks >= N_OPS);
    const pu_chunk *last = &g_seg.chunks[g_seg.n_chunks - 1];
    T_EQ_I64(last->last_seq, g_hist[g_n_hist - 1].seq);
    printf("# base: %zu chunks, %" PRIu64 " bytes, last seq %" PRIu64 "\n",
           g_seg.n_chunks, g_seg.file_bytes, last->last_seq);
}

/* The state a log cut at valid_end holds: replies up to the last seq of
 * the complete chunks. */
static const hist *expected_at(uint64_t valid_end)
{
    uint64_t s = pu_segment_last_seq_before(&g_seg, valid_end);
    const hist *h = NULL;
    for (size_t i = 0; i < g_n_hist; i++)
        if (g_hist[i].seq <= s)
            h = &g_hist[i];
    return h;
}

/* End of the last chunk that ends at or before off (the cut point). */
static uint64_t boundary_at_or_before(uint64_t off)
{
    uint64_t b = PU_SEG_HEADER_BYTES;
    for (size_t i = 0; i < g_seg.n_chunks; i++)
        if (g_seg.chunks[i].end <= off)
            b = g_seg.chunks[i].end;
    return b;
}

/* Fresh temp dir holding a copy of the base data dir. */
static int trial_prepare(trial *t)
{
    memset(t, 0, sizeof *t);
    char tmpl[] = TMP_TEMPLATE;
    if (mkdtemp(tmpl) == NULL)
        return -1;
    snprintf(t->owner.dir, sizeof t->owner.dir, "%s", tmpl);
    snprintf(t->data, sizeof t->data, "%s/data", tmpl);
    int n = snprintf(t->seg, sizeof t->seg, "%s/%s", t->data, g_seg_name);
    if (n < 0 || (size_t)n >= sizeof t->seg)
        return -1;
    return pu_copy_dir(g_base_data, t->data);
}

/* Remove the copy (td_cleanup only removes /tmp/quotad-it-* dirs). */
static void trial_cleanup(trial *t)
{
    td_cleanup(&t->owner);
}

/* td_start on the copy (the later --data-dir wins over td's own). */
static int trial_start(trial *t, td_daemon *d, bool repair)
{
    const char *args[] = {"--fsync", "always", "--data-dir", t->data,
                          repair ? "--repair" : NULL, "1", NULL};
    return td_start(d, args);
}

/* Balance and quota of the running daemon equal h. */
static void expect_state(const td_daemon *d, const hist *h)
{
    qc_ctx *c = td_connect(d);
    T_REQUIRE(c != NULL);
    fx_ws_state w;
    fx_key_state k;
    T_CHECK(fx_ws_state_get(c, g_ws, &w) == QC_OK);
    T_CHECK(fx_key_state_get(c, g_key, &k) == QC_OK);
    T_EQ_I64(w.balance, h->balance);
    T_EQ_I64(k.quota_remaining, h->quota);
    qc_free(c);
}

/* Size of a file, -1 if missing. */
static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* Start on a damaged copy whose tail must be cut at cut_at (0: no cut
 * expected), check report, file size and state, stop cleanly. */
static void run_tail_trial(trial *t, uint64_t cut_at, uint64_t valid_end)
{
    td_daemon d;
    int rc = trial_start(t, &d, false);
    T_CHECK(rc == 0);
    if (rc != 0) {
        td_cleanup(&d);
        return;
    }
    T_EQ_I64(td_stderr_number(&d, CUT_TEXT), cut_at ? (int64_t)cut_at : -1);
    T_EQ_I64(file_size(t->seg), (int64_t)valid_end);
    const hist *h = expected_at(valid_end);
    T_CHECK(h != NULL);
    if (h != NULL)
        expect_state(&d, h);
    T_EQ_I64(td_stop(&d), 0);
    td_cleanup(&d);
}

/* (a) truncate at random offsets inside the last TAIL_CHUNKS chunks. */
static void test_truncate_tail(void)
{
    T_REQUIRE(g_seg.n_chunks > TAIL_CHUNKS);
    uint64_t lo = g_seg.chunks[g_seg.n_chunks - TAIL_CHUNKS].off;
    uint64_t hi = g_seg.file_bytes - 1;
    int trials = TRUNC_TRIALS * (pu_soak() ? SOAK_FACTOR : 1);
    for (int i = 0; i < trials; i++) {
        uint64_t off = (uint64_t)pu_rand_range(&g_rng, (int64_t)lo,
                                               (int64_t)hi);
        uint64_t valid = boundary_at_or_before(off);
        trial t;
        if (trial_prepare(&t) != 0 || pu_truncate(t.seg, off) != 0) {
            T_CHECK(!"prepare truncated copy");
            trial_cleanup(&t);
            return;
        }
        run_tail_trial(&t, valid == off ? 0 : valid, valid);
        trial_cleanup(&t);
    }
}

/* A cut exactly at a chunk boundary is a clean log: nothing to report. */
static void test_truncate_at_boundary(void)
{
    const pu_chunk *ch = &g_seg.chunks[g_seg.n_chunks - 2];
    trial t;
    T_REQUIRE(trial_prepare(&t) == 0);
    if (pu_truncate(t.seg, ch->end) == 0)
        run_tail_trial(&t, 0, ch->end);
    else
        T_CHECK(!"truncate");
    trial_cleanup(&t);
}

/* XOR 1..FLIPS_PER_TRIAL_MAX random bytes of chunk ch with non-zero masks. */
static int flip_in_chunk(const char *path, const pu_chunk *ch)
{
    int n = (int)pu_rand_range(&g_rng, 1, FLIPS_PER_TRIAL_MAX);
    for (int i = 0; i < n; i++) {
        uint64_t off = (uint64_t)pu_rand_range(&g_rng, (int64_t)ch->off,
                                               (int64_t)ch->end - 1);
        uint8_t mask = (uint8_t)pu_rand_range(&g_rng, 1, 255);
        if (pu_flip_byte(path, off, mask) != 0)
            return -1;
    }
    return 0;
}

/* (b) damage in the last chunk is a torn tail: cut at its start. */
static void test_flip_last_chunk(void)
{
    const pu_chunk *last = &g_seg.chunks[g_seg.n_chunks - 1];
    int trials = FLIP_TRIALS * (pu_soak() ? SOAK_FACTOR : 1);
    for (int i = 0; i < trials; i++) {
        trial t;
        if (trial_prepare(&t) != 0 || flip_in_chunk(t.seg, last) != 0) {
            T_CHECK(!"prepare flipped copy");
            trial_cleanup(&t);
            return;
        }
        run_tail_trial(&t, last->off, last->off);
        trial_cleanup(&t);
    }
}

/* Run the daemon on t->data without td (it must exit by itself). */
static int run_refused(trial *t, int *status, char **out)
{
    char port[PU_PATH_BYTES], log[PU_PATH_BYTES];
    snprintf(port, sizeof port, "%s/port", t->owner.dir);
    snprintf(log, sizeof log, "%s/refused.out", t->owner.dir);
    const char *argv[] = {pu_quotad_bin(), "--port", "0", "--port-file", port,
                          "--data-dir", t->data, "--workers", "2",
                          "--fsync", "always", NULL};
    if (pu_run(argv, log, REFUSE_TIMEOUT_MS, status) != 0)
        return -1;
    *out = pu_read_file(log, STDERR_MAX);
    return *out != NULL ? 0 : -1;
}

/* (c) one middle chunk damaged: refuse; --repair 1 cuts before it. */
static void middle_trial(const pu_chunk *ch)
{
    trial t;
    T_REQUIRE(trial_prepare(&t) == 0);
    T_REQUIRE(flip_in_chunk(t.seg, ch) == 0);
    int status = 0;
    char *out = NULL;
    T_REQUIRE(run_refused(&t, &status, &out) == 0);
    T_EQ_I64(status, EXIT_REFUSED);
    T_CHECK(strstr(out, "corrupt") != NULL);
    T_CHECK(strstr(out, "--repair") != NULL);
    if (status != EXIT_REFUSED)
        fprintf(stderr, "  daemon output:\n%s\n", out);
    free(out);
    td_daemon d;
    int rc = trial_start(&t, &d, true);
    T_CHECK(rc == 0);
    if (rc == 0) {
        T_EQ_I64(td_stderr_number(&d, REPAIR_TEXT), (int64_t)ch->off);
        T_EQ_I64(file_size(t.seg), (int64_t)ch->off);
        expect_state(&d, expected_at(ch->off));
        T_EQ_I64(td_stop(&d), 0);
    }
    td_cleanup(&d);
    trial_cleanup(&t);
}

/* (c) on MIDDLE_TRIALS random middle chunks. */
static void test_flip_middle_chunk(void)
{
    T_REQUIRE(g_seg.n_chunks > MIDDLE_FIRST + 2);
    int trials = MIDDLE_TRIALS * (pu_soak() ? SOAK_FACTOR : 1);
    for (int i = 0; i < trials; i++) {
        size_t idx = (size_t)pu_rand_range(&g_rng, MIDDLE_FIRST,
                                           (int64_t)g_seg.n_chunks - 2);
        middle_trial(&g_seg.chunks[idx]);
    }
}

/* Name of the segment after the base one (same zero-padded format). */
static int next_segment_path(const trial *t, char *out, size_t cap)
{
    unsigned long long segno = 0;
    if (sscanf(g_seg_name, "log-%llu.qlog", &segno) != 1)
        return -1;
    int n = snprintf(out, cap, "%s/log-%016llu.qlog", t->data, segno + 1);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* (d) an extra segment of len bytes (a crash while creating it). */
static void short_segment_trial(size_t len)
{
    trial t;
    T_REQUIRE(trial_prepare(&t) == 0);
    char path[PU_PATH_BYTES];
    char *head = pu_read_file(t.seg, STDERR_MAX * 64);
    int ok = head != NULL && next_segment_path(&t, path, sizeof path) == 0 &&
             pu_write_file(path, head, len) == 0;
    free(head);
    T_CHECK(ok);
    td_daemon d;
    int rc = ok ? trial_start(&t, &d, false) : -1;
    T_CHECK(rc == 0);
    if (rc == 0) {
        expect_state(&d, &g_hist[g_n_hist - 1]);
        T_EQ_I64(file_size(t.seg), (int64_t)g_seg.file_bytes);
        T_EQ_I64(td_stop(&d), 0);
    }
    td_cleanup(&d);
    trial_cleanup(&t);
}

/* (d) empty and shorter-than-header extra segments. */
static void test_short_last_segment(void)
{
    short_segment_trial(0);
    short_segment_trial(SHORT_SEG_BYTES);
}

/* A copy that went on for one more request after a restart, so the base
 * segment is no longer the last one. */
static int extend_copy(trial *t)
{
    td_daemon d;
    if (trial_start(t, &d, false) != 0) {
        td_cleanup(&d);
        return -1;
    }
    qc_ctx *c = td_connect(&d);
    Quotad__Reply *r = NULL;
    int rc = c != NULL ? qc_adjust_wallet(c, g_ws, ADJUST_DELTA, "more",
                                          NULL, &r) : -1;
    qc_reply_free(r);
    qc_free(c);
    if (td_stop(&d) != 0)
        rc = -1;
    td_cleanup(&d);
    return rc == QC_OK && pu_count_files(t->data, "log-", ".qlog") >= 2
               ? 0 : -1;
}

/* (e) a torn tail in a segment that is not the last one is a hole in the
 * history: refused; --repair 1 cuts there and drops the later segments. */
static void test_torn_not_last(void)
{
    const pu_chunk *last = &g_seg.chunks[g_seg.n_chunks - 1];
    trial t;
    T_REQUIRE(trial_prepare(&t) == 0);
    T_REQUIRE(extend_copy(&t) == 0);
    uint64_t off = (uint64_t)pu_rand_range(&g_rng, (int64_t)last->off + 1,
                                           (int64_t)last->end - 1);
    T_REQUIRE(pu_truncate(t.seg, off) == 0);
    int status = 0;
    char *out = NULL;
    T_REQUIRE(run_refused(&t, &status, &out) == 0);
    T_EQ_I64(status, EXIT_REFUSED);
    T_CHECK(strstr(out, "--repair") != NULL);
    free(out);
    td_daemon d;
    int rc = trial_start(&t, &d, true);
    T_CHECK(rc == 0);
    if (rc == 0) {
        T_EQ_I64(file_size(t.seg), (int64_t)last->off);
        expect_state(&d, expected_at(last->off));
        T_EQ_I64(td_stop(&d), 0);
    }
    td_cleanup(&d);
    trial_cleanup(&t);
}

/* The untouched copy recovers everything (the reference for the rest). */
static void test_intact_copy(void)
{
    trial t;
    T_REQUIRE(trial_prepare(&t) == 0);
    run_tail_trial(&t, 0, g_seg.file_bytes);
    trial_cleanup(&t);
}

int main(void)
{
    g_rng = pu_seed("QUOTAD_TEST_SEED");
    printf("# seed %" PRIu64 " (QUOTAD_TEST_SEED)\n", g_rng);
    T_RUN(test_build_base);
    if (g_seg.n_chunks >= N_OPS) {
        T_RUN(test_intact_copy);
        T_RUN(test_truncate_tail);
        T_RUN(test_truncate_at_boundary);
        T_RUN(test_flip_last_chunk);
        T_RUN(test_flip_middle_chunk);
        T_RUN(test_short_last_segment);
        T_RUN(test_torn_not_last);
    }
    pu_segment_free(&g_seg);
    td_cleanup(&g_base);
    return t_done();
}
