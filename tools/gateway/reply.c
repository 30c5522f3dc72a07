/* reply -- what the gateway says to clients: OpenAI-style JSON errors, the
 * deny-code mapping, and the header plumbing shared by the modes. Also the
 * tiny logger (stderr, one line per call, never a bearer secret).
 *
 * Deny mapping (../shared/DESIGN.md): 401 invalid_api_key, revoked_api_key,
 * key_disabled, key_expired; 403 admin_key_not_allowed, ip_not_allowed,
 * model_not_allowed; 429 rate_limit_exceeded (quotad's rate_limited, with
 * Retry-After), quota_exceeded, spend_cap_exceeded; insufficient_credits
 * 402 by default (credits_status = 429 for clients that only know
 * OpenAI's "429 insufficient_quota"). 429s that waiting cannot cure carry
 * "x-should-retry: false" so the official SDKs do not retry them.
 */
#include "gw.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/keyvalq_struct.h>

#define REPLY_RETRY_HDR_BYTES 32
#define REPLY_TIME_BYTES 32
#define REPLY_LOG_LINE_BYTES 1024
#define REPLY_NS_PER_MS 1000000L

static int g_log_level = GW_LOG_INFO;

void gw_log_set_level(uint32_t level)
{
    g_log_level = (int)level;
}

/* One line per call; fprintf to stderr is atomic per call in glibc. */
void gw_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    if (level > g_log_level)
        return;
    char line[REPLY_LOG_LINE_BYTES], ts[REPLY_TIME_BYTES];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / REPLY_NS_PER_MS,
            names[level], line);
}

void gw_log_path(const char *uri, char *out, size_t cap)
{
    size_t o = 0;
    for (; uri != NULL && *uri != '\0' && *uri != '?' && o + 1 < cap; uri++)
        out[o++] = (*uri < ' ' || *uri > '~') ? '?' : *uri;
    out[o] = '\0';
}

static int64_t reply_clock_ms(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (int64_t)t.tv_sec * GW_MS_PER_S + t.tv_nsec / REPLY_NS_PER_MS;
}

int64_t gw_wall_ms(void)
{
    return reply_clock_ms(CLOCK_REALTIME);
}

int64_t gw_mono_ms(void)
{
    return reply_clock_ms(CLOCK_MONOTONIC);
}

bool gw_client_alive(struct evhttp_request *req)
{
    return req != NULL && evhttp_request_get_connection(req) != NULL;
}

/* evhttp frees a request whose client left when it is answered. */
void gw_reply_json(struct evhttp_request *req, int status,
                   struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (body != NULL && evbuffer_get_length(body) > 0)
        evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_send_reply(req, status, NULL, body);
}

/* {"error":{"message":...,"type":...,"param":null,"code":...}} */
static int reply_error_body(struct evbuffer *b, const char *message,
                            const char *type, const char *code)
{
    if (evbuffer_add_printf(b, "{\"error\":{\"message\":") < 0 ||
        gj_put_str(b, message) != 0 ||
        evbuffer_add_printf(b, ",\"type\":") < 0 || gj_put_str(b, type) ||
        evbuffer_add_printf(b, ",\"param\":null,\"code\":") < 0)
        return -1;
    if (code == NULL)
        return evbuffer_add_printf(b, "null}}") < 0 ? -1 : 0;
    if (gj_put_str(b, code) != 0)
        return -1;
    return evbuffer_add_printf(b, "}}") < 0 ? -1 : 0;
}

void gw_reply_error(struct evhttp_request *req, int status,
                    const char *message, const char *type, const char *code)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || reply_error_body(b, message, type, code) != 0) {
        gw_log(GW_LOG_ERROR, "out of memory building an error reply");
        if (b != NULL)
            evbuffer_free(b);
        evhttp_send_reply(req, HTTP_INTERNAL, NULL, NULL);
        return;
    }
    gw_reply_json(req, status, b);
    evbuffer_free(b);
}

#define REPLY_RETRY_AFTER_BUSY_S "1"

int gw_quotad_error_status(int rc)
{
    return rc == QC_CODE_INVALID_ARGUMENT || rc == QC_ERR_ARG
               ? HTTP_BADREQUEST
               : HTTP_SERVUNAVAIL;
}

