/* SPDX-License-Identifier: Apache-2.0 */
/* String-keyed hash map with open addressing. */
#include "util/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

static char tomb_marker;
#define HMAP_TOMB (&tomb_marker)

uint64_t hash_fnv1a(const void *data, size_t len)
{
    return hash_fnv1a_more(HASH_FNV1A_INIT, data, len);
}

uint64_t hash_fnv1a_more(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len--) {
        h ^= *p++;
        h *= HASH_FNV1A_PRIME;
    }
    return h;
}

void hmap_init(struct hmap *m)
{
    memset(m, 0, sizeof(*m));
}

void hmap_init_borrowing(struct hmap *m)
{
    memset(m, 0, sizeof(*m));
    m->borrow = true;
}

void hmap_deinit(struct hmap *m)
{
    bool borrow = m->borrow;

    for (size_t i = 0; i < m->cap && !borrow; i++) {
        if (m->slots[i].key && m->slots[i].key != HMAP_TOMB)
            free(m->slots[i].key);
    }
    free(m->slots);
    memset(m, 0, sizeof(*m));
    m->borrow = borrow;
}

static struct hmap_slot *find(const struct hmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;

    if (!m->cap)
        return NULL;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct hmap_slot *s = &m->slots[i];

        if (!s->key)
            return NULL;
        if (s->key != HMAP_TOMB && !strcmp(s->key, key))
            return s;
    }
}

static void rehash(struct hmap *m, size_t ncap)
{
    struct hmap_slot *old = m->slots;
    size_t ocap = m->cap;

    m->slots = xcalloc(ncap, sizeof(*m->slots));
    m->cap = ncap;
    m->tomb = 0;
    for (size_t i = 0; i < ocap; i++) {
        size_t j;

        if (!old[i].key || old[i].key == HMAP_TOMB)
            continue;
        j = hash_fnv1a(old[i].key, strlen(old[i].key)) & (ncap - 1);
        for (; m->slots[j].key; j = (j + 1) & (ncap - 1))
            ;
        m->slots[j] = old[i];
    }
    free(old);
}

void *hmap_get(const struct hmap *m, const char *key)
{
    struct hmap_slot *s = find(m, key, hash_fnv1a(key, strlen(key)));

    return s ? s->val : NULL;
}

void *hmap_put(struct hmap *m, const char *key, void *val)
{
    uint64_t h = hash_fnv1a(key, strlen(key));
    struct hmap_slot *s = find(m, key, h);
    void *prev;
    size_t j;

    if (s) {
        prev = s->val;
        s->val = val;
        if (m->borrow)
            s->key = (char *)key;
        return prev;
    }
    if ((m->used + m->tomb + 1) * 4 >= m->cap * 3)
        rehash(m, m->cap ? (m->used * 4 >= m->cap ? m->cap * 2 : m->cap) : 16);
    for (j = h & (m->cap - 1); m->slots[j].key && m->slots[j].key != HMAP_TOMB;
         j = (j + 1) & (m->cap - 1))
        ;
    if (m->slots[j].key == HMAP_TOMB)
        m->tomb--;
    m->slots[j].key = m->borrow ? (char *)key : xstrdup(key);
    m->slots[j].val = val;
    m->used++;
    return NULL;
}

void *hmap_del(struct hmap *m, const char *key)
{
    struct hmap_slot *s = find(m, key, hash_fnv1a(key, strlen(key)));
    void *val;

    if (!s)
        return NULL;
    val = s->val;
    if (!m->borrow)
        free(s->key);
    s->key = HMAP_TOMB;
    s->val = NULL;
    m->used--;
    m->tomb++;
    return val;
}

bool hmap_next(const struct hmap *m, size_t *iter, const char **key, void **val)
{
    while (*iter < m->cap) {
        struct hmap_slot *s = &m->slots[(*iter)++];

        if (s->key && s->key != HMAP_TOMB) {
            if (key)
                *key = s->key;
            if (val)
                *val = s->val;
            return true;
        }
    }
    return false;
}
