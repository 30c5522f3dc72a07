/* it_auth -- access control end to end (issue 5, "must show").
 *
 * One daemon with a root and a gateway credential file (mode 0600, in this
 * test's own temp dir). Principals: no credential, the config gateway
 * (every workspace), and admin keys of workspace A with the roles gateway,
 * member, admin and owner, and root.
 *
 *   matrix       every principal x every operation of the protocol:
 *                allowed (answers OK) or PERMISSION_DENIED exactly as
 *                AU_EXPECT says (docs/protocol.md "Access control"); a
 *                denied operation changes nothing (log seq, the workspace
 *                and the target key compared byte for byte via root)
 *   cross        principals of A on everything of B: all denied, B intact
 *   roles        HELLO reports each role and scope
 *   credentials  wrong credential denied; the 3rd failure closes; a
 *                disabled, revoked or expired admin key cannot log in
 *   admin keys   never pass a check (admin_key_not_allowed)
 *   cli          --credential-file / QUOTAD_CREDENTIAL_FILE, --role
 *   leaks        no created secret and no credential in any reply (except
 *                the create/rotate answer), the daemon's stderr, or any
 *                CLI output
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/opreq.h"
#include "lib/toolrun.h"
#include "t.h"

#define AU_DIR_TEMPLATE "/tmp/quotad-it-auth-XXXXXX"
#define AU_PATH_BYTES 512
#define AU_CRED_RANDOM_BYTES 24     /* -> 48 hex chars */
#define AU_CRED_BYTES 64
#define AU_SECRETS_MAX 1024
#define AU_LEAK_WINDOW 12           /* hex chars that count as a leak */
#define AU_LEAK_STEP 12             /* windows start every this many */
#define AU_PACK_BYTES 8192
#define AU_BALANCE (INT64_C(1000000) * FX_UNIT)
#define AU_AMOUNT OPREQ_AMOUNT       /* holds settle half of it */
#define AU_HOLD_TIMEOUT_MS 86400000u
#define AU_EXPIRE_IN_MS 1500
#define AU_EXPIRE_SLACK_MS 300
#define AU_FAILURES_MAX 3
#define AU_CLI_DEFAULT "build/asan/quotadctl"
#define AU_CLI_OUT_MAX (256 * 1024)
#define AU_CLI_WAIT_MS 60000
#define AU_PORT_TEXT 16
#define AU_ID_TEXT 24

/* Principals, in the order the matrix runs them. */
enum au_role {
    AR_NONE, AR_GW, AR_GW_A, AR_MEMBER, AR_ADMIN, AR_OWNER, AR_ROOT,
    AR_COUNT
};
static const char *const au_role_names[AR_COUNT] = {
    "none", "gateway", "gateway(ws A key)", "member", "admin", "owner",
    "root",
};
/* quotad.Role HELLO must report for each, and the scope (1 = ws A). */
static const int au_role_wire[AR_COUNT] = {0, 1, 1, 2, 3, 4, 5};
static const bool au_role_scoped[AR_COUNT] = {false, false, true, true,
                                              true,  true,  false};

/* The documented matrix: 'A' = allowed (must answer OK), '-' = must answer
 * PERMISSION_DENIED and change nothing. Columns in au_op order:
 *
 *   hello ping | create_ws get_ws update_ws adjust | ck_std ck_member
 *   ck_owner | get_key list_keys update_key enable disable revoke rotate
 *   delete | check settle void | snapshot usage set_alert watch
 */
static const char au_expect[AR_COUNT][AO_COUNT + 1] = {
    [AR_NONE]   = "AA----------------------",
    [AR_GW]     = "AA---------------AAA----",
    [AR_GW_A]   = "AA---------------AAA----",
    [AR_MEMBER] = "AA-A-----AA----------A--",
    [AR_ADMIN]  = "AA-A--AA-AAAAAAAA----AAA",
    [AR_OWNER]  = "AA-AAAAAAAAAAAAAA----AAA",
    [AR_ROOT]   = "AAAAAAAAAAAAAAAAAAAAAAAA",
};

