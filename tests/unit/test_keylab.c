/* test_keylab.c -- packed key labels: exact block layout, accessors,
 * read/build round trips, empty and NULL strings, the metadata maximum,
 * size classes (11 and 12 bytes in the 12-byte class, 13 in 16). */
#include <stdbool.h>
#include <stdio.h>

#include "keylab.h"
#include "limits.h"
#include "t.h"

/* Size of a block: the count byte and 3 + 2 * n_meta strings. */
static size_t block_len(const char *lab)
{
    if (lab == NULL)
        return 0;
    uint32_t n = 3 + 2 * (uint32_t)(uint8_t)lab[0];
    const char *p = lab + 1;
    for (uint32_t i = 0; i < n; i++)
        p += strlen(p) + 1;
    return (size_t)(p - lab);
}

/* Build from in and compare with the expected bytes. */
static bool built_as(const keylab_in *in, const char *want, size_t want_len)
{
    char *b = (char *)1;
    if (keylab_build(in, &b) != 0)
        return false;
    bool ok = want == NULL ? b == NULL
                           : b != NULL && block_len(b) == want_len &&
                                 memcmp(b, want, want_len) == 0;
    keylab_free(b);
    return ok;
}

/* keylab_read of lab, then keylab_build of that: the same bytes. */
static bool round_trips(const char *lab)
{
    keylab_in in;
    const char *k[METADATA_PAIRS_MAX], *v[METADATA_PAIRS_MAX];
    keylab_read(lab, &in, k, v);
    char *b = (char *)1;
    if (keylab_build(&in, &b) != 0)
        return false;
    bool ok = lab == NULL ? b == NULL
                          : b != NULL && block_len(b) == block_len(lab) &&
                                memcmp(b, lab, block_len(lab)) == 0;
    keylab_free(b);
    return ok;
}

static void test_empty(void)
{
    keylab_in in = {0};
    char *b = (char *)1;                        /* overwritten with NULL */
    T_EQ_I64(keylab_build(&in, &b), 0);
    T_CHECK(b == NULL);
    in.name = in.group = in.creator = "";
    b = (char *)1;
    T_EQ_I64(keylab_build(&in, &b), 0);
    T_CHECK(b == NULL);
    /* Zero pairs with (unused) arrays is still empty. */
    const char *ks[1] = {"k"}, *vs[1] = {"v"};
    in.meta_key = ks;
    in.meta_value = vs;
    b = (char *)1;
    T_EQ_I64(keylab_build(&in, &b), 0);
    T_CHECK(b == NULL);
    /* Accessors on NULL. */
    T_EQ_STR(keylab_name(NULL), "");
    T_EQ_STR(keylab_group(NULL), "");
    T_EQ_STR(keylab_creator(NULL), "");
    T_EQ_I64(keylab_n_meta(NULL), 0);
    keylab_in r;
    memset(&r, 0x5a, sizeof r);
    const char *k[METADATA_PAIRS_MAX], *v[METADATA_PAIRS_MAX];
    keylab_read(NULL, &r, k, v);
    T_EQ_STR(r.name, "");
    T_EQ_STR(r.group, "");
    T_EQ_STR(r.creator, "");
    T_EQ_I64(r.n_meta, 0);
    T_CHECK(r.meta_key == k && r.meta_value == v);
    T_CHECK(round_trips(NULL));
}

static void test_name_only(void)
{
    keylab_in in = {.name = "prod-key"};
    static const char want[] = "\0prod-key\0\0";  /* + the final NUL */
    T_CHECK(built_as(&in, want, sizeof want));
    char *b = NULL;
    T_REQUIRE(keylab_build(&in, &b) == 0);
    T_REQUIRE(b != NULL);
    T_CHECK(b != in.name);
    T_EQ_I64(block_len(b), 1 + 9 + 1 + 1);
    T_EQ_STR(keylab_name(b), "prod-key");
    T_EQ_STR(keylab_group(b), "");
    T_EQ_STR(keylab_creator(b), "");
    T_EQ_I64(keylab_n_meta(b), 0);
    T_CHECK(round_trips(b));
    keylab_free(b);
    /* Only a group, only a creator: a block too. */
    keylab_in g = {.group = "team-a"};
    T_REQUIRE(keylab_build(&g, &b) == 0);
    T_REQUIRE(b != NULL);
    T_EQ_STR(keylab_name(b), "");
    T_EQ_STR(keylab_group(b), "team-a");
    T_EQ_STR(keylab_creator(b), "");
    T_CHECK(round_trips(b));
    keylab_free(b);
    keylab_in c = {.creator = "ci"};
    static const char want_c[] = "\0\0\0ci";
    T_CHECK(built_as(&c, want_c, sizeof want_c));
    /* A one-character name. */
    keylab_in one = {.name = "x"};
    static const char want_one[] = "\0x\0\0";
    T_CHECK(built_as(&one, want_one, sizeof want_one));
}

