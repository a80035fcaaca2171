/* SPDX-License-Identifier: Apache-2.0 */
/* Heapsort: in place, O(n log n) at worst. Arrays without two equal
 * elements, the model's, are merge sorted by index instead: the same order
 * for half the comparisons. */
#include "util/sort.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

/* from this many elements, sort_unique() is tried first */
#define SORT_INDEX_MIN 16

/* Exchanges <size> bytes at <a> and <b>, a word at a time: the model's
 * backends and map entries are wider than a word, and a byte at a time made
 * swapping most of the cost of every build's sorts. */
static void swap(unsigned char *a, unsigned char *b, size_t size)
{
    for (; size >= sizeof(uint64_t); size -= sizeof(uint64_t)) {
        uint64_t t;

        memcpy(&t, a, sizeof(t));
        memcpy(a, b, sizeof(t));
        memcpy(b, &t, sizeof(t));
        a += sizeof(t);
        b += sizeof(t);
    }
    while (size--) {
        unsigned char t = *a;

        *a++ = *b;
        *b++ = t;
    }
}

/* Moves element <i> down the heap of the first <n> elements until neither
 * child is greater. */
static void sift_down(unsigned char *base, size_t i, size_t n, size_t size,
                      int (*cmp)(const void *, const void *))
{
    for (;;) {
        size_t top = i, left = 2 * i + 1, right = left + 1;

        if (left < n && cmp(base + left * size, base + top * size) > 0)
            top = left;
        if (right < n && cmp(base + right * size, base + top * size) > 0)
            top = right;
        if (top == i)
            return;
        swap(base + i * size, base + top * size, size);
        i = top;
    }
}

/* Sorts the indexes <idx> of the <n> elements at <base> (merge sort, <tmp>
 * the same size as <idx>), then, unless two elements compare equal, puts the
 * elements in that order and returns true. With no two equal, every sort
 * gives the same order, the heapsort's included, with half its comparisons
 * and no element moved twice. With equal ones, <base> is left as it was. */
static bool sort_unique(unsigned char *base, size_t n, size_t size, size_t *idx, size_t *tmp,
                        int (*cmp)(const void *, const void *))
{
    unsigned char *elem;

    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, k = lo;

            while (a < mid && b < hi)
                tmp[k++] = cmp(base + idx[b] * size, base + idx[a] * size) < 0 ? idx[b++]
                                                                             : idx[a++];
            while (a < mid)
                tmp[k++] = idx[a++];
            while (b < hi)
                tmp[k++] = idx[b++];
        }
        memcpy(idx, tmp, n * sizeof(*idx));
    }
    for (size_t i = 1; i < n; i++) {
        if (!cmp(base + idx[i - 1] * size, base + idx[i] * size))
            return false;
    }
    /* position i takes element idx[i]: one cycle of the permutation at a time */
    elem = xmalloc(size);
    for (size_t i = 0; i < n; i++) {
        size_t j = i;

        if (idx[i] == i)
            continue;
        memcpy(elem, base + i * size, size);
        while (idx[j] != i) {
            size_t next = idx[j];

            memcpy(base + j * size, base + next * size, size);
            idx[j] = j;
            j = next;
        }
        memcpy(base + j * size, elem, size);
        idx[j] = j;
    }
    free(elem);
    return true;
}

void sort_in_place(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    unsigned char *b = base;

    if (n < 2)
        return;
    if (n >= SORT_INDEX_MIN) {
        size_t *idx = xmalloc(2 * n * sizeof(*idx));
        bool done = sort_unique(b, n, size, idx, idx + n, cmp);

        free(idx);
        if (done)
            return;
    }
    for (size_t i = n / 2; i-- > 0;)
        sift_down(b, i, n, size, cmp);
    for (size_t end = n - 1; end > 0; end--) {
        swap(b, b + end * size, size);
        sift_down(b, 0, end, size, cmp);
    }
}
