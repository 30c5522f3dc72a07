/* proxy_up -- the upstream half of a proxied request and its accounting.
 *
 * Money policy (every path ends in exactly one settle or void):
 *  - upstream 2xx with usage      settle(cost(usage), real tokens)
 *  - upstream 2xx without usage   settle(the reserved hold): the work was
 *                                 done and its size is unknown (the proxy
 *                                 adds stream_options.include_usage so
 *                                 OpenAI-compatible streams report it)
 *  - upstream non-2xx             void (pass the upstream error through)
 *  - upstream unreachable / cut   void; 502, or an SSE error event when
 *                                 the stream had started (if the usage
 *                                 event already arrived, settle with it)
 *  - client aborts mid-request    cancel upstream, void (not charged)
 *  - gateway shutdown             cancel upstream, void
 * The hold is settled or voided before the reply (or a stream's last
 * chunk) is sent: the reply waits for quotad's answer (up_account), so a
 * client that reads its balance after the reply sees the final charge.
 */
#include "proxy.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/bufferevent.h>

#define UP_URI_BYTES 4096u
#define UP_HOST_HDR_BYTES (GW_HOST_BYTES + 16u)
#define UP_AUTH_HDR_BYTES (GW_UPSTREAM_KEY_BYTES + 16u)
#define UP_XFF_BYTES 1024u
#define UP_CLIENT_BEHIND_MAX (16u * 1024u * 1024u)  /* unsent reply bytes */
#define UP_CLIENT_INPUT_MAX (1024u * 1024u)   /* bytes a streaming client
                                                 may send meanwhile */
#define UP_SSE_TYPE "text/event-stream"
#define UP_HTTP_BAD_GATEWAY 502
#define UP_HTTP_OK_MIN 200
#define UP_HTTP_OK_MAX 299
#define UP_SSE_ERROR                                                       \
    "data: {\"error\":{\"message\":\"The upstream connection failed "      \
    "mid-stream.\",\"type\":\"server_error\",\"param\":null,"              \
    "\"code\":\"upstream_error\"}}\n\n"

static void up_client_closed(struct evhttp_connection *conn, void *arg);

static bool up_ok(int code)
{
    return code >= UP_HTTP_OK_MIN && code <= UP_HTTP_OK_MAX;
}

void proxy_call_arm(gw_call *c)
{
    if (c->client != NULL || c->req == NULL)
        return;
    c->client = evhttp_request_get_connection(c->req);
    if (c->client != NULL)
        evhttp_connection_set_closecb(c->client, up_client_closed, c);
}

void proxy_call_disarm(gw_call *c)
{
    if (c->client != NULL)
        evhttp_connection_set_closecb(c->client, NULL, NULL);
    c->client = NULL;
}

