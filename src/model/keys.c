/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration key table and its parsers. doc/config/ is generated from
 * it (portico docs key NAME, through scripts/gen-docs.sh), and the docs
 * suite of make test (gen-docs.sh --check) fails when the two differ. */
#include "model/keys.h"
#include "model/validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/hmap.h"
#include "util/strutil.h"
#include "util/banned.h"


static int parse_bool(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (!strcmp(val, "true")) {
        *(bool *)dst = true;
    } else if (!strcmp(val, "false")) {
        *(bool *)dst = false;
    } else {
        errmsg_set(err, "must be \"true\" or \"false\"");
        return -EINVAL;
    }
    return 0;
}

static int parse_redirect_code(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    uint32_t v;

    if (str_to_u32(val, 301, 308, &v) || v == 304 || v == 305 || v == 306) {
        errmsg_set(err, "must be one of 301, 302, 303, 307, 308");
        return -EINVAL;
    }
    *(uint32_t *)dst = v;
    return 0;
}

static int parse_duration(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (str_to_duration_ms(val, dst)) {
        errmsg_set(err, "must be a duration such as 500ms, 5s, 1m or 1h");
        return -EINVAL;
    }
    return 0;
}

static int parse_port_or_zero(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (str_to_u32(val, 0, 65535, dst)) {
        errmsg_set(err, "must be a port from 1 to 65535, or 0");
        return -EINVAL;
    }
    return 0;
}

static int parse_count(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (str_to_u32(val, 0, 10000000, dst)) {
        errmsg_set(err, "must be a whole number from 0 to 10000000");
        return -EINVAL;
    }
    return 0;
}

static int parse_threads(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (str_to_u32(val, 0, 64, dst)) {
        errmsg_set(err, "must be a whole number from 0 (HAProxy's default) to 64");
        return -EINVAL;
    }
    return 0;
}

/* Text values are copied into the model's arena; the defaults (a == NULL)
 * are empty and stored as NULL. */
static const char *keep(struct arena *a, const char *s, size_t len)
{
    return a ? arena_strndup(a, s, len) : NULL;
}

/* Bytes that cannot reach HAProxy's configuration at all: a value is written
 * as one single-quoted word (security.md R1), which has no escape for "'" or
 * control bytes; anything outside printable ASCII is refused as well. */
static const char *bad_byte(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '\'')
            return s;
    }
    return NULL;
}

static int too_long(const char *val, char **err)
{
    if (strlen(val) <= KEY_TEXT_MAX)
        return 0;
    errmsg_set(err, "is longer than %d bytes", KEY_TEXT_MAX);
    return -EINVAL;
}

static int refuse_byte(const char *val, const char *at, char **err)
{
    errmsg_set(err, "byte %zu (0x%02x) is not allowed here: printable ASCII without \"'\" only",
               (size_t)(at - val), (unsigned char)*at);
    return -EINVAL;
}

static bool host_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-';
}

/* A DNS name (RFC 1123 labels), optionally ":port". */
static int parse_host(struct arena *a, const char *val, void *dst, char **err)
{
    const char *p = val, *colon = strchr(val, ':');
    size_t len = colon ? (size_t)(colon - val) : strlen(val);
    uint32_t port;

    if (!*val) {
        *(const char **)dst = NULL;
        return 0;
    }
    if (len == 0 || len > 253)
        goto bad;
    while (p < val + len) {
        const char *start = p;

        while (p < val + len && host_label_char(*p))
            p++;
        if (p == start || p - start > 63 || *start == '-' || p[-1] == '-')
            goto bad;
        if (p < val + len && *p++ != '.')
            goto bad;
        if (p == val + len && p[-1] == '.')
            goto bad;
    }
    if (colon && str_to_u32(colon + 1, 1, 65535, &port))
        goto bad;
    *(const char **)dst = keep(a, val, strlen(val));
    return 0;
bad:
    errmsg_set(err, "must be a host name such as example.com, with an optional :port");
    return -EINVAL;
}

static const char *const balance_algos[] = {"roundrobin", "leastconn", "first", "random",
                                            "source", "uri"};

static int parse_balance(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    for (size_t i = 0; i < sizeof(balance_algos) / sizeof(balance_algos[0]); i++) {
        if (!strcmp(val, balance_algos[i])) {
            *(const char **)dst = balance_algos[i];
            return 0;
        }
    }
    errmsg_set(err, "must be one of roundrobin, leastconn, first, random, source, uri");
    return -EINVAL;
}

static int parse_proto(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (!*val || !strcmp(val, "h1")) {
        *(const char **)dst = NULL;
    } else if (!strcmp(val, "h2")) {
        *(const char **)dst = "h2";
    } else {
        errmsg_set(err, "must be h1 or h2");
        return -EINVAL;
    }
    return 0;
}

