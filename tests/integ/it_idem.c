/* it_idem -- idempotency against a real daemon: retried checks (sync,
 * pipelined, batched, other connection) replay the first answer and debit
 * once; different input is a conflict; ids are scoped per key; settle and
 * adjust_wallet idempotency.
 */
#include <stdio.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "t.h"

#define BAL 1000
#define RETRIES 5

static td_daemon g_d;
static qc_ctx *g_c;

/* A fresh workspace per test keeps the balances independent. */
static uint32_t new_ws(int64_t balance)
{
    uint32_t ws = 0;
    return fx_workspace(g_c, balance, 0, 0, &ws) == QC_OK ? ws : 0;
}

/* Wallet balance, INT64_MIN on failure (fails any comparison). */
static int64_t balance(uint32_t ws)
{
    int64_t b = INT64_MIN;
    (void)fx_balance(g_c, ws, &b);
    return b;
}

/* Fill an idempotent request. */
static qc_check_req idem_req(const char *secret, int64_t amount,
                             const char *id, bool hold)
{
    qc_check_req rq = {.secret = secret, .amount = amount,
                       .amount_min = amount, .idempotency_id = id,
                       .hold = hold};
    return rq;
}

/* The first answer and its replays must agree. */
static void same_answer(const qc_check_res *a, const qc_check_res *b)
{
    T_EQ_I64(a->decision, b->decision);
    T_EQ_I64(a->charged, b->charged);
    T_EQ_I64(a->hold_id, b->hold_id);
    T_EQ_I64(a->key_id, b->key_id);
    T_EQ_I64(a->wallet_balance, b->wallet_balance);
    T_EQ_I64(a->quota_remaining, b->quota_remaining);
}

/* Sync retries of a debit and of a hold. */
static void test_retry_sync(void)
{
    uint32_t ws = new_ws(BAL);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    for (int hold = 0; hold <= 1; hold++) {
        qc_check_req rq = idem_req(k.secret, 100, hold ? "h-1" : "d-1",
                                   hold);
        qc_check_res first, rs;
        T_REQUIRE(qc_check(g_c, &rq, &first) == QC_OK);
        T_EQ_I64(first.decision, QC_ALLOWED);
        T_CHECK(!first.replayed);
        T_CHECK(!hold || first.hold_id != 0);
        for (int i = 1; i < RETRIES; i++) {
            T_REQUIRE(qc_check(g_c, &rq, &rs) == QC_OK);
            T_CHECK(rs.replayed);
            same_answer(&first, &rs);
        }
    }
    T_EQ_I64(balance(ws), BAL - 200);
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(st.usage_requests, 2);
}

/* Pipelined retries (5 appends, then 5 reads) and one batched frame. */
static void test_retry_pipelined(void)
{
    uint32_t ws = new_ws(BAL);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    qc_check_req rq = idem_req(k.secret, 70, "p-1", true);
    for (int i = 0; i < RETRIES; i++)
        T_REQUIRE(qc_check_append(g_c, &rq, NULL) == QC_OK);
    qc_check_res rs[RETRIES];
    for (int i = 0; i < RETRIES; i++)
        T_REQUIRE(qc_check_read(g_c, NULL, &rs[i]) == QC_OK);
    T_CHECK(!rs[0].replayed);
    T_EQ_I64(rs[0].decision, QC_ALLOWED);
    for (int i = 1; i < RETRIES; i++) {
        T_CHECK(rs[i].replayed);
        same_answer(&rs[0], &rs[i]);
    }
    qc_check_req batch[RETRIES];
    qc_check_res out[RETRIES];
    int rcs[RETRIES];
    for (int i = 0; i < RETRIES; i++)
        batch[i] = idem_req(k.secret, 30, "b-1", false);
    T_REQUIRE(qc_check_batch(g_c, batch, out, rcs, RETRIES) == QC_OK);
    for (int i = 0; i < RETRIES; i++) {
        T_EQ_I64(rcs[i], QC_OK);
        T_EQ_I64(out[i].replayed, i > 0);
        same_answer(&out[0], &out[i]);
    }
    T_EQ_I64(balance(ws), BAL - 100);
}

/* A retry on another connection replays too. */
static void test_retry_other_connection(void)
{
    uint32_t ws = new_ws(BAL);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    qc_check_req rq = idem_req(k.secret, 10, "x-1", false);
    qc_check_res a, b;
    T_REQUIRE(qc_check(g_c, &rq, &a) == QC_OK);
    qc_ctx *c2 = td_connect(&g_d);
    T_REQUIRE(c2 != NULL);
    T_EQ_I64(qc_check(c2, &rq, &b), QC_OK);
    T_CHECK(b.replayed);
    same_answer(&a, &b);
    qc_free(c2);
    T_EQ_I64(balance(ws), BAL - 10);
}

