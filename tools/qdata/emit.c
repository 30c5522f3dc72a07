/* emit.c -- the one output layer of quotad-data: a record or a state item
 * is described once, field by field, and rendered either as a human line
 * of "name=value" words or as one JSON object per line.
 *
 * Strings are always written as JSON string literals, in human mode too:
 * a name or metadata value holding spaces, '=', newlines or terminal
 * escapes can then neither forge a field nor reach the terminal raw.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "qdata.h"

#define QD_MICRO_PER_UNIT UINT64_C(1000000)
#define QD_MS_PER_S INT64_C(1000)
#define QD_UTF8_CONT_MASK 0xC0u
#define QD_UTF8_CONT 0x80u
#define QD_ASCII_MAX 0x7Fu
#define QD_CTRL_MAX 0x1Fu
#define QD_DEL 0x7Fu
/* "YYYY-MM-DDTHH:MM:SS" for any year gmtime gives; leaves room in
 * QD_TIME_BUF for ".mmmZ". */
#define QD_DATE_BUF (QD_TIME_BUF - 8)

void qe_init(qd_emit *e, FILE *f, bool json)
{
    memset(e, 0, sizeof *e);
    e->f = f;
    e->json = json;
}

/* Separator before the next item at the current depth. */
static void qe_sep(qd_emit *e)
{
    if (e->need_sep[e->depth])
        fputc(e->json ? ',' : ' ', e->f);
    e->need_sep[e->depth] = true;
}

/* Separator plus "name": (JSON) or name= (human). */
static void qe_name(qd_emit *e, const char *name)
{
    qe_sep(e);
    if (name == NULL)
        return;
    if (e->json) {
        qd_json_string(e->f, name);
        fputc(':', e->f);
    } else {
        fprintf(e->f, "%s=", name);
    }
}

void qe_begin(qd_emit *e)
{
    e->depth = 0;
    e->need_sep[0] = false;
    if (e->json)
        fputc('{', e->f);
}

void qe_end(qd_emit *e)
{
    fputs(e->json ? "}\n" : "\n", e->f);
}

void qe_tag(qd_emit *e, const char *name, const char *word)
{
    if (e->json) {
        qe_str(e, name, word);
        return;
    }
    qe_sep(e);
    fputs(word, e->f);
}

void qe_str(qd_emit *e, const char *name, const char *v)
{
    qe_name(e, name);
    qd_json_string(e->f, v ? v : "");
}

void qe_u64(qd_emit *e, const char *name, uint64_t v)
{
    qe_name(e, name);
    fprintf(e->f, "%" PRIu64, v);
}

void qe_i64(qd_emit *e, const char *name, int64_t v)
{
    qe_name(e, name);
    fprintf(e->f, "%" PRId64, v);
}

void qe_bool(qd_emit *e, const char *name, bool v)
{
    qe_name(e, name);
    fputs(v ? "true" : "false", e->f);
}

char *qd_fmt_money(int64_t micro, char *buf)
{
    /* Through uint64 so INT64_MIN has a magnitude. */
    uint64_t mag = micro < 0 ? (uint64_t)0 - (uint64_t)micro
                             : (uint64_t)micro;
    snprintf(buf, QD_MONEY_BUF, "%s%" PRIu64 ".%06" PRIu64,
             micro < 0 ? "-" : "", mag / QD_MICRO_PER_UNIT,
             mag % QD_MICRO_PER_UNIT);
    return buf;
}

void qe_money(qd_emit *e, const char *name, int64_t micro)
{
    char buf[QD_MONEY_BUF];
    qe_name(e, name);
    if (e->json)
        fprintf(e->f, "%" PRId64, micro);
    else
        fputs(qd_fmt_money(micro, buf), e->f);
}

void qe_limit_money(qd_emit *e, const char *name, int64_t micro)
{
    if (micro >= 0) {
        qe_money(e, name, micro);
        return;
    }
    qe_name(e, name);
    fputs(e->json ? "-1" : "none", e->f);
}

