/* test_window.c -- minute/day/week/month windows and lazy counters.
 * Known timestamps were taken from `date -u -d ... +%s`. */
#include "window.h"
#include "t.h"

#define S(x) ((int64_t)(x) * 1000)     /* seconds -> ms */
#define MIN WIN_MINUTE_MS
#define DAY WIN_DAY_MS

/* Seconds since the epoch, from date(1). */
#define T_2024_03_01 INT64_C(1709251200)       /* Fri */
#define T_2024_01_01 INT64_C(1704067200)       /* Mon */
#define T_2024_03_10 INT64_C(1710028800)       /* Sun */
#define T_2024_03_11 INT64_C(1710115200)       /* Mon */
#define T_2024_02_01 INT64_C(1706745600)       /* Thu */
#define T_2000_02_29 INT64_C(951782400)        /* Tue */
#define T_2000_03_01 INT64_C(951868800)
#define T_2100_02_28 INT64_C(4107456000)       /* Sun */
#define T_2100_03_01 INT64_C(4107542400)       /* Mon */
#define T_1969_12_29 INT64_C(-259200)          /* Mon */
#define T_1969_12_01 INT64_C(-2678400)
#define T_1900_03_01 INT64_C(-2203891200)
#define DAY_1600_01_01 INT64_C(-135140)        /* Sat */
#define CAL_YEARS 800

static int64_t month_of(int64_t y, int64_t m)
{
    return y * 12 + (m - 1);
}

static void test_minute(void)
{
    T_EQ_I64(win_minute_index(0), 0);
    T_EQ_I64(win_minute_index(MIN - 1), 0);
    T_EQ_I64(win_minute_index(MIN), 1);
    T_EQ_I64(win_minute_index(-1), -1);
    T_EQ_I64(win_minute_index(-MIN), -1);
    T_EQ_I64(win_minute_index(-MIN - 1), -2);
    T_EQ_I64(win_minute_index(S(T_2024_03_01)), T_2024_03_01 / 60);
    T_EQ_I64(win_minute_reset_ms(0), MIN);
    T_EQ_I64(win_minute_reset_ms(1), MIN - 1);
    T_EQ_I64(win_minute_reset_ms(MIN - 1), 1);
    T_EQ_I64(win_minute_reset_ms(MIN), MIN);
    T_EQ_I64(win_minute_reset_ms(-1), 1);
    T_EQ_I64(win_minute_reset_ms(-MIN), MIN);
    T_EQ_I64(win_minute_reset_ms(-MIN + 1), MIN - 1);
    T_EQ_I64(win_minute_reset_ms(S(T_2024_03_01) + 59999), 1);
    T_EQ_I64(win_minute_reset_ms(S(T_2024_03_01) + 1234), MIN - 1234);
}

static void test_day(void)
{
    T_EQ_I64(win_day_index(0), 0);
    T_EQ_I64(win_day_index(DAY - 1), 0);
    T_EQ_I64(win_day_index(DAY), 1);
    T_EQ_I64(win_day_index(-1), -1);
    T_EQ_I64(win_day_index(-DAY), -1);
    T_EQ_I64(win_day_index(-DAY - 1), -2);
    T_EQ_I64(win_day_index(S(T_2024_03_01) - 1), T_2024_03_01 / 86400 - 1);
    T_EQ_I64(win_day_index(S(T_2024_03_01)), T_2024_03_01 / 86400);
}

static void test_leap_day_2024(void)
{
    int64_t before = S(T_2024_03_01) - 1;   /* 2024-02-29 23:59:59.999 */
    int64_t at = S(T_2024_03_01);
    T_EQ_I64(win_month_index(before), month_of(2024, 2));
    T_EQ_I64(win_month_index(at), month_of(2024, 3));
    T_EQ_I64(win_day_index(at) - win_day_index(before), 1);
    T_EQ_I64(win_week_index(at), win_week_index(before)); /* Thu -> Fri */
    T_EQ_I64(win_month_index(S(T_2024_02_01)), month_of(2024, 2));
    T_EQ_I64(win_month_index(S(T_2024_02_01) - 1), month_of(2024, 1));
    /* 29 days in February 2024. */
    T_EQ_I64(T_2024_03_01 - T_2024_02_01, 29 * 86400);
}

static void test_year_roll(void)
{
    int64_t at = S(T_2024_01_01);
    T_EQ_I64(win_month_index(at - 1), month_of(2023, 12));
    T_EQ_I64(win_month_index(at), month_of(2024, 1));
    T_EQ_I64(win_month_index(at) - win_month_index(at - 1), 1);
    /* 2023-12-31 was a Sunday, 2024-01-01 a Monday: new ISO week. */
    T_EQ_I64(win_week_index(at) - win_week_index(at - 1), 1);
    T_EQ_I64(win_day_index(at) - win_day_index(at - 1), 1);
}

