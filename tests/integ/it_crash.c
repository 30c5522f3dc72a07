/* it_crash -- kill -9 under a load of concurrent debits, with
 * --fsync always: no acknowledged change may be lost or applied twice.
 *
 * Each round, THREADS client threads (one qc_ctx each) send debits (sync
 * and pipelined) and holds followed by settles, every one with a unique
 * idempotency id, against a few keys of one wallet. At a seeded random
 * moment KILL_MS_MIN..KILL_MS_MAX ms into the load the daemon is killed
 * with SIGKILL and restarted on the same data dir. Then, before anything
 * else, the wallet balance B and each key's quota are read, and:
 *   - every acknowledged (reply received) allowed request is re-sent with
 *     its id: it must replay (replayed=true, same charged / hold id /
 *     refund): every acked one is present, and is never applied twice;
 *   - every unacknowledged one is re-sent: replayed=true means it was
 *     applied before the crash (its effect sums to X), otherwise it is
 *     applied now (Y);
 *   - start - B == A + X exactly, A = effect of the acked requests (debit
 *     and hold: charged; settle: -refunded); the same per key for quota;
 *     no balance or quota below its limit;
 *   - holds left open are voided (each must exist), and the final balance
 *     and quotas equal the tracked expectation, which carries over to the
 *     next round: several rounds share one data dir (ROUNDS_PER_LIFE).
 * Every other data dir lifetime runs with a small --snapshot-log-bytes, so
 * automatic snapshots run under the load and some kills hit them.
 * Rounds: ROUNDS (QUOTAD_SOAK=1: SOAK_ROUNDS). Seed: QUOTAD_TEST_SEED.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/persist_util.h"
#include "t.h"

#define THREADS 8
#define ROUNDS 50
#define SOAK_ROUNDS 1000
#define ROUNDS_PER_LIFE 10
#define KILL_MS_MIN 20
#define KILL_MS_MAX 400
#define OPS_PER_THREAD_MAX 400       /* per round; threads stop at the kill */
#define BURST 4                      /* pipelined debits */
#define OPS_MAX (OPS_PER_THREAD_MAX + BURST + 1)
#define ROUND_DEADLINE_MS 10000      /* workers stop even with no kill */
#define N_KEYS 4
#define WALLET (INT64_C(1000000) * FX_UNIT)
#define QUOTA_TIGHT INT64_C(600000)  /* key 1: binds within a lifetime */
#define QUOTA_WIDE (INT64_C(1000000) * FX_UNIT)
#define AMOUNT_MAX 1000
#define TOKENS_PER_OP_MAX 20
#define HOLD_TIMEOUT_MS 3600000u     /* never expires during the test */
#define PCT_DEBIT 60
#define PCT_BURST 70                 /* 60..69: burst, the rest: holds */
#define PCT_SETTLE 85                /* of holds: settled, else left open */
#define IDEM_BYTES 40
#define AUTO_SNAP_BYTES "65536"     /* odd lives: automatic snapshots */
#define REPLAY_PIPELINE 64          /* replays in flight at once */

typedef enum op_kind { OP_DEBIT, OP_HOLD, OP_SETTLE } op_kind;

/* One request as sent, and its reply when one came back. */
typedef struct op {
    op_kind kind;
    int key;
    bool acked, settled;             /* settled: a settle op follows (holds) */
    int64_t amount, amount_min, tokens;
    uint64_t hold_id;                /* hold: placed; settle: target */
    char idem[IDEM_BYTES];
    int decision;
    int64_t charged, refunded;
} op;

typedef struct worker {
    int index;
    pthread_t th;
    qc_ctx *c;
    uint64_t rng;
    int64_t deadline_ms;
    op ops[OPS_MAX];
    size_t n_ops;
    int64_t server_errors, bad_replies;
    char tag[24];                    /* life/round prefix of idem ids */
} worker;

/* One daemon lifetime: its keys and what the state must be. */
typedef struct life {
    td_daemon d;
    uint32_t ws;
    fx_key keys[N_KEYS];
    bool has_quota[N_KEYS];
    int64_t balance;                 /* expected */
    int64_t quota[N_KEYS];           /* expected (quota keys) */
} life;

