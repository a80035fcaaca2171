/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration keys: one table drives ConfigMap parsing, annotation parsing
 * and the documentation (doc/config/, checked by scripts/gen-docs.sh). */
#ifndef SRC_MODEL_KEYS_H
#define SRC_MODEL_KEYS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/keys-t.h"
#include "store/objects.h"
#include "util/arena.h"

/* Longest text value, and most items of a list value: far above any real
 * use, low enough that HAProxy's configuration stays small. */
#define KEY_TEXT_MAX 4096
#define KEY_LIST_MAX 1024
/* the largest canary-weight-total */
#define KEY_CANARY_TOTAL_MAX 1000000
/* auth-realm's default */
#define KEY_AUTH_REALM "Protected Content"

enum key_type {
    KEY_BOOL = 0,
    KEY_INT,
    KEY_DURATION,
    KEY_HOST,      /* a host name, optionally :port */
    KEY_ENUM,      /* one word of a fixed list (the key's doc names them) */
    KEY_HEADERS,   /* lines "Name value" */
    KEY_ADDRS,     /* IP addresses and CIDR networks */
    KEY_REWRITE,   /* "REGEX REPLACEMENT", or "REPLACEMENT" alone */
    KEY_ORIGINS,   /* "*", or origins such as https://example.com */
    KEY_TOKENS,    /* HTTP tokens (methods, header names), comma separated */
    KEY_PROTO,     /* "h1" or "h2" */
    KEY_NAME,      /* an HTTP token, such as a cookie name */
    KEY_SNIPPET,   /* lines of HAProxy configuration, checked */
    KEY_SECRET,    /* a Secret: "name" (the object's namespace) or "namespace/name" */
    KEY_SERVICE,   /* a Service: "name" (the object's namespace) or "namespace/name" */
    KEY_CAPTURES,  /* sample fetches, one a line, such as req.fhdr(user-agent) */
    KEY_TEXT,      /* printable ASCII text, such as a realm */
    KEY_LOG_TARGETS, /* lines "address:A, port:P, facility:F, ..." */
    KEY_LOG_FORMAT,  /* an HAProxy log-format string */
    KEY_URL,       /* an http:// or https:// URL */
    KEY_PATH,      /* a URL path, starting with '/' */
    KEY_SIZE,      /* a size in bytes, with k, m or g (1024-based) */
    KEY_CODES,     /* HTTP status codes, comma separated */
};

#define KEY_S_ANNOT 0x1u   /* accepted as an Ingress annotation */
#define KEY_S_CMAP 0x2u    /* accepted in the --configmap ConfigMap */
#define KEY_S_BACKEND 0x4u /* applies to the backends of the Ingress it is set on; also
                            * accepted on Services, for all routes to them */

struct key_def {
    const char *name;
    enum key_type type;
    const char *def;        /* default, run through the same parser */
    unsigned scopes;        /* KEY_S_* */
    /* Stores the value at <dst>; text goes into <a> (NULL only for the
     * defaults, which allocate nothing). 0, or -EINVAL with *<err> set. */
    int (*parse)(struct arena *a, const char *val, void *dst, char **err);
    size_t offset;          /* into struct key_values */
    const char *doc;        /* one paragraph for the reference */
    const char *haproxy;    /* what it becomes in HAProxy's configuration */
    const char *example;    /* an example value */
    const char *alias;      /* another name accepted for it, or NULL */
};

/* Called for a value that is rejected or a key that is unknown. */
typedef void keys_issue_fn(void *arg, const char *field, const char *msg);

extern const struct key_def key_table[];
extern const size_t key_table_len;

void keys_defaults(struct key_values *kv);
/* Applies the keys of a ConfigMap's data. Bad values keep the previous value. */
void keys_apply_configmap(struct arena *a, struct key_values *kv, const struct k8s_kv *data,
                          size_t n, keys_issue_fn *fn, void *arg);
/* Applies annotations under our prefixes. Bad values keep the previous value. */
void keys_apply_annotations(struct arena *a, struct key_values *kv, const struct k8s_kv *ann,
                            size_t n, keys_issue_fn *fn, void *arg);
/* Applies the annotations of a Service under our prefixes: only its
 * backend keys, which win over the Ingress's. */
void keys_apply_service(struct arena *a, struct key_values *kv, const struct k8s_kv *ann,
                        size_t n, keys_issue_fn *fn, void *arg);
/* Applies ingress-nginx's annotations (nginx.ingress.kubernetes.io/) that
 * Portico translates into its keys; the others get an issue each, but for
 * the access controls, which close the Ingress (k8s_nginx_guard()). */
void keys_apply_nginx(struct arena *a, struct key_values *kv, const struct k8s_kv *ann, size_t n,
                      keys_issue_fn *fn, void *arg);
/* Sets <kv>'s path-rewrite to ingress-nginx's rewrite-target for one path
 * <path> (a regex, as nginx reads it with rewrite-target or use-regex).
 * 0, or -EINVAL with *<err> set (the path is no regex HAProxy takes). */
int keys_nginx_rewrite(struct arena *a, struct key_values *kv, const char *path, char **err);
/* True when <annotation> is an ingress-nginx annotation Portico translates
 * and <val> a valid value of it. */
bool keys_nginx_value_ok(const char *annotation, const char *val);
/* True when <val> is a valid value of the key <name> (or its alias). */
bool keys_value_ok(const char *name, const char *val);
/* True when a backend key of <kv> differs from <base>; <hash> is then of
 * those keys and values: two backends with the same hash are the same. */
bool keys_backend_differs(const struct key_values *kv, const struct key_values *base,
                          uint64_t *hash);
/* True when <kv> captures what <base> does (request-capture and its length):
 * a backend of <kv> then needs no captures of its own. */
bool keys_same_captures(const struct key_values *kv, const struct key_values *base);
/* The Secret an auth-secret annotation (ours or ingress-nginx's) of
 * <ann> names, as written, or NULL. */
const char *keys_auth_secret(const struct k8s_kv *ann, size_t n);
/* The value of key <name> in annotations <ann> under one of our prefixes
 * (the canonical one first), as written, or NULL. */
const char *keys_annotation(const struct k8s_kv *ann, size_t n, const char *name);
const char *key_type_name(enum key_type t);
#endif
