/* mkcrashes -- the hand-made hostile record sequences of
 * tests/fuzz/crashes/ (see README.md there), and a way to replay any
 * fuzz_record input against the real daemon.
 *
 *   build/fuzz/mkcrashes DIR             write fuzz_record-rec-* into DIR
 *   build/fuzz/mkcrashes --log DATA FILE write FILE's records (fuzz_record
 *                                        format) as log segment 1 of the
 *                                        data dir DATA, checksums and all:
 *                                        quotad --data-dir DATA recovers it
 *
 * (make fuzz-crashes runs the first form on tests/fuzz/crashes.)
 * Every record decodes; the values are what is hostile. Workspace 1, key
 * K1 = 1<<32|1 (hash of fuzz_common.h's fixed secret 0, so a check with
 * that secret reaches it), K2 = 1<<32|2.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_le.h"
#include "fuzz_common.h"
#include "segfile.h"

#define MC_BUF_BYTES (64u * 1024u)
#define MC_HASHES 2
#define MC_T0 FZ_T0_MS
#define MC_K1 ((UINT64_C(1) << 32) | 1u)
#define MC_K2 ((UINT64_C(1) << 32) | 2u)
#define MC_H1 ((UINT64_C(1) << 32) | 1u)
#define MC_HOLD_MS 60000
#define MC_ZSTD_LEVEL 1

static uint8_t g_buf[MC_BUF_BYTES];
static size_t g_len;
static uint64_t g_seq;
static uint8_t g_hash[MC_HASHES][KEYFMT_HASH_BYTES];
static const char *g_dir;

static void emit(Quotad__LogRecord *r)
{
    r->has_seq = r->has_at_ms = 1;
    r->seq = ++g_seq;
    if (r->at_ms == 0)
        r->at_ms = MC_T0;
    size_t n = quotad__log_record__get_packed_size(r);
    if (g_len + CHUNK_RECORD_PREFIX_BYTES + n > sizeof g_buf)
        fz_die("mkcrashes: buffer full");
    chunk_le_put32(g_buf + g_len, (uint32_t)n);
    quotad__log_record__pack(r, g_buf + g_len + CHUNK_RECORD_PREFIX_BYTES);
    g_len += CHUNK_RECORD_PREFIX_BYTES + n;
}

/* Every input: control byte 0 (one shard), then records. */
static void start(void)
{
    g_len = 0;
    g_seq = 0;
    g_buf[g_len++] = 0;
}

static void save(const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/fuzz_record-%s", g_dir, name);
    FILE *f = fopen(p, "wb");
    if (f == NULL || fwrite(g_buf, 1, g_len, f) != g_len || fclose(f) != 0)
        fz_die("mkcrashes: cannot write %s", p);
}

static void ws_put(int64_t balance)
{
    Quotad__WsState s = QUOTAD__WS_STATE__INIT;
    s.has_workspace_id = s.has_balance = s.has_overdraft_limit = 1;
    s.has_max_keys = 1;
    s.workspace_id = 1;
    s.name = (char *)"w";
    s.balance = balance;
    s.max_keys = 10;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_WS_PUT;
    r.ws_put = &s;
    emit(&r);
}

/* A key with hash g_hash[h]; prev_h >= 0 adds a previous secret. */
static void key_put(uint64_t id, int h, const char *hint, int64_t quota,
                    int prev_h, int64_t prev_expires_ms)
{
    Quotad__KeyState s = QUOTAD__KEY_STATE__INIT;
    s.has_key_id = s.has_workspace_id = s.has_hash = s.has_status = 1;
    s.has_kind = s.has_quota_total = s.has_quota_remaining = 1;
    s.has_cap_day = s.has_cap_week = s.has_cap_month = 1;
    s.has_rpm = s.has_tpm = 1;
    s.key_id = id;
    s.workspace_id = (uint32_t)(id >> 32);
    s.hash.data = g_hash[h];
    s.hash.len = KEYFMT_HASH_BYTES;
    s.hint = (char *)hint;
    s.status = 1;
    s.quota_total = s.quota_remaining = quota;
    s.cap_day = s.cap_week = s.cap_month = s.rpm = s.tpm = LIMIT_NONE;
    if (prev_h >= 0) {
        s.has_prev_hash = s.has_prev_expires_ms = 1;
        s.prev_hash.data = g_hash[prev_h];
        s.prev_hash.len = KEYFMT_HASH_BYTES;
        s.prev_expires_ms = prev_expires_ms;
    }
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_PUT;
    r.key_put = &s;
    emit(&r);
}

