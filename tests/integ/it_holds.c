/* it_holds -- holds against a real daemon: reserve, settle (less, more,
 * overrun cap on a second daemon), void, automatic expiry, settle twice,
 * amount_min, TPM counting of settled tokens, and every kind of hold
 * record replayed after kill -9.
 */
#include <stdio.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "t.h"

#define BAL 1000
#define SHORT_HOLD_MS 200
#define EXPIRY_WAIT_MS 600
#define MINUTE_ROOM_MS 15000
#define OVERRUN 1000
#define NO_SUCH_HOLD UINT64_C(0x7ffffff500000001)

static td_daemon g_d;
static qc_ctx *g_c;

/* A fresh workspace per test keeps the balances independent. */
static uint32_t new_ws(int64_t balance, int64_t overdraft)
{
    uint32_t ws = 0;
    return fx_workspace(g_c, balance, overdraft, 0, &ws) == QC_OK ? ws : 0;
}

/* A key with an optional quota (< 0 = unlimited) and tpm. */
static int new_key(uint32_t ws, int64_t quota, int64_t tpm, fx_key *k)
{
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    if (quota >= 0)
        FX_SET(l, quota_total, quota);
    if (tpm >= 0)
        FX_SET(l, tpm, tpm);
    return fx_key_create(g_c, ws, &l, k);
}

/* Place a hold; returns the decision or -1000 - rc. */
static int hold(const char *secret, int64_t amount, int64_t amount_min,
                int64_t tokens, uint32_t timeout_ms, qc_check_res *rs)
{
    qc_check_req rq = {.secret = secret, .amount = amount,
                       .amount_min = amount_min, .tokens = tokens,
                       .hold = true, .hold_timeout_ms = timeout_ms};
    memset(rs, 0, sizeof *rs);
    int rc = qc_check(g_c, &rq, rs);
    return rc == QC_OK ? (int)rs->decision : -1000 - rc;
}

/* Wallet balance, INT64_MIN on failure (fails any comparison). */
static int64_t balance(uint32_t ws)
{
    int64_t b = INT64_MIN;
    (void)fx_balance(g_c, ws, &b);
    return b;
}

/* A hold takes the reservation from wallet, quota and spend at once. */
static void test_hold_reserves(void)
{
    uint32_t ws = new_ws(BAL, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, 500, -1, &k) == QC_OK);
    qc_check_res rs;
    T_EQ_I64(hold(k.secret, 200, 200, 0, 0, &rs), QC_ALLOWED);
    T_EQ_I64(rs.charged, 200);
    T_CHECK(rs.hold_id != 0);
    T_EQ_I64(rs.wallet_balance, BAL - 200);
    T_EQ_I64(rs.quota_remaining, 300);
    fx_ws_state w;
    T_REQUIRE(fx_ws_state_get(g_c, ws, &w) == QC_OK);
    T_EQ_I64(w.balance, BAL - 200);
    T_EQ_I64(w.reserved, 200);
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(st.spend_day, 200);
    T_EQ_I64(st.quota_remaining, 300);
}

/* Settling with less refunds exactly the difference everywhere. */
static void test_settle_less(void)
{
    uint32_t ws = new_ws(BAL, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, 500, -1, &k) == QC_OK);
    qc_check_res rs;
    T_REQUIRE(hold(k.secret, 200, 200, 0, 0, &rs) == QC_ALLOWED);
    qc_settle_res ss;
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 150, 0, NULL, &ss), QC_OK);
    T_EQ_I64(ss.charged, 150);
    T_EQ_I64(ss.refunded, 50);
    T_EQ_I64(ss.wallet_balance, BAL - 150);
    T_EQ_I64(ss.quota_remaining, 350);
    T_CHECK(!ss.replayed);
    fx_ws_state w;
    T_REQUIRE(fx_ws_state_get(g_c, ws, &w) == QC_OK);
    T_EQ_I64(w.balance, BAL - 150);
    T_EQ_I64(w.reserved, 0);
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(st.spend_day, 150);
    T_EQ_I64(st.spend_month, 150);
    T_EQ_I64(st.quota_remaining, 350);
}

