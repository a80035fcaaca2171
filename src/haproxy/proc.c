/* SPDX-License-Identifier: Apache-2.0 */
/* Supervision of "haproxy -W". HAProxy 2.6's master CLI answers nothing to
 * "reload", so every start and reload is confirmed with "show proc", and
 * reloads are serialised: a signal sent while the master re-executes is lost. */
#include "haproxy/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "haproxy/mcli.h"
#include "haproxy/render.h"
#include "model/model-t.h"
#include "util/buf.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define HAP_POLL_MS 5
#define HAP_CONFIRM_POLLS 6000 /* 30 s: a large configuration takes a while to parse */
#define HAP_BACKOFF_MIN_MS 100
#define HAP_BACKOFF_MAX_MS 3200
#define HAP_HEALTHY_MS 30000
#define HAP_LINE_MAX 4096
#define HAP_LEFTOVER_WAIT_MS 3000

static void poll_proc(struct hap *h);

/* ====== HAProxy's output ======
 *
 * The master and its workers write to one pipe. A reload makes the old
 * worker print "Proxy x stopped" for every proxy, a thousand lines at a
 * thousand backends: such lifecycle lines are counted and logged at debug
 * level; warnings and alerts are logged, a bounded number between two
 * hap_output_take(), so that one reload never floods the log. */

struct hap_pipe {
    uv_pipe_t pipe;
    struct hap *h;
    struct hap_pipe *next;  /* h's other pipes: each master started gets its own */
    char line[HAP_LINE_MAX];
    size_t len;
};

/* What HAProxy prints on every reload and stop, and in answer to the
 * Runtime API commands Portico sends: nothing in it calls for action. A
 * message is routine when it starts with <start> and contains <has>. */
static const struct {
    const char *start;
    const char *has;
} routine[] = {
    {"Proxy ", " stopped (cumulated conns: "},
    {"Stopping proxy ", ""},
    {"Stopping frontend ", ""},
    {"Stopping backend ", ""},
    {"Former worker (", ""},
    {"Current worker (", " exited with code 0 "},
    {"Exiting Master process", ""},
    {"All workers exited", ""},
    {"Reexecuting Master process", ""},
    /* a server removed ("disable server"), or enabled again */
    {"Server ", " is going DOWN for maintenance"},
    {"Server ", " is UP/READY (leaving forced maintenance)"},
    /* a spare backend given back: its backend went */
    {"backend '" MODEL_SPARE_PREFIX, "' has no server available!"},
};

enum hap_line hap_line_kind(const char *line, size_t len)
{
    enum hap_line kind;
    const char *msg;
    size_t rest;

    while (len && (line[len - 1] == ' ' || line[len - 1] == '\r'))
        len--;
    if (!len || (len >= 8 && !memcmp(line, "[NOTICE]", 8)))
        return HAP_LINE_ROUTINE;
    if (len >= 9 && !memcmp(line, "[WARNING]", 9))
        kind = HAP_LINE_WARNING;
    else if (len >= 7 && !memcmp(line, "[ALERT]", 7))
        kind = HAP_LINE_ALERT;
    else
        return HAP_LINE_WARNING; /* not HAProxy's format: shown */
    /* "[WARNING]  (pid) : message" */
    msg = memmem(line, len, " : ", 3);
    if (!msg)
        return kind;
    msg += 3;
    rest = len - (size_t)(msg - line);
    /* what a worker says in answer to a command, the old one's stop included */
    if (rest >= 6 && !memcmp(msg, "CLI : ", 6)) {
        msg += 6;
        rest -= 6;
    }
    for (size_t i = 0; i < sizeof(routine) / sizeof(routine[0]); i++) {
        size_t n = strlen(routine[i].start);

        if (rest >= n && !memcmp(msg, routine[i].start, n) &&
            (!*routine[i].has || memmem(msg + n, rest - n, routine[i].has, strlen(routine[i].has))))
            return HAP_LINE_ROUTINE;
    }
    return kind;
}

