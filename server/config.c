/* config -- daemon configuration (see config.h).
 *
 * One table, cfg_opts[], describes every option: its name, type, field,
 * default, valid range and help text. Defaults, the config file, the
 * command line, --help and config_validate all walk that table, so an
 * option added to it is parsed, documented and checked everywhere at once.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgfile.h"
#include "limits.h"
#include "log.h"
#include "plog.h"

/* Longest option name (with "--" stripped) we bother to look up. */
#define CFG_NAME_BYTES_MAX 64u
/* Longest value echoed back in an error message. */
#define CFG_ECHO_CHARS_MAX 64

typedef enum cfg_type { CFG_STR, CFG_U32, CFG_I64 } cfg_type;

/* Extra check for a string option; returns 0 or -1 with a reason. */
typedef int (*cfg_check_fn)(const char *v, char *why, size_t why_cap);

/* One row per option. For CFG_STR, min/max bound the length in bytes;
 * for numbers they bound the value. Both are enforced by config_validate,
 * so a config built in code is checked the same way as a parsed one. */
typedef struct cfg_opt {
    const char *name;        /* canonical spelling, '_' separated */
    cfg_type type;
    size_t off, size;        /* the field inside qd_config */
    int64_t def_num;         /* default for numbers */
    const char *def_str;     /* default for strings */
    int64_t min, max;
    cfg_check_fn check;      /* NULL or an extra string check */
    const char *help;
} cfg_opt;

static int cfg_check_prefix(const char *v, char *why, size_t why_cap);
static int cfg_check_fsync(const char *v, char *why, size_t why_cap);

#define CFG_FIELD(f) offsetof(qd_config, f), sizeof(((qd_config *)0)->f)
#define CFG_STRLEN_MAX(f) ((int64_t)sizeof(((qd_config *)0)->f) - 1)

