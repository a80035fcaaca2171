/* SPDX-License-Identifier: Apache-2.0 */
/* A model patched for EndpointSlice changes: the servers of the backends of
 * the Services whose endpoints changed are resolved again, and everything
 * else is shared with the build they come from. A change of endpoints, the
 * commonest in a cluster, then costs what its own backends cost, not a build
 * of every Ingress. Or rerouted for Ingress changes: the routes of the hosts
 * they touch built again and spliced into the maps, certificates and issues
 * of the running model (model_reroute()). Or given the new certificates of
 * rotated TLS Secrets (model_recert()). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/tls.h"
#include "model/validate.h"
#include "store/objects.h"
#include "store/store.h"
#include "util/hmap.h"
#include "util/shared.h"
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

    /* an ExternalName Service has no endpoints: a build says so */
    if (s && s->external_name)
        return NULL;
    for (size_t i = 0; s && i < s->n_ports; i++) {
        const struct k8s_service_port *sp = &s->ports[i];

        if (!strcmp(sp->name, port) && valid_port_name(sp->name))
            return sp->name;
        if (!*sp->name && numeric && sp->port == (int32_t)num)
            return "";
    }
    return NULL;
}

/* The servers of port <port> (its name) of Service <ns>/<svc>, in <a>: its
 * EndpointSlices are those the store indexes under its name, in <ns>. */
static const unsigned char *servers_of(struct arena *a, const struct store *store, const char *ns,
                                       const char *svc, const char *port, uint32_t *n,
                                       uint32_t *n_v4)
{
    struct store_found f;
    const struct k8s_obj **mine;
    const unsigned char *packed;
    size_t k = 0;

    store_find(store, K8S_ENDPOINT_SLICE, svc, &f);
    mine = xmalloc((f.n + 1) * sizeof(*mine));
    for (size_t i = 0; i < f.n; i++) {
        if (!strcmp(f.v[i]->meta.ns, ns))
            mine[k++] = f.v[i];
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
                    const struct store *store)
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
        be->backups = servers_of(a, store, ns, be->opts->nginx_default_backend,
                                 s->ports[0].name, &be->n_backups, &be->n_backups_v4);
        return true;
    }
    if (k8s_lookup_hash(K8S_SERVICE, ns, svc) != be->svc_hash ||
        !(pn = port_name(store, ns, svc, port)))
        return false;
    be->servers = servers_of(a, store, ns, svc, pn, &be->n_servers, &be->n_v4);
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

/* Whether <be> is one of the backends of build <root>, not a patch's copy. */
static bool in_store(const struct model *root, const struct model_backend *be)
{
    uintptr_t at = (uintptr_t)be, lo = (uintptr_t)root->backend_store;

    return at >= lo && at < lo + root->n_store * sizeof(*root->backend_store);
}

/* <p>'s backend <i>, a copy of its own in its arena once it changes it. */
static struct model_backend *own_backend(struct model *p, size_t i)
{
    if (in_store(p->base, p->backends[i]))
        p->backends[i] = arena_memdup(&p->arena, p->backends[i], sizeof(**p->backends));
    return p->backends[i];
}

/* A new patch of <m> (refs 1) that is <m> as it is: base is <m>'s build;
 * its arena, backends array and patched indexes are its own, the backends
 * <m> changed copied from <m>'s arena, with the servers of those patched
 * before; the arrays of maps, certificates and issues a reroute made, the
 * strings of reroutes and the parsed Secrets of model_recert() are held as
 * <m> holds them. */
static struct model *patch_of(struct model *m)
{
    struct model *root = m->base ? m->base : m, *p = xmalloc(sizeof(*p));

