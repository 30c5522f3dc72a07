/* mkseeds -- writes the committed seed corpus of the fuzz targets.
 *
 *   build/fuzz/mkseeds tests/fuzz/corpus      (make fuzz-seeds)
 *
 * fuzz_request: ClientFrame bodies covering every operation, with the
 *               fixed secrets of fuzz_request's store (fz_secret) so checks
 *               reach limits, holds, settles and idempotency.
 * fuzz_frame:   a control byte, then framed streams: those bodies, the
 *               ServerFrames answering them, several frames back to back,
 *               torn, empty and oversized frames.
 * fuzz_chunk / fuzz_record: REAL log and snapshot files. A scenario runs
 *               through ops_handle_frame on a store with the real log
 *               writer (plog) in a temp dir; the files it leaves are cut
 *               into seeds: whole file bodies (chunk modes 0 and 1), raw
 *               record areas (chunk mode 2, record target).
 * Output names say what a seed is; the corpus is small on purpose.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "mkseeds_rq.h"
#include "plog.h"
#include "segfile.h"

#define MK_PATH_BYTES 1024
#define MK_FILE_BYTES_MAX (1024u * 1024u)
#define MK_FLUSH_WAIT_MS 250
#define MK_NFTW_FDS 16
#define MK_MAX_REQS 256u
#define MK_MS_PER_TICK 1000
#define MK_HOLD_SHORT_MS 1000u

/* ---- output ---------------------------------------------------------- */

static const char *g_out;
static int g_files;

