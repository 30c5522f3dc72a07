/* it_checks -- every deny code of check-and-debit against a real daemon:
 * the documented order (one key failing many checks, reasons removed one
 * at a time), one focused test per code, all-or-nothing on deny, and the
 * reply fields.
 */
#include <stdio.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "t.h"

#define BAL_BIG (1000 * FX_UNIT)
#define EXPIRY_MS 300
#define EXPIRY_WAIT_MS 450
#define EXPIRY_SLACK_MS 20
#define MINUTE_MS 60000
#define MINUTE_ROOM_MS 15000
#define RPM_SMALL 3
#define TPM_SMALL 100
#define FOREIGN_WS UINT32_C(0x7ffffff0)
#define DENY_IP "203.0.113.7"

static td_daemon g_d;
static qc_ctx *g_c;

/* A fresh workspace with balance/overdraft; 0 on failure. */
static uint32_t new_ws(int64_t balance, int64_t overdraft)
{
    uint32_t ws = 0;
    if (fx_workspace(g_c, balance, overdraft, 0, &ws) != QC_OK)
        return 0;
    return ws;
}

/* A full check; returns the decision or -1000 - rc. */
static int decide_full(const char *secret, const char *model, const char *ip,
                       int64_t amount, int64_t tokens, qc_check_res *rs)
{
    qc_check_req rq = {.secret = secret, .model = model, .client_ip = ip,
                       .amount = amount, .tokens = tokens};
    qc_check_res tmp;
    if (rs == NULL)
        rs = &tmp;
    memset(rs, 0, sizeof *rs);
    int rc = qc_check(g_c, &rq, rs);
    if (rc != QC_OK) {
        fprintf(stderr, "  check rc %d: %s\n", rc, qc_errstr(g_c));
        return -1000 - rc;
    }
    return (int)rs->decision;
}

/* For key ops whose reply body does not matter. */
static int simple_rc(int (*fn)(qc_ctx *, uint64_t, Quotad__Reply **),
                     uint64_t id)
{
    Quotad__Reply *r = NULL;
    int rc = fn(g_c, id, &r);
    qc_reply_free(r);
    return rc;
}

/* Step 1 of the order chain: a key with one allowed request, then every
 * limit that will deny the next request of chain_amount. */
static int chain_setup(uint32_t ws, fx_key *k, int64_t amount)
{
    if (fx_key_create(g_c, ws, NULL, k) != QC_OK)
        return -1;
    if (fx_decide(g_c, k->secret, 10) != QC_ALLOWED)
        return -1;
    char *models[] = {"m-allowed"};
    char *ips[] = {"10.0.0.0/8"};
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, rpm, 1);                      /* the request above used it */
    FX_SET(l, quota_total, amount / 2);
    FX_SET(l, quota_remaining, amount / 2);
    FX_SET(l, spend_cap_day, amount / 2);
    FX_SET(l, expires_at_ms, td_now_ms() + EXPIRY_MS);
    l.n_models = 1;
    l.models = models;
    l.n_ips = 1;
    l.ips = ips;
    if (fx_update_limits(g_c, k->id, &l) != QC_OK)
        return -1;
    return simple_rc(qc_disable_key, k->id);
}

/* Clear one limit field by name, for the chain. */
static int chain_clear(uint64_t key_id, int what)
{
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    switch (what) {
    case QC_KEY_EXPIRED: FX_SET(l, expires_at_ms, -1); break;
    case QC_IP_NOT_ALLOWED: FX_SET(l, clear_ips, 1); break;
    case QC_MODEL_NOT_ALLOWED: FX_SET(l, clear_models, 1); break;
    case QC_RATE_LIMITED: FX_SET(l, rpm, -1); break;
    case QC_QUOTA_EXCEEDED: FX_SET(l, quota_total, -1); break;
    case QC_SPEND_CAP_EXCEEDED: FX_SET(l, spend_cap_day, -1); break;
    default: return -1;
    }
    return fx_update_limits(g_c, key_id, &l);
}

/* A key failing every check; remove the reasons one at a time and see the
 * next reason in the documented order each time. */
