/* SPDX-License-Identifier: Apache-2.0 */
/* The flag table, its parser and its documentation. */
#include "ctl/opts.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "model/validate.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

enum opt_type {
    OPT_BOOL = 0,
    OPT_STR,
    OPT_PORT,
    OPT_NSNAME, /* "namespace/name" */
    OPT_LEVEL,
    OPT_FORMAT,
    OPT_NS_LIST, /* repeatable namespace name */
    OPT_ADDR,    /* an IP address or a DNS name */
    OPT_DURATION, /* "2s", "500ms", a bare number of milliseconds: uint32_t ms */
    OPT_COUNT,   /* a number from 0 to 1000: unsigned */
    OPT_COMPAT,  /* a flag of the HAProxy Kubernetes Ingress Controller that means
                  * nothing here: accepted with a warning, its help says why */
    OPT_COMPAT_VALUE, /* the same, taking a value */
};

struct opt_def {
    const char *name;
    const char *alias;   /* accepted spelling of other controllers, or NULL */
    enum opt_type type;
    const char *def;     /* default, parsed like a user value; NULL: unset */
    const char *group;
    const char *help;
    size_t offset;
    bool render_only;
};

#define O(f) offsetof(struct opts, f)

static const struct opt_def opt_table[] = {
    {"kubeconfig", NULL, OPT_STR, NULL, "input",
     "Cluster mode (the default) out of cluster: kubeconfig file to use. Without it: the "
     "in-cluster service account, then $KUBECONFIG, then ~/.kube/config.",
     O(kubeconfig), false},
    {"context", NULL, OPT_STR, NULL, "input", "kubeconfig context to use instead of "
                                              "current-context.",
     O(context), false},
    {"manifests", NULL, OPT_STR, NULL, "input",
     "File mode: read Kubernetes manifests (YAML or JSON, multi-document, searched "
     "recursively) from DIR instead of the API server, and apply them again whenever they "
     "change.",
     O(manifests), false},
    {"ingress-class", "ingress.class", OPT_STR, "portico", "scope",
     "Ingress class served: value of the kubernetes.io/ingress.class annotation we accept.",
     O(ingress_class), false},
    {"controller-name", "controller-class", OPT_STR, "portico.dev/ingress-controller", "scope",
     "IngressClass spec.controller value that marks a class as ours.", O(controller_name),
     false},
    {"watch-ingress-without-class", "empty-ingress-class", OPT_BOOL, "false", "scope",
     "Also serve Ingresses that name no class, when no default IngressClass says otherwise.",
     O(watch_without_class), false},
    {"enable-config-snippets", NULL, OPT_BOOL, "false", "scope",
     "Apply the *-config-snippet keys (raw HAProxy lines; keywords that load code, run "
     "programs, read files or the environment are refused even then).",
     O(enable_snippets), false},
    {"namespace-whitelist", "watch-namespace", OPT_NS_LIST, NULL, "scope",
     "Watch only this namespace (repeatable); default: all namespaces.", O(ns_whitelist),
     false},
    {"namespace-blacklist", NULL, OPT_NS_LIST, NULL, "scope",
     "Ignore this namespace (repeatable).", O(ns_blacklist), false},
    {"configmap", NULL, OPT_NSNAME, NULL, "configuration",
     "ConfigMap NS/NAME holding global keys (see doc/config/).", O(configmap), false},
    {"configmap-tcp-services", "tcp-services-configmap", OPT_NSNAME, NULL, "configuration",
     "ConfigMap NS/NAME of TCP services: each key a port HAProxy listens on, each value "
     "NS/SERVICE:PORT or NS/SERVICE:PORT:ssl (TLS ends in HAProxy, with the certificates of "
     "HTTPS); PORT is the Service's port, by number or name.",
     O(configmap_tcp_services), false},
    {"configmap-errorfiles", NULL, OPT_NSNAME, NULL, "configuration",
     "ConfigMap NS/NAME of error pages: each key a status code HAProxy answers itself "
     "(200 400 401 403 404 405 407 408 410 413 421 422 425 429 500 501 502 503 504), each "
     "value the whole HTTP response.",
     O(configmap_errorfiles), false},
    {"default-backend-service", NULL, OPT_NSNAME, NULL, "configuration",
     "Service NS/NAME that receives requests no rule matches (its first port). Default: "
     "HAProxy answers 404 itself.",
     O(default_backend_service), false},
    {"default-ssl-certificate", NULL, OPT_NSNAME, NULL, "configuration",
     "TLS Secret NS/NAME served for unknown or absent SNI. Default: a self-signed "
     "certificate made at start.",
     O(default_ssl_certificate), false},
    {"http-bind-port", "http-port", OPT_PORT, "8080", "listeners", "Port of the plain HTTP listener.",
     O(http_port), false},
    {"https-bind-port", "https-port", OPT_PORT, "8443", "listeners", "Port of the HTTPS listener.",
     O(https_port), false},
    {"stats-bind-port", NULL, OPT_PORT, "1024", "listeners",
     "Port of HAProxy's stats page (/) and Prometheus metrics (/metrics).", O(stats_port),
     false},
    {"healthz-bind-port", NULL, OPT_PORT, "1042", "listeners",
     "Port where HAProxy answers GET /healthz (liveness of the data plane).", O(healthz_port),
     false},
    {"ipv4-bind-address", NULL, OPT_STR, "0.0.0.0", "listeners",
     "IPv4 address HAProxy listens on.", O(ipv4_addr), false},
    {"ipv6-bind-address", NULL, OPT_STR, "::", "listeners", "IPv6 address HAProxy listens on.",
     O(ipv6_addr), false},
    {"disable-ipv4", NULL, OPT_BOOL, "false", "listeners", "Do not listen on IPv4.",
     O(disable_ipv4), false},
    {"disable-ipv6", NULL, OPT_BOOL, "false", "listeners", "Do not listen on IPv6.",
     O(disable_ipv6), false},
    {"disable-http", NULL, OPT_BOOL, "false", "listeners",
     "Do not open the plain HTTP listener.", O(disable_http), false},
    {"disable-https", NULL, OPT_BOOL, "false", "listeners", "Do not open the HTTPS listener.",
     O(disable_https), false},
    {"controller-port", NULL, OPT_PORT, "6060", "controller",
     "Port of Portico's own /healthz, /readyz and /metrics.", O(controller_port), false},
    {"publish-service", NULL, OPT_NSNAME, NULL, "controller",
     "Cluster mode: write the addresses of Service NS/NAME (its load-balancer addresses, "
     "external IPs or cluster IP) into status.loadBalancer.ingress of the Ingresses Portico "
     "serves, and clear them from those it stops serving.",
     O(publish_service), false},
    {"publish-address", "publish-status-address", OPT_ADDR, NULL, "controller",
     "Cluster mode: write this IP address or host name into status.loadBalancer.ingress "
     "instead of a Service's (--publish-service wins when both are set).",
     O(publish_address), false},
    {"leader-elect", NULL, OPT_BOOL, "false", "controller",
     "Cluster mode: only the replica holding the coordination.k8s.io Lease --election-id "
     "in namespace $POD_NAMESPACE, as $POD_NAME, writes Ingress status; every replica "
     "serves.",
     O(leader_elect), false},
    {"election-id", NULL, OPT_STR, "portico-leader", "controller",
     "Name of the Lease of --leader-elect.", O(election_id), false},
    {"disable-ingress-status-update", NULL, OPT_BOOL, "false", "controller",
     "Never write Ingress status, whatever --publish-service or --publish-address say.",
     O(disable_status), false},
    {"haproxy-binary", "program", OPT_STR, "/usr/sbin/haproxy", "controller",
     "HAProxy executable to run (2.6 or later).", O(haproxy_bin), false},
    {"config-dir", NULL, OPT_STR, "/tmp/portico/config", "controller",
     "Directory for the generated configuration, maps and certificates (mode 0700).",
     O(config_dir), false},
    {"runtime-dir", NULL, OPT_STR, "/tmp/portico/run", "controller",
     "Directory for HAProxy's sockets and PID file.", O(runtime_dir), false},
    {"debounce", NULL, OPT_DURATION, "10ms", "controller",
     "The least time from one pass to the next (a pass builds, renders and applies what "
     "changed). A change after a quiet spell of this long is applied at once; the changes "
     "that follow within it wait for the rest of it and go in one pass, so a burst costs "
     "a pass per interval, not one per change (0: a pass at every turn of the event loop).",
     O(debounce_ms), false},
    {"min-reload-interval", NULL, OPT_DURATION, "2s", "controller",
     "Reloads of HAProxy are at least this far apart (0: as soon as needed): changes that "
     "need one within this time after the last reload wait, and are loaded together by the "
     "next. Changes the Runtime API applies do not wait; while a reload waits, route and "
     "certificate changes wait with it, endpoint changes do not.",
     O(min_reload_interval_ms), false},
    {"spare-backends", NULL, OPT_COUNT, "8", "controller",
     "Empty backends HAProxy keeps ready, with the ConfigMap's settings: a new backend "
     "with no keys of its own (a new Service port an Ingress routes to) runs in one "
     "through the Runtime API, served in milliseconds instead of after a reload; a "
     "reload gives it its own name --min-reload-interval later (at least 1 s). More new "
     "backends at once than free spares reload as before. 0: none.",
     O(spare_backends), false},
    {"log-level", "log", OPT_LEVEL, "info", "controller",
     "error, warning, info or debug (trace: debug).", O(log_level), false},
    {"log-format", NULL, OPT_FORMAT, "logfmt", "controller", "logfmt or json.", O(log_format),
     false},
#define COMPAT(name, why) {name, NULL, OPT_COMPAT, NULL, "compatibility", why, 0, false}
#define COMPAT_VALUE(name, why) {name, NULL, OPT_COMPAT_VALUE, NULL, "compatibility", why, 0, false}
    COMPAT("prometheus", "Portico's metrics are always served on /metrics of --controller-port."),
    COMPAT("pprof", "No profiling endpoint."),
    COMPAT_VALUE("sync-period", "Changes are applied as they arrive, not on a period."),
    COMPAT_VALUE("initial-sync-period", "Portico serves once every resource is listed."),
    COMPAT_VALUE("cache-resync-period", "No periodic resync: watches deliver every change."),
    COMPAT_VALUE("channel-size", "No event channel to size."),
    COMPAT_VALUE("disable-config-snippets",
                 "Snippets are off unless --enable-config-snippets is given."),
    COMPAT("disable-writing-only-if-reload", "Every generation is written to disk."),
    COMPAT_VALUE("experimental", "No experimental features."),
    COMPAT_VALUE("localpeer-port", "No peers section: nothing to keep across reloads."),
    COMPAT_VALUE("http-bind-thread", "HAProxy's threads are not pinned to binds."),
    COMPAT_VALUE("https-bind-thread", "HAProxy's threads are not pinned to binds."),
    COMPAT_VALUE("stats-bind-thread", "HAProxy's threads are not pinned to binds."),
    COMPAT_VALUE("healthz-bind-thread", "HAProxy's threads are not pinned to binds."),
    COMPAT("disable-quic", "No QUIC: Debian's HAProxy 2.6 is built without it."),
    COMPAT_VALUE("quic-bind-port", "No QUIC: Debian's HAProxy 2.6 is built without it."),
    COMPAT_VALUE("quic-announce-port", "No QUIC: Debian's HAProxy 2.6 is built without it."),
    COMPAT("external", "Portico runs out of cluster with --kubeconfig, in cluster without it."),
    COMPAT("with-s6-overlay", "Portico supervises HAProxy itself."),
    COMPAT("with-pebble", "Portico supervises HAProxy itself."),
    COMPAT_VALUE("default-backend-port", "HAProxy answers 404 itself: no default backend "
                                         "server to listen."),
    COMPAT_VALUE("gateway-controller-name", "The Gateway API is not supported."),
    COMPAT("disable-service-external-name", "ExternalName Services are not routed."),
    COMPAT_VALUE("custom-validation-rules", "Custom annotations are not supported."),
    COMPAT("enable-custom-annotations-on-ingress", "Custom annotations are not supported."),
    COMPAT_VALUE("configmap-patternfiles", "Pattern files are not supported yet."),
#undef COMPAT
#undef COMPAT_VALUE
    {"output-dir", NULL, OPT_STR, NULL, "render",
     "portico render only: write the files to DIR instead of printing them.", O(output_dir),
     true},
};

