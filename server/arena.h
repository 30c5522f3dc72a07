/* arena -- bump allocator for building one reply frame.
 *
 * Reply messages point at strings and arrays copied out of the store while
 * the shard lock is held; the frame is packed after the lock is released,
 * then the whole arena is freed at once. Blocks are malloc'd and chained.
 * Bounded: an arena refuses to grow past ARENA_BYTES_MAX.
 */
#ifndef QD_ARENA_H
#define QD_ARENA_H

#include <stddef.h>

#define ARENA_BLOCK_BYTES 16384u
#define ARENA_BYTES_MAX (8u * 1024u * 1024u)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

typedef struct arena {
    arena_block *head;
    size_t total;
} arena;

void arena_init(arena *a);
void arena_free(arena *a);
/* Zeroed, 16-byte aligned memory, or NULL when out of memory/budget. */
void *arena_alloc(arena *a, size_t size);
/* Copy of s (a NULL s gives ""), or NULL when out of memory/budget. */
char *arena_strdup(arena *a, const char *s);

#endif
