/* qc_check.c -- the gateway's hot path in plain C: check, settle, void,
 * pipelined and batched checks, ping.
 *
 * Requests are built on the stack from the caller's strings (borrowed,
 * never copied) and packed straight into the output buffer, so a check
 * costs no allocation on the sending side.
 */
#include "qc_admin.h"
#include "qc_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Payload bytes qc_ping sends and expects echoed (the request id). */
#define PING_PAYLOAD_BYTES 8u

/* One check request on the stack: the Request points into the Check. */
typedef struct check_msg {
    Quotad__Check ck;
    Quotad__Request req;
} check_msg;

/* Strings are checked here so a bad argument never breaks the pipeline;
 * numbers are left to the server, which answers INVALID_ARGUMENT. */
static int check_validate(const qc_check_req *rq)
{
    if (rq == NULL || rq->secret == NULL)
        return QC_ERR_ARG;
    if (!qci_str_ok(rq->secret, SECRET_CHARS_MAX) ||
        !qci_str_ok(rq->model, MODEL_BYTES_MAX) ||
        !qci_str_ok(rq->client_ip, QC_CLIENT_IP_CHARS_MAX) ||
        !qci_str_ok(rq->idempotency_id, IDEMPOTENCY_ID_BYTES_MAX))
        return QC_ERR_ARG;
    return QC_OK;
}

/* A deadline in the client's clock, moved into the server's. Saturates
 * instead of overflowing, and a positive deadline stays positive (1 = long
 * past): only a negative one is the caller's invalid argument. */
static int64_t check_deadline(int64_t deadline_ms, int64_t offset_ms)
{
    if (deadline_ms <= 0)
        return deadline_ms;
    if (offset_ms > 0 && deadline_ms > INT64_MAX - offset_ms)
        return INT64_MAX;
    int64_t d = deadline_ms + offset_ms;  /* offset < 0: no overflow */
    return d > 0 ? d : 1;
}

/* Zero in the C struct means "not set" for amount_min, the hold timeout
 * and the deadline, so the server applies its defaults (amount, 5 min,
 * none). The deadline goes out in the server's clock (c's HELLO offset). */
static void check_build(check_msg *m, const qc_check_req *rq,
                        const qc_ctx *c)
{
    quotad__check__init(&m->ck);
    m->ck.secret = (char *)rq->secret;
    m->ck.model = (char *)rq->model;
    m->ck.client_ip = (char *)rq->client_ip;
    m->ck.idempotency_id = (char *)rq->idempotency_id;
    m->ck.has_amount = 1;
    m->ck.amount = rq->amount;
    m->ck.has_tokens = 1;
    m->ck.tokens = rq->tokens;
    m->ck.has_amount_min = rq->amount_min != 0;
    m->ck.amount_min = rq->amount_min;
    m->ck.has_hold = rq->hold;
    m->ck.hold = rq->hold;
    m->ck.has_hold_timeout_ms = rq->hold_timeout_ms != 0;
    m->ck.hold_timeout_ms = rq->hold_timeout_ms;
    m->ck.has_deadline_ms = rq->deadline_ms != 0;
    m->ck.deadline_ms = check_deadline(rq->deadline_ms, c->clock_offset_ms);
    quotad__request__init(&m->req);
    m->req.op_case = QUOTAD__REQUEST__OP_CHECK;
    m->req.check = &m->ck;
}

/* A result that is not a server's answer must never read as "allowed" to
 * a caller who forgot to test the return code: fail closed. */
static void check_res_clear(qc_check_res *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->decision = QC_INVALID_API_KEY;
}

/* Copy a CheckReply out; absent fields read as 0 (proto2 defaults, so an
 * absent decision is ALLOWED). A successful reply without a check result
 * would be read as "allowed" by a careless caller, so it is refused. */
