/* persist_util.c -- helpers of the persistence integration tests
 * (persist_util.h). */
#include "lib/persist_util.h"
#include "lib/fixtures.h"
#include "lib/toolrun.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PU_BUF_MIN 4096u
#define PU_MS_PER_DAY INT64_C(86400000)
#define PU_LIST_PAGE 500u
#define PU_LIST_PAGES_MAX 100000u
#define PU_COPY_BYTES 65536u
#define PU_SEG_FILE_MAX (1024u * 1024u * 1024u)
#define PU_DATA_OUT_MAX (64u * 1024u * 1024u)
#define PU_DATA_TIMEOUT_MS 60000
#define PU_EXIT_USAGE 3 /* quotad-data: usage; 2 = corruption (a failure) */
#define PU_DEFAULT_QUOTAD "build/asan/quotad"
#define PU_DEFAULT_DATA "build/asan/quotad-data"
#define PU_SEED_MIX UINT64_C(0x9e3779b97f4a7c15)

/* Chunk header fields (persistence/chunk.h table), little-endian. */
#define PU_CH_MAGIC "QDCK"
#define PU_CH_MAGIC_BYTES 4u
#define PU_CH_OFF_N_RECORDS 8u
#define PU_CH_OFF_RAW_LEN 12u
#define PU_CH_OFF_STORED_LEN 16u
#define PU_CH_OFF_SYNC_FLOOR 20u
#define PU_CH_OFF_FIRST_SEQ 24u
#define PU_CH_OFF_LAST_SEQ 32u

/* ---- text buffer ------------------------------------------------------ */

