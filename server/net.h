/* net -- the listening socket, the worker threads and shutdown.
 *
 * memcached's model: the main thread accepts; each worker thread runs its
 * own event base (EVENT_BASE_FLAG_NOLOCK) with its connections and a timer
 * that sweeps expired holds of its slice of the store's shards.
 *
 *   main thread (event base)                    worker i (own base)
 *   ------------------------                    -------------------
 *   evconnlistener --accept(fd)--> n_conns++ (atomic; over conns_max:
 *                                  close at once)
 *        round robin: lock w->mu, push fd,   --eventfd--> notify: pop fds,
 *                     unlock, write eventfd              conn_open(fd)
 *   SIGTERM/SIGINT: stop accepting;
 *        per worker:  lock, quit = 1, unlock,  --eventfd--> loopbreak;
 *                     write eventfd                         close conns
 *        pthread_join every worker, free bases, remove port/pid files
 *                                               sweep timer (50 ms):
 *                                               store_sweep(own shards)
 *
 * Only the fd queue and the quit flag cross threads (under w->mu), plus
 * the atomic connection count. Everything else belongs to one thread.
 */
#ifndef QD_NET_H
#define QD_NET_H

#include <stdint.h>

#include "config.h"
#include "store.h"

typedef struct net net;

/* Bind and listen on c->host:c->port, start the workers, then write
 * c->pid_file and c->port_file (each atomically: tmp, fsync, rename), so a
 * port file that exists names a socket that accepts. c and st must outlive
 * the net. Returns 0 or -1 (logged). */
__attribute__((warn_unused_result))
int net_open(const qd_config *c, store *st, net **out);

/* The port actually bound (useful with port 0). */
uint16_t net_port(const net *n);
/* Worker threads running. */
uint32_t net_workers(const net *n);

/* Serve until SIGTERM or SIGINT. Returns 0, or -1 if the loop failed. */
__attribute__((warn_unused_result))
int net_run(net *n);

/* Stop accepting, stop and join every worker, close every connection,
 * remove the port and pid files, free n. Safe on NULL. */
void net_close(net *n);

/* Worker count for a configured value (0 = one per online core), clamped
 * to 1..WORKERS_MAX. */
uint32_t net_workers_resolve(uint32_t configured);

#endif
