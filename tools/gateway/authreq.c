/* authreq -- auth_request mode: nginx (or any proxy that asks an
 * authorization endpoint first) fronts the upstream, and asks us per
 * request: GET <auth_path> with the client's headers.
 *
 * Input headers:  Authorization: Bearer sk-...   the client's key
 *                 X-Model: gpt-4o                 optional; nginx cannot
 *                     read the body in a subrequest, so the model comes
 *                     from a header the client sends (or a fixed value
 *                     set per location in the nginx config)
 *                 X-Real-IP                        the client address, when
 *                     trust_forwarded = 1 (nginx sets it)
 *                 X-Original-URI                   only logged
 * Check:  a plain debit of auth_amount_micro (0 = validate and count RPM
 *         only); no hold, since nginx never reports the real cost.
 * Answer: 204 when allowed. When denied, nginx's auth_request accepts
 *         only 401 and 403 (anything else becomes 500), so 401-class
 *         denials answer 401 and all others 403, with the real status in
 *         X-Quotad-Status, the code in X-Quotad-Decision, the OpenAI JSON
 *         body in X-Quotad-Error (and as the body), and Retry-After.
 *         examples/nginx/quotad-auth.conf maps them back to 429/402.
 *         auth_real_status = 1 answers the real status instead (for
 *         proxies that pass it through, e.g. Traefik forwardAuth).
 * Quotad down: 503 (nginx: 500): fail closed.
 */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_STATUS_BYTES 16
#define AUTH_ID_BYTES 32
#define AUTH_HTTP_UNAUTHORIZED 401
#define AUTH_HTTP_FORBIDDEN 403
#define AUTH_ERROR_HDR_MAX 2048u
#define AUTH_LOG_PATH_BYTES 96u

static void auth_set(struct evhttp_request *req, const char *k,
                     const char *v)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), k, v);
}

/* Status nginx will accept for a denial with real status `real`. */
static int auth_wire_status(const gw_config *cfg, int real)
{
    if (cfg->auth_real_status)
        return real;
    return real == AUTH_HTTP_UNAUTHORIZED ? AUTH_HTTP_UNAUTHORIZED
                                          : AUTH_HTTP_FORBIDDEN;
}

static void auth_deny(gw_worker *w, struct evhttp_request *req,
                      const qc_check_res *rs)
{
    int real = gw_deny_status(w->cfg, rs->decision);
    char st[AUTH_STATUS_BYTES];
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || gw_deny_body(b, rs) != 0) {
        if (b != NULL)
            evbuffer_free(b);
        gw_reply_error(req, HTTP_INTERNAL, "out of memory", "server_error",
                       NULL);
        return;
    }
    snprintf(st, sizeof st, "%d", real);
    auth_set(req, "X-Quotad-Status", st);
    auth_set(req, "X-Quotad-Decision", qc_decision_str((int)rs->decision));
    size_t n = evbuffer_get_length(b);
    const char *json = (const char *)evbuffer_pullup(b, -1);
    if (json != NULL && n < AUTH_ERROR_HDR_MAX) {
        char hdr[AUTH_ERROR_HDR_MAX];
        memcpy(hdr, json, n);
        hdr[n] = '\0';
        auth_set(req, "X-Quotad-Error", hdr);
    }
    gw_deny_headers(req, rs);
    gw_reply_json(req, auth_wire_status(w->cfg, real), b);
    evbuffer_free(b);
}

static void auth_allow(struct evhttp_request *req, const qc_check_res *rs)
{
    char v[AUTH_ID_BYTES];
    auth_set(req, "X-Quotad-Decision", "allowed");
    snprintf(v, sizeof v, "%llu", (unsigned long long)rs->key_id);
    auth_set(req, "X-Quotad-Key-Id", v);
    snprintf(v, sizeof v, "%u", rs->workspace_id);
    auth_set(req, "X-Quotad-Workspace-Id", v);
    gw_ratelimit_headers(req, rs);
    evhttp_send_reply(req, HTTP_NOCONTENT, NULL, NULL);
}

/* Model from X-Model: at most GW_MODEL_BYTES, else none. */
static const char *auth_model(struct evhttp_request *req)
{
    const char *m = evhttp_find_header(evhttp_request_get_input_headers(req),
                                       "X-Model");
    return m != NULL && m[0] != '\0' && strlen(m) <= GW_MODEL_BYTES ? m
                                                                    : NULL;
}

