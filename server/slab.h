/* slab -- fixed-size object pools for the records there are millions of.
 *
 * malloc spends 8 bytes of header per chunk and rounds to 16 (a 136-byte
 * key costs 144, an 11-byte label block 32). A slab carves 64 KiB pages
 * into equal slots with no header, keeps freed slots on a free list, and
 * never gives pages back (a store that held N keys will likely hold N
 * again). One mutex per pool: only key create/delete and recovery take
 * it, never a check.
 *
 * Under AddressSanitizer free slots are poisoned, so a use after free of a
 * pooled object is still reported.
 */
#ifndef QD_SLAB_H
#define QD_SLAB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SLAB_PAGE_BYTES (64u * 1024u)
#define SLAB_ALIGN_BYTES 8u

typedef struct slab {
    pthread_mutex_t mu;
    size_t obj_bytes;           /* multiple of SLAB_ALIGN_BYTES */
    void *free_list;            /* freed slots, linked through their first word */
    uint8_t *page;              /* page being carved */
    size_t page_used;           /* bytes of page handed out */
    void **pages;               /* every page, for slab_destroy */
    size_t n_pages, cap_pages;
    size_t live;                /* objects handed out and not freed */
} slab;

#define SLAB_INIT(bytes)                                                   \
    {.mu = PTHREAD_MUTEX_INITIALIZER,                                      \
     .obj_bytes = ((bytes) + SLAB_ALIGN_BYTES - 1) / SLAB_ALIGN_BYTES *    \
                  SLAB_ALIGN_BYTES}

/* A zeroed object, or NULL when out of memory. */
void *slab_alloc(slab *s);
/* Give back an object of s (NULL is ignored). */
void slab_free(slab *s, void *p);
/* Free every page (all objects must be freed or abandoned). */
void slab_destroy(slab *s);

#endif
