/* out.c -- human / JSON rendering, see out.h. */
#include "out.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "amount.h"

#define CTL_LABEL_BUF 64
#define CTL_DAY_BUF 24   /* "YYYY-MM-DDTHH:MM:SS" + NUL, with room */
#define CTL_MS_PER_S 1000
#define CTL_ASCII_DEL 0x7f
#define CTL_ASCII_SPACE 0x20
#define CTL_UTF8_CONT_LO 0x80
#define CTL_UTF8_CONT_HI 0xbf

void ctl_out_init(ctl_out *o, FILE *f, bool json)
{
    memset(o, 0, sizeof *o);
    o->f = f;
    o->json = json;
}

/* Length of the valid UTF-8 sequence starting at p (1..4), or 0 if the
 * bytes are not valid UTF-8. JSON output must be valid UTF-8, and names
 * come from a server that may not have checked. */
static size_t ctl_utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t need;
    unsigned char lo = CTL_UTF8_CONT_LO, hi = CTL_UTF8_CONT_HI;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef)
        need = 2;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 3;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i <= need; i++)
        if (p[i] < CTL_UTF8_CONT_LO || p[i] > CTL_UTF8_CONT_HI)
            return 0;
    return need + 1;
}

/* Escape one ASCII byte for JSON; printable bytes pass through. */
static void ctl_json_ascii(FILE *f, unsigned char c)
{
    if (c == '"' || c == '\\')
        fprintf(f, "\\%c", c);
    else if (c < CTL_ASCII_SPACE || c == CTL_ASCII_DEL)
        fprintf(f, "\\u%04x", (unsigned)c);
    else
        fputc(c, f);
}

void ctl_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    fputc('"', f);
    while (*p) {
        size_t n = ctl_utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
        } else if (n == 1) {
            ctl_json_ascii(f, *p++);
        } else {
            fwrite(p, 1, n, f);
            p += n;
        }
    }
    fputc('"', f);
}

void ctl_out_human_text(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "-");
    for (; *p; p++)
        fputc((*p < CTL_ASCII_SPACE || *p == CTL_ASCII_DEL) ? '?' : *p, f);
}

/* Left-aligned cell padded to width; longer text is printed whole so no
 * information is lost (the table just shifts). */
void ctl_out_human_cell(FILE *f, const char *s, int width)
{
    const char *t = (s && *s) ? s : "-";
    ctl_out_human_text(f, t);
    for (int n = (int)strlen(t); n < width; n++)
        fputc(' ', f);
}

char *ctl_fmt_time(int64_t ms, char buf[CTL_TIME_BUF])
{
    if (ms <= 0) {
        snprintf(buf, CTL_TIME_BUF, "never");
        return buf;
    }
    time_t secs = (time_t)(ms / CTL_MS_PER_S);
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, CTL_TIME_BUF, "%" PRId64, ms);
        return buf;
    }
    char day[CTL_DAY_BUF];
    if (strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        day[0] = '\0';
    snprintf(buf, CTL_TIME_BUF, "%s.%03dZ", day, (int)(ms % CTL_MS_PER_S));
    return buf;
}

/* Separator before a JSON member or element. */
static void ctl_json_sep(ctl_out *o)
{
    if (o->depth <= 0 || o->depth > CTL_OUT_DEPTH_MAX)
        return;
    if (o->need_comma[o->depth - 1])
        fputc(',', o->f);
    o->need_comma[o->depth - 1] = true;
}

/* Inside an array elements have no names (lets one renderer serve both a
 * single object and list elements). */
static bool ctl_in_array(const ctl_out *o)
{
    int d = o->depth - 1;
    return d >= 0 && d < CTL_OUT_DEPTH_MAX && o->closer[d] == ']';
}

/* Emit `"name":` (or nothing inside an array) after the separator. */
static void ctl_json_key(ctl_out *o, const char *name)
{
    ctl_json_sep(o);
    if (name && !ctl_in_array(o)) {
        ctl_json_string(o->f, name);
        fputc(':', o->f);
    }
}

/* Derive the human label from a JSON name; time fields drop their unit
 * suffix because the value is rendered as a date. */
static void ctl_label(const char *name, bool is_time, char buf[CTL_LABEL_BUF])
{
    snprintf(buf, CTL_LABEL_BUF, "%s", name ? name : "");
    size_t n = strlen(buf);
    static const char *const suffixes[] = {"_at_ms", "_ms"};
    for (size_t i = 0; is_time && i < sizeof suffixes / sizeof *suffixes;
         i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(buf + n - k, suffixes[i]) == 0) {
            buf[n - k] = '\0';
            break;
        }
    }
    for (char *p = buf; *p; p++)
        if (*p == '_')
            *p = ' ';
}

/* Print "label:" padded to the value column. */
static void ctl_human_label(ctl_out *o, const char *name, bool is_time)
{
    char label[CTL_LABEL_BUF];
    ctl_label(name, is_time, label);
    size_t n = strlen(label);
    fprintf(o->f, "%s:", label);
    for (size_t i = n + 1; i < CTL_OUT_LABEL_WIDTH; i++)
        fputc(' ', o->f);
    fputc(' ', o->f);
}

