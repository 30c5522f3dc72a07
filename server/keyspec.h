/* keyspec -- validate CreateKey/UpdateKey requests and build or change a
 * key record from them.
 *
 * Validation runs before any lock is taken and before any allocation, so
 * an invalid request changes nothing and a valid one cannot fail half-way
 * for a reason the client could have avoided. Building allocates every
 * new part first and swaps them in last: on allocation failure the key is
 * unchanged.
 */
#ifndef QD_KEYSPEC_H
#define QD_KEYSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "quotad.pb-c.h"
#include "store.h"

#define KEYSPEC_RPM_MAX INT64_C(1000000000)

/* Return 0, or -1 with a message naming the bad field in err. */
int keyspec_validate_create(const Quotad__CreateKey *ck, char *err,
                            size_t err_cap);
int keyspec_validate_update(const Quotad__UpdateKey *uk, char *err,
                            size_t err_cap);

/* A new key record with every setting of ck (id, hash and hint are left
 * for the caller). Returns 0, or -1 on allocation failure. */
__attribute__((warn_unused_result))
int keyspec_new_key(const Quotad__CreateKey *ck, int64_t now_ms, key **out);

/* Apply a validated update. Returns 0, or -1 on allocation failure with
 * k unchanged. */
int keyspec_apply_update(key *k, const Quotad__UpdateKey *uk);

#endif
