/* show.c -- render quotad replies (workspace, key, check...) through the
 * out.h layer, so human and JSON output list the same fields. */
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

#define CTL_CELL_WIDTH_MAX 40   /* table columns grow up to this */
#define CTL_ID_BUF 24           /* a uint64 in decimal + NUL */
#define CTL_COL_GAP "  "        /* between table columns */

enum ctl_col {
    CTL_COL_ID,
    CTL_COL_NAME,
    CTL_COL_GROUP,
    CTL_COL_STATUS,
    CTL_COL_MASKED,
    CTL_COL_QUOTA,
    CTL_COL_CREATED,
    CTL_COL_COUNT
};

static const char *const ctl_col_titles[CTL_COL_COUNT] = {
    "ID", "NAME", "GROUP", "STATUS", "MASKED", "QUOTA REMAINING", "CREATED",
};

const char *ctl_status_name(int status)
{
    switch (status) {
    case QUOTAD__KEY_STATUS__ENABLED:
        return "enabled";
    case QUOTAD__KEY_STATUS__DISABLED:
        return "disabled";
    case QUOTAD__KEY_STATUS__REVOKED:
        return "revoked";
    default:
        return "any";
    }
}

const char *ctl_kind_name(int kind)
{
    return kind == QUOTAD__KEY_KIND__ADMIN ? "admin" : "standard";
}

const char *ctl_role_name(int role)
{
    switch (role) {
    case QUOTAD__ROLE__ROLE_GATEWAY:
        return "gateway";
    case QUOTAD__ROLE__ROLE_MEMBER:
        return "member";
    case QUOTAD__ROLE__ROLE_ADMIN:
        return "admin";
    case QUOTAD__ROLE__ROLE_OWNER:
        return "owner";
    case QUOTAD__ROLE__ROLE_ROOT:
        return "root";
    default:
        return "none";
    }
}

void ctl_show_workspace(ctl_out *o, const Quotad__WorkspaceInfo *w)
{
    ctl_out_obj_begin(o, "workspace");
    ctl_out_u64(o, "workspace_id", w->workspace_id);
    ctl_out_str(o, "name", w->name);
    ctl_out_money(o, "balance", w->balance);
    ctl_out_money(o, "overdraft_limit", w->overdraft_limit);
    ctl_out_money(o, "reserved", w->reserved);
    ctl_out_u64(o, "max_keys", w->max_keys);
    ctl_out_u64(o, "key_count", w->key_count);
    ctl_out_i64(o, "usage_requests", w->usage_requests);
    ctl_out_i64(o, "usage_tokens", w->usage_tokens);
    ctl_out_money(o, "usage_spend", w->usage_spend);
    ctl_out_time(o, "created_at_ms", w->created_at_ms);
    ctl_out_obj_end(o);
}

/* Limits and current spend of a key: the part update changes. */
static void ctl_show_key_limits(ctl_out *o, const Quotad__KeyInfo *k)
{
    ctl_out_limit_money(o, "quota_total", k->quota_total);
    ctl_out_limit_money(o, "quota_remaining", k->quota_remaining);
    ctl_out_limit_money(o, "spend_cap_day", k->spend_cap_day);
    ctl_out_limit_money(o, "spend_cap_week", k->spend_cap_week);
    ctl_out_limit_money(o, "spend_cap_month", k->spend_cap_month);
    ctl_out_money(o, "spend_day", k->spend_day);
    ctl_out_money(o, "spend_week", k->spend_week);
    ctl_out_money(o, "spend_month", k->spend_month);
    ctl_out_limit_count(o, "rpm", k->rpm);
    ctl_out_limit_count(o, "tpm", k->tpm);
    ctl_out_strv(o, "models", k->models, k->n_models);
    ctl_out_strv(o, "ips", k->ips, k->n_ips);
}

void ctl_show_key(ctl_out *o, const Quotad__KeyInfo *k)
{
    ctl_out_obj_begin(o, "key");
    ctl_out_u64(o, "key_id", k->key_id);
    ctl_out_u64(o, "workspace_id", k->workspace_id);
    ctl_out_str(o, "name", k->name);
    ctl_out_str(o, "group", k->group);
    ctl_out_str(o, "kind", ctl_kind_name(k->kind));
    if (k->kind == QUOTAD__KEY_KIND__ADMIN)
        ctl_out_str(o, "role", ctl_role_name(k->has_role ? (int)k->role
                                                          : 0));
    ctl_out_str(o, "status", ctl_status_name(k->status));
    ctl_out_str(o, "masked", k->masked);
    ctl_out_str(o, "creator", k->creator);
    ctl_out_time(o, "created_at_ms", k->created_at_ms);
    ctl_out_time(o, "expires_at_ms", k->expires_at_ms);
    ctl_show_key_limits(o, k);
    ctl_out_meta(o, "metadata", k->metadata, k->n_metadata);
    ctl_out_i64(o, "usage_requests", k->usage_requests);
    ctl_out_i64(o, "usage_tokens", k->usage_tokens);
    ctl_out_money(o, "usage_spend", k->usage_spend);
    ctl_out_time(o, "prev_secret_expires_at_ms", k->prev_secret_expires_at_ms);
    ctl_out_obj_end(o);
}

