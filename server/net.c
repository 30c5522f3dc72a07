/* net -- the listening socket, the worker threads and shutdown (see net.h
 * for the thread diagram).
 */
#include "net.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <xxhash.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "conn.h"
#include "limits.h"
#include "log.h"
#include "plog.h"
#include "stats.h"

/* One worker thread: its base, its connections, its inbox of fds. */
typedef struct net_worker {
    uint32_t idx;
    net *owner;
    pthread_t tid;
    bool started;                 /* tid is joinable */
    struct event_base *base;      /* EVENT_BASE_FLAG_NOLOCK: this thread */
    int efd;                      /* eventfd: "look at your inbox" */
    struct event *notify_ev;      /* efd readable */
    _Atomic int alert_kick;       /* alert events queued */
    struct event *sweep_ev;       /* NULL if this worker owns no shard */
    uint32_t shard_first, shard_count;
    conn_env env;

    /* Crosses threads: guarded by mu. */
    pthread_mutex_t mu;
    bool mu_ready;
    bool quit;
    uint32_t q_head, q_len;
    uint64_t q[NET_ACCEPT_QUEUE_MAX]; /* (ip bucket << 32 | fd), ring */
} net_worker;

/* The whole network layer; owned and used by the main thread. */
struct net {
    const qd_config *cfg;
    store *st;
    struct event_base *base;
    struct evconnlistener *lst;
    struct evconnlistener *lst_unix;  /* NULL unless unix_socket is set */
    bool unix_bound;                  /* remove the socket file at close */
    struct event *sig_term, *sig_int;
    struct event *accept_retry;   /* re-enables accept after EMFILE */
    net_worker *workers;
    uint32_t n_workers;
    uint32_t rr;                  /* next worker, round robin */
    _Atomic uint32_t n_conns;     /* open + queued connections */
    _Atomic uint32_t *ip_conns;   /* per address bucket; NULL = no limit */
    uint16_t port;
    bool wrote_pid, wrote_port;
    uint64_t accepted, rejected;  /* stats, main thread only */
};

static struct timeval net_tv(uint32_t ms)
{
    struct timeval tv = {
        .tv_sec = (time_t)(ms / 1000u),
        .tv_usec = (suseconds_t)((ms % 1000u) * 1000u),
    };
    return tv;
}

uint32_t net_workers_resolve(uint32_t configured)
{
    if (configured > 0)
        return configured > WORKERS_MAX ? WORKERS_MAX : configured;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        return 1;
    return cores > (long)WORKERS_MAX ? WORKERS_MAX : (uint32_t)cores;
}

uint16_t net_port(const net *n)
{
    return n->port;
}

uint32_t net_workers(const net *n)
{
    return n->n_workers;
}

/* ---- small files written atomically ----------------------------------- */

/* After a rename the directory entry is durable only once the directory
 * itself is fsync'd. */
