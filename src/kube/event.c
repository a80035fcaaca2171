/* SPDX-License-Identifier: Apache-2.0 */
/* Events (see event.h): GET the object for its uid, then POST the Event. */
#include "kube/event.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define EVENT_MAX_BODY (4u << 20)

static const struct {
    const char *api_version;
    const char *kind;
    const char *prefix;   /* of its API group and version */
    const char *resource; /* plural */
} kinds[K8S_KIND_COUNT] = {
    [K8S_INGRESS] = {"networking.k8s.io/v1", "Ingress", "/apis/networking.k8s.io/v1", "ingresses"},
    [K8S_INGRESS_CLASS] = {"networking.k8s.io/v1", "IngressClass", "/apis/networking.k8s.io/v1",
                           "ingressclasses"},
    [K8S_SERVICE] = {"v1", "Service", "/api/v1", "services"},
    [K8S_ENDPOINT_SLICE] = {"discovery.k8s.io/v1", "EndpointSlice", "/apis/discovery.k8s.io/v1",
                            "endpointslices"},
    [K8S_SECRET] = {"v1", "Secret", "/api/v1", "secrets"},
    [K8S_CONFIGMAP] = {"v1", "ConfigMap", "/api/v1", "configmaps"},
    [K8S_NAMESPACE] = {"v1", "Namespace", "/api/v1", "namespaces"},
};

struct kube_event {
    struct kube_client *c;
    struct kube_req *req;
    struct buf body;
    json_t *event;        /* the Event, its involvedObject's uid still to fill */
    char *ns;             /* where the Event goes */
    kube_event_fn *done;
    void *arg;
};

static void event_free(struct kube_event *e)
{
    buf_free(&e->body);
    json_decref(e->event);
    free(e->ns);
    free(e);
}

void kube_event_cancel(struct kube_event *e)
{
    if (!e)
        return;
    kube_req_cancel(e->req);
    event_free(e);
}

static int on_body(const char *data, size_t len, void *arg)
{
    struct kube_event *e = arg;

    return buf_add(&e->body, data, len) ? -1 : 0;
}

static void finish(struct kube_event *e, long http, int err, const char *msg)
{
    json_t *j = e->body.ptr ? json_loadb(e->body.ptr, e->body.len, 0, NULL) : NULL;
    const char *why = json_string_value(json_object_get(j, "message"));

    e->done(e, err ? 0 : http, err ? msg : why ? why : "", e->arg);
    json_decref(j);
    event_free(e);
}

static void on_posted(long http, int err, const char *msg, void *arg)
{
    struct kube_event *e = arg;

    e->req = NULL;
    finish(e, http, err, msg);
}

static void on_object(long http, int err, const char *msg, void *arg)
{
    struct kube_event *e = arg;
    json_t *obj;
    const char *uid;
    char *body, *path;

    e->req = NULL;
    if (err || http != 200) {
        finish(e, http, err, msg);
        return;
    }
    obj = json_loadb(e->body.ptr ? e->body.ptr : "", e->body.len, 0, NULL);
    uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    if (uid)
        json_object_set_new(json_object_get(e->event, "involvedObject"), "uid",
                            json_string(uid));
    json_decref(obj);
    buf_free(&e->body);
    buf_init(&e->body, EVENT_MAX_BODY);
    body = json_dumps(e->event, JSON_COMPACT);
    if (!body)
        abort();
    path = xasprintf("/api/v1/namespaces/%s/events", e->ns);
    e->req = kube_send(e->c, "POST", path, "application/json", body, on_body, on_posted, e);
    free(path);
    free(body);
}

/* A copy of <s> in printable ASCII: a message quotes objects, and may have
 * been cut inside a character; JSON needs valid UTF-8. Caller frees. */
static char *ascii(const char *s)
{
    char *out = xstrdup(s);

    for (char *p = out; *p; p++) {
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    }
    return out;
}

/* Now as RFC 3339 ("2006-01-02T15:04:05Z"). */
static void now_rfc3339(char *out, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct kube_event *kube_event_post(struct kube_client *c, enum k8s_kind kind, const char *ns,
                                   const char *name, const char *reason, const char *message,
                                   const char *instance, kube_event_fn *done, void *arg)
{
    struct kube_event *e = xcalloc(1, sizeof(*e));
    json_t *involved;
    char now[32], *path, *text = ascii(message), *who = ascii(instance);

    e->c = c;
    e->done = done;
    e->arg = arg;
    e->ns = xstrdup(*ns ? ns : "default");
    buf_init(&e->body, EVENT_MAX_BODY);
    now_rfc3339(now, sizeof(now));
    involved = json_pack("{s:s,s:s,s:s}", "apiVersion", kinds[kind].api_version, "kind",
                         kinds[kind].kind, "name", name);
    if (*ns)
        json_object_set_new(involved, "namespace", json_string(ns));
    e->event = json_pack("{s:s,s:s,s:{s:s,s:s},s:o,s:s,s:s,s:s,s:{s:s},s:s,s:s,s:s,s:s,s:i}",
                         "apiVersion", "v1", "kind", "Event", "metadata", "generateName",
                         "portico-", "namespace", e->ns, "involvedObject", involved, "type",
                         "Warning", "reason", reason, "message", text, "source", "component",
                         "portico", "reportingComponent", "portico.dev/ingress-controller",
                         "reportingInstance", who, "firstTimestamp", now, "lastTimestamp",
                         now, "count", 1);
    free(text);
    free(who);
    if (!e->event)
        abort(); /* names are the API's, the rest ASCII: valid UTF-8 */
    path = xasprintf("%s/%s%s%s%s/%s", kinds[kind].prefix, *ns ? "namespaces/" : "", ns,
                     *ns ? "/" : "", kinds[kind].resource, name);
    e->req = kube_get(c, path, false, on_body, on_object, e);
    free(path);
    return e;
}
