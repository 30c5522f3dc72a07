/* it_limits -- per-address connection limit and the open-mode guard.
 *
 * A daemon with --conns-per-ip-max 3: three connections from 127.0.0.1
 * work, a fourth is refused (closed before HELLO completes), and once
 * one closes a new one is admitted again (the count is given back).
 * The stats op counts every refusal and times every request (latency_*,
 * reset_latency).
 */
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qc_admin.h"

#include "daemon.h"
#include "fixtures.h"
#include "t.h"

#define LIMIT_CONNS 3
#define RETRY_TRIES 100
#define RETRY_MS 20
#define LAT_PINGS 20
#define LAT_MAX_SANE_US 10000000   /* 10 s: anything above is a bug */

static td_daemon g_d;

/* A connection, retried for up to RETRY_TRIES x RETRY_MS: the per-address
 * slots of connections closed just before are released on the worker
 * thread, a moment later (under heavy CPU load, many moments). */
static qc_ctx *connect_retry(void)
{
    qc_ctx *c = td_connect(&g_d);
    for (int tries = 0; tries < RETRY_TRIES && c == NULL; tries++) {
        td_sleep_ms(RETRY_MS);
        c = td_connect(&g_d);
    }
    return c;
}

static void test_per_ip_limit(void)
{
    qc_ctx *c[LIMIT_CONNS] = {0};
    for (int i = 0; i < LIMIT_CONNS; i++) {
        c[i] = td_connect(&g_d);
        T_CHECK(c[i] != NULL);
    }
    qc_ctx *extra = td_connect(&g_d);
    T_CHECK(extra == NULL);
    if (extra != NULL) {
        qc_free(extra);
    }
    for (int i = 0; i < LIMIT_CONNS; i++) {
        T_CHECK(c[i] != NULL && qc_ping(c[i]) == QC_OK);
    }
    qc_free(c[0]);
    c[0] = NULL;
    qc_ctx *again = connect_retry();
    T_CHECK(again != NULL && qc_ping(again) == QC_OK);
    if (again != NULL) {
        qc_free(again);
    }
    for (int i = 1; i < LIMIT_CONNS; i++) {
        if (c[i] != NULL) {
            qc_free(c[i]);
        }
    }
}


/* Send a frame header announcing 0x7fffffff bytes; the server refuses. */
static void send_oversized(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        const unsigned char hdr[4] = {0x7f, 0xff, 0xff, 0xff};
        char buf[256];
        if (write(fd, hdr, sizeof hdr) == (ssize_t)sizeof hdr) {
            while (read(fd, buf, sizeof buf) > 0) {
            }
        }
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* Every refusal is counted: the per-address limit (test_per_ip_limit ran
 * before) and an oversized frame; the log counts its commits. */
static void test_stats_count_limits(void)
{
    qc_ctx *c = connect_retry();
    T_REQUIRE(c != NULL);
    T_CHECK(fx_stat(c, "conns_refused_ip") >= 1);
    /* A refused connection (a slot not yet released) counts nothing:
     * send again until one oversized frame is seen. */
    int64_t big = fx_stat(c, "frames_too_large");
    for (int tries = 0; tries < RETRY_TRIES &&
                        fx_stat(c, "frames_too_large") == big; tries++) {
        if (tries > 0) {
            td_sleep_ms(RETRY_MS);
        }
        send_oversized(g_d.port);
    }
    T_EQ_I64(fx_stat(c, "frames_too_large"), big + 1);
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(c, 1, 0, 0, &ws) == QC_OK);
    T_CHECK(fx_stat(c, "log_commits") >= 1);
    T_CHECK(fx_stat(c, "log_records") >= 1);
    T_CHECK(fx_stat(c, "requests") > 0);
    qc_free(c);
}

/* The request-latency entries of one stats reply. */
enum { LAT_COUNT, LAT_P50, LAT_P90, LAT_P99, LAT_P999, LAT_MAX, LAT_N };
static const char *const lat_names[LAT_N] = {
    "latency_count",  "latency_p50_us",  "latency_p90_us",
    "latency_p99_us", "latency_p999_us", "latency_max_us",
};

/* Present, ordered and sane: 0 <= p50 <= p90 <= p99 <= p99.9 <= max. */
static void check_lat_order(const int64_t *l)
{
    T_CHECK(l[LAT_P50] >= 0);
    T_CHECK(l[LAT_P50] <= l[LAT_P90]);
    T_CHECK(l[LAT_P90] <= l[LAT_P99]);
    T_CHECK(l[LAT_P99] <= l[LAT_P999]);
    T_CHECK(l[LAT_P999] <= l[LAT_MAX]);
    T_CHECK(l[LAT_MAX] < LAT_MAX_SANE_US);
}

/* Every client frame is timed, read -> reply queued; reset_latency
 * answers with the old histogram and empties it; a durable write (this
 * daemon runs fsync=always) is counted when its reply is released. */
