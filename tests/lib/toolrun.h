/* toolrun -- run a tool (quotadctl, quotad-data) the way a user would,
 * for integration tests.
 *
 * posix_spawn of the binary with its stdout and stderr in files, a wait
 * with a deadline (a hung tool is killed, never waited for forever) and
 * the captured text read back. The binary comes from an environment
 * variable set by `make test` (QUOTADCTL_BIN ...) or a default path.
 */
#ifndef TR_TOOLRUN_H
#define TR_TOOLRUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A child ended by signal s reports TR_EXIT_SIGNAL_BASE + s (a shell's
 * convention), a killed hung one TR_EXIT_SIGNAL_BASE + SIGKILL. */
#define TR_EXIT_SIGNAL_BASE 128
#define TR_ARGV_MAX 64
#define TR_POLL_MS 5

/* $env when set and not empty, else dflt. */
const char *tr_bin(const char *env, const char *dflt);

/* Start bin with the arguments pre[] then args[] (each NULL-terminated;
 * pre may be NULL). stdout goes to out_path and stderr to err_path
 * (created 0600, truncated). env NULL: the test's own environment. 0, or
 * -1 (why printed). */
int tr_spawn(const char *bin, const char *const *pre, const char *const *args,
             char *const *env, const char *out_path, const char *err_path,
             pid_t *pid);

/* Wait up to wait_ms for pid. Its exit code, TR_EXIT_SIGNAL_BASE + the
 * signal that ended it (a child still running at the deadline is
 * killed), or -1. */
int tr_wait(pid_t pid, int64_t wait_ms);

/* tr_spawn then tr_wait. */
int tr_run(const char *bin, const char *const *pre, const char *const *args,
           char *const *env, const char *out_path, const char *err_path,
           int64_t wait_ms);

/* Up to cap - 1 bytes of path into buf, NUL-terminated; a missing file
 * reads as "". Returns the bytes read. */
size_t tr_read(const char *path, char *buf, size_t cap);

#endif
