/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration keys: src/model/keys.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/keys.h"
#include "util/arena.h"
#include "util/xalloc.h"

/* text values of the keys live here, as in a model */
static struct arena ar;

#define MAX_ISSUES 16

struct issues {
    char *field[MAX_ISSUES];
    char *msg[MAX_ISSUES];
    size_t n;
};

static void on_issue(void *arg, const char *field, const char *msg)
{
    struct issues *is = arg;

    assert_true(is->n < MAX_ISSUES);
    assert_non_null(field);
    assert_non_null(msg);
    is->field[is->n] = xstrdup(field);
    is->msg[is->n] = xstrdup(msg);
    is->n++;
}

static void issues_free(struct issues *is)
{
    for (size_t i = 0; i < is->n; i++) {
        free(is->field[i]);
        free(is->msg[i]);
    }
    is->n = 0;
}

static void test_defaults(void **state)
{
    struct key_values kv;

    (void)state;
    memset(&kv, 0xff, sizeof(kv));
    keys_defaults(&kv);
    assert_true(kv.ssl_redirect);
    assert_int_equal(kv.ssl_redirect_code, 308);
    assert_int_equal(kv.timeout_connect_ms, 5000);
    assert_int_equal(kv.timeout_client_ms, 50000);
    assert_int_equal(kv.timeout_server_ms, 50000);
    assert_int_equal(kv.timeout_http_request_ms, 5000);
    assert_int_equal(kv.timeout_http_keep_alive_ms, 60000);
    assert_int_equal(kv.timeout_queue_ms, 5000);
    assert_int_equal(kv.timeout_tunnel_ms, 3600000);
    assert_int_equal(kv.maxconn, 0);
    assert_int_equal(kv.nbthread, 0);
}

/* The table is the single source of truth: each entry must be complete and
 * its default and example must go through its own parser. */
static void test_table(void **state)
{
    (void)state;
    assert_true(key_table_len >= 11);
    for (size_t i = 0; i < key_table_len; i++) {
        const struct key_def *k = &key_table[i];
        struct key_values kv;
        char *err = NULL, ex[512];
        size_t len;

        assert_non_null(k->name);
        assert_non_null(k->def);
        assert_non_null(k->parse);
        assert_non_null(k->doc);
        assert_true(strlen(k->doc) > 10);
        assert_non_null(k->example);
        assert_true(k->scopes != 0);
        assert_true((k->scopes & ~(KEY_S_ANNOT | KEY_S_CMAP | KEY_S_BACKEND)) == 0);
        /* a backend key is set per Ingress */
        assert_true(!(k->scopes & KEY_S_BACKEND) || (k->scopes & KEY_S_ANNOT));
        assert_true(k->offset + sizeof(uint32_t) <= sizeof(struct key_values) ||
                    k->type == KEY_BOOL);
        assert_string_not_equal(key_type_name(k->type), "?");
        /* names: lower-case words joined by '-' */
        assert_int_equal(strspn(k->name, "abcdefghijklmnopqrstuvwxyz-"), strlen(k->name));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(k->name, key_table[j].name);
        keys_defaults(&kv);
        assert_int_equal(k->parse(NULL, k->def, (char *)&kv + k->offset, &err), 0);
        assert_null(err);
        assert_non_null(k->haproxy);
        /* examples are written as YAML strings, "value", or as a block,
         * "|" then lines indented to sit under an annotation (6) or a
         * ConfigMap key (4) */
        len = strlen(k->example);
        if (k->example[0] == '|') {
            const char *p = k->example + 1;
            size_t n = 0, ind = (k->scopes & KEY_S_ANNOT) ? 6 : 4;

            while (*p == '\n' && strspn(p + 1, " ") == ind) {
                size_t l = strcspn(p + 1 + ind, "\n");

                n += (size_t)snprintf(ex + n, sizeof(ex) - n, "%s%.*s", n ? "\n" : "", (int)l,
                                      p + 1 + ind);
                p += 1 + ind + l;
            }
            assert_int_equal(*p, '\0');
        } else {
            assert_true(len >= 2 && k->example[0] == '"' && k->example[len - 1] == '"');
            snprintf(ex, sizeof(ex), "%.*s", (int)(len - 2), k->example + 1);
        }
        if (k->parse(&ar, ex, (char *)&kv + k->offset, &err) != 0)
            fail_msg("example \"%s\" of %s does not parse: %s", ex, k->name, err);
        /* a control byte is no value of any key */
        assert_int_not_equal(k->parse(&ar, "not a value\x01", (char *)&kv + k->offset, &err), 0);
        assert_non_null(err);
        free(err);
    }
    assert_string_equal(k8s_key_prefixes[0], "portico.dev/");
    assert_true(k8s_key_prefixes_len >= 2);
    for (size_t i = 0; i < k8s_key_prefixes_len; i++)
        assert_int_equal(k8s_key_prefixes[i][strlen(k8s_key_prefixes[i]) - 1], '/');
}

