/* SPDX-License-Identifier: Apache-2.0 */
/* Cluster mode: the informers that fill the store from the API server, the
 * service account token, and Secret data read again when a build needs it. */
#include "ctl/ctl-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/client.h"
#include "kube/fetch.h"
#include "kube/watch.h"
#include "model/tls.h"
#include "store/objects.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ====== Secret data ======
 *
 * In cluster mode Secrets are kept without their certificate and key: before
 * each build, those Ingresses name are parsed into the certificate cache and
 * the data of all dropped (ctl_drop_secret_data()); builds use the cache. When a
 * build needs a Secret the cache does not have, its data is read again by GET
 * and the build waits for it (a new Ingress naming a Secret that was there
 * before). The Secrets an auth-secret annotation or client-ca names keep
 * their data: every build reads their users or CA certificates. */

#define FETCH_RETRY_MS 30000

static void on_secret_fetched(struct kube_fetch *f, struct k8s_obj *obj, long http,
                              const char *msg, void *arg)
{
    struct ctl *c = arg;
    const char *key;
    void *v;

    for (size_t i = 0; hmap_next(&c->fetching, &i, &key, &v);) {
        if (v != f)
            continue;
        if (obj && obj->kind == K8S_SECRET) {
            log_debug("kube", "Secret %s read again", key);
            store_put(&c->store, obj);
        } else {
            log_warn("kube", "cannot read Secret %s (HTTP %ld: %s); its Ingresses get the default "
                             "certificate until it changes or 30 s pass",
                     key, http, msg ? msg : "not a Secret");
            hmap_put(&c->fetch_retry, key, (void *)(uintptr_t)(uv_now(c->loop) + FETCH_RETRY_MS));
            k8s_obj_free(obj);
        }
        hmap_del(&c->fetching, key);
        break;
    }
    ctl_schedule(c);
}

/* Starts reading the data the build <m> missed; true when the pass must
 * wait for it. A Secret whose read failed recently is not waited for. */
bool ctl_fetch_wanted_secrets(struct ctl *c, const struct model *m)
{
    bool wait = false;

    for (size_t i = 0; i < m->n_wanted; i++) {
        const char *key = m->wanted[i], *slash = strchr(key, '/');
        uintptr_t retry = (uintptr_t)hmap_get(&c->fetch_retry, key);
        char *path;

        if (!slash || (retry && uv_now(c->loop) < retry))
            continue;
        wait = true;
        if (hmap_get(&c->fetching, key))
            continue;
        path = xasprintf("/api/v1/namespaces/%.*s/secrets/%s", (int)(slash - key), key,
                         slash + 1);
        hmap_put(&c->fetching, key, kube_fetch(c->kube, path, on_secret_fetched, c));
        c->m_secret_fetches++;
        free(path);
    }
    return wait;
}

/* Before a build, parses the Secrets that Ingresses or flags name into the
 * certificate cache and drops the data of every Secret: the build finds the
 * parsed form there, and the others are read again if a later build names
 * them. One at a time, so that a certificate is never held twice for long
 * (its data beside its parsed form was 0.7 MB at 1,000 Secrets). */
void ctl_drop_secret_data(struct ctl *c)
{
    const struct k8s_obj **secrets;
    size_t n = store_list_unsorted(&c->store, K8S_SECRET, &secrets), dropped = 0, i = 0;
    struct hmap refs;

    /* most passes find no data: they need not look at the Ingresses */
    while (i < n && !k8s_secret_holds_data((const struct k8s_secret *)secrets[i]))
        i++;
    if (i == n) {
        free(secrets);
        return;
    }
    hmap_init(&refs);
    model_secret_refs(&c->store, &c->mopts, &refs);
    for (i = 0; i < n; i++) {
        const struct k8s_secret *s = (const struct k8s_secret *)secrets[i];

        void *ref = hmap_get(&refs, s->obj.meta.key);

        /* users and client CAs are read by every build, from the Secret */
        if (ref == MODEL_REF_DATA)
            continue;
        if (ref)
            model_parse_secret(&c->mopts, s);
        dropped += store_drop_data(&c->store, s);
    }
    free(secrets);
    hmap_deinit(&refs);
    if (dropped)
        log_debug("ctl", "dropped the data of %zu Secrets", dropped);
}

void ctl_drop_cert_data(struct ctl *c, const struct model *was, const struct model *now)
{
    char ns[MODEL_NAME_MAX], name[MODEL_NAME_MAX];

    for (size_t i = 0; i < now->n_certs; i++) {
        const struct k8s_secret *s;

        /* model_recert() changes a copy of the array, in place */
        if (now->certs[i].tls == was->certs[i].tls || !model_cert_secret(&now->certs[i], ns, name))
            continue;
        s = (const struct k8s_secret *)store_get(&c->store, K8S_SECRET, ns, name);
        if (s && k8s_secret_holds_data(s))
            store_drop_data(&c->store, s);
    }
}

