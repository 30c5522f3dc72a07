/* qc_admin.c -- typed admin wrappers of libquotad (qc_admin.h).
 *
 * Each wrapper builds its Request on the stack around borrowed arguments,
 * makes one synchronous call, and checks the reply has the result shape
 * docs/protocol.md promises for that operation.
 */
#include "qc_admin.h"
#include "qc_internal.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* One call whose successful reply must carry result `want`. A reply of
 * another shape is a protocol error (and is not handed out); a reply with
 * a server code is handed out as is. */
static int admin_call(qc_ctx *c, Quotad__Request *req,
                      Quotad__Reply__ResultCase want, Quotad__Reply **out)
{
    assert(req != NULL && out != NULL);
    int rc = qci_roundtrip(c, req, out);
    if (rc != QC_OK || (*out)->result_case == want)
        return rc;
    int got = (int)(*out)->result_case;
    qc_reply_free(*out);
    *out = NULL;
    return qci_fail(c, QC_ERR_PROTOCOL, "reply result %d, expected %d", got,
                    (int)want);
}

/* Shared prologue: out is cleared first so every path leaves it defined. */
static int admin_begin(qc_ctx *c, Quotad__Reply **out)
{
    if (out == NULL)
        return QC_ERR_ARG;
    *out = NULL;
    return qci_usable(c);
}

int qc_create_workspace(qc_ctx *c, const char *name, uint32_t max_keys,
                        int64_t overdraft_limit, int64_t initial_balance,
                        Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    if (!qci_str_ok(name, NAME_BYTES_MAX))
        return QC_ERR_ARG;
    Quotad__CreateWorkspace cw = QUOTAD__CREATE_WORKSPACE__INIT;
    cw.name = (char *)name;
    cw.has_max_keys = max_keys != 0;
    cw.max_keys = max_keys;
    cw.has_overdraft_limit = 1;
    cw.overdraft_limit = overdraft_limit;
    cw.has_initial_balance = 1;
    cw.initial_balance = initial_balance;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_CREATE_WORKSPACE;
    req.create_workspace = &cw;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_WORKSPACE, out);
}

int qc_get_workspace(qc_ctx *c, uint32_t ws_id, Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    Quotad__WorkspaceRef ref = QUOTAD__WORKSPACE_REF__INIT;
    ref.has_workspace_id = 1;
    ref.workspace_id = ws_id;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_GET_WORKSPACE;
    req.get_workspace = &ref;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_WORKSPACE, out);
}

int qc_adjust_wallet(qc_ctx *c, uint32_t ws_id, int64_t delta,
                     const char *reason, const char *idempotency_id,
                     Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    if (!qci_str_ok(reason, REASON_BYTES_MAX) ||
        !qci_str_ok(idempotency_id, IDEMPOTENCY_ID_BYTES_MAX))
        return QC_ERR_ARG;
    Quotad__AdjustWallet aw = QUOTAD__ADJUST_WALLET__INIT;
    aw.has_workspace_id = 1;
    aw.workspace_id = ws_id;
    aw.has_delta = 1;
    aw.delta = delta;
    aw.reason = (char *)reason;
    aw.idempotency_id = (char *)idempotency_id;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_ADJUST_WALLET;
    req.adjust_wallet = &aw;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_WORKSPACE, out);
}

int qc_create_key(qc_ctx *c, Quotad__CreateKey *ck, Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    if (ck == NULL)
        return QC_ERR_ARG;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_CREATE_KEY;
    req.create_key = ck;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_KEY_SECRET, out);
}

int qc_list_keys(qc_ctx *c, Quotad__ListKeys *lk, Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    if (lk == NULL)
        return QC_ERR_ARG;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_LIST_KEYS;
    req.list_keys = lk;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_KEY_LIST, out);
}

int qc_update_key(qc_ctx *c, Quotad__UpdateKey *uk, Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    if (uk == NULL)
        return QC_ERR_ARG;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_UPDATE_KEY;
    req.update_key = uk;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_KEY, out);
}

/* Every KeyRef operation answers with the key. The oneof members are set
 * through a switch rather than one shared union slot, so each op stays
 * spelled out. */
static int keyref_call(qc_ctx *c, Quotad__Request__OpCase op,
                       uint64_t key_id, Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    Quotad__KeyRef ref = QUOTAD__KEY_REF__INIT;
    ref.has_key_id = 1;
    ref.key_id = key_id;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = op;
    switch (op) {
    case QUOTAD__REQUEST__OP_GET_KEY: req.get_key = &ref; break;
    case QUOTAD__REQUEST__OP_ENABLE_KEY: req.enable_key = &ref; break;
    case QUOTAD__REQUEST__OP_DISABLE_KEY: req.disable_key = &ref; break;
    case QUOTAD__REQUEST__OP_REVOKE_KEY: req.revoke_key = &ref; break;
    case QUOTAD__REQUEST__OP_DELETE_KEY: req.delete_key = &ref; break;
    default: assert(!"not a KeyRef operation"); return QC_ERR_ARG;
    }
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_KEY, out);
}

int qc_get_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out)
{
    return keyref_call(c, QUOTAD__REQUEST__OP_GET_KEY, key_id, out);
}

int qc_enable_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out)
{
    return keyref_call(c, QUOTAD__REQUEST__OP_ENABLE_KEY, key_id, out);
}

