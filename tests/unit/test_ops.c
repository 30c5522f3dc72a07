/* test_ops -- drive ops_handle_frame directly (no sockets): the whole
 * request path from bytes to bytes, with an injected clock. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "limits.h"
#include "ops.h"
#include "qd_frame.h"
#include "quotad.pb-c.h"
#include "stats.h"
#include "store.h"
#include "t.h"

#define TEST_ROOT_CRED "unit-test-root-credential-0123456789"

static int64_t fake_now_ms = 1700000000000;   /* 2023-11-14 22:13:20 UTC */
static int64_t fake_clock(void) { return fake_now_ms; }

static store *open_store(void)
{
    store_opts o;
    store_opts_default(&o);
    o.shards = 4;
    store *st = NULL;
    if (store_open(&o, &st) != 0) {
        return NULL;
    }
    st->now_ms = fake_clock;
    return st;
}

/* Send one request, return the decoded reply frame (caller frees). */
static Quotad__ServerFrame *roundtrip(store *st, Quotad__Request **rq,
                                      size_t n)
{
    Quotad__ClientFrame cf = QUOTAD__CLIENT_FRAME__INIT;
    cf.n_requests = n;
    cf.requests = rq;
    uint8_t *buf;
    size_t len;
    if (qd_frame_encode(&cf.base, FRAME_BYTES_MAX, &buf, &len) != 0) {
        return NULL;
    }
    ops_reply r;
    int rc = ops_handle_frame(st, buf + 4, len - 4, &r);
    free(buf);
    if (rc != 0) {
        return NULL;
    }
    Quotad__ServerFrame *sf =
        quotad__server_frame__unpack(NULL, r.len - 4, r.frame + 4);
    ops_reply_free(&r);
    return sf;
}

static Quotad__ServerFrame *one(store *st, Quotad__Request *rq)
{
    return roundtrip(st, &rq, 1);
}

static uint32_t make_ws(store *st, int64_t balance)
{
    Quotad__CreateWorkspace cw = QUOTAD__CREATE_WORKSPACE__INIT;
    cw.name = "acme";
    cw.has_initial_balance = 1;
    cw.initial_balance = balance;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CREATE_WORKSPACE;
    rq.create_workspace = &cw;
    Quotad__ServerFrame *sf = one(st, &rq);
    uint32_t id = sf ? sf->replies[0]->workspace->workspace_id : 0;
    quotad__server_frame__free_unpacked(sf, NULL);
    return id;
}

static uint64_t make_key(store *st, uint32_t ws, Quotad__KeyLimits *lim,
                         char *secret, size_t cap)
{
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    ck.has_workspace_id = 1;
    ck.workspace_id = ws;
    ck.name = "k";
    ck.limits = lim;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CREATE_KEY;
    rq.create_key = &ck;
    Quotad__ServerFrame *sf = one(st, &rq);
    if (sf == NULL || sf->replies[0]->code != QUOTAD__CODE__OK) {
        if (sf != NULL) {
            fprintf(stderr, "  create_key: code %d: %s\n",
                    sf->replies[0]->code, sf->replies[0]->error);
        }
        quotad__server_frame__free_unpacked(sf, NULL);
        return 0;
    }
    snprintf(secret, cap, "%s", sf->replies[0]->key_secret->secret);
    uint64_t id = sf->replies[0]->key_secret->key->key_id;
    quotad__server_frame__free_unpacked(sf, NULL);
    return id;
}

static int check(store *st, const char *secret, int64_t amount,
                 Quotad__CheckReply *out)
{
    Quotad__Check ck = QUOTAD__CHECK__INIT;
    ck.secret = (char *)secret;
    ck.has_amount = 1;
    ck.amount = amount;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CHECK;
    rq.check = &ck;
    Quotad__ServerFrame *sf = one(st, &rq);
    if (sf == NULL || sf->replies[0]->check == NULL) {
        quotad__server_frame__free_unpacked(sf, NULL);
        return -1;
    }
    *out = *sf->replies[0]->check;
    int d = sf->replies[0]->check->decision;
    quotad__server_frame__free_unpacked(sf, NULL);
    return d;
}

