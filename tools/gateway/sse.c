/* sse -- find token usage in a server-sent-events stream as it passes.
 *
 * OpenAI streams are "data: {json}\n\n" events ending with
 * "data: [DONE]". With stream_options.include_usage the last JSON event
 * before [DONE] carries "usage"; others carry "usage": null or nothing.
 * The scanner keeps one line (bounded by GW_SSE_LINE_MAX; a longer line
 * is skipped, never truncated and misread) and remembers the usage of the
 * last event that had one. Only single-line data fields are read, which
 * is what OpenAI-compatible servers send.
 */
#include "gw.h"

#include <string.h>

#define SSE_DATA_PREFIX "data:"
#define SSE_DONE "[DONE]"
#define SSE_USAGE_KEY "\"usage\""
#define SSE_PEEK_VECS 16

void gw_sse_init(gw_sse *s)
{
    s->len = 0;
    s->overflow = false;
    s->have_usage = false;
    s->done = false;
    s->usage.prompt = s->usage.completion = 0;
}

/* A complete line (without its '\n'). */
static void sse_line(gw_sse *s, const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    size_t pl = strlen(SSE_DATA_PREFIX);
    if (n < pl || memcmp(p, SSE_DATA_PREFIX, pl) != 0)
        return;
    p += pl;
    n -= pl;
    if (n > 0 && *p == ' ') {
        p++;
        n--;
    }
    if (n == strlen(SSE_DONE) && memcmp(p, SSE_DONE, n) == 0) {
        s->done = true;
        return;
    }
    if (memmem(p, n, SSE_USAGE_KEY, strlen(SSE_USAGE_KEY)) == NULL)
        return;
    gw_usage u;
    if (gw_usage_parse(p, n, &u) == GJ_FOUND) {
        s->usage = u;
        s->have_usage = true;
    }
}

/* Split into lines; a line split across calls is kept in s->line. */
void gw_sse_feed(gw_sse *s, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl - p) : n;
        if (!s->overflow) {
            if (s->len + take > sizeof s->line) {
                s->overflow = true;
            } else {
                memcpy(s->line + s->len, p, take);
                s->len += take;
            }
        }
        if (nl == NULL)
            return;
        if (!s->overflow)
            sse_line(s, s->line, s->len);
        s->len = 0;
        s->overflow = false;
        p = nl + 1;
        n -= take + 1;
    }
}

/* Walk the buffer's segments in place: no copy, no drain. */
void gw_sse_feed_buffer(gw_sse *s, struct evbuffer *b)
{
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(b, &pos, 0, EVBUFFER_PTR_SET) != 0)
        return;
    struct evbuffer_iovec v[SSE_PEEK_VECS];
    size_t left = evbuffer_get_length(b);
    while (left > 0) {
        int k = evbuffer_peek(b, (ev_ssize_t)left, &pos, v, SSE_PEEK_VECS);
        if (k <= 0)
            return;
        int used = k < (int)SSE_PEEK_VECS ? k : (int)SSE_PEEK_VECS;
        size_t done = 0;
        for (int j = 0; j < used; j++) {
            size_t len = v[j].iov_len < left - done ? v[j].iov_len
                                                    : left - done;
            gw_sse_feed(s, v[j].iov_base, len);
            done += len;
        }
        left -= done;
        if (left > 0 &&
            evbuffer_ptr_set(b, &pos, done, EVBUFFER_PTR_ADD) != 0)
            return;
    }
}
