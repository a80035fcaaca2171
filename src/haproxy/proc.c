/* SPDX-License-Identifier: Apache-2.0 */
/* Supervision of "haproxy -W". HAProxy 2.6's master CLI answers nothing to
 * "reload", so every start and reload is confirmed with "show proc", and
 * reloads are serialised: a signal sent while the master re-executes is lost. */
#include "haproxy/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "haproxy/mcli.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define HAP_POLL_MS 5
#define HAP_CONFIRM_POLLS 6000 /* 30 s: a large configuration takes a while to parse */
#define HAP_BACKOFF_MIN_MS 100
#define HAP_BACKOFF_MAX_MS 3200
#define HAP_HEALTHY_MS 30000

static void poll_proc(struct hap *h);

void hap_init(struct hap *h, uv_loop_t *loop, const char *bin, const char *cfg,
              const char *runtime_dir)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop;
    h->bin = bin;
    h->cfg = xstrdup(cfg);
    h->master_sock = xasprintf("%s/master.sock", runtime_dir);
    h->pidfile = xasprintf("%s/haproxy.pid", runtime_dir);
    h->backoff_ms = HAP_BACKOFF_MIN_MS;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
}

static void complete(struct hap *h, bool ok, const char *msg)
{
    hap_done_fn *done = h->pending;

    h->pending = NULL;
    h->op = HAP_OP_NONE;
    if (done)
        done(h, ok, msg, h->pending_arg);
}

static void spawn(struct hap *h);
static void on_restart_timer(uv_timer_t *t);

/* Counts an unexpected exit and starts HAProxy again after the backoff,
 * which doubles up to HAP_BACKOFF_MAX_MS. */
static void schedule_restart(struct hap *h)
{
    h->restarts++;
    uv_timer_start(&h->timer, on_restart_timer, h->backoff_ms, 0);
    h->backoff_ms = h->backoff_ms * 2 > HAP_BACKOFF_MAX_MS ? HAP_BACKOFF_MAX_MS
                                                          : h->backoff_ms * 2;
}

static void on_restart_timer(uv_timer_t *t)
{
    struct hap *h = t->data;

    if (h->stopping || h->running)
        return;
    log_info("haproxy", "restarting haproxy");
    h->op = HAP_OP_START;
    spawn(h);
}

static void on_haproxy_exit(uv_process_t *p, int64_t status, int sig)
{
    struct hap *h = p->data;
    uint64_t lived = uv_now(h->loop) - h->started_ms;

    h->running = false;
    h->serving = false;
    uv_close((uv_handle_t *)p, NULL);
    if (h->stopping) {
        log_info("haproxy", "haproxy stopped (status %lld, signal %d)", (long long)status, sig);
        uv_timer_stop(&h->timer);
        complete(h, true, NULL);
        return;
    }
    if (lived > HAP_HEALTHY_MS)
        h->backoff_ms = HAP_BACKOFF_MIN_MS;
    log_err("haproxy", "haproxy exited unexpectedly (status %lld, signal %d); restarting in %u ms",
            (long long)status, sig, h->backoff_ms);
    schedule_restart(h);
    if (h->on_restart)
        h->on_restart(h, h->restart_arg);
    /* last: the caller may cancel the restart (hap_cancel_restart) */
    if (h->op != HAP_OP_NONE)
        complete(h, false, "haproxy exited");
}

