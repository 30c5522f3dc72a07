/* rec_apply -- log records back into a store (recovery); see rec.h.
 *
 * Recovery is single-threaded and owns the store, but helpers still take
 * the shard "lock" discipline of store.h (do_* functions) for uniformity.
 * A record that refers to state that does not exist, or whose replayed
 * result disagrees with what was logged, is REC_INCONSISTENT: the log and
 * snapshot do not describe one history, and recovery must stop.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipnet.h"
#include "keyspec.h"
#include "limits.h"
#include "quota.h"
#include "log.h"
#include "rec.h"
#include "keylab.h"
#include "keypol.h"

/* An inconsistent record: say why in err, stop recovery. */
#define bad(err, cap, ...) (errf((err), (cap), __VA_ARGS__), REC_INCONSISTENT)

static shard *shard_for(store *st, uint32_t ws_id)
{
    return store_shard_of(st, ws_id);
}

/* Usage days from a snapshot, oldest first. */
static int load_usage(usage_log *u, Quotad__UsageDay *const *days, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Quotad__UsageDay *m = days[i];
        usage_day d = {.day = (int32_t)m->day, .requests = m->requests,
                       .allowed = m->allowed, .tokens = m->tokens,
                       .spend = m->spend};
        for (size_t j = 0; j < m->n_denied && j < USAGE_DECISIONS; j++) {
            d.denied[j] = (uint32_t)m->denied[j];
        }
        if (usage_put_day(u, &d) != 0) {
            return -1;
        }
    }
    return 0;
}

static int load_alerts(alert_set **set, Quotad__AlertRule *const *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (alert_set_rule(set, (uint8_t)r[i]->kind, r[i]->threshold,
                           false) != 0) {
            return -1;
        }
    }
    return 0;
}

/* A numeric limit as the protocol allows it: -1 or 0..max. */
static bool limit_ok(int64_t v, int64_t max)
{
    return v == LIMIT_NONE || (v >= 0 && v <= max);
}

/* Recovery trusts nothing a record says that the protocol would refuse:
 * a hostile or damaged record (with valid checksums) must stop recovery
 * with a message, never crash it or plant an impossible state. */
static bool ws_state_ok(const Quotad__WsState *s)
{
    return s->overdraft_limit >= 0 && s->overdraft_limit <= AMOUNT_MICRO_MAX &&
           s->balance >= -AMOUNT_MICRO_MAX * 1000 &&
           s->balance <= AMOUNT_MICRO_MAX * 1000 &&
           s->max_keys <= WORKSPACE_MAX_KEYS_LIMIT &&
           (s->name == NULL || strlen(s->name) <= NAME_BYTES_MAX);
}

static bool key_state_ok(const Quotad__KeyState *s)
{
    return limit_ok(s->quota_total, AMOUNT_MICRO_MAX) &&
           limit_ok(s->quota_remaining, AMOUNT_MICRO_MAX) &&
           (s->quota_total == LIMIT_NONE) == (s->quota_remaining == LIMIT_NONE) &&
           limit_ok(s->cap_day, AMOUNT_MICRO_MAX) &&
           limit_ok(s->cap_week, AMOUNT_MICRO_MAX) &&
           limit_ok(s->cap_month, AMOUNT_MICRO_MAX) &&
           limit_ok(s->rpm, KEYSPEC_RPM_MAX) && limit_ok(s->tpm, TOKENS_MAX) &&
           s->expires_at_ms >= 0 && s->role <= QUOTAD__ROLE__ROLE_OWNER &&
           s->n_models <= MODELS_PER_KEY_MAX && s->n_ips <= IPS_PER_KEY_MAX &&
           s->n_metadata <= METADATA_PAIRS_MAX;
}