static void mk_die(const char *what)
{
    fprintf(stderr, "mkseeds: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void mk_dir(const char *target)
{
    char p[MK_PATH_BYTES];
    if (mkdir(g_out, 0755) != 0 && errno != EEXIST)
        mk_die(g_out);
    snprintf(p, sizeof p, "%s/%s", g_out, target);
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        mk_die(p);
}

/* Write one seed: prefix bytes (may be 0) then data. */
static void mk_write(const char *target, const char *name, const uint8_t *pre,
                     size_t pre_len, const uint8_t *data, size_t len)
{
    char p[MK_PATH_BYTES];
    snprintf(p, sizeof p, "%s/%s/%s", g_out, target, name);
    FILE *f = fopen(p, "wb");
    if (f == NULL)
        mk_die(p);
    if ((pre_len && fwrite(pre, 1, pre_len, f) != pre_len) ||
        (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        mk_die(p);
    g_files++;
}

/* ---- fuzz_request and fuzz_frame seeds ------------------------------- */

/* Key ids of fuzz_request's store (see its header comment). */
#define K_PLAIN ((UINT64_C(1) << 32) | 1u)
#define K_LIMITED ((UINT64_C(1) << 32) | 2u)
#define K_ADMIN ((UINT64_C(2) << 32) | 1u)
#define K_DISABLED ((UINT64_C(2) << 32) | 2u)
#define K_EXPIRING ((UINT64_C(2) << 32) | 3u)
#define K_NEW ((UINT64_C(1) << 32) | 3u)     /* first key a seed creates */
#define H_FIRST ((UINT64_C(1) << 32) | 1u)   /* first hold of ws 1 */

typedef struct seed_set {
    const char *name;
    Quotad__Request *rq[MK_MAX_REQS];
    size_t n;
    uint32_t version;
} seed_set;

static char g_sec[FZ_SECRETS][FZ_SECRET_BUF];

/* Everything one request seed holds; ids count from 1. */
static void add(seed_set *s, Quotad__Request *r)
{
    if (s->n < MK_MAX_REQS)
        s->rq[s->n++] = r;
}

static void seeds_checks(seed_set *s)
{
    ck_args a = {.secret = g_sec[0], .amount = 1500, .tokens = 100,
                 .model = "gpt-4o", .ip = "203.0.113.7"};
    add(s, rq_check(1, &a));
    a = (ck_args){.secret = g_sec[1], .amount = 2500, .tokens = 850,
                  .model = "gpt-4o", .ip = "10.1.2.3"};
    add(s, rq_check(2, &a));
    a.model = "other-model";
    add(s, rq_check(3, &a));
    a.model = "gpt-4o";
    a.ip = "192.0.2.1";
    add(s, rq_check(4, &a));
    a.ip = "2001:db8::42";
    a.amount = 4000000;
    add(s, rq_check(5, &a));
    a = (ck_args){.secret = g_sec[2], .amount = 1};
    add(s, rq_check(6, &a));
    a.secret = g_sec[3];
    add(s, rq_check(7, &a));
    a.secret = g_sec[4];
    add(s, rq_check(8, &a));
}

static void seeds_holds(seed_set *s)
{
    ck_args a = {.secret = g_sec[1], .amount = 900000, .amount_min = 1000,
                 .tokens = 10, .hold = 1, .hold_timeout_ms = 5000,
                 .model = "gpt-4o-mini", .ip = "10.9.9.9"};
    add(s, rq_check(1, &a));
    a.secret = g_sec[0];
    a.idem = "hold-1";
    add(s, rq_check(2, &a));
    add(s, rq_check(3, &a));
    add(s, rq_settle(4, H_FIRST, 400000, 2000, "settle-1"));
    add(s, rq_settle(5, H_FIRST, 400000, 2000, "settle-1"));
    add(s, rq_void(6, H_FIRST + 1));
    add(s, rq_settle(7, H_FIRST + 2, 2000000, 0, NULL));
}

static void seeds_idem(seed_set *s)
{
    ck_args a = {.secret = g_sec[0], .amount = 777, .idem = "req-42"};
    add(s, rq_check(1, &a));
    add(s, rq_check(2, &a));
    a.amount = 778;
    add(s, rq_check(3, &a));
    add(s, rq_wallet(4, 1, 5000000, "top-1"));
    add(s, rq_wallet(5, 1, 5000000, "top-1"));
    add(s, rq_wallet(6, 2, -1000000, NULL));
}

static void seeds_admin(seed_set *s)
{
    add(s, rq_create_ws(1, "acme", 20, 100000, 25000000));
    add(s, rq_get_ws(2, 1));
    add(s, rq_update_ws(3, 2, "beta", 40, 2000));
    add(s, rq_create_key(4, 1, "new-key", 0, rq_limits_full(3000000, 60)));
    add(s, rq_create_key(5, 2, "new-admin", 1, NULL));
    add(s, rq_keyref(6, QUOTAD__REQUEST__OP_GET_KEY, K_LIMITED));
    add(s, rq_list(7, 1, "prod", "fuzz", 0, 2));
    add(s, rq_update_key(8, K_NEW, 0));
    add(s, rq_update_key(9, K_NEW, 1));
    add(s, rq_keyref(10, QUOTAD__REQUEST__OP_DISABLE_KEY, K_NEW));
    add(s, rq_keyref(11, QUOTAD__REQUEST__OP_ENABLE_KEY, K_NEW));
    add(s, rq_rotate(12, K_NEW, 60000));
    add(s, rq_keyref(13, QUOTAD__REQUEST__OP_REVOKE_KEY, K_NEW));
    add(s, rq_keyref(14, QUOTAD__REQUEST__OP_DELETE_KEY, K_NEW));
    add(s, rq_list(15, 2, NULL, NULL, K_ADMIN, 0));
}

/* Usage logs and alerts: rules, checks that cross them, queries. */
static void seeds_usage_alerts(seed_set *s)
{
    const int64_t today = FZ_T0_MS / 86400000;
    add(s, rq_alert(1, 1, 0, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY, 2000, 0));
    add(s, rq_alert(2, 1, K_LIMITED,
                    QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT, 99, 0));
    add(s, rq_alert(3, 2, 0, QUOTAD__ALERT_KIND__ALERT_WALLET_BELOW, 900,
                    0));
    add(s, rq_watch(4, 1));
    ck_args a = {.secret = g_sec[1], .amount = 60000, .model = "gpt-4o",
                 .ip = "10.0.0.1", .tokens = 5};
    add(s, rq_check(5, &a));
    a = (ck_args){.secret = g_sec[0], .amount = 2500};
    add(s, rq_check(6, &a));
    add(s, rq_usage(7, K_LIMITED, 0, today, 0));
    add(s, rq_usage(8, 0, 1, today - 7, today + 1));
    add(s, rq_usage(9, K_PLAIN, 0, 0, 0));
    add(s, rq_alert(10, 1, 0, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY, 0, 1));
    add(s, rq_alert(11, 1, K_PLAIN, QUOTAD__ALERT_KIND__ALERT_SPEND_WEEK,
                    -5, 0));
}

static void seeds_misc(seed_set *s)
{
    add(s, rq_hello(1, PROTO_VERSION));
    add(s, rq_ping(2, "payload"));
    add(s, rq_new(3)); /* no operation */
    add(s, rq_snapshot(4));
    add(s, rq_hello(5, PROTO_VERSION + 1));
    ck_args a = {.secret = "sk-0123", .amount = 5};
    add(s, rq_check(6, &a));
    a = (ck_args){.secret = g_sec[0], .amount = -5};
    add(s, rq_check(7, &a));
    a = (ck_args){.secret = g_sec[0], .amount = 10, .amount_min = 20,
                  .hold = 1};
    add(s, rq_check(8, &a));
    add(s, rq_keyref(9, QUOTAD__REQUEST__OP_GET_KEY, K_DISABLED));
    add(s, rq_keyref(10, QUOTAD__REQUEST__OP_ENABLE_KEY, K_DISABLED));
    add(s, rq_keyref(11, QUOTAD__REQUEST__OP_GET_KEY, K_EXPIRING));
    add(s, rq_keyref(12, QUOTAD__REQUEST__OP_GET_KEY, 99));
    add(s, rq_rotate(13, K_PLAIN, -1));
}

/* Writes each request seed; frames_out collects framed copies. */
static void write_request_seeds(uint8_t **frames, size_t *frames_len)
{
    static void (*const fill[])(seed_set *) = {
        seeds_checks, seeds_holds, seeds_idem, seeds_admin,
        seeds_usage_alerts, seeds_misc,
    };
    static const char *const names[] = {
        "checks-deny-order", "holds-settle-void", "idempotency-wallet",
        "admin-ops", "usage-alerts", "misc-errors",
    };
    size_t total = 0;
    uint8_t *all = NULL;
    for (size_t i = 0; i < sizeof fill / sizeof fill[0]; i++) {
        seed_set s = {.name = names[i], .version = PROTO_VERSION};
        fill[i](&s);
        size_t len = 0;
        uint8_t *b = rq_body(s.rq, s.n, s.version, &len);
        mk_write("fuzz_request", names[i], NULL, 0, b, len);
        /* each request alone too: short seeds mutate faster */
        for (size_t j = 0; j < s.n && i < 2; j++) {
            size_t l1 = 0;
            uint8_t *b1 = rq_body(&s.rq[j], 1, PROTO_VERSION, &l1);
            char nm[64];
            snprintf(nm, sizeof nm, "%s-%zu", names[i], j + 1);
            mk_write("fuzz_request", nm, NULL, 0, b1, l1);
            free(b1);
        }
        uint8_t *grown = realloc(all, total + FRAME_HEADER_BYTES + len);
        if (grown == NULL)
            fz_die("mkseeds: out of memory");
        all = grown;
        qd_frame_put_header(all + total, (uint32_t)len);
        memcpy(all + total + FRAME_HEADER_BYTES, b, len);
        total += FRAME_HEADER_BYTES + len;
        free(b);
        rq_pool_free();
    }
    /* 256 pings, 257 pings, a frame version 2 */
    seed_set big = {.version = PROTO_VERSION};
    for (uint64_t i = 0; i < BATCH_OPS_MAX; i++)
        add(&big, rq_ping(i + 1, NULL));
    size_t len = 0;
    uint8_t *b = rq_body(big.rq, big.n, PROTO_VERSION, &len);
    mk_write("fuzz_request", "batch-256-pings", NULL, 0, b, len);
    free(b);
    b = rq_body(big.rq, 2, PROTO_VERSION + 1, &len);
    mk_write("fuzz_request", "version-2", NULL, 0, b, len);
    free(b);
    rq_pool_free();
    *frames = all;
    *frames_len = total;
}

static void write_frame_seeds(const uint8_t *frames, size_t n)
{
    const uint8_t full = 0x01, full_small_cap = 0x41, small = 0x06;
    uint32_t first = (uint32_t)frames[0] << 24 | (uint32_t)frames[1] << 16 |
                     (uint32_t)frames[2] << 8 | frames[3];
    size_t one = FRAME_HEADER_BYTES + first;
    mk_write("fuzz_frame", "one-client-frame", &full, 1, frames, one);
    mk_write("fuzz_frame", "one-client-frame-small-cap", &full_small_cap, 1,
             frames, one);
    mk_write("fuzz_frame", "one-client-frame-small-max", &small, 1, frames,
             one);
    mk_write("fuzz_frame", "five-frames-pipelined", &full, 1, frames, n);
    mk_write("fuzz_frame", "torn-frame", &full, 1, frames, one + 7);
    static const uint8_t empty[] = {0, 0, 0, 0};
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    static const uint8_t over[] = {0x00, 0x10, 0x00, 0x01, 0x0a};
    static const uint8_t lie[] = {0, 0, 0, 6, 0x12, 0xe8, 0x07, 1, 2, 3};
    mk_write("fuzz_frame", "zero-length", &full, 1, empty, sizeof empty);
    mk_write("fuzz_frame", "length-ffffffff", &full, 1, huge, sizeof huge);
    mk_write("fuzz_frame", "length-1MiB-plus-1", &full, 1, over, sizeof over);
    mk_write("fuzz_frame", "submessage-lies", &full, 1, lie, sizeof lie);
}

/* ServerFrames: answer the request seeds on a scratch store. */
static void write_reply_seeds(const uint8_t *frames, size_t n)
{
    store *st = fz_scratch_open(2);
    uint8_t *all = NULL;
    size_t total = 0;
    for (size_t off = 0; off + FRAME_HEADER_BYTES <= n;) {
        uint32_t len = 0;
        if (qd_frame_peek(frames + off, n - off, FRAME_BYTES_MAX, &len) !=
            QD_FRAME_READY)
            break;
        ops_reply r;
        if (ops_handle_frame(st, frames + off + FRAME_HEADER_BYTES, len,
                             &r) != 0)
            fz_die("mkseeds: ops_handle_frame failed");
        uint8_t *grown = realloc(all, total + r.len);
        if (grown == NULL)
            fz_die("mkseeds: out of memory");
        all = grown;
        memcpy(all + total, r.frame, r.len);
        total += r.len;
        ops_reply_free(&r);
        off += FRAME_HEADER_BYTES + len;
    }
    const uint8_t full = 0x01;
    mk_write("fuzz_frame", "server-frames", &full, 1, all, total);
    free(all);
    store_close(st);
}

/* ---- real log and snapshot files ------------------------------------- */

static int64_t g_clock_ms;

static int64_t mk_clock(void)
{
    return g_clock_ms;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Run requests through ops; returns the decoded replies. */
static Quotad__ServerFrame *run(store *st, Quotad__Request **rq, size_t n)
{
    size_t len = 0;
    uint8_t *b = rq_body(rq, n, PROTO_VERSION, &len);
    ops_reply r;
    if (ops_handle_frame(st, b, len, &r) != 0)
        fz_die("mkseeds: ops_handle_frame failed");
    free(b);
    Quotad__ServerFrame *sf = quotad__server_frame__unpack(
        NULL, r.len - FRAME_HEADER_BYTES, r.frame + FRAME_HEADER_BYTES);
    ops_reply_free(&r);
    if (sf == NULL || sf->n_replies != n)
        fz_die("mkseeds: bad reply");
    g_clock_ms += MK_MS_PER_TICK;
    return sf;
}

/* Run one request that must succeed; copy out a secret if it made one. */
static uint64_t run1(store *st, Quotad__Request *rq, char *secret)
{
    Quotad__ServerFrame *sf = run(st, &rq, 1);
    Quotad__Reply *r = sf->replies[0];
    if (r->code != QUOTAD__CODE__OK)
        fz_die("mkseeds: scenario step %d failed: %s", (int)rq->op_case,
               r->error ? r->error : "?");
    uint64_t id = 0;
    if (r->result_case == QUOTAD__REPLY__RESULT_KEY_SECRET) {
        id = r->key_secret->key->key_id;
        if (secret != NULL)
            snprintf(secret, FZ_SECRET_BUF, "%s", r->key_secret->secret);
    } else if (r->result_case == QUOTAD__REPLY__RESULT_WORKSPACE) {
        id = r->workspace->workspace_id;
    } else if (r->result_case == QUOTAD__REPLY__RESULT_CHECK) {
        id = r->check->hold_id;
    }
    quotad__server_frame__free_unpacked(sf, NULL);
    rq_pool_free();
    return id;
}

/* Let the log writer take what is buffered: the next changes land in a
 * new chunk. */
static void flush_chunk(plog *pl)
{
    plog_kick(pl);
    sleep_ms(MK_FLUSH_WAIT_MS);
}

/* Every kind of change the log records, in a few chunks (alert rules
 * too: they are part of key and workspace state). */
static void scenario(store *st, plog *pl)
{
    char s1[FZ_SECRET_BUF], s2[FZ_SECRET_BUF], s3[FZ_SECRET_BUF];
    uint32_t a = (uint32_t)run1(st, rq_create_ws(1, "alpha", 20, 5000000,
                                                 100000000), NULL);
    uint32_t b = (uint32_t)run1(st, rq_create_ws(1, "beta", 5, 0, 1000000),
                                NULL);
    uint64_t k1 = run1(st, rq_create_key(1, a, "k1", 0, NULL), s1);
    uint64_t k2 = run1(st, rq_create_key(1, a, "k2", 0,
                                         rq_limits_full(50000000, 100)), s2);
    uint64_t k3 = run1(st, rq_create_key(1, b, "k3", 0, NULL), s3);
    (void)run1(st, rq_create_key(1, b, "adm", 1, NULL), NULL);
    flush_chunk(pl);
    ck_args c = {.secret = s1, .amount = 1500, .tokens = 10};
    (void)run1(st, rq_check(1, &c), NULL);
    c.idem = "req-1";
    (void)run1(st, rq_check(1, &c), NULL);
    (void)run1(st, rq_check(1, &c), NULL);
    c = (ck_args){.secret = s2, .amount = 2500, .tokens = 850,
                  .model = "gpt-4o", .ip = "10.1.2.3"};
    (void)run1(st, rq_check(1, &c), NULL);
    c = (ck_args){.secret = s3, .amount = 5000000};   /* denied: credits */
    (void)run1(st, rq_check(1, &c), NULL);
    c = (ck_args){.secret = s2, .amount = 100000, .amount_min = 1000,
                  .hold = 1, .model = "gpt-4o", .ip = "10.1.2.3"};
    uint64_t h1 = run1(st, rq_check(1, &c), NULL);
    c = (ck_args){.secret = s1, .amount = 30000, .hold = 1};
    uint64_t h2 = run1(st, rq_check(1, &c), NULL);
    c.hold_timeout_ms = MK_HOLD_SHORT_MS;
    (void)run1(st, rq_check(1, &c), NULL);
    c.hold_timeout_ms = 0;
    (void)run1(st, rq_check(1, &c), NULL);              /* left open */
    flush_chunk(pl);
    (void)run1(st, rq_settle(1, h1, 40000, 900, "settle-1"), NULL);
    (void)run1(st, rq_void(1, h2), NULL);
    (void)store_sweep(st, 0, st->opt.shards, g_clock_ms);  /* expiry */
    (void)run1(st, rq_wallet(1, a, 5000000, "top-1"), NULL);
    (void)run1(st, rq_wallet(1, b, -1000, NULL), NULL);
    flush_chunk(pl);
    (void)run1(st, rq_alert(1, a, 0, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                            1000, 0), NULL);
    (void)run1(st, rq_alert(1, a, k2, QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT,
                            50, 0), NULL);
    (void)run1(st, rq_update_ws(1, a, "alpha-2", 30, 6000000), NULL);
    (void)run1(st, rq_update_key(1, k2, 0), NULL);
    (void)run1(st, rq_keyref(1, QUOTAD__REQUEST__OP_DISABLE_KEY, k1), NULL);
    (void)run1(st, rq_keyref(1, QUOTAD__REQUEST__OP_ENABLE_KEY, k1), NULL);
    (void)run1(st, rq_rotate(1, k2, 60000), NULL);
    (void)run1(st, rq_keyref(1, QUOTAD__REQUEST__OP_REVOKE_KEY, k3), NULL);
    uint64_t k4 = run1(st, rq_create_key(1, a, "k4", 0, NULL), NULL);
    (void)run1(st, rq_keyref(1, QUOTAD__REQUEST__OP_DELETE_KEY, k4), NULL);
    flush_chunk(pl);
}

/* Collect the concatenated records areas of a file's chunks. */
typedef struct area {
    uint8_t *raw;
    size_t len;
    uint8_t *first_chunk;     /* raw area of the first chunk alone */
    size_t first_len;
} area;

static int collect(void *ctx, const chunk_header *hdr, const uint8_t *raw,
                   size_t raw_len, uint64_t off)
{
    (void)hdr;
    (void)off;
    area *a = ctx;
    uint8_t *g = realloc(a->raw, a->len + raw_len + 1);
    if (g == NULL)
        return -1;
    a->raw = g;
    memcpy(a->raw + a->len, raw, raw_len);
    if (a->first_chunk == NULL) {
        a->first_chunk = malloc(raw_len + 1);
        if (a->first_chunk == NULL)
            return -1;
        memcpy(a->first_chunk, raw, raw_len);
        a->first_len = raw_len;
    }
    a->len += raw_len;
    return 0;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        mk_die(path);
    uint8_t *b = malloc(MK_FILE_BYTES_MAX);
    if (b == NULL)
        fz_die("mkseeds: out of memory");
    *len = fread(b, 1, MK_FILE_BYTES_MAX, f);
    fclose(f);
    return b;
}

/* Seeds from one segment file (log or snapshot) called tag. */
static void seeds_from_file(const char *path, const char *tag)
{
    size_t n = 0;
    uint8_t *f = read_file(path, &n);
    if (n <= SEGFILE_HEADER_BYTES)
        fz_die("mkseeds: %s is empty", path);
    const uint8_t *chunks = f + SEGFILE_HEADER_BYTES;
    size_t clen = n - SEGFILE_HEADER_BYTES;
    char nm[128];
    const uint8_t m0 = 0x00, m1 = 0x01, m1chain = 0x11;
    snprintf(nm, sizeof nm, "%s-file-raw", tag);
    mk_write("fuzz_chunk", nm, &m0, 1, chunks, clen);
    snprintf(nm, sizeof nm, "%s-file-fixup", tag);
    mk_write("fuzz_chunk", nm, &m1chain, 1, chunks, clen);
    /* mode 3 (segfile_scan): floors clamped, the second chunk damaged */
    const uint8_t m3[2] = {0x03, 0x11};
    snprintf(nm, sizeof nm, "%s-file-scan", tag);
    mk_write("fuzz_chunk", nm, m3, sizeof m3, chunks, clen);
    chunk_header h;
    size_t first = 0;
    if (chunk_probe(chunks, clen, &h, &first) != CHUNK_OK)
        fz_die("mkseeds: %s: first chunk does not verify", path);
    if (first < clen) {
        snprintf(nm, sizeof nm, "%s-first-chunk-fixup", tag);
        mk_write("fuzz_chunk", nm, &m1, 1, chunks, first);
    }
    area a = {0};
    segfile_report rep;
    if (segfile_scan(path, NULL, collect, &a, &rep) != SEGFILE_SCAN_CLEAN)
        fz_die("mkseeds: %s does not scan clean", path);
    const uint8_t rec_ctl = 0x01;              /* 2 shards */
    const uint8_t wrap[2] = {0x02, 0x01};      /* mode 2, exact count */
    const uint8_t wrap_enc[2] = {0x02, 0x31};  /* encrypted + restart */
    snprintf(nm, sizeof nm, "%s-records", tag);
    mk_write("fuzz_record", nm, &rec_ctl, 1, a.raw, a.len);
    if (a.first_len < a.len) {
        snprintf(nm, sizeof nm, "%s-first-chunk-records", tag);
        mk_write("fuzz_record", nm, &rec_ctl, 1, a.first_chunk, a.first_len);
    }
    snprintf(nm, sizeof nm, "%s-records-wrapped", tag);
    mk_write("fuzz_chunk", nm, wrap, sizeof wrap, a.raw, a.len);
    snprintf(nm, sizeof nm, "%s-records-wrapped-sealed", tag);
    mk_write("fuzz_chunk", nm, wrap_enc, sizeof wrap_enc, a.first_chunk,
             a.first_len);
    free(a.raw);
    free(a.first_chunk);
    free(f);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Run the scenario with the real log writer; snapshot or not. */
static void persist_run(int snapshot)
{
    char dir[] = "/tmp/quotad-mkseeds-XXXXXX";
    if (mkdtemp(dir) == NULL)
        mk_die("mkdtemp");
    store *st = fz_scratch_open(2);
    g_clock_ms = FZ_T0_MS;
    st->now_ms = mk_clock;
    plog_opts po = {.dir = dir, .fsync = PLOG_FSYNC_NO,
                    .segment_bytes_max = PLOG_SEGMENT_BYTES_DEFAULT,
                    .first_segno = 1};
    plog *pl = NULL;
    if (plog_open(st, &po, &pl) != 0)
        fz_die("mkseeds: plog_open failed");
    scenario(st, pl);
    char err[256];
    if (snapshot && plog_snapshot(pl, err, sizeof err) != 0)
        fz_die("mkseeds: snapshot: %s", err);
    if (plog_close(pl) != 0)
        fz_die("mkseeds: plog_close failed");
    store_close(st);
    DIR *d = opendir(dir);
    if (d == NULL)
        mk_die(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[MK_PATH_BYTES];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t l = strlen(e->d_name);
        if (snapshot && l > 6 && strcmp(e->d_name + l - 6, ".qsnap") == 0)
            seeds_from_file(path, "snapshot");
        else if (!snapshot && l > 5 && strcmp(e->d_name + l - 5, ".qlog") == 0)
            seeds_from_file(path, "log");
    }
    closedir(d);
    if (nftw(dir, rm_entry, MK_NFTW_FDS, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "mkseeds: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    static const char *const targets[] = {"fuzz_frame", "fuzz_request",
                                          "fuzz_chunk", "fuzz_record"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        mk_dir(targets[i]);
    for (unsigned i = 0; i < FZ_SECRETS; i++)
        fz_secret(fz_secret_ws(i), i, g_sec[i]);
    uint8_t *frames = NULL;
    size_t frames_len = 0;
    write_request_seeds(&frames, &frames_len);
    write_frame_seeds(frames, frames_len);
    write_reply_seeds(frames, frames_len);
    free(frames);
    persist_run(0);
    persist_run(1);
    printf("mkseeds: %d seeds written under %s\n", g_files, g_out);
    return 0;
}