    *p = *m; /* the rest is the build's */
    arena_init(&p->arena);
    p->refs = 1;
    p->base = model_ref(root);
    for (int k = 0; k < MODEL_MAP_COUNT; k++) {
        if (p->maps[k] != root->maps[k])
            shared_ref(p->maps[k]);
    }
    if (p->certs != root->certs)
        shared_ref(p->certs);
    if (p->issues != root->issues)
        shared_ref(p->issues);
    shared_ref(p->strings);
    p->patched = xmalloc((m->n_patched + 1) * sizeof(*p->patched));
    if (m->n_patched)
        memcpy(p->patched, m->patched, m->n_patched * sizeof(*p->patched));
    memset(&p->lookups, 0, sizeof(p->lookups));
    /* a build's are its own; a patch's, those its certificates took since */
    p->n_held = m->base ? m->n_held : 0;
    p->held = xmalloc((p->n_held + 1) * sizeof(*p->held));
    for (size_t i = 0; i < p->n_held; i++) {
        p->held[i] = m->held[i];
        tls_entry_hold(p->held[i]);
    }
    p->wanted = NULL;
    p->n_wanted = 0;
    p->backend_store = NULL;
    p->n_store = 0;
    p->backends = xmalloc((m->n_backends + 1) * sizeof(*p->backends));
    memcpy(p->backends, m->backends, m->n_backends * sizeof(*p->backends));
    /* <m>'s own are in its arena, which <p> does not hold */
    for (size_t i = 0; m->base && i < m->n_backends; i++) {
        if (!in_store(root, p->backends[i]))
            p->backends[i] = arena_memdup(&p->arena, p->backends[i], sizeof(**p->backends));
    }
    for (size_t i = 0; i < m->n_patched; i++) {
        struct model_backend *be = p->backends[m->patched[i]];

        be->servers = copy_servers(&p->arena, be->servers, be->n_servers, be->n_v4);
        be->backups = copy_servers(&p->arena, be->backups, be->n_backups, be->n_backups_v4);
    }
    return p;
}

