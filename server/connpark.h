/* connpark -- a connection's replies waiting for the log (fsync=always).
 *
 * A reply whose state is not yet durable waits here, and so does every
 * later reply of its connection (replies leave in request order). Its
 * bytes wait in one evbuffer, back to back in reply order, so parking
 * costs no allocation per reply (the frame is copied and freed at once,
 * as an unparked reply is) and a release moves all released bytes to the
 * output in one evbuffer_remove_buffer. A ring remembers each reply's
 * length, the seq it needs and when its request was read. Bounded by the
 * caller: conn pauses reading once parked + queued bytes pass
 * CONN_OUT_BYTES_MAX. One connection, one thread: no locking.
 */
#ifndef QD_CONNPARK_H
#define QD_CONNPARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lathist.h"

struct evbuffer;

typedef struct parkq_entry {
    uint64_t seq;                /* durable_seq needed before sending */
    uint64_t rx_ns;              /* when its request was read; 0 = none */
    size_t len;                  /* its bytes at the front of buf */
} parkq_entry;

typedef struct parkq {
    struct evbuffer *buf;        /* parked bytes (created on first use) */
    parkq_entry *ring;           /* cap entries, n of them from head */
    uint32_t head, n, cap;
    size_t bytes;                /* total parked bytes */
} parkq;

/* Put a frame on out (no copy when large). An owned frame is freed (now,
 * or by the buffer once its bytes are gone). 0 or -1. */
int conn_put(struct evbuffer *out, uint8_t *frame, size_t len, bool owned);

/* Park an owned frame (always consumed) until seq is durable. 0 or -1
 * (out of memory: the connection must close). */
int parkq_push(parkq *q, uint8_t *frame, size_t len, uint64_t seq,
               uint64_t rx_ns);

/* Move every reply with seq <= durable, in order, to out; each one's
 * request time goes to lat (the latency histogram). 0 or -1. */
int parkq_release(parkq *q, uint64_t durable, struct evbuffer *out,
                  lathist_batch *lat);

void parkq_free(parkq *q);

#endif
