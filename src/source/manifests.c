/* SPDX-License-Identifier: Apache-2.0 */
/* File mode: manifests directory -> store, plus inotify watches via libuv. */
#include "source/manifests.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kube/decode.h"
#include "source/yaml.h"
#include "store/objects.h"
#include "util/err.h"
#include "util/file.h"
#include "util/hmap.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MANIFEST_MAX_DEPTH 16
#define MANIFEST_DEBOUNCE_MS 3

/* ====== Reading ====== */

/* What a file held the last time it was read: an unchanged file is not parsed
 * again and its objects stay in the store as they are. */
struct file_state {
    uint64_t hash;      /* content hash; 0: always parse again */
    char **keys;        /* "kind/ns/name" of the objects it provides */
    size_t n_keys;
};

/* An object read from a file, and where ("file.yaml: document 2"). */
struct decoded {
    struct k8s_obj *obj;
    char *origin;
};

struct scan {
    struct store *store;
    struct hmap *cache;     /* path -> struct file_state of the previous scan, or NULL */
    struct hmap next;       /* path -> struct file_state, for the next scan */
    struct hmap existing;   /* "kind/ns/name" -> object in the store before this scan */
    struct hmap live;       /* "kind/ns/name" -> origin: objects the store keeps or gets */
    struct decoded *fresh;  /* decoded objects to put into the store */
    size_t n_fresh, cap_fresh;
    /* the file being parsed */
    const char *file;
    struct decoded *objs;   /* its decoded objects */
    size_t n_objs, cap_objs;
    char **kept;            /* its objects that failed to decode but stay as they were */
    size_t n_kept, cap_kept;
    char **dirs;            /* every directory visited, for the watcher */
    size_t n_dirs, cap_dirs;
    /* what the store changes are (struct manifests_change) */
    uint64_t *svcs;
    size_t n_svcs, cap_svcs;
    uint64_t *secrets;              /* k8s_lookup_hash() of the Secrets changed */
    size_t n_secrets, cap_secrets;
    bool ingresses, others;
};

static void file_state_free(struct file_state *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n_keys; i++)
        free(fs->keys[i]);
    free(fs->keys);
    free(fs);
}

static void cache_clear(struct hmap *m)
{
    void *v;

    for (size_t i = 0; hmap_next(m, &i, NULL, &v);)
        file_state_free(v);
    hmap_deinit(m);
    hmap_init(m);
}

static void scan_add(struct scan *sc, json_t *doc, size_t index, long item)
{
    struct k8s_obj *obj;
    char *err = NULL, *ref = NULL, origin[PATH_MAX + 64];

    if (item >= 0)
        snprintf(origin, sizeof(origin), "%s: document %zu: items[%ld]", sc->file, index, item);
    else
        snprintf(origin, sizeof(origin), "%s: document %zu", sc->file, index);
    switch (decode_object(doc, &obj, &ref, &err)) {
    case DECODE_IGNORED:
        log_debug("source", "%s: ignoring kind %s", origin,
                  json_string_value(json_object_get(doc, "kind")) ?: "(none)");
        return;
    case DECODE_ERROR:
        if (sc->cache && ref && hmap_get(&sc->existing, ref)) {
            /* as the API server keeps the stored object when it refuses an update */
            if (log_on(LOG_WARN))
                log_emit(LOG_WARN, "source", ref,
                         "%s: %s; keeping the last good version of this object", origin, err);
            sc->kept = xgrow(sc->kept, &sc->cap_kept, sc->n_kept + 1, sizeof(*sc->kept));
            sc->kept[sc->n_kept++] = xstrdup(ref);
        } else if (log_on(LOG_WARN)) {
            log_emit(LOG_WARN, "source", ref, "%s: %s; object skipped", origin, err);
        }
        free(err);
        free(ref);
        return;
    case DECODE_OK:
        break;
    }
    sc->objs = xgrow(sc->objs, &sc->cap_objs, sc->n_objs + 1, sizeof(*sc->objs));
    sc->objs[sc->n_objs].obj = obj;
    sc->objs[sc->n_objs++].origin = xstrdup(origin);
}

