/* SPDX-License-Identifier: Apache-2.0 */
/* List + watch state machine for one resource. API server failures are
 * handled here and only here: 410 Gone relists and replaces the store
 * (delivering the deletes missed meanwhile), 401/403 are errors that back
 * off exponentially with jitter, 429/5xx/network errors wait, with every
 * other informer, for the API server to answer again (kube_client_wait()),
 * and a stream that stays silent past its timeout is restarted. */
#include "kube/watch.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/decode.h"
#include "store/objects.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define LIST_LIMIT 500
#define LIST_MAX_BODY (512u << 20)
#define EVENT_MAX (16u << 20)
#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
#define BACKOFF_RESET_MS 120000
#define WATCH_MIN_S 300
#define STALL_GRACE_MAX_MS 30000

struct informer {
    uv_loop_t *loop;
    struct kube_client *c;
    struct store *store;
    struct informer_spec spec; /* strings borrowed from the caller */
    informer_change_fn *changed;
    informer_fn *synced_fn;
    void *arg;
    struct kube_req *req;
    uv_timer_t timer;          /* backoff, stall detection */
    struct kube_waiter wait;   /* for the API server to answer again */
    struct buf body;           /* list page, or the partial watch line */
    char *rv;                  /* resourceVersion to watch from */
    char *cont;                /* continue token of the list in progress */
    struct k8s_obj **objs;     /* objects of the list in progress */
    size_t n_objs, cap_objs;
    unsigned backoff_ms;
    uint64_t restarts;         /* lists and watches started again after a failure */
    uint64_t healthy_since;    /* loop time of the last success after a failure */
    unsigned watch_s;          /* timeoutSeconds of the current watch */
    uint64_t watch_start;      /* loop time the current watch started */
    bool synced;
    bool relist;               /* the watch asked for a relist (410) */
    bool stream_error;         /* the watch stream sent garbage */
    char *error;               /* why the watch stream failed */
};

static void start_list(struct informer *inf);
static void start_watch(struct informer *inf);

const char *informer_name(const struct informer *inf)
{
    return inf->spec.kind_name;
}

enum k8s_kind informer_kind(const struct informer *inf)
{
    return inf->spec.kind;
}

uint64_t informer_restarts(const struct informer *inf)
{
    return inf->restarts;
}

bool informer_synced(const struct informer *inf)
{
    return inf->synced;
}

static void drop_list(struct informer *inf)
{
    for (size_t i = 0; i < inf->n_objs; i++)
        k8s_obj_free(inf->objs[i]);
    inf->n_objs = 0;
    FREE_NULL(inf->objs);
    inf->cap_objs = 0;
    FREE_NULL(inf->cont);
}

/* ====== Backoff ====== */

static void on_backoff(uv_timer_t *t)
{
    struct informer *inf = t->data;

    if (inf->rv && !inf->relist)
        start_watch(inf);
    else
        start_list(inf);
}

static void fail(struct informer *inf, const char *what, long http, const char *msg)
{
    unsigned delay;
    uint64_t now = uv_now(inf->loop);

    if (inf->healthy_since && now - inf->healthy_since > BACKOFF_RESET_MS)
        inf->backoff_ms = BACKOFF_MIN_MS;
    inf->healthy_since = 0;
    /* jitter 1.0, as client-go: between the backoff and twice it */
    delay = inf->backoff_ms + (unsigned)(random() % (inf->backoff_ms + 1));
    if ((http == 401 || http == 403) && inf->spec.optional && !inf->synced) {
        log_warn("kube", "%s %s: HTTP %ld: %s; serving without it meanwhile (Portico needs "
                         "get, list and watch on this resource); retrying in %u ms",
                 what, inf->spec.path, http, msg, delay);
        inf->synced = true;
        inf->synced_fn(inf, inf->arg);
    } else if (http == 401 || http == 403) {
        log_err("kube", "%s %s: HTTP %ld: %s; Portico needs get, list and watch on this "
                        "resource; retrying in %u ms",
                what, inf->spec.path, http, msg, delay);
    } else if (http) {
        log_warn("kube", "%s %s: HTTP %ld: %s; retrying in %u ms", what, inf->spec.path, http,
                 msg, delay);
    } else {
        log_warn("kube", "%s %s: %s; retrying in %u ms", what, inf->spec.path, msg, delay);
    }
    inf->backoff_ms = inf->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : inf->backoff_ms * 2;
    inf->req = NULL;
    inf->restarts++;
    uv_timer_start(&inf->timer, on_backoff, delay, 0);
}

static void on_api_up(struct kube_waiter *w)
{
    struct informer *inf = w->arg;

    inf->backoff_ms = BACKOFF_MIN_MS;
    on_backoff(&inf->timer);
}