static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&*+-.^_`|~", c));
}

/* Lines "Name value": an HTTP field name, spaces, then the value (printable
 * ASCII without "'", possibly empty). Stored as "Name\nvalue\n" pairs. */
static int parse_headers(struct arena *a, const char *val, void *dst, char **err)
{
    struct buf out;
    const char *p = val, *bad;
    size_t n = 0;

    if (too_long(val, err))
        return -EINVAL;
    buf_init(&out, KEY_TEXT_MAX * 2 + 16);
    while (*p) {
        const char *eol = strchr(p, '\n'), *name = p, *v;
        size_t len = eol ? (size_t)(eol - p) : strlen(p), nlen = 0;

        while (nlen < len && tchar(name[nlen]))
            nlen++;
        v = name + nlen;
        while (v < p + len && (*v == ' ' || *v == '\t'))
            v++;
        if (len && (!nlen || (v == name + nlen && nlen < len))) {
            errmsg_set(err, "line %zu must be a header name then its value", n + 1);
            goto fail;
        }
        if (len) {
            size_t vlen = (size_t)(p + len - v);

            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t' || v[vlen - 1] == '\r'))
                vlen--;
            if (!vlen) {
                errmsg_set(err, "line %zu has a header name but no value", n + 1);
                goto fail;
            }
            for (size_t i = 0; i < vlen; i++) {
                if (i && v[i] == ' ' && v[i - 1] == ' ') {
                    errmsg_set(err, "line %zu: the value has a run of spaces, which HAProxy "
                                    "would merge into one", n + 1);
                    goto fail;
                }
                if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e || v[i] == '\'') {
                    bad = v + i;
                    refuse_byte(val, bad, err);
                    goto fail;
                }
            }
            if (++n > 64) {
                errmsg_set(err, "has more than 64 headers");
                goto fail;
            }
            buf_addf(&out, "%.*s\n%.*s\n", (int)nlen, name, (int)vlen, v);
        }
        p += len + (eol ? 1 : 0);
    }
    *(const char **)dst = n ? keep(a, out.ptr, out.len) : NULL;
    buf_free(&out);
    return 0;
fail:
    buf_free(&out);
    return -EINVAL;
}

/* IPv4 and IPv6 addresses and networks, separated by commas, spaces or
 * newlines; stored in the form inet_ntop() writes, space separated, so that
 * HAProxy reads them exactly. */
static int parse_addrs(struct arena *a, const char *val, void *dst, char **err)
{
    struct buf out;
    const char *p = val;
    size_t n = 0;

    if (too_long(val, err))
        return -EINVAL;
    buf_init(&out, KEY_TEXT_MAX + 16);
    while (*p) {
        size_t len = strcspn(p, ", \t\r\n");
        char tok[64], text[INET6_ADDRSTRLEN];
        unsigned char addr[16];
        const char *slash;
        uint32_t bits = 0;
        bool v6;

        if (!len) {
            p++;
            continue;
        }
        if (len >= sizeof(tok))
            goto bad;
        memcpy(tok, p, len);
        tok[len] = '\0';
        slash = strchr(tok, '/');
        if (slash)
            tok[slash - tok] = '\0';
        v6 = strchr(tok, ':') != NULL;
        if (inet_pton(v6 ? AF_INET6 : AF_INET, tok, addr) != 1 ||
            (slash && str_to_u32(slash + 1, 0, v6 ? 128 : 32, &bits)))
            goto bad;
        if (++n > KEY_LIST_MAX) {
            errmsg_set(err, "has more than %d entries", KEY_LIST_MAX);
            goto fail;
        }
        inet_ntop(v6 ? AF_INET6 : AF_INET, addr, text, sizeof(text));
        if (out.len)
            buf_addc(&out, ' ');
        if (slash)
            buf_addf(&out, "%s/%u", text, bits);
        else
            buf_adds(&out, text);
        p += len;
        continue;
bad:
        errmsg_set(err, "\"%.*s\" is not an IP address or network (such as 10.0.0.0/8)",
                   (int)(len > 64 ? 64 : len), p);
        goto fail;
    }
    *(const char **)dst = n ? keep(a, out.ptr, out.len) : NULL;
    buf_free(&out);
    return 0;
fail:
    buf_free(&out);
    return -EINVAL;
}

/* Compiles <re> with PCRE2 as HAProxy 2.6 does (regex_comp()): groups only
 * when <captures> (replace-path), none for an ACL's "-m reg", where "\1"
 * then names no group, and a JIT compile whose failure HAProxy refuses
 * too. 0, or -EINVAL with *<err> set. */
static int check_regex(const char *re, size_t len, bool captures, char **err)
{
    pcre2_code *code;
    int ecode;
    PCRE2_SIZE eoff;

    code = pcre2_compile((PCRE2_SPTR)re, len, captures ? 0 : PCRE2_NO_AUTO_CAPTURE, &ecode,
                         &eoff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[160];

        pcre2_get_error_message(ecode, msg, sizeof(msg));
        errmsg_set(err, "the regex does not compile: %s (at offset %zu)", (char *)msg,
                   (size_t)eoff);
        return -EINVAL;
    }
    ecode = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    pcre2_code_free(code);
    /* a library without JIT answers BADOPTION, which HAProxy accepts */
    if (ecode && ecode != PCRE2_ERROR_JIT_BADOPTION) {
        PCRE2_UCHAR msg[160];

        pcre2_get_error_message(ecode, msg, sizeof(msg));
        errmsg_set(err, "the regex does not compile: %s", (char *)msg);
        return -EINVAL;
    }
    return 0;
}

/* Lines "REGEX REPLACEMENT", or "REPLACEMENT" alone (the whole path is
 * replaced), applied in turn. The regexes must compile with PCRE2; a
 * replacement may use \0 to \9. Stored as "REGEX\nREPLACEMENT\n" pairs. */
static int parse_rewrite(struct arena *a, const char *val, void *dst, char **err)
{
    const char *bad, *p = val, *next;
    struct buf out;
    size_t n = 0;

    if (too_long(val, err))
        return -EINVAL;
    buf_init(&out, KEY_TEXT_MAX * 2 + 16);
    while (*p) {
        const char *eol = strchr(p, '\n'), *re = "(.*)", *to = p, *sp, *end;
        size_t len = eol ? (size_t)(eol - p) : strlen(p), re_len = 4, to_len;

        end = p + len;
        /* the next line's start, before p skips this one's blanks */
        next = eol ? eol + 1 : end;
        while (end > p && (end[-1] == ' ' || end[-1] == '\r'))
            end--;
        while (p < end && *p == ' ')
            p++;
        if (p < end) {
            for (const char *c = p; c < end; c++) {
                if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e || *c == '\'') {
                    bad = c;
                    refuse_byte(val, bad, err);
                    goto fail;
                }
            }
            sp = memchr(p, ' ', (size_t)(end - p));
            to = p;
            if (sp) {
                re = p;
                re_len = (size_t)(sp - p);
                to = sp;
                while (*to == ' ')
                    to++;
            }
            to_len = (size_t)(end - to);
            if (!to_len || memchr(to, ' ', to_len)) {
                errmsg_set(err, "line %zu must be \"REGEX REPLACEMENT\" or a REPLACEMENT alone, "
                                "with no space in either", n + 1);
                goto fail;
            }
            if (check_regex(re, re_len, true, err) || ++n > 16) {
                if (n > 16)
                    errmsg_set(err, "has more than 16 rewrites");
                goto fail;
            }
            buf_addf(&out, "%.*s\n%.*s\n", (int)re_len, re, (int)to_len, to);
        }
        p = next;
    }
    *(const char **)dst = n ? keep(a, out.ptr, out.len) : NULL;
    buf_free(&out);
    return 0;
fail:
    buf_free(&out);
    return -EINVAL;
}

/* "*", or origins ("https://example.com", "http://a.example:8080") separated
 * by commas or spaces; stored space separated. */
static int parse_origins(struct arena *a, const char *val, void *dst, char **err)
{
    struct buf out;
    const char *p = val;

    if (!strcmp(val, "*")) {
        *(const char **)dst = "*";
        return 0;
    }
    if (too_long(val, err))
        return -EINVAL;
    /* the HAProxy controller's form: a regex the Origin must match */
    if (*val == '^') {
        const char *bad = bad_byte(val);

        if (bad)
            return refuse_byte(val, bad, err);
        if (strchr(val, ' ')) {
            errmsg_set(err, "a regex of origins cannot hold a space");
            return -EINVAL;
        }
        if (check_regex(val, strlen(val), false, err))
            return -EINVAL;
        *(const char **)dst = keep(a, val, strlen(val));
        return 0;
    }
    buf_init(&out, KEY_TEXT_MAX + 16);
    while (*p) {
        size_t len = strcspn(p, ", \t\r\n"), scheme;
        char host[300];
        const char *h;

        if (!len) {
            p++;
            continue;
        }
        scheme = !strncmp(p, "https://", 8) ? 8 : !strncmp(p, "http://", 7) ? 7 : 0;
        if (!scheme || len - scheme >= sizeof(host))
            goto bad;
        memcpy(host, p + scheme, len - scheme);
        host[len - scheme] = '\0';
        if (parse_host(NULL, host, &h, err))
            goto bad;
        if (out.len)
            buf_addc(&out, ' ');
        buf_add(&out, p, len);
        p += len;
        continue;
bad:
        free(*err);
        *err = NULL;
        errmsg_set(err, "\"%.*s\" is not \"*\", an origin such as https://example.com or a "
                        "regex starting with ^",
                   (int)(len > 64 ? 64 : len), p);
        buf_free(&out);
        return -EINVAL;
    }
    *(const char **)dst = out.len ? keep(a, out.ptr, out.len) : NULL;
    buf_free(&out);
    return 0;
}

/* "*", or HTTP tokens (methods, header names) separated by commas and
 * spaces; stored as "A, B, C". */
static int parse_tokens(struct arena *a, const char *val, void *dst, char **err)
{
    struct buf out;
    const char *p = val;

    if (!strcmp(val, "*")) {
        *(const char **)dst = "*";
        return 0;
    }
    if (too_long(val, err))
        return -EINVAL;
    buf_init(&out, KEY_TEXT_MAX + 16);
    while (*p) {
        size_t len = strcspn(p, ", \t");

        if (!len) {
            p++;
            continue;
        }
        for (size_t i = 0; i < len; i++) {
            if (!tchar(p[i])) {
                errmsg_set(err, "\"%.*s\" is not a method or header name",
                           (int)(len > 64 ? 64 : len), p);
                buf_free(&out);
                return -EINVAL;
            }
        }
        if (out.len)
            buf_adds(&out, ", ");
        buf_add(&out, p, len);
        p += len;
    }
    *(const char **)dst = out.len ? keep(a, out.ptr, out.len) : NULL;
    buf_free(&out);
    return 0;
}

/* A duration, or 0 for HAProxy's default. */
static int parse_opt_duration(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (!*val || !strcmp(val, "0")) {
        *(uint32_t *)dst = 0;
        return 0;
    }
    return parse_duration(NULL, val, dst, err);
}

static int parse_conn_mode(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (!strcmp(val, "http-keep-alive")) {
        *(const char **)dst = NULL;
    } else if (!strcmp(val, "http-server-close")) {
        *(const char **)dst = "http-server-close";
    } else if (!strcmp(val, "httpclose")) {
        *(const char **)dst = "httpclose";
    } else {
        errmsg_set(err, "must be http-keep-alive, http-server-close or httpclose");
        return -EINVAL;
    }
    return 0;
}

/* ALPN protocol names HAProxy knows, comma separated, in preference order. */
static int parse_alpn(struct arena *a, const char *val, void *dst, char **err)
{
    static const char *const known[] = {"h2", "http/1.1", "http/1.0"};
    bool seen[3] = {false, false, false};
    const char *p = val;
    char out[64];
    size_t n = 0;

    while (*p) {
        size_t len = strcspn(p, ", "), i;

        if (!len) {
            p++;
            continue;
        }
        for (i = 0; i < 3; i++) {
            if (strlen(known[i]) == len && !strncmp(p, known[i], len))
                break;
        }
        if (i == 3 || seen[i]) {
            errmsg_set(err, "must be a list of h2, http/1.1, http/1.0 (each once)");
            return -EINVAL;
        }
        seen[i] = true;
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", n ? "," : "", known[i]);
        p += len;
    }
    if (!n) {
        errmsg_set(err, "must name at least one of h2, http/1.1, http/1.0");
        return -EINVAL;
    }
    /* the default needs no arena */
    *(const char **)dst = a ? keep(a, out, n) : "h2,http/1.1";
    return 0;
}

static int parse_rate(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (str_to_u32(val, 0, 1000000000, dst)) {
        errmsg_set(err, "must be a whole number of requests (0: no limit)");
        return -EINVAL;
    }
    return 0;
}

/* A count with an optional k or m suffix, as HAProxy writes table sizes. */
static int parse_size(struct arena *a, const char *val, void *dst, char **err)
{
    size_t len = strlen(val);
    uint32_t mul = 1, v;
    char num[16];

    (void)a;
    if (len && (val[len - 1] == 'k' || val[len - 1] == 'm')) {
        mul = val[len - 1] == 'k' ? 1000 : 1000000;
        len--;
    }
    if (!len || len >= sizeof(num))
        goto bad;
    memcpy(num, val, len);
    num[len] = '\0';
    if (str_to_u32(num, 1, 100000000 / mul, &v))
        goto bad;
    *(uint32_t *)dst = v * mul;
    return 0;
bad:
    errmsg_set(err, "must be a number of entries from 1 to 100m, such as 100k");
    return -EINVAL;
}

/* Printable ASCII but space, quotes, '\\' and '#': a URL or a path as a
 * client sends it. */
static bool url_chars(const char *s)
{
    return !bad_byte(s) && !strpbrk(s, " \"\\#");
}

/* An http:// or https:// URL with a host (a redirect's target). */
static int parse_url(struct arena *a, const char *val, void *dst, char **err)
{
    const char *host = str_has_prefix(val, "https://") ? val + 8
                       : str_has_prefix(val, "http://") ? val + 7 : NULL;
    size_t len = strlen(val);

    if (!*val) {
        *(const char **)dst = NULL;
        return 0;
    }
    if (!host || !*host || *host == '/' || *host == ':' || len > 2048 || !url_chars(val)) {
        errmsg_set(err, "must be an http:// or https:// URL with a host, without spaces, "
                        "quotes, '\\' or '#' (at most 2048 characters)");
        return -EINVAL;
    }
    *(const char **)dst = keep(a, val, len);
    return 0;
}

/* A path starting with '/'. */
static int parse_url_path(struct arena *a, const char *val, void *dst, char **err)
{
    size_t len = strlen(val);

    if (!*val) {
        *(const char **)dst = NULL;
        return 0;
    }
    if (val[0] != '/' || len > 1024 || !url_chars(val)) {
        errmsg_set(err, "must be a path starting with '/', without spaces, quotes, '\\' or "
                        "'#' (at most 1024 characters)");
        return -EINVAL;
    }
    *(const char **)dst = keep(a, val, len);
    return 0;
}

/* A size in bytes, "k", "m" or "g" for 1024, 1024^2, 1024^3, as nginx
 * reads client_max_body_size; 0 is no limit. */
static int parse_body_size(struct arena *a, const char *val, void *dst, char **err)
{
    size_t len = strlen(val);
    uint64_t mul = 1;
    uint32_t v;
    char num[16];

    (void)a;
    if (len && strchr("kKmMgG", val[len - 1])) {
        char u = (char)(val[len - 1] | 0x20);

        mul = u == 'k' ? 1024 : u == 'm' ? 1024 * 1024 : 1024 * 1024 * 1024;
        len--;
    }
    if (!len || len >= sizeof(num))
        goto bad;
    memcpy(num, val, len);
    num[len] = '\0';
    if (str_to_u32(num, 0, (uint32_t)(UINT32_MAX / mul), &v))
        goto bad;
    *(uint32_t *)dst = (uint32_t)(v * mul);
    return 0;
bad:
    errmsg_set(err, "must be a size such as 1m, 512k or 0 (no limit), below 4g");
    return -EINVAL;
}

/* The error statuses HAProxy 2.6 has an answer for (deny_status). */
static int parse_status(struct arena *a, const char *val, void *dst, char **err)
{
    static const uint32_t codes[] = {400, 401, 403, 404, 405, 407, 408, 410,
                                     413, 425, 429, 500, 501, 502, 503, 504};
    uint32_t v;

    (void)a;
    if (!str_to_u32(val, 400, 599, &v)) {
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
            if (codes[i] == v) {
                *(uint32_t *)dst = v;
                return 0;
            }
        }
    }
    errmsg_set(err, "must be one of 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, "
                    "501, 502, 503, 504");
    return -EINVAL;
}

/* The PROXY protocol header sent to the endpoints: the value -> the server
 * keyword. */
static const char *const proxy_words[][2] = {
    {"proxy", "send-proxy"},           {"proxy-v1", "send-proxy"},
    {"proxy-v2", "send-proxy-v2"},     {"proxy-v2-ssl", "send-proxy-v2-ssl"},
    {"proxy-v2-ssl-cn", "send-proxy-v2-ssl-cn"},
};

static int parse_proxy(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (!*val) {
        *(const char **)dst = NULL;
        return 0;
    }
    for (size_t i = 0; i < sizeof(proxy_words) / sizeof(proxy_words[0]); i++) {
        if (!strcmp(val, proxy_words[i][0])) {
            *(const char **)dst = proxy_words[i][1];
            return 0;
        }
    }
    errmsg_set(err, "must be proxy, proxy-v1, proxy-v2, proxy-v2-ssl or proxy-v2-ssl-cn");
    return -EINVAL;
}

/* A name of at most 64 letters, digits and the characters of <more>, or
 * empty (NULL): one HAProxy reads as a bare word. <what> says so on error. */
static int parse_word(struct arena *a, const char *val, void *dst, char **err,
                      const char *more, const char *what)
{
    char chars[80];
    size_t len = strlen(val);

    snprintf(chars, sizeof(chars), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789%s", more);
    if (len > 64 || strspn(val, chars) != len) {
        errmsg_set(err, "must be %s (at most 64)", what);
        return -EINVAL;
    }
    *(const char **)dst = len ? keep(a, val, len) : NULL;
    return 0;
}

/* An HTTP header name (a token). */
static int parse_header_name(struct arena *a, const char *val, void *dst, char **err)
{
    return parse_word(a, val, dst, err, "-_",
                      "a header name of letters, digits, '-' and '_'");
}

/* A cookie name (written as a bare word). */
static int parse_cookie(struct arena *a, const char *val, void *dst, char **err)
{
    return parse_word(a, val, dst, err, "_.-",
                      "a cookie name of letters, digits, '_', '.' and '-'");
}

/* One word of <words> (NULL-terminated) equal to <val>, or NULL. */
static const char *word_in(const char *val, size_t len, const char *const *words)
{
    for (; *words; words++) {
        if (strlen(*words) == len && !memcmp(*words, val, len))
            return *words;
    }
    return NULL;
}

/* syslog-server: one target a line, "name:value" fields separated by ',',
 * as the HAProxy controller reads them: address (an IP address or stdout),
 * port, facility, level, format, length. Stored as the arguments
 * of HAProxy's "log", one target a line. */
static int parse_log_targets(struct arena *a, const char *val, void *dst, char **err)
{
    static const char *const facilities[] = {
        "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
        "uucp",   "cron",   "auth2",  "ftp",    "ntp",    "audit",  "alert",  "cron2",
        "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7", NULL};
    static const char *const levels[] = {"emerg", "alert", "crit",  "err",
                                         "warning", "notice", "info", "debug", NULL};
    static const char *const formats[] = {"rfc3164", "rfc5424", "short", "raw", "iso",
                                          "timed",   "priority", "local", NULL};
    struct buf out;
    size_t n = 0;

    if (too_long(val, err))
        return -EINVAL;
    buf_init(&out, KEY_TEXT_MAX + 64);
    for (const char *line = val; *line;) {
        size_t llen = strcspn(line, "\n");
        char addr[INET6_ADDRSTRLEN + 2] = "";
        const char *facility = "local0", *level = NULL, *format = NULL;
        uint32_t port = 514, length = 0;
        bool has_port = false, std = false, blank = true;

        /* a blank line is no target */
        for (size_t i = 0; i < llen; i++)
            blank &= line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == ',';

        for (const char *f = line; f < line + llen;) {
            size_t flen = strcspn(f, ",\n"), nlen, vlen;
            const char *colon, *v;
            char field[80];

            while (flen && (*f == ' ' || *f == '\t' || *f == '\r')) {
                f++;
                flen--;
            }
            snprintf(field, sizeof(field), "%.*s", (int)(flen < 79 ? flen : 79), f);
            /* trailing blanks */
            for (nlen = strlen(field); nlen && strchr(" \t\r", field[nlen - 1]); nlen--)
                field[nlen - 1] = '\0';
            if (!*field) {
                f += flen + (f[flen] == ',');
                continue;
            }
            colon = strchr(field, ':');
            if (!colon || flen >= 79) {
                errmsg_set(err, "\"%.40s\": each field must be name:value (address, port, "
                                "facility, level, format, length)",
                           field);
                goto fail;
            }
            nlen = (size_t)(colon - field);
            v = colon + 1;
            while (*v == ' ')
                v++;
            vlen = strlen(v);
            if (nlen == 7 && !memcmp(field, "address", 7)) {
                unsigned char bin[16];
                char ip[INET6_ADDRSTRLEN];

                /* HAProxy's stderr is Portico's to read: its messages */
                std = !strcmp(v, "stdout");
                if (std) {
                    snprintf(addr, sizeof(addr), "%s", v);
                } else if (vlen < sizeof(ip) &&
                           inet_pton(strchr(v, ':') ? AF_INET6 : AF_INET, v, bin) == 1) {
                    inet_ntop(strchr(v, ':') ? AF_INET6 : AF_INET, bin, ip, sizeof(ip));
                    snprintf(addr, sizeof(addr), strchr(v, ':') ? "[%s]" : "%s", ip);
                } else {
                    errmsg_set(err, "address \"%.40s\" must be an IP address or stdout", v);
                    goto fail;
                }
            } else if (nlen == 4 && !memcmp(field, "port", 4)) {
                if (str_to_u32(v, 1, 65535, &port)) {
                    errmsg_set(err, "port \"%.20s\" must be 1 to 65535", v);
                    goto fail;
                }
                has_port = true;
            } else if (nlen == 8 && !memcmp(field, "facility", 8)) {
                if (!(facility = word_in(v, vlen, facilities))) {
                    errmsg_set(err, "facility \"%.20s\" is not a syslog facility (local0...)", v);
                    goto fail;
                }
            } else if (nlen == 5 && !memcmp(field, "level", 5)) {
                if (!(level = word_in(v, vlen, levels))) {
                    errmsg_set(err, "level \"%.20s\" must be emerg, alert, crit, err, warning, "
                                    "notice, info or debug",
                               v);
                    goto fail;
                }
            } else if (nlen == 6 && !memcmp(field, "format", 6)) {
                if (!(format = word_in(v, vlen, formats))) {
                    errmsg_set(err, "format \"%.20s\" must be rfc3164, rfc5424, short, raw, "
                                    "iso, timed, priority or local",
                               v);
                    goto fail;
                }
            } else if (nlen == 6 && !memcmp(field, "length", 6)) {
                if (str_to_u32(v, 80, 65535, &length)) {
                    errmsg_set(err, "length \"%.20s\" must be 80 to 65535", v);
                    goto fail;
                }
            } else {
                errmsg_set(err, "\"%.*s\" is not a field of a log target (address, port, "
                                "facility, level, format, length)",
                           (int)nlen, field);
                goto fail;
            }
            f += flen + (f[flen] == ',');
        }
        line += llen + (line[llen] == '\n');
        if (!*addr && !blank) {
            errmsg_set(err, "each target needs an address (an IP address or stdout)");
            goto fail;
        }
        if (blank)
            continue;
        if (std && has_port) {
            errmsg_set(err, "%s takes no port", addr);
            goto fail;
        }
        if (++n > 8) {
            errmsg_set(err, "has more than 8 targets");
            goto fail;
        }
        buf_adds(&out, addr);
        if (!std)
            buf_addf(&out, ":%u", port);
        if (length)
            buf_addf(&out, " len %u", length);
        /* HAProxy's default format for a stream is not meant for one */
        if (format || std)
            buf_addf(&out, " format %s", format ? format : "raw");
        buf_addf(&out, " %s%s%s\n", facility, level ? " " : "", level ? level : "");
    }
    *(const char **)dst = n ? keep(a, out.ptr, out.len) : NULL;
    buf_free(&out);
    return 0;
fail:
    buf_free(&out);
    return -EINVAL;
}

/* What HAProxy's log-format parser refuses, which would make haproxy -c
 * refuse every configuration: a '%' not followed by '%', flags in braces,
 * a sample expression in brackets or a variable it knows (configuration
 * manual 8.2.6; read as the longest run of letters and digits). */
static int check_log_format(const char *val, char **err)
{
    static const char *const vars[] = {
        "B",   "CC",  "CS",  "H",   "HM",  "HP",  "HPO", "HQ",  "HU",  "HV",  "ID",  "ST",
        "T",   "Ta",  "Tc",  "Td",  "Th",  "Ti",  "Tq",  "Tr",  "Ts",  "Tt",  "Tu",  "Tw",
        "U",   "ac",  "b",   "bc",  "bi",  "bp",  "bq",  "ci",  "cp",  "f",   "fc",  "fi",
        "fp",  "ft",  "hr",  "hrl", "hs",  "hsl", "lc",  "ms",  "o",   "pid", "r",   "rc",
        "rt",  "s",   "sc",  "si",  "sp",  "sq",  "sslc", "sslv", "t", "tr",  "trg", "trl",
        "ts",  "tsc", NULL};

    for (const char *p = strchr(val, '%'); p; p = strchr(p, '%')) {
        size_t n;

        p++;
        if (*p == '%') {
            p++;
            continue;
        }
        if (*p == '{') {
            n = strspn(p + 1, "+-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz,");
            if (p[1 + n] != '}')
                goto bad;
            p += n + 2;
        }
        if (*p == '[') {
            int depth = 0;

            for (; *p; p++) {
                depth += *p == '[' ? 1 : *p == ']' ? -1 : 0;
                if (!depth)
                    break;
            }
            if (!*p)
                goto bad;
            continue;
        }
        n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789");
        if (!n || !word_in(p, n, vars))
            goto bad;
        p += n;
        continue;
bad:
        errmsg_set(err, "\"%%%.20s\": not a log-format variable, %%%%, %%{flags} or "
                        "%%[sample]",
                   p);
        return -EINVAL;
    }
    return 0;
}

/* A log-format string: written inside single quotes, so printable ASCII
 * without "'"; no environment variables (env() would put the pod's secrets
 * in its logs). */
static int parse_log_format(struct arena *a, const char *val, void *dst, char **err)
{
    size_t len = strlen(val);

    if (!len) {
        *(const char **)dst = NULL;
        return 0;
    }
    if (bad_byte(val)) {
        errmsg_set(err, "must be printable ASCII without \"'\"");
        return -EINVAL;
    }
    if (len > 1024 || strstr(val, "env(")) {
        errmsg_set(err, len > 1024 ? "is longer than 1024 characters"
                                   : "must not read environment variables (env())");
        return -EINVAL;
    }
    if (check_log_format(val, err))
        return -EINVAL;
    *(const char **)dst = keep(a, val, len);
    return 0;
}

/* auth-type: basic-auth (ingress-nginx's "basic" is translated), or empty. */
static int parse_auth_type(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (*val && strcmp(val, "basic-auth")) {
        errmsg_set(err, "must be basic-auth (the only kind of authentication supported)");
        return -EINVAL;
    }
    *(const char **)dst = *val ? "basic-auth" : NULL;
    return 0;
}

/* An object's name, or namespace/name; <name_ok> checks the name, <kind>
 * names the object in the error. */
static int parse_ref(struct arena *a, const char *val, void *dst, char **err,
                     bool (*name_ok)(const char *), const char *kind)
{
    const char *slash = strchr(val, '/');
    char ns[64];

    if (!*val) {
        *(const char **)dst = NULL;
        return 0;
    }
    if (slash && (size_t)(slash - val) < sizeof(ns))
        snprintf(ns, sizeof(ns), "%.*s", (int)(slash - val), val);
    if ((slash && ((size_t)(slash - val) >= sizeof(ns) || !valid_dns_label(ns))) ||
        !name_ok(slash ? slash + 1 : val)) {
        errmsg_set(err, "must be a %s's name, or its namespace, '/' and its name", kind);
        return -EINVAL;
    }
    *(const char **)dst = keep(a, val, strlen(val));
    return 0;
}

static int parse_secret_ref(struct arena *a, const char *val, void *dst, char **err)
{
    return parse_ref(a, val, dst, err, valid_dns_subdomain, "Secret");
}

static int parse_service_ref(struct arena *a, const char *val, void *dst, char **err)
{
    return parse_ref(a, val, dst, err, valid_dns_label, "Service");
}

/* The sample fetches request-capture takes: what users log (headers,
 * cookies, parameters, parts of the URL); none reads a file or the
 * environment, and an argument is a bare name. */
static const struct {
    const char *name;
    bool arg;
} capture_fetches[] = {
    {"req.hdr", true},   {"hdr", true},      {"req.fhdr", true}, {"req.cook", true},
    {"cookie", true},    {"url_param", true}, {"urlp", true},    {"path", false},
    {"url", false},      {"base", false},     {"query", false},  {"method", false},
    {"src", false},      {"req.ver", false},  {"ssl_fc_sni", false},
};

/* One fetch of capture_fetches, "name" or "name(arg)", <len> bytes at <s>. */
static bool capture_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(capture_fetches) / sizeof(capture_fetches[0]); i++) {
        size_t n = strlen(capture_fetches[i].name);
        size_t arg;

        if (len < n || memcmp(s, capture_fetches[i].name, n))
            continue;
        if (len == n)
            return !capture_fetches[i].arg;
        if (!capture_fetches[i].arg || s[n] != '(' || s[len - 1] != ')')
            continue;
        arg = len - n - 2;
        if (arg == 0 || arg > 64)
            return false;
        for (size_t j = n + 1; j < len - 1; j++) {
            char c = s[j];

            if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
                c != '-' && c != '_' && c != '.')
                return false;
        }
        return true;
    }
    return false;
}

/* request-capture: sample fetches separated by newlines (or commas). */
static int parse_captures(struct arena *a, const char *val, void *dst, char **err)
{
    char *out = a ? arena_alloc(a, strlen(val) + 1) : NULL;
    size_t n = 0;

    for (const char *p = val; *p;) {
        size_t len = strcspn(p, ",\n");
        const char *t = p, *end = p + len;

        p = *end ? end + 1 : end;
        while (t < end && (*t == ' ' || *t == '\t' || *t == '\r'))
            t++;
        while (end > t && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            end--;
        if (t == end)
            continue;
        if (!capture_ok(t, (size_t)(end - t))) {
            errmsg_set(err, "\"%.*s\" is not one of the sample fetches request-capture takes: "
                            "req.hdr(NAME), hdr(NAME), req.fhdr(NAME), req.cook(NAME), "
                            "cookie(NAME), url_param(NAME), urlp(NAME), path, url, base, "
                            "query, method, src, req.ver, ssl_fc_sni",
                       (int)(end - t > 80 ? 80 : end - t), t);
            return -EINVAL;
        }
        if (out) {
            if (n)
                out[n++] = '\n';
            memcpy(out + n, t, (size_t)(end - t));
            n += (size_t)(end - t);
        }
    }
    if (out)
        out[n] = '\0';
    *(const char **)dst = n ? out : NULL;
    return 0;
}

static int parse_capture_len(struct arena *a, const char *val, void *dst, char **err)
{
    (void)a;
    if (str_to_u32(val, 1, 1024, dst)) {
        errmsg_set(err, "must be a whole number of bytes from 1 to 1024");
        return -EINVAL;
    }
    return 0;
}

/* A realm: it ends up inside the quotes of WWW-Authenticate. The default
 * is stored as NULL (KEY_AUTH_REALM). */
static int parse_realm(struct arena *a, const char *val, void *dst, char **err)
{
    size_t len = strlen(val);

    if (bad_byte(val) || strpbrk(val, "\"\\")) {
        errmsg_set(err, "must be printable ASCII without quotes or '\\'");
        return -EINVAL;
    }
    if (!len || len > 128) {
        errmsg_set(err, "must be 1 to 128 characters");
        return -EINVAL;
    }
    *(const char **)dst = keep(a, val, len);
    return 0;
}

/* An HTTP check: "/path", or "METHOD /path"; stored "METHOD /path". */
static int parse_check_http(struct arena *a, const char *val, void *dst, char **err)
{
    const char *sp = strchr(val, ' '), *path = sp ? sp + 1 : val;
    size_t mlen = sp ? (size_t)(sp - val) : 0;
    char text[KEY_TEXT_MAX + 16];

    if (!*val) {
        *(const char **)dst = NULL;
        return 0;
    }
    if (too_long(val, err))
        return -EINVAL;
    for (size_t i = 0; i < mlen; i++) {
        if (val[i] < 'A' || val[i] > 'Z')
            goto bad;
    }
    if (*path != '/' || strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789/-._~%!&()*+,;=:@?") != strlen(path))
        goto bad;
    snprintf(text, sizeof(text), "%.*s %s", (int)(mlen ? mlen : 3), mlen ? val : "GET", path);
    *(const char **)dst = keep(a, text, strlen(text));
    return 0;
bad:
    errmsg_set(err, "must be a path such as /healthz, or a method then a path (HEAD /healthz)");
    return -EINVAL;
}

/* ====== Snippets ====== */

/* The keywords a snippet line may start with, by section: what shapes
 * traffic, nothing that loads code, runs programs, reads files, opens
 * sockets or changes the process. */
static const char *const snippet_backend[] = {
    "acl", "balance", "compression", "cookie", "fullconn", "hash-type", "http-check",
    "http-request", "http-response", "http-after-response", "http-reuse", "option", "redirect",
    "retries", "retry-on", "stick", "stick-table", "tcp-request", "tcp-response", "timeout", NULL,
};
static const char *const snippet_frontend[] = {
    "acl", "capture", "compression", "declare", "http-request", "http-response",
    "http-after-response", "option", "redirect", "tcp-request", "timeout", "unique-id-format",
    "unique-id-header", NULL,
};
static const char *const snippet_global[] = {
    "maxconnrate", "maxsessrate", "maxsslconn", "maxsslrate", "maxcompcpuusage", "maxcomprate",
    "spread-checks", "ssl-default-bind-ciphers", "ssl-default-bind-ciphersuites",
    "ssl-default-bind-options", "ssl-default-server-ciphers", "ssl-default-server-ciphersuites",
    "ssl-default-server-options", "h1-case-adjust", NULL,
};

/* Words refused anywhere in a line: code, programs, files, the environment. */
static const char *const snippet_banned[] = {
    "lua", "external-check", "setenv", "presetenv", "resetenv", "unsetenv", "ssl-engine",
    "insecure-fork-wanted", "insecure-setuid-wanted", "file", "lf-file", "errorfile",
    "errorfiles", "-f", "env(", "getenv", "use-service", "stats", "set-dumpable", "ca-file",
    "crt", "crl-file", NULL,
};

static bool in_list(const char *const *list, const char *word, size_t len)
{
    for (; *list; list++) {
        if (strlen(*list) == len && !strncmp(*list, word, len))
            return true;
    }
    return false;
}

/* Lines of HAProxy configuration for one section, each checked: printable
 * ASCII, no quote of either kind or '$' (no environment expansion), no
 * escape sequence that makes bytes, a first keyword of <allowed> (or
 * "tune." in the global section), no word of snippet_banned. Stored as the
 * lines, '\n'-terminated, without their indentation. */
static int parse_snippet(struct arena *a, const char *val, void *dst, char **err,
                         const char *const *allowed, bool global)
{
    struct buf out;
    const char *p = val;
    size_t n = 0;

    if (too_long(val, err))
        return -EINVAL;
    buf_init(&out, KEY_TEXT_MAX + 16);
    while (*p) {
        const char *eol = strchr(p, '\n'), *end, *next;
        size_t len = eol ? (size_t)(eol - p) : strlen(p), kw;

        end = p + len;
        /* the next line's start, before p skips this one's indentation */
        next = eol ? eol + 1 : end;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            end--;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        n++;
        if (p < end && *p != '#') {
            for (const char *c = p; c < end; c++) {
                if (((unsigned char)*c < 0x20 && *c != '\t') || (unsigned char)*c > 0x7e ||
                    *c == '"' || *c == '\'' || *c == '$' ||
                    (*c == '\\' && c + 1 < end && strchr("xnrt", c[1]))) {
                    errmsg_set(err, "line %zu: byte %zu (0x%02x) is not allowed in a snippet", n,
                               (size_t)(c - p), (unsigned char)*c);
                    goto fail;
                }
            }
            kw = strcspn(p, " \t");
            if (kw > (size_t)(end - p))
                kw = (size_t)(end - p);
            if (!in_list(allowed, p, kw) && !(global && !strncmp(p, "tune.", 5))) {
                errmsg_set(err, "line %zu: \"%.*s\" is not allowed in this snippet", n,
                           (int)(kw > 64 ? 64 : kw), p);
                goto fail;
            }
            for (const char *w = p; w < end;) {
                size_t wl = strcspn(w, " \t");

                if (wl > (size_t)(end - w))
                    wl = (size_t)(end - w);
                for (const char *const *b = snippet_banned; *b; b++) {
                    size_t bl = strlen(*b);

                    /* whole words, and "lua..."/"env(" inside words too */
                    if ((wl == bl && !strncmp(w, *b, bl)) ||
                        ((!strcmp(*b, "lua") || !strcmp(*b, "env(")) &&
                         memmem(w, wl, *b, bl))) {
                        errmsg_set(err, "line %zu: \"%s\" is not allowed in a snippet", n, *b);
                        goto fail;
                    }
                }
                w += wl;
                while (w < end && (*w == ' ' || *w == '\t'))
                    w++;
            }
            buf_addf(&out, "%.*s\n", (int)(end - p), p);
        }
        p = next;
    }
    *(const char **)dst = out.len ? keep(a, out.ptr, out.len) : NULL;
    buf_free(&out);
    return 0;
fail:
    buf_free(&out);
    return -EINVAL;
}

static int parse_snippet_backend(struct arena *a, const char *val, void *dst, char **err)
{
    return parse_snippet(a, val, dst, err, snippet_backend, false);
}

static int parse_snippet_frontend(struct arena *a, const char *val, void *dst, char **err)
{
    return parse_snippet(a, val, dst, err, snippet_frontend, false);
}

static int parse_snippet_global(struct arena *a, const char *val, void *dst, char **err)
{
    return parse_snippet(a, val, dst, err, snippet_global, true);
}

static int parse_seconds(struct arena *a, const char *val, void *dst, char **err)
{
    uint32_t ms;

    (void)a;
    if (str_to_duration_ms(val, &ms) || ms % 1000) {
        errmsg_set(err, "must be a whole number of seconds such as 600s, 10m or 1h");
        return -EINVAL;
    }
    *(uint32_t *)dst = ms / 1000;
    return 0;
}

#define KV(f) offsetof(struct key_values, f)
static int parse_http_errors(struct arena *a, const char *val, const char **dst, char **err);

/* custom-http-errors in the ConfigMap: as the annotation (parse_http_errors());
 * empty, its default, for none. */
static int parse_error_codes(struct arena *a, const char *val, void *dst, char **err)
{
    if (!*val) {
        *(const char **)dst = NULL;
        return 0;
    }
    return parse_http_errors(a, val, dst, err);
}

#define BOTH (KEY_S_ANNOT | KEY_S_CMAP)
#define BE (KEY_S_ANNOT | KEY_S_BACKEND)
#define BE_BOTH (KEY_S_ANNOT | KEY_S_CMAP | KEY_S_BACKEND)

/* In the order HAProxy applies them in a backend (render.c follows it). */
const struct key_def key_table[] = {
    {"ssl-redirect", KEY_BOOL, "true", BOTH, parse_bool, KV(ssl_redirect),
     "Redirects plain HTTP requests for a host that has TLS (a `spec.tls` entry) to HTTPS. "
     "The redirect keeps the path and the query string.",
     "An entry of `maps/redirect.map` (host -> `_redirect_CODE`): the frontend routes the "
     "host's plain HTTP requests to that backend, whose one rule is `http-request redirect "
     "scheme https code CODE`.",
     "\"false\"", NULL},
    {"ssl-redirect-port", KEY_INT, "0", KEY_S_CMAP, parse_port_or_zero, KV(ssl_redirect_port),
     "The port the HTTPS redirect sends clients to, when HTTPS is not on 443 for them (a "
     "load balancer's); 0: none in the URL (443).",
     "`http-request redirect location https://HOST:PORT/...` instead of `redirect scheme "
     "https` in the `_redirect_CODE` backends.",
     "\"8443\"", NULL},
    {"ssl-redirect-code", KEY_INT, "308", BOTH, parse_redirect_code, KV(ssl_redirect_code),
     "HTTP status code of the redirect to HTTPS: 301, 302, 303, 307 or 308. 308 keeps the "
     "method and body of the request.",
     "The value of the host's entry in `maps/redirect.map`: the backend `_redirect_CODE`.",
     "\"301\"", NULL},
    {"timeout-connect", KEY_DURATION, "5s", BE_BOTH, parse_duration, KV(timeout_connect_ms),
     "Maximum time to wait for a connection to a backend endpoint.",
     "`timeout connect` in `defaults` (ConfigMap) or in the backend (annotation).", "\"3s\"",
     NULL},
    {"timeout-client", KEY_DURATION, "50s", KEY_S_CMAP, parse_duration, KV(timeout_client_ms),
     "Maximum inactivity time on the client side.", "`timeout client` in `defaults`.",
     "\"1m\"", NULL},
    {"timeout-server", KEY_DURATION, "50s", BE_BOTH, parse_duration, KV(timeout_server_ms),
     "Maximum inactivity time on the backend side.",
     "`timeout server` in `defaults` (ConfigMap) or in the backend (annotation).", "\"1m\"",
     NULL},
    {"timeout-http-request", KEY_DURATION, "5s", KEY_S_CMAP, parse_duration,
     KV(timeout_http_request_ms), "Maximum time to receive a complete HTTP request header.",
     "`timeout http-request` in `defaults`.", "\"10s\"", NULL},
    {"timeout-http-keep-alive", KEY_DURATION, "1m", KEY_S_CMAP, parse_duration,
     KV(timeout_http_keep_alive_ms),
     "Maximum time to wait for a new request on an idle keep-alive client connection.",
     "`timeout http-keep-alive` in `defaults`.", "\"30s\"", NULL},
    {"timeout-queue", KEY_DURATION, "5s", BE_BOTH, parse_duration, KV(timeout_queue_ms),
     "Maximum time a request may wait in a queue for a free backend connection slot.",
     "`timeout queue` in `defaults` (ConfigMap) or in the backend (annotation).", "\"10s\"",
     NULL},
    {"timeout-tunnel", KEY_DURATION, "1h", BE_BOTH, parse_duration, KV(timeout_tunnel_ms),
     "Maximum inactivity time of tunnels such as WebSocket connections.",
     "`timeout tunnel` in `defaults` (ConfigMap) or in the backend (annotation).", "\"2h\"",
     NULL},
    {"maxconn", KEY_INT, "0", KEY_S_CMAP, parse_count, KV(maxconn),
     "Maximum number of concurrent connections HAProxy accepts; 0 keeps HAProxy's default, "
     "derived from the file descriptor limit.",
     "`maxconn` in `global`.", "\"50000\"", NULL},
    {"nbthread", KEY_INT, "0", KEY_S_CMAP, parse_threads, KV(nbthread),
     "Number of HAProxy worker threads; 0 keeps HAProxy's default (one per CPU).",
     "`nbthread` in `global`.", "\"1\"", NULL},
    {"hard-stop-after", KEY_DURATION, "30m", KEY_S_CMAP, parse_duration, KV(hard_stop_after_ms),
     "After a reload, the longest an old HAProxy process keeps serving the connections it "
     "had (long downloads, WebSockets) before it is stopped.",
     "`hard-stop-after` in `global`.", "\"1h\"", NULL},
    {"close-spread-time", KEY_DURATION, "0", KEY_S_CMAP, parse_opt_duration,
     KV(close_spread_time_ms),
     "After a reload, the time over which the old HAProxy ends its keep-alive "
     "connections (\"Connection: close\" on the next response of each), rather than all "
     "at once (clients reconnecting together); 0: at once. Keep it below hard-stop-after.",
     "`close-spread-time` in `global`.", "\"5s\"", NULL},
    {"timeout-client-fin", KEY_DURATION, "0", KEY_S_CMAP, parse_opt_duration,
     KV(timeout_client_fin_ms),
     "Inactivity timeout on the client side once one direction is closed; 0: timeout-client.",
     "`timeout client-fin` in `defaults`.", "\"5s\"", NULL},
    {"timeout-server-fin", KEY_DURATION, "0", KEY_S_CMAP, parse_opt_duration,
     KV(timeout_server_fin_ms),
     "Inactivity timeout on the backend side once one direction is closed; 0: timeout-server.",
     "`timeout server-fin` in `defaults`.", "\"5s\"", NULL},
    {"http-connection-mode", KEY_ENUM, "http-keep-alive", KEY_S_CMAP, parse_conn_mode,
     KV(http_connection_mode),
     "How HAProxy handles connections: `http-keep-alive` (both sides kept open), "
     "`http-server-close` (the connection to the endpoint closed after each response) or "
     "`httpclose` (both closed after each response).",
     "Nothing, `option http-server-close` or `option httpclose` in `defaults`.",
     "\"http-server-close\"", NULL},
    {"tls-alpn", KEY_TOKENS, "h2,http/1.1", KEY_S_CMAP, parse_alpn, KV(tls_alpn),
     "Protocols offered to HTTPS clients by ALPN, in preference order: h2, http/1.1, "
     "http/1.0.",
     "`alpn` on the HTTPS bind lines.", "\"http/1.1\"", NULL},
    {"client-strict-sni", KEY_BOOL, "false", KEY_S_CMAP, parse_bool, KV(client_strict_sni),
     "Refuses TLS handshakes whose SNI names no host with a certificate (no default "
     "certificate for them).",
     "`strict-sni` on the HTTPS bind lines.", "\"true\"", NULL},
    {"client-ca", KEY_SECRET, "", KEY_S_CMAP, parse_secret_ref, KV(client_ca),
     "A Secret holding the CA certificates (`ca.crt`, else `tls.crt`) that client "
     "certificates must be signed by on the HTTPS port (mutual TLS); a name alone is in the "
     "ConfigMap's namespace. Clients without a valid certificate fail the handshake (see "
     "client-crt-optional). A missing or unusable Secret answers 403 on HTTPS rather than "
     "serve without the check. A change of the Secret reloads HAProxy.",
     "`ca-file` with the Secret's certificates and `verify required` on the HTTPS bind.",
     "\"default/client-ca\"", NULL},
    {"ssl-certificate", KEY_SECRET, "", KEY_S_CMAP, parse_secret_ref, KV(ssl_certificate),
     "The TLS Secret served for unknown or absent SNI, instead of --default-ssl-certificate's; "
     "a name alone is in the ConfigMap's namespace. Missing or unusable: the flag's "
     "certificate (or the self-signed one), with a warning.",
     "`certs/default.pem`, the first certificate of the HTTPS bind lines.",
     "\"portico/default-cert\"", NULL},
    {"default-backend-service", KEY_SERVICE, "", KEY_S_CMAP, parse_service_ref,
     KV(default_backend_service),
     "The Service (its first port) that receives requests no rule matches, instead of "
     "--default-backend-service's; a name alone is in the ConfigMap's namespace. A catch-all "
     "Ingress (spec.defaultBackend without rules) still comes first.",
     "`default_backend` of the routing frontend.", "\"portico/fallback\"", NULL},
    {"request-capture", KEY_CAPTURES, "", BOTH, parse_captures, KV(request_capture),
     "Sample fetches whose values are captured for the access log (`%hr` in log-format, "
     "in braces in the default HTTP log), one a line or comma separated: req.hdr(NAME), "
     "hdr(NAME), req.fhdr(NAME), req.cook(NAME), cookie(NAME), url_param(NAME), urlp(NAME), "
     "path, url, base, query, method, src, req.ver, ssl_fc_sni. Any other is refused. In the "
     "ConfigMap: for every request; on an Ingress: for the requests routed to its backends "
     "only, after the ConfigMap's (in the capture slots that follow them, which the "
     "Ingresses share: an Ingress's first fetch is in the first slot after the ConfigMap's).",
     "ConfigMap: `http-request capture FETCH len N` in the routing frontend, one a fetch. "
     "Ingress: as many `declare capture request len N` in the routing frontend as the "
     "Ingress with the most fetches has (N the largest length of each slot), and "
     "`http-request capture FETCH id SLOT` in each of the Ingress's backends.",
     "|\n      req.fhdr(user-agent)\n      cookie(session)", NULL},
    {"request-capture-len", KEY_INT, "128", BOTH, parse_capture_len,
     KV(request_capture_len),
     "The bytes of each request-capture value kept (1 to 1024); on an Ingress, of its own "
     "request-capture (a shared slot is as long as its longest user, each value cut to its "
     "own length).",
     "`len` of the `http-request capture` rules, or of the `declare capture` slots.", "\"256\"",
     NULL},
    {"custom-http-errors", KEY_CODES, "", KEY_S_CMAP, parse_error_codes, KV(nginx_http_errors),
     "Status codes, comma separated (ingress-nginx's ConfigMap key of that name): an "
     "endpoint's response with one of them is replaced by Portico's error page for that "
     "code, the page of --configmap-errorfiles if it has one, else HAProxy's own, for every "
     "Ingress and the default backend. An Ingress's `nginx.ingress.kubernetes.io/"
     "custom-http-errors` annotation replaces the list for its routes (doc/migrate.md). "
     "Only the error statuses HAProxy has a page for are taken (" ERRORFILE_CODES_ERRORS "); "
     "others are left out with a warning "
     "naming the ConfigMap and the key, and a value with none of them is ignored.",
     "`http-response return status N default-errorfiles if { status N }` in every backend "
     "that serves HTTP.",
     "\"404,503\"", NULL},
    {"client-crt-optional", KEY_BOOL, "false", KEY_S_CMAP, parse_bool, KV(client_crt_optional),
     "With client-ca, clients without a certificate are served too (one presented must "
     "still be valid); the endpoints can tell by X-SSL-Client-Verify.",
     "`verify optional` instead of `verify required`.", "\"true\"", NULL},
    {"syslog-server", KEY_LOG_TARGETS, "", KEY_S_CMAP, parse_log_targets, KV(log_targets),
     "Where HAProxy sends a line for each request (the access log), one target a line: "
     "`address:` an IP address, or `stdout` (Portico's standard output: the container's log; "
     "`stderr` is refused, Portico reads HAProxy's for its messages); then, all optional, "
     "`port:` (514), `facility:` (local0), `level:`, `format:` (rfc3164, rfc5424, short, raw, "
     "iso, timed, priority, local; raw for stdout), `length:`. None by default: no access "
     "log.",
     "`log ADDRESS:PORT [len N] [format F] FACILITY [LEVEL]` in global, `log global` and "
     "`option httplog` (or log-format) in defaults.",
     "|\n    address:stdout, format:raw, facility:daemon", NULL},
    {"log-format", KEY_LOG_FORMAT, "", KEY_S_CMAP, parse_log_format, KV(log_format),
     "The access log's line, in HAProxy's log-format syntax (`%ci`, `%ST`, `%[capture.req.hdr(0)]`...), "
     "instead of HAProxy's HTTP log format. env() is refused.",
     "`log-format '...'` in defaults.", "\"%ci:%cp [%tr] %ft %b/%s %ST %B %{+Q}r\"", NULL},
    {"dontlognull", KEY_BOOL, "true", KEY_S_CMAP, parse_bool, KV(dontlognull),
     "Leaves connections that sent no request out of the access log.",
     "`option dontlognull` in defaults, with a log target.", "\"false\"", NULL},
    {"logasap", KEY_BOOL, "false", KEY_S_CMAP, parse_bool, KV(logasap),
     "Logs each request as soon as the response headers are sent, not at its end (long "
     "downloads appear at once, without their final size).",
     "`option logasap` in defaults, with a log target.", "\"true\"", NULL},
    {"proxy-protocol", KEY_ADDRS, "", KEY_S_CMAP, parse_addrs, KV(proxy_protocol),
     "Addresses and networks (load balancers) whose connections to ports 80 and 443 start "
     "with a PROXY protocol header (v1 or v2), which then gives the client's address; others "
     "connect as usual.",
     "`tcp-request connection expect-proxy layer4 if { src ... }` in the frontend.",
     "\"10.0.0.0/8, 192.168.1.1\"", NULL},
    {"timeout-check", KEY_DURATION, "0", BE_BOTH, parse_opt_duration, KV(timeout_check_ms),
     "Time a health check (check) may take once connected; 0: the check interval.",
     "`timeout check` in defaults or the backend.", "\"3s\"", NULL},
    {"src-ip-header", KEY_NAME, "", BE, parse_header_name, KV(src_ip_header),
     "A request header holding the client's address (set by a trusted proxy in front of "
     "Portico): the access lists, rate limits and logs then use it. A request without a "
     "valid address in it keeps the connection's.",
     "`http-request set-src hdr(NAME)` in the backend, first.", "\"True-Client-IP\"", NULL},
    {"load-balance", KEY_ENUM, "roundrobin", BE, parse_balance, KV(load_balance),
     "How requests are spread over the Service's endpoints: `roundrobin`, `leastconn` (the "
     "endpoint with the fewest connections), `first`, `random`, `source` (by client address) "
     "or `uri` (by path). Endpoints still change at run time with every algorithm.",
     "`balance ALGORITHM` in the backend; `source` and `uri` with `hash-type consistent`.",
     "\"leastconn\"", NULL},
    {"allow-list", KEY_ADDRS, "", BE, parse_addrs, KV(allow_list),
     "Client addresses and networks (IPv4, IPv6, CIDR; separated by commas or spaces) allowed "
     "to reach the Ingress's routes; others get 403. The address is the connection's source "
     "address.",
     "`acl allowed src ADDRESS...` lines and `http-request deny deny_status 403 if !allowed` "
     "in the backend.",
     "\"10.0.0.0/8, 192.168.1.7\"", "whitelist"},
    {"deny-list", KEY_ADDRS, "", BE, parse_addrs, KV(deny_list),
     "Client addresses and networks (IPv4, IPv6, CIDR) denied the Ingress's routes (403).",
     "`acl denied src ADDRESS...` lines and `http-request deny deny_status 403 if denied` in "
     "the backend.",
     "\"203.0.113.0/24\"", "blacklist"},
    {"limit-connections", KEY_INT, "0", BE, parse_count, KV(limit_connections),
     "Most connections one client address may hold open at once to the Ingress's routes "
     "(per replica of Portico); requests on more are answered 503, as ingress-nginx does. "
     "Addresses of rate-limit-whitelist are not limited. 0: no limit.",
     "A stick table storing `conn_cur`, `http-request track-sc0 src` and `http-request deny "
     "deny_status 503 if { sc_conn_cur(0) gt N }` in the backend.",
     "\"20\"", NULL},
    {"rate-limit-requests", KEY_INT, "0", BE, parse_rate, KV(rate_limit_requests),
     "Most requests a client address may send to the Ingress's routes in each "
     "rate-limit-period; past it, requests get rate-limit-status-code. 0: no limit. The "
     "count is per replica of Portico and per Service port of the Ingress.",
     "A `stick-table type ip` in the backend storing `http_req_rate(PERIOD)`, `http-request "
     "track-sc0 src` and `http-request deny deny_status CODE if { sc_http_req_rate(0) gt N }`.",
     "\"100\"", NULL},
    {"rate-limit-period", KEY_DURATION, "1s", BE, parse_duration, KV(rate_limit_period_ms),
     "The period rate-limit-requests counts over.",
     "The period of `http_req_rate()` and the table's `expire`.", "\"1m\"", NULL},
    {"rate-limit-size", KEY_INT, "100k", BE, parse_size, KV(rate_limit_size),
     "How many client addresses are tracked at once (the oldest are forgotten first).",
     "The stick table's `size`.", "\"1m\"", NULL},
    {"rate-limit-status-code", KEY_INT, "403", BE, parse_status, KV(rate_limit_status_code),
     "Status of the answer to a request over the limit.", "`deny_status CODE`.", "\"503\"",
     NULL},
    {"rate-limit-whitelist", KEY_ADDRS, "", BE, parse_addrs, KV(rate_limit_whitelist),
     "Client addresses and networks never limited.",
     "`acl rate_exempt src ADDRESS...`, excluded from the deny rule.", "\"10.0.0.0/8\"",
     NULL},
    {"cors-enable", KEY_BOOL, "false", BE, parse_bool, KV(cors_enable),
     "Adds the CORS headers (the other `cors-*` keys) to the responses to requests with an "
     "Origin it allows: Access-Control-Allow-Origin (and -Credentials) to every one, "
     "-Methods, -Headers and -Max-Age to preflights (see cors-respond-to-options).",
     "`http-response set-header Access-Control-...` in the backend.",
     "\"true\"", NULL},
    {"cors-respond-to-options", KEY_BOOL, "false", BE, parse_bool, KV(cors_respond_to_options),
     "Answers CORS preflight requests (OPTIONS with an allowed Origin and "
     "Access-Control-Request-Method) with 204 and the CORS headers, without the endpoints. "
     "Otherwise the endpoints answer them and the headers are added to their answer.",
     "`http-request return status 204 hdr Access-Control-...` in the backend.", "\"true\"",
     NULL},
    {"cors-allow-origin", KEY_ORIGINS, "*", BE, parse_origins, KV(cors_allow_origin),
     "`*`, the origins allowed (such as `https://example.com`, separated by commas or "
     "spaces), or a regex (PCRE, starting with `^`) they must match; a request from another "
     "origin gets no CORS header.",
     "The Access-Control-Allow-Origin header (the request's Origin when it is listed).",
     "\"https://example.com, https://app.example.com\"", NULL},
    {"cors-allow-methods", KEY_TOKENS, "*", BE, parse_tokens, KV(cors_allow_methods),
     "Methods a preflight allows, comma separated, or `*`.",
     "The Access-Control-Allow-Methods header of preflight answers.", "\"GET, POST\"", NULL},
    {"cors-allow-headers", KEY_TOKENS, "*", BE, parse_tokens, KV(cors_allow_headers),
     "Request headers a preflight allows, comma separated, or `*`.",
     "The Access-Control-Allow-Headers header of preflight answers.",
     "\"Authorization, Content-Type\"", NULL},
    {"cors-allow-credentials", KEY_BOOL, "false", BE, parse_bool, KV(cors_allow_credentials),
     "Tells browsers they may send credentials (cookies, authorization) cross-origin.",
     "Access-Control-Allow-Credentials: true on preflight answers and responses.", "\"true\"",
     NULL},
    {"cors-max-age", KEY_DURATION, "5s", BE, parse_seconds, KV(cors_max_age),
     "How long browsers may cache a preflight answer (whole seconds).",
     "The Access-Control-Max-Age header of preflight answers.", "\"10m\"", NULL},
    {"set-host", KEY_HOST, "", BE, parse_host, KV(set_host),
     "Host header sent to the endpoints instead of the client's.",
     "`http-request set-header Host VALUE` in the backend.", "\"internal.example.com\"",
     NULL},
    {"path-rewrite", KEY_REWRITE, "", BE, parse_rewrite, KV(path_rewrite),
     "Rewrites the path sent to the endpoints: `REGEX REPLACEMENT` replaces the path when the "
     "regex (PCRE) matches it, with `\\1` to `\\9` for its groups; a REPLACEMENT alone "
     "replaces every path. Several lines are applied in turn. The query string is kept.",
     "`http-request replace-path REGEX REPLACEMENT` in the backend, one per line.",
     "\"/api/(.*) /\\1\"", NULL},
    {"permanent-redirect", KEY_URL, "", BE, parse_url, KV(permanent_redirect),
     "Redirects every request of the Ingress's routes to this URL, as it is (the request's "
     "path is not added), with permanent-redirect-code; the endpoints get nothing.",
     "`http-request redirect location URL code CODE` in the backend, first.",
     "\"https://www.example.com/moved\"", NULL},
    {"permanent-redirect-code", KEY_INT, "301", BE, parse_redirect_code,
     KV(permanent_redirect_code), "The status of permanent-redirect's answers: 301, 302, "
     "303, 307 or 308.",
     "`code` of the redirect.", "\"308\"", NULL},
    {"temporal-redirect", KEY_URL, "", BE, parse_url, KV(temporal_redirect),
     "Like permanent-redirect, with status 302; permanent-redirect wins when both are set.",
     "`http-request redirect location URL code 302` in the backend, first.",
     "\"https://status.example.com/\"", NULL},
    {"app-root", KEY_PATH, "", BE, parse_url_path, KV(app_root),
     "Redirects requests for `/` to this path (302), where the application lives.",
     "`http-request redirect location PATH code 302 if { path / }` in the backend.",
     "\"/app\"", NULL},
    {"proxy-body-size", KEY_SIZE, "0", BE, parse_body_size, KV(proxy_body_size),
     "Largest request body, from its Content-Length (k, m, g: 1024-based, as nginx reads "
     "them); a larger one is answered 413. 0: no limit. A body sent in chunks, without "
     "Content-Length, is not measured.",
     "`http-request deny deny_status 413 if { req.hdr_val(content-length) gt N }` in the "
     "backend.",
     "\"8m\"", NULL},
    {"request-redirect", KEY_HOST, "", BE, parse_host, KV(request_redirect),
     "Redirects every request of the Ingress's routes to this host (and port), keeping the "
     "scheme, path and query string.",
     "`http-request redirect location SCHEME://HOST%[capture.req.uri] code CODE` in the "
     "backend.",
     "\"www.example.com\"", NULL},
    {"request-redirect-code", KEY_INT, "302", BE, parse_redirect_code, KV(request_redirect_code),
     "Status of request-redirect's redirects: 301, 302, 303, 307 or 308.", "`code CODE`.",
     "\"301\"", NULL},
    {"request-set-header", KEY_HEADERS, "", BE, parse_headers, KV(request_set_header),
     "Headers set on requests to the endpoints, one per line: the name, then the value "
     "(replacing any the client sent).",
     "`http-request set-header NAME VALUE` in the backend, one per header.",
     "|\n      X-Env staging\n      X-Team payments", NULL},
    {"response-set-header", KEY_HEADERS, "", BE, parse_headers, KV(response_set_header),
     "Headers set on responses to the client, one per line: the name, then the value.",
     "`http-response set-header NAME VALUE` in the backend, one per header.",
     "|\n      Strict-Transport-Security max-age=31536000\n      X-Frame-Options DENY", NULL},
    {"abortonclose", KEY_BOOL, "false", BE, parse_bool, KV(abortonclose),
     "Drops a request still waiting for an endpoint when its client has closed the "
     "connection.",
     "`option abortonclose` in the backend.", "\"true\"", NULL},
    {"cookie-persistence", KEY_NAME, "", BE, parse_cookie, KV(cookie_persistence),
     "Name of a cookie that keeps a client on the endpoint that served it first (the cookie "
     "is set by HAProxy, not sent to the endpoints).",
     "`cookie NAME insert indirect nocache dynamic` and `dynamic-cookie-key BACKEND` in the "
     "backend: each endpoint's cookie is a hash of its address and port, the same in every "
     "replica, also for endpoints added at run time.",
     "\"SERVERID\"", NULL},
    {"check", KEY_BOOL, "false", BE, parse_bool, KV(check),
     "Health checks of the endpoints by HAProxy (a TCP connection, or check-http): one "
     "failing them gets no request until it passes again. Kubernetes' readiness probes "
     "already take unready pods out of the EndpointSlices; checks also catch an endpoint "
     "unreachable from HAProxy.",
     "`check` on every server of the backend (and `enable health` on those added at run "
     "time).",
     "\"true\"", NULL},
    {"check-http", KEY_TOKENS, "", BE, parse_check_http, KV(check_http),
     "With check, an HTTP request instead of a TCP connection: a path (GET), or a method and a "
     "path; a 2xx or 3xx answer passes.",
     "`option httpchk METHOD PATH` in the backend.", "\"/healthz\"", NULL},
    {"check-interval", KEY_DURATION, "2s", BE, parse_duration, KV(check_interval_ms),
     "Time between two checks of an endpoint.", "`inter` on every server of the backend.",
     "\"10s\"", NULL},
    {"pod-maxconn", KEY_INT, "0", BE, parse_count, KV(pod_maxconn),
     "Most concurrent connections to each endpoint (per replica of Portico); the others "
     "wait in the queue (timeout-queue). 0: no limit.",
     "`maxconn N` on every server of the backend.", "\"100\"", NULL},
    {"send-proxy-protocol", KEY_ENUM, "", BE, parse_proxy, KV(send_proxy_protocol),
     "Sends the PROXY protocol header to the endpoints: `proxy` (or `proxy-v1`), "
     "`proxy-v2`, `proxy-v2-ssl`, `proxy-v2-ssl-cn`.",
     "`send-proxy`, `send-proxy-v2`, `send-proxy-v2-ssl` or `send-proxy-v2-ssl-cn` on every "
     "server of the backend.",
     "\"proxy-v2\"", NULL},
    {"auth-type", KEY_ENUM, "", BE, parse_auth_type, KV(auth_type),
     "`basic-auth`: requests need a user and password of auth-secret (HTTP basic "
     "authentication); others get 401. A missing or unusable Secret closes the routes "
     "(503) rather than serve them without it.",
     "A `userlist` of the Secret's users and `http-request auth realm REALM unless "
     "{ http_auth(USERLIST) }` in the backend.",
     "\"basic-auth\"", NULL},
    {"auth-secret", KEY_SECRET, "", BE, parse_secret_ref, KV(auth_secret),
     "The Secret of the users, in the namespace of the Ingress (or Service) unless named "
     "`namespace/name`: either one key per user whose value is the user's crypt(3) hash "
     "(bcrypt `$2y$`, SHA-512 `$6$`, SHA-256 `$5$`, yescrypt `$y$`, MD5 `$1$`), or a key "
     "`auth` holding an htpasswd file (`user:hash` lines, as ingress-nginx reads it). Apache's "
     "`$apr1$` hashes (htpasswd's default) and plain passwords are refused: make hashes "
     "with `htpasswd -nB user` or `mkpasswd -m sha-512`. A change of the Secret reloads "
     "HAProxy.",
     "`userlist NAMESPACE_NAME` with `user NAME password HASH` lines.", "\"admins\"", NULL},
    {"auth-realm", KEY_TEXT, KEY_AUTH_REALM, BE, parse_realm, KV(auth_realm),
     "The realm of basic authentication, shown by browsers.",
     "`realm` of the `http-request auth` rule.", "\"Staff only\"", NULL},
    {"backend-config-snippet", KEY_SNIPPET, "", BE, parse_snippet_backend, KV(backend_snippet),
     "HAProxy lines added to the backends of the Ingress's routes, with "
     "--enable-config-snippets only. Each line must start with acl, balance, compression, "
     "cookie, fullconn, hash-type, http-check, http-request, http-response, "
     "http-after-response, http-reuse, option, redirect, retries, retry-on, stick, "
     "stick-table, tcp-request, tcp-response or timeout; quotes, `$`, and words that load "
     "code, run programs or read files or the environment (lua, external-check, setenv, file, "
     "-f, env(), stats...) are refused.",
     "The lines, in the backend, before its servers.",
     "|\n      http-request set-header X-Snippet on\n      option http-buffer-request", NULL},
    {"frontend-config-snippet", KEY_SNIPPET, "", KEY_S_CMAP, parse_snippet_frontend,
     KV(frontend_snippet),
     "HAProxy lines added to the frontend that routes HTTP and HTTPS, with "
     "--enable-config-snippets only. Each line must start with acl, capture, compression, "
     "declare, http-request, http-response, http-after-response, option, redirect, "
     "tcp-request, timeout, unique-id-format or unique-id-header; the same words as in "
     "backend-config-snippet are refused.",
     "The lines, in the frontend, before its use_backend rule.",
     "|\n    http-request set-header X-Request-Start t=%[date()]", NULL},
    {"global-config-snippet", KEY_SNIPPET, "", KEY_S_CMAP, parse_snippet_global,
     KV(global_snippet),
     "HAProxy lines added to the global section, with --enable-config-snippets only: tune.* "
     "settings, ssl-default-* ciphers and options, rate limits of the process "
     "(maxconnrate, maxsessrate, maxsslrate...), spread-checks, h1-case-adjust.",
     "The lines, in `global`.", "|\n    tune.bufsize 32768", NULL},
    {"standalone-backend", KEY_BOOL, "false", BE, parse_bool, KV(standalone_backend),
     "Gives the Ingress backends of its own, shared with no other Ingress even with the "
     "same keys (their statistics and limits are its own).",
     "A backend per Service port named after the hash of the Ingress and its keys.",
     "\"true\"", NULL},
    {"forwarded-for", KEY_BOOL, "true", BE_BOTH, parse_bool, KV(forwarded_for),
     "Adds the client's address to the requests' X-Forwarded-For header (after any the "
     "client sent).",
     "`option forwardfor` in each backend (not in defaults, which the frontend would "
     "inherit: HAProxy 2.6 has no `no option forwardfor`).",
     "\"false\"", NULL},
    {"ssl-passthrough", KEY_BOOL, "false", BE, parse_bool, KV(ssl_passthrough),
     "Passes TLS connections for the Ingress's hosts to the endpoints as they are, chosen "
     "by the SNI of the client's hello, so that the endpoints terminate TLS with their own "
     "certificate (port 443 still terminates TLS for the other hosts). Each rule's host "
     "goes to the backend of its first path; paths, spec.tls, the default backend and the "
     "HTTP keys do not apply. Port 80 redirects to HTTPS (ssl-redirect). The first "
     "Ingress with it, and the last one gone, reload HAProxy; hosts added or removed in "
     "between do not.",
     "A TCP frontend on the HTTPS port routing by `req_ssl_sni` through "
     "`maps/passthrough.map` to `mode tcp` backends, the other connections to the HTTPS "
     "frontend over an abstract socket with the PROXY protocol.",
     "\"true\"", NULL},
    {"server-ssl", KEY_BOOL, "false", BE, parse_bool, KV(server_ssl),
     "Connects to the endpoints with TLS (their certificate is not verified unless "
     "server-ca is set).",
     "`ssl verify none` on every server of the backend.", "\"true\"", NULL},
    {"server-proto", KEY_PROTO, "h1", BE, parse_proto, KV(server_proto),
     "HTTP version spoken to the endpoints: `h1`, or `h2` (HTTP/2, for gRPC; over TLS with "
     "server-ssl, else cleartext h2c).",
     "`proto h2` on every server of the backend (`alpn h2` with server-ssl).", "\"h2\"",
     NULL},
    {"server-ca", KEY_SECRET, "", BE_BOTH, parse_secret_ref, KV(server_ca),
     "A Secret whose `ca.crt` (else `tls.crt`) holds the CA certificates the endpoints' "
     "certificates must chain to; in the namespace of the Ingress, Service or ConfigMap "
     "unless named `namespace/name`. It turns on TLS to the endpoints (as server-ssl) and "
     "their certificate is verified: a connection to an endpoint whose chain does not "
     "verify fails (503). The host name in the certificate is not checked (endpoints are "
     "reached by address). A missing or unusable Secret closes the routes (503, and a "
     "warning names the object and key) rather than connect unverified. Endpoint changes "
     "never reload HAProxy; a change of the CA certificates does (HAProxy 2.6 applies a "
     "CA file committed through the Runtime API only to servers that also have a client "
     "certificate).",
     "`ssl verify required ca-file server-tls/ca-HASH.pem` on every server of the "
     "backend, and `default-server ca-file server-tls/ca-HASH.pem`, which loads the file "
     "when HAProxy starts so that servers added at run time find it; the file holds only "
     "the re-encoded certificates.",
     "\"default/backend-ca\"", NULL},
    {"server-crt", KEY_SECRET, "", BE_BOTH, parse_secret_ref, KV(server_crt),
     "A TLS Secret (`kubernetes.io/tls`: `tls.crt` and `tls.key`) whose certificate "
     "HAProxy presents to the endpoints (mutual TLS); in the namespace of the Ingress, "
     "Service or ConfigMap unless named `namespace/name`. It turns on TLS to the endpoints "
     "(as server-ssl). A missing or unusable Secret closes the routes (503, and a warning "
     "names the object and key). A rotated Secret is applied through the Runtime API "
     "(`set ssl cert` and `commit ssl cert`), with no reload; so are endpoint changes (the "
     "certificate is loaded by a listener that refuses every connection, so that servers "
     "added at run time find it). The commit empties HAProxy's cache of TLS sessions to "
     "those servers, so each new connection presents the new certificate in a full handshake "
     "(no `no-ssl-reuse` is needed); connections already open keep the previous one until "
     "they close.",
     "`ssl crt server-tls/crt-HASH.pem` on every server of the backend, and the file on the "
     "`bind` of frontend `portico_server_crt` (an abstract socket, every connection "
     "refused); the file holds the re-encoded key and chain.",
     "\"default/client-cert\"", NULL},
    {"cookie-persistence-no-dynamic", KEY_NAME, "", BE_BOTH, parse_cookie, KV(cookie_static),
     "Name of a cookie that keeps a client on the endpoint that served it first, as "
     "cookie-persistence does, but with a fixed value per endpoint: its server's name "
     "(`address:port`), readable and the same in every replica and after every reload. "
     "It wins over cookie-persistence when both are set. The cost: HAProxy 2.6 cannot give "
     "a server added through the Runtime API a cookie, so every endpoint added or removed "
     "in such a backend reloads HAProxy (the reason is logged and counted as "
     "`static_cookies`); prefer cookie-persistence for backends that scale often.",
     "`cookie NAME insert indirect nocache` in the backend and `cookie ADDRESS:PORT` on "
     "each server.",
     "\"SERVERID\"", NULL},
};
const size_t key_table_len = sizeof(key_table) / sizeof(key_table[0]);


