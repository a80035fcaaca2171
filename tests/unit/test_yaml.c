/* SPDX-License-Identifier: Apache-2.0 */
/* YAML documents -> jansson: src/source/yaml.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "source/manifests.h"
#include "source/yaml.h"
#include "store/store.h"
#include "util/buf.h"

/* Collected documents: a JSON array, JSON null standing for an empty one. */
struct docs {
    json_t *arr;
    size_t next_index; /* indexes must be 0, 1, 2, ... */
};

static void collect(size_t index, json_t *doc, void *arg)
{
    struct docs *d = arg;

    assert_int_equal(index, d->next_index);
    d->next_index++;
    json_array_append(d->arr, doc ? doc : json_null());
}

/* Parses <text>; returns the result, documents in *<arr> (caller decrefs)
 * and the error in *<err> (caller frees). */
static int parse(const char *text, json_t **arr, char **err)
{
    struct docs d = {json_array(), 0};
    int ret;

    *err = NULL;
    ret = yaml_parse_docs(text, strlen(text), collect, &d, err);
    *arr = d.arr;
    return ret;
}

/* Parses <text>, which must succeed, and compares the documents with the
 * JSON array <expect>. */
static void expect_docs(const char *text, const char *expect)
{
    json_t *arr, *want;
    char *err, *got;
    json_error_t je;
    int ret = parse(text, &arr, &err);

    if (ret)
        fail_msg("parse failed (%d): %s", ret, err ? err : "?");
    assert_null(err);
    want = json_loads(expect, JSON_DECODE_ANY, &je);
    assert_non_null(want);
    if (!json_equal(arr, want)) {
        got = json_dumps(arr, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fail_msg("documents differ: got %s, want %s", got, expect);
    }
    json_decref(want);
    json_decref(arr);
}

static void test_multi_document(void **state)
{
    (void)state;
    expect_docs("a: 1\n---\nb: two\n", "[{\"a\": 1}, {\"b\": \"two\"}]");
    expect_docs("---\na: 1\n---\nb: 2\n...\n---\nc: [x, y]\n",
                "[{\"a\": 1}, {\"b\": 2}, {\"c\": [\"x\", \"y\"]}]");
    /* empty documents are delivered as NULL, keeping the index */
    expect_docs("a: 1\n---\n---\nb: 2\n", "[{\"a\": 1}, null, {\"b\": 2}]");
    expect_docs("", "[]");
    expect_docs("# only a comment\n", "[]");
    /* a document may be any node */
    expect_docs("hello\n", "[\"hello\"]");
    expect_docs("- 1\n- 2\n", "[[1, 2]]");
}

static void test_json_input(void **state)
{
    (void)state;
    expect_docs("{\"kind\": \"Service\", \"spec\": {\"ports\": [{\"port\": 80, \"name\": "
                "\"http\"}]}, \"x\": null, \"t\": true}",
                "[{\"kind\": \"Service\", \"spec\": {\"ports\": [{\"port\": 80, \"name\": "
                "\"http\"}]}, \"x\": null, \"t\": true}]");
}

static void test_core_schema(void **state)
{
    (void)state;
    /* quoted "80" stays a string, plain 80 is an integer */
    expect_docs("a: \"80\"\nb: '80'\nc: 80\n", "[{\"a\": \"80\", \"b\": \"80\", \"c\": 80}]");
    expect_docs("[true, false, True, FALSE, \"true\", 'false']",
                "[[true, false, true, false, \"true\", \"false\"]]");
    expect_docs("[null, ~, Null, NULL, \"null\", '~', \"\"]",
                "[[null, null, null, null, \"null\", \"~\", \"\"]]");
    expect_docs("a:\nb: \n", "[{\"a\": null, \"b\": null}]");
    expect_docs("[0, -5, +5, 007, 2147483648, -9223372036854775808]",
                "[[0, -5, 5, 7, 2147483648, -9223372036854775808]]");
    expect_docs("[1.5, -0.25, 1e3, .5]", "[[1.5, -0.25, 1000.0, 0.5]]");
    /* YAML 1.1 booleans are strings in the core schema, as kubectl reads them */
    expect_docs("[yes, no, on, off, y, n]", "[[\"yes\", \"no\", \"on\", \"off\", \"y\", \"n\"]]");
    /* things that only look like numbers */
    expect_docs("[1.2.3, 1-2, +, -, 12:30, 10.0.0.1, 1_000, 5s, 0.1.0-beta]",
                "[[\"1.2.3\", \"1-2\", \"+\", \"-\", \"12:30\", \"10.0.0.1\", \"1_000\", "
                "\"5s\", \"0.1.0-beta\"]]");
    /* an explicit tag keeps the text */
    expect_docs("a: !!str 80\n", "[{\"a\": \"80\"}]");
    /* an integer too large for 64 bits is not silently wrapped */
    {
        json_t *arr;
        char *err;

        assert_int_equal(parse("a: 99999999999999999999\n", &arr, &err), 0);
        assert_false(json_is_integer(json_object_get(json_array_get(arr, 0), "a")));
        json_decref(arr);
        free(err);
    }
}

static void test_keys_are_strings(void **state)
{
    (void)state;
    expect_docs("80: http\ntrue: x\n", "[{\"80\": \"http\", \"true\": \"x\"}]");
}

static void test_block_scalars(void **state)
{
    (void)state;
    expect_docs("a: |\n  line1\n  line2\nb: >\n  folded\n  text\n",
                "[{\"a\": \"line1\\nline2\\n\", \"b\": \"folded text\\n\"}]");
    expect_docs("a: \"tab\\there \\u00e9\"\n", "[{\"a\": \"tab\\there \\u00e9\"}]");
}

static void test_anchors_aliases(void **state)
{
    (void)state;
    expect_docs("base: &b {x: 1, y: [a, b]}\nother: *b\nscalar: &s hello\nagain: *s\n",
                "[{\"base\": {\"x\": 1, \"y\": [\"a\", \"b\"]}, \"other\": {\"x\": 1, \"y\": "
                "[\"a\", \"b\"]}, \"scalar\": \"hello\", \"again\": \"hello\"}]");
    expect_docs("- &p 80\n- *p\n- &q [1]\n- [*q, *q]\n", "[[80, 80, [1], [[1], [1]]]]");
    /* redefining an anchor: later aliases see the newest one */
    expect_docs("- &a one\n- *a\n- &a two\n- *a\n", "[[\"one\", \"one\", \"two\", \"two\"]]");
}

static void test_alias_scope_is_one_document(void **state)
{
    json_t *arr;
    char *err;

    (void)state;
    assert_int_equal(parse("k: &x v\n---\nj: *x\n", &arr, &err), -EINVAL);
    assert_int_equal(json_array_size(arr), 1);
    assert_non_null(err);
    assert_non_null(strstr(err, "document 1"));
    assert_non_null(strstr(err, "x"));
    json_decref(arr);
    free(err);
}

static void test_unknown_alias(void **state)
{
    json_t *arr;
    char *err;

    (void)state;
    assert_int_equal(parse("a: 1\nb: *nope\n", &arr, &err), -EINVAL);
    assert_int_equal(json_array_size(arr), 0);
    assert_non_null(strstr(err, "document 0"));
    assert_non_null(strstr(err, "line 2"));
    assert_non_null(strstr(err, "nope"));
    json_decref(arr);
    free(err);
}

/* A key with a NUL byte would be read cut short ("a\0x" as "a"): refused,
 * as a value with one is kept whole. */
static void test_nul_in_key_refused(void **state)
{
    json_t *arr;
    char *err;

    (void)state;
    assert_int_equal(parse("a: 1\n\"timeout\\0x\": 2\n", &arr, &err), -EINVAL);
    assert_non_null(strstr(err, "line 2"));
    assert_non_null(strstr(err, "NUL"));
    json_decref(arr);
    free(err);
}

/* Classic "billion laughs": 9^9 nodes if expanded. Must fail, quickly. */
static void test_billion_laughs(void **state)
{
    struct buf b;
    json_t *arr;
    char *err;
    const char *prev = "a";
    static const char *const names[] = {"b", "c", "d", "e", "f", "g", "h", "i"};
    clock_t t0 = clock();
    int ret;

    (void)state;
    buf_init(&b, 1 << 20);
    buf_adds(&b, "first: ok\n---\n");
    buf_adds(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (size_t i = 0; i < 8; i++) {
        buf_addf(&b, "%s: &%s [", names[i], names[i]);
        for (int j = 0; j < 9; j++)
            buf_addf(&b, "%s*%s", j ? "," : "", prev);
        buf_adds(&b, "]\n");
        prev = names[i];
    }
    ret = parse(b.ptr, &arr, &err);
    assert_int_not_equal(ret, 0);
    assert_true(ret == -EINVAL || ret == -E2BIG);
    assert_non_null(err);
    assert_non_null(strstr(err, "document 1"));
    /* the document before the bomb was delivered */
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "first")),
                        "ok");
    /* generous bound: valgrind and sanitizers are slow, an expansion is not */
    assert_true((clock() - t0) / CLOCKS_PER_SEC < 20);
    json_decref(arr);
    free(err);
    buf_free(&b);
}

