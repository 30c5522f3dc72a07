/* qlink -- one worker's connection to quotad, driven by its event loop.
 *
 * A worker never waits on quotad: a check, settle or void is queued with
 * a callback, and many are in flight on the one connection at a time
 * (libquotad's event-loop API). That is what lets group commit work for
 * the gateway: under `fsync always` a reply waits for its commit, and
 * with one blocking call per worker a worker would serve one request per
 * commit.
 *
 * Queues: `todo` holds calls not yet sent on the current connection,
 * `sent` those sent and waiting for their reply; replies come in request
 * order, so the reply read is always sent's head. Callbacks run from the
 * event loop only, never inside gw_q_*, so a caller may set up its state
 * after queueing.
 *
 * Failures: a transport error or a reply overdue by quotad_timeout_ms
 * drops the connection; every call in flight is sent again on a fresh one,
 * at most QLINK_TRIES_MAX times in all. Every check and settle carries an
 * idempotency id and a repeated void answers NOT_FOUND, so a retry can
 * never move money twice. While quotad cannot be reached, calls wait for
 * it (a new connect every QLINK_TICK_MS) up to quotad_timeout_ms after
 * they were made, so a quotad restart shorter than that costs clients
 * only time. A call out of tries or time fails with the error, and the
 * caller fails closed (503): no request passes unchecked.
 * Connecting does not wait either (qc_connect_start: the TCP connect
 * and HELLO advance on the socket's events; a HELLO unanswered after
 * quotad_timeout_ms drops the attempt). Only shutdown's drain waits.
 */
#include "gw.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QLINK_CLIENT_NAME "quotad-gateway"
#define QLINK_TRIES_MAX 2          /* sends of one call, over connections */
#define QLINK_TICK_MS 50           /* how often replies are checked late */
#define QLINK_DRAIN_TIMEOUTS 3     /* drain waits this many timeouts */

typedef enum qlink_op { QOP_CHECK, QOP_SETTLE, QOP_VOID } qlink_op;

/* One call, with its own copies of every string it sends (a retry may
 * send it again after the caller's buffers are gone). */
struct gw_qcall {
    qlink_op op;
    int tries;                  /* sends so far */
    int64_t born_ms;            /* queued; waits for a connection until
                                   born_ms + quotad_timeout_ms */
    int64_t deadline_ms;        /* reply due (when sent) */
    qc_check_req rq;            /* points into the buffers below */
    char secret[GW_SECRET_CHARS_MAX + 1];
    char model[GW_MODEL_BYTES + 1];
    char ip[GW_IP_BYTES];
    char idem[GW_IDEM_BYTES + 4];
    uint64_t hold_id;
    int64_t amount, tokens;
    gw_q_check_fn check_fn;
    gw_q_settle_fn settle_fn;
    void *arg;
    struct gw_qcall *next;
};

static void qlink_kick_cb(evutil_socket_t fd, short what, void *arg);
static void qlink_io_cb(evutil_socket_t fd, short what, void *arg);
static void qlink_tick_cb(evutil_socket_t fd, short what, void *arg);

void gw_qlink_init(gw_qlink *q, const gw_config *cfg, unsigned worker)
{
    memset(q, 0, sizeof *q);
    q->cfg = cfg;
    q->worker = worker;
    q->boot_ms = (uint64_t)gw_wall_ms();
}

int gw_qlink_start(gw_qlink *q, struct event_base *base)
{
    q->base = base;
    q->kick = event_new(base, -1, 0, qlink_kick_cb, q);
    q->tick = evtimer_new(base, qlink_tick_cb, q);
    return q->kick != NULL && q->tick != NULL ? 0 : -1;
}

/* The timer runs only while replies are awaited (are they late?) or
 * calls wait for a connection (connect again). */
static void qlink_arm_tick(gw_qlink *q)
{
    struct timeval tick = {0, QLINK_TICK_MS * 1000};
    bool need = q->sent != NULL || (q->todo != NULL && q->c == NULL) ||
                (q->c != NULL && !q->ready);
    if (need && !evtimer_pending(q->tick, NULL) &&
        evtimer_add(q->tick, &tick) != 0)
        gw_log(GW_LOG_ERROR, "cannot arm the quotad timer");
}

