/* it_lifecycle -- key and workspace lifecycle against a real daemon:
 * revoke is instant (same frame, pipelined, other connection), disable /
 * enable, revoked is final, rotation with grace, delete, max_keys, list
 * filters and paging, limit updates, workspace get/update, wallet adjust,
 * and that no reply ever carries a secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "t.h"

#define BAL (1000 * FX_UNIT)
#define GRACE_MS 800
#define GRACE_WAIT_MS 1100
#define LEAK_WINDOW 12        /* no 12 hex chars of a secret in a reply */
#define LIST_KEYS_N 7
#define PAGE 3
#define MAX_KEYS_SMALL 3
#define SECRETS_MAX 16
#define NAME_LONG 200          /* > NAME_BYTES_MAX */

static td_daemon g_d;
static qc_ctx *g_c;

/* Every secret issued in this run, to search replies for. */
static char g_secrets[SECRETS_MAX * 4][FX_SECRET_BYTES];
static size_t g_n_secrets;

/* Keep a secret so reply_leaks can look for it. */
static void remember(const char *secret)
{
    if (g_n_secrets < sizeof g_secrets / sizeof g_secrets[0])
        snprintf(g_secrets[g_n_secrets++], FX_SECRET_BYTES, "%s", secret);
}

/* Does the packed reply contain LEAK_WINDOW chars of any issued secret's
 * hex body? */
static int reply_leaks(const Quotad__Reply *r)
{
    size_t n = quotad__reply__get_packed_size(r);
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL)
        return 1;
    quotad__reply__pack(r, buf);
    int leak = 0;
    for (size_t s = 0; s < g_n_secrets && !leak; s++) {
        const char *hex = g_secrets[s] + 3;
        size_t len = strlen(hex);
        for (size_t i = 0; i + LEAK_WINDOW <= len && !leak; i++)
            leak = memmem(buf, n, hex + i, LEAK_WINDOW) != NULL;
    }
    free(buf);
    return leak;
}

/* A fresh workspace per test keeps counts and balances independent. */
static uint32_t new_ws(int64_t balance, int64_t overdraft, uint32_t max_keys)
{
    uint32_t ws = 0;
    return fx_workspace(g_c, balance, overdraft, max_keys, &ws) == QC_OK ? ws
                                                                       : 0;
}

/* Create a key and remember its secret. */
static int new_key(uint32_t ws, const Quotad__KeyLimits *l, fx_key *k)
{
    int rc = fx_key_create(g_c, ws, l, k);
    if (rc == QC_OK)
        remember(k->secret);
    return rc;
}

/* For key ops whose reply body does not matter. */
static int op_rc(int (*fn)(qc_ctx *, uint64_t, Quotad__Reply **),
                 uint64_t id)
{
    Quotad__Reply *r = NULL;
    int rc = fn(g_c, id, &r);
    qc_reply_free(r);
    return rc;
}

/* Fill a check request for a batch. */
static void mk_check(Quotad__Request *rq, Quotad__Check *ck,
                     const char *secret, int64_t amount)
{
    Quotad__Check c0 = QUOTAD__CHECK__INIT;
    Quotad__Request r0 = QUOTAD__REQUEST__INIT;
    *ck = c0;
    *rq = r0;
    ck->secret = (char *)secret;
    FX_SET(*ck, amount, amount);
    rq->op_case = QUOTAD__REQUEST__OP_CHECK;
    rq->check = ck;
}

/* Fill a revoke request for a batch. */
static void mk_revoke(Quotad__Request *rq, Quotad__KeyRef *ref, uint64_t id)
{
    Quotad__KeyRef k0 = QUOTAD__KEY_REF__INIT;
    Quotad__Request r0 = QUOTAD__REQUEST__INIT;
    *ref = k0;
    *rq = r0;
    FX_SET(*ref, key_id, id);
    rq->op_case = QUOTAD__REQUEST__OP_REVOKE_KEY;
    rq->revoke_key = ref;
}

/* Decision in a generic reply, or -1. */
static int reply_decision(const Quotad__Reply *r)
{
    if (r == NULL || r->code != QUOTAD__CODE__OK ||
        r->result_case != QUOTAD__REPLY__RESULT_CHECK)
        return -1;
    return (int)r->check->decision;
}

