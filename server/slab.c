/* slab -- see slab.h. */
#include "slab.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif

#if defined(SLAB_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define SLAB_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define SLAB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define SLAB_ROOT_ADD(p, n) __lsan_register_root_region((p), (n))
#define SLAB_ROOT_DEL(p, n) __lsan_unregister_root_region((p), (n))
#else
#define SLAB_POISON(p, n) ((void)(p), (void)(n))
#define SLAB_UNPOISON(p, n) ((void)(p), (void)(n))
#define SLAB_ROOT_ADD(p, n) ((void)(p), (void)(n))
#define SLAB_ROOT_DEL(p, n) ((void)(p), (void)(n))
#endif

#define SLAB_DIR_BYTES ((size_t)SLAB_PAGES_MAX * sizeof(_Atomic(uint8_t *)))

/* The last bytes of every page: who owns it and where it sits in dir. */
typedef struct slab_page_tail {
    const slab *owner;
    uint32_t index;
    uint32_t unused;
} slab_page_tail;

_Static_assert(sizeof(slab_page_tail) == SLAB_TAIL_BYTES, "tail size");

static slab_page_tail *page_tail(uintptr_t page)
{
    return (slab_page_tail *)(page + SLAB_SLOTS_BYTES);
}

/* SLAB_PAGE_BYTES of zeroed memory aligned to SLAB_PAGE_BYTES, or NULL:
 * map enough to contain an aligned page, unmap the rest. Adjacent pages
 * usually land next to each other and merge into one mapping. */
static uint8_t *page_map(void)
{
    size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
    assert(os_page > 0 && os_page <= SLAB_PAGE_BYTES);
    size_t len = 2 * (size_t)SLAB_PAGE_BYTES - os_page;
    uint8_t *raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        return NULL;
    }
    uintptr_t page = ((uintptr_t)raw + SLAB_PAGE_BYTES - 1) &
                     ~(uintptr_t)(SLAB_PAGE_BYTES - 1);
    size_t head = page - (uintptr_t)raw;
    size_t tail = len - head - SLAB_PAGE_BYTES;
    if (head > 0) {
        munmap(raw, head);
    }
    if (tail > 0) {
        munmap((uint8_t *)page + SLAB_PAGE_BYTES, tail);
    }
#ifdef MADV_POPULATE_WRITE
    /* Fault the page in with one call, not one fault per 4 KiB as the
     * slots are first written (each fault is a VM exit on a VM): the
     * first check of 1 M fresh keys ran 9-49 % faster (4.1-4.9 instead
     * of 5.6-7.6 us of server CPU per check, three A/B pairs). The cost:
     * a pool's newest page is resident whole, up to 64 KiB early. A
     * hint: on failure (kernel < 5.14) the faults simply come later. */
    (void)madvise((void *)page, SLAB_PAGE_BYTES, MADV_POPULATE_WRITE);
#endif
    return (uint8_t *)page;
}

/* A new page to carve, published in dir (lock held). Returns 0 or -1. */
static int slab_new_page(slab *s)
{
    if (s->n_pages == SLAB_PAGES_MAX) {
        return -1;
    }
    if (s->dir == NULL) {
        void *d = mmap(NULL, SLAB_DIR_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (d == MAP_FAILED) {
            return -1;
        }
        s->dir = d; /* zeroed: every entry NULL */
    }
    uint8_t *page = page_map();
    if (page == NULL) {
        return -1;
    }
    *page_tail((uintptr_t)page) =
        (slab_page_tail){.owner = s, .index = s->n_pages};
    SLAB_POISON(page, SLAB_SLOTS_BYTES);
    SLAB_ROOT_ADD(page, SLAB_PAGE_BYTES);
    atomic_store_explicit(&s->dir[s->n_pages], page, memory_order_release);
    /* slot 0 of page 0 would have handle 0 = SLAB_HANDLE_NONE */
    s->carved = s->n_pages == 0 ? 1 : 0;
    s->n_pages++;
    return 0;
}

/* A slot from the free list or the newest page (lock held), or NULL. */
static void *slab_take(slab *s)
{
    void *p = s->free_list;
    if (p != NULL) {
        SLAB_UNPOISON(p, s->obj_bytes);
        memcpy(&s->free_list, p, sizeof(void *));
        return p;
    }
    if ((s->n_pages == 0 || s->carved == s->slots_per_page) &&
        slab_new_page(s) != 0) {
        return NULL;
    }
    uint8_t *page = atomic_load_explicit(&s->dir[s->n_pages - 1],
                                         memory_order_relaxed);
    p = page + (size_t)s->carved * s->obj_bytes;
    s->carved++;
    SLAB_UNPOISON(p, s->obj_bytes);
    return p;
}

void *slab_alloc(slab *s)
{
    assert(s->obj_bytes >= SLAB_OBJ_BYTES_MIN &&
           s->obj_bytes <= SLAB_SLOTS_BYTES);
    assert(s->align > 0 && (s->align & (s->align - 1)) == 0);
    assert(s->obj_bytes % s->align == 0);
    assert(s->slots_per_page == SLAB_SLOTS_BYTES / s->obj_bytes);
    pthread_mutex_lock(&s->mu);
    void *p = slab_take(s);
    if (p != NULL) {
        s->live++;
    }
    pthread_mutex_unlock(&s->mu);
    if (p != NULL) {
        memset(p, 0, s->obj_bytes);
    }
    return p;
}

void slab_free(slab *s, void *p)
{
    if (p == NULL) {
        return;
    }
    assert(slab_handle(s, p) != SLAB_HANDLE_NONE);
    pthread_mutex_lock(&s->mu);
    assert(s->live > 0);
    s->live--;
    /* memcpy: p is only s->align-aligned, maybe not enough for a pointer */
    memcpy(p, &s->free_list, sizeof(void *));
    s->free_list = p;
    SLAB_POISON(p, s->obj_bytes);
    pthread_mutex_unlock(&s->mu);
}

uint32_t slab_handle(const slab *s, const void *p)
{
    uintptr_t page = (uintptr_t)p & ~(uintptr_t)(SLAB_PAGE_BYTES - 1);
    const slab_page_tail *t = page_tail(page);
    assert(t->owner == s && t->index < SLAB_PAGES_MAX);
    uint32_t off = (uint32_t)((uintptr_t)p - page);
    uint32_t slot = off / s->obj_bytes;
    assert(off % s->obj_bytes == 0 && slot < s->slots_per_page);
    uint32_t h = t->index << SLAB_SLOT_BITS | slot;
    assert(h != SLAB_HANDLE_NONE);
    return h;
}

void slab_destroy(slab *s)
{
    pthread_mutex_lock(&s->mu);
    for (uint32_t i = 0; i < s->n_pages; i++) {
        uint8_t *page = atomic_load_explicit(&s->dir[i], memory_order_relaxed);
        SLAB_ROOT_DEL(page, SLAB_PAGE_BYTES);
        SLAB_UNPOISON(page, SLAB_SLOTS_BYTES);
        munmap(page, SLAB_PAGE_BYTES);
    }
    if (s->dir != NULL) {
        munmap((void *)s->dir, SLAB_DIR_BYTES);
    }
    s->dir = NULL;
    s->n_pages = 0;
    s->carved = 0;
    s->free_list = NULL;
    pthread_mutex_unlock(&s->mu);
}
