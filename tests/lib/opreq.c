/* opreq -- one well-formed request of every protocol operation (see
 * opreq.h). */
#include "opreq.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *const opreq_names[AO_COUNT] = {
    "hello", "ping", "create_workspace", "get_workspace",
    "update_workspace", "adjust_wallet", "create_key(standard)",
    "create_key(admin,member)", "create_key(admin,owner)", "get_key",
    "list_keys", "update_key", "enable_key", "disable_key", "revoke_key",
    "rotate_key", "delete_key", "check", "settle", "void_hold", "snapshot",
    "usage", "set_alert", "watch",
};

static void opreq_msg_init(opreq_msg *m)
{
    memset(m, 0, sizeof *m);
    m->rq = (Quotad__Request)QUOTAD__REQUEST__INIT;
    m->hello = (Quotad__Hello)QUOTAD__HELLO__INIT;
    m->ping = (Quotad__Ping)QUOTAD__PING__INIT;
    m->cw = (Quotad__CreateWorkspace)QUOTAD__CREATE_WORKSPACE__INIT;
    m->wr = (Quotad__WorkspaceRef)QUOTAD__WORKSPACE_REF__INIT;
    m->uw = (Quotad__UpdateWorkspace)QUOTAD__UPDATE_WORKSPACE__INIT;
    m->aw = (Quotad__AdjustWallet)QUOTAD__ADJUST_WALLET__INIT;
    m->ck = (Quotad__CreateKey)QUOTAD__CREATE_KEY__INIT;
    m->kr = (Quotad__KeyRef)QUOTAD__KEY_REF__INIT;
    m->lk = (Quotad__ListKeys)QUOTAD__LIST_KEYS__INIT;
    m->uk = (Quotad__UpdateKey)QUOTAD__UPDATE_KEY__INIT;
    m->rot = (Quotad__RotateKey)QUOTAD__ROTATE_KEY__INIT;
    m->chk = (Quotad__Check)QUOTAD__CHECK__INIT;
    m->st = (Quotad__Settle)QUOTAD__SETTLE__INIT;
    m->hr = (Quotad__HoldRef)QUOTAD__HOLD_REF__INIT;
    m->snap = (Quotad__SnapshotReq)QUOTAD__SNAPSHOT_REQ__INIT;
    m->uq = (Quotad__UsageQuery)QUOTAD__USAGE_QUERY__INIT;
    m->sa = (Quotad__SetAlert)QUOTAD__SET_ALERT__INIT;
    m->w = (Quotad__Watch)QUOTAD__WATCH__INIT;
}

/* hello, ping, snapshot, create/get/update workspace, adjust wallet. */
static bool opreq_build_ws(opreq_op op, const opreq_target *t, opreq_msg *m)
{
    Quotad__Request *rq = &m->rq;
    switch (op) {
    case AO_HELLO:
        FX_SET(m->hello, version, 1);
        rq->op_case = QUOTAD__REQUEST__OP_HELLO;
        rq->hello = &m->hello;
        return true;
    case AO_PING:
        rq->op_case = QUOTAD__REQUEST__OP_PING;
        rq->ping = &m->ping;
        return true;
    case AO_SNAPSHOT:
        FX_SET(m->snap, start, 1);
        rq->op_case = QUOTAD__REQUEST__OP_SNAPSHOT;
        rq->snapshot = &m->snap;
        return true;
    case AO_CREATE_WS:
        m->cw.name = (char *)"made-by-matrix";
        FX_SET(m->cw, max_keys, OPREQ_MAX_KEYS);
        rq->op_case = QUOTAD__REQUEST__OP_CREATE_WORKSPACE;
        rq->create_workspace = &m->cw;
        return true;
    case AO_GET_WS:
        FX_SET(m->wr, workspace_id, t->ws);
        rq->op_case = QUOTAD__REQUEST__OP_GET_WORKSPACE;
        rq->get_workspace = &m->wr;
        return true;
    case AO_UPDATE_WS:
        FX_SET(m->uw, workspace_id, t->ws);
        m->uw.name = (char *)"renamed-by-matrix";
        rq->op_case = QUOTAD__REQUEST__OP_UPDATE_WORKSPACE;
        rq->update_workspace = &m->uw;
        return true;
    case AO_ADJUST:
        FX_SET(m->aw, workspace_id, t->ws);
        FX_SET(m->aw, delta, FX_UNIT);
        rq->op_case = QUOTAD__REQUEST__OP_ADJUST_WALLET;
        rq->adjust_wallet = &m->aw;
        return true;
    default:
        return false;
    }
}

/* The three create_key variants. */
static bool opreq_build_create(opreq_op op, const opreq_target *t, opreq_msg *m)
{
    if (op != AO_CK_STD && op != AO_CK_MEMBER && op != AO_CK_OWNER)
        return false;
    FX_SET(m->ck, workspace_id, t->ws);
    m->ck.name = (char *)"made-by-matrix";
    FX_SET(m->ck, kind, op == AO_CK_STD ? QUOTAD__KEY_KIND__STANDARD
                                        : QUOTAD__KEY_KIND__ADMIN);
    if (op != AO_CK_STD)
        FX_SET(m->ck, role, op == AO_CK_MEMBER ? QUOTAD__ROLE__ROLE_MEMBER
                                               : QUOTAD__ROLE__ROLE_OWNER);
    m->rq.op_case = QUOTAD__REQUEST__OP_CREATE_KEY;
    m->rq.create_key = &m->ck;
    return true;
}

