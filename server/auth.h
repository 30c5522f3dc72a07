/* auth -- who a connection is, and what it may do.
 *
 * A connection starts unauthenticated (or as root when the server runs
 * open: no root credential configured, loopback only). HELLO with a
 * credential makes it one principal:
 *   - the root credential (config file)       -> ROLE_ROOT, every workspace
 *   - the gateway credential (config file)    -> ROLE_GATEWAY, every workspace
 *   - an enabled, unexpired admin key (sk-..) -> its role, its workspace
 * Credentials are compared as BLAKE2b hashes with sodium_memcmp (constant
 * time); raw credentials are never stored or logged. Every operation is
 * checked against the role table and the principal's workspace before it
 * runs; a denied operation gets PERMISSION_DENIED and changes nothing.
 */
#ifndef QD_AUTH_H
#define QD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quotad.pb-c.h"
#include "store.h"

#define AUTH_CREDENTIAL_BYTES_MAX 256u
#define AUTH_CREDENTIAL_BYTES_MIN 16u   /* refuse guessable config secrets */
#define AUTH_FAILURES_MAX 3u            /* then the connection is closed */

/* The principal of one connection (owned by the connection). */
typedef struct ops_session {
    uint8_t role;           /* Quotad__Role */
    uint32_t ws_id;         /* scope; 0 = every workspace */
    uint32_t failures;      /* failed HELLOs */
    uint64_t key_id;        /* admin key it logged in with, 0 = none */
    bool watching;          /* sent `watch`: receives alert events */
    uint64_t watch_id;      /* request id events are sent under */
    uint32_t watch_ws;      /* 0 = every workspace in scope */
    uint64_t watch_cursor;  /* next alert event seq to send */
} ops_session;

/* A new connection's principal: root when the store runs open. */
void auth_session_init(const store *st, ops_session *s);

/* Before each frame: a session that logged in with an admin key loses its
 * rights the moment that key is disabled, revoked, expired or deleted. */
void auth_session_refresh(store *st, ops_session *s);

/* Read a credential file (one line; surrounding whitespace trimmed; must
 * not be readable by group/others) and keep only its hash. */
int auth_load_credential(const char *path, keyfmt_hash *out, char *err,
                         size_t err_cap);

/* Authenticate cred. On success fills role and ws and returns 0. */
int auth_login(store *st, const char *cred, uint8_t *role, uint32_t *ws,
               uint64_t *key_id);

/* May role run op at all (before looking at the workspace)? */
bool auth_op_allowed(uint8_t role, Quotad__Request__OpCase op);

/* Workspace the request targets, 0 if it names none (create_workspace,
 * hello, ping, snapshot) or only the handler knows (check: the secret). */
uint32_t auth_request_ws(const Quotad__Request *rq);

/* May s touch workspace ws (scope check)? */
bool auth_ws_allowed(const ops_session *s, uint32_t ws);

const char *auth_role_str(uint8_t role);

#endif
