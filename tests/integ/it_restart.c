/* it_restart -- a mixed workload survives a clean restart and kill -9.
 *
 * Phase 1 (through libquotad, --fsync always): workspaces created and
 * updated, wallet top-ups and adjusts with idempotency ids (and retries),
 * keys with every kind of limit, updates, disable/enable/revoke, rotation
 * with and without grace, delete, checks allowed and denied for every
 * reason, holds settled, voided and left open, idempotent retries.
 * Then a canonical dump (every field of every workspace and key, as the
 * client sees them) is taken, the daemon stopped cleanly and restarted:
 * the dump must be identical, the protocol seq must not go back, and
 * every idempotent request replayed must return its first answer.
 * Phase 2 adds more changes (settling a hold from phase 1 among them),
 * then kill -9 and restart: same comparisons. If quotad-data with a
 * `state --dir` command is available, its output of the stopped data dir
 * must also be equal before and after each restart.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/persist_util.h"
#include "t.h"

#define U FX_UNIT
#define N_WS 3
#define KEYS_MAX 24
#define PROBES_MAX 16
#define IDEM_BYTES 32
#define WS0_BALANCE (100 * U)
#define WS0_OVERDRAFT (5 * U)
#define WS0_MAX_KEYS 20
#define WS1_BALANCE (3 * U)
#define WS1_MAX_KEYS 5
#define WS1_NEW_MAX_KEYS 8
#define WS2_TOPUP (10 * U)
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)
#define EXPIRE_SOON_MS 300
#define EXPIRE_WAIT_MS 400
#define RPM_ROOM_MS 5000
#define SMALL (U / 10)

/* An idempotent request and its first answer, replayed after restarts. */
typedef enum probe_kind { PR_CHECK, PR_SETTLE, PR_WALLET } probe_kind;

typedef struct probe {
    probe_kind kind;
    char idem[IDEM_BYTES];
    char secret[FX_SECRET_BYTES];
    qc_check_req rq;          /* PR_CHECK (secret/idem point into here) */
    qc_check_res first;
    uint64_t hold_id;         /* PR_SETTLE */
    int64_t amount, tokens;
    qc_settle_res sfirst;
    uint32_t ws;              /* PR_WALLET */
} probe;

/* Everything the workload created, by role. */
typedef struct world {
    uint32_t ws[N_WS];
    uint64_t ids[KEYS_MAX];
    size_t n_ids;
    fx_key full, admin, quota, cap, rpm, rot, rot0, dis, en, rev, del, upd,
        exp, b1, b2, c1, fresh;
    char rot_old[FX_SECRET_BYTES], rot0_old[FX_SECRET_BYTES];
    char rot_mid[FX_SECRET_BYTES];
    uint64_t open_hold1, open_hold2;
    probe probes[PROBES_MAX];
    size_t n_probes;
} world;

static td_daemon g_d;
static qc_ctx *g_c;
static world g_w;

/* ---- small request helpers ------------------------------------------ */

/* update_workspace (max_keys 0 / overdraft < 0: unchanged); its rc. */
static int update_ws(uint32_t ws, const char *name, uint32_t max_keys,
                     int64_t overdraft)
{
    Quotad__UpdateWorkspace uw = QUOTAD__UPDATE_WORKSPACE__INIT;
    FX_SET(uw, workspace_id, ws);
    uw.name = (char *)name;
    if (max_keys != 0)
        FX_SET(uw, max_keys, max_keys);
    if (overdraft >= 0)
        FX_SET(uw, overdraft_limit, overdraft);
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_UPDATE_WORKSPACE;
    rq.update_workspace = &uw;
    return fx_call_rc(g_c, &rq);
}

/* adjust_wallet, reply dropped; its rc. */
static int adjust(uint32_t ws, int64_t delta, const char *idem)
{
    Quotad__Reply *r = NULL;
    int rc = qc_adjust_wallet(g_c, ws, delta, "it_restart", idem, &r);
    qc_reply_free(r);
    return rc;
}

