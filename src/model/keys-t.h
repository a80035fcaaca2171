/* SPDX-License-Identifier: Apache-2.0 */
/* Values of the configuration keys (see keys.c for the table). */
#ifndef SRC_MODEL_KEYS_T_H
#define SRC_MODEL_KEYS_T_H
#include <stdbool.h>
#include <stdint.h>

/* Resolved values of every key. */
struct key_values {
    bool ssl_redirect;
    uint32_t ssl_redirect_code;
    uint32_t timeout_connect_ms;
    uint32_t timeout_client_ms;
    uint32_t timeout_server_ms;
    uint32_t timeout_http_request_ms;
    uint32_t timeout_http_keep_alive_ms;
    uint32_t timeout_queue_ms;
    uint32_t timeout_tunnel_ms;
    uint32_t maxconn;
    uint32_t nbthread;
};
#endif
