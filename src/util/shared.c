/* SPDX-License-Identifier: Apache-2.0 */
#include "util/shared.h"

#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

/* Before the block, aligned for anything it may hold. */
struct shared_head {
    alignas(max_align_t) size_t refs;
};

static struct shared_head *head(void *p)
{
    return (struct shared_head *)((char *)p - sizeof(struct shared_head));
}

void *shared_new(size_t size)
{
    struct shared_head *h = xcalloc(1, sizeof(*h) + size);

    h->refs = 1;
    return h + 1;
}

void *shared_ref(void *p)
{
    if (p)
        head(p)->refs++;
    return p;
}

bool shared_release(void *p)
{
    return p && --head(p)->refs == 0;
}

void shared_free(void *p)
{
    if (p)
        free(head(p));
}

void shared_unref(void *p)
{
    if (shared_release(p))
        shared_free(p);
}
