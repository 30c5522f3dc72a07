/* auth -- see auth.h. */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "keyfmt.h"

void auth_session_init(const store *st, ops_session *s)
{
    memset(s, 0, sizeof(*s));
    s->role = st->auth.required ? QUOTAD__ROLE__ROLE_NONE
                                : QUOTAD__ROLE__ROLE_ROOT;
}

static void hash_cred(const char *cred, size_t len, keyfmt_hash *out)
{
    keyfmt_hash_bytes((const uint8_t *)cred, len, out);
}

int auth_load_credential(const char *path, keyfmt_hash *out, char *err,
                         size_t err_cap)
{
    struct stat sb;
    FILE *f = fopen(path, "r");
    if (f == NULL || fstat(fileno(f), &sb) != 0) {
        snprintf(err, err_cap, "%s: %s", path, strerror(errno));
        if (f != NULL) {
            fclose(f);
        }
        return -1;
    }
    char buf[AUTH_CREDENTIAL_BYTES_MAX + 2];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    if ((sb.st_mode & 077) != 0) {
        snprintf(err, err_cap, "%s: readable by group/others (chmod 600)",
                 path);
        return -1;
    }
    buf[n] = '\0';
    char *s = buf;
    while (*s && isspace((unsigned char)*s)) {
        s++;
    }
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) {
        len--;
    }
    if (len < AUTH_CREDENTIAL_BYTES_MIN || len > AUTH_CREDENTIAL_BYTES_MAX) {
        snprintf(err, err_cap, "%s: credential must be %u..%u bytes", path,
                 AUTH_CREDENTIAL_BYTES_MIN, AUTH_CREDENTIAL_BYTES_MAX);
        sodium_memzero(buf, sizeof(buf));
        return -1;
    }
    hash_cred(s, len, out);
    sodium_memzero(buf, sizeof(buf));
    return 0;
}

/* An admin key as a credential: enabled, unexpired, kind admin. */
static bool key_usable(const key *k, int64_t now)
{
    return k->kind == KEY_ADMIN && k->status == KEY_ENABLED &&
           (k->expires_ms == 0 || now < k->expires_ms) &&
           k->role >= QUOTAD__ROLE__ROLE_GATEWAY &&
           k->role <= QUOTAD__ROLE__ROLE_OWNER;
}

void auth_session_refresh(store *st, ops_session *s)
{
    if (s->key_id == 0) {
        return;
    }
    shard *sh = store_shard_of(st, (uint32_t)(s->key_id >> 32));
    store_lock(sh);
    key *k = do_key_find(sh, s->key_id);
    bool ok = k != NULL && key_usable(k, st->now_ms()) && k->role == s->role;
    store_unlock(sh);
    if (!ok) {
        s->role = QUOTAD__ROLE__ROLE_NONE;
        s->ws_id = 0;
        s->key_id = 0;
        s->watching = false;
    }
}

static int login_key(store *st, const char *cred, size_t len, uint8_t *role,
                     uint32_t *ws, uint64_t *key_id)
{
    uint8_t body[KEYFMT_BODY_BYTES];
    uint32_t ws_id = 0;
    if (keyfmt_parse(st->opt.key_prefix, cred, len, body, &ws_id) != 0) {
        return -1;
    }
    keyfmt_hash h;
    keyfmt_hash_body(body, &h);
    shard *sh = store_shard_of(st, ws_id);
    int rc = -1;
    store_lock(sh);
    bool is_prev = false;
    key *k = do_key_by_hash(sh, ws_id, &h, &is_prev);
    int64_t now = st->now_ms();
    if (k != NULL && key_usable(k, now) &&
        (!is_prev || now < key_prev_expires(k))) {
        *role = k->role;
        *ws = key_ws_id(k);
        *key_id = k->id;
        rc = 0;
    }
    store_unlock(sh);
    return rc;
}

int auth_login(store *st, const char *cred, uint8_t *role, uint32_t *ws,
               uint64_t *key_id)
{
    *key_id = 0;
    size_t len = strnlen(cred, AUTH_CREDENTIAL_BYTES_MAX + 1);
    if (len == 0 || len > AUTH_CREDENTIAL_BYTES_MAX) {
        return -1;
    }
    keyfmt_hash h;
    hash_cred(cred, len, &h);
    /* Both config hashes are compared, always, in constant time. */
    bool root = st->auth.has_root && keyfmt_hash_equal(&h, &st->auth.root);
    bool gw = st->auth.has_gateway &&
              keyfmt_hash_equal(&h, &st->auth.gateway);
    sodium_memzero(&h, sizeof(h));
    if (root || gw) {
        *role = root ? QUOTAD__ROLE__ROLE_ROOT : QUOTAD__ROLE__ROLE_GATEWAY;
        *ws = 0;
        return 0;
    }
    return login_key(st, cred, len, role, ws, key_id);
}