void gw_reply_quotad_error(struct evhttp_request *req, int rc)
{
    gw_log(rc == QC_ERR_AGAIN ? GW_LOG_WARN : GW_LOG_ERROR,
           "quotad check failed: %s", rc == QC_ERR_AGAIN
                                          ? "quotad_calls_max in flight"
                                          : qc_strerror(rc));
    if (gw_quotad_error_status(rc) == HTTP_BADREQUEST) {
        gw_reply_error(req, HTTP_BADREQUEST,
                       "The request is outside the quota service's limits.",
                       "invalid_request_error", "invalid_request");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                      REPLY_RETRY_AFTER_BUSY_S);
    if (rc == QC_ERR_AGAIN)
        gw_reply_error(req, HTTP_SERVUNAVAIL,
                       "The quota service is busy; try again.",
                       "server_error", "quota_service_busy");
    else
        gw_reply_error(req, HTTP_SERVUNAVAIL,
                       "The quota service is unavailable; try again.",
                       "server_error", "quota_service_unavailable");
}

/* What each denied decision looks like to an OpenAI client. */
typedef struct deny_info {
    const char *type;
    const char *code;
    const char *message;
} deny_info;

static deny_info deny_describe(qc_decision d)
{
    switch (d) {
    case QC_INVALID_API_KEY:
        return (deny_info){"invalid_request_error", "invalid_api_key",
                           "Incorrect API key provided."};
    case QC_REVOKED_API_KEY:
        return (deny_info){"invalid_request_error", "revoked_api_key",
                           "This API key has been revoked."};
    case QC_KEY_DISABLED:
        return (deny_info){"invalid_request_error", "key_disabled",
                           "This API key is disabled."};
    case QC_KEY_EXPIRED:
        return (deny_info){"invalid_request_error", "key_expired",
                           "This API key has expired."};
    case QC_ADMIN_KEY_NOT_ALLOWED:
        return (deny_info){"permission_error", "admin_key_not_allowed",
                           "Admin keys cannot be used for API requests."};
    case QC_IP_NOT_ALLOWED:
        return (deny_info){"permission_error", "ip_not_allowed",
                           "This API key is not allowed from this address."};
    case QC_MODEL_NOT_ALLOWED:
        return (deny_info){"permission_error", "model_not_allowed",
                           "This API key is not allowed to use this model."};
    case QC_RATE_LIMITED:
        return (deny_info){"requests", "rate_limit_exceeded",
                           "Rate limit reached for requests or tokens per "
                           "minute. Retry after the time in Retry-After."};
    case QC_QUOTA_EXCEEDED:
        return (deny_info){"insufficient_quota", "quota_exceeded",
                           "This API key has exhausted its quota."};
    case QC_SPEND_CAP_EXCEEDED:
        return (deny_info){"insufficient_quota", "spend_cap_exceeded",
                           "This API key has reached its spend cap."};
    case QC_INSUFFICIENT_CREDITS:
        return (deny_info){"insufficient_quota", "insufficient_credits",
                           "The workspace has insufficient credits."};
    case QC_ALLOWED:
    default:
        return (deny_info){"server_error", "unknown_decision",
                           "Unexpected decision."};
    }
}

int gw_deny_status(const gw_config *cfg, qc_decision d)
{
    if (d == QC_INSUFFICIENT_CREDITS)
        return (int)cfg->credits_status;
    int s = qc_decision_http_status((int)d);
    return s >= HTTP_BADREQUEST ? s : HTTP_INTERNAL;
}

void gw_deny_headers(struct evhttp_request *req, const qc_check_res *rs)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char v[REPLY_RETRY_HDR_BYTES];
    if (rs->decision == QC_RATE_LIMITED) {
        int64_t ms = rs->retry_after_ms > 0 ? rs->retry_after_ms : 1;
        snprintf(v, sizeof v, "%lld",
                 (long long)((ms + GW_MS_PER_S - 1) / GW_MS_PER_S));
        evhttp_add_header(h, "Retry-After", v);
        snprintf(v, sizeof v, "%lld", (long long)ms);
        evhttp_add_header(h, "retry-after-ms", v);
    } else {
        /* Waiting does not cure a key, a quota, a cap or a wallet. */
        evhttp_add_header(h, "x-should-retry", "false");
    }
}

int gw_deny_body(struct evbuffer *b, const qc_check_res *rs)
{
    deny_info di = deny_describe(rs->decision);
    return reply_error_body(b, di.message, di.type, di.code);
}

void gw_reply_deny(struct evhttp_request *req, const gw_config *cfg,
                   const qc_check_res *rs)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || gw_deny_body(b, rs) != 0) {
        if (b != NULL)
            evbuffer_free(b);
        gw_reply_error(req, HTTP_INTERNAL, "out of memory", "server_error",
                       NULL);
        return;
    }
    gw_deny_headers(req, rs);
    gw_reply_json(req, gw_deny_status(cfg, rs->decision), b);
    evbuffer_free(b);
}

