/* SPDX-License-Identifier: Apache-2.0 */
/* Field validators. Every check is anchored on the whole string. */
#include "model/validate.h"

#include <string.h>

#include "util/banned.h"

#define MAX_PATH_LEN 2048

static bool is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool label_ok(const char *s, size_t len)
{
    if (len == 0 || len > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return false;
    }
    return true;
}

bool valid_dns_label(const char *s)
{
    return label_ok(s, strlen(s));
}

bool valid_dns_subdomain(const char *s)
{
    size_t len = strlen(s);
    const char *p = s;

    if (len == 0 || len > 253)
        return false;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);

        if (!label_ok(p, l))
            return false;
        if (!dot)
            return true;
        p = dot + 1;
    }
}

bool valid_host(const char *s)
{
    if (s[0] == '*' && s[1] == '.')
        s += 2;
    return valid_dns_subdomain(s);
}

bool valid_port_name(const char *s)
{
    return label_ok(s, strlen(s));
}

const char *validate_path(const char *path, enum k8s_path_type type)
{
    size_t len = strlen(path);

    if (len > MAX_PATH_LEN)
        return "longer than 2048 bytes";
    if (len == 0)
        return type == K8S_PATH_IMPL ? NULL : "must not be empty for this pathType";
    if (path[0] != '/')
        return "must be an absolute path (start with '/')";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];

        /* what can appear in a request path on the wire, minus '#' (never sent) */
        if (c <= 0x20 || c >= 0x7f)
            return "contains a space, a control character or a non-ASCII byte";
        if (c == '#')
            return "contains '#', which never reaches the server";
    }
    if (type == K8S_PATH_IMPL)
        return NULL;
    if (strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../") ||
        strstr(path, "%2f") || strstr(path, "%2F"))
        return "must not contain '//', '/./', '/../' or '%2f'";
    if ((len >= 2 && !strcmp(path + len - 2, "/.")) ||
        (len >= 3 && !strcmp(path + len - 3, "/..")))
        return "must not end with '/.' or '/..'";
    return NULL;
}

