/* it_flood -- 2,000 hostile connections at once while a well-behaved
 * gateway keeps getting exact answers, with the daemon's memory bounded.
 *
 * One daemon (--conns-max 3000 --write-timeout-ms 1000
 * --idle-timeout-ms 3000) receives, on raw sockets opened while a
 * libquotad client runs a check-and-debit loop in its own thread:
 *   FLOOD_IDLE     connections that send nothing;
 *   FLOOD_LIGHT    slow readers: 16 pipelined 1 KiB pings, never read;
 *   FLOOD_HEAVY    slow readers that push 2 KiB pings until the server
 *                  stops reading them (its output cap), never read;
 *   FLOOD_GARBAGE  garbage senders, six kinds in turn: random bytes, an
 *                  0xffffffff length, a torn frame then silence, a zero
 *                  length, a good ping then junk, a 257-request batch.
 * Checked: every check of the good client is allowed and debits exactly
 * (the balance it reports is the running expectation, and the final
 * balance read back matches), no check takes longer than GOOD_LATENCY_MAX_MS,
 * the daemon's VmRSS grows by less than RSS_GROWTH_MAX_KB, the server closes
 * every abusive connection (timeouts, error replies), still answers a new
 * client afterwards and exits 0 with no sanitizer report.
 *
 * Memory bound (RSS_GROWTH_MAX_KB = 512 MiB, ASan build). What the daemon
 * may legitimately hold here, by design (server/limits.h):
 *   heavy readers  16 x (CONN_OUT_BYTES_MAX 4 MiB + CONN_IN_BYTES_MAX
 *                  2 MiB + 1 frame being built)                 ~  112 MiB
 *   light readers  384 x (16 KiB in + 16 KiB out)               ~   12 MiB
 *   the rest       1600 x per-connection state (conn, bufferevent,
 *                  evbuffers, ASan redzones; ~16 KiB each)      ~   25 MiB
 * ~150 MiB, doubled for ASan shadow memory, allocator fragmentation and
 * the 4 MiB quarantine this daemon gets (FX_ASAN_SMALL_QUARANTINE, as in
 * it_badinput: ASan's default 256 MiB quarantine would measure churn, not
 * what the server holds) is ~300 MiB; 512 MiB leaves headroom yet fails a
 * server that buffers a slow reader's replies without its cap (the heavy
 * readers alone would then queue 16 x HEAVY_BYTES_MAX = 512 MiB).
 *
 * A second daemon with --conns-max CAP_SMALL shows that connections above
 * the cap are closed at once without an answer, the ones under it are
 * served, and the daemon carries on and exits cleanly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/rawsock.h"
#include "limits.h"
#include "t.h"

/* Per block of FLOOD_BLOCK connections, interleaved (kind_of). */
#define FLOOD_BLOCK 125
#define FLOOD_BLOCKS 16
#define BLOCK_LIGHT 24             /* then as many garbage senders */
#define FLOOD_TOTAL (FLOOD_BLOCK * FLOOD_BLOCKS)   /* 2000 */
#define FLOOD_HEAVY FLOOD_BLOCKS                   /* 16 */
#define FLOOD_LIGHT (BLOCK_LIGHT * FLOOD_BLOCKS)   /* 384 */
#define FLOOD_IDLE (38 * FLOOD_BLOCKS)             /* 608 */
#define FLOOD_GARBAGE (62 * FLOOD_BLOCKS)          /* 992 */
#define FLOOD_BATCH 100            /* connections opened between probes */
#define NOFILE_WANT 8192           /* fds for us and for the daemon */
#define NOFILE_MIN 4096
#define CONNECT_TIMEOUT_MS 5000
#define SMALL_RCVBUF 4096
#define LIGHT_PINGS 16
#define LIGHT_PAYLOAD 1024
#define HEAVY_PAYLOAD 2048
#define HEAVY_PINGS_PER_CHUNK 16
#define HEAVY_BYTES_MAX (32L * 1024 * 1024)   /* per heavy reader */
#define HEAVY_STALL_MS 1500        /* no progress this long: server stopped */
#define HEAVY_PHASE_MAX_MS 20000
#define HOLD_MS 2000               /* everything open, good client running */
#define CLOSE_WAIT_MS 15000        /* idle 3 s + linger 2 s + slack */
#define GARBAGE_RANDOM_MAX 512
#define GARBAGE_KINDS 6
#define GOOD_LATENCY_MAX_MS 2000
#define GOOD_CHECKS_MIN 50
#define GOOD_PAUSE_MS 2
#define GOOD_BALANCE (1000 * FX_UNIT)
#define RSS_GROWTH_MAX_KB (512L * 1024)
#define CAP_SMALL 40
#define CAP_OVER 12
#define CAP_REPLY_WAIT_MS 3000
#define SETTLE_MS 300

