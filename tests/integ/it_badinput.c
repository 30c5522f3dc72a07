/* it_badinput -- hostile and broken clients on raw sockets (no client
 * library for them): truncated, oversized, empty and garbage frames,
 * oversized batches, missing ops, wrong versions, malformed secrets, and a
 * client that pipelines pings and never reads. After each case a
 * well-behaved client on a new connection must still get correct answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "limits.h"
#include "rawsock.h"
#include "t.h"

#define IO_TIMEOUT_MS 5000
#define HUGE_SECRET_BYTES (100 * 1024)
#define BATCH_OVER (BATCH_OPS_MAX + 1)
#define SLOW_PINGS 50000
#define SLOW_PAYLOAD 2048          /* 50k unbounded replies would be ~100 MB */
#define SLOW_RCVBUF 4096
#define SLOW_FRAMES_PER_CHUNK 16
#define SLOW_STALL_MS 2000         /* no write progress: server stopped */
#define SLOW_CLOSE_WAIT_MS 10000
#define SLOW_PHASE_MAX_MS 30000
#define GOOD_PING_MAX_MS 1000
#define RSS_GROWTH_MAX_KB (64 * 1024)
#define PROBE_EVERY_MS 100

static td_daemon g_d;
static qc_ctx *g_c;
static fx_key g_key;
static int64_t g_expect_bal;

/* Frame headers are big-endian. */
static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Encode a ClientFrame (header + body) into a new buffer. */
static uint8_t *encode_frame(Quotad__Request **reqs, size_t n,
                             uint32_t version, size_t *out_len)
{
    Quotad__ClientFrame f = QUOTAD__CLIENT_FRAME__INIT;
    FX_SET(f, version, version);
    f.n_requests = n;
    f.requests = reqs;
    size_t body = quotad__client_frame__get_packed_size(&f);
    uint8_t *buf = malloc(FRAME_HEADER_BYTES + body);
    if (buf == NULL)
        return NULL;
    put_be32(buf, (uint32_t)body);
    quotad__client_frame__pack(&f, buf + FRAME_HEADER_BYTES);
    *out_len = FRAME_HEADER_BYTES + body;
    return buf;
}

/* Encode and send one ClientFrame. */
static int send_frame(int fd, Quotad__Request **reqs, size_t n,
                      uint32_t version)
{
    size_t len = 0;
    uint8_t *buf = encode_frame(reqs, n, version, &len);
    if (buf == NULL)
        return -1;
    int rc = rs_send_all(fd, buf, len);
    free(buf);
    return rc;
}

/* A ping request (payload may be NULL). */
static void mk_ping(Quotad__Request *rq, Quotad__Ping *p, uint64_t id,
                    uint8_t *payload, size_t len)
{
    Quotad__Ping p0 = QUOTAD__PING__INIT;
    Quotad__Request r0 = QUOTAD__REQUEST__INIT;
    *p = p0;
    *rq = r0;
    if (payload != NULL) {
        p->has_payload = 1;
        p->payload.data = payload;
        p->payload.len = len;
    }
    FX_SET(*rq, id, id);
    rq->op_case = QUOTAD__REQUEST__OP_PING;
    rq->ping = p;
}

/* The single reply of a server frame: id and code, or -1. */
static int sole_code(const Quotad__ServerFrame *f, uint64_t *id)
{
    if (f == NULL || f->n_replies != 1)
        return -1;
    *id = f->replies[0]->id;
    return (int)f->replies[0]->code;
}

/* A new well-behaved client: ping and a check with exact answers. */
static int healthy_on(const td_daemon *d, const fx_key *k, int64_t *bal)
{
    qc_ctx *c = td_connect(d);
    if (c == NULL)
        return 0;
    qc_check_res rs;
    int ok = qc_ping(c) == QC_OK && fx_check(c, k->secret, 1, &rs) == QC_OK &&
             rs.decision == QC_ALLOWED && rs.wallet_balance == *bal - 1 &&
             rs.key_id == k->id;
    if (ok)
        *bal -= 1;
    else
        fprintf(stderr, "  healthy: decision %d balance %lld want %lld\n",
                (int)rs.decision, (long long)rs.wallet_balance,
                (long long)(*bal - 1));
    qc_free(c);
    return ok;
}

/* healthy_on() against the main daemon. */
static int healthy(void)
{
    return healthy_on(&g_d, &g_key, &g_expect_bal);
}

/* ---- cases ---- */

