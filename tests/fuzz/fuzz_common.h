/* fuzz_common -- helpers shared by the libFuzzer targets and mkseeds.
 *
 * Header-only (static inline) so each target stays one .c file:
 *   fz_secret          the fixed, well-formed secrets the request fuzzer's
 *                      store knows (seeds use them to reach deep check code)
 *   fz_die             report a broken invariant and abort (a finding)
 *   fz_store_check     structural invariants of a store (after recovery)
 *   fz_store_exercise  serve a (recovered) store: views, checks with the
 *                      fixed secrets, then expire every hold, as the
 *                      running daemon would
 *
 * Every target is built with -fsanitize=fuzzer,address,undefined; an abort
 * here, a sanitizer report or a failed assert in the core is a finding.
 */
#ifndef QD_FUZZ_COMMON_H
#define QD_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "chunk.h"
#include "keyfmt.h"
#include "limits.h"
#include "ops.h"
#include "qd_frame.h"
#include "quotad.pb-c.h"
#include "rec.h"
#include "store.h"

/* The fake clock starts here: 2026-01-05 00:00:00 UTC, a Monday, so day,
 * ISO week and month windows all begin at once. Never 0: a zero clock
 * would make "rotated with grace 0" look like "no previous secret". */
#define FZ_T0_MS INT64_C(1767571200000)
/* Fixed secrets: index 0..FZ_SECRETS-1, of workspace fz_secret_ws(n)
 * (see fuzz_request.c for the keys they are installed on). */
#define FZ_SECRETS 5u
#define FZ_SECRET_BUF (sizeof(KEYFMT_PREFIX_DEFAULT) - 1u + KEYFMT_HEX_CHARS + 1u)
/* Scratch stores for recovery fuzzing: few shards, small idem rings. */
#define FZ_SCRATCH_IDEM_ENTRIES 64u
/* Far enough in the future that every sane hold has expired. */
#define FZ_FAR_FUTURE_MS (FZ_T0_MS + INT64_C(400) * 86400000)
/* Above this many items per shard the O(n^2) tag check is skipped. */
#define FZ_CHECK_ITEMS_MAX 2048u

__attribute__((noreturn, format(printf, 1, 2)))
static inline void fz_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FUZZ INVARIANT BROKEN: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

static inline void fz_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Workspace of fixed secret n: 0 and 1 in ws 1, the others in ws 2. */
static inline uint32_t fz_secret_ws(unsigned n)
{
    return n < 2u ? 1u : 2u;
}

/* The 32-byte body of fixed secret n for workspace ws_id: deterministic
 * "random" part, the workspace, the XXH3 checksum (docs: key format). */
static inline void fz_secret_body(uint32_t ws_id, unsigned n,
                                  uint8_t body[KEYFMT_BODY_BYTES])
{
    for (unsigned i = 0; i < KEYFMT_RANDOM_BYTES; i++)
        body[i] = (uint8_t)(0x5au ^ (n * 31u + i * 7u + 1u));
    fz_put_be32(body + KEYFMT_RANDOM_BYTES, ws_id);
    uint32_t sum = (uint32_t)XXH3_64bits_withSeed(body, KEYFMT_RANDOM_BYTES + 4u,
                                                  KEYFMT_CHECKSUM_SEED);
    fz_put_be32(body + KEYFMT_RANDOM_BYTES + 4u, sum);
}

/* "sk-" + 64 lowercase hex of fz_secret_body. */
static inline void fz_secret(uint32_t ws_id, unsigned n,
                             char out[FZ_SECRET_BUF])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t body[KEYFMT_BODY_BYTES];
    fz_secret_body(ws_id, n, body);
    size_t p = strlen(KEYFMT_PREFIX_DEFAULT);
    memcpy(out, KEYFMT_PREFIX_DEFAULT, p);
    for (unsigned i = 0; i < KEYFMT_BODY_BYTES; i++) {
        out[p++] = hex[body[i] >> 4];
        out[p++] = hex[body[i] & 15u];
    }
    out[p] = '\0';
}


