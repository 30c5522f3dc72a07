/* main -- quotad-gateway: listening socket, worker threads, signals.
 *
 * One listening socket; each worker thread accepts on its own dup() of it
 * with its own event_base and evhttp (the kernel hands each connection to
 * one of them). SIGINT/SIGTERM: the main thread stops every loop, then
 * tears the workers down: in-flight proxied requests are cancelled and
 * their holds voided (never left to expire), connections freed.
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration.
 */
#include "gw.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/thread.h>

#define MAIN_LISTEN_BACKLOG 1024
#define MAIN_HEADERS_BYTES_MAX (64 * 1024)
#define MAIN_CLIENT_TIMEOUT_S 60
#define MAIN_DRAIN_TICK_MS 50
#define MAIN_PORT_TEXT_BYTES 16
#define MAIN_EXIT_RUNTIME 1
#define MAIN_EXIT_CONFIG 2
#define MAIN_METHODS                                                       \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | \
     EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH)

/* Any mode answers GET /healthz without a key (for load balancers):
 * 200 while the process serves; in proxy and auth_request mode the body
 * also says how this worker's quotad link is and how many calls wait on
 * it (the answer is the worker's that took the connection). */
static bool main_health(gw_worker *w, struct evhttp_request *req)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
    if (path == NULL || strcmp(path, "/healthz") != 0)
        return false;
    struct evbuffer *b = evbuffer_new();
    int n = -1;
    if (b != NULL && w->cfg->mode_id == GW_MODE_FAKE)
        n = evbuffer_add_printf(b, "{\"status\":\"ok\"}");
    else if (b != NULL)
        n = evbuffer_add_printf(b, "{\"status\":\"ok\",\"quotad\":\"%s\","
                                "\"quotad_calls\":%zu}",
                                gw_qlink_state(&w->q),
                                gw_qlink_pending(&w->q));
    if (n > 0)
        gw_reply_json(req, HTTP_OK, b);
    else
        evhttp_send_reply(req, HTTP_INTERNAL, NULL, NULL);
    if (b != NULL)
        evbuffer_free(b);
    return true;
}

static void main_request(struct evhttp_request *req, void *arg)
{
    gw_worker *w = arg;
    if (w->draining) {      /* a keep-alive client's next request */
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Connection", "close");
        gw_reply_error(req, HTTP_SERVUNAVAIL,
                       "The gateway is shutting down; retry.",
                       "server_error", "gateway_shutting_down");
        return;
    }
    if (main_health(w, req))
        return;
    switch (w->cfg->mode_id) {
    case GW_MODE_AUTH:
        gw_auth_handle(w, req);
        break;
    case GW_MODE_FAKE:
        gw_fake_handle(w, req);
        break;
    case GW_MODE_PROXY:
    default:
        gw_proxy_handle(w, req);
        break;
    }
}

