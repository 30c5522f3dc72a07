/* diskprobe.c -- `quotad-bench --disk-probe DIR`: what one durable
 * acknowledgement costs on the disk under DIR, with quotad's own pattern.
 *
 * quotad's log (fsync always) overwrites a zero-filled, already synced
 * segment and calls fdatasync once per group commit; a reply waits for
 * it. This probe does the same in a scratch file: DISKPROBE_WRITE_BYTES
 * (a typical group's compressed chunk) per round, at the next offset.
 * Each round is timed twice over, on alternate rounds:
 *   sync   pwrite + fdatasync, exactly what a commit does;
 *   split  pwrite, sync_file_range(WRITE|WAIT_AFTER) (the data reaching
 *          the device), then fdatasync (what is left: the device's cache
 *          flush when its write cache is volatile).
 * Bounded by DISKPROBE_ROUNDS and DISKPROBE_SECONDS_MAX; the file is
 * removed at the end. With fsync time S and F requests in flight no
 * server that acknowledges only durable changes can exceed F / S
 * operations per second, whatever it batches: bench/run.sh prints that
 * ceiling next to the durable rows.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DISKPROBE_NAME "quotad-bench-disk-probe.tmp"
#define DISKPROBE_FILE_BYTES (4u * 1024u * 1024u)
#define DISKPROBE_WRITE_BYTES (8u * 1024u)
#define DISKPROBE_ROUNDS 600u          /* split and sync: half each */
#define DISKPROBE_SECONDS_MAX 10.0
#define DISKPROBE_NS_PER_US 1000.0

typedef struct probe_series {
    double *us;
    uint32_t n;
} probe_series;

static int us_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double series_mean(const probe_series *s)
{
    double t = 0;
    for (uint32_t i = 0; i < s->n; i++)
        t += s->us[i];
    return s->n > 0 ? t / s->n : 0;
}

/* Sorts s; q in [0, 1]. */
static double series_pct(probe_series *s, double q)
{
    if (s->n == 0)
        return 0;
    qsort(s->us, s->n, sizeof *s->us, us_cmp);
    uint32_t i = (uint32_t)(q * (s->n - 1) + 0.5);
    return s->us[i];
}

/* The zero-filled, synced scratch segment. */
static int probe_prepare(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    static const char zeros[DISKPROBE_WRITE_BYTES];
    for (uint32_t off = 0; off < DISKPROBE_FILE_BYTES; off += sizeof zeros) {
        if (pwrite(fd, zeros, sizeof zeros, off) != (ssize_t)sizeof zeros) {
            close(fd);
            return -1;
        }
    }
    if (fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static double since_us(int64_t t0)
{
    return (double)(bench_now_ns() - t0) / DISKPROBE_NS_PER_US;
}

/* One round at off; split rounds fill data/flush, others sync. */
static int probe_round(int fd, const char *buf, off_t off, bool split,
                       probe_series *sync, probe_series *data,
                       probe_series *flush)
{
    if (pwrite(fd, buf, DISKPROBE_WRITE_BYTES, off) !=
        (ssize_t)DISKPROBE_WRITE_BYTES)
        return -1;
    int64_t t0 = bench_now_ns();
    if (split) {
        if (sync_file_range(fd, off, DISKPROBE_WRITE_BYTES,
                            SYNC_FILE_RANGE_WAIT_BEFORE |
                                SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER) != 0)
            return -1;
        data->us[data->n++] = since_us(t0);
        t0 = bench_now_ns();
    }
    if (fdatasync(fd) != 0)
        return -1;
    probe_series *s = split ? flush : sync;
    s->us[s->n++] = since_us(t0);
    return 0;
}

static int probe_rounds(int fd, probe_series *sync, probe_series *data,
                        probe_series *flush)
{
    static char buf[DISKPROBE_WRITE_BYTES];
    int64_t start = bench_now_ns();
    for (uint32_t r = 0; r < DISKPROBE_ROUNDS; r++) {
        if (since_us(start) > DISKPROBE_SECONDS_MAX * 1e6)
            break;
        memset(buf, (int)(r % 251u) + 1, sizeof buf);   /* never zeros */
        off_t off = (off_t)((r * (uint64_t)DISKPROBE_WRITE_BYTES) %
                            DISKPROBE_FILE_BYTES);
        if (probe_round(fd, buf, off, r % 2u == 1u, sync, data, flush) != 0)
            return -1;
    }
    return 0;
}

static void probe_print(const char *dir, probe_series *sync,
                        probe_series *data, probe_series *flush, bool json)
{
    double sm = series_mean(sync), dm = series_mean(data),
           fm = series_mean(flush);
    double p50 = series_pct(sync, 0.5), p99 = series_pct(sync, 0.99);
    if (json) {
        printf("{\"disk_probe\":{\"rounds\":%u,\"write_bytes\":%u,"
               "\"fdatasync_us_mean\":%.1f,\"fdatasync_us_p50\":%.1f,"
               "\"fdatasync_us_p99\":%.1f,\"data_write_us_mean\":%.1f,"
               "\"flush_us_mean\":%.1f}}\n",
               sync->n + data->n, DISKPROBE_WRITE_BYTES, sm, p50, p99, dm,
               fm);
        return;
    }
    printf("disk probe in %s: %u rounds of %u bytes\n"
           "  write + fdatasync   mean %.0f us (p50 %.0f, p99 %.0f)\n"
           "  of which data write mean %.0f us, then flush mean %.0f us\n",
           dir, sync->n + data->n, DISKPROBE_WRITE_BYTES, sm, p50, p99, dm,
           fm);
}

int diskprobe_main(const char *dir, bool json)
{
    char path[BENCH_PATH_BYTES];
    int n = snprintf(path, sizeof path, "%s/%s", dir, DISKPROBE_NAME);
    if (n < 0 || (size_t)n >= sizeof path)
        return EXIT_FAILURE;
    double *us = calloc(2u * DISKPROBE_ROUNDS, sizeof *us);
    int fd = us != NULL ? probe_prepare(path) : -1;
    int rc = fd >= 0 ? 0 : -1;
    probe_series sync = {us, 0}, data = {us + DISKPROBE_ROUNDS, 0},
                 flush = {us + DISKPROBE_ROUNDS + DISKPROBE_ROUNDS / 2u, 0};
    if (rc == 0)
        rc = probe_rounds(fd, &sync, &data, &flush);
    if (rc != 0)
        fprintf(stderr, "quotad-bench: disk probe in %s: %s\n", dir,
                strerror(errno));
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    (void)unlink(path);
    if (rc == 0)
        probe_print(dir, &sync, &data, &flush, json);
    free(us);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
