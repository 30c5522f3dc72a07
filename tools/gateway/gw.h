/* gw.h -- quotad-gateway: an OpenAI-compatible reverse proxy, an nginx
 * auth_request endpoint and a fake upstream, in one libevent binary.
 *
 * Modules (each a .c of the same name):
 *   config   options table, config file and flags
 *   price    per-model price table and integer cost arithmetic
 *   json     bounded JSON scanner (a few fields, never a DOM)
 *   sse      server-sent-events scanner that finds the last `usage`
 *   reply    OpenAI-style JSON errors, deny-code mapping, header helpers
 *   qlink    the worker's libquotad connection (reconnect, idempotent retry)
 *   proxy    proxy mode: check+hold, forward, stream, settle or void
 *   authreq  auth_request mode for nginx
 *   fake     fake upstream for tests and benchmarks
 *   main     listener, worker threads, signals
 *
 * Threads: each worker owns an event_base, an evhttp server on a dup of the
 * shared listening socket, a qc_ctx to quotad (libquotad contexts are not
 * thread-safe; many calls are in flight on it, never waited on) and a
 * small pool of upstream connections. Nothing is shared
 * between workers except the read-only config and price table.
 */
#ifndef GW_H
#define GW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "quotad.h"

/* ---- sizes ------------------------------------------------------------- */
#define GW_HOST_BYTES 64u
#define GW_PATH_BYTES 512u
#define GW_URL_BYTES 512u
#define GW_UPSTREAM_KEY_BYTES 512u
#define GW_MODE_BYTES 16u
#define GW_AUTH_PATH_BYTES 128u
#define GW_MODEL_BYTES 128u        /* = quotad MODEL_BYTES_MAX */
#define GW_SECRET_CHARS_MAX 128u   /* = quotad SECRET_CHARS_MAX */
#define GW_IP_BYTES 64u            /* textual v4/v6 address */
#define GW_IDEM_BYTES 64u          /* our ids are far below quotad's 128 */
#define GW_THREADS_MAX 64u
#define GW_QUOTAD_ADDRS_MAX 4u     /* addresses kept from quotad_host */
#define GW_MICRO_PER_UNIT INT64_C(1000000)
#define GW_MS_PER_S 1000

typedef enum gw_mode {
    GW_MODE_PROXY = 0,
    GW_MODE_AUTH = 1,
    GW_MODE_FAKE = 2,
} gw_mode;

/* ---- config (config.c) ------------------------------------------------- */
typedef struct gw_config {
    char mode[GW_MODE_BYTES];
    char host[GW_HOST_BYTES];
    uint32_t port;
    char port_file[GW_PATH_BYTES];
    char pid_file[GW_PATH_BYTES];
    uint32_t threads;
    char quotad_host[GW_HOST_BYTES];
    uint32_t quotad_port;
    uint32_t quotad_timeout_ms;
    uint32_t quotad_calls_max;
    uint32_t shutdown_grace_ms;
    char quotad_credential_file[GW_PATH_BYTES];
    char upstream[GW_URL_BYTES];
    char upstream_key[GW_UPSTREAM_KEY_BYTES];
    uint32_t upstream_timeout_ms;
    uint32_t upstream_pool;
    char prices[GW_PATH_BYTES];
    uint32_t hold_timeout_ms;
    uint32_t body_bytes_max;
    uint32_t reply_bytes_max;
    uint32_t trust_forwarded;
    uint32_t credits_status;
    uint32_t stream_usage;
    char auth_path[GW_AUTH_PATH_BYTES];
    int64_t auth_amount_micro;
    uint32_t auth_real_status;
    uint32_t log_level;
    uint32_t fake_completion_tokens;
    uint32_t fake_stream_chunks;
    uint32_t fake_stream_delay_ms;
    char fake_expect_auth[GW_UPSTREAM_KEY_BYTES];
    /* Derived by gw_config_finish. */
    gw_mode mode_id;
    char up_host[GW_HOST_BYTES];
    uint16_t up_port;
    char up_base_path[GW_PATH_BYTES];   /* "" or "/prefix" (no trailing /) */
    char quotad_credential[QC_CREDENTIAL_CHARS_MAX + 1];   /* never logged */
    /* quotad_host resolved once at start (numeric, or a unix socket path):
     * a worker's connect never waits on DNS and tries these in turn. */
    char quotad_addrs[GW_QUOTAD_ADDRS_MAX][GW_HOST_BYTES];
    uint32_t quotad_addrs_n;
} gw_config;