/* Grow to hold need more bytes plus the NUL; marks oom on failure. */
static int pu_buf_grow(pu_buf *b, size_t need)
{
    if (b->len + need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap < PU_BUF_MIN ? PU_BUF_MIN : b->cap;
    while (cap < b->len + need + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Append formatted text; why: dumps are built field by field. */
void pu_buf_printf(pu_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || pu_buf_grow(b, (size_t)n) != 0) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void pu_buf_free(pu_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

const char *pu_buf_str(const pu_buf *b)
{
    return b->p != NULL ? b->p : "";
}

/* A dump differs: show the first differing line, not two huge strings. */
void pu_print_first_diff(const char *what, const char *a, const char *b)
{
    size_t line = 1, i = 0, start = 0;
    while (a[i] != '\0' && a[i] == b[i]) {
        if (a[i] == '\n') {
            line++;
            start = i + 1;
        }
        i++;
    }
    if (a[i] == b[i])
        return;
    int la = (int)strcspn(a + start, "\n"), lb = (int)strcspn(b + start, "\n");
    fprintf(stderr, "  %s differs at line %zu:\n    before: %.*s\n"
            "    after:  %.*s\n", what, line, la, a + start, lb, b + start);
}

/* ---- canonical client dump -------------------------------------------- */

/* Fields left out when spend windows are not compared (they reset at
 * UTC day/week/month boundaries). */
static const char *const pu_window_fields[] = {"spend_day", "spend_week",
                                               "spend_month", NULL};

/* Is this field left out of the dump? */
static bool pu_skipped(const char *name, bool with_windows)
{
    for (size_t i = 0; !with_windows && pu_window_fields[i] != NULL; i++)
        if (strcmp(name, pu_window_fields[i]) == 0)
            return true;
    return false;
}

/* Bytes one element of a field's type takes in a repeated array. */
static size_t pu_type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

static void pu_fmt_msg(pu_buf *b, const ProtobufCMessage *m,
                       bool with_windows);

/* One value of field f stored at p. */
static void pu_fmt_value(pu_buf *b, const ProtobufCFieldDescriptor *f,
                         const void *p, bool with_windows)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_ENUM:
        pu_buf_printf(b, "%d", (int)*(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
        pu_buf_printf(b, "%u", (unsigned)*(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        pu_buf_printf(b, "%lld", (long long)*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
        pu_buf_printf(b, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        pu_buf_printf(b, "%.9g", (double)*(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        pu_buf_printf(b, "%.17g", *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        pu_buf_printf(b, "%d", *(const protobuf_c_boolean *)p ? 1 : 0);
        break;
    case PROTOBUF_C_TYPE_STRING: {
        const char *str = *(char *const *)p;
        pu_buf_printf(b, "\"%s\"", str != NULL ? str : "(null)");
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *d = p;
        pu_buf_printf(b, "0x");
        for (size_t i = 0; i < d->len; i++)
            pu_buf_printf(b, "%02x", d->data[i]);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        pu_fmt_msg(b, *(ProtobufCMessage *const *)p, with_windows);
        break;
    }
}

/* Is optional field f present in m? Absent prints "~", so absent != 0. */
static bool pu_present(const ProtobufCMessage *m,
                       const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_STRING ||
        f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void *const *)(base + f->offset) != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    return true;
}

/* Every field of m, in descriptor order, driven by the schema: a field
 * added to the proto is compared without touching this code. */
static void pu_fmt_msg(pu_buf *b, const ProtobufCMessage *m,
                       bool with_windows)
{
    if (m == NULL) {
        pu_buf_printf(b, "null");
        return;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    pu_buf_printf(b, "{");
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if (pu_skipped(f->name, with_windows))
            continue;
        pu_buf_printf(b, "%s%s=", i ? " " : "", f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            pu_buf_printf(b, "[");
            for (size_t k = 0; k < n; k++) {
                pu_buf_printf(b, "%s", k ? "," : "");
                pu_fmt_value(b, f, arr + k * pu_type_size(f->type),
                             with_windows);
            }
            pu_buf_printf(b, "]");
        } else if (!pu_present(m, f)) {
            pu_buf_printf(b, "~");
        } else {
            pu_fmt_value(b, f, base + f->offset, with_windows);
        }
    }
    pu_buf_printf(b, "}");
}

void pu_fmt_key(const Quotad__KeyInfo *k, bool with_windows, pu_buf *b)
{
    pu_buf_printf(b, "key ");
    pu_fmt_msg(b, &k->base, with_windows);
    pu_buf_printf(b, "\n");
}

void pu_fmt_workspace(const Quotad__WorkspaceInfo *w, pu_buf *b)
{
    pu_buf_printf(b, "ws ");
    pu_fmt_msg(b, &w->base, true);
    pu_buf_printf(b, "\n");
}

void pu_fmt_message(const ProtobufCMessage *m, bool with_windows, pu_buf *b)
{
    pu_fmt_msg(b, m, with_windows);
    pu_buf_printf(b, "\n");
}

/* One page of list_keys after `after`; *next = 0 at the end. */
static int pu_list_page(qc_ctx *c, uint32_t ws, uint64_t after,
                        bool with_windows, pu_buf *b, uint64_t *next)
{
    Quotad__ListKeys lk = QUOTAD__LIST_KEYS__INIT;
    lk.has_workspace_id = 1;
    lk.workspace_id = ws;
    lk.has_after_key_id = after != 0;
    lk.after_key_id = after;
    lk.has_limit = 1;
    lk.limit = PU_LIST_PAGE;
    Quotad__Reply *r = NULL;
    int rc = qc_list_keys(c, &lk, &r);
    if (rc != QC_OK || r == NULL ||
        r->result_case != QUOTAD__REPLY__RESULT_KEY_LIST) {
        fprintf(stderr, "  pu: list_keys ws %u: rc %d %s\n", ws, rc,
                qc_errstr(c));
        qc_reply_free(r);
        return -1;
    }
    for (size_t i = 0; i < r->key_list->n_keys; i++)
        pu_fmt_key(r->key_list->keys[i], with_windows, b);
    *next = r->key_list->next_after_key_id;
    qc_reply_free(r);
    return 0;
}

/* Usage per UTC day of a key (key_id != 0) or a workspace: part of the
 * state since it is logged and replayed. */
static int pu_dump_usage(qc_ctx *c, uint64_t key_id, uint32_t ws, pu_buf *b)
{
    Quotad__UsageQuery q = QUOTAD__USAGE_QUERY__INIT;
    q.has_key_id = key_id != 0;
    q.key_id = key_id;
    q.has_workspace_id = key_id == 0;
    q.workspace_id = ws;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_USAGE;
    rq.usage = &q;
    Quotad__Reply *r = NULL;
    int rc = qc_call(c, &rq, &r);
    if (rc == QC_CODE_NOT_FOUND && key_id != 0) {
        qc_reply_free(r);
        return 0; /* deleted key: get_key already said not_found */
    }
    if (rc != QC_OK || r == NULL ||
        r->result_case != QUOTAD__REPLY__RESULT_USAGE) {
        fprintf(stderr, "  pu: usage key %llu ws %u: rc %d %s\n",
                (unsigned long long)key_id, ws, rc, qc_errstr(c));
        qc_reply_free(r);
        return -1;
    }
    pu_buf_printf(b, "usage ");
    pu_fmt_message(&r->usage->base, true, b);
    qc_reply_free(r);
    return 0;
}

/* The workspace line, then its keys page by page (bounded). */
int pu_dump_workspace(qc_ctx *c, uint32_t ws, bool with_windows, pu_buf *b)
{
    Quotad__Reply *r = NULL;
    int rc = qc_get_workspace(c, ws, &r);
    if (rc != QC_OK || r == NULL) {
        fprintf(stderr, "  pu: get_workspace %u: rc %d %s\n", ws, rc,
                qc_errstr(c));
        qc_reply_free(r);
        return -1;
    }
    pu_fmt_workspace(r->workspace, b);
    qc_reply_free(r);
    if (pu_dump_usage(c, 0, ws, b) != 0)
        return -1;
    uint64_t after = 0;
    for (uint32_t page = 0; page < PU_LIST_PAGES_MAX; page++) {
        uint64_t next = 0;
        if (pu_list_page(c, ws, after, with_windows, b, &next) != 0)
            return -1;
        if (next == 0)
            return b->oom ? -1 : 0;
        after = next;
    }
    return -1;
}

int pu_dump_key(qc_ctx *c, uint64_t key_id, bool with_windows, pu_buf *b)
{
    Quotad__Reply *r = NULL;
    int rc = qc_get_key(c, key_id, &r);
    if (rc == QC_CODE_NOT_FOUND) {
        pu_buf_printf(b, "key %llu not_found\n", (unsigned long long)key_id);
    } else if (rc == QC_OK && r != NULL) {
        pu_fmt_key(r->key, with_windows, b);
    } else {
        fprintf(stderr, "  pu: get_key %llu: rc %d %s\n",
                (unsigned long long)key_id, rc, qc_errstr(c));
        qc_reply_free(r);
        return -1;
    }
    qc_reply_free(r);
    if (pu_dump_usage(c, key_id, 0, b) != 0)
        return -1;
    return b->oom ? -1 : 0;
}

int64_t pu_utc_day(int64_t ms)
{
    return ms / PU_MS_PER_DAY;
}

/* ---- log segments ----------------------------------------------------- */

static uint32_t pu_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t pu_le64(const uint8_t *p)
{
    return (uint64_t)pu_le32(p) | (uint64_t)pu_le32(p + 4) << 32;
}

uint8_t *pu_read_bin(const char *path, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || (uint64_t)sb.st_size > cap) {
        fclose(f);
        return NULL;
    }
    uint8_t *p = malloc((size_t)sb.st_size + 1);
    size_t n = p != NULL ? fread(p, 1, (size_t)sb.st_size, f) : 0;
    int bad = p == NULL || n != (size_t)sb.st_size || ferror(f);
    fclose(f);
    if (bad) {
        free(p);
        return NULL;
    }
    *len = n;
    return p;
}

/* Append one chunk entry (doubling array). */
static int pu_seg_add(pu_segment *s, size_t *cap, const pu_chunk *ch)
{
    if (s->n_chunks == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        pu_chunk *p = realloc(s->chunks, nc * sizeof *p);
        if (p == NULL)
            return -1;
        s->chunks = p;
        *cap = nc;
    }
    s->chunks[s->n_chunks++] = *ch;
    return 0;
}

/* Chunk map of a segment: each header gives stored_len, the body follows. */
int pu_segment_read(const char *path, pu_segment *out)
{
    memset(out, 0, sizeof *out);
    size_t len = 0, cap = 0;
    uint8_t *m = pu_read_bin(path, PU_SEG_FILE_MAX, &len);
    if (m == NULL) {
        fprintf(stderr, "  pu: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    out->file_bytes = len;
    uint64_t off = PU_SEG_HEADER_BYTES;
    int rc = len >= PU_SEG_HEADER_BYTES ? 0 : -1;
    while (rc == 0 && off + PU_CHUNK_HEADER_BYTES <= len &&
           memcmp(m + off, PU_CH_MAGIC, PU_CH_MAGIC_BYTES) == 0) {
        const uint8_t *h = m + off;
        pu_chunk ch = {.off = off,
                       .n_records = pu_le32(h + PU_CH_OFF_N_RECORDS),
                       .raw_len = pu_le32(h + PU_CH_OFF_RAW_LEN),
                       .stored_len = pu_le32(h + PU_CH_OFF_STORED_LEN),
                       .sync_floor = pu_le32(h + PU_CH_OFF_SYNC_FLOOR),
                       .first_seq = pu_le64(h + PU_CH_OFF_FIRST_SEQ),
                       .last_seq = pu_le64(h + PU_CH_OFF_LAST_SEQ)};
        ch.end = off + PU_CHUNK_HEADER_BYTES + ch.stored_len;
        if (ch.end > len)
            break;
        rc = pu_seg_add(out, &cap, &ch);
        off = ch.end;
    }
    out->clean = rc == 0 && off == len;
    free(m);
    return rc;
}

void pu_segment_free(pu_segment *s)
{
    free(s->chunks);
    memset(s, 0, sizeof *s);
}

uint64_t pu_segment_last_seq_before(const pu_segment *s, uint64_t off)
{
    uint64_t seq = 0;
    for (size_t i = 0; i < s->n_chunks; i++)
        if (s->chunks[i].end <= off && s->chunks[i].n_records)
            seq = s->chunks[i].last_seq;
    return seq;
}

int pu_base_build(td_daemon *d, const char *const *args,
                  int (*fn)(qc_ctx *c), char *data, size_t data_cap,
                  char *name, size_t name_cap, pu_segment *seg)
{
    qc_ctx *c = NULL;
    if (fx_start(d, args, &c) != 0) {
        fprintf(stderr, "  base: daemon did not start\n");
        return -1;
    }
    int rc = fn(c);
    qc_free(c);
    if (td_stop(d) != 0 || rc != 0) {
        fprintf(stderr, "  base: workload %d, or unclean stop\n", rc);
        return -1;
    }
    snprintf(data, data_cap, "%s/data", d->dir);
    if (pu_last_file(data, "log-", ".qlog", name, name_cap) != 0 ||
        pu_count_files(data, "log-", ".qlog") != 1) {
        fprintf(stderr, "  base: want exactly one log segment in %s\n",
                data);
        return -1;
    }
    char path[PU_PATH_BYTES * 2];
    snprintf(path, sizeof path, "%s/%s", data, name);
    return pu_segment_read(path, seg);
}

/* ---- files ------------------------------------------------------------ */

/* Byte copy of one file (mode 0600: logs hold key hashes). */
static int pu_copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = in >= 0 && out >= 0 ? 0 : -1;
    char buf[PU_COPY_BYTES];
    while (rc == 0) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 || write(out, buf, (size_t)n) != n)
            rc = -1;
    }
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "  pu: copy %s -> %s failed\n", src, dst);
    return rc;
}

/* Regular files only: a data dir is flat. */
int pu_copy_dir(const char *src, const char *dst)
{
    if (mkdir(dst, 0700) != 0 && errno != EEXIST)
        return -1;
    DIR *d = opendir(src);
    if (d == NULL)
        return -1;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char a[PU_PATH_BYTES], b[PU_PATH_BYTES];
        struct stat sb;
        int na = snprintf(a, sizeof a, "%s/%s", src, e->d_name);
        int nb = snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
        if (na < 0 || nb < 0 || (size_t)na >= sizeof a ||
            (size_t)nb >= sizeof b || stat(a, &sb) != 0)
            rc = -1;
        else if (S_ISREG(sb.st_mode))
            rc = pu_copy_file(a, b);
    }
    closedir(d);
    return rc;
}

/* name = prefix ... suffix */
static bool pu_name_match(const char *name, const char *prefix,
                          const char *suffix)
{
    size_t n = strlen(name), p = strlen(prefix), s = strlen(suffix);
    return n >= p + s && strncmp(name, prefix, p) == 0 &&
           strcmp(name + n - s, suffix) == 0;
}

int pu_count_files(const char *dir, const char *prefix, const char *suffix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += pu_name_match(e->d_name, prefix, suffix);
    closedir(d);
    return n;
}

int pu_last_file(const char *dir, const char *prefix, const char *suffix,
                 char *out, size_t cap)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    out[0] = '\0';
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (pu_name_match(e->d_name, prefix, suffix) &&
            strcmp(e->d_name, out) > 0 && strlen(e->d_name) < cap)
            snprintf(out, cap, "%s", e->d_name);
    }
    closedir(d);
    return out[0] != '\0' ? 0 : -1;
}

int pu_truncate(const char *path, uint64_t len)
{
    if (truncate(path, (off_t)len) == 0)
        return 0;
    fprintf(stderr, "  pu: truncate %s: %s\n", path, strerror(errno));
    return -1;
}

int pu_flip_byte(const char *path, uint64_t off, uint8_t mask)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint8_t v = 0;
    int rc = pread(fd, &v, 1, (off_t)off) == 1 ? 0 : -1;
    v ^= mask;
    if (rc == 0 && pwrite(fd, &v, 1, (off_t)off) != 1)
        rc = -1;
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

char *pu_read_file(const char *path, size_t cap)
{
    size_t len = 0;
    uint8_t *p = pu_read_bin(path, cap, &len);
    if (p == NULL)
        return NULL;
    p[len] = '\0';
    return (char *)p;
}

int pu_scratch_make(char *dir, size_t cap, const char *name)
{
    int n = snprintf(dir, cap, "/tmp/%s.XXXXXX", name);
    return n > 0 && (size_t)n < cap && mkdtemp(dir) != NULL ? 0 : -1;
}

const char *pu_path(const char *dir, const char *name)
{
    static char buf[PU_PATH_BUFS][PU_PATH_BYTES];
    static unsigned next;
    char *out = buf[next++ % PU_PATH_BUFS];
    snprintf(out, PU_PATH_BYTES, "%s/%s", dir, name);
    return out;
}

int pu_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = len == 0 || write(fd, data, len) == (ssize_t)len ? 0 : -1;
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

/* ---- processes -------------------------------------------------------- */

int pu_run(const char *const *argv, const char *out_path, int64_t timeout_ms,
           int *status)
{
    pid_t pid;
    if (tr_start(argv, NULL, out_path, NULL, &pid) != 0)
        return -1;
    *status = tr_wait(pid, timeout_ms);
    return 0;
}

const char *pu_quotad_bin(void)
{
    const char *b = getenv("QUOTAD_BIN");
    return b != NULL && b[0] != '\0' ? b : PU_DEFAULT_QUOTAD;
}

const char *pu_data_bin(void)
{
    const char *b = getenv("QUOTAD_DATA_BIN");
    if (b == NULL || b[0] == '\0')
        b = PU_DEFAULT_DATA;
    return access(b, X_OK) == 0 ? b : NULL;
}

/* A usage error (exit 3) means the tool has no `state` command; any other
 * non-zero exit (1 torn tail, 2 corruption, 4 I/O) is a failure. */
int pu_data_state(const char *dir, const char *scratch_dir, char **out)
{
    *out = NULL;
    const char *bin = pu_data_bin();
    if (bin == NULL)
        return 1;
    char path[PU_PATH_BYTES];
    snprintf(path, sizeof path, "%s/data-state.out", scratch_dir);
    const char *argv[] = {bin, "state", "--dir", dir, NULL};
    int st = 0;
    if (pu_run(argv, path, PU_DATA_TIMEOUT_MS, &st) != 0)
        return -1;
    *out = pu_read_file(path, PU_DATA_OUT_MAX);
    if (st == PU_EXIT_USAGE) {
        free(*out);
        *out = NULL;
        return 1;
    }
    if (st != 0 || *out == NULL) {
        fprintf(stderr, "  pu: %s state --dir %s: exit %d\n%s\n", bin, dir,
                st, *out ? *out : "");
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* ---- misc ------------------------------------------------------------- */

uint64_t pu_rand(uint64_t *s)
{
    uint64_t z = (*s += PU_SEED_MIX);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

int64_t pu_rand_range(uint64_t *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(pu_rand(s) % (uint64_t)(hi - lo + 1));
}

int64_t pu_rand_i64_edges(uint64_t *s)
{
    static const int64_t edge[] = {0, 1, -1, 127, 128, 16383, 16384,
                                   INT32_MAX, INT32_MIN, INT64_MAX,
                                   INT64_MIN, 1000000000000000};
    if (pu_rand(s) % 2)
        return edge[pu_rand(s) % (sizeof edge / sizeof edge[0])];
    return (int64_t)(pu_rand(s) >> (pu_rand(s) % 64));
}

uint64_t pu_seed(const char *env_name)
{
    const char *v = getenv(env_name);
    if (v != NULL && v[0] != '\0')
        return strtoull(v, NULL, 10);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^
           (uint64_t)getpid();
}

bool pu_soak(void)
{
    const char *v = getenv("QUOTAD_SOAK");
    return v != NULL && strcmp(v, "1") == 0;
}

int pu_snapshot(qc_ctx *c, bool start, bool *started, bool *running,
                uint64_t *last_seq)
{
    Quotad__Reply *r = NULL;
    int rc = qc_snapshot(c, start, &r);
    if (rc != QC_OK || r == NULL) {
        fprintf(stderr, "  pu: snapshot op: rc %d %s\n", rc, qc_errstr(c));
        qc_reply_free(r);
        return rc != QC_OK ? rc : -1;
    }
    *started = r->snapshot->started;
    *running = r->snapshot->running;
    *last_seq = r->snapshot->last_seq;
    qc_reply_free(r);
    return 0;
}
