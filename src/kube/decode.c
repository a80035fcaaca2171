/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes JSON -> struct k8s_*. Every error names the field path, so a
 * user reading the log knows which line of which manifest to fix. */
#include "kube/decode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/objects.h"
#include "util/err.h"
#include "util/hmap.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ====== Field helpers ====== */

/* Reads an optional string field. Returns 0 (absent or null: *out = NULL),
 * or -EINVAL with *err naming <path>. A NULL <out> checks the field only. */
static int get_str(json_t *o, const char *key, const char *path, char **out, char **err)
{
    json_t *v = json_object_get(o, key);

    if (out)
        *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        errmsg_set(err, "%s%s: must be a string", path, key);
        return -EINVAL;
    }
    if (json_string_length(v) > DECODE_MAX_STRING) {
        errmsg_set(err, "%s%s: longer than %d bytes", path, key, DECODE_MAX_STRING);
        return -EINVAL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        errmsg_set(err, "%s%s: contains a NUL byte", path, key);
        return -EINVAL;
    }
    if (out)
        *out = xstrdup(json_string_value(v));
    return 0;
}

/* The same for an integer from <lo> to <hi>. */
static int get_int(json_t *o, const char *key, const char *path, int64_t lo, int64_t hi,
                   int32_t *out, char **err)
{
    json_t *v = json_object_get(o, key);

    if (out)
        *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        errmsg_set(err, "%s%s: must be an integer from %lld to %lld", path, key, (long long)lo,
                   (long long)hi);
        return -EINVAL;
    }
    if (out)
        *out = (int32_t)json_integer_value(v);
    return 0;
}

/* Optional bool; <def> when absent or null. */
static int get_bool(json_t *o, const char *key, const char *path, bool def, bool *out,
                    char **err)
{
    json_t *v = json_object_get(o, key);

    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        errmsg_set(err, "%s%s: must be true or false", path, key);
        return -EINVAL;
    }
    *out = json_is_true(v);
    return 0;
}

/* Optional object or array; NULL when absent or null. */
static int get_typed(json_t *o, const char *key, const char *path, bool array, json_t **out,
                     char **err)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (array ? !json_is_array(v) : !json_is_object(v)) {
        errmsg_set(err, "%s%s: must be %s", path, key, array ? "a list" : "an object");
        return -EINVAL;
    }
    if (array && json_array_size(v) > DECODE_MAX_ITEMS) {
        errmsg_set(err, "%s%s: more than %d items", path, key, DECODE_MAX_ITEMS);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const struct k8s_kv *)a)->key, ((const struct k8s_kv *)b)->key);
}

static void kv_free(struct k8s_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].val);
    }
    free(kv);
}

/* String map (labels, annotations, ConfigMap data) -> sorted array of the
 * keys <keep> accepts (all without it); every value is checked. */
static int get_kv(json_t *o, const char *key, const char *path, bool (*keep)(const char *),
                  struct k8s_kv **out, uint32_t *n, char **err)
{
    json_t *m, *v;
    const char *k;
    size_t i = 0;

    *out = NULL;
    *n = 0;
    if (get_typed(o, key, path, false, &m, err))
        return -EINVAL;
    if (!m)
        return 0;
    *out = xcalloc(json_object_size(m) + 1, sizeof(**out));
    json_object_foreach(m, k, v)
    {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
            errmsg_set(err, "%s%s[\"%s\"]: must be a string without NUL bytes", path, key, k);
            goto fail;
        }
        if (keep && !keep(k))
            continue;
        (*out)[i].key = xstrdup(k);
        (*out)[i].val = xstrdup(json_string_value(v));
        *n = (uint32_t)++i;
    }
    if (!i) {
        FREE_NULL(*out);
        return 0;
    }
    qsort(*out, *n, sizeof(**out), cmp_kv);
    return 0;
fail:
    kv_free(*out, i);
    *out = NULL;
    *n = 0;
    return -EINVAL;
}

static int parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return -EINVAL;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* ====== Metadata ====== */

static bool keep_none(const char *key)
{
    (void)key;
    return false;
}