static void on_doc(size_t index, json_t *doc, void *arg)
{
    struct scan *sc = arg;
    json_t *items, *it;
    const char *kind;
    size_t i;

    if (!doc)
        return;
    kind = json_string_value(json_object_get(doc, "kind"));
    items = json_object_get(doc, "items");
    if (kind && strlen(kind) >= 4 && !strcmp(kind + strlen(kind) - 4, "List") &&
        json_is_array(items)) {
        json_array_foreach(items, i, it) scan_add(sc, it, index, (long)i);
        return;
    }
    scan_add(sc, doc, index, -1);
}

/* Marks <key> as provided by the file being read. Returns false for a
 * duplicate of an object an earlier file provides. */
static bool claim_key(struct scan *sc, const char *key, const char *origin)
{
    const char *prev = hmap_get(&sc->live, key);

    if (prev) {
        if (log_on(LOG_WARN))
            log_emit(LOG_WARN, "source", key, "%s: duplicate of the object in %s; skipped",
                     origin, prev);
        return false;
    }
    hmap_put(&sc->live, key, (void *)origin);
    return true;
}

/* Where a file read <o> that the store kept from an earlier scan, or <path>. */
static const char *kept_origin(const struct scan *sc, const struct k8s_obj *o, const char *path)
{
    const char *origin = store_origin(sc->store, o);

    return origin ? origin : path;
}

static void keep_file(struct scan *sc, const char *path, const struct file_state *prev)
{
    struct file_state *fs = xcalloc(1, sizeof(*fs));

    fs->hash = prev->hash;
    fs->keys = xcalloc(prev->n_keys + 1, sizeof(*fs->keys));
    for (size_t i = 0; i < prev->n_keys; i++) {
        const struct k8s_obj *o = hmap_get(&sc->existing, prev->keys[i]);

        if (!o || !claim_key(sc, prev->keys[i], kept_origin(sc, o, path)))
            fs->hash = 0;
        else
            fs->keys[fs->n_keys++] = xstrdup(prev->keys[i]);
    }
    file_state_free(hmap_put(&sc->next, path, fs));
}

static bool is_manifest(const char *name)
{
    const char *dot = strrchr(name, '.');

    return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") || !strcmp(dot, ".json"));
}

static void scan_file(struct scan *sc, const char *path)
{
    const struct file_state *prev = sc->cache ? hmap_get(sc->cache, path) : NULL;
    struct file_state *fs;
    char *data = NULL, *err = NULL;
    uint64_t hash;
    size_t len;
    int ret = file_read(path, MANIFEST_MAX_FILE, &data, &len);

    if (ret) {
        log_warn("source", "%s: %s; file skipped", path,
                 ret == -E2BIG ? "larger than 16 MiB" : strerror(-ret));
        return;
    }
    hash = hash_fnv1a(data, len) | 1;
    if (prev && prev->hash == hash) {
        free(data);
        keep_file(sc, path, prev);
        return;
    }
    sc->file = path;
    sc->n_objs = 0;
    sc->n_kept = 0;
    ret = yaml_parse_docs(data, len, on_doc, sc, &err);
    free(data);
    if (ret && prev) {
        /* most often a save in progress: the last good content stays */
        log_warn("source", "%s: %s; keeping the last good version of this file", path, err);
        free(err);
        for (size_t i = 0; i < sc->n_objs; i++) {
            k8s_obj_free(sc->objs[i].obj);
            free(sc->objs[i].origin);
        }
        for (size_t i = 0; i < sc->n_kept; i++)
            free(sc->kept[i]);
        keep_file(sc, path, prev);
        return;
    }
    if (ret) {
        log_warn("source", "%s: %s; rest of the file skipped", path, err);
        free(err);
    }
    fs = xcalloc(1, sizeof(*fs));
    fs->hash = ret ? 0 : hash;
    fs->keys = xcalloc(sc->n_objs + sc->n_kept + 1, sizeof(*fs->keys));
    for (size_t i = 0; i < sc->n_objs; i++) {
        struct k8s_obj *o = sc->objs[i].obj;
        char key[600];

        k8s_obj_ref(o, key, sizeof(key));
        if (!claim_key(sc, key, sc->objs[i].origin)) {
            fs->hash = 0; /* parse again once the other file lets go of it */
            k8s_obj_free(o);
            free(sc->objs[i].origin);
            continue;
        }
        fs->keys[fs->n_keys++] = xstrdup(key);
        sc->fresh = xgrow(sc->fresh, &sc->cap_fresh, sc->n_fresh + 1, sizeof(*sc->fresh));
        sc->fresh[sc->n_fresh++] = sc->objs[i];
    }
    for (size_t i = 0; i < sc->n_kept; i++) {
        const struct k8s_obj *o = hmap_get(&sc->existing, sc->kept[i]);

        if (claim_key(sc, sc->kept[i], kept_origin(sc, o, path)))
            fs->keys[fs->n_keys++] = sc->kept[i];
        else
            free(sc->kept[i]);
        fs->hash = 0; /* parse again: the kept object is not this content */
    }
    file_state_free(hmap_put(&sc->next, path, fs));
}

