/* fuzz_request -- every input is one ClientFrame body, run by
 * ops_handle_frame against a long-lived store (as one connection's frames
 * would be), with full rights.
 *
 * The store is set up once (and again every FZ_RESET_EVERY inputs or when
 * it grows too big, so memory stays bounded over long runs) with a fake
 * clock that advances ~1 s per input, two workspaces and five keys whose
 * secrets are fixed (fuzz_common.h: fz_secret), so seeds can carry real
 * secrets and checks reach the rate, quota, cap, wallet, hold and
 * idempotency code:
 *
 *   ws 1 (balance 1e12):   key 1<<32|1  secret 0  no limits
 *                          key 1<<32|2  secret 1  quota, caps, rpm, tpm,
 *                                                 models, ips, metadata
 *   ws 2 (balance 1000,    key 2<<32|1  secret 2  admin key
 *         overdraft 500):  key 2<<32|2  secret 3  disabled
 *                          key 2<<32|3  secret 4  expires at T0 + 1 h
 *
 * Checked on every input:
 *   - a reply frame always comes back: one whole frame that decodes as a
 *     ServerFrame;
 *   - if the body decodes (same capped allocator) with 1..256 requests:
 *     exactly one reply per request, same ids, in order, not closing;
 *     otherwise: a single id-0 MALFORMED / BATCH_TOO_LARGE reply that
 *     closes the connection;
 *   - every code and decision is a known enum value; a failed reply has a
 *     message, and that message never contains a secret (fixed ones, or
 *     the one the request carried);
 *   - allowed checks charge within [0, amount].
 *
 * Leaks: the store keeps what inputs create, so libFuzzer's per-input
 * leak check (which runs whenever an input mallocs more than it frees)
 * would scan the whole heap on nearly every input; run.sh turns it off
 * for this target (fuzz_request.options) and the harness runs LeakSanitizer
 * itself every FZ_LEAK_CHECK_EVERY inputs instead (the store stays
 * reachable through g_st, so only real leaks are reported).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/lsan_interface.h>

#include "fuzz_common.h"

#define FZ_SHARDS 4u
#define FZ_RESET_EVERY 20000u       /* inputs between store rebuilds */
#define FZ_ITEMS_MAX 20000u         /* keys or holds before a rebuild */
#define FZ_SWEEP_EVERY 64u
#define FZ_LEAK_CHECK_EVERY 4096u
#define FZ_TICK_MS 997              /* clock advance per input */
#define FZ_WS1_BALANCE INT64_C(1000000000000)
#define FZ_WS2_BALANCE INT64_C(1000)
#define FZ_WS2_OVERDRAFT INT64_C(500)
#define FZ_SECRET_MIN_ECHO 16u      /* shorter "secrets" are not secret */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static store *g_st;
static int64_t g_now_ms;
static uint64_t g_inputs;
static char g_secrets[FZ_SECRETS][FZ_SECRET_BUF];

static int64_t fz_clock(void)
{
    return g_now_ms;
}

/* Run one request during set-up; it must succeed. */
static Quotad__Reply *setup_call(Quotad__Request *rq,
                                 Quotad__ServerFrame **sf)
{
    *sf = fz_call(g_st, rq);
    Quotad__Reply *r = (*sf)->replies[0];
    if (r->code != QUOTAD__CODE__OK)
        fz_die("set-up request failed: %s", r->error ? r->error : "?");
    return r;
}

static uint32_t setup_ws(int64_t balance, int64_t overdraft)
{
    Quotad__CreateWorkspace cw = QUOTAD__CREATE_WORKSPACE__INIT;
    cw.name = (char *)"fuzz";
    cw.has_max_keys = cw.has_initial_balance = cw.has_overdraft_limit = 1;
    cw.max_keys = 64;
    cw.initial_balance = balance;
    cw.overdraft_limit = overdraft;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CREATE_WORKSPACE;
    rq.create_workspace = &cw;
    Quotad__ServerFrame *sf = NULL;
    uint32_t id = setup_call(&rq, &sf)->workspace->workspace_id;
    quotad__server_frame__free_unpacked(sf, NULL);
    return id;
}

