/* cmd_keybulk.c -- key enable|disable|revoke|delete KEY_ID [KEY_ID...].
 *
 * One id: a plain call, the key is printed in full. Several ids: sent as
 * ONE batched frame (qc_call_batch; BATCH_OPS_MAX ids per frame, so more
 * than that become several frames) and summarised one line per id. Every
 * id is parsed before anything is sent, so a typo changes nothing.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/limits.h"
#include "ctl.h"

/* One frame's worth of requests and their replies. */
typedef struct ctl_bulk {
    Quotad__Request rq[BATCH_OPS_MAX];
    Quotad__KeyRef ref[BATCH_OPS_MAX];
    Quotad__Request *rqp[BATCH_OPS_MAX];
    Quotad__Reply *out[BATCH_OPS_MAX];
} ctl_bulk;

/* Past-tense word for the summary ("revoked"). */
static const char *ctl_op_done(Quotad__Request__OpCase op)
{
    switch (op) {
    case QUOTAD__REQUEST__OP_ENABLE_KEY:
        return "enabled";
    case QUOTAD__REQUEST__OP_DISABLE_KEY:
        return "disabled";
    case QUOTAD__REQUEST__OP_REVOKE_KEY:
        return "revoked";
    default:
        return "deleted";
    }
}

/* Point the right oneof member of rq at ref. */
static void ctl_set_op(Quotad__Request *rq, Quotad__Request__OpCase op,
                       Quotad__KeyRef *ref)
{
    rq->op_case = op;
    switch (op) {
    case QUOTAD__REQUEST__OP_ENABLE_KEY:
        rq->enable_key = ref;
        break;
    case QUOTAD__REQUEST__OP_DISABLE_KEY:
        rq->disable_key = ref;
        break;
    case QUOTAD__REQUEST__OP_REVOKE_KEY:
        rq->revoke_key = ref;
        break;
    default:
        rq->delete_key = ref;
        break;
    }
}

/* Parse every positional as a KEY_ID into a new array (*ids). */
static int ctl_bulk_ids(ctl_args *a, uint64_t **ids, size_t *n)
{
    ctl_tok t;
    int s;
    *n = 0;
    *ids = malloc((size_t)(a->argc > 0 ? a->argc : 1) * sizeof **ids);
    if (*ids == NULL) {
        fprintf(stderr, "error: out of memory\n");
        return -1;
    }
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        if (t.flag != NULL) {
            ctl_unknown_flag(a, &t);
            return -1;
        }
        if (ctl_parse_id(a, "KEY_ID", t.pos, &(*ids)[*n]) != 0)
            return -1;
        (*n)++;
    }
    if (s == CTL_SCAN_ERROR)
        return -1;
    return ctl_need_pos(a, (int)*n, 1, "KEY_ID [KEY_ID...]");
}

/* Single id: typed wrapper, full key output. */
static int ctl_bulk_one(ctl_env *e, uint64_t id, Quotad__Request__OpCase op)
{
    Quotad__Reply *r = NULL;
    int rc;
    switch (op) {
    case QUOTAD__REQUEST__OP_ENABLE_KEY:
        rc = qc_enable_key(e->conn, id, &r);
        break;
    case QUOTAD__REQUEST__OP_DISABLE_KEY:
        rc = qc_disable_key(e->conn, id, &r);
        break;
    case QUOTAD__REQUEST__OP_REVOKE_KEY:
        rc = qc_revoke_key(e->conn, id, &r);
        break;
    default:
        rc = qc_delete_key(e->conn, id, &r);
        break;
    }
    return ctl_key_reply(e, rc, r, QUOTAD__REPLY__RESULT_KEY);
}

/* Send ids[0..n) (n <= BATCH_OPS_MAX) as one frame; replies go to out. */
static int ctl_bulk_frame(ctl_env *e, ctl_bulk *b, const uint64_t *ids,
                          size_t n, Quotad__Request__OpCase op,
                          Quotad__Reply **out)
{
    static const Quotad__Request rq0 = QUOTAD__REQUEST__INIT;
    static const Quotad__KeyRef ref0 = QUOTAD__KEY_REF__INIT;
    for (size_t i = 0; i < n; i++) {
        b->ref[i] = ref0;
        b->ref[i].has_key_id = 1;
        b->ref[i].key_id = ids[i];
        b->rq[i] = rq0;
        ctl_set_op(&b->rq[i], op, &b->ref[i]);
        b->rqp[i] = &b->rq[i];
        b->out[i] = NULL;
    }
    int rc = qc_call_batch(e->conn, b->rqp, n, b->out);
    memcpy(out, b->out, n * sizeof *out);
    if (rc == QC_OK)
        for (size_t i = 0; i < n; i++)
            if (out[i] == NULL)
                return ctl_expect(e, NULL, QUOTAD__REPLY__RESULT_KEY);
    return ctl_result(e, rc, NULL);
}

