/* ops_check -- check-and-debit, settle and void: the hot path.
 *
 * A check parses and hashes the secret before taking any lock (a malformed
 * key never touches a shard), then takes exactly one shard lock: the
 * key's workspace's shard, where its wallet and holds live too.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "ipnet.h"
#include "keyfmt.h"
#include "limits.h"
#include "log.h"
#include "ops_internal.h"
#include "quota.h"
#include "rec.h"
#include "stats.h"

_Static_assert(DEC_INSUFFICIENT_CREDITS ==
                   (int)QUOTAD__DECISION__INSUFFICIENT_CREDITS,
               "quota decisions mirror the protocol");
_Static_assert(DEC_RATE_LIMITED == (int)QUOTAD__DECISION__RATE_LIMITED,
               "quota decisions mirror the protocol");

/* What an idempotent retry gets back: the first answer. */
typedef struct check_answer {
    int64_t charged, quota_remaining, wallet_balance;
    int64_t rpm_remaining, tpm_remaining, rate_reset_ms, retry_after_ms;
    uint64_t key_id, hold_id, seq;
    uint64_t log_seq;          /* seq of the record this answer logged */
    int32_t decision;
} check_answer;
_Static_assert(sizeof(check_answer) <= IDEM_ANSWER_BYTES, "fits idem entry");

typedef struct settle_answer {
    int64_t charged, refunded, quota_remaining, wallet_balance;
    uint64_t seq;
} settle_answer;
_Static_assert(sizeof(settle_answer) <= IDEM_ANSWER_BYTES, "fits idem");

static bool len_ok(const char *s, size_t max)
{
    return s == NULL || strlen(s) <= max;
}

static int validate_check(const Quotad__Check *ck, int64_t *amount_min)
{
    int64_t amt = ck->amount;
    *amount_min = (ck->hold && ck->has_amount_min) ? ck->amount_min : amt;
    return amt >= 0 && amt <= AMOUNT_MICRO_MAX && *amount_min >= 0 &&
           *amount_min <= amt && ck->tokens >= 0 && ck->tokens <= TOKENS_MAX &&
           ck->hold_timeout_ms <= HOLD_TIMEOUT_MS_MAX &&
           ck->deadline_ms >= 0 &&
           len_ok(ck->model, MODEL_BYTES_MAX) &&
           len_ok(ck->client_ip, IPNET_TEXT_BYTES_MAX) &&
           len_ok(ck->idempotency_id, IDEMPOTENCY_ID_BYTES_MAX);
}

static uint64_t check_input_hash(const Quotad__Check *ck, int64_t amount_min)
{
    /* amounts, then the model (validated <= MODEL_BYTES_MAX) */
    uint8_t buf[4 * sizeof(int64_t) + MODEL_BYTES_MAX + 1];
    int64_t nums[4] = {ck->amount, amount_min, ck->tokens, ck->hold};
    memcpy(buf, nums, sizeof(nums));
    size_t n = sizeof(nums);
    if (ck->model != NULL) {
        size_t m = strlen(ck->model);
        assert(m <= MODEL_BYTES_MAX);
        memcpy(buf + n, ck->model, m + 1);
        n += m + 1;
    }
    return XXH3_64bits(buf, n);
}