static void test_configmap(void **state)
{
    struct key_values kv;
    struct issues is = {0};
    struct k8s_kv data[] = {
        {"maxconn", "50000"},         {"nbthread", "4"},
        {"ssl-redirect", "false"},    {"ssl-redirect-code", "301"},
        {"timeout-client", "2m"},     {"timeout-connect", "250ms"},
        {"timeout-http-keep-alive", "30s"},
        {"timeout-http-request", "10s"},
        {"timeout-queue", "1s"},      {"timeout-server", "1h"},
        {"timeout-tunnel", "1d"},
    };

    (void)state;
    keys_defaults(&kv);
    keys_apply_configmap(&ar, &kv, data, sizeof(data) / sizeof(data[0]), on_issue, &is);
    assert_int_equal(is.n, 0);
    assert_int_equal(kv.maxconn, 50000);
    assert_int_equal(kv.nbthread, 4);
    assert_false(kv.ssl_redirect);
    assert_int_equal(kv.ssl_redirect_code, 301);
    assert_int_equal(kv.timeout_client_ms, 120000);
    assert_int_equal(kv.timeout_connect_ms, 250);
    assert_int_equal(kv.timeout_http_keep_alive_ms, 30000);
    assert_int_equal(kv.timeout_http_request_ms, 10000);
    assert_int_equal(kv.timeout_queue_ms, 1000);
    assert_int_equal(kv.timeout_server_ms, 3600000);
    assert_int_equal(kv.timeout_tunnel_ms, 86400000);
}

/* syslog-server: each target becomes the arguments of one "log" line;
 * anything else is refused with the field named. */
static void test_log_targets(void **state)
{
    static const struct {
        const char *val, *want; /* want NULL: refused, with this in the error */
        const char *err;
    } cases[] = {
        {"address:stdout", "stdout format raw local0\n", NULL},
        {" address: 10.0.0.1 , port: 5140,facility:daemon, level:info ,length:2048\n\n",
         "10.0.0.1:5140 len 2048 daemon info\n", NULL},
        {"address:2001:DB8::1, format:rfc5424\r\naddress:stdout, format:short",
         "[2001:db8::1]:514 format rfc5424 local0\nstdout format short local0\n", NULL},
        {"", NULL, NULL},
        {"address:syslog.example", NULL, "must be an IP address or stdout"},
        {"address:stderr", NULL, "must be an IP address or stdout"},
        {"address:10.0.0.1, port:0", NULL, "port \"0\""},
        {"address:stdout, port:514", NULL, "stdout takes no port"},
        {"address:10.0.0.1, facility:local9", NULL, "not a syslog facility"},
        {"address:10.0.0.1, level:loud", NULL, "level \"loud\""},
        {"address:10.0.0.1, format:json", NULL, "format \"json\""},
        {"address:10.0.0.1, length:10", NULL, "length \"10\""},
        {"address:10.0.0.1, color:red", NULL, "\"color\" is not a field"},
        {"port:514", NULL, "each target needs an address"},
        {"address:10.0.0.1 daemon", NULL, "must be an IP address or stdout"},
        {"address:10.0.0.1\n    http-request deny", NULL, "each field must be name:value"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct k8s_kv data = {(char *)"syslog-server", (char *)cases[i].val};
        struct key_values kv;
        struct issues is = {0};

        keys_defaults(&kv);
        keys_apply_configmap(&ar, &kv, &data, 1, on_issue, &is);
        if (cases[i].err) {
            assert_int_equal(is.n, 1);
            if (!strstr(is.msg[0], cases[i].err))
                fail_msg("%s: error \"%s\" lacks \"%s\"", cases[i].val, is.msg[0],
                         cases[i].err);
            assert_null(kv.log_targets);
        } else {
            assert_int_equal(is.n, 0);
            if (cases[i].want)
                assert_string_equal(kv.log_targets, cases[i].want);
            else
                assert_null(kv.log_targets);
        }
        issues_free(&is);
    }
}

/* log-format: what HAProxy's parser would refuse (and with it every
 * configuration) is refused here. */
static void test_log_format(void **state)
{
    static const char *const good[] = {"%ci:%cp [%tr] %ft %b/%s %ST %B %{+Q}r",
                                       "%{+Q}o %t %s", "%ci%cp %[src,ipmask(24)] 100%%",
                                       "%HPO %sslv %[req.hdr(host)]x"};
    static const char *const bad[] = {"a%",    "%zz",   "%cix",  "%ci1", "%[src", "%{+Q",
                                      "%{+Q}", "%[env(HOME)]", "it's", "a\tb"};

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!keys_value_ok("log-format", good[i]))
            fail_msg("\"%s\" was refused", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (keys_value_ok("log-format", bad[i]))
            fail_msg("\"%s\" was accepted", bad[i]);
    }
}

