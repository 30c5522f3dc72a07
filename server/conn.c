/* conn -- one client connection: frames in, replies out (see conn.h).
 *
 * Memory per connection is bounded on both sides:
 *   input:  the bufferevent stops reading from the socket once
 *           CONN_IN_BYTES_MAX bytes wait (read high watermark);
 *   decode: frames decoded ahead of running them (conn_batch) come from
 *           at most PREFETCH_BYTES_MAX input bytes, or are one frame
 *           alone, each in its own capped heap (DECODE_HEAP_BYTES_MAX);
 *   output: once more than CONN_OUT_BYTES_MAX reply bytes are queued we
 *           stop parsing and reading (paused); the write callback, which
 *           fires when output drains to CONN_OUT_BYTES_MAX / 2 (write low
 *           watermark), resumes us. A client that reads nothing for
 *           write_timeout_ms gets the bufferevent's write timeout: closed.
 *
 * Writing: each pass ends with one direct write (conn_flush). The
 * bufferevent's write event stays disabled unless that write leaves bytes
 * behind (a full socket buffer); then libevent finishes the job, with the
 * write timeout, and conn_write_cb disables it again once the output is
 * empty. Arming it for every reply would cost two epoll_ctl calls and one
 * more loop turn per pass, and send each reply one turn later.
 */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "connpark.h"
#include "lathist.h"
#include "limits.h"
#include "log.h"
#include "ops.h"
#include "plog.h"
#include "stats.h"
#include "qd_frame.h"
#include "quotad.pb-c.h"

/* Output length at which a paused connection starts reading again. */
#define CONN_OUT_RESUME_BYTES (CONN_OUT_BYTES_MAX / 2u)

_Static_assert(CONN_OUT_RESUME_BYTES < CONN_OUT_BYTES_MAX,
               "resume below the pause point, or we would flap");

enum conn_state { CONN_OPEN, CONN_FLUSHING, CONN_LINGER };

/* Result of trying to handle one frame. */
enum conn_step {
    STEP_FRAME,   /* a frame was handled; there may be more */
    STEP_WAIT,    /* no whole frame buffered */
    STEP_STOP,    /* paused or closing: stop parsing for now */
    STEP_FAIL,    /* out of memory or similar: close at once */
};

/* One client connection. Lives on one worker's base; see conn.h. */
struct conn {
    uint32_t ip_bucket;            /* per-address counter we hold */
    ops_session sess;              /* who this connection is (HELLO) */
    parkq park;                    /* replies waiting for the log */
    conn_env *env;
    lathist_rx rx;                 /* when the buffered input was read */
    struct bufferevent *bev;     /* owns the fd (BEV_OPT_CLOSE_ON_FREE) */
    struct event *resume;        /* zero-delay timer: parse more frames */
    conn *prev, *next;           /* env->live list */
    enum conn_state state;
    bool paused;                 /* output over CONN_OUT_BYTES_MAX */
    bool eof;                    /* peer finished sending */
    uint64_t linger_bytes;       /* discarded while lingering */
};

static void conn_process(conn *c);
static void conn_write_cb(struct bufferevent *bev, void *arg);

/* ---- lifetime ---------------------------------------------------------- */

static void conn_release_slot(conn_env *env, uint32_t ip_bucket)
{
    uint32_t before = atomic_fetch_sub(env->n_conns, 1u);
    assert(before > 0);
    (void)before;
    if (env->ip_conns != NULL && ip_bucket != NET_IP_BUCKET_NONE)
        atomic_fetch_sub(&env->ip_conns[ip_bucket], 1u);
}

/* Free everything; closes the socket. The single way a connection ends. */
static void conn_free(conn *c)
{
    conn_env *env = c->env;
    assert(env->n_live > 0);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        env->live = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    env->n_live--;
    if (c->park.n > 0)
        atomic_fetch_sub(&env->parked_conns, 1u);
    parkq_free(&c->park);
    event_free(c->resume);
    bufferevent_free(c->bev);
    uint32_t bucket = c->ip_bucket;
    free(c);
    conn_release_slot(env, bucket);
}