/* A reply's code, or INTERNAL-like failure when it carries no key. */
static int ctl_reply_code(const Quotad__Reply *r)
{
    if (r->has_code && r->code != QUOTAD__CODE__OK)
        return (int)r->code;
    return r->result_case == QUOTAD__REPLY__RESULT_KEY ? QC_OK
                                                       : QC_CODE_INTERNAL;
}

/* Human summary line per id; errors on stderr. */
static void ctl_bulk_human(ctl_out *o, const uint64_t *ids,
                           Quotad__Reply *const *r, size_t n,
                           Quotad__Request__OpCase op)
{
    for (size_t i = 0; i < n; i++) {
        int code = ctl_reply_code(r[i]);
        if (code != QC_OK) {
            fprintf(stderr, "error: %s: key %" PRIu64 ": ", qc_code_str(code),
                    ids[i]);
            ctl_out_human_text(stderr, r[i]->error ? r[i]->error : "");
            fputc('\n', stderr);
            continue;
        }
        fprintf(o->f, "key %" PRIu64 " (", ids[i]);
        ctl_out_human_text(o->f, r[i]->key->name);
        fprintf(o->f, "): %s\n", ctl_op_done(op));
    }
}

/* JSON: {"ok":..,"results":[{"key_id":..,"ok":..,...}],"seq":..}. */
static void ctl_bulk_json(ctl_out *o, const uint64_t *ids,
                          Quotad__Reply *const *r, size_t n, bool all_ok)
{
    ctl_out_bool(o, "ok", all_ok);
    ctl_out_arr_begin(o, "results");
    for (size_t i = 0; i < n; i++) {
        int code = ctl_reply_code(r[i]);
        ctl_out_obj_begin(o, NULL);
        ctl_out_u64(o, "key_id", ids[i]);
        ctl_out_bool(o, "ok", code == QC_OK);
        if (code == QC_OK) {
            ctl_show_key(o, r[i]->key);
        } else {
            ctl_out_str(o, "code", qc_code_str(code));
            ctl_out_str(o, "error", r[i]->error);
        }
        ctl_out_u64(o, "seq", r[i]->seq);
        ctl_out_obj_end(o);
    }
    ctl_out_arr_end(o);
}

/* Print all results; exit 1 if any id failed. */
static int ctl_bulk_print(ctl_env *e, const uint64_t *ids,
                          Quotad__Reply *const *r, size_t n,
                          Quotad__Request__OpCase op)
{
    bool all_ok = true;
    uint64_t seq = 0;
    for (size_t i = 0; i < n; i++) {
        all_ok = all_ok && ctl_reply_code(r[i]) == QC_OK;
        seq = r[i]->seq > seq ? r[i]->seq : seq;
    }
    ctl_out *o = ctl_o(e);
    ctl_out_begin(o);
    if (o->json)
        ctl_bulk_json(o, ids, r, n, all_ok);
    else
        ctl_bulk_human(o, ids, r, n, op);
    ctl_out_u64(o, "seq", seq);
    ctl_out_end(o);
    return all_ok ? CTL_EXIT_OK : CTL_EXIT_SERVER;
}

/* Several ids: frames of up to BATCH_OPS_MAX, then one summary. */
static int ctl_bulk_many(ctl_env *e, const uint64_t *ids, size_t n,
                         Quotad__Request__OpCase op)
{
    ctl_bulk *b = malloc(sizeof *b);
    Quotad__Reply **r = calloc(n, sizeof *r);
    int code = CTL_EXIT_OK;
    if (b == NULL || r == NULL) {
        fprintf(stderr, "error: out of memory\n");
        code = CTL_EXIT_TRANSPORT;
    }
    for (size_t off = 0; code == CTL_EXIT_OK && off < n;
         off += BATCH_OPS_MAX) {
        size_t m = n - off < BATCH_OPS_MAX ? n - off : BATCH_OPS_MAX;
        code = ctl_bulk_frame(e, b, ids + off, m, op, r + off);
    }
    if (code == CTL_EXIT_OK)
        code = ctl_bulk_print(e, ids, r, n, op);
    for (size_t i = 0; r != NULL && i < n; i++)
        if (r[i])
            qc_reply_free(r[i]);
    free(r);
    free(b);
    return code;
}

int ctl_key_lifecycle(ctl_env *e, ctl_args *a, Quotad__Request__OpCase op)
{
    uint64_t *ids = NULL;
    size_t n = 0;
    int code = CTL_EXIT_USAGE;
    if (ctl_bulk_ids(a, &ids, &n) == 0)
        code = ctl_conn(e);
    if (code == CTL_EXIT_OK)
        code = n == 1 ? ctl_bulk_one(e, ids[0], op)
                      : ctl_bulk_many(e, ids, n, op);
    free(ids);
    return code;
}
