/* cmd_key.c -- `key` dispatch and the two commands that take limit flags:
 *   key create --ws WS_ID --name N [limit flags] [--group G]
 *              [--admin [--role gateway|member|admin|owner]]
 *              [--creator C] [--meta k=v]...
 *   key update KEY_ID [limit flags] [--clear-models] [--clear-ips]
 *              [--quota-remaining AMT] [--meta k=v]... [--clear-meta]
 *              [--name N] [--group G]
 * Limit flags: --quota --cap-day --cap-week --cap-month (amounts), --rpm
 * --tpm (counts), --model M..., --ip ADDR_OR_CIDR..., --expires-at MS |
 * --expires-in SECONDS. "none" clears a numeric limit on update (-1) and
 * means "no limit" (field left out) on create.
 */
#include <stddef.h>
#include <string.h>

#include "../../server/limits.h"
#include "ctl.h"

/* A numeric limit flag and where it lands in Quotad__KeyLimits. */
typedef struct ctl_limit_flag {
    const char *flag;
    bool money;
    size_t has_off;   /* offset of the protobuf_c_boolean has_ field */
    size_t val_off;   /* offset of the int64 value */
} ctl_limit_flag;

#define CTL_LIMIT(flag, money, field)                                      \
    {flag, money, offsetof(Quotad__KeyLimits, has_##field),                \
     offsetof(Quotad__KeyLimits, field)}

static const ctl_limit_flag ctl_limit_flags[] = {
    CTL_LIMIT("quota", true, quota_total),
    CTL_LIMIT("cap-day", true, spend_cap_day),
    CTL_LIMIT("cap-week", true, spend_cap_week),
    CTL_LIMIT("cap-month", true, spend_cap_month),
    CTL_LIMIT("rpm", false, rpm),
    CTL_LIMIT("tpm", false, tpm),
};

/* One "k=v" metadata pair; the key is copied out of argv. */
typedef struct ctl_meta {
    char key[METADATA_BYTES_MAX + 1];
} ctl_meta;

/* Everything create and update collect from the command line. */
typedef struct ctl_key_opts {
    bool update;                 /* parsing `key update` */
    Quotad__KeyLimits lim;
    bool any_limit;              /* lim has something set */
    char *models[MODELS_PER_KEY_MAX];
    char *ips[IPS_PER_KEY_MAX];
    ctl_meta meta[METADATA_PAIRS_MAX];
    Quotad__KeyValue kv[METADATA_PAIRS_MAX];
    Quotad__KeyValue *kvp[METADATA_PAIRS_MAX];
    size_t n_meta;
    bool replace_meta;           /* --meta or --clear-meta on update */
    bool expires_set;
    const char *ws, *name, *group, *creator, *role;
    bool admin;
    const char *pos[1];          /* KEY_ID of update */
    int npos;
} ctl_key_opts;

static void ctl_key_opts_init(ctl_key_opts *k, bool update)
{
    static const Quotad__KeyLimits lim0 = QUOTAD__KEY_LIMITS__INIT;
    memset(k, 0, sizeof *k);
    k->update = update;
    k->lim = lim0;
    k->lim.models = k->models;
    k->lim.ips = k->ips;
}

/* Numeric limits. Returns 1 handled, 0 not this kind, -1 usage error. */
static int ctl_key_limit_flag(ctl_args *a, const ctl_tok *t, ctl_key_opts *k)
{
    for (size_t i = 0; i < sizeof ctl_limit_flags / sizeof *ctl_limit_flags;
         i++) {
        const ctl_limit_flag *f = &ctl_limit_flags[i];
        if (!ctl_flag_is(t, f->flag))
            continue;
        const char *v = ctl_flag_value(a, t);
        int64_t n;
        if (v == NULL || ctl_parse_limit(a, f->flag, v, f->money, &n) != 0)
            return -1;
        if (n < 0 && !k->update)
            return 1;   /* "none" on create: leave the field out */
        char *base = (char *)&k->lim;
        *(protobuf_c_boolean *)(base + f->has_off) = 1;
        *(int64_t *)(base + f->val_off) = n;
        k->any_limit = true;
        return 1;
    }
    return 0;
}

/* Append to a bounded string list (models, ips). */
static int ctl_key_push(ctl_args *a, const ctl_tok *t, char **list,
                        size_t *n, size_t max)
{
    const char *v = ctl_flag_value(a, t);
    if (v == NULL)
        return -1;
    if (*v == '\0') {
        ctl_usage(a, "empty --%.*s", (int)t->flag_len, t->flag);
        return -1;
    }
    if (*n >= max) {
        ctl_usage(a, "too many --%.*s (max %zu)", (int)t->flag_len, t->flag,
                  max);
        return -1;
    }
    list[(*n)++] = (char *)v;
    return 0;
}

/* --meta k=v: the key is copied, the value points into argv. */
static int ctl_key_meta(ctl_args *a, const ctl_tok *t, ctl_key_opts *k)
{
    const char *v = ctl_flag_value(a, t);
    if (v == NULL)
        return -1;
    const char *eq = strchr(v, '=');
    size_t klen = eq ? (size_t)(eq - v) : 0;
    if (eq == NULL || klen == 0 || klen > METADATA_BYTES_MAX ||
        strlen(eq + 1) > METADATA_BYTES_MAX) {
        ctl_usage(a, "--meta wants KEY=VALUE (each at most %u bytes)",
                  METADATA_BYTES_MAX);
        return -1;
    }
    if (k->n_meta >= METADATA_PAIRS_MAX) {
        ctl_usage(a, "too many --meta (max %u)", METADATA_PAIRS_MAX);
        return -1;
    }
    static const Quotad__KeyValue kv0 = QUOTAD__KEY_VALUE__INIT;
    size_t i = k->n_meta++;
    memcpy(k->meta[i].key, v, klen);
    k->meta[i].key[klen] = '\0';
    k->kv[i] = kv0;
    k->kv[i].key = k->meta[i].key;
    k->kv[i].value = (char *)(eq + 1);
    k->kvp[i] = &k->kv[i];
    k->replace_meta = true;
    return 0;
}

/* --model, --ip, --meta. Returns 1 handled, 0 not, -1 error. */
static int ctl_key_list_flag(ctl_args *a, const ctl_tok *t, ctl_key_opts *k)
{
    int rc;
    if (ctl_flag_is(t, "model"))
        rc = ctl_key_push(a, t, k->models, &k->lim.n_models,
                          MODELS_PER_KEY_MAX);
    else if (ctl_flag_is(t, "ip"))
        rc = ctl_key_push(a, t, k->ips, &k->lim.n_ips, IPS_PER_KEY_MAX);
    else if (ctl_flag_is(t, "meta"))
        return ctl_key_meta(a, t, k) == 0 ? 1 : -1;
    else
        return 0;
    k->any_limit = true;
    return rc == 0 ? 1 : -1;
}

/* Expiry time in Unix ms from --expires-at MS or --expires-in SECONDS. */
static int ctl_key_expiry(ctl_args *a, const ctl_tok *t, const char *v,
                          int64_t *ms)
{
    uint64_t n;
    if (strcmp(v, "none") == 0 && ctl_flag_is(t, "expires-at")) {
        *ms = -1;
        return 0;
    }
    if (ctl_flag_is(t, "expires-at")) {
        if (ctl_parse_u64(a, "--expires-at", v, INT64_MAX, &n) != 0)
            return -1;
        *ms = (int64_t)n;
        return 0;
    }
    if (ctl_parse_u64(a, "--expires-in", v,
                      (uint64_t)(INT64_MAX / CTL_MS_PER_SEC) / 2u, &n) != 0)
        return -1;
    *ms = ctl_now_ms() + (int64_t)n * CTL_MS_PER_SEC;
    return 0;
}

/* --expires-at / --expires-in (one of them). Returns 1/0/-1. */
static int ctl_key_expiry_flag(ctl_args *a, const ctl_tok *t,
                               ctl_key_opts *k)
{
    if (!ctl_flag_is(t, "expires-at") && !ctl_flag_is(t, "expires-in"))
        return 0;
    const char *v = ctl_flag_value(a, t);
    if (v == NULL)
        return -1;
    if (k->expires_set) {
        ctl_usage(a, "give one of --expires-at / --expires-in");
        return -1;
    }
    int64_t ms;
    if (ctl_key_expiry(a, t, v, &ms) != 0)
        return -1;
    k->expires_set = true;
    k->any_limit = true;
    k->lim.has_expires_at_ms = 1;
    k->lim.expires_at_ms = ms;
    return 1;
}

/* String-valued identity flags. Returns 1/0/-1. */
static int ctl_key_ident_flag(ctl_args *a, const ctl_tok *t, ctl_key_opts *k)
{
    const char **dst = NULL;
    if (ctl_flag_is(t, "name"))
        dst = &k->name;
    else if (ctl_flag_is(t, "group"))
        dst = &k->group;
    else if (!k->update && ctl_flag_is(t, "creator"))
        dst = &k->creator;
    else if (!k->update && ctl_flag_is(t, "ws"))
        dst = &k->ws;
    else if (!k->update && ctl_flag_is(t, "role"))
        dst = &k->role;
    if (dst == NULL)
        return 0;
    *dst = ctl_flag_value(a, t);
    return *dst ? 1 : -1;
}

/* Value-less switches: --admin (create); --clear-* (update). */
static int ctl_key_switch(ctl_args *a, const ctl_tok *t, ctl_key_opts *k)
{
    protobuf_c_boolean *has = NULL, *val = NULL;
    bool *flag = NULL;
    if (!k->update && ctl_flag_is(t, "admin")) {
        flag = &k->admin;
    } else if (k->update && ctl_flag_is(t, "clear-meta")) {
        flag = &k->replace_meta;
    } else if (k->update && ctl_flag_is(t, "clear-models")) {
        has = &k->lim.has_clear_models;
        val = &k->lim.clear_models;
    } else if (k->update && ctl_flag_is(t, "clear-ips")) {
        has = &k->lim.has_clear_ips;
        val = &k->lim.clear_ips;
    } else {
        return 0;
    }
    if (!ctl_flag_noval(a, t))
        return -1;
    if (flag)
        *flag = true;
    if (has) {
        *has = *val = 1;
        k->any_limit = true;
    }
    return 1;
}

/* --quota-remaining (update only): reset the remaining quota. */
static int ctl_key_remaining_flag(ctl_args *a, const ctl_tok *t,
                                  ctl_key_opts *k)
{
    if (!k->update || !ctl_flag_is(t, "quota-remaining"))
        return 0;
    const char *v = ctl_flag_value(a, t);
    if (v == NULL || ctl_parse_amount(a, "--quota-remaining", v, 0,
                                      INT64_MAX, &k->lim.quota_remaining))
        return -1;
    k->lim.has_quota_remaining = 1;
    k->any_limit = true;
    return 1;
}

static int ctl_key_word(ctl_args *a, const ctl_tok *t, ctl_key_opts *k)
{
    if (t->flag == NULL)
        return ctl_take_pos(a, t, k->pos, k->update ? 1 : 0, &k->npos);
    int (*const kinds[])(ctl_args *, const ctl_tok *, ctl_key_opts *) = {
        ctl_key_limit_flag, ctl_key_list_flag,  ctl_key_expiry_flag,
        ctl_key_ident_flag, ctl_key_switch,     ctl_key_remaining_flag,
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        int r = kinds[i](a, t, k);
        if (r != 0)
            return r > 0 ? 0 : -1;
    }
    ctl_unknown_flag(a, t);
    return -1;
}

static int ctl_key_scan(ctl_args *a, ctl_key_opts *k)
{
    ctl_tok t;
    int s;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN)
        if (ctl_key_word(a, &t, k) != 0)
            return -1;
    return s == CTL_SCAN_ERROR ? -1 : 0;
}