static void test_week_roll(void)
{
    int64_t sun = S(T_2024_03_10), mon = S(T_2024_03_11);
    T_EQ_I64(win_week_index(sun), win_week_index(sun + DAY - 1));
    T_EQ_I64(win_week_index(mon) - win_week_index(mon - 1), 1);
    T_EQ_I64(win_week_index(mon + 7 * DAY - 1), win_week_index(mon));
    T_EQ_I64(win_week_index(mon + 7 * DAY), win_week_index(mon) + 1);
    /* The previous Monday starts the week containing the Sunday. */
    T_EQ_I64(win_week_index(sun), win_week_index(mon - 7 * DAY));
    /* Week 0 starts Monday 1969-12-29; 1970-01-01 (Thu) is in it. */
    T_EQ_I64(win_week_index(S(T_1969_12_29)), 0);
    T_EQ_I64(win_week_index(S(T_1969_12_29) - 1), -1);
    T_EQ_I64(win_week_index(0), 0);
    T_EQ_I64(win_week_index(4 * DAY - 1), 0);    /* Sun 1970-01-04 */
    T_EQ_I64(win_week_index(4 * DAY), 1);        /* Mon 1970-01-05 */
}

static void test_century_leap_rules(void)
{
    /* 2000 is a leap year (divisible by 400). */
    T_EQ_I64(T_2000_03_01 - T_2000_02_29, 86400);
    T_EQ_I64(win_month_index(S(T_2000_02_29)), month_of(2000, 2));
    T_EQ_I64(win_month_index(S(T_2000_02_29) + DAY - 1), month_of(2000, 2));
    T_EQ_I64(win_month_index(S(T_2000_03_01)), month_of(2000, 3));
    /* 2100 is not: Feb 28 is followed by Mar 1. */
    T_EQ_I64(win_month_index(S(T_2100_02_28)), month_of(2100, 2));
    T_EQ_I64(win_month_index(S(T_2100_02_28) + DAY - 1), month_of(2100, 2));
    T_EQ_I64(win_month_index(S(T_2100_03_01)), month_of(2100, 3));
    T_EQ_I64(win_week_index(S(T_2100_03_01)) -
                 win_week_index(S(T_2100_02_28)), 1);   /* Sun -> Mon */
    T_EQ_I64(win_month_index(S(T_1900_03_01)), month_of(1900, 3));
    T_EQ_I64(win_month_index(S(T_1900_03_01) - 1), month_of(1900, 2));
}