/* check, revoke, check in ONE frame: the second check is revoked. */
static void test_revoke_same_frame(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    Quotad__Request rq[3];
    Quotad__Check ck[2];
    Quotad__KeyRef ref;
    mk_check(&rq[0], &ck[0], k.secret, 1);
    mk_revoke(&rq[1], &ref, k.id);
    mk_check(&rq[2], &ck[1], k.secret, 1);
    Quotad__Request *reqs[3] = {&rq[0], &rq[1], &rq[2]};
    Quotad__Reply *out[3] = {NULL, NULL, NULL};
    T_EQ_I64(qc_call_batch(g_c, reqs, 3, out), QC_OK);
    T_EQ_I64(reply_decision(out[0]), QC_ALLOWED);
    T_CHECK(out[1] != NULL && out[1]->code == QUOTAD__CODE__OK);
    T_EQ_I64(reply_decision(out[2]), QC_REVOKED_API_KEY);
    for (int i = 0; i < 3; i++)
        qc_reply_free(out[i]);
}

/* check, revoke, check pipelined as three frames on one connection. */
static void test_revoke_pipelined(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    Quotad__Request rq[3];
    Quotad__Check ck[2];
    Quotad__KeyRef ref;
    mk_check(&rq[0], &ck[0], k.secret, 1);
    mk_revoke(&rq[1], &ref, k.id);
    mk_check(&rq[2], &ck[1], k.secret, 1);
    for (int i = 0; i < 3; i++)
        T_REQUIRE(qc_append(g_c, &rq[i]) == QC_OK);
    Quotad__Reply *out[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        T_EQ_I64(qc_read(g_c, &out[i]), QC_OK);
    T_EQ_I64(reply_decision(out[0]), QC_ALLOWED);
    T_CHECK(out[1] != NULL && out[1]->code == QUOTAD__CODE__OK);
    T_EQ_I64(reply_decision(out[2]), QC_REVOKED_API_KEY);
    for (int i = 0; i < 3; i++)
        qc_reply_free(out[i]);
}

/* Revoke on one connection; the very next check on another is denied. */
static void test_revoke_other_connection(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    qc_ctx *c2 = td_connect(&g_d);
    T_REQUIRE(c2 != NULL);
    T_EQ_I64(fx_decide(c2, k.secret, 1), QC_ALLOWED);
    T_EQ_I64(op_rc(qc_revoke_key, k.id), QC_OK);
    T_EQ_I64(fx_decide(c2, k.secret, 1), QC_REVOKED_API_KEY);
    T_EQ_I64(op_rc(qc_revoke_key, k.id), QC_OK);   /* twice is fine */
    qc_free(c2);
}

/* Disable/enable are idempotent and take effect at once. */
static void test_disable_enable(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    T_EQ_I64(op_rc(qc_disable_key, k.id), QC_OK);
    T_EQ_I64(op_rc(qc_disable_key, k.id), QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_KEY_DISABLED);
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(st.status, QUOTAD__KEY_STATUS__DISABLED);
    T_EQ_I64(op_rc(qc_enable_key, k.id), QC_OK);
    T_EQ_I64(op_rc(qc_enable_key, k.id), QC_OK);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_ALLOWED);
    T_EQ_I64(op_rc(qc_enable_key, UINT64_C(0x7fffff0000000001)),
             QC_CODE_NOT_FOUND);
}

/* Revoked is final: enable/disable/update/rotate are refused. */
static void test_revoked_is_final(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    T_EQ_I64(op_rc(qc_revoke_key, k.id), QC_OK);
    T_EQ_I64(op_rc(qc_enable_key, k.id), QC_CODE_FAILED_PRECONDITION);
    T_EQ_I64(op_rc(qc_disable_key, k.id), QC_CODE_FAILED_PRECONDITION);
    char s[FX_SECRET_BYTES];
    T_EQ_I64(fx_rotate(g_c, k.id, 0, s, sizeof s),
             QC_CODE_FAILED_PRECONDITION);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, rpm, 5);
    Quotad__UpdateKey uk = QUOTAD__UPDATE_KEY__INIT;
    FX_SET(uk, key_id, k.id);
    uk.limits = &l;
    Quotad__Reply *r = NULL;
    T_EQ_I64(qc_update_key(g_c, &uk, &r), QC_CODE_FAILED_PRECONDITION);
    qc_reply_free(r);
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_EQ_I64(st.status, QUOTAD__KEY_STATUS__REVOKED);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_REVOKED_API_KEY);
}

