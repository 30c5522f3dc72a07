/* usage -- see usage.h. */
#include "usage.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

void usage_free(usage_log *u)
{
    free(u->d);
    u->d = NULL;
    u->n = u->cap = 0;
}

/* The entry for day, appended if it is newer than the last one. A day
 * older than the last (a clock step back) counts into the last day. */
static usage_day *usage_day_of(usage_log *u, int32_t day)
{
    if (u->n > 0 && u->d[u->n - 1].day >= day) {
        return &u->d[u->n - 1];
    }
    if (u->n == USAGE_DAYS_MAX) {
        memmove(u->d, u->d + 1, (u->n - 1u) * sizeof(*u->d));
        u->n--;
    }
    if (u->n == u->cap) {
        uint16_t cap = u->cap ? (uint16_t)(u->cap * 2u) : 2u;
        if (cap > USAGE_DAYS_MAX) {
            cap = USAGE_DAYS_MAX;
        }
        usage_day *p = realloc(u->d, cap * sizeof(*p));
        if (p == NULL) {
            return NULL;
        }
        u->d = p;
        u->cap = cap;
    }
    usage_day *e = &u->d[u->n++];
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
