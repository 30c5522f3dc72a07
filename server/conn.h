/* conn -- one client connection: frames in, replies out.
 *
 * A connection lives on exactly one worker thread's event base and is
 * touched by no other thread. It peels length-prefixed frames off the
 * socket (at most FRAMES_PER_EVENT_MAX per callback, for fairness), and
 * queues one reply frame per frame, in order. Frames already buffered are
 * taken up to PREFETCH_FRAMES_MAX at a time: all decoded first
 * (ops_frame_prepare), the memory their checks will touch prefetched
 * (ops_frames_prefetch), then run and answered one by one
 * (ops_frame_run), so each sees the session and store the frames before
 * it left.
 *
 *   socket --bufferevent input--> conn_gather --bodies--> ops_frame_prepare
 *                                   ops_frames_prefetch, then per frame:
 *   socket <--bufferevent output-- conn_send <--reply-- ops_frame_run
 *
 * States: OPEN (serving) -> FLUSHING (an error or EOF: reading stopped,
 * waiting for queued replies to leave) -> LINGER (our side shut down for
 * writing; unread input discarded until the peer's FIN, so close sends FIN
 * rather than RST and the peer gets our last reply) -> freed.
 */
#ifndef QD_CONN_H
#define QD_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/util.h>

#include "lathist.h"
#include "store.h"

struct event_base;
typedef struct conn conn;

/* What a worker's connections share. Owned by the worker (net.c) and used
 * only from the worker's thread, except n_conns, which is process-wide. */
typedef struct conn_env {
    struct event_base *base;
    store *st;
    uint32_t idle_timeout_ms;     /* 0 = never */
    uint32_t write_timeout_ms;    /* > 0 */
    _Atomic uint32_t *n_conns;    /* open connections; -1 on every close */
    _Atomic uint32_t *ip_conns;   /* per address bucket, or NULL */
    struct plog *plog;            /* NULL: replies never wait for the log */
    conn *live;                   /* open connections of this worker */
    uint32_t n_live;
    lathist_batch lat;            /* replies queued this pass, by read time */
    /* Parked replies (fsync always). The log writer wakes only workers
     * that hold some: parked_conns counts this worker's connections with
     * parked replies (written by the worker, read by the writer);
     * durable_kick is the writer's "the log advanced", and wake(wake_arg)
     * wakes this worker's loop, which then calls conn_durable. */
    _Atomic uint32_t parked_conns;
    _Atomic int durable_kick;
    void (*wake)(void *arg);
    void *wake_arg;
    /* For the writer's gate (plog_gate): the durable seq its last notify
     * of this worker published, and the one this worker last released
     * replies up to. */
    _Atomic uint64_t notified_seq, released_seq;
} conn_env;

/* Serve fd on env->base. Takes ownership of fd, of one unit of
 * *env->n_conns and of one unit of env->ip_conns[ip_bucket] (unless
 * NET_IP_BUCKET_NONE): all are released when the connection closes, or at
 * once if setting it up fails (then -1 is returned). */
int conn_open(conn_env *env, evutil_socket_t fd, uint32_t ip_bucket);

/* Worker thread: env is this thread's, and conn_env_after_pass runs
 * after every pass of its event loop. */
void conn_env_bind(conn_env *env);
/* End of an event-loop pass: commit the log inline if it is fast
 * (plog_commit_inline), else make sure the writer runs; then send what
 * became durable. */
void conn_env_after_pass(conn_env *env);

/* The log advanced (or failed): send parked replies that are durable now;
 * on failure, close connections whose replies can never be sent. */
void conn_durable(conn_env *env);

/* Log writer thread: the log advanced or failed. Wakes env's worker if
 * it holds parked replies. */
void conn_env_notify(conn_env *env);

/* Any thread: env's worker has released every reply up to upto that a
 * notify asked it to (or was never asked). */
bool conn_env_released(const conn_env *env, uint64_t upto);

/* New alert events: send them to this worker's watching connections. */
void conn_alerts(conn_env *env);

/* Close every connection of env (worker shutdown); replies still queued
 * are dropped. */
void conn_close_all(conn_env *env);

#endif
