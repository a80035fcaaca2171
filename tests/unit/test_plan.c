/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime API updates or a reload: src/haproxy/plan.h, on models built from
 * objects and rendered as the controller renders them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "haproxy/plan.h"
#include "haproxy/render.h"
#include "model/model.h"
#include "model/tls.h"
#include "store/store.h"
#include "modelutil.h"

#define T_OLD "2024-01-01T00:00:00Z"
#define T_NEW "2025-01-01T00:00:00Z"

static char *fallback_pem;

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

/* One generation: the objects in <s> built and rendered as the controller
 * does (maps and certificates made from the model when needed). */
struct gen {
    struct plan_gen g;
    struct rendered r;
};

/* Like gen_make(), with <spares> spare backends and backend <in_spare>, if
 * not NULL, put in the first. */
static void gen_make_spares(struct gen *out, struct store *s, unsigned spares,
                            const char *in_spare);

static void gen_make(struct gen *out, struct store *s)
{
    gen_make_spares(out, s, 0, NULL);
}

/* The certificate cache of gen_make()'s builds, or NULL: one each. */
static struct tls_cache *gen_cache;

/* The model options of gen_make(). */
static struct model_opts gen_opts(void)
{
    struct model_opts mo;

    memset(&mo, 0, sizeof(mo));
    mo.tls_cache = gen_cache;
    mo.ingress_class = "portico";
    mo.controller_name = CONTROLLER;
    mo.fallback_cert_pem = fallback_pem;
    mo.configmap = "kube-system/portico";
    return mo;
}

static void gen_make_spares(struct gen *out, struct store *s, unsigned spares,
                            const char *in_spare)
{
    struct model_opts mo = gen_opts();
    struct render_opts ro;
    struct model *m;
    char *err = NULL;

    memset(&ro, 0, sizeof(ro));
    ro.runtime_dir = "/run/portico";
    ro.ipv4_addr = "0.0.0.0";
    ro.http_port = 80;
    ro.https_port = 443;
    ro.stats_port = 1024;
    ro.healthz_port = 1042;
    ro.from_model = true;
    mo.spare_backends = spares;
    memset(out, 0, sizeof(*out));
    m = model_build(s, &mo);
    if (in_spare)
        assert_int_equal(model_run_in_spare(m, in_spare, MODEL_SPARE_PREFIX "1"), 0);
    assert_int_equal(render(m, &ro, &out->r, &err), 0);
    plan_gen_set(&out->g, m, &out->r);
    model_unref(m);
}

static void gen_free(struct gen *g)
{
    rendered_free(&g->r);
    plan_gen_free(&g->g);
}

static void base_store(struct store *s, const char *endpoints)
{
    store_init(s);
    put_class(s, "portico", CONTROLLER, false);
    put_service(s, "shop", "web", "http", 80, 8080, endpoints);
    put_ingress(s, "shop", "web", T_OLD, "portico", "",
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
}

/* The plan from the objects of <a> to those of <b>, with HAProxy serving. */
static void plan_between(struct store *a, struct store *b, struct gen *ga, struct gen *gb,
                         struct plan *p)
{
    gen_make(ga, a);
    gen_make(gb, b);
    plan_make(&ga->g, &gb->g, true, &gb->r, p);
}

static void done(struct store *a, struct store *b, struct gen *ga, struct gen *gb, struct plan *p)
{
    plan_free(p);
    gen_free(ga);
    gen_free(gb);
    store_deinit(a);
    store_deinit(b);
}

/* <q> has the updates of <p>, in the same order, and no reload. */
static void assert_same_updates(const struct plan *q, const struct plan *p)
{
    assert_null(q->reload);
    assert_int_equal(q->n, p->n);
    for (size_t i = 0; i < p->n; i++) {
        assert_int_equal(q->u[i].kind, p->u[i].kind);
        assert_string_equal(q->u[i].name, p->u[i].name);
        assert_int_equal(!q->u[i].content, !p->u[i].content);
        if (p->u[i].content)
            assert_string_equal(q->u[i].content, p->u[i].content);
        assert_int_equal(!q->u[i].line, !p->u[i].line);
        if (p->u[i].line)
            assert_string_equal(q->u[i].line, p->u[i].line);
    }
}

/* Endpoints replaced: servers added first, then removed, no reload. */
static void test_endpoints_change_servers(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;

    (void)state;
    base_store(&a, "10.0.0.1,10.0.0.2");
    base_store(&b, "10.0.0.2,10.0.0.3");
    plan_between(&a, &b, &ga, &gb, &p);
    assert_null(p.reload);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.u[0].kind, RT_SERVER_ADD);
    assert_string_equal(p.u[0].name, "shop_web_http/10.0.0.3:8080");
    assert_string_equal(p.u[0].content, "10.0.0.3:8080 pool-purge-delay 5s pool-max-conn -1");
    assert_int_equal(p.u[1].kind, RT_SERVER_DEL);
    assert_string_equal(p.u[1].name, "shop_web_http/10.0.0.1:8080");
    done(&a, &b, &ga, &gb, &p);
}

