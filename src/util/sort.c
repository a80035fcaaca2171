/* SPDX-License-Identifier: Apache-2.0 */
/* Heapsort: in place, O(n log n) at worst. */
#include "util/sort.h"

#include <stdint.h>
#include <string.h>

#include "util/banned.h"

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

void sort_in_place(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    unsigned char *b = base;

    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(b, i, n, size, cmp);
    for (size_t end = n - 1; end > 0; end--) {
        swap(b, b + end * size, size);
        sift_down(b, 0, end, size, cmp);
    }
}