void conn_close_all(conn_env *env)
{
    uint32_t n = env->n_live;
    while (env->live != NULL)
        conn_free(env->live);
    assert(env->n_live == 0);
    if (n > 0)
        log_debug("closed %u connections at shutdown", n);
}

/* ---- closing ----------------------------------------------------------- */

/* Stop reading and parsing; the write callback then fires once the output
 * is empty (low watermark 0). Never frees c. */
static void conn_mark_closing(conn *c)
{
    if (c->state != CONN_OPEN)
        return;
    c->state = CONN_FLUSHING;
    if (bufferevent_disable(c->bev, EV_READ) != 0)
        log_debug("conn: disable read failed");
    (void)event_del(c->resume);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
}

/* Our side is done: shut down writing so the peer sees FIN after the last
 * reply, then read and discard until its FIN (bounded in time and bytes),
 * because closing with unread input would send RST and could destroy the
 * reply in flight. */
static void conn_start_linger(conn *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd < 0 || shutdown(fd, SHUT_WR) != 0) {
        conn_free(c);
        return;
    }
    c->state = CONN_LINGER;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    (void)evbuffer_drain(in, evbuffer_get_length(in));
    struct timeval tv = {
        .tv_sec = CONN_LINGER_MS / 1000u,
        .tv_usec = (CONN_LINGER_MS % 1000u) * 1000u,
    };
    if (bufferevent_set_timeouts(c->bev, &tv, NULL) != 0 ||
        bufferevent_disable(c->bev, EV_WRITE) != 0 ||
        bufferevent_enable(c->bev, EV_READ) != 0)
        conn_free(c);
}

/* In FLUSHING: once every reply has left, close (or linger). May free c. */
static void conn_maybe_finish(conn *c)
{
    assert(c->state == CONN_FLUSHING);
    if (c->park.n > 0 ||
        evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return;
    if (c->eof)
        conn_free(c);
    else
        conn_start_linger(c);
}

/* ---- replies ----------------------------------------------------------- */

/* Write what the socket takes now; leave the rest to libevent (its write
 * event: retries, the write timeout, and errors through conn_event_cb).
 * A socket bufferevent keeps its output's start frozen; its own write
 * callback thaws it around the write, and so do we. */
static void conn_flush(conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) == 0)
        return;
    if (evbuffer_unfreeze(out, 1) == 0) {
        (void)evbuffer_write(out, bufferevent_getfd(c->bev));
        (void)evbuffer_freeze(out, 1);
    }
    if (evbuffer_get_length(out) > 0 &&
        bufferevent_enable(c->bev, EV_WRITE) != 0)
        log_debug("conn: enable write failed");
}

static int conn_out(conn *c, uint8_t *frame, size_t len, bool owned)
{
    return conn_put(bufferevent_get_output(c->bev), frame, len, owned);
}

/* The conn_env whose worker runs on this thread (conn_env_bind). */
static _Thread_local conn_env *conn_self;

/* Any thread: have env's worker run conn_durable on its next turn. Its
 * own thread need not write the eventfd: conn_env_after_pass runs at the
 * end of the pass it is in. */
static void conn_env_kick(conn_env *env)
{
    if (env->wake == NULL)
        return;
    atomic_store(&env->durable_kick, 1);
    if (env != conn_self)
        env->wake(env->wake_arg);
}

void conn_env_bind(conn_env *env)
{
    conn_self = env;
}

/* A load first: under --persist 0 (or a quiet log) this runs after every
 * pass, and must not write the line the log writer writes. */
static void conn_env_take_kick(conn_env *env)
{
    if (atomic_load(&env->durable_kick) != 0 &&
        atomic_exchange(&env->durable_kick, 0) != 0)
        conn_durable(env);
}

