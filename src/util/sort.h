/* SPDX-License-Identifier: Apache-2.0 */
/* Sorting without a copy of the array. */
#ifndef SRC_UTIL_SORT_H
#define SRC_UTIL_SORT_H
#include <stddef.h>

/* Sorts the <n> elements of <size> bytes at <base> by <cmp>, as qsort() does
 * but in place (heapsort): glibc's qsort() copies an array it sorts, which
 * for the model's biggest arrays came on top of a build's peak. It takes 16
 * bytes an element for indexes, freed on return. Not stable. */
void sort_in_place(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
#endif
