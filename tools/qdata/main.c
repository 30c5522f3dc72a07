/* main.c -- quotad-data: verify, dump, inspect, snapshot and restore a
 * quotad data directory without a running daemon.
 *
 *   quotad-data COMMAND [options] ARGS...     (`quotad-data help`)
 *
 * Parses the command line once for every subcommand (each declares the
 * flags and positionals it takes), loads the at-rest key if one is given,
 * and maps every outcome to the documented exit codes (qdata.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "qdata.h"

/* One subcommand: its flags, how many positionals, its usage text. */
typedef struct qd_cmd {
    const char *name;
    int (*fn)(qd_opts *o);
    unsigned flags;
    int pos_min, pos_max;
    const char *usage;
} qd_cmd;

static const qd_cmd qd_cmds[] = {
    {"verify", qd_cmd_verify, QD_F_JSON | QD_F_KEY, 1, QD_POS_MAX,
     "usage: quotad-data verify PATH... [--json] [--key-file PATH]\n"
     "  PATH: a log segment (*.qlog), a snapshot (*.qsnap) or a data dir\n"
     "  (then every segment and snapshot in it, and a read-only replay).\n"
     "  Prints per file: kind, segno, chunks, records, first/last seq,\n"
     "  result and offsets. The worst file decides the exit code.\n"},
    {"dump", qd_cmd_dump, QD_F_JSON | QD_F_KEY, 1, 1,
     "usage: quotad-data dump PATH [--json] [--key-file PATH]\n"
     "  Every record of a segment, snapshot or data dir, one per line:\n"
     "  seq, time (UTC), type and fields (money in units with 6 decimals;\n"
     "  --json: one object per line, money in micro-units). Hashes and\n"
     "  idempotency answers are printed as hex; no secret is stored.\n"},
    {"state", qd_cmd_state, QD_F_JSON | QD_F_KEY | QD_F_DIR | QD_F_SNAPSHOT,
     0, 0,
     "usage: quotad-data state --dir DIR | --snapshot FILE [--json]"
     " [--key-file PATH]\n"
     "  Load a data dir (read-only, as the daemon would at start) or one\n"
     "  snapshot file, and print the whole state in a canonical order:\n"
     "  equal states print byte-for-byte equal output. Exit 1 if a torn\n"
     "  tail was found (the state is still printed), 2 if refused.\n"},
    {"snapshot", qd_cmd_snapshot, QD_F_JSON | QD_F_KEY | QD_F_DIR, 0, 0,
     "usage: quotad-data snapshot --dir DIR [--json] [--key-file PATH]\n"
     "  Offline: recover DIR as the daemon would (a torn tail is cut),\n"
     "  write a new snapshot and compact the log. The daemon must NOT be\n"
     "  running on DIR (to snapshot a running daemon use `quotadctl\n"
     "  snapshot`). DIR is flock()ed against other quotad-data runs, and\n"
     "  the command refuses if the newest segment is open elsewhere.\n"},
    {"restore", qd_cmd_restore, QD_F_JSON | QD_F_KEY | QD_F_DIR | QD_F_FORCE,
     1, 1,
     "usage: quotad-data restore SNAPFILE --dir NEWDIR [--force] [--json]"
     " [--key-file PATH]\n"
     "  Verify SNAPFILE, load it (progress on stderr), and write it as a\n"
     "  fresh snapshot into NEWDIR, ready for `quotad --data-dir NEWDIR`.\n"
     "  NEWDIR must not exist or be empty; --force allows other files in\n"
     "  it, but never segments or snapshots (nothing is overwritten).\n"},
};

