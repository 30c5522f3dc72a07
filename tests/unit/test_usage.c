/* test_usage -- per-day usage counters, the newest day inline and the
 * older ones packed (usage.h), checked against a plain array model. */
#include <stdbool.h>
#include <string.h>

#include "t.h"
#include "usage.h"
#include "window.h"

#define MODEL_OPS 20000u             /* random operations in test_model */
#define BIG_COUNT UINT32_MAX         /* denied counters at their limit */

static const int64_t DAY0 = INT64_C(1711929600000); /* 2024-04-01 00:00 UTC */

static usage_day g_days[USAGE_DAYS_MAX];

/* Field by field (struct padding is not compared). */
static bool day_eq(const usage_day *a, const usage_day *b)
{
    for (uint32_t j = 0; j < USAGE_DECISIONS; j++) {
        if (a->denied[j] != b->denied[j])
            return false;
    }
    return a->day == b->day && a->requests == b->requests &&
           a->allowed == b->allowed && a->tokens == b->tokens &&
           a->spend == b->spend;
}

/* Day i of u, oldest first (decoded into g_days). */
static const usage_day *day_at(const usage_log *u, uint16_t i)
{
    T_EQ_I64(usage_log_days(u, g_days), u->n);
    return &g_days[i];
}

static void test_counts_per_day(void)
{
    usage_log u = {0};
    T_EQ_I64(usage_note_check(&u, DAY0, 0, 100, 7), 0);
    T_EQ_I64(usage_note_check(&u, DAY0 + 5, 9, 0, 0), 0);
    T_EQ_I64(usage_note_adjust(&u, DAY0 + 6, -40, 3), 0);
    T_EQ_I64(usage_note_check(&u, DAY0 + WIN_DAY_MS, 11, 0, 0), 0);
    T_REQUIRE(u.n == 2);
    T_EQ_I64(day_at(&u, 0)->day, win_day_index(DAY0));
    T_EQ_I64(day_at(&u, 0)->requests, 2);
    T_EQ_I64(day_at(&u, 0)->allowed, 1);
    T_EQ_I64(day_at(&u, 0)->denied[9], 1);
    T_EQ_I64(day_at(&u, 0)->spend, 60);
    T_EQ_I64(day_at(&u, 0)->tokens, 10);
    T_EQ_I64(day_at(&u, 1)->denied[11], 1);
    T_EQ_I64(day_at(&u, 1)->allowed, 0);
    usage_free(&u);
}

static void test_clock_step_back_counts_into_last_day(void)
{
    usage_log u = {0};
    T_EQ_I64(usage_note_check(&u, DAY0 + WIN_DAY_MS, 0, 1, 0), 0);
    T_EQ_I64(usage_note_check(&u, DAY0, 0, 1, 0), 0);
    T_EQ_I64(u.n, 1);
    T_EQ_I64(day_at(&u, 0)->allowed, 2);
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
    T_EQ_I64(day_at(&u, 0)->spend, 5);   /* the oldest five were dropped */
    T_EQ_I64(day_at(&u, u.n - 1)->spend, USAGE_DAYS_MAX + 4);
    for (uint16_t i = 0; i < u.n; i++) {
        T_EQ_I64(g_days[i].day, win_day_index(DAY0) + 5 + i);
    }
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
    T_EQ_I64(day_at(&u, 1)->requests, 4);
    T_EQ_I64(day_at(&u, 0)->requests, 3);
    usage_free(&u);
}

/* The newest day is inline (no allocation); older days are packed small,
 * with every field (negative, huge and zero ones) kept exactly. */