/* ingress-nginx's annotations that build.c applies per path: the rewrite's
 * groups in PCRE's form, nginx variables refused; affinity's cookie name. */
static void test_nginx_rewrite_and_affinity(void **state)
{
    struct k8s_kv ann[] = {
        {"nginx.ingress.kubernetes.io/affinity", "cookie"},
        {"nginx.ingress.kubernetes.io/rewrite-target", "/api/$2/$1"},
        {"nginx.ingress.kubernetes.io/use-regex", "true"},
    };
    struct k8s_kv bad[] = {
        {"nginx.ingress.kubernetes.io/rewrite-target", "/$host/$1"},
        {"nginx.ingress.kubernetes.io/affinity", "ip"},
        {"nginx.ingress.kubernetes.io/rewrite-target", "relative"},
    };
    struct k8s_kv named = {"nginx.ingress.kubernetes.io/session-cookie-name", "route"};
    struct key_values kv;
    struct issues is = {0};
    char *err = NULL;

    (void)state;
    keys_defaults(&kv);
    keys_apply_nginx(&ar, &kv, ann, 3, on_issue, &is);
    assert_int_equal(is.n, 0);
    assert_string_equal(kv.nginx_rewrite_target, "/api/\\2/\\1");
    assert_true(kv.nginx_use_regex);
    assert_string_equal(kv.cookie_persistence, "INGRESSCOOKIE");
    assert_int_equal(keys_nginx_rewrite(&ar, &kv, "/v1(/|$)(.*)", &err), 0);
    assert_string_equal(kv.path_rewrite, "^/v1(/|$)(.*)\n/api/\\2/\\1\n");
    /* a path that is no regex PCRE2 takes */
    assert_int_not_equal(keys_nginx_rewrite(&ar, &kv, "/v1(", &err), 0);
    assert_non_null(err);
    free(err);
    keys_apply_nginx(&ar, &kv, &named, 1, on_issue, &is);
    assert_string_equal(kv.cookie_persistence, "route");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        keys_defaults(&kv);
        keys_apply_nginx(&ar, &kv, &bad[i], 1, on_issue, &is);
        assert_int_equal(is.n, 1);
        assert_null(kv.nginx_rewrite_target);
        assert_null(kv.cookie_persistence);
        issues_free(&is);
    }
}

/* ingress-nginx's server-alias, default-backend and custom-http-errors:
 * hosts as routing.md takes them, each once; a Service of the Ingress's
 * namespace; the error statuses HAProxy has a page for, the others left
 * out (one warning), a value that is no list of codes refused. */
static void test_nginx_alias_fallback_errors(void **state)
{
    struct k8s_kv ann[] = {
        {"nginx.ingress.kubernetes.io/server-alias", " www.a.example,*.b.example , www.a.example, "},
        {"nginx.ingress.kubernetes.io/default-backend", "fallback"},
        {"nginx.ingress.kubernetes.io/custom-http-errors", "503, 404,503"},
    };
    static const char *const bad_alias[] = {
        "", ",", "A.example", "a.example:80", "10.0.0.1", "*", "a..example", "a.example\nb",
        "a.example;b", "a.example#", "a.example b.example", "caf\xc3\xa9.example", "${HOME}", "-a.example", "a.example.",
    };
    static const char *const bad_backend[] = {"", "ns/name", "Name", "a b", "a\nb", "a_b"};
    static const char *const bad_errors[] = {"", "abc", "4040", "404 503", "404;", "099",
                                             "600", "415", "200,302", "404\n", "+404"};
    struct key_values kv;
    struct issues is = {0};

    (void)state;
    keys_defaults(&kv);
    keys_apply_nginx(&ar, &kv, ann, 3, on_issue, &is);
    assert_int_equal(is.n, 0);
    assert_string_equal(kv.nginx_server_alias, "www.a.example\n*.b.example");
    assert_string_equal(kv.nginx_default_backend, "fallback");
    assert_string_equal(kv.nginx_http_errors, "404 503");
    /* in part: 415 and 200 left out, with one warning */
    ann[2].val = "415,502,200";
    keys_apply_nginx(&ar, &kv, &ann[2], 1, on_issue, &is);
    assert_int_equal(is.n, 1);
    assert_non_null(strstr(is.msg[0], "200, 415 left out"));
    assert_string_equal(kv.nginx_http_errors, "502");
    assert_true(keys_nginx_value_ok("nginx.ingress.kubernetes.io/custom-http-errors", "415,502"));
    issues_free(&is);
    for (size_t i = 0; i < sizeof(bad_alias) / sizeof(bad_alias[0]); i++) {
        if (keys_nginx_value_ok("nginx.ingress.kubernetes.io/server-alias", bad_alias[i]))
            fail_msg("server-alias \"%s\" was accepted", bad_alias[i]);
    }
    for (size_t i = 0; i < sizeof(bad_backend) / sizeof(bad_backend[0]); i++) {
        if (keys_nginx_value_ok("nginx.ingress.kubernetes.io/default-backend", bad_backend[i]))
            fail_msg("default-backend \"%s\" was accepted", bad_backend[i]);
    }
    for (size_t i = 0; i < sizeof(bad_errors) / sizeof(bad_errors[0]); i++) {
        if (keys_nginx_value_ok("nginx.ingress.kubernetes.io/custom-http-errors", bad_errors[i]))
            fail_msg("custom-http-errors \"%s\" was accepted", bad_errors[i]);
    }
}