const char *keys_auth_secret(const struct k8s_kv *ann, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *slash = strrchr(ann[i].key, '/');

        if (slash && !strcmp(slash, "/auth-secret") &&
            (str_has_prefix(ann[i].key, K8S_NGINX_PREFIX) || k8s_annotation_read(ann[i].key)))
            return ann[i].val;
    }
    return NULL;
}

const char *keys_annotation(const struct k8s_kv *ann, size_t n, const char *name)
{
    for (size_t p = 0; p < k8s_key_prefixes_len; p++) {
        size_t plen = strlen(k8s_key_prefixes[p]);

        for (size_t i = 0; i < n; i++) {
            if (!strncmp(ann[i].key, k8s_key_prefixes[p], plen) &&
                !strcmp(ann[i].key + plen, name))
                return ann[i].val;
        }
    }
    return NULL;
}

const char *key_type_name(enum key_type t)
{
    switch (t) {
    case KEY_BOOL:
        return "bool";
    case KEY_INT:
        return "integer";
    case KEY_DURATION:
        return "duration";
    case KEY_HOST:
        return "host name";
    case KEY_ENUM:
        return "one word of a list";
    case KEY_HEADERS:
        return "header lines";
    case KEY_ADDRS:
        return "addresses and networks";
    case KEY_REWRITE:
        return "regex and replacement";
    case KEY_ORIGINS:
        return "origins";
    case KEY_TOKENS:
        return "list of tokens";
    case KEY_PROTO:
        return "h1 or h2";
    case KEY_NAME:
        return "name";
    case KEY_SNIPPET:
        return "HAProxy lines";
    case KEY_SECRET:
        return "Secret";
    case KEY_SERVICE:
        return "Service";
    case KEY_CAPTURES:
        return "sample fetches";
    case KEY_TEXT:
        return "text";
    case KEY_LOG_TARGETS:
        return "log targets";
    case KEY_LOG_FORMAT:
        return "log-format string";
    case KEY_URL:
        return "URL";
    case KEY_PATH:
        return "path";
    case KEY_SIZE:
        return "size";
    case KEY_CODES:
        return "status codes";
    }
    return "?";
}

