/* SPDX-License-Identifier: Apache-2.0 */
/* Containers: src/util/buf.h, src/util/hmap.h, src/util/arena.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/hmap.h"
#include "util/hset.h"
#include "util/itab.h"
#include "util/shared.h"
#include "util/sort.h"
#include "util/xalloc.h"

/* ====== buf ====== */

static void test_buf_basic(void **state)
{
    struct buf b;
    char *s;

    (void)state;
    buf_init(&b, 1024);
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_adds(&b, "hello"), 0);
    assert_int_equal(buf_addc(&b, ' '), 0);
    assert_int_equal(buf_addf(&b, "%s %d", "world", 42), 0);
    assert_int_equal(buf_add(&b, "!\0x", 1), 0);
    assert_string_equal(b.ptr, "hello world 42!");
    assert_int_equal(b.len, 15);
    assert_true(b.cap > b.len);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.ptr, "");
    assert_int_equal(buf_adds(&b, "again"), 0);
    s = buf_take(&b);
    assert_string_equal(s, "again");
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
    free(s);
    /* taking from an empty buffer gives an empty owned string */
    s = buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    buf_free(&b);
}

static void test_buf_binary(void **state)
{
    struct buf b;
    const char data[] = {'a', '\0', 'b'};

    (void)state;
    buf_init(&b, 100);
    assert_int_equal(buf_add(&b, data, 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.ptr, data, 3);
    assert_int_equal(b.ptr[3], '\0');
    assert_int_equal(buf_add(&b, "", 0), 0);
    assert_int_equal(b.len, 3);
    buf_free(&b);
}

static void test_buf_limit(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_adds(&b, "0123456789"), 0); /* exactly the limit */
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_addc(&b, 'x'), -E2BIG);
    /* emptied: a truncated result is never used */
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
    /* every later add fails too: nothing is appended to a fresh buffer */
    assert_int_equal(buf_adds(&b, "abc"), -E2BIG);
    assert_int_equal(buf_add(&b, "", 0), -E2BIG);
    buf_reserve(&b, 5);
    assert_null(b.ptr);
    buf_reset(&b);
    assert_int_equal(buf_adds(&b, "abc"), -E2BIG);
    /* usable again once freed */
    buf_free(&b);
    assert_int_equal(buf_adds(&b, "abc"), 0);
    assert_string_equal(b.ptr, "abc");
    assert_int_equal(buf_adds(&b, "12345678"), -E2BIG);
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
    /* a single add larger than the limit */
    buf_free(&b);
    assert_int_equal(buf_add(&b, "0123456789A", 11), -E2BIG);
    assert_null(b.ptr);
    buf_free(&b);
    /* huge lengths do not wrap around */
    assert_int_equal(buf_adds(&b, "ab"), 0);
    assert_int_equal(buf_add(&b, "x", SIZE_MAX), -E2BIG);
    assert_null(b.ptr);
    buf_free(&b);
}

static void test_buf_addf_limit_and_large(void **state)
{
    struct buf b;
    char big[3000];

    (void)state;
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_init(&b, 1 << 20);
    /* formatted output larger than any internal scratch space */
    assert_int_equal(buf_addf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, sizeof(big) + 1);
    assert_int_equal(b.ptr[0], '[');
    assert_int_equal(b.ptr[b.len - 1], ']');
    buf_free(&b);
    buf_init(&b, 100);
    assert_int_equal(buf_addf(&b, "%s", big), -E2BIG);
    assert_null(b.ptr);
    buf_free(&b);
    assert_int_equal(buf_addf(&b, "%05d", 42), 0);
    assert_string_equal(b.ptr, "00042");
    buf_free(&b);
}

static void test_buf_growth(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_addf(&b, "%04d\n", i % 10000), 0);
    assert_int_equal(b.len, 50000);
    assert_memory_equal(b.ptr + 5 * 1234, "1234\n", 5);
    assert_int_equal(strlen(b.ptr), b.len);
    buf_free(&b);
    assert_null(b.ptr);
    buf_free(&b); /* twice is harmless */
}

