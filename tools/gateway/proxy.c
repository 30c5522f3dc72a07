/* proxy -- proxy mode intake: route, read the bearer and the body, price
 * the request, check-and-hold with quotad, then hand over to proxy_up.c.
 *
 * Hold estimate (integer micro-units, price table in price.c):
 *   prompt_est = ceil(body bytes / 4)            (~4 bytes per token)
 *   completion = max_tokens | max_completion_tokens | model default
 *   amount     = cost(prompt_est, completion)    (the hold asks for this)
 *   amount_min = cost(prompt_est, 0)             (but takes down to this)
 * so a generous max_tokens never blocks a key that can afford a short
 * reply; quotad reserves what is there between the two (docs/protocol.md).
 * tokens = prompt_est is counted against TPM at check time; settle adds
 * the real total.
 *
 * Routes: POST /v1/chat/completions, /v1/completions, /v1/embeddings
 * (priced, held, settled); GET /v1/models (a zero-amount debit check:
 * the key must be valid, RPM counts); everything else 404.
 */
#include "proxy.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/keyvalq_struct.h>

#define PROXY_BYTES_PER_TOKEN 4
#define PROXY_TOKENS_MAX INT64_C(1000000000)    /* quotad TOKENS_MAX */
#define PROXY_INJECT "\"stream_options\":{\"include_usage\":true},"
#define PROXY_HTTP_UNAUTHORIZED 401
#define PROXY_HTTP_BAD_GATEWAY 502

typedef enum proxy_kind {
    PK_NONE, PK_CHAT, PK_COMPLETIONS, PK_EMBEDDINGS, PK_MODELS,
} proxy_kind;

typedef struct proxy_body {
    char model[GW_MODEL_BYTES + 1];
    int64_t max_tokens;          /* -1 = not given */
    bool stream;
    bool has_stream_options;
} proxy_body;

/* What a check needs besides the call itself. */
typedef struct proxy_ask {
    const char *secret;
    const char *model;          /* NULL = none */
    int64_t amount, amount_min, tokens;
    bool hold;
} proxy_ask;

static proxy_kind proxy_route(struct evhttp_request *req)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (path == NULL)
        return PK_NONE;
    if (cmd == EVHTTP_REQ_POST) {
        if (strcmp(path, "/v1/chat/completions") == 0)
            return PK_CHAT;
        if (strcmp(path, "/v1/completions") == 0)
            return PK_COMPLETIONS;
        if (strcmp(path, "/v1/embeddings") == 0)
            return PK_EMBEDDINGS;
    }
    if (cmd == EVHTTP_REQ_GET && strcmp(path, "/v1/models") == 0)
        return PK_MODELS;
    return PK_NONE;
}

/* max_tokens and max_completion_tokens (newer chat API); the larger wins
 * so the hold is never smaller than what the upstream may produce. */
static const char *proxy_parse_max(const char *b, size_t n, proxy_body *pb)
{
    static const char *const keys[] = {"max_tokens",
                                       "max_completion_tokens"};
    pb->max_tokens = -1;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        gj_val v;
        int64_t x = 0;
        int rc = gj_get(b, n, keys[i], &v);
        if (rc == GJ_ABSENT || (rc == GJ_FOUND && v.type == GJ_NULL))
            continue;
        if (rc != GJ_FOUND || gj_uint(&v, &x) != 0 || x > PROXY_TOKENS_MAX)
            return "max_tokens must be a non-negative integer.";
        if (x > pb->max_tokens)
            pb->max_tokens = x;
    }
    return NULL;
}

/* The few top-level fields the gateway needs; NULL or a 400 message. */
static const char *proxy_parse(const char *b, size_t n, proxy_body *pb)
{
    gj_val v;
    memset(pb, 0, sizeof *pb);
    int rc = gj_get(b, n, "model", &v);
    if (rc == GJ_BAD)
        return "The request body is not valid JSON, or repeats a key.";
    if (rc == GJ_ABSENT || gj_str(&v, pb->model, sizeof pb->model) != 0 ||
        pb->model[0] == '\0')
        return "You must provide a model parameter (a string).";
    const char *why = proxy_parse_max(b, n, pb);
    if (why != NULL)
        return why;
    rc = gj_get(b, n, "stream", &v);
    if (rc == GJ_FOUND && v.type != GJ_TRUE && v.type != GJ_FALSE &&
        v.type != GJ_NULL)
        return "stream must be a boolean.";
    pb->stream = rc == GJ_FOUND && v.type == GJ_TRUE;
    rc = gj_get(b, n, "stream_options", &v);
    pb->has_stream_options = rc == GJ_FOUND && v.type != GJ_NULL;
    return NULL;
}

/* The body to send upstream: the client's, or with stream_options added
 * right after the opening brace (so the upstream reports usage). */