void keys_defaults(struct key_values *kv)
{
    memset(kv, 0, sizeof(*kv));
    for (size_t i = 0; i < key_table_len; i++) {
        char *err = NULL;

        /* defaults are constants checked by the unit tests */
        if (key_table[i].parse(NULL, key_table[i].def, (char *)kv + key_table[i].offset, &err))
            abort();
    }
    /* ingress-nginx's canary-weight-total (not a key of the table) */
    kv->canary_weight_total = 100;
}

static const struct key_def *find(const char *name)
{
    for (size_t i = 0; i < key_table_len; i++) {
        if (!strcmp(key_table[i].name, name) ||
            (key_table[i].alias && !strcmp(key_table[i].alias, name)))
            return &key_table[i];
    }
    return NULL;
}

static const char *next_key(void *arg, size_t i)
{
    (void)arg;
    return i < key_table_len ? key_table[i].name : NULL;
}

static void apply(struct arena *a, struct key_values *kv, const char *field, const char *name,
                  const char *val, unsigned scope, keys_issue_fn *fn, void *arg)
{
    const struct key_def *k = find(name);
    char *err = NULL, msg[512];
    int ret;

    if (!k || !(k->scopes & scope)) {
        const char *near = str_closest(name, next_key, NULL);

        if (k)
            snprintf(msg, sizeof(msg), "key \"%s\" is only accepted %s", name,
                     scope == KEY_S_CMAP            ? "as an annotation"
                     : scope == KEY_S_BACKEND       ? "on Ingresses or in the ConfigMap"
                     : (k->scopes & KEY_S_CMAP)     ? "in the ConfigMap"
                                                    : "on Ingresses");
        else if (near)
            snprintf(msg, sizeof(msg), "unknown key \"%s\"; did you mean \"%s\"?", name, near);
        else
            snprintf(msg, sizeof(msg), "unknown key \"%s\"; ignored", name);
        fn(arg, field, msg);
        return;
    }
    ret = k->parse(a, val, (char *)kv + k->offset, &err);
    if (ret > 0) {
        /* applied in part: <err> says what was left out */
        fn(arg, field, err);
        free(err);
    } else if (ret < 0) {
        snprintf(msg, sizeof(msg), "%s; the value is ignored", err);
        fn(arg, field, msg);
        free(err);
    }
}

