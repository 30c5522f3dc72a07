/* slab -- see slab.h. */
#include "slab.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLAB_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define SLAB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SLAB_POISON(p, n) ((void)(p), (void)(n))
#define SLAB_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A new page to carve (lock held). Returns 0 or -1. */
static int slab_new_page(slab *s)
{
    if (s->n_pages == s->cap_pages) {
        size_t cap = s->cap_pages ? s->cap_pages * 2 : 16;
        void **np = realloc(s->pages, cap * sizeof(*np));
        if (np == NULL) {
            return -1;
        }
        s->pages = np;
        s->cap_pages = cap;
    }
    uint8_t *page = malloc(SLAB_PAGE_BYTES);
    if (page == NULL) {
        return -1;
    }
    SLAB_POISON(page, SLAB_PAGE_BYTES);
    s->pages[s->n_pages++] = page;
    s->page = page;
    s->page_used = 0;
    return 0;
}

void *slab_alloc(slab *s)
{
    assert(s->obj_bytes >= sizeof(void *) && s->obj_bytes <= SLAB_PAGE_BYTES);
    assert(s->obj_bytes % SLAB_ALIGN_BYTES == 0);
    pthread_mutex_lock(&s->mu);
    void *p = s->free_list;
    if (p != NULL) {
        SLAB_UNPOISON(p, s->obj_bytes);
        memcpy(&s->free_list, p, sizeof(void *));
    } else if ((s->page != NULL &&
                s->page_used + s->obj_bytes <= SLAB_PAGE_BYTES) ||
               slab_new_page(s) == 0) {
        p = s->page + s->page_used;
        s->page_used += s->obj_bytes;
        SLAB_UNPOISON(p, s->obj_bytes);
    }
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
    pthread_mutex_lock(&s->mu);
    assert(s->live > 0);
    s->live--;
    memcpy(p, &s->free_list, sizeof(void *));
    s->free_list = p;
    SLAB_POISON(p, s->obj_bytes);
    pthread_mutex_unlock(&s->mu);
}

void slab_destroy(slab *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_pages; i++) {
        SLAB_UNPOISON(s->pages[i], SLAB_PAGE_BYTES);
        free(s->pages[i]);
    }
    free(s->pages);
    s->pages = NULL;
    s->n_pages = s->cap_pages = 0;
    s->page = NULL;
    s->page_used = 0;
    s->free_list = NULL;
    pthread_mutex_unlock(&s->mu);
}