static void test_truncated_then_close(void)
{
    int fd = rs_connect(g_d.port);
    T_REQUIRE(fd >= 0);
    uint8_t buf[FRAME_HEADER_BYTES + 10] = {0};
    put_be32(buf, 100);
    T_CHECK(rs_send_all(fd, buf, sizeof buf) == 0);
    close(fd);
    fd = rs_connect(g_d.port);             /* header only */
    T_REQUIRE(fd >= 0);
    T_CHECK(rs_send_all(fd, buf, 2) == 0);
    close(fd);
    T_CHECK(healthy());
}

/* A half frame left hanging must not stall other connections. */
static void test_truncated_then_silence(void)
{
    int fd = rs_connect(g_d.port);
    T_REQUIRE(fd >= 0);
    uint8_t buf[FRAME_HEADER_BYTES + 10] = {0};
    put_be32(buf, 100);
    T_CHECK(rs_send_all(fd, buf, sizeof buf) == 0);
    for (int i = 0; i < 3; i++)
        T_CHECK(healthy());
    close(fd);
    T_CHECK(healthy());
}

/* A bare length prefix; expect one reply {id 0, code} then close. */
static void expect_prefix_reply(uint32_t len, const uint8_t *body,
                                size_t body_len, int code)
{
    int fd = rs_connect(g_d.port);
    T_REQUIRE(fd >= 0);
    uint8_t hdr[FRAME_HEADER_BYTES];
    put_be32(hdr, len);
    T_CHECK(rs_send_all(fd, hdr, sizeof hdr) == 0);
    if (body_len > 0)
        T_CHECK(rs_send_all(fd, body, body_len) == 0);
    Quotad__ServerFrame *f = rs_read_frame(fd);
    uint64_t id = 99;
    T_EQ_I64(sole_code(f, &id), code);
    T_EQ_I64(id, 0);
    if (f != NULL)
        quotad__server_frame__free_unpacked(f, NULL);
    T_CHECK(rs_closed_within(fd, IO_TIMEOUT_MS));
    close(fd);
    T_CHECK(healthy());
}

/* Lengths above FRAME_BYTES_MAX are refused before any body byte. */
static void test_oversized_prefix(void)
{
    expect_prefix_reply(0x7fffffffu, NULL, 0, QUOTAD__CODE__FRAME_TOO_LARGE);
    expect_prefix_reply(0xffffffffu, NULL, 0, QUOTAD__CODE__FRAME_TOO_LARGE);
    expect_prefix_reply(FRAME_BYTES_MAX + 1, NULL, 0,
                        QUOTAD__CODE__FRAME_TOO_LARGE);
}

/* Length 0 is malformed by definition. */
static void test_zero_length(void)
{
    expect_prefix_reply(0, NULL, 0, QUOTAD__CODE__MALFORMED);
}

/* Bodies that protobuf cannot decode: junk and a lying length. */
static void test_garbage_body(void)
{
    uint8_t junk[16];
    memset(junk, 0xff, sizeof junk);
    expect_prefix_reply(sizeof junk, junk, sizeof junk,
                        QUOTAD__CODE__MALFORMED);
    /* field 2 (requests) claims 1000 bytes but only 3 follow */
    uint8_t lie[] = {0x12, 0xe8, 0x07, 0x01, 0x02, 0x03};
    expect_prefix_reply(sizeof lie, lie, sizeof lie, QUOTAD__CODE__MALFORMED);
}

/* n pings in one frame on fd; returns the reply frame. */
static Quotad__ServerFrame *ping_batch(int fd, size_t n, uint32_t version)
{
    Quotad__Request *rq = calloc(n, sizeof *rq);
    Quotad__Ping *pg = calloc(n, sizeof *pg);
    Quotad__Request **pp = calloc(n, sizeof *pp);
    Quotad__ServerFrame *f = NULL;
    if (rq != NULL && pg != NULL && pp != NULL) {
        for (size_t i = 0; i < n; i++) {
            mk_ping(&rq[i], &pg[i], i + 1, NULL, 0);
            pp[i] = &rq[i];
        }
        if (send_frame(fd, pp, n, version) == 0)
            f = rs_read_frame(fd);
    }
    free(rq);
    free(pg);
    free(pp);
    return f;
}