static void reply_check(op_ctx *c, Quotad__Reply *rp, const check_answer *a,
                        uint32_t ws_id, bool replayed)
{
    if (!replayed && a->decision == DEC_ALLOWED) {
        STAT_INC(checks_allowed);
    } else if (!replayed) {
        STAT_INC(checks_denied);
    }
    Quotad__CheckReply *cr = arena_alloc(c->ar, sizeof(*cr));
    if (cr == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    quotad__check_reply__init(cr);
    cr->has_decision = 1;
    cr->decision = (Quotad__Decision)a->decision;
    cr->has_key_id = a->key_id != 0;
    cr->key_id = a->key_id;
    cr->has_workspace_id = ws_id != 0;
    cr->workspace_id = ws_id;
    cr->has_charged = cr->has_quota_remaining = cr->has_wallet_balance = 1;
    cr->charged = a->charged;
    cr->quota_remaining = a->quota_remaining;
    cr->wallet_balance = a->wallet_balance;
    cr->has_rpm_remaining = cr->has_tpm_remaining = 1;
    cr->rpm_remaining = a->rpm_remaining;
    cr->tpm_remaining = a->tpm_remaining;
    cr->has_rate_reset_ms = cr->has_retry_after_ms = 1;
    cr->rate_reset_ms = a->rate_reset_ms;
    cr->retry_after_ms = a->retry_after_ms;
    cr->has_hold_id = a->hold_id != 0;
    cr->hold_id = a->hold_id;
    cr->has_replayed = replayed;
    cr->replayed = replayed;
    rp->check = cr;
    rp->result_case = QUOTAD__REPLY__RESULT_CHECK;
    op_seq(c, rp, a->seq);
    if (a->log_seq > c->seq_max) {
        c->seq_max = a->log_seq; /* the reply waits for its usage record */
    }
}

/* Everything the locked part of a check needs. */
typedef struct check_job {
    const Quotad__Check *ck;
    quota_in in;
    keyfmt_hash hash;
    uint32_t ws_id;
    uint64_t in_hash;
} check_job;

/* Pre-index a hold so that, once the check allows, nothing can fail; a
 * deny removes it again. */
static hold *hold_prepare(op_ctx *c, shard *sh, workspace *w, key *k,
                          const check_job *j, Quotad__Code *code)
{
    hold *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        *code = QUOTAD__CODE__INTERNAL;
        return NULL;
    }
    uint32_t t = j->ck->hold_timeout_ms ? j->ck->hold_timeout_ms
                                        : c->st->opt.hold_timeout_ms;
    h->id = do_hold_new_id(sh, w);
    h->key_id = k->id;
    h->created_ms = c->now_ms;
    h->expires_ms = c->now_ms + t;
    int rc = do_hold_insert(sh, h);
    if (rc != 0) {
        free(h);
        *code = rc == -2 ? QUOTAD__CODE__LIMIT_REACHED : QUOTAD__CODE__INTERNAL;
        return NULL;
    }
    return h;
}

/* Run the checks on an identified key (lock held) and fill a; *placed is
 * the hold an allowed check placed, if any. */
static Quotad__Code check_locked(op_ctx *c, shard *sh, key *k, bool is_prev,
                                 const check_job *j, check_answer *a,
                                 hold **placed)
{
    workspace *w = do_ws_find(sh, key_ws_id(k));
    assert(w != NULL);
    quota_out out;
    hold *h = NULL;
    if (is_prev && c->now_ms >= key_prev_expires(k)) {
        memset(&out, 0, sizeof(out));
        out.decision = DEC_REVOKED_API_KEY;
        out.rpm_remaining = out.tpm_remaining = LIMIT_NONE;
        quota_note(k, w, out.decision, 0, 0, c->now_ms);
    } else {
        Quotad__Code code = QUOTAD__CODE__OK;
        if (j->ck->hold && (h = hold_prepare(c, sh, w, k, j, &code)) == NULL) {
            return code;
        }
        quota_check(k, w, &j->in, c->now_ms, &out);
    }
    if (h != NULL && out.decision != DEC_ALLOWED) {
        do_hold_remove(sh, h);
        free(h);
        h = NULL;
    }
    if (h != NULL) {
        h->amount = out.charged;
        h->tokens = j->in.tokens;
        w->reserved += out.charged;
    }
    *a = (check_answer){
        .decision = out.decision, .charged = out.charged,
        .quota_remaining = k->quota_remaining, .wallet_balance = w->balance,
        .rpm_remaining = out.rpm_remaining, .tpm_remaining = out.tpm_remaining,
        .rate_reset_ms = out.rate_reset_ms,
        .retry_after_ms = out.retry_after_ms, .key_id = k->id,
        .hold_id = h ? h->id : 0,
        .seq = out.decision == DEC_ALLOWED ? store_next_seq(c->st)
                                           : store_current_seq(c->st)};
    /* A deny moves no money (its reply reports the seq of the state it
     * saw) but its usage count is a change: logged under a seq of its own. */
    a->log_seq = out.decision == DEC_ALLOWED ? a->seq : store_next_seq(c->st);
    if (out.decision == DEC_ALLOWED) {
        do_alert_eval(c->st, w, k, c->now_ms); /* after the change's seq */
    }
    *placed = h;
    return QUOTAD__CODE__OK;
}

