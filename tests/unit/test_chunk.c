/* test_chunk -- chunk encode/decode: round trips, every single-byte flip,
 * every truncation, hostile lengths, crafted bodies, chain, sealing.
 * Deterministic: all randomness comes from a seeded xorshift. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#include "chunk.h"
#include "chunk_le.h"
#include "t.h"

#define SEED 0x5eed1234abcdULL
#define LEVEL 3
#define MANY_RECORDS 1000u
#define SMALL_PAYLOAD_MAX 200u
#define LARGE_PAYLOAD_BYTES (4u * 1024u * 1024u)
#define COMPRESSIBLE_BYTES (8u * 1024u * 1024u)
#define FUZZ_ROUNDS 2000u
#define FUZZ_BYTES_MAX 300u
#define CHAIN_CHUNKS 3u
/* Toy sealer tag: 8 bytes of XXH3 over ad + plaintext. */
#define TOY_TAG_BYTES 8u

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void rng_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng() >> 24);
}

/* Copy into an exact-size heap buffer so ASan catches any over-read. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n > 0 ? n : 1);
    if (q != NULL && n > 0)
        memcpy(q, p, n);
    return q;
}

/* Decode buf[0..len) (copied to an exact buffer) with the given chain. */
static chunk_status decode_exact(chunk_codec *c, const uint8_t *buf,
                                 size_t len, uint64_t prev,
                                 const chunk_opener *op, chunk_header *h)
{
    uint8_t *copy = dup_exact(buf, len);
    if (copy == NULL)
        return CHUNK_ERR_NOMEM;
    size_t used = 0;
    chunk_status st = chunk_decode(c, copy, len, prev, op, h, &used);
    if (st == CHUNK_OK && used != len)
        st = CHUNK_ERR_ARG; /* the test always passes exactly one chunk */
    free(copy);
    return st;
}

/* Decoded records must equal what the builder holds, in order. */
static int records_equal(const chunk_codec *c, const chunk_builder *b)
{
    if (c->raw.len != b->raw.len)
        return 0;
    size_t pa = 0, pb = 0;
    for (;;) {
        const uint8_t *a, *bb;
        size_t la, lb;
        chunk_status sa = chunk_record_next(c->raw.data, c->raw.len, &pa,
                                            &a, &la);
        chunk_status sb = chunk_record_next(b->raw.data, b->raw.len, &pb,
                                            &bb, &lb);
        if (sa != sb)
            return 0;
        if (sa == CHUNK_END)
            return 1;
        if (sa != CHUNK_OK || la != lb || (la > 0 && memcmp(a, bb, la) != 0))
            return 0;
    }
}

/* Encode b, decode it back, check header and records. */
static void roundtrip(chunk_builder *b, uint64_t prev)
{
    chunk_codec c;
    T_REQUIRE(chunk_codec_init(&c) == CHUNK_OK);
    uint64_t hash = 0;
    T_EQ_I64(chunk_encode(&c, b, prev, 0, LEVEL, NULL, &hash), CHUNK_OK);
    uint8_t *enc = dup_exact(c.out.data, c.out.len);
    size_t enc_len = c.out.len;
    T_REQUIRE(enc != NULL);
    chunk_header h;
    T_EQ_I64(decode_exact(&c, enc, enc_len, prev, NULL, &h), CHUNK_OK);
    T_EQ_I64(h.n_records, b->n_records);
    T_EQ_I64(h.raw_len, b->raw.len);
    T_EQ_I64(h.stored_len + CHUNK_HEADER_BYTES, enc_len);
    T_EQ_I64(h.prev_hash, prev);
    T_CHECK(h.header_hash == hash);
    if (b->n_records > 0) {
        T_CHECK(h.first_seq == b->first_seq);
        T_CHECK(h.last_seq == b->last_seq);
    }
    T_CHECK(records_equal(&c, b));
    free(enc);
    chunk_codec_free(&c);
}

static void test_roundtrip_empty(void)
{
    chunk_builder b;
    chunk_builder_init(&b);
    roundtrip(&b, 0);
    roundtrip(&b, 0x1234);
    chunk_builder_free(&b);
}