static void test_order_chain(void)
{
    const int64_t amount = 2000;
    fx_wait_minute_room(MINUTE_ROOM_MS);
    uint32_t ws = new_ws(amount - 1000, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(chain_setup(ws, &k, amount) == 0);
    char fresh[FX_SECRET_BYTES];
    T_REQUIRE(fx_rotate(g_c, k.id, 0, fresh, sizeof fresh) == QC_OK);
    td_sleep_ms(EXPIRY_WAIT_MS);
    qc_check_res rs;
    T_EQ_I64(decide_full(k.secret, "m-other", DENY_IP, amount, 1, &rs),
             QC_REVOKED_API_KEY);
    T_EQ_I64(decide_full(fresh, "m-other", DENY_IP, amount, 1, &rs),
             QC_KEY_DISABLED);
    T_REQUIRE(simple_rc(qc_enable_key, k.id) == QC_OK);
    static const int order[] = {
        QC_KEY_EXPIRED, QC_IP_NOT_ALLOWED, QC_MODEL_NOT_ALLOWED,
        QC_RATE_LIMITED, QC_QUOTA_EXCEEDED, QC_SPEND_CAP_EXCEEDED};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        int got = decide_full(fresh, "m-other", DENY_IP, amount, 1, &rs);
        if (got != order[i])
            fprintf(stderr, "  chain step %zu: want %s got %d\n", i,
                    qc_decision_str(order[i]), got);
        T_EQ_I64(got, order[i]);
        T_REQUIRE(chain_clear(k.id, order[i]) == QC_OK);
    }
    T_EQ_I64(decide_full(fresh, "m-other", DENY_IP, amount, 1, &rs),
             QC_INSUFFICIENT_CREDITS);
    Quotad__Reply *r = NULL;
    T_EQ_I64(qc_adjust_wallet(g_c, ws, amount, "top up", NULL, &r), QC_OK);
    qc_reply_free(r);
    T_EQ_I64(decide_full(fresh, "m-other", DENY_IP, amount, 1, &rs),
             QC_ALLOWED);
    T_EQ_I64(rs.key_id, k.id);
}

/* An admin key fails every later check too: admin must be reported, and
 * disabled/expired must beat it. */
static void test_order_admin(void)
{
    uint32_t ws = new_ws(0, 0);
    T_REQUIRE(ws != 0);
    char *ips[] = {"10.0.0.0/8"};
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, 1);
    int64_t expires = td_now_ms() + EXPIRY_MS;
    FX_SET(l, expires_at_ms, expires);
    l.n_ips = 1;
    l.ips = ips;
    fx_key k;
    T_REQUIRE(fx_key_create_ex(g_c, ws, &l, QUOTAD__KEY_KIND__ADMIN, "adm",
                               NULL, &k) == QC_OK);
    int got = decide_full(k.secret, "x", DENY_IP, 5, 0, NULL);
    if (td_now_ms() < expires - EXPIRY_SLACK_MS)  /* else we were slow */
        T_EQ_I64(got, QC_ADMIN_KEY_NOT_ALLOWED);
    T_REQUIRE(simple_rc(qc_disable_key, k.id) == QC_OK);
    td_sleep_ms(EXPIRY_WAIT_MS);
    T_EQ_I64(decide_full(k.secret, "x", DENY_IP, 5, 0, NULL),
             QC_KEY_DISABLED);
    T_REQUIRE(simple_rc(qc_enable_key, k.id) == QC_OK);
    T_EQ_I64(decide_full(k.secret, "x", DENY_IP, 5, 0, NULL),
             QC_KEY_EXPIRED);
    Quotad__KeyLimits u = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(u, expires_at_ms, -1);
    T_REQUIRE(fx_update_limits(g_c, k.id, &u) == QC_OK);
    T_EQ_I64(decide_full(k.secret, "x", DENY_IP, 5, 0, NULL),
             QC_ADMIN_KEY_NOT_ALLOWED);
    T_REQUIRE(simple_rc(qc_revoke_key, k.id) == QC_OK);
    T_EQ_I64(decide_full(k.secret, "x", DENY_IP, 5, 0, NULL),
             QC_REVOKED_API_KEY);
}