/* Wallet balance, INT64_MIN on failure (fails any comparison). */
static int64_t balance(uint32_t ws)
{
    int64_t b = INT64_MIN;
    (void)fx_balance(g_c, ws, &b);
    return b;
}

/* Remember a key id for the canonical dump (deleted ones included). */
static int keep(int rc, const fx_key *k)
{
    if (rc == QC_OK && g_w.n_ids < KEYS_MAX)
        g_w.ids[g_w.n_ids++] = k->id;
    return rc;
}

/* A standard key of group "grp", remembered for the dump. */
static int new_key(uint32_t ws, Quotad__KeyLimits *l, const char *name,
                   fx_key *k)
{
    return keep(fx_key_create_ex(g_c, ws, l, QUOTAD__KEY_KIND__STANDARD, name,
                                 "grp", k), k);
}

/* A check's decision, or -1000 - rc on a call error. */
static int decide(const char *secret, const char *model, const char *ip,
                  int64_t amount)
{
    qc_check_req rq = {.secret = secret, .model = model, .client_ip = ip,
                       .amount = amount, .tokens = 10};
    qc_check_res rs = {0};
    int rc = qc_check(g_c, &rq, &rs);
    return rc == QC_OK ? (int)rs.decision : -1000 - rc;
}

/* ---- probes ------------------------------------------------------- */