static const cfg_opt cfg_opts[] = {
    {"host", CFG_STR, CFG_FIELD(host), 0, DEFAULT_HOST, 1,
     CFG_STRLEN_MAX(host), NULL, "listen address, IPv4 or IPv6"},
    {"port", CFG_U32, CFG_FIELD(port), DEFAULT_PORT, NULL, 0, 65535, NULL,
     "TCP port; 0 = pick a free one (see port_file)"},
    {"port_file", CFG_STR, CFG_FIELD(port_file), 0, "", 0,
     CFG_STRLEN_MAX(port_file), NULL,
     "write the bound port here once listening (atomic rename)"},
    {"pid_file", CFG_STR, CFG_FIELD(pid_file), 0, "", 0,
     CFG_STRLEN_MAX(pid_file), NULL, "write the process id here"},
    {"data_dir", CFG_STR, CFG_FIELD(data_dir), 0, DEFAULT_DATA_DIR, 1,
     CFG_STRLEN_MAX(data_dir), NULL,
     "directory for the log and snapshots (created if missing)"},
    {"workers", CFG_U32, CFG_FIELD(workers), 0, NULL, 0, WORKERS_MAX, NULL,
     "network worker threads; 0 = one per core"},
    {"shards", CFG_U32, CFG_FIELD(shards), SHARDS_DEFAULT, NULL, 1,
     SHARDS_MAX, NULL, "store shards (each has its own lock)"},
    {"conns_per_ip_max", CFG_U32, CFG_FIELD(conns_per_ip_max), 0, NULL, 0,
     CONNS_MAX_LIMIT, NULL,
     "connections one client address may hold; 0 = no per-address limit"},
    {"conns_max", CFG_U32, CFG_FIELD(conns_max), CONNS_MAX_DEFAULT, NULL, 1,
     CONNS_MAX_LIMIT, NULL, "connections open at once; more are closed"},
    {"idle_timeout_ms", CFG_U32, CFG_FIELD(idle_timeout_ms),
     CONN_IDLE_TIMEOUT_MS_DEFAULT, NULL, 0, CONN_TIMEOUT_MS_MAX, NULL,
     "close a connection that sends nothing this long; 0 = never"},
    {"write_timeout_ms", CFG_U32, CFG_FIELD(write_timeout_ms),
     CONN_WRITE_TIMEOUT_MS_DEFAULT, NULL, 1, CONN_TIMEOUT_MS_MAX, NULL,
     "close a client that reads no reply bytes this long"},
    {"hold_timeout_ms", CFG_U32, CFG_FIELD(hold_timeout_ms),
     HOLD_TIMEOUT_MS_DEFAULT, NULL, 1, HOLD_TIMEOUT_MS_MAX, NULL,
     "default lifetime of a hold"},
    {"idem_window_ms", CFG_U32, CFG_FIELD(idem_window_ms),
     IDEM_WINDOW_MS_DEFAULT, NULL, 1, IDEM_WINDOW_MS_MAX, NULL,
     "how long idempotent answers are remembered"},
    {"idem_entries_per_shard", CFG_U32, CFG_FIELD(idem_entries_per_shard),
     IDEM_ENTRIES_PER_SHARD_MAX, NULL, 1, IDEM_ENTRIES_PER_SHARD_MAX, NULL,
     "idempotent answers kept per shard (oldest dropped first)"},
    {"max_keys_default", CFG_U32, CFG_FIELD(max_keys_default),
     WORKSPACE_MAX_KEYS_DEFAULT, NULL, 1, WORKSPACE_MAX_KEYS_LIMIT, NULL,
     "max keys of a workspace created without one"},
    {"settle_overrun_micro", CFG_I64, CFG_FIELD(settle_overrun_micro),
     SETTLE_OVERRUN_MICRO_DEFAULT, NULL, 0, AMOUNT_MICRO_MAX, NULL,
     "settle may charge this much above the hold (micro-units)"},
    {"key_prefix", CFG_STR, CFG_FIELD(key_prefix), 0, "sk-", 1,
     KEY_PREFIX_BYTES_MAX, cfg_check_prefix,
     "prefix of issued secrets: 1..16 of [A-Za-z0-9_-]"},
    {"fsync", CFG_STR, CFG_FIELD(fsync), 0, "always", 1,
     CFG_STRLEN_MAX(fsync), cfg_check_fsync,
     "log durability: always | everysec | no"},
    {"persist", CFG_U32, CFG_FIELD(persist), 1, NULL, 0, 1, NULL,
     "1: append-only log and snapshots in data_dir; 0: memory only"},
    {"repair", CFG_U32, CFG_FIELD(repair), 0, NULL, 0, 1, NULL,
     "1: at start, cut the log at a corrupt chunk (data after it is lost)"},
    {"encryption_key_file", CFG_STR, CFG_FIELD(encryption_key_file), 0, "",
     0, CFG_STRLEN_MAX(encryption_key_file), NULL,
     "32-byte key (raw or 64 hex) to encrypt the log at rest; \"\" = off"},
    {"snapshot_log_bytes", CFG_I64, CFG_FIELD(snapshot_log_bytes),
     (int64_t)PLOG_SNAPSHOT_LOG_BYTES_DEFAULT, NULL, 0, INT64_C(1) << 40,
     NULL, "take a snapshot after this many log bytes; 0 = never"},
    {"snapshot_interval_s", CFG_U32, CFG_FIELD(snapshot_interval_s),
     PLOG_SNAPSHOT_INTERVAL_S_DEFAULT, NULL, 0, 86400 * 7, NULL,
     "and at least this often while changes arrive; 0 = never"},
    {"segment_bytes", CFG_I64, CFG_FIELD(segment_bytes),
     (int64_t)PLOG_SEGMENT_BYTES_DEFAULT, NULL, INT64_C(1) << 20,
     INT64_C(1) << 30, NULL, "start a new log segment above this size"},
    {"log_prealloc", CFG_U32, CFG_FIELD(log_prealloc), 1, NULL, 0, 1, NULL,
     "1: keep one zero-filled spare segment (segment_bytes of disk) ready, "
     "so commits overwrite instead of growing the file (faster fsyncs)"},
    {"root_credential_file", CFG_STR, CFG_FIELD(root_credential_file), 0,
     "", 0, CFG_STRLEN_MAX(root_credential_file), NULL,
     "file with the root credential; set = every connection must HELLO "
     "a credential (\"\" = open, loopback only)"},
    {"gateway_credential_file", CFG_STR, CFG_FIELD(gateway_credential_file),
     0, "", 0, CFG_STRLEN_MAX(gateway_credential_file), NULL,
     "file with a credential for gateways of every workspace"},
    {"unix_socket", CFG_STR, CFG_FIELD(unix_socket), 0, "", 0,
     CFG_STRLEN_MAX(unix_socket), NULL,
     "also listen on this Unix socket path (\"\" = no)"},
    {"unix_socket_mode", CFG_U32, CFG_FIELD(unix_socket_mode), 0600, NULL, 0,
     0777, NULL, "permissions of the Unix socket (decimal; 384 = 0600)"},
    {"test_hooks", CFG_U32, CFG_FIELD(test_hooks), 0, NULL, 0, 1, NULL,
     "1: accept the root-only debug_clock op (tests only; never in "
     "production)"},
    {"log_level", CFG_U32, CFG_FIELD(log_level), LOG_INFO, NULL, LOG_ERROR,
     LOG_DEBUG, NULL, "0 error, 1 warn, 2 info, 3 debug"},
};

