/* SPDX-License-Identifier: Apache-2.0 */
/* Store -> routing model: src/model/model.h, per routing.md. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "model/model.h"
#include "model/tls.h"
#include "store/store.h"
#include "modelutil.h"

#define T_OLD "2024-01-01T00:00:00Z"
#define T_MID "2024-02-01T00:00:00Z"
#define T_NEW "2024-03-01T00:00:00Z"

static char *fallback_pem;

static struct model_opts opts(void)
{
    struct model_opts o;

    memset(&o, 0, sizeof(o));
    o.ingress_class = "portico";
    o.controller_name = CONTROLLER;
    o.fallback_cert_pem = fallback_pem;
    return o;
}

static int group_setup(void **state)
{
    (void)state;
    fallback_pem = tls_selfsigned_pem("portico-fallback");
    return fallback_pem ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    free(fallback_pem);
    return 0;
}

/* Store with our IngressClass and a Service shop/web (port http 80 -> 8080). */
static void base_store(struct store *s)
{
    store_init(s);
    put_class(s, "portico", CONTROLLER, false);
    put_class(s, "nginx", "k8s.io/ingress-nginx", false);
    put_service(s, "shop", "web", "http", 80, 8080, "10.0.0.1,10.0.0.2");
}

static struct model *build(struct store *s, const struct model_opts *o)
{
    struct model *m = model_build(s, o);

    assert_non_null(m);
    assert_int_equal(m->refs, 1);
    return m;
}

/* ====== What a build looks up ====== */

/* The Services and Secrets a build looked up, found or not, are in its
 * lookups, and no other: a change to one of those others builds the same. */
static void test_lookups(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    char *crt, *key;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "idle", "http", 80, 8080, "10.0.0.9");
    make_cert("foo.com", &crt, &key);
    put_tls_secret(&s, "shop", "tls", crt, key);
    put_tls_secret(&s, "shop", "spare-tls", crt, key);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'tls':[{'hosts':['foo.com'],'secretName':'tls'}],"
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("web", 80)) ","
                                                PATH("/later", "Prefix", BE_NUM("later", 80)))
                "]");
    m = build(&s, &o);
    assert_true(model_looks_up(&m->lookups, k8s_lookup_hash(K8S_SERVICE, "shop", "web")));
    /* not there yet: its arrival changes the routes */
    assert_true(model_looks_up(&m->lookups, k8s_lookup_hash(K8S_SERVICE, "shop", "later")));
    assert_true(model_looks_up(&m->lookups, k8s_lookup_hash(K8S_SECRET, "shop", "tls")));
    assert_false(model_looks_up(&m->lookups, k8s_lookup_hash(K8S_SERVICE, "shop", "idle")));
    assert_false(model_looks_up(&m->lookups, k8s_lookup_hash(K8S_SECRET, "shop", "spare-tls")));
    assert_false(model_looks_up(&m->lookups, k8s_lookup_hash(K8S_SERVICE, "other", "web")));
    assert_false(model_looks_up(&m->lookups, k8s_lookup_hash(K8S_SECRET, "shop", "web")));
    model_unref(m);
    free(crt);
    free(key);
    store_deinit(&s);
}

/* ====== Class selection ====== */

/* Returns true when an Ingress with the given class settings is ours. */
static bool is_ours(const char *cls, const char *ann, bool watch_without_class,
                    int default_class /* 0 none, 1 ours, -1 theirs */)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    bool ours;

    base_store(&s);
    if (default_class > 0)
        put_class(&s, "portico-default", CONTROLLER, true);
    else if (default_class < 0)
        put_class(&s, "other-default", "example.com/other", true);
    put_ingress(&s, "shop", "web", T_OLD, cls, ann,
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    o.watch_without_class = watch_without_class;
    m = build(&s, &o);
    ours = m->n_ingresses == 1;
    /* ignored entirely: no routes at all, and no issues */
    if (!ours) {
        assert_int_equal(total_entries(m), 0);
        assert_null(find_issue(m, MODEL_SEV_WARN, "ingress/shop/web", NULL, NULL));
        assert_null(find_issue(m, MODEL_SEV_ERROR, "ingress/shop/web", NULL, NULL));
    } else {
        assert_entry(m, MODEL_MAP_HOSTS, "foo.com", "foo.com");
    }
    model_unref(m);
    store_deinit(&s);
    return ours;
}

#define CLASS_ANN(v) "'kubernetes.io/ingress.class':'" v "'"

/* An issue names where the object was read when its source told the store;
 * deleting the object forgets it, so a new one of that name has no origin. */
static void test_issue_origin(void **state)
{
    struct store s;
    struct model *m;
    const struct model_issue *is;
    const struct k8s_obj *o;
    struct model_opts o_ = opts();

    (void)state;
    base_store(&s);
    put_ingress(&s, "shop", "bad", T_OLD, "portico", "",
                "'rules':[" RULE("shop.example", PATH("/", "Prefix", BE_NUM("web", 81))) "]");
    o = store_get(&s, K8S_INGRESS, "shop", "bad");
    assert_null(store_origin(&s, o));
    store_set_origin(&s, o, "shop.yaml: document 2");
    assert_string_equal(store_origin(&s, o), "shop.yaml: document 2");
    m = build(&s, &o_);
    is = find_issue(m, MODEL_SEV_WARN, "ingress/shop/bad", NULL, "port 81");
    assert_non_null(is);
    assert_string_equal(is->origin, "shop.yaml: document 2");
    model_unref(m);

    assert_true(store_del(&s, K8S_INGRESS, "shop", "bad"));
    put_ingress(&s, "shop", "bad", T_OLD, "portico", "",
                "'rules':[" RULE("shop.example", PATH("/", "Prefix", BE_NUM("web", 81))) "]");
    o = store_get(&s, K8S_INGRESS, "shop", "bad");
    assert_null(store_origin(&s, o));
    m = build(&s, &o_);
    is = find_issue(m, MODEL_SEV_WARN, "ingress/shop/bad", NULL, "port 81");
    assert_non_null(is);
    assert_string_equal(is->origin, "");
    model_unref(m);
    store_deinit(&s);
}

static void test_class_selection(void **state)
{
    (void)state;
    /* field naming our IngressClass */
    assert_true(is_ours("portico", "", false, 0));
    /* field naming someone else's class, or a missing one */
    assert_false(is_ours("nginx", "", false, 0));
    assert_false(is_ours("missing", "", false, 0));
    assert_false(is_ours("missing", "", true, 1));
    /* annotation equal to --ingress-class */
    assert_true(is_ours(NULL, CLASS_ANN("portico"), false, 0));
    assert_false(is_ours(NULL, CLASS_ANN("nginx"), false, 0));
    /* the deprecated annotation wins over the field, both ways */
    assert_true(is_ours("nginx", CLASS_ANN("portico"), false, 0));
    assert_false(is_ours("portico", CLASS_ANN("nginx"), false, 0));
    /* neither: default class ours, theirs, none; --watch-ingress-without-class */
    assert_true(is_ours(NULL, "", false, 1));
    assert_false(is_ours(NULL, "", false, -1));
    assert_false(is_ours(NULL, "", true, -1));
    assert_false(is_ours(NULL, "", false, 0));
    assert_true(is_ours(NULL, "", true, 0));
    /* an explicit class is not overridden by the default class */
    assert_false(is_ours("nginx", "", true, 1));
}

static void test_default_class_value_must_be_true(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put(&s, "{'apiVersion':'networking.k8s.io/v1','kind':'IngressClass','metadata':{'name':"
            "'d','annotations':{'ingressclass.kubernetes.io/is-default-class':'false'}},"
            "'spec':{'controller':'" CONTROLLER "'}}");
    put_ingress(&s, "shop", "web", T_OLD, NULL, "",
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 0);
    model_unref(m);
    store_deinit(&s);
}

/* Changing the class adds or removes the routes. */
static void test_class_change(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_ingress(&s, "shop", "web", T_OLD, "nginx", "",
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 0);
    model_unref(m);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 1);
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/", "shop_web_http");
    model_unref(m);
    store_deinit(&s);
}

/* ====== Map entries ====== */

static void test_map_entries(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'rules':["
                RULE("foo.com", PATH("/exact", "Exact", BE_NUM("web", 80)) ","
                                PATH("/pre", "Prefix", BE_NAME("web", "http")) ","
                                PATH("/slash/", "Prefix", BE_NUM("web", 80)) ","
                                PATH("/", "Prefix", BE_NUM("web", 80)) ","
                                PATH("/impl", "ImplementationSpecific", BE_NUM("web", 80))) ","
                RULE("bar.com", "{'path':'','pathType':'ImplementationSpecific',"
                                BE_NUM("web", 80) "}") ","
                RULE_NOHOST(PATH("/x", "Exact", BE_NUM("web", 80)) ","
                            PATH("/y", "Prefix", BE_NUM("web", 80)) ","
                            "{" BE_NUM("web", 80) "}") "]");
    m = build(&s, &o);
    dump_issues(m);
    assert_int_equal(m->n_ingresses, 1);
    assert_int_equal(m->n_issues, 0);
    /* hosts map: exact host -> host key */
    assert_int_equal(m->n_maps[MODEL_MAP_HOSTS], 2);
    assert_entry(m, MODEL_MAP_HOSTS, "foo.com", "foo.com");
    assert_entry(m, MODEL_MAP_HOSTS, "bar.com", "bar.com");
    assert_int_equal(m->n_maps[MODEL_MAP_WILDCARDS], 0);
    /* Exact: "host/path" in the exact map */
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/exact", "shop_web_http");
    assert_entry(m, MODEL_MAP_EXACT, "/x", "shop_web_http");
    assert_int_equal(m->n_maps[MODEL_MAP_EXACT], 2);
    /* Prefix "/pre": prefix-exact "host/pre" + prefix "host/pre/" */
    assert_entry(m, MODEL_MAP_PREFIX_EXACT, "foo.com/pre", "shop_web_http");
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/pre/", "shop_web_http");
    /* a trailing slash on the rule is ignored */
    assert_entry(m, MODEL_MAP_PREFIX_EXACT, "foo.com/slash", "shop_web_http");
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/slash/", "shop_web_http");
    assert_no_entry(m, MODEL_MAP_PREFIX, "foo.com/slash//");
    /* Prefix "/": prefix "host/" only */
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/", "shop_web_http");
    assert_no_entry(m, MODEL_MAP_PREFIX_EXACT, "foo.com");
    assert_no_entry(m, MODEL_MAP_PREFIX_EXACT, "foo.com/");
    /* ImplementationSpecific: plain prefix; "" -> "host/" */
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/impl", "shop_web_http");
    assert_no_entry(m, MODEL_MAP_PREFIX_EXACT, "foo.com/impl");
    assert_entry(m, MODEL_MAP_PREFIX, "bar.com/", "shop_web_http");
    /* host-less rules have an empty host part */
    assert_entry(m, MODEL_MAP_PREFIX_EXACT, "/y", "shop_web_http");
    assert_entry(m, MODEL_MAP_PREFIX, "/y/", "shop_web_http");
    assert_entry(m, MODEL_MAP_PREFIX, "/", "shop_web_http");
    assert_int_equal(m->n_maps[MODEL_MAP_PREFIX_EXACT], 3);
    assert_int_equal(m->n_maps[MODEL_MAP_PREFIX], 7);
    assert_int_equal(m->n_maps[MODEL_MAP_HOST_DEFAULT], 0);
    assert_int_equal(m->n_maps[MODEL_MAP_REDIRECT], 0);
    /* one backend per Service port, however the Ingress names it */
    assert_int_equal(m->n_backends, 1);
    assert_string_equal(m->backends[0]->name, "shop_web_http");
    assert_null(m->default_backend);
    model_unref(m);
    store_deinit(&s);
}

