/* price -- the per-model price table and the cost of a request.
 *
 * File format, one model per line ('#' starts a comment):
 *
 *   # model        prompt/1k   completion/1k   default_max_tokens
 *   gpt-4o         2500        10000           1024
 *   *              1000        2000            512
 *
 * Prices are integer micro-units per 1000 tokens (2500 = 0.0025 units per
 * 1k prompt tokens). "*" prices every model not listed; without it an
 * unlisted model is refused (404 model_not_found) instead of guessed.
 * default_max_tokens is the completion size assumed for the hold when a
 * request gives no max_tokens.
 *
 * Money is integer arithmetic only: cost = ceil((p * P + c * C) / 1000),
 * one rounding for the whole request so a price never drifts by splitting.
 */
#include "gw.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRICE_LINE_BYTES 512u
#define PRICE_ROWS_MAX 4096u
#define PRICE_TOKENS_PER_UNIT 1000     /* prices are per 1000 tokens */
#define PRICE_PER_1K_MAX INT64_C(1000000000)   /* 1000 units per 1k tokens */
#define PRICE_TOKENS_MAX INT64_C(1000000000)   /* quotad TOKENS_MAX */
#define PRICE_AMOUNT_MAX INT64_C(1000000000000000)  /* quotad 1e15 micro */
#define PRICE_FIELDS 4

_Static_assert(PRICE_PER_1K_MAX <= INT64_MAX / PRICE_TOKENS_MAX / 2,
               "two products of price and tokens fit in int64");

static int price_cmp(const void *a, const void *b)
{
    return strcmp(((const gw_price *)a)->model, ((const gw_price *)b)->model);
}

/* Parse a non-negative integer in [0, max]. */
static int price_num(const char *s, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* One line into row; 1 = blank/comment, 0 = row, -1 = bad. */
static int price_line(char *line, gw_price *row)
{
    char *hash = strchr(line, '#');
    if (hash != NULL)
        *hash = '\0';
    char *tok[PRICE_FIELDS + 1] = {0};
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == PRICE_FIELDS + 1)
            return -1;
        tok[n++] = t;
    }
    if (n == 0)
        return 1;
    if (n != PRICE_FIELDS || strlen(tok[0]) > GW_MODEL_BYTES)
        return -1;
    memcpy(row->model, tok[0], strlen(tok[0]) + 1);
    if (price_num(tok[1], PRICE_PER_1K_MAX, &row->prompt_per_1k) != 0 ||
        price_num(tok[2], PRICE_PER_1K_MAX, &row->completion_per_1k) != 0 ||
        price_num(tok[3], PRICE_TOKENS_MAX, &row->default_max_tokens) != 0)
        return -1;
    return 0;
}

/* Read every row of f into p (unsorted). */
static int price_read(FILE *f, const char *path, gw_prices *p)
{
    char line[PRICE_LINE_BYTES];
    for (unsigned no = 1; fgets(line, sizeof line, f) != NULL; no++) {
        gw_price row;
        int rc = price_line(line, &row);
        if (rc == 1)
            continue;
        if (rc != 0 || p->n == PRICE_ROWS_MAX) {
            gw_log(GW_LOG_ERROR, "%s:%u: expected: model prompt_per_1k "
                   "completion_per_1k default_max_tokens (integers, "
                   "micro-units)", path, no);
            return -1;
        }
        p->v[p->n++] = row;
    }
    return ferror(f) ? -1 : 0;
}

/* Sort, refuse duplicates, find the "*" row. */
static int price_index(gw_prices *p, const char *path)
{
    qsort(p->v, p->n, sizeof *p->v, price_cmp);
    for (size_t i = 0; i < p->n; i++) {
        if (i > 0 && strcmp(p->v[i - 1].model, p->v[i].model) == 0) {
            gw_log(GW_LOG_ERROR, "%s: model '%s' listed twice", path,
                   p->v[i].model);
            return -1;
        }
        if (strcmp(p->v[i].model, "*") == 0)
            p->fallback = &p->v[i];
    }
    if (p->n == 0) {
        gw_log(GW_LOG_ERROR, "%s: no prices", path);
        return -1;
    }
    return 0;
}

/* Load and index the table; logs the reason on failure. */
int gw_prices_load(const char *path, gw_prices *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        gw_log(GW_LOG_ERROR, "prices: %s: %s", path, strerror(errno));
        return -1;
    }
    out->v = calloc(PRICE_ROWS_MAX, sizeof *out->v);
    int rc = out->v == NULL ? -1 : price_read(f, path, out);
    fclose(f);
    if (rc == 0)
        rc = price_index(out, path);
    if (rc != 0)
        gw_prices_free(out);
    return rc;
}

void gw_prices_free(gw_prices *p)
{
    free(p->v);
    memset(p, 0, sizeof *p);
}

/* Exact model first, then the "*" row. */
const gw_price *gw_price_find(const gw_prices *p, const char *model)
{
    gw_price key = {.prompt_per_1k = 0};
    size_t n = strlen(model);
    if (n > GW_MODEL_BYTES)
        return NULL;
    memcpy(key.model, model, n + 1);
    const gw_price *hit = bsearch(&key, p->v, p->n, sizeof *p->v, price_cmp);
    return hit != NULL ? hit : p->fallback;
}

/* One ceiling over the whole sum; the static assert above guarantees
 * neither product nor the sum overflows for in-range inputs. */
int gw_cost(const gw_price *p, int64_t prompt, int64_t completion,
            int64_t *out)
{
    if (prompt < 0 || completion < 0 || prompt > PRICE_TOKENS_MAX ||
        completion > PRICE_TOKENS_MAX)
        return -1;
    int64_t milli = prompt * p->prompt_per_1k +
                    completion * p->completion_per_1k;
    int64_t cost = milli / PRICE_TOKENS_PER_UNIT +
                   (milli % PRICE_TOKENS_PER_UNIT != 0 ? 1 : 0);
    if (cost > PRICE_AMOUNT_MAX)
        return -1;
    *out = cost;
    return 0;
}
