/* test_quota -- the pure check/settle logic with an injected clock. */
#include <stdlib.h>
#include <string.h>

#include "quota.h"
#include "store.h"
#include "t.h"
#include "window.h"

/* 2024-03-31 23:59:00 UTC: one minute before a day, month (and not week:
 * it is a Sunday, so also one minute before an ISO week) boundary. */
static const int64_t T0 = INT64_C(1711929540000);

/* The key's policy: interned once, then changed in place by the tests
 * (the server never changes an interned record; quota.c only reads the
 * key's). Its limits are reset by fresh(). */
static keypol *pol;

static void fresh(key *k, workspace *w)
{
    memset(k, 0, sizeof(*k));
    memset(w, 0, sizeof(*w));
    if (pol == NULL) {
        keypol_draft d;
        keypol_draft_none(&d);
        pol = (keypol *)keypol_intern(&d);
        T_REQUIRE(pol != NULL);
    }
    pol->n_models = pol->n_ips = 0;
    pol->models = NULL;
    pol->ips = NULL;
    k->id = (uint64_t)1 << 32 | 1;
    k->pol_id = pol->id;
    w->id = 1;
    k->status = KEY_ENABLED;
    k->kind = KEY_STANDARD;
    pol->quota_total = k->quota_remaining = LIMIT_NONE;
    pol->cap_day = pol->cap_week = pol->cap_month = LIMIT_NONE;
    pol->rpm = pol->tpm = LIMIT_NONE;
    w->balance = 1000000;
}

/* Free what the checks allocated (usage logs, the key's cold part). */
static void done(key *k, workspace *w)
{
    key_ext_drop(k);
    usage_free(&w->usage);
}

static int64_t usage_requests(const key *k)
{
    return key_ext_of(k) ? key_ext_of(k)->usage_requests : 0;
}

static quota_in debit(int64_t amount)
{
    return (quota_in){.amount = amount, .amount_min = amount};
}

static int run(key *k, workspace *w, quota_in in, int64_t now,
               quota_out *o)
{
    quota_check(k, w, &in, now, o);
    return o->decision;
}

static void test_order_of_checks(void)
{
    key k;
    workspace w;
    quota_out o;
    fresh(&k, &w);
    /* Fail everything at once, then lift one reason at a time. */
    k.status = KEY_REVOKED;
    k.expires_ms = T0 - 1;
    k.kind = KEY_ADMIN;
    ipnet_range r;
    T_REQUIRE(ipnet_parse_range("10.0.0.0/8", 10, &r) == 0);
    pol->ips = &r;
    pol->n_ips = 1;
    char *models[] = {"gpt-4o"};
    pol->models = models;
    pol->n_models = 1;
    pol->rpm = 0;
    pol->quota_total = k.quota_remaining = 5;
    pol->cap_day = 5;
    w.balance = 5;
    ipnet_addr ip;
    T_REQUIRE(ipnet_parse_addr("192.168.1.1", 11, &ip) == 0);
    quota_in in = debit(10);
    in.ip = &ip;
    in.model = "other";
    in.model_len = 5;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_REVOKED_API_KEY);
    k.status = KEY_DISABLED;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_KEY_DISABLED);
    k.status = KEY_ENABLED;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_KEY_EXPIRED);
    k.expires_ms = 0;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_ADMIN_KEY_NOT_ALLOWED);
    k.kind = KEY_STANDARD;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_IP_NOT_ALLOWED);
    T_REQUIRE(ipnet_parse_addr("10.1.2.3", 8, &ip) == 0);
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_MODEL_NOT_ALLOWED);
    in.model = "gpt-4o";
    in.model_len = 6;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_RATE_LIMITED);
    T_EQ_I64(o.retry_after_ms, 60000);
    pol->rpm = LIMIT_NONE;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_QUOTA_EXCEEDED);
    pol->quota_total = k.quota_remaining = 100;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_SPEND_CAP_EXCEEDED);
    pol->cap_day = 100;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_INSUFFICIENT_CREDITS);
    /* nothing moved through all those denials */
    T_EQ_I64(k.quota_remaining, 100);
    T_EQ_I64(w.balance, 5);
    T_EQ_I64(k.rate.requests, 0);
    T_EQ_I64(usage_requests(&k), 0);
    w.balance = 10;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_ALLOWED);
    T_EQ_I64(o.charged, 10);
    T_EQ_I64(w.balance, 0);
    T_EQ_I64(k.quota_remaining, 90);
    T_EQ_I64(k.spend.spend_day, 10);
    T_EQ_I64(usage_requests(&k), 1);
    T_EQ_I64(w.usage_spend, 10);
    done(&k, &w);
}

