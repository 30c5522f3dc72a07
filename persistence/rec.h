/* rec -- log records: built from live state (rec_build.c) and applied to a
 * store on recovery (rec_apply.c).
 *
 * A record is the effect of one change plus the clock value it used
 * (LogRecord in proto/quotad.proto), so applying it again reproduces the
 * same state without randomness or a clock. Every record names its
 * workspace; recovery skips a record whose seq is not above the seq the
 * snapshot holds for that workspace (replay is idempotent).
 */
#ifndef QD_REC_H
#define QD_REC_H

#include <stdint.h>

#include "arena.h"
#include "quotad.pb-c.h"
#include "store.h"

#define REC_BYTES_MAX (64u * 1024u)   /* one packed record, bounded by fields */
/* In a shard's log buffer each record is framed as [u32 length][u64 seq]
 * (host order, in memory only) then the packed LogRecord. */
#define REC_FRAME_BYTES 12u

/* ---- building (lock held; strings copied into the arena) ---- */
int rec_ws_state(arena *a, const workspace *w, Quotad__WsState *out);
int rec_key_state(arena *a, const key *k, Quotad__KeyState *out);
void rec_hold_state(const hold *h, Quotad__HoldState *out);
/* Usage days as reply/record messages (also used by the usage op). */
int rec_usage_days(arena *a, const usage_log *u, Quotad__UsageDay ***out,
                   size_t *n);
/* Points into e (valid while the shard lock is held). */
void rec_idem_state(uint32_t ws_id, const idem_entry *e,
                    Quotad__IdemState *out);

/* Pack r and append it to the shard's log buffer (shard lock held).
 * Aborts when out of memory: a change that cannot be logged must not be
 * acknowledged, and the process restarts from its log. */
void rec_append(shard *sh, const Quotad__LogRecord *r);
/* The same for the records every check and settle writes, encoded by
 * hand: ChargeRec{key_id, charged, tokens[, hold h]} without idempotency
 * state, SettleRec as set in sr (sr->idem must be NULL), and
 * DenyRec{workspace_id, key_id, decision}. seq > 0. */
void rec_append_charge(shard *sh, uint64_t seq, int64_t at_ms,
                       uint64_t key_id, int64_t charged, int64_t tokens,
                       const hold *h);
void rec_append_settle(shard *sh, uint64_t seq, int64_t at_ms,
                       const Quotad__SettleRec *sr);
void rec_append_deny(shard *sh, uint64_t seq, int64_t at_ms, uint32_t ws_id,
                     uint64_t key_id, uint32_t decision);

/* Workspace a record belongs to (0 for snapshot meta). */
uint32_t rec_ws_of(const Quotad__LogRecord *r);

/* ---- applying (recovery; single-threaded, no other user of st) ---- */
typedef enum rec_result {
    REC_APPLIED = 0,
    REC_SKIPPED = 1,       /* already contained in the snapshot */
    REC_INCONSISTENT = -1, /* refers to missing state or disagrees */
    REC_NOMEM = -2,
} rec_result;

/* Apply one record; on REC_INCONSISTENT err says why. Advances the
 * store's seq and next_ws_id past what the record shows. */
rec_result rec_apply(store *st, const Quotad__LogRecord *r, char *err,
                     size_t err_cap);

#endif
