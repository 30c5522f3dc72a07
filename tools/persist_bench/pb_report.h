/* pb_report.h -- persist_bench's markdown report: the run's setup, a
 * table per durability policy, the recovery measures. Written twice by
 * main (stdout, then --out), so it only formats. */
#ifndef PB_REPORT_H
#define PB_REPORT_H

#include <stdio.h>

#include "pb_load.h"
#include "pb_opts.h"
#include "pb_recov.h"

/* p: n policies, the last one the --persist 0 baseline; rc != 0 adds a
 * "some steps failed" line. */
void pb_report(FILE *f, const pb_opts *o, const pb_load_res *p, int n,
               const pb_recov_res *r, int rc);

#endif
