/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig and in-cluster configuration. Only what a controller needs:
 * server, CA, client certificate, token or token file. Exec plugins and
 * auth providers are refused at start with the field that asks for them. */
#include "kube/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/decode.h"
#include "source/yaml.h"
#include "util/err.h"
#include "util/file.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBECONFIG_MAX (4u << 20)
#define PEM_MAX (1u << 20)

void kube_config_free(struct kube_config *kc)
{
    free(kc->server);
    free(kc->ca_pem);
    free(kc->cert_pem);
    if (kc->key_pem)
        memset(kc->key_pem, 0, strlen(kc->key_pem));
    free(kc->key_pem);
    if (kc->token)
        memset(kc->token, 0, strlen(kc->token));
    free(kc->token);
    free(kc->token_file);
    free(kc->source);
    memset(kc, 0, sizeof(*kc));
}

static int read_text(const char *path, char **out, char **err)
{
    size_t len;
    int ret = file_read(path, PEM_MAX, out, &len);

    if (ret)
        errmsg_set(err, "%s: %s", path, ret == -E2BIG ? "too large" : strerror(-ret));
    return ret;
}

int kube_config_reload_token(struct kube_config *kc, char **err)
{
    char *tok, *end;
    int ret;

    if (!kc->token_file)
        return 0;
    ret = read_text(kc->token_file, &tok, err);
    if (ret)
        return ret;
    for (end = tok + strlen(tok); end > tok && (end[-1] == '\n' || end[-1] == '\r' ||
                                                end[-1] == ' ');)
        *--end = '\0';
    if (kc->token)
        memset(kc->token, 0, strlen(kc->token));
    free(kc->token);
    kc->token = tok;
    return 0;
}

/* ====== kubeconfig ====== */

struct parsed {
    json_t *doc;
};

static void on_doc(size_t index, json_t *doc, void *arg)
{
    struct parsed *p = arg;

    if (index == 0 && doc)
        p->doc = json_incref(doc);
}

/* Finds the entry named <name> in a kubeconfig list ("clusters", "users",
 * "contexts"); returns its inner object (borrowed) or NULL. */