static void test_roundtrip_one_and_zero_length(void)
{
    chunk_builder b;
    chunk_builder_init(&b);
    T_EQ_I64(chunk_builder_add(&b, 7, "hello", 5), CHUNK_OK);
    roundtrip(&b, 0);
    T_EQ_I64(chunk_builder_add(&b, 8, NULL, 0), CHUNK_OK);
    T_EQ_I64(chunk_builder_add(&b, 9, "x", 1), CHUNK_OK);
    T_EQ_I64(b.n_records, 3);
    T_CHECK(b.first_seq == 7 && b.last_seq == 9);
    roundtrip(&b, 99);
    chunk_builder_reset(&b);
    T_EQ_I64(chunk_builder_add(&b, 1, NULL, 0), CHUNK_OK); /* only empty */
    roundtrip(&b, 0);
    chunk_builder_free(&b);
}

static void test_roundtrip_many(void)
{
    rng_state = SEED;
    chunk_builder b;
    chunk_builder_init(&b);
    uint8_t payload[SMALL_PAYLOAD_MAX];
    for (uint32_t i = 0; i < MANY_RECORDS; i++) {
        size_t len = (size_t)(rng() % SMALL_PAYLOAD_MAX);
        rng_fill(payload, len);
        T_REQUIRE(chunk_builder_add(&b, 100 + i, payload, len) == CHUNK_OK);
    }
    roundtrip(&b, 42);
    chunk_builder_free(&b);
}

static void test_roundtrip_large(void)
{
    rng_state = SEED + 1;
    uint8_t *big = malloc(COMPRESSIBLE_BYTES);
    T_REQUIRE(big != NULL);
    chunk_builder b;
    chunk_builder_init(&b);
    rng_fill(big, LARGE_PAYLOAD_BYTES); /* incompressible */
    T_EQ_I64(chunk_builder_add(&b, 1, big, LARGE_PAYLOAD_BYTES), CHUNK_OK);
    roundtrip(&b, 0);
    chunk_builder_reset(&b);
    for (size_t i = 0; i < COMPRESSIBLE_BYTES; i++)
        big[i] = (uint8_t)("quota key record "[i % 17u]);
    T_EQ_I64(chunk_builder_add(&b, 2, big, COMPRESSIBLE_BYTES), CHUNK_OK);
    chunk_codec c;
    T_REQUIRE(chunk_codec_init(&c) == CHUNK_OK);
    uint64_t hash;
    T_EQ_I64(chunk_encode(&c, &b, 0, 0, LEVEL, NULL, &hash), CHUNK_OK);
    T_CHECK(c.out.len < COMPRESSIBLE_BYTES / 100u); /* really compressed */
    chunk_codec_free(&c);
    roundtrip(&b, 0);
    chunk_builder_free(&b);
    free(big);
}

/* The largest record fits exactly; one byte more never fits; a full
 * builder says FULL and keeps its content. */
static void test_builder_limits(void)
{
    chunk_builder b;
    chunk_builder_init(&b);
    uint8_t *big = calloc(1, CHUNK_RECORD_BYTES_MAX + 1u);
    T_REQUIRE(big != NULL);
    T_EQ_I64(chunk_builder_add(&b, 1, big, CHUNK_RECORD_BYTES_MAX + 1u),
             CHUNK_ERR_ARG);
    T_EQ_I64(chunk_builder_add(&b, 1, NULL, 3), CHUNK_ERR_ARG);
    T_EQ_I64(chunk_builder_add(&b, 1, big, CHUNK_RECORD_BYTES_MAX), CHUNK_OK);
    T_EQ_I64(b.raw.len, CHUNK_RAW_BYTES_MAX);
    T_EQ_I64(chunk_builder_add(&b, 2, NULL, 0), CHUNK_ERR_FULL);
    T_EQ_I64(b.n_records, 1);
    roundtrip(&b, 0);
    chunk_builder_reset(&b);
    T_EQ_I64(chunk_builder_add(&b, 10, "a", 1), CHUNK_OK);
    T_EQ_I64(chunk_builder_add(&b, 9, "b", 1), CHUNK_ERR_ARG); /* seq back */
    T_EQ_I64(chunk_builder_add(&b, 10, "c", 1), CHUNK_OK);     /* equal ok */
    chunk_codec c;
    T_REQUIRE(chunk_codec_init(&c) == CHUNK_OK);
    uint64_t hash;
    T_EQ_I64(chunk_encode(&c, &b, 0, 0, ZSTD_maxCLevel() + 1, NULL, &hash),
             CHUNK_ERR_ARG);
    T_EQ_I64(chunk_encode(&c, &b, 0, 0, ZSTD_minCLevel() - 1, NULL, &hash),
             CHUNK_ERR_ARG);
    chunk_codec_free(&c);
    chunk_builder_free(&b);
    free(big);
}