static void test_stats_latency(void)
{
    qc_ctx *c = connect_retry();
    T_REQUIRE(c != NULL);
    for (int i = 0; i < LAT_PINGS; i++) {
        T_CHECK(qc_ping(c) == QC_OK);
    }
    int64_t l[LAT_N], old[LAT_N];
    T_REQUIRE(fx_stats_get(c, false, lat_names, l, LAT_N) == 0);
    T_CHECK(l[LAT_COUNT] >= LAT_PINGS);
    check_lat_order(l);
    T_REQUIRE(fx_stats_get(c, true, lat_names, old, LAT_N) == 0);
    T_CHECK(old[LAT_COUNT] > l[LAT_COUNT]);   /* the read above counted */
    check_lat_order(old);
    /* Only the resetting request itself was timed after the reset. */
    T_REQUIRE(fx_stats_get(c, false, lat_names, l, LAT_N) == 0);
    T_EQ_I64(l[LAT_COUNT], 1);
    check_lat_order(l);
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(c, 1, 0, 0, &ws) == QC_OK);
    T_REQUIRE(fx_stats_get(c, false, lat_names, l, LAT_N) == 0);
    T_EQ_I64(l[LAT_COUNT], 3);   /* reset, the read, the durable write */
    check_lat_order(l);
    qc_free(c);
}

/* Without a root credential the daemon must refuse a public address. */
static void test_open_mode_loopback_only(void)
{
    td_daemon d;
    const char *args[] = {"--host", "0.0.0.0", NULL};
    int rc = td_start(&d, args);
    T_CHECK(rc != 0);
    if (rc == 0) {
        td_stop(&d);
    }
    td_cleanup(&d);
}

#define ROOT_CRED "root-credential-for-it-limits-0123456789"

static int write_cred(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    fputs(ROOT_CRED "\n", f);
    fclose(f);
    return chmod(path, 0600);
}

static qc_ctx *connect_as(const td_daemon *d, const char *cred)
{
    qc_options o = qc_options_default();
    o.port = d->port;
    o.credential = cred;
    qc_ctx *c = NULL;
    return qc_connect(&o, &c) == QC_OK ? c : NULL;
}

/* An admin key's open connection loses its rights the moment the key is
 * revoked: rights are re-checked on every frame, not only at HELLO. */
static void test_revoked_admin_session(void)
{
    char path[320];
    td_daemon d;
    snprintf(path, sizeof path, "%s/root.cred", g_d.dir);
    T_REQUIRE(write_cred(path) == 0);
    const char *args[] = {"--root-credential-file", path, NULL};
    T_REQUIRE(td_start(&d, args) == 0);
    qc_ctx *root = connect_as(&d, ROOT_CRED);
    T_REQUIRE(root != NULL);
    uint32_t ws = 0;
    T_REQUIRE(fx_workspace(root, 1000, 0, 0, &ws) == QC_OK);
    Quotad__CreateKey ck = QUOTAD__CREATE_KEY__INIT;
    ck.has_workspace_id = ck.has_kind = ck.has_role = 1;
    ck.workspace_id = ws;
    ck.kind = QUOTAD__KEY_KIND__ADMIN;
    ck.role = QUOTAD__ROLE__ROLE_OWNER;
    Quotad__Reply *r = NULL;
    T_REQUIRE(qc_create_key(root, &ck, &r) == QC_OK);
    char secret[128];
    snprintf(secret, sizeof secret, "%s", r->key_secret->secret);
    uint64_t key_id = r->key_secret->key->key_id;
    qc_reply_free(r);
    qc_ctx *owner = connect_as(&d, secret);
    T_REQUIRE(owner != NULL);
    T_EQ_I64(qc_role(owner), QUOTAD__ROLE__ROLE_OWNER);
    T_EQ_I64(qc_get_workspace(owner, ws, &r), QC_OK);
    qc_reply_free(r);
    T_EQ_I64(qc_revoke_key(root, key_id, &r), QC_OK);
    qc_reply_free(r);
    T_EQ_I64(qc_get_workspace(owner, ws, &r), QC_CODE_PERMISSION_DENIED);
    qc_reply_free(r);
    qc_free(owner);
    T_CHECK(connect_as(&d, secret) == NULL);
    qc_free(root);
    T_EQ_I64(td_stop(&d), 0);
    td_cleanup(&d);
}

/* The optional Unix socket: created with the configured permissions,
 * served like TCP, removed at shutdown. */
static void test_unix_socket(void)
{
    char path[320];
    snprintf(path, sizeof path, "%s/quotad.sock", g_d.dir);
    const char *args[] = {"--unix-socket", path, "--unix-socket-mode", "384",
                          NULL};
    td_daemon d;
    T_REQUIRE(td_start(&d, args) == 0);
    struct stat sb;
    T_CHECK(stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
            (sb.st_mode & 0777) == 0600);
    qc_options o = qc_options_default();
    o.host = path;
    qc_ctx *c = NULL;
    T_EQ_I64(qc_connect(&o, &c), QC_OK);
    T_CHECK(c != NULL && qc_ping(c) == QC_OK);
    uint32_t ws = 0;
    T_CHECK(c != NULL && fx_workspace(c, 5, 0, 0, &ws) == QC_OK && ws != 0);
    if (c != NULL) {
        qc_free(c);
    }
    T_EQ_I64(td_stop(&d), 0);
    T_CHECK(stat(path, &sb) != 0); /* removed at shutdown */
    td_cleanup(&d);
}

int main(void)
{
    const char *args[] = {"--conns-per-ip-max", "3", NULL};
    if (td_start(&g_d, args) != 0) {
        printf("FAIL start\n");
        return 1;
    }
    T_RUN(test_per_ip_limit);
    T_RUN(test_stats_count_limits);
    T_RUN(test_stats_latency);
    T_RUN(test_open_mode_loopback_only);
    T_RUN(test_revoked_admin_session);
    T_RUN(test_unix_socket);
    int st = td_stop(&g_d);
    td_cleanup(&g_d);
    if (st != 0) {
        printf("FAIL clean_shutdown (status %d)\n", st);
        return 1;
    }
    return t_done();
}