/* Without an overrun allowance, settling above the hold charges the hold. */
static void test_settle_more_default(void)
{
    uint32_t ws = new_ws(BAL, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, 500, -1, &k) == QC_OK);
    qc_check_res rs;
    T_REQUIRE(hold(k.secret, 100, 100, 0, 0, &rs) == QC_ALLOWED);
    qc_settle_res ss;
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 130, 0, NULL, &ss), QC_OK);
    T_EQ_I64(ss.charged, 100);
    T_EQ_I64(ss.refunded, 0);
    T_EQ_I64(balance(ws), BAL - 100);
    T_EQ_I64(ss.quota_remaining, 400);
}

/* Void refunds everything; the hold is then gone. */
static void test_void(void)
{
    uint32_t ws = new_ws(BAL, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, 500, -1, &k) == QC_OK);
    qc_check_res rs;
    T_REQUIRE(hold(k.secret, 100, 100, 0, 0, &rs) == QC_ALLOWED);
    qc_settle_res ss;
    T_EQ_I64(qc_void(g_c, rs.hold_id, &ss), QC_OK);
    T_EQ_I64(ss.charged, 0);
    T_EQ_I64(ss.refunded, 100);
    T_EQ_I64(ss.wallet_balance, BAL);
    T_EQ_I64(ss.quota_remaining, 500);
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(st.spend_day, 0);
    T_EQ_I64(qc_void(g_c, rs.hold_id, &ss), QC_CODE_NOT_FOUND);
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 1, 0, NULL, &ss), QC_CODE_NOT_FOUND);
    T_EQ_I64(balance(ws), BAL);
}

/* An expired hold is released by the server and cannot be settled. */
static void test_hold_expiry(void)
{
    uint32_t ws = new_ws(BAL, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, 500, -1, &k) == QC_OK);
    qc_check_res rs;
    int64_t t0 = td_now_ms();
    T_REQUIRE(hold(k.secret, 300, 300, 0, SHORT_HOLD_MS, &rs) == QC_ALLOWED);
    int64_t bal = balance(ws);
    if (td_now_ms() - t0 < SHORT_HOLD_MS - 20)    /* else we were slow */
        T_EQ_I64(bal, BAL - 300);
    td_sleep_ms(EXPIRY_WAIT_MS);
    fx_ws_state w;
    T_REQUIRE(fx_ws_state_get(g_c, ws, &w) == QC_OK);
    T_EQ_I64(w.balance, BAL);
    T_EQ_I64(w.reserved, 0);
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(st.quota_remaining, 500);
    T_EQ_I64(st.spend_day, 0);
    qc_settle_res ss;
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 100, 0, NULL, &ss),
             QC_CODE_NOT_FOUND);
    T_EQ_I64(balance(ws), BAL);
}

/* A hold settles once; unknown holds are NOT_FOUND. */
static void test_settle_twice(void)
{
    uint32_t ws = new_ws(BAL, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, -1, -1, &k) == QC_OK);
    qc_check_res rs;
    T_REQUIRE(hold(k.secret, 100, 100, 0, 0, &rs) == QC_ALLOWED);
    qc_settle_res ss;
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 60, 0, NULL, &ss), QC_OK);
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 60, 0, NULL, &ss),
             QC_CODE_NOT_FOUND);
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 10, 0, NULL, &ss),
             QC_CODE_NOT_FOUND);
    T_EQ_I64(qc_void(g_c, rs.hold_id, &ss), QC_CODE_NOT_FOUND);
    T_EQ_I64(qc_settle(g_c, NO_SUCH_HOLD, 1, 0, NULL, &ss),
             QC_CODE_NOT_FOUND);
    T_EQ_I64(qc_void(g_c, NO_SUCH_HOLD, &ss), QC_CODE_NOT_FOUND);
    T_EQ_I64(balance(ws), BAL - 60);
}

