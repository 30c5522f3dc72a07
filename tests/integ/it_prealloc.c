/* it_prealloc -- the zero-filled spare log segment, end to end.
 *
 * With --fsync always and 1 MiB segments (spare: 2 MiB of zeros):
 *   - the daemon prepares data/log-spare.tmp and soon writes into it as
 *     the newest segment, which keeps the spare's full size (commits
 *     overwrite zeros instead of growing the file);
 *   - kill -9 leaves that zero tail; quotad-data calls it ok (not torn),
 *     and the restarted daemon has every acknowledged debit, exactly once;
 *   - a full segment rotates to the next spare and is finished: cut to
 *     its content's size, no zeros left at its end;
 *   - a clean stop leaves no spare and no segment with zeros at its end;
 *   - --log-prealloc 0 prepares nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/persist_util.h"
#include "t.h"

#define SEGMENT_BYTES "1048576"
#define SPARE_BYTES (1048576 + 1048576)  /* + PLOG_SPARE_SLACK_BYTES */
#define WALLET (INT64_C(1000000) * FX_UNIT)
#define DEBIT 7
#define DEBITS_MIN 20
#define SPARE_WAIT_MS 10000
#define POLL_MS 20
#define SPARE_NAME "log-spare.tmp"
#define BATCH 256                        /* checks per frame */
#define FILL_WAIT_MS 60000

static td_daemon g_d;
static qc_ctx *g_c;
static uint32_t g_ws;
static fx_key g_k;
static int64_t g_acked;    /* debits acknowledged, in micro-units */

