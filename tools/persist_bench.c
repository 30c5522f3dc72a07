/* persist_bench -- what durability costs: `make bench-persist`.
 *
 * Starts release daemons (build/rel/quotad) on 127.0.0.1 (free ports, own
 * temp data dirs, stopped by pid) and measures through libquotad:
 *   1. check throughput with --fsync always, everysec, no and --persist 0
 *      (CONNS connections x PIPELINE checks in flight, SECONDS each);
 *   2. log bytes per record from the segments' chunk headers: stored
 *      (zstd) vs raw, and on disk;
 *   3. recovery with KEYS keys (KEYS_PER_WS per workspace, create_key
 *      batched BATCH per frame): start to port file and the "recover:"
 *      line's ms, from the log and from a snapshot, and how long checks
 *      stall while that snapshot is taken.
 * Results: stdout and a markdown file (bench/persist-results.md).
 *
 * usage: persist_bench [--quotad BIN] [--seconds N] [--conns N]
 *        [--pipeline N] [--keys N] [--out FILE] [--keep 1 (keep the
 *        many-keys data dir, for profiling)]
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "qc_admin.h"
#include "quotad.h"
#include "segfile.h"

#define PB_DEFAULT_BIN "build/rel/quotad"
#define PB_DEFAULT_OUT "bench/persist-results.md"
#define PB_SECONDS 10
#define PB_CONNS 8
#define PB_PIPELINE 32
#define PB_KEYS 1000000
#define PB_KEYS_PER_WS 100
#define PB_WS_MAX_KEYS 200
#define PB_BATCH 256
#define PB_LOADERS 2
#define PB_CONNS_MAX 64
#define PB_PIPELINE_MAX 256
#define PB_KEYS_MAX 10000000
#define PB_SECONDS_MAX 120
#define PB_WALLET INT64_C(100000000000000)
#define PB_PATH 512
#define PB_ARGS_MAX 24
#define PB_START_WAIT_MS 300000
#define PB_STOP_WAIT_MS 120000
#define PB_SNAP_WAIT_MS 300000
#define PB_POLL_MS 5
#define PB_TIMEOUT_MS 60000u
#define PB_LOG_MAX (4u << 20)
#define PB_NFTW_FDS 16
#define PB_POLICIES 4
#define PB_AMOUNT_MAX 5000
#define PB_TOKENS_MAX 2000

/* ---- small utilities ------------------------------------------------------ */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* For polling only: an early wake-up by a signal is harmless. */
static void sleep_ms(int64_t ms)
{
    (void)usleep((useconds_t)(ms * 1000));
}

/* Read up to cap bytes of a small text file; NULL on error. */
static char *read_text(const char *path, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *b = malloc(cap + 1);
    size_t n = b != NULL ? fread(b, 1, cap, f) : 0;
    fclose(f);
    if (b != NULL)
        b[n] = '\0';
    return b;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    (void)remove(path); /* best effort: a temp dir */
    return 0;
}

/* ---- the daemon --------------------------------------------------------- */

typedef struct daemon_t {
    pid_t pid;
    uint16_t port;
    char dir[PB_PATH];
    const char *bin;
    const char *extra[PB_ARGS_MAX];
    int64_t start_to_port_ms;
} daemon_t;

/* In the child: die with us, stdio to DIR/stderr, exec. */
static void child_exec(const daemon_t *d, char *const argv[], pid_t parent)
{
    char err[PB_PATH + 16];
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    snprintf(err, sizeof err, "%s/stderr", d->dir);
    int in = open("/dev/null", O_RDONLY);
    int fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || fd < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 ||
        dup2(fd, 2) < 0)
        _exit(127);
    execv(argv[0], argv);
    _exit(127);
}

static uint16_t read_port(const daemon_t *d)
{
    char path[PB_PATH + 16];
    snprintf(path, sizeof path, "%s/port", d->dir);
    char *t = read_text(path, 32);
    unsigned long v = t != NULL ? strtoul(t, NULL, 10) : 0;
    free(t);
    return v > 0 && v <= UINT16_MAX ? (uint16_t)v : 0;
}

/* SIGKILL by pid and reap. */
static void kill_reap(daemon_t *d)
{
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
}

/* Spawn with the fixed flags plus d->extra; wait (bounded) for the port
 * file; the time it took is the start-to-serving time. */
