/* SPDX-License-Identifier: Apache-2.0 */
/* Informers: paginated LIST then WATCH of one resource into the store, with
 * the semantics of client-go's reflector (410 -> relist, bookmarks, backoff,
 * stalled-stream detection). */
#ifndef SRC_KUBE_WATCH_H
#define SRC_KUBE_WATCH_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "kube/client.h"
#include "store/store.h"

struct informer;

typedef void informer_fn(struct informer *inf, void *arg);
/* A change to the store: <lookups> NULL for any (a list), else the <n>
 * k8s_obj_lookup_hash() values of the object before and after, 0 to 2 of
 * them (a build that looks none of them up is not changed). */
typedef void informer_change_fn(struct informer *inf, const uint64_t *lookups, size_t n,
                                void *arg);

struct informer_spec {
    enum k8s_kind kind;
    const char *api_version;  /* "networking.k8s.io/v1" */
    const char *kind_name;    /* "Ingress" */
    const char *path;         /* collection path, e.g. "/apis/networking.k8s.io/v1/ingresses" */
    const char *selector;     /* fieldSelector value (URL-encoded), or NULL */
    const char *ns;           /* the namespace <path> is limited to, or NULL for all */
    const char *name;         /* the one object <selector> is limited to, or NULL */
    char *const *exclude;     /* namespaces whose objects are dropped, NULL-terminated, or NULL */
    unsigned watch_timeout_s; /* timeoutSeconds of every watch; 0: 300 to 600 at random */
    bool optional;            /* refused (401, 403): counted as synced, empty, so that
                               * Portico serves without it; still retried */
};

/* Starts listing then watching. <changed> runs after each batch that changed
 * the store; <synced> once, when the first complete list is in the store. */
struct informer *informer_start(uv_loop_t *loop, struct kube_client *c, struct store *store,
                                const struct informer_spec *spec, informer_change_fn *changed,
                                informer_fn *synced, void *arg);
void informer_stop(struct informer *inf);
bool informer_synced(const struct informer *inf);
const char *informer_name(const struct informer *inf);
enum k8s_kind informer_kind(const struct informer *inf);
/* Lists and watches started again after a failure, a 410 or a stall. */
uint64_t informer_restarts(const struct informer *inf);
#endif
