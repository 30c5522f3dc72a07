/* window -- time windows for rate limits and spend caps. Pure, clock passed
 * in (Unix epoch milliseconds, UTC), no allocation.
 *
 * Rate limits (RPM/TPM) use fixed one-minute windows aligned to the UTC
 * minute: counts reset exactly at the boundary, never overrun within it.
 * Spend caps use UTC calendar windows: day, ISO week (starts Monday 00:00
 * UTC), calendar month. Windows reset lazily when touched: a window index
 * different from the current one means its counter is zero.
 */
#ifndef QD_WINDOW_H
#define QD_WINDOW_H

#include <stdint.h>

#define WIN_MINUTE_MS INT64_C(60000)
#define WIN_DAY_MS INT64_C(86400000)

/* Floor division indices; correct for negative times too. */
int64_t win_minute_index(int64_t now_ms);
int64_t win_day_index(int64_t now_ms);      /* days since 1970-01-01 */
int64_t win_week_index(int64_t now_ms);     /* weeks since Mon 1969-12-29 */
int64_t win_month_index(int64_t now_ms);    /* year*12 + (month-1) */

/* Milliseconds from now until the current minute window ends (1..60000). */
int64_t win_minute_reset_ms(int64_t now_ms);

/* Per-key one-minute request and token counters. */
typedef struct win_rate {
    int64_t minute;     /* window index the counters belong to */
    int64_t requests;
    int64_t tokens;
} win_rate;

/* Bring counters to the window of now (zero them if the minute changed). */
void win_rate_roll(win_rate *w, int64_t now_ms);

/* Per-key spend in the current day/week/month. */
typedef struct win_spend {
    int64_t day, week, month;                   /* window indices */
    int64_t spend_day, spend_week, spend_month; /* micro-units */
} win_spend;

void win_spend_roll(win_spend *w, int64_t now_ms);

/* Remove amount spent at time then_ms from the windows, only from those
 * windows that are still the current ones (a refund never leaks into a
 * later window). Never drives a counter below zero. */
void win_spend_refund(win_spend *w, int64_t then_ms, int64_t now_ms,
                      int64_t amount);

#endif
