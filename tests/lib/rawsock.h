/* rawsock -- frames over a plain loopback socket, without the client
 * library: for tests that must control exactly which bytes go out in
 * which write (pipelining, broken frames).
 *
 * Every call is blocking and bounded: reads give up after
 * RS_IO_TIMEOUT_MS.
 */
#ifndef TD_RAWSOCK_H
#define TD_RAWSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "quotad.pb-c.h"

#define RS_IO_TIMEOUT_MS 5000

/* Connect to 127.0.0.1:port; -1 on failure. */
int rs_connect(uint16_t port);
/* The same; rcvbuf > 0 shrinks SO_RCVBUF (set before connecting, so the
 * window is small from the start), send_timeout_ms > 0 bounds connect
 * and send (SO_SNDTIMEO). */
int rs_connect_opts(uint16_t port, int rcvbuf, int send_timeout_ms);

/* A loopback port the kernel just handed out and that is free again (for
 * a process that cannot take port 0, or must keep its port over a
 * restart); 0 on failure. */
uint16_t rs_free_port(void);

/* Send all n bytes (no SIGPIPE). Returns 0 or -1. */
int rs_send_all(int fd, const void *buf, size_t n);

/* Append one ClientFrame (header + body) of reqs[0..n) to *buf (grown
 * with realloc; *len updated). Returns 0 or -1 (out of memory). */
int rs_append_frame(uint8_t **buf, size_t *len, Quotad__Request **reqs,
                    size_t n);

/* Append raw bytes as one frame body (any content, e.g. junk). */
int rs_append_raw(uint8_t **buf, size_t *len, const uint8_t *body,
                  size_t body_len);

/* Read one ServerFrame; NULL on EOF, timeout or undecodable. Free with
 * quotad__server_frame__free_unpacked(f, NULL). */
Quotad__ServerFrame *rs_read_frame(int fd);

/* 1 if the peer closes (EOF or reset) within timeout_ms; data skipped. */
int rs_closed_within(int fd, int64_t timeout_ms);

#endif