/* Log an allowed check: the charge, the hold it placed, the answer an
 * idempotent retry must get. */
static void log_charge(op_ctx *c, shard *sh, const key *k, int64_t tokens,
                       const check_answer *a, const hold *h,
                       const idem_entry *e)
{
    if (c->st->plog == NULL) {
        return;
    }
    if (e == NULL) {
        rec_append_charge(sh, a->seq, c->now_ms, k->id, a->charged, tokens,
                          h);
        return;
    }
    Quotad__ChargeRec cr = QUOTAD__CHARGE_REC__INIT;
    Quotad__HoldState hs;
    Quotad__IdemState is;
    cr.has_key_id = cr.has_charged = cr.has_tokens = 1;
    cr.key_id = k->id;
    cr.charged = a->charged;
    cr.tokens = tokens;
    if (h != NULL) {
        rec_hold_state(h, &hs);
        cr.hold = &hs;
    }
    if (e != NULL) {
        rec_idem_state(key_ws_id(k), e, &is);
        cr.idem = &is;
    }
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_CHARGE;
    r.charge = &cr;
    op_log(c, sh, &r, a->seq);
}

/* Log a denied check for usage (k NULL: unknown key of workspace ws). */
static void log_deny(op_ctx *c, shard *sh, uint32_t ws, const key *k,
                     int decision, uint64_t seq)
{
    if (c->st->plog == NULL) {
        return;
    }
    rec_append_deny(sh, seq, c->now_ms, ws, k ? k->id : 0,
                    (uint32_t)decision);
}

/* A well-formed secret of an existing workspace that names no key: count
 * it in the workspace's usage (a guessing attempt is worth seeing). */
static void note_unknown_key(op_ctx *c, shard *sh, uint32_t ws_id,
                             check_answer *a)
{
    workspace *w = do_ws_find(sh, ws_id);
    if (w == NULL) {
        return;
    }
    quota_note(NULL, w, DEC_INVALID_API_KEY, 0, 0, c->now_ms);
    a->log_seq = store_next_seq(c->st);
    log_deny(c, sh, ws_id, NULL, DEC_INVALID_API_KEY, a->log_seq);
}

