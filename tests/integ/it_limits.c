/* it_limits -- per-address connection limit and the open-mode guard.
 *
 * A daemon with --conns-per-ip-max 3: three connections from 127.0.0.1
 * work, a fourth is refused (closed before HELLO completes), and once
 * one closes a new one is admitted again (the count is given back).
 */
#include <stdlib.h>

#include "daemon.h"
#include "fixtures.h"
#include "t.h"

#define LIMIT_CONNS 3

static td_daemon g_d;

static void test_per_ip_limit(void)
{
    qc_ctx *c[LIMIT_CONNS] = {0};
    for (int i = 0; i < LIMIT_CONNS; i++) {
        c[i] = td_connect(&g_d);
        T_CHECK(c[i] != NULL);
    }
    qc_ctx *extra = td_connect(&g_d);
    T_CHECK(extra == NULL);
    if (extra != NULL) {
        qc_free(extra);
    }
    for (int i = 0; i < LIMIT_CONNS; i++) {
        T_CHECK(c[i] != NULL && qc_ping(c[i]) == QC_OK);
    }
    qc_free(c[0]);
    c[0] = NULL;
    /* The slot is released on the worker thread: allow it a moment. */
    qc_ctx *again = NULL;
    for (int tries = 0; tries < 50 && again == NULL; tries++) {
        td_sleep_ms(20);
        again = td_connect(&g_d);
    }
    T_CHECK(again != NULL && qc_ping(again) == QC_OK);
    if (again != NULL) {
        qc_free(again);
    }
    for (int i = 1; i < LIMIT_CONNS; i++) {
        if (c[i] != NULL) {
            qc_free(c[i]);
        }
    }
}

/* Without a root credential the daemon must refuse a public address. */
static void test_open_mode_loopback_only(void)
{
    td_daemon d;
    const char *args[] = {"--host", "0.0.0.0", NULL};
    int rc = td_start(&d, args);
    T_CHECK(rc != 0);
    if (rc == 0) {
        td_stop(&d);
    }
    td_cleanup(&d);
}

int main(void)
{
    const char *args[] = {"--conns-per-ip-max", "3", NULL};
    if (td_start(&g_d, args) != 0) {
        printf("FAIL start\n");
        return 1;
    }
    T_RUN(test_per_ip_limit);
    T_RUN(test_open_mode_loopback_only);
    int st = td_stop(&g_d);
    td_cleanup(&g_d);
    if (st != 0) {
        printf("FAIL clean_shutdown (status %d)\n", st);
        return 1;
    }
    return t_done();
}
