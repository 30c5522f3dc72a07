/* it_gwlink -- the gateway's link to quotad under faults: one worker,
 * many requests in flight on its one quotad connection, and quotad
 * stalled, killed, restarted or gone.
 *
 * Starts quotad (open, on a fixed port so a restart keeps it), the fake
 * upstream and a proxy gateway with one worker thread, each stopped by
 * its PID; talks plain HTTP/1.1 over loopback sockets. Every request is
 * the same chat completion, so each costs the same: the first one's
 * charge is the unit every later wallet is checked against.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/rawsock.h"
#include "lib/toolrun.h"
#include "t.h"

#define GL_GATEWAY_BIN "build/asan/quotad-gateway"
#define GL_PRICES "tests/gateway/prices.conf"
#define GL_TIMEOUT_MS "3000"         /* the gateway's quotad_timeout_ms */
#define GL_TIMEOUT_MS_N 3000
#define GL_PATH_BYTES 512
#define GL_PORT_TEXT 16
#define GL_REPLY_BYTES 8192
#define GL_START_WAIT_MS 20000
#define GL_STOP_WAIT_MS 15000
#define GL_REPLY_WAIT_MS 20000       /* any request, whatever the fault */
#define GL_HEALTH_WAIT_MS 1000       /* a worker that never waits on quotad */
#define GL_STATE_WAIT_MS 1500        /* a state the gateway reaches "at once" */
#define GL_POLL_MS 20
#define GL_UP_TIMEOUT_MS "2000"
#define GL_HOLD_TIMEOUT_MS "2500"       /* a lost hold is released soon */
#define GL_HOLD_TIMEOUT_MS_N 2500
#define GL_MANY 64                   /* requests in flight at once */
#define GL_FEW 8
#define GL_CALLS_MAX "4"                /* g_small's quotad_calls_max */
#define GL_CALLS_MAX_N 4
#define GL_OVER 2                       /* requests past it */
#define GL_BURST 32
#define GL_STREAM_DELAY_MS "300"        /* slow-stream: ~6 events */
#define GL_GRACE_MS_N 10000             /* the default shutdown_grace_ms */
#define GL_STREAM_BODY                                                     \
    "{\"model\":\"slow-stream\",\"stream\":true,\"max_tokens\":16,"       \
    "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}"
#define GL_KILL_ROUNDS 5
#define GL_KILL_AFTER_MS_MAX 30
#define GL_BALANCE (1000 * FX_UNIT)
#define GL_BODY                                                            \
    "{\"model\":\"gpt-4o\",\"max_tokens\":16,\"messages\":"                \
    "[{\"role\":\"user\",\"content\":\"hello\"}]}"

typedef struct gl_proc {
    const char *name;
    pid_t pid;
    uint16_t port;
    char log[GL_PATH_BYTES];
} gl_proc;

static char g_dir[GL_PATH_BYTES];
static td_daemon g_qd;
static gl_proc g_fake = {.name = "fake-upstream"};
static gl_proc g_gw = {.name = "gateway"};
static gl_proc g_small = {.name = "gateway-small"};   /* calls max 4 */
static fx_key g_key;
static int64_t g_unit;      /* what one request costs */

/* Start the gateway binary with args; wait for its port file. */
static int gl_start(gl_proc *p, const char *const extra[])
{
    char port_file[GL_PATH_BYTES];
    int a = snprintf(port_file, sizeof port_file, "%.256s/%.64s.port", g_dir,
                     p->name);
    int b = snprintf(p->log, sizeof p->log, "%.256s/%.64s.log", g_dir,
                     p->name);
    if (a < 0 || b < 0)
        return -1;
    const char *argv[32] = {tr_bin("QUOTAD_GATEWAY_BIN", GL_GATEWAY_BIN),
                            "--port", "0", "--port-file", port_file,
                            "--threads", "1"};
    size_t n = 7;
    for (size_t i = 0; extra[i] != NULL && n + 1 < 32; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (tr_start(argv, NULL, p->log, NULL, &p->pid) != 0)
        return -1;
    for (int64_t t = 0; t < GL_START_WAIT_MS; t += GL_POLL_MS) {
        char text[GL_PORT_TEXT];
        long v = tr_read(port_file, text, sizeof text) > 0
                     ? strtol(text, NULL, 10) : 0;
        int fd = v > 0 && v <= UINT16_MAX ? rs_connect((uint16_t)v) : -1;
        if (fd >= 0) {
            close(fd);
            p->port = (uint16_t)v;
            return 0;
        }
        td_sleep_ms(GL_POLL_MS);
    }
    return -1;
}

/* SIGTERM, bounded wait; the exit code (0 = clean). */
static int gl_stop(gl_proc *p)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    int st = tr_wait(p->pid, GL_STOP_WAIT_MS);
    p->pid = 0;
    return st;
}

