/* test_config -- defaults, config file, flags, and validation. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgfile.h"
#include "config.h"
#include "limits.h"
#include "t.h"

#define ERR_BYTES 512

/* Write text to a fresh temp file; path receives its name. */
/* argv from a NULL-terminated list; argv[0] is "quotad". */
static int parse(qd_config *c, const char *const *args, char *err)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"quotad";
    for (int i = 0; args[i] != NULL && argc < 31; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    err[0] = '\0';
    return config_parse_args(c, argc, argv, err, ERR_BYTES);
}

static void test_defaults(void)
{
    qd_config c;
    char err[ERR_BYTES];
    config_defaults(&c);
    T_EQ_STR(c.host, "127.0.0.1");
    T_EQ_I64(c.port, DEFAULT_PORT);
    T_EQ_STR(c.data_dir, DEFAULT_DATA_DIR);
    T_EQ_I64(c.workers, 0);
    T_EQ_I64(c.shards, SHARDS_DEFAULT);
    T_EQ_I64(c.conns_max, CONNS_MAX_DEFAULT);
    T_EQ_I64(c.idle_timeout_ms, CONN_IDLE_TIMEOUT_MS_DEFAULT);
    T_EQ_I64(c.write_timeout_ms, CONN_WRITE_TIMEOUT_MS_DEFAULT);
    T_EQ_I64(c.hold_timeout_ms, HOLD_TIMEOUT_MS_DEFAULT);
    T_EQ_I64(c.idem_window_ms, IDEM_WINDOW_MS_DEFAULT);
    T_EQ_I64(c.idem_entries_per_shard, IDEM_ENTRIES_PER_SHARD_MAX);
    T_EQ_I64(c.max_keys_default, WORKSPACE_MAX_KEYS_DEFAULT);
    T_EQ_I64(c.settle_overrun_micro, 0);
    T_EQ_STR(c.key_prefix, "sk-");
    T_EQ_STR(c.fsync, "always");
    T_EQ_I64(c.log_level, 2);
    T_EQ_STR(c.port_file, "");
    T_EQ_STR(c.pid_file, "");
    T_EQ_I64(config_validate(&c, err, sizeof err), 0);
}

static void test_file(void)
{
    char path[T_TMP_PATH_BYTES], err[ERR_BYTES];
    T_REQUIRE(t_write_tmp(path, "qd_test_config",
                          "# a comment\n"
                          "\n"
                          "   \t\n"
                          "port = 9000\n"
                          "data-dir=/var/lib/quotad   # trailing comment\n"
                          "  key_prefix =  \"qk_\"  \n"
                          "pid_file = /run/q#1.pid\n"
                          "settle-overrun-micro = 250\n"
                          "fsync = everysec\r\n") == 0);
    qd_config c;
    config_defaults(&c);
    int rc = config_load_file(&c, path, err, sizeof err);
    unlink(path);
    T_EQ_I64(rc, 0);
    T_EQ_I64(c.port, 9000);
    T_EQ_STR(c.data_dir, "/var/lib/quotad");
    T_EQ_STR(c.key_prefix, "qk_");
    T_EQ_STR(c.pid_file, "/run/q#1.pid");
    T_EQ_I64(c.settle_overrun_micro, 250);
    T_EQ_STR(c.fsync, "everysec");
    T_EQ_I64(c.shards, SHARDS_DEFAULT);     /* untouched */
    T_EQ_I64(config_validate(&c, err, sizeof err), 0);
}

