/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes JSON -> struct k8s_*: src/kube/decode.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/decode.h"
#include "store/objects.h"
#include "store/store.h"
#include "util/xalloc.h"
#include "testutil.h"

/* Decodes <json>, which must fail; checks that the error contains <needle>
 * and, when <want_ref> is set, that the reference equals it. */
static void expect_error(const char *json, const char *needle, const char *want_ref)
{
    json_t *j = tu_json(json);
    struct k8s_obj *o = (struct k8s_obj *)0x1;
    char *err = NULL, *ref = NULL;
    enum decode_result r = decode_object(j, &o, &ref, &err);

    json_decref(j);
    if (r != DECODE_ERROR)
        fail_msg("expected DECODE_ERROR for %s, got %d", json, (int)r);
    assert_null(o);
    assert_non_null(err);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    if (want_ref) {
        assert_non_null(ref);
        assert_string_equal(ref, want_ref);
    }
    free(err);
    free(ref);
}

#define ING_HEAD                                                                                   \
    "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", "                          \
    "\"metadata\": {\"name\": \"web\", \"namespace\": \"shop\"}, "

/* One path with the given JSON fragment for the path entry. */
static char *ingress_with_path(const char *path_json)
{
    return xasprintf(ING_HEAD "\"spec\": {\"rules\": [{\"host\": \"foo.com\", \"http\": "
                              "{\"paths\": [%s]}}]}}",
                     path_json);
}

/* Address <k> of endpoint <e> of <es> as text, valid until the next call. */
static const char *addr_text(const struct k8s_endpoint_slice *es, size_t e, size_t k)
{
    static char text[64];
    size_t len = K8S_ADDR_LEN(es->addr_type);

    assert_true(k < es->endpoints[e].n_addresses);
    assert_non_null(inet_ntop(len == 16 ? AF_INET6 : AF_INET,
                              es->addrs + (es->endpoints[e].addr_at + k) * len, text,
                              sizeof(text)));
    return text;
}

/* ====== Ingress ====== */

static void test_ingress_full(void **state)
{
    struct k8s_obj *o;
    struct k8s_ingress *ing;

    (void)state;
    o = tu_decode(
        "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\","
        " \"metadata\": {\"name\": \"web\", \"namespace\": \"shop\", \"uid\": \"u-1\","
        "  \"resourceVersion\": \"77\", \"creationTimestamp\": \"2024-03-01T10:20:30Z\","
        "  \"annotations\": {\"z\": \"last\", \"portico.dev/ssl-redirect\": \"false\","
        "   \"kubectl.kubernetes.io/last-applied-configuration\": \"{}\","
        "   \"kubernetes.io/ingress.class\": \"portico\"},"
        "  \"labels\": {\"app\": \"web\", \"kubernetes.io/service-name\": \"x\"}},"
        " \"spec\": {\"ingressClassName\": \"portico\","
        "  \"defaultBackend\": {\"service\": {\"name\": \"fallback\", \"port\": {\"name\": "
        "\"http\"}}},"
        "  \"tls\": [{\"hosts\": [\"foo.com\", \"*.bar.com\"], \"secretName\": \"foo-tls\"},"
        "          {\"secretName\": \"other\"}],"
        "  \"rules\": ["
        "   {\"host\": \"foo.com\", \"http\": {\"paths\": ["
        "     {\"path\": \"/exact\", \"pathType\": \"Exact\", \"backend\": {\"service\": "
        "{\"name\": \"a\", \"port\": {\"number\": 80}}}},"
        "     {\"path\": \"/pre\", \"pathType\": \"Prefix\", \"backend\": {\"service\": "
        "{\"name\": \"b\", \"port\": {\"name\": \"web\"}}}},"
        "     {\"path\": \"/impl\", \"pathType\": \"ImplementationSpecific\", \"backend\": "
        "{\"service\": {\"name\": \"c\", \"port\": {\"number\": 8080}}}},"
        "     {\"backend\": {\"service\": {\"name\": \"d\", \"port\": {\"number\": 1}}}}]}},"
        "   {\"http\": {\"paths\": [{\"path\": \"/\", \"pathType\": \"Prefix\", \"backend\": "
        "{\"resource\": {\"apiGroup\": \"x\", \"kind\": \"Bucket\", \"name\": \"b\"}}}]}},"
        "   {\"host\": \"\"},"
        "   {\"host\": \"empty.com\"}]},"
        " \"status\": {\"loadBalancer\": {}}}");
    assert_int_equal(o->kind, K8S_INGRESS);
    /* what follows reads the object after it was packed into one block */
    assert_true(o->flags & K8S_F_PACKED);
    ing = (struct k8s_ingress *)o;
    assert_string_equal(o->meta.ns, "shop");
    assert_string_equal(k8s_name(&o->meta), "web");
    assert_string_equal(o->meta.key, "shop/web");
    assert_int_equal(o->created, 1709288430);
    /* only the annotations Portico reads are kept, sorted by key; no labels */
    assert_int_equal(o->n_annotations, 2);
    assert_string_equal(o->meta.annotations[0].key, "kubernetes.io/ingress.class");
    assert_string_equal(o->meta.annotations[1].key, "portico.dev/ssl-redirect");
    assert_string_equal(
        k8s_kv_get(o->meta.annotations, o->n_annotations, "portico.dev/ssl-redirect"),
        "false");
    assert_null(k8s_kv_get(o->meta.annotations, o->n_annotations, "z"));
    assert_string_equal(ing->class_name, "portico");

    assert_non_null(ing->default_backend);
    assert_non_null(ing->default_backend->svc);
    assert_string_equal(ing->default_backend->svc, "fallback");
    assert_string_equal(ing->default_backend->port_name, "http");
    assert_int_equal(ing->default_backend->port_num, 0);

    assert_int_equal(ing->n_rules, 4);
    assert_string_equal(ing->rules[0].host, "foo.com");
    assert_int_equal(ing->rules[0].n_paths, 4);
    assert_string_equal(ing->rules[0].paths[0].path, "/exact");
    assert_int_equal(ing->rules[0].paths[0].type, K8S_PATH_EXACT);
    assert_string_equal(ing->rules[0].paths[0].svc, "a");
    assert_int_equal(ing->rules[0].paths[0].port_num, 80);
    assert_null(ing->rules[0].paths[0].port_name);
    assert_int_equal(ing->rules[0].paths[1].type, K8S_PATH_PREFIX);
    assert_string_equal(ing->rules[0].paths[1].port_name, "web");
    assert_int_equal(ing->rules[0].paths[1].port_num, 0);
    assert_int_equal(ing->rules[0].paths[2].type, K8S_PATH_IMPL);
    assert_int_equal(ing->rules[0].paths[2].port_num, 8080);
    /* missing path is "", missing pathType is ImplementationSpecific */
    assert_string_equal(ing->rules[0].paths[3].path, "");
    assert_int_equal(ing->rules[0].paths[3].type, K8S_PATH_IMPL);
    assert_int_equal(ing->rules[0].paths[3].port_num, 1);
    /* rule without host; resource backend */
    assert_null(ing->rules[1].host);
    assert_int_equal(ing->rules[1].n_paths, 1);
    assert_null(ing->rules[1].paths[0].svc); /* a backend.resource */
    /* empty host is no host; rule without http has no paths */
    assert_null(ing->rules[2].host);
    assert_int_equal(ing->rules[2].n_paths, 0);
    assert_string_equal(ing->rules[3].host, "empty.com");
    assert_int_equal(ing->rules[3].n_paths, 0);

    assert_int_equal(ing->n_tls, 2);
    assert_int_equal(ing->tls[0].n_hosts, 2);
    assert_string_equal(ing->tls[0].hosts[0], "foo.com");
    assert_string_equal(ing->tls[0].hosts[1], "*.bar.com");
    assert_string_equal(ing->tls[0].secret, "foo-tls");
    assert_int_equal(ing->tls[1].n_hosts, 0);
    assert_string_equal(ing->tls[1].secret, "other");
    k8s_obj_free(o);
}

