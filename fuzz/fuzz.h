/* SPDX-License-Identifier: Apache-2.0 */
/* What the fuzz targets share: libFuzzer's entry points, and a reader that
 * takes an input apart (a byte, a NUL-terminated part, the rest). */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The part of an input not read yet. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

/* The next byte, or 0 at the end. */
static inline unsigned fuzz_byte(struct fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* The bytes up to the next NUL (or the end) as a new string the caller
 * owns; the NUL is consumed. NULL once everything has been read. */
static inline char *fuzz_part(struct fuzz_in *in)
{
    const uint8_t *nul;
    size_t len;
    char *s;

    if (!in->n)
        return NULL;
    nul = memchr(in->p, '\0', in->n);
    len = nul ? (size_t)(nul - in->p) : in->n;
    s = xstrndup((const char *)in->p, len);
    in->p += len + (nul ? 1 : 0);
    in->n -= len + (nul ? 1 : 0);
    return s;
}

/* Every log line is formatted (the escaping of object text in logs is under
 * test too); the runner closes the targets' stderr (-close_fd_mask=2). */
static inline void fuzz_log_all(void)
{
    log_threshold = LOG_DEBUG;
}
#endif
