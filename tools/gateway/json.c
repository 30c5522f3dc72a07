/* json -- a bounded JSON scanner for the handful of fields the gateway
 * reads (model, max_tokens, stream, stream_options, usage.*).
 *
 * It never builds a tree: gj_get walks the text once per lookup, with a
 * fixed nesting limit (no recursion, no allocation), validating the whole
 * document on the way. Bodies are already bounded by body_bytes_max /
 * reply_bytes_max, so a walk is O(bytes).
 */
#include "gw.h"

#include <string.h>

#define GJ_DEPTH_MAX 64u          /* nesting accepted in any document */
#define GJ_PATH_PART_MAX 64u      /* longest key in a lookup path */
#define GJ_CTRL_MAX 0x20          /* bytes below this must be escaped */
#define GJ_HEX_DIGITS 4

static void gj_ws(const char *b, size_t n, size_t *i)
{
    while (*i < n && (b[*i] == ' ' || b[*i] == '\t' || b[*i] == '\n' ||
                      b[*i] == '\r'))
        (*i)++;
}

static bool gj_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* At '"': move past the closing quote, checking escapes. */
static int gj_string(const char *b, size_t n, size_t *i)
{
    size_t k = *i + 1;
    while (k < n) {
        unsigned char c = (unsigned char)b[k];
        if (c == '"') {
            *i = k + 1;
            return 0;
        }
        if (c < GJ_CTRL_MAX)
            return -1;
        if (c != '\\') {
            k++;
            continue;
        }
        if (k + 1 >= n)
            return -1;
        char e = b[k + 1];
        if (e == 'u') {
            if (k + 2 + GJ_HEX_DIGITS > n)
                return -1;
            for (size_t h = 0; h < GJ_HEX_DIGITS; h++)
                if (!gj_is_hex(b[k + 2 + h]))
                    return -1;
            k += 2 + GJ_HEX_DIGITS;
        } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
            k += 2;
        } else {
            return -1;
        }
    }
    return -1;
}