/* Rotation with grace: new works at once, old works until the grace ends
 * and then answers revoked; both spend one quota under one key id. */
static void test_rotate_grace(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, 1000);
    fx_key k;
    T_REQUIRE(new_key(ws, &l, &k) == QC_OK);
    qc_check_res rs;
    T_REQUIRE(fx_check(g_c, k.secret, 100, &rs) == QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    char fresh[FX_SECRET_BYTES];
    int64_t t0 = td_now_ms();
    T_REQUIRE(fx_rotate(g_c, k.id, GRACE_MS, fresh, sizeof fresh) == QC_OK);
    remember(fresh);
    T_CHECK(strcmp(fresh, k.secret) != 0);
    T_REQUIRE(fx_check(g_c, fresh, 10, &rs) == QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(rs.key_id, k.id);
    T_EQ_I64(rs.quota_remaining, 890);
    T_REQUIRE(fx_check(g_c, k.secret, 10, &rs) == QC_OK);
    int64_t t1 = td_now_ms();
    if (t1 - t0 < GRACE_MS) {
        T_EQ_I64(rs.decision, QC_ALLOWED);
        T_EQ_I64(rs.key_id, k.id);
        T_EQ_I64(rs.quota_remaining, 880);
    }
    fx_key_state st;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &st) == QC_OK);
    T_CHECK(st.prev_secret_expires_at_ms >= t0 + GRACE_MS - 50 &&
            st.prev_secret_expires_at_ms <= td_now_ms() + GRACE_MS + 50);
    td_sleep_ms(GRACE_WAIT_MS);
    T_EQ_I64(fx_decide(g_c, k.secret, 10), QC_REVOKED_API_KEY);
    T_REQUIRE(fx_check(g_c, fresh, 10, &rs) == QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(rs.quota_remaining, 870);
}