/* Invariants the server relies on, whatever records built the store:
 *  - every secret tag points at a live key of the same shard (a dangling
 *    tag is a use-after-free on the next check with that secret);
 *  - every key is found by its current tag and listed in its workspace;
 *  - the hold index and the expiry heap agree, and each workspace's
 *    `reserved` is the sum of its open holds (settle asserts >= 0). */
static inline void fz_store_check(store *st)
{
    for (uint32_t s = 0; s < st->opt.shards; s++) {
        shard *sh = &st->shards[s];
        size_t pos = 0;
        uint64_t id;
        void *v;
        size_t tags = 0, keys = 0;
        bool alt;
        while (tagtab_next(&sh->by_tag, &pos, &v, &alt)) {
            key *k = v; /* a dangling tag is a use-after-free here (ASan) */
            if (do_key_find(sh, k->id) != k)
                fz_die("shard %u: a tag points at no live key", s);
            if (alt && key_prev_expires(k) == 0)
                fz_die("key %llu: previous-secret tag without a previous "
                       "secret", (unsigned long long)k->id);
            tags++;
        }
        pos = 0;
        while (htab_next(&sh->wss, &pos, &id, &v)) {
            workspace *w = v;
            for (uint32_t i = 0; i < w->n_keys; i++) {
                key *k = ws_key_at(w, i);
                bool prev = false;
                if (key_ws_id(k) != w->id ||
                    (i > 0 && ws_key_at(w, i - 1)->id >= k->id))
                    fz_die("workspace %u: key list broken", w->id);
                if (tagtab_get(&sh->by_tag, keyfmt_tag(&k->hash), &prev) != k ||
                    prev)
                    fz_die("key %llu not found by its own tag",
                           (unsigned long long)k->id);
                keys += 1 + (key_prev_expires(k) != 0);
            }
        }
        if (keys != tags)
            fz_die("shard %u: %zu tags for %zu key secrets", s, tags, keys);
        if (sh->heap_n != sh->holds.count)
            fz_die("shard %u: %u holds in heap, %zu indexed", s, sh->heap_n,
                   sh->holds.count);
        for (uint32_t i = 0; i < sh->heap_n; i++) {
            if (sh->heap[i]->heap_idx != i ||
                htab_get(&sh->holds, sh->heap[i]->id) != sh->heap[i])
                fz_die("shard %u: heap slot %u inconsistent", s, i);
            if (i > 0 &&
                sh->heap[(i - 1) / 2]->expires_ms > sh->heap[i]->expires_ms)
                fz_die("shard %u: heap order broken at %u", s, i);
        }
        pos = 0;
        while (htab_next(&sh->wss, &pos, &id, &v)) {
            workspace *w = v;
            int64_t sum = 0;
            for (uint32_t i = 0; i < sh->heap_n; i++)
                if ((uint32_t)(sh->heap[i]->id >> 32) == w->id &&
                    __builtin_add_overflow(sum, sh->heap[i]->amount, &sum))
                    fz_die("workspace %u: holds overflow int64", w->id);
            if (sum != w->reserved)
                fz_die("workspace %u: reserved %lld but holds sum %lld",
                       w->id, (long long)w->reserved, (long long)sum);
        }
    }
}

/* Pack one request in a frame, run it through ops_handle_frame and check
 * the reply decodes with one reply; returns it (caller frees) or NULL if
 * the request did not encode. */
static inline Quotad__ServerFrame *fz_call(store *st, Quotad__Request *rq)
{
    Quotad__Request *one = rq;
    Quotad__ClientFrame f = QUOTAD__CLIENT_FRAME__INIT;
    f.has_version = 1;
    f.version = PROTO_VERSION;
    f.n_requests = 1;
    f.requests = &one;
    size_t n = quotad__client_frame__get_packed_size(&f);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        fz_die("out of memory");
    quotad__client_frame__pack(&f, buf);
    ops_reply out;
    if (ops_handle_frame(st, buf, n, &out) != 0)
        fz_die("ops_handle_frame failed (allocation) on a %zu-byte frame", n);
    free(buf);
    uint32_t body = 0;
    if (qd_frame_peek(out.frame, out.len, FRAME_BYTES_MAX, &body) !=
            QD_FRAME_READY || (size_t)body + FRAME_HEADER_BYTES != out.len)
        fz_die("reply frame is not one whole frame");
    Quotad__ServerFrame *sf = quotad__server_frame__unpack(
        NULL, body, out.frame + FRAME_HEADER_BYTES);
    if (sf == NULL || sf->n_replies != 1)
        fz_die("reply does not decode as a ServerFrame with one reply");
    ops_reply_free(&out);
    return sf;
}