static void spawn(struct hap *h)
{
    char *args[12];
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];
    char *sock = xasprintf("%s,mode,600", h->master_sock);
    int ret;

    /* -W: master-worker; -S: master CLI; listeners move to new workers on reload */
    args[0] = (char *)h->bin;
    args[1] = "-W";
    args[2] = "-db";
    args[3] = "-S";
    args[4] = sock;
    args[5] = "-p";
    args[6] = h->pidfile;
    args[7] = "-f";
    args[8] = h->cfg;
    args[9] = NULL;
    memset(&po, 0, sizeof(po));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 2; /* HAProxy's notices go to our log stream */
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    po.file = h->bin;
    po.args = args;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = on_haproxy_exit;
    h->proc.data = h;
    unlink(h->master_sock);
    ret = uv_spawn(h->loop, &h->proc, &po);
    free(sock);
    if (ret) {
        log_err("haproxy", "cannot start %s: %s", h->bin, uv_strerror(ret));
        uv_close((uv_handle_t *)&h->proc, NULL);
        schedule_restart(h);
        complete(h, false, uv_strerror(ret));
        return;
    }
    h->running = true;
    h->pid = h->proc.pid;
    h->started_ms = uv_now(h->loop);
    h->polls = 0;
    h->reloads_seen = 0;
    log_info("haproxy", "haproxy started (pid %d)", h->pid);
    poll_proc(h);
}

static void on_poll_timer(uv_timer_t *t)
{
    poll_proc(t->data);
}

static void on_proc(int status, const char *reply, void *arg)
{
    struct hap *h = arg;
    struct mcli_proc p;

    if (!h->running || h->stopping)
        return;
    if (status == 0 && mcli_parse_proc(reply, &p) == 0) {
        if (h->op == HAP_OP_START && p.worker_pid) {
            h->serving = true;
            h->reloads_seen = p.reloads;
            h->failed_seen = p.failed;
            complete(h, true, NULL);
            return;
        }
        if (h->op == HAP_OP_RELOAD && p.reloads > h->reloads_seen) {
            bool failed = p.failed > h->failed_seen;

            h->reloads_seen = p.reloads;
            h->failed_seen = p.failed;
            complete(h, !failed && p.worker_pid,
                     failed ? "haproxy refused the new configuration (see its messages above)"
                            : NULL);
            return;
        }
    }
    if (++h->polls > HAP_CONFIRM_POLLS) {
        complete(h, false, "haproxy did not confirm in time");
        return;
    }
    uv_timer_start(&h->timer, on_poll_timer, HAP_POLL_MS, 0);
}

static void poll_proc(struct hap *h)
{
    mcli_send(h->loop, h->master_sock, "show proc", 2000, on_proc, h);
}

bool hap_restart_pending(const struct hap *h)
{
    /* without a process the timer only ever waits for a restart */
    return !h->running && uv_is_active((const uv_handle_t *)&h->timer);
}

void hap_cancel_restart(struct hap *h)
{
    if (h->op == HAP_OP_NONE && hap_restart_pending(h)) {
        uv_timer_stop(&h->timer);
        log_info("haproxy", "restart cancelled");
    }
}

void hap_schedule_restart(struct hap *h, hap_done_fn *done, void *arg)
{
    if (h->running || h->stopping)
        return;
    h->pending = done;
    h->pending_arg = arg;
    schedule_restart(h);
}

void hap_start(struct hap *h, hap_done_fn *done, void *arg)
{
    h->pending = done;
    h->pending_arg = arg;
    h->op = HAP_OP_START;
    h->stopping = false;
    spawn(h);
}

static void on_reload_sent(int status, const char *reply, void *arg)
{
    struct hap *h = arg;

    (void)reply;
    if (!h->running || h->op != HAP_OP_RELOAD)
        return;
    if (status < 0) {
        complete(h, false, uv_strerror(status));
        return;
    }
    log_debug("haproxy", "reload requested");
    h->polls = 0;
    poll_proc(h);
}

void hap_reload(struct hap *h, hap_done_fn *done, void *arg)
{
    h->pending = done;
    h->pending_arg = arg;
    if (!h->running) {
        complete(h, false, "haproxy is not running");
        return;
    }
    h->op = HAP_OP_RELOAD;
    mcli_send(h->loop, h->master_sock, "reload", 5000, on_reload_sent, h);
}

/* A signal that reaches the master while it re-executes for a reload is
 * lost, so the soft stop is repeated until HAProxy exits or the grace period
 * ends. */
