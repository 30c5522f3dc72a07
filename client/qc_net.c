/* qc_net.c -- libquotad's socket layer: connect, deadlines, buffers, and
 * turning received bytes into a FIFO of decoded replies.
 *
 * The socket is non-blocking for its whole life; every wait is a poll()
 * bounded by the caller's deadline, so no call can hang past timeout_ms.
 */
#include "qc_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Decimal digits of a port plus NUL. */
#define PORT_STR_BYTES 8u

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    int rc = clock_gettime(id, &ts);
    assert(rc == 0);
    (void)rc;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t qci_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t qci_now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t qci_deadline(const qc_ctx *c)
{
    assert(c != NULL);
    return qci_now_ms() + (int64_t)c->timeout_ms;
}

int qci_fail(qc_ctx *c, int rc, const char *fmt, ...)
{
    assert(c != NULL);
    assert(rc != QC_OK);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    if (rc == QC_ERR_IO || rc == QC_ERR_TIMEOUT || rc == QC_ERR_PROTOCOL)
        c->broken = true;
    return rc;
}

int qci_usable(const qc_ctx *c)
{
    if (c == NULL)
        return QC_ERR_ARG;
    if (c->broken)
        return QC_ERR_IO;
    return c->handshaking ? QC_ERR_STATE : QC_OK;
}

qc_ctx *qci_ctx_new(uint32_t timeout_ms)
{
    qc_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->next_id = 1;
    return c;
}

/* Frees every reply still queued: they were never handed out. */
void qc_free(qc_ctx *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    for (size_t i = 0; i < c->q_len; i++)
        quotad__reply__free_unpacked(c->q[c->q_head + i], NULL);
    free(c->q);
    free(c->in);
    free(c->out);
    free(c);
}

const char *qc_errstr(const qc_ctx *c)
{
    return c == NULL ? "no context" : c->errstr;
}

uint64_t qc_last_seq(const qc_ctx *c)
{
    return c == NULL ? 0 : c->last_seq;
}

int qc_role(const qc_ctx *c)
{
    return c == NULL ? 0 : c->role;
}

uint32_t qc_workspace_scope(const qc_ctx *c)
{
    return c == NULL ? 0 : c->ws_scope;
}

size_t qc_in_flight(const qc_ctx *c)
{
    return c == NULL ? 0 : c->in_flight;
}

/* Wait until fd is ready for events or the deadline passes. poll() takes
 * an int of ms, so the remaining time is clamped before the cast. */
static int net_wait(qc_ctx *c, short events, int64_t deadline,
                    short *revents)
{
    for (;;) {
        int64_t left_ms = deadline - qci_now_ms();
        if (left_ms <= 0)
            return qci_fail(c, QC_ERR_TIMEOUT, "timed out after %u ms",
                            (unsigned)c->timeout_ms);
        if (left_ms > INT32_MAX)
            left_ms = INT32_MAX;
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = poll(&p, 1, (int)left_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return qci_fail(c, QC_ERR_IO, "poll: %s", strerror(errno));
        if (n == 0)
            continue; /* the loop top reports the timeout */
        *revents = p.revents;
        return QC_OK;
    }
}

/* The outcome of a connect that was in progress on c->fd. */
static int net_connect_result(qc_ctx *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0)
        return qci_fail(c, QC_ERR_IO, "connect: %s", strerror(err));
    c->connecting = false;
    int one = 1;
    if (c->tcp &&
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        return qci_fail(c, QC_ERR_IO, "TCP_NODELAY: %s", strerror(errno));
    return QC_OK;
}

/* Connect c->fd to one address: finish before deadline, or with
 * deadline QCI_NO_WAIT leave it in progress (c->connecting). */
static int net_connect_one(qc_ctx *c, const struct addrinfo *ai,
                           int64_t deadline)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return qci_fail(c, QC_ERR_IO, "socket: %s", strerror(errno));
    c->fd = fd;
    c->tcp = ai->ai_family != AF_UNIX;
    c->connecting = true;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS)
            return qci_fail(c, QC_ERR_IO, "connect: %s", strerror(errno));
        if (deadline == QCI_NO_WAIT)
            return QC_OK;
        short rev = 0;
        int rc = net_wait(c, POLLOUT, deadline, &rev);
        if (rc != QC_OK)
            return rc;
    }
    return net_connect_result(c);
}