/* Grace 0 revokes the old secret now; grace out of range is refused. */
static void test_rotate_grace_zero(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    char fresh[FX_SECRET_BYTES];
    T_REQUIRE(fx_rotate(g_c, k.id, 0, fresh, sizeof fresh) == QC_OK);
    remember(fresh);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_REVOKED_API_KEY);
    T_EQ_I64(fx_decide(g_c, fresh, 1), QC_ALLOWED);
    T_EQ_I64(fx_rotate(g_c, k.id, -1, fresh, sizeof fresh),
             QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(fx_rotate(g_c, k.id, 31LL * 86400000LL, fresh, sizeof fresh),
             QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(fx_decide(g_c, fresh, 1), QC_ALLOWED);
}

/* A second rotation replaces the remembered old secret. */
static void test_rotate_twice(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    char s2[FX_SECRET_BYTES], s3[FX_SECRET_BYTES];
    T_REQUIRE(fx_rotate(g_c, k.id, 60000, s2, sizeof s2) == QC_OK);
    T_REQUIRE(fx_rotate(g_c, k.id, 60000, s3, sizeof s3) == QC_OK);
    remember(s2);
    remember(s3);
    T_CHECK(fx_decide(g_c, k.secret, 1) != QC_ALLOWED);
    T_EQ_I64(fx_decide(g_c, s2, 1), QC_ALLOWED);
    T_EQ_I64(fx_decide(g_c, s3, 1), QC_ALLOWED);
}

/* Rotation keeps id, name, limits, quota and usage history. */
static void test_rotate_keeps_state(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    char *models[] = {"m1"};
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, 500);
    FX_SET(l, rpm, 1000);
    FX_SET(l, spend_cap_day, 10000);
    l.n_models = 1;
    l.models = models;
    fx_key k;
    T_REQUIRE(new_key(ws, &l, &k) == QC_OK);
    qc_check_req rq = {.secret = k.secret, .model = "m1", .amount = 40,
                       .tokens = 7};
    qc_check_res rs;
    T_REQUIRE(qc_check(g_c, &rq, &rs) == QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    fx_key_state before, after;
    T_REQUIRE(fx_key_state_get(g_c, k.id, &before) == QC_OK);
    Quotad__Reply *r = NULL;
    T_REQUIRE(qc_rotate_key(g_c, k.id, 0, &r) == QC_OK);
    T_REQUIRE(r->result_case == QUOTAD__REPLY__RESULT_KEY_SECRET);
    remember(r->key_secret->secret);
    T_EQ_I64(r->key_secret->key->key_id, k.id);
    T_CHECK(r->key_secret->key->n_models == 1);
    qc_reply_free(r);
    T_REQUIRE(fx_key_state_get(g_c, k.id, &after) == QC_OK);
    T_EQ_I64(after.quota_remaining, 460);
    T_EQ_I64(after.quota_remaining, before.quota_remaining);
    T_EQ_I64(after.usage_requests, before.usage_requests);
    T_EQ_I64(after.usage_tokens, 7);
    T_EQ_I64(after.usage_spend, 40);
    T_EQ_I64(after.spend_day, 40);
    T_EQ_I64(after.rpm, 1000);
    T_EQ_I64(after.status, QUOTAD__KEY_STATUS__ENABLED);
}

/* Delete: secret becomes invalid_api_key, get NOT_FOUND, count drops. */
static void test_delete(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    fx_ws_state w;
    T_REQUIRE(fx_ws_state_get(g_c, ws, &w) == QC_OK);
    T_EQ_I64(w.key_count, 1);
    Quotad__Reply *r = NULL;
    T_EQ_I64(qc_delete_key(g_c, k.id, &r), QC_OK);
    T_CHECK(r != NULL && r->result_case == QUOTAD__REPLY__RESULT_KEY &&
            r->key->key_id == k.id);
    qc_reply_free(r);
    T_EQ_I64(fx_decide(g_c, k.secret, 1), QC_INVALID_API_KEY);
    fx_key_state st;
    T_EQ_I64(fx_key_state_get(g_c, k.id, &st), QC_CODE_NOT_FOUND);
    T_EQ_I64(op_rc(qc_delete_key, k.id), QC_CODE_NOT_FOUND);
    T_REQUIRE(fx_ws_state_get(g_c, ws, &w) == QC_OK);
    T_EQ_I64(w.key_count, 0);
}

/* max_keys bounds live keys; deleting frees a slot. */
static void test_max_keys(void)
{
    uint32_t ws = new_ws(BAL, 0, MAX_KEYS_SMALL);
    T_REQUIRE(ws != 0);
    fx_key k[MAX_KEYS_SMALL + 1];
    for (unsigned i = 0; i < MAX_KEYS_SMALL; i++)
        T_REQUIRE(new_key(ws, NULL, &k[i]) == QC_OK);
    T_EQ_I64(fx_key_create(g_c, ws, NULL, &k[MAX_KEYS_SMALL]),
             QC_CODE_LIMIT_REACHED);
    T_EQ_I64(op_rc(qc_delete_key, k[0].id), QC_OK);
    T_EQ_I64(new_key(ws, NULL, &k[MAX_KEYS_SMALL]), QC_OK);
    T_EQ_I64(fx_key_create(g_c, 0x7ffffff1u, NULL, &k[0]),
             QC_CODE_NOT_FOUND);
    uint32_t dflt = new_ws(BAL, 0, 0);
    fx_ws_state w;
    T_REQUIRE(fx_ws_state_get(g_c, dflt, &w) == QC_OK);
    T_EQ_I64(w.max_keys, 10);
}

/* One list call; returns the rc and fills ids / next. */
static int list_page(uint32_t ws, int status, const char *group,
                     const char *prefix, uint64_t after, uint32_t limit,
                     uint64_t *ids, size_t *n, uint64_t *next)
{
    Quotad__ListKeys lk = QUOTAD__LIST_KEYS__INIT;
    FX_SET(lk, workspace_id, ws);
    FX_SET(lk, status, (Quotad__KeyStatus)status);
    lk.group = (char *)group;
    lk.name_prefix = (char *)prefix;
    FX_SET(lk, after_key_id, after);
    FX_SET(lk, limit, limit);
    Quotad__Reply *r = NULL;
    int rc = qc_list_keys(g_c, &lk, &r);
    *n = 0;
    if (rc == QC_OK && r->result_case == QUOTAD__REPLY__RESULT_KEY_LIST) {
        for (size_t i = 0; i < r->key_list->n_keys && i < LIST_KEYS_N; i++) {
            const char *m = r->key_list->keys[i]->masked;
            T_CHECK(m != NULL && strncmp(m, "sk-", 3) == 0 &&
                    strstr(m, "...") != NULL && strlen(m) < 20);
            ids[(*n)++] = r->key_list->keys[i]->key_id;
        }
        T_CHECK(r->key_list->n_keys <= limit);
        *next = r->key_list->next_after_key_id;
        T_CHECK(!reply_leaks(r));
    } else if (rc == QC_OK) {
        rc = QC_ERR_PROTOCOL;
    }
    qc_reply_free(r);
    return rc;
}

/* Number of keys one filtered list call returns. */
static size_t count_filter(uint32_t ws, int status, const char *group,
                           const char *prefix)
{
    uint64_t ids[LIST_KEYS_N], next = 0;
    size_t n = 0;
    if (list_page(ws, status, group, prefix, 0, 100, ids, &n, &next) != 0)
        return (size_t)-1;
    return n;
}

/* Create the 7 keys of the list test: alpha-* in g1, beta-* in g2. */
static int list_fixture(uint32_t ws, fx_key *k)
{
    for (int i = 0; i < LIST_KEYS_N; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s-%d", i < 3 ? "alpha" : "beta", i);
        if (fx_key_create_ex(g_c, ws, NULL, QUOTAD__KEY_KIND__STANDARD, name,
                             i < 3 ? "g1" : "g2", &k[i]) != QC_OK)
            return -1;
        remember(k[i].secret);
    }
    if (op_rc(qc_disable_key, k[0].id) || op_rc(qc_disable_key, k[4].id) ||
        op_rc(qc_revoke_key, k[5].id))
        return -1;
    return 0;
}

/* Paging across 3 pages and every filter. */
static void test_list_keys(void)
{
    uint32_t ws = new_ws(BAL, 0, 20);
    T_REQUIRE(ws != 0);
    fx_key k[LIST_KEYS_N];
    T_REQUIRE(list_fixture(ws, k) == 0);
    uint64_t all[LIST_KEYS_N * 2], after = 0, next = 0;
    size_t total = 0, pages = 0;
    do {
        size_t n = 0;
        T_REQUIRE(list_page(ws, 0, NULL, NULL, after, PAGE, all + total, &n,
                            &next) == QC_OK);
        total += n;
        pages++;
        after = next;
    } while (next != 0 && pages < 10 && total <= LIST_KEYS_N);
    T_EQ_I64(pages, 3);
    T_EQ_I64(total, LIST_KEYS_N);
    for (size_t i = 0; i < total && i < LIST_KEYS_N; i++)
        T_EQ_I64(all[i], k[i].id);   /* ids ascend in creation order */
    T_EQ_I64(count_filter(ws, QUOTAD__KEY_STATUS__DISABLED, NULL, NULL), 2);
    T_EQ_I64(count_filter(ws, QUOTAD__KEY_STATUS__REVOKED, NULL, NULL), 1);
    T_EQ_I64(count_filter(ws, QUOTAD__KEY_STATUS__ENABLED, NULL, NULL), 4);
    T_EQ_I64(count_filter(ws, 0, "g1", NULL), 3);
    T_EQ_I64(count_filter(ws, 0, NULL, "beta"), 4);
    T_EQ_I64(count_filter(ws, 0, NULL, "alpha-1"), 1);
    T_EQ_I64(count_filter(ws, QUOTAD__KEY_STATUS__ENABLED, "g2", "beta"), 2);
    T_EQ_I64(count_filter(ws, 0, "nope", NULL), 0);
    uint64_t ids[LIST_KEYS_N];
    size_t n = 0;
    T_EQ_I64(list_page(0x7ffffff2u, 0, NULL, NULL, 0, 10, ids, &n, &next),
             QC_CODE_NOT_FOUND);
}

/* get_key never carries a secret: checked on every key made so far. */
static void test_no_secret_in_get(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    Quotad__Reply *r = NULL;
    T_REQUIRE(qc_get_key(g_c, k.id, &r) == QC_OK);
    T_CHECK(!reply_leaks(r));
    T_CHECK(r->key->masked != NULL &&
            strncmp(r->key->masked, k.secret, 7) == 0);
    qc_reply_free(r);
    T_REQUIRE(qc_get_workspace(g_c, ws, &r) == QC_OK);
    T_CHECK(!reply_leaks(r));
    qc_reply_free(r);
}

/* 0 if model "a" passes and "z" is refused. */
static int decide_model_ok(const char *secret)
{
    qc_check_req rq = {.secret = secret, .model = "a", .amount = 1};
    qc_check_res rs;
    if (qc_check(g_c, &rq, &rs) != QC_OK || rs.decision != QC_ALLOWED)
        return -1;
    rq.model = "z";
    if (qc_check(g_c, &rq, &rs) != QC_OK ||
        rs.decision != QC_MODEL_NOT_ALLOWED)
        return -1;
    return 0;
}

/* Update limits: set, clear with -1, clear_models, absent = unchanged. */
static void test_update_limits(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, 300);
    fx_key k;
    T_REQUIRE(new_key(ws, &l, &k) == QC_OK);
    char *models[] = {"a", "b"};
    Quotad__KeyLimits u = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(u, rpm, 5);
    FX_SET(u, tpm, 50);
    u.n_models = 2;
    u.models = models;
    T_REQUIRE(fx_update_limits(g_c, k.id, &u) == QC_OK);
    Quotad__Reply *r = NULL;
    T_REQUIRE(qc_get_key(g_c, k.id, &r) == QC_OK);
    T_EQ_I64(r->key->rpm, 5);
    T_EQ_I64(r->key->tpm, 50);
    T_EQ_I64(r->key->n_models, 2);
    T_EQ_I64(r->key->quota_total, 300);
    T_EQ_I64(r->key->spend_cap_day, -1);
    qc_reply_free(r);
    T_EQ_I64(decide_model_ok(k.secret), 0);
    Quotad__KeyLimits c = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(c, rpm, -1);
    FX_SET(c, clear_models, 1);
    FX_SET(c, quota_remaining, 77);
    T_REQUIRE(fx_update_limits(g_c, k.id, &c) == QC_OK);
    T_REQUIRE(qc_get_key(g_c, k.id, &r) == QC_OK);
    T_EQ_I64(r->key->rpm, -1);
    T_EQ_I64(r->key->tpm, 50);
    T_EQ_I64(r->key->n_models, 0);
    T_EQ_I64(r->key->quota_total, 300);
    T_EQ_I64(r->key->quota_remaining, 77);
    qc_reply_free(r);
    Quotad__KeyLimits bad = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(bad, rpm, -2);
    Quotad__UpdateKey uk = QUOTAD__UPDATE_KEY__INIT;
    FX_SET(uk, key_id, k.id);
    uk.limits = &bad;
    T_EQ_I64(qc_update_key(g_c, &uk, &r), QC_CODE_INVALID_ARGUMENT);
    qc_reply_free(r);
}