/* 256 requests is the limit; 257 is refused and the connection closed. */
static void test_batch_limits(void)
{
    int fd = rs_connect(g_d.port);
    T_REQUIRE(fd >= 0);
    Quotad__ServerFrame *f = ping_batch(fd, BATCH_OPS_MAX, PROTO_VERSION);
    T_CHECK(f != NULL && f->n_replies == BATCH_OPS_MAX);
    for (size_t i = 0; f != NULL && i < f->n_replies; i++) {
        T_EQ_I64(f->replies[i]->id, i + 1);
        T_EQ_I64(f->replies[i]->code, QUOTAD__CODE__OK);
    }
    if (f != NULL)
        quotad__server_frame__free_unpacked(f, NULL);
    f = ping_batch(fd, BATCH_OVER, PROTO_VERSION);
    uint64_t id = 99;
    T_EQ_I64(sole_code(f, &id), QUOTAD__CODE__BATCH_TOO_LARGE);
    T_EQ_I64(id, 0);
    if (f != NULL)
        quotad__server_frame__free_unpacked(f, NULL);
    T_CHECK(rs_closed_within(fd, IO_TIMEOUT_MS));
    close(fd);
    T_CHECK(healthy());
}

/* A request without an op gets UNKNOWN_OP; its neighbours and the next
 * frame still run. */
static void test_unknown_op(void)
{
    int fd = rs_connect(g_d.port);
    T_REQUIRE(fd >= 0);
    Quotad__Request rq[3];
    Quotad__Ping pg[2];
    Quotad__Request none = QUOTAD__REQUEST__INIT;
    mk_ping(&rq[0], &pg[0], 1, NULL, 0);
    rq[1] = none;
    FX_SET(rq[1], id, 2);
    mk_ping(&rq[2], &pg[1], 3, (uint8_t *)"abc", 3);
    Quotad__Request *pp[3] = {&rq[0], &rq[1], &rq[2]};
    T_REQUIRE(send_frame(fd, pp, 3, PROTO_VERSION) == 0);
    Quotad__ServerFrame *f = rs_read_frame(fd);
    T_REQUIRE(f != NULL);
    T_CHECK(f->n_replies == 3);
    if (f->n_replies == 3) {
        T_EQ_I64(f->replies[0]->code, QUOTAD__CODE__OK);
        T_EQ_I64(f->replies[1]->id, 2);
        T_EQ_I64(f->replies[1]->code, QUOTAD__CODE__UNKNOWN_OP);
        T_EQ_I64(f->replies[2]->code, QUOTAD__CODE__OK);
        T_CHECK(f->replies[2]->result_case == QUOTAD__REPLY__RESULT_PONG &&
                f->replies[2]->pong->payload.len == 3 &&
                memcmp(f->replies[2]->pong->payload.data, "abc", 3) == 0);
    }
    quotad__server_frame__free_unpacked(f, NULL);
    f = ping_batch(fd, 1, PROTO_VERSION);
    uint64_t id = 0;
    T_EQ_I64(sole_code(f, &id), QUOTAD__CODE__OK);
    T_EQ_I64(id, 1);
    if (f != NULL)
        quotad__server_frame__free_unpacked(f, NULL);
    close(fd);
    T_CHECK(healthy());
}

/* frame.version 2: one VERSION_MISMATCH per request; HELLO v2 too. */
static void test_version_mismatch(void)
{
    int fd = rs_connect(g_d.port);
    T_REQUIRE(fd >= 0);
    Quotad__ServerFrame *f = ping_batch(fd, 2, PROTO_VERSION + 1);
    T_CHECK(f != NULL && f->n_replies == 2);
    for (size_t i = 0; f != NULL && i < f->n_replies; i++) {
        T_EQ_I64(f->replies[i]->id, i + 1);
        T_EQ_I64(f->replies[i]->code, QUOTAD__CODE__VERSION_MISMATCH);
    }
    if (f != NULL)
        quotad__server_frame__free_unpacked(f, NULL);
    close(fd);
    Quotad__Hello h = QUOTAD__HELLO__INIT;
    FX_SET(h, version, PROTO_VERSION + 1);
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_HELLO;
    rq.hello = &h;
    T_EQ_I64(fx_call_rc(g_c, &rq), QC_CODE_VERSION_MISMATCH);
    T_CHECK(healthy());
}

/* A check with raw field values; returns the code, *dec the decision. */
static int raw_check(const char *secret, const char *model, const char *ip,
                     int *dec)
{
    Quotad__Check ck = QUOTAD__CHECK__INIT;
    ck.secret = (char *)secret;
    ck.model = (char *)model;
    ck.client_ip = (char *)ip;
    FX_SET(ck, amount, 1);
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CHECK;
    rq.check = &ck;
    Quotad__Reply *r = NULL;
    int rc = qc_call(g_c, &rq, &r);
    *dec = -1;
    if (r != NULL && r->result_case == QUOTAD__REPLY__RESULT_CHECK)
        *dec = (int)r->check->decision;
    qc_reply_free(r);
    return rc;
}