/* Lock, identify, replay or check, remember. */
static void check_shard(op_ctx *c, check_job *j, Quotad__Reply *rp)
{
    const char *idem = j->ck->idempotency_id;
    bool use_idem = idem != NULL && idem[0] != '\0';
    shard *sh = store_shard_of(c->st, j->ws_id);
    check_answer a = {.decision = DEC_INVALID_API_KEY};
    store_lock(sh);
    bool is_prev = false;
    key *k = do_key_by_hash(sh, j->ws_id, &j->hash, &is_prev);
    if (k == NULL) {
        a.seq = store_current_seq(c->st);
        a.quota_remaining = a.rpm_remaining = a.tpm_remaining = LIMIT_NONE;
        note_unknown_key(c, sh, j->ws_id, &a);
        store_unlock(sh);
        reply_check(c, rp, &a, 0, false);
        return;
    }
    idem_key ik = {0, 0};
    if (use_idem) {
        ik = idem_make_key(k->id, 'C', idem, strlen(idem));
        int seen = op_idem_lookup(c, sh, ik, j->in_hash, &a, sizeof(a), rp);
        if (seen != 0) {
            store_unlock(sh);
            if (seen == 1) {
                reply_check(c, rp, &a, j->ws_id, true);
            }
            return;
        }
    }
    /* After the idempotency lookup: a retry of a check that ran must learn
     * that it ran, whatever the time. One that has not run and is late is
     * refused with no effect and nothing remembered, so every later copy
     * under the same deadline is refused too: the client that gave up on
     * it is never charged behind its back. */
    if (j->ck->deadline_ms != 0 && c->now_ms > j->ck->deadline_ms) {
        store_unlock(sh);
        STAT_INC(checks_past_deadline);
        op_fail(c, rp, QUOTAD__CODE__DEADLINE_EXCEEDED,
                "deadline passed before the check ran; nothing applied");
        return;
    }
    hold *placed = NULL;
    Quotad__Code code = check_locked(c, sh, k, is_prev, j, &a, &placed);
    if (code == QUOTAD__CODE__OK && use_idem &&
        idem_put(&sh->idem, ik, j->ws_id, j->in_hash, &a, sizeof(a), c->now_ms) != 0) {
        log_warn("idempotency table: out of memory");
    }
    if (code == QUOTAD__CODE__OK && a.decision == DEC_ALLOWED) {
        log_charge(c, sh, k, j->in.tokens, &a, placed,
                   use_idem ? idem_find(&sh->idem, ik, c->now_ms) : NULL);
    } else if (code == QUOTAD__CODE__OK) {
        log_deny(c, sh, key_ws_id(k), k, a.decision, a.log_seq);
    }
    store_unlock(sh);
    if (code != QUOTAD__CODE__OK) {
        op_fail(c, rp, code, code == QUOTAD__CODE__LIMIT_REACHED
                                 ? "too many open holds"
                                 : "out of memory");
        return;
    }
    reply_check(c, rp, &a, j->ws_id, false);
}

/* Parse and hash the secret of a check whose arguments are valid: the
 * part of a check that needs neither a session nor a lock. */
static void check_secret_prepare(const store *st, const Quotad__Check *ck,
                                 ops_check_prep *out)
{
    uint8_t body[KEYFMT_BODY_BYTES];
    const char *s = ck->secret ? ck->secret : "";
    size_t slen = strnlen(s, SECRET_CHARS_MAX + 1);
    memset(out, 0, sizeof(*out));
    if (slen > SECRET_CHARS_MAX ||
        keyfmt_parse(st->opt.key_prefix, s, slen, body, &out->ws_id) != 0) {
        out->state = OPS_CHECK_BAD_SECRET;
        return;
    }
    keyfmt_hash_body(body, &out->hash);
    out->tag = keyfmt_tag(&out->hash);
    out->state = OPS_CHECK_READY;
}

ops_check_prep *op_checks_prepare(const store *st,
                                  const Quotad__ClientFrame *f, fheap *heap)
{
    ops_check_prep *cp = NULL;
    for (size_t i = 0; i < f->n_requests; i++) {
        const Quotad__Request *rq = f->requests[i];
        int64_t amount_min = 0;
        if (rq->op_case != QUOTAD__REQUEST__OP_CHECK ||
            !validate_check(rq->check, &amount_min)) {
            continue;
        }
        if (cp == NULL) {
            cp = fheap_alloc(heap, f->n_requests * sizeof(*cp));
            if (cp == NULL) {
                return NULL;
            }
            memset(cp, 0, f->n_requests * sizeof(*cp));
        }
        check_secret_prepare(st, rq->check, &cp[i]);
    }
    return cp;
}

