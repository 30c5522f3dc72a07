/* mkseeds_rq -- one Request of each kind for the seed corpus (mkseeds.c).
 * Every allocation comes from one pool, freed per frame by
 * rq_pool_free. */
#ifndef QD_MKSEEDS_RQ_H
#define QD_MKSEEDS_RQ_H

#include <stddef.h>
#include <stdint.h>

#include "quotad.pb-c.h"

typedef struct ck_args {
  const char *secret, *model, *ip, *idem;
  int64_t amount, amount_min, tokens;
  int hold;
  uint32_t hold_timeout_ms;
} ck_args;

void *rq_alloc(size_t n); /* zeroed, from the pool */
void rq_pool_free(void);
char *rq_strdup(const char *s);
/* A full set of key limits (quota total, rpm and the rest). */
Quotad__KeyLimits *rq_limits_full(int64_t quota, int64_t rpm);
Quotad__Request *rq_new(uint64_t id);
Quotad__Request *rq_ping(uint64_t id, const char *payload);
Quotad__Request *rq_hello(uint64_t id, uint32_t version);
Quotad__Request *rq_check(uint64_t id, const ck_args *a);
Quotad__Request *rq_settle(uint64_t id, uint64_t hold, int64_t amount,
                           int64_t tokens, const char *idem);
Quotad__Request *rq_void(uint64_t id, uint64_t hold);
Quotad__Request *rq_create_ws(uint64_t id, const char *name, uint32_t max_keys,
                              int64_t overdraft, int64_t balance);
Quotad__Request *rq_get_ws(uint64_t id, uint32_t ws);
Quotad__Request *rq_update_ws(uint64_t id, uint32_t ws, const char *name,
                              uint32_t max_keys, int64_t overdraft);
Quotad__Request *rq_wallet(uint64_t id, uint32_t ws, int64_t delta,
                           const char *idem);
Quotad__Request *rq_create_key(uint64_t id, uint32_t ws, const char *name,
                               int admin, Quotad__KeyLimits *lim);
Quotad__Request *rq_keyref(uint64_t id, Quotad__Request__OpCase op,
                           uint64_t key_id);
Quotad__Request *rq_list(uint64_t id, uint32_t ws, const char *group,
                         const char *prefix, uint64_t after, uint32_t limit);
Quotad__Request *rq_update_key(uint64_t id, uint64_t key_id, int clear_lists);
Quotad__Request *rq_rotate(uint64_t id, uint64_t key_id, int64_t grace);
Quotad__Request *rq_snapshot(uint64_t id);
Quotad__Request *rq_usage(uint64_t id, uint64_t key_id, uint32_t ws,
                          int64_t from_day, int64_t to_day);
Quotad__Request *rq_alert(uint64_t id, uint32_t ws, uint64_t key_id,
                          Quotad__AlertKind kind, int64_t threshold, int clear);
Quotad__Request *rq_watch(uint64_t id, uint32_t ws);
/* Pack a ClientFrame body (malloc'd, not pooled). */
uint8_t *rq_body(Quotad__Request **rq, size_t n, uint32_t version, size_t *len);

#endif