/* "gw-<boot ms>-<worker>-<n>": unique per process start and worker. */
void gw_qlink_idem(gw_qlink *q, char *idem, size_t cap)
{
    snprintf(idem, cap, "gw-%" PRIx64 "-%u-%" PRIu64, q->boot_ms, q->worker,
             ++q->next_id);
}

size_t gw_qlink_pending(const gw_qlink *q)
{
    return q->n_todo + q->n_sent;
}

const char *gw_qlink_state(const gw_qlink *q)
{
    if (q->c != NULL)
        return q->ready ? "connected" : "connecting";
    return q->down ? "down" : "idle";
}

/* ---- queues -------------------------------------------------------------- */

static void qq_push(gw_qcall **head, gw_qcall **tail, gw_qcall *k)
{
    k->next = NULL;
    if (*tail != NULL)
        (*tail)->next = k;
    else
        *head = k;
    *tail = k;
}

static gw_qcall *qq_pop(gw_qcall **head, gw_qcall **tail)
{
    gw_qcall *k = *head;
    if (k != NULL) {
        *head = k->next;
        if (*head == NULL)
            *tail = NULL;
        k->next = NULL;
    }
    return k;
}

static void qcall_free(gw_qcall *k)
{
    explicit_bzero(k, sizeof *k);   /* the secret must not linger */
    free(k);
}

/* Run k's callback with its outcome and free it. rc is a libquotad code;
 * a settle or void that failed is logged here, for every caller. */
static void qcall_done(gw_qcall *k, int rc, const qc_check_res *crs,
                       const qc_settle_res *srs)
{
    if (k->op == QOP_VOID && rc == QC_CODE_NOT_FOUND)
        rc = QC_OK;     /* a retried void whose first try went through */
    bool replayed = (crs != NULL && crs->replayed) ||
                    (srs != NULL && srs->replayed);
    if (rc == QC_OK && replayed && k->tries > 1)
        gw_log(GW_LOG_INFO, "%s %s: sent again after a lost reply; quotad "
               "answered it from its first try", k->op == QOP_CHECK ? "check"
                                                                 : "settle",
               k->idem);
    if (k->op != QOP_CHECK && rc != QC_OK)
        gw_log(GW_LOG_ERROR, "%s hold %llu failed: %s; quotad releases it "
               "after hold_timeout_ms", k->op == QOP_VOID ? "void" : "settle",
               (unsigned long long)k->hold_id, qc_strerror(rc));
    if (k->op == QOP_CHECK && k->check_fn != NULL) {
        qc_check_res none;
        memset(&none, 0, sizeof none);
        none.decision = QC_INVALID_API_KEY;     /* never reads as allowed */
        k->check_fn(k->arg, rc, crs != NULL ? crs : &none);
    } else if (k->op != QOP_CHECK && k->settle_fn != NULL) {
        qc_settle_res none;
        memset(&none, 0, sizeof none);
        k->settle_fn(k->arg, rc, srs != NULL ? srs : &none);
    }
    qcall_free(k);
}

/* Fail every call of a detached list (callbacks may queue new calls). */
static void qlink_fail_list(gw_qcall *list, int rc)
{
    while (list != NULL) {
        gw_qcall *k = list;
        list = k->next;
        qcall_done(k, rc, NULL, NULL);
    }
}

/* ---- connection ----------------------------------------------------------- */

static void qlink_drop(gw_qlink *q)
{
    if (q->io != NULL)
        event_free(q->io);
    q->io = NULL;
    if (q->wr != NULL)
        event_free(q->wr);
    q->wr = NULL;
    if (q->c != NULL)
        qc_free(q->c);
    q->c = NULL;
    q->ready = false;
}

static void qlink_options(const gw_qlink *q, qc_options *o)
{
    *o = qc_options_default();
    assert(q->addr_ix < q->cfg->quotad_addrs_n);
    o->host = q->cfg->quotad_addrs[q->addr_ix];
    o->port = (uint16_t)q->cfg->quotad_port;
    o->timeout_ms = q->cfg->quotad_timeout_ms;
    o->client_name = QLINK_CLIENT_NAME;
    o->credential = q->cfg->quotad_credential[0] != '\0'
                        ? q->cfg->quotad_credential
                        : NULL;
    o->nonblocking = true;
}