/* A file error names the file and the line. */
static void test_file_errors(void)
{
    static const struct {
        const char *text;
        const char *needle;
    } cases[] = {
        {"port = 1\nbogus = 3\n", ":2: unknown option 'bogus'"},
        {"\n\nport 7\n", ":3: expected 'name = value'"},
        {"workers = many\n", ":1: workers: 'many' is not"},
        {"port = -1\n", ":1: port:"},
        {"shards = 4294967296\n", ":1: shards:"},
        {"settle_overrun_micro = 12x\n", ":1: settle_overrun_micro:"},
        {"key_prefix = abcdefghijklmnopq\n", ":1: key_prefix: value too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[T_TMP_PATH_BYTES], err[ERR_BYTES] = "";
        T_REQUIRE(t_write_tmp(path, "qd_test_config", cases[i].text) == 0);
        qd_config c;
        config_defaults(&c);
        int rc = config_load_file(&c, path, err, sizeof err);
        unlink(path);
        T_EQ_I64(rc, -1);
        if (strstr(err, cases[i].needle) == NULL)
            fprintf(stderr, "  case %zu: '%s' lacks '%s'\n", i, err,
                    cases[i].needle);
        T_CHECK(strstr(err, cases[i].needle) != NULL);
        T_CHECK(strstr(err, path) != NULL);
    }
    qd_config c;
    char err[ERR_BYTES] = "";
    config_defaults(&c);
    T_EQ_I64(config_load_file(&c, "/nonexistent/q.conf", err, sizeof err),
             -1);
    T_CHECK(strstr(err, "/nonexistent/q.conf") != NULL);
}

static void test_long_line(void)
{
    char *text = malloc(CFGFILE_LINE_BYTES_MAX + 64);
    T_REQUIRE(text != NULL);
    memset(text, '#', CFGFILE_LINE_BYTES_MAX + 10);
    strcpy(text + CFGFILE_LINE_BYTES_MAX + 10, "\nport = 1\n");
    char path[T_TMP_PATH_BYTES], err[ERR_BYTES] = "";
    int w = t_write_tmp(path, "qd_test_config", text);
    free(text);
    T_REQUIRE(w == 0);
    qd_config c;
    config_defaults(&c);
    T_EQ_I64(config_load_file(&c, path, err, sizeof err), -1);
    unlink(path);
    T_CHECK(strstr(err, ":1: line longer") != NULL);
}

/* --config is read first wherever it appears; flags then win. */
static void test_flags_override_file(void)
{
    char path[T_TMP_PATH_BYTES], err[ERR_BYTES];
    T_REQUIRE(t_write_tmp(path, "qd_test_config",
                          "port = 2\nshards = 8\nworkers = 3\n") == 0);
    qd_config c;
    config_defaults(&c);
    const char *args[] = {"--port", "1", "--workers=5", "--config", path,
                          NULL};
    int rc = parse(&c, args, err);
    unlink(path);
    T_EQ_I64(rc, 0);
    T_EQ_I64(c.port, 1);
    T_EQ_I64(c.workers, 5);
    T_EQ_I64(c.shards, 8);       /* from the file, no flag */
}

static void test_flag_forms(void)
{
    char err[ERR_BYTES];
    qd_config c;
    config_defaults(&c);
    const char *args[] = {"--port-file=/tmp/p", "--pid_file", "/tmp/q",
                          "--host", "::1", "--key-prefix=ak-",
                          "--log-level", "3", "--idle-timeout-ms=0", NULL};
    T_EQ_I64(parse(&c, args, err), 0);
    T_EQ_STR(c.port_file, "/tmp/p");
    T_EQ_STR(c.pid_file, "/tmp/q");
    T_EQ_STR(c.host, "::1");
    T_EQ_STR(c.key_prefix, "ak-");
    T_EQ_I64(c.log_level, 3);
    T_EQ_I64(c.idle_timeout_ms, 0);
    T_EQ_I64(config_validate(&c, err, sizeof err), 0);

    const char *empty[] = {"--port-file=", NULL};
    T_EQ_I64(parse(&c, empty, err), 0);
    T_EQ_STR(c.port_file, "");
}

/* Flag errors name the flag or the argument. */
static void test_flag_errors(void)
{
    static const struct {
        const char *args[4];
        const char *needle;
    } cases[] = {
        {{"--bogus", "1"}, "unknown flag '--bogus'"},
        {{"--port", "abc"}, "--port: 'abc' is not"},
        {{"--port"}, "--port: missing value"},
        {{"port", "1"}, "unexpected argument 'port'"},
        {{"--shards=-4"}, "--shards:"},
        {{"--config", "/nonexistent/q.conf"}, "/nonexistent/q.conf"},
        {{"--=3"}, "bad flag"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[ERR_BYTES];
        qd_config c;
        config_defaults(&c);
        T_EQ_I64(parse(&c, cases[i].args, err), -1);
        if (strstr(err, cases[i].needle) == NULL)
            fprintf(stderr, "  case %zu: '%s' lacks '%s'\n", i, err,
                    cases[i].needle);
        T_CHECK(strstr(err, cases[i].needle) != NULL);
    }
}

/* --help prints (to stdout, silenced here) and returns 1. */
static void test_help(void)
{
    char err[ERR_BYTES];
    qd_config c;
    config_defaults(&c);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    T_REQUIRE(saved >= 0 && devnull >= 0);
    dup2(devnull, STDOUT_FILENO);
    const char *args[] = {"--port", "bad", "--help", NULL};
    int rc = parse(&c, args, err);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(devnull);
    T_EQ_I64(rc, 1);
}

/* Each case breaks one value; validate must name the option. */
static void test_validate(void)
{
    static const struct {
        const char *args[3];
        const char *needle;
    } cases[] = {
        {{"--shards", "0"}, "shards: 0 is out of range"},
        {{"--shards", "4097"}, "shards: 4097 is out of range"},
        {{"--workers", "257"}, "workers: 257"},
        {{"--port", "65536"}, "port: 65536"},
        {{"--log-level", "4"}, "log_level: 4"},
        {{"--hold-timeout-ms", "0"}, "hold_timeout_ms: 0"},
        {{"--hold-timeout-ms", "86400001"}, "hold_timeout_ms"},
        {{"--write-timeout-ms", "0"}, "write_timeout_ms: 0"},
        {{"--conns-max", "0"}, "conns_max: 0"},
        {{"--idem-entries-per-shard", "0"}, "idem_entries_per_shard"},
        {{"--max-keys-default", "0"}, "max_keys_default"},
        {{"--settle-overrun-micro", "-1"}, "settle_overrun_micro: -1"},
        {{"--key-prefix", "sk!"}, "key_prefix: only [A-Za-z0-9_-]"},
        {{"--key-prefix", ""}, "key_prefix: length"},
        {{"--fsync", "sometimes"}, "fsync: 'sometimes' is not one of"},
        {{"--host", ""}, "host: length"},
        {{"--data-dir", ""}, "data_dir: length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[ERR_BYTES] = "";
        qd_config c;
        config_defaults(&c);
        T_EQ_I64(parse(&c, cases[i].args, err), 0);
        T_EQ_I64(config_validate(&c, err, sizeof err), -1);
        if (strstr(err, cases[i].needle) == NULL)
            fprintf(stderr, "  case %zu: '%s' lacks '%s'\n", i, err,
                    cases[i].needle);
        T_CHECK(strstr(err, cases[i].needle) != NULL);
    }
    /* Edges that must pass. */
    qd_config c;
    char err[ERR_BYTES];
    config_defaults(&c);
    const char *ok[] = {"--shards", "4096", "--workers", "256", "--port",
                        "0", "--key-prefix", "abcdefghijklmnop", NULL};
    T_EQ_I64(parse(&c, ok, err), 0);
    T_EQ_I64(config_validate(&c, err, sizeof err), 0);
    /* Relation: the port and pid files must differ. */
    const char *same[] = {"--port-file", "/tmp/x", "--pid-file", "/tmp/x",
                          NULL};
    T_EQ_I64(parse(&c, same, err), 0);
    T_EQ_I64(config_validate(&c, err, sizeof err), -1);
}

/* The shipped example lists every option at its built-in default: it
 * loads, and loading it changes nothing (so it cannot drift from the
 * table). Tests run from the repository root. */
static void test_example_is_defaults(void)
{
    qd_config want, got;
    char err[ERR_BYTES] = "";
    config_defaults(&want);
    config_defaults(&got);
    T_EQ_I64(config_load_file(&got, "quotad.conf.example", err, sizeof err),
             0);
    T_EQ_STR(err, "");
    T_CHECK(memcmp(&want, &got, sizeof want) == 0);
}

int main(void)
{
    T_RUN(test_defaults);
    T_RUN(test_file);
    T_RUN(test_file_errors);
    T_RUN(test_long_line);
    T_RUN(test_flags_override_file);
    T_RUN(test_flag_forms);
    T_RUN(test_flag_errors);
    T_RUN(test_help);
    T_RUN(test_validate);
    T_RUN(test_example_is_defaults);
    return t_done();
}
