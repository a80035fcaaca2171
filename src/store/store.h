/* SPDX-License-Identifier: Apache-2.0 */
/* The object cache every source feeds: objects keyed "ns/name" per kind,
 * with a change counter. Nothing downstream knows which source filled it. */
#ifndef SRC_STORE_STORE_H
#define SRC_STORE_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/objects-t.h"
#include "util/hmap.h"
#include "util/hset.h"

/* A change to an object of the kind the store tracks (store_track()): its
 * key, and the object as it was before the first change since the last
 * store_take_changes(). */
struct store_change {
    char *key;               /* "ns/name" */
    struct k8s_obj *was;     /* owned; NULL: there was none */
};

/* Tracked changes kept at most: past that, only that there were more. */
#define STORE_CHANGES_MAX 32

struct store {
    struct hset kinds[K8S_KIND_COUNT]; /* owned objects, by their "ns/name" key */
    /* word (k8s_obj_words(), borrowed from an object it indexes) -> that
     * object, or a group of them (store.c) */
    struct hmap words[K8S_KIND_COUNT];
    /* "ns/name" (the object's own copy) -> where a file source read it, for
     * messages: a table apart, as the API server's objects have none */
    struct hmap origins[K8S_KIND_COUNT];
    uint64_t changes;                  /* bumped on every effective change */
    int tracked;                       /* the kind whose changes are kept, or -1 */
    struct store_change *tracked_v;    /* each key once, in order of first change */
    size_t n_tracked;
    bool tracked_overflow;             /* more than STORE_CHANGES_MAX: none kept */
};

void store_init(struct store *s);
void store_deinit(struct store *s);
/* Inserts or replaces <obj>; the store takes ownership. Returns true when
 * it is new or differs from the one it replaces in a field Portico keeps. */
bool store_put(struct store *s, struct k8s_obj *obj);
/* Removes an object; returns true if it existed. */
bool store_del(struct store *s, enum k8s_kind kind, const char *ns, const char *name);
/* Replaces every object of <kind> (in namespace <ns>, or in all namespaces
 * when <ns> is NULL; only the one called <name> unless it is NULL) with
 * <objs> (ownership of each moves to the store; the array stays the
 * caller's). Objects absent from <objs> are deleted, as a relist does.
 * Returns the number of effective changes. */
size_t store_replace(struct store *s, enum k8s_kind kind, const char *ns, const char *name,
                     struct k8s_obj **objs, size_t n);
/* Borrowed pointer valid until the object is replaced or deleted. */
const struct k8s_obj *store_get(const struct store *s, enum k8s_kind kind, const char *ns,
                                const char *name);
/* Fills a new array (caller frees the array, not the objects) with every
 * object of <kind>, sorted by namespace then name. */
size_t store_list(const struct store *s, enum k8s_kind kind, const struct k8s_obj ***out);
/* The same in no particular order, for callers that sort by other keys. */
size_t store_list_unsorted(const struct store *s, enum k8s_kind kind,
                           const struct k8s_obj ***out);
size_t store_count(const struct store *s, enum k8s_kind kind);
/* The objects store_find() finds. */
struct store_found {
    const struct k8s_obj *const *v;
    size_t n;
    const struct k8s_obj *one; /* v's room when there is one */
};
/* The objects of <kind> that k8s_obj_words() gives <word> (an Ingress's
 * host, an EndpointSlice's Service): their number, and in f->v, valid until
 * the store changes, the objects, in no particular order. */
size_t store_find(const struct store *s, enum k8s_kind kind, const char *word,
                  struct store_found *f);
/* Keeps the changes to objects of <kind> (store_take_changes()). */
void store_track(struct store *s, enum k8s_kind kind);
/* Moves the changes kept since the last call to *<out> (free them with
 * store_changes_free()) and their number to *<n>. Returns false, with none,
 * when there were more than STORE_CHANGES_MAX. */
bool store_take_changes(struct store *s, struct store_change **out, size_t *n);
void store_changes_free(struct store_change *v, size_t n);
/* Records where the source read the stored object under <obj>'s key
 * ("file.yaml: document 2"; copied). Deleting the object forgets it. */
void store_set_origin(struct store *s, const struct k8s_obj *obj, const char *origin);
/* Where the object under <obj>'s key was read, or NULL when its source did
 * not say (the API server). */
const char *store_origin(const struct store *s, const struct k8s_obj *obj);
/* Replaces Secret <sec> of the store by a copy without its certificate and
 * key (data_dropped set; not counted as a change): <sec> is freed. Returns
 * false when it had none. */
bool store_drop_data(struct store *s, const struct k8s_secret *sec);
/* The same for every Secret. Returns how many it dropped. */
size_t store_drop_secret_data(struct store *s);
#endif
