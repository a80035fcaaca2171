/* SPDX-License-Identifier: Apache-2.0 */
/* Command-line flags: parsing, errors naming the closest flag, generated help. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/opts.h"

static int parse(struct opts *o, char **err, int argc, char **argv)
{
    opts_defaults(o);
    return opts_parse(o, argc, argv, 0, false, err);
}

static void test_defaults(void **state)
{
    struct opts o;

    (void)state;
    opts_defaults(&o);
    assert_int_equal(o.http_port, 8080);
    assert_int_equal(o.https_port, 8443);
    assert_int_equal(o.stats_port, 1024);
    assert_int_equal(o.healthz_port, 1042);
    assert_int_equal(o.controller_port, 6060);
    assert_string_equal(o.ingress_class, "portico");
    assert_string_equal(o.controller_name, "portico.dev/ingress-controller");
    assert_false(o.watch_without_class);
    assert_null(o.manifests);
    assert_int_equal(o.min_reload_interval_ms, 2000);
    assert_int_equal(o.debounce_ms, 10);
    opts_free(&o);
}

static void test_durations(void **state)
{
    static const struct {
        const char *arg;
        uint32_t ms;
    } cases[] = {
        {"--min-reload-interval=500ms", 500},
        {"--min-reload-interval=0", 0},
        {"--min-reload-interval=1m", 60000},
        {"--min-reload-interval=1500", 1500},
        {"--debounce=50ms", 50},
        {"--debounce=0", 0},
        {"--debounce=1s", 1000},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[] = {(char *)cases[i].arg};
        struct opts o;
        char *err = NULL;

        assert_int_equal(parse(&o, &err, 1, argv), 0);
        assert_int_equal(strncmp(cases[i].arg, "--debounce", 10) ? o.min_reload_interval_ms
                                                                 : o.debounce_ms,
                         cases[i].ms);
        opts_free(&o);
    }
}

static void test_values_and_booleans(void **state)
{
    char *argv[] = {"--manifests=/m", "--http-bind-port", "81", "--watch-ingress-without-class",
                    "--disable-ipv6=false", "--ingress.class=other",
                    "--default-backend-service=ns/svc", "--publish-address=fd00::1",
                    "--publish-service=kube-system/lb"};
    struct opts o;
    char *err = NULL;

    (void)state;
    assert_int_equal(parse(&o, &err, 9, argv), 0);
    assert_string_equal(o.manifests, "/m");
    assert_int_equal(o.http_port, 81);
    assert_true(o.watch_without_class);
    assert_false(o.disable_ipv6);
    assert_string_equal(o.ingress_class, "other");
    assert_string_equal(o.default_backend_service, "ns/svc");
    assert_string_equal(o.publish_address, "fd00::1");
    assert_string_equal(o.publish_service, "kube-system/lb");
    opts_free(&o);
}

/* The HAProxy Kubernetes Ingress Controller's flags: those that mean
 * something here are honoured, under their name or as aliases; the others
 * are accepted with a warning, with or without a value, never refused. */
static void test_haproxy_controller_flags(void **state)
{
    char *argv[] = {"--prometheus", "--sync-period", "5s", "--quic-bind-port=443",
                    "--log=trace", "--program=/opt/haproxy", "--disable-ipv4",
                    "--disable-ingress-status-update", "--configmap-tcp-services=ns/tcp",
                    "--ingress.class=haproxy", "--empty-ingress-class", "--with-s6-overlay"};
    struct opts o;
    char *err = NULL;

    (void)state;
    assert_int_equal(parse(&o, &err, 12, argv), 0);
    assert_null(err);
    assert_string_equal(o.log_level, "trace");
    assert_string_equal(o.haproxy_bin, "/opt/haproxy");
    assert_true(o.disable_ipv4);
    assert_true(o.disable_status);
    assert_string_equal(o.ingress_class, "haproxy");
    assert_true(o.watch_without_class);
    /* "5s" was the value of --sync-period, not a stray argument */
    opts_free(&o);
}

static void expect_error(const char *arg, const char *needle)
{
    char *argv[] = {(char *)arg};
    struct opts o;
    char *err = NULL;

    assert_int_not_equal(parse(&o, &err, 1, argv), 0);
    assert_non_null(err);
    if (!strstr(err, needle))
        fail_msg("%s: \"%s\" does not contain \"%s\"", arg, err, needle);
    free(err);
    opts_free(&o);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("--http-bind-prt=1", "did you mean --http-bind-port?");
    expect_error("--zzzzzzzzzzzz", "unknown flag --zzzzzzzzzzzz");
    expect_error("--http-bind-port=70000", "--http-bind-port: expects a port number");
    expect_error("--http-bind-port=8080\nX", "--http-bind-port: expects a port number");
    expect_error("--disable-ipv6=yes", "expects true or false");
    expect_error("--configmap=noslash", "NAMESPACE/NAME");
    expect_error("--configmap=Bad/Name", "not a valid NAMESPACE/NAME");
    expect_error("--log-level=loud", "error, warning, info or debug");
    expect_error("--min-reload-interval=2x", "--min-reload-interval: expects a duration");
    expect_error("--min-reload-interval=-1s", "--min-reload-interval: expects a duration");
    expect_error("--debounce=10 ms", "--debounce: expects a duration");
    expect_error("--publish-address=not an address", "not an IP address or a DNS name");
    expect_error("--publish-address=", "not an IP address or a DNS name");
    expect_error("--publish-service=portico", "NAMESPACE/NAME");
    expect_error("--output-dir=/x", "unknown flag --output-dir"); /* render only */
    expect_error("positional", "unexpected argument");
}

static void test_help_lists_every_flag(void **state)
{
    static const char *const flags[] = {
        "--manifests=",          "--ingress-class=",       "--controller-name=",
        "--watch-ingress-without-class", "--configmap=",   "--default-backend-service=",
        "--default-ssl-certificate=",   "--http-bind-port=", "--https-bind-port=",
        "--stats-bind-port=",    "--healthz-bind-port=",   "--ipv4-bind-address=",
        "--ipv6-bind-address=",  "--disable-ipv6",         "--disable-http",
        "--disable-https",       "--controller-port=",     "--haproxy-binary=",
        "--config-dir=",         "--runtime-dir=",         "--log-level=",
        "--log-format=",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    opts_usage(f, false);
    fclose(f);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (!strstr(text, flags[i]))
            fail_msg("--help does not list %s", flags[i]);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values_and_booleans),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_haproxy_controller_flags),
        cmocka_unit_test(test_help_lists_every_flag),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
