/* keypol -- interned key policies; see keypol.h. */
#include "keypol.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "limits.h"
#include "store.h"

#define KEYPOL_BUCKETS_MIN 64u     /* initial table size (power of two) */

static pthread_mutex_t keypol_mu = PTHREAD_MUTEX_INITIALIZER;
static keypol **keypol_tab;        /* chained buckets */
static uint32_t keypol_cap, keypol_n;

/* Ids: never-used ones from keypol_next_id, freed ones from a stack.
 * Directory chunks are never freed (reachable, so no leak report). */
keypol_slot *_Atomic keypol_dir[KEYPOL_DIR_CHUNKS];
static uint32_t keypol_next_id = KEYPOL_ID_NONE + 1u;
static uint32_t *keypol_free_ids;
static uint32_t keypol_n_free, keypol_cap_free;

/* An id whose directory chunk exists (mutex held), or KEYPOL_ID_NONE. */
static uint32_t id_take(void)
{
    if (keypol_n_free > 0) {
        return keypol_free_ids[--keypol_n_free];
    }
    if (keypol_next_id >= KEYPOL_IDS_MAX) {
        return KEYPOL_ID_NONE;
    }
    uint32_t id = keypol_next_id;
    uint32_t c = id / KEYPOL_DIR_CHUNK_IDS;
    if (atomic_load_explicit(&keypol_dir[c], memory_order_relaxed) == NULL) {
        keypol_slot *chunk = calloc(KEYPOL_DIR_CHUNK_IDS, sizeof(*chunk));
        if (chunk == NULL) {
            return KEYPOL_ID_NONE;
        }
        atomic_store_explicit(&keypol_dir[c], chunk, memory_order_release);
    }
    keypol_next_id++;
    return id;
}

/* Give an id back (mutex held). If the free stack cannot grow the id is
 * simply never reused. */
static void id_put(uint32_t id)
{
    keypol_slot *c = atomic_load_explicit(
        &keypol_dir[id / KEYPOL_DIR_CHUNK_IDS], memory_order_relaxed);
    atomic_store_explicit(&c[id % KEYPOL_DIR_CHUNK_IDS], NULL,
                          memory_order_release);
    if (keypol_n_free == keypol_cap_free) {
        uint32_t ncap = keypol_cap_free ? keypol_cap_free * 2u : 64u;
        uint32_t *n = realloc(keypol_free_ids, ncap * sizeof(*n));
        if (n == NULL) {
            return; /* the id is lost, not reused: harmless */
        }
        keypol_free_ids = n;
        keypol_cap_free = ncap;
    }
    keypol_free_ids[keypol_n_free++] = id;
}

void keypol_draft_none(keypol_draft *d)
{
    memset(d, 0, sizeof(*d));
    d->quota_total = d->cap_day = d->cap_week = d->cap_month = LIMIT_NONE;
    d->rpm = d->tpm = LIMIT_NONE;
}

void keypol_draft_of(keypol_draft *d, const keypol *p)
{
    d->quota_total = p->quota_total;
    d->cap_day = p->cap_day;
    d->cap_week = p->cap_week;
    d->cap_month = p->cap_month;
    d->rpm = p->rpm;
    d->tpm = p->tpm;
    d->n_models = p->n_models;
    d->n_ips = p->n_ips;
    d->models = p->models;
    d->ips = p->ips;
}

static uint64_t draft_hash(const keypol_draft *d)
{
    int64_t nums[8] = {d->quota_total, d->cap_day, d->cap_week, d->cap_month,
                       d->rpm, d->tpm, d->n_models, d->n_ips};
    uint64_t h = XXH3_64bits(nums, sizeof nums);
    for (uint32_t i = 0; i < d->n_models; i++) {
        h = XXH3_64bits_withSeed(d->models[i], strlen(d->models[i]) + 1, h);
    }
    if (d->n_ips > 0) {
        h = XXH3_64bits_withSeed(d->ips, d->n_ips * sizeof(*d->ips), h);
    }
    return h;
}

static bool draft_equal(const keypol *p, const keypol_draft *d)
{
    if (p->quota_total != d->quota_total || p->cap_day != d->cap_day ||
        p->cap_week != d->cap_week || p->cap_month != d->cap_month ||
        p->rpm != d->rpm || p->tpm != d->tpm || p->n_models != d->n_models ||
        p->n_ips != d->n_ips) {
        return false;
    }
    for (uint32_t i = 0; i < d->n_models; i++) {
        if (strcmp(p->models[i], d->models[i]) != 0) {
            return false;
        }
    }
    return d->n_ips == 0 ||
           memcmp(p->ips, d->ips, d->n_ips * sizeof(*d->ips)) == 0;
}

