/* it_alerts -- alert rules and the watch stream (issue 5, "must show":
 * an alert fires exactly once when a threshold is crossed, and again in
 * the next window).
 *
 * A daemon with a root credential; watchers are separate connections
 * using qc_watch_start / qc_watch_next (bounded waits). Covered:
 *   spend-day on a key   below T: nothing; crossing T: exactly one event
 *                        (kind, key, value, window = today); spend keeps
 *                        rising: no second event
 *   next window          the UTC day cannot be advanced (no test clock in
 *                        quotad), so the re-arm path is tested instead:
 *                        set again (same kind) and clear + set each re-arm
 *                        the rule, which then fires exactly once more in
 *                        the same window
 *   wallet-below         fires once when the balance drops under it; a
 *                        top-up and a second drop in the window: nothing
 *   spend-week, quota-below-pct, workspace spend-day: fire once
 *   scope                an admin of A watching "all in scope" (ws 0)
 *                        gets A's events only; root gets every one;
 *                        a member may not watch
 *   rules                invalid arguments refused; rules survive restart
 *   CLI                  `quotadctl watch --count 1` prints the event
 *                        (human and --json) and exits 0; with no event it
 *                        exits 0 at --timeout; `alert set|clear`
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/toolrun.h"
#include "t.h"

#define AL_DIR_TEMPLATE "/tmp/quotad-it-alerts-XXXXXX"
#define AL_PATH_BYTES 512
#define AL_TEXT 64
#define AL_ROOT_CRED "it-alerts-root-credential-7f3a9c1e5b"
#define AL_EVENT_WAIT_MS 5000u      /* an event must arrive within this */
#define AL_QUIET_MS 500u            /* ... and no second one within this */
#define AL_DAY_MS INT64_C(86400000)
#define AL_DAY_ROOM_MS INT64_C(120000)
#define AL_DAY_SLACK_MS 500
#define AL_WEEK_DAY_OFFSET 3        /* day 0 is a Thursday; weeks: Monday */
#define AL_DAYS_PER_WEEK 7
#define AL_BALANCE (1000 * FX_UNIT)
#define AL_SPEND_T (5 * FX_UNIT)
#define AL_STEP (2 * FX_UNIT)
#define AL_WALLET (150 * FX_UNIT)
#define AL_WALLET_T (100 * FX_UNIT)
#define AL_WALLET_STEP (30 * FX_UNIT)
#define AL_QUOTA (10 * FX_UNIT)
#define AL_QUOTA_PCT 50
#define AL_PCT_BAD 101
#define AL_MAX_KEYS 100u
#define AL_CLI_DEFAULT "build/asan/quotadctl"
#define AL_CLI_OUT_MAX (64 * 1024)
#define AL_CLI_WAIT_MS 30000
#define AL_CLI_POLL_MS 10

static td_daemon g_d;
static qc_ctx *g_root;
static char g_dir[AL_PATH_BYTES], g_cred_path[AL_PATH_BYTES];
static int64_t g_today, g_week;

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static qc_ctx *al_connect(const char *cred)
{
    qc_options o = qc_options_default();
    o.port = g_d.port;
    o.client_name = "it-alerts";
    o.credential = cred;
    qc_ctx *c = NULL;
    int rc = qc_connect(&o, &c);
    if (rc != QC_OK)
        fprintf(stderr, "  connect: %s\n", qc_strerror(rc));
    return c;
}

/* A connection watching ws (0: all in scope); NULL on failure. */
static qc_ctx *al_watcher(const char *cred, uint32_t ws, int *rc)
{
    qc_ctx *c = al_connect(cred);
    *rc = QC_ERR_IO;
    if (c == NULL)
        return NULL;
    Quotad__Reply *r = NULL;
    *rc = qc_watch_start(c, ws, &r);
    qc_reply_free(r);
    if (*rc == QC_OK)
        return c;
    qc_free(c);
    return NULL;
}

/* The next event within AL_EVENT_WAIT_MS; fills *ev. */
static int al_next(qc_ctx *w, Quotad__AlertEvent *ev)
{
    Quotad__Reply *r = NULL;
    int rc = qc_watch_next(w, &r, AL_EVENT_WAIT_MS);
    if (rc == QC_OK) {
        *ev = *r->alert;
        ev->base.descriptor = NULL;   /* a plain copy of the numbers */
    }
    qc_reply_free(r);
    return rc;
}

