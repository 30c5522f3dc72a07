/* it_data -- snapshots and the offline data tool, end to end.
 *
 * A daemon (persisting with fsync always into DIR/data) gets a mixed
 * workload: workspaces, keys with limits and metadata, wallet moves with
 * idempotency ids, debits, holds settled, voided and left open, a
 * rotation, a revoke, a delete. Then:
 *   quotadctl snapshot --wait        -> a snap-*.qsnap appears
 *   clean stop (exit 0)
 *   quotad-data verify DIR/data      -> 0
 *   quotad-data dump --json          -> JSON lines, no secret anywhere
 *   quotad-data state (twice)        -> byte-for-byte equal
 *   quotad-data snapshot --dir       -> state unchanged, verifies
 *   quotad-data restore -> new dir, a daemon starts on it and stops clean,
 *                          and its state equals the original
 *   a flipped byte in a middle chunk -> 2; a truncated tail -> 1
 *   usage errors -> 3; a wrong/unexpected key -> 4; encrypted data
 *   verifies and loads with its key
 * The tools are run with posix_spawn ($QUOTAD_DATA_BIN, $QUOTADCTL_BIN),
 * output captured to files and read with plain string searches.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/toolrun.h"
#include "segfile.h"
#include "t.h"

#define DATA_DEFAULT_BIN "build/asan/quotad-data"
#define CTL_DEFAULT_BIN "build/asan/quotadctl"
#define RUN_WAIT_MS 120000
#define PATH_BYTES 512
#define PORT_TEXT 16
#define SECRETS_MAX 8
#define KEY_HEX_CHARS 64      /* secret body: 64 lowercase hex chars */
#define PREFIX "sk-"
#define MIN_CHUNKS_FOR_MIDDLE 3
#define FLIP_MASK 0x5a

/* Exit codes of quotad-data (see `quotad-data help`). */
enum { DX_OK = 0, DX_TORN = 1, DX_CORRUPT = 2, DX_USAGE = 3, DX_IO = 4 };

typedef struct run_res {
    int rc;
    char *out, *err;     /* NUL-terminated, never NULL after run() */
} run_res;

static td_daemon g_d;
static char g_port[PORT_TEXT];
static char g_data[PATH_BYTES];         /* DIR/data of g_d */
static char g_secrets[SECRETS_MAX][FX_SECRET_BYTES];
static int g_n_secrets;
static uint32_t g_ws1;
static int64_t g_ws1_balance;           /* at the clean stop */
static char *g_state;                   /* canonical state at the stop */
static char g_seg_copy[PATH_BYTES];     /* a log segment with chunks */
static char g_seg_name[PATH_BYTES];     /* its name in DIR/data */

/* ---- running the tools ---- */

/* Release the captured output of the previous run. */
static void run_free(run_res *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* A whole file as a NUL-terminated string ("" if missing); NULL only when
 * out of memory. */
static char *slurp(const char *path, size_t *len_out)
{
    struct stat sb;
    size_t n = 0;
    FILE *f = fopen(path, "rb");
    if (f != NULL && fstat(fileno(f), &sb) == 0)
        n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    size_t got = 0;
    if (buf != NULL && f != NULL)
        got = fread(buf, 1, n, f);
    if (f != NULL)
        fclose(f);
    if (buf != NULL)
        buf[got] = '\0';
    if (len_out != NULL)
        *len_out = got;
    return buf;
}

/* Run bin (from env var, else dflt) with args, in an empty environment;
 * stdout/stderr captured in the daemon's temp dir. */
static void run(run_res *r, const char *env, const char *dflt,
                const char *const *args)
{
    char out[PATH_BYTES], err[PATH_BYTES];
    char *const no_env[] = {NULL};
    run_free(r);
    snprintf(out, sizeof out, "%s/tool.out", g_d.dir);
    snprintf(err, sizeof err, "%s/tool.err", g_d.dir);
    r->rc = tr_run(tr_bin(env, dflt), NULL, args, no_env, out, err,
                   RUN_WAIT_MS);
    r->out = slurp(out, NULL);
    r->err = slurp(err, NULL);
    if (r->out == NULL || r->err == NULL) {
        fprintf(stderr, "  out of memory\n");
        exit(1);
    }
}

#define DATA(r, ...)                                                        \
    run((r), "QUOTAD_DATA_BIN", DATA_DEFAULT_BIN,                           \
        (const char *const[]){__VA_ARGS__, NULL})
#define CTL(r, ...)                                                         \
    run((r), "QUOTADCTL_BIN", CTL_DEFAULT_BIN,                              \
        (const char *const[]){"--port", g_port, __VA_ARGS__, NULL})

/* Show a failed tool's stderr to make the check readable. */
static void show_err(const run_res *r, const char *what)
{
    if (r->rc != 0 && r->err && r->err[0])
        fprintf(stderr, "  %s (rc %d): %s\n", what, r->rc, r->err);
}

/* ---- files ---- */

/* dir/name into out (PATH_BYTES); -1 if too long. */
static int path_in(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_BYTES, "%s/%s", dir, name);
    return (n < 0 || n >= PATH_BYTES) ? -1 : 0;
}