/* What verification found; summed over all rounds. */
typedef struct totals {
    int64_t rounds, acked, unacked, unacked_applied, unacked_new;
    int64_t replays, holds_voided, server_errors, from_snapshot;
} totals;

static worker g_w[THREADS];
static const char *g_secrets[N_KEYS];
static int64_t g_overdraft;
static uint64_t g_rng;
static totals g_tot;

/* ---- load --------------------------------------------------------------- */

static op *new_op(worker *w, op_kind kind, int key)
{
    op *o = &w->ops[w->n_ops];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->key = key;
    snprintf(o->idem, sizeof o->idem, "%s-t%d-%zu", w->tag, w->index,
             w->n_ops);
    w->n_ops++;
    return o;
}

/* The check request of an op (the same bytes every time it is sent). */
static qc_check_req op_req(const op *o)
{
    qc_check_req rq = {.secret = g_secrets[o->key], .amount = o->amount,
                       .amount_min = o->amount_min, .tokens = o->tokens,
                       .idempotency_id = o->idem,
                       .hold = o->kind == OP_HOLD,
                       .hold_timeout_ms = o->kind == OP_HOLD
                                              ? HOLD_TIMEOUT_MS : 0};
    return rq;
}

/* Record a check reply; every reply must respect the limits. */
static void took_check(worker *w, op *o, const qc_check_res *rs)
{
    o->acked = true;
    o->decision = (int)rs->decision;
    o->charged = rs->charged;
    o->hold_id = rs->hold_id;
    if (rs->wallet_balance < -g_overdraft ||
        (o->key == 1 && rs->quota_remaining < 0))
        w->bad_replies++;
}

/* rc of a call: 0 go on; a server code is an error; transport: stop. */
static int judge(worker *w, int rc)
{
    if (rc > 0)
        w->server_errors++;
    return rc < 0 ? -1 : 0;
}

/* A new check op with random key, amount and tokens. */
static op *rand_check(worker *w, op_kind kind)
{
    op *o = new_op(w, kind, (int)pu_rand_range(&w->rng, 0, N_KEYS - 1));
    o->amount = pu_rand_range(&w->rng, 1, AMOUNT_MAX);
    o->amount_min = kind == OP_HOLD ? o->amount / 2 : 0;
    o->tokens = pu_rand_range(&w->rng, 0, TOKENS_PER_OP_MAX);
    return o;
}

/* One synchronous debit. */
static int do_debit(worker *w)
{
    op *o = rand_check(w, OP_DEBIT);
    qc_check_req rq = op_req(o);
    qc_check_res rs = {0};
    int rc = qc_check(w->c, &rq, &rs);
    if (rc == QC_OK)
        took_check(w, o, &rs);
    return judge(w, rc);
}

/* BURST debits pipelined; the ones without a reply stay unacked. */
static int do_burst(worker *w)
{
    op *first = &w->ops[w->n_ops];
    for (int i = 0; i < BURST; i++) {
        op *o = rand_check(w, OP_DEBIT);
        qc_check_req rq = op_req(o);
        if (qc_check_append(w->c, &rq, NULL) != QC_OK)
            return -1;
    }
    for (int i = 0; i < BURST; i++) {
        qc_check_res rs = {0};
        int rc = qc_check_read(w->c, NULL, &rs);
        if (rc == QC_OK)
            took_check(w, &first[i], &rs);
        if (judge(w, rc) != 0)
            return -1;
    }
    return 0;
}

/* A hold, then (usually) a settle of part of it. */
static int do_hold(worker *w)
{
    op *h = rand_check(w, OP_HOLD);
    qc_check_req rq = op_req(h);
    qc_check_res rs = {0};
    int rc = qc_check(w->c, &rq, &rs);
    if (rc == QC_OK)
        took_check(w, h, &rs);
    if (judge(w, rc) != 0 || !h->acked || h->decision != QC_ALLOWED ||
        pu_rand_range(&w->rng, 0, 99) >= PCT_SETTLE)
        return rc < 0 ? -1 : 0;
    op *s = new_op(w, OP_SETTLE, h->key);
    h->settled = true;
    s->hold_id = h->hold_id;
    s->amount = pu_rand_range(&w->rng, 0, h->charged);
    qc_settle_res ss = {0};
    rc = qc_settle(w->c, s->hold_id, s->amount, 0, s->idem, &ss);
    if (rc == QC_OK) {
        s->acked = true;
        s->charged = ss.charged;
        s->refunded = ss.refunded;
    }
    return judge(w, rc);
}

