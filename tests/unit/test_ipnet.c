/* test_ipnet.c -- address/CIDR parsing, matching, formatting. */
#include "ipnet.h"
#include "t.h"

static int addr(const char *s, ipnet_addr *a)
{
    return ipnet_parse_addr(s, strlen(s), a);
}

static int range(const char *s, ipnet_range *r)
{
    return ipnet_parse_range(s, strlen(s), r);
}

/* Does range text rs contain address text as? -1 if either fails. */
static int match(const char *rs, const char *as)
{
    ipnet_range r;
    ipnet_addr a;
    if (range(rs, &r) != 0 || addr(as, &a) != 0)
        return -1;
    return ipnet_contains(&r, &a) ? 1 : 0;
}

/* Text after parse + format; static buffer. */
static const char *canon(const char *s)
{
    static char out[IPNET_TEXT_BYTES_MAX];
    ipnet_range r;
    if (range(s, &r) != 0)
        return "(parse error)";
    if (ipnet_format_range(&r, out, sizeof out) != 0)
        return "(format error)";
    return out;
}

static void test_parse_v4_addr(void)
{
    ipnet_addr a;
    const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                              0, 0, 0xff, 0xff, 192, 168, 1, 200};
    T_REQUIRE(addr("192.168.1.200", &a) == 0);
    T_CHECK(memcmp(a.b, want, 16) == 0);
    T_REQUIRE(addr("::ffff:192.168.1.200", &a) == 0);   /* same bytes */
    T_CHECK(memcmp(a.b, want, 16) == 0);
    T_REQUIRE(addr("0.0.0.0", &a) == 0);
    T_EQ_I64(a.b[10], 0xff);
    T_EQ_I64(a.b[15], 0);
    T_REQUIRE(addr("255.255.255.255", &a) == 0);
    T_EQ_I64(a.b[12], 255);
    T_EQ_I64(a.b[15], 255);
}

static void test_parse_v6_addr(void)
{
    ipnet_addr a;
    T_REQUIRE(addr("2001:db8::1", &a) == 0);
    T_EQ_I64(a.b[0], 0x20);
    T_EQ_I64(a.b[1], 0x01);
    T_EQ_I64(a.b[2], 0x0d);
    T_EQ_I64(a.b[3], 0xb8);
    T_EQ_I64(a.b[15], 1);
    for (int i = 4; i < 15; i++)
        T_EQ_I64(a.b[i], 0);
    T_REQUIRE(addr("::1", &a) == 0);
    T_EQ_I64(a.b[15], 1);
    T_EQ_I64(a.b[10], 0);
    T_REQUIRE(addr("::", &a) == 0);
    T_REQUIRE(addr("FE80::ABCD", &a) == 0);    /* hex case is free in v6 */
    T_EQ_I64(a.b[0], 0xfe);
    T_EQ_I64(a.b[14], 0xab);
    T_REQUIRE(addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &a) == 0);
    T_EQ_I64(a.b[7], 0xff);
}

/* len bounds the read: a longer string parsed with a shorter len uses
 * only the prefix, and an unterminated buffer is fine. */
static void test_parse_respects_len(void)
{
    ipnet_addr a;
    ipnet_range r;
    T_EQ_I64(ipnet_parse_addr("10.1.2.34", 8, &a), 0);     /* "10.1.2.3" */
    T_EQ_I64(a.b[15], 3);
    T_EQ_I64(ipnet_parse_range("10.0.0.0/8junk", 10, &r), 0);
    T_EQ_I64(r.bits, 96 + 8);
    char *heap = malloc(11);
    T_REQUIRE(heap != NULL);
    memcpy(heap, "10.0.0.0/8", 10);
    T_EQ_I64(ipnet_parse_range(heap, 10, &r), 0);
    T_EQ_I64(ipnet_parse_addr(heap, 8, &a), 0);
    free(heap);
    T_EQ_I64(ipnet_parse_addr("1.2.3.4", 0, &a), -1);
    T_EQ_I64(ipnet_parse_addr(NULL, 3, &a), -1);
    T_EQ_I64(ipnet_parse_range(NULL, 3, &r), -1);
}