static void said_line(struct hap *h, const char *line, size_t len)
{
    enum hap_line kind = hap_line_kind(line, len);
    struct hap_output *o = &h->said;

    if (kind == HAP_LINE_ROUTINE) {
        o->routine++;
        if (len)
            log_debug("haproxy", "%.*s", (int)len, line);
        return;
    }
    kind == HAP_LINE_ALERT ? o->alerts++ : o->warnings++;
    if (o->warnings + o->alerts > HAP_OUTPUT_SHOWN) {
        o->unshown++;
        return;
    }
    if (kind == HAP_LINE_ALERT)
        log_err("haproxy", "%.*s", (int)len, line);
    else
        log_warn("haproxy", "%.*s", (int)len, line);
}

void hap_output_take(struct hap *h, struct hap_output *out)
{
    *out = h->said;
    memset(&h->said, 0, sizeof(h->said));
}

static void pipe_closed(uv_handle_t *hd)
{
    struct hap_pipe *p = hd->data, **pp;

    for (pp = &p->h->pipes; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    free(p);
}

static void pipe_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *b)
{
    static char slab[16384];

    (void)hd;
    (void)hint;
    b->base = slab;
    b->len = sizeof(slab);
}

static void pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct hap_pipe *p = s->data;
    const char *at = b->base, *end = b->base + (n > 0 ? n : 0);

    if (n < 0) {
        /* the master and every worker are gone */
        if (p->len)
            said_line(p->h, p->line, p->len);
        uv_close((uv_handle_t *)s, pipe_closed);
        return;
    }
    while (at < end) {
        const char *eol = memchr(at, '\n', (size_t)(end - at));
        size_t len = (size_t)((eol ? eol : end) - at);
        size_t room = sizeof(p->line) - p->len;

        /* a line longer than line[] is cut, never split */
        memcpy(p->line + p->len, at, len < room ? len : room);
        p->len += len < room ? len : room;
        at += len;
        if (!eol)
            break;
        said_line(p->h, p->line, p->len);
        p->len = 0;
        at++;
    }
}

/* A pipe for HAProxy's output, read on the loop; *<wfd> is its write end,
 * for the child. Returns NULL when one cannot be made (then HAProxy writes
 * to our stderr, as before). */
static struct hap_pipe *pipe_new(struct hap *h, int *wfd)
{
    struct hap_pipe *p;
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) == -1)
        return NULL;
    p = xcalloc(1, sizeof(*p));
    p->h = h;
    uv_pipe_init(h->loop, &p->pipe, 0);
    p->pipe.data = p;
    if (uv_pipe_open(&p->pipe, fds[0])) {
        close(fds[0]);
        close(fds[1]);
        uv_close((uv_handle_t *)&p->pipe, pipe_closed);
        return NULL;
    }
    if (uv_read_start((uv_stream_t *)&p->pipe, pipe_alloc, pipe_read)) {
        close(fds[1]);
        uv_close((uv_handle_t *)&p->pipe, pipe_closed);
        return NULL;
    }
    p->next = h->pipes;
    h->pipes = p;
    *wfd = fds[1];
    return p;
}

/* ====== The master process ======
 *
 * HAProxy is forked here rather than with uv_spawn(): libuv cannot set
 * PR_SET_PDEATHSIG, and without it a Portico killed with SIGKILL left an
 * HAProxy holding the ports that its replacement then could not bind. */

/* In the child: becomes <args>, or writes errno to <errfd> and exits. */
static void __attribute__((noreturn)) child_exec(char *const args[], pid_t parent, int nullfd,
                                                 int outfd, int errfd)
{
    struct sigaction dfl;
    sigset_t none;
    int err;

    /* SIGTERM is HAProxy's hard stop: master and workers exit at once */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
        goto fail;
    if (getppid() != parent)
        _exit(1); /* Portico died before prctl() */
    /* HAProxy's messages go to stderr; its stdout stays Portico's, for the
     * access log of "log stdout" (syslog-server) to reach the container's */
    if (dup2(nullfd, 0) == -1 || dup2(outfd, 2) == -1)
        goto fail;
    /* Portico ignores SIGPIPE and blocks signals around fork(): not HAProxy */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(args[0], args);
fail:
    err = errno;
    if (write(errfd, &err, sizeof(err)) < 0)
        _exit(127);
    _exit(127);
}

