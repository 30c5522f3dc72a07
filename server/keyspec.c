/* keyspec -- see keyspec.h. */
#include "keyspec.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipnet.h"
#include "limits.h"
#include "log.h"

static bool str_ok(const char *s, size_t max)
{
    return s == NULL || strlen(s) <= max;
}

/* A numeric limit: -1 (none) or 0..max. */
static bool limit_ok(protobuf_c_boolean has, int64_t v, int64_t max)
{
    return !has || v == LIMIT_NONE || (v >= 0 && v <= max);
}

static int check_numbers(const Quotad__KeyLimits *l, char *err, size_t cap)
{
    if (!limit_ok(l->has_quota_total, l->quota_total, AMOUNT_MICRO_MAX)) {
        return errf(err, cap, "quota_total out of range");
    }
    if (!limit_ok(l->has_quota_remaining, l->quota_remaining,
                  AMOUNT_MICRO_MAX) ||
        (l->has_quota_remaining && l->quota_remaining < 0)) {
        return errf(err, cap, "quota_remaining out of range");
    }
    if (!limit_ok(l->has_spend_cap_day, l->spend_cap_day, AMOUNT_MICRO_MAX) ||
        !limit_ok(l->has_spend_cap_week, l->spend_cap_week,
                  AMOUNT_MICRO_MAX) ||
        !limit_ok(l->has_spend_cap_month, l->spend_cap_month,
                  AMOUNT_MICRO_MAX)) {
        return errf(err, cap, "spend cap out of range");
    }
    if (!limit_ok(l->has_rpm, l->rpm, KEYSPEC_RPM_MAX) ||
        !limit_ok(l->has_tpm, l->tpm, TOKENS_MAX)) {
        return errf(err, cap, "rpm/tpm out of range");
    }
    if (l->has_expires_at_ms && l->expires_at_ms < -1) {
        return errf(err, cap, "expires_at_ms out of range");
    }
    return 0;
}

static int check_lists(const Quotad__KeyLimits *l, char *err, size_t cap)
{
    if (l->n_models > MODELS_PER_KEY_MAX) {
        return errf(err, cap, "more than %u models", MODELS_PER_KEY_MAX);
    }
    for (size_t i = 0; i < l->n_models; i++) {
        size_t n = strlen(l->models[i]);
        if (n == 0 || n > MODEL_BYTES_MAX) {
            return errf(err, cap, "model %zu: length must be 1..%u", i,
                        MODEL_BYTES_MAX);
        }
    }
    if (l->n_ips > IPS_PER_KEY_MAX) {
        return errf(err, cap, "more than %u ips", IPS_PER_KEY_MAX);
    }
    for (size_t i = 0; i < l->n_ips; i++) {
        ipnet_range r;
        if (ipnet_parse_range(l->ips[i], strlen(l->ips[i]), &r) != 0) {
            return errf(err, cap, "ips[%zu]: not an address or CIDR", i);
        }
    }
    return 0;
}

static int check_limits(const Quotad__KeyLimits *l, char *err, size_t cap)
{
    if (l == NULL) {
        return 0;
    }
    if (check_numbers(l, err, cap) != 0) {
        return -1;
    }
    return check_lists(l, err, cap);
}

