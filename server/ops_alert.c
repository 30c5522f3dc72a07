/* ops_alert -- alert rules (set_alert) and the watch stream. */
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "ops.h"
#include "ops_internal.h"
#include "qd_frame.h"
#include "rec.h"

static bool alert_args_ok(const Quotad__SetAlert *a)
{
    if (a->kind < QUOTAD__ALERT_KIND__ALERT_SPEND_DAY ||
        a->kind > QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT) {
        return false;
    }
    if (a->kind == QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT) {
        return a->key_id != 0 && a->threshold >= 0 &&
               a->threshold <= ALERT_PCT_MAX;
    }
    return a->threshold >= 0 && a->threshold <= AMOUNT_MICRO_MAX;
}

static Quotad__AlertList *rules_view(arena *ar, const alert_set *s)
{
    Quotad__AlertList *l = arena_alloc(ar, sizeof(*l));
    uint32_t n = s ? s->n : 0;
    Quotad__AlertRule **v = arena_alloc(ar, (n + 1) * sizeof(*v));
    if (l == NULL || v == NULL) {
        return NULL;
    }
    quotad__alert_list__init(l);
    for (uint32_t i = 0; i < n; i++) {
        Quotad__AlertRule *r = arena_alloc(ar, sizeof(*r));
        if (r == NULL) {
            return NULL;
        }
        quotad__alert_rule__init(r);
        r->has_kind = r->has_threshold = 1;
        r->kind = (Quotad__AlertKind)s->r[i].kind;
        r->threshold = s->r[i].threshold;
        v[i] = r;
    }
    l->rules = v;
    l->n_rules = n;
    return l;
}

/* The rule set a SetAlert names, or NULL (rp answered). */
static alert_set **target_set(op_ctx *c, shard *sh,
                              const Quotad__SetAlert *a, Quotad__Reply *rp)
{
    workspace *w = do_ws_find(sh, a->workspace_id);
    if (w == NULL) {
        op_fail(c, rp, QUOTAD__CODE__NOT_FOUND, "no such workspace");
        return NULL;
    }
    if (a->key_id == 0) {
        return &w->alerts;
    }
    key *k = do_key_find(sh, a->key_id);
    if (k == NULL || key_ws_id(k) != w->id) {
        op_fail(c, rp, QUOTAD__CODE__NOT_FOUND, "no such key in workspace");
        return NULL;
    }
    if (key_ext_get(k) == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return NULL;
    }
    return &key_ext_of(k)->alerts;
}

void op_set_alert(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    const Quotad__SetAlert *a = rq->set_alert;
    bool clear = a->has_clear && a->clear;
    if (!alert_args_ok(a)) {
        op_fail(c, rp, QUOTAD__CODE__INVALID_ARGUMENT,
                "kind 1..4; threshold 0..1e15 (percent 0..100, keys only)");
        return;
    }
    shard *sh = store_shard_of(c->st, a->workspace_id);
    store_lock(sh);
    alert_set **set = target_set(c, sh, a, rp);
    int rc = set ? alert_set_rule(set, (uint8_t)a->kind, a->threshold, clear)
                 : 1;
    if (rc == 0) {
        uint64_t seq = store_next_seq(c->st);
        Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
        r.change_case = QUOTAD__LOG_RECORD__CHANGE_SET_ALERT;
        r.set_alert = (Quotad__SetAlert *)a;
        op_log(c, sh, &r, seq);
        op_seq(c, rp, seq);
        rp->alerts = rules_view(c->ar, *set);
    }
    store_unlock(sh);
    if (rc < 0) {
        op_fail(c, rp, rc == -2 ? QUOTAD__CODE__LIMIT_REACHED
                                : QUOTAD__CODE__INTERNAL,
                rc == -2 ? "too many alert rules" : "out of memory");
    } else if (rc == 0 && rp->alerts == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
    } else if (rc == 0) {
        rp->result_case = QUOTAD__REPLY__RESULT_ALERTS;
    }
}

/* From now on this connection receives events (see conn_alerts). */
void op_watch(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    ops_session *s = c->sess;
    uint32_t ws = rq->watch->workspace_id;
    s->watching = true;
    s->watch_id = rq->id;
    s->watch_ws = ws ? ws : s->ws_id;
    s->watch_cursor = alert_next_seq(&c->st->alerts);
    op_seq(c, rp, store_current_seq(c->st));
}

bool ops_alert_wanted(const ops_session *s, const alert_event *e)
{
    return s->watching && (s->watch_ws == 0 || s->watch_ws == e->ws_id) &&
           auth_ws_allowed(s, e->ws_id);
}

int ops_alert_frame(const ops_session *s, const alert_event *e,
                    uint64_t dropped, ops_reply *out)
{
    memset(out, 0, sizeof(*out));
    Quotad__AlertEvent ev = QUOTAD__ALERT_EVENT__INIT;
    ev.has_event_seq = ev.has_workspace_id = ev.has_key_id = 1;
    ev.event_seq = e->seq;
    ev.workspace_id = e->ws_id;
    ev.key_id = e->key_id;
    ev.has_kind = ev.has_threshold = ev.has_value = 1;
    ev.kind = (Quotad__AlertKind)e->kind;
    ev.threshold = e->threshold;
    ev.value = e->value;
    ev.has_window = ev.has_at_ms = ev.has_dropped = 1;
    ev.window = e->window;
    ev.at_ms = e->at_ms;
    ev.dropped = dropped;
    Quotad__Reply rp = QUOTAD__REPLY__INIT;
    rp.has_id = rp.has_code = 1;
    rp.id = s->watch_id;
    rp.code = QUOTAD__CODE__OK;
    rp.result_case = QUOTAD__REPLY__RESULT_ALERT;
    rp.alert = &ev;
    out->seq_needed = e->state_seq; /* never ahead of the log */
    return ops_single_frame(&rp, out);
}