/* Newest file of dir whose name starts with prefix and ends with suffix
 * (names carry zero-padded numbers, so the greatest name is the newest). */
static int newest(const char *dir, const char *prefix, const char *suffix,
                  char *out)
{
    DIR *d = opendir(dir);
    char best[PATH_BYTES] = "";
    if (d == NULL)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), sl = strlen(suffix);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n > sl &&
            strcmp(e->d_name + n - sl, suffix) == 0 &&
            strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(d);
    return best[0] ? path_in(out, dir, best) : -1;
}

/* Write exactly n bytes (mode 0600: key files need it). */
static int write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, p, n);
    int rc = close(fd);
    return (w == (ssize_t)n && rc == 0) ? 0 : -1;
}

/* Copy a (small) file byte for byte. */
static int copy_file(const char *from, const char *to)
{
    size_t n = 0;
    char *buf = slurp(from, &n);
    int rc = buf ? write_file(to, buf, n) : -1;
    free(buf);
    return rc;
}

/* Offsets of the chunks of a segment image (up to max). */
static size_t chunk_offsets(const uint8_t *img, size_t len, size_t *offs,
                            size_t max)
{
    size_t n = 0, off = SEGFILE_HEADER_BYTES;
    while (off + CHUNK_HEADER_BYTES <= len && n < max) {
        chunk_header h;
        chunk_header_unpack(img + off, &h);
        offs[n++] = off;
        off += CHUNK_HEADER_BYTES + h.stored_len;
    }
    return n;
}

/* ---- output checks ---- */

/* No created secret (nor its hex body, nor any "sk-" + 64 hex) in text. */
static bool leaks_secret(const char *text)
{
    for (int i = 0; i < g_n_secrets; i++)
        if (strstr(text, g_secrets[i]) ||
            strstr(text, g_secrets[i] + strlen(PREFIX)))
            return true;
    for (const char *p = strstr(text, PREFIX); p; p = strstr(p + 1, PREFIX)) {
        size_t k = 0;
        while (k < KEY_HEX_CHARS &&
               strchr("0123456789abcdef", p[strlen(PREFIX) + k]) &&
               p[strlen(PREFIX) + k] != '\0')
            k++;
        if (k == KEY_HEX_CHARS)
            return true;
    }
    return false;
}

/* Every line is one JSON object; returns the number of lines (-1 bad). */
static int json_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (nl == NULL || nl == p || p[0] != '{' || nl[-1] != '}')
            return -1;
        n++;
        p = nl + 1;
    }
    return n;
}

/* ---- the workload ---- */

/* Remember a secret so every output can be searched for it. */
static void keep_secret(const char *s)
{
    if (g_n_secrets < SECRETS_MAX)
        snprintf(g_secrets[g_n_secrets++], FX_SECRET_BYTES, "%s", s);
}

/* Place a hold through a check; 0 and *hold_id when allowed. */
static int hold_check(qc_ctx *c, const char *secret, int64_t amount,
                      uint64_t *hold_id)
{
    qc_check_req rq = {.secret = secret, .amount = amount, .hold = true,
                       .model = "gpt-4o", .client_ip = "10.1.2.3"};
    qc_check_res rs;
    int rc = qc_check(c, &rq, &rs);
    *hold_id = rs.hold_id;
    return rc == QC_OK && rs.decision == QC_ALLOWED ? 0 : -1;
}

