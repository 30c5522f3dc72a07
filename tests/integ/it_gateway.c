/* it_gateway -- the reference gateway (tools/gateway) end to end, driven
 * by software users run: the official openai npm SDK and nginx + curl.
 *
 * Starts, each in this test's temp dir and stopped by its PID:
 *   quotad            with root and gateway credentials (files 0600)
 *   fake upstream     quotad-gateway --mode fake_upstream, which refuses
 *                     any Authorization but the gateway's upstream key
 *   proxy gateway     quotad-gateway --mode proxy (gateway credential)
 *   auth gateway      quotad-gateway --mode auth_request, for nginx
 *   nginx             foreground, tests/gateway/nginx.conf.in, which
 *                     includes the shipped examples/nginx/quotad-auth.conf
 * then runs tests/gateway/e2e.mjs (node, openai SDK) and
 * tests/gateway/nginx_e2e.sh (curl); their PASS/FAIL lines go straight to
 * our stdout, so tests/run.sh counts each of them. Finally: no secret or
 * credential in any gateway log, and every process stops cleanly (exit 0,
 * no sanitizer report).
 * Needs node with tests/gateway/node_modules (make deps-gateway) and
 * /usr/sbin/nginx; a missing one is a FAIL, never a silent skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/rawsock.h"
#include "lib/toolrun.h"
#include "t.h"

/* The gateway's pure modules, compiled in to test them directly. */
#include "../../tools/gateway/json.c"
#include "../../tools/gateway/price.c"
#include "../../tools/gateway/sse.c"

#define GWT_DIR_TEMPLATE "/tmp/quotad-it-gw-XXXXXX"
#define GWT_GATEWAY_BIN "build/asan/quotad-gateway"
#define GWT_CTL_BIN "build/asan/quotadctl"
#define GWT_NGINX_BIN "/usr/sbin/nginx"
#define GWT_NODE_SCRIPT "tests/gateway/e2e.mjs"
#define GWT_CURL_SCRIPT "tests/gateway/nginx_e2e.sh"
#define GWT_NGINX_TEMPLATE "tests/gateway/nginx.conf.in"
#define GWT_PRICES "tests/gateway/prices.conf"
#define GWT_SDK_MARKER "tests/gateway/node_modules/openai/package.json"
#define GWT_UPSTREAM_KEY "test-upstream-key"
#define GWT_AUTH_AMOUNT "1000"
#define GWT_GRACE_MS "1000"      /* SIGTERM cuts a hung stream after this */
#define GWT_PATH_BYTES 512
#define GWT_TEXT_BYTES 4096
#define GWT_ARGV_MAX 48
#define GWT_PORT_TEXT 16
#define GWT_CRED_HEX_BYTES 24            /* -> 48 hex characters */
#define GWT_START_WAIT_MS 20000
#define GWT_STOP_WAIT_MS 15000
#define GWT_SCRIPT_WAIT_MS 180000
#define GWT_POLL_MS 20
#define GWT_LOG_MAX (4 * 1024 * 1024)
#define GWT_LEAK_HEX 8                   /* "sk-" + this many hex = leak */

typedef struct gwt_proc {
    const char *name;
    pid_t pid;
    uint16_t port;
    char log[GWT_PATH_BYTES];
} gwt_proc;

enum { P_FAKE, P_PROXY, P_AUTH, P_NGINX, P_COUNT };

static char g_dir[GWT_PATH_BYTES];
static char g_root_cred[GWT_PATH_BYTES], g_gw_cred[GWT_PATH_BYTES];
static char g_root_text[GWT_TEXT_BYTES / 16], g_gw_text[GWT_TEXT_BYTES / 16];
static td_daemon g_qd;
static gwt_proc g_p[P_COUNT] = {
    {.name = "fake-upstream"}, {.name = "gateway-proxy"},
    {.name = "gateway-auth"}, {.name = "nginx"},
};
static bool g_started;

static const char *gwt_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : def;
}

static int gwt_path(char *out, const char *name)
{
    int n = snprintf(out, GWT_PATH_BYTES, "%s/%s", g_dir, name);
    return n < 0 || n >= GWT_PATH_BYTES ? -1 : 0;
}