/* The next free probe slot, NULL when full. */
static probe *probe_new(probe_kind kind, const char *idem)
{
    if (g_w.n_probes >= PROBES_MAX)
        return NULL;
    probe *p = &g_w.probes[g_w.n_probes++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    snprintf(p->idem, sizeof p->idem, "%s", idem);
    return p;
}

/* An idempotent check (a copy of tmpl with this id), retried at once
 * (must replay), kept as a probe. */
static int probe_check(const qc_check_req *tmpl, const char *idem,
                       uint64_t *hold_id)
{
    probe *p = probe_new(PR_CHECK, idem);
    if (p == NULL)
        return -1;
    snprintf(p->secret, sizeof p->secret, "%s", tmpl->secret);
    p->rq = *tmpl;
    p->rq.secret = p->secret;
    p->rq.idempotency_id = p->idem;
    qc_check_res again;
    if (qc_check(g_c, &p->rq, &p->first) != QC_OK ||
        p->first.decision != QC_ALLOWED ||
        qc_check(g_c, &p->rq, &again) != QC_OK || !again.replayed ||
        again.charged != p->first.charged ||
        again.hold_id != p->first.hold_id)
        return -1;
    if (hold_id != NULL)
        *hold_id = p->first.hold_id;
    return 0;
}

/* An idempotent settle, kept as a probe. */
static int probe_settle(uint64_t hold_id, int64_t amount, const char *idem)
{
    probe *p = probe_new(PR_SETTLE, idem);
    if (p == NULL)
        return -1;
    p->hold_id = hold_id;
    p->amount = amount;
    p->tokens = 7;
    return qc_settle(g_c, hold_id, amount, p->tokens, p->idem, &p->sfirst);
}

/* Wallet change with an id; the retry must not move money again. */
static int probe_wallet(uint32_t ws, int64_t delta, const char *idem)
{
    probe *p = probe_new(PR_WALLET, idem);
    if (p == NULL)
        return -1;
    p->ws = ws;
    p->amount = delta;
    if (adjust(ws, delta, idem) != QC_OK)
        return -1;
    int64_t b = balance(ws);
    return adjust(ws, delta, idem) == QC_OK && balance(ws) == b ? 0 : -1;
}

/* Replay one probe: the first answer, nothing moved. */
static void probe_verify(const probe *p)
{
    if (p->kind == PR_CHECK) {
        qc_check_res rs = {0};
        T_EQ_I64(qc_check(g_c, &p->rq, &rs), QC_OK);
        T_CHECK(rs.replayed);
        T_EQ_I64(rs.decision, p->first.decision);
        T_EQ_I64(rs.charged, p->first.charged);
        T_EQ_I64(rs.hold_id, p->first.hold_id);
    } else if (p->kind == PR_SETTLE) {
        qc_settle_res ss = {0};
        T_EQ_I64(qc_settle(g_c, p->hold_id, p->amount, p->tokens, p->idem,
                           &ss), QC_OK);
        T_CHECK(ss.replayed);
        T_EQ_I64(ss.charged, p->sfirst.charged);
        T_EQ_I64(ss.refunded, p->sfirst.refunded);
    } else {
        int64_t b = balance(p->ws);
        T_EQ_I64(adjust(p->ws, p->amount, p->idem), QC_OK);
        T_EQ_I64(balance(p->ws), b);
    }
}

/* Every idempotent request so far must replay its first answer. */
static void verify_probes(void)
{
    for (size_t i = 0; i < g_w.n_probes; i++)
        probe_verify(&g_w.probes[i]);
}

/* ---- canonical state -------------------------------------------------- */

/* Every workspace (with its key list) and every key ever created. */
static int dump_all(bool windows, pu_buf *b)
{
    for (int i = 0; i < N_WS; i++)
        if (pu_dump_workspace(g_c, g_w.ws[i], windows, b) != 0)
            return -1;
    for (size_t i = 0; i < g_w.n_ids; i++)
        if (pu_dump_key(g_c, g_w.ids[i], windows, b) != 0)
            return -1;
    return 0;
}

/* A dump with and without the spend windows, and when it was taken. */
typedef struct snap {
    pu_buf with, without;
    int64_t day;
    uint64_t seq;
} snap;

static int snap_take(snap *s)
{
    memset(s, 0, sizeof *s);
    s->day = pu_utc_day(td_now_ms());
    int rc = dump_all(true, &s->with) | dump_all(false, &s->without);
    if (pu_utc_day(td_now_ms()) != s->day)
        s->day = -1; /* straddled midnight: windows not comparable */
    if (qc_ping(g_c) != QC_OK)
        rc = -1;
    s->seq = qc_last_seq(g_c);
    return rc;
}

/* Release both dumps. */
static void snap_free(snap *s)
{
    pu_buf_free(&s->with);
    pu_buf_free(&s->without);
}

/* Equal dumps; spend windows only when both were taken the same UTC day. */
static void snap_compare(const snap *a, const snap *b, const char *what)
{
    bool windows = a->day >= 0 && a->day == b->day;
    const char *x = pu_buf_str(windows ? &a->with : &a->without);
    const char *y = pu_buf_str(windows ? &b->with : &b->without);
    if (!windows)
        printf("# %s: UTC day changed, spend windows not compared\n", what);
    T_CHECK(strlen(x) > 0);
    T_CHECK(strcmp(x, y) == 0);
    if (strcmp(x, y) != 0)
        pu_print_first_diff(what, x, y);
    T_CHECK(b->seq >= a->seq);
}

/* quotad-data's view of the stopped data dir; NULL when unavailable. */
static char *data_state(void)
{
    char dir[PU_PATH_BYTES];
    snprintf(dir, sizeof dir, "%s/data", g_d.dir);
    char *out = NULL;
    int rc = pu_data_state(dir, g_d.dir, &out);
    T_CHECK(rc >= 0);
    return rc == 0 ? out : NULL;
}

/* Equal quotad-data outputs (frees both); skipped without the tool. */
static void compare_data_states(char *a, char *b, const char *what)
{
    if (a == NULL || b == NULL) {
        printf("# %s: quotad-data state not available, skipped\n", what);
    } else {
        T_CHECK(strcmp(a, b) == 0);
        if (strcmp(a, b) != 0)
            pu_print_first_diff(what, a, b);
        else
            printf("# %s: quotad-data state equal (%zu bytes)\n", what,
                   strlen(a));
    }
    free(a);
    free(b);
}

/* ---- phase 1 ---------------------------------------------------------- */

/* Three workspaces, an update, wallet moves (one refused). */
static int p1_workspaces(void)
{
    int rc = fx_workspace(g_c, WS0_BALANCE, WS0_OVERDRAFT, WS0_MAX_KEYS,
                          &g_w.ws[0]);
    rc |= fx_workspace(g_c, WS1_BALANCE, 0, WS1_MAX_KEYS, &g_w.ws[1]);
    rc |= fx_workspace(g_c, 0, 0, 0, &g_w.ws[2]);
    rc |= update_ws(g_w.ws[1], "beta-renamed", WS1_NEW_MAX_KEYS, U);
    rc |= probe_wallet(g_w.ws[0], 50 * U, "w-topup-1");
    rc |= probe_wallet(g_w.ws[0], -7 * U, "w-adj-1");
    rc |= adjust(g_w.ws[2], WS2_TOPUP, NULL);
    if (adjust(g_w.ws[1], -100 * U, NULL) != QC_CODE_FAILED_PRECONDITION)
        rc = -1;
    return rc;
}

/* The key with every limit, models, IPs, expiry and metadata. */
static int p1_full_key(void)
{
    static char *models[] = {"gpt-4o", "gpt-4o-mini"};
    static char *ips[] = {"127.0.0.1", "10.0.0.0/8", "2001:db8::/32"};
    Quotad__KeyValue m1 = QUOTAD__KEY_VALUE__INIT, m2 = QUOTAD__KEY_VALUE__INIT;
    m1.key = (char *)"team";
    m1.value = (char *)"ml";
    m2.key = (char *)"env";
    m2.value = (char *)"prod";
    Quotad__KeyValue *meta[] = {&m1, &m2};
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, 40 * U);
    FX_SET(l, spend_cap_day, 30 * U);
    FX_SET(l, spend_cap_week, 35 * U);
    FX_SET(l, spend_cap_month, 38 * U);
    FX_SET(l, rpm, 1000);
    FX_SET(l, tpm, 100000);
    FX_SET(l, expires_at_ms, td_now_ms() + DAY_MS);
    l.n_models = 2;
    l.models = models;
    l.n_ips = 3;
    l.ips = ips;
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    FX_SET(ck, workspace_id, g_w.ws[0]);
    ck.name = (char *)"full";
    ck.group = (char *)"prod";
    ck.creator = (char *)"it_restart";
    ck.limits = &l;
    ck.n_metadata = 2;
    ck.metadata = meta;
    Quotad__Reply *r = NULL;
    int rc = qc_create_key(g_c, &ck, &r);
    if (rc == QC_OK) {
        g_w.full.id = r->key_secret->key->key_id;
        g_w.full.ws_id = g_w.ws[0];
        snprintf(g_w.full.secret, sizeof g_w.full.secret, "%s",
                 r->key_secret->secret);
    }
    qc_reply_free(r);
    return keep(rc, &g_w.full);
}