static int daemon_launch(daemon_t *d)
{
    char port_f[PB_PATH + 16], data_d[PB_PATH + 16];
    snprintf(port_f, sizeof port_f, "%s/port", d->dir);
    snprintf(data_d, sizeof data_d, "%s/data", d->dir);
    const char *argv[PB_ARGS_MAX * 2] = {d->bin, "--port", "0",
                                         "--port-file", port_f,
                                         "--data-dir", data_d};
    size_t n = 7;
    for (size_t i = 0; d->extra[i] != NULL && n + 1 < PB_ARGS_MAX * 2; i++)
        argv[n++] = d->extra[i];
    argv[n] = NULL;
    (void)unlink(port_f);
    pid_t parent = getpid();
    fflush(NULL);
    int64_t t0 = mono_ms();
    d->pid = fork();
    if (d->pid < 0)
        return -1;
    if (d->pid == 0)
        child_exec(d, (char *const *)argv, parent);
    while (mono_ms() - t0 < PB_START_WAIT_MS) {
        int ws = 0;
        if (waitpid(d->pid, &ws, WNOHANG) == d->pid) {
            fprintf(stderr, "quotad exited during start; see %s/stderr\n",
                    d->dir);
            d->pid = 0;
            return -1;
        }
        if ((d->port = read_port(d)) != 0) {
            d->start_to_port_ms = mono_ms() - t0;
            return 0;
        }
        sleep_ms(PB_POLL_MS);
    }
    kill_reap(d);
    return -1;
}

/* SIGTERM, bounded wait, SIGKILL; 0 when it exited 0. */
static int daemon_stop(daemon_t *d)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    int ws = 0;
    int64_t t0 = mono_ms();
    while (waitpid(d->pid, &ws, WNOHANG) != d->pid) {
        if (mono_ms() - t0 > PB_STOP_WAIT_MS) {
            kill_reap(d);
            return -1;
        }
        sleep_ms(PB_POLL_MS);
    }
    d->pid = 0;
    return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : -1;
}

/* Fresh temp dir, then launch. */
static int daemon_start(daemon_t *d, const char *bin, const char *const *x)
{
    memset(d, 0, sizeof *d);
    d->bin = bin;
    for (size_t i = 0; x[i] != NULL && i + 1 < PB_ARGS_MAX; i++)
        d->extra[i] = x[i];
    char tmpl[] = "/tmp/quotad-pbench-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        return -1;
    snprintf(d->dir, sizeof d->dir, "%s", tmpl);
    return daemon_launch(d);
}

/* Kill if still running, remove the temp dir. */
static void daemon_cleanup(daemon_t *d)
{
    if (d->pid > 0)
        kill_reap(d);
    if (strncmp(d->dir, "/tmp/quotad-pbench-", 19) == 0)
        nftw(d->dir, rm_entry, PB_NFTW_FDS, FTW_DEPTH | FTW_PHYS);
}

static qc_ctx *connect_to(const daemon_t *d)
{
    qc_options o = qc_options_default();
    o.port = d->port;
    o.timeout_ms = PB_TIMEOUT_MS;
    o.client_name = "persist_bench";
    qc_ctx *c = NULL;
    int rc = qc_connect(&o, &c);
    if (rc != QC_OK)
        fprintf(stderr, "connect: %s\n", qc_strerror(rc));
    return c; /* NULL on failure */
}

/* ---- options and results -------------------------------------------------- */

typedef struct opts {
    const char *bin, *out;
    int seconds, conns, pipeline, keys, keep;
} opts;

typedef struct seg_stats {
    uint64_t files, file_bytes, chunks, records, raw, stored;
} seg_stats;

typedef struct policy_res {
    const char *name;
    double per_s;
    int64_t done, errors;
    seg_stats seg;
} policy_res;

typedef struct recov_res {
    int keys;
    double load_s;
    seg_stats seg;
    int64_t log_port_ms, log_recover_ms, snap_ms, snap_port_ms,
        snap_recover_ms, probe_checks, probe_max_ms;
} recov_res;

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || x < lo || x > hi)
        return -1;
    *out = (int)x;
    return 0;
}