#define CFG_OPTS_N (sizeof cfg_opts / sizeof cfg_opts[0])

_Static_assert(sizeof(((qd_config *)0)->key_prefix) ==
                   KEY_PREFIX_BYTES_MAX + 1,
               "key_prefix field holds the longest prefix");

/* ---- helpers ---------------------------------------------------------- */

/* snprintf into err if there is room; callers pass err_cap 0 to discard. */
__attribute__((format(printf, 3, 4)))
static void cfg_err(char *err, size_t err_cap, const char *fmt, ...)
{
    if (err == NULL || err_cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
}

/* Names compare with '-' and '_' alike, so "--data-dir" finds data_dir. */
static const cfg_opt *cfg_find(const char *name, size_t len)
{
    for (size_t i = 0; i < CFG_OPTS_N; i++) {
        const char *n = cfg_opts[i].name;
        if (strlen(n) != len)
            continue;
        size_t k = 0;
        while (k < len && (n[k] == name[k] ||
                           (n[k] == '_' && name[k] == '-')))
            k++;
        if (k == len)
            return &cfg_opts[i];
    }
    return NULL;
}

static void *cfg_field(qd_config *c, const cfg_opt *o)
{
    return (char *)c + o->off;
}

static const void *cfg_field_const(const qd_config *c, const cfg_opt *o)
{
    return (const char *)c + o->off;
}

/* Strict decimal: optional sign only for I64, no spaces, no suffix. */
static int cfg_parse_num(const char *v, bool is_signed, int64_t *out)
{
    if (v[0] == '\0' || (!is_signed && v[0] == '-') || v[0] == '+' ||
        v[0] == ' ' || v[0] == '\t')
        return -1;
    char *end = NULL;
    errno = 0;
    if (is_signed) {
        long long x = strtoll(v, &end, 10);
        if (errno != 0 || *end != '\0')
            return -1;
        *out = (int64_t)x;
        return 0;
    }
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || x > UINT32_MAX)
        return -1;
    *out = (int64_t)x;
    return 0;
}

/* Store one value into its field. Range checks are config_validate's job;
 * here only the syntax and the field size are checked. */
static int cfg_set(qd_config *c, const cfg_opt *o, const char *v, char *why,
                   size_t why_cap)
{
    int64_t x = 0;
    switch (o->type) {
    case CFG_STR:
        if (strlen(v) >= o->size) {
            cfg_err(why, why_cap, "value too long (max %zu bytes)",
                    o->size - 1);
            return -1;
        }
        memcpy(cfg_field(c, o), v, strlen(v) + 1);
        return 0;
    case CFG_U32:
        assert(o->size == sizeof(uint32_t));
        if (cfg_parse_num(v, false, &x) != 0) {
            cfg_err(why, why_cap, "'%.*s' is not an unsigned 32-bit number",
                    CFG_ECHO_CHARS_MAX, v);
            return -1;
        }
        *(uint32_t *)cfg_field(c, o) = (uint32_t)x;
        return 0;
    case CFG_I64:
        assert(o->size == sizeof(int64_t));
        if (cfg_parse_num(v, true, &x) != 0) {
            cfg_err(why, why_cap, "'%.*s' is not a 64-bit integer",
                    CFG_ECHO_CHARS_MAX, v);
            return -1;
        }
        *(int64_t *)cfg_field(c, o) = x;
        return 0;
    }
    assert(!"unknown option type");
    return -1;
}