static void test_expiry_exact(void)
{
    key k;
    workspace w;
    quota_out o;
    fresh(&k, &w);
    k.expires_ms = T0;
    T_EQ_I64(run(&k, &w, debit(1), T0 - 1, &o), DEC_ALLOWED);
    T_EQ_I64(run(&k, &w, debit(1), T0, &o), DEC_KEY_EXPIRED);
    done(&k, &w);
}

static void test_rpm_window_resets_at_minute(void)
{
    key k;
    workspace w;
    quota_out o;
    fresh(&k, &w);
    pol->rpm = 3;
    for (int i = 0; i < 3; i++) {
        T_EQ_I64(run(&k, &w, debit(1), T0 + i, &o), DEC_ALLOWED);
        T_EQ_I64(o.rpm_remaining, 2 - i);
    }
    T_EQ_I64(run(&k, &w, debit(1), T0 + 59999, &o), DEC_RATE_LIMITED);
    T_EQ_I64(o.retry_after_ms, 1);
    T_EQ_I64(o.rpm_remaining, 0);
    T_EQ_I64(run(&k, &w, debit(1), T0 + 60000, &o), DEC_ALLOWED);
    T_EQ_I64(o.rpm_remaining, 2);
    done(&k, &w);
}

static void test_tpm_counts_tokens(void)
{
    key k;
    workspace w;
    quota_out o;
    fresh(&k, &w);
    pol->tpm = 1000;
    quota_in in = debit(1);
    in.tokens = 600;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_ALLOWED);
    T_EQ_I64(o.tpm_remaining, 400);
    T_EQ_I64(run(&k, &w, in, T0 + 1, &o), DEC_RATE_LIMITED);
    in.tokens = 400;
    T_EQ_I64(run(&k, &w, in, T0 + 2, &o), DEC_ALLOWED);
    T_EQ_I64(o.tpm_remaining, 0);
    done(&k, &w);
}

static void test_spend_caps_reset_on_calendar(void)
{
    key k;
    workspace w;
    quota_out o;
    fresh(&k, &w);
    pol->cap_day = 100;
    pol->cap_month = 150;
    T_EQ_I64(run(&k, &w, debit(100), T0, &o), DEC_ALLOWED);
    T_EQ_I64(run(&k, &w, debit(1), T0 + 59999, &o), DEC_SPEND_CAP_EXCEEDED);
    /* 2024-04-01 00:00:00: new day and new month */
    T_EQ_I64(run(&k, &w, debit(100), T0 + 60000, &o), DEC_ALLOWED);
    T_EQ_I64(run(&k, &w, debit(1), T0 + 60001, &o), DEC_SPEND_CAP_EXCEEDED);
    /* next day: day cap free again, month cap binds at 150 */
    int64_t next_day = T0 + 60000 + WIN_DAY_MS;
    T_EQ_I64(run(&k, &w, debit(60), next_day, &o), DEC_SPEND_CAP_EXCEEDED);
    T_EQ_I64(run(&k, &w, debit(50), next_day, &o), DEC_ALLOWED);
    done(&k, &w);
}

static void test_week_cap_monday(void)
{
    key k;
    workspace w;
    quota_out o;
    fresh(&k, &w);
    pol->cap_week = 10;
    /* T0 is Sunday 23:59; Monday 00:00 starts a new ISO week */
    T_EQ_I64(run(&k, &w, debit(10), T0, &o), DEC_ALLOWED);
    T_EQ_I64(run(&k, &w, debit(1), T0 + 1, &o), DEC_SPEND_CAP_EXCEEDED);
    T_EQ_I64(run(&k, &w, debit(10), T0 + 60000, &o), DEC_ALLOWED);
    done(&k, &w);
}

static void test_overdraft(void)
{
    key k;
    workspace w;
    quota_out o;
    fresh(&k, &w);
    w.balance = 10;
    w.overdraft_limit = 5;
    T_EQ_I64(run(&k, &w, debit(16), T0, &o), DEC_INSUFFICIENT_CREDITS);
    T_EQ_I64(run(&k, &w, debit(15), T0, &o), DEC_ALLOWED);
    T_EQ_I64(w.balance, -5);
    T_EQ_I64(run(&k, &w, debit(0), T0, &o), DEC_ALLOWED);
    T_EQ_I64(run(&k, &w, debit(1), T0, &o), DEC_INSUFFICIENT_CREDITS);
    done(&k, &w);
}

