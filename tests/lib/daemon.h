/* daemon -- start and stop a real quotad for integration tests.
 *
 * td_start runs $QUOTAD_BIN (default build/asan/quotad) with
 *   --port 0 --port-file DIR/port --data-dir DIR/data --pid-file DIR/pid
 * plus extra_args, in a fresh temp DIR, and waits (bounded) until the port
 * file appears. Every daemon started is stopped by its PID: td_stop sends
 * SIGTERM, waits up to TD_STOP_WAIT_MS, then SIGKILL. The daemon's stderr
 * goes to DIR/stderr and is echoed by td_stop when it exited non-zero
 * (sanitizer reports show up in the test output).
 */
#ifndef TD_DAEMON_H
#define TD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "quotad.h"

#define TD_START_WAIT_MS 15000
#define TD_STOP_WAIT_MS 15000

typedef struct td_daemon {
    pid_t pid;            /* 0 when not running */
    uint16_t port;
    char dir[256];        /* temp dir, removed by td_cleanup */
} td_daemon;

/* extra_args: NULL-terminated list, or NULL. Returns 0 or -1. */
int td_start(td_daemon *d, const char *const *extra_args);
/* Restart with the same DIR (data kept) and the same extra args. */
int td_restart(td_daemon *d);
/* SIGTERM and wait; returns the exit status (0 = clean), -1 on error. */
int td_stop(td_daemon *d);
/* SIGKILL and reap. */
int td_kill9(td_daemon *d);
/* SIGSTOP, and wait until every thread has stopped (waitpid WUNTRACED):
 * kill() returns before the stop takes effect, and a worker may still
 * serve a request sent right after it. 0, or -1 (the daemon is gone). */
int td_pause(td_daemon *d);
/* SIGCONT: 0 or -1. */
int td_resume(td_daemon *d);
/* Remove the temp dir (after stop). */
void td_cleanup(td_daemon *d);
/* Remove dir and everything under it, children first (errors printed). */
void td_remove_tree(const char *dir);
/* A new scratch dir /dev/shm/NAME-XXXXXX in out (cap bytes) if /dev/shm
 * is tmpfs (a stand-in for a fast log device): true, else false. The
 * caller removes it (td_remove_tree). */
bool td_tmpfs_dir(const char *name, char *out, size_t cap);

/* The daemon's stderr so far (DIR/stderr, rewritten at each start), at
 * most TD_STDERR_BYTES_MAX bytes, or NULL; free() it. */
#define TD_STDERR_BYTES_MAX (1024u * 1024u)
char *td_stderr(const td_daemon *d);
/* Does the daemon's stderr contain text? */
bool td_stderr_has(const td_daemon *d, const char *text);
/* The integer right after text in the daemon's stderr; -1 if absent. */
int64_t td_stderr_number(const td_daemon *d, const char *text);

/* Connect with default options to the daemon; NULL on failure. */
qc_ctx *td_connect(const td_daemon *d);

/* Wall clock, Unix ms. */
int64_t td_now_ms(void);
void td_sleep_ms(int64_t ms);

#endif
