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
#include "util/xalloc.h"
#include "util/banned.h"

#define MANIFEST_MAX_DEPTH 16
#define MANIFEST_DEBOUNCE_MS 3

/* ====== Reading ====== */

struct scan {
    struct k8s_obj **objs[K8S_KIND_COUNT];
    size_t n[K8S_KIND_COUNT];
    size_t cap[K8S_KIND_COUNT];
    struct hmap seen;   /* "kind/ns/name" -> origin (borrowed from the object) */
    char **dirs;        /* every directory visited, for the watcher */
    size_t n_dirs, cap_dirs;
    const char *file;   /* file being read */
    size_t errors;
    struct last_good *last; /* NULL for a one-shot read */
    struct hmap good_objs;  /* ref -> json_t: objects that decoded in this scan */
    struct hmap good_files; /* path -> struct file_copy: files that parsed in this scan */
};

/* What was read successfully before: a file that stops parsing, or an object
 * that stops decoding, keeps its last good version in effect, as the API
 * server keeps the stored object when it rejects an update. */
struct last_good {
    struct hmap objs;   /* "kind/ns/name" -> json_t (one reference) */
    struct hmap files;  /* path -> struct file_copy */
};

struct file_copy {
    char *data;
    size_t len;
};

static void file_copies_clear(struct hmap *m)
{
    void *v;

    for (size_t i = 0; hmap_next(m, &i, NULL, &v);) {
        free(((struct file_copy *)v)->data);
        free(v);
    }
    hmap_deinit(m);
}

static void json_map_clear(struct hmap *m)
{
    void *v;

    for (size_t i = 0; hmap_next(m, &i, NULL, &v);)
        json_decref(v);
    hmap_deinit(m);
}

