/* it_async -- libquotad's event-loop API against the real daemon
 * (fsync always, the default): many checks in flight on non-blocking
 * contexts driven by one poll() loop, as a gateway's event loop would.
 *
 * - No call waits: QC_ERR_AGAIN when a reply is not whole yet, or when
 *   the socket takes no more; appends far past the 64 KiB auto-flush and
 *   past what the socket takes queue the rest (qc_want_write) instead of
 *   waiting.
 * - Two connections race a wallet of AS_BALANCE micro-units with
 *   AS_CHECKS one-unit debits, AS_WINDOW in flight each: exactly
 *   AS_BALANCE are allowed, the rest are insufficient_credits, every
 *   reply carries the id of its request in order, and the wallet ends at
 *   0, also after kill -9 and a restart (every acknowledged debit was
 *   durable).
 * - A daemon killed with requests in flight reads as QC_ERR_IO, not as a
 *   wait or QC_ERR_AGAIN forever; so does it on a connection with nothing
 *   in flight.
 */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "t.h"

#define AS_CONNS 2
#define AS_CHECKS 20000            /* over all connections */
#define AS_BALANCE INT64_C(15000)  /* micro-units: 1 per check */
#define AS_WINDOW 256              /* in flight per connection */
#define AS_BURST 200000            /* ~18 MB of checks: more than the
                                      loopback socket buffers hold */
#define AS_TIMEOUT_MS 3000         /* the contexts' timeout_ms */
#define AS_DEADLINE_MS 120000      /* the whole race, under ASan */
#define AS_POLL_MS 100
#define AS_FAST_MS 500             /* a call that does not wait */

typedef struct as_conn {
    qc_ctx *c;
    uint64_t first_id, next_want; /* ids of this connection's requests */
    size_t sent, done;
} as_conn;

typedef struct as_tally {
    size_t allowed, broke, other;
    bool out_of_order;
} as_tally;

static td_daemon g_d;
static qc_ctx *g_root;
static fx_key g_key;   /* of the test running: its own workspace */

/* A fresh workspace holding balance, and a key of it in g_key. */
static int as_wallet(int64_t balance)
{
    uint32_t ws = 0;
    int rc = fx_workspace(g_root, balance, 0, 0, &ws);
    return rc == QC_OK ? fx_key_create(g_root, ws, NULL, &g_key) : rc;
}

static qc_ctx *as_connect(void)
{
    qc_options o = qc_options_default();
    o.port = g_d.port;
    o.client_name = "it-async";
    o.nonblocking = true;
    o.timeout_ms = AS_TIMEOUT_MS;
    qc_ctx *c = NULL;
    return qc_connect(&o, &c) == QC_OK ? c : NULL;
}

static int as_append(as_conn *a)
{
    qc_check_req rq = {.secret = g_key.secret, .amount = 1};
    uint64_t id = 0;
    int rc = qc_check_append(a->c, &rq, &id);
    if (rc == QC_OK) {
        if (a->sent == 0) {
            a->first_id = a->next_want = id;
        }
        a->sent++;
    }
    return rc;
}

/* Read every whole reply; QC_ERR_AGAIN ends a pass normally. */
static int as_drain(as_conn *a, as_tally *t)
{
    for (;;) {
        qc_check_res rs;
        uint64_t id = 0;
        int rc = qc_check_read_nowait(a->c, &id, &rs);
        if (rc == QC_ERR_AGAIN)
            return QC_OK;
        if (rc != QC_OK) {
            return rc;
        }
        t->out_of_order |= id != a->next_want;
        a->next_want = id + 1;
        a->done++;
        if (rs.decision == QC_ALLOWED) {
            t->allowed++;
        } else if (rs.decision == QC_INSUFFICIENT_CREDITS) {
            t->broke++;
        } else {
            t->other++;
        }
    }
}

/* Top up the window, send what the socket takes. */
static int as_feed(as_conn *a, size_t quota)
{
    while (a->sent < quota && a->sent - a->done < AS_WINDOW) {
        int rc = as_append(a);
        if (rc != QC_OK) {
            return rc;
        }
    }
    int rc = qc_flush_nowait(a->c);
    return rc == QC_ERR_AGAIN ? QC_OK : rc;
}

