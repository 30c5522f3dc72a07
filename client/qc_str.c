/* qc_str.c -- names of libquotad's return codes, server codes and check
 * decisions, and the HTTP status a gateway should answer a deny with.
 *
 * Each table is one X-macro so names, values and statuses cannot drift
 * apart; the _Static_asserts pin the values to the protobuf enums.
 */
#include "qc_internal.h"

#include <stddef.h>

/* Client-side errors (enum qc_error): value, text. */
#define QC_ERROR_TABLE(X)                                                  \
    X(QC_OK, "ok")                                                         \
    X(QC_ERR_IO, "i/o error or connection closed")                         \
    X(QC_ERR_TIMEOUT, "timed out")                                         \
    X(QC_ERR_PROTOCOL, "protocol error (unexpected or undecodable reply)") \
    X(QC_ERR_NOMEM, "out of memory")                                       \
    X(QC_ERR_ARG, "invalid argument")                                      \
    X(QC_ERR_STATE, "invalid state (requests in flight or none)")          \
    X(QC_ERR_AGAIN, "would wait (nothing more to send or read now)")

/* Server codes (quotad.Code / enum qc_code): value, name. OK is 0. */
#define QC_CODE_TABLE(X)                                                   \
    X(QUOTAD__CODE__OK, "ok")                                              \
    X(QC_CODE_MALFORMED, "malformed")                                      \
    X(QC_CODE_FRAME_TOO_LARGE, "frame_too_large")                          \
    X(QC_CODE_BATCH_TOO_LARGE, "batch_too_large")                          \
    X(QC_CODE_UNKNOWN_OP, "unknown_op")                                    \
    X(QC_CODE_INVALID_ARGUMENT, "invalid_argument")                        \
    X(QC_CODE_NOT_FOUND, "not_found")                                      \
    X(QC_CODE_ALREADY_EXISTS, "already_exists")                            \
    X(QC_CODE_LIMIT_REACHED, "limit_reached")                              \
    X(QC_CODE_FAILED_PRECONDITION, "failed_precondition")                  \
    X(QC_CODE_VERSION_MISMATCH, "version_mismatch")                        \
    X(QC_CODE_PERMISSION_DENIED, "permission_denied")                      \
    X(QC_CODE_UNAVAILABLE, "unavailable")                                  \
    X(QC_CODE_INTERNAL, "internal")                                        \
    X(QC_CODE_IDEMPOTENCY_CONFLICT, "idempotency_conflict")               \
    X(QC_CODE_DEADLINE_EXCEEDED, "deadline_exceeded")

/* Check decisions: value, name, HTTP status. 401 = the credential is no
 * good, 403 = good credential but not allowed here, 429 = come back
 * later, 402 = pay first. */
#define QC_DECISION_TABLE(X)                                               \
    X(QC_ALLOWED, "allowed", 200)                                          \
    X(QC_INVALID_API_KEY, "invalid_api_key", 401)                          \
    X(QC_REVOKED_API_KEY, "revoked_api_key", 401)                          \
    X(QC_KEY_DISABLED, "key_disabled", 401)                                \
    X(QC_KEY_EXPIRED, "key_expired", 401)                                  \
    X(QC_ADMIN_KEY_NOT_ALLOWED, "admin_key_not_allowed", 403)              \
    X(QC_IP_NOT_ALLOWED, "ip_not_allowed", 403)                            \
    X(QC_MODEL_NOT_ALLOWED, "model_not_allowed", 403)                      \
    X(QC_RATE_LIMITED, "rate_limited", 429)                                \
    X(QC_QUOTA_EXCEEDED, "quota_exceeded", 429)                            \
    X(QC_SPEND_CAP_EXCEEDED, "spend_cap_exceeded", 429)                    \
    X(QC_INSUFFICIENT_CREDITS, "insufficient_credits", 402)

/* Status for a decision this build does not know (a newer server). */
#define QC_HTTP_STATUS_UNKNOWN 500

_Static_assert((int)QC_CODE_IDEMPOTENCY_CONFLICT ==
                   (int)QUOTAD__CODE__IDEMPOTENCY_CONFLICT &&
               (int)QC_CODE_DEADLINE_EXCEEDED ==
                   (int)QUOTAD__CODE__DEADLINE_EXCEEDED &&
               (int)QC_CODE_MALFORMED == (int)QUOTAD__CODE__MALFORMED,
               "qc_code mirrors quotad.Code");
_Static_assert((int)QC_INSUFFICIENT_CREDITS ==
                   (int)QUOTAD__DECISION__INSUFFICIENT_CREDITS &&
               (int)QC_RATE_LIMITED == (int)QUOTAD__DECISION__RATE_LIMITED,
               "qc_decision mirrors quotad.Decision");

const char *qc_strerror(int rc)
{
    if (rc > 0)
        return qc_code_str(rc);
    switch (rc) {
#define X(val, text) case val: return text;
        QC_ERROR_TABLE(X)
#undef X
    default: return "unknown error";
    }
}

const char *qc_code_str(int code)
{
    switch (code) {
#define X(val, name) case val: return name;
        QC_CODE_TABLE(X)
#undef X
    default: return "unknown_code";
    }
}

const char *qc_decision_str(int decision)
{
    switch (decision) {
#define X(val, name, status) case val: return name;
        QC_DECISION_TABLE(X)
#undef X
    default: return "unknown_decision";
    }
}

int qc_decision_http_status(int decision)
{
    switch (decision) {
#define X(val, name, status) case val: return status;
        QC_DECISION_TABLE(X)
#undef X
    default: return QC_HTTP_STATUS_UNKNOWN;
    }
}
