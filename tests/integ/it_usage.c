/* it_usage -- usage per UTC day equals exactly what the test sent, per
 * decision code, by key and by workspace, through the client API and
 * `quotadctl usage --json`, and again after a clean restart and after
 * kill -9 (issue 5, "must show").
 *
 * One workspace W (wallet 50 units) and its keys:
 *   K1  models {m-ok}, ips {10.1.0.0/16}, spend cap 100 units/day
 *   K2  rpm 5, quota 10 units
 *   KA  an admin key
 * The mix: allowed debits with tokens, a hold settled lower with more
 * tokens, a hold voided, and every deny code: invalid (unknown key of W),
 * revoked, disabled, expired, admin, ip, model, rate, quota, spend cap,
 * credits. Each call updates the expected numbers of its key and of W
 * from what the test sent and what the server charged.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/toolrun.h"
#include "t.h"

#define US_DECISIONS 12             /* quotad.Decision 0..11 */
#define US_DAY_MS INT64_C(86400000)
#define US_DAY_ROOM_MS INT64_C(120000)  /* whole test inside one UTC day */
#define US_DAY_SLACK_MS 500
#define US_MINUTE_ROOM_MS 20000
#define US_BALANCE (50 * FX_UNIT)
#define US_K1_CAP (100 * FX_UNIT)
#define US_K2_QUOTA (10 * FX_UNIT)
#define US_K2_RPM 5
#define US_K2_AMOUNT (FX_UNIT / 10)
#define US_HOLD_TIMEOUT_MS 600000u
#define US_EXPIRED_AT_MS 1          /* long past: the key is expired */
#define US_FORGE_SEED 0x5eedu
#define US_CLI_DEFAULT "build/asan/quotadctl"
#define US_CLI_OUT_MAX (256 * 1024)
#define US_CLI_WAIT_MS 60000
#define US_TEXT 64
#define US_PATH_BYTES 512

/* What usage must report for one key or the workspace, for today. */
typedef struct us_expect {
    int64_t requests, allowed, tokens, spend;
    int64_t denied[US_DECISIONS];
} us_expect;

static td_daemon g_d;
static qc_ctx *g_c;
static uint32_t g_ws;
static fx_key g_k1, g_k2, g_ka;
static us_expect g_e1, g_e2, g_ea, g_ew;
static int64_t g_today;

static const char *const us_ok_model = "m-ok";
static const char *const us_ok_ip = "10.1.2.3";

/* ------------------------------------------------------------------ */
/* sending and expecting                                               */

static void us_count(us_expect *e, int decision, int64_t tokens,
                     int64_t charged)
{
    if (e == NULL)
        return;
    e->requests++;
    if (decision == QC_ALLOWED) {
        e->allowed++;
        e->tokens += tokens;
        e->spend += charged;
    } else if (decision > 0 && decision < US_DECISIONS) {
        e->denied[decision]++;
    }
}

/* One check that must end in `want`; counts it for ek (may be NULL) and
 * the workspace. Returns the hold id (0 if none). */
static uint64_t us_check(const qc_check_req *rq, int want, us_expect *ek)
{
    qc_check_res rs;
    int rc = qc_check(g_c, rq, &rs);
    T_EQ_I64(rc, QC_OK);
    if (rc != QC_OK)
        return 0;
    if ((int)rs.decision != want)
        fprintf(stderr, "  decision %s, want %s\n",
                qc_decision_str((int)rs.decision), qc_decision_str(want));
    T_EQ_I64(rs.decision, want);
    us_count(ek, (int)rs.decision, rq->tokens, rs.charged);
    us_count(&g_ew, (int)rs.decision, rq->tokens, rs.charged);
    return rs.hold_id;
}

/* A K1 request that passes the model and IP allowlists. */
static qc_check_req us_k1_req(int64_t amount, int64_t tokens)
{
    qc_check_req rq = {.secret = g_k1.secret, .model = us_ok_model,
                       .client_ip = us_ok_ip, .amount = amount,
                       .tokens = tokens};
    return rq;
}

/* Settle (or void) a hold of hold_amount/hold_tokens: spend moves by
 * charged - reserved, tokens by what exceeds the hold's count. */
static void us_settle(uint64_t hold, bool is_void, int64_t amount,
                      int64_t tokens, int64_t hold_amount,
                      int64_t hold_tokens, us_expect *ek)
{
    qc_settle_res rs;
    int rc = is_void ? qc_void(g_c, hold, &rs)
                     : qc_settle(g_c, hold, amount, tokens, NULL, &rs);
    T_EQ_I64(rc, QC_OK);
    if (rc != QC_OK)
        return;
    int64_t more = !is_void && tokens > hold_tokens ? tokens - hold_tokens
                                                    : 0;
    ek->spend += rs.charged - hold_amount;
    g_ew.spend += rs.charged - hold_amount;
    ek->tokens += more;
    g_ew.tokens += more;
}