static struct evbuffer *proxy_body_out(struct evhttp_request *req,
                                       bool inject)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct evbuffer *out = evbuffer_new();
    if (out == NULL)
        return NULL;
    int rc = 0;
    if (inject) {
        size_t n = evbuffer_get_length(in);
        const char *b = (const char *)evbuffer_pullup(in, -1);
        const char *brace = b != NULL ? memchr(b, '{', n) : NULL;
        size_t at = brace != NULL ? (size_t)(brace - b) + 1 : 0;
        rc = evbuffer_add(out, b, at) != 0 ||
             evbuffer_add(out, PROXY_INJECT, strlen(PROXY_INJECT)) != 0 ||
             evbuffer_add(out, b + at, n - at) != 0;
    } else {
        rc = evbuffer_add_buffer(out, in);
    }
    if (rc != 0) {
        evbuffer_free(out);
        return NULL;
    }
    return out;
}

/* Log a denied or failed request; the secret never appears. */
static void proxy_log_deny(const gw_call *c, const qc_check_res *rs,
                           int status)
{
    gw_log(GW_LOG_INFO, "%s %d %s key=%llu ws=%u", c->path, status,
           qc_decision_str((int)rs->decision),
           (unsigned long long)rs->key_id, rs->workspace_id);
}

/* Allowed: the call owns the hold (if any); send the request upstream. */
static void proxy_forward(gw_call *c, const qc_check_res *rs, bool hold)
{
    c->hold_id = hold ? rs->hold_id : 0;
    c->reserved = rs->charged;
    c->key_id = rs->key_id;
    c->ws_id = rs->workspace_id;
    c->rpm_remaining = rs->rpm_remaining;
    c->tpm_remaining = rs->tpm_remaining;
    struct evbuffer *out = c->cmd == EVHTTP_REQ_POST
                               ? proxy_body_out(c->req, c->inject)
                               : evbuffer_new();
    if (out == NULL || proxy_up_start(c, out) != 0)
        proxy_up_failed(c);
    if (out != NULL)
        evbuffer_free(out);
}

/* quotad answered the check (from the event loop). */
static void proxy_checked(void *arg, int rc, const qc_check_res *rs)
{
    gw_call *c = arg;
    assert(c->q_busy);
    c->q_busy = false;
    bool allowed = rc == QC_OK && rs->decision == QC_ALLOWED;
    bool hold = c->price != NULL;
    if (c->req == NULL) {   /* the client left while quotad answered */
        c->hold_id = allowed && hold ? rs->hold_id : 0;
        proxy_call_abandon(c, "client_aborted");
        return;
    }
    if (allowed) {
        proxy_forward(c, rs, hold);
        return;
    }
    proxy_call_disarm(c);
    if (rc != QC_OK) {
        gw_reply_quotad_error(c->req, rc);
    } else {
        int status = gw_deny_status(c->w->cfg, rs->decision);
        proxy_log_deny(c, rs, status);
        gw_reply_deny(c->req, c->w->cfg, rs);
    }
    proxy_call_free(c);
}

/* Ask quotad; the answer arrives in proxy_checked. The call is armed
 * first, so a client gone meanwhile is known when it does. */
static void proxy_check(gw_call *c, const proxy_ask *a)
{
    gw_worker *w = c->w;
    qc_check_req rq = {.secret = a->secret, .model = a->model,
                       .client_ip = c->ip[0] != '\0' ? c->ip : NULL,
                       .amount = a->amount, .amount_min = a->amount_min,
                       .tokens = a->tokens, .idempotency_id = c->idem,
                       .hold = a->hold,
                       .hold_timeout_ms = w->cfg->hold_timeout_ms};
    int rc = gw_q_check(&w->q, &rq, proxy_checked, c);
    if (rc != QC_OK) {
        gw_reply_quotad_error(c->req, rc);
        proxy_call_free(c);
        return;
    }
    c->q_busy = true;
    proxy_call_arm(c);
}

static gw_call *proxy_call_new(gw_worker *w, struct evhttp_request *req,
                               const char *ip)
{
    gw_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        gw_reply_error(req, HTTP_INTERNAL, "out of memory", "server_error",
                       NULL);
        return NULL;
    }
    c->w = w;
    c->req = req;
    c->started_ms = gw_mono_ms();
    c->status = 0;
    c->cmd = EVHTTP_REQ_GET;
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    gw_qlink_idem(&w->q, c->idem, sizeof c->idem);
    gw_log_path(evhttp_request_get_uri(req), c->path, sizeof c->path);
    c->next = w->calls;
    if (w->calls != NULL)
        w->calls->prev = c;
    w->calls = c;
    return c;
}

/* The secret as a C string, wiped by the caller after use. */
static int proxy_secret(struct evhttp_request *req, char *out, size_t cap)
{
    size_t n = 0;
    const char *b = gw_bearer(req, &n);
    if (b == NULL || n + 1 > cap) {
        gw_reply_error(req, PROXY_HTTP_UNAUTHORIZED,
                       "You didn't provide a valid API key. Use "
                       "\"Authorization: Bearer YOUR_KEY\".",
                       "invalid_request_error", "invalid_api_key");
        return -1;
    }
    memcpy(out, b, n);
    out[n] = '\0';
    return 0;
}

