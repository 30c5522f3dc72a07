/* store -- shards and their tables; see store.h for the layout. */
#include "store.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "limits.h"
#include "quota.h"
#include "rec.h"
#include "slab.h"
#include "stats.h"

void store_opts_default(store_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->shards = SHARDS_DEFAULT;
    o->hold_timeout_ms = HOLD_TIMEOUT_MS_DEFAULT;
    o->idem_window_ms = IDEM_WINDOW_MS_DEFAULT;
    o->idem_entries_per_shard = IDEM_ENTRIES_PER_SHARD_MAX;
    o->max_keys_default = WORKSPACE_MAX_KEYS_DEFAULT;
    o->settle_overrun_micro = SETTLE_OVERRUN_MICRO_DEFAULT;
    strcpy(o->key_prefix, KEYFMT_PREFIX_DEFAULT);
}

int64_t store_clock_real_ms(void)
{
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    assert(rc == 0);
    (void)rc;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static _Atomic int64_t clock_test_offset_ms;

int64_t store_clock_test_ms(void)
{
    return store_clock_real_ms() + atomic_load(&clock_test_offset_ms);
}

void store_clock_test_advance(int64_t ms)
{
    atomic_fetch_add(&clock_test_offset_ms, ms);
}

/* tagtab callback: the full tag of a by_tag entry. */
static uint64_t key_tag_of(const void *v, bool prev)
{
    const key *k = v;
    if (!prev) {
        return keyfmt_tag(&k->hash);
    }
    const key_ext *e = key_ext_of(k);
    assert(e != NULL && e->prev_expires_ms != 0);
    return keyfmt_tag(&e->prev_hash);
}

static int shard_init(shard *sh, const store_opts *o)
{
    memset(sh, 0, sizeof(*sh));
    tagtab_init(&sh->by_tag, key_tag_of);
    if (pthread_mutex_init(&sh->mu, NULL) != 0) {
        return -1;
    }
    if (idem_init(&sh->idem, o->idem_entries_per_shard,
                  o->idem_window_ms) != 0) {
        pthread_mutex_destroy(&sh->mu);
        return -1;
    }
    return 0;
}

/* Every key record comes from this pool: 120 bytes each, no malloc
 * header, and a 4-byte handle for the workspace key arrays. */
slab store_key_pool = SLAB_INIT(sizeof(key));

/* Workspace key arrays: first size and growth (1.5x), in entries. */
#define WS_KEYS_CAP_MIN 4u
#define WS_KEYS_GROWTH_DIV 2u          /* cap += cap / this + 1 */

key *store_key_alloc(void)
{
    return slab_alloc(&store_key_pool);
}

slab store_ext_pool = SLAB_INIT(sizeof(key_ext));

key_ext *key_ext_get(key *k)
{
    key_ext *e = key_ext_of(k);
    if (e == NULL && (e = slab_alloc(&store_ext_pool)) != NULL) {
        k->ext_h = slab_handle(&store_ext_pool, e);
    }
    return e;
}

void key_ext_drop(key *k)
{
    key_ext *e = key_ext_of(k);
    if (e != NULL) {
        usage_free(&e->usage);
        alert_set_free(&e->alerts);
        slab_free(&store_ext_pool, e);
        k->ext_h = SLAB_HANDLE_NONE;
    }
}

void key_hint_text(const key *k, char out[KEYFMT_HINT_CHARS + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(k->hint); i++) {
        out[2 * i] = hex[k->hint[i] >> 4];
        out[2 * i + 1] = hex[k->hint[i] & 15];
    }
    out[KEYFMT_HINT_CHARS] = '\0';
}

static int hex_val(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                                  : -1;
}

int key_hint_set(key *k, const char *hex)
{
    uint8_t b[sizeof(k->hint)];
    if (hex == NULL || strlen(hex) != KEYFMT_HINT_CHARS) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(b); i++) {
        int hi = hex_val(hex[2 * i]), lo = hex_val(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(k->hint, b, sizeof(b));
    return 0;
}

void store_key_free(key *k)
{
    if (k == NULL) {
        return;
    }
    keypol_release(key_pol(k));
    keylab_free(k->labels);
    key_ext_drop(k);
    slab_free(&store_key_pool, k);
}


static void ws_free(workspace *w)
{
    for (uint32_t i = 0; i < w->n_keys; i++) {
        store_key_free(ws_key_at(w, i));
    }
    usage_free(&w->usage);
    alert_set_free(&w->alerts);
    free(w->name);
    free(w->keys);
    free(w);
}

static void shard_free(shard *sh)
{
    size_t pos = 0;
    uint64_t id;
    void *v;
    while (htab_next(&sh->wss, &pos, &id, &v)) {
        ws_free(v);
    }
    pos = 0;
    while (htab_next(&sh->holds, &pos, &id, &v)) {
        free(v);
    }
    free(sh->log.buf);
    tagtab_free(&sh->by_tag);
    htab_free(&sh->wss);
    htab_free(&sh->holds);
    free(sh->heap);
    idem_free(&sh->idem);
    pthread_mutex_destroy(&sh->mu);
}

int store_open(const store_opts *o, store **out)
{
    assert(o->shards >= 1 && o->shards <= SHARDS_MAX);
    *out = NULL;
    store *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return -1;
    }
    st->opt = *o;
    st->now_ms = store_clock_real_ms;
    st->shards = calloc(o->shards, sizeof(shard));
    if (st->shards == NULL) {
        free(st);
        return -1;
    }
    for (uint32_t i = 0; i < o->shards; i++) {
        if (shard_init(&st->shards[i], o) != 0) {
            for (uint32_t j = 0; j < i; j++) {
                shard_free(&st->shards[j]);
            }
            free(st->shards);
            free(st);
            return -1;
        }
    }
    atomic_init(&st->seq, 0);
    atomic_init(&st->next_ws_id, 0);
    if (alert_queue_init(&st->alerts) != 0) {
        for (uint32_t j = 0; j < o->shards; j++) {
            shard_free(&st->shards[j]);
        }
        free(st->shards);
        free(st);
        return -1;
    }
    *out = st;
    return 0;
}

void store_close(store *st)
{
    if (st == NULL) {
        return;
    }
    for (uint32_t i = 0; i < st->opt.shards; i++) {
        shard_free(&st->shards[i]);
    }
    free(st->shards);
    alert_queue_destroy(&st->alerts);
    free(st);
}

void store_lock(shard *sh)
{
    int rc = pthread_mutex_lock(&sh->mu);
    assert(rc == 0);
    (void)rc;
}

void store_unlock(shard *sh)
{
    int rc = pthread_mutex_unlock(&sh->mu);
    assert(rc == 0);
    (void)rc;
}

uint64_t store_next_seq(store *st)
{
    return atomic_fetch_add(&st->seq, 1) + 1;
}

uint64_t store_current_seq(store *st)
{
    return atomic_load(&st->seq);
}

workspace *do_ws_find(shard *sh, uint32_t ws_id)
{
    return ws_id == 0 ? NULL : htab_get(&sh->wss, ws_id);
}

key *do_key_find(shard *sh, uint64_t key_id)
{
    workspace *w = do_ws_find(sh, (uint32_t)(key_id >> 32));
    if (w == NULL) {
        return NULL;
    }
    uint32_t i = do_ws_key_lower_bound(w, key_id);
    if (i == w->n_keys) {
        return NULL;
    }
    key *k = ws_key_at(w, i);
    return k->id == key_id ? k : NULL;
}

/* Index of the first key in w->keys with id >= key_id. */
uint32_t do_ws_key_lower_bound(const workspace *w, uint64_t key_id)
{
    uint32_t lo = 0, hi = w->n_keys;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ws_key_at(w, mid)->id < key_id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int do_ws_insert(shard *sh, workspace *w)
{
    assert(w->id != 0);
    assert(htab_get(&sh->wss, w->id) == NULL);
    return htab_put(&sh->wss, w->id, w);
}

/* Room for at least one more key handle in w->keys. Returns 0 or -1. */
static int ws_keys_grow(workspace *w)
{
    uint32_t cap = w->keys_cap == 0
                       ? WS_KEYS_CAP_MIN
                       : w->keys_cap + w->keys_cap / WS_KEYS_GROWTH_DIV + 1;
    assert(cap > w->keys_cap);
    uint32_t *nk = realloc(w->keys, (size_t)cap * sizeof(*nk));
    if (nk == NULL) {
        return -1;
    }
    w->keys = nk;
    w->keys_cap = cap;
    return 0;
}

/* Register a new key in every index. Key ids grow, so appending keeps
 * w->keys sorted. All-or-nothing: on failure nothing is indexed. A key
 * with a previous secret (recovery) gets both tags. */
int do_key_insert(shard *sh, workspace *w, key *k)
{
    assert(w->n_keys == 0 || ws_key_at(w, w->n_keys - 1)->id < k->id);
    assert(key_ws_id(k) == w->id);
    if (w->n_keys == w->keys_cap && ws_keys_grow(w) != 0) {
        return -1;
    }
    bool prev = key_prev_expires(k) != 0;
    uint64_t tag = keyfmt_tag(&k->hash);
    uint64_t ptag = prev ? keyfmt_tag(&key_ext_of(k)->prev_hash) : 0;
    if (tagtab_get(&sh->by_tag, tag, NULL) != NULL || ptag == tag ||
        (prev && tagtab_get(&sh->by_tag, ptag, NULL) != NULL)) {
        return -2; /* tag taken: caller draws a new secret */
    }
    if (tagtab_reserve(&sh->by_tag, 2) != 0) {
        return -1;
    }
    int rc = tagtab_put(&sh->by_tag, tag, k, false);
    assert(rc == 0);
    if (prev) {
        rc = tagtab_put(&sh->by_tag, ptag, k, true);
        assert(rc == 0);
    }
    (void)rc;
    w->keys[w->n_keys++] = store_key_handle(k);
    sh->n_keys++;
    return 0;
}

key *do_key_by_hash(shard *sh, uint32_t ws_id, const keyfmt_hash *h,
                    bool *is_prev)
{
    bool alt = false;
    key *k = tagtab_get(&sh->by_tag, keyfmt_tag(h), &alt);
    *is_prev = false;
    if (k == NULL || key_ws_id(k) != ws_id) {
        return NULL;
    }
    if (!alt) {
        return keyfmt_hash_equal(&k->hash, h) ? k : NULL;
    }
    const key_ext *e = key_ext_of(k);
    if (e != NULL && keyfmt_hash_equal(&e->prev_hash, h)) {
        *is_prev = true;
        return k;
    }
    return NULL;
}

/* Unindex both tags of k (its fields must still be those it was indexed
 * with). */
static void key_unindex(shard *sh, key *k)
{
    void *v = tagtab_del(&sh->by_tag, keyfmt_tag(&k->hash));
    assert(v == k);
    if (key_prev_expires(k) != 0) {
        v = tagtab_del(&sh->by_tag, keyfmt_tag(&key_ext_of(k)->prev_hash));
        assert(v == k);
    }
    (void)v;
}

/* Remove a key from every index (current and previous secret) and from
 * its workspace; the caller frees it. */
void do_key_remove(shard *sh, workspace *w, key *k)
{
    key_unindex(sh, k);
    uint32_t i = do_ws_key_lower_bound(w, k->id);
    assert(i < w->n_keys && w->keys[i] == store_key_handle(k));
    memmove(&w->keys[i], &w->keys[i + 1],
            (w->n_keys - i - 1) * sizeof(*w->keys));
    w->n_keys--;
    sh->n_keys--;
}

/* Swap in the new secret: the current one becomes the previous one
 * (valid until grace ends), the one before is forgotten. Room is made
 * before anything changes, so a failure leaves k as it was. */
int do_key_rotate(shard *sh, key *k, const keyfmt_hash *nh,
                  const char *hint, int64_t prev_expires_ms)
{
    assert(prev_expires_ms != 0);
    uint64_t ntag = keyfmt_tag(nh);
    if (tagtab_get(&sh->by_tag, ntag, NULL) != NULL) {
        return -2;
    }
    key probe = *k;
    if (key_hint_set(&probe, hint) != 0) {
        return -2;
    }
    key_ext *e = key_ext_get(k);
    if (e == NULL || tagtab_reserve(&sh->by_tag, 2) != 0) {
        return -1;
    }
    key_unindex(sh, k);
    e->prev_hash = k->hash;
    e->prev_expires_ms = prev_expires_ms;
    k->hash = *nh;
    memcpy(k->hint, probe.hint, sizeof(k->hint));
    int rc = tagtab_put(&sh->by_tag, ntag, k, false);
    assert(rc == 0);
    rc = tagtab_put(&sh->by_tag, keyfmt_tag(&e->prev_hash), k, true);
    assert(rc == 0);
    (void)rc;
    return 0;
}

/* ---- hold expiry heap (min-heap on expires_ms) ---- */

static void heap_swap(shard *sh, uint32_t a, uint32_t b)
{
    hold *t = sh->heap[a];
    sh->heap[a] = sh->heap[b];
    sh->heap[b] = t;
    sh->heap[a]->heap_idx = a;
    sh->heap[b]->heap_idx = b;
}

static void heap_up(shard *sh, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (sh->heap[p]->expires_ms <= sh->heap[i]->expires_ms) {
            break;
        }
        heap_swap(sh, p, i);
        i = p;
    }
}

static void heap_down(shard *sh, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < sh->heap_n &&
            sh->heap[l]->expires_ms < sh->heap[m]->expires_ms) {
            m = l;
        }
        if (r < sh->heap_n &&
            sh->heap[r]->expires_ms < sh->heap[m]->expires_ms) {
            m = r;
        }
        if (m == i) {
            return;
        }
        heap_swap(sh, i, m);
        i = m;
    }
}

