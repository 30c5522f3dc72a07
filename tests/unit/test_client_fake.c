/* test_client_fake -- libquotad against a scripted fake server.
 *
 * The fake server is one thread on 127.0.0.1:<ephemeral> speaking the wire
 * protocol with plain sockets and the generated protobuf code. It accepts
 * one connection, answers HELLO, then behaves as its mode says. It exits
 * on its own when the client closes or after FAKE_IDLE_MS of silence, so
 * no test can hang; every test joins it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "qc_admin.h"
#include "qd_frame.h"
#include "quotad.h"
#include "rawsock.h"
#include "t.h"

/* The fake server gives up after this long without traffic. */
#define FAKE_IDLE_MS 3000
/* Client timeout for the timeout test, and the slack allowed around it. */
#define SHORT_TIMEOUT_MS 200u
#define TIMEOUT_SLACK_MS 800
/* Pipelined checks in the pipelining test; with PIPE_SECRET they pass the
 * client's auto-flush threshold. */
#define PIPELINE_CHECKS 1000u
#define PIPE_SECRET                                                        \
    "sk-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
/* Enough pipelined output that both sides' socket buffers fill: the client
 * must read replies while it writes, or both would block. */
#define PIPELINE_FLOOD_CHECKS 50000u
/* Canned CheckReply values, distinct so a swapped field shows. */
#define CANNED_KEY_ID UINT64_C(0x1122334455667788)
#define CANNED_WS_ID 77u
#define CANNED_QUOTA_LEFT INT64_C(-1)
#define CANNED_WALLET INT64_C(-5)
#define CANNED_RPM_LEFT INT64_C(59)
#define CANNED_TPM_LEFT INT64_C(999)
#define CANNED_RESET_MS INT64_C(1234)
#define CANNED_RETRY_MS INT64_C(4321)
#define CANNED_SEQ_BASE UINT64_C(5000)
/* Secret the fake answers NOT_FOUND for. */
#define SECRET_NOT_FOUND "sk-notfound"
#define NOT_FOUND_TEXT "no such key here"
#define CLIENT_NAME "test-client"

typedef enum fake_mode {
    FAKE_ECHO,      /* canned answers */
    FAKE_SILENT,    /* answers HELLO only */
    FAKE_OVERSIZE,  /* sends a length above FRAME_BYTES_MAX */
    FAKE_CLOSE,     /* closes on the first request after HELLO */
    FAKE_MALFORMED, /* id-0 MALFORMED, then closes */
    FAKE_BAD_ID,    /* answers with the wrong id */
} fake_mode;

/* What the fake saw; read by the test after pthread_join. */
typedef struct fake_srv {
    fake_mode mode;
    int lfd;
    uint16_t port;
    pthread_t th;
    unsigned hello_version;
    char client_name[64];
    unsigned frames;
    char last_model[64];
    char last_ip[64];
    int64_t last_amount_min;
    uint32_t last_hold_timeout;
    int last_hold;
} fake_srv;

/* ---- fake server ---- */

static int64_t now_ms(void)
{
    return t_mono_us() / 1000;
}

