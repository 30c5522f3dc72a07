/* fastenc -- see fastenc.h. Wire format (proto2, as protobuf-c writes it):
 * fields in declaration order, an optional scalar only when has_X is set,
 * varints for every integer type (negative int32/int64/enum values as
 * 10-byte two's complement), strings and sub-messages length-delimited. */
#include "fastenc.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pbwire.h"
#include "qd_frame.h"

#define FASTENC_CHECK_BYTES_MAX (12u * (2u + PBWIRE_VARINT_BYTES_MAX))
#define FASTENC_REPLY_FIELD_CHECK 40u
#define FASTENC_REPLY_FIELD_PONG 11u

/* An optional varint field: int32/enum values are sign-extended. */
static uint8_t *opt_varint(uint8_t *p, bool has, uint32_t field, uint64_t v)
{
    return has ? pbwire_put_field(p, field, v) : p;
}

static uint64_t i32v(int32_t v)
{
    return (uint64_t)(int64_t)v;
}

/* The CheckReply body into buf (at least FASTENC_CHECK_BYTES_MAX). */
static size_t check_body(const Quotad__CheckReply *c, uint8_t *buf)
{
    uint8_t *p = buf;
    p = opt_varint(p, c->has_decision, 1, i32v((int32_t)c->decision));
    p = opt_varint(p, c->has_key_id, 2, c->key_id);
    p = opt_varint(p, c->has_workspace_id, 3, c->workspace_id);
    p = opt_varint(p, c->has_charged, 4, (uint64_t)c->charged);
    p = opt_varint(p, c->has_quota_remaining, 5, (uint64_t)c->quota_remaining);
    p = opt_varint(p, c->has_wallet_balance, 6, (uint64_t)c->wallet_balance);
    p = opt_varint(p, c->has_rpm_remaining, 7, (uint64_t)c->rpm_remaining);
    p = opt_varint(p, c->has_tpm_remaining, 8, (uint64_t)c->tpm_remaining);
    p = opt_varint(p, c->has_rate_reset_ms, 9, (uint64_t)c->rate_reset_ms);
    p = opt_varint(p, c->has_retry_after_ms, 10, (uint64_t)c->retry_after_ms);
    p = opt_varint(p, c->has_hold_id, 11, c->hold_id);
    p = opt_varint(p, c->has_replayed, 12, c->replayed ? 1 : 0);
    assert((size_t)(p - buf) <= FASTENC_CHECK_BYTES_MAX);
    return (size_t)(p - buf);
}

/* The Pong body (payload checked to fit by reply_ok). */
static size_t pong_body(const Quotad__Pong *g, uint8_t *buf)
{
    uint8_t *p = buf;
    if (g->has_payload) {
        p = pbwire_put_tag(p, 1, PBWIRE_LEN);
        p = pbwire_put_varint(p, g->payload.len);
        if (g->payload.len > 0) {
            memcpy(p, g->payload.data, g->payload.len);
        }
        p += g->payload.len;
    }
    return (size_t)(p - buf);
}

static bool reply_ok(const Quotad__Reply *r)
{
    if (r->base.n_unknown_fields != 0) {
        return false;
    }
    switch (r->result_case) {
    case QUOTAD__REPLY__RESULT__NOT_SET:
        return true;
    case QUOTAD__REPLY__RESULT_CHECK:
        return r->check != NULL && r->check->base.n_unknown_fields == 0;
    case QUOTAD__REPLY__RESULT_PONG:
        return r->pong != NULL && r->pong->base.n_unknown_fields == 0 &&
               (!r->pong->has_payload ||
                r->pong->payload.len <= FASTENC_CHECK_BYTES_MAX - 12);
    default:
        return false;
    }
}

