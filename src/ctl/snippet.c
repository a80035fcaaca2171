/* SPDX-License-Identifier: Apache-2.0 */
/* Snippets HAProxy refuses: a configuration with a bad snippet does not
 * load, and every later change would wait on it. The lines haproxy -c names
 * are found in the generation it checked; a snippet holding one is refused
 * until its text changes, and the objects are built again without it. */
#include "ctl/ctl-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define REFUSED_MAX 256 /* past this, forget them all: texts that changed since */

/* Line <n> (1-based) of the file at <path> into <line>, and the header of
 * the section it is in ("backend x", "frontend y", "global") into <section>;
 * false when there is no such line. */
static bool find_line(const char *path, unsigned long n, char *line, size_t size,
                      char *section, size_t ssize)
{
    FILE *f = fopen(path, "re");
    char buf[8192];
    unsigned long at = 0;
    bool found = false;

    if (!f)
        return false;
    *section = '\0';
    while (fgets(buf, sizeof(buf), f)) {
        buf[strcspn(buf, "\n")] = '\0';
        if (++at == n) {
            snprintf(line, size, "%.*s", (int)(size - 1), buf + strspn(buf, " \t"));
            found = true;
            break;
        }
        if (buf[0] && buf[0] != ' ' && buf[0] != '\t' && buf[0] != '#')
            snprintf(section, ssize, "%.*s", (int)(ssize - 1), buf);
    }
    fclose(f);
    return found;
}

/* True when <text> holds <line> as one of its lines. */
static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);

    for (const char *p = text; p && *p;) {
        size_t l = strcspn(p, "\n");

        if (l == len && !strncmp(p, line, len))
            return true;
        p += l + (p[l] == '\n');
    }
    return false;
}

/* The snippet of section <section> in <m> that holds <line>, or NULL. */
static const char *snippet_of(const struct model *m, const char *section, const char *line)
{
    const char *text = NULL;

    if (!strcmp(section, "global")) {
        text = m->global.global_snippet;
    } else if (!strncmp(section, "frontend ", 9)) {
        text = m->global.frontend_snippet;
    } else if (!strncmp(section, "backend ", 8)) {
        for (size_t i = 0; i < m->n_backends; i++) {
            if (!strcmp(m->backends[i]->name, section + 8) && m->backends[i]->opts) {
                text = m->backends[i]->opts->backend_snippet;
                break;
            }
        }
    }
    return text && has_line(text, line) ? text : NULL;
}

bool ctl_blame_snippets(struct ctl *c, const char *output)
{
    const struct model *m = c->pending.model;
    bool blamed = false;

    if (!m)
        return false;
    /* HAProxy names lines as "[PATH:LINE]" */
    for (const char *p = strchr(output, '['); p; p = strchr(p + 1, '[')) {
        const char *colon, *close = strchr(p, ']'), *eol = strchr(p, '\n'), *end, *text;
        char path[4096], line[1024], section[1024], id[17], *msg;
        unsigned long n;
        size_t mlen;

        if (!close || (eol && close > eol))
            continue;
        colon = memrchr(p, ':', (size_t)(close - p));
        if (!colon || colon == p + 1 || (size_t)(colon - p - 1) >= sizeof(path))
            continue;
        n = strtoul(colon + 1, NULL, 10);
        snprintf(path, sizeof(path), "%.*s", (int)(colon - p - 1), p + 1);
        if (!n || !find_line(path, n, line, sizeof(line), section, sizeof(section)))
            continue;
        text = snippet_of(m, section, line);
        if (!text)
            continue;
        model_snippet_id(text, id);
        if (hmap_get(&c->refused_snippets, id))
            continue;
        if (c->refused_snippets.used >= REFUSED_MAX) {
            size_t iter = 0;
            const char *k;
            void *v;

            while (hmap_next(&c->refused_snippets, &iter, &k, &v))
                free(v);
            hmap_deinit(&c->refused_snippets);
            hmap_init(&c->refused_snippets);
        }
        /* HAProxy's words after the location, on one line */
        end = eol ? eol : close + strlen(close);
        mlen = (size_t)(end - close - 1);
        msg = xasprintf("%.*s", (int)(mlen > 300 ? 300 : mlen), close + 1);
        for (char *q = msg; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
                *q = '?';
        hmap_put(&c->refused_snippets, id, msg);
        log_err("haproxy", "line %lu, in %s, is a configuration snippet's: it is left out of the "
                           "next generation",
                n, section);
        blamed = true;
    }
    return blamed;
}
