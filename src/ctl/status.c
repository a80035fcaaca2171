/* SPDX-License-Identifier: Apache-2.0 */
/* Ingress status (cluster mode): --publish-address, or the addresses of
 * --publish-service, written into status.loadBalancer.ingress of the
 * Ingresses Portico serves, and cleared from those it stops serving. The
 * store keeps a hash of each Ingress's status: only those that differ are
 * written, a few at a time. */
#include "ctl/ctl-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "kube/lbstatus.h"
#include "store/objects.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define STATUS_REFRESH_MS 10000 /* the Service read again, failed writes retried */
#define STATUS_MAX_WRITES 16    /* in flight at once */
#define STATUS_MAX_ADDRS 64

struct status {
    struct ctl *c;
    struct k8s_lb_addr want[STATUS_MAX_ADDRS]; /* what to publish */
    char *strings[2 * STATUS_MAX_ADDRS];       /* its strings */
    size_t n_want;
    uint32_t want_hash;        /* k8s_lb_hash(want), 0 until known */
    struct kube_lb *reading;   /* the --publish-service Service, being read */
    struct hmap writing;       /* "ns/name" -> struct write in flight */
    struct hmap written;       /* "ns/name" -> the hash written + 1, until the store has it */
    uv_timer_t timer;
    bool failed_logged;        /* a write failed since the last refresh, and was logged */
};

/* One write in flight: what it sets, for its answer. */
struct write {
    struct status *st;
    struct kube_lb *lb;
    char *key;
    uint32_t hash;
};

static void set_want(struct status *st, const struct k8s_lb_addr *a, size_t n)
{
    for (size_t i = 0; i < 2 * st->n_want; i++)
        FREE_NULL(st->strings[i]);
    st->n_want = n < STATUS_MAX_ADDRS ? n : STATUS_MAX_ADDRS;
    for (size_t i = 0; i < st->n_want; i++) {
        st->want[i].ip = st->strings[2 * i] = xstrdup(a[i].ip);
        st->want[i].hostname = st->strings[2 * i + 1] = xstrdup(a[i].hostname);
    }
    st->want_hash = k8s_lb_hash(st->want, st->n_want);
}

static void on_written(struct kube_lb *l, long http, const struct k8s_lb_addr *a, size_t n,
                       const char *msg, void *arg)
{
    struct write *w = arg;
    struct status *st = w->st;

    (void)a;
    (void)n;
    hmap_del(&st->writing, w->key);
    /* until the store has it; a failed one not again before the next refresh */
    hmap_put(&st->written, w->key, (void *)((uintptr_t)w->hash + 1));
    if (http >= 200 && http < 300) {
        log_debug("status", "ingress %s: status %s", w->key, w->hash ? "written" : "cleared");
    } else {
        if (!st->failed_logged)
            log_warn("status", "cannot write the status of ingress %s (HTTP %ld: %s); Portico "
                               "needs patch on ingresses/status; retrying every %d s",
                     w->key, http, msg ? msg : "", STATUS_REFRESH_MS / 1000);
        st->failed_logged = true;
    }
    (void)l;
    free(w->key);
    free(w);
    ctl_status_sync(st->c);
}

static void write_status(struct status *st, const struct k8s_ingress *ing, uint32_t hash)
{
    struct write *w = xcalloc(1, sizeof(*w));
    const char *key = ing->obj.meta.key;

    w->st = st;
    w->key = xstrdup(key);
    w->hash = hash;
    hmap_put(&st->writing, key, w);
    w->lb = kube_ingress_lb_set(st->c->kube, ing->obj.meta.ns, k8s_name(&ing->obj.meta),
                                st->want, hash ? st->n_want : 0, on_written, w);
}

