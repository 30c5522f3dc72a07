/* keyspec -- see keyspec.h. */
#include "keyspec.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipnet.h"
#include "keylab.h"
#include "keypol.h"
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

/* Parse l's IP ranges into out (validated before). */
static void parse_ips(const Quotad__KeyLimits *l, ipnet_range *out)
{
    for (size_t i = 0; i < l->n_ips; i++) {
        int rc = ipnet_parse_range(l->ips[i], strlen(l->ips[i]), &out[i]);
        assert(rc == 0); /* validated before */
        (void)rc;
    }
}

static int64_t limit_or_none(protobuf_c_boolean has, int64_t v)
{
    return has ? v : LIMIT_NONE;
}

/* Labels from name/group/creator and protobuf metadata pairs. */
static int build_labels(const char *name, const char *group,
                        const char *creator, Quotad__KeyValue *const *kv,
                        size_t n, char **out)
{
    const char *mk[METADATA_PAIRS_MAX], *mv[METADATA_PAIRS_MAX];
    assert(n <= METADATA_PAIRS_MAX);
    for (size_t i = 0; i < n; i++) {
        mk[i] = kv[i]->key;
        mv[i] = kv[i]->value;
    }
    keylab_in in = {.name = name, .group = group, .creator = creator,
                    .n_meta = (uint32_t)n, .meta_key = mk, .meta_value = mv};
    return keylab_build(&in, out);
}

int keyspec_new_key(const Quotad__CreateKey *ck, int64_t now_ms, key **out)
{
    static const Quotad__KeyLimits no_limits = QUOTAD__KEY_LIMITS__INIT;
    const Quotad__KeyLimits *l = ck->limits ? ck->limits : &no_limits;
    *out = NULL;
    key *k = store_key_alloc();
    if (k == NULL) {
        return -1;
    }
    k->status = KEY_ENABLED;
    k->kind = ck->has_kind && ck->kind == QUOTAD__KEY_KIND__ADMIN
                  ? KEY_ADMIN
                  : KEY_STANDARD;
    k->created_ms = now_ms;
    k->role = k->kind != KEY_ADMIN ? QUOTAD__ROLE__ROLE_NONE
              : ck->has_role       ? (uint8_t)ck->role
                                   : QUOTAD__ROLE__ROLE_ADMIN;
    k->expires_ms = l->has_expires_at_ms && l->expires_at_ms > 0
                        ? l->expires_at_ms
                        : 0;
    ipnet_range ips[IPS_PER_KEY_MAX];
    assert(l->n_ips <= IPS_PER_KEY_MAX);
    parse_ips(l, ips);
    keypol_draft d = {
        .quota_total = limit_or_none(l->has_quota_total, l->quota_total),
        .cap_day = limit_or_none(l->has_spend_cap_day, l->spend_cap_day),
        .cap_week = limit_or_none(l->has_spend_cap_week, l->spend_cap_week),
        .cap_month = limit_or_none(l->has_spend_cap_month,
                                   l->spend_cap_month),
        .rpm = limit_or_none(l->has_rpm, l->rpm),
        .tpm = limit_or_none(l->has_tpm, l->tpm),
        .n_models = (uint32_t)l->n_models, .models = l->models,
        .n_ips = (uint32_t)l->n_ips, .ips = ips};
    k->quota_remaining = d.quota_total;
    const keypol *pol = keypol_intern(&d);
    k->pol_id = keypol_id(pol);
    if (pol == NULL ||
        build_labels(ck->name, ck->group, ck->creator, ck->metadata,
                     ck->n_metadata, &k->labels) != 0) {
        store_key_free(k);
        return -1;
    }
    *out = k;
    return 0;
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
static int64_t update_quota(const key *k, const Quotad__KeyLimits *l,
                            int64_t *total)
{
    int64_t old = *total, rem = k->quota_remaining;
    if (l->has_quota_total) {
        int64_t t = l->quota_total;
        if (t == LIMIT_NONE) {
            rem = LIMIT_NONE;
        } else if (old == LIMIT_NONE) {
            rem = t;
        } else {
            int64_t used = old - rem;
            rem = t - used > 0 ? t - used : 0;
        }
        *total = t;
    }
    if (l->has_quota_remaining && *total != LIMIT_NONE) {
        rem = l->quota_remaining < *total ? l->quota_remaining : *total;
    }
    return rem;
}

/* The key's policy with l applied, interned; NULL when out of memory. */
static const keypol *updated_policy(const key *k, const Quotad__KeyLimits *l,
                                    int64_t *quota_remaining)
{
    keypol_draft d;
    keypol_draft_of(&d, key_pol(k));
    *quota_remaining = update_quota(k, l, &d.quota_total);
    update_limit(&d.cap_day, l->has_spend_cap_day, l->spend_cap_day);
    update_limit(&d.cap_week, l->has_spend_cap_week, l->spend_cap_week);
    update_limit(&d.cap_month, l->has_spend_cap_month, l->spend_cap_month);
    update_limit(&d.rpm, l->has_rpm, l->rpm);
    update_limit(&d.tpm, l->has_tpm, l->tpm);
    if (l->n_models > 0 || (l->has_clear_models && l->clear_models)) {
        d.n_models = (uint32_t)l->n_models;
        d.models = l->models;
    }
    ipnet_range ips[IPS_PER_KEY_MAX];
    if (l->n_ips > 0 || (l->has_clear_ips && l->clear_ips)) {
        assert(l->n_ips <= IPS_PER_KEY_MAX);
        parse_ips(l, ips);
        d.n_ips = (uint32_t)l->n_ips;
        d.ips = ips;
    }
    return keypol_intern(&d);
}

/* The key's labels with uk applied (*changed false: keep the old ones). */
static int updated_labels(const key *k, const Quotad__UpdateKey *uk,
                          char **out, bool *changed)
{
    bool set_meta = (uk->has_replace_metadata && uk->replace_metadata) ||
                    uk->n_metadata > 0;
    *changed = uk->name != NULL || uk->group != NULL || set_meta;
    *out = NULL;
    if (!*changed) {
        return 0;
    }
    keylab_in in;
    const char *mk[METADATA_PAIRS_MAX], *mv[METADATA_PAIRS_MAX];
    keylab_read(k->labels, &in, mk, mv);
    if (uk->name != NULL) {
        in.name = uk->name;
    }
    if (uk->group != NULL) {
        in.group = uk->group;
    }
    if (!set_meta) {
        return keylab_build(&in, out);
    }
    return build_labels(in.name, in.group, in.creator, uk->metadata,
                        uk->n_metadata, out);
}

int keyspec_apply_update(key *k, const Quotad__UpdateKey *uk)
{
    const keypol *pol = NULL;
    int64_t rem = k->quota_remaining;
    if (uk->limits != NULL &&
        (pol = updated_policy(k, uk->limits, &rem)) == NULL) {
        return -1;
    }
    char *labels = NULL;
    bool relabel = false;
    if (updated_labels(k, uk, &labels, &relabel) != 0) {
        keypol_release(pol);
        return -1;
    }
    if (pol != NULL) {
        keypol_release(key_pol(k));
        k->pol_id = keypol_id(pol);
        k->quota_remaining = rem;
        const Quotad__KeyLimits *l = uk->limits;
        if (l->has_expires_at_ms) {
            k->expires_ms = l->expires_at_ms > 0 ? l->expires_at_ms : 0;
        }
    }
    if (relabel) {
        keylab_free(k->labels);
        k->labels = labels;
    }
    return 0;
}