static int net_fsync_dir_of(const char *path)
{
    char dir[CONFIG_PATH_BYTES_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dir, sizeof dir, ".");
    } else {
        size_t len = slash == path ? 1 : (size_t)(slash - path);
        if (len >= sizeof dir)
            return -1;
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int net_write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Write text to path via tmp + fsync + rename, so a reader polling for
 * the file never sees it half written. */
static int net_file_write_atomic(const char *path, const char *text)
{
    char tmp[CONFIG_PATH_BYTES_MAX + 32];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (net_write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return net_fsync_dir_of(path);
}

static int net_write_files(net *n)
{
    char text[32];
    if (n->cfg->pid_file[0] != '\0') {
        snprintf(text, sizeof text, "%ld\n", (long)getpid());
        if (net_file_write_atomic(n->cfg->pid_file, text) != 0) {
            log_error("pid_file %s: %s", n->cfg->pid_file, strerror(errno));
            return -1;
        }
        n->wrote_pid = true;
    }
    if (n->cfg->port_file[0] != '\0') {
        snprintf(text, sizeof text, "%u\n", (unsigned)n->port);
        if (net_file_write_atomic(n->cfg->port_file, text) != 0) {
            log_error("port_file %s: %s", n->cfg->port_file,
                      strerror(errno));
            return -1;
        }
        n->wrote_port = true;
    }
    return 0;
}

static void net_remove_files(net *n)
{
    if (n->wrote_port && unlink(n->cfg->port_file) != 0)
        log_warn("remove %s: %s", n->cfg->port_file, strerror(errno));
    if (n->wrote_pid && unlink(n->cfg->pid_file) != 0)
        log_warn("remove %s: %s", n->cfg->pid_file, strerror(errno));
    n->wrote_port = n->wrote_pid = false;
}

/* ---- worker inbox (crosses threads) ----------------------------------- */

static void net_worker_kick(net_worker *w)
{
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(w->efd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof one)
        log_error("worker %u: eventfd write: %s", w->idx, strerror(errno));
}

/* conn_env.wake: any thread may wake worker w's loop. */
static void net_worker_wake(void *arg)
{
    net_worker_kick(arg);
}

/* Main thread: queue fd for worker w. -1 if its inbox is full. */
static int net_worker_push(net_worker *w, int fd, uint32_t bucket)
{
    pthread_mutex_lock(&w->mu);
    if (w->q_len == NET_ACCEPT_QUEUE_MAX) {
        pthread_mutex_unlock(&w->mu);
        return -1;
    }
    w->q[(w->q_head + w->q_len) % NET_ACCEPT_QUEUE_MAX] =
        (uint64_t)bucket << 32 | (uint32_t)fd;
    w->q_len++;
    pthread_mutex_unlock(&w->mu);
    net_worker_kick(w);
    return 0;
}

static void net_worker_tell_quit(net_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_mutex_unlock(&w->mu);
    net_worker_kick(w);
}

/* Worker thread: next queued fd, or -1 if none (or quitting). */
static int net_worker_pop(net_worker *w, bool *quit, uint32_t *bucket)
{
    int fd = -1;
    pthread_mutex_lock(&w->mu);
    *quit = w->quit;
    if (!w->quit && w->q_len > 0) {
        fd = (int)(uint32_t)w->q[w->q_head];
        *bucket = (uint32_t)(w->q[w->q_head] >> 32);
        w->q_head = (w->q_head + 1) % NET_ACCEPT_QUEUE_MAX;
        w->q_len--;
    }
    pthread_mutex_unlock(&w->mu);
    return fd;
}

/* Fds accepted but never adopted: close them and give back their slots. */
static void net_worker_drain_inbox(net_worker *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->q_len > 0) {
        uint64_t e = w->q[w->q_head];
        close((int)(uint32_t)e);
        uint32_t bucket = (uint32_t)(e >> 32);
        if (w->owner->ip_conns != NULL && bucket != NET_IP_BUCKET_NONE)
            atomic_fetch_sub(&w->owner->ip_conns[bucket], 1u);
        w->q_head = (w->q_head + 1) % NET_ACCEPT_QUEUE_MAX;
        w->q_len--;
        atomic_fetch_sub(&w->owner->n_conns, 1u);
    }
    pthread_mutex_unlock(&w->mu);
}

/* ---- worker thread ---------------------------------------------------- */

/* The eventfd fired: adopt queued fds (bounded per call: any fd queued
 * after our read re-arms the eventfd), or leave the loop on quit. */
static void net_notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    net_worker *w = arg;
    uint64_t count;
    if (read(fd, &count, sizeof count) < 0 && errno != EAGAIN)
        log_warn("worker %u: eventfd read: %s", w->idx, strerror(errno));
    if (atomic_exchange(&w->env.durable_kick, 0) != 0)
        conn_durable(&w->env);
    if (atomic_exchange(&w->alert_kick, 0) != 0)
        conn_alerts(&w->env);
    for (uint32_t i = 0; i < NET_ACCEPT_QUEUE_MAX; i++) {
        bool quit = false;
        uint32_t bucket = NET_IP_BUCKET_NONE;
        int cfd = net_worker_pop(w, &quit, &bucket);
        if (quit) {
            event_base_loopbreak(w->base);
            return;
        }
        if (cfd < 0)
            return;
        (void)conn_open(&w->env, cfd, bucket); /* cleans up on error */
    }
}