int qc_disable_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out)
{
    return keyref_call(c, QUOTAD__REQUEST__OP_DISABLE_KEY, key_id, out);
}

int qc_revoke_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out)
{
    return keyref_call(c, QUOTAD__REQUEST__OP_REVOKE_KEY, key_id, out);
}

int qc_delete_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out)
{
    return keyref_call(c, QUOTAD__REQUEST__OP_DELETE_KEY, key_id, out);
}

int qc_rotate_key(qc_ctx *c, uint64_t key_id, int64_t grace_ms,
                  Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    Quotad__RotateKey rk = QUOTAD__ROTATE_KEY__INIT;
    rk.has_key_id = 1;
    rk.key_id = key_id;
    rk.has_grace_ms = 1;
    rk.grace_ms = grace_ms;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_ROTATE_KEY;
    req.rotate_key = &rk;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_KEY_SECRET, out);
}

int qc_usage(qc_ctx *c, uint64_t key_id, uint32_t ws_id, int64_t from_day,
             int64_t to_day, Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    if (from_day < 0 || to_day < 0)
        return QC_ERR_ARG;
    Quotad__UsageQuery q = QUOTAD__USAGE_QUERY__INIT;
    q.has_key_id = 1;
    q.key_id = key_id;
    q.has_workspace_id = 1;
    q.workspace_id = ws_id;
    q.has_from_day = 1;
    q.from_day = from_day;
    q.has_to_day = 1;
    q.to_day = to_day;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_USAGE;
    req.usage = &q;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_USAGE, out);
}

int qc_set_alert(qc_ctx *c, uint32_t ws_id, uint64_t key_id,
                 Quotad__AlertKind kind, int64_t threshold, bool clear,
                 Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    Quotad__SetAlert sa = QUOTAD__SET_ALERT__INIT;
    sa.has_workspace_id = 1;
    sa.workspace_id = ws_id;
    sa.has_key_id = 1;
    sa.key_id = key_id;
    sa.has_kind = 1;
    sa.kind = kind;
    sa.has_threshold = 1;
    sa.threshold = threshold;
    sa.has_clear = 1;
    sa.clear = clear;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_SET_ALERT;
    req.set_alert = &sa;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_ALERTS, out);
}

/* The watch request gets id next_id; events carry that id. It is
 * recorded before sending so an event arriving together with the OK
 * reply is already recognised. */
int qc_watch_start(qc_ctx *c, uint32_t ws_id, Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    if (c->watch_id != 0)
        return qci_fail(c, QC_ERR_STATE, "already watching");
    Quotad__Watch w = QUOTAD__WATCH__INIT;
    w.has_workspace_id = 1;
    w.workspace_id = ws_id;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_WATCH;
    req.watch = &w;
    c->watch_id = c->next_id;
    rc = qci_roundtrip(c, &req, out);
    if (rc != QC_OK)
        c->watch_id = 0;
    return rc;
}

/* An event must carry the watch id, code OK and an `alert` result; an
 * id-0 reply with a code is the server closing the connection. */
static int watch_classify(qc_ctx *c, Quotad__Reply *r)
{
    uint64_t id = r->has_id ? r->id : 0;
    int code = r->has_code ? (int)r->code : QC_OK;
    if (id == 0 && code != QC_OK) {
        c->broken = true;
        snprintf(c->errstr, sizeof c->errstr, "server closed connection: %s",
                 r->error ? r->error : qc_code_str(code));
        return code;
    }
    if (id != c->watch_id || code != QC_OK ||
        r->result_case != QUOTAD__REPLY__RESULT_ALERT || r->alert == NULL)
        return qci_fail(c, QC_ERR_PROTOCOL,
                        "unexpected reply on a watch (id %llu, code %d)",
                        (unsigned long long)id, code);
    return QC_OK;
}

int qc_watch_next(qc_ctx *c, Quotad__Reply **event, uint32_t timeout_ms)
{
    int rc = admin_begin(c, event);
    if (rc != QC_OK)
        return rc;
    if (c->watch_id == 0 || c->in_flight != 0)
        return qci_fail(c, QC_ERR_STATE, "not a watching connection");
    Quotad__Reply *r = NULL;
    rc = qci_next_event(c, qci_now_ms() + (int64_t)timeout_ms, &r);
    if (rc != QC_OK)
        return rc;
    rc = watch_classify(c, r);
    if (rc != QC_OK) {
        qc_reply_free(r);
        return rc;
    }
    *event = r;
    return QC_OK;
}

int qc_stats(qc_ctx *c, bool reset_latency, Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    Quotad__StatsReq sq = QUOTAD__STATS_REQ__INIT;
    sq.has_reset_latency = 1;
    sq.reset_latency = reset_latency;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_STATS;
    req.stats = &sq;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_STATS, out);
}

int qc_snapshot(qc_ctx *c, bool start, Quotad__Reply **out)
{
    int rc = admin_begin(c, out);
    if (rc != QC_OK)
        return rc;
    Quotad__SnapshotReq sr = QUOTAD__SNAPSHOT_REQ__INIT;
    sr.has_start = 1;
    sr.start = start;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_SNAPSHOT;
    req.snapshot = &sr;
    return admin_call(c, &req, QUOTAD__REPLY__RESULT_SNAPSHOT, out);
}
