/* SPDX-License-Identifier: Apache-2.0 */
/* Owned growable byte buffer with a hard size limit (curl dynbuf shape). */
#ifndef SRC_UTIL_BUF_H
#define SRC_UTIL_BUF_H
#include <stddef.h>

struct buf {
    char *ptr;    /* NUL-terminated when non-NULL */
    size_t len;   /* bytes used, without the NUL */
    size_t cap;   /* bytes allocated */
    size_t limit; /* adding past this fails with -E2BIG */
    int err;      /* -E2BIG once an add went past the limit: every later add
                   * fails too, so that what follows a
                   * failure is never appended to a fresh buffer;
                   * buf_free() clears it */
};

void buf_init(struct buf *b, size_t limit);
/* Frees the content; the buffer is empty and usable again, even after a
 * failed add. */
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Appends bytes. Returns 0, or -E2BIG past the limit, in which case the buffer
 * is freed and left empty (ptr NULL) so that a truncated result is never used,
 * and refuses every later add. */
int buf_add(struct buf *b, const void *data, size_t len);
/* Makes room for <n> more bytes (up to the limit) in one allocation: at a few
 * megabytes, doubling copies the buffer and holds both copies for a moment. */
void buf_reserve(struct buf *b, size_t n);
/* The free space at the end of <b>, after making room for <n> more bytes
 * (fewer at the limit), to read into: *<room> bytes (0 at the limit, or
 * after an error). buf_extend() then counts the <n> bytes put there. */
char *buf_tail(struct buf *b, size_t n, size_t *room);
void buf_extend(struct buf *b, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves the content out; the caller owns the returned string (never NULL). */
char *buf_take(struct buf *b);
#endif