/* The same change as a patch of the running model: the same updates as the
 * plan from a build, a plan_gen the rendering of the patch completes into the
 * build's, and a cookie-persistence-no-dynamic backend reloads. */
static void test_patch_plans_as_a_build(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p, q;
    struct plan_gen pg;
    struct model *m;
    uint64_t web = k8s_lookup_hash(K8S_SERVICE, "shop", "web");

    (void)state;
    base_store(&a, "10.0.0.1,10.0.0.2");
    base_store(&b, "10.0.0.2,10.0.0.3");
    plan_between(&a, &b, &ga, &gb, &p);
    m = model_patch(ga.g.model, &b, &web, 1);
    assert_non_null(m);
    memset(&pg, 0, sizeof(pg));
    plan_gen_patched(&pg, &ga.g, m);
    model_unref(m);
    plan_make_servers(&ga.g, &pg, &q);
    assert_same_updates(&q, &p);
    /* rendered, the patch is the build */
    assert_int_equal(pg.structure, gb.g.structure);
    plan_free(&q);
    plan_gen_free(&pg);
    done(&a, &b, &ga, &gb, &p);

    /* static cookies: a reload, as from a build */
    store_init(&a);
    put_class(&a, "portico", CONTROLLER, false);
    put_service(&a, "shop", "web", "http", 80, 8080, "10.0.0.1");
    put_ingress(&a, "shop", "web", T_OLD, "portico",
                "'portico.dev/cookie-persistence-no-dynamic':'SRV'",
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    gen_make(&ga, &a);
    put_service(&a, "shop", "web", "http", 80, 8080, "10.0.0.1,10.0.0.2");
    m = model_patch(ga.g.model, &a, &web, 1);
    assert_non_null(m);
    memset(&pg, 0, sizeof(pg));
    plan_gen_patched(&pg, &ga.g, m);
    model_unref(m);
    plan_make_servers(&ga.g, &pg, &q);
    assert_non_null(q.reload);
    assert_int_equal(q.why, PLAN_WHY_STATIC_COOKIES);
    plan_free(&q);
    plan_gen_free(&pg);
    gen_free(&ga);
    store_deinit(&a);
}

/* The objects of the reroute tests: Prefix, Exact and Prefix-exact paths
 * in use, two Ingresses on one backend, a certificate for two hosts. */
static void reroute_store(struct store *s)
{
    char *crt, *key;

    base_store(s, "10.0.0.1");
    put_ingress(s, "shop", "keep", T_OLD, "portico", "",
                "'rules':[" RULE("keep.com", PATH("/e", "Exact", BE_NUM("web", 80)) ","
                                             PATH("/p", "Prefix", BE_NUM("web", 80))) "]");
    make_cert("t1.com", &crt, &key);
    put_tls_secret(s, "shop", "tls", crt, key);
    put_ingress(s, "shop", "t1", T_OLD, "portico", "",
                "'tls':[{'hosts':['t1.com'],'secretName':'tls'}],"
                "'rules':[" RULE("t1.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    free(crt);
    free(key);
    store_track(s, K8S_INGRESS);
}

/* A reroute plans the updates a build plans, in the same order: one entry
 * a map, a new version of a map, a host removed before its paths, a host
 * name added to a certificate's crt-list line. */
static void test_reroute_plans_as_a_build(void **state)
{
    static const char *const changes[] = {
        "'rules':[" RULE("bar.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]",
        "'rules':[" RULE("bar.com", PATH("/", "Prefix", BE_NUM("web", 80)) ","
                                    PATH("/q", "Prefix", BE_NUM("web", 80))) "]",
        NULL, /* Ingress "web" deleted */
        "'tls':[{'hosts':['t2.com'],'secretName':'tls'}],"
        "'rules':[" RULE("t2.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]",
    };
    struct model_opts mo = gen_opts();

    (void)state;
    for (size_t c = 0; c < sizeof(changes) / sizeof(*changes); c++) {
        struct store s;
        struct gen ga, gb;
        struct plan p, q;
        struct plan_gen pg;
        struct store_change *v;
        struct model *m;
        size_t n;

        reroute_store(&s);
        gen_make(&ga, &s);
        assert_true(store_take_changes(&s, &v, &n));
        store_changes_free(v, n);
        if (changes[c])
            put_ingress(&s, "shop", "more", T_NEW, "portico", "", changes[c]);
        else
            assert_true(store_del(&s, K8S_INGRESS, "shop", "web"));
        gen_make(&gb, &s);
        plan_make(&ga.g, &gb.g, true, &gb.r, &p);
        assert_null(p.reload);
        assert_true(store_take_changes(&s, &v, &n));
        m = model_reroute(ga.g.model, &s, &mo, v, n, false);
        store_changes_free(v, n);
        assert_non_null(m);
        memset(&pg, 0, sizeof(pg));
        plan_gen_patched(&pg, &ga.g, m);
        model_unref(m);
        free(pg.crt_list);
        pg.crt_list = render_crt_list(pg.model);
        assert_string_equal(pg.crt_list, gb.g.crt_list);
        plan_make_routes(&ga.g, &pg, &q);
        assert_same_updates(&q, &p);
        assert_true(p.n > 0);
        if (c == 1)
            assert_int_equal(p.u[1].kind, RT_MAP);
        if (c == 2)
            assert_string_equal(p.u[0].name, "maps/hosts.map");
        if (c == 3)
            assert_int_equal(p.u[0].kind, RT_CERT_RELIST);
        plan_free(&p);
        plan_free(&q);
        plan_gen_free(&pg);
        gen_free(&ga);
        gen_free(&gb);
        store_deinit(&s);
    }
}

/* A rotated certificate, given to the running model (model_recert()), is
 * set as a build's plan sets it, and alone. */
static void test_recert_plans_as_a_build(void **state)
{
    struct store s;
    struct gen ga, gb;
    struct plan p, q;
    struct plan_gen pg;
    struct model_opts mo;
    struct model *m;
    char *crt[2], *key[2];
    uint64_t h = k8s_lookup_hash(K8S_SECRET, "shop", "tls");

    (void)state;
    gen_cache = tls_cache_new();
    mo = gen_opts();
    base_store(&s, "10.0.0.1");
    make_cert("tls.com", &crt[0], &key[0]);
    make_cert("tls.com", &crt[1], &key[1]);
    put_tls_secret(&s, "shop", "tls", crt[0], key[0]);
    put_ingress(&s, "shop", "tls", T_NEW, "portico", "",
                "'tls':[{'hosts':['tls.com'],'secretName':'tls'}],"
                "'rules':[" RULE("tls.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    gen_make(&ga, &s);
    put_tls_secret(&s, "shop", "tls", crt[1], key[1]);
    gen_make(&gb, &s);
    plan_make(&ga.g, &gb.g, true, &gb.r, &p);
    assert_null(p.reload);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.u[0].kind, RT_CERT);
    assert_string_equal(p.u[0].name, "certs/shop_tls.pem");
    m = model_recert(ga.g.model, &s, &mo, &ga.g.model->lookups, &h, 1);
    assert_non_null(m);
    memset(&pg, 0, sizeof(pg));
    plan_gen_patched(&pg, &ga.g, m);
    model_unref(m);
    plan_make_routes(&ga.g, &pg, &q);
    assert_same_updates(&q, &p);
    plan_free(&p);
    plan_free(&q);
    plan_gen_free(&pg);
    gen_free(&ga);
    gen_free(&gb);
    store_deinit(&s);
    tls_cache_free(gen_cache);
    gen_cache = NULL;
    for (int i = 0; i < 2; i++) {
        free(crt[i]);
        free(key[i]);
    }
}

/* A server added through the Runtime API gets exactly the words its line in
 * haproxy.cfg has after its name, IPv4 and IPv6 alike, and the connection
 * pool a server of the file has without a word: HAProxy 2.6's "add server"
 * applies no defaults, and a server without them reuses no connection. */
static void test_runtime_servers_match_configuration(void **state)
{
    static const char slice6[] =
        "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
        "'web-6','namespace':'shop','labels':{'kubernetes.io/service-name':'web'}},"
        "'addressType':'IPv6','ports':[{'name':'http','port':8080}],"
        "'endpoints':[{'addresses':['fd00::9']},{'addresses':['fd00::a']}]}";
    struct store a, b;
    struct gen ga, gb;
    struct plan p;
    const char *cfg;
    size_t v6 = 0;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.1,10.0.0.2,10.0.0.3");
    put(&b, slice6);
    plan_between(&a, &b, &ga, &gb, &p);
    assert_null(p.reload);
    assert_int_equal(p.n, 4);
    cfg = render_file_data(&gb.r.files[0], gb.g.model);
    for (size_t i = 0; i < p.n; i++) {
        static const char pool[] = " pool-purge-delay 5s pool-max-conn -1";
        const char *content = p.u[i].content;
        size_t len = strlen(content) - strlen(pool);
        char *line;

        assert_int_equal(p.u[i].kind, RT_SERVER_ADD);
        assert_string_equal(content + len, pool);
        line = xasprintf("    server %s %.*s\n", strchr(p.u[i].name, '/') + 1, (int)len, content);
        if (!strstr(cfg, line))
            fail_msg("\"%s\" not in haproxy.cfg:\n%s", line, cfg);
        v6 += strchr(content, '[') != NULL;
        free(line);
    }
    assert_int_equal(v6, 2);
    assert_string_equal(p.u[3].content, "[fd00::a]:8080 pool-purge-delay 5s pool-max-conn -1");
    done(&a, &b, &ga, &gb, &p);
}

/* A host and a path on an existing backend: the maps' changed entries only. */
static void test_route_on_existing_backend(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.1");
    put_ingress(&b, "shop", "more", T_NEW, "portico", "",
                "'rules':[" RULE("bar.com", PATH("/x", "Exact", BE_NUM("web", 80))) "]");
    plan_between(&a, &b, &ga, &gb, &p);
    assert_null(p.reload);
    assert_true(p.n >= 2);
    for (size_t i = 0; i < p.n; i++) {
        assert_int_equal(p.u[i].kind, RT_COMMANDS);
        assert_true(!strncmp(p.u[i].name, "maps/", 5));
        assert_non_null(strstr(p.u[i].content, "bar.com"));
    }
    done(&a, &b, &ga, &gb, &p);
}

/* A new host with two paths: hosts.map gains one entry (one command), the
 * paths' map two, so that map is replaced as a whole version: no request
 * sees one path of the host without the other. */
static void test_two_entries_replace_the_map(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.1");
    put_ingress(&b, "shop", "more", T_NEW, "portico", "",
                "'rules':[" RULE("bar.com", PATH("/x", "Exact", BE_NUM("web", 80)) ","
                                                PATH("/y", "Exact", BE_NUM("web", 80))) "]");
    plan_between(&a, &b, &ga, &gb, &p);
    assert_null(p.reload);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.u[0].kind, RT_MAP);
    assert_string_equal(p.u[0].name, "maps/exact.map");
    assert_string_equal(p.u[0].content, "bar.com/x shop_web_http\nbar.com/y shop_web_http\n");
    assert_int_equal(p.u[1].kind, RT_COMMANDS);
    assert_string_equal(p.u[1].name, "maps/hosts.map");
    assert_string_equal(p.u[1].content, "add map maps/hosts.map bar.com bar.com\n");
    done(&a, &b, &ga, &gb, &p);
}

/* A host added: its paths first, hosts.map last; removed: hosts.map first.
 * No request meets a host without its paths. */
static void test_hosts_map_order(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;

    (void)state;
    for (int removed = 0; removed < 2; removed++) {
        base_store(&a, "10.0.0.1");
        base_store(&b, "10.0.0.1");
        put_ingress(removed ? &a : &b, "shop", "more", T_NEW, "portico", "",
                    "'rules':[" RULE("bar.com", PATH("/x", "Exact", BE_NUM("web", 80))) "]");
        plan_between(&a, &b, &ga, &gb, &p);
        assert_null(p.reload);
        assert_int_equal(p.n, 2);
        assert_string_equal(p.u[removed ? 0 : 1].name, "maps/hosts.map");
        assert_string_equal(p.u[removed ? 1 : 0].name, "maps/exact.map");
        done(&a, &b, &ga, &gb, &p);
    }
}

/* A path moving between maps (Exact to Prefix and back): the map that gains
 * it first, the one that loses it after, so that it is always in one. */
static void test_path_moves_between_maps(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;

    (void)state;
    for (int back = 0; back < 2; back++) {
        base_store(&a, "10.0.0.1");
        base_store(&b, "10.0.0.1");
        put_ingress(back ? &b : &a, "shop", "more", T_NEW, "portico", "",
                    "'rules':[" RULE("bar.com", PATH("/x", "Exact", BE_NUM("web", 80))) "]");
        put_ingress(back ? &a : &b, "shop", "more", T_NEW, "portico", "",
                    "'rules':[" RULE("bar.com", PATH("/x", "Prefix", BE_NUM("web", 80))) "]");
        plan_between(&a, &b, &ga, &gb, &p);
        assert_null(p.reload);
        assert_int_equal(p.n, 3);
        assert_string_equal(p.u[0].name, back ? "maps/exact.map" : "maps/prefix-exact.map");
        assert_string_equal(p.u[1].name, back ? "maps/prefix-exact.map" : "maps/prefix.map");
        assert_string_equal(p.u[2].name, back ? "maps/prefix.map" : "maps/exact.map");
        assert_non_null(strstr(p.u[0].content, "add map"));
        assert_non_null(strstr(p.u[2].content, "del map"));
        done(&a, &b, &ga, &gb, &p);
    }
}

/* A backend taken from a spare gets its servers before its routes; given
 * back, it loses its routes before its servers: no request meets it empty. */
static void test_servers_around_routes(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.1");
    put_service(&b, "shop", "api", "grpc", 9000, 9000, "10.0.1.1");
    put_ingress(&b, "shop", "api", T_NEW, "portico", "",
                "'rules':[" RULE("api.com", PATH("/", "Prefix", BE_NUM("api", 9000))) "]");
    gen_make_spares(&ga, &a, 1, NULL);
    gen_make_spares(&gb, &b, 1, "shop_api_grpc");
    for (int back = 0; back < 2; back++) {
        size_t server = p.n, route = p.n;

        plan_make(back ? &gb.g : &ga.g, back ? &ga.g : &gb.g, true, back ? &ga.r : &gb.r, &p);
        assert_null(p.reload);
        for (size_t i = 0; i < p.n; i++) {
            if (p.u[i].kind == RT_SERVER_ADD || p.u[i].kind == RT_SERVER_DEL)
                server = i;
            else if (strstr(p.u[i].content, "_spare_1"))
                route = i;
        }
        assert_true(server < p.n && route < p.n);
        assert_int_equal(p.u[server].kind, back ? RT_SERVER_DEL : RT_SERVER_ADD);
        assert_true(back ? route < server : server < route);
        plan_free(&p);
    }
    gen_free(&ga);
    gen_free(&gb);
    store_deinit(&a);
    store_deinit(&b);
}

/* A backend added or removed changes the configuration: a reload, naming it. */
static void test_backend_added_or_removed_reloads(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.1");
    put_service(&b, "shop", "api", "grpc", 9000, 9000, "10.0.1.1");
    put_ingress(&b, "shop", "api", T_NEW, "portico", "",
                "'rules':[" RULE("api.com", PATH("/", "Prefix", BE_NUM("api", 9000))) "]");
    plan_between(&a, &b, &ga, &gb, &p);
    assert_string_equal(p.reload, "backend shop_api_grpc added");
    assert_int_equal(p.n, 0);
    plan_free(&p);
    plan_make(&gb.g, &ga.g, true, &ga.r, &p);
    assert_string_equal(p.reload, "backend shop_api_grpc removed");
    done(&a, &b, &ga, &gb, &p);
}

/* A new backend put in a spare: its routes and servers through the Runtime
 * API, no reload; the reload that follows names it. */
static void test_backend_in_spare(void **state)
{
    struct store a, b;
    struct gen ga, gb, gc;
    struct plan p;
    bool server = false;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.1");
    put_service(&b, "shop", "api", "grpc", 9000, 9000, "10.0.1.1");
    put_ingress(&b, "shop", "api", T_NEW, "portico", "",
                "'rules':[" RULE("api.com", PATH("/", "Prefix", BE_NUM("api", 9000))) "]");
    gen_make_spares(&ga, &a, 2, NULL);
    gen_make_spares(&gb, &b, 2, "shop_api_grpc");
    plan_make(&ga.g, &gb.g, true, &gb.r, &p);
    assert_null(p.reload);
    for (size_t i = 0; i < p.n; i++) {
        if (p.u[i].kind == RT_SERVER_ADD) {
            assert_string_equal(p.u[i].name, "_spare_1/10.0.1.1:9000");
            server = true;
        } else {
            assert_null(strstr(p.u[i].content, "shop_api_grpc"));
        }
    }
    assert_true(server);
    assert_non_null(model_find_backend(gb.g.model, "_spare_1"));
    assert_string_equal(model_find_backend(gb.g.model, "_spare_1")->origin, "shop_api_grpc");
    assert_null(model_find_backend(gb.g.model, "shop_api_grpc"));
    plan_free(&p);
    /* every backend under its own name again: a reload, which says why */
    gen_make_spares(&gc, &b, 2, NULL);
    plan_make(&gb.g, &gc.g, true, &gc.r, &p);
    assert_string_equal(p.reload, "backend shop_api_grpc out of spare _spare_1");
    gen_free(&gc);
    done(&a, &b, &ga, &gb, &p);
}

/* Only a backend with a spare's settings goes in one, and only in a free one. */
static void test_run_in_spare_refusals(void **state)
{
    struct model_opts mo;
    struct store s;
    struct model *m;

    (void)state;
    base_store(&s, "10.0.0.1");
    put_service(&s, "shop", "api", "grpc", 9000, 9000, "10.0.1.1");
    put_ingress(&s, "shop", "api", T_NEW, "portico",
                "'haproxy.org/load-balance':'leastconn'",
                "'rules':[" RULE("api.com", PATH("/", "Prefix", BE_NUM("api", 9000))) "]");
    memset(&mo, 0, sizeof(mo));
    mo.ingress_class = "portico";
    mo.controller_name = CONTROLLER;
    mo.fallback_cert_pem = fallback_pem;
    mo.spare_backends = 1;
    m = model_build(&s, &mo);
    assert_int_equal(m->n_backends, 3);
    for (size_t i = 0; i < m->n_backends; i++) {
        if (strncmp(m->backends[i]->name, "shop_api_grpc_", 14) == 0)
            assert_int_equal(model_run_in_spare(m, m->backends[i]->name, "_spare_1"), -EINVAL);
    }
    assert_int_equal(model_run_in_spare(m, "shop_web_http", "_spare_2"), -ENOENT);
    assert_int_equal(model_run_in_spare(m, "shop_nothing_80", "_spare_1"), -ENOENT);
    assert_int_equal(model_run_in_spare(m, "shop_web_http", "_spare_1"), 0);
    assert_int_equal(m->n_backends, 2);
    assert_int_equal(model_run_in_spare(m, "_spare_1", "_spare_1"), -ENOENT);
    assert_string_equal(m->maps[MODEL_MAP_PREFIX][m->n_maps[MODEL_MAP_PREFIX] - 1].value,
                        "_spare_1");
    model_unref(m);
    store_deinit(&s);
}

/* A canary's backend in a spare: the route's value names the spare. */
static void test_canary_in_spare(void **state)
{
    struct model_opts mo;
    struct store s;
    struct model *m;
    const struct model_entry *e;

    (void)state;
    base_store(&s, "10.0.0.1");
    put_service(&s, "shop", "api", "grpc", 9000, 9000, "10.0.1.1");
    put_ingress(&s, "shop", "api", T_NEW, "portico",
                "'nginx.ingress.kubernetes.io/canary':'true',"
                "'nginx.ingress.kubernetes.io/canary-weight':'30'",
                "'rules':[" RULE("foo.com", PATH("/", "Prefix", BE_NUM("api", 9000))) "]");
    memset(&mo, 0, sizeof(mo));
    mo.ingress_class = "portico";
    mo.controller_name = CONTROLLER;
    mo.fallback_cert_pem = fallback_pem;
    mo.spare_backends = 1;
    m = model_build(&s, &mo);
    assert_int_equal(m->n_maps[MODEL_MAP_PREFIX], 1);
    e = &m->maps[MODEL_MAP_PREFIX][0];
    assert_true(!strncmp(e->value, "shop_web_http:shop_api_grpc:30:100:", 35));
    assert_int_equal(model_run_in_spare(m, "shop_api_grpc", "_spare_1"), 0);
    assert_true(!strncmp(e->value, "shop_web_http:_spare_1:30:100:", 30));
    model_unref(m);
    store_deinit(&s);
}

/* Several backends added and removed at once: one reload, naming the first
 * PLAN_REASONS_SHOWN of them and how many more, each counted by kind. */
static void test_reload_names_every_reason(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.1");
    put_service(&a, "shop", "old", "http", 80, 8080, "10.0.2.1");
    put_ingress(&a, "shop", "old", T_OLD, "portico", "",
                "'rules':[" RULE("old.com", PATH("/", "Prefix", BE_NUM("old", 80))) "]");
    for (int i = 0; i < 5; i++) {
        char name[16], *spec;

        snprintf(name, sizeof(name), "new%d", i);
        put_service(&b, "shop", name, "http", 80, 8080, "10.0.1.1");
        spec = xasprintf("'rules':[{'host':'new%d.com','http':{'paths':[" PATH(
                             "/", "Prefix", BE_NAME("new%d", "http")) "]}}]",
                         i, i);
        put_ingress(&b, "shop", name, T_NEW, "portico", "", spec);
        free(spec);
    }
    plan_between(&a, &b, &ga, &gb, &p);
    assert_string_equal(p.reload, "backend shop_new0_http added, backend shop_new1_http added, "
                                  "backend shop_new2_http added and 3 more");
    assert_int_equal(p.why, PLAN_WHY_BACKENDS);
    assert_int_equal(p.n_why[PLAN_WHY_BACKENDS], 6);
    assert_int_equal(p.n_why[PLAN_WHY_SETTINGS], 0);
    assert_int_equal(p.n, 0);
    plan_free(&p);
    /* two: both named, nothing more */
    gen_free(&gb);
    store_deinit(&b);
    base_store(&b, "10.0.0.1");
    put_service(&b, "shop", "new0", "http", 80, 8080, "10.0.1.1");
    put_ingress(&b, "shop", "new0", T_NEW, "portico", "",
                "'rules':[" RULE("new0.com", PATH("/", "Prefix", BE_NAME("new0", "http"))) "]");
    gen_make(&gb, &b);
    plan_make(&ga.g, &gb.g, true, &gb.r, &p);
    assert_string_equal(p.reload, "backend shop_new0_http added, backend shop_old_http removed");
    assert_int_equal(p.n_why[PLAN_WHY_BACKENDS], 2);
    done(&a, &b, &ga, &gb, &p);
}

static void test_global_settings_reload(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.1");
    put(&b, "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'portico','namespace':"
            "'kube-system'},'data':{'maxconn':'1000'}}");
    plan_between(&a, &b, &ga, &gb, &p);
    assert_string_equal(p.reload, "global, defaults, frontend or backend settings changed");
    assert_int_equal(p.n_why[PLAN_WHY_SETTINGS], 1);
    done(&a, &b, &ga, &gb, &p);
}

/* Nothing runs, or nothing serves: only a start or reload can help. */
static void test_not_serving_reloads(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan_gen none = {0};
    struct plan p;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.2");
    plan_between(&a, &b, &ga, &gb, &p);
    assert_null(p.reload);
    plan_free(&p);
    plan_make(&ga.g, &gb.g, false, &gb.r, &p);
    assert_string_equal(p.reload, "haproxy does not serve a configuration");
    plan_free(&p);
    plan_make(&none, &gb.g, true, &gb.r, &p);
    assert_string_equal(p.reload, "haproxy does not serve a configuration");
    done(&a, &b, &ga, &gb, &p);
}

/* A new TLS host: its certificate is loaded and listed before the maps
 * make the host reachable. */
static void test_certificate_added_before_maps(void **state)
{
    struct store a, b;
    struct gen ga, gb;
    struct plan p;
    char *crt, *key;
    size_t cert = SIZE_MAX, first_map = SIZE_MAX;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.1");
    make_cert("tls.com", &crt, &key);
    put_tls_secret(&b, "shop", "tls", crt, key);
    put_ingress(&b, "shop", "tls", T_NEW, "portico", "",
                "'tls':[{'hosts':['tls.com'],'secretName':'tls'}],"
                "'rules':[" RULE("tls.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    plan_between(&a, &b, &ga, &gb, &p);
    assert_null(p.reload);
    for (size_t i = 0; i < p.n; i++) {
        if (p.u[i].kind == RT_CERT_ADD && cert == SIZE_MAX)
            cert = i;
        if ((p.u[i].kind == RT_COMMANDS || p.u[i].kind == RT_MAP) && first_map == SIZE_MAX)
            first_map = i;
    }
    assert_int_equal(cert, 0);
    assert_string_equal(p.u[0].name, "certs/shop_tls.pem");
    assert_string_equal(p.u[0].line, "certs/shop_tls.pem tls.com");
    assert_non_null(strstr(p.u[0].content, "-----BEGIN CERTIFICATE-----"));
    assert_true(first_map != SIZE_MAX && first_map > cert);
    /* and removed again: its crt-list line goes last */
    plan_free(&p);
    plan_make(&gb.g, &ga.g, true, &ga.r, &p);
    assert_null(p.reload);
    assert_int_equal(p.u[p.n - 1].kind, RT_CERT_DEL);
    assert_string_equal(p.u[p.n - 1].name, "certs/shop_tls.pem");
    done(&a, &b, &ga, &gb, &p);
    free(crt);
    free(key);
}

/* plan_gen_set() hashes what the Runtime API cannot change into the
 * structure: servers and map contents are not in it, backends are. */
static void test_structure_hash(void **state)
{
    struct store a, b, c;
    struct gen ga, gb, gc;

    (void)state;
    base_store(&a, "10.0.0.1");
    base_store(&b, "10.0.0.9,10.0.0.8");
    put_ingress(&b, "shop", "more", T_NEW, "portico", "",
                "'rules':[" RULE("bar.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    base_store(&c, "10.0.0.1");
    put_service(&c, "shop", "api", "grpc", 9000, 9000, "10.0.1.1");
    gen_make(&ga, &a);
    gen_make(&gb, &b);
    gen_make(&gc, &c);
    assert_int_equal(ga.g.structure, gb.g.structure);
    assert_int_not_equal(ga.g.hash, gb.g.hash);
    /* a Service without an Ingress makes no backend: same structure */
    assert_int_equal(ga.g.structure, gc.g.structure);
    assert_true(ga.g.n > 0);
    for (size_t i = 0; i < ga.g.n; i++)
        assert_true(plan_is_part(ga.g.names[i]));
    assert_non_null(ga.g.crt_list);
    gen_free(&ga);
    gen_free(&gb);
    gen_free(&gc);
    store_deinit(&a);
    store_deinit(&b);
    store_deinit(&c);
}

/* --min-reload-interval: a reload waits for what is left of the interval
 * since the last one; none waits without an earlier reload, with no
 * interval, or to load a first configuration. */
static void test_reload_wait(void **state)
{
    (void)state;
    assert_int_equal(plan_reload_wait(PLAN_WHY_BACKENDS, 10000, 0, 2000), 0);
    assert_int_equal(plan_reload_wait(PLAN_WHY_BACKENDS, 10000, 9000, 2000), 1000);
    assert_int_equal(plan_reload_wait(PLAN_WHY_SETTINGS, 10000, 10000, 2000), 2000);
    assert_int_equal(plan_reload_wait(PLAN_WHY_BACKENDS, 11000, 9000, 2000), 0);
    assert_int_equal(plan_reload_wait(PLAN_WHY_BACKENDS, 15000, 9000, 2000), 0);
    assert_int_equal(plan_reload_wait(PLAN_WHY_RUNTIME_FAILED, 9500, 9000, 2000), 1500);
    assert_int_equal(plan_reload_wait(PLAN_WHY_START, 9500, 9000, 2000), 0);
    assert_int_equal(plan_reload_wait(PLAN_WHY_BACKENDS, 9500, 9000, 0), 0);
    assert_int_equal(plan_reload_wait(PLAN_WHY_BACKENDS, 8000, 9000, 2000), 2000);
}

static void test_is_part(void **state)
{
    (void)state;
    assert_true(plan_is_part("maps/hosts.map"));
    assert_true(plan_is_part("certs/default.pem"));
    assert_true(plan_is_part("certs/shop_tls.pem"));
    assert_false(plan_is_part("haproxy.cfg"));
    assert_false(plan_is_part("crt-list.txt"));
    assert_false(plan_is_part("maps/x.mapx"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints_change_servers),
        cmocka_unit_test(test_patch_plans_as_a_build),
        cmocka_unit_test(test_reroute_plans_as_a_build),
        cmocka_unit_test(test_recert_plans_as_a_build),
        cmocka_unit_test(test_runtime_servers_match_configuration),
        cmocka_unit_test(test_route_on_existing_backend),
        cmocka_unit_test(test_hosts_map_order),
        cmocka_unit_test(test_path_moves_between_maps),
        cmocka_unit_test(test_servers_around_routes),
        cmocka_unit_test(test_two_entries_replace_the_map),
        cmocka_unit_test(test_backend_added_or_removed_reloads),
        cmocka_unit_test(test_backend_in_spare),
        cmocka_unit_test(test_run_in_spare_refusals),
        cmocka_unit_test(test_canary_in_spare),
        cmocka_unit_test(test_reload_names_every_reason),
        cmocka_unit_test(test_global_settings_reload),
        cmocka_unit_test(test_not_serving_reloads),
        cmocka_unit_test(test_certificate_added_before_maps),
        cmocka_unit_test(test_structure_hash),
        cmocka_unit_test(test_reload_wait),
        cmocka_unit_test(test_is_part),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