static td_daemon g_d;
static qc_ctx *g_root;
static char g_dir[AU_PATH_BYTES];          /* our files: credentials, CLI */
static char g_root_cred[AU_CRED_BYTES], g_gw_cred[AU_CRED_BYTES];
static char g_root_path[AU_PATH_BYTES], g_gw_path[AU_PATH_BYTES];
static uint32_t g_ws_a, g_ws_b, g_next_ws;
static fx_key g_adm[AR_COUNT];             /* admin keys of A by role */
static const char *g_cred[AR_COUNT];

/* Every secret and credential the test has seen: none may leak. */
static char g_secrets[AU_SECRETS_MAX][FX_SECRET_BYTES];
static size_t g_n_secrets;
static int g_leaks;

/* ------------------------------------------------------------------ */
/* files and credentials                                               */

static int au_path(const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", g_dir, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Write text + newline to DIR/name with the given mode. */
static int au_write_file(const char *name, const char *text, mode_t mode,
                         char *path, size_t cap)
{
    if (au_path(name, path, cap) != 0)
        return -1;
    (void)unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    ok = fchmod(fd, mode) == 0 && ok;
    return close(fd) == 0 && ok ? 0 : -1;
}

/* A random credential: hex of AU_CRED_RANDOM_BYTES random bytes. */
static int au_random_cred(char out[AU_CRED_BYTES])
{
    unsigned char b[AU_CRED_RANDOM_BYTES];
    if (sodium_init() < 0)
        return -1;
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, AU_CRED_BYTES, b, sizeof b);
    return 0;
}

static void au_remember(const char *secret)
{
    if (secret == NULL || *secret == '\0' || g_n_secrets >= AU_SECRETS_MAX)
        return;
    snprintf(g_secrets[g_n_secrets++], FX_SECRET_BYTES, "%s", secret);
}

/* Does buf contain a window of AU_LEAK_WINDOW chars of a known secret
 * (its body after "sk-") or credential? */
static const char *au_leaked(const void *buf, size_t len)
{
    for (size_t s = 0; s < g_n_secrets; s++) {
        const char *body = g_secrets[s];
        if (strncmp(body, "sk-", 3) == 0)
            body += 3;
        size_t n = strlen(body);
        for (size_t i = 0; i + AU_LEAK_WINDOW <= n; i += AU_LEAK_STEP)
            if (memmem(buf, len, body + i, AU_LEAK_WINDOW) != NULL)
                return g_secrets[s];
    }
    return NULL;
}

static void au_leak_text(const char *what, const char *text)
{
    const char *s = au_leaked(text, strlen(text));
    if (s != NULL) {
        g_leaks++;
        fprintf(stderr, "  LEAK in %s of a secret starting %.6s\n", what, s);
    }
}

/* Every reply except a create/rotate answer must be free of secrets. */
static void au_leak_reply(const char *what, const Quotad__Reply *r)
{
    if (r == NULL || r->result_case == QUOTAD__REPLY__RESULT_KEY_SECRET)
        return;
    size_t n = protobuf_c_message_get_packed_size(&r->base);
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL) {
        g_leaks++;
        fprintf(stderr, "  out of memory checking a reply\n");
        return;
    }
    protobuf_c_message_pack(&r->base, buf);
    if (au_leaked(buf, n) != NULL) {
        g_leaks++;
        fprintf(stderr, "  LEAK in reply to %s\n", what);
    }
    free(buf);
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

static qc_ctx *au_connect_cred(const char *cred, int *rc)
{
    qc_options o = qc_options_default();
    o.port = g_d.port;
    o.client_name = "it-auth";
    o.credential = cred;
    qc_ctx *c = NULL;
    *rc = qc_connect(&o, &c);
    return c;
}

static qc_ctx *au_connect(enum au_role role)
{
    int rc = 0;
    qc_ctx *c = au_connect_cred(g_cred[role], &rc);
    if (c == NULL)
        fprintf(stderr, "  connect as %s: %s\n", au_role_names[role],
                qc_strerror(rc));
    return c;
}

