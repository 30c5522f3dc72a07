/* usage -- see usage.h. */
#include "usage.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

void usage_free(usage_log *u)
{
    free(u->d);
    memset(u, 0, sizeof(*u));
}

/* The entry for day, appended if it is newer than the last one. A day
 * older than the last (a clock step back) counts into the last day. */
static usage_day *usage_day_of(usage_log *u, int32_t day)
{
    usage_day *days = u->d != NULL ? u->d : &u->one;
    if (u->n > 0 && days[u->n - 1].day >= day) {
        return &days[u->n - 1];
    }
    if (u->n == USAGE_DAYS_MAX) {
        memmove(days, days + 1, (u->n - 1u) * sizeof(*days));
        u->n--;
    }
    uint16_t cap = u->d != NULL ? u->cap : 1u;
    if (u->n == cap) {
        uint16_t ncap = (uint16_t)(cap * 2u);
        if (ncap > USAGE_DAYS_MAX) {
            ncap = USAGE_DAYS_MAX;
        }
        usage_day *p = realloc(u->d, ncap * sizeof(*p));
        if (p == NULL) {
            return NULL;
        }
        if (u->d == NULL) {
            p[0] = u->one; /* n == 1: the inline day moves first */
        }
        u->d = days = p;
        u->cap = ncap;
    }
    assert(u->n < (u->d != NULL ? u->cap : 1u));
    usage_day *e = &days[u->n++];
    memset(e, 0, sizeof(*e));
    e->day = day;
    return e;
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
    usage_day *e = usage_day_of(u, d->day);
    if (e == NULL) {
        return -1;
    }
    if (e->day != d->day) {
        return -1; /* out of order */
    }
    *e = *d;
    return 0;
}