static size_t gj_digits(const char *b, size_t n, size_t k)
{
    while (k < n && b[k] >= '0' && b[k] <= '9')
        k++;
    return k;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int gj_number(const char *b, size_t n, size_t *i)
{
    size_t k = *i;
    if (k < n && b[k] == '-')
        k++;
    if (k >= n || b[k] < '0' || b[k] > '9')
        return -1;
    k = b[k] == '0' ? k + 1 : gj_digits(b, n, k);
    if (k < n && b[k] == '.') {
        size_t f = gj_digits(b, n, k + 1);
        if (f == k + 1)
            return -1;
        k = f;
    }
    if (k < n && (b[k] == 'e' || b[k] == 'E')) {
        k++;
        if (k < n && (b[k] == '+' || b[k] == '-'))
            k++;
        size_t e = gj_digits(b, n, k);
        if (e == k)
            return -1;
        k = e;
    }
    *i = k;
    return 0;
}

static int gj_literal(const char *b, size_t n, size_t *i, const char *lit)
{
    size_t l = strlen(lit);
    if (n - *i < l || memcmp(b + *i, lit, l) != 0)
        return -1;
    *i += l;
    return 0;
}

/* A scalar at b[*i]: string, number or literal; sets its type. */
static int gj_scalar(const char *b, size_t n, size_t *i, gj_type *t)
{
    char c = b[*i];
    if (c == '"') {
        *t = GJ_STRING;
        return gj_string(b, n, i);
    }
    if (c == 't') {
        *t = GJ_TRUE;
        return gj_literal(b, n, i, "true");
    }
    if (c == 'f') {
        *t = GJ_FALSE;
        return gj_literal(b, n, i, "false");
    }
    if (c == 'n') {
        *t = GJ_NULL;
        return gj_literal(b, n, i, "null");
    }
    *t = GJ_NUMBER;
    return gj_number(b, n, i);
}

/* Inside an object, after '{' or ',': a key string and ':'. */
static int gj_key_colon(const char *b, size_t n, size_t *i)
{
    gj_ws(b, n, i);
    if (*i >= n || b[*i] != '"' || gj_string(b, n, i) != 0)
        return -1;
    gj_ws(b, n, i);
    if (*i >= n || b[*i] != ':')
        return -1;
    (*i)++;
    return 0;
}

/* After a complete value inside containers: consume ',' (and the next
 * key in an object) or closing brackets. Returns 1 when depth reached 0
 * (value done), 0 when another value follows, -1 on bad input. */
static int gj_after_value(const char *b, size_t n, size_t *i, char *stack,
                          size_t *depth)
{
    while (*depth > 0) {
        gj_ws(b, n, i);
        if (*i >= n)
            return -1;
        char top = stack[*depth - 1], c = b[*i];
        if (c == ',') {
            (*i)++;
            return top == '{' ? (gj_key_colon(b, n, i) == 0 ? 0 : -1) : 0;
        }
        if ((top == '{' && c == '}') || (top == '[' && c == ']')) {
            (*i)++;
            (*depth)--;
            continue;
        }
        return -1;
    }
    return 1;
}

/* Open a container at b[*i]; 1 if it was empty and closed at once. */
static int gj_open(const char *b, size_t n, size_t *i, char *stack,
                   size_t *depth)
{
    char c = b[(*i)++];
    if (*depth == GJ_DEPTH_MAX)
        return -1;
    stack[(*depth)++] = c;
    gj_ws(b, n, i);
    if (*i < n && b[*i] == (c == '{' ? '}' : ']')) {
        (*i)++;
        (*depth)--;
        return 1;
    }
    return c == '{' ? (gj_key_colon(b, n, i) == 0 ? 0 : -1) : 0;
}

/* Skip one complete value starting at b[*i] (after blanks); its type in
 * *t. Iterative, with an explicit bracket stack. */
static int gj_skip(const char *b, size_t n, size_t *i, gj_type *t)
{
    char stack[GJ_DEPTH_MAX];
    size_t depth = 0;
    bool first = true;
    for (;;) {
        gj_ws(b, n, i);
        if (*i >= n)
            return -1;
        char c = b[*i];
        gj_type vt;
        if (c == '{' || c == '[') {
            vt = c == '{' ? GJ_OBJECT : GJ_ARRAY;
            int r = gj_open(b, n, i, stack, &depth);
            if (r < 0)
                return -1;
            if (first)
                *t = vt;
            first = false;
            if (r == 0)
                continue;
        } else {
            if (gj_scalar(b, n, i, &vt) != 0)
                return -1;
            if (first)
                *t = vt;
            first = false;
        }
        int a = gj_after_value(b, n, i, stack, &depth);
        if (a < 0)
            return -1;
        if (a == 1)
            return 0;
    }
}

/* Is the raw key text (between quotes, escapes not decoded) equal to key? */
static bool gj_key_is(const char *b, size_t start, size_t end,
                      const char *key, size_t keylen)
{
    return end - start == keylen + 2 && memcmp(b + start + 1, key, keylen)
                                            == 0;
}

/* In the object at b[*i] ('{'), find member key; validates every member.
 * A repeated key is GJ_BAD. */
static int gj_member(const char *b, size_t n, size_t *i, const char *key,
                     size_t keylen, gj_val *out)
{
    int found = GJ_ABSENT;
    (*i)++;
    gj_ws(b, n, i);
    if (*i < n && b[*i] == '}') {
        (*i)++;
        return GJ_ABSENT;
    }
    for (;;) {
        gj_ws(b, n, i);
        size_t ks = *i;
        if (*i >= n || b[*i] != '"' || gj_string(b, n, i) != 0)
            return GJ_BAD;
        bool match = gj_key_is(b, ks, *i, key, keylen);
        gj_ws(b, n, i);
        if (*i >= n || b[(*i)++] != ':')
            return GJ_BAD;
        gj_ws(b, n, i);
        size_t vs = *i;
        gj_type t = GJ_NONE;
        if (gj_skip(b, n, i, &t) != 0 || (match && found == GJ_FOUND))
            return GJ_BAD;
        if (match) {
            *out = (gj_val){.type = t, .p = b + vs, .n = *i - vs};
            found = GJ_FOUND;
        }
        gj_ws(b, n, i);
        if (*i < n && b[*i] == ',') {
            (*i)++;
            continue;
        }
        if (*i < n && b[*i] == '}') {
            (*i)++;
            return found;
        }
        return GJ_BAD;
    }
}

bool gj_valid(const char *buf, size_t len)
{
    size_t i = 0;
    gj_type t;
    if (gj_skip(buf, len, &i, &t) != 0)
        return false;
    gj_ws(buf, len, &i);
    return i == len;
}

/* Walk path components; each level must be an object. */
int gj_get(const char *buf, size_t len, const char *path, gj_val *out)
{
    if (!gj_valid(buf, len))
        return GJ_BAD;
    gj_val cur = {.type = GJ_NONE, .p = buf, .n = len};
    size_t i = 0;
    gj_ws(buf, len, &i);
    cur.p = buf + i;
    cur.n = len - i;
    cur.type = cur.n > 0 && cur.p[0] == '{' ? GJ_OBJECT : GJ_NONE;
    while (*path != '\0') {
        const char *dot = strchr(path, '.');
        size_t kl = dot != NULL ? (size_t)(dot - path) : strlen(path);
        if (kl == 0 || kl > GJ_PATH_PART_MAX)
            return GJ_BAD;
        if (cur.type != GJ_OBJECT)
            return GJ_ABSENT;
        size_t k = 0;
        gj_val next = {GJ_NONE, NULL, 0};
        int rc = gj_member(cur.p, cur.n, &k, path, kl, &next);
        if (rc != GJ_FOUND)
            return rc;
        cur = next;
        path += kl + (dot != NULL ? 1 : 0);
    }
    *out = cur;
    return GJ_FOUND;
}

int gj_uint(const gj_val *v, int64_t *out)
{
    if (v->type != GJ_NUMBER || v->n == 0 || v->n > 18)
        return -1;
    int64_t x = 0;
    for (size_t k = 0; k < v->n; k++) {
        if (v->p[k] < '0' || v->p[k] > '9')
            return -1;
        x = x * 10 + (v->p[k] - '0');
    }
    *out = x;
    return 0;
}

int gj_str(const gj_val *v, char *out, size_t cap)
{
    if (v->type != GJ_STRING || v->n < 2)
        return -1;
    size_t o = 0;
    for (size_t k = 1; k + 1 < v->n; k++) {
        char c = v->p[k];
        if (c == '\\') {
            char e = v->p[++k];
            if (e != '"' && e != '\\' && e != '/')
                return -1;
            c = e;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Escapes quotes, backslashes and control bytes; other bytes as is. */
int gj_put_str(struct evbuffer *b, const char *s)
{
    int rc = evbuffer_add(b, "\"", 1);
    for (; rc == 0 && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = evbuffer_add_printf(b, "\\%c", c) < 0 ? -1 : 0;
        else if (c < GJ_CTRL_MAX)
            rc = evbuffer_add_printf(b, "\\u%04x", c) < 0 ? -1 : 0;
        else
            rc = evbuffer_add(b, s, 1);
    }
    return rc == 0 ? evbuffer_add(b, "\"", 1) : -1;
}

/* usage.prompt_tokens is required once usage is an object; a missing
 * completion_tokens (embeddings) counts as 0. */
int gw_usage_parse(const char *buf, size_t len, gw_usage *u)
{
    gj_val v;
    int rc = gj_get(buf, len, "usage", &v);
    if (rc != GJ_FOUND)
        return rc;
    if (v.type == GJ_NULL)
        return GJ_ABSENT;
    if (v.type != GJ_OBJECT)
        return GJ_BAD;
    gj_val p, c;
    if (gj_get(v.p, v.n, "prompt_tokens", &p) != GJ_FOUND ||
        gj_uint(&p, &u->prompt) != 0)
        return GJ_BAD;
    rc = gj_get(v.p, v.n, "completion_tokens", &c);
    if (rc == GJ_ABSENT) {
        u->completion = 0;
        return GJ_FOUND;
    }
    if (rc != GJ_FOUND || gj_uint(&c, &u->completion) != 0)
        return GJ_BAD;
    return GJ_FOUND;
}
