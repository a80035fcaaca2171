/* SPDX-License-Identifier: Apache-2.0 */
/* Store snapshot + options -> routing model + issues, with no I/O: the
 * only state it changes is the certificate cache of the options, where the
 * Secrets it parses are kept for the next build. The rules are those of
 * doc/routing.md; the HAProxy shape they map to is in render.c. */
#include "model/model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/keys.h"
#include "model/tls.h"
#include "model/validate.h"
#include "store/objects.h"
#include "util/hmap.h"
#include "util/itab.h"
#include "util/shared.h"
#include "util/sort.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* Who claimed an entry of a map of paths. */
struct claim {
    uint32_t owner;       /* the Ingress, by its place in builder.ours */
    uint32_t rank;        /* length of the rule's own path: the longer path wins */
    uint32_t canary;      /* the canary Ingress of the route, its place in ours + 1,
                           * or 0 (add_canary()) */
};

/* A map while building. Its array of entries, sized once for the most that
 * the Ingresses can add (size_tables()), becomes the model's. */
struct map_build {
    struct model_entry *entries;
    struct claim *claims; /* of each entry; NULL for the hosts maps (is_host_map()) */
    size_t n, max;
    struct itab index;    /* by key */
};

/* A certificate while building: one per Secret, SNI filters merged. */
struct cert_acc {
    const char *file;
    const struct tls_entry *tls;
    const void **snis; /* host names, tmp (push()); sni_owner keeps them unique */
    size_t n_snis;
    uint64_t secret;   /* struct model_cert's */
    uint32_t refs;     /* add_sni() calls */
};

/* A Secret as this build uses it. */
struct secret_state {
    const struct tls_entry *cert; /* from the cache; NULL when unusable */
    const char *err;
    const char *stale;     /* why <cert> is the one served before, or NULL */
    const char *file;      /* arena */
    uint64_t hash;         /* k8s_lookup_hash() of the Secret, when <cert> is its data */
    bool held;             /* by the model (secret_tls()) */
};

/* Every map of the builder borrows its keys: strings of the model's arena
 * when the model keeps them, of the builder's own arena or of the store's
 * objects otherwise, which all outlive the build. */
struct builder {
    const struct store *store;
    const struct model_opts *opts;
    struct model *m;
    struct arena tmp;                /* what only the build needs */
    struct key_values global;
    size_t max_backends;             /* room in m->backend_store (size_tables()) */
    struct itab backend_index;       /* m->backend_store by name */
    struct hmap backend_err;         /* name -> message (arena), for warnings */
    struct hmap svc_keys_seen;       /* Services whose keys were read, issues reported */
    struct map_build maps[MODEL_MAP_COUNT];
    struct hmap secrets;             /* "ns/name" -> struct secret_state (tmp) */
    struct hmap userlists;           /* "ns/name" -> struct userlist_state (tmp) */
    struct hmap server_tls;          /* "ca:ns/name", "crt:ns/name" -> struct
                                      * server_tls_state (tmp) */
    const void **server_files;       /* struct model_file (model arena), tmp (push()) */
    size_t n_server_files;
    struct tls_cache *tls;           /* the caller's, or one for this build */
    struct hmap certs;               /* file -> struct cert_acc (tmp) */
    struct hmap sni_owner;           /* host -> cert file */
    uint64_t *lookups;               /* struct model's, unsorted */
    size_t n_lookups, cap_lookups;
    uint64_t *data_lookups;          /* the Secrets of those read for more than a
                                      * certificate, unsorted */
    size_t n_data_lookups, cap_data_lookups;
    const struct k8s_obj **slices;   /* EndpointSlices with a Service, by namespace,
                                      * Service and name (index_slices()) */
    size_t n_slices;
    struct model_issue *issues;
    size_t n_issues, cap_issues;
    const struct k8s_obj **ours;     /* the Ingresses of our class, oldest first, those
                                      * on their way out after the others */
    uint32_t n_living;               /* ours[] before those on their way out */
    const char *catchall;            /* backend of the oldest rule-less defaultBackend */
    const struct k8s_obj *catchall_owner;
    bool catchall_living;            /* its owner is not on its way out */
    uint32_t cur;                    /* place in ours of the Ingress being added: the
                                      * owner of its claims */
    const char *cur_ref;             /* object being processed, for issue origins */
    bool cur_closed;                 /* its routes all answer 403 (fails_closed()) */
    const struct key_values *cur_kv; /* its keys: the ConfigMap's and its annotations */
    const char *cur_origin;
    const struct k8s_configmap *tcp_services; /* --configmap-tcp-services's, or NULL */
    const char *cm_ref;              /* "configmap/ns/name" of --configmap's, or "" */
    const char *cm_ns;               /* its namespace, or "" */
    struct hmap rule_hosts;          /* host of a rule of one of ours -> its Ingress
                                      * (the oldest), which server-alias may not take */
    struct hmap alias_owner;         /* server-alias host -> its Ingress (k8s_obj) */
    const char *cur_alias;           /* the alias whose copy of the rules is being added,
                                      * or NULL: the rules' own hosts */
    const void **cur_aliases;        /* the aliases the Ingress being added serves (tmp) */
    size_t n_cur_aliases;
    uint32_t *canary_pos;            /* places in ours of the canary Ingresses (tmp) */
    size_t n_canary_pos;
    bool routes_only;                /* model_build_routes(): some Ingresses' routes */
};

/* Appends <p> to the array <*v> of <*n> pointers in <a>. It doubles at each
 * power of two, which most lists, of one item, never reach. */
static void push(struct arena *a, const void ***v, size_t *n, const void *p)
{
    if (!(*n & (*n - 1))) {
        const void **nv = arena_alloc(a, (*n ? 2 * *n : 1) * sizeof(*nv));

        if (*n)
            memcpy(nv, *v, *n * sizeof(*nv));
        *v = nv;
    }
    (*v)[(*n)++] = p;
}

/* ====== Issues ====== */