/* One debit check of amount 1 with fixed secret n. */
static inline void fz_check_secret(store *st, unsigned n)
{
    char secret[FZ_SECRET_BUF];
    fz_secret(fz_secret_ws(n), n, secret);
    Quotad__Check ck = QUOTAD__CHECK__INIT;
    ck.secret = secret;
    ck.has_amount = 1;
    ck.amount = 1;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CHECK;
    rq.check = &ck;
    quotad__server_frame__free_unpacked(fz_call(st, &rq), NULL);
}

/* Serve a recovered store as the daemon would right after a restart:
 * read every workspace (up to a few) and list its keys, run a check with
 * each fixed secret (records may carry their hashes: mkseeds' do not, a
 * crafted repro may), then let every hold expire as the sweeper does. */
static inline void fz_store_exercise(store *st)
{
    enum { WS_VIEWS_MAX = 8 };
    uint32_t ids[WS_VIEWS_MAX];
    unsigned n = 0;
    for (uint32_t s = 0; s < st->opt.shards && n < WS_VIEWS_MAX; s++) {
        size_t pos = 0;
        uint64_t id;
        void *v;
        while (n < WS_VIEWS_MAX && htab_next(&st->shards[s].wss, &pos, &id, &v))
            ids[n++] = (uint32_t)id;
    }
    for (unsigned i = 0; i < n; i++) {
        Quotad__WorkspaceRef wr = QUOTAD__WORKSPACE_REF__INIT;
        wr.has_workspace_id = 1;
        wr.workspace_id = ids[i];
        Quotad__Request rq = QUOTAD__REQUEST__INIT;
        rq.op_case = QUOTAD__REQUEST__OP_GET_WORKSPACE;
        rq.get_workspace = &wr;
        quotad__server_frame__free_unpacked(fz_call(st, &rq), NULL);
        Quotad__ListKeys lk = QUOTAD__LIST_KEYS__INIT;
        lk.has_workspace_id = lk.has_limit = 1;
        lk.workspace_id = ids[i];
        lk.limit = LIST_PAGE_MAX;
        rq.op_case = QUOTAD__REQUEST__OP_LIST_KEYS;
        rq.list_keys = &lk;
        quotad__server_frame__free_unpacked(fz_call(st, &rq), NULL);
    }
    for (unsigned i = 0; i < FZ_SECRETS; i++)
        fz_check_secret(st, i);
    while (store_sweep(st, 0, st->opt.shards, FZ_FAR_FUTURE_MS) > 0)
        ;
}

/* A fresh in-memory store for replaying records, like recovery's. */
static inline store *fz_scratch_open(uint32_t shards)
{
    store_opts o;
    store_opts_default(&o);
    o.shards = shards;
    o.idem_entries_per_shard = FZ_SCRATCH_IDEM_ENTRIES;
    store *st = NULL;
    if (store_open(&o, &st) != 0)
        fz_die("store_open failed");
    return st;
}

/* What recover.c's apply_chunk does with one records area: decode each
 * record and rec_apply it; stop at the first undecodable or rejected one
 * (recovery refuses to start there). Returns records applied. */
static inline unsigned fz_apply_records(store *st, const uint8_t *raw,
                                        size_t raw_len)
{
    size_t pos = 0;
    const uint8_t *p;
    size_t len;
    unsigned applied = 0;
    char err[256];
    while (chunk_record_next(raw, raw_len, &pos, &p, &len) == CHUNK_OK) {
        if (pos > raw_len || p < raw || p + len > raw + raw_len)
            fz_die("chunk_record_next: record outside the area");
        Quotad__LogRecord *r = quotad__log_record__unpack(NULL, len, p);
        if (r == NULL)
            break;
        err[0] = '\0';
        rec_result rr = rec_apply(st, r, err, sizeof err);
        quotad__log_record__free_unpacked(r, NULL);
        if (rr < 0)
            break;
        applied++;
    }
    return applied;
}

#endif