static int check_map(qc_ctx *c, int rc, const Quotad__Reply *r,
                     qc_check_res *rs)
{
    check_res_clear(rs);
    if (r == NULL)
        return rc;
    rs->seq = r->has_seq ? r->seq : 0;
    if (rc != QC_OK)
        return rc;
    const Quotad__CheckReply *k = r->check;
    if (r->result_case != QUOTAD__REPLY__RESULT_CHECK || k == NULL)
        return qci_fail(c, QC_ERR_PROTOCOL, "check reply without result");
    rs->decision = k->has_decision ? (qc_decision)k->decision : QC_ALLOWED;
    rs->key_id = k->has_key_id ? k->key_id : 0;
    rs->workspace_id = k->has_workspace_id ? k->workspace_id : 0;
    rs->charged = k->has_charged ? k->charged : 0;
    rs->quota_remaining = k->has_quota_remaining ? k->quota_remaining : 0;
    rs->wallet_balance = k->has_wallet_balance ? k->wallet_balance : 0;
    rs->rpm_remaining = k->has_rpm_remaining ? k->rpm_remaining : 0;
    rs->tpm_remaining = k->has_tpm_remaining ? k->tpm_remaining : 0;
    rs->rate_reset_ms = k->has_rate_reset_ms ? k->rate_reset_ms : 0;
    rs->retry_after_ms = k->has_retry_after_ms ? k->retry_after_ms : 0;
    rs->hold_id = k->has_hold_id ? k->hold_id : 0;
    rs->replayed = k->has_replayed && k->replayed;
    return QC_OK;
}

/* Same for settle and void_hold replies. */
static int settle_map(qc_ctx *c, int rc, const Quotad__Reply *r,
                      qc_settle_res *rs)
{
    memset(rs, 0, sizeof *rs);
    if (r == NULL)
        return rc;
    rs->seq = r->has_seq ? r->seq : 0;
    if (rc != QC_OK)
        return rc;
    const Quotad__SettleReply *s = r->settle;
    if (r->result_case != QUOTAD__REPLY__RESULT_SETTLE || s == NULL)
        return qci_fail(c, QC_ERR_PROTOCOL, "settle reply without result");
    rs->charged = s->has_charged ? s->charged : 0;
    rs->refunded = s->has_refunded ? s->refunded : 0;
    rs->quota_remaining = s->has_quota_remaining ? s->quota_remaining : 0;
    rs->wallet_balance = s->has_wallet_balance ? s->wallet_balance : 0;
    rs->replayed = s->has_replayed && s->replayed;
    return QC_OK;
}

int qc_check(qc_ctx *c, const qc_check_req *rq, qc_check_res *rs)
{
    if (rs == NULL)
        return QC_ERR_ARG;
    check_res_clear(rs);
    int rc = qci_usable(c);
    if (rc == QC_OK)
        rc = check_validate(rq);
    if (rc != QC_OK)
        return rc;
    check_msg m;
    check_build(&m, rq, c);
    Quotad__Reply *r = NULL;
    rc = qci_roundtrip(c, &m.req, &r);
    rc = check_map(c, rc, r, rs);
    qc_reply_free(r);
    return rc;
}

/* Round trip of one settle-shaped request (settle or void_hold). */
static int settle_call(qc_ctx *c, Quotad__Request *req, qc_settle_res *rs)
{
    Quotad__Reply *r = NULL;
    int rc = qci_roundtrip(c, req, &r);
    rc = settle_map(c, rc, r, rs);
    qc_reply_free(r);
    return rc;
}

/* A settle or void_hold request on the stack: Request points into it. */
typedef struct settle_msg {
    Quotad__Settle s;
    Quotad__HoldRef h;
    Quotad__Request req;
} settle_msg;

static int settle_build(settle_msg *m, uint64_t hold_id, int64_t amount,
                        int64_t tokens, const char *idempotency_id)
{
    if (!qci_str_ok(idempotency_id, IDEMPOTENCY_ID_BYTES_MAX))
        return QC_ERR_ARG;
    quotad__settle__init(&m->s);
    m->s.has_hold_id = 1;
    m->s.hold_id = hold_id;
    m->s.has_amount = 1;
    m->s.amount = amount;
    m->s.has_tokens = 1;
    m->s.tokens = tokens;
    m->s.idempotency_id = (char *)idempotency_id;
    quotad__request__init(&m->req);
    m->req.op_case = QUOTAD__REQUEST__OP_SETTLE;
    m->req.settle = &m->s;
    return QC_OK;
}