/* A raw hold check with no amount_min field (default = amount). */
static int hold_no_min(const char *secret, int64_t amount)
{
    Quotad__Check ck = QUOTAD__CHECK__INIT;
    ck.secret = (char *)secret;
    FX_SET(ck, amount, amount);
    FX_SET(ck, hold, 1);
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CHECK;
    rq.check = &ck;
    Quotad__Reply *r = NULL;
    int rc = qc_call(g_c, &rq, &r);
    int d = -1;
    if (rc == QC_OK && r->result_case == QUOTAD__REPLY__RESULT_CHECK)
        d = (int)r->check->decision;
    qc_reply_free(r);
    return d;
}

/* amount_min: a generous estimate does not block a key that can pay the
 * minimum; the reservation is what wallet / quota / cap allow. */
static void test_amount_min(void)
{
    uint32_t ws = new_ws(100, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, -1, -1, &k) == QC_OK);
    T_EQ_I64(hold_no_min(k.secret, 500), QC_INSUFFICIENT_CREDITS);
    qc_check_res rs;
    T_EQ_I64(hold(k.secret, 500, 101, 0, 0, &rs), QC_INSUFFICIENT_CREDITS);
    T_EQ_I64(balance(ws), 100);
    T_EQ_I64(hold(k.secret, 500, 50, 0, 0, &rs), QC_ALLOWED);
    T_EQ_I64(rs.charged, 100);
    T_EQ_I64(rs.wallet_balance, 0);
    T_EQ_I64(hold(k.secret, 500, 50, 0, 0, &rs), QC_INSUFFICIENT_CREDITS);
    uint32_t ws2 = new_ws(1000, 40);
    T_REQUIRE(ws2 != 0);
    fx_key q;
    T_REQUIRE(new_key(ws2, 80, -1, &q) == QC_OK);
    T_EQ_I64(hold(q.secret, 500, 81, 0, 0, &rs), QC_QUOTA_EXCEEDED);
    T_EQ_I64(hold(q.secret, 500, 50, 0, 0, &rs), QC_ALLOWED);
    T_EQ_I64(rs.charged, 80);
    T_EQ_I64(rs.quota_remaining, 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, spend_cap_day, 60);
    fx_key cap;
    T_REQUIRE(fx_key_create(g_c, ws2, &l, &cap) == QC_OK);
    T_EQ_I64(hold(cap.secret, 500, 61, 0, 0, &rs), QC_SPEND_CAP_EXCEEDED);
    T_EQ_I64(hold(cap.secret, 500, 10, 0, 0, &rs), QC_ALLOWED);
    T_EQ_I64(rs.charged, 60);
    fx_key w;                      /* wallet room includes the overdraft */
    T_REQUIRE(new_key(ws2, -1, -1, &w) == QC_OK);
    T_EQ_I64(hold(w.secret, 5000, 10, 0, 0, &rs), QC_ALLOWED);
    T_EQ_I64(rs.charged, 1000 - 80 - 60 + 40);
    T_EQ_I64(rs.wallet_balance, -40);
    T_EQ_I64(hold(k.secret, 10, 10, 0, 0, &rs), QC_INSUFFICIENT_CREDITS);
}

