/* SPDX-License-Identifier: Apache-2.0 */
/* Field validators. Every check is anchored on the whole string. */
#include "model/validate.h"

#include <string.h>
#include <strings.h>

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


bool valid_errorfile_code(unsigned code)
{
    static const unsigned short codes[] = {200, 400, 401, 403, 404, 405, 407, 408, 410, 413,
                                           421, 422, 425, 429, 500, 501, 502, 503, 504};

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (codes[i] == code)
            return true;
    }
    return false;
}

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The line at <p> (before <end>) without its LF and optional CR: its length,
 * with *<next> after the LF; -1 when no LF ends it. */
static long line_len(const char *p, const char *end, const char **next)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));

    if (!lf)
        return -1;
    *next = lf + 1;
    return lf - p - (lf > p && lf[-1] == '\r');
}

/* A field value or reason phrase: visible ASCII, spaces and tabs only. */
static bool text_ok(const char *p, long len)
{
    for (long i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];

        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return false;
    }
    return true;
}

const char *validate_errorfile(const char *resp, size_t len)
{
    const char *p = resp, *end = resp + len, *next;
    long l, body_len = -1;
    int n_fields = 0;

    if (len == 0)
        return NULL;
    if (len > ERRORFILE_MAX)
        return "larger than 8192 bytes";
    l = line_len(p, end, &next);
    if (l < 0)
        return "the header fields do not end with an empty line";
    if (l < 12 || (memcmp(p, "HTTP/1.0 ", 9) && memcmp(p, "HTTP/1.1 ", 9)))
        return "does not start with a status line such as \"HTTP/1.1 503 Service Unavailable\"";
    if (p[9] < '2' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
        (l > 12 && p[12] != ' '))
        return "the status line's code is not from 200 to 599";
    if (!text_ok(p, l))
        return "the status line has a control or non-ASCII character";
    for (p = next;; p = next) {
        const char *colon;

        l = line_len(p, end, &next);
        if (l < 0)
            return "the header fields do not end with an empty line";
        if (l == 0)
            break;
        if (++n_fields > 50)
            return "more than 50 header fields";
        colon = memchr(p, ':', (size_t)l);
        if (!colon || colon == p)
            return "a header line is not \"Name: value\"";
        for (const char *c = p; c < colon; c++) {
            if (!is_tchar((unsigned char)*c))
                return "a header name has a character other than letters, digits and "
                       "!#$%&'*+-.^_`|~";
        }
        if (!text_ok(colon + 1, l - (colon + 1 - p)))
            return "a header value has a control or non-ASCII character";
        if (colon - p == 17 && !strncasecmp(p, "Transfer-Encoding", 17))
            return "Transfer-Encoding: HAProxy sends an error page as it is, not chunked";
        if (colon - p == 14 && !strncasecmp(p, "Content-Length", 14)) {
            const char *v = colon + 1, *vend = p + l;
            long n = 0;

            if (body_len >= 0)
                return "Content-Length appears twice";
            while (v < vend && (*v == ' ' || *v == '\t'))
                v++;
            while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
                vend--;
            if (v == vend)
                return "Content-Length is empty";
            for (; v < vend; v++) {
                if (*v < '0' || *v > '9')
                    return "Content-Length is not a number";
                n = n * 10 + (*v - '0');
                if (n > ERRORFILE_MAX)
                    return "Content-Length is larger than the page";
            }
            body_len = n;
        }
    }
    if (body_len >= 0 && body_len != end - next)
        return "Content-Length differs from the length of the body that follows the "
               "empty line";
    return NULL;
}