struct model *model_patch(struct model *m, const struct store *store, const uint64_t *svcs,
                          size_t n_svcs)
{
    struct model *p;
    uint32_t *idx = NULL;
    size_t n_idx = 0, cap = 0;
    bool ok = true;

    for (size_t i = 0; i < m->n_backends; i++) {
        const struct model_backend *be = m->backends[i];

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
    /* with those patched before */
    idx = xgrow(idx, &cap, n_idx + m->n_patched, sizeof(*idx));
    if (m->n_patched)
        memcpy(idx + n_idx, m->patched, m->n_patched * sizeof(*idx));
    n_idx += m->n_patched;
    qsort(idx, n_idx, sizeof(*idx), cmp_u32);
    cap = 0;
    for (size_t i = 0; i < n_idx; i++) {
        if (!cap || idx[cap - 1] != idx[i])
            idx[cap++] = idx[i];
    }
    if (cap > PATCH_MAX) {
        free(idx);
        return NULL;
    }
    p = patch_of(m);
    for (size_t i = 0; ok && i < cap; i++) {
        struct model_backend *be = own_backend(p, idx[i]);

        if (has_hash(svcs, n_svcs, be->svc_hash))
            ok = resolve(&p->arena, be, false, store);
        if (ok && has_hash(svcs, n_svcs, backup_hash(be)))
            ok = resolve(&p->arena, be, true, store);
    }
    free(p->patched);
    p->patched = idx;
    p->n_patched = cap;
    if (!ok) {
        model_unref(p);
        return NULL;
    }
    return p;
}

/* ====== Route changes ====== */

/* Ingresses a reroute builds again at most: the changed ones and those that
 * share a host with them. */
#define REROUTE_MAX 64
/* What the strings reroutes copied since the build may weigh, past which a
 * build is made again: they are kept until then (struct model's strings),
 * those of routes changed again too. */
#define REROUTE_ARENA_MAX (256u << 10)

/* Calls <fn> for each host whose routes Ingress <ing> makes, or may: its
 * rules' ("" for a rule without one), its TLS entries', and the words of
 * its server-alias annotations. Stops at the first call that returns true,
 * and returns true then. */
static bool each_host(const struct k8s_ingress *ing, bool (*fn)(void *, const char *), void *arg)
{
    for (size_t i = 0; i < ing->n_rules; i++) {
        if (fn(arg, ing->rules[i].host ? ing->rules[i].host : ""))
            return true;
    }
    for (size_t i = 0; i < ing->n_tls; i++) {
        for (size_t j = 0; j < ing->tls[i].n_hosts; j++) {
            if (fn(arg, ing->tls[i].hosts[j]))
                return true;
        }
    }
    for (size_t i = 0; i < ing->obj.n_annotations; i++) {
        const struct k8s_kv *a = &ing->obj.meta.annotations[i];

        if (!k8s_is_alias_key(a->key))
            continue;
        for (const char *p = a->val; *p;) {
            size_t len = strcspn(p, ", ");
            char word[256];

            if (len && len < sizeof(word)) {
                memcpy(word, p, len);
                word[len] = '\0';
                if (fn(arg, word))
                    return true;
            }
            p += len;
            p += strspn(p, ", ");
        }
    }
    return false;
}

/* The hosts of a reroute, and the Ingresses that name them. */
struct closure {
    const struct store *store;
    struct hmap hosts;               /* every host met (copies) */
    char **todo;                     /* those not looked up yet (copies) */
    size_t n_todo, cap_todo;
    struct hmap taken;               /* the Ingresses', by key (borrowed) */
    const struct k8s_obj **v;
    size_t n, cap;
};

static bool has_host(void *arg, const char *h)
{
    return hmap_get(&((struct closure *)arg)->hosts, h) != NULL;
}

/* Adds <h>, to be looked up; false, to go on. */
static bool put_host(void *arg, const char *h)
{
    struct closure *cl = arg;

    if (!hmap_get(&cl->hosts, h)) {
        hmap_put(&cl->hosts, h, (void *)1);
        cl->todo = xgrow(cl->todo, &cl->cap_todo, cl->n_todo + 1, sizeof(*cl->todo));
        cl->todo[cl->n_todo++] = xstrdup(h);
    }
    return false;
}

/* Takes Ingress <o> and its hosts, unless it was; false past REROUTE_MAX. */
static bool take(struct closure *cl, const struct k8s_obj *o)
{
    if (hmap_get(&cl->taken, o->meta.key))
        return true;
    if (cl->n == REROUTE_MAX)
        return false;
    hmap_put(&cl->taken, o->meta.key, (void *)o);
    cl->v = xgrow(cl->v, &cl->cap, cl->n + 1, sizeof(*cl->v));
    cl->v[cl->n++] = o;
    each_host((const struct k8s_ingress *)o, put_host, cl);
    return true;
}

/* Takes the Ingresses of the store that share a host with those met, and
 * theirs in turn, until none does: from the store's index of Ingresses by
 * host, and among those with aliases, whose words it does not index. False
 * past REROUTE_MAX. */
static bool close_over(struct closure *cl)
{
    struct store_found f;
    bool grew = true;

    while (grew) {
        while (cl->n_todo) {
            char *h = cl->todo[--cl->n_todo];
            bool ok = true;

            store_find(cl->store, K8S_INGRESS, h, &f);
            for (size_t i = 0; ok && i < f.n; i++)
                ok = take(cl, f.v[i]);
            free(h);
            if (!ok)
                return false;
        }
        grew = false;
        store_find(cl->store, K8S_INGRESS, K8S_WORD_ALIASES, &f);
        for (size_t i = 0; i < f.n; i++) {
            if (hmap_get(&cl->taken, f.v[i]->meta.key) ||
                !each_host((const struct k8s_ingress *)f.v[i], has_host, cl))
                continue;
            if (!take(cl, f.v[i]))
                return false;
            grew = true;
        }
    }
    return true;
}

/* The host of the key <key> of map <map>. */
static const char *key_host(enum model_map map, const char *key, char *buf, size_t size)
{
    size_t len;

    switch (map) {
    case MODEL_MAP_WILDCARDS: /* ".suffix" of "*.suffix" */
        snprintf(buf, size, "*%s", key);
        return buf;
    case MODEL_MAP_EXACT:
    case MODEL_MAP_PREFIX_EXACT:
    case MODEL_MAP_PREFIX:
    case MODEL_MAP_HOST_DEFAULT: /* "host/..." */
        len = strcspn(key, "/");
        snprintf(buf, size, "%.*s", (int)len, key);
        return buf;
    default:
        return key;
    }
}

/* The first of the <n> entries <v>, sorted, whose key is at least <key>. */
static size_t lower_bound(const struct model_entry *v, size_t n, const char *key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(v[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct range {
    size_t lo, hi;
};

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;

    return (x->lo > y->lo) - (x->lo < y->lo);
}

/* The entries of the <n> of map <map>, <v>, that belong to one of <hosts>:
 * ranges of the sorted array, sorted and apart, in <out> (room for one a
 * host); their number. */
static size_t host_ranges(const struct model_entry *v, size_t n_v, enum model_map map,
                          const struct hmap *hosts, struct range *out)
{
    const char *h;
    size_t n = 0, merged = 0;

    for (size_t it = 0; hmap_next(hosts, &it, &h, NULL);) {
        char key[300];
        bool prefix = map == MODEL_MAP_EXACT || map == MODEL_MAP_PREFIX_EXACT ||
                      map == MODEL_MAP_PREFIX;

        if (map == MODEL_MAP_WILDCARDS) {
            if (strncmp(h, "*.", 2))
                continue;
            snprintf(key, sizeof(key), "%s", h + 1);
        } else if (map == MODEL_MAP_HOST_DEFAULT || prefix) {
            snprintf(key, sizeof(key), "%s/", h);
        } else {
            if (!*h || (map == MODEL_MAP_HOSTS && !strncmp(h, "*.", 2)))
                continue;
            snprintf(key, sizeof(key), "%s", h);
        }
        out[n].lo = lower_bound(v, n_v, key);
        if (prefix) {
            /* every key that starts with "host/": those before "host0" */
            key[strlen(key) - 1] = '/' + 1;
            out[n].hi = lower_bound(v, n_v, key);
        } else {
            out[n].hi = out[n].lo + (out[n].lo < n_v && !strcmp(v[out[n].lo].key, key));
        }
        if (out[n].hi > out[n].lo)
            n++;
    }
    qsort(out, n, sizeof(*out), cmp_range);
    for (size_t i = 0; i < n; i++) {
        if (merged && out[i].lo <= out[merged - 1].hi) {
            if (out[i].hi > out[merged - 1].hi)
                out[merged - 1].hi = out[i].hi;
        } else {
            out[merged++] = out[i];
        }
    }
    return merged;
}

/* Entry <e> of a reroute's map, with <p>'s strings where it has them: those
 * of its entry of the same key, <src>[<at>] if that is one (a host's routes
 * are built again whole, most of them as they were), the name of the
 * backend the value names; else copies in p->strings, which reroutes fill
 * until the next build. Entries as they were keep their pointers: the plan
 * compares them as such. */
static struct model_entry kept_entry(struct model *p, const struct model_entry *src,
                                     size_t n_src, size_t at, const struct model_entry *e)
{
    bool same_key = at < n_src && !strcmp(src[at].key, e->key);
    const struct model_backend *be;
    struct model_entry out;

    out.key = same_key ? src[at].key : arena_strdup(p->strings, e->key);
    if (same_key && !strcmp(src[at].value, e->value))
        out.value = src[at].value;
    else if ((be = model_find_backend(p, e->value)))
        out.value = be->name;
    else
        out.value = arena_strdup(p->strings, e->value);
    return out;
}

/* A new array for map <map> of <p> (a shared block): its entries but those
 * of <hosts>, and <r>'s, the routes of those hosts (kept_entry()). */
static void splice_map(struct model *p, const struct model *r, enum model_map map,
                       const struct hmap *hosts)
{
    const struct model_entry *src = p->maps[map];
    size_t n_src = p->n_maps[map];
    struct range *ranges = xmalloc((hosts->used + 1) * sizeof(*ranges));
    size_t n_ranges = host_ranges(src, n_src, map, hosts, ranges), removed = 0, n = 0, i = 0,
           e = 0, k = 0, next;
    struct model_entry *out;

    for (size_t j = 0; j < n_ranges; j++)
        removed += ranges[j].hi - ranges[j].lo;
    out = shared_new((n_src - removed + r->n_maps[map] + 1) * sizeof(*out));
    while (i < n_src || e < r->n_maps[map]) {
        if (k < n_ranges && ranges[k].lo == i) {
            i = ranges[k++].hi;
            continue;
        }
        next = k < n_ranges ? ranges[k].lo : n_src;
        if (e < r->n_maps[map]) {
            /* a new entry goes before the first of <src> above it: none
             * is equal, those of its host are in a range */
            size_t at = lower_bound(src, n_src, r->maps[map][e].key);

            if (at <= i) {
                out[n++] = kept_entry(p, src, n_src, at, &r->maps[map][e++]);
                continue;
            }
            if (at < next)
                next = at;
        }
        memcpy(out + n, src + i, (next - i) * sizeof(*out));
        n += next - i;
        i = next;
    }
    free(ranges);
    if (p->maps[map] != p->base->maps[map])
        shared_unref(p->maps[map]);
    p->maps[map] = out;
    p->n_maps[map] = n;
}

/* True when every key of <r>'s maps is of one of <hosts>. */
static bool keys_within(const struct model *r, const struct hmap *hosts)
{
    for (int k = 0; k < MODEL_MAP_COUNT; k++) {
        for (size_t i = 0; i < r->n_maps[k]; i++) {
            char buf[300];

            if (!hmap_get(hosts, key_host((enum model_map)k, r->maps[k][i].key, buf,
                                          sizeof(buf))))
                return false;
        }
    }
    return true;
}

/* Sets the refs of <p>'s backends to what they are with <old>'s routes
 * replaced by <now>'s. False when a backend is new or unused now: the
 * backends change, a build must be made. */
static bool count_refs(struct model *p, const struct model *old, const struct model *now)
{
    for (size_t i = 0; i < now->n_backends; i++) {
        ptrdiff_t at = model_backend_index(p, now->backends[i]->name);

        if (at < 0)
            return false;
        own_backend(p, (size_t)at)->refs += now->backends[i]->refs;
    }
    for (size_t i = 0; i < old->n_backends; i++) {
        ptrdiff_t at = model_backend_index(p, old->backends[i]->name);

        if (at < 0 || p->backends[at]->refs <= old->backends[i]->refs)
            return false;
        own_backend(p, (size_t)at)->refs -= old->backends[i]->refs;
    }
    return true;
}

/* <p>'s own certificate in file <file>, or NULL. */
static struct model_cert *own_cert(struct model *p, const char *file)
{
    const struct model_cert *c = model_find_cert(p, file);

    return c ? &p->certs[c - p->certs] : NULL;
}

/* Sets <p>'s certificates (a new array, a shared block) to what they are
 * with <old>'s TLS entries replaced by <now>'s: the host names of <hosts>
 * are <now>'s, the refs follow. False when a certificate is new or named no
 * more: a build must be made. Neither has any: the host names of <hosts>
 * are on no certificate (an Ingress naming one in its TLS would be among
 * those built again), <p>'s stay as they are. */
static bool splice_certs(struct model *p, const struct model *old, const struct model *now,
                         const struct hmap *hosts)
{
    struct model_cert *v;

    if (!old->n_certs && !now->n_certs)
        return true;
    v = shared_new((p->n_certs + 1) * sizeof(*v));
    if (p->n_certs)
        memcpy(v, p->certs, p->n_certs * sizeof(*v));
    if (p->certs != p->base->certs)
        shared_unref(p->certs);
    p->certs = v;
    for (size_t i = 0; i < now->n_certs; i++) {
        struct model_cert *c = own_cert(p, now->certs[i].file);

        if (!c)
            return false;
        c->refs += now->certs[i].refs;
    }
    for (size_t i = 0; i < old->n_certs; i++) {
        struct model_cert *c = own_cert(p, old->certs[i].file);

        if (!c || c->refs <= old->certs[i].refs)
            return false;
        c->refs -= old->certs[i].refs;
    }
    for (size_t i = 0; i < p->n_certs; i++) {
        struct model_cert *c = &p->certs[i];
        const struct model_cert *nc = model_find_cert(now, c->file);
        size_t n_nc = nc ? nc->n_snis : 0, n = 0;
        bool touched = nc != NULL;
        const char **snis;

        for (size_t j = 0; !touched && j < c->n_snis; j++)
            touched = hmap_get(hosts, c->snis[j]) != NULL;
        if (!touched)
            continue;
        snis = arena_alloc(p->strings, (c->n_snis + n_nc + 1) * sizeof(*snis));
        for (size_t j = 0; j < c->n_snis; j++) {
            if (!hmap_get(hosts, c->snis[j]))
                snis[n++] = c->snis[j];
        }
        for (size_t j = 0; j < n_nc; j++)
            snis[n++] = arena_strdup(p->strings, nc->snis[j]);
        if (n)
            qsort(snis, n, sizeof(*snis), str_cmp_ptrs);
        c->snis = snis;
        c->n_snis = n;
    }
    return true;
}

/* <p>'s issues (a new array, a shared block): its own but those of the
 * Ingresses of <refs>, then <now>'s of them. Unless none is of those: the
 * array stays. */
static void splice_issues(struct model *p, const struct model *now, const struct hmap *refs)
{
    struct model_issue *v;
    size_t n = 0, gone = 0;

    for (size_t i = 0; i < p->n_issues; i++)
        gone += hmap_get(refs, p->issues[i].obj) != NULL;
    if (!gone && !now->n_issues)
        return;
    v = shared_new((p->n_issues - gone + now->n_issues + 1) * sizeof(*v));
    for (size_t i = 0; i < p->n_issues; i++) {
        if (!hmap_get(refs, p->issues[i].obj))
            v[n++] = p->issues[i];
    }
    for (size_t i = 0; i < now->n_issues; i++) {
        const struct model_issue *is = &now->issues[i];

        /* a Service's are the build's already: its backend is there */
        if (!hmap_get(refs, is->obj))
            continue;
        v[n].sev = is->sev;
        v[n].obj = arena_strdup(p->strings, is->obj);
        v[n].origin = arena_strdup(p->strings, is->origin);
        v[n].field = arena_strdup(p->strings, is->field);
        v[n++].msg = arena_strdup(p->strings, is->msg);
    }
    if (p->issues != p->base->issues)
        shared_unref(p->issues);
    p->issues = v;
    p->n_issues = n;
}

/* True when routes-only builds <a> and <b> made the same: maps, backends
 * named as often, certificates, Ingresses served and issues. */
static bool same_routes(const struct model *a, const struct model *b)
{
    if (a->n_backends != b->n_backends || a->n_certs != b->n_certs ||
        a->n_ingresses != b->n_ingresses || a->n_issues != b->n_issues)
        return false;
    for (int k = 0; k < MODEL_MAP_COUNT; k++) {
        if (a->n_maps[k] != b->n_maps[k])
            return false;
        for (size_t i = 0; i < a->n_maps[k]; i++) {
            if (strcmp(a->maps[k][i].key, b->maps[k][i].key) ||
                strcmp(a->maps[k][i].value, b->maps[k][i].value))
                return false;
        }
    }
    for (size_t i = 0; i < a->n_backends; i++) {
        if (strcmp(a->backends[i]->name, b->backends[i]->name) ||
            a->backends[i]->refs != b->backends[i]->refs)
            return false;
    }
    for (size_t i = 0; i < a->n_certs; i++) {
        const struct model_cert *x = &a->certs[i], *y = &b->certs[i];

        if (strcmp(x->file, y->file) || x->refs != y->refs || x->n_snis != y->n_snis)
            return false;
        for (size_t j = 0; j < x->n_snis; j++) {
            if (strcmp(x->snis[j], y->snis[j]))
                return false;
        }
    }
    for (size_t i = 0; i < a->n_issues; i++) {
        const struct model_issue *x = &a->issues[i], *y = &b->issues[i];

        if (x->sev != y->sev || !str_same(x->obj, y->obj) || !str_same(x->field, y->field) ||
            !str_same(x->msg, y->msg))
            return false;
    }
    return true;
}

/* Gives the backends of <x>, a build of some routes, the names <m> runs
 * them under: a backend in a spare of <m> takes the spare's name, and so do
 * the routes to it. <x>'s backends are no longer sorted by name then. */
static void running_names(struct model *x, const struct model *m)
{
    size_t n;
    struct model_backend *const *spares = model_spares(m, &n);

    for (size_t i = 0; i < n; i++) {
        const struct model_backend *sp = spares[i];

        /* <x> is a build: its backends are its own */
        for (size_t j = 0; sp->origin && j < x->n_backends; j++) {
            struct model_backend *be = x->backends[j];

            if (!strcmp(be->name, sp->origin)) {
                model_rename_routes(x, be->name, sp->name);
                be->name = sp->name;
                break;
            }
        }
    }
}

/* Puts each backend of <now> that <p> lacks in a free spare of <p>, in name
 * order, in the spares' (ctl_use_spares() after a build): the spare takes
 * its name and Service, its servers resolved from <store>, and is added to
 * <p>'s patched backends; <now>'s routes to it take the spare's name. False
 * when one cannot: no <spares>, one that does not fit, or too few free. */
static bool into_spares(struct model *p, struct model *now, const struct store *store,
                        bool spares)
{
    uint32_t *news = xmalloc((now->n_backends + 1) * sizeof(*news)), *idx;
    size_t n_new = 0, n_free = 0, n_spares, s, n;
    struct model_backend *const *free_sp = model_spares(p, &n_spares), *sp;

    /* <now>'s order, as running_names() left it: its new ones are in theirs */
    for (size_t i = 0; i < now->n_backends; i++) {
        if (!model_find_backend(p, now->backends[i]->name))
            news[n_new++] = (uint32_t)i;
    }
    for (size_t i = 0; i < n_spares; i++)
        n_free += !free_sp[i]->origin;
    for (size_t i = 0; spares && i < n_new; i++)
        spares = model_fits_spare(now->backends[news[i]]);
    if (!n_new || !spares || n_new > n_free || p->n_patched + n_new > PATCH_MAX) {
        free(news);
        return !n_new;
    }
    idx = xmalloc((p->n_patched + n_new + 1) * sizeof(*idx));
    if (p->n_patched)
        memcpy(idx, p->patched, p->n_patched * sizeof(*idx));
    n = p->n_patched;
    s = (size_t)(free_sp - p->backends);
    for (size_t i = 0; i < n_new; i++) {
        struct model_backend *be = now->backends[news[i]];

        while (p->backends[s]->origin)
            s++;
        sp = own_backend(p, s);
        sp->origin = arena_strdup(p->strings, be->name);
        /* a build of some routes resolves no servers */
        sp->svc_hash = be->svc_hash;
        if (sp->svc_hash && !resolve(&p->arena, sp, false, store)) {
            free(news);
            free(idx);
            return false;
        }
        idx[n++] = (uint32_t)s++;
        model_rename_routes(now, be->name, sp->name);
        be->name = sp->name;
    }
    free(news);
    qsort(idx, n, sizeof(*idx), cmp_u32);
    free(p->patched);
    p->patched = idx;
    p->n_patched = n;
    return true;
}

/* The Ingress under "ns/name" <key> in <store>, or NULL. */
static const struct k8s_ingress *stored(const struct store *store, const char *key)
{
    const char *slash = strchr(key, '/');
    char ns[256];

    if (!slash || (size_t)(slash - key) >= sizeof(ns))
        return NULL;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    return (const void *)store_get(store, K8S_INGRESS, ns, slash + 1);
}

static bool changed_key(const struct store_change *changes, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(changes[i].key, key))
            return true;
    }
    return false;
}

struct model *model_reroute(struct model *m, const struct store *store,
                            const struct model_opts *opts, const struct store_change *changes,
                            size_t n_changes, bool spares)
{
    struct closure cl = {.store = store};
    const struct k8s_obj **old_v = NULL;
    struct model *old = NULL, *now = NULL, *p = NULL;
    struct hmap refs;
    size_t n_old = 0;
    bool ok = false;

    hmap_init(&cl.hosts);
    hmap_init_borrowing(&cl.taken);
    hmap_init(&refs);
    if (m->strings && m->strings->total > REROUTE_ARENA_MAX)
        goto out;
    for (size_t i = 0; i < n_changes; i++) {
        const struct k8s_ingress *was = (const void *)changes[i].was;
        const struct k8s_ingress *is = stored(store, changes[i].key);

        /* a rule-less Ingress sets the catch-all default backend, or nothing */
        if ((was && !was->n_rules) || (is && !is->n_rules))
            goto out;
        if (was)
            each_host(was, put_host, &cl);
        if (is)
            each_host(is, put_host, &cl);
    }
    if (!close_over(&cl))
        goto out;
    /* as they were: the changed ones as they were before */
    old_v = xmalloc((cl.n + n_changes + 1) * sizeof(*old_v));
    for (size_t i = 0; i < cl.n; i++) {
        char ref[600];

        k8s_obj_ref(cl.v[i], ref, sizeof(ref));
        hmap_put(&refs, ref, (void *)1);
        if (!changed_key(changes, n_changes, cl.v[i]->meta.key))
            old_v[n_old++] = cl.v[i];
    }
    for (size_t i = 0; i < n_changes; i++) {
        char ref[600];

        if (!changes[i].was)
            continue;
        k8s_obj_ref(changes[i].was, ref, sizeof(ref));
        hmap_put(&refs, ref, (void *)1);
        old_v[n_old++] = changes[i].was;
    }
    old = model_build_routes(store, opts, old_v, n_old);
    now = model_build_routes(store, opts, cl.v, cl.n);
    /* a Secret whose data must be read again: a build waits for it */
    if (old->beyond_hosts || now->beyond_hosts || now->n_wanted || !keys_within(old, &cl.hosts) ||
        !keys_within(now, &cl.hosts))
        goto out;
    running_names(old, m);
    running_names(now, m);
    if (same_routes(old, now)) { /* another class's Ingress, a label... */
        p = model_ref(m);
        ok = true;
        goto out;
    }
    p = patch_of(m);
    if (!p->strings) {
        p->strings = shared_new(sizeof(*p->strings));
        arena_init(p->strings);
    }
    if (!into_spares(p, now, store, spares) || !count_refs(p, old, now) ||
        !splice_certs(p, old, now, &cl.hosts))
        goto out;
    /* the maps these hosts have, had or both: the others stay as they are */
    for (int k = 0; k < MODEL_MAP_COUNT; k++) {
        if (old->n_maps[k] || now->n_maps[k])
            splice_map(p, now, (enum model_map)k, &cl.hosts);
    }
    for (int k = 0; k < MODEL_MAP_COUNT; k++) {
        /* a map used or unused now: haproxy.cfg changes */
        if (!m->n_maps[k] != !p->n_maps[k])
            goto out;
    }
    splice_issues(p, now, &refs);
    p->n_ingresses = m->n_ingresses - old->n_ingresses + now->n_ingresses;
    p->lookups = now->lookups;
    memset(&now->lookups, 0, sizeof(now->lookups));
    ok = true;
out:
    if (!ok)
        model_unref(p);
    model_unref(old);
    model_unref(now);
    for (size_t i = 0; i < cl.n_todo; i++)
        free(cl.todo[i]);
    free(cl.todo);
    free(cl.v);
    free(old_v);
    hmap_deinit(&cl.hosts);
    hmap_deinit(&cl.taken);
    hmap_deinit(&refs);
    return ok ? p : NULL;
}

/* True when certificates <a> and <b> hold the same DNS names, in the same
 * order: every host the one covers, the other does (tls_entry_covers()). */
static bool same_names(const struct tls_entry *a, const struct tls_entry *b)
{
    if (a->n_names != b->n_names)
        return false;
    for (size_t i = 0; i < a->n_names; i++) {
        if (strcmp(a->names[i], b->names[i]))
            return false;
    }
    return true;
}

/* The parsed form of the Secret certificate <c> is made from, as it is in
 * <store> now; NULL when a build must say what it is. */
static const struct tls_entry *secret_now(const struct model_cert *c, const struct store *store,
                                          const struct model_opts *opts)
{
    char ns[MODEL_NAME_MAX], name[MODEL_NAME_MAX];

    if (!model_cert_secret(c, ns, name))
        return NULL;
    return model_secret_tls(opts,
                            (const struct k8s_secret *)store_get(store, K8S_SECRET, ns, name));
}

struct model *model_recert(struct model *m, const struct store *store,
                           const struct model_opts *opts, const struct model_lookups *lookups,
                           const uint64_t *secrets, size_t n)
{
    const struct tls_entry **now = xcalloc(m->n_certs + 1, sizeof(*now));
    struct model *p = NULL;
    struct model_cert *v;
    size_t n_new = 0;

    for (size_t i = 0; i < n; i++) {
        size_t found = 0;

        /* the users, CAs and default certificate a build reads */
        if (model_reads_data(lookups, secrets[i]) || m->default_cert.secret == secrets[i])
            goto out;
        for (size_t k = 0; k < m->n_certs; k++) {
            const struct model_cert *c = &m->certs[k];

            if (c->secret != secrets[i])
                continue;
            found++;
            now[k] = secret_now(c, store, opts);
            /* unusable now, or another certificate's hosts */
            if (!now[k] || !now[k]->der || !same_names(now[k], c->tls))
                goto out;
            if (now[k] == c->tls)
                now[k] = NULL;
            else
                n_new++;
        }
        /* none: unusable before, or missing; a build says what it is now */
        if (!found)
            goto out;
    }
    if (!n_new) {
        free(now);
        return model_ref(m);
    }
    p = patch_of(m);
    v = shared_new((p->n_certs + 1) * sizeof(*v));
    memcpy(v, p->certs, p->n_certs * sizeof(*v));
    if (p->certs != p->base->certs)
        shared_unref(p->certs);
    p->certs = v;
    p->held = xrealloc(p->held, (p->n_held + n_new + 1) * sizeof(*p->held));
    for (size_t k = 0; k < p->n_certs; k++) {
        if (!now[k])
            continue;
        /* one the patch took before: each is one certificate's */
        for (size_t i = 0; i < p->n_held; i++) {
            if (p->held[i] == v[k].tls) {
                tls_entry_release(p->held[i]);
                p->held[i] = p->held[--p->n_held];
                break;
            }
        }
        v[k].tls = now[k];
        v[k].pem_len = now[k]->pem_len;
        v[k].hash = now[k]->der_hash;
        tls_entry_hold(now[k]);
        p->held[p->n_held++] = now[k];
    }
out:
    free(now);
    return p;
}