/* One allocation: the record, its ranges, model pointers, model bytes. */
static keypol *record_new(const keypol_draft *d, uint64_t hash)
{
    size_t strs = 0;
    for (uint32_t i = 0; i < d->n_models; i++) {
        strs += strlen(d->models[i]) + 1;
    }
    size_t ips = d->n_ips * sizeof(ipnet_range);
    size_t ptrs = d->n_models * sizeof(char *);
    size_t ips_at = sizeof(keypol);
    size_t ptrs_at = (ips_at + ips + sizeof(char *) - 1) &
                     ~(sizeof(char *) - 1);
    keypol *p = malloc(ptrs_at + ptrs + strs);
    if (p == NULL) {
        return NULL;
    }
    p->quota_total = d->quota_total;
    p->cap_day = d->cap_day;
    p->cap_week = d->cap_week;
    p->cap_month = d->cap_month;
    p->rpm = d->rpm;
    p->tpm = d->tpm;
    p->n_models = d->n_models;
    p->n_ips = d->n_ips;
    p->ips = d->n_ips ? (ipnet_range *)((char *)p + ips_at) : NULL;
    if (ips) {
        memcpy(p->ips, d->ips, ips);
    }
    p->models = d->n_models ? (char **)(void *)((char *)p + ptrs_at) : NULL;
    char *s = (char *)p + ptrs_at + ptrs;
    for (uint32_t i = 0; i < d->n_models; i++) {
        size_t n = strlen(d->models[i]) + 1;
        memcpy(s, d->models[i], n);
        p->models[i] = s;
        s += n;
    }
    p->hash = hash;
    p->next = NULL;
    p->refs = 1;
    return p;
}

/* Double the bucket array when records outnumber buckets (mutex held).
 * Failure is harmless: chains just get longer. */
static void table_grow(void)
{
    uint32_t ncap = keypol_cap ? keypol_cap * 2 : KEYPOL_BUCKETS_MIN;
    keypol **nt = calloc(ncap, sizeof(*nt));
    if (nt == NULL) {
        return;
    }
    for (uint32_t i = 0; i < keypol_cap; i++) {
        keypol *p = keypol_tab[i];
        while (p != NULL) {
            keypol *next = p->next;
            uint32_t b = (uint32_t)(p->hash & (ncap - 1));
            p->next = nt[b];
            nt[b] = p;
            p = next;
        }
    }
    free(keypol_tab);
    keypol_tab = nt;
    keypol_cap = ncap;
}

const keypol *keypol_intern(const keypol_draft *d)
{
    uint64_t h = draft_hash(d);
    pthread_mutex_lock(&keypol_mu);
    if (keypol_n >= keypol_cap) {
        table_grow();
    }
    keypol *p = NULL;
    if (keypol_cap > 0) {
        p = keypol_tab[h & (keypol_cap - 1)];
        while (p != NULL && (p->hash != h || !draft_equal(p, d))) {
            p = p->next;
        }
    }
    if (p != NULL) {
        assert(p->refs > 0 && p->refs < UINT32_MAX);
        p->refs++;
    } else if (keypol_cap > 0 && (p = record_new(d, h)) != NULL) {
        p->id = id_take();
        if (p->id == KEYPOL_ID_NONE) {
            free(p);
            pthread_mutex_unlock(&keypol_mu);
            return NULL;
        }
        keypol_slot *c = atomic_load_explicit(
            &keypol_dir[p->id / KEYPOL_DIR_CHUNK_IDS], memory_order_relaxed);
        atomic_store_explicit(&c[p->id % KEYPOL_DIR_CHUNK_IDS], p,
                              memory_order_release);
        uint32_t b = (uint32_t)(h & (keypol_cap - 1));
        p->next = keypol_tab[b];
        keypol_tab[b] = p;
        keypol_n++;
    }
    pthread_mutex_unlock(&keypol_mu);
    return p;
}

void keypol_release(const keypol *cp)
{
    if (cp == NULL) {
        return;
    }
    pthread_mutex_lock(&keypol_mu);
    keypol *p = (keypol *)cp;
    assert(p->refs > 0);
    if (--p->refs == 0) {
        keypol **pp = &keypol_tab[p->hash & (keypol_cap - 1)];
        while (*pp != p) {
            assert(*pp != NULL);
            pp = &(*pp)->next;
        }
        *pp = p->next;
        keypol_n--;
        id_put(p->id);
        free(p);
        if (keypol_n == 0) {
            free(keypol_tab); /* leave nothing behind for leak checkers */
            keypol_tab = NULL;
            keypol_cap = 0;
        }
    }
    pthread_mutex_unlock(&keypol_mu);
}

uint32_t keypol_count(void)
{
    pthread_mutex_lock(&keypol_mu);
    uint32_t n = keypol_n;
    pthread_mutex_unlock(&keypol_mu);
    return n;
}
