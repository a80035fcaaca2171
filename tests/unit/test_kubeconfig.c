/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig parsing: contexts, inline and file credentials, refusals that
 * name the field. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/config.h"

static const char base[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: dev\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:6443/\n"
    "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
    "- name: c2\n"
    "  cluster:\n"
    "    server: https://10.0.0.1\n"
    "    insecure-skip-tls-verify: true\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: c1, user: u1}\n"
    "- name: prod\n"
    "  context: {cluster: c2, user: u2}\n"
    "- name: broken\n"
    "  context: {cluster: missing, user: u1}\n"
    "users:\n"
    "- name: u1\n"
    "  user: {token: abc123}\n"
    "- name: u2\n"
    "  user: {tokenFile: tok}\n";

static void test_current_context(void **state)
{
    struct kube_config kc;
    char *err = NULL;

    (void)state;
    assert_int_equal(kube_config_parse(&kc, base, strlen(base), "/nonexistent", NULL, &err), 0);
    assert_string_equal(kc.server, "https://127.0.0.1:6443");
    assert_string_equal(kc.ca_pem, "-----BEGIN CERTIFICATE-----\n");
    assert_string_equal(kc.token, "abc123");
    assert_false(kc.insecure);
    assert_null(kc.cert_pem);
    kube_config_free(&kc);
}

static void test_context_with_token_file(void **state)
{
    char dir[] = "/tmp/portico-kc-XXXXXX", path[64];
    struct kube_config kc;
    char *err = NULL;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/tok", dir);
    f = fopen(path, "w");
    fputs("s3cret\n", f);
    fclose(f);
    assert_int_equal(kube_config_parse(&kc, base, strlen(base), dir, "prod", &err), 0);
    assert_string_equal(kc.server, "https://10.0.0.1");
    assert_true(kc.insecure);
    assert_string_equal(kc.token, "s3cret");
    /* rotation: the file changes, the token follows */
    f = fopen(path, "w");
    fputs("rotated", f);
    fclose(f);
    assert_int_equal(kube_config_reload_token(&kc, &err), 0);
    assert_string_equal(kc.token, "rotated");
    kube_config_free(&kc);
    unlink(path);
    rmdir(dir);
}

static void expect_error(const char *text, const char *context, const char *needle)
{
    struct kube_config kc;
    char *err = NULL;

    assert_int_not_equal(kube_config_parse(&kc, text, strlen(text), "/x", context, &err), 0);
    assert_non_null(err);
    if (!strstr(err, needle))
        fail_msg("\"%s\" does not contain \"%s\"", err, needle);
    free(err);
}

static void test_errors_name_the_field(void **state)
{
    static const char exec[] =
        "current-context: a\n"
        "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {exec: {command: aws}}}]\n";
    static const char plain[] =
        "current-context: a\n"
        "clusters: [{name: c, cluster: {server: 'http://h'}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n";
    static const char half[] =
        "current-context: a\n"
        "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {client-certificate-data: QQ==}}]\n";

    (void)state;
    expect_error(exec, NULL, "users[\"u\"].exec: exec credential plugins are not supported");
    expect_error(plain, NULL, "clusters[\"c\"].server: must be an https:// URL");
    expect_error(half, NULL, "client-certificate and client-key go together");
    expect_error(base, "nope", "no context named \"nope\"");
    expect_error(base, "broken", "no cluster named \"missing\"");
    expect_error("kind: Config\n", NULL, "current-context: missing");
    expect_error("a: [\n", NULL, "document 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_context),
        cmocka_unit_test(test_context_with_token_file),
        cmocka_unit_test(test_errors_name_the_field),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