/* --name value pairs; numbers are range-checked. */
static int parse_opts(int argc, char **argv, opts *o)
{
    *o = (opts){PB_DEFAULT_BIN, PB_DEFAULT_OUT, PB_SECONDS, PB_CONNS,
                PB_PIPELINE, PB_KEYS, 0};
    const struct { const char *name; int *v; int lo, hi; } num[] = {
        {"--seconds", &o->seconds, 1, PB_SECONDS_MAX},
        {"--conns", &o->conns, 1, PB_CONNS_MAX},
        {"--pipeline", &o->pipeline, 1, PB_PIPELINE_MAX},
        {"--keys", &o->keys, PB_KEYS_PER_WS, PB_KEYS_MAX},
        {"--keep", &o->keep, 0, 1}};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        int rc = -1;
        if (strcmp(k, "--quotad") == 0 || strcmp(k, "--out") == 0) {
            *(k[2] == 'q' ? &o->bin : &o->out) = v;
            rc = 0;
        }
        for (size_t j = 0; j < sizeof num / sizeof num[0]; j++)
            if (strcmp(k, num[j].name) == 0)
                rc = parse_int(v, num[j].lo, num[j].hi, num[j].v);
        if (rc != 0) {
            fprintf(stderr, "persist_bench: bad option %s %s\n", k, v);
            return -1;
        }
    }
    return argc % 2 == 1 ? 0 : -1;
}

/* ---- segment statistics ---------------------------------------------------- */

/* Walk one segment's chunk headers (segfile.h / chunk.h layout). */
static int seg_file(const char *path, seg_stats *s)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    uint8_t h[CHUNK_HEADER_BYTES];
    struct stat sb;
    int rc = fstat(fileno(f), &sb) == 0 ? 0 : -1;
    uint64_t off = SEGFILE_HEADER_BYTES;
    while (rc == 0 && off + CHUNK_HEADER_BYTES <= (uint64_t)sb.st_size) {
        chunk_header ch;
        if (fseeko(f, (off_t)off, SEEK_SET) != 0 ||
            fread(h, 1, sizeof h, f) != sizeof h ||
            memcmp(h, CHUNK_MAGIC, CHUNK_MAGIC_BYTES) != 0)
            break;
        chunk_header_unpack(h, &ch);
        s->chunks++;
        s->records += ch.n_records;
        s->raw += ch.raw_len;
        s->stored += ch.stored_len;
        off += CHUNK_HEADER_BYTES + ch.stored_len;
    }
    s->files++;
    s->file_bytes += (uint64_t)sb.st_size;
    fclose(f);
    return rc;
}

/* Totals over every log segment of the data dir. */
static int seg_dir(const daemon_t *d, seg_stats *s)
{
    char dir[PB_PATH + 16], path[PB_PATH + 300];
    snprintf(dir, sizeof dir, "%s/data", d->dir);
    memset(s, 0, sizeof *s);
    DIR *dp = opendir(dir);
    if (dp == NULL)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dp)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".qlog") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc |= seg_file(path, s);
    }
    closedir(dp);
    return rc;
}

/* ---- throughput ------------------------------------------------------------ */

typedef struct loader {
    pthread_t th;
    qc_ctx *c;
    char secret[160];
    int pipeline;
    uint64_t rng;
    _Atomic int64_t end_ms;
    int64_t done, errors, max_gap_ms;   /* longest wait between replies */
} loader;

/* Varied amounts and tokens (xorshift), so the log does not compress
 * better than a real one would. */
static qc_check_req next_req(loader *l)
{
    l->rng ^= l->rng << 13;
    l->rng ^= l->rng >> 7;
    l->rng ^= l->rng << 17;
    qc_check_req rq = {.secret = l->secret,
                       .amount = 1 + (int64_t)(l->rng % PB_AMOUNT_MAX),
                       .tokens = (int64_t)((l->rng >> 20) % PB_TOKENS_MAX)};
    return rq;
}

/* Keep `pipeline` checks in flight until the end time, then drain. */
static void *load_main(void *arg)
{
    loader *l = arg;
    int rc = QC_OK;
    for (int i = 0; rc == QC_OK && i < l->pipeline; i++) {
        qc_check_req rq = next_req(l);
        rc = qc_check_append(l->c, &rq, NULL);
    }
    int64_t last = mono_ms();
    while (rc == QC_OK && qc_in_flight(l->c) > 0) {
        qc_check_res rs;
        if ((rc = qc_check_read(l->c, NULL, &rs)) != QC_OK)
            break;
        int64_t now = mono_ms();
        if (now - last > l->max_gap_ms)
            l->max_gap_ms = now - last;
        last = now;
        *(rs.decision == QC_ALLOWED ? &l->done : &l->errors) += 1;
        qc_check_req rq = next_req(l);
        if (now < atomic_load(&l->end_ms))
            rc = qc_check_append(l->c, &rq, NULL);
    }
    l->errors += rc != QC_OK;
    return NULL;
}

