/* cmd_snapshot.c -- `quotadctl snapshot [--wait] [--timeout SECONDS]`:
 * ask a running daemon to write a snapshot (Request.snapshot{start}).
 *
 * Without --wait it prints what the daemon answered (started, running,
 * last_seq) and returns. With --wait it polls Request.snapshot{start =
 * false} every CTL_SNAP_POLL_MS until no snapshot runs, then judges the
 * outcome. The daemon reports only "running" and "last_seq", so:
 *   - done and last_seq moved: a snapshot completed after our request;
 *   - done and last_seq >= the seq the daemon was at when we asked: ours
 *     completed (it read the seq later, and seqs only grow) -- this also
 *     covers an idle daemon, where last_seq legitimately stays put;
 *   - otherwise it failed (the daemon's log says why): exit 1.
 * If the daemon said started=false because one was already running, we
 * wait for that one; if nothing runs and none started (it had just
 * finished, or the daemon is closing), we ask again until the deadline.
 *
 * After the command word, --timeout is the wait limit in seconds (as for
 * `watch`); the per-request timeout (ms) goes before the command.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define CTL_SNAP_POLL_MS 100
#define CTL_NS_PER_MS_SNAP 1000000L
#define CTL_SNAP_WAIT_S_DEFAULT 60u
#define CTL_SNAP_WAIT_S_MAX 86400u   /* one day */

/* Options of the snapshot command. */
typedef struct ctl_snap_opts {
    bool wait;
    uint32_t wait_s;
} ctl_snap_opts;

/* The last answer and the baseline the verdict compares against. */
typedef struct ctl_snap_state {
    bool started, running;
    uint64_t last_seq;
    uint64_t base_last_seq;      /* last_seq in the first reply */
    uint64_t asked_seq;          /* the daemon's seq when it started ours */
    bool have_asked_seq;
} ctl_snap_state;

/* --wait and --timeout SECONDS; 0 or -1 (usage printed). */
static int ctl_snap_scan(ctl_args *a, ctl_snap_opts *so)
{
    ctl_tok t;
    int s;
    so->wait = false;
    so->wait_s = CTL_SNAP_WAIT_S_DEFAULT;
    a->own_timeout = true;   /* --timeout here is the wait's, seconds */
    while ((s = ctl_arg_next(a, &t)) == CTL_SCAN_TOKEN) {
        if (ctl_flag_is(&t, "wait")) {
            if (!ctl_flag_noval(a, &t))
                return -1;
            so->wait = true;
        } else if (ctl_flag_is(&t, "timeout")) {
            const char *v = ctl_flag_value(a, &t);
            uint64_t n;
            if (v == NULL || ctl_parse_u64(a, "--timeout", v,
                                           CTL_SNAP_WAIT_S_MAX, &n) != 0)
                return -1;
            if (n == 0) {
                ctl_usage(a, "--timeout must be > 0");
                return -1;
            }
            so->wait_s = (uint32_t)n;
        } else {
            ctl_unknown_flag(a, &t);
            return -1;
        }
    }
    return s == CTL_SCAN_ERROR ? -1 : 0;
}

/* One Request.snapshot round trip; fills st from the reply. */
static int ctl_snap_call(ctl_env *e, bool start, ctl_snap_state *st,
                         uint64_t *reply_seq)
{
    Quotad__Reply *r = NULL;
    int rc = qc_snapshot(e->conn, start, &r);
    int code = ctl_result(e, rc, r);
    if (code == CTL_EXIT_OK)
        code = ctl_expect(e, r, QUOTAD__REPLY__RESULT_SNAPSHOT);
    if (code != CTL_EXIT_OK)
        return ctl_done(r, code);
    st->started = st->started || (start && r->snapshot->started);
    st->running = r->snapshot->running;
    st->last_seq = r->snapshot->last_seq;
    *reply_seq = r->seq;
    return ctl_done(r, CTL_EXIT_OK);
}

