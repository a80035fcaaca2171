/* SPDX-License-Identifier: Apache-2.0 */
/* String-keyed hash map (open addressing, linear probing). Keys are copied,
 * unless the map was made with hmap_init_borrowing(); values are borrowed
 * pointers whose lifetime the caller manages. */
#ifndef SRC_UTIL_HMAP_H
#define SRC_UTIL_HMAP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Slots hold no hash, only two pointers: the big tables (the store's, the
 * builder's) take a third less memory; a rehash hashes the keys again. */
struct hmap_slot {
    char *key; /* NULL: empty; HMAP_TOMB: deleted */
    void *val;
};

struct hmap {
    struct hmap_slot *slots;
    size_t cap;  /* power of two or 0 */
    size_t used; /* live entries */
    size_t tomb; /* deleted slots */
    bool borrow; /* keys are the caller's, not copies */
};

#define HASH_FNV1A_INIT 0xcbf29ce484222325ULL
#define HASH_FNV1A_PRIME 0x100000001b3ULL
uint64_t hash_fnv1a(const void *data, size_t len);
/* Goes on hashing after <h>: the hash of a whole made of pieces. */
uint64_t hash_fnv1a_more(uint64_t h, const void *data, size_t len);
/* Folds the 64-bit value <v> into <h> as FNV-1a folds a byte: a hash of a
 * sequence of hashes. */
static inline uint64_t hash_fold(uint64_t h, uint64_t v)
{
    return (h ^ v) * HASH_FNV1A_PRIME;
}
void hmap_init(struct hmap *m);
/* A map that keeps the caller's key pointers instead of copies: each key
 * must stay unchanged while it is in the map. Replacing a value stores the
 * new key pointer too, so a key may live in the value it indexes. */
void hmap_init_borrowing(struct hmap *m);
void hmap_deinit(struct hmap *m);
/* Returns the value stored under <key>, or NULL. */
void *hmap_get(const struct hmap *m, const char *key);
/* Stores <val> under <key>; returns the previous value or NULL. */
void *hmap_put(struct hmap *m, const char *key, void *val);
/* Removes <key>; returns its value or NULL. */
void *hmap_del(struct hmap *m, const char *key);
/* Iteration: for (size_t i = 0; hmap_next(m, &i, &k, &v);) */
bool hmap_next(const struct hmap *m, size_t *iter, const char **key, void **val);
#endif