/* Parse argv (a --config FILE first, then flags) into cfg. Returns 0, 1
 * when --help was printed, or -1 after printing the reason. */
int gw_config_load(gw_config *cfg, int argc, char **argv);

/* ---- logging (reply.c) -------------------------------------------------- */
enum { GW_LOG_ERROR = 0, GW_LOG_WARN = 1, GW_LOG_INFO = 2, GW_LOG_DEBUG = 3 };
void gw_log_set_level(uint32_t level);
void gw_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- prices (price.c) --------------------------------------------------- */
typedef struct gw_price {
    char model[GW_MODEL_BYTES + 1];   /* "*" = every model not listed */
    int64_t prompt_per_1k;            /* micro-units per 1000 prompt tokens */
    int64_t completion_per_1k;        /* micro-units per 1000 output tokens */
    int64_t default_max_tokens;       /* estimate when max_tokens is absent */
} gw_price;

typedef struct gw_prices {
    gw_price *v;        /* sorted by model */
    size_t n;
    const gw_price *fallback;   /* the "*" row, or NULL */
} gw_prices;

int gw_prices_load(const char *path, gw_prices *out);
void gw_prices_free(gw_prices *p);
const gw_price *gw_price_find(const gw_prices *p, const char *model);
/* ceil((prompt * prompt_per_1k + completion * completion_per_1k) / 1000);
 * 0 or -1 when out of range (tokens or the result above quotad's limits). */
int gw_cost(const gw_price *p, int64_t prompt, int64_t completion,
            int64_t *out);

/* ---- JSON scanner (json.c) ---------------------------------------------- */
typedef enum gj_type {
    GJ_NONE = 0, GJ_OBJECT, GJ_ARRAY, GJ_STRING, GJ_NUMBER, GJ_TRUE,
    GJ_FALSE, GJ_NULL,
} gj_type;

typedef struct gj_val {
    gj_type type;
    const char *p;   /* raw text of the value (strings keep their quotes) */
    size_t n;
} gj_val;

enum { GJ_FOUND = 0, GJ_ABSENT = 1, GJ_BAD = -1 };

/* Look up a dotted path ("usage.prompt_tokens") in the JSON document
 * buf[0..len). The whole document is validated; a key that appears twice
 * in one object on the path is GJ_BAD (a gateway and an upstream must not
 * disagree about which one counts). */
int gj_get(const char *buf, size_t len, const char *path, gj_val *out);
/* Is buf one well-formed JSON value (and only that)? */
bool gj_valid(const char *buf, size_t len);
/* A non-negative integer value (no fraction, no exponent). */
int gj_uint(const gj_val *v, int64_t *out);
/* Copy a string value without its quotes; escapes other than \" \\ \/
 * are refused (model names never need them). */
int gj_str(const gj_val *v, char *out, size_t cap);
/* Append s as a JSON string literal (with quotes) to b. */
int gj_put_str(struct evbuffer *b, const char *s);

/* Real token counts read from an upstream reply. */
typedef struct gw_usage {
    int64_t prompt;
    int64_t completion;
} gw_usage;
/* Read usage.prompt_tokens / usage.completion_tokens from a JSON object.
 * GJ_FOUND, GJ_ABSENT (no usage or usage null) or GJ_BAD. */
int gw_usage_parse(const char *buf, size_t len, gw_usage *u);

/* ---- SSE scanner (sse.c) ------------------------------------------------ */
#define GW_SSE_LINE_MAX (64u * 1024u)
typedef struct gw_sse {
    size_t len;              /* bytes of the current line in line[] */
    bool overflow;           /* current line too long: skipped */
    bool have_usage;
    bool done;               /* saw "data: [DONE]" */
    gw_usage usage;          /* from the last event that carried one */
    char line[GW_SSE_LINE_MAX];
} gw_sse;
void gw_sse_init(gw_sse *s);
void gw_sse_feed(gw_sse *s, const char *p, size_t n);
/* Feed every byte of b without draining it. */
void gw_sse_feed_buffer(gw_sse *s, struct evbuffer *b);