static void add_issue(struct builder *b, enum model_sev sev, const char *obj, const char *field,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_issue(struct builder *b, enum model_sev sev, const char *obj, const char *field,
                      const char *fmt, ...)
{
    struct model_issue *is;
    va_list ap;
    char msg[1024];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    b->issues = xgrow(b->issues, &b->cap_issues, b->n_issues + 1, sizeof(*b->issues));
    is = &b->issues[b->n_issues++];
    is->sev = sev;
    is->obj = arena_strdup(&b->m->arena, obj);
    is->origin = arena_strdup(&b->m->arena, b->cur_ref && b->cur_origin && !strcmp(obj, b->cur_ref)
                                                ? b->cur_origin
                                                : "");
    is->field = arena_strdup(&b->m->arena, field ? field : "");
    is->msg = arena_strdup(&b->m->arena, msg);
}

struct issue_ctx {
    struct builder *b;
    const char *obj;
};

static void key_issue(void *arg, const char *field, const char *msg)
{
    struct issue_ctx *c = arg;

    add_issue(c->b, MODEL_SEV_WARN, c->obj, field, "%s", msg);
}

/* For the keys of an object read again: reported the first time. */
static void no_issue(void *arg, const char *field, const char *msg)
{
    (void)arg;
    (void)field;
    (void)msg;
}

/* Where a claim or a backend comes from, for the issue it may raise: a path
 * is named only then (formatting names and descriptions for every path of
 * every Ingress was a fifth of a build at 10,000 Ingresses). */
struct where {
    const char *field;  /* or NULL: spec.rules[<rule>].http.paths[<path>] */
    const char *what;   /* what is claimed, or NULL: the path <p> on <host> */
    size_t rule, path;
    const struct k8s_ingress_path *p;
    const char *host;
};

static const char *where_field(const struct where *w, char *buf, size_t size)
{
    if (!w)
        return "";
    if (w->field)
        return w->field;
    snprintf(buf, size, "spec.rules[%zu].http.paths[%zu]", w->rule, w->path);
    return buf;
}

static const char *where_what(const struct where *w, char *buf, size_t size)
{
    static const char *const types[] = {
        [K8S_PATH_EXACT] = "Exact",
        [K8S_PATH_PREFIX] = "Prefix",
        [K8S_PATH_IMPL] = "ImplementationSpecific",
    };

    if (w->what)
        return w->what;
    snprintf(buf, size, "%s path \"%s\" on host \"%s\"", types[w->p->type], w->p->path,
             w->host);
    return buf;
}

/* ====== Backends ====== */

/* Orders EndpointSlices by namespace and Service, which resolve_servers()
 * looks up, then by name. */
static int cmp_slice(const void *a, const void *b)
{
    const struct k8s_endpoint_slice *x = *(const void *const *)a;
    const struct k8s_endpoint_slice *y = *(const void *const *)b;
    int c = strcmp(x->obj.meta.ns, y->obj.meta.ns);

    if (!c)
        c = strcmp(x->service, y->service);
    return c ? c : strcmp(k8s_name(&x->obj.meta), k8s_name(&y->obj.meta));
}

/* store_get() of a Service or Secret, recorded in the model's lookups:
 * found or not, the object can change what this build made. */
static const struct k8s_obj *look_up(struct builder *b, enum k8s_kind kind, const char *ns,
                                     const char *name)
{
    b->lookups = xgrow(b->lookups, &b->cap_lookups, b->n_lookups + 1, sizeof(*b->lookups));
    b->lookups[b->n_lookups++] = k8s_lookup_hash(kind, ns, name);
    return store_get(b->store, kind, ns, name);
}

/* Records that this build reads Secret <ns>/<name> for more than the
 * certificate of a TLS entry: a change to it builds (model_recert()). */
static void reads_data(struct builder *b, const char *ns, const char *name)
{
    b->data_lookups = xgrow(b->data_lookups, &b->cap_data_lookups, b->n_data_lookups + 1,
                            sizeof(*b->data_lookups));
    b->data_lookups[b->n_data_lookups++] = k8s_lookup_hash(K8S_SECRET, ns, name);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Sorts the EndpointSlices of a Service together. One sorted array of
 * pointers: a table of Services with a list each was 0.7 MB more at the peak
 * of a build at 10,000 Services. */
static void index_slices(struct builder *b)
{
    size_t n = store_list_unsorted(b->store, K8S_ENDPOINT_SLICE, &b->slices);

    for (size_t i = 0; i < n; i++) {
        if (((const struct k8s_endpoint_slice *)b->slices[i])->service)
            b->slices[b->n_slices++] = b->slices[i];
    }
    /* early in the build, when qsort()'s copy costs nothing at its peak */
    qsort(b->slices, b->n_slices, sizeof(*b->slices), cmp_slice);
}

/* Index of the first EndpointSlice of Service <ns>/<svc>, or of the first
 * after where it would be. */
static size_t first_slice(const struct builder *b, const char *ns, const char *svc)
{
    size_t lo = 0, hi = b->n_slices;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct k8s_endpoint_slice *es = (const void *)b->slices[mid];
        int c = strcmp(es->obj.meta.ns, ns);

        if (c < 0 || (!c && strcmp(es->service, svc) < 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int cmp_server(const void *a, const void *b)
{
    return model_server_cmp(a, b);
}

const unsigned char *model_endpoint_servers(struct arena *a, const struct k8s_obj *const *slices,
                                           size_t n_slices, const char *port_name, uint32_t *n_out,
                                           uint32_t *n_v4)
{
    struct model_server *servers = NULL;
    const unsigned char *packed;
    size_t cap = 0, n = 0, unique = 0;

    *n_out = *n_v4 = 0;
    for (size_t i = 0; i < n_slices; i++) {
        const struct k8s_endpoint_slice *es = (const void *)slices[i];
        int32_t port = 0;

        if (es->addr_type == K8S_ADDR_FQDN)
            continue;
        for (size_t j = 0; j < es->n_ports; j++) {
            if (!strcmp(es->ports[j].name, port_name))
                port = es->ports[j].port;
        }
        if (!port)
            continue;
        for (size_t j = 0; j < es->n_endpoints; j++) {
            const struct k8s_endpoint *ep = &es->endpoints[j];

            /* terminating endpoints finish what they have but get nothing new */
            if (!ep->ready || ep->terminating)
                continue;
            for (size_t k = 0; k < ep->n_addresses; k++) {
                struct model_server s = {.port = (uint16_t)port,
                                         .v6 = es->addr_type == K8S_ADDR_IPV6};

                memcpy(s.addr, es->addrs + (ep->addr_at + k) * K8S_ADDR_LEN(es->addr_type),
                       K8S_ADDR_LEN(es->addr_type));
                servers = xgrow(servers, &cap, n + 1, sizeof(*servers));
                servers[n++] = s;
            }
        }
    }
    if (!n)
        return NULL;
    /* sorted, so that an address in two slices is served once */
    qsort(servers, n, sizeof(*servers), cmp_server);
    for (size_t i = 0; i < n; i++) {
        if (!unique || cmp_server(&servers[unique - 1], &servers[i]))
            servers[unique++] = servers[i];
    }
    packed = model_pack_servers(a, servers, unique, n_v4);
    *n_out = (uint32_t)unique;
    free(servers);
    return packed;
}

/* The ready endpoints of port <sp> of Service <ns>/<svc>, packed (in the
 * model's arena) in *<packed>, *<n_out> of them, *<n_v4> IPv4. */
static void resolve_servers(struct builder *b, const unsigned char **packed, uint32_t *n_out,
                            uint32_t *n_v4, const char *ns, const char *svc,
                            const struct k8s_service_port *sp)
{
    size_t first = first_slice(b, ns, svc), end = first;

    while (end < b->n_slices) {
        const struct k8s_endpoint_slice *es = (const void *)b->slices[end];

        if (strcmp(es->service, svc) || strcmp(es->obj.meta.ns, ns))
            break;
        end++;
    }
    *packed = model_endpoint_servers(&b->m->arena, b->slices + first, end - first, sp->name,
                                     n_out, n_v4);
}

/* ====== Basic authentication ====== */

struct userlist_state {
    const struct model_userlist *ul;
    const char *err;                 /* why there is none (tmp) */
};

/* Why <hash> cannot be a password hash for HAProxy (crypt(3) of glibc),
 * or NULL. Only characters crypt(3) writes: the hash is a bare word of the
 * configuration. */
static const char *hash_problem(const char *hash)
{
    static const char *const schemes[] = {"$1$", "$5$", "$6$", "$2a$", "$2b$",
                                          "$2y$", "$y$", "$gy$", "$7$", "$sha1$"};
    size_t len = strlen(hash);

    if (str_has_prefix(hash, "$apr1$"))
        return "an Apache MD5 ($apr1$) hash, which HAProxy cannot check: make one with "
               "`htpasswd -nB USER` (bcrypt) or `mkpasswd -m sha-512`";
    if (str_has_prefix(hash, "{SHA}"))
        return "an Apache SHA-1 ({SHA}) hash, which HAProxy cannot check: make one with "
               "`htpasswd -nB USER` (bcrypt) or `mkpasswd -m sha-512`";
    if (len > 256 || strspn(hash, "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz$=,") != len)
        return "not a crypt(3) hash (a plain password is not accepted)";
    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        if (str_has_prefix(hash, schemes[i]) && len > strlen(schemes[i]))
            return NULL;
    }
    /* traditional DES: 13 characters, no '$' */
    if (len == 13 && !strchr(hash, '$') && !strchr(hash, '=') && !strchr(hash, ','))
        return NULL;
    return "not a crypt(3) hash (a plain password is not accepted)";
}

static bool valid_user_name(const char *u, size_t len)
{
    return len && len <= 64 &&
           strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-") >=
               len;
}

/* Adds user <u> (<ulen> bytes) with <hash> to <ul>; an error (tmp) or NULL. */
static const char *add_user(struct builder *b, struct model_userlist *ul, size_t *cap,
                            const char *ref, const char *u, size_t ulen, const char *hash)
{
    const char *why;

    if (!valid_user_name(u, ulen))
        return arena_printf(&b->tmp, "secret \"%s\": user \"%.*s\": a user name must be 1 to "
                                     "64 letters, digits or '._@+-'",
                            ref, (int)(ulen > 64 ? 64 : ulen), u);
    why = hash_problem(hash);
    if (why)
        return arena_printf(&b->tmp, "secret \"%s\": user \"%.*s\": %s", ref, (int)ulen, u, why);
    for (size_t i = 0; i < ul->n_users; i++) {
        if (strlen(ul->users[i]) == ulen && !memcmp(ul->users[i], u, ulen))
            return arena_printf(&b->tmp, "secret \"%s\": user \"%.*s\" is there twice", ref,
                                (int)ulen, u);
    }
    if (ul->n_users == *cap) {
        size_t ncap = *cap ? 2 * *cap : 8;
        const char **nu = arena_alloc(&b->m->arena, ncap * sizeof(*nu));
        const char **nh = arena_alloc(&b->m->arena, ncap * sizeof(*nh));

        if (ul->n_users) {
            memcpy(nu, ul->users, ul->n_users * sizeof(*nu));
            memcpy(nh, ul->hashes, ul->n_users * sizeof(*nh));
        }
        ul->users = nu;
        ul->hashes = nh;
        *cap = ncap;
    }
    ul->users[ul->n_users] = arena_strndup(&b->m->arena, u, ulen);
    ul->hashes[ul->n_users++] = arena_strdup(&b->m->arena, hash);
    return NULL;
}

/* Reads the users of Secret <s> into <ul>: its key "auth" as an htpasswd
 * file, else each key a user and its value the hash. An error or NULL. */
static const char *read_users(struct builder *b, struct model_userlist *ul,
                              const struct k8s_secret *s, const char *ref)
{
    const char *file = k8s_kv_get(s->users, s->n_users, "auth"), *err = NULL;
    size_t cap = 0;

    if (file) {
        for (const char *p = file; *p && !err;) {
            size_t len = strcspn(p, "\n"), ulen;
            char line[600];

            if (len >= sizeof(line))
                return arena_printf(&b->tmp, "secret \"%s\": auth: a line is longer than %zu "
                                             "bytes",
                                    ref, sizeof(line) - 1);
            memcpy(line, p, len);
            line[len] = '\0';
            p += len + (p[len] == '\n');
            if (len && line[len - 1] == '\r')
                line[--len] = '\0';
            if (!len || line[0] == '#')
                continue;
            ulen = strcspn(line, ":");
            if (!line[ulen])
                return arena_printf(&b->tmp, "secret \"%s\": auth: each line must be "
                                             "\"user:hash\"",
                                    ref);
            err = add_user(b, ul, &cap, ref, line, ulen, line + ulen + 1);
        }
    } else {
        for (size_t i = 0; i < s->n_users && !err; i++)
            err = add_user(b, ul, &cap, ref, s->users[i].key, strlen(s->users[i].key),
                           s->users[i].val);
    }
    if (!err && !ul->n_users)
        err = arena_printf(&b->tmp, "secret \"%s\" has no users", ref);
    return err;
}

static int cmp_user(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The users a backend of namespace <ns> with keys <kv> checks, or NULL with
 * *<err> saying why there are none (its requests then get 503). */
static const struct model_userlist *backend_userlist(struct builder *b, const char *ns,
                                                     const struct key_values *kv,
                                                     const char **err)
{
    struct userlist_state *st;
    const struct k8s_secret *s;
    struct model_userlist *ul;
    char key[512], sns[64];
    const char *slash, *name;

    if (!kv->auth_secret) {
        *err = "auth-type is set but auth-secret is not; requests get 503";
        return NULL;
    }
    slash = strchr(kv->auth_secret, '/');
    name = slash ? slash + 1 : kv->auth_secret;
    snprintf(sns, sizeof(sns), "%.*s", slash ? (int)(slash - kv->auth_secret) : 63,
             slash ? kv->auth_secret : ns);
    k8s_key(key, sizeof(key), sns, name);
    st = hmap_get(&b->userlists, key);
    if (st) {
        *err = st->err;
        return st->ul;
    }
    st = arena_alloc(&b->tmp, sizeof(*st));
    memset(st, 0, sizeof(*st));
    hmap_put(&b->userlists, arena_strdup(&b->tmp, key), st);
    reads_data(b, sns, name);
    s = (const struct k8s_secret *)look_up(b, K8S_SECRET, sns, name);
    if (!s) {
        st->err = arena_printf(&b->tmp, "auth-secret: secret \"%s\" not found; requests get 503",
                               key);
    } else if (s->data_dropped) {
        /* the caller fetches it and builds again */
        struct model *m = b->m;

        st->err = arena_printf(&b->tmp, "auth-secret: secret \"%s\": its data is being fetched",
                               key);
        m->wanted = xrealloc(m->wanted, (m->n_wanted + 1) * sizeof(*m->wanted));
        m->wanted[m->n_wanted++] = arena_strdup(&m->arena, key);
    } else {
        const char *why;

        ul = arena_alloc(&b->m->arena, sizeof(*ul));
        memset(ul, 0, sizeof(*ul));
        why = read_users(b, ul, s, key);
        if (why) {
            st->err = arena_printf(&b->tmp, "auth-secret: %s; requests get 503", why);
        } else {
            const char **pairs = arena_alloc(&b->tmp, 2 * ul->n_users * sizeof(*pairs));

            /* sorted by user, hashes alongside */
            for (size_t i = 0; i < ul->n_users; i++) {
                pairs[2 * i] = ul->users[i];
                pairs[2 * i + 1] = ul->hashes[i];
            }
            if (ul->n_users)
                qsort(pairs, ul->n_users, 2 * sizeof(*pairs), cmp_user);
            for (size_t i = 0; i < ul->n_users; i++) {
                ul->users[i] = pairs[2 * i];
                ul->hashes[i] = pairs[2 * i + 1];
            }
            ul->name = arena_printf(&b->m->arena, "%s_%s", sns, name);
            push(&b->m->arena, (const void ***)&b->m->userlists, &b->m->n_userlists, ul);
            st->ul = ul;
        }
    }
    *err = st->err;
    return st->ul;
}

/* ====== TLS to the endpoints ====== */

static struct secret_state *get_secret(struct builder *b, const char *ns, const char *name);

/* A file of server-ca or server-crt as this build made it, or not. */
struct server_tls_state {
    const char *file;      /* model arena; NULL when the Secret is unusable */
    const char *err;       /* why, tmp */
};

/* The re-encoded CA certificates of Secret <s> (ca.crt, else tls.crt) into
 * <f>, or the reason they are unusable (tmp). */
static const char *read_server_ca(struct builder *b, const struct k8s_secret *s,
                                  struct model_file *f)
{
    char *err = NULL, *pem;
    const char *why;
    size_t len = 0;

    if (!s->ca && !s->crt)
        return "has neither ca.crt nor tls.crt";
    pem = s->ca ? tls_ca_pem(s->ca, s->ca_len, &len, &err)
                : tls_ca_pem(s->crt, s->crt_len, &len, &err);
    if (!pem) {
        why = arena_printf(&b->tmp, "%s: %s", s->ca ? "ca.crt" : "tls.crt", err);
        free(err);
        return why;
    }
    f->data = arena_strndup(&b->m->arena, pem, len);
    f->len = len;
    free(pem);
    return NULL;
}

/* The file of key <key> ("server-ca" or "server-crt") for Secret <ref>
 * ("name" in <ns>, or "ns/name"), made once per build; NULL with *<err>
 * set (tmp) when the Secret is unusable. */
static const char *server_tls_file(struct builder *b, const char *key, const char *ref,
                                   const char *ns, const char **err)
{
    bool ca = !strcmp(key, "server-ca");
    const char *slash = strchr(ref, '/'), *name = slash ? slash + 1 : ref;
    struct server_tls_state *st;
    struct model_file *f;
    char sns[64], id[520], skey[512];

    snprintf(sns, sizeof(sns), "%.*s", slash ? (int)(slash - ref) : 63, slash ? ref : ns);
    k8s_key(skey, sizeof(skey), sns, name);
    snprintf(id, sizeof(id), "%s:%s", ca ? "ca" : "crt", skey);
    st = hmap_get(&b->server_tls, id);
    if (st) {
        *err = st->err;
        return st->file;
    }
    st = arena_alloc(&b->tmp, sizeof(*st));
    memset(st, 0, sizeof(*st));
    hmap_put(&b->server_tls, arena_strdup(&b->tmp, id), st);
    f = arena_alloc(&b->m->arena, sizeof(*f));
    memset(f, 0, sizeof(*f));
    reads_data(b, sns, name);
    if (ca) {
        const struct k8s_secret *s =
            (const struct k8s_secret *)look_up(b, K8S_SECRET, sns, name);

        if (!s) {
            st->err = "not found";
        } else if (s->data_dropped) {
            /* the caller fetches it and builds again */
            struct model *m = b->m;

            st->err = "its data is being fetched";
            m->wanted = xrealloc(m->wanted, (m->n_wanted + 1) * sizeof(*m->wanted));
            m->wanted[m->n_wanted++] = arena_strdup(&m->arena, skey);
        } else {
            st->err = read_server_ca(b, s, f);
        }
    } else {
        struct secret_state *ss = get_secret(b, sns, name);

        if (!ss->cert) {
            st->err = ss->err;
        } else {
            char *pem = arena_alloc(&b->m->arena, ss->cert->pem_len + 1);

            tls_entry_pem(ss->cert, pem);
            f->data = pem;
            f->len = ss->cert->pem_len;
        }
    }
    if (st->err) {
        /* get_secret()'s reasons name the Secret already */
        if (!ca && strstr(st->err, "secret \""))
            st->err = arena_printf(&b->tmp, "%s: %s; requests get 503", key, st->err);
        else
            st->err = arena_printf(&b->tmp, "%s: secret \"%s\" %s; requests get 503", key,
                                   skey, st->err);
        *err = st->err;
        return NULL;
    }
    /* Portico's name: the hash of the Secret's "ns/name", no text of it */
    f->name = arena_printf(&b->m->arena, MODEL_SERVER_TLS_DIR "/%s-%016llx.pem",
                           ca ? "ca" : "crt",
                           (unsigned long long)hash_fnv1a(skey, strlen(skey)));
    push(&b->m->arena, &b->server_files, &b->n_server_files, f);
    st->file = f->name;
    *err = NULL;
    return st->file;
}

/* Gives backend <be> of namespace <ns> the files of server-ca and
 * server-crt of <kv>; NULL, or why they are unusable (the backend then
 * closes). */
static const char *server_tls(struct builder *b, struct model_backend *be, const char *ns,
                              const struct key_values *kv)
{
    const char *why = NULL;

    if (kv->ssl_passthrough)
        return NULL; /* the client's TLS goes through as it is */
    if (kv->server_ca)
        be->server_ca = server_tls_file(b, "server-ca", kv->server_ca, ns, &why);
    if (!why && kv->server_crt)
        be->server_crt = server_tls_file(b, "server-crt", kv->server_crt, ns, &why);
    if (why) {
        be->server_ca = be->server_crt = NULL;
        be->tls_closed = true;
    }
    return why;
}

static void check_snippet(struct builder *b, const char *obj, const char *field,
                          const char **text);
static const char *snippet_field(const struct k8s_obj *o, char *field, size_t size);

/* Service <ns>/<name> or NULL, and in *<sp> its port named <port_name>, or
 * numbered <port_num> without a name, or NULL. */
static const struct k8s_service *find_service_port(struct builder *b, const char *ns,
                                                   const char *name, const char *port_name,
                                                   int32_t port_num,
                                                   const struct k8s_service_port **sp)
{
    const struct k8s_service *svc;

    *sp = NULL;
    svc = (const struct k8s_service *)look_up(b, K8S_SERVICE, ns, name);
    for (size_t i = 0; svc && i < svc->n_ports && !*sp; i++) {
        if (port_name ? !strcmp(svc->ports[i].name, port_name) : svc->ports[i].port == port_num)
            *sp = &svc->ports[i];
    }
    return svc;
}

/* ingress-nginx's default-backend <svc_name> of namespace <ns>: the ready
 * endpoints of its first port become <be>'s backup servers, which HAProxy
 * uses while <be> has no server (and, with "option allbackups", all of
 * them). NULL, or why none can be (in the model's arena). */
static const char *fallback_servers(struct builder *b, struct model_backend *be, const char *ns,
                                    const char *svc_name)
{
    const struct k8s_service *svc =
        (const struct k8s_service *)look_up(b, K8S_SERVICE, ns, svc_name);
    const struct k8s_service_port *sp = svc && svc->n_ports ? &svc->ports[0] : NULL;

    if (!svc || !sp)
        return arena_printf(&b->m->arena,
                            "default-backend: service \"%s/%s\" %s; no fallback while the "
                            "route's service has no endpoint",
                            ns, svc_name, svc ? "has no ports" : "not found");
    if (svc->external_name || (*sp->name && !valid_port_name(sp->name)))
        return arena_printf(&b->m->arena,
                            "default-backend: service \"%s/%s\" %s; no fallback while the "
                            "route's service has no endpoint",
                            ns, svc_name,
                            svc->external_name ? "is of type ExternalName, which is not supported"
                                               : "has a port with an invalid name");
    resolve_servers(b, &be->backups, &be->n_backups, &be->n_backups_v4, ns, svc_name, sp);
    return NULL;
}

/* Returns the backend for a Service port, creating it on first use. A
 * missing Service or port still gets a backend: it has no servers, so HAProxy
 * answers 503, and the Ingress gets a warning. */
static const char *ensure_backend(struct builder *b, const char *obj, const struct where *w,
                                  const char *ns, const char *svc_name, const char *port_name,
                                  int32_t port_num, const struct key_values *kv)
{
    struct model *m = b->m;
    struct model_backend *be;
    const struct k8s_service *svc;
    const struct k8s_service_port *sp = NULL;
    const char *problem = NULL;
    char name[320], port[64];
    uint32_t *slot;
    uint64_t hash;
    struct key_values skv;

    svc = find_service_port(b, ns, svc_name, port_name, port_num, &sp);
    /* one backend per Service port, however the Ingresses name it */
    if (sp && valid_port_name(sp->name))
        str_concat(port, sizeof(port), sp->name, NULL);
    else if (sp)
        snprintf(port, sizeof(port), "%d", sp->port);
    else if (port_name)
        str_concat(port, sizeof(port), port_name, NULL);
    else
        snprintf(port, sizeof(port), "%d", port_num);
    str_concat(name, sizeof(name), ns, "_", svc_name, "_", port, NULL);
    /* the Service's backend keys win over the Ingress's */
    if (svc && svc->obj.n_annotations) {
        struct issue_ctx ictx;
        char ref[600];
        bool first = !hmap_get(&b->svc_keys_seen, svc->obj.meta.key);

        k8s_obj_ref(&svc->obj, ref, sizeof(ref));
        ictx.b = b;
        ictx.obj = ref;
        skv = kv ? *kv : b->global;
        keys_apply_service(&b->m->arena, &skv, svc->obj.meta.annotations, svc->obj.n_annotations,
                           first ? key_issue : no_issue, &ictx);
        /* the Ingress decides how its hosts are routed (by SNI or by HTTP) */
        skv.ssl_passthrough = (kv ? kv : &b->global)->ssl_passthrough;
        /* a snippet of the Service's is checked as an Ingress's is; one
         * left out leaves the Ingress's */
        if (skv.backend_snippet != (kv ? kv : &b->global)->backend_snippet) {
            char field[320];

            check_snippet(b, first ? ref : NULL, snippet_field(&svc->obj, field, sizeof(field)),
                          &skv.backend_snippet);
            if (!skv.backend_snippet)
                skv.backend_snippet = (kv ? kv : &b->global)->backend_snippet;
        }
        if (first)
            hmap_put(&b->svc_keys_seen, svc->obj.meta.key, (void *)1);
        kv = &skv;
    }
    /* a Service port reached with other backend keys is another backend,
     * named after the keys' hash: equal keys share it */
    if (kv && keys_backend_differs(kv, &b->global, &hash)) {
        size_t len = strlen(name);

        snprintf(name + len, sizeof(name) - len, "_%012llx",
                 (unsigned long long)(hash & 0xffffffffffffULL));
    } else {
        kv = NULL;
    }
    slot = itab_slot(&b->backend_index, name);
    if (*slot) {
        be = &m->backend_store[*slot - 1];
        problem = hmap_get(&b->backend_err, name);
        goto out;
    }
    if (m->n_backends == b->max_backends)
        abort(); /* size_tables() counted too few: a bug */
    be = &m->backend_store[m->n_backends];
    memset(be, 0, sizeof(*be));
    be->name = arena_strdup(&m->arena, name);
    if (kv) {
        struct key_values *opts = arena_alloc(&m->arena, sizeof(*opts));

        *opts = *kv; /* its text values are in the model's arena already */
        be->opts = opts;
    }
    *slot = (uint32_t)++m->n_backends;
    if (!svc)
        problem = arena_printf(&b->m->arena, "service \"%s/%s\" not found; requests get 503",
                               ns, svc_name);
    else if (!sp)
        problem = arena_printf(&b->m->arena, "service \"%s/%s\" has no port %s; requests get 503",
                               ns, svc_name, port);
    else if (*sp->name && !valid_port_name(sp->name))
        problem = arena_printf(&b->m->arena,
                               "service \"%s/%s\" port %s has an invalid name; requests get 503",
                               ns, svc_name, port);
    else if (svc->external_name)
        problem = arena_printf(&b->m->arena,
                               "service \"%s/%s\" is of type ExternalName, which is not "
                               "supported; requests get 503",
                               ns, svc_name);
    else if (!(problem = server_tls(b, be, ns, kv ? kv : &b->global))) {
        resolve_servers(b, &be->servers, &be->n_servers, &be->n_v4, ns, svc_name, sp);
        be->svc_hash = k8s_lookup_hash(K8S_SERVICE, ns, svc_name);
    }
    if (kv && kv->nginx_default_backend) {
        const char *why = fallback_servers(b, be, ns, kv->nginx_default_backend);

        if (why && !problem)
            problem = why;
    }
    if (kv && kv->auth_type) {
        const char *why = NULL;

        be->userlist = backend_userlist(b, ns, kv, &why);
        if (why && !problem)
            problem = arena_strdup(&b->m->arena, why);
    }
    if (problem)
        hmap_put(&b->backend_err, be->name, (void *)problem);
out:
    be->refs++;
    if (problem && obj) {
        char field[160];

        add_issue(b, MODEL_SEV_WARN, obj, where_field(w, field, sizeof(field)), "%s", problem);
    }
    return be->name;
}

/* ====== Class selection ====== */

static bool class_is_ours(struct builder *b, const char *name)
{
    const struct k8s_ingress_class *ic =
        (const struct k8s_ingress_class *)store_get(b->store, K8S_INGRESS_CLASS, "", name);

    return ic && ic->controller && !strcmp(ic->controller, b->opts->controller_name);
}

/* Default IngressClass marker: 1 ours, -1 someone else's, 0 none. */
static int default_class(struct builder *b)
{
    const struct k8s_obj **objs;
    size_t n = store_list(b->store, K8S_INGRESS_CLASS, &objs);
    int ret = 0;

    for (size_t i = 0; i < n; i++) {
        const struct k8s_ingress_class *ic = (const struct k8s_ingress_class *)objs[i];
        const char *v = k8s_kv_get(ic->obj.meta.annotations, ic->obj.n_annotations,
                                   "ingressclass.kubernetes.io/is-default-class");

        if (!v || strcmp(v, "true"))
            continue;
        if (ic->controller && !strcmp(ic->controller, b->opts->controller_name))
            ret = 1;
        else if (ret == 0)
            ret = -1;
    }
    free(objs);
    return ret;
}

static bool ingress_is_ours(struct builder *b, const struct k8s_ingress *ing, int defclass)
{
    const char *ann = k8s_kv_get(ing->obj.meta.annotations, ing->obj.n_annotations,
                                 "kubernetes.io/ingress.class");

    /* the deprecated annotation wins over the field */
    if (ann)
        return !strcmp(ann, b->opts->ingress_class);
    if (ing->class_name)
        return class_is_ours(b, ing->class_name);
    if (defclass != 0)
        return defclass > 0;
    return b->opts->watch_without_class;
}

bool model_owns_ingress(const struct store *store, const struct model_opts *opts,
                        const struct k8s_ingress *ing)
{
    struct builder b;

    memset(&b, 0, sizeof(b));
    b.store = store;
    b.opts = opts;
    return ingress_is_ours(&b, ing, default_class(&b));
}

/* ====== Validation ====== */

/* Why <be> cannot be served, in <msg>, or NULL when it can. */
static const char *backend_problem(const struct k8s_ingress_backend *be, char *msg, size_t size)
{
    if (!be->svc)
        return NULL; /* a backend.resource: reported when used */
    if (!valid_dns_label(be->svc)) {
        snprintf(msg, size, "service name \"%s\" is not a valid DNS label", be->svc);
        return msg;
    }
    if (be->port_name && !valid_port_name(be->port_name)) {
        snprintf(msg, size, "port name \"%s\" is not a valid port name", be->port_name);
        return msg;
    }
    return NULL;
}

/* Rejects the whole Ingress when a field cannot be represented safely or
 * breaks the API's validation, as the API server would have. */
static bool ingress_is_valid(struct builder *b, const struct k8s_ingress *ing, const char *obj)
{
    char field[160], msg[1024];

    if (!valid_dns_label(ing->obj.meta.ns) || !valid_dns_subdomain(k8s_name(&ing->obj.meta))) {
        add_issue(b, MODEL_SEV_ERROR, obj, "metadata",
                  "namespace or name is not a valid DNS name; ingress skipped");
        return false;
    }
    if (ing->default_backend && backend_problem(ing->default_backend, msg, sizeof(msg))) {
        add_issue(b, MODEL_SEV_ERROR, obj, "spec.defaultBackend", "%s; ingress skipped", msg);
        return false;
    }
    for (size_t i = 0; i < ing->n_rules; i++) {
        const struct k8s_ingress_rule *r = &ing->rules[i];

        if (r->host && !valid_host(r->host)) {
            snprintf(field, sizeof(field), "spec.rules[%zu].host", i);
            add_issue(b, MODEL_SEV_ERROR, obj, field,
                      "\"%.100s\" is not a valid host name (lower-case DNS name, optionally "
                      "\"*.\" first); ingress skipped",
                      r->host);
            return false;
        }
        /* fields are named only for an issue, as in struct where */
        for (size_t j = 0; j < r->n_paths; j++) {
            const char *why = validate_path(r->paths[j].path, r->paths[j].type);
            struct k8s_ingress_backend be = k8s_path_backend(&r->paths[j]);

            if (why) {
                snprintf(field, sizeof(field), "spec.rules[%zu].http.paths[%zu].path", i, j);
                add_issue(b, MODEL_SEV_ERROR, obj, field, "\"%.100s\" %s; ingress skipped",
                          r->paths[j].path, why);
                return false;
            }
            if (backend_problem(&be, msg, sizeof(msg))) {
                snprintf(field, sizeof(field), "spec.rules[%zu].http.paths[%zu].backend", i, j);
                add_issue(b, MODEL_SEV_ERROR, obj, field, "%s; ingress skipped", msg);
                return false;
            }
        }
    }
    for (size_t i = 0; i < ing->n_tls; i++) {
        const struct k8s_ingress_tls *t = &ing->tls[i];

        for (size_t j = 0; j < t->n_hosts; j++) {
            if (!valid_host(t->hosts[j])) {
                snprintf(field, sizeof(field), "spec.tls[%zu].hosts[%zu]", i, j);
                add_issue(b, MODEL_SEV_ERROR, obj, field,
                          "\"%.100s\" is not a valid host name; ingress skipped", t->hosts[j]);
                return false;
            }
        }
        if (t->secret && !valid_dns_subdomain(t->secret)) {
            snprintf(field, sizeof(field), "spec.tls[%zu].secretName", i);
            add_issue(b, MODEL_SEV_ERROR, obj, field,
                      "\"%.100s\" is not a valid Secret name; ingress skipped", t->secret);
            return false;
        }
    }
    return true;
}

/* ====== Routes ====== */

/* The maps of hosts, which hold their values, not claims. */
static bool is_host_map(enum model_map map)
{
    return map == MODEL_MAP_HOSTS || map == MODEL_MAP_WILDCARDS;
}

/* Adds the entry <key> (in the model's arena) -> <value> to <mb>, in the
 * empty <slot> of its index; returns its place. */
static size_t add_entry(struct map_build *mb, uint32_t *slot, const char *key, const char *value)
{
    if (mb->n == mb->max)
        abort(); /* size_tables() counted too few: a bug */
    mb->entries[mb->n].key = key;
    mb->entries[mb->n].value = value;
    *slot = (uint32_t)++mb->n;
    return mb->n - 1;
}

/* Claims <key> in <map> for the Ingress being added. Two rules can share a
 * key while their own paths differ in length (Prefix "/foo" and
 * ImplementationSpecific "/foo/" both own "host/foo/"): the longer path
 * matches more precisely and wins. Otherwise the first claim, from the oldest
 * Ingress, wins and the loser is warned unless <quiet> (the second key of one
 * Prefix path). <value> must be in the model's arena. */
static void claim(struct builder *b, enum model_map map, const char *key, const char *value,
                  size_t rank, const struct where *w, bool quiet)
{
    struct map_build *mb = &b->maps[map];
    uint32_t *slot = itab_slot(&mb->index, key);
    const char *obj = b->cur_ref;
    struct model_entry *e;
    struct claim *c;
    bool path_map;

    /* an alias's copy of the rules: each of its keys is this Ingress's alone
     * (add_aliases()), a repeat is the same path of another rule */
    quiet |= b->cur_alias != NULL;
    if (!*slot) {
        /* the model keeps the key */
        c = &mb->claims[add_entry(mb, slot, arena_strdup(&b->m->arena, key), value)];
        c->owner = b->cur;
        c->rank = (uint32_t)rank; /* paths are far shorter than 4 GiB */
        c->canary = 0;
        return;
    }
    e = &mb->entries[*slot - 1];
    c = &mb->claims[*slot - 1];
    if (rank > c->rank) {
        e->value = value;
        c->owner = b->cur;
        c->rank = (uint32_t)rank;
        return;
    }
    /* a repeated path is reported even with the same backend; a repeated
     * host in a TLS or default entry is a normal merge */
    path_map = map == MODEL_MAP_EXACT || map == MODEL_MAP_PREFIX_EXACT || map == MODEL_MAP_PREFIX;
    if (rank == c->rank && !quiet && (path_map || strcmp(e->value, value))) {
        char fbuf[160], wbuf[2400], older[600];
        const char *field = where_field(w, fbuf, sizeof(fbuf));
        const char *what = where_what(w, wbuf, sizeof(wbuf));

        if (c->owner == b->cur) {
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "%s is declared twice in this Ingress; the first declaration wins", what);
        } else {
            k8s_obj_ref(b->ours[c->owner], older, sizeof(older));
            if (b->cur >= b->n_living && c->owner < b->n_living)
                add_issue(b, MODEL_SEV_WARN, obj, field,
                          "%s is also defined by %s, which takes it over: this Ingress is being "
                          "deleted",
                          what, older);
            else
                add_issue(b, MODEL_SEV_WARN, obj, field,
                          "%s is already defined by the older %s; ignored here", what, older);
        }
    }
}

static const char *path_backend(struct builder *b, const struct k8s_ingress *ing,
                                const char *obj, const struct where *w,
                                const struct k8s_ingress_backend *be)
{
    /* an alias's copy of a path: reported on the path itself already */
    if (b->cur_alias)
        obj = NULL;
    if (b->cur_closed)
        return MODEL_FORBIDDEN_BACKEND;
    if (!be->svc) {
        char field[160];

        if (obj)
            add_issue(b, MODEL_SEV_WARN, obj, where_field(w, field, sizeof(field)),
                      "backend.resource is not supported; treated as a missing service (503)");
        return ensure_backend(b, NULL, NULL, ing->obj.meta.ns, "portico-unsupported-resource",
                              NULL, 1, NULL);
    }
    return ensure_backend(b, obj, w, ing->obj.meta.ns, be->svc, be->port_name, be->port_num,
                          b->cur_kv);
}

/* <host>, the first <len> bytes of <path>, then <tail>, cut to the <size>
 * bytes of <buf> (valid hosts and paths always fit). */
static const char *path_key(char *buf, size_t size, const char *host, const char *path,
                            size_t len, const char *tail)
{
    const char *parts[3] = {host, path, tail};
    size_t lens[3] = {strlen(host), len, strlen(tail)}, at = 0;

    for (int i = 0; i < 3; i++) {
        size_t n = lens[i] < size - 1 - at ? lens[i] : size - 1 - at;

        memcpy(buf + at, parts[i], n);
        at += n;
    }
    buf[at] = '\0';
    return buf;
}

/* The length of Prefix path <path>, of <len> bytes, without the slashes that
 * end it: matching is element-wise, "/foo" and "/foo/" both mean "/foo" and
 * "/foo/...". 1 for "/", which takes one key, where the others take two. */
static size_t prefix_len(const char *path, size_t len)
{
    while (len > 1 && path[len - 1] == '/')
        len--;
    return len;
}

/* The length of the literal start of regex <path>, before its first
 * metacharacter. */
static size_t regex_literal_len(const char *path)
{
    return strcspn(path, ".^$*+?()[]{}|\\");
}

/* The backend of a path of an Ingress with ingress-nginx's rewrite-target
 * or use-regex, or NULL when it has neither. Such a path is a regex, as
 * nginx reads it (location ~ "^PATH"); rewrite-target gets a backend of its
 * own whose path-rewrite is this path's alone (nginx rewrites per location,
 * and one rewrite must not meet another's result). An ImplementationSpecific
 * path with regex characters is routed here, by its literal start, as a
 * plain string prefix: *<routed> is then true. */
static const char *nginx_path_backend(struct builder *b, const struct k8s_ingress *ing,
                                      const char *obj, const struct where *w, const char *hk,
                                      bool *routed)
{
    const struct key_values *kv = b->cur_kv;
    const struct k8s_ingress_path *p = w->p;
    struct k8s_ingress_backend pb = k8s_path_backend(p);
    size_t lit = regex_literal_len(p->path);
    struct key_values pkv;
    const char *be;
    char key[2400];

    *routed = false;
    if (!kv || (!kv->nginx_use_regex && !kv->nginx_rewrite_target))
        return NULL;
    pkv = *kv;
    if (kv->nginx_rewrite_target) {
        char *err = NULL, field[160];

        if (keys_nginx_rewrite(&b->m->arena, &pkv, p->path, &err)) {
            if (!b->cur_alias)
                add_issue(b, MODEL_SEV_WARN, obj, where_field(w, field, sizeof(field)),
                          "rewrite-target cannot apply to this path: %s; not rewritten", err);
            free(err);
            pkv.path_rewrite = kv->path_rewrite;
        }
    }
    b->cur_kv = &pkv;
    be = path_backend(b, ing, obj, w, &pb);
    b->cur_kv = kv;
    if (p->type == K8S_PATH_IMPL && p->path[lit]) {
        /* the literal start, "/" at least */
        path_key(key, sizeof(key), hk, lit ? p->path : "/", lit ? lit : 1, "");
        claim(b, MODEL_MAP_PREFIX, key, be, lit, w, false);
        *routed = true;
    }
    return be;
}

static void add_paths(struct builder *b, const struct k8s_ingress *ing, const char *obj,
                      size_t ri)
{
    const struct k8s_ingress_rule *r = &ing->rules[ri];
    const char *hk = b->cur_alias ? b->cur_alias : r->host ? r->host : "";

    for (size_t j = 0; j < r->n_paths; j++) {
        const struct k8s_ingress_path *p = &r->paths[j];
        struct where w = {.rule = ri, .path = j, .p = p, .host = hk};
        struct k8s_ingress_backend pb = k8s_path_backend(p);
        size_t len = strlen(p->path);
        const char *be;
        char key[2400];
        bool routed;

        be = nginx_path_backend(b, ing, obj, &w, hk, &routed);
        if (routed)
            continue;
        if (!be)
            be = path_backend(b, ing, obj, &w, &pb);
        switch (p->type) {
        case K8S_PATH_EXACT:
            path_key(key, sizeof(key), hk, p->path, len, "");
            claim(b, MODEL_MAP_EXACT, key, be, 0, &w, false);
            break;
        case K8S_PATH_PREFIX:
            len = prefix_len(p->path, len);
            if (len == 1) {
                path_key(key, sizeof(key), hk, "", 0, "/");
                claim(b, MODEL_MAP_PREFIX, key, be, 1, &w, false);
                break;
            }
            path_key(key, sizeof(key), hk, p->path, len, "");
            claim(b, MODEL_MAP_PREFIX_EXACT, key, be, len, &w, false);
            path_key(key, sizeof(key), hk, p->path, len, "/");
            claim(b, MODEL_MAP_PREFIX, key, be, len, &w, true);
            break;
        case K8S_PATH_IMPL:
            /* plain string prefix; an empty path matches everything */
            path_key(key, sizeof(key), hk, len ? p->path : "/", len ? len : 1, "");
            claim(b, MODEL_MAP_PREFIX, key, be, len, &w, false);
            break;
        }
    }
}

static bool is_wildcard(const char *host)
{
    return !strncmp(host, "*.", 2);
}

static void add_host(struct builder *b, const char *host)
{
    bool wildcard = is_wildcard(host);
    struct map_build *mb = &b->maps[wildcard ? MODEL_MAP_WILDCARDS : MODEL_MAP_HOSTS];
    uint32_t *slot = itab_slot(&mb->index, wildcard ? host + 1 : host);
    const char *h;

    if (*slot)
        return;
    /* key and value share one copy: ".suffix" -> "*.suffix", "host" -> "host";
     * no claim: every Ingress may name a host */
    h = arena_strdup(&b->m->arena, host);
    add_entry(mb, slot, wildcard ? h + 1 : h, h);
}

/* ====== TLS ====== */

/* The id of Secret <s> in the certificate cache: the hash of its data in
 * it, a rotated Secret is parsed again. */
static void secret_id(const struct k8s_secret *s, char *id, size_t size)
{
    snprintf(id, size, "%s#%016llx", s->obj.meta.key, (unsigned long long)s->data_hash);
}

const struct tls_entry *model_secret_tls(const struct model_opts *opts,
                                         const struct k8s_secret *s)
{
    char id[600];

    if (!s || !opts->tls_cache || strcmp(s->type, "kubernetes.io/tls"))
        return NULL;
    secret_id(s, id, sizeof(id));
    return s->data_dropped ? tls_cache_find(opts->tls_cache, id)
                           : tls_cache_get(opts->tls_cache, id, s->crt, s->crt_len, s->key,
                                           s->key_len);
}

void model_parse_secret(const struct model_opts *opts, const struct k8s_secret *s)
{
    if (!s->data_dropped)
        model_secret_tls(opts, s);
}

static const char *split_ref(const char *ref, char *ns, size_t size);

/* Adds the Secret an auth-secret annotation of <obj> names to <refs>. */
static void add_users_ref(const struct k8s_obj *obj, struct hmap *refs)
{
    const char *ref = keys_auth_secret(obj->meta.annotations, obj->n_annotations);
    char key[512];

    if (ref) {
        if (strchr(ref, '/'))
            snprintf(key, sizeof(key), "%s", ref);
        else
            k8s_key(key, sizeof(key), obj->meta.ns, ref);
        hmap_put(refs, key, MODEL_REF_DATA);
    }
    /* server-ca is read from the Secret by every build, server-crt parsed */
    ref = keys_annotation(obj->meta.annotations, obj->n_annotations, "server-ca");
    if (ref) {
        if (strchr(ref, '/'))
            snprintf(key, sizeof(key), "%s", ref);
        else
            k8s_key(key, sizeof(key), obj->meta.ns, ref);
        hmap_put(refs, key, MODEL_REF_DATA);
    }
    ref = keys_annotation(obj->meta.annotations, obj->n_annotations, "server-crt");
    if (ref) {
        if (strchr(ref, '/'))
            snprintf(key, sizeof(key), "%s", ref);
        else
            k8s_key(key, sizeof(key), obj->meta.ns, ref);
        if (!hmap_get(refs, key))
            hmap_put(refs, key, MODEL_REF_TLS);
    }
}

void model_secret_refs(const struct store *store, const struct model_opts *opts,
                       struct hmap *refs)
{
    const struct k8s_obj **objs;
    size_t n = store_list_unsorted(store, K8S_INGRESS, &objs);
    char key[512];

    for (size_t i = 0; i < n; i++) {
        const struct k8s_ingress *ing = (const struct k8s_ingress *)objs[i];

        for (size_t j = 0; j < ing->n_tls; j++) {
            if (ing->tls[j].secret) {
                k8s_key(key, sizeof(key), ing->obj.meta.ns, ing->tls[j].secret);
                if (!hmap_get(refs, key))
                    hmap_put(refs, key, MODEL_REF_TLS);
            }
        }
        add_users_ref(objs[i], refs);
    }
    free(objs);
    n = store_list_unsorted(store, K8S_SERVICE, &objs);
    for (size_t i = 0; i < n; i++)
        add_users_ref(objs[i], refs);
    free(objs);
    if (opts->default_ssl_cert && !hmap_get(refs, opts->default_ssl_cert))
        hmap_put(refs, opts->default_ssl_cert, MODEL_REF_TLS);
    /* the Secrets of the ConfigMap's client-ca, ssl-certificate, server-ca
     * and server-crt */
    if (opts->configmap) {
        static const struct {
            const char *key;
            void *ref;
        } keys[] = {{"client-ca", MODEL_REF_DATA},
                    {"server-ca", MODEL_REF_DATA},
                    {"ssl-certificate", MODEL_REF_TLS},
                    {"server-crt", MODEL_REF_TLS}};
        const struct k8s_configmap *cm;
        const char *name;
        char ns[256];

        name = split_ref(opts->configmap, ns, sizeof(ns));
        cm = name ? (const struct k8s_configmap *)store_get(store, K8S_CONFIGMAP, ns, name)
                  : NULL;
        for (size_t i = 0; cm && i < sizeof(keys) / sizeof(keys[0]); i++) {
            const char *v = k8s_kv_get(cm->data, cm->n_data, keys[i].key);

            if (!v)
                continue;
            if (strchr(v, '/'))
                snprintf(key, sizeof(key), "%s", v);
            else
                k8s_key(key, sizeof(key), ns, v);
            if (keys[i].ref == MODEL_REF_DATA || !hmap_get(refs, key))
                hmap_put(refs, key, keys[i].ref);
        }
    }
}

static struct secret_state *get_secret(struct builder *b, const char *ns, const char *name)
{
    struct secret_state *st;
    const struct k8s_secret *s;
    const char *ref;
    char key[512];

    k8s_key(key, sizeof(key), ns, name);
    st = hmap_get(&b->secrets, key);
    if (st)
        return st;
    st = arena_alloc(&b->tmp, sizeof(*st));
    ref = arena_strdup(&b->tmp, key);
    hmap_put(&b->secrets, ref, st);
    st->file = arena_printf(&b->m->arena, "%s_%s.pem", ns, name);
    s = (const struct k8s_secret *)look_up(b, K8S_SECRET, ns, name);
    if (!s) {
        st->err = arena_printf(&b->tmp, "secret \"%s/%s\" not found", ns, name);
    } else if (strcmp(s->type, "kubernetes.io/tls")) {
        st->err = arena_printf(&b->tmp, "secret \"%s/%s\" has type \"%s\", not kubernetes.io/tls",
                               ns, name, s->type);
    } else {
        char id[600];
        const struct tls_entry *e;

        secret_id(s, id, sizeof(id));
        /* without its data, only the form parsed before it was dropped;
         * some routes alone leave the cache as the last build left it */
        e = s->data_dropped ? (b->routes_only ? tls_cache_peek(b->tls, id)
                                              : tls_cache_find(b->tls, id))
                            : tls_cache_get(b->tls, id, s->crt, s->crt_len, s->key, s->key_len);
        if (!e) {
            /* dropped before a build parsed it: the caller fetches it and builds again */
            struct model *m = b->m;

            st->err = arena_printf(&b->tmp, "secret \"%s/%s\": its data is being fetched", ns,
                                   name);
            m->wanted = xrealloc(m->wanted, (m->n_wanted + 1) * sizeof(*m->wanted));
            m->wanted[m->n_wanted++] = arena_strdup(&m->arena, ref);
        } else if (e->der) {
            st->cert = e;
            st->hash = k8s_lookup_hash(K8S_SECRET, ns, name);
        } else {
            const struct tls_entry *last = tls_cache_last_good(b->tls, key);

            st->err = arena_printf(&b->tmp, "secret \"%s/%s\": %s", ns, name, e->err);
            /* a rotation gone wrong: the certificate served until now stays */
            if (last) {
                st->cert = last;
                st->stale = arena_printf(&b->tmp, "%s; the previous certificate keeps serving",
                                         st->err);
            }
        }
    }
    return st;
}

/* The parsed Secret of <st>, which the model holds from its first use: its
 * certificates name it, no copy. */
static const struct tls_entry *secret_tls(struct builder *b, struct secret_state *st)
{
    if (!st->held) {
        struct model *m = b->m;

        tls_entry_hold(st->cert);
        m->held = xrealloc(m->held, (m->n_held + 1) * sizeof(*m->held));
        m->held[m->n_held++] = st->cert;
        st->held = true;
    }
    return st->cert;
}

static void add_sni(struct builder *b, struct secret_state *st, const char *host,
                    const char *obj, const char *field)
{
    struct cert_acc *c = hmap_get(&b->certs, st->file);
    const char *owner;

    if (!c) {
        c = arena_alloc(&b->tmp, sizeof(*c));
        c->file = st->file;
        c->tls = secret_tls(b, st);
        c->secret = st->hash;
        hmap_put(&b->certs, st->file, c);
    }
    c->refs++;
    if (!host)
        return;
    owner = hmap_get(&b->sni_owner, host);
    if (owner && strcmp(owner, st->file)) {
        add_issue(b, MODEL_SEV_WARN, obj, field,
                  "host \"%s\" already has the certificate of an older Ingress (%s); ignored "
                  "here",
                  host, owner);
        return;
    }
    if (owner)
        return; /* listed already */
    hmap_put(&b->sni_owner, host, (void *)st->file);
    push(&b->tmp, &c->snis, &c->n_snis, host);
}

/* True when TLS entry <t> (its Secret's <st>, NULL when unusable) serves a
 * rule host of <ing>: server-alias's hosts get its certificate too, as
 * nginx serves an alias from the server block of the host it is added to. */
static bool tls_serves_rules(const struct k8s_ingress *ing, const struct k8s_ingress_tls *t,
                             const struct secret_state *st)
{
    for (size_t r = 0; r < ing->n_rules; r++) {
        const char *h = ing->rules[r].host;

        if (!h)
            continue;
        if (!t->n_hosts && (!st || tls_entry_covers(st->cert, h)))
            return true;
        for (size_t j = 0; j < t->n_hosts; j++) {
            if (!strcmp(t->hosts[j], h))
                return true;
        }
    }
    return false;
}

static void add_tls(struct builder *b, const struct k8s_ingress *ing, const char *obj,
                    const struct key_values *kv)
{
    const char *redirect_to;

    if (!ing->n_tls)
        return;
    redirect_to = arena_printf(&b->m->arena, MODEL_REDIRECT_BACKEND "%u", kv->ssl_redirect_code);
    for (size_t i = 0; i < ing->n_tls; i++) {
        const struct k8s_ingress_tls *t = &ing->tls[i];
        struct secret_state *st = NULL;
        char field[64];
        struct where redirect = {.field = field, .what = "the HTTPS redirect of this host"};

        snprintf(field, sizeof(field), "spec.tls[%zu]", i);
        if (t->secret) {
            st = get_secret(b, ing->obj.meta.ns, t->secret);
            if (!st->cert) {
                add_issue(b, MODEL_SEV_WARN, obj, field,
                          "%s; the default certificate is served instead", st->err);
                st = NULL;
            } else if (st->stale) {
                add_issue(b, MODEL_SEV_WARN, obj, field, "%s", st->stale);
            }
        } else {
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "no secretName; the default certificate is served");
        }
        if (b->n_cur_aliases && tls_serves_rules(ing, t, st)) {
            struct where alias = {.field = field, .what = "the HTTPS redirect of this alias"};

            for (size_t j = 0; j < b->n_cur_aliases; j++) {
                if (st)
                    add_sni(b, st, b->cur_aliases[j], obj, field);
                if (kv->ssl_redirect)
                    claim(b, MODEL_MAP_REDIRECT, b->cur_aliases[j], redirect_to, 0, &alias, false);
            }
        }
        if (t->n_hosts) {
            for (size_t j = 0; j < t->n_hosts; j++) {
                if (st)
                    add_sni(b, st, t->hosts[j], obj, field);
                if (kv->ssl_redirect)
                    claim(b, MODEL_MAP_REDIRECT, t->hosts[j], redirect_to, 0, &redirect, false);
            }
            continue;
        }
        /* no hosts: the rule hosts the certificate covers (all of them if unusable) */
        if (st)
            add_sni(b, st, NULL, obj, field);
        for (size_t r = 0; r < ing->n_rules; r++) {
            const char *h = ing->rules[r].host;

            if (!h || (st && !tls_entry_covers(st->cert, h)))
                continue;
            if (st)
                add_sni(b, st, h, obj, field);
            if (kv->ssl_redirect)
                claim(b, MODEL_MAP_REDIRECT, h, redirect_to, 0, &redirect, false);
        }
    }
}

/* ====== Ingresses ====== */

/* True for an object being deleted, or in a namespace being deleted. */
static bool leaving(const struct store *store, const struct k8s_obj *o)
{
    const struct k8s_namespace *ns =
        (const struct k8s_namespace *)store_get(store, K8S_NAMESPACE, "", o->meta.ns);

    return (o->flags & K8S_F_DELETING) || (ns && ns->terminating);
}

static int cmp_age(const void *a, const void *b)
{
    const struct k8s_obj *x = *(const struct k8s_obj *const *)a;
    const struct k8s_obj *y = *(const struct k8s_obj *const *)b;
    int c;

    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    c = strcmp(x->meta.ns, y->meta.ns);
    return c ? c : strcmp(k8s_name(&x->meta), k8s_name(&y->meta));
}

/* Annotations that protect what an Ingress serves (access lists,
 * authentication, rate limits, client certificates) which Portico does not
 * implement yet, under our prefixes; ingress-nginx's: k8s_nginx_guard(). */
static const char *const guards[] = {
    "client-ca", "client-crt-optional",
};

/* Access control Portico implements: a value it must refuse closes the
 * routes too, rather than serve them with no list at all. */
static const char *const enforced[] = {
    "allow-list", "whitelist", "deny-list", "blacklist", "rate-limit-requests",
    "rate-limit-period", "rate-limit-size", "rate-limit-status-code", "rate-limit-whitelist",
    "auth-type", "auth-secret", "limit-connections",
};
static const char *const enforced_nginx[] = {
    K8S_NGINX_PREFIX "whitelist-source-range", K8S_NGINX_PREFIX "allowlist-source-range",
    K8S_NGINX_PREFIX "denylist-source-range", K8S_NGINX_PREFIX "limit-rps",
    K8S_NGINX_PREFIX "limit-rpm", K8S_NGINX_PREFIX "limit-whitelist",
    K8S_NGINX_PREFIX "limit-connections",
    K8S_NGINX_PREFIX "auth-type", K8S_NGINX_PREFIX "auth-secret",
    K8S_NGINX_PREFIX "auth-secret-type",
};

/* An Ingress whose access control Portico cannot enforce fails closed: all
 * its routes answer 403, rather than serve without the protection its
 * owner asked for, and an error says why. True when <ing> must. */
static bool fails_closed(struct builder *b, const struct k8s_ingress *ing, const char *obj)
{
    for (size_t i = 0; i < ing->obj.n_annotations; i++) {
        const char *key = ing->obj.meta.annotations[i].key, *name = NULL;

        const char *why = "this access control is not supported yet: every route of this "
                          "Ingress answers 403 until it is, rather than serve without it";
        char field[320];

        for (size_t p = 0; !name && p < k8s_key_prefixes_len; p++) {
            size_t n = strlen(k8s_key_prefixes[p]);

            if (strncmp(key, k8s_key_prefixes[p], n))
                continue;
            for (size_t g = 0; !name && g < ARRAY_SIZE(guards); g++)
                name = !strcmp(key + n, guards[g]) ? guards[g] : NULL;
            for (size_t g = 0; !name && g < ARRAY_SIZE(enforced); g++) {
                if (!strcmp(key + n, enforced[g]) &&
                    !keys_value_ok(enforced[g], ing->obj.meta.annotations[i].val)) {
                    name = enforced[g];
                    why = "this access control is refused (see the warning on it): every "
                          "route of this Ingress answers 403 until it is valid, rather than "
                          "serve without it";
                }
            }
        }
        for (size_t g = 0; !name && g < ARRAY_SIZE(enforced_nginx); g++) {
            if (!strcmp(key, enforced_nginx[g]) &&
                !keys_nginx_value_ok(key, ing->obj.meta.annotations[i].val)) {
                name = key;
                why = "this access control is refused (see the warning on it): every route "
                      "of this Ingress answers 403 until it is valid, rather than serve "
                      "without it";
            }
        }
        if (!name && k8s_nginx_guard(key))
            name = key;
        if (name) {
            snprintf(field, sizeof(field), "metadata.annotations[\"%.256s\"]", key);
            add_issue(b, MODEL_SEV_ERROR, obj, field, "%s", why);
            return true;
        }
    }
    return false;
}

void model_snippet_id(const char *text, char id[17])
{
    snprintf(id, 17, "%016llx", (unsigned long long)hash_fnv1a(text, strlen(text)));
}

/* Leaves out the snippet at <*text> when snippets are off, or when HAProxy
 * refused it (a configuration with it does not load: the other objects
 * must not wait on it), with an issue saying which. */
static void check_snippet(struct builder *b, const char *obj, const char *field,
                          const char **text)
{
    const char *why;
    char id[17];

    if (!*text)
        return;
    if (!b->opts->snippets) {
        if (obj)
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "configuration snippets are off (--enable-config-snippets); ignored");
        *text = NULL;
        return;
    }
    model_snippet_id(*text, id);
    why = b->opts->refused_snippets ? hmap_get(b->opts->refused_snippets, id) : NULL;
    if (why) {
        if (obj)
            add_issue(b, MODEL_SEV_ERROR, obj, field,
                      "HAProxy refused this snippet (%s); left out", why);
        *text = NULL;
    }
}

/* The field of the annotation that set <o>'s backend-config-snippet: the
 * canonical prefix wins. */
static const char *snippet_field(const struct k8s_obj *o, char *field, size_t size)
{
    snprintf(field, size, "metadata.annotations");
    for (size_t i = o->n_annotations; i-- > 0;) {
        const char *key = o->meta.annotations[i].key, *slash = strchr(key, '/');

        if (slash && !strcmp(slash, "/backend-config-snippet"))
            snprintf(field, size, "metadata.annotations[\"%.256s\"]", key);
    }
    return field;
}

/* An Ingress with ssl-passthrough: each rule's host, by SNI, to the backend
 * of its first path, in TCP mode; port 80 redirects to HTTPS. */
static void add_passthrough(struct builder *b, const struct k8s_ingress *ing, const char *obj,
                            const struct key_values *kv)
{
    const char *redirect_to =
        arena_printf(&b->m->arena, MODEL_REDIRECT_BACKEND "%u", kv->ssl_redirect_code);
    char field[160];

    /* its routes closed: none by SNI either, the issue says why */
    if (b->cur_closed)
        return;
    if (ing->default_backend)
        add_issue(b, MODEL_SEV_WARN, obj, "spec.defaultBackend",
                  "not used with ssl-passthrough: connections are routed by host (SNI)");
    if (ing->n_tls)
        add_issue(b, MODEL_SEV_WARN, obj, "spec.tls",
                  "not used with ssl-passthrough: the endpoints terminate TLS");
    for (size_t i = 0; i < ing->n_rules; i++) {
        const struct k8s_ingress_rule *r = &ing->rules[i];
        struct where w = {.rule = i, .path = 0, .host = r->host};
        struct where redirect = {.field = field, .what = "the HTTPS redirect of this host"};
        struct k8s_ingress_backend pb;
        const char *be, *h;

        snprintf(field, sizeof(field), "spec.rules[%zu].host", i);
        if (!r->host || is_wildcard(r->host)) {
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "ssl-passthrough routes by the exact host a client names (SNI): a rule "
                      "%s is ignored",
                      r->host ? "with a wildcard host" : "without a host");
            continue;
        }
        if (!r->n_paths)
            continue;
        if (r->n_paths > 1) {
            snprintf(field, sizeof(field), "spec.rules[%zu].http.paths[1]", i);
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "ssl-passthrough sends a host's connections to its first path's backend; "
                      "the other paths are ignored");
            snprintf(field, sizeof(field), "spec.rules[%zu].host", i);
        }
        w.p = &r->paths[0];
        pb = k8s_path_backend(&r->paths[0]);
        be = path_backend(b, ing, obj, &w, &pb);
        h = arena_strdup(&b->m->arena, r->host);
        w.field = field;
        w.what = arena_printf(&b->tmp, "TLS passthrough of %s", r->host);
        claim(b, MODEL_MAP_PASSTHROUGH, h, be, 0, &w, false);
        add_host(b, r->host);
        if (kv->ssl_redirect)
            claim(b, MODEL_MAP_REDIRECT, h, redirect_to, 0, &redirect, false);
    }
}

