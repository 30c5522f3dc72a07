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

/* Per-key one-minute request and token counters, 12 bytes: they sit in
 * the hot part of every key. Counts saturate at UINT32_MAX, which is above
 * every allowed rpm/tpm limit (KEYSPEC_RPM_MAX, TOKENS_MAX), so a
 * saturated counter still denies. */
typedef struct win_rate {
    int32_t minute;     /* window index the counters belong to */
    uint32_t requests;
    uint32_t tokens;
} win_rate;

/* Bring counters to the window of now (zero them if the minute changed). */
void win_rate_roll(win_rate *w, int64_t now_ms);
/* Count requests and tokens (saturating). */
void win_rate_add(win_rate *w, int64_t requests, int64_t tokens);

/* Per-key spend in the current day/week/month. Only the day index is
 * stored: the three counters always roll together, so the week and month
 * they belong to follow from it (win_spend_week/month). Packed to 28
 * bytes so a key's hot part stays small; 4-byte aligned. */
typedef struct __attribute__((packed, aligned(4))) win_spend {
    int64_t spend_day, spend_week, spend_month; /* micro-units */
    int32_t day;                                /* window index */
} win_spend;

int64_t win_spend_week(const win_spend *w);
int64_t win_spend_month(const win_spend *w);

void win_spend_roll(win_spend *w, int64_t now_ms);

/* Remove amount spent at time then_ms from the windows, only from those
 * windows that are still the current ones (a refund never leaks into a
 * later window). Never drives a counter below zero. */
void win_spend_refund(win_spend *w, int64_t then_ms, int64_t now_ms,
                      int64_t amount);

#endif