#define N_OPTS (sizeof(opt_table) / sizeof(opt_table[0]))

static int set_value(struct opts *o, const struct opt_def *d, const char *val, char **err)
{
    void *dst = (char *)o + d->offset;
    uint32_t port;

    switch (d->type) {
    case OPT_BOOL:
        if (!val || !strcmp(val, "true")) {
            *(bool *)dst = true;
        } else if (!strcmp(val, "false")) {
            *(bool *)dst = false;
        } else {
            errmsg_set(err, "--%s: expects true or false, not \"%s\"", d->name, val);
            return -EINVAL;
        }
        return 0;
    case OPT_PORT:
        if (!val || str_to_u32(val, 0, 65535, &port)) {
            errmsg_set(err, "--%s: expects a port number from 0 to 65535", d->name);
            return -EINVAL;
        }
        *(int *)dst = (int)port;
        return 0;
    case OPT_COUNT:
        if (!val || str_to_u32(val, 0, 1000, &port)) {
            errmsg_set(err, "--%s: expects a number from 0 to 1000", d->name);
            return -EINVAL;
        }
        *(unsigned *)dst = port;
        return 0;
    case OPT_NSNAME: {
        const char *slash = val ? strchr(val, '/') : NULL;
        char ns[256];

        if (!slash || (size_t)(slash - val) >= sizeof(ns)) {
            errmsg_set(err, "--%s: expects NAMESPACE/NAME", d->name);
            return -EINVAL;
        }
        snprintf(ns, sizeof(ns), "%.*s", (int)(slash - val), val);
        if (!valid_dns_label(ns) || !valid_dns_subdomain(slash + 1)) {
            errmsg_set(err, "--%s: \"%s\" is not a valid NAMESPACE/NAME", d->name, val);
            return -EINVAL;
        }
        break;
    }
    case OPT_LEVEL: {
        enum log_level l;

        if (!val || log_level_parse(val, &l)) {
            errmsg_set(err, "--%s: expects error, warning, info or debug", d->name);
            return -EINVAL;
        }
        break;
    }
    case OPT_FORMAT:
        if (!val || (strcmp(val, "logfmt") && strcmp(val, "json"))) {
            errmsg_set(err, "--%s: expects logfmt or json", d->name);
            return -EINVAL;
        }
        break;
    case OPT_STR:
        if (!val || !*val) {
            errmsg_set(err, "--%s: expects a value (--%s=VALUE)", d->name, d->name);
            return -EINVAL;
        }
        break;
    case OPT_ADDR: {
        unsigned char bin[16];

        if (!val || (inet_pton(AF_INET, val, bin) != 1 && inet_pton(AF_INET6, val, bin) != 1 &&
                     !valid_dns_subdomain(val))) {
            errmsg_set(err, "--%s: \"%s\" is not an IP address or a DNS name", d->name,
                       val ? val : "");
            return -EINVAL;
        }
        break;
    }
    case OPT_DURATION:
        if (!val || str_to_duration_ms(val, dst)) {
            errmsg_set(err, "--%s: expects a duration such as 2s or 500ms, not \"%s\"",
                       d->name, val ? val : "");
            return -EINVAL;
        }
        return 0;
    case OPT_COMPAT:
    case OPT_COMPAT_VALUE:
        /* a value or none: the HAProxy controller's charts pass both forms */
        log_warn("opts", "--%s%s%s is a flag of the HAProxy Kubernetes Ingress Controller "
                         "without effect in Portico: %c%s",
                 d->name, val ? "=" : "", val ? val : "", tolower((unsigned char)d->help[0]),
                 d->help + 1);
        return 0;
    case OPT_NS_LIST: {
        struct strlist *l = dst;

        if (!val || !valid_dns_label(val)) {
            errmsg_set(err, "--%s: \"%s\" is not a namespace name", d->name, val ? val : "");
            return -EINVAL;
        }
        l->v = xrealloc(l->v, (l->n + 2) * sizeof(*l->v));
        l->v[l->n++] = xstrdup(val);
        l->v[l->n] = NULL;
        return 0;
    }
    }
    free(*(char **)dst);
    *(char **)dst = val ? xstrdup(val) : NULL;
    return 0;
}