static void test_nowait_semantics(void)
{
    T_REQUIRE(as_wallet(AS_BURST + 2) == QC_OK);
    qc_ctx *c = as_connect();
    T_REQUIRE(c != NULL);
    as_conn a = {.c = c};
    as_tally t = {0};
    qc_check_res rs;
    T_EQ_I64(qc_check_read_nowait(c, NULL, &rs), QC_ERR_AGAIN); /* idle */
    T_EQ_I64(qc_flush_nowait(c), QC_OK);        /* nothing queued */
    T_CHECK(!qc_want_write(c));
    T_CHECK(qc_fd(c) >= 0);
    /* one request: sent by the read, whose reply cannot be there yet */
    T_EQ_I64(as_append(&a), QC_OK);
    T_CHECK(qc_want_write(c));
    int64_t t0 = td_now_ms();
    T_EQ_I64(qc_check_read_nowait(c, NULL, &rs), QC_ERR_AGAIN);
    T_CHECK(td_now_ms() - t0 < AS_FAST_MS);
    T_CHECK(!qc_want_write(c));
    /* a burst far past the auto-flush size to a stalled server, which
     * reads nothing: the sockets fill, and still no append waits (a
     * waiting flush would time out here after AS_TIMEOUT_MS) */
    T_REQUIRE(td_pause(&g_d) == 0);
    t0 = td_now_ms();
    int rc = QC_OK;
    for (int i = 0; i < AS_BURST && rc == QC_OK; i++) {
        rc = as_append(&a);
    }
    int64_t took_ms = td_now_ms() - t0;
    int flushed = qc_flush_nowait(c);
    T_REQUIRE(td_resume(&g_d) == 0);
    T_EQ_I64(rc, QC_OK);
    T_CHECK(took_ms < AS_TIMEOUT_MS);
    T_EQ_I64(flushed, QC_ERR_AGAIN);   /* the rest is still queued */
    T_CHECK(qc_want_write(c));
    int64_t end = td_now_ms() + AS_DEADLINE_MS;
    while (a.done < a.sent && rc == QC_OK && td_now_ms() < end) {
        struct pollfd p = {.fd = qc_fd(c), .events = POLLIN};
        p.events |= qc_want_write(c) ? POLLOUT : 0;
        (void)poll(&p, 1, AS_POLL_MS);
        rc = qc_flush_nowait(c);
        rc = rc == QC_ERR_AGAIN ? QC_OK : rc;
        if (rc == QC_OK) {
            rc = as_drain(&a, &t);
        }
    }
    T_EQ_I64(rc, QC_OK);
    T_EQ_I64(a.done, AS_BURST + 1);
    T_EQ_I64(t.allowed, AS_BURST + 1);
    T_CHECK(!t.out_of_order);
    T_EQ_I64(qc_in_flight(c), 0);
    /* the waiting calls still work on a non-blocking context */
    T_EQ_I64(fx_check(c, g_key.secret, 1, &rs), QC_OK);
    T_EQ_I64(rs.decision, QC_ALLOWED);
    qc_free(c);
}

/* One poll() pass over every connection. */
/* Read the next reply with the check reader (crs) or the settle reader
 * (srs), polling (bounded). */
static int as_read_wait(qc_ctx *c, uint64_t *id, qc_check_res *crs,
                        qc_settle_res *srs)
{
    int64_t end = td_now_ms() + AS_TIMEOUT_MS;
    for (;;) {
        int rc = crs != NULL ? qc_check_read_nowait(c, id, crs)
                             : qc_settle_read_nowait(c, id, srs);
        if (rc != QC_ERR_AGAIN || td_now_ms() >= end)
            return rc;
        struct pollfd p = {.fd = qc_fd(c), .events = POLLIN};
        (void)poll(&p, 1, AS_POLL_MS);
    }
}

static int as_check_wait(qc_ctx *c, uint64_t *id, qc_check_res *rs)
{
    return as_read_wait(c, id, rs, NULL);
}

static int as_settle_wait(qc_ctx *c, uint64_t *id, qc_settle_res *rs)
{
    return as_read_wait(c, id, NULL, rs);
}

/* Holds, settles and voids pipelined on one connection, in one flush:
 * each reply is read with its reader, in order, and the wallet ends at
 * exactly what the settles charged. Reading a reply with the wrong
 * reader is a protocol error that breaks the context. */