/* An alert rule on a workspace (key_id 0) or a key. */
static int set_alert(qc_ctx *c, uint32_t ws, uint64_t key_id, int kind,
                     int64_t threshold)
{
    Quotad__SetAlert sa = QUOTAD__SET_ALERT__INIT;
    FX_SET(sa, workspace_id, ws);
    FX_SET(sa, key_id, key_id);
    FX_SET(sa, kind, (Quotad__AlertKind)kind);
    FX_SET(sa, threshold, threshold);
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_SET_ALERT;
    rq.set_alert = &sa;
    return fx_call_rc(c, &rq);
}

/* Keys with every kind of field, wallet moves, debits and holds. */
static void workload_first(qc_ctx *c)
{
    uint32_t ws2 = 0;
    Quotad__Reply *r = NULL;
    Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
    char *models[] = {"gpt-4o", "gpt-4o-mini"}, *ips[] = {"10.0.0.0/8"};
    FX_SET(lim, quota_total, 10 * FX_UNIT);
    FX_SET(lim, rpm, 600);
    FX_SET(lim, spend_cap_day, 5 * FX_UNIT);
    lim.models = models;
    lim.n_models = 2;
    lim.ips = ips;
    lim.n_ips = 1;
    fx_key k1, k2, k3, k4;
    T_REQUIRE(fx_workspace(c, 100 * FX_UNIT, FX_UNIT, 0, &g_ws1) == 0);
    T_REQUIRE(fx_workspace(c, 5 * FX_UNIT, 0, 0, &ws2) == 0);
    T_REQUIRE(fx_key_create(c, g_ws1, &lim, &k1) == 0);
    T_REQUIRE(fx_key_create_ex(c, g_ws1, NULL, QUOTAD__KEY_KIND__ADMIN,
                               "ops \"admin\"\n", "grp", &k2) == 0);
    T_REQUIRE(fx_key_create(c, ws2, NULL, &k3) == 0);
    T_REQUIRE(fx_key_create(c, ws2, NULL, &k4) == 0);
    keep_secret(k1.secret);
    keep_secret(k2.secret);
    keep_secret(k3.secret);
    keep_secret(k4.secret);
    T_CHECK(qc_adjust_wallet(c, g_ws1, 7 * FX_UNIT, "top", "w-1", &r) == 0);
    qc_reply_free(r);
    T_CHECK(qc_adjust_wallet(c, g_ws1, -FX_UNIT, "fix", NULL, &r) == 0);
    qc_reply_free(r);
    qc_check_req rq = {.secret = k1.secret, .model = "gpt-4o",
                       .client_ip = "10.9.9.9", .amount = 12500,
                       .tokens = 50, .idempotency_id = "chk-1"};
    qc_check_res rs;
    T_CHECK(qc_check(c, &rq, &rs) == 0 && rs.decision == QC_ALLOWED);
    T_CHECK(fx_decide(c, k3.secret, 250000) == QC_ALLOWED);
    uint64_t h1, h2, h3;
    qc_settle_res ss;
    T_REQUIRE(hold_check(c, k1.secret, 500000, &h1) == 0);
    T_REQUIRE(hold_check(c, k1.secret, 300000, &h2) == 0);
    T_REQUIRE(hold_check(c, k1.secret, 200000, &h3) == 0);
    T_CHECK(qc_settle(c, h1, 310000, 900, "set-1", &ss) == 0);
    T_CHECK(qc_void(c, h2, &ss) == 0);
    char rot[FX_SECRET_BYTES];
    T_CHECK(fx_rotate(c, k4.id, 3600 * 1000, rot, sizeof rot) == 0);
    keep_secret(rot);
    T_CHECK(qc_revoke_key(c, k3.id, &r) == 0);
    qc_reply_free(r);
    T_CHECK(set_alert(c, g_ws1, 0, QUOTAD__ALERT_KIND__ALERT_WALLET_BELOW,
                      50 * FX_UNIT) == 0);
    T_CHECK(set_alert(c, g_ws1, k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                      3 * FX_UNIT) == 0);
}

/* After the online snapshot: changes that only the log holds, one
 * request per group commit so the segment has several chunks. */
