/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime API map replacement. Each map goes through its own version:
 * "prepare map" opens an empty one, "add map @ver" fills it in chunks, and
 * "commit map @ver" swaps it in atomically, so requests never see a half
 * filled map. A failure leaves the running version untouched. */
#include "haproxy/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "haproxy/escape.h"
#include "haproxy/mcli.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* HAProxy reads one CLI line into a buffer of tune.bufsize (16 kB). */
#define RT_LINE_MAX 12000
#define RT_TIMEOUT_MS 5000

struct rt_job {
    uv_loop_t *loop;
    char *sock;
    char **names;
    char **contents;
    size_t n;
    size_t map;          /* map being replaced */
    const char *pos;     /* next entry of contents[map] to send */
    unsigned version;    /* version opened by "prepare map" */
    enum { RT_PREPARE = 0, RT_ADD, RT_COMMIT } step;
    rt_done_fn *done;
    void *arg;
};

static void job_free(struct rt_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->names[i]);
        free(j->contents[i]);
    }
    free(j->names);
    free(j->contents);
    free(j->sock);
    free(j);
}

static void finish(struct rt_job *j, bool ok, const char *msg)
{
    j->done(ok, msg, j->arg);
    job_free(j);
}

static void next(struct rt_job *j);

/* A CLI reply is empty or a success message; anything else names an error. */
static bool reply_ok(const char *reply)
{
    while (*reply == '\n')
        reply++;
    return *reply == '\0' || !strncmp(reply, "New version created", 19) ||
           !strncmp(reply, "Done", 4);
}

static void on_reply(int status, const char *reply, void *arg)
{
    struct rt_job *j = arg;
    char msg[300];

    if (status < 0) {
        snprintf(msg, sizeof(msg), "admin socket: %s", strerror(-status));
        finish(j, false, msg);
        return;
    }
    if (j->step == RT_PREPARE) {
        if (sscanf(reply, "New version created: %u", &j->version) != 1) {
            snprintf(msg, sizeof(msg), "prepare map %s: %.200s", j->names[j->map], reply);
            finish(j, false, msg);
            return;
        }
        j->step = RT_ADD;
        j->pos = j->contents[j->map];
    } else if (!reply_ok(reply)) {
        snprintf(msg, sizeof(msg), "%s map %s: %.200s", j->step == RT_ADD ? "add" : "commit",
                 j->names[j->map], reply);
        finish(j, false, msg);
        return;
    } else if (j->step == RT_COMMIT) {
        j->map++;
        j->step = RT_PREPARE;
        if (j->map == j->n) {
            finish(j, true, NULL);
            return;
        }
    }
    next(j);
}

/* Appends "add map" commands for the entries at j->pos until the line is
 * full; returns -EINVAL for an entry that cannot be escaped. */
static int fill_adds(struct rt_job *j, struct buf *line)
{
    while (*j->pos) {
        const char *eol = strchr(j->pos, '\n');
        size_t len = eol ? (size_t)(eol - j->pos) : strlen(j->pos);
        char entry[8192], *sp;
        size_t mark = line->len;

        if (len >= sizeof(entry))
            return -EINVAL;
        memcpy(entry, j->pos, len);
        entry[len] = '\0';
        sp = strchr(entry, ' ');
        if (!sp)
            return -EINVAL;
        *sp = '\0';
        if (line->len)
            buf_addc(line, ';');
        buf_addf(line, "add map @%u ", j->version);
        buf_adds(line, j->names[j->map]);
        buf_addc(line, ' ');
        if (rt_api_arg(line, entry) || buf_addc(line, ' ') || rt_api_arg(line, sp + 1))
            return -EINVAL;
        if (line->len > RT_LINE_MAX && mark > 0) {
            /* this entry opens the next line */
            line->len = mark;
            line->ptr[mark] = '\0';
            return 0;
        }
        j->pos += len + (eol ? 1 : 0);
    }
    return 0;
}

static void next(struct rt_job *j)
{
    struct buf line;

    buf_init(&line, 1 << 20);
    switch (j->step) {
    case RT_PREPARE:
        buf_addf(&line, "prepare map %s", j->names[j->map]);
        break;
    case RT_ADD:
        if (fill_adds(j, &line)) {
            buf_free(&line);
            finish(j, false, "a map entry cannot be sent over the Runtime API");
            return;
        }
        if (line.len)
            break;
        j->step = RT_COMMIT;
        /* fall through */
    case RT_COMMIT:
        buf_reset(&line);
        buf_addf(&line, "commit map @%u %s", j->version, j->names[j->map]);
        j->step = RT_COMMIT;
        break;
    }
    mcli_send(j->loop, j->sock, line.ptr, RT_TIMEOUT_MS, on_reply, j);
    buf_free(&line);
}

void rt_replace_maps(uv_loop_t *loop, const char *sock, const char *const *names,
                     const char *const *contents, size_t n, rt_done_fn *done, void *arg)
{
    struct rt_job *j = xcalloc(1, sizeof(*j));

    j->loop = loop;
    j->sock = xstrdup(sock);
    j->names = xcalloc(n + 1, sizeof(*j->names));
    j->contents = xcalloc(n + 1, sizeof(*j->contents));
    for (size_t i = 0; i < n; i++) {
        j->names[i] = xstrdup(names[i]);
        j->contents[i] = xstrdup(contents[i]);
    }
    j->n = n;
    j->done = done;
    j->arg = arg;
    if (n == 0) {
        finish(j, true, NULL);
        return;
    }
    next(j);
}
