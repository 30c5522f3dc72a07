/* bench.h -- quotad-bench: a load generator for quotad and its Redis + Lua
 * peer. Shared types of the tool's modules:
 *
 *   opts.c       command line -> bench_cfg
 *   pop.c        the key population: secrets file, hashing for Redis
 *   dist.c       PRNG, uniform and zipfian key choice
 *   load_qd.c    create workspaces and keys in quotad (--load)
 *   load_redis.c write the same population as Redis hashes, SCRIPT LOAD
 *   drv_qd.c     one window of requests on a libquotad connection
 *   drv_redis.c  one window of EVALSHA / commands on a RESP connection
 *   run.c        threads (one per connection), phases, pacing, progress
 *   srvlat.c     quotad's own latency histogram around the measured phase
 *   report.c     percentiles, text and JSON output
 *   diskprobe.c  --disk-probe: write + fdatasync cost of a directory's disk
 *
 * Model: each connection has its own thread and runs "windows": it sends
 * P requests (or one batch frame of B), then reads the P replies, timing
 * each from the moment the window was sent. With --rate (open loop) each
 * request is due at a fixed time; it is timed from its send, and how late
 * the client sent it (send - due) goes to a second histogram, so a client
 * that could not keep up on the shared cores is visible, not hidden.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hdr.h"

#define BENCH_CONNS_MAX 256u
#define BENCH_PIPELINE_MAX 4096u
#define BENCH_BATCH_MAX 256u           /* = BATCH_OPS_MAX of the server */
#define BENCH_DURATION_S_MAX 3600u
#define BENCH_KEYS_MAX 50000000u
#define BENCH_WS_MAX 10000000u
#define BENCH_PATH_BYTES 512u
#define BENCH_HOST_BYTES 64u            /* loopback addresses only */
#define BENCH_ERR_BYTES 512u
#define BENCH_LABEL_BYTES 64u
#define BENCH_SECRET_BYTES 84u         /* prefix <= 16 + 64 hex + NUL */
#define BENCH_HASH_HEX_BYTES 65u       /* SHA-256 hex + NUL */
#define BENCH_TIMEOUT_MS 10000u        /* per call, either backend */
#define BENCH_ZIPF_S 0.99
#define BENCH_ADMIN_PERMILLE 10u       /* --mix admin: 1% admin writes */

/* The population every run creates and checks against. */
#define POP_BALANCE_MICRO INT64_C(1000000000000)   /* 1e6 units / ws */
#define POP_QUOTA_MICRO INT64_C(1000000000000)
#define POP_CAP_DAY_MICRO INT64_C(1000000000000)
#define POP_RPM INT64_C(1000000000)                /* never reached */
#define POP_TPM INT64_C(1000000000)
#define POP_MODEL_A "gpt-4o"
#define POP_MODEL_B "gpt-4o-mini"
#define POP_IP_A "198.51.100.9"                    /* documentation ranges */
#define POP_IP_B "203.0.113.7"
/* What every check asks for: the second entry of each list, so both
 * sides walk their allowlists. */
#define REQ_MODEL POP_MODEL_B
#define REQ_IP POP_IP_B
#define REQ_AMOUNT_MICRO INT64_C(100)
#define REQ_TOKENS INT64_C(50)
#define REQ_HOLD_MICRO INT64_C(1000)
#define REQ_HOLD_MIN_MICRO INT64_C(100)
#define REQ_SETTLE_MICRO INT64_C(500)
#define REQ_SETTLE_TOKENS INT64_C(80)

typedef enum bench_target { TARGET_QUOTAD, TARGET_REDIS } bench_target;
typedef enum bench_dist_kind { DIST_UNIFORM, DIST_ZIPF } bench_dist_kind;
typedef enum bench_mix {
    MIX_CHECK,   /* check-and-debit only */
    MIX_HOLD,    /* check with hold, then settle it */
    MIX_ADMIN,   /* checks plus 1% admin writes */
    MIX_PING,    /* the protocol floor: ping / PING */
} bench_mix;