/* Growing by doubling never allocates past the limit: a buffer limited to
 * 1,000 bytes once grew to 2,048 on its way to 1,000. */
static void test_buf_growth_capped_by_limit(void **state)
{
    char chunk[300];
    struct buf b;

    (void)state;
    memset(chunk, 'x', sizeof(chunk));
    buf_init(&b, 1000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(buf_add(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(buf_add(&b, chunk, 100), 0);
    assert_int_equal(b.len, 1000);
    assert_true(b.cap <= 1001);
    assert_int_equal(b.ptr[1000], '\0');
    assert_int_equal(buf_add(&b, "x", 1), -E2BIG);
    assert_null(b.ptr);
    buf_free(&b);
}

/* Reserved room is used without growing again, is capped by the limit, and
 * a taken buffer keeps only what was written. */
static void test_buf_reserve_and_take(void **state)
{
    struct buf b;
    size_t cap;
    char *s;

    (void)state;
    buf_init(&b, 1 << 20);
    buf_reserve(&b, 50000);
    cap = b.cap;
    assert_true(cap >= 50001);
    assert_string_equal(b.ptr, "");
    buf_reserve(&b, 10); /* room enough: unchanged */
    assert_int_equal(b.cap, cap);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_addf(&b, "%04d\n", i), 0);
    assert_int_equal(b.cap, cap);
    s = buf_take(&b);
    assert_int_equal(strlen(s), 50000);
    assert_memory_equal(s + 5 * 9999, "9999\n", 5);
    free(s);
    /* reserved but never written: an empty string */
    buf_reserve(&b, 100000);
    s = buf_take(&b);
    assert_string_equal(s, "");
    free(s);
    /* never past the limit */
    buf_init(&b, 100);
    buf_reserve(&b, 1 << 20);
    assert_true(b.cap <= 101);
    assert_int_equal(buf_add(&b, "x", 1), 0);
    buf_free(&b);
}

/* ====== hmap ====== */

static void test_hmap_basic(void **state)
{
    struct hmap m;
    int a = 1, b = 2, c = 3;

    (void)state;
    hmap_init(&m);
    assert_null(hmap_get(&m, "x"));
    assert_null(hmap_del(&m, "x"));
    assert_null(hmap_put(&m, "a", &a));
    assert_null(hmap_put(&m, "b", &b));
    assert_ptr_equal(hmap_get(&m, "a"), &a);
    assert_ptr_equal(hmap_get(&m, "b"), &b);
    assert_null(hmap_get(&m, "c"));
    assert_null(hmap_get(&m, ""));
    /* replace returns the previous value */
    assert_ptr_equal(hmap_put(&m, "a", &c), &a);
    assert_ptr_equal(hmap_get(&m, "a"), &c);
    assert_int_equal(m.used, 2);
    /* the empty string is a key like any other */
    assert_null(hmap_put(&m, "", &a));
    assert_ptr_equal(hmap_get(&m, ""), &a);
    assert_ptr_equal(hmap_del(&m, ""), &a);
    assert_null(hmap_get(&m, ""));
    assert_ptr_equal(hmap_del(&m, "a"), &c);
    assert_null(hmap_get(&m, "a"));
    assert_null(hmap_del(&m, "a"));
    assert_int_equal(m.used, 1);
    hmap_deinit(&m);
    assert_int_equal(m.used, 0);
    assert_int_equal(m.cap, 0);
}

static void test_hmap_keys_copied(void **state)
{
    struct hmap m;
    char key[16];
    int v = 7;

    (void)state;
    hmap_init(&m);
    snprintf(key, sizeof(key), "%s", "volatile");
    hmap_put(&m, key, &v);
    memset(key, 'X', sizeof(key) - 1);
    assert_ptr_equal(hmap_get(&m, "volatile"), &v);
    hmap_deinit(&m);
}

static void test_hmap_keys_borrowed(void **state)
{
    struct hmap m;
    char a[] = "first", b[] = "second", again[] = "first";
    const char *k;
    int v = 7, w = 8;
    size_t i = 0;

    (void)state;
    hmap_init_borrowing(&m);
    hmap_put(&m, a, &v);
    hmap_put(&m, b, &w);
    /* the map holds the caller's pointer: nothing copied, nothing freed */
    assert_true(hmap_next(&m, &i, &k, NULL));
    assert_true(k == a || k == b);
    assert_ptr_equal(hmap_del(&m, "second"), &w);
    assert_ptr_equal(hmap_get(&m, "first"), &v);
    /* a replaced value brings its own key: the old one may be freed */
    assert_ptr_equal(hmap_put(&m, again, &w), &v);
    i = 0;
    assert_true(hmap_next(&m, &i, &k, NULL));
    assert_ptr_equal(k, again);
    hmap_deinit(&m);
    assert_true(m.borrow);
    hmap_put(&m, a, &v);
    assert_ptr_equal(hmap_get(&m, "first"), &v);
    hmap_deinit(&m);
}

#define N_KEYS 5000

static void test_hmap_many(void **state)
{
    struct hmap m;
    static int vals[N_KEYS];
    char key[32];
    unsigned char *seen;
    const char *k;
    void *v;
    size_t n;

    (void)state;
    hmap_init(&m);
    for (int i = 0; i < N_KEYS; i++) {
        vals[i] = i;
        snprintf(key, sizeof(key), "ns-%d/name-%d", i % 37, i);
        assert_null(hmap_put(&m, key, &vals[i]));
    }
    assert_int_equal(m.used, N_KEYS);
    assert_true(m.cap >= N_KEYS);
    assert_int_equal(m.cap & (m.cap - 1), 0); /* power of two */
    for (int i = 0; i < N_KEYS; i++) {
        snprintf(key, sizeof(key), "ns-%d/name-%d", i % 37, i);
        assert_ptr_equal(hmap_get(&m, key), &vals[i]);
    }
    /* delete the even ones */
    for (int i = 0; i < N_KEYS; i += 2) {
        snprintf(key, sizeof(key), "ns-%d/name-%d", i % 37, i);
        assert_ptr_equal(hmap_del(&m, key), &vals[i]);
    }
    assert_int_equal(m.used, N_KEYS / 2);
    for (int i = 0; i < N_KEYS; i++) {
        snprintf(key, sizeof(key), "ns-%d/name-%d", i % 37, i);
        if (i % 2)
            assert_ptr_equal(hmap_get(&m, key), &vals[i]);
        else
            assert_null(hmap_get(&m, key));
    }
    /* iteration visits every live key exactly once */
    seen = calloc(N_KEYS, 1);
    n = 0;
    for (size_t it = 0; hmap_next(&m, &it, &k, &v);) {
        int i = *(int *)v;

        assert_true(i % 2 == 1);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        snprintf(key, sizeof(key), "ns-%d/name-%d", i % 37, i);
        assert_string_equal(k, key);
        n++;
    }
    assert_int_equal(n, N_KEYS / 2);
    free(seen);
    /* NULL out-pointers are allowed */
    n = 0;
    for (size_t it = 0; hmap_next(&m, &it, NULL, NULL);)
        n++;
    assert_int_equal(n, N_KEYS / 2);
    /* re-insert the deleted ones: tombstones are reused or cleaned */
    for (int i = 0; i < N_KEYS; i += 2) {
        snprintf(key, sizeof(key), "ns-%d/name-%d", i % 37, i);
        assert_null(hmap_put(&m, key, &vals[i]));
    }
    assert_int_equal(m.used, N_KEYS);
    for (int i = 0; i < N_KEYS; i++) {
        snprintf(key, sizeof(key), "ns-%d/name-%d", i % 37, i);
        assert_ptr_equal(hmap_get(&m, key), &vals[i]);
    }
    hmap_deinit(&m);
}

/* Many put/del cycles with a small live set: tombstones must not fill the
 * table (which would make lookups of absent keys loop forever). */
static void test_hmap_churn(void **state)
{
    struct hmap m;
    char key[32];
    int v = 1;

    (void)state;
    hmap_init(&m);
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_null(hmap_put(&m, key, &v));
        if (i >= 3) {
            snprintf(key, sizeof(key), "k%d", i - 3);
            assert_ptr_equal(hmap_del(&m, key), &v);
        }
    }
    assert_int_equal(m.used, 3);
    assert_true(m.cap <= 64);
    assert_null(hmap_get(&m, "absent"));
    assert_ptr_equal(hmap_get(&m, "k99999"), &v);
    assert_null(hmap_get(&m, "k99996"));
    hmap_deinit(&m);
}

/* ====== hset ====== */

struct rec {
    int id;
    const char *name; /* the key: not at offset 0 */
    char buf[32];
};

static struct rec *rec_new(int id)
{
    struct rec *r = xcalloc(1, sizeof(*r));

    r->id = id;
    snprintf(r->buf, sizeof(r->buf), "ns/name-%d", id);
    r->name = r->buf;
    return r;
}

static void test_hset_basic(void **state)
{
    struct hset s;
    struct rec a = {1, "a", ""}, b = {2, "b", ""}, a2 = {3, "a", ""}, e = {4, "", ""};
    void *r;
    size_t i = 0;

    (void)state;
    hset_init(&s, offsetof(struct rec, name));
    assert_null(hset_get(&s, "a"));
    assert_null(hset_del(&s, "a"));
    assert_false(hset_next(&s, &i, &r));
    assert_null(hset_put(&s, &a));
    assert_null(hset_put(&s, &b));
    assert_ptr_equal(hset_get(&s, "a"), &a);
    assert_ptr_equal(hset_get(&s, "b"), &b);
    assert_null(hset_get(&s, "c"));
    /* a record of the same key replaces the stored one, which is returned */
    assert_ptr_equal(hset_put(&s, &a2), &a);
    assert_ptr_equal(hset_get(&s, "a"), &a2);
    assert_int_equal(s.used, 2);
    assert_null(hset_put(&s, &e));
    assert_ptr_equal(hset_get(&s, ""), &e);
    assert_ptr_equal(hset_del(&s, ""), &e);
    assert_ptr_equal(hset_del(&s, "a"), &a2);
    assert_null(hset_get(&s, "a"));
    assert_int_equal(s.used, 1);
    hset_deinit(&s);
    assert_int_equal(s.cap, 0);
    /* the key offset survives deinit */
    assert_null(hset_put(&s, &b));
    assert_ptr_equal(hset_get(&s, "b"), &b);
    hset_deinit(&s);
}

static void test_hset_many(void **state)
{
    struct hset s;
    struct rec **recs = xcalloc(N_KEYS, sizeof(*recs));
    unsigned char *seen = xcalloc(N_KEYS, 1);
    char key[32];
    void *r;
    size_t n = 0;

    (void)state;
    hset_init(&s, offsetof(struct rec, name));
    for (int i = 0; i < N_KEYS; i++) {
        recs[i] = rec_new(i);
        assert_null(hset_put(&s, recs[i]));
    }
    assert_int_equal(s.used, N_KEYS);
    assert_true(N_KEYS * 4 < s.cap * 3); /* under three quarters full */
    for (int i = 0; i < N_KEYS; i += 2) {
        snprintf(key, sizeof(key), "ns/name-%d", i);
        assert_ptr_equal(hset_del(&s, key), recs[i]);
    }
    for (int i = 0; i < N_KEYS; i++) {
        snprintf(key, sizeof(key), "ns/name-%d", i);
        assert_ptr_equal(hset_get(&s, key), i % 2 ? recs[i] : NULL);
    }
    for (size_t it = 0; hset_next(&s, &it, &r);) {
        const struct rec *x = r;

        assert_true(x->id % 2 == 1);
        assert_int_equal(seen[x->id], 0);
        seen[x->id] = 1;
        n++;
    }
    assert_int_equal(n, N_KEYS / 2);
    /* churn with a small live set: tombstones do not fill the table */
    for (int i = 0; i < N_KEYS; i += 2)
        assert_null(hset_put(&s, recs[i]));
    for (int i = 0; i < N_KEYS; i++) {
        snprintf(key, sizeof(key), "ns/name-%d", i);
        assert_ptr_equal(hset_del(&s, key), recs[i]);
    }
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N_KEYS; i++) {
            assert_null(hset_put(&s, recs[i]));
            if (i >= 3) {
                snprintf(key, sizeof(key), "ns/name-%d", i - 3);
                assert_ptr_equal(hset_del(&s, key), recs[i - 3]);
            }
        }
        for (int i = N_KEYS - 3; i < N_KEYS; i++) {
            snprintf(key, sizeof(key), "ns/name-%d", i);
            assert_ptr_equal(hset_del(&s, key), recs[i]);
        }
    }
    assert_int_equal(s.used, 0);
    assert_true(s.cap <= 8192);
    assert_null(hset_get(&s, "absent"));
    hset_deinit(&s);
    for (int i = 0; i < N_KEYS; i++)
        free(recs[i]);
    free(recs);
    free(seen);
}

