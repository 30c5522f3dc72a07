/* ops_key -- key create, get, list and update. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "keyfmt.h"
#include "keyspec.h"
#include "keyview.h"
#include "limits.h"
#include "ops_internal.h"
#include "rec.h"

#define SECRET_DRAWS_MAX 8   /* tag collisions are ~2^-40; retry a few */

static shard *shard_of_key(op_ctx *c, uint64_t key_id)
{
    return store_shard_of(c->st, (uint32_t)(key_id >> 32));
}

char *op_new_secret(op_ctx *c, uint32_t ws_id, keyfmt_hash *h,
                    char hint[KEYFMT_HINT_CHARS + 1])
{
    char *secret = arena_alloc(c->ar, KEYFMT_SECRET_BUF_BYTES);
    uint8_t body[KEYFMT_BODY_BYTES];
    uint32_t got_ws = 0;
    const char *prefix = c->st->opt.key_prefix;
    if (secret == NULL ||
        keyfmt_generate(prefix, ws_id, secret, KEYFMT_SECRET_BUF_BYTES) != 0 ||
        keyfmt_parse(prefix, secret, strlen(secret), body, &got_ws) != 0) {
        return NULL;
    }
    assert(got_ws == ws_id);
    keyfmt_hash_body(body, h);
    keyfmt_hint(body, hint);
    return secret;
}

static void reply_secret(op_ctx *c, Quotad__Reply *rp, const key *k,
                         char *secret)
{
    Quotad__KeySecret *ks = arena_alloc(c->ar, sizeof(*ks));
    if (ks == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    quotad__key_secret__init(ks);
    ks->secret = secret;
    ks->key = keyview_key(c->ar, k, c->st->opt.key_prefix, c->now_ms);
    if (ks->key == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    rp->key_secret = ks;
    rp->result_case = QUOTAD__REPLY__RESULT_KEY_SECRET;
}

/* Give k a fresh secret and index it; retries the rare tag collision.
 * Returns the secret text, or NULL on failure (k not indexed). */
static char *insert_with_secret(op_ctx *c, shard *sh, workspace *w, key *k)
{
    for (int i = 0; i < SECRET_DRAWS_MAX; i++) {
        char hint[KEYFMT_HINT_CHARS + 1];
        char *secret = op_new_secret(c, w->id, &k->hash, hint);
        if (secret == NULL) {
            return NULL;
        }
        int hrc = key_hint_set(k, hint);
        assert(hrc == 0); /* keyfmt_hint writes lowercase hex */
        (void)hrc;
        int rc = do_key_insert(sh, w, k);
        if (rc == 0) {
            return secret;
        }
        if (rc == -1) {
            return NULL;
        }
    }
    return NULL;
}

void op_create_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    const Quotad__CreateKey *ck = rq->create_key;
    char err[OPS_ERROR_BYTES_MAX];
    if (keyspec_validate_create(ck, err, sizeof(err)) != 0) {
        op_fail(c, rp, QUOTAD__CODE__INVALID_ARGUMENT, "%s", err);
        return;
    }
    /* Only admins and owners make admin keys, never above their own role. */
    bool admin_key = ck->has_kind && ck->kind == QUOTAD__KEY_KIND__ADMIN;
    uint8_t want = ck->has_role ? (uint8_t)ck->role : QUOTAD__ROLE__ROLE_ADMIN;
    if (admin_key && c->sess->role != QUOTAD__ROLE__ROLE_ROOT &&
        (c->sess->role < QUOTAD__ROLE__ROLE_ADMIN || want > c->sess->role)) {
        op_fail(c, rp, QUOTAD__CODE__PERMISSION_DENIED,
                "role %s may not create a %s key",
                auth_role_str(c->sess->role), auth_role_str(want));
        return;
    }
    key *k = NULL;
    if (keyspec_new_key(ck, c->now_ms, &k) != 0) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    shard *sh = store_shard_of(c->st, ck->workspace_id);
    store_lock(sh);
    workspace *w = do_ws_find(sh, ck->workspace_id);
    Quotad__Code code = QUOTAD__CODE__OK;
    char *secret = NULL;
    if (w == NULL) {
        code = QUOTAD__CODE__NOT_FOUND;
    } else if (w->n_keys >= w->max_keys) {
        code = QUOTAD__CODE__LIMIT_REACHED;
    } else if (w->next_key_seq == UINT32_MAX) {
        code = QUOTAD__CODE__LIMIT_REACHED;
    } else {
        k->id = (uint64_t)w->id << 32 | (w->next_key_seq + 1);
        secret = insert_with_secret(c, sh, w, k);
        code = secret ? QUOTAD__CODE__OK : QUOTAD__CODE__INTERNAL;
    }
    if (code != QUOTAD__CODE__OK) {
        store_unlock(sh);
        store_key_free(k);
        op_fail(c, rp, code, code == QUOTAD__CODE__NOT_FOUND
                                 ? "no such workspace"
                             : code == QUOTAD__CODE__LIMIT_REACHED
                                 ? "workspace max_keys reached"
                                 : "out of memory");
        return;
    }
    w->next_key_seq++;
    uint64_t seq = store_next_seq(c->st);
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    Quotad__KeyState ks;
    if (c->st->plog != NULL) {
        if (rec_key_state(c->ar, k, &ks) != 0) {
            abort(); /* cannot log an applied change: restart from log */
        }
        r.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_PUT;
        r.key_put = &ks;
        op_log(c, sh, &r, seq);
    }
    op_seq(c, rp, seq);
    reply_secret(c, rp, k, secret);
    store_unlock(sh);
}

void op_get_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    uint64_t id = rq->get_key->key_id;
    shard *sh = shard_of_key(c, id);
    store_lock(sh);
    key *k = do_key_find(sh, id);
    if (k == NULL) {
        store_unlock(sh);
        op_fail(c, rp, QUOTAD__CODE__NOT_FOUND, "no such key");
        return;
    }
    op_seq(c, rp, store_current_seq(c->st));
    op_reply_key(c, rp, k);
    store_unlock(sh);
}

