/* fake -- a tiny OpenAI-compatible upstream for tests and benchmarks
 * (mode = fake_upstream). Deterministic, so tests can predict money:
 *
 *   prompt_tokens     = max(1, request body bytes / 4)
 *   completion_tokens = min(fake_completion_tokens, max_tokens if given)
 *
 * POST /v1/chat/completions   JSON, or SSE when "stream": true: content
 *     events, a finish event, then (stream_options.include_usage) an
 *     event with "choices": [] and "usage", then "data: [DONE]".
 * POST /v1/completions        JSON (text_completion)
 * POST /v1/embeddings         JSON, usage without completion tokens
 * GET  /v1/models             a short list
 * Special models: "fail-500" answers 500; "slow-*" streams one event per
 * fake_stream_delay_ms; "cut-stream" sends two slow events and then drops
 * the connection (an upstream dying mid-stream); "hang-stream" pauses
 * FAKE_HANG_MS after its first event (a client abort lands mid-stream).
 * With fake_expect_auth set, any other Authorization value gets 401, so a
 * test proves the gateway swapped the client's key for its own.
 */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/keyvalq_struct.h>

#define FAKE_CREATED 1700000000
#define FAKE_BYTES_PER_TOKEN 4
#define FAKE_EMBED_DIMS 8
#define FAKE_CUT_AFTER 2u
#define FAKE_HTTP_UNAUTHORIZED 401
#define FAKE_SLOW_PREFIX "slow-"
#define FAKE_CUT_MODEL "cut-stream"
#define FAKE_FAIL_MODEL "fail-500"
#define FAKE_HANG_MODEL "hang-stream"
#define FAKE_HANG_MS 20000       /* hang-stream: pause after event 0 */

typedef struct fake_req {
    char model[GW_MODEL_BYTES + 1];
    bool stream, include_usage;
    int64_t prompt, completion;
    uint64_t id;
} fake_req;

typedef struct fake_stream {
    gw_worker *w;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct event *timer;
    fake_req r;
    unsigned sent;
    struct fake_stream *next, *prev;
} fake_stream;

typedef struct fake_state {
    fake_stream *streams;
    uint64_t next_id;
} fake_state;

int gw_fake_init(gw_worker *w)
{
    w->fake = calloc(1, sizeof(fake_state));
    return w->fake != NULL ? 0 : -1;
}

static void fake_reply(struct evhttp_request *req, int status,
                       struct evbuffer *b)
{
    gw_reply_json(req, status, b);
}

/* Parse what the fake needs; -1 on a body the real API would refuse. */
static int fake_parse(gw_worker *w, struct evhttp_request *req, fake_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const char *b = (const char *)evbuffer_pullup(in, -1);
    gj_val v;
    memset(r, 0, sizeof *r);
    if (b == NULL || gj_get(b, n, "model", &v) != GJ_FOUND ||
        gj_str(&v, r->model, sizeof r->model) != 0)
        return -1;
    r->stream = gj_get(b, n, "stream", &v) == GJ_FOUND && v.type == GJ_TRUE;
    r->include_usage =
        gj_get(b, n, "stream_options.include_usage", &v) == GJ_FOUND &&
        v.type == GJ_TRUE;
    int64_t max = -1, x = 0;
    if ((gj_get(b, n, "max_tokens", &v) == GJ_FOUND ||
         gj_get(b, n, "max_completion_tokens", &v) == GJ_FOUND) &&
        gj_uint(&v, &x) == 0)
        max = x;
    r->prompt = (int64_t)(n / FAKE_BYTES_PER_TOKEN);
    if (r->prompt < 1)
        r->prompt = 1;
    r->completion = w->cfg->fake_completion_tokens;
    if (max >= 0 && max < r->completion)
        r->completion = max;
    r->id = ++((fake_state *)w->fake)->next_id;
    return 0;
}

