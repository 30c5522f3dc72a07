/* cmd_ws.c -- workspace and wallet commands:
 *   ws create --name N [--max-keys N] [--overdraft AMT] [--balance AMT]
 *   ws get WS_ID
 *   ws update WS_ID [--name N] [--max-keys N] [--overdraft AMT]
 *   wallet topup WS_ID AMT [--reason R] [--idem ID]
 *   wallet adjust WS_ID DELTA [--reason R] [--idem ID]
 */
#include <string.h>

#include "../../server/limits.h"
#include "ctl.h"

#define CTL_WS_POS_MAX 2   /* WS_ID and an amount at most */

/* Settings shared by create and update. */
typedef struct ctl_ws_opts {
    const char *name;
    bool has_max_keys, has_overdraft, has_balance;
    uint32_t max_keys;
    int64_t overdraft, balance;
    const char *pos[CTL_WS_POS_MAX];
    int npos;
} ctl_ws_opts;

/* Handle one word of ws create/update; allow_balance only for create.
 * Returns 0 or -1 (usage printed). */
static int ctl_ws_word(ctl_args *a, const ctl_tok *t, ctl_ws_opts *w,
                       bool allow_balance, int max_pos)
{
    if (t->flag == NULL)
        return ctl_take_pos(a, t, w->pos, max_pos, &w->npos);
    bool bal = allow_balance && ctl_flag_is(t, "balance");
    if (!ctl_flag_is(t, "name") && !ctl_flag_is(t, "max-keys") &&
        !ctl_flag_is(t, "overdraft") && !bal) {
        ctl_unknown_flag(a, t);
        return -1;
    }
    const char *v = ctl_flag_value(a, t);
    if (v == NULL)
        return -1;
    if (ctl_flag_is(t, "name")) {
        w->name = v;
        return 0;
    }
    if (ctl_flag_is(t, "max-keys")) {
        w->has_max_keys = true;
        return ctl_parse_u32(a, "--max-keys", v, &w->max_keys);
    }
    if (bal) {
        w->has_balance = true;
        return ctl_parse_amount(a, "--balance", v, 0, AMOUNT_MICRO_MAX,
                                &w->balance);
    }
    w->has_overdraft = true;
    return ctl_parse_amount(a, "--overdraft", v, 0, AMOUNT_MICRO_MAX,
                            &w->overdraft);
}

static int ctl_ws_scan(ctl_args *a, ctl_ws_opts *w, bool create)
{
    ctl_tok t;
    int s;
    memset(w, 0, sizeof *w);
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN)
        if (ctl_ws_word(a, &t, w, create, create ? 0 : 1) != 0)
            return -1;
    return s == CTL_SCAN_ERROR ? -1 : 0;
}

/* Print a workspace reply (create/get/update/wallet) after checking it. */
static int ctl_ws_reply(ctl_env *e, int rc, Quotad__Reply *r)
{
    int code = ctl_result(e, rc, r);
    if (code == CTL_EXIT_OK)
        code = ctl_expect(e, r, QUOTAD__REPLY__RESULT_WORKSPACE);
    if (code != CTL_EXIT_OK)
        return ctl_done(r, code);
    ctl_out *o = ctl_o(e);
    ctl_show_begin(o);
    ctl_show_workspace(o, r->workspace);
    ctl_show_end(o, r);
    return ctl_done(r, CTL_EXIT_OK);
}

static int ctl_ws_create(ctl_env *e, ctl_args *a)
{
    ctl_ws_opts w;
    if (ctl_ws_scan(a, &w, true) != 0)
        return CTL_EXIT_USAGE;
    if (w.name == NULL)
        return ctl_usage(a, "--name is required");
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_create_workspace(e->conn, w.name, w.max_keys, w.overdraft,
                                 w.balance, &r);
    return ctl_ws_reply(e, rc, r);
}

static int ctl_ws_get(ctl_env *e, ctl_args *a)
{
    ctl_ws_opts w;
    uint32_t id;
    memset(&w, 0, sizeof w);
    ctl_tok t;
    int s;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN)
        if (ctl_take_pos(a, &t, w.pos, 1, &w.npos) != 0)
            return CTL_EXIT_USAGE;
    if (s == CTL_SCAN_ERROR || ctl_need_pos(a, w.npos, 1, "WS_ID") != 0 ||
        ctl_parse_ws_id(a, w.pos[0], &id) != 0)
        return CTL_EXIT_USAGE;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_get_workspace(e->conn, id, &r);
    return ctl_ws_reply(e, rc, r);
}