void conn_env_after_pass(conn_env *env)
{
    assert(env == conn_self);
    struct plog *pl = env->plog;
    conn_env_take_kick(env);
    if (pl == NULL || !plog_holds_replies(pl))
        return;
    if (!plog_inline_ok(pl)) {
        if (atomic_load(&env->parked_conns) > 0)
            plog_kick(pl);
        return;
    }
    plog_commit_inline(pl);
    conn_env_take_kick(env);   /* our own replies in that commit */
}

/* c parked its first reply: count it for conn_env_notify. The writer
 * stores durable_seq (or failed) and then reads parked_conns; we raise
 * parked_conns and then read durable_seq and failed (all seq_cst). So
 * either the writer sees our count and wakes us, or we see what it
 * published and wake ourselves: a reply that is already durable never
 * waits for a later commit. */
static void conn_parked_first(conn *c, uint64_t seq)
{
    conn_env *env = c->env;
    atomic_fetch_add(&env->parked_conns, 1u);
    if (plog_durable_seq(env->plog) >= seq || plog_failed(env->plog))
        conn_env_kick(env);
}

/* Park a reply until the log says its seq is durable. */
static int conn_park(conn *c, ops_reply *r, uint64_t rx_ns)
{
    uint8_t *frame = r->frame;
    size_t len = r->len;
    uint64_t seq = r->seq_needed;
    bool first = c->park.n == 0;
    r->frame = NULL;
    ops_reply_free(r);
    if (parkq_push(&c->park, frame, len, seq, rx_ns) != 0)
        return -1;
    if (first)
        conn_parked_first(c, seq);
    if (c->env != conn_self || !plog_inline_ok(c->env->plog))
        plog_kick(c->env->plog);  /* else conn_env_after_pass commits */
    return 0;
}

/* Every reply leaves through here, in request order; r is consumed.
 * Under fsync=always a reply whose state is not yet durable (seq_needed
 * above the log's durable seq) is parked, and so is every later reply
 * of this connection, to keep order: no reply is ever sent before the
 * log frame holding its change is on disk. rx_ns: when the request was
 * read (for the latency histogram; 0 = not a reply to a client frame). */
static int conn_send(conn *c, ops_reply *r, uint64_t rx_ns)
{
    assert(r->frame != NULL && r->len >= FRAME_HEADER_BYTES);
    struct plog *pl = c->env->plog;
    if (pl != NULL && plog_holds_replies(pl) &&
        (c->park.n > 0 || r->seq_needed > plog_durable_seq(pl))) {
        if (plog_failed(pl)) {
            ops_reply_free(r);
            return -1;     /* never acknowledge what is not durable */
        }
        return conn_park(c, r, rx_ns);
    }
    uint8_t *frame = r->frame;
    r->frame = NULL;
    int rc = conn_out(c, frame, r->len, true);
    ops_reply_free(r);
    if (rc == 0)
        lathist_batch_add(&c->env->lat, &g_lathist, rx_ns);
    return rc;
}

/* Bytes waiting for the client: queued output plus parked replies. */
static size_t conn_backlog(conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev)) +
           c->park.bytes;
}

/* Release parked replies up to durable (moved, not copied). Returns -1
 * if c must close. */
static int conn_release(conn *c, uint64_t durable)
{
    assert(c->park.n > 0);
    int rc = parkq_release(&c->park, durable, bufferevent_get_output(c->bev),
                           &c->env->lat);
    if (c->park.n == 0)
        atomic_fetch_sub(&c->env->parked_conns, 1u);
    return rc;
}

#define CONN_ALERT_BATCH 32u

