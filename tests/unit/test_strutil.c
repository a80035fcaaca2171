/* SPDX-License-Identifier: Apache-2.0 */
/* Small string helpers: src/util/strutil.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

static void test_distance(void **state)
{
    (void)state;
    assert_int_equal(str_distance("", ""), 0);
    assert_int_equal(str_distance("abc", "abc"), 0);
    assert_int_equal(str_distance("", "abc"), 3);
    assert_int_equal(str_distance("abc", ""), 3);
    assert_int_equal(str_distance("kitten", "sitting"), 3);
    assert_int_equal(str_distance("sitting", "kitten"), 3);
    assert_int_equal(str_distance("flaw", "lawn"), 2);
    assert_int_equal(str_distance("ssl-redirekt", "ssl-redirect"), 1);
    assert_int_equal(str_distance("maxcon", "maxconn"), 1);
    assert_int_equal(str_distance("abc", "acb"), 2); /* no transposition */
    assert_int_equal(str_distance("a", "b"), 1);
}

static void test_distance_bounded(void **state)
{
    char a[400], b[400];

    (void)state;
    /* Only the first 255 bytes count, and long inputs are safe. */
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[300] = 'y';
    assert_int_equal(str_distance(a, b), 0);
    b[10] = 'y';
    assert_int_equal(str_distance(a, b), 1);
    assert_int_equal(str_distance(a, ""), 255);
    assert_int_equal(str_distance("", b), 255);
}

static const char *const words[] = {"ssl-redirect",    "ssl-redirect-code", "timeout-connect",
                                    "timeout-client",  "timeout-server",    "maxconn",
                                    "nbthread",        NULL};

static const char *next_word(void *arg, size_t i)
{
    const char *const *w = arg;

    return w[i];
}

static const char *none(void *arg, size_t i)
{
    (void)arg;
    (void)i;
    return NULL;
}

static void test_closest(void **state)
{
    (void)state;
    assert_string_equal(str_closest("ssl-redirekt", next_word, (void *)words), "ssl-redirect");
    assert_string_equal(str_closest("ssl-redirect", next_word, (void *)words), "ssl-redirect");
    assert_string_equal(str_closest("ssl-redirect-cod", next_word, (void *)words),
                        "ssl-redirect-code");
    assert_string_equal(str_closest("timeout-conect", next_word, (void *)words),
                        "timeout-connect");
    assert_string_equal(str_closest("timeout-sever", next_word, (void *)words),
                        "timeout-server");
    assert_string_equal(str_closest("maxcon", next_word, (void *)words), "maxconn");
    assert_string_equal(str_closest("nbthreads", next_word, (void *)words), "nbthread");
    /* nothing plausible */
    assert_null(str_closest("zzzzzz", next_word, (void *)words));
    assert_null(str_closest("rewrite-target", next_word, (void *)words));
    assert_null(str_closest("x", next_word, (void *)words));
    assert_null(str_closest("ssl-redirekt", none, NULL));
}

static void test_has_prefix(void **state)
{
    (void)state;
    assert_true(str_has_prefix("portico.dev/ssl-redirect", "portico.dev/"));
    assert_true(str_has_prefix("abc", ""));
    assert_true(str_has_prefix("abc", "abc"));
    assert_false(str_has_prefix("ab", "abc"));
    assert_false(str_has_prefix("haproxy.org/x", "portico.dev/"));
}

static void u32_ok(const char *s, uint32_t lo, uint32_t hi, uint32_t expect)
{
    uint32_t v = 12345;

    if (str_to_u32(s, lo, hi, &v) != 0)
        fail_msg("\"%s\" in [%u, %u] refused", s, lo, hi);
    assert_int_equal(v, expect);
}

static void u32_bad(const char *s, uint32_t lo, uint32_t hi)
{
    uint32_t v = 12345;

    if (str_to_u32(s, lo, hi, &v) != -EINVAL)
        fail_msg("\"%s\" in [%u, %u] accepted", s, lo, hi);
    assert_int_equal(v, 12345); /* untouched on failure */
}