/* Keys with one kind of limit each, and the lifecycle keys. */
static int p1_keys(void)
{
    uint32_t ws = g_w.ws[0];
    Quotad__KeyLimits q = QUOTAD__KEY_LIMITS__INIT, cap = q, rate = q, ex = q;
    FX_SET(q, quota_total, U);
    FX_SET(cap, spend_cap_day, U / 2);
    FX_SET(cap, spend_cap_week, 2 * U);
    FX_SET(cap, spend_cap_month, 3 * U);
    FX_SET(rate, rpm, 2);
    FX_SET(rate, tpm, 1000);
    FX_SET(ex, expires_at_ms, td_now_ms() + EXPIRE_SOON_MS);
    int rc = p1_full_key();
    rc |= keep(fx_key_create_ex(g_c, ws, NULL, QUOTAD__KEY_KIND__ADMIN,
                                "admin", NULL, &g_w.admin), &g_w.admin);
    rc |= new_key(ws, &q, "quota", &g_w.quota);
    rc |= new_key(ws, &cap, "cap", &g_w.cap);
    rc |= new_key(ws, &rate, "rate", &g_w.rpm);
    rc |= new_key(ws, &ex, "expiring", &g_w.exp);
    const char *names[] = {"rot", "rot0", "dis", "en", "rev", "del", "upd"};
    fx_key *keys[] = {&g_w.rot, &g_w.rot0, &g_w.dis, &g_w.en, &g_w.rev,
                      &g_w.del, &g_w.upd};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        rc |= new_key(ws, NULL, names[i], keys[i]);
    return rc;
}

