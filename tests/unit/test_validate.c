/* SPDX-License-Identifier: Apache-2.0 */
/* Field validators: src/model/validate.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "model/validate.h"

static char *repeat(char *dst, char c, size_t n)
{
    memset(dst, c, n);
    dst[n] = '\0';
    return dst;
}

/* Anchoring: a valid value with anything glued before or after is refused. */
static void assert_anchored(bool (*fn)(const char *), const char *valid)
{
    static const char *const suffixes[] = {"\nX", " X", "\n", " ", "\t", "\r", "/", "_", "\x7f"};
    char s[600];

    assert_true(fn(valid));
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(s, sizeof(s), "%s%s", valid, suffixes[i]);
        if (fn(s))
            fail_msg("\"%s\" + suffix %zu accepted", valid, i);
        snprintf(s, sizeof(s), "%s%s", suffixes[i], valid);
        if (fn(s))
            fail_msg("prefix %zu + \"%s\" accepted", i, valid);
    }
    snprintf(s, sizeof(s), "X%s", valid);
    assert_false(fn(s));
    snprintf(s, sizeof(s), "%s X", valid);
    assert_false(fn(s));
}

static void test_dns_label(void **state)
{
    char s[100];

    (void)state;
    assert_true(valid_dns_label("a"));
    assert_true(valid_dns_label("0"));
    assert_true(valid_dns_label("web-1"));
    assert_true(valid_dns_label("a-b-c"));
    assert_true(valid_dns_label("1abc"));
    assert_true(valid_dns_label(repeat(s, 'a', 63)));
    assert_false(valid_dns_label(repeat(s, 'a', 64)));
    assert_false(valid_dns_label(""));
    assert_false(valid_dns_label("-a"));
    assert_false(valid_dns_label("a-"));
    assert_false(valid_dns_label("A"));
    assert_false(valid_dns_label("aBc"));
    assert_false(valid_dns_label("a.b"));
    assert_false(valid_dns_label("a_b"));
    assert_false(valid_dns_label("caf\xc3\xa9"));
    assert_anchored(valid_dns_label, "web");
}

static void test_dns_subdomain(void **state)
{
    char s[300];

    (void)state;
    assert_true(valid_dns_subdomain("a"));
    assert_true(valid_dns_subdomain("foo.com"));
    assert_true(valid_dns_subdomain("a.b.c.d-e.f0"));
    assert_true(valid_dns_subdomain("tls-secret"));
    assert_false(valid_dns_subdomain(""));
    assert_false(valid_dns_subdomain("."));
    assert_false(valid_dns_subdomain("foo."));
    assert_false(valid_dns_subdomain(".foo"));
    assert_false(valid_dns_subdomain("foo..com"));
    assert_false(valid_dns_subdomain("Foo.com"));
    assert_false(valid_dns_subdomain("foo.-com"));
    assert_false(valid_dns_subdomain("foo.com-"));
    assert_false(valid_dns_subdomain("*.foo.com"));
    assert_false(valid_dns_subdomain("foo.com:80"));
    /* 63-byte labels are fine; 253 bytes in all is the limit */
    repeat(s, 'a', 63);
    assert_true(valid_dns_subdomain(s));
    repeat(s, 'a', 64);
    assert_false(valid_dns_subdomain(s));
    /* 4 x 63 + 3 dots = 255 > 253 */
    {
        char l[64];

        repeat(l, 'b', 63);
        snprintf(s, sizeof(s), "%s.%s.%s.%s", l, l, l, l);
        assert_int_equal(strlen(s), 255);
        assert_false(valid_dns_subdomain(s));
        /* 253 exactly: 3 x 63 + 61 + 3 dots */
        snprintf(s, sizeof(s), "%s.%s.%s.%.61s", l, l, l, l);
        assert_int_equal(strlen(s), 253);
        assert_true(valid_dns_subdomain(s));
        snprintf(s, sizeof(s), "%s.%s.%s.%.62s", l, l, l, l);
        assert_false(valid_dns_subdomain(s));
    }
    assert_anchored(valid_dns_subdomain, "foo.example.com");
}

