/* stats -- process-wide counters: every limit that refuses something, and
 * the work done. Relaxed atomics (one add per event, no locks); read by
 * the root-only `stats` operation and `quotadctl stats`.
 *
 * One X-macro list gives the fields and their names, so the reply can
 * never miss a counter. */
#ifndef QD_STATS_H
#define QD_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define QD_STATS_LIST(X)                                                   \
    X(conns_accepted)      /* connections handed to a worker */            \
    X(conns_refused_max)   /* over conns_max */                            \
    X(conns_refused_ip)    /* over conns_per_ip_max */                     \
    X(conns_closed_idle)   /* idle_timeout_ms */                           \
    X(conns_closed_slow)   /* write_timeout_ms: not reading replies */     \
    X(conns_paused)        /* output over CONN_OUT_BYTES_MAX: stop reading */ \
    X(frames)              /* client frames handled */                     \
    X(frames_too_large)    /* FRAME_BYTES_MAX */                           \
    X(frames_malformed)    /* undecodable or empty */                      \
    X(frames_batch_too_large) /* BATCH_OPS_MAX */                          \
    X(requests)            /* operations run */                            \
    X(permission_denied)                                                   \
    X(auth_failures)       /* refused HELLO credentials */                 \
    X(checks_allowed)                                                      \
    X(checks_denied)                                                       \
    X(checks_past_deadline) /* refused unrun: deadline_ms had passed */   \
    X(holds_expired)       /* released by the sweeper or on settle */      \
    X(alerts_fired)                                                        \
    X(durable_wakeups)     /* a worker woken to release parked replies */

typedef struct qd_stats {
#define QD_STATS_FIELD(name) _Atomic uint64_t name;
    QD_STATS_LIST(QD_STATS_FIELD)
#undef QD_STATS_FIELD
} qd_stats;

extern qd_stats g_stats;

#define STAT_INC(name) \
    atomic_fetch_add_explicit(&g_stats.name, 1, memory_order_relaxed)

#endif