static void test_parse_range_values(void)
{
    ipnet_range r;
    T_REQUIRE(range("10.0.0.0/8", &r) == 0);
    T_EQ_I64(r.bits, 104);
    T_EQ_I64(r.is_v4, 1);
    T_EQ_I64(r.b[12], 10);
    T_REQUIRE(range("1.2.3.4", &r) == 0);
    T_EQ_I64(r.bits, 128);
    T_EQ_I64(r.is_v4, 1);
    T_REQUIRE(range("::1", &r) == 0);
    T_EQ_I64(r.bits, 128);
    T_EQ_I64(r.is_v4, 0);
    T_REQUIRE(range("2001:db8::/32", &r) == 0);
    T_EQ_I64(r.bits, 32);
    T_EQ_I64(r.is_v4, 0);
    T_REQUIRE(range("0.0.0.0/0", &r) == 0);
    T_EQ_I64(r.bits, 96);
    T_REQUIRE(range("::/0", &r) == 0);
    T_EQ_I64(r.bits, 0);
    T_REQUIRE(range("1.2.3.4/32", &r) == 0);
    T_EQ_I64(r.bits, 128);
    T_REQUIRE(range("::/128", &r) == 0);
    T_EQ_I64(r.bits, 128);
}

static void test_host_bits_cleared(void)
{
    ipnet_range r;
    T_REQUIRE(range("10.1.2.3/8", &r) == 0);
    T_EQ_I64(r.b[12], 10);
    T_EQ_I64(r.b[13], 0);
    T_EQ_I64(r.b[14], 0);
    T_EQ_I64(r.b[15], 0);
    T_EQ_I64(r.b[10], 0xff);              /* the v4-mapped marker stays */
    T_REQUIRE(range("192.168.255.255/20", &r) == 0);
    T_EQ_I64(r.b[13], 168);
    T_EQ_I64(r.b[14], 0xf0);
    T_EQ_I64(r.b[15], 0);
    T_REQUIRE(range("2001:db8:ffff:ffff::1/33", &r) == 0);
    T_EQ_I64(r.b[3], 0xb8);
    T_EQ_I64(r.b[4], 0x80);
    for (int i = 5; i < 16; i++)
        T_EQ_I64(r.b[i], 0);
    T_REQUIRE(range("ffff::/1", &r) == 0);
    T_EQ_I64(r.b[0], 0x80);
    T_EQ_I64(r.b[1], 0);
    T_REQUIRE(range("255.255.255.255/0", &r) == 0);
    T_EQ_I64(r.b[12], 0);
    T_EQ_I64(r.b[11], 0xff);
    T_EQ_STR(canon("10.1.2.3/8"), "10.0.0.0/8");
    T_EQ_STR(canon("2001:db8::77/64"), "2001:db8::/64");
}

static void test_v4_boundaries(void)
{
    T_EQ_I64(match("10.0.0.0/8", "10.0.0.0"), 1);
    T_EQ_I64(match("10.0.0.0/8", "10.255.255.255"), 1);
    T_EQ_I64(match("10.0.0.0/8", "9.255.255.255"), 0);
    T_EQ_I64(match("10.0.0.0/8", "11.0.0.0"), 0);
    T_EQ_I64(match("192.168.16.0/20", "192.168.16.0"), 1);
    T_EQ_I64(match("192.168.16.0/20", "192.168.31.255"), 1);
    T_EQ_I64(match("192.168.16.0/20", "192.168.32.0"), 0);
    T_EQ_I64(match("192.168.16.0/20", "192.168.15.255"), 0);
    T_EQ_I64(match("1.2.3.4/32", "1.2.3.4"), 1);
    T_EQ_I64(match("1.2.3.4/32", "1.2.3.5"), 0);
    T_EQ_I64(match("1.2.3.4/32", "1.2.3.3"), 0);
    T_EQ_I64(match("1.2.3.4", "1.2.3.4"), 1);
    T_EQ_I64(match("1.2.3.4/31", "1.2.3.5"), 1);
    T_EQ_I64(match("1.2.3.4/31", "1.2.3.6"), 0);
    T_EQ_I64(match("0.0.0.0/0", "0.0.0.0"), 1);
    T_EQ_I64(match("0.0.0.0/0", "255.255.255.255"), 1);
    T_EQ_I64(match("128.0.0.0/1", "127.255.255.255"), 0);
    T_EQ_I64(match("128.0.0.0/1", "128.0.0.0"), 1);
}

