/* SPDX-License-Identifier: Apache-2.0 */
/* The routing model: what HAProxy must do, derived from a store snapshot
 * and the options alone. Every node and string lives in the arena, but
 * the arrays of backends and of each map's entries, which the build fills in
 * place and the model frees, and the parsed Secrets its certificates name,
 * which it holds. A patch (model_patch(), model_reroute()) has an arena and
 * an array of pointers to backends of its own: to its build's, and to
 * copies in its arena of those it changed. It shares everything else with
 * the build it holds, but the arrays of maps, certificates and issues a
 * reroute made: shared blocks (util/shared.h) each patch holds, whose
 * strings are in <strings>. */
#ifndef SRC_MODEL_MODEL_T_H
#define SRC_MODEL_MODEL_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/keys-t.h"
#include "util/arena.h"

struct tls_entry;

/* A server, the address in binary; its text and the server's name are made
 * when needed (model_server_name()). */
struct model_server {
    uint8_t addr[16];      /* network order; IPv4 in the first 4 bytes */
    uint16_t port;
    bool v6;
};

/* 50,000 endpoints make as many servers in each model: a backend keeps its
 * servers packed, 6 bytes an IPv4 one, not the 20 of a struct model_server
 * (model_backend_server() gives each). */
struct model_backend {
    const char *name;      /* "<ns>_<svc>_<port>", safe characters only; the port as
                            * the Service names it, else as the Ingress does */
    const unsigned char *servers; /* unique, in model_server_cmp() order: the ports
                                   * (2 bytes each, host order), then the addresses,
                                   * 4 bytes each for the first n_v4, then 16 */
    uint32_t n_servers;
    uint32_t n_v4;
    const unsigned char *backups; /* the same, of the Service answering while there is no
                                   * server (ingress-nginx's default-backend): HAProxy's
                                   * backup servers, named "backup-<addr>:<port>" */
    uint32_t n_backups;
    uint32_t n_backups_v4;
    const struct key_values *opts; /* its backend keys, when they differ from the
                                    * ConfigMap's (and its name ends in their hash) */
    const struct model_userlist *userlist; /* with opts->auth_type, its users; NULL:
                                            * none usable, requests get 503 */
    const char *server_ca; /* server-ca's file (a model_file), or NULL */
    const char *server_crt;/* server-crt's file, or NULL */
    const char *origin;    /* the name of the backend this spare runs since it was
                            * put in it (model_run_in_spare()), or NULL */
    uint64_t svc_hash;     /* k8s_lookup_hash() of the Service whose ready endpoints
                            * are its servers, or 0: they are not (model_patch()) */
    uint32_t refs;         /* how many times the Ingresses and flags name it */
    uint16_t listen_port;  /* a TCP service's (--configmap-tcp-services): a TCP proxy
                            * listening there, named "tcp-<port>"; 0: an HTTP backend */
    bool listen_ssl;       /* the TCP service ends TLS with the HTTPS certificates */
    bool tls_closed;       /* server-ca or server-crt unusable: no servers, every request
                            * gets 503 rather than reach the endpoints unverified */
    bool spare;            /* one of --spare-backends' (named MODEL_SPARE_PREFIX<n>):
                            * free, or running <origin> */
};

/* A file of server-ca or server-crt: its name is Portico's own,
 * "server-tls/ca-<hash>.pem" or "server-tls/crt-<hash>.pem" (the hash of the
 * Secret's "ns/name"), never text of the object. */
#define MODEL_SERVER_TLS_DIR "server-tls"
struct model_file {
    const char *name;
    const char *data;      /* re-encoded PEM, in the arena */
    size_t len;
};

/* A spare backend's name: a prefix no Kubernetes name starts with, then its
 * number from 1. */
#define MODEL_SPARE_PREFIX "_spare_"

/* The users of basic authentication, from one Secret. */
struct model_userlist {
    const char *name;      /* "<ns>_<secret name>", safe characters only */
    const char **users;    /* user names, sorted */
    const char **hashes;   /* their crypt(3) hashes, validated */
    size_t n_users;
};

/* A canary Ingress (ingress-nginx's canary annotations) with at least one
 * route: the request rules render.c writes for its header and cookie. The
 * values of its routes in the maps of paths are
 * "MAIN:CANARY:WEIGHT:TOTAL:ID" (doc/internals/routing-maps.md). */
struct model_canary {
    const char *id;            /* "c" and 12 hex digits of its "ns/name" */
    const char *header;        /* canary-by-header, validated, or NULL */
    const char *header_value;  /* canary-by-header-value, validated, or NULL */
    const char *header_pattern; /* canary-by-header-pattern, validated, or NULL
                                 * (NULL when header_value is set) */
    const char *cookie;        /* canary-by-cookie, validated, or NULL */
};

/* One map entry: lookup key -> value (a backend name or a redirect code). */
struct model_entry {
    const char *key;
    const char *value;
};

enum model_map {
    MODEL_MAP_HOSTS = 0,   /* exact host -> host key */
    MODEL_MAP_WILDCARDS,   /* ".suffix" -> "*.suffix" host key */
    MODEL_MAP_EXACT,       /* host key + path -> backend (Exact) */
    MODEL_MAP_PREFIX_EXACT,/* host key + path -> backend (Prefix, whole path) */
    MODEL_MAP_PREFIX,      /* host key + path -> backend (map_beg) */
    MODEL_MAP_HOST_DEFAULT,/* host key + "/" -> backend (Ingress defaultBackend) */
    MODEL_MAP_REDIRECT,    /* host key -> MODEL_REDIRECT_BACKEND + code */
    MODEL_MAP_PASSTHROUGH, /* SNI -> TCP backend (ssl-passthrough) */
    MODEL_MAP_COUNT,       /* number of maps */
};

