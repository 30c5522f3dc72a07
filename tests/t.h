/* t.h -- the tiny test harness every test binary uses.
 *
 *   static void test_parse(void) { T_CHECK(x == 1); T_EQ_I64(a, b); }
 *   int main(void) { T_RUN(test_parse); return t_done(); }
 *
 * Each test prints "PASS name" or "FAIL name"; a failed check prints its
 * file:line and expression and the test continues (so one run shows every
 * failure). tests/run.sh counts the PASS/FAIL lines of all binaries; a
 * binary that crashes or exits non-zero without FAIL lines counts as one
 * failure. Header-only on purpose: no library to link.
 */
#ifndef QD_T_H
#define QD_T_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int t_failed_checks;   /* in the current test */
static int t_tests_failed;
static int t_tests_passed;

#define T_CHECK(cond)                                                      \
    do {                                                                   \
        if (!(cond)) {                                                     \
            t_failed_checks++;                                             \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__,       \
                    __LINE__, #cond);                                      \
        }                                                                  \
    } while (0)

#define T_EQ_I64(a, b)                                                     \
    do {                                                                   \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);            \
        if (t_a_ != t_b_) {                                                \
            t_failed_checks++;                                             \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n",    \
                    __FILE__, __LINE__, #a, #b, t_a_, t_b_);               \
        }                                                                  \
    } while (0)

#define T_EQ_STR(a, b)                                                     \
    do {                                                                   \
        const char *t_a_ = (a), *t_b_ = (b);                               \
        if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0) {     \
            t_failed_checks++;                                             \
            fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n",\
                    __FILE__, __LINE__, #a, #b, t_a_ ? t_a_ : "(null)",    \
                    t_b_ ? t_b_ : "(null)");                               \
        }                                                                  \
    } while (0)

/* Abort the current test (e.g. a setup step failed). */
#define T_REQUIRE(cond)                                                    \
    do {                                                                   \
        if (!(cond)) {                                                     \
            t_failed_checks++;                                             \
            fprintf(stderr, "  %s:%d: required: %s\n", __FILE__, __LINE__, \
                    #cond);                                                \
            return;                                                        \
        }                                                                  \
    } while (0)

static inline void t_run(const char *name, void (*fn)(void))
{
    t_failed_checks = 0;
    fn();
    if (t_failed_checks == 0) {
        t_tests_passed++;
        printf("PASS %s\n", name);
    } else {
        t_tests_failed++;
        printf("FAIL %s (%d checks)\n", name, t_failed_checks);
    }
    fflush(stdout);
}

#define T_RUN(fn) t_run(#fn, fn)

static inline int t_done(void)
{
    printf("# %d passed, %d failed\n", t_tests_passed, t_tests_failed);
    return t_tests_failed == 0 ? 0 : 1;
}

/* Write text to a new file /tmp/NAME.XXXXXX; its path goes to path
 * (T_TMP_PATH_BYTES). 0 or -1. The caller unlinks it. */
#define T_TMP_PATH_BYTES 64u
static inline int t_write_tmp(char *path, const char *name, const char *text)
{
    snprintf(path, T_TMP_PATH_BYTES, "/tmp/%.40s.XXXXXX", name);
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    return close(fd) == 0 && w == (ssize_t)len ? 0 : -1;
}

/* Monotonic microseconds: timings must not jump with the wall clock. */
static inline int64_t t_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
