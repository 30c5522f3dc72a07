/* cmd_state.c -- `quotad-data state --dir DIR | --snapshot FILE`: load the
 * state the daemon would start with (read-only: nothing is cut or
 * removed) and print it canonically (state.c). The restart and restore
 * tests compare this output byte for byte.
 */
#include <inttypes.h>
#include <string.h>

#include "qdata.h"

/* Load per the options; returns an exit code, *out set unless refused. */
static int qd_state_load(const qd_opts *o, store **out)
{
    if (o->dir != NULL) {
        recover_report rep;
        int code = qd_load_dir(o, o->dir, true, out, &rep);
        if (code == QD_EXIT_TORN)
            qd_fail(o, code, "%s: torn tail at offset %" PRIu64 " (%" PRIu64
                    " bytes) left in place; the daemon would cut it",
                    o->dir, rep.tail_offset, rep.tail_bytes);
        return code;
    }
    int code = qd_store_new(o, out);
    if (code != QD_EXIT_OK)
        return code;
    qd_snap_load sl;
    memset(&sl, 0, sizeof sl);
    code = qd_load_snapshot(o, o->snapshot, *out, &sl);
    if (code != QD_EXIT_OK) {
        store_close(*out);
        *out = NULL;
    }
    return code;
}

/* The state is printed even with a torn tail (exit 1): the daemon would
 * start from exactly this. */
int qd_cmd_state(qd_opts *o)
{
    if ((o->dir == NULL) == (o->snapshot == NULL))
        return qd_usage(o, "give exactly one of --dir DIR or --snapshot "
                        "FILE");
    store *st = NULL;
    int code = qd_state_load(o, &st);
    if (st == NULL)
        return code;
    qd_emit e;
    qe_init(&e, stdout, o->json);
    if (qd_emit_state(&e, st) != 0)
        code = qd_fail(o, QD_EXIT_IO, "out of memory");
    store_close(st);
    return code;
}
