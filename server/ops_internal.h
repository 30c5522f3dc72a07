/* ops_internal -- shared by the ops_*.c handlers. Not for other modules.
 *
 * A handler gets the decoded request, fills the pre-initialised reply (code,
 * error, seq, result) with memory from the frame's arena, and takes shard
 * locks itself: lock, look up, change, copy the view, unlock. Packing
 * happens in ops.c after every lock is released.
 */
#ifndef QD_OPS_INTERNAL_H
#define QD_OPS_INTERNAL_H

#include <stdint.h>

#include "arena.h"
#include "ops.h"
#include "auth.h"
#include "quotad.pb-c.h"
#include "store.h"

#define OPS_ERROR_BYTES_MAX 200u
/* Budget of reply bytes one frame may build (leaves room under
 * FRAME_BYTES_MAX for the framing of the other replies). */
#define OPS_REPLY_ARENA_BYTES_MAX (FRAME_BYTES_MAX / 2u)

/* What ops_frame_prepare worked out for one Check request, before any
 * session or lock: the parse and hash op_check would otherwise do. */
enum ops_check_prep_state {
    OPS_CHECK_UNPREPARED = 0,  /* not a check, or arguments invalid:
                                * op_check does everything itself */
    OPS_CHECK_BAD_SECRET = 1,  /* malformed secret: invalid_api_key */
    OPS_CHECK_READY = 2,       /* ws_id, hash and tag are set */
};

typedef struct ops_check_prep {
    keyfmt_hash hash;          /* of the secret's body */
    uint64_t tag;              /* keyfmt_tag(&hash) */
    uint32_t ws_id;            /* from the secret */
    uint8_t state;             /* enum ops_check_prep_state */
} ops_check_prep;

typedef struct op_ctx {
    store *st;
    arena *ar;
    int64_t now_ms;
    uint64_t seq_max;       /* highest seq any reply of the frame reflects */
    ops_session *sess;      /* who asks */
    const ops_check_prep *ck_prep; /* the current request's, or NULL */
} op_ctx;

typedef void (*op_handler)(op_ctx *c, const Quotad__Request *rq,
                           Quotad__Reply *rp);

/* Set an error code and message on rp (message copied into the arena). */
void op_fail(op_ctx *c, Quotad__Reply *rp, Quotad__Code code,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Record the seq a reply reflects. */
void op_seq(op_ctx *c, Quotad__Reply *rp, uint64_t seq);
/* Reply with the key view (code OK); INTERNAL if the arena is full. */
void op_reply_key(op_ctx *c, Quotad__Reply *rp, const key *k);
void op_reply_ws(op_ctx *c, Quotad__Reply *rp, const workspace *w);

/* Handlers (ops_ws.c, ops_key.c, ops_keylife.c, ops_check.c). */
void op_create_workspace(op_ctx *c, const Quotad__Request *rq,
                         Quotad__Reply *rp);
void op_get_workspace(op_ctx *c, const Quotad__Request *rq,
                      Quotad__Reply *rp);
void op_update_workspace(op_ctx *c, const Quotad__Request *rq,
                         Quotad__Reply *rp);
void op_adjust_wallet(op_ctx *c, const Quotad__Request *rq,
                      Quotad__Reply *rp);
void op_create_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_get_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_list_keys(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_update_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_enable_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_disable_key(op_ctx *c, const Quotad__Request *rq,
                    Quotad__Reply *rp);
void op_revoke_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_rotate_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_delete_key(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_check(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_settle(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_void_hold(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_usage(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_set_alert(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_watch(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);
void op_stats(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp);

/* Log the change r (its oneof set by the caller) as seq, if this store
 * logs; shard lock held. */
void op_log(op_ctx *c, shard *sh, Quotad__LogRecord *r, uint64_t seq);

/* Idempotency (shard lock held): 0 = id not seen; 1 = seen with the same
 * input, the first answer copied to answer; -1 = seen with other input,
 * rp already answered IDEMPOTENCY_CONFLICT. */
int op_idem_lookup(op_ctx *c, shard *sh, idem_key ik, uint64_t in_hash,
                   void *answer, size_t answer_len, Quotad__Reply *rp);

/* Prepare every Check of f (ops_check.c): an array in heap with one entry
 * per request, or NULL when f holds no check (or out of memory: op_check
 * then does the work itself). */
ops_check_prep *op_checks_prepare(const store *st,
                                  const Quotad__ClientFrame *f, fheap *heap);

/* Encode one Reply as a whole ServerFrame into out (ops.c). */
int ops_single_frame(Quotad__Reply *rp, ops_reply *out);

/* Draw a fresh secret for ws_id and fill *h and hint (ops_key.c). The
 * secret text goes into the arena (it is sent once, never stored). */
char *op_new_secret(op_ctx *c, uint32_t ws_id, keyfmt_hash *h,
                    char hint[KEYFMT_HINT_CHARS + 1]);

#endif