void ctl_status_sync(struct ctl *c)
{
    struct status *st = c->status;
    const struct k8s_obj **all;
    size_t n;

    if (!st || !st->want_hash || !c->synced || c->stopping || !c->leading)
        return;
    n = store_list_unsorted(&c->store, K8S_INGRESS, &all);
    for (size_t i = 0; i < n && st->writing.used < STATUS_MAX_WRITES; i++) {
        const struct k8s_ingress *ing = (const struct k8s_ingress *)all[i];
        const char *key = ing->obj.meta.key;
        bool ours = model_owns_ingress(&c->store, &c->mopts, ing);
        uintptr_t sent = (uintptr_t)hmap_get(&st->written, key); /* hash + 1, or 0 */
        uint32_t target;

        /* an Ingress not ours keeps its status, unless it is what we publish */
        if (!ours && ing->lb_status != st->want_hash)
            continue;
        target = ours ? st->want_hash : 0;
        if (ing->lb_status == target) {
            if (sent)
                hmap_del(&st->written, key);
            continue;
        }
        if (hmap_get(&st->writing, key) || sent == (uintptr_t)target + 1)
            continue;
        write_status(st, ing, target);
    }
    free(all);
}

static void on_service(struct kube_lb *l, long http, const struct k8s_lb_addr *a, size_t n,
                       const char *msg, void *arg)
{
    struct status *st = arg;
    const char *svc = st->c->opts->publish_service;

    (void)l;
    st->reading = NULL;
    if (http < 200 || http > 299) {
        log_warn("status", "cannot read service %s for Ingress status (HTTP %ld: %s)", svc, http,
                 msg ? msg : "");
        return;
    }
    if (!n) {
        log_warn("status", "service %s has no address yet; Ingress status unchanged", svc);
        return;
    }
    if (k8s_lb_hash(a, n) != st->want_hash) {
        set_want(st, a, n);
        log_info("status", "publishing %s%s%s in Ingress status (service %s)", a[0].ip,
                 a[0].hostname, n > 1 ? " and more" : "", svc);
    }
    ctl_status_sync(st->c);
}

static void refresh(struct status *st)
{
    const char *svc = st->c->opts->publish_service;
    const char *key;

    /* failed writes may be tried again */
    for (size_t i = 0; hmap_next(&st->written, &i, &key, NULL);)
        hmap_del(&st->written, key);
    st->failed_logged = false;
    if (svc && !st->reading) {
        const char *slash = strchr(svc, '/');
        char *ns = xstrndup(svc, (size_t)(slash - svc));

        st->reading = kube_service_lb(st->c->kube, ns, slash + 1, on_service, st);
        free(ns);
        return;
    }
    ctl_status_sync(st->c);
}

static void on_refresh(uv_timer_t *t)
{
    refresh(t->data);
}

void ctl_status_start(struct ctl *c)
{
    const struct opts *o = c->opts;
    struct status *st;

    if (!c->kube || o->disable_status || (!o->publish_service && !o->publish_address))
        return;
    st = xcalloc(1, sizeof(*st));
    st->c = c;
    hmap_init(&st->writing);
    hmap_init(&st->written);
    if (!o->publish_service) {
        unsigned char bin[16];
        bool ip = inet_pton(AF_INET, o->publish_address, bin) == 1 ||
                  inet_pton(AF_INET6, o->publish_address, bin) == 1;
        struct k8s_lb_addr a = {ip ? o->publish_address : "", ip ? "" : o->publish_address};

        set_want(st, &a, 1);
    }
    uv_timer_init(c->loop, &st->timer);
    st->timer.data = st;
    uv_timer_start(&st->timer, on_refresh, STATUS_REFRESH_MS, STATUS_REFRESH_MS);
    c->status = st;
    refresh(st);
}

static void status_closed(uv_handle_t *h)
{
    free(h->data);
}

void ctl_status_stop(struct ctl *c)
{
    struct status *st = c->status;
    void *v;

    if (!st)
        return;
    c->status = NULL;
    kube_lb_cancel(st->reading);
    for (size_t i = 0; hmap_next(&st->writing, &i, NULL, &v);) {
        struct write *w = v;

        kube_lb_cancel(w->lb);
        free(w->key);
        free(w);
    }
    hmap_deinit(&st->writing);
    hmap_deinit(&st->written);
    for (size_t i = 0; i < 2 * st->n_want; i++)
        free(st->strings[i]);
    uv_close((uv_handle_t *)&st->timer, status_closed);
}