/* Read up to cap bytes of a file as a C string (NULL on error). */
static char *gwt_slurp(const char *path, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *b = malloc(cap + 1);
    size_t n = b != NULL ? fread(b, 1, cap, f) : 0;
    fclose(f);
    if (b != NULL)
        b[n] = '\0';
    return b;
}

/* A random credential in a 0600 file; its text kept for the leak scan. */
static int gwt_cred(const char *name, char *path, char *text, size_t cap)
{
    unsigned char raw[GWT_CRED_HEX_BYTES];
    FILE *r = fopen("/dev/urandom", "rb");
    if (r == NULL || fread(raw, 1, sizeof raw, r) != sizeof raw) {
        if (r != NULL)
            fclose(r);
        return -1;
    }
    fclose(r);
    for (size_t i = 0; i < sizeof raw && 2 * i + 2 < cap; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    if (gwt_path(path, name) != 0)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t)n ? 0 : -1;
    return close(fd) == 0 ? rc : -1;
}

/* Start argv with stdout/stderr to log (NULL = ours); 0 if it could not
 * be started. */
static pid_t gwt_spawn(const char *const argv[], const char *log)
{
    pid_t pid = 0;
    return tr_start(argv, NULL, log, NULL, &pid) == 0 ? pid : 0;
}

static uint16_t gwt_read_port(const char *path)
{
    char *t = gwt_slurp(path, GWT_PORT_TEXT);
    long v = t != NULL ? strtol(t, NULL, 10) : 0;
    free(t);
    return v > 0 && v <= UINT16_MAX ? (uint16_t)v : 0;
}