/* No event within AL_QUIET_MS (and the connection still works). */
static void al_quiet(qc_ctx *w)
{
    Quotad__Reply *r = NULL;
    int rc = qc_watch_next(w, &r, AL_QUIET_MS);
    if (rc == QC_OK)
        fprintf(stderr, "  unexpected event: kind %d key %llu value %lld\n",
                (int)r->alert->kind, (unsigned long long)r->alert->key_id,
                (long long)r->alert->value);
    T_EQ_I64(rc, QC_ERR_TIMEOUT);
    qc_reply_free(r);
}

static int al_set(uint32_t ws, uint64_t key, Quotad__AlertKind kind,
                  int64_t threshold, bool clear, size_t *n_rules)
{
    Quotad__Reply *r = NULL;
    int rc = qc_set_alert(g_root, ws, key, kind, threshold, clear, &r);
    if (rc == QC_OK && n_rules != NULL)
        *n_rules = r->alerts->n_rules;
    qc_reply_free(r);
    return rc;
}

static void al_debit(const fx_key *k, int64_t amount)
{
    T_EQ_I64(fx_decide(g_root, k->secret, amount), QC_ALLOWED);
}

static void al_expect_event(qc_ctx *w, uint32_t ws, uint64_t key,
                            Quotad__AlertKind kind, int64_t threshold,
                            int64_t value, int64_t window)
{
    Quotad__AlertEvent ev;
    int rc = al_next(w, &ev);
    T_EQ_I64(rc, QC_OK);
    if (rc != QC_OK)
        return;
    T_EQ_I64(ev.workspace_id, ws);
    T_EQ_I64(ev.key_id, key);
    T_EQ_I64(ev.kind, kind);
    T_EQ_I64(ev.threshold, threshold);
    T_EQ_I64(ev.value, value);
    T_EQ_I64(ev.window, window);
    T_EQ_I64(ev.dropped, 0);
    T_CHECK(ev.event_seq > 0);
    T_CHECK(ev.at_ms / AL_DAY_MS == g_today);
}

/* A fresh workspace with one plain key. */
static int al_ws_key(int64_t balance, const Quotad__KeyLimits *lim,
                     uint32_t *ws, fx_key *k)
{
    int rc = fx_workspace(g_root, balance, 0, AL_MAX_KEYS, ws);
    return rc == QC_OK ? fx_key_create(g_root, *ws, lim, k) : rc;
}

/* ------------------------------------------------------------------ */
/* firing once per window                                              */

static uint32_t g_ws1;
static fx_key g_k1;
static int64_t g_spent1;

static void test_spend_day_fires_once(void)
{
    int rc = 0;
    T_REQUIRE(al_ws_key(AL_BALANCE, NULL, &g_ws1, &g_k1) == QC_OK);
    T_REQUIRE(al_set(g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                     AL_SPEND_T, false, NULL) == QC_OK);
    qc_ctx *w = al_watcher(AL_ROOT_CRED, g_ws1, &rc);
    T_REQUIRE(w != NULL);
    al_debit(&g_k1, AL_STEP);
    al_debit(&g_k1, AL_STEP);                 /* 4 < 5: nothing yet */
    g_spent1 = 2 * AL_STEP;
    al_quiet(w);
    al_debit(&g_k1, AL_STEP);                 /* 6 >= 5: crossed */
    g_spent1 += AL_STEP;
    al_expect_event(w, g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                    AL_SPEND_T, g_spent1, g_today);
    for (int i = 0; i < 3; i++) {             /* keeps rising */
        al_debit(&g_k1, AL_STEP);
        g_spent1 += AL_STEP;
    }
    al_quiet(w);
    qc_free(w);
}

/* The next window cannot be reached without a test clock; a rule set
 * again re-arms, so it fires exactly once more in this window. */