static int fake_usage(struct evbuffer *b, const fake_req *r, bool with_out)
{
    if (!with_out)
        return evbuffer_add_printf(b, "\"usage\":{\"prompt_tokens\":%lld,"
                                   "\"total_tokens\":%lld}",
                                   (long long)r->prompt,
                                   (long long)r->prompt) < 0 ? -1 : 0;
    return evbuffer_add_printf(
               b, "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":"
               "%lld,\"total_tokens\":%lld}", (long long)r->prompt,
               (long long)r->completion,
               (long long)(r->prompt + r->completion)) < 0 ? -1 : 0;
}

/* {"id":..,"object":..,"created":..,"model":.., */
static int fake_head(struct evbuffer *b, const fake_req *r, const char *obj)
{
    if (evbuffer_add_printf(b, "{\"id\":\"fake-%llu\",\"object\":\"%s\","
                            "\"created\":%d,\"model\":",
                            (unsigned long long)r->id, obj,
                            FAKE_CREATED) < 0 ||
        gj_put_str(b, r->model) != 0)
        return -1;
    return evbuffer_add(b, ",", 1);
}

/* The reply text: completion tokens of "tok ". */
static int fake_text(struct evbuffer *b, int64_t tokens)
{
    int rc = evbuffer_add(b, "\"", 1);
    for (int64_t i = 0; rc == 0 && i < tokens; i++)
        rc = evbuffer_add(b, "tok ", strlen("tok "));
    return rc == 0 ? evbuffer_add(b, "\"", 1) : -1;
}

static int fake_chat_body(struct evbuffer *b, const fake_req *r)
{
    if (fake_head(b, r, "chat.completion") != 0 ||
        evbuffer_add_printf(b, "\"choices\":[{\"index\":0,\"message\":"
                            "{\"role\":\"assistant\",\"content\":") < 0 ||
        fake_text(b, r->completion) != 0 ||
        evbuffer_add_printf(b, "},\"finish_reason\":\"stop\"}],") < 0 ||
        fake_usage(b, r, true) != 0)
        return -1;
    return evbuffer_add(b, "}", 1);
}

static int fake_completion_body(struct evbuffer *b, const fake_req *r)
{
    if (fake_head(b, r, "text_completion") != 0 ||
        evbuffer_add_printf(b, "\"choices\":[{\"index\":0,\"text\":") < 0 ||
        fake_text(b, r->completion) != 0 ||
        evbuffer_add_printf(b, ",\"finish_reason\":\"stop\"}],") < 0 ||
        fake_usage(b, r, true) != 0)
        return -1;
    return evbuffer_add(b, "}", 1);
}

static int fake_embed_body(struct evbuffer *b, const fake_req *r)
{
    if (evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":[{\"object\":"
                            "\"embedding\",\"index\":0,\"embedding\":[") < 0)
        return -1;
    for (int i = 0; i < FAKE_EMBED_DIMS; i++)
        if (evbuffer_add_printf(b, "%s0.125", i ? "," : "") < 0)
            return -1;
    if (evbuffer_add_printf(b, "]}],\"model\":") < 0 ||
        gj_put_str(b, r->model) != 0 || evbuffer_add(b, ",", 1) != 0 ||
        fake_usage(b, r, false) != 0)
        return -1;
    return evbuffer_add(b, "}", 1);
}

/* Event i of a stream: content, the finish event, usage, [DONE]. */
static int fake_event(struct evbuffer *b, const fake_req *r, unsigned i,
                      unsigned chunks)
{
    const char *null_usage = r->include_usage ? ",\"usage\":null" : "";
    if (i == chunks + 2)
        return evbuffer_add_printf(b, "data: [DONE]\n\n") < 0 ? -1 : 0;
    if (i == chunks + 1 && !r->include_usage)
        return 0;
    if (evbuffer_add(b, "data: ", strlen("data: ")) != 0 ||
        fake_head(b, r, "chat.completion.chunk") != 0)
        return -1;
    int rc;
    if (i < chunks)
        rc = evbuffer_add_printf(b, "\"choices\":[{\"index\":0,\"delta\":"
                                 "{%s\"content\":\"tok%u \"},\"finish_reason"
                                 "\":null}]%s}\n\n",
                                 i == 0 ? "\"role\":\"assistant\"," : "", i,
                                 null_usage);
    else if (i == chunks)
        rc = evbuffer_add_printf(b, "\"choices\":[{\"index\":0,\"delta\":{},"
                                 "\"finish_reason\":\"stop\"}]%s}\n\n",
                                 null_usage);
    else
        rc = evbuffer_add_printf(b, "\"choices\":[],") < 0 ||
                     fake_usage(b, r, true) != 0 ||
                     evbuffer_add_printf(b, "}\n\n") < 0
                 ? -1
                 : 0;
    return rc < 0 ? -1 : 0;
}