typedef struct bench_cfg {
    bench_target target;
    char host[BENCH_HOST_BYTES];
    uint16_t port;
    uint32_t conns, pipeline, batch;
    uint32_t threads;             /* open loop: client threads; 0 = one
                                   * per connection */
    double duration_s, warmup_s;
    uint32_t keys, workspaces;
    bool keys_set;                /* --keys given: runs use the first K */
    bench_dist_kind dist;
    bench_mix mix;
    double rate;                  /* target ops/s; 0 = closed loop */
    bool load, json, quiet;
    char secrets[BENCH_PATH_BYTES];
    char lua_dir[BENCH_PATH_BYTES];
    char label[BENCH_LABEL_BYTES]; /* free text echoed in the report */
    char disk_probe[BENCH_PATH_BYTES]; /* --disk-probe DIR; "" = none */
    uint64_t seed;
    uint32_t server_pid;          /* 0, or sample its CPU while measuring */
} bench_cfg;

/* One key of the population. For Redis, id holds the hex SHA-256 of the
 * secret (the Redis key is "k:" + it), computed once at start. */
typedef struct pop_key {
    char id[BENCH_SECRET_BYTES];
    uint64_t key_id;
    uint32_t ws_id;
} pop_key;

typedef struct bench_pop {
    pop_key *keys;
    size_t n;
    uint32_t n_ws;
} bench_pop;

typedef struct bench_dist {
    bench_dist_kind kind;
    size_t n;
    double *cdf;                  /* zipf only: n cumulative weights */
} bench_dist;

/* Reply classes counted per worker: check decisions 0..11, then these. */
enum {
    CLS_DECISIONS = 12,
    CLS_OK = CLS_DECISIONS,       /* settle / admin / ping succeeded */
    CLS_ERR,                      /* the server answered with an error */
    CLS_COUNT,
};

enum { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };

/* Per connection; written by its own thread only, except `done` which the
 * progress line reads. */
typedef struct bench_worker {
    uint32_t idx;
    const bench_cfg *cfg;
    const bench_pop *pop;
    const bench_dist *dist;
    const _Atomic int *phase;
    uint64_t rng;
    hdr_hist hist;
    _Atomic uint64_t done;        /* replies read, all phases */
    uint64_t cls[CLS_COUNT];      /* measured phase only */
    void *conn;                   /* the backend's connection */
    char sha_check[41], sha_settle[41]; /* Redis script SHA1s */
    uint32_t admin_turn;          /* alternates the two admin writes */
    hdr_hist late;                /* paced: send time - due time */
    int64_t *sched;               /* paced: send time of each in flight */
    uint32_t sched_head, sched_n; /* ring of cfg->pipeline entries */
    int failed;                   /* transport failure: thread stopped */
    char err[BENCH_ERR_BYTES];
} bench_worker;

/* A backend: connect, run one window (timed from sched_ns when > 0, else
 * from its own send), close. Window functions return 0 or -1 (w->err).
 * Paced mode (--rate without --batch) sends single requests instead:
 * queue_one queues the next request of the mix (at most cfg->pipeline in
 * flight), flush sends what is queued, read_one waits up to wait_ns for
 * the oldest reply and returns 1 (read, its class in *cls), 0 (none yet)
 * or -1. */
typedef struct bench_backend {
    int (*open)(bench_worker *w);
    int (*window)(bench_worker *w, int64_t sched_ns);
    int (*queue_one)(bench_worker *w);
    int (*flush)(bench_worker *w);
    int (*read_one)(bench_worker *w, int64_t wait_ns, int *cls);
    int (*fd)(const bench_worker *w);   /* the connection's socket */
    void (*close)(bench_worker *w);
} bench_backend;

/* quotad's server-side latency over the measured phase (stats op,
 * latency_*): read off the socket -> reply queued, per frame. */