/* ====== itab ====== */

/* Records found by key at their positions, every key once, in a table sized
 * for exactly as many as were added. */
static void test_itab(void **state)
{
    struct rec *recs = xcalloc(N_KEYS, sizeof(*recs));
    struct itab t;
    uint32_t *slot;
    size_t n = 0;

    (void)state;
    itab_init(&t, N_KEYS, recs, sizeof(*recs), offsetof(struct rec, name));
    assert_true(N_KEYS * 4 <= (t.mask + 1) * 3);
    for (int i = 0; i < N_KEYS; i++) {
        /* half the keys come twice: the second finds the first's record */
        snprintf(recs[n].buf, sizeof(recs[n].buf), "ns/name-%d", i / 2);
        slot = itab_slot(&t, recs[n].buf);
        if (*slot) {
            assert_int_equal(i % 2, 1);
            assert_int_equal(recs[*slot - 1].id, i / 2);
            continue;
        }
        assert_int_equal(i % 2, 0);
        recs[n].id = i / 2;
        recs[n].name = recs[n].buf;
        *slot = (uint32_t)++n;
    }
    assert_int_equal(n, N_KEYS / 2);
    for (int i = 0; i < N_KEYS / 2; i++) {
        char key[32];

        snprintf(key, sizeof(key), "ns/name-%d", i);
        slot = itab_slot(&t, key);
        assert_int_not_equal(*slot, 0);
        assert_int_equal(recs[*slot - 1].id, i);
        assert_string_equal(recs[*slot - 1].name, key);
    }
    assert_int_equal(*itab_slot(&t, "ns/name-absent"), 0);
    assert_int_equal(*itab_slot(&t, ""), 0);
    itab_deinit(&t);
    assert_null(t.slots);
    /* a table for none still answers */
    itab_init(&t, 0, recs, sizeof(*recs), offsetof(struct rec, name));
    assert_int_equal(*itab_slot(&t, "a"), 0);
    itab_deinit(&t);
    free(recs);
}