static int send_frame(int fd, Quotad__Reply **replies, size_t n)
{
    Quotad__ServerFrame sf = QUOTAD__SERVER_FRAME__INIT;
    sf.has_version = 1;
    sf.version = PROTO_VERSION;
    sf.n_replies = n;
    sf.replies = replies;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (qd_frame_encode(&sf.base, FRAME_BYTES_MAX, &buf, &len) != 0)
        return -1;
    int rc = rs_send_all(fd, buf, len);
    free(buf);
    return rc;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Fill one canned answer for request q into r (sub-messages in *ck). */
static void fake_answer(fake_srv *s, const Quotad__Request *q,
                        Quotad__Reply *r, Quotad__CheckReply *ck,
                        Quotad__HelloReply *hr, Quotad__Pong *pong)
{
    quotad__reply__init(r);
    r->has_id = 1;
    r->id = s->mode == FAKE_BAD_ID ? q->id + 1 : q->id;
    r->has_seq = 1;
    r->seq = CANNED_SEQ_BASE + q->id;
    if (q->op_case == QUOTAD__REQUEST__OP_HELLO) {
        quotad__hello_reply__init(hr);
        hr->has_version = 1;
        hr->version = PROTO_VERSION;
        r->id = q->id;
        r->result_case = QUOTAD__REPLY__RESULT_HELLO;
        r->hello = hr;
        s->hello_version = q->hello->version;
        copy_str(s->client_name, sizeof s->client_name,
                 q->hello->client_name);
    } else if (q->op_case == QUOTAD__REQUEST__OP_PING) {
        quotad__pong__init(pong);
        pong->has_payload = q->ping->has_payload;
        pong->payload = q->ping->payload;
        r->result_case = QUOTAD__REPLY__RESULT_PONG;
        r->pong = pong;
    } else if (q->op_case != QUOTAD__REQUEST__OP_CHECK) {
        r->has_code = 1;
        r->code = QUOTAD__CODE__UNKNOWN_OP;
    } else if (strcmp(q->check->secret, SECRET_NOT_FOUND) == 0) {
        r->has_code = 1;
        r->code = QUOTAD__CODE__NOT_FOUND;
        r->error = NOT_FOUND_TEXT;
    } else {
        const Quotad__Check *c = q->check;
        quotad__check_reply__init(ck);
        ck->has_decision = 1;
        ck->decision = (Quotad__Decision)(c->tokens % 12);
        ck->has_key_id = 1, ck->key_id = CANNED_KEY_ID;
        ck->has_workspace_id = 1, ck->workspace_id = CANNED_WS_ID;
        ck->has_charged = 1, ck->charged = c->amount;
        ck->has_quota_remaining = 1, ck->quota_remaining = CANNED_QUOTA_LEFT;
        ck->has_wallet_balance = 1, ck->wallet_balance = CANNED_WALLET;
        ck->has_rpm_remaining = 1, ck->rpm_remaining = CANNED_RPM_LEFT;
        ck->has_tpm_remaining = 1, ck->tpm_remaining = CANNED_TPM_LEFT;
        ck->has_rate_reset_ms = 1, ck->rate_reset_ms = CANNED_RESET_MS;
        ck->has_retry_after_ms = 1, ck->retry_after_ms = CANNED_RETRY_MS;
        ck->has_hold_id = 1, ck->hold_id = q->id;
        ck->has_replayed = 1, ck->replayed = c->idempotency_id != NULL;
        r->result_case = QUOTAD__REPLY__RESULT_CHECK;
        r->check = ck;
        copy_str(s->last_model, sizeof s->last_model, c->model);
        copy_str(s->last_ip, sizeof s->last_ip, c->client_ip);
        s->last_amount_min = c->has_amount_min ? c->amount_min : -1;
        s->last_hold_timeout = c->hold_timeout_ms;
        s->last_hold = c->has_hold && c->hold;
    }
}

/* Storage for the answers to one frame. */
typedef struct answer_set {
    Quotad__Reply r[BATCH_OPS_MAX];
    Quotad__Reply *rp[BATCH_OPS_MAX];
    Quotad__CheckReply ck[BATCH_OPS_MAX];
    Quotad__HelloReply hr[BATCH_OPS_MAX];
    Quotad__Pong pong[BATCH_OPS_MAX];
} answer_set;

/* Misbehave as the mode says. Returns 1 to stop serving. */
static int fake_misbehave(fake_srv *s, int fd)
{
    if (s->mode == FAKE_SILENT)
        return 0;
    if (s->mode == FAKE_CLOSE)
        return 1;
    if (s->mode == FAKE_OVERSIZE) {
        uint8_t hdr[FRAME_HEADER_BYTES];
        qd_frame_put_header(hdr, FRAME_BYTES_MAX + 1);
        (void)rs_send_all(fd, hdr, sizeof hdr);
        return 0;
    }
    Quotad__Reply r = QUOTAD__REPLY__INIT;
    Quotad__Reply *rp = &r;
    r.has_id = 1;
    r.id = 0;
    r.has_code = 1;
    r.code = QUOTAD__CODE__MALFORMED;
    r.error = "bad frame";
    (void)send_frame(fd, &rp, 1);
    return 1;
}

/* Answer one client frame. Returns 1 to stop serving. */
static int fake_frame(fake_srv *s, int fd, const uint8_t *body, uint32_t len,
                      answer_set *as)
{
    Quotad__ClientFrame *f = quotad__client_frame__unpack(NULL, len, body);
    if (f == NULL)
        return 1;
    s->frames++;
    int stop = 0;
    int is_hello = f->n_requests == 1 &&
                   f->requests[0]->op_case == QUOTAD__REQUEST__OP_HELLO;
    if (s->mode != FAKE_ECHO && s->mode != FAKE_BAD_ID && !is_hello) {
        stop = fake_misbehave(s, fd);
    } else {
        for (size_t i = 0; i < f->n_requests && i < BATCH_OPS_MAX; i++) {
            fake_answer(s, f->requests[i], &as->r[i], &as->ck[i], &as->hr[i],
                        &as->pong[i]);
            as->rp[i] = &as->r[i];
        }
        stop = send_frame(fd, as->rp, f->n_requests) != 0;
    }
    quotad__client_frame__free_unpacked(f, NULL);
    return stop;
}

/* Read frames until the client closes, a mode says stop, or idle. */
static void fake_serve(fake_srv *s, int fd)
{
    size_t cap = FRAME_HEADER_BYTES + FRAME_BYTES_MAX, have = 0;
    uint8_t *buf = malloc(cap);
    answer_set *as = malloc(sizeof *as);
    for (int stop = buf == NULL || as == NULL; !stop;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, FAKE_IDLE_MS) <= 0)
            break;
        ssize_t n = recv(fd, buf + have, cap - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
        uint32_t len = 0;
        size_t off = 0;
        while (!stop && qd_frame_peek(buf + off, have - off, FRAME_BYTES_MAX,
                                      &len) == QD_FRAME_READY) {
            stop = fake_frame(s, fd, buf + off + FRAME_HEADER_BYTES, len, as);
            off += FRAME_HEADER_BYTES + len;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    free(as);
    free(buf);
}

static void *fake_main(void *arg)
{
    fake_srv *s = arg;
    struct pollfd p = {.fd = s->lfd, .events = POLLIN};
    if (poll(&p, 1, FAKE_IDLE_MS) == 1) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd >= 0) {
            fake_serve(s, fd);
            close(fd);
        }
    }
    close(s->lfd);
    s->lfd = -1;
    return NULL;
}