/* Send one request (Connection: close); the socket, or -1. */
static int gl_send_to(uint16_t port, const char *method, const char *path,
                      const char *body)
{
    char req[GL_REPLY_BYTES];
    size_t bl = body != NULL ? strlen(body) : 0;
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: gw\r\n"
                     "Authorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     method, path, g_key.secret, bl, body != NULL ? body : "");
    int fd = rs_connect(port);
    if (fd < 0 || n < 0 || (size_t)n >= sizeof req ||
        write(fd, req, (size_t)n) != n) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int gl_send(const char *method, const char *path, const char *body)
{
    return gl_send_to(g_gw.port, method, path, body);
}

static int gl_send_chat(void)
{
    return gl_send("POST", "/v1/chat/completions", GL_BODY);
}

/* Read the whole reply (until the gateway closes) within wait_ms; its
 * HTTP status, or -1. The body lands in out when out != NULL. */
static int gl_status(int fd, int64_t wait_ms, char *out, size_t cap)
{
    char buf[GL_REPLY_BYTES];
    size_t len = 0;
    int64_t end = td_now_ms() + wait_ms;
    for (;;) {
        int64_t left = end - td_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    if (out != NULL)
        snprintf(out, cap, "%s", buf);
    int status = -1;
    return sscanf(buf, "HTTP/1.1 %d", &status) == 1 ? status : -1;
}

/* GET /healthz from the gateway on port: its status, the body in body,
 * the time it took in *took_ms. */
static int gl_health_at(uint16_t port, char *body, size_t cap,
                        int64_t *took_ms)
{
    int64_t t0 = td_now_ms();
    int h = gl_send_to(port, "GET", "/healthz", NULL);
    int st = h >= 0 ? gl_status(h, GL_HEALTH_WAIT_MS, body, cap) : -1;
    *took_ms = td_now_ms() - t0;
    return st;
}

static int gl_health(char *body, size_t cap, int64_t *took_ms)
{
    return gl_health_at(g_gw.port, body, cap, took_ms);
}

/* Poll the gateway's /healthz until its body holds text, for at most
 * wait_ms: a fixed sleep would guess how fast a loaded machine runs.
 * 0 once seen, -1 if not; *worst_ms gets the slowest /healthz (each
 * must answer at once: the worker never waits on quotad). */
static int gl_health_until(uint16_t port, const char *text, int64_t wait_ms,
                           int64_t *worst_ms)
{
    int64_t end = td_now_ms() + wait_ms;
    *worst_ms = 0;
    for (;;) {
        char body[GL_REPLY_BYTES];
        int64_t took = 0;
        int st = gl_health_at(port, body, sizeof body, &took);
        *worst_ms = took > *worst_ms ? took : *worst_ms;
        if (st == 200 && strstr(body, text) != NULL)
            return 0;
        if (td_now_ms() >= end)
            return -1;
        td_sleep_ms(GL_POLL_MS);
    }
}

static int64_t gl_balance(void)
{
    qc_ctx *c = td_connect(&g_qd);
    int64_t b = -1;
    if (c != NULL && fx_balance(c, g_key.ws_id, &b) != QC_OK)
        b = -1;
    if (c != NULL)
        qc_free(c);
    return b;
}

static int64_t gl_reserved(void)
{
    qc_ctx *c = td_connect(&g_qd);
    fx_ws_state st = {.reserved = -1};
    if (c != NULL && fx_ws_state_get(c, g_key.ws_id, &st) != QC_OK)
        st.reserved = -1;
    if (c != NULL)
        qc_free(c);
    return st.reserved;
}

/* One of quotad's stats counters, or -1. */
static int64_t gl_stat(const char *name)
{
    qc_ctx *c = td_connect(&g_qd);
    int64_t v = c != NULL ? fx_stat(c, name) : -1;
    if (c != NULL)
        qc_free(c);
    return v;
}

static void gl_send_many(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        fds[i] = gl_send_chat();
}

/* Read every reply of fds[0..n) (-1 = already read or never sent); how
 * many were 200. */
static int gl_count_ok(const int *fds, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0 && gl_status(fds[i], GL_REPLY_WAIT_MS, NULL, 0) == 200)
            ok++;
    return ok;
}

/* n requests sent at once (all before any is read); how many got 200. */
static int gl_burst(int n)
{
    int fds[GL_MANY];
    T_CHECK(n <= GL_MANY);
    gl_send_many(fds, n);
    return gl_count_ok(fds, n);
}

/* Stop quotad, then send n requests it cannot answer yet, and wait
 * until the gateway holds all n as calls to quotad; 0 or -1. */
static int gl_send_to_stopped_quotad(int *fds, int n, int64_t *worst_ms)
{
    char want[64];
    if (td_pause(&g_qd) != 0)
        return -1;
    gl_send_many(fds, n);
    snprintf(want, sizeof want, "\"quotad_calls\":%d}", n);
    return gl_health_until(g_gw.port, want, GL_STATE_WAIT_MS, worst_ms);
}

static void test_start(void)
{
    char qport[GL_PORT_TEXT], up[GL_PATH_BYTES];
    uint16_t port = rs_free_port();
    T_REQUIRE(port != 0);
    snprintf(qport, sizeof qport, "%u", (unsigned)port);
    const char *qargs[] = {"--port", qport, NULL};
    T_REQUIRE(td_start(&g_qd, qargs) == 0);
    T_REQUIRE(g_qd.port == port);
    snprintf(g_dir, sizeof g_dir, "%s", g_qd.dir);
    const char *fake[] = {"--mode", "fake_upstream", "--fake-stream-delay-ms",
                          GL_STREAM_DELAY_MS, NULL};
    T_REQUIRE(gl_start(&g_fake, fake) == 0);
    snprintf(up, sizeof up, "http://127.0.0.1:%u", (unsigned)g_fake.port);
    /* quotad_host as a name: resolved once at start, never per connect. */
    const char *gw[] = {"--mode", "proxy", "--quotad-host", "localhost",
                        "--quotad-port", qport,
                        "--quotad-timeout-ms", GL_TIMEOUT_MS,
                        "--upstream", up, "--prices", GL_PRICES,
                        "--upstream-timeout-ms", GL_UP_TIMEOUT_MS,
                        "--hold-timeout-ms", GL_HOLD_TIMEOUT_MS,
                        "--log-level", "2", NULL};
    T_REQUIRE(gl_start(&g_gw, gw) == 0);
    const char *small[] = {"--mode", "proxy", "--quotad-port", qport,
                           "--quotad-calls-max", GL_CALLS_MAX,
                           "--quotad-timeout-ms", GL_TIMEOUT_MS,
                           "--upstream", up, "--prices", GL_PRICES,
                           "--log-level", "1", NULL};
    T_REQUIRE(gl_start(&g_small, small) == 0);
    qc_ctx *c = td_connect(&g_qd);
    T_REQUIRE(c != NULL);
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(c, GL_BALANCE, 0, 0, &ws) == QC_OK);
    T_REQUIRE(fx_key_create(c, ws, NULL, &g_key) == QC_OK);
    qc_free(c);
    int64_t before = gl_balance();
    int fd = gl_send_chat();
    T_REQUIRE(fd >= 0);
    T_REQUIRE(gl_status(fd, GL_REPLY_WAIT_MS, NULL, 0) == 200);
    g_unit = before - gl_balance();
    T_REQUIRE(g_unit > 0);
    T_EQ_I64(gl_reserved(), 0);
}

