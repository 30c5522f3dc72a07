/* arena -- see arena.h. */
#include "arena.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN_BYTES 16u

void arena_init(arena *a)
{
    a->head = NULL;
    a->total = 0;
}

void arena_free(arena *a)
{
    arena_block *b = a->head;
    while (b != NULL) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* A new block big enough for size, so one large array never fails just
 * because it exceeds the usual block size. */
static arena_block *arena_grow(arena *a, size_t size)
{
    size_t cap = size > ARENA_BLOCK_BYTES ? size : ARENA_BLOCK_BYTES;
    if (cap > ARENA_BYTES_MAX || a->total > ARENA_BYTES_MAX - cap) {
        return NULL;
    }
    arena_block *b = malloc(sizeof(*b) + cap);
    if (b == NULL) {
        return NULL;
    }
    b->next = a->head;
    b->used = 0;
    b->cap = cap;
    a->head = b;
    a->total += cap;
    return b;
}

void *arena_alloc(arena *a, size_t size)
{
    if (size == 0) {
        size = 1;
    }
    if (size > ARENA_BYTES_MAX) {
        return NULL;
    }
    size = (size + ARENA_ALIGN_BYTES - 1) & ~(size_t)(ARENA_ALIGN_BYTES - 1);
    arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < size) {
        b = arena_grow(a, size);
        if (b == NULL) {
            return NULL;
        }
    }
    assert(b->cap - b->used >= size);
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    if (s == NULL) {
        s = "";
    }
    size_t n = strlen(s);
    char *p = arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n + 1);
    }
    return p;
}
