/* segfile_internal -- what the segfile*.c files share; not a public API.
 *
 *   segfile_hdr.c   file header pack/parse, key MAC, stream sealing
 *   segfile_io.c    syscall helpers: full writes, fsync, paths, keys
 *   segfile.c       the writer
 *   segfile_scan.c  the scanner
 */
#ifndef QD_SEGFILE_INTERNAL_H
#define QD_SEGFILE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "chunk.h"
#include "segfile.h"

/* Additional data for one chunk message: chunk header prefix + key_mac. */
#define SEGFILE_AD_BYTES (CHUNK_AD_BYTES + SEGFILE_KEY_MAC_BYTES)
/* Sealing overhead of a chunk continuing / restarting the stream. */
#define SEGFILE_SEAL_BYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SEGFILE_RESTART_SEAL_BYTES \
    (SEGFILE_STREAM_HEADER_BYTES + SEGFILE_SEAL_BYTES)

_Static_assert(SEGFILE_RESTART_SEAL_BYTES <= CHUNK_SEAL_OVERHEAD_BYTES_MAX,
               "a restarted stream's overhead fits the chunk limit");
_Static_assert(SEGFILE_STREAM_HEADER_BYTES ==
                   crypto_secretstream_xchacha20poly1305_HEADERBYTES,
               "stream header size");
_Static_assert(SEGFILE_KEY_BYTES ==
                   crypto_secretstream_xchacha20poly1305_KEYBYTES,
               "key size");

/* Encryption state of one open file (writer or scanner). Holds the key:
 * wipe with segfile_crypt_wipe. */
typedef struct segfile_crypt {
    crypto_secretstream_xchacha20poly1305_state st;
    uint8_t key[SEGFILE_KEY_BYTES];
    uint8_t key_mac[SEGFILE_KEY_MAC_BYTES];
    int restart_pending;         /* writer: next chunk starts a new stream */
    chunk_buf plain;             /* scanner: decrypted body */
} segfile_crypt;

/* Serialise h (magic added) and compute its header_hash. */
void segfile_hdr_pack(const segfile_file_header *h,
                      uint8_t out[SEGFILE_HEADER_BYTES]);

/* Parse and verify a file header against the key the caller holds. */
SEGFILE_WUR segfile_status segfile_hdr_parse(const uint8_t *buf, size_t len,
                                             const uint8_t *key,
                                             segfile_file_header *h);

/* Writer: start a stream, filling h->stream_header and h->key_mac (all
 * other fields of h must be set). */
SEGFILE_WUR segfile_status segfile_crypt_init_push(segfile_crypt *k,
                                                   const uint8_t *key,
                                                   segfile_file_header *h);
/* Scanner: continue the stream h describes (h verified with the key). */
SEGFILE_WUR segfile_status segfile_crypt_init_pull(
    segfile_crypt *k, const uint8_t *key, const segfile_file_header *h);
/* Writer reopened: the next chunk starts a fresh stream. */
void segfile_crypt_init_restart(segfile_crypt *k, const uint8_t *key,
                                const segfile_file_header *h);
void segfile_crypt_sealer(segfile_crypt *k, chunk_sealer *s);
void segfile_crypt_opener(segfile_crypt *k, chunk_opener *o);
void segfile_crypt_wipe(segfile_crypt *k);

/* pwrite(2) at off until all len bytes are written (EINTR and short
 * writes retried). Returns 0 or the errno of the failure. */
SEGFILE_WUR int segfile_io_pwrite_full(int fd, const void *buf, size_t len,
                                       uint64_t off);
/* dir + "/" + name into out; ERR_ARG if name is not a plain file name or
 * the result does not fit. */
SEGFILE_WUR segfile_status segfile_io_join(const char *dir, const char *name,
                                           char *out, size_t cap);
/* The directory holding path ("." if none). */
SEGFILE_WUR segfile_status segfile_io_parent(const char *path, char *out,
                                             size_t cap);

#endif