static void test_ingress_minimal(void **state)
{
    struct k8s_obj *o;
    struct k8s_ingress *ing;

    (void)state;
    /* no namespace: "default"; no spec: nothing */
    o = tu_decode("{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", "
                  "\"metadata\": {\"name\": \"x\"}}");
    ing = (struct k8s_ingress *)o;
    assert_string_equal(o->meta.ns, "default");
    assert_int_equal(o->created, 0);
    assert_int_equal(o->n_annotations, 0);
    assert_null(ing->class_name);
    assert_null(ing->default_backend);
    assert_int_equal(ing->n_rules, 0);
    assert_int_equal(ing->n_tls, 0);
    k8s_obj_free(o);
    /* annotations and labels, none of them read: nothing kept */
    o = tu_decode("{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", "
                  "\"metadata\": {\"name\": \"x\", \"annotations\": "
                  "{\"kubectl.kubernetes.io/last-applied-configuration\": \"{}\"}, "
                  "\"labels\": {\"app\": \"x\"}}}");
    assert_int_equal(o->n_annotations, 0);
    assert_null(o->meta.annotations);
    k8s_obj_free(o);
    /* the creation time only orders objects: before 1970 is as old as absent */
    o = tu_decode("{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", "
                  "\"metadata\": {\"name\": \"x\", \"creationTimestamp\": "
                  "\"1969-12-31T23:59:59Z\"}}");
    assert_int_equal(o->created, 0);
    k8s_obj_free(o);
    o = tu_decode("{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", "
                  "\"metadata\": {\"name\": \"x\", \"creationTimestamp\": "
                  "\"2106-02-07T06:28:15Z\"}}");
    assert_int_equal(o->created, UINT32_MAX);
    k8s_obj_free(o);
}

static void test_ingress_path_errors(void **state)
{
    char *j;

    (void)state;
    j = ingress_with_path(
        "{\"path\": \"/a\", \"pathType\": \"Prefix\", \"backend\": {\"service\": {\"name\": "
        "\"a\", \"port\": {\"number\": 80}}}},"
        "{\"path\": \"/b\", \"pathType\": \"Regex\", \"backend\": {\"service\": {\"name\": "
        "\"a\", \"port\": {\"number\": 80}}}}");
    expect_error(j, "spec.rules[0].http.paths[1].pathType", "ingress/shop/web");
    expect_error(j, "Regex", NULL);
    free(j);

    j = ingress_with_path("{\"path\": \"/a\", \"pathType\": \"Prefix\"}");
    expect_error(j, "spec.rules[0].http.paths[0].backend", "ingress/shop/web");
    free(j);

    j = ingress_with_path("{\"path\": 5, \"pathType\": \"Prefix\", \"backend\": {\"service\": "
                          "{\"name\": \"a\", \"port\": {\"number\": 80}}}}");
    expect_error(j, "spec.rules[0].http.paths[0].path", NULL);
    free(j);

    j = ingress_with_path("\"not an object\"");
    expect_error(j, "spec.rules[0].http.paths[0]", NULL);
    free(j);

    /* port number and name are exclusive, and one is required */
    j = ingress_with_path("{\"path\": \"/\", \"pathType\": \"Prefix\", \"backend\": {\"service\": "
                          "{\"name\": \"a\", \"port\": {\"number\": 80, \"name\": \"http\"}}}}");
    expect_error(j, "spec.rules[0].http.paths[0].backend.service.port", NULL);
    free(j);
    j = ingress_with_path("{\"path\": \"/\", \"pathType\": \"Prefix\", \"backend\": {\"service\": "
                          "{\"name\": \"a\", \"port\": {}}}}");
    expect_error(j, "spec.rules[0].http.paths[0].backend.service.port", NULL);
    free(j);
    j = ingress_with_path("{\"path\": \"/\", \"pathType\": \"Prefix\", \"backend\": {\"service\": "
                          "{\"name\": \"a\"}}}");
    expect_error(j, "spec.rules[0].http.paths[0].backend.service.port", NULL);
    free(j);
    j = ingress_with_path("{\"path\": \"/\", \"pathType\": \"Prefix\", \"backend\": {\"service\": "
                          "{\"port\": {\"number\": 80}}}}");
    expect_error(j, "spec.rules[0].http.paths[0].backend.service.name", NULL);
    free(j);
    j = ingress_with_path("{\"path\": \"/\", \"pathType\": \"Prefix\", \"backend\": {}}");
    expect_error(j, "spec.rules[0].http.paths[0].backend.service", NULL);
    free(j);
    /* port number range */
    j = ingress_with_path("{\"path\": \"/\", \"pathType\": \"Prefix\", \"backend\": {\"service\": "
                          "{\"name\": \"a\", \"port\": {\"number\": 70000}}}}");
    expect_error(j, "spec.rules[0].http.paths[0].backend.service.port.number", NULL);
    free(j);
    j = ingress_with_path("{\"path\": \"/\", \"pathType\": \"Prefix\", \"backend\": {\"service\": "
                          "{\"name\": \"a\", \"port\": {\"number\": 0}}}}");
    expect_error(j, "spec.rules[0].http.paths[0].backend.service.port.number", NULL);
    free(j);
    j = ingress_with_path("{\"path\": \"/\", \"pathType\": \"Prefix\", \"backend\": {\"service\": "
                          "{\"name\": \"a\", \"port\": {\"number\": \"80\"}}}}");
    expect_error(j, "spec.rules[0].http.paths[0].backend.service.port.number", NULL);
    free(j);
}

static void test_ingress_other_errors(void **state)
{
    (void)state;
    expect_error(ING_HEAD "\"spec\": {\"rules\": {}}}", "spec.rules", "ingress/shop/web");
    expect_error(ING_HEAD "\"spec\": {\"rules\": [{}, 7]}}", "spec.rules[1]", NULL);
    expect_error(ING_HEAD "\"spec\": {\"rules\": [{\"host\": 5}]}}", "spec.rules[0].host", NULL);
    expect_error(ING_HEAD "\"spec\": {\"rules\": [{\"http\": {\"paths\": {}}}]}}",
                 "spec.rules[0].http.paths", NULL);
    expect_error(ING_HEAD "\"spec\": {\"tls\": [{\"hosts\": [\"a.com\", 3]}]}}",
                 "spec.tls[0].hosts[1]", NULL);
    expect_error(ING_HEAD "\"spec\": {\"tls\": [{\"secretName\": []}]}}",
                 "spec.tls[0].secretName", NULL);
    expect_error(ING_HEAD "\"spec\": {\"defaultBackend\": {\"service\": {\"name\": \"a\"}}}}",
                 "spec.defaultBackend.service.port", NULL);
    expect_error(ING_HEAD "\"spec\": {\"ingressClassName\": 1}}", "spec.ingressClassName",
                 NULL);
    expect_error(ING_HEAD "\"spec\": []}", "spec", NULL);
    /* a NUL inside a string is refused */
    expect_error(ING_HEAD "\"spec\": {\"rules\": [{\"host\": \"a\\u0000b.com\"}]}}",
                 "spec.rules[0].host", NULL);
}

