/* rec_build -- live state to log records; see rec.h. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipnet.h"
#include "pbwire.h"
#include "rec.h"

#define SET(msg, field, v) ((msg)->has_##field = 1, (msg)->field = (v))

/* Usage days as messages (arena); -1 when the arena is exhausted. */
static int usage_days(arena *a, const usage_log *u, Quotad__UsageDay ***out,
                      size_t *n)
{
    *n = 0;
    *out = arena_alloc(a, (u->n + 1u) * sizeof(**out));
    usage_day *days = arena_alloc(a, (u->n + 1u) * sizeof(*days));
    if (*out == NULL || days == NULL) {
        return -1;
    }
    (void)usage_log_days(u, days);
    for (uint16_t i = 0; i < u->n; i++) {
        const usage_day *d = &days[i];
        Quotad__UsageDay *m = arena_alloc(a, sizeof(*m));
        int64_t *den = arena_alloc(a, USAGE_DECISIONS * sizeof(int64_t));
        if (m == NULL || den == NULL) {
            return -1;
        }
        quotad__usage_day__init(m);
        SET(m, day, d->day);
        SET(m, requests, d->requests);
        SET(m, allowed, d->allowed);
        SET(m, tokens, d->tokens);
        SET(m, spend, d->spend);
        for (uint32_t j = 0; j < USAGE_DECISIONS; j++) {
            den[j] = d->denied[j];
        }
        m->denied = den;
        m->n_denied = USAGE_DECISIONS;
        (*out)[(*n)++] = m;
    }
    return 0;
}

int rec_usage_days(arena *a, const usage_log *u, Quotad__UsageDay ***out,
                   size_t *n)
{
    return usage_days(a, u, out, n);
}

/* Alert rules (fired windows are not persisted, see alert.h). */
static int alert_rules(arena *a, const alert_set *s, Quotad__AlertRule ***out,
                       size_t *n)
{
    uint32_t cnt = s ? s->n : 0;
    *n = 0;
    *out = arena_alloc(a, (cnt + 1) * sizeof(**out));
    if (*out == NULL) {
        return -1;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        Quotad__AlertRule *r = arena_alloc(a, sizeof(*r));
        if (r == NULL) {
            return -1;
        }
        quotad__alert_rule__init(r);
        SET(r, kind, (Quotad__AlertKind)s->r[i].kind);
        SET(r, threshold, s->r[i].threshold);
        (*out)[(*n)++] = r;
    }
    return 0;
}

int rec_ws_state(arena *a, const workspace *w, Quotad__WsState *o)
{
    quotad__ws_state__init(o);
    SET(o, workspace_id, w->id);
    o->name = arena_strdup(a, w->name);
    SET(o, balance, w->balance);
    SET(o, overdraft_limit, w->overdraft_limit);
    SET(o, max_keys, w->max_keys);
    SET(o, created_at_ms, w->created_ms);
    SET(o, usage_requests, w->usage_requests);
    SET(o, usage_tokens, w->usage_tokens);
    SET(o, usage_spend, w->usage_spend);
    SET(o, next_key_seq, w->next_key_seq);
    SET(o, next_hold_seq, w->next_hold_seq);
    if (usage_days(a, &w->usage, &o->usage_days, &o->n_usage_days) != 0 ||
        alert_rules(a, w->alerts, &o->alerts, &o->n_alerts) != 0) {
        return -1;
    }
    return o->name ? 0 : -1;
}

static int64_t *i64s(arena *a, size_t n)
{
    return arena_alloc(a, n * sizeof(int64_t));
}

/* Labels of a key; -1 when the arena is exhausted. */
static int key_labels(arena *a, const key *k, Quotad__KeyState *o)
{
    char hint[KEYFMT_HINT_CHARS + 1];
    key_hint_text(k, hint);
    uint32_t n_meta = keylab_n_meta(k->labels);
    o->name = arena_strdup(a, keylab_name(k->labels));
    o->group = arena_strdup(a, keylab_group(k->labels));
    o->creator = arena_strdup(a, keylab_creator(k->labels));
    o->hint = arena_strdup(a, hint);
    o->metadata = arena_alloc(a, (n_meta + 1) * sizeof(void *));
    if (!o->name || !o->group || !o->creator || !o->hint || !o->metadata) {
        return -1;
    }
    for (uint32_t i = 0; i < n_meta; i++) {
        Quotad__KeyValue *kv = arena_alloc(a, sizeof(*kv));
        if (!kv) {
            return -1;
        }
        quotad__key_value__init(kv);
        const char *mk, *mv;
        keylab_meta(k->labels, i, &mk, &mv);
        kv->key = arena_strdup(a, mk);
        kv->value = arena_strdup(a, mv);
        if (!kv->key || !kv->value) {
            return -1;
        }
        o->metadata[i] = kv;
    }
    o->n_metadata = n_meta;
    return 0;
}