/* ingress-nginx's server-alias: each alias host served as the Ingress's
 * rules are (their paths, backends and default backend). As ingress-nginx
 * does, an alias never takes a host that a rule names (of any Ingress, of
 * any age); one alias of two Ingresses is the older's. The aliases served
 * are left in b->cur_aliases for add_tls(). */
static void add_aliases(struct builder *b, const struct k8s_ingress *ing, const char *obj,
                        const struct key_values *kv, const char *host_default)
{
    const char *field = "metadata.annotations[\"" K8S_NGINX_PREFIX "server-alias\"]";
    char older[600];

    b->cur_aliases = NULL;
    b->n_cur_aliases = 0;
    if (!kv->nginx_server_alias)
        return;
    if (!ing->n_rules) {
        add_issue(b, MODEL_SEV_WARN, obj, field,
                  "this Ingress has no rules whose paths an alias could serve; ignored");
        return;
    }
    for (const char *p = kv->nginx_server_alias; *p;) {
        size_t len = strcspn(p, "\n");
        const char *alias = arena_strndup(&b->m->arena, p, len);
        const struct k8s_obj *owner;

        p += len + (p[len] == '\n');
        owner = hmap_get(&b->rule_hosts, alias);
        if (owner) {
            k8s_obj_ref(owner, older, sizeof(older));
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "alias \"%s\" is the host of a rule of %s; the alias is ignored (as "
                      "ingress-nginx ignores one that names an existing host)",
                      alias, owner == &ing->obj ? "this Ingress" : older);
            continue;
        }
        owner = hmap_get(&b->alias_owner, alias);
        if (owner) {
            k8s_obj_ref(owner, older, sizeof(older));
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "alias \"%s\" is already an alias of the older %s; ignored here", alias,
                      older);
            continue;
        }
        hmap_put(&b->alias_owner, alias, (void *)&ing->obj);
        push(&b->tmp, &b->cur_aliases, &b->n_cur_aliases, alias);
        add_host(b, alias);
        b->cur_alias = alias;
        for (size_t i = 0; i < ing->n_rules; i++)
            add_paths(b, ing, obj, i);
        if (host_default) {
            char key[300];
            struct where w = {.field = "spec.defaultBackend",
                              .what = "the default backend of this alias"};

            snprintf(key, sizeof(key), "%s/", alias);
            claim(b, MODEL_MAP_HOST_DEFAULT, key, host_default, 0, &w, true);
        }
        b->cur_alias = NULL;
    }
}