void proxy_call_free(gw_call *c)
{
    gw_worker *w = c->w;
    assert(!c->q_busy);
    proxy_call_disarm(c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (w->calls == c)
        w->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    if (c->copy != NULL)
        evbuffer_free(c->copy);
    if (c->reply != NULL)
        evbuffer_free(c->reply);
    free(c->sse);
    free(c);
}

void proxy_call_void(gw_call *c)
{
    if (c->hold_id == 0)
        return;
    if (gw_q_void(&c->w->q, c->hold_id, NULL, NULL) != QC_OK)
        gw_log(GW_LOG_ERROR, "void hold %llu: out of memory; quotad "
               "releases it after hold_timeout_ms",
               (unsigned long long)c->hold_id);
    c->hold_id = 0;
}

void proxy_call_log(const gw_call *c, const char *outcome)
{
    gw_log(GW_LOG_INFO, "%s %d %s key=%llu ws=%u model=%s reserved=%lld "
           "charged=%lld tokens=%lld+%lld %lldms", c->path, c->status,
           outcome, (unsigned long long)c->key_id, c->ws_id, c->model,
           (long long)c->reserved, (long long)c->charged,
           (long long)c->usage.prompt, (long long)c->usage.completion,
           (long long)(gw_mono_ms() - c->started_ms));
}

void proxy_call_abandon(gw_call *c, const char *outcome)
{
    proxy_call_void(c);
    c->status = 499;    /* nginx's "client closed request" */
    proxy_call_log(c, outcome);
    proxy_call_free(c);
}

/* The hold is closed (from the event loop): answer the client, or end a
 * call whose client left meanwhile. */
static void up_accounted(void *arg, int rc, const qc_settle_res *rs)
{
    gw_call *c = arg;
    assert(c->q_busy);
    c->q_busy = false;
    if (rc == QC_OK && c->settling)
        c->charged = rs->charged;
    if (c->req == NULL) {
        proxy_call_abandon(c, "client_aborted");
        return;
    }
    c->then(c);
}

/* Close the hold: settle (the real cost, or the hold when usage is
 * unknown) or void; then(c) runs once quotad has answered, or at once
 * when there is no hold. */
static void up_account(gw_call *c, bool settle, const gw_usage *u,
                       bool have, void (*then)(gw_call *))
{
    uint64_t hold = c->hold_id;
    int rc = QC_OK;
    c->hold_id = 0;
    c->then = then;
    if (hold == 0) {
        then(c);
        return;
    }
    if (settle) {
        int64_t cost = c->reserved, tokens = c->prompt_est;
        if (have && c->price != NULL &&
            gw_cost(c->price, u->prompt, u->completion, &cost) == 0) {
            tokens = u->prompt + u->completion;
            c->usage = *u;
            c->have_usage = true;
        } else {
            cost = c->reserved;
            gw_log(GW_LOG_WARN, "hold %llu: no usage in the upstream reply; "
                   "charging the hold", (unsigned long long)hold);
        }
        char idem[GW_IDEM_BYTES + 4];
        snprintf(idem, sizeof idem, "%s-s", c->idem);
        rc = gw_q_settle(&c->w->q, hold, cost, tokens, idem, up_accounted,
                         c);
    } else {
        rc = gw_q_void(&c->w->q, hold, up_accounted, c);
    }
    if (rc != QC_OK) {
        gw_log(GW_LOG_ERROR, "hold %llu: cannot queue its %s (%s); quotad "
               "releases it after hold_timeout_ms", (unsigned long long)hold,
               settle ? "settle" : "void", qc_strerror(rc));
        then(c);
        return;
    }
    c->settling = settle;
    c->q_busy = true;
}

/* Give the upstream connection back (never freed inside its callback). */
static void up_release(gw_call *c)
{
    gw_pool_give(c->w, c->up_conn);
    c->up_conn = NULL;
    c->up = NULL;
}

static void up_send_failed(gw_call *c)
{
    proxy_call_disarm(c);
    c->status = UP_HTTP_BAD_GATEWAY;
    gw_reply_error(c->req, UP_HTTP_BAD_GATEWAY,
                   "The upstream did not answer.", "server_error",
                   "upstream_error");
    proxy_call_log(c, "upstream_failed");
    proxy_call_free(c);
}

void proxy_up_failed(gw_call *c)
{
    up_account(c, false, NULL, false, up_send_failed);
}

/* Non-stream reply, once the hold is closed. */
static void up_send_plain(gw_call *c)
{
    proxy_call_disarm(c);
    c->status = c->up_code;
    if (up_ok(c->up_code)) {
        qc_check_res rl = {.rpm_remaining = c->rpm_remaining,
                           .tpm_remaining = c->tpm_remaining};
        gw_ratelimit_headers(c->req, &rl);
    }
    evhttp_send_reply(c->req, c->up_code, c->code_line, c->reply);
    proxy_call_log(c, c->outcome);
    proxy_call_free(c);
}

/* Non-stream reply: the whole body is in up's input buffer, which dies
 * with up, so it moves to the call while the hold is closed. */
static void up_plain_done(gw_call *c, struct evhttp_request *up, int code)
{
    c->reply = code != 0 ? evbuffer_new() : NULL;
    if (c->reply == NULL) {
        proxy_up_failed(c);
        return;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer(up);
    const char *line = evhttp_request_get_response_code_line(up);
    snprintf(c->code_line, sizeof c->code_line, "%s",
             line != NULL ? line : "");
    gw_copy_reply_headers(up, c->req);
    if (evbuffer_add_buffer(c->reply, body) != 0) {
        proxy_up_failed(c);
        return;
    }
    c->up_code = code;
    c->outcome = c->price == NULL ? "forwarded"
                 : up_ok(code)    ? "settled"
                                  : "voided";
    gw_usage u = {0, 0};
    bool have = false;
    if (up_ok(code)) {
        size_t n = evbuffer_get_length(c->reply);
        const char *p = (const char *)evbuffer_pullup(c->reply, -1);
        have = p != NULL && gw_usage_parse(p, n, &u) == GJ_FOUND;
    }
    up_account(c, up_ok(code), &u, have, up_send_plain);
}

/* The usage of a finished stream: from SSE, or from a JSON copy when
 * the upstream answered a stream request with plain JSON. */
static bool up_stream_usage(gw_call *c, gw_usage *u)
{
    if (c->up_sse) {
        *u = c->sse->usage;
        return c->sse->have_usage;
    }
    if (c->copy == NULL)
        return false;
    size_t n = evbuffer_get_length(c->copy);
    const char *p = (const char *)evbuffer_pullup(c->copy, -1);
    return p != NULL && gw_usage_parse(p, n, u) == GJ_FOUND;
}

/* End of a stream, once the hold is closed. */
static void up_send_stream_end(gw_call *c)
{
    proxy_call_disarm(c);
    if (c->up_code == 0 && gw_client_alive(c->req)) {
        struct evbuffer *e = evbuffer_new();
        if (e != NULL && evbuffer_add(e, UP_SSE_ERROR,
                                      strlen(UP_SSE_ERROR)) == 0)
            evhttp_send_reply_chunk(c->req, e);
        if (e != NULL)
            evbuffer_free(e);
    }
    evhttp_send_reply_end(c->req);
    proxy_call_log(c, c->outcome);
    proxy_call_free(c);
}

static void up_stream_done(gw_call *c, int code)
{
    gw_usage u = {0, 0};
    bool have = up_stream_usage(c, &u);
    if (!c->started) {
        proxy_up_failed(c);
        return;
    }
    c->up_code = code;
    bool settle = false;
    if (code != 0 && up_ok(c->status)) {
        settle = true;
        c->outcome = "settled";
    } else if (code == 0 && have) {
        settle = true;      /* cut after the usage event */
        c->outcome = "settled_cut";
    } else {
        have = false;
        c->outcome = code == 0 ? "upstream_cut" : "voided";
    }
    up_account(c, settle, &u, have, up_send_stream_end);
}

/* Completion (or failure: up NULL or status 0) of the upstream request. */
static void up_done(struct evhttp_request *up, void *arg)
{
    gw_call *c = arg;
    int code = up != NULL ? evhttp_request_get_response_code(up) : 0;
    up_release(c);
    if (c->stream)
        up_stream_done(c, code);
    else
        up_plain_done(c, up, code);
}

/* evhttp stops reading a client once its request is in, so a client that
 * hangs up while a stream is idle would go unnoticed until the next
 * write. Once the reply has started evhttp has no read callback set, so
 * reading again only buffers bytes and reports EOF: the close callback
 * then voids the hold at once. */
static void up_watch_client(gw_call *c)
{
    struct evhttp_connection *cc = evhttp_request_get_connection(c->req);
    struct bufferevent *bev =
        cc != NULL ? evhttp_connection_get_bufferevent(cc) : NULL;
    if (bev != NULL && bufferevent_enable(bev, EV_READ) != 0)
        gw_log(GW_LOG_WARN, "%s: cannot watch the client for a hang-up",
               c->path);
}

/* Bytes a client sent while its stream runs: kept for evhttp to parse
 * as its next request, but not without bound. */
static void up_limit_client_input(gw_call *c)
{
    struct evhttp_connection *cc = evhttp_request_get_connection(c->req);
    struct bufferevent *bev =
        cc != NULL ? evhttp_connection_get_bufferevent(cc) : NULL;
    struct evbuffer *in = bev != NULL ? bufferevent_get_input(bev) : NULL;
    if (in != NULL && evbuffer_get_length(in) > UP_CLIENT_INPUT_MAX) {
        gw_log(GW_LOG_WARN, "%s: client sent too much during its stream; "
               "dropped", c->path);
        evbuffer_drain(in, evbuffer_get_length(in));
    }
}

/* Stream: status and headers arrived; start the client's reply. */
static int up_header(struct evhttp_request *up, void *arg)
{
    gw_call *c = arg;
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(up),
                                        "Content-Type");
    if (!gw_client_alive(c->req))
        return -1;      /* fails the upstream request: up_done voids */
    c->status = evhttp_request_get_response_code(up);
    c->up_sse = ct != NULL &&
                strncasecmp(ct, UP_SSE_TYPE, strlen(UP_SSE_TYPE)) == 0;
    if (!c->up_sse && (c->copy = evbuffer_new()) == NULL)
        return -1;
    gw_copy_reply_headers(up, c->req);
    if (up_ok(c->status)) {
        qc_check_res rl = {.rpm_remaining = c->rpm_remaining,
                           .tpm_remaining = c->tpm_remaining};
        gw_ratelimit_headers(c->req, &rl);
    }
    evhttp_send_reply_start(c->req, c->status,
                            evhttp_request_get_response_code_line(up));
    c->started = true;
    up_watch_client(c);
    return 0;
}

/* Bytes of reply queued for the client and not yet written. */
static size_t up_client_behind(gw_call *c)
{
    struct evhttp_connection *cc = evhttp_request_get_connection(c->req);
    struct bufferevent *bev =
        cc != NULL ? evhttp_connection_get_bufferevent(cc) : NULL;
    return bev != NULL ? evbuffer_get_length(bufferevent_get_output(bev))
                       : 0;
}

/* Stream: scan for usage, then pass the bytes on unchanged. */
static void up_chunk(struct evhttp_request *up, void *arg)
{
    gw_call *c = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(up);
    if (c->up_sse) {
        gw_sse_feed_buffer(c->sse, in);
    } else if (c->copy != NULL &&
               evbuffer_get_length(c->copy) + evbuffer_get_length(in) <=
                   c->w->cfg->reply_bytes_max) {
        if (gw_buffer_copy(c->copy, in) != 0)
            gw_log(GW_LOG_WARN, "out of memory copying a reply");
    }
    if (!c->client_slow && up_client_behind(c) > UP_CLIENT_BEHIND_MAX) {
        c->client_slow = true;
        gw_log(GW_LOG_WARN, "%s: client too slow; dropping the rest of the "
               "stream", c->path);
    }
    if (!c->client_slow)
        evhttp_send_reply_chunk(c->req, in);
    up_limit_client_input(c);
}

/* The client left: stop the upstream and release the hold now. With a
 * quotad call in flight, that call's callback ends the request. */
static void up_client_closed(struct evhttp_connection *conn, void *arg)
{
    gw_call *c = arg;
    (void)conn;
    c->client = NULL;   /* this connection is being freed */
    if (c->up != NULL)
        evhttp_cancel_request(c->up);
    up_release(c);
    /* A request cut from its connection is ours to free; one still on
     * it is freed with the connection. */
    if (c->req != NULL && evhttp_request_get_connection(c->req) == NULL)
        evhttp_request_free(c->req);
    c->req = NULL;
    if (!c->q_busy)
        proxy_call_abandon(c, "client_aborted");
}

/* Host header value; IPv6 literals need brackets. */
static void up_host_header(const gw_config *cfg, char *out, size_t cap)
{
    if (strchr(cfg->up_host, ':') != NULL)
        snprintf(out, cap, "[%s]:%u", cfg->up_host, (unsigned)cfg->up_port);
    else
        snprintf(out, cap, "%s:%u", cfg->up_host, (unsigned)cfg->up_port);
}

/* Headers for upstream: the client's (filtered), our Host, our key, and
 * X-Forwarded-For with the client appended. */
static void up_headers(gw_call *c, struct evhttp_request *req,
                       struct evhttp_request *up, const char *client_ip)
{
    const gw_config *cfg = c->w->cfg;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(up);
    char v[UP_AUTH_HDR_BYTES > UP_XFF_BYTES ? UP_AUTH_HDR_BYTES
                                            : UP_XFF_BYTES];
    gw_copy_request_headers(req, up);
    evhttp_remove_header(out, "X-Forwarded-For");
    up_host_header(cfg, v, sizeof v);
    evhttp_add_header(out, "Host", v);
    if (cfg->upstream_key[0] != '\0') {
        snprintf(v, sizeof v, "Bearer %s", cfg->upstream_key);
        evhttp_add_header(out, "Authorization", v);
    }
    const char *xff = evhttp_find_header(in, "X-Forwarded-For");
    int n = xff != NULL ? snprintf(v, sizeof v, "%s, %s", xff, client_ip)
                        : -1;
    if (n < 0 || (size_t)n >= sizeof v)
        n = snprintf(v, sizeof v, "%s", client_ip);
    if (client_ip[0] != '\0' && n > 0)
        evhttp_add_header(out, "X-Forwarded-For", v);
    if (evhttp_find_header(out, "Content-Type") == NULL &&
        evhttp_request_get_command(req) == EVHTTP_REQ_POST)
        evhttp_add_header(out, "Content-Type", "application/json");
}

int proxy_up_start(gw_call *c, struct evbuffer *body)
{
    gw_worker *w = c->w;
    struct evhttp_request *req = c->req;
    char uri[UP_URI_BYTES];
    int n = snprintf(uri, sizeof uri, "%s%s", w->cfg->up_base_path,
                     evhttp_request_get_uri(req));
    if (n < 0 || (size_t)n >= sizeof uri)
        return -1;
    if (c->stream && (c->sse = malloc(sizeof *c->sse)) == NULL)
        return -1;
    if (c->sse != NULL)
        gw_sse_init(c->sse);
    c->up_conn = gw_pool_take(w, c->stream);
    struct evhttp_request *up =
        c->up_conn != NULL ? evhttp_request_new(up_done, c) : NULL;
    if (up == NULL) {
        up_release(c);
        return -1;
    }
    if (c->stream) {
        evhttp_request_set_header_cb(up, up_header);
        evhttp_request_set_chunked_cb(up, up_chunk);
    }
    up_headers(c, req, up, c->ip);
    if (evbuffer_add_buffer(evhttp_request_get_output_buffer(up), body)) {
        evhttp_request_free(up);
        up_release(c);
        return -1;
    }
    c->up = up;
    if (evhttp_make_request(c->up_conn, up, c->cmd, uri) != 0) {
        c->up = NULL;   /* libevent owns (or freed) it now */
        up_release(c);
        return -1;
    }
    proxy_call_arm(c);
    return 0;
}