void qe_limit_count(qd_emit *e, const char *name, int64_t v)
{
    qe_name(e, name);
    if (v >= 0)
        fprintf(e->f, "%" PRId64, v);
    else
        fputs(e->json ? "-1" : "none", e->f);
}

char *qd_fmt_time(int64_t ms, char *buf)
{
    int64_t sec = ms / QD_MS_PER_S, rem = ms % QD_MS_PER_S;
    if (rem < 0) {
        rem += QD_MS_PER_S;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    char date[QD_DATE_BUF];
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf(buf, QD_TIME_BUF, "%" PRId64 "ms", ms);
        return buf;
    }
    snprintf(buf, QD_TIME_BUF, "%s.%03dZ", date, (int)rem);
    return buf;
}

void qe_time(qd_emit *e, const char *name, int64_t ms)
{
    char buf[QD_TIME_BUF];
    qe_name(e, name);
    if (e->json)
        fprintf(e->f, "%" PRId64, ms);
    else
        fputs(ms == 0 ? "-" : qd_fmt_time(ms, buf), e->f);
}

void qe_hex(qd_emit *e, const char *name, const uint8_t *p, size_t n)
{
    qe_name(e, name);
    if (e->json)
        fputc('"', e->f);
    for (size_t i = 0; i < n; i++)
        fprintf(e->f, "%02x", p[i]);
    if (n == 0 && !e->json)
        fputs("-", e->f);
    if (e->json)
        fputc('"', e->f);
}

void qe_arr_begin(qd_emit *e, const char *name)
{
    qe_name(e, name);
    fputc('[', e->f);
    if (e->depth + 1 < QD_EMIT_DEPTH_MAX)
        e->depth++;
    e->need_sep[e->depth] = false;
}

void qe_arr_end(qd_emit *e)
{
    if (e->depth > 0)
        e->depth--;
    fputc(']', e->f);
}

void qe_obj_begin(qd_emit *e, const char *name)
{
    qe_name(e, name);
    fputc('{', e->f);
    if (e->depth + 1 < QD_EMIT_DEPTH_MAX)
        e->depth++;
    e->need_sep[e->depth] = false;
}

void qe_obj_end(qd_emit *e)
{
    if (e->depth > 0)
        e->depth--;
    fputc('}', e->f);
}

void qe_strv(qd_emit *e, const char *name, char *const *v, size_t n)
{
    qe_arr_begin(e, name);
    for (size_t i = 0; i < n; i++) {
        qe_sep(e);
        qd_json_string(e->f, v[i] ? v[i] : "");
    }
    qe_arr_end(e);
}

void qe_i64v(qd_emit *e, const char *name, const int64_t *v, size_t n)
{
    qe_arr_begin(e, name);
    for (size_t i = 0; i < n; i++) {
        qe_sep(e);
        fprintf(e->f, "%" PRId64, v[i]);
    }
    qe_arr_end(e);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid
 * (overlong forms, surrogates and values above U+10FFFF included). */
static size_t qd_utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n = c >= 0xF0u ? 4 : c >= 0xE0u ? 3 : c >= 0xC2u ? 2 : 0;
    if (c > 0xF4u || n == 0)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & QD_UTF8_CONT_MASK) != QD_UTF8_CONT)
            return 0;
    if (n == 3 && ((c == 0xE0u && s[1] < 0xA0u) ||
                   (c == 0xEDu && s[1] >= 0xA0u)))
        return 0;
    if (n == 4 && ((c == 0xF0u && s[1] < 0x90u) ||
                   (c == 0xF4u && s[1] >= 0x90u)))
        return 0;
    return n;
}

void qd_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            p++;
        } else if (c <= QD_CTRL_MAX || c == QD_DEL) {
            fprintf(f, "\\u%04x", c);
            p++;
        } else if (c <= QD_ASCII_MAX) {
            fputc((int)c, f);
            p++;
        } else {
            size_t n = qd_utf8_len(p);
            if (n == 0) {
                fputs("\\ufffd", f);
                p++;
            } else {
                fwrite(p, 1, n, f);
                p += n;
            }
        }
    }
    fputc('"', f);
}