/* Lowest role that may run each operation; ROLE_GATEWAY is special: it
 * may run only the hot-path operations (and admins may not). */
bool auth_op_allowed(uint8_t role, Quotad__Request__OpCase op)
{
    if (role == QUOTAD__ROLE__ROLE_ROOT) {
        return true;
    }
    switch (op) {
    case QUOTAD__REQUEST__OP_HELLO:
    case QUOTAD__REQUEST__OP_PING:
        return true;
    case QUOTAD__REQUEST__OP_CHECK:
    case QUOTAD__REQUEST__OP_SETTLE:
    case QUOTAD__REQUEST__OP_VOID_HOLD:
        return role == QUOTAD__ROLE__ROLE_GATEWAY;
    case QUOTAD__REQUEST__OP_GET_WORKSPACE:
    case QUOTAD__REQUEST__OP_GET_KEY:
    case QUOTAD__REQUEST__OP_LIST_KEYS:
    case QUOTAD__REQUEST__OP_USAGE:
        return role >= QUOTAD__ROLE__ROLE_MEMBER;
    case QUOTAD__REQUEST__OP_SET_ALERT:
    case QUOTAD__REQUEST__OP_WATCH:
    case QUOTAD__REQUEST__OP_CREATE_KEY:
    case QUOTAD__REQUEST__OP_UPDATE_KEY:
    case QUOTAD__REQUEST__OP_ENABLE_KEY:
    case QUOTAD__REQUEST__OP_DISABLE_KEY:
    case QUOTAD__REQUEST__OP_REVOKE_KEY:
    case QUOTAD__REQUEST__OP_ROTATE_KEY:
    case QUOTAD__REQUEST__OP_DELETE_KEY:
        return role >= QUOTAD__ROLE__ROLE_ADMIN;
    case QUOTAD__REQUEST__OP_UPDATE_WORKSPACE:
    case QUOTAD__REQUEST__OP_ADJUST_WALLET:
        return role >= QUOTAD__ROLE__ROLE_OWNER;
    default: /* create_workspace, snapshot: root only */
        return false;
    }
}

uint32_t auth_request_ws(const Quotad__Request *rq)
{
    switch (rq->op_case) {
    case QUOTAD__REQUEST__OP_GET_WORKSPACE:
        return rq->get_workspace->workspace_id;
    case QUOTAD__REQUEST__OP_UPDATE_WORKSPACE:
        return rq->update_workspace->workspace_id;
    case QUOTAD__REQUEST__OP_ADJUST_WALLET:
        return rq->adjust_wallet->workspace_id;
    case QUOTAD__REQUEST__OP_CREATE_KEY: return rq->create_key->workspace_id;
    case QUOTAD__REQUEST__OP_LIST_KEYS: return rq->list_keys->workspace_id;
    case QUOTAD__REQUEST__OP_GET_KEY:
        return (uint32_t)(rq->get_key->key_id >> 32);
    case QUOTAD__REQUEST__OP_UPDATE_KEY:
        return (uint32_t)(rq->update_key->key_id >> 32);
    case QUOTAD__REQUEST__OP_ENABLE_KEY:
        return (uint32_t)(rq->enable_key->key_id >> 32);
    case QUOTAD__REQUEST__OP_DISABLE_KEY:
        return (uint32_t)(rq->disable_key->key_id >> 32);
    case QUOTAD__REQUEST__OP_REVOKE_KEY:
        return (uint32_t)(rq->revoke_key->key_id >> 32);
    case QUOTAD__REQUEST__OP_ROTATE_KEY:
        return (uint32_t)(rq->rotate_key->key_id >> 32);
    case QUOTAD__REQUEST__OP_DELETE_KEY:
        return (uint32_t)(rq->delete_key->key_id >> 32);
    case QUOTAD__REQUEST__OP_SETTLE:
        return (uint32_t)(rq->settle->hold_id >> 32);
    case QUOTAD__REQUEST__OP_VOID_HOLD:
        return (uint32_t)(rq->void_hold->hold_id >> 32);
    case QUOTAD__REQUEST__OP_USAGE:
        return rq->usage->key_id ? (uint32_t)(rq->usage->key_id >> 32)
                                 : rq->usage->workspace_id;
    case QUOTAD__REQUEST__OP_SET_ALERT:
        return rq->set_alert->key_id
                   ? (uint32_t)(rq->set_alert->key_id >> 32)
                   : rq->set_alert->workspace_id;
    case QUOTAD__REQUEST__OP_WATCH:
        return rq->watch->workspace_id;
    default:
        return 0;
    }
}

bool auth_ws_allowed(const ops_session *s, uint32_t ws)
{
    return s->ws_id == 0 || s->ws_id == ws;
}

const char *auth_role_str(uint8_t role)
{
    static const char *const names[] = {"none", "gateway", "member",
                                        "admin", "owner", "root"};
    return role < sizeof(names) / sizeof(names[0]) ? names[role] : "?";
}
