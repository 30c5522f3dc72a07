/* chunk -- the checksummed, compressed unit of quotad's log and snapshots.
 *
 * A chunk is a fixed 64-byte little-endian header followed by a body that
 * is ONE independent zstd frame (optionally sealed by an encryption layer)
 * of the "raw records area": the concatenation of records, each a u32 LE
 * payload length then the payload. Records are opaque bytes here.
 *
 *   off size field
 *     0    4 magic "QDCK"
 *     4    2 version (CHUNK_VERSION)
 *     6    2 flags: bit0 encrypted, bit1 stream restart (see segfile.h)
 *     8    4 n_records
 *    12    4 raw_len      bytes of the raw records area
 *    16    4 stored_len   bytes of body that follow the header
 *    20    4 sync_floor   version 2: bytes of this file that a sync had
 *                        made durable when this chunk was written (0 in
 *                        version 1, where the field was reserved)
 *    24    8 first_seq
 *    32    8 last_seq
 *    40    8 prev_hash    header_hash of the previous chunk, 0 for the first
 *    48    8 body_hash    XXH3_64bits of the stored body
 *    56    8 header_hash  XXH3_64bits of bytes [0, 56)
 *
 * Why one zstd frame per chunk (../shared/DESIGN.md, hard-won lessons): a
 * crash can only tear the chunks written since the last sync; every
 * earlier chunk stays decodable on its own. prev_hash chains chunks so a reordered or
 * duplicated chunk is caught even though each chunk verifies by itself.
 * sync_floor tells the scan which chunks were not yet synced when a later
 * one was written, so it can tell a crash's torn window from damage
 * (segfile_scan.c).
 *
 * Decoding trusts no length before the bytes holding it are verified:
 * magic, header_hash, version, then limits, then body_hash, then the chain,
 * then decompression into exactly raw_len bytes, then the record framing.
 *
 * Not thread-safe: one chunk_codec per thread.
 */
#ifndef QD_CHUNK_H
#define QD_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#define CHUNK_WUR __attribute__((warn_unused_result))

#define CHUNK_MAGIC "QDCK"
#define CHUNK_MAGIC_BYTES 4u
#define CHUNK_VERSION 2u
/* Oldest version read: 1 had sync_floor reserved (0). */
#define CHUNK_VERSION_MIN 1u
#define CHUNK_HEADER_BYTES 64u
/* Header bytes the encryption layer authenticates (everything before
 * body_hash: body_hash and header_hash depend on the ciphertext). */
#define CHUNK_AD_BYTES 48u
/* Length prefix of one record in the raw records area. */
#define CHUNK_RECORD_PREFIX_BYTES 4u
/* Largest raw records area; bounds decode memory per chunk. */
#define CHUNK_RAW_BYTES_MAX (16u * 1024u * 1024u)
/* Largest single record payload (it must fit in one chunk). */
#define CHUNK_RECORD_BYTES_MAX (CHUNK_RAW_BYTES_MAX - CHUNK_RECORD_PREFIX_BYTES)
/* Bytes an encryption layer may add to the compressed body. */
#define CHUNK_SEAL_OVERHEAD_BYTES_MAX 64u
/* Largest stored body: worst-case zstd expansion plus sealing, rounded up. */
#define CHUNK_STORED_BYTES_MAX (17u * 1024u * 1024u)
/* Largest encoded chunk (header + body). */
#define CHUNK_BYTES_MAX (CHUNK_HEADER_BYTES + CHUNK_STORED_BYTES_MAX)

#define CHUNK_FLAG_ENCRYPTED 0x0001u
/* Meaning belongs to the sealer (segfile: a new secretstream starts). */
#define CHUNK_FLAG_STREAM_RESTART 0x0002u
#define CHUNK_FLAGS_KNOWN (CHUNK_FLAG_ENCRYPTED | CHUNK_FLAG_STREAM_RESTART)

_Static_assert(ZSTD_COMPRESSBOUND(CHUNK_RAW_BYTES_MAX) +
                   CHUNK_SEAL_OVERHEAD_BYTES_MAX <= CHUNK_STORED_BYTES_MAX,
               "stored limit must hold any compressed, sealed raw area");
