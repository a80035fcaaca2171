/* SPDX-License-Identifier: Apache-2.0 */
/* Escaping at the sink: src/haproxy/escape.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "haproxy/escape.h"
#include "util/buf.h"
#include "testutil.h"

typedef int escape_fn(struct buf *b, const char *s);

/* Runs <fn> on <in> in a fresh buffer; returns its result and the output
 * (caller frees) in *<out>. */
static int run(escape_fn *fn, const char *in, char **out)
{
    struct buf b;
    int ret;

    buf_init(&b, 1 << 20);
    ret = fn(&b, in);
    *out = buf_take(&b);
    return ret;
}

static void assert_out(escape_fn *fn, const char *in, const char *expect)
{
    char *out;

    assert_int_equal(run(fn, in, &out), 0);
    assert_string_equal(out, expect);
    free(out);
}

static void assert_refused(escape_fn *fn, const char *in)
{
    char *out;
    int ret = run(fn, in, &out);

    if (ret != -EINVAL)
        fail_msg("input \"%s\" should be refused with -EINVAL, got %d (output \"%s\")", in, ret,
                 out);
    free(out);
}

/* A refusal must not leave anything behind in the buffer: what was there
 * before stays exactly as it was. */
static void assert_refused_untouched(escape_fn *fn, const char *in)
{
    struct buf b;
    int ret;

    char got[256];
    size_t len;

    buf_init(&b, 1 << 20);
    assert_int_equal(buf_adds(&b, "prefix "), 0);
    ret = fn(&b, in);
    /* copy, free, then assert: a failure must not leak */
    snprintf(got, sizeof(got), "%s", b.ptr ? b.ptr : "(null)");
    len = b.len;
    buf_free(&b);
    assert_int_equal(ret, -EINVAL);
    assert_string_equal(got, "prefix ");
    assert_int_equal(len, 7);
}

/* ====== cfg_word_strong ====== */

static void test_cfg_word_strong_accepts(void **state)
{
    (void)state;
    assert_out(cfg_word_strong, "abc", "'abc'");
    assert_out(cfg_word_strong, "", "''");
    assert_out(cfg_word_strong, "/run/portico/admin.sock", "'/run/portico/admin.sock'");
    assert_out(cfg_word_strong, "with space", "'with space'");
    assert_out(cfg_word_strong, "${HOME}", "'${HOME}'");
    assert_out(cfg_word_strong, "\"dq\" \\ # ;", "'\"dq\" \\ # ;'");
    assert_out(cfg_word_strong, "[::1]:80", "'[::1]:80'");
    assert_out(cfg_word_strong, "h\xc3\xa9", "'h\xc3\xa9'"); /* UTF-8 is not a control byte */
}

static void test_cfg_word_strong_refuses(void **state)
{
    (void)state;
    assert_refused(cfg_word_strong, "it's");
    assert_refused(cfg_word_strong, "'");
    assert_refused(cfg_word_strong, "a\nb");
    assert_refused(cfg_word_strong, "a\rb");
    assert_refused(cfg_word_strong, "a\tb");
    assert_refused(cfg_word_strong, "\x01");
    assert_refused(cfg_word_strong, "x\x1f");
    assert_refused(cfg_word_strong, "x\x7f");
    assert_refused(cfg_word_strong, "\x1b[31m");
    assert_refused_untouched(cfg_word_strong, "a'b");
    assert_refused_untouched(cfg_word_strong, "a\nb");
}

/* ====== cfg_acl_word ====== */

static void test_cfg_acl_word(void **state)
{
    (void)state;
    assert_out(cfg_acl_word, "always", "'always'");
    assert_out(cfg_acl_word, "{", "'{'");
    assert_out(cfg_acl_word, "}}", "'}}'");
    assert_out(cfg_acl_word, "^a}$", "'^a}$'");
    assert_refused(cfg_acl_word, "}");
    assert_refused(cfg_acl_word, "a'b");
    assert_refused_untouched(cfg_acl_word, "}");
    assert_refused_untouched(cfg_acl_word, "a\nb\n");
}

/* ====== cfg_word_logfmt ====== */

static void test_cfg_word_logfmt(void **state)
{
    (void)state;
    assert_out(cfg_word_logfmt, "staging", "'staging'");
    assert_out(cfg_word_logfmt, "100%", "'100%%'");
    assert_out(cfg_word_logfmt, "%[env(HOME)] %{+Q}r %%", "'%%[env(HOME)] %%{+Q}r %%%%'");
    assert_out(cfg_word_logfmt, "/v2/\\1 ${X} # ;", "'/v2/\\1 ${X} # ;'");
    assert_refused(cfg_word_logfmt, "it's");
    assert_refused(cfg_word_logfmt, "a  b"); /* log-format would merge the spaces */
    assert_refused(cfg_word_logfmt, "a\nb");
    assert_refused(cfg_word_logfmt, "a\tb");
    assert_refused(cfg_word_logfmt, "h\xc3\xa9");
    assert_refused(cfg_word_logfmt, "x\x7f");
    assert_refused_untouched(cfg_word_logfmt, "50% off it's");
}