/* ====== Cluster mode ====== */

/* A store change: a pass, unless it is to Services, Secrets or EndpointSlices
 * the last build did not look up, which would build the same model (a
 * cluster's other workloads). */
static void on_informer_changed(struct informer *inf, const uint64_t *lookups, size_t n,
                                void *arg)
{
    struct ctl *c = arg;
    bool used = !lookups || !c->lookups_known;

    for (size_t i = 0; !used && i < n; i++)
        used = model_looks_up(&c->lookups, lookups[i]);
    if (!used) {
        c->m_unused_changes++;
        return;
    }
    if (lookups && informer_kind(inf) == K8S_ENDPOINT_SLICE)
        ctl_schedule_endpoints(c, lookups, n);
    else if (lookups && informer_kind(inf) == K8S_SECRET)
        ctl_schedule_secrets(c, lookups, n);
    else if (informer_kind(inf) == K8S_INGRESS)
        ctl_schedule_routes(c);
    else
        ctl_schedule(c);
}

static void on_informer_synced(struct informer *inf, void *arg)
{
    struct ctl *c = arg;

    log_info("kube", "%s: initial list complete", informer_name(inf));
    if (++c->n_synced < c->n_informers)
        return;
    log_info("kube", "every resource listed: %zu ingresses, %zu services, %zu endpointslices",
             store_count(&c->store, K8S_INGRESS), store_count(&c->store, K8S_SERVICE),
             store_count(&c->store, K8S_ENDPOINT_SLICE));
    c->synced = true;
    ctl_schedule(c);
}

static void on_token_timer(uv_timer_t *t)
{
    struct ctl *c = t->data;
    char *err = NULL;

    /* bound service account tokens rotate about hourly */
    if (kube_config_reload_token(&c->kc, &err)) {
        log_warn("kube", "%s; keeping the previous token", err);
        free(err);
    }
}

/* What Portico lists and watches; namespaced resources can be limited to
 * the whitelisted namespaces. */
static const struct {
    enum k8s_kind kind;
    const char *api_version;
    const char *kind_name;
    const char *prefix;   /* "/api/v1" or "/apis/<group>/<version>" */
    const char *resource; /* plural */
    bool namespaced;
    const char *selector; /* fieldSelector, URL-encoded */
    bool optional;        /* Portico serves without it, when refused */
} watched[] = {
    {K8S_INGRESS_CLASS, "networking.k8s.io/v1", "IngressClass", "/apis/networking.k8s.io/v1",
     "ingressclasses", false, NULL, false},
    {K8S_INGRESS, "networking.k8s.io/v1", "Ingress", "/apis/networking.k8s.io/v1", "ingresses",
     true, NULL, false},
    {K8S_SERVICE, "v1", "Service", "/api/v1", "services", true, NULL, false},
    {K8S_ENDPOINT_SLICE, "discovery.k8s.io/v1", "EndpointSlice", "/apis/discovery.k8s.io/v1",
     "endpointslices", true, NULL, false},
    /* every type: basic authentication reads Opaque ones; decoding keeps
     * next to nothing of the others, and the data of those no Ingress
     * names is dropped before each build */
    {K8S_SECRET, "v1", "Secret", "/api/v1", "secrets", true, NULL, false},
    /* which are being deleted: their Ingresses win no conflict; a role of
     * an older version, without this permission, still serves */
    {K8S_NAMESPACE, "v1", "Namespace", "/api/v1", "namespaces", false, NULL, true},
};

static void add_informer(struct ctl *c, const struct informer_spec *spec)
{
    struct informer_spec *own = xcalloc(1, sizeof(*own));

    /* the informer borrows the spec's strings: keep them with the controller */
    *own = *spec;
    own->path = xstrdup(spec->path);
    own->selector = spec->selector ? xstrdup(spec->selector) : NULL;
    own->ns = spec->ns ? xstrdup(spec->ns) : NULL;
    own->name = spec->name ? xstrdup(spec->name) : NULL;
    c->specs = xrealloc(c->specs, (c->n_informers + 1) * sizeof(*c->specs));
    c->specs[c->n_informers] = own;
    c->informers = xrealloc(c->informers, (c->n_informers + 1) * sizeof(*c->informers));
    c->informers[c->n_informers++] = informer_start(c->loop, c->kube, &c->store, own,
                                                    on_informer_changed, on_informer_synced, c);
}

