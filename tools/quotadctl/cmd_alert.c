/* cmd_alert.c -- alert rules and the event stream:
 *   alert set   --ws WS_ID [--key KEY_ID] --kind KIND --threshold VALUE
 *   alert clear --ws WS_ID [--key KEY_ID] --kind KIND
 *   watch [--ws WS_ID] [--count N] [--timeout SECONDS]
 * KIND: spend-day | spend-week | wallet-below (money, parsed like every
 * amount) | quota-below-pct (an integer percent 0..100). --ws may be left
 * out when --key is given (a key id carries its workspace).
 * watch prints each event as one line (human) or one JSON object per line
 * and exits 0 after N events or when SECONDS pass without reaching N.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../../server/limits.h"
#include "ctl.h"

#define CTL_PCT_MAX 100u
#define CTL_WATCH_SLICE_MS 60000u   /* one wait when no --timeout */
#define CTL_KEY_WS_SHIFT 32         /* key id = workspace << 32 | seq */

typedef struct ctl_alert_kind_entry {
    const char *name;
    Quotad__AlertKind kind;
} ctl_alert_kind_entry;

static const ctl_alert_kind_entry ctl_kinds[] = {
    {"spend-day", QUOTAD__ALERT_KIND__ALERT_SPEND_DAY},
    {"spend-week", QUOTAD__ALERT_KIND__ALERT_SPEND_WEEK},
    {"wallet-below", QUOTAD__ALERT_KIND__ALERT_WALLET_BELOW},
    {"quota-below-pct", QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT},
};

static const char *ctl_alert_kind_str(int kind)
{
    for (size_t i = 0; i < sizeof ctl_kinds / sizeof *ctl_kinds; i++)
        if ((int)ctl_kinds[i].kind == kind)
            return ctl_kinds[i].name;
    return "none";
}

/* Money thresholds print as amounts; the percent one as a number. */
static void ctl_alert_threshold(ctl_out *o, const char *name, int kind,
                                int64_t v)
{
    if (kind == QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT)
        ctl_out_i64(o, name, v);
    else
        ctl_out_money(o, name, v);
}

/* ---- alert set / clear ---- */

typedef struct ctl_alert_opts {
    const char *ws, *key, *kind, *threshold;
    uint32_t ws_id;
    uint64_t key_id;
    Quotad__AlertKind k;
    int64_t value;
} ctl_alert_opts;

