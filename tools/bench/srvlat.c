/* srvlat.c -- quotad's own request-latency histogram around the measured
 * phase. A control connection of its own (not one of the load's) calls
 * the root-only stats op with reset_latency as the phase starts, and
 * reads the latency_* entries as it ends, so the report shows the
 * server-side view (read off the socket -> reply queued) next to the
 * client's (send -> reply). Another client resetting the same daemon
 * meanwhile would spoil it: one bench at a time.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#include "qc_admin.h"

/* The latency_* entries of a stats reply, in bench_srv order. */
static const char *const srv_names[] = {
    "latency_count",  "latency_p50_us",  "latency_p90_us",
    "latency_p99_us", "latency_p999_us", "latency_max_us",
};
#define SRV_NAMES (sizeof srv_names / sizeof srv_names[0])

void *srvlat_open(const bench_cfg *cfg)
{
    qc_options o = qc_options_default();
    o.host = cfg->host;
    o.port = cfg->port;
    o.timeout_ms = BENCH_TIMEOUT_MS;
    o.client_name = "quotad-bench-stats";
    qc_ctx *c = NULL;
    int rc = qc_connect(&o, &c);
    if (rc != QC_OK) {
        fprintf(stderr, "quotad-bench: no server latency (connect: %s)\n",
                qc_strerror(rc));
        return NULL;
    }
    return c;
}

void srvlat_close(void *ctl)
{
    qc_free(ctl);
}

/* Copy the named entries of r into out; 0 when all were there. */
static int srv_take(const Quotad__StatsReply *sr, bench_srv *out)
{
    uint64_t *dst[] = {&out->count,  &out->p50_us,  &out->p90_us,
                       &out->p99_us, &out->p999_us, &out->max_us};
    _Static_assert(sizeof dst / sizeof dst[0] == SRV_NAMES,
                   "one field per name");
    size_t found = 0;
    for (size_t k = 0; k < SRV_NAMES; k++) {
        for (size_t i = 0; i < sr->n_stats; i++) {
            const Quotad__Stat *s = sr->stats[i];
            if (s->name != NULL && strcmp(s->name, srv_names[k]) == 0 &&
                s->value >= 0) {
                *dst[k] = (uint64_t)s->value;
                found++;
                break;
            }
        }
    }
    return found == SRV_NAMES ? 0 : -1;
}

int srvlat_stats(void *ctl, bool reset, bench_srv *out)
{
    memset(out, 0, sizeof *out);
    qc_ctx *c = ctl;
    if (c == NULL)
        return -1;
    Quotad__Reply *r = NULL;
    int rc = qc_stats(c, reset, &r);
    if (rc != QC_OK || r == NULL || r->stats == NULL) {
        fprintf(stderr, "quotad-bench: no server latency (stats: %s %s)\n",
                qc_strerror(rc), qc_errstr(c));
        qc_reply_free(r);
        return -1;
    }
    rc = srv_take(r->stats, out);
    qc_reply_free(r);
    if (rc != 0) {
        fprintf(stderr, "quotad-bench: no server latency (this quotad's "
                        "stats have no latency_* entries)\n");
        return -1;
    }
    out->valid = true;
    return 0;
}
