/* test_lathist -- the server's request-latency histogram (server/lathist.c):
 * exact slot math, percentiles of known inputs, reset, concurrent
 * recording, and the per-connection read marks and per-pass batches. */
#include <pthread.h>

#include "lathist.h"
#include "t.h"

#define US(x) ((uint64_t)(x) * LATHIST_NS_PER_US)
#define THREADS 4
#define PER_THREAD 100000

/* Histograms are 12 KiB: static, and emptied by each test. */
static lathist g_h;

static lathist *fresh(void)
{
    lathist_reset(&g_h);
    return &g_h;
}

static void test_layout(void)
{
    T_EQ_I64(LATHIST_SLOTS, 1024 + 16 * 32);
    T_EQ_I64(lathist_slot_of_us(0), 0);
    T_EQ_I64(lathist_slot_of_us(1), 1);
    T_EQ_I64(lathist_slot_of_us(999), 999);
    T_EQ_I64(lathist_slot_of_us(1023), 1023);
    T_EQ_I64(lathist_slot_of_us(1024), 1024);     /* 2^10: 32 us slots */
    T_EQ_I64(lathist_slot_of_us(1055), 1024);
    T_EQ_I64(lathist_slot_of_us(1056), 1025);
    T_EQ_I64(lathist_slot_of_us(2047), 1055);
    T_EQ_I64(lathist_slot_of_us(2048), 1056);     /* 2^11: 64 us slots */
    T_EQ_I64(lathist_slot_of_us(2111), 1056);
    T_EQ_I64(lathist_slot_of_us(2112), 1057);
    T_EQ_I64(lathist_slot_of_us((UINT64_C(1) << 26) - 1), 1535);
    T_EQ_I64(lathist_slot_of_us(UINT64_C(1) << 26), 1535);   /* clamped */
    T_EQ_I64(lathist_slot_of_us(UINT64_MAX), 1535);
    T_EQ_I64(lathist_slot_low_us(1024), 1024);
    T_EQ_I64(lathist_slot_high_us(1024), 1055);
    T_EQ_I64(lathist_slot_high_us(1535), (INT64_C(1) << 26) - 1);
}

/* Every slot: contiguous with the next, maps back to itself, and (above
 * the linear part) no wider than 1/32 of its lowest value. */
static void test_slots_cover(void)
{
    T_EQ_I64(lathist_slot_low_us(0), 0);
    for (uint32_t s = 0; s < LATHIST_SLOTS; s++) {
        uint64_t lo = lathist_slot_low_us(s), hi = lathist_slot_high_us(s);
        T_CHECK(lo <= hi);
        T_EQ_I64(lathist_slot_of_us(lo), s);
        T_EQ_I64(lathist_slot_of_us(hi), s);
        if (s + 1 < LATHIST_SLOTS)
            T_EQ_I64(lathist_slot_low_us(s + 1), hi + 1);
        if (s < LATHIST_LINEAR_US)
            T_EQ_I64(hi, lo);
        else
            T_CHECK((hi - lo + 1) * LATHIST_SUB_SLOTS <= lo);
    }
}

static void test_empty(void)
{
    lathist_summary s;
    lathist_summarize(fresh(), &s);
    T_EQ_I64(s.count, 0);
    T_EQ_I64(s.p50_us, 0);
    T_EQ_I64(s.p999_us, 0);
    T_EQ_I64(s.max_us, 0);
}

/* 1..100 us once each (plus a fraction: slots are whole microseconds). */
static void test_percentiles_uniform(void)
{
    lathist *h = fresh();
    for (uint64_t us = 1; us <= 100; us++)
        lathist_record(h, US(us) + 500, 1);
    lathist_summary s;
    lathist_summarize(h, &s);
    T_EQ_I64(s.count, 100);
    T_EQ_I64(s.p50_us, 50);
    T_EQ_I64(s.p90_us, 90);
    T_EQ_I64(s.p99_us, 99);
    T_EQ_I64(s.p999_us, 100);      /* rank ceil(99.9) = 100 */
    T_EQ_I64(s.max_us, 100);
}

