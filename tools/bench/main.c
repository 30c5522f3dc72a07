/* main.c -- quotad-bench: load a population (--load) or run a workload
 * against quotad or the Redis + Lua peer and report it. See bench.h for
 * the model, and README.md "Benchmarks" for the full benchmark (make bench).
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1e9
#define SECRET_PREFIX "sk-"
#define SECRET_RANDOM_BYTES 32u

/* A Redis-only population (no quotad secrets file yet): random secrets in
 * quotad's shape, key i in workspace i % W + 1. */
static int pop_generate(const bench_cfg *cfg, bench_pop *p)
{
    if (sodium_init() < 0 || pop_alloc(p, cfg->keys, cfg->workspaces) != 0)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        unsigned char rnd[SECRET_RANDOM_BYTES];
        char hex[2 * SECRET_RANDOM_BYTES + 1];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
        pop_key *k = &p->keys[i];
        snprintf(k->id, sizeof k->id, "%s%s", SECRET_PREFIX, hex);
        k->ws_id = (uint32_t)(i % cfg->workspaces) + 1;
        k->key_id = (uint64_t)k->ws_id << 32 | (i / cfg->workspaces + 1);
    }
    return 0;
}

static int load_quotad_main(const bench_cfg *cfg)
{
    bench_pop p;
    int rc = load_quotad(cfg, &p);
    if (rc == 0)
        rc = pop_write(cfg->secrets, &p);
    pop_free(&p);
    return rc;
}

/* The population file decides the counts (reported by do_load). */
static int load_redis_main(bench_cfg *cfg)
{
    bench_pop p;
    int rc = pop_read(cfg->secrets, &p);
    if (rc != 0 && errno == ENOENT) {
        fprintf(stderr, "quotad-bench: %s not found: generating %u keys\n",
                cfg->secrets, cfg->keys);
        rc = pop_generate(cfg, &p);
        if (rc == 0)
            rc = pop_write(cfg->secrets, &p);
    }
    if (rc == 0) {
        cfg->keys = (uint32_t)p.n;
        cfg->workspaces = p.n_ws;
        rc = pop_hash_all(&p);
    }
    if (rc == 0)
        rc = load_redis(cfg, &p);
    pop_free(&p);
    return rc;
}

static int do_load(bench_cfg *cfg)
{
    int64_t t0 = bench_now_ns();
    int rc = cfg->target == TARGET_QUOTAD ? load_quotad_main(cfg)
                                          : load_redis_main(cfg);
    double s = (double)(bench_now_ns() - t0) / NS_PER_S;
    if (rc == 0)
        fprintf(stderr, "quotad-bench: loaded %u keys over %u workspaces "
                        "into %s in %.1f s (%.0f keys/s); secrets: %s\n",
                cfg->keys, cfg->workspaces,
                cfg->target == TARGET_QUOTAD ? "quotad" : "redis", s,
                cfg->keys / (s > 0 ? s : 1), cfg->secrets);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int do_run(bench_cfg *cfg)
{
    bench_pop p;
    bench_dist d = {0};
    bench_result r;
    memset(&r, 0, sizeof r);
    if (pop_read(cfg->secrets, &p) != 0) {
        fprintf(stderr, "quotad-bench: cannot read population %s (run "
                        "with --load first)\n", cfg->secrets);
        return EXIT_FAILURE;
    }
    if (cfg->keys_set && cfg->keys < p.n)
        p.n = cfg->keys;
    cfg->keys = (uint32_t)p.n;
    int rc = cfg->target == TARGET_REDIS ? pop_hash_all(&p) : 0;
    if (rc == 0)
        rc = dist_init(&d, cfg->dist, p.n, BENCH_ZIPF_S);
    if (rc == 0)
        rc = bench_run(cfg, &p, &d, &r);
    if (rc == 0)
        report_print(cfg, &r);
    if (rc == 0 && r.failed_workers > 0)
        rc = -1;
    hdr_free(&r.hist);
    hdr_free(&r.late);
    dist_free(&d);
    pop_free(&p);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    bench_cfg cfg;
    int rc = bench_opts_parse(argc, argv, &cfg);
    if (rc != 0)
        return rc > 0 ? EXIT_SUCCESS : 2;
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return EXIT_FAILURE;
    if (cfg.disk_probe[0] != '\0')
        return diskprobe_main(cfg.disk_probe, cfg.json);
    return cfg.load ? do_load(&cfg) : do_run(&cfg);
}
