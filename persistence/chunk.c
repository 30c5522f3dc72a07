/* chunk -- encode/decode of one checksummed zstd chunk (see chunk.h). */
#include "chunk.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#include "chunk_le.h"

/* Header field offsets (bytes); the table in chunk.h is the reference. */
#define OFF_MAGIC 0u
#define OFF_VERSION 4u
#define OFF_FLAGS 6u
#define OFF_N_RECORDS 8u
#define OFF_RAW_LEN 12u
#define OFF_STORED_LEN 16u
#define OFF_SYNC_FLOOR 20u
#define OFF_FIRST_SEQ 24u
#define OFF_LAST_SEQ 32u
#define OFF_PREV_HASH 40u
#define OFF_BODY_HASH 48u
#define OFF_HEADER_HASH 56u

/* First allocation of a growing buffer; small enough for tiny chunks. */
#define CHUNK_BUF_BYTES_MIN 4096u

/* zstd frames start with this little-endian magic number. */
#define CHUNK_ZSTD_MAGIC 0xFD2FB528u

_Static_assert(OFF_BODY_HASH == CHUNK_AD_BYTES, "AD ends at body_hash");
_Static_assert(OFF_HEADER_HASH + 8u == CHUNK_HEADER_BYTES, "header size");
_Static_assert(CHUNK_RAW_BYTES_MAX / CHUNK_RECORD_PREFIX_BYTES <= UINT32_MAX,
               "n_records always fits its u32 field");
_Static_assert(CHUNK_BYTES_MAX <= UINT32_MAX, "lengths fit u32 fields");

const char *chunk_status_str(chunk_status s)
{
    switch (s) {
#define CHUNK_STR_(name, value, desc) \
    case name:                        \
        return desc;
        CHUNK_STATUS_LIST(CHUNK_STR_)
#undef CHUNK_STR_
    }
    return "unknown chunk status";
}

/* Doubling growth so a builder filled record by record costs amortised
 * O(1) per byte; capped so no caller can ask for unbounded memory. */
chunk_status chunk_buf_reserve(chunk_buf *b, size_t need)
{
    assert(b != NULL);
    assert(b->len <= b->cap);
    if (need > CHUNK_BYTES_MAX)
        return CHUNK_ERR_ARG;
    if (need <= b->cap && b->data != NULL)
        return CHUNK_OK;
    size_t cap = b->cap < CHUNK_BUF_BYTES_MIN ? CHUNK_BUF_BYTES_MIN : b->cap;
    while (cap < need)
        cap *= 2u;
    if (cap > CHUNK_BYTES_MAX)
        cap = CHUNK_BYTES_MAX;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return CHUNK_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return CHUNK_OK;
}