/* TPM counts the tokens reported at settle, not only the estimate. */
static void test_tpm_counts_settle(void)
{
    fx_wait_minute_room(MINUTE_ROOM_MS);
    uint32_t ws = new_ws(BAL, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, -1, 1000, &k) == QC_OK);
    qc_check_res rs;
    T_REQUIRE(hold(k.secret, 10, 10, 100, 0, &rs) == QC_ALLOWED);
    T_EQ_I64(rs.tpm_remaining, 900);
    qc_settle_res ss;
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 10, 400, NULL, &ss), QC_OK);
    qc_check_req rq = {.secret = k.secret, .amount = 1, .tokens = 601};
    T_EQ_I64(qc_check(g_c, &rq, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_RATE_LIMITED);
    rq.tokens = 600;
    T_EQ_I64(qc_check(g_c, &rq, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(rs.tpm_remaining, 0);
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(st.usage_tokens, 1000);
}

/* Open holds of a deleted key still settle against the wallet. */
static void test_settle_after_delete(void)
{
    uint32_t ws = new_ws(BAL, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, -1, -1, &k) == QC_OK);
    qc_check_res rs;
    T_REQUIRE(hold(k.secret, 100, 100, 0, 0, &rs) == QC_ALLOWED);
    qc_check_res rs2;
    T_REQUIRE(hold(k.secret, 50, 50, 0, 0, &rs2) == QC_ALLOWED);
    Quotad__Reply *r = NULL;
    T_REQUIRE(qc_delete_key(g_c, k.id, &r) == QC_OK);
    qc_reply_free(r);
    qc_settle_res ss;
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 60, 0, NULL, &ss), QC_OK);
    T_EQ_I64(ss.charged, 60);
    T_EQ_I64(qc_void(g_c, rs2.hold_id, &ss), QC_OK);
    T_EQ_I64(balance(ws), BAL - 60);
}

/* Second daemon: settle may exceed the hold by at most the overrun, and
 * never past the overdraft or below zero quota. */
static void overrun_cases(qc_ctx *c)
{
    uint32_t ws = new_ws(100000, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, -1, -1, &k) == QC_OK);
    qc_check_res rs;
    qc_settle_res ss;
    T_REQUIRE(hold(k.secret, 5000, 5000, 0, 0, &rs) == QC_ALLOWED);
    T_EQ_I64(qc_settle(c, rs.hold_id, 5500, 0, NULL, &ss), QC_OK);
    T_EQ_I64(ss.charged, 5500);
    T_REQUIRE(hold(k.secret, 5000, 5000, 0, 0, &rs) == QC_ALLOWED);
    T_EQ_I64(qc_settle(c, rs.hold_id, 7000, 0, NULL, &ss), QC_OK);
    T_EQ_I64(ss.charged, 5000 + OVERRUN);
    T_EQ_I64(balance(ws), 100000 - 5500 - 6000);
    uint32_t tight = new_ws(5000, 300);      /* wallet bound */
    fx_key t;
    T_REQUIRE(new_key(tight, -1, -1, &t) == QC_OK);
    T_REQUIRE(hold(t.secret, 5000, 5000, 0, 0, &rs) == QC_ALLOWED);
    T_EQ_I64(qc_settle(c, rs.hold_id, 5800, 0, NULL, &ss), QC_OK);
    T_EQ_I64(ss.charged, 5300);
    T_EQ_I64(balance(tight), -300);
    fx_key q;                                 /* quota bound */
    T_REQUIRE(new_key(ws, 5200, -1, &q) == QC_OK);
    T_REQUIRE(hold(q.secret, 5000, 5000, 0, 0, &rs) == QC_ALLOWED);
    T_EQ_I64(qc_settle(c, rs.hold_id, 6000, 0, NULL, &ss), QC_OK);
    T_EQ_I64(ss.charged, 5200);
    T_EQ_I64(ss.quota_remaining, 0);
}

/* Runs overrun_cases on a daemon started with an overrun allowance. */
static void test_settle_overrun_cap(void)
{
    static const char *const args[] = {"--settle-overrun-micro", "1000",
                                       NULL};
    td_daemon d2;
    qc_ctx *c2 = NULL;
    T_REQUIRE(fx_start(&d2, args, &c2) == 0);
    qc_ctx *saved = g_c;
    g_c = c2;                 /* helpers use g_c */
    overrun_cases(c2);
    g_c = saved;
    T_EQ_I64(fx_finish(&d2, c2), 0);
}

