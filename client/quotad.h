/* quotad.h -- client library for quotad (libquotad), the gateway's view.
 *
 * Five-minute tour:
 *
 *   qc_options o = qc_options_default();     // 127.0.0.1:7411, 5 s timeout
 *   o.port = 7411;
 *   qc_ctx *c;
 *   if (qc_connect(&o, &c) != QC_OK) { ... qc_strerror(rc) ... }
 *
 *   qc_check_req  rq = { .secret = bearer, .model = "gpt-4o",
 *                        .client_ip = "203.0.113.7", .amount = 1500 };
 *   qc_check_res  rs;
 *   int rc = qc_check(c, &rq, &rs);
 *   if (rc != QC_OK)                 -> transport/server error (see below)
 *   else if (rs.decision != QC_ALLOWED) -> deny: qc_decision_str(),
 *                                        qc_decision_http_status()
 *   qc_free(c);
 *
 * Return codes: every call returns an int.
 *   0          QC_OK
 *   < 0        a client-side error (QC_ERR_*): I/O, timeout, protocol...
 *              After QC_ERR_IO / QC_ERR_TIMEOUT / QC_ERR_PROTOCOL the
 *              connection is unusable: qc_free() it and reconnect.
 *   > 0        the server answered with a non-OK quotad.Code (QC_CODE_*),
 *              e.g. QC_CODE_NOT_FOUND; qc_errstr() has its message.
 * A denied check is NOT an error: rc == QC_OK and rs.decision says why.
 *
 * Pipelining: qc_check_append() many times, then qc_check_read() as many
 * times; replies come back in request order. Batching: qc_check_batch()
 * sends n checks in one frame.
 *
 * Amounts are int64 micro-units. Times are Unix ms (UTC).
 * A qc_ctx is NOT thread-safe: use one per thread (they are cheap).
 * Admin operations (workspaces, keys) are in qc_admin.h.
 */
#ifndef QUOTAD_H
#define QUOTAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum qc_error {
    QC_OK = 0,
    QC_ERR_IO = -1,        /* connect/read/write failed, peer closed */
    QC_ERR_TIMEOUT = -2,   /* no reply within timeout_ms */
    QC_ERR_PROTOCOL = -3,  /* undecodable or unexpected reply */
    QC_ERR_NOMEM = -4,
    QC_ERR_ARG = -5,       /* bad argument (NULL, too long, too many) */
    QC_ERR_STATE = -6,     /* e.g. read with nothing in flight */
    QC_ERR_AGAIN = -7,     /* *_nowait: would wait; c stays usable */
};

/* Server codes (mirror quotad.Code in proto/quotad.proto). */
enum qc_code {
    QC_CODE_MALFORMED = 1,
    QC_CODE_FRAME_TOO_LARGE = 2,
    QC_CODE_BATCH_TOO_LARGE = 3,
    QC_CODE_UNKNOWN_OP = 4,
    QC_CODE_INVALID_ARGUMENT = 5,
    QC_CODE_NOT_FOUND = 6,
    QC_CODE_ALREADY_EXISTS = 7,
    QC_CODE_LIMIT_REACHED = 8,
    QC_CODE_FAILED_PRECONDITION = 9,
    QC_CODE_VERSION_MISMATCH = 10,
    QC_CODE_PERMISSION_DENIED = 11,
    QC_CODE_UNAVAILABLE = 12,
    QC_CODE_INTERNAL = 13,
    QC_CODE_IDEMPOTENCY_CONFLICT = 14,
    QC_CODE_DEADLINE_EXCEEDED = 15,   /* check not run: nothing applied */
};

/* Check outcomes, in the order the server checks them. */
typedef enum qc_decision {
    QC_ALLOWED = 0,
    QC_INVALID_API_KEY = 1,
    QC_REVOKED_API_KEY = 2,
    QC_KEY_DISABLED = 3,
    QC_KEY_EXPIRED = 4,
    QC_ADMIN_KEY_NOT_ALLOWED = 5,
    QC_IP_NOT_ALLOWED = 6,
    QC_MODEL_NOT_ALLOWED = 7,
    QC_RATE_LIMITED = 8,
    QC_QUOTA_EXCEEDED = 9,
    QC_SPEND_CAP_EXCEEDED = 10,
    QC_INSUFFICIENT_CREDITS = 11,
} qc_decision;

