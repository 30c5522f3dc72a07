/* keylab -- a key's name, group, creator and metadata in one allocation.
 *
 * These are read by listings and snapshots, never by a check, so they are
 * packed into one block off the key's hot record:
 *
 *   [u8 n_meta] name \0 group \0 creator \0 (meta key \0 meta value \0)*
 *
 * A key with all of them empty has no block (NULL), a named key one small
 * block instead of three strdup'ed strings and a pair array. Small blocks
 * (the usual case) come from slab pools without malloc's per-chunk
 * overhead. Blocks are immutable: an update builds a new one.
 */
#ifndef QD_KEYLAB_H
#define QD_KEYLAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct keylab_in {
    const char *name, *group, *creator; /* NULL = "" */
    uint32_t n_meta;                    /* <= METADATA_PAIRS_MAX */
    const char *const *meta_key;        /* n_meta each; NULL entries = "" */
    const char *const *meta_value;
} keylab_in;

/* Build a block (NULL in *out when everything is empty). Returns 0, or -1
 * when out of memory. */
__attribute__((warn_unused_result))
int keylab_build(const keylab_in *in, char **out);

/* Free a block built by keylab_build (NULL is ignored). */
void keylab_free(char *lab);

/* Bytes lab takes: its pool's slot size, or its length when it came from
 * malloc (0 for NULL). Walks the block. */
size_t keylab_class_bytes(const char *lab);

/* Read a block (NULL reads as all empty). */
const char *keylab_name(const char *lab);
const char *keylab_group(const char *lab);
const char *keylab_creator(const char *lab);
uint32_t keylab_n_meta(const char *lab);
/* Metadata pair i (< keylab_n_meta), walking from the start. */
void keylab_meta(const char *lab, uint32_t i, const char **k, const char **v);

/* The parts of lab as a keylab_in (arrays in the caller's buffers of
 * METADATA_PAIRS_MAX entries). */
void keylab_read(const char *lab, keylab_in *in, const char **keys,
                 const char **values);

#endif
