/* resp.c -- see resp.h. The socket is non-blocking; every wait is a poll
 * bounded by timeout_ms, so a stuck server cannot hang a bench run. */
#include "resp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Longest header line "$<len>\r\n" or integer we accept. */
#define RESP_LINE_MAX 32u
/* Room for "*<argc>\r\n" or "$<len>\r\n" or a printed int64. */
#define RESP_HDR_BYTES 32u

static int fail(resp_conn *c, const char *what)
{
    snprintf(c->err, sizeof c->err, "%s: %s", what,
             errno ? strerror(errno) : "failed");
    return -1;
}

/* ---- parser ---- */

/* The line at buf (up to CRLF); *line_len excludes CRLF. 1, 0, -1. */
static int parse_line(const char *buf, size_t len, size_t *line_len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\r' && buf[i + 1] == '\n') {
            *line_len = i;
            return 1;
        }
        if (i > RESP_LINE_MAX + RESP_STR_BYTES * 64)
            return -1;
    }
    return 0;
}

static int parse_int(const char *s, size_t n, int64_t *out)
{
    char tmp[RESP_LINE_MAX];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end = NULL;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static void keep_str(resp_reply *r, const char *s, size_t n)
{
    if (r->str[0] != '\0')
        return; /* keep the first string only */
    size_t m = n < sizeof r->str - 1 ? n : sizeof r->str - 1;
    memcpy(r->str, s, m);
    r->str[m] = '\0';
}

static void keep_int(resp_reply *r, int64_t v)
{
    if (r->n_ints < RESP_INTS_MAX)
        r->ints[r->n_ints++] = v;
}

/* One element at buf; depth > 0 inside an array. 1, 0, -1. */
static int parse_elem(const char *buf, size_t len, resp_reply *r,
                      size_t *used, unsigned depth)
{
    size_t ll = 0;
    int rc = parse_line(buf, len, &ll);
    if (rc <= 0)
        return rc;
    const char *body = buf + 1;
    size_t bl = ll - 1;
    if (ll < 1 || depth > RESP_DEPTH_MAX)
        return -1;
    size_t at = ll + 2;
    int64_t n = 0;
    switch (buf[0]) {
    case '+':
    case '-':
        keep_str(r, body, bl);
        break;
    case ':':
        if (parse_int(body, bl, &n) != 0)
            return -1;
        keep_int(r, n);
        break;
    case '$':
        if (parse_int(body, bl, &n) != 0 || n < -1 ||
            n > (int64_t)RESP_IN_BYTES_MAX)
            return -1;
        if (n >= 0) {
            if (len - at < (size_t)n + 2)
                return 0;
            keep_str(r, buf + at, (size_t)n);
            at += (size_t)n + 2;
        } else if (depth == 0) {
            r->type = 'n';
        }
        break;
    case '*':
        if (parse_int(body, bl, &n) != 0 || n < -1 ||
            n > (int64_t)RESP_IN_BYTES_MAX)
            return -1;
        if (n < 0 && depth == 0)
            r->type = 'n';
        for (int64_t i = 0; i < n; i++) {
            size_t u = 0;
            rc = parse_elem(buf + at, len - at, r, &u, depth + 1);
            if (rc <= 0)
                return rc;
            at += u;
        }
        break;
    default:
        return -1;
    }
    *used = at;
    return 1;
}

int resp_parse(const char *buf, size_t len, resp_reply *r, size_t *used)
{
    memset(r, 0, sizeof *r);
    if (len == 0)
        return 0;
    r->type = buf[0];
    return parse_elem(buf, len, r, used, 0);
}

/* ---- connection ---- */

int resp_connect(resp_conn *c, const char *host, uint16_t port,
                 uint32_t timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl = 0;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        sl = sizeof *v4;
    } else if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        sl = sizeof *v6;
    } else {
        snprintf(c->err, sizeof c->err, "not a numeric address: %s", host);
        return -1;
    }
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return fail(c, "socket");
    struct timeval tv = {.tv_sec = timeout_ms / 1000,
                         .tv_usec = (timeout_ms % 1000) * 1000};
    int one = 1;
    if (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
        connect(c->fd, (struct sockaddr *)&ss, sl) != 0 ||
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        return fail(c, "connect");
    c->out = malloc(RESP_OUT_BYTES_INITIAL);
    c->in = malloc(RESP_IN_BYTES_INITIAL);
    if (c->out == NULL || c->in == NULL)
        return fail(c, "malloc");
    c->out_cap = RESP_OUT_BYTES_INITIAL;
    c->in_cap = RESP_IN_BYTES_INITIAL;
    return 0;
}