/* One worker, GL_MANY requests at once: every one is checked, forwarded
 * and settled exactly once. */
static void test_one_worker_many_in_flight(void)
{
    int64_t before = gl_balance();
    T_EQ_I64(gl_burst(GL_MANY), GL_MANY);
    T_EQ_I64(before - gl_balance(), GL_MANY * g_unit);
    T_EQ_I64(gl_reserved(), 0);
}

/* quotad stopped: the requests wait for it, and the worker goes on
 * serving (a blocking call would hold /healthz behind it for the whole
 * quotad_timeout_ms). Resumed in time, every request succeeds. */
static void test_stalled_quotad_does_not_stall_the_worker(void)
{
    int64_t before = gl_balance();
    int fds[GL_FEW];
    int64_t worst = 0;
    int queued = gl_send_to_stopped_quotad(fds, GL_FEW, &worst);
    char health[GL_REPLY_BYTES];
    int64_t took = 0;
    int hs = gl_health(health, sizeof health, &took);
    T_REQUIRE(td_resume(&g_qd) == 0);
    T_EQ_I64(queued, 0);
    T_EQ_I64(hs, 200);
    T_CHECK(took < GL_HEALTH_WAIT_MS && worst < GL_HEALTH_WAIT_MS);
    T_CHECK(strstr(health, "\"quotad\":\"connected\",\"quotad_calls\":8}") !=
            NULL);
    T_EQ_I64(gl_count_ok(fds, GL_FEW), GL_FEW);
    T_EQ_I64(before - gl_balance(), GL_FEW * g_unit);
    T_EQ_I64(gl_reserved(), 0);
}