static void test_metadata_errors(void **state)
{
    (void)state;
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\"}", "metadata", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {}}",
                 "metadata.name", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"\"}}",
                 "metadata.name", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": 3}}",
                 "metadata.name", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s\", "
                 "\"namespace\": \"n\", \"annotations\": {\"a\": 1}}}",
                 "metadata.annotations", "service/n/s");
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s\", "
                 "\"namespace\": \"n\", \"labels\": []}}",
                 "metadata.labels", NULL);
    /* labels are not kept, but still checked */
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s\", "
                 "\"namespace\": \"n\", \"labels\": {\"app\": 1}}}",
                 "metadata.labels", "service/n/s");
    /* after annotations were read (nothing leaks: valgrind) */
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s\", "
                 "\"namespace\": \"n\", \"annotations\": {\"portico.dev/x\": \"1\"}, "
                 "\"labels\": {\"app\": 1}}}",
                 "metadata.labels", "service/n/s");
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s\", "
                 "\"creationTimestamp\": \"yesterday\"}}",
                 "metadata.creationTimestamp", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": []}", "metadata",
                 NULL);
}

/* A Service with <n> annotations under <prefix>, as JSON (caller frees). */
static char *many_annotations(const char *prefix, int n)
{
    size_t size = 256 + (size_t)n * (strlen(prefix) + 24), len;
    char *json = xmalloc(size);

    len = (size_t)snprintf(json, size, "{\"apiVersion\": \"v1\", \"kind\": \"Service\", "
                                       "\"metadata\": {\"name\": \"s\", \"annotations\": {");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(json + len, size - len, "%s\"%s%d\": \"v\"", i ? ", " : "",
                                prefix, i);
    snprintf(json + len, size - len, "}}}");
    return json;
}

/* An object keeps at most 65,535 of the annotations Portico reads; the
 * others are not counted. */
static void test_annotation_count(void **state)
{
    char *json = many_annotations("portico.dev/a", 65536);
    struct k8s_obj *o;

    (void)state;
    expect_error(json, "metadata.annotations: more than 65535", "service/default/s");
    free(json);
    json = many_annotations("example.com/a", 65536);
    o = tu_decode(json);
    assert_int_equal(o->n_annotations, 0);
    k8s_obj_free(o);
    free(json);
    json = many_annotations("portico.dev/a", 65535);
    o = tu_decode(json);
    assert_int_equal(o->n_annotations, 65535);
    assert_string_equal(k8s_kv_get(o->meta.annotations, o->n_annotations, "portico.dev/a65534"),
                        "v");
    k8s_obj_free(o);
    free(json);
}

static void test_envelope(void **state)
{
    json_t *j;
    struct k8s_obj *o;
    char *err = NULL, *ref = NULL;

    (void)state;
    /* not an object */
    j = json_array();
    assert_int_equal(decode_object(j, &o, &ref, &err), DECODE_ERROR);
    assert_null(o);
    assert_non_null(err);
    json_decref(j);
    FREE_NULL(err);
    expect_error("{\"kind\": \"Service\", \"metadata\": {\"name\": \"s\"}}", "apiVersion", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"metadata\": {\"name\": \"s\"}}", "kind", NULL);
    /* unknown kinds and versions are ignored */
    static const char *const ignored[] = {
        "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"}}",
        "{\"apiVersion\": \"apps/v1\", \"kind\": \"Deployment\", \"metadata\": {\"name\": \"d\"}}",
        "{\"apiVersion\": \"extensions/v1beta1\", \"kind\": \"Ingress\", \"metadata\": "
        "{\"name\": \"i\"}}",
        "{\"apiVersion\": \"v1\", \"kind\": \"Endpoints\", \"metadata\": {\"name\": \"e\"}}",
        "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Service\", \"metadata\": "
        "{\"name\": \"s\"}}",
    };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        j = tu_json(ignored[i]);
        o = (struct k8s_obj *)0x1;
        assert_int_equal(decode_object(j, &o, &ref, &err), DECODE_IGNORED);
        assert_null(o);
        json_decref(j);
        FREE_NULL(err);
        FREE_NULL(ref);
    }
    /* ref and err may be NULL */
    j = tu_json("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": 1}}");
    assert_int_equal(decode_object(j, &o, NULL, NULL), DECODE_ERROR);
    json_decref(j);
}

/* ====== IngressClass ====== */

static void test_ingress_class(void **state)
{
    struct k8s_obj *o;

    (void)state;
    o = tu_decode("{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"IngressClass\", "
                  "\"metadata\": {\"name\": \"portico\", \"namespace\": \"ignored\", "
                  "\"annotations\": {\"ingressclass.kubernetes.io/is-default-class\": \"true\"}}, "
                  "\"spec\": {\"controller\": \"portico.dev/ingress-controller\"}}");
    assert_int_equal(o->kind, K8S_INGRESS_CLASS);
    assert_string_equal(o->meta.ns, ""); /* cluster-scoped */
    assert_string_equal(k8s_name(&o->meta), "portico");
    assert_string_equal(o->meta.key, "/portico");
    assert_string_equal(((struct k8s_ingress_class *)o)->controller,
                        "portico.dev/ingress-controller");
    k8s_obj_free(o);
    expect_error("{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"IngressClass\", "
                 "\"metadata\": {\"name\": \"c\"}, \"spec\": {\"controller\": 5}}",
                 "spec.controller", "ingressclass/c");
}

/* ====== Service ====== */

static void test_service(void **state)
{
    struct k8s_obj *o;
    struct k8s_service *svc;

    (void)state;
    o = tu_decode("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
                  "\"web\", \"namespace\": \"shop\"}, \"spec\": {\"type\": \"ClusterIP\", "
                  "\"ports\": [{\"name\": \"http\", \"port\": 80, \"targetPort\": 8080, "
                  "\"protocol\": \"TCP\"}, {\"name\": \"admin\", \"port\": 9000, \"targetPort\": "
                  "\"admin-port\"}, {\"port\": 443}]}}");
    assert_int_equal(o->kind, K8S_SERVICE);
    svc = (struct k8s_service *)o;
    assert_false(svc->external_name);
    assert_int_equal(svc->n_ports, 3);
    assert_string_equal(svc->ports[0].name, "http");
    assert_int_equal(svc->ports[0].port, 80);
    assert_string_equal(svc->ports[1].name, "admin");
    assert_int_equal(svc->ports[1].port, 9000);
    assert_string_equal(svc->ports[2].name, "");
    assert_int_equal(svc->ports[2].port, 443);
    k8s_obj_free(o);

    o = tu_decode("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
                  "\"ext\"}, \"spec\": {\"type\": \"ExternalName\", \"externalName\": "
                  "\"db.example.com\"}}");
    svc = (struct k8s_service *)o;
    assert_true(svc->external_name);
    assert_int_equal(svc->n_ports, 0);
    k8s_obj_free(o);

    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
                 "\"s\"}, \"spec\": {\"ports\": [{\"name\": \"a\", \"port\": 80}, {\"name\": "
                 "\"b\"}]}}",
                 "spec.ports[1].port", "service/default/s");
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
                 "\"s\"}, \"spec\": {\"ports\": [{\"port\": 65536}]}}",
                 "spec.ports[0].port", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
                 "\"s\"}, \"spec\": {\"ports\": [{\"port\": 80, \"targetPort\": 0}]}}",
                 "spec.ports[0].targetPort", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
                 "\"s\"}, \"spec\": {\"ports\": [{\"port\": 80, \"targetPort\": true}]}}",
                 "spec.ports[0].targetPort", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
                 "\"s\"}, \"spec\": {\"ports\": [3]}}",
                 "spec.ports[0]", NULL);
    /* checked though not kept */
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
                 "\"s\"}, \"spec\": {\"ports\": [{\"port\": 80, \"protocol\": 6}]}}",
                 "spec.ports[0].protocol", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
                 "\"s\"}, \"spec\": {\"type\": \"ExternalName\", \"externalName\": [\"db\"]}}",
                 "spec.externalName", NULL);
}

/* ====== EndpointSlice ====== */

