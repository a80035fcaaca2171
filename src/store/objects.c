/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers on decoded Kubernetes objects. */
#include "store/objects.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hmap.h"
#include "util/hset.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ====== Walking an object ======
 *
 * A walk visits every pointer an object holds. Measuring, it adds up the
 * sizes of what they point to; copying, it moves that into a packed block
 * and points there instead (arrays first in the block, aligned, strings after
 * them); freeing, it frees them. Each array is visited before its elements
 * are walked, so the copying walk always repoints pointers inside the block
 * and the freeing walk frees the arrays last.
 *
 * A copying walk stores each string once: values every cluster repeats
 * ("TCP", "ClusterIP", "default") point to one static copy, and a string
 * that ends another one packed shortly before (a name in its "ns/name" key,
 * the host of a TLS entry after the same rule's host) points into it: 20
 * bytes or more an object. Measuring makes the same choices on the source
 * strings, so the block is made at the size the copy fills.
 *
 * Comparing, it writes into a copy of a packed block each pointer the block
 * holds as the offset of what it points to in the block, or as is when it
 * points outside (a common or stored string): two objects of the same
 * content make the same bytes (k8s_obj_same()). */

#define PACK_RECENT 16 /* strings a copy looks back at for a shared ending */

struct pack {
    enum { PACK_MEASURE, PACK_COPY, PACK_FREE, PACK_COMPARE } mode;
    size_t arr_size, str_size;
    unsigned char *arr, *str; /* next free byte of each area, when copying */
    bool packed_source;       /* measuring a packed object: shared strings are only
                                * found, never stored (packed_size()) */
    const unsigned char *block; /* the packed object, when comparing */
    unsigned char *canon;     /* the copy of it its pointers are written to */
    size_t size;              /* of both */
    void **arrays;            /* arrays to free once their elements are, when freeing */
    size_t n_arrays, cap_arrays;
    const char *recent[PACK_RECENT]; /* strings packed last (the source's when measuring) */
    size_t recent_len[PACK_RECENT];
    unsigned n_recent;
};

/* Values repeated across most objects of a cluster, stored by none of them. */
#define COMMON(s) {s, sizeof(s) - 1}
static const struct {
    const char *s;
    size_t len;
} common_strings[] = {
    COMMON(""),          COMMON("TCP"),          COMMON("UDP"),          COMMON("SCTP"),
    COMMON("http"),      COMMON("https"),        COMMON("/"),            COMMON("default"),
    COMMON("ClusterIP"), COMMON("NodePort"),     COMMON("LoadBalancer"), COMMON("ExternalName"),
    COMMON("Opaque"),    COMMON("kubernetes.io/tls"),
};

#define PACK_ALIGN(n) (((n) + 7) & ~(size_t)7)

/* Writes the pointer at <field> of the block, in its canonical form, at the
 * same place of the copy. */
static void pack_compare(struct pack *pk, const void *field)
{
    const unsigned char *p;
    uintptr_t v;

    memcpy(&p, field, sizeof(p));
    v = p >= pk->block && p < pk->block + pk->size ? (uintptr_t)(p - pk->block) : (uintptr_t)p;
    memcpy(pk->canon + ((const unsigned char *)field - pk->block), &v, sizeof(v));
}

static void pack_array(struct pack *pk, void *field, size_t bytes)
{
    void **a = field;

    if (!*a)
        return;
    if (pk->mode == PACK_COMPARE) {
        pack_compare(pk, field);
        return;
    }
    if (pk->mode == PACK_FREE) {
        pk->arrays = xgrow(pk->arrays, &pk->cap_arrays, pk->n_arrays + 1, sizeof(*pk->arrays));
        pk->arrays[pk->n_arrays++] = *a;
        return;
    }
    if (pk->mode == PACK_MEASURE) {
        pk->arr_size += PACK_ALIGN(bytes);
        return;
    }
    /* an empty but present array stays non-NULL */
    memcpy(pk->arr, *a, bytes);
    *a = pk->arr;
    pk->arr += PACK_ALIGN(bytes);
}

static void pack_bytes(struct pack *pk, void *field, size_t len)
{
    unsigned char **b = field;

    if (!*b)
        return;
    if (pk->mode == PACK_COMPARE) {
        pack_compare(pk, field);
        return;
    }
    if (pk->mode == PACK_FREE) {
        free(*b);
        return;
    }
    if (pk->mode == PACK_MEASURE) {
        pk->str_size += len;
        return;
    }
    memcpy(pk->str, *b, len);
    *b = pk->str;
    pk->str += len;
}

/* A string equal to <s> or ending with it that needs no new bytes, or NULL. */
static const char *shared_str(const struct pack *pk, const char *s, size_t len)
{
    /* every object packs a dozen strings or more, twice: lengths and first
     * bytes are compared before the rest */
    for (size_t i = 0; i < sizeof(common_strings) / sizeof(common_strings[0]); i++) {
        if (common_strings[i].len == len && !memcmp(common_strings[i].s, s, len))
            return common_strings[i].s;
    }
    for (unsigned i = 0; i < pk->n_recent && i < PACK_RECENT; i++) {
        const char *t;

        if (pk->recent_len[i] < len)
            continue;
        t = pk->recent[i] + pk->recent_len[i] - len;
        if (*t == *s && !memcmp(t, s, len))
            return t;
    }
    return NULL;
}

static void pack_str(struct pack *pk, char **s)
{
    const char *shared;
    size_t len;

    if (!*s)
        return;
    if (pk->mode == PACK_COMPARE) {
        pack_compare(pk, s);
        return;
    }
    len = strlen(*s);
    if (pk->mode == PACK_FREE) {
        pack_bytes(pk, s, len + 1);
        return;
    }
    /* measuring decides as copying will, on the source strings */
    shared = shared_str(pk, *s, len);
    if (shared) {
        if (pk->mode == PACK_COPY)
            *s = (char *)shared; /* packed objects are never written to */
        return;
    }
    pack_bytes(pk, s, len + 1);
    pk->recent[pk->n_recent % PACK_RECENT] = *s;
    pk->recent_len[pk->n_recent % PACK_RECENT] = len;
    pk->n_recent++;
}

/* ====== Strings many objects name ======
 *
 * A namespace or an IngressClass name is repeated by every object that
 * names it: each distinct one is stored once, counted, and freed with the
 * last object that names it (namespaces come and go), up to INTERN_MAX of
 * them at a time; past that, objects keep their own copies. */

#define INTERN_MAX 16384

struct interned {
    const char *s;
    size_t refs;    /* packed objects pointing to it */
    char text[];
};

/* of struct interned, by s; what hset_init() makes */
static struct hset interned = {.key_off = offsetof(struct interned, s)};

/* The stored copy of <s>, made on first use, or NULL when the table is full.
 * A copy that measuring makes has no reference until copying takes one. */
static struct interned *intern(const char *s, size_t len)
{
    struct interned *in = hset_get(&interned, s);

    if (in || interned.used >= INTERN_MAX)
        return in;
    in = xmalloc(sizeof(*in) + len + 1);
    memcpy(in->text, s, len + 1);
    in->s = in->text;
    in->refs = 0;
    hset_put(&interned, in);
    return in;
}

/* Drops a packed object's reference to <s>, if <s> is a stored copy. */
static void unintern(const char *s)
{
    struct interned *in = s ? hset_get(&interned, s) : NULL;

    if (in && in->s == s && --in->refs == 0) {
        hset_del(&interned, s);
        free(in);
    }
}

size_t k8s_shared_strings(void)
{
    return interned.used;
}

/* pack_str() for a string many objects share: the common or stored copy. */
static void pack_shared_str(struct pack *pk, char **s)
{
    const char *shared;
    size_t len;

    if (!*s || pk->mode == PACK_FREE || pk->mode == PACK_COMPARE) {
        pack_str(pk, s);
        return;
    }
    /* measuring interns it, copying finds it: both choose alike */
    len = strlen(*s);
    shared = shared_str(pk, *s, len);
    if (!shared) {
        struct interned *in = pk->packed_source ? hset_get(&interned, *s) : intern(*s, len);

        /* a packed object kept its own copy when the table was full */
        if (in && pk->packed_source && in->s != *s)
            in = NULL;
        if (!in) {
            pack_str(pk, s);
            return;
        }
        if (pk->mode == PACK_COPY)
            in->refs++;
        shared = in->s;
    }
    if (pk->mode == PACK_COPY)
        *s = (char *)shared;
}

static void pack_kv(struct pack *pk, struct k8s_kv **kv, size_t n)
{
    pack_array(pk, kv, n * sizeof(**kv));
    for (size_t i = 0; i < n; i++) {
        pack_str(pk, &(*kv)[i].key);
        pack_str(pk, &(*kv)[i].val);
    }
}

static void pack_strv(struct pack *pk, char ***v, size_t n)
{
    pack_array(pk, v, n * sizeof(**v));
    for (size_t i = 0; i < n; i++)
        pack_str(pk, &(*v)[i]);
}

static void pack_backend(struct pack *pk, struct k8s_ingress_backend *be)
{
    pack_str(pk, &be->svc);
    pack_str(pk, &be->port_name);
}

static void pack_ingress(struct pack *pk, struct k8s_ingress *ing)
{
    pack_shared_str(pk, &ing->class_name);
    pack_array(pk, &ing->default_backend, sizeof(*ing->default_backend));
    if (ing->default_backend)
        pack_backend(pk, ing->default_backend);
    pack_array(pk, &ing->rules, ing->n_rules * sizeof(*ing->rules));
    for (size_t i = 0; i < ing->n_rules; i++) {
        struct k8s_ingress_rule *r = &ing->rules[i];

        pack_str(pk, &r->host);
        pack_array(pk, &r->paths, r->n_paths * sizeof(*r->paths));
        for (size_t j = 0; j < r->n_paths; j++) {
            pack_str(pk, &r->paths[j].path);
            pack_str(pk, &r->paths[j].svc);
            pack_str(pk, &r->paths[j].port_name);
        }
    }
    pack_array(pk, &ing->tls, ing->n_tls * sizeof(*ing->tls));
    for (size_t i = 0; i < ing->n_tls; i++) {
        pack_strv(pk, &ing->tls[i].hosts, ing->tls[i].n_hosts);
        pack_str(pk, &ing->tls[i].secret);
    }
}

static void pack_service(struct pack *pk, struct k8s_service *svc)
{
    pack_array(pk, &svc->ports, svc->n_ports * sizeof(*svc->ports));
    for (size_t i = 0; i < svc->n_ports; i++)
        pack_str(pk, &svc->ports[i].name);
}

static void pack_slice(struct pack *pk, struct k8s_endpoint_slice *es)
{
    size_t n = 0;

    pack_str(pk, &es->service);
    pack_array(pk, &es->ports, es->n_ports * sizeof(*es->ports));
    for (size_t i = 0; i < es->n_ports; i++)
        pack_str(pk, &es->ports[i].name);
    pack_array(pk, &es->endpoints, es->n_endpoints * sizeof(*es->endpoints));
    for (size_t i = 0; i < es->n_endpoints; i++)
        n += es->endpoints[i].n_addresses;
    pack_bytes(pk, &es->addrs, n * K8S_ADDR_LEN(es->addr_type));
}

static void pack_walk(struct pack *pk, struct k8s_obj *obj)
{
    switch (obj->kind) {
    case K8S_INGRESS:
        pack_ingress(pk, (struct k8s_ingress *)obj);
        break;
    case K8S_INGRESS_CLASS:
        pack_str(pk, &((struct k8s_ingress_class *)obj)->controller);
        break;
    case K8S_SERVICE:
        pack_service(pk, (struct k8s_service *)obj);
        break;
    case K8S_ENDPOINT_SLICE:
        pack_slice(pk, (struct k8s_endpoint_slice *)obj);
        break;
    case K8S_SECRET: {
        struct k8s_secret *s = (struct k8s_secret *)obj;

        pack_str(pk, &s->type);
        pack_bytes(pk, &s->crt, s->crt_len);
        pack_bytes(pk, &s->key, s->key_len);
        pack_bytes(pk, &s->ca, s->ca_len);
        pack_kv(pk, &s->users, s->n_users);
        break;
    }
    case K8S_CONFIGMAP:
        pack_kv(pk, &((struct k8s_configmap *)obj)->data, ((struct k8s_configmap *)obj)->n_data);
        break;
    case K8S_NAMESPACE:
    case K8S_KIND_COUNT:
        break;
    }
    pack_str(pk, &obj->meta.key);
    pack_shared_str(pk, &obj->meta.ns);
    pack_kv(pk, &obj->meta.annotations, obj->n_annotations);
}

void k8s_obj_free(struct k8s_obj *obj)
{
    struct k8s_secret *s = (struct k8s_secret *)obj;
    struct pack pk = {.mode = PACK_FREE};

    if (!obj)
        return;
    if (obj->kind == K8S_SECRET && s->key)
        memset(s->key, 0, s->key_len); /* private key bytes do not linger */
    if (!(obj->flags & K8S_F_PACKED)) {
        pack_walk(&pk, obj);
        for (size_t i = 0; i < pk.n_arrays; i++)
            free(pk.arrays[i]);
        free(pk.arrays);
    } else {
        /* the strings pack_shared_str() may have stored */
        unintern(obj->meta.ns);
        if (obj->kind == K8S_INGRESS)
            unintern(((struct k8s_ingress *)obj)->class_name);
    }
    free(obj);
}

size_t k8s_obj_size(enum k8s_kind kind)
{
    switch (kind) {
    case K8S_INGRESS:
        return sizeof(struct k8s_ingress);
    case K8S_INGRESS_CLASS:
        return sizeof(struct k8s_ingress_class);
    case K8S_SERVICE:
        return sizeof(struct k8s_service);
    case K8S_ENDPOINT_SLICE:
        return sizeof(struct k8s_endpoint_slice);
    case K8S_SECRET:
        return sizeof(struct k8s_secret);
    case K8S_CONFIGMAP:
        return sizeof(struct k8s_configmap);
    case K8S_NAMESPACE:
        return sizeof(struct k8s_namespace);
    case K8S_KIND_COUNT:
        break;
    }
    return sizeof(struct k8s_obj);
}

/* A packed copy of <obj> (packed or not), sharing nothing with it but static
 * strings. */
static struct k8s_obj *packed_copy(const struct k8s_obj *obj)
{
    size_t head = PACK_ALIGN(k8s_obj_size(obj->kind));
    struct pack pk = {.mode = PACK_MEASURE};
    unsigned char *block;
    struct k8s_obj *packed;

    pack_walk(&pk, (struct k8s_obj *)obj);
    /* zeroed: the padding between arrays compares equal (k8s_obj_same()) */
    block = xcalloc(1, head + pk.arr_size + pk.str_size);
    memcpy(block, obj, k8s_obj_size(obj->kind));
    packed = (struct k8s_obj *)block;
    pk.mode = PACK_COPY;
    pk.arr = block + head;
    pk.str = pk.arr + pk.arr_size;
    pk.n_recent = 0;
    pack_walk(&pk, packed);
    packed->flags |= K8S_F_PACKED;
    return packed;
}

struct k8s_obj *k8s_obj_pack(struct k8s_obj *obj)
{
    struct k8s_obj *packed;

    if (obj->flags & K8S_F_PACKED)
        return obj;
    packed = packed_copy(obj);
    k8s_obj_free(obj);
    return packed;
}

/* The size of packed object <obj>, measured again. */
static size_t packed_size(const struct k8s_obj *obj)
{
    struct pack pk = {.mode = PACK_MEASURE, .packed_source = true};

    pack_walk(&pk, (struct k8s_obj *)obj);
    return PACK_ALIGN(k8s_obj_size(obj->kind)) + pk.arr_size + pk.str_size;
}

/* A copy of packed object <obj> of <size> bytes with its pointers made
 * canonical. */
static unsigned char *canonical(const struct k8s_obj *obj, size_t size)
{
    struct pack pk = {.mode = PACK_COMPARE, .block = (const void *)obj, .size = size};

    pk.canon = xmalloc(size);
    memcpy(pk.canon, obj, size);
    pack_walk(&pk, (struct k8s_obj *)obj);
    /* a status Portico writes is no change for a build */
    if (obj->kind == K8S_INGRESS)
        ((struct k8s_ingress *)pk.canon)->lb_status = 0;
    return pk.canon;
}

uint32_t k8s_lb_hash(const struct k8s_lb_addr *a, size_t n)
{
    uint64_t h = HASH_FNV1A_INIT;

    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        h = hash_fnv1a_more(h, a[i].ip, strlen(a[i].ip) + 1);
        h = hash_fnv1a_more(h, a[i].hostname, strlen(a[i].hostname) + 1);
    }
    h ^= h >> 32;
    return (uint32_t)h ? (uint32_t)h : 1;
}