static void on_stop_tick(uv_timer_t *t)
{
    struct hap *h = t->data;

    if (!h->running)
        return;
    if (uv_now(h->loop) >= h->stop_deadline) {
        log_warn("haproxy", "haproxy still running after the grace period; stopping it now");
        uv_process_kill(&h->proc, SIGTERM);
        uv_timer_stop(t);
        return;
    }
    uv_process_kill(&h->proc, SIGUSR1);
}

void hap_stop(struct hap *h, unsigned grace_ms, hap_done_fn *done, void *arg)
{
    if (h->op != HAP_OP_NONE)
        complete(h, false, "stopping");
    h->stopping = true;
    h->pending = done;
    h->pending_arg = arg;
    h->op = HAP_OP_STOP;
    uv_timer_stop(&h->timer);
    if (!h->running) {
        complete(h, true, NULL);
        return;
    }
    /* SIGUSR1: soft stop, workers finish their connections */
    uv_process_kill(&h->proc, SIGUSR1);
    h->stop_deadline = uv_now(h->loop) + grace_ms;
    uv_timer_start(&h->timer, on_stop_tick, 250, 250);
}

void hap_close(struct hap *h)
{
    uv_close((uv_handle_t *)&h->timer, NULL);
    FREE_NULL(h->cfg);
    FREE_NULL(h->master_sock);
    FREE_NULL(h->pidfile);
}

/* ====== Validation ====== */

struct check {
    uv_process_t proc;
    uv_pipe_t out;
    struct buf output;
    hap_check_fn *done;
    void *arg;
    int64_t status;
    int open;
};

static unsigned checks_in_flight;

unsigned hap_in_flight(void)
{
    return checks_in_flight + mcli_in_flight();
}

static void check_closed(uv_handle_t *hd)
{
    struct check *c = hd->data;

    if (--c->open > 0)
        return;
    checks_in_flight--;
    c->done(c->status == 0, c->output.ptr ? c->output.ptr : "", c->arg);
    buf_free(&c->output);
    free(c);
}

static void check_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *b)
{
    static char slab[16384];

    (void)hd;
    (void)hint;
    b->base = slab;
    b->len = sizeof(slab);
}

static void check_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct check *c = s->data;

    if (n > 0) {
        /* past the limit the output is cut, never the check */
        size_t room = c->output.limit - c->output.len;

        buf_add(&c->output, b->base, (size_t)n < room ? (size_t)n : room);
    } else if (n < 0) {
        uv_close((uv_handle_t *)s, check_closed);
    }
}

static void check_exit(uv_process_t *p, int64_t status, int sig)
{
    struct check *c = p->data;

    c->status = sig ? -1 : status;
    uv_close((uv_handle_t *)p, check_closed);
}

void hap_check(uv_loop_t *loop, const char *bin, const char *cfg, hap_check_fn *done,
               void *arg)
{
    struct check *c = xcalloc(1, sizeof(*c));
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];
    char *args[] = {(char *)bin, "-c", "-f", (char *)cfg, NULL};
    int ret;

    checks_in_flight++;
    buf_init(&c->output, 64 * 1024);
    c->done = done;
    c->arg = arg;
    uv_pipe_init(loop, &c->out, 0);
    c->out.data = c;
    c->proc.data = c;
    memset(&po, 0, sizeof(po));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_IGNORE; /* only "Configuration file is valid" */
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&c->out;
    po.file = bin;
    po.args = args;
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = check_exit;
    ret = uv_spawn(loop, &c->proc, &po);
    if (ret) {
        c->status = -1;
        buf_addf(&c->output, "cannot run %s: %s", bin, uv_strerror(ret));
        c->open = 2;
        uv_close((uv_handle_t *)&c->proc, check_closed);
        uv_close((uv_handle_t *)&c->out, check_closed);
        return;
    }
    c->open = 2;
    uv_read_start((uv_stream_t *)&c->out, check_alloc, check_read);
}