static void test_wildcard_hosts(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'rules':[" RULE("*.foo.com", PATH("/a", "Exact", BE_NUM("web", 80))) ","
                RULE("foo.com", PATH("/b", "Exact", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_maps[MODEL_MAP_WILDCARDS], 1);
    assert_entry(m, MODEL_MAP_WILDCARDS, ".foo.com", "*.foo.com");
    assert_no_entry(m, MODEL_MAP_HOSTS, "*.foo.com");
    assert_entry(m, MODEL_MAP_HOSTS, "foo.com", "foo.com");
    assert_entry(m, MODEL_MAP_EXACT, "*.foo.com/a", "shop_web_http");
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/b", "shop_web_http");
    model_unref(m);
    store_deinit(&s);
}

/* Rules for one host from several Ingresses, across namespaces, are merged. */
static void test_merge_across_ingresses(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "blog", "posts", "web", 8000, 8000, "10.1.0.1");
    put_ingress(&s, "shop", "a", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/shop", "Prefix", BE_NUM("web", 80))) "]");
    put_ingress(&s, "blog", "b", T_NEW, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/blog", "Prefix", BE_NAME("posts", "web"))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 2);
    assert_int_equal(m->n_issues, 0);
    assert_int_equal(m->n_maps[MODEL_MAP_HOSTS], 1);
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/shop/", "shop_web_http");
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/blog/", "blog_posts_web");
    assert_int_equal(m->n_backends, 2);
    assert_string_equal(m->backends[0]->name, "blog_posts_web");
    assert_string_equal(m->backends[1]->name, "shop_web_http");
    model_unref(m);
    store_deinit(&s);
}

/* ====== Conflicts ====== */

static void test_oldest_wins(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "other", "http", 80, 80, "10.0.0.9");
    /* inserted newest first: order of insertion must not matter */
    put_ingress(&s, "shop", "newer", T_NEW, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/p", "Exact", BE_NUM("other", 80)) ","
                                            PATH("/q", "Prefix", BE_NUM("other", 80))) "]");
    put_ingress(&s, "shop", "older", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/p", "Exact", BE_NUM("web", 80)) ","
                                            PATH("/q", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 2);
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/p", "shop_web_http");
    assert_entry(m, MODEL_MAP_PREFIX_EXACT, "foo.com/q", "shop_web_http");
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/q/", "shop_web_http");
    /* the loser gets a warning naming the field; the winner none */
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/newer", "spec.rules[0].http.paths[0]",
                 "ingress/shop/older");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/newer", "spec.rules[0].http.paths[1]", NULL);
    assert_null(find_issue(m, MODEL_SEV_WARN, "ingress/shop/older", NULL, NULL));
    model_unref(m);
    store_deinit(&s);
}

static void test_same_age_name_order(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "b", "web", "http", 80, 80, NULL);
    put_service(&s, "a", "web", "http", 80, 80, NULL);
    put_ingress(&s, "b", "x", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/p", "Exact", BE_NUM("web", 80))) "]");
    put_ingress(&s, "a", "z", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/p", "Exact", BE_NUM("web", 80))) "]");
    put_ingress(&s, "a", "y", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/p", "Exact", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    /* same creationTimestamp: namespace/name decides, a/y first */
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/p", "a_web_http");
    assert_issue(m, MODEL_SEV_WARN, "ingress/b/x", "spec.rules[0].http.paths[0]", "ingress/a/y");
    model_unref(m);
    store_deinit(&s);
}

/* Exact beats Prefix on the same path: both exist, in different maps that
 * are looked up exact first. */
static void test_exact_and_prefix_same_path(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "other", "http", 80, 80, NULL);
    put_ingress(&s, "shop", "a", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/p", "Prefix", BE_NUM("other", 80))) "]");
    put_ingress(&s, "shop", "b", T_NEW, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/p", "Exact", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/p", "shop_web_http");
    assert_entry(m, MODEL_MAP_PREFIX_EXACT, "foo.com/p", "shop_other_http");
    assert_int_equal(m->n_issues, 0);
    model_unref(m);
    store_deinit(&s);
}

/* Within one Ingress the first declaration wins, with a warning. */
static void test_declared_twice_in_one_ingress(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "other", "http", 80, 80, NULL);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/p", "Exact", BE_NUM("web", 80)) ","
                                            PATH("/p", "Exact", BE_NUM("other", 80))) "]");
    m = build(&s, &o);
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/p", "shop_web_http");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.rules[0].http.paths[1]", NULL);
    assert_null(find_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.rules[0].http.paths[0]",
                           NULL));
    model_unref(m);
    store_deinit(&s);
}

/* Host defaults, redirects and certificates also go to the oldest Ingress. */
static void test_other_conflicts(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    char *crt1, *key1, *crt2, *key2;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "other", "http", 80, 80, NULL);
    make_cert("foo.com", &crt1, &key1);
    make_cert("foo.com", &crt2, &key2);
    put_tls_secret(&s, "shop", "one", crt1, key1);
    put_tls_secret(&s, "shop", "two", crt2, key2);
    put_ingress(&s, "shop", "older", T_OLD, "portico", "",
                "'defaultBackend':{'service':{'name':'web','port':{'number':80}}},"
                "'tls':[{'hosts':['foo.com'],'secretName':'one'}],"
                "'rules':[" RULE("foo.com", PATH("/a", "Exact", BE_NUM("web", 80))) "]");
    put_ingress(&s, "shop", "newer", T_NEW, "portico", "'portico.dev/ssl-redirect-code':'302'",
                "'defaultBackend':{'service':{'name':'other','port':{'number':80}}},"
                "'tls':[{'hosts':['foo.com'],'secretName':'two'}],"
                "'rules':[" RULE("foo.com", PATH("/b", "Exact", BE_NUM("other", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 2);
    assert_entry(m, MODEL_MAP_HOST_DEFAULT, "foo.com/", "shop_web_http");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/newer", "spec.defaultBackend",
                 "ingress/shop/older");
    assert_entry(m, MODEL_MAP_REDIRECT, "foo.com", "_redirect_308");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/newer", "spec.tls[0]", "redirect");
    /* the host keeps the older Ingress's certificate */
    for (size_t i = 0; i < m->n_certs; i++) {
        if (!strcmp(m->certs[i].file, "shop_one.pem")) {
            assert_int_equal(m->certs[i].n_snis, 1);
            assert_string_equal(m->certs[i].snis[0], "foo.com");
        } else {
            assert_string_equal(m->certs[i].file, "shop_two.pem");
            assert_int_equal(m->certs[i].n_snis, 0);
        }
    }
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/newer", "spec.tls[0]", "certificate");
    /* both paths are served: rules of one host are merged */
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/a", "shop_web_http");
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/b", "shop_other_http");
    model_unref(m);
    free(crt1);
    free(key1);
    free(crt2);
    free(key2);
    store_deinit(&s);
}

/* routing.md: "Several matches: the longest path wins, across all Ingresses
 * of that host". For a request "/foo/bar", ImplementationSpecific "/foo/"
 * (5 bytes) must beat Prefix "/foo" (4 bytes), whichever Ingress is older.
 * Both map to the map_beg key "foo.com/foo/", so the longer rule must own it. */
static void test_longest_path_wins_prefix_vs_impl(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "other", "http", 80, 80, NULL);
    put_ingress(&s, "shop", "a", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/foo", "Prefix", BE_NUM("web", 80))) "]");
    put_ingress(&s, "shop", "b", T_NEW, "portico", "",
                "'rules':[" RULE("foo.com",
                                 PATH("/foo/", "ImplementationSpecific", BE_NUM("other", 80))) "]");
    m = build(&s, &o);
    /* "/foo" itself: only the Prefix rule matches */
    assert_entry(m, MODEL_MAP_PREFIX_EXACT, "foo.com/foo", "shop_web_http");
    /* "/foo/...": both match; the longer ImplementationSpecific path wins */
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/foo/", "shop_other_http");
    model_unref(m);
    store_deinit(&s);
}

/* Same rule for the catch-all: ImplementationSpecific "" (0 bytes) is shorter
 * than Prefix "/" (1 byte), so "/x" must go to the Prefix rule even when the
 * ImplementationSpecific one is older. */
static void test_longest_path_wins_empty_impl_vs_root_prefix(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "other", "http", 80, 80, NULL);
    put_ingress(&s, "shop", "a", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", "{'path':'','pathType':'ImplementationSpecific',"
                                            BE_NUM("other", 80) "}") "]");
    put_ingress(&s, "shop", "b", T_NEW, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_entry(m, MODEL_MAP_PREFIX, "foo.com/", "shop_web_http");
    model_unref(m);
    store_deinit(&s);
}

/* ====== Validation ====== */

static void test_invalid_host_rejects_ingress(void **state)
{
    static const char *const bad_hosts[] = {"Foo.com", "foo.com:80", "foo bar", "a..b",
                                            "*.*.foo.com", "foo.com/x"};

    (void)state;
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        struct store s;
        struct model_opts o = opts();
        struct model *m;
        char spec[1024];

        base_store(&s);
        snprintf(spec, sizeof(spec),
                 "'rules':[" RULE("ok.com", PATH("/a", "Exact", BE_NUM("web", 80))) ","
                 "{'host':'%s','http':{'paths':[" PATH("/b", "Exact", BE_NUM("web", 80)) "]}}]",
                 bad_hosts[i]);
        put_ingress(&s, "shop", "bad", T_OLD, "portico", "", spec);
        m = build(&s, &o);
        assert_int_equal(m->n_ingresses, 0);
        assert_int_equal(total_entries(m), 0); /* the valid rule is dropped too */
        assert_issue(m, MODEL_SEV_ERROR, "ingress/shop/bad", "spec.rules[1].host", NULL);
        model_unref(m);
        store_deinit(&s);
    }
}