static void test_endpoint_slice(void **state)
{
    struct k8s_obj *o;
    struct k8s_endpoint_slice *es;

    (void)state;
    o = tu_decode(
        "{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
        "\"metadata\": {\"name\": \"web-abc\", \"namespace\": \"shop\", \"labels\": "
        "{\"kubernetes.io/service-name\": \"web\"}}, \"addressType\": \"IPv4\", "
        "\"ports\": [{\"name\": \"http\", \"port\": 8080, \"protocol\": \"TCP\"}, {\"port\": 9}],"
        "\"endpoints\": ["
        " {\"addresses\": [\"10.0.0.1\"]},"
        " {\"addresses\": [\"10.0.0.2\"], \"conditions\": {}},"
        " {\"addresses\": [\"10.0.0.3\"], \"conditions\": {\"ready\": false}},"
        " {\"addresses\": [\"10.0.0.4\"], \"conditions\": {\"ready\": false, \"serving\": true, "
        "\"terminating\": true}},"
        " {\"addresses\": [\"10.0.0.5\", \"10.0.0.6\"], \"conditions\": {\"ready\": null, "
        "\"serving\": null, \"terminating\": null}},"
        " {\"addresses\": [\"10.0.0.7\"], \"conditions\": {\"ready\": true, \"serving\": false}},"
        " {\"conditions\": {\"ready\": true}}"
        "]}");
    assert_int_equal(o->kind, K8S_ENDPOINT_SLICE);
    es = (struct k8s_endpoint_slice *)o;
    assert_string_equal(es->service, "web");
    assert_int_equal(es->addr_type, K8S_ADDR_IPV4);
    assert_int_equal(es->n_ports, 2);
    assert_string_equal(es->ports[0].name, "http");
    assert_int_equal(es->ports[0].port, 8080);
    assert_string_equal(es->ports[1].name, "");
    assert_int_equal(es->ports[1].port, 9);
    assert_int_equal(es->n_endpoints, 7);
    /* no conditions at all */
    assert_string_equal(addr_text(es, 0, 0), "10.0.0.1");
    assert_true(es->endpoints[0].ready);
    assert_true(es->endpoints[0].serving);
    assert_false(es->endpoints[0].terminating);
    /* empty conditions: ready nil -> true, serving nil -> ready, terminating nil -> false */
    assert_true(es->endpoints[1].ready);
    assert_true(es->endpoints[1].serving);
    assert_false(es->endpoints[1].terminating);
    /* ready false: serving follows */
    assert_false(es->endpoints[2].ready);
    assert_false(es->endpoints[2].serving);
    assert_false(es->endpoints[2].terminating);
    /* terminating but still serving */
    assert_false(es->endpoints[3].ready);
    assert_true(es->endpoints[3].serving);
    assert_true(es->endpoints[3].terminating);
    /* explicit nulls are nil */
    assert_int_equal(es->endpoints[4].n_addresses, 2);
    assert_string_equal(addr_text(es, 4, 0), "10.0.0.5");
    assert_string_equal(addr_text(es, 4, 1), "10.0.0.6");
    assert_true(es->endpoints[4].ready);
    assert_true(es->endpoints[4].serving);
    assert_false(es->endpoints[4].terminating);
    assert_true(es->endpoints[5].ready);
    assert_false(es->endpoints[5].serving);
    assert_int_equal(es->endpoints[6].n_addresses, 0);
    k8s_obj_free(o);
}

/* A packed object stores each string once: names inside their key, common
 * values in one static copy for all objects, namespaces and class names in
 * one copy for the process, a TLS host inside its rule's;
 * a big object (300 endpoints, 10 KB) keeps all its contents. */
static void test_packed_strings(void **state)
{
    struct k8s_obj *a, *b, *big;
    struct k8s_ingress *ing;
    struct k8s_endpoint_slice *es;
    char *json, *eps = xstrdup("");
    size_t shared;

    (void)state;
    a = tu_decode("{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\","
                  " \"metadata\": {\"name\": \"web\"},"
                  " \"spec\": {\"tls\": [{\"hosts\": [\"www.shop.example\", \"shop.example\"]}],"
                  "  \"rules\": [{\"host\": \"www.shop.example\"}]}}");
    b = tu_decode("{\"apiVersion\": \"v1\", \"kind\": \"Service\","
                  " \"metadata\": {\"name\": \"api\", \"namespace\": \"default\"},"
                  " \"spec\": {\"type\": \"ClusterIP\", \"ports\": [{\"port\": 80}]}}");
    ing = (struct k8s_ingress *)a;
    assert_string_equal(a->meta.key, "default/web");
    assert_string_equal(k8s_name(&a->meta), "web");
    assert_string_equal(a->meta.ns, "default");
    assert_ptr_equal(a->meta.ns, b->meta.ns);
    assert_string_equal(ing->tls[0].hosts[0], "www.shop.example");
    assert_string_equal(ing->tls[0].hosts[1], "shop.example");
    assert_ptr_equal(ing->tls[0].hosts[1], ing->tls[0].hosts[0] + strlen("www."));
    assert_string_equal(ing->rules[0].host, "www.shop.example");
    assert_false(((struct k8s_service *)b)->external_name);
    k8s_obj_free(a);
    k8s_obj_free(b);

    /* namespaces and class names: one copy for every object that names them,
     * freed with the last of them */
    shared = k8s_shared_strings();
    a = tu_decode("{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\","
                  " \"metadata\": {\"name\": \"web\", \"namespace\": \"shop-eu\"},"
                  " \"spec\": {\"ingressClassName\": \"internal-lb\"}}");
    b = tu_decode("{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\","
                  " \"metadata\": {\"name\": \"api\", \"namespace\": \"shop-eu\"},"
                  " \"spec\": {\"ingressClassName\": \"internal-lb\"}}");
    assert_string_equal(a->meta.ns, "shop-eu");
    assert_ptr_equal(a->meta.ns, b->meta.ns);
    assert_string_equal(((struct k8s_ingress *)a)->class_name, "internal-lb");
    assert_ptr_equal(((struct k8s_ingress *)a)->class_name, ((struct k8s_ingress *)b)->class_name);
    assert_int_equal(k8s_shared_strings(), shared + 2);
    k8s_obj_free(a);
    assert_int_equal(k8s_shared_strings(), shared + 2);
    k8s_obj_free(b);
    assert_int_equal(k8s_shared_strings(), shared);

    for (int i = 0; i < 300; i++) {
        char *more = xasprintf("%s%s{\"addresses\": [\"10.1.%d.%d\"]}", eps, i ? ", " : "",
                               i / 250, i % 250);

        free(eps);
        eps = more;
    }
    json = xasprintf("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\","
                     " \"metadata\": {\"name\": \"web-big\", \"namespace\": \"shop\"},"
                     " \"addressType\": \"IPv4\", \"endpoints\": [%s]}",
                     eps);
    big = tu_decode(json);
    es = (struct k8s_endpoint_slice *)big;
    assert_int_equal(es->n_endpoints, 300);
    assert_string_equal(addr_text(es, 0, 0), "10.1.0.0");
    assert_string_equal(addr_text(es, 1, 0), "10.1.0.1");
    assert_string_equal(addr_text(es, 299, 0), "10.1.1.49");
    assert_string_equal(k8s_name(&big->meta), "web-big");
    k8s_obj_free(big);
    free(json);
    free(eps);
}