/* ---- quotad link (qlink.c) ---------------------------------------------- */
/* Outcome of a call: rc is a libquotad code (QC_OK, a server code > 0, or
 * a transport error < 0 after the retry); rs is never NULL and never
 * reads as allowed unless quotad said so. */
typedef void (*gw_q_check_fn)(void *arg, int rc, const qc_check_res *rs);
typedef void (*gw_q_settle_fn)(void *arg, int rc, const qc_settle_res *rs);
typedef struct gw_qcall gw_qcall;

typedef struct gw_qlink {
    qc_ctx *c;                 /* NULL until first use / after an error */
    const gw_config *cfg;
    struct event_base *base;
    struct event *io;          /* the connection readable */
    struct event *wr;          /* writable, while output is queued */
    struct event *kick;        /* send todo at the end of this loop pass */
    struct event *tick;        /* replies overdue? */
    gw_qcall *todo, *todo_tail;   /* not yet sent on this connection */
    gw_qcall *sent, *sent_tail;   /* sent; replies come in this order */
    size_t n_todo, n_sent;
    bool ready;                /* c connected and HELLO answered */
    bool down;                 /* the last connect failed (logged once) */
    uint32_t addr_ix;          /* cfg->quotad_addrs: the one to try next */
    int64_t connect_due_ms;    /* c not ready: give up on it then */
    unsigned worker;
    uint64_t boot_ms;
    uint64_t next_id;
} gw_qlink;

void gw_qlink_init(gw_qlink *q, const gw_config *cfg, unsigned worker);
/* Create the link's events on the worker's base; 0 or -1. */
int gw_qlink_start(gw_qlink *q, struct event_base *base);
/* Finish every call (gw_qlink_drain), then disconnect and free events. */
void gw_qlink_close(gw_qlink *q);
/* Wait (bounded) until every queued call has run its callback. */
void gw_qlink_drain(gw_qlink *q);
size_t gw_qlink_pending(const gw_qlink *q);
/* "connected", "connecting", "down" (the last connect failed) or "idle"
 * (not connected yet, or dropped with nothing to send). */
const char *gw_qlink_state(const gw_qlink *q);
/* Fill idem with a process-unique idempotency id. */
void gw_qlink_idem(gw_qlink *q, char *idem, size_t cap);
/* Queue a check / settle / void; fn(arg, ...) runs later from the event
 * loop, exactly once (fn may be NULL for settle and void: failures are
 * logged). Strings are copied. A transport error reconnects and sends
 * again with the same idempotency id, so a retry never moves money twice;
 * a void answered NOT_FOUND (already released) counts as done. Returns
 * QC_OK, or QC_ERR_NOMEM / QC_ERR_ARG with nothing queued; a check also
 * QC_ERR_AGAIN when quotad_calls_max calls are in flight already (settles
 * and voids close holds, so they are always taken). */
int gw_q_check(gw_qlink *q, const qc_check_req *rq, gw_q_check_fn fn,
               void *arg);
int gw_q_settle(gw_qlink *q, uint64_t hold_id, int64_t amount,
                int64_t tokens, const char *idem, gw_q_settle_fn fn,
                void *arg);
int gw_q_void(gw_qlink *q, uint64_t hold_id, gw_q_settle_fn fn, void *arg);

/* ---- workers (main.c) --------------------------------------------------- */
struct gw_call;

typedef struct gw_worker {
    unsigned index;
    const gw_config *cfg;
    const gw_prices *prices;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;   /* listener; NULL once draining */
    bool draining;                     /* stop signal: finish, take none */
    bool loop_done;                    /* its thread left the loop (atomic) */
    int64_t drain_end_ms;
    struct event *drain_tick;
    gw_qlink q;
    struct evhttp_connection **pool;   /* idle upstream connections */
    size_t pool_n;
    struct evhttp_connection **dead;   /* to free outside their callbacks */
    size_t dead_n, dead_cap;
    struct event *reaper;              /* frees dead[] on the next turn */
    struct gw_call *calls;             /* proxied requests in flight */
    void *fake;                        /* fake upstream state (fake.c) */
} gw_worker;

