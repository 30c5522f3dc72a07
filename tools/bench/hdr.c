/* hdr -- see hdr.h. The index math follows HdrHistogram_c
 * (get_bucket_index, get_sub_bucket_index, counts_index, value_from_index)
 * so results agree with the reference implementation bucket for bucket. */
#include "hdr.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Bits in the int64 values the math shifts. */
#define HDR_VALUE_BITS 64

static int32_t floor_log2(int64_t v)
{
    assert(v > 0);
    return (int32_t)(HDR_VALUE_BITS - 1 - __builtin_clzll((uint64_t)v));
}

/* Buckets needed so that sub_bucket_count << (um + buckets - 1) covers
 * highest; the shift stops before it could overflow int64. */
static int32_t buckets_needed(int64_t highest, int32_t sub_bucket_count,
                              int32_t unit_magnitude)
{
    int64_t smallest_untrackable = (int64_t)sub_bucket_count << unit_magnitude;
    int32_t n = 1;
    while (smallest_untrackable <= highest) {
        if (smallest_untrackable > INT64_MAX / 2)
            return n + 1;
        smallest_untrackable <<= 1;
        n++;
    }
    return n;
}

int hdr_init(hdr_hist *h, int64_t lowest, int64_t highest, int sig)
{
    memset(h, 0, sizeof *h);
    if (lowest < 1 || highest < 2 * lowest || sig < 1 ||
        sig > HDR_SIG_DIGITS_MAX)
        return -1;
    int64_t single_unit = 2;
    for (int i = 0; i < sig; i++)
        single_unit *= 10;
    int32_t sub_mag = (int32_t)ceil(log2((double)single_unit));
    h->lowest = lowest;
    h->highest = highest;
    h->unit_magnitude = floor_log2(lowest);
    h->sub_bucket_half_count_magnitude = (sub_mag > 1 ? sub_mag : 1) - 1;
    h->sub_bucket_count = INT32_C(1)
                          << (h->sub_bucket_half_count_magnitude + 1);
    h->sub_bucket_half_count = h->sub_bucket_count / 2;
    h->sub_bucket_mask = ((int64_t)h->sub_bucket_count - 1)
                         << h->unit_magnitude;
    if (h->unit_magnitude + h->sub_bucket_half_count_magnitude + 1 >= 62)
        return -1;
    h->bucket_count =
        buckets_needed(highest, h->sub_bucket_count, h->unit_magnitude);
    h->counts_len = (h->bucket_count + 1) * h->sub_bucket_half_count;
    h->counts = calloc((size_t)h->counts_len, sizeof *h->counts);
    if (h->counts == NULL)
        return -1;
    hdr_reset(h);
    return 0;
}

void hdr_free(hdr_hist *h)
{
    free(h->counts);
    h->counts = NULL;
}

void hdr_reset(hdr_hist *h)
{
    if (h->counts != NULL)
        memset(h->counts, 0, (size_t)h->counts_len * sizeof *h->counts);
    h->total = 0;
    h->clamped = 0;
    h->min = INT64_MAX;
    h->max = 0;
}

/* Which power-of-two bucket v falls in (0 for the first, linear one). */
static int32_t bucket_index(const hdr_hist *h, int64_t v)
{
    int32_t pow2ceiling =
        HDR_VALUE_BITS - __builtin_clzll((uint64_t)(v | h->sub_bucket_mask));
    return pow2ceiling - h->unit_magnitude -
           (h->sub_bucket_half_count_magnitude + 1);
}

static int32_t sub_bucket_index(const hdr_hist *h, int64_t v, int32_t b)
{
    return (int32_t)(v >> (b + h->unit_magnitude));
}

static int64_t value_from(const hdr_hist *h, int32_t b, int32_t sub)
{
    return (int64_t)sub << (b + h->unit_magnitude);
}

int32_t hdr_index_of(const hdr_hist *h, int64_t value)
{
    int32_t b = bucket_index(h, value);
    int32_t sub = sub_bucket_index(h, value, b);
    return ((b + 1) << h->sub_bucket_half_count_magnitude) +
           (sub - h->sub_bucket_half_count);
}

int64_t hdr_value_at_index(const hdr_hist *h, int32_t index)
{
    int32_t b = (index >> h->sub_bucket_half_count_magnitude) - 1;
    int32_t sub = (index & (h->sub_bucket_half_count - 1)) +
                  h->sub_bucket_half_count;
    if (b < 0) {
        sub -= h->sub_bucket_half_count;
        b = 0;
    }
    return value_from(h, b, sub);
}

int64_t hdr_lowest_equivalent(const hdr_hist *h, int64_t value)
{
    int32_t b = bucket_index(h, value);
    return value_from(h, b, sub_bucket_index(h, value, b));
}

/* Width of the bucket slot holding value. */
static int64_t equivalent_range(const hdr_hist *h, int64_t value)
{
    int32_t b = bucket_index(h, value);
    int32_t sub = sub_bucket_index(h, value, b);
    int32_t adjusted = sub >= h->sub_bucket_count ? b + 1 : b;
    return INT64_C(1) << (h->unit_magnitude + adjusted);
}

int64_t hdr_highest_equivalent(const hdr_hist *h, int64_t value)
{
    return hdr_lowest_equivalent(h, value) + equivalent_range(h, value) - 1;
}

void hdr_record(hdr_hist *h, int64_t value)
{
    if (value < 0)
        value = 0;
    if (value > h->highest) {
        value = h->highest;
        h->clamped++;
    }
    int32_t i = hdr_index_of(h, value);
    assert(i >= 0 && i < h->counts_len);
    h->counts[i]++;
    h->total++;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

int hdr_add(hdr_hist *dst, const hdr_hist *src)
{
    if (dst->counts_len != src->counts_len || dst->lowest != src->lowest ||
        dst->highest != src->highest ||
        dst->sub_bucket_count != src->sub_bucket_count)
        return -1;
    for (int32_t i = 0; i < dst->counts_len; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->clamped += src->clamped;
    if (src->total > 0 && src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    return 0;
}

int64_t hdr_percentile(const hdr_hist *h, double p)
{
    if (h->total == 0)
        return 0;
    double want = p < 0.0 ? 0.0 : (p > 100.0 ? 100.0 : p);
    uint64_t at = (uint64_t)((want / 100.0) * (double)h->total + 0.5);
    if (at < 1)
        at = 1;
    uint64_t seen = 0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        seen += h->counts[i];
        if (seen >= at) {
            /* the top of the bucket, but never above what was seen */
            int64_t v = hdr_highest_equivalent(h, hdr_value_at_index(h, i));
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

double hdr_mean(const hdr_hist *h)
{
    if (h->total == 0)
        return 0.0;
    double sum = 0.0;
    for (int32_t i = 0; i < h->counts_len; i++) {
        if (h->counts[i] == 0)
            continue;
        int64_t v = hdr_value_at_index(h, i);
        double mid = (double)hdr_lowest_equivalent(h, v) +
                     (double)equivalent_range(h, v) / 2.0;
        sum += mid * (double)h->counts[i];
    }
    return sum / (double)h->total;
}
