/* mkseeds_rq -- building requests for mkseeds (see mkseeds_rq.h). */
#include "mkseeds_rq.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MK_POOL_MAX 4096

/* ---- building requests (every allocation pooled, freed per frame) ----- */

static void *g_pool[MK_POOL_MAX];
static size_t g_pool_n;

void *rq_alloc(size_t n)
{
    if (g_pool_n == MK_POOL_MAX)
        fz_die("mkseeds: pool full");
    void *p = calloc(1, n);
    if (p == NULL)
        fz_die("mkseeds: out of memory");
    g_pool[g_pool_n++] = p;
    return p;
}

void rq_pool_free(void)
{
    while (g_pool_n > 0)
        free(g_pool[--g_pool_n]);
}

char *rq_strdup(const char *s)
{
    char *p = rq_alloc(strlen(s) + 1);
    memcpy(p, s, strlen(s) + 1);
    return p;
}

Quotad__Request *rq_new(uint64_t id)
{
    Quotad__Request *r = rq_alloc(sizeof *r);
    quotad__request__init(r);
    r->has_id = 1;
    r->id = id;
    return r;
}

Quotad__Request *rq_ping(uint64_t id, const char *payload)
{
    Quotad__Request *r = rq_new(id);
    Quotad__Ping *p = rq_alloc(sizeof *p);
    quotad__ping__init(p);
    if (payload != NULL) {
        p->has_payload = 1;
        p->payload.data = (uint8_t *)rq_strdup(payload);
        p->payload.len = strlen(payload);
    }
    r->op_case = QUOTAD__REQUEST__OP_PING;
    r->ping = p;
    return r;
}

Quotad__Request *rq_hello(uint64_t id, uint32_t version)
{
    Quotad__Request *r = rq_new(id);
    Quotad__Hello *h = rq_alloc(sizeof *h);
    quotad__hello__init(h);
    h->has_version = 1;
    h->version = version;
    h->client_name = rq_strdup("mkseeds");
    r->op_case = QUOTAD__REQUEST__OP_HELLO;
    r->hello = h;
    return r;
}

Quotad__Request *rq_check(uint64_t id, const ck_args *a)
{
    Quotad__Request *r = rq_new(id);
    Quotad__Check *c = rq_alloc(sizeof *c);
    quotad__check__init(c);
    c->secret = a->secret ? rq_strdup(a->secret) : NULL;
    c->model = a->model ? rq_strdup(a->model) : NULL;
    c->client_ip = a->ip ? rq_strdup(a->ip) : NULL;
    c->idempotency_id = a->idem ? rq_strdup(a->idem) : NULL;
    c->has_amount = 1;
    c->amount = a->amount;
    c->has_tokens = a->tokens != 0;
    c->tokens = a->tokens;
    c->has_hold = a->hold != 0;
    c->hold = a->hold != 0;
    c->has_amount_min = a->amount_min != 0;
    c->amount_min = a->amount_min;
    c->has_hold_timeout_ms = a->hold_timeout_ms != 0;
    c->hold_timeout_ms = a->hold_timeout_ms;
    r->op_case = QUOTAD__REQUEST__OP_CHECK;
    r->check = c;
    return r;
}

Quotad__Request *rq_settle(uint64_t id, uint64_t hold, int64_t amount,
                                  int64_t tokens, const char *idem)
{
    Quotad__Request *r = rq_new(id);
    Quotad__Settle *s = rq_alloc(sizeof *s);
    quotad__settle__init(s);
    s->has_hold_id = s->has_amount = s->has_tokens = 1;
    s->hold_id = hold;
    s->amount = amount;
    s->tokens = tokens;
    s->idempotency_id = idem ? rq_strdup(idem) : NULL;
    r->op_case = QUOTAD__REQUEST__OP_SETTLE;
    r->settle = s;
    return r;
}

