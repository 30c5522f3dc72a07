/* segfile_hdr -- the segment file header, its key MAC, and the chunk
 * sealer/opener built on crypto_secretstream_xchacha20poly1305. */
#include <assert.h>
#include <string.h>

#include <sodium.h>
#include <xxhash.h>

#include "chunk_le.h"
#include "segfile_internal.h"

/* File header field offsets (bytes); segfile.h has the table. */
#define FOFF_MAGIC 0u
#define FOFF_VERSION 4u
#define FOFF_KIND 6u
#define FOFF_FLAGS 8u
#define FOFF_RESERVED 12u
#define FOFF_SEGNO 16u
#define FOFF_CREATED_MS 24u
#define FOFF_STREAM_HEADER 32u
#define FOFF_KEY_MAC 56u
#define FOFF_HEADER_HASH 72u

/* Offset of the flags field inside a chunk header (chunk.h table). */
#define CHUNK_FLAGS_OFFSET 6u

_Static_assert(FOFF_STREAM_HEADER + SEGFILE_STREAM_HEADER_BYTES ==
                   FOFF_KEY_MAC, "stream header precedes the key MAC");
_Static_assert(FOFF_KEY_MAC + SEGFILE_KEY_MAC_BYTES == FOFF_HEADER_HASH,
               "key MAC precedes the header hash");
_Static_assert(FOFF_HEADER_HASH + 8u == SEGFILE_HEADER_BYTES, "header size");
_Static_assert(SEGFILE_KEY_MAC_BYTES >= crypto_generichash_BYTES_MIN,
               "BLAKE2b output size allowed");

const char *segfile_status_str(segfile_status s)
{
    switch (s) {
#define SEGFILE_STR_(name, value, desc) \
    case name:                          \
        return desc;
        SEGFILE_STATUS_LIST(SEGFILE_STR_)
#undef SEGFILE_STR_
    }
    return "unknown segfile status";
}

const char *segfile_scan_result_str(segfile_scan_result r)
{
    switch (r) {
#define SEGFILE_STR_(name, value, desc) \
    case name:                          \
        return desc;
        SEGFILE_SCAN_LIST(SEGFILE_STR_)
#undef SEGFILE_STR_
    }
    return "unknown scan result";
}

/* Bytes [0, FOFF_KEY_MAC): what the key MAC authenticates. */
static void hdr_put_fields(const segfile_file_header *h, uint8_t *out)
{
    memcpy(out + FOFF_MAGIC, SEGFILE_MAGIC, SEGFILE_MAGIC_BYTES);
    chunk_le_put16(out + FOFF_VERSION, h->version);
    chunk_le_put16(out + FOFF_KIND, h->kind);
    chunk_le_put32(out + FOFF_FLAGS, h->flags);
    chunk_le_put32(out + FOFF_RESERVED, 0);
    chunk_le_put64(out + FOFF_SEGNO, h->segno);
    chunk_le_put64(out + FOFF_CREATED_MS, h->created_ms);
    memcpy(out + FOFF_STREAM_HEADER, h->stream_header,
           SEGFILE_STREAM_HEADER_BYTES);
}

/* A keyed BLAKE2b over the header fields: unlike the XXH3 header hash,
 * nobody without the key can forge it, so it authenticates segno, kind
 * and the stream header, and tells a wrong key apart from damage. */
static void key_mac_compute(const uint8_t *fields, const uint8_t *key,
                            uint8_t mac[SEGFILE_KEY_MAC_BYTES])
{
    int rc = crypto_generichash(mac, SEGFILE_KEY_MAC_BYTES, fields,
                                FOFF_KEY_MAC, key, SEGFILE_KEY_BYTES);
    assert(rc == 0);
    (void)rc;
}

void segfile_hdr_pack(const segfile_file_header *h,
                      uint8_t out[SEGFILE_HEADER_BYTES])
{
    hdr_put_fields(h, out);
    memcpy(out + FOFF_KEY_MAC, h->key_mac, SEGFILE_KEY_MAC_BYTES);
    chunk_le_put64(out + FOFF_HEADER_HASH,
                   XXH3_64bits(out, FOFF_HEADER_HASH));
}

static void hdr_unpack(const uint8_t *buf, segfile_file_header *h)
{
    h->version = chunk_le_get16(buf + FOFF_VERSION);
    h->kind = chunk_le_get16(buf + FOFF_KIND);
    h->flags = chunk_le_get32(buf + FOFF_FLAGS);
    h->segno = chunk_le_get64(buf + FOFF_SEGNO);
    h->created_ms = chunk_le_get64(buf + FOFF_CREATED_MS);
    memcpy(h->stream_header, buf + FOFF_STREAM_HEADER,
           SEGFILE_STREAM_HEADER_BYTES);
    memcpy(h->key_mac, buf + FOFF_KEY_MAC, SEGFILE_KEY_MAC_BYTES);
    h->header_hash = chunk_le_get64(buf + FOFF_HEADER_HASH);
}

