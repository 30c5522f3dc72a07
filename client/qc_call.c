/* qc_call.c -- libquotad's request layer: ids, ClientFrames, matching each
 * reply to its request, and the HELLO handshake.
 *
 * Ids run from 1 upward and replies come back in request order, so the id
 * the next reply must carry is always next_id - in_flight: no table of
 * pending ids is needed.
 */
#include "qc_admin.h"
#include "qc_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

qc_options qc_options_default(void)
{
    qc_options o = {.host = DEFAULT_HOST,
                    .port = DEFAULT_PORT,
                    .timeout_ms = QC_TIMEOUT_MS_DEFAULT,
                    .client_name = NULL};
    return o;
}

void qc_reply_free(Quotad__Reply *r)
{
    if (r != NULL)
        quotad__reply__free_unpacked(r, NULL);
}

/* Ids are assigned before packing because they change the packed size; a
 * refused frame gives its ids back so the id sequence stays dense. */
int qci_send(qc_ctx *c, Quotad__Request **reqs, size_t n)
{
    assert(c != NULL && reqs != NULL);
    assert(n >= 1 && n <= BATCH_OPS_MAX);
    for (size_t i = 0; i < n; i++) {
        reqs[i]->has_id = 1;
        reqs[i]->id = c->next_id + i;
    }
    Quotad__ClientFrame f = QUOTAD__CLIENT_FRAME__INIT;
    f.has_version = 1;
    f.version = PROTO_VERSION;
    f.n_requests = n;
    f.requests = reqs;
    int rc = qci_out_frame(c, &f.base);
    if (rc != QC_OK)
        return rc;
    c->next_id += n;
    c->in_flight += n;
    if (c->out_len - c->out_off < QC_OUT_FLUSH_BYTES)
        return QC_OK;
    if (!c->nonblocking)
        return qci_flush(c, qci_deadline(c));
    rc = qci_flush_nowait(c);   /* the rest goes with the next flush */
    return rc == QC_ERR_AGAIN ? QC_OK : rc;
}

/* Classify a reply that arrived for the oldest request in flight. An id-0
 * reply with a code is the server giving up on the connection; any other
 * id mismatch means we and the server disagree about the stream. */
static int read_classify(qc_ctx *c, Quotad__Reply *r, uint64_t want)
{
    uint64_t id = r->has_id ? r->id : 0;
    int code = r->has_code ? (int)r->code : QC_OK;
    if (id == 0 && code != QC_OK) {
        c->broken = true;
        snprintf(c->errstr, sizeof c->errstr, "server closed connection: %s",
                 r->error ? r->error : qc_code_str(code));
        return code;
    }
    if (id != want)
        return qci_fail(c, QC_ERR_PROTOCOL,
                        "reply id %llu, expected %llu",
                        (unsigned long long)id, (unsigned long long)want);
    return QC_OK;
}

/* r arrived for the oldest request in flight: check its id, account for
 * it and hand it out (*out), or free it on a mismatch. */
static int read_take(qc_ctx *c, Quotad__Reply *r, Quotad__Reply **out)
{
    assert(c->next_id > c->in_flight);
    int rc = read_classify(c, r, c->next_id - c->in_flight);
    if (rc != QC_OK) {
        quotad__reply__free_unpacked(r, NULL);
        return rc;
    }
    c->in_flight--;
    if (r->has_seq)
        c->last_seq = r->seq;
    *out = r;
    int code = r->has_code ? (int)r->code : QC_OK;
    if (code == QC_OK)
        return QC_OK;
    snprintf(c->errstr, sizeof c->errstr, "%s",
             r->error ? r->error : qc_code_str(code));
    return code;
}

int qci_read(qc_ctx *c, Quotad__Reply **out)
{
    assert(c != NULL && out != NULL);
    *out = NULL;
    if (c->broken)
        return QC_ERR_IO;
    if (c->in_flight == 0)
        return qci_fail(c, QC_ERR_STATE, "no request in flight");
    int64_t deadline = qci_deadline(c);
    int rc = c->out_len > 0 ? qci_flush(c, deadline) : QC_OK;
    Quotad__Reply *r = NULL;
    if (rc == QC_OK)
        rc = qci_next_reply(c, deadline, &r);
    if (rc != QC_OK)
        return rc;
    return read_take(c, r, out);
}

/* With nothing in flight the socket is still read: an event loop that
 * watches an idle connection must see the server close it or give up on
 * it (an id-0 error), or it would spin on a readable socket. */