/* ====== sort_in_place ====== */

struct triple {
    uint32_t key;
    char pad[20]; /* an element wider than a word, as the model's are */
};

static int cmp_triple(const void *a, const void *b)
{
    uint32_t x = ((const struct triple *)a)->key, y = ((const struct triple *)b)->key;

    return x < y ? -1 : x > y;
}

/* Every length up to a few hundred, with repeated keys, in the order
 * qsort() gives. */
static void test_sort_in_place(void **state)
{
    struct triple *v = xcalloc(600, sizeof(*v)), *w = xcalloc(600, sizeof(*w));
    uint32_t seed = 12345;

    (void)state;
    sort_in_place(NULL, 0, sizeof(*v), cmp_triple);
    for (size_t n = 1; n <= 600; n += n < 20 ? 1 : 37) {
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            v[i].key = (seed >> 16) % (n / 2 + 1);
            snprintf(v[i].pad, sizeof(v[i].pad), "%u", v[i].key);
        }
        memcpy(w, v, n * sizeof(*v));
        qsort(w, n, sizeof(*w), cmp_triple);
        sort_in_place(v, n, sizeof(*v), cmp_triple);
        for (size_t i = 0; i < n; i++) {
            char pad[20];

            assert_int_equal(v[i].key, w[i].key);
            /* elements moved whole */
            snprintf(pad, sizeof(pad), "%u", v[i].key);
            assert_string_equal(v[i].pad, pad);
        }
    }
    free(v);
    free(w);
}

