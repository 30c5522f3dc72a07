/* segfile -- crash-safe files of chunks: log segments and snapshots.
 *
 * A segment file is an 80-byte file header followed by chunks (chunk.h):
 *
 *   off size field
 *     0    4 magic "QDSG"
 *     4    2 version (SEGFILE_VERSION)
 *     6    2 kind: 1 = LOG, 2 = SNAPSHOT
 *     8    4 flags: bit0 encrypted
 *    12    4 reserved (0)
 *    16    8 segno
 *    24    8 created_ms
 *    32   24 secretstream header (zero when not encrypted)
 *    56   16 key_mac: keyed BLAKE2b-128 of bytes [0, 56) (zero when not
 *            encrypted); proves the key is right and the header authentic
 *    72    8 header_hash: XXH3_64bits of bytes [0, 72)
 *
 * Writing (Redis AOF style): the caller appends chunks, then syncs per its
 * policy, and sends no reply before segfile_sync returned OK. ANY write or
 * fsync error makes the writer permanently failed: after a failed fsync
 * the page cache may have dropped the data, so the only safe course is to
 * stop accepting writes (../shared/DESIGN.md). Never retry and carry on.
 *
 * Encryption at rest (optional, 32-byte key): each chunk's stored body is
 * one crypto_secretstream_xchacha20poly1305 message (TAG_MESSAGE) of the
 * compressed records, with the chunk header bytes [0, 48) and the file's
 * key_mac as additional data, so editing a header or moving a chunk to
 * another file fails decryption. The stream starts from the file header.
 * A writer reopened with segfile_open_append never continues the old
 * stream (the cut torn tail may have used the next nonce: reusing it would
 * leak plaintext): its first chunk starts a fresh stream, flag
 * CHUNK_FLAG_STREAM_RESTART, body = new 24-byte stream header + message.
 *
 * Preallocation: segfile_prepare writes a spare file of zeros ahead of
 * time (off the commit path); segfile_create_prepared turns it into the
 * next segment, whose chunks then overwrite zeros in place. An fdatasync
 * of an overwrite changes no file metadata (size and blocks are already
 * durable), which on ext4 saves an inode write per commit (bench/
 * ANALYSIS.md: ~30 % shorter fsyncs). segfile_finish cuts the unused
 * zeros. A crash leaves them: the scan reports a torn tail with
 * zero_tail set, and recovery cuts it like any torn tail.
 *
 * Reading: segfile_scan verifies the whole file and classifies the end:
 *   CLEAN          every byte belongs to a good chunk;
 *   TORN_TAIL      a partial write at the end (what a crash or power
 *                  loss leaves), possibly followed by whole chunks that
 *                  were not yet synced when it was torn (unsynced_chunks):
 *                  safe to cut at valid_end_offset;
 *   CORRUPT_MIDDLE damage no crash can cause (a bad chunk with a good one
 *                  after it, or a chunk whose hashes verify but whose chain,
 *                  version, fields, decryption or records are wrong):
 *                  refuse to start, never skip.
 *
 * Not thread-safe: one writer per file, used by one thread at a time.
 */
#ifndef QD_SEGFILE_H
#define QD_SEGFILE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"

#define SEGFILE_WUR __attribute__((warn_unused_result))

#define SEGFILE_MAGIC "QDSG"
#define SEGFILE_MAGIC_BYTES 4u
#define SEGFILE_VERSION 1u
#define SEGFILE_HEADER_BYTES 80u
/* Largest segment file; bounds scan memory (mmap) and offsets. */
#define SEGFILE_BYTES_MAX (1024ull * 1024ull * 1024ull)
#define SEGFILE_KEY_BYTES 32u
#define SEGFILE_STREAM_HEADER_BYTES 24u
#define SEGFILE_KEY_MAC_BYTES 16u
#define SEGFILE_FLAG_ENCRYPTED 0x1u
/* Largest file segfile_atomic_write_file writes (pointer files etc.). */
#define SEGFILE_SMALL_FILE_BYTES_MAX (1024u * 1024u)
/* Longest dir + "/" + name we build. */
#define SEGFILE_PATH_BYTES_MAX 4096u
/* Permissions of files we create: the log holds key hashes. */
#define SEGFILE_FILE_MODE 0600