typedef struct bench_srv {
    bool valid;                   /* false: not quotad, or not available */
    uint64_t count;               /* frames timed */
    uint64_t p50_us, p90_us, p99_us, p999_us, max_us;
} bench_srv;

/* Everything a finished run reports. */
typedef struct bench_result {
    hdr_hist hist;
    hdr_hist late;                /* paced: how late the client sent */
    uint64_t cls[CLS_COUNT];
    uint64_t ops;                 /* replies in the measured phase */
    uint64_t replies_total;       /* replies in every phase (warm-up,
                                   * measured, the windows finishing) */
    double seconds;               /* measured phase, wall clock */
    double client_cpu_s;          /* user + system of this process */
    double server_cpu_s;          /* of --server-pid, -1 when unknown */
    bench_srv srv;                /* quotad only */
    int failed_workers;
    char first_err[BENCH_ERR_BYTES];
} bench_result;

/* opts.c: returns 0 run, 1 help printed, -1 usage error (printed). */
int bench_opts_parse(int argc, char **argv, bench_cfg *cfg);

/* pop.c */
__attribute__((warn_unused_result))
int pop_alloc(bench_pop *p, size_t n, uint32_t n_ws);
void pop_free(bench_pop *p);
__attribute__((warn_unused_result))
int pop_write(const char *path, const bench_pop *p);
__attribute__((warn_unused_result))
int pop_read(const char *path, bench_pop *p);
/* Replace every secret by its hex SHA-256 (the Redis peer's lookup). */
__attribute__((warn_unused_result))
int pop_hash_all(bench_pop *p);

/* dist.c */
uint64_t dist_rand(uint64_t *state);
uint64_t dist_seed(uint64_t seed, uint64_t stream);
__attribute__((warn_unused_result))
int dist_init(bench_dist *d, bench_dist_kind kind, size_t n, double s);
void dist_free(bench_dist *d);
size_t dist_pick(const bench_dist *d, uint64_t *rng);

/* Monotonic clock in ns (run.c). */
int64_t bench_now_ns(void);
/* Count one reply of class cls taken lat_ns after its send (run.c). */
void bench_record(bench_worker *w, int64_t lat_ns, int cls);
/* Format into w->err and return -1 (run.c). */
int bench_fail(bench_worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Wait up to wait_ns for fd to be readable: 1, 0 (timeout) or -1. */
int bench_wait_readable(int fd, int64_t wait_ns);
/* Requests one window sends (ops counted per reply). */
uint32_t bench_window_ops(const bench_cfg *cfg);

/* load_qd.c / load_redis.c: create the population (--load). */
__attribute__((warn_unused_result))
int load_quotad(const bench_cfg *cfg, bench_pop *p);
__attribute__((warn_unused_result))
int load_redis(const bench_cfg *cfg, const bench_pop *p);
/* SCRIPT LOAD check.lua and settle.lua; SHA1s into w's fields. */
__attribute__((warn_unused_result))
int redis_load_scripts(const bench_cfg *cfg, char sha_check[41],
                       char sha_settle[41]);

/* drv_qd.c / drv_redis.c */
extern const bench_backend bench_backend_quotad;
extern const bench_backend bench_backend_redis;

/* run.c: run the load; fills r (r->hist initialised here). */
__attribute__((warn_unused_result))
int bench_run(const bench_cfg *cfg, const bench_pop *pop,
              const bench_dist *dist, bench_result *r);

/* srvlat.c: a control connection to quotad (NULL, message printed, if
 * none); stats with reset_latency or not, into *out (valid on 0). */
void *srvlat_open(const bench_cfg *cfg);
void srvlat_close(void *ctl);
int srvlat_stats(void *ctl, bool reset, bench_srv *out);

/* report.c */
void report_print(const bench_cfg *cfg, const bench_result *r);

/* diskprobe.c: time quotad's commit pattern in DIR; exit status. */
int diskprobe_main(const char *dir, bool json);

#endif