/* Distinct keys (the model's arrays: names), every length up to a few
 * hundred, elements moved whole, by the merge sort of indexes. */
static void test_sort_in_place_distinct(void **state)
{
    struct triple *v = xcalloc(600, sizeof(*v));
    uint32_t seed = 54321;

    (void)state;
    for (size_t n = 1; n <= 600; n += n < 40 ? 1 : 53) {
        for (size_t i = 0; i < n; i++)
            v[i].key = (uint32_t)i;
        for (size_t i = n; i > 1; i--) {
            struct triple t;
            size_t k;

            seed = seed * 1103515245u + 12345u;
            k = (seed >> 16) % i;
            t = v[i - 1];
            v[i - 1] = v[k];
            v[k] = t;
        }
        for (size_t i = 0; i < n; i++)
            snprintf(v[i].pad, sizeof(v[i].pad), "%u", v[i].key);
        sort_in_place(v, n, sizeof(*v), cmp_triple);
        for (size_t i = 0; i < n; i++) {
            char pad[20];

            assert_int_equal(v[i].key, i);
            snprintf(pad, sizeof(pad), "%u", v[i].key);
            assert_string_equal(v[i].pad, pad);
        }
    }
    free(v);
}

static void test_hash_fnv1a(void **state)
{
    (void)state;
    /* published FNV-1a 64-bit test vectors */
    assert_true(hash_fnv1a("", 0) == 0xcbf29ce484222325ULL);
    assert_true(hash_fnv1a("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(hash_fnv1a("foobar", 6) == 0x85944171f73967e8ULL);
}

/* ====== arena ====== */

static void test_arena_strings(void **state)
{
    struct arena a;
    char *s, *t, *u, *p;

    (void)state;
    arena_init(&a);
    s = arena_strdup(&a, "hello");
    t = arena_strndup(&a, "world!!!", 5);
    u = arena_printf(&a, "%s-%d", "n", 7);
    assert_string_equal(s, "hello");
    assert_string_equal(t, "world");
    assert_string_equal(u, "n-7");
    assert_null(arena_strdup(&a, NULL));
    p = arena_strdup(&a, "");
    assert_string_equal(p, "");
    assert_true(a.total > 0);
    /* strings do not overlap */
    assert_true(s + 6 <= t || t + 6 <= s);
    arena_deinit(&a);
    assert_null(a.head);
    assert_int_equal(a.total, 0);
}

/* A shared block lives until its last reference goes; what it holds is
 * the last holder's to free (valgrind and ASan see a leak or a double
 * free). */
static void test_shared_blocks(void **state)
{
    long double *v = shared_new(4 * sizeof(*v));
    struct arena *a = shared_new(sizeof(*a));

    (void)state;
    assert_int_equal((uintptr_t)v % _Alignof(max_align_t), 0);
    for (int i = 0; i < 4; i++)
        assert_true(v[i] == 0);
    assert_ptr_equal(shared_ref(v), v);
    assert_null(shared_ref(NULL));
    shared_unref(v);
    v[3] = 1; /* one reference left */
    shared_unref(v);
    shared_unref(NULL);
    arena_init(a);
    arena_strdup(a, "held");
    shared_ref(a);
    assert_false(shared_release(a));
    assert_true(shared_release(a));
    arena_deinit(a);
    shared_free(a);
    assert_false(shared_release(NULL));
}

static void test_arena_alloc(void **state)
{
    struct arena a;
    char *ptrs[2000];
    int ints[5] = {1, 2, 3, 4, 5};
    int *copy;
    unsigned char *big;
    char *small;

    (void)state;
    arena_init(&a);
    /* many allocations of varied sizes: zeroed, aligned, independent */
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(1 + (i * 37) % 300);

        ptrs[i] = arena_alloc(&a, n);
        assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
        for (size_t j = 0; j < n; j++)
            assert_int_equal(ptrs[i][j], 0);
        memset(ptrs[i], (int)(i & 0x7f) | 1, n);
    }
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(1 + (i * 37) % 300);

        for (size_t j = 0; j < n; j++)
            assert_int_equal(ptrs[i][j], (char)((i & 0x7f) | 1));
    }
    /* a block bigger than a chunk */
    big = arena_alloc(&a, 100000);
    for (size_t j = 0; j < 100000; j++)
        assert_int_equal(big[j], 0);
    memset(big, 0xab, 100000);
    small = arena_strdup(&a, "after the big block");
    assert_string_equal(small, "after the big block");
    assert_int_equal(big[99999], 0xab);
    copy = arena_memdup(&a, ints, sizeof(ints));
    assert_memory_equal(copy, ints, sizeof(ints));
    assert_ptr_not_equal(copy, ints);
    assert_non_null(arena_memdup(&a, ints, 0));
    assert_non_null(arena_alloc(&a, 0));
    arena_deinit(&a);
    /* reusable after deinit */
    small = arena_strdup(&a, "again");
    assert_string_equal(small, "again");
    arena_deinit(&a);
}