/* Name and group updates show in get_key. */
static void test_update_name_group(void)
{
    uint32_t ws = new_ws(BAL, 0, 0);
    T_REQUIRE(ws != 0);
    fx_key k;
    T_REQUIRE(new_key(ws, NULL, &k) == QC_OK);
    Quotad__UpdateKey uk = QUOTAD__UPDATE_KEY__INIT;
    FX_SET(uk, key_id, k.id);
    uk.name = (char *)"renamed";
    uk.group = (char *)"grp";
    Quotad__Reply *r = NULL;
    T_EQ_I64(qc_update_key(g_c, &uk, &r), QC_OK);
    qc_reply_free(r);
    r = NULL;
    T_REQUIRE(qc_get_key(g_c, k.id, &r) == QC_OK);
    T_EQ_STR(r->key->name, "renamed");
    T_EQ_STR(r->key->group, "grp");
    qc_reply_free(r);
    char longname[NAME_LONG];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    uk.name = longname;
    uk.group = NULL;
    T_EQ_I64(qc_update_key(g_c, &uk, &r), QC_CODE_INVALID_ARGUMENT);
    qc_reply_free(r);
    FX_SET(uk, key_id, UINT64_C(0x7fffff0000000009));
    uk.name = (char *)"x";
    T_EQ_I64(qc_update_key(g_c, &uk, &r), QC_CODE_NOT_FOUND);
    qc_reply_free(r);
}