static int64_t size_of(const char *name)
{
    char p[PU_PATH_BYTES];
    snprintf(p, sizeof p, "%s/data/%s", g_d.dir, name);
    struct stat sb;
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static int64_t newest_segment_size(void)
{
    char dir[PU_PATH_BYTES], name[PU_PATH_BYTES];
    snprintf(dir, sizeof dir, "%s/data", g_d.dir);
    if (pu_last_file(dir, "log-", ".qlog", name, sizeof name) != 0)
        return -1;
    return size_of(name);
}

static int debit(void)
{
    qc_check_res rs;
    if (fx_check(g_c, g_k.secret, DEBIT, &rs) != QC_OK ||
        rs.decision != QC_ALLOWED)
        return -1;
    g_acked += DEBIT;
    return 0;
}

/* Debit until the newest segment is a prepared one (the spare's size). */
static int debit_into_spare(void)
{
    int64_t deadline = td_now_ms() + SPARE_WAIT_MS;
    int n = 0;
    while (n < DEBITS_MIN || newest_segment_size() != SPARE_BYTES) {
        if (debit() != 0 || td_now_ms() > deadline)
            return -1;
        n++;
        if (newest_segment_size() != SPARE_BYTES)
            td_sleep_ms(POLL_MS);
    }
    return 0;
}

/* Batches of debits until the newest segment changes (a rotation by
 * size); name gets the segment that was full. */
static int fill_segment(char *name, size_t cap)
{
    char dir[PU_PATH_BYTES], now[PU_PATH_BYTES];
    snprintf(dir, sizeof dir, "%s/data", g_d.dir);
    if (pu_last_file(dir, "log-", ".qlog", name, cap) != 0)
        return -1;
    static qc_check_req rq[BATCH];
    static qc_check_res rs[BATCH];
    static int rcs[BATCH];
    for (size_t i = 0; i < BATCH; i++)
        rq[i] = (qc_check_req){.secret = g_k.secret, .amount = DEBIT};
    int64_t deadline = td_now_ms() + FILL_WAIT_MS;
    do {
        if (qc_check_batch(g_c, rq, rs, rcs, BATCH) != QC_OK ||
            td_now_ms() > deadline)
            return -1;
        for (size_t i = 0; i < BATCH; i++) {
            if (rcs[i] != QC_OK || rs[i].decision != QC_ALLOWED)
                return -1;
            g_acked += DEBIT;
        }
        if (pu_last_file(dir, "log-", ".qlog", now, sizeof now) != 0)
            return -1;
    } while (strcmp(now, name) == 0);
    return 0;
}

static int quotad_data_verify(void)
{
    const char *bin = pu_data_bin();
    if (bin == NULL)
        return 0; /* tool not built: nothing to compare */
    char dir[PU_PATH_BYTES], out[PU_PATH_BYTES];
    snprintf(dir, sizeof dir, "%s/data", g_d.dir);
    snprintf(out, sizeof out, "%s/verify.out", g_d.dir);
    const char *argv[] = {bin, "verify", dir, NULL};
    int status = -1;
    if (pu_run(argv, out, 30000, &status) != 0)
        return -1;
    if (status != 0) {
        char *text = pu_read_file(out, 1u << 16);
        printf("# quotad-data verify: exit %d\n%s\n", status,
               text ? text : "");
        free(text);
    }
    return status;
}

static void test_crash_with_zero_tail(void)
{
    const char *args[] = {"--fsync", "always", "--segment-bytes",
                          SEGMENT_BYTES, "--snapshot-log-bytes", "0", NULL};
    T_REQUIRE(fx_start(&g_d, args, &g_c) == 0);
    T_REQUIRE(fx_workspace(g_c, WALLET, 0, 0, &g_ws) == QC_OK);
    T_REQUIRE(fx_key_create(g_c, g_ws, NULL, &g_k) == QC_OK);
    T_REQUIRE(debit_into_spare() == 0);
    T_CHECK(fx_stat(g_c, "log_spares") >= 1);
    T_REQUIRE(td_kill9(&g_d) == 0);
    qc_free(g_c);
    g_c = NULL;
    T_EQ_I64(newest_segment_size(), SPARE_BYTES); /* the zero tail */
    T_EQ_I64(quotad_data_verify(), 0);

    T_REQUIRE(td_restart(&g_d) == 0);
    g_c = td_connect(&g_d);
    T_REQUIRE(g_c != NULL);
    int64_t bal = 0;
    T_REQUIRE(fx_balance(g_c, g_ws, &bal) == QC_OK);
    T_EQ_I64(bal, WALLET - g_acked); /* every acked debit, once */
}

/* A full prepared segment: finished at its content size on rotation. */
static void test_rotation_finishes(void)
{
    T_REQUIRE(g_c != NULL);
    T_REQUIRE(debit_into_spare() == 0);
    char full[PU_PATH_BYTES];
    T_REQUIRE(fill_segment(full, sizeof full) == 0);
    int64_t n = size_of(full);
    T_CHECK(n > 1048576 && n < SPARE_BYTES);
    printf("# full segment %s: %" PRId64 " bytes\n", full, n);
    T_REQUIRE(debit_into_spare() == 0);
}

static void test_clean_stop_leaves_no_zeros(void)
{
    T_REQUIRE(g_c != NULL);
    int64_t bal = 0;
    T_REQUIRE(fx_balance(g_c, g_ws, &bal) == QC_OK);
    T_EQ_I64(bal, WALLET - g_acked);
    qc_free(g_c);
    g_c = NULL;
    T_EQ_I64(td_stop(&g_d), 0);
    T_EQ_I64(size_of(SPARE_NAME), -1);
    int64_t newest = newest_segment_size();
    T_CHECK(newest > 0 && newest < SPARE_BYTES);
    T_EQ_I64(quotad_data_verify(), 0);
    T_REQUIRE(td_restart(&g_d) == 0);
    g_c = td_connect(&g_d);
    T_REQUIRE(g_c != NULL);
    T_REQUIRE(fx_balance(g_c, g_ws, &bal) == QC_OK);
    T_EQ_I64(bal, WALLET - g_acked);
    T_EQ_I64(fx_finish(&g_d, g_c), 0);
    g_c = NULL;
}

static void test_prealloc_off(void)
{
    const char *args[] = {"--fsync", "always", "--segment-bytes",
                          SEGMENT_BYTES, "--log-prealloc", "0", NULL};
    T_REQUIRE(fx_start(&g_d, args, &g_c) == 0);
    T_REQUIRE(fx_workspace(g_c, WALLET, 0, 0, &g_ws) == QC_OK);
    T_REQUIRE(fx_key_create(g_c, g_ws, NULL, &g_k) == QC_OK);
    for (int i = 0; i < DEBITS_MIN; i++) {
        T_REQUIRE(debit() == 0);
        td_sleep_ms(POLL_MS);
    }
    T_EQ_I64(size_of(SPARE_NAME), -1);
    T_EQ_I64(fx_stat(g_c, "log_spares"), 0);
    int64_t newest = newest_segment_size();
    T_CHECK(newest > 0 && newest < SPARE_BYTES);
    T_EQ_I64(fx_finish(&g_d, g_c), 0);
    g_c = NULL;
}

int main(void)
{
    T_RUN(test_crash_with_zero_tail);
    T_RUN(test_rotation_finishes);
    T_RUN(test_clean_stop_leaves_no_zeros);
    T_RUN(test_prealloc_off);
    if (g_c != NULL)
        qc_free(g_c);
    if (g_d.pid != 0)
        td_stop(&g_d);
    td_cleanup(&g_d);
    return t_done();
}