static void workload_after(qc_ctx *c)
{
    fx_key k5;
    Quotad__Reply *r = NULL;
    T_REQUIRE(fx_key_create(c, g_ws1, NULL, &k5) == 0);
    keep_secret(k5.secret);
    for (int i = 0; i < 3; i++)
        T_CHECK(fx_decide(c, k5.secret, 1000 + i) == QC_ALLOWED);
    T_CHECK(qc_adjust_wallet(c, g_ws1, 2 * FX_UNIT, "more", "w-2", &r) == 0);
    qc_reply_free(r);
    uint64_t h;
    qc_settle_res ss;
    T_CHECK(hold_check(c, g_secrets[0], 400000, &h) == 0);
    T_CHECK(qc_settle(c, h, 100000, 10, "set-2", &ss) == 0);
    char rot[FX_SECRET_BYTES];
    T_CHECK(fx_rotate(c, k5.id, 0, rot, sizeof rot) == 0);
    keep_secret(rot);
    Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(lim, tpm, 90000);
    T_CHECK(fx_update_limits(c, k5.id, &lim) == 0);
    T_CHECK(set_alert(c, g_ws1, 0, QUOTAD__ALERT_KIND__ALERT_SPEND_WEEK,
                      20 * FX_UNIT) == 0);
    T_CHECK(qc_delete_key(c, k5.id, &r) == 0);
    qc_reply_free(r);
    T_CHECK(fx_balance(c, g_ws1, &g_ws1_balance) == 0);
}

/* ---- tests ---- */

/* Start the daemon and run the first half of the workload. */
static void test_workload(void)
{
    T_REQUIRE(td_start(&g_d, NULL) == 0);
    snprintf(g_port, sizeof g_port, "%u", (unsigned)g_d.port);
    T_REQUIRE(path_in(g_data, g_d.dir, "data") == 0);
    qc_ctx *c = td_connect(&g_d);
    T_REQUIRE(c != NULL);
    workload_first(c);
    qc_free(c);
}

/* quotadctl snapshot --wait on a live daemon; offline tool refused. */
static void test_ctl_snapshot(void)
{
    run_res r = {0};
    char snap[PATH_BYTES];
    T_REQUIRE(g_d.pid > 0);
    CTL(&r, "snapshot", "--wait");
    show_err(&r, "snapshot --wait");
    T_EQ_I64(r.rc, 0);
    T_CHECK(strstr(r.out, "last seq:") != NULL);
    T_CHECK(strstr(r.out, "running:             no") != NULL);
    T_CHECK(newest(g_data, "snap-", ".qsnap", snap) == 0);
    CTL(&r, "--json", "snapshot", "--wait", "--timeout", "30");
    T_EQ_I64(r.rc, 0);
    T_CHECK(json_lines(r.out) == 1 && strstr(r.out, "\"ok\":true") &&
            strstr(r.out, "\"running\":false"));
    CTL(&r, "snapshot", "--timeout", "x");
    T_EQ_I64(r.rc, 2);
    DATA(&r, "snapshot", "--dir", g_data);   /* the daemon runs: refused */
    T_EQ_I64(r.rc, DX_IO);
    T_CHECK(strstr(r.err, "is quotad running") != NULL);
    qc_ctx *c = td_connect(&g_d);
    T_REQUIRE(c != NULL);
    workload_after(c);
    qc_free(c);
    run_free(&r);
}

/* FAILED_PRECONDITION from a memory-only daemon: exit 1. */
static void test_ctl_snapshot_no_persist(void)
{
    td_daemon d;
    run_res r = {0};
    char saved[PORT_TEXT];
    T_REQUIRE(td_start(&d, (const char *const[]){"--persist", "0",
                                                 NULL}) == 0);
    memcpy(saved, g_port, sizeof saved);
    snprintf(g_port, sizeof g_port, "%u", (unsigned)d.port);
    CTL(&r, "snapshot", "--wait");
    T_EQ_I64(r.rc, 1);
    T_CHECK(strstr(r.err, "failed_precondition") != NULL);
    memcpy(g_port, saved, sizeof saved);
    T_EQ_I64(td_stop(&d), 0);
    td_cleanup(&d);
    run_free(&r);
}