/* revoked beats disabled and expired (real revoke, not rotation). */
static void test_revoked_beats_disabled(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, expires_at_ms, td_now_ms() + EXPIRY_MS);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    T_REQUIRE(simple_rc(qc_disable_key, k.id) == QC_OK);
    T_REQUIRE(simple_rc(qc_revoke_key, k.id) == QC_OK);
    td_sleep_ms(EXPIRY_WAIT_MS);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_REVOKED_API_KEY);
}

/* Malformed secrets, bad checksums and well-formed unknown keys. */
static void test_invalid_keys(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_ALLOWED);
    size_t n = strlen(k.secret);
    T_REQUIRE(n == 3 + 64 && strncmp(k.secret, "sk-", 3) == 0);
    char bad[2 * FX_SECRET_BYTES];
    const char *fixed[] = {"sk-", "sk-xyz", "hello", "sk_0000",
                           "sk-00000000000000000000000000000000000000000000"
                           "00000000000000000000"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        T_EQ_I64(fx_decide(g_c, fixed[i], 1), QC_INVALID_API_KEY);
    memcpy(bad, k.secret, n + 1);           /* checksum char flipped */
    bad[n - 1] = bad[n - 1] == '0' ? '1' : '0';
    T_EQ_I64(fx_decide(g_c, bad, 1), QC_INVALID_API_KEY);
    memcpy(bad, k.secret, n + 1);           /* random char flipped */
    bad[5] = bad[5] == 'a' ? 'b' : 'a';
    T_EQ_I64(fx_decide(g_c, bad, 1), QC_INVALID_API_KEY);
    memcpy(bad, k.secret, n + 1);           /* upper case is not canonical */
    for (size_t i = 3; i < n; i++)
        if (bad[i] >= 'a' && bad[i] <= 'f')
            bad[i] = (char)(bad[i] - 'a' + 'A');
    if (strcmp(bad, k.secret) != 0)
        T_EQ_I64(fx_decide(g_c, bad, 1), QC_INVALID_API_KEY);
    memcpy(bad, k.secret, n + 1);           /* truncated / extended */
    bad[n - 1] = '\0';
    T_EQ_I64(fx_decide(g_c, bad, 1), QC_INVALID_API_KEY);
    snprintf(bad, sizeof bad, "%s0", k.secret);
    T_EQ_I64(fx_decide(g_c, bad, 1), QC_INVALID_API_KEY);
    fx_forge_secret(ws, 42, bad, sizeof bad);   /* valid format, unknown */
    T_EQ_I64(fx_decide(g_c, bad, 1), QC_INVALID_API_KEY);
    fx_forge_secret(FOREIGN_WS, 43, bad, sizeof bad);
    T_EQ_I64(fx_decide(g_c, bad, 1), QC_INVALID_API_KEY);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_ALLOWED);
}

/* A revoked key is denied on the next check. */
static void test_revoked(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_ALLOWED);
    T_REQUIRE(simple_rc(qc_revoke_key, k.id) == QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_REVOKED_API_KEY);
}

/* Disabled denies; enabling restores. */
static void test_disabled(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    T_REQUIRE(simple_rc(qc_disable_key, k.id) == QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_KEY_DISABLED);
    T_REQUIRE(simple_rc(qc_enable_key, k.id) == QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_ALLOWED);
}

/* expires_at_ms in the past denies with key_expired. */
static void test_expired(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    int64_t expires = td_now_ms() + EXPIRY_MS;
    FX_SET(l, expires_at_ms, expires);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    int got = fx_decide(g_c, k.secret, 1);
    if (td_now_ms() < expires - EXPIRY_SLACK_MS)  /* else we were slow */
        T_EQ_I64(got, QC_ALLOWED);
    td_sleep_ms(EXPIRY_WAIT_MS);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_KEY_EXPIRED);
}

