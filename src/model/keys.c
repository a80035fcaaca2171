/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration key table and its parsers. doc/config/ is generated from
 * it (portico docs key NAME, through scripts/gen-docs.sh), and the docs
 * suite of make test (gen-docs.sh --check) fails when the two differ. */
#include "model/keys.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/strutil.h"
#include "util/banned.h"

static int parse_bool(const char *val, void *dst, char **err)
{
    if (!strcmp(val, "true")) {
        *(bool *)dst = true;
    } else if (!strcmp(val, "false")) {
        *(bool *)dst = false;
    } else {
        errmsg_set(err, "must be \"true\" or \"false\"");
        return -EINVAL;
    }
    return 0;
}

static int parse_redirect_code(const char *val, void *dst, char **err)
{
    uint32_t v;

    if (str_to_u32(val, 301, 308, &v) || v == 304 || v == 305 || v == 306) {
        errmsg_set(err, "must be one of 301, 302, 303, 307, 308");
        return -EINVAL;
    }
    *(uint32_t *)dst = v;
    return 0;
}

static int parse_duration(const char *val, void *dst, char **err)
{
    if (str_to_duration_ms(val, dst)) {
        errmsg_set(err, "must be a duration such as 500ms, 5s, 1m or 1h");
        return -EINVAL;
    }
    return 0;
}

static int parse_count(const char *val, void *dst, char **err)
{
    if (str_to_u32(val, 0, 10000000, dst)) {
        errmsg_set(err, "must be a whole number from 0 to 10000000");
        return -EINVAL;
    }
    return 0;
}

static int parse_threads(const char *val, void *dst, char **err)
{
    if (str_to_u32(val, 0, 64, dst)) {
        errmsg_set(err, "must be a whole number from 0 (HAProxy's default) to 64");
        return -EINVAL;
    }
    return 0;
}

#define KV(f) offsetof(struct key_values, f)
#define BOTH (KEY_S_ANNOT | KEY_S_CMAP)

const struct key_def key_table[] = {
    {"ssl-redirect", KEY_BOOL, "true", BOTH, parse_bool, KV(ssl_redirect),
     "Redirects plain HTTP requests for a host that has TLS (a `spec.tls` entry) to HTTPS. "
     "The redirect keeps the path and the query string.",
     "\"false\""},
    {"ssl-redirect-code", KEY_INT, "308", BOTH, parse_redirect_code, KV(ssl_redirect_code),
     "HTTP status code of the redirect to HTTPS: 301, 302, 303, 307 or 308. 308 keeps the "
     "method and body of the request.",
     "\"301\""},
    {"timeout-connect", KEY_DURATION, "5s", KEY_S_CMAP, parse_duration,
     KV(timeout_connect_ms), "Maximum time to wait for a connection to a backend endpoint.",
     "\"3s\""},
    {"timeout-client", KEY_DURATION, "50s", KEY_S_CMAP, parse_duration, KV(timeout_client_ms),
     "Maximum inactivity time on the client side.", "\"1m\""},
    {"timeout-server", KEY_DURATION, "50s", KEY_S_CMAP, parse_duration, KV(timeout_server_ms),
     "Maximum inactivity time on the backend side.", "\"1m\""},
    {"timeout-http-request", KEY_DURATION, "5s", KEY_S_CMAP, parse_duration,
     KV(timeout_http_request_ms), "Maximum time to receive a complete HTTP request header.",
     "\"10s\""},
    {"timeout-http-keep-alive", KEY_DURATION, "1m", KEY_S_CMAP, parse_duration,
     KV(timeout_http_keep_alive_ms),
     "Maximum time to wait for a new request on an idle keep-alive client connection.",
     "\"30s\""},
    {"timeout-queue", KEY_DURATION, "5s", KEY_S_CMAP, parse_duration, KV(timeout_queue_ms),
     "Maximum time a request may wait in a queue for a free backend connection slot.",
     "\"10s\""},
    {"timeout-tunnel", KEY_DURATION, "1h", KEY_S_CMAP, parse_duration, KV(timeout_tunnel_ms),
     "Maximum inactivity time of tunnels such as WebSocket connections.", "\"2h\""},
    {"maxconn", KEY_INT, "0", KEY_S_CMAP, parse_count, KV(maxconn),
     "Maximum number of concurrent connections HAProxy accepts; 0 keeps HAProxy's default, "
     "derived from the file descriptor limit.",
     "\"50000\""},
    {"nbthread", KEY_INT, "0", KEY_S_CMAP, parse_threads, KV(nbthread),
     "Number of HAProxy worker threads; 0 keeps HAProxy's default (one per CPU).", "\"1\""},
};
const size_t key_table_len = sizeof(key_table) / sizeof(key_table[0]);


