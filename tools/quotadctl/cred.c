/* cred.c -- the credential quotadctl sends in HELLO.
 *
 * --credential-file PATH (or QUOTAD_CREDENTIAL_FILE) names a file holding
 * one line: the root or gateway credential of the server's config, or an
 * admin key (sk-...). It is read once, just before connecting, kept only
 * until HELLO is sent, then wiped. Its content never appears in any
 * message: errors name the file and the problem, nothing else.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_STR_(x) #x
#define CTL_STR(x) CTL_STR_(x)
#define CTL_CRED_MODE_OTHERS 077   /* group/other permission bits */
/* Read one byte more than the longest credential plus a newline, so a
 * too-long file is detected rather than silently cut. */
#define CTL_CRED_READ_BYTES (QC_CREDENTIAL_CHARS_MAX + 2)

static int ctl_cred_fail(const ctl_env *e, const char *why)
{
    fprintf(stderr, "%s: --credential-file %s: %s\n", CTL_PROG,
            e->cred_path, why);
    return CTL_EXIT_USAGE;
}

/* Read at most cap bytes of fd into buf; -1 on a read error. */
static ssize_t ctl_cred_read(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

/* Trim surrounding whitespace of buf[0..n) into e->cred; 0 or -1. */
static int ctl_cred_store(ctl_env *e, const char *buf, size_t n)
{
    size_t lo = 0;
    while (lo < n && isspace((unsigned char)buf[lo]))
        lo++;
    while (n > lo && isspace((unsigned char)buf[n - 1]))
        n--;
    size_t len = n - lo;
    if (len == 0 || len > QC_CREDENTIAL_CHARS_MAX ||
        memchr(buf + lo, '\0', len) != NULL)
        return -1;
    memcpy(e->cred, buf + lo, len);
    e->cred[len] = '\0';
    return 0;
}

/* Open the file and refuse anything but a private regular file. */
static int ctl_cred_open(const ctl_env *e, int *fd)
{
    *fd = open(e->cred_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (*fd < 0)
        return ctl_cred_fail(e, strerror(errno));
    struct stat sb;
    const char *why = NULL;
    if (fstat(*fd, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISREG(sb.st_mode))
        why = "not a regular file";
    else if ((sb.st_mode & CTL_CRED_MODE_OTHERS) != 0)
        why = "readable by group/others (chmod 600)";
    if (why == NULL)
        return 0;
    close(*fd);
    *fd = -1;
    return ctl_cred_fail(e, why);
}

int ctl_cred_load(ctl_env *e)
{
    if (e->cred_path == NULL || e->opt.credential != NULL)
        return 0;
    int fd = -1;
    if (ctl_cred_open(e, &fd) != 0)
        return CTL_EXIT_USAGE;
    char buf[CTL_CRED_READ_BYTES];
    ssize_t n = ctl_cred_read(fd, buf, sizeof buf);
    int err = errno;
    close(fd);
    int rc = 0;
    if (n < 0)
        rc = ctl_cred_fail(e, strerror(err));
    else if (ctl_cred_store(e, buf, (size_t)n) != 0)
        rc = ctl_cred_fail(e, "must hold one credential of 1.."
                              CTL_STR(QC_CREDENTIAL_CHARS_MAX) " bytes");
    explicit_bzero(buf, sizeof buf);
    if (rc == 0)
        e->opt.credential = e->cred;
    return rc;
}

void ctl_cred_wipe(ctl_env *e)
{
    explicit_bzero(e->cred, sizeof e->cred);
    e->opt.credential = NULL;
}