static void net_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    net_worker *w = arg;
    store *st = w->env.st;
    uint32_t n = store_sweep(st, w->shard_first, w->shard_count,
                             st->now_ms());
    if (n > 0)
        log_debug("worker %u: released %u expired holds", w->idx, n);
}

static void *net_worker_main(void *arg)
{
    net_worker *w = arg;
    char name[16]; /* the kernel's limit, NUL included (top -H, perf) */
    snprintf(name, sizeof name, "qd-worker-%u", w->idx);
    (void)pthread_setname_np(pthread_self(), name);
    conn_env_bind(&w->env);
    for (;;) {
        int rc = event_base_loop(w->base, EVLOOP_ONCE);
        if (rc < 0)
            log_error("worker %u: event loop failed", w->idx);
        if (rc != 0 || event_base_got_break(w->base))
            break;
        conn_env_after_pass(&w->env);
    }
    conn_close_all(&w->env);
    net_worker_drain_inbox(w);
    return NULL;
}

/* Worker i of N sweeps shards [i*S/N, (i+1)*S/N): every shard exactly
 * once, none if N > S leaves it an empty slice. */
static void net_worker_slice(net_worker *w, uint32_t n_workers,
                             uint32_t shards)
{
    uint64_t first = (uint64_t)w->idx * shards / n_workers;
    uint64_t end = ((uint64_t)w->idx + 1) * shards / n_workers;
    assert(first <= end && end <= shards);
    w->shard_first = (uint32_t)first;
    w->shard_count = (uint32_t)(end - first);
}

static struct event_base *net_base_nolock(void)
{
    struct event_config *ec = event_config_new();
    if (ec == NULL)
        return NULL;
    struct event_base *b = NULL;
    if (event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK) == 0)
        b = event_base_new_with_config(ec);
    event_config_free(ec);
    return b;
}

/* Everything a worker needs before its thread starts. On error the caller
 * runs net_worker_free. */
static int net_worker_init(net *n, net_worker *w, uint32_t idx)
{
    w->idx = idx;
    w->owner = n;
    w->efd = -1;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return -1;
    w->mu_ready = true;
    w->base = net_base_nolock();
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->base == NULL || w->efd < 0)
        return -1;
    w->notify_ev = event_new(w->base, w->efd, EV_READ | EV_PERSIST,
                             net_notify_cb, w);
    if (w->notify_ev == NULL || event_add(w->notify_ev, NULL) != 0)
        return -1;
    w->env = (conn_env){
        .base = w->base,
        .st = n->st,
        .idle_timeout_ms = n->cfg->idle_timeout_ms,
        .write_timeout_ms = n->cfg->write_timeout_ms,
        .n_conns = &n->n_conns,
        .ip_conns = n->ip_conns,
        .plog = n->st->plog,
        .wake = net_worker_wake,
        .wake_arg = w,
    };
    net_worker_slice(w, n->n_workers, n->st->opt.shards);
    if (w->shard_count == 0)
        return 0;
    struct timeval tv = net_tv(HOLD_SWEEP_INTERVAL_MS);
    w->sweep_ev = event_new(w->base, -1, EV_PERSIST, net_sweep_cb, w);
    if (w->sweep_ev == NULL || event_add(w->sweep_ev, &tv) != 0)
        return -1;
    return 0;
}

/* After the thread was joined (or never started). */
static void net_worker_free(net_worker *w)
{
    assert(!w->started);
    assert(w->env.live == NULL);
    if (w->mu_ready)
        net_worker_drain_inbox(w);
    if (w->sweep_ev != NULL)
        event_free(w->sweep_ev);
    if (w->notify_ev != NULL)
        event_free(w->notify_ev);
    if (w->base != NULL)
        event_base_free(w->base);
    if (w->efd >= 0)
        close(w->efd);
    if (w->mu_ready)
        pthread_mutex_destroy(&w->mu);
}