void op_check(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    check_job j = {.ck = rq->check};
    const Quotad__Check *ck = rq->check;
    int64_t amount_min = 0;
    if (!validate_check(ck, &amount_min)) {
        op_fail(c, rp, QUOTAD__CODE__INVALID_ARGUMENT,
                "amount, amount_min, tokens, hold_timeout_ms, deadline_ms or a "
                "string out of range");
        return;
    }
    ipnet_addr ip;
    bool has_ip = ck->client_ip != NULL && ck->client_ip[0] != '\0' &&
                  ipnet_parse_addr(ck->client_ip, strlen(ck->client_ip),
                                   &ip) == 0;
    j.in = (quota_in){.model = ck->model,
                      .model_len = ck->model ? strlen(ck->model) : 0,
                      .ip = has_ip ? &ip : NULL,
                      .amount = ck->amount,
                      .amount_min = amount_min,
                      .tokens = ck->tokens};
    j.in_hash = check_input_hash(ck, amount_min);
    ops_check_prep local;
    const ops_check_prep *cp = c->ck_prep;
    if (cp == NULL || cp->state == OPS_CHECK_UNPREPARED) {
        check_secret_prepare(c->st, ck, &local);
        cp = &local;
    }
    if (cp->state != OPS_CHECK_READY) {
        check_answer a = {.decision = DEC_INVALID_API_KEY,
                          .quota_remaining = LIMIT_NONE,
                          .rpm_remaining = LIMIT_NONE,
                          .tpm_remaining = LIMIT_NONE,
                          .seq = store_current_seq(c->st)};
        reply_check(c, rp, &a, 0, false);
        return;
    }
    if (!auth_ws_allowed(c->sess, cp->ws_id)) {
        op_fail(c, rp, QUOTAD__CODE__PERMISSION_DENIED,
                "this gateway may not check keys of that workspace");
        return;
    }
    j.ws_id = cp->ws_id;
    j.hash = cp->hash;
    check_shard(c, &j, rp);
}

/* ---- settle and void ---- */