static void test_arena_big_first(void **state)
{
    struct arena a;
    char *big, *s;

    (void)state;
    arena_init(&a);
    big = arena_alloc(&a, 50000);
    s = arena_strdup(&a, "x");
    assert_string_equal(s, "x");
    assert_true(s < big || s >= big + 50000);
    arena_deinit(&a);
}

/* ====== err ====== */

static void test_errmsg(void **state)
{
    char *err = NULL;

    (void)state;
    errmsg_set(&err, "port %d not found", 80);
    assert_string_equal(err, "port 80 not found");
    errmsg_prefix(&err, "rule %d", 2);
    assert_string_equal(err, "rule 2: port 80 not found");
    errmsg_prefix(&err, "ingress %s", "a/b");
    assert_string_equal(err, "ingress a/b: rule 2: port 80 not found");
    errmsg_set(&err, "replaced");
    assert_string_equal(err, "replaced");
    free(err);
    err = NULL;
    errmsg_prefix(&err, "only %s", "prefix");
    assert_string_equal(err, "only prefix");
    free(err);
    errmsg_set(NULL, "ignored %d", 1);
    errmsg_prefix(NULL, "ignored %d", 1);
}

static void test_xalloc(void **state)
{
    int *p = NULL;
    size_t cap = 0;
    char *s;

    (void)state;
    p = xgrow(p, &cap, 1, sizeof(*p));
    assert_true(cap >= 1);
    p = xgrow(p, &cap, 1000, sizeof(*p));
    assert_true(cap >= 1000);
    for (int i = 0; i < 1000; i++)
        p[i] = i;
    assert_int_equal(p[999], 999);
    free(p);
    s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = xasprintf("%s=%u", "k", 5u);
    assert_string_equal(s, "k=5");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_basic),
        cmocka_unit_test(test_buf_binary),
        cmocka_unit_test(test_buf_limit),
        cmocka_unit_test(test_buf_addf_limit_and_large),
        cmocka_unit_test(test_buf_reserve_and_take),
        cmocka_unit_test(test_buf_growth),
        cmocka_unit_test(test_buf_growth_capped_by_limit),
        cmocka_unit_test(test_hset_basic),
        cmocka_unit_test(test_hset_many),
        cmocka_unit_test(test_hmap_basic),
        cmocka_unit_test(test_hmap_keys_copied),
        cmocka_unit_test(test_hmap_keys_borrowed),
        cmocka_unit_test(test_hmap_many),
        cmocka_unit_test(test_hmap_churn),
        cmocka_unit_test(test_itab),
        cmocka_unit_test(test_sort_in_place),
        cmocka_unit_test(test_sort_in_place_distinct),
        cmocka_unit_test(test_hash_fnv1a),
        cmocka_unit_test(test_arena_strings),
        cmocka_unit_test(test_arena_alloc),
        cmocka_unit_test(test_shared_blocks),
        cmocka_unit_test(test_arena_big_first),
        cmocka_unit_test(test_errmsg),
        cmocka_unit_test(test_xalloc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