static int us_key_op(Quotad__Request__OpCase op, uint64_t id)
{
    Quotad__Reply *r = NULL;
    int rc;
    switch (op) {
    case QUOTAD__REQUEST__OP_DISABLE_KEY:
        rc = qc_disable_key(g_c, id, &r);
        break;
    case QUOTAD__REQUEST__OP_ENABLE_KEY:
        rc = qc_enable_key(g_c, id, &r);
        break;
    default:
        rc = qc_revoke_key(g_c, id, &r);
        break;
    }
    qc_reply_free(r);
    return rc;
}

static int us_set_expiry(uint64_t id, int64_t at_ms)
{
    Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(lim, expires_at_ms, at_ms);
    return fx_update_limits(g_c, id, &lim);
}

/* ------------------------------------------------------------------ */
/* comparing                                                           */

static int64_t us_denied(const Quotad__UsageDay *d, int decision)
{
    return (size_t)decision < d->n_denied ? d->denied[decision] : 0;
}

static void us_same_day(const Quotad__UsageDay *d, const us_expect *e)
{
    T_EQ_I64(d->day, g_today);
    T_EQ_I64(d->requests, e->requests);
    T_EQ_I64(d->allowed, e->allowed);
    T_EQ_I64(d->tokens, e->tokens);
    T_EQ_I64(d->spend, e->spend);
    for (int i = 1; i < US_DECISIONS; i++) {
        if (us_denied(d, i) != e->denied[i])
            fprintf(stderr, "  denied %s: %lld, want %lld\n",
                    qc_decision_str(i), (long long)us_denied(d, i),
                    (long long)e->denied[i]);
        T_EQ_I64(us_denied(d, i), e->denied[i]);
    }
    int64_t sum = d->allowed;
    for (int i = 1; i < US_DECISIONS; i++)
        sum += us_denied(d, i);
    T_EQ_I64(sum, d->requests);
}

/* Query [from, to] for key_id (0: the workspace); expect `days` days
 * (0 or 1: everything happened today). */
static void us_expect_query(uint64_t key_id, int64_t from, int64_t to,
                            const us_expect *e, size_t days)
{
    Quotad__Reply *r = NULL;
    int rc = qc_usage(g_c, key_id, key_id ? 0 : g_ws, from, to, &r);
    T_EQ_I64(rc, QC_OK);
    if (rc == QC_OK) {
        const Quotad__UsageReply *u = r->usage;
        T_EQ_I64(u->workspace_id, g_ws);
        T_EQ_I64(u->key_id, key_id);
        T_EQ_I64(u->n_days, days);
        if (u->n_days == 1 && days == 1)
            us_same_day(u->days[0], e);
    }
    qc_reply_free(r);
}

/* Every key and the workspace, for today, an open range, a range around
 * today, and a range before it (empty). */
static void us_expect_all(void)
{
    const struct {
        uint64_t id;
        const us_expect *e;
    } who[] = {{g_k1.id, &g_e1}, {g_k2.id, &g_e2}, {g_ka.id, &g_ea},
               {0, &g_ew}};
    for (size_t i = 0; i < sizeof who / sizeof *who; i++) {
        us_expect_query(who[i].id, g_today, g_today, who[i].e, 1);
        us_expect_query(who[i].id, 0, 0, who[i].e, 1);
        us_expect_query(who[i].id, g_today - 3, g_today + 1, who[i].e, 1);
        us_expect_query(who[i].id, g_today - 10, g_today - 1, who[i].e, 0);
    }
}

/* The workspace totals are the sum of its keys plus unknown keys. */
static void test_ws_is_sum_of_keys(void)
{
    us_expect s = g_e1;
    const us_expect *parts[] = {&g_e2, &g_ea};
    for (size_t p = 0; p < sizeof parts / sizeof *parts; p++) {
        s.requests += parts[p]->requests;
        s.allowed += parts[p]->allowed;
        s.tokens += parts[p]->tokens;
        s.spend += parts[p]->spend;
        for (int i = 0; i < US_DECISIONS; i++)
            s.denied[i] += parts[p]->denied[i];
    }
    T_EQ_I64(g_ew.requests, s.requests + g_ew.denied[QC_INVALID_API_KEY]);
    T_EQ_I64(g_ew.allowed, s.allowed);
    T_EQ_I64(g_ew.tokens, s.tokens);
    T_EQ_I64(g_ew.spend, s.spend);
}

