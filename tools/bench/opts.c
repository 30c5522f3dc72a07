/* opts.c -- quotad-bench's command line. Every number is range-checked
 * against the BENCH_*_MAX bounds, and the host must be a loopback address:
 * this tool generates load and must never aim it off the machine. */
#include "bench.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_QUOTAD_PORT 7411
#define DEFAULT_REDIS_PORT 6379
#define DEFAULT_CONNS 4u
#define DEFAULT_PIPELINE 32u
#define DEFAULT_DURATION_S 10.0
#define DEFAULT_WARMUP_S 2.0
#define DEFAULT_KEYS 100000u
#define DEFAULT_WORKSPACES 1000u
#define DEFAULT_SEED 42u
#define DEFAULT_SECRETS "build/bench/population.secrets"
#define DEFAULT_LUA_DIR "bench"
#define RATE_MAX 1e9                    /* ops/s */

static const char usage_text[] =
    "usage: quotad-bench [options]\n"
    "  --target quotad|redis   server to load [quotad]\n"
    "  --host ADDR             loopback only [127.0.0.1]\n"
    "  --port N                [7411 quotad, 6379 redis]\n"
    "  --conns N               connections, one thread each [4]\n"
    "  --pipeline P            requests in flight per connection [32]\n"
    "  --batch B               quotad: B checks per frame (qc_check_batch);\n"
    "                          redis: a pipeline of B; replaces --pipeline\n"
    "  --duration S            measured seconds [10]\n"
    "  --warmup S              unmeasured seconds first [2]\n"
    "  --keys K                population size to load [100000]; a run\n"
    "                          uses the first K keys of --secrets [all]\n"
    "  --workspaces W          workspaces, key i in workspace i % W [1000]\n"
    "  --dist uniform|zipf     key choice; zipf s=0.99 [uniform]\n"
    "  --mix check|hold|admin|ping\n"
    "                          check: check-and-debit; hold: check with hold\n"
    "                          then settle; admin: checks + 1% admin writes;\n"
    "                          ping: protocol floor [check]\n"
    "  --rate R                open loop at R ops/s in total: each connection\n"
    "                          sends one request every conns/R s (at most P\n"
    "                          in flight; with --batch, one frame per due\n"
    "                          time); latency from when it was due [closed]\n"
    "  --threads T             with --rate (single requests): T client\n"
    "                          threads share the connections, each polling\n"
    "                          its own; 1 keeps a loaded client core from\n"
    "                          sending in bursts [one per connection]\n"
    "  --load                  create the population, write --secrets, exit\n"
    "                          (redis: reads --secrets if it exists)\n"
    "  --secrets FILE          population file [" DEFAULT_SECRETS "]\n"
    "  --lua-dir DIR           check.lua and settle.lua [" DEFAULT_LUA_DIR "]\n"
    "  --seed N                PRNG seed [42]\n"
    "  --server-pid PID        also report that process's CPU per op\n"
    "  --label TEXT            echoed in the report\n"
    "  --json                  one JSON object on stdout\n"
    "  --disk-probe DIR        no load: time write + fdatasync of 8 KiB in\n"
    "                          a scratch file in DIR (quotad's group commit\n"
    "                          pattern), report it and exit\n"
    "  --quiet                 no progress line\n";

static void cfg_defaults(bench_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->target = TARGET_QUOTAD;
    snprintf(c->host, sizeof c->host, "%s", DEFAULT_HOST);
    c->conns = DEFAULT_CONNS;
    c->pipeline = DEFAULT_PIPELINE;
    c->duration_s = DEFAULT_DURATION_S;
    c->warmup_s = DEFAULT_WARMUP_S;
    c->keys = DEFAULT_KEYS;
    c->workspaces = DEFAULT_WORKSPACES;
    c->dist = DIST_UNIFORM;
    c->mix = MIX_CHECK;
    c->seed = DEFAULT_SEED;
    snprintf(c->secrets, sizeof c->secrets, "%s", DEFAULT_SECRETS);
    snprintf(c->lua_dir, sizeof c->lua_dir, "%s", DEFAULT_LUA_DIR);
}

static int bad(const char *flag, const char *val)
{
    fprintf(stderr, "quotad-bench: bad value for %s: '%s' (try --help)\n",
            flag, val ? val : "");
    return -1;
}

static int parse_u32(const char *flag, const char *s, uint32_t lo,
                     uint32_t hi, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo ||
        v > hi)
        return bad(flag, s);
    *out = (uint32_t)v;
    return 0;
}

static int parse_double(const char *flag, const char *s, double lo,
                        double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return bad(flag, s);
    *out = v;
    return 0;
}

static int parse_str(const char *flag, const char *s, char *out, size_t cap)
{
    if (strlen(s) >= cap)
        return bad(flag, s);
    snprintf(out, cap, "%s", s);
    return 0;
}

/* Index of s in names (NULL-terminated), or -1. */
static int pick(const char *s, const char *const *names)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* Enumerated flags. Returns 1 handled, 0 not one of them, -1 bad value. */
static int parse_enum_flag(const char *f, const char *v, bench_cfg *c)
{
    static const char *const targets[] = {"quotad", "redis", NULL};
    static const char *const dists[] = {"uniform", "zipf", NULL};
    static const char *const mixes[] = {"check", "hold", "admin", "ping",
                                        NULL};
    const char *const *names = strcmp(f, "--target") == 0 ? targets
                               : strcmp(f, "--dist") == 0  ? dists
                               : strcmp(f, "--mix") == 0   ? mixes
                                                           : NULL;
    if (names == NULL)
        return 0;
    int i = pick(v, names);
    if (i < 0)
        return bad(f, v);
    if (names == targets)
        c->target = (bench_target)i;
    else if (names == dists)
        c->dist = (bench_dist_kind)i;
    else
        c->mix = (bench_mix)i;
    return 1;
}