/* An Ingress's own captures, default-backend and custom-http-errors make
 * its backends differ; the ConfigMap's captures again do not. */
static void test_backend_differs_nginx_extras(void **state)
{
    struct key_values base, kv;
    uint64_t h1, h2;

    (void)state;
    keys_defaults(&base);
    base.request_capture = "req.hdr(x-id)";
    kv = base;
    assert_false(keys_backend_differs(&kv, &base, &h1));
    assert_true(keys_same_captures(&kv, &base));
    kv.request_capture_len = 64;
    assert_false(keys_same_captures(&kv, &base));
    assert_true(keys_backend_differs(&kv, &base, &h1));
    kv = base;
    kv.nginx_default_backend = "fallback";
    assert_true(keys_backend_differs(&kv, &base, &h1));
    kv.nginx_default_backend = "other";
    assert_true(keys_backend_differs(&kv, &base, &h2));
    assert_true(h1 != h2);
    kv = base;
    kv.nginx_http_errors = "503";
    assert_true(keys_backend_differs(&kv, &base, &h1));
}

static void test_configmap_bad_values(void **state)
{
    struct key_values kv;
    struct issues is = {0};
    struct k8s_kv data[] = {
        {"maxconn", "-1"},
        {"nbthread", "65"},
        {"ssl-redirect", "yes"},
        {"ssl-redirect-code", "304"},
        {"timeout-server", "forever"},
    };

    (void)state;
    keys_defaults(&kv);
    kv.maxconn = 77;
    keys_apply_configmap(&ar, &kv, data, sizeof(data) / sizeof(data[0]), on_issue, &is);
    /* every bad value reported, naming its field; previous values kept */
    assert_int_equal(is.n, 5);
    assert_string_equal(is.field[0], "data[\"maxconn\"]");
    assert_string_equal(is.field[1], "data[\"nbthread\"]");
    assert_string_equal(is.field[2], "data[\"ssl-redirect\"]");
    assert_string_equal(is.field[3], "data[\"ssl-redirect-code\"]");
    assert_string_equal(is.field[4], "data[\"timeout-server\"]");
    for (size_t i = 0; i < is.n; i++)
        assert_non_null(strstr(is.msg[i], "ignored"));
    assert_non_null(strstr(is.msg[2], "true"));
    assert_int_equal(kv.maxconn, 77);
    assert_int_equal(kv.nbthread, 0);
    assert_true(kv.ssl_redirect);
    assert_int_equal(kv.ssl_redirect_code, 308);
    assert_int_equal(kv.timeout_server_ms, 50000);
    issues_free(&is);
}

static void test_redirect_codes(void **state)
{
    static const char *const good[] = {"301", "302", "303", "307", "308"};
    static const char *const bad[] = {"300", "304", "305", "306", "309", "200", "3O8", ""};
    struct key_values kv;
    struct issues is = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct k8s_kv d = {"ssl-redirect-code", (char *)good[i]};

        keys_defaults(&kv);
        keys_apply_configmap(&ar, &kv, &d, 1, on_issue, &is);
        assert_int_equal(is.n, 0);
        assert_int_equal(kv.ssl_redirect_code, (uint32_t)strtoul(good[i], NULL, 10));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct k8s_kv d = {"ssl-redirect-code", (char *)bad[i]};

        keys_defaults(&kv);
        keys_apply_configmap(&ar, &kv, &d, 1, on_issue, &is);
        assert_int_equal(is.n, 1);
        assert_int_equal(kv.ssl_redirect_code, 308);
        issues_free(&is);
    }
}