/* Bind host:port (numeric), listen; *port gets the bound port. */
static int main_listen(const char *host, uint32_t port, uint16_t *bound)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_PASSIVE |
                                         AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[MAIN_PORT_TEXT_BYTES];
    snprintf(ps, sizeof ps, "%u", port);
    int e = getaddrinfo(host, ps, &hints, &ai);
    if (e != 0) {
        gw_log(GW_LOG_ERROR, "listen %s: %s", host, gai_strerror(e));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, MAIN_LISTEN_BACKLOG) != 0 ||
        evutil_make_socket_nonblocking(fd) != 0) {
        gw_log(GW_LOG_ERROR, "listen %s:%u: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(ss.ss_family == AF_INET6
                       ? ((struct sockaddr_in6 *)&ss)->sin6_port
                       : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Write text to path atomically (tmp + rename): readers never see half. */
static int main_write_file(const char *path, const char *text)
{
    if (path[0] == '\0')
        return 0;
    char tmp[GW_PATH_BYTES + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0 || rc != 0 || rename(tmp, path) != 0) {
        gw_log(GW_LOG_ERROR, "write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Everything a worker owns, made in the main thread before it runs. */
static int main_worker_init(gw_worker *w, int listen_fd)
{
    w->base = event_base_new();
    w->http = w->base != NULL ? evhttp_new(w->base) : NULL;
    if (w->http == NULL)
        return -1;
    evhttp_set_max_body_size(w->http, w->cfg->body_bytes_max);
    evhttp_set_max_headers_size(w->http, MAIN_HEADERS_BYTES_MAX);
    /* Read an oversized body to its end before answering 413, so the
     * client gets the answer instead of a reset. */
    if (evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE) != 0)
        return -1;
    evhttp_set_timeout(w->http, MAIN_CLIENT_TIMEOUT_S);
    evhttp_set_allowed_methods(w->http, MAIN_METHODS);
    evhttp_set_default_content_type(w->http, "application/json");
    evhttp_set_gencb(w->http, main_request, w);
    int fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
    w->bound = fd >= 0 ? evhttp_accept_socket_with_handle(w->http, fd)
                       : NULL;
    if (w->bound == NULL) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    gw_qlink_init(&w->q, w->cfg, w->index);
    if (gw_qlink_start(&w->q, w->base) != 0 || gw_pool_init(w) != 0)
        return -1;
    return w->cfg->mode_id == GW_MODE_FAKE ? gw_fake_init(w) : 0;
}

/* Teardown order: requests still in flight first (upstream cancelled,
 * holds voided and quotad's answers awaited, so a client whose
 * connection closes next finds its hold already released), then evhttp,
 * pool, quotad, base. */
static void main_worker_free(gw_worker *w)
{
    if (w->base != NULL)
        gw_proxy_shutdown(w);
    if (w->drain_tick != NULL)
        event_free(w->drain_tick);
    if (w->http != NULL)
        evhttp_free(w->http);
    gw_fake_shutdown(w);
    if (w->base != NULL)
        gw_pool_shutdown(w);
    gw_qlink_close(&w->q);
    if (w->base != NULL)
        event_base_free(w->base);
}

/* Drained: no request in flight and no quotad call waiting. */
static bool main_drained(const gw_worker *w)
{
    return w->calls == NULL && gw_qlink_pending(&w->q) == 0;
}

static void main_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    gw_worker *w = arg;
    struct timeval tick = {0, MAIN_DRAIN_TICK_MS * 1000};
    (void)fd;
    (void)what;
    if (main_drained(w) || gw_mono_ms() >= w->drain_end_ms ||
        evtimer_add(w->drain_tick, &tick) != 0) {
        if (!main_drained(w))
            gw_log(GW_LOG_WARN, "worker %u: shutdown_grace_ms passed with "
                   "requests in flight; cutting them (holds voided)",
                   w->index);
        event_base_loopexit(w->base, NULL);
    }
}

/* In the worker's thread after a stop signal: accept no more
 * connections, answer new requests 503, let those in flight finish for
 * up to shutdown_grace_ms, then leave the loop. */
static void main_drain_start(evutil_socket_t fd, short what, void *arg)
{
    gw_worker *w = arg;
    (void)fd;
    (void)what;
    w->draining = true;
    if (w->bound != NULL)
        evhttp_del_accept_socket(w->http, w->bound);
    w->bound = NULL;
    w->drain_end_ms = gw_mono_ms() + (int64_t)w->cfg->shutdown_grace_ms;
    w->drain_tick = evtimer_new(w->base, main_drain_tick, w);
    if (w->cfg->mode_id == GW_MODE_FAKE || w->drain_tick == NULL)
        event_base_loopexit(w->base, NULL);
    else
        main_drain_tick(-1, 0, w);
}

static void *main_worker_run(void *arg)
{
    gw_worker *w = arg;
    if (event_base_dispatch(w->base) < 0)
        gw_log(GW_LOG_ERROR, "worker %u: event loop failed", w->index);
    __atomic_store_n(&w->loop_done, true, __ATOMIC_RELEASE);
    return NULL;
}

static bool main_all_done(const gw_worker *ws, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (!__atomic_load_n(&ws[i].loop_done, __ATOMIC_ACQUIRE))
            return false;
    return true;
}

/* While the workers drain, a second stop signal cuts the grace short. */
static void main_wait_drained(gw_worker *ws, unsigned n, const sigset_t *set)
{
    struct timespec tick = {0, MAIN_DRAIN_TICK_MS * 1000000L};
    while (!main_all_done(ws, n)) {
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig <= 0)
            continue;
        gw_log(GW_LOG_WARN, "signal %d again: cutting the requests in "
               "flight now (holds voided)", sig);
        for (unsigned i = 0; i < n; i++)
            event_base_loopexit(ws[i].base, NULL);
        return;
    }
}

/* Block the stop signals in every thread; main waits for them. */
static int main_signals(sigset_t *set)
{
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return -1;
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    return pthread_sigmask(SIG_BLOCK, set, NULL) == 0 ? 0 : -1;
}

/* Run n workers until a stop signal, then drain them (the listening
 * socket closes at once, so a load balancer sees new connections
 * refused); returns 0 or -1. */
static int main_run(gw_worker *ws, unsigned n, const sigset_t *set,
                    int *listen_fd)
{
    pthread_t tid[GW_THREADS_MAX];
    unsigned started = 0;
    for (; started < n; started++)
        if (pthread_create(&tid[started], NULL, main_worker_run,
                           &ws[started]) != 0)
            break;
    int sig = 0, rc = started == n ? 0 : -1;
    if (rc == 0 && sigwait(set, &sig) == 0)
        gw_log(GW_LOG_INFO, "signal %d: stopping (up to %u ms for requests "
               "in flight)", sig, ws[0].cfg->shutdown_grace_ms);
    close(*listen_fd);
    *listen_fd = -1;
    struct timeval now = {0, 0};
    for (unsigned i = 0; i < started; i++)
        if (rc != 0 || event_base_once(ws[i].base, -1, EV_TIMEOUT,
                                       main_drain_start, &ws[i], &now) != 0)
            event_base_loopexit(ws[i].base, NULL);
    main_wait_drained(ws, started, set);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    return rc;
}

static int main_serve(const gw_config *cfg, const gw_prices *prices,
                      const sigset_t *set)
{
    uint16_t port = 0;
    int fd = main_listen(cfg->host, cfg->port, &port);
    if (fd < 0)
        return MAIN_EXIT_RUNTIME;
    gw_worker *ws = calloc(cfg->threads, sizeof *ws);
    int rc = ws == NULL ? -1 : 0;
    for (unsigned i = 0; rc == 0 && i < cfg->threads; i++) {
        ws[i] = (gw_worker){.index = i, .cfg = cfg, .prices = prices};
        rc = main_worker_init(&ws[i], fd);
    }
    char text[MAIN_PORT_TEXT_BYTES];
    snprintf(text, sizeof text, "%u\n", (unsigned)port);
    if (rc == 0)
        rc = main_write_file(cfg->port_file, text);
    snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (rc == 0)
        rc = main_write_file(cfg->pid_file, text);
    if (rc == 0) {
        gw_log(GW_LOG_INFO, "quotad-gateway %s listening on %s port %u, %u "
               "threads", cfg->mode, cfg->host, (unsigned)port,
               cfg->threads);
        rc = main_run(ws, cfg->threads, set, &fd);
    } else {
        gw_log(GW_LOG_ERROR, "cannot start the workers");
    }
    for (unsigned i = 0; ws != NULL && i < cfg->threads; i++)
        main_worker_free(&ws[i]);
    free(ws);
    if (fd >= 0)
        close(fd);
    return rc == 0 ? 0 : MAIN_EXIT_RUNTIME;
}

int main(int argc, char **argv)
{
    static gw_config cfg;
    int rc = gw_config_load(&cfg, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : MAIN_EXIT_CONFIG;
    gw_prices prices = {0};
    if (cfg.mode_id == GW_MODE_PROXY && gw_prices_load(cfg.prices, &prices))
        return MAIN_EXIT_CONFIG;
    sigset_t set;
    if (main_signals(&set) != 0 || evthread_use_pthreads() != 0) {
        gw_log(GW_LOG_ERROR, "cannot set up signals or threads");
        gw_prices_free(&prices);
        return MAIN_EXIT_RUNTIME;
    }
    rc = main_serve(&cfg, &prices, &set);
    gw_prices_free(&prices);
    if (rc == 0)
        gw_log(GW_LOG_INFO, "quotad-gateway stopped");
    return rc;
}
