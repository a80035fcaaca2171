/* SPDX-License-Identifier: Apache-2.0 */
/* Ingress status through the API: the addresses of the Service Portico is
 * published with (--publish-service), and status.loadBalancer.ingress of an
 * Ingress written or cleared. */
#ifndef SRC_KUBE_LBSTATUS_H
#define SRC_KUBE_LBSTATUS_H
#include <jansson.h>
#include <stddef.h>

#include "kube/client.h"
#include "store/objects-t.h"

struct kube_lb;

/* Called once. <http> is the status (0 without an answer); on success
 * (2xx) <a>, <n> are the addresses (borrowed for the call; none for a
 * write), otherwise <msg> says why. */
typedef void kube_lb_fn(struct kube_lb *l, long http, const struct k8s_lb_addr *a, size_t n,
                        const char *msg, void *arg);

/* Reads Service <ns>/<name> and makes the addresses Ingresses are published
 * with, as the major controllers do: an ExternalName Service's name; a
 * LoadBalancer Service's load-balancer addresses and external IPs; another
 * type's external IPs, or else its cluster IP. The request frees itself
 * after <done>. */
struct kube_lb *kube_service_lb(struct kube_client *c, const char *ns, const char *name,
                                kube_lb_fn *done, void *arg);
/* Sets status.loadBalancer.ingress of Ingress <ns>/<name> to <a> (<n> of
 * them; none clears it) with a JSON merge patch of its status. */
struct kube_lb *kube_ingress_lb_set(struct kube_client *c, const char *ns, const char *name,
                                    const struct k8s_lb_addr *a, size_t n, kube_lb_fn *done,
                                    void *arg);
/* The addresses Service <svc> (as the API sends it) publishes Ingresses
 * with, at most <max> of them, into <a>; their strings are borrowed from
 * <svc>. Returns how many. */
size_t kube_lb_from_service(json_t *svc, struct k8s_lb_addr *a, size_t max);
/* Stops <l> without calling its <done>. */
void kube_lb_cancel(struct kube_lb *l);
#endif
