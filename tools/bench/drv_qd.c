/* drv_qd.c -- the quotad backend: one window of requests on a libquotad
 * connection, exactly as a gateway would send them (qc_check_append /
 * qc_flush / qc_check_read, or qc_check_batch). The client library does
 * the protobuf work on this side, so its CPU cost is part of what the
 * shared two cores pay for quotad, as Redis's RESP cost is for Redis.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include "qc_admin.h"
#include "qc_internal.h"

/* What each pipeline slot of a window carries. */
enum { SLOT_CHECK, SLOT_UPDATE_KEY, SLOT_WALLET, SLOT_PING };

#define ADMIN_WALLET_DELTA_MICRO INT64_C(1)
#define PERMILLE 1000u

typedef struct qd_conn {
    qc_ctx *c;
    uint32_t slots;              /* pipeline or batch size */
    uint8_t *kind;               /* per slot */
    size_t *key;                 /* per slot: population index */
    uint64_t *hold_id;           /* hold mix: per slot, 0 = none */
    qc_check_req *req;           /* batch */
    qc_check_res *res;
    int *rcs;
    uint32_t head, count;        /* paced mode: ring of in-flight slots */
} qd_conn;

static void qd_close(bench_worker *w)
{
    qd_conn *q = w->conn;
    if (q == NULL)
        return;
    qc_free(q->c);
    free(q->kind);
    free(q->key);
    free(q->hold_id);
    free(q->req);
    free(q->res);
    free(q->rcs);
    free(q);
    w->conn = NULL;
}

static int qd_open(bench_worker *w)
{
    qd_conn *q = calloc(1, sizeof *q);
    if (q == NULL)
        return bench_fail(w, "out of memory");
    w->conn = q;
    q->slots = w->cfg->batch > 0 ? w->cfg->batch : w->cfg->pipeline;
    q->kind = calloc(q->slots, sizeof *q->kind);
    q->key = calloc(q->slots, sizeof *q->key);
    q->hold_id = calloc(q->slots, sizeof *q->hold_id);
    q->req = calloc(q->slots, sizeof *q->req);
    q->res = calloc(q->slots, sizeof *q->res);
    q->rcs = calloc(q->slots, sizeof *q->rcs);
    if (!q->kind || !q->key || !q->hold_id || !q->req || !q->res || !q->rcs)
        return bench_fail(w, "out of memory");
    qc_options o = qc_options_default();
    o.host = w->cfg->host;
    o.port = w->cfg->port;
    o.timeout_ms = BENCH_TIMEOUT_MS;
    o.client_name = "quotad-bench";
    int rc = qc_connect(&o, &q->c);
    if (rc != QC_OK)
        return bench_fail(w, "connect %s:%u: %s", w->cfg->host,
                          (unsigned)w->cfg->port, qc_strerror(rc));
    return 0;
}

static void fill_check(const bench_worker *w, size_t k, bool hold,
                       qc_check_req *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->secret = w->pop->keys[k].id;
    rq->model = REQ_MODEL;
    rq->client_ip = REQ_IP;
    rq->tokens = REQ_TOKENS;
    rq->hold = hold;
    rq->amount = hold ? REQ_HOLD_MICRO : REQ_AMOUNT_MICRO;
    rq->amount_min = hold ? REQ_HOLD_MIN_MICRO : 0;
}

/* The 1% admin writes alternate: a limit update and a wallet top-up. */
static int append_admin(bench_worker *w, qd_conn *q, uint32_t s)
{
    const pop_key *k = &w->pop->keys[q->key[s]];
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    Quotad__UpdateKey uk = QUOTAD__UPDATE_KEY__INIT;
    Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
    Quotad__AdjustWallet aw = QUOTAD__ADJUST_WALLET__INIT;
    if (w->admin_turn++ % 2 == 0) {
        q->kind[s] = SLOT_UPDATE_KEY;
        lim.has_rpm = 1;
        lim.rpm = POP_RPM;
        uk.has_key_id = 1;
        uk.key_id = k->key_id;
        uk.limits = &lim;
        rq.op_case = QUOTAD__REQUEST__OP_UPDATE_KEY;
        rq.update_key = &uk;
    } else {
        q->kind[s] = SLOT_WALLET;
        aw.has_workspace_id = 1;
        aw.workspace_id = k->ws_id;
        aw.has_delta = 1;
        aw.delta = ADMIN_WALLET_DELTA_MICRO;
        rq.op_case = QUOTAD__REQUEST__OP_ADJUST_WALLET;
        rq.adjust_wallet = &aw;
    }
    return qc_append(q->c, &rq);
}

static int append_ping(qd_conn *q, uint32_t s)
{
    Quotad__Ping p = QUOTAD__PING__INIT;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_PING;
    rq.ping = &p;
    q->kind[s] = SLOT_PING;
    return qc_append(q->c, &rq);
}

/* Queue slot s of a check / admin / ping window. */
static int append_slot(bench_worker *w, qd_conn *q, uint32_t s)
{
    q->key[s] = dist_pick(w->dist, &w->rng);
    if (w->cfg->mix == MIX_PING)
        return append_ping(q, s);
    if (w->cfg->mix == MIX_ADMIN &&
        dist_rand(&w->rng) % PERMILLE < BENCH_ADMIN_PERMILLE)
        return append_admin(w, q, s);
    q->kind[s] = SLOT_CHECK;
    qc_check_req rq;
    fill_check(w, q->key[s], w->cfg->mix == MIX_HOLD, &rq);
    return qc_check_append(q->c, &rq, NULL);
}

/* Read slot s's reply into *cls. Transport errors fail; server codes
 * are a class (CLS_ERR). */