static rec_result apply_ws_put(store *st, const Quotad__WsState *s,
                               char *err, size_t cap)
{
    shard *sh = shard_for(st, s->workspace_id);
    if (!ws_state_ok(s)) {
        return bad(err, cap, "workspace %u: values out of range",
                   s->workspace_id);
    }
    if (s->workspace_id == 0 || do_ws_find(sh, s->workspace_id) != NULL) {
        return bad(err, cap, "workspace %u created twice", s->workspace_id);
    }
    workspace *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->name = strdup(s->name ? s->name : "")) == NULL) {
        free(w);
        return REC_NOMEM;
    }
    w->id = s->workspace_id;
    w->balance = s->balance;
    w->overdraft_limit = s->overdraft_limit;
    w->max_keys = s->max_keys;
    w->created_ms = s->created_at_ms;
    w->usage_requests = s->usage_requests;
    w->usage_tokens = s->usage_tokens;
    w->usage_spend = s->usage_spend;
    w->next_key_seq = s->next_key_seq;
    w->next_hold_seq = s->next_hold_seq;
    w->snap_seq = s->snap_seq;
    if (load_usage(&w->usage, s->usage_days, s->n_usage_days) != 0 ||
        load_alerts(&w->alerts, s->alerts, s->n_alerts) != 0 ||
        do_ws_insert(sh, w) != 0) {
        usage_free(&w->usage);
        alert_set_free(&w->alerts);
        free(w->name);
        free(w);
        return REC_NOMEM;
    }
    return REC_APPLIED;
}

static rec_result apply_ws_update(workspace *w,
                                  const Quotad__UpdateWorkspace *u)
{
    if ((u->has_overdraft_limit && (u->overdraft_limit < 0 ||
                                    u->overdraft_limit > AMOUNT_MICRO_MAX)) ||
        (u->has_max_keys && u->max_keys > WORKSPACE_MAX_KEYS_LIMIT) ||
        (u->name != NULL && strlen(u->name) > NAME_BYTES_MAX)) {
        return REC_INCONSISTENT;
    }
    if (u->name != NULL) {
        char *n = strdup(u->name);
        if (n == NULL) {
            return REC_NOMEM;
        }
        free(w->name);
        w->name = n;
    }
    if (u->has_max_keys) {
        w->max_keys = u->max_keys;
    }
    if (u->has_overdraft_limit) {
        w->overdraft_limit = u->overdraft_limit;
    }
    return REC_APPLIED;
}

static rec_result apply_idem(shard *sh, const Quotad__IdemState *s)
{
    if (s == NULL) {
        return REC_APPLIED;
    }
    idem_key ik = {.lo = s->lo, .hi = s->hi};
    if (idem_find(&sh->idem, ik, s->at_ms) != NULL) {
        return REC_APPLIED;
    }
    size_t n = s->answer.len < IDEM_ANSWER_BYTES ? s->answer.len
                                                 : IDEM_ANSWER_BYTES;
    return idem_put(&sh->idem, ik, s->workspace_id, s->input_hash, s->answer.data, n,
                    s->at_ms) == 0
               ? REC_APPLIED
               : REC_NOMEM;
}

/* ---- keys ---- */

/* Hashes are stored truncated (keyfmt.h); logs and snapshots written
 * before that carry the whole BLAKE2b-256, whose prefix is the same. */
static int hash_from(const ProtobufCBinaryData *b, keyfmt_hash *h)
{
    if (b->len != sizeof(h->b) && b->len != KEYFMT_HASH_FULL_BYTES) {
        return -1;
    }
    memcpy(h->b, b->data, sizeof(h->b));
    return 0;
}