static int ctl_ws_update(ctl_env *e, ctl_args *a)
{
    ctl_ws_opts w;
    Quotad__UpdateWorkspace uw = QUOTAD__UPDATE_WORKSPACE__INIT;
    if (ctl_ws_scan(a, &w, false) != 0 ||
        ctl_need_pos(a, w.npos, 1, "WS_ID") != 0 ||
        ctl_parse_ws_id(a, w.pos[0], &uw.workspace_id) != 0)
        return CTL_EXIT_USAGE;
    if (w.name == NULL && !w.has_max_keys && !w.has_overdraft)
        return ctl_usage(a, "nothing to update (--name, --max-keys, "
                            "--overdraft)");
    uw.has_workspace_id = true;
    uw.name = (char *)w.name;
    uw.has_max_keys = w.has_max_keys;
    uw.max_keys = w.max_keys;
    uw.has_overdraft_limit = w.has_overdraft;
    uw.overdraft_limit = w.overdraft;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_UPDATE_WORKSPACE;
    rq.update_workspace = &uw;
    Quotad__Reply *r = NULL;
    int rc = qc_call(e->conn, &rq, &r);
    return ctl_ws_reply(e, rc, r);
}

int ctl_cmd_ws(ctl_env *e, ctl_args *a)
{
    static const ctl_cmd subs[] = {
        {"create", ctl_ws_create},
        {"get", ctl_ws_get},
        {"update", ctl_ws_update},
    };
    return ctl_dispatch(e, a, subs, sizeof subs / sizeof *subs);
}

/* Arguments of wallet topup/adjust. */
typedef struct ctl_wallet_opts {
    const char *pos[CTL_WS_POS_MAX];
    int npos;
    const char *reason, *idem;
} ctl_wallet_opts;

static int ctl_wallet_scan(ctl_args *a, ctl_wallet_opts *w)
{
    ctl_tok t;
    int s;
    memset(w, 0, sizeof *w);
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        const char **dst = ctl_flag_is(&t, "reason") ? &w->reason
                           : ctl_flag_is(&t, "idem") ? &w->idem
                                                     : NULL;
        if (dst == NULL) {
            if (ctl_take_pos(a, &t, w->pos, CTL_WS_POS_MAX, &w->npos) != 0)
                return -1;
        } else if ((*dst = ctl_flag_value(a, &t)) == NULL) {
            return -1;
        }
    }
    if (s == CTL_SCAN_ERROR)
        return -1;
    return ctl_need_pos(a, w->npos, CTL_WS_POS_MAX, "WS_ID AMOUNT");
}

/* topup (min_delta 1: strictly positive) and adjust (any non-zero sign)
 * differ only in the allowed range of the amount. */
static int ctl_wallet_move(ctl_env *e, ctl_args *a, bool topup)
{
    ctl_wallet_opts w;
    uint32_t id;
    int64_t delta;
    if (ctl_wallet_scan(a, &w) != 0 || ctl_parse_ws_id(a, w.pos[0], &id) != 0 ||
        ctl_parse_amount(a, topup ? "AMT" : "DELTA", w.pos[1],
                         topup ? 1 : -AMOUNT_MICRO_MAX, AMOUNT_MICRO_MAX,
                         &delta) != 0)
        return CTL_EXIT_USAGE;
    if (delta == 0)
        return ctl_usage(a, "DELTA must not be 0");
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_adjust_wallet(e->conn, id, delta, w.reason, w.idem, &r);
    return ctl_ws_reply(e, rc, r);
}

static int ctl_wallet_topup(ctl_env *e, ctl_args *a)
{
    return ctl_wallet_move(e, a, true);
}

static int ctl_wallet_adjust(ctl_env *e, ctl_args *a)
{
    return ctl_wallet_move(e, a, false);
}

int ctl_cmd_wallet(ctl_env *e, ctl_args *a)
{
    static const ctl_cmd subs[] = {
        {"topup", ctl_wallet_topup},
        {"adjust", ctl_wallet_adjust},
    };
    return ctl_dispatch(e, a, subs, sizeof subs / sizeof *subs);
}