/* Clean stop; keep a copy of the newest segment for damage tests. */
static void test_stop_clean(void)
{
    char seg[PATH_BYTES];
    T_REQUIRE(g_d.pid > 0);
    T_EQ_I64(td_stop(&g_d), 0);
    T_REQUIRE(newest(g_data, "log-", ".qlog", seg) == 0);
    snprintf(g_seg_name, sizeof g_seg_name, "%s", strrchr(seg, '/') + 1);
    T_REQUIRE(path_in(g_seg_copy, g_d.dir, "seg-copy.qlog") == 0);
    T_CHECK(copy_file(seg, g_seg_copy) == 0);
}

/* A cleanly stopped data dir verifies (files and replay). */
static void test_verify_clean(void)
{
    run_res r = {0};
    DATA(&r, "verify", g_data);
    show_err(&r, "verify");
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(strstr(r.out, "result=\"clean\"") != NULL);
    T_CHECK(strstr(r.out, "replay=") != NULL);
    DATA(&r, "verify", "--json", g_data);
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(json_lines(r.out) >= 2);
    T_CHECK(strstr(r.out, "\"exit\":2") == NULL);
    run_free(&r);
}

/* Every record type shows up; no secret ever does. */
static void test_dump_no_secrets(void)
{
    run_res r = {0};
    DATA(&r, "dump", "--json", g_data);
    show_err(&r, "dump --json");
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(json_lines(r.out) > 10);
    static const char *const types[] = {
        "\"type\":\"ws_put\"", "\"type\":\"key_put\"", "\"type\":\"charge\"",
        "\"type\":\"settle\"", "\"type\":\"wallet\"", "\"type\":\"meta\"",
        "\"type\":\"key_rotate\"", "\"type\":\"key_delete\"",
        "\"type\":\"hold_put\"", "\"answer\":\"",
        "\"type\":\"set_alert\"", "\"alerts\":[{\"kind\":3", NULL};
    for (size_t i = 0; types[i]; i++)
        T_CHECK(strstr(r.out, types[i]) != NULL);
    T_CHECK(strstr(r.out, "ops \\\"admin\\\"\\u000a") != NULL);
    T_CHECK(!leaks_secret(r.out) && !leaks_secret(r.err));
    DATA(&r, "dump", g_data);
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(strstr(r.out, " wallet ") && strstr(r.out, "delta=2.000000"));
    T_CHECK(!leaks_secret(r.out) && !leaks_secret(r.err));
    run_free(&r);
}

/* Same dir, same bytes (human and JSON). */
static void test_state_deterministic(void)
{
    run_res a = {0}, b = {0};
    DATA(&a, "state", "--dir", g_data);
    DATA(&b, "state", "--dir", g_data);
    show_err(&a, "state");
    T_EQ_I64(a.rc, DX_OK);
    T_EQ_I64(b.rc, DX_OK);
    T_CHECK(strncmp(a.out, "store ", 6) == 0);
    T_EQ_STR(a.out, b.out);
    T_CHECK(strstr(a.out, "\nhold ") && strstr(a.out, "\nidem "));
    T_CHECK(strstr(a.out, "alerts=[{kind=3 threshold=50000000}") != NULL);
    T_CHECK(!leaks_secret(a.out));
    g_state = strdup(a.out);
    DATA(&a, "state", "--json", "--dir", g_data);
    DATA(&b, "state", "--dir", g_data, "--json");
    T_EQ_I64(a.rc, DX_OK);
    T_CHECK(json_lines(a.out) > 3);
    T_EQ_STR(a.out, b.out);
    run_free(&a);
    run_free(&b);
}

/* A flipped byte in a middle chunk is corruption (2); a cut tail or a
 * damaged last chunk is a torn tail (1); a torn snapshot is refused. */