int qci_connect_poll(qc_ctx *c)
{
    assert(c != NULL && c->fd >= 0);
    if (!c->connecting)
        return QC_OK;
    struct pollfd p = {.fd = c->fd, .events = POLLOUT};
    int n = poll(&p, 1, 0);
    if (n < 0 && errno != EINTR)
        return qci_fail(c, QC_ERR_IO, "poll: %s", strerror(errno));
    if (n <= 0)
        return QC_ERR_AGAIN;
    return net_connect_result(c);
}

/* A host that starts with '/' is the path of the server's Unix socket. */
static int open_unix(qc_ctx *c, const char *path, int64_t deadline)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path)
        return qci_fail(c, QC_ERR_ARG, "unix socket path too long");
    memcpy(sun.sun_path, path, strlen(path) + 1);
    struct addrinfo ai = {.ai_family = AF_UNIX, .ai_socktype = SOCK_STREAM,
                          .ai_addr = (struct sockaddr *)&sun,
                          .ai_addrlen = sizeof sun};
    int rc = net_connect_one(c, &ai, deadline);
    if (rc != QC_OK && c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    return rc;
}

/* Try every address the name resolves to (v4 and v6) until one connects.
 * A failed attempt closes its socket and clears the broken flag it set,
 * since only the last failure is reported. */
int qci_open(qc_ctx *c, const char *host, uint16_t port, int64_t deadline)
{
    assert(c != NULL && c->fd < 0);
    if (host[0] == '/')
        return open_unix(c, host, deadline);
    char port_str[PORT_STR_BYTES];
    snprintf(port_str, sizeof port_str, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port_str, &hints, &res);
    if (gai != 0)
        return qci_fail(c, QC_ERR_IO, "resolve %s: %s", host,
                        gai_strerror(gai));
    int rc = qci_fail(c, QC_ERR_IO, "no address for %s", host);
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        c->broken = false;
        rc = net_connect_one(c, ai, deadline);
        if (rc == QC_OK)
            break;
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        if (rc == QC_ERR_TIMEOUT)
            break;
    }
    freeaddrinfo(res);
    return rc;
}

/* Make room for need more bytes in the output buffer (doubling). */
static int out_reserve(qc_ctx *c, size_t need)
{
    assert(need <= QC_IN_BYTES_MAX);
    if (c->out_cap - c->out_len >= need)
        return QC_OK;
    size_t cap = c->out_cap ? c->out_cap : QC_OUT_FLUSH_BYTES;
    while (cap - c->out_len < need)
        cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (p == NULL)
        return qci_fail(c, QC_ERR_NOMEM, "out of memory (output buffer)");
    c->out = p;
    c->out_cap = cap;
    return QC_OK;
}

/* Pack straight into the output buffer: no per-request allocation on the
 * hot path once the buffer has grown. */
int qci_out_frame(qc_ctx *c, const ProtobufCMessage *msg)
{
    assert(c != NULL && msg != NULL);
    size_t body = protobuf_c_message_get_packed_size(msg);
    if (body == 0 || body > FRAME_BYTES_MAX)
        return qci_fail(c, QC_ERR_ARG, "request frame of %zu bytes (max %u)",
                        body, (unsigned)FRAME_BYTES_MAX);
    int rc = out_reserve(c, FRAME_HEADER_BYTES + body);
    if (rc != QC_OK)
        return rc;
    uint8_t *at = c->out + c->out_len;
    qd_frame_put_header(at, (uint32_t)body);
    size_t packed = protobuf_c_message_pack(msg, at + FRAME_HEADER_BYTES);
    assert(packed == body);
    (void)packed;
    c->out_len += FRAME_HEADER_BYTES + body;
    return QC_OK;
}

/* Append a decoded reply to the FIFO. A well-behaved server never sends
 * more replies than requests in flight, plus one id-0 connection error,
 * plus (on a watching connection) up to QC_WATCH_QUEUE_MAX pushed events;
 * anything beyond that is a protocol error, which also bounds the FIFO. */
static bool fifo_is_event(const qc_ctx *c, const Quotad__Reply *r)
{
    return c->watch_id != 0 && r->has_id && r->id == c->watch_id &&
           c->q_len < QC_WATCH_QUEUE_MAX;
}