/* ====== Canaries ====== */

/* An ingress-nginx canary Ingress: annotation canary "true" (any other value
 * is a plain Ingress, the value reported by keys_apply_nginx()). */
static bool is_canary(const struct k8s_ingress *ing)
{
    const char *v = k8s_kv_get(ing->obj.meta.annotations, ing->obj.n_annotations,
                               K8S_NGINX_PREFIX "canary");

    return v && !strcmp(v, "true");
}

/* The annotations of a canary Ingress that still apply: ingress-nginx reads
 * its canary ones, its balancing algorithm and its affinity; the requests
 * follow the main Ingress's other annotations. */
static bool canary_reads(const char *key)
{
    static const char *const nginx[] = {
        "canary", "canary-weight", "canary-weight-total", "canary-by-header",
        "canary-by-header-value", "canary-by-header-pattern", "canary-by-cookie",
        "load-balance", "affinity", "session-cookie-name",
    };
    static const char *const ours[] = {"load-balance", "cookie-persistence"};

    for (size_t i = 0; i < ARRAY_SIZE(nginx); i++) {
        if (str_has_prefix(key, K8S_NGINX_PREFIX) &&
            !strcmp(key + strlen(K8S_NGINX_PREFIX), nginx[i]))
            return true;
    }
    for (size_t p = 0; p < k8s_key_prefixes_len; p++) {
        size_t n = strlen(k8s_key_prefixes[p]);

        for (size_t i = 0; i < ARRAY_SIZE(ours); i++) {
            if (!strncmp(key, k8s_key_prefixes[p], n) && !strcmp(key + n, ours[i]))
                return true;
        }
    }
    return false;
}

