/* hdr -- a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Every recorded value lands in a bucket whose width is at most 1/2^k of
 * the value (k from the requested significant digits), so a percentile is
 * exact to that precision no matter how long the tail: no sampling, no
 * averages. The bucket math is HdrHistogram's (Gil Tene), so numbers are
 * comparable with wrk2 / HdrHistogram tooling:
 *
 *   unit_magnitude   = floor(log2(lowest))       values below 2^um share
 *   sub_bucket_count = 2^ceil(log2(2 * 10^sig))  linear slots per bucket
 *   bucket b covers [sub_bucket_count/2 .. sub_bucket_count) << (b + um)
 *
 * With lowest = 1 us (in ns), sig = 2, highest = 60 s: 256 slots per
 * bucket, 20 buckets, 2688 counters (21 KiB); each bucket is 1/128 of its
 * value wide (< 1% error). Values above highest are clamped and counted.
 * Not thread-safe: one per thread, merged with hdr_add at the end.
 */
#ifndef BENCH_HDR_H
#define BENCH_HDR_H

#include <stdint.h>

/* Defaults the bench uses: nanosecond values, 1 us .. 60 s, 2 digits. */
#define HDR_LOWEST_NS INT64_C(1000)
#define HDR_HIGHEST_NS INT64_C(60000000000)
#define HDR_SIG_DIGITS 2
/* Digits beyond 5 would need more memory than a bench should spend. */
#define HDR_SIG_DIGITS_MAX 5

typedef struct hdr_hist {
    int64_t lowest;                 /* lowest discernible value */
    int64_t highest;                /* highest trackable value */
    int32_t unit_magnitude;         /* floor(log2(lowest)) */
    int32_t sub_bucket_half_count_magnitude;
    int32_t sub_bucket_count;       /* linear slots per bucket */
    int32_t sub_bucket_half_count;
    int64_t sub_bucket_mask;        /* (sub_bucket_count - 1) << um */
    int32_t bucket_count;
    int32_t counts_len;
    uint64_t total;                 /* values recorded */
    uint64_t clamped;               /* values above highest (recorded there) */
    int64_t min, max;               /* exact extremes of recorded values */
    uint64_t *counts;               /* counts_len counters */
} hdr_hist;

/* lowest >= 1, highest >= 2 * lowest, 1 <= sig <= HDR_SIG_DIGITS_MAX.
 * Returns 0, or -1 (bad arguments or out of memory). */
__attribute__((warn_unused_result))
int hdr_init(hdr_hist *h, int64_t lowest, int64_t highest, int sig);
void hdr_free(hdr_hist *h);
void hdr_reset(hdr_hist *h);

/* Negative values count as 0; values above highest as highest. */
void hdr_record(hdr_hist *h, int64_t value);

/* dst += src; both must have been made with the same arguments.
 * Returns 0, or -1 when they differ. */
__attribute__((warn_unused_result))
int hdr_add(hdr_hist *dst, const hdr_hist *src);

/* The value at percentile p (0..100): the highest value equivalent to the
 * recorded value below which p% of the values fall. 0 when empty. */
int64_t hdr_percentile(const hdr_hist *h, double p);

/* Bucket math, exported for the unit test and for reports. */
int32_t hdr_index_of(const hdr_hist *h, int64_t value);
int64_t hdr_value_at_index(const hdr_hist *h, int32_t index);
int64_t hdr_lowest_equivalent(const hdr_hist *h, int64_t value);
int64_t hdr_highest_equivalent(const hdr_hist *h, int64_t value);
/* Mean of the recorded values, each taken at its bucket's middle. */
double hdr_mean(const hdr_hist *h);

#endif
