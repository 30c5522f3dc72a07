/* test_cfgfile -- the shared "name = value" file format: splitting lines
 * (blanks, comments, quotes, '#' inside values), reading a file with the
 * setter's refusals and the line numbers in the errors, the longest line
 * allowed and the first one refused, a last line without a newline, and
 * a file that is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgfile.h"
#include "t.h"

#define SEEN_MAX 8u
#define TEXT_BYTES 64u

typedef struct seen {
    unsigned n;
    char name[SEEN_MAX][TEXT_BYTES];
    char value[SEEN_MAX][CFGFILE_LINE_BYTES_MAX + 1];
} seen;

/* Records each option; refuses the name "bad". */
static int record(void *arg, const char *name, const char *value, char *why,
                  size_t why_cap)
{
    seen *s = arg;
    if (strcmp(name, "bad") == 0) {
        snprintf(why, why_cap, "bad: refused '%s'", value);
        return -1;
    }
    if (s->n == SEEN_MAX)
        return -1;
    snprintf(s->name[s->n], TEXT_BYTES, "%s", name);
    snprintf(s->value[s->n], sizeof s->value[0], "%s", value);
    s->n++;
    return 0;
}

/* Split a copy of text; NULL name for a skipped line, "!" on error. */
static void split(const char *text, char *name, char *value)
{
    char line[CFGFILE_LINE_BYTES_MAX + 2];
    snprintf(line, sizeof line, "%s", text);
    char *n = NULL, *v = NULL;
    const char *why = NULL;
    if (cfgfile_split(line, &n, &v, &why) != 0) {
        strcpy(name, "!");
        strcpy(value, why != NULL ? why : "");
        return;
    }
    strcpy(name, n != NULL ? n : "");
    strcpy(value, v != NULL ? v : "");
}

static void test_split(void)
{
    static const struct {
        const char *line, *name, *value;
    } cases[] = {
        {"port = 7411\n", "port", "7411"},
        {"  port=7411  \r\n", "port", "7411"},
        {"\tname\t=\tvalue with blanks\t\n", "name", "value with blanks"},
        {"# comment\n", "", ""},
        {"   \n", "", ""},
        {"", "", ""},
        {"port = 1 # trailing comment\n", "port", "1"},
        {"url = http://h/p#frag\n", "url", "http://h/p#frag"},
        {"path = \"/a b/#c\" # note\n", "path", "/a b/#c"},
        {"empty =\n", "empty", ""},
        {"quoted = \"\"\n", "quoted", ""},
        {"one = \"\n", "one", "\""},
        {"eq = a=b\n", "eq", "a=b"},
        {"no equals sign\n", "!", "expected 'name = value'"},
        {" = 5\n", "!", "missing option name before '='"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[CFGFILE_LINE_BYTES_MAX + 2], value[CFGFILE_LINE_BYTES_MAX + 2];
        split(cases[i].line, name, value);
        T_EQ_STR(name, cases[i].name);
        T_EQ_STR(value, cases[i].value);
    }
}

/* Read text as a file; returns cfgfile_read's result, err and what the
 * setter saw. */
static int read_text(const char *text, seen *s, char *err, size_t err_cap)
{
    char path[T_TMP_PATH_BYTES];
    memset(s, 0, sizeof *s);
    err[0] = '\0';
    if (t_write_tmp(path, "qd_test_cfgfile", text) != 0)
        return -2;
    int rc = cfgfile_read(path, record, s, err, err_cap);
    unlink(path);
    return rc;
}

static void test_read(void)
{
    static seen s;
    char err[512];
    T_EQ_I64(read_text("# header\n\na = 1\nb = \"two # 2\"\nc = 3", &s, err,
                       sizeof err), 0);
    T_EQ_I64(s.n, 3);
    T_EQ_STR(s.name[0], "a");
    T_EQ_STR(s.value[1], "two # 2");
    T_EQ_STR(s.value[2], "3");          /* last line without a newline */
    T_EQ_I64(read_text("a = 1\nbad = x\nc = 3\n", &s, err, sizeof err), -1);
    T_EQ_I64(s.n, 1);                    /* stops at the first error */
    T_CHECK(strstr(err, ":2: bad: refused 'x'") != NULL);
    T_EQ_I64(read_text("a = 1\n\n  junk\n", &s, err, sizeof err), -1);
    T_CHECK(strstr(err, ":3: expected 'name = value'") != NULL);
    T_EQ_I64(cfgfile_read("/nonexistent/q.conf", record, &s, err, sizeof err),
             -1);
    T_CHECK(strstr(err, "/nonexistent/q.conf: ") == err);
}

/* A line of exactly the limit is read; one byte more is refused, with or
 * without its newline. */
static void test_line_limit(void)
{
    static seen s;
    static char text[2 * CFGFILE_LINE_BYTES_MAX];
    char err[512];
    size_t pad = CFGFILE_LINE_BYTES_MAX - strlen("v = ");
    strcpy(text, "v = ");
    memset(text + 4, 'x', pad);
    strcpy(text + 4 + pad, "\nw = 2\n");
    T_EQ_I64(read_text(text, &s, err, sizeof err), 0);
    T_EQ_I64(s.n, 2);
    T_EQ_I64(strlen(s.value[0]), pad);
    memset(text + 4, 'x', pad + 1);
    strcpy(text + 4 + pad + 1, "\nw = 2\n");
    T_EQ_I64(read_text(text, &s, err, sizeof err), -1);
    T_CHECK(strstr(err, ":1: line longer than 1024 bytes") != NULL);
    text[4 + pad + 1] = '\0';            /* the same, as the last line */
    T_EQ_I64(read_text(text, &s, err, sizeof err), -1);
    T_EQ_I64(s.n, 0);
}

int main(void)
{
    T_RUN(test_split);
    T_RUN(test_read);
    T_RUN(test_line_limit);
    return t_done();
}