static void test_pipelined_settle_and_void(void)
{
    enum { HOLDS = 8, HOLD = 100, COST = 30 };
    T_REQUIRE(as_wallet(HOLDS * HOLD) == QC_OK);
    qc_ctx *c = as_connect();
    T_REQUIRE(c != NULL);
    uint64_t holds[HOLDS], id = 0, want = 0;
    qc_check_req rq = {.secret = g_key.secret, .amount = HOLD, .hold = true};
    for (int i = 0; i < HOLDS; i++) {
        T_REQUIRE(qc_check_append(c, &rq, i == 0 ? &want : NULL) == QC_OK);
    }
    T_REQUIRE(qc_flush_nowait(c) == QC_OK);
    for (int i = 0; i < HOLDS; i++) {
        qc_check_res rs;
        T_REQUIRE(as_check_wait(c, &id, &rs) == QC_OK);
        T_EQ_I64(id, want + (uint64_t)i);
        T_REQUIRE(rs.decision == QC_ALLOWED && rs.hold_id != 0);
        holds[i] = rs.hold_id;
    }
    /* Even holds settled for COST, odd ones voided, and one more check
     * in the middle that the reservations still refuse. */
    for (int i = 0; i < HOLDS; i++) {
        char idem[32];
        snprintf(idem, sizeof idem, "as-settle-%d", i);
        int rc = i % 2 == 0
                     ? qc_settle_append(c, holds[i], COST, 1, idem,
                                        i == 0 ? &want : NULL)
                     : qc_void_append(c, holds[i], NULL);
        T_REQUIRE(rc == QC_OK);
    }
    T_REQUIRE(qc_void_append(c, holds[1], NULL) == QC_OK);   /* again */
    T_REQUIRE(qc_flush_nowait(c) == QC_OK);
    int64_t charged = 0;
    for (int i = 0; i < HOLDS; i++) {
        qc_settle_res rs;
        T_REQUIRE(as_settle_wait(c, &id, &rs) == QC_OK);
        T_EQ_I64(id, want + (uint64_t)i);
        T_EQ_I64(rs.charged, i % 2 == 0 ? COST : 0);
        T_EQ_I64(rs.refunded, i % 2 == 0 ? HOLD - COST : HOLD);
        charged += rs.charged;
    }
    qc_settle_res again;
    T_EQ_I64(as_settle_wait(c, &id, &again), QC_CODE_NOT_FOUND);
    T_EQ_I64(qc_in_flight(c), 0);
    int64_t bal = -1;
    T_REQUIRE(fx_balance(g_root, g_key.ws_id, &bal) == QC_OK);
    T_EQ_I64(bal, HOLDS * HOLD - charged);
    /* A void's reply read as a check's: protocol error, context gone. */
    qc_check_res hold;
    T_REQUIRE(qc_check_append(c, &rq, NULL) == QC_OK);
    T_REQUIRE(qc_flush_nowait(c) == QC_OK);
    T_REQUIRE(as_check_wait(c, &id, &hold) == QC_OK);
    T_REQUIRE(hold.decision == QC_ALLOWED);
    T_REQUIRE(qc_void_append(c, hold.hold_id, NULL) == QC_OK);
    T_REQUIRE(qc_flush_nowait(c) == QC_OK);
    qc_check_res wrong;
    T_EQ_I64(as_check_wait(c, &id, &wrong), QC_ERR_PROTOCOL);
    T_CHECK(wrong.decision != QC_ALLOWED);
    T_EQ_I64(qc_fd(c), -1);
    qc_free(c);
}

static int as_step(as_conn *a, size_t quota, as_tally *t)
{
    struct pollfd p[AS_CONNS];
    for (int i = 0; i < AS_CONNS; i++) {
        p[i].fd = qc_fd(a[i].c);
        p[i].events = (short)(POLLIN | (qc_want_write(a[i].c) ? POLLOUT : 0));
        p[i].revents = 0;
    }
    if (poll(p, AS_CONNS, AS_POLL_MS) < 0) {
        return QC_ERR_IO;
    }
    for (int i = 0; i < AS_CONNS; i++) {
        int rc = as_drain(&a[i], t);
        if (rc == QC_OK) {
            rc = as_feed(&a[i], quota);
        }
        if (rc != QC_OK) {
            fprintf(stderr, "  conn %d: %s (%s)\n", i, qc_strerror(rc),
                    qc_errstr(a[i].c));
            return rc;
        }
    }
    return QC_OK;
}

