/* SPDX-License-Identifier: Apache-2.0 */
/* Portico's own tiny HTTP endpoint: /healthz, /readyz, /metrics. */
#ifndef SRC_CTL_HTTPD_H
#define SRC_CTL_HTTPD_H
#include <uv.h>

#include "util/buf.h"

/* Fills <body> for <path>; returns the status code (404 for unknown paths). */
typedef int httpd_handler_fn(const char *path, struct buf *body, const char **ctype, void *arg);

struct httpd {
    uv_tcp_t tcp;
    httpd_handler_fn *fn;
    void *arg;
};

/* Listens on <addr>:<port>. Returns 0 or a negative libuv error. */
int httpd_start(struct httpd *h, uv_loop_t *loop, const char *addr, int port,
                httpd_handler_fn *fn, void *arg);
void httpd_close(struct httpd *h);
#endif
