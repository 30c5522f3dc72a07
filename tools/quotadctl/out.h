/* out -- one output layer for quotadctl, human or JSON.
 *
 * Commands describe a result once, field by field; the layer renders it
 * either as aligned "label: value" lines (human) or as one JSON object on
 * a line (--json). Field names are the JSON keys ("quota_remaining"); the
 * human label is derived from them ('_' -> ' ', time fields drop their
 * "_at_ms"/"_ms" suffix).
 *
 *   ctl_out o; ctl_out_init(&o, stdout, json);
 *   ctl_out_begin(&o);
 *   ctl_out_money(&o, "balance", 12500000);
 *   ctl_out_end(&o);
 * human: "balance:             12.500000 (12500000 micro)"
 * json:  {"balance":12500000}
 *
 * Objects and arrays only nest in JSON; in human mode they render nothing
 * themselves (tables are printed by the caller with ctl_out_human_*).
 * Strings are escaped for JSON (", \, control chars as \u00XX, invalid
 * UTF-8 as \ufffd) and stripped of control chars for a terminal.
 */
#ifndef CTL_OUT_H
#define CTL_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "quotad.pb-c.h"

#define CTL_OUT_DEPTH_MAX 8        /* JSON nesting we ever produce */
#define CTL_OUT_LABEL_WIDTH 20     /* human "label:" column */

typedef struct ctl_out {
    FILE *f;
    bool json;
    int depth;                            /* open JSON containers */
    bool need_comma[CTL_OUT_DEPTH_MAX];   /* per open container */
    char closer[CTL_OUT_DEPTH_MAX];       /* '}' or ']' per container */
} ctl_out;

void ctl_out_init(ctl_out *o, FILE *f, bool json);

/* The outer JSON object of a command ("{" ... "}\n"). */
void ctl_out_begin(ctl_out *o);
void ctl_out_end(ctl_out *o);

/* Nested JSON containers; name is NULL inside an array. */
void ctl_out_obj_begin(ctl_out *o, const char *name);
void ctl_out_obj_end(ctl_out *o);
void ctl_out_arr_begin(ctl_out *o, const char *name);
void ctl_out_arr_end(ctl_out *o);

/* Scalar fields. A NULL string prints as "" (JSON) / "-" (human). */
void ctl_out_str(ctl_out *o, const char *name, const char *v);
void ctl_out_i64(ctl_out *o, const char *name, int64_t v);
void ctl_out_u64(ctl_out *o, const char *name, uint64_t v);
void ctl_out_bool(ctl_out *o, const char *name, bool v);
/* Money: human "12.500000 (12500000 micro)", JSON the micro integer. */
void ctl_out_money(ctl_out *o, const char *name, int64_t micro);
/* Limits where -1 (any negative) means none: human "unlimited", JSON
 * -1. */
void ctl_out_limit_money(ctl_out *o, const char *name, int64_t micro);
void ctl_out_limit_count(ctl_out *o, const char *name, int64_t v);
/* Unix ms: human ISO-8601 UTC ("never" for 0), JSON the number. */
void ctl_out_time(ctl_out *o, const char *name, int64_t ms);
/* String list: human comma-joined or "(any)", JSON array. */
void ctl_out_strv(ctl_out *o, const char *name, char *const *v, size_t n);
/* Metadata pairs: human "k=v, ..." or "(none)", JSON object. */
void ctl_out_meta(ctl_out *o, const char *name, Quotad__KeyValue *const *kv,
                  size_t n);

/* Human-only helpers for tables and free text. */
void ctl_out_human_cell(FILE *f, const char *s, int width);
/* Write s for a terminal: control characters become '?'. */
void ctl_out_human_text(FILE *f, const char *s);

/* Formatting helpers shared with tables. */
#define CTL_TIME_BUF 40
char *ctl_fmt_time(int64_t ms, char buf[CTL_TIME_BUF]);

/* JSON string literal (with quotes) of s, written to f. */
void ctl_json_string(FILE *f, const char *s);

#endif