/* ------------------------------------------------------------------ */
/* the mix                                                             */

/* K1: allowed debits, a settled hold, a voided hold. */
static void us_mix_k1_allowed(void)
{
    static const int64_t amounts[] = {FX_UNIT, 2 * FX_UNIT, FX_UNIT / 2};
    static const int64_t tokens[] = {10, 20, 30};
    for (size_t i = 0; i < sizeof amounts / sizeof *amounts; i++) {
        qc_check_req rq = us_k1_req(amounts[i], tokens[i]);
        us_check(&rq, QC_ALLOWED, &g_e1);
    }
    qc_check_req h1 = us_k1_req(3 * FX_UNIT, 40);
    h1.hold = true;
    h1.hold_timeout_ms = US_HOLD_TIMEOUT_MS;
    uint64_t hold = us_check(&h1, QC_ALLOWED, &g_e1);
    us_settle(hold, false, FX_UNIT, 50, h1.amount, h1.tokens, &g_e1);
    qc_check_req h2 = us_k1_req(2 * FX_UNIT, 5);
    h2.hold = true;
    h2.hold_timeout_ms = US_HOLD_TIMEOUT_MS;
    hold = us_check(&h2, QC_ALLOWED, &g_e1);
    us_settle(hold, true, 0, 0, h2.amount, h2.tokens, &g_e1);
}

/* K1: model, ip, spend cap, credits, disabled, expired. */
static void us_mix_k1_denied(void)
{
    qc_check_req rq = us_k1_req(FX_UNIT, 1);
    rq.model = "m-other";
    us_check(&rq, QC_MODEL_NOT_ALLOWED, &g_e1);
    us_check(&rq, QC_MODEL_NOT_ALLOWED, &g_e1);
    rq = us_k1_req(FX_UNIT, 1);
    rq.client_ip = "192.0.2.1";
    us_check(&rq, QC_IP_NOT_ALLOWED, &g_e1);
    rq = us_k1_req(US_K1_CAP + FX_UNIT, 1);
    us_check(&rq, QC_SPEND_CAP_EXCEEDED, &g_e1);
    rq = us_k1_req(US_BALANCE + FX_UNIT, 1);         /* cap ok, wallet not */
    us_check(&rq, QC_INSUFFICIENT_CREDITS, &g_e1);
    us_check(&rq, QC_INSUFFICIENT_CREDITS, &g_e1);
    rq = us_k1_req(FX_UNIT, 1);
    T_EQ_I64(us_key_op(QUOTAD__REQUEST__OP_DISABLE_KEY, g_k1.id), QC_OK);
    us_check(&rq, QC_KEY_DISABLED, &g_e1);
    us_check(&rq, QC_KEY_DISABLED, &g_e1);
    T_EQ_I64(us_key_op(QUOTAD__REQUEST__OP_ENABLE_KEY, g_k1.id), QC_OK);
    T_EQ_I64(us_set_expiry(g_k1.id, US_EXPIRED_AT_MS), QC_OK);
    us_check(&rq, QC_KEY_EXPIRED, &g_e1);
    T_EQ_I64(us_set_expiry(g_k1.id, -1), QC_OK);
}

/* K2: quota and rate inside one minute, then revoked. */
static void us_mix_k2(void)
{
    qc_check_req rq = {.secret = g_k2.secret, .amount = US_K2_AMOUNT,
                       .tokens = 1};
    fx_wait_minute_room(US_MINUTE_ROOM_MS);
    us_check(&rq, QC_ALLOWED, &g_e2);
    us_check(&rq, QC_ALLOWED, &g_e2);
    qc_check_req big = rq;
    big.amount = 2 * US_K2_QUOTA;
    us_check(&big, QC_QUOTA_EXCEEDED, &g_e2);
    for (int i = 2; i < US_K2_RPM; i++)
        us_check(&rq, QC_ALLOWED, &g_e2);
    us_check(&rq, QC_RATE_LIMITED, &g_e2);
    us_check(&rq, QC_RATE_LIMITED, &g_e2);
    T_EQ_I64(us_key_op(QUOTAD__REQUEST__OP_REVOKE_KEY, g_k2.id), QC_OK);
    us_check(&rq, QC_REVOKED_API_KEY, &g_e2);
}

