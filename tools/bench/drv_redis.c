/* drv_redis.c -- the Redis peer backend: the same windows as drv_qd.c,
 * as pipelined EVALSHA of bench/check.lua (and settle.lua for holds) over
 * one RESP connection. The key's hash is precomputed by the client (see
 * pop_hash_all), so Redis does no hashing or key parsing: a favour to
 * Redis that results must mention.
 *
 * check.lua replies {decision, charged, quota_remaining, wallet_balance,
 * rpm_remaining, tpm_remaining, reset_ms, hold_id}, or {decision} on a
 * deny; settle.lua replies {charged, refunded, quota_remaining, balance}
 * or an error.
 */
#include "bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

enum { SLOT_CHECK, SLOT_OTHER };

#define REPLY_HOLD_ID_AT 7u            /* index of hold_id in check.lua's */
#define NAME_BYTES 96u                 /* "k:" + 64 hex, "h:<id>", "w:<id>" */
#define PERMILLE 1000u
#define WALLET_DELTA_MICRO INT64_C(1)
#define HOLD_TIMEOUT_DEFAULT_MS 0      /* 0 = the script's default */

typedef struct redis_conn {
    resp_conn rc;
    uint32_t slots;
    uint8_t *kind;
    size_t *key;
    int64_t *hold_id;
    uint32_t head, count;        /* paced mode: ring of in-flight slots */
} redis_conn;

static void rd_close(bench_worker *w)
{
    redis_conn *r = w->conn;
    if (r == NULL)
        return;
    resp_close(&r->rc);
    free(r->kind);
    free(r->key);
    free(r->hold_id);
    free(r);
    w->conn = NULL;
}

static int rd_open(bench_worker *w)
{
    redis_conn *r = calloc(1, sizeof *r);
    if (r == NULL)
        return bench_fail(w, "out of memory");
    r->rc.fd = -1;
    w->conn = r;
    r->slots = w->cfg->batch > 0 ? w->cfg->batch : w->cfg->pipeline;
    r->kind = calloc(r->slots, sizeof *r->kind);
    r->key = calloc(r->slots, sizeof *r->key);
    r->hold_id = calloc(r->slots, sizeof *r->hold_id);
    if (r->kind == NULL || r->key == NULL || r->hold_id == NULL)
        return bench_fail(w, "out of memory");
    if (resp_connect(&r->rc, w->cfg->host, w->cfg->port, BENCH_TIMEOUT_MS))
        return bench_fail(w, "connect %s:%u: %s", w->cfg->host,
                          (unsigned)w->cfg->port, r->rc.err);
    return 0;
}

static int arg_name(resp_conn *c, const char *fmt_prefix, const char *s)
{
    char name[NAME_BYTES];
    int n = snprintf(name, sizeof name, "%s%s", fmt_prefix, s);
    return resp_cmd_arg(c, name, (size_t)n);
}

static int arg_ws(resp_conn *c, uint32_t ws)
{
    char name[NAME_BYTES];
    int n = snprintf(name, sizeof name, "w:%" PRIu32, ws);
    return resp_cmd_arg(c, name, (size_t)n);
}

/* EVALSHA check 2 k:<hash> w:<ws> model ip amount amount_min tokens hold
 * hold_timeout_ms */
static int queue_check(bench_worker *w, resp_conn *c, const pop_key *k)
{
    bool hold = w->cfg->mix == MIX_HOLD;
    int rc = resp_cmd_begin(c, 12) | resp_cmd_str(c, "EVALSHA") |
             resp_cmd_arg(c, w->sha_check, 40) | resp_cmd_str(c, "2");
    rc |= arg_name(c, "k:", k->id) | arg_ws(c, k->ws_id);
    rc |= resp_cmd_str(c, REQ_MODEL) | resp_cmd_str(c, REQ_IP);
    rc |= resp_cmd_i64(c, hold ? REQ_HOLD_MICRO : REQ_AMOUNT_MICRO);
    rc |= resp_cmd_i64(c, hold ? REQ_HOLD_MIN_MICRO : 0);
    rc |= resp_cmd_i64(c, REQ_TOKENS) | resp_cmd_str(c, hold ? "1" : "0");
    rc |= resp_cmd_i64(c, HOLD_TIMEOUT_DEFAULT_MS);
    return rc;
}

/* The same two admin writes as quotad's: a limit update, a top-up. */
static int queue_admin(bench_worker *w, resp_conn *c, const pop_key *k)
{
    int rc;
    if (w->admin_turn++ % 2 == 0) {
        rc = resp_cmd_begin(c, 4) | resp_cmd_str(c, "HSET");
        rc |= arg_name(c, "k:", k->id) | resp_cmd_str(c, "rpm");
        rc |= resp_cmd_i64(c, POP_RPM);
    } else {
        rc = resp_cmd_begin(c, 4) | resp_cmd_str(c, "HINCRBY");
        rc |= arg_ws(c, k->ws_id) | resp_cmd_str(c, "bal");
        rc |= resp_cmd_i64(c, WALLET_DELTA_MICRO);
    }
    return rc;
}

static int queue_slot(bench_worker *w, redis_conn *r, uint32_t s)
{
    r->key[s] = dist_pick(w->dist, &w->rng);
    const pop_key *k = &w->pop->keys[r->key[s]];
    r->kind[s] = SLOT_OTHER;
    if (w->cfg->mix == MIX_PING)
        return resp_cmd_begin(&r->rc, 1) | resp_cmd_str(&r->rc, "PING");
    if (w->cfg->mix == MIX_ADMIN &&
        dist_rand(&w->rng) % PERMILLE < BENCH_ADMIN_PERMILLE)
        return queue_admin(w, &r->rc, k);
    r->kind[s] = SLOT_CHECK;
    return queue_check(w, &r->rc, k);
}

