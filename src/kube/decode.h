/* SPDX-License-Identifier: Apache-2.0 */
/* The only user of the JSON library: Kubernetes JSON objects -> struct k8s_*. */
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
/* Decodes standard base64; returns 0 or -EINVAL. Caller owns *<out>. */
int decode_base64(const char *in, size_t len, unsigned char **out, size_t *outlen);
#endif