/* ---- raw sockets ------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Send what the socket takes now; returns bytes sent, -1 if closed. */
static long send_some(int fd, const uint8_t *buf, size_t n)
{
    long sent = 0;
    while ((size_t)sent < n) {
        ssize_t w = send(fd, buf + sent, n - (size_t)sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0)
            return -1;
        sent += w;
    }
    return sent;
}

/* n ping frames, each with a payload of payload_len bytes, back to back. */
static uint8_t *ping_frames(size_t n, size_t payload_len, size_t *out_len)
{
    uint8_t *payload = malloc(payload_len ? payload_len : 1);
    if (payload == NULL)
        return NULL;
    memset(payload, 'p', payload_len);
    Quotad__Ping pg = QUOTAD__PING__INIT;
    pg.has_payload = payload_len > 0;
    pg.payload.data = payload;
    pg.payload.len = payload_len;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_PING;
    rq.ping = &pg;
    FX_SET(rq, id, 7);
    Quotad__Request *pp = &rq;
    Quotad__ClientFrame f = QUOTAD__CLIENT_FRAME__INIT;
    FX_SET(f, version, PROTO_VERSION);
    f.n_requests = 1;
    f.requests = &pp;
    size_t body = quotad__client_frame__get_packed_size(&f);
    size_t one = FRAME_HEADER_BYTES + body;
    uint8_t *buf = malloc(one * n);
    if (buf != NULL) {
        for (size_t i = 0; i < n; i++) {
            put_be32(buf + i * one, (uint32_t)body);
            quotad__client_frame__pack(&f, buf + i * one + FRAME_HEADER_BYTES);
        }
        *out_len = one * n;
    }
    free(payload);
    return buf;
}

/* A frame of n empty pings (n > BATCH_OPS_MAX makes BATCH_TOO_LARGE). */
static uint8_t *batch_frame(size_t n, size_t *out_len)
{
    Quotad__Ping pg = QUOTAD__PING__INIT;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_PING;
    rq.ping = &pg;
    Quotad__Request **pp = malloc(n * sizeof *pp);
    if (pp == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        pp[i] = &rq;
    Quotad__ClientFrame f = QUOTAD__CLIENT_FRAME__INIT;
    f.n_requests = n;
    f.requests = pp;
    size_t body = quotad__client_frame__get_packed_size(&f);
    uint8_t *buf = malloc(FRAME_HEADER_BYTES + body);
    if (buf != NULL) {
        put_be32(buf, (uint32_t)body);
        quotad__client_frame__pack(&f, buf + FRAME_HEADER_BYTES);
        *out_len = FRAME_HEADER_BYTES + body;
    }
    free(pp);
    return buf;
}

static int64_t rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long long kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return (int64_t)kb;
}