static void test_v6_boundaries(void)
{
    T_EQ_I64(match("2001:db8::/32", "2001:db8::"), 1);
    T_EQ_I64(match("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
             1);
    T_EQ_I64(match("2001:db8::/32", "2001:db9::"), 0);
    T_EQ_I64(match("2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"),
             0);
    T_EQ_I64(match("::1/128", "::1"), 1);
    T_EQ_I64(match("::1/128", "::2"), 0);
    T_EQ_I64(match("::1/128", "::"), 0);
    T_EQ_I64(match("::1", "::1"), 1);
    T_EQ_I64(match("fe80::/10", "febf:ffff::1"), 1);
    T_EQ_I64(match("fe80::/10", "fec0::"), 0);
    T_EQ_I64(match("::/0", "2001:db8::1"), 1);
    T_EQ_I64(match("2001:db8::/127", "2001:db8::1"), 1);
    T_EQ_I64(match("2001:db8::/127", "2001:db8::2"), 0);
}

/* A v4 rule matches a v4-mapped v6 client; unrelated families don't mix. */
static void test_cross_family(void)
{
    T_EQ_I64(match("10.0.0.0/8", "::ffff:10.1.2.3"), 1);
    T_EQ_I64(match("10.0.0.0/8", "::ffff:a01:203"), 1);
    T_EQ_I64(match("10.0.0.0/8", "::ffff:11.1.2.3"), 0);
    T_EQ_I64(match("1.2.3.4", "::ffff:1.2.3.4"), 1);
    T_EQ_I64(match("10.0.0.0/8", "::a01:203"), 0);   /* v4-compatible */
    T_EQ_I64(match("10.0.0.0/8", "2001:db8::a01:203"), 0);
    T_EQ_I64(match("0.0.0.0/0", "2001:db8::1"), 0);
    T_EQ_I64(match("0.0.0.0/0", "::1"), 0);
    T_EQ_I64(match("2001:db8::/32", "1.2.3.4"), 0);
    T_EQ_I64(match("::1", "0.0.0.1"), 0);
    T_EQ_I64(match("fe80::/10", "254.128.0.0"), 0);
    T_EQ_I64(match("::ffff:0:0/96", "8.8.8.8"), 1);  /* all of v4 */
    T_EQ_I64(match("::ffff:10.0.0.0/104", "10.9.9.9"), 1);
}

static void test_format_roundtrip(void)
{
    const char *same[] = {
        "10.0.0.0/8", "0.0.0.0/0", "1.2.3.4/32", "255.255.255.255/32",
        "192.168.16.0/20", "2001:db8::/32", "::/0", "::1/128",
        "fe80::/10", "2001:db8::1/128", "::ffff:10.0.0.0/104",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++)
        T_EQ_STR(canon(same[i]), same[i]);
    T_EQ_STR(canon("1.2.3.4"), "1.2.3.4/32");
    T_EQ_STR(canon("::1"), "::1/128");
    T_EQ_STR(canon("2001:0DB8:0:0::/32"), "2001:db8::/32");
    /* Formatting then parsing yields the same range. */
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        ipnet_range a, b;
        char out[IPNET_TEXT_BYTES_MAX];
        T_REQUIRE(range(same[i], &a) == 0);
        T_REQUIRE(ipnet_format_range(&a, out, sizeof out) == 0);
        T_REQUIRE(range(out, &b) == 0);
        T_CHECK(memcmp(a.b, b.b, 16) == 0);
        T_EQ_I64(a.bits, b.bits);
        T_EQ_I64(a.is_v4, b.is_v4);
    }
}

