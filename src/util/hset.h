/* SPDX-License-Identifier: Apache-2.0 */
/* Hash set of records that hold their own string key (open addressing,
 * linear probing). A slot is one pointer, half of an hmap's key and value:
 * the store's tables and the model builder's are the biggest of Portico, with
 * one entry per object or route. Records are borrowed; the key of a record
 * must not change while it is in the set. */
#ifndef SRC_UTIL_HSET_H
#define SRC_UTIL_HSET_H
#include <stdbool.h>
#include <stddef.h>

struct hset {
    void **slots;   /* NULL: empty; a private marker: deleted */
    size_t cap;     /* power of two or 0 */
    size_t used;    /* live records */
    size_t tomb;    /* deleted slots */
    size_t key_off; /* offset of the record's "const char *" key */
};

/* A set of records whose key is the "const char *" member at <key_off>
 * (offsetof(struct x, name)). */
void hset_init(struct hset *s, size_t key_off);
void hset_deinit(struct hset *s);
/* The record whose key is <key>, or NULL. */
void *hset_get(const struct hset *s, const char *key);
/* Stores <rec>; returns the record of the same key it replaced, or NULL. */
void *hset_put(struct hset *s, void *rec);
/* Removes the record whose key is <key>; returns it or NULL. */
void *hset_del(struct hset *s, const char *key);
/* Iteration: for (size_t i = 0; hset_next(s, &i, &rec);) */
bool hset_next(const struct hset *s, size_t *iter, void **rec);
#endif
