/* test_plog_inline -- workers committing the log themselves
 * (plog_commit_inline) on a fast log device: tmpfs where the machine has
 * one (/dev/shm), else the test says so and checks only the fallback.
 *
 *   becomes_inline   the writer's idle tick is set to a minute, so only
 *                    kicks and inline commits make records durable. After
 *                    a few fast writer commits, plog_inline_ok holds.
 *   racing_leaders   IL_ROUNDS rounds in lockstep (a barrier): in each,
 *                    IL_THREADS threads at once append a record, call
 *                    plog_commit_inline and wait for their seq to be
 *                    durable. No record is ever left behind: a commit
 *                    request lost to the race between a failed trylock
 *                    and the holder's unlock would wait for the
 *                    minute-long tick and hit IL_WAIT_US_MAX, since every
 *                    other thread then waits at the barrier and commits
 *                    nothing. Most commits were inline.
 *   replay           the log written that way recovers every workspace.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/daemon.h"
#include "limits.h"
#include "ops.h"
#include "plog.h"
#include "qd_frame.h"
#include "quotad.pb-c.h"
#include "recover.h"
#include "store.h"
#include "t.h"

#define IL_THREADS 4
#define IL_ROUNDS 300
#define IL_WARMUP_MAX 500
#define IL_IDLE_WAKE_MS 60000u          /* the writer commits on kicks only */
#define IL_WAIT_US_MAX 3000000          /* far below the idle tick */

static char g_dir[64];
static bool g_tmpfs;
static store *g_st;
static plog *g_pl;
static _Atomic int g_made;               /* workspaces created */
static pthread_barrier_t g_round;
static _Atomic int g_lost;               /* some thread gave up waiting */

/* One create_workspace through the whole op path; its reply's
 * seq_needed, or 0 on failure. */
static uint64_t il_make_ws(store *st)
{
    Quotad__CreateWorkspace cw = QUOTAD__CREATE_WORKSPACE__INIT;
    cw.name = "inline";
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CREATE_WORKSPACE;
    rq.create_workspace = &cw;
    Quotad__Request *rqs[1] = {&rq};
    Quotad__ClientFrame cf = QUOTAD__CLIENT_FRAME__INIT;
    cf.n_requests = 1;
    cf.requests = rqs;
    uint8_t *buf;
    size_t len;
    if (qd_frame_encode(&cf.base, FRAME_BYTES_MAX, &buf, &len) != 0)
        return 0;
    ops_reply r;
    int rc = ops_handle_frame(st, buf + 4, len - 4, &r);
    free(buf);
    if (rc != 0)
        return 0;
    uint64_t seq = r.seq_needed;
    ops_reply_free(&r);
    atomic_fetch_add(&g_made, 1);
    return seq;
}

/* Spin (yielding) until seq is durable; the wait in µs, or -1. */
static int64_t il_wait_durable(uint64_t seq)
{
    int64_t t0 = t_mono_us();
    while (plog_durable_seq(g_pl) < seq) {
        if (t_mono_us() - t0 > IL_WAIT_US_MAX || plog_failed(g_pl))
            return -1;
        sched_yield();
    }
    return t_mono_us() - t0;
}

static store *il_store(void)
{
    store_opts o;
    store_opts_default(&o);
    o.shards = 4;
    store *st = NULL;
    return store_open(&o, &st) == 0 ? st : NULL;
}

static void test_becomes_inline(void)
{
    g_tmpfs = td_tmpfs_dir("qd-inline", g_dir, sizeof g_dir);
    if (!g_tmpfs) {
        snprintf(g_dir, sizeof g_dir, "/tmp/qd-inline-XXXXXX");
        T_REQUIRE(mkdtemp(g_dir) != NULL);
    }
    g_st = il_store();
    T_REQUIRE(g_st != NULL);
    plog_opts po = {.dir = g_dir, .fsync = PLOG_FSYNC_ALWAYS,
                    .segment_bytes_max = PLOG_SEGMENT_BYTES_DEFAULT,
                    .idle_wake_ms = IL_IDLE_WAKE_MS};
    T_REQUIRE(plog_open(g_st, &po, &g_pl) == 0);
    T_CHECK(plog_holds_replies(g_pl));
    T_CHECK(!plog_inline_ok(g_pl));      /* slow until commits are seen */
    int i = 0;
    for (; i < IL_WARMUP_MAX && !plog_inline_ok(g_pl); i++) {
        uint64_t seq = il_make_ws(g_st);
        T_REQUIRE(seq > 0);
        plog_kick(g_pl);
        T_REQUIRE(il_wait_durable(seq) >= 0);
    }
    printf("# %s: inline after %d writer commits: %s\n",
           g_tmpfs ? "tmpfs" : "disk (no tmpfs here)", i,
           plog_inline_ok(g_pl) ? "yes" : "no");
    if (g_tmpfs)
        T_CHECK(plog_inline_ok(g_pl));
}

