/* run.c -- the load itself: one thread per connection running windows,
 * a warm-up phase that is not recorded, the measured phase, and a progress
 * line each second on stderr.
 *
 *   main: open every connection -> start threads -> warmup -> MEASURE
 *         (progress each second) -> STOP -> join -> merge histograms
 *
 * Closed loop (default): a thread sends its next window as soon as the
 * last one's replies are in. Open loop (--rate R): window k of thread t is
 * due at start + (t/conns + k) * interval, where interval makes the
 * threads together send R ops/s; latency is timed from when a window was
 * due, not when it went out, so a server that falls behind shows it.
 */
#include "bench.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S INT64_C(1000000000)
#define PROGRESS_INTERVAL_NS NS_PER_S
#define SLEEP_SLICE_NS (50 * INT64_C(1000000))  /* re-check STOP this often */
#define CACHE_LINE_BYTES 64u
#define BENCH_TIMER_SLACK_NS 1ul   /* --threads: precise wake-ups */
#define PROC_PATH_BYTES 64u
#define PROC_STAT_BYTES 1024u

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Sleep until the monotonic time at_ns (absolute, so no drift). */
static void sleep_until_ns(int64_t at_ns)
{
    struct timespec ts = {.tv_sec = at_ns / NS_PER_S,
                          .tv_nsec = at_ns % NS_PER_S};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
           EINTR) {
    }
}

int bench_wait_readable(int fd, int64_t wait_ns)
{
    if (wait_ns < 0)
        wait_ns = 0;
    struct timespec ts = {.tv_sec = wait_ns / NS_PER_S,
                          .tv_nsec = wait_ns % NS_PER_S};
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = ppoll(&p, 1, &ts, NULL);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    return n > 0 ? 1 : 0;
}

void bench_record(bench_worker *w, int64_t lat_ns, int cls)
{
    if (atomic_load_explicit(w->phase, memory_order_relaxed) ==
        PHASE_MEASURE) {
        hdr_record(&w->hist, lat_ns);
        w->cls[cls]++;
    }
    atomic_fetch_add_explicit(&w->done, 1, memory_order_relaxed);
}

int bench_fail(bench_worker *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    return -1;
}

uint32_t bench_window_ops(const bench_cfg *cfg)
{
    if (cfg->batch > 0)
        return cfg->batch;
    return cfg->pipeline * (cfg->mix == MIX_HOLD ? 2u : 1u);
}

typedef struct run_ctx {
    const bench_cfg *cfg;
    const bench_backend *be;
    bench_worker **w;
    _Atomic int phase;
    int64_t start_ns;            /* open loop: when window 0 is due */
    int64_t interval_ns;         /* open loop: per thread, 0 = closed */
    void *srv;                   /* quotad: stats connection, or NULL */
} run_ctx;

/* A client thread's connections: one, or with --threads a share. */
typedef struct worker_arg {
    run_ctx *run;
    bench_worker **w;
    uint32_t n;
} worker_arg;

/* Sleep toward due_ns in slices so STOP is noticed; false if stopped. */
static bool wait_due(run_ctx *run, int64_t due_ns)
{
    for (;;) {
        if (atomic_load(&run->phase) == PHASE_STOP)
            return false;
        int64_t now = bench_now_ns();
        if (now >= due_ns)
            return true;
        int64_t step = due_ns - now;
        sleep_until_ns(now + (step < SLEEP_SLICE_NS ? step : SLEEP_SLICE_NS));
    }
}

/* Paced: wait for the oldest reply, but no longer than until the next
 * send is due (or a slice, so STOP is noticed); then take every reply
 * already there without waiting, so a client that fell behind reads
 * (and then sends) in batches, not one syscall per request. 0 or -1. */
static int paced_read_wait(run_ctx *run, bench_worker *w, int64_t wait)
{
    while (w->sched_n > 0) {
        int cls = CLS_ERR;
        int got = run->be->read_one(w, wait, &cls);
        if (got <= 0)
            return got;
        bench_record(w, bench_now_ns() - w->sched[w->sched_head], cls);
        w->sched_head = (w->sched_head + 1) % run->cfg->pipeline;
        w->sched_n--;
        wait = 0;
    }
    return 0;
}

static int paced_read(run_ctx *run, bench_worker *w, int64_t due)
{
    int64_t now = bench_now_ns();
    int64_t wait = w->sched_n < run->cfg->pipeline ? due - now
                                                   : SLEEP_SLICE_NS;
    wait = wait < SLEEP_SLICE_NS ? wait : SLEEP_SLICE_NS;
    return paced_read_wait(run, w, wait);
}

/* Queue every request already due (while fewer than P are in flight)
 * and send them in one write: a client that fell behind catches up
 * instead of paying a syscall per request. 0 or -1. */