static void test_create_and_debit(void)
{
    store *st = open_store();
    T_REQUIRE(st != NULL);
    uint32_t ws = make_ws(st, 10000);
    T_REQUIRE(ws != 0);
    Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
    lim.has_quota_total = 1;
    lim.quota_total = 5000;
    char secret[128];
    uint64_t kid = make_key(st, ws, &lim, secret, sizeof(secret));
    if (kid == 0) {
        store_close(st);
    }
    T_REQUIRE(kid != 0);
    T_CHECK(strncmp(secret, "sk-", 3) == 0 && strlen(secret) == 67);
    Quotad__CheckReply cr;
    T_EQ_I64(check(st, secret, 3000, &cr), QUOTAD__DECISION__ALLOWED);
    T_EQ_I64(cr.charged, 3000);
    T_EQ_I64(cr.quota_remaining, 2000);
    T_EQ_I64(cr.wallet_balance, 7000);
    T_EQ_I64(check(st, secret, 3000, &cr), QUOTAD__DECISION__QUOTA_EXCEEDED);
    T_EQ_I64(cr.wallet_balance, 7000);
    secret[10] = secret[10] == 'a' ? 'b' : 'a';
    T_EQ_I64(check(st, secret, 1, &cr), QUOTAD__DECISION__INVALID_API_KEY);
    T_EQ_I64(check(st, "garbage", 1, &cr), QUOTAD__DECISION__INVALID_API_KEY);
    store_close(st);
}

static void test_malformed_frames(void)
{
    store *st = open_store();
    T_REQUIRE(st != NULL);
    ops_reply r;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    T_REQUIRE(ops_handle_frame(st, junk, sizeof(junk), &r) == 0);
    T_CHECK(r.close_after);
    Quotad__ServerFrame *sf =
        quotad__server_frame__unpack(NULL, r.len - 4, r.frame + 4);
    T_REQUIRE(sf != NULL && sf->n_replies == 1);
    T_EQ_I64(sf->replies[0]->code, QUOTAD__CODE__MALFORMED);
    quotad__server_frame__free_unpacked(sf, NULL);
    ops_reply_free(&r);
    /* a request with no operation */
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.has_id = 1;
    rq.id = 77;
    sf = one(st, &rq);
    T_REQUIRE(sf != NULL);
    T_EQ_I64(sf->replies[0]->id, 77);
    T_EQ_I64(sf->replies[0]->code, QUOTAD__CODE__UNKNOWN_OP);
    quotad__server_frame__free_unpacked(sf, NULL);
    store_close(st);
}

static void test_hold_expiry_sweep(void)
{
    store *st = open_store();
    T_REQUIRE(st != NULL);
    uint32_t ws = make_ws(st, 1000);
    char secret[128];
    T_REQUIRE(make_key(st, ws, NULL, secret, sizeof(secret)) != 0);
    Quotad__Check ck = QUOTAD__CHECK__INIT;
    ck.secret = secret;
    ck.has_amount = ck.has_hold = ck.has_hold_timeout_ms = 1;
    ck.amount = 400;
    ck.hold = 1;
    ck.hold_timeout_ms = 1000;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CHECK;
    rq.check = &ck;
    Quotad__ServerFrame *sf = one(st, &rq);
    T_REQUIRE(sf != NULL && sf->replies[0]->check != NULL);
    T_EQ_I64(sf->replies[0]->check->wallet_balance, 600);
    T_CHECK(sf->replies[0]->check->hold_id != 0);
    quotad__server_frame__free_unpacked(sf, NULL);
    T_EQ_I64(store_sweep(st, 0, 4, fake_now_ms + 999), 0);
    T_EQ_I64(store_sweep(st, 0, 4, fake_now_ms + 1000), 1);
    Quotad__CheckReply cr;
    T_EQ_I64(check(st, secret, 0, &cr), QUOTAD__DECISION__ALLOWED);
    T_EQ_I64(cr.wallet_balance, 1000);
    store_close(st);
}

/* ---- prepare / prefetch / run, as conn.c drives them ---- */