static void test_full(void)
{
    const char *ks[] = {"env", "owner", "cost-center"};
    const char *vs[] = {"production", "alice@example.com", "42"};
    keylab_in in = {.name = "svc", .group = "backend", .creator = "admin",
                    .n_meta = 3, .meta_key = ks, .meta_value = vs};
    static const char want[] =
        "\3svc\0backend\0admin\0env\0production\0owner\0alice@example.com"
        "\0cost-center\0" "42";
    T_CHECK(built_as(&in, want, sizeof want));
    char *b = NULL;
    T_REQUIRE(keylab_build(&in, &b) == 0);
    T_REQUIRE(b != NULL);
    T_EQ_STR(keylab_name(b), "svc");
    T_EQ_STR(keylab_group(b), "backend");
    T_EQ_STR(keylab_creator(b), "admin");
    T_EQ_I64(keylab_n_meta(b), 3);
    for (uint32_t i = 0; i < 3; i++) {
        const char *k = NULL, *v = NULL;
        keylab_meta(b, i, &k, &v);
        T_EQ_STR(k, ks[i]);
        T_EQ_STR(v, vs[i]);
        T_CHECK(k > b && v > k && v < b + block_len(b));  /* in the block */
    }
    keylab_in r;
    const char *rk[METADATA_PAIRS_MAX], *rv[METADATA_PAIRS_MAX];
    keylab_read(b, &r, rk, rv);
    T_EQ_STR(r.name, "svc");
    T_EQ_STR(r.group, "backend");
    T_EQ_STR(r.creator, "admin");
    T_EQ_I64(r.n_meta, 3);
    T_CHECK(r.meta_key == rk && r.meta_value == rv);
    for (uint32_t i = 0; i < 3; i++) {
        T_EQ_STR(rk[i], ks[i]);
        T_EQ_STR(rv[i], vs[i]);
    }
    T_CHECK(round_trips(b));
    /* Rebuild with one field changed (what an update does): the rest
     * is carried over, from the old block's own strings. */
    r.group = "frontend";
    char *b2 = NULL;
    T_REQUIRE(keylab_build(&r, &b2) == 0);
    T_REQUIRE(b2 != NULL);
    keylab_free(b);                                   /* b2 must not point into b */
    T_EQ_STR(keylab_name(b2), "svc");
    T_EQ_STR(keylab_group(b2), "frontend");
    T_EQ_STR(keylab_creator(b2), "admin");
    T_EQ_I64(keylab_n_meta(b2), 3);
    const char *k = NULL, *v = NULL;
    keylab_meta(b2, 2, &k, &v);
    T_EQ_STR(k, "cost-center");
    T_EQ_STR(v, "42");
    keylab_free(b2);
}