/* Admin keys never pass a check, even for amount 0. */
static void test_admin_key(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create_ex(g_c, ws, NULL, QUOTAD__KEY_KIND__ADMIN, "a",
                               NULL, &k) == QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 0), QC_ADMIN_KEY_NOT_ALLOWED);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_ADMIN_KEY_NOT_ALLOWED);
}

/* IPv4, IPv6, CIDR, single address; absent or unparsable IP denied. */
static void test_ip_allowlist(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    char *ips[] = {"192.0.2.0/24", "2001:db8::/32", "198.51.100.7",
                   "::1"};
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    l.n_ips = 4;
    l.ips = ips;
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    const char *ok[] = {"192.0.2.0", "192.0.2.55", "192.0.2.255",
                        "2001:db8::1", "2001:db8:ffff::9", "198.51.100.7",
                        "::1"};
    const char *no[] = {"192.0.3.1", "192.0.1.255", "198.51.100.8",
                        "2001:db9::1", "::2", "10.0.0.1", "garbage", "",
                        "192.0.2", "192.0.2.1/24", NULL};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        T_EQ_I64(decide_full(k.secret, NULL, ok[i], 1, 0, NULL), QC_ALLOWED);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        int got = decide_full(k.secret, NULL, no[i], 1, 0, NULL);
        if (got != QC_IP_NOT_ALLOWED)
            fprintf(stderr, "  ip \"%s\" -> %d\n", no[i] ? no[i] : "(none)",
                    got);
        T_EQ_I64(got, QC_IP_NOT_ALLOWED);
    }
    fx_key open;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &open) == QC_OK);
    T_EQ_I64(decide_full(open.secret, NULL, NULL, 1, 0, NULL), QC_ALLOWED);
    T_EQ_I64(decide_full(open.secret, NULL, "10.1.1.1", 1, 0, NULL),
             QC_ALLOWED);
}

/* Exact match only; absent model denied when the list is non-empty. */
static void test_model_allowlist(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    char *models[] = {"gpt-a", "gpt-b"};
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    l.n_models = 2;
    l.models = models;
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    T_EQ_I64(decide_full(k.secret, "gpt-a", NULL, 1, 0, NULL), QC_ALLOWED);
    T_EQ_I64(decide_full(k.secret, "gpt-b", NULL, 1, 0, NULL), QC_ALLOWED);
    const char *no[] = {"gpt-c", "gpt-", "gpt-a ", "GPT-A", "gpt-ab", "",
                        NULL};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        T_EQ_I64(decide_full(k.secret, no[i], NULL, 1, 0, NULL),
                 QC_MODEL_NOT_ALLOWED);
}

/* rpm requests pass, the next is rate_limited with a retry-after. */
static void test_rpm(void)
{
    fx_wait_minute_room(MINUTE_ROOM_MS);
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, rpm, RPM_SMALL);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    qc_check_res rs;
    for (int i = 0; i < RPM_SMALL; i++) {
        T_EQ_I64(decide_full(k.secret, NULL, NULL, 1, 0, &rs), QC_ALLOWED);
        T_EQ_I64(rs.rpm_remaining, RPM_SMALL - 1 - i);
        T_CHECK(rs.rate_reset_ms > 0 && rs.rate_reset_ms <= MINUTE_MS);
    }
    T_EQ_I64(decide_full(k.secret, NULL, NULL, 1, 0, &rs), QC_RATE_LIMITED);
    T_CHECK(rs.retry_after_ms > 0 && rs.retry_after_ms <= MINUTE_MS);
    int64_t left = MINUTE_MS - td_now_ms() % MINUTE_MS;
    T_CHECK(rs.retry_after_ms <= left + 1000 && rs.retry_after_ms + 1000 >= left);
}

