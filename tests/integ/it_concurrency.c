/* it_concurrency -- 32 client threads (one qc_ctx each) hammer one wallet
 * and one key on a real daemon. Every thread adds up what it was charged;
 * afterwards the server's counters must equal start minus that sum
 * exactly, and no reply may ever show quota below 0 or a balance below
 * -overdraft. Phases: quota binding (debits, pipelined, batched, holds
 * settled or voided), wallet binding, and RPM inside one minute window.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "t.h"

#define THREADS 32
#define P1_OPS_PER_THREAD 600       /* ~30k checks in all (bursts are 4) */
#define P1_WALLET (INT64_C(1000000) * FX_UNIT)
#define P1_QUOTA INT64_C(8000000)   /* binds about half-way */
#define P1_AMOUNT_MAX 1000
#define P1_TOKENS_MAX 50
#define P2_WALLET INT64_C(2000000)
#define P2_OPS_PER_THREAD 150
#define P2_AMOUNT_MAX 5000
#define P3_RPM 200
#define P3_PER_THREAD 10            /* 320 requests > rpm */
#define P3_ROOM_MS 20000
#define MINUTE_MS 60000
#define PHASE_DEADLINE_MS 90000     /* each phase stops by itself */
#define BURST 4                     /* pipelined / batched checks */

typedef enum phase { PH_QUOTA, PH_WALLET, PH_RPM } phase;

/* What one thread saw; summed by the main thread. */
typedef struct tstate {
    int index;
    phase ph;
    const char *secret;
    int64_t overdraft;
    int64_t deadline_ms;
    uint64_t rng;
    int64_t net;            /* charged minus refunded */
    int64_t allowed, denied, tokens, requests;
    int64_t errors, bad_replies, bad_decisions;
} tstate;

static td_daemon g_d;
static qc_ctx *g_c;

/* xorshift64*: cheap per-thread random numbers, seeded per thread. */
static uint64_t rnd(tstate *t)
{
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * UINT64_C(2685821657736338717);
}

/* Uniform-ish value in [lo, hi]. */
static int64_t rnd_range(tstate *t, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd(t) % (uint64_t)(hi - lo + 1));
}

/* Invariants every reply must hold, and the deny codes a phase allows. */
static void observe(tstate *t, const qc_check_res *rs, int64_t tokens)
{
    t->requests++;
    if ((t->ph == PH_QUOTA && rs->quota_remaining < 0) ||
        rs->wallet_balance < -t->overdraft)
        t->bad_replies++;
    if (rs->decision == QC_ALLOWED) {
        t->allowed++;
        t->tokens += tokens;
        t->net += rs->charged;
        return;
    }
    t->denied++;
    int want = t->ph == PH_QUOTA    ? QC_QUOTA_EXCEEDED
               : t->ph == PH_WALLET ? QC_INSUFFICIENT_CREDITS
                                    : QC_RATE_LIMITED;
    if ((int)rs->decision != want)
        t->bad_decisions++;
}

/* A random debit request of this phase (tokens only in phase 1). */
static qc_check_req mk_req(tstate *t, int64_t max_amount, int64_t *tokens)
{
    *tokens = t->ph == PH_QUOTA ? rnd_range(t, 0, P1_TOKENS_MAX) : 0;
    qc_check_req rq = {.secret = t->secret,
                       .amount = rnd_range(t, 1, max_amount),
                       .tokens = *tokens};
    return rq;
}

/* One synchronous debit. */
static void one_debit(qc_ctx *c, tstate *t, int64_t max_amount)
{
    int64_t tok;
    qc_check_req rq = mk_req(t, max_amount, &tok);
    qc_check_res rs;
    if (qc_check(c, &rq, &rs) != QC_OK) {
        t->errors++;
        return;
    }
    observe(t, &rs, tok);
}

/* BURST checks pipelined, then their replies. */
static void burst_pipelined(qc_ctx *c, tstate *t, int64_t max_amount)
{
    int64_t tok[BURST];
    for (int i = 0; i < BURST; i++) {
        qc_check_req rq = mk_req(t, max_amount, &tok[i]);
        if (qc_check_append(c, &rq, NULL) != QC_OK) {
            t->errors++;
            return;
        }
    }
    for (int i = 0; i < BURST; i++) {
        qc_check_res rs;
        if (qc_check_read(c, NULL, &rs) != QC_OK) {
            t->errors++;
            return;
        }
        observe(t, &rs, tok[i]);
    }
}

