/* qc_admin.h -- admin and generic calls of libquotad, over the generated
 * protobuf-c types (proto/quotad.proto). Include after quotad.h.
 *
 * Ownership: every Quotad__Reply handed out must be released with
 * qc_reply_free(). Requests are borrowed: the library reads them and sets
 * req->id; it never frees them.
 * Return codes are those of quotad.h: 0 ok, < 0 client error, > 0 the
 * server's quotad.Code (the reply is still returned for inspection).
 */
#ifndef QC_ADMIN_H
#define QC_ADMIN_H

#include "quotad.h"
#include "quotad.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

void qc_reply_free(Quotad__Reply *r);

/* Synchronous generic call: sends req (its id is assigned), waits for the
 * reply with the same id. *out is set whenever a reply arrived. */
int qc_call(qc_ctx *c, Quotad__Request *req, Quotad__Reply **out);

/* Pipelined generic calls: append (one request per frame), then read
 * replies in order. */
int qc_append(qc_ctx *c, Quotad__Request *req);
int qc_read(qc_ctx *c, Quotad__Reply **out);
/* qc_read that never waits: QC_ERR_AGAIN when the oldest reply is not
 * whole yet (see "Event-loop use" in quotad.h). */
int qc_read_nowait(qc_ctx *c, Quotad__Reply **out);

/* Batch: n requests in one frame; out[i] gets each reply (n <= 256). */
int qc_call_batch(qc_ctx *c, Quotad__Request **reqs, size_t n,
                  Quotad__Reply **out);

/* Typed wrappers. Each fills *out (the reply; its result oneof holds the
 * typed answer) and returns as above. */
int qc_create_workspace(qc_ctx *c, const char *name, uint32_t max_keys,
                        int64_t overdraft_limit, int64_t initial_balance,
                        Quotad__Reply **out);
int qc_get_workspace(qc_ctx *c, uint32_t ws_id, Quotad__Reply **out);
int qc_adjust_wallet(qc_ctx *c, uint32_t ws_id, int64_t delta,
                     const char *reason, const char *idempotency_id,
                     Quotad__Reply **out);
/* ck is borrowed (build it with QUOTAD__CREATE_KEY__INIT). */
int qc_create_key(qc_ctx *c, Quotad__CreateKey *ck, Quotad__Reply **out);
int qc_get_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out);
int qc_list_keys(qc_ctx *c, Quotad__ListKeys *lk, Quotad__Reply **out);
int qc_update_key(qc_ctx *c, Quotad__UpdateKey *uk, Quotad__Reply **out);
int qc_enable_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out);
int qc_disable_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out);
int qc_revoke_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out);
int qc_rotate_key(qc_ctx *c, uint64_t key_id, int64_t grace_ms,
                  Quotad__Reply **out);
int qc_delete_key(qc_ctx *c, uint64_t key_id, Quotad__Reply **out);

/* Usage per UTC day (result `usage`) of one key (key_id != 0) or, with
 * key_id 0, of workspace ws_id. Days are counted since 1970-01-01 UTC;
 * from_day inclusive, to_day inclusive (0 = no upper bound). */
int qc_usage(qc_ctx *c, uint64_t key_id, uint32_t ws_id, int64_t from_day,
             int64_t to_day, Quotad__Reply **out);

/* Set (clear false) or remove (clear true) the alert rule of `kind` on
 * key key_id of workspace ws_id (key_id 0 = the workspace). Answers with
 * result `alerts`: the rules now in force there. Setting a rule again
 * (same kind) replaces its threshold and re-arms it. */
int qc_set_alert(qc_ctx *c, uint32_t ws_id, uint64_t key_id,
                 Quotad__AlertKind kind, int64_t threshold, bool clear,
                 Quotad__Reply **out);

/* The server's counters (result `stats`: name/value pairs, docs/
 * protocol.md); reset_latency also clears the latency histogram the
 * latency_* entries read. */
int qc_stats(qc_ctx *c, bool reset_latency, Quotad__Reply **out);

/* Start a snapshot (start true; it runs in the background) or only ask
 * (start false): result `snapshot` says started, running and the seq of
 * the last one completed. */
int qc_snapshot(qc_ctx *c, bool start, Quotad__Reply **out);

/* Watching alert events.
 *
 *   qc_watch_start(c, ws_id, &r)   subscribe (ws_id 0 = all in scope);
 *                                  r is the server's OK reply
 *   qc_watch_next(c, &ev, ms)      the next pushed event: ev->alert
 *
 * After qc_watch_start the connection is a watch stream: only call
 * qc_watch_next (and qc_free) on it; use another connection for calls.
 * qc_watch_next returns QC_OK with *event set (result `alert`, id = the
 * watch request's id), QC_ERR_TIMEOUT when no event came within
 * timeout_ms (the connection stays usable: call it again), QC_ERR_STATE
 * without a watch, or an error as usual (connection closed...). */
int qc_watch_start(qc_ctx *c, uint32_t ws_id, Quotad__Reply **out);
int qc_watch_next(qc_ctx *c, Quotad__Reply **event, uint32_t timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
