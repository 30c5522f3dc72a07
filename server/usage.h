/* usage -- requests, decisions, tokens and spend per UTC day, for one key
 * or one workspace.
 *
 * A small array of days, oldest first, appended as days go by; bounded to
 * USAGE_DAYS_MAX entries (the oldest is dropped). Changed under the shard
 * lock, by live checks and settles and by recovery replaying them, with
 * the clock value the change used, so replay rebuilds the same numbers.
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

/* The first day is kept inline: most keys are used on one day or not at
 * all, and a key's first check then allocates nothing for its usage. A
 * second day moves the days to a heap array (d), doubled as needed. */
typedef struct usage_log {
    usage_day *d;                    /* NULL: at most one day, in `one` */
    uint16_t n, cap;                 /* cap: of d */
    usage_day one;
} usage_log;

/* The n days, oldest first. */
static inline const usage_day *usage_log_days(const usage_log *u)
{
    return u->d != NULL ? u->d : &u->one;
}

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
