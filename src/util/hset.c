/* SPDX-License-Identifier: Apache-2.0 */
/* Hash set of records keyed by a string they hold. */
#include "util/hset.h"

#include <stdlib.h>
#include <string.h>

#include "util/hmap.h"
#include "util/xalloc.h"
#include "util/banned.h"

static char tomb_marker;
#define HSET_TOMB ((void *)&tomb_marker)

static const char *key_of(const struct hset *s, const void *rec)
{
    const char *key;

    memcpy(&key, (const char *)rec + s->key_off, sizeof(key));
    return key;
}

static size_t slot_of(const char *key, size_t cap)
{
    return hash_fnv1a(key, strlen(key)) & (cap - 1);
}

void hset_init(struct hset *s, size_t key_off)
{
    memset(s, 0, sizeof(*s));
    s->key_off = key_off;
}

void hset_deinit(struct hset *s)
{
    size_t key_off = s->key_off;

    free(s->slots);
    hset_init(s, key_off);
}

/* The slot holding the record of <key>, or NULL. */
static void **find(const struct hset *s, const char *key)
{
    if (!s->cap)
        return NULL;
    for (size_t i = slot_of(key, s->cap);; i = (i + 1) & (s->cap - 1)) {
        void **slot = &s->slots[i];

        if (!*slot)
            return NULL;
        if (*slot != HSET_TOMB && !strcmp(key_of(s, *slot), key))
            return slot;
    }
}

static void rehash(struct hset *s, size_t ncap)
{
    void **old = s->slots;
    size_t ocap = s->cap;

    s->slots = xcalloc(ncap, sizeof(*s->slots));
    s->cap = ncap;
    s->tomb = 0;
    for (size_t i = 0; i < ocap; i++) {
        size_t j;

        if (!old[i] || old[i] == HSET_TOMB)
            continue;
        for (j = slot_of(key_of(s, old[i]), ncap); s->slots[j]; j = (j + 1) & (ncap - 1))
            ;
        s->slots[j] = old[i];
    }
    free(old);
}

void *hset_get(const struct hset *s, const char *key)
{
    void **slot = find(s, key);

    return slot ? *slot : NULL;
}

void *hset_put(struct hset *s, void *rec)
{
    const char *key = key_of(s, rec);
    void **slot = find(s, key);
    void *prev;
    size_t j;

    if (slot) {
        prev = *slot;
        *slot = rec;
        return prev;
    }
    if ((s->used + s->tomb + 1) * 4 >= s->cap * 3)
        rehash(s, s->cap ? (s->used * 4 >= s->cap ? s->cap * 2 : s->cap) : 16);
    for (j = slot_of(key, s->cap); s->slots[j] && s->slots[j] != HSET_TOMB;
         j = (j + 1) & (s->cap - 1))
        ;
    if (s->slots[j] == HSET_TOMB)
        s->tomb--;
    s->slots[j] = rec;
    s->used++;
    return NULL;
}

void *hset_del(struct hset *s, const char *key)
{
    void **slot = find(s, key);
    void *rec;

    if (!slot)
        return NULL;
    rec = *slot;
    *slot = HSET_TOMB;
    s->used--;
    s->tomb++;
    return rec;
}

bool hset_next(const struct hset *s, size_t *iter, void **rec)
{
    while (*iter < s->cap) {
        void *r = s->slots[(*iter)++];

        if (r && r != HSET_TOMB) {
            *rec = r;
            return true;
        }
    }
    return false;
}