/* The API server did not answer: wait with every other informer until it
 * does (kube_client_wait()), rather than each backing off on its own. */
static void unavailable(struct informer *inf, const char *what, const char *msg)
{
    char why[512];

    log_debug("kube", "%s %s: %s; waiting for the API server", what, inf->spec.path, msg);
    snprintf(why, sizeof(why), "%s %s: %s", what, inf->spec.path, msg);
    inf->req = NULL;
    inf->healthy_since = 0;
    inf->restarts++;
    uv_timer_stop(&inf->timer);
    kube_client_wait(inf->c, &inf->wait, why);
}

static void succeeded(struct informer *inf)
{
    if (!inf->healthy_since)
        inf->healthy_since = uv_now(inf->loop);
}

/* ====== LIST ====== */

/* The message of a Status body ("secrets is forbidden: User ... cannot list
 * resource ..."), which names the resource and the verb. */
static void status_message(const struct buf *body, char *out, size_t size)
{
    json_t *st = body->ptr ? json_loadb(body->ptr, body->len, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(st, "message"));

    snprintf(out, size, "%s", m ? m : "unexpected status");
    json_decref(st);
}

static int on_list_data(const char *data, size_t len, void *arg)
{
    struct informer *inf = arg;

    return buf_add(&inf->body, data, len) ? -1 : 0;
}

static void set_rv(struct informer *inf, const char *rv)
{
    if (!rv || !*rv)
        return;
    free(inf->rv);
    inf->rv = xstrdup(rv);
}

static bool excluded(const struct informer *inf, const struct k8s_obj *o)
{
    for (char *const *ns = inf->spec.exclude; ns && *ns; ns++) {
        if (!strcmp(*ns, o->meta.ns))
            return true;
    }
    return false;
}

/* Decodes an object of this informer's kind (items of a typed list carry no
 * kind or apiVersion, so they are added); logs and returns NULL when it
 * cannot be decoded (<what> says what happens to it). Caller owns the result. */
static struct k8s_obj *decode_own(struct informer *inf, json_t *obj, const char *what)
{
    struct k8s_obj *o;
    char *err = NULL, *ref = NULL;

    json_object_set_new(obj, "kind", json_string(inf->spec.kind_name));
    json_object_set_new(obj, "apiVersion", json_string(inf->spec.api_version));
    if (decode_object(obj, &o, &ref, &err) == DECODE_OK)
        return o;
    if (log_on(LOG_WARN))
        log_emit(LOG_WARN, "kube", ref, "%s; %s", err ? err : "not decoded", what);
    free(err);
    free(ref);
    return NULL;
}

static void decode_item(json_t *item, void *arg)
{
    struct informer *inf = arg;
    struct k8s_obj *obj = decode_own(inf, item, "object skipped");

    if (!obj)
        return;
    if (excluded(inf, obj)) {
        k8s_obj_free(obj);
        return;
    }
    inf->objs = xgrow(inf->objs, &inf->cap_objs, inf->n_objs + 1, sizeof(*inf->objs));
    inf->objs[inf->n_objs++] = obj;
}

static void on_list_done(long http, int err, const char *msg, void *arg)
{
    struct informer *inf = arg;
    json_t *md;
    const char *cont;
    size_t changes;
    int ret;

    inf->req = NULL;
    if (err || http != 200) {
        bool gone = http == 410;

        char reason[512];

        status_message(&inf->body, reason, sizeof(reason));
        buf_free(&inf->body);
        drop_list(inf);
        if (gone) {
            /* the continue token expired: the list restarts from scratch */
            log_info("kube", "list %s: continue token expired; listing again", inf->spec.path);
            start_list(inf);
            return;
        }
        if (kube_unavailable(http, err)) {
            unavailable(inf, "list", err ? msg : reason);
            return;
        }
        fail(inf, "list", http, err ? msg : reason);
        return;
    }
    ret = decode_list(inf->body.ptr ? inf->body.ptr : "", inf->body.len, decode_item, inf, &md);
    buf_free(&inf->body);
    if (ret) {
        drop_list(inf);
        fail(inf, "list", 0, "malformed JSON from the API server");
        return;
    }
    set_rv(inf, json_string_value(json_object_get(md, "resourceVersion")));
    cont = json_string_value(json_object_get(md, "continue"));
    free(inf->cont);
    inf->cont = cont && *cont ? xstrdup(cont) : NULL;
    json_decref(md);
    if (inf->cont) {
        start_list(inf);
        return;
    }
    /* a complete list replaces the store, so deletes missed meanwhile apply */
    changes = store_replace(inf->store, inf->spec.kind, inf->spec.ns, inf->spec.name, inf->objs,
                            inf->n_objs);
    /* the store owns them now; the array is only needed by the next relist */
    inf->n_objs = 0;
    FREE_NULL(inf->objs);
    inf->cap_objs = 0;
    inf->relist = false;
    succeeded(inf);
    log_debug("kube", "listed %s: %zu objects, %zu changes, resourceVersion %s",
              inf->spec.path, store_count(inf->store, inf->spec.kind), changes, inf->rv);
    if (!inf->synced) {
        inf->synced = true;
        inf->synced_fn(inf, inf->arg);
    } else if (changes) {
        inf->changed(inf, NULL, 0, inf->arg);
    }
    start_watch(inf);
}

