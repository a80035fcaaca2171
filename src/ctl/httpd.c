/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal HTTP/1.0 responder for probes and metrics: one request per
 * connection, bounded request size, no keep-alive. */
#include "ctl/httpd.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

#define HTTPD_MAX_REQ 8192

struct conn {
    uv_tcp_t tcp;
    uv_write_t wr;
    struct httpd *srv;
    char req[HTTPD_MAX_REQ];
    size_t len;
    char *resp;
    bool answered;
};

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    free(c->resp);
    free(c);
}

static void on_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;

    (void)status;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    default:
        return "Service Unavailable";
    }
}

static void respond(struct conn *c)
{
    struct buf body, out;
    const char *ctype = "text/plain; charset=utf-8";
    char method[16] = "", path[1024] = "";
    bool head = false;
    int status;
    uv_buf_t b;

    c->answered = true;
    buf_init(&body, 16 << 20);
    buf_init(&out, 17 << 20);
    /* a blank or one-word request fills neither or only the method */
    if (sscanf(c->req, "%15s %1023s", method, path) == 2)
        head = !strcmp(method, "HEAD");
    if (!path[0]) {
        status = 400;
        buf_adds(&body, "bad request\n");
    } else if (!head && strcmp(method, "GET")) {
        status = 405;
        buf_adds(&body, "method not allowed\n");
    } else {
        char *q = strchr(path, '?');

        if (q)
            *q = '\0';
        status = c->srv->fn(path, &body, &ctype, c->srv->arg);
    }
    buf_addf(&out,
             "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n",
             status, reason(status), ctype, body.len);
    if (!head && body.len)
        buf_add(&out, body.ptr, body.len);
    buf_free(&body);
    c->resp = buf_take(&out);
    b = uv_buf_init(c->resp, (unsigned)strlen(c->resp));
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written))
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct conn *c = h->data;

    (void)hint;
    b->base = c->req + c->len;
    b->len = sizeof(c->req) - 1 - c->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;

    (void)b;
    if (c->answered)
        return;
    if (n < 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    c->len += (size_t)n;
    c->req[c->len] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n") ||
        c->len >= sizeof(c->req) - 1) {
        uv_read_stop(s);
        respond(c);
    }
}

static void on_conn(uv_stream_t *srv, int status)
{
    struct httpd *h = srv->data;
    struct conn *c;

    if (status < 0)
        return;
    c = xcalloc(1, sizeof(*c));
    c->srv = h;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

int httpd_start(struct httpd *h, uv_loop_t *loop, const char *addr, int port,
                httpd_handler_fn *fn, void *arg)
{
    struct sockaddr_storage sa;
    int ret;

    h->fn = fn;
    h->arg = arg;
    if (uv_ip4_addr(addr, port, (struct sockaddr_in *)&sa) &&
        (ret = uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&sa)))
        return ret;
    uv_tcp_init(loop, &h->tcp);
    h->tcp.data = h;
    ret = uv_tcp_bind(&h->tcp, (const struct sockaddr *)&sa, 0);
    if (ret == 0)
        ret = uv_listen((uv_stream_t *)&h->tcp, 64, on_conn);
    if (ret)
        uv_close((uv_handle_t *)&h->tcp, NULL);
    return ret;
}

void httpd_close(struct httpd *h)
{
    if (!uv_is_closing((uv_handle_t *)&h->tcp))
        uv_close((uv_handle_t *)&h->tcp, NULL);
}
