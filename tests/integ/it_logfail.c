/* it_logfail -- a failed log write is fatal for durability.
 *
 * The daemon is started with RLIMIT_FSIZE small and SIGXFSZ ignored (both
 * inherited across fork and exec), so once its log segment reaches the
 * limit a write fails with EFBIG: a real I/O error, no mount needed. Then:
 *   - no reply whose change was not written is ever sent (that request's
 *     connection is closed instead);
 *   - every later write is refused with UNAVAILABLE, said to the client;
 *   - after a restart without the limit, the wallet holds exactly the
 *     acknowledged debits (an unacknowledged one may or may not be there,
 *     never twice).
 * Twice: with the data dir on disk, where the log writer thread commits,
 * and on tmpfs (/dev/shm, where the machine has one), where commits are
 * fast and the workers run them inline (plog_commit_inline), so the
 * failing write is a worker's.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "daemon.h"
#include "fixtures.h"
#include "qc_admin.h"
#include "t.h"

#define LOG_FSIZE_BYTES (96u * 1024u)
#define CHECKS_MAX 50000
#define DEBIT_MICRO 7
#define START_MICRO 100000000

static td_daemon g_d;

/* Start the daemon under the file-size limit, then lift it for us.
 * data_dir NULL: the daemon's own dir under g_d. */
static int start_limited(const char *data_dir)
{
    struct rlimit old, lim;
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) {
        return -1;
    }
    lim = old;
    lim.rlim_cur = LOG_FSIZE_BYTES;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
        return -1;
    }
    const char *args[] = {"--fsync", "always", "--snapshot-log-bytes", "0",
                          data_dir ? "--data-dir" : NULL, data_dir, NULL};
    int rc = td_start(&g_d, args);
    (void)setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    return rc;
}

/* The scenario above; g_inline gets the daemon's log_inline_commits,
 * read after the failure (stats still answers). */
static int64_t g_inline = -1;

static void lf_run(const char *data_dir)
{
    g_inline = -1;
    T_REQUIRE(start_limited(data_dir) == 0);
    qc_ctx *c = td_connect(&g_d);
    T_REQUIRE(c != NULL);
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(c, START_MICRO, 0, 0, &ws) == QC_OK);
    fx_key k;
    T_REQUIRE(fx_key_create(c, ws, NULL, &k) == QC_OK);
    int64_t acked = 0;
    int rc = QC_OK;
    for (int i = 0; i < CHECKS_MAX && rc == QC_OK; i++) {
        qc_check_req rq = {.secret = k.secret, .amount = DEBIT_MICRO};
        qc_check_res rs;
        rc = qc_check(c, &rq, &rs);
        if (rc == QC_OK) {
            T_EQ_I64(rs.decision, QC_ALLOWED);
            acked += rs.charged;
        }
    }
    /* The debit whose record failed was never acknowledged. */
    T_CHECK(rc == QC_ERR_IO || rc == QC_CODE_UNAVAILABLE);
    qc_free(c);
    /* A new connection is told, not left hanging. */
    c = td_connect(&g_d);
    T_REQUIRE(c != NULL);
    qc_check_req rq = {.secret = k.secret, .amount = DEBIT_MICRO};
    qc_check_res rs;
    T_EQ_I64(qc_check(c, &rq, &rs), QC_CODE_UNAVAILABLE);
    T_CHECK(strstr(qc_errstr(c), "durability lost") != NULL);
    g_inline = fx_stat(c, "log_inline_commits");
    qc_free(c);
    T_CHECK(td_stop(&g_d) != 0); /* it reports the lost durability */

    /* Restart without the limit: exactly the acknowledged debits. */
    T_REQUIRE(td_restart(&g_d) == 0);
    c = td_connect(&g_d);
    T_REQUIRE(c != NULL);
    int64_t bal = 0;
    T_REQUIRE(fx_balance(c, ws, &bal) == QC_OK);
    int64_t lost = START_MICRO - acked - bal;
    T_CHECK(lost == 0 || lost == DEBIT_MICRO); /* the unacked one, at most */
    printf("# %s: acked %lld micro in %lld debits; unacked applied: %s; "
           "%lld inline commits\n", data_dir ? data_dir : "disk",
           (long long)acked, (long long)(acked / DEBIT_MICRO),
           lost ? "yes" : "no", (long long)g_inline);
    qc_free(c);
    T_EQ_I64(td_stop(&g_d), 0);
}

static void test_write_failure_stops_writes(void)
{
    lf_run(NULL);
    td_cleanup(&g_d);
}

/* tmpfs: the failing write is a worker's inline commit. */
static void test_inline_write_failure(void)
{
    char dir[64];
    if (!td_tmpfs_dir("quotad-it-logfail", dir, sizeof dir)) {
        printf("# no tmpfs at /dev/shm: the inline case is not run here\n");
        return;
    }
    lf_run(dir);
    T_CHECK(g_inline > 0);
    td_cleanup(&g_d);
    td_remove_tree(dir);
}

int main(void)
{
    T_RUN(test_write_failure_stops_writes);
    T_RUN(test_inline_write_failure);
    return t_done();
}
