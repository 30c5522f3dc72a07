/* state.c -- canonical dump of a whole store (quotad-data state).
 *
 * The restart, restore and crash tests compare two states byte for byte,
 * so the output depends only on the state, never on shard count, hash
 * table order or the order records arrived in:
 *   store   next_ws_id and totals
 *   ws      sorted by id, every persistent field except snap_seq (a
 *           recovery watermark, not state), each followed by
 *   key     its keys sorted by id, every field
 *   hold    all holds sorted by id
 *   idem    all idempotency answers sorted by (lo, hi, at_ms, route)
 * Hashes and answers are hex; a secret is never stored, so never printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipnet.h"
#include "qdata.h"

/* Everything in the store, as sorted pointer arrays. */
typedef struct qd_state {
    workspace **ws;
    size_t n_ws;
    hold **holds;
    size_t n_holds;
    const idem_entry **idem;
    size_t n_idem;
    size_t n_keys;
} qd_state;

/* Orderings of the canonical dump (ids are unique). */
static int qd_cmp_ws(const void *a, const void *b)
{
    const workspace *x = *(workspace *const *)a, *y = *(workspace *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int qd_cmp_hold(const void *a, const void *b)
{
    const hold *x = *(hold *const *)a, *y = *(hold *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Three-way compare without overflow. */
static int qd_cmp_u64(uint64_t x, uint64_t y)
{
    return x < y ? -1 : x > y;
}

static int qd_cmp_idem(const void *a, const void *b)
{
    const idem_entry *x = *(const idem_entry *const *)a;
    const idem_entry *y = *(const idem_entry *const *)b;
    int c = qd_cmp_u64(x->key.lo, y->key.lo);
    if (c == 0)
        c = qd_cmp_u64(x->key.hi, y->key.hi);
    if (c == 0)
        c = x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
    if (c == 0)
        c = qd_cmp_u64(x->route, y->route);
    return c;
}

/* Count, allocate and fill the arrays (single-threaded: no locks). */
static int qd_state_collect(store *st, qd_state *s)
{
    memset(s, 0, sizeof *s);
    size_t nw = 0, nh = 0, ni = 0;
    for (uint32_t i = 0; i < st->opt.shards; i++) {
        nw += st->shards[i].wss.count;
        nh += st->shards[i].holds.count;
        ni += st->shards[i].idem.count;
    }
    s->ws = calloc(nw + 1, sizeof *s->ws);
    s->holds = calloc(nh + 1, sizeof *s->holds);
    s->idem = calloc(ni + 1, sizeof *s->idem);
    if (s->ws == NULL || s->holds == NULL || s->idem == NULL)
        return -1;
    for (uint32_t i = 0; i < st->opt.shards; i++) {
        shard *sh = &st->shards[i];
        size_t pos = 0;
        uint64_t id;
        void *v;
        while (htab_next(&sh->wss, &pos, &id, &v) && s->n_ws < nw) {
            s->ws[s->n_ws++] = v;
            s->n_keys += ((workspace *)v)->n_keys;
        }
        pos = 0;
        while (htab_next(&sh->holds, &pos, &id, &v) && s->n_holds < nh)
            s->holds[s->n_holds++] = v;
        const idem_tab *t = &sh->idem;
        for (uint32_t k = 0; k < t->count && s->n_idem < ni; k++)
            s->idem[s->n_idem++] = &t->ring[(t->head + k) % t->cap];
    }
    qsort(s->ws, s->n_ws, sizeof *s->ws, qd_cmp_ws);
    qsort(s->holds, s->n_holds, sizeof *s->holds, qd_cmp_hold);
    qsort(s->idem, s->n_idem, sizeof *s->idem, qd_cmp_idem);
    return 0;
}

/* The arrays only: the items belong to the store. */
static void qd_state_free(qd_state *s)
{
    free(s->ws);
    free(s->holds);
    free((void *)s->idem);
}

/* Per-day usage of a key or workspace (oldest first, as kept). */
static void qd_emit_usage_log(qd_emit *e, const usage_log *u)
{
    qe_arr_begin(e, "usage_days");
    usage_day *days = malloc((u->n + 1u) * sizeof(*days));
    if (days == NULL) {
        fprintf(stderr, "quotad-data: out of memory\n");
        exit(1);
    }
    (void)usage_log_days(u, days);
    for (uint32_t i = 0; i < u->n; i++) {
        const usage_day *d = &days[i];
        int64_t denied[USAGE_DECISIONS];
        for (uint32_t k = 0; k < USAGE_DECISIONS; k++)
            denied[k] = d->denied[k];
        qe_obj_begin(e, NULL);
        qe_i64(e, "day", d->day);
        qe_i64(e, "requests", d->requests);
        qe_i64(e, "allowed", d->allowed);
        qe_i64v(e, "denied", denied, USAGE_DECISIONS);
        qe_i64(e, "tokens", d->tokens);
        qe_money(e, "spend", d->spend);
        qe_obj_end(e);
    }
    free(days);
    qe_arr_end(e);
}

/* Alert rules in the order kept (fired_window is not persisted, so not
 * state: a restart may re-fire once, alert.h). */
static void qd_emit_alerts(qd_emit *e, const alert_set *a)
{
    qe_arr_begin(e, "alerts");
    for (uint32_t i = 0; a != NULL && i < a->n; i++) {
        qe_obj_begin(e, NULL);
        qe_u64(e, "kind", a->r[i].kind);
        qe_i64(e, "threshold", a->r[i].threshold);
        qe_obj_end(e);
    }
    qe_arr_end(e);
}

/* One workspace, every persistent field but the snap_seq watermark. */
static void qd_emit_ws(qd_emit *e, const workspace *w)
{
    qe_begin(e);
    qe_tag(e, "type", "ws");
    qe_u64(e, "id", w->id);
    qe_str(e, "name", w->name);
    qe_money(e, "balance", w->balance);
    qe_money(e, "overdraft_limit", w->overdraft_limit);
    qe_money(e, "reserved", w->reserved);
    qe_u64(e, "max_keys", w->max_keys);
    qe_u64(e, "n_keys", w->n_keys);
    qe_time(e, "created_ms", w->created_ms);
    qe_i64(e, "usage_requests", w->usage_requests);
    qe_i64(e, "usage_tokens", w->usage_tokens);
    qe_money(e, "usage_spend", w->usage_spend);
    qe_u64(e, "next_key_seq", w->next_key_seq);
    qe_u64(e, "next_hold_seq", w->next_hold_seq);
    qd_emit_usage_log(e, &w->usage);
    qd_emit_alerts(e, w->alerts);
    qe_end(e);
}

/* Allowlists (IPs in their one canonical text form) and metadata, in
 * the order the key keeps them. */
static void qd_emit_key_lists(qd_emit *e, const key *k)
{
    char txt[IPNET_TEXT_BYTES_MAX];
    qe_strv(e, "models", key_pol(k)->models, key_pol(k)->n_models);
    qe_arr_begin(e, "ips");
    for (uint32_t i = 0; i < key_pol(k)->n_ips; i++) {
        if (ipnet_format_range(&key_pol(k)->ips[i], txt, sizeof txt) != 0)
            snprintf(txt, sizeof txt, "?");
        qe_str(e, NULL, txt);
    }
    qe_arr_end(e);
    qe_arr_begin(e, "metadata");
    for (uint32_t i = 0; i < keylab_n_meta(k->labels); i++) {
        const char *mk, *mv;
        keylab_meta(k->labels, i, &mk, &mv);
        qe_obj_begin(e, NULL);
        qe_str(e, "key", mk);
        qe_str(e, "value", mv);
        qe_obj_end(e);
    }
    qe_arr_end(e);
}

/* Expiry and numeric limits (negative = none). */
static void qd_emit_key_limits(qd_emit *e, const key *k)
{
    qe_time(e, "expires_ms", k->expires_ms);
    qe_limit_money(e, "quota_total", key_pol(k)->quota_total);
    qe_limit_money(e, "quota_remaining", k->quota_remaining);
    qe_limit_money(e, "cap_day", key_pol(k)->cap_day);
    qe_limit_money(e, "cap_week", key_pol(k)->cap_week);
    qe_limit_money(e, "cap_month", key_pol(k)->cap_month);
    qe_limit_count(e, "rpm", key_pol(k)->rpm);
    qe_limit_count(e, "tpm", key_pol(k)->tpm);
}

/* Rate and spend windows (index + counters) and lifetime usage. */
static void qd_emit_key_counters(qd_emit *e, const key *k)
{
    qe_obj_begin(e, "rate");
    qe_i64(e, "minute", k->rate.minute);
    qe_i64(e, "requests", k->rate.requests);
    qe_i64(e, "tokens", k->rate.tokens);
    qe_obj_end(e);
    qe_obj_begin(e, "spend");
    qe_i64(e, "day", k->spend.day);
    qe_i64(e, "week", win_spend_week(&k->spend));
    qe_i64(e, "month", win_spend_month(&k->spend));
    qe_money(e, "spend_day", k->spend.spend_day);
    qe_money(e, "spend_week", k->spend.spend_week);
    qe_money(e, "spend_month", k->spend.spend_month);
    qe_obj_end(e);
    const key_ext *x = key_ext_of(k);
    qe_i64(e, "usage_requests", x ? x->usage_requests : 0);
    qe_i64(e, "usage_tokens", x ? x->usage_tokens : 0);
    qe_money(e, "usage_spend", x ? x->usage_spend : 0);
}

/* One key, every field; prev_hash only while a previous secret lives. */
static void qd_emit_key(qd_emit *e, const key *k)
{
    static const uint8_t none[1];
    static const usage_log no_usage;
    char hint[KEYFMT_HINT_CHARS + 1];
    key_hint_text(k, hint);
    qe_begin(e);
    qe_tag(e, "type", "key");
    qe_u64(e, "id", k->id);
    qe_u64(e, "ws", key_ws_id(k));
    qe_hex(e, "hash", k->hash.b, sizeof k->hash.b);
    qe_str(e, "hint", hint);
    qe_u64(e, "status", k->status);
    qe_u64(e, "kind", k->kind);
    qe_u64(e, "role", k->role);
    qe_str(e, "name", keylab_name(k->labels));
    qe_str(e, "group", keylab_group(k->labels));
    qe_str(e, "creator", keylab_creator(k->labels));
    qe_time(e, "created_ms", k->created_ms);
    qd_emit_key_limits(e, k);
    qd_emit_key_lists(e, k);
    const key_ext *x = key_ext_of(k);
    const key_ext *prev = x != NULL && x->prev_expires_ms != 0 ? x : NULL;
    qe_hex(e, "prev_hash", prev ? prev->prev_hash.b : none,
           prev ? sizeof prev->prev_hash.b : 0);
    qe_time(e, "prev_expires_ms", key_prev_expires(k));
    qd_emit_key_counters(e, k);
    qd_emit_usage_log(e, x ? &x->usage : &no_usage);
    qd_emit_alerts(e, x ? x->alerts : NULL);
    qe_end(e);
}

/* One open hold. */
static void qd_emit_hold_line(qd_emit *e, const hold *h)
{
    qe_begin(e);
    qe_tag(e, "type", "hold");
    qe_u64(e, "id", h->id);
    qe_u64(e, "key", h->key_id);
    qe_money(e, "amount", h->amount);
    qe_i64(e, "tokens", h->tokens);
    qe_time(e, "created_ms", h->created_ms);
    qe_time(e, "expires_ms", h->expires_ms);
    qe_end(e);
}

/* One remembered answer; the answer bytes only as hex. */
static void qd_emit_idem_line(qd_emit *e, const idem_entry *i)
{
    qe_begin(e);
    qe_tag(e, "type", "idem");
    qe_u64(e, "ws", i->route);
    qe_u64(e, "lo", i->key.lo);
    qe_u64(e, "hi", i->key.hi);
    qe_u64(e, "input_hash", i->input_hash);
    qe_time(e, "at_ms", i->at_ms);
    qe_hex(e, "answer", i->answer, sizeof i->answer);
    qe_end(e);
}

int qd_emit_state(qd_emit *e, store *st)
{
    qd_state s;
    if (qd_state_collect(st, &s) != 0) {
        qd_state_free(&s);
        return -1;
    }
    qe_begin(e);
    qe_tag(e, "type", "store");
    qe_u64(e, "next_ws_id", atomic_load(&st->next_ws_id));
    qe_u64(e, "workspaces", s.n_ws);
    qe_u64(e, "keys", s.n_keys);
    qe_u64(e, "holds", s.n_holds);
    qe_u64(e, "idem", s.n_idem);
    qe_end(e);
    for (size_t i = 0; i < s.n_ws; i++) {
        qd_emit_ws(e, s.ws[i]);
        for (uint32_t k = 0; k < s.ws[i]->n_keys; k++)
            qd_emit_key(e, ws_key_at(s.ws[i], k));
    }
    for (size_t i = 0; i < s.n_holds; i++)
        qd_emit_hold_line(e, s.holds[i]);
    for (size_t i = 0; i < s.n_idem; i++)
        qd_emit_idem_line(e, s.idem[i]);
    qd_state_free(&s);
    return 0;
}
