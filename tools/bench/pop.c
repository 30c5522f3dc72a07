/* pop.c -- the key population on disk, so load and runs are separate
 * steps and every run (quotad and Redis alike) checks the same keys.
 *
 * File: a header line, then one key per line:
 *   # quotad-bench population v1 keys=N workspaces=W
 *   <secret> <workspace id> <key id>
 * written to FILE.tmp and renamed, so a crashed load never leaves a short
 * file that a later run would trust. Secrets are bench-only credentials of
 * a throwaway server; the file is created 0600 all the same.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POP_MAGIC "# quotad-bench population v1"
#define POP_LINE_BYTES 256u

int pop_alloc(bench_pop *p, size_t n, uint32_t n_ws)
{
    p->keys = calloc(n, sizeof *p->keys);
    p->n = p->keys != NULL ? n : 0;
    p->n_ws = n_ws;
    return p->keys != NULL ? 0 : -1;
}

void pop_free(bench_pop *p)
{
    free(p->keys);
    p->keys = NULL;
    p->n = 0;
}

static int pop_write_lines(FILE *f, const bench_pop *p)
{
    if (fprintf(f, "%s keys=%zu workspaces=%" PRIu32 "\n", POP_MAGIC, p->n,
                p->n_ws) < 0)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        const pop_key *k = &p->keys[i];
        if (fprintf(f, "%s %" PRIu32 " %" PRIu64 "\n", k->id, k->ws_id,
                    k->key_id) < 0)
            return -1;
    }
    return 0;
}

int pop_write(const char *path, const bench_pop *p)
{
    char tmp[BENCH_PATH_BYTES + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "quotad-bench: %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return -1;
    }
    int rc = pop_write_lines(f, p);
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        fprintf(stderr, "quotad-bench: writing %s failed: %s\n", path,
                strerror(errno));
        unlink(tmp);
    }
    return rc;
}

/* Parse "secret ws key_id"; the secret must fit BENCH_SECRET_BYTES. */
static int pop_parse_line(const char *line, pop_key *k)
{
    const char *sp = strchr(line, ' ');
    if (sp == NULL || sp == line ||
        (size_t)(sp - line) >= sizeof k->id)
        return -1;
    memcpy(k->id, line, (size_t)(sp - line));
    k->id[sp - line] = '\0';
    char *end = NULL;
    unsigned long ws = strtoul(sp + 1, &end, 10);
    if (end == sp + 1 || *end != ' ' || ws == 0 || ws > UINT32_MAX)
        return -1;
    unsigned long long id = strtoull(end + 1, &end, 10);
    if (*end != '\n' && *end != '\0')
        return -1;
    k->ws_id = (uint32_t)ws;
    k->key_id = id;
    return 0;
}

static int pop_read_header(FILE *f, size_t *n, uint32_t *n_ws)
{
    char line[POP_LINE_BYTES];
    size_t keys = 0;
    unsigned long ws = 0;
    if (fgets(line, sizeof line, f) == NULL ||
        strncmp(line, POP_MAGIC, strlen(POP_MAGIC)) != 0 ||
        sscanf(line + strlen(POP_MAGIC), " keys=%zu workspaces=%lu", &keys,
               &ws) != 2 ||
        keys == 0 || keys > BENCH_KEYS_MAX || ws == 0 || ws > BENCH_WS_MAX)
        return -1;
    *n = keys;
    *n_ws = (uint32_t)ws;
    return 0;
}

int pop_read(const char *path, bench_pop *p)
{
    memset(p, 0, sizeof *p);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = 0;
    uint32_t n_ws = 0;
    int rc = pop_read_header(f, &n, &n_ws);
    if (rc == 0)
        rc = pop_alloc(p, n, n_ws);
    char line[POP_LINE_BYTES];
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (fgets(line, sizeof line, f) == NULL ||
            pop_parse_line(line, &p->keys[i]) != 0) {
            fprintf(stderr, "quotad-bench: %s: bad line %zu\n", path, i + 2);
            rc = -1;
        }
    }
    fclose(f);
    if (rc != 0)
        pop_free(p);
    return rc;
}

int pop_hash_all(bench_pop *p)
{
    if (sodium_init() < 0)
        return -1;
    _Static_assert(BENCH_SECRET_BYTES >= BENCH_HASH_HEX_BYTES,
                   "a hex hash fits where the secret was");
    for (size_t i = 0; i < p->n; i++) {
        pop_key *k = &p->keys[i];
        unsigned char h[crypto_hash_sha256_BYTES];
        if (crypto_hash_sha256(h, (const unsigned char *)k->id,
                               strlen(k->id)) != 0)
            return -1;
        sodium_bin2hex(k->id, sizeof k->id, h, sizeof h);
    }
    return 0;
}