/* A connect failed: said once per outage, not once per retry. The next
 * try goes to quotad_host's next address, if it has more than one. */
static void qlink_connect_failed(gw_qlink *q, int rc)
{
    if (!q->down)
        gw_log(GW_LOG_ERROR, "quotad %s (%s) port %u: %s; retrying",
               q->cfg->quotad_host, q->cfg->quotad_addrs[q->addr_ix],
               (unsigned)q->cfg->quotad_port, qc_strerror(rc));
    q->down = true;
    q->addr_ix = (q->addr_ix + 1) % q->cfg->quotad_addrs_n;
    qlink_drop(q);
}

/* Watch the new context's socket. */
static int qlink_attach(gw_qlink *q)
{
    q->io = event_new(q->base, qc_fd(q->c), EV_READ | EV_PERSIST,
                      qlink_io_cb, q);
    q->wr = event_new(q->base, qc_fd(q->c), EV_WRITE, qlink_io_cb, q);
    if (q->io == NULL || q->wr == NULL || event_add(q->io, NULL) != 0)
        return QC_ERR_NOMEM;
    return QC_OK;
}

static void qlink_ready(gw_qlink *q)
{
    if (q->down)
        gw_log(GW_LOG_WARN, "quotad %s (%s) port %u: connected again",
               q->cfg->quotad_host, q->cfg->quotad_addrs[q->addr_ix],
               (unsigned)q->cfg->quotad_port);
    q->down = false;
    q->ready = true;
}

/* Start connecting without waiting (qc_connect_start): QC_ERR_AGAIN
 * while the connect and HELLO run (qlink_handshake finishes them), QC_OK
 * when ready, or the error. */
static int qlink_connect(gw_qlink *q)
{
    if (q->c != NULL)
        return q->ready ? QC_OK : QC_ERR_AGAIN;
    qc_options o;
    qlink_options(q, &o);
    int rc = qc_connect_start(&o, &q->c);
    if (rc == QC_OK)
        rc = qlink_attach(q);
    if (rc == QC_OK && event_add(q->wr, NULL) != 0)
        rc = QC_ERR_NOMEM;
    if (rc != QC_OK) {
        qlink_connect_failed(q, rc);
        return rc;
    }
    q->ready = false;
    q->connect_due_ms = gw_mono_ms() + (int64_t)q->cfg->quotad_timeout_ms;
    return QC_ERR_AGAIN;
}

/* Shutdown's connect, which may wait (the event loop has stopped). */
static int qlink_connect_blocking(gw_qlink *q)
{
    if (q->c != NULL && q->ready)
        return QC_OK;
    qlink_drop(q);
    qc_options o;
    qlink_options(q, &o);
    int rc = qc_connect(&o, &q->c);
    if (rc != QC_OK) {
        qlink_connect_failed(q, rc);
        return rc;
    }
    qlink_ready(q);
    return QC_OK;
}

/* No connection (rc): fail the todo calls that waited quotad_timeout_ms,
 * or all of them when quotad refused us (a bad credential, another
 * protocol version): waiting would not help, and clients should know at
 * once. */
static void qlink_expire_todo(gw_qlink *q, int rc)
{
    int64_t now = gw_mono_ms(), wait = (int64_t)q->cfg->quotad_timeout_ms;
    if (rc != QC_ERR_IO && rc != QC_ERR_TIMEOUT)
        wait = 0;
    gw_qcall *keep = NULL, *keep_tail = NULL, *failed = NULL,
             *failed_tail = NULL;
    size_t kept = 0;
    for (gw_qcall *k; (k = qq_pop(&q->todo, &q->todo_tail)) != NULL;) {
        if (now >= k->born_ms + wait) {
            qq_push(&failed, &failed_tail, k);
        } else {
            qq_push(&keep, &keep_tail, k);
            kept++;
        }
    }
    q->todo = keep;
    q->todo_tail = keep_tail;
    q->n_todo = kept;
    qlink_arm_tick(q);
    qlink_fail_list(failed, rc);
}

/* The connection broke (rc): the calls in flight go back to the front
 * of todo to be sent again, or fail when out of tries. */