void keys_apply_configmap(struct arena *a, struct key_values *kv, const struct k8s_kv *data,
                          size_t n, keys_issue_fn *fn, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        char field[300];

        snprintf(field, sizeof(field), "data[\"%.256s\"]", data[i].key);
        apply(a, kv, field, data[i].key, data[i].val, KEY_S_CMAP, fn, arg);
    }
}

static void apply_prefixed(struct arena *a, struct key_values *kv, const struct k8s_kv *ann,
                           size_t n, unsigned scope, keys_issue_fn *fn, void *arg);

void keys_apply_annotations(struct arena *a, struct key_values *kv, const struct k8s_kv *ann,
                            size_t n, keys_issue_fn *fn, void *arg)
{
    apply_prefixed(a, kv, ann, n, KEY_S_ANNOT, fn, arg);
}

void keys_apply_service(struct arena *a, struct key_values *kv, const struct k8s_kv *ann,
                        size_t n, keys_issue_fn *fn, void *arg)
{
    apply_prefixed(a, kv, ann, n, KEY_S_BACKEND, fn, arg);
}

static void apply_prefixed(struct arena *a, struct key_values *kv, const struct k8s_kv *ann,
                           size_t n, unsigned scope, keys_issue_fn *fn, void *arg)
{
    /* Later prefixes first, so that the canonical prefix wins when both are set. */
    for (size_t p = k8s_key_prefixes_len; p-- > 0;) {
        for (size_t i = 0; i < n; i++) {
            char field[300];

            if (!str_has_prefix(ann[i].key, k8s_key_prefixes[p]))
                continue;
            snprintf(field, sizeof(field), "metadata.annotations[\"%.256s\"]", ann[i].key);
            apply(a, kv, field, ann[i].key + strlen(k8s_key_prefixes[p]), ann[i].val, scope,
                  fn, arg);
        }
    }
}

