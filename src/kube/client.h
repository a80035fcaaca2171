/* SPDX-License-Identifier: Apache-2.0 */
/* HTTPS requests to the API server: libcurl's multi interface driven by the
 * libuv loop, HTTP/2 multiplexing when the server offers it. */
#ifndef SRC_KUBE_CLIENT_H
#define SRC_KUBE_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "kube/config.h"

struct kube_client;
struct kube_req;

/* Receives body bytes as they arrive; returns 0, or non-zero to abort the
 * request (then <done> reports -ECANCELED). */
typedef int kube_data_fn(const char *data, size_t len, void *arg);
/* Called once per request that was not cancelled: <http> is the status code
 * (0 when no response), <err> is 0 or a negative errno, <msg> a reason. */
typedef void kube_done_fn(long http, int err, const char *msg, void *arg);

/* Creates a client for <kc> (borrowed, must outlive the client). */
struct kube_client *kube_client_new(uv_loop_t *loop, struct kube_config *kc, char **err);
/* True while requests are in flight. */
bool kube_client_busy(const struct kube_client *c);
/* Ends every request still in flight, each <done> called with -ECANCELED,
 * and frees the client once its handles are closed. */
void kube_client_free(struct kube_client *c);
/* Starts GET <path> (appended to the server URL). <stream>: no overall
 * timeout (watches). Returns the request, valid until <done> runs or
 * kube_req_cancel(). */
struct kube_req *kube_get(struct kube_client *c, const char *path, bool stream,
                          kube_data_fn *data, kube_done_fn *done, void *arg);
/* Starts <method> (PATCH, PUT, POST) of <path> with the JSON <body> (copied)
 * of type <ctype> ("application/merge-patch+json", ...); the answer's body
 * goes to <data>. Returns the request, as kube_get(). */
struct kube_req *kube_send(struct kube_client *c, const char *method, const char *path,
                           const char *ctype, const char *body, kube_data_fn *data,
                           kube_done_fn *done, void *arg);
/* Stops a request without calling its <done>. Must not be called from the
 * request's own callbacks (return non-zero from <data> instead). */
void kube_req_cancel(struct kube_req *r);

/* True when a request ended so (no answer, a timeout, 429 or 5xx) that the
 * API server is taken to be unavailable, rather than refusing the request. */
bool kube_unavailable(long http, int err);

struct kube_waiter;
typedef void kube_up_fn(struct kube_waiter *w);

/* A caller waiting for the API server to answer again. */
struct kube_waiter {
    struct kube_waiter *next, **pprev; /* in the client's list while waiting */
    kube_up_fn *fn;
    void *arg;
};

/* The API server did not answer a request of <w>'s owner (<why> says how):
 * w->fn runs once it answers again. Meanwhile the client alone probes it,
 * one GET /readyz a second whatever the number of waiters, and logs the
 * outage once when it begins and once when it ends. */
void kube_client_wait(struct kube_client *c, struct kube_waiter *w, const char *why);
/* Forgets <w>; a no-op when it does not wait. */
void kube_waiter_cancel(struct kube_waiter *w);
#endif