int qci_read_nowait(qc_ctx *c, Quotad__Reply **out)
{
    assert(c != NULL && out != NULL);
    *out = NULL;
    if (c->broken)
        return QC_ERR_IO;
    int rc = c->out_len > 0 ? qci_flush_nowait(c) : QC_OK;
    if (rc != QC_OK && rc != QC_ERR_AGAIN)
        return rc;
    Quotad__Reply *r = NULL;
    rc = qci_next_reply_nowait(c, &r);
    if (rc != QC_OK)
        return rc;
    if (c->in_flight > 0)
        return read_take(c, r, out);
    bool conn_error = (!r->has_id || r->id == 0) && r->has_code &&
                      r->code != QUOTAD__CODE__OK;
    rc = conn_error ? read_classify(c, r, 0)
                    : qci_fail(c, QC_ERR_PROTOCOL, "unsolicited reply");
    quotad__reply__free_unpacked(r, NULL);
    return rc;
}

int qci_roundtrip(qc_ctx *c, Quotad__Request *req, Quotad__Reply **out)
{
    assert(out != NULL);
    *out = NULL;
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    if (req == NULL)
        return QC_ERR_ARG;
    if (c->in_flight != 0)
        return qci_fail(c, QC_ERR_STATE, "%zu requests still in flight",
                        c->in_flight);
    rc = qci_send(c, &req, 1);
    if (rc != QC_OK)
        return rc;
    return qci_read(c, out);
}

int qc_call(qc_ctx *c, Quotad__Request *req, Quotad__Reply **out)
{
    if (out == NULL)
        return QC_ERR_ARG;
    return qci_roundtrip(c, req, out);
}

int qc_append(qc_ctx *c, Quotad__Request *req)
{
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    if (req == NULL)
        return QC_ERR_ARG;
    return qci_send(c, &req, 1);
}

/* qc_read and qc_read_nowait; read is qci_read or qci_read_nowait. */
static int generic_read(qc_ctx *c, Quotad__Reply **out,
                        int (*read)(qc_ctx *, Quotad__Reply **))
{
    if (out == NULL)
        return QC_ERR_ARG;
    *out = NULL;
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    return read(c, out);
}

int qc_read(qc_ctx *c, Quotad__Reply **out)
{
    return generic_read(c, out, qci_read);
}

int qc_flush(qc_ctx *c)
{
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    return c->out_len > 0 ? qci_flush(c, qci_deadline(c)) : QC_OK;
}

/* ---- event-loop use: nothing below waits ---- */

int qc_fd(const qc_ctx *c)
{
    return c == NULL || c->broken ? -1 : c->fd;
}

bool qc_want_write(const qc_ctx *c)
{
    return c != NULL && !c->broken && (c->out_len > 0 || c->connecting);
}

int qc_flush_nowait(qc_ctx *c)
{
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    return c->out_len > 0 ? qci_flush_nowait(c) : QC_OK;
}

int qc_read_nowait(qc_ctx *c, Quotad__Reply **out)
{
    return generic_read(c, out, qci_read_nowait);
}

/* Free the replies read so far after a batch failed part-way, so a
 * negative return always leaves out[] all NULL. */
static void batch_drop(Quotad__Reply **out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        qc_reply_free(out[i]);
        out[i] = NULL;
    }
}

/* Per-request server codes are left in out[i]->code; only a failed round
 * trip (or the server dropping the connection) fails the whole batch. */
int qc_call_batch(qc_ctx *c, Quotad__Request **reqs, size_t n,
                  Quotad__Reply **out)
{
    int rc = qci_usable(c);
    if (rc != QC_OK)
        return rc;
    if (reqs == NULL || out == NULL || n == 0 || n > BATCH_OPS_MAX)
        return QC_ERR_ARG;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (reqs[i] == NULL)
            return QC_ERR_ARG;
    }
    if (c->in_flight != 0)
        return qci_fail(c, QC_ERR_STATE, "%zu requests still in flight",
                        c->in_flight);
    rc = qci_send(c, reqs, n);
    for (size_t i = 0; i < n && rc == QC_OK; i++) {
        rc = qci_read(c, &out[i]);
        if (rc > 0 && !c->broken)
            rc = QC_OK;
    }
    if (rc != QC_OK)
        batch_drop(out, n);
    return rc;
}

/* HELLO pins the protocol version before anything else is sent. */
typedef struct hello_msg {
    Quotad__Hello h;
    Quotad__Request req;
} hello_msg;

static void hello_build(hello_msg *m, const qc_options *opt)
{
    quotad__hello__init(&m->h);
    m->h.has_version = 1;
    m->h.version = PROTO_VERSION;
    m->h.client_name = (char *)opt->client_name;
    m->h.credential = (char *)opt->credential;
    quotad__request__init(&m->req);
    m->req.op_case = QUOTAD__REQUEST__OP_HELLO;
    m->req.hello = &m->h;
}

