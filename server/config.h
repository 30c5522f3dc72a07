/* config -- daemon configuration: embedded defaults, then a config file,
 * then command-line flags (later wins).
 *
 * File format: one "name = value" per line, '#' starts a comment, names
 * are the long flag names without "--" and with '-' or '_' alike:
 *     port = 7411
 *     workers = 4
 * Flags: --name value or --name=value; --config FILE is read first
 * wherever it appears; --help prints every option with its default.
 */
#ifndef QD_CONFIG_H
#define QD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_PATH_BYTES_MAX 512u

typedef struct qd_config {
    char host[256];                 /* listen address; default 127.0.0.1 */
    uint32_t port;                  /* 0 = pick a free port */
    char port_file[CONFIG_PATH_BYTES_MAX]; /* write bound port here */
    char pid_file[CONFIG_PATH_BYTES_MAX];
    char data_dir[CONFIG_PATH_BYTES_MAX];
    uint32_t workers;               /* 0 = number of cores */
    uint32_t shards;
    uint32_t conns_max;
    uint32_t conns_per_ip_max;      /* 0 = no per-address limit */
    uint32_t test_hooks;            /* 1: accept debug_clock (tests only) */
    char unix_socket[108];          /* also listen here ("" = no) */
    uint32_t unix_socket_mode;      /* its file permissions, e.g. 0600 */
    uint32_t idle_timeout_ms;       /* close idle connections; 0 = never */
    uint32_t write_timeout_ms;      /* close clients not reading replies */
    uint32_t hold_timeout_ms;       /* default hold lifetime */
    uint32_t idem_window_ms;
    uint32_t idem_entries_per_shard;
    uint32_t max_keys_default;      /* per workspace */
    int64_t settle_overrun_micro;   /* settle may exceed a hold by this */
    char key_prefix[17];            /* "sk-" */
    char fsync[16];                 /* persistence policy: always|everysec|no */
    uint32_t persist;               /* 1: log + snapshots; 0: memory only */
    uint32_t repair;                /* 1: cut the log at a corrupt chunk */
    char encryption_key_file[CONFIG_PATH_BYTES_MAX]; /* "" = plaintext */
    int64_t snapshot_log_bytes;     /* snapshot after this much log; 0 off */
    uint32_t snapshot_interval_s;   /* and at least this often; 0 off */
    int64_t segment_bytes;          /* start a new log segment above this */
    uint32_t log_prealloc;          /* 1: keep a zero-filled spare segment */
    uint32_t log_level;             /* 0 error, 1 warn, 2 info, 3 debug */
    char root_credential_file[CONFIG_PATH_BYTES_MAX];    /* "" = open */
    char gateway_credential_file[CONFIG_PATH_BYTES_MAX]; /* "" = none */
} qd_config;

void config_defaults(qd_config *c);

/* Returns 0; or -1 with a message in err. */
int config_load_file(qd_config *c, const char *path, char *err,
                     size_t err_cap);
/* Parse argv (after defaults). Returns 0, 1 if --help was printed, or -1
 * with a message in err. */
int config_parse_args(qd_config *c, int argc, char **argv, char *err,
                      size_t err_cap);
/* Check ranges and relations. Returns 0 or -1 with a message. */
int config_validate(const qd_config *c, char *err, size_t err_cap);

#endif
