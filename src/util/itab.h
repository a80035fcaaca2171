/* SPDX-License-Identifier: Apache-2.0 */
/* Index of an array of records by a string key each holds: a table of
 * their positions (open addressing, linear probing), made once for at most a
 * known number of records. A slot is 4 bytes, a quarter of an hmap's, and
 * the records stay in their array: the model builder's tables at 10,000
 * Ingresses were most of the memory a build takes beside the model. The
 * array must not move while indexed; nothing is ever removed. */
#ifndef SRC_UTIL_ITAB_H
#define SRC_UTIL_ITAB_H
#include <stddef.h>
#include <stdint.h>

struct itab {
    uint32_t *slots;    /* 1 + position of a record; 0: empty */
    size_t mask;        /* slots - 1, a power of two minus one */
    const char *base;   /* the array of records */
    size_t stride;      /* bytes from one record to the next */
    size_t key_off;     /* offset of the record's "const char *" key */
};

/* Indexes up to <max> records (max < UINT32_MAX) of <base>, each <stride>
 * bytes with its key at <key_off>. */
void itab_init(struct itab *t, size_t max, const void *base, size_t stride, size_t key_off);
void itab_deinit(struct itab *t);
/* The slot of <key>: it holds 1 + the record's position, or 0 where the
 * record of that key may be added by storing 1 + its position. */
uint32_t *itab_slot(const struct itab *t, const char *key);
#endif
