/* SPDX-License-Identifier: Apache-2.0 */
/* A model patched for EndpointSlice changes: the servers of the backends of
 * the Services whose endpoints changed are resolved again, and everything
 * else is shared with the build they come from. A change of endpoints, the
 * commonest in a cluster, then costs what its own backends cost, not a build
 * of every Ingress. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/validate.h"
#include "store/objects.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Backends patched since their build, past which a build is made again: each
 * patch copies the servers of all of them. */
#define PATCH_MAX 256

static bool has_hash(const uint64_t *v, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == h)
            return true;
    }
    return false;
}

/* Splits backend name <name>, "<ns>_<svc>_<port>" and perhaps "_<keys' hash>"
 * (ensure_backend()), into <ns>, <svc> and <port>: none of them holds a '_'.
 * False when it is not such a name. */
static bool split_name(const char *name, char ns[64], char svc[64], char port[64])
{
    char *out[3] = {ns, svc, port};

    for (int i = 0; i < 3; i++) {
        size_t len = strcspn(name, "_");

        if (!len || len > 63 || (i < 2 && name[len] != '_'))
            return false;
        memcpy(out[i], name, len);
        out[i][len] = '\0';
        name += len + (name[len] == '_');
    }
    return true;
}

/* The name of the port of Service <ns>/<svc> that backend name part <port>
 * stands for: its name, or "" for its only port, unnamed, of that number.
 * NULL when the Service or port is not there. */
static const char *port_name(const struct store *store, const char *ns, const char *svc,
                             const char *port)
{
    const struct k8s_service *s = (const void *)store_get(store, K8S_SERVICE, ns, svc);
    uint32_t num = 0;
    bool numeric = !str_to_u32(port, 1, 65535, &num);

    for (size_t i = 0; s && i < s->n_ports; i++) {
        const struct k8s_service_port *sp = &s->ports[i];

        if (!strcmp(sp->name, port) && valid_port_name(sp->name))
            return sp->name;
        if (!*sp->name && numeric && sp->port == (int32_t)num)
            return "";
    }
    return NULL;
}

/* The servers of port <port> (its name) of Service <ns>/<svc>, in <a>. */
static const unsigned char *servers_of(struct arena *a, const struct k8s_obj **slices,
                                       size_t n_slices, const char *ns, const char *svc,
                                       const char *port, uint32_t *n, uint32_t *n_v4)
{
    const struct k8s_obj **mine = xmalloc((n_slices + 1) * sizeof(*mine));
    const unsigned char *packed;
    size_t k = 0;

    for (size_t i = 0; i < n_slices; i++) {
        const struct k8s_endpoint_slice *es = (const void *)slices[i];

        if (es->service && !strcmp(es->service, svc) && !strcmp(es->obj.meta.ns, ns))
            mine[k++] = slices[i];
    }
    packed = model_endpoint_servers(a, mine, k, port, n, n_v4);
    free(mine);
    return packed;
}

static const unsigned char *copy_servers(struct arena *a, const unsigned char *packed,
                                         uint32_t n, uint32_t n_v4)
{
    return packed ? arena_memdup(a, packed, 2 * (size_t)n + 4 * (size_t)n_v4 +
                                                16 * (size_t)(n - n_v4))
                  : NULL;
}

/* Resolves the servers of <be> again, or its backups when <backups>. */
static bool resolve(struct arena *a, struct model_backend *be, bool backups,
                    const struct store *store, const struct k8s_obj **slices, size_t n_slices)
{
    char ns[64], svc[64], port[64];
    const char *pn;

    if (!split_name(be->origin ? be->origin : be->name, ns, svc, port))
        return false;
    if (backups) {
        /* fallback_servers(): the first port of the default-backend's Service */
        const struct k8s_service *s =
            (const void *)store_get(store, K8S_SERVICE, ns, be->opts->nginx_default_backend);

        if (!s || !s->n_ports || s->external_name ||
            (*s->ports[0].name && !valid_port_name(s->ports[0].name)))
            return true; /* none before either: the Service is as it was */
        be->backups = servers_of(a, slices, n_slices, ns, be->opts->nginx_default_backend,
                                 s->ports[0].name, &be->n_backups, &be->n_backups_v4);
        return true;
    }
    if (k8s_lookup_hash(K8S_SERVICE, ns, svc) != be->svc_hash ||
        !(pn = port_name(store, ns, svc, port)))
        return false;
    be->servers = servers_of(a, slices, n_slices, ns, svc, pn, &be->n_servers, &be->n_v4);
    return true;
}