/* Check the reply carries `want` (key or key_secret), print, free it. */
int ctl_key_reply(ctl_env *e, int rc, Quotad__Reply *r,
                         Quotad__Reply__ResultCase want)
{
    int code = ctl_result(e, rc, r);
    if (code == CTL_EXIT_OK)
        code = ctl_expect(e, r, want);
    if (code != CTL_EXIT_OK)
        return ctl_done(r, code);
    ctl_out *o = ctl_o(e);
    ctl_show_begin(o);
    if (want == QUOTAD__REPLY__RESULT_KEY_SECRET)
        ctl_show_key_secret(o, r->key_secret);
    else
        ctl_show_key(o, r->key);
    ctl_show_end(o, r);
    return ctl_done(r, CTL_EXIT_OK);
}

/* --role of an admin key: what HELLO with it grants. */
static int ctl_key_role(const ctl_args *a, const ctl_key_opts *k,
                        Quotad__CreateKey *ck)
{
    static const Quotad__Role roles[] = {
        QUOTAD__ROLE__ROLE_GATEWAY, QUOTAD__ROLE__ROLE_MEMBER,
        QUOTAD__ROLE__ROLE_ADMIN, QUOTAD__ROLE__ROLE_OWNER,
    };
    if (k->role == NULL)
        return 0;
    if (!k->admin) {
        ctl_usage(a, "--role needs --admin");
        return -1;
    }
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++) {
        if (strcmp(k->role, ctl_role_name((int)roles[i])) == 0) {
            ck->has_role = 1;
            ck->role = roles[i];
            return 0;
        }
    }
    ctl_usage(a, "--role: '%s' is not gateway, member, admin or owner",
              k->role);
    return -1;
}