/* Take HELLO's answer (rc and r from reading it); frees r. A refusal
 * (wrong version, bad credential) leaves c broken: nothing else may be
 * sent on it. */
static int hello_accept(qc_ctx *c, int rc, Quotad__Reply *r)
{
    if (rc == QC_OK && (r->result_case != QUOTAD__REPLY__RESULT_HELLO ||
                        r->hello == NULL))
        rc = qci_fail(c, QC_ERR_PROTOCOL, "HELLO answered without hello");
    else if (rc == QC_OK && r->hello->version != PROTO_VERSION)
        rc = QC_CODE_VERSION_MISMATCH;
    if (rc == QC_OK) {
        c->role = (int)r->hello->role;
        c->ws_scope = r->hello->workspace_id;
        c->clock_offset_ms = r->hello->has_server_time_ms
                                 ? r->hello->server_time_ms - qci_wall_ms()
                                 : 0;
    }
    qc_reply_free(r);
    if (rc != QC_OK)
        c->broken = true;
    return rc;
}

static int connect_check(const qc_options *opt)
{
    if (opt == NULL || opt->host == NULL || opt->port == 0)
        return QC_ERR_ARG;
    if (opt->client_name != NULL &&
        strnlen(opt->client_name, NAME_BYTES_MAX + 1) > NAME_BYTES_MAX)
        return QC_ERR_ARG;
    if (opt->credential != NULL &&
        strnlen(opt->credential, QC_CREDENTIAL_CHARS_MAX + 1) >
            QC_CREDENTIAL_CHARS_MAX)
        return QC_ERR_ARG;
    return QC_OK;
}

/* Both connects: a new context, connected (wait) or connecting, with
 * HELLO queued; *out is NULL on failure. */
static int connect_open(const qc_options *opt, bool wait, qc_ctx **out,
                        hello_msg *m)
{
    int rc = connect_check(opt);
    if (rc != QC_OK)
        return rc;
    uint32_t timeout_ms =
        opt->timeout_ms ? opt->timeout_ms : QC_TIMEOUT_MS_DEFAULT;
    qc_ctx *c = qci_ctx_new(timeout_ms);
    if (c == NULL)
        return QC_ERR_NOMEM;
    c->nonblocking = opt->nonblocking || !wait;
    rc = qci_open(c, opt->host, opt->port,
                  wait ? qci_deadline(c) : QCI_NO_WAIT);
    hello_build(m, opt);
    if (rc != QC_OK) {
        qc_free(c);
        return rc;
    }
    *out = c;
    return QC_OK;
}

/* qc_connect (wait: connect and HELLO round trip) and qc_connect_start
 * (neither waits: HELLO is queued, qc_connect_poll finishes). */
static int connect_any(const qc_options *opt, bool wait, qc_ctx **out)
{
    if (out == NULL)
        return QC_ERR_ARG;
    *out = NULL;
    hello_msg m;
    qc_ctx *c = NULL;
    int rc = connect_open(opt, wait, &c, &m);
    if (rc != QC_OK)
        return rc;
    if (wait) {
        Quotad__Reply *r = NULL;
        rc = qci_roundtrip(c, &m.req, &r);
        rc = hello_accept(c, rc, r);
    } else {
        Quotad__Request *req = &m.req;
        rc = qci_send(c, &req, 1);  /* queued: far below the auto-flush */
        c->handshaking = rc == QC_OK;
    }
    if (rc != QC_OK) {
        qc_free(c);
        return rc;
    }
    *out = c;
    return QC_OK;
}

int qc_connect(const qc_options *opt, qc_ctx **out)
{
    return connect_any(opt, true, out);
}

int qc_connect_start(const qc_options *opt, qc_ctx **out)
{
    return connect_any(opt, false, out);
}

int qc_connect_poll(qc_ctx *c)
{
    if (c == NULL)
        return QC_ERR_ARG;
    if (c->broken)
        return QC_ERR_IO;
    if (!c->handshaking)
        return QC_OK;
    int rc = qci_connect_poll(c);
    if (rc != QC_OK)
        return rc;
    Quotad__Reply *r = NULL;
    rc = qci_read_nowait(c, &r);    /* sends HELLO first, as far as it can */
    if (rc == QC_ERR_AGAIN)
        return rc;
    rc = hello_accept(c, rc, r);
    c->handshaking = rc != QC_OK;
    return rc;
}