/* Until the connection breaks (the kill), the op budget or the deadline. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    while (w->n_ops + BURST + 1 < OPS_MAX && td_now_ms() < w->deadline_ms) {
        int r = (int)pu_rand_range(&w->rng, 0, 99);
        int rc = r < PCT_DEBIT ? do_debit(w)
                 : r < PCT_BURST ? do_burst(w) : do_hold(w);
        if (rc != 0)
            break;
    }
    return NULL;
}

/* ---- effects ------------------------------------------------------------ */

/* Money an allowed request took (debit, hold) or gave back (settle). */
static int64_t effect(const op *o, int64_t charged, int64_t refunded)
{
    return o->kind == OP_SETTLE ? -refunded : charged;
}

/* Current balance and quotas; -1 on failure. */
static int read_state(qc_ctx *c, const life *l, int64_t *bal,
                      int64_t quota[N_KEYS], int64_t *reserved)
{
    fx_ws_state w;
    if (fx_ws_state_get(c, l->ws, &w) != QC_OK)
        return -1;
    *bal = w.balance;
    *reserved = w.reserved;
    for (int k = 0; k < N_KEYS; k++) {
        fx_key_state ks;
        if (fx_key_state_get(c, l->keys[k].id, &ks) != QC_OK)
            return -1;
        quota[k] = ks.quota_remaining;
    }
    return 0;
}

/* A hold that is still open after the resends: voided at the end. */
typedef struct open_hold {
    uint64_t id;
    int key;
} open_hold;

#define OPEN_MAX (THREADS * OPS_MAX)

/* Sums of one verification pass. */
typedef struct sums {
    int64_t a, x, y, a_k[N_KEYS], x_k[N_KEYS], y_k[N_KEYS];
    int64_t acked, unacked, applied_before, applied_now, replays;
} sums;

/* Re-send one check op with its id. */
static int resend_check(qc_ctx *c, const op *o, qc_check_res *rs)
{
    qc_check_req rq = op_req(o);
    return qc_check(c, &rq, rs);
}

/* Count an acked request's effect into A. */
static void add_acked(const op *o, sums *s)
{
    int64_t e = effect(o, o->charged, o->refunded);
    s->a += e;
    s->a_k[o->key] += e;
    s->replays++;
}

/* An acked settle must replay its first answer exactly. */
static void replay_settle(qc_ctx *c, const op *o, sums *s)
{
    qc_settle_res ss = {0};
    T_EQ_I64(qc_settle(c, o->hold_id, o->amount, 0, o->idem, &ss), 0);
    T_CHECK(ss.replayed);
    T_EQ_I64(ss.charged, o->charged);
    T_EQ_I64(ss.refunded, o->refunded);
    add_acked(o, s);
}

/* Acked checks replay in pipelined groups (same answers, nothing moves). */
static void replay_checks(qc_ctx *c, op *const *ops, size_t n, sums *s)
{
    for (size_t i = 0; i < n; i++) {
        qc_check_req rq = op_req(ops[i]);
        T_EQ_I64(qc_check_append(c, &rq, NULL), QC_OK);
    }
    for (size_t i = 0; i < n; i++) {
        qc_check_res rs = {0};
        int rc = qc_check_read(c, NULL, &rs);
        T_EQ_I64(rc, QC_OK);
        if (rc != QC_OK)
            return;
        T_CHECK(rs.replayed);
        T_EQ_I64(rs.decision, QC_ALLOWED);
        T_EQ_I64(rs.charged, ops[i]->charged);
        T_EQ_I64(rs.hold_id, ops[i]->hold_id);
        add_acked(ops[i], s);
    }
}

/* An unacked request: applied before the crash (replayed) or now. A hold
 * that exists after this is added to the open list. */
