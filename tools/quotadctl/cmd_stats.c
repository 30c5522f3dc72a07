/* cmd_stats -- `quotadctl stats [--reset-latency]`: the daemon's counters
 * and request-latency percentiles (root only); --reset-latency empties the
 * latency histogram after reading it. */
#include "ctl.h"

int ctl_cmd_stats(ctl_env *e, ctl_args *a)
{
    ctl_tok t;
    int s;
    bool reset = false;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        if (ctl_flag_is(&t, "reset-latency")) {
            if (!ctl_flag_noval(a, &t))
                return CTL_EXIT_USAGE;
            reset = true;
            continue;
        }
        ctl_unknown_flag(a, &t);
        return CTL_EXIT_USAGE;
    }
    if (s == CTL_SCAN_ERROR)
        return CTL_EXIT_USAGE;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    code = ctl_result(e, qc_stats(e->conn, reset, &r), r);
    if (code == CTL_EXIT_OK)
        code = ctl_expect(e, r, QUOTAD__REPLY__RESULT_STATS);
    if (code != CTL_EXIT_OK)
        return ctl_done(r, code);
    ctl_out *o = ctl_o(e);
    ctl_out_begin(o);
    if (o->json)
        ctl_out_bool(o, "ok", true);
    for (size_t i = 0; i < r->stats->n_stats; i++)
        ctl_out_i64(o, r->stats->stats[i]->name, r->stats->stats[i]->value);
    ctl_out_end(o);
    return ctl_done(r, CTL_EXIT_OK);
}
