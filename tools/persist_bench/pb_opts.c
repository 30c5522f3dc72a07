/* pb_opts.c -- persist_bench's command line (pb_opts.h). */
#include "pb_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_recov.h"

static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || x < lo || x > hi)
        return -1;
    *out = (int)x;
    return 0;
}

/* --name value pairs; numbers are range-checked. */
int pb_opts_parse(int argc, char **argv, pb_opts *o)
{
    *o = (pb_opts){PB_DEFAULT_BIN, PB_DEFAULT_OUT, PB_SECONDS, PB_CONNS,
                   PB_PIPELINE, PB_KEYS, 0};
    const struct { const char *name; int *v; int lo, hi; } num[] = {
        {"--seconds", &o->seconds, 1, PB_SECONDS_MAX},
        {"--conns", &o->conns, 1, PB_CONNS_MAX},
        {"--pipeline", &o->pipeline, 1, PB_PIPELINE_MAX},
        {"--keys", &o->keys, PB_KEYS_PER_WS, PB_KEYS_MAX},
        {"--keep", &o->keep, 0, 1}};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        int rc = -1;
        if (strcmp(k, "--quotad") == 0 || strcmp(k, "--out") == 0) {
            *(k[2] == 'q' ? &o->bin : &o->out) = v;
            rc = 0;
        }
        for (size_t j = 0; j < sizeof num / sizeof num[0]; j++)
            if (strcmp(k, num[j].name) == 0)
                rc = parse_int(v, num[j].lo, num[j].hi, num[j].v);
        if (rc != 0) {
            fprintf(stderr, "persist_bench: bad option %s %s\n", k, v);
            return -1;
        }
    }
    return argc % 2 == 1 ? 0 : -1;
}

void pb_opts_usage(void)
{
    fprintf(stderr, "usage: persist_bench [--quotad BIN] [--seconds N] "
                    "[--conns N] [--pipeline N] [--keys N] [--out F] "
                    "[--keep 1]\n");
}
