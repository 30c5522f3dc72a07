/* lathist -- the server's request-latency histogram: for every client
 * frame, the time from when its bytes were read off the socket to when
 * its reply was queued on the output buffer (under fsync=always: to when
 * the parked reply was released there, after the log made it durable).
 * Network, kernel and client time are not in it; queueing inside the
 * server (frames waiting behind others, a paused connection, the fsync)
 * is. Read and reset by the root-only `stats` operation.
 *
 * Buckets are log-linear, HdrHistogram-style, in whole microseconds:
 *
 *   [0, 1024) us           1024 slots, 1 us wide (exact below ~1 ms)
 *   [2^k, 2^(k+1)) us      32 slots each, 2^(k-5) us wide, k = 10..25:
 *                          at most 1/32 (3.1%) of the value
 *   >= 2^26 us (~67 s)     counted in the last slot; max stays exact
 *
 * 1536 counters (12 KiB), one process-wide instance (g_lathist) shared by
 * every worker: relaxed atomic adds, no locks. A percentile is the
 * highest value of the slot that holds it, so "p99 = 99 us" means p99 is
 * below 100 us (and never above the exact max).
 *
 * Cost on the hot path: one clock_gettime per read wake-up of a
 * connection (lathist_rx_arrived), one per processing pass that queued a
 * reply (lathist_batch_flush), and one atomic add per distinct read time
 * in that pass, not per frame.
 */
#ifndef QD_LATHIST_H
#define QD_LATHIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LATHIST_NS_PER_US 1000u
#define LATHIST_LINEAR_LOG2 10u       /* 1 us slots below 2^10 us */
#define LATHIST_LINEAR_US (1u << LATHIST_LINEAR_LOG2)
#define LATHIST_SUB_LOG2 5u           /* 32 slots per power of two above */
#define LATHIST_SUB_SLOTS (1u << LATHIST_SUB_LOG2)
#define LATHIST_TOP_LOG2 26u          /* tracked range: 2^26 us, ~67 s */
#define LATHIST_RANGE_US (UINT64_C(1) << LATHIST_TOP_LOG2)
#define LATHIST_SLOTS                                                     \
    (LATHIST_LINEAR_US +                                                  \
     (LATHIST_TOP_LOG2 - LATHIST_LINEAR_LOG2) * LATHIST_SUB_SLOTS)
/* Percentiles are asked for in parts per 100000 (p99.9 = 99900). */
#define LATHIST_PCT_SCALE 100000u
/* Read times remembered per connection (merged into the newest beyond). */
#define LATHIST_RX_MARKS 4u
/* Distinct read times gathered per pass before an early flush. */
#define LATHIST_BATCH_RUNS 8u

_Static_assert(LATHIST_SUB_LOG2 < LATHIST_LINEAR_LOG2,
               "log slots must be at least 1 us wide");
_Static_assert(LATHIST_LINEAR_LOG2 < LATHIST_TOP_LOG2,
               "the linear part must end below the tracked range");
_Static_assert(LATHIST_TOP_LOG2 < 40, "slot bounds fit comfortably");

/* The histogram. Zero-initialised = empty. */
typedef struct lathist {
    _Alignas(64) _Atomic uint64_t slot[LATHIST_SLOTS];
    _Atomic uint64_t max_ns;      /* exact largest latency recorded */
} lathist;

/* What `stats` reports, in microseconds. */
typedef struct lathist_summary {
    uint64_t count;
    uint64_t p50_us, p90_us, p99_us, p999_us;
    uint64_t max_us;
} lathist_summary;

/* The process-wide instance every worker records into. */
extern lathist g_lathist;

/* CLOCK_MONOTONIC in ns; 0 if the clock cannot be read (then nothing is
 * recorded: 0 means "no time" everywhere in this module). */
uint64_t lathist_now_ns(void);

/* Count `count` requests that each took ns. Thread-safe, lock-free. */
void lathist_record(lathist *h, uint64_t ns, uint64_t count);

/* Empty it. Records racing with the reset may land on either side. */
void lathist_reset(lathist *h);

/* Percentiles of a consistent copy of the counters. Thread-safe. */
void lathist_summarize(const lathist *h, lathist_summary *out);

/* Bucket math, exported for the unit test. */
uint32_t lathist_slot_of_us(uint64_t us);
uint64_t lathist_slot_low_us(uint32_t slot);
uint64_t lathist_slot_high_us(uint32_t slot);

/* ---- per connection: when were the buffered bytes read? ------------- */

/* Each read wake-up marks "input up to byte `end` (counted since the
 * connection opened) was read at ns"; a frame's read time is that of the
 * read that completed it. With more than LATHIST_RX_MARKS reads waiting,
 * the newest mark is extended, so those frames count from an earlier
 * read: latency is overstated, never understated. Zero-initialised. */
typedef struct lathist_rx {
    uint64_t consumed;            /* input bytes taken as frames */
    uint32_t head, n;             /* ring of marks, oldest at head */
    struct {
        uint64_t end;
        uint64_t ns;
    } mark[LATHIST_RX_MARKS];
} lathist_rx;

/* A read wake-up: `buffered` bytes now wait in the input, read at now_ns. */
void lathist_rx_arrived(lathist_rx *rx, size_t buffered, uint64_t now_ns);

/* The next frame_len bytes of input were taken as one frame: its read
 * time, or 0 if unknown. */
uint64_t lathist_rx_frame(lathist_rx *rx, size_t frame_len);

/* ---- per worker: replies queued in one processing pass -------------- */

/* Read times of the replies queued since the last flush, run-length
 * grouped (frames of one read share a time). Zero-initialised. */
typedef struct lathist_batch {
    uint32_t n;
    struct {
        uint64_t rx_ns;
        uint64_t count;
    } run[LATHIST_BATCH_RUNS];
} lathist_batch;

/* One reply was queued for a frame read at rx_ns (0: not a client frame,
 * ignored). When the batch is full it is flushed first (one clock read). */
void lathist_batch_add(lathist_batch *b, lathist *h, uint64_t rx_ns);

/* Record every run as taking (now - its read time), and empty b. The
 * clock is read only if b holds something. */
void lathist_batch_flush(lathist_batch *b, lathist *h);
/* The same at a given time (0: drop the batch); for tests. */
void lathist_batch_flush_at(lathist_batch *b, lathist *h, uint64_t now_ns);

#endif
