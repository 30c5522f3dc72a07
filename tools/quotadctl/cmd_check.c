/* cmd_check.c -- the gateway path, for operators and scripts:
 *   check SECRET [--model M] [--ip IP] [--amount AMT] [--amount-min AMT]
 *         [--tokens N] [--hold] [--hold-timeout MS] [--idem ID]
 *   settle HOLD_ID AMT [--tokens N] [--idem ID]
 *   void HOLD_ID
 * Requests are built field by field (absent flags stay absent on the
 * wire) and sent with qc_call. A denied check exits 4.
 */
#include <string.h>

#include "../../server/limits.h"
#include "ctl.h"

#define CTL_SETTLE_POS 2   /* HOLD_ID AMT */

/* String flags of check; returns 1 handled, 0 not, -1 error. */
static int ctl_check_str(ctl_args *a, const ctl_tok *t, Quotad__Check *ck)
{
    char **dst = ctl_flag_is(t, "model")  ? &ck->model
                 : ctl_flag_is(t, "ip")   ? &ck->client_ip
                 : ctl_flag_is(t, "idem") ? &ck->idempotency_id
                                          : NULL;
    if (dst == NULL)
        return 0;
    const char *v = ctl_flag_value(a, t);
    *dst = (char *)v;
    return v ? 1 : -1;
}

/* Numeric flags and --hold; returns 1 handled, 0 not, -1 error. */
static int ctl_check_num(ctl_args *a, const ctl_tok *t, Quotad__Check *ck)
{
    if (ctl_flag_is(t, "hold")) {
        ck->has_hold = ck->hold = 1;
        return ctl_flag_noval(a, t) ? 1 : -1;
    }
    bool amt = ctl_flag_is(t, "amount"), min = ctl_flag_is(t, "amount-min");
    bool tok = ctl_flag_is(t, "tokens"), tmo = ctl_flag_is(t, "hold-timeout");
    if (!amt && !min && !tok && !tmo)
        return 0;
    const char *v = ctl_flag_value(a, t);
    if (v == NULL)
        return -1;
    int rc;
    uint64_t n = 0;
    if (amt)
        rc = ctl_parse_amount(a, "--amount", v, 0, AMOUNT_MICRO_MAX,
                              &ck->amount);
    else if (min)
        rc = ctl_parse_amount(a, "--amount-min", v, 0, AMOUNT_MICRO_MAX,
                              &ck->amount_min);
    else
        rc = ctl_parse_u64(a, tok ? "--tokens" : "--hold-timeout", v,
                           tok ? (uint64_t)TOKENS_MAX : HOLD_TIMEOUT_MS_MAX,
                           &n);
    ck->has_amount |= amt;
    ck->has_amount_min |= min;
    ck->has_tokens |= tok;
    ck->has_hold_timeout_ms |= tmo;
    if (tok)
        ck->tokens = (int64_t)n;
    if (tmo)
        ck->hold_timeout_ms = (uint32_t)n;
    return rc == 0 ? 1 : -1;
}

static int ctl_check_scan(ctl_args *a, Quotad__Check *ck)
{
    const char *pos[1];
    int n = 0, s;
    ctl_tok t;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        int r = t.flag ? ctl_check_str(a, &t, ck) : 0;
        if (r == 0 && t.flag)
            r = ctl_check_num(a, &t, ck);
        if (r == 0)
            r = ctl_take_pos(a, &t, pos, 1, &n) == 0 ? 1 : -1;
        if (r < 0)
            return -1;
    }
    if (s == CTL_SCAN_ERROR || ctl_need_pos(a, n, 1, "SECRET") != 0)
        return -1;
    ck->secret = (char *)pos[0];
    return 0;
}

/* Rules the server would also reject, caught before connecting. */
static int ctl_check_validate(const ctl_args *a, const Quotad__Check *ck)
{
    if ((ck->has_amount_min || ck->has_hold_timeout_ms) && !ck->hold)
        return ctl_usage(a, "--amount-min and --hold-timeout need --hold");
    if (ck->has_amount_min && ck->amount_min > ck->amount)
        return ctl_usage(a, "--amount-min must not exceed --amount");
    if (ck->has_hold_timeout_ms && ck->hold_timeout_ms == 0)
        return ctl_usage(a, "--hold-timeout must be > 0");
    return CTL_EXIT_OK;
}

