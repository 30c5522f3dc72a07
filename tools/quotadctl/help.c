/* help.c -- `quotadctl help [COMMAND]`: the usage text, money format and
 * exit codes, kept next to each other so the documentation is one place.
 */
#include <string.h>

#include "ctl.h"

typedef struct ctl_topic {
    const char *name;
    const char *text;
} ctl_topic;

static const char ctl_help_main[] =
    "usage: quotadctl [--host H] [--port P] [--timeout MS] [--json]\n"
    "                 [--credential-file PATH] COMMAND ...\n"
    "\n"
    "Admin client for quotad. Defaults: --host 127.0.0.1 --port 7411\n"
    "--timeout 5000; env QUOTAD_HOST / QUOTAD_PORT set host and port.\n"
    "--credential-file (env QUOTAD_CREDENTIAL_FILE): a file, mode 0600,\n"
    "holding the credential sent in HELLO (root or gateway credential, or\n"
    "an admin key); read once, never printed.\n"
    "Global options may also follow the command.\n"
    "\n"
    "commands:\n"
    "  ping                          round trip to the server\n"
    "  ws create|get|update          workspaces\n"
    "  wallet topup|adjust           move money in a workspace wallet\n"
    "  key create|get|list|update    API keys\n"
    "  key enable|disable|revoke|delete KEY_ID...   (bulk: one frame)\n"
    "  key rotate                    new secret, optional grace period\n"
    "  check SECRET                  check-and-debit (or hold)\n"
    "  settle HOLD_ID AMT            settle a hold\n"
    "  void HOLD_ID                  release a hold\n"
    "  usage --key ID | --ws ID      requests, decisions, spend per day\n"
    "  alert set|clear               alert thresholds\n"
    "  watch                         print alert events as they come\n"
    "  snapshot [--wait]             ask the daemon for a snapshot\n"
    "  stats [--reset-latency]       the daemon's counters and latency (root)\n"
    "  help [COMMAND]                this text, or one command's\n"
    "\n"
    "money (AMT): an integer is micro-units (1500000); a decimal with a\n"
    "dot is units (12.50 = 12500000 micro, at most 6 decimals).\n"
    "Output prints money as units and micro: 12.500000 (12500000 micro).\n"
    "--json prints one JSON object per command on stdout (money in micro).\n"
    "A new or rotated secret is printed once, never again.\n"
    "\n"
    "exit codes:\n"
    "  0  success (a check was allowed)\n"
    "  1  the server answered with an error code (error: <code>: <message>)\n"
    "  2  usage error\n"
    "  3  connection or transport error\n"
    "  4  check denied (decision printed)\n";