static void qlink_reset(gw_qlink *q, int rc)
{
    gw_log(GW_LOG_WARN, "quotad connection lost (%s); %zu call(s) in flight "
           "will be retried", qc_strerror(rc), q->n_sent);
    qlink_drop(q);
    gw_qcall *again = NULL, *again_tail = NULL, *failed = NULL,
             *failed_tail = NULL;
    for (gw_qcall *k; (k = qq_pop(&q->sent, &q->sent_tail)) != NULL;) {
        if (k->tries >= QLINK_TRIES_MAX)
            qq_push(&failed, &failed_tail, k);
        else
            qq_push(&again, &again_tail, k);
    }
    q->n_sent = 0;
    if (again != NULL) {
        size_t n = 0;
        for (gw_qcall *k = again; k != NULL; k = k->next)
            n++;
        again_tail->next = q->todo;
        if (q->todo == NULL)
            q->todo_tail = again_tail;
        q->todo = again;
        q->n_todo += n;
        event_active(q->kick, 0, 0);
    }
    qlink_fail_list(failed, rc);
}

/* ---- sending -------------------------------------------------------------- */

static int qcall_append(gw_qlink *q, gw_qcall *k)
{
    switch (k->op) {
    case QOP_CHECK:
        return qc_check_append(q->c, &k->rq, NULL);
    case QOP_SETTLE:
        return qc_settle_append(q->c, k->hold_id, k->amount, k->tokens,
                                k->idem, NULL);
    case QOP_VOID:
    default:
        return qc_void_append(q->c, k->hold_id, NULL);
    }
}

/* Send what the socket takes; watch for writability if more is queued. */
static int qlink_flush(gw_qlink *q)
{
    int rc = qc_flush_nowait(q->c);
    if (rc == QC_ERR_AGAIN || (rc == QC_OK && qc_want_write(q->c)))
        return event_add(q->wr, NULL) == 0 ? QC_OK : QC_ERR_IO;
    return rc;
}

/* Send every todo call on the connection (connecting first). A call the
 * library refuses outright (a bad argument) fails alone. */
static void qlink_send_todo(gw_qlink *q)
{
    if (q->todo == NULL)
        return;
    int rc = qlink_connect(q);
    if (rc == QC_ERR_AGAIN) {
        qlink_arm_tick(q);      /* the handshake's deadline */
        return;
    }
    if (rc != QC_OK) {
        qlink_expire_todo(q, rc);
        return;
    }
    int64_t due = gw_mono_ms() + (int64_t)q->cfg->quotad_timeout_ms;
    gw_qcall *bad = NULL, *bad_tail = NULL;
    for (gw_qcall *k; (k = qq_pop(&q->todo, &q->todo_tail)) != NULL;) {
        q->n_todo--;
        rc = qcall_append(q, k);
        if (rc == QC_ERR_ARG) {
            qq_push(&bad, &bad_tail, k);
            continue;
        }
        k->tries++;
        k->deadline_ms = due;
        qq_push(&q->sent, &q->sent_tail, k);
        q->n_sent++;
        if (rc != QC_OK && rc != QC_ERR_AGAIN)
            break;      /* the context broke: reset below */
    }
    if (rc == QC_OK || rc == QC_ERR_AGAIN || rc == QC_ERR_ARG)
        rc = qlink_flush(q);
    if (rc != QC_OK)
        qlink_reset(q, rc);
    else
        qlink_arm_tick(q);
    qlink_fail_list(bad, QC_ERR_ARG);
}

static void qlink_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    qlink_send_todo(arg);
}

static gw_qcall *qcall_new(qlink_op op, void *arg)
{
    gw_qcall *k = calloc(1, sizeof *k);
    if (k != NULL) {
        k->op = op;
        k->arg = arg;
    }
    return k;
}

/* Queue k; the send happens once this loop pass is done with callbacks,
 * so many calls made in one pass leave in one write. */
static void qlink_queue(gw_qlink *q, gw_qcall *k)
{
    k->born_ms = gw_mono_ms();
    qq_push(&q->todo, &q->todo_tail, k);
    q->n_todo++;
    event_active(q->kick, 0, 0);
}