typedef struct qc_options {
    const char *host;          /* numeric v4/v6 or name; default 127.0.0.1;
                                  "/path" = the server's Unix socket */
    uint16_t port;             /* default 7411 */
    uint32_t timeout_ms;       /* connect and per-call; default 5000 */
    const char *client_name;   /* sent in HELLO; may be NULL */
    const char *credential;    /* root/gateway credential or an admin key
                                  (sk-...); NULL on an open server */
    bool nonblocking;          /* event-loop use: appends never wait (see
                                  qc_flush_nowait); default false */
} qc_options;

#define QC_CREDENTIAL_CHARS_MAX 256


typedef struct qc_ctx qc_ctx;

qc_options qc_options_default(void);

/* Connect and exchange HELLO (protocol version check). On success *out is a
 * new context; on failure *out is NULL and the code says why. */
int qc_connect(const qc_options *opt, qc_ctx **out);
void qc_free(qc_ctx *c);

/* Text of the last error on c (never NULL), and of any return code. */
const char *qc_errstr(const qc_ctx *c);
const char *qc_strerror(int rc);

/* Sequence number of the state the last reply reflected. */
uint64_t qc_last_seq(const qc_ctx *c);
/* Role HELLO granted (quotad.Role: 1 gateway .. 5 root) and its workspace
 * scope (0 = every workspace). */
int qc_role(const qc_ctx *c);
uint32_t qc_workspace_scope(const qc_ctx *c);


int qc_ping(qc_ctx *c);

typedef struct qc_check_req {
    const char *secret;         /* "sk-..." */
    const char *model;          /* may be NULL */
    const char *client_ip;      /* may be NULL */
    int64_t amount;             /* debit, or hold estimate */
    int64_t amount_min;         /* hold: smallest acceptable reservation */
    int64_t tokens;             /* counted against TPM */
    const char *idempotency_id; /* may be NULL */
    bool hold;
    uint32_t hold_timeout_ms;   /* 0 = server default */
    int64_t deadline_ms;        /* 0 = none; else this client's wall clock
                                   (CLOCK_REALTIME, unix ms): a check the
                                   server has not run by then is refused,
                                   QC_CODE_DEADLINE_EXCEEDED, with no
                                   effect. Sent in the server's clock, by
                                   the offset HELLO measured. */
} qc_check_req;

typedef struct qc_check_res {
    qc_decision decision;
    uint64_t key_id;
    uint32_t workspace_id;
    int64_t charged;            /* debited, or reserved by the hold */
    int64_t quota_remaining;    /* -1 = unlimited */
    int64_t wallet_balance;
    int64_t rpm_remaining;      /* -1 = unlimited */
    int64_t tpm_remaining;      /* -1 = unlimited */
    int64_t rate_reset_ms;
    int64_t retry_after_ms;     /* when RATE_LIMITED */
    uint64_t hold_id;           /* when a hold was placed */
    bool replayed;              /* first answer of an idempotent retry */
    uint64_t seq;
} qc_check_res;

typedef struct qc_settle_res {
    int64_t charged;
    int64_t refunded;
    int64_t quota_remaining;
    int64_t wallet_balance;
    bool replayed;
    uint64_t seq;
} qc_settle_res;

int qc_check(qc_ctx *c, const qc_check_req *rq, qc_check_res *rs);

/* Settle a hold with the actual cost and tokens; refunds the rest. */
int qc_settle(qc_ctx *c, uint64_t hold_id, int64_t amount, int64_t tokens,
              const char *idempotency_id, qc_settle_res *rs);

/* Release a hold entirely. */
int qc_void(qc_ctx *c, uint64_t hold_id, qc_settle_res *rs);

/* Pipelining: queue a check (sent when the output buffer fills or on
 * read); *req_id (may be NULL) receives its request id. */
