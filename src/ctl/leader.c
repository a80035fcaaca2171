/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election (--leader-elect) with a coordination.k8s.io Lease, as
 * client-go's leaderelection does it: every replica reads the Lease every
 * LEADER_RETRY_MS; the holder renews it, the others take it over once it
 * has not changed for its duration (by their own clocks, never comparing
 * times written by another machine). Only the leader writes Ingress status;
 * every replica serves. The leader gives the Lease up when it stops. */
#include "ctl/ctl-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/lease.h"
#include "model/validate.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define LEADER_DURATION_S 15
#define LEADER_RENEW_DEADLINE_MS 10000 /* a leader that cannot renew for this long steps down */
#define LEADER_RETRY_MS 2000

struct leader {
    struct ctl *c;
    char *ns;
    const char *id;             /* borrowed: POD_NAME */
    struct kube_lease_req *req; /* in flight, or NULL */
    struct kube_lease seen;     /* the Lease as last read */
    uint64_t seen_at;           /* loop time its holder or renewal last changed */
    uint64_t renewed_at;        /* loop time we last renewed it */
    uv_timer_t timer;
    bool released;              /* given up: no more writes */
};

static void step_down(struct leader *l, const char *why)
{
    if (!l->c->leading)
        return;
    l->c->leading = false;
    log_warn("leader", "no longer the leader (%s); Ingress status is left to the new one", why);
}

static void on_written(struct kube_lease_req *r, long http, const struct kube_lease *lease,
                       const char *msg, void *arg)
{
    struct leader *l = arg;
    uint64_t now = uv_now(l->c->loop);

    (void)r;
    l->req = NULL;
    if (l->released)
        return;
    if (!lease) {
        log_debug("leader", "lease %s/%s not written (HTTP %ld: %s)", l->ns,
                  l->c->opts->election_id, http, msg);
        if (now - l->renewed_at > LEADER_RENEW_DEADLINE_MS)
            step_down(l, "the lease could not be renewed");
        return;
    }
    l->seen = *lease;
    l->seen_at = now;
    l->renewed_at = now;
    if (!l->c->leading) {
        l->c->leading = true;
        log_info("leader", "%s is the leader (lease %s/%s); it writes Ingress status", l->id,
                 l->ns, l->c->opts->election_id);
        ctl_status_sync(l->c);
        ctl_events_replay(l->c);
    }
}

static void write_lease(struct leader *l, const struct kube_lease *base, bool acquired)
{
    struct kube_lease w = *base;

    snprintf(w.holder, sizeof(w.holder), "%s", l->id);
    w.duration_s = LEADER_DURATION_S;
    if (acquired && *base->rv)
        w.transitions = base->transitions + 1;
    l->req = kube_lease_put(l->c->kube, l->ns, l->c->opts->election_id, &w, acquired, on_written,
                            l);
}

static void on_read(struct kube_lease_req *r, long http, const struct kube_lease *lease,
                    const char *msg, void *arg)
{
    struct leader *l = arg;
    uint64_t now = uv_now(l->c->loop);
    struct kube_lease none;

    (void)r;
    l->req = NULL;
    if (l->released)
        return;
    if (http == 404) {
        memset(&none, 0, sizeof(none));
        write_lease(l, &none, true);
        return;
    }
    if (!lease) {
        log_debug("leader", "lease %s/%s not read (HTTP %ld: %s)", l->ns, l->c->opts->election_id,
                  http, msg);
        if (l->c->leading && now - l->renewed_at > LEADER_RENEW_DEADLINE_MS)
            step_down(l, "the lease could not be read");
        return;
    }
    if (strcmp(lease->holder, l->seen.holder) || strcmp(lease->renew, l->seen.renew)) {
        l->seen = *lease;
        l->seen_at = now;
    }
    if (!strcmp(lease->holder, l->id)) {
        write_lease(l, lease, false); /* renew */
        return;
    }
    step_down(l, "another replica holds the lease");
    if (!*lease->holder ||
        now - l->seen_at > (uint64_t)(lease->duration_s ? lease->duration_s : LEADER_DURATION_S) *
                               1000)
        write_lease(l, lease, true); /* released, or expired: take it */
}

static void on_tick(uv_timer_t *t)
{
    struct leader *l = t->data;

    if (!l->req && !l->released)
        l->req = kube_lease_get(l->c->kube, l->ns, l->c->opts->election_id, on_read, l);
}

int ctl_leader_start(struct ctl *c)
{
    const char *id = getenv("POD_NAME"), *ns = getenv("POD_NAMESPACE");
    struct leader *l;

    if (!c->opts->leader_elect) {
        c->leading = true; /* every replica writes */
        return 0;
    }
    if (!id || !*id || !ns || !*ns) {
        log_err("leader", "--leader-elect needs POD_NAME and POD_NAMESPACE (the downward API in "
                          "a pod; set them by hand out of cluster)");
        return -EINVAL;
    }
    if (!valid_dns_label(ns) || strlen(id) >= sizeof(l->seen.holder) ||
        !valid_dns_subdomain(c->opts->election_id)) {
        log_err("leader", "--leader-elect: POD_NAMESPACE \"%s\" must be a namespace name, "
                          "POD_NAME at most 255 bytes, --election-id \"%s\" a Lease name",
                ns, c->opts->election_id);
        return -EINVAL;
    }
    l = xcalloc(1, sizeof(*l));
    l->c = c;
    l->id = id;
    l->ns = xstrdup(ns);
    uv_timer_init(c->loop, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, on_tick, 0, LEADER_RETRY_MS);
    c->leader = l;
    return 0;
}

static void on_released(struct kube_lease_req *r, long http, const struct kube_lease *lease,
                        const char *msg, void *arg)
{
    (void)r;
    (void)arg;
    if (lease)
        log_info("leader", "lease released");
    else
        log_warn("leader", "lease not released (HTTP %ld: %s); another replica takes it over "
                           "once it expires",
                 http, msg);
}

static void leader_closed(uv_handle_t *h)
{
    struct leader *l = h->data;

    free(l->ns);
    free(l);
}

void ctl_leader_stop(struct ctl *c)
{
    struct leader *l = c->leader;
    bool leading = c->leading;

    if (!l)
        return;
    c->leader = NULL;
    c->leading = false;
    l->released = true;
    kube_lease_cancel(l->req);
    l->req = NULL;
    if (leading && c->kube) {
        struct kube_lease w = l->seen;

        /* an empty holder: the next replica to read it takes it at once;
         * the request frees itself, and needs nothing of <l> */
        w.holder[0] = '\0';
        w.duration_s = 1;
        kube_lease_put(c->kube, l->ns, c->opts->election_id, &w, false, on_released, NULL);
    }
    uv_close((uv_handle_t *)&l->timer, leader_closed);
}