/* A small chunk with three records, encoded into *out (malloc'd). */
static size_t small_chunk(uint8_t **out, uint64_t prev, uint64_t *hash)
{
    chunk_builder b;
    chunk_builder_init(&b);
    chunk_codec c;
    size_t len = 0;
    *out = NULL;
    if (chunk_codec_init(&c) != CHUNK_OK)
        return 0;
    if (chunk_builder_add(&b, 1, "alpha", 5) == CHUNK_OK &&
        chunk_builder_add(&b, 2, "", 0) == CHUNK_OK &&
        chunk_builder_add(&b, 3, "gamma-gamma", 11) == CHUNK_OK &&
        chunk_encode(&c, &b, prev, 0, LEVEL, NULL, hash) == CHUNK_OK) {
        *out = dup_exact(c.out.data, c.out.len);
        len = *out != NULL ? c.out.len : 0;
    }
    chunk_codec_free(&c);
    chunk_builder_free(&b);
    return len;
}

/* Every byte is covered by header_hash or body_hash, so every flip of
 * every byte must be caught by the hash that covers it. */
static void test_every_flip_detected(void)
{
    static const uint8_t masks[] = {0x01, 0x10, 0x80, 0xff};
    uint64_t hash;
    uint8_t *enc;
    size_t len = small_chunk(&enc, 5, &hash);
    T_REQUIRE(len > CHUNK_HEADER_BYTES);
    chunk_codec c;
    T_REQUIRE(chunk_codec_init(&c) == CHUNK_OK);
    chunk_header h;
    T_EQ_I64(decode_exact(&c, enc, len, 5, NULL, &h), CHUNK_OK);
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            enc[i] ^= masks[m];
            chunk_status st = decode_exact(&c, enc, len, 5, NULL, &h);
            chunk_status want = i < CHUNK_HEADER_BYTES ? CHUNK_BAD_HEADER
                                                       : CHUNK_BAD_BODY;
            if (st != want)
                fprintf(stderr, "  flip at %zu mask %02x: %s\n", i,
                        masks[m], chunk_status_str(st));
            T_EQ_I64(st, want);
            enc[i] ^= masks[m];
        }
    }
    free(enc);
    chunk_codec_free(&c);
}

static void test_every_truncation_needs_more(void)
{
    uint64_t hash;
    uint8_t *enc;
    size_t len = small_chunk(&enc, 0, &hash);
    T_REQUIRE(len > 0);
    chunk_codec c;
    T_REQUIRE(chunk_codec_init(&c) == CHUNK_OK);
    chunk_header h;
    for (size_t n = 0; n < len; n++) {
        T_EQ_I64(decode_exact(&c, enc, n, 0, NULL, &h), CHUNK_NEED_MORE);
        size_t total = 0;
        uint8_t *copy = dup_exact(enc, n);
        T_EQ_I64(chunk_probe(copy, n, &h, &total), CHUNK_NEED_MORE);
        free(copy);
    }
    T_EQ_I64(decode_exact(&c, enc, len, 0, NULL, &h), CHUNK_OK);
    free(enc);
    chunk_codec_free(&c);
}

/* Build a chunk with arbitrary header fields and body but correct hashes:
 * what a buggy writer or a forger with no key could produce. */
static size_t craft(uint8_t **out, const chunk_header *h, const uint8_t *body,
                    size_t body_len)
{
    *out = malloc(CHUNK_HEADER_BYTES + body_len);
    if (*out == NULL)
        return 0;
    if (body_len > 0)
        memcpy(*out + CHUNK_HEADER_BYTES, body, body_len);
    chunk_header hh = *h;
    hh.body_hash = XXH3_64bits(*out + CHUNK_HEADER_BYTES, body_len);
    chunk_header_pack(&hh, *out);
    return CHUNK_HEADER_BYTES + body_len;
}