/* Empty strings anywhere keep their place. */
static void test_empty_strings(void)
{
    const char *ks[] = {"", "a", "", "last"};
    const char *vs[] = {"v0", "", "", ""};
    keylab_in in = {.n_meta = 4, .meta_key = ks, .meta_value = vs};
    static const char want[] = "\4\0\0\0\0v0\0a\0\0\0\0last\0";
    T_CHECK(built_as(&in, want, sizeof want));
    char *b = NULL;
    T_REQUIRE(keylab_build(&in, &b) == 0);
    T_REQUIRE(b != NULL);                      /* pairs make a block */
    T_EQ_STR(keylab_name(b), "");
    T_EQ_STR(keylab_group(b), "");
    T_EQ_STR(keylab_creator(b), "");
    T_EQ_I64(keylab_n_meta(b), 4);
    for (uint32_t i = 0; i < 4; i++) {
        const char *k, *v;
        keylab_meta(b, i, &k, &v);
        T_EQ_STR(k, ks[i]);
        T_EQ_STR(v, vs[i]);
    }
    T_CHECK(round_trips(b));
    keylab_free(b);
    /* One pair of two empty strings is still a block (n_meta 1). */
    const char *e1[] = {""};
    keylab_in one = {.n_meta = 1, .meta_key = e1, .meta_value = e1};
    static const char want_one[] = "\1\0\0\0\0";
    T_CHECK(built_as(&one, want_one, sizeof want_one));
    T_REQUIRE(keylab_build(&one, &b) == 0);
    T_REQUIRE(b != NULL);
    T_EQ_I64(keylab_n_meta(b), 1);
    const char *k, *v;
    keylab_meta(b, 0, &k, &v);
    T_EQ_STR(k, "");
    T_EQ_STR(v, "");
    T_CHECK(round_trips(b));
    keylab_free(b);
    /* Empty name with group and creator set. */
    keylab_in gc = {.name = "", .group = "g", .creator = "c"};
    static const char want_gc[] = "\0\0g\0c";
    T_CHECK(built_as(&gc, want_gc, sizeof want_gc));
}

/* NULL strings read as "", in every position. */
static void test_null_pointers(void)
{
    const char *ks[] = {NULL, "k1", NULL};
    const char *vs[] = {"v0", NULL, NULL};
    keylab_in in = {.name = NULL, .group = "grp", .creator = NULL,
                    .n_meta = 3, .meta_key = ks, .meta_value = vs};
    static const char want[] = "\3\0grp\0\0\0v0\0k1\0\0\0";
    T_CHECK(built_as(&in, want, sizeof want));
    char *b = NULL;
    T_REQUIRE(keylab_build(&in, &b) == 0);
    T_REQUIRE(b != NULL);
    T_EQ_STR(keylab_name(b), "");
    T_EQ_STR(keylab_group(b), "grp");
    T_EQ_STR(keylab_creator(b), "");
    const char *k, *v;
    keylab_meta(b, 0, &k, &v);
    T_EQ_STR(k, "");
    T_EQ_STR(v, "v0");
    keylab_meta(b, 1, &k, &v);
    T_EQ_STR(k, "k1");
    T_EQ_STR(v, "");
    keylab_meta(b, 2, &k, &v);
    T_EQ_STR(k, "");
    T_EQ_STR(v, "");
    T_CHECK(round_trips(b));
    keylab_free(b);
    /* NULL and "" build the same bytes. */
    const char *eks[] = {"", "k1", ""};
    const char *evs[] = {"v0", "", ""};
    keylab_in e = {.name = "", .group = "grp", .creator = "",
                   .n_meta = 3, .meta_key = eks, .meta_value = evs};
    T_CHECK(built_as(&e, want, sizeof want));
    /* All NULL with one NULL pair: a block with one empty pair. */
    const char *nk[] = {NULL};
    keylab_in n1 = {.n_meta = 1, .meta_key = nk, .meta_value = nk};
    static const char want_n1[] = "\1\0\0\0\0";
    T_CHECK(built_as(&n1, want_n1, sizeof want_n1));
}

/* METADATA_PAIRS_MAX pairs of the longest allowed strings, other bytes
 * (UTF-8, high bytes) and distinct lengths. */