/* Allowlists of a key's policy; -1 when the arena is exhausted. */
static int key_lists(arena *a, const key *k, Quotad__KeyState *o)
{
    const keypol *p = key_pol(k);
    o->models = arena_alloc(a, (p->n_models + 1) * sizeof(char *));
    o->ips = arena_alloc(a, (p->n_ips + 1) * sizeof(char *));
    if (!o->models || !o->ips) {
        return -1;
    }
    for (uint32_t i = 0; i < p->n_models; i++) {
        if (!(o->models[i] = arena_strdup(a, p->models[i]))) {
            return -1;
        }
    }
    for (uint32_t i = 0; i < p->n_ips; i++) {
        o->ips[i] = arena_alloc(a, IPNET_TEXT_BYTES_MAX);
        if (!o->ips[i] || ipnet_format_range(&p->ips[i], o->ips[i],
                                             IPNET_TEXT_BYTES_MAX) != 0) {
            return -1;
        }
    }
    o->n_models = p->n_models;
    o->n_ips = p->n_ips;
    return key_labels(a, k, o);
}

/* Counters as flat int64 lists (rate, spend, usage). */
static int key_counters(arena *a, const key *k, Quotad__KeyState *o)
{
    o->rate = i64s(a, 3);
    o->spend = i64s(a, 6);
    o->usage = i64s(a, 3);
    if (!o->rate || !o->spend || !o->usage) {
        return -1;
    }
    o->n_rate = 3;
    o->rate[0] = k->rate.minute;
    o->rate[1] = k->rate.requests;
    o->rate[2] = k->rate.tokens;
    o->n_spend = 6;
    o->spend[0] = k->spend.day;
    o->spend[1] = win_spend_week(&k->spend);
    o->spend[2] = win_spend_month(&k->spend);
    o->spend[3] = k->spend.spend_day;
    o->spend[4] = k->spend.spend_week;
    o->spend[5] = k->spend.spend_month;
    o->n_usage = 3;
    const key_ext *e = key_ext_of(k);
    o->usage[0] = e ? e->usage_requests : 0;
    o->usage[1] = e ? e->usage_tokens : 0;
    o->usage[2] = e ? e->usage_spend : 0;
    return 0;
}

int rec_key_state(arena *a, const key *k, Quotad__KeyState *o)
{
    static const usage_log no_usage;
    quotad__key_state__init(o);
    SET(o, key_id, k->id);
    SET(o, workspace_id, key_ws_id(k));
    o->has_hash = 1;
    o->hash.data = (uint8_t *)k->hash.b;
    o->hash.len = sizeof(k->hash.b);
    SET(o, status, k->status);
    SET(o, kind, k->kind);
    SET(o, role, k->role);
    SET(o, created_at_ms, k->created_ms);
    SET(o, expires_at_ms, k->expires_ms);
    SET(o, quota_total, key_pol(k)->quota_total);
    SET(o, quota_remaining, k->quota_remaining);
    SET(o, cap_day, key_pol(k)->cap_day);
    SET(o, cap_week, key_pol(k)->cap_week);
    SET(o, cap_month, key_pol(k)->cap_month);
    SET(o, rpm, key_pol(k)->rpm);
    SET(o, tpm, key_pol(k)->tpm);
    if (key_prev_expires(k) != 0) {
        o->has_prev_hash = 1;
        const key_ext *pe = key_ext_of(k);
        o->prev_hash.data = (uint8_t *)pe->prev_hash.b;
        o->prev_hash.len = sizeof(pe->prev_hash.b);
        SET(o, prev_expires_ms, pe->prev_expires_ms);
    }
    const key_ext *e = key_ext_of(k);
    if (key_lists(a, k, o) != 0 ||
        usage_days(a, e ? &e->usage : &no_usage, &o->usage_days,
                   &o->n_usage_days) != 0 ||
        alert_rules(a, e ? e->alerts : NULL, &o->alerts, &o->n_alerts) != 0) {
        return -1;
    }
    return key_counters(a, k, o);
}

void rec_hold_state(const hold *h, Quotad__HoldState *o)
{
    quotad__hold_state__init(o);
    SET(o, hold_id, h->id);
    SET(o, key_id, h->key_id);
    SET(o, amount, h->amount);
    SET(o, tokens, h->tokens);
    SET(o, created_ms, h->created_ms);
    SET(o, expires_ms, h->expires_ms);
}

void rec_idem_state(uint32_t ws_id, const idem_entry *e,
                    Quotad__IdemState *o)
{
    quotad__idem_state__init(o);
    SET(o, workspace_id, ws_id);
    SET(o, lo, e->key.lo);
    SET(o, hi, e->key.hi);
    SET(o, input_hash, e->input_hash);
    SET(o, at_ms, e->at_ms);
    o->has_answer = 1;
    o->answer.data = (uint8_t *)e->answer;
    o->answer.len = sizeof(e->answer);
}