static void test_endpoint_slice_types(void **state)
{
    struct k8s_obj *o;
    struct k8s_endpoint_slice *es;

    (void)state;
    o = tu_decode("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
                  "\"metadata\": {\"name\": \"s6\"}, \"addressType\": \"IPv6\", \"endpoints\": "
                  "[{\"addresses\": [\"fd00::1\", \"10.0.0.1\", \"2001:DB8::8\"]}]}");
    es = (struct k8s_endpoint_slice *)o;
    assert_int_equal(es->addr_type, K8S_ADDR_IPV6);
    assert_null(es->service); /* no label */
    /* an IPv4 address in an IPv6 slice is no address of it */
    assert_int_equal(es->endpoints[0].n_addresses, 2);
    assert_string_equal(addr_text(es, 0, 0), "fd00::1");
    assert_string_equal(addr_text(es, 0, 1), "2001:db8::8");
    k8s_obj_free(o);
    o = tu_decode("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
                  "\"metadata\": {\"name\": \"s4\"}, \"endpoints\": [{\"addresses\": "
                  "[\"010.0.0.1\", \"10.0.0.256\", \"fd00::1\", \"db.example.com\", \"\", "
                  "\"10.0.0.7\"]}]}");
    es = (struct k8s_endpoint_slice *)o;
    assert_int_equal(es->endpoints[0].n_addresses, 1);
    assert_string_equal(addr_text(es, 0, 0), "10.0.0.7");
    k8s_obj_free(o);
    o = tu_decode("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
                  "\"metadata\": {\"name\": \"sf\"}, \"addressType\": \"FQDN\"}");
    assert_int_equal(((struct k8s_endpoint_slice *)o)->addr_type, K8S_ADDR_FQDN);
    assert_int_equal(((struct k8s_endpoint_slice *)o)->n_endpoints, 0);
    k8s_obj_free(o);
    /* names are not kept: an FQDN slice has no server for Portico */
    o = tu_decode("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
                  "\"metadata\": {\"name\": \"sf\"}, \"addressType\": \"FQDN\", "
                  "\"endpoints\": [{\"addresses\": [\"db.example.com\"]}]}");
    es = (struct k8s_endpoint_slice *)o;
    assert_int_equal(es->n_endpoints, 1);
    assert_int_equal(es->endpoints[0].n_addresses, 0);
    k8s_obj_free(o);
    expect_error("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
                 "\"metadata\": {\"name\": \"x\"}, \"addressType\": \"IPX\"}",
                 "addressType", "endpointslice/default/x");
    expect_error("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
                 "\"metadata\": {\"name\": \"x\"}, \"endpoints\": [{\"conditions\": "
                 "{\"ready\": \"yes\"}}]}",
                 "endpoints[0].conditions.ready", NULL);
    expect_error("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
                 "\"metadata\": {\"name\": \"x\"}, \"endpoints\": [{\"addresses\": []}, "
                 "{\"addresses\": [\"1.2.3.4\", 5]}]}",
                 "endpoints[1].addresses[1]", NULL);
    expect_error("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
                 "\"metadata\": {\"name\": \"x\"}, \"ports\": [{\"port\": 99999}]}",
                 "ports[0].port", NULL);
    /* the count is kept in 16 bits (the API allows 100 ports) */
    {
        size_t n = UINT16_MAX + 1, size = n * 3 + 256, at;
        char *json = xmalloc(size);

        at = (size_t)snprintf(json, size, "{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": "
                              "\"EndpointSlice\", \"metadata\": {\"name\": \"x\"}, \"ports\": [");
        for (size_t i = 0; i < n; i++)
            at += (size_t)snprintf(json + at, size - at, "%s{}", i ? "," : "");
        snprintf(json + at, size - at, "]}");
        expect_error(json, "ports: more than 65535", "endpointslice/default/x");
        free(json);
    }
    /* and an endpoint's address count in 8 bits (the API allows 100) */
    {
        size_t n = UINT8_MAX + 1, size = n * 16 + 256, at; /* "10.0.1.5", */
        char *json = xmalloc(size);

        at = (size_t)snprintf(json, size, "{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": "
                              "\"EndpointSlice\", \"metadata\": {\"name\": \"x\"}, "
                              "\"endpoints\": [{\"addresses\": []}, {\"addresses\": [");
        for (size_t i = 0; i < n; i++)
            at += (size_t)snprintf(json + at, size - at, "%s\"10.0.%zu.%zu\"", i ? "," : "",
                                   i / 250, i % 250);
        snprintf(json + at, size - at, "]}]}");
        expect_error(json, "endpoints[1].addresses: more than 255", "endpointslice/default/x");
        free(json);
    }
}

/* ====== Lists ====== */

struct seen_items {
    char names[8][32];
    int n;
};

static void collect(json_t *item, void *arg)
{
    struct seen_items *s = arg;
    const char *name = json_string_value(json_object_get(json_object_get(item, "metadata"),
                                                         "name"));

    assert_true(s->n < 8);
    snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", name ? name : "?");
}

static int list(const char *text, struct seen_items *s, json_t **md)
{
    memset(s, 0, sizeof(*s));
    return decode_list(text, strlen(text), collect, s, md);
}

static void test_list(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{}",
        "{\"kind\": \"IngressList\"}",                                  /* no items */
        "{\"items\": {}}",                                               /* not an array */
        "{\"items\": [1]}",                                              /* not an object */
        "{\"items\": [{\"metadata\": {\"name\": \"a\"}}",              /* cut */
        "{\"items\": [{\"metadata\": {\"name\": \"a\"}},]}",           /* trailing comma */
        "{\"items\": [], \"kind\": \"x}",                                /* open string */
        "{\"items\": []} x",                                             /* trailing bytes */
        "{\"items\": [] \"kind\": 1}",                                   /* no comma */
        "{\"x\": [1, 2}, \"items\": []}",                                 /* unbalanced */
    };
    struct seen_items s;
    json_t *md;

    (void)state;
    /* metadata anywhere; other members skipped whatever they hold */
    assert_int_equal(list(" {\"kind\" : \"IngressList\", \"apiVersion\": \"v1\",\n"
                          "  \"x\": [{\"a\": \"]}\\\"[\"}, -1.5e3, true, null, {}],\n"
                          "  \"items\": [ {\"metadata\": {\"name\": \"a\"}},\n"
                          "    {\"metadata\": {\"name\": \"b\", \"labels\": {\"k\": \"[{\"}}},"
                          "{\"metadata\": {\"name\": \"c\"}, \"spec\": [[], [[]]]} ],\n"
                          "  \"metadata\": {\"resourceVersion\": \"42\", \"continue\": \"t\"}, "
                          "\"n\": 7 }\n",
                          &s, &md),
                     0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "a");
    assert_string_equal(s.names[1], "b");
    assert_string_equal(s.names[2], "c");
    assert_string_equal(json_string_value(json_object_get(md, "resourceVersion")), "42");
    assert_string_equal(json_string_value(json_object_get(md, "continue")), "t");
    json_decref(md);
    /* an empty list, without metadata */
    assert_int_equal(list("{\"items\":[]}", &s, &md), 0);
    assert_int_equal(s.n, 0);
    assert_null(md);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (list(bad[i], &s, &md) != -EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_null(md);
    }
    /* the items before the fault were passed on; the metadata is dropped */
    assert_int_equal(list("{\"metadata\": {}, \"items\": [{\"metadata\": {\"name\": \"a\"}}, "
                          "{\"metadata\": ",
                          &s, &md),
                     -EINVAL);
    assert_int_equal(s.n, 1);
    assert_null(md);
}

/* ====== Secret, ConfigMap ====== */

