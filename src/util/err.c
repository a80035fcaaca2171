/* SPDX-License-Identifier: Apache-2.0 */
/* Error messages carried up the stack. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/xalloc.h"
#include "util/banned.h"

void errmsg_set(char **err, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    if (!err)
        return;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    free(*err);
    *err = msg;
}

void errmsg_prefix(char **err, const char *fmt, ...)
{
    va_list ap;
    char *pfx, *msg;

    if (!err)
        return;
    va_start(ap, fmt);
    if (vasprintf(&pfx, fmt, ap) < 0)
        abort();
    va_end(ap);
    if (*err)
        msg = xasprintf("%s: %s", pfx, *err);
    else
        msg = xstrdup(pfx);
    free(pfx);
    free(*err);
    *err = msg;
}