static void test_unknown_key_suggestion(void **state)
{
    struct key_values kv, ref;
    struct issues is = {0};
    struct k8s_kv data[] = {{"ssl-redirekt", "false"}, {"completely-unrelated", "1"}};
    struct k8s_kv ann[] = {{"portico.dev/timeout-sever", "1s"}};

    (void)state;
    keys_defaults(&kv);
    keys_defaults(&ref);
    keys_apply_configmap(&ar, &kv, data, 2, on_issue, &is);
    assert_int_equal(is.n, 2);
    assert_string_equal(is.field[0], "data[\"ssl-redirekt\"]");
    assert_non_null(strstr(is.msg[0], "did you mean \"ssl-redirect\""));
    assert_string_equal(is.field[1], "data[\"completely-unrelated\"]");
    assert_null(strstr(is.msg[1], "did you mean"));
    assert_non_null(strstr(is.msg[1], "completely-unrelated"));
    assert_memory_equal(&kv, &ref, sizeof(kv)); /* nothing applied */
    issues_free(&is);

    keys_apply_annotations(&ar, &kv, ann, 1, on_issue, &is);
    assert_int_equal(is.n, 1);
    assert_string_equal(is.field[0], "metadata.annotations[\"portico.dev/timeout-sever\"]");
    assert_non_null(strstr(is.msg[0], "did you mean \"timeout-server\""));
    issues_free(&is);
}

static void test_annotations_each_prefix(void **state)
{
    struct key_values kv;
    struct issues is = {0};

    (void)state;
    for (size_t p = 0; p < k8s_key_prefixes_len; p++) {
        char key[128];
        struct k8s_kv ann[1];

        snprintf(key, sizeof(key), "%sssl-redirect", k8s_key_prefixes[p]);
        ann[0].key = key;
        ann[0].val = "false";
        keys_defaults(&kv);
        keys_apply_annotations(&ar, &kv, ann, 1, on_issue, &is);
        assert_int_equal(is.n, 0);
        assert_false(kv.ssl_redirect);
        snprintf(key, sizeof(key), "%sssl-redirect-code", k8s_key_prefixes[p]);
        ann[0].val = "302";
        keys_apply_annotations(&ar, &kv, ann, 1, on_issue, &is);
        assert_int_equal(kv.ssl_redirect_code, 302);
    }
}

static void test_annotations_canonical_wins(void **state)
{
    struct key_values kv;
    struct issues is = {0};
    /* sorted by key, as decode delivers them */
    struct k8s_kv a1[] = {{"haproxy.org/ssl-redirect", "true"},
                          {"portico.dev/ssl-redirect", "false"}};
    struct k8s_kv a2[] = {{"haproxy.org/ssl-redirect", "false"},
                          {"portico.dev/ssl-redirect", "true"}};
    struct k8s_kv a3[] = {{"haproxy.com/ssl-redirect-code", "301"},
                          {"ingress.kubernetes.io/ssl-redirect-code", "302"},
                          {"portico.dev/ssl-redirect-code", "307"}};
    struct k8s_kv a4[] = {{"haproxy.org/ssl-redirect-code", "301"},
                          {"portico.dev/ssl-redirect-code", "999"}};

    (void)state;
    keys_defaults(&kv);
    keys_apply_annotations(&ar, &kv, a1, 2, on_issue, &is);
    assert_false(kv.ssl_redirect);
    keys_defaults(&kv);
    keys_apply_annotations(&ar, &kv, a2, 2, on_issue, &is);
    assert_true(kv.ssl_redirect);
    keys_defaults(&kv);
    keys_apply_annotations(&ar, &kv, a3, 3, on_issue, &is);
    assert_int_equal(kv.ssl_redirect_code, 307);
    assert_int_equal(is.n, 0);
    /* a bad canonical value is reported and the other prefix's value stays */
    keys_defaults(&kv);
    keys_apply_annotations(&ar, &kv, a4, 2, on_issue, &is);
    assert_int_equal(kv.ssl_redirect_code, 301);
    assert_int_equal(is.n, 1);
    assert_string_equal(is.field[0], "metadata.annotations[\"portico.dev/ssl-redirect-code\"]");
    issues_free(&is);
}

