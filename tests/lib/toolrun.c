/* toolrun -- see toolrun.h. */
#include "toolrun.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

/* In the child: stdio to the files, die with the parent, exec. Only
 * async-signal-safe calls: the test process may have threads. */
static void tr_child(const char *const *argv, char *const *env,
                     const char *out_path, const char *err_path, pid_t parent)
{
    static const char msg[] = "toolrun: exec failed\n";
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(TR_EXIT_EXEC_FAILED);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || dup2(in, STDIN_FILENO) < 0)
        _exit(TR_EXIT_EXEC_FAILED);
    if (out_path != NULL) {
        int fl = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
        int out = open(out_path, fl, 0600);
        int err = err_path != NULL ? open(err_path, fl, 0600) : out;
        if (out < 0 || err < 0 || dup2(out, STDOUT_FILENO) < 0 ||
            dup2(err, STDERR_FILENO) < 0)
            _exit(TR_EXIT_EXEC_FAILED);
    }
    execvpe(argv[0], (char *const *)argv, env);
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(TR_EXIT_EXEC_FAILED);
}

int tr_start(const char *const *argv, char *const *env, const char *out_path,
             const char *err_path, pid_t *pid)
{
    pid_t parent = getpid();
    fflush(NULL);                 /* no buffered output written twice */
    pid_t p = fork();
    if (p < 0)
        return -1;
    if (p == 0)
        tr_child(argv, env != NULL ? env : environ, out_path, err_path,
                 parent);
    *pid = p;
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
    if (tr_start(argv, env, out_path, err_path, pid) != 0) {
        fprintf(stderr, "  cannot run %s: %s\n", bin, strerror(errno));
        return -1;
    }
    return 0;
}

int tr_code(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    return WIFSIGNALED(wstatus) ? TR_EXIT_SIGNAL_BASE + WTERMSIG(wstatus)
                                : -1;
}

int tr_wait(pid_t pid, int64_t wait_ms)
{
    int st = 0;
    for (int64_t waited = 0; waited < wait_ms; waited += TR_POLL_MS) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return tr_code(st);
        if (w < 0 && errno != EINTR)
            return -1;
        td_sleep_ms(TR_POLL_MS);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
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
