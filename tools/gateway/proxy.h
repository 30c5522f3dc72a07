/* proxy.h -- state of one proxied request, shared by proxy.c (intake,
 * check, forward) and proxy_up.c (upstream reply, settle/void, finish).
 *
 * Life of a gw_call: created after an allowed check (so it owns a hold),
 * linked into its worker's list, armed on the client connection's close
 * callback, then ended exactly once by proxy_call_end: the hold is
 * settled or voided before the client sees the end of the reply, the
 * close callback is disarmed, the call is unlinked and freed.
 */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include "gw.h"

#define PROXY_PATH_LOG_BYTES 96u

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
    int status;                         /* status given to the client */
    gw_sse *sse;                        /* stream: usage scanner */
    struct evbuffer *copy;              /* stream, non-SSE reply: a copy */
    char idem[GW_IDEM_BYTES];
    char model[GW_MODEL_BYTES + 1];
    char path[PROXY_PATH_LOG_BYTES];
    struct gw_call *next, *prev;
} gw_call;

/* proxy_up.c */
/* Send the call's request upstream; -1 if it could not even start. */
int proxy_up_start(gw_call *c, struct evhttp_request *req,
                   struct evbuffer *body, enum evhttp_cmd_type cmd,
                   const char *client_ip);
/* Release the hold (policy: aborts and failures are not charged). */
void proxy_call_void(gw_call *c);
/* Unlink, disarm and free; answers nothing. */
void proxy_call_free(gw_call *c);
/* Watch the client connection so an abort voids the hold at once. */
void proxy_call_arm(gw_call *c);

#endif
