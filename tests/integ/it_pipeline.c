/* it_pipeline -- many frames in one write, answered one by one, in order.
 *
 * The server decodes several buffered frames ahead of running them (to
 * prefetch what their checks touch); this must not change any answer. One
 * raw connection sends, in a single write: a check before authenticating
 * (denied), a HELLO (applies from the next frame on), checks of several
 * keys, unknown and malformed secrets, a batch frame, a key deleted and a
 * key rotated by one frame and checked by the next, a failed HELLO (the
 * session stays), a long run of single checks (more than one processing
 * budget), then a malformed frame (answered, then the connection closes)
 * and a check after it that must never run. Every reply is compared with
 * what a one-frame-at-a-time server answers, including the wallet balance
 * after each allowed check (so the order of execution shows).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/fixtures.h"
#include "lib/rawsock.h"
#include "limits.h"
#include "t.h"

#define PL_DIR_TEMPLATE "/tmp/quotad-it-pipeline-XXXXXX"
#define PL_DIR_BYTES 64
#define PL_PATH_BYTES 128
#define PL_CRED "pipeline-test-credential-0123456789abcdef"
#define PL_WRONG_CRED "not-the-pipeline-credential-0123456789"
#define PL_BALANCE (1000 * FX_UNIT)
#define PL_AMOUNT INT64_C(7)
#define PL_SINGLE_CHECKS 150      /* > FRAMES_PER_EVENT_MAX: several passes */
#define PL_FRAMES_MAX 200
#define PL_REQS_PER_FRAME_MAX 4
#define PL_CLOSE_WAIT_MS 5000

_Static_assert(PL_SINGLE_CHECKS > 2 * FRAMES_PER_EVENT_MAX,
               "the run must span processing passes");
_Static_assert(PL_SINGLE_CHECKS + 20 < PL_FRAMES_MAX, "room for the rest");

enum pl_kind { PL_CHECK, PL_HELLO, PL_PING, PL_DELETE, PL_ROTATE };

/* One request and the answer expected for it. */
typedef struct pl_req {
    enum pl_kind kind;
    const char *text;          /* secret or credential */
    uint64_t key_id;           /* delete, rotate */
    int code;                  /* expected Quotad__Code */
    int decision;              /* checks answered OK: Quotad__Decision */
} pl_req;

typedef struct pl_frame {
    size_t n;
    pl_req rq[PL_REQS_PER_FRAME_MAX];
} pl_frame;

/* The script, and the protobuf storage its encoding points into. */
typedef struct pl_script {
    size_t n;
    pl_frame f[PL_FRAMES_MAX];
} pl_script;

static td_daemon g_d;
static qc_ctx *g_root;
static char g_dir[PL_DIR_BYTES];
static char g_cred_path[PL_PATH_BYTES];
static uint32_t g_ws;
static fx_key g_a, g_b, g_del, g_rot;
static char g_forged[FX_SECRET_BYTES];

/* ---- setup ---- */

static int pl_write_cred(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", PL_DIR_TEMPLATE);
    if (mkdtemp(g_dir) == NULL)
        return -1;
    snprintf(g_cred_path, sizeof g_cred_path, "%s/root.cred", g_dir);
    int fd = open(g_cred_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    static const char text[] = PL_CRED "\n";
    int ok = write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1);
    return close(fd) == 0 && ok ? 0 : -1;
}

static int pl_start(void)
{
    const char *args[] = {"--root-credential-file", g_cred_path, NULL};
    if (pl_write_cred() != 0 || td_start(&g_d, args) != 0)
        return -1;
    qc_options o = qc_options_default();
    o.port = g_d.port;
    o.credential = PL_CRED;
    if (qc_connect(&o, &g_root) != QC_OK)
        return -1;
    if (fx_workspace(g_root, PL_BALANCE, 0, 0, &g_ws) != QC_OK)
        return -1;
    fx_key *keys[] = {&g_a, &g_b, &g_del, &g_rot};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (fx_key_create(g_root, g_ws, NULL, keys[i]) != QC_OK)
            return -1;
    fx_forge_secret(g_ws, 7, g_forged, sizeof g_forged);
    return 0;
}

