/* it_snapload -- snapshots taken while clients keep checking.
 *
 * A: a daemon (--fsync always) holding BULK_KEYS extra keys (so a snapshot
 *    takes a while) gets SNAPSHOTS snapshots through the protocol op
 *    (start=true, then polled until running=false and last_seq advanced)
 *    while LOAD_THREADS clients run debits, holds and settles. No request
 *    may fail, old log segments and snapshots must be removed, and the
 *    state seen live just before a clean stop, and before a kill -9 (with
 *    a log tail written after the last snapshot), must be recovered
 *    exactly (canonical dump of every workspace and key). The largest
 *    check latency while a snapshot ran is printed and bounded.
 * B: a daemon with --snapshot-log-bytes AUTO_SNAP_BYTES snapshots by
 *    itself under the same load: at least AUTO_SNAPS_MIN of them happen,
 *    the number of log segments stays bounded, and recovery after kill -9
 *    and after a clean stop equals the live state.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/persist_util.h"
#include "t.h"

#define LOAD_THREADS 4
#define LOAD_KEYS 8
#define BULK_KEYS 3000
#define BULK_BATCH 256
#define BULK_MAX_KEYS 5000
#define WALLET (INT64_C(1000000000) * FX_UNIT)
#define QUOTA (INT64_C(1000000) * FX_UNIT)
#define AMOUNT_MAX 5000
#define SNAPSHOTS 5
#define SOAK_SNAPSHOTS 50          /* QUOTAD_SOAK=1 */
#define SNAP_GAP_MS 150
#define SNAP_WAIT_MS 30000
#define POLL_MS 5
#define QLOG_MAX 2            /* the live segment, and the one just closed */
#define QSNAP_MAX 1
#define LATENCY_BOUND_MS 500
#define TAIL_LOAD_MS 300      /* log written after the last snapshot */
#define AUTO_SNAP_BYTES "65536"
#define AUTO_LOAD_MS 4000
#define AUTO_SNAPS_MIN 2
#define AUTO_QLOG_MAX 4
#define AUTO_SAMPLE_MS 50
#define PCT_HOLD 15

/* One load client; the totals are read after it is joined. */
typedef struct loader {
    pthread_t th;
    qc_ctx *c;
    uint64_t rng;
    int64_t ok, failed, max_ms, max_snap_ms;   /* max_ms: outside snapshots */
} loader;

static loader g_load[LOAD_THREADS];
static fx_key g_keys[LOAD_KEYS];
static uint32_t g_ws, g_bulk_ws;
static atomic_int g_stop;
static atomic_int g_snap_active;

/* ---- load ---------------------------------------------------------------- */

/* Monotonic ms: latencies must not jump with the wall clock. */
static int64_t mono_ms(void)
{
    return t_mono_us() / 1000;
}

/* Time one call; remember the worst, and the worst during a snapshot. */
static void note_latency(loader *l, int64_t t0, bool snap_at_start)
{
    int64_t ms = mono_ms() - t0;
    bool snap = snap_at_start || atomic_load(&g_snap_active);
    int64_t *max = snap ? &l->max_snap_ms : &l->max_ms;
    if (ms > *max)
        *max = ms;
}

/* A debit, or a hold and its settle; every reply must be OK and allowed. */
static void load_one(loader *l)
{
    const fx_key *k = &g_keys[pu_rand_range(&l->rng, 0, LOAD_KEYS - 1)];
    bool hold = pu_rand_range(&l->rng, 0, 99) < PCT_HOLD;
    qc_check_req rq = {.secret = k->secret,
                       .amount = pu_rand_range(&l->rng, 1, AMOUNT_MAX),
                       .tokens = pu_rand_range(&l->rng, 0, 10),
                       .hold = hold};
    qc_check_res rs = {0};
    bool snap = atomic_load(&g_snap_active);
    int64_t t0 = mono_ms();
    int rc = qc_check(l->c, &rq, &rs);
    note_latency(l, t0, snap);
    if (rc != QC_OK || rs.decision != QC_ALLOWED) {
        l->failed++;
        return;
    }
    l->ok++;
    if (!hold)
        return;
    qc_settle_res ss = {0};
    rc = qc_settle(l->c, rs.hold_id, rs.charged / 2, 1, NULL, &ss);
    if (rc != QC_OK)
        l->failed++;
    else
        l->ok++;
}

