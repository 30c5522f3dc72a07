/* main -- the quotad daemon: configuration, store, network, shutdown.
 *
 *   config (defaults < file < flags) -> validate -> store_open
 *     -> net_open (listen, workers, port/pid files) -> net_run (until
 *        SIGTERM/SIGINT) -> net_close -> store_close -> exit 0
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "config.h"
#include "limits.h"
#include "log.h"
#include "net.h"
#include "plog.h"
#include "recover.h"
#include "segfile.h"
#include "store.h"

/* Room for a config error message (names a line or a flag). */
#define MAIN_ERR_BYTES 512u

/* The log and snapshots will live here; create it now so a bad path fails
 * at startup, not at the first write. One level only: a missing parent is
 * more likely a typo than an intent. */
static int main_data_dir(const char *path)
{
    if (mkdir(path, 0700) == 0) {
        log_info("created data_dir %s", path);
        return 0;
    }
    struct stat sb;
    if (errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return 0;
    log_error("data_dir %s: %s", path,
              errno == EEXIST ? "not a directory" : strerror(errno));
    return -1;
}

/* One daemon per data_dir: an exclusive flock held for the whole run (the
 * kernel drops it when the process dies, kill -9 included). Offline tools
 * take the same lock. Returns the fd to keep open, or -1. */
static int main_lock_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        log_error("data_dir %s: %s", path,
                  fd < 0 ? strerror(errno)
                         : "in use by another quotad or tool (locked)");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void main_store_opts(const qd_config *c, store_opts *o)
{
    store_opts_default(o);
    o->shards = c->shards;
    o->hold_timeout_ms = c->hold_timeout_ms;
    o->idem_window_ms = c->idem_window_ms;
    o->idem_entries_per_shard = c->idem_entries_per_shard;
    o->max_keys_default = c->max_keys_default;
    o->settle_overrun_micro = c->settle_overrun_micro;
    _Static_assert(sizeof o->key_prefix >= sizeof c->key_prefix,
                   "validated prefix fits the store's field");
    memcpy(o->key_prefix, c->key_prefix, sizeof c->key_prefix);
}

/* Returns 0 to run, 1 to exit 0 (--help), -1 to exit 2 (bad config). */
static int main_config(qd_config *c, int argc, char **argv)
{
    char err[MAIN_ERR_BYTES];
    config_defaults(c);
    int rc = config_parse_args(c, argc, argv, err, sizeof err);
    if (rc == 0)
        rc = config_validate(c, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "quotad: %s (try --help)\n", err);
    return rc;
}

static plog_fsync main_fsync(const char *s)
{
    return strcmp(s, "always") == 0     ? PLOG_FSYNC_ALWAYS
           : strcmp(s, "everysec") == 0 ? PLOG_FSYNC_EVERYSEC
                                        : PLOG_FSYNC_NO;
}

/* Recover the store from data_dir, then start the log writer. */
static int main_persist(const qd_config *c, store *st, const uint8_t *enc_key,
                        plog **out)
{
    char err[MAIN_ERR_BYTES];
    recover_opts ro = {.dir = c->data_dir, .key = enc_key,
                       .repair = c->repair != 0};
    recover_report rep;
    if (recover_load(st, &ro, &rep, err, sizeof err) != 0) {
        log_error("recover: %s", err);
        return -1;
    }
    plog_opts po = {
        .dir = c->data_dir,
        .fsync = main_fsync(c->fsync),
        .key = enc_key,
        .segment_bytes_max = (uint64_t)c->segment_bytes,
        .snapshot_log_bytes = (uint64_t)c->snapshot_log_bytes,
        .snapshot_interval_s = c->snapshot_interval_s,
        .first_segno = rep.last_segno + 1,
        .no_spare = c->log_prealloc == 0,
    };
    return plog_open(st, &po, out);
}

/* Load the at-rest key if one is configured. 1 = loaded, 0 = none. */
static int main_key(const qd_config *c, uint8_t enc_key[SEGFILE_KEY_BYTES])
{
    if (c->encryption_key_file[0] == '\0')
        return 0;
    segfile_status s = segfile_load_key(c->encryption_key_file, enc_key);
    if (s != SEGFILE_OK) {
        log_error("encryption_key_file %s: %s", c->encryption_key_file,
                  segfile_status_str(s));
        return -1;
    }
    return 1;
}

static bool main_loopback(const char *host)
{
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0;
}

/* Credentials from the config; without a root credential the server is
 * open (every connection is root), which is allowed on loopback only. */
static int main_auth(const qd_config *c, store *st)
{
    char err[MAIN_ERR_BYTES];
    if (c->root_credential_file[0] != '\0') {
        if (auth_load_credential(c->root_credential_file, &st->auth.root,
                                 err, sizeof err) != 0) {
            log_error("root_credential_file: %s", err);
            return -1;
        }
        st->auth.has_root = st->auth.required = true;
    }
    if (c->gateway_credential_file[0] != '\0') {
        if (auth_load_credential(c->gateway_credential_file,
                                 &st->auth.gateway, err, sizeof err) != 0) {
            log_error("gateway_credential_file: %s", err);
            return -1;
        }
        st->auth.has_gateway = st->auth.required = true;
    }
    if (!st->auth.has_root && !main_loopback(c->host)) {
        log_error("refusing to listen on %s without root_credential_file: "
                  "anyone could manage keys and money", c->host);
        return -1;
    }
    if (!st->auth.required) {
        log_warn("no credentials configured: open mode, every loopback "
                 "connection has full rights");
    }
    return 0;
}

/* Store is open: serve until a signal. Returns the exit status. */
static int main_serve(const qd_config *c, store *st)
{
    net *n = NULL;
    if (net_open(c, st, &n) != 0)
        return EXIT_FAILURE;
    log_info("quotad listening on %s port %u: %u workers, %u shards, "
             "fsync %s, data_dir %s", c->host, (unsigned)net_port(n),
             net_workers(n), c->shards, c->fsync, c->data_dir);
    int rc = net_run(n);
    net_close(n);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    static qd_config cfg;    /* static: large, and must outlive net */
    int rc = main_config(&cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? EXIT_SUCCESS : 2;
    log_set_level((int)cfg.log_level);
    if (sodium_init() < 0) {
        log_error("sodium_init failed");
        return EXIT_FAILURE;
    }
    if (main_data_dir(cfg.data_dir) != 0)
        return EXIT_FAILURE;

    store_opts so;
    main_store_opts(&cfg, &so);
    store *st = NULL;
    if (store_open(&so, &st) != 0) {
        log_error("store_open failed");
        return EXIT_FAILURE;
    }
    if (cfg.test_hooks) {
        st->now_ms = store_clock_test_ms;
        st->test_hooks = true;
        log_warn("test_hooks = 1: the clock can be moved by debug_clock");
    }
    if (main_auth(&cfg, st) != 0) {
        store_close(st);
        return EXIT_FAILURE;
    }
    plog *pl = NULL;
    int lock_fd = -1;
    if (cfg.persist && (lock_fd = main_lock_dir(cfg.data_dir)) < 0) {
        store_close(st);
        return EXIT_FAILURE;
    }
    if (cfg.persist) {
        uint8_t enc_key[SEGFILE_KEY_BYTES];
        int k = main_key(&cfg, enc_key);
        rc = k < 0 ? -1 : main_persist(&cfg, st, k ? enc_key : NULL, &pl);
        sodium_memzero(enc_key, sizeof enc_key);
        if (rc != 0) {
            store_close(st);
            return EXIT_FAILURE;
        }
    } else {
        log_warn("persist = 0: state lives in memory only");
    }
    rc = main_serve(&cfg, st);
    if (plog_close(pl) != 0) {
        log_error("the log lost durability during this run");
        rc = EXIT_FAILURE;
    }
    store_close(st);
    if (lock_fd >= 0)
        close(lock_fd);
    log_info("quotad stopped");
    return rc;
}
