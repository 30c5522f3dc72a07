/* it_gate -- fsync always on a fast log device (tmpfs where the machine
 * has one: /dev/shm), with many requests in flight. Commits there take
 * microseconds: the workers commit the log themselves at the end of each
 * event-loop pass (plog_commit_inline: stat log_inline_commits), and a
 * commit waits until the workers have sent the replies of the commit
 * before the last (plog_gate: stat log_gate_waits) so that groups grow
 * with the load.
 *
 *   deep         GT_THREADS clients, each on its own connection, keep
 *                GT_DEPTH checks in flight for GT_ROUNDS rounds: every
 *                reply arrives and is allowed, the wallet ends exactly at
 *                start minus what was charged, and on tmpfs the workers
 *                committed inline, the gate held commits back
 *                (log_gate_waits > 0) and groups hold more than one
 *                record on average.
 *   sequential   one client, one check at a time: nothing ever waits for
 *                the workers long (each check's round trip stays under
 *                the gate's bound plus the commit, GT_SEQ_US_MAX).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "t.h"

#define GT_THREADS 4
#define GT_DEPTH 256
#define GT_ROUNDS 12
#define GT_AMOUNT 3
#define GT_SEQ_CHECKS 200
#define GT_SEQ_US_MAX 200000     /* far above gate (2 ms) + a commit */
#define GT_WALLET (INT64_C(1000000) * FX_UNIT)

static td_daemon g_d;
static qc_ctx *g_c;
static uint32_t g_ws;
static fx_key g_key;
static bool g_tmpfs;
static char g_dir[64];

typedef struct gt_thread {
    pthread_t tid;
    int allowed, errors;
    int64_t charged;
} gt_thread;

/* GT_ROUNDS rounds of GT_DEPTH pipelined checks, then their replies. */
static void *gt_client(void *arg)
{
    gt_thread *t = arg;
    qc_ctx *c = td_connect(&g_d);
    if (c == NULL) {
        t->errors = GT_ROUNDS * GT_DEPTH;
        return NULL;
    }
    qc_check_req rq = {.secret = g_key.secret, .amount = GT_AMOUNT};
    for (int r = 0; r < GT_ROUNDS && t->errors == 0; r++) {
        for (int i = 0; i < GT_DEPTH; i++)
            if (qc_check_append(c, &rq, NULL) != QC_OK)
                t->errors++;
        for (int i = 0; i < GT_DEPTH && t->errors == 0; i++) {
            qc_check_res rs;
            if (qc_check_read(c, NULL, &rs) != QC_OK) {
                t->errors++;
            } else if (rs.decision == QC_ALLOWED) {
                t->allowed++;
                t->charged += rs.charged;
            }
        }
    }
    qc_free(c);
    return NULL;
}

static void test_deep(void)
{
    fx_ws_state before, after;
    T_REQUIRE(fx_ws_state_get(g_c, g_ws, &before) == QC_OK);
    int64_t waits0 = fx_stat(g_c, "log_gate_waits");
    int64_t commits0 = fx_stat(g_c, "log_commits");
    int64_t recs0 = fx_stat(g_c, "log_records");
    int64_t inline0 = fx_stat(g_c, "log_inline_commits");
    T_REQUIRE(waits0 >= 0 && commits0 >= 0 && recs0 >= 0 && inline0 >= 0);
    gt_thread t[GT_THREADS] = {0};
    int started = 0;
    for (; started < GT_THREADS; started++)
        if (pthread_create(&t[started].tid, NULL, gt_client, &t[started]))
            break;
    T_EQ_I64(started, GT_THREADS);
    int64_t charged = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i].tid, NULL);
        T_EQ_I64(t[i].errors, 0);
        T_EQ_I64(t[i].allowed, GT_ROUNDS * GT_DEPTH);
        charged += t[i].charged;
    }
    T_EQ_I64(charged, (int64_t)started * GT_ROUNDS * GT_DEPTH * GT_AMOUNT);
    T_REQUIRE(fx_ws_state_get(g_c, g_ws, &after) == QC_OK);
    T_EQ_I64(after.balance, before.balance - charged);
    int64_t waits = fx_stat(g_c, "log_gate_waits") - waits0;
    int64_t commits = fx_stat(g_c, "log_commits") - commits0;
    int64_t recs = fx_stat(g_c, "log_records") - recs0;
    int64_t inl = fx_stat(g_c, "log_inline_commits") - inline0;
    printf("# %s: %lld records in %lld commits (%lld inline), %lld gate "
           "waits\n", g_tmpfs ? "tmpfs" : "disk (no tmpfs here)",
           (long long)recs, (long long)commits, (long long)inl,
           (long long)waits);
    T_CHECK(recs >= (int64_t)started * GT_ROUNDS * GT_DEPTH);
    if (g_tmpfs) {
        T_CHECK(waits > 0);
        T_CHECK(inl > 0 && inl <= commits);
        T_CHECK(commits > 0 && recs > commits);
    }
}

static void test_sequential(void)
{
    int64_t worst = 0;
    for (int i = 0; i < GT_SEQ_CHECKS; i++) {
        qc_check_res rs;
        int64_t t0 = t_mono_us();
        T_REQUIRE(fx_check(g_c, g_key.secret, GT_AMOUNT, &rs) == QC_OK);
        T_EQ_I64(rs.decision, QC_ALLOWED);
        int64_t us = t_mono_us() - t0;
        worst = us > worst ? us : worst;
    }
    printf("# %d sequential checks: slowest %lld us\n", GT_SEQ_CHECKS,
           (long long)worst);
    T_CHECK(worst < GT_SEQ_US_MAX);
}

int main(void)
{
    g_tmpfs = td_tmpfs_dir("quotad-it-gate", g_dir, sizeof g_dir);
    const char *args[] = {"--fsync", "always", "--workers", "2",
                          g_tmpfs ? "--data-dir" : NULL, g_dir, NULL};
    int rc = fx_start(&g_d, args, &g_c) != 0 ||
             fx_workspace(g_c, GT_WALLET, 0, 0, &g_ws) != QC_OK ||
             fx_key_create(g_c, g_ws, NULL, &g_key) != QC_OK;
    if (rc) {
        printf("FAIL setup\n");
    } else {
        T_RUN(test_deep);
        T_RUN(test_sequential);
    }
    int st = g_c != NULL ? fx_finish(&g_d, g_c) : 0;
    if (st != 0)
        printf("FAIL daemon exit %d\n", st);
    if (g_tmpfs)
        td_remove_tree(g_dir);
    return !rc && t_done() == 0 && st == 0 ? 0 : 1;
}