static void void_build(settle_msg *m, uint64_t hold_id)
{
    quotad__hold_ref__init(&m->h);
    m->h.has_hold_id = 1;
    m->h.hold_id = hold_id;
    quotad__request__init(&m->req);
    m->req.op_case = QUOTAD__REQUEST__OP_VOID_HOLD;
    m->req.void_hold = &m->h;
}

int qc_settle(qc_ctx *c, uint64_t hold_id, int64_t amount, int64_t tokens,
              const char *idempotency_id, qc_settle_res *rs)
{
    if (c == NULL || rs == NULL)
        return QC_ERR_ARG;
    memset(rs, 0, sizeof *rs);
    settle_msg m;
    int rc = settle_build(&m, hold_id, amount, tokens, idempotency_id);
    return rc == QC_OK ? settle_call(c, &m.req, rs) : rc;
}

int qc_void(qc_ctx *c, uint64_t hold_id, qc_settle_res *rs)
{
    if (c == NULL || rs == NULL)
        return QC_ERR_ARG;
    memset(rs, 0, sizeof *rs);
    settle_msg m;
    void_build(&m, hold_id);
    return settle_call(c, &m.req, rs);
}

/* Queue one built request; *req_id (may be NULL) gets its id. */
static int append_one(qc_ctx *c, Quotad__Request *req, uint64_t *req_id)
{
    int rc = qci_send(c, &req, 1);
    if (req_id != NULL && req->has_id && rc != QC_ERR_ARG)
        *req_id = req->id;
    return rc;
}

int qc_settle_append(qc_ctx *c, uint64_t hold_id, int64_t amount,
                     int64_t tokens, const char *idempotency_id,
                     uint64_t *req_id)
{
    if (req_id != NULL)
        *req_id = 0;
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    settle_msg m;
    rc = settle_build(&m, hold_id, amount, tokens, idempotency_id);
    return rc == QC_OK ? append_one(c, &m.req, req_id) : rc;
}

int qc_void_append(qc_ctx *c, uint64_t hold_id, uint64_t *req_id)
{
    if (req_id != NULL)
        *req_id = 0;
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    settle_msg m;
    void_build(&m, hold_id);
    return append_one(c, &m.req, req_id);
}

int qc_check_append(qc_ctx *c, const qc_check_req *rq, uint64_t *req_id)
{
    if (req_id != NULL)
        *req_id = 0;
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    rc = check_validate(rq);
    if (rc != QC_OK)
        return rc;
    check_msg m;
    check_build(&m, rq, c);
    return append_one(c, &m.req, req_id);
}

/* The next reply for a typed reader (read is qci_read or its nowait
 * twin); *req_id (may be NULL) gets its id. */
static int typed_read(qc_ctx *c, uint64_t *req_id, Quotad__Reply **r,
                      int (*read)(qc_ctx *, Quotad__Reply **))
{
    *r = NULL;
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    rc = read(c, r);
    if (req_id != NULL && *r != NULL)
        *req_id = (*r)->id;
    return rc;
}

/* qc_check_read and its event-loop twin. */
static int check_read(qc_ctx *c, uint64_t *req_id, qc_check_res *rs,
                      int (*read)(qc_ctx *, Quotad__Reply **))
{
    if (req_id != NULL)
        *req_id = 0;
    if (rs == NULL)
        return QC_ERR_ARG;
    Quotad__Reply *r = NULL;
    int rc = typed_read(c, req_id, &r, read);
    rc = check_map(c, rc, r, rs);
    qc_reply_free(r);
    return rc;
}

int qc_check_read(qc_ctx *c, uint64_t *req_id, qc_check_res *rs)
{
    return check_read(c, req_id, rs, qci_read);
}

int qc_check_read_nowait(qc_ctx *c, uint64_t *req_id, qc_check_res *rs)
{
    return check_read(c, req_id, rs, qci_read_nowait);
}

