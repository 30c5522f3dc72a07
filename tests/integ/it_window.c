/* it_window -- a power loss's torn window against a real daemon.
 *
 * With --fsync no (and between the syncs of everysec) many chunks are
 * written with no sync in between, and a power loss may persist a later
 * one while an earlier one is torn. The daemon must then start, cut the
 * log at the torn chunk and hold exactly the state before it: none of
 * what follows was ever synced. (With --fsync always the same damage is
 * refused: it_torn (c).)
 *
 * A base data dir is built by a daemon with --fsync no and one
 * synchronous client, so every request is its own chunk, and every
 * reply's seq says which records it made. Each trial damages one chunk
 * of a fresh copy (zeroed: a page never written back, or one byte
 * flipped), starts the daemon on it and checks the cut and the state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/persist_util.h"
#include "t.h"

#define N_OPS 12                  /* checks after the set-up */
/* Replies do not wait for the log here, so the writer wakes on its idle
 * tick (PLOG_IDLE_WAKE_MS, 100 ms): one check per tick makes one chunk
 * each (give or take a late wake-up: expected_at reads the chunks). */
#define OP_GAP_US 150000
#define CHUNKS_MIN 6
#define FIRST_DAMAGED 2           /* damage chunks from here to the end */
#define WALLET (INT64_C(1000000) * FX_UNIT)
#define AMOUNT (3 * FX_UNIT)
#define TMP_TEMPLATE "/tmp/quotad-it-XXXXXX"
#define CUT_TEXT "torn tail cut at offset "
#define WINDOW_TEXT "written before it was synced"

typedef struct hist {
    uint64_t seq;
    int64_t balance;
} hist;

static hist g_hist[N_OPS + 1];
static size_t g_n_hist;
static uint32_t g_ws;
static td_daemon g_base;
static char g_base_data[PU_PATH_BYTES];
static char g_seg_name[PU_PATH_BYTES];
static pu_segment g_seg;

static int build_workload(qc_ctx *c)
{
    fx_key k;
    if (fx_workspace(c, WALLET, 0, 0, &g_ws) != QC_OK ||
        fx_key_create(c, g_ws, NULL, &k) != QC_OK)
        return -1;
    g_hist[g_n_hist++] = (hist){qc_last_seq(c), WALLET};
    for (int i = 0; i < N_OPS; i++) {
        qc_check_res rs = {0};
        if (fx_check(c, k.secret, AMOUNT, &rs) != QC_OK ||
            rs.decision != QC_ALLOWED)
            return -1;
        g_hist[g_n_hist++] = (hist){rs.seq, rs.wallet_balance};
        usleep(OP_GAP_US);
    }
    return 0;
}

static void test_build_base(void)
{
    const char *args[] = {"--fsync", "no", "--log-prealloc", "0", NULL};
    T_REQUIRE(pu_base_build(&g_base, args, build_workload, g_base_data,
                            sizeof g_base_data, g_seg_name,
                            sizeof g_seg_name, &g_seg) == 0);
    T_CHECK(g_seg.clean);
    T_REQUIRE(g_seg.n_chunks >= CHUNKS_MIN);
    /* Nothing was synced while it ran: every chunk says so. */
    for (size_t i = 0; i < g_seg.n_chunks; i++)
        T_EQ_I64(g_seg.chunks[i].sync_floor, PU_SEG_HEADER_BYTES);
    printf("# base: %zu chunks, %" PRIu64 " bytes\n", g_seg.n_chunks,
           g_seg.file_bytes);
}

/* The state the log holds when cut at off: the last reply whose records
 * all lie before it. */
static const hist *expected_at(uint64_t off)
{
    uint64_t s = pu_segment_last_seq_before(&g_seg, off);
    const hist *h = NULL;
    for (size_t i = 0; i < g_n_hist; i++)
        if (g_hist[i].seq <= s)
            h = &g_hist[i];
    return h;
}

/* Zero (a page never written back) or flip one byte of chunk ch. */
static int damage(const char *seg, const pu_chunk *ch, bool zero)
{
    if (!zero)
        return pu_flip_byte(seg, ch->off + (ch->end - ch->off) / 2u, 0x5a);
    size_t len = 0;
    uint8_t *s = pu_read_bin(seg, (size_t)g_seg.file_bytes, &len);
    if (s == NULL || len != g_seg.file_bytes) {
        free(s);
        return -1;
    }
    memset(s + ch->off, 0, (size_t)(ch->end - ch->off));
    int rc = pu_write_file(seg, s, len);
    free(s);
    return rc;
}

static void check_started(td_daemon *d, const pu_chunk *ch, const char *seg)
{
    char *err = td_stderr(d);
    const char *p = err != NULL ? strstr(err, CUT_TEXT) : NULL;
    T_CHECK(p != NULL);
    if (p != NULL)
        T_EQ_I64(strtoll(p + strlen(CUT_TEXT), NULL, 10), (int64_t)ch->off);
    bool last = ch == &g_seg.chunks[g_seg.n_chunks - 1];
    T_CHECK(last || (err != NULL && strstr(err, WINDOW_TEXT) != NULL));
    free(err);
    struct stat sb;
    T_CHECK(stat(seg, &sb) == 0 && (uint64_t)sb.st_size == ch->off);
    const hist *h = expected_at(ch->off);
    T_REQUIRE(h != NULL);
    qc_ctx *c = td_connect(d);
    T_REQUIRE(c != NULL);
    fx_ws_state w;
    T_CHECK(fx_ws_state_get(c, g_ws, &w) == QC_OK);
    T_EQ_I64(w.balance, h->balance);
    qc_free(c);
}

static void trial(const pu_chunk *ch, bool zero)
{
    td_daemon owner;
    memset(&owner, 0, sizeof owner);
    char tmpl[] = TMP_TEMPLATE;
    T_REQUIRE(mkdtemp(tmpl) != NULL);
    snprintf(owner.dir, sizeof owner.dir, "%s", tmpl);
    char data[PU_PATH_BYTES], seg[PU_PATH_BYTES * 2];
    snprintf(data, sizeof data, "%s/data", tmpl);
    snprintf(seg, sizeof seg, "%s/%s", data, g_seg_name);
    int rc = pu_copy_dir(g_base_data, data) == 0 ? damage(seg, ch, zero) : -1;
    T_CHECK(rc == 0);
    td_daemon d;
    memset(&d, 0, sizeof d);
    const char *args[] = {"--fsync", "no", "--data-dir", data, NULL};
    bool tried = rc == 0;
    if (tried && (rc = td_start(&d, args)) == 0) {
        check_started(&d, ch, seg);
        T_EQ_I64(td_stop(&d), 0);
    }
    T_CHECK(rc == 0);
    if (tried)
        td_cleanup(&d);
    td_cleanup(&owner);
}

/* Every chunk from FIRST_DAMAGED on, zeroed or flipped in turn. */
static void test_window_cut(void)
{
    for (size_t i = FIRST_DAMAGED; i < g_seg.n_chunks; i++)
        trial(&g_seg.chunks[i], i % 2u == 0);
}

int main(void)
{
    T_RUN(test_build_base);
    if (g_seg.n_chunks >= CHUNKS_MIN)
        T_RUN(test_window_cut);
    pu_segment_free(&g_seg);
    td_cleanup(&g_base);
    return t_done();
}
