/* SPDX-License-Identifier: Apache-2.0 */
/* Warning Events (cluster mode) on the objects Portico rejects or cannot
 * fully serve: one when a problem appears (the passes log each problem once,
 * and only its appearance is queued here), sent by the replica that writes
 * Ingress status, at most EVENTS_PER_S a second after a burst. */
#include "ctl/ctl-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/event.h"
#include "store/objects.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define EVENTS_PER_S 5
#define EVENTS_BURST 20
#define EVENTS_QUEUE 256   /* past this, problems are only logged */
#define EVENTS_MSG_MAX 1024

struct queued {
    enum k8s_kind kind;
    char *ns, *name;
    const char *reason;    /* static */
    char *msg;
};

struct events {
    struct ctl *c;
    struct queued q[EVENTS_QUEUE];
    size_t head, n;
    double tokens;         /* token bucket: EVENTS_BURST at most */
    uint64_t refilled;     /* loop time of the last refill */
    struct kube_event *sending;
    uv_timer_t timer;
    const char *instance;  /* reportingInstance: $POD_NAME, or "portico" */
};

static void queued_free(struct queued *q)
{
    free(q->ns);
    free(q->name);
    free(q->msg);
}

static void send_next(struct events *ev);

static void on_timer(uv_timer_t *t)
{
    send_next(t->data);
}

static void on_sent(struct kube_event *e, long http, const char *msg, void *arg)
{
    struct events *ev = arg;

    (void)e;
    ev->sending = NULL;
    if (http >= 200 && http < 300) {
        ev->c->m_events[1]++;
    } else {
        ev->c->m_events[0]++;
        log_debug("events", "event not recorded (HTTP %ld: %s)", http, msg);
    }
    send_next(ev);
}

static void send_next(struct events *ev)
{
    uint64_t now = uv_now(ev->c->loop);
    struct queued *q;

    ev->tokens += (double)(now - ev->refilled) * EVENTS_PER_S / 1000.0;
    if (ev->tokens > EVENTS_BURST)
        ev->tokens = EVENTS_BURST;
    ev->refilled = now;
    if (ev->sending || !ev->n)
        return;
    if (ev->tokens < 1) {
        uv_timer_start(&ev->timer, on_timer,
                       (uint64_t)((1 - ev->tokens) * 1000 / EVENTS_PER_S) + 1, 0);
        return;
    }
    ev->tokens -= 1;
    q = &ev->q[ev->head];
    ev->head = (ev->head + 1) % EVENTS_QUEUE;
    ev->n--;
    ev->sending = kube_event_post(ev->c->kube, q->kind, q->ns, q->name, q->reason, q->msg,
                                  ev->instance, on_sent, ev);
    queued_free(q);
}

void ctl_event_add(struct ctl *c, const struct model_issue *is)
{
    struct events *ev = c->events;
    const char *slash, *rest;
    struct queued *q;
    enum k8s_kind kind;
    char msg[EVENTS_MSG_MAX];

    if (!ev || !c->leading)
        return;
    if (ev->n == EVENTS_QUEUE) {
        c->m_events_dropped++;
        return;
    }
    /* "kind/ns/name", or "kind/name" for a cluster-scoped object */
    slash = strchr(is->obj, '/');
    if (!slash)
        return;
    for (kind = 0; kind < K8S_KIND_COUNT; kind++) {
        if (strlen(k8s_kind_name(kind)) == (size_t)(slash - is->obj) &&
            !strncmp(is->obj, k8s_kind_name(kind), (size_t)(slash - is->obj)))
            break;
    }
    if (kind == K8S_KIND_COUNT)
        return;
    q = &ev->q[(ev->head + ev->n++) % EVENTS_QUEUE];
    rest = strchr(slash + 1, '/');
    q->kind = kind;
    q->ns = rest ? xstrndup(slash + 1, (size_t)(rest - slash - 1)) : xstrdup("");
    q->name = xstrdup(rest ? rest + 1 : slash + 1);
    q->reason = is->sev == MODEL_SEV_ERROR ? "Rejected" : "Incomplete";
    snprintf(msg, sizeof(msg), "%s%s%s", is->field, *is->field ? ": " : "", is->msg);
    q->msg = xstrdup(msg);
    send_next(ev);
}

void ctl_events_start(struct ctl *c)
{
    struct events *ev = xcalloc(1, sizeof(*ev));
    const char *pod = getenv("POD_NAME");

    ev->c = c;
    ev->instance = pod && *pod ? pod : "portico";
    ev->tokens = EVENTS_BURST;
    ev->refilled = uv_now(c->loop);
    uv_timer_init(c->loop, &ev->timer);
    ev->timer.data = ev;
    c->events = ev;
}

static void events_closed(uv_handle_t *h)
{
    struct events *ev = h->data;

    while (ev->n) {
        queued_free(&ev->q[ev->head]);
        ev->head = (ev->head + 1) % EVENTS_QUEUE;
        ev->n--;
    }
    free(ev);
}

void ctl_events_stop(struct ctl *c)
{
    struct events *ev = c->events;

    if (!ev)
        return;
    c->events = NULL;
    kube_event_cancel(ev->sending);
    ev->sending = NULL;
    uv_close((uv_handle_t *)&ev->timer, events_closed);
}