static void key_plain(int64_t quota)
{
    key_put(MC_K1, 0, "abcd1234", quota, -1, 0);
}

static void hold_state(Quotad__HoldState *h, uint64_t id, int64_t amount)
{
    Quotad__HoldState h0 = QUOTAD__HOLD_STATE__INIT;
    *h = h0;
    h->has_hold_id = h->has_key_id = h->has_amount = 1;
    h->has_created_ms = h->has_expires_ms = 1;
    h->hold_id = id;
    h->key_id = MC_K1;
    h->amount = amount;
    h->created_ms = MC_T0;
    h->expires_ms = MC_T0 + MC_HOLD_MS;
}

static void charge(int64_t amount, uint64_t hold_id)
{
    Quotad__ChargeRec c = QUOTAD__CHARGE_REC__INIT;
    Quotad__HoldState h;
    c.has_key_id = c.has_charged = c.has_tokens = 1;
    c.key_id = MC_K1;
    c.charged = amount;
    if (hold_id != 0) {
        hold_state(&h, hold_id, amount);
        c.hold = &h;
    }
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_CHARGE;
    r.charge = &c;
    emit(&r);
}

static void settle(uint64_t hold_id, int64_t amount)
{
    Quotad__SettleRec s = QUOTAD__SETTLE_REC__INIT;
    s.has_hold_id = s.has_amount = s.has_charged = 1;
    s.hold_id = hold_id;
    s.amount = amount;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_SETTLE;
    r.settle = &s;
    emit(&r);
}

static void wallet(int64_t delta)
{
    Quotad__WalletRec w = QUOTAD__WALLET_REC__INIT;
    w.has_workspace_id = w.has_delta = 1;
    w.workspace_id = 1;
    w.delta = delta;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_WALLET;
    r.wallet = &w;
    emit(&r);
}

static void key_update_ip(const char *ip)
{
    char *ips[] = {(char *)ip};
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    l.n_ips = 1;
    l.ips = ips;
    Quotad__UpdateKey u = QUOTAD__UPDATE_KEY__INIT;
    u.has_key_id = 1;
    u.key_id = MC_K1;
    u.limits = &l;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_UPDATE;
    r.key_update = &u;
    emit(&r);
}

static void rotate(int h, int64_t prev_expires_ms)
{
    Quotad__KeyRotateRec k = QUOTAD__KEY_ROTATE_REC__INIT;
    k.has_key_id = k.has_hash = k.has_prev_expires_ms = 1;
    k.key_id = MC_K1;
    k.hash.data = g_hash[h];
    k.hash.len = KEYFMT_HASH_BYTES;
    k.hint = (char *)"ffff0000";
    k.prev_expires_ms = prev_expires_ms;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_ROTATE;
    r.key_rotate = &k;
    emit(&r);
}

static void key_delete(uint64_t id)
{
    Quotad__KeyRef k = QUOTAD__KEY_REF__INIT;
    k.has_key_id = 1;
    k.key_id = id;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_KEY_DELETE;
    r.key_delete = &k;
    emit(&r);
}

static void hold_put(uint64_t id, int64_t amount)
{
    Quotad__HoldState h;
    hold_state(&h, id, amount);
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_HOLD_PUT;
    r.hold_put = &h;
    emit(&r);
}