static void test_corrupt_and_torn(void)
{
    run_res r = {0};
    size_t len = 0, offs[64];
    char flip[PATH_BYTES], torn[PATH_BYTES], tdir[PATH_BYTES];
    uint8_t *img = (uint8_t *)slurp(g_seg_copy, &len);
    T_REQUIRE(img != NULL);
    size_t n = chunk_offsets(img, len, offs, 64);
    T_REQUIRE(n >= MIN_CHUNKS_FOR_MIDDLE);
    T_REQUIRE(path_in(flip, g_d.dir, "flip.qlog") == 0 &&
              path_in(torn, g_d.dir, "torn.qlog") == 0 &&
              path_in(tdir, g_d.dir, "torndir") == 0);
    img[offs[1] + CHUNK_HEADER_BYTES + 1] ^= FLIP_MASK;
    T_REQUIRE(write_file(flip, img, len) == 0);
    DATA(&r, "verify", flip);
    T_EQ_I64(r.rc, DX_CORRUPT);
    T_CHECK(strstr(r.out, "corrupt") != NULL);
    img[offs[1] + CHUNK_HEADER_BYTES + 1] ^= FLIP_MASK;
    size_t cut = offs[n - 1] + (len - offs[n - 1]) / 2;
    T_REQUIRE(write_file(torn, img, cut) == 0);
    DATA(&r, "verify", torn);
    T_EQ_I64(r.rc, DX_TORN);
    T_CHECK(strstr(r.out, "torn") != NULL);
    /* The dir as a crash left it: the snapshot plus the torn segment. */
    char seg[PATH_BYTES], snap[PATH_BYTES], tsnap[PATH_BYTES];
    T_REQUIRE(newest(g_data, "snap-", ".qsnap", snap) == 0);
    T_REQUIRE(mkdir(tdir, 0700) == 0 && path_in(seg, tdir, g_seg_name) == 0 &&
              path_in(tsnap, tdir, strrchr(snap, '/') + 1) == 0);
    T_REQUIRE(write_file(seg, img, cut) == 0 && copy_file(snap, tsnap) == 0);
    DATA(&r, "state", "--dir", tdir);
    T_EQ_I64(r.rc, DX_TORN);
    T_CHECK(strncmp(r.out, "store ", 6) == 0);
    DATA(&r, "verify", tdir);
    T_EQ_I64(r.rc, DX_TORN);
    free(img);
    T_REQUIRE(path_in(tsnap, g_d.dir, "snap-00000000000000000001.qsnap") == 0);
    img = (uint8_t *)slurp(snap, &len);
    T_REQUIRE(img != NULL && len > SEGFILE_HEADER_BYTES + 1);
    T_CHECK(write_file(tsnap, img, len - 1) == 0);
    DATA(&r, "verify", tsnap);
    T_EQ_I64(r.rc, DX_CORRUPT);
    DATA(&r, "verify", "--key-file", "/nonexistent/key", g_data);
    T_EQ_I64(r.rc, DX_IO);
    free(img);
    run_free(&r);
}

/* Offline snapshot + compaction leaves the state unchanged. */
static void test_offline_snapshot(void)
{
    run_res r = {0};
    DATA(&r, "snapshot", "--dir", g_data);
    show_err(&r, "offline snapshot");
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(strstr(r.out, "snapshot=\"") != NULL);
    DATA(&r, "state", "--dir", g_data);
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(g_state != NULL && strcmp(r.out, g_state) == 0);
    DATA(&r, "verify", g_data);
    T_EQ_I64(r.rc, DX_OK);
    run_free(&r);
}

/* Restore into a new dir, start a daemon there, stop it, compare. */
static void test_restore(void)
{
    run_res r = {0};
    char snap[PATH_BYTES], nd[PATH_BYTES], other[PATH_BYTES], f[PATH_BYTES];
    T_REQUIRE(newest(g_data, "snap-", ".qsnap", snap) == 0);
    T_REQUIRE(path_in(nd, g_d.dir, "restored") == 0 &&
              path_in(other, g_d.dir, "other") == 0);
    DATA(&r, "restore", snap, "--dir", nd);
    show_err(&r, "restore");
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(strstr(r.err, "loaded") && strstr(r.out, "workspaces=2"));
    DATA(&r, "restore", snap, "--dir", nd, "--force");
    T_EQ_I64(r.rc, DX_USAGE);
    T_REQUIRE(mkdir(other, 0700) == 0 && path_in(f, other, "README") == 0 &&
              write_file(f, "x", 1) == 0);
    DATA(&r, "restore", snap, "--dir", other);
    T_EQ_I64(r.rc, DX_USAGE);
    DATA(&r, "restore", snap, "--dir", other, "--force");
    T_EQ_I64(r.rc, DX_OK);
    td_daemon d;
    T_REQUIRE(td_start(&d, (const char *const[]){"--data-dir", nd,
                                                 NULL}) == 0);
    qc_ctx *c = td_connect(&d);
    int64_t bal = 0;
    T_CHECK(c != NULL && fx_balance(c, g_ws1, &bal) == 0);
    T_EQ_I64(bal, g_ws1_balance);
    if (c)
        qc_free(c);
    T_EQ_I64(td_stop(&d), 0);
    td_cleanup(&d);
    DATA(&r, "state", "--dir", nd);
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(g_state != NULL && strcmp(r.out, g_state) == 0);
    run_free(&r);
}

