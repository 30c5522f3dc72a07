/* test_keypol.c -- interned key policies: sharing, distinctness, copies,
 * reference counts, table growth and concurrent use.
 *
 * keypol keeps one process-wide table, so every test releases all it
 * interned and checks keypol_count() is back to 0. */
#include <pthread.h>
#include <stdbool.h>

#include "ipnet.h"
#include "keypol.h"
#include "store.h"
#include "t.h"

#define MANY_N 5000u
#define THREADS 4
#define THREAD_ITERS 20000
#define THREAD_HELD 8               /* references a thread keeps at once */
#define THREAD_DISTINCT 40          /* distinct drafts per thread */

static uint64_t prng_state = UINT64_C(0x5eedfacecafe);
static uint64_t prng(void)
{
    uint64_t z = (prng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static ipnet_range range_of(const char *s)
{
    ipnet_range r;
    if (ipnet_parse_range(s, strlen(s), &r) != 0) {
        fprintf(stderr, "bad range %s\n", s);
        abort();
    }
    return r;
}

/* The record holds exactly what the draft says. */
static bool matches(const keypol *p, const keypol_draft *d)
{
    if (p->quota_total != d->quota_total || p->cap_day != d->cap_day ||
        p->cap_week != d->cap_week || p->cap_month != d->cap_month ||
        p->rpm != d->rpm || p->tpm != d->tpm || p->n_models != d->n_models ||
        p->n_ips != d->n_ips)
        return false;
    if ((p->n_models == 0) != (p->models == NULL) ||
        (p->n_ips == 0) != (p->ips == NULL))
        return false;
    for (uint32_t i = 0; i < d->n_models; i++)
        if (strcmp(p->models[i], d->models[i]) != 0)
            return false;
    for (uint32_t i = 0; i < d->n_ips; i++)
        if (memcmp(&p->ips[i], &d->ips[i], sizeof(ipnet_range)) != 0)
            return false;
    return true;
}

static void test_draft_none(void)
{
    T_EQ_I64(keypol_count(), 0);
    keypol_draft d;
    memset(&d, 0x5a, sizeof d);
    keypol_draft_none(&d);
    T_EQ_I64(d.quota_total, LIMIT_NONE);
    T_EQ_I64(d.cap_day, LIMIT_NONE);
    T_EQ_I64(d.cap_week, LIMIT_NONE);
    T_EQ_I64(d.cap_month, LIMIT_NONE);
    T_EQ_I64(d.rpm, LIMIT_NONE);
    T_EQ_I64(d.tpm, LIMIT_NONE);
    T_EQ_I64(d.n_models, 0);
    T_EQ_I64(d.n_ips, 0);
    T_CHECK(d.models == NULL);
    T_CHECK(d.ips == NULL);
    const keypol *p = keypol_intern(&d);
    T_REQUIRE(p != NULL);
    T_CHECK(matches(p, &d));
    T_CHECK(p->models == NULL && p->ips == NULL);
    T_EQ_I64(p->refs, 1);
    T_EQ_I64(keypol_count(), 1);
    const keypol *q = keypol_intern(&d);
    T_CHECK(q == p);
    T_EQ_I64(p->refs, 2);
    T_EQ_I64(keypol_count(), 1);
    /* Non-NULL arrays with zero lengths are the same policy. */
    static char *const unused_models[] = {"x"};
    static const ipnet_range unused_ips[1];
    d.models = unused_models;
    d.ips = unused_ips;
    const keypol *r = keypol_intern(&d);
    T_CHECK(r == p);
    T_CHECK(r->models == NULL && r->ips == NULL);
    T_EQ_I64(p->refs, 3);
    keypol_release(r);
    keypol_release(q);
    T_EQ_I64(p->refs, 1);
    T_EQ_I64(keypol_count(), 1);
    keypol_release(p);
    T_EQ_I64(keypol_count(), 0);
    keypol_release(NULL);                       /* ignored */
    T_EQ_I64(keypol_count(), 0);
}

/* Base policy and single-field variants of it. */
static char *const BASE_MODELS[] = {"gpt-4o", "claude-3", "llama"};
static char *const REV_MODELS[] = {"llama", "claude-3", "gpt-4o"};
static char *const CASE_MODELS[] = {"gpt-4o", "claude-3", "llamA"};
static char *const MORE_MODELS[] = {"gpt-4o", "claude-3", "llama", "x"};
static char *const SPLIT_MODELS[] = {"gpt-4", "oclaude-3", "llama"};
static char *const DUP_MODELS[] = {"gpt-4o", "gpt-4o", "claude-3", "llama"};
static char *const EMPTY_MODELS[] = {"", ""};
static char *const LONG_MODELS[] = {
    "gpt-4o", "claude-3",
    ("llama-3.1-405b-instruct-turbo-with-a-rather-long-name-to-cross-"
     "sixty-four-bytes-and-more")};
enum { V_FIELDS = 6, V_N = 32 };

static ipnet_range base_ips[2], ips_var[6][2];

static void init_ips(void)
{
    base_ips[0] = range_of("10.0.0.0/8");
    base_ips[1] = range_of("2001:db8::/32");
    ips_var[0][0] = base_ips[1];                /* swapped */
    ips_var[0][1] = base_ips[0];
    ips_var[1][0] = range_of("10.0.0.0/9");
    ips_var[1][1] = base_ips[1];
    ips_var[2][0] = range_of("11.0.0.0/8");
    ips_var[2][1] = base_ips[1];
    ips_var[3][0] = base_ips[0];                /* is_v4 flag only */
    ips_var[3][0].is_v4 = !ips_var[3][0].is_v4;
    ips_var[3][1] = base_ips[1];
    ips_var[4][0] = base_ips[0];
    ips_var[4][1] = range_of("2001:db8::1");    /* /128 */
    ips_var[5][0] = range_of("::ffff:10.0.0.0/104"); /* same bytes/bits */
    ips_var[5][1] = base_ips[1];
}

static void base_draft(keypol_draft *d)
{
    d->quota_total = 1000000;
    d->cap_day = 10;
    d->cap_week = 50;
    d->cap_month = 100;
    d->rpm = 60;
    d->tpm = 100000;
    d->n_models = 3;
    d->models = BASE_MODELS;
    d->n_ips = 2;
    d->ips = base_ips;
}

static int64_t *field(keypol_draft *d, int f)
{
    int64_t *fs[V_FIELDS] = {&d->quota_total, &d->cap_day, &d->cap_week,
                             &d->cap_month, &d->rpm, &d->tpm};
    return fs[f];
}

/* Variant v: 0 is the base, each other differs from it in one thing. */
static void variant(int v, keypol_draft *d)
{
    base_draft(d);
    if (v == 0)
        return;
    if (v <= V_FIELDS) {
        (*field(d, v - 1))++;
        return;
    }
    if (v > V_FIELDS && v <= 2 * V_FIELDS) {
        *field(d, v - V_FIELDS - 1) = LIMIT_NONE;
        return;
    }
    switch (v - 2 * V_FIELDS) {
    case 1: d->models = REV_MODELS; break;
    case 2: d->models = CASE_MODELS; break;
    case 3: d->n_models = 2; break;             /* one dropped */
    case 4: d->n_models = 4; d->models = MORE_MODELS; break;
    case 5: d->models = SPLIT_MODELS; break;    /* same bytes, moved NUL */
    case 6: d->n_models = 0; d->models = NULL; break;
    case 7: d->n_models = 1; d->models = EMPTY_MODELS; break;
    case 8: d->n_models = 2; d->models = EMPTY_MODELS; break;
    case 9: d->n_models = 4; d->models = DUP_MODELS; break;
    case 10: d->models = LONG_MODELS; break;
    case 11: d->ips = ips_var[0]; break;
    case 12: d->ips = ips_var[1]; break;
    case 13: d->ips = ips_var[2]; break;
    case 14: d->ips = ips_var[3]; break;
    case 15: d->ips = ips_var[4]; break;
    case 16: d->n_ips = 1; break;
    case 17: d->n_ips = 0; d->ips = NULL; break;
    case 18: keypol_draft_none(d); break;
    case 19: d->quota_total = INT64_MAX; break;
    default: d->quota_total = 0; break;         /* 0 is not "none" */
    }
}

static void test_intern_and_distinct(void)
{
    init_ips();
    /* The /104 v4-mapped v6 range has the same bytes and bits as
     * 10.0.0.0/8 but is_v4 = 0: the same range as variant 26 (10/8 with
     * the flag cleared), a different one from the base. */
    T_CHECK(memcmp(ips_var[5][0].b, base_ips[0].b, 16) == 0);
    T_EQ_I64(ips_var[5][0].bits, base_ips[0].bits);
    T_CHECK(base_ips[0].is_v4 && !ips_var[5][0].is_v4);
    T_CHECK(memcmp(&ips_var[5][0], &ips_var[3][0], sizeof(ipnet_range)) == 0);

    const keypol *p[V_N + 1];
    keypol_draft d;
    for (int v = 0; v <= V_N; v++) {
        variant(v, &d);
        p[v] = keypol_intern(&d);
        T_REQUIRE(p[v] != NULL);
        T_CHECK(matches(p[v], &d));
        T_EQ_I64(p[v]->refs, 1);
    }
    /* Every pair distinct. */
    size_t same = 0;
    for (int a = 0; a <= V_N; a++)
        for (int b = a + 1; b <= V_N; b++)
            if (p[a] == p[b]) {
                same++;
                fprintf(stderr, "  variants %d and %d: one record\n", a, b);
            }
    T_EQ_I64(same, 0);
    T_EQ_I64(keypol_count(), V_N + 1);
    /* Interning any of them again finds the same record. */
    size_t bad = 0;
    for (int v = 0; v <= V_N; v++) {
        variant(v, &d);
        bad += keypol_intern(&d) != p[v];
        bad += p[v]->refs != 2;
        bad += !matches(p[v], &d);
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(keypol_count(), V_N + 1);
    base_draft(&d);
    d.ips = ips_var[5];
    const keypol *v6 = keypol_intern(&d);
    T_CHECK(v6 == p[2 * V_FIELDS + 14]);
    T_CHECK(v6 != p[0]);
    keypol_release(v6);
    /* Equal content from other buffers is the same policy. */
    char m0[] = "gpt-4o", m1[] = "claude-3", m2[] = "llama";
    char *const models[] = {m0, m1, m2};
    ipnet_range ips[2] = {range_of("10.1.2.3/8"), range_of("2001:db8::/32")};
    base_draft(&d);
    d.models = models;
    d.ips = ips;
    const keypol *q = keypol_intern(&d);
    T_CHECK(q == p[0]);
    T_EQ_I64(p[0]->refs, 3);
    keypol_release(q);
    for (int v = 0; v <= V_N; v++) {
        keypol_release(p[v]);
        T_EQ_I64(keypol_count(), V_N + 1);
    }
    /* Releasing in reverse order frees them one by one. */
    for (int v = V_N; v >= 0; v--) {
        keypol_release(p[v]);
        T_EQ_I64(keypol_count(), v);
    }
    T_EQ_I64(keypol_count(), 0);
}

/* The record owns copies: changing or freeing the draft's arrays after
 * interning leaves it as it was. */
static void test_copies(void)
{
    char *m0 = strdup("alpha"), *m1 = strdup("beta-model");
    char *models[2] = {m0, m1};
    ipnet_range *ips = malloc(2 * sizeof(*ips));
    T_REQUIRE(m0 != NULL && m1 != NULL && ips != NULL);
    ips[0] = range_of("192.168.0.0/16");
    ips[1] = range_of("fe80::/10");
    keypol_draft d;
    keypol_draft_none(&d);
    d.rpm = 5;
    d.n_models = 2;
    d.models = models;
    d.n_ips = 2;
    d.ips = ips;
    const keypol *p = keypol_intern(&d);
    T_REQUIRE(p != NULL);
    T_CHECK(p->models != (char **)models);
    T_CHECK(p->models[0] != m0 && p->models[1] != m1);
    T_CHECK(p->ips != ips);
    const ipnet_range want_ip0 = ips[0];
    T_EQ_I64(want_ip0.bits, 96 + 16);           /* v4 prefix over 128 bits */

    m0[0] = 'X';                                /* change the draft */
    models[1] = "gamma";
    ips[0].bits = 96 + 17;
    T_EQ_STR(p->models[0], "alpha");
    T_EQ_STR(p->models[1], "beta-model");
    T_EQ_I64(p->ips[0].bits, 96 + 16);
    T_CHECK(memcmp(&p->ips[0], &want_ip0, sizeof want_ip0) == 0);
    /* The changed draft is a new policy... */
    const keypol *q = keypol_intern(&d);
    T_REQUIRE(q != NULL);
    T_CHECK(q != p);
    T_CHECK(matches(q, &d));
    T_EQ_I64(keypol_count(), 2);
    /* ...and the original content still finds the first one. */
    m0[0] = 'a';
    models[1] = m1;
    ips[0].bits = 96 + 16;
    const keypol *r = keypol_intern(&d);
    T_CHECK(r == p);
    T_EQ_I64(p->refs, 2);
    keypol_release(r);

    /* Free the draft's storage altogether: the record stays readable
     * (ASan reports any pointer into it). */
    free(m0);
    free(m1);
    free(ips);
    T_EQ_STR(p->models[0], "alpha");
    T_EQ_STR(p->models[1], "beta-model");
    T_EQ_I64(p->ips[1].bits, 10);
    T_EQ_I64(p->rpm, 5);
    T_EQ_I64(p->n_models, 2);
    T_EQ_I64(p->n_ips, 2);
    keypol_release(q);
    T_EQ_I64(keypol_count(), 1);
    keypol_release(p);
    T_EQ_I64(keypol_count(), 0);
}

/* A draft made from a record interns to that record; changing one field
 * of it (as an update does) gives another record and leaves the first. */
static void test_draft_of(void)
{
    init_ips();
    keypol_draft d, e;
    base_draft(&d);
    const keypol *p = keypol_intern(&d);
    T_REQUIRE(p != NULL);
    keypol_draft_of(&e, p);
    T_CHECK(e.models == (char *const *)p->models);
    T_CHECK(e.ips == p->ips);
    T_EQ_I64(e.n_models, 3);
    T_EQ_I64(e.n_ips, 2);
    T_EQ_I64(e.tpm, d.tpm);
    T_CHECK(keypol_intern(&e) == p);
    T_EQ_I64(p->refs, 2);
    e.cap_week = LIMIT_NONE;
    const keypol *q = keypol_intern(&e);
    T_REQUIRE(q != NULL);
    T_CHECK(q != p);
    T_EQ_I64(q->cap_week, LIMIT_NONE);
    T_EQ_I64(p->cap_week, 50);
    T_CHECK(q->models != p->models);            /* its own copy */
    T_EQ_STR(q->models[2], "llama");
    /* Release p entirely first: q must not depend on p's arrays. */
    keypol_release(p);
    keypol_release(p);
    T_EQ_I64(keypol_count(), 1);
    T_EQ_STR(q->models[0], "gpt-4o");
    T_CHECK(memcmp(&q->ips[1], &base_ips[1], sizeof(ipnet_range)) == 0);
    keypol_release(q);
    T_EQ_I64(keypol_count(), 0);
}

/* References count up and down; the record lives until the last one. */
static void test_refcount(void)
{
    enum { N = 100 };
    keypol_draft d;
    keypol_draft_none(&d);
    d.tpm = 42;
    const keypol *p = keypol_intern(&d);
    T_REQUIRE(p != NULL);
    for (int i = 1; i < N; i++)
        T_CHECK(keypol_intern(&d) == p);
    T_EQ_I64(p->refs, N);
    for (int i = 1; i < N; i++) {
        keypol_release(p);
        T_EQ_I64(keypol_count(), 1);
    }
    T_EQ_I64(p->refs, 1);
    T_EQ_I64(p->tpm, 42);
    keypol_release(p);
    T_EQ_I64(keypol_count(), 0);
    /* After the table was emptied (and freed) it works again. */
    p = keypol_intern(&d);
    T_REQUIRE(p != NULL);
    T_EQ_I64(p->refs, 1);
    T_EQ_I64(keypol_count(), 1);
    keypol_release(p);
    T_EQ_I64(keypol_count(), 0);
}

/* Distinct policy number i: numbers, and sometimes models and ranges. */
static void many_draft(uint32_t i, keypol_draft *d, char (*names)[32],
                       char **mptr, ipnet_range *ips)
{
    keypol_draft_none(d);
    d->quota_total = (int64_t)i;
    d->rpm = i % 3 ? (int64_t)(i % 11) : LIMIT_NONE;
    if (i % 4 == 0) {
        d->n_models = 1 + i % 3;
        for (uint32_t m = 0; m < d->n_models; m++) {
            snprintf(names[m], sizeof names[m], "model-%u-%u", i % 97, m);
            mptr[m] = names[m];
        }
        d->models = mptr;
    }
    if (i % 5 == 0) {
        char buf[48];
        snprintf(buf, sizeof buf, "10.%u.%u.0/24", (i >> 8) & 255, i & 255);
        ips[0] = range_of(buf);
        ips[1] = range_of("::1");
        d->n_ips = 1 + i % 2;
        d->ips = ips;
    }
}

static void test_many(void)
{
    static const keypol *p[MANY_N];
    static uint32_t order[MANY_N];
    char names[3][32];
    char *mptr[3];
    ipnet_range ips[2];
    keypol_draft d;
    size_t bad = 0;
    for (uint32_t i = 0; i < MANY_N; i++) {
        many_draft(i, &d, names, mptr, ips);
        p[i] = keypol_intern(&d);
        T_REQUIRE(p[i] != NULL);
        bad += !matches(p[i], &d);
        bad += keypol_count() != i + 1;
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(keypol_count(), MANY_N);
    /* After all that growth each is found again and still intact. */
    for (uint32_t i = 0; i < MANY_N; i++) {
        many_draft(i, &d, names, mptr, ips);
        bad += keypol_intern(&d) != p[i];
        bad += p[i]->refs != 2;
        bad += !matches(p[i], &d);
    }
    T_EQ_I64(bad, 0);
    T_EQ_I64(keypol_count(), MANY_N);
    /* Release in a random order, one reference each; then release the
     * first half completely and check the second half is untouched. */
    for (uint32_t i = 0; i < MANY_N; i++)
        order[i] = i;
    for (uint32_t i = MANY_N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(prng() % (i + 1));
        uint32_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (uint32_t i = 0; i < MANY_N; i++)
        keypol_release(p[order[i]]);
    T_EQ_I64(keypol_count(), MANY_N);
    for (uint32_t i = 0; i < MANY_N / 2; i++)
        keypol_release(p[order[i]]);
    T_EQ_I64(keypol_count(), MANY_N - MANY_N / 2);
    for (uint32_t i = MANY_N / 2; i < MANY_N; i++) {
        many_draft(order[i], &d, names, mptr, ips);
        bad += !matches(p[order[i]], &d);
        bad += p[order[i]]->refs != 1;
        /* Interning a released one gives a fresh, correct record. */
        many_draft(order[i - MANY_N / 2], &d, names, mptr, ips);
        const keypol *x = keypol_intern(&d);
        bad += x == NULL || !matches(x, &d) || x->refs != 1;
        keypol_release(x);
    }
    T_EQ_I64(bad, 0);
    for (uint32_t i = MANY_N / 2; i < MANY_N; i++)
        keypol_release(p[order[i]]);
    T_EQ_I64(keypol_count(), 0);
}

/* Threads intern and release one shared policy and their own ones at the
 * same time (run under ASan: any race on a freed record shows up). */
typedef struct thr {
    int id;
    const keypol *shared;               /* main's record for the shared draft */
    size_t bad;
} thr;

static pthread_barrier_t start_barrier;

static void thread_draft(int id, int k, keypol_draft *d, char *name,
                         size_t cap, char **mptr)
{
    keypol_draft_none(d);
    /* k < THREAD_DISTINCT / 2: the same across threads; else per thread. */
    int owner = k < THREAD_DISTINCT / 2 ? -1 : id;
    d->cap_day = k;
    d->cap_month = owner;
    snprintf(name, cap, "m-%d-%d", owner, k);
    mptr[0] = name;
    d->n_models = 1;
    d->models = mptr;
}

static void *thread_main(void *arg)
{
    thr *t = arg;
    const keypol *held[THREAD_HELD] = {0};
    uint64_t rng = (uint64_t)t->id * 7919u + 1;
    keypol_draft shared, d;
    keypol_draft_of(&shared, t->shared);
    char name[32];
    char *mptr[1];
    pthread_barrier_wait(&start_barrier);
    for (int it = 0; it < THREAD_ITERS; it++) {
        rng = rng * UINT64_C(6364136223846793005) + 1442695040888963407u;
        int k = (int)((rng >> 33) % THREAD_DISTINCT);
        int slot = (int)((rng >> 20) % THREAD_HELD);
        const keypol *s = keypol_intern(&shared);
        t->bad += s != t->shared;
        thread_draft(t->id, k, &d, name, sizeof name, mptr);
        const keypol *p = keypol_intern(&d);
        t->bad += p == NULL || !matches(p, &d);
        /* ids resolve without the mutex while other threads intern and
         * release (and the directory gains chunks) */
        t->bad += p != NULL && keypol_at(p->id) != p;
        t->bad += keypol_at(t->shared->id) != t->shared;
        keypol_release(held[slot]);
        held[slot] = p;
        keypol_release(s);
    }
    for (int i = 0; i < THREAD_HELD; i++)
        keypol_release(held[i]);
    return NULL;
}

static void test_threads(void)
{
    T_EQ_I64(keypol_count(), 0);
    static char *const shared_models[] = {"shared-a", "shared-b"};
    keypol_draft sd;
    keypol_draft_none(&sd);
    sd.quota_total = 777;
    sd.n_models = 2;
    sd.models = shared_models;
    const keypol *shared = keypol_intern(&sd);
    T_REQUIRE(shared != NULL);
    T_REQUIRE(pthread_barrier_init(&start_barrier, NULL, THREADS) == 0);
    thr t[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        t[i] = (thr){.id = i, .shared = shared};
        T_REQUIRE(pthread_create(&th[i], NULL, thread_main, &t[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        T_CHECK(pthread_join(th[i], NULL) == 0);
        T_EQ_I64(t[i].bad, 0);
    }
    pthread_barrier_destroy(&start_barrier);
    T_EQ_I64(shared->refs, 1);
    T_EQ_I64(keypol_count(), 1);
    T_CHECK(matches(shared, &sd));
    keypol_release(shared);
    T_EQ_I64(keypol_count(), 0);
}

/* Ids: unique among live records, resolved by keypol_at, cleared on the
 * last release and reused afterwards (so the directory stays as small as
 * the largest number of records alive at once). */
static void test_ids(void)
{
    static const keypol *p[MANY_N];
    static uint8_t seen[MANY_N + 2];
    char names[3][32];
    char *mptr[3];
    ipnet_range ips[2];
    keypol_draft d;
    size_t bad = 0;
    T_EQ_I64(keypol_at(KEYPOL_ID_NONE) == NULL, 1);
    T_EQ_I64(keypol_id(NULL), KEYPOL_ID_NONE);
    uint32_t id_max = 0;
    for (uint32_t i = 0; i < MANY_N; i++) {
        many_draft(i, &d, names, mptr, ips);
        p[i] = keypol_intern(&d);
        T_REQUIRE(p[i] != NULL);
        if (p[i]->id > id_max)
            id_max = p[i]->id;
    }
    T_CHECK(id_max <= MANY_N + 1);
    for (uint32_t i = 0; i < MANY_N; i++) {
        uint32_t id = p[i]->id;
        bad += id == KEYPOL_ID_NONE || id > MANY_N + 1 || seen[id]++ != 0;
        bad += keypol_at(id) != p[i] || keypol_id(p[i]) != id;
    }
    T_EQ_I64(bad, 0);
    uint32_t freed[MANY_N / 2];
    for (uint32_t i = 0; i < MANY_N / 2; i++) {
        freed[i] = p[i]->id;
        keypol_release(p[i]);
        bad += keypol_at(freed[i]) != NULL;
    }
    T_EQ_I64(bad, 0);
    /* New records take the freed ids, not new ones. */
    for (uint32_t i = 0; i < MANY_N / 2; i++) {
        many_draft(MANY_N + i, &d, names, mptr, ips);
        p[i] = keypol_intern(&d);
        T_REQUIRE(p[i] != NULL);
        bad += p[i]->id > id_max || keypol_at(p[i]->id) != p[i];
    }
    T_EQ_I64(bad, 0);
    for (uint32_t i = 0; i < MANY_N; i++)
        keypol_release(p[i]);
    T_EQ_I64(keypol_count(), 0);
    (void)freed;
}

int main(void)
{
    T_RUN(test_draft_none);
    T_RUN(test_intern_and_distinct);
    T_RUN(test_copies);
    T_RUN(test_draft_of);
    T_RUN(test_refcount);
    T_RUN(test_many);
    T_RUN(test_ids);
    T_RUN(test_threads);
    return t_done();
}
