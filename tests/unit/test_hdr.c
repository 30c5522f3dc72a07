/* test_hdr -- the bench's latency histogram (tools/bench/hdr.c): exact
 * bucket math for the bench's configuration (1 us .. 60 s in ns, two
 * significant digits) and percentiles of known distributions.
 * Test binaries do not link tools/, so the source is included. */
#include "t.h"

#include "../../tools/bench/hdr.c"

/* A histogram with the bench's own parameters; T_REQUIRE in the caller. */

/* A percentile is its bucket's top, capped at the largest value seen. */
static int64_t capped(const hdr_hist *h, int64_t v)
{
    int64_t top = hdr_highest_equivalent(h, v);
    return top < h->max ? top : h->max;
}
static int make(hdr_hist *h)
{
    return hdr_init(h, HDR_LOWEST_NS, HDR_HIGHEST_NS, HDR_SIG_DIGITS);
}

/* 1000 ns -> unit 2^9; 2*10^2 -> 256 slots; 256 << 9 << 19 > 60e9. */
static void test_hdr_layout(void)
{
    hdr_hist h;
    T_REQUIRE(make(&h) == 0);
    T_EQ_I64(h.unit_magnitude, 9);
    T_EQ_I64(h.sub_bucket_count, 256);
    T_EQ_I64(h.sub_bucket_half_count, 128);
    T_EQ_I64(h.sub_bucket_half_count_magnitude, 7);
    T_EQ_I64(h.sub_bucket_mask, 255 << 9);
    T_EQ_I64(h.bucket_count, 20);
    T_EQ_I64(h.counts_len, 21 * 128);
    /* the last bucket reaches past highest, the one before does not */
    T_CHECK((INT64_C(256) << (9 + 19)) > HDR_HIGHEST_NS);
    T_CHECK((INT64_C(256) << (9 + 18)) <= HDR_HIGHEST_NS);
    hdr_free(&h);
}

static void test_hdr_index_exact(void)
{
    hdr_hist h;
    T_REQUIRE(make(&h) == 0);
    T_EQ_I64(hdr_index_of(&h, 0), 0);
    T_EQ_I64(hdr_index_of(&h, 511), 0);       /* below one unit */
    T_EQ_I64(hdr_index_of(&h, 512), 1);
    T_EQ_I64(hdr_index_of(&h, 1000), 1);
    T_EQ_I64(hdr_index_of(&h, 1024), 2);
    T_EQ_I64(hdr_index_of(&h, 130560), 255);  /* 255 << 9 */
    T_EQ_I64(hdr_index_of(&h, 131071), 255);
    T_EQ_I64(hdr_index_of(&h, 131072), 256);  /* bucket 1, slot 128 */
    T_EQ_I64(hdr_index_of(&h, 132095), 256);  /* slot width 1024 */
    T_EQ_I64(hdr_index_of(&h, 132096), 257);
    T_EQ_I64(hdr_index_of(&h, 262144), 384);  /* bucket 2 starts */
    /* 60e9 >> (19 + 9) = 223: bucket 19, slot 223 */
    T_EQ_I64(hdr_index_of(&h, HDR_HIGHEST_NS), ((19 + 1) << 7) + 223 - 128);
    T_CHECK(hdr_index_of(&h, HDR_HIGHEST_NS) < h.counts_len);
    T_EQ_I64(hdr_value_at_index(&h, 0), 0);
    T_EQ_I64(hdr_value_at_index(&h, 1), 512);
    T_EQ_I64(hdr_value_at_index(&h, 255), 130560);
    T_EQ_I64(hdr_value_at_index(&h, 256), 131072);
    T_EQ_I64(hdr_value_at_index(&h, 257), 132096);
    T_EQ_I64(hdr_value_at_index(&h, 384), 262144);
    hdr_free(&h);
}

static void test_hdr_equivalent_ranges(void)
{
    hdr_hist h;
    T_REQUIRE(make(&h) == 0);
    T_EQ_I64(hdr_lowest_equivalent(&h, 1000), 512);
    T_EQ_I64(hdr_highest_equivalent(&h, 1000), 1023);
    T_EQ_I64(hdr_lowest_equivalent(&h, 10000), 9728);   /* 19 << 9 */
    T_EQ_I64(hdr_highest_equivalent(&h, 10000), 10239);
    T_EQ_I64(hdr_lowest_equivalent(&h, 131072), 131072);
    T_EQ_I64(hdr_highest_equivalent(&h, 131072), 132095);
    T_EQ_I64(hdr_lowest_equivalent(&h, 1000000), 999424);  /* 244 << 12 */
    T_EQ_I64(hdr_highest_equivalent(&h, 1000000), 1003519);
    /* precision: every slot from bucket 1 on is at most 1/128 of its value */
    for (int64_t v = 131072; v <= HDR_HIGHEST_NS; v = v * 3 / 2 + 7) {
        int64_t lo = hdr_lowest_equivalent(&h, v);
        int64_t hi = hdr_highest_equivalent(&h, v);
        T_CHECK(lo <= v && v <= hi);
        T_CHECK((hi - lo + 1) * 128 <= lo);
    }
    hdr_free(&h);
}

/* 1 us, 2 us, ..., 100 ms once each: the p-th percentile is the bucket of
 * the value ranked ceil(p% of n), reported at the bucket's top. */
