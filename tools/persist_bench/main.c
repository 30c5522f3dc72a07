/* persist_bench -- what durability costs: `make bench-persist`.
 *
 * Starts release daemons (build/rel/quotad) on 127.0.0.1 (free ports, own
 * temp data dirs, stopped by pid) and measures through libquotad:
 *   1. check throughput with --fsync always, everysec, no and --persist 0
 *      (CONNS connections x PIPELINE checks in flight, SECONDS each);
 *   2. log bytes per record from the segments' chunk headers: stored
 *      (zstd) vs raw, and on disk;
 *   3. recovery with KEYS keys (KEYS_PER_WS per workspace, create_key
 *      batched BATCH per frame): start to port file and the "recover:"
 *      line's ms, from the log and from a snapshot, and how long checks
 *      stall while that snapshot is taken.
 * Results: stdout and a markdown file (bench/persist-results.md).
 *
 * Modules (tools/persist_bench/):
 *   pb_opts.c    command line -> pb_opts
 *   pb_daemon.c  daemons in temp dirs: start, stop, connect; clock helpers
 *   pb_seg.c     log statistics from the segments' chunk headers
 *   pb_load.c    1 + 2: throughput per policy, then its log statistics
 *   pb_recov.c   3: many keys, restart from the log and from a snapshot
 *   pb_report.c  the markdown report
 *
 * usage: persist_bench [--quotad BIN] [--seconds N] [--conns N]
 *        [--pipeline N] [--keys N] [--out FILE] [--keep 1 (keep the
 *        many-keys data dir, for profiling)]
 */
#include <stdio.h>

#include "pb_load.h"
#include "pb_opts.h"
#include "pb_recov.h"
#include "pb_report.h"

#define PB_POLICIES 4

int main(int argc, char **argv)
{
    pb_opts o;
    if (pb_opts_parse(argc, argv, &o) != 0) {
        pb_opts_usage();
        return 2;
    }
    static const char *const pol[PB_POLICIES][3] = {
        {"fsync always", "always", "1"}, {"fsync everysec", "everysec", "1"},
        {"fsync no", "no", "1"}, {"persist 0", "no", "0"}};
    pb_load_res p[PB_POLICIES];
    int rc = 0;
    for (int i = 0; i < PB_POLICIES; i++)
        rc |= pb_load_policy(&o, pol[i][0], pol[i][1], pol[i][2], &p[i]);
    pb_recov_res r;
    rc |= pb_recov_run(&o, &r);
    pb_report(stdout, &o, p, PB_POLICIES, &r, rc);
    FILE *f = fopen(o.out, "w");
    if (f == NULL ||
        (pb_report(f, &o, p, PB_POLICIES, &r, rc), fclose(f)) != 0) {
        fprintf(stderr, "persist_bench: cannot write %s\n", o.out);
        rc = -1;
    }
    return rc == 0 ? 0 : 1;
}
