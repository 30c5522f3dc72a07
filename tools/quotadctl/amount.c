/* amount.c -- see amount.h. Integer-only money arithmetic. */
#include "amount.h"

#include <stdbool.h>
#include <stdio.h>

/* Magnitude limits: a negative value may reach |INT64_MIN| = INT64_MAX+1. */
#define CTL_MAG_POS ((uint64_t)INT64_MAX)
#define CTL_MAG_NEG ((uint64_t)INT64_MAX + 1u)
#define CTL_DECIMAL_BASE 10u

static bool ctl_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Accumulate a run of digits into *mag, refusing to pass limit. Returns the
 * number of digits read, or -1 on overflow. Kept separate so the integer
 * part and the fraction share one overflow-checked loop. */
static int ctl_digits(const char **p, uint64_t limit, uint64_t *mag)
{
    int n = 0;
    while (ctl_is_digit(**p)) {
        uint64_t d = (uint64_t)(**p - '0');
        if (*mag > (limit - d) / CTL_DECIMAL_BASE)
            return -1;
        *mag = *mag * CTL_DECIMAL_BASE + d;
        (*p)++;
        n++;
    }
    return n;
}

/* Read the fraction after the dot: 1..6 digits, scaled to micro. Split out
 * so the precision rule lives in one place. */
static ctl_amount_err ctl_fraction(const char *p, uint64_t *frac)
{
    int n = 0;
    uint64_t f = 0;
    while (ctl_is_digit(*p)) {
        if (n == CTL_AMOUNT_DECIMALS)
            return CTL_AMOUNT_PRECISION;
        f = f * CTL_DECIMAL_BASE + (uint64_t)(*p - '0');
        p++;
        n++;
    }
    if (n == 0 || *p != '\0')
        return CTL_AMOUNT_SYNTAX;
    for (; n < CTL_AMOUNT_DECIMALS; n++)
        f *= CTL_DECIMAL_BASE;
    *frac = f;
    return CTL_AMOUNT_OK;
}

/* Turn a sign and a magnitude (already range-checked) into an int64
 * without ever negating INT64_MIN's magnitude as a signed value. */
static int64_t ctl_signed(bool neg, uint64_t mag)
{
    if (!neg)
        return (int64_t)mag;
    if (mag == 0)
        return 0;
    return -(int64_t)(mag - 1u) - 1;
}

/* Parse as documented in amount.h. The integer part is checked against
 * the int64 limit as it is read, the unit-scaled total again at the end. */
ctl_amount_err ctl_amount_parse(const char *s, int64_t *out)
{
    if (s == NULL || out == NULL)
        return CTL_AMOUNT_EMPTY;
    bool neg = (*s == '-');
    const char *p = s + (neg ? 1 : 0);
    if (*p == '\0')
        return CTL_AMOUNT_EMPTY;
    uint64_t limit = neg ? CTL_MAG_NEG : CTL_MAG_POS;
    uint64_t whole = 0;
    int n = ctl_digits(&p, limit, &whole);
    if (n < 0)
        return CTL_AMOUNT_RANGE;
    if (n == 0)
        return CTL_AMOUNT_SYNTAX;
    if (*p == '\0') {
        *out = ctl_signed(neg, whole);
        return CTL_AMOUNT_OK;
    }
    if (*p != '.')
        return CTL_AMOUNT_SYNTAX;
    uint64_t frac = 0;
    ctl_amount_err e = ctl_fraction(p + 1, &frac);
    if (e != CTL_AMOUNT_OK)
        return e;
    uint64_t scale = (uint64_t)CTL_AMOUNT_SCALE;
    if (whole > (limit - frac) / scale)
        return CTL_AMOUNT_RANGE;
    *out = ctl_signed(neg, whole * scale + frac);
    return CTL_AMOUNT_OK;
}

/* Messages for usage errors. */
const char *ctl_amount_strerror(ctl_amount_err e)
{
    switch (e) {
    case CTL_AMOUNT_OK:
        return "ok";
    case CTL_AMOUNT_EMPTY:
        return "empty amount";
    case CTL_AMOUNT_SYNTAX:
        return "not an amount (use micro-units like 1500000 or units "
               "like 12.50)";
    case CTL_AMOUNT_PRECISION:
        return "more than 6 decimals";
    case CTL_AMOUNT_RANGE:
        return "amount out of range";
    }
    return "bad amount";
}

/* Work on the unsigned magnitude so INT64_MIN formats exactly. */
char *ctl_amount_format(int64_t micro, char buf[CTL_AMOUNT_BUF])
{
    bool neg = micro < 0;
    uint64_t mag = neg ? (uint64_t)(-(micro + 1)) + 1u : (uint64_t)micro;
    uint64_t scale = (uint64_t)CTL_AMOUNT_SCALE;
    int n = snprintf(buf, CTL_AMOUNT_BUF, "%s%llu.%06llu", neg ? "-" : "",
                     (unsigned long long)(mag / scale),
                     (unsigned long long)(mag % scale));
    if (n < 0 || n >= CTL_AMOUNT_BUF)
        buf[0] = '\0';   /* cannot happen: 21 chars at most */
    return buf;
}