/* Unknown key of W (counted for W only) and the admin key. */
static void us_mix_other(void)
{
    char forged[FX_SECRET_BYTES];
    for (uint64_t i = 0; i < 3; i++) {
        fx_forge_secret(g_ws, US_FORGE_SEED + i, forged, sizeof forged);
        qc_check_req rq = {.secret = forged, .amount = FX_UNIT};
        us_check(&rq, QC_INVALID_API_KEY, NULL);
    }
    qc_check_req ra = {.secret = g_ka.secret, .amount = FX_UNIT};
    us_check(&ra, QC_ADMIN_KEY_NOT_ALLOWED, &g_ea);
    us_check(&ra, QC_ADMIN_KEY_NOT_ALLOWED, &g_ea);
}

static void test_mix(void)
{
    us_mix_k1_allowed();
    us_mix_k1_denied();
    us_mix_k2();
    us_mix_other();
    for (int i = 1; i < US_DECISIONS; i++)
        T_CHECK(g_ew.denied[i] > 0);   /* every deny code was produced */
    us_expect_all();
}

/* ------------------------------------------------------------------ */
/* restarts                                                            */

static int us_reconnect(void)
{
    qc_free(g_c);
    g_c = td_connect(&g_d);
    return g_c != NULL ? 0 : -1;
}

static void test_clean_restart(void)
{
    qc_free(g_c);
    g_c = NULL;
    T_EQ_I64(td_stop(&g_d), 0);
    T_REQUIRE(td_restart(&g_d) == 0);
    T_REQUIRE(us_reconnect() == 0);
    us_expect_all();
}

/* A few more (acknowledged, so durable) then kill -9 at once. */
static void test_kill9_restart(void)
{
    qc_check_req ok = us_k1_req(FX_UNIT, 7);
    us_check(&ok, QC_ALLOWED, &g_e1);
    qc_check_req bad = us_k1_req(FX_UNIT, 7);
    bad.model = "m-other";
    us_check(&bad, QC_MODEL_NOT_ALLOWED, &g_e1);
    char forged[FX_SECRET_BYTES];
    fx_forge_secret(g_ws, US_FORGE_SEED * 2, forged, sizeof forged);
    qc_check_req unk = {.secret = forged, .amount = 1};
    us_check(&unk, QC_INVALID_API_KEY, NULL);
    T_EQ_I64(td_kill9(&g_d), 0);
    T_REQUIRE(td_restart(&g_d) == 0);
    T_REQUIRE(us_reconnect() == 0);
    us_expect_all();
    test_ws_is_sum_of_keys();
}

/* ------------------------------------------------------------------ */
/* CLI                                                                 */

static char g_out[US_CLI_OUT_MAX + 1], g_err[US_CLI_OUT_MAX + 1];

/* quotadctl --port P args...; stdout/stderr into g_out/g_err. */
static int us_cli(const char *const *args)
{
    char port[US_TEXT], out[US_PATH_BYTES], err[US_PATH_BYTES];
    snprintf(port, sizeof port, "%u", (unsigned)g_d.port);
    snprintf(out, sizeof out, "%s/cli.out", g_d.dir);
    snprintf(err, sizeof err, "%s/cli.err", g_d.dir);
    int code = tr_run(tr_bin("QUOTADCTL_BIN", US_CLI_DEFAULT),
                      (const char *const[]){"--port", port, NULL}, args, NULL,
                      out, err, US_CLI_WAIT_MS);
    tr_read(out, g_out, sizeof g_out);
    tr_read(err, g_err, sizeof g_err);
    if (code != 0)
        fprintf(stderr, "  quotadctl exit %d\n  %s\n  %s\n", code, g_out,
                g_err);
    return code;
}

#define US_CLI(...) us_cli((const char *const[]){__VA_ARGS__, NULL})

