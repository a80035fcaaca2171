/* SPDX-License-Identifier: Apache-2.0 */
/* A coordination.k8s.io/v1 Lease read and written through the API, for
 * leader election. */
#ifndef SRC_KUBE_LEASE_H
#define SRC_KUBE_LEASE_H
#include <stdint.h>

#include "kube/client.h"

/* What a Lease says, as leader election reads and writes it. */
struct kube_lease {
    char holder[256];          /* spec.holderIdentity, "" when none */
    char renew[40];            /* spec.renewTime as the API wrote it, "" when none */
    char acquire[40];          /* spec.acquireTime, kept by a renewal */
    char rv[64];               /* metadata.resourceVersion, for an update */
    uint32_t duration_s;       /* spec.leaseDurationSeconds */
    uint32_t transitions;      /* spec.leaseTransitions */
};

struct kube_lease_req;

/* Called once: <http> (0 without an answer), and for a read or a write
 * that succeeded, the Lease as the API server has it now (borrowed). */
typedef void kube_lease_fn(struct kube_lease_req *r, long http, const struct kube_lease *l,
                           const char *msg, void *arg);

/* GETs Lease <ns>/<name>. */
struct kube_lease_req *kube_lease_get(struct kube_client *c, const char *ns, const char *name,
                                      kube_lease_fn *done, void *arg);
/* Writes Lease <ns>/<name> held by l->holder, renewed now (and acquired now
 * when <acquired>): created when l->rv is "", else replaced at that
 * resourceVersion, so that of two replicas writing at once one fails (409). */
struct kube_lease_req *kube_lease_put(struct kube_client *c, const char *ns, const char *name,
                                      const struct kube_lease *l, bool acquired,
                                      kube_lease_fn *done, void *arg);
/* Stops <r> without calling its <done>. */
void kube_lease_cancel(struct kube_lease_req *r);
#endif
