/* plog_order -- see plog_order.h. */
#include "plog_order.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int ref_cmp(const void *a, const void *b)
{
    const plog_ref *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int plog_refs_grow(plog_ref **refs, size_t *cap, size_t need)
{
    if (need <= *cap) {
        return 0;
    }
    if (need > SIZE_MAX / 2 / sizeof(plog_ref)) {
        return -1;                       /* the doubling would overflow */
    }
    size_t c = *cap ? *cap : PLOG_REFS_FIRST_CAP;
    while (c < need) {
        c *= 2;
    }
    plog_ref *r = realloc(*refs, c * sizeof(*r));
    if (r == NULL) {
        return -1;
    }
    *refs = r;
    *cap = c;
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
        plog_refs_grow(&b->slots, &b->cap, (size_t)span) != 0) {
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
