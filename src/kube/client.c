/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl multi on libuv, after curl's docs/examples/multi-uv.c: curl tells
 * which sockets to watch and when to wake up; the loop tells curl what
 * happened. One connection carries every watch when the server speaks HTTP/2. */
#include "kube/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define KUBE_CONNECT_TIMEOUT_MS 10000L
#define KUBE_REQUEST_TIMEOUT_MS 60000L
#define KUBE_NUDGE_MS 1000
#define KUBE_PROBE_MS 1000
#define KUBE_PROBE_REFUSALS 10 /* then resume: the refusal may be for good */

struct kube_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    uv_timer_t nudge;
    int open_timers;       /* the client is freed when both are closed */
    struct kube_config *kc;
    struct kube_req *reqs; /* in flight, for kube_client_free() */
    struct sock_ctx *socks;
    uv_timer_t probe;            /* while the API server is unavailable */
    struct kube_req *probe_req;  /* the probe in flight, or NULL */
    struct kube_waiter *waiters; /* requests waiting for it */
    uint64_t down_since;         /* loop time the outage began */
    bool down;                   /* the API server is taken to be unavailable */
    unsigned refused_probes;     /* probes answered 401 or 403 in a row */
    bool closing;
};

struct kube_req {
    struct kube_client *c;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    kube_data_fn *data;
    kube_done_fn *done;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    bool aborted; /* <data> asked to stop */
    bool faulted; /* PORTICO_FAULT_AT=api:N: the answer is lost on its way */
    struct kube_req *next;
};

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct kube_client *c;
    struct sock_ctx *next;
};

static void req_free(struct kube_req *r)
{
    struct kube_req **pp;

    for (pp = &r->c->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    curl_multi_remove_handle(r->c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->url);
    free(r);
}

static void check_done(struct kube_client *c)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(c->multi, &left))) {
        struct kube_req *r;
        const char *why;
        long http = 0;
        int err = 0;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &http);
        if (log_on(LOG_DEBUG)) {
            long version = 0;

            curl_easy_getinfo(msg->easy_handle, CURLINFO_HTTP_VERSION, &version);
            log_debug("kube", "GET %s: %s, status %ld", r->url,
                      version == CURL_HTTP_VERSION_2_0 ? "HTTP/2" : "HTTP/1.1", http);
        }
        why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(msg->data.result);
        if (r->aborted) {
            err = -ECANCELED;
        } else if (r->faulted) {
            err = -EIO;
            why = "fault injection";
        } else if (msg->data.result == CURLE_OPERATION_TIMEDOUT) {
            err = -ETIMEDOUT;
        } else if (msg->data.result != CURLE_OK) {
            err = -EIO;
        }
        r->done(http, err, err ? why : "", r->arg);
        req_free(r);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *s = p->data;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(s->c->multi, s->fd, flags, &running);
    check_done(s->c);
}

static void on_sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct kube_client *c = userp;
    struct sock_ctx *s = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            struct sock_ctx **pp;

            for (pp = &c->socks; *pp != s; pp = &(*pp)->next)
                ;
            *pp = s->next;
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->c = c;
        s->next = c->socks;
        c->socks = s;
        uv_poll_init_socket(c->loop, &s->poll, fd);
        s->poll.data = s;
        curl_multi_assign(c->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct kube_client *c = t->data;
    int running;

    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

/* libcurl 7.88 (Debian 12's) can keep HTTP/2 frames it has already read for
 * one stream while it serves another, until the socket is next readable: a
 * list page the API server sent at once arrived 59 s late, with the next
 * watch bookmark. Telling curl every second that its sockets are readable
 * makes it look; when nothing is there, its read finds nothing. */
static void on_nudge(uv_timer_t *t)
{
    struct kube_client *c = t->data;
    curl_socket_t fds[16];
    size_t n = 0;
    int running;

    /* socket_action may remove sockets: the list is copied first */
    for (struct sock_ctx *s = c->socks; s && n < ARRAY_SIZE(fds); s = s->next)
        fds[n++] = s->fd;
    for (size_t i = 0; i < n; i++)
        curl_multi_socket_action(c->multi, fds[i], CURL_CSELECT_IN, &running);
    check_done(c);
}

static int timer_cb(CURLM *multi, long ms, void *userp)
{
    struct kube_client *c = userp;

    (void)multi;
    if (ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timeout, (uint64_t)ms, 0);
    return 0;
}

struct kube_client *kube_client_new(uv_loop_t *loop, struct kube_config *kc, char **err)
{
    struct kube_client *c;
    static bool global_done;

    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
            errmsg_set(err, "cannot initialise libcurl");
            return NULL;
        }
        global_done = true;
    }
    c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->kc = kc;
    c->multi = curl_multi_init();
    if (!c->multi)
        abort();
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_init(loop, &c->nudge);
    c->nudge.data = c;
    uv_timer_start(&c->nudge, on_nudge, KUBE_NUDGE_MS, KUBE_NUDGE_MS);
    uv_timer_init(loop, &c->probe);
    c->probe.data = c;
    c->open_timers = 3;
    return c;
}

