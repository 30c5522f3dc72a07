/* it_parked -- replies parked for the log (fsync always) on a daemon with
 * PK_WORKERS workers: only the workers that hold parked replies are woken
 * when a commit lands, and no reply is lost or held back.
 *
 *   one client   PK_CHECKS sequential checks on one connection: each one
 *                parks its reply and waits for its commit. The workers
 *                woken for parked replies (stat durable_wakeups) number
 *                about one per commit, not one per worker per commit.
 *   many         PK_THREADS clients spread over the workers, each with its
 *                own connection, check concurrently: every reply arrives
 *                (a lost wake-up would hang a client until its timeout),
 *                every check is allowed and the wallet ends exactly at
 *                start minus what was charged.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "t.h"

#define PK_WORKERS "4"
#define PK_WORKERS_N 4
#define PK_CHECKS 300
#define PK_AMOUNT 7
#define PK_WAKE_SLACK 20        /* self-wakes of a worker that saw the
                                 * commit land as it parked */
#define PK_THREADS 8
#define PK_PER_THREAD 150
#define PK_WALLET (INT64_C(1000000) * FX_UNIT)

static td_daemon g_d;
static qc_ctx *g_c;
static uint32_t g_ws;
static fx_key g_key;

static int pk_stats(int64_t *wakeups, int64_t *commits)
{
    const char *names[] = {"durable_wakeups", "log_commits"};
    int64_t v[2];
    if (fx_stats_get(g_c, false, names, v, 2) != 0 || v[0] < 0 || v[1] < 0)
        return -1;
    *wakeups = v[0];
    *commits = v[1];
    return 0;
}

static void test_one_client_wakes_one_worker(void)
{
    int64_t w0, c0, w1, c1;
    T_REQUIRE(pk_stats(&w0, &c0) == 0);
    for (int i = 0; i < PK_CHECKS; i++) {
        qc_check_res rs;
        T_REQUIRE(fx_check(g_c, g_key.secret, PK_AMOUNT, &rs) == QC_ALLOWED);
    }
    T_REQUIRE(pk_stats(&w1, &c1) == 0);
    int64_t wakeups = w1 - w0, commits = c1 - c0;
    printf("# %d checks: %lld commits, %lld worker wake-ups (%d workers)\n",
           PK_CHECKS, (long long)commits, (long long)wakeups, PK_WORKERS_N);
    T_CHECK(commits >= PK_CHECKS / 2);
    T_CHECK(wakeups >= PK_CHECKS / 2);       /* the replies were parked */
    T_CHECK(wakeups <= commits + PK_WAKE_SLACK);
}

typedef struct pk_thread {
    pthread_t tid;
    int allowed, errors;
    int64_t charged;
} pk_thread;

static void *pk_client(void *arg)
{
    pk_thread *t = arg;
    qc_ctx *c = td_connect(&g_d);
    if (c == NULL) {
        t->errors = PK_PER_THREAD;
        return NULL;
    }
    for (int i = 0; i < PK_PER_THREAD; i++) {
        qc_check_res rs;
        int rc = fx_check(c, g_key.secret, PK_AMOUNT, &rs);
        if (rc == QC_ALLOWED) {
            t->allowed++;
            t->charged += rs.charged;
        } else {
            t->errors++;
        }
    }
    qc_free(c);
    return NULL;
}

static void test_many_clients(void)
{
    fx_ws_state before, after;
    T_REQUIRE(fx_ws_state_get(g_c, g_ws, &before) == QC_OK);
    pk_thread t[PK_THREADS] = {0};
    int started = 0;
    for (; started < PK_THREADS; started++)
        if (pthread_create(&t[started].tid, NULL, pk_client, &t[started]) != 0)
            break;
    T_EQ_I64(started, PK_THREADS);
    int64_t charged = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i].tid, NULL);
        T_EQ_I64(t[i].allowed, PK_PER_THREAD);
        T_EQ_I64(t[i].errors, 0);
        charged += t[i].charged;
    }
    T_EQ_I64(charged, (int64_t)started * PK_PER_THREAD * PK_AMOUNT);
    T_REQUIRE(fx_ws_state_get(g_c, g_ws, &after) == QC_OK);
    T_EQ_I64(after.balance, before.balance - charged);
}

int main(void)
{
    const char *args[] = {"--workers", PK_WORKERS, "--fsync", "always", NULL};
    if (fx_start(&g_d, args, &g_c) != 0 ||
        fx_workspace(g_c, PK_WALLET, 0, 0, &g_ws) != QC_OK ||
        fx_key_create(g_c, g_ws, NULL, &g_key) != QC_OK) {
        printf("FAIL setup\n");
        if (g_c != NULL)
            (void)fx_finish(&g_d, g_c);
        return 1;
    }
    T_RUN(test_one_client_wakes_one_worker);
    T_RUN(test_many_clients);
    int st = fx_finish(&g_d, g_c);
    if (st != 0)
        printf("FAIL daemon exit %d\n", st);
    return t_done() == 0 && st == 0 ? 0 : 1;
}