_Static_assert(SEGFILE_BYTES_MAX >= SEGFILE_HEADER_BYTES + CHUNK_BYTES_MAX,
               "a segment holds at least one chunk of the largest size");
_Static_assert(SEGFILE_BYTES_MAX <= UINT32_MAX,
               "offsets fit a chunk's 32-bit sync_floor");

typedef enum segfile_kind {
    SEGFILE_KIND_LOG = 1,
    SEGFILE_KIND_SNAPSHOT = 2,
} segfile_kind;

/* X(name, value, description) */
#define SEGFILE_STATUS_LIST(X)                                               \
    X(SEGFILE_OK, 0, "ok")                                                   \
    X(SEGFILE_ERR_IO, -1, "I/O error (errno has the cause)")                 \
    X(SEGFILE_ERR_WRITE, -2, "write failed: writer stopped, refuse writes")  \
    X(SEGFILE_ERR_SYNC, -3, "fsync failed: writer stopped, refuse writes")   \
    X(SEGFILE_ERR_CLOSE, -4, "close failed: data may be lost")               \
    X(SEGFILE_ERR_NOMEM, -5, "out of memory")                                \
    X(SEGFILE_ERR_ARG, -6, "invalid argument")                               \
    X(SEGFILE_ERR_FULL, -7, "segment would exceed SEGFILE_BYTES_MAX")        \
    X(SEGFILE_ERR_ENCODE, -8, "chunk encoding failed")                       \
    X(SEGFILE_ERR_CRYPTO, -9, "libsodium failed: writer stopped")            \
    X(SEGFILE_ERR_KEY_FILE, -10,                                             \
      "key file must be a regular file of 32 raw bytes or 64 hex chars")     \
    X(SEGFILE_ERR_KEY_PERMS, -11,                                            \
      "key file is accessible by group or others: chmod 600 it")             \
    X(SEGFILE_ERR_KEY_REQUIRED, -12, "file is encrypted: a key is required") \
    X(SEGFILE_ERR_KEY_UNEXPECTED, -13, "file is not encrypted but a key "    \
      "was given (refusing a possible downgrade)")                           \
    X(SEGFILE_ERR_BAD_KEY, -14, "wrong key (file header MAC mismatch)")      \
    X(SEGFILE_ERR_SHORT_HEADER, -15, "file shorter than its header: a "      \
      "crash during create, it never held data")                             \
    X(SEGFILE_ERR_HEADER, -16, "bad file header (magic, hash or field)")     \
    X(SEGFILE_ERR_VERSION, -17, "unknown file format version")               \
    X(SEGFILE_ERR_TOO_BIG, -18, "file larger than SEGFILE_BYTES_MAX")        \
    X(SEGFILE_ERR_NOT_CLEAN, -19, "file does not scan clean (cut the torn "  \
      "tail first)")                                                         \
    X(SEGFILE_ERR_CANCELED, -20, "canceled by the caller")

typedef enum segfile_status {
#define SEGFILE_ENUM_(name, value, desc) name = value,
    SEGFILE_STATUS_LIST(SEGFILE_ENUM_)
#undef SEGFILE_ENUM_
} segfile_status;

const char *segfile_status_str(segfile_status s);

#define SEGFILE_SCAN_LIST(X)                                                 \
    X(SEGFILE_SCAN_CLEAN, 0, "clean")                                        \
    X(SEGFILE_SCAN_TORN_TAIL, 1, "torn tail (partial last write): safe to "  \
      "cut at valid_end_offset")                                             \
    X(SEGFILE_SCAN_CORRUPT_MIDDLE, 2, "corrupt: damage a crash cannot "      \
      "cause; refuse")                                                       \
    X(SEGFILE_SCAN_BAD_FILE_HEADER, 3, "bad file header")                    \
    X(SEGFILE_SCAN_KEY_ERROR, 4, "missing, unexpected or wrong key")         \
    X(SEGFILE_SCAN_IO_ERROR, 5, "I/O error")                                 \
    X(SEGFILE_SCAN_ABORTED, 6, "the callback stopped the scan")

