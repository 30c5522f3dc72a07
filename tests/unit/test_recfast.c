/* test_recfast -- the hand-encoded records (rec_append_charge with and
 * without a hold, rec_append_settle with any fields set, rec_append_deny)
 * are byte for byte what rec_append packs through protobuf-c for the
 * same LogRecord, frame header included, and decode back to the values
 * given. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/persist_util.h"
#include "rec.h"
#include "t.h"

#define RF_ROUNDS 20000

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rnd(void)
{
    return pu_rand(&rng_state);
}

static int64_t rnd_i64(void)
{
    return pu_rand_i64_edges(&rng_state);
}

static uint64_t rnd_seq(void)
{
    uint64_t s = (uint64_t)rnd_i64();
    return s == 0 ? 1 : s;
}

static void log_free(shard *sh)
{
    free(sh->log.buf);
    memset(&sh->log, 0, sizeof sh->log);
}

static Quotad__LogRecord rec_of(uint64_t seq, int64_t at_ms)
{
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.has_seq = r.has_at_ms = 1;
    r.seq = seq;
    r.at_ms = at_ms;
    return r;
}

/* Both shards' buffers hold the same records, in the same bytes. */
static int same_log(const shard *a, const shard *b)
{
    return a->log.n == b->log.n && a->log.len == b->log.len &&
           memcmp(a->log.buf, b->log.buf, a->log.len) == 0;
}

static void rnd_hold(hold *h)
{
    memset(h, 0, sizeof *h);
    h->id = (uint64_t)rnd_i64();
    h->key_id = (uint64_t)rnd_i64();
    h->amount = rnd_i64();
    h->tokens = rnd_i64();
    h->created_ms = rnd_i64();
    h->expires_ms = rnd_i64();
}

static void test_charge_same_bytes(void)
{
    static shard pb, hand; /* only .log is used */
    int bad = 0, with_hold = 0;
    for (int i = 0; i < RF_ROUNDS && !bad; i++) {
        uint64_t seq = rnd_seq(), key_id = (uint64_t)rnd_i64();
        int64_t at = rnd_i64(), charged = rnd_i64(), tokens = rnd_i64();
        hold h;
        rnd_hold(&h);
        bool held = rnd() % 2;
        with_hold += held;
        Quotad__ChargeRec cr = QUOTAD__CHARGE_REC__INIT;
        Quotad__HoldState hs;
        cr.has_key_id = cr.has_charged = cr.has_tokens = 1;
        cr.key_id = key_id;
        cr.charged = charged;
        cr.tokens = tokens;
        if (held) {
            rec_hold_state(&h, &hs);
            cr.hold = &hs;
        }
        Quotad__LogRecord r = rec_of(seq, at);
        r.change_case = QUOTAD__LOG_RECORD__CHANGE_CHARGE;
        r.charge = &cr;
        rec_append(&pb, &r);
        rec_append_charge(&hand, seq, at, key_id, charged, tokens,
                          held ? &h : NULL);
        bad = !same_log(&pb, &hand);
    }
    T_EQ_I64(bad, 0);
    T_CHECK(with_hold > RF_ROUNDS / 4 && with_hold < RF_ROUNDS * 3 / 4);
    T_EQ_I64(hand.log.n, RF_ROUNDS); /* the buffer grew many times */
    log_free(&pb);
    log_free(&hand);
}

static void test_settle_same_bytes(void)
{
    static shard pb, hand;
    int bad = 0;
    for (int i = 0; i < RF_ROUNDS && !bad; i++) {
        uint64_t seq = rnd_seq();
        int64_t at = rnd_i64();
        Quotad__SettleRec sr = QUOTAD__SETTLE_REC__INIT;
#define MAYBE(f, v) (sr.has_##f = rnd() % 2, sr.f = (v))
        MAYBE(hold_id, (uint64_t)rnd_i64());
        MAYBE(amount, rnd_i64());
        MAYBE(tokens, rnd_i64());
        MAYBE(overrun_max, rnd_i64());
        MAYBE(charged, rnd_i64());
#undef MAYBE
        Quotad__LogRecord r = rec_of(seq, at);
        r.change_case = QUOTAD__LOG_RECORD__CHANGE_SETTLE;
        r.settle = &sr;
        rec_append(&pb, &r);
        rec_append_settle(&hand, seq, at, &sr);
        bad = !same_log(&pb, &hand);
    }
    T_EQ_I64(bad, 0);
    log_free(&pb);
    log_free(&hand);
}

