/* alert -- see alert.h. */
#include "alert.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"
#include "stats.h"

int alert_queue_init(alert_queue *q)
{
    memset(q, 0, sizeof(*q));
    q->next_seq = 1;
    return pthread_mutex_init(&q->mu, NULL) == 0 ? 0 : -1;
}

void alert_queue_destroy(alert_queue *q)
{
    pthread_mutex_destroy(&q->mu);
}

void alert_queue_set_notify(alert_queue *q, void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&q->mu);
    q->notify = fn;
    q->notify_arg = arg;
    pthread_mutex_unlock(&q->mu);
}

int alert_set_rule(alert_set **s, uint8_t kind, int64_t threshold, bool clear)
{
    if (*s == NULL) {
        if (clear) {
            return 0;
        }
        *s = calloc(1, sizeof(**s));
        if (*s == NULL) {
            return -1;
        }
    }
    alert_set *a = *s;
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->r[i].kind != kind) {
            continue;
        }
        if (clear) {
            a->r[i] = a->r[--a->n];
        } else {
            a->r[i].threshold = threshold;
            a->r[i].fired_window = -1; /* a new threshold re-arms it */
        }
        if (a->n == 0) {
            alert_set_free(s);
        }
        return 0;
    }
    if (clear) {
        return 0;
    }
    if (a->n == ALERT_RULES_MAX) {
        return -2;
    }
    a->r[a->n++] = (alert_rule){.kind = kind, .threshold = threshold,
                                .fired_window = -1};
    return 0;
}

void alert_set_free(alert_set **s)
{
    free(*s);
    *s = NULL;
}

/* Is rule r crossed by v? Fills the value it compares. */
static bool crossed(const alert_rule *r, const alert_values *v,
                    int64_t *value)
{
    switch (r->kind) {
    case ALERT_SPEND_DAY:
        *value = v->spend_day;
        return v->spend_day >= r->threshold;
    case ALERT_SPEND_WEEK:
        *value = v->spend_week;
        return v->spend_week >= r->threshold;
    case ALERT_WALLET_BELOW:
        *value = v->balance;
        return v->balance < r->threshold;
    case ALERT_QUOTA_BELOW_PCT:
        *value = v->quota_remaining;
        return v->quota_total > 0 &&
               v->quota_remaining * 100 < r->threshold * v->quota_total;
    default:
        return false;
    }
}

static void push(alert_queue *q, const alert_event *e)
{
    pthread_mutex_lock(&q->mu);
    alert_event *slot = &q->ring[q->next_seq % ALERT_QUEUE_MAX];
    *slot = *e;
    slot->seq = q->next_seq++;
    if (q->notify != NULL) {
        q->notify(q->notify_arg);
    }
    pthread_mutex_unlock(&q->mu);
}

void alert_eval(alert_queue *q, alert_set *s, uint32_t ws_id,
                uint64_t key_id, const alert_values *v, int64_t now_ms,
                uint64_t state_seq)
{
    if (s == NULL) {
        return;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        alert_rule *r = &s->r[i];
        int64_t window = r->kind == ALERT_SPEND_WEEK ? win_week_index(now_ms)
                                                     : win_day_index(now_ms);
        int64_t value = 0;
        if (r->fired_window == window || !crossed(r, v, &value)) {
            continue;
        }
        r->fired_window = window;
        STAT_INC(alerts_fired);
        alert_event e = {.ws_id = ws_id, .key_id = key_id, .kind = r->kind,
                         .threshold = r->threshold, .value = value,
                         .window = window, .at_ms = now_ms,
                         .state_seq = state_seq};
        push(q, &e);
    }
}

size_t alert_read(alert_queue *q, uint64_t *cursor, alert_event *out,
                  size_t max, uint64_t *dropped)
{
    pthread_mutex_lock(&q->mu);
    uint64_t oldest = q->next_seq > ALERT_QUEUE_MAX
                          ? q->next_seq - ALERT_QUEUE_MAX
                          : 1;
    *dropped = 0;
    if (*cursor < oldest) {
        *dropped = oldest - *cursor;
        *cursor = oldest;
    }
    size_t n = 0;
    while (n < max && *cursor < q->next_seq) {
        out[n++] = q->ring[*cursor % ALERT_QUEUE_MAX];
        (*cursor)++;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

uint64_t alert_next_seq(alert_queue *q)
{
    pthread_mutex_lock(&q->mu);
    uint64_t s = q->next_seq;
    pthread_mutex_unlock(&q->mu);
    return s;
}