/* A moderate use of aliases under the bound still works. */
static void test_aliases_under_bound(void **state)
{
    json_t *arr, *doc;
    char *err;

    (void)state;
    assert_int_equal(parse("a: &a [1,2,3,4,5,6,7,8,9,10]\n"
                           "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                           "c: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
                           &arr, &err),
                     0);
    doc = json_array_get(arr, 0);
    assert_int_equal(json_array_size(json_object_get(doc, "c")), 10);
    assert_int_equal(
        json_integer_value(json_array_get(
            json_array_get(json_array_get(json_object_get(doc, "c"), 9), 9), 9)),
        10);
    json_decref(arr);
    free(err);
}

static void test_syntax_error_reports_document_and_line(void **state)
{
    json_t *arr;
    char *err;

    (void)state;
    assert_int_equal(parse("a: 1\n---\nb: 2\n---\nc: 1\n  d: 2\n", &arr, &err), -EINVAL);
    /* documents before the error are delivered */
    assert_int_equal(json_array_size(arr), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "b")), 2);
    assert_non_null(err);
    assert_non_null(strstr(err, "document 2"));
    assert_non_null(strstr(err, "line 6"));
    json_decref(arr);
    free(err);

    assert_int_equal(parse("a: [1, 2\n", &arr, &err), -EINVAL);
    assert_int_equal(json_array_size(arr), 0);
    assert_non_null(strstr(err, "document 0"));
    assert_non_null(strstr(err, "line "));
    json_decref(arr);
    free(err);

    assert_int_equal(parse("a: \"unterminated\n", &arr, &err), -EINVAL);
    assert_non_null(strstr(err, "document 0"));
    json_decref(arr);
    free(err);

    /* a tab may not indent */
    assert_int_equal(parse("a:\n\t- 1\n", &arr, &err), -EINVAL);
    json_decref(arr);
    free(err);
}