Quotad__Request *rq_void(uint64_t id, uint64_t hold)
{
    Quotad__Request *r = rq_new(id);
    Quotad__HoldRef *h = rq_alloc(sizeof *h);
    quotad__hold_ref__init(h);
    h->has_hold_id = 1;
    h->hold_id = hold;
    r->op_case = QUOTAD__REQUEST__OP_VOID_HOLD;
    r->void_hold = h;
    return r;
}

Quotad__Request *rq_create_ws(uint64_t id, const char *name,
                                     uint32_t max_keys, int64_t overdraft,
                                     int64_t balance)
{
    Quotad__Request *r = rq_new(id);
    Quotad__CreateWorkspace *w = rq_alloc(sizeof *w);
    quotad__create_workspace__init(w);
    w->name = rq_strdup(name);
    w->has_max_keys = w->has_overdraft_limit = w->has_initial_balance = 1;
    w->max_keys = max_keys;
    w->overdraft_limit = overdraft;
    w->initial_balance = balance;
    r->op_case = QUOTAD__REQUEST__OP_CREATE_WORKSPACE;
    r->create_workspace = w;
    return r;
}

Quotad__Request *rq_get_ws(uint64_t id, uint32_t ws)
{
    Quotad__Request *r = rq_new(id);
    Quotad__WorkspaceRef *w = rq_alloc(sizeof *w);
    quotad__workspace_ref__init(w);
    w->has_workspace_id = 1;
    w->workspace_id = ws;
    r->op_case = QUOTAD__REQUEST__OP_GET_WORKSPACE;
    r->get_workspace = w;
    return r;
}

Quotad__Request *rq_update_ws(uint64_t id, uint32_t ws,
                                     const char *name, uint32_t max_keys,
                                     int64_t overdraft)
{
    Quotad__Request *r = rq_new(id);
    Quotad__UpdateWorkspace *u = rq_alloc(sizeof *u);
    quotad__update_workspace__init(u);
    u->has_workspace_id = u->has_max_keys = u->has_overdraft_limit = 1;
    u->workspace_id = ws;
    u->name = name ? rq_strdup(name) : NULL;
    u->max_keys = max_keys;
    u->overdraft_limit = overdraft;
    r->op_case = QUOTAD__REQUEST__OP_UPDATE_WORKSPACE;
    r->update_workspace = u;
    return r;
}

Quotad__Request *rq_wallet(uint64_t id, uint32_t ws, int64_t delta,
                                  const char *idem)
{
    Quotad__Request *r = rq_new(id);
    Quotad__AdjustWallet *w = rq_alloc(sizeof *w);
    quotad__adjust_wallet__init(w);
    w->has_workspace_id = w->has_delta = 1;
    w->workspace_id = ws;
    w->delta = delta;
    w->reason = rq_strdup("seed");
    w->idempotency_id = idem ? rq_strdup(idem) : NULL;
    r->op_case = QUOTAD__REQUEST__OP_ADJUST_WALLET;
    r->adjust_wallet = w;
    return r;
}

/* Limits with every field set (values as given; lists fixed). */
Quotad__KeyLimits *rq_limits_full(int64_t quota, int64_t rpm)
{
    Quotad__KeyLimits *l = rq_alloc(sizeof *l);
    quotad__key_limits__init(l);
    l->has_quota_total = l->has_spend_cap_day = l->has_spend_cap_week = 1;
    l->has_spend_cap_month = l->has_rpm = l->has_tpm = 1;
    l->quota_total = quota;
    l->spend_cap_day = 2000000;
    l->spend_cap_week = 5000000;
    l->spend_cap_month = 9000000;
    l->rpm = rpm;
    l->tpm = 200000;
    l->n_models = 2;
    l->models = rq_alloc(2 * sizeof(char *));
    l->models[0] = rq_strdup("gpt-4o");
    l->models[1] = rq_strdup("claude-x");
    l->n_ips = 2;
    l->ips = rq_alloc(2 * sizeof(char *));
    l->ips[0] = rq_strdup("10.0.0.0/8");
    l->ips[1] = rq_strdup("2001:db8::1");
    l->has_expires_at_ms = 1;
    l->expires_at_ms = FZ_T0_MS + INT64_C(86400000) * 30;
    return l;
}

