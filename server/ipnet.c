/* ipnet.c -- IPv4/IPv6 address and CIDR parsing, matching, formatting.
 *
 * Text is parsed with inet_pton on a bounded NUL-terminated copy, so the
 * accepted address syntax is exactly the libc's strict one (dotted quad
 * with no leading zeros for v4; RFC 4291 text for v6, no zone ids).
 * Prefix lengths are 1..3 decimal digits without a sign, without spaces
 * and without leading zeros ("/08" is rejected, "/0" is fine): one range
 * has one spelling.
 */
#include "ipnet.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

#define IPNET_ADDR_BYTES 16u
#define IPNET_V4_BYTES 4u
#define IPNET_V4_OFFSET 12u             /* v4 bytes inside the mapped form */
#define IPNET_V4_BITS_OFFSET 96u        /* ::ffff:0:0/96 */
#define IPNET_V4_BITS_MAX 32u
#define IPNET_V6_BITS_MAX 128u
#define IPNET_PREFIX_DIGITS_MAX 3u      /* "128" */
/* Longest address text inet_pton can accept, plus NUL. */
#define IPNET_ADDR_TEXT_BYTES_MAX INET6_ADDRSTRLEN

_Static_assert(IPNET_V4_OFFSET + IPNET_V4_BYTES == IPNET_ADDR_BYTES,
               "v4 bytes end the mapped address");
_Static_assert(IPNET_V4_BITS_OFFSET + IPNET_V4_BITS_MAX == IPNET_V6_BITS_MAX,
               "v4 prefix lengths map into the v6 range");
_Static_assert(IPNET_TEXT_BYTES_MAX >= INET6_ADDRSTRLEN + 4u,
               "text buffer holds the longest address and /128");

/* Parse one address, reporting whether it was written as IPv4. The copy is
 * bounded so inet_pton never reads past len, and an embedded NUL (which
 * would silently truncate the text) is rejected. */
static int ipnet_parse_family(const char *s, size_t len, ipnet_addr *out,
                              bool *is_v4)
{
    char buf[IPNET_ADDR_TEXT_BYTES_MAX];
    uint8_t v4[IPNET_V4_BYTES];

    assert(out != NULL);
    assert(is_v4 != NULL);
    if (s == NULL || len == 0 || len >= sizeof buf)
        return -1;
    if (memchr(s, '\0', len) != NULL)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, v4) == 1) {
        memset(out->b, 0, IPNET_V4_OFFSET);
        out->b[10] = 0xff;
        out->b[11] = 0xff;
        memcpy(out->b + IPNET_V4_OFFSET, v4, IPNET_V4_BYTES);
        *is_v4 = true;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->b) == 1) {
        *is_v4 = false;
        return 0;
    }
    return -1;
}

int ipnet_parse_addr(const char *s, size_t len, ipnet_addr *out)
{
    ipnet_addr tmp;
    bool is_v4 = false;

    assert(out != NULL);
    if (ipnet_parse_family(s, len, &tmp, &is_v4) != 0)
        return -1;
    *out = tmp;
    return 0;
}

/* A prefix length: 1..3 plain digits, no sign, no leading zero unless the
 * value is 0, at most max. Returns the value or -1. */
static int ipnet_parse_bits(const char *s, size_t len, unsigned max)
{
    unsigned v = 0;

    assert(max <= IPNET_V6_BITS_MAX);
    if (len == 0 || len > IPNET_PREFIX_DIGITS_MAX)
        return -1;
    if (s[0] == '0' && len > 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10u + (unsigned)(s[i] - '0');
    }
    return v <= max ? (int)v : -1;
}

/* Zero every bit past the prefix, so a stored range has one form and
 * matching can compare whole bytes. */
static void ipnet_clear_host_bits(uint8_t b[IPNET_ADDR_BYTES], unsigned bits)
{
    assert(bits <= IPNET_V6_BITS_MAX);
    size_t full = bits / 8u;
    unsigned rem = bits % 8u;
    if (full < IPNET_ADDR_BYTES && rem != 0) {
        b[full] &= (uint8_t)(0xffu << (8u - rem));
        full++;
    }
    if (full < IPNET_ADDR_BYTES)
        memset(b + full, 0, IPNET_ADDR_BYTES - full);
}

/* Split at the first '/', parse the address, then the prefix length in the
 * address's own family, and store it in the 128-bit form. Outputs are
 * written only on success. */
int ipnet_parse_range(const char *s, size_t len, ipnet_range *out)
{
    ipnet_addr a;
    bool is_v4 = false;
    int bits;

    assert(out != NULL);
    if (s == NULL)
        return -1;
    const char *slash = memchr(s, '/', len);
    size_t alen = slash != NULL ? (size_t)(slash - s) : len;
    if (ipnet_parse_family(s, alen, &a, &is_v4) != 0)
        return -1;
    unsigned max = is_v4 ? IPNET_V4_BITS_MAX : IPNET_V6_BITS_MAX;
    if (slash == NULL)
        bits = (int)max;
    else
        bits = ipnet_parse_bits(slash + 1, len - alen - 1u, max);
    if (bits < 0)
        return -1;
    unsigned full_bits = (unsigned)bits + (is_v4 ? IPNET_V4_BITS_OFFSET : 0u);
    assert(full_bits <= IPNET_V6_BITS_MAX);
    ipnet_clear_host_bits(a.b, full_bits);
    memcpy(out->b, a.b, IPNET_ADDR_BYTES);
    out->bits = (uint8_t)full_bits;
    out->is_v4 = is_v4 ? 1u : 0u;
    return 0;
}

/* Compare the whole bytes of the prefix, then the leftover bits under a
 * mask. A v4 range has bits >= 96, so it only matches v4-mapped clients. */
bool ipnet_contains(const ipnet_range *r, const ipnet_addr *a)
{
    assert(r != NULL);
    assert(a != NULL);
    assert(r->bits <= IPNET_V6_BITS_MAX);
    size_t full = r->bits / 8u;
    unsigned rem = r->bits % 8u;
    if (memcmp(r->b, a->b, full) != 0)
        return false;
    if (rem == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8u - rem));
    return (a->b[full] & mask) == (r->b[full] & mask);
}

/* IPv4 ranges print as dotted quads with their v4 prefix length, so the
 * text round-trips through ipnet_parse_range to the same range. */
int ipnet_format_range(const ipnet_range *r, char *out, size_t out_cap)
{
    char addr[INET6_ADDRSTRLEN];
    int n;

    assert(r != NULL);
    unsigned bits = r->bits;
    assert(bits <= IPNET_V6_BITS_MAX);
    if (out == NULL || out_cap < IPNET_TEXT_BYTES_MAX)
        return -1;
    if (r->is_v4) {
        if (bits < IPNET_V4_BITS_OFFSET)
            return -1;
        if (inet_ntop(AF_INET, r->b + IPNET_V4_OFFSET, addr, sizeof addr) ==
            NULL)
            return -1;
        bits -= IPNET_V4_BITS_OFFSET;
    } else if (inet_ntop(AF_INET6, r->b, addr, sizeof addr) == NULL) {
        return -1;
    }
    n = snprintf(out, out_cap, "%s/%u", addr, bits);
    if (n < 0 || (size_t)n >= out_cap)
        return -1;
    return 0;
}
