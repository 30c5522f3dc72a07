/* dist.c -- which key the next request names.
 *
 * The PRNG is splitmix64: one word of state per thread, a few cycles per
 * draw, so the client spends its (shared) CPU on requests, not on dice.
 * Zipf (s = 0.99, rank r has weight 1/(r+1)^s) precomputes the CDF once
 * (8 bytes per key) and draws by binary search: O(log n), no rejection
 * loop, exact. Rank r is key r, and key r lives in workspace r % W, so the
 * hot keys are spread over workspaces and hence over quotad's shards.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>

/* splitmix64 constants (Steele, Lea, Flood 2014). */
#define SPLITMIX_GAMMA UINT64_C(0x9e3779b97f4a7c15)
#define SPLITMIX_MUL1 UINT64_C(0xbf58476d1ce4e5b9)
#define SPLITMIX_MUL2 UINT64_C(0x94d049bb133111eb)
/* 53 random bits -> a double in [0, 1). */
#define DOUBLE_MANTISSA_SHIFT 11
#define DOUBLE_UNIT (1.0 / 9007199254740992.0)

uint64_t dist_rand(uint64_t *state)
{
    uint64_t z = (*state += SPLITMIX_GAMMA);
    z = (z ^ (z >> 30)) * SPLITMIX_MUL1;
    z = (z ^ (z >> 27)) * SPLITMIX_MUL2;
    return z ^ (z >> 31);
}

/* Independent streams per thread from one user seed. */
uint64_t dist_seed(uint64_t seed, uint64_t stream)
{
    uint64_t s = seed ^ (stream * SPLITMIX_MUL2);
    return dist_rand(&s);
}

int dist_init(bench_dist *d, bench_dist_kind kind, size_t n, double s)
{
    d->kind = kind;
    d->n = n;
    d->cdf = NULL;
    if (n == 0)
        return -1;
    if (kind == DIST_UNIFORM)
        return 0;
    d->cdf = malloc(n * sizeof *d->cdf);
    if (d->cdf == NULL)
        return -1;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += 1.0 / pow((double)(i + 1), s);
        d->cdf[i] = sum;
    }
    for (size_t i = 0; i < n; i++)
        d->cdf[i] /= sum;
    d->cdf[n - 1] = 1.0; /* no draw can fall past the end */
    return 0;
}

void dist_free(bench_dist *d)
{
    free(d->cdf);
    d->cdf = NULL;
}

/* Lemire's multiply-shift: unbiased enough for n << 2^64, no division. */
static size_t pick_uniform(size_t n, uint64_t r)
{
    return (size_t)(((unsigned __int128)r * n) >> 64);
}

/* First index whose cumulative weight exceeds u. */
static size_t pick_zipf(const double *cdf, size_t n, double u)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

size_t dist_pick(const bench_dist *d, uint64_t *rng)
{
    uint64_t r = dist_rand(rng);
    if (d->kind == DIST_UNIFORM)
        return pick_uniform(d->n, r);
    double u = (double)(r >> DOUBLE_MANTISSA_SHIFT) * DOUBLE_UNIT;
    return pick_zipf(d->cdf, d->n, u);
}
