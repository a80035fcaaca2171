/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers on decoded Kubernetes objects. */
#include "store/objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static void kv_free(struct k8s_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].val);
    }
    free(kv);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void backend_free(struct k8s_ingress_backend *be)
{
    free(be->svc);
    free(be->port_name);
}

static void ingress_free(struct k8s_ingress *ing)
{
    free(ing->class_name);
    backend_free(&ing->default_backend);
    for (size_t i = 0; i < ing->n_rules; i++) {
        struct k8s_ingress_rule *r = &ing->rules[i];

        free(r->host);
        for (size_t j = 0; j < r->n_paths; j++) {
            free(r->paths[j].path);
            backend_free(&r->paths[j].backend);
        }
        free(r->paths);
    }
    free(ing->rules);
    for (size_t i = 0; i < ing->n_tls; i++) {
        strv_free(ing->tls[i].hosts, ing->tls[i].n_hosts);
        free(ing->tls[i].secret);
    }
    free(ing->tls);
}

static void service_free(struct k8s_service *svc)
{
    free(svc->type);
    free(svc->external_name);
    for (size_t i = 0; i < svc->n_ports; i++) {
        free(svc->ports[i].name);
        free(svc->ports[i].target_name);
        free(svc->ports[i].protocol);
    }
    free(svc->ports);
}

static void slice_free(struct k8s_endpoint_slice *es)
{
    free(es->service);
    for (size_t i = 0; i < es->n_ports; i++) {
        free(es->ports[i].name);
        free(es->ports[i].protocol);
    }
    free(es->ports);
    for (size_t i = 0; i < es->n_endpoints; i++)
        strv_free(es->endpoints[i].addresses, es->endpoints[i].n_addresses);
    free(es->endpoints);
}

void k8s_obj_free(struct k8s_obj *obj)
{
    if (!obj)
        return;
    switch (obj->kind) {
    case K8S_INGRESS:
        ingress_free((struct k8s_ingress *)obj);
        break;
    case K8S_INGRESS_CLASS:
        free(((struct k8s_ingress_class *)obj)->controller);
        break;
    case K8S_SERVICE:
        service_free((struct k8s_service *)obj);
        break;
    case K8S_ENDPOINT_SLICE:
        slice_free((struct k8s_endpoint_slice *)obj);
        break;
    case K8S_SECRET: {
        struct k8s_secret *s = (struct k8s_secret *)obj;

        free(s->type);
        if (s->key)
            memset(s->key, 0, s->key_len); /* private key bytes do not linger */
        free(s->key);
        free(s->crt);
        break;
    }
    case K8S_CONFIGMAP:
        kv_free(((struct k8s_configmap *)obj)->data, ((struct k8s_configmap *)obj)->n_data);
        break;
    case K8S_KIND_COUNT:
        break;
    }
    free(obj->meta.ns);
    free(obj->meta.name);
    kv_free(obj->meta.annotations, obj->meta.n_annotations);
    kv_free(obj->meta.labels, obj->meta.n_labels);
    free(obj->origin);
    free(obj);
}

const char *k8s_kv_get(const struct k8s_kv *kv, size_t n, const char *key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(kv[mid].key, key);

        if (c == 0)
            return kv[mid].val;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *k8s_kind_name(enum k8s_kind kind)
{
    static const char *const names[] = {"ingress", "ingressclass", "service",
                                        "endpointslice", "secret", "configmap"};

    return kind < K8S_KIND_COUNT ? names[kind] : "unknown";
}

void k8s_obj_ref(const struct k8s_obj *obj, char *out, size_t size)
{
    if (obj->meta.ns && *obj->meta.ns)
        snprintf(out, size, "%s/%s/%s", k8s_kind_name(obj->kind), obj->meta.ns, obj->meta.name);
    else
        snprintf(out, size, "%s/%s", k8s_kind_name(obj->kind), obj->meta.name);
}

const char *const k8s_key_prefixes[] = {"portico.dev/", "haproxy.org/", "haproxy.com/",
                                        "ingress.kubernetes.io/"};
const size_t k8s_key_prefixes_len = sizeof(k8s_key_prefixes) / sizeof(k8s_key_prefixes[0]);

bool k8s_annotation_read(const char *key)
{
    for (size_t i = 0; i < k8s_key_prefixes_len; i++) {
        if (!strncmp(key, k8s_key_prefixes[i], strlen(k8s_key_prefixes[i])))
            return true;
    }
    return !strcmp(key, "kubernetes.io/ingress.class") ||
           !strcmp(key, "ingressclass.kubernetes.io/is-default-class");
}

bool k8s_label_read(const char *key)
{
    return !strcmp(key, "kubernetes.io/service-name");
}
