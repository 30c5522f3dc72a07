/* ops_ws -- workspace operations: create, get, update, wallet adjust. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "limits.h"
#include "log.h"
#include "ops_internal.h"
#include "rec.h"

static bool ws_name_ok(const char *name)
{
    return name == NULL || strlen(name) <= NAME_BYTES_MAX;
}

static workspace *ws_new(const Quotad__CreateWorkspace *cw, uint32_t id,
                         uint32_t max_keys, int64_t now_ms)
{
    workspace *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return NULL;
    }
    w->name = strdup(cw->name ? cw->name : "");
    if (w->name == NULL) {
        free(w);
        return NULL;
    }
    w->id = id;
    w->max_keys = max_keys;
    w->overdraft_limit = cw->has_overdraft_limit ? cw->overdraft_limit : 0;
    w->balance = cw->has_initial_balance ? cw->initial_balance : 0;
    w->created_ms = now_ms;
    return w;
}

void op_create_workspace(op_ctx *c, const Quotad__Request *rq,
                         Quotad__Reply *rp)
{
    const Quotad__CreateWorkspace *cw = rq->create_workspace;
    if (!ws_name_ok(cw->name) || cw->max_keys > WORKSPACE_MAX_KEYS_LIMIT ||
        cw->overdraft_limit < 0 || cw->overdraft_limit > AMOUNT_MICRO_MAX ||
        cw->initial_balance < 0 || cw->initial_balance > AMOUNT_MICRO_MAX) {
        op_fail(c, rp, QUOTAD__CODE__INVALID_ARGUMENT,
                "name, max_keys, overdraft_limit or initial_balance out of "
                "range");
        return;
    }
    uint32_t id = atomic_fetch_add(&c->st->next_ws_id, 1) + 1;
    if (id == 0 || id == UINT32_MAX) {
        op_fail(c, rp, QUOTAD__CODE__LIMIT_REACHED, "workspace ids used up");
        return;
    }
    uint32_t max_keys = cw->max_keys ? cw->max_keys
                                     : c->st->opt.max_keys_default;
    workspace *w = ws_new(cw, id, max_keys, c->now_ms);
    shard *sh = store_shard_of(c->st, id);
    store_lock(sh);
    if (w == NULL || do_ws_insert(sh, w) != 0) {
        store_unlock(sh);
        if (w != NULL) {
            free(w->name);
            free(w);
        }
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    uint64_t seq = store_next_seq(c->st);
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    Quotad__WsState s;
    if (c->st->plog != NULL && rec_ws_state(c->ar, w, &s) == 0) {
        r.change_case = QUOTAD__LOG_RECORD__CHANGE_WS_PUT;
        r.ws_put = &s;
        op_log(c, sh, &r, seq);
    }
    op_seq(c, rp, seq);
    op_reply_ws(c, rp, w);
    store_unlock(sh);
}

void op_get_workspace(op_ctx *c, const Quotad__Request *rq,
                      Quotad__Reply *rp)
{
    uint32_t id = rq->get_workspace->workspace_id;
    shard *sh = store_shard_of(c->st, id);
    store_lock(sh);
    workspace *w = do_ws_find(sh, id);
    if (w == NULL) {
        store_unlock(sh);
        op_fail(c, rp, QUOTAD__CODE__NOT_FOUND, "no workspace %u", id);
        return;
    }
    op_seq(c, rp, store_current_seq(c->st));
    op_reply_ws(c, rp, w);
    store_unlock(sh);
}

void op_update_workspace(op_ctx *c, const Quotad__Request *rq,
                         Quotad__Reply *rp)
{
    const Quotad__UpdateWorkspace *u = rq->update_workspace;
    if (!ws_name_ok(u->name) ||
        (u->has_max_keys && (u->max_keys == 0 ||
                             u->max_keys > WORKSPACE_MAX_KEYS_LIMIT)) ||
        (u->has_overdraft_limit &&
         (u->overdraft_limit < 0 || u->overdraft_limit > AMOUNT_MICRO_MAX))) {
        op_fail(c, rp, QUOTAD__CODE__INVALID_ARGUMENT,
                "name, max_keys or overdraft_limit out of range");
        return;
    }
    char *name = u->name ? strdup(u->name) : NULL;
    if (u->name && name == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    shard *sh = store_shard_of(c->st, u->workspace_id);
    store_lock(sh);
    workspace *w = do_ws_find(sh, u->workspace_id);
    if (w == NULL) {
        store_unlock(sh);
        free(name);
        op_fail(c, rp, QUOTAD__CODE__NOT_FOUND, "no workspace %u",
                u->workspace_id);
        return;
    }
    if (name != NULL) {
        free(w->name);
        w->name = name;
    }
    if (u->has_max_keys) {
        w->max_keys = u->max_keys;
    }
    if (u->has_overdraft_limit) {
        w->overdraft_limit = u->overdraft_limit;
    }
    uint64_t seq = store_next_seq(c->st);
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_WS_UPDATE;
    r.ws_update = (Quotad__UpdateWorkspace *)u;
    op_log(c, sh, &r, seq);
    op_seq(c, rp, seq);
    op_reply_ws(c, rp, w);
    store_unlock(sh);
}

/* The remembered answer of an idempotent wallet adjustment. */
typedef struct wallet_answer {
    uint64_t seq;
} wallet_answer;