static int read_reply(bench_worker *w, qd_conn *q, uint32_t s, int *cls)
{
    int rc;
    *cls = CLS_OK;
    q->hold_id[s] = 0;
    if (q->kind[s] == SLOT_CHECK) {
        qc_check_res res;
        rc = qc_check_read(q->c, NULL, &res);
        *cls = (int)res.decision;
        q->hold_id[s] = rc == QC_OK ? res.hold_id : 0;
    } else {
        Quotad__Reply *r = NULL;
        rc = qc_read(q->c, &r);
        qc_reply_free(r);
    }
    if (rc < 0)
        return bench_fail(w, "read: %s (%s)", qc_strerror(rc),
                          qc_errstr(q->c));
    if (rc != QC_OK)
        *cls = CLS_ERR;
    return 0;
}

static int read_slot(bench_worker *w, qd_conn *q, uint32_t s, int64_t t0)
{
    int cls = CLS_ERR;
    if (read_reply(w, q, s, &cls) != 0)
        return -1;
    bench_record(w, bench_now_ns() - t0, cls);
    return 0;
}

static int qd_flush(bench_worker *w, qd_conn *q)
{
    int rc = qc_flush(q->c);
    if (rc != QC_OK)
        return bench_fail(w, "send: %s (%s)", qc_strerror(rc),
                          qc_errstr(q->c));
    return 0;
}

/* Settle every hold the window placed, pipelined the same way. */
static int settle_holds(bench_worker *w, qd_conn *q)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < q->slots; s++) {
        if (q->hold_id[s] == 0)
            continue;
        Quotad__Settle st = QUOTAD__SETTLE__INIT;
        st.has_hold_id = st.has_amount = st.has_tokens = 1;
        st.hold_id = q->hold_id[s];
        st.amount = REQ_SETTLE_MICRO;
        st.tokens = REQ_SETTLE_TOKENS;
        Quotad__Request rq = QUOTAD__REQUEST__INIT;
        rq.op_case = QUOTAD__REQUEST__OP_SETTLE;
        rq.settle = &st;
        if (qc_append(q->c, &rq) != QC_OK)
            return bench_fail(w, "append settle: %s", qc_errstr(q->c));
        q->kind[n++] = SLOT_WALLET; /* read back as a generic reply */
    }
    if (n == 0)
        return 0;
    int64_t t0 = bench_now_ns();
    if (qd_flush(w, q) != 0)
        return -1;
    for (uint32_t s = 0; s < n; s++)
        if (read_slot(w, q, s, t0) != 0)
            return -1;
    return 0;
}

static int qd_window_batch(bench_worker *w, qd_conn *q, int64_t sched_ns)
{
    for (uint32_t s = 0; s < q->slots; s++)
        fill_check(w, dist_pick(w->dist, &w->rng), false, &q->req[s]);
    int64_t t0 = sched_ns > 0 ? sched_ns : bench_now_ns();
    int rc = qc_check_batch(q->c, q->req, q->res, q->rcs, q->slots);
    if (rc < 0)
        return bench_fail(w, "batch: %s (%s)", qc_strerror(rc),
                          qc_errstr(q->c));
    int64_t lat = bench_now_ns() - t0;
    for (uint32_t s = 0; s < q->slots; s++)
        bench_record(w, lat,
                     q->rcs[s] == QC_OK ? (int)q->res[s].decision : CLS_ERR);
    return 0;
}

static int qd_window(bench_worker *w, int64_t sched_ns)
{
    qd_conn *q = w->conn;
    if (w->cfg->batch > 0)
        return qd_window_batch(w, q, sched_ns);
    for (uint32_t s = 0; s < q->slots; s++)
        if (append_slot(w, q, s) != QC_OK)
            return bench_fail(w, "append: %s", qc_errstr(q->c));
    int64_t t0 = sched_ns > 0 ? sched_ns : bench_now_ns();
    if (qd_flush(w, q) != 0)
        return -1;
    for (uint32_t s = 0; s < q->slots; s++)
        if (read_slot(w, q, s, t0) != 0)
            return -1;
    return w->cfg->mix == MIX_HOLD ? settle_holds(w, q) : 0;
}

/* libquotad has no public fd / "reply buffered" accessors yet (hiredis
 * has them for event loops), so paced mode peeks at the context. */
static bool qd_reply_buffered(const qc_ctx *c)
{
    return c->q_len > 0;
}

static int qd_queue_one(bench_worker *w)
{
    qd_conn *q = w->conn;
    if (q->count == q->slots)
        return bench_fail(w, "paced: more than %u in flight", q->slots);
    uint32_t s = (q->head + q->count) % q->slots;
    if (append_slot(w, q, s) != QC_OK)
        return bench_fail(w, "append: %s", qc_errstr(q->c));
    q->count++;
    return 0;
}

static int qd_flush_out(bench_worker *w)
{
    return qd_flush(w, w->conn);
}

static int qd_read_one(bench_worker *w, int64_t wait_ns, int *cls)
{
    qd_conn *q = w->conn;
    if (q->count == 0)
        return 0;
    if (!qd_reply_buffered(q->c)) {
        int r = bench_wait_readable(q->c->fd, wait_ns);
        if (r < 0)
            return bench_fail(w, "poll failed");
        if (r == 0)
            return 0;
    }
    if (read_reply(w, q, q->head, cls) != 0)
        return -1;
    q->head = (q->head + 1) % q->slots;
    q->count--;
    return 1;
}

static int qd_fd(const bench_worker *w)
{
    const qd_conn *q = w->conn;
    return q->c->fd;
}

const bench_backend bench_backend_quotad = {
    .open = qd_open,
    .window = qd_window,
    .queue_one = qd_queue_one,
    .flush = qd_flush_out,
    .read_one = qd_read_one,
    .fd = qd_fd,
    .close = qd_close,
};
