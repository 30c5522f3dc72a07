/* usage -- requests, decisions, tokens and spend per UTC day, for one key
 * or one workspace.
 *
 * Up to USAGE_DAYS_MAX days (the oldest is dropped). Only the newest day
 * ever changes, so it is kept as a plain usage_day (`last`, inline: a
 * key's first check allocates nothing) and the days before it are packed
 * into a byte string, newest first, as varints: a past day usually takes
 * 10-20 bytes instead of 88, so a key used daily for a year costs ~6 KB,
 * not ~35 KB. Newest first lets the workspace's week spend read only the
 * days of this week. Changed under the shard lock, by live checks and
 * settles and by recovery replaying them, with the clock value the
 * change used, so replay rebuilds the same numbers.
 */
#ifndef QD_USAGE_H
#define QD_USAGE_H

#include <stddef.h>
#include <stdint.h>

#define USAGE_DAYS_MAX 400u          /* days kept per key and workspace */
#define USAGE_DECISIONS 12u          /* Decision values 0..11 */

typedef struct usage_day {
    int32_t day;                     /* days since 1970-01-01 UTC */
    uint32_t denied[USAGE_DECISIONS];
    int64_t requests, allowed, tokens, spend;
} usage_day;

typedef struct usage_log {
    uint8_t *past;                   /* n - 1 packed days before `last` */
    uint32_t past_bytes, past_cap;
    uint16_t n;                      /* days kept, `last` included */
    usage_day last;                  /* the newest day, when n > 0 */
} usage_log;

/* Walk the days newest first: init, then next until it returns 0. */
typedef struct usage_iter {
    const usage_log *u;
    uint32_t pos;                    /* in u->past */
    uint16_t i;                      /* days returned */
    int32_t day;                     /* of the day returned last */
} usage_iter;

void usage_iter_init(usage_iter *it, const usage_log *u);
/* 1 and the next older day in *d, or 0 after the oldest. */
int usage_iter_next(usage_iter *it, usage_day *d);

/* All days, oldest first, into out (room for u->n). Returns u->n. */
uint16_t usage_log_days(const usage_log *u, usage_day *out);

void usage_free(usage_log *u);

/* Count one answered check. Returns 0, or -1 out of memory (the count is
 * lost; usage never blocks a check). */
int usage_note_check(usage_log *u, int64_t now_ms, int decision,
                     int64_t charged, int64_t tokens);

/* A settle changed spend/tokens after the fact (negative = refund). */
int usage_note_adjust(usage_log *u, int64_t now_ms, int64_t spend_delta,
                      int64_t tokens_delta);

/* Put a whole day back (snapshot load); days must come oldest first. */
int usage_put_day(usage_log *u, const usage_day *d);

#endif
