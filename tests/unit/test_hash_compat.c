/* test_hash_compat -- stored secret hashes are the first 128 bits of
 * BLAKE2b-256 (keyfmt.h); logs and snapshots written before carry all 256
 * bits. A key put with either length must answer its secret (and only
 * it), with the current and the previous (rotated-out) secret; any other
 * length is refused as bad data, as recovery would. */
#include <sodium.h>
#include <string.h>

#include "../fuzz/fuzz_common.h"
#include "t.h"

#define KEY_ID ((UINT64_C(1) << 32) | 1u)   /* key 1 of workspace 1 */
#define PREV_VALID_MS INT64_C(4102444800000) /* 2100-01-01: still valid */

static void full_hash(unsigned n, uint8_t out[KEYFMT_HASH_FULL_BYTES])
{
    uint8_t body[KEYFMT_BODY_BYTES];
    fz_secret_body(fz_secret_ws(n), n, body);
    T_REQUIRE(crypto_generichash(out, KEYFMT_HASH_FULL_BYTES, body,
                                 sizeof body, NULL, 0) == 0);
}

static rec_result put_ws(store *st)
{
    Quotad__WsState s = QUOTAD__WS_STATE__INIT;
    s.has_workspace_id = s.has_balance = s.has_max_keys = 1;
    s.workspace_id = 1;
    s.name = (char *)"w";
    s.balance = 1000;
    s.max_keys = 10;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_WS_PUT;
    r.ws_put = &s;
    char err[256];
    return rec_apply(st, &r, err, sizeof err);
}

/* Key KEY_ID with secret 0's hash (hash_len bytes of it) and, when
 * prev_len > 0, secret 1's as the previous secret. */
static rec_result put_key(store *st, size_t hash_len, size_t prev_len)
{
    uint8_t h0[KEYFMT_HASH_FULL_BYTES], h1[KEYFMT_HASH_FULL_BYTES];
    full_hash(0, h0);
    full_hash(1, h1);
    Quotad__KeyState s = QUOTAD__KEY_STATE__INIT;
    s.has_key_id = s.has_workspace_id = s.has_hash = s.has_status = 1;
    s.has_kind = s.has_quota_total = s.has_quota_remaining = 1;
    s.has_cap_day = s.has_cap_week = s.has_cap_month = 1;
    s.has_rpm = s.has_tpm = 1;
    s.key_id = KEY_ID;
    s.workspace_id = 1;
    s.hash.data = h0;
    s.hash.len = hash_len;
    s.hint = (char *)"abcd1234";
    s.status = KEY_ENABLED;
    s.quota_total = s.quota_remaining = LIMIT_NONE;
    s.cap_day = s.cap_week = s.cap_month = s.rpm = s.tpm = LIMIT_NONE;
    if (prev_len > 0) {
        s.has_prev_hash = s.has_prev_expires_ms = 1;
        s.prev_hash.data = h1;
        s.prev_hash.len = prev_len;
        s.prev_expires_ms = PREV_VALID_MS;
    }
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_PUT;
    r.key_put = &s;
    char err[256];
    return rec_apply(st, &r, err, sizeof err);
}

/* The key secret n names, or NULL; *prev: it matched as the previous. */
static key *find(store *st, unsigned n, bool *prev)
{
    uint8_t body[KEYFMT_BODY_BYTES];
    fz_secret_body(fz_secret_ws(n), n, body);
    keyfmt_hash h;
    keyfmt_hash_body(body, &h);
    shard *sh = store_shard_of(st, 1);
    store_lock(sh);
    key *k = do_key_by_hash(sh, 1, &h, prev);
    store_unlock(sh);
    return k;
}

static void check_len(size_t hash_len, size_t prev_len)
{
    store *st = fz_scratch_open(2);
    T_CHECK(put_ws(st) >= 0);
    T_CHECK(put_key(st, hash_len, prev_len) >= 0);
    bool prev = true;
    key *k = find(st, 0, &prev);
    T_REQUIRE(k != NULL);
    T_CHECK(k->id == KEY_ID && !prev);
    k = find(st, 1, &prev);
    if (prev_len > 0) {
        T_REQUIRE(k != NULL);
        T_CHECK(k->id == KEY_ID && prev);
    } else {
        T_CHECK(k == NULL);
    }
    T_CHECK(find(st, 2, &prev) == NULL);
    fz_store_check(st);
    store_close(st);
}

static void test_stored_hash_is_prefix(void)
{
    uint8_t full[KEYFMT_HASH_FULL_BYTES], body[KEYFMT_BODY_BYTES];
    full_hash(0, full);
    fz_secret_body(fz_secret_ws(0), 0, body);
    keyfmt_hash h;
    keyfmt_hash_body(body, &h);
    T_EQ_I64(sizeof h.b, 16);
    T_CHECK(memcmp(h.b, full, sizeof h.b) == 0);
}

static void test_both_lengths_load(void)
{
    check_len(KEYFMT_HASH_BYTES, 0);
    check_len(KEYFMT_HASH_FULL_BYTES, 0);
    check_len(KEYFMT_HASH_FULL_BYTES, KEYFMT_HASH_FULL_BYTES);
    check_len(KEYFMT_HASH_BYTES, KEYFMT_HASH_FULL_BYTES);
    check_len(KEYFMT_HASH_FULL_BYTES, KEYFMT_HASH_BYTES);
}

static void test_other_lengths_refused(void)
{
    static const size_t bad[] = {0, 8, 15, 17, 31, 33, 64};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        store *st = fz_scratch_open(1);
        T_CHECK(put_ws(st) >= 0);
        T_CHECK(put_key(st, bad[i], 0) < 0);
        T_CHECK(put_key(st, KEYFMT_HASH_BYTES, bad[i] ? bad[i] : 1) < 0);
        bool prev;
        T_CHECK(find(st, 0, &prev) == NULL);
        store_close(st);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    T_RUN(test_stored_hash_is_prefix);
    T_RUN(test_both_lengths_load);
    T_RUN(test_other_lengths_refused);
    return t_done();
}