static Quotad__KeyValue **meta_one(const char *k, const char *v)
{
    Quotad__KeyValue **m = rq_alloc(sizeof *m);
    m[0] = rq_alloc(sizeof **m);
    quotad__key_value__init(m[0]);
    m[0]->key = rq_strdup(k);
    m[0]->value = rq_strdup(v);
    return m;
}

Quotad__Request *rq_create_key(uint64_t id, uint32_t ws,
                                      const char *name, int admin,
                                      Quotad__KeyLimits *lim)
{
    Quotad__Request *r = rq_new(id);
    Quotad__CreateKey *k = rq_alloc(sizeof *k);
    quotad__create_key__init(k);
    k->has_workspace_id = 1;
    k->workspace_id = ws;
    k->name = rq_strdup(name);
    k->group = rq_strdup("prod");
    k->creator = rq_strdup("mkseeds");
    k->has_kind = admin;
    k->kind = admin ? QUOTAD__KEY_KIND__ADMIN : QUOTAD__KEY_KIND__STANDARD;
    k->limits = lim;
    if (lim != NULL) {
        k->n_metadata = 1;
        k->metadata = meta_one("team", "search");
    }
    r->op_case = QUOTAD__REQUEST__OP_CREATE_KEY;
    r->create_key = k;
    return r;
}

/* get/enable/disable/revoke/delete: every KeyRef member of the oneof
 * shares one pointer slot. */
Quotad__Request *rq_keyref(uint64_t id, Quotad__Request__OpCase op,
                                  uint64_t key_id)
{
    Quotad__Request *r = rq_new(id);
    Quotad__KeyRef *k = rq_alloc(sizeof *k);
    quotad__key_ref__init(k);
    k->has_key_id = 1;
    k->key_id = key_id;
    r->op_case = op;
    r->get_key = k;
    return r;
}

Quotad__Request *rq_list(uint64_t id, uint32_t ws, const char *group,
                                const char *prefix, uint64_t after,
                                uint32_t limit)
{
    Quotad__Request *r = rq_new(id);
    Quotad__ListKeys *l = rq_alloc(sizeof *l);
    quotad__list_keys__init(l);
    l->has_workspace_id = 1;
    l->workspace_id = ws;
    l->group = group ? rq_strdup(group) : NULL;
    l->name_prefix = prefix ? rq_strdup(prefix) : NULL;
    l->has_after_key_id = after != 0;
    l->after_key_id = after;
    l->has_limit = limit != 0;
    l->limit = limit;
    l->has_status = 1;
    l->status = QUOTAD__KEY_STATUS__KEY_STATUS_ANY;
    r->op_case = QUOTAD__REQUEST__OP_LIST_KEYS;
    r->list_keys = l;
    return r;
}

Quotad__Request *rq_update_key(uint64_t id, uint64_t key_id,
                                      int clear_lists)
{
    Quotad__Request *r = rq_new(id);
    Quotad__UpdateKey *u = rq_alloc(sizeof *u);
    quotad__update_key__init(u);
    u->has_key_id = 1;
    u->key_id = key_id;
    u->name = rq_strdup("renamed");
    u->group = rq_strdup("staging");
    Quotad__KeyLimits *l = rq_alloc(sizeof *l);
    quotad__key_limits__init(l);
    l->has_rpm = l->has_quota_total = l->has_quota_remaining = 1;
    l->rpm = 200;
    l->quota_total = 8000000;
    l->quota_remaining = 7000000;
    l->has_spend_cap_day = 1;
    l->spend_cap_day = -1;
    if (clear_lists) {
        l->has_clear_models = l->has_clear_ips = 1;
        l->clear_models = l->clear_ips = 1;
    } else {
        l->n_models = 1;
        l->models = rq_alloc(sizeof(char *));
        l->models[0] = rq_strdup("gpt-4o-mini");
        l->n_ips = 1;
        l->ips = rq_alloc(sizeof(char *));
        l->ips[0] = rq_strdup("192.168.0.0/16");
    }
    u->limits = l;
    u->has_replace_metadata = 1;
    u->replace_metadata = 1;
    u->n_metadata = 1;
    u->metadata = meta_one("owner", "ops");
    r->op_case = QUOTAD__REQUEST__OP_UPDATE_KEY;
    r->update_key = u;
    return r;
}