static void test_secret(void **state)
{
    struct k8s_obj *o;
    struct k8s_secret *s;

    (void)state;
    /* "Y2VydA==" = "cert", "a2V5" = "key" */
    o = tu_decode("{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
                  "\"tls\", \"namespace\": \"shop\"}, \"type\": \"kubernetes.io/tls\", "
                  "\"data\": {\"tls.crt\": \"Y2VydA==\", \"tls.key\": \"a2V5\", \"ca.crt\": "
                  "\"!!!\"}}");
    assert_int_equal(o->kind, K8S_SECRET);
    s = (struct k8s_secret *)o;
    assert_string_equal(s->type, "kubernetes.io/tls");
    assert_int_equal(s->crt_len, 4);
    assert_memory_equal(s->crt, "cert", 4);
    assert_int_equal(s->key_len, 3);
    assert_memory_equal(s->key, "key", 3);
    k8s_obj_free(o);

    /* stringData wins over data; missing type is Opaque */
    o = tu_decode("{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
                  "\"s\"}, \"data\": {\"tls.crt\": \"Y2VydA==\"}, \"stringData\": "
                  "{\"tls.crt\": \"plain-cert\", \"tls.key\": \"plain-key\"}}");
    s = (struct k8s_secret *)o;
    assert_string_equal(s->type, "Opaque");
    assert_int_equal(s->crt_len, 10);
    assert_memory_equal(s->crt, "plain-cert", 10);
    assert_int_equal(s->key_len, 9);
    assert_memory_equal(s->key, "plain-key", 9);
    k8s_obj_free(o);

    /* no TLS keys at all */
    o = tu_decode("{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
                  "\"e\"}, \"data\": {\"password\": \"eA==\"}}");
    s = (struct k8s_secret *)o;
    assert_null(s->crt);
    assert_null(s->key);
    assert_int_equal(s->crt_len, 0);
    k8s_obj_free(o);

    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
                 "\"b\"}, \"data\": {\"tls.crt\": \"not base64!\"}}",
                 "data[\"tls.crt\"]", "secret/default/b");
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
                 "\"b\"}, \"data\": {\"tls.key\": 5}}",
                 "data[\"tls.key\"]", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
                 "\"b\"}, \"stringData\": {\"tls.key\": 5}}",
                 "stringData[\"tls.key\"]", NULL);
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
                 "\"b\"}, \"data\": []}",
                 "data", NULL);
}

static void test_configmap(void **state)
{
    struct k8s_obj *o;
    struct k8s_configmap *cm;

    (void)state;
    o = tu_decode("{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": "
                  "\"portico\", \"namespace\": \"kube-system\"}, \"data\": {\"timeout-server\": "
                  "\"1m\", \"ssl-redirect\": \"false\", \"maxconn\": \"100\"}}");
    assert_int_equal(o->kind, K8S_CONFIGMAP);
    cm = (struct k8s_configmap *)o;
    assert_int_equal(cm->n_data, 3);
    assert_string_equal(cm->data[0].key, "maxconn");
    assert_string_equal(cm->data[1].key, "ssl-redirect");
    assert_string_equal(cm->data[2].key, "timeout-server");
    assert_string_equal(k8s_kv_get(cm->data, cm->n_data, "timeout-server"), "1m");
    k8s_obj_free(o);
    o = tu_decode("{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": "
                  "\"empty\"}}");
    assert_int_equal(((struct k8s_configmap *)o)->n_data, 0);
    k8s_obj_free(o);
    /* values must be strings (an unquoted YAML 80 is an error, as kubectl says) */
    expect_error("{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": "
                 "\"c\"}, \"data\": {\"maxconn\": 80}}",
                 "data[\"maxconn\"]", "configmap/default/c");
}

/* ====== Change detection ====== */

static bool same(const char *a, const char *b)
{
    struct k8s_obj *x = tu_decode(a), *y = tu_decode(b);
    bool ret = k8s_obj_same(x, y);

    assert_true(k8s_obj_same(x, x));
    k8s_obj_free(x);
    k8s_obj_free(y);
    return ret;
}

#define CM(meta, rest) \
    "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"" meta "}" rest "}"
#define SLICE(ready, port) \
    "{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", \"metadata\": " \
    "{\"name\": \"s-1\", \"namespace\": \"shop\", \"labels\": {\"kubernetes.io/service-name\": " \
    "\"s\"}}, \"addressType\": \"IPv4\", \"ports\": [{\"name\": \"http\", \"port\": " port "}], " \
    "\"endpoints\": [{\"addresses\": [\"10.0.0.1\"], \"conditions\": {\"ready\": " ready "}}]}"

/* Only what Portico keeps counts: volatile metadata, key order, status,
 * labels and annotations it does not read make no change; any kept field,
 * a string or a number, does. */
#define ING_STATUS(lb)                                                                             \
    "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", \"metadata\": "       \
    "{\"name\": \"i\", \"namespace\": \"ns\"}, \"spec\": {\"ingressClassName\": \"c\"}, "    \
    "\"status\": {\"loadBalancer\": " lb "}}"

/* status.loadBalancer.ingress is kept as a hash, to compare with what
 * --publish-service would write; a change of it alone builds nothing, and
 * one that is not as the API defines it never refuses the Ingress. */
static void test_ingress_lb_status(void **state)
{
    static const struct k8s_lb_addr ip = {"198.18.0.1", ""}, host = {"", "lb.example.com"};
    const struct k8s_lb_addr both[] = {ip, host};
    struct k8s_ingress *a, *b, *c, *d;

    (void)state;
    a = (struct k8s_ingress *)tu_decode(ING_STATUS("{\"ingress\": [{\"ip\": \"198.18.0.1\"}]}"));
    b = (struct k8s_ingress *)tu_decode(ING_STATUS("{\"ingress\": [{\"ip\": \"198.18.0.1\"}, "
                                                   "{\"hostname\": \"lb.example.com\", "
                                                   "\"ports\": [{\"port\": 80}]}]}"));
    c = (struct k8s_ingress *)tu_decode(ING_STATUS("{}"));
    d = (struct k8s_ingress *)tu_decode(ING_STATUS("{\"ingress\": [7, {\"ip\": 3}]}"));
    assert_int_equal(a->lb_status, k8s_lb_hash(&ip, 1));
    assert_int_equal(b->lb_status, k8s_lb_hash(both, 2));
    assert_int_not_equal(a->lb_status, b->lb_status);
    assert_int_equal(c->lb_status, 0);
    assert_int_equal(k8s_lb_hash(NULL, 0), 0);
    assert_int_not_equal(k8s_lb_hash(&host, 1), 0);
    assert_int_not_equal(k8s_lb_hash(&host, 1), k8s_lb_hash(&ip, 1));
    /* two entries without an address: some hash, not an error */
    assert_int_not_equal(d->lb_status, 0);
    assert_true(k8s_obj_same(&a->obj, &b->obj));
    assert_true(k8s_obj_same(&a->obj, &c->obj));
    k8s_obj_free(&a->obj);
    k8s_obj_free(&b->obj);
    k8s_obj_free(&c->obj);
    k8s_obj_free(&d->obj);
}

