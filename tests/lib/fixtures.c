/* fixtures.c -- helpers shared by the integration tests (fixtures.h). */
#include "lib/fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define FX_DECIDE_ERR_BASE (-1000)
#define FX_MINUTE_MS INT64_C(60000)
#define FX_MINUTE_SLACK_MS 150
#define FX_BODY_BYTES 32u
#define FX_RANDOM_BYTES 24u
#define FX_CHECKSUM_SEED UINT64_C(0x71756f7461640001) /* docs: key format */

/* Big-endian store. */
static void fx_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Report a failed helper call with the server's message if any. */
static int fx_fail(qc_ctx *c, const char *what, int rc)
{
    fprintf(stderr, "  fx: %s: rc %d (%s): %s\n", what, rc,
            rc > 0 ? qc_code_str(rc) : qc_strerror(rc), qc_errstr(c));
    return rc;
}

/* Create a workspace with an opening balance; why: nearly every test needs
 * one with a known wallet. */
int fx_workspace(qc_ctx *c, int64_t balance, int64_t overdraft,
                 uint32_t max_keys, uint32_t *ws_id)
{
    Quotad__Reply *r = NULL;
    int rc = qc_create_workspace(c, "fx-ws", max_keys, overdraft, balance,
                                 &r);
    if (rc == QC_OK &&
        (r == NULL || r->result_case != QUOTAD__REPLY__RESULT_WORKSPACE))
        rc = QC_ERR_PROTOCOL;
    if (rc == QC_OK)
        *ws_id = r->workspace->workspace_id;
    qc_reply_free(r);
    return rc == QC_OK ? rc : fx_fail(c, "create_workspace", rc);
}

/* Copy the id and secret out of a create/rotate reply. */
static int fx_take_secret(const Quotad__Reply *r, uint64_t *id, char *secret,
                          size_t cap)
{
    if (r == NULL || r->result_case != QUOTAD__REPLY__RESULT_KEY_SECRET ||
        r->key_secret->secret == NULL || r->key_secret->key == NULL)
        return QC_ERR_PROTOCOL;
    size_t n = strlen(r->key_secret->secret);
    if (n + 1 > cap)
        return QC_ERR_ARG;
    memcpy(secret, r->key_secret->secret, n + 1);
    if (id != NULL)
        *id = r->key_secret->key->key_id;
    return QC_OK;
}

/* Create a key of any kind; limits are copied by reference only. */
int fx_key_create_ex(qc_ctx *c, uint32_t ws_id,
                     const Quotad__KeyLimits *limits, Quotad__KeyKind kind,
                     const char *name, const char *group, fx_key *out)
{
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    FX_SET(ck, workspace_id, ws_id);
    FX_SET(ck, kind, kind);
    ck.name = (char *)(name != NULL ? name : "fx-key");
    ck.group = (char *)group;
    ck.creator = (char *)"fixtures";
    ck.limits = (Quotad__KeyLimits *)limits;
    Quotad__Reply *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = qc_create_key(c, &ck, &r);
    if (rc == QC_OK)
        rc = fx_take_secret(r, &out->id, out->secret, sizeof out->secret);
    out->ws_id = ws_id;
    qc_reply_free(r);
    return rc == QC_OK ? rc : fx_fail(c, "create_key", rc);
}

/* The common case: a standard key with default name and no group. */
int fx_key_create(qc_ctx *c, uint32_t ws_id,
                  const Quotad__KeyLimits *limits, fx_key *out)
{
    return fx_key_create_ex(c, ws_id, limits, QUOTAD__KEY_KIND__STANDARD,
                            NULL, NULL, out);
}

/* Read a workspace's numeric state. */
int fx_ws_state_get(qc_ctx *c, uint32_t ws_id, fx_ws_state *out)
{
    Quotad__Reply *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = qc_get_workspace(c, ws_id, &r);
    if (rc == QC_OK &&
        (r == NULL || r->result_case != QUOTAD__REPLY__RESULT_WORKSPACE))
        rc = QC_ERR_PROTOCOL;
    if (rc == QC_OK) {
        const Quotad__WorkspaceInfo *w = r->workspace;
        out->balance = w->balance;
        out->overdraft_limit = w->overdraft_limit;
        out->reserved = w->reserved;
        out->usage_requests = w->usage_requests;
        out->usage_tokens = w->usage_tokens;
        out->usage_spend = w->usage_spend;
        out->max_keys = w->max_keys;
        out->key_count = w->key_count;
    }
    qc_reply_free(r);
    return rc == QC_OK ? rc : fx_fail(c, "get_workspace", rc);
}