/* Update every kind of field of one key. */
static int p1_update(void)
{
    static char *ips[] = {"192.0.2.0/24", "::1"};
    Quotad__KeyValue m = QUOTAD__KEY_VALUE__INIT;
    m.key = (char *)"owner";
    m.value = (char *)"alice";
    Quotad__KeyValue *meta[] = {&m};
    Quotad__KeyLimits l = QUOTAD__KEY_LIMITS__INIT;
    FX_SET(l, quota_total, 9 * U);
    FX_SET(l, quota_remaining, 4 * U);
    FX_SET(l, rpm, -1);
    FX_SET(l, spend_cap_week, 8 * U);
    FX_SET(l, clear_models, 1);
    l.n_ips = 2;
    l.ips = ips;
    Quotad__UpdateKey uk = QUOTAD__UPDATE_KEY__INIT;
    FX_SET(uk, key_id, g_w.upd.id);
    uk.name = (char *)"upd-renamed";
    uk.group = (char *)"staging";
    uk.limits = &l;
    uk.n_metadata = 1;
    uk.metadata = meta;
    FX_SET(uk, replace_metadata, 1);
    Quotad__Reply *r = NULL;
    int rc = qc_update_key(g_c, &uk, &r);
    qc_reply_free(r);
    return rc;
}

/* Disable/enable/revoke/rotate/delete. */
static int p1_lifecycle(void)
{
    Quotad__Reply *r = NULL;
    int rc = qc_disable_key(g_c, g_w.dis.id, &r);
    qc_reply_free(r);
    rc |= qc_disable_key(g_c, g_w.en.id, &r);
    qc_reply_free(r);
    rc |= qc_enable_key(g_c, g_w.en.id, &r);
    qc_reply_free(r);
    rc |= qc_revoke_key(g_c, g_w.rev.id, &r);
    qc_reply_free(r);
    rc |= qc_delete_key(g_c, g_w.del.id, &r);
    qc_reply_free(r);
    memcpy(g_w.rot_old, g_w.rot.secret, FX_SECRET_BYTES);
    memcpy(g_w.rot0_old, g_w.rot0.secret, FX_SECRET_BYTES);
    rc |= fx_rotate(g_c, g_w.rot.id, HOUR_MS, g_w.rot.secret,
                    sizeof g_w.rot.secret);
    rc |= fx_rotate(g_c, g_w.rot0.id, 0, g_w.rot0.secret,
                    sizeof g_w.rot0.secret);
    return rc | p1_update();
}

/* Keys of the other two workspaces. */
static int p1_other_keys(void)
{
    static char *ips[] = {"::1", "2001:db8::1"};
    static char *models[] = {"m-1"};
    Quotad__KeyLimits a = QUOTAD__KEY_LIMITS__INIT, b = a;
    a.n_ips = 2;
    a.ips = ips;
    b.n_models = 1;
    b.models = models;
    int rc = new_key(g_w.ws[1], &a, "b1", &g_w.b1);
    rc |= new_key(g_w.ws[1], &b, "b2", &g_w.b2);
    return rc | new_key(g_w.ws[2], NULL, "c1", &g_w.c1);
}