static void test_race_for_the_wallet(void)
{
    T_REQUIRE(as_wallet(AS_BALANCE) == QC_OK);
    as_conn a[AS_CONNS] = {0};
    for (int i = 0; i < AS_CONNS; i++) {
        a[i].c = as_connect();
        T_REQUIRE(a[i].c != NULL);
    }
    as_tally t = {0};
    size_t quota = AS_CHECKS / AS_CONNS;
    int64_t end = td_now_ms() + AS_DEADLINE_MS;
    int rc = QC_OK;
    size_t done = 0;
    while (rc == QC_OK && done < AS_CHECKS && td_now_ms() < end) {
        rc = as_step(a, quota, &t);
        done = 0;
        for (int i = 0; i < AS_CONNS; i++) {
            done += a[i].done;
        }
    }
    T_EQ_I64(rc, QC_OK);
    T_EQ_I64(done, AS_CHECKS);
    T_EQ_I64(t.allowed, AS_BALANCE);
    T_EQ_I64(t.broke, AS_CHECKS - AS_BALANCE);
    T_EQ_I64(t.other, 0);
    T_CHECK(!t.out_of_order);
    for (int i = 0; i < AS_CONNS; i++) {
        T_EQ_I64(a[i].next_want - a[i].first_id, quota);
        qc_free(a[i].c);
    }
    int64_t after = -1;
    T_EQ_I64(fx_balance(g_root, g_key.ws_id, &after), QC_OK);
    T_EQ_I64(after, 0);
    /* acknowledged means durable: the same wallet after kill -9 */
    qc_free(g_root);
    g_root = NULL;
    T_REQUIRE(td_kill9(&g_d) == 0);
    T_REQUIRE(td_restart(&g_d) == 0);
    g_root = td_connect(&g_d);
    T_REQUIRE(g_root != NULL);
    T_EQ_I64(fx_balance(g_root, g_key.ws_id, &after), QC_OK);
    T_EQ_I64(after, 0);
}

static void test_server_dies_in_flight(void)
{
    T_REQUIRE(as_wallet(AS_CHECKS) == QC_OK);
    qc_ctx *c = as_connect(), *idle = as_connect();
    T_REQUIRE(c != NULL && idle != NULL);
    as_conn a = {.c = c};
    for (int i = 0; i < AS_WINDOW; i++) {
        T_REQUIRE(as_append(&a) == QC_OK);
    }
    T_REQUIRE(qc_flush_nowait(c) == QC_OK);
    T_REQUIRE(td_kill9(&g_d) == 0);
    as_tally t = {0};
    int rc = QC_OK;
    int64_t end = td_now_ms() + AS_DEADLINE_MS;
    while (rc == QC_OK && td_now_ms() < end) {
        struct pollfd p = {.fd = qc_fd(c), .events = POLLIN};
        (void)poll(&p, 1, AS_POLL_MS);
        rc = as_drain(&a, &t);
    }
    T_EQ_I64(rc, QC_ERR_IO);
    T_EQ_I64(qc_fd(c), -1);
    T_EQ_I64(qc_flush_nowait(c), QC_ERR_IO);
    qc_free(c);
    /* a connection with nothing in flight sees the close as well */
    qc_check_res rs;
    rc = QC_ERR_AGAIN;
    while (rc == QC_ERR_AGAIN && td_now_ms() < end) {
        struct pollfd p = {.fd = qc_fd(idle), .events = POLLIN};
        (void)poll(&p, 1, AS_POLL_MS);
        rc = qc_check_read_nowait(idle, NULL, &rs);
    }
    T_EQ_I64(rc, QC_ERR_IO);
    qc_free(idle);
}

int main(void)
{
    if (fx_start(&g_d, NULL, &g_root) != 0) {
        printf("FAIL it_async_start\n");
        return 1;
    }
    T_RUN(test_nowait_semantics);
    T_RUN(test_race_for_the_wallet);
    T_RUN(test_pipelined_settle_and_void);
    T_RUN(test_server_dies_in_flight);
    qc_free(g_root);   /* the last test killed the daemon */
    td_cleanup(&g_d);
    return t_done();
}
