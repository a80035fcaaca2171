/* SPDX-License-Identifier: Apache-2.0 */
/* Small string helpers. */
#include "util/strutil.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "util/banned.h"

size_t str_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, 255), lb = strnlen(b, 255);
    size_t row[256];

    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);

            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *str_closest(const char *s, const char *(*next)(void *arg, size_t i), void *arg)
{
    const char *best = NULL, *c;
    size_t best_d = (size_t)-1;

    for (size_t i = 0; (c = next(arg, i)); i++) {
        size_t d = str_distance(s, c);

        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    /* more than a third of the word changed is not a typo */
    if (best && best_d * 3 > strlen(s) + 2)
        return NULL;
    return best;
}

bool str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

int str_cmp_ptrs(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int str_to_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v = 0;

    if (!*s || strlen(s) > 10)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < lo || v > hi)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

int str_to_duration_ms(const char *s, uint32_t *out)
{
    static const struct {
        const char *unit;
        uint64_t num, den; /* ms = value * num / den */
    } units[] = {{"", 1, 1},        {"us", 1, 1000},        {"ms", 1, 1},
                 {"s", 1000, 1},    {"m", 60000, 1},        {"h", 3600000, 1},
                 {"d", 86400000, 1}};
    uint64_t v = 0;
    size_t digits = strspn(s, "0123456789");

    if (digits == 0 || digits > 9)
        return -EINVAL;
    for (size_t i = 0; i < digits; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(s + digits, units[i].unit) == 0) {
            v = v * units[i].num / units[i].den;
            if (v > 2147483647u) /* HAProxy's limit for timers */
                return -EINVAL;
            *out = (uint32_t)v;
            return 0;
        }
    }
    return -EINVAL;
}

char *str_concat(char *buf, size_t size, ...)
{
    size_t at = 0;
    const char *p;
    va_list ap;

    va_start(ap, size);
    while ((p = va_arg(ap, const char *))) {
        size_t n = strlen(p);

        if (n > size - 1 - at)
            n = size - 1 - at;
        memcpy(buf + at, p, n);
        at += n;
    }
    va_end(ap);
    buf[at] = '\0';
    return buf;
}