static int cfg_check_prefix(const char *v, char *why, size_t why_cap)
{
    for (const char *p = v; *p != '\0'; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
        if (!ok) {
            cfg_err(why, why_cap, "only [A-Za-z0-9_-] allowed, got '%.*s'",
                    CFG_ECHO_CHARS_MAX, v);
            return -1;
        }
    }
    return 0;
}

static int cfg_check_fsync(const char *v, char *why, size_t why_cap)
{
    if (strcmp(v, "always") == 0 || strcmp(v, "everysec") == 0 ||
        strcmp(v, "no") == 0)
        return 0;
    cfg_err(why, why_cap, "'%.*s' is not one of always, everysec, no",
            CFG_ECHO_CHARS_MAX, v);
    return -1;
}

/* ---- defaults and validation ------------------------------------------ */

void config_defaults(qd_config *c)
{
    assert(c != NULL);
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < CFG_OPTS_N; i++) {
        const cfg_opt *o = &cfg_opts[i];
        if (o->type == CFG_STR) {
            assert(strlen(o->def_str) < o->size);
            memcpy(cfg_field(c, o), o->def_str, strlen(o->def_str) + 1);
        } else if (o->type == CFG_U32) {
            *(uint32_t *)cfg_field(c, o) = (uint32_t)o->def_num;
        } else {
            *(int64_t *)cfg_field(c, o) = o->def_num;
        }
    }
}

/* Check one option's value against its row. */
static int cfg_validate_one(const qd_config *c, const cfg_opt *o, char *err,
                            size_t err_cap)
{
    char why[160];
    if (o->type == CFG_STR) {
        const char *v = cfg_field_const(c, o);
        size_t len = strnlen(v, o->size);
        if (len == o->size || (int64_t)len < o->min ||
            (int64_t)len > o->max) {
            cfg_err(err, err_cap, "%s: length must be %" PRId64 "..%" PRId64
                    " bytes", o->name, o->min, o->max);
            return -1;
        }
        if (o->check != NULL && o->check(v, why, sizeof why) != 0) {
            cfg_err(err, err_cap, "%s: %s", o->name, why);
            return -1;
        }
        return 0;
    }
    int64_t x = o->type == CFG_U32 ? *(const uint32_t *)cfg_field_const(c, o)
                                   : *(const int64_t *)cfg_field_const(c, o);
    if (x < o->min || x > o->max) {
        cfg_err(err, err_cap, "%s: %" PRId64 " is out of range %" PRId64
                "..%" PRId64, o->name, x, o->min, o->max);
        return -1;
    }
    return 0;
}

int config_validate(const qd_config *c, char *err, size_t err_cap)
{
    assert(c != NULL);
    for (size_t i = 0; i < CFG_OPTS_N; i++)
        if (cfg_validate_one(c, &cfg_opts[i], err, err_cap) != 0)
            return -1;
    if (c->port_file[0] != '\0' && strcmp(c->port_file, c->pid_file) == 0) {
        cfg_err(err, err_cap, "port_file and pid_file must differ");
        return -1;
    }
    return 0;
}

/* ---- config file ------------------------------------------------------- */

/* cfgfile's setter: one "name = value" line of the file. */
static int cfg_file_set(void *arg, const char *name, const char *value,
                        char *why, size_t why_cap)
{
    const cfg_opt *o = cfg_find(name, strlen(name));
    if (o == NULL) {
        cfg_err(why, why_cap, "unknown option '%.*s'", CFG_ECHO_CHARS_MAX,
                name);
        return -1;
    }
    char sub[160];
    if (cfg_set(arg, o, value, sub, sizeof sub) != 0) {
        cfg_err(why, why_cap, "%s: %s", o->name, sub);
        return -1;
    }
    return 0;
}

int config_load_file(qd_config *c, const char *path, char *err,
                     size_t err_cap)
{
    assert(c != NULL && path != NULL);
    return cfgfile_read(path, cfg_file_set, c, err, err_cap);
}

/* ---- command line ------------------------------------------------------ */

/* One flag taken apart: "--name=value", "--name value" or "--help". */
typedef struct cfg_arg {
    char name[CFG_NAME_BYTES_MAX];
    const char *value;       /* NULL for --help */
} cfg_arg;

static bool cfg_is_help(const char *name)
{
    return strcmp(name, "help") == 0 || strcmp(name, "h") == 0;
}

/* Split argv[*i] (and maybe argv[*i+1]) into a; advances *i past what was
 * consumed. Every option except --help takes a value. */