const char *key_type_name(enum key_type t)
{
    switch (t) {
    case KEY_BOOL:
        return "bool";
    case KEY_INT:
        return "integer";
    case KEY_DURATION:
        return "duration";
    }
    return "?";
}

void keys_defaults(struct key_values *kv)
{
    memset(kv, 0, sizeof(*kv));
    for (size_t i = 0; i < key_table_len; i++) {
        char *err = NULL;

        /* defaults are constants checked by the unit tests */
        if (key_table[i].parse(key_table[i].def, (char *)kv + key_table[i].offset, &err))
            abort();
    }
}

static const struct key_def *find(const char *name)
{
    for (size_t i = 0; i < key_table_len; i++) {
        if (!strcmp(key_table[i].name, name))
            return &key_table[i];
    }
    return NULL;
}

static const char *next_key(void *arg, size_t i)
{
    (void)arg;
    return i < key_table_len ? key_table[i].name : NULL;
}

static void apply(struct key_values *kv, const char *field, const char *name, const char *val,
                  unsigned scope, keys_issue_fn *fn, void *arg)
{
    const struct key_def *k = find(name);
    char *err = NULL, msg[512];

    if (!k || !(k->scopes & scope)) {
        const char *near = str_closest(name, next_key, NULL);

        if (k)
            snprintf(msg, sizeof(msg), "key \"%s\" is only accepted %s", name,
                     scope == KEY_S_CMAP ? "as an annotation" : "in the ConfigMap");
        else if (near)
            snprintf(msg, sizeof(msg), "unknown key \"%s\"; did you mean \"%s\"?", name, near);
        else
            snprintf(msg, sizeof(msg), "unknown key \"%s\"; ignored", name);
        fn(arg, field, msg);
        return;
    }
    if (k->parse(val, (char *)kv + k->offset, &err)) {
        snprintf(msg, sizeof(msg), "%s; the value is ignored", err);
        fn(arg, field, msg);
        free(err);
    }
}

void keys_apply_configmap(struct key_values *kv, const struct k8s_kv *data, size_t n,
                          keys_issue_fn *fn, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        char field[300];

        snprintf(field, sizeof(field), "data[\"%.256s\"]", data[i].key);
        apply(kv, field, data[i].key, data[i].val, KEY_S_CMAP, fn, arg);
    }
}

void keys_apply_annotations(struct key_values *kv, const struct k8s_kv *ann, size_t n,
                            keys_issue_fn *fn, void *arg)
{
    /* Later prefixes first, so that the canonical prefix wins when both are set. */
    for (size_t p = k8s_key_prefixes_len; p-- > 0;) {
        for (size_t i = 0; i < n; i++) {
            char field[300];

            if (!str_has_prefix(ann[i].key, k8s_key_prefixes[p]))
                continue;
            snprintf(field, sizeof(field), "metadata.annotations[\"%.256s\"]", ann[i].key);
            apply(kv, field, ann[i].key + strlen(k8s_key_prefixes[p]), ann[i].val, KEY_S_ANNOT, fn,
                  arg);
        }
    }
}