/* Deterministic junk (xorshift64). */
static uint64_t g_rng = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* Raise RLIMIT_NOFILE (inherited by the daemon we fork). */
static int raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rlim_t want = NOFILE_WANT;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        struct rlimit up = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;     /* root may raise the hard limit */
    }
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
        want = rl.rlim_max;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < NOFILE_MIN) {
        fprintf(stderr, "  RLIMIT_NOFILE %llu < %d\n",
                (unsigned long long)rl.rlim_cur, NOFILE_MIN);
        return -1;
    }
    return 0;
}


/* ---- the well-behaved gateway (its own thread) ------------------------- */

typedef struct good_run {
    td_daemon *d;
    fx_key key;
    atomic_int stop;
    /* written by the thread, read after join */
    long checks, failures;
    int64_t expect_balance, worst_ms;
    char why[160];
} good_run;

static void *good_main(void *arg)
{
    good_run *g = arg;
    qc_ctx *c = td_connect(g->d);
    if (c == NULL) {
        g->failures++;
        snprintf(g->why, sizeof g->why, "cannot connect");
        return NULL;
    }
    while (!atomic_load(&g->stop)) {
        int64_t amount = 1 + g->checks % 5;
        qc_check_req rq = {.secret = g->key.secret, .amount = amount,
                           .model = "gpt-4o", .tokens = 10};
        qc_check_res rs;
        memset(&rs, 0, sizeof rs);
        int64_t t0 = td_now_ms();
        int rc = qc_check(c, &rq, &rs);
        int64_t dt = td_now_ms() - t0;
        if (dt > g->worst_ms)
            g->worst_ms = dt;
        g->checks++;
        if (rc != QC_OK || rs.decision != QC_ALLOWED ||
            rs.charged != amount ||
            rs.wallet_balance != g->expect_balance - amount ||
            rs.key_id != g->key.id) {
            g->failures++;
            snprintf(g->why, sizeof g->why,
                     "check %ld: rc %d decision %d charged %lld balance "
                     "%lld want %lld", g->checks, rc, (int)rs.decision,
                     (long long)rs.charged, (long long)rs.wallet_balance,
                     (long long)(g->expect_balance - amount));
            if (rc < 0)
                break;    /* connection unusable */
        } else {
            g->expect_balance -= amount;
        }
        td_sleep_ms(GOOD_PAUSE_MS);
    }
    qc_free(c);
    return NULL;
}

/* ---- the abusive connections ------------------------------------------- */

enum ab_kind { AB_IDLE, AB_LIGHT, AB_HEAVY, AB_GARBAGE };

typedef struct abuser {
    int fd;
    uint8_t kind;
    uint8_t stalled;   /* heavy: server stopped reading */
    uint8_t closed;    /* the server closed it */
    long pushed;       /* heavy: bytes sent */
    int64_t last_progress_ms;
} abuser;

typedef struct flood {
    td_daemon d;
    qc_ctx *admin;
    abuser ab[FLOOD_TOTAL];
    int n_open, connect_failures;
    uint8_t *light, *heavy, *batch, *ping1;
    size_t light_len, heavy_len, batch_len, ping1_len;
    int64_t rss_base, rss_max, rss_after;
} flood;

static void sample_rss(flood *f)
{
    int64_t r = rss_kb(f->d.pid);
    if (r > f->rss_max)
        f->rss_max = r;
}

static int prepare_frames(flood *f)
{
    f->light = ping_frames(LIGHT_PINGS, LIGHT_PAYLOAD, &f->light_len);
    f->heavy = ping_frames(HEAVY_PINGS_PER_CHUNK, HEAVY_PAYLOAD,
                           &f->heavy_len);
    f->batch = batch_frame(BATCH_OPS_MAX + 1, &f->batch_len);
    f->ping1 = ping_frames(1, 0, &f->ping1_len);
    return f->light && f->heavy && f->batch && f->ping1 ? 0 : -1;
}