static chunk_status craft_decode(const chunk_header *h, const uint8_t *body,
                                 size_t body_len)
{
    chunk_codec c;
    if (chunk_codec_init(&c) != CHUNK_OK)
        return CHUNK_ERR_NOMEM;
    uint8_t *buf;
    size_t len = craft(&buf, h, body, body_len);
    chunk_header out;
    chunk_status st = len > 0 ? decode_exact(&c, buf, len, h->prev_hash,
                                             NULL, &out)
                              : CHUNK_ERR_NOMEM;
    free(buf);
    chunk_codec_free(&c);
    return st;
}

static void test_hostile_lengths(void)
{
    const chunk_header base = {.version = CHUNK_VERSION, .n_records = 1,
                               .raw_len = 8, .stored_len = 16,
                               .first_seq = 1, .last_seq = 1};
    uint8_t body[16] = {0};
    chunk_header h = base;
    h.stored_len = UINT32_MAX;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h.stored_len = CHUNK_STORED_BYTES_MAX + 1u;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h = base;
    h.raw_len = UINT32_MAX;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h.raw_len = CHUNK_RAW_BYTES_MAX + 1u;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h = base;
    h.n_records = 3; /* more than raw_len / 4 */
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h.n_records = UINT32_MAX;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h = base;
    h.n_records = 0; /* no records but a non-empty area */
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h = base;
    h.first_seq = 2; /* first > last */
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h = base;
    h.flags = 0x8000; /* unknown flag */
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h.flags = CHUNK_FLAG_STREAM_RESTART; /* restart needs encrypted */
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h = base;
    h.version = CHUNK_VERSION + 1u;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_VERSION);
    /* stored_len within limits but beyond the buffer: need more, and no
     * byte past the buffer is read (ASan). */
    h = base;
    h.stored_len = CHUNK_STORED_BYTES_MAX;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_NEED_MORE);
    h = base;
    h.version = CHUNK_VERSION_MIN - 1u;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_VERSION);
    /* sync_floor: any value in version 2; reserved (0) in version 1 */
    h = base;
    h.sync_floor = 4096;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_RECORDS);
    h.version = 1;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_FIELDS);
    h.sync_floor = 0;
    T_EQ_I64(craft_decode(&h, body, sizeof body), CHUNK_BAD_RECORDS);
    uint8_t *buf;
    size_t len = craft(&buf, &base, body, sizeof body);
    T_REQUIRE(len > 0);
    buf[20] = 1; /* the floor is covered by the header hash */
    chunk_header out;
    size_t total;
    T_EQ_I64(chunk_probe(buf, len, &out, &total), CHUNK_BAD_HEADER);
    chunk_le_put64(buf + 56, XXH3_64bits(buf, 56));
    T_EQ_I64(chunk_probe(buf, len, &out, &total), CHUNK_OK);
    T_EQ_I64(out.sync_floor, 1);
    free(buf);
}

/* Compress src into a fresh zstd frame, optionally without content size. */
static size_t zframe(uint8_t *dst, size_t cap, const uint8_t *src, size_t n,
                     int with_size)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    if (cc == NULL)
        return 0;
    size_t r = ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, with_size);
    if (!ZSTD_isError(r))
        r = ZSTD_compress2(cc, dst, cap, src, n);
    ZSTD_freeCCtx(cc);
    return ZSTD_isError(r) ? 0 : r;
}