void opts_defaults(struct opts *o)
{
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < N_OPTS; i++) {
        char *err = NULL;

        if (opt_table[i].def && set_value(o, &opt_table[i], opt_table[i].def, &err))
            abort(); /* defaults are checked by the unit tests */
    }
}

void opts_free(struct opts *o)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        enum opt_type t = opt_table[i].type;

        if (t == OPT_NS_LIST) {
            struct strlist *l = (struct strlist *)((char *)o + opt_table[i].offset);

            for (size_t j = 0; j < l->n; j++)
                free(l->v[j]);
            FREE_NULL(l->v);
            l->n = 0;
        } else if (t != OPT_BOOL && t != OPT_PORT && t != OPT_DURATION && t != OPT_COUNT &&
                   t != OPT_COMPAT &&
                   t != OPT_COMPAT_VALUE) {
            FREE_NULL(*(char **)((char *)o + opt_table[i].offset));
        }
    }
}

static const char *next_name(void *arg, size_t i)
{
    (void)arg;
    return i < N_OPTS ? opt_table[i].name : NULL;
}

int opts_parse(struct opts *o, int argc, char **argv, int first, bool render, char **err)
{
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i], *eq, *val = NULL;
        const struct opt_def *d = NULL;
        char name[128];

        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            o->help = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            errmsg_set(err, "unexpected argument \"%s\" (flags are --name=value)", arg);
            return -EINVAL;
        }
        arg += 2;
        eq = strchr(arg, '=');
        snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - arg) : strlen(arg)), arg);
        for (size_t j = 0; j < N_OPTS && !d; j++) {
            if (!strcmp(opt_table[j].name, name) ||
                (opt_table[j].alias && !strcmp(opt_table[j].alias, name)))
                d = &opt_table[j];
        }
        if (!d || (d->render_only && !render)) {
            const char *near = str_closest(name, next_name, NULL);

            if (near)
                errmsg_set(err, "unknown flag --%s; did you mean --%s?", name, near);
            else
                errmsg_set(err, "unknown flag --%s; see portico --help", name);
            return -EINVAL;
        }
        if (eq) {
            val = eq + 1;
        } else if (d->type == OPT_COMPAT) {
            /* a flag without a value */
        } else if (d->type != OPT_BOOL) {
            /* "--flag value" is accepted too */
            if (i + 1 >= argc) {
                errmsg_set(err, "--%s: expects a value (--%s=VALUE)", d->name, d->name);
                return -EINVAL;
            }
            val = argv[++i];
        }
        if (set_value(o, d, val, err))
            return -EINVAL;
    }
    return 0;
}