static const char qd_help_main[] =
    "usage: quotad-data COMMAND [options] ARGS...\n"
    "\n"
    "Offline tool for quotad data directories (log segments log-N.qlog,\n"
    "snapshots snap-SEQ.qsnap). It uses the daemon's own reader and writer.\n"
    "\n"
    "commands:\n"
    "  verify PATH...                 check every chunk, checksum, record\n"
    "  dump PATH                      print every record (human or JSON)\n"
    "  state --dir DIR | --snapshot F canonical dump of the whole state\n"
    "  snapshot --dir DIR             offline snapshot + log compaction\n"
    "  restore SNAPFILE --dir NEWDIR  new data dir from a snapshot\n"
    "  help [COMMAND]                 this text, or one command's\n"
    "\n"
    "options (where a command takes them):\n"
    "  --json           JSON output, one object per line\n"
    "  --key-file PATH  32-byte key (raw or 64 hex, mode 600) of encrypted\n"
    "                   data (the daemon's encryption_key_file)\n"
    "\n"
    "exit codes (with several files, the highest applies):\n"
    "  0  ok (zeros after the last chunk of the newest log segment are\n"
    "     the unused preallocated space of a segment open at a crash)\n"
    "  1  torn tail found: recoverable, the daemon would cut it at start\n"
    "  2  corruption or inconsistency: the daemon would refuse to start\n"
    "  3  usage error (or a restore target that is not empty)\n"
    "  4  I/O error, or a missing, wrong or unreadable key\n";

static const char *qd_cur_cmd = NULL;

/* "quotad-data CMD: message" on stderr: every message names its command
 * so a script log reads on its own. */
