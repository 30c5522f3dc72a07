/* load_qd.c -- create the population in quotad through libquotad: W
 * workspaces with large balances, then K keys (key i in workspace i % W)
 * with a quota, a daily cap, RPM/TPM limits and model and IP allowlists,
 * so every check walks every check of docs/protocol.md.
 *
 * Creates are pipelined LOAD_WINDOW deep on cfg->conns connections, one
 * thread each; the secrets the server returns go to the population file.
 */
#include "bench.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qc_admin.h"

#define LOAD_WINDOW 256u                  /* creates in flight per conn */
#define LOAD_NAME_BYTES 32u
#define LOAD_WS_KEYS_SPARE 1u             /* max_keys above the share */

typedef struct load_job {
    const bench_cfg *cfg;
    bench_pop *pop;
    const uint32_t *ws_ids;
    uint32_t idx;
    int rc;
    char err[BENCH_ERR_BYTES];
} load_job;

static int load_connect(const bench_cfg *cfg, qc_ctx **c, char *err)
{
    qc_options o = qc_options_default();
    o.host = cfg->host;
    o.port = cfg->port;
    o.timeout_ms = BENCH_TIMEOUT_MS * 3;
    o.client_name = "quotad-bench-load";
    int rc = qc_connect(&o, c);
    if (rc != QC_OK)
        snprintf(err, BENCH_ERR_BYTES, "connect %s:%u: %s", cfg->host,
                 (unsigned)cfg->port, qc_strerror(rc));
    return rc == QC_OK ? 0 : -1;
}

/* Read one reply of the pipeline; a server code is a load failure. */
static int load_read(qc_ctx *c, Quotad__Reply **r, char *err)
{
    int rc = qc_read(c, r);
    if (rc != QC_OK) {
        snprintf(err, BENCH_ERR_BYTES, "create failed: %s (%s)",
                 qc_strerror(rc), qc_errstr(c));
        qc_reply_free(*r);
        *r = NULL;
        return -1;
    }
    return 0;
}

static int load_append_ws(qc_ctx *c, uint32_t max_keys, uint32_t i)
{
    char name[LOAD_NAME_BYTES];
    snprintf(name, sizeof name, "bench-ws-%" PRIu32, i);
    Quotad__CreateWorkspace cw = QUOTAD__CREATE_WORKSPACE__INIT;
    cw.name = name;
    cw.has_max_keys = 1;
    cw.max_keys = max_keys;
    cw.has_overdraft_limit = 1;
    cw.overdraft_limit = 0;
    cw.has_initial_balance = 1;
    cw.initial_balance = POP_BALANCE_MICRO;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CREATE_WORKSPACE;
    rq.create_workspace = &cw;
    return qc_append(c, &rq);
}

/* Workspaces on one connection; ids into ws_ids[0..W). */
static int load_workspaces(const bench_cfg *cfg, uint32_t *ws_ids, char *err)
{
    qc_ctx *c = NULL;
    if (load_connect(cfg, &c, err) != 0)
        return -1;
    uint32_t max_keys = cfg->keys / cfg->workspaces + LOAD_WS_KEYS_SPARE;
    int rc = 0;
    for (uint32_t at = 0; at < cfg->workspaces && rc == 0;
         at += LOAD_WINDOW) {
        uint32_t n = cfg->workspaces - at;
        n = n < LOAD_WINDOW ? n : LOAD_WINDOW;
        for (uint32_t i = 0; i < n && rc == 0; i++)
            rc = load_append_ws(c, max_keys, at + i) == QC_OK ? 0 : -1;
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            Quotad__Reply *r = NULL;
            rc = load_read(c, &r, err);
            if (rc == 0 && r->workspace == NULL)
                rc = -1;
            if (rc == 0)
                ws_ids[at + i] = r->workspace->workspace_id;
            qc_reply_free(r);
        }
    }
    if (rc != 0 && err[0] == '\0')
        snprintf(err, BENCH_ERR_BYTES, "create_workspace: %s", qc_errstr(c));
    qc_free(c);
    return rc;
}