/* tokens_used + tokens > tpm denies; exactly tpm passes. */
static void test_tpm(void)
{
    fx_wait_minute_room(MINUTE_ROOM_MS);
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, tpm, TPM_SMALL);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    qc_check_res rs;
    T_EQ_I64(decide_full(k.secret, NULL, NULL, 1, 60, &rs), QC_ALLOWED);
    T_EQ_I64(rs.tpm_remaining, TPM_SMALL - 60);
    T_EQ_I64(decide_full(k.secret, NULL, NULL, 1, 50, &rs), QC_RATE_LIMITED);
    T_CHECK(rs.retry_after_ms > 0 && rs.retry_after_ms <= MINUTE_MS);
    T_EQ_I64(decide_full(k.secret, NULL, NULL, 1, 40, &rs), QC_ALLOWED);
    T_EQ_I64(rs.tpm_remaining, 0);
    T_EQ_I64(decide_full(k.secret, NULL, NULL, 1, 1, &rs), QC_RATE_LIMITED);
    T_EQ_I64(decide_full(k.secret, NULL, NULL, 1, 0, &rs), QC_ALLOWED);
}

/* Quota remaining < amount denies; exactly the remainder passes. */
static void test_quota(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, 100);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    qc_check_res rs;
    T_EQ_I64(fx_check(g_c, k.secret, 60, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(rs.quota_remaining, 40);
    T_EQ_I64(fx_decide(g_c, k.secret, 41), QC_QUOTA_EXCEEDED);
    T_EQ_I64(fx_check(g_c, k.secret, 40, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(rs.quota_remaining, 0);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_QUOTA_EXCEEDED);
    T_EQ_I64(fx_decide(g_c, k.secret, 0), QC_ALLOWED);
}

/* One cap kind: cap passes exactly, one more denies. */
static void cap_case(int which)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    if (which == 0)
        FX_SET(l, spend_cap_day, 100);
    else if (which == 1)
        FX_SET(l, spend_cap_week, 100);
    else
        FX_SET(l, spend_cap_month, 100);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 70), QC_ALLOWED);
    T_EQ_I64(fx_decide(g_c, k.secret, 31), QC_SPEND_CAP_EXCEEDED);
    T_EQ_I64(fx_decide(g_c, k.secret, 30), QC_ALLOWED);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_SPEND_CAP_EXCEEDED);
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(st.spend_day, 100);
    T_EQ_I64(st.spend_week, 100);
    T_EQ_I64(st.spend_month, 100);
}

/* Day, week and month caps each deny on their own. */
static void test_spend_caps(void)
{
    cap_case(0);
    cap_case(1);
    cap_case(2);
}

/* The wallet without overdraft: exactly to zero, not below. */
static void test_insufficient_credits(void)
{
    uint32_t ws = new_ws(100, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 101), QC_INSUFFICIENT_CREDITS);
    qc_check_res rs;
    T_EQ_I64(fx_check(g_c, k.secret, 100, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(rs.wallet_balance, 0);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_INSUFFICIENT_CREDITS);
    int64_t bal = -1;
    T_EQ_I64(fx_balance(g_c, ws, &bal), QC_OK);
    T_EQ_I64(bal, 0);
}

