/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime API updates: replace the content of maps in the running HAProxy
 * without a reload (prepare map / add map @ver / commit map). */
#ifndef SRC_HAPROXY_RUNTIME_H
#define SRC_HAPROXY_RUNTIME_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* Called once; <ok> false means the caller must reload instead. <msg> is
 * borrowed and explains a failure. */
typedef void rt_done_fn(bool ok, const char *msg, void *arg);

/* Replaces the entries of the maps named <names> (as HAProxy knows them,
 * e.g. "maps/hosts.map") with the content of the map files <contents> ("key
 * value" lines), atomically per map. Commands go to the admin socket <sock>
 * in chunks that fit HAProxy's CLI buffer; every key and value is escaped
 * with rt_api_arg(). */
void rt_replace_maps(uv_loop_t *loop, const char *sock, const char *const *names,
                     const char *const *contents, size_t n, rt_done_fn *done, void *arg);
#endif