/* Until told to stop, or after the first failure. */
static void *load_main(void *arg)
{
    loader *l = arg;
    while (!atomic_load(&g_stop) && l->failed == 0)
        load_one(l);
    return NULL;
}

/* LOAD_THREADS clients, each on its own connection. */
static int load_start(const td_daemon *d, uint64_t seed)
{
    atomic_store(&g_stop, 0);
    for (int i = 0; i < LOAD_THREADS; i++) {
        loader *l = &g_load[i];
        memset(l, 0, sizeof *l);
        l->rng = seed + (uint64_t)i;
        l->c = td_connect(d);
        if (l->c == NULL || pthread_create(&l->th, NULL, load_main, l)) {
            qc_free(l->c);
            l->c = NULL;
            return -1;
        }
    }
    return 0;
}

/* Stop and join every started loader; check nothing failed. */
static void load_stop(const char *what)
{
    atomic_store(&g_stop, 1);
    int64_t ok = 0, failed = 0, max_ms = 0, max_snap = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        loader *l = &g_load[i];
        if (l->c == NULL)
            continue;
        pthread_join(l->th, NULL);
        qc_free(l->c);
        l->c = NULL;
        ok += l->ok;
        failed += l->failed;
        max_ms = l->max_ms > max_ms ? l->max_ms : max_ms;
        max_snap = l->max_snap_ms > max_snap ? l->max_snap_ms : max_snap;
    }
    printf("# %s: %" PRId64 " requests ok, %" PRId64 " failed, max check "
           "latency %" PRId64 " ms during a snapshot, %" PRId64 " ms outside "
           "(bound %d ms during)\n", what, ok, failed, max_snap, max_ms,
           LATENCY_BOUND_MS);
    T_EQ_I64(failed, 0);
    T_CHECK(ok > 0);
    T_CHECK(max_snap < LATENCY_BOUND_MS);
}

/* ---- set-up -------------------------------------------------------------- */

/* n keys in one frame of create_key requests. */
static int bulk_batch(qc_ctx *c, uint32_t ws, size_t n)
{
    static Quotad__CreateKey ck[BULK_BATCH];
    static Quotad__Request rq[BULK_BATCH];
    static Quotad__Request *p[BULK_BATCH];
    static Quotad__Reply *out[BULK_BATCH];
    for (size_t i = 0; i < n; i++) {
        quotad__create_key__init(&ck[i]);
        FX_SET(ck[i], workspace_id, ws);
        ck[i].name = (char *)"bulk";
        quotad__request__init(&rq[i]);
        rq[i].op_case = QUOTAD__REQUEST__OP_CREATE_KEY;
        rq[i].create_key = &ck[i];
        p[i] = &rq[i];
    }
    int rc = qc_call_batch(c, p, n, out);
    for (size_t i = 0; rc == QC_OK && i < n; i++)
        if (out[i]->has_code && out[i]->code != QUOTAD__CODE__OK)
            rc = (int)out[i]->code;
    for (size_t i = 0; i < n && out[0] != NULL; i++)
        qc_reply_free(out[i]);
    return rc;
}

/* The load workspace and keys, and a bulk workspace to make snapshots
 * take a while. */
static int setup_state(qc_ctx *c)
{
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, QUOTA);
    if (fx_workspace(c, WALLET, 0, 0, &g_ws) != QC_OK ||
        fx_workspace(c, 0, 0, BULK_MAX_KEYS, &g_bulk_ws) != QC_OK)
        return -1;
    for (int i = 0; i < LOAD_KEYS; i++)
        if (fx_key_create(c, g_ws, &l, &g_keys[i]) != QC_OK)
            return -1;
    for (size_t done = 0; done < BULK_KEYS; done += BULK_BATCH) {
        size_t n = BULK_KEYS - done < BULK_BATCH ? BULK_KEYS - done
                                                 : BULK_BATCH;
        if (bulk_batch(c, g_bulk_ws, n) != QC_OK)
            return -1;
    }
    return 0;
}