static void scan_add(struct scan *sc, json_t *doc, size_t index, long item)
{
    struct k8s_obj *obj;
    char *err = NULL, *ref = NULL, origin[PATH_MAX + 64], key[600];
    const char *prev;

    json_t *copy = sc->last ? json_deep_copy(doc) : NULL;

    if (item >= 0)
        snprintf(origin, sizeof(origin), "%s: document %zu: items[%ld]", sc->file, index, item);
    else
        snprintf(origin, sizeof(origin), "%s: document %zu", sc->file, index);
    switch (decode_object(doc, &obj, &ref, &err)) {
    case DECODE_IGNORED:
        log_debug("source", "%s: ignoring kind %s", origin,
                  json_string_value(json_object_get(doc, "kind")) ?: "(none)");
        json_decref(copy);
        return;
    case DECODE_ERROR: {
        json_t *good = sc->last && ref ? hmap_get(&sc->last->objs, ref) : NULL;

        sc->errors++;
        json_decref(copy);
        copy = NULL;
        if (good) {
            json_t *again = json_deep_copy(good);

            if (decode_object(again, &obj, NULL, NULL) == DECODE_OK) {
                if (log_on(LOG_WARN))
                    log_emit(LOG_WARN, "source", ref,
                             "%s: %s; keeping the last good version of this object", origin,
                             err);
                copy = json_incref(good);
            }
            json_decref(again);
        }
        if (!copy) {
            if (log_on(LOG_WARN))
                log_emit(LOG_WARN, "source", ref, "%s: %s; object skipped", origin, err);
            free(err);
            free(ref);
            return;
        }
        free(err);
        free(ref);
        break;
    }
    case DECODE_OK:
        break;
    }
    k8s_obj_ref(obj, key, sizeof(key));
    if (copy) {
        json_decref(hmap_put(&sc->good_objs, key, copy));
        copy = NULL;
    }
    prev = hmap_get(&sc->seen, key);
    if (prev) {
        if (log_on(LOG_WARN))
            log_emit(LOG_WARN, "source", key, "%s: duplicate of the object in %s; skipped",
                     origin, prev);
        k8s_obj_free(obj);
        return;
    }
    obj->origin = xstrdup(origin);
    hmap_put(&sc->seen, key, obj->origin);
    sc->objs[obj->kind] = xgrow(sc->objs[obj->kind], &sc->cap[obj->kind],
                                sc->n[obj->kind] + 1, sizeof(struct k8s_obj *));
    sc->objs[obj->kind][sc->n[obj->kind]++] = obj;
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

static bool is_manifest(const char *name)
{
    const char *dot = strrchr(name, '.');

    return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") || !strcmp(dot, ".json"));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ignore_doc(size_t index, json_t *doc, void *arg)
{
    (void)index;
    (void)doc;
    (void)arg;
}

static void scan_file(struct scan *sc, const char *path)
{
    char *data = NULL, *err = NULL;
    bool good = true;
    size_t len;
    int ret = file_read(path, MANIFEST_MAX_FILE, &data, &len);

    if (ret) {
        sc->errors++;
        log_warn("source", "%s: %s; file skipped", path,
                 ret == -E2BIG ? "larger than 16 MiB" : strerror(-ret));
        return;
    }
    sc->file = path;
    if (sc->last && yaml_parse_docs(data, len, ignore_doc, NULL, &err)) {
        struct file_copy *prev = hmap_get(&sc->last->files, path);

        good = false;
        if (prev) {
            log_warn("source", "%s: %s; keeping the last good version of this file", path, err);
            free(data);
            data = xstrndup(prev->data, prev->len);
            len = prev->len;
            good = true; /* the old content stays the reference */
        }
        FREE_NULL(err);
    }
    if (good && sc->last) {
        struct file_copy *fc = xcalloc(1, sizeof(*fc));

        fc->data = xstrndup(data, len);
        fc->len = len;
        fc = hmap_put(&sc->good_files, path, fc);
        if (fc) {
            free(fc->data);
            free(fc);
        }
    }
    if (yaml_parse_docs(data, len, on_doc, sc, &err)) {
        sc->errors++;
        log_warn("source", "%s: %s; rest of the file skipped", path, err);
        free(err);
    }
    free(data);
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
    qsort(names, n, sizeof(*names), cmp_str); /* first file wins on duplicates */
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

static void scan_free(struct scan *sc)
{
    for (int k = 0; k < K8S_KIND_COUNT; k++)
        free(sc->objs[k]);
    for (size_t i = 0; i < sc->n_dirs; i++)
        free(sc->dirs[i]);
    free(sc->dirs);
    hmap_deinit(&sc->seen);
    json_map_clear(&sc->good_objs);
    file_copies_clear(&sc->good_files);
}

/* Scans <dir> and replaces the store content. The directories found are left
 * in <sc> for the watcher. */
static long read_into(const char *dir, struct store *store, struct scan *sc,
                      struct last_good *last, char **err)
{
    long changes = 0;
    int ret;

    memset(sc, 0, sizeof(*sc));
    hmap_init(&sc->seen);
    hmap_init(&sc->good_objs);
    hmap_init(&sc->good_files);
    sc->last = last;
    ret = scan_dir(sc, dir, 0, err);
    if (ret) {
        for (int k = 0; k < K8S_KIND_COUNT; k++) {
            for (size_t i = 0; i < sc->n[k]; i++)
                k8s_obj_free(sc->objs[k][i]);
        }
        return ret;
    }
    for (int k = 0; k < K8S_KIND_COUNT; k++)
        changes += (long)store_replace(store, (enum k8s_kind)k, sc->objs[k], sc->n[k]);
    if (last) {
        /* this scan's good versions become the reference for the next one */
        json_map_clear(&last->objs);
        file_copies_clear(&last->files);
        last->objs = sc->good_objs;
        last->files = sc->good_files;
        hmap_init(&sc->good_objs);
        hmap_init(&sc->good_files);
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
    struct last_good last;
    int pending_close;   /* handles not closed yet */
    bool closing;
};

static void maybe_free(struct manifests *m)
{
    if (!m->closing || m->pending_close)
        return;
    hmap_deinit(&m->watches);
    json_map_clear(&m->last.objs);
    file_copies_clear(&m->last.files);
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
    long changes = read_into(m->dir, m->store, &sc, &m->last, &err);

    if (changes < 0) {
        /* the directory itself vanished: keep the last objects, like an API outage */
        log_warn("source", "%s; keeping the last objects read", err);
        free(err);
    } else {
        sync_watches(m, &sc);
    }
    scan_free(&sc);
    if (changes > 0) {
        log_debug("source", "%ld object changes in %s", changes, m->dir);
        m->fn(m->arg);
    }
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
    hmap_init(&m->last.objs);
    hmap_init(&m->last.files);
    ret = read_into(dir, store, &sc, &m->last, err);
    if (ret < 0) {
        scan_free(&sc);
        hmap_deinit(&m->watches);
        hmap_deinit(&m->last.objs);
        hmap_deinit(&m->last.files);
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