/* Wait (bounded) until no hold is left in the workspace. */
static int64_t gl_reserved_settles(int64_t wait_ms)
{
    int64_t end = td_now_ms() + wait_ms, r = gl_reserved();
    while (r != 0 && td_now_ms() < end) {
        td_sleep_ms(GL_POLL_MS * 5);
        r = gl_reserved();
    }
    return r;
}

/* quotad stopped for longer than the timeout: the reply is late, so the
 * call goes to a new connection, whose HELLO a stopped quotad never
 * answers either; the worker keeps serving all along (a waiting connect
 * would hold it for the whole timeout) and the request fails closed.
 * Resumed, quotad reads the check it had buffered, now past the deadline
 * the gateway gave it: refused, no hold placed, nothing charged. */
static void test_long_stall_fails_closed_worker_serves(void)
{
    int64_t before = gl_balance();
    int64_t late0 = gl_stat("checks_past_deadline");
    T_REQUIRE(td_pause(&g_qd) == 0);
    int64_t t0 = td_now_ms();
    int fd = gl_send_chat();
    /* The reply is overdue after the timeout: the link reconnects. */
    int64_t htook = 0;
    int hs = gl_health_until(g_gw.port, "\"quotad\":\"connecting\"",
                             2 * GL_TIMEOUT_MS_N, &htook);
    char body[GL_REPLY_BYTES];
    int st = fd >= 0 ? gl_status(fd, GL_REPLY_WAIT_MS, body, sizeof body)
                     : -1;
    int64_t took = td_now_ms() - t0;
    T_REQUIRE(td_resume(&g_qd) == 0);
    T_EQ_I64(hs, 0);
    T_CHECK(htook < GL_HEALTH_WAIT_MS);
    T_EQ_I64(st, 503);
    T_CHECK(strstr(body, "quota_service_unavailable") != NULL);
    T_CHECK(took < 3 * GL_TIMEOUT_MS_N);
    int64_t late = gl_stat("checks_past_deadline");
    for (int64_t end = td_now_ms() + GL_STATE_WAIT_MS;
         late == late0 && td_now_ms() < end;
         late = gl_stat("checks_past_deadline"))
        td_sleep_ms(GL_POLL_MS);
    T_EQ_I64(late - late0, 1);
    T_EQ_I64(gl_reserved(), 0);   /* at once: no hold to wait out */
    T_EQ_I64(gl_balance(), before);
    T_EQ_I64(gl_burst(GL_FEW), GL_FEW);
    T_EQ_I64(before - gl_balance(), GL_FEW * g_unit);
}

/* quotad_calls_max bounds what a worker keeps for a slow quotad: past
 * it a request is refused at once (503 quota_service_busy, Retry-After)
 * and the others still pass. */
