/* window.c -- UTC minute/day/ISO-week/month window indices and the lazy
 * per-key rate and spend counters built on them.
 *
 * Calendar math is Howard Hinnant's civil_from_days (proleptic Gregorian,
 * exact for every int64 day count a millisecond clock can produce).
 */
#include "window.h"

#include <assert.h>
#include <stddef.h>

#define WIN_DAYS_PER_WEEK INT64_C(7)
/* 1970-01-01 was a Thursday: 3 days after Monday 1969-12-29. */
#define WIN_EPOCH_WEEKDAY_FROM_MONDAY INT64_C(3)
#define WIN_MONTHS_PER_YEAR INT64_C(12)
#define WIN_DAYS_PER_ERA INT64_C(146097)   /* 400 Gregorian years */
#define WIN_YEARS_PER_ERA INT64_C(400)
/* days from 0000-03-01 to 1970-01-01 */
#define WIN_EPOCH_SHIFT_DAYS INT64_C(719468)

_Static_assert(WIN_DAY_MS % WIN_MINUTE_MS == 0, "a day is whole minutes");

/* Division rounding toward negative infinity: a time before the epoch
 * still belongs to the window that contains it (C's / truncates). */
static int64_t win_floor_div(int64_t a, int64_t b)
{
    assert(b > 0);
    int64_t q = a / b;
    if ((a % b) < 0)
        q--;
    return q;
}

static int64_t win_floor_mod(int64_t a, int64_t b)
{
    int64_t m = a % b;
    if (m < 0)
        m += b;
    assert(m >= 0);
    assert(m < b);
    return m;
}

/* Hinnant's civil_from_days, reduced to what the month index needs:
 * the year and the month (1..12) of a day count since 1970-01-01. */
static void win_civil_from_days(int64_t z, int64_t *year, int64_t *month)
{
    z += WIN_EPOCH_SHIFT_DAYS;
    const int64_t era = win_floor_div(z, WIN_DAYS_PER_ERA);
    const int64_t doe = z - era * WIN_DAYS_PER_ERA;            /* [0, 146096] */
    const int64_t yoe =
        (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* [0, 365] */
    const int64_t mp = (5 * doy + 2) / 153;                    /* [0, 11] */
    const int64_t m = mp < 10 ? mp + 3 : mp - 9;               /* [1, 12] */
    assert(doe >= 0 && doe < WIN_DAYS_PER_ERA);
    assert(m >= 1);
    assert(m <= WIN_MONTHS_PER_YEAR);
    *year = yoe + era * WIN_YEARS_PER_ERA + (m <= 2 ? 1 : 0);
    *month = m;
}

int64_t win_minute_index(int64_t now_ms)
{
    return win_floor_div(now_ms, WIN_MINUTE_MS);
}

int64_t win_day_index(int64_t now_ms)
{
    return win_floor_div(now_ms, WIN_DAY_MS);
}

/* ISO weeks start Monday; shifting by the epoch's weekday makes week 0 the
 * week of Monday 1969-12-29. */
int64_t win_week_index(int64_t now_ms)
{
    int64_t day = win_day_index(now_ms);
    return win_floor_div(day + WIN_EPOCH_WEEKDAY_FROM_MONDAY,
                         WIN_DAYS_PER_WEEK);
}

int64_t win_month_index(int64_t now_ms)
{
    int64_t year = 0, month = 0;
    win_civil_from_days(win_day_index(now_ms), &year, &month);
    return year * WIN_MONTHS_PER_YEAR + (month - 1);
}

int64_t win_minute_reset_ms(int64_t now_ms)
{
    int64_t left = WIN_MINUTE_MS - win_floor_mod(now_ms, WIN_MINUTE_MS);
    assert(left >= 1);
    assert(left <= WIN_MINUTE_MS);
    return left;
}

/* Lazy reset: counters of an older (or, after a clock step back, a newer)
 * minute are simply zeroed when the key is next touched. */
void win_rate_roll(win_rate *w, int64_t now_ms)
{
    assert(w != NULL);
    int32_t minute = (int32_t)win_minute_index(now_ms);
    if (w->minute != minute) {
        w->minute = minute;
        w->requests = 0;
        w->tokens = 0;
    }
    assert(w->minute == minute);
}

static uint32_t win_add_sat(uint32_t have, int64_t n)
{
    assert(n >= 0);
    return (int64_t)UINT32_MAX - have < n ? UINT32_MAX : have + (uint32_t)n;
}

void win_rate_add(win_rate *w, int64_t requests, int64_t tokens)
{
    w->requests = win_add_sat(w->requests, requests);
    w->tokens = win_add_sat(w->tokens, tokens);
}

int64_t win_spend_week(const win_spend *w)
{
    return win_week_index((int64_t)w->day * WIN_DAY_MS);
}

int64_t win_spend_month(const win_spend *w)
{
    return win_month_index((int64_t)w->day * WIN_DAY_MS);
}

/* Each calendar window resets on its own: a new day zeroes the day's spend
 * and, when the week or month of the new day differs from that of the
 * stored one, those counters too. */
void win_spend_roll(win_spend *w, int64_t now_ms)
{
    assert(w != NULL);
    int32_t day = (int32_t)win_day_index(now_ms);
    if (w->day == day) {
        return;
    }
    int64_t week = win_week_index(now_ms), month = win_month_index(now_ms);
    if (win_spend_week(w) != week) {
        w->spend_week = 0;
    }
    if (win_spend_month(w) != month) {
        w->spend_month = 0;
    }
    w->spend_day = 0;
    w->day = day;
}

static int64_t win_sub_clamped(int64_t have, int64_t amount)
{
    assert(amount >= 0);
    return have > amount ? have - amount : 0;
}

/* A refund for spend made at then_ms only reduces windows that are still
 * current at now_ms: yesterday's spend is already gone from today's day
 * window, so refunding it there would let today overspend. */
void win_spend_refund(win_spend *w, int64_t then_ms, int64_t now_ms,
                      int64_t amount)
{
    assert(w != NULL);
    assert(amount >= 0);
    win_spend_roll(w, now_ms);
    if (win_day_index(then_ms) == w->day)
        w->spend_day = win_sub_clamped(w->spend_day, amount);
    if (win_week_index(then_ms) == win_spend_week(w))
        w->spend_week = win_sub_clamped(w->spend_week, amount);
    if (win_month_index(then_ms) == win_spend_month(w))
        w->spend_month = win_sub_clamped(w->spend_month, amount);
}
