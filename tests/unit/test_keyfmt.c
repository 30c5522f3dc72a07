/* test_keyfmt.c -- key generation, parsing, checksum, hashing, masking. */
#include "keyfmt.h"
#include "t.h"

#include <xxhash.h>

#define SK_LEN (3u + KEYFMT_HEX_CHARS)     /* "sk-" + 64 hex */
#define ROUNDTRIP_KEYS 2000u
#define DISTINCT_KEYS 256u
#define CRAFTED_KEYS 8u

/* splitmix64: deterministic test data. */
static uint64_t prng_state = UINT64_C(0x5eed1234abcd0001);
static uint64_t prng(void)
{
    uint64_t z = (prng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

/* Build a valid secret independently of keyfmt.c: checks the documented
 * layout and checksum, and gives deterministic keys. */
static void craft(const char *prefix, uint32_t ws, char *out,
                  uint8_t body[KEYFMT_BODY_BYTES])
{
    for (size_t i = 0; i < KEYFMT_RANDOM_BYTES; i++)
        body[i] = (uint8_t)prng();
    body[24] = (uint8_t)(ws >> 24);
    body[25] = (uint8_t)(ws >> 16);
    body[26] = (uint8_t)(ws >> 8);
    body[27] = (uint8_t)ws;
    uint32_t c = (uint32_t)XXH3_64bits_withSeed(body, 28,
                                                KEYFMT_CHECKSUM_SEED);
    body[28] = (uint8_t)(c >> 24);
    body[29] = (uint8_t)(c >> 16);
    body[30] = (uint8_t)(c >> 8);
    body[31] = (uint8_t)c;
    size_t pl = strlen(prefix);
    memcpy(out, prefix, pl);
    to_hex(body, KEYFMT_BODY_BYTES, out + pl);
}

static int parse_str(const char *prefix, const char *s)
{
    uint8_t body[KEYFMT_BODY_BYTES];
    uint32_t ws;
    return keyfmt_parse(prefix, s, strlen(s), body, &ws);
}

static void test_generate_roundtrip(void)
{
    const uint32_t fixed[] = {0, 1, 255, 256, 0x12345678u, UINT32_MAX - 1,
                              UINT32_MAX};
    for (uint32_t i = 0; i < ROUNDTRIP_KEYS; i++) {
        uint32_t ws = i < 7 ? fixed[i] : (uint32_t)prng();
        char s[KEYFMT_SECRET_BUF_BYTES], hex[KEYFMT_HEX_CHARS + 1];
        uint8_t body[KEYFMT_BODY_BYTES];
        uint32_t got = ~ws;
        T_REQUIRE(keyfmt_generate(NULL, ws, s, sizeof s) == 0);
        T_EQ_I64(strlen(s), SK_LEN);
        T_CHECK(memcmp(s, "sk-", 3) == 0);
        for (size_t j = 3; j < SK_LEN; j++)
            T_CHECK((s[j] >= '0' && s[j] <= '9') ||
                    (s[j] >= 'a' && s[j] <= 'f'));
        T_EQ_I64(keyfmt_parse("sk-", s, strlen(s), body, &got), 0);
        T_EQ_I64(got, ws);
        T_EQ_I64(be32(body + 24), ws);
        to_hex(body, KEYFMT_BODY_BYTES, hex);
        T_EQ_STR(hex, s + 3);
    }
}

static void test_crafted_keys_parse(void)
{
    for (uint32_t i = 0; i < CRAFTED_KEYS; i++) {
        char s[KEYFMT_SECRET_BUF_BYTES] = {0};
        uint8_t want[KEYFMT_BODY_BYTES], got[KEYFMT_BODY_BYTES];
        uint32_t ws = 0, want_ws = (uint32_t)prng();
        craft("sk-", want_ws, s, want);
        T_EQ_I64(keyfmt_parse(NULL, s, strlen(s), got, &ws), 0);
        T_CHECK(memcmp(got, want, sizeof want) == 0);
        T_EQ_I64(ws, want_ws);
    }
}

/* Every single hex-char substitution anywhere in the 64 chars fails. */
static void test_every_substitution_rejected(void)
{
    static const char hexd[] = "0123456789abcdef";
    for (uint32_t k = 0; k < CRAFTED_KEYS; k++) {
        char s[KEYFMT_SECRET_BUF_BYTES] = {0};
        uint8_t body[KEYFMT_BODY_BYTES];
        craft("sk-", (uint32_t)prng(), s, body);
        T_REQUIRE(parse_str("sk-", s) == 0);
        int accepted = 0;
        for (size_t pos = 3; pos < SK_LEN; pos++) {
            char orig = s[pos];
            for (size_t d = 0; d < 16; d++) {
                if (hexd[d] == orig)
                    continue;
                s[pos] = hexd[d];
                accepted += parse_str("sk-", s) == 0;
            }
            s[pos] = orig;
        }
        T_EQ_I64(accepted, 0);
        T_EQ_I64(parse_str("sk-", s), 0);
    }
}

/* Swapping two adjacent different chars (a common typo) fails too. */
static void test_transposition_rejected(void)
{
    char s[KEYFMT_SECRET_BUF_BYTES] = {0};
    uint8_t body[KEYFMT_BODY_BYTES];
    craft("sk-", 42, s, body);
    int accepted = 0, tried = 0;
    for (size_t pos = 3; pos + 1 < SK_LEN; pos++) {
        if (s[pos] == s[pos + 1])
            continue;
        char a = s[pos];
        s[pos] = s[pos + 1];
        s[pos + 1] = a;
        accepted += parse_str("sk-", s) == 0;
        tried++;
        s[pos + 1] = s[pos];
        s[pos] = a;
    }
    T_CHECK(tried > 40);
    T_EQ_I64(accepted, 0);
}

static void test_uppercase_rejected(void)
{
    char s[KEYFMT_SECRET_BUF_BYTES] = {0};
    uint8_t body[KEYFMT_BODY_BYTES];
    craft("sk-", 7, s, body);
    T_REQUIRE(parse_str("sk-", s) == 0);
    int letters = 0;
    for (size_t pos = 3; pos < SK_LEN; pos++) {
        if (s[pos] < 'a' || s[pos] > 'f')
            continue;
        letters++;
        s[pos] = (char)(s[pos] - 'a' + 'A');
        T_EQ_I64(parse_str("sk-", s), -1);
        s[pos] = (char)(s[pos] - 'A' + 'a');
    }
    T_CHECK(letters > 0);
    char up[KEYFMT_SECRET_BUF_BYTES];
    for (size_t i = 0; i <= SK_LEN; i++)
        up[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
    T_EQ_I64(parse_str("sk-", up), -1);   /* "SK-" and uppercase hex */
    memcpy(up, "sk-", 3);
    T_EQ_I64(parse_str("sk-", up), -1);   /* uppercase hex only */
}

static void test_length_rejected(void)
{
    char s[KEYFMT_SECRET_BUF_BYTES + 8] = {0};
    uint8_t body[KEYFMT_BODY_BYTES];
    uint32_t ws;
    craft("sk-", 9, s, body);
    T_EQ_I64(keyfmt_parse("sk-", s, SK_LEN, body, &ws), 0);
    T_EQ_I64(keyfmt_parse("sk-", s, SK_LEN - 1, body, &ws), -1);
    T_EQ_I64(keyfmt_parse("sk-", s, SK_LEN - 2, body, &ws), -1);
    T_EQ_I64(keyfmt_parse("sk-", s, 3, body, &ws), -1);
    T_EQ_I64(keyfmt_parse("sk-", s, 0, body, &ws), -1);
    s[SK_LEN] = '0';
    T_EQ_I64(keyfmt_parse("sk-", s, SK_LEN + 1, body, &ws), -1);
    s[SK_LEN] = '\0';
    T_EQ_I64(keyfmt_parse("sk-", s, SK_LEN + 1, body, &ws), -1);
    T_EQ_I64(keyfmt_parse("sk-", "", 0, body, &ws), -1);
    T_EQ_I64(keyfmt_parse("sk-", NULL, SK_LEN, body, &ws), -1);
    T_EQ_I64(keyfmt_parse("sk-", NULL, 0, body, &ws), -1);
}

/* The parser reads exactly len bytes: an unterminated heap copy of the
 * exact size is accepted (ASan would flag any over-read). */
static void test_no_read_past_len(void)
{
    char s[KEYFMT_SECRET_BUF_BYTES] = {0};
    uint8_t body[KEYFMT_BODY_BYTES];
    uint32_t ws = 0;
    craft("sk-", 0xdeadbeefu, s, body);
    char *heap = malloc(SK_LEN);
    T_REQUIRE(heap != NULL);
    memcpy(heap, s, SK_LEN);
    T_EQ_I64(keyfmt_parse("sk-", heap, SK_LEN, body, &ws), 0);
    T_EQ_I64(ws, 0xdeadbeefu);
    T_EQ_I64(keyfmt_parse("sk-", heap, 2, body, &ws), -1);
    free(heap);
}

static void test_prefix_rules(void)
{
    char s[KEYFMT_SECRET_BUF_BYTES] = {0};
    uint8_t body[KEYFMT_BODY_BYTES];
    uint32_t ws = 0;
    T_REQUIRE(keyfmt_generate("qk_", 77, s, sizeof s) == 0);
    T_CHECK(memcmp(s, "qk_", 3) == 0);
    T_EQ_I64(keyfmt_parse("qk_", s, strlen(s), body, &ws), 0);
    T_EQ_I64(ws, 77);
    T_EQ_I64(parse_str("sk-", s), -1);
    T_EQ_I64(parse_str(NULL, s), -1);
    T_EQ_I64(parse_str("qk-", s), -1);
    T_EQ_I64(parse_str("q", s), -1);
    T_EQ_I64(parse_str("", s), -1);
    T_EQ_I64(parse_str("", s + 3), 0);          /* empty prefix allowed */
    T_EQ_I64(parse_str("sk-", s + 3), -1);      /* prefix missing */
    /* Longest prefix (16) fits KEYFMT_SECRET_BUF_BYTES exactly. */
    const char *p16 = "abcdefghijklmnop";
    T_EQ_I64(keyfmt_generate(p16, 1, s, sizeof s), 0);
    T_EQ_I64(strlen(s), 16 + KEYFMT_HEX_CHARS);
    T_EQ_I64(parse_str(p16, s), 0);
    T_EQ_I64(keyfmt_generate("abcdefghijklmnopq", 1, s, sizeof s), -1);
    T_EQ_I64(parse_str("abcdefghijklmnopq", s), -1);
}

static void test_generate_buffer_size(void)
{
    char s[KEYFMT_SECRET_BUF_BYTES];
    T_EQ_I64(keyfmt_generate("sk-", 1, s, SK_LEN + 1), 0);
    T_EQ_I64(strlen(s), SK_LEN);
    T_EQ_I64(keyfmt_generate("sk-", 1, s, SK_LEN), -1);
    T_EQ_I64(keyfmt_generate("sk-", 1, s, 0), -1);
    T_EQ_I64(keyfmt_generate("sk-", 1, NULL, sizeof s), -1);
}

static void test_non_hex_rejected(void)
{
    const char bad[] = {'g', 'x', 'G', ' ', '-', '_', '/', ':', '@', '`',
                        '\n', '\0', (char)0xff, (char)0x80};
    char s[KEYFMT_SECRET_BUF_BYTES] = {0};
    uint8_t body[KEYFMT_BODY_BYTES];
    uint32_t ws = 0;
    craft("sk-", 3, s, body);
    const size_t positions[] = {3, 4, 30, 50, SK_LEN - 1};
    for (size_t p = 0; p < sizeof positions / sizeof *positions; p++) {
        for (size_t b = 0; b < sizeof bad; b++) {
            char orig = s[positions[p]];
            s[positions[p]] = bad[b];
            T_EQ_I64(keyfmt_parse("sk-", s, SK_LEN, body, &ws), -1);
            s[positions[p]] = orig;
        }
    }
    T_EQ_I64(keyfmt_parse("sk-", s, SK_LEN, body, &ws), 0);
}

/* On failure the outputs are untouched. */
static void test_failure_touches_nothing(void)
{
    char s[KEYFMT_SECRET_BUF_BYTES] = {0};
    uint8_t body[KEYFMT_BODY_BYTES], want[KEYFMT_BODY_BYTES];
    uint32_t ws = 0x5a5a5a5au;
    craft("sk-", 11, s, want);
    s[SK_LEN - 1] = s[SK_LEN - 1] == '0' ? '1' : '0'; /* bad checksum */
    memset(body, 0xaa, sizeof body);
    T_EQ_I64(keyfmt_parse("sk-", s, SK_LEN, body, &ws), -1);
    for (size_t i = 0; i < sizeof body; i++)
        T_EQ_I64(body[i], 0xaa);
    T_EQ_I64(ws, 0x5a5a5a5au);
}

static void test_hash(void)
{
    uint8_t body[KEYFMT_BODY_BYTES];
    keyfmt_hash h1, h2, h3;
    char hex[2 * KEYFMT_HASH_BYTES + 1];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)i;
    keyfmt_hash_body(body, &h1);
    to_hex(h1.b, sizeof h1.b, hex);
    /* python3: hashlib.blake2b(bytes(range(32)), digest_size=32), first
     * 16 bytes (the stored hash is the truncated BLAKE2b-256) */
    T_EQ_STR(hex, "cb2f5160fc1f7e05a55ef49d340b48da");
    keyfmt_hash_body(body, &h2);
    T_CHECK(memcmp(h1.b, h2.b, sizeof h1.b) == 0);
    T_CHECK(keyfmt_hash_equal(&h1, &h2));
    body[31] ^= 1;
    keyfmt_hash_body(body, &h3);
    T_CHECK(!keyfmt_hash_equal(&h1, &h3));
    T_CHECK(keyfmt_tag(&h1) != keyfmt_tag(&h3));
    h2.b[KEYFMT_HASH_BYTES - 1] ^= 0x80;
    T_CHECK(!keyfmt_hash_equal(&h1, &h2));
    memset(body, 0, sizeof body);
    keyfmt_hash_body(body, &h1);
    to_hex(h1.b, sizeof h1.b, hex);
    T_EQ_STR(hex, "89eb0d6a8a691dae2cd15ed0369931ce");
}

static void test_tag(void)
{
    keyfmt_hash h;
    memset(&h, 0, sizeof h);
    T_EQ_I64(keyfmt_tag(&h), 1);               /* 0 mapped to 1 */
    memset(h.b + 8, 0xff, KEYFMT_HASH_BYTES - 8);
    T_EQ_I64(keyfmt_tag(&h), 1);               /* only first 8 bytes */
    for (size_t i = 0; i < 8; i++)
        h.b[i] = (uint8_t)(i + 1);
    T_CHECK(keyfmt_tag(&h) == UINT64_C(0x0807060504030201));
    memset(h.b, 0, 8);
    h.b[7] = 0x80;
    T_CHECK(keyfmt_tag(&h) == UINT64_C(0x8000000000000000));
    memset(h.b, 0, 8);
    h.b[0] = 1;
    T_EQ_I64(keyfmt_tag(&h), 1);
    for (int i = 0; i < 1000; i++) {
        uint8_t body[KEYFMT_BODY_BYTES];
        for (size_t j = 0; j < sizeof body; j++)
            body[j] = (uint8_t)prng();
        keyfmt_hash_body(body, &h);
        T_CHECK(keyfmt_tag(&h) != 0);
    }
}

static void test_hint_and_mask(void)
{
    uint8_t body[KEYFMT_BODY_BYTES] = {0};
    char hint[KEYFMT_HINT_CHARS + 1];
    char m[64];
    body[0] = 0x1a;
    body[1] = 0x2b;
    body[30] = 0x9f;
    body[31] = 0x8e;
    keyfmt_hint(body, hint);
    T_EQ_STR(hint, "1a2b9f8e");
    T_EQ_I64(keyfmt_mask(NULL, hint, m, sizeof m), 0);
    T_EQ_STR(m, "sk-1a2b...9f8e");
    T_EQ_I64(keyfmt_mask("sk-", hint, m, 15), 0);   /* exact fit */
    T_EQ_STR(m, "sk-1a2b...9f8e");
    T_EQ_I64(keyfmt_mask("sk-", hint, m, 14), -1);
    T_EQ_I64(keyfmt_mask("qk_", hint, m, sizeof m), 0);
    T_EQ_STR(m, "qk_1a2b...9f8e");
    T_EQ_I64(keyfmt_mask("", hint, m, sizeof m), 0);
    T_EQ_STR(m, "1a2b...9f8e");
    T_EQ_I64(keyfmt_mask("abcdefghijklmnopq", hint, m, sizeof m), -1);

    /* Hint of a generated key = first 4 and last 4 hex chars. */
    char s[KEYFMT_SECRET_BUF_BYTES];
    uint32_t ws;
    T_REQUIRE(keyfmt_generate(NULL, 5, s, sizeof s) == 0);
    T_REQUIRE(keyfmt_parse(NULL, s, strlen(s), body, &ws) == 0);
    keyfmt_hint(body, hint);
    T_CHECK(memcmp(hint, s + 3, 4) == 0);
    T_CHECK(memcmp(hint + 4, s + SK_LEN - 4, 4) == 0);
    T_EQ_I64(strlen(hint), KEYFMT_HINT_CHARS);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_generated_secrets_differ(void)
{
    static char s[DISTINCT_KEYS][KEYFMT_SECRET_BUF_BYTES];
    for (size_t i = 0; i < DISTINCT_KEYS; i++)
        T_REQUIRE(keyfmt_generate(NULL, 1, s[i], sizeof s[i]) == 0);
    qsort(s, DISTINCT_KEYS, sizeof s[0], cmp_str);
    int dups = 0;
    for (size_t i = 1; i < DISTINCT_KEYS; i++)
        dups += strcmp(s[i - 1], s[i]) == 0;
    T_EQ_I64(dups, 0);
    /* Same workspace: the differences are in the random bytes. */
    T_CHECK(memcmp(s[0] + 3, s[1] + 3, 48) != 0);
}

int main(void)
{
    T_RUN(test_generate_roundtrip);
    T_RUN(test_crafted_keys_parse);
    T_RUN(test_every_substitution_rejected);
    T_RUN(test_transposition_rejected);
    T_RUN(test_uppercase_rejected);
    T_RUN(test_length_rejected);
    T_RUN(test_no_read_past_len);
    T_RUN(test_prefix_rules);
    T_RUN(test_generate_buffer_size);
    T_RUN(test_non_hex_rejected);
    T_RUN(test_failure_touches_nothing);
    T_RUN(test_hash);
    T_RUN(test_tag);
    T_RUN(test_hint_and_mask);
    T_RUN(test_generated_secrets_differ);
    return t_done();
}
