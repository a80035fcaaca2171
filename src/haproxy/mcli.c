/* SPDX-License-Identifier: Apache-2.0 */
/* Asynchronous one-shot HAProxy CLI client on libuv pipes. */
#include "haproxy/mcli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MCLI_MAX_REPLY (4u << 20)

struct mcli_req {
    uv_pipe_t pipe;
    uv_connect_t conn;
    uv_write_t wr;
    uv_shutdown_t sh;
    uv_timer_t timer;
    struct buf reply;
    char *cmd;
    mcli_line_fn *line;  /* NULL: the reply is given whole */
    mcli_done_fn *done;
    void *arg;
    int status;
    int open_handles;
    bool finished;
};

static unsigned in_flight;

unsigned mcli_in_flight(void)
{
    return in_flight;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct mcli_req *r = h->data;

    if (--r->open_handles > 0)
        return;
    in_flight--;
    /* a last line without its newline */
    if (r->line && r->reply.len && !r->status)
        r->line(r->reply.ptr, r->reply.len, r->arg);
    if (r->line)
        buf_reset(&r->reply);
    r->done(r->status, r->reply.ptr ? r->reply.ptr : "", r->arg);
    buf_free(&r->reply);
    free(r->cmd);
    free(r);
}

/* Ends the request: the callback runs once both handles are closed. */
static void finish(struct mcli_req *r, int status)
{
    if (r->finished)
        return;
    r->finished = true;
    r->status = status;
    uv_close((uv_handle_t *)&r->pipe, on_handle_closed);
    uv_close((uv_handle_t *)&r->timer, on_handle_closed);
}

/* Reads go straight into the reply, which doubles as it grows: a drift
 * check reads megabytes of "show servers state". At MCLI_MAX_REPLY, no room
 * is left: libuv reports UV_ENOBUFS. */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct mcli_req *r = h->data;
    size_t room;

    (void)hint;
    b->base = buf_tail(&r->reply, r->reply.len > 65536 ? r->reply.len : 65536, &room);
    b->len = room;
}

/* Gives the complete lines read so far to r->line, and keeps the rest. */
static void give_lines(struct mcli_req *r, size_t from)
{
    char *start = r->reply.ptr, *end = start + r->reply.len, *nl;

    for (char *p = start + from; (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
        r->line(start, (size_t)(nl - start), r->arg);
        start = nl + 1;
    }
    r->reply.len = (size_t)(end - start);
    memmove(r->reply.ptr, start, r->reply.len + 1);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct mcli_req *r = s->data;

    (void)b;
    if (n > 0) {
        size_t from = r->reply.len;

        buf_extend(&r->reply, (size_t)n);
        if (r->line)
            give_lines(r, from);
    } else if (n == UV_EOF)
        finish(r, 0);
    else if (n == UV_ENOBUFS)
        finish(r, -E2BIG);
    else if (n < 0)
        finish(r, (int)n);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the reply (or its absence) tells the rest */
}

static void on_write(uv_write_t *req, int status)
{
    struct mcli_req *r = req->data;

    if (status < 0) {
        finish(r, status);
        return;
    }
    r->sh.data = r;
    uv_shutdown(&r->sh, (uv_stream_t *)&r->pipe, on_shutdown);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct mcli_req *r = req->data;
    uv_buf_t b = uv_buf_init(r->cmd, (unsigned)strlen(r->cmd));

    if (status < 0) {
        finish(r, status);
        return;
    }
    r->wr.data = r;
    if (uv_write(&r->wr, (uv_stream_t *)&r->pipe, &b, 1, on_write) < 0 ||
        uv_read_start((uv_stream_t *)&r->pipe, on_alloc, on_read) < 0)
        finish(r, -EIO);
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data, -ETIMEDOUT);
}

static void send_cmd(uv_loop_t *loop, const char *path, const char *cmd, unsigned timeout_ms,
                     mcli_line_fn *line, mcli_done_fn *done, void *arg)
{
    struct mcli_req *r = xcalloc(1, sizeof(*r));

    in_flight++;
    buf_init(&r->reply, MCLI_MAX_REPLY);
    r->cmd = xasprintf("%s\n", cmd);
    r->line = line;
    r->done = done;
    r->arg = arg;
    r->open_handles = 2;
    uv_pipe_init(loop, &r->pipe, 0);
    uv_timer_init(loop, &r->timer);
    r->pipe.data = r;
    r->timer.data = r;
    r->conn.data = r;
    uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    uv_pipe_connect(&r->conn, &r->pipe, path, on_connect);
}

void mcli_send(uv_loop_t *loop, const char *path, const char *cmd, unsigned timeout_ms,
               mcli_done_fn *done, void *arg)
{
    send_cmd(loop, path, cmd, timeout_ms, NULL, done, arg);
}

void mcli_send_lines(uv_loop_t *loop, const char *path, const char *cmd, unsigned timeout_ms,
                     mcli_line_fn *line, mcli_done_fn *done, void *arg)
{
    send_cmd(loop, path, cmd, timeout_ms, line, done, arg);
}

int mcli_parse_proc(const char *reply, struct mcli_proc *out)
{
    const char *line = reply;
    enum { SEC_NONE, SEC_WORKERS, SEC_OLD, SEC_OTHER } sec = SEC_NONE;
    bool master = false;

    memset(out, 0, sizeof(*out));
    out->failed = -1;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char l[512];
        int pid, reloads, failed;
        char type[32];

        snprintf(l, sizeof(l), "%.*s", (int)(len < sizeof(l) ? len : sizeof(l) - 1), line);
        if (!strncmp(l, "# workers", 9))
            sec = SEC_WORKERS;
        else if (!strncmp(l, "# old workers", 13))
            sec = SEC_OLD;
        else if (l[0] == '#')
            sec = l[1] == '<' ? SEC_NONE : SEC_OTHER;
        else if (sscanf(l, "%d %31s %d", &pid, type, &reloads) == 3) {
            if (!strcmp(type, "master")) {
                master = true;
                out->master_pid = pid;
                out->reloads = reloads;
                if (sscanf(strchr(l, '[') ? strchr(l, '[') : "", "[failed: %d]", &failed) == 1)
                    out->failed = failed;
            } else if (!strcmp(type, "worker")) {
                if (sec == SEC_WORKERS && !out->worker_pid)
                    out->worker_pid = pid;
                else if (sec == SEC_OLD)
                    out->n_old++;
            }
        }
        line += len + (eol ? 1 : 0);
    }
    return master ? 0 : -EINVAL;
}