static void test_host(void **state)
{
    (void)state;
    assert_true(valid_host("foo.com"));
    assert_true(valid_host("*.foo.com"));
    assert_true(valid_host("*.com"));
    assert_true(valid_host("localhost"));
    assert_false(valid_host("*"));
    assert_false(valid_host("*."));
    assert_false(valid_host("*foo.com"));
    assert_false(valid_host("foo.*.com"));
    assert_false(valid_host("*.*.foo.com"));
    assert_false(valid_host("**.foo.com"));
    assert_false(valid_host("FOO.com"));
    assert_false(valid_host("foo.com."));
    assert_false(valid_host("foo.com:8080"));
    assert_false(valid_host("1.2.3.4:80"));
    assert_false(valid_host(""));
    assert_false(valid_host("foo bar"));
    assert_false(valid_host("foo.com/x"));
    assert_false(valid_host("foo.com#x"));
    assert_anchored(valid_host, "foo.com");
    assert_anchored(valid_host, "*.foo.com");
}

static void test_port_name(void **state)
{
    char s[100];

    (void)state;
    assert_true(valid_port_name("http"));
    assert_true(valid_port_name("http-alt"));
    assert_true(valid_port_name("h2c"));
    assert_false(valid_port_name(""));
    assert_false(valid_port_name("HTTP"));
    assert_false(valid_port_name("-http"));
    assert_false(valid_port_name("http-"));
    assert_false(valid_port_name("http_alt"));
    assert_false(valid_port_name("a.b"));
    assert_false(valid_port_name(repeat(s, 'p', 64)));
    assert_anchored(valid_port_name, "http");
}

static void path_ok(const char *p, enum k8s_path_type t)
{
    const char *why = validate_path(p, t);

    if (why)
        fail_msg("path \"%s\" (type %d) refused: %s", p, (int)t, why);
}

static void path_bad(const char *p, enum k8s_path_type t)
{
    const char *why = validate_path(p, t);

    if (!why)
        fail_msg("path \"%s\" (type %d) accepted", p, (int)t);
    assert_true(strlen(why) > 0);
}

static void test_path_exact_prefix(void **state)
{
    static const enum k8s_path_type types[] = {K8S_PATH_EXACT, K8S_PATH_PREFIX};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        enum k8s_path_type t = types[i];

        path_ok("/", t);
        path_ok("/foo", t);
        path_ok("/foo/", t);
        path_ok("/foo/bar.html", t);
        path_ok("/a.b/c..d/.e", t);
        path_ok("/%20x", t);
        path_ok("/~user/a-b_c;d=e,f+g@h:i!$&'()*", t);
        path_ok("/foo?x=1", t);
        path_bad("", t);
        path_bad("foo", t);
        path_bad("foo/", t);
        path_bad("//", t);
        path_bad("/foo//bar", t);
        path_bad("/foo/./bar", t);
        path_bad("/foo/../bar", t);
        path_bad("/./", t);
        path_bad("/../", t);
        path_bad("/foo%2fbar", t);
        path_bad("/foo%2Fbar", t);
        path_bad("/foo/.", t);
        path_bad("/foo/..", t);
        path_bad("/.", t);
        path_bad("/..", t);
        path_bad("/foo bar", t);
        path_bad("/foo\tbar", t);
        path_bad("/foo\nbar", t);
        path_bad("/foo\r", t);
        path_bad("/foo\x7f", t);
        path_bad("/foo\x01", t);
        path_bad("/foo#frag", t);
        path_bad("/caf\xc3\xa9", t);
    }
}

static void test_path_impl(void **state)
{
    enum k8s_path_type t = K8S_PATH_IMPL;

    (void)state;
    path_ok("", t);
    path_ok("/", t);
    path_ok("/foo", t);
    path_ok("/foo/", t);
    path_ok("/api/v1", t);
    path_bad("foo", t);
    path_bad("/foo bar", t);
    path_bad("/foo\nbar", t);
    path_bad("/foo\x01", t);
    path_bad("/foo\x7f", t);
    path_bad("/foo#x", t);
    path_bad("/caf\xc3\xa9", t);
    path_bad(" ", t);
}

static void test_path_anchoring(void **state)
{
    static const enum k8s_path_type types[] = {K8S_PATH_EXACT, K8S_PATH_PREFIX, K8S_PATH_IMPL};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        path_bad("/foo\nX", types[i]);
        path_bad("/foo X", types[i]);
        path_bad("X/foo", types[i]);
        path_bad("\n/foo", types[i]);
        path_bad(" /foo", types[i]);
    }
}

static void test_path_length(void **state)
{
    char p[2100];

    (void)state;
    p[0] = '/';
    repeat(p + 1, 'a', 2047);
    path_ok(p, K8S_PATH_EXACT);
    path_ok(p, K8S_PATH_IMPL);
    repeat(p + 1, 'a', 2048);
    path_bad(p, K8S_PATH_PREFIX);
    path_bad(p, K8S_PATH_IMPL);
}