/* Send c every queued event it wants. Returns -1 if c must close. */
static int conn_alerts_one(conn *c)
{
    alert_event ev[CONN_ALERT_BATCH];
    for (uint32_t round = 0; round < ALERT_QUEUE_MAX / CONN_ALERT_BATCH;
         round++) {
        uint64_t dropped = 0;
        size_t n = alert_read(&c->env->st->alerts, &c->sess.watch_cursor, ev,
                              CONN_ALERT_BATCH, &dropped);
        for (size_t i = 0; i < n; i++) {
            if (!ops_alert_wanted(&c->sess, &ev[i]))
                continue;
            ops_reply r = {0};
            if (ops_alert_frame(&c->sess, &ev[i], dropped, &r) != 0 ||
                conn_send(c, &r, 0) != 0)
                return -1;
            dropped = 0;
        }
        if (n < CONN_ALERT_BATCH)
            break;
    }
    return 0;
}

void conn_alerts(conn_env *env)
{
    conn *c = env->live;
    while (c != NULL) {
        conn *next = c->next;
        if (c->sess.watching && c->state == CONN_OPEN) {
            if (conn_alerts_one(c) != 0)
                conn_free(c);
            else
                conn_flush(c);
        }
        c = next;
    }
}

/* Debug builds: parked_conns is exactly the live connections with parked
 * replies (only this worker changes either). */
static inline bool conn_parked_count_ok(conn_env *env)
{
    uint32_t n = 0;
    for (const conn *c = env->live; c != NULL; c = c->next)
        n += c->park.n > 0;
    return n == atomic_load(&env->parked_conns);
}

void conn_env_notify(conn_env *env)
{
    if (atomic_load(&env->parked_conns) > 0) {
        atomic_store(&env->notified_seq, plog_durable_seq(env->plog));
        conn_env_kick(env);
    }
}

bool conn_env_released(const conn_env *env, uint64_t upto)
{
    uint64_t asked = atomic_load(&env->notified_seq);
    return atomic_load(&env->released_seq) >= (asked < upto ? asked : upto);
}

void conn_durable(conn_env *env)
{
    if (env->plog == NULL)
        return;
    assert(conn_parked_count_ok(env));
    STAT_INC(durable_wakeups);
    uint64_t durable = plog_durable_seq(env->plog);
    bool failed = plog_failed(env->plog);
    conn *c = env->live;
    while (c != NULL) {
        conn *next = c->next;
        if (c->park.n > 0) {
            if (failed || conn_release(c, durable) != 0) {
                conn_free(c);   /* parked replies are never sent */
                c = next;
                continue;
            }
            conn_flush(c);
            conn_write_cb(c->bev, c);   /* finish closing, or resume */
        }
        c = next;
    }
    lathist_batch_flush(&env->lat, &g_lathist);  /* released replies */
    if (durable > atomic_load(&env->released_seq)) {
        atomic_store(&env->released_seq, durable);
        plog_released(env->plog);
    }
}

/* Reply {id=0, code} for a frame we refuse to decode, then close. */
static enum conn_step conn_refuse(conn *c, uint32_t code, const char *msg)
{
    ops_reply r = {0};
    if (ops_error_frame(code, msg, &r) != 0)
        return STEP_FAIL;
    if (conn_send(c, &r, 0) != 0)
        return STEP_FAIL;
    conn_mark_closing(c);
    return STEP_STOP;
}

/* ---- frames ------------------------------------------------------------ */

/* Decode-free look at the buffered input: how long is the next frame
 * (header included), or must we refuse it? */