/* Replay check for adjust_wallet. Returns 1 if rp was answered. */
static int wallet_replay(op_ctx *c, shard *sh, workspace *w, idem_key ik,
                         uint64_t in_hash, Quotad__Reply *rp)
{
    wallet_answer ans;
    int seen = op_idem_lookup(c, sh, ik, in_hash, &ans, sizeof(ans), rp);
    if (seen == 1) {
        op_reply_ws(c, rp, w);
        op_seq(c, rp, ans.seq);
    }
    return seen != 0;
}

static void log_wallet(op_ctx *c, shard *sh, const Quotad__AdjustWallet *a,
                       const idem_entry *e, uint64_t seq)
{
    Quotad__WalletRec wr = QUOTAD__WALLET_REC__INIT;
    Quotad__IdemState is;
    wr.has_workspace_id = wr.has_delta = 1;
    wr.workspace_id = a->workspace_id;
    wr.delta = a->delta;
    if (e != NULL) {
        rec_idem_state(a->workspace_id, e, &is);
        wr.idem = &is;
    }
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_WALLET;
    r.wallet = &wr;
    op_log(c, sh, &r, seq);
}

void op_adjust_wallet(op_ctx *c, const Quotad__Request *rq,
                      Quotad__Reply *rp)
{
    const Quotad__AdjustWallet *a = rq->adjust_wallet;
    const char *idem = a->idempotency_id;
    if (a->delta < -AMOUNT_MICRO_MAX || a->delta > AMOUNT_MICRO_MAX ||
        (a->reason && strlen(a->reason) > REASON_BYTES_MAX) ||
        (idem && strlen(idem) > IDEMPOTENCY_ID_BYTES_MAX)) {
        op_fail(c, rp, QUOTAD__CODE__INVALID_ARGUMENT,
                "delta, reason or idempotency_id out of range");
        return;
    }
    bool use_idem = idem != NULL && idem[0] != '\0';
    idem_key ik = {0, 0};
    uint64_t in_hash = XXH3_64bits(&a->delta, sizeof(a->delta));
    if (use_idem) {
        ik = idem_make_key(a->workspace_id, 'W', idem, strlen(idem));
    }
    shard *sh = store_shard_of(c->st, a->workspace_id);
    store_lock(sh);
    workspace *w = do_ws_find(sh, a->workspace_id);
    if (w == NULL) {
        store_unlock(sh);
        op_fail(c, rp, QUOTAD__CODE__NOT_FOUND, "no workspace %u",
                a->workspace_id);
        return;
    }
    if (use_idem && wallet_replay(c, sh, w, ik, in_hash, rp)) {
        store_unlock(sh);
        return;
    }
    int64_t nb = w->balance + a->delta;
    if (nb < -w->overdraft_limit || nb > AMOUNT_MICRO_MAX * 1000) {
        store_unlock(sh);
        op_fail(c, rp, QUOTAD__CODE__FAILED_PRECONDITION,
                "balance would leave [-overdraft_limit, max]");
        return;
    }
    w->balance = nb;
    wallet_answer ans = {.seq = store_next_seq(c->st)};
    do_alert_eval(c->st, w, NULL, c->now_ms);
    if (use_idem &&
        idem_put(&sh->idem, ik, a->workspace_id, in_hash, &ans, sizeof(ans), c->now_ms) != 0) {
        /* The money moved; a lost idempotency entry only weakens retries. */
        log_warn("idempotency table: out of memory");
    }
    log_wallet(c, sh, a, use_idem ? idem_find(&sh->idem, ik, c->now_ms) : NULL,
               ans.seq);
    op_seq(c, rp, ans.seq);
    op_reply_ws(c, rp, w);
    store_unlock(sh);
}
