/* cfgfile -- see cfgfile.h. */
#include "cfgfile.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Trim blanks (and the line end) at both ends in place. */
static char *cfgfile_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
                     s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static void cfgfile_strip_comment(char *s)
{
    bool quoted = false;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (s[i] == '"') {
            quoted = !quoted;
        } else if (s[i] == '#' && !quoted &&
                   (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
            s[i] = '\0';
            return;
        }
    }
}

int cfgfile_split(char *line, char **name, char **value, const char **why)
{
    assert(line != NULL && name != NULL && value != NULL && why != NULL);
    *name = *value = NULL;
    cfgfile_strip_comment(line);
    char *s = cfgfile_trim(line);
    if (*s == '\0')
        return 0;
    char *eq = strchr(s, '=');
    if (eq == NULL) {
        *why = "expected 'name = value'";
        return -1;
    }
    *eq = '\0';
    char *n = cfgfile_trim(s);
    char *v = cfgfile_trim(eq + 1);
    if (*n == '\0') {
        *why = "missing option name before '='";
        return -1;
    }
    size_t vlen = strlen(v);
    if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
        v[vlen - 1] = '\0';
        v++;
    }
    *name = n;
    *value = v;
    return 0;
}

/* One line read by fgets: split it and hand it over. */
static int cfgfile_line(char *line, cfgfile_set_fn set, void *arg, char *why,
                        size_t why_cap)
{
    char *name, *value;
    const char *bad = NULL;
    if (cfgfile_split(line, &name, &value, &bad) != 0) {
        snprintf(why, why_cap, "%s", bad);
        return -1;
    }
    return name == NULL ? 0 : set(arg, name, value, why, why_cap);
}

int cfgfile_read(const char *path, cfgfile_set_fn set, void *arg, char *err,
                 size_t err_cap)
{
    assert(path != NULL && set != NULL && err != NULL);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, err_cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[CFGFILE_LINE_BYTES_MAX + 2];    /* + '\n' + '\0' */
    char why[CFGFILE_WHY_BYTES];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        bool whole = n > 0 && line[n - 1] == '\n';
        if (!whole && n > CFGFILE_LINE_BYTES_MAX) {
            snprintf(why, sizeof why, "line longer than %u bytes",
                     CFGFILE_LINE_BYTES_MAX);
            rc = -1;
        } else {
            rc = cfgfile_line(line, set, arg, why, sizeof why);
        }
        if (rc != 0)
            snprintf(err, err_cap, "%s:%u: %s", path, lineno, why);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, err_cap, "%s: read error", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}
