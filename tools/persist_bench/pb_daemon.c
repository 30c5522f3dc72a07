/* pb_daemon.c -- release daemons in temp dirs, for persist_bench
 * (pb_daemon.h). */
#include "pb_daemon.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PB_START_WAIT_MS 300000
#define PB_STOP_WAIT_MS 120000
#define PB_TIMEOUT_MS 60000u
#define PB_NFTW_FDS 16

/* ---- small utilities ------------------------------------------------------ */

int64_t pb_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pb_sleep_ms(int64_t ms)
{
    (void)usleep((useconds_t)(ms * 1000));
}

char *pb_read_text(const char *path, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *b = malloc(cap + 1);
    size_t n = b != NULL ? fread(b, 1, cap, f) : 0;
    fclose(f);
    if (b != NULL)
        b[n] = '\0';
    return b;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    (void)remove(path); /* best effort: a temp dir */
    return 0;
}

/* ---- the daemon --------------------------------------------------------- */

/* In the child: die with us, stdio to DIR/stderr, exec. */
static void child_exec(const pb_daemon *d, char *const argv[], pid_t parent)
{
    char err[PB_PATH + 16];
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    snprintf(err, sizeof err, "%s/stderr", d->dir);
    int in = open("/dev/null", O_RDONLY);
    int fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || fd < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 ||
        dup2(fd, 2) < 0)
        _exit(127);
    execv(argv[0], argv);
    _exit(127);
}

static uint16_t read_port(const pb_daemon *d)
{
    char path[PB_PATH + 16];
    snprintf(path, sizeof path, "%s/port", d->dir);
    char *t = pb_read_text(path, 32);
    unsigned long v = t != NULL ? strtoul(t, NULL, 10) : 0;
    free(t);
    return v > 0 && v <= UINT16_MAX ? (uint16_t)v : 0;
}

/* SIGKILL by pid and reap. */
static void kill_reap(pb_daemon *d)
{
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
}

/* Spawn with the fixed flags plus d->extra; wait (bounded) for the port
 * file; the time it took is the start-to-serving time. */
int pb_daemon_launch(pb_daemon *d)
{
    char port_f[PB_PATH + 16], data_d[PB_PATH + 16];
    snprintf(port_f, sizeof port_f, "%s/port", d->dir);
    snprintf(data_d, sizeof data_d, "%s/data", d->dir);
    const char *argv[PB_ARGS_MAX * 2] = {d->bin, "--port", "0",
                                         "--port-file", port_f,
                                         "--data-dir", data_d};
    size_t n = 7;
    for (size_t i = 0; d->extra[i] != NULL && n + 1 < PB_ARGS_MAX * 2; i++)
        argv[n++] = d->extra[i];
    argv[n] = NULL;
    (void)unlink(port_f);
    pid_t parent = getpid();
    fflush(NULL);
    int64_t t0 = pb_mono_ms();
    d->pid = fork();
    if (d->pid < 0)
        return -1;
    if (d->pid == 0)
        child_exec(d, (char *const *)argv, parent);
    while (pb_mono_ms() - t0 < PB_START_WAIT_MS) {
        int ws = 0;
        if (waitpid(d->pid, &ws, WNOHANG) == d->pid) {
            fprintf(stderr, "quotad exited during start; see %s/stderr\n",
                    d->dir);
            d->pid = 0;
            return -1;
        }
        if ((d->port = read_port(d)) != 0) {
            d->start_to_port_ms = pb_mono_ms() - t0;
            return 0;
        }
        pb_sleep_ms(PB_POLL_MS);
    }
    kill_reap(d);
    return -1;
}

int pb_daemon_stop(pb_daemon *d)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    int ws = 0;
    int64_t t0 = pb_mono_ms();
    while (waitpid(d->pid, &ws, WNOHANG) != d->pid) {
        if (pb_mono_ms() - t0 > PB_STOP_WAIT_MS) {
            kill_reap(d);
            return -1;
        }
        pb_sleep_ms(PB_POLL_MS);
    }
    d->pid = 0;
    return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : -1;
}

int pb_daemon_start(pb_daemon *d, const char *bin, const char *const *x)
{
    memset(d, 0, sizeof *d);
    d->bin = bin;
    for (size_t i = 0; x[i] != NULL && i + 1 < PB_ARGS_MAX; i++)
        d->extra[i] = x[i];
    char tmpl[] = "/tmp/quotad-pbench-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        return -1;
    snprintf(d->dir, sizeof d->dir, "%s", tmpl);
    return pb_daemon_launch(d);
}

void pb_daemon_cleanup(pb_daemon *d)
{
    if (d->pid > 0)
        kill_reap(d);
    if (strncmp(d->dir, "/tmp/quotad-pbench-", 19) == 0)
        nftw(d->dir, rm_entry, PB_NFTW_FDS, FTW_DEPTH | FTW_PHYS);
}

qc_ctx *pb_daemon_connect(const pb_daemon *d)
{
    qc_options o = qc_options_default();
    o.port = d->port;
    o.timeout_ms = PB_TIMEOUT_MS;
    o.client_name = "persist_bench";
    qc_ctx *c = NULL;
    int rc = qc_connect(&o, &c);
    if (rc != QC_OK)
        fprintf(stderr, "connect: %s\n", qc_strerror(rc));
    return c; /* NULL on failure */
}
