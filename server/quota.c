/* quota -- see quota.h. The order of checks is the contract of
 * docs/protocol.md; changing it changes the protocol. */
#include "quota.h"

#include <assert.h>
#include <string.h>

#include "limits.h"
#include "window.h"

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int64_t quota_wallet_room(const workspace *w)
{
    return w->balance + w->overdraft_limit;
}

static bool key_ip_allowed(const key *k, const ipnet_addr *ip)
{
    const keypol *p = key_pol(k);
    if (p->n_ips == 0) {
        return true;
    }
    if (ip == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < p->n_ips; i++) {
        if (ipnet_contains(&p->ips[i], ip)) {
            return true;
        }
    }
    return false;
}

static bool key_model_allowed(const key *k, const char *model, size_t len)
{
    const keypol *p = key_pol(k);
    if (p->n_models == 0) {
        return true;
    }
    if (model == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < p->n_models; i++) {
        const char *m = p->models[i];
        if (strlen(m) == len && memcmp(m, model, len) == 0) {
            return true;
        }
    }
    return false;
}

/* Checks 2..7: the key's identity and static permissions. */
static int quota_static_checks(const key *k, const quota_in *in,
                               int64_t now_ms)
{
    if (k->status == KEY_REVOKED) {
        return DEC_REVOKED_API_KEY;
    }
    if (k->status == KEY_DISABLED) {
        return DEC_KEY_DISABLED;
    }
    if (k->expires_ms != 0 && now_ms >= k->expires_ms) {
        return DEC_KEY_EXPIRED;
    }
    if (k->kind == KEY_ADMIN) {
        return DEC_ADMIN_KEY_NOT_ALLOWED;
    }
    if (!key_ip_allowed(k, in->ip)) {
        return DEC_IP_NOT_ALLOWED;
    }
    if (!key_model_allowed(k, in->model, in->model_len)) {
        return DEC_MODEL_NOT_ALLOWED;
    }
    return DEC_ALLOWED;
}

/* Check 8 (rate). Fills the rate fields of out either way, so even a
 * denied reply tells the caller where it stands. */
static int quota_rate_check(const key *k, const quota_in *in, int64_t now_ms,
                            quota_out *out)
{
    out->rate_reset_ms = win_minute_reset_ms(now_ms);
    out->rpm_remaining = LIMIT_NONE;
    out->tpm_remaining = LIMIT_NONE;
    bool over = false;
    const keypol *p = key_pol(k);
    if (p->rpm != LIMIT_NONE) {
        out->rpm_remaining = p->rpm - (int64_t)k->rate.requests;
        over = over || (int64_t)k->rate.requests + 1 > p->rpm;
    }
    if (p->tpm != LIMIT_NONE) {
        out->tpm_remaining = p->tpm - (int64_t)k->rate.tokens;
        over = over || (int64_t)k->rate.tokens + in->tokens > p->tpm;
    }
    if (out->rpm_remaining < 0 && out->rpm_remaining != LIMIT_NONE) {
        out->rpm_remaining = 0;
    }
    if (out->tpm_remaining < 0 && out->tpm_remaining != LIMIT_NONE) {
        out->tpm_remaining = 0;
    }
    if (over) {
        out->retry_after_ms = out->rate_reset_ms;
        return DEC_RATE_LIMITED;
    }
    return DEC_ALLOWED;
}

/* Room under one spend cap, or LIMIT_NONE. */
static int64_t cap_room(int64_t cap, int64_t spent)
{
    return cap == LIMIT_NONE ? LIMIT_NONE : cap - spent;
}

/* Checks 9..11: the money. *room becomes the largest charge every limit
 * allows (never below in->amount_min when allowed). */
static int quota_money_checks(const key *k, const workspace *w,
                              const quota_in *in, int64_t *room)
{
    int64_t need = in->amount_min;
    int64_t r = in->amount;
    if (key_pol(k)->quota_total != LIMIT_NONE) {
        if (k->quota_remaining < need) {
            return DEC_QUOTA_EXCEEDED;
        }
        r = min64(r, k->quota_remaining);
    }
    const int64_t rooms[3] = {
        cap_room(key_pol(k)->cap_day, k->spend.spend_day),
        cap_room(key_pol(k)->cap_week, k->spend.spend_week),
        cap_room(key_pol(k)->cap_month, k->spend.spend_month),
    };
    for (int i = 0; i < 3; i++) {
        if (rooms[i] == LIMIT_NONE) {
            continue;
        }
        if (rooms[i] < need) {
            return DEC_SPEND_CAP_EXCEEDED;
        }
        r = min64(r, rooms[i]);
    }
    int64_t wallet = quota_wallet_room(w);
    if (wallet < need) {
        return DEC_INSUFFICIENT_CREDITS;
    }
    *room = min64(r, wallet);
    assert(*room >= need);
    return DEC_ALLOWED;
}

/* Take charge from every counter at once (windows already rolled). */
static void quota_take(key *k, workspace *w, int64_t charge, int64_t tokens)
{
    win_rate_add(&k->rate, 1, tokens);
    if (key_pol(k)->quota_total != LIMIT_NONE) {
        k->quota_remaining -= charge;
        assert(k->quota_remaining >= 0);
    }
    k->spend.spend_day += charge;
    k->spend.spend_week += charge;
    k->spend.spend_month += charge;
    w->balance -= charge;
    assert(w->balance >= -w->overdraft_limit);
    key_ext *e = key_ext_get(k); /* lifetime totals: observational */
    if (e != NULL) {
        e->usage_requests += 1;
        e->usage_tokens += tokens;
        e->usage_spend += charge;
    }
    w->usage_requests += 1;
    w->usage_tokens += tokens;
    w->usage_spend += charge;
}

