/* ctl.h -- internal interfaces of quotadctl (the admin CLI).
 *
 * Flow: main.c reads global options and dispatches COMMAND to a cmd_*
 * function. A command first parses all of its arguments (a usage error
 * exits 2 before any connection is made), then connects lazily with
 * ctl_conn(), sends its request(s) and renders the reply through out.h.
 *
 * Argument scanning (args.c) is shared: ctl_arg_next() yields flags and
 * positionals in order and applies the global options (--host, --port,
 * --timeout, --json, --credential-file) wherever they appear.
 */
#ifndef CTL_CTL_H
#define CTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quotad.h"
#include "qc_admin.h"

#include "amount.h"
#include "out.h"

/* Exit codes (documented in `quotadctl help`). */
enum ctl_exit {
    CTL_EXIT_OK = 0,         /* success (and check allowed) */
    CTL_EXIT_SERVER = 1,     /* server answered with an error code */
    CTL_EXIT_USAGE = 2,      /* bad command line */
    CTL_EXIT_TRANSPORT = 3,  /* connect / I/O / timeout / protocol */
    CTL_EXIT_DENIED = 4,     /* check answered with a deny decision */
};

#define CTL_PROG "quotadctl"
#define CTL_MS_PER_SEC INT64_C(1000)
#define CTL_PORT_MAX 65535u
#define CTL_CMD_BUF 32           /* "key revoke" etc. */

typedef struct ctl_env {
    qc_options opt;
    bool json;
    qc_ctx *conn;        /* NULL until ctl_conn() */
    ctl_out out;         /* stdout, human or JSON */
    const char *cred_path;   /* --credential-file / QUOTAD_CREDENTIAL_FILE */
    char cred[QC_CREDENTIAL_CHARS_MAX + 1]; /* read once, wiped after HELLO */
} ctl_env;

/* Cursor over the words of one command. */
typedef struct ctl_args {
    int argc;
    char **argv;
    int i;               /* next word */
    ctl_env *env;
    const char *cmd;     /* "key create": for usage messages and help */
    bool no_more_flags;  /* after "--" */
    bool own_timeout;    /* the command reads --timeout itself (watch) */
    char cmd_buf[CTL_CMD_BUF];
} ctl_args;

/* One scanned word: a flag (name without "--", optional "=value") or a
 * positional. */
typedef struct ctl_tok {
    const char *flag;        /* NULL for a positional */
    size_t flag_len;
    const char *inline_val;  /* text after '=' in "--flag=value", or NULL */
    const char *pos;         /* the positional word */
} ctl_tok;

enum ctl_scan {
    CTL_SCAN_END = 0,
    CTL_SCAN_TOKEN = 1,
    CTL_SCAN_ERROR = -1,     /* usage error already printed */
};

/* ---- args.c ---- */
void ctl_args_init(ctl_args *a, ctl_env *e, int argc, char **argv,
                   const char *cmd);