/* One ConfigMap, <ref> "ns/name" (checked by the flag's parser), or none:
 * a list and watch of its name alone, so that a relist replaces only it. */
static void watch_configmap(struct ctl *c, const char *ref, unsigned watch_s)
{
    struct informer_spec cm = {K8S_CONFIGMAP, "v1", "ConfigMap", NULL, NULL, NULL, NULL, NULL,
                               watch_s, false};
    const char *slash;
    char *ns;

    if (!ref)
        return;
    slash = strchr(ref, '/');
    ns = xstrndup(ref, (size_t)(slash - ref));
    cm.path = xasprintf("/api/v1/namespaces/%s/configmaps", ns);
    cm.selector = xasprintf("metadata.name%%3D%s", slash + 1);
    cm.ns = ns;
    cm.name = slash + 1;
    add_informer(c, &cm);
    free((char *)cm.path);
    free((char *)cm.selector);
    free(ns);
}

/* PORTICO_WATCH_TIMEOUT=SECONDS: every watch's timeout (normally 300 to 600 s
 * at random), so that tests see a stalled stream detected in seconds. */
static unsigned watch_timeout_from_env(void)
{
    const char *v = getenv("PORTICO_WATCH_TIMEOUT");
    uint32_t s;

    if (!v)
        return 0;
    if (str_to_u32(v, 1, 3600, &s)) {
        log_warn("kube", "PORTICO_WATCH_TIMEOUT=%s: want seconds from 1 to 3600; ignored", v);
        return 0;
    }
    return s;
}

int ctl_cluster_start(struct ctl *c, const struct opts *o)
{
    unsigned watch_s = watch_timeout_from_env();
    char *err = NULL;

    if (kube_config_load(&c->kc, o->kubeconfig, o->context, &err)) {
        log_err("kube", "%s", err);
        free(err);
        return -EINVAL;
    }
    log_info("kube", "cluster mode: API server %s (%s)", c->kc.server, c->kc.source);
    /* an Ingress as it was, for a pass that builds again its hosts' routes alone */
    store_track(&c->store, K8S_INGRESS);
    c->kube = kube_client_new(c->loop, &c->kc, &err);
    if (!c->kube) {
        log_err("kube", "%s", err);
        free(err);
        return -EINVAL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(watched); i++) {
        struct informer_spec spec = {watched[i].kind, watched[i].api_version,
                                     watched[i].kind_name, NULL, watched[i].selector, NULL,
                                     NULL, o->ns_blacklist.v, watch_s, watched[i].optional};
        char *path;

        if (!watched[i].namespaced || !o->ns_whitelist.n) {
            path = xasprintf("%s/%s", watched[i].prefix, watched[i].resource);
            spec.path = path;
            add_informer(c, &spec);
            free(path);
            continue;
        }
        for (size_t n = 0; n < o->ns_whitelist.n; n++) {
            path = xasprintf("%s/namespaces/%s/%s", watched[i].prefix, o->ns_whitelist.v[n],
                             watched[i].resource);
            spec.path = path;
            spec.ns = o->ns_whitelist.v[n];
            add_informer(c, &spec);
            free(path);
        }
    }
    watch_configmap(c, o->configmap, watch_s);
    watch_configmap(c, o->configmap_tcp_services, watch_s);
    watch_configmap(c, o->configmap_errorfiles, watch_s);
    if (c->kc.token_file) {
        uv_timer_init(c->loop, &c->token_timer);
        c->token_timer.data = c;
        uv_timer_start(&c->token_timer, on_token_timer, 60000, 60000);
    }
    if (ctl_leader_start(c))
        return -EINVAL;
    ctl_status_start(c);
    ctl_events_start(c);
    return 0;
}

void ctl_cluster_stop(struct ctl *c)
{
    void *v;

    ctl_status_stop(c);
    ctl_events_stop(c);
    ctl_leader_stop(c);
    for (size_t i = 0; hmap_next(&c->fetching, &i, NULL, &v);)
        kube_fetch_cancel(v);
    hmap_deinit(&c->fetching);
    hmap_deinit(&c->fetch_retry);
    for (size_t i = 0; i < c->n_informers; i++) {
        informer_stop(c->informers[i]);
        free((char *)c->specs[i]->path);
        free((char *)c->specs[i]->selector);
        free((char *)c->specs[i]->ns);
        free((char *)c->specs[i]->name);
        free(c->specs[i]);
    }
    FREE_NULL(c->informers);
    FREE_NULL(c->specs);
    c->n_informers = 0;
}

void ctl_cluster_free(struct ctl *c)
{
    ctl_cluster_stop(c);
    kube_client_free(c->kube);
    c->kube = NULL;
}