static void test_annotations_scope(void **state)
{
    struct key_values kv;
    struct issues is = {0};
    struct k8s_kv ann[] = {
        {"example.com/whatever", "x"},          /* not ours: silently ignored */
        {"kubernetes.io/ingress.class", "portico"},
        {"portico.dev/timeout-client", "1s"},   /* ConfigMap only */
        {"portico.devx/ssl-redirect", "false"}, /* not our prefix */
    };
    struct k8s_kv data[] = {{"timeout-client", "2s"}};

    (void)state;
    keys_defaults(&kv);
    keys_apply_annotations(&ar, &kv, ann, 4, on_issue, &is);
    assert_int_equal(is.n, 1);
    assert_string_equal(is.field[0], "metadata.annotations[\"portico.dev/timeout-client\"]");
    assert_non_null(strstr(is.msg[0], "ConfigMap"));
    assert_int_equal(kv.timeout_client_ms, 50000);
    assert_true(kv.ssl_redirect);
    issues_free(&is);
    /* and the ConfigMap accepts it */
    keys_apply_configmap(&ar, &kv, data, 1, on_issue, &is);
    assert_int_equal(is.n, 0);
    assert_int_equal(kv.timeout_client_ms, 2000);
}

static void test_long_key_names(void **state)
{
    struct key_values kv;
    struct issues is = {0};
    char key[2000];
    struct k8s_kv data[1];

    (void)state;
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    data[0].key = key;
    data[0].val = "v";
    keys_defaults(&kv);
    keys_apply_configmap(&ar, &kv, data, 1, on_issue, &is);
    assert_int_equal(is.n, 1);
    assert_true(strlen(is.field[0]) < 400);
    issues_free(&is);
}


/* Sets one annotation on defaults; returns the number of issues. */
static size_t annotate(struct key_values *kv, const char *key, const char *val)
{
    struct issues is = {0};
    char name[128];
    struct k8s_kv a;
    size_t n;

    snprintf(name, sizeof(name), "portico.dev/%s", key);
    a.key = name;
    a.val = (char *)val;
    keys_defaults(kv);
    keys_apply_annotations(&ar, kv, &a, 1, on_issue, &is);
    n = is.n;
    issues_free(&is);
    return n;
}

static void test_backend_values_normalised(void **state)
{
    struct key_values kv;

    (void)state;
    assert_int_equal(annotate(&kv, "allow-list", " 10.0.0.1, 2001:DB8::1/64 ,192.168.0.0/16\n"),
                     0);
    assert_string_equal(kv.allow_list, "10.0.0.1 2001:db8::1/64 192.168.0.0/16");
    assert_int_equal(annotate(&kv, "whitelist", "203.0.113.9"), 0); /* the alias */
    assert_string_equal(kv.allow_list, "203.0.113.9");
    assert_int_equal(annotate(&kv, "request-set-header", "X-A  one two\r\n\nX-B %[env(HOME)]"),
                     0);
    assert_string_equal(kv.request_set_header, "X-A\none two\nX-B\n%[env(HOME)]\n");
    assert_int_equal(annotate(&kv, "path-rewrite", "^/api/(.*)  /v2/\\1"), 0);
    assert_string_equal(kv.path_rewrite, "^/api/(.*)\n/v2/\\1\n");
    assert_int_equal(annotate(&kv, "path-rewrite", "/"), 0);
    assert_string_equal(kv.path_rewrite, "(.*)\n/\n");
    assert_int_equal(annotate(&kv, "path-rewrite", " ^/a/(.*) /b/\\1 \r\n\n/c(.*) /d\\1"), 0);
    assert_string_equal(kv.path_rewrite, "^/a/(.*)\n/b/\\1\n/c(.*)\n/d\\1\n");
    /* a last line with leading blanks: read to its end, not past it */
    assert_int_equal(annotate(&kv, "path-rewrite", "/a /b\r\n    /c /d"), 0);
    assert_string_equal(kv.path_rewrite, "/a\n/b\n/c\n/d\n");
    assert_int_equal(annotate(&kv, "cors-allow-origin", "^https://(.+\\.)?example\\.com$"), 0);
    assert_string_equal(kv.cors_allow_origin, "^https://(.+\\.)?example\\.com$");
    assert_int_equal(annotate(&kv, "set-host", "internal.example.com:8080"), 0);
    assert_string_equal(kv.set_host, "internal.example.com:8080");
    assert_int_equal(annotate(&kv, "load-balance", "leastconn"), 0);
    assert_string_equal(kv.load_balance, "leastconn");
    assert_int_equal(annotate(&kv, "cors-allow-origin", "https://a.example, http://b.example:81"),
                     0);
    assert_string_equal(kv.cors_allow_origin, "https://a.example http://b.example:81");
    assert_int_equal(annotate(&kv, "cors-allow-methods", "GET,POST , PUT"), 0);
    assert_string_equal(kv.cors_allow_methods, "GET, POST, PUT");
    assert_int_equal(annotate(&kv, "cors-max-age", "10m"), 0);
    assert_int_equal(kv.cors_max_age, 600);
    assert_int_equal(annotate(&kv, "rate-limit-size", "250k"), 0);
    assert_int_equal(kv.rate_limit_size, 250000);
    assert_int_equal(annotate(&kv, "rate-limit-status-code", "503"), 0);
    assert_int_equal(kv.rate_limit_status_code, 503);
    assert_int_equal(annotate(&kv, "check-http", "/healthz"), 0);
    assert_string_equal(kv.check_http, "GET /healthz");
    assert_int_equal(annotate(&kv, "check-http", "HEAD /ready?x=1"), 0);
    assert_string_equal(kv.check_http, "HEAD /ready?x=1");
    assert_int_equal(annotate(&kv, "server-proto", "h2"), 0);
    assert_string_equal(kv.server_proto, "h2");
    assert_int_equal(annotate(&kv, "auth-type", "basic-auth"), 0);
    assert_string_equal(kv.auth_type, "basic-auth");
    assert_int_equal(annotate(&kv, "auth-secret", "team-a/users.v2"), 0);
    assert_string_equal(kv.auth_secret, "team-a/users.v2");
    assert_int_equal(annotate(&kv, "auth-realm", "Staff only (ask IT)"), 0);
    assert_string_equal(kv.auth_realm, "Staff only (ask IT)");
}