int ctl_key_create(ctl_env *e, ctl_args *a)
{
    ctl_key_opts k;
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    ctl_key_opts_init(&k, false);
    if (ctl_key_scan(a, &k) != 0)
        return CTL_EXIT_USAGE;
    if (k.ws == NULL || k.name == NULL)
        return ctl_usage(a, "--ws and --name are required");
    if (ctl_parse_ws_id(a, k.ws, &ck.workspace_id) != 0 ||
        ctl_key_role(a, &k, &ck) != 0)
        return CTL_EXIT_USAGE;
    ck.has_workspace_id = 1;
    ck.name = (char *)k.name;
    ck.group = (char *)k.group;
    ck.creator = (char *)k.creator;
    ck.has_kind = k.admin;
    ck.kind = k.admin ? QUOTAD__KEY_KIND__ADMIN : QUOTAD__KEY_KIND__STANDARD;
    ck.limits = &k.lim;
    ck.n_metadata = k.n_meta;
    ck.metadata = k.kvp;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_create_key(e->conn, &ck, &r);
    return ctl_key_reply(e, rc, r, QUOTAD__REPLY__RESULT_KEY_SECRET);
}

int ctl_key_update(ctl_env *e, ctl_args *a)
{
    ctl_key_opts k;
    Quotad__UpdateKey uk = QUOTAD__UPDATE_KEY__INIT;
    ctl_key_opts_init(&k, true);
    if (ctl_key_scan(a, &k) != 0 ||
        ctl_need_pos(a, k.npos, 1, "KEY_ID") != 0 ||
        ctl_parse_id(a, "KEY_ID", k.pos[0], &uk.key_id) != 0)
        return CTL_EXIT_USAGE;
    if (!k.any_limit && !k.replace_meta && !k.name && !k.group)
        return ctl_usage(a, "nothing to update");
    uk.has_key_id = 1;
    uk.name = (char *)k.name;
    uk.group = (char *)k.group;
    uk.limits = k.any_limit ? &k.lim : NULL;
    uk.has_replace_metadata = k.replace_meta;
    uk.replace_metadata = k.replace_meta;
    uk.n_metadata = k.n_meta;
    uk.metadata = k.kvp;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    Quotad__Reply *r = NULL;
    int rc = qc_update_key(e->conn, &uk, &r);
    return ctl_key_reply(e, rc, r, QUOTAD__REPLY__RESULT_KEY);
}

