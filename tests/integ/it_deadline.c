/* it_deadline -- a check carries a deadline (Check.deadline_ms): quotad
 * refuses one it has not run by then (DEADLINE_EXCEEDED), with no effect,
 * so a client that gave up on a stalled server is not charged when the
 * server wakes; an idempotent retry of a check that ran is answered as
 * usual whatever the time; the client library sends deadlines in the
 * server's clock (offset from HELLO), shown here with the daemon's clock
 * moved an hour ahead (--test-hooks 1, debug_clock).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "t.h"

#define DL_BALANCE 1000
#define DL_AMOUNT 10
#define DL_AHEAD_MS 5000            /* a deadline well in the future */
#define DL_STALL_MS 600             /* the daemon stopped this long */
#define DL_SKEW_MS (3600 * 1000)    /* the daemon's clock moved ahead */
#define DL_REPLY_WAIT_MS 10000

static td_daemon g_d;
static qc_ctx *g_c;

static int64_t balance(uint32_t ws)
{
    int64_t b = INT64_MIN;
    (void)fx_balance(g_c, ws, &b);
    return b;
}

static int new_key(fx_key *k)
{
    uint32_t ws = 0;
    if (fx_workspace(g_c, DL_BALANCE, 0, 0, &ws) != QC_OK)
        return -1;
    return fx_key_create(g_c, ws, NULL, k) == QC_OK ? 0 : -1;
}

static int check_by(qc_ctx *c, const fx_key *k, const char *idem, bool hold,
                    int64_t deadline_ms, qc_check_res *rs)
{
    qc_check_req rq = {.secret = k->secret, .amount = DL_AMOUNT,
                       .idempotency_id = idem, .hold = hold,
                       .deadline_ms = deadline_ms};
    return qc_check(c, &rq, rs);
}

/* Past its deadline a check (debit or hold) is refused, nothing moves,
 * and the stat counts it; a future deadline, or none, runs as usual. */