/* Bad command lines exit 3 before touching any file. */
static void test_usage_errors(void)
{
    run_res r = {0};
    static const char *const bad[][4] = {
        {"bogus", NULL}, {"verify", NULL}, {"state", NULL},
        {"state", "--snapshot", NULL}, {"dump", "a", "b", NULL},
        {"verify", "--bogus", "x", NULL}, {"restore", "x", NULL},
        {"snapshot", NULL}, {"state", "--dir", NULL},
        {"verify", "--force", "x", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *a[6] = {bad[i][0], bad[i][1], bad[i][2], bad[i][3]};
        run(&r, "QUOTAD_DATA_BIN", DATA_DEFAULT_BIN, a);
        if (r.rc != DX_USAGE)
            fprintf(stderr, "  case %zu: rc %d\n", i, r.rc);
        T_EQ_I64(r.rc, DX_USAGE);
    }
    DATA(&r, "state", "--dir", "a", "--snapshot", "b");
    T_EQ_I64(r.rc, DX_USAGE);
    run(&r, "QUOTAD_DATA_BIN", DATA_DEFAULT_BIN, (const char *const[]){NULL});
    T_EQ_I64(r.rc, DX_USAGE);
    DATA(&r, "help");
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(strstr(r.out, "exit codes") != NULL);
    run_free(&r);
}

/* Encrypted at rest: the key is needed, a missing or wrong one is 4. */
static void test_encrypted(void)
{
    td_daemon d;
    run_res r = {0};
    char key[PATH_BYTES], wrong[PATH_BYTES], data[PATH_BYTES];
    T_REQUIRE(path_in(key, g_d.dir, "at-rest.key") == 0 &&
              path_in(wrong, g_d.dir, "wrong.key") == 0);
    T_REQUIRE(write_file(key, "000102030405060708090a0b0c0d0e0f"
                              "101112131415161718191a1b1c1d1e1f\n", 65) == 0);
    T_REQUIRE(write_file(wrong, "ff0102030405060708090a0b0c0d0e0f"
                                "101112131415161718191a1b1c1d1e1f\n",
                         65) == 0);
    T_REQUIRE(td_start(&d, (const char *const[]){"--encryption-key-file",
                                                 key, NULL}) == 0);
    T_REQUIRE(path_in(data, d.dir, "data") == 0);
    qc_ctx *c = td_connect(&d);
    uint32_t ws = 0;
    T_CHECK(c != NULL && fx_workspace(c, FX_UNIT, 0, 0, &ws) == 0);
    if (c)
        qc_free(c);
    T_EQ_I64(td_stop(&d), 0);
    DATA(&r, "verify", data);
    T_EQ_I64(r.rc, DX_IO);
    DATA(&r, "verify", "--key-file", wrong, data);
    T_EQ_I64(r.rc, DX_IO);
    DATA(&r, "verify", "--key-file", key, data);
    T_EQ_I64(r.rc, DX_OK);
    DATA(&r, "state", "--key-file", key, "--dir", data);
    T_EQ_I64(r.rc, DX_OK);
    T_CHECK(strstr(r.out, "workspaces=1") != NULL);
    DATA(&r, "verify", "--key-file", key, g_data);
    T_EQ_I64(r.rc, DX_IO);
    td_cleanup(&d);
    run_free(&r);
}

/* The tests share one daemon dir and run in this order. */
int main(void)
{
    T_RUN(test_workload);
    T_RUN(test_ctl_snapshot);
    T_RUN(test_ctl_snapshot_no_persist);
    T_RUN(test_stop_clean);
    T_RUN(test_verify_clean);
    T_RUN(test_dump_no_secrets);
    T_RUN(test_state_deterministic);
    T_RUN(test_corrupt_and_torn);
    T_RUN(test_offline_snapshot);
    T_RUN(test_restore);
    T_RUN(test_usage_errors);
    T_RUN(test_encrypted);
    free(g_state);
    td_cleanup(&g_d);
    return t_done();
}
