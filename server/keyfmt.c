/* keyfmt.c -- API key format: generation, parsing, checksum, hashing.
 *
 * Layout of the 32 body bytes and the text form are described in keyfmt.h.
 * A NULL prefix argument means KEYFMT_PREFIX_DEFAULT everywhere.
 */
#include "keyfmt.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <xxhash.h>

#include "limits.h"

/* Byte offsets inside the body. */
#define KEYFMT_WS_OFFSET 24u
#define KEYFMT_CHECKSUM_OFFSET 28u
#define KEYFMT_CHECKSUM_BYTES 4u
#define KEYFMT_TAG_BYTES 8u
#define KEYFMT_HINT_HALF 4u           /* hex chars shown at each end */
#define KEYFMT_MASK_ELLIPSIS "..."
#define KEYFMT_PREFIX_BYTES_MAX 16u   /* see KEYFMT_SECRET_BUF_BYTES */

_Static_assert(KEYFMT_RANDOM_BYTES == KEYFMT_WS_OFFSET,
               "workspace id follows the random bytes");
_Static_assert(KEYFMT_CHECKSUM_OFFSET + KEYFMT_CHECKSUM_BYTES ==
                   KEYFMT_BODY_BYTES,
               "checksum ends the body");
_Static_assert(KEYFMT_HEX_CHARS == 2u * KEYFMT_BODY_BYTES,
               "two hex chars per byte");
_Static_assert(KEYFMT_HASH_FULL_BYTES == crypto_generichash_BYTES,
               "BLAKE2b-256 output size");
_Static_assert(KEYFMT_HASH_BYTES <= KEYFMT_HASH_FULL_BYTES &&
                   KEYFMT_HASH_BYTES >= 16u,
               "stored hash: a prefix of BLAKE2b-256, at least 128 bits");
_Static_assert(KEYFMT_PREFIX_BYTES_MAX == KEY_PREFIX_BYTES_MAX,
               "prefix bound agrees with limits.h");
_Static_assert(KEYFMT_SECRET_BUF_BYTES ==
                   KEYFMT_PREFIX_BYTES_MAX + KEYFMT_HEX_CHARS + 1u,
               "secret buffer = longest prefix + hex + NUL");
_Static_assert(KEYFMT_HINT_CHARS == 2u * KEYFMT_HINT_HALF,
               "hint is both halves");

static const char keyfmt_hex_digits[] = "0123456789abcdef";

static pthread_once_t keyfmt_sodium_once = PTHREAD_ONCE_INIT;
static int keyfmt_sodium_status = -1;

/* libsodium must be initialised before randombytes/generichash are used
 * (it picks the CPU-specific implementations and opens the RNG). main may
 * have called sodium_init already; calling it again is harmless. */
static void keyfmt_sodium_init_once(void)
{
    keyfmt_sodium_status = sodium_init() < 0 ? -1 : 0;
}

static int keyfmt_sodium_ready(void)
{
    int rc = pthread_once(&keyfmt_sodium_once, keyfmt_sodium_init_once);
    if (rc != 0)
        return -1;
    return keyfmt_sodium_status;
}

static const char *keyfmt_prefix_or_default(const char *prefix)
{
    return prefix != NULL ? prefix : KEYFMT_PREFIX_DEFAULT;
}

/* The checksum covers the random bytes and the workspace id, so any single
 * mistyped hex char (and nearly every other corruption) is caught before
 * the secret is hashed and looked up. */
static uint32_t keyfmt_checksum(const uint8_t body[KEYFMT_BODY_BYTES])
{
    uint64_t h = XXH3_64bits_withSeed(body, KEYFMT_CHECKSUM_OFFSET,
                                      KEYFMT_CHECKSUM_SEED);
    return (uint32_t)(h & UINT32_MAX);
}

static void keyfmt_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t keyfmt_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void keyfmt_to_hex(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = keyfmt_hex_digits[in[i] >> 4];
        out[2 * i + 1] = keyfmt_hex_digits[in[i] & 0x0f];
    }
}

/* Value of one lowercase hex digit, or -1. Uppercase is rejected on
 * purpose: one secret has exactly one spelling. */
