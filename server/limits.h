/* limits.h -- every bound quotad enforces, with its unit and the reason.
 *
 * Each limit is a named constant; code never uses the bare number. Where
 * limits relate to each other the relationship is asserted at compile time.
 */
#ifndef QD_LIMITS_H
#define QD_LIMITS_H

#include <stdint.h>

/* Protocol version spoken by this build (HELLO / frame.version). */
#define PROTO_VERSION 1u

/* Framing: 4-byte big-endian length prefix, then the protobuf body. */
#define FRAME_HEADER_BYTES 4u
/* Largest frame body either side may send; bounds per-connection memory. */
#define FRAME_BYTES_MAX (1024u * 1024u)
/* Requests in one ClientFrame; bounds the work one frame can demand. */
#define BATCH_OPS_MAX 256u
/* Heap protobuf-c may use to decode one frame (capped allocator). */
#define DECODE_HEAP_BYTES_MAX (4u * FRAME_BYTES_MAX)

/* Field sizes. */
#define SECRET_CHARS_MAX 128u          /* longest bearer string accepted */
#define NAME_BYTES_MAX 128u            /* key/workspace name */
#define GROUP_BYTES_MAX 64u
#define CREATOR_BYTES_MAX 128u
#define MODEL_BYTES_MAX 128u
#define MODELS_PER_KEY_MAX 64u
#define IPS_PER_KEY_MAX 64u
#define METADATA_PAIRS_MAX 32u
#define METADATA_BYTES_MAX 256u        /* each key and each value */
#define IDEMPOTENCY_ID_BYTES_MAX 128u
#define REASON_BYTES_MAX 256u
#define KEY_PREFIX_BYTES_MAX 16u

/* Listing: page size bounds the reply frame (a KeyInfo is < 1 KiB). */
#define LIST_PAGE_DEFAULT 100u
#define LIST_PAGE_MAX 500u

/* Workspaces. */
#define WORKSPACE_MAX_KEYS_DEFAULT 10u
#define WORKSPACE_MAX_KEYS_LIMIT 10000000u

/* Amounts are micro-units in int64; no single amount above this, so sums of
 * a few can never overflow. (1e15 micro = 1e9 units.) */
#define AMOUNT_MICRO_MAX INT64_C(1000000000000000)
#define TOKENS_MAX INT64_C(1000000000)

/* Holds. */
#define HOLD_TIMEOUT_MS_DEFAULT 300000u   /* 5 minutes */
#define HOLD_TIMEOUT_MS_MAX 86400000u     /* 1 day */
#define HOLDS_PER_SHARD_MAX 1000000u
#define HOLD_SWEEP_INTERVAL_MS 50u
#define HOLD_SWEEP_BATCH_MAX 4096u        /* expiries per shard per sweep */
/* Settling may charge more than the hold, by at most this much by default. */
#define SETTLE_OVERRUN_MICRO_DEFAULT INT64_C(0)

/* Rotation grace. */
#define ROTATE_GRACE_MS_MAX (30LL * 86400000LL)

/* Idempotency: answers kept this long, at most this many per shard. */
#define IDEM_WINDOW_MS_DEFAULT 86400000u  /* 24 hours */
#define IDEM_ENTRIES_PER_SHARD_MAX 16384u

/* Sharding. */
#define SHARDS_DEFAULT 64u
#define SHARDS_MAX 4096u

/* Server, per connection and total. */
#define WORKERS_MAX 256u
#define CONNS_MAX_DEFAULT 10000u
#define CONN_OUT_BYTES_MAX (4u * FRAME_BYTES_MAX) /* stop reading above */
#define CONN_IN_BYTES_MAX (2u * (FRAME_BYTES_MAX + FRAME_HEADER_BYTES))
#define CONN_IDLE_TIMEOUT_MS_DEFAULT 300000u
#define CONN_WRITE_TIMEOUT_MS_DEFAULT 30000u      /* slow reader cut-off */
#define FRAMES_PER_EVENT_MAX 64u                  /* fairness per callback */
/* Buffered frames decoded together so their checks' cold lines can be
 * prefetched before any of them runs (conn.c, ops_prefetch.c): at most
 * this many frames, this many input bytes (bounds the decoded memory;
 * a larger first frame goes alone), this many checks prefetched (more
 * would evict each other's lines from L1 before they are used). */
#define PREFETCH_FRAMES_MAX 8u
#define PREFETCH_BYTES_MAX (64u * 1024u)
#define PREFETCH_CHECKS_MAX 64u
#define PREFETCH_CHECKS_MIN 2u                    /* one alone gains nothing */
/* Per-client-IP connection counting: addresses hash into this many
 * buckets (lock-free counters; a collision only makes a limit stricter). */
#define NET_IP_BUCKETS 65536u
#define NET_IP_BUCKET_NONE UINT32_MAX             /* e.g. a Unix socket */
#define LISTEN_BACKLOG 1024
#define DEFAULT_PORT 7411
#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_DATA_DIR "./data"

/* Client library defaults. */
#define QC_TIMEOUT_MS_DEFAULT 5000u

_Static_assert(CONN_IN_BYTES_MAX > FRAME_BYTES_MAX + FRAME_HEADER_BYTES,
               "a whole frame must fit in the input buffer");
_Static_assert(CONN_OUT_BYTES_MAX >= FRAME_BYTES_MAX,
               "one reply frame must fit in the output buffer");
_Static_assert(LIST_PAGE_MAX * 2048u < FRAME_BYTES_MAX,
               "a full list page must fit in one frame");
_Static_assert(SHARDS_DEFAULT <= SHARDS_MAX, "default within bound");
_Static_assert(PREFETCH_FRAMES_MAX <= FRAMES_PER_EVENT_MAX,
               "a prefetch batch fits in one callback's budget");
_Static_assert(PREFETCH_BYTES_MAX < CONN_IN_BYTES_MAX,
               "a prefetch batch is a part of the input buffer");

/* Daemon process and network layer (config.c, net.c, conn.c, log.c). */
#define CONNS_MAX_LIMIT 1000000u          /* conns_max bound: fd table size */
#define CONN_TIMEOUT_MS_MAX 86400000u     /* idle/write timeout bound: 1 day */
#define CONN_LINGER_MS 2000u              /* after an error reply, wait this
                                           * long for the peer's FIN so close
                                           * sends FIN, not RST */
#define CONN_LINGER_BYTES_MAX (2u * FRAME_BYTES_MAX) /* discarded, then cut */
#define CONN_REPLY_COPY_BYTES_MAX 16384u  /* smaller replies are copied into
                                           * the output (one writev chain);
                                           * larger ones are referenced */
#define NET_ACCEPT_QUEUE_MAX 4096u        /* accepted fds waiting per worker */
#define NET_ACCEPT_RETRY_MS 100u          /* accept paused after EMFILE */
#define IDEM_WINDOW_MS_MAX 604800000u     /* idem_window_ms bound: 7 days */
#define LOG_LINE_BYTES_MAX 1024u          /* longer log lines are truncated */

_Static_assert(CONN_LINGER_BYTES_MAX >= FRAME_BYTES_MAX,
               "lingering must absorb the rest of one refused frame");
_Static_assert(CONN_REPLY_COPY_BYTES_MAX < CONN_OUT_BYTES_MAX / 2,
               "a copied reply never crosses the output limit alone");

#endif
