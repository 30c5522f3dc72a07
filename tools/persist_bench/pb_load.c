/* pb_load.c -- check throughput per durability policy (pb_load.h). */
#include "pb_load.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "qc_admin.h"

#define PB_WALLET INT64_C(100000000000000)

/* Varied amounts and tokens (xorshift), so the log does not compress
 * better than a real one would. */
static qc_check_req next_req(pb_loader *l)
{
    l->rng ^= l->rng << 13;
    l->rng ^= l->rng >> 7;
    l->rng ^= l->rng << 17;
    qc_check_req rq = {.secret = l->secret,
                       .amount = 1 + (int64_t)(l->rng % PB_AMOUNT_MAX),
                       .tokens = (int64_t)((l->rng >> 20) % PB_TOKENS_MAX)};
    return rq;
}

/* Keep `pipeline` checks in flight until the end time, then drain. */
static void *load_main(void *arg)
{
    pb_loader *l = arg;
    int rc = QC_OK;
    for (int i = 0; rc == QC_OK && i < l->pipeline; i++) {
        qc_check_req rq = next_req(l);
        rc = qc_check_append(l->c, &rq, NULL);
    }
    int64_t last = pb_mono_ms();
    while (rc == QC_OK && qc_in_flight(l->c) > 0) {
        qc_check_res rs;
        if ((rc = qc_check_read(l->c, NULL, &rs)) != QC_OK)
            break;
        int64_t now = pb_mono_ms();
        if (now - last > l->max_gap_ms)
            l->max_gap_ms = now - last;
        last = now;
        *(rs.decision == QC_ALLOWED ? &l->done : &l->errors) += 1;
        qc_check_req rq = next_req(l);
        if (now < atomic_load(&l->end_ms))
            rc = qc_check_append(l->c, &rq, NULL);
    }
    l->errors += rc != QC_OK;
    return NULL;
}

int pb_load_make_key(qc_ctx *c, char *out, size_t cap)
{
    Quotad__Reply *r = NULL;
    if (qc_create_workspace(c, "bench", 0, 0, PB_WALLET, &r) != QC_OK)
        return -1;
    uint32_t ws = r->workspace->workspace_id;
    qc_reply_free(r);
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    ck.has_workspace_id = 1;
    ck.workspace_id = ws;
    ck.name = (char *)"bench";
    r = NULL;
    int rc = qc_create_key(c, &ck, &r);
    if (rc == QC_OK)
        snprintf(out, cap, "%s", r->key_secret->secret);
    qc_reply_free(r);
    return rc == QC_OK ? 0 : -1;
}

int pb_loader_start(pb_loader *l, const pb_daemon *d, int pipeline,
                    int64_t end_ms, uint64_t seed)
{
    l->c = pb_daemon_connect(d);
    l->pipeline = pipeline;
    atomic_store(&l->end_ms, end_ms);
    l->done = l->errors = l->max_gap_ms = 0;
    l->rng = UINT64_C(0x9e3779b97f4a7c15) * seed;
    if (l->c != NULL && pthread_create(&l->th, NULL, load_main, l) == 0)
        return 0;
    qc_free(l->c);
    l->c = NULL;
    return -1;
}

/* Run the load against a started daemon; fills done/errors/per_s. */
static int run_load(const pb_daemon *d, const pb_opts *o, pb_load_res *res)
{
    static pb_loader ls[PB_CONNS_MAX];
    qc_ctx *setup = pb_daemon_connect(d);
    int rc = setup != NULL ? 0 : -1;
    for (int i = 0; rc == 0 && i < o->conns; i++)
        rc = pb_load_make_key(setup, ls[i].secret, sizeof ls[i].secret);
    qc_free(setup);
    int64_t t0 = pb_mono_ms(), started = 0;
    for (int i = 0; rc == 0 && i < o->conns; i++) {
        rc = pb_loader_start(&ls[i], d, o->pipeline, t0 + o->seconds * 1000,
                             (uint64_t)i + 1);
        started += rc == 0;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(ls[i].th, NULL);
        qc_free(ls[i].c);
        res->done += ls[i].done;
        res->errors += ls[i].errors;
    }
    int64_t ms = pb_mono_ms() - t0;
    res->per_s = ms > 0 ? (double)res->done * 1000.0 / (double)ms : 0;
    return rc;
}

int pb_load_policy(const pb_opts *o, const char *name, const char *fsync,
                   const char *persist, pb_load_res *res)
{
    memset(res, 0, sizeof *res);
    res->name = name;
    const char *x[] = {"--fsync", fsync, "--persist", persist,
                       "--log-level", "1", NULL};
    pb_daemon d;
    int rc = pb_daemon_start(&d, o->bin, x);
    if (rc == 0)
        rc = run_load(&d, o, res);
    if (d.pid > 0 && pb_daemon_stop(&d) != 0)
        rc = -1;
    if (rc == 0 && strcmp(persist, "1") == 0)
        rc = pb_seg_dir(&d, &res->seg);
    pb_daemon_cleanup(&d);
    fprintf(stderr, "  %-14s %10.0f checks/s (%" PRId64 " errors)\n", name,
            res->per_s, res->errors);
    return rc;
}