/* Give key key_id fixed secret n (its random one is retired at once). */
static void install_secret(uint64_t key_id, unsigned n)
{
    uint32_t ws = (uint32_t)(key_id >> 32);
    uint8_t body[KEYFMT_BODY_BYTES];
    fz_secret_body(ws, n, body);
    if (ws != fz_secret_ws(n))
        fz_die("fixed secret %u belongs to workspace %u", n, fz_secret_ws(n));
    fz_secret(ws, n, g_secrets[n]);
    uint8_t parsed[KEYFMT_BODY_BYTES];
    uint32_t got_ws = 0;
    if (keyfmt_parse(KEYFMT_PREFIX_DEFAULT, g_secrets[n],
                     strlen(g_secrets[n]), parsed, &got_ws) != 0 ||
        got_ws != ws || memcmp(parsed, body, sizeof body) != 0)
        fz_die("fixed secret %u does not parse", n);
    keyfmt_hash h;
    char hint[KEYFMT_HINT_CHARS + 1];
    keyfmt_hash_body(body, &h);
    keyfmt_hint(body, hint);
    shard *sh = store_shard_of(g_st, ws);
    store_lock(sh);
    key *k = do_key_find(sh, key_id);
    int rc = k ? do_key_rotate(sh, k, &h, hint, g_now_ms - 1) : -3;
    store_unlock(sh);
    if (rc != 0)
        fz_die("cannot install fixed secret %u on key %llu (%d)", n,
               (unsigned long long)key_id, rc);
}

static uint64_t setup_key(uint32_t ws, Quotad__KeyLimits *lim, int admin,
                          unsigned secret_n)
{
    static char *models[] = {(char *)"gpt-4o", (char *)"gpt-4o-mini"};
    static char *ips[] = {(char *)"10.0.0.0/8", (char *)"2001:db8::/32",
                          (char *)"203.0.113.7"};
    Quotad__KeyValue kv = QUOTAD__KEY_VALUE__INIT;
    kv.key = (char *)"team";
    kv.value = (char *)"fuzz";
    Quotad__KeyValue *meta[] = {&kv};
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    ck.has_workspace_id = 1;
    ck.workspace_id = ws;
    ck.name = (char *)"fuzz-key";
    ck.group = (char *)"prod";
    ck.creator = (char *)"fuzz";
    if (admin) {
        ck.has_kind = 1;
        ck.kind = QUOTAD__KEY_KIND__ADMIN;
    }
    if (lim != NULL) {
        lim->n_models = 2;
        lim->models = models;
        lim->n_ips = 3;
        lim->ips = ips;
        ck.n_metadata = 1;
        ck.metadata = meta;
    }
    ck.limits = lim;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CREATE_KEY;
    rq.create_key = &ck;
    Quotad__ServerFrame *sf = NULL;
    uint64_t id = setup_call(&rq, &sf)->key_secret->key->key_id;
    quotad__server_frame__free_unpacked(sf, NULL);
    install_secret(id, secret_n);
    return id;
}

static void setup_key_status(uint64_t key_id, Quotad__Request__OpCase op)
{
    Quotad__KeyRef kr = QUOTAD__KEY_REF__INIT;
    kr.has_key_id = 1;
    kr.key_id = key_id;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = op;
    rq.disable_key = &kr; /* a oneof: every KeyRef member shares storage */
    Quotad__ServerFrame *sf = NULL;
    (void)setup_call(&rq, &sf);
    quotad__server_frame__free_unpacked(sf, NULL);
}