static int fifo_push(qc_ctx *c, Quotad__Reply *r)
{
    if (c->q_len >= c->in_flight + 1 && !fifo_is_event(c, r)) {
        quotad__reply__free_unpacked(r, NULL);
        return qci_fail(c, QC_ERR_PROTOCOL, "unsolicited reply");
    }
    if (c->q_head + c->q_len == c->q_cap && c->q_head > 0) {
        memmove(c->q, c->q + c->q_head, c->q_len * sizeof *c->q);
        c->q_head = 0;
    }
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : QC_FIFO_SLOTS_INITIAL;
        Quotad__Reply **q = realloc(c->q, cap * sizeof *q);
        if (q == NULL) {
            quotad__reply__free_unpacked(r, NULL);
            return qci_fail(c, QC_ERR_NOMEM, "out of memory (reply queue)");
        }
        c->q = q;
        c->q_cap = cap;
    }
    c->q[c->q_head + c->q_len++] = r;
    return QC_OK;
}

/* Decode one frame body and move its replies into the FIFO. The frame is
 * unpacked with the system allocator so each Reply can be detached and
 * later freed on its own (qc_reply_free). */
static int in_decode_body(qc_ctx *c, const uint8_t *body, uint32_t len)
{
    Quotad__ServerFrame *f = quotad__server_frame__unpack(NULL, len, body);
    if (f == NULL)
        return qci_fail(c, QC_ERR_PROTOCOL, "undecodable reply frame");
    int rc = QC_OK;
    size_t i = 0;
    for (; i < f->n_replies && rc == QC_OK; i++) {
        rc = fifo_push(c, f->replies[i]);
        f->replies[i] = NULL;
    }
    for (; i < f->n_replies; i++)
        quotad__reply__free_unpacked(f->replies[i], NULL);
    f->n_replies = 0;
    quotad__server_frame__free_unpacked(f, NULL);
    return rc;
}

/* Decode every whole frame in the input buffer; grow the buffer when the
 * next frame is known to need more room than it has. */
static int in_decode_all(qc_ctx *c)
{
    for (;;) {
        uint32_t len = 0;
        const uint8_t *at = c->in + c->in_off;
        qd_frame_peek_result pr =
            qd_frame_peek(at, c->in_len - c->in_off, FRAME_BYTES_MAX, &len);
        if (pr == QD_FRAME_OVERSIZED)
            return qci_fail(c, QC_ERR_PROTOCOL,
                            "reply frame of %u bytes (max %u)", (unsigned)len,
                            (unsigned)FRAME_BYTES_MAX);
        if (pr == QD_FRAME_EMPTY)
            return qci_fail(c, QC_ERR_PROTOCOL, "empty reply frame");
        if (pr == QD_FRAME_NEED_MORE)
            break;
        int rc = in_decode_body(c, at + FRAME_HEADER_BYTES, len);
        if (rc != QC_OK)
            return rc;
        c->in_off += FRAME_HEADER_BYTES + (size_t)len;
    }
    return QC_OK;
}

/* Keep the unread bytes at the front and make sure a whole frame of the
 * announced length (at most QC_IN_BYTES_MAX) can fit. */
static int in_make_room(qc_ctx *c)
{
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    size_t need = QC_IN_BYTES_INITIAL;
    uint32_t len = 0;
    if (qd_frame_peek(c->in, c->in_len, FRAME_BYTES_MAX, &len) ==
        QD_FRAME_NEED_MORE && c->in_len >= FRAME_HEADER_BYTES)
        need = FRAME_HEADER_BYTES + (size_t)len;
    assert(need <= QC_IN_BYTES_MAX);
    if (c->in_cap >= need && c->in_len < c->in_cap)
        return QC_OK;
    size_t cap = c->in_cap > need ? c->in_cap : need;
    uint8_t *p = realloc(c->in, cap);
    if (p == NULL)
        return qci_fail(c, QC_ERR_NOMEM, "out of memory (input buffer)");
    c->in = p;
    c->in_cap = cap;
    assert(c->in_len < c->in_cap);
    return QC_OK;
}

/* One recv() of whatever is available, then decode. EOF is recorded, not
 * failed: replies already buffered (e.g. an id-0 error sent just before
 * the server closed) are still delivered first. */
