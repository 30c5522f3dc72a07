/* persist_util -- helpers for the persistence integration tests
 * (it_restart, it_crash, it_torn, it_snapload):
 *
 *   - a growable text buffer and a canonical, deterministic dump of
 *     workspaces and keys as the client sees them (every field of
 *     WorkspaceInfo / KeyInfo), so "state before == state after" is one
 *     string comparison;
 *   - an independent parser of log segment files (80-byte file header,
 *     then chunks of a 64-byte header + stored body), written from the
 *     format description, not from the server's code;
 *   - small file tools (copy a data dir, truncate, flip a byte, count
 *     files) and a bounded "run a program, capture its output" used to
 *     see a daemon refuse to start and to call quotad-data.
 *
 * Every function returns 0 on success and -1 on failure (printing why),
 * unless documented otherwise.
 */
#ifndef TD_PERSIST_UTIL_H
#define TD_PERSIST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/daemon.h"
#include "qc_admin.h"
#include "quotad.h"

/* Segment file layout (persistence/segfile.h, persistence/chunk.h). */
#define PU_SEG_HEADER_BYTES 80u
#define PU_CHUNK_HEADER_BYTES 64u
#define PU_PATH_BYTES 512u

/* ---- text buffer ------------------------------------------------------ */

typedef struct pu_buf {
    char *p;          /* NUL-terminated; NULL until the first append */
    size_t len, cap;
    bool oom;         /* an append failed: the content is incomplete */
} pu_buf;