static int ctl_key_enable(ctl_env *e, ctl_args *a)
{
    return ctl_key_lifecycle(e, a, QUOTAD__REQUEST__OP_ENABLE_KEY);
}

static int ctl_key_disable(ctl_env *e, ctl_args *a)
{
    return ctl_key_lifecycle(e, a, QUOTAD__REQUEST__OP_DISABLE_KEY);
}

static int ctl_key_revoke(ctl_env *e, ctl_args *a)
{
    return ctl_key_lifecycle(e, a, QUOTAD__REQUEST__OP_REVOKE_KEY);
}

static int ctl_key_delete(ctl_env *e, ctl_args *a)
{
    return ctl_key_lifecycle(e, a, QUOTAD__REQUEST__OP_DELETE_KEY);
}

int ctl_cmd_key(ctl_env *e, ctl_args *a)
{
    static const ctl_cmd subs[] = {
        {"create", ctl_key_create},   {"get", ctl_key_get},
        {"list", ctl_key_list},       {"update", ctl_key_update},
        {"enable", ctl_key_enable},   {"disable", ctl_key_disable},
        {"revoke", ctl_key_revoke},   {"delete", ctl_key_delete},
        {"rotate", ctl_key_rotate},
    };
    return ctl_dispatch(e, a, subs, sizeof subs / sizeof *subs);
}