static int scan_dir(struct scan *sc, const char *dir, int depth, char **err)
{
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;

    if (depth > MANIFEST_MAX_DEPTH)
        return 0;
    d = opendir(dir);
    if (!d) {
        errmsg_set(err, "%s: %s", dir, strerror(errno));
        return -errno;
    }
    sc->dirs = xgrow(sc->dirs, &sc->cap_dirs, sc->n_dirs + 1, sizeof(*sc->dirs));
    sc->dirs[sc->n_dirs++] = xstrdup(dir);
    while ((de = readdir(d))) {
        /* dot entries include Kubernetes' ..data symlink farm of mounted volumes */
        if (de->d_name[0] == '.')
            continue;
        names = xgrow(names, &cap, n + 1, sizeof(*names));
        names[n++] = xasprintf("%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n) /* an empty directory has no array */
        qsort(names, n, sizeof(*names), str_cmp_ptrs); /* first file wins on duplicates */
    for (size_t i = 0; i < n; i++) {
        struct stat st;

        if (stat(names[i], &st) == 0) {
            if (S_ISDIR(st.st_mode))
                scan_dir(sc, names[i], depth + 1, NULL);
            else if (S_ISREG(st.st_mode) && is_manifest(names[i]))
                scan_file(sc, names[i]);
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

/* Adds hash <h> to the <*n> of <*v>, unless it is the last one there. */
static void add_hash(uint64_t **v, size_t *n, size_t *cap, uint64_t h)
{
    if (*n && (*v)[*n - 1] == h)
        return;
    *v = xgrow(*v, cap, *n + 1, sizeof(**v));
    (*v)[(*n)++] = h;
}

/* Counts a change of <o>, or of <was> before it (either may be NULL), in
 * what <sc>'s store changes are. */
static void note_change(struct scan *sc, const struct k8s_obj *o, const struct k8s_obj *was)
{
    const struct k8s_obj *v[2] = {o, was};

    for (int i = 0; i < 2; i++) {
        uint64_t h;

        if (!v[i])
            continue;
        if (v[i]->kind == K8S_INGRESS)
            sc->ingresses = true;
        else if (v[i]->kind == K8S_SECRET && k8s_obj_lookup_hash(v[i], &h))
            add_hash(&sc->secrets, &sc->n_secrets, &sc->cap_secrets, h);
        else if (v[i]->kind != K8S_ENDPOINT_SLICE || !k8s_obj_lookup_hash(v[i], &h) || !h)
            sc->others = true;
        else
            add_hash(&sc->svcs, &sc->n_svcs, &sc->cap_svcs, h);
    }
}

static void scan_free(struct scan *sc)
{
    for (size_t i = 0; i < sc->n_fresh; i++) {
        k8s_obj_free(sc->fresh[i].obj);
        free(sc->fresh[i].origin);
    }
    free(sc->fresh);
    free(sc->objs);
    free(sc->kept);
    for (size_t i = 0; i < sc->n_dirs; i++)
        free(sc->dirs[i]);
    free(sc->dirs);
    free(sc->svcs);
    free(sc->secrets);
    hmap_deinit(&sc->existing);
    hmap_deinit(&sc->live);
    cache_clear(&sc->next);
    hmap_deinit(&sc->next);
}

/* Scans <dir> and brings the store in line with it: objects no file provides
 * any more are deleted (as a relist does), new or changed ones are put. The
 * directories found are left in <sc> for the watcher. <cache> (or NULL)
 * remembers what each file held. */
static long read_into(const char *dir, struct store *store, struct scan *sc,
                      struct hmap *cache, char **err)
{
    long changes = 0;
    int ret;

    memset(sc, 0, sizeof(*sc));
    sc->store = store;
    sc->cache = cache;
    hmap_init(&sc->next);
    hmap_init(&sc->existing);
    hmap_init(&sc->live);
    for (int k = 0; k < K8S_KIND_COUNT; k++) {
        void *v;

        for (size_t i = 0; hset_next(&store->kinds[k], &i, &v);) {
            char key[600];

            k8s_obj_ref(v, key, sizeof(key));
            hmap_put(&sc->existing, key, v);
        }
    }
    ret = scan_dir(sc, dir, 0, err);
    if (ret)
        return ret;
    for (int k = 0; k < K8S_KIND_COUNT; k++) {
        const struct k8s_obj **objs;
        size_t n = store_list_unsorted(store, (enum k8s_kind)k, &objs);

        for (size_t i = 0; i < n; i++) {
            char key[600];

            k8s_obj_ref(objs[i], key, sizeof(key));
            if (hmap_get(&sc->live, key))
                continue;
            note_change(sc, NULL, objs[i]);
            changes += store_del(store, (enum k8s_kind)k, objs[i]->meta.ns,
                                 k8s_name(&objs[i]->meta));
        }
        free(objs);
    }
    /* the live map borrows origins from the store: drop it before they change */
    hmap_deinit(&sc->live);
    hmap_init(&sc->live);
    for (size_t i = 0; i < sc->n_fresh; i++) {
        const struct k8s_obj *o = sc->fresh[i].obj;
        const struct k8s_obj *was = store_get(store, o->kind, o->meta.ns, k8s_name(&o->meta));

        if (!was || !k8s_obj_same(was, o))
            note_change(sc, o, was);
        changes += store_put(store, sc->fresh[i].obj);
        store_set_origin(store, sc->fresh[i].obj, sc->fresh[i].origin);
        free(sc->fresh[i].origin);
    }
    sc->n_fresh = 0;
    if (cache) {
        cache_clear(cache);
        *cache = sc->next;
        hmap_init(&sc->next);
    }
    return changes;
}

long manifests_read(const char *dir, struct store *store, char **err)
{
    struct scan sc;
    long ret = read_into(dir, store, &sc, NULL, err);

    scan_free(&sc);
    return ret;
}

/* ====== Watching ====== */

struct dirwatch {
    uv_fs_event_t ev;
    struct manifests *m;
    char *path;
    bool seen; /* still present in the last scan */
};

struct manifests {
    uv_loop_t *loop;
    char *dir;
    struct store *store;
    manifests_changed_fn *fn;
    void *arg;
    uv_timer_t debounce;
    struct hmap watches; /* path -> struct dirwatch */
    struct hmap files;   /* path -> struct file_state */
    int pending_close;   /* handles not closed yet */
    bool closing;
};

static void maybe_free(struct manifests *m)
{
    if (!m->closing || m->pending_close)
        return;
    hmap_deinit(&m->watches);
    cache_clear(&m->files);
    hmap_deinit(&m->files);
    free(m->dir);
    free(m);
}

static void on_closed(uv_handle_t *h)
{
    struct manifests *m = h->data;

    if (h->type == UV_FS_EVENT) {
        struct dirwatch *w = container_of((uv_fs_event_t *)h, struct dirwatch, ev);

        m = w->m;
        free(w->path);
        free(w);
    }
    m->pending_close--;
    maybe_free(m);
}

static void on_debounce(uv_timer_t *t);

static void on_fs_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct dirwatch *w = container_of(h, struct dirwatch, ev);

    (void)events;
    (void)status;
    log_debug("source", "change in %s/%s", w->path, name ? name : "");
    /* restarting the timer coalesces an editor's burst of events into one scan */
    uv_timer_start(&w->m->debounce, on_debounce, MANIFEST_DEBOUNCE_MS, 0);
}

static void sync_watches(struct manifests *m, struct scan *sc)
{
    struct dirwatch *w;
    const char *key;
    void *val;
    char **gone = NULL;
    size_t n_gone = 0, cap = 0;

    for (size_t i = 0; hmap_next(&m->watches, &i, NULL, &val);)
        ((struct dirwatch *)val)->seen = false;
    for (size_t i = 0; i < sc->n_dirs; i++) {
        w = hmap_get(&m->watches, sc->dirs[i]);
        if (w) {
            w->seen = true;
            continue;
        }
        w = xcalloc(1, sizeof(*w));
        w->m = m;
        w->path = xstrdup(sc->dirs[i]);
        w->seen = true;
        uv_fs_event_init(m->loop, &w->ev);
        if (uv_fs_event_start(&w->ev, on_fs_event, w->path, 0)) {
            log_warn("source", "%s: cannot watch this directory", w->path);
            w->ev.data = m;
            m->pending_close++;
            uv_close((uv_handle_t *)&w->ev, on_closed);
            continue;
        }
        hmap_put(&m->watches, w->path, w);
    }
    for (size_t i = 0; hmap_next(&m->watches, &i, &key, &val);) {
        if (!((struct dirwatch *)val)->seen) {
            gone = xgrow(gone, &cap, n_gone + 1, sizeof(*gone));
            gone[n_gone++] = xstrdup(key);
        }
    }
    for (size_t i = 0; i < n_gone; i++) {
        w = hmap_del(&m->watches, gone[i]);
        m->pending_close++;
        uv_close((uv_handle_t *)&w->ev, on_closed);
        free(gone[i]);
    }
    free(gone);
}

static void rescan(struct manifests *m)
{
    struct scan sc;
    char *err = NULL;
    long changes = read_into(m->dir, m->store, &sc, &m->files, &err);

    if (changes < 0) {
        /* the directory itself vanished: keep the last objects, like an API outage */
        log_warn("source", "%s; keeping the last objects read", err);
        free(err);
    } else {
        sync_watches(m, &sc);
    }
    if (changes > 0) {
        struct manifests_change ch = {.svcs = sc.svcs, .n_svcs = sc.n_svcs,
                                      .secrets = sc.secrets, .n_secrets = sc.n_secrets,
                                      .ingresses = sc.ingresses, .others = sc.others};

        log_debug("source", "%ld object changes in %s", changes, m->dir);
        m->fn(&ch, m->arg);
    }
    scan_free(&sc);
}

static void on_debounce(uv_timer_t *t)
{
    rescan(t->data);
}

struct manifests *manifests_watch(uv_loop_t *loop, const char *dir, struct store *store,
                                  manifests_changed_fn *fn, void *arg, char **err)
{
    struct manifests *m = xcalloc(1, sizeof(*m));
    struct scan sc;
    long ret;

    m->loop = loop;
    m->dir = xstrdup(dir);
    m->store = store;
    m->fn = fn;
    m->arg = arg;
    hmap_init(&m->watches);
    hmap_init(&m->files);
    ret = read_into(dir, store, &sc, &m->files, err);
    if (ret < 0) {
        scan_free(&sc);
        hmap_deinit(&m->watches);
        hmap_deinit(&m->files);
        free(m->dir);
        free(m);
        return NULL;
    }
    uv_timer_init(loop, &m->debounce);
    m->debounce.data = m;
    sync_watches(m, &sc);
    scan_free(&sc);
    return m;
}

void manifests_close(struct manifests *m)
{
    void *val;

    if (!m)
        return;
    m->closing = true;
    for (size_t i = 0; hmap_next(&m->watches, &i, NULL, &val);) {
        m->pending_close++;
        uv_close((uv_handle_t *)&((struct dirwatch *)val)->ev, on_closed);
    }
    m->pending_close++;
    uv_close((uv_handle_t *)&m->debounce, on_closed);
}