/* ---- state comparison ---------------------------------------------------- */

/* Canonical dump of both workspaces and all their keys. */
static int dump_state(qc_ctx *c, pu_buf *b)
{
    bool windows = true;
    return pu_dump_workspace(c, g_ws, windows, b) |
           pu_dump_workspace(c, g_bulk_ws, windows, b);
}

/* Live dump, stop (clean or kill -9), restart, dump again: equal. */
static void recover_equals_live(td_daemon *d, bool kill9, const char *what)
{
    qc_ctx *c = td_connect(d);
    T_REQUIRE(c != NULL);
    pu_buf live = {0}, back = {0};
    int rc = dump_state(c, &live);
    qc_free(c);
    T_REQUIRE(rc == 0);
    T_EQ_I64(kill9 ? td_kill9(d) : td_stop(d), 0);
    T_REQUIRE(td_restart(d) == 0);
    c = td_connect(d);
    T_REQUIRE(c != NULL);
    T_CHECK(dump_state(c, &back) == 0);
    qc_free(c);
    const char *a = pu_buf_str(&live), *b = pu_buf_str(&back);
    T_CHECK(strcmp(a, b) == 0);
    if (strcmp(a, b) != 0)
        pu_print_first_diff(what, a, b);
    else
        printf("# %s: recovered state equals the live one (%zu bytes)\n",
               what, live.len);
    pu_buf_free(&live);
    pu_buf_free(&back);
}

/* ---- snapshots ------------------------------------------------------------ */

/* DIR/data, where td_start puts the daemon's data. */
static void data_dir(const td_daemon *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s/data", d->dir);
}

/* Start one snapshot and wait (bounded) until it finished with a newer
 * last_seq than prev; returns that seq, 0 on failure. */
static uint64_t snapshot_once(qc_ctx *c, uint64_t prev)
{
    bool started = false, running = true;
    uint64_t last = 0;
    int64_t t0 = mono_ms();
    atomic_store(&g_snap_active, 1);
    while (!started && mono_ms() - t0 < SNAP_WAIT_MS) {
        if (pu_snapshot(c, true, &started, &running, &last) != 0)
            break;
        if (!started)
            td_sleep_ms(POLL_MS); /* an automatic one is running */
    }
    while (started && mono_ms() - t0 < SNAP_WAIT_MS) {
        if (pu_snapshot(c, false, &started, &running, &last) != 0)
            break;
        started = true;
        if (!running && last > prev)
            break;
        td_sleep_ms(POLL_MS);
    }
    atomic_store(&g_snap_active, 0);
    printf("# snapshot to seq %" PRIu64 " took %" PRId64 " ms\n", last,
           mono_ms() - t0);
    return !running && last > prev ? last : 0;
}

/* Old segments and snapshots are gone once a snapshot is durable. */
static void check_compacted(const td_daemon *d)
{
    char dir[PU_PATH_BYTES];
    data_dir(d, dir, sizeof dir);
    int qlog = pu_count_files(dir, "log-", ".qlog");
    int qsnap = pu_count_files(dir, "snap-", ".qsnap");
    T_CHECK(qlog >= 1 && qlog <= QLOG_MAX);
    T_CHECK(qsnap == QSNAP_MAX);
    if (qlog > QLOG_MAX || qsnap != QSNAP_MAX)
        fprintf(stderr, "  %s: %d .qlog, %d .qsnap files\n", dir, qlog,
                qsnap);
}

