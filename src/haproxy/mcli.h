/* SPDX-License-Identifier: Apache-2.0 */
/* One command on an HAProxy CLI socket (master or admin), asynchronously. */
#ifndef SRC_HAPROXY_MCLI_H
#define SRC_HAPROXY_MCLI_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* <status> is 0 or a negative errno; <reply> is borrowed for the call. */
typedef void mcli_done_fn(int status, const char *reply, void *arg);

/* Connects to <path>, sends <cmd> (a newline is added), half-closes the
 * connection (HAProxy 2.6's master CLI only answers then) and reads the reply
 * until the server closes. <done> is called exactly once, from the loop. */
void mcli_send(uv_loop_t *loop, const char *path, const char *cmd, unsigned timeout_ms,
               mcli_done_fn *done, void *arg);

/* One line of a reply, without its newline: <line> is borrowed for the
 * call and is not NUL-terminated. */
typedef void mcli_line_fn(const char *line, size_t len, void *arg);

/* mcli_send(), the reply given a line at a time as it arrives instead of
 * whole: a listing of any length holds no more memory than its longest
 * line. <done> gets an empty reply; a last line without a newline comes
 * before it. */
void mcli_send_lines(uv_loop_t *loop, const char *path, const char *cmd, unsigned timeout_ms,
                     mcli_line_fn *line, mcli_done_fn *done, void *arg);

/* Requests not finished yet; at shutdown the loop runs until this is 0. */
unsigned mcli_in_flight(void);

/* What "show proc" on the master CLI says. */
struct mcli_proc {
    int master_pid;
    int reloads;      /* master's reload counter */
    int failed;       /* failed reloads, -1 when not reported */
    int worker_pid;   /* newest current worker, 0 when none */
    int n_old;        /* old workers still draining */
};

/* Parses a "show proc" reply. Returns 0 or -EINVAL. */
int mcli_parse_proc(const char *reply, struct mcli_proc *out);
#endif