/* A tail: 990 x 10 us, 9 x 500 us, 1 x 5 ms, recorded with counts. */
static void test_percentiles_tail(void)
{
    lathist *h = fresh();
    lathist_record(h, US(10), 990);
    lathist_record(h, US(500), 9);
    lathist_record(h, US(5000), 1);
    lathist_record(h, US(7), 0);   /* a count of 0 records nothing */
    lathist_summary s;
    lathist_summarize(h, &s);
    T_EQ_I64(s.count, 1000);
    T_EQ_I64(s.p50_us, 10);
    T_EQ_I64(s.p90_us, 10);
    T_EQ_I64(s.p99_us, 10);        /* rank 990 */
    T_EQ_I64(s.p999_us, 500);      /* rank 999 */
    T_EQ_I64(s.max_us, 5000);
    lathist_record(h, US(10), 1000); /* 1990 x 10 us of 2000 */
    lathist_summarize(h, &s);
    T_EQ_I64(s.p99_us, 10);        /* rank 1980 */
    T_EQ_I64(s.p999_us, 500);      /* rank 1998: the 500s are 1991..1999 */
}

/* Above 1 ms a percentile is its slot's top: within 1/32, never above
 * the exact max. */
static void test_percentiles_log_part(void)
{
    lathist *h = fresh();
    lathist_record(h, US(5000), 1);
    lathist_record(h, US(6000), 1);
    lathist_summary s;
    lathist_summarize(h, &s);
    T_EQ_I64(s.p50_us, 5119);      /* slot [4992, 5119] holds 5000 */
    T_CHECK(s.p50_us * 32 <= 5000 * 33);
    T_EQ_I64(s.p99_us, 6000);      /* slot top 6015 clamped to max */
    T_EQ_I64(s.max_us, 6000);
    lathist_record(h, US(100000000), 1);   /* 100 s: past the range */
    lathist_summarize(h, &s);
    T_EQ_I64(s.max_us, 100000000);
    T_EQ_I64(s.p999_us, (INT64_C(1) << 26) - 1);
}

static void test_reset(void)
{
    lathist *h = fresh();
    lathist_record(h, US(42), 3);
    lathist_reset(h);
    lathist_summary s;
    lathist_summarize(h, &s);
    T_EQ_I64(s.count, 0);
    T_EQ_I64(s.max_us, 0);
    lathist_record(h, US(7), 1);
    lathist_summarize(h, &s);
    T_EQ_I64(s.count, 1);
    T_EQ_I64(s.p50_us, 7);
    T_EQ_I64(s.max_us, 7);
}

static void *record_many(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg;
    for (uint64_t i = 0; i < PER_THREAD; i++)
        lathist_record(&g_h, US(base + i % 100), 1);
    return NULL;
}

/* Relaxed atomics lose nothing: every thread's records are counted. */
static void test_concurrent(void)
{
    fresh();
    pthread_t t[THREADS];
    int started = 0;
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, record_many,
                           (void *)(uintptr_t)(i * 100)) == 0)
            started++;
    T_REQUIRE(started == THREADS);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    lathist_summary s;
    lathist_summarize(&g_h, &s);
    T_EQ_I64(s.count, THREADS * PER_THREAD);
    T_EQ_I64(s.max_us, (THREADS - 1) * 100 + 99);
    T_EQ_I64(s.p50_us, 199);
}

/* A frame's read time is that of the read that completed it. */
static void test_rx_marks(void)
{
    lathist_rx rx = {0};
    T_EQ_I64(lathist_rx_frame(&rx, 0), 0);   /* nothing read yet */
    lathist_rx_arrived(&rx, 100, 1000);      /* two whole frames */
    T_EQ_I64(lathist_rx_frame(&rx, 40), 1000);
    T_EQ_I64(lathist_rx_frame(&rx, 60), 1000);
    lathist_rx_arrived(&rx, 50, 2000);       /* first half of 80 */
    lathist_rx_arrived(&rx, 50, 2500);       /* no new bytes: no mark */
    lathist_rx_arrived(&rx, 130, 3000);      /* the rest, then 50 more */
    T_EQ_I64(lathist_rx_frame(&rx, 80), 3000);
    T_EQ_I64(lathist_rx_frame(&rx, 50), 3000);
    T_EQ_I64(rx.consumed, 230);
}

