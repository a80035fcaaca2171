/* SPDX-License-Identifier: Apache-2.0 */
/* Escaping at the sink, one function per HAProxy argument context. */
#include "haproxy/escape.h"

#include <errno.h>
#include <string.h>

#include "util/banned.h"

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

int cfg_word_strong(struct buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || is_ctl((unsigned char)*p))
            return -EINVAL;
    }
    if (buf_addc(b, '\'') || buf_adds(b, s) || buf_addc(b, '\''))
        return -E2BIG;
    return 0;
}

int cfg_acl_word(struct buf *b, const char *s)
{
    /* quotes are gone when HAProxy looks for the "}" that closes the ACL */
    if (!strcmp(s, "}"))
        return -EINVAL;
    return cfg_word_strong(b, s);
}

int cfg_word_logfmt(struct buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || is_ctl((unsigned char)*p) || (unsigned char)*p > 0x7e ||
            (p[0] == ' ' && p[1] == ' '))
            return -EINVAL;
    }
    if (buf_addc(b, '\''))
        return -E2BIG;
    for (const char *p = s; *p; p++) {
        if ((*p == '%' && buf_addc(b, '%')) || buf_addc(b, *p))
            return -E2BIG;
    }
    return buf_addc(b, '\'') ? -E2BIG : 0;
}

int cfg_name(struct buf *b, const char *s)
{
    if (!*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        char c = *p;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return -EINVAL;
    }
    return buf_adds(b, s);
}

bool map_word_ok(const char *s)
{
    if (!*s || *s == '#')
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

int map_key(struct buf *b, const char *s)
{
    return map_word_ok(s) ? buf_adds(b, s) : -EINVAL;
}

int rt_api_arg(struct buf *b, const char *s)
{
    if (!*s)
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if (c <= 0x20 || c == 0x7f)
            return -EINVAL;
    }
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if ((c == ';' || c == '\\') && buf_addc(b, '\\'))
            return -E2BIG;
        if (buf_addc(b, (char)c))
            return -E2BIG;
    }
    return 0;
}