static void test_calls_max_refuses_at_once(void)
{
    int64_t before = gl_balance();
    int fds[GL_CALLS_MAX_N + GL_OVER], busy = 0, answered = 0;
    T_REQUIRE(td_pause(&g_qd) == 0);
    for (int i = 0; i < GL_CALLS_MAX_N + GL_OVER; i++)
        fds[i] = gl_send_to(g_small.port, "POST", "/v1/chat/completions",
                            GL_BODY);
    /* The requests past the cap are answered without quotad; wait
     * (bounded) for them rather than guess how fast this machine is. */
    int64_t end = td_now_ms() + GL_STATE_WAIT_MS;
    while (answered < GL_OVER && td_now_ms() < end) {
        for (int i = 0; i < GL_CALLS_MAX_N + GL_OVER; i++) {
            struct pollfd p = {.fd = fds[i], .events = POLLIN};
            char body[GL_REPLY_BYTES];
            if (fds[i] < 0 || poll(&p, 1, 0) != 1)
                continue;
            int st = gl_status(fds[i], GL_REPLY_WAIT_MS, body, sizeof body);
            fds[i] = -1;
            answered++;
            busy += st == 503 && strstr(body, "quota_service_busy") != NULL &&
                    strstr(body, "Retry-After: 1") != NULL;
        }
        td_sleep_ms(GL_POLL_MS);
    }
    int64_t worst = 0;
    int held = gl_health_until(g_small.port, "\"quotad_calls\":4}",
                               GL_STATE_WAIT_MS, &worst);
    T_REQUIRE(td_resume(&g_qd) == 0);
    T_EQ_I64(answered, GL_OVER);
    T_EQ_I64(busy, GL_OVER);
    T_EQ_I64(held, 0);
    T_EQ_I64(gl_count_ok(fds, GL_CALLS_MAX_N + GL_OVER), GL_CALLS_MAX_N);
    T_EQ_I64(before - gl_balance(), GL_CALLS_MAX_N * g_unit);
    T_EQ_I64(gl_reserved(), 0);
}

/* quotad refuses the gateway's credential: no request waits for a
 * connection that will never be granted (503 at once, not after the
 * timeout), and the gateway still stops cleanly. */
static void test_refused_credential_fails_at_once(void)
{
    char cred[GL_PATH_BYTES], qport[GL_PORT_TEXT], up[GL_PATH_BYTES];
    char body[GL_REPLY_BYTES];
    gl_proc bad = {.name = "gateway-badcred"};
    int n = snprintf(cred, sizeof cred, "%.256s/bad.cred", g_dir);
    T_REQUIRE(n > 0 && (size_t)n < sizeof cred);
    FILE *f = fopen(cred, "w");
    T_REQUIRE(f != NULL);
    fputs("0123456789abcdef0123456789abcdef0123456789abcdef\n", f);
    T_REQUIRE(fclose(f) == 0 && chmod(cred, 0600) == 0);
    snprintf(qport, sizeof qport, "%u", (unsigned)g_qd.port);
    snprintf(up, sizeof up, "http://127.0.0.1:%u", (unsigned)g_fake.port);
    const char *args[] = {"--mode", "proxy", "--quotad-port", qport,
                          "--quotad-timeout-ms", GL_TIMEOUT_MS,
                          "--quotad-credential-file", cred,
                          "--upstream", up, "--prices", GL_PRICES,
                          "--log-level", "1", NULL};
    T_REQUIRE(gl_start(&bad, args) == 0);
    int64_t before = gl_balance();
    int64_t t0 = td_now_ms();
    int fd = gl_send_to(bad.port, "POST", "/v1/chat/completions", GL_BODY);
    int st = fd >= 0 ? gl_status(fd, GL_REPLY_WAIT_MS, body, sizeof body)
                     : -1;
    int64_t took = td_now_ms() - t0;
    T_EQ_I64(st, 503);
    T_CHECK(strstr(body, "quota_service_unavailable") != NULL);
    T_CHECK(took < GL_TIMEOUT_MS_N / 2);
    T_EQ_I64(gl_balance(), before);
    T_EQ_I64(gl_stop(&bad), 0);
    char log[GL_REPLY_BYTES];
    tr_read(bad.log, log, sizeof log);
    T_CHECK(strstr(log, "permission_denied") != NULL ||
            strstr(log, "permission denied") != NULL);
}

/* quotad killed with requests in flight and started again within the
 * timeout: the calls are sent again on a new connection, and every
 * request succeeds and is charged exactly once. */