/* What a garbage sender of kind k sends first. */
static void send_garbage(flood *f, int fd, int k)
{
    uint8_t buf[GARBAGE_RANDOM_MAX + 16];
    size_t n = 0;
    switch (k) {
    case 0: /* random bytes */
        n = 1 + rnd() % GARBAGE_RANDOM_MAX;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rnd();
        break;
    case 1: /* oversized length prefix */
        put_be32(buf, 0xffffffffu);
        n = FRAME_HEADER_BYTES;
        break;
    case 2: /* torn frame: 100 bytes announced, 10 sent, then silence */
        put_be32(buf, 100);
        memset(buf + FRAME_HEADER_BYTES, 0x12, 10);
        n = FRAME_HEADER_BYTES + 10;
        break;
    case 3: /* zero length */
        put_be32(buf, 0);
        n = FRAME_HEADER_BYTES;
        break;
    case 4: /* a good ping, then junk */
        memcpy(buf, f->ping1, f->ping1_len);
        n = f->ping1_len;
        for (int i = 0; i < 8; i++)
            buf[n++] = (uint8_t)rnd();
        break;
    default: /* 257 requests */
        (void)send_some(fd, f->batch, f->batch_len);
        return;
    }
    (void)send_some(fd, buf, n);
}

/* Interleaved so every stage of the opening mixes all kinds. In a block
 * of 125: 1 heavy, 24 light, 62 garbage, 38 idle. */
static enum ab_kind kind_of(int i)
{
    int m = i % FLOOD_BLOCK;
    if (m == 0)
        return AB_HEAVY;
    if (m <= 2 * BLOCK_LIGHT)
        return m % 2 ? AB_LIGHT : AB_GARBAGE;        /* 24 + 24 */
    return m % 2 ? AB_IDLE : AB_GARBAGE;             /* 38 + 38 */
}

_Static_assert(FLOOD_HEAVY + FLOOD_LIGHT + FLOOD_IDLE + FLOOD_GARBAGE ==
                   FLOOD_TOTAL, "every connection has a kind");

static void open_one(flood *f, int i)
{
    abuser *a = &f->ab[i];
    a->kind = (uint8_t)kind_of(i);
    int slow = a->kind == AB_LIGHT || a->kind == AB_HEAVY;
    a->fd = rs_connect_opts(f->d.port, slow ? SMALL_RCVBUF : 0,
                            CONNECT_TIMEOUT_MS);
    if (a->fd < 0) {
        f->connect_failures++;
        a->closed = 1;
        return;
    }
    f->n_open++;
    if (a->kind == AB_LIGHT)
        (void)send_some(a->fd, f->light, f->light_len);
    else if (a->kind == AB_GARBAGE)
        send_garbage(f, a->fd, i % GARBAGE_KINDS);
    a->last_progress_ms = td_now_ms();
}

/* Push pings on every heavy reader until each one stalls. */
static void push_heavy(flood *f)
{
    int64_t start = td_now_ms();
    int active = 1;
    while (active && td_now_ms() - start < HEAVY_PHASE_MAX_MS) {
        active = 0;
        for (int i = 0; i < FLOOD_TOTAL; i++) {
            abuser *a = &f->ab[i];
            if (a->kind != AB_HEAVY || a->closed || a->stalled)
                continue;
            long w = send_some(a->fd, f->heavy, f->heavy_len);
            if (w < 0) {
                a->closed = 1;
                continue;
            }
            if (w > 0) {
                a->pushed += w;
                a->last_progress_ms = td_now_ms();
            }
            if (a->pushed >= HEAVY_BYTES_MAX ||
                td_now_ms() - a->last_progress_ms > HEAVY_STALL_MS)
                a->stalled = 1;
            else
                active = 1;
        }
        sample_rss(f);
        td_sleep_ms(2);
    }
}