/* Labels and policy of a key state. -1 nomem, -2 bad data. */
static int key_shared_parts(key *k, const Quotad__KeyState *s)
{
    const char *mk[METADATA_PAIRS_MAX], *mv[METADATA_PAIRS_MAX];
    for (size_t i = 0; i < s->n_metadata; i++) {
        mk[i] = s->metadata[i]->key;
        mv[i] = s->metadata[i]->value;
    }
    keylab_in in = {.name = s->name, .group = s->group,
                    .creator = s->creator, .n_meta = (uint32_t)s->n_metadata,
                    .meta_key = mk, .meta_value = mv};
    if (keylab_build(&in, &k->labels) != 0) {
        return -1;
    }
    ipnet_range ips[IPS_PER_KEY_MAX];
    for (size_t i = 0; i < s->n_ips; i++) {
        if (ipnet_parse_range(s->ips[i], strlen(s->ips[i]), &ips[i]) != 0) {
            return -2;
        }
    }
    for (size_t i = 0; i < s->n_models; i++) {
        if (s->models[i] == NULL) {
            return -2;
        }
    }
    keypol_draft d = {.quota_total = s->quota_total, .cap_day = s->cap_day,
                      .cap_week = s->cap_week, .cap_month = s->cap_month,
                      .rpm = s->rpm, .tpm = s->tpm,
                      .n_models = (uint32_t)s->n_models, .models = s->models,
                      .n_ips = (uint32_t)s->n_ips, .ips = ips};
    const keypol *pol = keypol_intern(&d);
    k->pol_id = keypol_id(pol);
    return pol != NULL ? 0 : -1;
}