static void test_negative_times(void)
{
    T_EQ_I64(win_month_index(0), month_of(1970, 1));
    T_EQ_I64(win_month_index(-1), month_of(1969, 12));
    T_EQ_I64(win_month_index(S(T_1969_12_01)), month_of(1969, 12));
    T_EQ_I64(win_month_index(S(T_1969_12_01) - 1), month_of(1969, 11));
    T_EQ_I64(win_day_index(S(T_1969_12_01)), -31);
    T_EQ_I64(win_week_index(S(T_1969_12_01)), -4);  /* a Monday */
    T_EQ_I64(win_week_index(S(T_1969_12_01) - 1), -5);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Walk 800 years day by day with a plain calendar and compare every day's
 * indices (at its first and last millisecond). */
static void test_calendar_walk(void)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
    int64_t day = DAY_1600_01_01, y = 1600, m = 1, d = 1;
    int64_t wd = 5;                  /* 0 = Monday; 1600-01-01 Saturday */
    int64_t week = win_week_index(day * DAY);
    int64_t bad = 0;
    for (; y < 1600 + CAL_YEARS; day++) {
        int64_t t0 = day * DAY, t1 = t0 + DAY - 1;
        bad += win_day_index(t0) != day || win_day_index(t1) != day;
        bad += win_month_index(t0) != month_of(y, m);
        bad += win_month_index(t1) != month_of(y, m);
        if (wd == 0 && day != DAY_1600_01_01)
            week++;
        bad += win_week_index(t0) != week || win_week_index(t1) != week;
        wd = (wd + 1) % 7;
        int64_t dim = mdays[m - 1] + (m == 2 && is_leap(y));
        if (++d > dim) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(y, 2400);
    T_EQ_I64(win_month_index(day * DAY), month_of(2400, 1));
}

static void test_rate_roll(void)
{
    win_rate w = {0};
    int64_t t = S(T_2024_03_01) + 30000;
    win_rate_roll(&w, t);
    T_EQ_I64(w.minute, win_minute_index(t));
    w.requests = 5;
    w.tokens = 700;
    int64_t end = S(T_2024_03_01) + MIN - 1;  /* last ms of the minute */
    win_rate_roll(&w, end);
    T_EQ_I64(w.requests, 5);
    T_EQ_I64(w.tokens, 700);
    win_rate_roll(&w, end + 1);               /* exactly at the boundary */
    T_EQ_I64(w.requests, 0);
    T_EQ_I64(w.tokens, 0);
    T_EQ_I64(w.minute, win_minute_index(end) + 1);
    w.requests = 3;
    win_rate_roll(&w, end + 1 + 10 * MIN);    /* skip several minutes */
    T_EQ_I64(w.requests, 0);
    w.requests = 4;
    win_rate_roll(&w, end + 1 + 10 * MIN + MIN - 1);
    T_EQ_I64(w.requests, 4);
}

static win_spend spend_at(int64_t now, int64_t d, int64_t wk, int64_t mo)
{
    win_spend w = {0};
    win_spend_roll(&w, now);
    w.spend_day = d;
    w.spend_week = wk;
    w.spend_month = mo;
    return w;
}

static void test_spend_roll(void)
{
    /* Thu 2024-02-29 -> Fri 2024-03-01: day and month, not week. */
    win_spend w = spend_at(S(T_2024_03_01) - 1, 10, 20, 30);
    win_spend_roll(&w, S(T_2024_03_01) - 1);
    T_EQ_I64(w.spend_day, 10);
    win_spend_roll(&w, S(T_2024_03_01));
    T_EQ_I64(w.spend_day, 0);
    T_EQ_I64(w.spend_week, 20);
    T_EQ_I64(w.spend_month, 0);
    /* Sun -> Mon inside March: day and week, not month. */
    w = spend_at(S(T_2024_03_11) - 1, 1, 2, 3);
    win_spend_roll(&w, S(T_2024_03_11));
    T_EQ_I64(w.spend_day, 0);
    T_EQ_I64(w.spend_week, 0);
    T_EQ_I64(w.spend_month, 3);
    /* Within one day nothing changes. */
    w = spend_at(S(T_2024_03_10), 4, 5, 6);
    win_spend_roll(&w, S(T_2024_03_10) + DAY - 1);
    T_EQ_I64(w.spend_day, 4);
    T_EQ_I64(w.spend_week, 5);
    T_EQ_I64(w.spend_month, 6);
    /* New year on a Monday: all three. */
    w = spend_at(S(T_2024_01_01) - 1, 7, 8, 9);
    win_spend_roll(&w, S(T_2024_01_01));
    T_EQ_I64(w.spend_day + w.spend_week + w.spend_month, 0);
    T_EQ_I64(w.day, win_day_index(S(T_2024_01_01)));
    T_EQ_I64(win_spend_week(&w), win_week_index(S(T_2024_01_01)));
    T_EQ_I64(win_spend_month(&w), month_of(2024, 1));
}

static void test_spend_refund(void)
{
    int64_t mon = S(T_2024_03_11);
    /* Same day: all three windows get the refund. */
    win_spend w = spend_at(mon + 1000, 100, 200, 300);
    win_spend_refund(&w, mon + 500, mon + 2000, 40);
    T_EQ_I64(w.spend_day, 60);
    T_EQ_I64(w.spend_week, 160);
    T_EQ_I64(w.spend_month, 260);
    /* Spent yesterday (Sunday, last week), refunded today: only month. */
    w = spend_at(mon + 1000, 100, 200, 300);
    win_spend_refund(&w, mon - 1, mon + 2000, 40);
    T_EQ_I64(w.spend_day, 100);
    T_EQ_I64(w.spend_week, 200);
    T_EQ_I64(w.spend_month, 260);
    /* Spent last month: nothing. */
    w = spend_at(S(T_2024_03_01), 100, 200, 300);
    win_spend_refund(&w, S(T_2024_03_01) - 1, S(T_2024_03_01) + 5, 40);
    T_EQ_I64(w.spend_day, 100);
    T_EQ_I64(w.spend_week, 160);     /* Thu and Fri share the week */
    T_EQ_I64(w.spend_month, 300);
    /* Clamped at zero. */
    w = spend_at(mon, 10, 50, 1000);
    win_spend_refund(&w, mon, mon, 30);
    T_EQ_I64(w.spend_day, 0);
    T_EQ_I64(w.spend_week, 20);
    T_EQ_I64(w.spend_month, 970);
    win_spend_refund(&w, mon, mon, 0);
    T_EQ_I64(w.spend_month, 970);
}

/* The refund rolls to now first: a refund arriving after the day ended
 * zeroes the stale day counter rather than reducing it. */
static void test_refund_rolls_first(void)
{
    int64_t mon = S(T_2024_03_11);
    win_spend w = spend_at(mon, 100, 200, 300);
    win_spend_refund(&w, mon + 10, mon + DAY + 10, 40);
    T_EQ_I64(w.day, win_day_index(mon + DAY));
    T_EQ_I64(w.spend_day, 0);
    T_EQ_I64(w.spend_week, 160);
    T_EQ_I64(w.spend_month, 260);
}

int main(void)
{
    T_RUN(test_minute);
    T_RUN(test_day);
    T_RUN(test_leap_day_2024);
    T_RUN(test_year_roll);
    T_RUN(test_week_roll);
    T_RUN(test_century_leap_rules);
    T_RUN(test_negative_times);
    T_RUN(test_calendar_walk);
    T_RUN(test_rate_roll);
    T_RUN(test_spend_roll);
    T_RUN(test_spend_refund);
    T_RUN(test_refund_rolls_first);
    return t_done();
}
