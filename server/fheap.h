/* fheap -- the decode heap of one client frame.
 *
 * A protobuf-c allocator that bumps through a buffer inside the fheap
 * itself, then through malloc'd blocks, and gives everything back at once
 * in fheap_free_all (its free is a no-op). A small frame (one check)
 * decodes without a single malloc, and frames decoded side by side
 * (conn.c prepares several before running them) do not churn the malloc
 * caches. Bounded: refuses to hand out more than cap bytes in total.
 *
 * Under AddressSanitizer, unused space is poisoned and every allocation is
 * followed by a poisoned gap, so an overrun is still reported.
 *
 *   fheap h; fheap_init(&h, cap);
 *   f = quotad__client_frame__unpack(&h.base, len, buf);  ... use f ...
 *   fheap_free_all(&h);     (no free_unpacked needed)
 *
 * An fheap points into itself: do not copy or move it while in use.
 */
#ifndef QD_FHEAP_H
#define QD_FHEAP_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define FHEAP_INLINE_BYTES 2048u     /* a one-check frame needs ~400 */
#define FHEAP_BLOCK_BYTES 16384u     /* then blocks of this (or larger) */

typedef struct fheap_block fheap_block;

typedef struct fheap {
    ProtobufCAllocator base;    /* first; base.allocator_data = self */
    size_t used, cap;           /* handed out (with padding), budget */
    unsigned char *cur;         /* region being carved */
    size_t cur_used, cur_cap;
    fheap_block *blocks;        /* malloc'd, newest first */
    _Alignas(16) unsigned char first[FHEAP_INLINE_BYTES];
} fheap;

void fheap_init(fheap *h, size_t cap);
/* 16-byte aligned, uninitialised; NULL when over budget or out of
 * memory. */
void *fheap_alloc(fheap *h, size_t size);
/* Release every allocation (fheap_init again before any reuse). Must be
 * called before an fheap on the stack goes out of scope. */
void fheap_free_all(fheap *h);

#endif
