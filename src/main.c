/* SPDX-License-Identifier: Apache-2.0 */
/* portico: a Kubernetes Ingress controller that drives HAProxy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/opts.h"
#include "model/keys.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

#ifndef PORTICO_VERSION
#define PORTICO_VERSION "0.1.0-dev"
#endif

/* Markdown reference of one configuration key (doc/config/<key>.md). */
static void key_doc(const struct key_def *k)
{
    char scope[128];

    snprintf(scope, sizeof(scope), "%s%s%s%s", (k->scopes & KEY_S_CMAP) ? "ConfigMap" : "",
             (k->scopes & KEY_S_CMAP) && (k->scopes & KEY_S_ANNOT) ? ", " : "",
             (k->scopes & KEY_S_ANNOT) ? "Ingress annotation" : "",
             (k->scopes & KEY_S_BACKEND) ? ", Service annotation" : "");
    printf("---\nKey: %s\nScope: %s\nType: %s\nDefault: %s\n---\n\n# DESCRIPTION\n\n%s\n\n",
           k->name, scope, key_type_name(k->type), *k->def ? k->def : "(none)", k->doc);
    printf("# HAPROXY\n\n%s\n\n", k->haproxy);
    printf("# EXAMPLE\n\n```yaml\n");
    if (k->scopes & KEY_S_CMAP)
        printf("# ConfigMap named by --configmap\ndata:\n  %s: %s\n", k->name, k->example);
    if (k->scopes & KEY_S_ANNOT)
        printf("# Ingress\nmetadata:\n  annotations:\n    portico.dev/%s: %s\n", k->name,
               k->example);
    printf("```\n");
    if (k->scopes & KEY_S_ANNOT) {
        printf("\nThe annotation is also accepted with the prefixes");
        for (size_t i = 1; i < k8s_key_prefixes_len; i++)
            printf(" `%s`%s", k8s_key_prefixes[i], i + 1 < k8s_key_prefixes_len ? "," : ".");
        if (k->alias)
            printf(" `%s` is another name for it.", k->alias);
        if (k->scopes & KEY_S_CMAP)
            printf(" The ConfigMap value is the default for Ingresses without the annotation.");
        if (k->scopes & KEY_S_BACKEND)
            printf(" It applies to every route of the Ingress it is set on: the Services those "
                   "routes lead to get a backend of their own with it. On a Service, it "
                   "applies to every route to that Service and wins over the Ingress's.");
        printf("\n");
    }
}

static int docs(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[2], "flags")) {
        opts_usage(stdout, true);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[2], "keys")) {
        for (size_t i = 0; i < key_table_len; i++)
            printf("%s\n", key_table[i].name);
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[2], "key")) {
        for (size_t i = 0; i < key_table_len; i++) {
            if (!strcmp(key_table[i].name, argv[3])) {
                key_doc(&key_table[i]);
                return 0;
            }
        }
        fprintf(stderr, "portico: unknown key %s\n", argv[3]);
        return 2;
    }
    fprintf(stderr, "usage: portico docs flags | keys | key NAME\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct opts o;
    char *err = NULL;
    bool render = false;
    int first = 1, ret;
    enum log_level lvl;

    xalloc_init();
    if (argc > 1 && !strcmp(argv[1], "version")) {
        printf("portico %s\n", PORTICO_VERSION);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "docs"))
        return docs(argc, argv);
    if (argc > 1 && (!strcmp(argv[1], "render") || !strcmp(argv[1], "run"))) {
        render = !strcmp(argv[1], "render");
        first = 2;
    }
    opts_defaults(&o);
    if (opts_parse(&o, argc, argv, first, render, &err)) {
        fprintf(stderr, "portico: %s\n", err);
        free(err);
        opts_free(&o);
        return 2;
    }
    if (o.help) {
        opts_usage(stdout, false);
        opts_free(&o);
        return 0;
    }
    log_level_parse(o.log_level, &lvl);
    log_threshold = lvl;
    log_fmt = !strcmp(o.log_format, "json") ? LOG_FMT_JSON : LOG_FMT_LOGFMT;
    if (render && !o.manifests) {
        fprintf(stderr, "portico: render needs --manifests=DIR; see portico --help\n");
        opts_free(&o);
        return 2;
    }
    if (o.manifests && (o.kubeconfig || o.context)) {
        fprintf(stderr, "portico: --manifests cannot be combined with --kubeconfig or "
                        "--context\n");
        opts_free(&o);
        return 2;
    }
    ret = render ? ctl_render(&o) : ctl_run(&o);
    opts_free(&o);
    return ret;
}