static void on_client_timer_closed(uv_handle_t *h)
{
    struct kube_client *c = h->data;

    if (--c->open_timers)
        return;
    curl_multi_cleanup(c->multi);
    free(c);
}

bool kube_client_busy(const struct kube_client *c)
{
    return c && c->reqs;
}

void kube_client_free(struct kube_client *c)
{
    if (!c)
        return;
    c->closing = true;
    /* what is left has no owner to cancel it (a lease given up on the way
     * out): its callback frees what it holds */
    while (c->reqs) {
        struct kube_req *r = c->reqs;

        if (r != c->probe_req)
            r->done(0, -ECANCELED, "Portico stops", r->arg);
        req_free(r);
    }
    c->probe_req = NULL;
    while (c->waiters)
        kube_waiter_cancel(c->waiters);
    uv_close((uv_handle_t *)&c->timer, on_client_timer_closed);
    uv_close((uv_handle_t *)&c->nudge, on_client_timer_closed);
    uv_close((uv_handle_t *)&c->probe, on_client_timer_closed);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct kube_req *r = userp;
    size_t len = size * nmemb;

    if (r->faulted)
        return 0; /* as a connection closed before the answer */
    if (r->data(ptr, len, r->arg)) {
        r->aborted = true;
        return 0; /* curl aborts the transfer */
    }
    return len;
}

static void set_blob(CURL *easy, CURLoption opt, const char *pem)
{
    struct curl_blob blob;

    blob.data = (void *)pem;
    blob.len = strlen(pem);
    blob.flags = CURL_BLOB_COPY;
    curl_easy_setopt(easy, opt, &blob);
}