static void errorfile_ok(const char *resp)
{
    const char *why = validate_errorfile(resp, strlen(resp));

    if (why)
        fail_msg("refused \"%s\": %s", resp, why);
}

static void errorfile_bad(const char *resp, const char *reason)
{
    const char *why = validate_errorfile(resp, strlen(resp));

    if (!why || !strstr(why, reason))
        fail_msg("\"%s\": want a reason with \"%s\", got %s", resp, reason, why ? why : "none");
}

/* What HAProxy 2.6's errorfile parser takes, or a stricter subset of it:
 * each refused case here is one HAProxy refuses too, or that would let a
 * value decide more than the page (a bare CR splitting a header). */
static void test_errorfile(void **state)
{
    char big[ERRORFILE_MAX + 64];

    (void)state;
    errorfile_ok("");
    errorfile_ok("HTTP/1.1 503 Service Unavailable\r\n\r\n");
    errorfile_ok("HTTP/1.0 404\n\nbody without length");
    errorfile_ok("HTTP/1.1 200 OK\nContent-Type: text/html\ncontent-length: 2\n\nhi");
    errorfile_ok("HTTP/1.1 503 X\r\nA:\r\nB: \t v\r\n\r\n\x01\xff binary body");
    errorfile_bad("http/1.1 503 X\r\n\r\n", "status line");
    errorfile_bad("HTTP/2 503 X\r\n\r\n", "status line");
    errorfile_bad("HTTP/1.1 103 Early\r\n\r\n", "from 200 to 599");
    errorfile_bad("HTTP/1.1 5033 X\r\n\r\n", "from 200 to 599");
    errorfile_bad("HTTP/1.1 503 X\x7f\r\n\r\n", "status line has a control");
    errorfile_bad("HTTP/1.1 503 X\r\nA: b", "empty line");
    errorfile_bad("HTTP/1.1 503 X", "empty line");
    errorfile_bad("HTTP/1.1 503 X\r\nBad Name: x\r\n\r\n", "header name");
    errorfile_bad("HTTP/1.1 503 X\r\n: x\r\n\r\n", "Name: value");
    errorfile_bad("HTTP/1.1 503 X\r\nnocolon\r\n\r\n", "Name: value");
    errorfile_bad("HTTP/1.1 503 X\r\nA: 1\rSet-Cookie: x\r\n\r\n", "header value");
    errorfile_bad("HTTP/1.1 503 X\r\nA: caf\xc3\xa9\r\n\r\n", "header value");
    errorfile_bad("HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "chunked");
    errorfile_bad("HTTP/1.1 503 X\r\nContent-Length: 9\r\n\r\nhello", "differs");
    errorfile_bad("HTTP/1.1 503 X\r\nContent-Length: 1\r\n\r\nhello", "differs");
    errorfile_bad("HTTP/1.1 503 X\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", "twice");
    errorfile_bad("HTTP/1.1 503 X\r\nContent-Length: -2\r\n\r\n", "not a number");
    errorfile_bad("HTTP/1.1 503 X\r\nContent-Length:\r\n\r\n", "empty");
    errorfile_bad("HTTP/1.1 503 X\r\nContent-Length: 99999999999999999999\r\n\r\n", "larger");
    memset(big, 'a', sizeof(big));
    memcpy(big, "HTTP/1.1 503 X\r\n\r\n", 18);
    big[ERRORFILE_MAX] = '\0';
    errorfile_ok(big);
    big[ERRORFILE_MAX] = 'a';
    big[ERRORFILE_MAX + 1] = '\0';
    errorfile_bad(big, "larger than 8192");
    {
        char many[51 * 6 + 32] = "HTTP/1.1 503 X\r\n";

        for (int i = 0; i < 50; i++)
            strcat(many, "A: b\r\n");
        errorfile_ok(strcat(strcpy(big, many), "\r\n"));
        strcat(many, "A: b\r\n\r\n");
        errorfile_bad(many, "more than 50");
    }
    assert_true(valid_errorfile_code(503));
    assert_true(valid_errorfile_code(421));
    assert_false(valid_errorfile_code(415));
    assert_false(valid_errorfile_code(301));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_label),         cmocka_unit_test(test_dns_subdomain),
        cmocka_unit_test(test_host),              cmocka_unit_test(test_port_name),
        cmocka_unit_test(test_path_exact_prefix), cmocka_unit_test(test_path_impl),
        cmocka_unit_test(test_path_anchoring),    cmocka_unit_test(test_path_length),
        cmocka_unit_test(test_errorfile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
