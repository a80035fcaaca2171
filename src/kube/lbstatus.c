/* SPDX-License-Identifier: Apache-2.0 */
/* Ingress status through the API (see lbstatus.h). */
#include "kube/lbstatus.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define LB_MAX_BODY (4u << 20)
#define LB_MAX_ADDRS 64

struct kube_lb {
    struct kube_req *req;
    struct buf body;
    kube_lb_fn *done;
    void *arg;
    bool service; /* a Service read, not a status written */
};

static void lb_free(struct kube_lb *l)
{
    buf_free(&l->body);
    free(l);
}

void kube_lb_cancel(struct kube_lb *l)
{
    if (!l)
        return;
    kube_req_cancel(l->req);
    lb_free(l);
}

static int on_body(const char *data, size_t len, void *arg)
{
    struct kube_lb *l = arg;

    return buf_add(&l->body, data, len) ? -1 : 0;
}

static void add_addr(struct k8s_lb_addr *a, size_t *n, size_t max, const char *ip,
                     const char *host)
{
    if (*n == max || ((!ip || !*ip) && (!host || !*host)))
        return;
    a[*n].ip = ip ? ip : "";
    a[(*n)++].hostname = host ? host : "";
}

size_t kube_lb_from_service(json_t *svc, struct k8s_lb_addr *a, size_t max)
{
    json_t *spec = json_object_get(svc, "spec"), *v;
    const char *type = json_string_value(json_object_get(spec, "type"));
    const char *cip = json_string_value(json_object_get(spec, "clusterIP"));
    json_t *ext = json_object_get(spec, "externalIPs");
    size_t n = 0, i;

    if (type && !strcmp(type, "ExternalName")) {
        add_addr(a, &n, max, NULL, json_string_value(json_object_get(spec, "externalName")));
        return n;
    }
    if (type && !strcmp(type, "LoadBalancer")) {
        json_t *lb = json_object_get(json_object_get(json_object_get(svc, "status"),
                                                     "loadBalancer"),
                                     "ingress");

        json_array_foreach(lb, i, v)
            add_addr(a, &n, max, json_string_value(json_object_get(v, "ip")),
                     json_string_value(json_object_get(v, "hostname")));
    }
    json_array_foreach(ext, i, v)
        add_addr(a, &n, max, json_string_value(v), NULL);
    if (!n && cip && strcmp(cip, "None"))
        add_addr(a, &n, max, cip, NULL);
    return n;
}

static void on_done(long http, int err, const char *msg, void *arg)
{
    struct kube_lb *l = arg;
    struct k8s_lb_addr a[LB_MAX_ADDRS];
    json_t *j = NULL;
    size_t n = 0;

    l->req = NULL;
    if (err || http < 200 || http > 299) {
        const char *why = err ? msg : "unexpected status";

        j = l->body.ptr ? json_loadb(l->body.ptr, l->body.len, 0, NULL) : NULL;
        if (json_string_value(json_object_get(j, "message")))
            why = json_string_value(json_object_get(j, "message"));
        l->done(l, err ? 0 : http, NULL, 0, why, l->arg);
    } else if (l->service) {
        j = json_loadb(l->body.ptr ? l->body.ptr : "", l->body.len, 0, NULL);
        if (!json_is_object(j)) {
            l->done(l, http, NULL, 0, "not a Service", l->arg);
        } else {
            n = kube_lb_from_service(j, a, LB_MAX_ADDRS);
            l->done(l, http, a, n, NULL, l->arg);
        }
    } else {
        l->done(l, http, NULL, 0, NULL, l->arg);
    }
    json_decref(j);
    lb_free(l);
}

static struct kube_lb *lb_new(kube_lb_fn *done, void *arg, bool service)
{
    struct kube_lb *l = xcalloc(1, sizeof(*l));

    buf_init(&l->body, LB_MAX_BODY);
    l->done = done;
    l->arg = arg;
    l->service = service;
    return l;
}

struct kube_lb *kube_service_lb(struct kube_client *c, const char *ns, const char *name,
                                kube_lb_fn *done, void *arg)
{
    struct kube_lb *l = lb_new(done, arg, true);
    char *path = xasprintf("/api/v1/namespaces/%s/services/%s", ns, name);

    l->req = kube_get(c, path, false, on_body, on_done, l);
    free(path);
    return l;
}

struct kube_lb *kube_ingress_lb_set(struct kube_client *c, const char *ns, const char *name,
                                    const struct k8s_lb_addr *a, size_t n, kube_lb_fn *done,
                                    void *arg)
{
    struct kube_lb *l = lb_new(done, arg, false);
    json_t *list = n ? json_array() : json_null(), *patch;
    char *path, *body;

    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object();

        if (*a[i].ip)
            json_object_set_new(e, "ip", json_string(a[i].ip));
        if (*a[i].hostname)
            json_object_set_new(e, "hostname", json_string(a[i].hostname));
        json_array_append_new(list, e);
    }
    /* a merge patch: null removes the list */
    patch = json_pack("{s:{s:{s:o}}}", "status", "loadBalancer", "ingress", list);
    body = json_dumps(patch, JSON_COMPACT);
    json_decref(patch);
    if (!body)
        abort();
    path = xasprintf("/apis/networking.k8s.io/v1/namespaces/%s/ingresses/%s/status", ns, name);
    l->req = kube_send(c, "PATCH", path, "application/merge-patch+json", body, on_body, on_done,
                       l);
    free(path);
    free(body);
    return l;
}
