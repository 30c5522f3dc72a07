/* keylab -- packed key labels; see keylab.h. */
#include "keylab.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "slab.h"

/* Pools for the small block sizes; larger blocks use malloc. The 12-byte
 * class holds the usual block, a short name alone ("k123456": 11 bytes).
 * Blocks are read a byte at a time, so that pool needs no alignment (its
 * slots fall on 4-byte boundaries anyway); the others keep SLAB_INIT's. */
#define KEYLAB_CLASSES 5u
static const size_t keylab_classes[KEYLAB_CLASSES] = {12, 16, 24, 32, 48};
static slab keylab_pools[KEYLAB_CLASSES] = {
    SLAB_INIT_ALIGNED(12, 1), SLAB_INIT(16), SLAB_INIT(24), SLAB_INIT(32),
    SLAB_INIT(48)};

/* Pool index for a block of len bytes, or KEYLAB_CLASSES for malloc. */
static uint32_t keylab_class(size_t len)
{
    uint32_t c = 0;
    while (c < KEYLAB_CLASSES && keylab_classes[c] < len) {
        c++;
    }
    return c;
}

/* Bytes of a block: the count byte and every string with its NUL. */
static size_t keylab_len(const char *lab)
{
    uint32_t n = 3 + 2 * (uint32_t)(uint8_t)lab[0];
    const char *p = lab + 1;
    while (n-- > 0) {
        p += strlen(p) + 1;
    }
    return (size_t)(p - lab);
}

size_t keylab_class_bytes(const char *lab)
{
    if (lab == NULL) {
        return 0;
    }
    size_t len = keylab_len(lab);
    uint32_t c = keylab_class(len);
    return c < KEYLAB_CLASSES ? keylab_classes[c] : len;
}

void keylab_free(char *lab)
{
    if (lab == NULL) {
        return;
    }
    uint32_t c = keylab_class(keylab_len(lab));
    if (c < KEYLAB_CLASSES) {
        slab_free(&keylab_pools[c], lab);
    } else {
        free(lab);
    }
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

int keylab_build(const keylab_in *in, char **out)
{
    assert(in->n_meta <= METADATA_PAIRS_MAX && METADATA_PAIRS_MAX <= 255u);
    const char *parts[3 + 2 * METADATA_PAIRS_MAX];
    uint32_t n = 0;
    parts[n++] = or_empty(in->name);
    parts[n++] = or_empty(in->group);
    parts[n++] = or_empty(in->creator);
    for (uint32_t i = 0; i < in->n_meta; i++) {
        parts[n++] = or_empty(in->meta_key[i]);
        parts[n++] = or_empty(in->meta_value[i]);
    }
    *out = NULL;
    size_t len = 1;
    for (uint32_t i = 0; i < n; i++) {
        len += strlen(parts[i]) + 1;
    }
    if (len == 1 + 3) {
        return 0; /* three empty strings, no metadata */
    }
    uint32_t c = keylab_class(len);
    char *b = c < KEYLAB_CLASSES ? slab_alloc(&keylab_pools[c]) : malloc(len);
    if (b == NULL) {
        return -1;
    }
    b[0] = (char)(uint8_t)in->n_meta;
    char *p = b + 1;
    for (uint32_t i = 0; i < n; i++) {
        size_t l = strlen(parts[i]) + 1;
        memcpy(p, parts[i], l);
        p += l;
    }
    assert((size_t)(p - b) == len);
    *out = b;
    return 0;
}

/* The i-th string of the block (0 = name). */
static const char *nth(const char *lab, uint32_t i)
{
    if (lab == NULL) {
        return "";
    }
    const char *p = lab + 1;
    while (i-- > 0) {
        p += strlen(p) + 1;
    }
    return p;
}

const char *keylab_name(const char *lab)
{
    return nth(lab, 0);
}

const char *keylab_group(const char *lab)
{
    return nth(lab, 1);
}

const char *keylab_creator(const char *lab)
{
    return nth(lab, 2);
}

uint32_t keylab_n_meta(const char *lab)
{
    return lab ? (uint8_t)lab[0] : 0;
}

void keylab_meta(const char *lab, uint32_t i, const char **k, const char **v)
{
    assert(i < keylab_n_meta(lab));
    *k = nth(lab, 3 + 2 * i);
    *v = *k + strlen(*k) + 1;
}

void keylab_read(const char *lab, keylab_in *in, const char **keys,
                 const char **values)
{
    in->name = keylab_name(lab);
    in->group = keylab_group(lab);
    in->creator = keylab_creator(lab);
    in->n_meta = keylab_n_meta(lab);
    for (uint32_t i = 0; i < in->n_meta; i++) {
        keylab_meta(lab, i, &keys[i], &values[i]);
    }
    in->meta_key = keys;
    in->meta_value = values;
}
