/* report.c -- print a finished run: throughput, the latency percentiles
 * (per request, from send -- or from when it was due, with --rate -- to
 * its reply), quotad's own server-side percentiles when it gave them,
 * what the server decided, and what the client itself cost (it shares
 * the cores with the server under test). */
#include "bench.h"

#include <stdio.h>

#define NS_PER_US 1000.0

static const char *const mix_names[] = {"check", "hold", "admin", "ping"};
static const char *const dist_names[] = {"uniform", "zipf"};

typedef struct report_numbers {
    double ops_per_s;
    double p50, p90, p99, p999, max, mean;   /* microseconds */
    uint64_t allowed, denied, ok, errors;
    double client_us_per_op;
    double server_us_per_op;      /* -1 when not measured */
    double late_p50, late_p99;    /* paced: client lateness, us */
} report_numbers;

static double us(int64_t ns)
{
    return (double)ns / NS_PER_US;
}

static void report_compute(const bench_result *r, report_numbers *n)
{
    n->ops_per_s = r->seconds > 0 ? (double)r->ops / r->seconds : 0.0;
    n->p50 = us(hdr_percentile(&r->hist, 50.0));
    n->p90 = us(hdr_percentile(&r->hist, 90.0));
    n->p99 = us(hdr_percentile(&r->hist, 99.0));
    n->p999 = us(hdr_percentile(&r->hist, 99.9));
    n->max = us(r->hist.max);
    n->mean = hdr_mean(&r->hist) / NS_PER_US;
    n->late_p50 = us(hdr_percentile(&r->late, 50.0));
    n->late_p99 = us(hdr_percentile(&r->late, 99.0));
    n->allowed = r->cls[0];
    n->denied = 0;
    for (int c = 1; c < CLS_DECISIONS; c++)
        n->denied += r->cls[c];
    n->ok = r->cls[CLS_OK];
    n->errors = r->cls[CLS_ERR];
    n->client_us_per_op =
        r->ops > 0 ? r->client_cpu_s * 1e6 / (double)r->ops : 0.0;
    n->server_us_per_op = r->ops > 0 && r->server_cpu_s >= 0
                              ? r->server_cpu_s * 1e6 / (double)r->ops
                              : -1.0;
}

/* quotad's own numbers, appended inside the JSON object when known. */
static void report_json_srv(const bench_srv *s)
{
    if (!s->valid)
        return;
    printf(",\"srv_count\":%llu,\"srv_p50_us\":%llu,\"srv_p90_us\":%llu,"
           "\"srv_p99_us\":%llu,\"srv_p999_us\":%llu,\"srv_max_us\":%llu",
           (unsigned long long)s->count, (unsigned long long)s->p50_us,
           (unsigned long long)s->p90_us, (unsigned long long)s->p99_us,
           (unsigned long long)s->p999_us, (unsigned long long)s->max_us);
}

static void report_json(const bench_cfg *cfg, const bench_result *r,
                        const report_numbers *n)
{
    printf("{\"target\":\"%s\",\"label\":\"%s\",\"mix\":\"%s\","
           "\"dist\":\"%s\",\"conns\":%u,\"pipeline\":%u,\"batch\":%u,"
           "\"rate\":%.0f,\"keys\":%u,\"ops\":%llu,\"seconds\":%.3f,"
           "\"ops_per_s\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
           "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
           "\"mean_us\":%.1f,\"late_p50_us\":%.1f,\"late_p99_us\":%.1f,"
           "\"allowed\":%llu,\"denied\":%llu,\"ok\":%llu,"
           "\"errors\":%llu,\"client_cpu_s\":%.3f,"
           "\"client_us_per_op\":%.3f,\"server_cpu_s\":%.3f,"
           "\"server_us_per_op\":%.3f,\"failed_workers\":%d,"
           "\"replies_total\":%llu",
           cfg->target == TARGET_QUOTAD ? "quotad" : "redis", cfg->label,
           mix_names[cfg->mix], dist_names[cfg->dist], cfg->conns,
           cfg->pipeline, cfg->batch, cfg->rate, cfg->keys,
           (unsigned long long)r->ops, r->seconds, n->ops_per_s, n->p50,
           n->p90, n->p99, n->p999, n->max, n->mean, n->late_p50,
           n->late_p99, (unsigned long long)n->allowed, (unsigned long long)n->denied,
           (unsigned long long)n->ok, (unsigned long long)n->errors,
           r->client_cpu_s, n->client_us_per_op, r->server_cpu_s,
           n->server_us_per_op, r->failed_workers,
           (unsigned long long)r->replies_total);
    report_json_srv(&r->srv);
    printf("}\n");
}

static void report_text(const bench_cfg *cfg, const bench_result *r,
                        const report_numbers *n)
{
    printf("quotad-bench %s%s%s: mix=%s dist=%s conns=%u pipeline=%u "
           "batch=%u keys=%u %s\n",
           cfg->target == TARGET_QUOTAD ? "quotad" : "redis",
           cfg->label[0] ? " " : "", cfg->label, mix_names[cfg->mix],
           dist_names[cfg->dist], cfg->conns, cfg->pipeline, cfg->batch,
           cfg->keys, cfg->rate > 0 ? "open loop" : "closed loop");
    if (cfg->rate > 0)
        printf("  target     %.0f ops/s\n", cfg->rate);
    if (r->late.total > 0)
        printf("  client late us p50 %.1f  p99 %.1f (send - due; latency "
               "below is send -> reply)\n", n->late_p50, n->late_p99);
    printf("  throughput %.0f ops/s (%llu replies in %.2f s)\n",
           n->ops_per_s, (unsigned long long)r->ops, r->seconds);
    printf("  latency us p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  "
           "max %.1f  mean %.1f\n",
           n->p50, n->p90, n->p99, n->p999, n->max, n->mean);
    printf("  replies    allowed %llu  denied %llu  ok %llu  errors %llu\n",
           (unsigned long long)n->allowed, (unsigned long long)n->denied,
           (unsigned long long)n->ok, (unsigned long long)n->errors);
    printf("  client CPU %.2f s (%.2f us/op)\n", r->client_cpu_s,
           n->client_us_per_op);
    if (n->server_us_per_op >= 0)
        printf("  server CPU %.2f s (%.2f us/op)\n", r->server_cpu_s,
               n->server_us_per_op);
    if (r->srv.valid)
        printf("  server us  p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  "
               "max %llu (%llu frames, read -> reply queued)\n",
               (unsigned long long)r->srv.p50_us,
               (unsigned long long)r->srv.p90_us,
               (unsigned long long)r->srv.p99_us,
               (unsigned long long)r->srv.p999_us,
               (unsigned long long)r->srv.max_us,
               (unsigned long long)r->srv.count);
    if (r->hist.clamped > 0)
        printf("  note       %llu latencies above 60 s were clamped\n",
               (unsigned long long)r->hist.clamped);
    if (r->failed_workers > 0)
        printf("  FAILED     %d connection(s): %s\n", r->failed_workers,
               r->first_err);
}

void report_print(const bench_cfg *cfg, const bench_result *r)
{
    report_numbers n;
    report_compute(r, &n);
    if (cfg->json)
        report_json(cfg, r, &n);
    else
        report_text(cfg, r, &n);
    fflush(stdout);
}