static int decode_meta(json_t *obj, struct k8s_obj *o, bool namespaced, char **err)
{
    struct k8s_meta *m = &o->meta;
    json_t *md;
    struct k8s_kv *labels;
    uint32_t n_labels, n_annotations;
    size_t key_size;
    int64_t created = 0;
    char *name = NULL, *ts = NULL;

    if (get_typed(obj, "metadata", "", false, &md, err))
        return -EINVAL;
    if (!md) {
        errmsg_set(err, "metadata: missing");
        return -EINVAL;
    }
    if (get_str(md, "name", "metadata.", &name, err) ||
        get_str(md, "namespace", "metadata.", &m->ns, err))
        goto fail;
    if (!name || !*name) {
        errmsg_set(err, "metadata.name: missing");
        goto fail;
    }
    if (!namespaced) {
        FREE_NULL(m->ns);
        m->ns = xstrdup("");
    } else if (!m->ns || !*m->ns) {
        free(m->ns);
        m->ns = xstrdup("default"); /* what kubectl assumes for a manifest without one */
    }
    /* the name is kept as the end of the key only */
    key_size = strlen(m->ns) + strlen(name) + 2;
    m->key = k8s_key(xmalloc(key_size), key_size, m->ns, name);
    /* its value does not matter: that it is set does */
    if (json_object_get(md, "deletionTimestamp") &&
        !json_is_null(json_object_get(md, "deletionTimestamp")))
        o->flags |= K8S_F_DELETING;
    if (get_str(md, "creationTimestamp", "metadata.", &ts, err) ||
        get_kv(md, "annotations", "metadata.", k8s_annotation_read, &m->annotations,
               &n_annotations, err))
        goto fail;
    /* the API server allows 256 KiB of annotations: far fewer than this */
    if (n_annotations > UINT16_MAX) {
        kv_free(m->annotations, n_annotations);
        m->annotations = NULL;
        errmsg_set(err, "metadata.annotations: more than %u that Portico reads", UINT16_MAX);
        goto fail;
    }
    o->n_annotations = (uint16_t)n_annotations;
    /* checked, not kept: an EndpointSlice reads its one label itself */
    if (get_kv(md, "labels", "metadata.", keep_none, &labels, &n_labels, err))
        goto fail;
    if (ts && parse_time(ts, &created)) {
        errmsg_set(err, "metadata.creationTimestamp: not an RFC 3339 time");
        goto fail;
    }
    /* only an order between objects: earlier than 1970 counts as absent */
    o->created = created < 0 ? 0 : created > UINT32_MAX ? UINT32_MAX : (uint32_t)created;
    free(name);
    free(ts);
    return 0;
fail:
    free(name);
    free(ts);
    return -EINVAL;
}

/* ====== Ingress ====== */

static int decode_ing_backend(json_t *be, const char *path, struct k8s_ingress_backend *out,
                              char **err)
{
    json_t *svc, *port, *res;
    char p[256];

    if (get_typed(be, "resource", path, false, &res, err) ||
        get_typed(be, "service", path, false, &svc, err))
        return -EINVAL;
    if (res)
        return 0; /* no service name says it */
    if (!svc) {
        errmsg_set(err, "%sservice: missing", path);
        return -EINVAL;
    }
    snprintf(p, sizeof(p), "%sservice.", path);
    if (get_str(svc, "name", p, &out->svc, err) || get_typed(svc, "port", p, false, &port, err))
        return -EINVAL;
    if (!out->svc || !*out->svc) {
        errmsg_set(err, "%sname: missing", p);
        return -EINVAL;
    }
    if (!port) {
        errmsg_set(err, "%sport: missing", p);
        return -EINVAL;
    }
    snprintf(p, sizeof(p), "%sservice.port.", path);
    if (get_str(port, "name", p, &out->port_name, err) ||
        get_int(port, "number", p, 1, 65535, &out->port_num, err))
        return -EINVAL;
    if (out->port_name && !*out->port_name)
        FREE_NULL(out->port_name);
    if (!out->port_name == !out->port_num) {
        errmsg_set(err, "%.*s: exactly one of name or number is required", (int)strlen(p) - 1, p);
        return -EINVAL;
    }
    return 0;
}

/* status.loadBalancer.ingress of an Ingress, as k8s_lb_hash(): kept only
 * to be compared with what Portico would publish there (--publish-service).
 * Routing does not depend on it: what is not as the API defines it counts
 * as an entry without address, never as an error. */