static int paced_send_due(run_ctx *run, bench_worker *w, int64_t *due)
{
    const uint32_t cap = run->cfg->pipeline;
    int64_t now = bench_now_ns();
    uint32_t queued = 0;
    int64_t due_at[BENCH_PIPELINE_MAX];
    while (*due <= now && w->sched_n + queued < cap) {
        if (run->be->queue_one(w) != 0)
            return -1;
        due_at[queued++] = *due;
        *due += run->interval_ns;
    }
    if (queued == 0)
        return 0;
    int64_t sent = bench_now_ns();
    bool measuring = atomic_load_explicit(w->phase, memory_order_relaxed) ==
                     PHASE_MEASURE;
    for (uint32_t i = 0; i < queued; i++) {
        if (measuring)
            hdr_record(&w->late, sent - due_at[i]);
        w->sched[(w->sched_head + w->sched_n++) % cap] = sent;
    }
    return run->be->flush(w);
}

/* Open loop, one request per due time (wrk2 style): send when due and
 * fewer than P are in flight; otherwise read replies as they come. Each
 * reply is timed from its send; lateness is recorded at the send. */
static void worker_paced(run_ctx *run, bench_worker *w, int64_t due)
{
    const uint32_t cap = run->cfg->pipeline;
    while (atomic_load_explicit(&run->phase, memory_order_relaxed) !=
           PHASE_STOP) {
        int rc = 0;
        if (bench_now_ns() >= due && w->sched_n < cap) {
            rc = paced_send_due(run, w, &due);
        } else if (w->sched_n == 0) {
            if (!wait_due(run, due))
                break;
        } else {
            rc = paced_read(run, w, due);
        }
        if (rc != 0) {
            w->failed = 1;
            break;
        }
    }
}

/* When worker w's first request (or window) is due: the connections'
 * schedules are spread evenly over one interval. */
static int64_t first_due(const run_ctx *run, const bench_worker *w)
{
    return run->start_ns +
           run->interval_ns * (int64_t)w->idx / (int64_t)run->cfg->conns;
}

/* Send what is due on each connection, then wait in one ppoll until a
 * reply arrives or the next send is due, and read every reply there. */
static int paced_group_turn(run_ctx *run, worker_arg *a, int64_t *due,
                            struct pollfd *pfd)
{
    const uint32_t cap = run->cfg->pipeline;
    int64_t now = bench_now_ns();
    int64_t next = now + SLEEP_SLICE_NS;
    for (uint32_t i = 0; i < a->n; i++) {
        bench_worker *w = a->w[i];
        if (now >= due[i] && w->sched_n < cap &&
            paced_send_due(run, w, &due[i]) != 0)
            return -1;
        if (w->sched_n < cap && due[i] < next)
            next = due[i];
        pfd[i] = (struct pollfd){.fd = run->be->fd(w), .events = POLLIN};
    }
    int64_t wait = next - bench_now_ns();
    wait = wait > 0 ? wait : 0;
    struct timespec ts = {.tv_sec = wait / NS_PER_S,
                          .tv_nsec = wait % NS_PER_S};
    if (ppoll(pfd, a->n, &ts, NULL) < 0 && errno != EINTR)
        return -1;
    for (uint32_t i = 0; i < a->n; i++)
        if (pfd[i].revents != 0 && paced_read_wait(run, a->w[i], 0) != 0)
            return -1;
    return 0;
}

/* --threads: one thread paces several connections (see paced_group_turn).
 * No timer slack: a wake-up up to 50 us late would send a burst. */
static void worker_paced_group(run_ctx *run, worker_arg *a)
{
    int64_t *due = calloc(a->n, sizeof *due);
    struct pollfd *pfd = calloc(a->n, sizeof *pfd);
    int rc = due != NULL && pfd != NULL ? 0 : -1;
    (void)prctl(PR_SET_TIMERSLACK, BENCH_TIMER_SLACK_NS, 0, 0, 0);
    for (uint32_t i = 0; rc == 0 && i < a->n; i++)
        due[i] = first_due(run, a->w[i]);
    while (rc == 0 && atomic_load_explicit(&run->phase,
                                           memory_order_relaxed) !=
                          PHASE_STOP)
        rc = paced_group_turn(run, a, due, pfd);
    if (rc != 0)
        for (uint32_t i = 0; i < a->n; i++)
            a->w[i]->failed = 1;
    free(due);
    free(pfd);
}

