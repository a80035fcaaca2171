/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime API updates: replace the content of maps and certificates in the
 * running HAProxy without a reload. */
#ifndef SRC_HAPROXY_RUNTIME_H
#define SRC_HAPROXY_RUNTIME_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* Called once; <ok> false means the caller must reload instead. <msg> is
 * borrowed and explains a failure. */
typedef void rt_done_fn(bool ok, const char *msg, void *arg);

struct rt_update {
    const char *name;    /* as HAProxy knows it: "maps/hosts.map", "certs/x.pem" */
    const char *content; /* map file ("key value" lines) or PEM key and chain */
    bool cert;
};

/* Applies <n> updates in order through the admin socket <sock>. A map is
 * replaced atomically (prepare map, add map @ver in chunks that fit HAProxy's
 * CLI buffer, commit map), every key and value escaped with rt_api_arg(). A
 * certificate is replaced with set ssl cert + commit ssl cert. The updates
 * are copied; <done> is called once. */
void rt_apply(uv_loop_t *loop, const char *sock, const struct rt_update *u, size_t n,
              rt_done_fn *done, void *arg);
#endif
