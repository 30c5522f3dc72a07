/* upstream -- each worker's keep-alive connections to the upstream.
 *
 * An evhttp client connection carries one request at a time, so a worker
 * keeps a stack of idle ones (at most upstream_pool) and opens more under
 * load. A connection is never freed inside one of its own request
 * callbacks (libevent still touches it after the callback returns): extra
 * ones go to dead[] and the reaper event frees them on the next loop turn.
 */
#include "gw.h"

#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#define POOL_PEEK_VECS 16
#define POOL_DEAD_INITIAL 16u

static void pool_reap(evutil_socket_t fd, short what, void *arg)
{
    gw_worker *w = arg;
    (void)fd;
    (void)what;
    for (size_t i = 0; i < w->dead_n; i++)
        evhttp_connection_free(w->dead[i]);
    w->dead_n = 0;
}

int gw_pool_init(gw_worker *w)
{
    w->pool = calloc(w->cfg->upstream_pool + 1u, sizeof *w->pool);
    w->reaper = evtimer_new(w->base, pool_reap, w);
    return w->pool != NULL && w->reaper != NULL ? 0 : -1;
}

struct evhttp_connection *gw_pool_take(gw_worker *w, bool stream)
{
    const gw_config *cfg = w->cfg;
    struct evhttp_connection *c = NULL;
    if (w->pool_n > 0) {
        c = w->pool[--w->pool_n];
    } else {
        c = evhttp_connection_base_new(w->base, NULL, cfg->up_host,
                                       cfg->up_port);
        if (c == NULL)
            return NULL;
        struct timeval tv = {
            .tv_sec = cfg->upstream_timeout_ms / GW_MS_PER_S,
            .tv_usec = (cfg->upstream_timeout_ms % GW_MS_PER_S) * 1000};
        evhttp_connection_set_timeout_tv(c, &tv);
    }
    evhttp_connection_set_max_body_size(
        c, stream ? -1 : (ev_ssize_t)cfg->reply_bytes_max);
    return c;
}

/* Grow dead[] geometrically; on failure the connection leaks rather
 * than being freed under libevent's feet. */
static void pool_retire(gw_worker *w, struct evhttp_connection *c)
{
    if (w->dead_n == w->dead_cap) {
        size_t cap = w->dead_cap == 0 ? POOL_DEAD_INITIAL : 2 * w->dead_cap;
        void *p = realloc(w->dead, cap * sizeof *w->dead);
        if (p == NULL) {
            gw_log(GW_LOG_ERROR, "out of memory retiring a connection");
            return;
        }
        w->dead = p;
        w->dead_cap = cap;
    }
    w->dead[w->dead_n++] = c;
    struct timeval now = {0, 0};
    if (evtimer_add(w->reaper, &now) != 0)
        gw_log(GW_LOG_ERROR, "cannot schedule the connection reaper");
}

void gw_pool_give(gw_worker *w, struct evhttp_connection *c)
{
    if (c == NULL)
        return;
    if (w->pool_n < w->cfg->upstream_pool)
        w->pool[w->pool_n++] = c;
    else
        pool_retire(w, c);
}

/* After every request was cancelled or finished. */
void gw_pool_shutdown(gw_worker *w)
{
    pool_reap(-1, 0, w);
    for (size_t i = 0; i < w->pool_n; i++)
        evhttp_connection_free(w->pool[i]);
    w->pool_n = 0;
    free(w->pool);
    free(w->dead);
    w->pool = NULL;
    w->dead = NULL;
    if (w->reaper != NULL)
        event_free(w->reaper);
    w->reaper = NULL;
}

int gw_buffer_copy(struct evbuffer *dst, struct evbuffer *src)
{
    size_t left = evbuffer_get_length(src);
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(src, &pos, 0, EVBUFFER_PTR_SET) != 0)
        return -1;
    struct evbuffer_iovec v[POOL_PEEK_VECS];
    while (left > 0) {
        int k = evbuffer_peek(src, (ev_ssize_t)left, &pos, v, POOL_PEEK_VECS);
        if (k <= 0)
            return -1;
        int used = k < POOL_PEEK_VECS ? k : POOL_PEEK_VECS;
        size_t done = 0;
        for (int j = 0; j < used; j++) {
            size_t len = v[j].iov_len < left - done ? v[j].iov_len
                                                    : left - done;
            if (evbuffer_add(dst, v[j].iov_base, len) != 0)
                return -1;
            done += len;
        }
        left -= done;
        if (left > 0 &&
            evbuffer_ptr_set(src, &pos, done, EVBUFFER_PTR_ADD) != 0)
            return -1;
    }
    return 0;
}