static enum conn_step conn_next_frame(conn *c, struct evbuffer *in,
                                      size_t *frame_len)
{
    size_t avail = evbuffer_get_length(in);
    if (avail < FRAME_HEADER_BYTES)
        return STEP_WAIT;
    const uint8_t *hdr = evbuffer_pullup(in, FRAME_HEADER_BYTES);
    if (hdr == NULL)
        return STEP_FAIL;
    uint32_t body_len = 0;
    switch (qd_frame_peek(hdr, FRAME_HEADER_BYTES, FRAME_BYTES_MAX,
                          &body_len)) {
    case QD_FRAME_OVERSIZED:
        STAT_INC(frames_too_large);
        log_debug("conn: frame of %u bytes refused", body_len);
        return conn_refuse(c, QUOTAD__CODE__FRAME_TOO_LARGE,
                           "frame too large");
    case QD_FRAME_EMPTY:
        STAT_INC(frames_malformed);
        return conn_refuse(c, QUOTAD__CODE__MALFORMED, "empty frame");
    case QD_FRAME_NEED_MORE:
    case QD_FRAME_READY:
        break;
    }
    assert(body_len > 0 && body_len <= FRAME_BYTES_MAX);
    *frame_len = FRAME_HEADER_BYTES + (size_t)body_len;
    return avail < *frame_len ? STEP_WAIT : STEP_FRAME;
}

/* Frames taken off the input together: prepared (decoded, secrets
 * hashed), prefetched, then run one by one. Input bytes stay buffered
 * until their frame runs, so frames never run are simply parsed again
 * later (prepare has no effects). */
typedef struct conn_batch {
    uint32_t n;                               /* frames prepared */
    size_t len[PREFETCH_FRAMES_MAX];          /* header included */
    ops_prepared p[PREFETCH_FRAMES_MAX];
} conn_batch;

/* Length (header included) of the whole, acceptable frame at offset off
 * of the input, or 0: none (yet), or one the head check will refuse. */
static size_t conn_frame_at(struct evbuffer *in, size_t off)
{
    size_t avail = evbuffer_get_length(in);
    uint8_t hdr[FRAME_HEADER_BYTES];
    struct evbuffer_ptr pos;
    if (avail - off < FRAME_HEADER_BYTES ||
        evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(in, &pos, hdr, sizeof hdr) !=
            (ev_ssize_t)sizeof hdr)
        return 0;
    uint32_t body_len = 0;
    qd_frame_peek_result r =
        qd_frame_peek(hdr, sizeof hdr, FRAME_BYTES_MAX, &body_len);
    if (r == QD_FRAME_EMPTY || r == QD_FRAME_OVERSIZED)
        return 0;
    size_t len = FRAME_HEADER_BYTES + (size_t)body_len;
    return avail - off < len ? 0 : len;
}

/* Take up to max (>= 1) whole frames, the first alone if it is large
 * (PREFETCH_BYTES_MAX), and prepare them. */
static enum conn_step conn_gather(conn *c, struct evbuffer *in, uint32_t max,
                                  conn_batch *b)
{
    size_t total = 0;
    enum conn_step s = conn_next_frame(c, in, &total);
    if (s != STEP_FRAME)
        return s;
    b->len[0] = total;
    b->n = 1;
    uint32_t want = max < PREFETCH_FRAMES_MAX ? max : PREFETCH_FRAMES_MAX;
    while (b->n < want) {
        size_t len = conn_frame_at(in, total);
        if (len == 0 || total + len > PREFETCH_BYTES_MAX)
            break;
        b->len[b->n++] = len;
        total += len;
    }
    const uint8_t *bytes = evbuffer_pullup(in, (ev_ssize_t)total);
    if (bytes == NULL)
        return STEP_FAIL;
    for (uint32_t i = 0; i < b->n; i++) {
        ops_frame_prepare(c->env->st, bytes + FRAME_HEADER_BYTES,
                          b->len[i] - FRAME_HEADER_BYTES, &b->p[i]);
        bytes += b->len[i];
    }
    return STEP_FRAME;
}

/* Run one prepared frame (the first buffered one, frame_len bytes) and
 * queue its reply. Never frees c. */