static void resolve_unacked(qc_ctx *c, op *o, sums *s, open_hold *open,
                            size_t *n_open)
{
    bool replayed = false, allowed = false;
    int64_t charged = 0, refunded = 0;
    if (o->kind == OP_SETTLE) {
        qc_settle_res ss = {0};
        int rc = qc_settle(c, o->hold_id, o->amount, 0, o->idem, &ss);
        T_EQ_I64(rc, QC_OK); /* NOT_FOUND: an acked hold was lost */
        allowed = rc == QC_OK;
        replayed = ss.replayed;
        charged = ss.charged;
        refunded = ss.refunded;
    } else {
        qc_check_res rs = {0};
        int rc = resend_check(c, o, &rs);
        T_EQ_I64(rc, QC_OK);
        allowed = rc == QC_OK && rs.decision == QC_ALLOWED;
        replayed = rs.replayed;
        charged = rs.charged;
        if (allowed && o->kind == OP_HOLD && *n_open < OPEN_MAX)
            open[(*n_open)++] = (open_hold){rs.hold_id, o->key};
    }
    int64_t e = allowed ? effect(o, charged, refunded) : 0;
    if (replayed) {
        s->x += e;
        s->x_k[o->key] += e;
        s->applied_before++;
    } else {
        s->y += e;
        s->y_k[o->key] += e;
        s->applied_now += allowed;
    }
}

/* Replays of every acked allowed request; open holds are noted. */
static void replay_all(qc_ctx *c, sums *s, open_hold *open, size_t *n_open)
{
    op *group[REPLAY_PIPELINE];
    size_t n = 0;
    for (int t = 0; t < THREADS; t++) {
        worker *w = &g_w[t];
        for (size_t i = 0; i < w->n_ops; i++) {
            op *o = &w->ops[i];
            if (!o->acked || o->decision != QC_ALLOWED)
                continue;
            s->acked++;
            if (o->kind == OP_HOLD && !o->settled && *n_open < OPEN_MAX)
                open[(*n_open)++] = (open_hold){o->hold_id, o->key};
            if (o->kind == OP_SETTLE) {
                replay_settle(c, o, s);
                continue;
            }
            group[n++] = o;
            if (n == REPLAY_PIPELINE) {
                replay_checks(c, group, n, s);
                n = 0;
            }
        }
    }
    replay_checks(c, group, n, s);
}

/* Replays first (state untouched), then the unacked ones. */
static void resend_all(qc_ctx *c, sums *s, open_hold *open, size_t *n_open)
{
    replay_all(c, s, open, n_open);
    for (int t = 0; t < THREADS; t++) {
        worker *w = &g_w[t];
        for (size_t i = 0; i < w->n_ops; i++) {
            if (w->ops[i].acked)
                continue;
            s->unacked++;
            resolve_unacked(c, &w->ops[i], s, open, n_open);
        }
    }
}

/* Void every hold still open (each must exist); returns the refunds. */
static int64_t void_open(qc_ctx *c, const open_hold *open, size_t n_open,
                         int64_t refund_k[N_KEYS])
{
    int64_t total = 0;
    for (size_t i = 0; i < n_open; i++) {
        qc_settle_res ss = {0};
        int rc = qc_void(c, open[i].id, &ss);
        T_EQ_I64(rc, QC_OK);
        if (rc != QC_OK)
            continue;
        total += ss.refunded;
        refund_k[open[i].key] += ss.refunded;
    }
    g_tot.holds_voided += (int64_t)n_open;
    return total;
}

/* ---- one round ------------------------------------------------------------ */

/* start - B == A + X for the wallet and every quota key; limits hold. */
static void check_arith(const life *l, int64_t b, const int64_t q[N_KEYS],
                        const sums *s)
{
    T_EQ_I64(l->balance - b, s->a + s->x);
    T_CHECK(b >= -g_overdraft);
    for (int k = 0; k < N_KEYS; k++) {
        if (!l->has_quota[k])
            continue;
        T_EQ_I64(l->quota[k] - q[k], s->a_k[k] + s->x_k[k]);
        T_CHECK(q[k] >= 0);
    }
}