/* Every hold record replays after kill -9: a hold settled for less,
 * one voided, one expired and one left open leave the same wallet,
 * reservation and quota, the three closed ones stay closed, and the open
 * one still settles. */
static void test_holds_survive_kill9(void)
{
    uint32_t ws = new_ws(BAL, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, 500, -1, &k) == QC_OK);
    qc_check_res settled, voided, expired, open;
    qc_settle_res ss;
    T_REQUIRE(hold(k.secret, 100, 100, 0, 0, &settled) == QC_ALLOWED);
    T_REQUIRE(qc_settle(g_c, settled.hold_id, 60, 0, NULL, &ss) == QC_OK);
    T_REQUIRE(hold(k.secret, 50, 50, 0, 0, &voided) == QC_ALLOWED);
    T_REQUIRE(qc_void(g_c, voided.hold_id, &ss) == QC_OK);
    T_REQUIRE(hold(k.secret, 70, 70, 0, SHORT_HOLD_MS, &expired) ==
              QC_ALLOWED);
    T_REQUIRE(hold(k.secret, 200, 200, 0, 0, &open) == QC_ALLOWED);
    td_sleep_ms(EXPIRY_WAIT_MS);
    fx_ws_state before;
    fx_key_state kbefore;
    T_REQUIRE(fx_ws_state_get(g_c, ws, &before) == QC_OK);
    T_REQUIRE(fx_key_state_get(g_c, k.id, &kbefore) == QC_OK);
    T_EQ_I64(before.balance, BAL - 60 - 200);
    T_EQ_I64(before.reserved, 200);
    qc_free(g_c);
    g_c = NULL;
    T_REQUIRE(td_kill9(&g_d) == 0);
    T_REQUIRE(td_restart(&g_d) == 0);
    g_c = td_connect(&g_d);
    T_REQUIRE(g_c != NULL);
    fx_ws_state after;
    fx_key_state kafter;
    T_REQUIRE(fx_ws_state_get(g_c, ws, &after) == QC_OK);
    T_REQUIRE(fx_key_state_get(g_c, k.id, &kafter) == QC_OK);
    T_EQ_I64(after.balance, before.balance);
    T_EQ_I64(after.reserved, before.reserved);
    T_EQ_I64(kafter.quota_remaining, kbefore.quota_remaining);
    T_EQ_I64(kafter.spend_day, kbefore.spend_day);
    T_EQ_I64(qc_settle(g_c, settled.hold_id, 1, 0, NULL, &ss),
             QC_CODE_NOT_FOUND);
    T_EQ_I64(qc_void(g_c, voided.hold_id, &ss), QC_CODE_NOT_FOUND);
    T_EQ_I64(qc_void(g_c, expired.hold_id, &ss), QC_CODE_NOT_FOUND);
    T_EQ_I64(qc_settle(g_c, open.hold_id, 150, 0, NULL, &ss), QC_OK);
    T_EQ_I64(ss.charged, 150);
    T_EQ_I64(balance(ws), BAL - 60 - 150);
}

/* The daemon must exit 0 with no sanitizer report. */
static void test_clean_shutdown(void)
{
    T_EQ_I64(fx_finish(&g_d, g_c), 0);
    g_c = NULL;
}

int main(void)
{
    if (fx_start(&g_d, NULL, &g_c) != 0) {
        printf("FAIL it_holds_start\n");
        return 1;
    }
    T_RUN(test_hold_reserves);
    T_RUN(test_settle_less);
    T_RUN(test_settle_more_default);
    T_RUN(test_void);
    T_RUN(test_hold_expiry);
    T_RUN(test_settle_twice);
    T_RUN(test_amount_min);
    T_RUN(test_tpm_counts_settle);
    T_RUN(test_settle_after_delete);
    T_RUN(test_settle_overrun_cap);
    T_RUN(test_holds_survive_kill9);
    T_RUN(test_clean_shutdown);
    return t_done();
}
