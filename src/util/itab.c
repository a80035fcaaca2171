/* SPDX-License-Identifier: Apache-2.0 */
/* Index of an array of records by their string keys. */
#include "util/itab.h"

#include <stdlib.h>
#include <string.h>

#include "util/hmap.h"
#include "util/xalloc.h"
#include "util/banned.h"

void itab_init(struct itab *t, size_t max, const void *base, size_t stride, size_t key_off)
{
    size_t cap = 2;

    /* at most three quarters full, and always a free slot to end a probe */
    while (cap * 3 < (max + 1) * 4)
        cap *= 2;
    t->slots = xcalloc(cap, sizeof(*t->slots));
    t->mask = cap - 1;
    t->base = base;
    t->stride = stride;
    t->key_off = key_off;
}

void itab_deinit(struct itab *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

uint32_t *itab_slot(const struct itab *t, const char *key)
{
    for (size_t i = hash_fnv1a(key, strlen(key)) & t->mask;; i = (i + 1) & t->mask) {
        uint32_t *slot = &t->slots[i];
        const char *k;

        if (!*slot)
            return slot;
        memcpy(&k, t->base + (*slot - 1) * t->stride + t->key_off, sizeof(k));
        if (!strcmp(k, key))
            return slot;
    }
}