/* Just the wallet balance. */
int fx_balance(qc_ctx *c, uint32_t ws_id, int64_t *balance)
{
    fx_ws_state s;
    int rc = fx_ws_state_get(c, ws_id, &s);
    *balance = s.balance;
    return rc;
}

/* Read a key's numeric state. */
int fx_key_state_get(qc_ctx *c, uint64_t key_id, fx_key_state *out)
{
    Quotad__Reply *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = qc_get_key(c, key_id, &r);
    if (rc == QC_OK &&
        (r == NULL || r->result_case != QUOTAD__REPLY__RESULT_KEY))
        rc = QC_ERR_PROTOCOL;
    if (rc == QC_OK) {
        const Quotad__KeyInfo *k = r->key;
        out->status = (int)k->status;
        out->quota_total = k->quota_total;
        out->quota_remaining = k->quota_remaining;
        out->spend_day = k->spend_day;
        out->spend_week = k->spend_week;
        out->spend_month = k->spend_month;
        out->usage_requests = k->usage_requests;
        out->usage_tokens = k->usage_tokens;
        out->usage_spend = k->usage_spend;
        out->expires_at_ms = k->expires_at_ms;
        out->prev_secret_expires_at_ms = k->prev_secret_expires_at_ms;
        out->rpm = k->rpm;
        out->tpm = k->tpm;
    }
    qc_reply_free(r);
    return rc == QC_OK || rc == QC_CODE_NOT_FOUND ? rc
                                                  : fx_fail(c, "get_key", rc);
}

/* A plain debit: what most deny-code tests need. */
int fx_check(qc_ctx *c, const char *secret, int64_t amount,
             qc_check_res *rs)
{
    qc_check_req rq = {.secret = secret, .amount = amount};
    memset(rs, 0, sizeof *rs);
    return qc_check(c, &rq, rs);
}

/* Decision only, folding call errors into distinct negative values so a
 * T_EQ_I64 on the decision also catches transport errors. */
int fx_decide(qc_ctx *c, const char *secret, int64_t amount)
{
    qc_check_res rs;
    int rc = fx_check(c, secret, amount, &rs);
    if (rc != QC_OK)
        return FX_DECIDE_ERR_BASE - rc;
    return (int)rs.decision;
}

/* For requests whose reply body does not matter, only the code. */
int fx_call_rc(qc_ctx *c, Quotad__Request *req)
{
    Quotad__Reply *r = NULL;
    int rc = qc_call(c, req, &r);
    qc_reply_free(r);
    return rc;
}

int fx_advance_clock(qc_ctx *c, int64_t ms)
{
    Quotad__DebugClock dc = QUOTAD__DEBUG_CLOCK__INIT;
    dc.has_advance_ms = 1;
    dc.advance_ms = ms;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_DEBUG_CLOCK;
    rq.debug_clock = &dc;
    return fx_call_rc(c, &rq);
}

/* Rotate and keep the new secret (shown once) for the test. */
int fx_rotate(qc_ctx *c, uint64_t key_id, int64_t grace_ms, char *secret,
              size_t cap)
{
    Quotad__Reply *r = NULL;
    int rc = qc_rotate_key(c, key_id, grace_ms, &r);
    if (rc == QC_OK)
        rc = fx_take_secret(r, NULL, secret, cap);
    qc_reply_free(r);
    return rc;
}

/* Limits-only update; the helper most lifecycle tests repeat. */
int fx_update_limits(qc_ctx *c, uint64_t key_id, Quotad__KeyLimits *lim)
{
    Quotad__UpdateKey uk = QUOTAD__UPDATE_KEY__INIT;
    FX_SET(uk, key_id, key_id);
    uk.limits = lim;
    Quotad__Reply *r = NULL;
    int rc = qc_update_key(c, &uk, &r);
    qc_reply_free(r);
    return rc == QC_OK ? rc : fx_fail(c, "update_key", rc);
}

