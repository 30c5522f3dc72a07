/* main.c -- quotadctl: admin command-line client for quotad.
 *
 *   quotadctl [--host H] [--port P] [--timeout MS] [--json]
 *             [--credential-file PATH] COMMAND ...
 *
 * Reads the global options (and QUOTAD_HOST / QUOTAD_PORT /
 * QUOTAD_CREDENTIAL_FILE), dispatches the
 * command, and owns the shared connection and error reporting so every
 * command maps failures to the same exit codes (see ctl.h and `help`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define CTL_CLIENT_NAME "quotadctl"

static const ctl_cmd ctl_cmds[] = {
    {"ping", ctl_cmd_ping},     {"ws", ctl_cmd_ws},
    {"wallet", ctl_cmd_wallet}, {"key", ctl_cmd_key},
    {"check", ctl_cmd_check},   {"settle", ctl_cmd_settle},
    {"void", ctl_cmd_void},     {"help", ctl_cmd_help},
    {"snapshot", ctl_cmd_snapshot},
    {"stats", ctl_cmd_stats},
    {"usage", ctl_cmd_usage},   {"alert", ctl_cmd_alert},
    {"watch", ctl_cmd_watch},
};

ctl_out *ctl_o(ctl_env *e)
{
    e->out.json = e->json;
    return &e->out;
}

int ctl_conn(ctl_env *e)
{
    if (e->conn)
        return CTL_EXIT_OK;
    if (ctl_cred_load(e) != 0)
        return CTL_EXIT_USAGE;
    int rc = qc_connect(&e->opt, &e->conn);
    ctl_cred_wipe(e);
    if (rc == QC_OK)
        return CTL_EXIT_OK;
    e->conn = NULL;
    if (rc > 0)   /* the server answered HELLO: e.g. credential refused */
        return ctl_result(e, rc, NULL);
    fprintf(stderr, "error: cannot connect to %s:%u: %s\n",
            e->opt.host ? e->opt.host : "?", (unsigned)e->opt.port,
            qc_strerror(rc));
    return CTL_EXIT_TRANSPORT;
}

/* Server-side failure: stderr line always, a JSON object with --json so
 * scripts get one object per command either way. */
static int ctl_server_error(ctl_env *e, int rc, const Quotad__Reply *r)
{
    const char *msg = (r && r->error && *r->error) ? r->error
                      : e->conn                    ? qc_errstr(e->conn)
                                                   : "hello refused";
    const char *code = qc_code_str(rc);
    fprintf(stderr, "error: %s: ", code);
    ctl_out_human_text(stderr, msg);
    fputc('\n', stderr);
    if (e->json) {
        ctl_out *o = ctl_o(e);
        ctl_out_begin(o);
        ctl_out_bool(o, "ok", false);
        ctl_out_str(o, "code", code);
        ctl_out_str(o, "error", msg);
        if (r && r->has_seq)
            ctl_out_u64(o, "seq", r->seq);
        ctl_out_end(o);
    }
    return CTL_EXIT_SERVER;
}

int ctl_result(ctl_env *e, int rc, const Quotad__Reply *r)
{
    if (rc == QC_OK)
        return CTL_EXIT_OK;
    if (rc > 0)
        return ctl_server_error(e, rc, r);
    const char *detail = e->conn ? qc_errstr(e->conn) : "";
    fprintf(stderr, "error: %s%s", qc_strerror(rc), *detail ? ": " : "");
    ctl_out_human_text(stderr, detail);
    fputc('\n', stderr);
    return rc == QC_ERR_ARG ? CTL_EXIT_USAGE : CTL_EXIT_TRANSPORT;
}

int ctl_expect(ctl_env *e, const Quotad__Reply *r,
               Quotad__Reply__ResultCase want)
{
    (void)e;
    if (r != NULL && r->result_case == want)
        return CTL_EXIT_OK;
    fprintf(stderr, "error: protocol: unexpected reply from server\n");
    return CTL_EXIT_TRANSPORT;
}

int ctl_done(Quotad__Reply *r, int code)
{
    if (r)
        qc_reply_free(r);
    return code;
}

