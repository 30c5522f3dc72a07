/* test_fuzz_regress -- every input a fuzzer ever crashed recovery with
 * (tests/fuzz/crashes/fuzz_record-*), replayed through the same harness
 * under ASan/UBSan in make test, so a fixed bug stays fixed. The harness
 * is the fuzz target itself, compiled with gcc and driven by this main. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "../fuzz/fuzz_record.c"
#include "t.h"

#define REGRESS_DIR "tests/fuzz/crashes"
#define REGRESS_PREFIX "fuzz_record-"
#define REGRESS_INPUT_BYTES_MAX (1u << 20)

static unsigned char g_buf[REGRESS_INPUT_BYTES_MAX];

static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(g_buf, 1, sizeof(g_buf), f);
    fclose(f);
    return LLVMFuzzerTestOneInput(g_buf, n);
}

static void test_recorded_crashes(void)
{
    DIR *d = opendir(REGRESS_DIR);
    T_REQUIRE(d != NULL);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, REGRESS_PREFIX, strlen(REGRESS_PREFIX)) != 0) {
            continue;
        }
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", REGRESS_DIR, e->d_name);
        T_EQ_I64(replay(path), 0); /* a crash never gets here */
        n++;
    }
    closedir(d);
    T_CHECK(n >= 9);
}

int main(void)
{
    T_RUN(test_recorded_crashes);
    return t_done();
}
