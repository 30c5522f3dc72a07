/* toolrun -- start programs from tests: the daemon (lib/daemon.c) and
 * the tools (quotadctl, quotad-data) the way a user would run them.
 *
 * fork + exec with stdin from /dev/null and stdout / stderr in files; the
 * child dies with the test process (PR_SET_PDEATHSIG), so a crashed test
 * leaves nothing running. A wait with a deadline kills a hung child
 * rather than waiting forever, and the captured text is read back. A
 * binary comes from an environment variable set by `make test`
 * (QUOTADCTL_BIN ...) or a default path.
 */
#ifndef TR_TOOLRUN_H
#define TR_TOOLRUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A child ended by signal s reports TR_EXIT_SIGNAL_BASE + s (a shell's
 * convention), a killed hung one TR_EXIT_SIGNAL_BASE + SIGKILL; one that
 * could not be started TR_EXIT_EXEC_FAILED. */
#define TR_EXIT_SIGNAL_BASE 128
#define TR_EXIT_EXEC_FAILED 127
#define TR_ARGV_MAX 64
#define TR_POLL_MS 5

/* $env when set and not empty, else dflt. */
const char *tr_bin(const char *env, const char *dflt);

/* Start argv[0] (a path, or a name looked up in PATH) with argv. stdout
 * goes to out_path and stderr to err_path (created 0600, truncated), or
 * to out_path too when err_path is NULL; out_path NULL keeps the test's
 * own stdout and stderr. env NULL: the test's own environment. 0, or
 * -1. */
int tr_start(const char *const *argv, char *const *env, const char *out_path,
             const char *err_path, pid_t *pid);

/* tr_start of bin with the arguments pre[] then args[] (each
 * NULL-terminated; pre may be NULL). 0, or -1 (why printed). */
int tr_spawn(const char *bin, const char *const *pre, const char *const *args,
             char *const *env, const char *out_path, const char *err_path,
             pid_t *pid);

/* Wait up to wait_ms for pid. Its exit code, TR_EXIT_SIGNAL_BASE + the
 * signal that ended it (a child still running at the deadline is
 * killed), or -1. */
int tr_wait(pid_t pid, int64_t wait_ms);

/* A reaped child's wait status in the shell convention (see above). */
int tr_code(int wstatus);

/* tr_spawn then tr_wait. */
int tr_run(const char *bin, const char *const *pre, const char *const *args,
           char *const *env, const char *out_path, const char *err_path,
           int64_t wait_ms);

/* Up to cap - 1 bytes of path into buf, NUL-terminated; a missing file
 * reads as "". Returns the bytes read. */
size_t tr_read(const char *path, char *buf, size_t cap);

#endif