/* Every value that could change HAProxy's configuration beyond the key is
 * refused, with one issue, and the default kept. */
static void test_backend_values_refused(void **state)
{
    static const struct {
        const char *key, *val;
    } bad[] = {
        {"allow-list", "10.0.0.1\x01"},       {"allow-list", "10.0.0.1 or 1=1"},
        {"allow-list", "10.0.0.0/33"},         {"allow-list", "::1/129"},
        {"allow-list", "10.0.0.1/8/8"},        {"deny-list", "${IP}"},
        {"request-set-header", "X-A it's"},    {"request-set-header", "X-A a  b"},
        {"request-set-header", "X-A a\x7f"},   {"request-set-header", "X-A \xc3\xa9"},
        {"request-set-header", "X:A b"},       {"request-set-header", "X-A"},
        {"response-set-header", "X-A a\rb"},   {"path-rewrite", "/a( /b"},
        {"path-rewrite", "/a /b /c"},          {"path-rewrite", "/a '/b'"},
        {"path-rewrite", "/c\n/a( /b"},        {"set-host", "a b"},
        {"cors-allow-origin", "^(a"},          {"cors-allow-origin", "^a b"},
        /* "-m reg" has no groups in HAProxy: "\1" names none */
        {"cors-allow-origin", "^(a)\\1"},
        {"request-redirect", "x.example/path"}, {"request-redirect-code", "200"},
        {"set-host", "-a.example"},            {"set-host", "a.example:0"},
        {"set-host", "a..example"},            {"set-host", "a.example#x"},
        {"load-balance", "static-rr"},         {"load-balance", "roundrobin\n"},
        {"cors-allow-origin", "example.com"},  {"cors-allow-origin", "https://a b'"},
        {"cors-allow-methods", "GET;POST"},    {"cors-max-age", "1500ms"},
        {"server-proto", "h3"},                {"server-ssl", "yes"},
        {"rate-limit-requests", "-1"},         {"rate-limit-requests", "1e3"},
        {"rate-limit-status-code", "418"},     {"rate-limit-status-code", "200"},
        {"rate-limit-size", "10g"},            {"rate-limit-size", "0"},
        {"rate-limit-size", "200m"},           {"rate-limit-period", "1 s"},
        {"rate-limit-whitelist", "any"},
        {"cookie-persistence", "a#b"},         {"cookie-persistence", "$HOME"},
        {"cookie-persistence", "a b"},         {"send-proxy-protocol", "v2"},
        {"pod-maxconn", "-5"},                 {"abortonclose", "1"},
        {"check-http", "healthz"},             {"check-http", "get /healthz"},
        {"check-http", "/a b"},                {"check-http", "/a#b"},
        {"check-http", "GET /a'"},             {"check-interval", "often"},
        {"auth-type", "basic"},                {"auth-type", "digest"},
        {"auth-secret", "a/b/c"},              {"auth-secret", "Users"},
        {"auth-secret", "../etc"},             {"auth-secret", "ns/"},
        {"auth-realm", "a \"b\""},             {"auth-realm", "it's"},
        {"auth-realm", "a\\b"},                {"auth-realm", "a\nb"},
        {"auth-realm", "\xc3\xa9t\xc3\xa9"},
        {"src-ip-header", "X-Real-IP)"},       {"src-ip-header", "a b"},
        {"timeout-check", "soon"},
    };
    struct key_values kv, def;

    (void)state;
    keys_defaults(&def);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (annotate(&kv, bad[i].key, bad[i].val) != 1)
            fail_msg("%s: \"%s\" was not refused", bad[i].key, bad[i].val);
        assert_memory_equal(&kv, &def, sizeof(kv));
    }
}