static void test_same_and_sort(void **state)
{
    const char *v[] = {"b", "", "ab", "a"};
    char copy[] = "ab";

    (void)state;
    assert_true(str_same(NULL, NULL));
    assert_true(str_same("ab", copy));
    assert_false(str_same("ab", NULL));
    assert_false(str_same(NULL, "ab"));
    assert_false(str_same("ab", "a"));
    qsort(v, 4, sizeof(*v), str_cmp_ptrs);
    assert_string_equal(v[0], "");
    assert_string_equal(v[1], "a");
    assert_string_equal(v[2], "ab");
    assert_string_equal(v[3], "b");
}

static void test_concat(void **state)
{
    char buf[8];

    (void)state;
    assert_string_equal(str_concat(buf, sizeof(buf), "ns", "/", "name", NULL), "ns/name");
    assert_string_equal(str_concat(buf, sizeof(buf), NULL), "");
    assert_string_equal(str_concat(buf, sizeof(buf), "", "a", "", NULL), "a");
    /* cut to fit, always terminated */
    assert_string_equal(str_concat(buf, sizeof(buf), "namespace", "/", "x", NULL), "namespa");
    assert_string_equal(str_concat(buf, sizeof(buf), "abcd", "efgh", NULL), "abcdefg");
    assert_string_equal(str_concat(buf, 1, "abc", NULL), "");
}

static void test_u32(void **state)
{
    (void)state;
    u32_ok("0", 0, 10, 0);
    u32_ok("10", 0, 10, 10);
    u32_ok("80", 1, 65535, 80);
    u32_ok("007", 0, 10, 7);
    u32_ok("4294967295", 0, UINT32_MAX, UINT32_MAX);
    u32_ok("308", 301, 308, 308);
    u32_bad("11", 0, 10);
    u32_bad("0", 1, 65535);
    u32_bad("65536", 1, 65535);
    u32_bad("4294967296", 0, UINT32_MAX);
    u32_bad("9999999999", 0, UINT32_MAX);
    u32_bad("99999999999", 0, UINT32_MAX);
    u32_bad("18446744073709551617", 0, UINT32_MAX);
    u32_bad("", 0, 10);
    u32_bad("-1", 0, 10);
    u32_bad("+1", 0, 10);
    u32_bad(" 1", 0, 10);
    u32_bad("1 ", 0, 10);
    u32_bad("1\n", 0, 10);
    u32_bad("0x10", 0, 100);
    u32_bad("1.0", 0, 10);
    u32_bad("1e2", 0, 1000);
    u32_bad("abc", 0, 10);
}

static void dur_ok(const char *s, uint32_t expect)
{
    uint32_t v = 12345;

    if (str_to_duration_ms(s, &v) != 0)
        fail_msg("duration \"%s\" refused", s);
    assert_int_equal(v, expect);
}

static void dur_bad(const char *s)
{
    uint32_t v = 12345;

    if (str_to_duration_ms(s, &v) != -EINVAL)
        fail_msg("duration \"%s\" accepted (%u)", s, v);
    assert_int_equal(v, 12345);
}

static void test_duration(void **state)
{
    (void)state;
    dur_ok("250ms", 250);
    dur_ok("5s", 5000);
    dur_ok("50s", 50000);
    dur_ok("1m", 60000);
    dur_ok("2h", 7200000);
    dur_ok("1d", 86400000);
    dur_ok("100", 100);
    dur_ok("0", 0);
    dur_ok("0s", 0);
    dur_ok("2000us", 2);
    dur_ok("24d", 2073600000u);
    dur_ok("999999999", 999999999u);
    dur_ok("2147483s", 2147483000u);
    dur_bad("25d");          /* beyond HAProxy's 2^31-1 ms */
    dur_bad("2147484s");
    dur_bad("1000000000");   /* more digits than accepted */
    dur_bad("");
    dur_bad("s");
    dur_bad("ms");
    dur_bad("5 s");
    dur_bad(" 5s");
    dur_bad("5s ");
    dur_bad("5S");
    dur_bad("5sec");
    dur_bad("5ss");
    dur_bad("-5s");
    dur_bad("+5s");
    dur_bad("1.5s");
    dur_bad("5w");
    dur_bad("1h30m");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),  cmocka_unit_test(test_distance_bounded),
        cmocka_unit_test(test_closest),   cmocka_unit_test(test_has_prefix),
        cmocka_unit_test(test_u32),       cmocka_unit_test(test_duration),
        cmocka_unit_test(test_concat),   cmocka_unit_test(test_same_and_sort),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
