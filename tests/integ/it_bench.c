/* it_bench -- quotad-bench against a real daemon: the tool that makes
 * the benchmark claims is itself checked.
 *
 *   load      --load creates the population: every workspace it names
 *             exists with the population's balance, every key it wrote
 *             is a live key of its workspace
 *   run       a short closed-loop check run (--json): every reply is an
 *             allowed check, the percentiles are ordered, the server's
 *             own histogram was read, and the wallets moved by exactly
 *             REQ_AMOUNT_MICRO per reply the tool read in the whole run
 *   hold      the hold+settle mix settles every hold it placed
 *   probe     --disk-probe times write + fdatasync in a directory,
 *             reports positive times and leaves no file behind; a
 *             missing directory is an error
 *
 * The binary is $QUOTAD_BENCH_BIN (make test sets it), else
 * build/rel/quotad-bench.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/bench/bench.h"
#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/toolrun.h"
#include "t.h"

#define BN_DEFAULT_BIN "build/rel/quotad-bench"
#define BN_KEYS 300
#define BN_WORKSPACES 7
#define BN_CONNS 2
#define BN_PIPELINE 8
#define BN_WAIT_MS 120000
#define BN_OUT_MAX (64 * 1024)
#define BN_PATH_BYTES 512
#define BN_TEXT 32
#define BN_LINE_BYTES 256

static td_daemon g_d;
static qc_ctx *g_c;
static char g_pop[BN_PATH_BYTES];
static char g_port[BN_TEXT];
static char g_out[BN_OUT_MAX], g_err[BN_OUT_MAX];
static uint32_t g_ws[BN_WORKSPACES];
static uint64_t g_key_ids[BN_KEYS];

/* quotad-bench args... with stdout/stderr in g_out/g_err; exit code
 * (shown when it is not the expected 0). */
static int bn_run(const char *const *args)
{
    char out[BN_PATH_BYTES], err[BN_PATH_BYTES];
    snprintf(out, sizeof out, "%s/bench.out", g_d.dir);
    snprintf(err, sizeof err, "%s/bench.err", g_d.dir);
    int rc = tr_run(tr_bin("QUOTAD_BENCH_BIN", BN_DEFAULT_BIN), NULL, args,
                    NULL, out, err, BN_WAIT_MS);
    tr_read(out, g_out, sizeof g_out);
    tr_read(err, g_err, sizeof g_err);
    if (rc != 0 && strcmp(args[0], "--disk-probe") != 0)
        fprintf(stderr, "  quotad-bench exit %d\n  %s\n  %s\n", rc, g_out,
                g_err);
    return rc;
}

/* The number after "name": in g_out; -1 if absent. */
static double bn_num(const char *name)
{
    char pat[BN_TEXT * 2];
    snprintf(pat, sizeof pat, "\"%s\":", name);
    const char *p = strstr(g_out, pat);
    return p != NULL ? strtod(p + strlen(pat), NULL) : -1;
}

/* The population file: its workspaces (in first-seen order) and keys. */
static int bn_read_pop(void)
{
    FILE *f = fopen(g_pop, "r");
    if (f == NULL)
        return -1;
    char line[BN_LINE_BYTES];
    size_t n_keys = 0, n_ws = 0;
    bool header = fgets(line, sizeof line, f) != NULL && line[0] == '#';
    while (header && fgets(line, sizeof line, f) != NULL) {
        char secret[BN_LINE_BYTES];
        uint32_t ws;
        uint64_t id;
        if (sscanf(line, "%255s %" SCNu32 " %" SCNu64, secret, &ws, &id) != 3 ||
            n_keys == BN_KEYS)
            break;
        g_key_ids[n_keys++] = id;
        size_t i = 0;
        while (i < n_ws && g_ws[i] != ws)
            i++;
        if (i == n_ws && n_ws < BN_WORKSPACES)
            g_ws[n_ws++] = ws;
    }
    fclose(f);
    return header && n_keys == BN_KEYS && n_ws == BN_WORKSPACES ? 0 : -1;
}

/* Population balance minus what is left in every workspace. */
static int64_t bn_spent(void)
{
    int64_t spent = 0;
    for (size_t i = 0; i < BN_WORKSPACES; i++) {
        fx_ws_state w;
        if (fx_ws_state_get(g_c, g_ws[i], &w) != QC_OK)
            return -1;
        spent += POP_BALANCE_MICRO - w.balance;
    }
    return spent;
}

static void test_load(void)
{
    char keys[BN_TEXT], wss[BN_TEXT], conns[BN_TEXT];
    snprintf(keys, sizeof keys, "%d", BN_KEYS);
    snprintf(wss, sizeof wss, "%d", BN_WORKSPACES);
    snprintf(conns, sizeof conns, "%d", BN_CONNS);
    const char *args[] = {"--port", g_port, "--load", "--keys", keys,
                          "--workspaces", wss, "--conns", conns,
                          "--secrets", g_pop, "--quiet", NULL};
    T_REQUIRE(bn_run(args) == 0);
    T_REQUIRE(bn_read_pop() == 0);
    for (size_t i = 0; i < BN_WORKSPACES; i++) {
        fx_ws_state w;
        T_REQUIRE(fx_ws_state_get(g_c, g_ws[i], &w) == QC_OK);
        T_EQ_I64(w.balance, POP_BALANCE_MICRO);
        T_EQ_I64(w.key_count, BN_KEYS / BN_WORKSPACES +
                                  (i < BN_KEYS % BN_WORKSPACES ? 1 : 0));
    }
    for (size_t i = 0; i < BN_KEYS; i += BN_KEYS / 10) {
        fx_key_state k;
        T_EQ_I64(fx_key_state_get(g_c, g_key_ids[i], &k), QC_OK);
    }
}

