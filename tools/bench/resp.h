/* resp -- a minimal RESP2 client for the Redis peer: build commands into
 * an output buffer, send them in one write (pipelining), parse replies.
 *
 * The parser (resp_parse) does no I/O: feed it bytes, it says "need more"
 * or hands back one whole reply. A reply keeps only what the bench needs:
 * its type, up to RESP_INTS_MAX integers (top level or array elements) and
 * the first RESP_STR_BYTES of a string. Not thread-safe: one per thread.
 */
#ifndef BENCH_RESP_H
#define BENCH_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESP_INTS_MAX 8u
#define RESP_STR_BYTES 128u
#define RESP_DEPTH_MAX 4u              /* nested arrays parsed */
#define RESP_IN_BYTES_INITIAL (64u * 1024u)
#define RESP_IN_BYTES_MAX (64u * 1024u * 1024u)
#define RESP_OUT_BYTES_INITIAL (64u * 1024u)
#define RESP_OUT_BYTES_MAX (256u * 1024u * 1024u)
#define RESP_ERR_BYTES 256u

typedef struct resp_reply {
    char type;                         /* + - : $ * or 'n' for nil */
    uint32_t n_ints;
    int64_t ints[RESP_INTS_MAX];
    char str[RESP_STR_BYTES];          /* simple, error or bulk (cut) */
} resp_reply;

typedef struct resp_conn {
    int fd;
    uint32_t timeout_ms;
    char *out;
    size_t out_len, out_cap;
    char *in;
    size_t in_off, in_len, in_cap;
    char err[RESP_ERR_BYTES];
} resp_conn;

/* Parse one reply from buf[0..len). Returns 1 and *used when whole, 0
 * when more bytes are needed, -1 on a protocol error. */
int resp_parse(const char *buf, size_t len, resp_reply *r, size_t *used);

/* Connect to a numeric address (v4/v6) with TCP_NODELAY. 0 or -1. */
__attribute__((warn_unused_result))
int resp_connect(resp_conn *c, const char *host, uint16_t port,
                 uint32_t timeout_ms);
void resp_close(resp_conn *c);

/* Queue one command: resp_cmd_begin(argc), then argc args. */
__attribute__((warn_unused_result))
int resp_cmd_begin(resp_conn *c, unsigned argc);
__attribute__((warn_unused_result))
int resp_cmd_arg(resp_conn *c, const char *s, size_t len);
__attribute__((warn_unused_result))
int resp_cmd_str(resp_conn *c, const char *s);
__attribute__((warn_unused_result))
int resp_cmd_i64(resp_conn *c, int64_t v);

/* Send everything queued (bounded by timeout_ms). */
__attribute__((warn_unused_result))
int resp_flush(resp_conn *c);
/* Read the next reply (bounded by timeout_ms). An error reply ('-') is a
 * reply, not a failure: check r->type. */
__attribute__((warn_unused_result))
int resp_read(resp_conn *c, resp_reply *r);

/* True when a whole reply is already buffered (resp_read won't block). */
bool resp_reply_ready(const resp_conn *c);

/* One command, one reply (nothing else in flight). */
__attribute__((warn_unused_result))
int resp_call(resp_conn *c, resp_reply *r, unsigned argc,
              const char *const *argv);

#endif