static const ctl_topic ctl_topics[] = {
    {"ping", "usage: quotadctl ping\n"},
    {"ws",
     "usage:\n"
     "  quotadctl ws create --name N [--max-keys N] [--overdraft AMT]\n"
     "                      [--balance AMT]\n"
     "  quotadctl ws get WS_ID\n"
     "  quotadctl ws update WS_ID [--name N] [--max-keys N]"
     " [--overdraft AMT]\n"},
    {"wallet",
     "usage:\n"
     "  quotadctl wallet topup WS_ID AMT [--reason R] [--idem ID]"
     "     (AMT > 0)\n"
     "  quotadctl wallet adjust WS_ID DELTA [--reason R] [--idem ID]"
     " (any sign)\n"
     "With --idem a retry returns the first answer and moves no money.\n"},
    {"key",
     "usage:\n"
     "  quotadctl key create --ws WS_ID --name N [--group G]\n"
     "      [--admin [--role gateway|member|admin|owner]] (default admin)\n"
     "      [--creator C] [--quota AMT] [--cap-day AMT] [--cap-week AMT]\n"
     "      [--cap-month AMT] [--rpm N] [--tpm N] [--model M]...\n"
     "      [--ip ADDR_OR_CIDR]... [--expires-at UNIX_MS | "
     "--expires-in SECONDS]\n"
     "      [--meta k=v]...\n"
     "  quotadctl key get KEY_ID\n"
     "  quotadctl key list --ws WS_ID [--status enabled|disabled|revoked]\n"
     "      [--group G] [--name-prefix P] [--after KEY_ID] [--limit N]"
     " [--all]\n"
     "  quotadctl key update KEY_ID [limit flags as create] [--clear-models]\n"
     "      [--clear-ips] [--quota-remaining AMT] [--meta k=v]..."
     " [--clear-meta]\n"
     "      [--name N] [--group G]\n"
     "      (\"none\" as a numeric limit clears it; --meta replaces all"
     " metadata)\n"
     "  quotadctl key enable|disable|revoke|delete KEY_ID [KEY_ID...]\n"
     "      (several ids are sent as one batched frame)\n"
     "  quotadctl key rotate KEY_ID [--grace SECONDS | --grace-ms MS]\n"
     "The secret of create/rotate is shown once; lists show masked keys.\n"},
    {"check",
     "usage: quotadctl check SECRET [--model M] [--ip IP] [--amount AMT]\n"
     "           [--amount-min AMT] [--tokens N] [--hold]"
     " [--hold-timeout MS]\n"
     "           [--idem ID]\n"
     "Prints the decision, its HTTP status and every reply field.\n"
     "Exit 0 when allowed, 4 when denied.\n"},
    {"settle",
     "usage: quotadctl settle HOLD_ID AMT [--tokens N] [--idem ID]\n"},
    {"void", "usage: quotadctl void HOLD_ID\n"},
    {"snapshot",
     "usage: quotadctl snapshot [--wait [--timeout SECONDS]]\n"
     "Starts a snapshot of a running daemon and prints started, running\n"
     "and last_seq. With --wait, polls every 100 ms until it (or one that\n"
     "was already running) has finished; exit 1 if it failed or did not\n"
     "finish within --timeout SECONDS (default 60; here --timeout is the\n"
     "wait, not the per-request timeout). Exit 1 also when the\n"
     "daemon runs without persistence (FAILED_PRECONDITION).\n"
     "For a stopped daemon: quotad-data snapshot --dir DATA_DIR.\n"},
    {"usage",
     "usage: quotadctl usage (--key KEY_ID | --ws WS_ID)"
     " [--from YYYY-MM-DD]\n"
     "           [--to YYYY-MM-DD]\n"
     "One row per UTC day: requests, allowed, tokens, spend (units) and\n"
     "each non-zero denied count by decision name. Default: every day\n"
     "kept. --json: {\"days\":[{\"day\",\"requests\",\"allowed\",\n"
     "\"denied\":{name:count},\"tokens\",\"spend\" (micro)}]}.\n"},
    {"alert",
     "usage:\n"
     "  quotadctl alert set --ws WS_ID [--key KEY_ID] --kind KIND"
     " --threshold V\n"
     "  quotadctl alert clear --ws WS_ID [--key KEY_ID] --kind KIND\n"
     "KIND: spend-day, spend-week (spend in the UTC day / ISO week >= V),\n"
     "wallet-below (workspace balance < V): V is an amount;\n"
     "quota-below-pct (key quota remaining < V% of total): V is 0..100.\n"
     "A rule fires once per window; setting it again re-arms it.\n"
     "Prints the rules now in force on that key or workspace.\n"},
    {"watch",
     "usage: quotadctl watch [--ws WS_ID] [--count N] [--timeout SECONDS]\n"
     "Subscribes to alert events (admin, owner or root) and prints each\n"
     "as one line (one JSON object per line with --json). Exits 0 after\n"
     "N events, or when SECONDS pass (here --timeout is the watch's own\n"
     "duration in seconds, not the per-call timeout).\n"},
    {"stats",
     "usage: quotadctl stats [--reset-latency]\n"
     "Prints the daemon's counters (root only): every limit that refused\n"
     "something, work done, the log, and its request latency: latency_*\n"
     "in microseconds, from when a request was read off the socket to when\n"
     "its reply was queued (fsync always: released after the fsync), over\n"
     "latency_count frames since start or the last reset. --reset-latency\n"
     "prints them, then empties the histogram (to measure one phase).\n"},
    {"help", "usage: quotadctl help [COMMAND]\n"},
};

static const ctl_topic *ctl_find_topic(const char *name)
{
    for (size_t i = 0; i < sizeof ctl_topics / sizeof *ctl_topics; i++)
        if (strcmp(ctl_topics[i].name, name) == 0)
            return &ctl_topics[i];
    return NULL;
}

void ctl_help_topic(FILE *f, const char *topic)
{
    const ctl_topic *t = topic ? ctl_find_topic(topic) : NULL;
    fputs(t ? t->text : ctl_help_main, f);
}

/* "help", "help key" and "help key create" (the group's text). */
int ctl_cmd_help(ctl_env *e, ctl_args *a)
{
    (void)e;
    ctl_tok t;
    const char *topic = NULL;
    int s;
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        if (t.flag)
            return ctl_unknown_flag(a, &t);
        if (topic == NULL)
            topic = t.pos;
    }
    if (s == CTL_SCAN_ERROR)
        return CTL_EXIT_USAGE;
    if (topic && ctl_find_topic(topic) == NULL)
        return ctl_usage(a, "no such command '%s'", topic);
    ctl_help_topic(stdout, topic);
    return CTL_EXIT_OK;
}
