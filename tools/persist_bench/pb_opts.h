/* pb_opts.h -- persist_bench's command line: --name value pairs, every
 * number range-checked against the PB_*_MAX bounds. */
#ifndef PB_OPTS_H
#define PB_OPTS_H

#define PB_DEFAULT_BIN "build/rel/quotad"
#define PB_DEFAULT_OUT "bench/persist-results.md"
#define PB_SECONDS 10
#define PB_CONNS 8
#define PB_PIPELINE 32
#define PB_KEYS 1000000
#define PB_CONNS_MAX 64
#define PB_PIPELINE_MAX 256
#define PB_KEYS_MAX 10000000
#define PB_SECONDS_MAX 120

/* What one run measures (see main.c). */
typedef struct pb_opts {
    const char *bin, *out;
    int seconds, conns, pipeline, keys, keep;
} pb_opts;

/* Defaults, then the pairs of argv; 0, or -1 after a bad option (the
 * option is printed; the caller prints the usage line). */
__attribute__((warn_unused_result))
int pb_opts_parse(int argc, char **argv, pb_opts *o);

/* The one-line usage, to stderr. */
void pb_opts_usage(void);

#endif