static void test_packed_days_exact(void)
{
    usage_log u = {0};
    T_EQ_I64(usage_note_check(&u, DAY0, 3, 0, 0), 0);
    T_CHECK(u.past == NULL && u.n == 1);
    usage_day odd = {.day = (int32_t)win_day_index(DAY0) + 2,
                     .requests = INT64_MAX, .allowed = 0,
                     .tokens = -5, .spend = INT64_MIN};
    odd.denied[0] = BIG_COUNT;
    odd.denied[USAGE_DECISIONS - 1] = 1;
    T_EQ_I64(usage_put_day(&u, &odd), 0);
    usage_day plain = {.day = odd.day + 300, .requests = 1000,
                       .allowed = 990, .tokens = 12345, .spend = 678900};
    plain.denied[4] = 10;
    T_EQ_I64(usage_put_day(&u, &plain), 0);
    T_EQ_I64(usage_note_check(&u, (int64_t)(plain.day + 1) * WIN_DAY_MS, 0,
                              1, 1), 0);
    T_REQUIRE(u.n == 4);
    T_CHECK(day_eq(day_at(&u, 1), &odd));
    T_CHECK(day_eq(day_at(&u, 2), &plain));
    T_EQ_I64(day_at(&u, 0)->denied[3], 1);
    /* plain packs into well under a third of its 88 bytes */
    T_CHECK(u.past_bytes < 3 * sizeof(usage_day));
    usage_iter it;
    usage_day d;
    usage_iter_init(&it, &u);
    int32_t prev = INT32_MAX;
    int n = 0;
    while (usage_iter_next(&it, &d)) {
        T_CHECK(d.day < prev);
        prev = d.day;
        n++;
    }
    T_EQ_I64(n, 4);
    usage_free(&u);
    T_CHECK(u.past == NULL && u.n == 0);
}

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return *s >> 33;
}

/* Random checks and adjusts over ~2 years (so days are dropped), against
 * a plain array of days. */
static void test_model(void)
{
    static usage_day model[USAGE_DAYS_MAX + 1];
    uint32_t mn = 0;
    usage_log u = {0};
    uint64_t s = 7;
    int64_t now = DAY0;
    size_t bad = 0;
    for (uint32_t op = 0; op < MODEL_OPS; op++) {
        uint64_t r = rng_next(&s);
        if (r % 16 == 0) {
            now += (int64_t)(1 + r % 3) * WIN_DAY_MS; /* skip days too */
        }
        int32_t day = (int32_t)win_day_index(now);
        if (mn == 0 || model[mn - 1].day < day) {
            if (mn == USAGE_DAYS_MAX) {
                memmove(model, model + 1, (mn - 1) * sizeof(*model));
                mn--;
            }
            memset(&model[mn], 0, sizeof(*model));
            model[mn++].day = day;
        }
        usage_day *m = &model[mn - 1];
        if (r % 5 == 0) {
            int64_t sd = (int64_t)(r % 1000) - 500, td = (int64_t)(r % 77);
            bad += usage_note_adjust(&u, now, sd, td) != 0;
            m->spend += sd;
            m->tokens += td;
        } else {
            int dec = (int)(r % USAGE_DECISIONS);
            int64_t ch = (int64_t)(r % 100000), tk = (int64_t)(r % 4000);
            bad += usage_note_check(&u, now, dec, ch, tk) != 0;
            m->requests++;
            if (dec == 0) {
                m->allowed++;
                m->tokens += tk;
                m->spend += ch;
            } else {
                m->denied[dec]++;
            }
        }
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(u.n, mn);
    T_CHECK(mn == USAGE_DAYS_MAX);
    (void)usage_log_days(&u, g_days);
    for (uint32_t i = 0; i < mn; i++) {
        bad += !day_eq(&g_days[i], &model[i]);
    }
    T_EQ_I64(bad, 0);
    /* 400 days of this traffic in far less than 400 x 88 bytes */
    T_CHECK(u.past_bytes < (USAGE_DAYS_MAX * sizeof(usage_day)) / 3);
    usage_free(&u);
}

int main(void)
{
    T_RUN(test_counts_per_day);
    T_RUN(test_clock_step_back_counts_into_last_day);
    T_RUN(test_bounded_days);
    T_RUN(test_put_day_in_order);
    T_RUN(test_packed_days_exact);
    T_RUN(test_model);
    return t_done();
}
