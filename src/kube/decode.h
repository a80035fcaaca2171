/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes objects, as jansson trees, -> struct k8s_*: the one decoder for
 * both sources (API responses and watch events, manifests read as YAML). */
#ifndef SRC_KUBE_DECODE_H
#define SRC_KUBE_DECODE_H
#include <jansson.h>

#include "store/objects-t.h"

/* Limits applied to every decoded object, whatever its source. */
#define DECODE_MAX_STRING (256 * 1024)
#define DECODE_MAX_ITEMS 100000

enum decode_result {
    DECODE_OK = 0,
    DECODE_IGNORED, /* a kind Portico does not use */
    DECODE_ERROR,
};

/* Decodes one object. On DECODE_OK stores a new object in *<out> that the
 * caller owns. On DECODE_ERROR, *<err> names the field and the reason, and
 * *<ref> (if set; caller frees) names the object when its name was readable.
 * <obj> may be modified (volatile fields removed before hashing). */
enum decode_result decode_object(json_t *obj, struct k8s_obj **out, char **ref, char **err);
/* Called for each element of a list's "items"; <item> is freed after it. */
typedef void decode_item_fn(json_t *item, void *arg);
/* Reads a list response (`{"kind": ..., "metadata": {...}, "items": [...]}`)
 * one item at a time: a page of 500 objects parsed whole, their
 * managedFields included, held several megabytes at once. Calls <fn> for
 * every item, in order, and stores the list's metadata in *<metadata>
 * (caller decrefs; NULL when absent). Returns 0, or -EINVAL when <text> is
 * not such a JSON object (items before the error have been passed). */
int decode_list(const char *text, size_t len, decode_item_fn *fn, void *arg, json_t **metadata);
/* Decodes standard base64; returns 0 or -EINVAL. Caller owns *<out>. */
int decode_base64(const char *in, size_t len, unsigned char **out, size_t *outlen);
#endif