static void fake_stream_free(fake_stream *s)
{
    fake_state *st = s->w->fake;
    if (s->conn != NULL)
        evhttp_connection_set_closecb(s->conn, NULL, NULL);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else if (st->streams == s)
        st->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->timer != NULL)
        event_free(s->timer);
    free(s);
}

/* Send event s->sent; schedule the next or end the reply. */
static void fake_tick(evutil_socket_t fd, short what, void *arg)
{
    fake_stream *s = arg;
    unsigned chunks = s->w->cfg->fake_stream_chunks;
    (void)fd;
    (void)what;
    if (strcmp(s->r.model, FAKE_CUT_MODEL) == 0 && s->sent == FAKE_CUT_AFTER) {
        struct evhttp_connection *conn = s->conn;
        fake_stream_free(s);
        evhttp_connection_free(conn);   /* frees the request with it */
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (b != NULL && fake_event(b, &s->r, s->sent, chunks) == 0)
        evhttp_send_reply_chunk(s->req, b);
    if (b != NULL)
        evbuffer_free(b);
    if (++s->sent > chunks + 2) {
        evhttp_send_reply_end(s->req);
        fake_stream_free(s);
        return;
    }
    uint32_t ms = s->w->cfg->fake_stream_delay_ms;
    if (s->sent == 1 && strcmp(s->r.model, FAKE_HANG_MODEL) == 0)
        ms = FAKE_HANG_MS;
    struct timeval tv = {.tv_sec = ms / GW_MS_PER_S,
                         .tv_usec = (ms % GW_MS_PER_S) * 1000};
    if (evtimer_add(s->timer, &tv) != 0) {
        evhttp_send_reply_end(s->req);
        fake_stream_free(s);
    }
}

/* The client (the gateway) hung up on a slow stream. */
static void fake_closed(struct evhttp_connection *conn, void *arg)
{
    fake_stream *s = arg;
    (void)conn;
    s->conn = NULL;
    if (evhttp_request_get_connection(s->req) == NULL)
        evhttp_request_free(s->req);
    fake_stream_free(s);
}

static void fake_slow_stream(gw_worker *w, struct evhttp_request *req,
                             const fake_req *r)
{
    fake_state *st = w->fake;
    fake_stream *s = calloc(1, sizeof *s);
    if (s == NULL || (s->timer = evtimer_new(w->base, fake_tick, s)) == NULL) {
        free(s);
        gw_reply_error(req, HTTP_INTERNAL, "out of memory", "server_error",
                       NULL);
        return;
    }
    s->w = w;
    s->req = req;
    s->r = *r;
    s->conn = evhttp_request_get_connection(req);
    s->next = st->streams;
    if (st->streams != NULL)
        st->streams->prev = s;
    st->streams = s;
    evhttp_connection_set_closecb(s->conn, fake_closed, s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/event-stream");
    evhttp_send_reply_start(req, HTTP_OK, NULL);
    fake_tick(-1, 0, s);
}

static void fake_fast_stream(gw_worker *w, struct evhttp_request *req,
                             const fake_req *r)
{
    unsigned chunks = w->cfg->fake_stream_chunks;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/event-stream");
    evhttp_send_reply_start(req, HTTP_OK, NULL);
    for (unsigned i = 0; i <= chunks + 2; i++) {
        struct evbuffer *b = evbuffer_new();
        if (b != NULL && fake_event(b, r, i, chunks) == 0)
            evhttp_send_reply_chunk(req, b);
        if (b != NULL)
            evbuffer_free(b);
    }
    evhttp_send_reply_end(req);
}

static bool fake_auth_ok(gw_worker *w, struct evhttp_request *req)
{
    const char *want = w->cfg->fake_expect_auth;
    if (want[0] == '\0')
        return true;
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req),
                                       "Authorization");
    return a != NULL && strcmp(a, want) == 0;
}

