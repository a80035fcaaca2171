/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers on decoded Kubernetes objects. */
#ifndef SRC_STORE_OBJECTS_H
#define SRC_STORE_OBJECTS_H
#include "store/objects-t.h"

/* Frees an object of any kind; NULL is a no-op. */
void k8s_obj_free(struct k8s_obj *obj);
/* Looks up <key> in a sorted key/value array; borrowed result or NULL. */
const char *k8s_kv_get(const struct k8s_kv *kv, size_t n, const char *key);
/* Returns the singular kind name ("ingress", "service", ...). */
const char *k8s_kind_name(enum k8s_kind kind);
/* Writes "kind/ns/name" (or "kind/name") into <out>. */
void k8s_obj_ref(const struct k8s_obj *obj, char *out, size_t size);
#endif
