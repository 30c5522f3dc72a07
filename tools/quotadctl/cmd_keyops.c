/* cmd_keyops.c -- key commands without limit flags:
 *   key get KEY_ID
 *   key list --ws WS_ID [--status S] [--group G] [--name-prefix P]
 *            [--after KEY_ID] [--limit N] [--all]
 *   key enable|disable|revoke|delete KEY_ID [KEY_ID...]
 *   key rotate KEY_ID [--grace SECONDS | --grace-ms MS]
 * Several ids for enable/disable/revoke/delete go out as one batched
 * frame (qc_call_batch; BATCH_OPS_MAX ids per frame).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/limits.h"
#include "ctl.h"

/* Scan exactly one KEY_ID positional and nothing else. */
static int ctl_one_id(ctl_args *a, uint64_t *id)
{
    const char *pos[1];
    int n = 0, s;
    ctl_tok t;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN)
        if (ctl_take_pos(a, &t, pos, 1, &n) != 0)
            return -1;
    if (s == CTL_SCAN_ERROR || ctl_need_pos(a, n, 1, "KEY_ID") != 0)
        return -1;
    return ctl_parse_id(a, "KEY_ID", pos[0], id);
}

int ctl_key_get(ctl_env *e, ctl_args *a)
{
    uint64_t id;
    if (ctl_one_id(a, &id) != 0)
        return CTL_EXIT_USAGE;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_get_key(e->conn, id, &r);
    return ctl_key_reply(e, rc, r, QUOTAD__REPLY__RESULT_KEY);
}

/* ---- list ---- */

typedef struct ctl_list_opts {
    Quotad__ListKeys lk;
    const char *ws;
    bool all;
} ctl_list_opts;

/* Growing array of list pages (each reply owns its keys). */
typedef struct ctl_pages {
    Quotad__Reply **r;
    size_t n, cap;
} ctl_pages;

static int ctl_parse_status(const ctl_args *a, const char *v,
                            Quotad__KeyStatus *st)
{
    static const struct {
        const char *name;
        Quotad__KeyStatus st;
    } map[] = {
        {"any", QUOTAD__KEY_STATUS__KEY_STATUS_ANY},
        {"enabled", QUOTAD__KEY_STATUS__ENABLED},
        {"disabled", QUOTAD__KEY_STATUS__DISABLED},
        {"revoked", QUOTAD__KEY_STATUS__REVOKED},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (strcmp(map[i].name, v) == 0) {
            *st = map[i].st;
            return 0;
        }
    }
    ctl_usage(a, "--status: '%s' is not enabled, disabled or revoked", v);
    return -1;
}

/* Flags with a value; returns 0 or -1 (usage printed). */
static int ctl_list_value(ctl_args *a, const ctl_tok *t, const char *v,
                          ctl_list_opts *l)
{
    Quotad__ListKeys *lk = &l->lk;
    if (ctl_flag_is(t, "ws")) {
        l->ws = v;
    } else if (ctl_flag_is(t, "status")) {
        lk->has_status = 1;
        return ctl_parse_status(a, v, &lk->status);
    } else if (ctl_flag_is(t, "group")) {
        lk->group = (char *)v;
    } else if (ctl_flag_is(t, "name-prefix")) {
        lk->name_prefix = (char *)v;
    } else if (ctl_flag_is(t, "after")) {
        lk->has_after_key_id = 1;
        return ctl_parse_id(a, "--after", v, &lk->after_key_id);
    } else {
        uint64_t n;
        if (ctl_parse_u64(a, "--limit", v, LIST_PAGE_MAX, &n) != 0)
            return -1;
        lk->has_limit = n > 0;
        lk->limit = (uint32_t)n;
    }
    return 0;
}

static int ctl_list_scan(ctl_args *a, ctl_list_opts *l)
{
    static const char *const valued[] = {"ws",          "status", "group",
                                         "name-prefix", "after",  "limit"};
    ctl_tok t;
    int s;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        if (ctl_flag_is(&t, "all")) {
            if (!ctl_flag_noval(a, &t))
                return -1;
            l->all = true;
            continue;
        }
        size_t i = 0;
        while (i < sizeof valued / sizeof *valued &&
               !ctl_flag_is(&t, valued[i]))
            i++;
        if (i == sizeof valued / sizeof *valued) {
            ctl_unknown_flag(a, &t);
            return -1;
        }
        const char *v = ctl_flag_value(a, &t);
        if (v == NULL || ctl_list_value(a, &t, v, l) != 0)
            return -1;
    }
    return s == CTL_SCAN_ERROR ? -1 : 0;
}

static int ctl_pages_push(ctl_pages *p, Quotad__Reply *r)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        Quotad__Reply **nr = realloc(p->r, cap * sizeof *nr);
        if (nr == NULL)
            return -1;
        p->r = nr;
        p->cap = cap;
    }
    p->r[p->n++] = r;
    return 0;
}

static void ctl_pages_free(ctl_pages *p)
{
    for (size_t i = 0; i < p->n; i++)
        qc_reply_free(p->r[i]);
    free(p->r);
}