static uint32_t decode_lb_status(json_t *obj)
{
    json_t *list = json_object_get(json_object_get(json_object_get(obj, "status"),
                                                   "loadBalancer"),
                                   "ingress"), *v;
    size_t i, n = json_array_size(list);
    struct k8s_lb_addr *a;
    uint32_t h;

    if (!n)
        return 0;
    a = xcalloc(n, sizeof(*a));
    json_array_foreach(list, i, v)
    {
        const char *ip = json_string_value(json_object_get(v, "ip"));
        const char *host = json_string_value(json_object_get(v, "hostname"));

        a[i].ip = ip ? ip : "";
        a[i].hostname = host ? host : "";
    }
    h = k8s_lb_hash(a, n);
    free(a);
    return h;
}

static int decode_ingress(json_t *obj, struct k8s_ingress *ing, char **err)
{
    json_t *spec, *rules, *tls, *defbe, *v;
    size_t i;
    char p[256];

    ing->lb_status = decode_lb_status(obj);
    if (get_typed(obj, "spec", "", false, &spec, err))
        return -EINVAL;
    if (!spec)
        return 0;
    if (get_str(spec, "ingressClassName", "spec.", &ing->class_name, err) ||
        get_typed(spec, "defaultBackend", "spec.", false, &defbe, err) ||
        get_typed(spec, "rules", "spec.", true, &rules, err) ||
        get_typed(spec, "tls", "spec.", true, &tls, err))
        return -EINVAL;
    if (defbe) {
        ing->default_backend = xcalloc(1, sizeof(*ing->default_backend));
        if (decode_ing_backend(defbe, "spec.defaultBackend.", ing->default_backend, err))
            return -EINVAL;
    }
    if (rules) {
        ing->rules = xcalloc(json_array_size(rules) + 1, sizeof(*ing->rules));
        json_array_foreach(rules, i, v)
        {
            struct k8s_ingress_rule *r = &ing->rules[i];
            json_t *http, *paths, *pv;
            size_t j;

            ing->n_rules = i + 1;
            snprintf(p, sizeof(p), "spec.rules[%zu].", i);
            if (!json_is_object(v)) {
                errmsg_set(err, "spec.rules[%zu]: must be an object", i);
                return -EINVAL;
            }
            if (get_str(v, "host", p, &r->host, err) ||
                get_typed(v, "http", p, false, &http, err))
                return -EINVAL;
            if (r->host && !*r->host)
                FREE_NULL(r->host);
            if (!http)
                continue;
            snprintf(p, sizeof(p), "spec.rules[%zu].http.", i);
            if (get_typed(http, "paths", p, true, &paths, err))
                return -EINVAL;
            if (!paths)
                continue;
            r->paths = xcalloc(json_array_size(paths) + 1, sizeof(*r->paths));
            json_array_foreach(paths, j, pv)
            {
                struct k8s_ingress_path *ip = &r->paths[j];
                struct k8s_ingress_backend ib = {0};
                json_t *be;
                char *type = NULL;
                int bad;

                r->n_paths = j + 1;
                snprintf(p, sizeof(p), "spec.rules[%zu].http.paths[%zu].", i, j);
                if (!json_is_object(pv)) {
                    errmsg_set(err, "spec.rules[%zu].http.paths[%zu]: must be an object", i, j);
                    return -EINVAL;
                }
                if (get_str(pv, "path", p, &ip->path, err) ||
                    get_str(pv, "pathType", p, &type, err) ||
                    get_typed(pv, "backend", p, false, &be, err)) {
                    free(type);
                    return -EINVAL;
                }
                if (!ip->path)
                    ip->path = xstrdup("");
                if (!type || !strcmp(type, "ImplementationSpecific")) {
                    ip->type = K8S_PATH_IMPL;
                } else if (!strcmp(type, "Exact")) {
                    ip->type = K8S_PATH_EXACT;
                } else if (!strcmp(type, "Prefix")) {
                    ip->type = K8S_PATH_PREFIX;
                } else {
                    errmsg_set(err, "%spathType: unsupported value \"%s\" (Exact, Prefix or "
                                    "ImplementationSpecific)", p, type);
                    free(type);
                    return -EINVAL;
                }
                free(type);
                if (!be) {
                    errmsg_set(err, "%sbackend: missing", p);
                    return -EINVAL;
                }
                snprintf(p, sizeof(p), "spec.rules[%zu].http.paths[%zu].backend.", i, j);
                bad = decode_ing_backend(be, p, &ib, err);
                /* the path owns what was read, even on error */
                ip->svc = ib.svc;
                ip->port_name = ib.port_name;
                ip->port_num = ib.port_num;
                if (bad)
                    return -EINVAL;
            }
        }
    }
    if (tls) {
        ing->tls = xcalloc(json_array_size(tls) + 1, sizeof(*ing->tls));
        json_array_foreach(tls, i, v)
        {
            struct k8s_ingress_tls *t = &ing->tls[i];
            json_t *hosts, *h;
            size_t j;

            ing->n_tls = i + 1;
            snprintf(p, sizeof(p), "spec.tls[%zu].", i);
            if (!json_is_object(v)) {
                errmsg_set(err, "spec.tls[%zu]: must be an object", i);
                return -EINVAL;
            }
            if (get_str(v, "secretName", p, &t->secret, err) ||
                get_typed(v, "hosts", p, true, &hosts, err))
                return -EINVAL;
            if (!hosts)
                continue;
            t->hosts = xcalloc(json_array_size(hosts) + 1, sizeof(*t->hosts));
            json_array_foreach(hosts, j, h)
            {
                if (!json_is_string(h) || strlen(json_string_value(h)) != json_string_length(h)) {
                    errmsg_set(err, "spec.tls[%zu].hosts[%zu]: must be a string", i, j);
                    return -EINVAL;
                }
                t->hosts[t->n_hosts++] = xstrdup(json_string_value(h));
            }
        }
    }
    return 0;
}

