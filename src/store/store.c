/* SPDX-License-Identifier: Apache-2.0 */
/* Object cache keyed "ns/name" per kind. */
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/objects.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The objects of one word, when there are several (struct store's words;
 * the value is then the group's address with its lowest bit set). */
struct store_group {
    size_t n, cap;
    const struct k8s_obj *v[];
};

static bool is_group(const void *v)
{
    return (uintptr_t)v & 1;
}

static struct store_group *group_of(void *v)
{
    return (struct store_group *)((uintptr_t)v & ~(uintptr_t)1);
}

static void *tagged(struct store_group *g)
{
    return (void *)((uintptr_t)g | 1);
}

/* An object's words being indexed or unindexed. */
struct words_op {
    struct hmap *words;
    const struct k8s_obj *obj;
    const char *match;    /* find_word(): the word looked for, then found */
};

static void add_word(void *arg, const char *word)
{
    struct words_op *op = arg;
    void *v = hmap_get(op->words, word);
    struct store_group *g;

    if (!v) {
        hmap_put(op->words, word, (void *)op->obj);
        return;
    }
    if (v == op->obj)
        return;
    if (!is_group(v)) {
        g = xmalloc(sizeof(*g) + 4 * sizeof(g->v[0]));
        g->cap = 4;
        g->n = 1;
        g->v[0] = v;
    } else {
        g = group_of(v);
        for (size_t i = 0; i < g->n; i++) {
            if (g->v[i] == op->obj)
                return;
        }
        if (g->n == g->cap) {
            g->cap *= 2;
            g = xrealloc(g, sizeof(*g) + g->cap * sizeof(g->v[0]));
        }
    }
    g->v[g->n++] = op->obj;
    hmap_put(op->words, word, tagged(g));
}

static void find_word(void *arg, const char *word)
{
    struct words_op *op = arg;

    if (op->match != word && !strcmp(op->match, word))
        op->match = word;
}

/* Indexes <word> by <holder>'s own copy of it, which lives as long as
 * <holder> is in the index, with value <v>. */
static void repoint(struct hmap *words, const char *word, const struct k8s_obj *holder, void *v)
{
    struct words_op op = {.obj = holder, .match = word};

    k8s_obj_words(holder, find_word, &op);
    hmap_put(words, op.match, v);
}

static void remove_word(void *arg, const char *word)
{
    struct words_op *op = arg;
    void *v = hmap_get(op->words, word);
    struct store_group *g;
    size_t i = 0;

    if (!v || v == op->obj) { /* none (a word given twice), or it alone */
        if (v)
            hmap_del(op->words, word);
        return;
    }
    if (!is_group(v))
        return;
    g = group_of(v);
    while (i < g->n && g->v[i] != op->obj)
        i++;
    if (i == g->n)
        return;
    g->v[i] = g->v[--g->n];
    /* the key may be the leaving object's string */
    if (g->n == 1) {
        const struct k8s_obj *last = g->v[0];

        free(g);
        repoint(op->words, word, last, (void *)last);
    } else {
        repoint(op->words, word, g->v[0], tagged(g));
    }
}

static void index_obj(struct store *s, const struct k8s_obj *obj, bool add)
{
    struct words_op op = {.words = &s->words[obj->kind], .obj = obj};

    k8s_obj_words(obj, add ? add_word : remove_word, &op);
}

size_t store_find(const struct store *s, enum k8s_kind kind, const char *word,
                  struct store_found *f)
{
    void *v = hmap_get(&s->words[kind], word);

    f->one = NULL;
    f->v = &f->one;
    f->n = 0;
    if (v && !is_group(v)) {
        f->one = v;
        f->n = 1;
    } else if (v) {
        f->v = group_of(v)->v;
        f->n = group_of(v)->n;
    }
    return f->n;
}

void store_init(struct store *s)
{
    /* each object holds its own key, for both maps */
    for (int k = 0; k < K8S_KIND_COUNT; k++) {
        hset_init(&s->kinds[k], offsetof(struct k8s_obj, meta.key));
        hmap_init_borrowing(&s->origins[k]);
        hmap_init_borrowing(&s->words[k]);
    }
    s->changes = 0;
    s->tracked = -1;
    s->tracked_v = NULL;
    s->n_tracked = 0;
    s->tracked_overflow = false;
}

void store_deinit(struct store *s)
{
    for (int k = 0; k < K8S_KIND_COUNT; k++) {
        void *val;

        for (size_t i = 0; hmap_next(&s->origins[k], &i, NULL, &val);)
            free(val);
        hmap_deinit(&s->origins[k]);
        for (size_t i = 0; hmap_next(&s->words[k], &i, NULL, &val);) {
            if (is_group(val))
                free(group_of(val));
        }
        hmap_deinit(&s->words[k]);
        for (size_t i = 0; hset_next(&s->kinds[k], &i, &val);)
            k8s_obj_free(val);
        hset_deinit(&s->kinds[k]);
    }
    store_changes_free(s->tracked_v, s->n_tracked);
}

void store_track(struct store *s, enum k8s_kind kind)
{
    s->tracked = (int)kind;
}

void store_changes_free(struct store_change *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        k8s_obj_free(v[i].was);
    }
    free(v);
}

