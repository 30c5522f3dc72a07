/* ops -- frame decode, dispatch and encode; see ops.h. */
#include "ops.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "keyview.h"
#include "ops_internal.h"
#include "fastenc.h"
#include "qd_frame.h"
#include "plog.h"
#include "rec.h"
#include "stats.h"
#include "window.h"

void op_fail(op_ctx *c, Quotad__Reply *rp, Quotad__Code code,
             const char *fmt, ...)
{
    char buf[OPS_ERROR_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    rp->has_code = 1;
    rp->code = code;
    rp->error = arena_strdup(c->ar, buf);
    rp->result_case = QUOTAD__REPLY__RESULT__NOT_SET;
    op_seq(c, rp, store_current_seq(c->st));
}

void op_log(op_ctx *c, shard *sh, Quotad__LogRecord *r, uint64_t seq)
{
    if (c->st->plog == NULL) {
        return;
    }
    r->has_seq = 1;
    r->seq = seq;
    r->has_at_ms = 1;
    r->at_ms = c->now_ms;
    rec_append(sh, r);
}

int op_idem_lookup(op_ctx *c, shard *sh, idem_key ik, uint64_t in_hash,
                   void *answer, size_t answer_len, Quotad__Reply *rp)
{
    const idem_entry *e = idem_find(&sh->idem, ik, c->now_ms);
    if (e == NULL) {
        return 0;
    }
    if (e->input_hash != in_hash) {
        op_fail(c, rp, QUOTAD__CODE__IDEMPOTENCY_CONFLICT,
                "idempotency id reused with different input");
        return -1;
    }
    memcpy(answer, e->answer, answer_len);
    return 1;
}

void op_seq(op_ctx *c, Quotad__Reply *rp, uint64_t seq)
{
    rp->has_seq = 1;
    rp->seq = seq;
    if (seq > c->seq_max) {
        c->seq_max = seq;
    }
}

void op_reply_key(op_ctx *c, Quotad__Reply *rp, const key *k)
{
    rp->key = keyview_key(c->ar, k, c->st->opt.key_prefix, c->now_ms);
    if (rp->key == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "reply too large");
        return;
    }
    rp->result_case = QUOTAD__REPLY__RESULT_KEY;
}

void op_reply_ws(op_ctx *c, Quotad__Reply *rp, const workspace *w)
{
    rp->workspace = keyview_ws(c->ar, w);
    if (rp->workspace == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "reply too large");
        return;
    }
    rp->result_case = QUOTAD__REPLY__RESULT_WORKSPACE;
}