/* Index a new hold by id and by expiry. */
int do_hold_insert(shard *sh, hold *h)
{
    if (sh->heap_n >= HOLDS_PER_SHARD_MAX) {
        return -2;
    }
    if (sh->heap_n == sh->heap_cap) {
        uint32_t cap = sh->heap_cap ? sh->heap_cap * 2 : 64;
        hold **nh = realloc(sh->heap, cap * sizeof(*nh));
        if (nh == NULL) {
            return -1;
        }
        sh->heap = nh;
        sh->heap_cap = cap;
    }
    if (htab_put(&sh->holds, h->id, h) != 0) {
        return -1;
    }
    h->heap_idx = sh->heap_n;
    sh->heap[sh->heap_n++] = h;
    heap_up(sh, h->heap_idx);
    return 0;
}

void do_hold_remove(shard *sh, hold *h)
{
    void *v = htab_del(&sh->holds, h->id);
    assert(v == h);
    (void)v;
    uint32_t i = h->heap_idx;
    assert(i < sh->heap_n && sh->heap[i] == h);
    sh->heap_n--;
    if (i != sh->heap_n) {
        sh->heap[i] = sh->heap[sh->heap_n];
        sh->heap[i]->heap_idx = i;
        heap_down(sh, i);
        heap_up(sh, i);
    }
}

