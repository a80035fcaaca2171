/* SPDX-License-Identifier: Apache-2.0 */
/* Blocks with a reference count: an array several models use (a map a
 * reroute did not touch), freed with the last of them. */
#ifndef SRC_UTIL_SHARED_H
#define SRC_UTIL_SHARED_H
#include <stdbool.h>
#include <stddef.h>

/* A zeroed block of <size> bytes, one reference; aborts on exhaustion. */
void *shared_new(size_t size);
/* Takes a reference to <p> (NULL: none); returns <p>. */
void *shared_ref(void *p);
/* Drops a reference to <p> (NULL: none). True when it was the last: the
 * caller releases what the block holds, then shared_free() it. */
bool shared_release(void *p);
void shared_free(void *p);
/* shared_release(), and shared_free() after the last reference, for
 * blocks that hold nothing else. */
void shared_unref(void *p);
#endif