static void test_format_buffer(void)
{
    ipnet_range r;
    char out[IPNET_TEXT_BYTES_MAX];
    T_REQUIRE(range("10.0.0.0/8", &r) == 0);
    T_EQ_I64(ipnet_format_range(&r, out, IPNET_TEXT_BYTES_MAX - 1), -1);
    T_EQ_I64(ipnet_format_range(&r, NULL, sizeof out), -1);
    T_EQ_I64(ipnet_format_range(&r, out, sizeof out), 0);
    /* A hand-made v4 range with an impossible prefix length fails. */
    r.bits = 8;
    T_EQ_I64(ipnet_format_range(&r, out, sizeof out), -1);
}

static void test_invalid_inputs(void)
{
    const char *bad[] = {
        "", "/", "/8", "1.2.3.4/", "1.2.3.4/33", "1.2.3.4/99",
        "1.2.3.4/128", "::1/129", "::/1000", "1.2.3.4/+8", "1.2.3.4/-8",
        "1.2.3.4/ 8", "1.2.3.4 /8", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/8 ",
        "+1.2.3.4", "-1.2.3.4", "1.2.3.4/8/8", "1.2.3.4//8", "1.2.3.4/08",
        "1.2.3.4/008", "::/00", "1.2.3.4/8x", "1.2.3.4x", "1.2.3", "1.2.3.4.5",
        "256.0.0.0", "1.2.3.04", "01.2.3.4", "1.2.3.-4", "0x1.2.3.4",
        "1..2.3", "a.b.c.d", "::1::", ":::", "2001:db8:::1", "12345::",
        "g::1", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "[::1]", "::1/",
        "localhost", "1.2.3.4/0x8", "1.2.3.4/8.0", "10.0.0.0\n",
        "::1/12 8", "1.2.3.4/3 2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ipnet_range r;
        memset(&r, 0x5a, sizeof r);
        int rc = range(bad[i], &r);
        if (rc != -1)
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        T_EQ_I64(rc, -1);
        T_EQ_I64(r.bits, 0x5a);                 /* output untouched */
    }
    ipnet_addr a;
    T_EQ_I64(addr("1.2.3.4/32", &a), -1);       /* address, not range */
    T_EQ_I64(addr("::1/128", &a), -1);
    T_EQ_I64(ipnet_parse_addr("1.2\0.3.4", 8, &a), -1);
    T_EQ_I64(ipnet_parse_range("1.2.3.4/8\0", 10, &(ipnet_range){0}), -1);
    char longs[200];
    memset(longs, '1', sizeof longs);
    T_EQ_I64(ipnet_parse_addr(longs, sizeof longs, &a), -1);
    T_EQ_I64(ipnet_parse_range(longs, sizeof longs, &(ipnet_range){0}), -1);
}

static void test_prefix_edges_accepted(void)
{
    ipnet_range r;
    for (int bits = 0; bits <= 32; bits++) {
        char s[32];
        snprintf(s, sizeof s, "255.255.255.255/%d", bits);
        T_REQUIRE(range(s, &r) == 0);
        T_EQ_I64(r.bits, 96 + bits);
    }
    for (int bits = 0; bits <= 128; bits++) {
        char s[64];
        snprintf(s, sizeof s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/%d",
                 bits);
        T_REQUIRE(range(s, &r) == 0);
        T_EQ_I64(r.bits, bits);
        int ones = 0;
        for (int i = 0; i < 16; i++)
            ones += __builtin_popcount(r.b[i]);
        T_EQ_I64(ones, bits);
    }
}

int main(void)
{
    T_RUN(test_parse_v4_addr);
    T_RUN(test_parse_v6_addr);
    T_RUN(test_parse_respects_len);
    T_RUN(test_parse_range_values);
    T_RUN(test_host_bits_cleared);
    T_RUN(test_v4_boundaries);
    T_RUN(test_v6_boundaries);
    T_RUN(test_cross_family);
    T_RUN(test_format_roundtrip);
    T_RUN(test_format_buffer);
    T_RUN(test_invalid_inputs);
    T_RUN(test_prefix_edges_accepted);
    return t_done();
}