/* ====== Service, EndpointSlice ====== */

static int decode_service(json_t *obj, struct k8s_service *svc, char **err)
{
    json_t *spec, *ports, *v;
    char p[128], *type;
    size_t i;

    if (get_typed(obj, "spec", "", false, &spec, err))
        return -EINVAL;
    if (!spec)
        return 0;
    /* fields no build reads are checked, not kept: 30,000 objects at scale */
    if (get_str(spec, "type", "spec.", &type, err))
        return -EINVAL;
    svc->external_name = type && !strcmp(type, "ExternalName");
    free(type);
    if (get_str(spec, "externalName", "spec.", NULL, err) ||
        get_typed(spec, "ports", "spec.", true, &ports, err))
        return -EINVAL;
    if (!ports)
        return 0;
    svc->ports = xcalloc(json_array_size(ports) + 1, sizeof(*svc->ports));
    json_array_foreach(ports, i, v)
    {
        struct k8s_service_port *sp = &svc->ports[i];
        json_t *tp;

        svc->n_ports = i + 1;
        snprintf(p, sizeof(p), "spec.ports[%zu].", i);
        if (!json_is_object(v)) {
            errmsg_set(err, "spec.ports[%zu]: must be an object", i);
            return -EINVAL;
        }
        if (get_str(v, "name", p, &sp->name, err) || get_str(v, "protocol", p, NULL, err) ||
            get_int(v, "port", p, 1, 65535, &sp->port, err))
            return -EINVAL;
        if (!sp->name)
            sp->name = xstrdup("");
        if (!sp->port) {
            errmsg_set(err, "%sport: missing", p);
            return -EINVAL;
        }
        /* the EndpointSlices say where it leads */
        tp = json_object_get(v, "targetPort");
        if (json_is_string(tp) ? get_str(v, "targetPort", p, NULL, err)
                               : get_int(v, "targetPort", p, 1, 65535, NULL, err))
            return -EINVAL;
    }
    return 0;
}