/* Integer after "name": in text (first occurrence after from). */
static int64_t us_json_num(const char *from, const char *name)
{
    char pat[US_TEXT];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = from ? strstr(from, pat) : NULL;
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* The JSON day object must carry exactly e's numbers; "denied" only the
 * non-zero codes, by name. */
static void us_json_same(const char *json, const us_expect *e)
{
    T_EQ_I64(us_json_num(json, "requests"), e->requests);
    T_EQ_I64(us_json_num(json, "allowed"), e->allowed);
    T_EQ_I64(us_json_num(json, "tokens"), e->tokens);
    T_EQ_I64(us_json_num(json, "spend"), e->spend);
    T_EQ_I64(us_json_num(json, "day_index"), g_today);
    const char *denied = strstr(json, "\"denied\":{");
    T_REQUIRE(denied != NULL);
    const char *end = strchr(denied, '}');
    T_REQUIRE(end != NULL);
    for (int i = 1; i < US_DECISIONS; i++) {
        char pat[US_TEXT];
        snprintf(pat, sizeof pat, "\"%s\":", qc_decision_str(i));
        const char *p = strstr(denied, pat);
        int64_t got = p != NULL && p < end ? us_json_num(p, qc_decision_str(i))
                                           : 0;
        T_EQ_I64(got, e->denied[i]);
    }
}

/* YYYY-MM-DD of a day index (the CLI's --from/--to input). */
static void us_date(int64_t day, char out[US_TEXT])
{
    time_t secs = (time_t)(day * (US_DAY_MS / 1000));
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL ||
        strftime(out, US_TEXT, "%Y-%m-%d", &tm) == 0)
        snprintf(out, US_TEXT, "?");
}

static void test_cli_usage(void)
{
    char k1[US_TEXT], ws[US_TEXT], today[US_TEXT], before[US_TEXT];
    snprintf(k1, sizeof k1, "%llu", (unsigned long long)g_k1.id);
    snprintf(ws, sizeof ws, "%u", (unsigned)g_ws);
    us_date(g_today, today);
    us_date(g_today - 1, before);
    T_REQUIRE(US_CLI("--json", "usage", "--key", k1) == 0);
    us_json_same(g_out, &g_e1);
    T_REQUIRE(US_CLI("usage", "--ws", ws, "--from", today, "--to", today,
                     "--json") == 0);
    us_json_same(g_out, &g_ew);
    T_CHECK(strstr(g_out, today) != NULL);
    T_REQUIRE(US_CLI("--json", "usage", "--ws", ws, "--to", before) == 0);
    T_CHECK(strstr(g_out, "\"days\":[]") != NULL);
    T_REQUIRE(US_CLI("usage", "--ws", ws) == 0);       /* human table */
    T_CHECK(strstr(g_out, today) != NULL);
    T_CHECK(strstr(g_out, "invalid_api_key=") != NULL);
    T_CHECK(strstr(g_out, "insufficient_credits=2") != NULL);
    T_EQ_I64(US_CLI("usage", "--ws", ws, "--key", k1), 2);
    T_EQ_I64(US_CLI("usage", "--ws", ws, "--from", "2024-02-30"), 2);
}

/* ------------------------------------------------------------------ */
/* setup                                                               */

/* Sleep past UTC midnight if the day would end during the test. */
static void us_wait_day_room(void)
{
    int64_t left = US_DAY_MS - td_now_ms() % US_DAY_MS;
    if (left < US_DAY_ROOM_MS)
        td_sleep_ms(left + US_DAY_SLACK_MS);
    g_today = td_now_ms() / US_DAY_MS;
}

static int us_keys(void)
{
    static char *models[] = {(char *)"m-ok"};
    static char *ips[] = {(char *)"10.1.0.0/16"};
    Quotad__KeyLimits l1 = QUOTAD__KEY_LIMITS__INIT;
    l1.n_models = 1;
    l1.models = models;
    l1.n_ips = 1;
    l1.ips = ips;
    FX_SET(l1, spend_cap_day, US_K1_CAP);
    Quotad__KeyLimits l2 = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l2, rpm, US_K2_RPM);
    FX_SET(l2, quota_total, US_K2_QUOTA);
    if (fx_workspace(g_c, US_BALANCE, 0, 0, &g_ws) != 0 ||
        fx_key_create(g_c, g_ws, &l1, &g_k1) != 0 ||
        fx_key_create(g_c, g_ws, &l2, &g_k2) != 0)
        return -1;
    return fx_key_create_ex(g_c, g_ws, NULL, QUOTAD__KEY_KIND__ADMIN,
                            "admin", NULL, &g_ka);
}

int main(void)
{
    us_wait_day_room();
    if (fx_start(&g_d, NULL, &g_c) != 0 || us_keys() != 0) {
        printf("FAIL setup\n");
        if (g_c != NULL)
            (void)fx_finish(&g_d, g_c);
        return 1;
    }
    T_RUN(test_mix);
    T_RUN(test_ws_is_sum_of_keys);
    T_RUN(test_cli_usage);
    T_RUN(test_clean_restart);
    T_RUN(test_kill9_restart);
    T_RUN(test_cli_usage);
    int st = fx_finish(&g_d, g_c);
    if (st != 0)
        printf("FAIL daemon exit %d\n", st);
    return t_done() == 0 && st == 0 ? 0 : 1;
}