void quota_apply_charge(key *k, workspace *w, int64_t charge, int64_t tokens,
                        int64_t now_ms)
{
    assert(charge >= 0 && tokens >= 0);
    win_rate_roll(&k->rate, now_ms);
    win_spend_roll(&k->spend, now_ms);
    quota_take(k, w, charge, tokens);
    quota_note(k, w, 0, charge, tokens, now_ms);
}

void quota_note(key *k, workspace *w, int decision, int64_t charged,
                int64_t tokens, int64_t now_ms)
{
    /* Usage is observational: a lost count (out of memory) never blocks. */
    key_ext *ext = k != NULL ? key_ext_get(k) : NULL;
    if (ext != NULL) {
        (void)usage_note_check(&ext->usage, now_ms, decision, charged, tokens);
    }
    (void)usage_note_check(&w->usage, now_ms, decision, charged, tokens);
}

static void quota_check_inner(key *k, workspace *w, const quota_in *in,
                              int64_t now_ms, quota_out *out);

void quota_check(key *k, workspace *w, const quota_in *in, int64_t now_ms,
                 quota_out *out)
{
    quota_check_inner(k, w, in, now_ms, out);
    quota_note(k, w, out->decision, out->charged, in->tokens, now_ms);
}

static void quota_check_inner(key *k, workspace *w, const quota_in *in,
                              int64_t now_ms, quota_out *out)
{
    assert(in->amount_min >= 0 && in->amount_min <= in->amount);
    assert(in->tokens >= 0);
    memset(out, 0, sizeof(*out));
    out->rpm_remaining = LIMIT_NONE;
    out->tpm_remaining = LIMIT_NONE;
    out->decision = quota_static_checks(k, in, now_ms);
    if (out->decision != DEC_ALLOWED) {
        return;
    }
    win_rate_roll(&k->rate, now_ms);
    win_spend_roll(&k->spend, now_ms);
    out->decision = quota_rate_check(k, in, now_ms, out);
    if (out->decision != DEC_ALLOWED) {
        return;
    }
    int64_t room = 0;
    out->decision = quota_money_checks(k, w, in, &room);
    if (out->decision != DEC_ALLOWED) {
        return;
    }
    quota_take(k, w, room, in->tokens);
    out->charged = room;
    if (out->rpm_remaining != LIMIT_NONE) {
        out->rpm_remaining -= 1;
    }
    if (out->tpm_remaining != LIMIT_NONE) {
        out->tpm_remaining -= in->tokens;
    }
}

/* Extra charge above the hold that every limit still allows. */
static int64_t settle_extra(const key *k, const workspace *w, int64_t want,
                            int64_t overrun_max)
{
    int64_t extra = min64(want, overrun_max);
    int64_t wallet = quota_wallet_room(w);
    extra = min64(extra, wallet > 0 ? wallet : 0);
    if (k != NULL && key_pol(k)->quota_total != LIMIT_NONE) {
        extra = min64(extra, k->quota_remaining > 0 ? k->quota_remaining : 0);
    }
    return extra > 0 ? extra : 0;
}

/* Move delta (positive: charge more, negative: refund) through the
 * counters the hold touched. Refunds reach only still-current spend
 * windows. */
static void settle_apply(key *k, workspace *w, const hold *h, int64_t delta,
                         int64_t now_ms)
{
    w->balance -= delta;
    w->usage_spend += delta;
    if (k == NULL) {
        return;
    }
    if (key_pol(k)->quota_total != LIMIT_NONE) {
        k->quota_remaining -= delta;
    }
    key_ext *ext = key_ext_get(k);
    if (ext != NULL) {
        ext->usage_spend += delta;
    }
    win_spend_roll(&k->spend, now_ms);
    if (delta >= 0) {
        k->spend.spend_day += delta;
        k->spend.spend_week += delta;
        k->spend.spend_month += delta;
    } else {
        win_spend_refund(&k->spend, h->created_ms, now_ms, -delta);
    }
}

void quota_settle(key *k, workspace *w, const hold *h, int64_t amount,
                  int64_t tokens, int64_t overrun_max, int64_t now_ms,
                  quota_settle_out *out)
{
    assert(amount >= 0 && tokens >= 0 && overrun_max >= 0);
    assert(k == NULL || k->id == h->key_id);
    int64_t charged = amount;
    if (amount > h->amount) {
        charged = h->amount +
                  settle_extra(k, w, amount - h->amount, overrun_max);
    }
    out->charged = charged;
    out->refunded = h->amount > charged ? h->amount - charged : 0;
    settle_apply(k, w, h, charged - h->amount, now_ms);
    int64_t more_tokens = k != NULL && tokens > h->tokens ? tokens - h->tokens
                                                          : 0;
    key_ext *ext = k != NULL ? key_ext_get(k) : NULL;
    if (ext != NULL) {
        (void)usage_note_adjust(&ext->usage, now_ms, charged - h->amount,
                                more_tokens);
    }
    (void)usage_note_adjust(&w->usage, now_ms, charged - h->amount,
                            more_tokens);
    w->reserved -= h->amount;
    assert(w->reserved >= 0);
    if (k != NULL && tokens > h->tokens) {
        int64_t more = tokens - h->tokens;
        win_rate_roll(&k->rate, now_ms);
        win_rate_add(&k->rate, 0, more);
        if (ext != NULL) {
            ext->usage_tokens += more;
        }
        w->usage_tokens += more;
    }
}