static void test_error_without_err_pointer(void **state)
{
    struct docs d = {json_array(), 0};
    const char *text = "a: [1\n";

    (void)state;
    assert_int_equal(yaml_parse_docs(text, strlen(text), collect, &d, NULL), -EINVAL);
    json_decref(d.arr);
}

static void test_depth_bound(void **state)
{
    struct buf b;
    json_t *arr;
    char *err;

    (void)state;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 5000; i++)
        buf_addc(&b, '[');
    for (int i = 0; i < 5000; i++)
        buf_addc(&b, ']');
    assert_int_not_equal(parse(b.ptr, &arr, &err), 0);
    assert_non_null(err);
    assert_non_null(strstr(err, "document 0"));
    json_decref(arr);
    free(err);
    buf_reset(&b);
    /* 50 levels is fine */
    for (int i = 0; i < 50; i++)
        buf_addc(&b, '[');
    for (int i = 0; i < 50; i++)
        buf_addc(&b, ']');
    assert_int_equal(parse(b.ptr, &arr, &err), 0);
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);
    free(err);
    buf_free(&b);
}

static void test_length_is_respected(void **state)
{
    struct docs d = {json_array(), 0};
    const char *text = "a: 1\n---\nb: 2\n";

    (void)state;
    /* only the first 5 bytes are parsed */
    assert_int_equal(yaml_parse_docs(text, 5, collect, &d, NULL), 0);
    assert_int_equal(json_array_size(d.arr), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(d.arr, 0), "a")), 1);
    json_decref(d.arr);
}

static void test_kubernetes_manifest(void **state)
{
    json_t *arr, *ing, *path;
    char *err;
    const char *text = "apiVersion: networking.k8s.io/v1\n"
                       "kind: Ingress\n"
                       "metadata:\n"
                       "  name: web\n"
                       "  annotations:\n"
                       "    portico.dev/ssl-redirect: \"false\"\n"
                       "spec:\n"
                       "  rules:\n"
                       "  - host: foo.com\n"
                       "    http:\n"
                       "      paths:\n"
                       "      - path: /\n"
                       "        pathType: Prefix\n"
                       "        backend:\n"
                       "          service:\n"
                       "            name: web\n"
                       "            port:\n"
                       "              number: 80\n";

    (void)state;
    assert_int_equal(parse(text, &arr, &err), 0);
    ing = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(ing, "kind")), "Ingress");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(ing, "metadata"), "annotations"),
            "portico.dev/ssl-redirect")),
        "false");
    path = json_array_get(
        json_object_get(
            json_object_get(json_array_get(json_object_get(json_object_get(ing, "spec"),
                                                           "rules"),
                                           0),
                            "http"),
            "paths"),
        0);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(json_object_get(path, "backend"),
                                                         "service"),
                                         "port"),
                         "number")),
                     80);
    json_decref(arr);
    free(err);
}

/* An empty manifests directory is an empty store (found by fuzz_manifests:
 * the empty list of files was sorted as a null array). */
static void test_manifests_empty_dir(void **state)
{
    char dir[] = "/tmp/portico-test-manifests.XXXXXX";
    struct store st;
    char *err = NULL;

    (void)state;
    assert_non_null(mkdtemp(dir));
    store_init(&st);
    assert_int_equal(manifests_read(dir, &st, &err), 0);
    assert_null(err);
    for (int k = 0; k < K8S_KIND_COUNT; k++)
        assert_int_equal(store_count(&st, (enum k8s_kind)k), 0);
    store_deinit(&st);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_document),
        cmocka_unit_test(test_json_input),
        cmocka_unit_test(test_core_schema),
        cmocka_unit_test(test_keys_are_strings),
        cmocka_unit_test(test_block_scalars),
        cmocka_unit_test(test_anchors_aliases),
        cmocka_unit_test(test_alias_scope_is_one_document),
        cmocka_unit_test(test_unknown_alias),
        cmocka_unit_test(test_nul_in_key_refused),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_aliases_under_bound),
        cmocka_unit_test(test_syntax_error_reports_document_and_line),
        cmocka_unit_test(test_error_without_err_pointer),
        cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_length_is_respected),
        cmocka_unit_test(test_kubernetes_manifest),
        cmocka_unit_test(test_manifests_empty_dir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