static int decode_slice(json_t *obj, struct k8s_endpoint_slice *es, char **err)
{
    json_t *ports, *eps, *v;
    char *at = NULL;
    size_t i, len, n_addrs = 0;
    char p[128];

    /* decode_meta() checked that labels is an object of strings */
    if (get_str(json_object_get(json_object_get(obj, "metadata"), "labels"),
                "kubernetes.io/service-name", "metadata.labels.", &es->service, err) ||
        get_str(obj, "addressType", "", &at, err) ||
        get_typed(obj, "ports", "", true, &ports, err) ||
        get_typed(obj, "endpoints", "", true, &eps, err)) {
        free(at);
        return -EINVAL;
    }
    if (!at || !strcmp(at, "IPv4")) {
        es->addr_type = K8S_ADDR_IPV4;
    } else if (!strcmp(at, "IPv6")) {
        es->addr_type = K8S_ADDR_IPV6;
    } else if (!strcmp(at, "FQDN")) {
        es->addr_type = K8S_ADDR_FQDN;
    } else {
        errmsg_set(err, "addressType: unsupported value \"%s\"", at);
        free(at);
        return -EINVAL;
    }
    free(at);
    len = K8S_ADDR_LEN(es->addr_type);
    if (ports && json_array_size(ports) > UINT16_MAX) {
        errmsg_set(err, "ports: more than %u", UINT16_MAX);
        return -EINVAL;
    }
    if (ports) {
        es->ports = xcalloc(json_array_size(ports) + 1, sizeof(*es->ports));
        json_array_foreach(ports, i, v)
        {
            struct k8s_slice_port *sp = &es->ports[i];

            es->n_ports = (uint16_t)(i + 1);
            snprintf(p, sizeof(p), "ports[%zu].", i);
            if (!json_is_object(v)) {
                errmsg_set(err, "ports[%zu]: must be an object", i);
                return -EINVAL;
            }
            if (get_str(v, "name", p, &sp->name, err) || get_str(v, "protocol", p, NULL, err) ||
                get_int(v, "port", p, 1, 65535, &sp->port, err))
                return -EINVAL;
            if (!sp->name)
                sp->name = xstrdup("");
        }
    }
    if (!eps)
        return 0;
    es->endpoints = xcalloc(json_array_size(eps) + 1, sizeof(*es->endpoints));
    /* room for every address of every endpoint, in one array */
    json_array_foreach(eps, i, v)
        n_addrs += json_array_size(json_object_get(v, "addresses"));
    if (len)
        es->addrs = xcalloc(n_addrs + 1, len);
    n_addrs = 0;
    json_array_foreach(eps, i, v)
    {
        struct k8s_endpoint *ep = &es->endpoints[i];
        json_t *addrs, *cond, *a;
        size_t j;

        es->n_endpoints = i + 1;
        ep->addr_at = (uint32_t)n_addrs;
        snprintf(p, sizeof(p), "endpoints[%zu].", i);
        if (!json_is_object(v)) {
            errmsg_set(err, "endpoints[%zu]: must be an object", i);
            return -EINVAL;
        }
        if (get_typed(v, "addresses", p, true, &addrs, err) ||
            get_typed(v, "conditions", p, false, &cond, err))
            return -EINVAL;
        ep->ready = true;
        ep->serving = true;
        ep->terminating = false;
        if (cond) {
            json_t *srv = json_object_get(cond, "serving");

            snprintf(p, sizeof(p), "endpoints[%zu].conditions.", i);
            if (get_bool(cond, "ready", p, true, &ep->ready, err) ||
                get_bool(cond, "serving", p, ep->ready, &ep->serving, err) ||
                get_bool(cond, "terminating", p, false, &ep->terminating, err))
                return -EINVAL;
            if (!srv || json_is_null(srv))
                ep->serving = ep->ready;
        }
        if (!addrs)
            continue;
        if (json_array_size(addrs) > UINT8_MAX) {
            errmsg_set(err, "endpoints[%zu].addresses: more than %u", i, UINT8_MAX);
            return -EINVAL;
        }
        json_array_foreach(addrs, j, a)
        {
            if (!json_is_string(a) || json_string_length(a) > 255 ||
                strlen(json_string_value(a)) != json_string_length(a)) {
                errmsg_set(err, "endpoints[%zu].addresses[%zu]: must be an address string", i,
                           j);
                return -EINVAL;
            }
            /* what HAProxy could not connect to is no endpoint of Portico's */
            if (len && inet_pton(len == 16 ? AF_INET6 : AF_INET, json_string_value(a),
                                 es->addrs + n_addrs * len) == 1) {
                ep->n_addresses++;
                n_addrs++;
            }
        }
    }
    return 0;
}

/* ====== Lists ====== */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* <p> at a string's opening quote: the byte after its closing one, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* <p> at a value: the byte after it, or NULL. Only its extent is checked
 * (strings, and brackets closed in order up to 64 deep): the values this
 * skips are not read. */
