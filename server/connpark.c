/* connpark -- a connection's replies waiting for the log (see connpark.h). */
#include "connpark.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "limits.h"

/* First size of a ring (then doubled): one pipelined window of a typical
 * gateway. A ring grown past KEEP entries (24 B each) is freed once it
 * drains. */
#define PARKQ_RING_MIN 64u
#define PARKQ_RING_KEEP 1024u

/* Parked bytes stay near CONN_OUT_BYTES_MAX (the connection pauses above
 * it), so one release always fits evbuffer_remove_buffer's int. */
_Static_assert(CONN_OUT_BYTES_MAX <= INT_MAX / 8,
               "parked bytes fit an int with room to spare");

static void frame_free_cb(const void *data, size_t len, void *extra)
{
    (void)len;
    (void)extra;
    free((void *)data);
}

int conn_put(struct evbuffer *out, uint8_t *frame, size_t len, bool owned)
{
    if (len <= CONN_REPLY_COPY_BYTES_MAX || !owned) {
        int rc = evbuffer_add(out, frame, len);
        if (owned)
            free(frame);
        return rc;
    }
    int rc = evbuffer_add_reference(out, frame, len, frame_free_cb, NULL);
    if (rc != 0)
        free(frame);
    return rc;
}

/* Room for one more entry: the buffer, and the ring doubled when full
 * (entries copied in order, head back to 0). */
static int parkq_reserve(parkq *q)
{
    if (q->buf == NULL && (q->buf = evbuffer_new()) == NULL)
        return -1;
    if (q->n < q->cap)
        return 0;
    uint32_t cap = q->cap ? 2u * q->cap : PARKQ_RING_MIN;
    if (cap <= q->cap)
        return -1;
    parkq_entry *ring = malloc((size_t)cap * sizeof *ring);
    if (ring == NULL)
        return -1;
    for (uint32_t i = 0; i < q->n; i++)
        ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int parkq_push(parkq *q, uint8_t *frame, size_t len, uint64_t seq,
               uint64_t rx_ns)
{
    if (parkq_reserve(q) != 0) {
        free(frame);
        return -1;
    }
    if (conn_put(q->buf, frame, len, true) != 0)
        return -1;
    q->ring[(q->head + q->n) % q->cap] =
        (parkq_entry){.seq = seq, .rx_ns = rx_ns, .len = len};
    q->n++;
    q->bytes += len;
    return 0;
}

int parkq_release(parkq *q, uint64_t durable, struct evbuffer *out,
                  lathist_batch *lat)
{
    uint32_t k = 0;
    size_t bytes = 0;
    while (k < q->n && q->ring[(q->head + k) % q->cap].seq <= durable) {
        bytes += q->ring[(q->head + k) % q->cap].len;
        k++;
    }
    if (k == 0)
        return 0;
    if (bytes > (size_t)INT_MAX ||
        evbuffer_remove_buffer(q->buf, out, bytes) != (int)bytes)
        return -1;
    for (uint32_t i = 0; i < k; i++)
        lathist_batch_add(lat, &g_lathist,
                          q->ring[(q->head + i) % q->cap].rx_ns);
    q->head = (q->head + k) % q->cap;
    q->n -= k;
    assert(q->bytes >= bytes);
    q->bytes -= bytes;
    if (q->n == 0 && q->cap > PARKQ_RING_KEEP) {
        free(q->ring);             /* a deep burst's ring does not linger */
        q->ring = NULL;
        q->cap = 0;
        q->head = 0;
    }
    return 0;
}

void parkq_free(parkq *q)
{
    if (q->buf != NULL)
        evbuffer_free(q->buf);
    free(q->ring);
    q->buf = NULL;
    q->ring = NULL;
    q->n = q->cap = q->head = 0;
    q->bytes = 0;
}