static const char *metavar(const struct opt_def *d)
{
    switch (d->type) {
    case OPT_BOOL:
        return "";
    case OPT_PORT:
        return "=PORT";
    case OPT_NSNAME:
        return "=NS/NAME";
    case OPT_LEVEL:
        return "=LEVEL";
    case OPT_FORMAT:
        return "=FORMAT";
    case OPT_NS_LIST:
        return "=NS";
    case OPT_ADDR:
        return "=ADDR";
    case OPT_DURATION:
        return "=DURATION";
    case OPT_COUNT:
        return "=N";
    case OPT_COMPAT:
        return "";
    case OPT_COMPAT_VALUE:
    case OPT_STR:
        break;
    }
    if (!strcmp(d->name, "kubeconfig"))
        return "=PATH";
    return strstr(d->name, "dir") || !strcmp(d->name, "manifests") ? "=DIR" : "=VALUE";
}

void opts_usage(FILE *f, bool markdown)
{
    const char *group = "";

    if (markdown)
        fputs("# Command-line flags\n\n"
              "Generated by `portico docs flags` from the table that parses the flags; do not "
              "edit.\n\n"
              "```\nportico [flags]            run the controller\n"
              "portico render [flags]     print the HAProxy configuration and maps, then exit\n"
              "portico version            print the version\n```\n\n"
              "Boolean flags accept `--flag`, `--flag=true` and `--flag=false`.\n",
              f);
    else
        fputs("usage: portico [render|version] [flags]\n\n"
              "  portico [--kubeconfig=PATH] run the controller against the Kubernetes API\n"
              "  portico --manifests=DIR     run the controller on a directory of manifests\n"
              "  portico render [flags]      print the HAProxy configuration, then exit\n"
              "  portico version             print the version\n",
              f);
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt_def *d = &opt_table[i];

        if (strcmp(group, d->group)) {
            group = d->group;
            if (markdown)
                fprintf(f, "\n## %s\n\n| flag | default | description |\n|---|---|---|\n",
                        group);
            else
                fprintf(f, "\n%s:\n", group);
        }
        if (markdown) {
            fprintf(f, "| `--%s%s`", d->name, metavar(d));
            if (d->alias)
                fprintf(f, " (alias `--%s`)", d->alias);
            fprintf(f, " | %s%s%s | %s |\n", d->def ? "`" : "", d->def ? d->def : "none",
                    d->def ? "`" : "", d->help);
        } else {
            char left[80];

            snprintf(left, sizeof(left), "--%s%s", d->name, metavar(d));
            fprintf(f, "  %-34s %s", left, d->help);
            if (d->def)
                fprintf(f, " (default %s)", d->def);
            if (d->alias)
                fprintf(f, " (alias --%s)", d->alias);
            fputc('\n', f);
        }
    }
}