/* rc is INVALID_ARGUMENT, or OK with invalid_api_key. */
static int rejected_key(int rc, int dec)
{
    return rc == QC_CODE_INVALID_ARGUMENT ||
           (rc == QC_OK && dec == QC_INVALID_API_KEY);
}

/* Empty, 100 KB, binary and absent secrets never crash or match. */
static void test_malformed_secrets(void)
{
    char *huge = malloc(HUGE_SECRET_BYTES + 1);
    T_REQUIRE(huge != NULL);
    memcpy(huge, "sk-", 3);
    memset(huge + 3, 'a', HUGE_SECRET_BYTES - 3);
    huge[HUGE_SECRET_BYTES] = '\0';
    const char *binary = "sk-\x01\x02\x7f\x80\xfe\xff\x10\x1b[0m";
    int dec = 0;
    int rc = raw_check("", NULL, NULL, &dec);
    T_CHECK(rejected_key(rc, dec));
    rc = raw_check(huge, NULL, NULL, &dec);
    T_CHECK(rejected_key(rc, dec));
    rc = raw_check(binary, NULL, NULL, &dec);
    T_CHECK(rejected_key(rc, dec));
    rc = raw_check(NULL, NULL, NULL, &dec);
    T_CHECK(rejected_key(rc, dec));
    rc = raw_check(g_key.secret, huge, NULL, &dec);   /* model too long */
    T_EQ_I64(rc, QC_CODE_INVALID_ARGUMENT);
    rc = raw_check(g_key.secret, NULL, binary, &dec); /* junk IP, no list */
    T_CHECK(rc == QC_CODE_INVALID_ARGUMENT || rc == QC_OK);
    if (rc == QC_OK && dec == QC_ALLOWED)
        g_expect_bal -= 1;
    free(huge);
    T_CHECK(healthy());
}

/* ---- slow reader ---- */

static int64_t rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int64_t kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %lld kB", (long long *)&kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Everything the slow-reader case tracks. */
typedef struct slow_run {
    int fd;
    uint8_t *chunk;            /* SLOW_FRAMES_PER_CHUNK ping frames */
    size_t chunk_len, chunk_off;
    long frames_sent;
    int64_t last_progress_ms, rss_base, rss_max, worst_ping_ms;
    int closed, ping_failures;
} slow_run;

/* One chunk of identical ping frames with big payloads, so unbounded
 * reply buffering would show up clearly in RSS. */
static int slow_prepare(slow_run *s)
{
    static uint8_t payload[SLOW_PAYLOAD];
    memset(payload, 'p', sizeof payload);
    Quotad__Request rq[SLOW_FRAMES_PER_CHUNK];
    Quotad__Ping pg[SLOW_FRAMES_PER_CHUNK];
    size_t one = 0;
    mk_ping(&rq[0], &pg[0], 1, payload, sizeof payload);
    Quotad__Request *pp = &rq[0];
    uint8_t *frame = encode_frame(&pp, 1, PROTO_VERSION, &one);
    if (frame == NULL)
        return -1;
    s->chunk = malloc(one * SLOW_FRAMES_PER_CHUNK);
    if (s->chunk == NULL) {
        free(frame);
        return -1;
    }
    for (size_t i = 0; i < SLOW_FRAMES_PER_CHUNK; i++)
        memcpy(s->chunk + i * one, frame, one);
    free(frame);
    s->chunk_len = one * SLOW_FRAMES_PER_CHUNK;
    return 0;
}

/* Write what the socket takes without blocking; notes a reset. */
static void slow_push(slow_run *s)
{
    while (s->frames_sent < SLOW_PINGS && !s->closed) {
        ssize_t w = send(s->fd, s->chunk + s->chunk_off,
                         s->chunk_len - s->chunk_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->closed = 1;
            return;
        }
        s->last_progress_ms = td_now_ms();
        s->chunk_off += (size_t)w;
        if (s->chunk_off == s->chunk_len) {
            s->chunk_off = 0;
            s->frames_sent += SLOW_FRAMES_PER_CHUNK;
        }
    }
}

/* Did the server close the slow connection? Looks without reading. */
static int slow_peer_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLRDHUP)))
        return 1;
    int err = 0;
    socklen_t len = sizeof err;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0;
}