/* Allowed checks and every deny reason. */
static void p1_checks(void)
{
    fx_wait_minute_room(RPM_ROOM_MS);
    T_EQ_I64(decide(g_w.full.secret, "gpt-4o", "127.0.0.1", U / 4), 0);
    T_EQ_I64(decide(g_w.full.secret, "gpt-4o-mini", "10.1.2.3", U / 3), 0);
    T_EQ_I64(decide(g_w.full.secret, "claude", "127.0.0.1", 1),
             QC_MODEL_NOT_ALLOWED);
    T_EQ_I64(decide(g_w.full.secret, "gpt-4o", "192.168.1.1", 1),
             QC_IP_NOT_ALLOWED);
    T_EQ_I64(decide(g_w.full.secret, "gpt-4o", NULL, 1), QC_IP_NOT_ALLOWED);
    T_EQ_I64(decide(g_w.admin.secret, NULL, NULL, 1),
             QC_ADMIN_KEY_NOT_ALLOWED);
    T_EQ_I64(decide(g_w.quota.secret, NULL, NULL, 6 * SMALL), 0);
    T_EQ_I64(decide(g_w.quota.secret, NULL, NULL, 6 * SMALL),
             QC_QUOTA_EXCEEDED);
    T_EQ_I64(decide(g_w.cap.secret, NULL, NULL, 4 * SMALL), 0);
    T_EQ_I64(decide(g_w.cap.secret, NULL, NULL, 2 * SMALL),
             QC_SPEND_CAP_EXCEEDED);
    T_EQ_I64(decide(g_w.rpm.secret, NULL, NULL, 1), 0);
    T_EQ_I64(decide(g_w.rpm.secret, NULL, NULL, 1), 0);
    T_EQ_I64(decide(g_w.rpm.secret, NULL, NULL, 1), QC_RATE_LIMITED);
    T_EQ_I64(decide(g_w.dis.secret, NULL, NULL, 1), QC_KEY_DISABLED);
    T_EQ_I64(decide(g_w.en.secret, NULL, NULL, 1), 0);
    T_EQ_I64(decide(g_w.rev.secret, NULL, NULL, 1), QC_REVOKED_API_KEY);
    T_EQ_I64(decide(g_w.del.secret, NULL, NULL, 1), QC_INVALID_API_KEY);
    T_EQ_I64(decide(g_w.rot_old, NULL, NULL, SMALL), 0);
    T_EQ_I64(decide(g_w.rot.secret, NULL, NULL, SMALL), 0);
    T_EQ_I64(decide(g_w.rot0_old, NULL, NULL, 1), QC_REVOKED_API_KEY);
    T_EQ_I64(decide(g_w.upd.secret, "any", "::1", SMALL), 0);
    T_EQ_I64(decide(g_w.b1.secret, NULL, "::1", SMALL), 0);
    T_EQ_I64(decide(g_w.b2.secret, "m-2", NULL, 1), QC_MODEL_NOT_ALLOWED);
    T_EQ_I64(decide(g_w.c1.secret, NULL, NULL, WS2_TOPUP + 1),
             QC_INSUFFICIENT_CREDITS);
    T_EQ_I64(decide(g_w.c1.secret, NULL, NULL, 4 * U), 0);
    char forged[FX_SECRET_BYTES];
    fx_forge_secret(g_w.ws[0], 42, forged, sizeof forged);
    T_EQ_I64(decide(forged, NULL, NULL, 1), QC_INVALID_API_KEY);
    td_sleep_ms(EXPIRE_WAIT_MS);
    T_EQ_I64(decide(g_w.exp.secret, NULL, NULL, 1), QC_KEY_EXPIRED);
}

/* Idempotent debits and holds: settled, voided and left open. */
static int p1_holds(void)
{
    qc_check_req full = {.secret = g_w.full.secret, .model = "gpt-4o",
                         .client_ip = "127.0.0.1", .amount = U / 5,
                         .tokens = 5};
    qc_check_req c1 = {.secret = g_w.c1.secret, .amount = U};
    qc_check_req b1 = {.secret = g_w.b1.secret, .client_ip = "::1",
                       .amount = U / 2, .amount_min = U / 4, .hold = true};
    int rc = probe_check(&full, "c-full-1", NULL);
    rc |= probe_check(&c1, "c-c1-1", NULL);
    rc |= probe_check(&b1, "h-open-1", &g_w.open_hold1);
    c1.amount = 2 * U;
    c1.hold = true;
    qc_check_res rs = {0};
    qc_settle_res ss = {0};
    rc |= qc_check(g_c, &c1, &rs);
    rc |= rs.decision == QC_ALLOWED ? qc_void(g_c, rs.hold_id, &ss) : -1;
    full.amount = U;
    full.amount_min = U / 2;
    full.hold = true;
    uint64_t h = 0;
    rc |= probe_check(&full, "h-settle-1", &h);
    rc |= probe_settle(h, 6 * SMALL, "s-1");
    return rc;
}