typedef int (*fake_body_fn)(struct evbuffer *b, const fake_req *r);

/* Parse, fail on request, then build a JSON body or stream. */
static void fake_answer(gw_worker *w, struct evhttp_request *req,
                        fake_body_fn fn, bool can_stream)
{
    fake_req r;
    if (fake_parse(w, req, &r) != 0) {
        gw_reply_error(req, HTTP_BADREQUEST, "fake upstream: bad body",
                       "invalid_request_error", "invalid_request");
        return;
    }
    if (strcmp(r.model, FAKE_FAIL_MODEL) == 0) {
        gw_reply_error(req, HTTP_INTERNAL, "fake upstream failure",
                       "server_error", "fake_failure");
        return;
    }
    if (can_stream && r.stream) {
        bool slow = strncmp(r.model, FAKE_SLOW_PREFIX,
                            strlen(FAKE_SLOW_PREFIX)) == 0 ||
                    strcmp(r.model, FAKE_CUT_MODEL) == 0 ||
                    strcmp(r.model, FAKE_HANG_MODEL) == 0;
        (slow ? fake_slow_stream : fake_fast_stream)(w, req, &r);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || fn(b, &r) != 0) {
        if (b != NULL)
            evbuffer_free(b);
        gw_reply_error(req, HTTP_INTERNAL, "out of memory", "server_error",
                       NULL);
        return;
    }
    fake_reply(req, HTTP_OK, b);
    evbuffer_free(b);
}

static void fake_models(struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL ||
        evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":["
                            "{\"id\":\"gpt-4o\",\"object\":\"model\","
                            "\"created\":%d,\"owned_by\":\"fake\"}]}",
                            FAKE_CREATED) < 0) {
        if (b != NULL)
            evbuffer_free(b);
        gw_reply_error(req, HTTP_INTERNAL, "out of memory", "server_error",
                       NULL);
        return;
    }
    fake_reply(req, HTTP_OK, b);
    evbuffer_free(b);
}

void gw_fake_handle(gw_worker *w, struct evhttp_request *req)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u != NULL ? evhttp_uri_get_path(u) : "";
    bool post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    if (!fake_auth_ok(w, req)) {
        gw_reply_error(req, FAKE_HTTP_UNAUTHORIZED,
                       "fake upstream: wrong upstream credentials",
                       "invalid_request_error", "fake_upstream_bad_auth");
        return;
    }
    if (post && strcmp(path, "/v1/chat/completions") == 0)
        fake_answer(w, req, fake_chat_body, true);
    else if (post && strcmp(path, "/v1/completions") == 0)
        fake_answer(w, req, fake_completion_body, false);
    else if (post && strcmp(path, "/v1/embeddings") == 0)
        fake_answer(w, req, fake_embed_body, false);
    else if (!post && strcmp(path, "/v1/models") == 0)
        fake_models(req);
    else
        gw_reply_error(req, HTTP_NOTFOUND, "fake upstream: unknown URL",
                       "invalid_request_error", "unknown_url");
}

/* After evhttp_free: streams whose close callback did not run. */
void gw_fake_shutdown(gw_worker *w)
{
    fake_state *st = w->fake;
    if (st == NULL)
        return;
    while (st->streams != NULL) {
        st->streams->conn = NULL;
        fake_stream_free(st->streams);
    }
    free(st);
    w->fake = NULL;
}