bool keys_value_ok(const char *name, const char *val)
{
    const struct key_def *k = find(name);
    struct key_values scratch;
    char *err = NULL;
    int ret;

    if (!k)
        return false;
    /* a value applied in part (custom-http-errors) is one */
    ret = k->parse(NULL, val, (char *)&scratch + k->offset, &err);
    free(err);
    return ret >= 0;
}

/* ====== ingress-nginx ====== */

enum nginx_conv {
    NX_SAME,      /* the value as it is */
    NX_SECONDS,   /* a number of seconds: "60" -> "60s" */
    NX_TRUE_ONLY, /* "true" sets the key to "true"; "false" leaves it */
    NX_PROTOCOL,  /* backend-protocol: HTTP, HTTPS, GRPC, GRPCS, H2C */
    NX_LIMIT_RPS, /* requests a second: rate-limit-requests, a period of 1s, 503 */
    NX_LIMIT_RPM, /* the same a minute */
    NX_AUTH_TYPE, /* auth-type: "basic" */
    NX_AUTH_FORM, /* auth-secret-type: auth-file or auth-map, both read (auth-secret) */
    NX_REWRITE,   /* rewrite-target: per path (build.c) */
    NX_USE_REGEX, /* use-regex */
    NX_AFFINITY,  /* affinity: cookie */
    NX_COOKIE,    /* session-cookie-name */
    NX_ALIAS,     /* server-alias: host names, comma separated */
    NX_DEFAULT_BACKEND, /* default-backend: a Service of the Ingress's namespace */
    NX_HTTP_ERRORS, /* custom-http-errors: status codes, comma separated */
    NX_CANARY,    /* canary: a canary Ingress (build.c) */
    NX_CANARY_WEIGHT, /* canary-weight */
    NX_CANARY_TOTAL,  /* canary-weight-total */
    NX_CANARY_HEADER, /* canary-by-header */
    NX_CANARY_VALUE,  /* canary-by-header-value */
    NX_CANARY_PATTERN, /* canary-by-header-pattern */
    NX_CANARY_COOKIE, /* canary-by-cookie */
};