static void test_quotad_restart_loses_no_request(void)
{
    int64_t before = gl_balance();
    int fds[GL_FEW];
    int64_t worst = 0;
    T_CHECK(gl_send_to_stopped_quotad(fds, GL_FEW, &worst) == 0);
    T_REQUIRE(td_kill9(&g_qd) == 0);
    T_REQUIRE(td_restart(&g_qd) == 0);
    T_EQ_I64(gl_count_ok(fds, GL_FEW), GL_FEW);
    T_EQ_I64(before - gl_balance(), GL_FEW * g_unit);
    T_EQ_I64(gl_reserved(), 0);
}

/* Lines of a log that contain text. */
static int gl_log_count(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char line[GL_REPLY_BYTES];
    int n = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        n += strstr(line, text) != NULL;
    if (f != NULL)
        fclose(f);
    return n;
}

/* kill -9 in the middle of bursts, without stopping quotad first: some
 * checks and settles were logged and applied but their replies lost, and
 * the gateway sends them again under the same idempotency ids to the
 * restarted quotad, which must answer them from its log. Every request
 * that got 200 is charged exactly once, and nothing else is: holds of
 * requests that failed are released. */
static void test_kill9_mid_burst_charges_each_success_once(void)
{
    int ok_all = 0;
    int retried0 = gl_log_count(g_gw.log, "will be retried");
    int replayed0 = gl_log_count(g_gw.log, "answered it from its first try");
    srand(7);
    for (int round = 0; round < GL_KILL_ROUNDS; round++) {
        int64_t before = gl_balance();
        int fds[GL_BURST];
        gl_send_many(fds, GL_BURST);
        td_sleep_ms(rand() % GL_KILL_AFTER_MS_MAX);
        T_REQUIRE(td_kill9(&g_qd) == 0);
        T_REQUIRE(td_restart(&g_qd) == 0);
        int ok = gl_count_ok(fds, GL_BURST);
        T_EQ_I64(gl_reserved_settles(4 * GL_HOLD_TIMEOUT_MS_N), 0);
        T_EQ_I64(before - gl_balance(), ok * g_unit);
        ok_all += ok;
    }
    int retried = gl_log_count(g_gw.log, "will be retried") - retried0;
    int replayed =
        gl_log_count(g_gw.log, "answered it from its first try") - replayed0;
    printf("  %d of %d requests through %d kill -9 restarts got 200; "
           "%d reconnects with calls in flight, %d calls answered from "
           "quotad's log\n", ok_all, GL_KILL_ROUNDS * GL_BURST,
           GL_KILL_ROUNDS, retried, replayed);
    T_CHECK(ok_all >= GL_KILL_ROUNDS * GL_BURST / 2);
    T_CHECK(retried > 0);
}

/* quotad gone: a request fails closed (503) once it waited the timeout,
 * not sooner than the gateway promised and not much later; after quotad
 * is back the next request passes. */
static void test_quotad_gone_fails_closed_then_recovers(void)
{
    char body[GL_REPLY_BYTES];
    int64_t before = gl_balance();
    T_REQUIRE(td_kill9(&g_qd) == 0);
    int64_t t0 = td_now_ms();
    int fd = gl_send_chat();
    T_REQUIRE(fd >= 0);
    int st = gl_status(fd, GL_REPLY_WAIT_MS, body, sizeof body);
    int64_t took = td_now_ms() - t0;
    T_EQ_I64(st, 503);
    T_CHECK(strstr(body, "quota_service_unavailable") != NULL);
    T_CHECK(took >= GL_TIMEOUT_MS_N - GL_POLL_MS * 5);
    T_CHECK(took < 2 * GL_TIMEOUT_MS_N);
    int64_t htook = 0;
    T_EQ_I64(gl_health(body, sizeof body, &htook), 200);
    T_CHECK(strstr(body, "\"quotad\":\"down\",\"quotad_calls\":0}") != NULL);
    T_REQUIRE(td_restart(&g_qd) == 0);
    T_EQ_I64(gl_burst(GL_FEW), GL_FEW);
    T_EQ_I64(before - gl_balance(), GL_FEW * g_unit);
    T_EQ_I64(gl_reserved(), 0);
}

/* SIGTERM with a stream in flight: the listener closes at once (new
 * connections are refused), the stream runs to its end and is settled,
 * and the gateway then exits by itself, well within shutdown_grace_ms. */