static void test_max_pairs(void)
{
    enum { N = METADATA_PAIRS_MAX, L = METADATA_BYTES_MAX };
    static char kbuf[N][L + 1], vbuf[N][L + 1];
    const char *ks[N] = {0}, *vs[N] = {0};
    for (uint32_t i = 0; i < N; i++) {
        size_t kl = i == 0 ? L : 1 + (i * 37) % L;
        size_t vl = i == 1 ? L : (i * 53) % (L + 1);  /* some empty */
        for (size_t j = 0; j < kl; j++)
            kbuf[i][j] = (char)('a' + (i + j) % 26);
        for (size_t j = 0; j < vl; j++)
            vbuf[i][j] = (char)(0x80 + (i * 7 + j) % 0x7f); /* high bytes */
        kbuf[i][kl] = vbuf[i][vl] = '\0';
        ks[i] = kbuf[i];
        vs[i] = vbuf[i];
    }
    vbuf[2][0] = '\0';                          /* an empty value */
    char name[NAME_BYTES_MAX + 1], grp[GROUP_BYTES_MAX + 1];
    char creator[CREATOR_BYTES_MAX + 1];
    memset(name, 'n', NAME_BYTES_MAX);
    name[NAME_BYTES_MAX] = '\0';
    memset(grp, 'g', GROUP_BYTES_MAX);
    grp[GROUP_BYTES_MAX] = '\0';
    strcpy(creator, "cr\xc3\xa9\xc3\xa2teur");  /* UTF-8 */
    keylab_in in = {.name = name, .group = grp, .creator = creator,
                    .n_meta = N, .meta_key = ks, .meta_value = vs};
    char *b = NULL;
    T_REQUIRE(keylab_build(&in, &b) == 0);
    T_REQUIRE(b != NULL);
    size_t want_len = 1 + strlen(name) + 1 + strlen(grp) + 1 +
                      strlen(creator) + 1;
    for (uint32_t i = 0; i < N; i++)
        want_len += strlen(ks[i]) + 1 + strlen(vs[i]) + 1;
    T_EQ_I64(block_len(b), want_len);
    T_EQ_I64((uint8_t)b[0], N);
    T_EQ_I64(keylab_n_meta(b), N);
    T_EQ_STR(keylab_name(b), name);
    T_EQ_STR(keylab_group(b), grp);
    T_EQ_STR(keylab_creator(b), creator);
    size_t bad = 0;
    for (uint32_t i = 0; i < N; i++) {
        const char *k, *v;
        keylab_meta(b, i, &k, &v);
        bad += strcmp(k, ks[i]) != 0 || strcmp(v, vs[i]) != 0;
    }
    T_EQ_I64(bad, 0);
    keylab_in r;
    const char *rk[N], *rv[N];
    keylab_read(b, &r, rk, rv);
    T_EQ_I64(r.n_meta, N);
    for (uint32_t i = 0; i < N; i++)
        bad += strcmp(rk[i], ks[i]) != 0 || strcmp(rv[i], vs[i]) != 0;
    T_EQ_I64(bad, 0);
    T_CHECK(round_trips(b));
    keylab_free(b);
    /* Every count from 0 to the maximum, reading each pair back. */
    for (uint32_t n = 0; n <= N; n++) {
        keylab_in m = {.name = "k", .n_meta = n, .meta_key = ks,
                       .meta_value = vs};
        T_REQUIRE(keylab_build(&m, &b) == 0);
        T_REQUIRE(b != NULL);
        bad += keylab_n_meta(b) != n;
        bad += strcmp(keylab_name(b), "k") != 0;
        for (uint32_t i = 0; i < n; i++) {
            const char *k, *v;
            keylab_meta(b, i, &k, &v);
            bad += strcmp(k, ks[i]) != 0 || strcmp(v, vs[i]) != 0;
        }
        bad += !round_trips(b);
        keylab_free(b);
    }
    T_EQ_I64(bad, 0);
}

/* Duplicate keys and order are kept as given. */
static void test_order_and_duplicates(void)
{
    const char *ks[] = {"b", "a", "b", "a"};
    const char *vs[] = {"1", "2", "3", "4"};
    keylab_in in = {.name = "n", .n_meta = 4, .meta_key = ks,
                    .meta_value = vs};
    char *b = NULL;
    T_REQUIRE(keylab_build(&in, &b) == 0);
    T_REQUIRE(b != NULL);
    for (uint32_t i = 0; i < 4; i++) {
        const char *k, *v;
        keylab_meta(b, i, &k, &v);
        T_EQ_STR(k, ks[i]);
        T_EQ_STR(v, vs[i]);
    }
    T_CHECK(round_trips(b));
    keylab_free(b);
}

/* Build a block of a name alone; its length is strlen(name) + 4. */
static char *build_name(const char *name)
{
    keylab_in in = {.name = name};
    char *b = NULL;
    if (keylab_build(&in, &b) != 0)
        return NULL;
    return b;
}

