/* ops -- turns one decoded client frame into one reply frame.
 *
 * The network layer (conn.c) peels frames off the socket and hands each
 * body here; ops decodes it with a capped allocator, runs every request of
 * the batch against the store, and returns the encoded ServerFrame
 * (header included). No I/O and no libevent here, so tests can drive it
 * directly.
 *
 *   conn (worker thread) --body--> ops_handle_frame --> store (shard lock)
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
