/* SPDX-License-Identifier: Apache-2.0 */
/* The controller: source -> store -> model -> render -> HAProxy, on one loop. */
#ifndef SRC_CTL_CTL_H
#define SRC_CTL_CTL_H
#include <uv.h>

#include "ctl/opts.h"

/* Runs the controller until SIGTERM or SIGINT. Returns the exit code. */
int ctl_run(const struct opts *opts);
/* Renders once (portico render). Returns the exit code. */
int ctl_render(const struct opts *opts);
#endif