/* Grow the shard log buffer to hold need more bytes. */
static void log_reserve(shard_log *l, size_t need)
{
    if (l->cap - l->len >= need) {
        return;
    }
    size_t cap = l->cap ? l->cap : 4096;
    while (cap - l->len < need) {
        cap *= 2;
    }
    uint8_t *nb = realloc(l->buf, cap);
    if (nb == NULL) {
        fprintf(stderr, "quotad: out of memory for the log buffer\n");
        abort();
    }
    l->buf = nb;
    l->cap = cap;
}

void rec_append(shard *sh, const Quotad__LogRecord *r)
{
    size_t n = quotad__log_record__get_packed_size(r);
    assert(n > 0 && n <= REC_BYTES_MAX);
    assert(r->has_seq && r->seq > 0);
    log_reserve(&sh->log, REC_FRAME_BYTES + n);
    uint8_t *p = sh->log.buf + sh->log.len;
    uint32_t n32 = (uint32_t)n;
    memcpy(p, &n32, sizeof(n32));
    memcpy(p + 4, &r->seq, sizeof(r->seq));
    size_t packed = quotad__log_record__pack(r, p + REC_FRAME_BYTES);
    assert(packed == n);
    (void)packed;
    sh->log.len += REC_FRAME_BYTES + n;
    sh->log.n++;
}

/* LogRecord field numbers of the hand-encoded records (quotad.proto). */
#define REC_FIELD_SEQ 1u
#define REC_FIELD_AT_MS 2u
#define REC_FIELD_CHARGE 30u
#define REC_FIELD_SETTLE 31u
#define REC_FIELD_DENY 34u
#define REC_CHARGE_FIELD_HOLD 4u
/* Most varint fields in one hand-encoded message (HoldState has 6). */
#define REC_FAST_FIELDS_MAX 6u
#define REC_FAST_MSG_BYTES_MAX (REC_FAST_FIELDS_MAX * \
                                (1u + PBWIRE_VARINT_BYTES_MAX))
/* seq, at_ms, the change's tag and length, its fields, one nested
 * message with its tag and length. */
#define REC_FAST_BYTES_MAX (2u * (1u + PBWIRE_VARINT_BYTES_MAX) + 3u + \
                            REC_FAST_MSG_BYTES_MAX + 2u + \
                            REC_FAST_MSG_BYTES_MAX)

/* A message of varint fields 1..n, field i+1 present iff bit i of has. */
typedef struct rec_fast_msg {
    uint32_t n;
    uint32_t has;
    uint64_t v[REC_FAST_FIELDS_MAX];
} rec_fast_msg;

static size_t rec_fast_put(uint8_t *out, const rec_fast_msg *m)
{
    assert(m->n <= REC_FAST_FIELDS_MAX);
    uint8_t *p = out;
    for (uint32_t i = 0; i < m->n; i++) {
        if (m->has >> i & 1u)
            p = pbwire_put_field(p, i + 1u, m->v[i]);
    }
    return (size_t)(p - out);
}

static uint8_t *rec_fast_put_len(uint8_t *p, uint32_t field,
                                 const uint8_t *b, size_t n)
{
    p = pbwire_put_tag(p, field, PBWIRE_LEN);
    p = pbwire_put_varint(p, n);
    memcpy(p, b, n);
    return p + n;
}

/* Append [len][seq] LogRecord{seq, at_ms, <field>{m..., sub_field{sub}}}
 * (sub may be NULL; its field number follows m's), byte for byte what
 * protobuf-c packs for it (test_recfast). The records every check and
 * settle write: packing them through protobuf-c (size pass, descriptor
 * walk, pack pass) cost more than the rest of the append. */
static void rec_append_fast(shard *sh, uint64_t seq, int64_t at_ms,
                            uint32_t field, const rec_fast_msg *m,
                            uint32_t sub_field, const rec_fast_msg *sub)
{
    assert(seq > 0);
    assert(sub == NULL || sub_field > m->n);
    uint8_t body[REC_FAST_MSG_BYTES_MAX + 2u + REC_FAST_MSG_BYTES_MAX];
    uint8_t inner[REC_FAST_MSG_BYTES_MAX];
    size_t len = rec_fast_put(body, m);
    if (sub != NULL) {
        size_t sub_len = rec_fast_put(inner, sub);
        len = (size_t)(rec_fast_put_len(body + len, sub_field, inner,
                                        sub_len) - body);
    }
    log_reserve(&sh->log, REC_FRAME_BYTES + REC_FAST_BYTES_MAX);
    uint8_t *frame = sh->log.buf + sh->log.len;
    uint8_t *p = frame + REC_FRAME_BYTES;
    p = pbwire_put_field(p, REC_FIELD_SEQ, seq);
    p = pbwire_put_field(p, REC_FIELD_AT_MS, (uint64_t)at_ms);
    p = rec_fast_put_len(p, field, body, len);
    uint32_t n32 = (uint32_t)(p - frame - REC_FRAME_BYTES);
    assert(n32 <= REC_FAST_BYTES_MAX);
    memcpy(frame, &n32, sizeof(n32));
    memcpy(frame + 4, &seq, sizeof(seq));
    sh->log.len += REC_FRAME_BYTES + n32;
    sh->log.n++;
}