/* The backend keys of a canary's backend on the route whose main backend is
 * <main>: the main route's (as ingress-nginx, whose canary requests go
 * through the main Ingress's location), then the canary's own balancing
 * algorithm and cookie <ckv> sets. A Secret of the main Ingress's is named
 * with its namespace <main_ns>, the canary's may be another. */
static struct key_values canary_keys(struct builder *b, const char *main, const char *main_ns,
                                     const struct key_values *ckv)
{
    uint32_t *slot = itab_slot(&b->backend_index, main);
    const struct model_backend *be = *slot ? &b->m->backend_store[*slot - 1] : NULL;
    struct key_values kv = be && be->opts ? *be->opts : b->global;

    if (!str_same(ckv->load_balance, b->global.load_balance))
        kv.load_balance = ckv->load_balance;
    if (!str_same(ckv->cookie_persistence, b->global.cookie_persistence))
        kv.cookie_persistence = ckv->cookie_persistence;
    if (kv.auth_secret && !strchr(kv.auth_secret, '/'))
        kv.auth_secret = arena_printf(&b->m->arena, "%s/%s", main_ns, kv.auth_secret);
    return kv;
}

/* Attaches the canary being added to the route of <key> in <map>, claimed
 * by a main Ingress's rule of the same path type (<rank>, as add_paths()
 * claims it). Returns false when no such rule has the key; true otherwise,
 * attached or reported (once a path: *<said>). */
static bool attach_canary(struct builder *b, const struct k8s_ingress *ing, const struct where *w,
                          enum model_map map, const char *key, size_t rank,
                          const struct key_values *ckv, const char *id, bool *attached,
                          bool *said)
{
    struct map_build *mb = &b->maps[map];
    uint32_t *slot = itab_slot(&mb->index, key);
    struct k8s_ingress_backend pb = k8s_path_backend(w->p);
    const char *obj = b->cur_ref, *main, *be;
    struct model_entry *e;
    struct claim *c;
    struct key_values kv;
    char field[160], older[600];

    if (!*slot || mb->claims[*slot - 1].rank != rank)
        return false;
    e = &mb->entries[*slot - 1];
    c = &mb->claims[*slot - 1];
    where_field(w, field, sizeof(field));
    if (c->canary) {
        if (c->canary != b->cur + 1) {
            k8s_obj_ref(b->ours[c->canary - 1], older, sizeof(older));
            if (!*said)
                add_issue(b, MODEL_SEV_WARN, obj, field,
                          "this route has the canary of the older %s already (one canary "
                          "a route); ignored here",
                          older);
            *said = true;
        }
        return true;
    }
    main = e->value;
    if (!strcmp(main, MODEL_FORBIDDEN_BACKEND)) {
        if (!*said)
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "the main Ingress of this route fails closed (403); no canary");
        *said = true;
        return true;
    }
    if (!pb.svc) {
        if (!*said)
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "backend.resource is not supported; no canary on this route");
        *said = true;
        return true;
    }
    kv = canary_keys(b, main, b->ours[c->owner]->meta.ns, ckv);
    be = ensure_backend(b, obj, w, ing->obj.meta.ns, pb.svc, pb.port_name, pb.port_num, &kv);
    if (!strcmp(be, main)) {
        if (!*said)
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "the canary's backend is the route's own; no canary on this route");
        *said = true;
        return true;
    }
    e->value = arena_printf(&b->m->arena, "%s:%s:%u:%u:%s", main, be, ckv->canary_weight,
                            ckv->canary_weight_total, id);
    c->canary = b->cur + 1;
    *attached = true;
    return true;
}

/* Adds the canary Ingress b->ours[<pos>] to the routes of the other
 * Ingresses with the same host, path and path type (doc/routing.md). It
 * claims nothing: a rule no main Ingress has is reported and ignored, as
 * ingress-nginx does. */
static void add_canary(struct builder *b, uint32_t pos)
{
    const struct k8s_ingress *ing = (const struct k8s_ingress *)b->ours[pos];
    struct k8s_kv *read = arena_alloc(&b->tmp, (ing->obj.n_annotations + 1) * sizeof(*read));
    struct key_values kv = b->global;
    struct issue_ctx ictx;
    size_t n_read = 0;
    bool attached = false;
    char obj[600], field[320], id[16];

    k8s_obj_ref(&ing->obj, obj, sizeof(obj));
    b->cur = pos;
    b->cur_ref = obj;
    b->cur_origin = store_origin(b->store, &ing->obj);
    b->m->n_ingresses++;
    ictx.b = b;
    ictx.obj = obj;
    for (size_t i = 0; i < ing->obj.n_annotations; i++) {
        const struct k8s_kv *a = &ing->obj.meta.annotations[i];

        if (canary_reads(a->key)) {
            read[n_read++] = *a;
        } else if (k8s_annotation_read(a->key)) {
            snprintf(field, sizeof(field), "metadata.annotations[\"%.256s\"]", a->key);
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      "ignored on a canary Ingress: its requests follow the main Ingress's "
                      "annotations, as with ingress-nginx");
        }
    }
    keys_apply_nginx(&b->m->arena, &kv, read, n_read, key_issue, &ictx);
    keys_apply_annotations(&b->m->arena, &kv, read, n_read, key_issue, &ictx);
    if (kv.canary_weight > kv.canary_weight_total) {
        add_issue(b, MODEL_SEV_WARN, obj,
                  "metadata.annotations[\"" K8S_NGINX_PREFIX "canary-weight\"]",
                  "%u is above canary-weight-total (%u): every request goes to the canary",
                  kv.canary_weight, kv.canary_weight_total);
        kv.canary_weight = kv.canary_weight_total;
    }
    if (kv.canary_header_value && !kv.canary_header)
        add_issue(b, MODEL_SEV_WARN, obj,
                  "metadata.annotations[\"" K8S_NGINX_PREFIX "canary-by-header-value\"]",
                  "has no effect without canary-by-header; ignored");
    if (kv.canary_header_pattern && !kv.canary_header)
        add_issue(b, MODEL_SEV_WARN, obj,
                  "metadata.annotations[\"" K8S_NGINX_PREFIX "canary-by-header-pattern\"]",
                  "has no effect without canary-by-header; ignored");
    else if (kv.canary_header_pattern && kv.canary_header_value)
        add_issue(b, MODEL_SEV_WARN, obj,
                  "metadata.annotations[\"" K8S_NGINX_PREFIX "canary-by-header-pattern\"]",
                  "canary-by-header-value is set too and wins, as with ingress-nginx; ignored");
    if (ing->default_backend)
        add_issue(b, MODEL_SEV_WARN, obj, "spec.defaultBackend",
                  "a canary of a default backend is not supported; ignored");
    if (ing->n_tls)
        add_issue(b, MODEL_SEV_WARN, obj, "spec.tls",
                  "ignored on a canary Ingress: the main Ingress's TLS serves its routes");
    snprintf(id, sizeof(id), "c%012llx",
             (unsigned long long)(hash_fnv1a(ing->obj.meta.key, strlen(ing->obj.meta.key)) &
                                  0xffffffffffffULL));
    /* on its way out: its pods may be gone already */
    for (size_t ri = 0; pos < b->n_living && ri < ing->n_rules; ri++) {
        const struct k8s_ingress_rule *r = &ing->rules[ri];
        const char *hk = r->host ? r->host : "";

        for (size_t j = 0; j < r->n_paths; j++) {
            const struct k8s_ingress_path *p = &r->paths[j];
            struct where w = {.rule = ri, .path = j, .p = p, .host = hk};
            size_t len = strlen(p->path);
            char key[2400], wbuf[2400];
            bool found = false, said = false;

            switch (p->type) {
            case K8S_PATH_EXACT:
                path_key(key, sizeof(key), hk, p->path, len, "");
                found = attach_canary(b, ing, &w, MODEL_MAP_EXACT, key, 0, &kv, id, &attached, &said);
                break;
            case K8S_PATH_PREFIX:
                len = prefix_len(p->path, len);
                if (len == 1) {
                    path_key(key, sizeof(key), hk, "", 0, "/");
                    found = attach_canary(b, ing, &w, MODEL_MAP_PREFIX, key, 1, &kv, id,
                                          &attached, &said);
                    break;
                }
                path_key(key, sizeof(key), hk, p->path, len, "");
                found = attach_canary(b, ing, &w, MODEL_MAP_PREFIX_EXACT, key, len, &kv, id,
                                      &attached, &said);
                path_key(key, sizeof(key), hk, p->path, len, "/");
                found |= attach_canary(b, ing, &w, MODEL_MAP_PREFIX, key, len, &kv, id,
                                       &attached, &said);
                break;
            case K8S_PATH_IMPL:
                path_key(key, sizeof(key), hk, len ? p->path : "/", len ? len : 1, "");
                found = attach_canary(b, ing, &w, MODEL_MAP_PREFIX, key, len, &kv, id,
                                      &attached, &said);
                break;
            }
            if (!found)
                add_issue(b, MODEL_SEV_WARN, obj, where_field(&w, field, sizeof(field)),
                          "no other Ingress has a rule for %s: ignored, as ingress-nginx "
                          "does (a canary adds to a route, it makes none)",
                          where_what(&w, wbuf, sizeof(wbuf)));
        }
    }
    if (attached) {
        struct model_canary *mc = &b->m->canaries[b->m->n_canaries++];

        mc->id = arena_strdup(&b->m->arena, id);
        mc->header = kv.canary_header;
        mc->header_value = kv.canary_header ? kv.canary_header_value : NULL;
        mc->header_pattern = kv.canary_header && !kv.canary_header_value
                                 ? kv.canary_header_pattern
                                 : NULL;
        mc->cookie = kv.canary_cookie;
    }
    b->cur_ref = NULL;
}

