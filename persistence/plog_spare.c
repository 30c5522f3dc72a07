/* plog_spare -- keep one zero-filled spare segment ready for rotation.
 *
 * Overwriting blocks that are already allocated and initialised makes a
 * commit's fdatasync flush only the data: appending also changes the
 * file's size and extents, which costs an inode write per commit (on this
 * project's VM ~30 % of an fsync and ~40 % of its CPU: bench/ANALYSIS.md).
 * Zeroing 64 MiB takes ~100 ms of disk time, so a thread of its own does
 * it ahead of need; the writer renames the spare into place at rotation
 * (segfile_create_prepared) and falls back to a growing file when none is
 * ready. Failures (disk full, file size limits) are not fatal: they cost
 * the speed-up, never data, and are retried every PLOG_SPARE_RETRY_MS.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "plog_internal.h"

/* Unlink a leftover spare (a crash, or a failed rename). */
static void spare_remove(plog *pl)
{
    char path[PLOG_DIR_BYTES + PLOG_NAME_BYTES];
    snprintf(path, sizeof(path), "%s/" PLOG_SPARE_NAME, pl->dir);
    if (unlink(path) != 0 && errno != ENOENT) {
        log_warn("log: cannot remove %s: %s", path, strerror(errno));
    }
}

static void spare_wait_retry(plog *pl)
{
    struct timespec ts;
    plog_deadline(&ts, (uint64_t)PLOG_SPARE_RETRY_MS * 1000u);
    (void)pthread_cond_timedwait(&pl->spare_cv, &pl->spare_mu, &ts);
}

/* One attempt, without spare_mu held. */
static int spare_make(plog *pl, bool *warned)
{
    spare_remove(pl);
    uint64_t bytes = pl->opt.segment_bytes_max + PLOG_SPARE_SLACK_BYTES;
    if (bytes > SEGFILE_BYTES_MAX) {
        bytes = SEGFILE_BYTES_MAX;
    }
    segfile_status s = segfile_prepare(pl->dir, PLOG_SPARE_NAME, bytes,
                                       &pl->spare_stop);
    if (s == SEGFILE_OK) {
        atomic_fetch_add(&pl->n_spares, 1);
        return 0;
    }
    if (s != SEGFILE_ERR_CANCELED && !*warned) {
        log_warn("log: cannot prepare a spare segment of %" PRIu64
                 " bytes (%s: %s): segments grow as they are written "
                 "(slower fsyncs); retrying every %u s",
                 bytes, segfile_status_str(s), strerror(errno),
                 PLOG_SPARE_RETRY_MS / 1000u);
        *warned = true;
    }
    return -1;
}

static void *spare_main(void *arg)
{
    plog *pl = arg;
    (void)pthread_setname_np(pthread_self(), "qd-log-spare");
    bool warned = false;
    pthread_mutex_lock(&pl->spare_mu);
    while (!atomic_load(&pl->spare_stop)) {
        if (atomic_load(&pl->spare_ready)) {
            pthread_cond_wait(&pl->spare_cv, &pl->spare_mu);
            continue;
        }
        pthread_mutex_unlock(&pl->spare_mu);
        int rc = spare_make(pl, &warned);
        pthread_mutex_lock(&pl->spare_mu);
        if (rc == 0) {
            atomic_store(&pl->spare_ready, 1);
        } else if (!atomic_load(&pl->spare_stop)) {
            spare_wait_retry(pl);
        }
    }
    pthread_mutex_unlock(&pl->spare_mu);
    return NULL;
}

int plog_spare_start(plog *pl)
{
    if (pl->opt.no_spare) {
        return 0;
    }
    if (pthread_create(&pl->spare_tid, NULL, spare_main, pl) != 0) {
        log_warn("log: no spare segment thread: segments grow as written");
        return -1;
    }
    pl->spare_started = true;
    return 0;
}

void plog_spare_stop(plog *pl)
{
    if (!pl->spare_started) {
        return;
    }
    pthread_mutex_lock(&pl->spare_mu);
    atomic_store(&pl->spare_stop, 1);
    pthread_cond_broadcast(&pl->spare_cv);
    pthread_mutex_unlock(&pl->spare_mu);
    pthread_join(pl->spare_tid, NULL);
    pl->spare_started = false;
    atomic_store(&pl->spare_ready, 0);
    spare_remove(pl);
}

bool plog_spare_ready(const plog *pl)
{
    return atomic_load(&pl->spare_ready) != 0;
}

/* Writer thread: the spare is ready; make it segment segno. Returns the
 * status; either way the spare is spent and the next one is started. */
segfile_status plog_spare_take(plog *pl, const char *name, segfile_writer **w)
{
    segfile_status s = segfile_create_prepared(
        pl->dir, PLOG_SPARE_NAME, name, SEGFILE_KIND_LOG, pl->segno,
        (uint64_t)store_clock_real_ms(), pl->has_key ? pl->key : NULL, w);
    pthread_mutex_lock(&pl->spare_mu);
    atomic_store(&pl->spare_ready, 0);
    pthread_cond_signal(&pl->spare_cv);
    pthread_mutex_unlock(&pl->spare_mu);
    return s;
}
