/* store -- all workspaces, keys, holds and idempotency answers, in shards.
 *
 * A workspace and all its keys and holds live in shard (ws_id % shards),
 * so a check-and-debit takes exactly one shard mutex and no global lock.
 * Ids carry their workspace so any request routes without a lookup:
 *   key id  = ws_id << 32 | per-workspace key counter
 *   hold id = ws_id << 32 | per-workspace hold counter (skips live ids)
 *   secret  = carries ws_id in its body (keyfmt.h)
 *
 *   worker threads --(ws_id % n)--> shard[i] { mutex, tables, heap, idem }
 *
 * Functions named do_* expect the caller to hold the shard lock. Every
 * state change takes the next sequence number (store_next_seq) while the
 * shard lock is held, so per-shard order equals seq order.
 *
 * Memory per key: the hot record (struct key) in store_key_pool, a slab
 * with no per-object header (slab.h); one 4-byte slab handle in its
 * workspace's key array (sorted by key id, grown 1.5x: about 5.5 bytes
 * per key with the slack, half what pointers took); one entry in the
 * shard's by-secret tagtab (tagtab.h). Cold parts (key_ext) and labels
 * (keylab.h) are allocated only when used.
 *
 *   workspace.keys  [h0][h1][h2]...  --slab_ptr(&store_key_pool, h)-->  key
 *   shard.by_tag    tag --> key*
 */
#ifndef QD_STORE_H
#define QD_STORE_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "alert.h"
#include "htab.h"
#include "tagtab.h"
#include "idem.h"
#include "ipnet.h"
#include "keyfmt.h"
#include "keylab.h"
#include "keypol.h"
#include "limits.h"
#include "slab.h"
#include "usage.h"
#include "window.h"

#define LIMIT_NONE INT64_C(-1)   /* "unlimited" for every numeric limit */

enum key_status { KEY_ENABLED = 1, KEY_DISABLED = 2, KEY_REVOKED = 3 };
enum key_kind { KEY_STANDARD = 0, KEY_ADMIN = 1 };

/* Cold parts of a key: allocated on first need (first check, rotation,
 * alert rule), so a key at rest costs only its hot record. */
typedef struct key_ext {
    /* Rotation: the previous secret stays valid until prev_expires_ms;
     * afterwards it answers revoked_api_key until the next rotation. */
    keyfmt_hash prev_hash;
    int64_t prev_expires_ms;   /* 0 = no previous secret */
    int64_t usage_requests, usage_tokens, usage_spend;  /* lifetime */
    usage_log usage;           /* per UTC day */
    alert_set *alerts;         /* NULL: no alert rules */
} key_ext;

/* The hot record: everything a check reads or writes except the shared
 * policy, in 112 bytes (two or three cache lines). The policy and the
 * cold part are named by 4-byte ids, not pointers. */
typedef struct key {
    keyfmt_hash hash;          /* secret hash (keyfmt.h), 16 bytes */
    uint64_t id;               /* ws_id << 32 | per-workspace counter */
    int64_t expires_ms;        /* 0 = never */
    int64_t created_ms;
    int64_t quota_remaining;   /* LIMIT_NONE when pol->quota_total is */
    char *labels;              /* keylab block; NULL: all empty */
    win_spend spend;
    win_rate rate;
    uint32_t pol_id;           /* limits and allowlists, interned: key_pol */
    uint32_t ext_h;            /* cold part in store_ext_pool: key_ext_of;
                                * SLAB_HANDLE_NONE until needed */
    uint8_t status;            /* enum key_status */
    uint8_t kind;              /* enum key_kind */
    uint8_t role;              /* admin keys: Quotad__Role they grant */
    uint8_t hint[KEYFMT_HINT_CHARS / 2]; /* hint hex chars, as bytes */
} key;

_Static_assert(sizeof(key) <= 112, "the hot key record grew");

static inline uint32_t key_ws_id(const key *k)
{
    return (uint32_t)(k->id >> 32);
}

static inline const keypol *key_pol(const key *k)
{
    return keypol_at(k->pol_id);
}

