/* SPDX-License-Identifier: Apache-2.0 */
/* One object read by GET: the body is collected (bounded), parsed and
 * decoded with the same decoder as listed and watched objects. */
#include "kube/fetch.h"

#include <jansson.h>
#include <stdlib.h>

#include "kube/decode.h"
#include "store/objects.h"
#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define FETCH_MAX_BODY (4u << 20) /* a Secret holds at most 1 MiB of data */

struct kube_fetch {
    struct kube_req *req;
    struct buf body;
    kube_fetch_fn *done;
    void *arg;
};

static void fetch_free(struct kube_fetch *f)
{
    buf_free(&f->body);
    free(f);
}

static int on_data(const char *data, size_t len, void *arg)
{
    struct kube_fetch *f = arg;

    return buf_add(&f->body, data, len) ? -1 : 0;
}

static void on_done(long http, int err, const char *msg, void *arg)
{
    struct kube_fetch *f = arg;
    struct k8s_obj *obj = NULL;
    char *derr = NULL;
    json_t *j;

    if (err || http != 200) {
        f->done(f, NULL, http, err ? msg : "unexpected status", f->arg);
        fetch_free(f);
        return;
    }
    j = json_loadb(f->body.ptr ? f->body.ptr : "", f->body.len, 0, NULL);
    if (!j || decode_object(j, &obj, NULL, &derr) != DECODE_OK) {
        f->done(f, NULL, http, derr ? derr : "not a Kubernetes object", f->arg);
        k8s_obj_free(obj);
    } else {
        f->done(f, obj, http, NULL, f->arg);
    }
    json_decref(j);
    free(derr);
    fetch_free(f);
}

struct kube_fetch *kube_fetch(struct kube_client *c, const char *path, kube_fetch_fn *done,
                              void *arg)
{
    struct kube_fetch *f = xcalloc(1, sizeof(*f));

    buf_init(&f->body, FETCH_MAX_BODY);
    f->done = done;
    f->arg = arg;
    f->req = kube_get(c, path, false, on_data, on_done, f);
    return f;
}

void kube_fetch_cancel(struct kube_fetch *f)
{
    kube_req_cancel(f->req);
    fetch_free(f);
}