/* Numeric flags. Returns 0 handled, 1 not one of them, -1 bad value. */
static int parse_num_flag(const char *f, const char *v, bench_cfg *c)
{
    uint32_t port = 0;
    if (strcmp(f, "--port") == 0) {
        int rc = parse_u32(f, v, 1, UINT16_MAX, &port);
        c->port = (uint16_t)port;
        return rc;
    }
    if (strcmp(f, "--conns") == 0)
        return parse_u32(f, v, 1, BENCH_CONNS_MAX, &c->conns);
    if (strcmp(f, "--threads") == 0)
        return parse_u32(f, v, 1, BENCH_CONNS_MAX, &c->threads);
    if (strcmp(f, "--pipeline") == 0)
        return parse_u32(f, v, 1, BENCH_PIPELINE_MAX, &c->pipeline);
    if (strcmp(f, "--batch") == 0)
        return parse_u32(f, v, 0, BENCH_BATCH_MAX, &c->batch);
    if (strcmp(f, "--keys") == 0) {
        c->keys_set = true;
        return parse_u32(f, v, 1, BENCH_KEYS_MAX, &c->keys);
    }
    if (strcmp(f, "--workspaces") == 0)
        return parse_u32(f, v, 1, BENCH_WS_MAX, &c->workspaces);
    if (strcmp(f, "--duration") == 0)
        return parse_double(f, v, 0.1, BENCH_DURATION_S_MAX, &c->duration_s);
    if (strcmp(f, "--warmup") == 0)
        return parse_double(f, v, 0.0, BENCH_DURATION_S_MAX, &c->warmup_s);
    if (strcmp(f, "--rate") == 0)
        return parse_double(f, v, 0.0, RATE_MAX, &c->rate);
    if (strcmp(f, "--server-pid") == 0)
        return parse_u32(f, v, 1, INT32_MAX, &c->server_pid);
    if (strcmp(f, "--seed") == 0) {
        uint32_t s = 0;
        int rc = parse_u32(f, v, 0, UINT32_MAX, &s);
        c->seed = s;
        return rc;
    }
    return 1;
}

/* Flags that take a value. Returns 0, 1 unknown, -1 bad value. */
static int parse_value_flag(const char *f, const char *v, bench_cfg *c)
{
    int rc = parse_enum_flag(f, v, c);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (strcmp(f, "--host") == 0)
        return parse_str(f, v, c->host, sizeof c->host);
    if (strcmp(f, "--secrets") == 0)
        return parse_str(f, v, c->secrets, sizeof c->secrets);
    if (strcmp(f, "--lua-dir") == 0)
        return parse_str(f, v, c->lua_dir, sizeof c->lua_dir);
    if (strcmp(f, "--label") == 0)
        return parse_str(f, v, c->label, sizeof c->label);
    if (strcmp(f, "--disk-probe") == 0)
        return parse_str(f, v, c->disk_probe, sizeof c->disk_probe);
    return parse_num_flag(f, v, c);
}

/* Load is generated against this machine only. */
static bool host_is_loopback(const char *h)
{
    if (strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0)
        return true;
    struct in_addr a;
    if (inet_pton(AF_INET, h, &a) != 1)
        return false;
    return (ntohl(a.s_addr) >> 24) == 127;
}

/* The label is echoed inside JSON: keep it to characters that need no
 * escaping. */
static bool label_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && strchr(" -_.=/:,+", *s) == NULL)
            return false;
    return true;
}

static int cfg_check(bench_cfg *c)
{
    if (!label_ok(c->label))
        return bad("--label", c->label);
    if (!host_is_loopback(c->host)) {
        fprintf(stderr, "quotad-bench: --host must be a loopback address "
                        "(127.0.0.0/8, ::1, localhost), not '%s'\n", c->host);
        return -1;
    }
    if (c->port == 0)
        c->port = c->target == TARGET_QUOTAD ? DEFAULT_QUOTAD_PORT
                                             : DEFAULT_REDIS_PORT;
    if (c->batch > 0 && c->mix != MIX_CHECK) {
        fprintf(stderr, "quotad-bench: --batch goes with --mix check\n");
        return -1;
    }
    if (c->rate > 0 && c->batch == 0 && c->mix == MIX_HOLD) {
        fprintf(stderr, "quotad-bench: --rate goes with --mix check, admin "
                        "or ping (or with --batch)\n");
        return -1;
    }
    if (c->threads > 0 && (c->rate <= 0 || c->batch > 0)) {
        fprintf(stderr, "quotad-bench: --threads goes with --rate (single "
                        "requests)\n");
        return -1;
    }
    if (c->threads > c->conns)
        c->threads = c->conns;
    if (c->batch > 0)
        c->pipeline = 1;
    return 0;
}

int bench_opts_parse(int argc, char **argv, bench_cfg *cfg)
{
    cfg_defaults(cfg);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
            fputs(usage_text, stdout);
            return 1;
        }
        if (strcmp(f, "--load") == 0 || strcmp(f, "--json") == 0 ||
            strcmp(f, "--quiet") == 0) {
            bool *b = f[2] == 'l' ? &cfg->load
                      : f[2] == 'j' ? &cfg->json : &cfg->quiet;
            *b = true;
            continue;
        }
        if (i + 1 >= argc)
            return bad(f, NULL);
        int rc = parse_value_flag(f, argv[++i], cfg);
        if (rc == 1) {
            fprintf(stderr, "quotad-bench: unknown option %s (try --help)\n",
                    f);
            return -1;
        }
        if (rc < 0)
            return -1;
    }
    return cfg_check(cfg);
}
