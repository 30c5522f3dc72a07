/* args.c -- command-line scanning and strict value parsing for quotadctl.
 *
 * Hand-rolled rather than getopt_long: subcommands mix flags and
 * positionals freely, negative amounts ("-5.00") must stay positionals,
 * and the global options may appear anywhere.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define CTL_NS_PER_MS 1000000
#define CTL_DECIMAL_BASE 10u

void ctl_args_init(ctl_args *a, ctl_env *e, int argc, char **argv,
                   const char *cmd)
{
    memset(a, 0, sizeof *a);
    a->argc = argc;
    a->argv = argv;
    a->env = e;
    a->cmd = cmd;
}

int ctl_usage(const ctl_args *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s%s%s: ", CTL_PROG, a->cmd ? " " : "",
            a->cmd ? a->cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry '%s help%s%s'\n", CTL_PROG, a->cmd ? " " : "",
            a->cmd ? a->cmd : "");
    return CTL_EXIT_USAGE;
}

int ctl_unknown_flag(const ctl_args *a, const ctl_tok *t)
{
    if (t->flag == NULL)
        return ctl_usage(a, "unexpected argument '%s'", t->pos);
    return ctl_usage(a, "unknown option '--%.*s'", (int)t->flag_len,
                     t->flag);
}

bool ctl_flag_is(const ctl_tok *t, const char *name)
{
    return t->flag != NULL && strlen(name) == t->flag_len &&
           memcmp(t->flag, name, t->flag_len) == 0;
}

const char *ctl_flag_value(ctl_args *a, const ctl_tok *t)
{
    if (t->inline_val)
        return t->inline_val;
    if (a->i >= a->argc) {
        ctl_usage(a, "option '--%.*s' needs a value", (int)t->flag_len,
                  t->flag);
        return NULL;
    }
    return a->argv[a->i++];
}

bool ctl_flag_noval(ctl_args *a, const ctl_tok *t)
{
    if (t->inline_val == NULL)
        return true;
    ctl_usage(a, "option '--%.*s' takes no value", (int)t->flag_len,
              t->flag);
    return false;
}

int ctl_parse_u64(const ctl_args *a, const char *what, const char *s,
                  uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0') {
        ctl_usage(a, "%s: empty number", what);
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            ctl_usage(a, "%s: '%s' is not a non-negative integer", what, s);
            return -1;
        }
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (max - d) / CTL_DECIMAL_BASE) {
            ctl_usage(a, "%s: '%s' is too large (max %llu)", what, s,
                      (unsigned long long)max);
            return -1;
        }
        v = v * CTL_DECIMAL_BASE + d;
    }
    *out = v;
    return 0;
}

int ctl_parse_u32(const ctl_args *a, const char *what, const char *s,
                  uint32_t *out)
{
    uint64_t v;
    if (ctl_parse_u64(a, what, s, UINT32_MAX, &v) != 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int ctl_parse_amount(const ctl_args *a, const char *what, const char *s,
                     int64_t min, int64_t max, int64_t *out)
{
    int64_t v;
    ctl_amount_err e = ctl_amount_parse(s, &v);
    if (e != CTL_AMOUNT_OK) {
        ctl_usage(a, "%s: '%s': %s", what, s ? s : "",
                  ctl_amount_strerror(e));
        return -1;
    }
    if (v < min || v > max) {
        char lo[CTL_AMOUNT_BUF], hi[CTL_AMOUNT_BUF];
        ctl_usage(a, "%s: '%s' must be between %s and %s", what, s,
                  ctl_amount_format(min, lo), ctl_amount_format(max, hi));
        return -1;
    }
    *out = v;
    return 0;
}

int ctl_parse_limit(const ctl_args *a, const char *what, const char *s,
                    bool money, int64_t *out)
{
    if (s != NULL && strcmp(s, "none") == 0) {
        *out = -1;
        return 0;
    }
    if (money)
        return ctl_parse_amount(a, what, s, 0, INT64_MAX, out);
    uint64_t v;
    if (ctl_parse_u64(a, what, s, (uint64_t)INT64_MAX, &v) != 0)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int64_t ctl_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * CTL_MS_PER_SEC +
           (int64_t)ts.tv_nsec / CTL_NS_PER_MS;
}

/* Apply a global option if t is one. Returns 1 if handled, 0 if not a
 * global option, -1 on a bad value (usage printed). */