static void test_obj_same(void **state)
{
    (void)state;
    /* a namespace packed as the object's own copy, the table of shared ones
     * full then, is still its own when compared once the table has room: the
     * comparison shares nothing new */
    {
        size_t room = 16384 - k8s_shared_strings(), shared;
        struct k8s_obj **fill = xcalloc(room, sizeof(*fill)), *own;

        for (size_t i = 0; i < room; i++) {
            char *json = xasprintf(CM(", \"namespace\": \"fill-%zu\"", ""), i);

            fill[i] = tu_decode(json);
            free(json);
        }
        own = tu_decode(CM(", \"namespace\": \"own\"", ""));
        k8s_obj_free(fill[0]);
        shared = k8s_shared_strings();
        assert_true(k8s_obj_same(own, own));
        assert_int_equal(k8s_shared_strings(), shared);
        k8s_obj_free(own);
        for (size_t i = 1; i < room; i++)
            k8s_obj_free(fill[i]);
        free(fill);
    }
    assert_true(same(CM(", \"resourceVersion\": \"1\"", ", \"data\": {\"a\": \"1\"}"),
                     "{\"kind\": \"ConfigMap\", \"apiVersion\": \"v1\", \"metadata\": {\"name\": "
                     "\"c\", \"resourceVersion\": \"2\", \"managedFields\": [{}], \"generation\": 7, "
                     "\"labels\": {\"x\": \"y\"}, \"annotations\": {\"x\": \"y\"}}, "
                     "\"data\": {\"a\": \"1\"}, \"status\": {\"x\": 1}}"));
    assert_false(same(CM("", ", \"data\": {\"a\": \"1\"}"), CM("", ", \"data\": {\"a\": \"2\"}")));
    assert_false(same(CM("", ", \"data\": {\"a\": \"1\", \"b\": \"2\"}"),
                      CM("", ", \"data\": {\"a\": \"2\", \"b\": \"1\"}")));
    assert_false(same(CM("", ""), CM(", \"namespace\": \"other\"", "")));
    assert_false(same(CM("", ""), CM(", \"annotations\": {\"haproxy.org/timeout-server\": \"5s\"}", "")));
    assert_false(same(CM("", ""), CM(", \"creationTimestamp\": \"2026-01-02T03:04:05Z\"", "")));
    /* numbers and flags inside arrays */
    assert_true(same(SLICE("true", "8080"), SLICE("true", "8080")));
    assert_false(same(SLICE("true", "8080"), SLICE("false", "8080")));
    assert_false(same(SLICE("true", "8080"), SLICE("true", "8081")));
    /* the store counts a change only then */
    {
        struct store st;

        store_init(&st);
        assert_true(store_put(&st, tu_decode(SLICE("true", "8080"))));
        assert_false(store_put(&st, tu_decode(SLICE("true", "8080"))));
        assert_true(store_put(&st, tu_decode(SLICE("false", "8080"))));
        assert_int_equal(st.changes, 2);
        store_deinit(&st);
    }
    /* another kind of the same name */
    assert_false(same(CM("", ""), "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", "
                                  "\"metadata\": {\"name\": \"c\"}}"));
}

/* A Secret's data hash names its certificate in the parsed cache: it follows
 * the data, and stays once the data is dropped. */
/* Basic authentication's users: short text only, stringData first, the
 * newline `echo | base64` leaves dropped; a key "auth" may hold lines. */
static struct k8s_obj *ingress_on(const char *name, const char *host)
{
    char json[512];

    snprintf(json, sizeof(json),
             "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", \"metadata\": "
             "{\"name\": \"%s\", \"namespace\": \"ns\"}, \"spec\": {\"rules\": [{\"host\": "
             "\"%s\"}]}}",
             name, host);
    return tu_decode(json);
}

static const char *was_host(const struct store_change *c)
{
    return c->was ? ((const struct k8s_ingress *)c->was)->rules[0].host : NULL;
}

/* The tracked kind's changes are kept once a key, with the object as it was
 * before the first; other kinds and changes that change nothing are not;
 * past STORE_CHANGES_MAX, only that there were more. */
static void test_store_tracks_changes(void **state)
{
    struct store st;
    struct store_change *v;
    struct k8s_obj *many[STORE_CHANGES_MAX + 1];
    size_t n;

    (void)state;
    store_init(&st);
    store_track(&st, K8S_INGRESS);
    assert_true(store_put(&st, ingress_on("a", "one.com")));
    assert_true(store_put(&st, ingress_on("a", "two.com")));
    assert_true(store_put(&st, ingress_on("b", "b.com")));
    assert_false(store_put(&st, ingress_on("b", "b.com")));
    assert_true(store_put(&st, tu_decode(SLICE("true", "8080"))));
    assert_true(store_take_changes(&st, &v, &n));
    assert_int_equal(n, 2);
    assert_string_equal(v[0].key, "ns/a");
    assert_null(v[0].was); /* new since the last take */
    assert_string_equal(v[1].key, "ns/b");
    store_changes_free(v, n);
    assert_true(store_take_changes(&st, &v, &n));
    assert_int_equal(n, 0);
    store_changes_free(v, n);

    assert_true(store_put(&st, ingress_on("a", "three.com")));
    assert_true(store_put(&st, ingress_on("a", "four.com")));
    assert_true(store_del(&st, K8S_INGRESS, "ns", "b"));
    assert_true(store_take_changes(&st, &v, &n));
    assert_int_equal(n, 2);
    assert_string_equal(was_host(&v[0]), "two.com");
    assert_string_equal(v[1].key, "ns/b");
    assert_string_equal(was_host(&v[1]), "b.com");
    store_changes_free(v, n);

    /* a relist of more: none kept */
    for (size_t i = 0; i <= STORE_CHANGES_MAX; i++) {
        char name[16];

        snprintf(name, sizeof(name), "m%zu", i);
        many[i] = ingress_on(name, "m.com");
    }
    store_replace(&st, K8S_INGRESS, NULL, NULL, many, STORE_CHANGES_MAX + 1);
    assert_false(store_take_changes(&st, &v, &n));
    assert_int_equal(n, 0);
    assert_null(v);
    assert_true(store_take_changes(&st, &v, &n));
    assert_int_equal(n, 0);
    /* freed with the store while kept */
    assert_true(store_del(&st, K8S_INGRESS, "ns", "m0"));
    store_deinit(&st);
}

static struct k8s_obj *ingress_on2(const char *name, const char *host, const char *host2)
{
    char json[600];

    snprintf(json, sizeof(json),
             "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"Ingress\", \"metadata\": "
             "{\"name\": \"%s\", \"namespace\": \"ns\", \"annotations\": "
             "{\"nginx.ingress.kubernetes.io/server-alias\": \"x.com\"}}, \"spec\": "
             "{\"tls\": [{\"hosts\": [\"%s\"]}], \"rules\": [{\"host\": \"%s\"}, {}]}}",
             name, host2, host);
    return tu_decode(json);
}

/* The names of the objects found under <word>, sorted, comma-separated. */
static const char *found(const struct store *st, enum k8s_kind kind, const char *word)
{
    static char out[256];
    const char *names[16];
    struct store_found f;
    size_t n = store_find(st, kind, word, &f);

    assert_true(n < 16);
    for (size_t i = 0; i < n; i++)
        names[i] = k8s_name(&f.v[i]->meta);
    for (size_t i = 1; i < n; i++) { /* insertion sort */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];

            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? "," : "", names[i]);
    return out;
}

/* The store indexes Ingresses by host and EndpointSlices by Service, through
 * replacements and deletions, whichever object's string the index borrowed. */
static void test_store_words(void **state)
{
    struct store st;

    (void)state;
    store_init(&st);
    store_put(&st, ingress_on("a", "one.com"));
    store_put(&st, ingress_on("b", "one.com"));
    store_put(&st, ingress_on2("c", "one.com", "tls.com"));
    assert_string_equal(found(&st, K8S_INGRESS, "one.com"), "a,b,c");
    assert_string_equal(found(&st, K8S_INGRESS, "tls.com"), "c");
    assert_string_equal(found(&st, K8S_INGRESS, ""), "c");
    assert_string_equal(found(&st, K8S_INGRESS, K8S_WORD_ALIASES), "c");
    assert_string_equal(found(&st, K8S_INGRESS, "x.com"), "");
    /* the first object, whose string the index holds, replaced then gone */
    store_put(&st, ingress_on("a", "two.com"));
    assert_string_equal(found(&st, K8S_INGRESS, "one.com"), "b,c");
    assert_string_equal(found(&st, K8S_INGRESS, "two.com"), "a");
    assert_true(store_del(&st, K8S_INGRESS, "ns", "b"));
    assert_string_equal(found(&st, K8S_INGRESS, "one.com"), "c");
    store_put(&st, ingress_on("c", "two.com"));
    assert_string_equal(found(&st, K8S_INGRESS, "one.com"), "");
    assert_string_equal(found(&st, K8S_INGRESS, "two.com"), "a,c");
    assert_string_equal(found(&st, K8S_INGRESS, "tls.com"), "");
    assert_string_equal(found(&st, K8S_INGRESS, K8S_WORD_ALIASES), "");
    assert_true(store_del(&st, K8S_INGRESS, "ns", "a"));
    assert_string_equal(found(&st, K8S_INGRESS, "two.com"), "c");
    store_put(&st, tu_decode(SLICE("true", "8080")));
    assert_string_equal(found(&st, K8S_ENDPOINT_SLICE, "s"), "s-1");
    store_replace(&st, K8S_ENDPOINT_SLICE, NULL, NULL, NULL, 0);
    assert_string_equal(found(&st, K8S_ENDPOINT_SLICE, "s"), "");
    store_deinit(&st);
}