/* Send an update_workspace; return rc. */
static int update_ws(uint32_t ws, const char *name, uint32_t max_keys,
                     int64_t overdraft)
{
    Quotad__UpdateWorkspace uw = QUOTAD__UPDATE_WORKSPACE__INIT;
    FX_SET(uw, workspace_id, ws);
    uw.name = (char *)name;
    FX_SET(uw, max_keys, max_keys);
    FX_SET(uw, overdraft_limit, overdraft);
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_UPDATE_WORKSPACE;
    rq.update_workspace = &uw;
    return fx_call_rc(g_c, &rq);
}

/* get/update workspace, NOT_FOUND and a bad overdraft. */
static void test_workspace_get_update(void)
{
    uint32_t ws = new_ws(1234, 0, 0);
    T_REQUIRE(ws != 0);
    Quotad__Reply *r = NULL;
    T_REQUIRE(qc_get_workspace(g_c, ws, &r) == QC_OK);
    T_EQ_I64(r->workspace->workspace_id, ws);
    T_EQ_STR(r->workspace->name, "fx-ws");
    T_EQ_I64(r->workspace->balance, 1234);
    T_EQ_I64(r->workspace->key_count, 0);
    T_CHECK(r->workspace->created_at_ms > td_now_ms() - 60000);
    qc_reply_free(r);
    T_EQ_I64(update_ws(ws, "renamed-ws", 42, 500), QC_OK);
    r = NULL;
    T_REQUIRE(qc_get_workspace(g_c, ws, &r) == QC_OK);
    T_EQ_STR(r->workspace->name, "renamed-ws");
    T_EQ_I64(r->workspace->max_keys, 42);
    T_EQ_I64(r->workspace->overdraft_limit, 500);
    T_EQ_I64(r->workspace->balance, 1234);
    qc_reply_free(r);
    r = NULL;
    T_EQ_I64(qc_get_workspace(g_c, 0x7ffffff3u, &r), QC_CODE_NOT_FOUND);
    qc_reply_free(r);
    T_EQ_I64(update_ws(0x7ffffff3u, "x", 1, 0), QC_CODE_NOT_FOUND);
    T_EQ_I64(update_ws(ws, "x", 1, -5), QC_CODE_INVALID_ARGUMENT);
}

