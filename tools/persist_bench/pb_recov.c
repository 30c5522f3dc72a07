/* pb_recov.c -- recovery of many keys (pb_recov.h). */
#include "pb_recov.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_load.h"
#include "qc_admin.h"

#define PB_WS_MAX_KEYS 200
#define PB_SNAP_WAIT_MS 300000
#define PB_LOG_MAX (4u << 20)

_Static_assert(PB_KEYS_PER_WS <= PB_WS_MAX_KEYS,
               "a workspace must hold its share of keys");

typedef struct key_loader {
    pthread_t th;
    qc_ctx *c;
    const uint32_t *ws;
    int from, to;            /* key indexes [from, to) */
    int rc;
} key_loader;

/* One frame of create_key (or create_workspace when ws == NULL). */
static int batch_create(qc_ctx *c, const uint32_t *ws, int from, int n,
                        uint32_t *ws_out)
{
    static __thread Quotad__CreateKey ck[PB_BATCH];
    static __thread Quotad__CreateWorkspace cw[PB_BATCH];
    static __thread Quotad__Request rq[PB_BATCH];
    static __thread Quotad__Request *p[PB_BATCH];
    static __thread Quotad__Reply *out[PB_BATCH];
    for (int i = 0; i < n; i++) {
        quotad__request__init(&rq[i]);
        if (ws != NULL) {
            quotad__create_key__init(&ck[i]);
            ck[i].has_workspace_id = 1;
            ck[i].workspace_id = ws[(from + i) / PB_KEYS_PER_WS];
            ck[i].name = (char *)"k";
            rq[i].op_case = QUOTAD__REQUEST__OP_CREATE_KEY;
            rq[i].create_key = &ck[i];
        } else {
            quotad__create_workspace__init(&cw[i]);
            cw[i].name = (char *)"w";
            cw[i].has_max_keys = 1;
            cw[i].max_keys = PB_WS_MAX_KEYS;
            rq[i].op_case = QUOTAD__REQUEST__OP_CREATE_WORKSPACE;
            rq[i].create_workspace = &cw[i];
        }
        p[i] = &rq[i];
    }
    int rc = qc_call_batch(c, p, (size_t)n, out);
    for (int i = 0; i < n && rc == QC_OK; i++) {
        if (out[i]->has_code && out[i]->code != QUOTAD__CODE__OK)
            rc = (int)out[i]->code;
        else if (ws == NULL)
            ws_out[from + i] = out[i]->workspace->workspace_id;
    }
    for (int i = 0; i < n && out[0] != NULL; i++)
        qc_reply_free(out[i]);
    return rc;
}

static void *key_load_main(void *arg)
{
    key_loader *k = arg;
    for (int i = k->from; k->rc == 0 && i < k->to; i += PB_BATCH) {
        int n = k->to - i < PB_BATCH ? k->to - i : PB_BATCH;
        k->rc = batch_create(k->c, k->ws, i, n, NULL);
    }
    return NULL;
}

