/* cfgfile -- the config file format quotad and quotad-gateway share.
 *
 *     # a comment
 *     name = value
 *     path = "/data/with # in it"     # quotes keep '#' and blanks
 *
 * One option per line; blank lines and comments are skipped. A comment
 * starts at '#' at the line start or after a blank, outside double
 * quotes, so a bare value such as a URL fragment may still hold '#'. A
 * value wrapped in double quotes loses them. What a name means, its
 * type and range belong to each program's option table, not here.
 */
#ifndef QD_CFGFILE_H
#define QD_CFGFILE_H

#include <stddef.h>

/* Longest line, newline excluded. */
#define CFGFILE_LINE_BYTES_MAX 1024u
/* Room a setter has to say why it refused a value. */
#define CFGFILE_WHY_BYTES 256u

/* Split one line in place. A blank or comment line gives *name = NULL.
 * 0, or -1 with *why set (a static string). */
int cfgfile_split(char *line, char **name, char **value, const char **why);

/* Store value under name; 0, or -1 with why (a sentence, no location). */
typedef int (*cfgfile_set_fn)(void *arg, const char *name, const char *value,
                              char *why, size_t why_cap);

/* Read path and hand every option line to set, stopping at the first
 * error. 0, or -1 with err = "path:line: why" (or "path: why" when the
 * file cannot be opened or read). */
int cfgfile_read(const char *path, cfgfile_set_fn set, void *arg, char *err,
                 size_t err_cap);

#endif
