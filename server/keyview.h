/* keyview -- copy a key or workspace into a reply message.
 *
 * Called with the shard lock held; every string and array is copied into
 * the reply arena, so the reply stays valid after the lock is released and
 * is packed without holding it. Never copies a secret or a hash: only the
 * masked hint.
 */
#ifndef QD_KEYVIEW_H
#define QD_KEYVIEW_H

#include <stdint.h>

#include "arena.h"
#include "quotad.pb-c.h"
#include "store.h"

/* NULL when the arena is exhausted. */
Quotad__KeyInfo *keyview_key(arena *a, const key *k, const char *prefix,
                             int64_t now_ms);
Quotad__WorkspaceInfo *keyview_ws(arena *a, const workspace *w);

#endif