static void qd_vmsg(const qd_opts *o, const char *fmt, va_list ap)
{
    const char *cmd = o && o->cmd ? o->cmd : qd_cur_cmd;
    fprintf(stderr, "%s%s%s: ", QD_PROG, cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int qd_usage(const qd_opts *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qd_vmsg(o, fmt, ap);
    va_end(ap);
    const char *cmd = o && o->cmd ? o->cmd : qd_cur_cmd;
    fprintf(stderr, "try '%s help%s%s'\n", QD_PROG, cmd ? " " : "",
            cmd ? cmd : "");
    return QD_EXIT_USAGE;
}

int qd_fail(const qd_opts *o, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qd_vmsg(o, fmt, ap);
    va_end(ap);
    return code;
}

const uint8_t *qd_key(const qd_opts *o)
{
    return o->has_key ? o->key : NULL;
}

int qd_worst(int a, int b)
{
    return a > b ? a : b;
}

/* The subcommand named name, or NULL. */
static const qd_cmd *qd_find(const char *name)
{
    for (size_t i = 0; i < sizeof qd_cmds / sizeof *qd_cmds; i++)
        if (strcmp(qd_cmds[i].name, name) == 0)
            return &qd_cmds[i];
    return NULL;
}

/* "help" and "help COMMAND". */
static int qd_help(int argc, char **argv)
{
    if (argc < 3) {
        fputs(qd_help_main, stdout);
        return QD_EXIT_OK;
    }
    const qd_cmd *c = qd_find(argv[2]);
    if (c == NULL)
        return qd_usage(NULL, "no such command '%s'", argv[2]);
    fputs(c->usage, stdout);
    return QD_EXIT_OK;
}

/* The value of a flag: "--flag=v" or the next word. NULL if missing. */
static const char *qd_flag_value(int argc, char **argv, int *i,
                                 const char *eq)
{
    if (eq != NULL)
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* One "--name[=value]" word; returns 0 or QD_EXIT_USAGE. */
static int qd_flag(const qd_cmd *c, qd_opts *o, int argc, char **argv,
                   int *i)
{
    const char *w = argv[*i] + 2;
    const char *eq = strchr(w, '=');
    size_t n = eq ? (size_t)(eq - w) : strlen(w);
    static const struct {
        const char *name;
        unsigned flag;
        bool takes_value;
    } fl[] = {
        {"json", QD_F_JSON, false},   {"key-file", QD_F_KEY, true},
        {"dir", QD_F_DIR, true},      {"snapshot", QD_F_SNAPSHOT, true},
        {"force", QD_F_FORCE, false},
    };
    for (size_t k = 0; k < sizeof fl / sizeof *fl; k++) {
        if (strlen(fl[k].name) != n || strncmp(fl[k].name, w, n) != 0 ||
            (c->flags & fl[k].flag) == 0)
            continue;
        if (!fl[k].takes_value) {
            if (eq != NULL)
                return qd_usage(o, "option '--%s' takes no value",
                                fl[k].name);
            o->json = o->json || fl[k].flag == QD_F_JSON;
            o->force = o->force || fl[k].flag == QD_F_FORCE;
            return 0;
        }
        const char *v = qd_flag_value(argc, argv, i, eq);
        if (v == NULL || *v == '\0')
            return qd_usage(o, "option '--%s' needs a value", fl[k].name);
        const char **dst = fl[k].flag == QD_F_KEY ? &o->key_file
                           : fl[k].flag == QD_F_DIR ? &o->dir
                                                    : &o->snapshot;
        *dst = v;
        return 0;
    }
    return qd_usage(o, "unknown option '%s'", argv[*i]);
}

/* Words after the command: flags anywhere, "--" ends them. */
static int qd_parse(const qd_cmd *c, qd_opts *o, int argc, char **argv)
{
    bool flags_done = false;
    for (int i = 2; i < argc; i++) {
        const char *w = argv[i];
        if (!flags_done && strcmp(w, "--") == 0) {
            flags_done = true;
        } else if (!flags_done && strncmp(w, "--", 2) == 0) {
            if (qd_flag(c, o, argc, argv, &i) != 0)
                return QD_EXIT_USAGE;
        } else if (o->npos >= c->pos_max) {
            return qd_usage(o, "unexpected argument '%s'", w);
        } else {
            o->pos[o->npos++] = w;
        }
    }
    if (o->npos < c->pos_min)
        return qd_usage(o, "missing argument");
    return QD_EXIT_OK;
}

/* --help / -h among a command's words shows that command's usage. */
static bool qd_wants_help(int argc, char **argv)
{
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* Load the key before any file is read: a bad key file is exit 4 at
 * once, not a confusing per-file key error. */
static int qd_load_key_file(qd_opts *o)
{
    if (o->key_file == NULL)
        return QD_EXIT_OK;
    segfile_status s = segfile_load_key(o->key_file, o->key);
    if (s != SEGFILE_OK)
        return qd_fail(o, QD_EXIT_IO, "key file %s: %s", o->key_file,
                       segfile_status_str(s));
    o->has_key = true;
    return QD_EXIT_OK;
}

/* Dispatch; split from main so the key is wiped on every path. */
static int qd_run(int argc, char **argv, qd_opts *o)
{
    if (argc < 2) {
        fputs(qd_help_main, stderr);
        return QD_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 ||
        strcmp(name, "-h") == 0)
        return qd_help(argc, argv);
    const qd_cmd *c = qd_find(name);
    if (c == NULL)
        return qd_usage(NULL, "unknown command '%s'", name);
    o->cmd = qd_cur_cmd = c->name;
    if (qd_wants_help(argc, argv)) {
        fputs(c->usage, stdout);
        return QD_EXIT_OK;
    }
    int code = qd_parse(c, o, argc, argv);
    if (code == QD_EXIT_OK)
        code = qd_load_key_file(o);
    if (code == QD_EXIT_OK)
        code = c->fn(o);
    return code;
}

/* Warnings only from the daemon's code (recovery notes go to stderr);
 * sodium must be initialised before segfile touches a key. */
int main(int argc, char **argv)
{
    static qd_opts o; /* holds the key: wiped before exit */
    log_set_level(LOG_WARN);
    if (sodium_init() < 0) {
        fprintf(stderr, "%s: sodium_init failed\n", QD_PROG);
        return QD_EXIT_IO;
    }
    int code = qd_run(argc, argv, &o);
    sodium_memzero(o.key, sizeof o.key);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: writing the output failed\n", QD_PROG);
        code = qd_worst(code, QD_EXIT_IO);
    }
    return code;
}