/* ping: round trip with the server, reporting the seq it is at. */
int ctl_cmd_ping(ctl_env *e, ctl_args *a)
{
    ctl_tok t;
    int s = ctl_arg_next(a, &t);
    if (s == CTL_SCAN_ERROR)
        return CTL_EXIT_USAGE;
    if (s == CTL_SCAN_TOKEN)
        return ctl_unknown_flag(a, &t);
    int rc = ctl_conn(e);
    if (rc != CTL_EXIT_OK)
        return rc;
    int64_t t0 = ctl_now_ms();
    rc = ctl_result(e, qc_ping(e->conn), NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    ctl_out *o = ctl_o(e);
    ctl_out_begin(o);
    if (o->json)
        ctl_out_bool(o, "ok", true);
    ctl_out_str(o, "reply", "pong");
    ctl_out_i64(o, "rtt_ms", ctl_now_ms() - t0);
    ctl_out_u64(o, "seq", qc_last_seq(e->conn));
    ctl_out_end(o);
    return CTL_EXIT_OK;
}

/* QUOTAD_HOST / QUOTAD_PORT / QUOTAD_CREDENTIAL_FILE give defaults;
 * command-line options win. */
static int ctl_env_defaults(ctl_env *e, const ctl_args *a)
{
    const char *host = getenv("QUOTAD_HOST");
    const char *port = getenv("QUOTAD_PORT");
    const char *cred = getenv("QUOTAD_CREDENTIAL_FILE");
    if (host && *host)
        e->opt.host = host;
    if (cred && *cred)
        e->cred_path = cred;
    if (port && *port) {
        uint64_t p;
        if (ctl_parse_u64(a, "QUOTAD_PORT", port, CTL_PORT_MAX, &p) != 0)
            return CTL_EXIT_USAGE;
        if (p == 0)
            return ctl_usage(a, "QUOTAD_PORT must be > 0");
        e->opt.port = (uint16_t)p;
    }
    return CTL_EXIT_OK;
}

static const ctl_cmd *ctl_find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof ctl_cmds / sizeof *ctl_cmds; i++)
        if (strcmp(ctl_cmds[i].name, name) == 0)
            return &ctl_cmds[i];
    return NULL;
}

/* Scan global options up to the command word; returns it or NULL. */
static const char *ctl_scan_globals(ctl_args *a, int *code)
{
    ctl_tok t;
    int s = ctl_arg_next(a, &t);
    *code = CTL_EXIT_USAGE;
    if (s == CTL_SCAN_ERROR)
        return NULL;
    if (s == CTL_SCAN_END) {
        ctl_help_topic(stderr, NULL);
        return NULL;
    }
    if (ctl_flag_is(&t, "help"))
        return "help";
    if (t.flag) {
        ctl_unknown_flag(a, &t);
        return NULL;
    }
    if (strcmp(t.pos, "-h") == 0)
        return "help";
    return t.pos;
}

/* "--help" / "-h" anywhere among a command's words (before "--") shows
 * that command's help instead of running it. */
static bool ctl_wants_help(const ctl_args *a)
{
    for (int i = a->i; i < a->argc; i++) {
        if (strcmp(a->argv[i], "--") == 0)
            return false;
        if (strcmp(a->argv[i], "--help") == 0 || strcmp(a->argv[i], "-h") == 0)
            return true;
    }
    return false;
}

/* Run the command; split from main so the connection is always freed. */
static int ctl_run(ctl_env *e, int argc, char **argv)
{
    ctl_args a;
    ctl_args_init(&a, e, argc - 1, argv + 1, NULL);
    int code = ctl_env_defaults(e, &a);
    if (code != CTL_EXIT_OK)
        return code;
    const char *name = ctl_scan_globals(&a, &code);
    if (name == NULL)
        return code;
    const ctl_cmd *cmd = ctl_find_cmd(name);
    if (cmd == NULL)
        return ctl_usage(&a, "unknown command '%s'", name);
    if (ctl_wants_help(&a)) {
        ctl_help_topic(stdout, cmd->name);
        return CTL_EXIT_OK;
    }
    ctl_args sub;
    ctl_args_init(&sub, e, a.argc - a.i, a.argv + a.i, cmd->name);
    return cmd->fn(e, &sub);
}

int main(int argc, char **argv)
{
    ctl_env e;
    memset(&e, 0, sizeof e);
    e.opt = qc_options_default();
    e.opt.client_name = CTL_CLIENT_NAME;
    ctl_out_init(&e.out, stdout, false);
    int code = ctl_run(&e, argc, argv);
    if (e.conn)
        qc_free(e.conn);
    if (fflush(stdout) != 0 && code == CTL_EXIT_OK)
        code = CTL_EXIT_TRANSPORT;
    return code;
}