static void start_list(struct informer *inf)
{
    char path[4096];

    buf_init(&inf->body, LIST_MAX_BODY);
    if (!inf->cont)
        drop_list(inf);
    snprintf(path, sizeof(path), "%s?limit=%d%s%s%s%s", inf->spec.path, LIST_LIMIT,
             inf->spec.selector ? "&fieldSelector=" : "",
             inf->spec.selector ? inf->spec.selector : "", inf->cont ? "&continue=" : "",
             inf->cont ? inf->cont : "");
    inf->req = kube_get(inf->c, path, false, on_list_data, on_list_done, inf);
}

/* ====== WATCH ====== */

/* Silence that means the stream is dead: the server ends a watch at its
 * timeout, and sends bookmarks before that; allow some slack past it. */
static uint64_t stall_ms(const struct informer *inf)
{
    uint64_t ms = inf->watch_s * 1000ull;

    return ms + (ms < STALL_GRACE_MAX_MS ? ms : STALL_GRACE_MAX_MS);
}

static void on_stall(uv_timer_t *t)
{
    struct informer *inf = t->data;

    log_warn("kube", "watch %s: no data for %llu s; restarting it", inf->spec.path,
             (unsigned long long)(stall_ms(inf) / 1000));
    kube_req_cancel(inf->req);
    inf->req = NULL;
    buf_free(&inf->body);
    inf->restarts++;
    start_watch(inf);
}

/* Applies one watch event; returns false when the stream must end. */
static bool apply_event(struct informer *inf, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *ev = json_loadb(line, len, 0, &jerr), *obj;
    const char *type;
    struct k8s_obj *o;
    const struct k8s_obj *was;
    uint64_t lookups[2], h;
    size_t n_lookups = 0;
    bool changed = false, tracked = false;

    type = json_string_value(json_object_get(ev, "type"));
    obj = json_object_get(ev, "object");
    if (!type && json_is_string(json_object_get(ev, "message"))) {
        /* a Status instead of a stream: the watch was refused */
        if (json_integer_value(json_object_get(ev, "code")) == 410)
            inf->relist = true;
        free(inf->error);
        inf->error = xstrdup(json_string_value(json_object_get(ev, "message")));
        json_decref(ev);
        return false;
    }
    if (!type || !json_is_object(obj)) {
        free(inf->error);
        inf->error = xstrdup("malformed watch event");
        json_decref(ev);
        return false;
    }
    if (!strcmp(type, "ERROR")) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));

        if (code == 410)
            inf->relist = true;
        free(inf->error);
        inf->error = xasprintf("watch error %lld: %s", (long long)code,
                               json_string_value(json_object_get(obj, "message")) ?: "");
        json_decref(ev);
        return false;
    }
    set_rv(inf, json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                  "resourceVersion")));
    if (!strcmp(type, "BOOKMARK")) {
        json_decref(ev);
        return true;
    }
    if (strcmp(type, "ADDED") && strcmp(type, "MODIFIED") && strcmp(type, "DELETED")) {
        log_debug("kube", "watch %s: ignoring event type %s", inf->spec.path, type);
        json_decref(ev);
        return true;
    }
    o = decode_own(inf, obj, "event ignored");
    if (!o) {
        json_decref(ev);
        return true;
    }
    if (log_on(LOG_DEBUG)) {
        char name[600];

        k8s_obj_ref(o, name, sizeof(name));
        log_emit(LOG_DEBUG, "kube", name, "watch event %s applied", type);
    }
    if (excluded(inf, o)) {
        k8s_obj_free(o);
        json_decref(ev);
        return true;
    }
    /* what builds look up for the object, as it is and as it was */
    tracked = k8s_obj_lookup_hash(o, &h);
    if (tracked) {
        if (h)
            lookups[n_lookups++] = h;
        was = store_get(inf->store, o->kind, o->meta.ns, k8s_name(&o->meta));
        if (was && k8s_obj_lookup_hash(was, &h) && h && (!n_lookups || h != lookups[0]))
            lookups[n_lookups++] = h;
    }
    if (!strcmp(type, "DELETED")) {
        changed = store_del(inf->store, o->kind, o->meta.ns, k8s_name(&o->meta));
        k8s_obj_free(o);
    } else {
        changed = store_put(inf->store, o);
    }
    json_decref(ev);
    if (changed)
        inf->changed(inf, tracked ? lookups : NULL, n_lookups, inf->arg);
    return true;
}

