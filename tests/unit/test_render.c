/* SPDX-License-Identifier: Apache-2.0 */
/* Model -> HAProxy files: src/haproxy/render.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "haproxy/render.h"
#include "model/model.h"
#include "model/tls.h"
#include "store/objects.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/strutil.h"
#include "modelutil.h"

#define T_OLD "2024-01-01T00:00:00Z"

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

static struct model_opts mopts(void)
{
    struct model_opts o;

    memset(&o, 0, sizeof(o));
    o.ingress_class = "portico";
    o.controller_name = CONTROLLER;
    o.fallback_cert_pem = fallback_pem;
    return o;
}

static struct render_opts ropts(void)
{
    struct render_opts o;

    memset(&o, 0, sizeof(o));
    o.runtime_dir = "/run/portico";
    o.ipv4_addr = "0.0.0.0";
    o.http_port = 80;
    o.https_port = 443;
    o.stats_port = 1936;
    o.healthz_port = 1042;
    return o;
}

static struct render_file *file(const struct rendered *r, const char *name)
{
    for (size_t i = 0; i < r->n_files; i++) {
        if (!strcmp(r->files[i].name, name))
            return &r->files[i];
    }
    fail_msg("no file %s", name);
    return NULL;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!hay)
        fail_msg("no text to look for \"%s\" in", needle);
    else if (!strstr(hay, needle))
        fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

/* A store with one Ingress: hosts foo.com (+ TLS) and *.wild.com. */
static void sample_store(struct store *s, const char *endpoints, char **crt, char **key)
{
    store_init(s);
    put_class(s, "portico", CONTROLLER, false);
    put_service(s, "shop", "web", "http", 80, 8080, endpoints);
    put_service(s, "shop", "api", "grpc", 9000, 9000, "10.0.1.1");
    make_cert("foo.com", crt, key);
    put_tls_secret(s, "shop", "foo-tls", *crt, *key);
    put_ingress(s, "shop", "web", T_OLD, "portico", "",
                "'tls':[{'hosts':['foo.com'],'secretName':'foo-tls'}],"
                "'rules':[" RULE("foo.com", PATH("/b", "Exact", BE_NUM("web", 80)) ","
                                            PATH("/a", "Exact", BE_NUM("web", 80)) ","
                                            PATH("/api", "Prefix", BE_NUM("api", 9000)) ","
                                            PATH("/", "Prefix", BE_NUM("web", 80))) ","
                RULE("*.wild.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
}

static void test_render_files(void **state)
{
    struct store s;
    struct model_opts mo = mopts();
    struct render_opts ro = ropts();
    struct model *m;
    struct rendered r;
    char *err = NULL, *crt, *key;
    const char *cfg;
    static const char *const names[] = {
        "haproxy.cfg",          "maps/hosts.map",        "maps/wildcards.map",
        "maps/exact.map",       "maps/prefix-exact.map", "maps/prefix.map",
        "maps/host-default.map", "maps/redirect.map",    "maps/passthrough.map",
        "certs/default.pem",
        "certs/shop_foo-tls.pem", "crt-list.txt",
    };

    (void)state;
    sample_store(&s, "10.0.0.2,10.0.0.1", &crt, &key);
    m = model_build(&s, &mo);
    assert_int_equal(m->n_issues, 0);
    assert_int_equal(render(m, &ro, &r, &err), 0);
    assert_null(err);
    assert_int_equal(r.n_dropped, 0);
    assert_int_equal(r.n_files, sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < r.n_files; i++) {
        assert_string_equal(r.files[i].name, names[i]);
        assert_int_equal(strlen(r.files[i].data), r.files[i].len);
    }
    /* haproxy.cfg */
    cfg = r.files[0].data;
    assert_int_equal(r.files[0].mode, 0644);
    assert_contains(cfg, "global\n");
    assert_contains(cfg, "stats socket '/run/portico/admin.sock' ");
    assert_contains(cfg, "frontend portico\n");
    assert_contains(cfg, "    bind '0.0.0.0:80' name http4\n");
    assert_contains(cfg, "    bind '0.0.0.0:443' name https4 ssl crt certs/default.pem "
                         "crt-list crt-list.txt");
    assert_contains(cfg, "bind '0.0.0.0:1936' name stats4");
    assert_contains(cfg, "bind '0.0.0.0:1042' name healthz4");
    assert_contains(cfg, "map_str(maps/hosts.map)");
    assert_contains(cfg, "map_str(maps/wildcards.map)");
    assert_contains(cfg, "map_str(maps/exact.map)");
    assert_contains(cfg, "map_str(maps/prefix-exact.map)");
    assert_contains(cfg, "map_beg(maps/prefix.map)");
    assert_contains(cfg, "map_str(maps/host-default.map)");
    assert_contains(cfg, "map_str(maps/redirect.map)");
    /* map_beg stays case-sensitive (a tree, not a list scan) */
    assert_null(strstr(cfg, "map_beg(maps/prefix.map),-i"));
    assert_null(strstr(cfg, "map_beg_i"));
    /* redirects by backend: the map names one, every code has its own */
    assert_contains(cfg, "map_str(maps/redirect.map) if !{ ssl_fc }\n");
    assert_contains(cfg, "\nbackend _redirect_301\n    http-request redirect scheme https code 301\n");
    assert_contains(cfg, "\nbackend _redirect_308\n    http-request redirect scheme https code 308\n");
    assert_contains(cfg, "use_backend %[var(txn.backend)]");
    assert_contains(cfg, "    default_backend _default_404\n");
    assert_contains(cfg, "backend _default_404\n");
    assert_contains(cfg, "timeout server 50000ms\n");
    assert_contains(cfg, "timeout connect 5000ms\n");
    assert_null(strstr(cfg, "maxconn"));
    assert_null(strstr(cfg, "nbthread"));
    assert_null(strstr(cfg, "portico-fault-injected"));
    assert_null(strstr(cfg, "name http6"));
    /* backends with their servers, sorted */
    assert_contains(cfg, "\nbackend shop_api_grpc\n");
    assert_contains(cfg, "    server 10.0.1.1:9000 10.0.1.1:9000\n");
    assert_contains(cfg, "\nbackend shop_web_http\n    balance roundrobin\n    option forwardfor\n"
                         "    server 10.0.0.1:8080 10.0.0.1:8080\n"
                         "    server 10.0.0.2:8080 10.0.0.2:8080\n");
    assert_true(strstr(cfg, "backend shop_api_grpc") < strstr(cfg, "backend shop_web_http"));
    /* maps: "key value" lines sorted by key */
    assert_string_equal(file(&r, "maps/hosts.map")->data, "foo.com foo.com\n");
    assert_string_equal(file(&r, "maps/wildcards.map")->data, ".wild.com *.wild.com\n");
    assert_string_equal(file(&r, "maps/exact.map")->data,
                        "foo.com/a shop_web_http\nfoo.com/b shop_web_http\n");
    assert_string_equal(file(&r, "maps/prefix-exact.map")->data, "foo.com/api shop_api_grpc\n");
    assert_string_equal(file(&r, "maps/prefix.map")->data,
                        "*.wild.com/ shop_web_http\nfoo.com/ shop_web_http\n"
                        "foo.com/api/ shop_api_grpc\n");
    assert_string_equal(file(&r, "maps/host-default.map")->data, "");
    assert_string_equal(file(&r, "maps/redirect.map")->data, "foo.com _redirect_308\n");
    assert_int_equal(file(&r, "maps/prefix.map")->mode, 0644);
    /* certificates: key material is private */
    assert_int_equal(file(&r, "certs/default.pem")->mode, 0600);
    assert_string_equal(file(&r, "certs/default.pem")->data, fallback_pem);
    assert_int_equal(file(&r, "certs/shop_foo-tls.pem")->mode, 0600);
    assert_contains(file(&r, "certs/shop_foo-tls.pem")->data, "PRIVATE KEY");
    assert_contains(file(&r, "certs/shop_foo-tls.pem")->data, "BEGIN CERTIFICATE");
    assert_string_equal(file(&r, "crt-list.txt")->data, "certs/shop_foo-tls.pem foo.com\n");
    assert_int_equal(file(&r, "crt-list.txt")->mode, 0644);
    rendered_free(&r);
    assert_int_equal(r.n_files, 0);
    assert_null(r.files);
    model_unref(m);
    store_deinit(&s);
    free(crt);
    free(key);
}

static void test_render_options(void **state)
{
    struct store s;
    struct model_opts mo = mopts();
    struct render_opts ro = ropts();
    struct model *m;
    struct rendered r;
    char *err = NULL, *crt, *key;
    const char *cfg;

    (void)state;
    sample_store(&s, "10.0.0.1", &crt, &key);
    put_service(&s, "kube-system", "fallback", "http", 80, 80, NULL);
    put(&s, "{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':{'name':"
            "'fallback-6','namespace':'kube-system','labels':{'kubernetes.io/service-name':"
            "'fallback'}},'addressType':'IPv6','ports':[{'name':'http','port':80}],"
            "'endpoints':[{'addresses':['fd00::9']}]}");
    put(&s, "{'apiVersion':'v1','kind':'ConfigMap','metadata':{'name':'cm','namespace':'x'},"
            "'data':{'maxconn':'2000','nbthread':'2','timeout-server':'1m'}}");
    mo.configmap = "x/cm";
    mo.default_backend_svc = "kube-system/fallback";
    m = model_build(&s, &mo);
    ro.ipv6_addr = "::";
    ro.http_port = 0;
    ro.fault = true;
    assert_int_equal(render(m, &ro, &r, &err), 0);
    cfg = r.files[0].data;
    assert_contains(cfg, "    maxconn 2000\n");
    assert_contains(cfg, "    nbthread 2\n");
    assert_contains(cfg, "timeout server 60000ms\n");
    assert_contains(cfg, "portico-fault-injected");
    assert_contains(cfg, "    default_backend kube-system_fallback_http\n");
    assert_contains(cfg, "    server fd00::9:80 [fd00::9]:80\n");
    assert_contains(cfg, "bind '[::]:443' name https6 v6only ssl");
    assert_contains(cfg, "bind '0.0.0.0:443' name https4 ssl");
    /* no plain HTTP listener */
    assert_null(strstr(cfg, "name http4"));
    assert_null(strstr(cfg, "name http6"));
    rendered_free(&r);
    model_unref(m);
    store_deinit(&s);
    free(crt);
    free(key);
}

static void test_render_refuses_bad_flag(void **state)
{
    struct store s;
    struct model_opts mo = mopts();
    struct render_opts ro = ropts();
    struct model *m;
    struct rendered r;
    char *err = NULL;

    (void)state;
    store_init(&s);
    m = model_build(&s, &mo);
    ro.runtime_dir = "/run/it's";
    assert_int_not_equal(render(m, &ro, &r, &err), 0);
    assert_non_null(err);
    assert_int_equal(r.n_files, 0);
    free(err);
    err = NULL;
    ro = ropts();
    ro.ipv4_addr = "0.0.0.0\nglobal";
    assert_int_not_equal(render(m, &ro, &r, &err), 0);
    assert_int_equal(r.n_files, 0);
    free(err);
    model_unref(m);
    store_deinit(&s);
}

/* Map entries (and names) an escaping function refuses are dropped and
 * counted; the rest is written. */
static void test_render_drops_refused(void **state)
{
    struct model *m = xcalloc(1, sizeof(*m));
    struct render_opts ro = ropts();
    struct rendered r;
    char *err = NULL;
    struct model_entry *exact, *hosts;
    struct model_server srv;
    struct model_cert *cert;
    const char *cfg;

    (void)state;
    arena_init(&m->arena);
    m->refs = 1;
    exact = xmalloc(6 * sizeof(*exact));
    exact[0] = (struct model_entry){"#comment/x", "be_ok"};
    exact[1] = (struct model_entry){"a.com/ok", "be_ok"};
    exact[2] = (struct model_entry){"a.com/sp ace", "be_ok"};
    exact[3] = (struct model_entry){"a.com/ctl\x01", "be_ok"};
    exact[4] = (struct model_entry){"a.com/v", "bad value"};
    exact[5] = (struct model_entry){"b.com/\xc3\xa9", "be_ok"};
    m->maps[MODEL_MAP_EXACT] = exact;
    m->n_maps[MODEL_MAP_EXACT] = 6;
    hosts = xmalloc(2 * sizeof(*hosts));
    hosts[0] = (struct model_entry){"a.com", "a.com"};
    hosts[1] = (struct model_entry){"", ""};
    m->maps[MODEL_MAP_HOSTS] = hosts;
    m->n_maps[MODEL_MAP_HOSTS] = 2;
    m->backend_store = xcalloc(2, sizeof(*m->backend_store));
    m->backend_store[0].name = "be ok"; /* refused name: the whole backend is dropped */
    m->backend_store[1].name = "be_ok";
    /* servers are binary addresses and ports: nothing in them to refuse */
    srv = (struct model_server){{10, 0, 0, 1}, 80, false};
    m->backend_store[1].servers =
        model_pack_servers(&m->arena, &srv, 1, &m->backend_store[1].n_v4);
    m->backend_store[1].n_servers = 1;
    m->n_backends = m->n_store = 2;
    m->backends = xcalloc(2, sizeof(*m->backends));
    m->backends[0] = &m->backend_store[0];
    m->backends[1] = &m->backend_store[1];
    cert = arena_alloc(&m->arena, sizeof(*cert));
    cert->file = "bad file.pem";
    cert->pem = "PEM";
    cert->pem_len = 3;
    cert->hash = hash_fnv1a(cert->pem, cert->pem_len);
    m->certs = cert;
    m->n_certs = 1;
    m->default_cert.file = "default.pem";

    assert_int_equal(render(m, &ro, &r, &err), 0);
    assert_null(err);
    assert_string_equal(file(&r, "maps/exact.map")->data, "a.com/ok be_ok\n");
    assert_string_equal(file(&r, "maps/hosts.map")->data, "a.com a.com\n");
    cfg = r.files[0].data;
    assert_contains(cfg, "\nbackend be_ok\n    balance roundrobin\n"
                         "    server 10.0.0.1:80 10.0.0.1:80\n");
    assert_null(strstr(cfg, "be ok"));
    /* nothing half-written: every server line is complete */
    assert_null(strstr(cfg, "    server \n"));
    assert_null(strstr(cfg, "    server    "));
    assert_string_equal(file(&r, "crt-list.txt")->data, "");
    assert_string_equal(file(&r, "certs/default.pem")->data, "");
    /* 5 map entries + 1 host + 1 backend + 1 certificate */
    assert_int_equal(r.n_dropped, 8);
    rendered_free(&r);
    /* maps made from the model leave out and count the same entries */
    ro.from_model = true;
    assert_int_equal(render(m, &ro, &r, &err), 0);
    assert_int_equal(r.n_dropped, 8);
    assert_string_equal(render_file_data(file(&r, "maps/exact.map"), m), "a.com/ok be_ok\n");
    assert_string_equal(render_file_data(file(&r, "maps/hosts.map"), m), "a.com a.com\n");
    rendered_free(&r);
    model_unref(m);
}

/* A configuration that does not fit its limit fails the rendering with
 * -E2BIG, whatever byte the limit falls on: an overflow inside a server line
 * once wrote through the buffer that buf_add() had freed. */
static void test_render_cfg_limit_every_byte(void **state)
{
    struct store s;
    struct model_opts mo = mopts();
    struct render_opts ro = ropts();
    struct model *m;
    struct rendered r;
    char *err = NULL, *crt, *key;
    size_t full, from;

    (void)state;
    sample_store(&s, "10.0.0.2,10.0.0.1,10.0.0.3", &crt, &key);
    m = model_build(&s, &mo);
    assert_int_equal(render(m, &ro, &r, &err), 0);
    full = r.files[0].len;
    from = (size_t)(strstr(r.files[0].data, "\nbackend ") - r.files[0].data);
    rendered_free(&r);
    ro.cfg_limit = full;
    assert_int_equal(render(m, &ro, &r, &err), 0);
    rendered_free(&r);
    for (size_t limit = from; limit < full; limit++) {
        ro.cfg_limit = limit;
        assert_int_equal(render(m, &ro, &r, &err), -E2BIG);
        assert_non_null(strstr(err, "haproxy.cfg: larger than"));
        free(err);
        err = NULL;
    }
    model_unref(m);
    store_deinit(&s);
    free(crt);
    free(key);
}

static uint64_t render_hash(const struct model *m, const struct render_opts *ro, char **cfg)
{
    struct rendered r;
    char *err = NULL;
    uint64_t h;

    assert_int_equal(render(m, ro, &r, &err), 0);
    h = r.hash;
    if (cfg)
        *cfg = xstrdup(r.files[0].data);
    rendered_free(&r);
    return h;
}

static void test_render_hash(void **state)
{
    struct store a, b;
    struct model_opts mo = mopts();
    struct render_opts ro = ropts();
    struct model *ma, *mb, *mc;
    char *crt_a, *key_a, *crt_b, *key_b, *cfg_a, *cfg_b;
    uint64_t ha, hb, hc;

    (void)state;
    sample_store(&a, "10.0.0.1,10.0.0.2", &crt_a, &key_a);
    /* the same objects, but the certificate must be identical too */
    store_init(&b);
    put_class(&b, "portico", CONTROLLER, false);
    put_ingress(&b, "shop", "web", T_OLD, "portico", "",
                "'tls':[{'hosts':['foo.com'],'secretName':'foo-tls'}],"
                "'rules':[" RULE("foo.com", PATH("/b", "Exact", BE_NUM("web", 80)) ","
                                            PATH("/a", "Exact", BE_NUM("web", 80)) ","
                                            PATH("/api", "Prefix", BE_NUM("api", 9000)) ","
                                            PATH("/", "Prefix", BE_NUM("web", 80))) ","
                RULE("*.wild.com", PATH("/", "Prefix", BE_NUM("web", 80))) "]");
    put_tls_secret(&b, "shop", "foo-tls", crt_a, key_a);
    put_service(&b, "shop", "api", "grpc", 9000, 9000, "10.0.1.1");
    put_service(&b, "shop", "web", "http", 80, 8080, "10.0.0.2,10.0.0.1");
    ma = model_build(&a, &mo);
    mb = model_build(&b, &mo);
    ha = render_hash(ma, &ro, &cfg_a);
    hb = render_hash(mb, &ro, &cfg_b);
    /* identical models: identical bytes and hashes, and rendering is repeatable */
    assert_string_equal(cfg_a, cfg_b);
    assert_true(ha == hb);
    assert_true(render_hash(ma, &ro, NULL) == ha);
    /* a different endpoint: a different hash */
    put_service(&b, "shop", "web", "http", 80, 8080, "10.0.0.2,10.0.0.3");
    mc = model_build(&b, &mo);
    hc = render_hash(mc, &ro, NULL);
    assert_true(hc != ha);
    model_unref(mc);
    /* a different certificate alone: a different hash */
    make_cert("foo.com", &crt_b, &key_b);
    put_service(&b, "shop", "web", "http", 80, 8080, "10.0.0.2,10.0.0.1");
    put_tls_secret(&b, "shop", "foo-tls", crt_b, key_b);
    mc = model_build(&b, &mo);
    assert_true(render_hash(mc, &ro, NULL) != ha);
    model_unref(mc);
    /* different options: a different hash */
    ro.fault = true;
    assert_true(render_hash(ma, &ro, NULL) != ha);
    free(cfg_a);
    free(cfg_b);
    model_unref(ma);
    model_unref(mb);
    store_deinit(&a);
    store_deinit(&b);
    free(crt_a);
    free(key_a);
    free(crt_b);
    free(key_b);
}

/* Ingresses s0 to s<n - 1>, each for host h<i>.example.com and Prefix path
 * <path> to its own Service, which exists when <services>. */
static void put_many(struct store *s, int n, const char *path, bool services)
{
    for (int i = 0; i < n; i++) {
        char name[32], host[64], spec[512];

        snprintf(name, sizeof(name), "s%d", i);
        snprintf(host, sizeof(host), "h%d.example.com", i);
        snprintf(spec, sizeof(spec), "'rules':[{'host':'%s','http':{'paths':[" PATH(
                     "%s", "Prefix", "'backend':{'service':{'name':'%s','port':{'number':80}}}")
                     "]}}]", host, path, name);
        put_ingress(s, "shop", name, T_OLD, "portico", "", spec);
        if (services)
            put_service(s, "shop", name, "http", 80, 8080, "10.0.0.1,10.0.0.2");
    }
}

/* A configuration written out as it is made (many pieces: 3,000 backends)
 * is the one kept in memory, with the same hashes; its shape ignores
 * server lines, which the Runtime API changes, and nothing else. */
static void test_render_cfg_to_file(void **state)
{
    struct store s;
    struct model_opts mo = mopts();
    struct render_opts ro = ropts(), rf = ropts();
    struct model *m, *m2;
    struct rendered mem, disk, other;
    char *err = NULL, *data = NULL, path[] = "/tmp/portico-test-cfg-XXXXXX", *last;
    size_t len = 0;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    store_init(&s);
    put_class(&s, "portico", CONTROLLER, false);
    put_many(&s, 3000, "/", true);
    m = model_build(&s, &mo);
    rf.cfg_path = path;
    assert_int_equal(render(m, &ro, &mem, &err), 0);
    assert_int_equal(render(m, &rf, &disk, &err), 0);
    /* 3,000 backends: haproxy.cfg and 11 files of 256 more each */
    assert_int_equal(mem.n_cfg, 12);
    assert_int_equal(disk.n_cfg, mem.n_cfg);
    for (size_t k = 0; k < mem.n_cfg; k++) {
        char name[64];

        render_cfg_file_name(name, sizeof(name), k);
        assert_string_equal(disk.files[k].name, name);
        assert_true(disk.files[k].cfg && !disk.files[k].same);
        assert_null(disk.files[k].data);
        assert_int_equal(file_read(disk.files[k].path, 64u << 20, &data, &len), 0);
        assert_int_equal(len, mem.files[k].len);
        assert_int_equal(disk.files[k].len, len);
        assert_memory_equal(data, mem.files[k].data, len);
        assert_true(disk.files[k].hash == mem.files[k].hash);
        FREE_NULL(data);
    }
    assert_string_equal(disk.files[0].path, path);
    assert_true(mem.cfg.len > 4 * 65536);
    assert_true(disk.cfg.hash == mem.cfg.hash);
    assert_true(disk.cfg.shape == mem.cfg.shape);
    assert_int_equal(disk.cfg.len, mem.cfg.len);
    assert_true(disk.hash == mem.hash);
    /* other endpoints: other bytes, the same shape */
    put_service(&s, "shop", "s7", "http", 80, 8080, "10.0.0.3");
    m2 = model_build(&s, &mo);
    assert_int_equal(render(m2, &rf, &other, &err), 0);
    assert_true(other.cfg.hash != mem.cfg.hash);
    assert_true(other.cfg.shape == mem.cfg.shape);
    /* freeing the rendering removes the files it wrote */
    last = xstrdup(other.files[other.n_cfg - 1].path);
    rendered_free(&other);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(last, F_OK), -1);
    free(last);
    model_unref(m2);
    /* another backend: another shape */
    put_ingress(&s, "shop", "new", T_OLD, "portico", "",
                "'rules':[" RULE("new.example.com", PATH("/", "Prefix", BE_NUM("new", 80))) "]");
    m2 = model_build(&s, &mo);
    assert_int_equal(render(m2, &rf, &other, &err), 0);
    assert_true(other.cfg.shape != mem.cfg.shape);
    rendered_free(&other);
    model_unref(m2);
    unlink(path);
    rendered_free(&mem);
    rendered_free(&disk);
    model_unref(m);
    store_deinit(&s);
}

/* haproxy.cfg's files, however many backends each holds, are together the
 * configuration a single file holds: backends cut between files, never
 * inside one, the files after the first holding whole sections. */
static void test_render_cfg_files(void **state)
{
    struct store s;
    struct model_opts mo = mopts();
    struct render_opts one = ropts(), few = ropts();
    const char *head = "global\n    default-path parent\n";
    struct rendered a, b;
    struct buf all;
    char *err = NULL;
    struct model *m;

    (void)state;
    store_init(&s);
    put_class(&s, "portico", CONTROLLER, false);
    put_many(&s, 10, "/", true);
    m = model_build(&s, &mo);
    assert_int_equal(m->n_backends, 10);
    few.backends_per_file = 3;
    assert_int_equal(render(m, &one, &a, &err), 0);
    assert_int_equal(render(m, &few, &b, &err), 0);
    assert_int_equal(a.n_cfg, 1);
    assert_int_equal(b.n_cfg, 4);
    buf_init(&all, 1u << 30);
    for (size_t k = 0; k < b.n_cfg; k++) {
        char name[64];

        render_cfg_file_name(name, sizeof(name), k);
        assert_string_equal(b.files[k].name, name);
        assert_true(b.files[k].cfg);
        if (k) {
            /* HAProxy reads a directory's files in lexical order; their
             * paths are relative to the directory of haproxy.cfg */
            assert_true(k == 1 || strcmp(b.files[k - 1].name, b.files[k].name) < 0);
            assert_true(str_has_prefix(b.files[k].data, head));
            assert_true(str_has_prefix(b.files[k].data + strlen(head), "\nbackend "));
        }
        buf_add(&all, b.files[k].data + (k ? strlen(head) : 0),
                b.files[k].len - (k ? strlen(head) : 0));
    }
    assert_string_equal(b.files[1].name, RENDER_BACKENDS_DIR "/00001.cfg");
    assert_int_equal(all.len, a.files[0].len);
    assert_memory_equal(all.ptr, a.files[0].data, all.len);
    assert_int_equal(b.cfg.len, a.cfg.len + 3 * strlen(head));
    /* the maps and the rest: the same files after haproxy.cfg's */
    assert_int_equal(b.n_files - b.n_cfg, a.n_files - a.n_cfg);
    assert_true(b.rest_hash == a.rest_hash);
    buf_free(&all);
    rendered_free(&a);
    rendered_free(&b);
    model_unref(m);
    store_deinit(&s);
}

/* Maps and certificates kept out of memory have the length and hash of the
 * ones kept in it (several pieces: 3,000 hosts), and are written or made
 * again from the model with the same bytes. */
static void test_render_from_model(void **state)
{
    struct store s;
    struct model_opts mo = mopts();
    struct render_opts ro = ropts(), rm = ropts();
    struct model *m;
    struct rendered mem, lean;
    char *err = NULL, *crt, *key, path[] = "/tmp/portico-test-map-XXXXXX";
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    sample_store(&s, "10.0.0.1", &crt, &key);
    put_many(&s, 3000, "/api", false);
    m = model_build(&s, &mo);
    assert_int_equal(m->n_certs, 1);
    rm.from_model = true;
    assert_int_equal(render(m, &ro, &mem, &err), 0);
    assert_int_equal(render(m, &rm, &lean, &err), 0);
    assert_int_equal(lean.n_files, mem.n_files);
    assert_true(lean.hash == mem.hash);
    assert_int_equal(lean.n_dropped, mem.n_dropped);
    assert_true(file(&mem, "maps/hosts.map")->len > 65536); /* two pieces or more */
    for (size_t i = 0; i < mem.n_files; i++) {
        struct render_file *f = &lean.files[i];
        const struct render_file *g = &mem.files[i];
        char *data = NULL;
        size_t len = 0;

        assert_string_equal(f->name, g->name);
        assert_int_equal(f->map, g->map);
        assert_int_equal(f->len, g->len);
        assert_true(f->hash == g->hash);
        if (f->map < 0 && !f->cert) {
            assert_non_null(f->data);
            continue;
        }
        assert_null(f->data);
        assert_int_equal(ftruncate(fd, 0), 0);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_int_equal(render_file_write(f, m, fd), 0);
        assert_int_equal(file_read(path, 64u << 20, &data, &len), 0);
        assert_int_equal(len, g->len);
        assert_memory_equal(data, g->data, len);
        free(data);
        /* made once, then kept */
        assert_string_equal(render_file_data(f, m), g->data);
        assert_ptr_equal(render_file_data(f, m), f->data);
    }
    /* haproxy.cfg as rendered before: the same rendering, but that file,
     * which the caller has */
    rendered_free(&lean);
    rm.cfg_same = &mem.cfg;
    assert_int_equal(render(m, &rm, &lean, &err), 0);
    assert_int_equal(lean.n_cfg, mem.n_cfg);
    assert_true(lean.hash == mem.hash);
    assert_true(lean.files[0].same);
    assert_null(lean.files[0].data);
    assert_null(lean.files[0].path);
    assert_int_equal(lean.files[0].len, mem.files[0].len);
    assert_int_equal(render_file_write(&lean.files[0], m, fd), -ENODATA);
    close(fd);
    unlink(path);
    rendered_free(&mem);
    rendered_free(&lean);
    model_unref(m);
    store_deinit(&s);
    free(crt);
    free(key);
}

/* The maps of <p> rendered with <memo> hash as a whole rendering's, the
 * entries refused by an escaping function counted the same. */
/* The maps of <m> with entries. */
static size_t maps_used(const struct model *m)
{
    size_t n = 0;

    for (int k = 0; k < MODEL_MAP_COUNT; k++)
        n += m->n_maps[k] > 0;
    return n;
}

/* Renders <p> with <memo>, and checks that its maps hash as a whole
 * rendering's do, and that each map made from the last one's file in <dir>
 * (render_file_splice()) is byte for byte that map; then puts <p>'s maps in
 * <dir>. Returns how many maps were made so. */
static size_t assert_memo_renders(const struct model *p, struct render_memo *memo,
                                  const char *dir)
{
    struct render_opts ro = ropts(), rm = ropts();
    struct rendered full, lean;
    char *err = NULL;
    size_t spliced = 0;

    rm.from_model = true;
    rm.memo = memo;
    assert_int_equal(render(p, &ro, &full, &err), 0);
    assert_int_equal(render(p, &rm, &lean, &err), 0);
    assert_int_equal(lean.n_files, full.n_files);
    assert_true(lean.hash == full.hash);
    assert_int_equal(lean.n_dropped, full.n_dropped);
    for (size_t i = 0; i < full.n_files; i++) {
        const struct render_file *f = &lean.files[i];
        char *path, *next, *data = NULL;
        size_t len = 0;
        int from, fd;

        assert_string_equal(f->name, full.files[i].name);
        assert_int_equal(f->len, full.files[i].len);
        assert_true(f->hash == full.files[i].hash);
        if (f->map < 0)
            continue;
        path = xasprintf("%s/%d.map", dir, f->map);
        next = xasprintf("%s/next.map", dir);
        if (f->splice.from_hash) {
            from = open(path, O_RDONLY);
            assert_true(from >= 0);
            fd = open(next, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            assert_true(fd >= 0);
            assert_int_equal(render_file_splice(f, p, from, fd), 0);
            close(fd);
            close(from);
            assert_int_equal(file_read(next, 64u << 20, &data, &len), 0);
            assert_int_equal(len, full.files[i].len);
            assert_memory_equal(data, full.files[i].data, len);
            free(data);
            spliced++;
        }
        assert_int_equal(file_replace(path, full.files[i].data, full.files[i].len, 0600, 0,
                                      &err), 0);
        unlink(next);
        free(next);
        free(path);
    }
    for (int k = 0; k < MODEL_MAP_COUNT; k++) {
        if (p->n_maps[k])
            assert_ptr_equal(memo->maps[k].v, p->maps[k]);
    }
    rendered_free(&full);
    rendered_free(&lean);
    return spliced;
}

/* A map file that is not the one the memo remembers is not spliced from:
 * one of another length, and one with fewer lines. */
static void assert_splice_refuses_other_files(const struct model *p, struct render_memo *memo,
                                              const char *dir)
{
    struct render_opts rm = ropts();
    struct rendered lean;
    char *err = NULL, *path = xasprintf("%s/other.map", dir);
    const char *const others[] = {"x y\n", NULL};

    rm.from_model = true;
    rm.memo = memo;
    assert_int_equal(render(p, &rm, &lean, &err), 0);
    for (size_t i = 0; i < lean.n_files; i++) {
        struct render_file f = lean.files[i];
        char *text;
        int from, fd;

        if (f.map < 0 || !f.splice.from_hash || !f.splice.head)
            continue;
        /* the right length, no line breaks: too few lines */
        text = xmalloc(f.splice.from_len);
        memset(text, 'x', f.splice.from_len);
        for (size_t k = 0; k < 2; k++) {
            const char *data = k ? text : others[0];

            assert_int_equal(file_replace(path, data, k ? f.splice.from_len : strlen(data),
                                          0600, 0, &err), 0);
            from = open(path, O_RDONLY);
            fd = open("/dev/null", O_WRONLY);
            assert_int_equal(render_file_splice(&f, p, from, fd), -ESTALE);
            close(fd);
            close(from);
        }
        free(text);
    }
    unlink(path);
    free(path);
    rendered_free(&lean);
}

/* A model rerouted from the last one rendered has its maps hashed by what
 * differs (struct render_memo), as a whole rendering hashes them: a host
 * added, a path added, an Ingress deleted, and entries an escaping function
 * refuses among those that differ. */
static void test_render_memo(void **state)
{
    static const char *const adds[] = {"one.example.com", "two.example.com", NULL};
    struct store s;
    struct model_opts mo = mopts();
    struct render_memo memo;
    struct model *m, *p;
    struct store_change *v;
    struct model_entry *a, *b, *was;
    char *crt, *key, dir[] = "/tmp/portico-memo-XXXXXX";
    size_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    memset(&memo, 0, sizeof(memo));
    sample_store(&s, "10.0.0.1", &crt, &key);
    put_many(&s, 500, "/api", false);
    m = model_build(&s, &mo);
    assert_int_equal(assert_memo_renders(m, &memo, dir), 0);
    store_track(&s, K8S_INGRESS);
    for (size_t i = 0; i < sizeof(adds) / sizeof(*adds); i++) {
        if (adds[i])
            put_ingress(&s, "shop", adds[i], T_OLD, "portico", "",
                        i ? "'rules':[" RULE("two.example.com", PATH("/x", "Prefix",
                                                                     BE_NUM("web", 80))) "]"
                          : "'rules':[" RULE("one.example.com", PATH("/", "Prefix",
                                                                     BE_NUM("web", 80))) "]");
        else
            assert_true(store_del(&s, K8S_INGRESS, "shop", adds[0]));
        assert_true(store_take_changes(&s, &v, &n));
        p = model_reroute(m, &s, &mo, v, n, false);
        store_changes_free(v, n);
        assert_non_null(p);
        assert_ptr_not_equal(p->maps[MODEL_MAP_HOSTS], m->maps[MODEL_MAP_HOSTS]);
        /* every map: those the reroute changed, and the others */
        assert_int_equal(assert_memo_renders(p, &memo, dir), maps_used(p));
        model_unref(m);
        m = p;
    }
    /* refused entries among those that differ; the model's own map put back */
    was = m->maps[MODEL_MAP_EXACT];
    n = m->n_maps[MODEL_MAP_EXACT];
    a = xmalloc(3 * sizeof(*a));
    b = xmalloc(3 * sizeof(*b));
    a[0] = (struct model_entry){"a.com/ok", "be_ok"};
    a[1] = (struct model_entry){"a.com/sp ace", "be_ok"};
    a[2] = (struct model_entry){"a.com/z", "be_ok"};
    memcpy(b, a, 3 * sizeof(*a));
    b[1] = (struct model_entry){"a.com/v", "bad value"};
    assert_splice_refuses_other_files(m, &memo, dir);
    m->maps[MODEL_MAP_EXACT] = a;
    m->n_maps[MODEL_MAP_EXACT] = 3;
    assert_memo_renders(m, &memo, dir);
    assert_int_equal(memo.maps[MODEL_MAP_EXACT].dropped, 1);
    m->maps[MODEL_MAP_EXACT] = b;
    /* its file has no line for a refused entry: made whole */
    assert_int_equal(assert_memo_renders(m, &memo, dir), maps_used(m) - 1);
    assert_int_equal(memo.maps[MODEL_MAP_EXACT].dropped, 1);
    m->maps[MODEL_MAP_EXACT] = was;
    m->n_maps[MODEL_MAP_EXACT] = n;
    free(a);
    free(b);
    model_unref(m);
    store_deinit(&s);
    free(crt);
    free(key);
    file_rmtree(dir);
}

/* Renders patch <p>, <per> backends in each file, from <from>, whose
 * haproxy.cfg's files are in directory <from_dir>, and puts its own in
 * <dir>; checks that each is byte for byte the file a whole rendering of
 * <p> makes, with the same hashes. Returns how many were written, the
 * others being <from>'s, and the rendering in <out>. */
static size_t check_splice(const struct model *p, const struct rendered *from,
                           const char *from_dir, const char *dir, size_t per,
                           struct rendered *out)
{
    struct render_opts ro = ropts(), rf = ropts();
    char *err = NULL, *next = xasprintf("%s/haproxy.cfg.next", dir);
    struct rendered full;
    size_t written = 0;

    ro.backends_per_file = rf.backends_per_file = per;
    rf.cfg_path = next;
    rf.cfg_from = &from->cfg;
    rf.cfg_from_dir = from_dir;
    assert_int_equal(render(p, &rf, out, &err), 0);
    assert_int_equal(render(p, &ro, &full, &err), 0);
    assert_int_equal(out->n_cfg, full.n_cfg);
    for (size_t k = 0; k < out->n_cfg; k++) {
        const struct render_file *f = &out->files[k];
        char *was = xasprintf("%s/%s", from_dir, f->name), *path = xasprintf("%s/%s", dir, f->name);
        char *data = NULL;
        size_t len = 0;

        assert_string_equal(f->name, full.files[k].name);
        assert_int_equal(file_read(f->same ? was : f->path, 64u << 20, &data, &len), 0);
        assert_int_equal(len, full.files[k].len);
        assert_int_equal(f->len, len);
        assert_memory_equal(data, full.files[k].data, len);
        assert_true(f->hash == full.files[k].hash);
        written += !f->same;
        assert_int_equal(f->same ? link(was, path) : rename(f->path, path), 0);
        free(data);
        free(path);
        free(was);
    }
    assert_true(out->cfg.hash == full.cfg.hash);
    assert_true(out->cfg.shape == full.cfg.shape);
    assert_int_equal(out->cfg.len, full.cfg.len);
    assert_true(out->hash == full.hash);
    rendered_free(&full);
    free(next);
    return written;
}

/* A directory <base>/<n> with its RENDER_BACKENDS_DIR (malloc'd). */
static char *gen_dir(const char *base, int n)
{
    char *dir = xasprintf("%s/%d", base, n), *err = NULL;

    assert_int_equal(file_mkdirs(dir, 0700, &err), 0);
    free(err);
    err = xasprintf("%s/" RENDER_BACKENDS_DIR, dir);
    assert_int_equal(mkdir(err, 0700), 0);
    free(err);
    return dir;
}

/* haproxy.cfg of a patch, made from the files of the model it patched with
 * only the patched backends' server lines made again, is the configuration
 * a whole rendering makes: a backend's lines grown, then another's shrunk,
 * and that one alone. With a file for each backend, only the patched
 * backend's file is written. */
static void test_render_spliced(void **state)
{
    struct store s;
    struct model_opts mo = mopts();
    struct model *m, *p1, *p2;
    char base[] = "/tmp/portico-splice-XXXXXX", *crt, *key;
    uint64_t web = k8s_lookup_hash(K8S_SERVICE, "shop", "web");
    uint64_t api = k8s_lookup_hash(K8S_SERVICE, "shop", "api");

    (void)state;
    assert_non_null(mkdtemp(base));
    sample_store(&s, "10.0.0.1,10.0.0.2", &crt, &key);
    put_service(&s, "shop", "api", "grpc", 9000, 9000, "10.0.1.1,10.0.1.2,10.0.1.3");
    m = model_build(&s, &mo);
    assert_true(m->n_backends >= 2);
    for (size_t per = 1; per <= RENDER_BACKENDS_PER_FILE; per += RENDER_BACKENDS_PER_FILE - 1) {
        struct render_opts ro = ropts();
        char *dirs[4], *err = NULL;
        struct rendered r0, r1, r2;
        size_t files = per == 1 ? m->n_backends : 1;

        for (int i = 0; i < 4; i++)
            dirs[i] = gen_dir(base, (int)per * 4 + i);
        ro.backends_per_file = per;
        assert_int_equal(render(m, &ro, &r0, &err), 0);
        assert_int_equal(r0.n_cfg, files);
        for (size_t k = 0; k < r0.n_cfg; k++) {
            char *path = xasprintf("%s/%s", dirs[0], r0.files[k].name);

            assert_int_equal(file_replace(path, r0.files[k].data, r0.files[k].len, 0644, 0, &err),
                             0);
            free(path);
        }
        /* web, the last backend: one endpoint more */
        put_service(&s, "shop", "web", "http", 80, 8080, "10.0.0.3,10.0.0.1,10.0.0.2");
        p1 = model_patch(m, &s, &web, 1);
        assert_true(p1 && p1 != m && p1->n_patched == 1);
        assert_int_equal(p1->patched[0], m->n_backends - 1);
        assert_int_equal(check_splice(p1, &r0, dirs[0], dirs[1], per, &r1), 1);
        assert_true(r1.n_cfg == 1 || (r1.files[0].same && !r1.files[r1.n_cfg - 1].same));
        /* then api, the first: two fewer, what follows moves back */
        put_service(&s, "shop", "api", "grpc", 9000, 9000, "10.0.1.2");
        p2 = model_patch(p1, &s, &api, 1);
        assert_true(p2 && p2 != p1 && p2->n_patched == 2);
        assert_int_equal(p2->patched[0], 0);
        /* patched since the build: api and web; but web's file is as p1
         * wrote it: api's alone is written */
        assert_int_equal(check_splice(p2, &r1, dirs[1], dirs[2], per, &r2), 1);
        for (size_t k = 0; k < r2.n_cfg; k++)
            assert_true(r2.files[k].same == (k != 0));
        rendered_free(&r2);
        /* api alone, from the build's files: the rest of them follow unchanged */
        model_unref(p2);
        p2 = model_patch(m, &s, &api, 1);
        assert_true(p2 && p2 != m && p2->n_patched == 1);
        assert_int_equal(check_splice(p2, &r0, dirs[0], dirs[3], per, &r2), 1);
        rendered_free(&r0);
        rendered_free(&r1);
        rendered_free(&r2);
        model_unref(p2);
        model_unref(p1);
        /* as it was, for the next round */
        put_service(&s, "shop", "web", "http", 80, 8080, "10.0.0.1,10.0.0.2");
        put_service(&s, "shop", "api", "grpc", 9000, 9000, "10.0.1.1,10.0.1.2,10.0.1.3");
        for (int i = 0; i < 4; i++)
            free(dirs[i]);
    }
    file_rmtree(base);
    model_unref(m);
    store_deinit(&s);
    free(crt);
    free(key);
}

static void test_render_empty_model(void **state)
{
    struct store s;
    struct model_opts mo = mopts();
    struct render_opts ro = ropts();
    struct model *m;
    struct rendered r;
    char *err = NULL;

    (void)state;
    store_init(&s);
    mo.fallback_cert_pem = NULL;
    m = model_build(&s, &mo);
    assert_int_equal(render(m, &ro, &r, &err), 0);
    assert_int_equal(r.n_files, 11);
    for (size_t i = 1; i < 9; i++)
        assert_int_equal(r.files[i].len, 0);
    assert_contains(r.files[0].data, "default_backend _default_404");
    rendered_free(&r);
    model_unref(m);
    store_deinit(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_files),
        cmocka_unit_test(test_render_cfg_limit_every_byte),
        cmocka_unit_test(test_render_options),
        cmocka_unit_test(test_render_refuses_bad_flag),
        cmocka_unit_test(test_render_drops_refused),
        cmocka_unit_test(test_render_hash),
        cmocka_unit_test(test_render_cfg_to_file),
        cmocka_unit_test(test_render_cfg_files),
        cmocka_unit_test(test_render_from_model),
        cmocka_unit_test(test_render_memo),
        cmocka_unit_test(test_render_spliced),
        cmocka_unit_test(test_render_empty_model),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
