/* ops_keylife -- key lifecycle: enable, disable, revoke, rotate, delete.
 * Each takes effect for the very next request: the change is made under
 * the shard lock that every check of that key takes. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "keyview.h"
#include "limits.h"
#include "ops_internal.h"
#include "rec.h"

/* Lock the key's shard and find it; on failure rp is answered and NULL
 * returned with the lock released. */
static key *lock_key(op_ctx *c, uint64_t key_id, shard **sh_out,
                     Quotad__Reply *rp)
{
    shard *sh = store_shard_of(c->st, (uint32_t)(key_id >> 32));
    store_lock(sh);
    key *k = do_key_find(sh, key_id);
    if (k == NULL) {
        store_unlock(sh);
        op_fail(c, rp, QUOTAD__CODE__NOT_FOUND, "no such key");
        return NULL;
    }
    *sh_out = sh;
    return k;
}

/* Move a key to status to; revoked is final. */
static void set_status(op_ctx *c, uint64_t key_id, uint8_t to,
                       Quotad__Reply *rp)
{
    shard *sh = NULL;
    key *k = lock_key(c, key_id, &sh, rp);
    if (k == NULL) {
        return;
    }
    if (k->status == KEY_REVOKED && to != KEY_REVOKED) {
        store_unlock(sh);
        op_fail(c, rp, QUOTAD__CODE__FAILED_PRECONDITION,
                "key is revoked (final)");
        return;
    }
    if (k->status != to) {
        k->status = to;
        uint64_t seq = store_next_seq(c->st);
        Quotad__KeyStatusRec ksr = QUOTAD__KEY_STATUS_REC__INIT;
        ksr.has_key_id = ksr.has_status = 1;
        ksr.key_id = k->id;
        ksr.status = to;
        Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
        r.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_STATUS;
        r.key_status = &ksr;
        op_log(c, sh, &r, seq);
        op_seq(c, rp, seq);
    } else {
        op_seq(c, rp, store_current_seq(c->st));
    }
    op_reply_key(c, rp, k);
    store_unlock(sh);
}

void op_enable_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    set_status(c, rq->enable_key->key_id, KEY_ENABLED, rp);
}

void op_disable_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    set_status(c, rq->disable_key->key_id, KEY_DISABLED, rp);
}

void op_revoke_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    set_status(c, rq->revoke_key->key_id, KEY_REVOKED, rp);
}

void op_rotate_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    const Quotad__RotateKey *r = rq->rotate_key;
    if (r->grace_ms < 0 || r->grace_ms > ROTATE_GRACE_MS_MAX) {
        op_fail(c, rp, QUOTAD__CODE__INVALID_ARGUMENT,
                "grace_ms must be 0..%lld", (long long)ROTATE_GRACE_MS_MAX);
        return;
    }
    shard *sh = NULL;
    key *k = lock_key(c, r->key_id, &sh, rp);
    if (k == NULL) {
        return;
    }
    if (k->status == KEY_REVOKED) {
        store_unlock(sh);
        op_fail(c, rp, QUOTAD__CODE__FAILED_PRECONDITION, "key is revoked");
        return;
    }
    int rc = -2;
    char *secret = NULL;
    for (int i = 0; i < 8 && rc == -2; i++) {
        keyfmt_hash nh;
        char hint[KEYFMT_HINT_CHARS + 1];
        secret = op_new_secret(c, key_ws_id(k), &nh, hint);
        rc = secret ? do_key_rotate(sh, k, &nh, hint, c->now_ms + r->grace_ms)
                    : -1;
    }
    if (rc != 0) {
        store_unlock(sh);
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    uint64_t seq = store_next_seq(c->st);
    Quotad__KeyRotateRec krr = QUOTAD__KEY_ROTATE_REC__INIT;
    krr.has_key_id = krr.has_hash = krr.has_prev_expires_ms = 1;
    krr.key_id = k->id;
    krr.hash.data = k->hash.b;
    krr.hash.len = sizeof(k->hash.b);
    char hint[KEYFMT_HINT_CHARS + 1];
    key_hint_text(k, hint);
    krr.hint = hint;
    krr.prev_expires_ms = key_prev_expires(k);
    Quotad__LogRecord lr = QUOTAD__LOG_RECORD__INIT;
    lr.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_ROTATE;
    lr.key_rotate = &krr;
    op_log(c, sh, &lr, seq);
    op_seq(c, rp, seq);
    Quotad__KeySecret *ks = arena_alloc(c->ar, sizeof(*ks));
    if (ks != NULL) {
        quotad__key_secret__init(ks);
        ks->secret = secret;
        ks->key = keyview_key(c->ar, k, c->st->opt.key_prefix, c->now_ms);
    }
    store_unlock(sh);
    if (ks == NULL || ks->key == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    rp->key_secret = ks;
    rp->result_case = QUOTAD__REPLY__RESULT_KEY_SECRET;
}

void op_delete_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    shard *sh = NULL;
    key *k = lock_key(c, rq->delete_key->key_id, &sh, rp);
    if (k == NULL) {
        return;
    }
    workspace *w = do_ws_find(sh, key_ws_id(k));
    assert(w != NULL);
    op_reply_key(c, rp, k);
    do_key_remove(sh, w, k);
    uint64_t seq = store_next_seq(c->st);
    Quotad__KeyRef kr = QUOTAD__KEY_REF__INIT;
    kr.has_key_id = 1;
    kr.key_id = k->id;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_DELETE;
    r.key_delete = &kr;
    op_log(c, sh, &r, seq);
    op_seq(c, rp, seq);
    store_unlock(sh);
    store_key_free(k);
}