/* Overdraft: balance may reach exactly -overdraft and not below. */
static void test_overdraft(void)
{
    uint32_t ws = new_ws(100, 50);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 151), QC_INSUFFICIENT_CREDITS);
    qc_check_res rs;
    T_EQ_I64(fx_check(g_c, k.secret, 149, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(rs.wallet_balance, -49);
    T_EQ_I64(fx_decide(g_c, k.secret, 2), QC_INSUFFICIENT_CREDITS);
    T_EQ_I64(fx_check(g_c, k.secret, 1, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(rs.wallet_balance, -50);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_INSUFFICIENT_CREDITS);
    int64_t bal = 0;
    T_EQ_I64(fx_balance(g_c, ws, &bal), QC_OK);
    T_EQ_I64(bal, -50);
}

/* Snapshot of every counter a check may move. */
typedef struct counters {
    fx_key_state k;
    fx_ws_state w;
} counters;

/* Read the key and workspace counters in one go. */
static int snap(uint32_t ws, uint64_t key_id, counters *out)
{
    int rc = fx_key_state_get(g_c, key_id, &out->k);
    return rc != QC_OK ? rc : fx_ws_state_get(g_c, ws, &out->w);
}

/* Every counter a check can move is unchanged. */
static void expect_same(const counters *a, const counters *b)
{
    T_EQ_I64(a->w.balance, b->w.balance);
    T_EQ_I64(a->w.usage_requests, b->w.usage_requests);
    T_EQ_I64(a->w.usage_spend, b->w.usage_spend);
    T_EQ_I64(a->k.quota_remaining, b->k.quota_remaining);
    T_EQ_I64(a->k.spend_day, b->k.spend_day);
    T_EQ_I64(a->k.spend_week, b->k.spend_week);
    T_EQ_I64(a->k.spend_month, b->k.spend_month);
    T_EQ_I64(a->k.usage_requests, b->k.usage_requests);
    T_EQ_I64(a->k.usage_tokens, b->k.usage_tokens);
    T_EQ_I64(a->k.usage_spend, b->k.usage_spend);
}

/* A denied check (late in the order, after rate/quota/cap passed) must
 * move no counter: wallet, quota, spend windows, RPM, TPM, usage. */
static void test_deny_changes_nothing(void)
{
    fx_wait_minute_room(MINUTE_ROOM_MS);
    uint32_t ws = new_ws(500, 0);
    T_REQUIRE(ws != 0);
    char *models[] = {"m"};
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, 1000);
    FX_SET(l, spend_cap_day, 900);
    FX_SET(l, rpm, 100);
    FX_SET(l, tpm, 1000);
    l.n_models = 1;
    l.models = models;
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    qc_check_res rs;
    T_EQ_I64(decide_full(k.secret, "m", NULL, 100, 10, &rs), QC_ALLOWED);
    int64_t rpm_left = rs.rpm_remaining, tpm_left = rs.tpm_remaining;
    counters before, after;
    T_REQUIRE(snap(ws, k.id, &before) == QC_OK);
    T_EQ_I64(decide_full(k.secret, "m", NULL, 401, 10, &rs),
             QC_INSUFFICIENT_CREDITS);
    T_EQ_I64(decide_full(k.secret, "m", NULL, 801, 10, &rs),
             QC_SPEND_CAP_EXCEEDED);
    T_EQ_I64(decide_full(k.secret, "m", NULL, 901, 10, &rs),
             QC_QUOTA_EXCEEDED);
    T_EQ_I64(decide_full(k.secret, "m", NULL, 1, 991, &rs), QC_RATE_LIMITED);
    T_EQ_I64(decide_full(k.secret, "z", NULL, 1, 10, &rs),
             QC_MODEL_NOT_ALLOWED);
    T_REQUIRE(snap(ws, k.id, &after) == QC_OK);
    expect_same(&before, &after);
    T_EQ_I64(decide_full(k.secret, "m", NULL, 1, 1, &rs), QC_ALLOWED);
    T_EQ_I64(rs.rpm_remaining, rpm_left - 1);
    T_EQ_I64(rs.tpm_remaining, tpm_left - 1);
    T_EQ_I64(rs.wallet_balance, before.w.balance - 1);
    T_EQ_I64(rs.quota_remaining, before.k.quota_remaining - 1);
}

/* Reply fields: ids, charged, remaining values, seq increasing on allowed
 * and unchanged on deny; unlimited shows -1. */
static void test_reply_fields(void)
{
    fx_wait_minute_room(MINUTE_ROOM_MS);
    uint32_t ws = new_ws(1000, 0);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, 500);
    FX_SET(l, rpm, 10);
    fx_key k, open;
    T_REQUIRE(fx_key_create(g_c, ws, &l, &k) == QC_OK);
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &open) == QC_OK);
    qc_check_res rs;
    uint64_t last = 0;
    for (int i = 1; i <= 3; i++) {
        T_EQ_I64(decide_full(k.secret, NULL, NULL, 50, 0, &rs), QC_ALLOWED);
        T_EQ_I64(rs.key_id, k.id);
        T_EQ_I64(rs.workspace_id, ws);
        T_EQ_I64(rs.charged, 50);
        T_EQ_I64(rs.quota_remaining, 500 - 50 * i);
        T_EQ_I64(rs.wallet_balance, 1000 - 50 * i);
        T_EQ_I64(rs.rpm_remaining, 10 - i);
        T_EQ_I64(rs.hold_id, 0);
        T_CHECK(!rs.replayed);
        T_CHECK(rs.seq > last);
        T_EQ_I64(qc_last_seq(g_c), rs.seq);
        last = rs.seq;
    }
    T_EQ_I64(decide_full(k.secret, NULL, NULL, 400, 0, &rs),
             QC_QUOTA_EXCEEDED);
    T_EQ_I64(rs.seq, last);
    T_EQ_I64(rs.charged, 0);
    T_EQ_I64(decide_full(open.secret, NULL, NULL, 7, 0, &rs), QC_ALLOWED);
    T_EQ_I64(rs.quota_remaining, -1);
    T_EQ_I64(rs.rpm_remaining, -1);
    T_EQ_I64(rs.tpm_remaining, -1);
    T_EQ_I64(rs.wallet_balance, 1000 - 150 - 7);
    T_CHECK(rs.seq > last);
    T_EQ_I64(qc_decision_http_status(QC_INSUFFICIENT_CREDITS), 402);
    T_EQ_I64(qc_decision_http_status(QC_QUOTA_EXCEEDED), 429);
    T_EQ_I64(qc_decision_http_status(QC_REVOKED_API_KEY), 401);
    T_EQ_I64(qc_decision_http_status(QC_IP_NOT_ALLOWED), 403);
    T_EQ_I64(qc_decision_http_status(QC_ALLOWED), 200);
}

