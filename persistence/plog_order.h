/* plog_order -- put one commit's records in seq order.
 *
 * The writer gathers a commit's records shard by shard; the log wants
 * them by seq. Seqs come from one counter and almost every seq taken
 * has a record, so the seqs of one commit are unique and nearly dense:
 * each record can go straight to slot (seq - lowest) of a span, which
 * is O(n) instead of a sort's O(n log n) compares through a callback.
 * A span much wider than n (seqs taken without records, or a commit
 * that caught a stray old record) falls back to qsort.
 */
#ifndef QD_PLOG_ORDER_H
#define QD_PLOG_ORDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct plog_ref {
    uint64_t seq;
    const uint8_t *p;            /* the record's bytes; never NULL */
    uint32_t len;
} plog_ref;

/* Placement is used while span <= n * PLOG_ORDER_SPAN_FACTOR. */
#define PLOG_ORDER_SPAN_FACTOR 4u

/* Scratch space the placement reuses from commit to commit. */
typedef struct plog_order_buf {
    plog_ref *slots;
    size_t cap;
} plog_order_buf;

/* Grow *refs (*cap entries) to hold at least need, doubling from
 * PLOG_REFS_FIRST_CAP. 0, or -1 when out of memory or need is absurd
 * (*refs and *cap unchanged). */
#define PLOG_REFS_FIRST_CAP 1024u
int plog_refs_grow(plog_ref **refs, size_t *cap, size_t need);

/* Sort refs[0..n) by seq (seqs must be unique). Out of memory for the
 * span, it sorts them by qsort. */
void plog_order(plog_ref *refs, size_t n, plog_order_buf *b);

void plog_order_free(plog_order_buf *b);

#endif