hold *do_hold_find(shard *sh, uint64_t hold_id)
{
    return hold_id == 0 ? NULL : htab_get(&sh->holds, hold_id);
}

/* A new hold id for w: its counter, skipping ids still in use after the
 * 32-bit counter wraps (live holds are bounded, so this ends). */
uint64_t do_hold_new_id(shard *sh, workspace *w)
{
    for (;;) {
        w->next_hold_seq++;
        if (w->next_hold_seq == 0) {
            continue;
        }
        uint64_t id = (uint64_t)w->id << 32 | w->next_hold_seq;
        if (htab_get(&sh->holds, id) == NULL) {
            return id;
        }
    }
}

/* Release one hold as if voided: everything reserved goes back. Logged
 * as a settle of 0, which replays to the same refund. */
uint64_t do_hold_release(store *st, shard *sh, hold *h, int64_t now_ms)
{
    workspace *w = do_ws_find(sh, (uint32_t)(h->id >> 32));
    assert(w != NULL);
    key *k = do_key_find(sh, h->key_id);
    quota_settle_out so;
    quota_settle(k, w, h, 0, 0, 0, now_ms, &so);
    do_hold_remove(sh, h);
    STAT_INC(holds_expired);
    uint64_t seq = store_next_seq(st);
    if (st->plog != NULL) {
        Quotad__SettleRec sr = QUOTAD__SETTLE_REC__INIT;
        sr.has_hold_id = sr.has_amount = sr.has_charged = 1;
        sr.hold_id = h->id;
        rec_append_settle(sh, seq, now_ms, &sr);
    }
    return seq;
}