/* Admin key of ws with the given role, created by root. */
static int au_admin_key(uint32_t ws, Quotad__Role role, const char *name,
                        int64_t expires_at_ms, fx_key *out)
{
    Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    FX_SET(ck, workspace_id, ws);
    FX_SET(ck, kind, QUOTAD__KEY_KIND__ADMIN);
    FX_SET(ck, role, role);
    if (expires_at_ms > 0)
        FX_SET(lim, expires_at_ms, expires_at_ms);
    ck.limits = &lim;
    ck.name = (char *)name;
    Quotad__Reply *r = NULL;
    int rc = qc_create_key(g_root, &ck, &r);
    memset(out, 0, sizeof *out);
    if (rc == QC_OK) {
        out->id = r->key_secret->key->key_id;
        out->ws_id = ws;
        snprintf(out->secret, sizeof out->secret, "%s",
                 r->key_secret->secret);
        au_remember(out->secret);
    }
    qc_reply_free(r);
    return rc;
}

static int au_std_key(uint32_t ws, fx_key *out)
{
    int rc = fx_key_create(g_root, ws, NULL, out);
    if (rc == QC_OK)
        au_remember(out->secret);
    return rc;
}

/* An open hold on key (root is allowed to check). */
static int au_hold(const fx_key *k, uint64_t *hold_id)
{
    qc_check_req rq = {.secret = k->secret, .amount = AU_AMOUNT,
                       .hold = true, .hold_timeout_ms = AU_HOLD_TIMEOUT_MS};
    qc_check_res rs;
    int rc = qc_check(g_root, &rq, &rs);
    if (rc == QC_OK && rs.decision != QC_ALLOWED)
        rc = QC_ERR_PROTOCOL;
    *hold_id = rs.hold_id;
    return rc;
}

/* A fresh key (and hold) for operations that consume them. */
static int au_prepare(opreq_op op, uint32_t ws, opreq_target *t)
{
    memset(t, 0, sizeof *t);
    t->ws = ws;
    bool needs_key = op >= AO_GET_KEY && op <= AO_VOID;
    needs_key = needs_key || op == AO_SET_ALERT;
    if (!needs_key)
        return QC_OK;
    int rc = au_std_key(ws, &t->key);
    if (rc == QC_OK && (op == AO_SETTLE || op == AO_VOID))
        rc = au_hold(&t->key, &t->hold);
    return rc;
}

/* ------------------------------------------------------------------ */
/* state before / after                                                */

typedef struct au_state {
    uint64_t seq;                 /* log seq (root ping) */
    uint8_t ws[AU_PACK_BYTES];
    size_t ws_len;
    uint8_t key[AU_PACK_BYTES];
    size_t key_len;
    bool next_ws_exists;          /* a workspace was created */
    uint64_t snap_seq;
    bool snap_running;
} au_state;

static int au_pack(const ProtobufCMessage *m, uint8_t *buf, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > AU_PACK_BYTES)
        return -1;
    *len = protobuf_c_message_pack(m, buf);
    return 0;
}

static int au_snapshot_state(au_state *s)
{
    Quotad__Reply *r = NULL;
    int rc = qc_snapshot(g_root, false, &r);
    if (rc == QC_OK && r->snapshot != NULL) {
        s->snap_seq = r->snapshot->last_seq;
        s->snap_running = r->snapshot->running;
    }
    qc_reply_free(r);
    return rc == QC_CODE_FAILED_PRECONDITION ? QC_OK : rc;
}

/* Workspace ws and key key_id (0: none) as root sees them. */
static int au_state_get(uint32_t ws, uint64_t key_id, au_state *s)
{
    memset(s, 0, sizeof *s);
    int rc = qc_ping(g_root);
    s->seq = qc_last_seq(g_root);
    Quotad__Reply *r = NULL;
    if (rc == QC_OK && (rc = qc_get_workspace(g_root, ws, &r)) == QC_OK)
        rc = au_pack(&r->workspace->base, s->ws, &s->ws_len);
    qc_reply_free(r);
    r = NULL;
    if (rc == QC_OK && key_id != 0 &&
        (rc = qc_get_key(g_root, key_id, &r)) == QC_OK)
        rc = au_pack(&r->key->base, s->key, &s->key_len);
    qc_reply_free(r);
    r = NULL;
    int nrc = qc_get_workspace(g_root, g_next_ws, &r);
    s->next_ws_exists = nrc == QC_OK;
    qc_reply_free(r);
    if (rc == QC_OK)
        rc = au_snapshot_state(s);
    return rc;
}