static void op_hello(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    const Quotad__Hello *h = rq->hello;
    if (h->has_version && h->version != PROTO_VERSION) {
        op_fail(c, rp, QUOTAD__CODE__VERSION_MISMATCH,
                "server speaks protocol %u", PROTO_VERSION);
        return;
    }
    if (h->credential != NULL && h->credential[0] != '\0') {
        uint8_t role = 0;
        uint32_t ws = 0;
        uint64_t key_id = 0;
        if (auth_login(c->st, h->credential, &role, &ws, &key_id) != 0) {
            STAT_INC(auth_failures);
            c->sess->failures++;
            op_fail(c, rp, QUOTAD__CODE__PERMISSION_DENIED,
                    "credential not accepted");
            return;
        }
        c->sess->role = role;
        c->sess->ws_id = ws;
        c->sess->key_id = key_id;
    }
    Quotad__HelloReply *hr = arena_alloc(c->ar, sizeof(*hr));
    if (hr == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    quotad__hello_reply__init(hr);
    hr->has_version = 1;
    hr->version = PROTO_VERSION;
    hr->server_name = "quotad";
    hr->has_frame_bytes_max = 1;
    hr->frame_bytes_max = FRAME_BYTES_MAX;
    hr->has_batch_ops_max = 1;
    hr->batch_ops_max = BATCH_OPS_MAX;
    hr->has_role = hr->has_workspace_id = 1;
    hr->role = (Quotad__Role)c->sess->role;
    hr->workspace_id = c->sess->ws_id;
    hr->has_server_time_ms = 1;
    hr->server_time_ms = c->now_ms;
    rp->hello = hr;
    rp->result_case = QUOTAD__REPLY__RESULT_HELLO;
    op_seq(c, rp, store_current_seq(c->st));
}

static void op_ping(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    Quotad__Pong *p = arena_alloc(c->ar, sizeof(*p));
    if (p == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    quotad__pong__init(p);
    if (rq->ping->has_payload) {
        p->has_payload = 1;
        p->payload = rq->ping->payload; /* lives until the frame is packed */
    }
    rp->pong = p;
    rp->result_case = QUOTAD__REPLY__RESULT_PONG;
    op_seq(c, rp, store_current_seq(c->st));
}

/* Snapshots run in their own thread: this only starts one or reports. */
static void op_snapshot(op_ctx *c, const Quotad__Request *rq,
                        Quotad__Reply *rp)
{
    plog *pl = c->st->plog;
    if (pl == NULL) {
        op_fail(c, rp, QUOTAD__CODE__FAILED_PRECONDITION,
                "persistence is off (persist = 0)");
        return;
    }
    Quotad__SnapshotReply *sr = arena_alloc(c->ar, sizeof(*sr));
    if (sr == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    quotad__snapshot_reply__init(sr);
    bool start = rq->snapshot->has_start && rq->snapshot->start;
    sr->has_started = sr->has_running = sr->has_last_seq = 1;
    sr->started = start && plog_snapshot_start(pl) == 0;
    sr->running = plog_snapshot_running(pl);
    sr->last_seq = plog_last_snapshot_seq(pl);
    rp->snapshot = sr;
    rp->result_case = QUOTAD__REPLY__RESULT_SNAPSHOT;
    op_seq(c, rp, store_current_seq(c->st));
}

/* Tests only: move the clock (windows, expiries) forward. */
static void op_debug_clock(op_ctx *c, const Quotad__Request *rq,
                           Quotad__Reply *rp)
{
    int64_t ms = rq->debug_clock->advance_ms;
    if (!c->st->test_hooks || ms < 0 || ms > WIN_DAY_MS * 400) {
        op_fail(c, rp, QUOTAD__CODE__FAILED_PRECONDITION,
                "debug_clock needs test_hooks = 1 and 0 <= advance_ms");
        return;
    }
    store_clock_test_advance(ms);
    op_seq(c, rp, store_current_seq(c->st));
}

/* One handler per oneof case; NULL = unknown operation. */
static op_handler handler_of(Quotad__Request__OpCase op)
{
    switch (op) {
    case QUOTAD__REQUEST__OP_HELLO: return op_hello;
    case QUOTAD__REQUEST__OP_PING: return op_ping;
    case QUOTAD__REQUEST__OP_CREATE_WORKSPACE: return op_create_workspace;
    case QUOTAD__REQUEST__OP_GET_WORKSPACE: return op_get_workspace;
    case QUOTAD__REQUEST__OP_UPDATE_WORKSPACE: return op_update_workspace;
    case QUOTAD__REQUEST__OP_ADJUST_WALLET: return op_adjust_wallet;
    case QUOTAD__REQUEST__OP_CREATE_KEY: return op_create_key;
    case QUOTAD__REQUEST__OP_GET_KEY: return op_get_key;
    case QUOTAD__REQUEST__OP_LIST_KEYS: return op_list_keys;
    case QUOTAD__REQUEST__OP_UPDATE_KEY: return op_update_key;
    case QUOTAD__REQUEST__OP_ENABLE_KEY: return op_enable_key;
    case QUOTAD__REQUEST__OP_DISABLE_KEY: return op_disable_key;
    case QUOTAD__REQUEST__OP_REVOKE_KEY: return op_revoke_key;
    case QUOTAD__REQUEST__OP_ROTATE_KEY: return op_rotate_key;
    case QUOTAD__REQUEST__OP_DELETE_KEY: return op_delete_key;
    case QUOTAD__REQUEST__OP_CHECK: return op_check;
    case QUOTAD__REQUEST__OP_SETTLE: return op_settle;
    case QUOTAD__REQUEST__OP_VOID_HOLD: return op_void_hold;
    case QUOTAD__REQUEST__OP_SNAPSHOT: return op_snapshot;
    case QUOTAD__REQUEST__OP_USAGE: return op_usage;
    case QUOTAD__REQUEST__OP_SET_ALERT: return op_set_alert;
    case QUOTAD__REQUEST__OP_WATCH: return op_watch;
    case QUOTAD__REQUEST__OP_DEBUG_CLOCK: return op_debug_clock;
    case QUOTAD__REQUEST__OP_STATS: return op_stats;
    default: return NULL;
    }
}

/* Durability is lost: refuse and say so. The refusal reflects only
 * durable state, so it is sent even though later seqs never will be
 * (op_fail would tie it to the current, never-durable seq). */
static void at_durable_seq(op_ctx *c, Quotad__Reply *rp, uint64_t max_before)
{
    uint64_t durable = c->st->plog ? plog_durable_seq(c->st->plog) : 0;
    rp->seq = durable;
    c->seq_max = max_before > durable ? max_before : durable;
}

static void dispatch(op_ctx *c, const Quotad__ClientFrame *f,
                     const Quotad__Request *rq, Quotad__Reply *rp)
{
    quotad__reply__init(rp);
    rp->has_id = 1;
    rp->id = rq->id;
    rp->has_code = 1;
    rp->code = QUOTAD__CODE__OK;
    if (f->has_version && f->version != PROTO_VERSION) {
        op_fail(c, rp, QUOTAD__CODE__VERSION_MISMATCH,
                "server speaks protocol %u", PROTO_VERSION);
        return;
    }
    op_handler h = handler_of(rq->op_case);
    if (h == NULL) {
        op_fail(c, rp, QUOTAD__CODE__UNKNOWN_OP, "unknown operation");
        return;
    }
    /* ws 0 names no workspace (hello, ping; check finds its own from the
     * secret; watch 0 = "my scope"): only the role table applies. */
    uint32_t rq_ws = auth_request_ws(rq);
    if (!auth_op_allowed(c->sess->role, rq->op_case) ||
        (rq_ws != 0 && !auth_ws_allowed(c->sess, rq_ws))) {
        STAT_INC(permission_denied);
        op_fail(c, rp, QUOTAD__CODE__PERMISSION_DENIED,
                c->sess->role == QUOTAD__ROLE__ROLE_NONE
                    ? "authenticate first (hello with a credential)"
                    : "role %s may not do this here",
                auth_role_str(c->sess->role));
        return;
    }
    if (atomic_load(&c->st->read_only)) {
        /* Memory now holds changes that will never be durable: only
         * hello, ping and stats answer (at the durable seq), so clients
         * and operators can still connect and see why. */
        bool diag = rq->op_case == QUOTAD__REQUEST__OP_HELLO ||
                    rq->op_case == QUOTAD__REQUEST__OP_PING ||
                    rq->op_case == QUOTAD__REQUEST__OP_STATS;
        uint64_t max_before = c->seq_max;
        if (diag) {
            h(c, rq, rp);
        } else {
            op_fail(c, rp, QUOTAD__CODE__UNAVAILABLE,
                    "durability lost (log write or fsync failed): refused "
                    "until restart");
        }
        at_durable_seq(c, rp, max_before);
        return;
    }
    STAT_INC(requests);
    h(c, rq, rp);
}

/* Pack replies; if they do not fit in one frame (many big lists in one
 * batch), answer every request with LIMIT_REACHED instead. */
static int encode_replies(op_ctx *c, Quotad__ServerFrame *sf,
                          ops_reply *out)
{
    int fast = fastenc_server_frame(sf, FRAME_BYTES_MAX, &out->frame,
                                    &out->len);
    if (fast == 1) {
        return 0;
    }
    if (fast == 0 && qd_frame_encode(&sf->base, FRAME_BYTES_MAX, &out->frame,
                        &out->len) == 0) {
        return 0;
    }
    for (size_t i = 0; i < sf->n_replies; i++) {
        op_fail(c, sf->replies[i], QUOTAD__CODE__LIMIT_REACHED,
                "replies exceed one frame; split the batch");
    }
    return qd_frame_encode(&sf->base, FRAME_BYTES_MAX, &out->frame,
                           &out->len);
}

static int run_frame(store *st, ops_session *s, arena *ar,
                     const ops_prepared *p, ops_reply *out)
{
    const Quotad__ClientFrame *f = p->f;
    op_ctx c = {.st = st, .ar = ar, .now_ms = st->now_ms(), .seq_max = 0,
                .sess = s};
    Quotad__Reply *replies = arena_alloc(ar, f->n_requests * sizeof(*replies));
    Quotad__Reply **ptrs = arena_alloc(ar, f->n_requests * sizeof(*ptrs));
    if (replies == NULL || ptrs == NULL) {
        return -1;
    }
    for (size_t i = 0; i < f->n_requests; i++) {
        c.ck_prep = p->checks != NULL ? &p->checks[i] : NULL;
        dispatch(&c, f, f->requests[i], &replies[i]);
        ptrs[i] = &replies[i];
    }
    Quotad__ServerFrame sf = QUOTAD__SERVER_FRAME__INIT;
    sf.has_version = 1;
    sf.version = PROTO_VERSION;
    sf.n_replies = f->n_requests;
    sf.replies = ptrs;
    out->seq_needed = c.seq_max;
    return encode_replies(&c, &sf, out);
}

int ops_handle_frame(store *st, const uint8_t *body, size_t len,
                     ops_reply *out)
{
    ops_session root = {.role = QUOTAD__ROLE__ROLE_ROOT};
    return ops_handle_frame_as(st, &root, body, len, out);
}

int ops_handle_frame_as(store *st, ops_session *s, const uint8_t *body,
                        size_t len, ops_reply *out)
{
    ops_prepared p;
    ops_frame_prepare(st, body, len, &p);
    int rc = ops_frame_run(st, s, &p, out);
    ops_prepared_free(&p);
    return rc;
}

void ops_frame_prepare(store *st, const uint8_t *body, size_t len,
                       ops_prepared *p)
{
    p->f = NULL;
    p->checks = NULL;
    p->refuse = OPS_REFUSE_NONE;
    fheap_init(&p->heap, DECODE_HEAP_BYTES_MAX);
    Quotad__ClientFrame *f =
        quotad__client_frame__unpack(&p->heap.base, len, body);
    if (f == NULL || len == 0) {
        p->refuse = OPS_REFUSE_MALFORMED;
    } else if (f->n_requests == 0) {
        p->refuse = OPS_REFUSE_EMPTY;
    } else if (f->n_requests > BATCH_OPS_MAX) {
        p->refuse = OPS_REFUSE_BATCH;
    }
    if (p->refuse != OPS_REFUSE_NONE) {
        return;        /* f, if any, goes with the heap */
    }
    p->f = f;
    p->checks = op_checks_prepare(st, f, &p->heap);
}

/* The reply to a frame prepare refused, with its stat. */
static int refuse_frame(int refuse, ops_reply *out)
{
    switch (refuse) {
    case OPS_REFUSE_EMPTY:
        STAT_INC(frames_malformed);
        return ops_error_frame(QUOTAD__CODE__MALFORMED,
                               "frame holds no request", out);
    case OPS_REFUSE_BATCH:
        STAT_INC(frames_batch_too_large);
        return ops_error_frame(QUOTAD__CODE__BATCH_TOO_LARGE,
                               "more than 256 requests", out);
    default:
        assert(refuse == OPS_REFUSE_MALFORMED);
        STAT_INC(frames_malformed);
        return ops_error_frame(QUOTAD__CODE__MALFORMED,
                               "frame is not a ClientFrame", out);
    }
}

int ops_frame_run(store *st, ops_session *s, ops_prepared *p,
                  ops_reply *out)
{
    memset(out, 0, sizeof(*out));
    STAT_INC(frames);
    if (p->refuse != OPS_REFUSE_NONE) {
        return refuse_frame(p->refuse, out);
    }
    assert(p->f != NULL);
    arena ar;
    arena_init(&ar);
    auth_session_refresh(st, s);
    int rc = run_frame(st, s, &ar, p, out);
    if (s->failures >= AUTH_FAILURES_MAX) {
        out->close_after = true; /* stop credential guessing here */
    }
    arena_free(&ar);
    assert(rc != 0 || out->frame != NULL);
    return rc;
}

void ops_prepared_free(ops_prepared *p)
{
    p->f = NULL;          /* frees nothing of its own: all in the heap */
    p->checks = NULL;
    fheap_free_all(&p->heap);
}

int ops_single_frame(Quotad__Reply *rp, ops_reply *out)
{
    Quotad__Reply *ptr = rp;
    Quotad__ServerFrame sf = QUOTAD__SERVER_FRAME__INIT;
    sf.has_version = 1;
    sf.version = PROTO_VERSION;
    sf.n_replies = 1;
    sf.replies = &ptr;
    return qd_frame_encode(&sf.base, FRAME_BYTES_MAX, &out->frame, &out->len);
}

int ops_error_frame(uint32_t code, const char *msg, ops_reply *out)
{
    memset(out, 0, sizeof(*out));
    Quotad__Reply rp = QUOTAD__REPLY__INIT;
    rp.has_id = 1;
    rp.id = 0;
    rp.has_code = 1;
    rp.code = (Quotad__Code)code;
    rp.error = (char *)msg;
    out->close_after = true;
    return ops_single_frame(&rp, out);
}

void ops_reply_free(ops_reply *r)
{
    free(r->frame);
    r->frame = NULL;
    r->len = 0;
}