static void test_late_check_refused_without_effect(void)
{
    fx_key k;
    T_REQUIRE(new_key(&k) == 0);
    int64_t n0 = fx_stat(g_c, "checks_past_deadline");
    qc_check_res rs;
    T_EQ_I64(check_by(g_c, &k, NULL, false, td_now_ms() - 1, &rs),
             QC_CODE_DEADLINE_EXCEEDED);
    T_CHECK(strstr(qc_errstr(g_c), "nothing applied") != NULL);
    T_EQ_I64(check_by(g_c, &k, "late-hold", true, td_now_ms() - 1, &rs),
             QC_CODE_DEADLINE_EXCEEDED);
    T_EQ_I64(balance(k.ws_id), DL_BALANCE);
    fx_ws_state st;
    T_REQUIRE(fx_ws_state_get(g_c, k.ws_id, &st) == QC_OK);
    T_EQ_I64(st.reserved, 0);
    T_EQ_I64(fx_stat(g_c, "checks_past_deadline") - n0, 2);
    T_EQ_I64(check_by(g_c, &k, NULL, false, td_now_ms() + DL_AHEAD_MS, &rs),
             QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(check_by(g_c, &k, NULL, false, 0, &rs), QC_OK);
    T_EQ_I64(balance(k.ws_id), DL_BALANCE - 2 * DL_AMOUNT);
    /* A refused check is not remembered: the same id may run later, with
     * a deadline still ahead, and is charged once. */
    T_EQ_I64(check_by(g_c, &k, "late-hold", true, td_now_ms() + DL_AHEAD_MS,
                      &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_CHECK(!rs.replayed && rs.hold_id != 0);
}

/* A check that ran is answered from the idempotency table on a retry
 * past its deadline: the client learns it ran, and it is charged once. */
static void test_retry_after_deadline_replays(void)
{
    fx_key k;
    T_REQUIRE(new_key(&k) == 0);
    int64_t deadline = td_now_ms() + DL_AHEAD_MS;
    qc_check_res first, again;
    T_EQ_I64(check_by(g_c, &k, "ran", false, deadline, &first), QC_OK);
    T_EQ_I64(first.decision, QC_ALLOWED);
    T_EQ_I64(check_by(g_c, &k, "ran", false, td_now_ms() - 1, &again), QC_OK);
    T_CHECK(again.replayed);
    T_EQ_I64(again.decision, QC_ALLOWED);
    T_EQ_I64(again.charged, first.charged);
    T_EQ_I64(balance(k.ws_id), DL_BALANCE - DL_AMOUNT);
}

/* The stall a deadline is for: the daemon stopped, the client's check
 * waits in its socket; woken after the deadline, quotad refuses it. */
static void test_stalled_daemon_refuses_stale_check(void)
{
    fx_key k;
    T_REQUIRE(new_key(&k) == 0);
    qc_check_req rq = {.secret = k.secret, .amount = DL_AMOUNT,
                       .idempotency_id = "stalled",
                       .deadline_ms = td_now_ms() + DL_STALL_MS / 2};
    T_REQUIRE(td_pause(&g_d) == 0);
    uint64_t id = 0, got = 0;
    int rc = qc_check_append(g_c, &rq, &id);
    if (rc == QC_OK)
        rc = qc_flush(g_c);
    td_sleep_ms(DL_STALL_MS);
    T_REQUIRE(td_resume(&g_d) == 0);
    qc_check_res rs;
    T_EQ_I64(rc, QC_OK);
    T_EQ_I64(qc_check_read(g_c, &got, &rs), QC_CODE_DEADLINE_EXCEEDED);
    T_EQ_I64(got, id);
    T_EQ_I64(balance(k.ws_id), DL_BALANCE);
}

/* The library converts deadlines to the server's clock: with the
 * daemon's clock an hour ahead, a deadline 5 s ahead in the client's
 * clock still runs and one just past is still refused. */
static void test_deadline_in_server_clock(void)
{
    fx_key k;
    T_REQUIRE(new_key(&k) == 0);
    T_REQUIRE(fx_advance_clock(g_c, DL_SKEW_MS) == QC_OK);
    qc_ctx *c = td_connect(&g_d);   /* its HELLO sees the moved clock */
    T_REQUIRE(c != NULL);
    qc_check_res rs;
    T_EQ_I64(check_by(c, &k, NULL, false, td_now_ms() + DL_AHEAD_MS, &rs),
             QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(check_by(c, &k, NULL, false, td_now_ms() - 1, &rs),
             QC_CODE_DEADLINE_EXCEEDED);
    /* The shift saturates: the latest deadline still runs, the earliest
     * is long past (not a negative, invalid one). */
    T_EQ_I64(check_by(c, &k, NULL, false, INT64_MAX, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(check_by(c, &k, NULL, false, 1, &rs),
             QC_CODE_DEADLINE_EXCEEDED);
    T_EQ_I64(balance(k.ws_id), DL_BALANCE - 2 * DL_AMOUNT);
    qc_free(c);
}

static void test_negative_deadline_invalid(void)
{
    fx_key k;
    T_REQUIRE(new_key(&k) == 0);
    qc_check_res rs;
    T_EQ_I64(check_by(g_c, &k, NULL, false, -5, &rs),
             QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(balance(k.ws_id), DL_BALANCE);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *args[] = {"--test-hooks", "1", NULL};
    if (fx_start(&g_d, args, &g_c) != 0) {
        printf("FAIL start\n");
        return 1;
    }
    T_RUN(test_late_check_refused_without_effect);
    T_RUN(test_retry_after_deadline_replays);
    T_RUN(test_stalled_daemon_refuses_stale_check);
    T_RUN(test_negative_deadline_invalid);
    T_RUN(test_deadline_in_server_clock);   /* last: moves the clock */
    T_EQ_I64(fx_finish(&g_d, g_c), 0);
    return t_done();
}