static int check_meta(Quotad__KeyValue *const *kv, size_t n, char *err,
                      size_t cap)
{
    if (n > METADATA_PAIRS_MAX) {
        return errf(err, cap, "more than %u metadata pairs",
                    METADATA_PAIRS_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if (kv[i]->key == NULL || kv[i]->key[0] == '\0' ||
            !str_ok(kv[i]->key, METADATA_BYTES_MAX) ||
            !str_ok(kv[i]->value, METADATA_BYTES_MAX)) {
            return errf(err, cap, "metadata[%zu]: bad key or value", i);
        }
    }
    return 0;
}

int keyspec_validate_create(const Quotad__CreateKey *ck, char *err,
                            size_t err_cap)
{
    if (!str_ok(ck->name, NAME_BYTES_MAX) ||
        !str_ok(ck->group, GROUP_BYTES_MAX) ||
        !str_ok(ck->creator, CREATOR_BYTES_MAX)) {
        return errf(err, err_cap, "name, group or creator too long");
    }
    if (ck->has_kind && ck->kind != QUOTAD__KEY_KIND__STANDARD &&
        ck->kind != QUOTAD__KEY_KIND__ADMIN) {
        return errf(err, err_cap, "unknown key kind");
    }
    if (ck->has_role && (ck->role < QUOTAD__ROLE__ROLE_GATEWAY ||
                         ck->role > QUOTAD__ROLE__ROLE_OWNER ||
                         !ck->has_kind || ck->kind != QUOTAD__KEY_KIND__ADMIN)) {
        return errf(err, err_cap, "role is for admin keys: gateway, member, "
                                  "admin or owner");
    }
    if (ck->limits != NULL && ck->limits->has_quota_remaining) {
        return errf(err, err_cap, "quota_remaining is for updates");
    }
    if (check_limits(ck->limits, err, err_cap) != 0) {
        return -1;
    }
    return check_meta(ck->metadata, ck->n_metadata, err, err_cap);
}

int keyspec_validate_update(const Quotad__UpdateKey *uk, char *err,
                            size_t err_cap)
{
    if (!str_ok(uk->name, NAME_BYTES_MAX) ||
        !str_ok(uk->group, GROUP_BYTES_MAX)) {
        return errf(err, err_cap, "name or group too long");
    }
    if (check_limits(uk->limits, err, err_cap) != 0) {
        return -1;
    }
    return check_meta(uk->metadata, uk->n_metadata, err, err_cap);
}

/* ---- building ---- */

static char *dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

/* New model list copied from l; *out NULL when n == 0. */
static int build_models(const Quotad__KeyLimits *l, char ***out)
{
    *out = NULL;
    if (l->n_models == 0) {
        return 0;
    }
    char **m = calloc(l->n_models, sizeof(*m));
    if (m == NULL) {
        return -1;
    }
    for (size_t i = 0; i < l->n_models; i++) {
        m[i] = strdup(l->models[i]);
        if (m[i] == NULL) {
            for (size_t j = 0; j < i; j++) {
                free(m[j]);
            }
            free(m);
            return -1;
        }
    }
    *out = m;
    return 0;
}

static int build_ips(const Quotad__KeyLimits *l, ipnet_range **out)
{
    *out = NULL;
    if (l->n_ips == 0) {
        return 0;
    }
    ipnet_range *r = calloc(l->n_ips, sizeof(*r));
    if (r == NULL) {
        return -1;
    }
    for (size_t i = 0; i < l->n_ips; i++) {
        int rc = ipnet_parse_range(l->ips[i], strlen(l->ips[i]), &r[i]);
        assert(rc == 0); /* validated before */
        (void)rc;
    }
    *out = r;
    return 0;
}

static void free_models(char **m, uint32_t n)
{
    if (m == NULL) {
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        free(m[i]);
    }
    free(m);
}

static void free_meta(kv_pair *kv, uint32_t n)
{
    if (kv == NULL) {
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static int build_meta(Quotad__KeyValue *const *in, size_t n, kv_pair **out)
{
    *out = NULL;
    if (n == 0) {
        return 0;
    }
    kv_pair *kv = calloc(n, sizeof(*kv));
    if (kv == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        kv[i].key = dup_or_empty(in[i]->key);
        kv[i].value = dup_or_empty(in[i]->value);
        if (kv[i].key == NULL || kv[i].value == NULL) {
            free_meta(kv, (uint32_t)i + 1);
            return -1;
        }
    }
    *out = kv;
    return 0;
}

static int64_t limit_or_none(protobuf_c_boolean has, int64_t v)
{
    return has ? v : LIMIT_NONE;
}

/* Numeric settings on create: absent means none. */
static void set_create_numbers(key *k, const Quotad__KeyLimits *l)
{
    k->quota_total = limit_or_none(l->has_quota_total, l->quota_total);
    k->quota_remaining = k->quota_total;
    k->cap_day = limit_or_none(l->has_spend_cap_day, l->spend_cap_day);
    k->cap_week = limit_or_none(l->has_spend_cap_week, l->spend_cap_week);
    k->cap_month = limit_or_none(l->has_spend_cap_month, l->spend_cap_month);
    k->rpm = limit_or_none(l->has_rpm, l->rpm);
    k->tpm = limit_or_none(l->has_tpm, l->tpm);
    k->expires_ms = l->has_expires_at_ms && l->expires_at_ms > 0
                        ? l->expires_at_ms
                        : 0;
}

key *keyspec_new_key(const Quotad__CreateKey *ck, int64_t now_ms)
{
    static const Quotad__KeyLimits no_limits = QUOTAD__KEY_LIMITS__INIT;
    const Quotad__KeyLimits *l = ck->limits ? ck->limits : &no_limits;
    key *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return NULL;
    }
    k->status = KEY_ENABLED;
    k->kind = ck->has_kind && ck->kind == QUOTAD__KEY_KIND__ADMIN
                  ? KEY_ADMIN
                  : KEY_STANDARD;
    k->created_ms = now_ms;
    k->role = k->kind != KEY_ADMIN ? QUOTAD__ROLE__ROLE_NONE
              : ck->has_role       ? (uint8_t)ck->role
                                   : QUOTAD__ROLE__ROLE_ADMIN;
    set_create_numbers(k, l);
    k->ext.name = dup_or_empty(ck->name);
    k->ext.group = dup_or_empty(ck->group);
    k->ext.creator = dup_or_empty(ck->creator);
    int bad = k->ext.name == NULL || k->ext.group == NULL ||
              k->ext.creator == NULL;
    bad = bad || build_models(l, &k->ext.models) != 0;
    k->ext.n_models = k->ext.models ? (uint32_t)l->n_models : 0;
    bad = bad || build_ips(l, &k->ext.ips) != 0;
    k->ext.n_ips = k->ext.ips ? (uint32_t)l->n_ips : 0;
    bad = bad || build_meta(ck->metadata, ck->n_metadata, &k->ext.meta) != 0;
    k->ext.n_meta = k->ext.meta ? (uint32_t)ck->n_metadata : 0;
    if (bad) {
        store_key_free(k);
        return NULL;
    }
    return k;
}

/* On update a present value changes the limit; -1 clears it. */
static void update_limit(int64_t *field, protobuf_c_boolean has, int64_t v)
{
    if (has) {
        *field = v;
    }
}

/* Changing quota_total keeps what was already used: remaining becomes
 * new_total - used (never below 0). From unlimited, all of it remains. */
static void update_quota(key *k, const Quotad__KeyLimits *l)
{
    if (l->has_quota_total) {
        int64_t t = l->quota_total;
        if (t == LIMIT_NONE) {
            k->quota_remaining = LIMIT_NONE;
        } else if (k->quota_total == LIMIT_NONE) {
            k->quota_remaining = t;
        } else {
            int64_t used = k->quota_total - k->quota_remaining;
            k->quota_remaining = t - used > 0 ? t - used : 0;
        }
        k->quota_total = t;
    }
    if (l->has_quota_remaining && k->quota_total != LIMIT_NONE) {
        k->quota_remaining = l->quota_remaining < k->quota_total
                                 ? l->quota_remaining
                                 : k->quota_total;
    }
}

static void update_numbers(key *k, const Quotad__KeyLimits *l)
{
    update_quota(k, l);
    update_limit(&k->cap_day, l->has_spend_cap_day, l->spend_cap_day);
    update_limit(&k->cap_week, l->has_spend_cap_week, l->spend_cap_week);
    update_limit(&k->cap_month, l->has_spend_cap_month, l->spend_cap_month);
    update_limit(&k->rpm, l->has_rpm, l->rpm);
    update_limit(&k->tpm, l->has_tpm, l->tpm);
    if (l->has_expires_at_ms) {
        k->expires_ms = l->expires_at_ms > 0 ? l->expires_at_ms : 0;
    }
}

/* New parts staged before anything in k changes. */
typedef struct staged {
    char *name, *group;
    char **models;
    ipnet_range *ips;
    kv_pair *meta;
    bool set_models, set_ips, set_meta;
} staged;

static void staged_free(staged *s, const Quotad__UpdateKey *uk)
{
    free(s->name);
    free(s->group);
    if (uk->limits) {
        free_models(s->models, (uint32_t)uk->limits->n_models);
    }
    free(s->ips);
    free_meta(s->meta, (uint32_t)uk->n_metadata);
}

static int stage(staged *s, const Quotad__UpdateKey *uk)
{
    const Quotad__KeyLimits *l = uk->limits;
    memset(s, 0, sizeof(*s));
    if ((uk->name && !(s->name = strdup(uk->name))) ||
        (uk->group && !(s->group = strdup(uk->group)))) {
        return -1;
    }
    if (l != NULL) {
        s->set_models = l->n_models > 0 || (l->has_clear_models &&
                                            l->clear_models);
        s->set_ips = l->n_ips > 0 || (l->has_clear_ips && l->clear_ips);
        if (build_models(l, &s->models) != 0 || build_ips(l, &s->ips) != 0) {
            return -1;
        }
    }
    s->set_meta = (uk->has_replace_metadata && uk->replace_metadata) ||
                  uk->n_metadata > 0;
    return build_meta(uk->metadata, uk->n_metadata, &s->meta);
}

int keyspec_apply_update(key *k, const Quotad__UpdateKey *uk)
{
    staged s;
    if (stage(&s, uk) != 0) {
        staged_free(&s, uk);
        return -1;
    }
    if (s.name) {
        free(k->ext.name);
        k->ext.name = s.name;
    }
    if (s.group) {
        free(k->ext.group);
        k->ext.group = s.group;
    }
    if (s.set_models) {
        free_models(k->ext.models, k->ext.n_models);
        k->ext.models = s.models;
        k->ext.n_models = (uint32_t)uk->limits->n_models;
    }
    if (s.set_ips) {
        free(k->ext.ips);
        k->ext.ips = s.ips;
        k->ext.n_ips = (uint32_t)uk->limits->n_ips;
    }
    if (s.set_meta) {
        free_meta(k->ext.meta, k->ext.n_meta);
        k->ext.meta = s.meta;
        k->ext.n_meta = (uint32_t)uk->n_metadata;
    }
    if (uk->limits) {
        update_numbers(k, uk->limits);
    }
    return 0;
}
