/* keyview -- see keyview.h. */
#include "keyview.h"

#include <assert.h>
#include <string.h>

#include "ipnet.h"
#include "keyfmt.h"
#include "window.h"

static const Quotad__KeyStatus status_pb[] = {
    [KEY_ENABLED] = QUOTAD__KEY_STATUS__ENABLED,
    [KEY_DISABLED] = QUOTAD__KEY_STATUS__DISABLED,
    [KEY_REVOKED] = QUOTAD__KEY_STATUS__REVOKED,
};

static char **copy_models(arena *a, const key *k)
{
    char **m = arena_alloc(a, sizeof(char *) * (key_pol(k)->n_models + 1));
    if (m == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; i < key_pol(k)->n_models; i++) {
        if ((m[i] = arena_strdup(a, key_pol(k)->models[i])) == NULL) {
            return NULL;
        }
    }
    return m;
}

static char **copy_ips(arena *a, const key *k)
{
    char **m = arena_alloc(a, sizeof(char *) * (key_pol(k)->n_ips + 1));
    if (m == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; i < key_pol(k)->n_ips; i++) {
        m[i] = arena_alloc(a, IPNET_TEXT_BYTES_MAX);
        if (m[i] == NULL ||
            ipnet_format_range(&key_pol(k)->ips[i], m[i], IPNET_TEXT_BYTES_MAX)) {
            return NULL;
        }
    }
    return m;
}

static Quotad__KeyValue **copy_meta(arena *a, const key *k)
{
    uint32_t n = keylab_n_meta(k->labels);
    Quotad__KeyValue **out = arena_alloc(a, sizeof(*out) * (n + 1));
    if (out == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        Quotad__KeyValue *kv = arena_alloc(a, sizeof(*kv));
        if (kv == NULL) {
            return NULL;
        }
        quotad__key_value__init(kv);
        const char *mk, *mv;
        keylab_meta(k->labels, i, &mk, &mv);
        kv->key = arena_strdup(a, mk);
        kv->value = arena_strdup(a, mv);
        if (kv->key == NULL || kv->value == NULL) {
            return NULL;
        }
        out[i] = kv;
    }
    return out;
}

#define SET_I64(msg, field, v) ((msg)->has_##field = 1, (msg)->field = (v))

/* Spend in a window as of now: a stale window counts as zero. */
static void view_spend(Quotad__KeyInfo *ki, const key *k, int64_t now_ms)
{
    win_spend s = k->spend;
    win_spend_roll(&s, now_ms);
    SET_I64(ki, spend_day, s.spend_day);
    SET_I64(ki, spend_week, s.spend_week);
    SET_I64(ki, spend_month, s.spend_month);
}

static void view_numbers(Quotad__KeyInfo *ki, const key *k)
{
    SET_I64(ki, created_at_ms, k->created_ms);
    SET_I64(ki, expires_at_ms, k->expires_ms);
    const keypol *p = key_pol(k);
    const key_ext *e = key_ext_of(k);
    SET_I64(ki, quota_total, p->quota_total);
    SET_I64(ki, quota_remaining, k->quota_remaining);
    SET_I64(ki, spend_cap_day, p->cap_day);
    SET_I64(ki, spend_cap_week, p->cap_week);
    SET_I64(ki, spend_cap_month, p->cap_month);
    SET_I64(ki, rpm, p->rpm);
    SET_I64(ki, tpm, p->tpm);
    SET_I64(ki, usage_requests, e ? e->usage_requests : 0);
    SET_I64(ki, usage_tokens, e ? e->usage_tokens : 0);
    SET_I64(ki, usage_spend, e ? e->usage_spend : 0);
    SET_I64(ki, prev_secret_expires_at_ms, key_prev_expires(k));
}

Quotad__KeyInfo *keyview_key(arena *a, const key *k, const char *prefix,
                             int64_t now_ms)
{
    assert(k->status >= KEY_ENABLED && k->status <= KEY_REVOKED);
    Quotad__KeyInfo *ki = arena_alloc(a, sizeof(*ki));
    char *masked = arena_alloc(a, KEYFMT_SECRET_BUF_BYTES);
    char hint[KEYFMT_HINT_CHARS + 1];
    key_hint_text(k, hint);
    if (ki == NULL || masked == NULL ||
        keyfmt_mask(prefix, hint, masked, KEYFMT_SECRET_BUF_BYTES) != 0) {
        return NULL;
    }
    quotad__key_info__init(ki);
    SET_I64(ki, key_id, k->id);
    SET_I64(ki, workspace_id, key_ws_id(k));
    SET_I64(ki, kind, k->kind == KEY_ADMIN ? QUOTAD__KEY_KIND__ADMIN
                                           : QUOTAD__KEY_KIND__STANDARD);
    SET_I64(ki, status, status_pb[k->status]);
    if (k->kind == KEY_ADMIN) {
        SET_I64(ki, role, (Quotad__Role)k->role);
    }
    ki->masked = masked;
    ki->name = arena_strdup(a, keylab_name(k->labels));
    ki->group = arena_strdup(a, keylab_group(k->labels));
    ki->creator = arena_strdup(a, keylab_creator(k->labels));
    ki->models = copy_models(a, k);
    ki->ips = copy_ips(a, k);
    ki->metadata = copy_meta(a, k);
    if (!ki->name || !ki->group || !ki->creator || !ki->models || !ki->ips ||
        !ki->metadata) {
        return NULL;
    }
    ki->n_models = key_pol(k)->n_models;
    ki->n_ips = key_pol(k)->n_ips;
    ki->n_metadata = keylab_n_meta(k->labels);
    view_numbers(ki, k);
    view_spend(ki, k, now_ms);
    return ki;
}

Quotad__WorkspaceInfo *keyview_ws(arena *a, const workspace *w)
{
    Quotad__WorkspaceInfo *wi = arena_alloc(a, sizeof(*wi));
    if (wi == NULL) {
        return NULL;
    }
    quotad__workspace_info__init(wi);
    wi->name = arena_strdup(a, w->name);
    if (wi->name == NULL) {
        return NULL;
    }
    SET_I64(wi, workspace_id, w->id);
    SET_I64(wi, balance, w->balance);
    SET_I64(wi, overdraft_limit, w->overdraft_limit);
    SET_I64(wi, max_keys, w->max_keys);
    SET_I64(wi, key_count, w->n_keys);
    SET_I64(wi, reserved, w->reserved);
    SET_I64(wi, usage_requests, w->usage_requests);
    SET_I64(wi, usage_tokens, w->usage_tokens);
    SET_I64(wi, usage_spend, w->usage_spend);
    SET_I64(wi, created_at_ms, w->created_ms);
    return wi;
}