static int load_append_key(qc_ctx *c, uint32_t ws_id, size_t i)
{
    static char model_a[] = POP_MODEL_A, model_b[] = POP_MODEL_B;
    static char ip_a[] = POP_IP_A, ip_b[] = POP_IP_B;
    char *models[] = {model_a, model_b};
    char *ips[] = {ip_a, ip_b};
    char name[LOAD_NAME_BYTES];
    snprintf(name, sizeof name, "k%zu", i);
    Quotad__KeyLimits lim = QUOTAD__KEY_LIMITS__INIT;
    lim.has_quota_total = lim.has_spend_cap_day = 1;
    lim.quota_total = POP_QUOTA_MICRO;
    lim.spend_cap_day = POP_CAP_DAY_MICRO;
    lim.has_rpm = lim.has_tpm = 1;
    lim.rpm = POP_RPM;
    lim.tpm = POP_TPM;
    lim.n_models = 2;
    lim.models = models;
    lim.n_ips = 2;
    lim.ips = ips;
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    ck.has_workspace_id = 1;
    ck.workspace_id = ws_id;
    ck.name = name;
    ck.limits = &lim;
    Quotad__Request rq = QUOTAD__REQUEST__INIT;
    rq.op_case = QUOTAD__REQUEST__OP_CREATE_KEY;
    rq.create_key = &ck;
    return qc_append(c, &rq);
}

/* Store a create_key reply's secret and ids as population key i. */
static int load_keep_key(const Quotad__Reply *r, pop_key *k)
{
    const Quotad__KeySecret *ks = r->key_secret;
    if (ks == NULL || ks->secret == NULL || ks->key == NULL ||
        strlen(ks->secret) >= sizeof k->id)
        return -1;
    snprintf(k->id, sizeof k->id, "%s", ks->secret);
    k->key_id = ks->key->key_id;
    k->ws_id = ks->key->workspace_id;
    return 0;
}

/* Keys i = idx, idx + conns, ... in windows of LOAD_WINDOW. */
static int load_keys_conn(load_job *j, qc_ctx *c)
{
    const size_t step = j->cfg->conns;
    size_t i = j->idx;
    while (i < j->pop->n) {
        size_t first = i;
        uint32_t n = 0;
        for (; n < LOAD_WINDOW && i < j->pop->n; n++, i += step)
            if (load_append_key(c, j->ws_ids[i % j->cfg->workspaces], i) !=
                QC_OK)
                return -1;
        for (uint32_t m = 0; m < n; m++) {
            Quotad__Reply *r = NULL;
            if (load_read(c, &r, j->err) != 0)
                return -1;
            int rc = load_keep_key(r, &j->pop->keys[first + m * step]);
            qc_reply_free(r);
            if (rc != 0) {
                snprintf(j->err, sizeof j->err, "create_key: bad reply");
                return -1;
            }
        }
    }
    return 0;
}

static void *load_keys_thread(void *arg)
{
    load_job *j = arg;
    qc_ctx *c = NULL;
    j->rc = load_connect(j->cfg, &c, j->err);
    if (j->rc == 0)
        j->rc = load_keys_conn(j, c);
    if (j->rc != 0 && j->err[0] == '\0')
        snprintf(j->err, sizeof j->err, "create_key: %s", qc_errstr(c));
    qc_free(c);
    return NULL;
}

static int load_keys(const bench_cfg *cfg, bench_pop *p,
                     const uint32_t *ws_ids)
{
    load_job *jobs = calloc(cfg->conns, sizeof *jobs);
    pthread_t *tids = calloc(cfg->conns, sizeof *tids);
    int rc = jobs != NULL && tids != NULL ? 0 : -1;
    uint32_t started = 0;
    for (; rc == 0 && started < cfg->conns; started++) {
        jobs[started] = (load_job){.cfg = cfg, .pop = p, .ws_ids = ws_ids,
                                   .idx = started};
        if (pthread_create(&tids[started], NULL, load_keys_thread,
                           &jobs[started]) != 0)
            rc = -1;
    }
    if (rc != 0 && started > 0)
        started--; /* the failed create started nothing */
    for (uint32_t t = 0; t < started; t++) {
        pthread_join(tids[t], NULL);
        if (jobs[t].rc != 0 && rc == 0) {
            fprintf(stderr, "quotad-bench: load: %s\n", jobs[t].err);
            rc = -1;
        }
    }
    free(jobs);
    free(tids);
    return rc;
}

int load_quotad(const bench_cfg *cfg, bench_pop *p)
{
    char err[BENCH_ERR_BYTES] = "";
    uint32_t *ws_ids = calloc(cfg->workspaces, sizeof *ws_ids);
    if (ws_ids == NULL || pop_alloc(p, cfg->keys, cfg->workspaces) != 0) {
        free(ws_ids);
        return -1;
    }
    int rc = load_workspaces(cfg, ws_ids, err);
    if (rc != 0)
        fprintf(stderr, "quotad-bench: load: %s\n", err);
    if (rc == 0)
        rc = load_keys(cfg, p, ws_ids);
    free(ws_ids);
    return rc;
}