static int fake_start(fake_srv *s, fake_mode mode)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->lfd, 1) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0 ||
        pthread_create(&s->th, NULL, fake_main, s) != 0) {
        close(s->lfd);
        return -1;
    }
    s->port = ntohs(a.sin_port);
    return 0;
}

static void fake_join(fake_srv *s)
{
    pthread_join(s->th, NULL);
}

/* Start a fake in mode and connect a client to it (or fail the test);
 * nonblocking as qc_options says. */
static qc_ctx *fake_connect_nb(fake_srv *s, fake_mode mode,
                               uint32_t timeout_ms, bool nonblocking)
{
    if (fake_start(s, mode) != 0)
        return NULL;
    qc_options o = qc_options_default();
    o.port = s->port;
    o.timeout_ms = timeout_ms;
    o.client_name = CLIENT_NAME;
    o.nonblocking = nonblocking;
    qc_ctx *c = NULL;
    int rc = qc_connect(&o, &c);
    if (rc != QC_OK) {
        fprintf(stderr, "  connect: %s\n", qc_strerror(rc));
        fake_join(s);
        return NULL;
    }
    return c;
}

static qc_ctx *fake_connect(fake_srv *s, fake_mode mode, uint32_t timeout_ms)
{
    return fake_connect_nb(s, mode, timeout_ms, false);
}

/* ---- tests ---- */

static void test_options_default(void)
{
    qc_options o = qc_options_default();
    T_EQ_STR(o.host, "127.0.0.1");
    T_EQ_I64(o.port, DEFAULT_PORT);
    T_EQ_I64(o.timeout_ms, QC_TIMEOUT_MS_DEFAULT);
    T_CHECK(o.client_name == NULL);
}

static void test_connect_hello_ping(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    T_EQ_I64(qc_last_seq(c), CANNED_SEQ_BASE + 1); /* HELLO was id 1 */
    T_EQ_I64(qc_ping(c), QC_OK);
    T_EQ_I64(qc_in_flight(c), 0);
    qc_free(c);
    fake_join(&s);
    T_EQ_I64(s.hello_version, 1);
    T_EQ_STR(s.client_name, CLIENT_NAME);
    T_EQ_I64(s.frames, 2);
}

static void test_connect_refused(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    qc_free(c);
    fake_join(&s);
    /* That fake's listener is closed now: the connect is refused. */
    qc_options o = qc_options_default();
    o.port = s.port;
    qc_ctx *c2 = (qc_ctx *)&o;
    T_EQ_I64(qc_connect(&o, &c2), QC_ERR_IO);
    T_CHECK(c2 == NULL);
    T_EQ_I64(qc_connect(NULL, &c2), QC_ERR_ARG);
}

/* Drive qc_connect_poll from poll() on qc_fd until it is not AGAIN or
 * wait_ms passed. */
static int connect_drive(qc_ctx *c, int64_t wait_ms)
{
    int64_t end = now_ms() + wait_ms;
    int rc;
    while ((rc = qc_connect_poll(c)) == QC_ERR_AGAIN && now_ms() < end) {
        struct pollfd p = {.fd = qc_fd(c),
                           .events = qc_want_write(c) ? POLLOUT : POLLIN};
        (void)poll(&p, 1, 10);
    }
    return rc;
}

/* The event-loop connect: nothing but qc_connect_poll until HELLO is
 * answered, then an ordinary context. */