/* Open a JSON container, refusing to nest beyond the fixed depth. */
static void ctl_json_open(ctl_out *o, const char *name, char ch)
{
    if (!o->json)
        return;
    if (o->depth > 0)
        ctl_json_key(o, name);
    fputc(ch, o->f);
    if (o->depth < CTL_OUT_DEPTH_MAX) {
        o->need_comma[o->depth] = false;
        o->closer[o->depth] = (ch == '{') ? '}' : ']';
    }
    o->depth++;
}

/* Close the innermost container with the bracket that matches it. */
static void ctl_json_close(ctl_out *o)
{
    if (!o->json || o->depth == 0)
        return;
    o->depth--;
    fputc(o->depth < CTL_OUT_DEPTH_MAX ? o->closer[o->depth] : '}', o->f);
}

void ctl_out_begin(ctl_out *o)
{
    o->depth = 0;
    ctl_json_open(o, NULL, '{');
}

void ctl_out_end(ctl_out *o)
{
    while (o->json && o->depth > 0)
        ctl_json_close(o);
    if (o->json)
        fputc('\n', o->f);
    fflush(o->f);
}

void ctl_out_obj_begin(ctl_out *o, const char *name)
{
    ctl_json_open(o, name, '{');
}

void ctl_out_obj_end(ctl_out *o)
{
    ctl_json_close(o);
}

void ctl_out_arr_begin(ctl_out *o, const char *name)
{
    ctl_json_open(o, name, '[');
}

void ctl_out_arr_end(ctl_out *o)
{
    ctl_json_close(o);
}

void ctl_out_str(ctl_out *o, const char *name, const char *v)
{
    if (o->json) {
        ctl_json_key(o, name);
        ctl_json_string(o->f, v);
        return;
    }
    ctl_human_label(o, name, false);
    ctl_out_human_text(o->f, (v && *v) ? v : "-");
    fputc('\n', o->f);
}

void ctl_out_i64(ctl_out *o, const char *name, int64_t v)
{
    if (o->json) {
        ctl_json_key(o, name);
        fprintf(o->f, "%" PRId64, v);
        return;
    }
    ctl_human_label(o, name, false);
    fprintf(o->f, "%" PRId64 "\n", v);
}

void ctl_out_u64(ctl_out *o, const char *name, uint64_t v)
{
    if (o->json) {
        ctl_json_key(o, name);
        fprintf(o->f, "%" PRIu64, v);
        return;
    }
    ctl_human_label(o, name, false);
    fprintf(o->f, "%" PRIu64 "\n", v);
}

void ctl_out_bool(ctl_out *o, const char *name, bool v)
{
    if (o->json) {
        ctl_json_key(o, name);
        fputs(v ? "true" : "false", o->f);
        return;
    }
    ctl_human_label(o, name, false);
    fputs(v ? "yes\n" : "no\n", o->f);
}

void ctl_out_money(ctl_out *o, const char *name, int64_t micro)
{
    if (o->json) {
        ctl_out_i64(o, name, micro);
        return;
    }
    char buf[CTL_AMOUNT_BUF];
    ctl_human_label(o, name, false);
    fprintf(o->f, "%s (%" PRId64 " micro)\n", ctl_amount_format(micro, buf),
            micro);
}

void ctl_out_limit_money(ctl_out *o, const char *name, int64_t micro)
{
    if (o->json || micro >= 0) {
        ctl_out_money(o, name, micro);
        return;
    }
    ctl_human_label(o, name, false);
    fputs("unlimited\n", o->f);
}

void ctl_out_limit_count(ctl_out *o, const char *name, int64_t v)
{
    if (o->json || v >= 0) {
        ctl_out_i64(o, name, v);
        return;
    }
    ctl_human_label(o, name, false);
    fputs("unlimited\n", o->f);
}

void ctl_out_time(ctl_out *o, const char *name, int64_t ms)
{
    if (o->json) {
        ctl_out_i64(o, name, ms);
        return;
    }
    char buf[CTL_TIME_BUF];
    ctl_human_label(o, name, true);
    if (ms > 0)
        fprintf(o->f, "%s (%" PRId64 ")\n", ctl_fmt_time(ms, buf), ms);
    else
        fputs("never\n", o->f);
}

void ctl_out_strv(ctl_out *o, const char *name, char *const *v, size_t n)
{
    if (o->json) {
        ctl_out_arr_begin(o, name);
        for (size_t i = 0; i < n; i++)
            ctl_out_str(o, NULL, v[i]);
        ctl_out_arr_end(o);
        return;
    }
    ctl_human_label(o, name, false);
    if (n == 0)
        fputs("(any)", o->f);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputs(", ", o->f);
        ctl_out_human_text(o->f, v[i]);
    }
    fputc('\n', o->f);
}

void ctl_out_meta(ctl_out *o, const char *name, Quotad__KeyValue *const *kv,
                  size_t n)
{
    if (o->json) {
        ctl_out_obj_begin(o, name);
        for (size_t i = 0; i < n; i++)
            ctl_out_str(o, kv[i]->key ? kv[i]->key : "", kv[i]->value);
        ctl_out_obj_end(o);
        return;
    }
    ctl_human_label(o, name, false);
    if (n == 0)
        fputs("(none)", o->f);
    for (size_t i = 0; i < n; i++) {
        fputs(i > 0 ? ", " : "", o->f);
        ctl_out_human_text(o->f, kv[i]->key);
        fputc('=', o->f);
        ctl_out_human_text(o->f, kv[i]->value);
    }
    fputc('\n', o->f);
}