typedef struct il_thread {
    pthread_t tid;
    int lost, failed;
    int64_t worst_us;
} il_thread;

static void *il_leader(void *arg)
{
    il_thread *t = arg;
    for (int r = 0; r < IL_ROUNDS; r++) {
        uint64_t seq = il_make_ws(g_st);
        if (seq == 0) {
            t->failed++;
        } else {
            if (plog_inline_ok(g_pl))
                plog_commit_inline(g_pl);
            else
                plog_kick(g_pl);         /* as a worker does on a disk */
            int64_t us = il_wait_durable(seq);
            if (us < 0) {
                t->lost++;
                atomic_store(&g_lost, 1);
            } else if (us > t->worst_us) {
                t->worst_us = us;
            }
        }
        (void)pthread_barrier_wait(&g_round);
        if (atomic_load(&g_lost))        /* all see it after one barrier */
            break;
    }
    return NULL;
}

static void test_racing_leaders(void)
{
    T_REQUIRE(g_pl != NULL);
    uint64_t c0[PLOG_COUNTERS], c1[PLOG_COUNTERS];
    plog_counters(g_pl, c0);
    il_thread t[IL_THREADS] = {0};
    T_REQUIRE(pthread_barrier_init(&g_round, NULL, IL_THREADS) == 0);
    int started = 0;
    for (; started < IL_THREADS; started++)
        if (pthread_create(&t[started].tid, NULL, il_leader, &t[started]))
            break;
    T_REQUIRE(started == IL_THREADS);   /* else the barrier never opens */
    int64_t worst = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i].tid, NULL);
        T_EQ_I64(t[i].failed, 0);
        T_EQ_I64(t[i].lost, 0);
        worst = t[i].worst_us > worst ? t[i].worst_us : worst;
    }
    (void)pthread_barrier_destroy(&g_round);
    plog_counters(g_pl, c1);
    uint64_t commits = c1[0] - c0[0], inl = c1[7] - c0[7];
    printf("# %d records: %llu commits, %llu inline, slowest wait %lld us\n",
           started * IL_ROUNDS, (unsigned long long)commits,
           (unsigned long long)inl, (long long)worst);
    T_EQ_I64(c1[1] - c0[1], (uint64_t)started * IL_ROUNDS);   /* records */
    T_CHECK(plog_durable_seq(g_pl) >= store_current_seq(g_st));
    if (g_tmpfs)
        T_CHECK(inl > 0 && inl <= commits);
}

static void test_replay(void)
{
    T_REQUIRE(g_pl != NULL);
    int made = atomic_load(&g_made);
    T_EQ_I64(plog_close(g_pl), 0);
    g_pl = NULL;
    store_close(g_st);
    g_st = il_store();
    T_REQUIRE(g_st != NULL);
    recover_opts ro = {.dir = g_dir};
    recover_report rep;
    char err[256];
    T_REQUIRE(recover_load(g_st, &ro, &rep, err, sizeof err) == 0);
    T_EQ_I64(rep.records_applied, made);
    T_EQ_I64(rep.records_skipped, 0);
    store_close(g_st);
    g_st = NULL;
    td_remove_tree(g_dir);
}

int main(void)
{
    T_RUN(test_becomes_inline);
    T_RUN(test_racing_leaders);
    T_RUN(test_replay);
    if (g_pl != NULL)
        (void)plog_close(g_pl);
    return t_done();
}