static void test_sigterm_drains_in_flight(void)
{
    char reply[GL_REPLY_BYTES];
    int64_t before = gl_balance();
    int fd = gl_send("POST", "/v1/chat/completions", GL_STREAM_BODY);
    T_REQUIRE(fd >= 0);
    td_sleep_ms(300);
    int64_t t0 = td_now_ms();
    T_REQUIRE(kill(g_gw.pid, SIGTERM) == 0);
    int late = rs_connect(g_gw.port);   /* refused once the listener shut */
    for (int64_t end = t0 + GL_STATE_WAIT_MS; late >= 0 && td_now_ms() < end;
         late = rs_connect(g_gw.port)) {
        close(late);
        td_sleep_ms(GL_POLL_MS);
    }
    T_CHECK(late < 0);
    if (late >= 0)
        close(late);
    int st = gl_status(fd, GL_REPLY_WAIT_MS, reply, sizeof reply);
    int code = tr_wait(g_gw.pid, GL_STOP_WAIT_MS);
    int64_t took = td_now_ms() - t0;
    g_gw.pid = 0;
    T_EQ_I64(st, 200);
    T_CHECK(strstr(reply, "[DONE]") != NULL);
    T_EQ_I64(code, 0);
    T_CHECK(took < GL_GRACE_MS_N / 2);
    T_EQ_I64(gl_reserved(), 0);
    T_CHECK(before - gl_balance() > 0);     /* settled: charged its usage */
}

/* A second SIGTERM cuts the grace short: the stream in flight is cut,
 * its hold voided (nothing charged), and the gateway exits at once. */
static void test_second_sigterm_cuts_at_once(void)
{
    int64_t before = gl_balance();
    int fd = gl_send_to(g_small.port, "POST", "/v1/chat/completions",
                        GL_STREAM_BODY);
    T_REQUIRE(fd >= 0);
    td_sleep_ms(300);
    int64_t t0 = td_now_ms();
    T_REQUIRE(kill(g_small.pid, SIGTERM) == 0);
    td_sleep_ms(100);
    T_REQUIRE(kill(g_small.pid, SIGTERM) == 0);
    int code = tr_wait(g_small.pid, GL_STOP_WAIT_MS);
    int64_t took = td_now_ms() - t0;
    g_small.pid = 0;
    char reply[GL_REPLY_BYTES];
    (void)gl_status(fd, GL_REPLY_WAIT_MS, reply, sizeof reply);
    T_EQ_I64(code, 0);
    T_CHECK(took < 1000);      /* the stream alone runs ~1.8 s */
    T_CHECK(strstr(reply, "[DONE]") == NULL);
    T_EQ_I64(gl_reserved(), 0);
    T_EQ_I64(gl_balance(), before);
}

static void test_clean_stop(void)
{
    char log[GL_REPLY_BYTES * 8];
    T_CHECK(g_gw.pid == 0);     /* stopped by the drain tests */
    T_CHECK(g_small.pid == 0);
    T_EQ_I64(gl_stop(&g_fake), 0);
    tr_read(g_gw.log, log, sizeof log);
    T_CHECK(strstr(log, "Sanitizer") == NULL);
    T_CHECK(strstr(log, g_key.secret) == NULL);
    T_CHECK(strstr(log, "localhost (127.0.0.1) port") != NULL);
    T_CHECK(strstr(log, "connected again") != NULL);
    T_EQ_I64(td_stop(&g_qd), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    T_RUN(test_start);
    T_RUN(test_one_worker_many_in_flight);
    T_RUN(test_stalled_quotad_does_not_stall_the_worker);
    T_RUN(test_long_stall_fails_closed_worker_serves);
    T_RUN(test_calls_max_refuses_at_once);
    T_RUN(test_refused_credential_fails_at_once);
    T_RUN(test_quotad_restart_loses_no_request);
    T_RUN(test_kill9_mid_burst_charges_each_success_once);
    T_RUN(test_quotad_gone_fails_closed_then_recovers);
    T_RUN(test_sigterm_drains_in_flight);
    T_RUN(test_second_sigterm_cuts_at_once);
    T_RUN(test_clean_stop);
    if (g_gw.pid > 0)
        (void)gl_stop(&g_gw);
    if (g_small.pid > 0)
        (void)gl_stop(&g_small);
    if (g_fake.pid > 0)
        (void)gl_stop(&g_fake);
    if (g_qd.pid > 0)
        (void)td_stop(&g_qd);
    td_cleanup(&g_qd);
    return t_done();
}