/* Forks and execs <args> with PR_SET_PDEATHSIG, stdin from /dev/null,
 * stdout Portico's and stderr to <outfd>. Returns the child's pid, or a negative
 * errno (also when exec failed). */
static int fork_exec(char *const args[], int outfd)
{
    int errpipe[2], nullfd, err = 0, saved;
    pid_t parent = getpid(), pid;
    sigset_t all, old;
    ssize_t n;

    if (fault_hit("spawn"))
        return -EAGAIN; /* as fork() out of processes */
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd == -1)
        return -errno;
    if (pipe2(errpipe, O_CLOEXEC) == -1) {
        saved = -errno;
        close(nullfd);
        return saved;
    }
    /* no handler of ours may run in the child */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0)
        child_exec(args, parent, nullfd, outfd, errpipe[1]);
    saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(errpipe[1]);
    close(nullfd);
    if (pid == -1) {
        close(errpipe[0]);
        return -saved;
    }
    /* exec closes the pipe; a failed exec writes its errno first */
    do
        n = read(errpipe[0], &err, sizeof(err));
    while (n == -1 && errno == EINTR);
    close(errpipe[0]);
    if (n == sizeof(err)) {
        while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
            ;
        return -err;
    }
    return pid;
}

/* True when <pid> runs and its command line uses <sock> as master socket. */
static bool is_our_master(int pid, const char *sock)
{
    char path[64], args[8192];
    size_t n, socklen = strlen(sock);
    bool prev_s = false, found = false;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    n = fread(args, 1, sizeof(args) - 1, f);
    fclose(f);
    args[n] = '\0';
    for (size_t i = 0; i < n && !found; i += strlen(args + i) + 1) {
        const char *a = args + i;

        found = prev_s && !strncmp(a, sock, socklen) && (a[socklen] == '\0' || a[socklen] == ',');
        prev_s = !strcmp(a, "-S");
    }
    return found;
}

static bool pid_alive(int pid)
{
    char path[64], buf[512], *paren;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "re");
    if (!f)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ...": a zombie no longer holds anything */
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/* Stops the master an earlier run left behind (its pid file names a live
 * HAProxy on our master socket), waiting a few seconds for it to exit. */
static void stop_leftover(struct hap *h)
{
    FILE *f = fopen(h->pidfile, "re");
    int pid = 0;

    if (!f)
        return;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    if (pid <= 1 || !pid_alive(pid) || !is_our_master(pid, h->master_sock))
        return;
    log_warn("haproxy", "stopping haproxy (pid %d) left running by an earlier run on %s", pid,
             h->master_sock);
    for (int waited = 0, sig = SIGTERM; pid_alive(pid); waited += 10) {
        if (waited == 0 || (waited == HAP_LEFTOVER_WAIT_MS && (sig = SIGKILL)))
            kill(pid, sig);
        if (waited > 2 * HAP_LEFTOVER_WAIT_MS) {
            log_err("haproxy", "haproxy (pid %d) did not exit; its ports may stay taken", pid);
            return;
        }
        usleep(10000);
    }
}

static void on_haproxy_exit(struct hap *h, int64_t status, int sig);

static void on_sigchld(uv_signal_t *s, int signum)
{
    struct hap *h = s->data;
    int status;
    pid_t pid;

    (void)signum;
    if (!h->running)
        return;
    do
        pid = waitpid(h->pid, &status, WNOHANG);
    while (pid == -1 && errno == EINTR);
    if (pid != h->pid)
        return;
    if (WIFSIGNALED(status))
        on_haproxy_exit(h, 0, WTERMSIG(status));
    else
        on_haproxy_exit(h, WEXITSTATUS(status), 0);
}

