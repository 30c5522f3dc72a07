/* config -- quotad-gateway options: built-in defaults, then a config file
 * (--config FILE, "name = value" lines as in quotad.conf.example), then
 * --name value flags; later wins. One table describes every option so
 * parsing, --help and range checks cannot drift apart.
 */
#include "gw.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <event2/http.h>

#include "cfgfile.h"

#define CFG_NAME_BYTES 64u
#define CFG_HTTP_DEFAULT_PORT 80u
#define CFG_PORT_MAX 65535
#define CFG_TIMEOUT_MS_MAX 86400000     /* 1 day */
#define CFG_BODY_BYTES_MAX (64 * 1024 * 1024)
#define CFG_BODY_BYTES_MIN 1024
#define CFG_POOL_MAX 1024
#define CFG_QUOTAD_CALLS_MAX (1024u * 1024u)
#define CFG_AMOUNT_MAX INT64_C(1000000000000000)   /* quotad's 1e15 micro */
#define CFG_FAKE_TOKENS_MAX 100000
#define CFG_FAKE_CHUNKS_MAX 10000
#define CFG_FAKE_DELAY_MS_MAX 60000
#define CFG_LOG_LEVEL_MAX 3
#define CFG_HOLD_TIMEOUT_MS_MAX 86400000   /* quotad's HOLD_TIMEOUT_MS_MAX */
#define CFG_UPSTREAM_KEY_ENV "QUOTAD_GW_UPSTREAM_KEY"
#define CFG_CRED_SLACK_BYTES 8       /* room for blanks around the line */
#define CFG_CRED_MODE_OTHERS 077     /* group/other permission bits */

typedef enum cfg_type { CFG_STR, CFG_U32, CFG_I64 } cfg_type;

typedef struct cfg_opt {
    const char *name;
    cfg_type type;
    size_t off, size;
    int64_t def_num;
    const char *def_str;
    int64_t min, max;
    const char *help;
} cfg_opt;

#define F(f) offsetof(gw_config, f), sizeof(((gw_config *)0)->f)
#define SMAX(f) ((int64_t)sizeof(((gw_config *)0)->f) - 1)