static bool list_match(const Quotad__ListKeys *lk, const key *k)
{
    if (lk->has_status && lk->status != QUOTAD__KEY_STATUS__KEY_STATUS_ANY &&
        (int)lk->status != (int)k->status) {
        return false;
    }
    if (lk->group && lk->group[0] && strcmp(lk->group, keylab_group(k->labels)) != 0) {
        return false;
    }
    if (lk->name_prefix && lk->name_prefix[0] &&
        strncmp(lk->name_prefix, keylab_name(k->labels), strlen(lk->name_prefix)) != 0) {
        return false;
    }
    return true;
}

/* Fill one page; returns 0 or -1 when the reply arena is exhausted. */
static int list_page(op_ctx *c, const Quotad__ListKeys *lk,
                     const workspace *w, Quotad__KeyList *kl)
{
    uint32_t limit = lk->limit ? lk->limit : LIST_PAGE_DEFAULT;
    if (limit > LIST_PAGE_MAX) {
        limit = LIST_PAGE_MAX;
    }
    kl->keys = arena_alloc(c->ar, limit * sizeof(*kl->keys));
    if (kl->keys == NULL) {
        return -1;
    }
    if (lk->after_key_id == UINT64_MAX) {
        return 0;
    }
    uint32_t i = do_ws_key_lower_bound(w, lk->after_key_id + 1);
    for (; i < w->n_keys; i++) {
        const key *k = ws_key_at(w, i);
        if (!list_match(lk, k)) {
            continue;
        }
        if (kl->n_keys == limit) {
            kl->has_next_after_key_id = 1;
            kl->next_after_key_id = kl->keys[limit - 1]->key_id;
            break;
        }
        if (c->ar->total > OPS_REPLY_ARENA_BYTES_MAX) {
            return -1;
        }
        Quotad__KeyInfo *ki =
            keyview_key(c->ar, k, c->st->opt.key_prefix, c->now_ms);
        if (ki == NULL) {
            return -1;
        }
        kl->keys[kl->n_keys++] = ki;
    }
    return 0;
}

void op_list_keys(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    const Quotad__ListKeys *lk = rq->list_keys;
    Quotad__KeyList *kl = arena_alloc(c->ar, sizeof(*kl));
    if (kl == NULL) {
        op_fail(c, rp, QUOTAD__CODE__LIMIT_REACHED, "reply budget used up");
        return;
    }
    quotad__key_list__init(kl);
    shard *sh = store_shard_of(c->st, lk->workspace_id);
    store_lock(sh);
    workspace *w = do_ws_find(sh, lk->workspace_id);
    if (w == NULL) {
        store_unlock(sh);
        op_fail(c, rp, QUOTAD__CODE__NOT_FOUND, "no workspace %u",
                lk->workspace_id);
        return;
    }
    int rc = list_page(c, lk, w, kl);
    op_seq(c, rp, store_current_seq(c->st));
    store_unlock(sh);
    if (rc != 0) {
        op_fail(c, rp, QUOTAD__CODE__LIMIT_REACHED,
                "reply budget used up; use a smaller limit or fewer lists "
                "per frame");
        return;
    }
    rp->key_list = kl;
    rp->result_case = QUOTAD__REPLY__RESULT_KEY_LIST;
}

void op_update_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    const Quotad__UpdateKey *uk = rq->update_key;
    char err[OPS_ERROR_BYTES_MAX];
    if (keyspec_validate_update(uk, err, sizeof(err)) != 0) {
        op_fail(c, rp, QUOTAD__CODE__INVALID_ARGUMENT, "%s", err);
        return;
    }
    shard *sh = shard_of_key(c, uk->key_id);
    store_lock(sh);
    key *k = do_key_find(sh, uk->key_id);
    Quotad__Code code = QUOTAD__CODE__OK;
    if (k == NULL) {
        code = QUOTAD__CODE__NOT_FOUND;
    } else if (k->status == KEY_REVOKED) {
        code = QUOTAD__CODE__FAILED_PRECONDITION;
    } else if (keyspec_apply_update(k, uk) != 0) {
        code = QUOTAD__CODE__INTERNAL;
    }
    if (code != QUOTAD__CODE__OK) {
        store_unlock(sh);
        op_fail(c, rp, code, code == QUOTAD__CODE__NOT_FOUND ? "no such key"
                             : code == QUOTAD__CODE__INTERNAL
                                 ? "out of memory"
                                 : "key is revoked");
        return;
    }
    uint64_t seq = store_next_seq(c->st);
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_UPDATE;
    r.key_update = (Quotad__UpdateKey *)uk;
    op_log(c, sh, &r, seq);
    op_seq(c, rp, seq);
    op_reply_key(c, rp, k);
    store_unlock(sh);
}
