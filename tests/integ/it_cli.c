/* it_cli -- quotadctl end to end against a real daemon.
 *
 * Runs the CLI binary ($QUOTADCTL_BIN, default build/asan/quotadctl) with
 * posix_spawn, stdout and stderr captured to files, and checks exit codes
 * and output. Follows the README tour: workspace, top-up, key with quota
 * and rpm, an allowed check (balance 8.75), revoke -> exit 4, rotation
 * with grace (old and new secret both pass), masked listing that never
 * shows a secret, bulk revoke in one command, usage errors (2), a closed
 * port (3), stats with the request latency and its reset. JSON output is
 * read with plain string searches.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/toolrun.h"
#include "t.h"

#define CLI_DEFAULT_BIN "build/asan/quotadctl"
#define CLI_OUT_MAX (512 * 1024)
#define CLI_WAIT_MS 60000
#define CLI_PATH_BYTES 512
#define CLI_PORT_TEXT 16
#define SECRET_BYTES 96
#define LEAK_WINDOW 12        /* no 12 hex chars of a secret in output */
#define SECRET_PREFIX_LEN 3   /* "sk-" */
#define JSON_KEY_PAT 80
#define ID_TEXT 24

/* Exit codes of quotadctl (see `quotadctl help`). */
enum {
    CX_OK = 0,
    CX_SERVER = 1,
    CX_USAGE = 2,
    CX_TRANSPORT = 3,
    CX_DENIED = 4,
};

typedef struct cli_res {
    int rc;
    char *out;   /* stdout, NUL-terminated (never NULL after cli_run) */
    char *err;
} cli_res;

static td_daemon g_d;
static char g_port[CLI_PORT_TEXT];
static cli_res g_r;

/* State carried along the tour. */
static uint64_t g_ws;
static uint64_t g_k1, g_k2;
static char g_s1[SECRET_BYTES], g_s2[SECRET_BYTES], g_s2new[SECRET_BYTES];

static void cli_free(cli_res *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* A captured output, read back; out of memory ends the test binary
 * (run.sh counts that as a failure). */
static char *slurp(const char *path)
{
    char *buf = malloc(CLI_OUT_MAX + 1);
    if (buf == NULL) {
        fprintf(stderr, "  out of memory\n");
        exit(1);
    }
    tr_read(path, buf, CLI_OUT_MAX + 1);
    return buf;
}

/* Run quotadctl [--port P] args...; fills r (free with cli_free). */
static int cli_run(cli_res *r, bool with_port, const char *const *args)
{
    char out[CLI_PATH_BYTES], err[CLI_PATH_BYTES];
    cli_free(r);
    snprintf(out, sizeof out, "%s/cli.out", g_d.dir);
    snprintf(err, sizeof err, "%s/cli.err", g_d.dir);
    r->rc = tr_run(tr_bin("QUOTADCTL_BIN", CLI_DEFAULT_BIN),
                   with_port ? (const char *const[]){"--port", g_port, NULL}
                             : NULL,
                   args, NULL, out, err, CLI_WAIT_MS);
    r->out = slurp(out);
    r->err = slurp(err);
    return r->rc;
}

/* CLI(args...) runs against the test daemon; CLI_NOPORT without --port. */
#define CLI(...) cli_run(&g_r, true, (const char *const[]){__VA_ARGS__, NULL})
#define CLI_NOPORT(...)                                                    \
    cli_run(&g_r, false, (const char *const[]){__VA_ARGS__, NULL})

/* Show what the CLI printed when a check on it fails. */
#define T_RC(want)                                                         \
    do {                                                                   \
        if (g_r.rc != (want))                                              \
            fprintf(stderr, "  stdout: %s\n  stderr: %s\n", g_r.out,       \
                    g_r.err);                                              \
        T_EQ_I64(g_r.rc, (want));                                          \
    } while (0)

/* Text right after "key": (first occurrence), or NULL. */
static const char *json_at(const char *s, const char *key)
{
    char pat[JSON_KEY_PAT];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = s ? strstr(s, pat) : NULL;
    return p ? p + strlen(pat) : NULL;
}

static int json_i64(const char *s, const char *key, int64_t *out)
{
    const char *p = json_at(s, key);
    char *end;
    if (p == NULL)
        return -1;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno != 0)
        return -1;
    *out = v;
    return 0;
}

static uint64_t json_u64(const char *s, const char *key)
{
    const char *p = json_at(s, key);
    return p ? strtoull(p, NULL, 10) : 0;
}