/* The only place a secret is ever printed. The notice goes to stdout for
 * humans and to stderr with --json (stdout stays one JSON object). */
void ctl_show_key_secret(ctl_out *o, const Quotad__KeySecret *ks)
{
    static const char notice[] =
        "This secret will not be shown again: store it now.";
    if (ks->key)
        ctl_show_key(o, ks->key);
    ctl_out_str(o, "secret", ks->secret);
    if (o->json)
        fprintf(stderr, "note: %s\n", notice);
    else
        fprintf(o->f, "%s\n", notice);
}

void ctl_show_check(ctl_out *o, const Quotad__CheckReply *c)
{
    ctl_out_str(o, "decision", qc_decision_str((int)c->decision));
    ctl_out_i64(o, "http_status", qc_decision_http_status((int)c->decision));
    ctl_out_u64(o, "key_id", c->key_id);
    ctl_out_u64(o, "workspace_id", c->workspace_id);
    ctl_out_money(o, "charged", c->charged);
    ctl_out_limit_money(o, "quota_remaining", c->quota_remaining);
    ctl_out_money(o, "wallet_balance", c->wallet_balance);
    ctl_out_limit_count(o, "rpm_remaining", c->rpm_remaining);
    ctl_out_limit_count(o, "tpm_remaining", c->tpm_remaining);
    ctl_out_i64(o, "rate_reset_ms", c->rate_reset_ms);
    ctl_out_i64(o, "retry_after_ms", c->retry_after_ms);
    ctl_out_u64(o, "hold_id", c->hold_id);
    ctl_out_bool(o, "replayed", c->replayed);
}

void ctl_show_settle(ctl_out *o, const Quotad__SettleReply *s)
{
    ctl_out_money(o, "charged", s->charged);
    ctl_out_money(o, "refunded", s->refunded);
    ctl_out_limit_money(o, "quota_remaining", s->quota_remaining);
    ctl_out_money(o, "wallet_balance", s->wallet_balance);
    ctl_out_bool(o, "replayed", s->replayed);
}

/* Text of every cell of one key row (pointers into k or into bufs). */
typedef struct ctl_row {
    const char *cell[CTL_COL_COUNT];
    char id[CTL_ID_BUF];
    char quota[CTL_AMOUNT_BUF];
    char created[CTL_TIME_BUF];
} ctl_row;

static void ctl_row_fill(ctl_row *r, const Quotad__KeyInfo *k)
{
    snprintf(r->id, sizeof r->id, "%" PRIu64, k->key_id);
    r->cell[CTL_COL_ID] = r->id;
    r->cell[CTL_COL_NAME] = k->name;
    r->cell[CTL_COL_GROUP] = k->group;
    r->cell[CTL_COL_STATUS] = ctl_status_name(k->status);
    r->cell[CTL_COL_MASKED] = k->masked;
    if (k->quota_remaining < 0)
        snprintf(r->quota, sizeof r->quota, "unlimited");
    else
        ctl_amount_format(k->quota_remaining, r->quota);
    r->cell[CTL_COL_QUOTA] = r->quota;
    r->cell[CTL_COL_CREATED] = ctl_fmt_time(k->created_at_ms, r->created);
}

/* Column widths: the widest cell (capped), at least the title. */
static void ctl_table_widths(Quotad__KeyInfo *const *keys, size_t n,
                             int width[CTL_COL_COUNT])
{
    for (int c = 0; c < CTL_COL_COUNT; c++)
        width[c] = (int)strlen(ctl_col_titles[c]);
    for (size_t i = 0; i < n; i++) {
        ctl_row r = {0};
        ctl_row_fill(&r, keys[i]);
        for (int c = 0; c < CTL_COL_COUNT; c++) {
            int len = r.cell[c] ? (int)strlen(r.cell[c]) : 1;
            if (len > CTL_CELL_WIDTH_MAX)
                len = CTL_CELL_WIDTH_MAX;
            if (len > width[c])
                width[c] = len;
        }
    }
}

/* One row; the last column is not padded (no trailing blanks). */
static void ctl_table_line(FILE *f, const char *const cell[CTL_COL_COUNT],
                           const int width[CTL_COL_COUNT])
{
    for (int c = 0; c < CTL_COL_COUNT; c++) {
        bool last = c + 1 == CTL_COL_COUNT;
        ctl_out_human_cell(f, cell[c], last ? 0 : width[c]);
        fputs(last ? "\n" : CTL_COL_GAP, f);
    }
}

void ctl_show_key_table(FILE *f, Quotad__KeyInfo *const *keys, size_t n)
{
    int width[CTL_COL_COUNT];
    ctl_table_widths(keys, n, width);
    ctl_table_line(f, ctl_col_titles, width);
    for (size_t i = 0; i < n; i++) {
        ctl_row r = {0};
        ctl_row_fill(&r, keys[i]);
        ctl_table_line(f, r.cell, width);
    }
}

void ctl_show_begin(ctl_out *o)
{
    ctl_out_begin(o);
    if (o->json)
        ctl_out_bool(o, "ok", true);
}

void ctl_show_end(ctl_out *o, const Quotad__Reply *r)
{
    ctl_out_u64(o, "seq", r ? r->seq : 0);
    ctl_out_end(o);
}