#define REC_ALL(n) ((1u << (n)) - 1u)

void rec_append_charge(shard *sh, uint64_t seq, int64_t at_ms,
                       uint64_t key_id, int64_t charged, int64_t tokens,
                       const hold *h)
{
    const rec_fast_msg m = {
        .n = 3, .has = REC_ALL(3),
        .v = {key_id, (uint64_t)charged, (uint64_t)tokens}};
    if (h == NULL) {
        rec_append_fast(sh, seq, at_ms, REC_FIELD_CHARGE, &m, 0, NULL);
        return;
    }
    const rec_fast_msg hs = {
        .n = 6, .has = REC_ALL(6),
        .v = {h->id, h->key_id, (uint64_t)h->amount, (uint64_t)h->tokens,
              (uint64_t)h->created_ms, (uint64_t)h->expires_ms}};
    rec_append_fast(sh, seq, at_ms, REC_FIELD_CHARGE, &m,
                    REC_CHARGE_FIELD_HOLD, &hs);
}

void rec_append_settle(shard *sh, uint64_t seq, int64_t at_ms,
                       const Quotad__SettleRec *sr)
{
    assert(sr->idem == NULL && sr->base.n_unknown_fields == 0);
    const rec_fast_msg m = {
        .n = 5,
        .has = (uint32_t)sr->has_hold_id | (uint32_t)sr->has_amount << 1 |
               (uint32_t)sr->has_tokens << 2 |
               (uint32_t)sr->has_overrun_max << 3 |
               (uint32_t)sr->has_charged << 4,
        .v = {sr->hold_id, (uint64_t)sr->amount, (uint64_t)sr->tokens,
              (uint64_t)sr->overrun_max, (uint64_t)sr->charged}};
    rec_append_fast(sh, seq, at_ms, REC_FIELD_SETTLE, &m, 0, NULL);
}

void rec_append_deny(shard *sh, uint64_t seq, int64_t at_ms, uint32_t ws_id,
                     uint64_t key_id, uint32_t decision)
{
    const rec_fast_msg m = {.n = 3, .has = REC_ALL(3),
                            .v = {ws_id, key_id, decision}};
    rec_append_fast(sh, seq, at_ms, REC_FIELD_DENY, &m, 0, NULL);
}

uint32_t rec_ws_of(const Quotad__LogRecord *r)
{
    switch (r->change_case) {
    case QUOTAD__LOG_RECORD__CHANGE_WS_PUT: return r->ws_put->workspace_id;
    case QUOTAD__LOG_RECORD__CHANGE_WS_UPDATE:
        return r->ws_update->workspace_id;
    case QUOTAD__LOG_RECORD__CHANGE_WALLET: return r->wallet->workspace_id;
    case QUOTAD__LOG_RECORD__CHANGE_KEY_PUT: return r->key_put->workspace_id;
    case QUOTAD__LOG_RECORD__CHANGE_KEY_UPDATE:
        return (uint32_t)(r->key_update->key_id >> 32);
    case QUOTAD__LOG_RECORD__CHANGE_KEY_STATUS:
        return (uint32_t)(r->key_status->key_id >> 32);
    case QUOTAD__LOG_RECORD__CHANGE_KEY_ROTATE:
        return (uint32_t)(r->key_rotate->key_id >> 32);
    case QUOTAD__LOG_RECORD__CHANGE_KEY_DELETE:
        return (uint32_t)(r->key_delete->key_id >> 32);
    case QUOTAD__LOG_RECORD__CHANGE_CHARGE:
        return (uint32_t)(r->charge->key_id >> 32);
    case QUOTAD__LOG_RECORD__CHANGE_SETTLE:
        return (uint32_t)(r->settle->hold_id >> 32);
    case QUOTAD__LOG_RECORD__CHANGE_HOLD_PUT:
        return (uint32_t)(r->hold_put->hold_id >> 32);
    case QUOTAD__LOG_RECORD__CHANGE_IDEM_PUT:
        return r->idem_put->workspace_id;
    case QUOTAD__LOG_RECORD__CHANGE_DENY: return r->deny->workspace_id;
    case QUOTAD__LOG_RECORD__CHANGE_SET_ALERT:
        return r->set_alert->workspace_id;
    default: return 0;
    }
}
