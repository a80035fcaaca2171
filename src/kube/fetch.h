/* SPDX-License-Identifier: Apache-2.0 */
/* One object read from the API server by GET, decoded like a listed one. */
#ifndef SRC_KUBE_FETCH_H
#define SRC_KUBE_FETCH_H
#include "kube/client.h"
#include "store/objects-t.h"

struct kube_fetch;

/* Called once: <obj> (the caller owns it) or NULL with the HTTP status
 * (0 without a response) and a reason. */
typedef void kube_fetch_fn(struct kube_fetch *f, struct k8s_obj *obj, long http, const char *msg,
                           void *arg);

/* GETs the object at <path>; the fetch frees itself after <done>. */
struct kube_fetch *kube_fetch(struct kube_client *c, const char *path, kube_fetch_fn *done,
                              void *arg);
/* Stops a fetch without calling its <done> (not from within <done>). */
void kube_fetch_cancel(struct kube_fetch *f);
#endif