static const cfg_opt cfg_opts[] = {
    {"mode", CFG_STR, F(mode), 0, "proxy", 1, SMAX(mode),
     "proxy | auth_request | fake_upstream"},
    {"host", CFG_STR, F(host), 0, "127.0.0.1", 1, SMAX(host),
     "listen address (numeric IPv4 or IPv6)"},
    {"port", CFG_U32, F(port), 8080, NULL, 0, CFG_PORT_MAX,
     "listen port; 0 = any free port (see port_file)"},
    {"port_file", CFG_STR, F(port_file), 0, "", 0, SMAX(port_file),
     "write the bound port here once listening"},
    {"pid_file", CFG_STR, F(pid_file), 0, "", 0, SMAX(pid_file),
     "write the process id here"},
    {"threads", CFG_U32, F(threads), 0, NULL, 0, GW_THREADS_MAX,
     "workers (event loops, each with one quotad connection that carries "
     "many calls at once); 0 = one per online CPU"},
    {"quotad_host", CFG_STR, F(quotad_host), 0, "127.0.0.1", 1,
     SMAX(quotad_host), "quotad address"},
    {"quotad_port", CFG_U32, F(quotad_port), 7411, NULL, 1, CFG_PORT_MAX,
     "quotad port"},
    {"quotad_timeout_ms", CFG_U32, F(quotad_timeout_ms), 2000, NULL, 1,
     CFG_TIMEOUT_MS_MAX, "per-call timeout towards quotad"},
    {"shutdown_grace_ms", CFG_U32, F(shutdown_grace_ms), 10000, NULL, 0,
     CFG_TIMEOUT_MS_MAX, "on SIGTERM/SIGINT: stop accepting, let requests "
     "in flight finish this long, then cut the rest (holds voided)"},
    {"quotad_calls_max", CFG_U32, F(quotad_calls_max), 4096, NULL, 1,
     CFG_QUOTAD_CALLS_MAX, "quotad calls in flight per worker; a request "
     "that would pass it is refused with 503 quota_service_busy"},
    {"quotad_credential_file", CFG_STR, F(quotad_credential_file), 0, "",
     0, SMAX(quotad_credential_file),
     "file (mode 0600) with the gateway credential; empty = open server"},
    {"upstream", CFG_STR, F(upstream), 0, "http://127.0.0.1:8000", 1,
     SMAX(upstream), "upstream base URL: http://IP:PORT[/prefix]"},
    {"upstream_key", CFG_STR, F(upstream_key), 0, "", 0, SMAX(upstream_key),
     "bearer sent upstream (or env " CFG_UPSTREAM_KEY_ENV "); empty = none"},
    {"upstream_timeout_ms", CFG_U32, F(upstream_timeout_ms), 120000, NULL,
     1, CFG_TIMEOUT_MS_MAX, "upstream inactivity timeout"},
    {"upstream_pool", CFG_U32, F(upstream_pool), 64, NULL, 0, CFG_POOL_MAX,
     "idle keep-alive upstream connections kept per thread"},
    {"prices", CFG_STR, F(prices), 0, "", 0, SMAX(prices),
     "price table file (proxy mode)"},
    {"hold_timeout_ms", CFG_U32, F(hold_timeout_ms), 600000, NULL, 1,
     CFG_HOLD_TIMEOUT_MS_MAX, "lifetime of a hold; must exceed the upstream"},
    {"body_bytes_max", CFG_U32, F(body_bytes_max), 4 * 1024 * 1024, NULL,
     CFG_BODY_BYTES_MIN, CFG_BODY_BYTES_MAX, "largest request body"},
    {"reply_bytes_max", CFG_U32, F(reply_bytes_max), 16 * 1024 * 1024, NULL,
     CFG_BODY_BYTES_MIN, CFG_BODY_BYTES_MAX,
     "largest buffered (non-stream) upstream reply"},
    {"trust_forwarded", CFG_U32, F(trust_forwarded), 0, NULL, 0, 1,
     "1 = client IP from X-Real-IP / last X-Forwarded-For"},
    {"credits_status", CFG_U32, F(credits_status), 402, NULL, 402, 429,
     "HTTP status of insufficient_credits: 402 or 429"},
    {"stream_usage", CFG_U32, F(stream_usage), 1, NULL, 0, 1,
     "1 = add stream_options.include_usage to streamed requests"},
    {"auth_path", CFG_STR, F(auth_path), 0, "/auth", 1, SMAX(auth_path),
     "auth_request endpoint path"},
    {"auth_amount_micro", CFG_I64, F(auth_amount_micro), 0, NULL, 0,
     CFG_AMOUNT_MAX, "auth_request: debit per request (0 = check only)"},
    {"auth_real_status", CFG_U32, F(auth_real_status), 0, NULL, 0, 1,
     "auth_request: 1 = answer 429/402 as is (not for nginx)"},
    {"log_level", CFG_U32, F(log_level), 2, NULL, 0, CFG_LOG_LEVEL_MAX,
     "0 error, 1 warn, 2 info (access log), 3 debug"},
    {"fake_completion_tokens", CFG_U32, F(fake_completion_tokens), 20, NULL,
     1, CFG_FAKE_TOKENS_MAX, "fake upstream: completion tokens per reply"},
    {"fake_stream_chunks", CFG_U32, F(fake_stream_chunks), 5, NULL, 1,
     CFG_FAKE_CHUNKS_MAX, "fake upstream: content events per stream"},
    {"fake_stream_delay_ms", CFG_U32, F(fake_stream_delay_ms), 100, NULL, 1,
     CFG_FAKE_DELAY_MS_MAX, "fake upstream: delay between slow-* events"},
    {"fake_expect_auth", CFG_STR, F(fake_expect_auth), 0, "", 0,
     SMAX(fake_expect_auth),
     "fake upstream: required Authorization value; empty = none"},
};

#define CFG_N (sizeof cfg_opts / sizeof cfg_opts[0])

