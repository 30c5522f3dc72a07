/* test_slab -- pooled objects: zeroed, aligned, distinct, reused after
 * free, safe from several threads; handles round-trip, stay distinct and
 * are readable without a lock while pages are added; 12-byte objects at
 * 4-byte alignment keep their contents and stay poisoned when free. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slab.h"
#include "t.h"

#if defined(__SANITIZE_ADDRESS__)
#define TS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_ASAN 1
#endif
#endif
#if defined(TS_ASAN)
#include <sanitizer/asan_interface.h>
#endif

#define TS_OBJS 20000
#define TS_THREADS 4
#define TS_ROUNDS 20000

static void test_alloc_distinct_zeroed_aligned(void)
{
    static slab s = SLAB_INIT(136);
    T_EQ_I64(s.obj_bytes, 136);
    static uint8_t *objs[TS_OBJS];
    int bad = 0;
    for (int i = 0; i < TS_OBJS; i++) {
        objs[i] = slab_alloc(&s);
        T_REQUIRE(objs[i] != NULL);
        for (int b = 0; b < 136; b++) {
            bad |= objs[i][b] != 0;
        }
        bad |= ((uintptr_t)objs[i] % SLAB_ALIGN_BYTES) != 0;
        memset(objs[i], 0xAB, 136); /* overlapping slots would clobber */
        objs[i][0] = (uint8_t)i;
    }
    for (int i = 0; i < TS_OBJS; i++) {
        bad |= objs[i][0] != (uint8_t)i || objs[i][135] != 0xAB;
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(s.live, TS_OBJS);
    size_t pages = s.n_pages;
    for (int i = 0; i < TS_OBJS; i += 2) {
        slab_free(&s, objs[i]);
    }
    /* freed slots are reused before any new page, and come back zeroed */
    for (int i = 0; i < TS_OBJS; i += 2) {
        objs[i] = slab_alloc(&s);
        T_REQUIRE(objs[i] != NULL);
        bad |= objs[i][0] != 0 || objs[i][135] != 0;
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(s.n_pages, pages);
    T_CHECK(pages <= TS_OBJS * 136 / SLAB_PAGE_BYTES + 1);
    for (int i = 0; i < TS_OBJS; i++) {
        slab_free(&s, objs[i]);
    }
    T_EQ_I64(s.live, 0);
    slab_free(&s, NULL);
    slab_destroy(&s);
}

static slab shared = SLAB_INIT(24);

static void *worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    void *held[64] = {0};
    for (int r = 0; r < TS_ROUNDS; r++) {
        int i = r % 64;
        if (held[i] != NULL) {
            if (*(uintptr_t *)held[i] != id) {
                return (void *)1; /* someone else got our slot */
            }
            slab_free(&shared, held[i]);
        }
        held[i] = slab_alloc(&shared);
        if (held[i] == NULL) {
            return (void *)1;
        }
        *(uintptr_t *)held[i] = id;
    }
    for (int i = 0; i < 64; i++) {
        slab_free(&shared, held[i]);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[TS_THREADS];
    for (uintptr_t i = 0; i < TS_THREADS; i++) {
        T_REQUIRE(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
    }
    int bad = 0;
    for (int i = 0; i < TS_THREADS; i++) {
        void *rv;
        T_REQUIRE(pthread_join(t[i], &rv) == 0);
        bad |= rv != NULL;
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(shared.live, 0);
    slab_destroy(&shared);
}

/* ---- handles ---- */

#define TH_OBJS 40000          /* 136-byte objects: about 85 pages */
#define TH_HANDLE_BITS_WORDS ((1u << 20) / 64u) /* bitmap: handles < 2^20 */

static int handle_roundtrip(const slab *s, void *p)
{
    uint32_t h = slab_handle(s, p);
    return h == SLAB_HANDLE_NONE || slab_ptr(s, h) != p;
}

/* Every live handle distinct: a bitmap over the first 2^20 handles. */
static int handles_distinct(const slab *s, void *const *objs, int n)
{
    static uint64_t seen[TH_HANDLE_BITS_WORDS];
    memset(seen, 0, sizeof(seen));
    int bad = 0;
    for (int i = 0; i < n; i++) {
        uint32_t h = slab_handle(s, objs[i]);
        if (h / 64u >= TH_HANDLE_BITS_WORDS) {
            return 1;
        }
        bad |= (seen[h / 64u] >> (h % 64u) & 1u) != 0;
        seen[h / 64u] |= UINT64_C(1) << (h % 64u);
    }
    return bad;
}

static void test_handles(void)
{
    static slab s = SLAB_INIT(136);
    static void *objs[TH_OBJS];
    int bad = 0;
    for (int i = 0; i < TH_OBJS; i++) {
        objs[i] = slab_alloc(&s);
        T_REQUIRE(objs[i] != NULL);
        bad |= handle_roundtrip(&s, objs[i]);
        memset(objs[i], (uint8_t)i, 136);
    }
    T_EQ_I64(bad, 0);
    T_CHECK(s.n_pages > 64);
    T_CHECK(((uintptr_t)objs[0] & (SLAB_PAGE_BYTES - 1)) != 0); /* slot 0 */
    T_EQ_I64(handles_distinct(&s, objs, TH_OBJS), 0);
    /* a handle names the same object however many pages came after */
    for (int i = 0; i < TH_OBJS; i++) {
        bad |= handle_roundtrip(&s, objs[i]);
        bad |= ((uint8_t *)objs[i])[135] != (uint8_t)i;
    }
    T_EQ_I64(bad, 0);
    /* free every third, reallocate: reused slots keep their handles */
    uint32_t before = s.n_pages;
    for (int i = 0; i < TH_OBJS; i += 3) {
        slab_free(&s, objs[i]);
    }
    for (int i = 0; i < TH_OBJS; i += 3) {
        objs[i] = slab_alloc(&s);
        T_REQUIRE(objs[i] != NULL);
        bad |= handle_roundtrip(&s, objs[i]);
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(s.n_pages, before);
    T_EQ_I64(handles_distinct(&s, objs, TH_OBJS), 0);
    for (int i = 0; i < TH_OBJS; i++) {
        slab_free(&s, objs[i]);
    }
    T_EQ_I64(s.live, 0);
    slab_destroy(&s);
    /* usable again after destroy, handles start over */
    void *p = slab_alloc(&s);
    T_REQUIRE(p != NULL);
    T_EQ_I64(slab_handle(&s, p), 1);
    slab_free(&s, p);
    slab_destroy(&s);
}

/* Small objects: the most slots per page still fit SLAB_SLOT_BITS. */
static void test_handles_small(void)
{
    static slab s = SLAB_INIT(SLAB_OBJ_BYTES_MIN);
    T_EQ_I64(s.slots_per_page, SLAB_SLOTS_BYTES / SLAB_OBJ_BYTES_MIN);
    int n = (int)s.slots_per_page * 3;
    void **objs = calloc((size_t)n, sizeof(*objs));
    T_REQUIRE(objs != NULL);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        objs[i] = slab_alloc(&s);
        T_REQUIRE(objs[i] != NULL);
        bad |= handle_roundtrip(&s, objs[i]);
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(s.n_pages, 4); /* page 0 lost slot 0 to SLAB_HANDLE_NONE */
    T_EQ_I64(slab_handle(&s, objs[n - 1]) >> SLAB_SLOT_BITS, 3);
    T_EQ_I64(handles_distinct(&s, objs, n), 0);
    for (int i = 0; i < n; i++) {
        slab_free(&s, objs[i]);
    }
    free(objs);
    slab_destroy(&s);
}

/* ---- objects smaller than a pointer's alignment ---- */

#define TU_BYTES 12
#define TU_ALIGN 4

/* Sizes round up to the pool's alignment. */
static void test_init_aligned(void)
{
    slab a = SLAB_INIT_ALIGNED(12, 4), b = SLAB_INIT_ALIGNED(10, 4);
    slab c = SLAB_INIT_ALIGNED(12, 1), d = SLAB_INIT(12);
    T_EQ_I64(a.obj_bytes, 12);
    T_EQ_I64(a.align, 4);
    T_EQ_I64(b.obj_bytes, 12);
    T_EQ_I64(c.obj_bytes, 12);
    T_EQ_I64(d.obj_bytes, 16);
    T_EQ_I64(d.align, SLAB_ALIGN_BYTES);
    T_EQ_I64(a.slots_per_page, SLAB_SLOTS_BYTES / 12);
    T_EQ_I64(a.slots_per_page, 5460);
}

/* The pattern object i holds in round r: every byte depends on both. */
static void tu_fill(uint8_t *p, uint32_t i, uint32_t r)
{
    for (uint32_t b = 0; b < TU_BYTES; b++) {
        p[b] = (uint8_t)(i * 7u + b * 13u + r * 101u + 1u);
    }
}

static int tu_holds(const uint8_t *p, uint32_t i, uint32_t r)
{
    for (uint32_t b = 0; b < TU_BYTES; b++) {
        if (p[b] != (uint8_t)(i * 7u + b * 13u + r * 101u + 1u)) {
            return 0;
        }
    }
    return 1;
}

/* Freed: the slot's first whole 8-byte granule is poisoned (ASan cannot
 * poison a granule half of which belongs to a live neighbour). */
static int tu_poisoned(const void *p)
{
#if defined(TS_ASAN)
    uintptr_t g = ((uintptr_t)p + 7u) & ~(uintptr_t)7u;
    return __asan_address_is_poisoned((const void *)g) != 0;
#else
    (void)p;
    return 1;
#endif
}

static int tu_addressable(const void *p)
{
#if defined(TS_ASAN)
    return __asan_region_is_poisoned((void *)(uintptr_t)p, TU_BYTES) == NULL;
#else
    (void)p;
    return 1;
#endif
}

/* Every live object holds its pattern, is addressable and round-trips. */
static int tu_check_all(const slab *s, void *const *objs, const uint32_t *round,
                        uint32_t n)
{
    int bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        bad |= !tu_holds(objs[i], i, round[i]);
        bad |= !tu_addressable(objs[i]);
        bad |= handle_roundtrip(s, objs[i]);
    }
    return bad;
}

/* 12-byte objects at 4-byte alignment over four pages: handles, the free
 * list (an 8-byte link in a slot that is often not 8-aligned), reuse, and
 * neighbours' contents untouched by frees and reallocations. */
static void test_small_unaligned(void)
{
    static slab s = SLAB_INIT_ALIGNED(TU_BYTES, TU_ALIGN);
    uint32_t per_page = s.slots_per_page;
    T_EQ_I64(per_page, SLAB_SLOTS_BYTES / TU_BYTES);
    uint32_t n = 3 * per_page + 100; /* page 0 lost slot 0: four pages */
    void **objs = calloc(n, sizeof(*objs));
    uint32_t *round = calloc(n, sizeof(*round));
    T_REQUIRE(objs != NULL && round != NULL);
    int bad = 0, off_8 = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *p = objs[i] = slab_alloc(&s);
        T_REQUIRE(p != NULL);
        for (uint32_t b = 0; b < TU_BYTES; b++) {
            bad |= p[b] != 0;
        }
        bad |= (uintptr_t)p % TU_ALIGN != 0;
        off_8 += (uintptr_t)p % 8u != 0;
        tu_fill(p, i, 0);
    }
    T_EQ_I64(bad, 0);
    T_CHECK(off_8 > 0);            /* some links really are unaligned */
    T_EQ_I64(s.n_pages, 4);
    T_EQ_I64(s.live, n);
    T_EQ_I64(slab_handle(&s, objs[n - 1]) >> SLAB_SLOT_BITS, 3);
    T_EQ_I64(slab_handle(&s, objs[per_page - 1]),
             UINT32_C(1) << SLAB_SLOT_BITS); /* page 1, slot 0 */
    T_EQ_I64(handles_distinct(&s, objs, (int)n), 0);
    T_EQ_I64(tu_check_all(&s, objs, round, n), 0);
    /* free every third and every fifth: neighbours keep their bytes */
    for (uint32_t i = 0; i < n; i++) {
        if (i % 3 == 0 || i % 5 == 0) {
            slab_free(&s, objs[i]);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (i % 3 == 0 || i % 5 == 0) {
            bad |= !tu_poisoned(objs[i]);
        } else {
            bad |= !tu_holds(objs[i], i, 0) || !tu_addressable(objs[i]);
        }
    }
    T_EQ_I64(bad, 0);
    /* reallocate: reused before any new page, zeroed, new contents */
    for (uint32_t i = 0; i < n; i++) {
        if (i % 3 == 0 || i % 5 == 0) {
            uint8_t *p = objs[i] = slab_alloc(&s);
            T_REQUIRE(p != NULL);
            for (uint32_t b = 0; b < TU_BYTES; b++) {
                bad |= p[b] != 0;
            }
            round[i] = 1;
            tu_fill(p, i, 1);
        }
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(s.n_pages, 4);
    T_EQ_I64(s.live, n);
    T_EQ_I64(handles_distinct(&s, objs, (int)n), 0);
    T_EQ_I64(tu_check_all(&s, objs, round, n), 0);
    /* free the others, reallocate them in turn */
    for (uint32_t i = 0; i < n; i++) {
        if (i % 3 != 0 && i % 5 != 0) {
            slab_free(&s, objs[i]);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (i % 3 != 0 && i % 5 != 0) {
            objs[i] = slab_alloc(&s);
            T_REQUIRE(objs[i] != NULL);
            round[i] = 2;
            tu_fill(objs[i], i, 2);
        }
    }
    T_EQ_I64(s.n_pages, 4);
    T_EQ_I64(tu_check_all(&s, objs, round, n), 0);
    for (uint32_t i = 0; i < n; i++) {
        slab_free(&s, objs[i]);
    }
    T_EQ_I64(s.live, 0);
    free(objs);
    free(round);
    slab_destroy(&s);
}

/* Readers turn handles into pointers without a lock while a writer adds
 * pages: handles of old objects, and the newest object's, published by
 * the writer (as a shard lock would). Each object holds its own handle. */
#define TC_READERS 3
#define TC_SEED_OBJS 2000
#define TC_GROW_OBJS 60000     /* about 125 new pages */

static slab conc = SLAB_INIT(136);
static uint32_t conc_seed[TC_SEED_OBJS];
static _Atomic int conc_writing;
static _Atomic uint32_t conc_latest;   /* newest object, published */

static void *conc_reader(void *arg)
{
    uintptr_t bad = 0;
    uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u;
    long rounds = 0;
    while (atomic_load(&conc_writing) || rounds < TC_SEED_OBJS) {
        x = x * 1103515245u + 12345u;
        uint32_t h = conc_seed[(x >> 8) % TC_SEED_OBJS];
        const uint32_t *p = slab_ptr(&conc, h);
        bad |= *p != h;
        /* the newest object: its page may have just been added */
        h = atomic_load_explicit(&conc_latest, memory_order_acquire);
        if (h != SLAB_HANDLE_NONE) {
            p = slab_ptr(&conc, h);
            bad |= *p != h;
        }
        rounds++;
    }
    return (void *)bad;
}

static void test_handles_concurrent(void)
{
    for (int i = 0; i < TC_SEED_OBJS; i++) {
        uint32_t *p = slab_alloc(&conc);
        T_REQUIRE(p != NULL);
        conc_seed[i] = *p = slab_handle(&conc, p);
    }
    atomic_store(&conc_writing, 1);
    pthread_t t[TC_READERS];
    for (uintptr_t i = 0; i < TC_READERS; i++) {
        T_REQUIRE(pthread_create(&t[i], NULL, conc_reader, (void *)i) == 0);
    }
    static void *grown[TC_GROW_OBJS];
    int bad = 0;
    for (int i = 0; i < TC_GROW_OBJS; i++) {
        uint32_t *p = grown[i] = slab_alloc(&conc);
        bad |= p == NULL;
        if (p != NULL) {
            *p = slab_handle(&conc, p);
            atomic_store_explicit(&conc_latest, *p, memory_order_release);
        }
    }
    atomic_store(&conc_writing, 0);
    for (int i = 0; i < TC_READERS; i++) {
        void *rv;
        T_REQUIRE(pthread_join(t[i], &rv) == 0);
        bad |= rv != NULL;
    }
    T_EQ_I64(bad, 0);
    for (int i = 0; i < TC_GROW_OBJS; i++) {
        bad |= slab_ptr(&conc, *(uint32_t *)grown[i]) != grown[i];
        slab_free(&conc, grown[i]);
    }
    T_EQ_I64(bad, 0);
    slab_destroy(&conc);
}

int main(void)
{
    T_RUN(test_alloc_distinct_zeroed_aligned);
    T_RUN(test_threads);
    T_RUN(test_handles);
    T_RUN(test_handles_small);
    T_RUN(test_init_aligned);
    T_RUN(test_small_unaligned);
    T_RUN(test_handles_concurrent);
    return t_done();
}