static void test_rearm_fires_once_more(void)
{
    int rc = 0;
    qc_ctx *w = al_watcher(AL_ROOT_CRED, g_ws1, &rc);
    T_REQUIRE(w != NULL);
    int64_t t2 = g_spent1 + AL_STEP;          /* set again, higher */
    T_REQUIRE(al_set(g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY, t2,
                     false, NULL) == QC_OK);
    al_debit(&g_k1, AL_STEP / 2);
    g_spent1 += AL_STEP / 2;
    al_quiet(w);
    al_debit(&g_k1, AL_STEP);
    g_spent1 += AL_STEP;
    al_expect_event(w, g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                    t2, g_spent1, g_today);
    al_debit(&g_k1, AL_STEP);
    g_spent1 += AL_STEP;
    al_quiet(w);
    size_t n = 1;                             /* clear + set: re-armed */
    T_EQ_I64(al_set(g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY, 0,
                    true, &n), QC_OK);
    T_EQ_I64(n, 0);
    T_EQ_I64(al_set(g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                    AL_SPEND_T, false, &n), QC_OK);
    T_EQ_I64(n, 1);
    al_debit(&g_k1, AL_STEP);                 /* already over: fires now */
    g_spent1 += AL_STEP;
    al_expect_event(w, g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                    AL_SPEND_T, g_spent1, g_today);
    al_debit(&g_k1, AL_STEP);
    al_quiet(w);
    qc_free(w);
}

/* Wallet below a threshold: once, even after a top-up and a new drop. */
static void test_wallet_below_once(void)
{
    uint32_t ws;
    fx_key k;
    int rc = 0;
    T_REQUIRE(al_ws_key(AL_WALLET, NULL, &ws, &k) == QC_OK);
    T_REQUIRE(al_set(ws, 0, QUOTAD__ALERT_KIND__ALERT_WALLET_BELOW,
                     AL_WALLET_T, false, NULL) == QC_OK);
    qc_ctx *w = al_watcher(AL_ROOT_CRED, ws, &rc);
    T_REQUIRE(w != NULL);
    al_debit(&k, AL_WALLET_STEP);             /* 120 */
    al_quiet(w);
    al_debit(&k, AL_WALLET_STEP);             /* 90 < 100 */
    al_expect_event(w, ws, 0, QUOTAD__ALERT_KIND__ALERT_WALLET_BELOW,
                    AL_WALLET_T, AL_WALLET - 2 * AL_WALLET_STEP, g_today);
    al_debit(&k, AL_WALLET_STEP);             /* 60 */
    Quotad__Reply *r = NULL;
    T_EQ_I64(qc_adjust_wallet(g_root, ws, 3 * AL_WALLET_STEP, "top-up",
                              NULL, &r), QC_OK);   /* 150 */
    qc_reply_free(r);
    al_debit(&k, 3 * AL_WALLET_STEP);         /* 60 again */
    al_quiet(w);
    qc_free(w);
}

/* The other kinds, and a workspace-level spend rule. */
static void test_other_kinds_once(void)
{
    uint32_t ws;
    fx_key k;
    int rc = 0;
    Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(lim, quota_total, AL_QUOTA);
    T_REQUIRE(al_ws_key(AL_BALANCE, &lim, &ws, &k) == QC_OK);
    T_REQUIRE(al_set(ws, k.id, QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT,
                     AL_QUOTA_PCT, false, NULL) == QC_OK);
    T_REQUIRE(al_set(ws, 0, QUOTAD__ALERT_KIND__ALERT_SPEND_WEEK, 3 * FX_UNIT,
                     false, NULL) == QC_OK);
    qc_ctx *w = al_watcher(AL_ROOT_CRED, ws, &rc);
    T_REQUIRE(w != NULL);
    al_debit(&k, 4 * FX_UNIT);                /* week 4 >= 3; quota 60% */
    al_expect_event(w, ws, 0, QUOTAD__ALERT_KIND__ALERT_SPEND_WEEK,
                    3 * FX_UNIT, 4 * FX_UNIT, g_week);
    al_quiet(w);
    al_debit(&k, 2 * FX_UNIT);                /* quota 40% < 50% */
    al_expect_event(w, ws, k.id, QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT,
                    AL_QUOTA_PCT, 4 * FX_UNIT, g_today);
    al_debit(&k, FX_UNIT);
    al_quiet(w);
    qc_free(w);
}

/* ------------------------------------------------------------------ */
/* scope                                                               */