/* Every key_ext comes from this pool (slab.h: handles, no header). Its
 * mutex is taken when a key gets or drops its cold part (first check,
 * rotation, alert rule, delete), never by a check of a key that has one. */
extern slab store_ext_pool;

/* The key's cold part, or NULL while it has none. */
static inline key_ext *key_ext_of(const key *k)
{
    return k->ext_h != SLAB_HANDLE_NONE ? slab_ptr(&store_ext_pool, k->ext_h)
                                        : NULL;
}

static inline int64_t key_prev_expires(const key *k)
{
    const key_ext *e = key_ext_of(k);
    return e ? e->prev_expires_ms : 0;
}

/* The key's cold part, allocated (zeroed) if absent; NULL: out of memory. */
key_ext *key_ext_get(key *k);
/* Free the cold part (usage days, alert rules) if the key has one. */
void key_ext_drop(key *k);
/* Hint as text (KEYFMT_HINT_CHARS hex chars + NUL) and back; set
 * returns -1 unless hex is exactly that many lowercase hex chars. */
void key_hint_text(const key *k, char out[KEYFMT_HINT_CHARS + 1]);
int key_hint_set(key *k, const char *hex);

typedef struct workspace {
    uint32_t id;
    uint32_t max_keys;
    char *name;
    int64_t balance;           /* micro-units */
    int64_t overdraft_limit;   /* balance may reach -overdraft_limit */
    int64_t reserved;          /* sum of open holds (already debited) */
    int64_t created_ms;
    int64_t usage_requests, usage_tokens, usage_spend;
    uint32_t next_key_seq, next_hold_seq;
    uint64_t snap_seq;         /* recovery: records <= this are loaded */
    uint32_t *keys;            /* key pool handles, sorted by key id:
                                * ws_key_at() for the key */
    uint32_t n_keys, keys_cap;
    usage_log usage;           /* per UTC day */
    alert_set *alerts;         /* NULL: no alert rules */
} workspace;

/* Every key record lives in this pool; workspace.keys holds handles. */
extern slab store_key_pool;

/* The i-th key of w by id (i < w->n_keys). Caller holds the shard lock. */
static inline key *ws_key_at(const workspace *w, uint32_t i)
{
    assert(i < w->n_keys);
    return slab_ptr(&store_key_pool, w->keys[i]);
}

/* The handle of a key record from store_key_alloc. */
static inline uint32_t store_key_handle(const key *k)
{
    return slab_handle(&store_key_pool, k);
}

/* A reservation made by a check with hold=true. The amount was already
 * taken from quota, spend windows and wallet; settle refunds the rest. */
typedef struct hold {
    uint64_t id;
    uint64_t key_id;
    int64_t amount;            /* reserved */
    int64_t tokens;            /* counted at check time */
    int64_t created_ms, expires_ms;
    uint32_t heap_idx;         /* position in the shard's expiry heap */
} hold;

/* Log records of this shard not yet taken by the log writer, each framed
 * as [u32 little-endian length][packed LogRecord]. Appended under the
 * shard lock, so per-shard log order equals seq order. */
typedef struct shard_log {
    uint8_t *buf;
    size_t len, cap;
    uint32_t n;
} shard_log;

typedef struct shard {
    pthread_mutex_t mu;
    shard_log log;
    tagtab by_tag;             /* keyfmt_tag(secret hash) -> key*; a key
                                * in its rotation grace period twice */
    uint64_t n_keys;           /* keys in all workspaces of the shard */
    htab wss;                  /* ws id -> workspace* */
    htab holds;                /* hold id -> hold* */
    hold **heap;               /* min-heap on expires_ms */
    uint32_t heap_n, heap_cap;
    idem_tab idem;
    uint64_t holds_expired;    /* stat */
} shard;

typedef struct store_opts {
    uint32_t shards;
    uint32_t hold_timeout_ms;          /* default when a check gives 0 */
    uint32_t idem_window_ms;
    uint32_t idem_entries_per_shard;
    uint32_t max_keys_default;
    int64_t settle_overrun_micro;
    char key_prefix[KEY_PREFIX_BYTES_MAX + 1];
} store_opts;

