/* qdata.h -- internal interfaces of quotad-data, the offline data tool.
 *
 *   quotad-data verify|dump|state|snapshot|restore ... (see `help`)
 *
 * Layout (one file per subcommand, shared helpers below):
 *   main.c          option parsing, dispatch, help text, exit codes
 *   emit.c          one output layer: human "name=value" lines or JSON
 *   files.c         data dir listing, paths, key file, locks
 *   walk.c          scan one file, decode and sanity-check every record
 *   load.c          fill a fresh store from a dir or a snapshot; write one
 *   records.c       render one LogRecord (dump)
 *   state.c         canonical dump of a whole store (state)
 *   cmd_*.c         the subcommands
 *
 * The tool links the daemon's own core (segfile_scan, rec_apply,
 * recover_load, plog_snapshot), so what it accepts and refuses is exactly
 * what the daemon would. It never prints a secret: only hashes are stored,
 * and they and idempotency answers are printed as hex.
 */
#ifndef QDATA_QDATA_H
#define QDATA_QDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "quotad.pb-c.h"
#include "recover.h"
#include "segfile.h"
#include "store.h"

#define QD_PROG "quotad-data"

/* Exit codes (documented in `quotad-data help`). When several files give
 * different results, the highest code wins. */
enum qd_exit {
    QD_EXIT_OK = 0,       /* everything verified */
    QD_EXIT_TORN = 1,     /* a torn tail: recoverable, the daemon cuts it */
    QD_EXIT_CORRUPT = 2,  /* corruption or inconsistency: daemon refuses */
    QD_EXIT_USAGE = 3,    /* bad command line (or a refused target dir) */
    QD_EXIT_IO = 4,       /* I/O error, or a missing/wrong/bad key */
};

#define QD_POS_MAX 64             /* positional arguments (verify PATH...) */
#define QD_PATH_BYTES 4096u       /* dir + "/" + name */
#define QD_ERR_BYTES 1024u        /* one error message */
#define QD_PROGRESS_RECORDS 100000u   /* restore progress line interval */

/* Data file names; the same formats as PLOG_SEGMENT_FMT and
 * PLOG_SNAPSHOT_FMT in persistence/plog_internal.h (not a public header). */
#define QD_SEGMENT_FMT "log-%016llu.qlog"
#define QD_SNAPSHOT_FMT "snap-%020llu.qsnap"

/* Flags a subcommand accepts (qd_opts_parse). */
enum qd_flag {
    QD_F_JSON = 1u << 0,
    QD_F_KEY = 1u << 1,
    QD_F_DIR = 1u << 2,
    QD_F_SNAPSHOT = 1u << 3,
    QD_F_FORCE = 1u << 4,
};

/* The parsed command line of one subcommand. */
typedef struct qd_opts {
    const char *cmd;              /* "verify"... for messages */
    const char *key_file;
    const char *dir;
    const char *snapshot;
    bool json, force;
    const char *pos[QD_POS_MAX];
    int npos;
    bool has_key;
    uint8_t key[SEGFILE_KEY_BYTES];
} qd_opts;