/* ---- the script ---- */

static pl_req pl_check(const char *secret, int code, int decision)
{
    return (pl_req){.kind = PL_CHECK, .text = secret, .code = code,
                    .decision = decision};
}

static void pl_add(pl_script *s, const pl_req *rq, size_t n)
{
    pl_frame *f = &s->f[s->n++];
    f->n = n;
    memcpy(f->rq, rq, n * sizeof *rq);
}

static void pl_add1(pl_script *s, pl_req rq)
{
    pl_add(s, &rq, 1);
}

static void pl_build(pl_script *s)
{
    const int ok = QUOTAD__CODE__OK;
    const int allowed = QUOTAD__DECISION__ALLOWED;
    const int invalid = QUOTAD__DECISION__INVALID_API_KEY;
    s->n = 0;
    pl_add1(s, pl_check(g_a.secret, QUOTAD__CODE__PERMISSION_DENIED, 0));
    pl_add1(s, (pl_req){.kind = PL_HELLO, .text = PL_CRED, .code = ok});
    pl_add1(s, pl_check(g_a.secret, ok, allowed));
    pl_add1(s, pl_check(g_b.secret, ok, allowed));
    pl_add1(s, pl_check(g_forged, ok, invalid));
    pl_add1(s, pl_check("sk-not-a-key", ok, invalid));
    pl_req batch[] = {pl_check(g_a.secret, ok, allowed),
                      pl_check(g_del.secret, ok, allowed),
                      {.kind = PL_PING, .code = ok},
                      pl_check(g_b.secret, ok, allowed)};
    pl_add(s, batch, 4);
    pl_add1(s, (pl_req){.kind = PL_DELETE, .key_id = g_del.id, .code = ok});
    pl_add1(s, pl_check(g_del.secret, ok, invalid));
    pl_add1(s, (pl_req){.kind = PL_ROTATE, .key_id = g_rot.id, .code = ok});
    pl_add1(s, pl_check(g_rot.secret, ok, QUOTAD__DECISION__REVOKED_API_KEY));
    pl_add1(s, (pl_req){.kind = PL_HELLO, .text = PL_WRONG_CRED,
                        .code = QUOTAD__CODE__PERMISSION_DENIED});
    for (int i = 0; i < PL_SINGLE_CHECKS; i++)
        pl_add1(s, pl_check(i % 3 == 2 ? g_forged
                            : i % 3 ? g_b.secret : g_a.secret,
                            ok, i % 3 == 2 ? invalid : allowed));
}

/* Protobuf storage for one request while it is encoded. */
typedef struct pl_pb {
    Quotad__Request rq;
    Quotad__Check ck;
    Quotad__Hello hello;
    Quotad__Ping ping;
    Quotad__KeyRef ref;
    Quotad__RotateKey rot;
} pl_pb;

