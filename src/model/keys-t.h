/* SPDX-License-Identifier: Apache-2.0 */
/* Values of the configuration keys (see keys.c for the table). */
#ifndef SRC_MODEL_KEYS_T_H
#define SRC_MODEL_KEYS_T_H
#include <stdbool.h>
#include <stdint.h>

/* Resolved values of every key. Text values are validated and normalised by
 * their parsers (keys.c) and live in the model's arena; NULL is unset. */
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
    uint32_t hard_stop_after_ms;
    uint32_t close_spread_time_ms;   /* 0: HAProxy's default (at once) */
    uint32_t ssl_redirect_port;      /* 0: the HTTPS default port (none in the URL) */
    uint32_t timeout_client_fin_ms;  /* 0: HAProxy's default */
    uint32_t timeout_server_fin_ms;
    const char *http_connection_mode; /* NULL (keep-alive), or an option name */
    const char *tls_alpn;            /* "h2,http/1.1"-like, validated */
    bool client_strict_sni;
    const char *client_ca;           /* a Secret, "name" or "namespace/name", or NULL */
    bool client_crt_optional;
    const char *log_targets;         /* lines of "log" arguments, validated; NULL: none */
    const char *log_format;          /* NULL: option httplog */
    bool dontlognull;
    bool logasap;
    const char *proxy_protocol;      /* addresses and networks, space separated */
    uint32_t timeout_check_ms;       /* 0: HAProxy's default */
    const char *default_backend_service; /* a Service, "name" or "namespace/name", or NULL:
                                          * --default-backend-service */
    const char *ssl_certificate;     /* a Secret, or NULL: --default-ssl-certificate */
    const char *request_capture;     /* validated sample fetches, one a line, or NULL; an
                                      * Ingress's, for the requests routed to its backends */
    uint32_t request_capture_len;
    /* per backend: the keys with KEY_S_BACKEND */
    const char *load_balance;        /* an algorithm of balance_algos[] */
    const char *set_host;            /* a host name, [port] */
    const char *path_rewrite;        /* "REGEX\nREPLACEMENT\n" pairs, or NULL */
    const char *permanent_redirect;  /* a URL: every request redirected there, or NULL */
    uint32_t permanent_redirect_code;
    const char *temporal_redirect;   /* the same, 302 */
    const char *app_root;            /* a path "/" redirects to, or NULL */
    uint32_t proxy_body_size;        /* largest Content-Length in bytes; 0: no limit */
    const char *request_redirect;    /* a host name, [port] */
    uint32_t request_redirect_code;
    const char *request_set_header;  /* "Name\nvalue\n" pairs, or NULL */
    const char *response_set_header; /* the same */
    const char *src_ip_header;       /* a header name, or NULL */
    const char *allow_list;          /* addresses and networks, space separated */
    const char *deny_list;           /* the same */
    bool forwarded_for;              /* X-Forwarded-For added */
    bool standalone_backend;         /* backends of the Ingress's own */
    const char *standalone_owner;    /* with it, "ns/name" of the Ingress (build.c) */
    bool ssl_passthrough;            /* TLS passed through to the endpoints by SNI */
    bool server_ssl;
    const char *server_proto;        /* "h2", or NULL */
    const char *server_ca;           /* a Secret verifying the endpoints' certificates,
                                      * "name" or "namespace/name" (the ConfigMap's
                                      * qualified by build.c), or NULL */
    const char *server_crt;          /* a TLS Secret presented to the endpoints, the same */
    bool cors_enable;
    bool cors_respond_to_options;
    const char *cors_allow_origin;   /* "*", origins space separated, or "^regex" */
    const char *cors_allow_methods;
    const char *cors_allow_headers;
    bool cors_allow_credentials;
    uint32_t cors_max_age;           /* seconds */
    uint32_t rate_limit_requests;    /* per client address and period; 0: none */
    uint32_t rate_limit_period_ms;
    uint32_t rate_limit_size;        /* client addresses tracked */
    uint32_t rate_limit_status_code;
    const char *rate_limit_whitelist; /* addresses never limited */
    uint32_t limit_connections;      /* concurrent connections per client address; 0: none */
    const char *send_proxy_protocol; /* a server keyword of proxy_words[], or NULL */
    uint32_t pod_maxconn;            /* per server; 0: none */
    bool abortonclose;
    const char *cookie_persistence;  /* a cookie name, or NULL */
    const char *cookie_static;       /* cookie-persistence-no-dynamic's cookie name, or
                                      * NULL; wins over cookie_persistence */
    bool check;                      /* health checks of the endpoints */
    const char *check_http;          /* "METHOD /path", or NULL: TCP checks */
    uint32_t check_interval_ms;
    const char *auth_type;           /* "basic-auth", or NULL */
    const char *auth_secret;         /* "name" or "namespace/name", or NULL */
    const char *auth_realm;          /* printable ASCII but quotes and '\\'; NULL: the
                                      * default, KEY_AUTH_REALM */
    /* ingress-nginx's, which build.c turns into the keys above per path */
    const char *nginx_rewrite_target; /* rewrite-target, "$N" as "\N", or NULL */
    bool nginx_use_regex;             /* use-regex: the paths are regexes */
    bool nginx_affinity;              /* affinity: cookie */
    const char *nginx_cookie_name;    /* session-cookie-name */
    const char *nginx_server_alias;   /* server-alias: valid host names, one a line, or NULL */
    const char *nginx_default_backend; /* default-backend: a Service of the Ingress's
                                        * namespace, or NULL */
    const char *nginx_http_errors;    /* custom-http-errors: codes HAProxy has a page for,
                                       * sorted, space separated, or NULL */
    bool nginx_canary;                /* canary: "true" (build.c, doc/routing.md) */
    uint32_t canary_weight;           /* canary-weight: of canary_weight_total */
    uint32_t canary_weight_total;     /* canary-weight-total, 100 by default */
    const char *canary_header;        /* canary-by-header: a header name, or NULL */
    const char *canary_header_value;  /* canary-by-header-value, or NULL */
    const char *canary_header_pattern; /* canary-by-header-pattern: a regex, or NULL */
    const char *canary_cookie;        /* canary-by-cookie: a cookie name, or NULL */
    const char *backend_snippet;     /* checked lines, '\n'-terminated, or NULL */
    const char *frontend_snippet;
    const char *global_snippet;
};
#endif