/* New expectation after the resends and voids. */
static void carry_over(life *l, const sums *s, int64_t voided,
                       const int64_t refund_k[N_KEYS])
{
    l->balance += voided - s->a - s->x - s->y;
    for (int k = 0; k < N_KEYS; k++)
        if (l->has_quota[k])
            l->quota[k] += refund_k[k] - s->a_k[k] - s->x_k[k] - s->y_k[k];
}

/* The state now equals the expectation; on a mismatch, report and adopt
 * what the server says so later rounds are judged on their own. */
static void check_final(qc_ctx *c, life *l)
{
    int64_t b = 0, q[N_KEYS], reserved = 0;
    T_REQUIRE(read_state(c, l, &b, q, &reserved) == 0);
    T_EQ_I64(b, l->balance);
    T_EQ_I64(reserved, 0);
    l->balance = b;
    for (int k = 0; k < N_KEYS; k++) {
        if (!l->has_quota[k])
            continue;
        T_EQ_I64(q[k], l->quota[k]);
        l->quota[k] = q[k];
    }
}

/* Everything after the restart, with the daemon's first reply being B. */
static void verify_round(qc_ctx *c, life *l)
{
    static open_hold open[OPEN_MAX];
    size_t n_open = 0;
    int64_t b = 0, q[N_KEYS], reserved = 0;
    T_REQUIRE(read_state(c, l, &b, q, &reserved) == 0);
    sums s;
    memset(&s, 0, sizeof s);
    resend_all(c, &s, open, &n_open);
    check_arith(l, b, q, &s);
    int64_t refund_k[N_KEYS] = {0};
    int64_t voided = void_open(c, open, n_open, refund_k);
    carry_over(l, &s, voided, refund_k);
    check_final(c, l);
    g_tot.acked += s.acked;
    g_tot.unacked += s.unacked;
    g_tot.unacked_applied += s.applied_before;
    g_tot.unacked_new += s.applied_now;
    g_tot.replays += s.replays;
}

/* Connect THREADS clients and start them; returns how many started. */
static int start_workers(life *l, int life_no, int round)
{
    int started = 0;
    int64_t deadline = td_now_ms() + ROUND_DEADLINE_MS;
    for (int t = 0; t < THREADS; t++) {
        worker *w = &g_w[t];
        w->index = t;
        w->n_ops = 0;
        w->server_errors = w->bad_replies = 0;
        w->rng = pu_rand(&g_rng);
        w->deadline_ms = deadline;
        snprintf(w->tag, sizeof w->tag, "L%dR%d", life_no, round);
        w->c = td_connect(&l->d);
        if (w->c == NULL || pthread_create(&w->th, NULL, worker_main, w))
            break;
        started++;
    }
    return started;
}

/* Join, free the clients, add up errors. */
static void stop_workers(int started)
{
    for (int t = 0; t < THREADS; t++) {
        if (t < started)
            pthread_join(g_w[t].th, NULL);
        else
            g_w[t].n_ops = 0;
        qc_free(g_w[t].c);
        g_w[t].c = NULL;
        g_tot.server_errors += g_w[t].server_errors;
        T_EQ_I64(g_w[t].server_errors, 0);
        T_EQ_I64(g_w[t].bad_replies, 0);
    }
}

/* Did this start load a snapshot? (DIR/stderr is rewritten per start.) */
static int recovered_from_snapshot(const td_daemon *d)
{
    return td_stderr_has(d, "recover: loaded ");
}

/* Load, kill -9 at a random moment, restart, verify. -1: stop the life. */
static int run_round(life *l, int life_no, int round)
{
    int kill_ms = (int)pu_rand_range(&g_rng, KILL_MS_MIN, KILL_MS_MAX);
    int started = start_workers(l, life_no, round);
    T_EQ_I64(started, THREADS);
    td_sleep_ms(kill_ms);
    T_EQ_I64(td_kill9(&l->d), 0);
    stop_workers(started);
    if (td_restart(&l->d) != 0) {
        fprintf(stderr, "  life %d round %d: restart after kill at %d ms "
                "failed\n", life_no, round, kill_ms);
        T_CHECK(!"restart after kill -9");
        return -1;
    }
    g_tot.from_snapshot += recovered_from_snapshot(&l->d);
    qc_ctx *c = td_connect(&l->d);
    T_CHECK(c != NULL);
    if (c == NULL)
        return -1;
    int before = t_failed_checks;
    verify_round(c, l);
    if (t_failed_checks != before)
        fprintf(stderr, "  ^ life %d round %d (kill at %d ms)\n", life_no,
                round, kill_ms);
    qc_free(c);
    g_tot.rounds++;
    return 0;
}