static int on_watch_data(const char *data, size_t len, void *arg)
{
    struct informer *inf = arg;
    size_t start = 0, from = inf->body.len; /* bytes before are known to hold no newline */

    succeeded(inf);
    uv_timer_again(&inf->timer);
    if (buf_add(&inf->body, data, len)) {
        free(inf->error);
        inf->error = xstrdup("watch event larger than 16 MiB");
        return -1;
    }
    for (size_t i = from; i < inf->body.len; i++) {
        if (inf->body.ptr[i] != '\n')
            continue;
        if (i > start && !apply_event(inf, inf->body.ptr + start, i - start))
            return -1;
        start = i + 1;
    }
    if (start) {
        memmove(inf->body.ptr, inf->body.ptr + start, inf->body.len - start);
        inf->body.len -= start;
        inf->body.ptr[inf->body.len] = '\0';
    }
    return 0;
}

static void on_watch_done(long http, int err, const char *msg, void *arg)
{
    struct informer *inf = arg;

    inf->req = NULL;
    uv_timer_stop(&inf->timer);
    buf_free(&inf->body);
    if (http == 410 || inf->relist) {
        log_info("kube", "watch %s: resourceVersion too old (410 Gone); listing again",
                 inf->spec.path);
        inf->relist = true;
        inf->restarts++;
        FREE_NULL(inf->error);
        start_list(inf);
        return;
    }
    if (inf->error) {
        char *e = inf->error;

        inf->error = NULL;
        fail(inf, "watch", 0, e);
        free(e);
        return;
    }
    if (kube_unavailable(http, err)) {
        unavailable(inf, "watch", err ? msg : "unexpected status");
        return;
    }
    if (err || http != 200) {
        fail(inf, "watch", http, err ? msg : "unexpected status");
        return;
    }
    if (uv_now(inf->loop) - inf->watch_start < 1000) {
        /* a server that ends every watch at once must not make us spin */
        fail(inf, "watch", http, "the stream ended at once");
        return;
    }
    /* the server ended the watch at its timeout: continue from the last version */
    start_watch(inf);
}

static void start_watch(struct informer *inf)
{
    char path[4096];

    inf->watch_start = uv_now(inf->loop);
    /* 5 to 10 minutes, randomised to spread the load on the API server */
    inf->watch_s = inf->spec.watch_timeout_s ? inf->spec.watch_timeout_s
                                             : WATCH_MIN_S + (unsigned)(random() % (WATCH_MIN_S + 1));
    buf_init(&inf->body, EVENT_MAX);
    snprintf(path, sizeof(path),
             "%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%u&resourceVersion=%s%s%s",
             inf->spec.path, inf->watch_s, inf->rv ? inf->rv : "",
             inf->spec.selector ? "&fieldSelector=" : "",
             inf->spec.selector ? inf->spec.selector : "");
    inf->req = kube_get(inf->c, path, true, on_watch_data, on_watch_done, inf);
    uv_timer_start(&inf->timer, on_stall, stall_ms(inf), stall_ms(inf));
}

/* ====== Lifecycle ====== */

struct informer *informer_start(uv_loop_t *loop, struct kube_client *c, struct store *store,
                                const struct informer_spec *spec, informer_change_fn *changed,
                                informer_fn *synced, void *arg)
{
    struct informer *inf = xcalloc(1, sizeof(*inf));

    inf->loop = loop;
    inf->c = c;
    inf->store = store;
    inf->spec = *spec;
    inf->changed = changed;
    inf->synced_fn = synced;
    inf->arg = arg;
    inf->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(loop, &inf->timer);
    inf->timer.data = inf;
    inf->wait.fn = on_api_up;
    inf->wait.arg = inf;
    buf_init(&inf->body, LIST_MAX_BODY);
    start_list(inf);
    return inf;
}

static void on_inf_closed(uv_handle_t *h)
{
    struct informer *inf = h->data;

    drop_list(inf);
    free(inf->objs);
    buf_free(&inf->body);
    free(inf->rv);
    free(inf->error);
    free(inf);
}

void informer_stop(struct informer *inf)
{
    if (!inf)
        return;
    kube_req_cancel(inf->req);
    inf->req = NULL;
    kube_waiter_cancel(&inf->wait);
    uv_close((uv_handle_t *)&inf->timer, on_inf_closed);
}
