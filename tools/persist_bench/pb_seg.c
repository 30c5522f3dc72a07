/* pb_seg.c -- log statistics from segment chunk headers (pb_seg.h). */
#include "pb_seg.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "chunk.h"
#include "segfile.h"

/* Walk one segment's chunk headers (segfile.h / chunk.h layout). */
static int seg_file(const char *path, pb_seg_stats *s)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    uint8_t h[CHUNK_HEADER_BYTES];
    struct stat sb;
    int rc = fstat(fileno(f), &sb) == 0 ? 0 : -1;
    uint64_t off = SEGFILE_HEADER_BYTES;
    while (rc == 0 && off + CHUNK_HEADER_BYTES <= (uint64_t)sb.st_size) {
        chunk_header ch;
        if (fseeko(f, (off_t)off, SEEK_SET) != 0 ||
            fread(h, 1, sizeof h, f) != sizeof h ||
            memcmp(h, CHUNK_MAGIC, CHUNK_MAGIC_BYTES) != 0)
            break;
        chunk_header_unpack(h, &ch);
        s->chunks++;
        s->records += ch.n_records;
        s->raw += ch.raw_len;
        s->stored += ch.stored_len;
        off += CHUNK_HEADER_BYTES + ch.stored_len;
    }
    s->files++;
    s->file_bytes += (uint64_t)sb.st_size;
    fclose(f);
    return rc;
}

int pb_seg_dir(const pb_daemon *d, pb_seg_stats *s)
{
    char dir[PB_PATH + 16], path[PB_PATH + 300];
    snprintf(dir, sizeof dir, "%s/data", d->dir);
    memset(s, 0, sizeof *s);
    DIR *dp = opendir(dir);
    if (dp == NULL)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dp)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".qlog") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc |= seg_file(path, s);
    }
    closedir(dp);
    return rc;
}