/* A request of <path>, set up but not started (req_start()). */
static struct kube_req *req_new(struct kube_client *c, const char *path, bool stream,
                                kube_data_fn *data, kube_done_fn *done, void *arg)
{
    struct kube_req *r = xcalloc(1, sizeof(*r));
    struct kube_config *kc = c->kc;

    r->c = c;
    r->data = data;
    r->done = done;
    r->arg = arg;
    r->url = xasprintf("%s%s", kc->server, path);
    r->easy = curl_easy_init();
    if (!r->easy)
        abort();
    r->headers = curl_slist_append(NULL, "Accept: application/json");
    if (kc->token && *kc->token) {
        char *auth = xasprintf("Authorization: Bearer %s", kc->token);

        r->headers = curl_slist_append(r->headers, auth);
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(r->easy, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, KUBE_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
    /* curl sends the request through a buffer of this size, 64 KiB by
     * default, that every handle keeps: a GET needs the smallest */
    curl_easy_setopt(r->easy, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "https");
    if (!stream)
        curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, KUBE_REQUEST_TIMEOUT_MS);
    if (kc->ca_pem)
        set_blob(r->easy, CURLOPT_CAINFO_BLOB, kc->ca_pem);
    if (kc->cert_pem) {
        set_blob(r->easy, CURLOPT_SSLCERT_BLOB, kc->cert_pem);
        curl_easy_setopt(r->easy, CURLOPT_SSLCERTTYPE, "PEM");
        set_blob(r->easy, CURLOPT_SSLKEY_BLOB, kc->key_pem);
        curl_easy_setopt(r->easy, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (kc->insecure) {
        curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return r;
}

static struct kube_req *req_start(struct kube_req *r)
{
    r->faulted = fault_hit("api");
    r->next = r->c->reqs;
    r->c->reqs = r;
    curl_multi_add_handle(r->c->multi, r->easy);
    return r;
}

struct kube_req *kube_get(struct kube_client *c, const char *path, bool stream,
                          kube_data_fn *data, kube_done_fn *done, void *arg)
{
    return req_start(req_new(c, path, stream, data, done, arg));
}

struct kube_req *kube_send(struct kube_client *c, const char *method, const char *path,
                           const char *ctype, const char *body, kube_data_fn *data,
                           kube_done_fn *done, void *arg)
{
    struct kube_req *r = req_new(c, path, false, data, done, arg);
    char *type = xasprintf("Content-Type: %s", ctype);

    r->headers = curl_slist_append(r->headers, type);
    free(type);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body);
    return req_start(r);
}

void kube_req_cancel(struct kube_req *r)
{
    if (r)
        req_free(r);
}

/* ====== Outages ======
 *
 * Every informer used to back off on its own (client-go's 800 ms doubling
 * to 30 s): the API server back, each waited out its own backoff, up to
 * 20 s for the last change to be served. Now they wait together, and one
 * probe a second tells when to resume. */

bool kube_unavailable(long http, int err)
{
    return err == -EIO || err == -ETIMEDOUT || http == 429 || http >= 500;
}

static int probe_data(const char *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    (void)arg;
    return 0;
}

static void on_probe_done(long http, int err, const char *msg, void *arg)
{
    struct kube_client *c = arg;
    struct kube_waiter *w;
    size_t n = 0;

    c->probe_req = NULL;
    if (kube_unavailable(http, err) || http == 0) {
        log_debug("kube", "API server probe: %s", err ? msg : "not ready");
        return;
    }
    /* a restarted API server refuses everything for a second or two, until
     * its authorizer has loaded the roles: resuming then, every informer
     * would back off on its own; a refusal that lasts is theirs to report */
    if ((http == 401 || http == 403) && ++c->refused_probes <= KUBE_PROBE_REFUSALS) {
        log_debug("kube", "API server probe: HTTP %ld", http);
        return;
    }
    uv_timer_stop(&c->probe);
    for (w = c->waiters; w; w = w->next)
        n++;
    log_info("kube", "API server answers again after %.1f s; %zu requests resume",
             (double)(uv_now(c->loop) - c->down_since) / 1000.0, n);
    c->down = false;
    c->refused_probes = 0;
    /* each waiter may wait again at once: take them off the list first */
    while ((w = c->waiters)) {
        kube_waiter_cancel(w);
        w->fn(w);
    }
}

static void on_probe_tick(uv_timer_t *t)
{
    struct kube_client *c = t->data;

    /* a probe that takes long (a connect timeout) is not doubled */
    if (!c->probe_req)
        c->probe_req = kube_get(c, "/readyz", false, probe_data, on_probe_done, c);
}

void kube_client_wait(struct kube_client *c, struct kube_waiter *w, const char *why)
{
    kube_waiter_cancel(w);
    w->next = c->waiters;
    if (w->next)
        w->next->pprev = &w->next;
    w->pprev = &c->waiters;
    c->waiters = w;
    if (c->down)
        return;
    c->down = true;
    c->down_since = uv_now(c->loop);
    log_warn("kube", "API server unavailable (%s); probing it once a second", why);
    uv_timer_start(&c->probe, on_probe_tick, KUBE_PROBE_MS, KUBE_PROBE_MS);
}

void kube_waiter_cancel(struct kube_waiter *w)
{
    if (!w->pprev)
        return;
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    w->next = NULL;
    w->pprev = NULL;
}