static void test_invalid_path_rejects_ingress(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_ingress(&s, "shop", "bad", T_OLD, "portico", "",
                "'rules':[" RULE("ok.com", PATH("/a", "Exact", BE_NUM("web", 80)) ","
                                           PATH("/a//b", "Prefix", BE_NUM("web", 80))) "]");
    put_ingress(&s, "shop", "bad2", T_OLD, "portico", "",
                "'rules':[" RULE("two.com", PATH("/a#b", "ImplementationSpecific",
                                                  BE_NUM("web", 80))) "]");
    put_ingress(&s, "shop", "bad3", T_OLD, "portico", "",
                "'rules':[" RULE("three.com", PATH("", "Exact", BE_NUM("web", 80))) "]");
    put_ingress(&s, "shop", "good", T_NEW, "portico", "",
                "'rules':[" RULE("good.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 1);
    assert_issue(m, MODEL_SEV_ERROR, "ingress/shop/bad", "spec.rules[0].http.paths[1].path",
                 NULL);
    assert_issue(m, MODEL_SEV_ERROR, "ingress/shop/bad2", "spec.rules[0].http.paths[0].path",
                 NULL);
    assert_issue(m, MODEL_SEV_ERROR, "ingress/shop/bad3", "spec.rules[0].http.paths[0].path",
                 NULL);
    assert_no_entry(m, MODEL_MAP_EXACT, "ok.com/a");
    assert_no_entry(m, MODEL_MAP_HOSTS, "ok.com");
    assert_entry(m, MODEL_MAP_PREFIX, "good.com/", "shop_web_http");
    model_unref(m);
    store_deinit(&s);
}

static void test_invalid_backend_and_tls_reject_ingress(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_ingress(&s, "shop", "badsvc", T_OLD, "portico", "",
                "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NUM("Web_1", 80))) "]");
    put_ingress(&s, "shop", "badport", T_OLD, "portico", "",
                "'rules':[" RULE("b.com", PATH("/", "Prefix", BE_NAME("web", "HTTP"))) "]");
    put_ingress(&s, "shop", "badtls", T_OLD, "portico", "",
                "'tls':[{'hosts':['c.com','bad host']}],"
                "'rules':[" RULE("c.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    put_ingress(&s, "shop", "badsecret", T_OLD, "portico", "",
                "'tls':[{'hosts':['d.com'],'secretName':'Bad_Secret'}],"
                "'rules':[" RULE("d.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 0);
    assert_int_equal(total_entries(m), 0);
    assert_issue(m, MODEL_SEV_ERROR, "ingress/shop/badsvc", "spec.rules[0].http.paths[0]",
                 NULL);
    assert_issue(m, MODEL_SEV_ERROR, "ingress/shop/badport", "spec.rules[0].http.paths[0]",
                 NULL);
    assert_issue(m, MODEL_SEV_ERROR, "ingress/shop/badtls", "spec.tls[0].hosts[1]", NULL);
    assert_issue(m, MODEL_SEV_ERROR, "ingress/shop/badsecret", "spec.tls[0].secretName", NULL);
    model_unref(m);
    store_deinit(&s);
}

/* ====== Backends ====== */

/* A backend's packed servers give back each server whole, IPv4 and IPv6. */
static void test_pack_servers(void **state)
{
    struct model_server in[] = {
        {{10, 0, 0, 1}, 80, false},
        {{10, 0, 0, 2}, 65535, false},
        {{0xfd, 0, [15] = 7}, 8080, true},
        {{0xfd, 0, [15] = 8}, 1, true},
    };
    struct model_backend be = {.name = "b"};
    struct arena a;

    (void)state;
    arena_init(&a);
    for (size_t from = 0; from <= 4; from += 2) {
        /* IPv4 and IPv6, IPv6 only, none */
        be.n_servers = (uint32_t)(4 - from);
        be.servers = model_pack_servers(&a, in + from, 4 - from, &be.n_v4);
        assert_int_equal(be.n_v4, from ? 0 : 2);
        for (size_t i = 0; i < be.n_servers; i++) {
            struct model_server out = model_backend_server(&be, i);

            assert_int_equal(model_server_cmp(&out, &in[from + i]), 0);
            assert_int_equal(out.v6, in[from + i].v6);
        }
    }
    arena_deinit(&a);
}

static void test_servers_from_ready_endpoints(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    const struct model_backend *be;
    struct model_server sv;
    char addr[64];

    (void)state;
    store_init(&s);
    put_class(&s, "portico", CONTROLLER, false);
    put(&s, "{'apiVersion':'v1','kind':'Service','metadata':{'name':'api','namespace':'shop'},"
            "'spec':{'ports':[{'name':'http','port':80,'targetPort':'web'},"
            "{'name':'grpc','port':9000,'targetPort':9000}]}}");
    put(&s, "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
            "'api-1','namespace':'shop','labels':{'kubernetes.io/service-name':'api'}},"
            "'addressType':'IPv4','ports':[{'name':'http','port':8080},{'name':'grpc','port':"
            "9001}],'endpoints':["
            "{'addresses':['10.0.0.3']},"
            "{'addresses':['10.0.0.1'],'conditions':{'ready':true}},"
            "{'addresses':['10.0.0.2'],'conditions':{'ready':false}},"
            "{'addresses':['10.0.0.4'],'conditions':{'ready':false,'serving':true,"
            "'terminating':true}},"
            "{'addresses':['10.0.0.5'],'conditions':{'ready':true,'terminating':true}},"
            "{'addresses':['not-an-ip']},"
            "{'addresses':['fd00::1']}]}");
    /* a second slice of the same Service, with a duplicate */
    put(&s, "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
            "'api-2','namespace':'shop','labels':{'kubernetes.io/service-name':'api'}},"
            "'addressType':'IPv4','ports':[{'name':'http','port':8080}],'endpoints':["
            "{'addresses':['10.0.0.1']},{'addresses':['10.0.0.10']}]}");
    /* an IPv6 slice of the same Service */
    put(&s, "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
            "'api-3','namespace':'shop','labels':{'kubernetes.io/service-name':'api'}},"
            "'addressType':'IPv6','ports':[{'name':'http','port':8080}],'endpoints':["
            "{'addresses':['fd00::7']}]}");
    /* an FQDN slice is ignored */
    put(&s, "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
            "'api-4','namespace':'shop','labels':{'kubernetes.io/service-name':'api'}},"
            "'addressType':'FQDN','ports':[{'name':'http','port':8080}],'endpoints':["
            "{'addresses':['db.example.com']}]}");
    /* same Service name in another namespace, and another Service here */
    put(&s, "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
            "'api-x','namespace':'other','labels':{'kubernetes.io/service-name':'api'}},"
            "'addressType':'IPv4','ports':[{'name':'http','port':8080}],'endpoints':["
            "{'addresses':['10.9.9.9']}]}");
    put(&s, "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
            "'web-1','namespace':'shop','labels':{'kubernetes.io/service-name':'web'}},"
            "'addressType':'IPv4','ports':[{'name':'http','port':8080}],'endpoints':["
            "{'addresses':['10.8.8.8']}]}");
    put_ingress(&s, "shop", "api", T_OLD, "portico", "",
                "'rules':[" RULE("api.com", PATH("/", "Prefix", BE_NUM("api", 80)) ","
                                            PATH("/grpc", "Prefix", BE_NAME("api", "grpc"))) "]");
    m = build(&s, &o);
    dump_issues(m);
    assert_int_equal(m->n_issues, 0);
    assert_int_equal(m->n_backends, 2);
    be = find_backend(m, "shop_api_http");
    assert_non_null(be);
    /* ready and not terminating only; deduplicated; IPv4 first, by address */
    assert_int_equal(be->n_servers, 4);
    assert_string_equal(server_name(be, 0), "10.0.0.1:8080");
    assert_string_equal(server_name(be, 1), "10.0.0.3:8080");
    assert_string_equal(server_name(be, 2), "10.0.0.10:8080");
    assert_string_equal(server_name(be, 3), "fd00::7:8080");
    sv = model_backend_server(be, 2);
    assert_string_equal(model_server_addr(&sv, addr, sizeof(addr)), "10.0.0.10");
    assert_false(sv.v6);
    sv = model_backend_server(be, 3);
    assert_string_equal(model_server_addr(&sv, addr, sizeof(addr)), "fd00::7");
    assert_true(sv.v6);
    assert_int_equal(be->n_v4, 3);
    for (size_t i = 0; i < be->n_servers; i++)
        assert_int_equal(model_backend_server(be, i).port, 8080);
    be = find_backend(m, "shop_api_grpc");
    assert_non_null(be);
    assert_int_equal(be->n_servers, 2);
    assert_string_equal(server_name(be, 0), "10.0.0.1:9001");
    assert_string_equal(server_name(be, 1), "10.0.0.3:9001");
    model_unref(m);
    store_deinit(&s);
}

static void test_unnamed_port(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    const struct model_backend *be;

    (void)state;
    store_init(&s);
    put_class(&s, "portico", CONTROLLER, false);
    put(&s, "{'apiVersion':'v1','kind':'Service','metadata':{'name':'one','namespace':'shop'},"
            "'spec':{'ports':[{'port':80,'targetPort':3000}]}}");
    put(&s, "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
            "'one-1','namespace':'shop','labels':{'kubernetes.io/service-name':'one'}},"
            "'addressType':'IPv4','ports':[{'port':3000}],'endpoints':["
            "{'addresses':['10.2.0.1']}]}");
    put_ingress(&s, "shop", "one", T_OLD, "portico", "",
                "'rules':[" RULE("one.com", PATH("/", "Prefix", BE_NUM("one", 80))) "]");
    m = build(&s, &o);
    be = find_backend(m, "shop_one_80");
    assert_non_null(be);
    assert_int_equal(be->n_servers, 1);
    assert_string_equal(server_name(be, 0), "10.2.0.1:3000");
    assert_int_equal(model_backend_server(be, 0).port, 3000);
    model_unref(m);
    store_deinit(&s);
}

static void test_missing_service_and_port(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    const struct model_backend *be;

    (void)state;
    base_store(&s);
    put(&s, "{'apiVersion':'v1','kind':'Service','metadata':{'name':'ext','namespace':'shop'},"
            "'spec':{'type':'ExternalName','externalName':'db.example.com','ports':[{'name':"
            "'http','port':80}]}}");
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/nosvc", "Exact", BE_NUM("ghost", 80)) ","
                                            PATH("/noport", "Exact", BE_NUM("web", 81)) ","
                                            PATH("/noname", "Exact", BE_NAME("web", "grpc")) ","
                                            PATH("/ext", "Exact", BE_NUM("ext", 80))) "]");
    m = build(&s, &o);
    /* still routed, to a backend without servers (503) */
    assert_int_equal(m->n_ingresses, 1);
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/nosvc", "shop_ghost_80");
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/noport", "shop_web_81");
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/noname", "shop_web_grpc");
    be = find_backend(m, "shop_ghost_80");
    assert_non_null(be);
    assert_int_equal(be->n_servers, 0);
    assert_int_equal(find_backend(m, "shop_web_81")->n_servers, 0);
    assert_int_equal(find_backend(m, "shop_web_grpc")->n_servers, 0);
    assert_int_equal(find_backend(m, "shop_ext_http")->n_servers, 0);
    /* plus a warning on the Ingress naming the path */
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.rules[0].http.paths[0]", "ghost");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.rules[0].http.paths[1]", "port");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.rules[0].http.paths[2]", "grpc");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.rules[0].http.paths[3]",
                 "ExternalName");
    model_unref(m);
    store_deinit(&s);
}

static void test_resource_backend(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", "{'path':'/r','pathType':'Exact','backend':"
                                            "{'resource':{'kind':'Bucket','name':'b'}}}") "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 1);
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.rules[0].http.paths[0]",
                 "resource");
    {
        const char *be = map_get(m, MODEL_MAP_EXACT, "foo.com/r");
        const struct model_backend *b;

        assert_non_null(be);
        b = find_backend(m, be);
        assert_non_null(b);
        assert_int_equal(b->n_servers, 0);
    }
    model_unref(m);
    store_deinit(&s);
}

/* ====== Default backends ====== */

static void test_default_backend_catchall(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "fallback", "http", 80, 80, "10.3.0.1");
    put_ingress(&s, "shop", "newer", T_NEW, "portico", "",
                "'defaultBackend':{'service':{'name':'web','port':{'number':80}}}");
    put_ingress(&s, "shop", "older", T_OLD, "portico", "",
                "'defaultBackend':{'service':{'name':'fallback','port':{'name':'http'}}}");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 2);
    assert_non_null(m->default_backend);
    assert_string_equal(m->default_backend, "shop_fallback_http");
    assert_int_equal(m->n_maps[MODEL_MAP_HOST_DEFAULT], 0);
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/newer", "spec.defaultBackend",
                 "ingress/shop/older");
    assert_non_null(find_backend(m, "shop_fallback_http"));
    model_unref(m);
    store_deinit(&s);
}

/* An Ingress being deleted, or in a namespace being deleted, wins no
 * conflict: its pods may be gone already. What it alone defines still
 * serves. */
static void test_leaving_objects_lose_conflicts(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "old", "fallback", "http", 80, 80, "10.3.0.1");
    put_service(&s, "new", "fallback", "http", 80, 80, "10.3.0.2");
    put_service(&s, "shop", "api", "grpc", 9000, 9000, "10.0.1.1");
    put(&s, "{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'old'},"
            "'status':{'phase':'Terminating'}}");
    put(&s, "{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'new'},"
            "'status':{'phase':'Active'}}");
    put_ingress(&s, "old", "catch", T_OLD, "portico", "",
                "'defaultBackend':{'service':{'name':'fallback','port':{'number':80}}}");
    put_ingress(&s, "new", "catch", T_NEW, "portico", "",
                "'defaultBackend':{'service':{'name':'fallback','port':{'number':80}}}");
    /* the older claim of foo.com/a is being deleted (a finalizer holds it) */
    put(&s, "{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':{'name':'going',"
            "'namespace':'shop','creationTimestamp':'" T_OLD "','deletionTimestamp':"
            "'2025-01-01T00:00:00Z'},'spec':{'ingressClassName':'portico','rules':["
            RULE("foo.com", PATH("/a", "Exact", BE_NUM("web", 80)) ","
                            PATH("/only-mine", "Exact", BE_NUM("web", 80))) "]}}");
    put_ingress(&s, "shop", "staying", T_NEW, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/a", "Exact", BE_NUM("api", 9000))) "]");
    m = build(&s, &o);
    assert_string_equal(m->default_backend, "new_fallback_http");
    assert_issue(m, MODEL_SEV_WARN, "ingress/old/catch", "spec.defaultBackend",
                 "ingress/new/catch sets the catch-all default backend too, and takes it over");
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/a", "shop_api_grpc");
    assert_entry(m, MODEL_MAP_EXACT, "foo.com/only-mine", "shop_web_http");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/going", "spec.rules[0].http.paths[0]",
                 "also defined by ingress/shop/staying, which takes it over");
    model_unref(m);
    /* the namespace back to Active: the oldest wins again */
    put(&s, "{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'old'},"
            "'status':{'phase':'Active'}}");
    m = build(&s, &o);
    assert_string_equal(m->default_backend, "old_fallback_http");
    model_unref(m);
    store_deinit(&s);
}

static void test_default_backend_with_rules(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "fallback", "http", 80, 80, NULL);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'defaultBackend':{'service':{'name':'fallback','port':{'number':80}}},"
                "'rules':[" RULE("foo.com", PATH("/a", "Exact", BE_NUM("web", 80))) ","
                "{'host':'bar.com'}," RULE_NOHOST(PATH("/b", "Exact", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    /* applies to this Ingress's hosts only: no catch-all */
    assert_null(m->default_backend);
    assert_entry(m, MODEL_MAP_HOST_DEFAULT, "foo.com/", "shop_fallback_http");
    assert_entry(m, MODEL_MAP_HOST_DEFAULT, "bar.com/", "shop_fallback_http");
    assert_entry(m, MODEL_MAP_HOST_DEFAULT, "/", "shop_fallback_http");
    assert_entry(m, MODEL_MAP_HOSTS, "bar.com", "bar.com");
    model_unref(m);
    store_deinit(&s);
}

static void test_default_backend_flag(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    const struct model_backend *be;

    (void)state;
    base_store(&s);
    put_service(&s, "kube-system", "default-http", "http", 80, 8080, "10.4.0.1");
    o.default_backend_svc = "kube-system/default-http";
    m = build(&s, &o);
    assert_non_null(m->default_backend);
    be = find_backend(m, m->default_backend);
    assert_non_null(be);
    assert_int_equal(be->n_servers, 1);
    assert_string_equal(server_name(be, 0), "10.4.0.1:8080");
    model_unref(m);
    /* a rule-less defaultBackend takes precedence over the flag */
    put_ingress(&s, "shop", "catch", T_OLD, "portico", "",
                "'defaultBackend':{'service':{'name':'web','port':{'number':80}}}");
    m = build(&s, &o);
    assert_string_equal(m->default_backend, "shop_web_http");
    model_unref(m);
    /* a missing Service: warning, and a backend without servers (503) */
    o.default_backend_svc = "kube-system/nothing";
    store_del(&s, K8S_INGRESS, "shop", "catch");
    m = build(&s, &o);
    assert_non_null(m->default_backend);
    assert_int_equal(find_backend(m, m->default_backend)->n_servers, 0);
    assert_true(m->n_issues >= 1);
    model_unref(m);
    store_deinit(&s);
}

/* ====== ConfigMap ====== */

static void test_configmap_globals(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    m = build(&s, &o);
    assert_int_equal(m->global.timeout_server_ms, 50000);
    assert_int_equal(m->global.timeout_connect_ms, 5000);
    assert_int_equal(m->global.maxconn, 0);
    model_unref(m);
    put(&s, "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'portico','namespace':"
            "'kube-system'},'data':{'timeout-server':'2m','maxconn':'1000','nbthread':'2',"
            "'timeout-conect':'1s','timeout-client':'soon'}}");
    o.configmap = "kube-system/portico";
    m = build(&s, &o);
    assert_int_equal(m->global.timeout_server_ms, 120000);
    assert_int_equal(m->global.maxconn, 1000);
    assert_int_equal(m->global.nbthread, 2);
    assert_int_equal(m->global.timeout_client_ms, 50000); /* bad value ignored */
    assert_int_equal(m->global.timeout_connect_ms, 5000);
    assert_issue(m, MODEL_SEV_WARN, "configmap/kube-system/portico", "timeout-conect",
                 "did you mean \"timeout-connect\"");
    assert_issue(m, MODEL_SEV_WARN, "configmap/kube-system/portico", "timeout-client", NULL);
    model_unref(m);
    store_deinit(&s);
}

static void test_annotation_issue_on_ingress(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "'portico.dev/ssl-redirekt':'false'",
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_ingresses, 1);
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "portico.dev/ssl-redirekt",
                 "did you mean \"ssl-redirect\"");
    model_unref(m);
    store_deinit(&s);
}