int ctl_arg_next(ctl_args *a, ctl_tok *t);
bool ctl_flag_is(const ctl_tok *t, const char *name);
/* Value of a flag that takes one; NULL (usage printed) if missing. */
const char *ctl_flag_value(ctl_args *a, const ctl_tok *t);
/* A flag that takes no value was given one ("--admin=x"). */
bool ctl_flag_noval(ctl_args *a, const ctl_tok *t);
/* Print "quotadctl CMD: message" and a hint; returns CTL_EXIT_USAGE. */
int ctl_usage(const ctl_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int ctl_unknown_flag(const ctl_args *a, const ctl_tok *t);

/* A command or subcommand handler and its table entry. */
typedef int (*ctl_cmd_fn)(ctl_env *e, ctl_args *a);
typedef struct ctl_cmd {
    const char *name;
    ctl_cmd_fn fn;
} ctl_cmd;

/* Read the subcommand word of group a->cmd ("create" in "ws create"),
 * find it in table, extend a->cmd and run it. Usage error (2) if the word
 * is missing or unknown. */
int ctl_dispatch(ctl_env *e, ctl_args *a, const ctl_cmd *table, size_t n);

/* Store positional t->pos in slots[*n] (at most max); usage error (and
 * -1) for an unexpected flag or one positional too many. */
int ctl_take_pos(ctl_args *a, const ctl_tok *t, const char **slots,
                 int max, int *n);
/* All `want` positionals present? names is e.g. "WS_ID AMT". */
int ctl_need_pos(const ctl_args *a, int n, int want, const char *names);

/* Strict decimal parsers (digits only); 0 or -1 (usage printed). */
int ctl_parse_u64(const ctl_args *a, const char *what, const char *s,
                  uint64_t max, uint64_t *out);
int ctl_parse_u32(const ctl_args *a, const char *what, const char *s,
                  uint32_t *out);
/* A non-zero uint64 id (KEY_ID, HOLD_ID); 0 or -1 (usage printed). */
int ctl_parse_id(const ctl_args *a, const char *what, const char *s,
                 uint64_t *out);
/* A non-zero workspace id; 0 or -1 (usage printed). */
int ctl_parse_ws_id(const ctl_args *a, const char *s, uint32_t *out);
/* Amount with bounds (see amount.h); 0 or -1 (usage printed). */
int ctl_parse_amount(const ctl_args *a, const char *what, const char *s,
                     int64_t min, int64_t max, int64_t *out);
/* Value of a numeric-limit flag: "none" -> -1 (clear), else a count or an
 * amount (>= 0). */
int ctl_parse_limit(const ctl_args *a, const char *what, const char *s,
                    bool money, int64_t *out);
/* Current wall clock, Unix ms. */
int64_t ctl_now_ms(void);

/* ---- main.c ---- */
/* The output layer, in the mode the options finally asked for (--json may
 * come after the command). */
ctl_out *ctl_o(ctl_env *e);
/* Connect on first use; returns 0 or CTL_EXIT_TRANSPORT (printed). */
int ctl_conn(ctl_env *e);
/* Turn a libquotad return code into an exit code. On a server error
 * prints "error: <code>: <message>" (and a JSON error object with
 * --json); on a client error prints the transport error. r may be NULL. */
int ctl_result(ctl_env *e, int rc, const Quotad__Reply *r);
/* The reply must carry result `want`; otherwise a protocol error (3). */
int ctl_expect(ctl_env *e, const Quotad__Reply *r,
               Quotad__Reply__ResultCase want);
/* Frees r (NULL ok) and returns code: keeps command bodies short. */
int ctl_done(Quotad__Reply *r, int code);

/* ---- show.c: rendering replies ---- */
/* Open a successful command's output ({"ok":true with --json) and close
 * it with the reply's seq. */
void ctl_show_begin(ctl_out *o);
void ctl_show_end(ctl_out *o, const Quotad__Reply *r);
void ctl_show_workspace(ctl_out *o, const Quotad__WorkspaceInfo *w);
void ctl_show_key(ctl_out *o, const Quotad__KeyInfo *k);
/* Key plus its one-time secret and the "not shown again" notice. */
void ctl_show_key_secret(ctl_out *o, const Quotad__KeySecret *ks);
void ctl_show_check(ctl_out *o, const Quotad__CheckReply *c);
void ctl_show_settle(ctl_out *o, const Quotad__SettleReply *s);
/* Human table of keys (header + one row each). */
void ctl_show_key_table(FILE *f, Quotad__KeyInfo *const *keys, size_t n);
const char *ctl_status_name(int status);   /* "enabled"... */
const char *ctl_kind_name(int kind);       /* "standard" / "admin" */

/* ---- cred.c ---- */
/* Read e->cred_path (if set) into e->cred and point e->opt.credential at
 * it. The file must be a regular file not readable by group/others and
 * hold one line of 1..QC_CREDENTIAL_CHARS_MAX bytes (surrounding blanks
 * trimmed). Its content is never printed. Returns 0 or CTL_EXIT_USAGE. */
int ctl_cred_load(ctl_env *e);
/* Wipe the credential from memory (after HELLO). */
void ctl_cred_wipe(ctl_env *e);

/* ---- help.c ---- */
/* help [COMMAND]; returns CTL_EXIT_OK or CTL_EXIT_USAGE. */
int ctl_cmd_help(ctl_env *e, ctl_args *a);
/* Print the short usage of a command group ("key") to f. */
void ctl_help_topic(FILE *f, const char *topic);

/* ---- commands ---- */
int ctl_cmd_ping(ctl_env *e, ctl_args *a);
int ctl_cmd_ws(ctl_env *e, ctl_args *a);
int ctl_cmd_wallet(ctl_env *e, ctl_args *a);
int ctl_cmd_key(ctl_env *e, ctl_args *a);       /* cmd_key.c: dispatch */
int ctl_key_create(ctl_env *e, ctl_args *a);    /* cmd_key.c */
int ctl_key_update(ctl_env *e, ctl_args *a);    /* cmd_key.c */
/* Print a key or key_secret reply (checked), free it; the exit code. */
int ctl_key_reply(ctl_env *e, int rc, Quotad__Reply *r,
                  Quotad__Reply__ResultCase want);
int ctl_key_get(ctl_env *e, ctl_args *a);       /* cmd_keyops.c */
int ctl_key_list(ctl_env *e, ctl_args *a);      /* cmd_keyops.c */
int ctl_key_rotate(ctl_env *e, ctl_args *a);    /* cmd_keyops.c */
/* enable/disable/revoke/delete, one or many ids (batched). */
int ctl_key_lifecycle(ctl_env *e, ctl_args *a, Quotad__Request__OpCase op);
int ctl_cmd_check(ctl_env *e, ctl_args *a);
int ctl_cmd_settle(ctl_env *e, ctl_args *a);
int ctl_cmd_void(ctl_env *e, ctl_args *a);
int ctl_cmd_usage(ctl_env *e, ctl_args *a);     /* cmd_usage.c */
int ctl_cmd_alert(ctl_env *e, ctl_args *a);     /* cmd_alert.c */
int ctl_cmd_watch(ctl_env *e, ctl_args *a);     /* cmd_alert.c */
const char *ctl_role_name(int role);            /* show.c: "admin"... */
int ctl_cmd_snapshot(ctl_env *e, ctl_args *a);   /* cmd_snapshot.c */
int ctl_cmd_stats(ctl_env *e, ctl_args *a);      /* cmd_stats.c */

#endif