static int in_read_some(qc_ctx *c)
{
    int rc = in_make_room(c);
    if (rc != QC_OK)
        return rc;
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n == 0) {
        c->eof = true;
        return QC_OK;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return QC_ERR_AGAIN;
        if (errno == EINTR)
            return QC_OK;
        return qci_fail(c, QC_ERR_IO, "recv: %s", strerror(errno));
    }
    c->in_len += (size_t)n;
    return in_decode_all(c);
}

/* in_read_some for callers that waited for POLLIN first: nothing to read
 * after all (a spurious wake-up) is not an error. */
static int in_read_ready(qc_ctx *c)
{
    int rc = in_read_some(c);
    return rc == QC_ERR_AGAIN ? QC_OK : rc;
}

int qci_flush(qc_ctx *c, int64_t deadline)
{
    assert(c != NULL && c->fd >= 0);
    size_t off = c->out_off;
    while (off < c->out_len) {
        ssize_t w = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return qci_fail(c, QC_ERR_IO, "send: %s", strerror(errno));
        short rev = 0;
        int rc = net_wait(c, POLLOUT | POLLIN, deadline, &rev);
        if (rc == QC_OK && (rev & POLLIN))
            rc = in_read_ready(c);
        if (rc != QC_OK)
            return rc;
        if (c->eof)
            return qci_fail(c, QC_ERR_IO, "connection closed by server");
    }
    c->out_len = c->out_off = 0;
    return QC_OK;
}

/* The unsent rest stays where it is (out_off) until it is the smaller
 * half, so a long queue sent in many pieces is moved O(n) bytes in all. */
int qci_flush_nowait(qc_ctx *c)
{
    assert(c != NULL && c->fd >= 0);
    size_t off = c->out_off;
    int rc = QC_OK;
    while (off < c->out_len) {
        ssize_t w = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rc = QC_ERR_AGAIN;
            break;
        } else {
            return qci_fail(c, QC_ERR_IO, "send: %s", strerror(errno));
        }
    }
    c->out_off = off;
    if (off == c->out_len) {
        c->out_len = c->out_off = 0;
    } else if (off > c->out_len - off) {
        memmove(c->out, c->out + off, c->out_len - off);
        c->out_len -= off;
        c->out_off = 0;
    }
    return rc;
}

/* Reads until a reply is whole, the socket is drained or the peer closed:
 * one recv() may end inside a frame that the next completes. */
int qci_next_reply_nowait(qc_ctx *c, Quotad__Reply **out)
{
    assert(c != NULL && out != NULL);
    *out = NULL;
    while (c->q_len == 0 && !c->eof) {
        int rc = in_read_some(c);
        if (rc != QC_OK)
            return rc;   /* QC_ERR_AGAIN: drained, nothing whole yet */
    }
    if (c->q_len == 0)
        return qci_fail(c, QC_ERR_IO, "connection closed by server");
    return qci_next_reply(c, 0, out);
}

int qci_next_reply(qc_ctx *c, int64_t deadline, Quotad__Reply **out)
{
    assert(c != NULL && out != NULL);
    *out = NULL;
    while (c->q_len == 0) {
        if (c->eof)
            return qci_fail(c, QC_ERR_IO, "connection closed by server");
        short rev = 0;
        int rc = net_wait(c, POLLIN, deadline, &rev);
        if (rc == QC_OK)
            rc = in_read_ready(c);
        if (rc != QC_OK)
            return rc;
    }
    *out = c->q[c->q_head];
    c->q_head++;
    c->q_len--;
    if (c->q_len == 0)
        c->q_head = 0;
    return QC_OK;
}

int qci_next_event(qc_ctx *c, int64_t deadline, Quotad__Reply **out)
{
    assert(c != NULL && out != NULL);
    *out = NULL;
    while (c->q_len == 0 && !c->eof) {
        int64_t left_ms = deadline - qci_now_ms();
        if (left_ms <= 0) {
            snprintf(c->errstr, sizeof c->errstr, "no event in time");
            return QC_ERR_TIMEOUT;
        }
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int n = poll(&p, 1, left_ms > INT32_MAX ? INT32_MAX : (int)left_ms);
        if (n < 0 && errno != EINTR)
            return qci_fail(c, QC_ERR_IO, "poll: %s", strerror(errno));
        int rc = n > 0 ? in_read_ready(c) : QC_OK;
        if (rc != QC_OK)
            return rc;
    }
    return qci_next_reply(c, deadline, out);
}