static void reply_settle(op_ctx *c, Quotad__Reply *rp, const settle_answer *a,
                         bool replayed)
{
    Quotad__SettleReply *sr = arena_alloc(c->ar, sizeof(*sr));
    if (sr == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    quotad__settle_reply__init(sr);
    sr->has_charged = sr->has_refunded = 1;
    sr->charged = a->charged;
    sr->refunded = a->refunded;
    sr->has_quota_remaining = sr->has_wallet_balance = 1;
    sr->quota_remaining = a->quota_remaining;
    sr->wallet_balance = a->wallet_balance;
    sr->has_replayed = replayed;
    sr->replayed = replayed;
    rp->settle = sr;
    rp->result_case = QUOTAD__REPLY__RESULT_SETTLE;
    op_seq(c, rp, a->seq);
}

/* Settle (is_void false) or void hold_id; lock held by the caller. */
static Quotad__Code settle_locked(op_ctx *c, shard *sh, uint64_t hold_id,
                                  int64_t amount, int64_t tokens,
                                  bool is_void, settle_answer *a,
                                  Quotad__SettleRec *rec)
{
    hold *h = do_hold_find(sh, hold_id);
    if (h == NULL) {
        return QUOTAD__CODE__NOT_FOUND;
    }
    if (c->now_ms >= h->expires_ms) {
        do_hold_release(c->st, sh, h, c->now_ms);
        free(h);
        return QUOTAD__CODE__NOT_FOUND;
    }
    workspace *w = do_ws_find(sh, (uint32_t)(hold_id >> 32));
    assert(w != NULL);
    key *k = do_key_find(sh, h->key_id);
    quota_settle_out so;
    *rec = (Quotad__SettleRec)QUOTAD__SETTLE_REC__INIT;
    rec->has_hold_id = rec->has_amount = rec->has_tokens = 1;
    rec->has_overrun_max = rec->has_charged = 1;
    rec->hold_id = hold_id;
    rec->amount = is_void ? 0 : amount;
    rec->tokens = is_void ? 0 : tokens;
    rec->overrun_max = is_void ? 0 : c->st->opt.settle_overrun_micro;
    quota_settle(k, w, h, rec->amount, rec->tokens, rec->overrun_max,
                 c->now_ms, &so);
    rec->charged = so.charged;
    do_hold_remove(sh, h);
    free(h);
    *a = (settle_answer){.charged = so.charged, .refunded = so.refunded,
                         .quota_remaining = k ? k->quota_remaining
                                              : LIMIT_NONE,
                         .wallet_balance = w->balance,
                         .seq = store_next_seq(c->st)};
    do_alert_eval(c->st, w, k, c->now_ms);
    return QUOTAD__CODE__OK;
}

/* Log a settle, void or its idempotent answer (e, may be NULL), as
 * log_charge does for a check. */
static void log_settle(op_ctx *c, shard *sh, Quotad__SettleRec *rec,
                       const idem_entry *e, uint64_t seq)
{
    if (c->st->plog == NULL) {
        return;
    }
    if (e == NULL) {
        rec_append_settle(sh, seq, c->now_ms, rec);
        return;
    }
    Quotad__IdemState is;
    rec_idem_state((uint32_t)(rec->hold_id >> 32), e, &is);
    rec->idem = &is;
    Quotad__LogRecord r = QUOTAD__LOG_RECORD__INIT;
    r.change_case = QUOTAD__LOG_RECORD__CHANGE_SETTLE;
    r.settle = rec;
    op_log(c, sh, &r, seq);
    rec->idem = NULL;   /* is goes out of scope */
}

static void settle_common(op_ctx *c, uint64_t hold_id, int64_t amount,
                          int64_t tokens, const char *idem, bool is_void,
                          Quotad__Reply *rp)
{
    bool use_idem = idem != NULL && idem[0] != '\0';
    int64_t nums[2] = {amount, tokens};
    uint64_t in_hash = XXH3_64bits(nums, sizeof(nums));
    idem_key ik = {0, 0};
    if (use_idem) {
        ik = idem_make_key(hold_id, 'S', idem, strlen(idem));
    }
    shard *sh = store_shard_of(c->st, (uint32_t)(hold_id >> 32));
    settle_answer a;
    store_lock(sh);
    int seen = use_idem ? op_idem_lookup(c, sh, ik, in_hash, &a, sizeof(a), rp)
                        : 0;
    if (seen != 0) {
        store_unlock(sh);
        if (seen == 1) {
            reply_settle(c, rp, &a, true);
        }
        return;
    }
    Quotad__SettleRec rec;
    Quotad__Code code = settle_locked(c, sh, hold_id, amount, tokens, is_void,
                                      &a, &rec);
    if (code == QUOTAD__CODE__OK && use_idem &&
        idem_put(&sh->idem, ik, (uint32_t)(hold_id >> 32), in_hash, &a, sizeof(a), c->now_ms) != 0) {
        log_warn("idempotency table: out of memory");
    }
    if (code == QUOTAD__CODE__OK) {
        log_settle(c, sh, &rec,
                   use_idem ? idem_find(&sh->idem, ik, c->now_ms) : NULL,
                   a.seq);
    }
    store_unlock(sh);
    if (code != QUOTAD__CODE__OK) {
        op_fail(c, rp, code, "no open hold %llu (unknown, settled, voided or "
                             "expired)", (unsigned long long)hold_id);
        return;
    }
    reply_settle(c, rp, &a, false);
}

void op_settle(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    const Quotad__Settle *s = rq->settle;
    if (s->amount < 0 || s->amount > AMOUNT_MICRO_MAX || s->tokens < 0 ||
        s->tokens > TOKENS_MAX ||
        !len_ok(s->idempotency_id, IDEMPOTENCY_ID_BYTES_MAX)) {
        op_fail(c, rp, QUOTAD__CODE__INVALID_ARGUMENT,
                "amount, tokens or idempotency_id out of range");
        return;
    }
    settle_common(c, s->hold_id, s->amount, s->tokens, s->idempotency_id,
                  false, rp);
}

void op_void_hold(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    settle_common(c, rq->void_hold->hold_id, 0, 0, NULL, true, rp);
}