static void auth_log(struct evhttp_request *req, int status,
                     const qc_check_res *rs)
{
    const char *orig = evhttp_find_header(
        evhttp_request_get_input_headers(req), "X-Original-URI");
    char path[AUTH_LOG_PATH_BYTES];
    gw_log_path(orig != NULL ? orig : "-", path, sizeof path);
    gw_log(GW_LOG_INFO, "auth %s %d %s key=%llu ws=%u", path, status,
           qc_decision_str((int)rs->decision),
           (unsigned long long)rs->key_id, rs->workspace_id);
}

/* One auth request while quotad answers. The client (nginx) may leave
 * meanwhile: the close callback then clears req, and the answer only
 * frees this. */
typedef struct auth_call {
    gw_worker *w;
    struct evhttp_request *req;
    struct evhttp_connection *conn;     /* armed close callback, or NULL */
} auth_call;

static void auth_disarm(auth_call *a)
{
    if (a->conn != NULL)
        evhttp_connection_set_closecb(a->conn, NULL, NULL);
    a->conn = NULL;
}

static void auth_closed(struct evhttp_connection *conn, void *arg)
{
    auth_call *a = arg;
    (void)conn;
    a->conn = NULL;     /* being freed */
    if (a->req != NULL && evhttp_request_get_connection(a->req) == NULL)
        evhttp_request_free(a->req);
    a->req = NULL;
}

/* Fail closed; X-Quotad-Status carries the status for nginx. */
static void auth_quotad_error(struct evhttp_request *req, int rc)
{
    char st[AUTH_STATUS_BYTES];
    snprintf(st, sizeof st, "%d", gw_quotad_error_status(rc));
    auth_set(req, "X-Quotad-Status", st);
    gw_reply_quotad_error(req, rc);
}

/* quotad answered (from the event loop). */
static void auth_checked(void *arg, int rc, const qc_check_res *rs)
{
    auth_call *a = arg;
    struct evhttp_request *req = a->req;
    auth_disarm(a);
    if (req == NULL) {
        free(a);
        return;
    }
    if (rc != QC_OK) {
        auth_quotad_error(req, rc);
    } else if (rs->decision == QC_ALLOWED) {
        auth_log(req, HTTP_NOCONTENT, rs);
        auth_allow(req, rs);
    } else {
        auth_log(req, gw_deny_status(a->w->cfg, rs->decision), rs);
        auth_deny(a->w, req, rs);
    }
    free(a);
}

/* Validate and check-and-debit; auth_checked answers. */
static void auth_check(gw_worker *w, struct evhttp_request *req,
                       const char *secret)
{
    char ip[GW_IP_BYTES], idem[GW_IDEM_BYTES];
    gw_client_ip(req, w->cfg, ip, sizeof ip);
    gw_qlink_idem(&w->q, idem, sizeof idem);
    qc_check_req rq = {.secret = secret, .model = auth_model(req),
                       .client_ip = ip[0] != '\0' ? ip : NULL,
                       .amount = w->cfg->auth_amount_micro,
                       .amount_min = w->cfg->auth_amount_micro,
                       .idempotency_id = idem};
    auth_call *a = calloc(1, sizeof *a);
    int rc = a != NULL ? gw_q_check(&w->q, &rq, auth_checked, a)
                       : QC_ERR_NOMEM;
    if (rc != QC_OK) {
        free(a);
        auth_quotad_error(req, rc);
        return;
    }
    a->w = w;
    a->req = req;
    a->conn = evhttp_request_get_connection(req);
    if (a->conn != NULL)
        evhttp_connection_set_closecb(a->conn, auth_closed, a);
}

void gw_auth_handle(gw_worker *w, struct evhttp_request *req)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
    if (path == NULL || strcmp(path, w->cfg->auth_path) != 0) {
        gw_reply_error(req, HTTP_NOTFOUND, "Unknown request URL.",
                       "invalid_request_error", "unknown_url");
        return;
    }
    size_t n = 0;
    const char *b = gw_bearer(req, &n);
    if (b == NULL) {
        qc_check_res none = {.decision = QC_INVALID_API_KEY};
        auth_log(req, AUTH_HTTP_UNAUTHORIZED, &none);
        auth_deny(w, req, &none);
        return;
    }
    char secret[GW_SECRET_CHARS_MAX + 1];
    memcpy(secret, b, n);
    secret[n] = '\0';
    auth_check(w, req, secret);
    explicit_bzero(secret, sizeof secret);
}