/* ---- phase 2 ---------------------------------------------------------- */

/* More changes after the clean restart, including settling a hold that
 * was left open before it. */
static int p2_changes(void)
{
    qc_check_req full = {.secret = g_w.full.secret, .model = "gpt-4o",
                         .client_ip = "127.0.0.1", .amount = U / 10,
                         .tokens = 3};
    int rc = probe_wallet(g_w.ws[1], 2 * U, "w-p2");
    rc |= probe_check(&full, "c-p2", NULL);
    full.hold = true;
    full.amount = U / 2;
    full.amount_min = U / 4;
    rc |= probe_check(&full, "h-open-2", &g_w.open_hold2);
    rc |= probe_settle(g_w.open_hold1, U / 8, "s-open-1");
    memcpy(g_w.rot_mid, g_w.rot.secret, FX_SECRET_BYTES);
    rc |= fx_rotate(g_c, g_w.rot.id, 0, g_w.rot.secret,
                    sizeof g_w.rot.secret);
    Quotad__Reply *r = NULL;
    rc |= qc_delete_key(g_c, g_w.admin.id, &r);
    qc_reply_free(r);
    rc |= qc_revoke_key(g_c, g_w.dis.id, &r);
    qc_reply_free(r);
    rc |= update_ws(g_w.ws[2], "gamma-2", 0, -1);
    rc |= new_key(g_w.ws[1], NULL, "fresh", &g_w.fresh);
    if (decide(g_w.rot.secret, NULL, NULL, SMALL) != QC_ALLOWED ||
        decide(g_w.fresh.secret, NULL, NULL, SMALL) != QC_ALLOWED)
        rc = -1;
    return rc;
}

/* ---- restart helpers -------------------------------------------------- */

#define N_DENY 9

/* Decisions for secrets that are denied (a deny moves no money but is
 * counted in usage: ask before the "before" dump and after the "after"
 * one). */
static void deny_vector(int v[N_DENY])
{
    const char *s[N_DENY] = {g_w.rot_old, g_w.rot_mid, g_w.rot0_old,
                             g_w.del.secret, g_w.rev.secret, g_w.dis.secret,
                             g_w.admin.secret, g_w.exp.secret,
                             g_w.quota.secret};
    if (g_w.rot_mid[0] == '\0')
        s[0] = ""; /* the first old secret is in its grace until then */
    for (int i = 0; i < N_DENY; i++) {
        v[i] = s[i][0] != '\0' ? decide(s[i], NULL, NULL, U) : -1;
        T_CHECK(v[i] != QC_ALLOWED);
    }
}

/* The same deny decisions before and after. */
static void deny_compare(const int a[N_DENY], const int b[N_DENY])
{
    for (int i = 0; i < N_DENY; i++)
        T_EQ_I64(a[i], b[i]);
}

/* Stop (cleanly or kill -9), read quotad-data's view, restart, connect. */
static int bounce(bool kill9, char **data_out)
{
    qc_free(g_c);
    g_c = NULL;
    int st = kill9 ? td_kill9(&g_d) : td_stop(&g_d);
    T_EQ_I64(st, 0);
    if (data_out != NULL)
        *data_out = data_state();
    if (td_restart(&g_d) != 0)
        return -1;
    g_c = td_connect(&g_d);
    return g_c != NULL ? 0 : -1;
}

/* Stop, restart: quotad-data's output of the data dir before vs now. */
static void data_state_roundtrip(char *before, const char *what)
{
    char *after = NULL;
    if (bounce(false, &after) != 0) {
        T_CHECK(!"restart for quotad-data");
        free(before);
        free(after);
        return;
    }
    compare_data_states(before, after, what);
}

