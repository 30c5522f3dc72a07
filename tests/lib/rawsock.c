/* rawsock -- frames over a plain socket; see rawsock.h. */
#include "lib/rawsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "limits.h"
#include "qd_frame.h"

int rs_connect(uint16_t port)
{
    return rs_connect_opts(port, 0, 0);
}

int rs_connect_opts(uint16_t port, int rcvbuf, int send_timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (send_timeout_ms > 0) {
        struct timeval tv = {.tv_sec = send_timeout_ms / 1000,
                             .tv_usec = (send_timeout_ms % 1000) * 1000};
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (rcvbuf > 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

uint16_t rs_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

int rs_send_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Grow *buf by extra bytes; returns where they start, or NULL. */
static uint8_t *rs_grow(uint8_t **buf, size_t *len, size_t extra)
{
    uint8_t *nb = realloc(*buf, *len + extra);
    if (nb == NULL)
        return NULL;
    *buf = nb;
    uint8_t *at = nb + *len;
    *len += extra;
    return at;
}

int rs_append_frame(uint8_t **buf, size_t *len, Quotad__Request **reqs,
                    size_t n)
{
    Quotad__ClientFrame f = QUOTAD__CLIENT_FRAME__INIT;
    f.has_version = 1;
    f.version = PROTO_VERSION;
    f.n_requests = n;
    f.requests = reqs;
    size_t body = quotad__client_frame__get_packed_size(&f);
    uint8_t *at = rs_grow(buf, len, FRAME_HEADER_BYTES + body);
    if (at == NULL)
        return -1;
    qd_frame_put_header(at, (uint32_t)body);
    quotad__client_frame__pack(&f, at + FRAME_HEADER_BYTES);
    return 0;
}

int rs_append_raw(uint8_t **buf, size_t *len, const uint8_t *body,
                  size_t body_len)
{
    uint8_t *at = rs_grow(buf, len, FRAME_HEADER_BYTES + body_len);
    if (at == NULL)
        return -1;
    qd_frame_put_header(at, (uint32_t)body_len);
    memcpy(at + FRAME_HEADER_BYTES, body, body_len);
    return 0;
}

/* Wait until fd is readable (or hung up); 1 ready, 0 timeout. */
static int rs_wait_readable(int fd, int64_t timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    int r;
    do {
        r = poll(&p, 1, (int)timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

/* Read exactly n bytes before the deadline; -1 on EOF/error/timeout. */
static int rs_recv_full(int fd, uint8_t *buf, size_t n, int64_t deadline)
{
    while (n > 0) {
        int64_t left = deadline - td_now_ms();
        if (left <= 0 || !rs_wait_readable(fd, left))
            return -1;
        ssize_t r = recv(fd, buf, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

Quotad__ServerFrame *rs_read_frame(int fd)
{
    int64_t deadline = td_now_ms() + RS_IO_TIMEOUT_MS;
    uint8_t hdr[FRAME_HEADER_BYTES];
    if (rs_recv_full(fd, hdr, sizeof hdr, deadline) != 0)
        return NULL;
    uint32_t len = 0;
    if (qd_frame_peek(hdr, sizeof hdr, FRAME_BYTES_MAX, &len) < 0)
        return NULL;
    uint8_t *body = malloc(len);
    if (body == NULL)
        return NULL;
    Quotad__ServerFrame *f = NULL;
    if (rs_recv_full(fd, body, len, deadline) == 0)
        f = quotad__server_frame__unpack(NULL, len, body);
    free(body);
    return f;
}

int rs_closed_within(int fd, int64_t timeout_ms)
{
    int64_t deadline = td_now_ms() + timeout_ms;
    uint8_t scratch[4096];
    for (;;) {
        int64_t left = deadline - td_now_ms();
        if (left <= 0 || !rs_wait_readable(fd, left))
            return 0;
        ssize_t r = recv(fd, scratch, sizeof scratch, 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
            return 1;
    }
}