/* What Portico makes of ingress-nginx's annotations (doc/migrate.md). */
static const struct nginx_key {
    const char *name;   /* after nginx.ingress.kubernetes.io/ */
    const char *key;    /* ours */
    enum nginx_conv conv;
} nginx_keys[] = {
    {"ssl-redirect", "ssl-redirect", NX_SAME},
    {"force-ssl-redirect", "ssl-redirect", NX_TRUE_ONLY},
    {"backend-protocol", NULL, NX_PROTOCOL},
    {"whitelist-source-range", "allow-list", NX_SAME},
    {"allowlist-source-range", "allow-list", NX_SAME},
    {"denylist-source-range", "deny-list", NX_SAME},
    {"proxy-connect-timeout", "timeout-connect", NX_SECONDS},
    {"proxy-read-timeout", "timeout-server", NX_SECONDS},
    {"proxy-send-timeout", "timeout-server", NX_SECONDS},
    {"enable-cors", "cors-enable", NX_SAME},
    {"cors-allow-origin", "cors-allow-origin", NX_SAME},
    {"cors-allow-methods", "cors-allow-methods", NX_SAME},
    {"cors-allow-headers", "cors-allow-headers", NX_SAME},
    {"cors-allow-credentials", "cors-allow-credentials", NX_SAME},
    {"cors-max-age", "cors-max-age", NX_SECONDS},
    {"upstream-vhost", "set-host", NX_SAME},
    {"ssl-passthrough", "ssl-passthrough", NX_SAME},
    {"permanent-redirect", "permanent-redirect", NX_SAME},
    {"permanent-redirect-code", "permanent-redirect-code", NX_SAME},
    {"temporal-redirect", "temporal-redirect", NX_SAME},
    {"app-root", "app-root", NX_SAME},
    {"proxy-body-size", "proxy-body-size", NX_SAME},
    {"rewrite-target", NULL, NX_REWRITE},
    {"use-regex", NULL, NX_USE_REGEX},
    {"affinity", NULL, NX_AFFINITY},
    {"session-cookie-name", NULL, NX_COOKIE},
    {"limit-rps", NULL, NX_LIMIT_RPS},
    {"limit-rpm", NULL, NX_LIMIT_RPM},
    {"limit-whitelist", "rate-limit-whitelist", NX_SAME},
    {"limit-connections", "limit-connections", NX_SAME},
    {"auth-type", NULL, NX_AUTH_TYPE},
    {"auth-secret", "auth-secret", NX_SAME},
    {"auth-secret-type", NULL, NX_AUTH_FORM},
    {"auth-realm", "auth-realm", NX_SAME},
    {"server-alias", NULL, NX_ALIAS},
    {"default-backend", NULL, NX_DEFAULT_BACKEND},
    {"custom-http-errors", NULL, NX_HTTP_ERRORS},
    {"canary", NULL, NX_CANARY},
    {"canary-weight", NULL, NX_CANARY_WEIGHT},
    {"canary-weight-total", NULL, NX_CANARY_TOTAL},
    {"canary-by-header", NULL, NX_CANARY_HEADER},
    {"canary-by-header-value", NULL, NX_CANARY_VALUE},
    {"canary-by-header-pattern", NULL, NX_CANARY_PATTERN},
    {"canary-by-cookie", NULL, NX_CANARY_COOKIE},
};

/* server-alias: host names as routing.md takes a rule's (lower-case DNS
 * names, optionally "*." first, no port), separated by commas;
 * kept one a line, each once. */
static int parse_aliases(struct arena *a, const char *val, const char **dst, char **err)
{
    char *out = a ? arena_alloc(a, strlen(val) + 2) : NULL;
    size_t n = 0, items = 0;

    if (too_long(val, err))
        return -EINVAL;
    for (const char *p = val; *p;) {
        const char *start;
        size_t len;
        char host[256];

        /* comma separated, as ingress-nginx reads it; spaces around ignored */
        p += strspn(p, " ");
        len = strcspn(p, ",");
        while (len && p[len - 1] == ' ')
            len--;
        if (len == 0) { /* at a comma, or the end: a trailing ", " ends here */
            if (!*p)
                break;
            p += strspn(p, " ,");
            continue;
        }
        if (len >= sizeof(host)) {
            errmsg_set(err, "\"%.40s...\" is not a valid host name", p);
            return -EINVAL;
        }
        memcpy(host, p, len);
        host[len] = '\0';
        start = p;
        p += len;
        p += strspn(p, " ");
        p += *p == ',';
        if (!valid_host(host) || inet_pton(AF_INET, host, &(struct in_addr){0}) == 1) {
            const char *bad = bad_byte(host);

            if (bad)
                return refuse_byte(val, start + (bad - host), err);
            errmsg_set(err, "\"%s\" is not a valid host name (lower-case DNS name, optionally "
                            "\"*.\" first, no port, not an IP address)",
                       host);
            return -EINVAL;
        }
        if (++items > KEY_LIST_MAX) {
            errmsg_set(err, "has more than %d host names", KEY_LIST_MAX);
            return -EINVAL;
        }
        if (!out)
            continue;
        /* each once: "\nhost\n" in "\n" + what is kept */
        out[n] = '\0';
        {
            bool dup = false;

            for (const char *q = out; q < out + n;) {
                size_t l = strcspn(q, "\n");

                dup |= l == len && !memcmp(q, host, len);
                q += l + 1;
            }
            if (dup)
                continue;
        }
        memcpy(out + n, host, len);
        n += len;
        out[n++] = '\n';
    }
    if (!items) {
        errmsg_set(err, "names no host");
        return -EINVAL;
    }
    if (out) {
        out[n - 1] = '\0';
        *dst = out;
    }
    return 0;
}

/* custom-http-errors: status codes, comma separated. Those HAProxy has no
 * page for are left out: 1 with *<err> naming them when some are kept. */
static int parse_http_errors(struct arena *a, const char *val, const char **dst, char **err)
{
    bool want[600] = {false};
    char kept[KEY_TEXT_MAX], refused[256];
    size_t nk = 0, nr = 0;

    if (too_long(val, err))
        return -EINVAL;
    for (const char *p = val; *p;) {
        size_t len = strcspn(p, ",");
        const char *t = p, *end = p + len;
        uint32_t code;
        char num[8];

        p = *end ? end + 1 : end;
        while (t < end && *t == ' ')
            t++;
        while (end > t && end[-1] == ' ')
            end--;
        if (t == end)
            continue;
        if (end - t != 3 || strspn(t, "0123456789") < 3) {
            errmsg_set(err, "\"%.*s\" is not a status code: the value must be codes such as "
                            "404,503, comma separated",
                       (int)(end - t > 40 ? 40 : end - t), t);
            return -EINVAL;
        }
        memcpy(num, t, 3);
        num[3] = '\0';
        if (str_to_u32(num, 100, 599, &code)) {
            errmsg_set(err, "\"%s\" is not a status code (100 to 599)", num);
            return -EINVAL;
        }
        want[code] = true;
    }
    refused[0] = kept[0] = '\0';
    for (unsigned code = 100; code < 600; code++) {
        if (!want[code])
            continue;
        /* 200 is no error: ingress-nginx intercepts from 300 up */
        if (code != 200 && valid_errorfile_code(code))
            nk += (size_t)snprintf(kept + nk, sizeof(kept) - nk, "%s%u", nk ? " " : "", code);
        else if (nr < sizeof(refused) - 8)
            nr += (size_t)snprintf(refused + nr, sizeof(refused) - nr, "%s%u", nr ? ", " : "",
                                   code);
    }
    if (!nk) {
        errmsg_set(err, "%s: none is an error status HAProxy has a page for ("
                        ERRORFILE_CODES_ERRORS ")", nr ? refused : "no status code");
        return -EINVAL;
    }
    if (a)
        *dst = arena_strndup(a, kept, nk);
    if (nr) {
        errmsg_set(err, "%s left out: only the error statuses HAProxy has a page for can be "
                        "replaced (" ERRORFILE_CODES_ERRORS "); the others are kept",
                   refused);
        return 1;
    }
    return 0;
}

static const struct nginx_key *nginx_find(const char *annotation)
{
    if (!str_has_prefix(annotation, K8S_NGINX_PREFIX))
        return NULL;
    for (size_t i = 0; i < sizeof(nginx_keys) / sizeof(nginx_keys[0]); i++) {
        if (!strcmp(annotation + strlen(K8S_NGINX_PREFIX), nginx_keys[i].name))
            return &nginx_keys[i];
    }
    return NULL;
}