/* "Bearer <token>", scheme case-insensitive; the token runs to the end
 * (trailing blanks dropped) and must have no inner blanks. */
const char *gw_bearer(struct evhttp_request *req, size_t *n)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req),
                                       "Authorization");
    static const char scheme[] = "bearer ";
    if (a == NULL || strncasecmp(a, scheme, sizeof scheme - 1) != 0)
        return NULL;
    a += sizeof scheme - 1;
    while (*a == ' ')
        a++;
    size_t len = strlen(a);
    while (len > 0 && (a[len - 1] == ' ' || a[len - 1] == '\t'))
        len--;
    if (len == 0 || len > GW_SECRET_CHARS_MAX ||
        memchr(a, ' ', len) != NULL || memchr(a, '\t', len) != NULL)
        return NULL;
    *n = len;
    return a;
}

/* Copy at most cap-1 bytes of [p, p+n) without blanks at either end. */
static void reply_copy_trimmed(const char *p, size_t n, char *out,
                               size_t cap)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n >= cap)
        n = 0;   /* not an address: let quotad see "" (ip_not_allowed) */
    memcpy(out, p, n);
    out[n] = '\0';
}

/* The last X-Forwarded-For entry is the one our trusted proxy added. */
void gw_client_ip(struct evhttp_request *req, const gw_config *cfg,
                  char *out, size_t cap)
{
    out[0] = '\0';
    if (cfg->trust_forwarded) {
        struct evkeyvalq *in = evhttp_request_get_input_headers(req);
        const char *real = evhttp_find_header(in, "X-Real-IP");
        const char *xff = evhttp_find_header(in, "X-Forwarded-For");
        if (real != NULL) {
            reply_copy_trimmed(real, strlen(real), out, cap);
            return;
        }
        if (xff != NULL) {
            const char *last = strrchr(xff, ',');
            last = last != NULL ? last + 1 : xff;
            reply_copy_trimmed(last, strlen(last), out, cap);
            return;
        }
    }
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (c != NULL)
        evhttp_connection_get_peer(c, &addr, &port);
    if (addr != NULL)
        reply_copy_trimmed(addr, strlen(addr), out, cap);
}

/* Hop-by-hop headers (RFC 7230 6.1) and those evhttp writes itself. */
static bool reply_hop_header(const char *k)
{
    static const char *const hop[] = {
        "Connection", "Keep-Alive", "Proxy-Authenticate",
        "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade", "Content-Length", "Date", NULL,
    };
    for (size_t i = 0; hop[i] != NULL; i++)
        if (strcasecmp(k, hop[i]) == 0)
            return true;
    return false;
}

void gw_copy_reply_headers(struct evhttp_request *from,
                           struct evhttp_request *to)
{
    struct evkeyvalq *src = evhttp_request_get_input_headers(from);
    struct evkeyvalq *dst = evhttp_request_get_output_headers(to);
    for (struct evkeyval *kv = src->tqh_first; kv != NULL;
         kv = kv->next.tqe_next) {
        if (!reply_hop_header(kv->key) &&
            strcasecmp(kv->key, "Server") != 0)
            evhttp_add_header(dst, kv->key, kv->value);
    }
}

/* The client's key never goes upstream; compression is refused so the
 * reply stays readable for usage. */
void gw_copy_request_headers(struct evhttp_request *from,
                             struct evhttp_request *to)
{
    struct evkeyvalq *src = evhttp_request_get_input_headers(from);
    struct evkeyvalq *dst = evhttp_request_get_output_headers(to);
    for (struct evkeyval *kv = src->tqh_first; kv != NULL;
         kv = kv->next.tqe_next) {
        if (reply_hop_header(kv->key) ||
            strcasecmp(kv->key, "Authorization") == 0 ||
            strcasecmp(kv->key, "Host") == 0 ||
            strcasecmp(kv->key, "Expect") == 0 ||
            strcasecmp(kv->key, "Accept-Encoding") == 0)
            continue;
        evhttp_add_header(dst, kv->key, kv->value);
    }
}

void gw_ratelimit_headers(struct evhttp_request *req, const qc_check_res *rs)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char v[REPLY_RETRY_HDR_BYTES];
    if (rs->rpm_remaining >= 0) {
        snprintf(v, sizeof v, "%lld", (long long)rs->rpm_remaining);
        evhttp_add_header(h, "x-ratelimit-remaining-requests", v);
    }
    if (rs->tpm_remaining >= 0) {
        snprintf(v, sizeof v, "%lld", (long long)rs->tpm_remaining);
        evhttp_add_header(h, "x-ratelimit-remaining-tokens", v);
    }
}