static Quotad__Request *pl_encode_req(const pl_req *r, uint64_t id, pl_pb *p)
{
    *p = (pl_pb){.rq = QUOTAD__REQUEST__INIT, .ck = QUOTAD__CHECK__INIT,
                 .hello = QUOTAD__HELLO__INIT, .ping = QUOTAD__PING__INIT,
                 .ref = QUOTAD__KEY_REF__INIT,
                 .rot = QUOTAD__ROTATE_KEY__INIT};
    FX_SET(p->rq, id, id);
    switch (r->kind) {
    case PL_CHECK:
        p->ck.secret = (char *)r->text;
        FX_SET(p->ck, amount, PL_AMOUNT);
        p->rq.op_case = QUOTAD__REQUEST__OP_CHECK;
        p->rq.check = &p->ck;
        break;
    case PL_HELLO:
        p->hello.credential = (char *)r->text;
        p->rq.op_case = QUOTAD__REQUEST__OP_HELLO;
        p->rq.hello = &p->hello;
        break;
    case PL_PING:
        p->rq.op_case = QUOTAD__REQUEST__OP_PING;
        p->rq.ping = &p->ping;
        break;
    case PL_DELETE:
        FX_SET(p->ref, key_id, r->key_id);
        p->rq.op_case = QUOTAD__REQUEST__OP_DELETE_KEY;
        p->rq.delete_key = &p->ref;
        break;
    case PL_ROTATE:
        FX_SET(p->rot, key_id, r->key_id);
        FX_SET(p->rot, grace_ms, 0);
        p->rq.op_case = QUOTAD__REQUEST__OP_ROTATE_KEY;
        p->rq.rotate_key = &p->rot;
        break;
    }
    return &p->rq;
}

/* Request ids: frame * 10 + position, so a reply names its place. */
static uint64_t pl_id(size_t frame, size_t pos)
{
    return (uint64_t)frame * 10u + pos + 1u;
}

static int pl_encode(const pl_script *s, uint8_t **buf, size_t *len)
{
    for (size_t i = 0; i < s->n; i++) {
        pl_pb pb[PL_REQS_PER_FRAME_MAX];
        Quotad__Request *rq[PL_REQS_PER_FRAME_MAX];
        for (size_t j = 0; j < s->f[i].n; j++)
            rq[j] = pl_encode_req(&s->f[i].rq[j], pl_id(i, j), &pb[j]);
        if (rs_append_frame(buf, len, rq, s->f[i].n) != 0)
            return -1;
    }
    return 0;
}

/* ---- checking the replies ---- */

/* The key a secret of the script belongs to (0: none). */
static uint64_t pl_key_of(const char *secret)
{
    const fx_key *keys[] = {&g_a, &g_b, &g_del, &g_rot};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (secret == keys[i]->secret)
            return keys[i]->id;
    return 0;
}

/* One reply against its expectation; *balance follows allowed checks. */
static void pl_expect(const pl_req *want, uint64_t id,
                      const Quotad__Reply *got, int64_t *balance)
{
    T_EQ_I64(got->id, id);
    T_EQ_I64(got->code, want->code);
    if (want->kind == PL_HELLO && want->code == QUOTAD__CODE__OK)
        T_CHECK(got->result_case == QUOTAD__REPLY__RESULT_HELLO &&
                got->hello->role == QUOTAD__ROLE__ROLE_ROOT);
    if (want->kind != PL_CHECK || want->code != QUOTAD__CODE__OK)
        return;
    T_REQUIRE(got->result_case == QUOTAD__REPLY__RESULT_CHECK);
    T_EQ_I64(got->check->decision, want->decision);
    if (want->decision == QUOTAD__DECISION__ALLOWED) {
        T_EQ_I64(got->check->key_id, pl_key_of(want->text));
        *balance -= PL_AMOUNT;
        T_EQ_I64(got->check->wallet_balance, *balance);
    }
}

/* Read and compare the reply of every frame of s; returns how many
 * frames were answered as expected in shape. */
static size_t pl_read_replies(int fd, const pl_script *s, int64_t *balance)
{
    size_t i = 0;
    for (; i < s->n; i++) {
        Quotad__ServerFrame *f = rs_read_frame(fd);
        if (f == NULL || f->n_replies != s->f[i].n) {
            fprintf(stderr, "  frame %zu: %s\n", i,
                    f == NULL ? "no reply" : "wrong reply count");
            if (f != NULL)
                quotad__server_frame__free_unpacked(f, NULL);
            break;
        }
        for (size_t j = 0; j < f->n_replies; j++)
            pl_expect(&s->f[i].rq[j], pl_id(i, j), f->replies[j], balance);
        quotad__server_frame__free_unpacked(f, NULL);
    }
    return i;
}