bool store_take_changes(struct store *s, struct store_change **out, size_t *n)
{
    bool ok = !s->tracked_overflow;

    *out = s->tracked_v;
    *n = s->n_tracked;
    s->tracked_v = NULL;
    s->n_tracked = 0;
    s->tracked_overflow = false;
    return ok;
}

/* Takes <was>, the object under <key> before a change: kept if it is the
 * first change to <key> since the last store_take_changes(), else freed. */
static void track(struct store *s, const char *key, struct k8s_obj *was)
{
    size_t i = 0;

    while (i < s->n_tracked && strcmp(s->tracked_v[i].key, key))
        i++;
    if (s->tracked_overflow || i < s->n_tracked) {
        k8s_obj_free(was);
        return;
    }
    if (i == STORE_CHANGES_MAX) {
        /* a relist, most likely: whoever reads them builds anew */
        store_changes_free(s->tracked_v, s->n_tracked);
        s->tracked_v = NULL;
        s->n_tracked = 0;
        s->tracked_overflow = true;
        k8s_obj_free(was);
        return;
    }
    if (!s->tracked_v)
        s->tracked_v = xcalloc(STORE_CHANGES_MAX, sizeof(*s->tracked_v));
    s->tracked_v[i].key = xstrdup(key);
    s->tracked_v[i].was = was;
    s->n_tracked++;
}

/* Disposes of <prev>, the object under <key> before an effective change. */
static void changed_from(struct store *s, enum k8s_kind kind, const char *key,
                         struct k8s_obj *prev)
{
    s->changes++;
    if ((int)kind == s->tracked)
        track(s, key, prev);
    else
        k8s_obj_free(prev);
}

/* Stores <obj> in place of the object of its key, which it returns: an
 * origin recorded for the key moves to <obj>'s copy of it. */
static struct k8s_obj *replace(struct store *s, struct k8s_obj *obj)
{
    struct hmap *origins = &s->origins[obj->kind];
    void *origin = origins->used ? hmap_get(origins, obj->meta.key) : NULL;
    struct k8s_obj *prev;

    if (origin)
        hmap_put(origins, obj->meta.key, origin);
    prev = hset_put(&s->kinds[obj->kind], obj);
    if (prev)
        index_obj(s, prev, false);
    index_obj(s, obj, true);
    return prev;
}

/* Removes the object under <key>, and its origin; returns it or NULL. */
static struct k8s_obj *remove_key(struct store *s, enum k8s_kind kind, const char *key)
{
    struct k8s_obj *prev;

    if (s->origins[kind].used)
        free(hmap_del(&s->origins[kind], key));
    prev = hset_del(&s->kinds[kind], key);
    if (prev)
        index_obj(s, prev, false);
    return prev;
}

bool store_put(struct store *s, struct k8s_obj *obj)
{
    struct k8s_obj *prev;
    bool changed;

    prev = replace(s, obj);
    changed = !prev || !k8s_obj_same(prev, obj);
    if (changed)
        changed_from(s, obj->kind, obj->meta.key, prev);
    else
        k8s_obj_free(prev);
    return changed;
}