static void test_connect_start(void)
{
    fake_srv s;
    T_REQUIRE(fake_start(&s, FAKE_ECHO) == 0);
    qc_options o = qc_options_default();
    o.port = s.port;
    o.client_name = CLIENT_NAME;
    qc_ctx *c = NULL;
    T_REQUIRE(qc_connect_start(&o, &c) == QC_OK);
    T_REQUIRE(c != NULL);
    T_CHECK(qc_fd(c) >= 0);
    qc_check_req rq = {.secret = "sk-abc", .amount = 1};
    T_EQ_I64(qc_check_append(c, &rq, NULL), QC_ERR_STATE);
    T_EQ_I64(qc_ping(c), QC_ERR_STATE);
    T_EQ_I64(connect_drive(c, 2000), QC_OK);
    T_EQ_I64(qc_connect_poll(c), QC_OK);      /* done stays done */
    T_EQ_I64(qc_ping(c), QC_OK);
    qc_free(c);
    fake_join(&s);
    T_EQ_I64(s.hello_version, 1);
    T_EQ_STR(s.client_name, CLIENT_NAME);
}

/* A server that never answers HELLO (here: a listener nobody accepts
 * on; the kernel completes the TCP handshake): every poll returns at
 * once, the caller's timer decides. A closed port fails, at the start or
 * at a poll. */