/* Workspace spend today and this week, from its usage days. */
static void ws_spend(const workspace *w, int64_t now_ms, int64_t *day,
                     int64_t *week)
{
    int64_t today = win_day_index(now_ms), wk = win_week_index(now_ms);
    *day = *week = 0;
    usage_iter it;
    usage_day d;
    usage_iter_init(&it, &w->usage);
    while (usage_iter_next(&it, &d)) {   /* newest first */
        if (win_week_index(d.day * WIN_DAY_MS) != wk) {
            break;
        }
        *week += d.spend;
        if (d.day == today) {
            *day += d.spend;
        }
    }
}

void do_alert_eval(store *st, workspace *w, key *k, int64_t now_ms)
{
    const key_ext *e = k != NULL ? key_ext_of(k) : NULL;
    alert_set *kal = e != NULL ? e->alerts : NULL;
    if (w->alerts == NULL && kal == NULL) {
        return;
    }
    alert_values v = {.balance = w->balance, .quota_total = LIMIT_NONE};
    if (w->alerts != NULL) {
        ws_spend(w, now_ms, &v.spend_day, &v.spend_week);
        alert_eval(&st->alerts, w->alerts, w->id, 0, &v, now_ms,
                   store_current_seq(st));
    }
    if (kal != NULL) {
        win_spend s = k->spend;
        win_spend_roll(&s, now_ms);
        v.spend_day = s.spend_day;
        v.spend_week = s.spend_week;
        v.quota_total = key_pol(k)->quota_total;
        v.quota_remaining = k->quota_remaining;
        alert_eval(&st->alerts, kal, w->id, k->id, &v, now_ms,
                   store_current_seq(st));
    }
}

uint32_t store_sweep(store *st, uint32_t first, uint32_t count,
                     int64_t now_ms)
{
    uint32_t released = 0;
    for (uint32_t i = first; i < first + count && i < st->opt.shards; i++) {
        shard *sh = &st->shards[i];
        store_lock(sh);
        uint32_t n = 0;
        while (sh->heap_n > 0 && sh->heap[0]->expires_ms <= now_ms &&
               n < HOLD_SWEEP_BATCH_MAX) {
            hold *h = sh->heap[0];
            do_hold_release(st, sh, h, now_ms);
            free(h);
            n++;
        }
        sh->holds_expired += n;
        store_unlock(sh);
        released += n;
    }
    return released;
}