/* Bytes of one Reply body; *sub gets the CheckReply body (if any). */
static size_t reply_len(const Quotad__Reply *r, uint8_t *sub, size_t *sub_len)
{
    size_t n = 0;
    if (r->has_id) {
        n += 1 + pbwire_varint_len(r->id);
    }
    if (r->has_code) {
        n += 1 + pbwire_varint_len(i32v((int32_t)r->code));
    }
    if (r->error != NULL) {
        size_t l = strlen(r->error);
        n += 1 + pbwire_varint_len(l) + l;
    }
    if (r->has_seq) {
        n += 1 + pbwire_varint_len(r->seq);
    }
    *sub_len = 0;
    if (r->result_case == QUOTAD__REPLY__RESULT_CHECK) {
        *sub_len = check_body(r->check, sub);
        n += 2 + pbwire_varint_len(*sub_len) + *sub_len;
    } else if (r->result_case == QUOTAD__REPLY__RESULT_PONG) {
        *sub_len = pong_body(r->pong, sub);
        n += 1 + pbwire_varint_len(*sub_len) + *sub_len;
    }
    return n;
}

static uint8_t *put_reply(uint8_t *p, const Quotad__Reply *r,
                          const uint8_t *sub, size_t sub_len)
{
    p = opt_varint(p, r->has_id, 1, r->id);
    p = opt_varint(p, r->has_code, 2, i32v((int32_t)r->code));
    if (r->error != NULL) {
        size_t l = strlen(r->error);
        p = pbwire_put_tag(p, 3, PBWIRE_LEN);
        p = pbwire_put_varint(p, l);
        memcpy(p, r->error, l);
        p += l;
    }
    p = opt_varint(p, r->has_seq, 4, r->seq);
    if (r->result_case == QUOTAD__REPLY__RESULT_CHECK) {
        p = pbwire_put_tag(p, FASTENC_REPLY_FIELD_CHECK, PBWIRE_LEN);
        p = pbwire_put_varint(p, sub_len);
        memcpy(p, sub, sub_len);
        p += sub_len;
    } else if (r->result_case == QUOTAD__REPLY__RESULT_PONG) {
        p = pbwire_put_tag(p, FASTENC_REPLY_FIELD_PONG, PBWIRE_LEN);
        p = pbwire_put_varint(p, sub_len);
        memcpy(p, sub, sub_len);
        p += sub_len;
    }
    return p;
}

int fastenc_server_frame(const Quotad__ServerFrame *sf, uint32_t max_body,
                         uint8_t **out, size_t *out_len)
{
    enum { FASTENC_REPLIES_MAX = 8 }; /* bigger frames: protobuf-c */
    if (sf->n_replies > FASTENC_REPLIES_MAX || sf->base.n_unknown_fields) {
        return 0;
    }
    uint8_t sub[FASTENC_REPLIES_MAX][FASTENC_CHECK_BYTES_MAX];
    size_t sub_len[FASTENC_REPLIES_MAX], rlen[FASTENC_REPLIES_MAX];
    size_t body = sf->has_version ? 1 + pbwire_varint_len(sf->version) : 0;
    for (size_t i = 0; i < sf->n_replies; i++) {
        if (!reply_ok(sf->replies[i])) {
            return 0;
        }
        rlen[i] = reply_len(sf->replies[i], sub[i], &sub_len[i]);
        body += 1 + pbwire_varint_len(rlen[i]) + rlen[i];
    }
    if (body > max_body) {
        return -1;
    }
    uint8_t *buf = malloc(FRAME_HEADER_BYTES + body);
    if (buf == NULL) {
        return -1;
    }
    qd_frame_put_header(buf, (uint32_t)body);
    uint8_t *p = buf + FRAME_HEADER_BYTES;
    p = opt_varint(p, sf->has_version, 1, sf->version);
    for (size_t i = 0; i < sf->n_replies; i++) {
        p = pbwire_put_tag(p, 2, PBWIRE_LEN);
        p = pbwire_put_varint(p, rlen[i]);
        p = put_reply(p, sf->replies[i], sub[i], sub_len[i]);
    }
    assert((size_t)(p - buf) == FRAME_HEADER_BYTES + body);
    *out = buf;
    *out_len = FRAME_HEADER_BYTES + body;
    return 1;
}
