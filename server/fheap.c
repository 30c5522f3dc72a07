/* fheap -- see fheap.h. */
#include "fheap.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#define FHEAP_ALIGN_BYTES 16u

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define FHEAP_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FHEAP_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define FHEAP_GAP_BYTES 16u          /* poisoned after every allocation */
#else
#define FHEAP_POISON(p, n) ((void)(p), (void)(n))
#define FHEAP_UNPOISON(p, n) ((void)(p), (void)(n))
#define FHEAP_GAP_BYTES 0u
#endif

struct fheap_block {
    fheap_block *next;
    size_t cap;
    _Alignas(FHEAP_ALIGN_BYTES) unsigned char data[];
};

static void *fheap_pb_alloc(void *data, size_t size)
{
    return fheap_alloc(data, size);
}

static void fheap_pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;               /* everything goes in fheap_free_all */
}

void fheap_init(fheap *h, size_t cap)
{
    h->base.alloc = fheap_pb_alloc;
    h->base.free = fheap_pb_free;
    h->base.allocator_data = h;
    h->used = 0;
    h->cap = cap;
    h->cur = h->first;
    h->cur_used = 0;
    h->cur_cap = sizeof(h->first);
    h->blocks = NULL;
    FHEAP_POISON(h->first, sizeof(h->first));
}

/* Start carving a new block of at least need bytes. Returns 0 or -1. */
static int fheap_grow(fheap *h, size_t need)
{
    size_t cap = need > FHEAP_BLOCK_BYTES ? need : FHEAP_BLOCK_BYTES;
    fheap_block *b = malloc(sizeof(*b) + cap);
    if (b == NULL) {
        return -1;
    }
    b->next = h->blocks;
    b->cap = cap;
    h->blocks = b;
    FHEAP_POISON(b->data, cap);
    h->cur = b->data;
    h->cur_used = 0;
    h->cur_cap = cap;
    return 0;
}

void *fheap_alloc(fheap *h, size_t size)
{
    size_t limit = h->cap - h->used;
    if (size > limit) {
        return NULL;
    }
    size_t need = (size + FHEAP_ALIGN_BYTES - 1) &
                  ~(size_t)(FHEAP_ALIGN_BYTES - 1);
    need += FHEAP_GAP_BYTES;
    if (need > limit) {
        return NULL;
    }
    if (h->cur_cap - h->cur_used < need && fheap_grow(h, need) != 0) {
        return NULL;
    }
    assert(h->cur_cap - h->cur_used >= need);
    unsigned char *p = h->cur + h->cur_used;
    h->cur_used += need;
    h->used += need;
    FHEAP_UNPOISON(p, size);
    return p;
}

void fheap_free_all(fheap *h)
{
    while (h->blocks != NULL) {
        fheap_block *b = h->blocks;
        h->blocks = b->next;
        FHEAP_UNPOISON(b->data, b->cap);
        free(b);
    }
    /* the inline buffer may live on a stack: leave it unpoisoned */
    FHEAP_UNPOISON(h->first, sizeof(h->first));
    h->cur = NULL;
    h->cur_used = h->cur_cap = 0;
    h->used = h->cap;          /* refuses until fheap_init */
}