/* qc_settle_read and its event-loop twin. */
static int settle_read(qc_ctx *c, uint64_t *req_id, qc_settle_res *rs,
                       int (*read)(qc_ctx *, Quotad__Reply **))
{
    if (req_id != NULL)
        *req_id = 0;
    if (rs == NULL)
        return QC_ERR_ARG;
    Quotad__Reply *r = NULL;
    int rc = typed_read(c, req_id, &r, read);
    rc = settle_map(c, rc, r, rs);
    qc_reply_free(r);
    return rc;
}

int qc_settle_read(qc_ctx *c, uint64_t *req_id, qc_settle_res *rs)
{
    return settle_read(c, req_id, rs, qci_read);
}

int qc_settle_read_nowait(qc_ctx *c, uint64_t *req_id, qc_settle_res *rs)
{
    return settle_read(c, req_id, rs, qci_read_nowait);
}

/* Validate everything before sending anything, so a bad element costs no
 * round trip and leaves nothing in flight. */
static int batch_validate(const qc_check_req *rq, const qc_check_res *rs,
                          const int *rcs, size_t n)
{
    if (rq == NULL || rs == NULL || rcs == NULL)
        return QC_ERR_ARG;
    if (n == 0 || n > BATCH_OPS_MAX)
        return QC_ERR_ARG;
    for (size_t i = 0; i < n; i++)
        if (check_validate(&rq[i]) != QC_OK)
            return QC_ERR_ARG;
    return QC_OK;
}

/* Read the n replies of a sent batch. A per-check server code lands in
 * rcs[i]; a transport error or the server dropping the connection stops
 * the batch and is returned. */
static int batch_read(qc_ctx *c, qc_check_res *rs, int *rcs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Quotad__Reply *r = NULL;
        int rc = qci_read(c, &r);
        rc = check_map(c, rc, r, &rs[i]);
        qc_reply_free(r);
        rcs[i] = rc;
        if (rc < 0 || (rc > 0 && c->broken))
            return rc;
    }
    return QC_OK;
}

int qc_check_batch(qc_ctx *c, const qc_check_req *rq, qc_check_res *rs,
                   int *rcs, size_t n)
{
    int rc = qci_usable(c);
    if (rc == QC_OK)
        rc = batch_validate(rq, rs, rcs, n);
    if (rc != QC_OK)
        return rc;
    if (c->in_flight != 0)
        return qci_fail(c, QC_ERR_STATE, "%zu requests still in flight",
                        c->in_flight);
    check_msg *m = calloc(n, sizeof *m);
    Quotad__Request **reqs = calloc(n, sizeof *reqs);
    if (m == NULL || reqs == NULL) {
        free(m);
        free(reqs);
        return QC_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        check_build(&m[i], &rq[i], c);
        reqs[i] = &m[i].req;
        rcs[i] = QC_ERR_STATE; /* until its reply is read */
        check_res_clear(&rs[i]);
    }
    rc = qci_send(c, reqs, n);
    free(reqs);
    free(m); /* packed into the output buffer already */
    return rc == QC_OK ? batch_read(c, rs, rcs, n) : rc;
}

/* The payload is the request id, so a stale pong cannot pass for ours. */
int qc_ping(qc_ctx *c)
{
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    uint8_t payload[PING_PAYLOAD_BYTES];
    uint64_t id = c->next_id;
    memcpy(payload, &id, sizeof payload);
    Quotad__Ping p = QUOTAD__PING__INIT;
    p.has_payload = 1;
    p.payload.len = sizeof payload;
    p.payload.data = payload;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_PING;
    req.ping = &p;
    Quotad__Reply *r = NULL;
    rc = qci_roundtrip(c, &req, &r);
    if (rc == QC_OK) {
        const Quotad__Pong *pong = r->pong;
        if (r->result_case != QUOTAD__REPLY__RESULT_PONG || pong == NULL ||
            pong->payload.len != sizeof payload ||
            memcmp(pong->payload.data, payload, sizeof payload) != 0)
            rc = qci_fail(c, QC_ERR_PROTOCOL, "ping answered wrongly");
    }
    qc_reply_free(r);
    return rc;
}