static uint32_t sat_u32(int64_t v)
{
    return v < 0 ? 0 : v > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void key_numbers(key *k, const Quotad__KeyState *s)
{
    k->id = s->key_id;
    k->status = (uint8_t)s->status;
    k->kind = (uint8_t)s->kind;
    k->role = (uint8_t)s->role;
    k->created_ms = s->created_at_ms;
    k->expires_ms = s->expires_at_ms;
    k->quota_remaining = s->quota_remaining;
    if (s->n_rate == 3) {
        k->rate = (win_rate){(int32_t)s->rate[0], sat_u32(s->rate[1]),
                             sat_u32(s->rate[2])};
    }
    if (s->n_spend == 6) {
        /* indices day, week, month; the week and month follow the day */
        k->spend.day = (int32_t)s->spend[0];
        k->spend.spend_day = s->spend[3];
        k->spend.spend_week = s->spend[4];
        k->spend.spend_month = s->spend[5];
    }
}

/* Rate and spend window indices fit their 32-bit fields. */
static bool key_windows_ok(const Quotad__KeyState *s)
{
    return (s->n_rate != 3 ||
            (s->rate[0] >= INT32_MIN && s->rate[0] <= INT32_MAX)) &&
           (s->n_spend != 6 ||
            (s->spend[0] >= INT32_MIN && s->spend[0] <= INT32_MAX));
}

/* The cold part, when the state has any of it. */
static int key_ext_parts(key *k, const Quotad__KeyState *s, const char **why)
{
    bool usage = s->n_usage == 3 &&
                 (s->usage[0] != 0 || s->usage[1] != 0 || s->usage[2] != 0);
    if (!s->has_prev_hash && !usage && s->n_usage_days == 0 &&
        s->n_alerts == 0) {
        return 0;
    }
    key_ext *e = key_ext_get(k);
    if (e == NULL) {
        return -1;
    }
    if (s->has_prev_hash && (hash_from(&s->prev_hash, &e->prev_hash) != 0 ||
                             s->prev_expires_ms == 0)) {
        *why = "bad previous secret";
        return 0;
    }
    e->prev_expires_ms = s->has_prev_hash ? s->prev_expires_ms : 0;
    if (usage) {
        e->usage_requests = s->usage[0];
        e->usage_tokens = s->usage[1];
        e->usage_spend = s->usage[2];
    }
    if (load_usage(&e->usage, s->usage_days, s->n_usage_days) != 0 ||
        load_alerts(&e->alerts, s->alerts, s->n_alerts) != 0) {
        return -1;
    }
    return 0;
}

/* Build a key from its state; *why set on bad data. */
static key *key_from_state(const Quotad__KeyState *s, const char **why)
{
    key *k = store_key_alloc();
    if (k == NULL) {
        return NULL;
    }
    key_numbers(k, s);
    *why = NULL;
    int rc = 0;
    if (hash_from(&s->hash, &k->hash) != 0 || key_hint_set(k, s->hint) != 0 ||
        k->status < KEY_ENABLED || k->status > KEY_REVOKED ||
        k->kind > KEY_ADMIN || (uint32_t)(k->id >> 32) != s->workspace_id ||
        !key_windows_ok(s)) {
        *why = "bad key state";
    } else {
        rc = key_ext_parts(k, s, why);
    }
    if (rc == 0 && *why == NULL) {
        rc = key_shared_parts(k, s);
        if (rc == -2) {
            *why = "bad ip range";
        }
    }
    if (*why != NULL || rc != 0) {
        store_key_free(k);
        return NULL;
    }
    return k;
}

static rec_result apply_key_put(store *st, const Quotad__KeyState *s,
                                char *err, size_t cap)
{
    shard *sh = shard_for(st, s->workspace_id);
    workspace *w = do_ws_find(sh, s->workspace_id);
    if (w == NULL || do_key_find(sh, s->key_id) != NULL) {
        return bad(err, cap, "key %llu: no workspace or created twice",
                   (unsigned long long)s->key_id);
    }
    if (!key_state_ok(s)) {
        return bad(err, cap, "key %llu: values out of range",
                   (unsigned long long)s->key_id);
    }
    const char *why = NULL;
    key *k = key_from_state(s, &why);
    if (k == NULL) {
        return why ? bad(err, cap, "key %llu: %s",
                         (unsigned long long)s->key_id, why)
                   : REC_NOMEM;
    }
    if (w->n_keys > 0 && ws_key_at(w, w->n_keys - 1)->id >= k->id) {
        store_key_free(k);
        return bad(err, cap, "key ids out of order");
    }
    int rc = do_key_insert(sh, w, k);
    if (rc != 0) {
        store_key_free(k);
        return rc == -2 ? bad(err, cap, "secret tag collision") : REC_NOMEM;
    }
    uint32_t seqno = (uint32_t)k->id;
    if (seqno > w->next_key_seq) {
        w->next_key_seq = seqno;
    }
    return REC_APPLIED;
}


static key *find_key(store *st, uint64_t key_id, shard **sh)
{
    *sh = shard_for(st, (uint32_t)(key_id >> 32));
    return do_key_find(*sh, key_id);
}

static rec_result apply_key_change(store *st, const Quotad__LogRecord *r,
                                   char *err, size_t cap)
{
    uint64_t id = 0;
    switch (r->change_case) {
    case QUOTAD__LOG_RECORD__CHANGE_KEY_UPDATE: id = r->key_update->key_id;
        break;
    case QUOTAD__LOG_RECORD__CHANGE_KEY_STATUS: id = r->key_status->key_id;
        break;
    case QUOTAD__LOG_RECORD__CHANGE_KEY_ROTATE: id = r->key_rotate->key_id;
        break;
    default: id = r->key_delete->key_id; break;
    }
    shard *sh = NULL;
    key *k = find_key(st, id, &sh);
    if (k == NULL) {
        return bad(err, cap, "seq %llu: no key %llu",
                   (unsigned long long)r->seq, (unsigned long long)id);
    }
    if (r->change_case == QUOTAD__LOG_RECORD__CHANGE_KEY_UPDATE) {
        char verr[200];
        if (keyspec_validate_update(r->key_update, verr, sizeof verr) != 0) {
            return bad(err, cap, "bad key update: %s", verr);
        }
        return keyspec_apply_update(k, r->key_update) == 0 ? REC_APPLIED
                                                           : REC_NOMEM;
    }
    if (r->change_case == QUOTAD__LOG_RECORD__CHANGE_KEY_STATUS) {
        uint32_t s = r->key_status->status;
        if (s < KEY_ENABLED || s > KEY_REVOKED) {
            return bad(err, cap, "bad key status %u", s);
        }
        k->status = (uint8_t)s;
        return REC_APPLIED;
    }
    if (r->change_case == QUOTAD__LOG_RECORD__CHANGE_KEY_ROTATE) {
        const Quotad__KeyRotateRec *rr = r->key_rotate;
        keyfmt_hash nh;
        if (hash_from(&rr->hash, &nh) != 0 || rr->prev_expires_ms == 0) {
            return bad(err, cap, "bad rotate hash");
        }
        int rc = do_key_rotate(sh, k, &nh, rr->hint, rr->prev_expires_ms);
        return rc == 0 ? REC_APPLIED
                       : rc == -2 ? bad(err, cap, "rotate tag collision")
                                  : REC_NOMEM;
    }
    workspace *w = do_ws_find(sh, key_ws_id(k));
    assert(w != NULL);
    do_key_remove(sh, w, k);
    store_key_free(k);
    return REC_APPLIED;
}

static hold *hold_from(const Quotad__HoldState *s)
{
    hold *h = calloc(1, sizeof(*h));
    if (h != NULL) {
        h->id = s->hold_id;
        h->key_id = s->key_id;
        h->amount = s->amount;
        h->tokens = s->tokens;
        h->created_ms = s->created_ms;
        h->expires_ms = s->expires_ms;
    }
    return h;
}

static rec_result insert_hold(shard *sh, workspace *w,
                              const Quotad__HoldState *s, char *err,
                              size_t cap)
{
    if ((uint32_t)(s->hold_id >> 32) != w->id ||
        do_hold_find(sh, s->hold_id) != NULL || s->amount < 0 ||
        s->amount > AMOUNT_MICRO_MAX || s->tokens < 0 || s->tokens > TOKENS_MAX) {
        return bad(err, cap, "bad or duplicate hold %llu",
                   (unsigned long long)s->hold_id);
    }
    hold *h = hold_from(s);
    if (h == NULL || do_hold_insert(sh, h) != 0) {
        free(h);
        return REC_NOMEM;
    }
    if (__builtin_add_overflow(w->reserved, h->amount, &w->reserved)) {
        do_hold_remove(sh, h);
        free(h);
        return bad(err, cap, "reserved amount overflows");
    }
    uint32_t seqno = (uint32_t)h->id;
    if (seqno > w->next_hold_seq) {
        w->next_hold_seq = seqno;
    }
    return REC_APPLIED;
}

static rec_result apply_charge(store *st, const Quotad__LogRecord *r,
                               char *err, size_t cap)
{
    const Quotad__ChargeRec *c = r->charge;
    shard *sh = NULL;
    key *k = find_key(st, c->key_id, &sh);
    workspace *w = k ? do_ws_find(sh, key_ws_id(k)) : NULL;
    if (k == NULL || w == NULL || c->charged < 0 || c->tokens < 0) {
        return bad(err, cap, "seq %llu: charge for missing key %llu",
                   (unsigned long long)r->seq,
                   (unsigned long long)c->key_id);
    }
    if (c->charged > AMOUNT_MICRO_MAX || c->tokens > TOKENS_MAX ||
        (key_pol(k)->quota_total != LIMIT_NONE && c->charged > k->quota_remaining) ||
        c->charged > w->balance + w->overdraft_limit) {
        return bad(err, cap, "charge exceeds the quota or wallet it was taken from");
    }
    quota_apply_charge(k, w, c->charged, c->tokens, r->at_ms);
    if (c->hold != NULL) {
        rec_result rr = insert_hold(sh, w, c->hold, err, cap);
        if (rr != REC_APPLIED) {
            return rr;
        }
    }
    return apply_idem(sh, c->idem);
}

static rec_result apply_settle(store *st, const Quotad__LogRecord *r,
                               char *err, size_t cap)
{
    const Quotad__SettleRec *s = r->settle;
    shard *sh = shard_for(st, (uint32_t)(s->hold_id >> 32));
    hold *h = do_hold_find(sh, s->hold_id);
    workspace *w = do_ws_find(sh, (uint32_t)(s->hold_id >> 32));
    if (h == NULL || w == NULL || s->amount < 0 || s->amount > AMOUNT_MICRO_MAX ||
        s->tokens < 0 || s->tokens > TOKENS_MAX || s->overrun_max < 0 ||
        s->overrun_max > AMOUNT_MICRO_MAX) {
        return bad(err, cap, "seq %llu: settle of unknown hold %llu",
                   (unsigned long long)r->seq,
                   (unsigned long long)s->hold_id);
    }
    key *k = do_key_find(sh, h->key_id);
    quota_settle_out so;
    quota_settle(k, w, h, s->amount, s->tokens, s->overrun_max, r->at_ms,
                 &so);
    do_hold_remove(sh, h);
    free(h);
    if (so.charged != s->charged) {
        return bad(err, cap, "seq %llu: settle replays to %lld, logged %lld",
                   (unsigned long long)r->seq, (long long)so.charged,
                   (long long)s->charged);
    }
    return apply_idem(sh, s->idem);
}

static rec_result apply_deny(store *st, const Quotad__LogRecord *r,
                             workspace *w, char *err, size_t cap)
{
    const Quotad__DenyRec *d = r->deny;
    shard *sh = shard_for(st, d->workspace_id);
    key *k = d->key_id ? do_key_find(sh, d->key_id) : NULL;
    if (w == NULL || (d->key_id != 0 && k == NULL) ||
        d->decision >= USAGE_DECISIONS || d->decision == 0) {
        return bad(err, cap, "seq %llu: bad deny record",
                   (unsigned long long)r->seq);
    }
    quota_note(k, w, (int)d->decision, 0, 0, r->at_ms);
    return REC_APPLIED;
}

static rec_result apply_set_alert(store *st, const Quotad__SetAlert *a,
                                  char *err, size_t cap)
{
    shard *sh = shard_for(st, a->workspace_id);
    workspace *w = do_ws_find(sh, a->workspace_id);
    key *k = a->key_id ? do_key_find(sh, a->key_id) : NULL;
    if (w == NULL || (a->key_id != 0 && k == NULL)) {
        return bad(err, cap, "alert for a missing workspace or key");
    }
    if (k != NULL && key_ext_get(k) == NULL) {
        return REC_NOMEM;
    }
    alert_set **set = k ? &key_ext_of(k)->alerts : &w->alerts;
    int rc = alert_set_rule(set, (uint8_t)a->kind, a->threshold,
                            a->has_clear && a->clear);
    return rc == 0 ? REC_APPLIED : rc == -1 ? REC_NOMEM
                                            : bad(err, cap, "alert set full");
}

static rec_result apply_meta(store *st, const Quotad__SnapshotMeta *m)
{
    if (m->seq > atomic_load(&st->seq)) {
        atomic_store(&st->seq, m->seq);
    }
    if (m->next_ws_id > atomic_load(&st->next_ws_id)) {
        atomic_store(&st->next_ws_id, m->next_ws_id);
    }
    return REC_APPLIED;
}

/* Records of workspace-level changes. */
static rec_result apply_ws_change(store *st, const Quotad__LogRecord *r,
                                  workspace *w, char *err, size_t cap)
{
    shard *sh = shard_for(st, w->id);
    if (r->change_case == QUOTAD__LOG_RECORD__CHANGE_WS_UPDATE) {
        return apply_ws_update(w, r->ws_update);
    }
    if (r->change_case == QUOTAD__LOG_RECORD__CHANGE_WALLET) {
        int64_t nb;
        if (__builtin_add_overflow(w->balance, r->wallet->delta, &nb)) {
            return bad(err, cap, "wallet balance overflows");
        }
        w->balance = nb;
        return apply_idem(sh, r->wallet->idem);
    }
    if (r->change_case == QUOTAD__LOG_RECORD__CHANGE_HOLD_PUT) {
        return insert_hold(sh, w, r->hold_put, err, cap);
    }
    assert(r->change_case == QUOTAD__LOG_RECORD__CHANGE_IDEM_PUT);
    return apply_idem(sh, r->idem_put);
}

static rec_result dispatch(store *st, const Quotad__LogRecord *r,
                           workspace *w, char *err, size_t cap)
{
    switch (r->change_case) {
    case QUOTAD__LOG_RECORD__CHANGE_META: return apply_meta(st, r->meta);
    case QUOTAD__LOG_RECORD__CHANGE_WS_PUT:
        return apply_ws_put(st, r->ws_put, err, cap);
    case QUOTAD__LOG_RECORD__CHANGE_KEY_PUT:
        return apply_key_put(st, r->key_put, err, cap);
    case QUOTAD__LOG_RECORD__CHANGE_CHARGE: return apply_charge(st, r, err, cap);
    case QUOTAD__LOG_RECORD__CHANGE_SETTLE: return apply_settle(st, r, err, cap);
    case QUOTAD__LOG_RECORD__CHANGE_DENY: return apply_deny(st, r, w, err, cap);
    case QUOTAD__LOG_RECORD__CHANGE_SET_ALERT:
        return apply_set_alert(st, r->set_alert, err, cap);
    case QUOTAD__LOG_RECORD__CHANGE_KEY_UPDATE:
    case QUOTAD__LOG_RECORD__CHANGE_KEY_STATUS:
    case QUOTAD__LOG_RECORD__CHANGE_KEY_ROTATE:
    case QUOTAD__LOG_RECORD__CHANGE_KEY_DELETE:
        return apply_key_change(st, r, err, cap);
    case QUOTAD__LOG_RECORD__CHANGE_WS_UPDATE:
    case QUOTAD__LOG_RECORD__CHANGE_WALLET:
    case QUOTAD__LOG_RECORD__CHANGE_HOLD_PUT:
    case QUOTAD__LOG_RECORD__CHANGE_IDEM_PUT:
        if (w == NULL) {
            return bad(err, cap, "seq %llu: unknown workspace",
                       (unsigned long long)r->seq);
        }
        return apply_ws_change(st, r, w, err, cap);
    default:
        return bad(err, cap, "seq %llu: unknown record type %d",
                   (unsigned long long)r->seq, (int)r->change_case);
    }
}

/* The store's seq must end at or above every seq the data holds, applied
 * or skipped: a seq handed out again would make a later recovery skip a
 * new change as "already in the snapshot". */
static void seq_at_least(store *st, uint64_t seq)
{
    if (seq > atomic_load(&st->seq)) {
        atomic_store(&st->seq, seq);
    }
}

rec_result rec_apply(store *st, const Quotad__LogRecord *r, char *err,
                     size_t err_cap)
{
    uint32_t ws_id = rec_ws_of(r);
    seq_at_least(st, r->seq);
    if (r->change_case == QUOTAD__LOG_RECORD__CHANGE_WS_PUT) {
        seq_at_least(st, r->ws_put->snap_seq);
    }
    workspace *w = ws_id ? do_ws_find(shard_for(st, ws_id), ws_id) : NULL;
    if (w != NULL && r->seq != 0 && r->seq <= w->snap_seq) {
        return REC_SKIPPED;
    }
    rec_result rr = dispatch(st, r, w, err, err_cap);
    if (rr != REC_APPLIED) {
        return rr;
    }
    if (r->seq > atomic_load(&st->seq)) {
        atomic_store(&st->seq, r->seq);
    }
    /* From now on this workspace holds every record up to r->seq: a
     * duplicate or reordered older record is skipped, never applied. */
    workspace *after = ws_id ? do_ws_find(shard_for(st, ws_id), ws_id) : NULL;
    if (after != NULL && r->seq > after->snap_seq) {
        after->snap_seq = r->seq;
    }
    if (ws_id > atomic_load(&st->next_ws_id)) {
        atomic_store(&st->next_ws_id, ws_id);
    }
    return REC_APPLIED;
}