static void test_connect_start_never_waits(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    T_REQUIRE(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 &&
              listen(lfd, 4) == 0 &&
              getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
    qc_options o = qc_options_default();
    o.port = ntohs(a.sin_port);
    o.timeout_ms = SHORT_TIMEOUT_MS;
    qc_ctx *c = NULL;
    T_REQUIRE(qc_connect_start(&o, &c) == QC_OK);
    int64_t t0 = now_ms();
    int again = 0;
    for (int i = 0; i < 100; i++)
        again += qc_connect_poll(c) == QC_ERR_AGAIN;
    T_EQ_I64(again, 100);
    T_CHECK(now_ms() - t0 < SHORT_TIMEOUT_MS);
    T_EQ_I64(connect_drive(c, 3 * SHORT_TIMEOUT_MS), QC_ERR_AGAIN);
    qc_free(c);
    close(lfd);
    /* The port is closed now. */
    c = NULL;
    int rc = qc_connect_start(&o, &c);
    if (rc == QC_OK)
        rc = connect_drive(c, 2000);
    T_EQ_I64(rc, QC_ERR_IO);
    qc_free(c);
    T_EQ_I64(qc_connect_start(NULL, &c), QC_ERR_ARG);
    T_CHECK(c == NULL);
}

static void test_check_maps_every_field(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    qc_check_req rq = {.secret = "sk-abc", .model = "gpt-4o",
                       .client_ip = "2001:db8::1", .amount = 1500,
                       .amount_min = 700, .tokens = 9, .idempotency_id = "i1",
                       .hold = true, .hold_timeout_ms = 60000};
    qc_check_res rs;
    T_EQ_I64(qc_check(c, &rq, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_QUOTA_EXCEEDED); /* tokens 9 */
    T_EQ_I64(rs.key_id, CANNED_KEY_ID);
    T_EQ_I64(rs.workspace_id, CANNED_WS_ID);
    T_EQ_I64(rs.charged, 1500);
    T_EQ_I64(rs.quota_remaining, CANNED_QUOTA_LEFT);
    T_EQ_I64(rs.wallet_balance, CANNED_WALLET);
    T_EQ_I64(rs.rpm_remaining, CANNED_RPM_LEFT);
    T_EQ_I64(rs.tpm_remaining, CANNED_TPM_LEFT);
    T_EQ_I64(rs.rate_reset_ms, CANNED_RESET_MS);
    T_EQ_I64(rs.retry_after_ms, CANNED_RETRY_MS);
    T_EQ_I64(rs.hold_id, 2); /* request id: HELLO was 1 */
    T_CHECK(rs.replayed);
    T_EQ_I64(rs.seq, CANNED_SEQ_BASE + 2);
    T_EQ_I64(qc_last_seq(c), CANNED_SEQ_BASE + 2);
    qc_free(c);
    fake_join(&s);
    T_EQ_STR(s.last_model, "gpt-4o");
    T_EQ_STR(s.last_ip, "2001:db8::1");
    T_EQ_I64(s.last_amount_min, 700);
    T_EQ_I64(s.last_hold_timeout, 60000);
    T_EQ_I64(s.last_hold, 1);
}

static void test_pipeline_in_order(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    uint64_t first = 0;
    for (uint32_t i = 0; i < PIPELINE_CHECKS; i++) {
        qc_check_req rq = {.secret = PIPE_SECRET, .amount = i};
        uint64_t id = 0;
        T_EQ_I64(qc_check_append(c, &rq, &id), QC_OK);
        if (i == 0)
            first = id;
        T_EQ_I64(id, first + i);
    }
    T_EQ_I64(first, 2);
    T_EQ_I64(qc_in_flight(c), PIPELINE_CHECKS);
    for (uint32_t i = 0; i < PIPELINE_CHECKS; i++) {
        uint64_t id = 0;
        qc_check_res rs;
        int rc = qc_check_read(c, &id, &rs);
        if (rc != QC_OK || id != first + i || rs.charged != (int64_t)i ||
            rs.hold_id != id) {
            T_EQ_I64(rc, QC_OK);
            T_EQ_I64(id, first + i);
            T_EQ_I64(rs.charged, i);
            break;
        }
    }
    T_EQ_I64(qc_in_flight(c), 0);
    qc_check_res rs;
    T_EQ_I64(qc_check_read(c, NULL, &rs), QC_ERR_STATE);
    T_EQ_I64(qc_ping(c), QC_OK); /* still usable */
    qc_free(c);
    fake_join(&s);
    T_CHECK(s.frames == PIPELINE_CHECKS + 2);
}

static void test_pipeline_flood_no_deadlock(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    int rc = QC_OK;
    for (uint32_t i = 0; i < PIPELINE_FLOOD_CHECKS && rc == QC_OK; i++) {
        qc_check_req rq = {.secret = PIPE_SECRET, .model = PIPE_SECRET,
                           .amount = i};
        rc = qc_check_append(c, &rq, NULL);
    }
    T_EQ_I64(rc, QC_OK);
    T_EQ_I64(qc_flush(c), QC_OK);
    uint32_t n = 0;
    for (; n < PIPELINE_FLOOD_CHECKS; n++) {
        qc_check_res rs;
        rc = qc_check_read(c, NULL, &rs);
        if (rc != QC_OK || rs.charged != (int64_t)n)
            break;
    }
    T_EQ_I64(n, PIPELINE_FLOOD_CHECKS);
    qc_free(c);
    fake_join(&s);
}

static void test_batch_256(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    qc_check_req rq[BATCH_OPS_MAX];
    qc_check_res rs[BATCH_OPS_MAX];
    int rcs[BATCH_OPS_MAX];
    for (size_t i = 0; i < BATCH_OPS_MAX; i++)
        rq[i] = (qc_check_req){.secret = i == 5 ? SECRET_NOT_FOUND : "sk-b",
                               .amount = (int64_t)i};
    T_EQ_I64(qc_check_batch(c, rq, rs, rcs, BATCH_OPS_MAX), QC_OK);
    for (size_t i = 0; i < BATCH_OPS_MAX; i++) {
        if (i == 5) {
            T_EQ_I64(rcs[i], QC_CODE_NOT_FOUND);
            T_CHECK(rs[i].decision != QC_ALLOWED);
            continue;
        }
        T_EQ_I64(rcs[i], QC_OK);
        T_EQ_I64(rs[i].charged, (int64_t)i);
        T_EQ_I64(rs[i].hold_id, 2 + i);
    }
    T_EQ_I64(qc_in_flight(c), 0);
    qc_free(c);
    fake_join(&s);
    T_EQ_I64(s.frames, 2); /* HELLO + one batch frame */
}

/* qc_read_nowait as an event loop calls it: after the socket is
 * readable, for at most ~5 s. */
static int read_nowait_polled(qc_ctx *c, Quotad__Reply **r)
{
    int rc = QC_ERR_AGAIN;
    for (int i = 0; i < 100 && rc == QC_ERR_AGAIN; i++) {
        struct pollfd pf = {.fd = qc_fd(c), .events = POLLIN};
        (void)poll(&pf, 1, 50);
        rc = qc_read_nowait(c, r);
    }
    return rc;
}

static void test_generic_calls(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    uint8_t data[3] = {1, 2, 3};
    Quotad__Ping p = QUOTAD__PING__INIT;
    p.has_payload = 1;
    p.payload.len = sizeof data;
    p.payload.data = data;
    Quotad__Request req = QUOTAD__REQUEST__INIT;
    req.op_case = QUOTAD__REQUEST__OP_PING;
    req.ping = &p;
    Quotad__Reply *r = NULL;
    T_EQ_I64(qc_call(c, &req, &r), QC_OK);
    T_REQUIRE(r != NULL);
    T_EQ_I64(req.id, 2);
    T_EQ_I64(r->id, 2);
    T_EQ_I64(r->result_case, QUOTAD__REPLY__RESULT_PONG);
    T_EQ_I64(r->pong->payload.len, 3);
    qc_reply_free(r);
    /* Pipelined generic calls, and qc_call refused while in flight. */
    T_EQ_I64(qc_append(c, &req), QC_OK);
    T_EQ_I64(qc_append(c, &req), QC_OK);
    T_EQ_I64(qc_call(c, &req, &r), QC_ERR_STATE);
    T_CHECK(r == NULL);
    T_EQ_I64(qc_flush(c), QC_OK);
    for (uint64_t want = 3; want <= 4; want++) {
        T_EQ_I64(qc_read(c, &r), QC_OK);
        T_CHECK(r != NULL && r->id == want);
        qc_reply_free(r);
    }
    /* The same through the event-loop read: nothing, then the reply,
     * then the server's code with its reply. */
    T_EQ_I64(qc_read_nowait(c, &r), QC_ERR_AGAIN); /* nothing in flight */
    T_EQ_I64(qc_append(c, &req), QC_OK);
    Quotad__Request other = QUOTAD__REQUEST__INIT;
    other.op_case = QUOTAD__REQUEST__OP_GET_KEY;
    Quotad__KeyRef kr = QUOTAD__KEY_REF__INIT;
    other.get_key = &kr;
    T_EQ_I64(qc_append(c, &other), QC_OK);
    T_EQ_I64(qc_read_nowait(NULL, &r), QC_ERR_ARG);
    T_EQ_I64(qc_read_nowait(c, NULL), QC_ERR_ARG);
    int rc = read_nowait_polled(c, &r);
    T_EQ_I64(rc, QC_OK);
    T_CHECK(r != NULL && r->id == 5 &&
            r->result_case == QUOTAD__REPLY__RESULT_PONG);
    qc_reply_free(r);
    rc = read_nowait_polled(c, &r);
    T_EQ_I64(rc, QC_CODE_UNKNOWN_OP);
    T_CHECK(r != NULL && r->id == 6);
    qc_reply_free(r);
    /* A typed wrapper hands out the reply along with a server code. */
    T_EQ_I64(qc_get_key(c, 42, &r), QC_CODE_UNKNOWN_OP);
    T_CHECK(r != NULL && r->code == QUOTAD__CODE__UNKNOWN_OP);
    qc_reply_free(r);
    T_EQ_I64(qc_stats(c, true, &r), QC_CODE_UNKNOWN_OP);
    T_CHECK(r != NULL && r->code == QUOTAD__CODE__UNKNOWN_OP);
    qc_reply_free(r);
    T_EQ_I64(qc_snapshot(c, false, &r), QC_CODE_UNKNOWN_OP);
    T_CHECK(r != NULL && r->code == QUOTAD__CODE__UNKNOWN_OP);
    qc_reply_free(r);
    T_EQ_I64(qc_stats(c, false, NULL), QC_ERR_ARG);
    T_EQ_I64(qc_snapshot(c, true, NULL), QC_ERR_ARG);
    qc_free(c);
    fake_join(&s);
}

static void test_server_code_not_found(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    qc_check_req rq = {.secret = SECRET_NOT_FOUND, .amount = 1};
    qc_check_res rs;
    T_EQ_I64(qc_check(c, &rq, &rs), QC_CODE_NOT_FOUND);
    T_CHECK(strstr(qc_errstr(c), NOT_FOUND_TEXT) != NULL);
    T_CHECK(rs.decision != QC_ALLOWED);
    T_EQ_I64(rs.seq, CANNED_SEQ_BASE + 2);
    /* Not fatal: the connection still works. */
    rq.secret = "sk-ok";
    T_EQ_I64(qc_check(c, &rq, &rs), QC_OK);
    qc_free(c);
    fake_join(&s);
}

static void test_timeout(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_SILENT, SHORT_TIMEOUT_MS);
    T_REQUIRE(c != NULL);
    qc_check_req rq = {.secret = "sk-slow", .amount = 1};
    qc_check_res rs;
    int64_t t0 = now_ms();
    T_EQ_I64(qc_check(c, &rq, &rs), QC_ERR_TIMEOUT);
    int64_t took = now_ms() - t0;
    T_CHECK(took >= (int64_t)SHORT_TIMEOUT_MS - 5);
    T_CHECK(took < (int64_t)SHORT_TIMEOUT_MS + TIMEOUT_SLACK_MS);
    T_CHECK(rs.decision != QC_ALLOWED);
    /* Broken from now on. */
    T_EQ_I64(qc_check(c, &rq, &rs), QC_ERR_IO);
    T_EQ_I64(qc_ping(c), QC_ERR_IO);
    qc_free(c);
    fake_join(&s);
}

/* A misbehaving fake in mode must make one check fail with want, and the
 * context must be broken afterwards. */
static void expect_fatal(fake_mode mode, int want)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, mode, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    qc_check_req rq = {.secret = "sk-x", .amount = 1};
    qc_check_res rs;
    int64_t t0 = now_ms();
    T_EQ_I64(qc_check(c, &rq, &rs), want);
    T_CHECK(now_ms() - t0 < 1000); /* detected, not timed out */
    T_CHECK(qc_errstr(c)[0] != '\0');
    T_EQ_I64(qc_check(c, &rq, &rs), QC_ERR_IO);
    qc_free(c);
    fake_join(&s);
}