/* A short closed-loop run of mix; its JSON is left in g_out. */
static int bn_workload(const char *mix)
{
    char conns[BN_TEXT], pipe[BN_TEXT], pid[BN_TEXT];
    snprintf(conns, sizeof conns, "%d", BN_CONNS);
    snprintf(pipe, sizeof pipe, "%d", BN_PIPELINE);
    snprintf(pid, sizeof pid, "%d", (int)g_d.pid);
    const char *args[] = {"--port", g_port, "--secrets", g_pop, "--mix", mix,
                          "--conns", conns, "--pipeline", pipe,
                          "--duration", "1", "--warmup", "0",
                          "--server-pid", pid, "--json", "--quiet", NULL};
    return bn_run(args);
}

static void test_check_run(void)
{
    int64_t before = bn_spent();
    T_REQUIRE(before >= 0);
    T_REQUIRE(bn_workload("check") == 0);
    double ops = bn_num("ops");
    T_CHECK(ops > 0);
    T_EQ_I64(bn_num("allowed"), ops);
    T_EQ_I64(bn_num("denied"), 0);
    T_EQ_I64(bn_num("errors"), 0);
    T_EQ_I64(bn_num("failed_workers"), 0);
    T_CHECK(bn_num("ops_per_s") > 0);
    double p50 = bn_num("p50_us"), p99 = bn_num("p99_us");
    T_CHECK(p50 > 0 && p50 <= p99 && p99 <= bn_num("p999_us") &&
            bn_num("p999_us") <= bn_num("max_us"));
    T_CHECK(bn_num("srv_count") > 0);          /* quotad's histogram read */
    T_CHECK(bn_num("server_cpu_s") > 0);
    /* Every reply of the run, warm-up and last windows included, was an
     * allowed check of REQ_AMOUNT_MICRO: the wallets moved by exactly
     * that, no more (nothing applied twice) and no less. */
    double total = bn_num("replies_total");
    T_CHECK(total >= ops);
    T_EQ_I64(bn_spent() - before, (int64_t)total * REQ_AMOUNT_MICRO);
}

/* Every hold is settled: nothing stays reserved. */
static void test_hold_run(void)
{
    T_REQUIRE(bn_workload("hold") == 0);
    T_CHECK(bn_num("ops") > 0);
    T_EQ_I64(bn_num("errors"), 0);
    T_EQ_I64(bn_num("failed_workers"), 0);
    for (size_t i = 0; i < BN_WORKSPACES; i++) {
        fx_ws_state w;
        T_REQUIRE(fx_ws_state_get(g_c, g_ws[i], &w) == QC_OK);
        T_EQ_I64(w.reserved, 0);
    }
}

static bool bn_dir_has(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    bool found = false;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        found = found || strstr(e->d_name, name) != NULL;
    if (d != NULL)
        closedir(d);
    return found;
}

static void test_disk_probe(void)
{
    const char *args[] = {"--disk-probe", g_d.dir, "--json", NULL};
    T_REQUIRE(bn_run(args) == 0);
    T_CHECK(bn_num("rounds") > 0);
    T_CHECK(bn_num("fdatasync_us_mean") > 0);
    T_CHECK(bn_num("fdatasync_us_p50") <= bn_num("fdatasync_us_p99"));
    T_CHECK(bn_num("data_write_us_mean") > 0);
    T_CHECK(bn_num("flush_us_mean") > 0);
    T_CHECK(!bn_dir_has(g_d.dir, "disk-probe"));
    char missing[BN_PATH_BYTES];
    snprintf(missing, sizeof missing, "%s/no-such-dir", g_d.dir);
    const char *bad[] = {"--disk-probe", missing, NULL};
    T_CHECK(bn_run(bad) != 0);
    T_CHECK(strstr(g_err, "no-such-dir") != NULL);
}

int main(void)
{
    if (fx_start(&g_d, NULL, &g_c) != 0) {
        printf("FAIL setup\n");
        return 1;
    }
    snprintf(g_port, sizeof g_port, "%u", (unsigned)g_d.port);
    snprintf(g_pop, sizeof g_pop, "%s/population.secrets", g_d.dir);
    T_RUN(test_load);
    T_RUN(test_check_run);
    T_RUN(test_hold_run);
    T_RUN(test_disk_probe);
    int st = fx_finish(&g_d, g_c);
    if (st != 0)
        printf("FAIL daemon exit %d\n", st);
    return t_done() == 0 && st == 0 ? 0 : 1;
}