typedef enum segfile_scan_result {
#define SEGFILE_ENUM_(name, value, desc) name = value,
    SEGFILE_SCAN_LIST(SEGFILE_ENUM_)
#undef SEGFILE_ENUM_
} segfile_scan_result;

const char *segfile_scan_result_str(segfile_scan_result r);

/* The parsed file header. */
typedef struct segfile_file_header {
    uint16_t version;
    uint16_t kind;               /* segfile_kind */
    uint32_t flags;              /* SEGFILE_FLAG_* */
    uint64_t segno;
    uint64_t created_ms;
    uint8_t stream_header[SEGFILE_STREAM_HEADER_BYTES];
    uint8_t key_mac[SEGFILE_KEY_MAC_BYTES];
    uint64_t header_hash;
} segfile_file_header;

/* What segfile_scan found. Offsets are bytes from the start of the file. */
typedef struct segfile_report {
    segfile_scan_result result;
    segfile_status detail;       /* cause of BAD_FILE_HEADER/KEY/IO_ERROR */
    chunk_status chunk_status;   /* why the chunk at bad_offset failed */
    int sys_errno;               /* IO_ERROR: errno of the failed call */
    int callback_rc;             /* ABORTED: what the callback returned */
    segfile_file_header header;  /* valid unless BAD_FILE_HEADER/IO_ERROR */
    uint64_t file_bytes;
    uint64_t valid_end_offset;   /* just after the last good chunk */
    uint64_t bad_offset;         /* first bad chunk (TORN/CORRUPT) */
    uint64_t next_valid_offset;  /* CORRUPT: a later good chunk, else 0 */
    uint64_t chunks;             /* good chunks delivered */
    uint64_t records;            /* records in them */
    uint64_t first_seq;          /* of the first non-empty good chunk */
    uint64_t last_seq;           /* of the last non-empty good chunk */
    uint64_t last_hash;          /* header_hash of the last good chunk */
    int zero_tail;               /* TORN_TAIL: every byte from
                                  * valid_end_offset to the end is zero
                                  * (unused preallocated space) */
    uint64_t unsynced_chunks;    /* TORN_TAIL: whole chunks after the torn
                                  * one, all written before it was synced
                                  * (cut with it) */
} segfile_report;

/* Called once per good chunk, in file order, as the scan verifies it: raw
 * is its records area (walk it with chunk_record_next), valid only during
 * the call. Return 0 to go on, anything else to stop (SCAN_ABORTED).
 * Chunks before a TORN_TAIL or CORRUPT_MIDDLE have been delivered by the
 * time the scan returns: the caller decides what a bad end means. */
typedef int (*segfile_chunk_fn)(void *ctx, const chunk_header *hdr,
                                const uint8_t *raw, size_t raw_len,
                                uint64_t file_offset);

/* Verify and read the file at path. key: NULL or SEGFILE_KEY_BYTES bytes;
 * it must be given exactly when the file is encrypted. fn may be NULL.
 * Fills *rep and returns rep->result. */
SEGFILE_WUR segfile_scan_result segfile_scan(const char *path,
                                             const uint8_t *key,
                                             segfile_chunk_fn fn, void *ctx,
                                             segfile_report *rep);

typedef struct segfile_writer segfile_writer;

/* Create dir/name (must not exist) with its file header, fsync the file
 * and the directory. key: NULL, or SEGFILE_KEY_BYTES bytes to encrypt
 * with (copied). created_ms comes from the caller's clock. On error no
 * file is left behind and *out is NULL. */
SEGFILE_WUR segfile_status segfile_create(const char *dir, const char *name,
                                          segfile_kind kind, uint64_t segno,
                                          uint64_t created_ms,
                                          const uint8_t *key,
                                          segfile_writer **out);

/* Write a spare file dir/name (must not exist) of `bytes` zeros
 * (SEGFILE_HEADER_BYTES <= bytes <= SEGFILE_BYTES_MAX) and fdatasync it.
 * Slow (it writes every byte): call it from a background thread. cancel
 * (may be NULL) is checked between writes: once non-zero the work stops
 * with SEGFILE_ERR_CANCELED. On error no file is left behind. */
SEGFILE_WUR segfile_status segfile_prepare(const char *dir, const char *name,
                                           uint64_t bytes,
                                           const _Atomic int *cancel);

