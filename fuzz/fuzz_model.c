/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_model: objects -> model -> HAProxy files, as `portico render` does
 * it. The input is a manifest file (YAML documents, read by source/yaml.c
 * and kube/decode.c) whose first line may set the flags a golden case's
 * `flags` file sets:
 *
 *   # fuzz: configmap=ns/name errorfiles=ns/name tcp-services=ns/name
 *   #       default-backend=ns/name default-ssl=ns/name class=NAME
 *   #       controller=NAME snippets without-class spare=N    (one line)
 *
 * Checks: model_build() and render() never crash or leak whatever the
 * objects, haproxy.cfg has no NUL byte, and a second build and rendering of
 * the same store give the same files (the output is deterministic). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "haproxy/render.h"
#include "kube/decode.h"
#include "model/model.h"
#include "model/tls.h"
#include "source/yaml.h"
#include "store/objects.h"
#include "store/store.h"
#include "util/banned.h"

#define FLAG_MAX 256

static char *fallback_pem;

struct flags {
    char configmap[FLAG_MAX], errorfiles[FLAG_MAX], tcp[FLAG_MAX];
    char backend[FLAG_MAX], ssl[FLAG_MAX], cls[FLAG_MAX], controller[FLAG_MAX];
    bool snippets, without_class;
    unsigned spare;
};

static void flag_str(char *dst, const char *v, size_t len)
{
    if (len >= FLAG_MAX)
        len = FLAG_MAX - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* Reads "# fuzz: ..." from the first line of <data>. */
static void parse_flags(struct flags *f, const char *data, size_t size)
{
    const char *end = memchr(data, '\n', size), *p = data + 7;

    memset(f, 0, sizeof(*f));
    if (!end)
        end = data + size;
    if (size < 7 || memcmp(data, "# fuzz:", 7))
        return;
    while (p < end) {
        const char *w = p, *eq;
        size_t n, vn;

        while (w < end && *w == ' ')
            w++;
        for (p = w; p < end && *p != ' ';)
            p++;
        n = (size_t)(p - w);
        eq = memchr(w, '=', n);
        vn = eq ? (size_t)(p - eq - 1) : 0;
#define IS(name) ((eq ? (size_t)(eq - w) : n) == strlen(name) && !memcmp(w, name, strlen(name)))
        if (IS("configmap") && eq)
            flag_str(f->configmap, eq + 1, vn);
        else if (IS("errorfiles") && eq)
            flag_str(f->errorfiles, eq + 1, vn);
        else if (IS("tcp-services") && eq)
            flag_str(f->tcp, eq + 1, vn);
        else if (IS("default-backend") && eq)
            flag_str(f->backend, eq + 1, vn);
        else if (IS("default-ssl") && eq)
            flag_str(f->ssl, eq + 1, vn);
        else if (IS("class") && eq)
            flag_str(f->cls, eq + 1, vn);
        else if (IS("controller") && eq)
            flag_str(f->controller, eq + 1, vn);
        else if (IS("snippets"))
            f->snippets = true;
        else if (IS("without-class"))
            f->without_class = true;
        else if (IS("spare") && eq)
            f->spare = vn ? (unsigned)(eq[1] - '0') % 10 : 0;
#undef IS
    }
}

static void on_doc(size_t index, json_t *doc, void *arg)
{
    struct store *st = arg;
    struct k8s_obj *o;

    (void)index;
    if (doc && decode_object(doc, &o, NULL, NULL) == DECODE_OK)
        store_put(st, o);
}

/* Builds and renders <st>; returns the rendering's hash, 0 when render()
 * failed (a file past its limit). */
static uint64_t build_render(const struct store *st, const struct model_opts *mo,
                             const struct render_opts *ro)
{
    struct model *m = model_build(st, mo);
    struct rendered r;
    uint64_t hash = 0;
    char *err = NULL;

    if (render(m, ro, &r, &err) == 0) {
        hash = r.hash | 1;
        if (r.n_files == 0 || memchr(r.files[0].data, '\0', r.files[0].len))
            abort();
        rendered_free(&r);
    }
    free(err);
    model_unref(m);
    return hash;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_log_all();
    /* random, but only the certificate's bytes differ between runs */
    fallback_pem = tls_selfsigned_pem("portico-default");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t own_ports[] = {8080, 8443, 1024, 1042, 10254};
    struct flags f;
    struct store st;
    struct model_opts mo;
    struct render_opts ro;
    char *err = NULL;

    if (size > (1u << 20))
        return -1; /* not a manifest Portico would be given */
    parse_flags(&f, (const char *)data, size);
    memset(&mo, 0, sizeof(mo));
    mo.ingress_class = *f.cls ? f.cls : "portico";
    mo.controller_name = *f.controller ? f.controller : "portico.dev/ingress-controller";
    mo.watch_without_class = f.without_class;
    mo.snippets = f.snippets;
    mo.default_backend_svc = *f.backend ? f.backend : NULL;
    mo.default_ssl_cert = *f.ssl ? f.ssl : NULL;
    mo.configmap = *f.configmap ? f.configmap : NULL;
    mo.configmap_errorfiles = *f.errorfiles ? f.errorfiles : NULL;
    mo.configmap_tcp_services = *f.tcp ? f.tcp : NULL;
    mo.own_ports = own_ports;
    mo.n_own_ports = sizeof(own_ports) / sizeof(own_ports[0]);
    mo.fallback_cert_pem = fallback_pem;
    mo.spare_backends = f.spare;
    memset(&ro, 0, sizeof(ro));
    ro.runtime_dir = "/tmp/portico/run";
    ro.ipv4_addr = "0.0.0.0";
    ro.http_port = 8080;
    ro.https_port = 8443;
    ro.stats_port = 1024;
    ro.healthz_port = 1042;

    store_init(&st);
    yaml_parse_docs((const char *)data, size, on_doc, &st, &err);
    free(err);
    if (build_render(&st, &mo, &ro) != build_render(&st, &mo, &ro))
        abort(); /* the same objects must give the same files */
    store_deinit(&st);
    return 0;
}
