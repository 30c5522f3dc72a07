/* test_slab -- pooled objects: zeroed, aligned, distinct, reused after
 * free, safe from several threads. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slab.h"
#include "t.h"

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

int main(void)
{
    T_RUN(test_alloc_distinct_zeroed_aligned);
    T_RUN(test_threads);
    return t_done();
}
