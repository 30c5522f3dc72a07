/* toolrun -- see toolrun.h. */
#include "toolrun.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"

extern char **environ;

const char *tr_bin(const char *env, const char *dflt)
{
    const char *v = getenv(env);
    return v != NULL && *v != '\0' ? v : dflt;
}

/* argv = bin, pre..., args..., NULL; -1 if over TR_ARGV_MAX. */
static int tr_argv(const char *argv[TR_ARGV_MAX], const char *bin,
                   const char *const *pre, const char *const *args)
{
    size_t n = 0;
    argv[n++] = bin;
    for (size_t i = 0; pre != NULL && pre[i] != NULL; i++) {
        if (n + 1 >= TR_ARGV_MAX)
            return -1;
        argv[n++] = pre[i];
    }
    for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
        if (n + 1 >= TR_ARGV_MAX)
            return -1;
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return 0;
}

int tr_spawn(const char *bin, const char *const *pre, const char *const *args,
             char *const *env, const char *out_path, const char *err_path,
             pid_t *pid)
{
    const char *argv[TR_ARGV_MAX];
    if (tr_argv(argv, bin, pre, args) != 0) {
        fprintf(stderr, "  %s: more than %d arguments\n", bin, TR_ARGV_MAX);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    int fl = O_WRONLY | O_CREAT | O_TRUNC;
    int rc = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path,
                                              fl, 0600);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path,
                                              fl, 0600);
    if (rc == 0)
        rc = posix_spawn(pid, bin, &fa, NULL, (char *const *)argv,
                         env != NULL ? env : environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "  cannot run %s: %s\n", bin, strerror(rc));
        return -1;
    }
    return 0;
}

int tr_wait(pid_t pid, int64_t wait_ms)
{
    int st = 0;
    for (int64_t waited = 0; waited < wait_ms; waited += TR_POLL_MS) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st)
                                 : TR_EXIT_SIGNAL_BASE + WTERMSIG(st);
        if (w < 0 && errno != EINTR)
            return -1;
        td_sleep_ms(TR_POLL_MS);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fprintf(stderr, "  tool pid %d timed out after %lld ms: killed\n",
            (int)pid, (long long)wait_ms);
    return TR_EXIT_SIGNAL_BASE + SIGKILL;
}

int tr_run(const char *bin, const char *const *pre, const char *const *args,
           char *const *env, const char *out_path, const char *err_path,
           int64_t wait_ms)
{
    pid_t pid;
    if (tr_spawn(bin, pre, args, env, out_path, err_path, &pid) != 0)
        return -1;
    return tr_wait(pid, wait_ms);
}

size_t tr_read(const char *path, char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}