/* The answer, human or one JSON object; waited_ms only with --wait. */
static void ctl_snap_print(ctl_env *e, const ctl_snap_state *st,
                           uint64_t seq, const int64_t *waited_ms)
{
    ctl_out *o = ctl_o(e);
    ctl_out_begin(o);
    if (o->json)
        ctl_out_bool(o, "ok", true);
    ctl_out_bool(o, "started", st->started);
    ctl_out_bool(o, "running", st->running);
    ctl_out_u64(o, "last_seq", st->last_seq);
    if (waited_ms != NULL)
        ctl_out_i64(o, "waited_ms", *waited_ms);
    ctl_out_u64(o, "seq", seq);
    ctl_out_end(o);
}

/* A failure of --wait: stderr always, a JSON object with --json. */
static int ctl_snap_fail(ctl_env *e, const char *code, const char *msg)
{
    fprintf(stderr, "error: %s\n", msg);
    if (e->json) {
        ctl_out *o = ctl_o(e);
        ctl_out_begin(o);
        ctl_out_bool(o, "ok", false);
        ctl_out_str(o, "code", code);
        ctl_out_str(o, "error", msg);
        ctl_out_end(o);
    }
    return CTL_EXIT_SERVER;
}

/* Sleep CTL_SNAP_POLL_MS (resuming after signals). */
static void ctl_snap_sleep(void)
{
    struct timespec ts = {0, CTL_SNAP_POLL_MS * CTL_NS_PER_MS_SNAP};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Poll until the snapshot we wait for is no longer running: ours, or the
 * one that was already running. While none runs and none started (one
 * had just finished, or the daemon is closing), ask again. Bounded by
 * the deadline: every pass either returns or sleeps one poll interval. */
static int ctl_snap_poll(ctl_env *e, ctl_snap_state *st, int64_t deadline,
                         uint64_t *seq)
{
    bool waited_other = st->running && !st->started;
    for (;;) {
        if (!st->running && (st->started || waited_other))
            return CTL_EXIT_OK;
        if (!st->running) {
            int code = ctl_snap_call(e, true, st, seq);
            if (code != CTL_EXIT_OK)
                return code;
            if (st->started) {
                st->asked_seq = *seq;
                st->have_asked_seq = true;
                continue;
            }
            waited_other = st->running;
            if (st->running)
                continue;
        }
        if (ctl_now_ms() >= deadline)
            return ctl_snap_fail(e, "TIMEOUT", "the snapshot did not finish "
                                 "in time (it may still complete)");
        ctl_snap_sleep();
        int code = ctl_snap_call(e, false, st, seq);
        if (code != CTL_EXIT_OK)
            return code;
    }
}

/* --wait: see the file comment for how the outcome is judged. */
static int ctl_snap_wait(ctl_env *e, ctl_snap_state *st, uint32_t wait_s,
                         uint64_t seq)
{
    int64_t t0 = ctl_now_ms();
    int64_t deadline = t0 + (int64_t)wait_s * CTL_MS_PER_SEC;
    int code = ctl_snap_poll(e, st, deadline, &seq);
    if (code != CTL_EXIT_OK)
        return code;
    bool moved = st->last_seq != st->base_last_seq;
    bool ours_done = st->have_asked_seq && st->last_seq >= st->asked_seq;
    if (!moved && !ours_done)
        return ctl_snap_fail(e, "SNAPSHOT_FAILED", "the snapshot ended "
                             "without completing (see the daemon's log)");
    int64_t waited = ctl_now_ms() - t0;
    ctl_snap_print(e, st, seq, &waited);
    return CTL_EXIT_OK;
}

/* Ask once; with --wait, follow it to the end (see the file comment). */
int ctl_cmd_snapshot(ctl_env *e, ctl_args *a)
{
    ctl_snap_opts so;
    if (ctl_snap_scan(a, &so) != 0)
        return CTL_EXIT_USAGE;
    int code = ctl_conn(e);
    if (code != CTL_EXIT_OK)
        return code;
    ctl_snap_state st;
    memset(&st, 0, sizeof st);
    uint64_t seq = 0;
    code = ctl_snap_call(e, true, &st, &seq);
    if (code != CTL_EXIT_OK)
        return code;
    st.base_last_seq = st.last_seq;
    if (st.started) {
        st.asked_seq = seq;
        st.have_asked_seq = true;
    }
    if (!so.wait) {
        ctl_snap_print(e, &st, seq, NULL);
        return CTL_EXIT_OK;
    }
    return ctl_snap_wait(e, &st, so.wait_s, seq);
}