static int cfg_next_arg(int argc, char **argv, int *i, cfg_arg *a,
                        char *err, size_t err_cap)
{
    const char *s = argv[*i];
    if (strcmp(s, "-h") == 0)
        s = "--help";
    if (strncmp(s, "--", 2) != 0 || s[2] == '\0') {
        cfg_err(err, err_cap, "unexpected argument '%.*s' (options look like "
                "--name value)", CFG_ECHO_CHARS_MAX, s);
        return -1;
    }
    s += 2;
    const char *eq = strchr(s, '=');
    size_t len = eq != NULL ? (size_t)(eq - s) : strlen(s);
    if (len == 0 || len >= sizeof a->name) {
        cfg_err(err, err_cap, "bad flag '--%.*s'", CFG_ECHO_CHARS_MAX, s);
        return -1;
    }
    memcpy(a->name, s, len);
    a->name[len] = '\0';
    *i += 1;
    if (eq != NULL) {
        a->value = eq + 1;
    } else if (cfg_is_help(a->name)) {
        a->value = NULL;
    } else if (*i < argc) {
        a->value = argv[*i];
        *i += 1;
    } else {
        cfg_err(err, err_cap, "--%s: missing value", a->name);
        return -1;
    }
    return 0;
}

static bool cfg_is_config(const char *name)
{
    return strcmp(name, "config") == 0;
}

static void cfg_print_help(const char *prog)
{
    printf("usage: %s [--config FILE] [--name VALUE | --name=VALUE]...\n\n"
           "Options are read from built-in defaults, then FILE, then the\n"
           "command line (later wins). In FILE write \"name = value\"; '-'\n"
           "and '_' in names are the same.\n\n"
           "  --%-24s %s\n", prog, "config FILE", "read options from FILE");
    for (size_t i = 0; i < CFG_OPTS_N; i++) {
        const cfg_opt *o = &cfg_opts[i];
        char flag[CFG_NAME_BYTES_MAX + 8];
        snprintf(flag, sizeof flag, "%s %s", o->name,
                 o->type == CFG_STR ? "STR" : "N");
        for (char *p = flag; *p != '\0'; p++)
            if (*p == '_')
                *p = '-';    /* flags are usually spelt with dashes */
        if (o->type == CFG_STR)
            printf("  --%-24s %s [default: \"%s\"]\n", flag, o->help,
                   o->def_str);
        else
            printf("  --%-24s %s [default: %" PRId64 "]\n", flag, o->help,
                   o->def_num);
    }
    printf("  --%-24s %s\n", "help", "print this and exit");
}

/* Pass 1: --help wins outright; --config files load in argv order. */
static int cfg_args_pass1(qd_config *c, int argc, char **argv, char *err,
                          size_t err_cap)
{
    cfg_arg a;
    for (int i = 1; i < argc;) {
        if (cfg_next_arg(argc, argv, &i, &a, err, err_cap) != 0)
            return -1;
        if (cfg_is_help(a.name)) {
            cfg_print_help(argc > 0 ? argv[0] : "quotad");
            return 1;
        }
    }
    for (int i = 1; i < argc;) {
        if (cfg_next_arg(argc, argv, &i, &a, err, err_cap) != 0)
            return -1;
        if (cfg_is_config(a.name) &&
            config_load_file(c, a.value, err, err_cap) != 0)
            return -1;
    }
    return 0;
}

int config_parse_args(qd_config *c, int argc, char **argv, char *err,
                      size_t err_cap)
{
    assert(c != NULL && argc >= 0);
    int rc = cfg_args_pass1(c, argc, argv, err, err_cap);
    if (rc != 0)
        return rc;
    cfg_arg a;
    char why[160];
    for (int i = 1; i < argc;) {
        if (cfg_next_arg(argc, argv, &i, &a, err, err_cap) != 0)
            return -1;
        if (cfg_is_config(a.name))
            continue;
        const cfg_opt *o = cfg_find(a.name, strlen(a.name));
        if (o == NULL) {
            cfg_err(err, err_cap, "unknown flag '--%s'", a.name);
            return -1;
        }
        if (cfg_set(c, o, a.value, why, sizeof why) != 0) {
            cfg_err(err, err_cap, "--%s: %s", a.name, why);
            return -1;
        }
    }
    return 0;
}