static void setup(void)
{
    store_opts o;
    store_opts_default(&o);
    o.shards = FZ_SHARDS;
    o.idem_entries_per_shard = 256;
    o.hold_timeout_ms = 60000;
    o.settle_overrun_micro = 1000;
    if (store_open(&o, &g_st) != 0)
        fz_die("store_open failed");
    g_now_ms = FZ_T0_MS;
    g_st->now_ms = fz_clock;
    uint32_t ws1 = setup_ws(FZ_WS1_BALANCE, 0);
    uint32_t ws2 = setup_ws(FZ_WS2_BALANCE, FZ_WS2_OVERDRAFT);
    (void)setup_key(ws1, NULL, 0, 0);
    Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
    lim.has_quota_total = lim.has_spend_cap_day = lim.has_spend_cap_week = 1;
    lim.has_spend_cap_month = lim.has_rpm = lim.has_tpm = 1;
    lim.quota_total = 5000000;
    lim.spend_cap_day = 1000000;
    lim.spend_cap_week = 3000000;
    lim.spend_cap_month = 4000000;
    lim.rpm = 20;
    lim.tpm = 100000;
    (void)setup_key(ws1, &lim, 0, 1);
    (void)setup_key(ws2, NULL, 1, 2);
    uint64_t disabled = setup_key(ws2, NULL, 0, 3);
    setup_key_status(disabled, QUOTAD__REQUEST__OP_DISABLE_KEY);
    Quotad__KeyLimits exp = QUOTAD__KEY_LIMITS__INIT;
    exp.has_expires_at_ms = 1;
    exp.expires_at_ms = FZ_T0_MS + 3600000;
    (void)setup_key(ws2, &exp, 0, 4);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setup();
    return 0;
}

/* Keys and holds in the store, to bound memory over long runs. */
static size_t store_items(void)
{
    size_t n = 0;
    for (uint32_t i = 0; i < g_st->opt.shards; i++)
        n += g_st->shards[i].n_keys + g_st->shards[i].heap_n +
             g_st->shards[i].wss.count;
    return n;
}

static int known_enum(const ProtobufCEnumDescriptor *d, int v)
{
    return protobuf_c_enum_descriptor_get_value(d, v) != NULL;
}

static int has_text(const char *s, const char *needle)
{
    return s != NULL && strstr(s, needle) != NULL;
}

/* The secret a check carried, unless the same text also sits in one of
 * its plain fields (then an error may legitimately quote that field). */
static const char *request_secret(const Quotad__Request *rq)
{
    if (rq->op_case != QUOTAD__REQUEST__OP_CHECK)
        return NULL;
    const Quotad__Check *ck = rq->check;
    if (ck->secret == NULL || strlen(ck->secret) < FZ_SECRET_MIN_ECHO ||
        has_text(ck->model, ck->secret) ||
        has_text(ck->client_ip, ck->secret) ||
        has_text(ck->idempotency_id, ck->secret))
        return NULL;
    return ck->secret;
}

/* An error text must never hold a secret: not one of the store's (unless
 * the input itself spelled it out somewhere), not the request's own. */
static void check_error_text(const Quotad__Reply *r, const char *carried,
                             const uint8_t *in, size_t in_len)
{
    if (r->error == NULL)
        fz_die("reply %llu: code %d without a message",
               (unsigned long long)r->id, (int)r->code);
    for (unsigned i = 0; i < FZ_SECRETS; i++) {
        const char *hex = g_secrets[i] + strlen(KEYFMT_PREFIX_DEFAULT);
        if (strstr(r->error, hex) && !memmem(in, in_len, hex, strlen(hex)))
            fz_die("reply %llu: error text holds fixed secret %u",
                   (unsigned long long)r->id, i);
    }
    if (carried != NULL && strstr(r->error, carried))
        fz_die("reply %llu: error text echoes the request's secret",
               (unsigned long long)r->id);
}