/* Copy s into out (cap bytes); NULL stays NULL. -1 if it does not fit. */
static int qcall_str(const char *s, char *out, size_t cap, const char **to)
{
    *to = NULL;
    if (s == NULL)
        return 0;
    size_t n = strlen(s);
    if (n >= cap)
        return -1;
    memcpy(out, s, n + 1);
    *to = out;
    return 0;
}

int gw_q_check(gw_qlink *q, const qc_check_req *rq, gw_q_check_fn fn,
               void *arg)
{
    if (gw_qlink_pending(q) >= q->cfg->quotad_calls_max)
        return QC_ERR_AGAIN;    /* bounded memory while quotad is slow */
    gw_qcall *k = qcall_new(QOP_CHECK, arg);
    if (k == NULL)
        return QC_ERR_NOMEM;
    k->rq = *rq;
    /* quotad runs the check by the time this call gives up, or never:
     * a 503 after a stall is not followed by a charge when quotad wakes.
     * A resend after a late reply is past it, so quotad answers it from
     * its idempotency table if it ran, and DEADLINE_EXCEEDED if not. */
    if (k->rq.deadline_ms == 0)
        k->rq.deadline_ms = gw_wall_ms() + (int64_t)q->cfg->quotad_timeout_ms;
    k->check_fn = fn;
    if (qcall_str(rq->secret, k->secret, sizeof k->secret, &k->rq.secret) ||
        qcall_str(rq->model, k->model, sizeof k->model, &k->rq.model) ||
        qcall_str(rq->client_ip, k->ip, sizeof k->ip, &k->rq.client_ip) ||
        qcall_str(rq->idempotency_id, k->idem, sizeof k->idem,
                  &k->rq.idempotency_id)) {
        qcall_free(k);
        return QC_ERR_ARG;
    }
    qlink_queue(q, k);
    return QC_OK;
}

int gw_q_settle(gw_qlink *q, uint64_t hold_id, int64_t amount,
                int64_t tokens, const char *idem, gw_q_settle_fn fn,
                void *arg)
{
    gw_qcall *k = qcall_new(QOP_SETTLE, arg);
    const char *unused = NULL;
    if (k == NULL)
        return QC_ERR_NOMEM;
    if (qcall_str(idem, k->idem, sizeof k->idem, &unused) != 0) {
        qcall_free(k);
        return QC_ERR_ARG;
    }
    k->hold_id = hold_id;
    k->amount = amount;
    k->tokens = tokens;
    k->settle_fn = fn;
    qlink_queue(q, k);
    return QC_OK;
}

int gw_q_void(gw_qlink *q, uint64_t hold_id, gw_q_settle_fn fn, void *arg)
{
    gw_qcall *k = qcall_new(QOP_VOID, arg);
    if (k == NULL)
        return QC_ERR_NOMEM;
    k->hold_id = hold_id;
    k->settle_fn = fn;
    qlink_queue(q, k);
    return QC_OK;
}

/* ---- receiving ------------------------------------------------------------ */

/* Read the reply of sent's head with read_check / read_settle (the
 * nowait or the waiting twins). QC_ERR_AGAIN: not whole yet. */
static int qlink_read_one(gw_qlink *q, bool wait)
{
    gw_qcall *k = q->sent;
    qc_check_res crs;
    qc_settle_res srs;
    int rc;
    if (k == NULL) {    /* nothing asked: only a close can be read */
        rc = wait ? QC_ERR_AGAIN : qc_check_read_nowait(q->c, NULL, &crs);
        if (rc != QC_ERR_AGAIN)
            qlink_drop(q);
        return QC_ERR_AGAIN;
    }
    if (k->op == QOP_CHECK)
        rc = wait ? qc_check_read(q->c, NULL, &crs)
                  : qc_check_read_nowait(q->c, NULL, &crs);
    else
        rc = wait ? qc_settle_read(q->c, NULL, &srs)
                  : qc_settle_read_nowait(q->c, NULL, &srs);
    if (rc == QC_ERR_AGAIN)
        return rc;
    if (rc < 0 || qc_fd(q->c) < 0) {
        /* A transport error, or quotad gave up on the connection (an
         * id-0 error): not this call's answer, so it is sent again. */
        qlink_reset(q, rc < 0 ? rc : QC_ERR_IO);
        return rc < 0 ? rc : QC_ERR_IO;
    }
    qq_pop(&q->sent, &q->sent_tail);
    q->n_sent--;
    qcall_done(k, rc, k->op == QOP_CHECK ? &crs : NULL,
               k->op == QOP_CHECK ? NULL : &srs);
    return QC_OK;
}

