/* pb_report.c -- persist_bench's markdown report (pb_report.h). */
#include "pb_report.h"

#include <inttypes.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static double per_rec(uint64_t bytes, uint64_t records)
{
    return records > 0 ? (double)bytes / (double)records : 0.0;
}

static void report_policies(FILE *f, const pb_load_res *p, int n)
{
    double base = p[n - 1].per_s > 0 ? p[n - 1].per_s : 1;
    fprintf(f, "| policy | checks/s | vs --persist 0 | errors | records | "
               "disk B/record | zstd B/record | raw B/record | raw/zstd |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        const pb_seg_stats *s = &p[i].seg;
        fprintf(f, "| %s | %.0f | %.2f | %" PRId64 " | %" PRIu64
                " | %.1f | %.1f | %.1f | %.2f |\n", p[i].name, p[i].per_s,
                p[i].per_s / base, p[i].errors, s->records,
                per_rec(s->file_bytes, s->records),
                per_rec(s->stored, s->records), per_rec(s->raw, s->records),
                s->stored > 0 ? (double)s->raw / (double)s->stored : 0.0);
    }
}

static void report_recovery(FILE *f, const pb_recov_res *r)
{
    const pb_seg_stats *s = &r->seg;
    fprintf(f, "\n## Recovery with %d keys (%d workspaces)\n\n"
               "| measure | value |\n|---|---:|\n| keys created (batches "
               "of %d, %d connections) | %.1f s (%.0f keys/s) |\n", r->keys,
            r->keys / PB_KEYS_PER_WS, PB_BATCH, PB_LOADERS, r->load_s,
            r->load_s > 0 ? r->keys / r->load_s : 0.0);
    fprintf(f, "| log: segments / chunks / records | %" PRIu64 " / %" PRIu64
               " / %" PRIu64 " |\n| log: on disk / zstd / raw | %.1f / %.1f "
               "/ %.1f MB |\n", s->files, s->chunks, s->records,
            (double)s->file_bytes / 1e6, (double)s->stored / 1e6,
            (double)s->raw / 1e6);
    fprintf(f, "| log: B/record on disk / zstd / raw | %.1f / %.1f / %.1f |\n",
            per_rec(s->file_bytes, s->records), per_rec(s->stored, s->records),
            per_rec(s->raw, s->records));
    fprintf(f, "| restart from the log: start to port file | %" PRId64
               " ms |\n| restart from the log: \"recover:\" line | %" PRId64
               " ms |\n", r->log_port_ms, r->log_recover_ms);
    fprintf(f, "| snapshot of the whole state (protocol op) | %" PRId64
               " ms |\n| sync checks during it / slowest | %" PRId64 " / %"
               PRId64 " ms |\n", r->snap_ms, r->probe_checks,
            r->probe_max_ms);
    fprintf(f, "| restart from the snapshot: start to port file | %" PRId64
               " ms |\n| restart from the snapshot: \"recover:\" line | %"
               PRId64 " ms |\n", r->snap_port_ms, r->snap_recover_ms);
}

void pb_report(FILE *f, const pb_opts *o, const pb_load_res *p, int n,
               const pb_recov_res *r, int rc)
{
    struct utsname u;
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    fprintf(f, "# quotad persistence benchmark\n\n%s, %s %s, %ld cores, "
               "daemon `%s`.\n\nLoad: %d connections x %d pipelined checks "
               "(debits of 1..%d micro-units, 0..%d tokens, one key each), "
               "%d s per policy; \"zstd\" is the chunk bodies, \"disk\" "
               "adds chunk and file headers.\n\n", when, u.sysname, u.release,
            sysconf(_SC_NPROCESSORS_ONLN), o->bin, o->conns, o->pipeline,
            PB_AMOUNT_MAX, PB_TOKENS_MAX - 1, o->seconds);
    report_policies(f, p, n);
    report_recovery(f, r);
    if (rc != 0)
        fprintf(f, "\n**Some steps failed; see stderr.**\n");
}