/* Applies one translated annotation; 0, or -EINVAL with *<err> set, or 1
 * when it applies in part (*<err> says what was left out). */
static int nginx_apply(struct arena *a, struct key_values *kv, const struct nginx_key *nk,
                       const char *val, char **err)
{
    char buf[32];

    switch (nk->conv) {
    case NX_SAME:
        break;
    case NX_SECONDS:
        if (strspn(val, "0123456789") != strlen(val) || !*val || strlen(val) > 9) {
            errmsg_set(err, "must be a whole number of seconds");
            return -EINVAL;
        }
        snprintf(buf, sizeof(buf), "%ss", val);
        val = buf;
        break;
    case NX_TRUE_ONLY:
        if (strcmp(val, "true") && strcmp(val, "false")) {
            errmsg_set(err, "must be \"true\" or \"false\"");
            return -EINVAL;
        }
        if (!strcmp(val, "false"))
            return 0;
        break;
    case NX_PROTOCOL:
        /* HTTPS and GRPCS: TLS to the endpoints; GRPC, GRPCS, H2C: HTTP/2 */
        if (!strcmp(val, "HTTP")) {
            kv->server_ssl = false;
            kv->server_proto = NULL;
        } else if (!strcmp(val, "HTTPS") || !strcmp(val, "GRPCS")) {
            kv->server_ssl = true;
            kv->server_proto = val[0] == 'G' ? "h2" : NULL;
        } else if (!strcmp(val, "GRPC") || !strcmp(val, "H2C")) {
            kv->server_ssl = false;
            kv->server_proto = "h2";
        } else {
            errmsg_set(err, "must be HTTP, HTTPS, GRPC, GRPCS or H2C (AUTO_HTTP, AJP and FCGI "
                            "are not supported)");
            return -EINVAL;
        }
        return 0;
    case NX_LIMIT_RPS:
    case NX_LIMIT_RPM:
        /* ingress-nginx answers 503 past its limits */
        if (parse_rate(NULL, val, &kv->rate_limit_requests, err) || !kv->rate_limit_requests) {
            if (!*err)
                errmsg_set(err, "must be a whole number of requests above 0");
            return -EINVAL;
        }
        kv->rate_limit_period_ms = nk->conv == NX_LIMIT_RPS ? 1000 : 60000;
        kv->rate_limit_status_code = 503;
        return 0;
    case NX_AUTH_TYPE:
        if (strcmp(val, "basic")) {
            errmsg_set(err, "must be basic (digest authentication is not supported)");
            return -EINVAL;
        }
        kv->auth_type = "basic-auth";
        return 0;
    case NX_AUTH_FORM:
        if (strcmp(val, "auth-file") && strcmp(val, "auth-map")) {
            errmsg_set(err, "must be auth-file or auth-map");
            return -EINVAL;
        }
        return 0;
    case NX_REWRITE: {
        /* "$1" as PCRE's "\1"; nginx's other variables mean nothing here */
        char out[KEY_TEXT_MAX + 1];
        size_t n = 0, len = strlen(val);

        if (!len || len > 1024 || val[0] != '/') {
            errmsg_set(err, "must be a path starting with '/' (at most 1024 characters)");
            return -EINVAL;
        }
        for (const char *c = val; *c; c++) {
            if (*c <= ' ' || *c > '~' || *c == '\'' || *c == '"' || *c == '\\' || *c == '#') {
                errmsg_set(err, "byte %zu (0x%02x) is not allowed in a path", (size_t)(c - val),
                           (unsigned char)*c);
                return -EINVAL;
            }
            if (*c == '$') {
                if (c[1] < '0' || c[1] > '9') {
                    errmsg_set(err, "only the path's groups ($1 to $9) can be used, not "
                                    "nginx variables");
                    return -EINVAL;
                }
                out[n++] = '\\';
                continue;
            }
            out[n++] = *c;
        }
        out[n] = '\0';
        kv->nginx_rewrite_target = keep(a, out, n);
        return 0;
    }
    case NX_USE_REGEX:
        return parse_bool(a, val, &kv->nginx_use_regex, err);
    case NX_AFFINITY:
        if (strcmp(val, "cookie")) {
            errmsg_set(err, "must be cookie");
            return -EINVAL;
        }
        kv->nginx_affinity = true;
        return 0;
    case NX_COOKIE: {
        const char *name = NULL;

        if (parse_cookie(a, val, &name, err))
            return -EINVAL;
        kv->nginx_cookie_name = name;
        return 0;
    }
    case NX_ALIAS:
        return parse_aliases(a, val, &kv->nginx_server_alias, err);
    case NX_DEFAULT_BACKEND:
        /* ingress-nginx reads a name in the Ingress's namespace, nothing else */
        if (!valid_dns_label(val)) {
            errmsg_set(err, "must be the name of a Service in the Ingress's namespace");
            return -EINVAL;
        }
        kv->nginx_default_backend = keep(a, val, strlen(val));
        return 0;
    case NX_HTTP_ERRORS:
        return parse_http_errors(a, val, &kv->nginx_http_errors, err);
    case NX_CANARY:
        return parse_bool(a, val, &kv->nginx_canary, err);
    case NX_CANARY_WEIGHT:
    case NX_CANARY_TOTAL: {
        uint32_t v;

        /* whether the weight fits the total is checked once both are read */
        if (str_to_u32(val, nk->conv == NX_CANARY_TOTAL, KEY_CANARY_TOTAL_MAX, &v)) {
            errmsg_set(err, "must be a whole number from %d to %d",
                       nk->conv == NX_CANARY_TOTAL, KEY_CANARY_TOTAL_MAX);
            return -EINVAL;
        }
        *(nk->conv == NX_CANARY_TOTAL ? &kv->canary_weight_total : &kv->canary_weight) = v;
        return 0;
    }
    case NX_CANARY_HEADER:
        return parse_header_name(a, val, &kv->canary_header, err);
    case NX_CANARY_VALUE: {
        size_t len = strlen(val);

        /* written as one single-quoted word of an ACL (render.c): no "'" nor
         * control bytes, and not "}", which would end the ACL */
        if (!len || len > 256 || bad_byte(val) || !strcmp(val, "}")) {
            errmsg_set(err, "must be 1 to 256 printable ASCII characters but \"'\", and not "
                            "\"}\" alone");
            return -EINVAL;
        }
        kv->canary_header_value = keep(a, val, len);
        return 0;
    }
    case NX_CANARY_PATTERN: {
        size_t len = strlen(val);
        const char *bad = bad_byte(val);

        /* one single-quoted word after "-m reg" (render.c), compiled as
         * HAProxy compiles it: what it would refuse never reaches it */
        if (bad)
            return refuse_byte(val, bad, err);
        if (!len || len > 256 || !strcmp(val, "}")) {
            errmsg_set(err, "must be a regex of 1 to 256 printable ASCII characters but \"'\", "
                            "and not \"}\" alone (write \"\\}\")");
            return -EINVAL;
        }
        if (check_regex(val, len, false, err))
            return -EINVAL;
        kv->canary_header_pattern = keep(a, val, len);
        return 0;
    }
    case NX_CANARY_COOKIE:
        return parse_cookie(a, val, &kv->canary_cookie, err);
    }
    {
        const struct key_def *k = find(nk->key);

        return k->parse(a, val, (char *)kv + k->offset, err);
    }
}

void keys_apply_nginx(struct arena *a, struct key_values *kv, const struct k8s_kv *ann, size_t n,
                      keys_issue_fn *fn, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        const struct nginx_key *nk;
        char field[300], msg[600];
        char *err = NULL;

        if (!str_has_prefix(ann[i].key, K8S_NGINX_PREFIX))
            continue;
        snprintf(field, sizeof(field), "metadata.annotations[\"%.256s\"]", ann[i].key);
        nk = nginx_find(ann[i].key);
        if (!nk) {
            /* the access controls among them close the Ingress instead (build.c) */
            if (!k8s_nginx_guard(ann[i].key))
                fn(arg, field, "this ingress-nginx annotation is not supported; ignored "
                               "(doc/migrate.md lists those Portico translates)");
            continue;
        }
        switch (nginx_apply(a, kv, nk, ann[i].val, &err)) {
        case 0:
            break;
        case 1: /* applied in part: <err> says what was left out */
            fn(arg, field, err);
            free(err);
            break;
        default:
            snprintf(msg, sizeof(msg), "%s; the value is ignored", err);
            fn(arg, field, msg);
            free(err);
        }
    }
    /* the canary's keys on an Ingress that is none: said, as they do nothing */
    for (size_t i = 0; i < n && !kv->nginx_canary; i++) {
        char field[300];

        if (!str_has_prefix(ann[i].key, K8S_NGINX_PREFIX "canary-"))
            continue;
        snprintf(field, sizeof(field), "metadata.annotations[\"%.256s\"]", ann[i].key);
        fn(arg, field, "this Ingress is not a canary (no " K8S_NGINX_PREFIX "canary: \"true\"); "
                       "ignored");
    }
    /* affinity: cookie keeps a client on its endpoint, in session-cookie-name */
    if (kv->nginx_affinity)
        kv->cookie_persistence = kv->nginx_cookie_name ? kv->nginx_cookie_name : "INGRESSCOOKIE";
}

int keys_nginx_rewrite(struct arena *a, struct key_values *kv, const char *path, char **err)
{
    char line[2 * KEY_TEXT_MAX + 4];

    /* nginx's location ~* "^PATH", whose whole URI the target replaces */
    snprintf(line, sizeof(line), "^%s %s", path, kv->nginx_rewrite_target);
    return parse_rewrite(a, line, &kv->path_rewrite, err);
}

bool keys_nginx_value_ok(const char *annotation, const char *val)
{
    const struct nginx_key *nk = nginx_find(annotation);
    struct key_values scratch;
    char *err = NULL;
    int ret;

    if (!nk)
        return false;
    keys_defaults(&scratch);
    ret = nginx_apply(NULL, &scratch, nk, val, &err);
    free(err);
    return ret >= 0;
}

bool keys_same_captures(const struct key_values *kv, const struct key_values *base)
{
    if (!kv->request_capture || !base->request_capture)
        return kv->request_capture == base->request_capture;
    return !strcmp(kv->request_capture, base->request_capture) &&
           kv->request_capture_len == base->request_capture_len;
}

/* A key's value as text, for comparing and hashing. */
static const char *value_text(const struct key_def *k, const struct key_values *kv, char *buf,
                              size_t size)
{
    const void *v = (const char *)kv + k->offset;

    switch (k->type) {
    case KEY_BOOL:
        return *(const bool *)v ? "true" : "false";
    case KEY_INT:
    case KEY_DURATION:
    case KEY_SIZE:
        snprintf(buf, size, "%u", *(const uint32_t *)v);
        return buf;
    default:
        return *(const char *const *)v ? *(const char *const *)v : "";
    }
}

/* Whether a key has the same value in <a> and <b>, as value_text() would
 * say, without formatting either: every backend of every build asks this of
 * every backend key. */
static bool value_same(const struct key_def *k, const struct key_values *a,
                       const struct key_values *b)
{
    const void *va = (const char *)a + k->offset, *vb = (const char *)b + k->offset;
    const char *sa, *sb;

    switch (k->type) {
    case KEY_BOOL:
        return *(const bool *)va == *(const bool *)vb;
    case KEY_INT:
    case KEY_DURATION:
    case KEY_SIZE:
        return *(const uint32_t *)va == *(const uint32_t *)vb;
    default:
        sa = *(const char *const *)va;
        sb = *(const char *const *)vb;
        return sa == sb || !strcmp(sa ? sa : "", sb ? sb : "");
    }
}

bool keys_backend_differs(const struct key_values *kv, const struct key_values *base,
                          uint64_t *hash)
{
    uint64_t h = hash_fnv1a("", 0);
    bool differs = false;

    for (size_t i = 0; i < key_table_len; i++) {
        const struct key_def *k = &key_table[i];
        char b1[32], b2[32];
        const char *v1, *v2;

        if (!(k->scopes & KEY_S_BACKEND) || value_same(k, kv, base))
            continue;
        v1 = value_text(k, kv, b1, sizeof(b1));
        v2 = value_text(k, base, b2, sizeof(b2));
        if (!strcmp(v1, v2))
            continue;
        differs = true;
        h = hash_fnv1a_more(h, k->name, strlen(k->name) + 1);
        h = hash_fnv1a_more(h, v1, strlen(v1) + 1);
    }
    /* an Ingress's own captures, ingress-nginx's default-backend and
     * custom-http-errors: rendered in its backends too */
    {
        char len[16];
        const char *extra[][2] = {
            {"request-capture", kv->request_capture && !keys_same_captures(kv, base)
                                    ? kv->request_capture
                                    : NULL},
            {"request-capture-len", NULL},
            {"default-backend", kv->nginx_default_backend},
            {"custom-http-errors", str_same(kv->nginx_http_errors, base->nginx_http_errors)
                                       ? NULL
                                       : kv->nginx_http_errors},
        };

        if (extra[0][1]) {
            snprintf(len, sizeof(len), "%u", kv->request_capture_len);
            extra[1][1] = len;
        }
        for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
            if (!extra[i][1])
                continue;
            differs = true;
            h = hash_fnv1a_more(h, extra[i][0], strlen(extra[i][0]) + 1);
            h = hash_fnv1a_more(h, extra[i][1], strlen(extra[i][1]) + 1);
        }
    }
    /* standalone-backend: the Ingress itself is part of the backend's name */
    if (kv->standalone_owner) {
        differs = true;
        h = hash_fnv1a_more(h, kv->standalone_owner, strlen(kv->standalone_owner) + 1);
    }
    *hash = h;
    return differs;
}
