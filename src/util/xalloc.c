/* SPDX-License-Identifier: Apache-2.0 */
/* Allocation wrappers that abort on exhaustion. */
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "util/banned.h"

static void oom(size_t n)
{
    fprintf(stderr, "level=error mod=util msg=\"out of memory allocating %zu bytes\"\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (!p)
        oom(nmemb * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xgrow(void *p, size_t *cap, size_t need, size_t size)
{
    size_t ncap = *cap ? *cap : 8;

    if (need <= *cap)
        return p;
    while (ncap < need)
        ncap *= 2;
    p = xrealloc(p, ncap * size);
    *cap = ncap;
    return p;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return p;
}

void xalloc_init(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 128 << 10);
#endif
}

void xtrim(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