/* Nothing a denied operation could touch may differ. */
static void au_same_state(const au_state *a, const au_state *b,
                          opreq_op op)
{
    T_EQ_I64(b->seq, a->seq);
    T_EQ_I64(b->ws_len, a->ws_len);
    T_CHECK(memcmp(a->ws, b->ws, a->ws_len) == 0);
    T_EQ_I64(b->key_len, a->key_len);
    T_CHECK(memcmp(a->key, b->key, a->key_len) == 0);
    T_CHECK(!b->next_ws_exists);
    if (op == AO_SNAPSHOT) {
        T_EQ_I64(b->snap_seq, a->snap_seq);
        T_EQ_I64(b->snap_running, a->snap_running);
    }
}

/* ------------------------------------------------------------------ */
/* one cell of the matrix                                              */

/* Remember secrets an allowed create/rotate handed out. */
static void au_after_allowed(opreq_op op, const Quotad__Reply *r)
{
    if (r != NULL && r->result_case == QUOTAD__REPLY__RESULT_KEY_SECRET)
        au_remember(r->key_secret->secret);
    if (op == AO_CREATE_WS && r != NULL && r->workspace != NULL)
        g_next_ws = r->workspace->workspace_id + 1;
}

/* Run op as role against workspace ws; want_allowed says the outcome. */
static void au_cell(enum au_role role, opreq_op op, uint32_t ws,
                    bool want_allowed)
{
    opreq_target t;
    au_state before, after;
    T_REQUIRE(au_prepare(op, ws, &t) == QC_OK);
    T_REQUIRE(au_state_get(ws, t.key.id, &before) == QC_OK);
    qc_ctx *c = au_connect(role);
    T_REQUIRE(c != NULL);
    opreq_msg m;
    opreq_build(op, &t, &m);
    Quotad__Reply *r = NULL;
    int rc = qc_call(c, &m.rq, &r);
    au_leak_reply(opreq_names[op], r);
    int want = want_allowed ? QC_OK : QC_CODE_PERMISSION_DENIED;
    if (rc != want)
        fprintf(stderr, "  %s x %s (ws %u): rc %d (%s), want %s\n",
                au_role_names[role], opreq_names[op], (unsigned)ws, rc,
                qc_errstr(c), want_allowed ? "allowed" : "denied");
    T_EQ_I64(rc, want);
    if (rc == QC_OK)
        au_after_allowed(op, r);
    qc_reply_free(r);
    qc_free(c);
    if (!want_allowed) {
        T_REQUIRE(au_state_get(ws, t.key.id, &after) == QC_OK);
        au_same_state(&before, &after, op);
    }
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

/* HELLO answers with each principal's role and scope. */
static void test_hello_roles(void)
{
    for (int role = 0; role < AR_COUNT; role++) {
        qc_ctx *c = au_connect((enum au_role)role);
        T_REQUIRE(c != NULL);
        T_EQ_I64(qc_role(c), au_role_wire[role]);
        T_EQ_I64(qc_workspace_scope(c), au_role_scoped[role] ? g_ws_a : 0);
        qc_free(c);
    }
}

/* Every principal x every operation on workspace A. */
static void test_matrix(void)
{
    for (int role = 0; role < AR_COUNT; role++)
        for (int op = 0; op < AO_COUNT; op++)
            au_cell((enum au_role)role, (opreq_op)op, g_ws_a,
                    au_expect[role][op] == 'A');
}

/* Principals of A on workspace B: every operation that names a
 * workspace is denied and B does not change. */
static void test_cross_workspace(void)
{
    static const enum au_role scoped[] = {AR_GW_A, AR_MEMBER, AR_ADMIN,
                                          AR_OWNER};
    for (size_t i = 0; i < sizeof scoped / sizeof *scoped; i++) {
        for (int op = AO_GET_WS; op < AO_COUNT; op++) {
            if (op == AO_SNAPSHOT)
                continue;
            au_cell(scoped[i], (opreq_op)op, g_ws_b, false);
        }
    }
}

/* Usage of one key of B by key id (the scope comes from the key id). */
static void test_cross_usage_by_key(void)
{
    fx_key kb;
    T_REQUIRE(au_std_key(g_ws_b, &kb) == QC_OK);
    for (int role = AR_MEMBER; role <= AR_OWNER; role++) {
        qc_ctx *c = au_connect((enum au_role)role);
        T_REQUIRE(c != NULL);
        Quotad__Reply *r = NULL;
        T_EQ_I64(qc_usage(c, kb.id, g_ws_a, 0, 0, &r),
                 QC_CODE_PERMISSION_DENIED);
        qc_reply_free(r);
        T_EQ_I64(qc_usage(c, kb.id, 0, 0, 0, &r), QC_CODE_PERMISSION_DENIED);
        qc_reply_free(r);
        T_EQ_I64(qc_get_key(c, kb.id, &r), QC_CODE_PERMISSION_DENIED);
        qc_reply_free(r);
        qc_free(c);
    }
}

/* Admin keys are credentials, never bearer keys for check. */
static void test_admin_keys_never_check(void)
{
    qc_ctx *gw = au_connect(AR_GW);
    T_REQUIRE(gw != NULL);
    for (int role = AR_GW_A; role <= AR_OWNER; role++) {
        T_EQ_I64(fx_decide(gw, g_adm[role].secret, AU_AMOUNT),
                 QC_ADMIN_KEY_NOT_ALLOWED);
        T_EQ_I64(fx_decide(g_root, g_adm[role].secret, AU_AMOUNT),
                 QC_ADMIN_KEY_NOT_ALLOWED);
    }
    qc_free(gw);
}

/* A wrong credential is refused; after AU_FAILURES_MAX failed HELLOs the
 * server closes the connection. Two failures still allow a good one. */
static int au_hello(qc_ctx *c, const char *cred)
{
    Quotad__Hello h = QUOTAD__HELLO__INIT;
    FX_SET(h, version, 1);
    h.credential = (char *)cred;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_HELLO;
    rq.hello = &h;
    Quotad__Reply *r = NULL;
    int rc = qc_call(c, &rq, &r);
    au_leak_reply("hello", r);
    qc_reply_free(r);
    return rc;
}

static void test_wrong_credential(void)
{
    static const char wrong[] = "0123456789abcdef-not-the-credential";
    int rc = 0;
    qc_ctx *c = au_connect_cred(wrong, &rc);
    T_CHECK(c == NULL);
    T_EQ_I64(rc, QC_CODE_PERMISSION_DENIED);
    c = au_connect_cred(NULL, &rc);
    T_REQUIRE(c != NULL);
    T_EQ_I64(au_hello(c, wrong), QC_CODE_PERMISSION_DENIED);
    T_EQ_I64(au_hello(c, g_adm[AR_ADMIN].secret + 1),
             QC_CODE_PERMISSION_DENIED);
    T_EQ_I64(au_hello(c, g_root_cred), QC_OK);     /* 2 failures: still ok */
    qc_free(c);
    c = au_connect_cred(NULL, &rc);
    T_REQUIRE(c != NULL);
    for (int i = 0; i < AU_FAILURES_MAX; i++)
        T_EQ_I64(au_hello(c, wrong), QC_CODE_PERMISSION_DENIED);
    T_EQ_I64(qc_ping(c), QC_ERR_IO);              /* closed by the server */
    qc_free(c);
}

/* Log in with secret: the rc of qc_connect. */
static int au_login_rc(const char *secret)
{
    int rc = 0;
    qc_ctx *c = au_connect_cred(secret, &rc);
    qc_free(c);
    return rc;
}

static void test_dead_admin_keys(void)
{
    fx_key k, exp;
    Quotad__Reply *r = NULL;
    T_REQUIRE(au_admin_key(g_ws_a, QUOTAD__ROLE__ROLE_ADMIN, "dying", 0,
                           &k) == QC_OK);
    T_EQ_I64(au_login_rc(k.secret), QC_OK);
    T_REQUIRE(qc_disable_key(g_root, k.id, &r) == QC_OK);
    qc_reply_free(r);
    T_EQ_I64(au_login_rc(k.secret), QC_CODE_PERMISSION_DENIED);
    T_REQUIRE(qc_enable_key(g_root, k.id, &r) == QC_OK);
    qc_reply_free(r);
    T_EQ_I64(au_login_rc(k.secret), QC_OK);
    T_REQUIRE(qc_revoke_key(g_root, k.id, &r) == QC_OK);
    qc_reply_free(r);
    T_EQ_I64(au_login_rc(k.secret), QC_CODE_PERMISSION_DENIED);
    int64_t until = td_now_ms() + AU_EXPIRE_IN_MS;
    T_REQUIRE(au_admin_key(g_ws_a, QUOTAD__ROLE__ROLE_OWNER, "expiring",
                           until, &exp) == QC_OK);
    T_EQ_I64(au_login_rc(exp.secret), QC_OK);
    td_sleep_ms(until - td_now_ms() + AU_EXPIRE_SLACK_MS);
    T_EQ_I64(au_login_rc(exp.secret), QC_CODE_PERMISSION_DENIED);
}

/* An admin can make member/admin keys but never an owner key; a member
 * none at all; an owner an owner key. */
static void test_admin_key_ceiling(void)
{
    static const struct {
        enum au_role who;
        Quotad__Role want;
        int rc;
    } cases[] = {
        {AR_ADMIN, QUOTAD__ROLE__ROLE_OWNER, QC_CODE_PERMISSION_DENIED},
        {AR_ADMIN, QUOTAD__ROLE__ROLE_ADMIN, QC_OK},
        {AR_ADMIN, QUOTAD__ROLE__ROLE_GATEWAY, QC_OK},
        {AR_MEMBER, QUOTAD__ROLE__ROLE_MEMBER, QC_CODE_PERMISSION_DENIED},
        {AR_GW_A, QUOTAD__ROLE__ROLE_GATEWAY, QC_CODE_PERMISSION_DENIED},
        {AR_OWNER, QUOTAD__ROLE__ROLE_OWNER, QC_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        qc_ctx *c = au_connect(cases[i].who);
        T_REQUIRE(c != NULL);
        Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
        FX_SET(ck, workspace_id, g_ws_a);
        FX_SET(ck, kind, QUOTAD__KEY_KIND__ADMIN);
        FX_SET(ck, role, cases[i].want);
        ck.name = (char *)"ceiling";
        Quotad__Reply *r = NULL;
        T_EQ_I64(qc_create_key(c, &ck, &r), cases[i].rc);
        if (r != NULL && r->result_case == QUOTAD__REPLY__RESULT_KEY_SECRET) {
            T_EQ_I64(r->key_secret->key->role, cases[i].want);
            au_remember(r->key_secret->secret);
        }
        au_leak_reply("create_key(ceiling)", r);
        qc_reply_free(r);
        qc_free(c);
    }
}

/* ------------------------------------------------------------------ */
/* CLI                                                                 */

typedef struct au_cli {
    int rc;
    char out[AU_CLI_OUT_MAX + 1];
    char err[AU_CLI_OUT_MAX + 1];
} au_cli;

static au_cli g_cli;

/* Run the CLI; every output is checked for leaks unless it is the one
 * that legitimately prints a new secret (may_show_secret). */
static int au_cli_run(bool may_show_secret, const char *const *args)
{
    char out[AU_PATH_BYTES], err[AU_PATH_BYTES];
    if (au_path("cli.out", out, sizeof out) != 0 ||
        au_path("cli.err", err, sizeof err) != 0)
        return -1;
    char port[AU_PORT_TEXT];
    snprintf(port, sizeof port, "%u", (unsigned)g_d.port);
    g_cli.rc = tr_run(tr_bin("QUOTADCTL_BIN", AU_CLI_DEFAULT),
                      (const char *const[]){"--port", port, NULL}, args, NULL,
                      out, err, AU_CLI_WAIT_MS);
    tr_read(out, g_cli.out, sizeof g_cli.out);
    tr_read(err, g_cli.err, sizeof g_cli.err);
    if (!may_show_secret)
        au_leak_text("quotadctl stdout", g_cli.out);
    au_leak_text("quotadctl stderr", g_cli.err);
    char secret[FX_SECRET_BYTES];
    const char *js = strstr(g_cli.out, "\"secret\":\"");
    const char *hs = strstr(g_cli.out, "\nsecret:");
    if (may_show_secret && js != NULL &&
        sscanf(js, "\"secret\":\"%90[^\"]", secret) == 1)
        au_remember(secret);
    if (may_show_secret && hs != NULL &&
        sscanf(hs, "\nsecret: %90s", secret) == 1)
        au_remember(secret);
    return g_cli.rc;
}

#define AU_CLI(...) au_cli_run(false, (const char *const[]){__VA_ARGS__, NULL})
#define AU_CLI_NEW(...)                                                    \
    au_cli_run(true, (const char *const[]){__VA_ARGS__, NULL})

static void au_cli_show(int want)
{
    if (g_cli.rc != want)
        fprintf(stderr, "  cli rc %d want %d\n  stdout: %s\n  stderr: %s\n",
                g_cli.rc, want, g_cli.out, g_cli.err);
    T_EQ_I64(g_cli.rc, want);
}

/* --credential-file with root, a wrong one, a loose-mode one. */
static void test_cli_credential_file(void)
{
    char ws[AU_ID_TEXT], wrong[AU_PATH_BYTES], loose[AU_PATH_BYTES];
    snprintf(ws, sizeof ws, "%u", (unsigned)g_ws_a);
    AU_CLI("--credential-file", g_root_path, "--json", "key", "list",
           "--ws", ws);
    au_cli_show(0);
    T_CHECK(strstr(g_cli.out, "\"ok\":true") != NULL);
    AU_CLI("ws", "get", ws);                          /* no credential */
    au_cli_show(1);
    T_CHECK(strstr(g_cli.err, "permission_denied") != NULL);
    T_REQUIRE(au_write_file("wrong.cred", "wrong-credential-0123456789",
                            0600, wrong, sizeof wrong) == 0);
    au_remember("wrong-credential-0123456789");
    AU_CLI("--credential-file", wrong, "ws", "get", ws);
    au_cli_show(1);
    T_CHECK(strstr(g_cli.err, "permission_denied") != NULL);
    T_REQUIRE(au_write_file("loose.cred", g_root_cred, 0644, loose,
                            sizeof loose) == 0);
    AU_CLI("--credential-file", loose, "ping");
    au_cli_show(2);                                   /* refused, unread */
    AU_CLI("ping", "--credential-file", g_root_path); /* after the command */
    au_cli_show(0);
}

/* QUOTAD_CREDENTIAL_FILE with an admin key of A (role admin). */
static void test_cli_env_and_role(void)
{
    char ws[AU_ID_TEXT], path[AU_PATH_BYTES];
    snprintf(ws, sizeof ws, "%u", (unsigned)g_ws_a);
    T_REQUIRE(au_write_file("admin.cred", g_adm[AR_ADMIN].secret, 0600,
                            path, sizeof path) == 0);
    T_REQUIRE(setenv("QUOTAD_CREDENTIAL_FILE", path, 1) == 0);
    AU_CLI("key", "create", "--ws", ws, "--name", "o", "--admin", "--role",
           "owner");
    au_cli_show(1);
    T_CHECK(strstr(g_cli.err, "permission_denied") != NULL);
    AU_CLI_NEW("--json", "key", "create", "--ws", ws, "--name", "m",
               "--admin", "--role", "member");
    au_cli_show(0);
    T_CHECK(strstr(g_cli.out, "\"role\":\"member\"") != NULL);
    AU_CLI("ws", "update", ws, "--name", "nope");
    au_cli_show(1);
    T_REQUIRE(unsetenv("QUOTAD_CREDENTIAL_FILE") == 0);
    AU_CLI_NEW("--credential-file", g_root_path, "key", "create", "--ws",
               ws, "--name", "own", "--admin", "--role", "owner");
    au_cli_show(0);
    T_CHECK(strstr(g_cli.out, "\nrole:") != NULL);
    T_CHECK(strstr(g_cli.out, "owner") != NULL);
    AU_CLI("key", "create", "--ws", ws, "--name", "x", "--role", "owner");
    au_cli_show(2);                                   /* --role needs --admin */
}

/* The daemon's stderr must hold no secret and no credential. */
static void au_check_daemon_log(void)
{
    char *s = td_stderr(&g_d);
    au_leak_text("daemon stderr", s != NULL ? s : "");
    free(s);
}

static void test_no_leaks(void)
{
    T_EQ_I64(g_leaks, 0);
}

/* ------------------------------------------------------------------ */
/* setup                                                               */

static int au_setup_files(void)
{
    char tmpl[] = AU_DIR_TEMPLATE;
    if (mkdtemp(tmpl) == NULL)
        return -1;
    snprintf(g_dir, sizeof g_dir, "%s", tmpl);
    if (au_random_cred(g_root_cred) != 0 || au_random_cred(g_gw_cred) != 0)
        return -1;
    au_remember(g_root_cred);
    au_remember(g_gw_cred);
    if (au_write_file("root.cred", g_root_cred, 0600, g_root_path,
                      sizeof g_root_path) != 0 ||
        au_write_file("gw.cred", g_gw_cred, 0600, g_gw_path,
                      sizeof g_gw_path) != 0)
        return -1;
    return 0;
}

static void au_cleanup_files(void)
{
    static const char *const names[] = {"root.cred", "gw.cred",
                                        "wrong.cred", "loose.cred",
                                        "admin.cred", "cli.out", "cli.err"};
    char path[AU_PATH_BYTES];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (au_path(names[i], path, sizeof path) == 0)
            (void)unlink(path);
    if (g_dir[0] != '\0')
        (void)rmdir(g_dir);
}

/* Workspaces A and B and the admin keys of A by role. */
static int au_setup_principals(void)
{
    static const Quotad__Role roles[AR_COUNT] = {
        [AR_GW_A] = QUOTAD__ROLE__ROLE_GATEWAY,
        [AR_MEMBER] = QUOTAD__ROLE__ROLE_MEMBER,
        [AR_ADMIN] = QUOTAD__ROLE__ROLE_ADMIN,
        [AR_OWNER] = QUOTAD__ROLE__ROLE_OWNER,
    };
    if (fx_workspace(g_root, AU_BALANCE, 0, OPREQ_MAX_KEYS, &g_ws_a) != 0 ||
        fx_workspace(g_root, AU_BALANCE, 0, OPREQ_MAX_KEYS, &g_ws_b) != 0)
        return -1;
    g_next_ws = g_ws_b + 1;
    for (int r = AR_GW_A; r <= AR_OWNER; r++)
        if (au_admin_key(g_ws_a, roles[r], au_role_names[r], 0,
                         &g_adm[r]) != QC_OK)
            return -1;
    g_cred[AR_NONE] = NULL;
    g_cred[AR_GW] = g_gw_cred;
    g_cred[AR_ROOT] = g_root_cred;
    for (int r = AR_GW_A; r <= AR_OWNER; r++)
        g_cred[r] = g_adm[r].secret;
    return 0;
}

static int au_start(void)
{
    const char *args[] = {"--root-credential-file", g_root_path,
                          "--gateway-credential-file", g_gw_path, NULL};
    if (td_start(&g_d, args) != 0)
        return -1;
    int rc = 0;
    g_root = au_connect_cred(g_root_cred, &rc);
    return g_root != NULL && qc_role(g_root) == QUOTAD__ROLE__ROLE_ROOT
               ? 0
               : -1;
}

int main(void)
{
    if (au_setup_files() != 0 || au_start() != 0 ||
        au_setup_principals() != 0) {
        fprintf(stderr, "it_auth: setup failed\n");
        printf("FAIL setup\n");
        qc_free(g_root);
        (void)td_stop(&g_d);
        td_cleanup(&g_d);
        au_cleanup_files();
        return 1;
    }
    T_RUN(test_hello_roles);
    T_RUN(test_matrix);
    T_RUN(test_cross_workspace);
    T_RUN(test_cross_usage_by_key);
    T_RUN(test_admin_keys_never_check);
    T_RUN(test_wrong_credential);
    T_RUN(test_dead_admin_keys);
    T_RUN(test_admin_key_ceiling);
    T_RUN(test_cli_credential_file);
    T_RUN(test_cli_env_and_role);
    qc_free(g_root);
    int st = td_stop(&g_d);
    au_check_daemon_log();
    T_RUN(test_no_leaks);
    if (st != 0)
        printf("FAIL daemon exit %d\n", st);
    td_cleanup(&g_d);
    au_cleanup_files();
    return t_done() == 0 && st == 0 ? 0 : 1;
}