static const char *skip_value(const char *p, const char *end)
{
    uint64_t objects = 0; /* a bit a level: 1 in an object, 0 in an array */
    int depth = 0;

    do {
        if (p >= end)
            return NULL;
        if (*p == '"') {
            p = skip_string(p, end);
            if (!p)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[') {
            if (depth++ == 64)
                return NULL;
            objects = objects << 1 | (*p == '{');
        } else if (*p == '}' || *p == ']') {
            if (!depth-- || (*p == '}') != (objects & 1))
                return NULL;
            objects >>= 1;
        } else if (!depth) {
            /* a number or a literal ends where a delimiter starts */
            while (p < end && !strchr(",}] \t\r\n", *p))
                p++;
            return p;
        }
        p++;
    } while (depth);
    return p;
}

/* Parses the object or array at <p> into *<out>; returns the byte after it. */
static const char *load_value(const char *p, const char *end, json_t **out)
{
    json_error_t e;

    if (p >= end || (*p != '{' && *p != '['))
        return NULL;
    *out = json_loadb(p, (size_t)(end - p), JSON_DISABLE_EOF_CHECK, &e);
    /* without the EOF check, the position is where the value ended */
    return *out ? p + e.position : NULL;
}

static const char *read_items(const char *p, const char *end, decode_item_fn *fn, void *arg)
{
    p = skip_ws(p, end);
    if (p >= end || *p++ != '[')
        return NULL;
    p = skip_ws(p, end);
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        json_t *item;

        p = load_value(skip_ws(p, end), end, &item);
        if (!p)
            return NULL;
        fn(item, arg);
        json_decref(item);
        p = skip_ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == ']')
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

/* The list's own JSON is only walked; its metadata and each item are parsed
 * one at a time. */
int decode_list(const char *text, size_t len, decode_item_fn *fn, void *arg, json_t **metadata)
{
    const char *p = skip_ws(text, text + len), *end = text + len;
    bool items = false;

    *metadata = NULL;
    if (p >= end || *p++ != '{')
        return -EINVAL;
    for (p = skip_ws(p, end);;) {
        const char *key = p, *key_end;

        if (p >= end || *p != '"' || !(key_end = skip_string(p, end)))
            goto bad;
        p = skip_ws(key_end, end);
        if (p >= end || *p++ != ':')
            goto bad;
        p = skip_ws(p, end);
        if (key_end - key == 7 && !memcmp(key, "\"items\"", 7) && !items) {
            p = read_items(p, end, fn, arg);
            items = true;
        } else if (key_end - key == 10 && !memcmp(key, "\"metadata\"", 10) && !*metadata) {
            p = load_value(p, end, metadata);
        } else {
            p = skip_value(p, end);
        }
        if (!p)
            goto bad;
        p = skip_ws(p, end);
        if (p < end && *p == '}') {
            /* a list without items is no list: it must not empty the store */
            if (!items || skip_ws(p + 1, end) != end)
                goto bad;
            return 0;
        }
        if (p >= end || *p++ != ',')
            goto bad;
        p = skip_ws(p, end);
    }
bad:
    json_decref(*metadata);
    *metadata = NULL;
    return -EINVAL;
}

/* ====== Secret, ConfigMap ====== */

int decode_base64(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    static signed char map[256];
    static bool ready;
    unsigned char *o;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t n = 0;

    if (!ready) {
        const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

        memset(map, -1, sizeof(map));
        for (int i = 0; i < 64; i++)
            map[(unsigned char)alpha[i]] = (signed char)i;
        ready = true;
    }
    o = xmalloc(len / 4 * 3 + 4);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || map[c] < 0)
            goto fail;
        acc = (acc << 6) | (uint32_t)map[c];
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (unsigned char)(acc >> bits);
        }
    }
    if (pad > 2 || bits >= 6)
        goto fail;
    *out = o;
    *outlen = n;
    return 0;
fail:
    free(o);
    return -EINVAL;
}

