/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_decode: the JSON decoder (kube/decode.c). The input's first byte
 * names the kind a typed list's items get (as an informer adds it), the
 * rest is read as a list response (decode_list()), as one object
 * (decode_object()) and as base64 (decode_base64()). Decoded objects go
 * through the store: put, then decoded and put again, which must be no
 * change; the store is listed in order at the end. */
#include <jansson.h>
#include <stdlib.h>

#include "fuzz.h"
#include "kube/decode.h"
#include "store/objects.h"
#include "store/store.h"
#include "util/banned.h"

static const char *const kinds[][2] = {
    {"networking.k8s.io/v1", "Ingress"},
    {"networking.k8s.io/v1", "IngressClass"},
    {"v1", "Service"},
    {"discovery.k8s.io/v1", "EndpointSlice"},
    {"v1", "Secret"},
    {"v1", "ConfigMap"},
    {"v1", "Namespace"},
};

struct run {
    struct store store;
    unsigned kind; /* index in kinds[], or past it: items as they are */
};

static void decode_one(struct run *r, json_t *obj)
{
    struct k8s_obj *o, *again;
    char *ref = NULL, *err = NULL, name[600];
    json_t *copy;

    /* decode_object() may edit <obj>: decode a copy, then <obj> again */
    copy = json_deep_copy(obj);
    if (decode_object(obj, &o, &ref, &err) != DECODE_OK) {
        free(ref);
        free(err);
        json_decref(copy);
        return;
    }
    k8s_obj_ref(o, name, sizeof(name));
    store_put(&r->store, o);
    if (decode_object(copy, &again, NULL, NULL) == DECODE_OK) {
        /* the same object again is no change */
        if (store_put(&r->store, again))
            abort();
    }
    json_decref(copy);
}

static void on_item(json_t *item, void *arg)
{
    struct run *r = arg;

    if (r->kind < sizeof(kinds) / sizeof(kinds[0])) {
        json_object_set_new(item, "apiVersion", json_string(kinds[r->kind][0]));
        json_object_set_new(item, "kind", json_string(kinds[r->kind][1]));
    }
    decode_one(r, item);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_log_all();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct run r;
    json_t *md = NULL, *obj;
    const char *text;
    unsigned char *bin = NULL;
    size_t len, binlen;

    store_init(&r.store);
    r.kind = fuzz_byte(&in) % 8;
    text = (const char *)in.p;
    len = in.n;
    decode_list(text, len, on_item, &r, &md);
    json_decref(md);
    obj = json_loadb(text, len, 0, NULL);
    if (obj)
        decode_one(&r, obj);
    json_decref(obj);
    if (decode_base64(text, len, &bin, &binlen) == 0)
        free(bin);
    for (int k = 0; k < K8S_KIND_COUNT; k++) {
        const struct k8s_obj **objs;

        store_list(&r.store, (enum k8s_kind)k, &objs);
        free(objs);
    }
    store_deinit(&r.store);
    return 0;
}