/* Workers must not take SIGTERM/SIGINT: the main base handles them. */
static int net_start_workers(net *n)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &block, &old) != 0)
        return -1;
    int rc = 0;
    for (uint32_t i = 0; i < n->n_workers && rc == 0; i++) {
        net_worker *w = &n->workers[i];
        rc = pthread_create(&w->tid, NULL, net_worker_main, w);
        if (rc != 0)
            log_error("worker %u: pthread_create: %s", i, strerror(rc));
        else
            w->started = true;
    }
    if (pthread_sigmask(SIG_SETMASK, &old, NULL) != 0)
        rc = -1;
    return rc == 0 ? 0 : -1;
}

/* Log writer thread: durable_seq moved (or the log failed). Each worker
 * that holds parked replies releases them on its own thread; the others
 * sleep on (with many cores most have none at a given commit). */
static void net_durable_cb(void *arg)
{
    net *n = arg;
    for (uint32_t i = 0; i < n->n_workers; i++) {
        net_worker *w = &n->workers[i];
        if (w->started)
            conn_env_notify(&w->env);
    }
}

/* Log writer thread (plog_gate): every worker has sent the replies it
 * was notified of, up to upto. */
static bool net_released_cb(void *arg, uint64_t upto)
{
    net *n = arg;
    for (uint32_t i = 0; i < n->n_workers; i++) {
        net_worker *w = &n->workers[i];
        if (w->started && !conn_env_released(&w->env, upto))
            return false;
    }
    return true;
}

/* Alert queue (any thread, under its mutex): wake every worker. */
static void net_alert_cb(void *arg)
{
    net *n = arg;
    for (uint32_t i = 0; i < n->n_workers; i++) {
        net_worker *w = &n->workers[i];
        if (!w->started)
            continue;
        atomic_store(&w->alert_kick, 1);
        net_worker_kick(w);
    }
}

static void net_stop_workers(net *n)
{
    for (uint32_t i = 0; i < n->n_workers; i++)
        if (n->workers[i].started)
            net_worker_tell_quit(&n->workers[i]);
    for (uint32_t i = 0; i < n->n_workers; i++) {
        net_worker *w = &n->workers[i];
        if (!w->started)
            continue;
        int rc = pthread_join(w->tid, NULL);
        if (rc != 0)
            log_error("worker %u: pthread_join: %s", i, strerror(rc));
        w->started = false;
    }
}

/* ---- main thread: accept and signals ---------------------------------- */

/* Bucket of the client's address (v4-mapped v6 counts as v4). */
static uint32_t net_ip_bucket(const struct sockaddr *sa)
{
    const void *p = NULL;
    size_t len = 0;
    if (sa->sa_family == AF_INET) {
        p = &((const struct sockaddr_in *)sa)->sin_addr;
        len = 4;
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                           0xff, 0xff};
        bool v4 = memcmp(a, mapped, sizeof mapped) == 0;
        p = v4 ? a + 12 : a;
        len = v4 ? 4 : 16;
    } else {
        return NET_IP_BUCKET_NONE;
    }
    return (uint32_t)(XXH3_64bits(p, len) & (NET_IP_BUCKETS - 1u));
}

/* Count the connection against its address; false if over the limit. */
static bool net_ip_admit(net *n, uint32_t bucket)
{
    if (n->ip_conns == NULL || bucket == NET_IP_BUCKET_NONE)
        return true;
    uint32_t now = atomic_fetch_add(&n->ip_conns[bucket], 1u) + 1u;
    if (now <= n->cfg->conns_per_ip_max)
        return true;
    atomic_fetch_sub(&n->ip_conns[bucket], 1u);
    return false;
}

