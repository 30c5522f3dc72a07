/* qlink -- one worker's connection to quotad.
 *
 * Connected lazily and again after any transport error (libquotad says a
 * context is unusable after QC_ERR_IO / TIMEOUT / PROTOCOL). Every check
 * and settle carries an idempotency id, so the single retry after a
 * reconnect can never debit or settle twice: quotad answers a repeated id
 * with the first answer. When quotad stays unreachable the caller fails
 * closed (503): no request passes unchecked.
 */
#include "gw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define QLINK_CLIENT_NAME "quotad-gateway"

void gw_qlink_init(gw_qlink *q, const gw_config *cfg, unsigned worker)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    memset(q, 0, sizeof *q);
    q->cfg = cfg;
    q->worker = worker;
    q->boot_ms = (uint64_t)t.tv_sec * GW_MS_PER_S +
                 (uint64_t)t.tv_nsec / 1000000u;
}

void gw_qlink_close(gw_qlink *q)
{
    if (q->c != NULL)
        qc_free(q->c);
    q->c = NULL;
}

/* "gw-<boot ms>-<worker>-<n>": unique per process start and worker. */
void gw_qlink_idem(gw_qlink *q, char *idem, size_t cap)
{
    snprintf(idem, cap, "gw-%" PRIx64 "-%u-%" PRIu64, q->boot_ms, q->worker,
             ++q->next_id);
}

static int qlink_connect(gw_qlink *q)
{
    if (q->c != NULL)
        return QC_OK;
    qc_options o = qc_options_default();
    o.host = q->cfg->quotad_host;
    o.port = (uint16_t)q->cfg->quotad_port;
    o.timeout_ms = q->cfg->quotad_timeout_ms;
    o.client_name = QLINK_CLIENT_NAME;
    o.credential = q->cfg->quotad_credential[0] != '\0'
                       ? q->cfg->quotad_credential
                       : NULL;
    int rc = qc_connect(&o, &q->c);
    if (rc != QC_OK) {
        gw_log(GW_LOG_ERROR, "quotad %s:%u: %s", o.host, (unsigned)o.port,
               qc_strerror(rc));
        q->c = NULL;
    }
    return rc;
}

/* Errors after which libquotad's context must be dropped. */
static bool qlink_broken(int rc)
{
    return rc == QC_ERR_IO || rc == QC_ERR_TIMEOUT || rc == QC_ERR_PROTOCOL;
}

typedef enum qlink_op { QOP_CHECK, QOP_SETTLE, QOP_VOID } qlink_op;

typedef struct qlink_args {
    qlink_op op;
    const qc_check_req *rq;
    qc_check_res *rs;
    uint64_t hold_id;
    int64_t amount, tokens;
    const char *idem;
    qc_settle_res *srs;
} qlink_args;

static int qlink_once(gw_qlink *q, const qlink_args *a)
{
    int rc = qlink_connect(q);
    if (rc != QC_OK)
        return rc;
    switch (a->op) {
    case QOP_CHECK:
        rc = qc_check(q->c, a->rq, a->rs);
        break;
    case QOP_SETTLE:
        rc = qc_settle(q->c, a->hold_id, a->amount, a->tokens, a->idem,
                       a->srs);
        break;
    case QOP_VOID:
    default:
        rc = qc_void(q->c, a->hold_id, a->srs);
        break;
    }
    if (qlink_broken(rc))
        gw_qlink_close(q);
    return rc;
}

/* One try, and one more on a fresh connection after a transport error. */
static int qlink_call(gw_qlink *q, const qlink_args *a)
{
    int rc = qlink_once(q, a);
    if (rc < 0 && rc != QC_ERR_ARG && rc != QC_ERR_NOMEM)
        rc = qlink_once(q, a);
    return rc;
}

int gw_q_check(gw_qlink *q, const qc_check_req *rq, qc_check_res *rs)
{
    qlink_args a = {.op = QOP_CHECK, .rq = rq, .rs = rs};
    memset(rs, 0, sizeof *rs);
    return qlink_call(q, &a);
}

int gw_q_settle(gw_qlink *q, uint64_t hold_id, int64_t amount,
                int64_t tokens, const char *idem, qc_settle_res *rs)
{
    qlink_args a = {.op = QOP_SETTLE, .hold_id = hold_id, .amount = amount,
                    .tokens = tokens, .idem = idem, .srs = rs};
    memset(rs, 0, sizeof *rs);
    return qlink_call(q, &a);
}

/* A void retried after a lost reply answers NOT_FOUND: already done. */
int gw_q_void(gw_qlink *q, uint64_t hold_id)
{
    qc_settle_res rs;
    qlink_args a = {.op = QOP_VOID, .hold_id = hold_id, .srs = &rs};
    int rc = qlink_call(q, &a);
    return rc == QC_CODE_NOT_FOUND ? QC_OK : rc;
}