struct model_cert {
    const char *file;      /* file name, "<ns>_<name>.pem" */
    const struct tls_entry *tls; /* a parsed Secret, whose PEM is made when needed
                                  * (model_cert_pem()), or NULL */
    const char *pem;       /* else the private key then certificate chain, or NULL */
    size_t pem_len;        /* of either's PEM */
    uint64_t hash;         /* of what its PEM is made from: <tls>'s DER, or <pem>;
                            * here, not read through <tls> for each of a thousand */
    const char **snis;     /* SNI filters, sorted; none: the names in the cert */
    size_t n_snis;
    uint64_t secret;       /* k8s_lookup_hash() of the Secret <tls> is its current data
                            * of, or 0: none, or its last good data (model_recert()) */
    uint32_t refs;         /* how many times the Ingresses' TLS entries name it */
};

/* An error page of --configmap-errorfiles: the whole HTTP response HAProxy
 * sends instead of its own for that status. */
struct model_errorfile {
    unsigned code;
    const char *data;      /* validate_errorfile() accepted it */
    size_t len;
};

enum model_sev {
    MODEL_SEV_WARN = 0,
    MODEL_SEV_ERROR,       /* the object (or part of it) was rejected */
};

/* Portico's own backends start with '_': a Service's backend is named
 * "<namespace>_<service>_<port>" and a namespace starts with a letter or a
 * digit, so no Service can take one of these names (two backends of one
 * name and HAProxy refuses the whole configuration). */

/* The backend that answers 404 when no route matches and no default
 * backend is set. */
#define MODEL_NOT_FOUND_BACKEND "_default_404"

/* The backends that redirect plain HTTP to HTTPS, one per status code:
 * "_redirect_308"... A host's entry in the redirect map names one, and the
 * frontend routes the request there, so a request that is not redirected
 * pays one lookup and no rule per code. */
#define MODEL_REDIRECT_BACKEND "_redirect_"

/* The backend that answers 403 for every route of an Ingress that fails
 * closed (an access control annotation Portico does not implement). */
#define MODEL_FORBIDDEN_BACKEND "_forbidden_403"

struct model_issue {
    enum model_sev sev;
    const char *obj;       /* "ingress/ns/name" */
    const char *origin;    /* where the object was read ("file: document 2"), or "" */
    const char *field;     /* "spec.rules[0].host", or "" */
    const char *msg;
};

/* k8s_lookup_hash() of each Service and Secret a build looked up, found or
 * not: sorted, malloc'd. */
struct model_lookups {
    uint64_t *v;
    size_t n;
    uint64_t *data;        /* those of the Secrets read for more than a certificate:
                            * users, CAs, server-crt */
    size_t n_data;
};

struct model {
    struct arena arena;
    int refs;
    struct model *base;             /* a model_patch() of <base>, a build: the backends
                                     * array, the backends not in base's backend_store and
                                     * the servers of those in <patched> are its own,
                                     * everything else is base's; or NULL */
    uint32_t *patched;              /* indexes of those backends, sorted; malloc'd */
    size_t n_patched;
    const struct tls_entry **held;  /* parsed Secrets its certificates are made from; a
                                     * patch's: those model_recert() gave them since the
                                     * build */
    size_t n_held;
    struct key_values global;       /* ConfigMap keys over the defaults */
    struct model_backend **backends; /* sorted by name; malloc'd: a patch copies 8
                                      * bytes a backend, not the backend */
    size_t n_backends;
    struct model_backend *backend_store; /* a build's backends, n_store of them, where
                                          * <backends> points; malloc'd; NULL in a patch */
    size_t n_store;
    struct model_entry *maps[MODEL_MAP_COUNT]; /* each sorted by key; malloc'd */
    size_t n_maps[MODEL_MAP_COUNT];
    const char *default_backend;    /* backend for requests nothing matched, or NULL: 404 */
    struct model_cert default_cert; /* served for unknown or absent SNI */
    const char *client_ca_pem;      /* client-ca's certificates (PEM, in the arena), or
                                     * NULL: none, or unusable (client_ca_broken) */
    size_t client_ca_len;
    bool client_ca_broken;          /* client-ca set but unusable: HTTPS answers 403 */
    struct model_cert *certs;       /* sorted by file */
    size_t n_certs;
    struct model_file *server_files; /* of server-ca and server-crt, sorted by name;
                                      * in the arena */
    size_t n_server_files;
    struct model_errorfile *errorfiles; /* sorted by code; in the arena */
    size_t n_errorfiles;
    struct model_canary *canaries;  /* sorted by id; in the arena */
    size_t n_canaries;
    const struct model_userlist **userlists; /* sorted by name; in the arena */
    size_t n_userlists;
    struct model_issue *issues;
    size_t n_issues;
    size_t n_ingresses;             /* Ingresses served */
    struct model_lookups lookups;   /* of the Services and Secrets the build looked up */
    const char **wanted;            /* "ns/name" of the Secrets the build needs whose data
                                     * was dropped before it was parsed (see store.h) */
    size_t n_wanted;
    bool beyond_hosts;              /* an Ingress makes more than the routes of its own
                                     * hosts: a canary, an alias, passthrough, no rules
                                     * (model_reroute() cannot) */
    struct arena *strings;          /* a patch: the strings its reroutes copied since the
                                     * build, in one arena each reroute adds to (a shared
                                     * block, util/shared.h), held; or NULL */
};
#endif