/* The same through the event-loop API: the failure shows as soon as
 * the bytes that prove it arrive, never as QC_ERR_AGAIN forever. */
static void expect_fatal_nowait(fake_mode mode, int want)
{
    fake_srv s;
    qc_ctx *c = fake_connect_nb(&s, mode, QC_TIMEOUT_MS_DEFAULT, true);
    T_REQUIRE(c != NULL);
    qc_check_req rq = {.secret = "sk-x", .amount = 1};
    qc_check_res rs;
    T_REQUIRE(qc_check_append(c, &rq, NULL) == QC_OK);
    int rc = QC_ERR_AGAIN;
    int64_t t0 = now_ms();
    while (rc == QC_ERR_AGAIN && now_ms() - t0 < 1000) {
        struct pollfd p = {.fd = qc_fd(c), .events = POLLIN};
        (void)poll(&p, 1, 50);
        rc = qc_check_read_nowait(c, NULL, &rs);
    }
    T_EQ_I64(rc, want);
    T_CHECK(rs.decision != QC_ALLOWED);
    T_EQ_I64(qc_fd(c), -1);
    T_EQ_I64(qc_check_read_nowait(c, NULL, &rs), QC_ERR_IO);
    T_EQ_I64(qc_flush_nowait(c), QC_ERR_IO);
    qc_free(c);
    fake_join(&s);
}