void hap_init(struct hap *h, uv_loop_t *loop, const char *bin, const char *dir,
              const char *runtime_dir)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop;
    h->bin = bin;
    h->cfg = xasprintf("%s/haproxy.cfg", dir);
    h->backends = xasprintf("%s/" RENDER_BACKENDS_DIR, dir);
    h->master_sock = xasprintf("%s/master.sock", runtime_dir);
    h->pidfile = xasprintf("%s/haproxy.pid", runtime_dir);
    h->backoff_ms = HAP_BACKOFF_MIN_MS;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    uv_signal_init(loop, &h->sigchld);
    h->sigchld.data = h;
    uv_signal_start(&h->sigchld, on_sigchld, SIGCHLD);
    stop_leftover(h);
}

static void complete(struct hap *h, bool ok, const char *msg)
{
    hap_done_fn *done = h->pending;

    h->pending = NULL;
    h->op = HAP_OP_NONE;
    if (done)
        done(h, ok, msg, h->pending_arg);
    h->refused = false;
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

static void on_haproxy_exit(struct hap *h, int64_t status, int sig)
{
    uint64_t lived = uv_now(h->loop) - h->started_ms;

    h->running = false;
    h->serving = false;
    h->pid = 0;
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
    char *sock = xasprintf("%s,mode,600", h->master_sock);
    int outfd = 2, pid;

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
    args[9] = "-f";
    args[10] = h->backends;
    args[11] = NULL;
    unlink(h->master_sock);
    if (!pipe_new(h, &outfd))
        log_warn("haproxy", "no pipe for haproxy's output: %s; it goes to stderr as it is",
                 strerror(errno));
    pid = fork_exec(args, outfd);
    if (outfd != 2)
        close(outfd);
    free(sock);
    if (pid < 0) {
        log_err("haproxy", "cannot start %s: %s", h->bin, strerror(-pid));
        schedule_restart(h);
        complete(h, false, strerror(-pid));
        return;
    }
    h->running = true;
    h->pid = pid;
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
            h->refused = failed;
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
        kill(h->pid, SIGTERM);
        uv_timer_stop(t);
        return;
    }
    kill(h->pid, SIGUSR1);
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
    kill(h->pid, SIGUSR1);
    h->stop_deadline = uv_now(h->loop) + grace_ms;
    uv_timer_start(&h->timer, on_stop_tick, 250, 250);
}

void hap_close(struct hap *h)
{
    uv_close((uv_handle_t *)&h->timer, NULL);
    uv_close((uv_handle_t *)&h->sigchld, NULL);
    for (struct hap_pipe *p = h->pipes; p; p = p->next) {
        if (!uv_is_closing((uv_handle_t *)&p->pipe))
            uv_close((uv_handle_t *)&p->pipe, pipe_closed);
    }
    FREE_NULL(h->cfg);
    FREE_NULL(h->backends);
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
    bool not_run;
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
    c->done(c->not_run ? HAP_CHECK_NOT_RUN : c->status == 0 ? HAP_CHECK_VALID : HAP_CHECK_REFUSED,
            c->output.ptr ? c->output.ptr : "", c->arg);
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

void hap_check(uv_loop_t *loop, const char *bin, const char *dir, hap_check_fn *done,
               void *arg)
{
    struct check *c = xcalloc(1, sizeof(*c));
    uv_process_options_t po;
    uv_stdio_container_t stdio[3];
    char *cfg = xasprintf("%s/haproxy.cfg", dir);
    char *backends = xasprintf("%s/" RENDER_BACKENDS_DIR, dir);
    char *args[] = {(char *)bin, "-c", "-f", cfg, "-f", backends, NULL};
    bool faulted;
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
    faulted = fault_hit("spawn");
    ret = faulted ? UV_EAGAIN : uv_spawn(loop, &c->proc, &po);
    /* the child has them: uv_spawn() returns once it has run exec */
    free(cfg);
    free(backends);
    if (ret) {
        c->not_run = true;
        buf_addf(&c->output, "cannot run %s: %s", bin, uv_strerror(ret));
        /* a failed uv_spawn() initialised the handle: it is closed too */
        c->open = faulted ? 1 : 2;
        if (!faulted)
            uv_close((uv_handle_t *)&c->proc, check_closed);
        uv_close((uv_handle_t *)&c->out, check_closed);
        return;
    }
    c->open = 2;
    uv_read_start((uv_stream_t *)&c->out, check_alloc, check_read);
}