/* The key must match the file exactly: a key given for a plaintext file
 * is refused too, or someone could swap an encrypted segment for a forged
 * plaintext one. */
static segfile_status hdr_check_key(const uint8_t *buf,
                                    const segfile_file_header *h,
                                    const uint8_t *key)
{
    if (!(h->flags & SEGFILE_FLAG_ENCRYPTED)) {
        if (key != NULL)
            return SEGFILE_ERR_KEY_UNEXPECTED;
        if (!sodium_is_zero(h->stream_header, SEGFILE_STREAM_HEADER_BYTES) ||
            !sodium_is_zero(h->key_mac, SEGFILE_KEY_MAC_BYTES))
            return SEGFILE_ERR_HEADER;
        return SEGFILE_OK;
    }
    if (key == NULL)
        return SEGFILE_ERR_KEY_REQUIRED;
    if (sodium_init() < 0)
        return SEGFILE_ERR_CRYPTO;
    uint8_t mac[SEGFILE_KEY_MAC_BYTES];
    key_mac_compute(buf, key, mac);
    if (sodium_memcmp(mac, h->key_mac, SEGFILE_KEY_MAC_BYTES) != 0)
        return SEGFILE_ERR_BAD_KEY;
    return SEGFILE_OK;
}

segfile_status segfile_hdr_parse(const uint8_t *buf, size_t len,
                                 const uint8_t *key, segfile_file_header *h)
{
    memset(h, 0, sizeof *h);
    if (len < SEGFILE_HEADER_BYTES)
        return SEGFILE_ERR_SHORT_HEADER;
    if (memcmp(buf + FOFF_MAGIC, SEGFILE_MAGIC, SEGFILE_MAGIC_BYTES) != 0)
        return SEGFILE_ERR_HEADER;
    if (XXH3_64bits(buf, FOFF_HEADER_HASH) !=
        chunk_le_get64(buf + FOFF_HEADER_HASH))
        return SEGFILE_ERR_HEADER;
    hdr_unpack(buf, h);
    if (h->version != SEGFILE_VERSION)
        return SEGFILE_ERR_VERSION;
    if (chunk_le_get32(buf + FOFF_RESERVED) != 0 ||
        (h->flags & ~(uint32_t)SEGFILE_FLAG_ENCRYPTED) != 0 ||
        (h->kind != SEGFILE_KIND_LOG && h->kind != SEGFILE_KIND_SNAPSHOT))
        return SEGFILE_ERR_HEADER;
    return hdr_check_key(buf, h, key);
}

segfile_status segfile_crypt_init_push(segfile_crypt *k, const uint8_t *key,
                                       segfile_file_header *h)
{
    assert(h->flags & SEGFILE_FLAG_ENCRYPTED);
    if (sodium_init() < 0)
        return SEGFILE_ERR_CRYPTO;
    memcpy(k->key, key, SEGFILE_KEY_BYTES);
    k->restart_pending = 0;
    if (crypto_secretstream_xchacha20poly1305_init_push(
            &k->st, h->stream_header, k->key) != 0)
        return SEGFILE_ERR_CRYPTO;
    uint8_t fields[SEGFILE_HEADER_BYTES];
    hdr_put_fields(h, fields);
    key_mac_compute(fields, k->key, h->key_mac);
    memcpy(k->key_mac, h->key_mac, SEGFILE_KEY_MAC_BYTES);
    return SEGFILE_OK;
}

segfile_status segfile_crypt_init_pull(segfile_crypt *k, const uint8_t *key,
                                       const segfile_file_header *h)
{
    assert(h->flags & SEGFILE_FLAG_ENCRYPTED);
    if (sodium_init() < 0)
        return SEGFILE_ERR_CRYPTO;
    memcpy(k->key, key, SEGFILE_KEY_BYTES);
    memcpy(k->key_mac, h->key_mac, SEGFILE_KEY_MAC_BYTES);
    k->restart_pending = 0;
    if (crypto_secretstream_xchacha20poly1305_init_pull(
            &k->st, h->stream_header, k->key) != 0)
        return SEGFILE_ERR_CRYPTO;
    return SEGFILE_OK;
}

