/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation wrappers that abort on exhaustion: inputs are bounded upstream,
 * so running out of memory is fatal anyway and unchecked NULLs breed bugs. */
#ifndef SRC_UTIL_XALLOC_H
#define SRC_UTIL_XALLOC_H
#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows an array to hold at least <need> elements of <size> bytes; <cap> is
 * updated. Returns the (possibly moved) array. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Gives the pages of freed memory back to the system (glibc's malloc keeps
 * them otherwise): after a burst of short-lived allocations, such as a
 * build's, so that they do not stay resident between the long-lived ones. */
void xtrim(void);
/* Maps each block of 128 KiB or more on its own, given back to the system
 * when freed (list pages, renderings, listings): glibc would otherwise
 * raise that threshold to the largest block freed and serve the next ones
 * from the heap, whose holes stay resident. Call once, first. */
void xalloc_init(void);

#define FREE_NULL(p) do { free(p); (p) = NULL; } while (0)
#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