Quotad__Request *rq_rotate(uint64_t id, uint64_t key_id, int64_t grace)
{
    Quotad__Request *r = rq_new(id);
    Quotad__RotateKey *k = rq_alloc(sizeof *k);
    quotad__rotate_key__init(k);
    k->has_key_id = k->has_grace_ms = 1;
    k->key_id = key_id;
    k->grace_ms = grace;
    r->op_case = QUOTAD__REQUEST__OP_ROTATE_KEY;
    r->rotate_key = k;
    return r;
}

Quotad__Request *rq_snapshot(uint64_t id)
{
    Quotad__Request *r = rq_new(id);
    Quotad__SnapshotReq *s = rq_alloc(sizeof *s);
    quotad__snapshot_req__init(s);
    s->has_start = 1;
    s->start = 0;
    r->op_case = QUOTAD__REQUEST__OP_SNAPSHOT;
    r->snapshot = s;
    return r;
}

Quotad__Request *rq_usage(uint64_t id, uint64_t key_id, uint32_t ws,
                                 int64_t from_day, int64_t to_day)
{
    Quotad__Request *r = rq_new(id);
    Quotad__UsageQuery *u = rq_alloc(sizeof *u);
    quotad__usage_query__init(u);
    u->has_key_id = key_id != 0;
    u->key_id = key_id;
    u->has_workspace_id = ws != 0;
    u->workspace_id = ws;
    u->has_from_day = u->has_to_day = 1;
    u->from_day = from_day;
    u->to_day = to_day;
    r->op_case = QUOTAD__REQUEST__OP_USAGE;
    r->usage = u;
    return r;
}

Quotad__Request *rq_alert(uint64_t id, uint32_t ws, uint64_t key_id,
                                 Quotad__AlertKind kind, int64_t threshold,
                                 int clear)
{
    Quotad__Request *r = rq_new(id);
    Quotad__SetAlert *a = rq_alloc(sizeof *a);
    quotad__set_alert__init(a);
    a->has_workspace_id = a->has_key_id = a->has_kind = 1;
    a->has_threshold = a->has_clear = 1;
    a->workspace_id = ws;
    a->key_id = key_id;
    a->kind = kind;
    a->threshold = threshold;
    a->clear = clear != 0;
    r->op_case = QUOTAD__REQUEST__OP_SET_ALERT;
    r->set_alert = a;
    return r;
}

Quotad__Request *rq_watch(uint64_t id, uint32_t ws)
{
    Quotad__Request *r = rq_new(id);
    Quotad__Watch *w = rq_alloc(sizeof *w);
    quotad__watch__init(w);
    w->has_workspace_id = 1;
    w->workspace_id = ws;
    r->op_case = QUOTAD__REQUEST__OP_WATCH;
    r->watch = w;
    return r;
}

/* Pack a ClientFrame body (malloc'd). */
uint8_t *rq_body(Quotad__Request **rq, size_t n, uint32_t version,
                        size_t *len)
{
    Quotad__ClientFrame f = QUOTAD__CLIENT_FRAME__INIT;
    f.has_version = 1;
    f.version = version;
    f.n_requests = n;
    f.requests = rq;
    *len = quotad__client_frame__get_packed_size(&f);
    uint8_t *b = malloc(*len ? *len : 1);
    if (b == NULL)
        fz_die("mkseeds: out of memory");
    quotad__client_frame__pack(&f, b);
    return b;
}
