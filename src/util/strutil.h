/* SPDX-License-Identifier: Apache-2.0 */
/* Small string helpers. */
#ifndef SRC_UTIL_STRUTIL_H
#define SRC_UTIL_STRUTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Edit distance between <a> and <b> (bounded to 255-byte inputs). */
size_t str_distance(const char *a, const char *b);
/* Returns the candidate closest to <s>, or NULL when none is close enough to
 * be a plausible typo. Candidates come from <next>(<arg>, i) until NULL. */
const char *str_closest(const char *s, const char *(*next)(void *arg, size_t i), void *arg);
bool str_has_prefix(const char *s, const char *prefix);
/* True when <a> and <b> are both NULL, or the same text. */
bool str_same(const char *a, const char *b);
/* qsort() comparison of two elements of an array of strings. */
int str_cmp_ptrs(const void *a, const void *b);
/* Concatenates the strings that follow, up to a NULL, into <buf> of <size>
 * (> 0) bytes, cut to fit; returns <buf>. Building keys with snprintf() was a
 * fifth of a model build at 10,000 Ingresses. */
char *str_concat(char *buf, size_t size, ...) __attribute__((sentinel));
/* Parses a whole decimal number in [lo, hi]; returns 0 or -EINVAL. */
int str_to_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);
/* Parses a HAProxy-style duration ("250ms", "5s", "1m", "2h", "1d"; a bare
 * number is milliseconds) into milliseconds. Returns 0 or -EINVAL. */
int str_to_duration_ms(const char *s, uint32_t *out);
#endif