/* The pool a block lands in, by its length, up to malloc. */
static void test_size_classes(void)
{
    static const struct {
        const char *name;
        size_t len, class_bytes;
    } cases[] = {
        {"k", 5, 12},          {"k123456", 11, 12},   {"k1234567", 12, 12},
        {"k12345678", 13, 16}, {"k1234567890ab", 17, 24},
        {"k1234567890abcdefghijklmnopqrstuvwxyz0123", 45, 48},
        {"k1234567890abcdefghijklmnopqrstuvwxyz01234", 46, 48},
        {"k1234567890abcdefghijklmnopqrstuvwxyz0123456", 48, 48},
        {"k1234567890abcdefghijklmnopqrstuvwxyz01234567", 49, 49},
    };
    T_EQ_I64(keylab_class_bytes(NULL), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b = build_name(cases[i].name);
        T_REQUIRE(b != NULL);
        T_EQ_I64(block_len(b), cases[i].len);
        T_EQ_I64(keylab_class_bytes(b), cases[i].class_bytes);
        T_EQ_STR(keylab_name(b), cases[i].name);
        T_EQ_STR(keylab_group(b), "");
        T_EQ_STR(keylab_creator(b), "");
        T_CHECK(round_trips(b));
        keylab_free(b);
    }
    /* three short parts in one 12-byte block */
    keylab_in in = {.name = "ab", .group = "cd", .creator = "efgh"};
    char *b = NULL;
    T_REQUIRE(keylab_build(&in, &b) == 0);
    T_REQUIRE(b != NULL);
    T_EQ_I64(block_len(b), 12);
    T_EQ_I64(keylab_class_bytes(b), 12);
    T_EQ_STR(keylab_name(b), "ab");
    T_EQ_STR(keylab_group(b), "cd");
    T_EQ_STR(keylab_creator(b), "efgh");
    keylab_free(b);
    /* one metadata pair: 1 + 2 + 1 + 1 + 2 + 2 = 9 */
    const char *ks[] = {"k"}, *vs[] = {"v"};
    keylab_in m = {.name = "n", .n_meta = 1, .meta_key = ks, .meta_value = vs};
    T_REQUIRE(keylab_build(&m, &b) == 0);
    T_REQUIRE(b != NULL);
    T_EQ_I64(keylab_class_bytes(b), 12);
    T_EQ_I64(keylab_n_meta(b), 1);
    const char *k, *v;
    keylab_meta(b, 0, &k, &v);
    T_EQ_STR(k, "k");
    T_EQ_STR(v, "v");
    keylab_free(b);
}

/* Many 11-, 12- and 13-byte blocks over several pages of the 12-byte pool:
 * each reads back its own name after others are freed and rebuilt. */
#define TK_BLOCKS 20000

static void tk_name(char *buf, size_t cap, uint32_t i, uint32_t round)
{
    /* 7, 8 or 9 characters: blocks of 11, 12 or 13 bytes */
    static const char *const fmt[] = {"k%06u", "k%07u", "k%08u"};
    snprintf(buf, cap, fmt[(i + round) % 3], (unsigned)(i + round));
}

static void test_many_small(void)
{
    static char *blocks[TK_BLOCKS];
    static uint32_t round[TK_BLOCKS];
    char name[16];
    for (uint32_t i = 0; i < TK_BLOCKS; i++) {
        tk_name(name, sizeof name, i, 0);
        blocks[i] = build_name(name);
        T_REQUIRE(blocks[i] != NULL);
        round[i] = 0;
    }
    for (uint32_t i = 0; i < TK_BLOCKS; i += 2) {
        keylab_free(blocks[i]);
    }
    for (uint32_t i = 0; i < TK_BLOCKS; i += 2) {
        tk_name(name, sizeof name, i, 1);
        blocks[i] = build_name(name);
        T_REQUIRE(blocks[i] != NULL);
        round[i] = 1;
    }
    int bad = 0;
    for (uint32_t i = 0; i < TK_BLOCKS; i++) {
        tk_name(name, sizeof name, i, round[i]);
        bad |= strcmp(keylab_name(blocks[i]), name) != 0;
        bad |= keylab_class_bytes(blocks[i]) != (strlen(name) < 9 ? 12 : 16);
        bad |= *keylab_group(blocks[i]) != 0 || *keylab_creator(blocks[i]);
        keylab_free(blocks[i]);
    }
    T_EQ_I64(bad, 0);
}

int main(void)
{
    T_RUN(test_empty);
    T_RUN(test_name_only);
    T_RUN(test_full);
    T_RUN(test_empty_strings);
    T_RUN(test_null_pointers);
    T_RUN(test_max_pairs);
    T_RUN(test_order_and_duplicates);
    T_RUN(test_size_classes);
    T_RUN(test_many_small);
    return t_done();
}