/* SNAPSHOTS protocol snapshots while the load runs. */
static void snapshots_under_load(td_daemon *d, qc_ctx *c, uint64_t seed)
{
    T_REQUIRE(load_start(d, seed) == 0);
    uint64_t prev = 0;
    int n = pu_soak() ? SOAK_SNAPSHOTS : SNAPSHOTS;
    for (int i = 0; i < n; i++) {
        td_sleep_ms(SNAP_GAP_MS);
        uint64_t s = snapshot_once(c, prev);
        T_CHECK(s > prev);
        if (s == 0)
            break;
        prev = s;
        check_compacted(d);
    }
    td_sleep_ms(TAIL_LOAD_MS);
    load_stop("load during protocol snapshots");
}

/* The daemon's stderr says recovery loaded a snapshot. */
static void expect_loaded_snapshot(const td_daemon *d)
{
    T_CHECK(td_stderr_has(d, "recover: loaded "));
}

/* ---- tests ------------------------------------------------------------------ */

/* A: protocol snapshots under load, clean restart, then kill -9. */
static void test_protocol_snapshots(void)
{
    td_daemon d;
    qc_ctx *c = NULL;
    const char *args[] = {"--fsync", "always", NULL};
    T_REQUIRE(fx_start(&d, args, &c) == 0);
    if (setup_state(c) == 0) {
        snapshots_under_load(&d, c, 1);
        qc_free(c);
        c = NULL;
        recover_equals_live(&d, false, "clean restart after snapshots");
        expect_loaded_snapshot(&d);
        c = td_connect(&d);
        if (c != NULL)
            snapshots_under_load(&d, c, 100);
        qc_free(c);
        c = NULL;
        recover_equals_live(&d, true, "kill -9 after snapshot + log tail");
        expect_loaded_snapshot(&d);
    } else {
        T_CHECK(!"setup");
    }
    T_EQ_I64(fx_finish(&d, c), 0);
}

/* Sample the data dir while automatic snapshots run under load. */
static void watch_auto(const td_daemon *d, qc_ctx *c, int *snaps, int *qmax)
{
    char dir[PU_PATH_BYTES];
    data_dir(d, dir, sizeof dir);
    uint64_t prev = 0;
    int64_t end = mono_ms() + AUTO_LOAD_MS;
    while (mono_ms() < end) {
        bool started = false, running = false;
        uint64_t last = 0;
        if (pu_snapshot(c, false, &started, &running, &last) != 0)
            break;
        atomic_store(&g_snap_active, running);
        *snaps += last > prev;
        prev = last > prev ? last : prev;
        int n = pu_count_files(dir, "log-", ".qlog");
        *qmax = n > *qmax ? n : *qmax;
        td_sleep_ms(AUTO_SAMPLE_MS);
    }
    atomic_store(&g_snap_active, 0);
}

/* B: automatic snapshots (tiny --snapshot-log-bytes) under load. */
static void test_auto_snapshots(void)
{
    td_daemon d;
    qc_ctx *c = NULL;
    const char *args[] = {"--fsync", "always", "--snapshot-log-bytes",
                          AUTO_SNAP_BYTES, NULL};
    T_REQUIRE(fx_start(&d, args, &c) == 0);
    int snaps = 0, qmax = 0;
    if (setup_state(c) == 0 && load_start(&d, 1000) == 0) {
        watch_auto(&d, c, &snaps, &qmax);
        load_stop("load during automatic snapshots");
    } else {
        T_CHECK(!"setup");
        load_stop("set-up failed");
    }
    printf("# automatic snapshots seen: %d, most .qlog files at once: %d\n",
           snaps, qmax);
    T_CHECK(snaps >= AUTO_SNAPS_MIN);
    T_CHECK(qmax >= 1 && qmax <= AUTO_QLOG_MAX);
    qc_free(c);
    recover_equals_live(&d, true, "kill -9 with automatic snapshots");
    recover_equals_live(&d, false, "clean restart with automatic snapshots");
    T_EQ_I64(td_stop(&d), 0);
    td_cleanup(&d);
}

int main(void)
{
    T_RUN(test_protocol_snapshots);
    T_RUN(test_auto_snapshots);
    return t_done();
}
