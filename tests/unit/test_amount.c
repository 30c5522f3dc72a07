/* test_amount -- the quotadctl money parser and formatter (exact integer
 * arithmetic: units vs micro, 6 decimals, int64 edges, bad syntax).
 * amount.c depends only on libc, so it is compiled into this test
 * directly (test binaries do not link tool objects).
 */
#include <stdint.h>

#include "../../tools/quotadctl/amount.c"
#include "t.h"

#define ROUNDTRIP_STEPS 2000
#define ROUNDTRIP_STRIDE INT64_C(4611686018427000) /* ~INT64_MAX / 2000 */

typedef struct ok_case {
    const char *in;
    int64_t want;
} ok_case;

typedef struct bad_case {
    const char *in;
    ctl_amount_err want;
} bad_case;

static void test_parse_ok(void)
{
    static const ok_case cases[] = {
        {"0", 0},
        {"1500000", 1500000},
        {"12.50", 12500000},
        {"12.5", 12500000},
        {"0.1", 100000},
        {"0.000001", 1},
        {"1.000000", 1000000},
        {"00012.000100", 12000100},
        {"-0.5", -500000},
        {"-3", -3},
        {"-0", 0},
        {"-0.000000", 0},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"9223372036854.775807", INT64_MAX},
        {"-9223372036854.775808", INT64_MIN},
        {"1000000000", INT64_C(1000000000)},
        {"1000000000.0", INT64_C(1000000000000000)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t v = -42;
        ctl_amount_err e = ctl_amount_parse(cases[i].in, &v);
        if (e != CTL_AMOUNT_OK || v != cases[i].want)
            fprintf(stderr, "  input \"%s\"\n", cases[i].in);
        T_EQ_I64(e, CTL_AMOUNT_OK);
        T_EQ_I64(v, cases[i].want);
    }
}

static void test_parse_bad(void)
{
    static const bad_case cases[] = {
        {"", CTL_AMOUNT_EMPTY},
        {"-", CTL_AMOUNT_EMPTY},
        {"1.2345678", CTL_AMOUNT_PRECISION},
        {"0.0000001", CTL_AMOUNT_PRECISION},
        {"1.", CTL_AMOUNT_SYNTAX},
        {".5", CTL_AMOUNT_SYNTAX},
        {"-.5", CTL_AMOUNT_SYNTAX},
        {"1e6", CTL_AMOUNT_SYNTAX},
        {" 1", CTL_AMOUNT_SYNTAX},
        {"1 ", CTL_AMOUNT_SYNTAX},
        {"+1", CTL_AMOUNT_SYNTAX},
        {"--1", CTL_AMOUNT_SYNTAX},
        {"1.-5", CTL_AMOUNT_SYNTAX},
        {"1.5x", CTL_AMOUNT_SYNTAX},
        {"1,5", CTL_AMOUNT_SYNTAX},
        {"1.2.3", CTL_AMOUNT_SYNTAX},
        {"abc", CTL_AMOUNT_SYNTAX},
        {"9223372036854775808", CTL_AMOUNT_RANGE},
        {"-9223372036854775809", CTL_AMOUNT_RANGE},
        {"99999999999999999999", CTL_AMOUNT_RANGE},
        {"9223372036854.775808", CTL_AMOUNT_RANGE},
        {"-9223372036854.775809", CTL_AMOUNT_RANGE},
        {"9223372036855.0", CTL_AMOUNT_RANGE},
        {"18446744073709551616", CTL_AMOUNT_RANGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t v = -42;
        ctl_amount_err e = ctl_amount_parse(cases[i].in, &v);
        if (e != cases[i].want)
            fprintf(stderr, "  input \"%s\"\n", cases[i].in);
        T_EQ_I64(e, cases[i].want);
        T_EQ_I64(v, -42);   /* untouched on error */
        T_CHECK(ctl_amount_strerror(e) != NULL);
    }
    int64_t v = 0;
    T_EQ_I64(ctl_amount_parse(NULL, &v), CTL_AMOUNT_EMPTY);
}

static void test_format(void)
{
    char buf[CTL_AMOUNT_BUF];
    T_EQ_STR(ctl_amount_format(0, buf), "0.000000");
    T_EQ_STR(ctl_amount_format(1, buf), "0.000001");
    T_EQ_STR(ctl_amount_format(-1, buf), "-0.000001");
    T_EQ_STR(ctl_amount_format(12500000, buf), "12.500000");
    T_EQ_STR(ctl_amount_format(8750000, buf), "8.750000");
    T_EQ_STR(ctl_amount_format(-500000, buf), "-0.500000");
    T_EQ_STR(ctl_amount_format(INT64_MAX, buf), "9223372036854.775807");
    T_EQ_STR(ctl_amount_format(INT64_MIN, buf), "-9223372036854.775808");
}

/* format -> parse is the identity, across the whole int64 range. */
static void test_roundtrip(void)
{
    char buf[CTL_AMOUNT_BUF];
    int bad = 0;
    for (int64_t i = -ROUNDTRIP_STEPS; i <= ROUNDTRIP_STEPS; i++) {
        int64_t vals[2] = {i * ROUNDTRIP_STRIDE + i, i * 7919};
        for (int k = 0; k < 2; k++) {
            int64_t back = 0;
            ctl_amount_err e =
                ctl_amount_parse(ctl_amount_format(vals[k], buf), &back);
            bad += (e != CTL_AMOUNT_OK || back != vals[k]);
        }
    }
    int64_t back = 0;
    T_EQ_I64(ctl_amount_parse(ctl_amount_format(INT64_MIN, buf), &back), 0);
    T_EQ_I64(back, INT64_MIN);
    T_EQ_I64(bad, 0);
}

int main(void)
{
    T_RUN(test_parse_ok);
    T_RUN(test_parse_bad);
    T_RUN(test_format);
    T_RUN(test_roundtrip);
    return t_done();
}