static int ctl_alert_scan(ctl_args *a, ctl_alert_opts *o, bool set)
{
    ctl_tok t;
    int s;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        const char **dst = ctl_flag_is(&t, "ws")     ? &o->ws
                           : ctl_flag_is(&t, "key")  ? &o->key
                           : ctl_flag_is(&t, "kind") ? &o->kind
                           : set && ctl_flag_is(&t, "threshold")
                               ? &o->threshold
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

static int ctl_alert_kind(const ctl_args *a, ctl_alert_opts *o)
{
    for (size_t i = 0; i < sizeof ctl_kinds / sizeof *ctl_kinds; i++) {
        if (strcmp(o->kind, ctl_kinds[i].name) == 0) {
            o->k = ctl_kinds[i].kind;
            return 0;
        }
    }
    ctl_usage(a, "--kind: '%s' is not spend-day, spend-week, wallet-below "
                 "or quota-below-pct", o->kind);
    return -1;
}

static int ctl_alert_value(const ctl_args *a, ctl_alert_opts *o)
{
    if (o->k == QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT) {
        uint64_t pct;
        if (ctl_parse_u64(a, "--threshold", o->threshold, CTL_PCT_MAX,
                          &pct) != 0)
            return -1;
        o->value = (int64_t)pct;
        return 0;
    }
    return ctl_parse_amount(a, "--threshold", o->threshold, 0,
                            AMOUNT_MICRO_MAX, &o->value);
}

/* Check the collected words; fills ids, kind and value. */
static int ctl_alert_parse(const ctl_args *a, ctl_alert_opts *o, bool set)
{
    if ((o->ws == NULL && o->key == NULL) || o->kind == NULL ||
        (set && o->threshold == NULL)) {
        ctl_usage(a, set ? "--ws (or --key), --kind and --threshold are "
                           "required"
                         : "--ws (or --key) and --kind are required");
        return -1;
    }
    if (o->key && ctl_parse_id(a, "--key", o->key, &o->key_id) != 0)
        return -1;
    if (o->ws && ctl_parse_ws_id(a, o->ws, &o->ws_id) != 0)
        return -1;
    if (o->ws == NULL)
        o->ws_id = (uint32_t)(o->key_id >> CTL_KEY_WS_SHIFT);
    if (ctl_alert_kind(a, o) != 0)
        return -1;
    return set ? ctl_alert_value(a, o) : 0;
}

static void ctl_alert_show(ctl_out *o, const ctl_alert_opts *ao,
                           const Quotad__Reply *r)
{
    const Quotad__AlertList *l = r->alerts;
    ctl_show_begin(o);
    ctl_out_u64(o, "workspace_id", ao->ws_id);
    ctl_out_u64(o, "key_id", ao->key_id);
    ctl_out_arr_begin(o, "rules");
    for (size_t i = 0; i < l->n_rules; i++) {
        const Quotad__AlertRule *rule = l->rules[i];
        ctl_out_obj_begin(o, NULL);
        ctl_out_str(o, "kind", ctl_alert_kind_str((int)rule->kind));
        ctl_alert_threshold(o, "threshold", (int)rule->kind,
                            rule->threshold);
        ctl_out_obj_end(o);
    }
    ctl_out_arr_end(o);
    if (!o->json && l->n_rules == 0)
        fputs("rules:               (none)\n", o->f);
    ctl_show_end(o, r);
}

static int ctl_alert_run(ctl_env *e, ctl_args *a, bool set)
{
    ctl_alert_opts o;
    memset(&o, 0, sizeof o);
    if (ctl_alert_scan(a, &o, set) != 0 || ctl_alert_parse(a, &o, set) != 0)
        return CTL_EXIT_USAGE;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_set_alert(e->conn, o.ws_id, o.key_id, o.k, o.value, !set,
                          &r);
    code = ctl_result(e, rc, r);
    if (code == CTL_EXIT_OK)
        code = ctl_expect(e, r, QUOTAD__REPLY__RESULT_ALERTS);
    if (code == CTL_EXIT_OK)
        ctl_alert_show(ctl_o(e), &o, r);
    return ctl_done(r, code);
}

static int ctl_alert_set(ctl_env *e, ctl_args *a)
{
    return ctl_alert_run(e, a, true);
}

static int ctl_alert_clear(ctl_env *e, ctl_args *a)
{
    return ctl_alert_run(e, a, false);
}

int ctl_cmd_alert(ctl_env *e, ctl_args *a)
{
    static const ctl_cmd subs[] = {
        {"set", ctl_alert_set},
        {"clear", ctl_alert_clear},
    };
    return ctl_dispatch(e, a, subs, sizeof subs / sizeof *subs);
}

/* ---- watch ---- */

typedef struct ctl_watch_opts {
    uint32_t ws_id;
    uint64_t count;        /* 0 = unbounded */
    uint64_t timeout_s;    /* 0 = none */
} ctl_watch_opts;

static int ctl_watch_word(ctl_args *a, const ctl_tok *t, ctl_watch_opts *w)
{
    bool ws = ctl_flag_is(t, "ws"), count = ctl_flag_is(t, "count");
    if (!ws && !count && !ctl_flag_is(t, "timeout")) {
        ctl_unknown_flag(a, t);
        return -1;
    }
    const char *v = ctl_flag_value(a, t);
    if (v == NULL)
        return -1;
    if (ws)
        return ctl_parse_ws_id(a, v, &w->ws_id);
    uint64_t *dst = count ? &w->count : &w->timeout_s;
    if (ctl_parse_u64(a, count ? "--count" : "--timeout", v, UINT32_MAX,
                      dst) != 0)
        return -1;
    if (*dst == 0) {
        ctl_usage(a, "%s must be > 0", count ? "--count" : "--timeout");
        return -1;
    }
    return 0;
}

/* One event: a line "alert seq=... kind=..." or one JSON object. */
static void ctl_watch_print(ctl_out *o, const Quotad__AlertEvent *ev)
{
    int kind = (int)ev->kind;
    if (o->json) {
        ctl_out_begin(o);
        ctl_out_u64(o, "event_seq", ev->event_seq);
        ctl_out_u64(o, "workspace_id", ev->workspace_id);
        ctl_out_u64(o, "key_id", ev->key_id);
        ctl_out_str(o, "kind", ctl_alert_kind_str(kind));
        ctl_out_i64(o, "threshold", ev->threshold);
        ctl_out_i64(o, "value", ev->value);
        ctl_out_i64(o, "window", ev->window);
        ctl_out_i64(o, "at_ms", ev->at_ms);
        ctl_out_u64(o, "dropped", ev->dropped);
        ctl_out_end(o);
        return;
    }
    char thr[CTL_AMOUNT_BUF], val[CTL_AMOUNT_BUF], at[CTL_TIME_BUF];
    if (kind == QUOTAD__ALERT_KIND__ALERT_QUOTA_BELOW_PCT)
        snprintf(thr, sizeof thr, "%" PRId64 "%%", ev->threshold);
    else
        ctl_amount_format(ev->threshold, thr);
    fprintf(o->f,
            "alert seq=%" PRIu64 " ws=%u key=%" PRIu64 " kind=%s "
            "threshold=%s value=%s window=%" PRId64 " at=%s dropped=%" PRIu64
            "\n",
            ev->event_seq, ev->workspace_id, ev->key_id,
            ctl_alert_kind_str(kind), thr,
            ctl_amount_format(ev->value, val), ev->window,
            ctl_fmt_time(ev->at_ms, at), ev->dropped);
    fflush(o->f);
}

/* Wait for events until count is reached or the deadline passes. */
static int ctl_watch_loop(ctl_env *e, const ctl_watch_opts *w)
{
    int64_t deadline = w->timeout_s
                           ? ctl_now_ms() +
                                 (int64_t)w->timeout_s * CTL_MS_PER_SEC
                           : 0;
    for (uint64_t seen = 0; w->count == 0 || seen < w->count;) {
        int64_t left = deadline ? deadline - ctl_now_ms()
                                : (int64_t)CTL_WATCH_SLICE_MS;
        if (left <= 0)
            return CTL_EXIT_OK;
        if (left > (int64_t)CTL_WATCH_SLICE_MS)
            left = CTL_WATCH_SLICE_MS;
        Quotad__Reply *ev = NULL;
        int rc = qc_watch_next(e->conn, &ev, (uint32_t)left);
        if (rc == QC_ERR_TIMEOUT)
            continue;
        if (rc != QC_OK)
            return ctl_result(e, rc, NULL);
        ctl_watch_print(ctl_o(e), ev->alert);
        qc_reply_free(ev);
        seen++;
    }
    return CTL_EXIT_OK;
}

int ctl_cmd_watch(ctl_env *e, ctl_args *a)
{
    ctl_watch_opts w;
    memset(&w, 0, sizeof w);
    a->own_timeout = true;   /* --timeout here is the watch's, seconds */
    ctl_tok t;
    int s;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN)
        if (ctl_watch_word(a, &t, &w) != 0)
            return CTL_EXIT_USAGE;
    if (s == CTL_SCAN_ERROR)
        return CTL_EXIT_USAGE;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_watch_start(e->conn, w.ws_id, &r);
    code = ctl_result(e, rc, r);
    qc_reply_free(r);
    if (code != CTL_EXIT_OK)
        return code;
    /* On stderr, so stdout stays one event per line; scripts may wait
     * for it to know the subscription is in place. */
    if (w.ws_id != 0)
        fprintf(stderr, "watching workspace %u\n", w.ws_id);
    else
        fprintf(stderr, "watching every workspace in scope\n");
    return ctl_watch_loop(e, &w);
}
