/* ipnet -- IPv4/IPv6 addresses and CIDR ranges for key IP allowlists.
 *
 * Every address is held as 16 bytes; IPv4 is stored IPv4-mapped
 * (::ffff:a.b.c.d) with the prefix length offset by 96, so an IPv4 rule
 * matches a client that connects over IPv4 or presents a v4-mapped v6
 * address. Pure functions, no allocation.
 */
#ifndef QD_IPNET_H
#define QD_IPNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPNET_TEXT_BYTES_MAX 64u  /* longest text form incl. "/128" + NUL */

typedef struct ipnet_addr {
    uint8_t b[16];
} ipnet_addr;

typedef struct ipnet_range {
    uint8_t b[16];      /* network address, host bits zeroed */
    uint8_t bits;       /* prefix length over the 128-bit form, 0..128 */
    uint8_t is_v4;      /* written as IPv4 (for formatting) */
} ipnet_range;

/* Parse "1.2.3.4" or "2001:db8::1" (len bytes, not necessarily
 * NUL-terminated). Returns 0 or -1. */
int ipnet_parse_addr(const char *s, size_t len, ipnet_addr *out);

/* Parse an address or CIDR: "10.0.0.0/8", "2001:db8::/32", "1.2.3.4"
 * (= /32), "::1" (= /128). Rejects prefix lengths out of range and
 * non-canonical junk. Host bits set in the address are cleared. Returns 0
 * or -1. */
int ipnet_parse_range(const char *s, size_t len, ipnet_range *out);

bool ipnet_contains(const ipnet_range *r, const ipnet_addr *a);

/* Canonical text ("10.0.0.0/8", "2001:db8::/32", "1.2.3.4/32"). Returns 0
 * or -1 if out_cap < IPNET_TEXT_BYTES_MAX. */
int ipnet_format_range(const ipnet_range *r, char *out, size_t out_cap);

#endif
