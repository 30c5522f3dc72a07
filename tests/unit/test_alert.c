/* test_alert -- alert rules, once-per-window firing and the event ring. */
#include <string.h>

#include "alert.h"
#include "t.h"
#include "window.h"

static const int64_t DAY0 = INT64_C(1711929600000); /* 2024-04-01 00:00 UTC */

static void test_rules_add_replace_clear(void)
{
    alert_set *s = NULL;
    T_EQ_I64(alert_set_rule(&s, ALERT_SPEND_DAY, 100, false), 0);
    T_EQ_I64(alert_set_rule(&s, ALERT_WALLET_BELOW, 5, false), 0);
    T_REQUIRE(s != NULL);
    T_EQ_I64(s->n, 2);
    T_EQ_I64(alert_set_rule(&s, ALERT_SPEND_DAY, 200, false), 0);
    T_EQ_I64(s->n, 2);
    T_EQ_I64(s->r[0].threshold, 200);
    T_EQ_I64(alert_set_rule(&s, ALERT_SPEND_DAY, 0, true), 0);
    T_EQ_I64(alert_set_rule(&s, ALERT_WALLET_BELOW, 0, true), 0);
    T_CHECK(s == NULL); /* freed when empty */
    for (uint32_t i = 0; i < ALERT_RULES_MAX; i++) {
        T_EQ_I64(alert_set_rule(&s, (uint8_t)(10 + i), 1, false), 0);
    }
    T_EQ_I64(alert_set_rule(&s, 99, 1, false), -2);
    alert_set_free(&s);
}

static void test_fires_once_per_window(void)
{
    alert_queue q;
    T_REQUIRE(alert_queue_init(&q) == 0);
    alert_set *s = NULL;
    T_REQUIRE(alert_set_rule(&s, ALERT_SPEND_DAY, 100, false) == 0);
    alert_values v = {.spend_day = 99, .quota_total = -1};
    alert_eval(&q, s, 7, 0, &v, DAY0, 1);
    T_EQ_I64(alert_next_seq(&q), 1);       /* under: nothing */
    v.spend_day = 100;
    alert_eval(&q, s, 7, 0, &v, DAY0 + 1, 2);
    alert_eval(&q, s, 7, 0, &v, DAY0 + 2, 3);
    T_EQ_I64(alert_next_seq(&q), 2);       /* exactly one */
    alert_eval(&q, s, 7, 0, &v, DAY0 + WIN_DAY_MS, 4);
    T_EQ_I64(alert_next_seq(&q), 3);       /* again the next day */
    alert_event ev[4];
    uint64_t cursor = 1, dropped = 9;
    T_EQ_I64(alert_read(&q, &cursor, ev, 4, &dropped), 2);
    T_EQ_I64(dropped, 0);
    T_EQ_I64(ev[0].window + 1, ev[1].window);
    T_EQ_I64(ev[0].value, 100);
    T_EQ_I64(ev[0].state_seq, 2);
    T_EQ_I64(ev[1].state_seq, 4);
    alert_set_free(&s);
    alert_queue_destroy(&q);
}

static void test_kinds(void)
{
    alert_queue q;
    T_REQUIRE(alert_queue_init(&q) == 0);
    alert_set *s = NULL;
    T_REQUIRE(alert_set_rule(&s, ALERT_WALLET_BELOW, 50, false) == 0);
    T_REQUIRE(alert_set_rule(&s, ALERT_QUOTA_BELOW_PCT, 10, false) == 0);
    T_REQUIRE(alert_set_rule(&s, ALERT_SPEND_WEEK, 1000, false) == 0);
    alert_values v = {.balance = 50, .quota_total = 1000,
                      .quota_remaining = 100, .spend_week = 999};
    alert_eval(&q, s, 1, 2, &v, DAY0, 1);
    T_EQ_I64(alert_next_seq(&q), 1);       /* 50 !< 50, 10% !< 10% */
    v.balance = 49;
    v.quota_remaining = 99;
    v.spend_week = 1000;
    alert_eval(&q, s, 1, 2, &v, DAY0, 2);
    T_EQ_I64(alert_next_seq(&q), 4);
    v.quota_total = -1;                    /* unlimited never fires */
    alert_set *u = NULL;
    T_REQUIRE(alert_set_rule(&u, ALERT_QUOTA_BELOW_PCT, 100, false) == 0);
    alert_eval(&q, u, 1, 3, &v, DAY0, 3);
    T_EQ_I64(alert_next_seq(&q), 4);
    alert_set_free(&s);
    alert_set_free(&u);
    alert_queue_destroy(&q);
}

static void test_slow_reader_is_told_what_it_missed(void)
{
    alert_queue q;
    T_REQUIRE(alert_queue_init(&q) == 0);
    alert_set *s = NULL;
    T_REQUIRE(alert_set_rule(&s, ALERT_SPEND_DAY, 1, false) == 0);
    alert_values v = {.spend_day = 5, .quota_total = -1};
    uint32_t total = ALERT_QUEUE_MAX + 10;
    for (uint32_t i = 0; i < total; i++) {
        alert_eval(&q, s, 1, 0, &v, DAY0 + (int64_t)i * WIN_DAY_MS, i);
    }
    alert_event ev[1];
    uint64_t cursor = 1, dropped = 0;
    T_EQ_I64(alert_read(&q, &cursor, ev, 1, &dropped), 1);
    T_EQ_I64(dropped, 10);
    T_EQ_I64(ev[0].seq, 11);
    alert_set_free(&s);
    alert_queue_destroy(&q);
}

int main(void)
{
    T_RUN(test_rules_add_replace_clear);
    T_RUN(test_fires_once_per_window);
    T_RUN(test_kinds);
    T_RUN(test_slow_reader_is_told_what_it_missed);
    return t_done();
}