/* Price and estimate; 0, or -1 after replying. */
static int proxy_estimate(gw_worker *w, struct evhttp_request *req,
                          proxy_kind kind, const proxy_body *pb,
                          size_t out_bytes, proxy_ask *a,
                          const gw_price **price)
{
    *price = gw_price_find(w->prices, pb->model);
    if (*price == NULL) {
        gw_reply_error(req, HTTP_NOTFOUND,
                       "The model does not exist or has no price.",
                       "invalid_request_error", "model_not_found");
        return -1;
    }
    int64_t prompt = (int64_t)((out_bytes + PROXY_BYTES_PER_TOKEN - 1) /
                               PROXY_BYTES_PER_TOKEN);
    int64_t completion = kind == PK_EMBEDDINGS ? 0
                         : pb->max_tokens >= 0 ? pb->max_tokens
                                               : (*price)->default_max_tokens;
    if (gw_cost(*price, prompt, completion, &a->amount) != 0 ||
        gw_cost(*price, prompt, 0, &a->amount_min) != 0) {
        gw_reply_error(req, HTTP_BADREQUEST,
                       "The request is too large to price.",
                       "invalid_request_error", "invalid_request");
        return -1;
    }
    a->tokens = prompt;
    a->hold = true;
    return 0;
}

/* Everything after the body was parsed: price, then check (which
 * forwards when allowed). */
static void proxy_priced(gw_worker *w, struct evhttp_request *req,
                         proxy_kind kind, const char *secret, const char *ip)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const char *b = (const char *)evbuffer_pullup(in, -1);
    proxy_body pb;
    const char *why = b == NULL ? "An empty body is not a request."
                                : proxy_parse(b, n, &pb);
    if (why != NULL) {
        gw_reply_error(req, HTTP_BADREQUEST, why, "invalid_request_error",
                       "invalid_request");
        return;
    }
    bool inject = pb.stream && !pb.has_stream_options && w->cfg->stream_usage
                  && kind != PK_EMBEDDINGS;
    size_t out_bytes = n + (inject ? strlen(PROXY_INJECT) : 0);
    proxy_ask a = {.secret = secret, .model = pb.model};
    const gw_price *price = NULL;
    if (proxy_estimate(w, req, kind, &pb, out_bytes, &a, &price) != 0)
        return;
    gw_call *c = proxy_call_new(w, req, ip);
    if (c == NULL)
        return;
    c->price = price;
    c->stream = pb.stream;
    c->prompt_est = a.tokens;
    c->inject = inject;
    c->cmd = EVHTTP_REQ_POST;
    snprintf(c->model, sizeof c->model, "%s", pb.model);
    proxy_check(c, &a);
}

/* GET /v1/models: the key must pass a zero-amount debit check. */
static void proxy_unpriced(gw_worker *w, struct evhttp_request *req,
                           const char *secret, const char *ip)
{
    gw_call *c = proxy_call_new(w, req, ip);
    if (c == NULL)
        return;
    proxy_ask a = {.secret = secret};
    proxy_check(c, &a);
}

void gw_proxy_handle(gw_worker *w, struct evhttp_request *req)
{
    proxy_kind kind = proxy_route(req);
    if (kind == PK_NONE) {
        gw_reply_error(req, HTTP_NOTFOUND, "Unknown request URL.",
                       "invalid_request_error", "unknown_url");
        return;
    }
    char secret[GW_SECRET_CHARS_MAX + 1];
    if (proxy_secret(req, secret, sizeof secret) != 0)
        return;
    char ip[GW_IP_BYTES];
    gw_client_ip(req, w->cfg, ip, sizeof ip);
    if (kind == PK_MODELS)
        proxy_unpriced(w, req, secret, ip);
    else
        proxy_priced(w, req, kind, secret, ip);
    explicit_bzero(secret, sizeof secret);
}

/* Workers stop, before evhttp is freed. Every call is detached from
 * its client (close callback disarmed); one with a quotad call in
 * flight ends in that call's callback, the rest are cancelled upstream
 * and voided. The drains wait until quotad has answered every check,
 * settle and void, so the client connections evhttp_free closes next
 * have their holds released already. */
void gw_proxy_shutdown(gw_worker *w)
{
    for (gw_call *c = w->calls; c != NULL; c = c->next) {
        proxy_call_disarm(c);
        c->req = NULL;      /* evhttp frees it with its connection */
    }
    gw_qlink_drain(&w->q);
    while (w->calls != NULL) {
        gw_call *c = w->calls;
        assert(!c->q_busy);
        if (c->up != NULL)
            evhttp_cancel_request(c->up);
        c->up = NULL;
        gw_pool_give(w, c->up_conn);
        c->up_conn = NULL;
        proxy_call_abandon(c, "gateway_stopped");
    }
    gw_qlink_drain(&w->q);
}