static void check_reply(const Quotad__Request *rq, const Quotad__Reply *r,
                        const uint8_t *in, size_t in_len)
{
    if (r->id != rq->id)
        fz_die("reply id %llu for request id %llu",
               (unsigned long long)r->id, (unsigned long long)rq->id);
    if (!known_enum(&quotad__code__descriptor, (int)r->code))
        fz_die("reply %llu: unknown code %d", (unsigned long long)r->id,
               (int)r->code);
    if (r->code != QUOTAD__CODE__OK) {
        check_error_text(r, request_secret(rq), in, in_len);
        return;
    }
    if (r->result_case == QUOTAD__REPLY__RESULT_CHECK) {
        const Quotad__CheckReply *c = r->check;
        if (!known_enum(&quotad__decision__descriptor, (int)c->decision))
            fz_die("check %llu: unknown decision %d",
                   (unsigned long long)r->id, (int)c->decision);
        int64_t amount = rq->op_case == QUOTAD__REQUEST__OP_CHECK
                             ? rq->check->amount : 0;
        if (c->charged < 0 || (c->decision == QUOTAD__DECISION__ALLOWED &&
                               !c->replayed && c->charged > amount) ||
            (c->decision != QUOTAD__DECISION__ALLOWED && c->charged != 0))
            fz_die("check %llu: decision %d charged %lld of %lld",
                   (unsigned long long)r->id, (int)c->decision,
                   (long long)c->charged, (long long)amount);
    }
    if (r->result_case == QUOTAD__REPLY__RESULT_SETTLE &&
        (r->settle->charged < 0 || r->settle->refunded < 0))
        fz_die("settle %llu: charged %lld refunded %lld",
               (unsigned long long)r->id, (long long)r->settle->charged,
               (long long)r->settle->refunded);
}

static void check_frame(const uint8_t *data, size_t size,
                        const ops_reply *out, const Quotad__ServerFrame *sf)
{
    qd_capalloc a;
    qd_capalloc_init(&a, DECODE_HEAP_BYTES_MAX);
    Quotad__ClientFrame *cf = quotad__client_frame__unpack(&a.base, size,
                                                           data);
    int ok = cf != NULL && size > 0 && cf->n_requests >= 1 &&
             cf->n_requests <= BATCH_OPS_MAX;
    if (ok) {
        if (out->close_after || sf->n_replies != cf->n_requests)
            fz_die("%zu requests got %zu replies (close %d)",
                   cf->n_requests, sf->n_replies, (int)out->close_after);
        for (size_t i = 0; i < cf->n_requests; i++)
            check_reply(cf->requests[i], sf->replies[i], data, size);
    } else {
        if (!out->close_after || sf->n_replies != 1 ||
            sf->replies[0]->id != 0 ||
            (sf->replies[0]->code != QUOTAD__CODE__MALFORMED &&
             sf->replies[0]->code != QUOTAD__CODE__BATCH_TOO_LARGE))
            fz_die("undecodable frame: want one id-0 error reply that "
                   "closes, got %zu replies (close %d)",
                   sf->n_replies, (int)out->close_after);
    }
    if (cf != NULL)
        quotad__client_frame__free_unpacked(cf, &a.base);
    if (a.used != 0)
        fz_die("capped allocator: %zu bytes still accounted after free",
               a.used);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_inputs++;
    if (g_inputs % FZ_RESET_EVERY == 0 || store_items() > FZ_ITEMS_MAX) {
        store_close(g_st);
        setup();
    }
    g_now_ms += FZ_TICK_MS;
    if (g_inputs % FZ_SWEEP_EVERY == 0)
        (void)store_sweep(g_st, 0, g_st->opt.shards, g_now_ms);
    ops_reply out;
    if (ops_handle_frame(g_st, data, size, &out) != 0)
        fz_die("ops_handle_frame returned -1 (allocation) for %zu bytes",
               size);
    uint32_t body = 0;
    if (out.frame == NULL ||
        qd_frame_peek(out.frame, out.len, FRAME_BYTES_MAX, &body) !=
            QD_FRAME_READY ||
        (size_t)body + FRAME_HEADER_BYTES != out.len)
        fz_die("reply is not exactly one frame (%zu bytes)", out.len);
    Quotad__ServerFrame *sf = quotad__server_frame__unpack(
        NULL, body, out.frame + FRAME_HEADER_BYTES);
    if (sf == NULL)
        fz_die("reply does not decode as a ServerFrame");
    check_frame(data, size, &out, sf);
    quotad__server_frame__free_unpacked(sf, NULL);
    ops_reply_free(&out);
    if (g_inputs % FZ_LEAK_CHECK_EVERY == 0 &&
        __lsan_do_recoverable_leak_check() != 0)
        fz_die("LeakSanitizer found leaks (reported above) within the "
               "last %u inputs", FZ_LEAK_CHECK_EVERY);
    return 0;
}