/* Credentials from the config file (hashes only). */
typedef struct auth_cfg {
    bool required;             /* connections must HELLO a credential */
    bool has_root, has_gateway;
    keyfmt_hash root, gateway;
} auth_cfg;

typedef struct store {
    store_opts opt;
    shard *shards;
    _Atomic uint64_t seq;              /* last assigned sequence number */
    _Atomic uint32_t next_ws_id;       /* last assigned workspace id */
    int64_t (*now_ms)(void);           /* injectable clock */
    struct plog *plog;                 /* NULL: in-memory only */
    _Atomic int read_only;             /* durability lost: refuse writes */
    auth_cfg auth;
    alert_queue alerts;
    bool test_hooks;                   /* debug_clock accepted */
} store;

void store_opts_default(store_opts *o);

__attribute__((warn_unused_result))
int store_open(const store_opts *o, store **out);
void store_close(store *st);

int64_t store_clock_real_ms(void);
/* The real clock plus an offset moved only by the debug_clock test op
 * (config test_hooks = 1). */
int64_t store_clock_test_ms(void);
void store_clock_test_advance(int64_t ms);

static inline shard *store_shard_of(store *st, uint32_t ws_id)
{
    return &st->shards[ws_id % st->opt.shards];
}

void store_lock(shard *sh);
void store_unlock(shard *sh);

/* Next sequence number for a state change (shard lock held). */
uint64_t store_next_seq(store *st);
uint64_t store_current_seq(store *st);

/* Release expired holds of shards [first, first+count), at most
 * HOLD_SWEEP_BATCH_MAX per shard. Takes each shard lock briefly. Returns
 * the number released. */
uint32_t store_sweep(store *st, uint32_t first, uint32_t count,
                     int64_t now_ms);


/* ---- shard-internal helpers: caller holds the shard lock ---- */
workspace *do_ws_find(shard *sh, uint32_t ws_id);
/* By id: the workspace's sorted key array (binary search). */
key *do_key_find(shard *sh, uint64_t key_id);
uint32_t do_ws_key_lower_bound(const workspace *w, uint64_t key_id);
__attribute__((warn_unused_result)) int do_ws_insert(shard *sh, workspace *w);
/* Returns 0, -1 out of memory, -2 secret tag already taken. */
__attribute__((warn_unused_result))
int do_key_insert(shard *sh, workspace *w, key *k);
void do_key_remove(shard *sh, workspace *w, key *k);
/* The key a secret hash names in workspace ws_id, or NULL; *is_prev: it
 * matched the previous (rotated-out) secret. Constant-time comparison. */
key *do_key_by_hash(shard *sh, uint32_t ws_id, const keyfmt_hash *h,
                    bool *is_prev);
/* Make nh the key's secret; the current one stays valid until
 * prev_expires_ms. Returns 0, -1 out of memory, -2 tag taken. */
__attribute__((warn_unused_result))
int do_key_rotate(shard *sh, key *k, const keyfmt_hash *nh, const char *hint,
                  int64_t prev_expires_ms);
/* Returns 0, -1 out of memory, -2 shard hold limit reached. */
__attribute__((warn_unused_result)) int do_hold_insert(shard *sh, hold *h);
void do_hold_remove(shard *sh, hold *h);
hold *do_hold_find(shard *sh, uint64_t hold_id);
uint64_t do_hold_new_id(shard *sh, workspace *w);
/* Void an expired hold (refund all), unindex it, take and log a seq
 * (returned); the caller frees it. */
uint64_t do_hold_release(store *st, shard *sh, hold *h, int64_t now_ms);

/* A zeroed key record (pooled), or NULL; release with store_key_free. */
key *store_key_alloc(void);
void store_key_free(key *k);

/* After a change that can cross an alert threshold (allowed check,
 * settle, wallet change): evaluate the rules of w and k (may be NULL). */
void do_alert_eval(store *st, workspace *w, key *k, int64_t now_ms);

#endif
