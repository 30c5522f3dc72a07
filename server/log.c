/* log -- leveled logging to stderr with a UTC timestamp (see log.h).
 *
 * Every line is formatted into a local buffer first and written with a
 * single fprintf: stdio locks the stream per call, so lines from worker
 * threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "limits.h"

/* Relaxed is enough: a level change need not be seen instantly. */
static _Atomic int log_level = LOG_INFO;

static const char *const log_level_names[] = {
    [LOG_ERROR] = "ERROR",
    [LOG_WARN] = "WARN",
    [LOG_INFO] = "INFO",
    [LOG_DEBUG] = "DEBUG",
};

_Static_assert(sizeof log_level_names / sizeof log_level_names[0] ==
                   LOG_DEBUG + 1,
               "one name per level");

/* Out-of-range levels are clamped so a bad value cannot silence errors. */
void log_set_level(int level)
{
    if (level < LOG_ERROR)
        level = LOG_ERROR;
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

/* "2024-05-01T12:34:56.789Z"; falls back to a fixed string if the clock or
 * the conversion fails, because logging must never fail. */
static void log_timestamp(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 ||
        gmtime_r(&ts.tv_sec, &tm) == NULL) {
        snprintf(out, cap, "0000-00-00T00:00:00.000Z");
        return;
    }
    char date[32];
    if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        date[0] = '\0';
    snprintf(out, cap, "%s.%03ldZ", date, (long)(ts.tv_nsec / 1000000));
}

void log_msg(int level, const char *fmt, ...)
{
    if (level > atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    if (level < LOG_ERROR)
        level = LOG_ERROR;
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;

    char msg[LOG_LINE_BYTES_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(msg, sizeof msg, "(log format error: %s)", fmt);

    char ts[48];
    log_timestamp(ts, sizeof ts);
    fprintf(stderr, "%s %-5s %s\n", ts, log_level_names[level], msg);
}

int errf(char *err, size_t err_cap, const char *fmt, ...)
{
    if (err_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}