/* Same id, different input: conflict, nothing moves. */
static void test_conflict(void)
{
    uint32_t ws = new_ws(BAL);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    qc_check_req rq = idem_req(k.secret, 100, "c-1", false);
    qc_check_res rs;
    T_REQUIRE(qc_check(g_c, &rq, &rs) == QC_OK);
    rq.amount = 101;
    rq.amount_min = 101;
    T_EQ_I64(qc_check(g_c, &rq, &rs), QC_CODE_IDEMPOTENCY_CONFLICT);
    rq.amount = 100;
    rq.amount_min = 100;
    rq.hold = true;
    T_EQ_I64(qc_check(g_c, &rq, &rs), QC_CODE_IDEMPOTENCY_CONFLICT);
    T_EQ_I64(balance(ws), BAL - 100);
    rq.hold = false;
    T_EQ_I64(qc_check(g_c, &rq, &rs), QC_OK);
    T_CHECK(rs.replayed);
}

/* Ids are scoped per key: two keys may use one id independently. */
static void test_scope_per_key(void)
{
    uint32_t ws = new_ws(BAL);
    T_REQUIRE(ws != 0);
    fx_key a, b;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &a) == QC_OK);
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &b) == QC_OK);
    qc_check_req ra = idem_req(a.secret, 100, "shared", false);
    qc_check_req rb = idem_req(b.secret, 50, "shared", false);
    qc_check_res rs;
    T_REQUIRE(qc_check(g_c, &ra, &rs) == QC_OK);
    T_CHECK(!rs.replayed);
    T_EQ_I64(rs.key_id, a.id);
    T_REQUIRE(qc_check(g_c, &rb, &rs) == QC_OK);
    T_CHECK(!rs.replayed);
    T_EQ_I64(rs.key_id, b.id);
    T_EQ_I64(rs.charged, 50);
    T_EQ_I64(balance(ws), BAL - 150);
    uint32_t ws2 = new_ws(BAL);
    fx_key c;
    T_REQUIRE(fx_key_create(g_c, ws2, NULL, &c) == QC_OK);
    qc_check_req rc = idem_req(c.secret, 100, "shared", false);
    T_REQUIRE(qc_check(g_c, &rc, &rs) == QC_OK);
    T_CHECK(!rs.replayed);
    T_EQ_I64(balance(ws2), BAL - 100);
}

/* Settle retried with the same id replays; different amount conflicts. */
static void test_settle_idem(void)
{
    uint32_t ws = new_ws(BAL);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    qc_check_req rq = idem_req(k.secret, 100, NULL, true);
    qc_check_res rs;
    T_REQUIRE(qc_check(g_c, &rq, &rs) == QC_OK);
    T_REQUIRE(rs.decision == QC_ALLOWED && rs.hold_id != 0);
    qc_settle_res first, again;
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 60, 5, "s-1", &first), QC_OK);
    T_CHECK(!first.replayed);
    T_EQ_I64(first.charged, 60);
    T_EQ_I64(first.refunded, 40);
    for (int i = 1; i < RETRIES; i++) {
        T_EQ_I64(qc_settle(g_c, rs.hold_id, 60, 5, "s-1", &again), QC_OK);
        T_CHECK(again.replayed);
        T_EQ_I64(again.charged, 60);
        T_EQ_I64(again.refunded, 40);
        T_EQ_I64(again.wallet_balance, first.wallet_balance);
    }
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 70, 5, "s-1", &again),
             QC_CODE_IDEMPOTENCY_CONFLICT);
    T_EQ_I64(qc_settle(g_c, rs.hold_id, 60, 5, NULL, &again),
             QC_CODE_NOT_FOUND);
    T_EQ_I64(balance(ws), BAL - 60);
}

/* adjust_wallet with an id moves money once; scope is the workspace. */
static void test_adjust_idem(void)
{
    uint32_t ws = new_ws(BAL), ws2 = new_ws(BAL);
    T_REQUIRE(ws != 0 && ws2 != 0);
    for (int i = 0; i < RETRIES; i++) {
        Quotad__Reply *r = NULL;
        T_EQ_I64(qc_adjust_wallet(g_c, ws, 500, "top", "top-1", &r), QC_OK);
        T_CHECK(r != NULL &&
                r->result_case == QUOTAD__REPLY__RESULT_WORKSPACE &&
                r->workspace->balance == BAL + 500);
        qc_reply_free(r);
    }
    T_EQ_I64(balance(ws), BAL + 500);
    Quotad__Reply *r = NULL;
    T_EQ_I64(qc_adjust_wallet(g_c, ws, 600, "top", "top-1", &r),
             QC_CODE_IDEMPOTENCY_CONFLICT);
    qc_reply_free(r);
    r = NULL;
    T_EQ_I64(qc_adjust_wallet(g_c, ws2, 600, "top", "top-1", &r), QC_OK);
    qc_reply_free(r);
    T_EQ_I64(balance(ws), BAL + 500);
    T_EQ_I64(balance(ws2), BAL + 600);
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
        printf("FAIL it_idem_start\n");
        return 1;
    }
    T_RUN(test_retry_sync);
    T_RUN(test_retry_pipelined);
    T_RUN(test_retry_other_connection);
    T_RUN(test_conflict);
    T_RUN(test_scope_per_key);
    T_RUN(test_settle_idem);
    T_RUN(test_adjust_idem);
    T_RUN(test_clean_shutdown);
    return t_done();
}