/* Bodies whose hashes are right but whose content is wrong. */
static void test_bad_bodies_with_valid_hashes(void)
{
    uint8_t raw[16], body[256], two[512];
    chunk_le_put32(raw, 4);
    memcpy(raw + 4, "abcd", 4);
    chunk_le_put32(raw + 8, 4);
    memcpy(raw + 12, "efgh", 4);
    chunk_header h = {.version = CHUNK_VERSION, .n_records = 2,
                      .raw_len = 16, .first_seq = 1, .last_seq = 2};
    size_t n = zframe(body, sizeof body, raw, sizeof raw, 1);
    T_REQUIRE(n > 0);
    h.stored_len = (uint32_t)n;
    T_EQ_I64(craft_decode(&h, body, n), CHUNK_OK); /* control */
    h.n_records = 1;
    T_EQ_I64(craft_decode(&h, body, n), CHUNK_BAD_RECORDS); /* count */
    h.n_records = 3;
    T_EQ_I64(craft_decode(&h, body, n), CHUNK_BAD_RECORDS);
    h.n_records = 2;
    h.raw_len = 15; /* declared size differs from the frame's */
    T_EQ_I64(craft_decode(&h, body, n), CHUNK_BAD_RECORDS);
    h.raw_len = 16;
    memcpy(two, body, n); /* two frames back to back */
    memcpy(two + n, body, n);
    h.stored_len = (uint32_t)(2u * n);
    T_EQ_I64(craft_decode(&h, two, 2u * n), CHUNK_BAD_RECORDS);
    size_t e = zframe(two + n, sizeof two - n, raw, 0, 1); /* + empty */
    T_REQUIRE(e > 0);
    h.stored_len = (uint32_t)(n + e);
    T_EQ_I64(craft_decode(&h, two, n + e), CHUNK_BAD_RECORDS);
    size_t m = zframe(body, sizeof body, raw, sizeof raw, 0); /* no size */
    T_REQUIRE(m > 0);
    h.stored_len = (uint32_t)m;
    T_EQ_I64(craft_decode(&h, body, m), CHUNK_BAD_RECORDS);
    rng_state = SEED + 2;
    rng_fill(body, 64); /* not zstd at all */
    h.stored_len = 64;
    T_EQ_I64(craft_decode(&h, body, 64), CHUNK_BAD_RECORDS);
    chunk_le_put32(raw + 8, 5); /* record overruns the area */
    n = zframe(body, sizeof body, raw, sizeof raw, 1);
    h.stored_len = (uint32_t)n;
    T_EQ_I64(craft_decode(&h, body, n), CHUNK_BAD_RECORDS);
    chunk_le_put32(raw + 8, UINT32_MAX);
    n = zframe(body, sizeof body, raw, sizeof raw, 1);
    h.stored_len = (uint32_t)n;
    T_EQ_I64(craft_decode(&h, body, n), CHUNK_BAD_RECORDS);
}

static void test_record_next_malformed(void)
{
    uint8_t raw[12];
    size_t pos = 0, len = 0;
    const uint8_t *p = NULL;
    chunk_le_put32(raw, 9); /* claims 9, only 8 follow */
    T_EQ_I64(chunk_record_next(raw, sizeof raw, &pos, &p, &len),
             CHUNK_BAD_RECORDS);
    chunk_le_put32(raw, UINT32_MAX);
    T_EQ_I64(chunk_record_next(raw, sizeof raw, &pos, &p, &len),
             CHUNK_BAD_RECORDS);
    chunk_le_put32(raw, 5); /* 4+5 = 9, then 3 stray bytes */
    T_EQ_I64(chunk_record_next(raw, sizeof raw, &pos, &p, &len), CHUNK_OK);
    T_EQ_I64(len, 5);
    T_EQ_I64(chunk_record_next(raw, sizeof raw, &pos, &p, &len),
             CHUNK_BAD_RECORDS);
    pos = sizeof raw + 1;
    T_EQ_I64(chunk_record_next(raw, sizeof raw, &pos, &p, &len),
             CHUNK_BAD_RECORDS);
    pos = 0;
    T_EQ_I64(chunk_record_next(raw, 0, &pos, &p, &len), CHUNK_END);
}

/* Chunks decode in order with the right prev_hash; a wrong expectation
 * (reordered, duplicated or dropped chunk) is a chain error. */
