/* keyfmt -- API key format: generation, parsing, checksum, hashing, masking.
 *
 * A secret is <prefix><64 hex chars>. The 64 hex chars encode 32 bytes:
 *   bytes  0..23  random (192 bits, libsodium randombytes_buf)
 *   bytes 24..27  workspace id, big-endian (routes the key to its shard)
 *   bytes 28..31  checksum: low 32 bits of XXH3_64bits_withSeed(bytes 0..27,
 *                 KEYFMT_CHECKSUM_SEED), big-endian
 * so a mistyped or malformed key is rejected before any lookup. Only a hash
 * of the 32 body bytes is ever stored: the first 128 bits of its BLAKE2b-256
 * (crypto_generichash). 128 bits are enough for a verifier of a 192-bit
 * random secret (finding any secret that matches a stored hash takes ~2^128
 * hash evaluations; collisions do not matter because the server, not the
 * caller, picks secrets) and keep 16 bytes per key out of memory.
 * Hex is lowercase on output; parsing accepts lowercase only (a canonical
 * form means one secret has exactly one spelling).
 */
#ifndef QD_KEYFMT_H
#define QD_KEYFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYFMT_RANDOM_BYTES 24u
#define KEYFMT_BODY_BYTES 32u
#define KEYFMT_HEX_CHARS 64u
#define KEYFMT_HASH_BYTES 16u         /* stored: BLAKE2b-256 truncated */
#define KEYFMT_HASH_FULL_BYTES 32u    /* BLAKE2b-256 output; older logs */
#define KEYFMT_HINT_CHARS 8u          /* first 4 + last 4 hex chars */
#define KEYFMT_PREFIX_DEFAULT "sk-"
#define KEYFMT_CHECKSUM_SEED UINT64_C(0x71756f7461640001) /* "quotad",1 */
/* Largest secret string incl. prefix and NUL (prefix <= 16 bytes). */
#define KEYFMT_SECRET_BUF_BYTES (16u + KEYFMT_HEX_CHARS + 1u)

typedef struct keyfmt_hash {
    uint8_t b[KEYFMT_HASH_BYTES];
} keyfmt_hash;

/* Generate a fresh secret for workspace ws_id into out (NUL-terminated).
 * Returns 0, or -1 if out_cap is too small or prefix too long. */
int keyfmt_generate(const char *prefix, uint32_t ws_id, char *out,
                    size_t out_cap);

/* Parse secret (len bytes, not necessarily NUL-terminated): exact prefix,
 * exactly 64 lowercase hex chars, valid checksum. On success fills body and
 * *ws_id and returns 0; otherwise returns -1 and touches nothing. */
int keyfmt_parse(const char *prefix, const char *secret, size_t len,
                 uint8_t body[KEYFMT_BODY_BYTES], uint32_t *ws_id);

/* The body's hash (first KEYFMT_HASH_BYTES of BLAKE2b-256): what the server
 * stores and looks up. */
void keyfmt_hash_body(const uint8_t body[KEYFMT_BODY_BYTES], keyfmt_hash *out);
/* The same hash of any bytes (admin credentials). */
void keyfmt_hash_bytes(const uint8_t *p, size_t len, keyfmt_hash *out);

/* 64-bit lookup tag of a hash (first 8 bytes, little-endian), never 0
 * (a 0 tag is mapped to 1). Used as the hash-table key. */
uint64_t keyfmt_tag(const keyfmt_hash *h);

/* Constant-time equality (sodium_memcmp). */
bool keyfmt_hash_equal(const keyfmt_hash *a, const keyfmt_hash *b);

/* The display hint of a body: first 4 and last 4 hex chars, NUL-terminated
 * (out must hold KEYFMT_HINT_CHARS + 1). */
void keyfmt_hint(const uint8_t body[KEYFMT_BODY_BYTES],
                 char out[KEYFMT_HINT_CHARS + 1]);

/* Masked display form "<prefix><first4>...<last4>" into out. Returns 0 or
 * -1 if out_cap is too small. */
int keyfmt_mask(const char *prefix, const char hint[KEYFMT_HINT_CHARS + 1],
                char *out, size_t out_cap);

#endif