/* Reads piling up beyond the marks extend the newest one, so later
 * frames count from an earlier read (overstated, not understated). */
static void test_rx_marks_full(void)
{
    lathist_rx rx = {0};
    for (uint64_t i = 1; i <= LATHIST_RX_MARKS + 2; i++)
        lathist_rx_arrived(&rx, (size_t)(10 * i), 1000 * i);
    for (uint64_t i = 1; i < LATHIST_RX_MARKS; i++)
        T_EQ_I64(lathist_rx_frame(&rx, 10), 1000 * i);
    for (uint64_t i = LATHIST_RX_MARKS; i <= LATHIST_RX_MARKS + 2; i++)
        T_EQ_I64(lathist_rx_frame(&rx, 10), 1000 * LATHIST_RX_MARKS);
    T_EQ_I64(rx.n, 1);
    T_EQ_I64(lathist_rx_frame(&rx, 10), 0);  /* past what was read */
}

/* One pass: replies grouped by read time, timed at one instant. */
static void test_batch(void)
{
    lathist *h = fresh();
    lathist_batch b = {0};
    lathist_batch_add(&b, h, US(100));
    lathist_batch_add(&b, h, US(100));
    lathist_batch_add(&b, h, US(100));
    lathist_batch_add(&b, h, 0);             /* not a client frame */
    lathist_batch_add(&b, h, US(101));
    lathist_batch_add(&b, h, US(101));
    T_EQ_I64(b.n, 2);
    lathist_batch_flush_at(&b, h, US(105));  /* 3 x 5 us, 2 x 4 us */
    T_EQ_I64(b.n, 0);
    lathist_summary s;
    lathist_summarize(h, &s);
    T_EQ_I64(s.count, 5);
    T_EQ_I64(s.p50_us, 5);                   /* rank 3: 2 x 4, then 5 */
    T_EQ_I64(s.max_us, 5);
    lathist_batch_add(&b, h, US(200));
    lathist_batch_flush_at(&b, h, 0);        /* no clock: dropped */
    lathist_summarize(h, &s);
    T_EQ_I64(s.count, 5);
}

/* More distinct read times than runs: an early flush, nothing lost. */
static void test_batch_full(void)
{
    lathist *h = fresh();
    lathist_batch b = {0};
    uint64_t now = lathist_now_ns();
    T_REQUIRE(now > US(LATHIST_BATCH_RUNS + 1));
    for (uint64_t i = 0; i <= LATHIST_BATCH_RUNS; i++)
        lathist_batch_add(&b, h, now - US(i + 1));
    T_EQ_I64(b.n, 1);                        /* flushed, then one added */
    lathist_batch_flush(&b, h);
    lathist_batch_flush(&b, h);              /* empty: no-op */
    lathist_summary s;
    lathist_summarize(h, &s);
    T_EQ_I64(s.count, LATHIST_BATCH_RUNS + 1);
    T_CHECK(s.max_us >= LATHIST_BATCH_RUNS + 1);
}

int main(void)
{
    T_RUN(test_layout);
    T_RUN(test_slots_cover);
    T_RUN(test_empty);
    T_RUN(test_percentiles_uniform);
    T_RUN(test_percentiles_tail);
    T_RUN(test_percentiles_log_part);
    T_RUN(test_reset);
    T_RUN(test_concurrent);
    T_RUN(test_rx_marks);
    T_RUN(test_rx_marks_full);
    T_RUN(test_batch);
    T_RUN(test_batch_full);
    return t_done();
}
