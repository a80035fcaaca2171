/* SPDX-License-Identifier: Apache-2.0 */
/* Command-line flags: one table parses them and generates --help and
 * doc/flags.md. */
#ifndef SRC_CTL_OPTS_H
#define SRC_CTL_OPTS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A repeatable flag's values, NULL-terminated. */
struct strlist {
    char **v;
    size_t n;
};

struct opts {
    char *manifests;
    char *kubeconfig;
    char *context;
    char *ingress_class;
    char *controller_name;
    bool watch_without_class;
    bool enable_snippets;
    struct strlist ns_whitelist;
    struct strlist ns_blacklist;
    char *configmap;
    char *configmap_tcp_services;
    char *configmap_errorfiles;
    char *default_backend_service;
    char *default_ssl_certificate;
    int http_port;
    int https_port;
    int stats_port;
    int healthz_port;
    char *ipv4_addr;
    char *ipv6_addr;
    bool disable_ipv4;
    bool disable_ipv6;
    bool disable_http;
    bool disable_https;
    int controller_port;
    char *publish_service;  /* NS/NAME */
    char *publish_address;
    bool disable_status;
    bool leader_elect;
    char *election_id;
    char *haproxy_bin;
    char *config_dir;
    char *runtime_dir;
    uint32_t debounce_ms;   /* a change waits this long for others before a pass */
    uint32_t min_reload_interval_ms; /* 0: reloads are not spaced */
    unsigned spare_backends; /* --spare-backends */
    char *log_level;
    char *log_format;
    char *output_dir;       /* render only */
    bool help;
};

/* Sets every flag to its default. */
void opts_defaults(struct opts *o);
void opts_free(struct opts *o);
/* Parses argv[first..argc); returns 0, or -EINVAL with *err naming the flag
 * and, for an unknown one, the closest valid flag. */
int opts_parse(struct opts *o, int argc, char **argv, int first, bool render, char **err);
/* Prints the flag reference, as --help text or as Markdown. */
void opts_usage(FILE *f, bool markdown);
#endif
