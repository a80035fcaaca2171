/* SPDX-License-Identifier: Apache-2.0 */
/* Where the API server is and how to authenticate: in-cluster service
 * account, or a kubeconfig file. */
#ifndef SRC_KUBE_CONFIG_H
#define SRC_KUBE_CONFIG_H
#include <stdbool.h>
#include <stddef.h>

struct kube_config {
    char *server;        /* "https://host:port", no trailing slash */
    char *ca_pem;        /* CA bundle (PEM), or NULL for the system store */
    char *cert_pem;      /* client certificate (PEM), or NULL */
    char *key_pem;       /* client key (PEM), or NULL */
    char *token;         /* bearer token, or NULL */
    char *token_file;    /* re-read when it changes (bound tokens rotate), or NULL */
    bool insecure;       /* insecure-skip-tls-verify */
    char *source;        /* where this came from, for messages */
};

/* Loads the configuration: <kubeconfig> when set, else the in-cluster
 * service account when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG,
 * else ~/.kube/config. <context> selects a context (NULL: current-context).
 * Returns 0, or a negative errno with *err naming the file and field. */
int kube_config_load(struct kube_config *kc, const char *kubeconfig, const char *context,
                     char **err);
/* Parses kubeconfig text (YAML or JSON); <dir> resolves relative paths. */
int kube_config_parse(struct kube_config *kc, const char *text, size_t len, const char *dir,
                      const char *context, char **err);
void kube_config_free(struct kube_config *kc);
/* Reads the token file again if it is set; returns 0 or a negative errno. */
int kube_config_reload_token(struct kube_config *kc, char **err);
#endif
