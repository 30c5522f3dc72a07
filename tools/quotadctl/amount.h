/* amount -- exact parsing and formatting of money for quotadctl.
 *
 * Money on the wire is int64 micro-units (1 unit = 1,000,000 micro).
 * On the command line an amount is either
 *   an integer            "1500000"  -> 1500000 micro
 *   a decimal with a dot  "12.50"    -> 12500000 micro (units, <= 6 decimals)
 * optionally preceded by '-'. Parsing is pure integer arithmetic with
 * overflow checks (never floats), so "0.1" is exactly 100000 micro.
 *
 * This file and amount.c depend on nothing but libc: unit tests #include
 * amount.c directly. Every symbol has the ctl_ prefix to avoid clashes
 * with the server and client objects the tests link.
 */
#ifndef CTL_AMOUNT_H
#define CTL_AMOUNT_H

#include <stddef.h>
#include <stdint.h>

#define CTL_AMOUNT_SCALE INT64_C(1000000)  /* micro per unit */
#define CTL_AMOUNT_DECIMALS 6              /* digits after the dot */
/* "-9223372036854.775808" is 21 chars; room to spare. */
#define CTL_AMOUNT_BUF 32

typedef enum ctl_amount_err {
    CTL_AMOUNT_OK = 0,
    CTL_AMOUNT_EMPTY,       /* "" or just "-" */
    CTL_AMOUNT_SYNTAX,      /* not digits[.digits] */
    CTL_AMOUNT_PRECISION,   /* more than 6 decimals */
    CTL_AMOUNT_RANGE,       /* does not fit in int64 micro */
} ctl_amount_err;

/* Parse s (see above) into *out; *out is untouched on error. */
ctl_amount_err ctl_amount_parse(const char *s, int64_t *out);

/* Human text of a parse error ("more than 6 decimals"...). */
const char *ctl_amount_strerror(ctl_amount_err e);

/* Format micro as units with exactly 6 decimals ("12.500000",
 * "-0.000001") into buf; returns buf. Exact for every int64. */
char *ctl_amount_format(int64_t micro, char buf[CTL_AMOUNT_BUF]);

#endif