static void test_hdr_uniform_distribution(void)
{
    hdr_hist h;
    T_REQUIRE(make(&h) == 0);
    const int64_t n = 100000;
    for (int64_t i = 1; i <= n; i++)
        hdr_record(&h, i * 1000);
    T_EQ_I64(h.total, n);
    T_EQ_I64(h.min, 1000);
    T_EQ_I64(h.max, n * 1000);
    T_EQ_I64(hdr_percentile(&h, 50.0), capped(&h, 50000000));
    T_EQ_I64(hdr_percentile(&h, 90.0), capped(&h, 90000000));
    T_EQ_I64(hdr_percentile(&h, 99.0), capped(&h, 99000000));
    T_EQ_I64(hdr_percentile(&h, 99.9), capped(&h, 99900000));
    T_EQ_I64(hdr_percentile(&h, 100.0), capped(&h, n * 1000));
    T_EQ_I64(hdr_percentile(&h, 0.0), capped(&h, 1000));
    int64_t p50 = hdr_percentile(&h, 50.0);
    T_CHECK(p50 >= 50000000 && p50 < 50000000 + 50000000 / 100);
    double mean = hdr_mean(&h);
    T_CHECK(mean > 50000500.0 * 0.99 && mean < 50000500.0 * 1.01);
    hdr_free(&h);
}

/* 990 fast replies and 10 slow ones: p99 is still fast, p99.9 is slow. */
static void test_hdr_bimodal_tail(void)
{
    hdr_hist h;
    T_REQUIRE(make(&h) == 0);
    for (int i = 0; i < 990; i++)
        hdr_record(&h, 20000);            /* 20 us */
    for (int i = 0; i < 10; i++)
        hdr_record(&h, 1000000000);       /* 1 s */
    T_EQ_I64(hdr_percentile(&h, 50.0), capped(&h, 20000));
    T_EQ_I64(hdr_percentile(&h, 99.0), capped(&h, 20000));
    T_EQ_I64(hdr_percentile(&h, 99.1),
             capped(&h, 1000000000));
    T_EQ_I64(hdr_percentile(&h, 99.9),
             capped(&h, 1000000000));
    T_EQ_I64(h.max, 1000000000);
    T_EQ_I64(h.min, 20000);
    hdr_free(&h);
}

static void test_hdr_clamp_negative_reset(void)
{
    hdr_hist h;
    T_REQUIRE(make(&h) == 0);
    hdr_record(&h, -5);
    hdr_record(&h, HDR_HIGHEST_NS * 10);
    T_EQ_I64(h.total, 2);
    T_EQ_I64(h.clamped, 1);
    T_EQ_I64(h.min, 0);
    T_EQ_I64(h.max, HDR_HIGHEST_NS);
    T_EQ_I64(hdr_percentile(&h, 100.0),
             capped(&h, HDR_HIGHEST_NS));
    hdr_reset(&h);
    T_EQ_I64(h.total, 0);
    T_EQ_I64(hdr_percentile(&h, 99.0), 0);
    T_CHECK(hdr_mean(&h) == 0.0);
    hdr_free(&h);
}

/* Merging per-thread histograms equals recording everything in one. */
static void test_hdr_add_merges(void)
{
    hdr_hist a, b, all;
    T_REQUIRE(make(&a) == 0);
    T_REQUIRE(make(&b) == 0);
    T_REQUIRE(make(&all) == 0);
    for (int64_t i = 0; i < 5000; i++) {
        int64_t v = (i * 7919) % 3000000 + 1000;
        hdr_record(i % 2 ? &a : &b, v);
        hdr_record(&all, v);
    }
    T_CHECK(hdr_add(&a, &b) == 0);
    T_EQ_I64(a.total, all.total);
    T_EQ_I64(a.min, all.min);
    T_EQ_I64(a.max, all.max);
    T_CHECK(memcmp(a.counts, all.counts,
                   (size_t)a.counts_len * sizeof *a.counts) == 0);
    T_EQ_I64(hdr_percentile(&a, 99.0), hdr_percentile(&all, 99.0));
    hdr_hist other;
    T_REQUIRE(hdr_init(&other, 1, 1000, 3) == 0);
    T_CHECK(hdr_add(&a, &other) == -1);
    hdr_free(&other);
    hdr_free(&a);
    hdr_free(&b);
    hdr_free(&all);
}

static void test_hdr_bad_arguments(void)
{
    hdr_hist h;
    T_CHECK(hdr_init(&h, 0, 1000, 2) == -1);
    T_CHECK(hdr_init(&h, 1000, 1500, 2) == -1);
    T_CHECK(hdr_init(&h, 1, 1000, 0) == -1);
    T_CHECK(hdr_init(&h, 1, 1000, HDR_SIG_DIGITS_MAX + 1) == -1);
    /* lowest 1, 3 digits: 2048 slots of width 1 before the first doubling */
    T_REQUIRE(hdr_init(&h, 1, 3600000000, 3) == 0);
    T_EQ_I64(h.unit_magnitude, 0);
    T_EQ_I64(h.sub_bucket_count, 2048);
    T_EQ_I64(hdr_index_of(&h, 2047), 2047);
    T_EQ_I64(hdr_highest_equivalent(&h, 2047), 2047);
    T_EQ_I64(hdr_highest_equivalent(&h, 2048), 2049);
    hdr_free(&h);
}

int main(void)
{
    T_RUN(test_hdr_layout);
    T_RUN(test_hdr_index_exact);
    T_RUN(test_hdr_equivalent_ranges);
    T_RUN(test_hdr_uniform_distribution);
    T_RUN(test_hdr_bimodal_tail);
    T_RUN(test_hdr_clamp_negative_reset);
    T_RUN(test_hdr_add_merges);
    T_RUN(test_hdr_bad_arguments);
    return t_done();
}