/* The hash of the Service of <be>'s backup servers, or 0. */
static uint64_t backup_hash(const struct model_backend *be)
{
    char ns[64], svc[64], port[64];

    if (!be->opts || !be->opts->nginx_default_backend ||
        !split_name(be->origin ? be->origin : be->name, ns, svc, port))
        return 0;
    return k8s_lookup_hash(K8S_SERVICE, ns, be->opts->nginx_default_backend);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

struct model *model_patch(struct model *m, const struct store *store, const uint64_t *svcs,
                          size_t n_svcs)
{
    struct model *root = m->base ? m->base : m, *p;
    const struct k8s_obj **slices = NULL;
    uint32_t *idx = NULL;
    size_t n_idx = 0, cap = 0, n_slices;
    bool ok = true;

    for (size_t i = 0; i < m->n_backends; i++) {
        const struct model_backend *be = &m->backends[i];

        if (!has_hash(svcs, n_svcs, be->svc_hash) && !has_hash(svcs, n_svcs, backup_hash(be)))
            continue;
        if (be->listen_port) { /* its Service is the tcp-services ConfigMap's to say */
            free(idx);
            return NULL;
        }
        idx = xgrow(idx, &cap, n_idx + 1, sizeof(*idx));
        idx[n_idx++] = (uint32_t)i;
    }
    if (!n_idx)
        return model_ref(m);
    /* with those patched before, whose servers are in <m>'s arena */
    if (m->base) {
        idx = xgrow(idx, &cap, n_idx + m->n_patched, sizeof(*idx));
        memcpy(idx + n_idx, m->patched, m->n_patched * sizeof(*idx));
        n_idx += m->n_patched;
    }
    qsort(idx, n_idx, sizeof(*idx), cmp_u32);
    cap = 0;
    for (size_t i = 0; i < n_idx; i++) {
        if (!cap || idx[cap - 1] != idx[i])
            idx[cap++] = idx[i];
    }
    n_idx = cap;
    if (n_idx > PATCH_MAX) {
        free(idx);
        return NULL;
    }

    p = xmalloc(sizeof(*p));
    *p = *m; /* the rest is the build's */
    arena_init(&p->arena);
    p->refs = 1;
    p->base = model_ref(root);
    p->patched = idx;
    p->n_patched = n_idx;
    memset(&p->lookups, 0, sizeof(p->lookups));
    p->wanted = NULL;
    p->n_wanted = 0;
    p->backends = xmalloc((m->n_backends + 1) * sizeof(*p->backends));
    memcpy(p->backends, m->backends, m->n_backends * sizeof(*p->backends));
    n_slices = store_list_unsorted(store, K8S_ENDPOINT_SLICE, &slices);
    for (size_t i = 0; ok && i < n_idx; i++) {
        struct model_backend *be = &p->backends[idx[i]];

        be->servers = copy_servers(&p->arena, be->servers, be->n_servers, be->n_v4);
        be->backups = copy_servers(&p->arena, be->backups, be->n_backups, be->n_backups_v4);
        if (has_hash(svcs, n_svcs, be->svc_hash))
            ok = resolve(&p->arena, be, false, store, slices, n_slices);
        if (ok && has_hash(svcs, n_svcs, backup_hash(be)))
            ok = resolve(&p->arena, be, true, store, slices, n_slices);
    }
    free(slices);
    if (!ok) {
        model_unref(p);
        return NULL;
    }
    return p;
}