bool store_del(struct store *s, enum k8s_kind kind, const char *ns, const char *name)
{
    char key[512];
    struct k8s_obj *prev;

    k8s_key(key, sizeof(key), ns, name);
    prev = remove_key(s, kind, key);
    if (!prev)
        return false;
    changed_from(s, kind, key, prev);
    return true;
}

size_t store_replace(struct store *s, enum k8s_kind kind, const char *ns, const char *name,
                     struct k8s_obj **objs, size_t n)
{
    struct hset keep;
    const char *key;
    size_t changes = 0, ndel = 0, cap = 0, nslen = ns ? strlen(ns) : 0;
    char **del = NULL;
    void *val;

    hset_init(&keep, offsetof(struct k8s_obj, meta.key));
    for (size_t i = 0; i < n; i++)
        hset_put(&keep, objs[i]);
    for (size_t i = 0; hset_next(&s->kinds[kind], &i, &val);) {
        key = ((const struct k8s_obj *)val)->meta.key;
        if (ns && (strncmp(key, ns, nslen) || key[nslen] != '/'))
            continue; /* another namespace's list owns it */
        if (name && strcmp(strchr(key, '/') + 1, name))
            continue; /* another object's list owns it */
        if (!hset_get(&keep, key)) {
            del = xgrow(del, &cap, ndel + 1, sizeof(*del));
            del[ndel++] = xstrdup(key);
        }
    }
    for (size_t i = 0; i < ndel; i++) {
        changed_from(s, kind, del[i], remove_key(s, kind, del[i]));
        changes++;
        free(del[i]);
    }
    free(del);
    hset_deinit(&keep);
    for (size_t i = 0; i < n; i++)
        changes += store_put(s, objs[i]);
    return changes;
}

const struct k8s_obj *store_get(const struct store *s, enum k8s_kind kind, const char *ns,
                                const char *name)
{
    char key[512];

    k8s_key(key, sizeof(key), ns, name);
    return hset_get(&s->kinds[kind], key);
}

static int cmp_obj(const void *a, const void *b)
{
    const struct k8s_obj *x = *(const struct k8s_obj *const *)a;
    const struct k8s_obj *y = *(const struct k8s_obj *const *)b;
    int c = strcmp(x->meta.ns, y->meta.ns);

    return c ? c : strcmp(k8s_name(&x->meta), k8s_name(&y->meta));
}

size_t store_list_unsorted(const struct store *s, enum k8s_kind kind,
                           const struct k8s_obj ***out)
{
    const struct hset *m = &s->kinds[kind];
    const struct k8s_obj **arr = xmalloc((m->used + 1) * sizeof(*arr));
    size_t n = 0;
    void *val;

    for (size_t i = 0; hset_next(m, &i, &val);)
        arr[n++] = val;
    *out = arr;
    return n;
}

size_t store_list(const struct store *s, enum k8s_kind kind, const struct k8s_obj ***out)
{
    size_t n = store_list_unsorted(s, kind, out);

    qsort(*out, n, sizeof(**out), cmp_obj);
    return n;
}

size_t store_count(const struct store *s, enum k8s_kind kind)
{
    return s->kinds[kind].used;
}

void store_set_origin(struct store *s, const struct k8s_obj *obj, const char *origin)
{
    struct hmap *m = &s->origins[obj->kind];

    /* the key must be the stored object's own copy: the map borrows it */
    obj = hset_get(&s->kinds[obj->kind], obj->meta.key);
    if (obj)
        free(origin ? hmap_put(m, obj->meta.key, xstrdup(origin)) : hmap_del(m, obj->meta.key));
}

const char *store_origin(const struct store *s, const struct k8s_obj *obj)
{
    return s->origins[obj->kind].used ? hmap_get(&s->origins[obj->kind], obj->meta.key) : NULL;
}

bool store_drop_data(struct store *s, const struct k8s_secret *sec)
{
    if (!k8s_secret_holds_data(sec))
        return false;
    /* same key: the slot is replaced in place, an iteration goes on */
    k8s_obj_free(replace(s, k8s_secret_without_data(sec)));
    return true;
}

size_t store_drop_secret_data(struct store *s)
{
    void *val;
    size_t n = 0;

    for (size_t i = 0; hset_next(&s->kinds[K8S_SECRET], &i, &val);)
        n += store_drop_data(s, val);
    return n;
}