static void test_cfg_word_strong_appends(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 1024);
    assert_int_equal(buf_adds(&b, "bind "), 0);
    assert_int_equal(cfg_word_strong(&b, "1.2.3.4:80"), 0);
    assert_int_equal(buf_adds(&b, " name x"), 0);
    assert_string_equal(b.ptr, "bind '1.2.3.4:80' name x");
    buf_free(&b);
}

static void test_cfg_word_strong_limit(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(cfg_word_strong(&b, "123456"), 0); /* 8 bytes with the quotes */
    assert_int_equal(b.len, 8);
    assert_int_equal(cfg_word_strong(&b, "x"), -E2BIG);
    assert_int_equal(b.len, 0); /* emptied on overflow */
    assert_null(b.ptr);
    buf_free(&b);
}

/* ====== cfg_name ====== */

static void test_cfg_name(void **state)
{
    (void)state;
    assert_out(cfg_name, "default_web_http", "default_web_http");
    assert_out(cfg_name, "A-z.0:9_", "A-z.0:9_");
    assert_out(cfg_name, "10.0.0.1:8080", "10.0.0.1:8080");
    assert_out(cfg_name, "fd00::1:8080", "fd00::1:8080");
    assert_refused(cfg_name, "");
    assert_refused(cfg_name, "a b");
    assert_refused(cfg_name, "a/b");
    assert_refused(cfg_name, "a'b");
    assert_refused(cfg_name, "a\"b");
    assert_refused(cfg_name, "a\nb");
    assert_refused(cfg_name, "a%b");
    assert_refused(cfg_name, "a$b");
    assert_refused(cfg_name, "a#b");
    assert_refused(cfg_name, "[::1]");
    assert_refused(cfg_name, "caf\xc3\xa9");
    assert_refused_untouched(cfg_name, "ok then bad");
}

/* ====== map_key ====== */

static void test_map_key(void **state)
{
    (void)state;
    assert_out(map_key, "foo.com/bar", "foo.com/bar");
    assert_out(map_key, "/", "/");
    assert_out(map_key, "a#b", "a#b"); /* '#' only starts a comment at the start */
    assert_out(map_key, "~!$%&'()*+,;=?@[]^`{|}\"\\", "~!$%&'()*+,;=?@[]^`{|}\"\\");
    assert_refused(map_key, "");
    assert_refused(map_key, "#comment");
    assert_refused(map_key, "a b");
    assert_refused(map_key, " a");
    assert_refused(map_key, "a\tb");
    assert_refused(map_key, "a\nb");
    assert_refused(map_key, "a\rb");
    assert_refused(map_key, "a\x7f");
    assert_refused(map_key, "a\x01");
    assert_refused(map_key, "caf\xc3\xa9");
    assert_refused(map_key, "\xff");
    assert_refused_untouched(map_key, "host/a b");
}

/* ====== rt_api_arg ====== */

static void test_rt_api_arg(void **state)
{
    (void)state;
    assert_out(rt_api_arg, "foo.com/bar", "foo.com/bar");
    assert_out(rt_api_arg, "a;b", "a\\;b");
    assert_out(rt_api_arg, "a\\b", "a\\\\b");
    assert_out(rt_api_arg, ";;", "\\;\\;");
    assert_out(rt_api_arg, "\\;", "\\\\\\;");
    assert_out(rt_api_arg, "#x'\"", "#x'\"");
    assert_refused(rt_api_arg, "a b");
    assert_refused(rt_api_arg, " ");
    assert_refused(rt_api_arg, "a\nb");
    assert_refused(rt_api_arg, "a\rb");
    assert_refused(rt_api_arg, "a\tb");
    assert_refused(rt_api_arg, "a\x01");
    assert_refused(rt_api_arg, "a\x7f");
}

/* escape.h: "Each either writes a form HAProxy reads back as exactly the
 * original bytes, or refuses with -EINVAL": a refused argument must not leave
 * a partial, unescaped prefix in the command being built. */
static void test_rt_api_arg_refusal_writes_nothing(void **state)
{
    (void)state;
    assert_refused_untouched(rt_api_arg, "");
    assert_refused_untouched(rt_api_arg, "abc def");
    assert_refused_untouched(rt_api_arg, "a;b\n");
}

/* ====== Property loops over random byte strings ====== */