/* Fetch one page, or all of them with --all. Returns an exit code. */
static int ctl_list_fetch(ctl_env *e, ctl_list_opts *l, ctl_pages *p)
{
    for (;;) {
        Quotad__Reply *r = NULL;
        int rc = qc_list_keys(e->conn, &l->lk, &r);
        int code = ctl_result(e, rc, r);
        if (code == CTL_EXIT_OK)
            code = ctl_expect(e, r, QUOTAD__REPLY__RESULT_KEY_LIST);
        if (code != CTL_EXIT_OK)
            return ctl_done(r, code);
        if (ctl_pages_push(p, r) != 0) {
            fprintf(stderr, "error: out of memory\n");
            return ctl_done(r, CTL_EXIT_TRANSPORT);
        }
        uint64_t next = r->key_list->next_after_key_id;
        if (!l->all || next == 0)
            return CTL_EXIT_OK;
        if (l->lk.has_after_key_id && next <= l->lk.after_key_id) {
            fprintf(stderr, "error: protocol: list cursor did not advance\n");
            return CTL_EXIT_TRANSPORT;
        }
        l->lk.has_after_key_id = 1;
        l->lk.after_key_id = next;
    }
}

/* Human table over all pages (one set of column widths). */
static void ctl_list_table(FILE *f, const ctl_pages *p, size_t total)
{
    Quotad__KeyInfo **all = malloc((total ? total : 1) * sizeof *all);
    if (all == NULL) {   /* degrade: one table per page */
        for (size_t i = 0; i < p->n; i++)
            ctl_show_key_table(f, p->r[i]->key_list->keys,
                               p->r[i]->key_list->n_keys);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        for (size_t k = 0; k < p->r[i]->key_list->n_keys; k++)
            all[n++] = p->r[i]->key_list->keys[k];
    ctl_show_key_table(f, all, n);
    free(all);
}

/* Print all pages: one table (human) or one object (JSON). */
static void ctl_list_print(ctl_env *e, const ctl_pages *p)
{
    ctl_out *o = ctl_o(e);
    const Quotad__Reply *last = p->r[p->n - 1];
    uint64_t next = last->key_list->next_after_key_id;
    size_t total = 0;
    ctl_show_begin(o);
    ctl_out_arr_begin(o, "keys");
    for (size_t i = 0; i < p->n; i++) {
        const Quotad__KeyList *kl = p->r[i]->key_list;
        total += kl->n_keys;
        if (o->json)
            for (size_t k = 0; k < kl->n_keys; k++)
                ctl_show_key(o, kl->keys[k]);
    }
    ctl_out_arr_end(o);
    if (!o->json)
        ctl_list_table(o->f, p, total);
    ctl_out_u64(o, "count", total);
    ctl_out_u64(o, "next_after_key_id", next);
    ctl_show_end(o, last);
}

int ctl_key_list(ctl_env *e, ctl_args *a)
{
    ctl_list_opts l;
    static const Quotad__ListKeys lk0 = QUOTAD__LIST_KEYS__INIT;
    memset(&l, 0, sizeof l);
    l.lk = lk0;
    if (ctl_list_scan(a, &l) != 0)
        return CTL_EXIT_USAGE;
    if (l.ws == NULL)
        return ctl_usage(a, "--ws is required");
    if (ctl_parse_ws_id(a, l.ws, &l.lk.workspace_id) != 0)
        return CTL_EXIT_USAGE;
    l.lk.has_workspace_id = 1;
    if (l.all && !l.lk.has_limit) {
        l.lk.has_limit = 1;
        l.lk.limit = LIST_PAGE_MAX;
    }
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    ctl_pages p = {0};
    code = ctl_list_fetch(e, &l, &p);
    if (code == CTL_EXIT_OK)
        ctl_list_print(e, &p);
    ctl_pages_free(&p);
    return code;
}

/* ---- rotate ---- */

/* --grace SECONDS or --grace-ms MS (one of them), within the server's
 * ROTATE_GRACE_MS_MAX so the mistake is caught before connecting. */
static int ctl_rotate_grace(ctl_args *a, const ctl_tok *t, bool *set,
                            int64_t *ms)
{
    bool secs = ctl_flag_is(t, "grace");
    const char *v = ctl_flag_value(a, t);
    if (v == NULL)
        return -1;
    if (*set) {
        ctl_usage(a, "give one of --grace, --grace-ms");
        return -1;
    }
    uint64_t max = (uint64_t)ROTATE_GRACE_MS_MAX, g;
    if (ctl_parse_u64(a, secs ? "--grace" : "--grace-ms", v,
                      secs ? max / CTL_MS_PER_SEC : max, &g) != 0)
        return -1;
    *set = true;
    *ms = (int64_t)g * (secs ? CTL_MS_PER_SEC : 1);
    return 0;
}

int ctl_key_rotate(ctl_env *e, ctl_args *a)
{
    const char *pos[1];
    int n = 0, s;
    int64_t grace_ms = 0;
    bool grace_set = false;
    ctl_tok t;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        int rc = (ctl_flag_is(&t, "grace") || ctl_flag_is(&t, "grace-ms"))
                     ? ctl_rotate_grace(a, &t, &grace_set, &grace_ms)
                     : ctl_take_pos(a, &t, pos, 1, &n);
        if (rc != 0)
            return CTL_EXIT_USAGE;
    }
    uint64_t id;
    if (s == CTL_SCAN_ERROR || ctl_need_pos(a, n, 1, "KEY_ID") != 0 ||
        ctl_parse_id(a, "KEY_ID", pos[0], &id) != 0)
        return CTL_EXIT_USAGE;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_rotate_key(e->conn, id, grace_ms, &r);
    return ctl_key_reply(e, rc, r, QUOTAD__REPLY__RESULT_KEY_SECRET);
}
