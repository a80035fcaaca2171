/* SPDX-License-Identifier: Apache-2.0 */
/* Leases through the API (see lease.h). */
#include "kube/lease.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define LEASE_MAX_BODY (1u << 20)

struct kube_lease_req {
    struct kube_req *req;
    struct buf body;
    kube_lease_fn *done;
    void *arg;
};

static void lease_free(struct kube_lease_req *r)
{
    buf_free(&r->body);
    free(r);
}

void kube_lease_cancel(struct kube_lease_req *r)
{
    if (!r)
        return;
    kube_req_cancel(r->req);
    lease_free(r);
}

static int on_body(const char *data, size_t len, void *arg)
{
    struct kube_lease_req *r = arg;

    return buf_add(&r->body, data, len) ? -1 : 0;
}

static void copy(char *dst, size_t size, json_t *v)
{
    snprintf(dst, size, "%s", json_string_value(v) ? json_string_value(v) : "");
}

static void on_done(long http, int err, const char *msg, void *arg)
{
    struct kube_lease_req *r = arg;
    json_t *j = r->body.ptr ? json_loadb(r->body.ptr, r->body.len, 0, NULL) : NULL;
    struct kube_lease l;

    r->req = NULL;
    if (err || http < 200 || http > 299) {
        const char *why = json_string_value(json_object_get(j, "message"));

        r->done(r, err ? 0 : http, NULL, err ? msg : why ? why : "unexpected status", r->arg);
    } else {
        json_t *spec = json_object_get(j, "spec");
        json_int_t d = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
        json_int_t t = json_integer_value(json_object_get(spec, "leaseTransitions"));

        memset(&l, 0, sizeof(l));
        copy(l.holder, sizeof(l.holder), json_object_get(spec, "holderIdentity"));
        copy(l.renew, sizeof(l.renew), json_object_get(spec, "renewTime"));
        copy(l.acquire, sizeof(l.acquire), json_object_get(spec, "acquireTime"));
        copy(l.rv, sizeof(l.rv), json_object_get(json_object_get(j, "metadata"),
                                                 "resourceVersion"));
        l.duration_s = d > 0 && d < 86400 ? (uint32_t)d : 0;
        l.transitions = t > 0 && t < INT32_MAX ? (uint32_t)t : 0;
        r->done(r, http, &l, NULL, r->arg);
    }
    json_decref(j);
    lease_free(r);
}

static struct kube_lease_req *lease_new(kube_lease_fn *done, void *arg)
{
    struct kube_lease_req *r = xcalloc(1, sizeof(*r));

    buf_init(&r->body, LEASE_MAX_BODY);
    r->done = done;
    r->arg = arg;
    return r;
}

struct kube_lease_req *kube_lease_get(struct kube_client *c, const char *ns, const char *name,
                                      kube_lease_fn *done, void *arg)
{
    struct kube_lease_req *r = lease_new(done, arg);
    char *path = xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns, name);

    r->req = kube_get(c, path, false, on_body, on_done, r);
    free(path);
    return r;
}

/* Now as a MicroTime: "2006-01-02T15:04:05.000000Z". */
static void micro_time(char *out, size_t size)
{
    struct timeval tv;
    struct tm tm;
    char sec[32];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%06ldZ", sec, (long)tv.tv_usec);
}

struct kube_lease_req *kube_lease_put(struct kube_client *c, const char *ns, const char *name,
                                      const struct kube_lease *l, bool acquired,
                                      kube_lease_fn *done, void *arg)
{
    struct kube_lease_req *r = lease_new(done, arg);
    json_t *meta = json_pack("{s:s,s:s}", "name", name, "namespace", ns), *spec, *obj;
    char now[40], *path, *body;

    micro_time(now, sizeof(now));
    if (*l->rv)
        json_object_set_new(meta, "resourceVersion", json_string(l->rv));
    spec = json_pack("{s:s,s:i,s:s,s:i}", "holderIdentity", l->holder, "leaseDurationSeconds",
                     (int)l->duration_s, "renewTime", now, "leaseTransitions",
                     (int)l->transitions);
    if (acquired || *l->acquire)
        json_object_set_new(spec, "acquireTime", json_string(acquired ? now : l->acquire));
    obj = json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
                    "metadata", meta, "spec", spec);
    body = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!body)
        abort();
    if (*l->rv)
        path = xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns, name);
    else
        path = xasprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases", ns);
    r->req = kube_send(c, *l->rv ? "PUT" : "POST", path, "application/json", body, on_body,
                       on_done, r);
    free(path);
    free(body);
    return r;
}
