/* test_usage -- per-day usage counters. */
#include <string.h>

#include "t.h"
#include "usage.h"
#include "window.h"

static const int64_t DAY0 = INT64_C(1711929600000); /* 2024-04-01 00:00 UTC */

static void test_counts_per_day(void)
{
    usage_log u = {0};
    T_EQ_I64(usage_note_check(&u, DAY0, 0, 100, 7), 0);
    T_EQ_I64(usage_note_check(&u, DAY0 + 5, 9, 0, 0), 0);
    T_EQ_I64(usage_note_adjust(&u, DAY0 + 6, -40, 3), 0);
    T_EQ_I64(usage_note_check(&u, DAY0 + WIN_DAY_MS, 11, 0, 0), 0);
    T_REQUIRE(u.n == 2);
    T_EQ_I64(usage_log_days(&u)[0].day, win_day_index(DAY0));
    T_EQ_I64(usage_log_days(&u)[0].requests, 2);
    T_EQ_I64(usage_log_days(&u)[0].allowed, 1);
    T_EQ_I64(usage_log_days(&u)[0].denied[9], 1);
    T_EQ_I64(usage_log_days(&u)[0].spend, 60);
    T_EQ_I64(usage_log_days(&u)[0].tokens, 10);
    T_EQ_I64(usage_log_days(&u)[1].denied[11], 1);
    T_EQ_I64(usage_log_days(&u)[1].allowed, 0);
    usage_free(&u);
}

static void test_clock_step_back_counts_into_last_day(void)
{
    usage_log u = {0};
    T_EQ_I64(usage_note_check(&u, DAY0 + WIN_DAY_MS, 0, 1, 0), 0);
    T_EQ_I64(usage_note_check(&u, DAY0, 0, 1, 0), 0);
    T_EQ_I64(u.n, 1);
    T_EQ_I64(usage_log_days(&u)[0].allowed, 2);
    usage_free(&u);
}

static void test_bounded_days(void)
{
    usage_log u = {0};
    for (uint32_t i = 0; i < USAGE_DAYS_MAX + 5; i++) {
        T_EQ_I64(usage_note_check(&u, DAY0 + (int64_t)i * WIN_DAY_MS, 0, i,
                                  0), 0);
    }
    T_EQ_I64(u.n, USAGE_DAYS_MAX);
    T_EQ_I64(usage_log_days(&u)[0].spend, 5);   /* the oldest five were dropped */
    T_EQ_I64(usage_log_days(&u)[u.n - 1].spend, USAGE_DAYS_MAX + 4);
    usage_free(&u);
}

static void test_put_day_in_order(void)
{
    usage_log u = {0};
    usage_day a = {.day = 10, .requests = 3}, b = {.day = 12, .requests = 4};
    T_EQ_I64(usage_put_day(&u, &a), 0);
    T_EQ_I64(usage_put_day(&u, &b), 0);
    usage_day old = {.day = 11};
    T_EQ_I64(usage_put_day(&u, &old), -1); /* out of order */
    T_EQ_I64(u.n, 2);
    T_EQ_I64(usage_log_days(&u)[1].requests, 4);
    usage_free(&u);
}

/* One day lives inline (no allocation); the second moves it, intact, to
 * the front of a heap array; freeing empties the log for reuse. */
static void test_first_day_inline(void)
{
    usage_log u = {0};
    for (int i = 0; i < 5; i++)
        T_EQ_I64(usage_note_check(&u, DAY0 + i, i == 4 ? 3 : 0, 10, 2), 0);
    T_EQ_I64(usage_note_adjust(&u, DAY0 + 9, -5, 1), 0);
    T_CHECK(u.d == NULL);
    T_EQ_I64(u.n, 1);
    T_CHECK(usage_log_days(&u) == &u.one);
    usage_day first = u.one;
    T_EQ_I64(first.requests, 5);
    T_EQ_I64(first.allowed, 4);
    T_EQ_I64(first.denied[3], 1);
    T_EQ_I64(first.spend, 35);
    T_EQ_I64(first.tokens, 9);
    T_EQ_I64(usage_note_check(&u, DAY0 + WIN_DAY_MS, 0, 7, 0), 0);
    T_REQUIRE(u.d != NULL && u.n == 2 && u.cap >= 2);
    T_CHECK(memcmp(&usage_log_days(&u)[0], &first, sizeof first) == 0);
    T_EQ_I64(usage_log_days(&u)[1].spend, 7);
    usage_free(&u);
    T_CHECK(u.d == NULL && u.n == 0 && u.cap == 0);
    T_EQ_I64(usage_note_check(&u, DAY0, 0, 1, 0), 0);
    T_EQ_I64(usage_log_days(&u)[0].requests, 1);
    T_EQ_I64(usage_log_days(&u)[0].spend, 1);
    usage_free(&u);
}

int main(void)
{
    T_RUN(test_counts_per_day);
    T_RUN(test_clock_step_back_counts_into_last_day);
    T_RUN(test_bounded_days);
    T_RUN(test_put_day_in_order);
    T_RUN(test_first_day_inline);
    return t_done();
}