int qc_check_append(qc_ctx *c, const qc_check_req *rq, uint64_t *req_id);
/* Send everything queued. */
int qc_flush(qc_ctx *c);
/* Read the next check reply, in request order. *req_id may be NULL. */
int qc_check_read(qc_ctx *c, uint64_t *req_id, qc_check_res *rs);
/* Requests appended whose replies were not yet read. */
size_t qc_in_flight(const qc_ctx *c);

/* Pipelined settle and void: queue them like checks, then read their
 * replies in request order with qc_settle_read (qc_settle_read_nowait
 * in an event loop). Reading a check's reply as a settle's, or the other
 * way round, is a protocol error: the caller knows the order it sent. */
int qc_settle_append(qc_ctx *c, uint64_t hold_id, int64_t amount,
                     int64_t tokens, const char *idempotency_id,
                     uint64_t *req_id);
int qc_void_append(qc_ctx *c, uint64_t hold_id, uint64_t *req_id);
int qc_settle_read(qc_ctx *c, uint64_t *req_id, qc_settle_res *rs);

/* Event-loop use (an nginx module, a libevent or epoll gateway): many
 * requests in flight on one connection, and no call that waits. Connect
 * with opt.nonblocking (qc_connect itself still waits, for the connect
 * and HELLO), then per request qc_check_append(), and:
 *   qc_flush_nowait(c)      QC_OK: all sent; QC_ERR_AGAIN: the socket is
 *                           full, call again when qc_fd(c) is writable
 *   qc_check_read_nowait()  as qc_check_read, or QC_ERR_AGAIN: no whole
 *                           reply yet, call again when qc_fd(c) is
 *                           readable (loop until QC_ERR_AGAIN: one wake-up
 *                           may bring many replies)
 * QC_ERR_AGAIN leaves c usable; every other code means what it means for
 * the waiting calls. With nothing in flight the read still reads the
 * socket: QC_ERR_AGAIN, or the error of a server that closed or gave up
 * on the connection (never QC_ERR_STATE). Replies come in request order, as req_id says. The
 * waiting calls still work on such a context (they wait up to timeout_ms).
 * Without opt.nonblocking an append that finds 64 KiB queued waits until
 * it is sent; with it, it sends what the socket takes and queues the rest
 * (qc_want_write). Timeouts are the caller's: the event loop's timer. */
/* An event loop's connect, which never waits either (resolving a host
 * name may; give a numeric address or a Unix socket path): *out is a
 * context whose connect may still be in progress, with HELLO queued
 * (opt.nonblocking is implied). Call qc_connect_poll when qc_fd(c) is
 * writable (qc_want_write) or readable: QC_ERR_AGAIN until HELLO is
 * answered, then QC_OK and the context is ready; any other code: the
 * connect or HELLO failed, free the context. Until then every other call
 * on it returns QC_ERR_STATE. The timeout is the caller's. */
int qc_connect_start(const qc_options *opt, qc_ctx **out);
int qc_connect_poll(qc_ctx *c);
int qc_fd(const qc_ctx *c);                   /* -1 when unusable */
bool qc_want_write(const qc_ctx *c);          /* output still queued */
int qc_flush_nowait(qc_ctx *c);
int qc_check_read_nowait(qc_ctx *c, uint64_t *req_id, qc_check_res *rs);
int qc_settle_read_nowait(qc_ctx *c, uint64_t *req_id, qc_settle_res *rs);

/* n checks (n <= 256) in one frame, one round trip; rcs[i] is each one's
 * code (QC_OK or a server code). Returns QC_OK if the frame round trip
 * worked. */
int qc_check_batch(qc_ctx *c, const qc_check_req *rq, qc_check_res *rs,
                   int *rcs, size_t n);

const char *qc_decision_str(int decision);   /* "quota_exceeded" ... */
int qc_decision_http_status(int decision);   /* 200, 401, 403, 429, 402 */
const char *qc_code_str(int code);           /* "not_found" ... */

#ifdef __cplusplus
}
#endif
#endif
