/* ops_prefetch -- start loading what the prepared checks will touch.
 *
 * At 1 M keys a check waits on a chain of cold lines: the secret index
 * slot, then the key record it points to, then the key's policy and
 * extension. One check cannot overlap them (each address comes from the
 * previous line), but the checks of several buffered frames can: each
 * stage below issues one link of every chain, so the misses of up to
 * PREFETCH_CHECKS_MAX checks are in flight together, and by the time a
 * stage comes back to a check its line has arrived.
 *
 *   stage 1: slot of the tag           (index array)
 *   stage 2: key record, all its lines (slot -> key)
 *   stage 3: policy, extension         (key -> policy, cold part)
 *
 * Every stage holds the shard lock while it reads index or key memory (a
 * writer may grow the index or free a key), and only prefetches: nothing
 * is decided here, so a stale or wrong guess (tagtab_peek does not
 * confirm the tag) costs a wasted load, never a wrong answer.
 */
#include "ops.h"

#include "limits.h"
#include "ops_internal.h"
#include "store.h"

#define PREFETCH_LINE_BYTES 64u

typedef void (*prefetch_stage)(shard *sh, const ops_check_prep *cp);

static void stage_slot(shard *sh, const ops_check_prep *cp)
{
    tagtab_prefetch(&sh->by_tag, cp->tag);
}

static void stage_key(shard *sh, const ops_check_prep *cp)
{
    const char *k = tagtab_peek(&sh->by_tag, cp->tag);
    if (k == NULL) {
        return;
    }
    /* 8-byte aligned, so these cover every line it spans */
    for (size_t off = 0; off < sizeof(key); off += PREFETCH_LINE_BYTES) {
        __builtin_prefetch(k + off);
    }
}

static void stage_key_parts(shard *sh, const ops_check_prep *cp)
{
    const key *k = tagtab_peek(&sh->by_tag, cp->tag);
    if (k == NULL) {
        return;
    }
    const keypol *pol = key_pol(k);
    if (pol != NULL) {
        __builtin_prefetch(pol);
    }
    const key_ext *ext = key_ext_of(k);
    if (ext != NULL) {
        __builtin_prefetch(ext);
    }
}

/* Run fn, under its shard's lock, on the first PREFETCH_CHECKS_MAX
 * prepared checks of p[0..n) (fn NULL: only count them). Returns how
 * many it ran on. */
static uint32_t for_each_check(store *st, ops_prepared *p, size_t n,
                               prefetch_stage fn)
{
    uint32_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].checks == NULL) {
            continue;
        }
        for (size_t r = 0; r < p[i].f->n_requests; r++) {
            const ops_check_prep *cp = &p[i].checks[r];
            if (cp->state != OPS_CHECK_READY) {
                continue;
            }
            if (done == PREFETCH_CHECKS_MAX) {
                return done;
            }
            done++;
            if (fn == NULL) {
                continue;
            }
            shard *sh = store_shard_of(st, cp->ws_id);
            store_lock(sh);
            fn(sh, cp);
            store_unlock(sh);
        }
    }
    return done;
}

void ops_frames_prefetch(store *st, ops_prepared *p, size_t n)
{
    if (for_each_check(st, p, n, NULL) < PREFETCH_CHECKS_MIN) {
        return;
    }
    for_each_check(st, p, n, stage_slot);
    for_each_check(st, p, n, stage_key);
    for_each_check(st, p, n, stage_key_parts);
}
