/* lathist -- see lathist.h. */
#include "lathist.h"

#include <assert.h>
#include <time.h>

#define LATHIST_NS_PER_S UINT64_C(1000000000)
#define LATHIST_U64_BITS 64u

lathist g_lathist;

uint64_t lathist_now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * LATHIST_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- bucket math -------------------------------------------------------- */

uint32_t lathist_slot_of_us(uint64_t us)
{
    if (us < LATHIST_LINEAR_US)
        return (uint32_t)us;
    if (us >= LATHIST_RANGE_US)
        return LATHIST_SLOTS - 1u;
    uint32_t k = LATHIST_U64_BITS - 1u - (uint32_t)__builtin_clzll(us);
    assert(k >= LATHIST_LINEAR_LOG2 && k < LATHIST_TOP_LOG2);
    uint32_t sub = (uint32_t)(us >> (k - LATHIST_SUB_LOG2)) -
                   LATHIST_SUB_SLOTS;
    assert(sub < LATHIST_SUB_SLOTS);
    return LATHIST_LINEAR_US + (k - LATHIST_LINEAR_LOG2) * LATHIST_SUB_SLOTS +
           sub;
}

/* Power of two k and sub-slot of a log slot (slot >= LATHIST_LINEAR_US). */
static void log_slot(uint32_t slot, uint32_t *k, uint64_t *sub)
{
    assert(slot >= LATHIST_LINEAR_US && slot < LATHIST_SLOTS);
    uint32_t r = slot - LATHIST_LINEAR_US;
    *k = LATHIST_LINEAR_LOG2 + r / LATHIST_SUB_SLOTS;
    *sub = r % LATHIST_SUB_SLOTS;
}

uint64_t lathist_slot_low_us(uint32_t slot)
{
    if (slot < LATHIST_LINEAR_US)
        return slot;
    uint32_t k;
    uint64_t sub;
    log_slot(slot, &k, &sub);
    return (LATHIST_SUB_SLOTS + sub) << (k - LATHIST_SUB_LOG2);
}

uint64_t lathist_slot_high_us(uint32_t slot)
{
    if (slot < LATHIST_LINEAR_US)
        return slot;
    uint32_t k;
    uint64_t sub;
    log_slot(slot, &k, &sub);
    return lathist_slot_low_us(slot) + (UINT64_C(1) << (k - LATHIST_SUB_LOG2)) -
           1u;
}

/* ---- the histogram ------------------------------------------------------ */

