/* pb_seg.h -- log statistics for persist_bench, read from the chunk
 * headers of a data dir's segments (segfile.h / chunk.h layout). */
#ifndef PB_SEG_H
#define PB_SEG_H

#include <stdint.h>

#include "pb_daemon.h"

/* Totals over the .qlog segments: files and their bytes on disk; chunks,
 * the records in them, their raw and stored (zstd) body bytes. */
typedef struct pb_seg_stats {
    uint64_t files, file_bytes, chunks, records, raw, stored;
} pb_seg_stats;

/* Totals over every log segment of d's data dir (s zeroed first); 0, or
 * -1 when the dir or a segment could not be read. */
__attribute__((warn_unused_result))
int pb_seg_dir(const pb_daemon *d, pb_seg_stats *s);

#endif
