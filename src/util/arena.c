/* SPDX-License-Identifier: Apache-2.0 */
/* Bump allocator for one model generation. */
#include "util/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK 16384

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->total = 0;
}

void arena_deinit(struct arena *a)
{
    while (a->head) {
        struct arena_chunk *c = a->head;

        a->head = c->next;
        free(c);
    }
    a->total = 0;
}

/* <n> bytes at a multiple of <align> (a power of two, at most 16). */
static void *take(struct arena *a, size_t n, size_t align)
{
    struct arena_chunk *c = a->head;
    size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;

    if (!c || at > c->size || c->size - at < n) {
        size_t size = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;

        c = xmalloc(sizeof(*c) + size);
        c->size = size;
        c->used = 0;
        at = 0;
        if (n > ARENA_CHUNK / 4 && a->head) {
            /* big blocks go behind the current chunk to keep its free tail */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    c->used = at + n;
    a->total += n;
    return c->data + at;
}

void *arena_alloc(struct arena *a, size_t n)
{
    void *p = take(a, n, 16);

    memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = take(a, n + 1, 1); /* strings need no alignment: no padding */

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

void *arena_memdup(struct arena *a, const void *p, size_t n)
{
    void *d = arena_alloc(a, n);

    if (n)
        memcpy(d, p, n);
    return d;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    char *tmp, *p;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    p = arena_strndup(a, tmp, (size_t)n);
    free(tmp);
    return p;
}