static void test_deny_same_bytes(void)
{
    static shard pb, hand;
    int bad = 0;
    for (int i = 0; i < RF_ROUNDS && !bad; i++) {
        uint64_t seq = rnd_seq(), key_id = (uint64_t)rnd_i64();
        int64_t at = rnd_i64();
        uint32_t ws = (uint32_t)rnd_i64(), decision = (uint32_t)(rnd() % 12);
        Quotad__DenyRec dr = QUOTAD__DENY_REC__INIT;
        dr.has_workspace_id = dr.has_key_id = dr.has_decision = 1;
        dr.workspace_id = ws;
        dr.key_id = key_id;
        dr.decision = decision;
        Quotad__LogRecord r = rec_of(seq, at);
        r.change_case = QUOTAD__LOG_RECORD__CHANGE_DENY;
        r.deny = &dr;
        rec_append(&pb, &r);
        rec_append_deny(&hand, seq, at, ws, key_id, decision);
        bad = !same_log(&pb, &hand);
    }
    T_EQ_I64(bad, 0);
    log_free(&pb);
    log_free(&hand);
}

/* What recovery reads back: the frame header and the decoded fields. */
static void test_decodes_back(void)
{
    static shard sh;
    rec_append_charge(&sh, 7, -5, UINT64_MAX, INT64_MIN, -1, NULL);
    rec_append_deny(&sh, UINT64_MAX, INT64_MAX, UINT32_MAX, 0, 11);
    T_EQ_I64(sh.log.n, 2);
    uint32_t len;
    uint64_t seq;
    memcpy(&len, sh.log.buf, sizeof len);
    memcpy(&seq, sh.log.buf + 4, sizeof seq);
    T_EQ_I64(seq, 7);
    Quotad__LogRecord *r = quotad__log_record__unpack(
        NULL, len, sh.log.buf + REC_FRAME_BYTES);
    T_REQUIRE(r != NULL && r->change_case ==
                               QUOTAD__LOG_RECORD__CHANGE_CHARGE);
    T_CHECK(r->seq == 7 && r->at_ms == -5 && r->charge->key_id == UINT64_MAX &&
            r->charge->charged == INT64_MIN && r->charge->tokens == -1 &&
            r->charge->hold == NULL && r->charge->idem == NULL);
    quotad__log_record__free_unpacked(r, NULL);
    size_t off = REC_FRAME_BYTES + len;
    memcpy(&len, sh.log.buf + off, sizeof len);
    memcpy(&seq, sh.log.buf + off + 4, sizeof seq);
    T_CHECK(seq == UINT64_MAX);
    T_EQ_I64(off + REC_FRAME_BYTES + len, sh.log.len);
    r = quotad__log_record__unpack(NULL, len,
                                   sh.log.buf + off + REC_FRAME_BYTES);
    T_REQUIRE(r != NULL && r->change_case == QUOTAD__LOG_RECORD__CHANGE_DENY);
    T_CHECK(r->seq == UINT64_MAX && r->at_ms == INT64_MAX &&
            r->deny->workspace_id == UINT32_MAX && r->deny->key_id == 0 &&
            r->deny->decision == 11);
    quotad__log_record__free_unpacked(r, NULL);
    log_free(&sh);
}

int main(void)
{
    T_RUN(test_charge_same_bytes);
    T_RUN(test_settle_same_bytes);
    T_RUN(test_deny_same_bytes);
    T_RUN(test_decodes_back);
    return t_done();
}