/* A funded workspace with one unlimited key; its secret into out. */
static int make_key(qc_ctx *c, char *out, size_t cap)
{
    Quotad__Reply *r = NULL;
    if (qc_create_workspace(c, "bench", 0, 0, PB_WALLET, &r) != QC_OK)
        return -1;
    uint32_t ws = r->workspace->workspace_id;
    qc_reply_free(r);
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    ck.has_workspace_id = 1;
    ck.workspace_id = ws;
    ck.name = (char *)"bench";
    r = NULL;
    int rc = qc_create_key(c, &ck, &r);
    if (rc == QC_OK)
        snprintf(out, cap, "%s", r->key_secret->secret);
    qc_reply_free(r);
    return rc == QC_OK ? 0 : -1;
}

/* Connect l (its secret set) and start its thread. */
static int loader_start(loader *l, const daemon_t *d, int pipeline,
                        int64_t end_ms, uint64_t seed)
{
    l->c = connect_to(d);
    l->pipeline = pipeline;
    atomic_store(&l->end_ms, end_ms);
    l->done = l->errors = l->max_gap_ms = 0;
    l->rng = UINT64_C(0x9e3779b97f4a7c15) * seed;
    if (l->c != NULL && pthread_create(&l->th, NULL, load_main, l) == 0)
        return 0;
    qc_free(l->c);
    l->c = NULL;
    return -1;
}

/* Run the load against a started daemon; fills done/errors/per_s. */
static int run_load(const daemon_t *d, const opts *o, policy_res *res)
{
    static loader ls[PB_CONNS_MAX];
    qc_ctx *setup = connect_to(d);
    int rc = setup != NULL ? 0 : -1;
    for (int i = 0; rc == 0 && i < o->conns; i++)
        rc = make_key(setup, ls[i].secret, sizeof ls[i].secret);
    qc_free(setup);
    int64_t t0 = mono_ms(), started = 0;
    for (int i = 0; rc == 0 && i < o->conns; i++) {
        rc = loader_start(&ls[i], d, o->pipeline, t0 + o->seconds * 1000,
                          (uint64_t)i + 1);
        started += rc == 0;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(ls[i].th, NULL);
        qc_free(ls[i].c);
        res->done += ls[i].done;
        res->errors += ls[i].errors;
    }
    int64_t ms = mono_ms() - t0;
    res->per_s = ms > 0 ? (double)res->done * 1000.0 / (double)ms : 0;
    return rc;
}

/* One policy: fresh daemon, load, clean stop, log statistics. */
static int run_policy(const opts *o, const char *name, const char *fsync,
                      const char *persist, policy_res *res)
{
    memset(res, 0, sizeof *res);
    res->name = name;
    const char *x[] = {"--fsync", fsync, "--persist", persist,
                       "--log-level", "1", NULL};
    daemon_t d;
    int rc = daemon_start(&d, o->bin, x);
    if (rc == 0)
        rc = run_load(&d, o, res);
    if (d.pid > 0 && daemon_stop(&d) != 0)
        rc = -1;
    if (rc == 0 && strcmp(persist, "1") == 0)
        rc = seg_dir(&d, &res->seg);
    daemon_cleanup(&d);
    fprintf(stderr, "  %-14s %10.0f checks/s (%" PRId64 " errors)\n", name,
            res->per_s, res->errors);
    return rc;
}

/* ---- recovery of many keys ------------------------------------------------- */

typedef struct key_loader {
    pthread_t th;
    qc_ctx *c;
    const uint32_t *ws;
    int from, to;            /* key indexes [from, to) */
    int rc;
} key_loader;

