/* quota -- the check-and-debit decision and hold settlement, as pure
 * functions over one key and its workspace.
 *
 * No locks, no I/O, no allocation: the caller (ops_check.c) holds the
 * shard lock and passes the clock in, so unit tests and simulations drive
 * every window and expiry exactly. A deny changes nothing; an allow moves
 * every counter (all-or-nothing).
 */
#ifndef QD_QUOTA_H
#define QD_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipnet.h"
#include "store.h"

/* Same numbers as quotad.Decision (asserted in ops_check.c). */
enum quota_decision {
    DEC_ALLOWED = 0,
    DEC_INVALID_API_KEY = 1,
    DEC_REVOKED_API_KEY = 2,
    DEC_KEY_DISABLED = 3,
    DEC_KEY_EXPIRED = 4,
    DEC_ADMIN_KEY_NOT_ALLOWED = 5,
    DEC_IP_NOT_ALLOWED = 6,
    DEC_MODEL_NOT_ALLOWED = 7,
    DEC_RATE_LIMITED = 8,
    DEC_QUOTA_EXCEEDED = 9,
    DEC_SPEND_CAP_EXCEEDED = 10,
    DEC_INSUFFICIENT_CREDITS = 11,
};

typedef struct quota_in {
    const char *model;          /* may be NULL */
    size_t model_len;
    const ipnet_addr *ip;       /* NULL: absent or unparsable */
    int64_t amount;             /* debit, or hold estimate */
    int64_t amount_min;         /* smallest acceptable charge (<= amount) */
    int64_t tokens;
} quota_in;

typedef struct quota_out {
    int decision;               /* enum quota_decision */
    int64_t charged;            /* taken now (debit or reservation) */
    int64_t rpm_remaining;      /* LIMIT_NONE when no RPM limit */
    int64_t tpm_remaining;
    int64_t rate_reset_ms;
    int64_t retry_after_ms;     /* > 0 only when rate limited */
} quota_out;

/* Run checks 2..11 of docs/protocol.md (the key is already identified) and,
 * when all pass, take the charge. */
void quota_check(key *k, workspace *w, const quota_in *in, int64_t now_ms,
                 quota_out *out);

/* Count an answered check in the usage of k (may be NULL: an unknown key
 * of a known workspace) and w. quota_check does this itself; recovery
 * replays logged denials through it. */
void quota_note(key *k, workspace *w, int decision, int64_t charged,
                int64_t tokens, int64_t now_ms);

/* The effect of an allowed check, without the checks: recovery replays
 * logged charges through this, the same code quota_check uses. */
void quota_apply_charge(key *k, workspace *w, int64_t charge, int64_t tokens,
                        int64_t now_ms);

typedef struct quota_settle_out {
    int64_t charged;
    int64_t refunded;
} quota_settle_out;

/* Settle hold h with the actual amount and tokens: charge up to the hold
 * plus at most overrun_max more (never past the wallet's overdraft or a
 * quota of 0), refund the rest. k may be NULL (key deleted since). */
void quota_settle(key *k, workspace *w, const hold *h, int64_t amount,
                  int64_t tokens, int64_t overrun_max, int64_t now_ms,
                  quota_settle_out *out);

/* Room left under each limit, LIMIT_NONE when unlimited. */
int64_t quota_wallet_room(const workspace *w);

#endif