static enum conn_step conn_run(conn *c, struct evbuffer *in,
                               ops_prepared *p, size_t frame_len)
{
    ops_reply r = {0};
    if (ops_frame_run(c->env->st, &c->sess, p, &r) != 0)
        return STEP_FAIL;
    bool close_after = r.close_after;
    if (evbuffer_drain(in, frame_len) != 0) {
        ops_reply_free(&r);
        return STEP_FAIL;
    }
    if (conn_send(c, &r, lathist_rx_frame(&c->rx, frame_len)) != 0)
        return STEP_FAIL;
    if (close_after) {
        conn_mark_closing(c);
        return STEP_STOP;
    }
    if (conn_backlog(c) > CONN_OUT_BYTES_MAX) {
        STAT_INC(conns_paused);
        c->paused = true;
        if (bufferevent_disable(c->bev, EV_READ) != 0)
            return STEP_FAIL;
        return STEP_STOP;
    }
    return STEP_FRAME;
}

/* Handle up to max (>= 1) buffered frames, in order, adding to *ran each
 * one run. A frame that closes or pauses the connection ends the batch:
 * later prepared frames are dropped unrun (and stay buffered). Never
 * frees c. */
static enum conn_step conn_step(conn *c, uint32_t max, uint32_t *ran)
{
    if (c->state != CONN_OPEN || c->paused)
        return STEP_STOP;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    conn_batch b;
    enum conn_step s = conn_gather(c, in, max, &b);
    if (s != STEP_FRAME)
        return s;
    ops_frames_prefetch(c->env->st, b.p, b.n);
    uint32_t i = 0;
    while (i < b.n && s == STEP_FRAME) {
        s = conn_run(c, in, &b.p[i], b.len[i]);
        ops_prepared_free(&b.p[i++]);
        (*ran)++;
    }
    while (i < b.n)
        ops_prepared_free(&b.p[i++]);
    return s;
}

/* Continue later without waiting for new bytes: a zero timeout runs after
 * the next poll, so other connections get their turn first. */
static void conn_schedule_resume(conn *c)
{
    static const struct timeval now = {0, 0};
    if (event_add(c->resume, &now) != 0) {
        log_warn("conn: cannot schedule resume; closing");
        conn_free(c);
    }
}

/* One processing pass: up to FRAMES_PER_EVENT_MAX frames, their replies
 * timed with one clock read and written, then decide what next. May free
 * c: callers must not touch c afterwards. */
static void conn_process(conn *c)
{
    enum conn_step s = STEP_STOP;
    uint32_t ran = 0;
    while (ran < FRAMES_PER_EVENT_MAX) {
        s = conn_step(c, FRAMES_PER_EVENT_MAX - ran, &ran);
        if (s != STEP_FRAME)
            break;
    }
    /* The histogram's end is "reply queued": read the clock before the
     * write, which on loopback also runs the receiver's side. */
    lathist_batch_flush(&c->env->lat, &g_lathist);
    if (s != STEP_FAIL)
        conn_flush(c);
    switch (s) {
    case STEP_FRAME:          /* budget used up; maybe more buffered */
        conn_schedule_resume(c);
        return;
    case STEP_WAIT:           /* a partial frame at EOF is dropped */
        if (c->eof) {
            conn_mark_closing(c);
            conn_maybe_finish(c);
        }
        return;
    case STEP_STOP:           /* closing, or paused: conn_flush may have */
        conn_write_cb(c->bev, c);     /* drained what libevent would have */
        return;
    case STEP_FAIL:
        log_warn("conn: cannot queue a reply (out of memory, or the log "
                 "failed and the reply would not be durable); closing");
        conn_free(c);
        return;
    }
}

/* ---- libevent callbacks ------------------------------------------------ */

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    if (c->state == CONN_OPEN)
        conn_process(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->state == CONN_LINGER) {
        c->linger_bytes += evbuffer_get_length(in);
        (void)evbuffer_drain(in, evbuffer_get_length(in));
        if (c->linger_bytes > CONN_LINGER_BYTES_MAX)
            conn_free(c);
        return;
    }
    if (c->state == CONN_OPEN) {
        lathist_rx_arrived(&c->rx, evbuffer_get_length(in),
                           lathist_now_ns());
        conn_process(c);
    }
}