/* BURST checks in one frame. */
static void burst_batch(qc_ctx *c, tstate *t, int64_t max_amount)
{
    qc_check_req rq[BURST];
    qc_check_res rs[BURST];
    int rcs[BURST];
    int64_t tok[BURST];
    for (int i = 0; i < BURST; i++)
        rq[i] = mk_req(t, max_amount, &tok[i]);
    if (qc_check_batch(c, rq, rs, rcs, BURST) != QC_OK) {
        t->errors++;
        return;
    }
    for (int i = 0; i < BURST; i++) {
        if (rcs[i] != QC_OK)
            t->errors++;
        else
            observe(t, &rs[i], tok[i]);
    }
}

/* A hold, then settle with a random amount (maybe above it) or void. */
static void hold_cycle(qc_ctx *c, tstate *t, int64_t max_amount, int do_void)
{
    int64_t tok;
    qc_check_req rq = mk_req(t, max_amount, &tok);
    rq.hold = true;
    rq.amount_min = t->ph == PH_WALLET ? 1 : rq.amount;
    qc_check_res rs;
    if (qc_check(c, &rq, &rs) != QC_OK) {
        t->errors++;
        return;
    }
    observe(t, &rs, tok);
    if (rs.decision != QC_ALLOWED)
        return;
    t->net -= rs.charged;              /* counted again at settle */
    qc_settle_res ss;
    int rc = do_void ? qc_void(c, rs.hold_id, &ss)
                     : qc_settle(c, rs.hold_id,
                                 rnd_range(t, 0, rs.charged + 100), 0, NULL,
                                 &ss);
    if (rc != QC_OK) {
        t->errors++;
        t->net += rs.charged;          /* it stays reserved */
        return;
    }
    if (ss.charged + ss.refunded != rs.charged || ss.charged > rs.charged)
        t->bad_replies++;
    if ((t->ph == PH_QUOTA && ss.quota_remaining < 0) ||
        ss.wallet_balance < -t->overdraft)
        t->bad_replies++;
    t->net += ss.charged;
}

/* One random operation of phases 1 and 2. */
static void one_op(qc_ctx *c, tstate *t, int64_t max_amount)
{
    int r = (int)rnd_range(t, 0, 9);
    if (r <= 4)
        one_debit(c, t, max_amount);
    else if (r == 5)
        burst_pipelined(c, t, max_amount);
    else if (r == 6)
        burst_batch(c, t, max_amount);
    else
        hold_cycle(c, t, max_amount, r == 9);
}

/* One client thread: its own connection, a bounded number of ops and a
 * deadline. */
static void *worker(void *arg)
{
    tstate *t = arg;
    qc_ctx *c = td_connect(&g_d);
    if (c == NULL) {
        t->errors++;
        return NULL;
    }
    int ops = t->ph == PH_QUOTA    ? P1_OPS_PER_THREAD
              : t->ph == PH_WALLET ? P2_OPS_PER_THREAD
                                   : P3_PER_THREAD;
    int64_t max_amount = t->ph == PH_QUOTA ? P1_AMOUNT_MAX : P2_AMOUNT_MAX;
    for (int i = 0; i < ops && t->errors == 0; i++) {
        if (td_now_ms() > t->deadline_ms)
            break;
        if (t->ph == PH_RPM)
            one_debit(c, t, 1);
        else
            one_op(c, t, max_amount);
    }
    qc_free(c);
    return NULL;
}

/* Run THREADS workers of phase ph and add up their states into sum. */
static int run_phase(phase ph, const char *secret, int64_t overdraft,
                     tstate *sum)
{
    static tstate ts[THREADS];
    pthread_t th[THREADS];
    int64_t deadline = td_now_ms() + PHASE_DEADLINE_MS;
    int started = 0;
    for (int i = 0; i < THREADS; i++) {
        ts[i] = (tstate){.index = i, .ph = ph, .secret = secret,
                         .overdraft = overdraft, .deadline_ms = deadline,
                         .rng = UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(i + 1)
                                + (uint64_t)ph};
        if (pthread_create(&th[i], NULL, worker, &ts[i]) != 0)
            break;
        started++;
    }
    memset(sum, 0, sizeof *sum);
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        sum->net += ts[i].net;
        sum->allowed += ts[i].allowed;
        sum->denied += ts[i].denied;
        sum->tokens += ts[i].tokens;
        sum->requests += ts[i].requests;
        sum->errors += ts[i].errors;
        sum->bad_replies += ts[i].bad_replies;
        sum->bad_decisions += ts[i].bad_decisions;
    }
    printf("# phase %d: %lld requests, %lld allowed, %lld denied, net %lld\n",
           (int)ph, (long long)sum->requests, (long long)sum->allowed,
           (long long)sum->denied, (long long)sum->net);
    return started == THREADS ? 0 : -1;
}