void pu_buf_printf(pu_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pu_buf_free(pu_buf *b);
/* The text, never NULL. */
const char *pu_buf_str(const pu_buf *b);
/* Print the first line where a and b differ (for a failed comparison). */
void pu_print_first_diff(const char *what, const char *a, const char *b);

/* ---- canonical client dump -------------------------------------------- */

/* Append every field of workspace ws and of all its keys (list_keys, all
 * statuses, every page) to b. with_windows = false leaves out the spend
 * windows (spend_day/week/month), which reset at UTC boundaries. */
int pu_dump_workspace(qc_ctx *c, uint32_t ws, bool with_windows, pu_buf *b);
/* Append one key (get_key); a deleted key appends "key ID not_found". */
int pu_dump_key(qc_ctx *c, uint64_t key_id, bool with_windows, pu_buf *b);
/* Format a KeyInfo / WorkspaceInfo (exposed for the other tests). */
void pu_fmt_key(const Quotad__KeyInfo *k, bool with_windows, pu_buf *b);
void pu_fmt_workspace(const Quotad__WorkspaceInfo *w, pu_buf *b);
/* Any message, every field (schema-driven), then a newline. */
void pu_fmt_message(const ProtobufCMessage *m, bool with_windows, pu_buf *b);

/* UTC day number of a Unix ms time (spend windows change with it). */
int64_t pu_utc_day(int64_t ms);

/* ---- log segments ----------------------------------------------------- */

typedef struct pu_chunk {
    uint64_t off;         /* of the chunk header */
    uint64_t end;         /* just after its body */
    uint32_t n_records, raw_len, stored_len;
    uint32_t sync_floor;  /* bytes synced when it was written (0: v1) */
    uint64_t first_seq, last_seq;
} pu_chunk;

typedef struct pu_segment {
    uint64_t file_bytes;
    size_t n_chunks;
    pu_chunk *chunks;     /* malloc'd; free with pu_segment_free */
    bool clean;           /* the chunks cover the file exactly */
} pu_segment;

/* Walk the chunk headers of a (plaintext) segment file. Does not verify
 * hashes: it is the map of where chunks start and end. */
int pu_segment_read(const char *path, pu_segment *out);
void pu_segment_free(pu_segment *s);
/* The last seq of the records in chunks that end at or before off (what
 * a log cut at off still holds); 0 if none. */
uint64_t pu_segment_last_seq_before(const pu_segment *s, uint64_t off);

/* A base data dir for the damage tests (it_torn, it_window): start a
 * daemon with args (fx_start), run fn on one connection, stop it cleanly,
 * then map its one log segment. Fills data (the data dir, to copy from),
 * name (the segment's file name) and seg. td_cleanup(d) removes it. */
int pu_base_build(td_daemon *d, const char *const *args,
                  int (*fn)(qc_ctx *c), char *data, size_t data_cap,
                  char *name, size_t name_cap, pu_segment *seg);

/* ---- files ------------------------------------------------------------ */

/* Copy the regular files of directory src into dst (created). */
int pu_copy_dir(const char *src, const char *dst);
/* Files in dir whose name starts with prefix and ends with suffix;
 * -1 if dir cannot be read. */
int pu_count_files(const char *dir, const char *prefix, const char *suffix);
/* Name (in out) of the greatest such file (names are zero-padded, so
 * the greatest name is the newest segment). */
int pu_last_file(const char *dir, const char *prefix, const char *suffix,
                 char *out, size_t cap);
int pu_truncate(const char *path, uint64_t len);
/* XOR the byte at off with mask (mask != 0). */
int pu_flip_byte(const char *path, uint64_t off, uint8_t mask);
/* Whole binary file, malloc'd, if at most cap bytes; *len its size.
 * NULL on error. */
uint8_t *pu_read_bin(const char *path, size_t cap, size_t *len);
/* Whole file into a malloc'd NUL-terminated string (at most cap bytes);
 * NULL on error. */
char *pu_read_file(const char *path, size_t cap);
/* A scratch directory for a test: mkdtemp of /tmp/NAME.XXXXXX into dir
 * (cap bytes). 0 or -1. Remove it with td_remove_tree. */
int pu_scratch_make(char *dir, size_t cap, const char *name);
/* dir/name in one of PU_PATH_BUFS static buffers, so one statement may
 * hold that many paths at once. */
#define PU_PATH_BUFS 4u
const char *pu_path(const char *dir, const char *name);

/* Create (or empty) a file and write len bytes of data. */
int pu_write_file(const char *path, const void *data, size_t len);

/* ---- processes -------------------------------------------------------- */

/* Run argv[0] with argv (NULL-terminated), stdout+stderr into out_path,
 * stdin from /dev/null (lib/toolrun). Waits at most timeout_ms, then
 * SIGKILLs it (by its pid). *status: exit code, 128+signal (137 after a
 * timeout), or -1. 0, or -1 if it could not be started. */
int pu_run(const char *const *argv, const char *out_path, int64_t timeout_ms,
           int *status);

/* The daemon binary the tests use ($QUOTAD_BIN or build/asan/quotad). */
const char *pu_quotad_bin(void);

/* quotad-data ($QUOTAD_DATA_BIN or build/asan/quotad-data) if it exists
 * and is executable, else NULL. */
const char *pu_data_bin(void);
/* `quotad-data state --dir dir` into a malloc'd string. Returns 0 ok, 1
 * when the tool is absent or does not know the command (skip), -1 when it
 * failed on the directory. */
int pu_data_state(const char *dir, const char *scratch_dir, char **out);

/* ---- misc ------------------------------------------------------------- */

/* Deterministic generator (splitmix64) for seeded tests. */
uint64_t pu_rand(uint64_t *state);
/* Uniform-ish in [lo, hi]. */
int64_t pu_rand_range(uint64_t *state, int64_t lo, int64_t hi);
/* Half the time a value at a varint length boundary (0, 127/128, INT32
 * and INT64 limits, negatives: 10-byte varints), else random bits of a
 * random width: for encoders that must match protobuf-c byte for byte. */
int64_t pu_rand_i64_edges(uint64_t *state);
/* Seed from env name (decimal) or the clock; printed by the caller. */
uint64_t pu_seed(const char *env_name);
/* Soak mode: env QUOTAD_SOAK=1. */
bool pu_soak(void);

/* Send a snapshot op; fills started/running/last_seq. */
int pu_snapshot(qc_ctx *c, bool start, bool *started, bool *running,
                uint64_t *last_seq);

#endif