/* Output drained to the low watermark: resume a paused reader, or finish
 * closing once nothing is left. Also called directly after conn_flush,
 * which may drain the output without libevent. May free c. */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (c->state == CONN_FLUSHING) {
        conn_maybe_finish(c);
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
        bufferevent_disable(bev, EV_WRITE) != 0)
        log_debug("conn: disable write failed"); /* back to conn_flush */
    if (c->state != CONN_OPEN || !c->paused ||
        conn_backlog(c) > CONN_OUT_RESUME_BYTES)
        return;
    c->paused = false;
    if (!c->eof && bufferevent_enable(bev, EV_READ) != 0) {
        conn_free(c);
        return;
    }
    conn_schedule_resume(c);   /* frames may already be buffered */
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    conn *c = arg;
    if ((what & BEV_EVENT_EOF) && c->state == CONN_OPEN) {
        c->eof = true;        /* serve what is buffered, then close */
        conn_process(c);
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING))
        STAT_INC(conns_closed_slow);
    else if (what & BEV_EVENT_TIMEOUT)
        STAT_INC(conns_closed_idle);
    if (what & BEV_EVENT_TIMEOUT)
        log_debug("conn: %s timeout; closing",
                  (what & BEV_EVENT_WRITING) ? "write" : "read");
    else if (what & BEV_EVENT_ERROR)
        log_debug("conn: socket error: %s",
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    conn_free(c);
}

/* ---- setup ------------------------------------------------------------- */

static struct timeval conn_tv(uint32_t ms)
{
    struct timeval tv = {
        .tv_sec = (time_t)(ms / 1000u),
        .tv_usec = (suseconds_t)((ms % 1000u) * 1000u),
    };
    return tv;
}

/* Watermarks, timeouts, callbacks; then start reading. */
static int conn_configure(conn *c)
{
    conn_env *env = c->env;
    struct timeval rd = conn_tv(env->idle_timeout_ms);
    struct timeval wr = conn_tv(env->write_timeout_ms);
    assert(env->write_timeout_ms > 0);
    bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_IN_BYTES_MAX);
    bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUT_RESUME_BYTES, 0);
    if (bufferevent_set_timeouts(c->bev,
                                 env->idle_timeout_ms > 0 ? &rd : NULL,
                                 &wr) != 0)
        return -1;
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    /* A new bufferevent has EV_WRITE enabled: off, writes are conn_flush's
     * until one leaves bytes behind. */
    if (bufferevent_disable(c->bev, EV_WRITE) != 0)
        return -1;
    return bufferevent_enable(c->bev, EV_READ);
}

int conn_open(conn_env *env, evutil_socket_t fd, uint32_t ip_bucket)
{
    assert(env != NULL && fd >= 0);
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        log_debug("conn: TCP_NODELAY: %s", strerror(errno));

    conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        goto fail_fd;
    c->env = env;
    c->ip_bucket = ip_bucket;
    c->state = CONN_OPEN;
    auth_session_init(env->st, &c->sess);
    c->resume = evtimer_new(env->base, conn_resume_cb, c);
    if (c->resume == NULL)
        goto fail_conn;
    c->bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        goto fail_resume;
    /* From here the bufferevent owns fd: conn_free releases everything. */
    c->next = env->live;
    if (env->live != NULL)
        env->live->prev = c;
    env->live = c;
    env->n_live++;
    if (conn_configure(c) != 0) {
        log_warn("conn: cannot configure connection; closing");
        conn_free(c);
        return -1;
    }
    return 0;

fail_resume:
    event_free(c->resume);
fail_conn:
    free(c);
fail_fd:
    log_warn("conn: out of memory accepting a connection");
    close(fd);
    conn_release_slot(env, ip_bucket);
    return -1;
}