/* Names compare with '-' and '_' as the same character. */
static int cfg_name_eq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static const cfg_opt *cfg_find(const char *name)
{
    for (size_t i = 0; i < CFG_N; i++)
        if (cfg_name_eq(cfg_opts[i].name, name))
            return &cfg_opts[i];
    return NULL;
}

/* Parse a whole decimal integer within [min, max]. */
static int cfg_parse_num(const char *v, int64_t min, int64_t max,
                         int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < min || x > max)
        return -1;
    *out = (int64_t)x;
    return 0;
}

/* Store one value into its field; why says what is wrong with it. */
static int cfg_set(gw_config *cfg, const cfg_opt *o, const char *v,
                   char *why, size_t why_cap)
{
    char *field = (char *)cfg + o->off;
    if (o->type == CFG_STR) {
        size_t n = strlen(v);
        if ((int64_t)n < o->min || (int64_t)n > o->max) {
            snprintf(why, why_cap, "%s: length %zu not in [%" PRId64
                     ", %" PRId64 "]", o->name, n, o->min, o->max);
            return -1;
        }
        memcpy(field, v, n + 1);
        return 0;
    }
    int64_t x = 0;
    if (cfg_parse_num(v, o->min, o->max, &x) != 0) {
        snprintf(why, why_cap, "%s: '%.32s' is not an integer in [%" PRId64
                 ", %" PRId64 "]", o->name, v, o->min, o->max);
        return -1;
    }
    if (o->type == CFG_U32) {
        uint32_t u = (uint32_t)x;
        memcpy(field, &u, sizeof u);
    } else {
        memcpy(field, &x, sizeof x);
    }
    return 0;
}

static void cfg_defaults(gw_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_opt *o = &cfg_opts[i];
        char num[32], why[CFGFILE_WHY_BYTES];
        snprintf(num, sizeof num, "%" PRId64, o->def_num);
        int rc = cfg_set(cfg, o, o->type == CFG_STR ? o->def_str : num, why,
                         sizeof why);
        assert(rc == 0);   /* the table's defaults are in range */
        (void)rc;
    }
}

/* cfgfile's setter: one "name = value" line of a --config file. */
static int cfg_file_set(void *arg, const char *name, const char *value,
                        char *why, size_t why_cap)
{
    const cfg_opt *o = cfg_find(name);
    if (o == NULL) {
        snprintf(why, why_cap, "unknown option '%.64s'", name);
        return -1;
    }
    return cfg_set(arg, o, value, why, why_cap);
}