static json_t *named(json_t *doc, const char *list, const char *inner, const char *name)
{
    json_t *arr = json_object_get(doc, list), *it;
    size_t i;

    json_array_foreach(arr, i, it)
    {
        const char *n = json_string_value(json_object_get(it, "name"));

        if (n && !strcmp(n, name))
            return json_object_get(it, inner);
    }
    return NULL;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Loads "<field>-data" (base64) or "<field>" (a file, relative to <dir>). */
static int pem_field(json_t *o, const char *field, const char *dir, const char *where,
                     char **out, char **err)
{
    char data_key[64];
    const char *data, *path;

    snprintf(data_key, sizeof(data_key), "%s-data", field);
    data = str(o, data_key);
    path = str(o, field);
    if (data) {
        unsigned char *bin;
        size_t len;

        if (decode_base64(data, strlen(data), &bin, &len)) {
            errmsg_set(err, "%s.%s: not base64", where, data_key);
            return -EINVAL;
        }
        *out = xrealloc(bin, len + 1);
        (*out)[len] = '\0';
        return 0;
    }
    if (path) {
        char *full = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", dir, path);
        int ret = read_text(full, out, err);

        free(full);
        if (ret)
            errmsg_prefix(err, "%s.%s", where, field);
        return ret;
    }
    return 0;
}

int kube_config_parse(struct kube_config *kc, const char *text, size_t len, const char *dir,
                      const char *context, char **err)
{
    struct parsed p = {NULL};
    json_t *ctx, *cluster, *user;
    const char *cur, *cname, *uname, *server;
    int ret = -EINVAL;

    memset(kc, 0, sizeof(*kc));
    if (yaml_parse_docs(text, len, on_doc, &p, err))
        return -EINVAL;
    if (!json_is_object(p.doc)) {
        errmsg_set(err, "not a kubeconfig (no document)");
        goto out;
    }
    cur = context ? context : str(p.doc, "current-context");
    if (!cur) {
        errmsg_set(err, "current-context: missing (or pass --context)");
        goto out;
    }
    ctx = named(p.doc, "contexts", "context", cur);
    if (!ctx) {
        errmsg_set(err, "contexts: no context named \"%s\"", cur);
        goto out;
    }
    cname = str(ctx, "cluster");
    uname = str(ctx, "user");
    cluster = cname ? named(p.doc, "clusters", "cluster", cname) : NULL;
    if (!cluster) {
        errmsg_set(err, "clusters: no cluster named \"%s\" (context \"%s\")", cname ? cname : "",
                   cur);
        goto out;
    }
    server = str(cluster, "server");
    if (!server || strncmp(server, "https://", 8)) {
        errmsg_set(err, "clusters[\"%s\"].server: must be an https:// URL", cname);
        goto out;
    }
    kc->server = xstrdup(server);
    while (strlen(kc->server) > 8 && kc->server[strlen(kc->server) - 1] == '/')
        kc->server[strlen(kc->server) - 1] = '\0';
    kc->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
    if (pem_field(cluster, "certificate-authority", dir, "cluster", &kc->ca_pem, err))
        goto out;
    user = uname ? named(p.doc, "users", "user", uname) : NULL;
    if (user) {
        if (json_object_get(user, "exec")) {
            errmsg_set(err, "users[\"%s\"].exec: exec credential plugins are not supported; "
                            "use a token, a token file or a client certificate",
                       uname);
            goto out;
        }
        if (json_object_get(user, "auth-provider")) {
            errmsg_set(err, "users[\"%s\"].auth-provider: not supported; use a token, a token "
                            "file or a client certificate",
                       uname);
            goto out;
        }
        if (json_object_get(user, "username") || json_object_get(user, "password")) {
            errmsg_set(err, "users[\"%s\"].username: basic authentication is not supported",
                       uname);
            goto out;
        }
        if (pem_field(user, "client-certificate", dir, "user", &kc->cert_pem, err) ||
            pem_field(user, "client-key", dir, "user", &kc->key_pem, err))
            goto out;
        if (!kc->cert_pem != !kc->key_pem) {
            errmsg_set(err, "users[\"%s\"]: client-certificate and client-key go together",
                       uname);
            goto out;
        }
        if (str(user, "token"))
            kc->token = xstrdup(str(user, "token"));
        if (str(user, "tokenFile")) {
            const char *tf = str(user, "tokenFile");

            kc->token_file = tf[0] == '/' ? xstrdup(tf) : xasprintf("%s/%s", dir, tf);
            if (kube_config_reload_token(kc, err)) {
                errmsg_prefix(err, "users[\"%s\"].tokenFile", uname);
                goto out;
            }
        }
    }
    ret = 0;
out:
    json_decref(p.doc);
    if (ret)
        kube_config_free(kc);
    return ret;
}

/* ====== Sources ====== */

static int load_file(struct kube_config *kc, const char *path, const char *context, char **err)
{
    char *text, *dir, *slash;
    size_t len;
    int ret = file_read(path, KUBECONFIG_MAX, &text, &len);

    if (ret) {
        errmsg_set(err, "kubeconfig %s: %s", path, strerror(-ret));
        return ret;
    }
    dir = xstrdup(path);
    slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        dir[0] = '.', dir[1] = '\0';
    ret = kube_config_parse(kc, text, len, dir, context, err);
    free(text);
    free(dir);
    if (ret) {
        errmsg_prefix(err, "kubeconfig %s", path);
        return ret;
    }
    kc->source = xstrdup(path);
    return 0;
}

static int load_in_cluster(struct kube_config *kc, char **err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");

    memset(kc, 0, sizeof(*kc));
    kc->server = strchr(host, ':') ? xasprintf("https://[%s]:%s", host, port ? port : "443")
                                   : xasprintf("https://%s:%s", host, port ? port : "443");
    kc->token_file = xstrdup(SA_DIR "/token");
    kc->source = xstrdup("in-cluster service account");
    if (read_text(SA_DIR "/ca.crt", &kc->ca_pem, err) || kube_config_reload_token(kc, err)) {
        errmsg_prefix(err, "in-cluster configuration");
        kube_config_free(kc);
        return -EINVAL;
    }
    return 0;
}

int kube_config_load(struct kube_config *kc, const char *kubeconfig, const char *context,
                     char **err)
{
    const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
    char *path;
    int ret;

    if (kubeconfig)
        return load_file(kc, kubeconfig, context, err);
    if (getenv("KUBERNETES_SERVICE_HOST") && !context)
        return load_in_cluster(kc, err);
    if (env && *env) {
        /* a list of files: the first one is used */
        char *first = xstrndup(env, strcspn(env, ":"));

        ret = load_file(kc, first, context, err);
        free(first);
        return ret;
    }
    if (!home) {
        errmsg_set(err, "no kubeconfig: set --kubeconfig, $KUBECONFIG or $HOME");
        return -ENOENT;
    }
    path = xasprintf("%s/.kube/config", home);
    if (access(path, F_OK) != 0) {
        errmsg_set(err, "no Kubernetes API configuration: not in a pod, no $KUBECONFIG, no %s; "
                        "pass --kubeconfig=PATH, or --manifests=DIR for file mode",
                   path);
        free(path);
        return -ENOENT;
    }
    ret = load_file(kc, path, context, err);
    free(path);
    return ret;
}
