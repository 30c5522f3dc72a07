/* records.c -- one LogRecord as fields (quotad-data dump).
 *
 * Field names are the proto field names, so the JSON lines read like the
 * schema (proto/quotad.proto). Only fields present in the record are
 * printed. Money fields go through qe_money (units in human output, micro
 * in JSON); hashes and idempotency answers are printed as hex only.
 */
#include <stdio.h>

#include "qdata.h"

/* Present optional scalars only. */
#define QD_OPT_U64(e, m, f)                                                 \
    do {                                                                    \
        if ((m)->has_##f)                                                   \
            qe_u64((e), #f, (uint64_t)(m)->f);                              \
    } while (0)
#define QD_OPT_I64(e, m, f)                                                 \
    do {                                                                    \
        if ((m)->has_##f)                                                   \
            qe_i64((e), #f, (int64_t)(m)->f);                               \
    } while (0)
#define QD_OPT_MONEY(e, m, f)                                               \
    do {                                                                    \
        if ((m)->has_##f)                                                   \
            qe_money((e), #f, (m)->f);                                      \
    } while (0)
#define QD_OPT_LIMIT_MONEY(e, m, f)                                         \
    do {                                                                    \
        if ((m)->has_##f)                                                   \
            qe_limit_money((e), #f, (m)->f);                                \
    } while (0)
#define QD_OPT_LIMIT_COUNT(e, m, f)                                         \
    do {                                                                    \
        if ((m)->has_##f)                                                   \
            qe_limit_count((e), #f, (m)->f);                                \
    } while (0)
#define QD_OPT_TIME(e, m, f)                                                \
    do {                                                                    \
        if ((m)->has_##f)                                                   \
            qe_time((e), #f, (m)->f);                                       \
    } while (0)
#define QD_OPT_BOOL(e, m, f)                                                \
    do {                                                                    \
        if ((m)->has_##f)                                                   \
            qe_bool((e), #f, (m)->f);                                       \
    } while (0)
#define QD_OPT_HEX(e, m, f)                                                 \
    do {                                                                    \
        if ((m)->has_##f)                                                   \
            qe_hex((e), #f, (m)->f.data, (m)->f.len);                       \
    } while (0)

/* Names of spend window values in KeyState.spend (see rec_build.c). */
#define QD_SPEND_WINDOWS 3u
#define QD_SPEND_FIELDS (2u * QD_SPEND_WINDOWS)

const char *qd_rec_type(const Quotad__LogRecord *r)
{
    switch (r->change_case) {
    case QUOTAD__LOG_RECORD__CHANGE_WS_PUT: return "ws_put";
    case QUOTAD__LOG_RECORD__CHANGE_WS_UPDATE: return "ws_update";
    case QUOTAD__LOG_RECORD__CHANGE_WALLET: return "wallet";
    case QUOTAD__LOG_RECORD__CHANGE_KEY_PUT: return "key_put";
    case QUOTAD__LOG_RECORD__CHANGE_KEY_UPDATE: return "key_update";
    case QUOTAD__LOG_RECORD__CHANGE_KEY_STATUS: return "key_status";
    case QUOTAD__LOG_RECORD__CHANGE_KEY_ROTATE: return "key_rotate";
    case QUOTAD__LOG_RECORD__CHANGE_KEY_DELETE: return "key_delete";
    case QUOTAD__LOG_RECORD__CHANGE_CHARGE: return "charge";
    case QUOTAD__LOG_RECORD__CHANGE_SETTLE: return "settle";
    case QUOTAD__LOG_RECORD__CHANGE_HOLD_PUT: return "hold_put";
    case QUOTAD__LOG_RECORD__CHANGE_IDEM_PUT: return "idem_put";
    case QUOTAD__LOG_RECORD__CHANGE_DENY: return "deny";
    case QUOTAD__LOG_RECORD__CHANGE_SET_ALERT: return "set_alert";
    case QUOTAD__LOG_RECORD__CHANGE_META: return "meta";
    default: return "unknown";
    }
}

/* Metadata pairs as a list of {key, value} in stored order. */
static void qd_emit_meta_kv(qd_emit *e, Quotad__KeyValue *const *kv,
                            size_t n)
{
    qe_arr_begin(e, "metadata");
    for (size_t i = 0; i < n; i++) {
        qe_obj_begin(e, NULL);
        qe_str(e, "key", kv[i]->key);
        qe_str(e, "value", kv[i]->value);
        qe_obj_end(e);
    }
    qe_arr_end(e);
}

void qd_emit_idem(qd_emit *e, const char *name, const Quotad__IdemState *s)
{
    if (s == NULL)
        return;
    qe_obj_begin(e, name);
    QD_OPT_U64(e, s, workspace_id);
    QD_OPT_U64(e, s, lo);
    QD_OPT_U64(e, s, hi);
    QD_OPT_U64(e, s, input_hash);
    QD_OPT_TIME(e, s, at_ms);
    QD_OPT_HEX(e, s, answer);
    qe_obj_end(e);
}

/* A hold as a nested object (charge records and snapshots). */
static void qd_emit_hold(qd_emit *e, const char *name,
                         const Quotad__HoldState *h)
{
    if (h == NULL)
        return;
    qe_obj_begin(e, name);
    QD_OPT_U64(e, h, hold_id);
    QD_OPT_U64(e, h, key_id);
    QD_OPT_MONEY(e, h, amount);
    QD_OPT_I64(e, h, tokens);
    QD_OPT_TIME(e, h, created_ms);
    QD_OPT_TIME(e, h, expires_ms);
    qe_obj_end(e);
}

/* Per-day usage (omitted when empty: most records carry none). */
static void qd_emit_usage_days(qd_emit *e, Quotad__UsageDay *const *d,
                               size_t n)
{
    if (n == 0)
        return;
    qe_arr_begin(e, "usage_days");
    for (size_t i = 0; i < n; i++) {
        qe_obj_begin(e, NULL);
        QD_OPT_I64(e, d[i], day);
        QD_OPT_I64(e, d[i], requests);
        QD_OPT_I64(e, d[i], allowed);
        qe_i64v(e, "denied", d[i]->denied, d[i]->n_denied);
        QD_OPT_I64(e, d[i], tokens);
        QD_OPT_MONEY(e, d[i], spend);
        qe_obj_end(e);
    }
    qe_arr_end(e);
}

/* Alert rules of a workspace or key state (omitted when empty). */
static void qd_emit_alert_rules(qd_emit *e, Quotad__AlertRule *const *a,
                                size_t n)
{
    if (n == 0)
        return;
    qe_arr_begin(e, "alerts");
    for (size_t i = 0; i < n; i++) {
        qe_obj_begin(e, NULL);
        QD_OPT_U64(e, a[i], kind);
        QD_OPT_I64(e, a[i], threshold);
        qe_obj_end(e);
    }
    qe_arr_end(e);
}

/* A rule added, replaced or cleared. */
static void qd_emit_set_alert(qd_emit *e, const Quotad__SetAlert *a)
{
    QD_OPT_U64(e, a, workspace_id);
    QD_OPT_U64(e, a, key_id);
    QD_OPT_U64(e, a, kind);
    QD_OPT_I64(e, a, threshold);
    QD_OPT_BOOL(e, a, clear);
}

/* A created workspace, or one in a snapshot (with snap_seq). */
static void qd_emit_ws_state(qd_emit *e, const Quotad__WsState *s)
{
    QD_OPT_U64(e, s, workspace_id);
    if (s->name)
        qe_str(e, "name", s->name);
    QD_OPT_MONEY(e, s, balance);
    QD_OPT_MONEY(e, s, overdraft_limit);
    QD_OPT_U64(e, s, max_keys);
    QD_OPT_TIME(e, s, created_at_ms);
    QD_OPT_I64(e, s, usage_requests);
    QD_OPT_I64(e, s, usage_tokens);
    QD_OPT_MONEY(e, s, usage_spend);
    QD_OPT_U64(e, s, next_key_seq);
    QD_OPT_U64(e, s, next_hold_seq);
    QD_OPT_U64(e, s, snap_seq);
    qd_emit_usage_days(e, s->usage_days, s->n_usage_days);
    qd_emit_alert_rules(e, s->alerts, s->n_alerts);
}

/* Only what the update changed. */
static void qd_emit_ws_update(qd_emit *e, const Quotad__UpdateWorkspace *u)
{
    QD_OPT_U64(e, u, workspace_id);
    if (u->name)
        qe_str(e, "name", u->name);
    QD_OPT_U64(e, u, max_keys);
    QD_OPT_MONEY(e, u, overdraft_limit);
}

/* Key counters: rate [minute, requests, tokens], spend [day, week, month
 * indices, then the three amounts], usage [requests, tokens, spend]. */
static void qd_emit_key_counters(qd_emit *e, const Quotad__KeyState *s)
{
    qe_i64v(e, "rate", s->rate, s->n_rate);
    if (s->n_spend == QD_SPEND_FIELDS) {
        qe_i64v(e, "spend_windows", s->spend, QD_SPEND_WINDOWS);
        qe_money(e, "spend_day", s->spend[QD_SPEND_WINDOWS]);
        qe_money(e, "spend_week", s->spend[QD_SPEND_WINDOWS + 1]);
        qe_money(e, "spend_month", s->spend[QD_SPEND_WINDOWS + 2]);
    } else {
        qe_i64v(e, "spend", s->spend, s->n_spend);
    }
    qe_i64v(e, "usage", s->usage, s->n_usage);
}

/* A created key, or one in a snapshot: the hash as hex, never more. */
static void qd_emit_key_state(qd_emit *e, const Quotad__KeyState *s)
{
    QD_OPT_U64(e, s, key_id);
    QD_OPT_U64(e, s, workspace_id);
    QD_OPT_HEX(e, s, hash);
    if (s->hint)
        qe_str(e, "hint", s->hint);
    QD_OPT_U64(e, s, status);
    QD_OPT_U64(e, s, kind);
    QD_OPT_U64(e, s, role);
    qe_str(e, "name", s->name);
    qe_str(e, "group", s->group);
    qe_str(e, "creator", s->creator);
    QD_OPT_TIME(e, s, created_at_ms);
    QD_OPT_TIME(e, s, expires_at_ms);
    QD_OPT_LIMIT_MONEY(e, s, quota_total);
    QD_OPT_LIMIT_MONEY(e, s, quota_remaining);
    QD_OPT_LIMIT_MONEY(e, s, cap_day);
    QD_OPT_LIMIT_MONEY(e, s, cap_week);
    QD_OPT_LIMIT_MONEY(e, s, cap_month);
    QD_OPT_LIMIT_COUNT(e, s, rpm);
    QD_OPT_LIMIT_COUNT(e, s, tpm);
    qe_strv(e, "models", s->models, s->n_models);
    qe_strv(e, "ips", s->ips, s->n_ips);
    qd_emit_meta_kv(e, s->metadata, s->n_metadata);
    QD_OPT_HEX(e, s, prev_hash);
    QD_OPT_TIME(e, s, prev_expires_ms);
    qd_emit_key_counters(e, s);
    qd_emit_usage_days(e, s->usage_days, s->n_usage_days);
    qd_emit_alert_rules(e, s->alerts, s->n_alerts);
}

/* Limits of a key update: only those present. */
static void qd_emit_limits(qd_emit *e, const Quotad__KeyLimits *l)
{
    if (l == NULL)
        return;
    qe_obj_begin(e, "limits");
    QD_OPT_LIMIT_MONEY(e, l, quota_total);
    QD_OPT_LIMIT_MONEY(e, l, quota_remaining);
    QD_OPT_LIMIT_MONEY(e, l, spend_cap_day);
    QD_OPT_LIMIT_MONEY(e, l, spend_cap_week);
    QD_OPT_LIMIT_MONEY(e, l, spend_cap_month);
    QD_OPT_LIMIT_COUNT(e, l, rpm);
    QD_OPT_LIMIT_COUNT(e, l, tpm);
    if (l->n_models > 0)
        qe_strv(e, "models", l->models, l->n_models);
    if (l->n_ips > 0)
        qe_strv(e, "ips", l->ips, l->n_ips);
    QD_OPT_BOOL(e, l, clear_models);
    QD_OPT_BOOL(e, l, clear_ips);
    QD_OPT_TIME(e, l, expires_at_ms);
    qe_obj_end(e);
}

/* Metadata is printed when it replaces the old (even with none). */
static void qd_emit_key_update(qd_emit *e, const Quotad__UpdateKey *u)
{
    QD_OPT_U64(e, u, key_id);
    if (u->name)
        qe_str(e, "name", u->name);
    if (u->group)
        qe_str(e, "group", u->group);
    qd_emit_limits(e, u->limits);
    if (u->n_metadata > 0 || (u->has_replace_metadata && u->replace_metadata))
        qd_emit_meta_kv(e, u->metadata, u->n_metadata);
    QD_OPT_BOOL(e, u, replace_metadata);
}

/* The new hash and hint; the old secret lives until prev_expires_ms. */
static void qd_emit_key_rotate(qd_emit *e, const Quotad__KeyRotateRec *k)
{
    QD_OPT_U64(e, k, key_id);
    QD_OPT_HEX(e, k, hash);
    if (k->hint)
        qe_str(e, "hint", k->hint);
    QD_OPT_TIME(e, k, prev_expires_ms);
}

/* An allowed check: amount, tokens, and the hold it placed if any. */
static void qd_emit_charge(qd_emit *e, const Quotad__ChargeRec *c)
{
    QD_OPT_U64(e, c, key_id);
    QD_OPT_MONEY(e, c, charged);
    QD_OPT_I64(e, c, tokens);
    qd_emit_hold(e, "hold", c->hold);
    qd_emit_idem(e, "idem", c->idem);
}

/* Settle, void or expiry of a hold. */
static void qd_emit_settle(qd_emit *e, const Quotad__SettleRec *s)
{
    QD_OPT_U64(e, s, hold_id);
    QD_OPT_MONEY(e, s, amount);
    QD_OPT_I64(e, s, tokens);
    QD_OPT_MONEY(e, s, overrun_max);
    QD_OPT_MONEY(e, s, charged);
    qd_emit_idem(e, "idem", s->idem);
}

/* Snapshot meta: first record (no end) and last (end, counts). */
static void qd_emit_meta(qd_emit *e, const Quotad__SnapshotMeta *m)
{
    QD_OPT_U64(e, m, seq);
    QD_OPT_U64(e, m, next_ws_id);
    QD_OPT_U64(e, m, log_segno);
    QD_OPT_U64(e, m, workspaces);
    QD_OPT_U64(e, m, keys);
    QD_OPT_U64(e, m, holds);
    QD_OPT_BOOL(e, m, end);
}

/* Workspace-level and other small records. */
static void qd_emit_small(qd_emit *e, const Quotad__LogRecord *r)
{
    switch (r->change_case) {
    case QUOTAD__LOG_RECORD__CHANGE_WALLET:
        QD_OPT_U64(e, r->wallet, workspace_id);
        QD_OPT_MONEY(e, r->wallet, delta);
        qd_emit_idem(e, "idem", r->wallet->idem);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_KEY_STATUS:
        QD_OPT_U64(e, r->key_status, key_id);
        QD_OPT_U64(e, r->key_status, status);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_KEY_DELETE:
        QD_OPT_U64(e, r->key_delete, key_id);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_DENY:
        QD_OPT_U64(e, r->deny, workspace_id);
        QD_OPT_U64(e, r->deny, key_id);
        QD_OPT_U64(e, r->deny, decision);
        break;
    default:
        qe_i64(e, "change_case", (int64_t)r->change_case);
        break;
    }
}

void qd_emit_record(qd_emit *e, const Quotad__LogRecord *r)
{
    qe_u64(e, "seq", r->seq);
    qe_time(e, e->json ? "at_ms" : "at", r->at_ms);
    qe_tag(e, "type", qd_rec_type(r));
    switch (r->change_case) {
    case QUOTAD__LOG_RECORD__CHANGE_WS_PUT:
        qd_emit_ws_state(e, r->ws_put);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_WS_UPDATE:
        qd_emit_ws_update(e, r->ws_update);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_KEY_PUT:
        qd_emit_key_state(e, r->key_put);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_KEY_UPDATE:
        qd_emit_key_update(e, r->key_update);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_KEY_ROTATE:
        qd_emit_key_rotate(e, r->key_rotate);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_CHARGE:
        qd_emit_charge(e, r->charge);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_SETTLE:
        qd_emit_settle(e, r->settle);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_HOLD_PUT:
        qd_emit_hold(e, "hold", r->hold_put);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_IDEM_PUT:
        qd_emit_idem(e, "idem", r->idem_put);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_META:
        qd_emit_meta(e, r->meta);
        break;
    case QUOTAD__LOG_RECORD__CHANGE_SET_ALERT:
        qd_emit_set_alert(e, r->set_alert);
        break;
    default:
        qd_emit_small(e, r);
        break;
    }
}