static int cfg_file(gw_config *cfg, const char *path)
{
    char err[GW_PATH_BYTES + CFGFILE_WHY_BYTES];
    if (cfgfile_read(path, cfg_file_set, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static void cfg_help(void)
{
    printf("usage: quotad-gateway [--config FILE] [--NAME VALUE]...\n\n"
           "options (file: name = value; flags: --name value):\n");
    for (size_t i = 0; i < CFG_N; i++) {
        const cfg_opt *o = &cfg_opts[i];
        if (o->type == CFG_STR)
            printf("  %-24s %s [\"%s\"]\n", o->name, o->help, o->def_str);
        else
            printf("  %-24s %s [%" PRId64 "]\n", o->name, o->help,
                   o->def_num);
    }
}

/* Split "http://IP[:PORT][/prefix]" into host, port and base path. Only
 * numeric addresses: resolving names would block a worker. */
static int cfg_upstream(gw_config *cfg)
{
    struct evhttp_uri *u = evhttp_uri_parse(cfg->upstream);
    int rc = -1;
    if (u == NULL || evhttp_uri_get_scheme(u) == NULL ||
        strcmp(evhttp_uri_get_scheme(u), "http") != 0 ||
        evhttp_uri_get_host(u) == NULL) {
        fprintf(stderr, "upstream: '%.128s' is not http://IP:PORT[/path] "
                "(https is not supported)\n", cfg->upstream);
        goto out;
    }
    const char *h = evhttp_uri_get_host(u), *path = evhttp_uri_get_path(u);
    unsigned char a[sizeof(struct in6_addr)];
    size_t hn = strlen(h);
    if (hn >= sizeof cfg->up_host ||
        (inet_pton(AF_INET, h, a) != 1 && inet_pton(AF_INET6, h, a) != 1)) {
        fprintf(stderr, "upstream: host must be a numeric address\n");
        goto out;
    }
    memcpy(cfg->up_host, h, hn + 1);
    int port = evhttp_uri_get_port(u);
    cfg->up_port = (uint16_t)(port > 0 ? port : (int)CFG_HTTP_DEFAULT_PORT);
    size_t pn = path != NULL ? strlen(path) : 0;
    while (pn > 0 && path[pn - 1] == '/')
        pn--;
    if (pn >= sizeof cfg->up_base_path)
        goto out;
    memcpy(cfg->up_base_path, path != NULL ? path : "", pn);
    cfg->up_base_path[pn] = '\0';
    rc = 0;
out:
    if (u != NULL)
        evhttp_uri_free(u);
    return rc;
}

/* Read the quotad credential: a private regular file holding one line
 * (blanks around it ignored). Read once at start, never printed. */
static int cfg_credential(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    if (path[0] == '\0')
        return 0;
    char buf[QC_CREDENTIAL_CHARS_MAX + CFG_CRED_SLACK_BYTES];
    const char *why = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat sb;
    ssize_t n = -1;
    if (fd < 0 || fstat(fd, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISREG(sb.st_mode) || (sb.st_mode & CFG_CRED_MODE_OTHERS))
        why = "must be a regular file readable by its owner only (0600)";
    else if ((n = read(fd, buf, sizeof buf - 1)) < 0)
        why = strerror(errno);
    if (fd >= 0)
        close(fd);
    size_t lo = 0, hi = n > 0 ? (size_t)n : 0;
    while (lo < hi && isspace((unsigned char)buf[lo]))
        lo++;
    while (hi > lo && isspace((unsigned char)buf[hi - 1]))
        hi--;
    if (why == NULL && (hi == lo || hi - lo >= cap ||
                        memchr(buf + lo, '\0', hi - lo) != NULL))
        why = "must hold one credential of 1.." "256 bytes";
    if (why == NULL) {
        memcpy(out, buf + lo, hi - lo);
        out[hi - lo] = '\0';
    }
    explicit_bzero(buf, sizeof buf);
    if (why != NULL)
        fprintf(stderr, "quotad_credential_file %s: %s\n", path, why);
    return why == NULL ? 0 : -1;
}

/* Keep one more resolved address unless it is already kept or no room. */
static void cfg_addr_keep(gw_config *cfg, const struct addrinfo *ai)
{
    char text[GW_HOST_BYTES];
    if (cfg->quotad_addrs_n >= GW_QUOTAD_ADDRS_MAX ||
        getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, NULL, 0,
                    NI_NUMERICHOST) != 0)
        return;
    for (uint32_t i = 0; i < cfg->quotad_addrs_n; i++)
        if (strcmp(cfg->quotad_addrs[i], text) == 0)
            return;
    memcpy(cfg->quotad_addrs[cfg->quotad_addrs_n++], text, strlen(text) + 1);
}

/* Resolve quotad_host once, here, where waiting is harmless: a worker's
 * connect must never block its event loop on DNS. A name gives up to
 * GW_QUOTAD_ADDRS_MAX addresses, tried in turn on failed connects (so
 * "localhost" works whether quotad listens on ::1 or 127.0.0.1). A unix
 * socket path is kept as it is. The name is not looked up again: restart
 * the gateway after moving quotad to another address. */
static int cfg_quotad_addrs(gw_config *cfg)
{
    cfg->quotad_addrs_n = 0;
    if (cfg->quotad_host[0] == '/') {
        memcpy(cfg->quotad_addrs[0], cfg->quotad_host,
               strlen(cfg->quotad_host) + 1);
        cfg->quotad_addrs_n = 1;
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int e = getaddrinfo(cfg->quotad_host, NULL, &hints, &res);
    if (e != 0) {
        fprintf(stderr, "quotad_host: '%s': %s\n", cfg->quotad_host,
                gai_strerror(e));
        return -1;
    }
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        cfg_addr_keep(cfg, ai);
    freeaddrinfo(res);
    if (cfg->quotad_addrs_n == 0) {
        fprintf(stderr, "quotad_host: '%s': no usable address\n",
                cfg->quotad_host);
        return -1;
    }
    return 0;
}

/* Cross-field checks and derived values. */
static int cfg_finish(gw_config *cfg)
{
    if (strcmp(cfg->mode, "proxy") == 0)
        cfg->mode_id = GW_MODE_PROXY;
    else if (strcmp(cfg->mode, "auth_request") == 0)
        cfg->mode_id = GW_MODE_AUTH;
    else if (strcmp(cfg->mode, "fake_upstream") == 0)
        cfg->mode_id = GW_MODE_FAKE;
    else {
        fprintf(stderr, "mode: '%s' is not proxy, auth_request or "
                "fake_upstream\n", cfg->mode);
        return -1;
    }
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n < 1 ? 1u
                       : n > (long)GW_THREADS_MAX ? GW_THREADS_MAX
                                                  : (uint32_t)n;
    }
    if (cfg->credits_status != 402 && cfg->credits_status != 429) {
        fprintf(stderr, "credits_status: must be 402 or 429\n");
        return -1;
    }
    if (cfg->upstream_key[0] == '\0') {
        const char *env = getenv(CFG_UPSTREAM_KEY_ENV);
        if (env != NULL && strlen(env) < sizeof cfg->upstream_key)
            memcpy(cfg->upstream_key, env, strlen(env) + 1);
    }
    if (cfg_quotad_addrs(cfg) != 0)
        return -1;
    if (cfg->mode_id != GW_MODE_FAKE &&
        cfg_credential(cfg->quotad_credential_file, cfg->quotad_credential,
                       sizeof cfg->quotad_credential) != 0)
        return -1;
    if (cfg->mode_id == GW_MODE_PROXY) {
        if (cfg->prices[0] == '\0') {
            fprintf(stderr, "prices: a price table is required in proxy "
                    "mode\n");
            return -1;
        }
        if (cfg->hold_timeout_ms <= cfg->upstream_timeout_ms)
            gw_log(GW_LOG_WARN, "hold_timeout_ms <= upstream_timeout_ms: a "
                   "slow reply may outlive its hold");
        return cfg_upstream(cfg);
    }
    return 0;
}

/* The value of "--name value" or "--name=value"; advances *i. */
static const char *cfg_flag_value(int argc, char **argv, int *i,
                                  char *name, size_t cap)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    if (n >= cap)
        return NULL;
    memcpy(name, arg, n);
    name[n] = '\0';
    if (eq != NULL)
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int cfg_flags(gw_config *cfg, int argc, char **argv)
{
    char name[CFG_NAME_BYTES];
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) {
            fprintf(stderr, "unexpected argument '%.64s'\n", argv[i]);
            return -1;
        }
        const char *v = cfg_flag_value(argc, argv, &i, name, sizeof name);
        if (v == NULL) {
            fprintf(stderr, "%.64s: missing value\n", argv[i]);
            return -1;
        }
        if (cfg_name_eq(name, "config"))
            continue;   /* read first, see gw_config_load */
        const cfg_opt *o = cfg_find(name);
        if (o == NULL) {
            fprintf(stderr, "unknown option --%s (see --help)\n", name);
            return -1;
        }
        char why[CFGFILE_WHY_BYTES];
        if (cfg_set(cfg, o, v, why, sizeof why) != 0) {
            fprintf(stderr, "command line: %s\n", why);
            return -1;
        }
    }
    return 0;
}

/* Defaults, then every --config file in order, then the other flags. */
int gw_config_load(gw_config *cfg, int argc, char **argv)
{
    cfg_defaults(cfg);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cfg_help();
            return 1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *file = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", strlen("--config=")) == 0)
            file = argv[i] + strlen("--config=");
        if (file != NULL && cfg_file(cfg, file) != 0)
            return -1;
    }
    if (cfg_flags(cfg, argc, argv) != 0)
        return -1;
    gw_log_set_level(cfg->log_level);
    return cfg_finish(cfg);
}