static void write_all(void)
{
    start(); ws_put(1000); key_put(MC_K1, 0, "abc", LIMIT_NONE, -1, 0);
    save("rec-short-hint");
    start(); ws_put(1000); key_plain(10); charge(100, 0);
    save("rec-charge-over-quota");
    start(); ws_put(1000); key_plain(LIMIT_NONE); charge(5000, 0);
    save("rec-charge-over-wallet");
    start(); ws_put(1000); key_plain(LIMIT_NONE); key_update_ip("not-an-ip");
    save("rec-update-bad-ip");
    start(); ws_put(1000); key_plain(LIMIT_NONE); charge(10, MC_H1);
    settle(MC_H1, -1);
    save("rec-settle-negative");
    start(); ws_put(INT64_MAX - 5); wallet(100);
    save("rec-wallet-overflow");
    start(); ws_put(1000); key_plain(LIMIT_NONE); rotate(1, 0);
    key_delete(MC_K1);
    save("rec-rotate-grace0-delete");
    start(); ws_put(1000); key_plain(LIMIT_NONE);
    key_put(MC_K2, 1, "abcd1234", LIMIT_NONE, 0, 5); key_delete(MC_K1);
    save("rec-prev-tag-collision");
    start(); ws_put(1000); key_plain(LIMIT_NONE); hold_put(MC_H1, INT64_MAX);
    hold_put(MC_H1 + 1, INT64_MAX);
    save("rec-reserved-overflow");
}

/* FILE's records (fuzz_record format) as one chunk of log segment 1. */
static int write_log(const char *data_dir, const char *file)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        fz_die("mkcrashes: cannot read %s", file);
    size_t n = fread(g_buf, 1, sizeof g_buf, f);
    fclose(f);
    if (n < 1)
        fz_die("mkcrashes: %s is empty", file);
    chunk_builder b;
    chunk_builder_init(&b);
    size_t pos = 0, len = 0;
    const uint8_t *p = NULL;
    uint64_t seq = 0;
    while (chunk_record_next(g_buf + 1, n - 1, &pos, &p, &len) == CHUNK_OK)
        if (chunk_builder_add(&b, ++seq, p, len) != CHUNK_OK)
            fz_die("mkcrashes: chunk_builder_add failed");
    char name[64];
    snprintf(name, sizeof name, "log-%016" PRIu64 ".qlog", (uint64_t)1);
    segfile_writer *w = NULL;
    int ok = segfile_create(data_dir, name, SEGFILE_KIND_LOG, 1,
                            (uint64_t)MC_T0, NULL, &w) == SEGFILE_OK &&
             segfile_append_records(w, &b, MC_ZSTD_LEVEL, NULL) ==
                 SEGFILE_OK &&
             segfile_sync(w) == SEGFILE_OK;
    ok = segfile_close(w) == SEGFILE_OK && ok;
    chunk_builder_free(&b);
    if (!ok)
        fz_die("mkcrashes: cannot write %s/%s", data_dir, name);
    printf("mkcrashes: %" PRIu64 " records -> %s/%s\n", seq, data_dir, name);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--log") == 0)
        return write_log(argv[2], argv[3]);
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR | --log DATA_DIR FILE\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0)
        fz_die("mkcrashes: sodium_init failed");
    uint8_t body[KEYFMT_BODY_BYTES];
    fz_secret_body(fz_secret_ws(0), 0, body);
    keyfmt_hash h0;
    keyfmt_hash_body(body, &h0);
    memcpy(g_hash[0], h0.b, sizeof h0.b);
    for (unsigned i = 0; i < KEYFMT_HASH_BYTES; i++)
        g_hash[1][i] = (uint8_t)(0x20u + i);
    g_dir = argv[1];
    write_all();
    printf("mkcrashes: wrote the hand-made inputs into %s\n", g_dir);
    return 0;
}
