/* opreq -- one well-formed request of every protocol operation, aimed at
 * a target workspace, key and hold: what the access-control matrix
 * (it_auth) sends as each principal. */
#ifndef QD_TEST_OPREQ_H
#define QD_TEST_OPREQ_H

#include <stdint.h>

#include "fixtures.h"
#include "quotad.pb-c.h"

#define OPREQ_AMOUNT INT64_C(1000)   /* check amount; settle takes half */
#define OPREQ_MAX_KEYS 100000u       /* of a workspace create_workspace makes */

/* Every operation of the protocol (create_key three ways). */
typedef enum opreq_op {
    AO_HELLO, AO_PING, AO_CREATE_WS, AO_GET_WS, AO_UPDATE_WS, AO_ADJUST,
    AO_CK_STD, AO_CK_MEMBER, AO_CK_OWNER, AO_GET_KEY, AO_LIST_KEYS,
    AO_UPDATE_KEY, AO_ENABLE, AO_DISABLE, AO_REVOKE, AO_ROTATE, AO_DELETE,
    AO_CHECK, AO_SETTLE, AO_VOID, AO_SNAPSHOT, AO_USAGE, AO_SET_ALERT,
    AO_WATCH, AO_COUNT
} opreq_op;
extern const char *const opreq_names[AO_COUNT];

/* Storage for one request of any operation. */
typedef struct opreq_msg {
    Quotad__Request rq;
    Quotad__Hello hello;
    Quotad__Ping ping;
    Quotad__CreateWorkspace cw;
    Quotad__WorkspaceRef wr;
    Quotad__UpdateWorkspace uw;
    Quotad__AdjustWallet aw;
    Quotad__CreateKey ck;
    Quotad__KeyRef kr;
    Quotad__ListKeys lk;
    Quotad__UpdateKey uk;
    Quotad__RotateKey rot;
    Quotad__Check chk;
    Quotad__Settle st;
    Quotad__HoldRef hr;
    Quotad__SnapshotReq snap;
    Quotad__UsageQuery uq;
    Quotad__SetAlert sa;
    Quotad__Watch w;
} opreq_msg;

/* What an operation acts on. */
typedef struct opreq_target {
    uint32_t ws;
    fx_key key;          /* a fresh standard key of ws (id 0 if none) */
    uint64_t hold;       /* an open hold of ws (0 if none) */
} opreq_target;

/* Fill m (its own storage) with the request of op on t. */
void opreq_build(opreq_op op, const opreq_target *t, opreq_msg *m);

#endif