/* A raw check request (bypasses any client-side validation). */
static int raw_check(const char *secret, int64_t amount, int64_t amount_min,
                     int64_t tokens, int hold)
{
    Quotad__Check ck = QUOTAD__CHECK__INIT;
    ck.secret = (char *)secret;
    FX_SET(ck, amount, amount);
    FX_SET(ck, tokens, tokens);
    if (hold) {
        FX_SET(ck, hold, 1);
        FX_SET(ck, amount_min, amount_min);
    }
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CHECK;
    rq.check = &ck;
    return fx_call_rc(g_c, &rq);
}

/* Amount and token bounds are INVALID_ARGUMENT, not a decision, and move
 * nothing. */
static void test_amount_bounds(void)
{
    uint32_t ws = new_ws(BAL_BIG, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    const int64_t too_big = INT64_C(1000000000000001);
    T_EQ_I64(raw_check(k.secret, -1, 0, 0, 0), QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(raw_check(k.secret, too_big, 0, 0, 0), QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(raw_check(k.secret, 1, 0, -5, 0), QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(raw_check(k.secret, 1, 0, INT64_C(1000000001), 0),
             QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(raw_check(k.secret, 10, 11, 0, 1), QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(raw_check(k.secret, 10, -1, 0, 1), QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(raw_check(k.secret, INT64_C(1000000000000000), 0, 0, 0), QC_OK);
    int64_t bal = 0;
    T_EQ_I64(fx_balance(g_c, ws, &bal), QC_OK);
    T_EQ_I64(bal, BAL_BIG);
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
        printf("FAIL it_checks_start\n");
        return 1;
    }
    T_RUN(test_order_chain);
    T_RUN(test_order_admin);
    T_RUN(test_revoked_beats_disabled);
    T_RUN(test_invalid_keys);
    T_RUN(test_revoked);
    T_RUN(test_disabled);
    T_RUN(test_expired);
    T_RUN(test_admin_key);
    T_RUN(test_ip_allowlist);
    T_RUN(test_model_allowlist);
    T_RUN(test_rpm);
    T_RUN(test_tpm);
    T_RUN(test_quota);
    T_RUN(test_spend_caps);
    T_RUN(test_insufficient_credits);
    T_RUN(test_overdraft);
    T_RUN(test_deny_changes_nothing);
    T_RUN(test_reply_fields);
    T_RUN(test_amount_bounds);
    T_RUN(test_clean_shutdown);
    return t_done();
}
