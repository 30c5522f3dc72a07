/* qc_internal.h -- libquotad internals shared by the client/ sources.
 * Not installed, not for users: the public API is quotad.h and qc_admin.h.
 *
 * Layers (hiredis style):
 *   qc_net.c    socket, deadlines, output buffer, input buffer -> reply FIFO
 *   qc_call.c   request ids, ClientFrame encoding, reply matching, HELLO
 *   qc_check.c  the plain-C hot path (check/settle/void/ping)
 *   qc_admin.c  typed admin wrappers
 *   qc_str.c    name tables
 *
 * Data flow:  request -> qci_send() -> c->out --flush--> socket
 *             socket --qci_next_reply()--> c->in -> decode -> c->q (FIFO)
 *             FIFO -> qci_read() checks id/code -> caller
 */
#ifndef QC_INTERNAL_H
#define QC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "qd_frame.h"
#include "quotad.h"
#include "quotad.pb-c.h"

/* Room for one error message (ours or the server's, truncated). */
#define QC_ERRSTR_BYTES 256u
/* Appends are sent once this much output is queued (and on read/flush). */
#define QC_OUT_FLUSH_BYTES (64u * 1024u)
/* Input buffer starts small and grows to one whole frame at most. */
#define QC_IN_BYTES_INITIAL (16u * 1024u)
#define QC_IN_BYTES_MAX ((size_t)FRAME_HEADER_BYTES + FRAME_BYTES_MAX)
/* Reply FIFO starts with this many slots and doubles. */
#define QC_FIFO_SLOTS_INITIAL 16u
/* Longest client_ip text accepted: an IPv6 address with a zone fits. */
#define QC_CLIENT_IP_CHARS_MAX 64u
/* Pushed watch events queued but not yet taken by qc_watch_next: more
 * means the caller stopped reading events (protocol error). */
#define QC_WATCH_QUEUE_MAX 4096u

_Static_assert(QC_IN_BYTES_INITIAL >= FRAME_HEADER_BYTES,
               "a frame header always fits in the input buffer");
_Static_assert(QC_OUT_FLUSH_BYTES < FRAME_BYTES_MAX,
               "auto-flush happens well before one frame's worth");

/* One connection. Owned by the caller of qc_connect(), freed by qc_free().
 * Replies in q are owned by the context until popped by qci_next_reply(),
 * then by whoever popped them. */
struct qc_ctx {
    int fd;                      /* non-blocking socket, -1 when closed */
    int role;                    /* granted by HELLO (quotad.Role) */
    uint32_t ws_scope;           /* 0 = every workspace */
    uint32_t timeout_ms;         /* per call, and for connect */
    bool broken;                 /* after IO/TIMEOUT/PROTOCOL: unusable */
    bool eof;                    /* peer closed its side */
    bool nonblocking;            /* qc_options.nonblocking: appends never wait */
    bool tcp;                    /* not a Unix socket: TCP_NODELAY */
    bool connecting;             /* TCP connect still in progress */
    bool handshaking;            /* qc_connect_start: HELLO not answered */
    uint64_t next_id;            /* id of the next request, from 1 up */
    size_t in_flight;            /* requests queued/sent, reply not read */
    uint64_t last_seq;           /* Reply.seq of the last reply read */
    int64_t clock_offset_ms;     /* server's wall clock minus ours, as HELLO's
                                    reply read it (off by its one-way trip) */
    uint64_t watch_id;           /* id of the watch request, 0 = none:
                                    replies with this id are pushed events */
    uint8_t *out;                /* encoded frames [out_off, out_len) */
    size_t out_off, out_len, out_cap; /* not yet sent: out_off > 0 only
                                         after a partial qci_flush_nowait */
    uint8_t *in;                 /* received bytes [in_off, in_len) */
    size_t in_off, in_len, in_cap;
    Quotad__Reply **q;           /* decoded replies [q_head, q_head+q_len) */
    size_t q_head, q_len, q_cap;
    char errstr[QC_ERRSTR_BYTES];
};

/* True if s is absent (NULL) or at most max bytes: optional strings are
 * checked client-side so a bad argument never breaks the pipeline. */
static inline bool qci_str_ok(const char *s, size_t max)
{
    return s == NULL || strnlen(s, max + 1) <= max;
}