void chunk_buf_free(chunk_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Bytes [0, CHUNK_AD_BYTES): everything the sealer authenticates. Kept
 * separate from the hashes because sealing must happen in between. */
static void header_put_fields(const chunk_header *h, uint8_t *out)
{
    memcpy(out + OFF_MAGIC, CHUNK_MAGIC, CHUNK_MAGIC_BYTES);
    chunk_le_put16(out + OFF_VERSION, h->version);
    chunk_le_put16(out + OFF_FLAGS, h->flags);
    chunk_le_put32(out + OFF_N_RECORDS, h->n_records);
    chunk_le_put32(out + OFF_RAW_LEN, h->raw_len);
    chunk_le_put32(out + OFF_STORED_LEN, h->stored_len);
    chunk_le_put32(out + OFF_SYNC_FLOOR, h->sync_floor);
    chunk_le_put64(out + OFF_FIRST_SEQ, h->first_seq);
    chunk_le_put64(out + OFF_LAST_SEQ, h->last_seq);
    chunk_le_put64(out + OFF_PREV_HASH, h->prev_hash);
}

uint64_t chunk_header_pack(const chunk_header *h,
                           uint8_t out[CHUNK_HEADER_BYTES])
{
    header_put_fields(h, out);
    chunk_le_put64(out + OFF_BODY_HASH, h->body_hash);
    uint64_t hash = XXH3_64bits(out, OFF_HEADER_HASH);
    chunk_le_put64(out + OFF_HEADER_HASH, hash);
    return hash;
}

void chunk_header_unpack(const uint8_t in[CHUNK_HEADER_BYTES],
                         chunk_header *h)
{
    h->version = chunk_le_get16(in + OFF_VERSION);
    h->flags = chunk_le_get16(in + OFF_FLAGS);
    h->n_records = chunk_le_get32(in + OFF_N_RECORDS);
    h->raw_len = chunk_le_get32(in + OFF_RAW_LEN);
    h->stored_len = chunk_le_get32(in + OFF_STORED_LEN);
    h->sync_floor = chunk_le_get32(in + OFF_SYNC_FLOOR);
    h->first_seq = chunk_le_get64(in + OFF_FIRST_SEQ);
    h->last_seq = chunk_le_get64(in + OFF_LAST_SEQ);
    h->prev_hash = chunk_le_get64(in + OFF_PREV_HASH);
    h->body_hash = chunk_le_get64(in + OFF_BODY_HASH);
    h->header_hash = chunk_le_get64(in + OFF_HEADER_HASH);
}

void chunk_builder_init(chunk_builder *b)
{
    memset(b, 0, sizeof *b);
}

chunk_status chunk_builder_add(chunk_builder *b, uint64_t seq,
                               const void *payload, size_t len)
{
    assert(b != NULL);
    assert(b->raw.len <= CHUNK_RAW_BYTES_MAX);
    if (len > CHUNK_RECORD_BYTES_MAX || (len > 0 && payload == NULL))
        return CHUNK_ERR_ARG;
    if (b->n_records > 0 && seq < b->last_seq)
        return CHUNK_ERR_ARG;
    size_t need = CHUNK_RECORD_PREFIX_BYTES + len;
    if (need > CHUNK_RAW_BYTES_MAX - b->raw.len)
        return CHUNK_ERR_FULL;
    chunk_status st = chunk_buf_reserve(&b->raw, b->raw.len + need);
    if (st != CHUNK_OK)
        return st;
    uint8_t *p = b->raw.data + b->raw.len;
    chunk_le_put32(p, (uint32_t)len);
    if (len > 0)
        memcpy(p + CHUNK_RECORD_PREFIX_BYTES, payload, len);
    b->raw.len += need;
    if (b->n_records == 0)
        b->first_seq = seq;
    b->last_seq = seq;
    b->n_records++;
    return CHUNK_OK;
}

void chunk_builder_reset(chunk_builder *b)
{
    b->raw.len = 0;
    b->n_records = 0;
    b->first_seq = 0;
    b->last_seq = 0;
}

void chunk_builder_free(chunk_builder *b)
{
    chunk_buf_free(&b->raw);
    chunk_builder_reset(b);
}

chunk_status chunk_codec_init(chunk_codec *c)
{
    memset(c, 0, sizeof *c);
    c->cctx = ZSTD_createCCtx();
    c->dctx = ZSTD_createDCtx();
    if (c->cctx == NULL || c->dctx == NULL) {
        chunk_codec_free(c);
        return CHUNK_ERR_NOMEM;
    }
    return CHUNK_OK;
}

void chunk_codec_free(chunk_codec *c)
{
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    c->cctx = NULL;
    c->dctx = NULL;
    chunk_buf_free(&c->out);
    chunk_buf_free(&c->scratch);
    chunk_buf_free(&c->raw);
}

chunk_status chunk_record_next(const uint8_t *raw, size_t raw_len,
                               size_t *pos, const uint8_t **payload,
                               size_t *len)
{
    if (*pos == raw_len)
        return CHUNK_END;
    if (*pos > raw_len || raw_len - *pos < CHUNK_RECORD_PREFIX_BYTES)
        return CHUNK_BAD_RECORDS;
    size_t rec_len = chunk_le_get32(raw + *pos);
    size_t left = raw_len - *pos - CHUNK_RECORD_PREFIX_BYTES;
    if (rec_len > left)
        return CHUNK_BAD_RECORDS;
    *payload = raw + *pos + CHUNK_RECORD_PREFIX_BYTES;
    *len = rec_len;
    *pos += CHUNK_RECORD_PREFIX_BYTES + rec_len;
    return CHUNK_OK;
}

/* The framing must account for every byte and exactly n_records records:
 * a count mismatch would make replay apply too few or too many changes.
 * The loop is bounded by n_records + 1 iterations. */
static chunk_status records_check(const uint8_t *raw, size_t raw_len,
                                  uint32_t n_records)
{
    size_t pos = 0;
    for (uint64_t i = 0; i <= n_records; i++) {
        const uint8_t *p;
        size_t len;
        chunk_status st = chunk_record_next(raw, raw_len, &pos, &p, &len);
        if (st == CHUNK_END)
            return i == n_records ? CHUNK_OK : CHUNK_BAD_RECORDS;
        if (st != CHUNK_OK)
            return st;
    }
    return CHUNK_BAD_RECORDS; /* more records than the header says */
}

/* Header values that no correct writer produces, checked once the header
 * hash proved they are what was written: they bound every allocation and
 * loop that follows. */
static chunk_status fields_check(const chunk_header *h)
{
    if (h->version < 2u && h->sync_floor != 0)
        return CHUNK_BAD_FIELDS; /* reserved in version 1 */
    if ((h->flags & ~CHUNK_FLAGS_KNOWN) != 0)
        return CHUNK_BAD_FIELDS;
    if ((h->flags & CHUNK_FLAG_STREAM_RESTART) &&
        !(h->flags & CHUNK_FLAG_ENCRYPTED))
        return CHUNK_BAD_FIELDS;
    if (h->stored_len > CHUNK_STORED_BYTES_MAX ||
        h->raw_len > CHUNK_RAW_BYTES_MAX)
        return CHUNK_BAD_FIELDS;
    if (h->n_records > h->raw_len / CHUNK_RECORD_PREFIX_BYTES)
        return CHUNK_BAD_FIELDS;
    if (h->n_records == 0 &&
        (h->raw_len != 0 || h->first_seq != 0 || h->last_seq != 0))
        return CHUNK_BAD_FIELDS;
    if (h->n_records > 0 && h->first_seq > h->last_seq)
        return CHUNK_BAD_FIELDS;
    return CHUNK_OK;
}

chunk_status chunk_probe(const uint8_t *buf, size_t avail,
                         chunk_header *hdr, size_t *total)
{
    if (avail < CHUNK_MAGIC_BYTES)
        return CHUNK_NEED_MORE;
    if (memcmp(buf + OFF_MAGIC, CHUNK_MAGIC, CHUNK_MAGIC_BYTES) != 0)
        return CHUNK_BAD_HEADER;
    if (avail < CHUNK_HEADER_BYTES)
        return CHUNK_NEED_MORE;
    if (XXH3_64bits(buf, OFF_HEADER_HASH) !=
        chunk_le_get64(buf + OFF_HEADER_HASH))
        return CHUNK_BAD_HEADER;
    chunk_header_unpack(buf, hdr);
    if (hdr->version < CHUNK_VERSION_MIN || hdr->version > CHUNK_VERSION)
        return CHUNK_BAD_VERSION;
    chunk_status st = fields_check(hdr);
    if (st != CHUNK_OK)
        return st;
    /* Cannot overflow: stored_len <= CHUNK_STORED_BYTES_MAX (checked). */
    size_t need = (size_t)CHUNK_HEADER_BYTES + hdr->stored_len;
    if (avail < need)
        return CHUNK_NEED_MORE;
    if (XXH3_64bits(buf + CHUNK_HEADER_BYTES, hdr->stored_len) !=
        hdr->body_hash)
        return CHUNK_BAD_BODY;
    *total = need;
    return CHUNK_OK;
}

/* The body must be exactly one zstd frame whose declared content size is
 * raw_len: ZSTD_decompress would happily decode several concatenated
 * frames, and an unknown size would let the frame decide our allocation. */
static chunk_status body_decompress(chunk_codec *c, const uint8_t *body,
                                    size_t body_len, uint32_t raw_len)
{
    if (body_len < 4u || chunk_le_get32(body) != CHUNK_ZSTD_MAGIC)
        return CHUNK_BAD_RECORDS;
    if (ZSTD_findFrameCompressedSize(body, body_len) != body_len)
        return CHUNK_BAD_RECORDS;
    if (ZSTD_getFrameContentSize(body, body_len) != raw_len)
        return CHUNK_BAD_RECORDS;
    /* At least one byte so data is never NULL for an empty area. */
    chunk_status st = chunk_buf_reserve(&c->raw, raw_len > 0 ? raw_len : 1u);
    if (st != CHUNK_OK)
        return st;
    size_t n = ZSTD_decompressDCtx(c->dctx, c->raw.data, raw_len, body,
                                   body_len);
    if (ZSTD_isError(n) || n != raw_len)
        return CHUNK_BAD_RECORDS;
    c->raw.len = raw_len;
    return CHUNK_OK;
}

chunk_status chunk_decode(chunk_codec *c, const uint8_t *buf, size_t avail,
                          uint64_t expected_prev_hash,
                          const chunk_opener *opener, chunk_header *hdr,
                          size_t *consumed)
{
    assert(c != NULL && c->dctx != NULL);
    c->raw.len = 0;
    size_t total = 0;
    chunk_status st = chunk_probe(buf, avail, hdr, &total);
    if (st != CHUNK_OK)
        return st;
    if (hdr->prev_hash != expected_prev_hash)
        return CHUNK_BAD_CHAIN;
    const uint8_t *body = buf + CHUNK_HEADER_BYTES;
    size_t body_len = hdr->stored_len;
    if (hdr->flags & CHUNK_FLAG_ENCRYPTED) {
        if (opener == NULL)
            return CHUNK_NO_KEY;
        st = opener->open(opener->ctx, hdr->flags, body, body_len, buf,
                          CHUNK_AD_BYTES, &body, &body_len);
        if (st != CHUNK_OK)
            return st;
        assert(body_len <= hdr->stored_len);
    }
    st = body_decompress(c, body, body_len, hdr->raw_len);
    if (st != CHUNK_OK)
        return st;
    st = records_check(c->raw.data, c->raw.len, hdr->n_records);
    if (st != CHUNK_OK)
        return st;
    *consumed = total;
    return CHUNK_OK;
}

static chunk_status sealer_check(const chunk_sealer *s)
{
    if (s == NULL)
        return CHUNK_OK;
    if (s->seal == NULL || !(s->flags & CHUNK_FLAG_ENCRYPTED) ||
        (s->flags & ~CHUNK_FLAGS_KNOWN) != 0 ||
        s->overhead_bytes > CHUNK_SEAL_OVERHEAD_BYTES_MAX)
        return CHUNK_ERR_ARG;
    return CHUNK_OK;
}

/* Compress into the body slot (plaintext) or into scratch (to be sealed
 * into the body slot: the sealer needs distinct input and output). */
static chunk_status body_compress(chunk_codec *c, const chunk_builder *b,
                                  int level, int sealed, size_t *clen)
{
    static const uint8_t empty[1];
    size_t bound = ZSTD_compressBound(b->raw.len);
    uint8_t *dst = c->out.data + CHUNK_HEADER_BYTES;
    if (sealed) {
        chunk_status st = chunk_buf_reserve(&c->scratch, bound);
        if (st != CHUNK_OK)
            return st;
        dst = c->scratch.data;
    }
    const uint8_t *src = b->raw.len > 0 ? b->raw.data : empty;
    size_t n = ZSTD_compressCCtx(c->cctx, dst, bound, src, b->raw.len, level);
    if (ZSTD_isError(n))
        return CHUNK_ERR_ZSTD;
    *clen = n;
    return CHUNK_OK;
}

chunk_status chunk_encode(chunk_codec *c, const chunk_builder *b,
                          uint64_t prev_hash, uint32_t sync_floor, int level,
                          const chunk_sealer *sealer, uint64_t *hash_out)
{
    assert(c != NULL && c->cctx != NULL && b != NULL);
    assert(b->raw.len <= CHUNK_RAW_BYTES_MAX);
    assert(records_check(b->raw.data, b->raw.len, b->n_records) == CHUNK_OK);
    c->out.len = 0;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
        return CHUNK_ERR_ARG;
    chunk_status st = sealer_check(sealer);
    if (st != CHUNK_OK)
        return st;
    size_t overhead = sealer != NULL ? sealer->overhead_bytes : 0;
    size_t bound = ZSTD_compressBound(b->raw.len);
    st = chunk_buf_reserve(&c->out, CHUNK_HEADER_BYTES + bound + overhead);
    if (st != CHUNK_OK)
        return st;
    size_t clen = 0;
    st = body_compress(c, b, level, sealer != NULL, &clen);
    if (st != CHUNK_OK)
        return st;
    chunk_header h = {
        .version = CHUNK_VERSION,
        .flags = sealer != NULL ? sealer->flags : 0,
        .n_records = b->n_records,
        .raw_len = (uint32_t)b->raw.len,
        .stored_len = (uint32_t)(clen + overhead),
        .sync_floor = sync_floor,
        .first_seq = b->n_records > 0 ? b->first_seq : 0,
        .last_seq = b->n_records > 0 ? b->last_seq : 0,
        .prev_hash = prev_hash,
    };
    assert(h.stored_len <= CHUNK_STORED_BYTES_MAX);
    uint8_t *out = c->out.data;
    header_put_fields(&h, out);
    if (sealer != NULL) {
        st = sealer->seal(sealer->ctx, out + CHUNK_HEADER_BYTES,
                          c->scratch.data, clen, out, CHUNK_AD_BYTES);
        if (st != CHUNK_OK)
            return st;
    }
    h.body_hash = XXH3_64bits(out + CHUNK_HEADER_BYTES, h.stored_len);
    *hash_out = chunk_header_pack(&h, out);
    c->out.len = CHUNK_HEADER_BYTES + h.stored_len;
    /* Verify what is about to be written, as a reader will. */
    chunk_header check;
    size_t total = 0;
    chunk_status verify = chunk_probe(out, c->out.len, &check, &total);
    assert(verify == CHUNK_OK);
    assert(total == c->out.len && check.header_hash == *hash_out);
    (void)verify;
    return CHUNK_OK;
}
