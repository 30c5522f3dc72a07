/* pb_daemon.h -- release daemons for persist_bench: each on 127.0.0.1
 * with a free port (--port 0 + --port-file) and its own temp dir
 * (/tmp/quotad-pbench-XXXXXX: port file, data dir, the daemon's stderr),
 * stopped by pid and killed with us (PR_SET_PDEATHSIG). Plus the small
 * clock and file helpers the measurement modules share. */
#ifndef PB_DAEMON_H
#define PB_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "quotad.h"

#define PB_PATH 512
#define PB_ARGS_MAX 24
#define PB_POLL_MS 5

/* One daemon; `extra` is the NULL-terminated list of flags added to
 * --port / --port-file / --data-dir. */
typedef struct pb_daemon {
    pid_t pid;
    uint16_t port;
    char dir[PB_PATH];
    const char *bin;
    const char *extra[PB_ARGS_MAX];
    int64_t start_to_port_ms;
} pb_daemon;

int64_t pb_mono_ms(void);
/* For polling only: an early wake-up by a signal is harmless. */
void pb_sleep_ms(int64_t ms);
/* Up to cap bytes of a small text file, NUL-terminated; NULL on error.
 * The caller frees it. */
char *pb_read_text(const char *path, size_t cap);

/* Fresh temp dir, then pb_daemon_launch with the NULL-terminated flags x;
 * 0 once serving. */
__attribute__((warn_unused_result))
int pb_daemon_start(pb_daemon *d, const char *bin, const char *const *x);
/* Spawn (again) in d->dir; wait (bounded) for the port file and set
 * d->port and d->start_to_port_ms. */
__attribute__((warn_unused_result))
int pb_daemon_launch(pb_daemon *d);
/* SIGTERM, bounded wait, SIGKILL; 0 when it exited 0. */
__attribute__((warn_unused_result))
int pb_daemon_stop(pb_daemon *d);
/* Kill if still running, remove the temp dir. */
void pb_daemon_cleanup(pb_daemon *d);
/* A libquotad connection to it; NULL (error printed) on failure. */
qc_ctx *pb_daemon_connect(const pb_daemon *d);

#endif