/* Copy the string value of key (escapes kept as the next char). */
static int json_str(const char *s, const char *key, char *buf, size_t cap)
{
    const char *p = json_at(s, key);
    size_t n = 0;
    if (p == NULL || *p++ != '"')
        return -1;
    for (; *p && *p != '"' && n + 1 < cap; p++) {
        if (*p == '\\' && p[1])
            p++;
        buf[n++] = *p;
    }
    buf[n] = '\0';
    return *p == '"' ? 0 : -1;
}

/* Value of the human line "label: value" (trimmed), or -1. */
static int human_field(const char *s, const char *label, char *buf,
                       size_t cap)
{
    char pat[JSON_KEY_PAT];
    snprintf(pat, sizeof pat, "\n%s:", label);
    const char *p = strstr(s, pat);
    if (p == NULL && strncmp(s, pat + 1, strlen(pat + 1)) == 0)
        p = s - 1;
    if (p == NULL)
        return -1;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = 0;
    while (*p && *p != '\n' && n + 1 < cap)
        buf[n++] = *p++;
    buf[n] = '\0';
    return 0;
}

/* Does text contain LEAK_WINDOW consecutive chars of the secret body? */
static bool leaks(const char *text, const char *secret)
{
    const char *hex = secret + SECRET_PREFIX_LEN;
    size_t len = strlen(hex);
    for (size_t i = 0; i + LEAK_WINDOW <= len; i++)
        if (memmem(text, strlen(text), hex + i, LEAK_WINDOW) != NULL)
            return true;
    return false;
}

static const char *id_text(uint64_t id, char buf[ID_TEXT])
{
    snprintf(buf, ID_TEXT, "%llu", (unsigned long long)id);
    return buf;
}