/* One frame of create_key (or create_workspace when ws == NULL). */
static int batch_create(qc_ctx *c, const uint32_t *ws, int from, int n,
                        uint32_t *ws_out)
{
    static __thread Quotad__CreateKey ck[PB_BATCH];
    static __thread Quotad__CreateWorkspace cw[PB_BATCH];
    static __thread Quotad__Request rq[PB_BATCH];
    static __thread Quotad__Request *p[PB_BATCH];
    static __thread Quotad__Reply *out[PB_BATCH];
    for (int i = 0; i < n; i++) {
        quotad__request__init(&rq[i]);
        if (ws != NULL) {
            quotad__create_key__init(&ck[i]);
            ck[i].has_workspace_id = 1;
            ck[i].workspace_id = ws[(from + i) / PB_KEYS_PER_WS];
            ck[i].name = (char *)"k";
            rq[i].op_case = QUOTAD__REQUEST__OP_CREATE_KEY;
            rq[i].create_key = &ck[i];
        } else {
            quotad__create_workspace__init(&cw[i]);
            cw[i].name = (char *)"w";
            cw[i].has_max_keys = 1;
            cw[i].max_keys = PB_WS_MAX_KEYS;
            rq[i].op_case = QUOTAD__REQUEST__OP_CREATE_WORKSPACE;
            rq[i].create_workspace = &cw[i];
        }
        p[i] = &rq[i];
    }
    int rc = qc_call_batch(c, p, (size_t)n, out);
    for (int i = 0; i < n && rc == QC_OK; i++) {
        if (out[i]->has_code && out[i]->code != QUOTAD__CODE__OK)
            rc = (int)out[i]->code;
        else if (ws == NULL)
            ws_out[from + i] = out[i]->workspace->workspace_id;
    }
    for (int i = 0; i < n && out[0] != NULL; i++)
        qc_reply_free(out[i]);
    return rc;
}

static void *key_load_main(void *arg)
{
    key_loader *k = arg;
    for (int i = k->from; k->rc == 0 && i < k->to; i += PB_BATCH) {
        int n = k->to - i < PB_BATCH ? k->to - i : PB_BATCH;
        k->rc = batch_create(k->c, k->ws, i, n, NULL);
    }
    return NULL;
}