static void test_hold_amount_min(void)
{
    key k;
    workspace w;
    quota_out o;
    fresh(&k, &w);
    w.balance = 300;
    pol->quota_total = k.quota_remaining = 200;
    quota_in in = {.amount = 1000, .amount_min = 150};
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_ALLOWED);
    T_EQ_I64(o.charged, 200); /* quota binds */
    T_EQ_I64(k.quota_remaining, 0);
    T_EQ_I64(w.balance, 100);
    in.amount_min = 1;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_QUOTA_EXCEEDED);
    done(&k, &w);
}

static hold mk_hold(const key *k, int64_t amount, int64_t tokens)
{
    return (hold){.id = (uint64_t)1 << 32 | 9, .key_id = k->id,
                  .amount = amount, .tokens = tokens, .created_ms = T0,
                  .expires_ms = T0 + 1000};
}

static void test_settle_refund_and_overrun(void)
{
    key k;
    workspace w;
    quota_out o;
    quota_settle_out so;
    fresh(&k, &w);
    pol->quota_total = k.quota_remaining = 1000;
    pol->cap_day = 1000;
    quota_in in = debit(400);
    in.tokens = 10;
    T_EQ_I64(run(&k, &w, in, T0, &o), DEC_ALLOWED);
    w.reserved = 400;
    hold h = mk_hold(&k, 400, 10);
    quota_settle(&k, &w, &h, 250, 30, 0, T0 + 10, &so);
    T_EQ_I64(so.charged, 250);
    T_EQ_I64(so.refunded, 150);
    T_EQ_I64(k.quota_remaining, 750);
    T_EQ_I64(w.balance, 1000000 - 250);
    T_EQ_I64(k.spend.spend_day, 250);
    T_EQ_I64(k.rate.tokens, 30);
    T_EQ_I64(w.reserved, 0);
    /* overrun: charge at most hold + overrun_max */
    T_EQ_I64(run(&k, &w, debit(100), T0 + 20, &o), DEC_ALLOWED);
    w.reserved = 100;
    h = mk_hold(&k, 100, 0);
    quota_settle(&k, &w, &h, 500, 0, 50, T0 + 30, &so);
    T_EQ_I64(so.charged, 150);
    T_EQ_I64(so.refunded, 0);
    T_EQ_I64(k.quota_remaining, 600);
    done(&k, &w);
}

static void test_settle_refund_skips_past_day(void)
{
    key k;
    workspace w;
    quota_out o;
    quota_settle_out so;
    fresh(&k, &w);
    T_EQ_I64(run(&k, &w, debit(400), T0, &o), DEC_ALLOWED);
    w.reserved = 400;
    hold h = mk_hold(&k, 400, 0);
    /* settled after midnight and the month boundary: the refund goes to
     * the wallet, and not into the new day's spend */
    quota_settle(&k, &w, &h, 100, 0, 0, T0 + 120000, &so);
    T_EQ_I64(so.refunded, 300);
    T_EQ_I64(w.balance, 1000000 - 100);
    T_EQ_I64(k.spend.spend_day, 0);
    T_EQ_I64(k.spend.spend_month, 0);
    done(&k, &w);
}

static void test_void_with_deleted_key(void)
{
    key k;
    workspace w;
    quota_settle_out so;
    fresh(&k, &w);
    w.balance = 600;
    w.reserved = 400;
    hold h = mk_hold(&k, 400, 0);
    quota_settle(NULL, &w, &h, 0, 0, 0, T0, &so);
    T_EQ_I64(so.refunded, 400);
    T_EQ_I64(w.balance, 1000);
    T_EQ_I64(w.reserved, 0);
    done(&k, &w);
}

int main(void)
{
    T_RUN(test_order_of_checks);
    T_RUN(test_expiry_exact);
    T_RUN(test_rpm_window_resets_at_minute);
    T_RUN(test_tpm_counts_tokens);
    T_RUN(test_spend_caps_reset_on_calendar);
    T_RUN(test_week_cap_monday);
    T_RUN(test_overdraft);
    T_RUN(test_hold_amount_min);
    T_RUN(test_settle_refund_and_overrun);
    T_RUN(test_settle_refund_skips_past_day);
    T_RUN(test_void_with_deleted_key);
    keypol_release(pol);
    return t_done();
}