static int al_admin_key(uint32_t ws, Quotad__Role role, fx_key *out)
{
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    FX_SET(ck, workspace_id, ws);
    FX_SET(ck, kind, QUOTAD__KEY_KIND__ADMIN);
    FX_SET(ck, role, role);
    ck.name = (char *)"watcher";
    Quotad__Reply *r = NULL;
    int rc = qc_create_key(g_root, &ck, &r);
    if (rc == QC_OK) {
        out->id = r->key_secret->key->key_id;
        snprintf(out->secret, sizeof out->secret, "%s",
                 r->key_secret->secret);
    }
    qc_reply_free(r);
    return rc;
}

/* Admin of A watching "all in scope" sees A only; root sees A and B;
 * a member may not watch; an admin may not watch B. */
static void test_watch_scope(void)
{
    uint32_t wa, wb;
    fx_key ka, kb, adm, mem;
    int rc = 0;
    T_REQUIRE(al_ws_key(AL_BALANCE, NULL, &wa, &ka) == QC_OK);
    T_REQUIRE(al_ws_key(AL_BALANCE, NULL, &wb, &kb) == QC_OK);
    T_REQUIRE(al_admin_key(wa, QUOTAD__ROLE__ROLE_ADMIN, &adm) == QC_OK);
    T_REQUIRE(al_admin_key(wa, QUOTAD__ROLE__ROLE_MEMBER, &mem) == QC_OK);
    qc_ctx *m = al_watcher(mem.secret, wa, &rc);
    T_CHECK(m == NULL);
    T_EQ_I64(rc, QC_CODE_PERMISSION_DENIED);
    qc_ctx *xb = al_watcher(adm.secret, wb, &rc);
    T_CHECK(xb == NULL);
    T_EQ_I64(rc, QC_CODE_PERMISSION_DENIED);
    qc_ctx *root = al_watcher(AL_ROOT_CRED, 0, &rc);
    T_REQUIRE(root != NULL);
    qc_ctx *a = al_watcher(adm.secret, 0, &rc);
    if (a == NULL)
        fprintf(stderr, "  admin watch ws 0 (all in scope): rc %d\n", rc);
    T_EQ_I64(rc, QC_OK);
    T_REQUIRE(al_set(wa, ka.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY, FX_UNIT,
                     false, NULL) == QC_OK);
    T_REQUIRE(al_set(wb, kb.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY, FX_UNIT,
                     false, NULL) == QC_OK);
    al_debit(&kb, 2 * FX_UNIT);
    al_debit(&ka, 2 * FX_UNIT);
    al_expect_event(root, wb, kb.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                    FX_UNIT, 2 * FX_UNIT, g_today);
    al_expect_event(root, wa, ka.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                    FX_UNIT, 2 * FX_UNIT, g_today);
    if (a != NULL) {
        al_expect_event(a, wa, ka.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                        FX_UNIT, 2 * FX_UNIT, g_today);
        al_quiet(a);                          /* B's event never arrives */
    }
    qc_free(a);
    qc_free(root);
}

/* ------------------------------------------------------------------ */
/* rules                                                               */