bool k8s_obj_same(const struct k8s_obj *a, const struct k8s_obj *b)
{
    size_t size = (a->flags & b->flags & K8S_F_PACKED) && a->kind == b->kind ? packed_size(a) : 0;
    unsigned char *ca, *cb;
    bool same;

    if (!size || packed_size(b) != size)
        return false;
    ca = canonical(a, size);
    cb = canonical(b, size);
    same = !memcmp(ca, cb, size);
    free(ca);
    free(cb);
    return same;
}

struct k8s_obj *k8s_secret_without_data(const struct k8s_secret *s)
{
    struct k8s_secret bare = *s;

    bare.crt = bare.key = bare.ca = NULL;
    bare.crt_len = bare.key_len = bare.ca_len = 0;
    bare.users = NULL;
    bare.n_users = 0;
    bare.data_dropped = true;
    return packed_copy(&bare.obj);
}

const char *k8s_kv_get(const struct k8s_kv *kv, size_t n, const char *key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(kv[mid].key, key);

        if (c == 0)
            return kv[mid].val;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *k8s_kind_name(enum k8s_kind kind)
{
    static const char *const names[] = {"ingress", "ingressclass", "service",
                                        "endpointslice", "secret", "configmap", "namespace"};

    return kind < K8S_KIND_COUNT ? names[kind] : "unknown";
}

void k8s_obj_ref(const struct k8s_obj *obj, char *out, size_t size)
{
    if (obj->meta.ns && *obj->meta.ns)
        str_concat(out, size, k8s_kind_name(obj->kind), "/", obj->meta.ns, "/",
                   k8s_name(&obj->meta), NULL);
    else
        str_concat(out, size, k8s_kind_name(obj->kind), "/", k8s_name(&obj->meta), NULL);
}

char *k8s_key(char *buf, size_t size, const char *ns, const char *name)
{
    return str_concat(buf, size, ns ? ns : "", "/", name, NULL);
}

uint64_t k8s_lookup_hash(enum k8s_kind kind, const char *ns, const char *name)
{
    uint64_t h = hash_fold(HASH_FNV1A_INIT, (uint64_t)kind);

    h = hash_fnv1a_more(h, ns ? ns : "", ns ? strlen(ns) + 1 : 1);
    h = hash_fnv1a_more(h, name, strlen(name));
    return h ? h : 1;
}

bool k8s_obj_lookup_hash(const struct k8s_obj *o, uint64_t *h)
{
    const struct k8s_endpoint_slice *es;

    switch (o->kind) {
    case K8S_SERVICE:
    case K8S_SECRET:
        *h = k8s_lookup_hash(o->kind, o->meta.ns, k8s_name(&o->meta));
        return true;
    case K8S_ENDPOINT_SLICE:
        es = (const struct k8s_endpoint_slice *)o;
        *h = es->service ? k8s_lookup_hash(K8S_SERVICE, o->meta.ns, es->service) : 0;
        return true;
    default:
        return false;
    }
}

bool k8s_is_alias_key(const char *key)
{
    size_t len = strlen(key);

    return len >= 12 && !strcmp(key + len - 12, "server-alias");
}

void k8s_obj_words(const struct k8s_obj *o, void (*add)(void *arg, const char *word), void *arg)
{
    const struct k8s_ingress *ing;
    const struct k8s_endpoint_slice *es;

    switch (o->kind) {
    case K8S_INGRESS:
        ing = (const struct k8s_ingress *)o;
        for (size_t i = 0; i < ing->n_rules; i++)
            add(arg, ing->rules[i].host ? ing->rules[i].host : "");
        for (size_t i = 0; i < ing->n_tls; i++) {
            for (size_t j = 0; j < ing->tls[i].n_hosts; j++)
                add(arg, ing->tls[i].hosts[j]);
        }
        for (size_t i = 0; i < o->n_annotations; i++) {
            if (k8s_is_alias_key(o->meta.annotations[i].key)) {
                add(arg, K8S_WORD_ALIASES);
                break;
            }
        }
        break;
    case K8S_ENDPOINT_SLICE:
        es = (const struct k8s_endpoint_slice *)o;
        if (es->service)
            add(arg, es->service);
        break;
    default:
        break;
    }
}

const char *const k8s_key_prefixes[] = {"portico.dev/", "haproxy.org/", "haproxy.com/",
                                        "ingress.kubernetes.io/"};
const size_t k8s_key_prefixes_len = sizeof(k8s_key_prefixes) / sizeof(k8s_key_prefixes[0]);

bool k8s_nginx_guard(const char *key)
{
    static const char *const guards[] = {
        "auth-url", "auth-signin", "auth-tls-secret",
        "auth-tls-verify-client", "satisfy",
        "enable-modsecurity", "enable-owasp-core-rules",
    };

    if (!str_has_prefix(key, K8S_NGINX_PREFIX))
        return false;
    for (size_t i = 0; i < sizeof(guards) / sizeof(guards[0]); i++) {
        if (!strcmp(key + strlen(K8S_NGINX_PREFIX), guards[i]))
            return true;
    }
    return false;
}

bool k8s_annotation_read(const char *key)
{
    for (size_t i = 0; i < k8s_key_prefixes_len; i++) {
        if (!strncmp(key, k8s_key_prefixes[i], strlen(k8s_key_prefixes[i])))
            return true;
    }
    /* ingress-nginx's are translated (keys_apply_nginx()) or refused */
    if (str_has_prefix(key, K8S_NGINX_PREFIX))
        return true;
    return !strcmp(key, "kubernetes.io/ingress.class") ||
           !strcmp(key, "ingressclass.kubernetes.io/is-default-class");
}