static void net_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                          struct sockaddr *sa, int socklen, void *arg)
{
    (void)l;
    (void)socklen;
    net *n = arg;
    uint32_t bucket = net_ip_bucket(sa);
    if (!net_ip_admit(n, bucket)) {
        STAT_INC(conns_refused_ip);
        close(fd);
        n->rejected++;
        log_debug("conns_per_ip_max (%u) reached: connection refused",
                  n->cfg->conns_per_ip_max);
        return;
    }
    uint32_t open_now = atomic_fetch_add(&n->n_conns, 1u) + 1u;
    if (open_now > n->cfg->conns_max) {
        STAT_INC(conns_refused_max);
        atomic_fetch_sub(&n->n_conns, 1u);
        if (n->ip_conns != NULL && bucket != NET_IP_BUCKET_NONE)
            atomic_fetch_sub(&n->ip_conns[bucket], 1u);
        close(fd);
        n->rejected++;
        log_debug("conns_max (%u) reached: connection refused",
                  n->cfg->conns_max);
        return;
    }
    net_worker *w = &n->workers[n->rr];
    n->rr = (n->rr + 1) % n->n_workers;
    if (net_worker_push(w, fd, bucket) != 0) {
        atomic_fetch_sub(&n->n_conns, 1u);
        if (n->ip_conns != NULL && bucket != NET_IP_BUCKET_NONE)
            atomic_fetch_sub(&n->ip_conns[bucket], 1u);
        close(fd);
        n->rejected++;
        log_warn("worker %u inbox full: connection refused", w->idx);
        return;
    }
    n->accepted++;
    STAT_INC(conns_accepted);
}

/* Out of fds (or memory): retrying at once would spin, so pause accepting
 * for NET_ACCEPT_RETRY_MS and let connections close meanwhile. */
static void net_accept_error_cb(struct evconnlistener *l, void *arg)
{
    net *n = arg;
    int err = EVUTIL_SOCKET_ERROR();
    log_warn("accept: %s", strerror(err));
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
        return;
    struct timeval tv = net_tv(NET_ACCEPT_RETRY_MS);
    if (evconnlistener_disable(l) != 0 ||
        event_add(n->accept_retry, &tv) != 0)
        log_error("accept: cannot pause accepting");
}

static void net_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    net *n = arg;
    if (evconnlistener_enable(n->lst) != 0 ||
        (n->lst_unix != NULL && evconnlistener_enable(n->lst_unix) != 0))
        log_error("accept: cannot resume accepting");
}

static void net_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    net *n = arg;
    log_info("signal %d: shutting down", (int)sig);
    if (n->lst != NULL)
        (void)evconnlistener_disable(n->lst);
    event_base_loopbreak(n->base);
}

/* ---- listen ----------------------------------------------------------- */

static uint16_t net_bound_port(evutil_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* Try each address host resolves to (v4 or v6) until one binds. */
static int net_listen(net *n)
{
    const qd_config *c = n->cfg;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)c->port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(c->host, port, &hints, &res);
    if (gai != 0) {
        log_error("listen %s: %s", c->host, gai_strerror(gai));
        return -1;
    }
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                     LEV_OPT_CLOSE_ON_EXEC;
    int err = 0;
    for (struct addrinfo *a = res; a != NULL && n->lst == NULL;
         a = a->ai_next) {
        n->lst = evconnlistener_new_bind(n->base, net_accept_cb, n, flags,
                                         LISTEN_BACKLOG, a->ai_addr,
                                         (int)a->ai_addrlen);
        if (n->lst == NULL)
            err = errno;
    }
    freeaddrinfo(res);
    if (n->lst == NULL) {
        log_error("listen %s:%u: %s", c->host, (unsigned)c->port,
                  strerror(err));
        return -1;
    }
    evconnlistener_set_error_cb(n->lst, net_accept_error_cb);
    n->port = net_bound_port(evconnlistener_get_fd(n->lst));
    return n->port == 0 ? -1 : 0;
}

/* The optional Unix socket: access is decided by its file permissions
 * (set before listen, so there is no window with the default mode). */