static void random_string(struct trng *r, char *s, size_t max)
{
    /* Bias towards the interesting bytes so that both branches are exercised. */
    static const char special[] = {'\'', '\n', '\r', '\t', ' ', ';', '\\', '#', 0x7f, 0x01, '"'};
    size_t len = trng_below(r, (unsigned)max);

    for (size_t i = 0; i < len; i++) {
        unsigned pick = trng_below(r, 10);
        unsigned char c;

        if (pick == 0)
            c = (unsigned char)special[trng_below(r, sizeof(special))];
        else if (pick == 1)
            c = (unsigned char)(1 + trng_below(r, 255)); /* any non-NUL byte */
        else
            c = (unsigned char)(0x21 + trng_below(r, 0x7f - 0x21)); /* printable */
        s[i] = (char)c;
    }
    s[len] = '\0';
}

static bool has_forbidden_strong(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '\'' || c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

static bool has_forbidden_rt(const char *s)
{
    if (!*s)
        return true;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

/* Reverses the Runtime API escaping: "\x" -> "x". Returns NULL on a dangling '\'. */
static char *rt_unescape(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;

    for (; *s; s++) {
        if (*s == '\\') {
            s++;
            if (!*s) {
                free(out);
                return NULL;
            }
            if (*s != ';' && *s != '\\') {
                free(out);
                return NULL; /* only those two are ever escaped */
            }
        } else if (*s == ';') {
            free(out);
            return NULL; /* an unescaped ';' would split the command */
        }
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

static void test_property_cfg_word_strong(void **state)
{
    struct trng r = {0x9e3779b97f4a7c15ULL};
    char in[64];
    size_t accepted = 0, refused = 0;

    (void)state;
    for (int iter = 0; iter < 20000; iter++) {
        char *out;
        int ret;

        random_string(&r, in, sizeof(in) - 1);
        ret = run(cfg_word_strong, in, &out);
        if (ret == 0) {
            size_t n = strlen(in);

            accepted++;
            assert_false(has_forbidden_strong(in));
            assert_int_equal(strlen(out), n + 2);
            assert_int_equal(out[0], '\'');
            assert_int_equal(out[n + 1], '\'');
            assert_memory_equal(out + 1, in, n);
            /* nothing inside may close the quote */
            assert_null(memchr(out + 1, '\'', n));
        } else {
            refused++;
            assert_int_equal(ret, -EINVAL);
            assert_true(has_forbidden_strong(in));
        }
        free(out);
    }
    assert_true(accepted > 1000);
    assert_true(refused > 1000);
}

static void test_property_rt_api_arg(void **state)
{
    struct trng r = {0x123456789abcdefULL};
    char in[64];
    size_t accepted = 0, refused = 0;

    (void)state;
    for (int iter = 0; iter < 20000; iter++) {
        char *out, *back;
        int ret;

        random_string(&r, in, sizeof(in) - 1);
        ret = run(rt_api_arg, in, &out);
        if (ret == 0) {
            accepted++;
            assert_false(has_forbidden_rt(in));
            /* one word: no separator survives */
            assert_null(strpbrk(out, " \t\r\n"));
            back = rt_unescape(out);
            assert_non_null(back);
            assert_string_equal(back, in);
            free(back);
        } else {
            refused++;
            assert_int_equal(ret, -EINVAL);
            assert_true(has_forbidden_rt(in));
        }
        free(out);
    }
    assert_true(accepted > 1000);
    assert_true(refused > 1000);
}

static void test_property_map_key_and_name(void **state)
{
    struct trng r = {42};
    char in[48];

    (void)state;
    for (int iter = 0; iter < 20000; iter++) {
        char *out;
        int ret;

        random_string(&r, in, sizeof(in) - 1);
        ret = run(map_key, in, &out);
        if (ret == 0) {
            assert_string_equal(out, in);
            assert_true(in[0] != '#' && in[0] != '\0');
            for (const char *p = in; *p; p++)
                assert_true((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f);
        } else {
            assert_int_equal(ret, -EINVAL);
        }
        free(out);
        ret = run(cfg_name, in, &out);
        if (ret == 0) {
            assert_string_equal(out, in);
            assert_int_equal(strspn(in, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_.:-"),
                             strlen(in));
        } else {
            assert_int_equal(ret, -EINVAL);
        }
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_word_strong_accepts),
        cmocka_unit_test(test_cfg_word_strong_refuses),
        cmocka_unit_test(test_cfg_word_strong_appends),
        cmocka_unit_test(test_cfg_word_logfmt),
        cmocka_unit_test(test_cfg_acl_word),
        cmocka_unit_test(test_cfg_word_strong_limit),
        cmocka_unit_test(test_cfg_name),
        cmocka_unit_test(test_map_key),
        cmocka_unit_test(test_rt_api_arg),
        cmocka_unit_test(test_rt_api_arg_refusal_writes_nothing),
        cmocka_unit_test(test_property_cfg_word_strong),
        cmocka_unit_test(test_property_rt_api_arg),
        cmocka_unit_test(test_property_map_key_and_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