/* Operations on one key by id. */
static bool opreq_build_keyref(opreq_op op, const opreq_target *t, opreq_msg *m)
{
    Quotad__Request *rq = &m->rq;
    FX_SET(m->kr, key_id, t->key.id);
    switch (op) {
    case AO_GET_KEY:
        rq->op_case = QUOTAD__REQUEST__OP_GET_KEY;
        rq->get_key = &m->kr;
        return true;
    case AO_ENABLE:
        rq->op_case = QUOTAD__REQUEST__OP_ENABLE_KEY;
        rq->enable_key = &m->kr;
        return true;
    case AO_DISABLE:
        rq->op_case = QUOTAD__REQUEST__OP_DISABLE_KEY;
        rq->disable_key = &m->kr;
        return true;
    case AO_REVOKE:
        rq->op_case = QUOTAD__REQUEST__OP_REVOKE_KEY;
        rq->revoke_key = &m->kr;
        return true;
    case AO_DELETE:
        rq->op_case = QUOTAD__REQUEST__OP_DELETE_KEY;
        rq->delete_key = &m->kr;
        return true;
    default:
        return false;
    }
}

/* list, update, rotate. */
static bool opreq_build_keyops(opreq_op op, const opreq_target *t, opreq_msg *m)
{
    Quotad__Request *rq = &m->rq;
    switch (op) {
    case AO_LIST_KEYS:
        FX_SET(m->lk, workspace_id, t->ws);
        rq->op_case = QUOTAD__REQUEST__OP_LIST_KEYS;
        rq->list_keys = &m->lk;
        return true;
    case AO_UPDATE_KEY:
        FX_SET(m->uk, key_id, t->key.id);
        m->uk.name = (char *)"renamed-by-matrix";
        rq->op_case = QUOTAD__REQUEST__OP_UPDATE_KEY;
        rq->update_key = &m->uk;
        return true;
    case AO_ROTATE:
        FX_SET(m->rot, key_id, t->key.id);
        FX_SET(m->rot, grace_ms, 0);
        rq->op_case = QUOTAD__REQUEST__OP_ROTATE_KEY;
        rq->rotate_key = &m->rot;
        return true;
    default:
        return false;
    }
}

/* check, settle, void. */
static bool opreq_build_hot(opreq_op op, const opreq_target *t, opreq_msg *m)
{
    Quotad__Request *rq = &m->rq;
    switch (op) {
    case AO_CHECK:
        m->chk.secret = (char *)t->key.secret;
        FX_SET(m->chk, amount, OPREQ_AMOUNT);
        rq->op_case = QUOTAD__REQUEST__OP_CHECK;
        rq->check = &m->chk;
        return true;
    case AO_SETTLE:
        FX_SET(m->st, hold_id, t->hold);
        FX_SET(m->st, amount, OPREQ_AMOUNT / 2);
        FX_SET(m->st, tokens, 0);
        rq->op_case = QUOTAD__REQUEST__OP_SETTLE;
        rq->settle = &m->st;
        return true;
    case AO_VOID:
        FX_SET(m->hr, hold_id, t->hold);
        rq->op_case = QUOTAD__REQUEST__OP_VOID_HOLD;
        rq->void_hold = &m->hr;
        return true;
    default:
        return false;
    }
}

/* usage, set_alert, watch. */
static bool opreq_build_obs(opreq_op op, const opreq_target *t, opreq_msg *m)
{
    Quotad__Request *rq = &m->rq;
    switch (op) {
    case AO_USAGE:
        FX_SET(m->uq, workspace_id, t->ws);
        FX_SET(m->uq, key_id, 0);
        FX_SET(m->uq, from_day, 0);
        FX_SET(m->uq, to_day, 0);
        rq->op_case = QUOTAD__REQUEST__OP_USAGE;
        rq->usage = &m->uq;
        return true;
    case AO_SET_ALERT:
        FX_SET(m->sa, workspace_id, t->ws);
        FX_SET(m->sa, key_id, t->key.id);
        FX_SET(m->sa, kind, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY);
        FX_SET(m->sa, threshold, FX_UNIT);
        FX_SET(m->sa, clear, 0);
        rq->op_case = QUOTAD__REQUEST__OP_SET_ALERT;
        rq->set_alert = &m->sa;
        return true;
    case AO_WATCH:
        FX_SET(m->w, workspace_id, t->ws);
        rq->op_case = QUOTAD__REQUEST__OP_WATCH;
        rq->watch = &m->w;
        return true;
    default:
        return false;
    }
}

void opreq_build(opreq_op op, const opreq_target *t, opreq_msg *m)
{
    opreq_msg_init(m);
    if (!opreq_build_ws(op, t, m) && !opreq_build_create(op, t, m) &&
        !opreq_build_keyref(op, t, m) && !opreq_build_keyops(op, t, m) &&
        !opreq_build_hot(op, t, m) && !opreq_build_obs(op, t, m))
        fprintf(stderr, "  no builder for %s\n", opreq_names[op]);
}

