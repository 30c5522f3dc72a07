/* ops_usage -- usage per UTC day of a key or a workspace. */
#include <string.h>

#include "ops_internal.h"
#include "rec.h"

/* Copy the days in [from, to] (to 0 = open) into the reply. */
static int usage_reply(op_ctx *c, const usage_log *u,
                       const Quotad__UsageQuery *q, Quotad__UsageReply *ur)
{
    Quotad__UsageDay **all = NULL;
    size_t n = 0;
    if (rec_usage_days(c->ar, u, &all, &n) != 0) {
        return -1;
    }
    ur->days = all;
    ur->n_days = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = all[i]->day;
        if (d < q->from_day || (q->to_day != 0 && d > q->to_day)) {
            continue;
        }
        all[ur->n_days++] = all[i];
    }
    return 0;
}

void op_usage(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    const Quotad__UsageQuery *q = rq->usage;
    uint32_t ws = q->key_id ? (uint32_t)(q->key_id >> 32) : q->workspace_id;
    Quotad__UsageReply *ur = arena_alloc(c->ar, sizeof(*ur));
    if (ur == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    quotad__usage_reply__init(ur);
    shard *sh = store_shard_of(c->st, ws);
    store_lock(sh);
    const usage_log *u = NULL;
    if (q->key_id != 0) {
        key *k = do_key_find(sh, q->key_id);
        static const usage_log no_usage;
        const key_ext *x = k != NULL ? key_ext_of(k) : NULL;
        u = k == NULL ? NULL : x != NULL ? &x->usage : &no_usage;
        ur->has_key_id = 1;
        ur->key_id = q->key_id;
    } else {
        workspace *w = do_ws_find(sh, ws);
        u = w ? &w->usage : NULL;
    }
    ur->has_workspace_id = 1;
    ur->workspace_id = ws;
    int rc = u ? usage_reply(c, u, q, ur) : 1;
    op_seq(c, rp, store_current_seq(c->st));
    store_unlock(sh);
    if (rc != 0) {
        op_fail(c, rp, rc > 0 ? QUOTAD__CODE__NOT_FOUND
                              : QUOTAD__CODE__INTERNAL,
                rc > 0 ? "no such key or workspace" : "out of memory");
        return;
    }
    rp->usage = ur;
    rp->result_case = QUOTAD__REPLY__RESULT_USAGE;
}