/* ====== TLS ====== */

static void test_default_cert_fallback(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    m = build(&s, &o);
    assert_string_equal(m->default_cert.file, "default.pem");
    assert_non_null(m->default_cert.pem);
    assert_int_equal(m->default_cert.pem_len, strlen(fallback_pem));
    assert_memory_equal(m->default_cert.pem, fallback_pem, m->default_cert.pem_len);
    assert_non_null(strstr(m->default_cert.pem, "PRIVATE KEY"));
    assert_non_null(strstr(m->default_cert.pem, "BEGIN CERTIFICATE"));
    assert_int_equal(m->n_certs, 0);
    model_unref(m);
    store_deinit(&s);
}

static void test_tls_secret(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    char *crt, *key;

    (void)state;
    base_store(&s);
    make_cert("secure.com,www.secure.com", &crt, &key);
    put_tls_secret(&s, "shop", "secure-tls", crt, key);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'tls':[{'hosts':['secure.com','www.secure.com'],'secretName':'secure-tls'}],"
                "'rules':[" RULE("secure.com", PATH("/", "Prefix", BE_NUM("web", 80))) ","
                RULE("www.secure.com", PATH("/", "Prefix", BE_NUM("web", 80))) ","
                RULE("plain.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    dump_issues(m);
    assert_int_equal(m->n_issues, 0);
    assert_int_equal(m->n_certs, 1);
    assert_string_equal(m->certs[0].file, "shop_secure-tls.pem");
    assert_int_equal(m->certs[0].n_snis, 2);
    assert_string_equal(m->certs[0].snis[0], "secure.com");
    assert_string_equal(m->certs[0].snis[1], "www.secure.com");
    /* key then certificate, re-encoded */
    assert_non_null(m->certs[0].tls);
    assert_int_equal(strlen(cert_pem(&m->certs[0])), m->certs[0].pem_len);
    assert_non_null(strstr(cert_pem(&m->certs[0]), "PRIVATE KEY"));
    assert_true(strstr(cert_pem(&m->certs[0]), "PRIVATE KEY") < strstr(cert_pem(&m->certs[0]), "CERTIFICATE"));
    assert_non_null(strstr(cert_pem(&m->certs[0]), crt + strlen("-----BEGIN CERTIFICATE-----\n")));
    /* redirect map: TLS hosts only, default 308 */
    assert_entry(m, MODEL_MAP_REDIRECT, "secure.com", "_redirect_308");
    assert_entry(m, MODEL_MAP_REDIRECT, "www.secure.com", "_redirect_308");
    assert_no_entry(m, MODEL_MAP_REDIRECT, "plain.com");
    assert_int_equal(m->n_maps[MODEL_MAP_REDIRECT], 2);
    /* the default certificate is still the fallback */
    assert_memory_equal(m->default_cert.pem, fallback_pem, strlen(fallback_pem));
    model_unref(m);
    free(crt);
    free(key);
    store_deinit(&s);
}

/* 700 characters a crypt(3) hash could be made of */
#define LONG_HASH_10 "abcdefghij"
#define LONG_HASH_100                                                                      \
    LONG_HASH_10 LONG_HASH_10 LONG_HASH_10 LONG_HASH_10 LONG_HASH_10 LONG_HASH_10           \
        LONG_HASH_10 LONG_HASH_10 LONG_HASH_10 LONG_HASH_10
#define LONG_HASH                                                                          \
    LONG_HASH_100 LONG_HASH_100 LONG_HASH_100 LONG_HASH_100 LONG_HASH_100 LONG_HASH_100     \
        LONG_HASH_100

/* Basic authentication: the users of a Secret, validated one by one; any
 * that HAProxy could not check leaves the backend without a userlist (503)
 * and an issue naming the user. */
static void test_basic_auth_users(void **state)
{
    static const struct {
        const char *data; /* stringData members */
        const char *problem; /* NULL: usable */
    } cases[] = {
        {"'bob':'$6$salt$hash','amy':'$2y$05$abc./def'", NULL},
        {"'auth':'amy:$5$s$h\\n# note\\n\\nbob@x.example:$y$j9T$s$h\\n'", NULL},
        {"'old':'ab01FGhij2./Z'", NULL}, /* DES */
        {"'amy':'$apr1$x$y'", "user \"amy\": an Apache MD5 ($apr1$) hash"},
        {"'amy':'{SHA}abc='", "user \"amy\": an Apache SHA-1"},
        {"'amy':'hunter2'", "a plain password is not accepted"},
        {"'amy':'$6$a b'", "a plain password is not accepted"},
        {"'amy':'$6$'", "not a crypt(3) hash"},
        {"'a b':'$6$s$h'", "a user name must be"},
        {"'auth':'amy:$6$s$h\\namy:$6$t$h'", "user \"amy\" is there twice"},
        {"'auth':'amy $6$s$h'", "each line must be \"user:hash\""},
        {"'auth':'# nobody'", "has no users"},
        {"'auth':'amy:$6$" LONG_HASH "'", "a line is longer than 599 bytes"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct store s;
        struct model_opts o = opts();
        struct model *m;
        char *q;

        store_init(&s);
        put_class(&s, "portico", CONTROLLER, false);
        put_service(&s, "shop", "web", "http", 80, 8080, "10.0.0.1");
        q = xasprintf("{'apiVersion':'v1','kind':'Secret','metadata':{'name':'users',"
                      "'namespace':'shop'},'stringData':{%s}}",
                      cases[i].data);
        put(&s, q);
        free(q);
        put_ingress(&s, "shop", "web", T_OLD, "portico",
                    "'haproxy.org/auth-type':'basic-auth','haproxy.org/auth-secret':'users'",
                    "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
        m = model_build(&s, &o);
        assert_int_equal(m->n_backends, 1);
        if (cases[i].problem) {
            assert_null(m->backends[0]->userlist);
            assert_int_equal(m->n_userlists, 0);
            assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.rules[0].http.paths[0]",
                         cases[i].problem);
        } else {
            assert_non_null(m->backends[0]->userlist);
            assert_int_equal(m->n_userlists, 1);
            assert_string_equal(m->userlists[0]->name, "shop_users");
            assert_null(find_issue(m, MODEL_SEV_WARN, "ingress/shop/web", NULL, NULL));
        }
        model_unref(m);
        store_deinit(&s);
    }
}

/* Ingress "shop/<name>" of class <cls>, with annotations <ann>, routing
 * <host>/ to web:80 over TLS with the certificate of Secret <secret>. */
static void put_tls_ingress(struct store *s, const char *name, const char *created,
                            const char *cls, const char *ann, const char *host,
                            const char *secret)
{
    char spec[512];

    snprintf(spec, sizeof(spec),
             "'tls':[{'hosts':['%s'],'secretName':'%s'}],"
             "'rules':[{'host':'%s','http':{'paths':[" PATH("/", "Prefix", BE_NUM("web", 80))
             "]}}]",
             host, secret, host);
    put_ingress(s, "shop", name, created, cls, ann, spec);
}

/* A newer Ingress "shop/later" serving later.com with Secret <secret>. */
static void put_later_ingress(struct store *s, const char *secret)
{
    put_tls_ingress(s, "later", T_NEW, "portico", "", "later.com", secret);
}

/* A model borrows its certificates' PEM from the parsed-Secret cache and
 * holds it: the running model stays readable after later builds dropped the
 * Secret from the cache (valgrind and ASan check the reads). */
static void test_tls_pem_outlives_the_cache_entry(void **state)
{
    struct tls_cache *cache = tls_cache_new();
    struct store s;
    struct model_opts o = opts();
    struct model *old, *m;
    char *crt[2], *key[2], *pem;

    (void)state;
    o.tls_cache = cache;
    base_store(&s);
    make_cert("secure.com", &crt[0], &key[0]);
    make_cert("secure.com", &crt[1], &key[1]);
    put_tls_secret(&s, "shop", "secure-tls", crt[0], key[0]);
    put_tls_ingress(&s, "web", T_OLD, "portico", "", "secure.com", "secure-tls");
    old = build(&s, &o);
    assert_int_equal(old->n_certs, 1);
    pem = xstrdup(cert_pem(&old->certs[0]));
    /* rotated: the next build parses the new content, the one after drops the old */
    put_tls_secret(&s, "shop", "secure-tls", crt[1], key[1]);
    for (int i = 0; i < 2; i++) {
        m = build(&s, &o);
        assert_string_not_equal(cert_pem(&m->certs[0]), pem);
        model_unref(m);
    }
    assert_string_equal(cert_pem(&old->certs[0]), pem);
    assert_int_equal(strlen(cert_pem(&old->certs[0])), old->certs[0].pem_len);
    model_unref(old);
    tls_cache_free(cache);
    free(pem);
    for (int i = 0; i < 2; i++) {
        free(crt[i]);
        free(key[i]);
    }
    store_deinit(&s);
}

/* Secret data dropped from the store after a build: later builds use the
 * certificates it parsed, from the cache. A Secret dropped before any build
 * parsed it is wanted (read again), with the default certificate served for
 * it until its data is back. */
static void test_secret_data_dropped_and_wanted(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct tls_cache *cache = tls_cache_new();
    struct model *m;
    const struct k8s_secret *sec;
    char *crt, *key;
    size_t shared;

    (void)state;
    shared = k8s_shared_strings();
    o.tls_cache = cache;
    base_store(&s);
    make_cert("secure.com", &crt, &key);
    put_tls_secret(&s, "shop", "unused-tls", crt, key);
    put_tls_secret(&s, "shop", "secure-tls", crt, key);
    put_tls_ingress(&s, "web", T_OLD, "portico", "", "secure.com", "secure-tls");
    m = build(&s, &o);
    assert_int_equal(m->n_certs, 1);
    assert_int_equal(m->n_wanted, 0);
    model_unref(m);
    assert_int_equal(store_drop_secret_data(&s), 2);
    assert_int_equal(store_drop_secret_data(&s), 0);
    sec = (const struct k8s_secret *)store_get(&s, K8S_SECRET, "shop", "unused-tls");
    assert_true(sec->data_dropped);
    assert_null(sec->crt);
    assert_null(sec->key);
    /* the parsed certificate serves without the data */
    m = build(&s, &o);
    assert_int_equal(m->n_certs, 1);
    assert_string_equal(m->certs[0].file, "shop_secure-tls.pem");
    assert_non_null(m->certs[0].tls);
    assert_int_equal(m->n_wanted, 0);
    model_unref(m);
    /* an Ingress names the one no build parsed: wanted, default certificate meanwhile */
    put_later_ingress(&s, "unused-tls");
    m = build(&s, &o);
    assert_int_equal(m->n_wanted, 1);
    assert_string_equal(m->wanted[0], "shop/unused-tls");
    assert_int_equal(m->n_certs, 1);
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/later", "spec.tls[0]", "being fetched");
    model_unref(m);
    /* its data back (as a GET brings it): served */
    put_tls_secret(&s, "shop", "unused-tls", crt, key);
    m = build(&s, &o);
    assert_int_equal(m->n_wanted, 0);
    assert_int_equal(m->n_certs, 2);
    model_unref(m);
    /* a certificate no build used in the meantime leaves the cache: wanted again */
    assert_int_equal(store_drop_secret_data(&s), 1);
    store_del(&s, K8S_INGRESS, "shop", "later");
    model_unref(build(&s, &o));
    model_unref(build(&s, &o));
    put_later_ingress(&s, "unused-tls");
    m = build(&s, &o);
    assert_int_equal(m->n_wanted, 1);
    model_unref(m);
    tls_cache_free(cache);
    free(crt);
    free(key);
    store_deinit(&s);
    /* copies without data counted their namespace too: none left */
    assert_int_equal(k8s_shared_strings(), shared);
}

/* Cluster mode parses the Secrets Ingresses (of any class) and the default
 * certificate flag name before a build, then drops every Secret's data: the
 * build serves the parsed certificates, and wants the ones nobody named. */
static void test_secrets_parsed_before_build(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct tls_cache *cache = tls_cache_new();
    const struct k8s_obj **secrets;
    struct hmap refs;
    struct model *m;
    size_t n;
    char *crt, *key;

    (void)state;
    o.tls_cache = cache;
    o.default_ssl_cert = "shop/default-tls";
    base_store(&s);
    make_cert("secure.com", &crt, &key);
    put_tls_secret(&s, "shop", "secure-tls", crt, key);
    put_tls_secret(&s, "shop", "other-tls", crt, key);
    put_tls_secret(&s, "shop", "default-tls", crt, key);
    put_tls_secret(&s, "shop", "unnamed-tls", crt, key);
    put_tls_ingress(&s, "web", T_OLD, "portico", "", "secure.com", "secure-tls");
    put_tls_ingress(&s, "theirs", T_OLD, "other", "", "secure.com", "other-tls");
    hmap_init(&refs);
    model_secret_refs(&s, &o, &refs);
    assert_int_equal(refs.used, 3);
    assert_non_null(hmap_get(&refs, "shop/secure-tls"));
    assert_non_null(hmap_get(&refs, "shop/other-tls"));
    assert_non_null(hmap_get(&refs, "shop/default-tls"));
    assert_null(hmap_get(&refs, "shop/unnamed-tls"));
    n = store_list_unsorted(&s, K8S_SECRET, &secrets);
    for (size_t i = 0; i < n; i++) {
        const struct k8s_secret *sec = (const struct k8s_secret *)secrets[i];

        if (hmap_get(&refs, sec->obj.meta.key))
            model_parse_secret(&o, sec);
        assert_true(store_drop_data(&s, sec));
    }
    free(secrets);
    hmap_deinit(&refs);
    assert_int_equal(store_drop_secret_data(&s), 0);
    m = build(&s, &o);
    assert_int_equal(m->n_wanted, 0);
    assert_int_equal(m->n_certs, 1);
    assert_string_equal(m->certs[0].file, "shop_secure-tls.pem");
    assert_non_null(m->certs[0].tls);
    assert_non_null(m->default_cert.tls);
    assert_memory_equal(cert_pem(&m->default_cert), cert_pem(&m->certs[0]), m->certs[0].pem_len);
    model_unref(m);
    /* the Secret nobody named, named now: its data is read again */
    put_later_ingress(&s, "unnamed-tls");
    m = build(&s, &o);
    assert_int_equal(m->n_wanted, 1);
    assert_string_equal(m->wanted[0], "shop/unnamed-tls");
    model_unref(m);
    tls_cache_free(cache);
    free(crt);
    free(key);
    store_deinit(&s);
}

static void test_tls_redirect_annotations(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    char *crt, *key;

    (void)state;
    base_store(&s);
    make_cert("a.com,b.com", &crt, &key);
    put_tls_secret(&s, "shop", "ab", crt, key);
    put_tls_ingress(&s, "a", T_OLD, "portico", "'portico.dev/ssl-redirect':'false'", "a.com",
                    "ab");
    put_tls_ingress(&s, "b", T_OLD, "portico", "'haproxy.org/ssl-redirect-code':'301'", "b.com",
                    "ab");
    m = build(&s, &o);
    assert_no_entry(m, MODEL_MAP_REDIRECT, "a.com");
    assert_entry(m, MODEL_MAP_REDIRECT, "b.com", "_redirect_301");
    /* one certificate per Secret, SNI filters merged */
    assert_int_equal(m->n_certs, 1);
    assert_int_equal(m->certs[0].n_snis, 2);
    assert_string_equal(m->certs[0].snis[0], "a.com");
    assert_string_equal(m->certs[0].snis[1], "b.com");
    model_unref(m);
    /* a ConfigMap can turn redirects off globally */
    put(&s, "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'cm','namespace':'x'},"
            "'data':{'ssl-redirect':'false'}}");
    o.configmap = "x/cm";
    m = build(&s, &o);
    assert_int_equal(m->n_maps[MODEL_MAP_REDIRECT], 0);
    model_unref(m);
    free(crt);
    free(key);
    store_deinit(&s);
}

/* Hosts passed through by an annotation under any prefix: the build's
 * tables have room for each (it aborts otherwise), and only for those. */
static void test_passthrough_tables(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put_ingress(&s, "shop", "p1", T_OLD, "portico", "'haproxy.org/ssl-passthrough':'true'",
                "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NAME("web", "http"))) ","
                            RULE("b.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    put_ingress(&s, "shop", "p2", T_MID, "portico",
                "'nginx.ingress.kubernetes.io/ssl-passthrough':'true'",
                "'rules':[" RULE("c.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    put_ingress(&s, "shop", "plain", T_NEW, "portico", "",
                "'rules':[" RULE("d.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_maps[MODEL_MAP_PASSTHROUGH], 3);
    assert_no_entry(m, MODEL_MAP_PASSTHROUGH, "d.com");
    assert_non_null(map_get(m, MODEL_MAP_PASSTHROUGH, "c.com"));
    assert_non_null(map_get(m, MODEL_MAP_REDIRECT, "a.com"));
    model_unref(m);
    /* not a ConfigMap key: no Ingress passed through by it */
    put(&s, "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'cm','namespace':'x'},"
            "'data':{'ssl-passthrough':'true'}}");
    o.configmap = "x/cm";
    m = build(&s, &o);
    assert_int_equal(m->n_maps[MODEL_MAP_PASSTHROUGH], 3);
    assert_no_entry(m, MODEL_MAP_PASSTHROUGH, "d.com");
    model_unref(m);
    store_deinit(&s);
}

static void test_tls_without_hosts(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    char *crt, *key;

    (void)state;
    base_store(&s);
    make_cert("covered.com,*.wild.com", &crt, &key);
    put_tls_secret(&s, "shop", "c", crt, key);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'tls':[{'secretName':'c'}],"
                "'rules':[" RULE("covered.com", PATH("/", "Prefix", BE_NUM("web", 80))) ","
                RULE("x.wild.com", PATH("/", "Prefix", BE_NUM("web", 80))) ","
                RULE("other.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    dump_issues(m);
    /* applies to the rule hosts its certificate covers */
    assert_int_equal(m->n_certs, 1);
    assert_int_equal(m->certs[0].n_snis, 2);
    assert_string_equal(m->certs[0].snis[0], "covered.com");
    assert_string_equal(m->certs[0].snis[1], "x.wild.com");
    assert_entry(m, MODEL_MAP_REDIRECT, "covered.com", "_redirect_308");
    assert_entry(m, MODEL_MAP_REDIRECT, "x.wild.com", "_redirect_308");
    assert_no_entry(m, MODEL_MAP_REDIRECT, "other.com");
    model_unref(m);
    free(crt);
    free(key);
    store_deinit(&s);
}

static void test_tls_key_mismatch(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    char *crt1, *key1, *crt2, *key2;

    (void)state;
    base_store(&s);
    make_cert("bad.com", &crt1, &key1);
    make_cert("bad.com", &crt2, &key2);
    put_tls_secret(&s, "shop", "mismatch", crt1, key2);
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'tls':[{'hosts':['bad.com'],'secretName':'mismatch'},"
                "{'hosts':['gone.com'],'secretName':'missing'},{'hosts':['nosecret.com']}],"
                "'rules':[" RULE("bad.com", PATH("/", "Prefix", BE_NUM("web", 80))) ","
                RULE("gone.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    /* the Ingress is still served; no certificate, a warning each */
    assert_int_equal(m->n_ingresses, 1);
    assert_int_equal(m->n_certs, 0);
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.tls[0]", "does not match");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.tls[1]", "not found");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.tls[2]", "secretName");
    assert_entry(m, MODEL_MAP_PREFIX, "bad.com/", "shop_web_http");
    /* the default certificate is untouched */
    assert_memory_equal(m->default_cert.pem, fallback_pem, strlen(fallback_pem));
    model_unref(m);
    free(crt1);
    free(key1);
    free(crt2);
    free(key2);
    store_deinit(&s);
}

static void test_tls_wrong_type_and_garbage(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    put(&s, "{'apiVersion':'v1','kind':'Secret','metadata':{'name':'opaque','namespace':'shop'},"
            "'type':'Opaque','stringData':{'tls.crt':'x','tls.key':'y'}}");
    put(&s, "{'apiVersion':'v1','kind':'Secret','metadata':{'name':'junk','namespace':'shop'},"
            "'type':'kubernetes.io/tls','stringData':{'tls.crt':'not a pem','tls.key':'nope'}}");
    put_ingress(&s, "shop", "web", T_OLD, "portico", "",
                "'tls':[{'hosts':['a.com'],'secretName':'opaque'},"
                "{'hosts':['b.com'],'secretName':'junk'}],"
                "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_certs, 0);
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.tls[0]", "kubernetes.io/tls");
    assert_issue(m, MODEL_SEV_WARN, "ingress/shop/web", "spec.tls[1]", "tls.crt");
    model_unref(m);
    store_deinit(&s);
}

static void test_default_ssl_certificate_flag(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    char *crt, *key;

    (void)state;
    base_store(&s);
    make_cert("default.example.com", &crt, &key);
    put_tls_secret(&s, "kube-system", "default-cert", crt, key);
    o.default_ssl_cert = "kube-system/default-cert";
    m = build(&s, &o);
    assert_string_equal(m->default_cert.file, "default.pem");
    assert_non_null(m->default_cert.tls);
    assert_true(m->default_cert.pem_len != strlen(fallback_pem) ||
                memcmp(cert_pem(&m->default_cert), fallback_pem, strlen(fallback_pem)) != 0);
    assert_non_null(strstr(cert_pem(&m->default_cert), crt + strlen("-----BEGIN CERTIFICATE-----\n")));
    assert_int_equal(m->n_issues, 0);
    model_unref(m);
    /* missing: warning and the fallback */
    o.default_ssl_cert = "kube-system/absent";
    m = build(&s, &o);
    assert_memory_equal(m->default_cert.pem, fallback_pem, strlen(fallback_pem));
    assert_issue(m, MODEL_SEV_WARN, "flag/default-ssl-certificate", NULL, "not found");
    model_unref(m);
    free(crt);
    free(key);
    store_deinit(&s);
}

/* ====== Lifetime ====== */

static void test_refcount(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;

    (void)state;
    base_store(&s);
    m = build(&s, &o);
    assert_ptr_equal(model_ref(m), m);
    assert_int_equal(m->refs, 2);
    model_unref(m);
    assert_int_equal(m->refs, 1);
    model_unref(m);
    model_unref(NULL);
    store_deinit(&s);
    for (int i = 0; i < MODEL_MAP_COUNT; i++)
        assert_string_not_equal(model_map_name((enum model_map)i), "unknown");
    assert_string_equal(model_map_name(MODEL_MAP_PREFIX_EXACT), "prefix-exact");
    assert_string_equal(model_map_name(MODEL_MAP_HOST_DEFAULT), "host-default");
}

/* The model does not depend on the order objects were stored in. */
static void test_deterministic(void **state)
{
    struct store a, b;
    struct model_opts o = opts();
    struct model *ma, *mb;

    (void)state;
    base_store(&a);
    base_store(&b);
    put_ingress(&a, "shop", "x", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/1", "Exact", BE_NUM("web", 80))) "]");
    put_ingress(&a, "shop", "y", T_NEW, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/1", "Exact", BE_NUM("ghost", 80)) ","
                                            PATH("/2", "Prefix", BE_NUM("web", 80))) "]");
    put_ingress(&b, "shop", "y", T_NEW, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/1", "Exact", BE_NUM("ghost", 80)) ","
                                            PATH("/2", "Prefix", BE_NUM("web", 80))) "]");
    put_ingress(&b, "shop", "x", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/1", "Exact", BE_NUM("web", 80))) "]");
    ma = build(&a, &o);
    mb = build(&b, &o);
    assert_int_equal(ma->n_backends, mb->n_backends);
    for (size_t i = 0; i < ma->n_backends; i++)
        assert_string_equal(ma->backends[i]->name, mb->backends[i]->name);
    for (int map = 0; map < MODEL_MAP_COUNT; map++) {
        assert_int_equal(ma->n_maps[map], mb->n_maps[map]);
        for (size_t i = 0; i < ma->n_maps[map]; i++) {
            assert_string_equal(ma->maps[map][i].key, mb->maps[map][i].key);
            assert_string_equal(ma->maps[map][i].value, mb->maps[map][i].value);
        }
    }
    assert_entry(ma, MODEL_MAP_EXACT, "foo.com/1", "shop_web_http");
    assert_int_equal(ma->n_issues, mb->n_issues);
    model_unref(ma);
    model_unref(mb);
    store_deinit(&a);
    store_deinit(&b);
}

static struct k8s_obj *configmap(const char *ns, const char *name)
{
    char *q = xasprintf("{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'%s',"
                        "'namespace':'%s'},'data':{'k':'v'}}",
                        name, ns);
    char *j = q2j(q);
    struct k8s_obj *o = tu_decode(j);

    free(j);
    free(q);
    return o;
}

/* The list of one named ConfigMap (a flag's) replaces that ConfigMap only,
 * not the others of its namespace (another flag's). */
static void test_store_replace_by_name(void **state)
{
    struct store s;
    struct k8s_obj *objs[1];

    (void)state;
    store_init(&s);
    store_put(&s, configmap("ns", "global"));
    store_put(&s, configmap("ns", "errors"));
    store_put(&s, configmap("other", "errors"));
    /* relisted empty: gone */
    assert_int_equal(store_replace(&s, K8S_CONFIGMAP, "ns", "errors", objs, 0), 1);
    assert_null(store_get(&s, K8S_CONFIGMAP, "ns", "errors"));
    assert_non_null(store_get(&s, K8S_CONFIGMAP, "ns", "global"));
    assert_non_null(store_get(&s, K8S_CONFIGMAP, "other", "errors"));
    /* relisted with itself: the others untouched */
    objs[0] = configmap("ns", "errors");
    assert_int_equal(store_replace(&s, K8S_CONFIGMAP, "ns", "errors", objs, 1), 1);
    assert_int_equal(store_count(&s, K8S_CONFIGMAP), 3);
    /* the whole namespace */
    assert_int_equal(store_replace(&s, K8S_CONFIGMAP, "ns", NULL, objs, 0), 2);
    assert_int_equal(store_count(&s, K8S_CONFIGMAP), 1);
    store_deinit(&s);
}

/* The server names formatted by hand are those inet_ntop() and printf()
 * write, for every byte value and the ports at the limits. */
/* Every backend of <p> has the servers and backups of its twin in <m>. */
static void assert_same_servers(const struct model *p, const struct model *m)
{
    assert_int_equal(p->n_backends, m->n_backends);
    for (size_t i = 0; i < p->n_backends; i++) {
        const struct model_backend *a = p->backends[i], *b = m->backends[i];

        assert_string_equal(a->name, b->name);
        assert_int_equal(a->n_servers, b->n_servers);
        assert_int_equal(a->n_backups, b->n_backups);
        for (size_t k = 0; k < a->n_servers; k++)
            assert_string_equal(server_name(a, k), server_name(b, k));
        for (size_t k = 0; k < a->n_backups; k++) {
            struct model_server x = model_backend_backup(a, k), y = model_backend_backup(b, k);

            assert_int_equal(model_server_cmp(&x, &y), 0);
        }
    }
}

/* A patch for changed endpoints is the model a build makes, through a chain
 * of patches, each independent of the one it was made from. */
static void test_patch_is_a_build(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m, *p1, *p2, *p3, *b;
    uint64_t web = k8s_lookup_hash(K8S_SERVICE, "shop", "web");
    uint64_t fb = k8s_lookup_hash(K8S_SERVICE, "shop", "fallback");
    uint64_t other = k8s_lookup_hash(K8S_SERVICE, "shop", "nothing");
    uint32_t was;

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "fallback", "http", 80, 8080, "10.1.0.1");
    /* an unnamed port: its backend is named by number */
    put(&s, "{'apiVersion':'v1','kind':'Service','metadata':{'name':'num','namespace':'shop'},"
            "'spec':{'ports':[{'port':81,'targetPort':9090}]}}");
    put(&s, "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
            "'num-1','namespace':'shop','labels':{'kubernetes.io/service-name':'num'}},"
            "'addressType':'IPv4','ports':[{'port':9090}],'endpoints':["
            "{'addresses':['10.2.0.1']}]}");
    put_ingress(&s, "shop", "plain", T_OLD, "portico", "",
                "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NAME("web", "http")) ","
                                          PATH("/n", "Prefix", BE_NUM("num", 81))) "]");
    /* the same Service port with keys of its own, and a fallback */
    put_ingress(&s, "shop", "keyed", T_MID, "portico",
                "'haproxy.org/load-balance':'leastconn',"
                "'nginx.ingress.kubernetes.io/default-backend':'fallback'",
                "'rules':[" RULE("b.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_backends, 3);

    /* endpoints of a Service no backend uses: the same model */
    p1 = model_patch(m, &s, &other, 1);
    assert_ptr_equal(p1, m);
    model_unref(p1);

    was = find_backend(m, "shop_web_http")->n_servers;
    assert_int_not_equal(was, 3);
    put_service(&s, "shop", "web", "http", 80, 8080, "10.0.0.2,10.0.0.3,10.0.0.9");
    p1 = model_patch(m, &s, &web, 1);
    assert_non_null(p1);
    assert_ptr_not_equal(p1, m);
    /* the build's backend as it was, the patch's a copy */
    assert_int_equal(find_backend(m, "shop_web_http")->n_servers, was);
    assert_int_equal(p1->n_patched, 2); /* both backends of shop/web:http */
    b = build(&s, &o);
    assert_same_servers(p1, b);
    assert_int_equal(find_backend(p1, "shop_web_http")->n_servers, 3);
    /* the rest is the build's */
    assert_ptr_equal(p1->maps[MODEL_MAP_PREFIX], m->maps[MODEL_MAP_PREFIX]);
    assert_ptr_equal(find_backend(p1, "shop_num_81"), find_backend(m, "shop_num_81"));
    model_unref(b);
    model_unref(m);

    /* a patch of the patch: the fallback's endpoints, then none for web */
    put_service(&s, "shop", "fallback", "http", 80, 8080, "10.1.0.1,10.1.0.2");
    p2 = model_patch(p1, &s, &fb, 1);
    assert_non_null(p2);
    model_unref(p1);
    assert_int_equal(p2->n_patched, 2);
    b = build(&s, &o);
    assert_same_servers(p2, b);
    model_unref(b);
    assert_true(store_del(&s, K8S_ENDPOINT_SLICE, "shop", "web-x1"));
    p3 = model_patch(p2, &s, &web, 1);
    assert_non_null(p3);
    model_unref(p2);
    b = build(&s, &o);
    assert_same_servers(p3, b);
    assert_int_equal(find_backend(p3, "shop_web_http")->n_servers, 0);
    assert_null(find_backend(p3, "shop_web_http")->servers);
    model_unref(b);
    model_unref(p3);
    store_deinit(&s);
}

/* The entries two maps begin with in common, by the run and one by one. */
static void test_entries_shared(void **state)
{
    static const char *const keys[] = {"a", "b", "c"};
    struct model_entry a[200], b[200];

    (void)state;
    for (size_t i = 0; i < 200; i++)
        a[i] = b[i] = (struct model_entry){keys[i % 3], keys[(i + 1) % 3]};
    assert_int_equal(model_entries_shared(a, 200, b, 200), 200);
    assert_int_equal(model_entries_shared(a, 200, b, 130), 130);
    assert_int_equal(model_entries_shared(a, 0, b, 200), 0);
    b[150].value = "x";
    assert_int_equal(model_entries_shared(a, 200, b, 200), 150);
    b[3].key = "x";
    assert_int_equal(model_entries_shared(a, 200, b, 200), 3);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Routes, backends and their refs, Ingresses served and issues (in any
 * order) of <p> are those of <b>. */
static void assert_same_routes(const struct model *p, const struct model *b)
{
    char **ip, **ib;

    for (int k = 0; k < MODEL_MAP_COUNT; k++) {
        assert_int_equal(p->n_maps[k], b->n_maps[k]);
        for (size_t i = 0; i < p->n_maps[k]; i++) {
            assert_string_equal(p->maps[k][i].key, b->maps[k][i].key);
            assert_string_equal(p->maps[k][i].value, b->maps[k][i].value);
        }
    }
    assert_int_equal(p->n_backends, b->n_backends);
    for (size_t i = 0; i < p->n_backends; i++) {
        assert_string_equal(p->backends[i]->name, b->backends[i]->name);
        assert_int_equal(p->backends[i]->refs, b->backends[i]->refs);
    }
    assert_int_equal(p->n_certs, b->n_certs);
    for (size_t i = 0; i < p->n_certs; i++) {
        assert_string_equal(p->certs[i].file, b->certs[i].file);
        assert_int_equal(p->certs[i].refs, b->certs[i].refs);
        assert_int_equal(p->certs[i].n_snis, b->certs[i].n_snis);
        for (size_t j = 0; j < p->certs[i].n_snis; j++)
            assert_string_equal(p->certs[i].snis[j], b->certs[i].snis[j]);
    }
    assert_int_equal(p->n_ingresses, b->n_ingresses);
    assert_int_equal(p->n_issues, b->n_issues);
    ip = calloc(p->n_issues + 1, sizeof(*ip));
    ib = calloc(b->n_issues + 1, sizeof(*ib));
    for (size_t i = 0; i < p->n_issues; i++) {
        ip[i] = xasprintf("%s|%s|%s", p->issues[i].obj, p->issues[i].field, p->issues[i].msg);
        ib[i] = xasprintf("%s|%s|%s", b->issues[i].obj, b->issues[i].field, b->issues[i].msg);
    }
    qsort(ip, p->n_issues, sizeof(*ip), cmp_str);
    qsort(ib, b->n_issues, sizeof(*ib), cmp_str);
    for (size_t i = 0; i < p->n_issues; i++) {
        assert_string_equal(ip[i], ib[i]);
        free(ip[i]);
        free(ib[i]);
    }
    free(ip);
    free(ib);
}

/* Reroutes <*m> for the Ingresses changed since the last call: the result
 * must be what a build makes, and replaces <*m>. */
/* The key of the entry of <key> in map <map> of <m> (its own pointer), or NULL. */
static const char *entry_key(const struct model *m, enum model_map map, const char *key)
{
    for (size_t i = 0; i < m->n_maps[map]; i++) {
        if (!strcmp(m->maps[map][i].key, key))
            return m->maps[map][i].key;
    }
    return NULL;
}

static void reroute(struct store *s, const struct model_opts *o, struct model **m)
{
    struct store_change *v;
    struct model *p, *b;
    size_t n;

    assert_true(store_take_changes(s, &v, &n));
    assert_true(n > 0);
    p = model_reroute(*m, s, o, v, n, false);
    store_changes_free(v, n);
    assert_non_null(p);
    b = build(s, o);
    assert_same_routes(p, b);
    model_unref(b);
    model_unref(*m);
    *m = p;
}

/* Reroutes <m> for the Ingresses changed since the last call: a build must
 * be made instead. */
static void no_reroute(struct store *s, const struct model_opts *o, struct model *m)
{
    struct store_change *v;
    size_t n;

    assert_true(store_take_changes(s, &v, &n));
    assert_null(model_reroute(m, s, o, v, n, false));
    store_changes_free(v, n);
}

/* A route change rebuilds the routes of its hosts alone, and makes the
 * model a build makes: through a chain of reroutes and endpoint patches,
 * with claims between Ingresses of a host, rules without a host, wildcards
 * and deletions; and a build when the backends or a map's use change, or
 * for what reaches beyond a host (TLS, rule-less Ingresses). */
static void test_reroute_is_a_build(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m, *p, *b;
    const char *key;
    struct store_change *v;
    size_t n;
    uint64_t web = k8s_lookup_hash(K8S_SERVICE, "shop", "web");

    (void)state;
    base_store(&s);
    put_service(&s, "shop", "api", "http", 80, 8080, "10.3.0.1");
    put_service(&s, "shop", "solo", "http", 80, 8080, "10.4.0.1");
    put_ingress(&s, "shop", "s", T_OLD, "portico", "",
                "'rules':[" RULE("s.com", PATH("/", "Prefix", BE_NAME("solo", "http"))) "]");
    /* an alias elsewhere: no part of the reroutes of other hosts */
    put_ingress(&s, "shop", "al", T_OLD, "portico",
                "'nginx.ingress.kubernetes.io/server-alias':'alias.com'",
                "'rules':[" RULE("al.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    put_ingress(&s, "shop", "a", T_OLD, "portico", "",
                "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    put_ingress(&s, "shop", "b", T_OLD, "portico", "",
                "'rules':[" RULE("b.com", PATH("/", "Prefix", BE_NAME("web", "http")) ","
                                          PATH("/x", "Exact", BE_NAME("api", "http"))) "]");
    put_ingress(&s, "shop", "c", T_MID, "portico", "",
                "'rules':[" RULE("c.com", PATH("/api", "Prefix", BE_NAME("api", "http"))) ","
                            RULE("*.v.com", PATH("/", "Prefix", BE_NAME("api", "http"))) "]");
    m = build(&s, &o);
    store_track(&s, K8S_INGRESS);

    /* a new host on existing backends */
    put_ingress(&s, "shop", "d", T_MID, "portico", "",
                "'rules':[" RULE("d.com", PATH("/e", "Exact", BE_NAME("web", "http")) ","
                                          PATH("/p/", "Prefix", BE_NAME("api", "http"))) "]");
    reroute(&s, &o, &m);
    /* the maps of d.com made again, the others shared with the build */
    assert_non_null(m->strings);
    assert_ptr_not_equal(m->maps[MODEL_MAP_EXACT], m->base->maps[MODEL_MAP_EXACT]);
    assert_ptr_not_equal(m->maps[MODEL_MAP_PREFIX], m->base->maps[MODEL_MAP_PREFIX]);
    assert_ptr_equal(m->maps[MODEL_MAP_WILDCARDS], m->base->maps[MODEL_MAP_WILDCARDS]);
    assert_ptr_equal(m->certs, m->base->certs);
    /* a path more on a host, and a wildcard host */
    put_ingress(&s, "shop", "a", T_OLD, "portico", "",
                "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NAME("web", "http")) ","
                                          PATH("/z", "Prefix", BE_NAME("api", "http"))) ","
                            RULE("*.w.com", PATH("/", "Prefix", BE_NAME("api", "http"))) "]");
    key = entry_key(m, MODEL_MAP_PREFIX, "a.com/");
    assert_non_null(key);
    reroute(&s, &o, &m);
    /* the route as it was keeps its strings; the new one names its backend's */
    assert_ptr_equal(entry_key(m, MODEL_MAP_PREFIX, "a.com/"), key);
    for (size_t i = 0; i < m->n_maps[MODEL_MAP_PREFIX]; i++) {
        const struct model_entry *e = &m->maps[MODEL_MAP_PREFIX][i];

        if (!strncmp(e->key, "a.com/z", 7))
            assert_ptr_equal(e->value, model_find_backend(m, e->value)->name);
    }
    /* a newer Ingress on the same path loses it, with an issue... */
    put_ingress(&s, "shop", "e", T_NEW, "portico", "",
                "'rules':[" RULE("a.com", PATH("/z", "Prefix", BE_NAME("web", "http"))) "]");
    reroute(&s, &o, &m);
    /* ...and takes it once the older one is gone */
    assert_true(store_del(&s, K8S_INGRESS, "shop", "a"));
    reroute(&s, &o, &m);
    /* an endpoint patch of a reroute, and a reroute of that */
    put_service(&s, "shop", "web", "http", 80, 8080, "10.0.0.7");
    p = model_patch(m, &s, &web, 1);
    assert_non_null(p);
    /* the reroute's maps and strings, held rather than copied */
    assert_ptr_equal(p->maps[MODEL_MAP_PREFIX], m->maps[MODEL_MAP_PREFIX]);
    assert_ptr_equal(p->strings, m->strings);
    model_unref(m);
    m = p;
    b = build(&s, &o);
    assert_same_routes(m, b);
    assert_same_servers(m, b);
    model_unref(b);
    put_ingress(&s, "shop", "f", T_NEW, "portico", "",
                "'rules':[{'http':{'paths':[" PATH("/h", "Prefix", BE_NAME("web", "http")) "]}}]");
    reroute(&s, &o, &m);
    b = build(&s, &o);
    assert_same_servers(m, b);
    model_unref(b);
    /* two changes in one, an Ingress of another class among them */
    put_ingress(&s, "shop", "g", T_NEW, "nginx", "",
                "'rules':[" RULE("b.com", PATH("/", "Prefix", BE_NAME("api", "http"))) "]");
    put_ingress(&s, "shop", "d", T_MID, "portico", "",
                "'rules':[" RULE("d.com", PATH("/e", "Exact", BE_NAME("api", "http"))) "]");
    reroute(&s, &o, &m);
    /* the only Ingress of its host deleted, and made again */
    assert_true(store_del(&s, K8S_INGRESS, "shop", "d"));
    reroute(&s, &o, &m);
    put_ingress(&s, "shop", "d", T_MID, "portico", "",
                "'rules':[" RULE("d.com", PATH("/e", "Exact", BE_NAME("api", "http"))) "]");
    reroute(&s, &o, &m);
    /* another class's Ingress alone: the same model */
    put_ingress(&s, "shop", "g", T_NEW, "nginx", "",
                "'rules':[" RULE("b.com", PATH("/g", "Prefix", BE_NAME("api", "http"))) "]");
    assert_true(store_take_changes(&s, &v, &n));
    p = model_reroute(m, &s, &o, v, n, false);
    store_changes_free(v, n);
    assert_ptr_equal(p, m);
    model_unref(p);

    /* builds: a new backend, a backend no longer used, a map no longer used */
    put_ingress(&s, "shop", "h", T_NEW, "portico", "",
                "'rules':[" RULE("h.com", PATH("/", "Prefix", BE_NAME("other", "http"))) "]");
    no_reroute(&s, &o, m);
    assert_true(store_del(&s, K8S_INGRESS, "shop", "h"));
    assert_true(store_take_changes(&s, &v, &n));
    store_changes_free(v, n);
    assert_true(store_del(&s, K8S_INGRESS, "shop", "s"));
    no_reroute(&s, &o, m);
    put_ingress(&s, "shop", "s", T_OLD, "portico", "",
                "'rules':[" RULE("s.com", PATH("/", "Prefix", BE_NAME("solo", "http"))) "]");
    assert_true(store_take_changes(&s, &v, &n));
    store_changes_free(v, n);
    put_ingress(&s, "shop", "b", T_OLD, "portico", "",
                "'rules':[" RULE("b.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    reroute(&s, &o, &m); /* shop/api is still used */
    put_ingress(&s, "shop", "c", T_MID, "portico", "",
                "'rules':[" RULE("c.com", PATH("/api", "Prefix", BE_NAME("api", "http"))) "]");
    no_reroute(&s, &o, m); /* no wildcard host left */
    /* a rule-less Ingress */
    put_ingress(&s, "shop", "r", T_NEW, "portico", "",
                "'defaultBackend':{'service':{'name':'web','port':{'name':'http'}}}");
    no_reroute(&s, &o, m);
    /* a rule on a host that is an alias */
    assert_true(store_del(&s, K8S_INGRESS, "shop", "r"));
    assert_true(store_take_changes(&s, &v, &n));
    store_changes_free(v, n);
    put_ingress(&s, "shop", "onalias", T_NEW, "portico", "",
                "'rules':[" RULE("alias.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    no_reroute(&s, &o, m);
    model_unref(m);
    store_deinit(&s);
}

/* Asserts that <m> is what a build of <s> makes with backends
 * shop_new<i>_http, i from 1 to <n>, run in spares _spare_<i>. */
static void assert_built_in_spares(struct store *s, const struct model_opts *o,
                                   const struct model *m, int n)
{
    struct model *b = build(s, o);

    for (int i = 1; i <= n; i++) {
        char name[32], spare[32];

        snprintf(name, sizeof(name), "shop_new%d_http", i);
        snprintf(spare, sizeof(spare), MODEL_SPARE_PREFIX "%d", i);
        assert_int_equal(model_run_in_spare(b, name, spare), 0);
    }
    assert_same_routes(m, b);
    assert_same_servers(m, b);
    model_unref(b);
}

/* Reroutes <*m> with spares for the Ingresses changed since the last call:
 * the result must be what a build makes with <n> backends in spares
 * (assert_built_in_spares()), and replaces <*m>. */
static void reroute_into_spares(struct store *s, const struct model_opts *o, struct model **m,
                                int n)
{
    struct store_change *v;
    struct model *p;
    size_t n_changes;

    assert_true(store_take_changes(s, &v, &n_changes));
    p = model_reroute(*m, s, o, v, n_changes, true);
    store_changes_free(v, n_changes);
    assert_non_null(p);
    model_unref(*m);
    *m = p;
    assert_built_in_spares(s, o, p, n);
}

/* A route to a new backend runs it in a free spare, as a build does with
 * model_run_in_spare(): the next one in the next spare, the routes to them
 * rerouted again and their endpoints patched while they run there; with
 * spares refused, or none free, a build must be made. */
static void test_reroute_into_spare(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m, *p;
    struct store_change *v;
    const struct model_backend *sp;
    uint64_t new1 = k8s_lookup_hash(K8S_SERVICE, "shop", "new1");
    size_t n;

    (void)state;
    o.spare_backends = 2;
    base_store(&s);
    put_ingress(&s, "shop", "a", T_OLD, "portico", "",
                "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NAME("web", "http")) ","
                                          PATH("/x", "Exact", BE_NAME("web", "http"))) "]");
    m = build(&s, &o);
    store_track(&s, K8S_INGRESS);

    put_service(&s, "shop", "new1", "http", 80, 8080, "10.0.1.1,10.0.1.2");
    put_ingress(&s, "shop", "n1", T_NEW, "portico", "",
                "'rules':[" RULE("n1.com", PATH("/", "Prefix", BE_NAME("new1", "http"))) "]");
    assert_true(store_take_changes(&s, &v, &n));
    assert_null(model_reroute(m, &s, &o, v, n, false));
    p = model_reroute(m, &s, &o, v, n, true);
    store_changes_free(v, n);
    assert_non_null(p);
    model_unref(m);
    m = p;
    assert_built_in_spares(&s, &o, m, 1);
    sp = model_find_backend(m, "_spare_1");
    assert_string_equal(sp->origin, "shop_new1_http");
    assert_int_equal(sp->n_servers, 2);
    assert_int_equal(m->n_patched, 1);
    assert_int_equal(m->patched[0], model_backend_index(m, "_spare_1"));

    /* the next one in the next spare; a path more to the first */
    put_service(&s, "shop", "new2", "http", 80, 8080, "10.0.2.1");
    put_ingress(&s, "shop", "n2", T_NEW, "portico", "",
                "'rules':[" RULE("n2.com", PATH("/", "Prefix", BE_NAME("new2", "http"))) "]");
    put_ingress(&s, "shop", "n1", T_NEW, "portico", "",
                "'rules':[" RULE("n1.com", PATH("/", "Prefix", BE_NAME("new1", "http"))
                                 "," PATH("/x", "Exact", BE_NAME("new1", "http"))) "]");
    reroute_into_spares(&s, &o, &m, 2);
    assert_int_equal(m->n_patched, 2);
    /* and its endpoints changed */
    put_service(&s, "shop", "new1", "http", 80, 8080, "10.0.1.3");
    p = model_patch(m, &s, &new1, 1);
    assert_non_null(p);
    model_unref(m);
    m = p;
    assert_built_in_spares(&s, &o, m, 2);

    /* no spare left */
    put_service(&s, "shop", "new3", "http", 80, 8080, "10.0.3.1");
    put_ingress(&s, "shop", "n3", T_NEW, "portico", "",
                "'rules':[" RULE("n3.com", PATH("/", "Prefix", BE_NAME("new3", "http"))) "]");
    no_reroute(&s, &o, m);
    model_unref(m);
    store_deinit(&s);
}

/* A build's arena, however large, is no reason to build again: only what a
 * patch copied since the build is bounded. */
static void test_reroute_large_build(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    char spec[256], name[32];

    (void)state;
    base_store(&s);
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "i%d", i);
        /* long host names: a big arena soon */
        snprintf(spec, sizeof(spec),
                 "'rules':[{'host':'h%d.a-rather-long-name-for-a-test.example.com',"
                 "'http':{'paths':[" PATH("/", "Prefix", BE_NAME("web", "http")) "]}}]",
                 i);
        put_ingress(&s, "shop", name, T_OLD, "portico", "", spec);
    }
    m = build(&s, &o);
    assert_true(m->arena.total > 256u << 10);
    store_track(&s, K8S_INGRESS);
    put_ingress(&s, "shop", "new", T_NEW, "portico", "",
                "'rules':[" RULE("new.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    reroute(&s, &o, &m);
    model_unref(m);
    store_deinit(&s);
}

/* A reroute moves host names between the certificates the build has, with
 * the crt-list a build makes: a host gains one, loses it, takes another's
 * certificate when the older Ingress naming it goes; a certificate no
 * Ingress names any more is a build. */
static void test_reroute_certificates(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m;
    char *crt, *key;

    (void)state;
    o.tls_cache = tls_cache_new();
    base_store(&s);
    make_cert("s1.com", &crt, &key);
    put_tls_secret(&s, "shop", "one-tls", crt, key);
    put_tls_secret(&s, "shop", "two-tls", crt, key);
    put_tls_ingress(&s, "s1", T_OLD, "portico", "", "s1.com", "one-tls");
    put_tls_ingress(&s, "s2", T_OLD, "portico", "", "s2.com", "two-tls");
    m = build(&s, &o);
    assert_int_equal(m->n_certs, 2);
    store_track(&s, K8S_INGRESS);

    put_tls_ingress(&s, "s3", T_MID, "portico", "", "s3.com", "one-tls");
    reroute(&s, &o, &m);
    assert_int_equal(m->certs[0].n_snis, 2);
    /* a newer Ingress names s1.com with the other certificate: ignored... */
    put_tls_ingress(&s, "s4", T_NEW, "portico", "", "s1.com", "two-tls");
    reroute(&s, &o, &m);
    /* ...until the older one goes */
    assert_true(store_del(&s, K8S_INGRESS, "shop", "s1"));
    reroute(&s, &o, &m);
    assert_string_equal(m->certs[1].snis[0], "s1.com");
    /* TLS no more on a host */
    put_ingress(&s, "shop", "s3", T_MID, "portico", "",
                "'rules':[" RULE("s3.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    no_reroute(&s, &o, m); /* one-tls is named by no Ingress now */
    model_unref(m);
    tls_cache_free(o.tls_cache);
    free(crt);
    free(key);
    store_deinit(&s);
}

/* Reroutes leave the certificate cache as the last build left it: a
 * build after them still has the certificates whose Secret data is gone. */
static void test_reroute_keeps_certificates(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m, *b;
    char *crt, *key;

    (void)state;
    o.tls_cache = tls_cache_new();
    base_store(&s);
    make_cert("secure.com", &crt, &key);
    put_tls_secret(&s, "shop", "secure-tls", crt, key);
    put_tls_ingress(&s, "secure", T_OLD, "portico", "", "secure.com", "secure-tls");
    put_ingress(&s, "shop", "a", T_OLD, "portico", "",
                "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
    m = build(&s, &o);
    assert_int_equal(m->n_certs, 1);
    assert_int_equal(store_drop_secret_data(&s), 1);
    store_track(&s, K8S_INGRESS);
    for (int i = 0; i < 3; i++) {
        put_ingress(&s, "shop", "a", T_OLD, "portico", "",
                    i % 2 ? "'rules':[" RULE("a.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]"
                          : "'rules':[" RULE("b.com", PATH("/", "Prefix", BE_NAME("web", "http"))) "]");
        reroute(&s, &o, &m);
    }
    b = build(&s, &o);
    assert_int_equal(b->n_wanted, 0);
    assert_int_equal(b->n_certs, 1);
    assert_non_null(b->certs[0].tls);
    model_unref(b);
    model_unref(m);
    tls_cache_free(o.tls_cache);
    free(crt);
    free(key);
    store_deinit(&s);
}

/* Recerts <*m> for Secret shop/<secret>: the result must be what a build
 * makes, certificates included, and replaces <*m>. */
static void recert(struct store *s, const struct model_opts *o, struct model **m,
                   const struct model_lookups *l, const char *secret)
{
    uint64_t h = k8s_lookup_hash(K8S_SECRET, "shop", secret);
    struct model *p = model_recert(*m, s, o, l, &h, 1), *b;

    assert_non_null(p);
    assert_ptr_not_equal(p, *m);
    b = build(s, o);
    assert_same_routes(p, b);
    assert_int_equal(p->n_certs, b->n_certs);
    for (size_t i = 0; i < p->n_certs; i++) {
        assert_ptr_equal(p->certs[i].tls, b->certs[i].tls);
        assert_int_equal(p->certs[i].pem_len, b->certs[i].pem_len);
        assert_int_equal(p->certs[i].secret, b->certs[i].secret);
    }
    model_unref(b);
    model_unref(*m);
    *m = p;
}

/* A rotated TLS Secret gives the running model its new certificate, as a
 * build would, through a chain with endpoint patches; the model that had
 * the old one keeps it. What else a Secret makes, or a certificate naming
 * other hosts, is a build. */
static void test_recert_is_a_build(void **state)
{
    struct store s;
    struct model_opts o = opts();
    struct model *m, *was, *p;
    struct model_lookups l;
    char *crt[4], *key[4], *pem;
    uint64_t h, web = k8s_lookup_hash(K8S_SERVICE, "shop", "web");

    (void)state;
    o.tls_cache = tls_cache_new();
    base_store(&s);
    make_cert("secure.com", &crt[0], &key[0]);
    make_cert("secure.com", &crt[1], &key[1]);
    make_cert("other.com", &crt[2], &key[2]);
    make_cert("users.com", &crt[3], &key[3]);
    put_tls_secret(&s, "shop", "one-tls", crt[0], key[0]);
    put_tls_secret(&s, "shop", "two-tls", crt[2], key[2]);
    put_tls_ingress(&s, "s1", T_OLD, "portico", "", "secure.com", "one-tls");
    put_tls_ingress(&s, "s2", T_OLD, "portico", "", "other.com", "two-tls");
    /* a Secret both a certificate and server-crt's client certificate */
    put_tls_secret(&s, "shop", "both-tls", crt[3], key[3]);
    put_tls_ingress(&s, "s3", T_OLD, "portico", "'haproxy.org/server-crt':'both-tls'", "users.com",
                    "both-tls");
    m = build(&s, &o);
    assert_int_equal(m->n_certs, 3);
    assert_int_equal(m->n_issues, 0);
    memset(&l, 0, sizeof(l));
    model_lookups_add(&l, &m->lookups);
    was = model_ref(m);
    pem = xstrdup(cert_pem(model_find_cert(m, "shop_one-tls.pem")));

    put_tls_secret(&s, "shop", "one-tls", crt[1], key[1]);
    recert(&s, &o, &m, &l, "one-tls");
    assert_string_not_equal(cert_pem(model_find_cert(m, "shop_one-tls.pem")), pem);
    assert_string_equal(cert_pem(model_find_cert(was, "shop_one-tls.pem")), pem);
    /* the same data again: nothing to change */
    h = k8s_lookup_hash(K8S_SECRET, "shop", "one-tls");
    p = model_recert(m, &s, &o, &l, &h, 1);
    assert_ptr_equal(p, m);
    model_unref(p);
    /* through a patch, back to the first key: the patch holds what it took */
    put_service(&s, "shop", "web", "http", 80, 8080, "10.0.0.9");
    p = model_patch(m, &s, &web, 1);
    assert_non_null(p);
    model_unref(m);
    m = p;
    put_tls_secret(&s, "shop", "one-tls", crt[0], key[0]);
    recert(&s, &o, &m, &l, "one-tls");
    assert_string_equal(cert_pem(model_find_cert(m, "shop_one-tls.pem")), pem);
    assert_int_equal(m->n_held, 1); /* not the one it replaced */
    model_unref(was);

    /* other hosts in the certificate, none, or unusable: a build */
    put_tls_secret(&s, "shop", "one-tls", crt[2], key[2]);
    assert_null(model_recert(m, &s, &o, &l, &h, 1));
    put_tls_secret(&s, "shop", "one-tls", crt[0], key[2]);
    assert_null(model_recert(m, &s, &o, &l, &h, 1));
    assert_true(store_del(&s, K8S_SECRET, "shop", "one-tls"));
    assert_null(model_recert(m, &s, &o, &l, &h, 1));
    /* a Secret read for more than a certificate */
    h = k8s_lookup_hash(K8S_SECRET, "shop", "both-tls");
    assert_true(model_reads_data(&l, h));
    put_tls_secret(&s, "shop", "both-tls", crt[1], key[1]);
    assert_null(model_recert(m, &s, &o, &l, &h, 1));
    /* one no certificate was made from */
    h = k8s_lookup_hash(K8S_SECRET, "shop", "none-tls");
    assert_null(model_recert(m, &s, &o, &l, &h, 1));
    model_unref(m);
    model_lookups_free(&l);

    /* the default certificate's Secret: a build */
    o.default_ssl_cert = "shop/two-tls";
    m = build(&s, &o);
    assert_int_equal(m->default_cert.secret, k8s_lookup_hash(K8S_SECRET, "shop", "two-tls"));
    h = m->default_cert.secret;
    put_tls_secret(&s, "shop", "two-tls", crt[2], key[2]);
    assert_null(model_recert(m, &s, &o, &m->lookups, &h, 1));
    model_unref(m);

    tls_cache_free(o.tls_cache);
    free(pem);
    for (int i = 0; i < 4; i++) {
        free(crt[i]);
        free(key[i]);
    }
    store_deinit(&s);
}

static void test_server_name_as_inet_ntop(void **state)
{
    static const uint16_t ports[] = {0, 1, 9, 10, 80, 8080, 65535};
    struct model_server sv;
    char got[MODEL_SERVER_NAME_MAX], want[MODEL_SERVER_NAME_MAX], a[INET6_ADDRSTRLEN];

    (void)state;
    for (unsigned v = 0; v < 256; v++) {
        memset(&sv, 0, sizeof(sv));
        sv.addr[0] = (uint8_t)v;
        sv.addr[1] = (uint8_t)(255 - v);
        sv.addr[2] = (uint8_t)(v / 10);
        sv.addr[3] = (uint8_t)(v * 7);
        sv.port = ports[v % 7];
        inet_ntop(AF_INET, sv.addr, a, sizeof(a));
        assert_string_equal(model_server_addr(&sv, got, sizeof(got)), a);
        snprintf(want, sizeof(want), "%s:%u", a, sv.port);
        assert_string_equal(model_server_name(&sv, got, sizeof(got)), want);
    }
    memset(&sv, 0, sizeof(sv));
    sv.v6 = true;
    sv.addr[0] = 0xfd;
    sv.addr[15] = 7;
    sv.port = 65535;
    assert_string_equal(model_server_name(&sv, got, sizeof(got)), "fd00::7:65535");
    /* a buffer too small for the port: cut as snprintf() cuts */
    memset(&sv, 0, sizeof(sv));
    memcpy(sv.addr, "\xff\xff\xff\xff", 4);
    sv.port = 65535;
    assert_string_equal(model_server_name(&sv, got, 20), "255.255.255.255:655");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_replace_by_name),
        cmocka_unit_test(test_issue_origin),
        cmocka_unit_test(test_class_selection),
        cmocka_unit_test(test_default_class_value_must_be_true),
        cmocka_unit_test(test_class_change),
        cmocka_unit_test(test_map_entries),
        cmocka_unit_test(test_wildcard_hosts),
        cmocka_unit_test(test_merge_across_ingresses),
        cmocka_unit_test(test_oldest_wins),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_same_age_name_order),
        cmocka_unit_test(test_exact_and_prefix_same_path),
        cmocka_unit_test(test_declared_twice_in_one_ingress),
        cmocka_unit_test(test_other_conflicts),
        cmocka_unit_test(test_longest_path_wins_prefix_vs_impl),
        cmocka_unit_test(test_longest_path_wins_empty_impl_vs_root_prefix),
        cmocka_unit_test(test_invalid_host_rejects_ingress),
        cmocka_unit_test(test_invalid_path_rejects_ingress),
        cmocka_unit_test(test_invalid_backend_and_tls_reject_ingress),
        cmocka_unit_test(test_pack_servers),
        cmocka_unit_test(test_servers_from_ready_endpoints),
        cmocka_unit_test(test_unnamed_port),
        cmocka_unit_test(test_missing_service_and_port),
        cmocka_unit_test(test_resource_backend),
        cmocka_unit_test(test_default_backend_catchall),
        cmocka_unit_test(test_leaving_objects_lose_conflicts),
        cmocka_unit_test(test_default_backend_with_rules),
        cmocka_unit_test(test_default_backend_flag),
        cmocka_unit_test(test_configmap_globals),
        cmocka_unit_test(test_annotation_issue_on_ingress),
        cmocka_unit_test(test_default_cert_fallback),
        cmocka_unit_test(test_tls_secret),
        cmocka_unit_test(test_tls_pem_outlives_the_cache_entry),
        cmocka_unit_test(test_secret_data_dropped_and_wanted),
        cmocka_unit_test(test_secrets_parsed_before_build),
        cmocka_unit_test(test_tls_redirect_annotations),
        cmocka_unit_test(test_basic_auth_users),
        cmocka_unit_test(test_tls_without_hosts),
        cmocka_unit_test(test_tls_key_mismatch),
        cmocka_unit_test(test_tls_wrong_type_and_garbage),
        cmocka_unit_test(test_default_ssl_certificate_flag),
        cmocka_unit_test(test_patch_is_a_build),
        cmocka_unit_test(test_entries_shared),
        cmocka_unit_test(test_passthrough_tables),
        cmocka_unit_test(test_reroute_is_a_build),
        cmocka_unit_test(test_reroute_keeps_certificates),
        cmocka_unit_test(test_recert_is_a_build),
        cmocka_unit_test(test_reroute_large_build),
        cmocka_unit_test(test_reroute_into_spare),
        cmocka_unit_test(test_reroute_certificates),
        cmocka_unit_test(test_server_name_as_inet_ntop),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_deterministic),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
