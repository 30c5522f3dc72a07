/* usage -- see usage.h.
 *
 * A past day is packed as, in order (LEB128 varints; signed values
 * zigzag-encoded):
 *   day gap      newer day - this day (>= 1)
 *   requests, allowed, tokens, spend     (signed)
 *   denied mask  bit j set when denied[j] != 0 (USAGE_DECISIONS bits)
 *   denied[j]    for each set bit, lowest j first
 * The gap of the first (newest) past day is taken from `last`.
 */
#include "usage.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

#define VARINT_BYTES_MAX 10u          /* a uint64_t as LEB128 */
/* gap + four signed counters + mask + every denied counter */
#define USAGE_PACKED_BYTES_MAX ((6u + USAGE_DECISIONS) * VARINT_BYTES_MAX)
#define USAGE_PAST_CAP_MIN 64u        /* bytes, first allocation */

_Static_assert(USAGE_DECISIONS <= 32u, "the denied mask is a uint32_t");
_Static_assert(USAGE_DAYS_MAX <= UINT16_MAX, "n is a uint16_t");

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80u) {
        p[n++] = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1u);
}

/* Only bytes this module wrote are read, so a varint always ends within
 * the buffer; the asserts guard that invariant. */
static uint64_t get_varint(const uint8_t *p, uint32_t len, uint32_t *pos)
{
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        assert(*pos < len && shift < 64);
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7fu) << shift;
        if ((b & 0x80u) == 0) {
            return v;
        }
    }
}

/* Pack d, whose newer neighbour is on day `newer`, into out. */
static size_t pack_day(const usage_day *d, int32_t newer, uint8_t *out)
{
    assert(newer > d->day);
    size_t n = put_varint(out, (uint64_t)((int64_t)newer - d->day));
    n += put_varint(out + n, zigzag(d->requests));
    n += put_varint(out + n, zigzag(d->allowed));
    n += put_varint(out + n, zigzag(d->tokens));
    n += put_varint(out + n, zigzag(d->spend));
    uint32_t mask = 0;
    for (uint32_t j = 0; j < USAGE_DECISIONS; j++) {
        mask |= d->denied[j] != 0 ? 1u << j : 0u;
    }
    n += put_varint(out + n, mask);
    for (uint32_t j = 0; j < USAGE_DECISIONS; j++) {
        if (d->denied[j] != 0) {
            n += put_varint(out + n, d->denied[j]);
        }
    }
    assert(n <= USAGE_PACKED_BYTES_MAX);
    return n;
}

/* Unpack the day at *pos, older than day `newer`. */
static void unpack_day(const uint8_t *p, uint32_t len, uint32_t *pos,
                       int32_t newer, usage_day *d)
{
    memset(d, 0, sizeof(*d));
    d->day = (int32_t)((int64_t)newer - (int64_t)get_varint(p, len, pos));
    d->requests = unzigzag(get_varint(p, len, pos));
    d->allowed = unzigzag(get_varint(p, len, pos));
    d->tokens = unzigzag(get_varint(p, len, pos));
    d->spend = unzigzag(get_varint(p, len, pos));
    uint32_t mask = (uint32_t)get_varint(p, len, pos);
    for (uint32_t j = 0; j < USAGE_DECISIONS; j++) {
        if (mask & (1u << j)) {
            d->denied[j] = (uint32_t)get_varint(p, len, pos);
        }
    }
}

void usage_free(usage_log *u)
{
    free(u->past);
    memset(u, 0, sizeof(*u));
}

void usage_iter_init(usage_iter *it, const usage_log *u)
{
    it->u = u;
    it->pos = 0;
    it->i = 0;
    it->day = 0;
}

int usage_iter_next(usage_iter *it, usage_day *d)
{
    const usage_log *u = it->u;
    if (it->i >= u->n) {
        return 0;
    }
    if (it->i == 0) {
        *d = u->last;
    } else {
        unpack_day(u->past, u->past_bytes, &it->pos, it->day, d);
    }
    it->day = d->day;
    it->i++;
    return 1;
}

uint16_t usage_log_days(const usage_log *u, usage_day *out)
{
    usage_iter it;
    usage_iter_init(&it, u);
    uint16_t i = u->n;
    while (i > 0 && usage_iter_next(&it, &out[i - 1])) {
        i--;
    }
    assert(i == 0);
    return u->n;
}

/* Byte offset of the oldest past day (n >= 2). */
static uint32_t oldest_at(const usage_log *u)
{
    assert(u->n >= 2);
    uint32_t pos = 0, at = 0;
    int32_t day = u->last.day;
    usage_day d;
    for (uint16_t i = 1; i < u->n; i++) {
        at = pos;
        unpack_day(u->past, u->past_bytes, &pos, day, &d);
        day = d.day;
    }
    assert(pos == u->past_bytes);
    return at;
}

/* Make room for `need` more bytes of past days. Returns 0 or -1. */
static int past_reserve(usage_log *u, size_t need)
{
    if (u->past_bytes + need <= u->past_cap) {
        return 0;
    }
    size_t cap = u->past_cap ? u->past_cap : USAGE_PAST_CAP_MIN;
    while (cap < u->past_bytes + need) {
        cap *= 2;
    }
    uint8_t *p = realloc(u->past, cap);
    if (p == NULL) {
        return -1;
    }
    u->past = p;
    u->past_cap = (uint32_t)cap;
    return 0;
}

/* The entry for day: `last` if it is that day (or newer: a clock step
 * back counts into the last day); else `last` moves into the packed past
 * and a fresh day starts. NULL when out of memory (nothing changed). */
static usage_day *usage_day_of(usage_log *u, int32_t day)
{
    if (u->n > 0 && u->last.day >= day) {
        return &u->last;
    }
    if (u->n > 0) {
        uint8_t enc[USAGE_PACKED_BYTES_MAX];
        size_t len = pack_day(&u->last, day, enc);
        if (past_reserve(u, len) != 0) {
            return NULL;
        }
        if (u->n == USAGE_DAYS_MAX) {
            u->past_bytes = u->n >= 2 ? oldest_at(u) : 0;
            u->n--;
        }
        memmove(u->past + len, u->past, u->past_bytes);
        memcpy(u->past, enc, len);
        u->past_bytes += (uint32_t)len;
    }
    memset(&u->last, 0, sizeof(u->last));
    u->last.day = day;
    u->n++;
    assert(u->n <= USAGE_DAYS_MAX);
    return &u->last;
}

int usage_note_check(usage_log *u, int64_t now_ms, int decision,
                     int64_t charged, int64_t tokens)
{
    assert(decision >= 0 && decision < (int)USAGE_DECISIONS);
    usage_day *e = usage_day_of(u, (int32_t)win_day_index(now_ms));
    if (e == NULL) {
        return -1;
    }
    e->requests++;
    if (decision == 0) {
        e->allowed++;
        e->tokens += tokens;
        e->spend += charged;
    } else {
        e->denied[decision]++;
    }
    return 0;
}

int usage_note_adjust(usage_log *u, int64_t now_ms, int64_t spend_delta,
                      int64_t tokens_delta)
{
    usage_day *e = usage_day_of(u, (int32_t)win_day_index(now_ms));
    if (e == NULL) {
        return -1;
    }
    e->spend += spend_delta;
    e->tokens += tokens_delta;
    return 0;
}

int usage_put_day(usage_log *u, const usage_day *d)
{
    if (u->n > 0 && u->last.day > d->day) {
        return -1; /* out of order */
    }
    usage_day *e = usage_day_of(u, d->day);
    if (e == NULL) {
        return -1;
    }
    *e = *d;
    return 0;
}