/* Adds b->ours[<pos>]. */
static void add_ingress(struct builder *b, uint32_t pos)
{
    const struct k8s_ingress *ing = (const struct k8s_ingress *)b->ours[pos];
    struct key_values kv = b->global;
    struct issue_ctx ictx;
    const char *host_default = NULL;
    char obj[600];

    k8s_obj_ref(&ing->obj, obj, sizeof(obj));
    b->cur = pos;
    b->cur_ref = obj;
    b->cur_origin = store_origin(b->store, &ing->obj);
    if (!ingress_is_valid(b, ing, obj)) {
        b->cur_ref = NULL;
        return;
    }
    /* a canary takes no route of its own: added to the others' (add_canary()) */
    if (is_canary(ing)) {
        b->m->beyond_hosts = true;
        b->canary_pos[b->n_canary_pos++] = pos;
        b->cur_ref = NULL;
        return;
    }
    b->m->n_ingresses++;
    ictx.b = b;
    ictx.obj = obj;
    /* ingress-nginx's first: Portico's own win where both are set */
    keys_apply_nginx(&b->m->arena, &kv, ing->obj.meta.annotations, ing->obj.n_annotations,
                     key_issue, &ictx);
    keys_apply_annotations(&b->m->arena, &kv, ing->obj.meta.annotations, ing->obj.n_annotations,
                           key_issue, &ictx);
    if (kv.backend_snippet) {
        char field[320];

        check_snippet(b, obj, snippet_field(&ing->obj, field, sizeof(field)),
                      &kv.backend_snippet);
    }
    if (kv.standalone_backend)
        kv.standalone_owner = arena_strdup(&b->m->arena, ing->obj.meta.key);
    /* what makes more than the routes of its own hosts */
    if (!ing->n_rules || kv.ssl_passthrough || kv.nginx_server_alias)
        b->m->beyond_hosts = true;
    b->cur_closed = fails_closed(b, ing, obj);
    b->cur_kv = &kv;
    if (kv.ssl_passthrough) {
        if (kv.nginx_server_alias)
            add_issue(b, MODEL_SEV_WARN, obj,
                      "metadata.annotations[\"" K8S_NGINX_PREFIX "server-alias\"]",
                      "not used with ssl-passthrough: connections are routed by the rules' "
                      "hosts (SNI)");
        add_passthrough(b, ing, obj, &kv);
        b->cur_ref = NULL;
        b->cur_closed = false;
        b->cur_kv = NULL;
        return;
    }
    if (ing->default_backend) {
        struct where w = {.field = "spec.defaultBackend", .what = "the default backend of this host"};
        const char *be = path_backend(b, ing, obj, &w, ing->default_backend);

        host_default = be;
        if (ing->n_rules == 0) {
            if (!b->catchall) {
                b->catchall = be;
                b->catchall_owner = &ing->obj;
                b->catchall_living = b->cur < b->n_living;
            } else {
                char older[600];

                k8s_obj_ref(b->catchall_owner, older, sizeof(older));
                if (b->cur >= b->n_living && b->catchall_living)
                    add_issue(b, MODEL_SEV_WARN, obj, "spec.defaultBackend",
                              "%s sets the catch-all default backend too, and takes it over: "
                              "this Ingress is being deleted",
                              older);
                else
                    add_issue(b, MODEL_SEV_WARN, obj, "spec.defaultBackend",
                              "the older %s already sets the catch-all default backend; "
                              "ignored here",
                              older);
            }
        } else {
            for (size_t i = 0; i < ing->n_rules; i++) {
                char key[300];

                snprintf(key, sizeof(key), "%s/", ing->rules[i].host ? ing->rules[i].host : "");
                claim(b, MODEL_MAP_HOST_DEFAULT, key, be, 0, &w, false);
            }
        }
    }
    for (size_t i = 0; i < ing->n_rules; i++) {
        if (ing->rules[i].host)
            add_host(b, ing->rules[i].host);
        add_paths(b, ing, obj, i);
    }
    add_aliases(b, ing, obj, &kv, ing->n_rules ? host_default : NULL);
    add_tls(b, ing, obj, &kv);
    b->cur_aliases = NULL;
    b->n_cur_aliases = 0;
    b->cur_ref = NULL;
    b->cur_closed = false;
    b->cur_kv = NULL;
}

/* ====== Assembly ====== */

/* The most aliases ingress-nginx's server-alias of <ing> can name: its
 * separators, one more, at most the list limit the parser allows. */
static size_t alias_bound(const struct k8s_ingress *ing)
{
    const char *v = k8s_kv_get(ing->obj.meta.annotations, ing->obj.n_annotations,
                               K8S_NGINX_PREFIX "server-alias");
    size_t n = 1;

    if (!v || !ing->n_rules)
        return 0;
    for (; *v && n <= KEY_LIST_MAX; v++)
        n += *v == ',' || *v == ' ';
    return n < KEY_LIST_MAX ? n : KEY_LIST_MAX;
}

/* Whether <ing> may pass TLS through: an annotation of that name, under any
 * prefix (keys_annotation()'s all end in '/'), or the keys every Ingress
 * starts from say so. */
static bool may_pass_through(const struct builder *b, const struct k8s_ingress *ing)
{
    if (b->global.ssl_passthrough)
        return true;
    for (size_t i = 0; i < ing->obj.n_annotations; i++) {
        const char *slash = strrchr(ing->obj.meta.annotations[i].key, '/');

        if (slash && !strcmp(slash + 1, "ssl-passthrough"))
            return true;
    }
    return false;
}

/* Sizes the maps and the backends for the most that the Ingresses of
 * b->ours can add: no table grows or moves during the build, and the model
 * takes the arrays over (finish()). */
static void size_tables(struct builder *b, size_t n_ours)
{
    size_t max[MODEL_MAP_COUNT] = {0};

    /* --default-backend-service's, and one a TCP service */
    b->max_backends = 1 + (b->tcp_services ? b->tcp_services->n_data : 0);
    for (size_t i = 0; i < n_ours; i++) {
        const struct k8s_ingress *ing = (const struct k8s_ingress *)b->ours[i];
        size_t aliases = alias_bound(ing), before[MODEL_MAP_COUNT];

        memcpy(before, max, sizeof(max));
        if (ing->default_backend) {
            b->max_backends++;
            max[MODEL_MAP_HOST_DEFAULT] += ing->n_rules;
        }
        for (size_t r = 0; r < ing->n_rules; r++) {
            const struct k8s_ingress_rule *rule = &ing->rules[r];

            if (rule->host)
                max[is_wildcard(rule->host) ? MODEL_MAP_WILDCARDS : MODEL_MAP_HOSTS]++;
            /* a backend for each path (add_paths()), and a key or two */
            b->max_backends += rule->n_paths;
            for (size_t j = 0; j < rule->n_paths; j++) {
                const struct k8s_ingress_path *p = &rule->paths[j];

                if (p->type == K8S_PATH_EXACT) {
                    max[MODEL_MAP_EXACT]++;
                    continue;
                }
                max[MODEL_MAP_PREFIX]++;
                if (p->type == K8S_PATH_PREFIX && prefix_len(p->path, strlen(p->path)) > 1)
                    max[MODEL_MAP_PREFIX_EXACT]++;
            }
        }
        /* a redirect for each host of a TLS entry, else for each rule's */
        for (size_t t = 0; t < ing->n_tls; t++)
            max[MODEL_MAP_REDIRECT] += ing->tls[t].n_hosts ? ing->tls[t].n_hosts : ing->n_rules;
        /* passed through: a host and its redirect a rule */
        if (may_pass_through(b, ing)) {
            max[MODEL_MAP_PASSTHROUGH] += ing->n_rules;
            max[MODEL_MAP_REDIRECT] += ing->n_rules;
        }
        /* server-alias: each alias a host, a copy of the paths, a default
         * backend, a redirect a TLS entry */
        if (aliases) {
            for (int map = MODEL_MAP_EXACT; map <= MODEL_MAP_PREFIX; map++)
                max[map] += aliases * (max[map] - before[map]);
            max[MODEL_MAP_HOSTS] += aliases;
            max[MODEL_MAP_WILDCARDS] += aliases;
            max[MODEL_MAP_HOST_DEFAULT] += ing->default_backend ? aliases : 0;
            max[MODEL_MAP_REDIRECT] += aliases * ing->n_tls;
        }
    }
    b->m->backend_store = xmalloc(b->max_backends * sizeof(*b->m->backend_store));
    itab_init(&b->backend_index, b->max_backends, b->m->backend_store,
              sizeof(*b->m->backend_store),
              offsetof(struct model_backend, name));
    for (int map = 0; map < MODEL_MAP_COUNT; map++) {
        struct map_build *mb = &b->maps[map];

        mb->max = max[map];
        mb->entries = xmalloc((mb->max + 1) * sizeof(*mb->entries));
        if (!is_host_map((enum model_map)map))
            mb->claims = xmalloc((mb->max + 1) * sizeof(*mb->claims));
        itab_init(&mb->index, mb->max, mb->entries, sizeof(*mb->entries),
                  offsetof(struct model_entry, key));
    }
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct model_entry *)a)->key, ((const struct model_entry *)b)->key);
}

static int cmp_backend(const void *a, const void *b)
{
    return strcmp(((const struct model_backend *)a)->name,
                  ((const struct model_backend *)b)->name);
}

static int cmp_cert(const void *a, const void *b)
{
    return strcmp(((const struct model_cert *)a)->file, ((const struct model_cert *)b)->file);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct model_file *)a)->name, ((const struct model_file *)b)->name);
}

static int cmp_canary(const void *a, const void *b)
{
    return strcmp(((const struct model_canary *)a)->id, ((const struct model_canary *)b)->id);
}

static int cmp_userlist(const void *a, const void *b)
{
    return strcmp((*(const struct model_userlist *const *)a)->name,
                  (*(const struct model_userlist *const *)b)->name);
}

/* Sorts the <n> hashes of <v> and leaves each once; returns how many. */
static size_t sort_unique(uint64_t *v, size_t n)
{
    size_t k = 0;

    if (n)
        qsort(v, n, sizeof(*v), cmp_u64);
    for (size_t i = 0; i < n; i++) {
        if (!k || v[i] != v[k - 1])
            v[k++] = v[i];
    }
    return k;
}

/* Moves what the builder gathered into the model, and frees the rest. */
static void finish(struct builder *b)
{
    struct model *m = b->m;
    void *val;
    size_t n;

    hmap_deinit(&b->backend_err);
    hmap_deinit(&b->svc_keys_seen);
    m->lookups.v = b->lookups;
    m->lookups.n = sort_unique(b->lookups, b->n_lookups);
    b->lookups = NULL;
    m->lookups.data = b->data_lookups;
    m->lookups.n_data = sort_unique(b->data_lookups, b->n_data_lookups);
    b->data_lookups = NULL;
    hmap_deinit(&b->secrets);
    hmap_deinit(&b->userlists);
    hmap_deinit(&b->server_tls);
    m->server_files = arena_alloc(&m->arena, (b->n_server_files + 1) * sizeof(*m->server_files));
    for (size_t i = 0; i < b->n_server_files; i++)
        m->server_files[i] = *(const struct model_file *)b->server_files[i];
    m->n_server_files = b->n_server_files;
    sort_in_place(m->server_files, m->n_server_files, sizeof(*m->server_files), cmp_file);
    if (m->n_userlists)
        qsort(m->userlists, m->n_userlists, sizeof(*m->userlists), cmp_userlist);
    if (m->n_canaries)
        qsort(m->canaries, m->n_canaries, sizeof(*m->canaries), cmp_canary);
    hmap_deinit(&b->sni_owner);
    hmap_deinit(&b->rule_hosts);
    hmap_deinit(&b->alias_owner);
    free(b->slices);
    for (int map = 0; map < MODEL_MAP_COUNT; map++) {
        struct map_build *mb = &b->maps[map];

        itab_deinit(&mb->index);
        free(mb->claims);
        /* the room of keys taken twice, or of Ingresses refused, goes back */
        m->maps[map] = xrealloc(mb->entries, (mb->n + 1) * sizeof(*mb->entries));
        m->n_maps[map] = mb->n;
    }
    itab_deinit(&b->backend_index);
    m->backend_store = xrealloc(m->backend_store, (m->n_backends + b->opts->spare_backends + 1) *
                                                      sizeof(*m->backend_store));
    /* as a backend with no keys of its own and no server: a new one of
     * those runs in one with no reload (model_run_in_spare()) */
    for (unsigned i = 1; !b->routes_only && i <= b->opts->spare_backends; i++) {
        struct model_backend *be = &m->backend_store[m->n_backends++];

        memset(be, 0, sizeof(*be));
        be->name = arena_printf(&m->arena, MODEL_SPARE_PREFIX "%u", i);
        be->spare = true;
    }
    m->certs = arena_alloc(&m->arena, (b->certs.used + 1) * sizeof(*m->certs));
    n = 0;
    for (size_t i = 0; hmap_next(&b->certs, &i, NULL, &val);) {
        struct cert_acc *c = val;
        struct model_cert *mc = &m->certs[n++];

        mc->file = c->file;
        mc->tls = c->tls;
        mc->pem_len = c->tls->pem_len;
        mc->hash = c->tls->der_hash;
        mc->snis = arena_alloc(&m->arena, (c->n_snis + 1) * sizeof(*mc->snis));
        for (size_t j = 0; j < c->n_snis; j++)
            mc->snis[j] = arena_strdup(&m->arena, c->snis[j]);
        mc->n_snis = c->n_snis;
        mc->secret = c->secret;
        mc->refs = c->refs;
    }
    m->n_certs = n;
    hmap_deinit(&b->certs);
    m->issues = arena_memdup(&m->arena, b->issues, b->n_issues * sizeof(*b->issues));
    m->n_issues = b->n_issues;
    free(b->issues);
    arena_deinit(&b->tmp);

    for (int map = 0; map < MODEL_MAP_COUNT; map++)
        sort_in_place(m->maps[map], m->n_maps[map], sizeof(struct model_entry), cmp_entry);
    sort_in_place(m->backend_store, m->n_backends, sizeof(*m->backend_store), cmp_backend);
    m->n_store = m->n_backends;
    m->backends = xmalloc((m->n_backends + 1) * sizeof(*m->backends));
    for (size_t i = 0; i < m->n_backends; i++)
        m->backends[i] = &m->backend_store[i];
    for (size_t i = 0; i < m->n_certs; i++) {
        if (m->certs[i].n_snis)
            qsort(m->certs[i].snis, m->certs[i].n_snis, sizeof(*m->certs[i].snis), str_cmp_ptrs);
    }
    sort_in_place(m->certs, m->n_certs, sizeof(*m->certs), cmp_cert);
}