/* Wallet adjust: up, down, down to -overdraft exactly, not below. */
static void test_adjust_wallet(void)
{
    uint32_t ws = new_ws(0, 100, 0);
    T_REQUIRE(ws != 0);
    Quotad__Reply *r = NULL;
    T_EQ_I64(qc_adjust_wallet(g_c, ws, 500, "top up", NULL, &r), QC_OK);
    T_CHECK(r != NULL && r->result_case == QUOTAD__REPLY__RESULT_WORKSPACE &&
            r->workspace->balance == 500);
    qc_reply_free(r);
    r = NULL;
    T_EQ_I64(qc_adjust_wallet(g_c, ws, -600, "down", NULL, &r), QC_OK);
    qc_reply_free(r);
    r = NULL;
    T_EQ_I64(qc_adjust_wallet(g_c, ws, -1, "below", NULL, &r),
             QC_CODE_FAILED_PRECONDITION);
    qc_reply_free(r);
    r = NULL;
    int64_t bal = 0;
    T_EQ_I64(fx_balance(g_c, ws, &bal), QC_OK);
    T_EQ_I64(bal, -100);
    T_EQ_I64(qc_adjust_wallet(g_c, 0x7ffffff4u, 5, "x", NULL, &r),
             QC_CODE_NOT_FOUND);
    qc_reply_free(r);
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
        printf("FAIL it_lifecycle_start\n");
        return 1;
    }
    T_RUN(test_revoke_same_frame);
    T_RUN(test_revoke_pipelined);
    T_RUN(test_revoke_other_connection);
    T_RUN(test_disable_enable);
    T_RUN(test_revoked_is_final);
    T_RUN(test_rotate_grace);
    T_RUN(test_rotate_grace_zero);
    T_RUN(test_rotate_twice);
    T_RUN(test_rotate_keeps_state);
    T_RUN(test_delete);
    T_RUN(test_max_keys);
    T_RUN(test_list_keys);
    T_RUN(test_no_secret_in_get);
    T_RUN(test_update_limits);
    T_RUN(test_update_name_group);
    T_RUN(test_workspace_get_update);
    T_RUN(test_adjust_wallet);
    T_RUN(test_clean_shutdown);
    return t_done();
}