/* ---- upstream connections (upstream.c) ---------------------------------- */
int gw_pool_init(gw_worker *w);
/* An idle keep-alive connection, or a new one. stream lifts the reply
 * size limit (a stream is forwarded, not buffered). NULL on failure. */
struct evhttp_connection *gw_pool_take(gw_worker *w, bool stream);
/* Back to the pool, or freed on the next loop turn when the pool is full
 * (never inside the connection's own callback). */
void gw_pool_give(gw_worker *w, struct evhttp_connection *c);
void gw_pool_shutdown(gw_worker *w);
/* Copy every byte of src to the end of dst, leaving src as it is. */
int gw_buffer_copy(struct evbuffer *dst, struct evbuffer *src);

/* ---- replies (reply.c) -------------------------------------------------- */
/* Send {"error":{"message","type","param":null,"code"}} with status. */
void gw_reply_error(struct evhttp_request *req, int status,
                    const char *message, const char *type, const char *code);
/* Send a JSON body with status (body may be NULL = empty). */
void gw_reply_json(struct evhttp_request *req, int status,
                   struct evbuffer *body);
/* A quotad call that failed (not a denial) fails closed: 503 with
 * Retry-After (quota_service_busy when quotad_calls_max calls were in
 * flight, quota_service_unavailable otherwise), or 400 for a request
 * quotad finds out of range. The status that sends: */
int gw_quotad_error_status(int rc);
void gw_reply_quotad_error(struct evhttp_request *req, int rc);
/* HTTP status for a denied decision under this config. */
int gw_deny_status(const gw_config *cfg, qc_decision d);
/* Add the deny headers (Retry-After, x-should-retry) for rs to req. */
void gw_deny_headers(struct evhttp_request *req, const qc_check_res *rs);
/* Build the OpenAI-style error body for a denied check. */
int gw_deny_body(struct evbuffer *b, const qc_check_res *rs);
/* Send the full deny reply for rs. */
void gw_reply_deny(struct evhttp_request *req, const gw_config *cfg,
                   const qc_check_res *rs);
/* The bearer token of Authorization (NULL if absent or malformed);
 * points into the header value, len in *n. Never logged. */
const char *gw_bearer(struct evhttp_request *req, size_t *n);
/* The client address as quotad should see it (peer, or X-Real-IP /
 * last X-Forwarded-For entry when trust_forwarded). */
void gw_client_ip(struct evhttp_request *req, const gw_config *cfg,
                  char *out, size_t cap);
/* Is the request's client connection still there to answer? */
bool gw_client_alive(struct evhttp_request *req);
/* Copy response headers from an upstream reply, minus hop-by-hop ones. */
void gw_copy_reply_headers(struct evhttp_request *from,
                           struct evhttp_request *to);
/* Copy request headers to an upstream request, minus hop-by-hop ones,
 * Authorization, Host and Accept-Encoding. */
void gw_copy_request_headers(struct evhttp_request *from,
                             struct evhttp_request *to);
/* Add the x-ratelimit-remaining-* headers of an allowed check. */
void gw_ratelimit_headers(struct evhttp_request *req, const qc_check_res *rs);
/* The path of a URI for a log line: the query is cut (it may carry a
 * key), control and non-ASCII bytes become '?', at most cap-1 bytes. */
void gw_log_path(const char *uri, char *out, size_t cap);
/* Monotonic milliseconds, for durations in the access log. */
int64_t gw_mono_ms(void);
/* Unix ms (CLOCK_REALTIME): what quotad deadlines are given in. */
int64_t gw_wall_ms(void);

/* ---- modes --------------------------------------------------------------- */
void gw_proxy_handle(gw_worker *w, struct evhttp_request *req);
void gw_proxy_shutdown(gw_worker *w);
void gw_auth_handle(gw_worker *w, struct evhttp_request *req);
void gw_fake_handle(gw_worker *w, struct evhttp_request *req);
int gw_fake_init(gw_worker *w);
void gw_fake_shutdown(gw_worker *w);

#endif
