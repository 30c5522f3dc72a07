/* fixtures -- small helpers shared by the integration tests: make a
 * workspace and keys, read balances and key state, run a simple check.
 *
 * Every helper returns the client library's code (0 ok, < 0 client error,
 * > 0 the server's quotad.Code) and prints a line on failure, so a test can
 * T_REQUIRE(fx_... == 0) and still see why it failed.
 */
#ifndef TD_FIXTURES_H
#define TD_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/daemon.h"
#include "qc_admin.h"
#include "quotad.h"

/* Room for any secret the server issues (prefix <= 16 + 64 hex + NUL). */
#define FX_SECRET_BYTES 96u
/* 1 unit in micro-units. */
#define FX_UNIT INT64_C(1000000)

/* Set an optional proto2 scalar: FX_SET(lim, quota_total, 5). */
#define FX_SET(msg, field, value)                                          \
    do {                                                                   \
        (msg).has_##field = 1;                                             \
        (msg).field = (value);                                             \
    } while (0)

/* A created key: its id and its secret (shown once). */
typedef struct fx_key {
    uint64_t id;
    uint32_t ws_id;
    char secret[FX_SECRET_BYTES];
} fx_key;

/* Numeric state of a key (from get_key). */
typedef struct fx_key_state {
    int status;                 /* Quotad__KeyStatus */
    int64_t quota_total, quota_remaining;
    int64_t spend_day, spend_week, spend_month;
    int64_t usage_requests, usage_tokens, usage_spend;
    int64_t expires_at_ms, prev_secret_expires_at_ms;
    int64_t rpm, tpm;
} fx_key_state;

/* Numeric state of a workspace (from get_workspace). */
typedef struct fx_ws_state {
    int64_t balance, overdraft_limit, reserved;
    int64_t usage_requests, usage_tokens, usage_spend;
    uint32_t max_keys, key_count;
} fx_ws_state;

/* Create a workspace (max_keys 0 = server default) and return its id. */
int fx_workspace(qc_ctx *c, int64_t balance, int64_t overdraft,
                 uint32_t max_keys, uint32_t *ws_id);

/* Create a standard key with limits (NULL = none) in ws_id. */
int fx_key_create(qc_ctx *c, uint32_t ws_id,
                  const Quotad__KeyLimits *limits, fx_key *out);

/* Same with kind, name and group (name/group may be NULL). */
int fx_key_create_ex(qc_ctx *c, uint32_t ws_id,
                     const Quotad__KeyLimits *limits, Quotad__KeyKind kind,
                     const char *name, const char *group, fx_key *out);

/* Wallet balance of ws_id. */
int fx_balance(qc_ctx *c, uint32_t ws_id, int64_t *balance);

int fx_ws_state_get(qc_ctx *c, uint32_t ws_id, fx_ws_state *out);
int fx_key_state_get(qc_ctx *c, uint64_t key_id, fx_key_state *out);

/* A debit check of amount with no model, IP or tokens. */
int fx_check(qc_ctx *c, const char *secret, int64_t amount,
             qc_check_res *rs);

/* The decision of a debit check, or -1000 - rc on a call error. */
int fx_decide(qc_ctx *c, const char *secret, int64_t amount);

/* Run a generic request, free the reply, return the rc. */
int fx_call_rc(qc_ctx *c, Quotad__Request *req);

/* Move the daemon's clock ms ahead (debug_clock; the daemon needs
 * --test-hooks 1, else FAILED_PRECONDITION). Returns the rc. */
int fx_advance_clock(qc_ctx *c, int64_t ms);

/* Copy a rotated secret out of a rotate reply. */
int fx_rotate(qc_ctx *c, uint64_t key_id, int64_t grace_ms, char *secret,
              size_t cap);

/* Update only the limits of a key (fields as set in lim). */
int fx_update_limits(qc_ctx *c, uint64_t key_id, Quotad__KeyLimits *lim);

/* If less than need_ms remain in the current UTC minute, sleep into the
 * next one, so a test of the per-minute windows runs inside one window. */
void fx_wait_minute_room(int64_t need_ms);

/* A well-formed secret ("sk-" + 64 hex, valid checksum) that the server
 * never issued, carrying ws_id; random part from seed. */
void fx_forge_secret(uint32_t ws_id, uint64_t seed, char *out, size_t cap);

/* Standard test process setup: start a daemon with extra args (may be
 * NULL) and connect one client. Returns 0 or -1 (daemon stopped). */
int fx_start(td_daemon *d, const char *const *extra, qc_ctx **c);

/* fx_start with ASan's quarantine made small for this daemon: by default
 * ASan keeps up to 256 MB of freed blocks resident, so RSS would measure
 * allocation churn rather than what the server holds. */
#define FX_ASAN_SMALL_QUARANTINE \
    "quarantine_size_mb=4:thread_local_quarantine_size_kb=64"
int fx_start_small_quarantine(td_daemon *d, const char *const *extra,
                              qc_ctx **c);

/* Stats by name from one stats op (reset_latency as given): v[i] is
 * names[i]'s value, -1 if absent. Returns 0, or -1 if the call failed. */
int fx_stats_get(qc_ctx *c, bool reset_latency, const char *const *names,
                 int64_t *v, size_t n);
/* One stat by name, -1 if absent or the call failed. */
int64_t fx_stat(qc_ctx *c, const char *name);

/* Free the client, stop the daemon (0 = clean exit, no sanitizer report)
 * and remove its directory. Returns td_stop's status. */
int fx_finish(td_daemon *d, qc_ctx *c);

#endif