/* RPM/TPM windows are UTC minutes: a test that counts requests must not
 * straddle a boundary, so start it with enough of the minute left. */
void fx_wait_minute_room(int64_t need_ms)
{
    int64_t left = FX_MINUTE_MS - td_now_ms() % FX_MINUTE_MS;
    if (left < need_ms)
        td_sleep_ms(left + FX_MINUTE_SLACK_MS);
}

/* splitmix64: a tiny deterministic generator for forged key bytes. */
static uint64_t fx_mix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Follows docs/protocol.md "Key format" independently of server code. */
void fx_forge_secret(uint32_t ws_id, uint64_t seed, char *out, size_t cap)
{
    uint8_t body[FX_BODY_BYTES];
    for (size_t i = 0; i < FX_RANDOM_BYTES; i++)
        body[i] = (uint8_t)fx_mix(&seed);
    fx_put_be32(body + FX_RANDOM_BYTES, ws_id);
    uint64_t h = XXH3_64bits_withSeed(body, FX_RANDOM_BYTES + 4u,
                                      FX_CHECKSUM_SEED);
    fx_put_be32(body + FX_RANDOM_BYTES + 4u, (uint32_t)h);
    size_t off = (size_t)snprintf(out, cap, "sk-");
    for (size_t i = 0; i < FX_BODY_BYTES && off + 2 < cap; i++)
        off += (size_t)snprintf(out + off, cap - off, "%02x", body[i]);
}

/* One daemon + one client per test binary; on failure leaves nothing
 * running and no temp dir behind. */
int fx_start(td_daemon *d, const char *const *extra, qc_ctx **c)
{
    *c = NULL;
    if (td_start(d, extra) != 0) {
        td_cleanup(d);
        return -1;
    }
    *c = td_connect(d);
    if (*c != NULL)
        return 0;
    (void)td_stop(d);
    td_cleanup(d);
    return -1;
}

/* Tear down in the order that lets td_stop judge a clean exit. */
int fx_finish(td_daemon *d, qc_ctx *c)
{
    qc_free(c);
    int st = td_stop(d);
    td_cleanup(d);
    return st;
}

int fx_start_small_quarantine(td_daemon *d, const char *const *extra,
                              qc_ctx **c)
{
    const char *old = getenv("ASAN_OPTIONS");
    char *saved = old != NULL ? strdup(old) : NULL;
    char opts[512];
    snprintf(opts, sizeof opts, "%s%s%s", old != NULL ? old : "",
             old != NULL && old[0] != '\0' ? ":" : "",
             FX_ASAN_SMALL_QUARANTINE);
    int rc = setenv("ASAN_OPTIONS", opts, 1);
    if (rc == 0)
        rc = fx_start(d, extra, c);
    if (saved != NULL)
        (void)setenv("ASAN_OPTIONS", saved, 1);
    else
        (void)unsetenv("ASAN_OPTIONS");
    free(saved);
    return rc;
}

/* Stats by name from one stats op (reset_latency as given): v[i] is
 * names[i]'s value, -1 if absent. Returns 0, or -1 if the call failed. */
int fx_stats_get(qc_ctx *c, bool reset_latency, const char *const *names,
                     int64_t *v, size_t n)
{
    Quotad__Reply *r = NULL;
    int rc = qc_stats(c, reset_latency, &r) == QC_OK && r->stats != NULL
                 ? 0 : -1;
    for (size_t k = 0; k < n; k++) {
        v[k] = -1;
        for (size_t i = 0; rc == 0 && i < r->stats->n_stats; i++) {
            if (strcmp(r->stats->stats[i]->name, names[k]) == 0) {
                v[k] = r->stats->stats[i]->value;
            }
        }
    }
    qc_reply_free(r);
    return rc;
}

int64_t fx_stat(qc_ctx *c, const char *name)
{
    int64_t v = -1;
    (void)fx_stats_get(c, false, &name, &v, 1);
    return v;
}