/* --- qc_net.c --- */

/* Monotonic clock in ms; deadlines are absolute values of it. */
int64_t qci_now_ms(void);
/* Wall clock (CLOCK_REALTIME) in unix ms: what deadlines are given in. */
int64_t qci_wall_ms(void);
/* Deadline timeout_ms from now. */
int64_t qci_deadline(const qc_ctx *c);
/* Record an error: sets errstr; IO/TIMEOUT/PROTOCOL also break c.
 * Returns rc so callers can `return qci_fail(...)`. */
int qci_fail(qc_ctx *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* QC_ERR_ARG for NULL, QC_ERR_IO if broken, QC_ERR_STATE while the
 * handshake of qc_connect_start runs, else QC_OK. */
int qci_usable(const qc_ctx *c);
/* New unconnected context (fd -1), or NULL when out of memory. */
qc_ctx *qci_ctx_new(uint32_t timeout_ms);
/* Resolve host and connect (non-blocking connect + poll) before deadline;
 * with deadline QCI_NO_WAIT the connect may be left in progress
 * (c->connecting, finished by qci_connect_poll). */
#define QCI_NO_WAIT INT64_C(-1)
__attribute__((warn_unused_result))
int qci_open(qc_ctx *c, const char *host, uint16_t port, int64_t deadline);
/* A connect left in progress: QC_ERR_AGAIN while it still is, QC_OK once
 * it is done (at once when none was), or the error it ended with. */
__attribute__((warn_unused_result))
int qci_connect_poll(qc_ctx *c);
/* Append one length-prefixed message to the output buffer. QC_ERR_ARG
 * (c stays usable) if it is empty or larger than FRAME_BYTES_MAX. */
__attribute__((warn_unused_result))
int qci_out_frame(qc_ctx *c, const ProtobufCMessage *msg);
/* Send all queued output, draining replies into the FIFO meanwhile so a
 * peer that stops reading until we read cannot deadlock us. */
__attribute__((warn_unused_result))
int qci_flush(qc_ctx *c, int64_t deadline);
/* Send what the socket takes now, never waiting: QC_OK when everything
 * queued is sent, QC_ERR_AGAIN (c stays usable) when some is left. */
__attribute__((warn_unused_result))
int qci_flush_nowait(qc_ctx *c);
/* Pop the oldest decoded reply if one is whole after reading what has
 * arrived, never waiting: QC_ERR_AGAIN (c stays usable) when none is. */
__attribute__((warn_unused_result))
int qci_next_reply_nowait(qc_ctx *c, Quotad__Reply **out);
/* Pop the oldest decoded reply, reading from the socket until one is
 * complete or the deadline passes. Ownership of *out moves to the caller. */
__attribute__((warn_unused_result))
int qci_next_reply(qc_ctx *c, int64_t deadline, Quotad__Reply **out);
/* Like qci_next_reply, but for pushed events: running out of time returns
 * QC_ERR_TIMEOUT WITHOUT breaking c (no event is not an error), and
 * in_flight bookkeeping is not touched. */
__attribute__((warn_unused_result))
int qci_next_event(qc_ctx *c, int64_t deadline, Quotad__Reply **out);

/* --- qc_call.c --- */

/* Assign ids to reqs[0..n) and queue them as one ClientFrame; flushes when
 * the output buffer passes QC_OUT_FLUSH_BYTES. */
__attribute__((warn_unused_result))
int qci_send(qc_ctx *c, Quotad__Request **reqs, size_t n);
/* Read the reply to the oldest request in flight (flushing first). Returns
 * 0, <0, or the reply's server code; *out gets the reply whenever one for
 * that request arrived. */
__attribute__((warn_unused_result))
int qci_read(qc_ctx *c, Quotad__Reply **out);
/* qci_read that never waits: QC_ERR_AGAIN when the reply is not whole yet
 * (the output is sent as far as the socket takes it first). */
__attribute__((warn_unused_result))
int qci_read_nowait(qc_ctx *c, Quotad__Reply **out);
/* qci_send + qci_read of one request with nothing else in flight. */
__attribute__((warn_unused_result))
int qci_roundtrip(qc_ctx *c, Quotad__Request *req, Quotad__Reply **out);

#endif