static void test_chain(void)
{
    uint8_t *enc[CHAIN_CHUNKS];
    size_t len[CHAIN_CHUNKS];
    uint64_t hash[CHAIN_CHUNKS], prev = 0;
    for (size_t i = 0; i < CHAIN_CHUNKS; i++) {
        len[i] = small_chunk(&enc[i], prev, &hash[i]);
        T_REQUIRE(len[i] > 0);
        prev = hash[i];
    }
    chunk_codec c;
    T_REQUIRE(chunk_codec_init(&c) == CHUNK_OK);
    chunk_header h;
    prev = 0;
    for (size_t i = 0; i < CHAIN_CHUNKS; i++) {
        T_EQ_I64(decode_exact(&c, enc[i], len[i], prev, NULL, &h), CHUNK_OK);
        prev = h.header_hash;
    }
    T_EQ_I64(decode_exact(&c, enc[1], len[1], 0, NULL, &h), CHUNK_BAD_CHAIN);
    T_EQ_I64(decode_exact(&c, enc[2], len[2], hash[0], NULL, &h),
             CHUNK_BAD_CHAIN);
    T_EQ_I64(decode_exact(&c, enc[1], len[1], hash[1], NULL, &h),
             CHUNK_BAD_CHAIN);
    for (size_t i = 0; i < CHAIN_CHUNKS; i++)
        free(enc[i]);
    chunk_codec_free(&c);
}

/* Toy sealer: ciphertext = plaintext XOR 0x5a, then XXH3(ad || plain). It
 * checks the plumbing (AD, overhead, flags), not cryptography. */
static uint64_t toy_tag(const uint8_t *ad, size_t ad_len, const uint8_t *p,
                        size_t n)
{
    return XXH3_64bits_withSeed(p, n, XXH3_64bits(ad, ad_len));
}

static chunk_status toy_seal(void *ctx, uint8_t *out, const uint8_t *in,
                             size_t in_len, const uint8_t *ad, size_t ad_len)
{
    (void)ctx;
    for (size_t i = 0; i < in_len; i++)
        out[i] = in[i] ^ 0x5a;
    chunk_le_put64(out + in_len, toy_tag(ad, ad_len, in, in_len));
    return CHUNK_OK;
}

static chunk_status toy_open(void *ctx, uint16_t flags, const uint8_t *in,
                             size_t in_len, const uint8_t *ad, size_t ad_len,
                             const uint8_t **plain, size_t *plain_len)
{
    chunk_buf *buf = ctx;
    if (!(flags & CHUNK_FLAG_ENCRYPTED) || in_len < TOY_TAG_BYTES)
        return CHUNK_BAD_SEAL;
    size_t n = in_len - TOY_TAG_BYTES;
    if (chunk_buf_reserve(buf, n + 1u) != CHUNK_OK)
        return CHUNK_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        buf->data[i] = in[i] ^ 0x5a;
    if (toy_tag(ad, ad_len, buf->data, n) != chunk_le_get64(in + n))
        return CHUNK_BAD_SEAL;
    *plain = buf->data;
    *plain_len = n;
    return CHUNK_OK;
}

static void test_sealed_plumbing(void)
{
    chunk_builder b;
    chunk_builder_init(&b);
    T_REQUIRE(chunk_builder_add(&b, 4, "secret-record", 13) == CHUNK_OK);
    chunk_codec c;
    T_REQUIRE(chunk_codec_init(&c) == CHUNK_OK);
    chunk_buf pb = {0};
    chunk_sealer s = {CHUNK_FLAG_ENCRYPTED, TOY_TAG_BYTES, toy_seal, NULL};
    chunk_opener o = {toy_open, &pb};
    uint64_t hash;
    T_EQ_I64(chunk_encode(&c, &b, 0, 0, LEVEL, &s, &hash), CHUNK_OK);
    uint8_t *enc = dup_exact(c.out.data, c.out.len);
    size_t len = c.out.len;
    T_REQUIRE(enc != NULL);
    chunk_header h;
    T_EQ_I64(decode_exact(&c, enc, len, 0, &o, &h), CHUNK_OK);
    T_CHECK(h.flags == CHUNK_FLAG_ENCRYPTED && records_equal(&c, &b));
    T_EQ_I64(decode_exact(&c, enc, len, 0, NULL, &h), CHUNK_NO_KEY);
    /* Forge: change first_seq and fix the (unkeyed) header hash. */
    chunk_header_unpack(enc, &h);
    h.first_seq = 3;
    chunk_header_pack(&h, enc);
    T_EQ_I64(decode_exact(&c, enc, len, 0, &o, &h), CHUNK_BAD_SEAL);
    s.flags = 0; /* a sealer must mark the chunk encrypted */
    T_EQ_I64(chunk_encode(&c, &b, 0, 0, LEVEL, &s, &hash), CHUNK_ERR_ARG);
    s.flags = CHUNK_FLAG_ENCRYPTED;
    s.overhead_bytes = CHUNK_SEAL_OVERHEAD_BYTES_MAX + 1u;
    T_EQ_I64(chunk_encode(&c, &b, 0, 0, LEVEL, &s, &hash), CHUNK_ERR_ARG);
    free(enc);
    chunk_buf_free(&pb);
    chunk_codec_free(&c);
    chunk_builder_free(&b);
}