/* ---- lifetimes ---------------------------------------------------------- */

/* Workspace and keys: two unlimited, one tight quota, one wide. */
static int setup_life(qc_ctx *c, life *l)
{
    if (fx_workspace(c, WALLET, 0, 0, &l->ws) != QC_OK)
        return -1;
    l->balance = WALLET;
    for (int k = 0; k < N_KEYS; k++) {
        Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
        int64_t quota = k == 1 ? QUOTA_TIGHT : k == 2 ? QUOTA_WIDE : -1;
        if (quota > 0)
            FX_SET(lim, quota_total, quota);
        if (fx_key_create(c, l->ws, quota > 0 ? &lim : NULL, &l->keys[k]))
            return -1;
        l->has_quota[k] = quota > 0;
        l->quota[k] = quota;
        g_secrets[k] = l->keys[k].secret;
    }
    return 0;
}

/* A clean stop and restart at the end of a life: same state, exit 0. */
static void end_life(life *l)
{
    T_EQ_I64(td_stop(&l->d), 0);
    T_REQUIRE(td_restart(&l->d) == 0);
    qc_ctx *c = td_connect(&l->d);
    T_REQUIRE(c != NULL);
    check_final(c, l);
    T_EQ_I64(fx_finish(&l->d, c), 0);
}

/* One data dir: fresh daemon, `rounds` kill rounds, clean end. */
static void run_life(int life_no, int rounds)
{
    static life l;
    memset(&l, 0, sizeof l);
    /* Every other life also snapshots by itself, so kills land during
     * snapshots and recovery goes through snapshot + log tail. */
    const char *args[] = {"--fsync", "always",
                          life_no % 2 ? "--snapshot-log-bytes" : NULL,
                          AUTO_SNAP_BYTES, NULL};
    qc_ctx *c = NULL;
    T_REQUIRE(fx_start(&l.d, args, &c) == 0);
    int rc = setup_life(c, &l);
    qc_free(c);
    T_CHECK(rc == 0);
    for (int r = 0; rc == 0 && r < rounds; r++)
        rc = run_round(&l, life_no, r);
    if (rc == 0 && l.d.pid != 0)
        end_life(&l);
    td_cleanup(&l.d);
}

/* All lives; prints the totals the brief asks for. */
static void test_kill9_under_load(void)
{
    int rounds = pu_soak() ? SOAK_ROUNDS : ROUNDS;
    int64_t t0 = td_now_ms();
    g_overdraft = 0;
    for (int life_no = 0; life_no * ROUNDS_PER_LIFE < rounds; life_no++) {
        int n = rounds - life_no * ROUNDS_PER_LIFE;
        run_life(life_no, n < ROUNDS_PER_LIFE ? n : ROUNDS_PER_LIFE);
        if (t_failed_checks > 0 && !pu_soak())
            break;
    }
    printf("# %" PRId64 " kill -9 rounds in %" PRId64 " ms: %" PRId64
           " acked requests replayed, %" PRId64 " unacked (%" PRId64
           " had been applied, %" PRId64 " applied on re-send), %" PRId64
           " open holds voided, %" PRId64 " restarts from a snapshot\n",
           g_tot.rounds, td_now_ms() - t0, g_tot.replays, g_tot.unacked,
           g_tot.unacked_applied, g_tot.unacked_new, g_tot.holds_voided,
           g_tot.from_snapshot);
    T_CHECK(g_tot.rounds >= rounds);
    T_CHECK(g_tot.from_snapshot > 0);
    T_CHECK(g_tot.acked > 0);
}

int main(void)
{
    g_rng = pu_seed("QUOTAD_TEST_SEED");
    printf("# seed %" PRIu64 " (QUOTAD_TEST_SEED)\n", g_rng);
    T_RUN(test_kill9_under_load);
    return t_done();
}