void lathist_record(lathist *h, uint64_t ns, uint64_t count)
{
    if (count == 0)
        return;
    uint32_t s = lathist_slot_of_us(ns / LATHIST_NS_PER_US);
    atomic_fetch_add_explicit(&h->slot[s], count, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&h->max_ns, memory_order_relaxed);
    while (ns > m &&
           !atomic_compare_exchange_weak_explicit(&h->max_ns, &m, ns,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

void lathist_reset(lathist *h)
{
    for (uint32_t i = 0; i < LATHIST_SLOTS; i++)
        atomic_store_explicit(&h->slot[i], 0, memory_order_relaxed);
    atomic_store_explicit(&h->max_ns, 0, memory_order_relaxed);
}

/* ceil(total * per_100k / LATHIST_PCT_SCALE), at least 1, without
 * overflowing for any total. */
static uint64_t rank_of(uint64_t total, uint32_t per_100k)
{
    assert(per_100k <= LATHIST_PCT_SCALE);
    uint64_t q = total / LATHIST_PCT_SCALE, r = total % LATHIST_PCT_SCALE;
    uint64_t rank = q * per_100k +
                    (r * per_100k + LATHIST_PCT_SCALE - 1u) / LATHIST_PCT_SCALE;
    return rank > 0 ? rank : 1;
}

/* The highest value of the slot holding the rank-th smallest latency. */
static uint64_t percentile_us(const uint64_t *counts, uint64_t total,
                              uint32_t per_100k)
{
    uint64_t rank = rank_of(total, per_100k);
    uint64_t seen = 0;
    for (uint32_t i = 0; i < LATHIST_SLOTS; i++) {
        seen += counts[i];
        if (seen >= rank)
            return lathist_slot_high_us(i);
    }
    return lathist_slot_high_us(LATHIST_SLOTS - 1u);
}

void lathist_summarize(const lathist *h, lathist_summary *out)
{
    uint64_t counts[LATHIST_SLOTS];
    uint64_t total = 0;
    for (uint32_t i = 0; i < LATHIST_SLOTS; i++) {
        counts[i] = atomic_load_explicit(&h->slot[i], memory_order_relaxed);
        total += counts[i];
    }
    uint64_t max_us = atomic_load_explicit(&h->max_ns, memory_order_relaxed) /
                      LATHIST_NS_PER_US;
    *out = (lathist_summary){.count = total};
    if (total == 0)
        return;
    static const uint32_t per_100k[] = {50000u, 90000u, 99000u, 99900u};
    uint64_t *dst[] = {&out->p50_us, &out->p90_us, &out->p99_us,
                       &out->p999_us};
    _Static_assert(sizeof per_100k / sizeof per_100k[0] ==
                       sizeof dst / sizeof dst[0],
                   "one rank per reported percentile");
    for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++) {
        uint64_t v = percentile_us(counts, total, per_100k[i]);
        *dst[i] = v < max_us ? v : max_us;  /* a slot's top may pass max */
    }
    out->max_us = max_us;
}

/* ---- read times per connection ------------------------------------------ */

void lathist_rx_arrived(lathist_rx *rx, size_t buffered, uint64_t now_ns)
{
    uint64_t end = rx->consumed + buffered;
    uint32_t newest = (rx->head + rx->n + LATHIST_RX_MARKS - 1u) %
                      LATHIST_RX_MARKS;
    if (rx->n > 0 && rx->mark[newest].end >= end)
        return;                       /* no new bytes */
    if (rx->n == LATHIST_RX_MARKS) {
        rx->mark[newest].end = end;   /* keep its (earlier) time */
        return;
    }
    uint32_t at = (rx->head + rx->n) % LATHIST_RX_MARKS;
    rx->mark[at].end = end;
    rx->mark[at].ns = now_ns;
    rx->n++;
}

uint64_t lathist_rx_frame(lathist_rx *rx, size_t frame_len)
{
    rx->consumed += frame_len;
    while (rx->n > 0 && rx->mark[rx->head].end < rx->consumed) {
        rx->head = (rx->head + 1u) % LATHIST_RX_MARKS;
        rx->n--;
    }
    return rx->n > 0 ? rx->mark[rx->head].ns : 0;
}

/* ---- replies of one pass ------------------------------------------------ */

void lathist_batch_flush_at(lathist_batch *b, lathist *h, uint64_t now_ns)
{
    assert(b->n <= LATHIST_BATCH_RUNS);
    for (uint32_t i = 0; i < b->n && now_ns != 0; i++) {
        uint64_t rx = b->run[i].rx_ns;
        lathist_record(h, now_ns > rx ? now_ns - rx : 0, b->run[i].count);
    }
    b->n = 0;
}

void lathist_batch_flush(lathist_batch *b, lathist *h)
{
    if (b->n > 0)
        lathist_batch_flush_at(b, h, lathist_now_ns());
}

void lathist_batch_add(lathist_batch *b, lathist *h, uint64_t rx_ns)
{
    if (rx_ns == 0)
        return;
    if (b->n > 0 && b->run[b->n - 1u].rx_ns == rx_ns) {
        b->run[b->n - 1u].count++;
        return;
    }
    if (b->n == LATHIST_BATCH_RUNS)
        lathist_batch_flush(b, h);
    b->run[b->n].rx_ns = rx_ns;
    b->run[b->n].count = 1;
    b->n++;
}