/* Workspaces (one connection), then keys (PB_LOADERS connections). */
static int load_keys(const daemon_t *d, int keys, uint32_t *ws)
{
    int n_ws = keys / PB_KEYS_PER_WS;
    qc_ctx *c = connect_to(d);
    int rc = c != NULL ? 0 : -1;
    for (int i = 0; rc == 0 && i < n_ws; i += PB_BATCH)
        rc = batch_create(c, NULL, i, n_ws - i < PB_BATCH ? n_ws - i
                                                          : PB_BATCH, ws);
    qc_free(c);
    key_loader kl[PB_LOADERS];
    int started = 0, per = (n_ws * PB_KEYS_PER_WS) / PB_LOADERS;
    for (int i = 0; rc == 0 && i < PB_LOADERS; i++) {
        kl[i] = (key_loader){.c = connect_to(d), .ws = ws, .from = i * per,
                             .to = i + 1 == PB_LOADERS ? n_ws * PB_KEYS_PER_WS
                                                       : (i + 1) * per};
        if (kl[i].c == NULL ||
            pthread_create(&kl[i].th, NULL, key_load_main, &kl[i]) != 0) {
            qc_free(kl[i].c);
            rc = -1;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(kl[i].th, NULL);
        qc_free(kl[i].c);
        rc |= kl[i].rc;
    }
    return rc;
}

/* ms of the last "recover: ... records applied ..., seq S, N ms" line. */
static int64_t recover_ms(const daemon_t *d)
{
    char path[PB_PATH + 16];
    snprintf(path, sizeof path, "%s/stderr", d->dir);
    char *t = read_text(path, PB_LOG_MAX);
    const char *last = NULL;
    for (const char *p = t; p != NULL && (p = strstr(p, "records applied"));
         p++)
        last = p;
    const char *seq = last != NULL ? strstr(last, ", seq ") : NULL;
    long long ms = -1;
    if (seq == NULL || sscanf(seq, ", seq %*u, %lld ms", &ms) != 1)
        ms = -1;
    free(t);
    return ms;
}

/* Start a snapshot, poll until it is no longer running; its ms, or -1. */
static int64_t take_snapshot(const daemon_t *d)
{
    qc_ctx *c = connect_to(d);
    int64_t t0 = mono_ms(), ms = -1;
    for (int start = 1; c != NULL && mono_ms() - t0 < PB_SNAP_WAIT_MS;
         start = 0) {
        Quotad__SnapshotReq sr = QUOTAD__SNAPSHOT_REQ__INIT;
        sr.has_start = 1;
        sr.start = start;
        Quotad__Request rq = QUOTAD__REQUEST__INIT;
        rq.op_case = QUOTAD__REQUEST__OP_SNAPSHOT;
        rq.snapshot = &sr;
        Quotad__Reply *r = NULL;
        int rc = qc_call(c, &rq, &r);
        const Quotad__SnapshotReply *s = rc == QC_OK ? r->snapshot : NULL;
        bool bad = s == NULL || (start && !s->started);
        bool done = !bad && !start && !s->running;
        qc_reply_free(r);
        if (bad || done) {
            ms = bad ? -1 : mono_ms() - t0;
            break;
        }
        sleep_ms(PB_POLL_MS);
    }
    qc_free(c);
    return ms;
}

/* Clean stop (log statistics into seg if not NULL), start again; record
 * start-to-port and the "recover:" ms. */
static int restart_measure(daemon_t *d, int64_t *port_ms, int64_t *rec_ms,
                           seg_stats *seg)
{
    if (daemon_stop(d) != 0 || (seg != NULL && seg_dir(d, seg) != 0) ||
        daemon_launch(d) != 0)
        return -1;
    *port_ms = d->start_to_port_ms;
    *rec_ms = recover_ms(d);
    return 0;
}

/* A snapshot while one connection runs synchronous checks: how long the
 * hot path stalls (the daemon runs --fsync no: no fsync wait in it). */
static int snapshot_with_probe(const daemon_t *d, recov_res *res)
{
    static loader l;
    qc_ctx *c = connect_to(d);
    int rc = c != NULL ? make_key(c, l.secret, sizeof l.secret) : -1;
    qc_free(c);
    if (rc != 0 || loader_start(&l, d, 1, INT64_MAX, 1) != 0)
        return -1;
    res->snap_ms = take_snapshot(d);
    atomic_store(&l.end_ms, 0);
    pthread_join(l.th, NULL);
    qc_free(l.c);
    res->probe_checks = l.done;
    res->probe_max_ms = l.max_gap_ms;
    return res->snap_ms < 0 || l.errors != 0 ? -1 : 0;
}

/* Load the keys, restart from the log, snapshot, restart again. */
static int run_recovery(const opts *o, recov_res *res)
{
    memset(res, 0, sizeof *res);
    res->keys = (o->keys / PB_KEYS_PER_WS) * PB_KEYS_PER_WS;
    uint32_t *ws = calloc((size_t)o->keys / PB_KEYS_PER_WS + 1, sizeof *ws);
    const char *x[] = {"--fsync", "no", "--log-level", "2", NULL};
    daemon_t d;
    memset(&d, 0, sizeof d);
    int rc = ws != NULL ? daemon_start(&d, o->bin, x) : -1;
    int64_t t0 = mono_ms();
    if (rc == 0)
        rc = load_keys(&d, o->keys, ws);
    res->load_s = (double)(mono_ms() - t0) / 1000.0;
    fprintf(stderr, "  %d keys loaded in %.1f s\n", res->keys, res->load_s);
    if (rc == 0)
        rc = restart_measure(&d, &res->log_port_ms, &res->log_recover_ms,
                             &res->seg);
    if (rc == 0)
        rc = snapshot_with_probe(&d, res);
    if (rc == 0)
        rc = restart_measure(&d, &res->snap_port_ms, &res->snap_recover_ms,
                             NULL);
    if (d.pid > 0 && daemon_stop(&d) != 0)
        rc = -1;
    if (o->keep)
        fprintf(stderr, "  data dir kept: %s/data\n", d.dir);
    else
        daemon_cleanup(&d);
    free(ws);
    return rc;
}

/* ---- report ----------------------------------------------------------------- */

static double per_rec(uint64_t bytes, uint64_t records)
{
    return records > 0 ? (double)bytes / (double)records : 0.0;
}

static void report_policies(FILE *f, const policy_res *p, int n)
{
    double base = p[n - 1].per_s > 0 ? p[n - 1].per_s : 1;
    fprintf(f, "| policy | checks/s | vs --persist 0 | errors | records | "
               "disk B/record | zstd B/record | raw B/record | raw/zstd |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        const seg_stats *s = &p[i].seg;
        fprintf(f, "| %s | %.0f | %.2f | %" PRId64 " | %" PRIu64
                " | %.1f | %.1f | %.1f | %.2f |\n", p[i].name, p[i].per_s,
                p[i].per_s / base, p[i].errors, s->records,
                per_rec(s->file_bytes, s->records),
                per_rec(s->stored, s->records), per_rec(s->raw, s->records),
                s->stored > 0 ? (double)s->raw / (double)s->stored : 0.0);
    }
}

static void report_recovery(FILE *f, const recov_res *r)
{
    const seg_stats *s = &r->seg;
    fprintf(f, "\n## Recovery with %d keys (%d workspaces)\n\n"
               "| measure | value |\n|---|---:|\n| keys created (batches "
               "of %d, %d connections) | %.1f s (%.0f keys/s) |\n", r->keys,
            r->keys / PB_KEYS_PER_WS, PB_BATCH, PB_LOADERS, r->load_s,
            r->load_s > 0 ? r->keys / r->load_s : 0.0);
    fprintf(f, "| log: segments / chunks / records | %" PRIu64 " / %" PRIu64
               " / %" PRIu64 " |\n| log: on disk / zstd / raw | %.1f / %.1f "
               "/ %.1f MB |\n", s->files, s->chunks, s->records,
            (double)s->file_bytes / 1e6, (double)s->stored / 1e6,
            (double)s->raw / 1e6);
    fprintf(f, "| log: B/record on disk / zstd / raw | %.1f / %.1f / %.1f |\n",
            per_rec(s->file_bytes, s->records), per_rec(s->stored, s->records),
            per_rec(s->raw, s->records));
    fprintf(f, "| restart from the log: start to port file | %" PRId64
               " ms |\n| restart from the log: \"recover:\" line | %" PRId64
               " ms |\n", r->log_port_ms, r->log_recover_ms);
    fprintf(f, "| snapshot of the whole state (protocol op) | %" PRId64
               " ms |\n| sync checks during it / slowest | %" PRId64 " / %"
               PRId64 " ms |\n", r->snap_ms, r->probe_checks,
            r->probe_max_ms);
    fprintf(f, "| restart from the snapshot: start to port file | %" PRId64
               " ms |\n| restart from the snapshot: \"recover:\" line | %"
               PRId64 " ms |\n", r->snap_port_ms, r->snap_recover_ms);
}

static void report(FILE *f, const opts *o, const policy_res *p, int n,
                   const recov_res *r, int rc)
{
    struct utsname u;
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    fprintf(f, "# quotad persistence benchmark\n\n%s, %s %s, %ld cores, "
               "daemon `%s`.\n\nLoad: %d connections x %d pipelined checks "
               "(debits of 1..%d micro-units, 0..%d tokens, one key each), "
               "%d s per policy; \"zstd\" is the chunk bodies, \"disk\" "
               "adds chunk and file headers.\n\n", when, u.sysname, u.release,
            sysconf(_SC_NPROCESSORS_ONLN), o->bin, o->conns, o->pipeline,
            PB_AMOUNT_MAX, PB_TOKENS_MAX - 1, o->seconds);
    report_policies(f, p, n);
    report_recovery(f, r);
    if (rc != 0)
        fprintf(f, "\n**Some steps failed; see stderr.**\n");
}

int main(int argc, char **argv)
{
    opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: persist_bench [--quotad BIN] [--seconds N] "
                        "[--conns N] [--pipeline N] [--keys N] [--out F] "
                        "[--keep 1]\n");
        return 2;
    }
    static const char *const pol[PB_POLICIES][3] = {
        {"fsync always", "always", "1"}, {"fsync everysec", "everysec", "1"},
        {"fsync no", "no", "1"}, {"persist 0", "no", "0"}};
    policy_res p[PB_POLICIES];
    int rc = 0;
    for (int i = 0; i < PB_POLICIES; i++)
        rc |= run_policy(&o, pol[i][0], pol[i][1], pol[i][2], &p[i]);
    recov_res r;
    rc |= run_recovery(&o, &r);
    report(stdout, &o, p, PB_POLICIES, &r, rc);
    FILE *f = fopen(o.out, "w");
    if (f == NULL || (report(f, &o, p, PB_POLICIES, &r, rc), fclose(f)) != 0) {
        fprintf(stderr, "persist_bench: cannot write %s\n", o.out);
        rc = -1;
    }
    return rc == 0 ? 0 : 1;
}