/* Workspaces (one connection), then keys (PB_LOADERS connections). */
static int load_keys(const pb_daemon *d, int keys, uint32_t *ws)
{
    int n_ws = keys / PB_KEYS_PER_WS;
    qc_ctx *c = pb_daemon_connect(d);
    int rc = c != NULL ? 0 : -1;
    for (int i = 0; rc == 0 && i < n_ws; i += PB_BATCH)
        rc = batch_create(c, NULL, i, n_ws - i < PB_BATCH ? n_ws - i
                                                          : PB_BATCH, ws);
    qc_free(c);
    key_loader kl[PB_LOADERS];
    int started = 0, per = (n_ws * PB_KEYS_PER_WS) / PB_LOADERS;
    for (int i = 0; rc == 0 && i < PB_LOADERS; i++) {
        kl[i] = (key_loader){.c = pb_daemon_connect(d), .ws = ws,
                             .from = i * per,
                             .to = i + 1 == PB_LOADERS ? n_ws * PB_KEYS_PER_WS
                                                       : (i + 1) * per};
        if (kl[i].c == NULL ||
            pthread_create(&kl[i].th, NULL, key_load_main, &kl[i]) != 0) {
            qc_free(kl[i].c);
            rc = -1;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(kl[i].th, NULL);
        qc_free(kl[i].c);
        rc |= kl[i].rc;
    }
    return rc;
}

/* ms of the last "recover: ... records applied ..., seq S, N ms" line. */
static int64_t recover_ms(const pb_daemon *d)
{
    char path[PB_PATH + 16];
    snprintf(path, sizeof path, "%s/stderr", d->dir);
    char *t = pb_read_text(path, PB_LOG_MAX);
    const char *last = NULL;
    for (const char *p = t; p != NULL && (p = strstr(p, "records applied"));
         p++)
        last = p;
    const char *seq = last != NULL ? strstr(last, ", seq ") : NULL;
    long long ms = -1;
    if (seq == NULL || sscanf(seq, ", seq %*u, %lld ms", &ms) != 1)
        ms = -1;
    free(t);
    return ms;
}

/* Start a snapshot, poll until it is no longer running; its ms, or -1. */
static int64_t take_snapshot(const pb_daemon *d)
{
    qc_ctx *c = pb_daemon_connect(d);
    int64_t t0 = pb_mono_ms(), ms = -1;
    for (int start = 1; c != NULL && pb_mono_ms() - t0 < PB_SNAP_WAIT_MS;
         start = 0) {
        Quotad__Reply *r = NULL;
        int rc = qc_snapshot(c, start != 0, &r);
        const Quotad__SnapshotReply *s = rc == QC_OK ? r->snapshot : NULL;
        bool bad = s == NULL || (start && !s->started);
        bool done = !bad && !start && !s->running;
        qc_reply_free(r);
        if (bad || done) {
            ms = bad ? -1 : pb_mono_ms() - t0;
            break;
        }
        pb_sleep_ms(PB_POLL_MS);
    }
    qc_free(c);
    return ms;
}

/* Clean stop (log statistics into seg if not NULL), start again; record
 * start-to-port and the "recover:" ms. */
static int restart_measure(pb_daemon *d, int64_t *port_ms, int64_t *rec_ms,
                           pb_seg_stats *seg)
{
    if (pb_daemon_stop(d) != 0 || (seg != NULL && pb_seg_dir(d, seg) != 0) ||
        pb_daemon_launch(d) != 0)
        return -1;
    *port_ms = d->start_to_port_ms;
    *rec_ms = recover_ms(d);
    return 0;
}

/* A snapshot while one connection runs synchronous checks: how long the
 * hot path stalls (the daemon runs --fsync no: no fsync wait in it). */
static int snapshot_with_probe(const pb_daemon *d, pb_recov_res *res)
{
    static pb_loader l;
    qc_ctx *c = pb_daemon_connect(d);
    int rc = c != NULL ? pb_load_make_key(c, l.secret, sizeof l.secret) : -1;
    qc_free(c);
    if (rc != 0 || pb_loader_start(&l, d, 1, INT64_MAX, 1) != 0)
        return -1;
    res->snap_ms = take_snapshot(d);
    atomic_store(&l.end_ms, 0);
    pthread_join(l.th, NULL);
    qc_free(l.c);
    res->probe_checks = l.done;
    res->probe_max_ms = l.max_gap_ms;
    return res->snap_ms < 0 || l.errors != 0 ? -1 : 0;
}

int pb_recov_run(const pb_opts *o, pb_recov_res *res)
{
    memset(res, 0, sizeof *res);
    res->keys = (o->keys / PB_KEYS_PER_WS) * PB_KEYS_PER_WS;
    uint32_t *ws = calloc((size_t)o->keys / PB_KEYS_PER_WS + 1, sizeof *ws);
    const char *x[] = {"--fsync", "no", "--log-level", "2", NULL};
    pb_daemon d;
    memset(&d, 0, sizeof d);
    int rc = ws != NULL ? pb_daemon_start(&d, o->bin, x) : -1;
    int64_t t0 = pb_mono_ms();
    if (rc == 0)
        rc = load_keys(&d, o->keys, ws);
    res->load_s = (double)(pb_mono_ms() - t0) / 1000.0;
    fprintf(stderr, "  %d keys loaded in %.1f s\n", res->keys, res->load_s);
    if (rc == 0)
        rc = restart_measure(&d, &res->log_port_ms, &res->log_recover_ms,
                             &res->seg);
    if (rc == 0)
        rc = snapshot_with_probe(&d, res);
    if (rc == 0)
        rc = restart_measure(&d, &res->snap_port_ms, &res->snap_recover_ms,
                             NULL);
    if (d.pid > 0 && pb_daemon_stop(&d) != 0)
        rc = -1;
    if (o->keep)
        fprintf(stderr, "  data dir kept: %s/data\n", d.dir);
    else
        pb_daemon_cleanup(&d);
    free(ws);
    return rc;
}