static void test_rule_arguments(void)
{
    T_EQ_I64(al_set(g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT,
                    AL_PCT_BAD, false, NULL), QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(al_set(g_ws1, 0, QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT,
                    AL_QUOTA_PCT, false, NULL), QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(al_set(g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY, -1,
                    false, NULL), QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(al_set(g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_NONE, 1, false,
                    NULL), QC_CODE_INVALID_ARGUMENT);
    T_EQ_I64(al_set(g_ws1, g_k1.id + 1000, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY,
                    1, false, NULL), QC_CODE_NOT_FOUND);
}

/* Rules are logged: after a restart they are still in force (and a
 * re-armed rule may fire again; alert.h says fired windows are not
 * persisted). */
static void test_rules_survive_restart(void)
{
    qc_free(g_root);
    g_root = NULL;
    T_EQ_I64(td_stop(&g_d), 0);
    T_REQUIRE(td_restart(&g_d) == 0);
    g_root = al_connect(AL_ROOT_CRED);
    T_REQUIRE(g_root != NULL);
    size_t n = 0;                              /* clearing another kind */
    T_EQ_I64(al_set(g_ws1, g_k1.id, QUOTAD__ALERT_KIND__ALERT_SPEND_WEEK, 0,
                    true, &n), QC_OK);
    T_EQ_I64(n, 1);
}

/* ------------------------------------------------------------------ */
/* CLI                                                                 */

typedef struct al_proc {
    pid_t pid;
    char out[AL_PATH_BYTES], err[AL_PATH_BYTES];
} al_proc;

static int al_path(const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", g_dir, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Start quotadctl --port P --credential-file ROOT args... (no wait). */
static int al_cli_start(al_proc *p, const char *tag, const char *const *args)
{
    char port[AL_TEXT], name[AL_TEXT];
    snprintf(port, sizeof port, "%u", (unsigned)g_d.port);
    snprintf(name, sizeof name, "%s.out", tag);
    int bad = al_path(name, p->out, sizeof p->out);
    snprintf(name, sizeof name, "%s.err", tag);
    bad |= al_path(name, p->err, sizeof p->err);
    const char *pre[] = {"--port", port, "--credential-file", g_cred_path,
                         NULL};
    return bad ? -1
               : tr_spawn(tr_bin("QUOTADCTL_BIN", AL_CLI_DEFAULT), pre, args,
                          NULL, p->out, p->err, &p->pid);
}

/* Wait (bounded) until the watcher says it is subscribed. */
static bool al_cli_subscribed(const al_proc *p)
{
    char buf[AL_TEXT * 4];
    for (int64_t w = 0; w < AL_CLI_WAIT_MS; w += AL_CLI_POLL_MS) {
        tr_read(p->err, buf, sizeof buf);
        if (strstr(buf, "watching") != NULL)
            return true;
        if (waitpid(p->pid, NULL, WNOHANG) != 0)
            return false;
        td_sleep_ms(AL_CLI_POLL_MS);
    }
    return false;
}

/* watch --count 1 receives the event of a fresh rule; prints one line. */
static void al_cli_watch_one(bool json)
{
    uint32_t ws;
    fx_key k;
    char wst[AL_TEXT], out[AL_CLI_OUT_MAX];
    T_REQUIRE(al_ws_key(AL_BALANCE, NULL, &ws, &k) == QC_OK);
    snprintf(wst, sizeof wst, "%u", (unsigned)ws);
    T_REQUIRE(al_set(ws, k.id, QUOTAD__ALERT_KIND__ALERT_SPEND_DAY, FX_UNIT,
                     false, NULL) == QC_OK);
    al_proc p;
    const char *human[] = {"watch", "--ws", wst, "--count", "1",
                           "--timeout", "20", NULL};
    const char *js[] = {"--json", "watch", "--ws", wst, "--count", "1",
                        "--timeout", "20", NULL};
    T_REQUIRE(al_cli_start(&p, json ? "watch-json" : "watch",
                           json ? js : human) == 0);
    T_CHECK(al_cli_subscribed(&p));
    al_debit(&k, 2 * FX_UNIT);
    T_EQ_I64(tr_wait(p.pid, AL_CLI_WAIT_MS), 0);
    tr_read(p.out, out, sizeof out);
    const char *want = json ? "\"kind\":\"spend-day\"" : "kind=spend-day";
    if (strstr(out, want) == NULL)
        fprintf(stderr, "  watch printed: %s\n", out);
    T_CHECK(strstr(out, want) != NULL);
    T_EQ_I64(strchr(out, '\n') - out + 1, (long long)strlen(out));
}

static void test_cli_watch(void)
{
    al_cli_watch_one(false);
    al_cli_watch_one(true);
}

/* No event: exit 0 when the watch's --timeout passes, nothing printed. */
static void test_cli_watch_timeout(void)
{
    al_proc p;
    char out[AL_CLI_OUT_MAX];
    const char *args[] = {"watch", "--count", "1", "--timeout", "1", NULL};
    T_REQUIRE(al_cli_start(&p, "watch-idle", args) == 0);
    T_EQ_I64(tr_wait(p.pid, AL_CLI_WAIT_MS), 0);
    tr_read(p.out, out, sizeof out);
    T_EQ_STR(out, "");
}

static void test_cli_alert_set_clear(void)
{
    char ws[AL_TEXT], key[AL_TEXT], out[AL_CLI_OUT_MAX];
    snprintf(ws, sizeof ws, "%u", (unsigned)g_ws1);
    snprintf(key, sizeof key, "%llu", (unsigned long long)g_k1.id);
    al_proc p;
    const char *set[] = {"--json", "alert", "set", "--ws", ws, "--key", key,
                         "--kind", "spend-week", "--threshold", "12.5",
                         NULL};
    T_REQUIRE(al_cli_start(&p, "alert-set", set) == 0);
    T_EQ_I64(tr_wait(p.pid, AL_CLI_WAIT_MS), 0);
    tr_read(p.out, out, sizeof out);
    T_CHECK(strstr(out, "{\"kind\":\"spend-week\",\"threshold\":12500000}")
            != NULL);
    const char *clr[] = {"--json", "alert", "clear", "--key", key, "--kind",
                         "spend-week", NULL};
    T_REQUIRE(al_cli_start(&p, "alert-clear", clr) == 0);
    T_EQ_I64(tr_wait(p.pid, AL_CLI_WAIT_MS), 0);
    tr_read(p.out, out, sizeof out);
    T_CHECK(strstr(out, "spend-week") == NULL);
    const char *bad[] = {"alert", "set", "--ws", ws, "--key", key, "--kind",
                         "quota-below-pct", "--threshold", "101", NULL};
    T_REQUIRE(al_cli_start(&p, "alert-bad", bad) == 0);
    T_EQ_I64(tr_wait(p.pid, AL_CLI_WAIT_MS), 2);
}

/* ------------------------------------------------------------------ */
/* setup                                                               */

static void al_wait_day_room(void)
{
    int64_t left = AL_DAY_MS - td_now_ms() % AL_DAY_MS;
    if (left < AL_DAY_ROOM_MS)
        td_sleep_ms(left + AL_DAY_SLACK_MS);
    g_today = td_now_ms() / AL_DAY_MS;
    g_week = (g_today + AL_WEEK_DAY_OFFSET) / AL_DAYS_PER_WEEK;
}

static int al_setup(void)
{
    char tmpl[] = AL_DIR_TEMPLATE;
    if (mkdtemp(tmpl) == NULL)
        return -1;
    snprintf(g_dir, sizeof g_dir, "%s", tmpl);
    if (al_path("root.cred", g_cred_path, sizeof g_cred_path) != 0)
        return -1;
    int fd = open(g_cred_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                  0600);
    if (fd < 0)
        return -1;
    int ok = dprintf(fd, "%s\n", AL_ROOT_CRED) > 0;
    if (close(fd) != 0 || !ok)
        return -1;
    const char *args[] = {"--root-credential-file", g_cred_path, NULL};
    if (td_start(&g_d, args) != 0)
        return -1;
    g_root = al_connect(AL_ROOT_CRED);
    return g_root != NULL ? 0 : -1;
}

static void al_cleanup(void)
{
    static const char *const names[] = {
        "root.cred", "watch.out", "watch.err", "watch-json.out",
        "watch-json.err", "watch-idle.out", "watch-idle.err",
        "alert-set.out", "alert-set.err", "alert-clear.out",
        "alert-clear.err", "alert-bad.out", "alert-bad.err"};
    char path[AL_PATH_BYTES];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (al_path(names[i], path, sizeof path) == 0)
            (void)unlink(path);
    if (g_dir[0] != '\0')
        (void)rmdir(g_dir);
}

int main(void)
{
    al_wait_day_room();
    if (al_setup() != 0) {
        printf("FAIL setup\n");
        qc_free(g_root);
        (void)td_stop(&g_d);
        td_cleanup(&g_d);
        al_cleanup();
        return 1;
    }
    T_RUN(test_spend_day_fires_once);
    T_RUN(test_rearm_fires_once_more);
    T_RUN(test_wallet_below_once);
    T_RUN(test_other_kinds_once);
    T_RUN(test_watch_scope);
    T_RUN(test_rule_arguments);
    T_RUN(test_cli_watch);
    T_RUN(test_cli_watch_timeout);
    T_RUN(test_cli_alert_set_clear);
    T_RUN(test_rules_survive_restart);
    qc_free(g_root);
    int st = td_stop(&g_d);
    if (st != 0)
        printf("FAIL daemon exit %d\n", st);
    td_cleanup(&g_d);
    al_cleanup();
    return t_done() == 0 && st == 0 ? 0 : 1;
}