/* Chunks back to back in one buffer decode one after another. */
static void test_back_to_back(void)
{
    uint8_t *a, *b;
    uint64_t ha, hb;
    size_t la = small_chunk(&a, 0, &ha);
    size_t lb = small_chunk(&b, ha, &hb);
    T_REQUIRE(la > 0 && lb > 0);
    uint8_t *both = malloc(la + lb);
    T_REQUIRE(both != NULL);
    memcpy(both, a, la);
    memcpy(both + la, b, lb);
    chunk_codec c;
    T_REQUIRE(chunk_codec_init(&c) == CHUNK_OK);
    chunk_header h;
    size_t used = 0;
    T_EQ_I64(chunk_decode(&c, both, la + lb, 0, NULL, &h, &used), CHUNK_OK);
    T_EQ_I64(used, la);
    T_EQ_I64(chunk_decode(&c, both + la, lb, ha, NULL, &h, &used), CHUNK_OK);
    T_EQ_I64(used, lb);
    T_CHECK(h.header_hash == hb);
    free(both);
    free(a);
    free(b);
    chunk_codec_free(&c);
}

/* Random garbage, and valid chunks with several random flips, never
 * decode as OK and never crash. */
static void test_fuzz(void)
{
    rng_state = SEED + 3;
    chunk_codec c;
    T_REQUIRE(chunk_codec_init(&c) == CHUNK_OK);
    uint64_t hash;
    uint8_t *enc;
    size_t len = small_chunk(&enc, 0, &hash);
    T_REQUIRE(len > 0);
    uint8_t junk[FUZZ_BYTES_MAX];
    chunk_header h;
    int ok = 0;
    for (uint32_t i = 0; i < FUZZ_ROUNDS; i++) {
        size_t n = (size_t)(rng() % FUZZ_BYTES_MAX);
        rng_fill(junk, n);
        if (n >= CHUNK_MAGIC_BYTES && (i & 1u))
            memcpy(junk, CHUNK_MAGIC, CHUNK_MAGIC_BYTES);
        ok += decode_exact(&c, junk, n, 0, NULL, &h) == CHUNK_OK;
        uint8_t *m = dup_exact(enc, len);
        T_REQUIRE(m != NULL);
        unsigned flips = 1u + (unsigned)(rng() % 4u);
        for (unsigned f = 0; f < flips; f++)
            m[rng() % len] ^= (uint8_t)(1u + rng() % 255u);
        ok += decode_exact(&c, m, len, 0, NULL, &h) == CHUNK_OK &&
              memcmp(m, enc, len) != 0;
        free(m);
    }
    T_EQ_I64(ok, 0);
    free(enc);
    chunk_codec_free(&c);
}

int main(void)
{
    T_RUN(test_roundtrip_empty);
    T_RUN(test_roundtrip_one_and_zero_length);
    T_RUN(test_roundtrip_many);
    T_RUN(test_roundtrip_large);
    T_RUN(test_builder_limits);
    T_RUN(test_every_flip_detected);
    T_RUN(test_every_truncation_needs_more);
    T_RUN(test_hostile_lengths);
    T_RUN(test_bad_bodies_with_valid_hashes);
    T_RUN(test_record_next_malformed);
    T_RUN(test_chain);
    T_RUN(test_sealed_plumbing);
    T_RUN(test_back_to_back);
    T_RUN(test_fuzz);
    return t_done();
}