static void test_nowait_failures(void)
{
    expect_fatal_nowait(FAKE_OVERSIZE, QC_ERR_PROTOCOL);
    expect_fatal_nowait(FAKE_CLOSE, QC_ERR_IO);
    expect_fatal_nowait(FAKE_MALFORMED, QC_CODE_MALFORMED);
    expect_fatal_nowait(FAKE_BAD_ID, QC_ERR_PROTOCOL);
}

/* A silent server is not an error for the event-loop API: no reply yet,
 * and the context stays usable (the caller's timer decides). */
static void test_nowait_silent(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect_nb(&s, FAKE_SILENT, SHORT_TIMEOUT_MS, true);
    T_REQUIRE(c != NULL);
    qc_check_req rq = {.secret = "sk-slow", .amount = 1};
    qc_check_res rs;
    T_REQUIRE(qc_check_append(c, &rq, NULL) == QC_OK);
    int64_t t0 = now_ms();
    for (int i = 0; i < 3; i++) {
        struct pollfd p = {.fd = qc_fd(c), .events = POLLIN};
        (void)poll(&p, 1, (int)SHORT_TIMEOUT_MS);
        T_EQ_I64(qc_check_read_nowait(c, NULL, &rs), QC_ERR_AGAIN);
    }
    T_CHECK(now_ms() - t0 >= 3 * (int64_t)SHORT_TIMEOUT_MS - 5);
    T_CHECK(qc_fd(c) >= 0);
    T_EQ_I64(qc_in_flight(c), 1);
    qc_free(c);
    fake_join(&s);
}

/* Replies of a pipelined run read one by one as they arrive, in order,
 * every field mapped as by the waiting read. */
static void test_nowait_pipeline(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect_nb(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT, true);
    T_REQUIRE(c != NULL);
    qc_check_req rq = {.secret = PIPE_SECRET, .amount = 1};
    uint64_t first = 0, id = 0;
    for (uint32_t i = 0; i < PIPELINE_CHECKS; i++) {
        T_REQUIRE(qc_check_append(c, &rq, i == 0 ? &first : NULL) == QC_OK);
    }
    uint32_t got = 0;
    bool in_order = true, mapped = true;
    int rc = QC_OK;
    int64_t t0 = now_ms();
    while (got < PIPELINE_CHECKS && now_ms() - t0 < FAKE_IDLE_MS) {
        struct pollfd p = {.fd = qc_fd(c), .events = POLLIN};
        p.events |= qc_want_write(c) ? POLLOUT : 0;
        (void)poll(&p, 1, 50);
        rc = qc_flush_nowait(c);
        if (rc != QC_OK && rc != QC_ERR_AGAIN)
            break;
        qc_check_res rs;
        while ((rc = qc_check_read_nowait(c, &id, &rs)) == QC_OK) {
            in_order &= id == first + got;
            mapped &= rs.key_id == CANNED_KEY_ID &&
                      rs.wallet_balance == CANNED_WALLET;
            got++;
        }
        if (rc != QC_ERR_AGAIN)
            break;
    }
    T_EQ_I64(got, PIPELINE_CHECKS);
    T_CHECK(in_order);
    T_CHECK(mapped);
    T_EQ_I64(qc_in_flight(c), 0);
    qc_free(c);
    fake_join(&s);
}

static void test_oversized_reply(void)
{
    expect_fatal(FAKE_OVERSIZE, QC_ERR_PROTOCOL);
}

static void test_server_closes(void)
{
    expect_fatal(FAKE_CLOSE, QC_ERR_IO);
}

static void test_id0_malformed(void)
{
    expect_fatal(FAKE_MALFORMED, QC_CODE_MALFORMED);
}

static void test_wrong_reply_id(void)
{
    expect_fatal(FAKE_BAD_ID, QC_ERR_PROTOCOL);
}