/* The whole script, a junk frame and one more check, in one write. */
static void test_pipelined_script(void)
{
    static pl_script s;
    pl_build(&s);
    uint8_t *buf = NULL;
    size_t len = 0;
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    pl_pb pb;
    pl_req after = pl_check(g_a.secret, 0, 0);
    Quotad__Request *rq = pl_encode_req(&after, 9999, &pb);
    T_REQUIRE(pl_encode(&s, &buf, &len) == 0 &&
              rs_append_raw(&buf, &len, junk, sizeof junk) == 0 &&
              rs_append_frame(&buf, &len, &rq, 1) == 0);
    int fd = rs_connect(g_d.port);
    T_REQUIRE(fd >= 0);
    T_CHECK(rs_send_all(fd, buf, len) == 0);
    free(buf);
    int64_t balance = PL_BALANCE;
    T_EQ_I64(pl_read_replies(fd, &s, &balance), s.n);
    Quotad__ServerFrame *f = rs_read_frame(fd);      /* the junk's answer */
    T_CHECK(f != NULL && f->n_replies == 1 && f->replies[0]->id == 0 &&
            f->replies[0]->code == QUOTAD__CODE__MALFORMED);
    if (f != NULL)
        quotad__server_frame__free_unpacked(f, NULL);
    T_CHECK(rs_closed_within(fd, PL_CLOSE_WAIT_MS)); /* nothing more */
    close(fd);
    int64_t now = 0;                 /* the check after the junk never ran */
    T_CHECK(fx_balance(g_root, g_ws, &now) == QC_OK);
    T_EQ_I64(now, balance);
}

/* The same pipeline again on a fresh connection, without the junk: all
 * answered, connection stays usable. */
static void test_pipelined_twice(void)
{
    static pl_script s;
    pl_build(&s);
    int64_t balance = 0;
    T_REQUIRE(fx_balance(g_root, g_ws, &balance) == QC_OK);
    /* the deleted key is gone and the rotated key's first secret is two
     * rotations old now: both invalid; deleting again finds nothing */
    for (size_t i = 0; i < s.n; i++)
        for (size_t j = 0; j < s.f[i].n; j++) {
            pl_req *r = &s.f[i].rq[j];
            bool gone = r->text == g_del.secret || r->text == g_rot.secret;
            if (r->kind == PL_CHECK && gone && r->code == QUOTAD__CODE__OK)
                r->decision = QUOTAD__DECISION__INVALID_API_KEY;
            if (r->kind == PL_DELETE || r->kind == PL_ROTATE)
                r->code = r->kind == PL_DELETE ? QUOTAD__CODE__NOT_FOUND
                                               : QUOTAD__CODE__OK;
        }
    uint8_t *buf = NULL;
    size_t len = 0;
    T_REQUIRE(pl_encode(&s, &buf, &len) == 0);
    int fd = rs_connect(g_d.port);
    T_REQUIRE(fd >= 0);
    T_CHECK(rs_send_all(fd, buf, len) == 0);
    free(buf);
    T_EQ_I64(pl_read_replies(fd, &s, &balance), s.n);
    close(fd);
    int64_t now = 0;
    T_CHECK(fx_balance(g_root, g_ws, &now) == QC_OK);
    T_EQ_I64(now, balance);
}

int main(void)
{
    if (pl_start() != 0) {
        printf("FAIL it_pipeline_start\n");
        qc_free(g_root);
        (void)td_stop(&g_d);
        td_cleanup(&g_d);
        return 1;
    }
    T_RUN(test_pipelined_script);
    T_RUN(test_pipelined_twice);
    qc_free(g_root);
    int st = td_stop(&g_d);
    td_cleanup(&g_d);
    (void)unlink(g_cred_path);
    (void)rmdir(g_dir);
    if (st != 0)
        printf("FAIL daemon exit %d\n", st);
    return t_done() == 0 && st == 0 ? 0 : 1;
}
