/* it_alert_window -- an alert fires exactly once per window and again in
 * the next one. The next UTC day is reached with the test-only
 * debug_clock operation (daemon started with --test-hooks 1), which moves
 * the daemon's clock forward; a daemon without it refuses the op. */
#include <stdlib.h>

#include "daemon.h"
#include "fixtures.h"
#include "qc_admin.h"
#include "t.h"
#include "window.h"

#define THRESHOLD_MICRO 1000
#define STEP_MICRO 600
#define QUIET_MS 500           /* no event may arrive in this long */
#define EVENT_WAIT_MS 5000

static td_daemon g_d;
static qc_ctx *g_c, *g_watch;

/* The next event, or NULL after wait_ms. */
static Quotad__Reply *next_event(uint32_t wait_ms)
{
    Quotad__Reply *ev = NULL;
    return qc_watch_next(g_watch, &ev, wait_ms) == QC_OK ? ev : NULL;
}

static void spend(const char *secret)
{
    T_EQ_I64(fx_decide(g_c, secret, STEP_MICRO), QC_ALLOWED);
}

static void test_once_per_window_and_again(void)
{
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(g_c, 1000000000, 0, 0, &ws) == QC_OK);
    fx_key k;
    T_REQUIRE(fx_key_create(g_c, ws, NULL, &k) == QC_OK);
    Quotad__Reply *r = NULL;
    T_REQUIRE(qc_set_alert(g_c, ws, k.id,
                           QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                           THRESHOLD_MICRO, false, &r) == QC_OK);
    qc_reply_free(r);
    T_REQUIRE(qc_watch_start(g_watch, ws, &r) == QC_OK);
    qc_reply_free(r);

    spend(k.secret); /* 600: under the threshold */
    T_CHECK(next_event(QUIET_MS) == NULL);
    spend(k.secret); /* 1200: crossed */
    Quotad__Reply *ev = next_event(EVENT_WAIT_MS);
    T_REQUIRE(ev != NULL && ev->alert != NULL);
    int64_t window = ev->alert->window;
    T_EQ_I64(ev->alert->key_id, k.id);
    T_EQ_I64(ev->alert->value, 2 * STEP_MICRO);
    qc_reply_free(ev);
    spend(k.secret); /* still over: same window, no second event */
    T_CHECK(next_event(QUIET_MS) == NULL);

    T_REQUIRE(fx_advance_clock(g_c, WIN_DAY_MS) == QC_OK);
    spend(k.secret); /* new day: 600 */
    T_CHECK(next_event(QUIET_MS) == NULL);
    spend(k.secret); /* 1200 in the new day: fires again */
    ev = next_event(EVENT_WAIT_MS);
    T_REQUIRE(ev != NULL && ev->alert != NULL);
    T_EQ_I64(ev->alert->window, window + 1);
    qc_reply_free(ev);
}

static void test_debug_clock_needs_hooks(void)
{
    td_daemon d;
    T_REQUIRE(td_start(&d, NULL) == 0);
    qc_ctx *c = td_connect(&d);
    T_CHECK(c != NULL && fx_advance_clock(c, 1000) ==
                             QC_CODE_FAILED_PRECONDITION);
    if (c != NULL) {
        qc_free(c);
    }
    T_EQ_I64(td_stop(&d), 0);
    td_cleanup(&d);
}

int main(void)
{
    const char *args[] = {"--test-hooks", "1", NULL};
    if (td_start(&g_d, args) != 0 || (g_c = td_connect(&g_d)) == NULL ||
        (g_watch = td_connect(&g_d)) == NULL) {
        printf("FAIL start\n");
        return 1;
    }
    T_RUN(test_once_per_window_and_again);
    T_RUN(test_debug_clock_needs_hooks);
    qc_free(g_watch);
    qc_free(g_c);
    int st = td_stop(&g_d);
    td_cleanup(&g_d);
    if (st != 0) {
        printf("FAIL clean_shutdown (status %d)\n", st);
        return 1;
    }
    return t_done();
}
