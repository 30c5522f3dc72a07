/* walk.c -- scan one segment or snapshot file with the daemon's scanner
 * (segfile_scan: chunk hashes, chain, decryption, framing) and then look
 * inside every chunk: each record must decode as a LogRecord, log records
 * must carry the seqs their chunk header claims, and a snapshot must start
 * with its meta record and end with the end marker whose counts match.
 * The result maps to one exit code (qd_walk_code).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qdata.h"

/* The walk plus what the callback needs from the scan in progress. */
typedef struct qd_walk_ctx {
    qd_walk *w;
    const segfile_report *rep;    /* header already parsed when called */
} qd_walk_ctx;

__attribute__((format(printf, 2, 3)))
static void qd_problem(qd_walk *w, const char *fmt, ...);

/* Keep the first problem only: later ones are usually its echo. */
static void qd_problem(qd_walk *w, const char *fmt, ...)
{
    if (w->problem[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->problem, sizeof w->problem, fmt, ap);
    va_end(ap);
}

/* A log record's seq must lie inside its chunk's range, in order. */
static void qd_check_seq(qd_walk *w, const chunk_header *h,
                         const Quotad__LogRecord *r, uint64_t *prev,
                         uint64_t off)
{
    if (r->seq < h->first_seq || r->seq > h->last_seq || r->seq < *prev ||
        r->seq == 0) {
        w->seq_errors++;
        qd_problem(w, "chunk at offset %" PRIu64 ": record seq %" PRIu64
                   " outside %" PRIu64 "..%" PRIu64 " or out of order",
                   off, r->seq, h->first_seq, h->last_seq);
    }
    *prev = r->seq;
}

/* Snapshot structure: meta first, end marker last, counts at the end. */
static void qd_check_snap(qd_walk *w, const Quotad__LogRecord *r,
                          uint64_t off)
{
    bool meta = r->change_case == QUOTAD__LOG_RECORD__CHANGE_META;
    if (w->saw_end) {
        w->after_end = true;
        qd_problem(w, "chunk at offset %" PRIu64 ": record after the end "
                   "marker", off);
    }
    if (w->records == 1 && !meta)
        qd_problem(w, "snapshot does not start with its meta record");
    if (meta && w->records == 1) {
        w->saw_meta = true;
        w->meta_seq = r->meta->seq;
        w->meta_segno = r->meta->log_segno;
    }
    if (meta && r->meta->has_end && r->meta->end) {
        w->saw_end = true;
        w->end_ws = r->meta->workspaces;
        w->end_keys = r->meta->keys;
        w->end_holds = r->meta->holds;
        return;
    }
    w->n_ws += r->change_case == QUOTAD__LOG_RECORD__CHANGE_WS_PUT;
    w->n_keys += r->change_case == QUOTAD__LOG_RECORD__CHANGE_KEY_PUT;
    w->n_holds += r->change_case == QUOTAD__LOG_RECORD__CHANGE_HOLD_PUT;
}

/* segfile_scan callback: every record of one good chunk. */
static int qd_walk_chunk(void *ctx, const chunk_header *h, const uint8_t *raw,
                         size_t raw_len, uint64_t off)
{
    qd_walk_ctx *c = ctx;
    qd_walk *w = c->w;
    w->is_log = c->rep->header.kind == SEGFILE_KIND_LOG;
    size_t pos = 0;
    const uint8_t *p;
    size_t len;
    uint64_t prev = 0;
    while (chunk_record_next(raw, raw_len, &pos, &p, &len) == CHUNK_OK) {
        w->records++;
        Quotad__LogRecord *r = quotad__log_record__unpack(NULL, len, p);
        if (r == NULL) {
            w->undecodable++;
            qd_problem(w, "chunk at offset %" PRIu64 ": record %" PRIu64
                       " does not decode", off, w->records);
            continue;
        }
        if (w->is_log)
            qd_check_seq(w, h, r, &prev, off);
        else
            qd_check_snap(w, r, off);
        int rc = w->fn ? w->fn(w->ctx, r, off) : 0;
        quotad__log_record__free_unpacked(r, NULL);
        if (rc != 0) {
            w->fn_rc = rc;
            return rc;
        }
    }
    return 0;
}

segfile_scan_result qd_walk_file(const char *path, const uint8_t *enc_key,
                                 qd_walk *w, segfile_report *rep)
{
    qd_walk_ctx c = {.w = w, .rep = rep};
    memset(rep, 0, sizeof *rep);
    return segfile_scan(path, enc_key, qd_walk_chunk, &c, rep);
}

/* A clean snapshot must also be complete and self-consistent. */
static bool qd_snap_complete(const qd_walk *w)
{
    return w->saw_meta && w->saw_end && !w->after_end &&
           w->n_ws == w->end_ws && w->n_keys == w->end_keys &&
           w->n_holds == w->end_holds;
}

int qd_walk_code(const qd_walk *w, const segfile_report *rep, bool tail_ok)
{
    bool records_bad = w->undecodable > 0 || w->seq_errors > 0;
    bool log_or_unknown = rep->header.kind != SEGFILE_KIND_SNAPSHOT;
    switch (rep->result) {
    case SEGFILE_SCAN_CLEAN:
        if (records_bad || (!w->is_log && rep->header.kind ==
                            SEGFILE_KIND_SNAPSHOT && !qd_snap_complete(w)))
            return QD_EXIT_CORRUPT;
        return QD_EXIT_OK;
    case SEGFILE_SCAN_TORN_TAIL:
        if (!tail_ok || !log_or_unknown || records_bad)
            return QD_EXIT_CORRUPT;
        /* Zeros: the unused preallocated space of a segment that was open
         * (a crash, or the daemon still runs); nothing was torn. */
        return rep->zero_tail ? QD_EXIT_OK : QD_EXIT_TORN;
    case SEGFILE_SCAN_BAD_FILE_HEADER:
        return (tail_ok && rep->detail == SEGFILE_ERR_SHORT_HEADER)
                   ? QD_EXIT_TORN
                   : QD_EXIT_CORRUPT;
    case SEGFILE_SCAN_ABORTED:
        return w->fn_rc > 0 ? w->fn_rc : QD_EXIT_IO;
    case SEGFILE_SCAN_CORRUPT_MIDDLE:
        return QD_EXIT_CORRUPT;
    case SEGFILE_SCAN_KEY_ERROR:
    case SEGFILE_SCAN_IO_ERROR:
    default:
        return QD_EXIT_IO;
    }
}

/* Why a clean snapshot is still refused. */
static const char *qd_snap_why(const qd_walk *w, char *buf, size_t cap)
{
    if (!w->saw_meta)
        return "snapshot has no meta record";
    if (!w->saw_end)
        return "snapshot has no end marker (incomplete)";
    snprintf(buf, cap, "snapshot counts disagree: %" PRIu64 "/%" PRIu64
             "/%" PRIu64 " workspaces/keys/holds, end marker says %"
             PRIu64 "/%" PRIu64 "/%" PRIu64, w->n_ws, w->n_keys,
             w->n_holds, w->end_ws, w->end_keys, w->end_holds);
    return buf;
}

const char *qd_walk_why(const qd_walk *w, const segfile_report *rep,
                        char *buf, size_t cap)
{
    if (w->problem[0] != '\0')
        return w->problem;
    switch (rep->result) {
    case SEGFILE_SCAN_CLEAN:
        if (!w->is_log && rep->header.kind == SEGFILE_KIND_SNAPSHOT &&
            !qd_snap_complete(w))
            return qd_snap_why(w, buf, cap);
        return "ok";
    case SEGFILE_SCAN_TORN_TAIL:
        if (rep->zero_tail) {
            snprintf(buf, cap, "%s: unused preallocated space (%" PRIu64
                     " zero bytes) from offset %" PRIu64,
                     segfile_scan_result_str(rep->result),
                     rep->file_bytes - rep->valid_end_offset,
                     rep->valid_end_offset);
            return buf;
        }
        if (rep->unsynced_chunks > 0) {
            snprintf(buf, cap, "%s: chunk at offset %" PRIu64 ": %s, then %"
                     PRIu64 " whole chunks written before it was synced",
                     segfile_scan_result_str(rep->result), rep->bad_offset,
                     chunk_status_str(rep->chunk_status),
                     rep->unsynced_chunks);
            return buf;
        }
        /* fall through */
    case SEGFILE_SCAN_CORRUPT_MIDDLE:
        snprintf(buf, cap, "%s: chunk at offset %" PRIu64 ": %s",
                 segfile_scan_result_str(rep->result), rep->bad_offset,
                 chunk_status_str(rep->chunk_status));
        return buf;
    case SEGFILE_SCAN_IO_ERROR:
        snprintf(buf, cap, "I/O error: %s",
                 rep->sys_errno ? strerror(rep->sys_errno)
                                : segfile_status_str(rep->detail));
        return buf;
    case SEGFILE_SCAN_ABORTED:
        return "stopped";
    default:
        snprintf(buf, cap, "%s: %s", segfile_scan_result_str(rep->result),
                 segfile_status_str(rep->detail));
        return buf;
    }
}

const char *qd_kind_name(const segfile_report *rep)
{
    if (rep->result == SEGFILE_SCAN_BAD_FILE_HEADER ||
        rep->result == SEGFILE_SCAN_IO_ERROR)
        return "?";
    return rep->header.kind == SEGFILE_KIND_LOG        ? "log"
           : rep->header.kind == SEGFILE_KIND_SNAPSHOT ? "snapshot"
                                                       : "?";
}