static int ctl_global_flag(ctl_args *a, const ctl_tok *t)
{
    ctl_env *e = a->env;
    if (ctl_flag_is(t, "json")) {
        if (!ctl_flag_noval(a, t))
            return -1;
        e->json = true;
        return 1;
    }
    bool host = ctl_flag_is(t, "host"), port = ctl_flag_is(t, "port");
    bool tmo = ctl_flag_is(t, "timeout") && !a->own_timeout;
    bool cred = ctl_flag_is(t, "credential-file");
    if (!host && !port && !tmo && !cred)
        return 0;
    const char *v = ctl_flag_value(a, t);
    if (v == NULL)
        return -1;
    if (cred && *v == '\0') {
        ctl_usage(a, "--credential-file: empty");
        return -1;
    }
    if (cred) {
        e->cred_path = v;
        return 1;
    }
    if (host && *v == '\0') {
        ctl_usage(a, "--host: empty");
        return -1;
    }
    if (host) {
        e->opt.host = v;
        return 1;
    }
    const char *what = port ? "--port" : "--timeout";
    uint64_t n;
    if (ctl_parse_u64(a, what, v, port ? CTL_PORT_MAX : UINT32_MAX, &n) != 0)
        return -1;
    if (n == 0) {
        ctl_usage(a, "%s must be > 0", what);
        return -1;
    }
    if (port)
        e->opt.port = (uint16_t)n;
    else
        e->opt.timeout_ms = (uint32_t)n;
    return 1;
}

/* Split "--name[=value]" into t. */
static void ctl_split_flag(const char *w, ctl_tok *t)
{
    const char *name = w + 2;
    const char *eq = strchr(name, '=');
    t->flag = name;
    t->flag_len = eq ? (size_t)(eq - name) : strlen(name);
    t->inline_val = eq ? eq + 1 : NULL;
    t->pos = NULL;
}

int ctl_arg_next(ctl_args *a, ctl_tok *t)
{
    while (a->i < a->argc) {
        const char *w = a->argv[a->i++];
        memset(t, 0, sizeof *t);
        if (!a->no_more_flags && strcmp(w, "--") == 0) {
            a->no_more_flags = true;
            continue;
        }
        if (a->no_more_flags || strncmp(w, "--", 2) != 0) {
            t->pos = w;
            return CTL_SCAN_TOKEN;
        }
        ctl_split_flag(w, t);
        if (t->flag_len == 0) {
            ctl_usage(a, "bad option '%s'", w);
            return CTL_SCAN_ERROR;
        }
        int g = ctl_global_flag(a, t);
        if (g < 0)
            return CTL_SCAN_ERROR;
        if (g == 0)
            return CTL_SCAN_TOKEN;
    }
    return CTL_SCAN_END;
}

int ctl_take_pos(ctl_args *a, const ctl_tok *t, const char **slots,
                 int max, int *n)
{
    if (t->flag != NULL || *n >= max) {
        ctl_unknown_flag(a, t);
        return -1;
    }
    slots[(*n)++] = t->pos;
    return 0;
}

int ctl_need_pos(const ctl_args *a, int n, int want, const char *names)
{
    if (n >= want)
        return 0;
    ctl_usage(a, "missing argument (expected %s)", names);
    return -1;
}

/* Word of the subcommand, or NULL (usage printed). */
static const char *ctl_subcommand(ctl_args *a)
{
    ctl_tok t;
    int s = ctl_arg_next(a, &t);
    if (s == CTL_SCAN_ERROR)
        return NULL;
    if (s == CTL_SCAN_END || t.flag != NULL) {
        ctl_usage(a, "missing subcommand");
        return NULL;
    }
    return t.pos;
}

int ctl_dispatch(ctl_env *e, ctl_args *a, const ctl_cmd *table, size_t n)
{
    const char *sub = ctl_subcommand(a);
    if (sub == NULL)
        return CTL_EXIT_USAGE;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].name, sub) != 0)
            continue;
        snprintf(a->cmd_buf, sizeof a->cmd_buf, "%s %s",
                 a->cmd ? a->cmd : "", sub);
        a->cmd = a->cmd_buf;
        return table[i].fn(e, a);
    }
    return ctl_usage(a, "unknown subcommand '%s'", sub);
}

int ctl_parse_id(const ctl_args *a, const char *what, const char *s,
                 uint64_t *out)
{
    if (ctl_parse_u64(a, what, s, UINT64_MAX, out) != 0)
        return -1;
    if (*out == 0) {
        ctl_usage(a, "%s must be > 0", what);
        return -1;
    }
    return 0;
}

int ctl_parse_ws_id(const ctl_args *a, const char *s, uint32_t *out)
{
    if (ctl_parse_u32(a, "WS_ID", s, out) != 0)
        return -1;
    if (*out == 0) {
        ctl_usage(a, "WS_ID must be > 0");
        return -1;
    }
    return 0;
}
