/* plog_order -- see plog_order.h. */
#include "plog_order.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static int ref_cmp(const void *a, const void *b)
{
    const plog_ref *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int order_reserve(plog_order_buf *b, size_t span)
{
    if (span <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < span) {
        cap *= 2;
    }
    plog_ref *s = realloc(b->slots, cap * sizeof(*s));
    if (s == NULL) {
        return -1;
    }
    b->slots = s;
    b->cap = cap;
    return 0;
}

/* Each ref to slot seq - lo (an empty slot has p == NULL), then the
 * filled slots back into refs in order. */
static void order_place(plog_ref *refs, size_t n, uint64_t lo, size_t span,
                        plog_ref *slots)
{
    memset(slots, 0, span * sizeof(*slots));
    for (size_t i = 0; i < n; i++) {
        size_t at = (size_t)(refs[i].seq - lo);
        assert(at < span && slots[at].p == NULL);   /* seqs are unique */
        slots[at] = refs[i];
    }
    size_t k = 0;
    for (size_t i = 0; i < span; i++) {
        if (slots[i].p != NULL) {
            refs[k++] = slots[i];
        }
    }
    assert(k == n);
    (void)k;
}

void plog_order(plog_ref *refs, size_t n, plog_order_buf *b)
{
    if (n < 2) {
        return;
    }
    uint64_t lo = refs[0].seq;
    uint64_t hi = lo;
    for (size_t i = 1; i < n; i++) {
        assert(refs[i].p != NULL);
        lo = refs[i].seq < lo ? refs[i].seq : lo;
        hi = refs[i].seq > hi ? refs[i].seq : hi;
    }
    uint64_t span = hi - lo + 1;     /* 0 if it wrapped: all of uint64 */
    if (span == 0 || span / PLOG_ORDER_SPAN_FACTOR > n ||
        order_reserve(b, (size_t)span) != 0) {
        qsort(refs, n, sizeof(*refs), ref_cmp);
        return;
    }
    order_place(refs, n, lo, (size_t)span, b->slots);
}

void plog_order_free(plog_order_buf *b)
{
    free(b->slots);
    b->slots = NULL;
    b->cap = 0;
}