/* Like segfile_create, but from the prepared file dir/spare, which is
 * renamed to dir/name (must not exist). Chunks overwrite its zeros. On
 * error *out is NULL and spare may remain (remove it). */
SEGFILE_WUR segfile_status segfile_create_prepared(const char *dir,
                                                   const char *spare,
                                                   const char *name,
                                                   segfile_kind kind,
                                                   uint64_t segno,
                                                   uint64_t created_ms,
                                                   const uint8_t *key,
                                                   segfile_writer **out);

/* Reopen an existing segment for appending. It is scanned first and must
 * be CLEAN (cut a torn tail with segfile_truncate before). The new writer
 * continues the chunk chain (and, if encrypted, starts a fresh stream). */
SEGFILE_WUR segfile_status segfile_open_append(const char *dir,
                                               const char *name,
                                               const uint8_t *key,
                                               segfile_writer **out);

/* Encode the builder's records as one chunk (zstd level `level`, sealed
 * when the writer encrypts), chained to the previous one, and write it.
 * *hash_out (may be NULL) = the chunk's header_hash. The builder is not
 * reset. Not durable until segfile_sync returns OK. */
SEGFILE_WUR segfile_status segfile_append_records(segfile_writer *w,
                                                  const chunk_builder *b,
                                                  int level,
                                                  uint64_t *hash_out);

/* Write already-encoded chunks (one or more, back to back). They are
 * verified first: hashes, and the chain must continue from
 * segfile_writer_prev_hash(w). Plaintext writers only (an encrypting
 * writer must seal with its own stream: use segfile_append_records). */
SEGFILE_WUR segfile_status segfile_append(segfile_writer *w,
                                          const uint8_t *chunks, size_t len);

/* fdatasync. On failure the writer is failed for good. */
SEGFILE_WUR segfile_status segfile_sync(segfile_writer *w);

/* Cut unused preallocated zeros, then fdatasync: the file now scans
 * CLEAN. Call before closing a segment that is done. */
SEGFILE_WUR segfile_status segfile_finish(segfile_writer *w);

/* Close and free (always, even on error). Does not sync. Returns the
 * sticky failure if any, else the result of close(2). NULL is a no-op. */
SEGFILE_WUR segfile_status segfile_close(segfile_writer *w);

/* SEGFILE_OK, or the failure that stopped the writer. */
segfile_status segfile_writer_status(const segfile_writer *w);
/* errno of the call that stopped the writer (0 if none). */
int segfile_writer_errno(const segfile_writer *w);
/* Bytes in the file so far (header included) = offset of the next chunk. */
uint64_t segfile_writer_offset(const segfile_writer *w);
/* header_hash of the last chunk written (0 before the first). */
uint64_t segfile_writer_prev_hash(const segfile_writer *w);
/* 1 if made by segfile_create_prepared. */
int segfile_writer_prepared(const segfile_writer *w);
/* The file descriptor, for diagnostics and fault-injection tests only. */
int segfile_writer_fd(const segfile_writer *w);

/* Cut the file at path to offset bytes (a torn tail's valid_end_offset),
 * then fsync the file and its directory. offset must lie between
 * SEGFILE_HEADER_BYTES and the current size. */
SEGFILE_WUR segfile_status segfile_truncate(const char *path,
                                            uint64_t offset);

/* fsync a directory, so creates, renames and unlinks in it are durable. */
SEGFILE_WUR segfile_status segfile_fsync_dir(const char *dir);

/* Replace dir/name with exactly data[0..len) atomically: write a temp
 * file in dir, fsync it, rename it over name, fsync dir. Readers see the
 * old or the new content, never a mix. len <= SEGFILE_SMALL_FILE_BYTES_MAX. */
SEGFILE_WUR segfile_status segfile_atomic_write_file(const char *dir,
                                                     const char *name,
                                                     const void *data,
                                                     size_t len);

/* Load an encryption key: the file must hold exactly 32 raw bytes or 64
 * hex characters (one trailing newline allowed), and must not be
 * accessible by group or others (SEGFILE_ERR_KEY_PERMS). */
SEGFILE_WUR segfile_status segfile_load_key(const char *path,
                                            uint8_t key[SEGFILE_KEY_BYTES]);

#endif