/* No call errors, no reply breaking an invariant, no unexpected deny. */
static void expect_clean(const tstate *s)
{
    T_EQ_I64(s->errors, 0);
    T_EQ_I64(s->bad_replies, 0);
    T_EQ_I64(s->bad_decisions, 0);
}

/* Phase 1: the key's quota binds; wallet and quota end exactly. */
static void test_quota_bound(void)
{
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(g_c, P1_WALLET, 0, 0, &ws) == QC_OK);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, P1_QUOTA);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    tstate s;
    T_REQUIRE(run_phase(PH_QUOTA, k.secret, 0, &s) == 0);
    expect_clean(&s);
    T_CHECK(s.requests >= THREADS * 100);
    T_CHECK(s.allowed > 0);
    fx_ws_state w;
    fx_key_state st;
    T_REQUIRE(fx_ws_state_get(g_c, ws, &w) == QC_OK);
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(w.balance, P1_WALLET - s.net);
    T_EQ_I64(w.reserved, 0);
    T_EQ_I64(st.quota_remaining, P1_QUOTA - s.net);
    T_CHECK(st.quota_remaining >= 0);
    T_EQ_I64(st.usage_spend, s.net);
    T_EQ_I64(w.usage_spend, s.net);
    T_EQ_I64(st.usage_requests, s.allowed);
    T_EQ_I64(w.usage_requests, s.allowed);
    T_EQ_I64(st.usage_tokens, s.tokens);
    T_EQ_I64(st.spend_month, s.net);
}

/* Phase 2: the wallet binds; the sum allowed never exceeds it. */
static void test_wallet_bound(void)
{
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(g_c, P2_WALLET, 0, 0, &ws) == QC_OK);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    tstate s;
    T_REQUIRE(run_phase(PH_WALLET, k.secret, 0, &s) == 0);
    expect_clean(&s);
    T_CHECK(s.net <= P2_WALLET);
    T_CHECK(s.denied > 0);
    fx_ws_state w;
    T_REQUIRE(fx_ws_state_get(g_c, ws, &w) == QC_OK);
    T_EQ_I64(w.balance, P2_WALLET - s.net);
    T_CHECK(w.balance >= 0);
    T_EQ_I64(w.reserved, 0);
    T_EQ_I64(w.usage_spend, s.net);
}

/* Phase 3: exactly rpm requests pass inside one minute window. */
static void test_rpm_exact(void)
{
    fx_wait_minute_room(P3_ROOM_MS);
    int64_t t0 = td_now_ms();
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(g_c, P2_WALLET, 0, 0, &ws) == QC_OK);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, rpm, P3_RPM);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    tstate s;
    T_REQUIRE(run_phase(PH_RPM, k.secret, 0, &s) == 0);
    int64_t t1 = td_now_ms();
    expect_clean(&s);
    T_EQ_I64(s.requests, THREADS * P3_PER_THREAD);
    if (t0 / MINUTE_MS != t1 / MINUTE_MS) {
        printf("# rpm phase crossed a minute boundary; not judged\n");
        return;
    }
    T_EQ_I64(s.allowed, P3_RPM);
    int64_t bal = 0;
    T_REQUIRE(fx_balance(g_c, ws, &bal) == QC_OK);
    T_EQ_I64(bal, P2_WALLET - P3_RPM);
}

/* The daemon must exit 0 with no sanitizer report. */
static void test_clean_shutdown(void)
{
    T_EQ_I64(fx_finish(&g_d, g_c), 0);
    g_c = NULL;
}

int main(void)
{
    if (fx_start(&g_d, NULL, &g_c) != 0) {
        printf("FAIL it_concurrency_start\n");
        return 1;
    }
    T_RUN(test_quota_bound);
    T_RUN(test_wallet_bound);
    T_RUN(test_rpm_exact);
    T_RUN(test_clean_shutdown);
    return t_done();
}