static int net_listen_unix(net *n)
{
    const qd_config *c = n->cfg;
    if (c->unix_socket[0] == '\0')
        return 0;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", c->unix_socket);
    (void)unlink(c->unix_socket);     /* a stale socket of a dead run */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
        chmod(c->unix_socket, (mode_t)c->unix_socket_mode) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0) {
        log_error("unix socket %s: %s", c->unix_socket, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    n->unix_bound = true;
    n->lst_unix = evconnlistener_new(n->base, net_accept_cb, n,
                                     LEV_OPT_CLOSE_ON_FREE |
                                         LEV_OPT_CLOSE_ON_EXEC,
                                     0, fd);
    if (n->lst_unix == NULL) {
        close(fd);
        return -1;
    }
    evconnlistener_set_error_cb(n->lst_unix, net_accept_error_cb);
    return 0;
}

/* Main base, signal events and the accept-retry timer. */
static int net_main_events(net *n)
{
    n->base = event_base_new();
    if (n->base == NULL)
        return -1;
    n->sig_term = evsignal_new(n->base, SIGTERM, net_signal_cb, n);
    n->sig_int = evsignal_new(n->base, SIGINT, net_signal_cb, n);
    n->accept_retry = evtimer_new(n->base, net_accept_retry_cb, n);
    if (n->sig_term == NULL || n->sig_int == NULL || n->accept_retry == NULL)
        return -1;
    if (event_add(n->sig_term, NULL) != 0 || event_add(n->sig_int, NULL) != 0)
        return -1;
    return 0;
}

int net_open(const qd_config *c, store *st, net **out)
{
    assert(c != NULL && st != NULL && out != NULL);
    *out = NULL;
    net *n = calloc(1, sizeof *n);
    if (n == NULL)
        return -1;
    n->cfg = c;
    n->st = st;
    n->n_workers = net_workers_resolve(c->workers);
    if (c->conns_per_ip_max > 0) {
        n->ip_conns = calloc(NET_IP_BUCKETS, sizeof *n->ip_conns);
        if (n->ip_conns == NULL)
            goto fail;
    }
    n->workers = calloc(n->n_workers, sizeof *n->workers);
    if (n->workers == NULL)
        goto fail;
    for (uint32_t i = 0; i < n->n_workers; i++)
        n->workers[i].efd = -1;
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || net_main_events(n) != 0) {
        log_error("net: cannot set up the main event loop");
        goto fail;
    }
    if (net_listen(n) != 0 || net_listen_unix(n) != 0)
        goto fail;
    for (uint32_t i = 0; i < n->n_workers; i++) {
        if (net_worker_init(n, &n->workers[i], i) != 0) {
            log_error("worker %u: setup failed", i);
            goto fail;
        }
    }
    if (net_start_workers(n) != 0)
        goto fail;
    if (st->plog != NULL)
        plog_set_notify(st->plog, net_durable_cb, net_released_cb, n);
    alert_queue_set_notify(&st->alerts, net_alert_cb, n);
    if (net_write_files(n) != 0)
        goto fail;
    *out = n;
    return 0;
fail:
    net_close(n);
    return -1;
}

int net_run(net *n)
{
    assert(n != NULL && n->base != NULL);
    int rc = event_base_dispatch(n->base);
    if (rc < 0) {
        log_error("net: main event loop failed");
        return -1;
    }
    return 0;
}

void net_close(net *n)
{
    if (n == NULL)
        return;
    if (n->lst != NULL)
        evconnlistener_free(n->lst);     /* closes the listening socket */
    n->lst = NULL;
    if (n->lst_unix != NULL)
        evconnlistener_free(n->lst_unix);
    n->lst_unix = NULL;
    if (n->unix_bound && unlink(n->cfg->unix_socket) != 0)
        log_warn("remove %s: %s", n->cfg->unix_socket, strerror(errno));
    if (n->st != NULL && n->st->plog != NULL)
        plog_set_notify(n->st->plog, NULL, NULL, NULL);
    if (n->st != NULL)
        alert_queue_set_notify(&n->st->alerts, NULL, NULL);
    if (n->workers != NULL) {
        net_stop_workers(n);
        for (uint32_t i = 0; i < n->n_workers; i++)
            net_worker_free(&n->workers[i]);
        free(n->workers);
    }
    assert(atomic_load(&n->n_conns) == 0);
    net_remove_files(n);
    if (n->accepted + n->rejected > 0)
        log_info("net: %" PRIu64 " connections served, %" PRIu64
                 " refused", n->accepted, n->rejected);
    if (n->sig_term != NULL)
        event_free(n->sig_term);
    if (n->sig_int != NULL)
        event_free(n->sig_int);
    if (n->accept_retry != NULL)
        event_free(n->accept_retry);
    if (n->base != NULL)
        event_base_free(n->base);
    free((void *)n->ip_conns);
    free(n);
}