/* Splits a "namespace/name" flag value: the namespace is copied into <ns>
 * and the name returned (pointing into <ns>), or NULL without a '/'. */
static const char *split_ref(const char *ref, char *ns, size_t size)
{
    char *name;

    snprintf(ns, size, "%s", ref);
    name = strchr(ns, '/');
    if (name)
        *name++ = '\0';
    return name;
}

/* The default certificate from Secret <ref> ("ns/name", or "name" in
 * <ns_default>); false, with an issue on <obj>, when it cannot serve. */
static bool use_default_cert(struct builder *b, const char *ref, const char *ns_default,
                             const char *obj, const char *field)
{
    struct model_cert *dc = &b->m->default_cert;
    struct secret_state *st;
    const char *name;
    char ns[256];

    name = split_ref(ref, ns, sizeof(ns));
    if (!name) {
        name = ref;
        snprintf(ns, sizeof(ns), "%s", ns_default);
    }
    st = get_secret(b, ns, name);
    if (!st->cert) {
        add_issue(b, MODEL_SEV_WARN, obj, field, "%s; using %s", st->err,
                  b->opts->default_ssl_cert && !strcmp(obj, b->cm_ref)
                      ? "--default-ssl-certificate"
                      : "the self-signed certificate");
        return false;
    }
    if (st->stale)
        add_issue(b, MODEL_SEV_WARN, obj, field, "%s", st->stale);
    dc->tls = secret_tls(b, st);
    dc->pem_len = dc->tls->pem_len;
    dc->hash = dc->tls->der_hash;
    dc->secret = st->hash;
    return true;
}

static void set_default_cert(struct builder *b)
{
    const struct model_opts *o = b->opts;
    struct model_cert *dc = &b->m->default_cert;

    dc->file = "default.pem";
    if (b->global.ssl_certificate &&
        use_default_cert(b, b->global.ssl_certificate, b->cm_ns, b->cm_ref,
                         "data[\"ssl-certificate\"]"))
        return;
    if (o->default_ssl_cert && strchr(o->default_ssl_cert, '/') &&
        use_default_cert(b, o->default_ssl_cert, "", "flag/default-ssl-certificate", ""))
        return;
    if (o->fallback_cert_pem) {
        dc->pem = arena_strdup(&b->m->arena, o->fallback_cert_pem);
        dc->pem_len = strlen(dc->pem);
    }
    dc->hash = hash_fnv1a(dc->pem ? dc->pem : "", dc->pem_len);
}

static void set_default_backend(struct builder *b)
{
    const char *ref = b->opts->default_backend_svc, *obj = "flag/default-backend-service";
    const char *field = "";
    const struct k8s_service *svc;
    const char *name;
    char ns[256];

    if (b->catchall) {
        b->m->default_backend = b->catchall;
        return;
    }
    if (b->global.default_backend_service) {
        /* the ConfigMap's key wins over the flag */
        ref = b->global.default_backend_service;
        obj = b->cm_ref;
        field = "data[\"default-backend-service\"]";
        if (!strchr(ref, '/'))
            ref = arena_printf(&b->tmp, "%s/%s", b->cm_ns, ref);
    }
    if (!ref || !(name = split_ref(ref, ns, sizeof(ns))))
        return;
    svc = (const struct k8s_service *)look_up(b, K8S_SERVICE, ns, name);
    if (!svc || svc->n_ports == 0) {
        add_issue(b, MODEL_SEV_WARN, obj, field, "service \"%s\" %s; unmatched requests get 503",
                  ref, svc ? "has no ports" : "not found");
        b->m->default_backend = ensure_backend(b, NULL, NULL, ns, name, NULL, 1, NULL);
        return;
    }
    b->m->default_backend =
        ensure_backend(b, obj, NULL, ns, name, *svc->ports[0].name ? svc->ports[0].name : NULL,
                       svc->ports[0].port, NULL);
}

/* client-ca: the CA certificates of its Secret, re-encoded; unusable, the
 * HTTPS port refuses every request (render.c) rather than serve without
 * the check, and an issue on the ConfigMap says why. */
static void set_client_ca(struct builder *b, const char *obj, const char *cm_ns)
{
    const char *ref = b->global.client_ca, *slash = strchr(ref, '/'), *why = NULL;
    const struct k8s_secret *s;
    char ns[64], key[512];

    snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - ref) : 63, slash ? ref : cm_ns);
    k8s_key(key, sizeof(key), ns, slash ? slash + 1 : ref);
    reads_data(b, ns, slash ? slash + 1 : ref);
    s = (const struct k8s_secret *)look_up(b, K8S_SECRET, ns, slash ? slash + 1 : ref);
    if (!s) {
        why = "not found";
    } else if (s->data_dropped) {
        struct model *m = b->m;

        why = "its data is being fetched";
        m->wanted = xrealloc(m->wanted, (m->n_wanted + 1) * sizeof(*m->wanted));
        m->wanted[m->n_wanted++] = arena_strdup(&m->arena, key);
    } else if (!s->ca && !s->crt) {
        why = "has neither ca.crt nor tls.crt";
    } else {
        char *err = NULL, *pem;
        size_t len = 0;

        pem = s->ca ? tls_ca_pem(s->ca, s->ca_len, &len, &err)
                    : tls_ca_pem(s->crt, s->crt_len, &len, &err);
        if (!pem) {
            why = arena_printf(&b->tmp, "%s: %s", s->ca ? "ca.crt" : "tls.crt", err);
            free(err);
        } else {
            b->m->client_ca_pem = arena_strndup(&b->m->arena, pem, len);
            b->m->client_ca_len = len;
            free(pem);
            return;
        }
    }
    b->m->client_ca_broken = true;
    add_issue(b, MODEL_SEV_ERROR, obj, "data[\"client-ca\"]",
              "secret \"%s\" %s: HTTPS requests are refused (403) until it is usable",
              key, why);
}

/* The ConfigMap flag <flag> ("configmap-errorfiles") names with <ref>, or
 * NULL with a warning when it is not there. */
static const struct k8s_configmap *flag_configmap(struct builder *b, const char *flag,
                                                  const char *ref)
{
    const struct k8s_configmap *cm = NULL;
    const char *name;
    char ns[256];

    if ((name = split_ref(ref, ns, sizeof(ns))))
        cm = (const struct k8s_configmap *)store_get(b->store, K8S_CONFIGMAP, ns, name);
    if (!cm)
        add_issue(b, MODEL_SEV_WARN, arena_printf(&b->tmp, "flag/%s", flag), "",
                  "configmap \"%s\" not found", ref);
    return cm;
}

/* --configmap-errorfiles: a page per status code; a key or page HAProxy
 * would refuse is left out (HAProxy's own page stays), with an issue. */
static void set_errorfiles(struct builder *b)
{
    const struct k8s_configmap *cm;
    struct model *m = b->m;
    char obj[600];

    if (!b->opts->configmap_errorfiles)
        return;
    cm = flag_configmap(b, "configmap-errorfiles", b->opts->configmap_errorfiles);
    if (!cm)
        return;
    k8s_obj_ref(&cm->obj, obj, sizeof(obj));
    b->cur_ref = obj;
    b->cur_origin = store_origin(b->store, &cm->obj);
    m->errorfiles = arena_alloc(&m->arena, cm->n_data * sizeof(*m->errorfiles));
    /* data is sorted by key, and codes are 3 digits: sorted by code too */
    for (size_t i = 0; i < cm->n_data; i++) {
        const char *key = cm->data[i].key, *val = cm->data[i].val, *why;
        const char *field = arena_printf(&b->tmp, "data[\"%s\"]", key);
        uint32_t code;

        if (strlen(key) != 3 || str_to_u32(key, 100, 599, &code) || !valid_errorfile_code(code)) {
            add_issue(b, MODEL_SEV_ERROR, obj, field,
                      "not a status code HAProxy has an error page for (one of "
                      ERRORFILE_CODES "); ignored");
            continue;
        }
        why = validate_errorfile(val, strlen(val));
        if (why) {
            add_issue(b, MODEL_SEV_ERROR, obj, field,
                      "not an HTTP response HAProxy can send: %s; HAProxy's own page is "
                      "served instead", why);
            continue;
        }
        m->errorfiles[m->n_errorfiles].code = code;
        m->errorfiles[m->n_errorfiles].data = arena_strdup(&m->arena, val);
        m->errorfiles[m->n_errorfiles++].len = strlen(val);
    }
    b->cur_ref = NULL;
}

static void set_global(struct builder *b)
{
    const struct k8s_configmap *cm = NULL;
    const char *name;
    char ns[256];

    keys_defaults(&b->global);
    b->cm_ref = "";
    b->cm_ns = "";
    if (b->opts->configmap && (name = split_ref(b->opts->configmap, ns, sizeof(ns))))
        cm = (const struct k8s_configmap *)store_get(b->store, K8S_CONFIGMAP, ns, name);
    if (b->opts->configmap && !cm)
        add_issue(b, MODEL_SEV_WARN, "flag/configmap", "",
                  "configmap \"%s\" not found; using the defaults", b->opts->configmap);
    if (cm) {
        struct issue_ctx ictx;
        char obj[600];

        k8s_obj_ref(&cm->obj, obj, sizeof(obj));
        b->cm_ref = arena_strdup(&b->tmp, obj);
        b->cm_ns = cm->obj.meta.ns;
        ictx.b = b;
        ictx.obj = obj;
        b->cur_ref = obj;
        b->cur_origin = store_origin(b->store, &cm->obj);
        keys_apply_configmap(&b->m->arena, &b->global, cm->data, cm->n_data, key_issue, &ictx);
        check_snippet(b, obj, "data[\"frontend-config-snippet\"]", &b->global.frontend_snippet);
        check_snippet(b, obj, "data[\"global-config-snippet\"]", &b->global.global_snippet);
        if (b->global.client_ca)
            set_client_ca(b, obj, cm->obj.meta.ns);
        /* a Secret named without its namespace is the ConfigMap's */
        if (b->global.server_ca && !strchr(b->global.server_ca, '/'))
            b->global.server_ca =
                arena_printf(&b->m->arena, "%s/%s", cm->obj.meta.ns, b->global.server_ca);
        if (b->global.server_crt && !strchr(b->global.server_crt, '/'))
            b->global.server_crt =
                arena_printf(&b->m->arena, "%s/%s", cm->obj.meta.ns, b->global.server_crt);
        b->cur_ref = NULL;
    }
    b->m->global = b->global;
}

/* ====== TCP services ====== */

/* Parses "ns/svc:port[:ssl]" of --configmap-tcp-services into <ns>, <svc>,
 * <port> (a number or a port name) and *<ssl>; NULL or the reason. */
static const char *parse_tcp_service(const char *v, char *ns, char *svc, char *port, bool *ssl)
{
    size_t n = strcspn(v, "/");
    char *ssl_sep;

    if (!v[n] || n > 63)
        return "want NAMESPACE/SERVICE:PORT or NAMESPACE/SERVICE:PORT:ssl";
    memcpy(ns, v, n);
    ns[n] = '\0';
    v += n + 1;
    n = strcspn(v, ":");
    if (!v[n] || n > 63)
        return "want NAMESPACE/SERVICE:PORT or NAMESPACE/SERVICE:PORT:ssl";
    memcpy(svc, v, n);
    svc[n] = '\0';
    v += n + 1;
    if (strlen(v) > 63)
        return "the port is longer than 63 bytes";
    str_concat(port, 64, v, NULL);
    ssl_sep = strchr(port, ':');
    *ssl = ssl_sep && !strcmp(ssl_sep, ":ssl");
    if (ssl_sep && !*ssl)
        return "after the port, only \":ssl\" may follow";
    if (ssl_sep)
        *ssl_sep = '\0';
    if (!valid_dns_label(ns))
        return "the namespace is not a DNS label";
    if (!valid_dns_label(svc))
        return "the Service name is not a DNS label";
    if (port[strspn(port, "0123456789")] == '\0') {
        uint32_t num;

        return port[0] == '0' || str_to_u32(port, 1, 65535, &num) ? "the port is not from 1 to 65535"
                                                                  : NULL;
    }
    if (!valid_port_name(port))
        return "the port is neither a number from 1 to 65535 nor a port name";
    return NULL;
}

/* A port a key of --configmap-tcp-services names, or 0 with *<why>. */
static uint16_t tcp_listen_port(const struct model_opts *o, const char *key, const char **why)
{
    uint32_t port;

    *why = "not a port number from 1 to 65535";
    if (key[0] == '0' || strlen(key) > 5 || str_to_u32(key, 1, 65535, &port))
        return 0;
    for (size_t i = 0; i < o->n_own_ports; i++) {
        if (o->own_ports[i] == port) {
            *why = "a port Portico or HAProxy listens on already (see the --*-port flags)";
            return 0;
        }
    }
    *why = NULL;
    return (uint16_t)port;
}

/* --configmap-tcp-services: a TCP proxy for each key, listening on that
 * port, its servers the Service port's endpoints as a backend's are, named
 * "tcp-<port>", which no Ingress backend can be called (theirs hold '_'). */
static void add_tcp_services(struct builder *b)
{
    const struct k8s_configmap *cm = b->tcp_services;
    struct model *m = b->m;
    char obj[600];

    if (!cm)
        return;
    k8s_obj_ref(&cm->obj, obj, sizeof(obj));
    b->cur_ref = obj;
    b->cur_origin = store_origin(b->store, &cm->obj);
    for (size_t i = 0; i < cm->n_data; i++) {
        const char *key = cm->data[i].key, *why;
        const char *field = arena_printf(&b->tmp, "data[\"%s\"]", key);
        const struct k8s_service_port *sp;
        const struct k8s_service *svc;
        char ns[64], name[64], port[64];
        struct model_backend *be;
        bool ssl, numeric;
        uint32_t *slot, num = 0;
        uint16_t listen = tcp_listen_port(b->opts, key, &why);

        if (!why)
            why = parse_tcp_service(cm->data[i].val, ns, name, port, &ssl);
        if (why) {
            add_issue(b, MODEL_SEV_ERROR, obj, field, "%s; this TCP service is not served", why);
            continue;
        }
        numeric = !str_to_u32(port, 1, 65535, &num);
        svc = find_service_port(b, ns, name, numeric ? NULL : port, (int32_t)num, &sp);
        be = &m->backend_store[m->n_backends];
        memset(be, 0, sizeof(*be));
        be->name = arena_printf(&m->arena, "tcp-%u", listen);
        be->listen_port = listen;
        be->listen_ssl = ssl;
        slot = itab_slot(&b->backend_index, be->name);
        *slot = (uint32_t)++m->n_backends;
        if (!svc || !sp || svc->external_name) {
            add_issue(b, MODEL_SEV_WARN, obj, field,
                      !svc ? "service \"%s/%s\" not found; connections are closed"
                      : !sp ? "service \"%s/%s\" has no such port; connections are closed"
                            : "service \"%s/%s\" is of type ExternalName, which is not "
                              "supported; connections are closed",
                      ns, name);
            continue;
        }
        resolve_servers(b, &be->servers, &be->n_servers, &be->n_v4, ns, name, sp);
        be->svc_hash = k8s_lookup_hash(K8S_SERVICE, ns, name);
    }
    b->cur_ref = NULL;
}

/* A builder for <store> and <opts>, with the model it fills: of some
 * Ingresses' routes alone when <routes_only> (model_build_routes()). */
static void begin(struct builder *b, const struct store *store, const struct model_opts *opts,
                  bool routes_only)
{
    memset(b, 0, sizeof(*b));
    b->store = store;
    b->opts = opts;
    b->routes_only = routes_only;
    b->m = xcalloc(1, sizeof(*b->m));
    arena_init(&b->m->arena);
    b->m->refs = 1;
    arena_init(&b->tmp);
    b->tls = opts->tls_cache ? opts->tls_cache : tls_cache_new();
    /* a whole build drops the certificates the last one did not use; some
     * routes use few, and the next build needs the others */
    if (!routes_only)
        tls_cache_sweep(b->tls);
    hmap_init_borrowing(&b->backend_err);
    hmap_init_borrowing(&b->svc_keys_seen);
    hmap_init_borrowing(&b->secrets);
    hmap_init_borrowing(&b->userlists);
    hmap_init_borrowing(&b->server_tls);
    hmap_init_borrowing(&b->certs);
    hmap_init_borrowing(&b->sni_owner);
    hmap_init_borrowing(&b->rule_hosts);
    hmap_init_borrowing(&b->alias_owner);
    set_global(b);
}