/* Classify one reply: a check's decision, OK, or an error reply. */
static int reply_class(const resp_reply *rp, uint8_t kind)
{
    if (rp->type == '-')
        return CLS_ERR;
    if (kind != SLOT_CHECK)
        return CLS_OK;
    if (rp->n_ints == 0 || rp->ints[0] < 0 || rp->ints[0] >= CLS_DECISIONS)
        return CLS_ERR;
    return (int)rp->ints[0];
}

/* Read slot s's reply into *cls (remembering a placed hold). */
static int read_reply(bench_worker *w, redis_conn *r, uint32_t s, int *cls)
{
    resp_reply rp;
    if (resp_read(&r->rc, &rp) != 0)
        return bench_fail(w, "read: %s", r->rc.err);
    *cls = reply_class(&rp, r->kind[s]);
    r->hold_id[s] = 0;
    if (*cls == 0 && r->kind[s] == SLOT_CHECK &&
        rp.n_ints > REPLY_HOLD_ID_AT)
        r->hold_id[s] = rp.ints[REPLY_HOLD_ID_AT];
    return 0;
}

static int read_slot(bench_worker *w, redis_conn *r, uint32_t s, int64_t t0)
{
    int cls = CLS_ERR;
    if (read_reply(w, r, s, &cls) != 0)
        return -1;
    bench_record(w, bench_now_ns() - t0, cls);
    return 0;
}

static int rd_flush(bench_worker *w, redis_conn *r)
{
    return resp_flush(&r->rc) != 0 ? bench_fail(w, "send: %s", r->rc.err)
                                   : 0;
}

/* EVALSHA settle 3 h:<id> k:<hash> w:<ws> amount tokens, pipelined. */
static int settle_holds(bench_worker *w, redis_conn *r)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < r->slots; s++) {
        if (r->hold_id[s] <= 0)
            continue;
        const pop_key *k = &w->pop->keys[r->key[s]];
        char hid[NAME_BYTES];
        snprintf(hid, sizeof hid, "%" PRId64, r->hold_id[s]);
        int rc = resp_cmd_begin(&r->rc, 8) | resp_cmd_str(&r->rc, "EVALSHA");
        rc |= resp_cmd_arg(&r->rc, w->sha_settle, 40);
        rc |= resp_cmd_str(&r->rc, "3") | arg_name(&r->rc, "h:", hid);
        rc |= arg_name(&r->rc, "k:", k->id) | arg_ws(&r->rc, k->ws_id);
        rc |= resp_cmd_i64(&r->rc, REQ_SETTLE_MICRO);
        rc |= resp_cmd_i64(&r->rc, REQ_SETTLE_TOKENS);
        if (rc != 0)
            return bench_fail(w, "queue settle: %s", r->rc.err);
        r->kind[n++] = SLOT_OTHER;
    }
    if (n == 0)
        return 0;
    int64_t t0 = bench_now_ns();
    if (rd_flush(w, r) != 0)
        return -1;
    for (uint32_t s = 0; s < n; s++)
        if (read_slot(w, r, s, t0) != 0)
            return -1;
    return 0;
}

static int rd_window(bench_worker *w, int64_t sched_ns)
{
    redis_conn *r = w->conn;
    for (uint32_t s = 0; s < r->slots; s++)
        if (queue_slot(w, r, s) != 0)
            return bench_fail(w, "queue: %s", r->rc.err);
    int64_t t0 = sched_ns > 0 ? sched_ns : bench_now_ns();
    if (rd_flush(w, r) != 0)
        return -1;
    for (uint32_t s = 0; s < r->slots; s++)
        if (read_slot(w, r, s, t0) != 0)
            return -1;
    return w->cfg->mix == MIX_HOLD ? settle_holds(w, r) : 0;
}

static int rd_queue_one(bench_worker *w)
{
    redis_conn *r = w->conn;
    if (r->count == r->slots)
        return bench_fail(w, "paced: more than %u in flight", r->slots);
    uint32_t s = (r->head + r->count) % r->slots;
    if (queue_slot(w, r, s) != 0)
        return bench_fail(w, "queue: %s", r->rc.err);
    r->count++;
    return 0;
}

static int rd_flush_out(bench_worker *w)
{
    return rd_flush(w, w->conn);
}

static int rd_read_one(bench_worker *w, int64_t wait_ns, int *cls)
{
    redis_conn *r = w->conn;
    if (r->count == 0)
        return 0;
    if (!resp_reply_ready(&r->rc)) {
        int ok = bench_wait_readable(r->rc.fd, wait_ns);
        if (ok < 0)
            return bench_fail(w, "poll failed");
        if (ok == 0)
            return 0;
    }
    if (read_reply(w, r, r->head, cls) != 0)
        return -1;
    r->head = (r->head + 1) % r->slots;
    r->count--;
    return 1;
}

static int rd_fd(const bench_worker *w)
{
    const redis_conn *r = w->conn;
    return r->rc.fd;
}

const bench_backend bench_backend_redis = {
    .open = rd_open,
    .window = rd_window,
    .queue_one = rd_queue_one,
    .flush = rd_flush_out,
    .read_one = rd_read_one,
    .fd = rd_fd,
    .close = rd_close,
};