static void *worker_main(void *arg)
{
    worker_arg *a = arg;
    run_ctx *run = a->run;
    if (a->n > 1) {
        worker_paced_group(run, a);
        return NULL;
    }
    bench_worker *w = a->w[0];
    int64_t due = first_due(run, w);
    if (w->sched != NULL) {
        worker_paced(run, w, due);
        return NULL;
    }
    while (atomic_load_explicit(&run->phase, memory_order_relaxed) !=
           PHASE_STOP) {
        int64_t sched = 0;
        if (run->interval_ns > 0) {
            if (!wait_due(run, due))
                break;
            sched = due;
            due += run->interval_ns;
        }
        if (run->be->window(w, sched) != 0) {
            w->failed = 1;
            break;
        }
    }
    return NULL;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* utime + stime of another process from /proc/PID/stat, or -1. The
 * command name may hold spaces, so fields are counted after its ')'. */
static double proc_cpu_seconds(uint32_t pid)
{
    char path[PROC_PATH_BYTES], buf[PROC_STAT_BYTES];
    snprintf(path, sizeof path, "/proc/%u/stat", (unsigned)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1.0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    long tck = sysconf(_SC_CLK_TCK);
    if (p == NULL || tck <= 0 ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return -1.0;
    return (double)(ut + st) / (double)tck;
}

static uint64_t done_total(const run_ctx *run)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < run->cfg->conns; i++)
        n += atomic_load_explicit(&run->w[i]->done, memory_order_relaxed);
    return n;
}

/* Sleep `seconds`, printing a progress line each second. */
static void progress_phase(run_ctx *run, const char *name, double seconds)
{
    const bench_cfg *cfg = run->cfg;
    bool tty = isatty(STDERR_FILENO) != 0;
    int64_t end = bench_now_ns() + (int64_t)(seconds * (double)NS_PER_S);
    uint64_t last = done_total(run);
    int64_t last_t = bench_now_ns();
    while (bench_now_ns() < end) {
        int64_t next = last_t + PROGRESS_INTERVAL_NS;
        sleep_until_ns(next < end ? next : end);
        uint64_t now_done = done_total(run);
        int64_t t = bench_now_ns();
        if (!cfg->quiet)
            fprintf(stderr, "%s  [%s %s] %-7s %10.0f ops/s  %12llu replies%s",
                    tty ? "\r" : "",
                    cfg->target == TARGET_QUOTAD ? "quotad" : "redis",
                    cfg->label[0] ? cfg->label : "-", name,
                    (double)(now_done - last) * (double)NS_PER_S /
                        (double)(t - last_t),
                    (unsigned long long)now_done, tty ? "  " : "\n");
        last = now_done;
        last_t = t;
    }
}

/* Single requests at a rate rather than windows (see worker_paced). */
static bool run_paced(const bench_cfg *cfg)
{
    return cfg->rate > 0 && cfg->batch == 0;
}

/* Allocate and connect every worker before the clock starts. */
static int workers_open(run_ctx *run, const bench_pop *pop,
                        const bench_dist *dist, char sha[2][41])
{
    const bench_cfg *cfg = run->cfg;
    size_t size = (sizeof(bench_worker) + CACHE_LINE_BYTES - 1) /
                  CACHE_LINE_BYTES * CACHE_LINE_BYTES;
    for (uint32_t i = 0; i < cfg->conns; i++) {
        bench_worker *w = aligned_alloc(CACHE_LINE_BYTES, size);
        if (w == NULL)
            return -1;
        memset(w, 0, size);
        run->w[i] = w;
        *w = (bench_worker){.idx = i, .cfg = cfg, .pop = pop, .dist = dist,
                            .phase = &run->phase,
                            .rng = dist_seed(cfg->seed, i)};
        memcpy(w->sha_check, sha[0], 41);
        memcpy(w->sha_settle, sha[1], 41);
        if (hdr_init(&w->hist, HDR_LOWEST_NS, HDR_HIGHEST_NS,
                     HDR_SIG_DIGITS) != 0 ||
            hdr_init(&w->late, HDR_LOWEST_NS, HDR_HIGHEST_NS,
                     HDR_SIG_DIGITS) != 0)
            return -1;
        if (run_paced(cfg) &&
            (w->sched = calloc(cfg->pipeline, sizeof *w->sched)) == NULL)
            return -1;
        if (run->be->open(w) != 0) {
            fprintf(stderr, "quotad-bench: %s\n", w->err);
            return -1;
        }
    }
    return 0;
}

static void workers_close(run_ctx *run)
{
    for (uint32_t i = 0; i < run->cfg->conns; i++) {
        bench_worker *w = run->w[i];
        if (w == NULL)
            continue;
        run->be->close(w);
        hdr_free(&w->hist);
        hdr_free(&w->late);
        free(w->sched);
        free(w);
    }
}

/* Sum every worker's counts into r. */
static int workers_merge(run_ctx *run, bench_result *r)
{
    for (uint32_t i = 0; i < run->cfg->conns; i++) {
        bench_worker *w = run->w[i];
        if (hdr_add(&r->hist, &w->hist) != 0 ||
            hdr_add(&r->late, &w->late) != 0)
            return -1;
        for (int c = 0; c < CLS_COUNT; c++) {
            r->cls[c] += w->cls[c];
            r->ops += w->cls[c];
        }
        if (w->failed && r->failed_workers++ == 0)
            snprintf(r->first_err, sizeof r->first_err, "%s", w->err);
    }
    return 0;
}

/* Threads are running: warm up, measure, stop them. quotad's latency
 * histogram is emptied as the measured phase starts and read as it ends. */
static void run_phases(run_ctx *run, bench_result *r)
{
    progress_phase(run, "warmup", run->cfg->warmup_s);
    bench_srv before;
    if (run->srv != NULL && srvlat_stats(run->srv, true, &before) != 0) {
        srvlat_close(run->srv);
        run->srv = NULL;
    }
    uint32_t spid = run->cfg->server_pid;
    double cpu0 = cpu_seconds();
    double srv0 = spid ? proc_cpu_seconds(spid) : -1.0;
    int64_t t0 = bench_now_ns();
    atomic_store(&run->phase, PHASE_MEASURE);
    progress_phase(run, "measure", run->cfg->duration_s);
    atomic_store(&run->phase, PHASE_STOP);
    r->seconds = (double)(bench_now_ns() - t0) / (double)NS_PER_S;
    r->client_cpu_s = cpu_seconds() - cpu0;
    double srv1 = spid ? proc_cpu_seconds(spid) : -1.0;
    r->server_cpu_s = srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : -1.0;
    if (run->srv != NULL)     /* after the CPU samples: not counted in them */
        (void)srvlat_stats(run->srv, false, &r->srv); /* valid on success */
    if (!run->cfg->quiet && isatty(STDERR_FILENO))
        fputc('\n', stderr);
}

/* Client threads: one per connection, or --threads sharing them. */
static int run_threads(run_ctx *run, bench_result *r)
{
    uint32_t conns = run->cfg->conns;
    uint32_t n = run_paced(run->cfg) && run->cfg->threads > 0
                     ? run->cfg->threads
                     : conns;
    pthread_t *tids = calloc(n, sizeof *tids);
    worker_arg *args = calloc(n, sizeof *args);
    int rc = tids != NULL && args != NULL ? 0 : -1;
    uint32_t started = 0;
    double per_send = run_paced(run->cfg) ? 1.0
                                          : (double)bench_window_ops(run->cfg);
    if (run->cfg->rate > 0)
        run->interval_ns = (int64_t)(per_send * (double)conns *
                                     (double)NS_PER_S / run->cfg->rate);
    run->start_ns = bench_now_ns();
    for (; rc == 0 && started < n; started++) {
        uint32_t lo = started * conns / n, hi = (started + 1) * conns / n;
        args[started] = (worker_arg){.run = run, .w = &run->w[lo],
                                     .n = hi - lo};
        if (pthread_create(&tids[started], NULL, worker_main,
                           &args[started]) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0)
        run_phases(run, r);
    atomic_store(&run->phase, PHASE_STOP);
    for (uint32_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    r->replies_total = done_total(run);
    free(tids);
    free(args);
    return rc;
}

int bench_run(const bench_cfg *cfg, const bench_pop *pop,
              const bench_dist *dist, bench_result *r)
{
    memset(r, 0, sizeof *r);
    if (hdr_init(&r->hist, HDR_LOWEST_NS, HDR_HIGHEST_NS, HDR_SIG_DIGITS) ||
        hdr_init(&r->late, HDR_LOWEST_NS, HDR_HIGHEST_NS, HDR_SIG_DIGITS))
        return -1;
    char sha[2][41] = {"", ""};
    if (cfg->target == TARGET_REDIS &&
        cfg->mix != MIX_PING && redis_load_scripts(cfg, sha[0], sha[1]) != 0)
        return -1;
    run_ctx run = {.cfg = cfg,
                   .be = cfg->target == TARGET_QUOTAD ? &bench_backend_quotad
                                                      : &bench_backend_redis};
    atomic_init(&run.phase, PHASE_WARMUP);
    run.w = calloc(cfg->conns, sizeof *run.w);
    int rc = run.w != NULL ? 0 : -1;
    if (rc == 0)
        rc = workers_open(&run, pop, dist, sha);
    if (rc == 0 && cfg->target == TARGET_QUOTAD)
        run.srv = srvlat_open(cfg);   /* optional: NULL = not reported */
    if (rc == 0)
        rc = run_threads(&run, r);
    if (rc == 0)
        rc = workers_merge(&run, r);
    if (run.w != NULL)
        workers_close(&run);
    if (run.srv != NULL)
        srvlat_close(run.srv);
    free(run.w);
    return rc;
}