static int secret_field(json_t *data, json_t *sdata, const char *key, unsigned char **out,
                        size_t *len, char **err)
{
    json_t *v = sdata ? json_object_get(sdata, key) : NULL;

    if (v) {
        if (!json_is_string(v)) {
            errmsg_set(err, "stringData[\"%s\"]: must be a string", key);
            return -EINVAL;
        }
        *len = json_string_length(v);
        *out = (unsigned char *)xstrndup(json_string_value(v), *len);
        return 0;
    }
    v = data ? json_object_get(data, key) : NULL;
    if (!v)
        return 0;
    if (!json_is_string(v) ||
        decode_base64(json_string_value(v), json_string_length(v), out, len)) {
        errmsg_set(err, "data[\"%s\"]: must be base64", key);
        return -EINVAL;
    }
    return 0;
}

/* What a Secret may hold for basic authentication (model/build.c reads it):
 * an htpasswd file under "auth", or one crypt(3) hash per user. Only short
 * text is kept, so that the many Secrets of other uses cost next to nothing
 * until the data of those nothing names is dropped (store_drop_data()). */
#define SECRET_AUTH_FILE_MAX (64 * 1024)
#define SECRET_HASH_MAX 512
#define SECRET_USERS_MAX 1000

static bool keep_user_entry(const char *key, unsigned char *val, size_t *len)
{
    bool file = !strcmp(key, "auth");

    if (!strcmp(key, "tls.crt") || !strcmp(key, "tls.key") || !strcmp(key, "ca.crt"))
        return false;
    /* the newline `echo HASH | base64` leaves */
    if (!file && *len && val[*len - 1] == '\n')
        (*len)--;
    if (!file && *len && val[*len - 1] == '\r')
        (*len)--;
    if (*len > (file ? SECRET_AUTH_FILE_MAX : SECRET_HASH_MAX))
        return false;
    for (size_t i = 0; i < *len; i++) {
        if (!val[i] || (!file && (val[i] < 0x20 || val[i] == 0x7f)))
            return false;
    }
    return true;
}

/* Keeps the entries of <data> (base64) and <sdata> (text, wins) that
 * keep_user_entry() accepts, into <s>'s users. */
static void decode_secret_users(json_t *data, json_t *sdata, struct k8s_secret *s)
{
    json_t *maps[2] = {sdata, data}, *v;
    size_t n = 0, n_first = 0,
           max = (data ? json_object_size(data) : 0) + (sdata ? json_object_size(sdata) : 0);
    struct k8s_kv *users;
    const char *k;

    if (!max)
        return;
    users = xcalloc(max, sizeof(*users));
    for (int m = 0; m < 2; m++) {
        json_object_foreach(maps[m], k, v)
        {
            unsigned char *val;
            size_t len;
            bool seen = false;

            if (!json_is_string(v))
                continue; /* secret_field() names it when it matters */
            /* a key of data also in stringData: the latter's (an object's
             * own keys are unique) */
            for (size_t i = 0; m == 1 && i < n_first && !seen; i++)
                seen = !strcmp(users[i].key, k);
            if (seen || n == SECRET_USERS_MAX)
                continue;
            if (m == 0) {
                len = json_string_length(v);
                val = (unsigned char *)xstrndup(json_string_value(v), len);
            } else if (decode_base64(json_string_value(v), json_string_length(v), &val, &len)) {
                continue;
            }
            if (keep_user_entry(k, val, &len)) {
                users[n].key = xstrdup(k);
                users[n].val = xstrndup((char *)val, len);
                n++;
            }
            free(val);
        }
        n_first = n;
    }
    if (!n) {
        free(users);
        return;
    }
    qsort(users, n, sizeof(*users), cmp_kv);
    s->users = users;
    s->n_users = (uint32_t)n;
}

static int decode_secret(json_t *obj, struct k8s_secret *s, char **err)
{
    json_t *data, *sdata;

    if (get_str(obj, "type", "", &s->type, err) ||
        get_typed(obj, "data", "", false, &data, err) ||
        get_typed(obj, "stringData", "", false, &sdata, err))
        return -EINVAL;
    if (!s->type)
        s->type = xstrdup("Opaque");
    if (secret_field(data, sdata, "tls.crt", &s->crt, &s->crt_len, err) ||
        secret_field(data, sdata, "tls.key", &s->key, &s->key_len, err))
        return -EINVAL;
    {
        /* ca.crt is read only for client-ca: a bad one is its problem there
         * (not usable), not the Secret's */
        char *ca_err = NULL;

        if (secret_field(data, sdata, "ca.crt", &s->ca, &s->ca_len, &ca_err)) {
            free(ca_err);
            s->ca = NULL;
            s->ca_len = 0;
        }
    }
    decode_secret_users(data, sdata, s);
    s->data_hash = hash_fnv1a_more(hash_fnv1a(s->crt ? s->crt : (const void *)"", s->crt_len),
                                   s->key ? s->key : (const void *)"", s->key_len);
    return 0;
}