/* Adds the Ingresses of our class (<defclass>: default_class()) among the
 * <n> of <ours>, an array the builder takes: filtered in place, those on
 * their way out moved to the end, then each part sorted by age. */
static void add_ingresses(struct builder *b, const struct k8s_obj **ours, size_t n, int defclass)
{
    size_t n_ours = 0;

    for (size_t i = 0; i < n; i++) {
        if (ingress_is_ours(b, (const struct k8s_ingress *)ours[i], defclass))
            ours[n_ours++] = ours[i];
    }
    for (size_t i = 0; i < n_ours; i++) {
        if (!leaving(b->store, ours[i])) {
            const struct k8s_obj *o = ours[i];

            ours[i] = ours[b->n_living];
            ours[b->n_living++] = o;
        }
    }
    /* oldest first: the first claim on a host, path or certificate wins, and
     * an Ingress on its way out wins none (its pods may be gone already) */
    qsort(ours, b->n_living, sizeof(*ours), cmp_age);
    qsort(ours + b->n_living, n_ours - b->n_living, sizeof(*ours), cmp_age);
    b->ours = ours;
    size_tables(b, n_ours);
    /* the hosts rules name, which no server-alias may take */
    for (size_t i = 0; i < n_ours; i++) {
        const struct k8s_ingress *ing = (const struct k8s_ingress *)ours[i];

        for (size_t r = 0; r < ing->n_rules; r++) {
            const char *h = ing->rules[r].host;

            if (h && !hmap_get(&b->rule_hosts, h))
                hmap_put(&b->rule_hosts, h, (void *)&ing->obj);
        }
    }
    b->canary_pos = arena_alloc(&b->tmp, (n_ours + 1) * sizeof(*b->canary_pos));
    for (size_t i = 0; i < n_ours; i++)
        add_ingress(b, (uint32_t)i);
    /* the canaries once every route is claimed, oldest first */
    b->m->canaries = arena_alloc(&b->m->arena, (b->n_canary_pos + 1) * sizeof(*b->m->canaries));
    for (size_t i = 0; i < b->n_canary_pos; i++)
        add_canary(b, b->canary_pos[i]);
    free(ours);
    b->ours = NULL;
}

/* Hands the model over. */
static struct model *end(struct builder *b)
{
    finish(b);
    if (!b->opts->tls_cache)
        tls_cache_free(b->tls);
    return b->m;
}

struct model *model_build(const struct store *store, const struct model_opts *opts)
{
    struct builder b;
    const struct k8s_obj **ours;
    size_t n;
    int defclass;

    begin(&b, store, opts, false);
    set_errorfiles(&b);
    index_slices(&b);
    defclass = default_class(&b);
    n = store_list_unsorted(store, K8S_INGRESS, &ours);
    if (opts->configmap_tcp_services)
        b.tcp_services = flag_configmap(&b, "configmap-tcp-services", opts->configmap_tcp_services);
    add_ingresses(&b, ours, n, defclass);
    add_tcp_services(&b);
    set_default_backend(&b);
    set_default_cert(&b);
    return end(&b);
}

struct model *model_build_routes(const struct store *store, const struct model_opts *opts,
                                 const struct k8s_obj *const *ings, size_t n)
{
    struct builder b;
    const struct k8s_obj **ours = xmalloc((n + 1) * sizeof(*ours));

    begin(&b, store, opts, true);
    if (n)
        memcpy(ours, ings, n * sizeof(*ours));
    add_ingresses(&b, ours, n, default_class(&b));
    return end(&b);
}

static int cmp_backend_ptr(const void *a, const void *b)
{
    return strcmp((*(const struct model_backend *const *)a)->name,
                  (*(const struct model_backend *const *)b)->name);
}

size_t model_entries_shared(const struct model_entry *a, size_t na, const struct model_entry *b,
                            size_t nb)
{
    size_t n = 0, max = na < nb ? na : nb;

    /* runs of 64 entries (1 KiB), then one at a time to the first that differs */
    while (max - n >= 64 && !memcmp(a + n, b + n, 64 * sizeof(*a)))
        n += 64;
    while (n < max && a[n].key == b[n].key && a[n].value == b[n].value)
        n++;
    return n;
}

size_t model_entries_shared_end(const struct model_entry *a, size_t na,
                                const struct model_entry *b, size_t nb)
{
    size_t n = 0, max = na < nb ? na : nb;

    while (max - n >= 64 && !memcmp(a + na - n - 64, b + nb - n - 64, 64 * sizeof(*a)))
        n += 64;
    while (n < max && a[na - n - 1].key == b[nb - n - 1].key &&
           a[na - n - 1].value == b[nb - n - 1].value)
        n++;
    return n;
}

ptrdiff_t model_backend_index(const struct model *m, const char *name)
{
    struct model_backend key = {.name = name}, *pk = &key, **at;

    at = m->n_backends ? bsearch(&pk, m->backends, m->n_backends, sizeof(pk), cmp_backend_ptr)
                       : NULL;
    return at ? at - m->backends : -1;
}

const struct model_backend *model_find_backend(const struct model *m, const char *name)
{
    ptrdiff_t at = model_backend_index(m, name);

    return at < 0 ? NULL : m->backends[at];
}

const struct model_cert *model_find_cert(const struct model *m, const char *file)
{
    struct model_cert key = {.file = file};

    return m->n_certs ? bsearch(&key, m->certs, m->n_certs, sizeof(key), cmp_cert) : NULL;
}

bool model_cert_secret(const struct model_cert *c, char ns[MODEL_NAME_MAX],
                       char name[MODEL_NAME_MAX])
{
    const char *sep = strchr(c->file, '_'), *dot = strrchr(c->file, '.');

    /* "<ns>_<name>.pem" (get_secret()): neither holds a '_' */
    if (!sep || !dot || dot < sep || sep - c->file >= MODEL_NAME_MAX ||
        dot - sep > MODEL_NAME_MAX)
        return false;
    snprintf(ns, MODEL_NAME_MAX, "%.*s", (int)(sep - c->file), c->file);
    snprintf(name, MODEL_NAME_MAX, "%.*s", (int)(dot - sep - 1), sep + 1);
    return true;
}

bool model_looks_up(const struct model_lookups *l, uint64_t h)
{
    return l->n && bsearch(&h, l->v, l->n, sizeof(h), cmp_u64);
}

bool model_reads_data(const struct model_lookups *l, uint64_t h)
{
    return l->n_data && bsearch(&h, l->data, l->n_data, sizeof(h), cmp_u64);
}

/* The union of the <na> sorted hashes of <a> and the <nb> of <b>, in a new
 * array; its length in *<n>. */
static uint64_t *merge_hashes(const uint64_t *a, size_t na, const uint64_t *b, size_t nb,
                              size_t *n)
{
    uint64_t *v = xmalloc((na + nb + 1) * sizeof(*v));
    size_t x = 0, y = 0, k = 0;

    while (x < na || y < nb) {
        if (y == nb || (x < na && a[x] < b[y])) {
            v[k++] = a[x++];
        } else if (x == na || b[y] < a[x]) {
            v[k++] = b[y++];
        } else {
            v[k++] = a[x++];
            y++;
        }
    }
    *n = k;
    return v;
}

void model_lookups_add(struct model_lookups *to, const struct model_lookups *l)
{
    uint64_t *v = merge_hashes(to->v, to->n, l->v, l->n, &to->n);

    free(to->v);
    to->v = v;
    v = merge_hashes(to->data, to->n_data, l->data, l->n_data, &to->n_data);
    free(to->data);
    to->data = v;
}

void model_lookups_free(struct model_lookups *l)
{
    free(l->v);
    free(l->data);
    memset(l, 0, sizeof(*l));
}

struct model_backend *const *model_spares(const struct model *m, size_t *n)
{
    size_t lo = 0, hi = m->n_backends, len = strlen(MODEL_SPARE_PREFIX);

    /* no other name starts with it (a namespace's does not start with '_'):
     * the spares are together, where the prefix sorts */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(m->backends[mid]->name, MODEL_SPARE_PREFIX) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *n = 0;
    while (lo + *n < m->n_backends && !strncmp(m->backends[lo + *n]->name, MODEL_SPARE_PREFIX, len))
        (*n)++;
    return m->backends + lo;
}

bool model_fits_spare(const struct model_backend *be)
{
    return !be->spare && !be->opts && !be->userlist && !be->listen_port && !be->server_ca &&
           !be->server_crt && !be->tls_closed && !be->n_backups;
}

/* Map value <value> with backend <from> named <to>: the value, or a route
 * with a canary, "MAIN:CANARY:WEIGHT:TOTAL:ID", whose first two fields are
 * backends (their names have no ':'). */
static const char *renamed(struct model *m, const char *value, const char *from, const char *to)
{
    size_t main_len = strcspn(value, ":"), canary_len, from_len = strlen(from);
    const char *canary;

    if (!value[main_len])
        return strcmp(value, from) ? value : to;
    canary = value + main_len + 1;
    canary_len = strcspn(canary, ":");
    if (main_len == from_len && !memcmp(value, from, from_len))
        return arena_printf(&m->arena, "%s:%s", to, canary);
    if (canary_len == from_len && !memcmp(canary, from, from_len))
        return arena_printf(&m->arena, "%.*s:%s%s", (int)main_len, value, to, canary + canary_len);
    return value;
}

void model_rename_routes(struct model *m, const char *from, const char *to)
{
    /* the maps whose values are HTTP backends */
    static const enum model_map routes[] = {MODEL_MAP_EXACT, MODEL_MAP_PREFIX_EXACT,
                                            MODEL_MAP_PREFIX, MODEL_MAP_HOST_DEFAULT};

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        struct model_entry *e = m->maps[routes[i]];

        for (size_t j = 0; j < m->n_maps[routes[i]]; j++)
            e[j].value = renamed(m, e[j].value, from, to);
    }
    if (m->default_backend && !strcmp(m->default_backend, from))
        m->default_backend = to;
}

int model_run_in_spare(struct model *m, const char *name, const char *spare)
{
    struct model_backend *be = (struct model_backend *)model_find_backend(m, name);
    ptrdiff_t at = model_backend_index(m, spare);
    const struct model_backend *sp = at < 0 ? NULL : m->backends[at];
    const char *own;

    if (m->base)
        abort(); /* a patch shares its backends: model_reroute() fills its spares */
    if (!be || !sp || !sp->spare || sp->origin)
        return -ENOENT;
    if (!model_fits_spare(be))
        return -EINVAL;
    own = be->name;
    be->origin = own;
    be->name = sp->name;
    be->spare = true;
    model_rename_routes(m, own, be->name);
    /* the spare's slot goes, the backend moves to its name's place */
    memmove(m->backends + at, m->backends + at + 1,
            (m->n_backends - (size_t)at - 1) * sizeof(*m->backends));
    m->n_backends--;
    sort_in_place(m->backends, m->n_backends, sizeof(*m->backends), cmp_backend_ptr);
    return 0;
}

/* Writes <v> in decimal at <p>, which has room for 10 digits; returns the
 * end. Every server of every rendering formats its address and port: with
 * inet_ntop() and snprintf(), a quarter of a rendering at 10,000 backends. */
static char *put_u32(char *p, uint32_t v)
{
    char tmp[10];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

const char *model_server_addr(const struct model_server *s, char *buf, size_t size)
{
    if (!s->v6 && size >= INET_ADDRSTRLEN) {
        char *p = buf;

        /* as inet_ntop() writes it */
        for (int i = 0; i < 4; i++) {
            if (i)
                *p++ = '.';
            p = put_u32(p, s->addr[i]);
        }
        *p = '\0';
    } else if (!inet_ntop(s->v6 ? AF_INET6 : AF_INET, s->addr, buf, (socklen_t)size)) {
        snprintf(buf, size, "%s", ""); /* <size> too small: a caller's bug */
    }
    return buf;
}

const char *model_server_name(const struct model_server *s, char *buf, size_t size)
{
    size_t len = strlen(model_server_addr(s, buf, size));

    if (size - len > 11) {
        char *p = buf + len;

        *p++ = ':';
        *put_u32(p, s->port) = '\0';
    } else {
        snprintf(buf + len, size - len, ":%u", s->port);
    }
    return buf;
}

void model_cert_pem(const struct model_cert *c, char *out)
{
    if (c->tls)
        tls_entry_pem(c->tls, out);
    else if (c->pem)
        memcpy(out, c->pem, c->pem_len + 1);
    else
        *out = '\0';
}

const unsigned char *model_pack_servers(struct arena *a, const struct model_server *s, size_t n,
                                        uint32_t *n_v4)
{
    size_t v4 = 0, size = 2 * n;
    unsigned char *p, *at;

    while (v4 < n && !s[v4].v6)
        v4++;
    size += 4 * v4 + 16 * (n - v4);
    p = arena_alloc(a, size);
    for (size_t i = 0; i < n; i++)
        memcpy(p + 2 * i, &s[i].port, 2);
    at = p + 2 * n;
    for (size_t i = 0; i < n; i++) {
        memcpy(at, s[i].addr, i < v4 ? 4 : 16);
        at += i < v4 ? 4 : 16;
    }
    *n_v4 = (uint32_t)v4;
    return p;
}

static struct model_server unpack_server(const unsigned char *packed, uint32_t n,
                                         uint32_t n_v4, size_t i)
{
    const unsigned char *addrs = packed + 2 * (size_t)n;
    struct model_server s = {.v6 = i >= n_v4};

    memcpy(&s.port, packed + 2 * i, 2);
    if (s.v6)
        memcpy(s.addr, addrs + 4 * (size_t)n_v4 + 16 * (i - n_v4), 16);
    else
        memcpy(s.addr, addrs + 4 * i, 4);
    return s;
}

struct model_server model_backend_server(const struct model_backend *be, size_t i)
{
    return unpack_server(be->servers, be->n_servers, be->n_v4, i);
}

struct model_server model_backend_backup(const struct model_backend *be, size_t i)
{
    return unpack_server(be->backups, be->n_backups, be->n_backups_v4, i);
}

int model_server_cmp(const struct model_server *a, const struct model_server *b)
{
    int c = a->v6 - b->v6;

    if (!c)
        c = memcmp(a->addr, b->addr, sizeof(a->addr));
    return c ? c : a->port - b->port;
}

struct model *model_ref(struct model *m)
{
    m->refs++;
    return m;
}

void model_unref(struct model *m)
{
    if (!m || --m->refs > 0)
        return;
    if (m->base) { /* a patch: the rest is base's */
        const struct model *b = m->base;

        /* the arrays a reroute made, not the build's */
        for (int map = 0; map < MODEL_MAP_COUNT; map++) {
            if (m->maps[map] != b->maps[map])
                shared_unref(m->maps[map]);
        }
        if (m->certs != b->certs)
            shared_unref(m->certs);
        if (m->issues != b->issues)
            shared_unref(m->issues);
        for (size_t i = 0; i < m->n_held; i++)
            tls_entry_release(m->held[i]);
        free(m->held);
        if (shared_release(m->strings)) {
            arena_deinit(m->strings);
            shared_free(m->strings);
        }
        model_lookups_free(&m->lookups);
        free(m->backends);
        free(m->patched);
        arena_deinit(&m->arena);
        model_unref(m->base);
        free(m);
        return;
    }
    for (size_t i = 0; i < m->n_held; i++)
        tls_entry_release(m->held[i]);
    free(m->held);
    free(m->wanted);
    model_lookups_free(&m->lookups);
    free(m->backends);
    free(m->backend_store);
    for (int map = 0; map < MODEL_MAP_COUNT; map++)
        free(m->maps[map]);
    arena_deinit(&m->arena);
    free(m);
}

const char *model_map_name(enum model_map map)
{
    static const char *const names[] = {"hosts",  "wildcards",    "exact",    "prefix-exact",
                                        "prefix", "host-default", "redirect", "passthrough"};

    return map < MODEL_MAP_COUNT ? names[map] : "unknown";
}