/* Has the server closed a? Drains what it sent (replies) to see EOF. */
static int peer_closed(abuser *a)
{
    uint8_t scratch[65536];
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t r = recv(a->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (r == 0)
            return 1;
        if (r < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
    return 0;
}

/* Wait until the server has closed every abusive connection. */
static int wait_all_closed(flood *f)
{
    int64_t end = td_now_ms() + CLOSE_WAIT_MS;
    int left = 0;
    do {
        left = 0;
        for (int i = 0; i < FLOOD_TOTAL; i++) {
            abuser *a = &f->ab[i];
            if (a->fd < 0 || a->closed)
                continue;
            if (peer_closed(a))
                a->closed = 1;
            else
                left++;
        }
        sample_rss(f);
        if (left > 0)
            td_sleep_ms(100);
    } while (left > 0 && td_now_ms() < end);
    return left;
}

static void close_all(flood *f)
{
    for (int i = 0; i < FLOOD_TOTAL; i++)
        if (f->ab[i].fd >= 0) {
            close(f->ab[i].fd);
            f->ab[i].fd = -1;
        }
}

static void report_kinds(const flood *f)
{
    long heavy_pushed = 0;
    int heavy_stalled = 0, heavy_cut = 0;
    for (int i = 0; i < FLOOD_TOTAL; i++)
        if (f->ab[i].kind == AB_HEAVY) {
            heavy_pushed += f->ab[i].pushed;
            heavy_stalled += f->ab[i].stalled;
            heavy_cut += f->ab[i].closed;
        }
    printf("# flood: %d connections open, %d connect failures; %d heavy "
           "readers pushed %ld KiB in all: %d cut off by the server, %d "
           "stalled\n", f->n_open, f->connect_failures, FLOOD_HEAVY,
           heavy_pushed / 1024, heavy_cut, heavy_stalled);
}

static flood g_f;

static void test_flood(void)
{
    flood *f = &g_f;
    memset(f, 0, sizeof *f);
    for (int i = 0; i < FLOOD_TOTAL; i++)
        f->ab[i].fd = -1;
    T_REQUIRE(raise_nofile() == 0);
    T_REQUIRE(prepare_frames(f) == 0);
    static const char *const args[] = {
        "--conns-max", "3000", "--write-timeout-ms", "1000",
        "--idle-timeout-ms", "3000", "--fsync", "everysec", NULL};
    T_REQUIRE(fx_start_small_quarantine(&f->d, args, &f->admin) == 0);
    good_run g = {.d = &f->d, .expect_balance = GOOD_BALANCE};
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(f->admin, GOOD_BALANCE, 0, 0, &ws) == QC_OK);
    T_REQUIRE(fx_key_create(f->admin, ws, NULL, &g.key) == QC_OK);
    qc_free(f->admin);          /* would be idle-closed during the flood */
    f->admin = NULL;
    f->rss_base = rss_kb(f->d.pid);
    f->rss_max = f->rss_base;
    pthread_t tid;
    T_REQUIRE(pthread_create(&tid, NULL, good_main, &g) == 0);
    int64_t t0 = td_now_ms();
    for (int i = 0; i < FLOOD_TOTAL; i++) {
        open_one(f, i);
        if (i % FLOOD_BATCH == FLOOD_BATCH - 1) {
            sample_rss(f);
            td_sleep_ms(5);
        }
    }
    int64_t t_open = td_now_ms() - t0;
    push_heavy(f);
    int64_t hold_end = td_now_ms() + HOLD_MS;
    while (td_now_ms() < hold_end) {
        sample_rss(f);
        td_sleep_ms(100);
    }
    report_kinds(f);
    int left = wait_all_closed(f);
    int64_t t_flood = td_now_ms() - t0;
    atomic_store(&g.stop, 1);
    T_CHECK(pthread_join(tid, NULL) == 0);
    close_all(f);
    td_sleep_ms(SETTLE_MS);
    f->rss_after = rss_kb(f->d.pid);
    printf("# flood: opened in %lld ms, all closed by the server after "
           "%lld ms (%d left)\n", (long long)t_open, (long long)t_flood,
           left);
    printf("# flood: good client %ld checks, %ld failures, worst %lld ms\n",
           g.checks, g.failures, (long long)g.worst_ms);
    printf("# flood: daemon rss %lld kB -> max %lld kB (+%lld), after %lld "
           "kB; bound +%ld kB\n", (long long)f->rss_base,
           (long long)f->rss_max, (long long)(f->rss_max - f->rss_base),
           (long long)f->rss_after, RSS_GROWTH_MAX_KB);
    if (g.failures > 0)
        fprintf(stderr, "  good client: %s\n", g.why);
    T_EQ_I64(f->connect_failures, 0);
    T_EQ_I64(left, 0);
    T_EQ_I64(g.failures, 0);
    T_CHECK(g.checks >= GOOD_CHECKS_MIN);
    T_CHECK(g.worst_ms < GOOD_LATENCY_MAX_MS);
    T_CHECK(f->rss_base > 0 && f->rss_max - f->rss_base < RSS_GROWTH_MAX_KB);
    /* afterwards: a new client gets exact answers, the balance adds up */
    qc_ctx *c = td_connect(&f->d);
    T_REQUIRE(c != NULL);
    int64_t bal = -1;
    T_EQ_I64(fx_balance(c, ws, &bal), QC_OK);
    T_EQ_I64(bal, g.expect_balance);
    qc_check_res rs;
    T_EQ_I64(fx_check(c, g.key.secret, 1, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    T_EQ_I64(rs.wallet_balance, g.expect_balance - 1);
    T_EQ_I64(fx_finish(&f->d, c), 0);
    free(f->light);
    free(f->heavy);
    free(f->batch);
    free(f->ping1);
}

/* Over --conns-max: closed at once, unanswered; under it: served. */
static void test_conns_max(void)
{
    char cap[16];
    snprintf(cap, sizeof cap, "%d", CAP_SMALL);
    const char *const args[] = {"--conns-max", cap, NULL};
    td_daemon d;
    T_REQUIRE(td_start(&d, args) == 0);
    td_sleep_ms(SETTLE_MS);     /* the start probe's connection is gone */
    size_t ping_len = 0;
    uint8_t *ping = ping_frames(1, 0, &ping_len);
    T_REQUIRE(ping != NULL);
    int fds[CAP_SMALL + CAP_OVER];
    int answered = 0, refused = 0, other = 0;
    for (int i = 0; i < CAP_SMALL + CAP_OVER; i++) {
        fds[i] = rs_connect_opts(d.port, 0, CONNECT_TIMEOUT_MS);
        if (fds[i] >= 0 && send_some(fds[i], ping, ping_len) < 0)
            other++;
        td_sleep_ms(2);         /* accept in order */
    }
    for (int i = 0; i < CAP_SMALL + CAP_OVER; i++) {
        if (fds[i] < 0) {
            other++;
            continue;
        }
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        uint8_t hdr[FRAME_HEADER_BYTES];
        ssize_t r = 0;
        if (poll(&p, 1, CAP_REPLY_WAIT_MS) > 0)
            r = recv(fds[i], hdr, sizeof hdr, MSG_WAITALL);
        if (r == (ssize_t)sizeof hdr)
            answered++;
        else if (r == 0 || (r < 0 && errno == ECONNRESET))
            refused++;
        else
            other++;
    }
    printf("# conns-max %d: %d answered, %d refused, %d other\n", CAP_SMALL,
           answered, refused, other);
    T_EQ_I64(answered, CAP_SMALL);
    T_EQ_I64(refused, CAP_OVER);
    T_EQ_I64(other, 0);
    for (int i = 0; i < CAP_SMALL + CAP_OVER; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(ping);
    td_sleep_ms(SETTLE_MS);     /* the server sees the closes */
    qc_ctx *c = td_connect(&d);
    T_CHECK(c != NULL && qc_ping(c) == QC_OK);
    T_EQ_I64(fx_finish(&d, c), 0);
}

int main(void)
{
    T_RUN(test_flood);
    T_RUN(test_conns_max);
    return t_done();
}