_Static_assert(CHUNK_AD_BYTES + 16u == CHUNK_HEADER_BYTES,
               "body_hash and header_hash are the last 16 header bytes");

/* X(name, value, description). Positive values are not errors. Statuses
 * from BAD_HEADER/BAD_BODY/NEED_MORE are what a torn write looks like;
 * every other BAD_* comes from a chunk whose hashes verified, so no crash
 * can produce it: it is damage or a bug. */
#define CHUNK_STATUS_LIST(X)                                               \
    X(CHUNK_OK, 0, "ok")                                                   \
    X(CHUNK_NEED_MORE, 1, "incomplete chunk (torn tail if at EOF)")        \
    X(CHUNK_END, 2, "no more records")                                     \
    X(CHUNK_BAD_HEADER, -1, "bad chunk magic or header hash")              \
    X(CHUNK_BAD_BODY, -2, "chunk body hash mismatch")                      \
    X(CHUNK_BAD_CHAIN, -3, "chunk prev_hash does not match previous chunk")\
    X(CHUNK_BAD_VERSION, -4, "unknown chunk format version")               \
    X(CHUNK_BAD_FIELDS, -5, "chunk header field invalid or over a limit")  \
    X(CHUNK_BAD_RECORDS, -6, "chunk zstd frame or record framing invalid") \
    X(CHUNK_BAD_SEAL, -7, "chunk decryption failed")                       \
    X(CHUNK_NO_KEY, -8, "chunk is encrypted and no key was given")         \
    X(CHUNK_ERR_NOMEM, -9, "out of memory")                                \
    X(CHUNK_ERR_FULL, -10, "record does not fit in this chunk")            \
    X(CHUNK_ERR_ARG, -11, "invalid argument")                              \
    X(CHUNK_ERR_ZSTD, -12, "zstd compression failed")

typedef enum chunk_status {
#define CHUNK_ENUM_(name, value, desc) name = value,
    CHUNK_STATUS_LIST(CHUNK_ENUM_)
#undef CHUNK_ENUM_
} chunk_status;

const char *chunk_status_str(chunk_status s);

/* A growable byte buffer; data is owned (free with chunk_buf_free). */
typedef struct chunk_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} chunk_buf;

/* Make cap >= need (need <= CHUNK_BYTES_MAX). Contents are kept. */
CHUNK_WUR chunk_status chunk_buf_reserve(chunk_buf *b, size_t need);
void chunk_buf_free(chunk_buf *b);

/* The parsed header. header_hash is the chunk's identity: the next chunk
 * stores it as prev_hash. */
typedef struct chunk_header {
    uint16_t version;
    uint16_t flags;
    uint32_t n_records;
    uint32_t raw_len;
    uint32_t stored_len;
    uint32_t sync_floor;     /* 0 = not recorded (version 1) */
    uint64_t first_seq;
    uint64_t last_seq;
    uint64_t prev_hash;
    uint64_t body_hash;
    uint64_t header_hash;
} chunk_header;

/* Serialise h (magic added) and compute header_hash over
 * bytes [0, 56); h->header_hash is ignored. Returns the hash written. */
uint64_t chunk_header_pack(const chunk_header *h,
                           uint8_t out[CHUNK_HEADER_BYTES]);
/* Parse without verifying anything (tools, tests). */
void chunk_header_unpack(const uint8_t in[CHUNK_HEADER_BYTES],
                         chunk_header *h);

/* Accumulates records for one chunk. seq is the caller's sequence number
 * of each record; it must not decrease within a chunk. */
typedef struct chunk_builder {
    chunk_buf raw;           /* the raw records area */
    uint32_t n_records;
    uint64_t first_seq;      /* valid when n_records > 0 */
    uint64_t last_seq;
} chunk_builder;

