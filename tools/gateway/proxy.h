/* proxy.h -- state of one proxied request, shared by proxy.c (intake,
 * check, forward) and proxy_up.c (upstream reply, settle/void, finish).
 *
 * Life of a gw_call: created before the check, linked into its worker's
 * list and armed on the client connection's close callback; the check
 * goes to quotad without waiting (q_busy while it is in flight); an
 * allowed check owns a hold and the request goes upstream; the upstream's
 * answer settles or voids the hold (q_busy again), and only then is the
 * reply sent, so the hold is closed before the client sees the end of
 * the reply. The call ends exactly once: close callback disarmed, call
 * unlinked and freed. A client that leaves while a quotad call is in
 * flight only clears req; that call's callback ends the request.
 */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include "gw.h"

#define PROXY_PATH_LOG_BYTES 96u
#define PROXY_CODE_LINE_BYTES 64u

typedef struct gw_call {
    gw_worker *w;
    struct evhttp_request *req;         /* client request (NULL when gone) */
    struct evhttp_connection *client;   /* armed close callback, or NULL */
    struct evhttp_request *up;          /* upstream request in flight */
    struct evhttp_connection *up_conn;
    const gw_price *price;              /* NULL: unpriced (GET /v1/models) */
    uint64_t hold_id;                   /* 0 once settled / voided / none */
    uint64_t key_id;
    uint32_t ws_id;
    int64_t reserved;                   /* what the hold took */
    int64_t charged;                    /* what settle finally charged */
    int64_t prompt_est;                 /* tokens counted at check time */
    int64_t rpm_remaining, tpm_remaining;
    int64_t started_ms;
    gw_usage usage;                     /* as settled, for the log */
    bool have_usage;
    bool stream;                        /* client asked for SSE */
    bool started;                       /* reply headers sent to client */
    bool up_sse;                        /* upstream answered SSE */
    bool client_slow;                   /* stopped forwarding: too far behind */
    bool q_busy;                        /* a quotad call for it in flight */
    bool inject;                        /* add stream_options upstream */
    bool settling;                      /* q_busy: a settle, not a void */
    enum evhttp_cmd_type cmd;           /* method sent upstream */
    int status;                         /* status given to the client */
    int up_code;                        /* upstream status; 0 = failed */
    const char *outcome;                /* for the access log */
    void (*then)(struct gw_call *);     /* runs once the hold is closed */
    struct evbuffer *reply;             /* plain reply body, kept meanwhile */
    char code_line[PROXY_CODE_LINE_BYTES];
    char ip[GW_IP_BYTES];
    gw_sse *sse;                        /* stream: usage scanner */
    struct evbuffer *copy;              /* stream, non-SSE reply: a copy */
    char idem[GW_IDEM_BYTES];
    char model[GW_MODEL_BYTES + 1];
    char path[PROXY_PATH_LOG_BYTES];
    struct gw_call *next, *prev;
} gw_call;

/* proxy_up.c */
/* Send the call's request upstream; -1 if it could not even start. */
int proxy_up_start(gw_call *c, struct evbuffer *body);
/* Release the hold without waiting (policy: aborts and failures are not
 * charged; a failed void is logged and the hold expires). */
void proxy_call_void(gw_call *c);
/* Void the hold, then answer 502 and end the call. */
void proxy_up_failed(gw_call *c);
/* Unlink, disarm and free; answers nothing. */
void proxy_call_free(gw_call *c);
/* Watch the client connection so an abort voids the hold at once. */
void proxy_call_arm(gw_call *c);
/* Stop watching (before answering: a reply may end the connection). */
void proxy_call_disarm(gw_call *c);
/* A call that will get no answer (client gone, gateway stopping): void
 * its hold without waiting, log it as 499 with outcome, free it. */
void proxy_call_abandon(gw_call *c, const char *outcome);
/* One access-log line; never the secret. */
void proxy_call_log(const gw_call *c, const char *outcome);

#endif