/* Check the reply type, print it through `show`, free it. */
static int ctl_call_show(ctl_env *e, Quotad__Request *rq,
                         Quotad__Reply__ResultCase want)
{
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_call(e->conn, rq, &r);
    code = ctl_result(e, rc, r);
    if (code == CTL_EXIT_OK)
        code = ctl_expect(e, r, want);
    if (code != CTL_EXIT_OK)
        return ctl_done(r, code);
    ctl_out *o = ctl_o(e);
    ctl_show_begin(o);
    if (want == QUOTAD__REPLY__RESULT_CHECK) {
        ctl_show_check(o, r->check);
        if (r->check->decision != QUOTAD__DECISION__ALLOWED)
            code = CTL_EXIT_DENIED;
    } else {
        ctl_show_settle(o, r->settle);
    }
    ctl_show_end(o, r);
    return ctl_done(r, code);
}

int ctl_cmd_check(ctl_env *e, ctl_args *a)
{
    Quotad__Check ck = QUOTAD__CHECK__INIT;
    if (ctl_check_scan(a, &ck) != 0)
        return CTL_EXIT_USAGE;
    int code = ctl_check_validate(a, &ck);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CHECK;
    rq.check = &ck;
    return ctl_call_show(e, &rq, QUOTAD__REPLY__RESULT_CHECK);
}

/* settle flags: --tokens N, --idem ID. Returns 0 or -1. */
static int ctl_settle_flag(ctl_args *a, const ctl_tok *t, Quotad__Settle *st)
{
    bool tok = ctl_flag_is(t, "tokens");
    if (!tok && !ctl_flag_is(t, "idem")) {
        ctl_unknown_flag(a, t);
        return -1;
    }
    const char *v = ctl_flag_value(a, t);
    if (v == NULL)
        return -1;
    if (!tok) {
        st->idempotency_id = (char *)v;
        return 0;
    }
    uint64_t n;
    if (ctl_parse_u64(a, "--tokens", v, (uint64_t)TOKENS_MAX, &n) != 0)
        return -1;
    st->has_tokens = 1;
    st->tokens = (int64_t)n;
    return 0;
}

int ctl_cmd_settle(ctl_env *e, ctl_args *a)
{
    Quotad__Settle st = QUOTAD__SETTLE__INIT;
    const char *pos[CTL_SETTLE_POS];
    int n = 0, s;
    ctl_tok t;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        int rc = t.flag ? ctl_settle_flag(a, &t, &st)
                        : ctl_take_pos(a, &t, pos, CTL_SETTLE_POS, &n);
        if (rc != 0)
            return CTL_EXIT_USAGE;
    }
    if (s == CTL_SCAN_ERROR ||
        ctl_need_pos(a, n, CTL_SETTLE_POS, "HOLD_ID AMT") != 0 ||
        ctl_parse_id(a, "HOLD_ID", pos[0], &st.hold_id) != 0 ||
        ctl_parse_amount(a, "AMT", pos[1], 0, AMOUNT_MICRO_MAX,
                         &st.amount) != 0)
        return CTL_EXIT_USAGE;
    st.has_hold_id = st.has_amount = 1;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_SETTLE;
    rq.settle = &st;
    return ctl_call_show(e, &rq, QUOTAD__REPLY__RESULT_SETTLE);
}

int ctl_cmd_void(ctl_env *e, ctl_args *a)
{
    Quotad__HoldRef hr = QUOTAD__HOLD_REF__INIT;
    const char *pos[1];
    int n = 0, s;
    ctl_tok t;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN)
        if (ctl_take_pos(a, &t, pos, 1, &n) != 0)
            return CTL_EXIT_USAGE;
    if (s == CTL_SCAN_ERROR || ctl_need_pos(a, n, 1, "HOLD_ID") != 0 ||
        ctl_parse_id(a, "HOLD_ID", pos[0], &hr.hold_id) != 0)
        return CTL_EXIT_USAGE;
    hr.has_hold_id = 1;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_VOID_HOLD;
    rq.void_hold = &hr;
    return ctl_call_show(e, &rq, QUOTAD__REPLY__RESULT_SETTLE);
}