/* Does something accept on 127.0.0.1:port? */
static bool gwt_accepts(uint16_t port)
{
    int fd = rs_connect(port);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

/* Wait until p listens: its port file (port_file != NULL) or p->port. */
static int gwt_ready(gwt_proc *p, const char *port_file)
{
    for (int64_t t = 0; t < GWT_START_WAIT_MS; t += GWT_POLL_MS) {
        int ws = 0;
        if (waitpid(p->pid, &ws, WNOHANG) == p->pid) {
            fprintf(stderr, "  %s exited during start (%d); see %s\n",
                    p->name, tr_code(ws), p->log);
            p->pid = 0;
            return -1;
        }
        if (port_file != NULL && p->port == 0)
            p->port = gwt_read_port(port_file);
        if (p->port != 0 && gwt_accepts(p->port))
            return 0;
        td_sleep_ms(GWT_POLL_MS);
    }
    fprintf(stderr, "  %s not listening after %d ms\n", p->name,
            GWT_START_WAIT_MS);
    return -1;
}

/* Start the gateway binary in one mode with extra flags. */
static int gwt_gateway(gwt_proc *p, const char *const extra[])
{
    char port_file[GWT_PATH_BYTES], name[GWT_PATH_BYTES];
    snprintf(name, sizeof name, "%s.port", p->name);
    if (gwt_path(port_file, name) != 0)
        return -1;
    snprintf(name, sizeof name, "%s.log", p->name);
    if (gwt_path(p->log, name) != 0)
        return -1;
    const char *argv[GWT_ARGV_MAX] = {
        gwt_env("QUOTAD_GATEWAY_BIN", GWT_GATEWAY_BIN), "--port", "0",
        "--port-file", port_file, "--threads", "2"};
    size_t n = 7;
    for (size_t i = 0; extra[i] != NULL && n + 1 < GWT_ARGV_MAX; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    p->pid = gwt_spawn(argv, p->log);
    return p->pid > 0 ? gwt_ready(p, port_file) : -1;
}

static int gwt_start_gateways(void)
{
    char up[GWT_PATH_BYTES], qport[GWT_PORT_TEXT], auth_hdr[GWT_PATH_BYTES];
    snprintf(qport, sizeof qport, "%u", (unsigned)g_qd.port);
    snprintf(auth_hdr, sizeof auth_hdr, "Bearer %s", GWT_UPSTREAM_KEY);
    const char *fake[] = {"--mode", "fake_upstream", "--fake-expect-auth",
                          auth_hdr, NULL};
    if (gwt_gateway(&g_p[P_FAKE], fake) != 0)
        return -1;
    snprintf(up, sizeof up, "http://127.0.0.1:%u", (unsigned)g_p[P_FAKE].port);
    const char *proxy[] = {"--mode", "proxy", "--quotad-port", qport,
                           "--shutdown-grace-ms", GWT_GRACE_MS,
                           "--quotad-credential-file", g_gw_cred,
                           "--upstream", up, "--upstream-key",
                           GWT_UPSTREAM_KEY, "--prices", GWT_PRICES, NULL};
    const char *auth[] = {"--mode", "auth_request", "--quotad-port", qport,
                          "--quotad-credential-file", g_gw_cred,
                          "--trust-forwarded", "1", "--auth-amount-micro",
                          GWT_AUTH_AMOUNT, NULL};
    if (gwt_gateway(&g_p[P_PROXY], proxy) != 0)
        return -1;
    return gwt_gateway(&g_p[P_AUTH], auth);
}

/* Replace every @NAME@ of the template; writes DIR/nginx.conf. */
static int gwt_nginx_conf(const char *conf)
{
    char *t = gwt_slurp(GWT_NGINX_TEMPLATE, GWT_LOG_MAX);
    char cwd[GWT_PATH_BYTES], v[P_COUNT][GWT_PORT_TEXT];
    FILE *f = t != NULL && getcwd(cwd, sizeof cwd) != NULL
                  ? fopen(conf, "w") : NULL;
    if (f == NULL) {
        free(t);
        return -1;
    }
    snprintf(v[0], GWT_PORT_TEXT, "%u", (unsigned)g_p[P_NGINX].port);
    snprintf(v[1], GWT_PORT_TEXT, "%u", (unsigned)g_p[P_AUTH].port);
    snprintf(v[2], GWT_PORT_TEXT, "%u", (unsigned)g_p[P_FAKE].port);
    const char *keys[] = {"@DIR@", "@REPO@", "@NGINX_PORT@", "@AUTH_PORT@",
                          "@UPSTREAM_PORT@"};
    const char *vals[] = {g_dir, cwd, v[0], v[1], v[2]};
    for (const char *s = t; *s != '\0';) {
        size_t k = 0;
        while (k < 5 && strncmp(s, keys[k], strlen(keys[k])) != 0)
            k++;
        if (k < 5) {
            fputs(vals[k], f);
            s += strlen(keys[k]);
        } else {
            fputc(*s++, f);
        }
    }
    free(t);
    return fclose(f) == 0 ? 0 : -1;
}

static int gwt_start_nginx(void)
{
    gwt_proc *p = &g_p[P_NGINX];
    char conf[GWT_PATH_BYTES], err[GWT_PATH_BYTES];
    p->port = rs_free_port();
    if (p->port == 0 || gwt_path(conf, "nginx.conf") != 0 ||
        gwt_path(err, "nginx-error.log") != 0 ||
        gwt_path(p->log, "nginx.log") != 0 || gwt_nginx_conf(conf) != 0)
        return -1;
    const char *argv[] = {GWT_NGINX_BIN, "-p", g_dir, "-c", conf, "-e", err,
                          NULL};
    p->pid = gwt_spawn(argv, p->log);
    return p->pid > 0 ? gwt_ready(p, NULL) : -1;
}

/* Stop one process by its PID: SIGTERM, bounded wait, then SIGKILL. */
static int gwt_stop(gwt_proc *p)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    int st = tr_wait(p->pid, GWT_STOP_WAIT_MS);
    p->pid = 0;
    return st;
}

static void gwt_stop_all(void)
{
    for (int i = P_COUNT - 1; i >= 0; i--)
        if (g_p[i].pid > 0)
            (void)gwt_stop(&g_p[i]);
    if (g_qd.pid > 0)
        (void)td_stop(&g_qd);
}

static void test_start_everything(void)
{
    T_REQUIRE(access(GWT_NGINX_BIN, X_OK) == 0);   /* make deps-gateway */
    T_REQUIRE(access(GWT_SDK_MARKER, R_OK) == 0);  /* npm ci */
    T_REQUIRE(gwt_cred("root.cred", g_root_cred, g_root_text,
                       sizeof g_root_text) == 0);
    T_REQUIRE(gwt_cred("gateway.cred", g_gw_cred, g_gw_text,
                       sizeof g_gw_text) == 0);
    const char *qargs[] = {"--root-credential-file", g_root_cred,
                           "--gateway-credential-file", g_gw_cred, NULL};
    T_REQUIRE(td_start(&g_qd, qargs) == 0);
    T_REQUIRE(gwt_start_gateways() == 0);
    T_REQUIRE(gwt_start_nginx() == 0);
    g_started = true;
}

/* Environment the scripts read (see the top of each script). */
static void gwt_script_env(void)
{
    char v[GWT_PATH_BYTES];
    snprintf(v, sizeof v, "http://127.0.0.1:%u/v1",
             (unsigned)g_p[P_PROXY].port);
    setenv("GATEWAY_URL", v, 1);
    snprintf(v, sizeof v, "http://127.0.0.1:%u", (unsigned)g_p[P_NGINX].port);
    setenv("NGINX_URL", v, 1);
    snprintf(v, sizeof v, "http://127.0.0.1:%u", (unsigned)g_p[P_FAKE].port);
    setenv("UPSTREAM_URL", v, 1);
    snprintf(v, sizeof v, "%u", (unsigned)g_qd.port);
    setenv("QUOTAD_PORT", v, 1);
    snprintf(v, sizeof v, "%ld", (long)g_p[P_PROXY].pid);
    setenv("GATEWAY_PID", v, 1);
    setenv("QUOTADCTL", gwt_env("QUOTADCTL_BIN", GWT_CTL_BIN), 1);
    setenv("QUOTAD_CREDENTIAL_FILE", g_root_cred, 1);
    setenv("PRICES_FILE", GWT_PRICES, 1);
    setenv("AUTH_AMOUNT_MICRO", GWT_AUTH_AMOUNT, 1);
}

/* Run a script with our stdout, so its PASS/FAIL lines are counted. */
static int gwt_script(const char *const argv[])
{
    gwt_script_env();
    pid_t pid = gwt_spawn(argv, NULL);
    return pid > 0 ? tr_wait(pid, GWT_SCRIPT_WAIT_MS) : -1;
}

static void test_openai_sdk(void)
{
    T_REQUIRE(g_started);
    const char *argv[] = {"node", GWT_NODE_SCRIPT, NULL};
    T_EQ_I64(gwt_script(argv), 0);
}

static void test_nginx_auth_request(void)
{
    T_REQUIRE(g_started);
    const char *argv[] = {"bash", GWT_CURL_SCRIPT, NULL};
    T_EQ_I64(gwt_script(argv), 0);
}

/* "sk-" followed by GWT_LEAK_HEX hex digits is (part of) a secret. */
static bool gwt_has_secret(const char *text)
{
    for (const char *s = strstr(text, "sk-"); s != NULL;
         s = strstr(s + 1, "sk-")) {
        size_t n = 0;
        while (n < GWT_LEAK_HEX && strchr("0123456789abcdef", s[3 + n]) &&
               s[3 + n] != '\0')
            n++;
        if (n == GWT_LEAK_HEX)
            return true;
    }
    return false;
}

static void test_no_secret_in_logs(void)
{
    T_REQUIRE(g_started);
    for (int i = P_FAKE; i <= P_AUTH; i++) {
        char *t = gwt_slurp(g_p[i].log, GWT_LOG_MAX);
        T_REQUIRE(t != NULL);
        T_CHECK(!gwt_has_secret(t));
        T_CHECK(strstr(t, g_gw_text) == NULL);
        T_CHECK(strstr(t, g_root_text) == NULL);
        T_CHECK(strstr(t, GWT_UPSTREAM_KEY) == NULL);
        free(t);
    }
}

static bool gwt_sanitizer_report(const char *log)
{
    char *t = gwt_slurp(log, GWT_LOG_MAX);
    bool bad = t != NULL && (strstr(t, "AddressSanitizer") != NULL ||
                             strstr(t, "LeakSanitizer") != NULL ||
                             strstr(t, "runtime error:") != NULL);
    if (bad)
        fprintf(stderr, "--- %s ---\n%s\n--- end ---\n", log, t);
    free(t);
    return bad;
}

/* Every process exits 0 on SIGTERM, with no sanitizer report. */
static void test_clean_stop(void)
{
    T_REQUIRE(g_started);
    for (int i = P_COUNT - 1; i >= 0; i--) {
        int st = gwt_stop(&g_p[i]);
        if (st != 0)
            fprintf(stderr, "  %s exit %d (log %s)\n", g_p[i].name, st,
                    g_p[i].log);
        T_EQ_I64(st, 0);
        T_CHECK(!gwt_sanitizer_report(g_p[i].log));
    }
    T_EQ_I64(td_stop(&g_qd), 0);
}

/* price.c logs through gw_log (reply.c, which needs evhttp): keep it. */
void gw_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  gw_log(%d): ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int gwt_get(const char *doc, const char *path, gj_val *v)
{
    return gj_get(doc, strlen(doc), path, v);
}

/* Nesting `depth` arrays deep: [[[...]]]. */
static bool gwt_nested_valid(size_t depth)
{
    char *b = malloc(2 * depth + 1);
    if (b == NULL)
        return false;
    memset(b, '[', depth);
    memset(b + depth, ']', depth);
    bool ok = gj_valid(b, 2 * depth);
    free(b);
    return ok;
}

static void test_json_scanner(void)
{
    gj_val v;
    char m[GW_MODEL_BYTES + 1];
    int64_t x = 0;
    T_EQ_I64(gwt_get("{\"model\":\"gpt-4o\",\"n\":[1,{}]}", "model", &v),
             GJ_FOUND);
    T_CHECK(gj_str(&v, m, sizeof m) == 0 && strcmp(m, "gpt-4o") == 0);
    T_EQ_I64(gwt_get("{\"a\":1}", "model", &v), GJ_ABSENT);
    T_EQ_I64(gwt_get("{\"model\":\"a\",\"model\":\"b\"}", "model", &v),
             GJ_BAD);                        /* the upstream may take "b" */
    T_EQ_I64(gwt_get("{\"x\":{\"k\":1,\"k\":2},\"model\":\"m\"}", "model",
                     &v), GJ_FOUND);         /* off the path: not ours */
    T_EQ_I64(gwt_get("{\"model\":\"gpt", "model", &v), GJ_BAD);
    T_EQ_I64(gwt_get("{} x", "model", &v), GJ_BAD);
    T_EQ_I64(gwt_get("{\"s\":\"\x01\"}", "s", &v), GJ_BAD);
    T_EQ_I64(gwt_get("{\"s\":\"\\x\"}", "s", &v), GJ_BAD);
    T_EQ_I64(gwt_get("{\"s\":\"\\u00e9\\n\"}", "s", &v), GJ_FOUND);
    T_CHECK(gwt_nested_valid(64));
    T_CHECK(!gwt_nested_valid(65));
    T_CHECK(gj_valid("-0.5e3", 6) && !gj_valid("01", 2) && !gj_valid("1.", 2));
    T_EQ_I64(gwt_get("{\"n\":12}", "n", &v), GJ_FOUND);
    T_CHECK(gj_uint(&v, &x) == 0 && x == 12);
    T_EQ_I64(gwt_get("{\"n\":1.5}", "n", &v), GJ_FOUND);
    T_CHECK(gj_uint(&v, &x) != 0);
    T_EQ_I64(gwt_get("{\"n\":1234567890123456789}", "n", &v), GJ_FOUND);
    T_CHECK(gj_uint(&v, &x) != 0);           /* 19 digits: refused */
    gw_usage u;
    const char *doc =
        "{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}";
    T_EQ_I64(gw_usage_parse(doc, strlen(doc), &u), GJ_FOUND);
    T_CHECK(u.prompt == 3 && u.completion == 4);
    doc = "{\"usage\":null}";
    T_EQ_I64(gw_usage_parse(doc, strlen(doc), &u), GJ_ABSENT);
    struct evbuffer *b = evbuffer_new();
    T_REQUIRE(b != NULL);
    T_CHECK(gj_put_str(b, "a\"b\\c\n") == 0);
    size_t n = evbuffer_get_length(b);
    T_CHECK(n == 15 && memcmp(evbuffer_pullup(b, -1),
                              "\"a\\\"b\\\\c\\u000a\"", n) == 0);
    evbuffer_free(b);
}

/* An OpenAI stream, fed one byte at a time and with CRLF endings. */
static void test_sse_scanner(void)
{
    static const char ev[] =
        "data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\r\n\r\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
        "\"completion_tokens\":20}}\r\n\r\ndata: [DONE]\r\n\r\n";
    gw_sse *s = malloc(sizeof *s);
    T_REQUIRE(s != NULL);
    gw_sse_init(s);
    for (size_t i = 0; i + 1 < sizeof ev; i++)
        gw_sse_feed(s, ev + i, 1);
    T_CHECK(s->have_usage && s->done);
    T_CHECK(s->usage.prompt == 7 && s->usage.completion == 20);
    gw_sse_init(s);
    char *big = malloc(GW_SSE_LINE_MAX + 16);
    if (big != NULL) {
        memset(big, 'x', GW_SSE_LINE_MAX + 16);
        gw_sse_feed(s, "data: ", 6);
        gw_sse_feed(s, big, GW_SSE_LINE_MAX + 16);   /* skipped, not cut */
        free(big);
    }
    gw_sse_feed(s, "\n", 1);
    gw_sse_feed(s, ev, sizeof ev - 1);
    T_CHECK(s->have_usage && s->usage.prompt == 7);
    free(s);
}

static void test_price_table_and_cost(void)
{
    gw_prices p;
    int64_t c = -1;
    T_REQUIRE(gw_prices_load(GWT_PRICES, &p) == 0);
    const gw_price *g = gw_price_find(&p, "gpt-4o");
    T_REQUIRE(g != NULL && g->prompt_per_1k == 2500);
    T_CHECK(gw_price_find(&p, "no-such-model") == p.fallback);
    T_CHECK(gw_cost(g, 20, 20, &c) == 0 && c == 250);
    T_CHECK(gw_cost(g, 29, 20, &c) == 0 && c == 273);   /* 272.5 rounds up */
    T_CHECK(gw_cost(g, 0, 0, &c) == 0 && c == 0);
    T_CHECK(gw_cost(g, 1, 0, &c) == 0 && c == 3);       /* 2.5 -> 3 */
    T_CHECK(gw_cost(g, INT64_C(1000000001), 0, &c) != 0);
    T_CHECK(gw_cost(g, -1, 0, &c) != 0);
    gw_prices_free(&p);
}

/* Remove DIR and what the processes left in it (flat, plus nginx's
 * empty temp dirs); kept when a test failed, for the logs. */
static void gwt_cleanup(void)
{
    char cmd[GWT_PATH_BYTES + 16];
    if (strncmp(g_dir, "/tmp/quotad-it-gw-", strlen("/tmp/quotad-it-gw-")))
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", g_dir);
}

int main(void)
{
    char tmpl[] = GWT_DIR_TEMPLATE;
    if (mkdtemp(tmpl) == NULL) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(g_dir, sizeof g_dir, "%s", tmpl);
    T_RUN(test_json_scanner);
    T_RUN(test_sse_scanner);
    T_RUN(test_price_table_and_cost);
    T_RUN(test_start_everything);
    T_RUN(test_openai_sdk);
    T_RUN(test_nginx_auth_request);
    T_RUN(test_no_secret_in_logs);
    T_RUN(test_clean_stop);
    gwt_stop_all();
    td_cleanup(&g_qd);
    if (t_tests_failed == 0)
        gwt_cleanup();
    else
        fprintf(stderr, "  logs kept in %s\n", g_dir);
    return t_done();
}
