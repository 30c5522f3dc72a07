/* alert -- thresholds on keys and workspaces, and the event queue that
 * carries crossings to watching connections.
 *
 *   worker (shard lock held)              any worker's watching conns
 *   after an allowed check, a settle,     on notify: read events with
 *   a wallet change: alert_eval           seq >= their cursor, filter by
 *     crossed && window not yet fired     workspace, send as replies
 *     -> push into the ring (mutex) --notify (eventfd per worker)-->
 *
 * A rule fires at most once per window (UTC day; ISO week for weekly
 * spend): its fired_window remembers the last one. The ring is bounded
 * (ALERT_QUEUE_MAX); a watcher that falls behind is told how many events
 * it missed. Fired windows are not persisted: after a restart a rule
 * that is still over its threshold may fire once more in that window.
 */
#ifndef QD_ALERT_H
#define QD_ALERT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALERT_RULES_MAX 8u           /* per key and per workspace */
#define ALERT_QUEUE_MAX 4096u        /* events kept for watchers */
#define ALERT_PCT_MAX 100

enum alert_kind {
    ALERT_SPEND_DAY = 1,
    ALERT_SPEND_WEEK = 2,
    ALERT_WALLET_BELOW = 3,
    ALERT_QUOTA_BELOW_PCT = 4,
};

typedef struct alert_rule {
    uint8_t kind;
    int64_t threshold;
    int64_t fired_window;            /* -1: not fired yet */
} alert_rule;

typedef struct alert_set {
    alert_rule r[ALERT_RULES_MAX];
    uint32_t n;
} alert_set;

typedef struct alert_event {
    uint64_t seq;
    uint32_t ws_id;
    uint64_t key_id;                 /* 0: workspace rule */
    uint8_t kind;
    int64_t threshold, value, window, at_ms;
    uint64_t state_seq;              /* sent once this seq is durable */
} alert_event;

typedef struct alert_queue {
    pthread_mutex_t mu;
    alert_event ring[ALERT_QUEUE_MAX];
    uint64_t next_seq;               /* seq the next event gets (from 1) */
    void (*notify)(void *arg);       /* wakes the workers; under mu */
    void *notify_arg;
} alert_queue;

int alert_queue_init(alert_queue *q);
void alert_queue_destroy(alert_queue *q);
void alert_queue_set_notify(alert_queue *q, void (*fn)(void *), void *arg);

/* Add, replace (same kind) or clear a rule. *s is allocated on first use
 * and freed when empty. Returns 0, -1 out of memory, -2 set full. */
int alert_set_rule(alert_set **s, uint8_t kind, int64_t threshold,
                   bool clear);
void alert_set_free(alert_set **s);

/* Inputs of one evaluation (the caller reads them under the lock). */
typedef struct alert_values {
    int64_t spend_day, spend_week;   /* of the key, or the workspace */
    int64_t balance;                 /* workspace */
    int64_t quota_total, quota_remaining; /* key; total -1 = unlimited */
} alert_values;

/* Fire every rule of s that is crossed and not yet fired this window. */
void alert_eval(alert_queue *q, alert_set *s, uint32_t ws_id,
                uint64_t key_id, const alert_values *v, int64_t now_ms,
                uint64_t state_seq);

/* Copy events with seq >= *cursor (at most max) and advance *cursor;
 * *dropped = events that left the ring before this watcher read them. */
size_t alert_read(alert_queue *q, uint64_t *cursor, alert_event *out,
                  size_t max, uint64_t *dropped);

/* seq the next event will get: a new watcher starts here. */
uint64_t alert_next_seq(alert_queue *q);

#endif
