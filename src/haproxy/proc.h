/* SPDX-License-Identifier: Apache-2.0 */
/* Supervision of "haproxy -W": start, validate, reload, restart, stop. */
#ifndef SRC_HAPROXY_PROC_H
#define SRC_HAPROXY_PROC_H
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct hap;

/* Result of an operation; <ok> false comes with a message (borrowed). */
typedef void hap_done_fn(struct hap *h, bool ok, const char *msg, void *arg);

/* What HAProxy printed, by kind (hap_line_kind()). */
struct hap_output {
    uint64_t routine;    /* notices and lifecycle warnings: logged at debug level */
    uint64_t warnings;   /* logged as warnings */
    uint64_t alerts;     /* logged as errors */
    uint64_t unshown;    /* warnings and alerts past the per-reload limit */
};

enum hap_line {
    HAP_LINE_ROUTINE = 0, /* "Proxy x stopped", "New worker forked", notices */
    HAP_LINE_WARNING,
    HAP_LINE_ALERT,
    /* HAP_LINE_COUNT */
};

struct hap_pipe;

struct hap {
    uv_loop_t *loop;
    const char *bin;        /* borrowed: haproxy binary */
    char *cfg, *backends;   /* the configuration HAProxy is started with: haproxy.cfg,
                             * then the files of its later backends */
    char *master_sock;
    char *pidfile;
    uv_signal_t sigchld;    /* the master is our child, not libuv's: reaped here */
    uv_timer_t timer;       /* restart backoff, readiness polls, stop deadline */
    struct hap_pipe *pipes; /* HAProxy's stdout and stderr, one pipe for each master
                             * started, until all its processes are gone */
    struct hap_output said; /* what HAProxy printed since hap_output_take() */
    bool running;           /* master process alive */
    bool serving;           /* a worker runs a configuration */
    bool stopping;
    bool refused;           /* in a reload's <done>: HAProxy refused the configuration
                             * (rather than exiting, or not answering) */
    int pid;
    int reloads_seen;       /* master reload counter before our reload */
    int failed_seen;
    unsigned backoff_ms;
    uint64_t started_ms;
    uint64_t stop_deadline; /* loop time when a soft stop turns into a hard one */
    unsigned polls;
    hap_done_fn *pending;   /* start, reload or stop waiting for confirmation */
    void *pending_arg;
    enum { HAP_OP_NONE = 0, HAP_OP_START, HAP_OP_RELOAD, HAP_OP_STOP } op;
    void (*on_restart)(struct hap *h, void *arg); /* after an unexpected exit */
    void *restart_arg;
    uint64_t restarts;      /* unexpected exits */
};

/* Prepares <h> to run the configuration of directory <dir> (haproxy.cfg and
 * RENDER_BACKENDS_DIR, render.h); HAProxy is started with hap_start(). A master that an
 * earlier run left on the same runtime directory (its pid file names a live
 * haproxy using our master socket) is stopped first: it would hold the
 * ports. */
void hap_init(struct hap *h, uv_loop_t *loop, const char *bin, const char *dir,
              const char *runtime_dir);
/* Starts HAProxy; <done> runs once a worker serves (or on failure). HAProxy
 * is started with PR_SET_PDEATHSIG: it never outlives Portico. */
void hap_start(struct hap *h, hap_done_fn *done, void *arg);
/* Reloads through the master CLI and confirms with "show proc". When <done>
 * gets a failure, h->refused says whether HAProxy refused the configuration;
 * otherwise it died or did not answer, and the configuration may be fine. */
void hap_reload(struct hap *h, hap_done_fn *done, void *arg);
/* Soft-stops HAProxy, hard-stops after <grace_ms>; <done> runs once it exited. */
void hap_stop(struct hap *h, unsigned grace_ms, hap_done_fn *done, void *arg);
/* Forgets the restart scheduled after an exit (its configuration is bad),
 * or schedules one again (it was not), <done> running once it serves. */
void hap_cancel_restart(struct hap *h);
bool hap_restart_pending(const struct hap *h);
void hap_schedule_restart(struct hap *h, hap_done_fn *done, void *arg);
void hap_close(struct hap *h);

/* Moves what HAProxy printed since the last call into <out> and starts
 * counting again. At most HAP_OUTPUT_SHOWN warnings and alerts are logged
 * between two calls; the others are counted in <out>->unshown. */
#define HAP_OUTPUT_SHOWN 20
void hap_output_take(struct hap *h, struct hap_output *out);

/* The kind of one line of HAProxy's output (without its newline). */
enum hap_line hap_line_kind(const char *line, size_t len);

/* Checks and CLI requests not finished yet (they free themselves when done). */
unsigned hap_in_flight(void);

/* What "haproxy -c" said of a configuration. A check that could not run
 * (no fork: out of processes or memory) says nothing of it. */
enum hap_check {
    HAP_CHECK_VALID,
    HAP_CHECK_REFUSED,
    HAP_CHECK_NOT_RUN,
};

/* Runs "<bin> -c" on the configuration of directory <dir>, as hap_init();
 * <done> gets HAProxy's output when it refuses, or why it could not run. */
typedef void hap_check_fn(enum hap_check res, const char *output, void *arg);
void hap_check(uv_loop_t *loop, const char *bin, const char *dir, hap_check_fn *done,
               void *arg);
#endif
