/* SPDX-License-Identifier: Apache-2.0 */
/* Bump allocator: everything of one model generation comes from one arena
 * and is freed in one call. */
#ifndef SRC_UTIL_ARENA_H
#define SRC_UTIL_ARENA_H
#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* newest chunk first */
    size_t total;             /* bytes handed out, for metrics */
};

void arena_init(struct arena *a);
void arena_deinit(struct arena *a);
/* Returns zeroed memory valid until arena_deinit(). */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns a copy of <n> elements of <size> bytes at <p>. */
void *arena_memdup(struct arena *a, const void *p, size_t n);
#endif