static void test_secret_users(void **state)
{
    struct k8s_obj *o;
    struct k8s_secret *s, *bare;
    char big[700], json[1200];

    (void)state;
    /* "JDYkYWJjJHh5ego=" = "$6$abc$xyz\n", "YWxpY2U6JDEkeCR5CmJvYjokMSR6JHcK" =
     * "alice:$1$x$y\nbob:$1$z$w\n", "AAE=" = "\0\1" */
    o = tu_decode("{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
                  "\"u\"}, \"data\": {\"zed\": \"JDYkYWJjJHh5ego=\", \"auth\": "
                  "\"YWxpY2U6JDEkeCR5CmJvYjokMSR6JHcK\", \"bin\": \"AAE=\", \"tls.key\": \"a2V5\"}, "
                  "\"stringData\": {\"amy\": \"$2y$05$h\", \"zed\": \"$5$s$h\"}}");
    s = (struct k8s_secret *)o;
    assert_int_equal(s->n_users, 3);
    assert_string_equal(s->users[0].key, "amy");
    assert_string_equal(s->users[0].val, "$2y$05$h");
    assert_string_equal(s->users[1].key, "auth");
    assert_string_equal(s->users[1].val, "alice:$1$x$y\nbob:$1$z$w\n");
    assert_string_equal(s->users[2].key, "zed");
    assert_string_equal(s->users[2].val, "$5$s$h"); /* stringData wins */
    assert_true(k8s_secret_holds_data(s));
    bare = (struct k8s_secret *)k8s_secret_without_data(s);
    assert_int_equal(bare->n_users, 0);
    assert_null(bare->users);
    assert_false(k8s_secret_holds_data(bare));
    k8s_obj_free(&bare->obj);
    k8s_obj_free(o);

    /* too long for a hash: not kept */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(json, sizeof(json),
             "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
             "\"v\"}, \"stringData\": {\"long\": \"%s\", \"ctl\": \"a\\tb\"}}",
             big);
    o = tu_decode(json);
    s = (struct k8s_secret *)o;
    assert_int_equal(s->n_users, 0);
    assert_false(k8s_secret_holds_data(s));
    k8s_obj_free(o);
}

static void test_secret_data_hash(void **state)
{
#define SECRET(crt) \
    "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"type\": \"kubernetes.io/tls\", " \
    "\"metadata\": {\"name\": \"t\", \"namespace\": \"shop\"}, \"data\": {\"tls.crt\": \"" crt "\", " \
    "\"tls.key\": \"a2V5\"}}"
    struct k8s_secret *a = (struct k8s_secret *)tu_decode(SECRET("Y3J0")),
                      *b = (struct k8s_secret *)tu_decode(SECRET("Y3J0Mg==")),
                      *c = (struct k8s_secret *)tu_decode(SECRET("Y3J0"));
    struct k8s_secret *bare;

    (void)state;
    assert_true(a->data_hash == c->data_hash);
    assert_true(a->data_hash != b->data_hash);
    bare = (struct k8s_secret *)k8s_secret_without_data(a);
    assert_true(bare->data_dropped);
    assert_null(bare->crt);
    assert_true(bare->data_hash == a->data_hash);
    /* without its data it is another object for the store */
    assert_false(k8s_obj_same(&a->obj, &bare->obj));
    k8s_obj_free(&a->obj);
    k8s_obj_free(&b->obj);
    k8s_obj_free(&c->obj);
    k8s_obj_free(&bare->obj);
#undef SECRET
}

/* ====== base64 ====== */

static void b64_ok(const char *in, const char *expect, size_t expect_len)
{
    unsigned char *out = NULL;
    size_t len = 12345;

    if (decode_base64(in, strlen(in), &out, &len) != 0)
        fail_msg("base64 \"%s\" refused", in);
    assert_int_equal(len, expect_len);
    assert_memory_equal(out, expect, expect_len);
    free(out);
}

static void b64_bad(const char *in)
{
    unsigned char *out = NULL;
    size_t len = 0;

    if (decode_base64(in, strlen(in), &out, &len) != -EINVAL) {
        free(out);
        fail_msg("base64 \"%s\" accepted", in);
    }
}

static void test_base64(void **state)
{
    (void)state;
    /* RFC 4648 test vectors */
    b64_ok("", "", 0);
    b64_ok("Zg==", "f", 1);
    b64_ok("Zm8=", "fo", 2);
    b64_ok("Zm9v", "foo", 3);
    b64_ok("Zm9vYg==", "foob", 4);
    b64_ok("Zm9vYmE=", "fooba", 5);
    b64_ok("Zm9vYmFy", "foobar", 6);
    /* line breaks (PEM-style wrapping) are skipped */
    b64_ok("Zm9v\nYmFy\n", "foobar", 6);
    b64_ok("Zm9v\r\nYmFy", "foobar", 6);
    /* binary, '+' and '/' */
    b64_ok("AP8+/w==", "\x00\xff\x3e\xff", 4);
    b64_bad("Zm9v!");
    b64_bad("Zm9v-_");     /* URL alphabet is not standard base64 */
    b64_bad("Z");          /* a lone sextet is not a byte */
    b64_bad("Zm9vY");
    b64_bad("Zg===");
    b64_bad("Zg==Zg==");   /* data after padding */
    b64_bad("Z===");
    b64_bad("\xc3\xa9");
}

static void test_base64_roundtrip(void **state)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct trng r = {7};
    unsigned char in[200];
    char enc[300];

    (void)state;
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = trng_below(&r, sizeof(in)), e = 0;
        unsigned char *out;
        size_t len;

        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)trng_next(&r);
        for (size_t i = 0; i < n; i += 3) {
            uint32_t v = (uint32_t)in[i] << 16;

            if (i + 1 < n)
                v |= (uint32_t)in[i + 1] << 8;
            if (i + 2 < n)
                v |= in[i + 2];
            enc[e++] = alpha[(v >> 18) & 63];
            enc[e++] = alpha[(v >> 12) & 63];
            enc[e++] = i + 1 < n ? alpha[(v >> 6) & 63] : '=';
            enc[e++] = i + 2 < n ? alpha[v & 63] : '=';
        }
        enc[e] = '\0';
        assert_int_equal(decode_base64(enc, e, &out, &len), 0);
        assert_int_equal(len, n);
        if (n)
            assert_memory_equal(out, in, n);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingress_full),
        cmocka_unit_test(test_ingress_minimal),
        cmocka_unit_test(test_ingress_path_errors),
        cmocka_unit_test(test_ingress_other_errors),
        cmocka_unit_test(test_metadata_errors),
        cmocka_unit_test(test_annotation_count),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_ingress_class),
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_endpoint_slice),
        cmocka_unit_test(test_endpoint_slice_types),
        cmocka_unit_test(test_packed_strings),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_configmap),
        cmocka_unit_test(test_obj_same),
        cmocka_unit_test(test_ingress_lb_status),
        cmocka_unit_test(test_store_tracks_changes),
        cmocka_unit_test(test_store_words),
        cmocka_unit_test(test_secret_users),
        cmocka_unit_test(test_secret_data_hash),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_base64_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
