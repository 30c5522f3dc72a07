/* cmd_usage.c -- usage per UTC day of a key or a workspace:
 *   usage (--key KEY_ID | --ws WS_ID) [--from YYYY-MM-DD] [--to YYYY-MM-DD]
 * Human output is a table, one row per day (requests, allowed, tokens,
 * spend in units, then each non-zero denied count by decision name);
 * --json prints one object with a "days" array (money in micro).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

#define CTL_DATE_CHARS 10          /* "YYYY-MM-DD" */
#define CTL_DATE_BUF 64            /* any int64 day prints in full */
#define CTL_YEAR_MIN 1970
#define CTL_YEAR_MAX 9999
#define CTL_MONTHS 12
#define CTL_DAYS_PER_ERA 146097    /* 400 Gregorian years */
#define CTL_YEARS_PER_ERA 400
#define CTL_DAYS_TO_1970 719468    /* 0000-03-01 .. 1970-01-01 */
#define CTL_DECISIONS_MAX 12       /* quotad.Decision 0..11 */

typedef struct ctl_usage_opts {
    const char *key, *ws, *from, *to;
    uint64_t key_id;
    uint32_t ws_id;
    int64_t from_day, to_day;
} ctl_usage_opts;

static bool ctl_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int ctl_month_days(int64_t y, int m)
{
    static const int days[CTL_MONTHS] = {31, 28, 31, 30, 31, 30,
                                         31, 31, 30, 31, 30, 31};
    return m == 2 && ctl_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a valid civil date (Hinnant's algorithm). */
static int64_t ctl_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = y / CTL_YEARS_PER_ERA;
    int64_t yoe = y - era * CTL_YEARS_PER_ERA;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * CTL_DAYS_PER_ERA + doe - CTL_DAYS_TO_1970;
}

/* "YYYY-MM-DD" of a day index (inverse of the above). */
static char *ctl_civil_from_days(int64_t z, char buf[CTL_DATE_BUF])
{
    z += CTL_DAYS_TO_1970;
    int64_t era = z / CTL_DAYS_PER_ERA;
    int64_t doe = z - era * CTL_DAYS_PER_ERA;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * CTL_YEARS_PER_ERA + (m <= 2);
    snprintf(buf, CTL_DATE_BUF, "%04" PRId64 "-%02" PRId64 "-%02" PRId64, y,
             m, d);
    return buf;
}

/* Strict YYYY-MM-DD (digits, real calendar date, year 1970..9999). */
static int ctl_parse_date(const ctl_args *a, const char *what, const char *s,
                          int64_t *day)
{
    int y = 0, m = 0, d = 0, n = 0;
    bool shape = strlen(s) == CTL_DATE_CHARS && s[4] == '-' && s[7] == '-';
    for (int i = 0; shape && i < CTL_DATE_CHARS; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            shape = false;
    if (shape && sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 &&
        n == CTL_DATE_CHARS && y >= CTL_YEAR_MIN && y <= CTL_YEAR_MAX &&
        m >= 1 && m <= CTL_MONTHS && d >= 1 && d <= ctl_month_days(y, m)) {
        *day = ctl_days_from_civil(y, m, d);
        return 0;
    }
    ctl_usage(a, "%s: '%s' is not a date YYYY-MM-DD", what, s);
    return -1;
}

static int ctl_usage_scan(ctl_args *a, ctl_usage_opts *u)
{
    ctl_tok t;
    int s;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        const char **dst = ctl_flag_is(&t, "key")    ? &u->key
                           : ctl_flag_is(&t, "ws")   ? &u->ws
                           : ctl_flag_is(&t, "from") ? &u->from
                           : ctl_flag_is(&t, "to")   ? &u->to
                                                     : NULL;
        if (dst == NULL) {
            ctl_unknown_flag(a, &t);
            return -1;
        }
        if ((*dst = ctl_flag_value(a, &t)) == NULL)
            return -1;
    }
    return s == CTL_SCAN_ERROR ? -1 : 0;
}

/* Parse and cross-check the collected words. */
static int ctl_usage_parse(const ctl_args *a, ctl_usage_opts *u)
{
    if ((u->key == NULL) == (u->ws == NULL)) {
        ctl_usage(a, "give one of --key KEY_ID or --ws WS_ID");
        return -1;
    }
    if (u->key && ctl_parse_id(a, "--key", u->key, &u->key_id) != 0)
        return -1;
    if (u->ws && ctl_parse_ws_id(a, u->ws, &u->ws_id) != 0)
        return -1;
    if (u->from && ctl_parse_date(a, "--from", u->from, &u->from_day) != 0)
        return -1;
    if (u->to && ctl_parse_date(a, "--to", u->to, &u->to_day) != 0)
        return -1;
    if (u->to && u->to_day < u->from_day) {
        ctl_usage(a, "--to is before --from");
        return -1;
    }
    return 0;
}

/* One JSON day object; denied codes by name, only the non-zero ones. */
static void ctl_usage_json_day(ctl_out *o, const Quotad__UsageDay *d)
{
    char date[CTL_DATE_BUF];
    ctl_out_obj_begin(o, NULL);
    ctl_out_str(o, "day", ctl_civil_from_days(d->day, date));
    ctl_out_i64(o, "day_index", d->day);
    ctl_out_i64(o, "requests", d->requests);
    ctl_out_i64(o, "allowed", d->allowed);
    ctl_out_obj_begin(o, "denied");
    for (size_t i = 1; i < d->n_denied && i < CTL_DECISIONS_MAX; i++)
        if (d->denied[i] != 0)
            ctl_out_i64(o, qc_decision_str((int)i), d->denied[i]);
    ctl_out_obj_end(o);
    ctl_out_i64(o, "tokens", d->tokens);
    ctl_out_money(o, "spend", d->spend);
    ctl_out_obj_end(o);
}

/* One table row; the DENIED column lists "name=count" pairs. */
static void ctl_usage_human_day(FILE *f, const Quotad__UsageDay *d)
{
    char date[CTL_DATE_BUF], spend[CTL_AMOUNT_BUF];
    fprintf(f, "%-10s  %10" PRId64 "  %10" PRId64 "  %12" PRId64 "  %20s  ",
            ctl_civil_from_days(d->day, date), d->requests, d->allowed,
            d->tokens, ctl_amount_format(d->spend, spend));
    int shown = 0;
    for (size_t i = 1; i < d->n_denied && i < CTL_DECISIONS_MAX; i++)
        if (d->denied[i] != 0)
            fprintf(f, "%s%s=%" PRId64, shown++ ? " " : "",
                    qc_decision_str((int)i), d->denied[i]);
    fputs(shown ? "\n" : "-\n", f);
}

static void ctl_usage_show(ctl_out *o, const Quotad__Reply *r)
{
    const Quotad__UsageReply *u = r->usage;
    ctl_show_begin(o);
    if (!o->json) {
        if (u->key_id != 0)
            fprintf(o->f, "usage of key %" PRIu64 " (workspace %u)\n",
                    u->key_id, u->workspace_id);
        else
            fprintf(o->f, "usage of workspace %u\n", u->workspace_id);
        fprintf(o->f, "%-10s  %10s  %10s  %12s  %20s  %s\n", "DAY",
                "REQUESTS", "ALLOWED", "TOKENS", "SPEND", "DENIED");
        for (size_t i = 0; i < u->n_days; i++)
            ctl_usage_human_day(o->f, u->days[i]);
        ctl_out_end(o);
        return;
    }
    ctl_out_u64(o, "key_id", u->key_id);
    ctl_out_u64(o, "workspace_id", u->workspace_id);
    ctl_out_arr_begin(o, "days");
    for (size_t i = 0; i < u->n_days; i++)
        ctl_usage_json_day(o, u->days[i]);
    ctl_out_arr_end(o);
    ctl_show_end(o, r);
}

int ctl_cmd_usage(ctl_env *e, ctl_args *a)
{
    ctl_usage_opts u;
    memset(&u, 0, sizeof u);
    if (ctl_usage_scan(a, &u) != 0 || ctl_usage_parse(a, &u) != 0)
        return CTL_EXIT_USAGE;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_usage(e->conn, u.key_id, u.ws_id, u.from_day, u.to_day, &r);
    code = ctl_result(e, rc, r);
    if (code == CTL_EXIT_OK)
        code = ctl_expect(e, r, QUOTAD__REPLY__RESULT_USAGE);
    if (code == CTL_EXIT_OK)
        ctl_usage_show(ctl_o(e), r);
    return ctl_done(r, code);
}