static void test_backend_differs(void **state)
{
    struct key_values base, kv;
    uint64_t h1, h2, h3;

    (void)state;
    keys_defaults(&base);
    keys_defaults(&kv);
    assert_false(keys_backend_differs(&kv, &base, &h1));
    /* a ConfigMap-only key is not a backend's */
    kv.timeout_client_ms = 1;
    assert_false(keys_backend_differs(&kv, &base, &h1));
    assert_int_equal(annotate(&kv, "load-balance", "leastconn"), 0);
    assert_true(keys_backend_differs(&kv, &base, &h1));
    assert_int_equal(annotate(&kv, "load-balance", "leastconn"), 0);
    assert_true(keys_backend_differs(&kv, &base, &h2));
    assert_true(h1 == h2);
    assert_int_equal(annotate(&kv, "load-balance", "first"), 0);
    assert_true(keys_backend_differs(&kv, &base, &h3));
    assert_true(h1 != h3);
    /* the same value as the ConfigMap's is no difference */
    assert_int_equal(annotate(&kv, "timeout-server", "50s"), 0);
    assert_false(keys_backend_differs(&kv, &base, &h1));
}

static void test_snippets(void **state)
{
    static const char *const refused[] = {
        "lua-load /tmp/x.lua",
        "http-request lua.foo",
        "http-request set-header X %[env(PORTICO_TOKEN)]",
        "http-request set-header X \"${HOME}\"",
        "http-request set-header X $HOME",
        "http-request return status 200 file /etc/passwd",
        "http-request return status 200 lf-file /etc/passwd",
        "acl bad src -f /etc/passwd",
        "errorfile 503 /etc/shadow",
        "external-check command /bin/sh",
        "option external-check",
        ".if defined(X)",
        "backend other",
        "server s1 10.0.0.1:80",
        "default-server check",
        "stats socket /tmp/s level admin",
        "http-request set-header X 'quoted'",
        "http-request set-header X a\\x0ab",
        "http-request use-service prometheus-exporter",
        "http-request set-header X \xc3\xa9",
    };
    struct key_values kv;

    (void)state;
    assert_int_equal(annotate(&kv, "backend-config-snippet",
                              "  http-request set-header X-Snippet on\n\n# note\n"
                              "option http-buffer-request\t\n"),
                     0);
    assert_string_equal(kv.backend_snippet,
                        "http-request set-header X-Snippet on\noption http-buffer-request\n");
    /* a last line with indentation: read to its end, not past it */
    assert_int_equal(annotate(&kv, "backend-config-snippet", "timeout check 1s\n    acl a src 1.2.3.4"), 0);
    assert_string_equal(kv.backend_snippet, "timeout check 1s\nacl a src 1.2.3.4\n");
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (annotate(&kv, "backend-config-snippet", refused[i]) != 1)
            fail_msg("snippet \"%s\" was not refused", refused[i]);
        assert_null(kv.backend_snippet);
    }
}

int main(void)
{
    int failed;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_configmap),
        cmocka_unit_test(test_configmap_bad_values),
        cmocka_unit_test(test_log_targets),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_nginx_rewrite_and_affinity),
        cmocka_unit_test(test_nginx_alias_fallback_errors),
        cmocka_unit_test(test_backend_differs_nginx_extras),
        cmocka_unit_test(test_redirect_codes),
        cmocka_unit_test(test_unknown_key_suggestion),
        cmocka_unit_test(test_annotations_each_prefix),
        cmocka_unit_test(test_annotations_canonical_wins),
        cmocka_unit_test(test_annotations_scope),
        cmocka_unit_test(test_long_key_names),
        cmocka_unit_test(test_backend_values_normalised),
        cmocka_unit_test(test_backend_values_refused),
        cmocka_unit_test(test_backend_differs),
        cmocka_unit_test(test_snippets),
    };

    arena_init(&ar);
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    arena_deinit(&ar);
    return failed;
}