/* Encode reqs as a frame body into buf (caller frees *buf). */
static int encode_body(Quotad__Request **rq, size_t n, uint8_t **buf,
                       size_t *len)
{
    Quotad__ClientFrame cf = QUOTAD__CLIENT_FRAME__INIT;
    cf.n_requests = n;
    cf.requests = rq;
    return qd_frame_encode(&cf.base, FRAME_BYTES_MAX, buf, len);
}

static void prepare_one(store *st, Quotad__Request *rq, ops_prepared *p)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (encode_body(&rq, 1, &buf, &len) != 0) {
        abort();
    }
    ops_frame_prepare(st, buf + FRAME_HEADER_BYTES, len - FRAME_HEADER_BYTES,
                      p);
    free(buf);       /* a prepared frame keeps no pointer into the input */
}

/* Run p as session s; the single reply (caller frees the frame). */
static Quotad__ServerFrame *run_prepared(store *st, ops_session *s,
                                         ops_prepared *p)
{
    ops_reply r;
    int rc = ops_frame_run(st, s, p, &r);
    ops_prepared_free(p);
    if (rc != 0) {
        return NULL;
    }
    Quotad__ServerFrame *sf =
        quotad__server_frame__unpack(NULL, r.len - 4, r.frame + 4);
    ops_reply_free(&r);
    return sf;
}

static void mk_check(Quotad__Request *rq, Quotad__Check *ck,
                     const char *secret)
{
    quotad__check__init(ck);
    ck->secret = (char *)secret;
    ck->has_amount = 1;
    ck->amount = 10;
    quotad__request__init(rq);
    rq->op_case = QUOTAD__REQUEST__OP_CHECK;
    rq->check = ck;
}

static int sole_decision(Quotad__ServerFrame *sf)
{
    int d = -1;
    if (sf != NULL && sf->n_replies == 1 && sf->replies[0]->check != NULL) {
        d = sf->replies[0]->check->decision;
    }
    quotad__server_frame__free_unpacked(sf, NULL);
    return d;
}

/* Frames prepared before a key is deleted, rotated or created run with
 * the store as it is when they run, not as it was when prepared. */
static void test_prepared_see_later_changes(void)
{
    store *st = open_store();
    T_REQUIRE(st != NULL);
    uint32_t ws = make_ws(st, 10000);
    char a[128], b[128];
    uint64_t ka = make_key(st, ws, NULL, a, sizeof(a));
    T_REQUIRE(ka != 0 && make_key(st, ws, NULL, b, sizeof(b)) != 0);
    Quotad__Request rq[4];
    Quotad__Check ck[3];
    Quotad__KeyRef ref = QUOTAD__KEY_REF__INIT;
    ref.has_key_id = 1;
    ref.key_id = ka;
    mk_check(&rq[0], &ck[0], a);
    quotad__request__init(&rq[1]);
    rq[1].op_case = QUOTAD__REQUEST__OP_DELETE_KEY;
    rq[1].delete_key = &ref;
    mk_check(&rq[2], &ck[1], a);
    mk_check(&rq[3], &ck[2], b);
    ops_prepared p[4];
    for (int i = 0; i < 4; i++) {
        prepare_one(st, &rq[i], &p[i]);
    }
    ops_frames_prefetch(st, p, 4);
    ops_session root = {.role = QUOTAD__ROLE__ROLE_ROOT};
    T_EQ_I64(sole_decision(run_prepared(st, &root, &p[0])),
             QUOTAD__DECISION__ALLOWED);
    Quotad__ServerFrame *sf = run_prepared(st, &root, &p[1]);
    T_CHECK(sf != NULL && sf->replies[0]->code == QUOTAD__CODE__OK);
    quotad__server_frame__free_unpacked(sf, NULL);
    T_EQ_I64(sole_decision(run_prepared(st, &root, &p[2])),
             QUOTAD__DECISION__INVALID_API_KEY);
    T_EQ_I64(sole_decision(run_prepared(st, &root, &p[3])),
             QUOTAD__DECISION__ALLOWED);
    store_close(st);
}

/* Prepare depends on no session: a HELLO run between two prepared
 * frames applies to the second. A prepared frame never run counts in no
 * stat. */
