/* load_redis.c -- the same population as Redis hashes, and the scripts.
 *
 *   w:<ws id>   bal od ureq utok usp               (the wallet)
 *   k:<sha256 hex of the secret>                   (one key)
 *     id ws name cat st kind exp qt qr cd rpm tpm mdl ips
 *     rmin rreq rtok dday dsp ureq utok usp
 * Allowlists are stored as ",a,b," strings and matched exactly (no CIDR):
 * the population uses exact addresses on both sides. Field names and
 * meaning are those bench/check.lua reads.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resp.h"

#define LOAD_REDIS_WINDOW 1000u           /* HSETs in flight */
#define LUA_FILE_BYTES_MAX (64u * 1024u)
#define REDIS_NAME_BYTES 96u
#define MS_PER_S INT64_C(1000)
#define NS_PER_MS INT64_C(1000000)

static const char allow_models[] = "," POP_MODEL_A "," POP_MODEL_B ",";
static const char allow_ips[] = "," POP_IP_A "," POP_IP_B ",";

static int64_t wall_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

/* name/value pairs of one HSET; values are strings or int64. */
static int cmd_pair_i(resp_conn *c, const char *f, int64_t v)
{
    return resp_cmd_str(c, f) != 0 || resp_cmd_i64(c, v) != 0 ? -1 : 0;
}

static int cmd_pair_s(resp_conn *c, const char *f, const char *v)
{
    return resp_cmd_str(c, f) != 0 || resp_cmd_str(c, v) != 0 ? -1 : 0;
}

static int queue_wallet(resp_conn *c, uint32_t ws)
{
    char name[REDIS_NAME_BYTES];
    snprintf(name, sizeof name, "w:%" PRIu32, ws);
    const unsigned pairs = 5;
    int rc = resp_cmd_begin(c, 2 + 2 * pairs);
    rc |= resp_cmd_str(c, "HSET") | resp_cmd_str(c, name);
    rc |= cmd_pair_i(c, "bal", POP_BALANCE_MICRO) | cmd_pair_i(c, "od", 0);
    rc |= cmd_pair_i(c, "ureq", 0) | cmd_pair_i(c, "utok", 0);
    rc |= cmd_pair_i(c, "usp", 0);
    return rc;
}

static int queue_key(resp_conn *c, const pop_key *k, size_t i, int64_t now)
{
    char name[REDIS_NAME_BYTES], kname[REDIS_NAME_BYTES];
    snprintf(name, sizeof name, "k:%s", k->id);
    snprintf(kname, sizeof kname, "k%zu", i);
    const unsigned pairs = 22;
    int rc = resp_cmd_begin(c, 2 + 2 * pairs);
    rc |= resp_cmd_str(c, "HSET") | resp_cmd_str(c, name);
    rc |= cmd_pair_i(c, "id", (int64_t)k->key_id);
    rc |= cmd_pair_i(c, "ws", k->ws_id) | cmd_pair_s(c, "name", kname);
    rc |= cmd_pair_i(c, "cat", now) | cmd_pair_i(c, "st", 1);
    rc |= cmd_pair_i(c, "kind", 0) | cmd_pair_i(c, "exp", 0);
    rc |= cmd_pair_i(c, "qt", POP_QUOTA_MICRO);
    rc |= cmd_pair_i(c, "qr", POP_QUOTA_MICRO);
    rc |= cmd_pair_i(c, "cd", POP_CAP_DAY_MICRO);
    rc |= cmd_pair_i(c, "rpm", POP_RPM) | cmd_pair_i(c, "tpm", POP_TPM);
    rc |= cmd_pair_s(c, "mdl", allow_models) | cmd_pair_s(c, "ips", allow_ips);
    rc |= cmd_pair_i(c, "rmin", 0) | cmd_pair_i(c, "rreq", 0);
    rc |= cmd_pair_i(c, "rtok", 0) | cmd_pair_i(c, "dday", 0);
    rc |= cmd_pair_i(c, "dsp", 0) | cmd_pair_i(c, "ureq", 0);
    rc |= cmd_pair_i(c, "utok", 0) | cmd_pair_i(c, "usp", 0);
    return rc;
}

/* Read n replies; any error reply fails the load. */
static int read_n(resp_conn *c, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        resp_reply r;
        if (resp_read(c, &r) != 0)
            return -1;
        if (r.type == '-') {
            snprintf(c->err, sizeof c->err, "HSET: %s", r.str);
            return -1;
        }
    }
    return 0;
}

