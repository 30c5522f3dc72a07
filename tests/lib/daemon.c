/* daemon.c -- start, stop and clean up a real quotad for integration tests.
 *
 * The extra arguments given to td_start are kept in DIR/args (NUL
 * separated) so td_restart can reuse them without any static state.
 */
#include "lib/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/toolrun.h"

#define TD_DIR_TEMPLATE "/tmp/quotad-it-XXXXXX"
#define TD_DIR_PREFIX "/tmp/quotad-it-"
#define TD_DEFAULT_BIN "build/asan/quotad"
#define TD_WORKERS "2"
#define TD_POLL_MS 10
#define TD_PATH_BYTES 512
#define TD_ARGS_MAX 64            /* extra args kept for a restart */
#define TD_ARGS_FILE_BYTES 8192
#define TD_ARGV_FIXED 12          /* binary + fixed flags + NULL */
#define TD_NFTW_FDS 16
#define TD_STDERR_ECHO_MAX (256 * 1024)
#define TD_PORT_TEXT_BYTES 32
#define TD_MS_PER_S 1000
#define TD_NS_PER_MS 1000000L

static const char *const td_sanitizer_marks[] = {
    "ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
    "ERROR: ThreadSanitizer", NULL,
};

/* Build DIR/name into out; -1 if it does not fit. */
static int td_path(const td_daemon *d, const char *name, char *out,
                   size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", d->dir, name);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* Read a whole (small) file into a NUL-terminated malloc'd buffer. Reads at
 * most cap bytes; *len gets the byte count. NULL on error. */
static char *td_read_file(const char *path, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, cap, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

/* Keep the extra args in DIR/args so td_restart can reuse them. */
static int td_save_args(const td_daemon *d, const char *const *extra)
{
    char path[TD_PATH_BYTES];
    if (td_path(d, "args", path, sizeof path) != 0)
        return -1;
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    int rc = 0;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (i >= TD_ARGS_MAX || fwrite(extra[i], 1, strlen(extra[i]) + 1, f)
                                    != strlen(extra[i]) + 1)
            rc = -1;
    }
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* Load DIR/args into argv-style pointers into *store (caller frees it). */
static int td_load_args(const td_daemon *d, char **store, const char **args,
                        size_t cap)
{
    char path[TD_PATH_BYTES];
    size_t len = 0, n = 0;
    if (td_path(d, "args", path, sizeof path) != 0)
        return -1;
    *store = td_read_file(path, TD_ARGS_FILE_BYTES, &len);
    if (*store == NULL)
        return -1;
    for (size_t off = 0; off < len; off += strlen(*store + off) + 1) {
        if (n + 1 >= cap)
            return -1;
        args[n++] = *store + off;
    }
    args[n] = NULL;
    return 0;
}

/* Is a TCP listener accepting on 127.0.0.1:port? */
static int td_port_accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Read DIR/port; 0 if absent, partial or not a port. */
static uint16_t td_read_port(const td_daemon *d)
{
    char path[TD_PATH_BYTES];
    if (td_path(d, "port", path, sizeof path) != 0)
        return 0;
    char *txt = td_read_file(path, TD_PORT_TEXT_BYTES, NULL);
    if (txt == NULL)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(txt, &end, 10);
    int bad = errno != 0 || end == txt || v == 0 || v > UINT16_MAX;
    free(txt);
    return bad ? 0 : (uint16_t)v;
}

char *td_stderr(const td_daemon *d)
{
    char path[TD_PATH_BYTES];
    if (td_path(d, "stderr", path, sizeof path) != 0)
        return NULL;
    return td_read_file(path, TD_STDERR_BYTES_MAX, NULL);
}

bool td_stderr_has(const td_daemon *d, const char *text)
{
    char *s = td_stderr(d);
    bool yes = s != NULL && strstr(s, text) != NULL;
    free(s);
    return yes;
}

int64_t td_stderr_number(const td_daemon *d, const char *text)
{
    char *s = td_stderr(d);
    const char *p = s != NULL ? strstr(s, text) : NULL;
    int64_t v = p != NULL ? strtoll(p + strlen(text), NULL, 10) : -1;
    free(s);
    return v;
}

/* Does the daemon's stderr contain a sanitizer report? */
static int td_stderr_has_sanitizer(const char *text)
{
    for (size_t i = 0; td_sanitizer_marks[i] != NULL; i++)
        if (strstr(text, td_sanitizer_marks[i]) != NULL)
            return 1;
    return 0;
}

/* Check DIR/stderr: echo it to our stderr when status != 0 or a sanitizer
 * wrote to it. Returns 1 if a sanitizer report was found. */
static int td_report_stderr(const td_daemon *d, int status)
{
    char path[TD_PATH_BYTES];
    if (td_path(d, "stderr", path, sizeof path) != 0)
        return 0;
    char *txt = td_read_file(path, TD_STDERR_ECHO_MAX, NULL);
    if (txt == NULL)
        return 0;
    int san = td_stderr_has_sanitizer(txt);
    if (san || status != 0)
        fprintf(stderr, "--- quotad pid %d exit %d, %s ---\n%s\n--- end ---\n",
                (int)d->pid, status, path, txt);
    free(txt);
    return san;
}

/* Reap the child if it has exited; returns 1 and sets *code if so. */
static int td_reaped(pid_t pid, int *code)
{
    int ws = 0;
    pid_t r = waitpid(pid, &ws, WNOHANG);
    if (r == pid) {
        *code = tr_code(ws);
        return 1;
    }
    if (r < 0) {
        *code = -1;
        return 1;
    }
    return 0;
}

/* Fork and exec the daemon with the fixed flags plus extra. */
static int td_spawn(td_daemon *d, const char *const *extra)
{
    char port_f[TD_PATH_BYTES], data_d[TD_PATH_BYTES], pid_f[TD_PATH_BYTES],
        err_f[TD_PATH_BYTES];
    if (td_path(d, "port", port_f, sizeof port_f) ||
        td_path(d, "data", data_d, sizeof data_d) ||
        td_path(d, "pid", pid_f, sizeof pid_f) ||
        td_path(d, "stderr", err_f, sizeof err_f))
        return -1;
    const char *bin = getenv("QUOTAD_BIN");
    if (bin == NULL || bin[0] == '\0')
        bin = TD_DEFAULT_BIN;
    const char *argv[TD_ARGV_FIXED + TD_ARGS_MAX] = {
        bin, "--port", "0", "--port-file", port_f, "--data-dir", data_d,
        "--pid-file", pid_f, "--workers", TD_WORKERS};
    size_t n = TD_ARGV_FIXED - 1;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (i >= TD_ARGS_MAX)
            return -1;
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    (void)unlink(port_f);
    return tr_start(argv, NULL, err_f, NULL, &d->pid);
}

/* Wait (bounded) for the port file and a listening socket. */
static int td_wait_ready(td_daemon *d)
{
    for (int64_t waited = 0; waited < TD_START_WAIT_MS; waited += TD_POLL_MS) {
        int code = 0;
        if (td_reaped(d->pid, &code)) {
            fprintf(stderr, "td: quotad exited during start (%d)\n", code);
            (void)td_report_stderr(d, code == 0 ? -1 : code);
            d->pid = 0;
            return -1;
        }
        uint16_t port = td_read_port(d);
        if (port != 0 && td_port_accepts(port)) {
            d->port = port;
            return 0;
        }
        td_sleep_ms(TD_POLL_MS);
    }
    fprintf(stderr, "td: quotad did not write its port in %d ms\n",
            TD_START_WAIT_MS);
    (void)td_kill9(d);
    return -1;
}

/* Start the daemon in DIR (which exists) with the saved extra args. */
static int td_launch(td_daemon *d, const char *const *extra)
{
    if (td_spawn(d, extra) != 0) {
        fprintf(stderr, "td: cannot spawn quotad: %s\n", strerror(errno));
        return -1;
    }
    return td_wait_ready(d);
}

/* Create the temp dir, remember the args, start the daemon. */
int td_start(td_daemon *d, const char *const *extra_args)
{
    memset(d, 0, sizeof *d);
    char tmpl[] = TD_DIR_TEMPLATE;
    if (mkdtemp(tmpl) == NULL) {
        fprintf(stderr, "td: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(d->dir, sizeof d->dir, "%s", tmpl);
    char data_d[TD_PATH_BYTES];
    if (td_path(d, "data", data_d, sizeof data_d) != 0 ||
        mkdir(data_d, 0700) != 0 || td_save_args(d, extra_args) != 0) {
        fprintf(stderr, "td: cannot prepare %s\n", d->dir);
        return -1;
    }
    return td_launch(d, extra_args);
}

/* Same DIR (data kept), same extra args; the daemon must be stopped. */
int td_restart(td_daemon *d)
{
    if (d->pid != 0 || d->dir[0] == '\0')
        return -1;
    char *store = NULL;
    const char *args[TD_ARGS_MAX + 1];
    int rc = td_load_args(d, &store, args, TD_ARGS_MAX + 1);
    if (rc == 0)
        rc = td_launch(d, args);
    free(store);
    return rc;
}

/* SIGTERM, bounded wait, SIGKILL fallback; status plus sanitizer check. */
int td_stop(td_daemon *d)
{
    if (d->pid <= 0)
        return -1;
    int code = 0;
    if (!td_reaped(d->pid, &code)) {
        if (kill(d->pid, SIGTERM) != 0)
            return -1;
        int64_t waited = 0;
        while (!td_reaped(d->pid, &code) && waited < TD_STOP_WAIT_MS) {
            td_sleep_ms(TD_POLL_MS);
            waited += TD_POLL_MS;
        }
        if (waited >= TD_STOP_WAIT_MS) {
            fprintf(stderr, "td: quotad ignored SIGTERM, killing\n");
            (void)td_kill9(d);
            return -1;
        }
    }
    if (td_report_stderr(d, code) && code == 0)
        code = 1;
    d->pid = 0;
    return code;
}

/* waitpid, resumed after signals. */
static pid_t td_waitpid(pid_t pid, int *ws, int flags)
{
    pid_t r;
    do {
        r = waitpid(pid, ws, flags);
    } while (r < 0 && errno == EINTR);
    return r;
}

int td_pause(td_daemon *d)
{
    if (d->pid <= 0 || kill(d->pid, SIGSTOP) != 0)
        return -1;
    int ws = 0;
    pid_t r = td_waitpid(d->pid, &ws, WUNTRACED);
    if (r == d->pid && WIFSTOPPED(ws))
        return 0;
    if (r == d->pid)
        d->pid = 0;     /* it exited: reaped here */
    return -1;
}

int td_resume(td_daemon *d)
{
    return d->pid > 0 && kill(d->pid, SIGCONT) == 0 ? 0 : -1;
}

/* SIGKILL and reap; 1 if the daemon's stderr holds a sanitizer report. */
int td_kill9(td_daemon *d)
{
    if (d->pid <= 0)
        return -1;
    (void)kill(d->pid, SIGKILL);
    int ws = 0;
    pid_t r = td_waitpid(d->pid, &ws, 0);
    int san = td_report_stderr(d, 0);
    d->pid = 0;
    if (r < 0)
        return -1;
    return san ? 1 : 0;
}

/* nftw callback: remove every entry, children first. */
static int td_rm_entry(const char *path, const struct stat *sb, int flag,
                       struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "td: remove %s: %s\n", path, strerror(errno));
    return 0;
}

void td_remove_tree(const char *dir)
{
    if (nftw(dir, td_rm_entry, TD_NFTW_FDS, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "td: nftw %s: %s\n", dir, strerror(errno));
}

bool td_tmpfs_dir(const char *name, char *out, size_t cap)
{
    struct statfs fs;
    if (statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC)
        return false;
    int n = snprintf(out, cap, "/dev/shm/%s-XXXXXX", name);
    return n > 0 && (size_t)n < cap && mkdtemp(out) != NULL;
}

/* Remove the temp dir; refuses anything not made by td_start. */
void td_cleanup(td_daemon *d)
{
    if (d->pid > 0)
        (void)td_kill9(d);
    if (strncmp(d->dir, TD_DIR_PREFIX, strlen(TD_DIR_PREFIX)) != 0)
        return;
    td_remove_tree(d->dir);
    d->dir[0] = '\0';
}

/* A client with default options pointed at the daemon. */
qc_ctx *td_connect(const td_daemon *d)
{
    qc_options o = qc_options_default();
    o.port = d->port;
    o.client_name = "quotad-it";
    qc_ctx *c = NULL;
    int rc = qc_connect(&o, &c);
    if (rc != QC_OK) {
        fprintf(stderr, "td: qc_connect port %u: %s\n", (unsigned)d->port,
                qc_strerror(rc));
        return NULL;
    }
    return c;
}

/* Wall clock in Unix ms (what the server's windows use). */
int64_t td_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * TD_MS_PER_S + ts.tv_nsec / TD_NS_PER_MS;
}

/* Sleep ms milliseconds, resuming after signals. */
void td_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / TD_MS_PER_S,
                          .tv_nsec = (ms % TD_MS_PER_S) * TD_NS_PER_MS};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
