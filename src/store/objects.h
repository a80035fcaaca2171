/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers on decoded Kubernetes objects. */
#ifndef SRC_STORE_OBJECTS_H
#define SRC_STORE_OBJECTS_H
#include <stdbool.h>
#include <string.h>

#include "store/objects-t.h"

/* True when Secret <s> still holds a certificate, key or users
 * (store_drop_data()). */
static inline bool k8s_secret_holds_data(const struct k8s_secret *s)
{
    return !s->data_dropped && (s->crt || s->key || s->ca || s->n_users);
}

/* The backend of path <p>. */
static inline struct k8s_ingress_backend k8s_path_backend(const struct k8s_ingress_path *p)
{
    return (struct k8s_ingress_backend){p->svc, p->port_name, p->port_num};
}

/* The name of an object, the end of its key. */
static inline const char *k8s_name(const struct k8s_meta *m)
{
    return m->key + (m->ns ? strlen(m->ns) : 0) + 1;
}

/* Prefixes of the annotation keys Portico reads (model/keys.c), the
 * canonical one first. */
#define K8S_NGINX_PREFIX "nginx.ingress.kubernetes.io/"
/* True for the annotations of ingress-nginx that ask for an access control
 * Portico does not translate (authentication, connection limits, client
 * certificates, a firewall): the model fails such an Ingress closed rather
 * than serve it without. */
bool k8s_nginx_guard(const char *key);
extern const char *const k8s_key_prefixes[];
extern const size_t k8s_key_prefixes_len;
/* True for the annotations Portico reads: the others (last-applied-configuration
 * copies of whole objects, tooling notes) are not kept in the store. */
bool k8s_annotation_read(const char *key);

/* How many namespaces and class names packed objects share a copy of. */
size_t k8s_shared_strings(void);
/* Size of the struct that holds an object of <kind> (struct k8s_ingress...). */
size_t k8s_obj_size(enum k8s_kind kind);
/* Frees an object of any kind; NULL is a no-op. */
void k8s_obj_free(struct k8s_obj *obj);
/* Moves <obj> and everything it points to into a single allocation and
 * returns it; <obj> is freed. A store of 10,000 objects made of a dozen
 * small allocations each spent a third of its heap on malloc's own headers. */
struct k8s_obj *k8s_obj_pack(struct k8s_obj *obj);
/* True when packed objects <a> and <b> hold the same fields: a change
 * Portico does not keep (labels, status, an annotation it does not read) is
 * none. False for an object that is not packed. */
bool k8s_obj_same(const struct k8s_obj *a, const struct k8s_obj *b);
/* A hash of the load-balancer addresses <a>, in order; 0 only when <n> is 0. */
uint32_t k8s_lb_hash(const struct k8s_lb_addr *a, size_t n);
/* A packed copy of Secret <s> without its certificate and key (data_dropped
 * set), for the store once a build has parsed them or nothing names it. */
struct k8s_obj *k8s_secret_without_data(const struct k8s_secret *s);
/* Looks up <key> in a sorted key/value array; borrowed result or NULL. */
const char *k8s_kv_get(const struct k8s_kv *kv, size_t n, const char *key);
/* Returns the singular kind name ("ingress", "service", ...). */
const char *k8s_kind_name(enum k8s_kind kind);
/* Writes "kind/ns/name" (or "kind/name") into <out>. */
void k8s_obj_ref(const struct k8s_obj *obj, char *out, size_t size);
/* The store's key of an object in <buf> of <size> bytes, which it returns:
 * "ns/name", or "/name" for a cluster-scoped one (<ns> "" or NULL). */
char *k8s_key(char *buf, size_t size, const char *ns, const char *name);
/* A hash of the object of <kind> the model build looks up as <ns>/<name>
 * (model.h: struct model's lookups); never 0. */
uint64_t k8s_lookup_hash(enum k8s_kind kind, const char *ns, const char *name);
/* Whether the changes of <o>'s kind matter only to builds that look it up
 * (Services, Secrets, EndpointSlices); if so, *<h> is the hash of what they
 * look up: <o> itself, or an EndpointSlice's Service (0 for a slice of no
 * Service, which no build reads). */
bool k8s_obj_lookup_hash(const struct k8s_obj *o, uint64_t *h);
/* True for the key of a server-alias annotation, under any prefix. */
bool k8s_is_alias_key(const char *key);
/* The word every Ingress with a server-alias annotation is indexed by as
 * well (k8s_obj_words()): its aliases are not strings of the object. */
#define K8S_WORD_ALIASES "\x01aliases"
/* Calls <add> with each word the store indexes <o> by (store_find()),
 * strings of <o> itself or static ones: an Ingress's rule hosts ("" for a
 * rule without one), TLS hosts, and K8S_WORD_ALIASES when it has a
 * server-alias annotation; an EndpointSlice's Service. None for the other
 * kinds. A word may come twice. */
void k8s_obj_words(const struct k8s_obj *o, void (*add)(void *arg, const char *word), void *arg);
#endif