static void test_prepared_session_and_stats(void)
{
    store *st = open_store();
    T_REQUIRE(st != NULL && sodium_init() >= 0);
    uint32_t ws = make_ws(st, 10000);
    char a[128];
    T_REQUIRE(make_key(st, ws, NULL, a, sizeof(a)) != 0);
    st->auth.required = st->auth.has_root = true;
    keyfmt_hash_bytes((const uint8_t *)TEST_ROOT_CRED,
                      strlen(TEST_ROOT_CRED), &st->auth.root);
    Quotad__Request rq[4];
    Quotad__Check ck[3];
    Quotad__Hello h = QUOTAD__HELLO__INIT;
    h.credential = TEST_ROOT_CRED;
    mk_check(&rq[0], &ck[0], a);
    quotad__request__init(&rq[1]);
    rq[1].op_case = QUOTAD__REQUEST__OP_HELLO;
    rq[1].hello = &h;
    mk_check(&rq[2], &ck[1], a);
    mk_check(&rq[3], &ck[2], "sk-short");
    ops_prepared p[4];
    uint64_t frames0 = atomic_load(&g_stats.frames);
    for (int i = 0; i < 4; i++) {
        prepare_one(st, &rq[i], &p[i]);
    }
    ops_frames_prefetch(st, p, 4);
    T_EQ_I64(atomic_load(&g_stats.frames), frames0);
    ops_session s = {.role = QUOTAD__ROLE__ROLE_NONE};
    Quotad__ServerFrame *sf = run_prepared(st, &s, &p[0]);
    T_CHECK(sf != NULL &&
            sf->replies[0]->code == QUOTAD__CODE__PERMISSION_DENIED);
    quotad__server_frame__free_unpacked(sf, NULL);
    sf = run_prepared(st, &s, &p[1]);
    T_CHECK(sf != NULL && sf->replies[0]->code == QUOTAD__CODE__OK);
    quotad__server_frame__free_unpacked(sf, NULL);
    T_EQ_I64(s.role, QUOTAD__ROLE__ROLE_ROOT);
    T_EQ_I64(sole_decision(run_prepared(st, &s, &p[2])),
             QUOTAD__DECISION__ALLOWED);
    ops_prepared_free(&p[3]);                  /* dropped, never run */
    T_EQ_I64(atomic_load(&g_stats.frames), frames0 + 3);
    store_close(st);
}

/* Refused frames are answered by run, exactly as ops_handle_frame does. */
static void test_prepared_refusals(void)
{
    store *st = open_store();
    T_REQUIRE(st != NULL);
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    const uint8_t empty_frame[] = {0x08, 0x01};     /* version 1, no rq */
    struct {
        const uint8_t *body;
        size_t len;
        int code;
    } cases[] = {
        {junk, sizeof(junk), QUOTAD__CODE__MALFORMED},
        {empty_frame, sizeof(empty_frame), QUOTAD__CODE__MALFORMED},
        {junk, 0, QUOTAD__CODE__MALFORMED},
    };
    ops_session root = {.role = QUOTAD__ROLE__ROLE_ROOT};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ops_prepared p;
        ops_frame_prepare(st, cases[i].body, cases[i].len, &p);
        ops_frames_prefetch(st, &p, 1);
        ops_reply r;
        T_REQUIRE(ops_frame_run(st, &root, &p, &r) == 0);
        ops_prepared_free(&p);
        T_CHECK(r.close_after);
        Quotad__ServerFrame *sf =
            quotad__server_frame__unpack(NULL, r.len - 4, r.frame + 4);
        T_CHECK(sf != NULL && sf->n_replies == 1 &&
                sf->replies[0]->code == (Quotad__Code)cases[i].code);
        quotad__server_frame__free_unpacked(sf, NULL);
        ops_reply_free(&r);
    }
    store_close(st);
}

int main(void)
{
    T_RUN(test_create_and_debit);
    T_RUN(test_malformed_frames);
    T_RUN(test_hold_expiry_sweep);
    T_RUN(test_prepared_see_later_changes);
    T_RUN(test_prepared_session_and_stats);
    T_RUN(test_prepared_refusals);
    return t_done();
}