/* Stop or kill, restart, and compare everything the client can see. */
static void restart_and_compare(bool kill9, const char *what)
{
    snap before, after;
    int v1[N_DENY], v2[N_DENY];
    deny_vector(v1); /* denies are counted in usage: before the dump */
    T_REQUIRE(snap_take(&before) == 0);
    char *ds = NULL;
    int rc = bounce(kill9, &ds);
    T_CHECK(rc == 0);
    if (rc == 0 && snap_take(&after) == 0) {
        snap_compare(&before, &after, what);
        printf("# %s: %zu bytes of state equal, seq %" PRIu64 " -> %" PRIu64
               "\n", what, before.with.len, before.seq, after.seq);
        snap_free(&after);
    }
    snap_free(&before);
    if (rc == 0) {
        data_state_roundtrip(ds, what);
        deny_vector(v2);
        deny_compare(v1, v2);
    } else {
        free(ds);
    }
}

/* ---- tests ------------------------------------------------------------ */

/* The phase 1 workload. */
static void test_phase1(void)
{
    T_REQUIRE(p1_workspaces() == 0);
    T_REQUIRE(p1_keys() == 0);
    T_REQUIRE(p1_other_keys() == 0);
    T_REQUIRE(p1_lifecycle() == 0);
    p1_checks();
    T_REQUIRE(p1_holds() == 0);
}

/* Clean stop and restart: same state, replays answered. */
static void test_clean_restart(void)
{
    restart_and_compare(false, "clean restart");
    T_REQUIRE(g_c != NULL);
    verify_probes();
}

/* Phase 2, then kill -9 and restart: same state, replays answered. */
static void test_kill9_restart(void)
{
    T_REQUIRE(g_c != NULL);
    T_REQUIRE(p2_changes() == 0);
    restart_and_compare(true, "kill -9 restart");
    T_REQUIRE(g_c != NULL);
    verify_probes();
}

/* After both restarts the state still works: the open hold settles, the
 * newest secrets pass, the deleted and revoked ones stay out. */
static void test_after_restarts(void)
{
    T_REQUIRE(g_c != NULL);
    qc_settle_res ss = {0};
    T_EQ_I64(qc_settle(g_c, g_w.open_hold2, U / 5, 0, NULL, &ss), QC_OK);
    T_CHECK(!ss.replayed);
    T_EQ_I64(ss.charged, U / 5);
    T_EQ_I64(decide(g_w.rot.secret, NULL, NULL, SMALL), QC_ALLOWED);
    T_EQ_I64(decide(g_w.full.secret, "gpt-4o", "127.0.0.1", SMALL),
             QC_ALLOWED);
    T_EQ_I64(decide(g_w.del.secret, NULL, NULL, 1), QC_INVALID_API_KEY);
    T_EQ_I64(decide(g_w.dis.secret, NULL, NULL, 1), QC_REVOKED_API_KEY);
    T_EQ_I64(decide(g_w.rot0_old, NULL, NULL, 1), QC_REVOKED_API_KEY);
    fx_ws_state w;
    T_REQUIRE(fx_ws_state_get(g_c, g_w.ws[0], &w) == QC_OK);
    T_EQ_I64(w.reserved, 0);
}

/* The daemon exits 0 with no sanitizer report. */
static void test_clean_shutdown(void)
{
    T_EQ_I64(fx_finish(&g_d, g_c), 0);
    g_c = NULL;
}

int main(void)
{
    const char *args[] = {"--fsync", "always", NULL};
    if (fx_start(&g_d, args, &g_c) != 0) {
        printf("FAIL it_restart_start\n");
        return 1;
    }
    T_RUN(test_phase1);
    T_RUN(test_clean_restart);
    T_RUN(test_kill9_restart);
    T_RUN(test_after_restarts);
    T_RUN(test_clean_shutdown);
    if (g_c != NULL || g_d.pid != 0) {
        qc_free(g_c);
        td_cleanup(&g_d);
    }
    return t_done();
}