void chunk_builder_init(chunk_builder *b);
/* CHUNK_ERR_FULL: this record would push raw past CHUNK_RAW_BYTES_MAX
 * (encode this chunk, reset, add again). CHUNK_ERR_ARG: len over
 * CHUNK_RECORD_BYTES_MAX or seq below last_seq. Nothing is added on error. */
CHUNK_WUR chunk_status chunk_builder_add(chunk_builder *b, uint64_t seq,
                                         const void *payload, size_t len);
/* Empty the builder, keeping its memory. */
void chunk_builder_reset(chunk_builder *b);
void chunk_builder_free(chunk_builder *b);

/* Encryption hook, provided by segfile. seal writes exactly
 * in_len + overhead_bytes bytes to out; ad is the chunk header's first
 * CHUNK_AD_BYTES bytes (flags already set to `flags`), so any header edit
 * fails open. open returns a pointer to the plaintext in its own buffer,
 * valid until its next call. */
typedef struct chunk_sealer {
    uint16_t flags;          /* must include CHUNK_FLAG_ENCRYPTED */
    size_t overhead_bytes;   /* <= CHUNK_SEAL_OVERHEAD_BYTES_MAX */
    chunk_status (*seal)(void *ctx, uint8_t *out, const uint8_t *in,
                         size_t in_len, const uint8_t *ad, size_t ad_len);
    void *ctx;
} chunk_sealer;

typedef struct chunk_opener {
    chunk_status (*open)(void *ctx, uint16_t flags, const uint8_t *in,
                         size_t in_len, const uint8_t *ad, size_t ad_len,
                         const uint8_t **plain, size_t *plain_len);
    void *ctx;
} chunk_opener;

/* Reusable zstd contexts and buffers. out holds the last encoded chunk,
 * raw the last decoded records area; both stay valid until the next
 * encode / decode on this codec. */
typedef struct chunk_codec {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    chunk_buf out;
    chunk_buf scratch;       /* compressed plaintext before sealing */
    chunk_buf raw;
} chunk_codec;

CHUNK_WUR chunk_status chunk_codec_init(chunk_codec *c);
void chunk_codec_free(chunk_codec *c);

/* Encode the builder's records into c->out (header + body): append
 * c->out.data[0 .. c->out.len) to the file. sync_floor: bytes of the file
 * known durable now (0: not known). level is a zstd level
 * (ZSTD_minCLevel()..ZSTD_maxCLevel()). sealer NULL = plaintext body.
 * *hash_out = this chunk's header_hash (the next chunk's prev_hash). */
CHUNK_WUR chunk_status chunk_encode(chunk_codec *c, const chunk_builder *b,
                                    uint64_t prev_hash, uint32_t sync_floor,
                                    int level,
                                    const chunk_sealer *sealer,
                                    uint64_t *hash_out);

/* Check magic, header hash, version, field limits and body hash of the
 * chunk at buf (no chain, no decompression). On CHUNK_OK, *hdr is filled
 * and *total = header + body bytes. Cheap: used to find later chunks. */
CHUNK_WUR chunk_status chunk_probe(const uint8_t *buf, size_t avail,
                                   chunk_header *hdr, size_t *total);

/* Fully decode the chunk at buf: chunk_probe, then prev_hash must equal
 * expected_prev_hash, then open (if encrypted), decompress into c->raw
 * (exactly raw_len bytes) and validate the record framing. On CHUNK_OK,
 * *consumed = bytes of this chunk. opener NULL: encrypted -> NO_KEY. */
CHUNK_WUR chunk_status chunk_decode(chunk_codec *c, const uint8_t *buf,
                                    size_t avail, uint64_t expected_prev_hash,
                                    const chunk_opener *opener,
                                    chunk_header *hdr, size_t *consumed);

/* Walk the records of a raw area: start with *pos = 0. CHUNK_OK sets
 * *payload and *len to the next record; CHUNK_END at the end; CHUNK_BAD_RECORDS
 * if the framing is broken (never after a successful chunk_decode). */
CHUNK_WUR chunk_status chunk_record_next(const uint8_t *raw, size_t raw_len,
                                         size_t *pos, const uint8_t **payload,
                                         size_t *len);

#endif
