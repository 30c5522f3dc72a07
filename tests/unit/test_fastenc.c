/* test_fastenc -- the hand encoder writes exactly protobuf-c's bytes for
 * every frame it accepts, and declines every frame it does not handle. */
#include <stdlib.h>
#include <string.h>

#include "fastenc.h"
#include "lib/persist_util.h"
#include "limits.h"
#include "qd_frame.h"
#include "quotad.pb-c.h"
#include "t.h"

#define FE_ROUNDS 20000
#define FE_REPLIES_MAX 8

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    return pu_rand(&rng_state);
}

static int64_t rnd_i64(void)
{
    return pu_rand_i64_edges(&rng_state);
}

static void rnd_check(Quotad__CheckReply *c)
{
    quotad__check_reply__init(c);
#define MAYBE(f, v) (c->has_##f = rnd() % 2, c->f = (v))
    MAYBE(decision, (Quotad__Decision)(rnd() % 12));
    MAYBE(key_id, (uint64_t)rnd_i64());
    MAYBE(workspace_id, (uint32_t)rnd());
    MAYBE(charged, rnd_i64());
    MAYBE(quota_remaining, rnd_i64());
    MAYBE(wallet_balance, rnd_i64());
    MAYBE(rpm_remaining, rnd_i64());
    MAYBE(tpm_remaining, rnd_i64());
    MAYBE(rate_reset_ms, rnd_i64());
    MAYBE(retry_after_ms, rnd_i64());
    MAYBE(hold_id, (uint64_t)rnd_i64());
    MAYBE(replayed, (protobuf_c_boolean)(rnd() % 2));
#undef MAYBE
}

typedef struct fe_frame {
    Quotad__ServerFrame sf;
    Quotad__Reply r[FE_REPLIES_MAX], *rp[FE_REPLIES_MAX];
    Quotad__CheckReply c[FE_REPLIES_MAX];
    Quotad__Pong p[FE_REPLIES_MAX];
    uint8_t payload[64];
    char err[300];
} fe_frame;

static void rnd_frame(fe_frame *f)
{
    quotad__server_frame__init(&f->sf);
    f->sf.has_version = rnd() % 4 != 0;
    f->sf.version = (uint32_t)(rnd() % 3);
    f->sf.n_replies = 1 + rnd() % FE_REPLIES_MAX;
    f->sf.replies = f->rp;
    size_t elen = rnd() % sizeof f->err;
    memset(f->err, 'e', elen);
    f->err[elen] = '\0';
    for (size_t i = 0; i < f->sf.n_replies; i++) {
        Quotad__Reply *r = &f->r[i];
        quotad__reply__init(r);
        f->rp[i] = r;
        r->has_id = rnd() % 2;
        r->id = (uint64_t)rnd_i64();
        r->has_code = rnd() % 2;
        r->code = (Quotad__Code)(rnd() % 16);
        r->error = rnd() % 3 == 0 ? f->err : NULL;
        r->has_seq = rnd() % 2;
        r->seq = (uint64_t)rnd_i64();
        switch (rnd() % 3) {
        case 0:
            break;
        case 1:
            rnd_check(&f->c[i]);
            r->result_case = QUOTAD__REPLY__RESULT_CHECK;
            r->check = &f->c[i];
            break;
        default:
            quotad__pong__init(&f->p[i]);
            f->p[i].has_payload = rnd() % 2;
            f->p[i].payload.len = rnd() % sizeof f->payload;
            f->p[i].payload.data = f->payload;
            r->result_case = QUOTAD__REPLY__RESULT_PONG;
            r->pong = &f->p[i];
        }
    }
}

static void test_same_bytes_as_protobuf_c(void)
{
    static fe_frame f;
    for (size_t i = 0; i < sizeof f.payload; i++) {
        f.payload[i] = (uint8_t)i;
    }
    int bad = 0;
    for (int round = 0; round < FE_ROUNDS && !bad; round++) {
        rnd_frame(&f);
        uint8_t *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        T_REQUIRE(fastenc_server_frame(&f.sf, FRAME_BYTES_MAX, &a, &alen) ==
                  1);
        T_REQUIRE(qd_frame_encode(&f.sf.base, FRAME_BYTES_MAX, &b, &blen) ==
                  0);
        bad = alen != blen || memcmp(a, b, alen) != 0;
        free(a);
        free(b);
    }
    T_EQ_I64(bad, 0);
}

static void test_declines_other_replies(void)
{
    Quotad__Reply r = QUOTAD__REPLY__INIT, *rp = &r;
    Quotad__SettleReply s = QUOTAD__SETTLE_REPLY__INIT;
    r.result_case = QUOTAD__REPLY__RESULT_SETTLE;
    r.settle = &s;
    Quotad__ServerFrame sf = QUOTAD__SERVER_FRAME__INIT;
    sf.n_replies = 1;
    sf.replies = &rp;
    uint8_t *out = NULL;
    size_t len = 0;
    T_EQ_I64(fastenc_server_frame(&sf, FRAME_BYTES_MAX, &out, &len), 0);
    T_CHECK(out == NULL);
    /* too many replies for the fast path */
    Quotad__Reply *many[FE_REPLIES_MAX + 1];
    Quotad__Reply plain = QUOTAD__REPLY__INIT;
    for (size_t i = 0; i <= FE_REPLIES_MAX; i++) {
        many[i] = &plain;
    }
    sf.n_replies = FE_REPLIES_MAX + 1;
    sf.replies = many;
    T_EQ_I64(fastenc_server_frame(&sf, FRAME_BYTES_MAX, &out, &len), 0);
}

static void test_over_max_body(void)
{
    static fe_frame f;
    rnd_frame(&f);
    uint8_t *out = NULL;
    size_t len = 0;
    T_EQ_I64(fastenc_server_frame(&f.sf, 1, &out, &len), -1);
    T_CHECK(out == NULL);
}

int main(void)
{
    T_RUN(test_same_bytes_as_protobuf_c);
    T_RUN(test_declines_other_replies);
    T_RUN(test_over_max_body);
    return t_done();
}