/* The connect and HELLO of qlink_connect, one step per wake-up. */
static void qlink_handshake(gw_qlink *q)
{
    int rc = qc_connect_poll(q->c);
    if (rc == QC_ERR_AGAIN) {
        if (qc_want_write(q->c) && event_add(q->wr, NULL) != 0)
            qlink_connect_failed(q, QC_ERR_NOMEM);
        return;
    }
    if (rc != QC_OK) {
        qlink_connect_failed(q, rc);
        qlink_expire_todo(q, rc);
        return;
    }
    qlink_ready(q);
    qlink_send_todo(q);
}

static void qlink_io_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_qlink *q = arg;
    (void)fd;
    if (q->c != NULL && !q->ready) {
        qlink_handshake(q);
        return;
    }
    if ((what & EV_WRITE) && q->c != NULL) {
        int rc = qlink_flush(q);
        if (rc != QC_OK) {
            qlink_reset(q, rc);
            return;
        }
    }
    if (what & EV_READ)
        while (q->c != NULL && qlink_read_one(q, false) == QC_OK)
            ;
}

/* Replies are in order and share one timeout, so only the oldest call
 * can be the first one late. */
static void qlink_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_qlink *q = arg;
    (void)fd;
    (void)what;
    int64_t now = gw_mono_ms();
    if (q->sent != NULL && now >= q->sent->deadline_ms) {
        qlink_reset(q, QC_ERR_TIMEOUT);
    } else if (q->c != NULL && !q->ready && now >= q->connect_due_ms) {
        qlink_connect_failed(q, QC_ERR_TIMEOUT);    /* HELLO unanswered */
        qlink_expire_todo(q, QC_ERR_TIMEOUT);
    } else if (q->c == NULL && q->todo != NULL) {
        qlink_send_todo(q);
    }
    qlink_arm_tick(q);
}

/* Shutdown: finish every call (callbacks may queue more, e.g. the void
 * of a check that was allowed), waiting on the socket, for at most a few
 * timeouts; what is left then fails with QC_ERR_TIMEOUT. */
void gw_qlink_drain(gw_qlink *q)
{
    int64_t end = gw_mono_ms() +
                  QLINK_DRAIN_TIMEOUTS * (int64_t)q->cfg->quotad_timeout_ms;
    while (gw_qlink_pending(q) > 0 && gw_mono_ms() < end) {
        if (q->todo != NULL && qlink_connect_blocking(q) != QC_OK) {
            qlink_expire_todo(q, QC_ERR_IO);
            usleep(QLINK_TICK_MS * 1000);   /* quotad away: again shortly */
            continue;
        }
        qlink_send_todo(q);
        if (q->c == NULL)
            continue;           /* the send broke it: todo again */
        if (q->sent != NULL && qc_flush(q->c) != QC_OK) {
            qlink_reset(q, QC_ERR_IO);
            continue;
        }
        while (q->c != NULL && q->sent != NULL)
            if (qlink_read_one(q, true) != QC_OK)
                break;
    }
    /* A failed call's callback may queue another (bounded: a failed
     * check holds nothing to void). */
    for (int round = 0; round < QLINK_TRIES_MAX && gw_qlink_pending(q) > 0;
         round++) {
        gw_qcall *list = q->sent;
        gw_qcall *todo = q->todo;
        q->sent = q->sent_tail = q->todo = q->todo_tail = NULL;
        q->n_sent = q->n_todo = 0;
        qlink_fail_list(list, QC_ERR_TIMEOUT);
        qlink_fail_list(todo, QC_ERR_TIMEOUT);
    }
}

void gw_qlink_close(gw_qlink *q)
{
    gw_qlink_drain(q);
    qlink_drop(q);
    if (q->kick != NULL)
        event_free(q->kick);
    if (q->tick != NULL)
        event_free(q->tick);
    q->kick = q->tick = NULL;
}
