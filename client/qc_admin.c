/* qc_admin.c -- typed admin wrappers of libquotad (qc_admin.h).
 *
 * Each wrapper builds its Request on the stack around borrowed arguments,
 * makes one synchronous call, and checks the reply has the result shape
 * docs/protocol.md promises for that operation.
 */
#include "qc_admin.h"
#include "qc_internal.h"

#include <assert.h>
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