static int keyfmt_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int keyfmt_from_hex(const char *hex, uint8_t out[KEYFMT_BODY_BYTES])
{
    for (size_t i = 0; i < KEYFMT_BODY_BYTES; i++) {
        int hi = keyfmt_hex_value(hex[2 * i]);
        int lo = keyfmt_hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return 0;
}

/* Fresh random bytes, the workspace id for routing, then the checksum;
 * written as prefix + lowercase hex. The body is wiped from the stack. */
int keyfmt_generate(const char *prefix, uint32_t ws_id, char *out,
                    size_t out_cap)
{
    uint8_t body[KEYFMT_BODY_BYTES];
    const char *p = keyfmt_prefix_or_default(prefix);
    size_t plen = strnlen(p, KEYFMT_PREFIX_BYTES_MAX + 1u);

    if (out == NULL || plen > KEYFMT_PREFIX_BYTES_MAX)
        return -1;
    if (out_cap < plen + KEYFMT_HEX_CHARS + 1u)
        return -1;
    if (keyfmt_sodium_ready() != 0)
        return -1;
    randombytes_buf(body, KEYFMT_RANDOM_BYTES);
    keyfmt_put_be32(body + KEYFMT_WS_OFFSET, ws_id);
    keyfmt_put_be32(body + KEYFMT_CHECKSUM_OFFSET, keyfmt_checksum(body));
    memcpy(out, p, plen);
    keyfmt_to_hex(body, KEYFMT_BODY_BYTES, out + plen);
    out[plen + KEYFMT_HEX_CHARS] = '\0';
    sodium_memzero(body, sizeof body);
    assert(strlen(out) == plen + KEYFMT_HEX_CHARS);
    return 0;
}

/* Reject anything not exactly prefix + 64 lowercase hex chars with a good
 * checksum. Reads at most len bytes of secret; decodes into a local buffer
 * so the outputs are written only on success. */
int keyfmt_parse(const char *prefix, const char *secret, size_t len,
                 uint8_t body[KEYFMT_BODY_BYTES], uint32_t *ws_id)
{
    uint8_t tmp[KEYFMT_BODY_BYTES];
    const char *p = keyfmt_prefix_or_default(prefix);
    size_t plen = strnlen(p, KEYFMT_PREFIX_BYTES_MAX + 1u);
    int rc = -1;

    assert(body != NULL);
    assert(ws_id != NULL);
    if (secret == NULL || plen > KEYFMT_PREFIX_BYTES_MAX)
        return -1;
    if (len != plen + KEYFMT_HEX_CHARS || memcmp(secret, p, plen) != 0)
        return -1;
    if (keyfmt_from_hex(secret + plen, tmp) != 0)
        goto out;
    if (keyfmt_get_be32(tmp + KEYFMT_CHECKSUM_OFFSET) != keyfmt_checksum(tmp))
        goto out;
    memcpy(body, tmp, KEYFMT_BODY_BYTES);
    *ws_id = keyfmt_get_be32(tmp + KEYFMT_WS_OFFSET);
    rc = 0;
out:
    sodium_memzero(tmp, sizeof tmp);
    return rc;
}

/* Only this hash is stored: a leaked snapshot or log does not leak usable
 * secrets. The body already holds 192 random bits, so no salt is needed.
 * Truncated, not BLAKE2b with a 16-byte output: a prefix of BLAKE2b-256
 * keeps hashes written by older versions (32 bytes) comparable. */
void keyfmt_hash_bytes(const uint8_t *p, size_t len, keyfmt_hash *out)
{
    assert(p != NULL || len == 0);
    assert(out != NULL);
    if (keyfmt_sodium_ready() != 0)
        abort(); /* cannot hash: continuing would store garbage */
    uint8_t full[KEYFMT_HASH_FULL_BYTES];
    int rc = crypto_generichash(full, sizeof full, p, len, NULL, 0);
    assert(rc == 0);
    (void)rc;
    memcpy(out->b, full, sizeof out->b);
    sodium_memzero(full, sizeof full);
}

void keyfmt_hash_body(const uint8_t body[KEYFMT_BODY_BYTES], keyfmt_hash *out)
{
    assert(body != NULL);
    keyfmt_hash_bytes(body, KEYFMT_BODY_BYTES, out);
}

/* The hash is uniformly random, so its first 8 bytes are a good table key;
 * 0 is reserved by htab and mapped to 1. */
uint64_t keyfmt_tag(const keyfmt_hash *h)
{
    uint64_t tag = 0;
    assert(h != NULL);
    for (size_t i = 0; i < KEYFMT_TAG_BYTES; i++)
        tag |= (uint64_t)h->b[i] << (8u * i);
    return tag != 0 ? tag : 1;
}

bool keyfmt_hash_equal(const keyfmt_hash *a, const keyfmt_hash *b)
{
    assert(a != NULL);
    assert(b != NULL);
    return sodium_memcmp(a->b, b->b, KEYFMT_HASH_BYTES) == 0;
}

/* First and last 4 hex chars of the body: enough for a user to tell keys
 * apart, far too little to guess the secret (the last 4 are checksum). */
void keyfmt_hint(const uint8_t body[KEYFMT_BODY_BYTES],
                 char out[KEYFMT_HINT_CHARS + 1])
{
    const size_t half_bytes = KEYFMT_HINT_HALF / 2u;
    assert(body != NULL);
    assert(out != NULL);
    keyfmt_to_hex(body, half_bytes, out);
    keyfmt_to_hex(body + KEYFMT_BODY_BYTES - half_bytes, half_bytes,
                  out + KEYFMT_HINT_HALF);
    out[KEYFMT_HINT_CHARS] = '\0';
}

/* "<prefix><first4>...<last4>": the form shown in listings and logs. */
int keyfmt_mask(const char *prefix, const char hint[KEYFMT_HINT_CHARS + 1],
                char *out, size_t out_cap)
{
    const char *p = keyfmt_prefix_or_default(prefix);
    size_t plen = strnlen(p, KEYFMT_PREFIX_BYTES_MAX + 1u);
    size_t ell = sizeof KEYFMT_MASK_ELLIPSIS - 1u;
    size_t need = plen + KEYFMT_HINT_CHARS + ell + 1u;

    assert(hint != NULL);
    if (out == NULL || plen > KEYFMT_PREFIX_BYTES_MAX || out_cap < need)
        return -1;
    memcpy(out, p, plen);
    memcpy(out + plen, hint, KEYFMT_HINT_HALF);
    memcpy(out + plen + KEYFMT_HINT_HALF, KEYFMT_MASK_ELLIPSIS, ell);
    memcpy(out + plen + KEYFMT_HINT_HALF + ell, hint + KEYFMT_HINT_HALF,
           KEYFMT_HINT_HALF);
    out[need - 1u] = '\0';
    assert(strlen(out) == need - 1u);
    return 0;
}