/* One timed ping from the good client plus an RSS sample. */
static void slow_probe(slow_run *s, qc_ctx *good, pid_t pid)
{
    int64_t t0 = td_now_ms();
    if (qc_ping(good) != QC_OK)
        s->ping_failures++;
    int64_t dt = td_now_ms() - t0;
    if (dt > s->worst_ping_ms)
        s->worst_ping_ms = dt;
    int64_t rss = rss_kb(pid);
    if (rss > s->rss_max)
        s->rss_max = rss;
    if (slow_peer_gone(s->fd))
        s->closed = 1;
}

/* Push pings until the server stops reading (or all are sent), then wait
 * for it to close us; the good client pings all along. */
static void slow_drive(slow_run *s, qc_ctx *good, pid_t pid)
{
    int64_t start = td_now_ms();
    s->last_progress_ms = start;
    while (!s->closed && td_now_ms() - start < SLOW_PHASE_MAX_MS) {
        slow_push(s);
        slow_probe(s, good, pid);
        if (td_now_ms() - s->last_progress_ms > SLOW_STALL_MS)
            break;
        td_sleep_ms(PROBE_EVERY_MS / 10);
    }
    printf("# slow reader: %ld frames sent before the server stopped us\n",
           s->frames_sent);
    int64_t wait_end = td_now_ms() + SLOW_CLOSE_WAIT_MS;
    while (!s->closed && td_now_ms() < wait_end) {
        slow_probe(s, good, pid);
        if (!s->closed) {
            slow_push(s);     /* a reset shows up on the next send */
            td_sleep_ms(PROBE_EVERY_MS);
        }
    }
}


/* A client that never reads: others stay fast, it gets closed after the
 * write timeout, memory stays bounded. */
static void test_slow_reader(void)
{
    static const char *const args[] = {"--write-timeout-ms", "1000", NULL};
    td_daemon d2;
    qc_ctx *good = NULL;
    T_REQUIRE(fx_start_small_quarantine(&d2, args, &good) == 0);
    uint32_t ws = 0;
    fx_key k;
    int64_t bal = 1000;
    T_CHECK(fx_workspace(good, bal, 0, 0, &ws) == QC_OK &&
            fx_key_create(good, ws, NULL, &k) == QC_OK);
    slow_run s = {.fd = rs_connect_opts(d2.port, SLOW_RCVBUF, 0)};
    s.rss_base = rss_kb(d2.pid);
    s.rss_max = s.rss_base;
    if (s.fd >= 0 && slow_prepare(&s) == 0)
        slow_drive(&s, good, d2.pid);
    else
        T_CHECK(0);
    printf("# slow reader: worst ping %lld ms, rss %lld -> %lld kB\n",
           (long long)s.worst_ping_ms, (long long)s.rss_base,
           (long long)s.rss_max);
    T_CHECK(s.closed);
    T_EQ_I64(s.ping_failures, 0);
    T_CHECK(s.worst_ping_ms < GOOD_PING_MAX_MS);
    T_CHECK(s.rss_base > 0 && s.rss_max - s.rss_base < RSS_GROWTH_MAX_KB);
    T_CHECK(healthy_on(&d2, &k, &bal));
    if (s.fd >= 0)
        close(s.fd);
    free(s.chunk);
    T_EQ_I64(fx_finish(&d2, good), 0);
}

/* The daemon must still serve, then exit 0 with no sanitizer report. */
static void test_clean_shutdown(void)
{
    T_CHECK(healthy());
    T_EQ_I64(fx_finish(&g_d, g_c), 0);
    g_c = NULL;
}

/* The main daemon's healthy-client key and its expected balance. */
static int setup_key(void)
{
    uint32_t ws = 0;
    g_expect_bal = 1000 * FX_UNIT;
    if (fx_workspace(g_c, g_expect_bal, 0, 0, &ws) != QC_OK)
        return -1;
    return fx_key_create(g_c, ws, NULL, &g_key) == QC_OK ? 0 : -1;
}

int main(void)
{
    if (fx_start(&g_d, NULL, &g_c) != 0 || setup_key() != 0) {
        printf("FAIL it_badinput_start\n");
        return 1;
    }
    T_RUN(test_truncated_then_close);
    T_RUN(test_truncated_then_silence);
    T_RUN(test_oversized_prefix);
    T_RUN(test_zero_length);
    T_RUN(test_garbage_body);
    T_RUN(test_batch_limits);
    T_RUN(test_unknown_op);
    T_RUN(test_version_mismatch);
    T_RUN(test_malformed_secrets);
    T_RUN(test_slow_reader);
    T_RUN(test_clean_shutdown);
    return t_done();
}