static int decode_configmap(json_t *obj, struct k8s_configmap *cm, char **err)
{
    return get_kv(obj, "data", "", NULL, &cm->data, &cm->n_data, err);
}

/* ====== Entry point ====== */

static const struct {
    const char *api; /* apiVersion */
    const char *kind;
    enum k8s_kind k;
    bool namespaced;
} kinds[] = {
    {"networking.k8s.io/v1", "Ingress", K8S_INGRESS, true},
    {"networking.k8s.io/v1", "IngressClass", K8S_INGRESS_CLASS, false},
    {"v1", "Service", K8S_SERVICE, true},
    {"discovery.k8s.io/v1", "EndpointSlice", K8S_ENDPOINT_SLICE, true},
    {"v1", "Secret", K8S_SECRET, true},
    {"v1", "ConfigMap", K8S_CONFIGMAP, true},
    {"v1", "Namespace", K8S_NAMESPACE, false},
};

enum decode_result decode_object(json_t *obj, struct k8s_obj **out, char **ref, char **err)
{
    const char *api, *kind;
    struct k8s_obj *o;
    size_t i;
    int ret;

    *out = NULL;
    if (!json_is_object(obj)) {
        errmsg_set(err, "not an object");
        return DECODE_ERROR;
    }
    api = json_string_value(json_object_get(obj, "apiVersion"));
    kind = json_string_value(json_object_get(obj, "kind"));
    if (!kind || !api) {
        errmsg_set(err, "%s: missing", kind ? "apiVersion" : "kind");
        return DECODE_ERROR;
    }
    for (i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (!strcmp(kinds[i].kind, kind) && !strcmp(kinds[i].api, api))
            break;
    }
    if (i == ARRAY_SIZE(kinds))
        return DECODE_IGNORED;
    o = xcalloc(1, k8s_obj_size(kinds[i].k));
    o->kind = kinds[i].k;
    ret = decode_meta(obj, o, kinds[i].namespaced, err);
    if (ret == 0) {
        switch (o->kind) {
        case K8S_INGRESS:
            ret = decode_ingress(obj, (struct k8s_ingress *)o, err);
            break;
        case K8S_INGRESS_CLASS: {
            json_t *spec = json_object_get(obj, "spec");

            ret = get_str(json_is_object(spec) ? spec : obj, "controller", "spec.",
                          &((struct k8s_ingress_class *)o)->controller, err);
            break;
        }
        case K8S_SERVICE:
            ret = decode_service(obj, (struct k8s_service *)o, err);
            break;
        case K8S_ENDPOINT_SLICE:
            ret = decode_slice(obj, (struct k8s_endpoint_slice *)o, err);
            break;
        case K8S_SECRET:
            ret = decode_secret(obj, (struct k8s_secret *)o, err);
            break;
        case K8S_CONFIGMAP:
            ret = decode_configmap(obj, (struct k8s_configmap *)o, err);
            break;
        case K8S_NAMESPACE: {
            const char *phase = json_string_value(
                json_object_get(json_object_get(obj, "status"), "phase"));

            ((struct k8s_namespace *)o)->terminating =
                (o->flags & K8S_F_DELETING) || (phase && !strcmp(phase, "Terminating"));
            break;
        }
        case K8S_KIND_COUNT:
            break;
        }
    }
    if (ret != 0) {
        /* "kind/ns/name", or "kind/name" cluster-scoped */
        if (ref && o->meta.key)
            *ref = xasprintf("%s/%s", k8s_kind_name(o->kind),
                             kinds[i].namespaced ? o->meta.key : k8s_name(&o->meta));
        k8s_obj_free(o);
        return DECODE_ERROR;
    }
    *out = k8s_obj_pack(o);
    return DECODE_OK;
}