static void test_arg_validation(void)
{
    fake_srv s;
    qc_ctx *c = fake_connect(&s, FAKE_ECHO, QC_TIMEOUT_MS_DEFAULT);
    T_REQUIRE(c != NULL);
    qc_check_res rs;
    qc_check_req rq = {.secret = NULL, .amount = 1};
    T_EQ_I64(qc_check(c, &rq, &rs), QC_ERR_ARG);
    T_EQ_I64(qc_check(c, NULL, &rs), QC_ERR_ARG);
    T_EQ_I64(qc_check(NULL, &rq, &rs), QC_ERR_ARG);
    char long_secret[SECRET_CHARS_MAX + 2];
    memset(long_secret, 'x', sizeof long_secret - 1);
    long_secret[sizeof long_secret - 1] = '\0';
    rq.secret = long_secret;
    T_EQ_I64(qc_check(c, &rq, &rs), QC_ERR_ARG);
    T_EQ_I64(qc_check_append(c, &rq, NULL), QC_ERR_ARG);
    long_secret[SECRET_CHARS_MAX] = '\0'; /* exactly max is fine */
    Quotad__Reply *r = NULL;
    T_EQ_I64(qc_check(c, &rq, &rs), QC_OK);
    static qc_check_req many[BATCH_OPS_MAX + 1];
    static qc_check_res mres[BATCH_OPS_MAX + 1];
    static int mrc[BATCH_OPS_MAX + 1];
    for (size_t i = 0; i < BATCH_OPS_MAX + 1; i++)
        many[i] = (qc_check_req){.secret = "sk-m"};
    T_EQ_I64(qc_check_batch(c, many, mres, mrc, BATCH_OPS_MAX + 1),
             QC_ERR_ARG);
    T_EQ_I64(qc_check_batch(c, many, mres, mrc, 0), QC_ERR_ARG);
    long_secret[SECRET_CHARS_MAX] = 'x'; /* 129 > IDEMPOTENCY_ID_BYTES_MAX */
    qc_settle_res srs;
    T_EQ_I64(qc_settle(c, 1, 1, 1, long_secret, &srs), QC_ERR_ARG);
    T_EQ_I64(qc_adjust_wallet(c, 1, 1, NULL, long_secret, &r), QC_ERR_ARG);
    T_EQ_I64(qc_create_key(c, NULL, &r), QC_ERR_ARG);
    T_EQ_I64(qc_in_flight(c), 0);
    T_EQ_I64(qc_ping(c), QC_OK); /* argument errors do not break c */
    qc_free(c);
    fake_join(&s);
}

static void test_strings(void)
{
    T_EQ_STR(qc_code_str(QC_CODE_NOT_FOUND), "not_found");
    T_EQ_STR(qc_code_str(QC_CODE_IDEMPOTENCY_CONFLICT),
             "idempotency_conflict");
    T_EQ_STR(qc_decision_str(QC_INVALID_API_KEY), "invalid_api_key");
    T_EQ_STR(qc_decision_str(QC_ALLOWED), "allowed");
    T_EQ_STR(qc_strerror(QC_ERR_TIMEOUT), "timed out");
    T_EQ_STR(qc_strerror(QC_CODE_MALFORMED), "malformed");
    T_EQ_I64(qc_decision_http_status(QC_ALLOWED), 200);
    T_EQ_I64(qc_decision_http_status(QC_KEY_EXPIRED), 401);
    T_EQ_I64(qc_decision_http_status(QC_MODEL_NOT_ALLOWED), 403);
    T_EQ_I64(qc_decision_http_status(QC_SPEND_CAP_EXCEEDED), 429);
    T_EQ_I64(qc_decision_http_status(QC_INSUFFICIENT_CREDITS), 402);
    T_CHECK(qc_decision_str(99) != NULL && qc_code_str(-99) != NULL);
    T_CHECK(qc_errstr(NULL) != NULL);
}

int main(void)
{
    T_RUN(test_options_default);
    T_RUN(test_strings);
    T_RUN(test_connect_hello_ping);
    T_RUN(test_connect_refused);
    T_RUN(test_connect_start);
    T_RUN(test_connect_start_never_waits);
    T_RUN(test_check_maps_every_field);
    T_RUN(test_pipeline_in_order);
    T_RUN(test_pipeline_flood_no_deadlock);
    T_RUN(test_batch_256);
    T_RUN(test_generic_calls);
    T_RUN(test_server_code_not_found);
    T_RUN(test_timeout);
    T_RUN(test_oversized_reply);
    T_RUN(test_server_closes);
    T_RUN(test_id0_malformed);
    T_RUN(test_wrong_reply_id);
    T_RUN(test_arg_validation);
    T_RUN(test_nowait_failures);
    T_RUN(test_nowait_silent);
    T_RUN(test_nowait_pipeline);
    return t_done();
}