/* Every distinct workspace of the population gets a wallet. */
static int load_wallets(resp_conn *c, const bench_pop *p)
{
    uint32_t max_ws = 0;
    for (size_t i = 0; i < p->n; i++)
        max_ws = p->keys[i].ws_id > max_ws ? p->keys[i].ws_id : max_ws;
    uint8_t *seen = calloc((size_t)max_ws + 1, 1);
    if (seen == NULL)
        return -1;
    int rc = 0;
    uint32_t queued = 0;
    for (size_t i = 0; i < p->n && rc == 0; i++) {
        uint32_t ws = p->keys[i].ws_id;
        if (seen[ws])
            continue;
        seen[ws] = 1;
        rc = queue_wallet(c, ws);
        if (rc == 0 && ++queued == LOAD_REDIS_WINDOW) {
            rc = resp_flush(c) != 0 || read_n(c, queued) != 0 ? -1 : 0;
            queued = 0;
        }
    }
    if (rc == 0 && queued > 0)
        rc = resp_flush(c) != 0 || read_n(c, queued) != 0 ? -1 : 0;
    free(seen);
    return rc;
}

static int load_keys(resp_conn *c, const bench_pop *p)
{
    int64_t now = wall_ms();
    for (size_t at = 0; at < p->n; at += LOAD_REDIS_WINDOW) {
        size_t n = p->n - at;
        n = n < LOAD_REDIS_WINDOW ? n : LOAD_REDIS_WINDOW;
        for (size_t i = 0; i < n; i++)
            if (queue_key(c, &p->keys[at + i], at + i, now) != 0)
                return -1;
        if (resp_flush(c) != 0 || read_n(c, (uint32_t)n) != 0)
            return -1;
    }
    return 0;
}

int load_redis(const bench_cfg *cfg, const bench_pop *p)
{
    resp_conn c;
    int rc = resp_connect(&c, cfg->host, cfg->port, BENCH_TIMEOUT_MS * 3);
    if (rc == 0)
        rc = load_wallets(&c, p);
    if (rc == 0)
        rc = load_keys(&c, p);
    if (rc != 0)
        fprintf(stderr, "quotad-bench: redis load: %s\n", c.err);
    resp_close(&c);
    return rc;
}

/* Whole file into a NUL-terminated buffer (bounded). */
static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[BENCH_PATH_BYTES + 32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        fprintf(stderr, "quotad-bench: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(LUA_FILE_BYTES_MAX + 1);
    size_t n = buf ? fread(buf, 1, LUA_FILE_BYTES_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n == 0 || n > LUA_FILE_BYTES_MAX) {
        fprintf(stderr, "quotad-bench: %s: empty or above %u bytes\n", path,
                LUA_FILE_BYTES_MAX);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int script_load(resp_conn *c, const char *dir, const char *name,
                       char sha[41])
{
    size_t len = 0;
    char *src = read_file(dir, name, &len);
    if (src == NULL)
        return -1;
    resp_reply r;
    int rc = resp_cmd_begin(c, 3) | resp_cmd_str(c, "SCRIPT") |
             resp_cmd_str(c, "LOAD") | resp_cmd_arg(c, src, len);
    free(src);
    if (rc == 0)
        rc = resp_flush(c) != 0 || resp_read(c, &r) != 0 ? -1 : 0;
    if (rc == 0 && (r.type != '$' || strlen(r.str) != 40)) {
        snprintf(c->err, sizeof c->err, "SCRIPT LOAD %s: %s", name, r.str);
        rc = -1;
    }
    if (rc == 0)
        memcpy(sha, r.str, 41);
    return rc;
}

int redis_load_scripts(const bench_cfg *cfg, char sha_check[41],
                       char sha_settle[41])
{
    resp_conn c;
    int rc = resp_connect(&c, cfg->host, cfg->port, BENCH_TIMEOUT_MS);
    if (rc == 0)
        rc = script_load(&c, cfg->lua_dir, "check.lua", sha_check);
    if (rc == 0)
        rc = script_load(&c, cfg->lua_dir, "settle.lua", sha_settle);
    if (rc != 0)
        fprintf(stderr, "quotad-bench: redis scripts: %s\n", c.err);
    resp_close(&c);
    return rc;
}