/* key create --json: id and secret; the once-only notice on stderr. */
static int create_key(const char *name, uint64_t *id, char *secret,
                      const char *const *extra)
{
    const char *argv[TR_ARGV_MAX] = {"--json", "key", "create", "--ws"};
    char ws[ID_TEXT];
    size_t n = 4;
    argv[n++] = id_text(g_ws, ws);
    argv[n++] = "--name";
    argv[n++] = name;
    for (size_t i = 0; extra && extra[i] && n + 1 < TR_ARGV_MAX; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (cli_run(&g_r, true, argv) != CX_OK)
        return -1;
    *id = json_u64(g_r.out, "key_id");
    T_CHECK(strstr(g_r.err, "will not be shown again") != NULL);
    return json_str(g_r.out, "secret", secret, SECRET_BYTES) == 0 && *id
               ? 0
               : -1;
}

static void test_ws_and_wallet(void)
{
    char ws[ID_TEXT], buf[128];
    int64_t bal = -1;
    CLI("--json", "ws", "create", "--name", "tour");
    T_RC(CX_OK);
    g_ws = json_u64(g_r.out, "workspace_id");
    T_REQUIRE(g_ws != 0);
    T_CHECK(strstr(g_r.out, "\"ok\":true") != NULL);
    T_CHECK(json_at(g_r.out, "seq") != NULL);
    CLI("--json", "wallet", "topup", id_text(g_ws, ws), "10.00", "--reason",
        "tour", "--idem", "topup-1");
    T_RC(CX_OK);
    T_CHECK(json_i64(g_r.out, "balance", &bal) == 0);
    T_EQ_I64(bal, 10000000);
    /* Same idempotency id: no second top-up. Human output this time. */
    CLI("wallet", "topup", ws, "10.00", "--reason", "tour", "--idem",
        "topup-1");
    T_RC(CX_OK);
    T_CHECK(human_field(g_r.out, "balance", buf, sizeof buf) == 0);
    T_EQ_STR(buf, "10.000000 (10000000 micro)");
}

static void test_key_and_check(void)
{
    static const char *const lim[] = {"--quota", "5.00", "--rpm", "100",
                                      NULL};
    int64_t v = -1;
    T_REQUIRE(g_ws != 0);
    T_REQUIRE(create_key("k1", &g_k1, g_s1, lim) == 0);
    T_CHECK(strncmp(g_s1, "sk-", SECRET_PREFIX_LEN) == 0);
    T_CHECK(json_i64(g_r.out, "quota_total", &v) == 0 && v == 5000000);
    T_CHECK(json_i64(g_r.out, "rpm", &v) == 0 && v == 100);
    CLI("--json", "check", g_s1, "--amount", "1.25");
    T_RC(CX_OK);
    T_CHECK(strstr(g_r.out, "\"decision\":\"allowed\"") != NULL);
    T_CHECK(json_i64(g_r.out, "http_status", &v) == 0 && v == 200);
    T_CHECK(json_i64(g_r.out, "wallet_balance", &v) == 0 && v == 8750000);
    T_CHECK(json_i64(g_r.out, "charged", &v) == 0 && v == 1250000);
    T_CHECK(json_i64(g_r.out, "quota_remaining", &v) == 0 && v == 3750000);
    T_CHECK(json_i64(g_r.out, "rpm_remaining", &v) == 0 && v == 99);
    T_CHECK(!leaks(g_r.out, g_s1) && !leaks(g_r.err, g_s1));
}

static void test_revoke_denies(void)
{
    char id[ID_TEXT], buf[64];
    T_REQUIRE(g_k1 != 0);
    CLI("key", "revoke", id_text(g_k1, id));
    T_RC(CX_OK);
    T_CHECK(human_field(g_r.out, "status", buf, sizeof buf) == 0);
    T_EQ_STR(buf, "revoked");
    CLI("--json", "check", g_s1, "--amount", "1.25");
    T_RC(CX_DENIED);
    T_CHECK(strstr(g_r.out, "\"decision\":\"revoked_api_key\"") != NULL);
    T_CHECK(strstr(g_r.out, "\"http_status\":401") != NULL);
    CLI("check", g_s1, "--amount", "1.25");   /* human, same exit code */
    T_RC(CX_DENIED);
    T_CHECK(human_field(g_r.out, "decision", buf, sizeof buf) == 0);
    T_EQ_STR(buf, "revoked_api_key");
}

static void test_rotate_grace(void)
{
    char id[ID_TEXT];
    T_REQUIRE(create_key("k2", &g_k2, g_s2, NULL) == 0);
    CLI("key", "rotate", id_text(g_k2, id), "--grace", "60");
    T_RC(CX_OK);
    T_CHECK(human_field(g_r.out, "secret", g_s2new, sizeof g_s2new) == 0);
    T_CHECK(strncmp(g_s2new, "sk-", SECRET_PREFIX_LEN) == 0);
    T_CHECK(strcmp(g_s2new, g_s2) != 0);
    T_CHECK(strstr(g_r.out, "will not be shown again") != NULL);
    CLI("check", g_s2, "--amount", "0.01");
    T_RC(CX_OK);
    CLI("check", g_s2new, "--amount", "0.01");
    T_RC(CX_OK);
    CLI("--json", "key", "get", id);
    T_RC(CX_OK);
    T_CHECK(json_u64(g_r.out, "prev_secret_expires_at_ms") > 0);
}

/* list / get in both modes show masked keys and never a secret. */
static void test_list_masks_secrets(void)
{
    char ws[ID_TEXT], id[ID_TEXT];
    const char *const secrets[] = {g_s1, g_s2, g_s2new};
    T_REQUIRE(g_ws != 0 && g_k2 != 0);
    for (int mode = 0; mode < 4; mode++) {
        const char *json = (mode & 1) ? "--json" : "--timeout";
        const char *jv = (mode & 1) ? "--json" : "5000";
        if (mode < 2)
            CLI(json, jv, "key", "list", "--ws", id_text(g_ws, ws), "--all");
        else
            CLI(json, jv, "key", "get", id_text(g_k2, id));
        T_RC(CX_OK);
        T_CHECK(strstr(g_r.out, "sk-") != NULL);   /* the masked hint */
        for (size_t s = 0; s < sizeof secrets / sizeof *secrets; s++)
            T_CHECK(!leaks(g_r.out, secrets[s]) &&
                    !leaks(g_r.err, secrets[s]));
    }
    CLI("--json", "key", "list", "--ws", ws);
    T_CHECK(strstr(g_r.out, "\"masked\":\"sk-") != NULL);
    T_CHECK(json_u64(g_r.out, "count") == 2);
    T_CHECK(strstr(g_r.out, "\"status\":\"revoked\"") != NULL);
    CLI("key", "list", "--ws", ws);
    T_CHECK(strstr(g_r.out, "QUOTA REMAINING") != NULL);
    T_CHECK(strstr(g_r.out, "k1") && strstr(g_r.out, "k2"));
}

static void test_bulk_revoke(void)
{
    uint64_t k3 = 0, k4 = 0;
    char s3[SECRET_BYTES], s4[SECRET_BYTES], i3[ID_TEXT], i4[ID_TEXT];
    T_REQUIRE(create_key("k3", &k3, s3, NULL) == 0);
    T_REQUIRE(create_key("k4", &k4, s4, NULL) == 0);
    CLI("--json", "key", "revoke", id_text(k3, i3), id_text(k4, i4));
    T_RC(CX_OK);
    T_CHECK(strstr(g_r.out, "\"results\":[") != NULL);
    T_CHECK(strstr(g_r.out, "\"ok\":false") == NULL);
    for (int i = 0; i < 2; i++) {
        CLI("--json", "key", "get", i == 0 ? i3 : i4);
        T_RC(CX_OK);
        T_CHECK(strstr(g_r.out, "\"status\":\"revoked\"") != NULL);
        CLI("check", i == 0 ? s3 : s4);
        T_RC(CX_DENIED);
    }
    /* One unknown id among good ones: the rest still happen, exit 1. */
    CLI("key", "disable", i3, "999999999");
    T_RC(CX_SERVER);
    T_CHECK(strstr(g_r.err, "error: ") != NULL);
}

static void test_hold_settle(void)
{
    uint64_t k = 0, hold;
    char s[SECRET_BYTES], hid[ID_TEXT];
    int64_t v = -1;
    T_REQUIRE(create_key("holder", &k, s, NULL) == 0);
    CLI("--json", "check", s, "--amount", "2.00", "--hold", "--tokens",
        "10");
    T_RC(CX_OK);
    hold = json_u64(g_r.out, "hold_id");
    T_REQUIRE(hold != 0);
    CLI("--json", "settle", id_text(hold, hid), "1.5", "--tokens", "12");
    T_RC(CX_OK);
    T_CHECK(json_i64(g_r.out, "charged", &v) == 0 && v == 1500000);
    T_CHECK(json_i64(g_r.out, "refunded", &v) == 0 && v == 500000);
    CLI("void", hid);   /* already settled */
    T_RC(CX_SERVER);
    T_CHECK(strstr(g_r.err, "error: not_found: ") != NULL);
}

static void test_key_update(void)
{
    uint64_t k = 0;
    char s[SECRET_BYTES], id[ID_TEXT];
    int64_t v = 0;
    static const char *const lim[] = {"--rpm", "5", "--model", "m1", NULL};
    T_REQUIRE(create_key("upd", &k, s, lim) == 0);
    CLI("--json", "key", "update", id_text(k, id), "--rpm", "none",
        "--quota", "7.5", "--meta", "team=a=b", "--clear-models");
    T_RC(CX_OK);
    T_CHECK(json_i64(g_r.out, "rpm", &v) == 0 && v == -1);
    T_CHECK(json_i64(g_r.out, "quota_total", &v) == 0 && v == 7500000);
    T_CHECK(strstr(g_r.out, "\"metadata\":{\"team\":\"a=b\"}") != NULL);
    T_CHECK(strstr(g_r.out, "\"models\":[]") != NULL);
    CLI("key", "update", id, "--name", "renamed");
    T_RC(CX_OK);
    T_CHECK(strstr(g_r.out, "renamed") != NULL);
}

/* Bad command lines exit 2 without touching the server. */
static void test_usage_errors(void)
{
    static const char *const bad[][8] = {
        {NULL},
        {"bogus", NULL},
        {"ws", NULL},
        {"ws", "create", NULL},
        {"ws", "get", "abc", NULL},
        {"ws", "get", "1", "2", NULL},
        {"wallet", "topup", "1", "0", NULL},
        {"wallet", "topup", "1", "-5", NULL},
        {"wallet", "topup", "1", "1.2345678", NULL},
        {"key", "get", NULL},
        {"key", "create", "--ws", "1", NULL},
        {"key", "list", "--ws", "1", "--status", "weird", NULL},
        {"key", "rotate", "1", "--grace", "99999999999", NULL},
        {"key", "revoke", "1", "x", NULL},
        {"check", NULL},
        {"check", "sk-x", "--amount", "1.0.0", NULL},
        {"check", "sk-x", "--wat", NULL},
        {"--port", "70000", "ping", NULL},
        {"key", "update", "1", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cli_run(&g_r, false, bad[i]);
        if (g_r.rc != CX_USAGE)
            fprintf(stderr, "  case %zu (%s %s)\n", i,
                    bad[i][0] ? bad[i][0] : "", bad[i][0] && bad[i][1]
                                                    ? bad[i][1] : "");
        T_EQ_I64(g_r.rc, CX_USAGE);
        T_CHECK(g_r.out && g_r.out[0] == '\0');
    }
    CLI("help");
    T_RC(CX_OK);
    T_CHECK(strstr(g_r.out, "exit codes") != NULL);
    CLI("help", "key");
    T_RC(CX_OK);
    T_CHECK(strstr(g_r.out, "key rotate") != NULL);
}

static void test_server_error(void)
{
    CLI("key", "get", "987654321");
    T_RC(CX_SERVER);
    T_CHECK(strstr(g_r.err, "error: not_found: ") != NULL);
    CLI("--json", "ws", "get", "987654");
    T_RC(CX_SERVER);
    T_CHECK(strstr(g_r.out, "\"code\":\"not_found\"") != NULL);
}

/* A port nobody listens on: bind one, note it, close it. */
static uint16_t closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    uint16_t port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void test_closed_port(void)
{
    char port[CLI_PORT_TEXT];
    uint16_t p = closed_port();
    T_REQUIRE(p != 0);
    snprintf(port, sizeof port, "%u", (unsigned)p);
    CLI_NOPORT("--port", port, "ping");
    T_RC(CX_TRANSPORT);
    CLI_NOPORT("--port", port, "--timeout", "2000", "key", "get", "1");
    T_RC(CX_TRANSPORT);
}

/* QUOTAD_PORT is used when --port is absent; --port wins over it. */
static void test_env_port(void)
{
    char port[CLI_PORT_TEXT];
    snprintf(port, sizeof port, "%u", (unsigned)closed_port());
    T_REQUIRE(setenv("QUOTAD_PORT", g_port, 1) == 0);
    CLI_NOPORT("ping");
    T_RC(CX_OK);
    CLI_NOPORT("--port", port, "ping");
    T_RC(CX_TRANSPORT);
    T_REQUIRE(unsetenv("QUOTAD_PORT") == 0);
}

/* Strings are JSON-escaped; negative money prints exactly. */
static void test_json_escape(void)
{
    char name[] = "q\"b\\s\tc\001", ws[ID_TEXT];
    int64_t v = 0;
    CLI("--json", "ws", "create", "--name", name, "--balance", "0.5",
        "--overdraft", "1.0");
    T_RC(CX_OK);
    T_CHECK(strstr(g_r.out, "\"name\":\"q\\\"b\\\\s\\u0009c\\u0001\"") !=
            NULL);
    T_CHECK(json_i64(g_r.out, "balance", &v) == 0 && v == 500000);
    id_text(json_u64(g_r.out, "workspace_id"), ws);
    CLI("wallet", "adjust", ws, "-1.0");
    T_RC(CX_OK);
    T_CHECK(strstr(g_r.out, "-0.500000 (-500000 micro)") != NULL);
    CLI("wallet", "adjust", ws, "-0.6");   /* beyond the overdraft */
    T_RC(CX_SERVER);
    T_CHECK(strstr(g_r.err, "error: failed_precondition: ") != NULL);
}

/* stats: latency percentiles of every request so far; --reset-latency
 * prints them and empties the histogram. */
static void test_stats_latency(void)
{
    int64_t before = -1, after = -1, p50 = -1, p99 = -1, max = -1;
    char buf[64];
    CLI("--json", "stats");
    T_RC(CX_OK);
    T_CHECK(json_i64(g_r.out, "latency_count", &before) == 0 && before > 0);
    T_CHECK(json_i64(g_r.out, "latency_p50_us", &p50) == 0);
    T_CHECK(json_i64(g_r.out, "latency_p99_us", &p99) == 0);
    T_CHECK(json_i64(g_r.out, "latency_max_us", &max) == 0);
    T_CHECK(0 <= p50 && p50 <= p99 && p99 <= max);
    CLI("stats", "--reset-latency");
    T_RC(CX_OK);
    T_CHECK(human_field(g_r.out, "latency p99 us", buf, sizeof buf) == 0);
    CLI("--json", "stats");
    T_RC(CX_OK);
    T_CHECK(json_i64(g_r.out, "latency_count", &after) == 0);
    T_CHECK(after >= 1 && after < before);
    CLI("stats", "--reset-latency=1");
    T_RC(CX_USAGE);
}

int main(void)
{
    if (td_start(&g_d, NULL) != 0) {
        printf("FAIL it_cli_start\n");
        return 1;
    }
    snprintf(g_port, sizeof g_port, "%u", (unsigned)g_d.port);
    T_RUN(test_ws_and_wallet);
    T_RUN(test_key_and_check);
    T_RUN(test_revoke_denies);
    T_RUN(test_rotate_grace);
    T_RUN(test_list_masks_secrets);
    T_RUN(test_bulk_revoke);
    T_RUN(test_hold_settle);
    T_RUN(test_key_update);
    T_RUN(test_usage_errors);
    T_RUN(test_server_error);
    T_RUN(test_closed_port);
    T_RUN(test_env_port);
    T_RUN(test_json_escape);
    T_RUN(test_stats_latency);
    cli_free(&g_r);
    int stop = td_stop(&g_d);
    td_cleanup(&g_d);
    if (stop != 0)
        printf("FAIL it_cli_daemon_exit (%d)\n", stop);
    return t_done() != 0 || stop != 0;
}
