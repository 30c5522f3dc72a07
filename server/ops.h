/* ops -- turns one decoded client frame into one reply frame.
 *
 * The network layer (conn.c) peels frames off the socket and hands each
 * body here; ops decodes it into a capped per-frame heap (fheap.h), runs
 * every request of the batch against the store, and returns the encoded
 * ServerFrame (header included). No I/O and no libevent here, so tests
 * can drive it directly.
 *
 *   conn (worker thread) --body--> ops_frame_prepare, ops_frame_run
 *        (or ops_handle_frame: both at once) --> store (shard lock)
 *        <---- ops_reply {frame bytes, seq_needed, close_after} ----
 *
 * seq_needed is the highest log sequence number the replies reflect: with
 * durable logging the reply must not be sent before that seq is on disk.
 */
#ifndef QD_OPS_H
#define QD_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "fheap.h"
#include "store.h"

typedef struct ops_reply {
    uint8_t *frame;       /* malloc'd: 4-byte header + ServerFrame body */
    size_t len;
    uint64_t seq_needed;  /* 0 if the frame changed no state */
    bool close_after;     /* malformed input: send this, then close */
} ops_reply;

/* Handle one frame body as the connection's principal s (updated by
 * HELLO). Always produces a reply frame unless allocation fails (returns
 * -1, out->frame NULL: the caller closes the connection). */
__attribute__((warn_unused_result))
int ops_handle_frame_as(store *st, ops_session *s, const uint8_t *body,
                        size_t len, ops_reply *out);

/* ops_handle_frame_as in two steps, so a connection can decode several
 * buffered frames, prefetch what their checks will touch, then run them:
 *
 *   ops_frame_prepare  decode; for each check, validate, parse and hash
 *                      the secret. Depends on no session (a HELLO in one
 *                      frame applies to the next) and changes nothing,
 *                      not even stats: a prepared frame may be dropped.
 *   ops_frames_prefetch  prefetch the index slots, then the key records,
 *                      of n prepared frames' checks (takes shard locks
 *                      briefly; changes nothing).
 *   ops_frame_run      exactly what ops_handle_frame_as does after the
 *                      decode (stats, auth refresh, dispatch, encode).
 *   ops_prepared_free  after running it, or instead of running it.
 *
 * An ops_prepared holds its own decode heap (fheap.h): do not copy or
 * move it between prepare and free. Prepare never fails: a frame that
 * does not decode is answered MALFORMED by run, as before. Prepared
 * frames keep no pointer into body. */
struct ops_check_prep;               /* per request; ops_internal.h */

typedef struct ops_prepared {
    fheap heap;                      /* f and checks live here */
    Quotad__ClientFrame *f;          /* NULL unless refuse == 0 */
    struct ops_check_prep *checks;   /* [f->n_requests] or NULL: none */
    int refuse;                      /* OPS_REFUSE_*; 0 = run f */
} ops_prepared;

enum ops_refuse {
    OPS_REFUSE_NONE = 0,
    OPS_REFUSE_MALFORMED = 1,        /* not a ClientFrame */
    OPS_REFUSE_EMPTY = 2,            /* no request */
    OPS_REFUSE_BATCH = 3,            /* more than BATCH_OPS_MAX */
};

void ops_frame_prepare(store *st, const uint8_t *body, size_t len,
                       ops_prepared *p);
void ops_frames_prefetch(store *st, ops_prepared *p, size_t n);
__attribute__((warn_unused_result))
int ops_frame_run(store *st, ops_session *s, ops_prepared *p,
                  ops_reply *out);
void ops_prepared_free(ops_prepared *p);

/* The same with full rights (tests, tools, fuzzers). */
__attribute__((warn_unused_result))
int ops_handle_frame(store *st, const uint8_t *body, size_t len,
                     ops_reply *out);

/* A reply frame holding one Reply {id=0, code, error=msg}, with
 * close_after set. For errors found before decoding (oversized length). */
__attribute__((warn_unused_result))
int ops_error_frame(uint32_t code, const char *msg, ops_reply *out);

void ops_reply_free(ops_reply *r);

/* Does watching session s want event e (its workspace, its scope)? */
bool ops_alert_wanted(const ops_session *s, const alert_event *e);
/* The frame pushing e to s: Reply{id = s->watch_id, result alert}. */
__attribute__((warn_unused_result))
int ops_alert_frame(const ops_session *s, const alert_event *e,
                    uint64_t dropped, ops_reply *out);

#endif
