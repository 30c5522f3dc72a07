/* ops_stats -- the root-only `stats` operation. */
#include <stdbool.h>
#include <stdlib.h>

#include "lathist.h"
#include "ops_internal.h"
#include "plog.h"
#include "stats.h"

#define STATS_MAX 48u

typedef struct stats_out {
    op_ctx *c;
    Quotad__Stat **v;
    size_t n;
    int oom;
} stats_out;

static void put(stats_out *o, const char *name, uint64_t value)
{
    Quotad__Stat *s = arena_alloc(o->c->ar, sizeof(*s));
    if (s == NULL || o->n >= STATS_MAX) {
        o->oom = 1;
        return;
    }
    quotad__stat__init(s);
    s->name = (char *)name; /* string literals outlive the frame */
    s->has_value = 1;
    s->value = (int64_t)value;
    o->v[o->n++] = s;
}

/* Per-shard numbers, each shard locked briefly in turn. */
static void shard_totals(store *st, uint64_t *holds, uint64_t *idem_early)
{
    *holds = *idem_early = 0;
    for (uint32_t i = 0; i < st->opt.shards; i++) {
        shard *sh = &st->shards[i];
        store_lock(sh);
        *holds += sh->heap_n;
        *idem_early += sh->idem.evicted_early;
        store_unlock(sh);
    }
}

/* The request-latency histogram (lathist.h) as latency_* entries; read,
 * then emptied if asked (a benchmark resets it before the phase it
 * measures). */
static void put_latency(stats_out *o, bool reset)
{
    lathist_summary ls;
    lathist_summarize(&g_lathist, &ls);
    if (reset)
        lathist_reset(&g_lathist);
    put(o, "latency_count", ls.count);
    put(o, "latency_p50_us", ls.p50_us);
    put(o, "latency_p90_us", ls.p90_us);
    put(o, "latency_p99_us", ls.p99_us);
    put(o, "latency_p999_us", ls.p999_us);
    put(o, "latency_max_us", ls.max_us);
}

void op_stats(op_ctx *c, const Quotad__Request *rq, Quotad__Reply *rp)
{
    stats_out o = {.c = c, .v = arena_alloc(c->ar, STATS_MAX * sizeof(void *))};
    if (o.v == NULL) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
#define QD_STATS_PUT(name) put(&o, #name, atomic_load(&g_stats.name));
    QD_STATS_LIST(QD_STATS_PUT)
#undef QD_STATS_PUT
    uint64_t holds = 0, early = 0;
    shard_totals(c->st, &holds, &early);
    put(&o, "holds_open", holds);
    put(&o, "idem_evicted_early", early);
    put(&o, "seq", store_current_seq(c->st));
    plog *pl = c->st->plog;
    if (pl != NULL) {
        uint64_t lc[PLOG_COUNTERS];
        plog_counters(pl, lc);
        put(&o, "log_durable_seq", plog_durable_seq(pl));
        put(&o, "log_commits", lc[0]);
        put(&o, "log_records", lc[1]);
        put(&o, "log_bytes", lc[2]);
        put(&o, "log_fsyncs", lc[3]);
        put(&o, "log_fsync_us", lc[4]);
        put(&o, "log_spares", lc[5]);
        put(&o, "log_gate_waits", lc[6]);
        put(&o, "log_inline_commits", lc[7]);
        put(&o, "log_failed", plog_failed(pl));
        put(&o, "snapshot_last_seq", plog_last_snapshot_seq(pl));
    }
    put_latency(&o, rq->stats != NULL && rq->stats->reset_latency);
    Quotad__StatsReply *sr = arena_alloc(c->ar, sizeof(*sr));
    if (sr == NULL || o.oom) {
        op_fail(c, rp, QUOTAD__CODE__INTERNAL, "out of memory");
        return;
    }
    quotad__stats_reply__init(sr);
    sr->stats = o.v;
    sr->n_stats = o.n;
    rp->stats = sr;
    rp->result_case = QUOTAD__REPLY__RESULT_STATS;
    op_seq(c, rp, store_current_seq(c->st));
}