/* ---- main.c ---- */
/* Print "quotad-data CMD: message" and a hint; returns QD_EXIT_USAGE. */
int qd_usage(const qd_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print "quotad-data CMD: message" to stderr; returns code. */
int qd_fail(const qd_opts *o, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The key (NULL when none was given). */
const uint8_t *qd_key(const qd_opts *o);
/* Worse of two exit codes (the higher). */
int qd_worst(int a, int b);

/* ---- emit.c: human or JSON output ---- */
#define QD_EMIT_DEPTH_MAX 8

/* Human: one line of space-separated "name=value" (strings JSON-quoted so
 * nothing in them can forge a field or reach the terminal raw; nested
 * objects as name={...}). JSON: one object per line. */
typedef struct qd_emit {
    FILE *f;
    bool json;
    int depth;
    bool need_sep[QD_EMIT_DEPTH_MAX];
} qd_emit;

void qe_init(qd_emit *e, FILE *f, bool json);
void qe_begin(qd_emit *e);
void qe_end(qd_emit *e);
/* A leading word in human mode ("ws"), "name":"word" in JSON. */
void qe_tag(qd_emit *e, const char *name, const char *word);
void qe_str(qd_emit *e, const char *name, const char *v);
void qe_u64(qd_emit *e, const char *name, uint64_t v);
void qe_i64(qd_emit *e, const char *name, int64_t v);
void qe_bool(qd_emit *e, const char *name, bool v);
/* Money: human units with 6 decimals, JSON the micro integer. */
void qe_money(qd_emit *e, const char *name, int64_t micro);
/* Limits where a negative value means none: human "none", JSON -1. */
void qe_limit_money(qd_emit *e, const char *name, int64_t micro);
void qe_limit_count(qd_emit *e, const char *name, int64_t v);
/* Unix ms: human ISO-8601 UTC ("-" for 0), JSON the number. */
void qe_time(qd_emit *e, const char *name, int64_t ms);
/* Bytes as lowercase hex (human and JSON). */
void qe_hex(qd_emit *e, const char *name, const uint8_t *p, size_t n);
void qe_strv(qd_emit *e, const char *name, char *const *v, size_t n);
void qe_i64v(qd_emit *e, const char *name, const int64_t *v, size_t n);
void qe_obj_begin(qd_emit *e, const char *name);
void qe_obj_end(qd_emit *e);
void qe_arr_begin(qd_emit *e, const char *name);
void qe_arr_end(qd_emit *e);

/* Money as "[-]U.DDDDDD" into buf (>= QD_MONEY_BUF bytes). */
#define QD_MONEY_BUF 32
char *qd_fmt_money(int64_t micro, char *buf);
/* "2024-05-01T12:34:56.789Z" into buf (>= QD_TIME_BUF bytes). */
#define QD_TIME_BUF 40
char *qd_fmt_time(int64_t ms, char *buf);
/* A JSON string literal of s (quotes, escapes, invalid UTF-8 -> U+FFFD). */
void qd_json_string(FILE *f, const char *s);

/* ---- files.c ---- */
typedef enum qd_fkind {
    QD_FILE_NONE = 0,
    QD_FILE_LOG = 1,
    QD_FILE_SNAPSHOT = 2,
} qd_fkind;

typedef struct qd_file {
    char path[QD_PATH_BYTES];
    const char *name;             /* points into path */
    qd_fkind kind;                /* by name (the header is checked later) */
    uint64_t num;                 /* segno or snapshot seq */
} qd_file;

typedef struct qd_file_list {
    qd_file *v;
    size_t n;
    size_t tmp_files;             /* snap-*.tmp leftovers */
} qd_file_list;

/* Kind and number of a data file name; QD_FILE_NONE if not one. */
qd_fkind qd_name_kind(const char *name, uint64_t *num);
/* Every *.qsnap (by seq) then every *.qlog (by segno) in dir. 0 or -1
 * (errno set; message printed). */
int qd_list_dir(const qd_opts *o, const char *dir, qd_file_list *l);
void qd_list_free(qd_file_list *l);
/* A path names a directory? 1 yes, 0 no, -1 error (errno). */
int qd_is_dir(const char *path);
/* dir + "/" + name into out; -1 if it does not fit. */
int qd_join(const char *dir, const char *name, char *out, size_t cap);
/* Exclusive advisory lock on the directory (flock), so two offline
 * writers never run at once. Returns the fd (>= 0) or -1 (printed). */
int qd_lock_dir(const qd_opts *o, const char *dir);
void qd_unlock_dir(int fd);
/* Is path open by any other process? Probed with a write lease, which the
 * kernel grants only when no other descriptor is open. 1 in use, 0 not,
 * -1 cannot tell (leases unsupported or not permitted). */
int qd_file_in_use(const char *path);

/* ---- walk.c: scan one file, decode every record ---- */
/* Called for every record that decoded; non-zero stops the scan. */
typedef int (*qd_rec_fn)(void *ctx, const Quotad__LogRecord *r,
                         uint64_t chunk_offset);

typedef struct qd_walk {
    qd_rec_fn fn;                 /* may be NULL */
    void *ctx;
    int fn_rc;                    /* what fn returned when it stopped */
    bool is_log;                  /* from the file header */
    uint64_t records, undecodable, seq_errors;
    uint64_t n_ws, n_keys, n_holds;     /* snapshot records seen */
    bool saw_meta, saw_end, after_end;  /* snapshot meta records */
    uint64_t meta_seq, meta_segno;      /* from the first meta record */
    uint64_t end_ws, end_keys, end_holds;   /* counts of the end meta */
    char problem[QD_ERR_BYTES];   /* first record-level problem */
} qd_walk;

/* Scan path (enc_key may be NULL). Fills *rep; returns rep->result. */
segfile_scan_result qd_walk_file(const char *path, const uint8_t *enc_key,
                                 qd_walk *w, segfile_report *rep);
/* Exit code of a walked file. tail_ok: a torn tail here is what a crash
 * leaves (the newest log segment, or a lone file given by the user). */
int qd_walk_code(const qd_walk *w, const segfile_report *rep, bool tail_ok);
/* Human description of why the file got its code (static or in buf). */
const char *qd_walk_why(const qd_walk *w, const segfile_report *rep,
                        char *buf, size_t cap);
/* "log" / "snapshot" / "?" from the file header. */
const char *qd_kind_name(const segfile_report *rep);

/* ---- load.c ---- */
/* A fresh, empty store with default options. 0 or -1 (printed). */
int qd_store_new(const qd_opts *o, store **out);

/* What loading one snapshot file found. */
typedef struct qd_snap_load {
    bool progress;                /* print progress to stderr */
    uint64_t records;
    uint64_t log_segno;           /* from the meta record */
    int64_t ms;
    char err[QD_ERR_BYTES];       /* rec_apply's reason, if any */
} qd_snap_load;

/* Load the snapshot at path into st (fresh). Returns an exit code; only
 * QD_EXIT_OK leaves a complete state. */
int qd_load_snapshot(const qd_opts *o, const char *path, store *st,
                     qd_snap_load *sl);
/* recover_load of dir into a fresh store. read_only: never cut or remove
 * anything. Returns an exit code (TORN if a tail was found read-only or
 * cut); on CORRUPT/IO *out is NULL. */
int qd_load_dir(const qd_opts *o, const char *dir, bool read_only,
                store **out, recover_report *rep);
/* Write st as a snapshot into dir through the daemon's own writer (log
 * opened at first_segno, fsync always, no automatic snapshots). On
 * success *seq = its seq and path = its file. Returns an exit code. */
int qd_write_snapshot(const qd_opts *o, store *st, const char *dir,
                      uint64_t first_segno, uint64_t *seq, char *path,
                      size_t cap);

/* ---- records.c ---- */
/* Short type name of a record ("wallet", "key_put"...). */
const char *qd_rec_type(const Quotad__LogRecord *r);
/* Every field of r (hashes and answers as hex), as the current object. */
void qd_emit_record(qd_emit *e, const Quotad__LogRecord *r);
void qd_emit_idem(qd_emit *e, const char *name, const Quotad__IdemState *s);

/* ---- state.c ---- */
/* Canonical dump of the whole store: deterministic for equal states. */
int qd_emit_state(qd_emit *e, store *st);

/* ---- commands ---- */
int qd_cmd_verify(qd_opts *o);
int qd_cmd_dump(qd_opts *o);
int qd_cmd_state(qd_opts *o);
int qd_cmd_snapshot(qd_opts *o);
int qd_cmd_restore(qd_opts *o);

#endif