void resp_close(resp_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->out);
    free(c->in);
    c->out = c->in = NULL;
}

static int out_reserve(resp_conn *c, size_t need)
{
    if (c->out_cap - c->out_len >= need)
        return 0;
    size_t cap = c->out_cap;
    while (cap - c->out_len < need && cap < RESP_OUT_BYTES_MAX)
        cap *= 2;
    if (cap - c->out_len < need) {
        snprintf(c->err, sizeof c->err, "output above %u bytes",
                 RESP_OUT_BYTES_MAX);
        return -1;
    }
    char *p = realloc(c->out, cap);
    if (p == NULL)
        return fail(c, "realloc");
    c->out = p;
    c->out_cap = cap;
    return 0;
}

int resp_cmd_begin(resp_conn *c, unsigned argc)
{
    if (out_reserve(c, RESP_HDR_BYTES) != 0)
        return -1;
    c->out_len += (size_t)snprintf(c->out + c->out_len, RESP_HDR_BYTES,
                                   "*%u\r\n", argc);
    return 0;
}

int resp_cmd_arg(resp_conn *c, const char *s, size_t len)
{
    if (out_reserve(c, RESP_HDR_BYTES + len + 2) != 0)
        return -1;
    c->out_len += (size_t)snprintf(c->out + c->out_len, RESP_HDR_BYTES,
                                   "$%zu\r\n", len);
    memcpy(c->out + c->out_len, s, len);
    c->out_len += len;
    c->out[c->out_len++] = '\r';
    c->out[c->out_len++] = '\n';
    return 0;
}

int resp_cmd_str(resp_conn *c, const char *s)
{
    return resp_cmd_arg(c, s, strlen(s));
}

int resp_cmd_i64(resp_conn *c, int64_t v)
{
    char tmp[RESP_HDR_BYTES];
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    return resp_cmd_arg(c, tmp, (size_t)n);
}

/* Blocking send with SO_SNDTIMEO bounding each write. */
int resp_flush(resp_conn *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t w = send(c->fd, c->out + off, c->out_len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fail(c, "send");
        off += (size_t)w;
    }
    c->out_len = 0;
    return 0;
}

/* Compact, grow if full, then one recv (after a bounded poll). */
static int in_fill(resp_conn *c)
{
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len == c->in_cap) {
        if (c->in_cap >= RESP_IN_BYTES_MAX) {
            snprintf(c->err, sizeof c->err, "reply above %u bytes",
                     RESP_IN_BYTES_MAX);
            return -1;
        }
        char *p = realloc(c->in, c->in_cap * 2);
        if (p == NULL)
            return fail(c, "realloc");
        c->in = p;
        c->in_cap *= 2;
    }
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int n = poll(&pfd, 1, (int)c->timeout_ms);
    if (n == 0) {
        snprintf(c->err, sizeof c->err, "no reply within %u ms",
                 c->timeout_ms);
        return -1;
    }
    if (n < 0)
        return errno == EINTR ? 0 : fail(c, "poll");
    ssize_t got = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (got == 0) {
        snprintf(c->err, sizeof c->err, "connection closed by server");
        return -1;
    }
    if (got < 0)
        return errno == EINTR ? 0 : fail(c, "recv");
    c->in_len += (size_t)got;
    return 0;
}

int resp_read(resp_conn *c, resp_reply *r)
{
    for (;;) {
        size_t used = 0;
        int rc = resp_parse(c->in + c->in_off, c->in_len - c->in_off, r,
                            &used);
        if (rc < 0) {
            snprintf(c->err, sizeof c->err, "undecodable RESP reply");
            return -1;
        }
        if (rc == 1) {
            c->in_off += used;
            return 0;
        }
        if (in_fill(c) != 0)
            return -1;
    }
}

bool resp_reply_ready(const resp_conn *c)
{
    resp_reply r;
    size_t used = 0;
    return resp_parse(c->in + c->in_off, c->in_len - c->in_off, &r, &used) ==
           1;
}

int resp_call(resp_conn *c, resp_reply *r, unsigned argc,
              const char *const *argv)
{
    if (resp_cmd_begin(c, argc) != 0)
        return -1;
    for (unsigned i = 0; i < argc; i++)
        if (resp_cmd_str(c, argv[i]) != 0)
            return -1;
    if (resp_flush(c) != 0)
        return -1;
    return resp_read(c, r);
}
