/* slab -- fixed-size object pools for the records there are millions of.
 *
 * malloc spends 8 bytes of header per chunk and rounds to 16 (a 136-byte
 * key costs 144, an 11-byte label block 32). A slab carves 64 KiB pages
 * into equal slots with no header, keeps freed slots on a free list, and
 * never gives pages back (a store that held N keys will likely hold N
 * again). One mutex per pool: only key create/delete and recovery take
 * it, never a check.
 *
 * Every slot also has a 32-bit handle, so an index can hold 4 bytes per
 * object instead of an 8-byte pointer:
 *
 *   handle = page index << SLAB_SLOT_BITS | slot index
 *
 *   dir[SLAB_PAGES_MAX] --> page (64 KiB, 64 KiB-aligned, mmap'd)
 *                           [slot 0][slot 1]...[slot n-1][slack][tail]
 *                                                  tail = {owner, index}
 *
 * slab_ptr (handle -> object) reads the page directory; slab_handle
 * (object -> handle) masks the address down to its page and reads the
 * page index from the tail. Both are O(1) and take no lock: the
 * directory is mapped once at the first page and never moves, and an
 * entry is written once (release) before any slot of its page is handed
 * out. Whoever holds a handle got it from an allocation made after that
 * write (through the slab mutex and then e.g. a shard lock), so the
 * acquire load in slab_ptr always sees the page. Handle 0
 * (SLAB_HANDLE_NONE) is never handed out: slot 0 of page 0 stays unused.
 *
 * Limits: SLAB_PAGES_MAX pages (32 GiB) per pool; past that, and when
 * mmap fails, slab_alloc returns NULL like any out-of-memory.
 *
 * Alignment: a pool's objects are aligned to the alignment it was made
 * with (SLAB_INIT: SLAB_ALIGN_BYTES, for structs; SLAB_INIT_ALIGNED for
 * byte blobs, e.g. 12-byte label blocks at 1). Sizes are rounded up to
 * it. A free slot holds the next free slot's address in its first 8
 * bytes, copied with memcpy since the slot may not be 8-aligned.
 *
 * Under AddressSanitizer free slots are poisoned, so a use after free of a
 * pooled object is still reported, and pages are LeakSanitizer root
 * regions, so what live objects point to is not reported as leaked.
 * ASan tracks 8-byte granules: where two slots share one (sizes not a
 * multiple of 8), it may leave a few bytes of a free slot unpoisoned,
 * never poisons a live one.
 */
#ifndef QD_SLAB_H
#define QD_SLAB_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SLAB_PAGE_BYTES (64u * 1024u)
#define SLAB_ALIGN_BYTES 8u           /* SLAB_INIT's alignment: any struct */
#define SLAB_TAIL_BYTES 16u           /* slab_page_tail at the page end */
#define SLAB_SLOTS_BYTES (SLAB_PAGE_BYTES - SLAB_TAIL_BYTES)
#define SLAB_OBJ_BYTES_MIN 8u         /* a free-list link; 8190 slots/page */
#define SLAB_SLOT_BITS 13u
#define SLAB_PAGE_INDEX_BITS (32u - SLAB_SLOT_BITS)
#define SLAB_PAGES_MAX (1u << SLAB_PAGE_INDEX_BITS)   /* pages per pool */
#define SLAB_SLOT_MASK ((1u << SLAB_SLOT_BITS) - 1u)
#define SLAB_HANDLE_NONE 0u

_Static_assert(SLAB_SLOTS_BYTES / SLAB_OBJ_BYTES_MIN <= SLAB_SLOT_MASK,
               "every slot index of a page fits SLAB_SLOT_BITS");
_Static_assert(SLAB_OBJ_BYTES_MIN >= sizeof(void *),
               "a free slot holds the free-list link");
_Static_assert((SLAB_PAGE_BYTES & (SLAB_PAGE_BYTES - 1u)) == 0,
               "pages are aligned to their size: a power of two");
_Static_assert((uint64_t)SLAB_PAGES_MAX * SLAB_PAGE_BYTES ==
                   UINT64_C(32) << 30,
               "32 GiB per pool, as the header says");

typedef struct slab {
    pthread_mutex_t mu;
    uint32_t obj_bytes;         /* a multiple of align */
    uint32_t slots_per_page;
    uint32_t align;             /* of every object: a power of two */
    uint32_t n_pages;           /* pages in dir */
    _Atomic(uint8_t *) *dir;    /* SLAB_PAGES_MAX entries; set once, under mu */
    void *free_list;            /* freed slots, linked through their start */
    uint32_t carved;            /* slots of the newest page handed out */
    size_t live;                /* objects handed out and not freed */
} slab;

#define SLAB_OBJ_BYTES(bytes, align)                                       \
    (((bytes) + (align) - 1) / (align) * (align))

/* A pool of objects of `bytes` each (SLAB_OBJ_BYTES_MIN .. SLAB_SLOTS_BYTES
 * after rounding up), aligned to `align` (a power of two). */
#define SLAB_INIT_ALIGNED(bytes, align_)                                   \
    {.mu = PTHREAD_MUTEX_INITIALIZER,                                      \
     .obj_bytes = SLAB_OBJ_BYTES(bytes, align_),                           \
     .slots_per_page = SLAB_SLOTS_BYTES / SLAB_OBJ_BYTES(bytes, align_),   \
     .align = (align_)}

/* A pool of structs of `bytes` each, aligned to SLAB_ALIGN_BYTES. */
#define SLAB_INIT(bytes) SLAB_INIT_ALIGNED(bytes, SLAB_ALIGN_BYTES)

/* A zeroed object, or NULL when out of memory or out of handles. */
void *slab_alloc(slab *s);
/* Give back an object of s (NULL is ignored). */
void slab_free(slab *s, void *p);
/* Free every page (all objects must be freed or abandoned). Not
 * concurrent with any other call on s. */
void slab_destroy(slab *s);

/* The handle of an object of s (never SLAB_HANDLE_NONE). No lock. */
uint32_t slab_handle(const slab *s, const void *p);

/* The object of a handle slab_handle gave for a live object. No lock:
 * see the header comment for why the directory read is safe. */
static inline void *slab_ptr(const slab *s, uint32_t h)
{
    assert(h != SLAB_HANDLE_NONE);
    uint8_t *page = atomic_load_explicit(&s->dir[h >> SLAB_SLOT_BITS],
                                         memory_order_acquire);
    assert(page != NULL && (h & SLAB_SLOT_MASK) < s->slots_per_page);
    return page + (size_t)(h & SLAB_SLOT_MASK) * s->obj_bytes;
}

#endif
