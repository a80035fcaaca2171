/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes Events (core/v1) about the objects Portico reads. */
#ifndef SRC_KUBE_EVENT_H
#define SRC_KUBE_EVENT_H
#include "kube/client.h"
#include "store/objects-t.h"

struct kube_event;

/* Called once: <http> of the last request (0 without an answer); 2xx when
 * the Event was created. */
typedef void kube_event_fn(struct kube_event *e, long http, const char *msg, void *arg);

/* Records a Warning Event with <reason> and <message> on the object of
 * <kind> <ns>/<name> (<ns> "" for a cluster-scoped one): the object is read
 * first for its uid, which `kubectl describe` needs to find the Event. */
struct kube_event *kube_event_post(struct kube_client *c, enum k8s_kind kind, const char *ns,
                                   const char *name, const char *reason, const char *message,
                                   const char *instance, kube_event_fn *done, void *arg);
/* Stops <e> without calling its <done>. */
void kube_event_cancel(struct kube_event *e);
#endif