void segfile_crypt_init_restart(segfile_crypt *k, const uint8_t *key,
                                const segfile_file_header *h)
{
    assert(h->flags & SEGFILE_FLAG_ENCRYPTED);
    memcpy(k->key, key, SEGFILE_KEY_BYTES);
    memcpy(k->key_mac, h->key_mac, SEGFILE_KEY_MAC_BYTES);
    k->restart_pending = 1;
}

/* The AD binds the chunk header prefix (flags, counts, seqs, prev_hash)
 * and the file (key_mac) to the ciphertext. */
static void ad_build(const segfile_crypt *k, const uint8_t *ad, size_t ad_len,
                     uint8_t out[SEGFILE_AD_BYTES])
{
    assert(ad_len == CHUNK_AD_BYTES);
    (void)ad_len;
    memcpy(out, ad, CHUNK_AD_BYTES);
    memcpy(out + CHUNK_AD_BYTES, k->key_mac, SEGFILE_KEY_MAC_BYTES);
}

static chunk_status crypt_seal(void *ctx, uint8_t *out, const uint8_t *in,
                               size_t in_len, const uint8_t *ad,
                               size_t ad_len)
{
    segfile_crypt *k = ctx;
    uint8_t full_ad[SEGFILE_AD_BYTES];
    ad_build(k, ad, ad_len, full_ad);
    uint16_t flags = chunk_le_get16(ad + CHUNK_FLAGS_OFFSET);
    assert(((flags & CHUNK_FLAG_STREAM_RESTART) != 0) == k->restart_pending);
    (void)flags;
    if (k->restart_pending) {
        if (crypto_secretstream_xchacha20poly1305_init_push(&k->st, out,
                                                            k->key) != 0)
            return CHUNK_BAD_SEAL;
        out += SEGFILE_STREAM_HEADER_BYTES;
        k->restart_pending = 0;
    }
    unsigned long long clen = 0;
    if (crypto_secretstream_xchacha20poly1305_push(
            &k->st, out, &clen, in, in_len, full_ad, sizeof full_ad,
            crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) != 0)
        return CHUNK_BAD_SEAL;
    assert(clen == in_len + SEGFILE_SEAL_BYTES);
    return CHUNK_OK;
}

static chunk_status crypt_open(void *ctx, uint16_t flags, const uint8_t *in,
                               size_t in_len, const uint8_t *ad,
                               size_t ad_len, const uint8_t **plain,
                               size_t *plain_len)
{
    segfile_crypt *k = ctx;
    uint8_t full_ad[SEGFILE_AD_BYTES];
    ad_build(k, ad, ad_len, full_ad);
    if (flags & CHUNK_FLAG_STREAM_RESTART) {
        if (in_len < SEGFILE_STREAM_HEADER_BYTES ||
            crypto_secretstream_xchacha20poly1305_init_pull(&k->st, in,
                                                            k->key) != 0)
            return CHUNK_BAD_SEAL;
        in += SEGFILE_STREAM_HEADER_BYTES;
        in_len -= SEGFILE_STREAM_HEADER_BYTES;
    }
    if (in_len < SEGFILE_SEAL_BYTES)
        return CHUNK_BAD_SEAL;
    size_t cap = in_len - SEGFILE_SEAL_BYTES;
    chunk_status st = chunk_buf_reserve(&k->plain, cap > 0 ? cap : 1u);
    if (st != CHUNK_OK)
        return st;
    unsigned long long mlen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(
            &k->st, k->plain.data, &mlen, &tag, in, in_len, full_ad,
            sizeof full_ad) != 0)
        return CHUNK_BAD_SEAL;
    if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
        return CHUNK_BAD_SEAL;
    assert(mlen == cap);
    *plain = k->plain.data;
    *plain_len = (size_t)mlen;
    return CHUNK_OK;
}

void segfile_crypt_sealer(segfile_crypt *k, chunk_sealer *s)
{
    s->flags = CHUNK_FLAG_ENCRYPTED;
    s->overhead_bytes = SEGFILE_SEAL_BYTES;
    if (k->restart_pending) {
        s->flags |= CHUNK_FLAG_STREAM_RESTART;
        s->overhead_bytes = SEGFILE_RESTART_SEAL_BYTES;
    }
    s->seal = crypt_seal;
    s->ctx = k;
}

void segfile_crypt_opener(segfile_crypt *k, chunk_opener *o)
{
    o->open = crypt_open;
    o->ctx = k;
}

void segfile_crypt_wipe(segfile_crypt *k)
{
    if (k->plain.data != NULL)
        sodium_memzero(k->plain.data, k->plain.cap);
    chunk_buf_free(&k->plain);
    sodium_memzero(k, sizeof *k);
}
