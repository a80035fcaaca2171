/* SPDX-License-Identifier: Apache-2.0 */
/* Store snapshot + options -> routing model, with no I/O (the options'
 * certificate cache is the only state a build changes). */
#ifndef SRC_MODEL_MODEL_H
#define SRC_MODEL_MODEL_H
#include <stdbool.h>
#include <stddef.h>

#include "model/model-t.h"
#include "model/tls.h"
#include "store/store.h"
#include "util/hmap.h"

struct model_opts {
    const char *ingress_class;        /* --ingress-class */
    const char *controller_name;      /* --controller-name */
    bool watch_without_class;         /* --watch-ingress-without-class */
    bool snippets;                    /* --enable-config-snippets */
    const struct hmap *refused_snippets; /* model_snippet_id() -> HAProxy's message, or NULL */
    const char *default_backend_svc;  /* "ns/name" or NULL */
    const char *default_ssl_cert;     /* "ns/name" or NULL */
    const char *configmap;            /* "ns/name" or NULL */
    const char *configmap_errorfiles; /* "ns/name" or NULL */
    const char *configmap_tcp_services; /* "ns/name" or NULL */
    const uint16_t *own_ports;        /* where Portico and HAProxy listen already: no
                                       * TCP service may take them */
    size_t n_own_ports;
    const char *fallback_cert_pem;    /* self-signed key + cert used when no default is set */
    struct tls_cache *tls_cache;      /* parsed Secrets kept across builds, or NULL */
    unsigned spare_backends;          /* --spare-backends: free backends with default
                                       * settings, for new ones to run in */
};

/* The id of a snippet's text, as refused_snippets keys it (17 bytes). */
void model_snippet_id(const char *text, char id[17]);
/* Builds a routing model from the objects in <store>. Returns a new model
 * (refs 1, the caller owns it). Per-object problems never fail the build:
 * they are attached as issues. */
struct model *model_build(const struct store *store, const struct model_opts *opts);
/* A build of the routes of the <n> Ingresses <ings> alone, those of our
 * class, as model_build() would add them: maps, backends (named, with no
 * servers) and their refs, issues, n_ingresses, lookups; nothing global
 * (default backend and certificate, TCP services, spares). */
struct model *model_build_routes(const struct store *store, const struct model_opts *opts,
                                 const struct k8s_obj *const *ings, size_t n);
/* <m> (a build, or a patch of one) with the servers of the backends of the
 * Services of hashes <svcs> (k8s_lookup_hash(), <n> of them) resolved again
 * from <store>: the model a build would make when only those Services'
 * EndpointSlices changed since <m>. A new model (refs 1), <m> itself with a
 * reference more when no backend uses them, or NULL when a build must be made
 * instead (a TCP service's, or more than a few hundred backends patched since
 * the build). */
struct model *model_patch(struct model *m, const struct store *store, const uint64_t *svcs,
                          size_t n);
/* <m> (a build, or a patch of one) with the routes of the hosts of the
 * Ingresses <changes> names (store_take_changes()), and of every Ingress
 * that shares a host with them, built again from <store>: the model a build
 * would make when only those Ingresses changed since <m>. A new model (refs
 * 1), <m> itself with a reference more when the routes are the same, or
 * NULL when a build must be made instead: a certificate added or unused, a
 * backend unused, or added where no spare takes it, a map used or unused, a
 * canary, an alias, passthrough or a rule-less Ingress among them, a Secret
 * whose data must be read again, more than a few dozen Ingresses to build
 * again. With <spares>, a new backend model_fits_spare() runs in a free
 * spare backend of <m>, with its servers, as ctl_use_spares() puts one
 * there after a build: new backends in name order, in the free spares in
 * theirs; each spare it fills is among the patched backends. */
struct model *model_reroute(struct model *m, const struct store *store,
                            const struct model_opts *opts, const struct store_change *changes,
                            size_t n_changes, bool spares);
/* <m> (a build, or a patch of one) with the certificates of the TLS Secrets
 * of hashes <secrets> (k8s_lookup_hash(), <n> of them) parsed again from
 * <store>: the model a build would make when only those Secrets changed
 * since <m>. A new model (refs 1) that holds the new parsed Secrets, <m>
 * itself with a reference more when no certificate changed, or NULL when a
 * build must be made instead: a Secret that <lookups> (of the builds and
 * reroutes since <m>'s build) says is read for more than a certificate, or
 * that makes the default certificate; one that made no certificate (it was
 * missing or unusable), is unusable now, or names other hosts now. */
struct model *model_recert(struct model *m, const struct store *store,
                           const struct model_opts *opts, const struct model_lookups *lookups,
                           const uint64_t *secrets, size_t n);
/* The parsed form of TLS Secret <s> in opts->tls_cache: parsed now when
 * <s> holds its data, else the one parsed before it was dropped; NULL when
 * <s> is NULL, not of type kubernetes.io/tls, or its data is gone. */
const struct tls_entry *model_secret_tls(const struct model_opts *opts,
                                         const struct k8s_secret *s);
/* The servers of port <port_name> of a Service (its name there; "" for its
 * only port, unnamed) from <slices>, its EndpointSlices in any order: each
 * ready endpoint that is not terminating, once, packed in <a>
 * (model_pack_servers()), *<n> of them, *<n_v4> IPv4; NULL when none. */
const unsigned char *model_endpoint_servers(struct arena *a, const struct k8s_obj *const *slices,
                                           size_t n_slices, const char *port_name, uint32_t *n,
                                           uint32_t *n_v4);
/* Adds to <refs> the "ns/name" of each Secret an Ingress of <store>, of any
 * class, or --default-ssl-certificate names: the Secrets a build may parse.
 * The value is MODEL_REF_TLS, or MODEL_REF_DATA for those an auth-secret
 * annotation of an Ingress or Service, or the ConfigMap's client-ca, names:
 * every build reads them, their data is kept. */
#define MODEL_REF_TLS ((void *)1)
#define MODEL_REF_DATA ((void *)2)
void model_secret_refs(const struct store *store, const struct model_opts *opts,
                       struct hmap *refs);
/* Parses Secret <s> into opts->tls_cache, where the next build finds it
 * once the store no longer keeps its data. */
void model_parse_secret(const struct model_opts *opts, const struct k8s_secret *s);
/* True when <ing> is of our class (doc/routing.md, "Which Ingresses are
 * ours"), as a build of <store> with <opts> decides. */
bool model_owns_ingress(const struct store *store, const struct model_opts *opts,
                        const struct k8s_ingress *ing);
/* True when <be> has the settings of a spare backend: the ConfigMap's, no
 * keys of its own, HTTP, and runs in none. */
bool model_fits_spare(const struct model_backend *be);
/* The spare backends of <m>, *<n> of them, free or running another
 * (origin): they are together in its backends, in their order there; the
 * first of them. */
struct model_backend *const *model_spares(const struct model *m, size_t *n);
/* Puts backend <name> of <m>, a build, in spare backend <spare>, a free one: it takes
 * the spare's name (its own is kept in <origin>), and the routes to it follow.
 * Only a backend model_fits_spare() can. Returns 0, or -ENOENT (no such
 * backend or free spare) or -EINVAL (one that cannot), <m> left as it was. */
int model_run_in_spare(struct model *m, const char *name, const char *spare);
/* Makes the routes of <m> to backend <from> (its maps' values, canaries'
 * included, and its default backend) routes to <to>, which outlives them. */
void model_rename_routes(struct model *m, const char *from, const char *to);
/* How many entries <a> (<na> of them) and <b> (<nb>) begin with that are
 * the same strings (the same pointers), compared many at a time: a patch's
 * map shares all but a few entries with the one it was made from, and
 * walking them one by one was most of the planning of a route change at
 * 10,000 Ingresses. */
size_t model_entries_shared(const struct model_entry *a, size_t na, const struct model_entry *b,
                            size_t nb);
/* The same of the entries they end with. */
size_t model_entries_shared_end(const struct model_entry *a, size_t na,
                                const struct model_entry *b, size_t nb);
/* The certificate of <m> in file <file> ("<ns>_<name>.pem"), or NULL. */
const struct model_cert *model_find_cert(const struct model *m, const char *file);
/* Room for a namespace or a Secret's name and the NUL. */
#define MODEL_NAME_MAX 256
/* The namespace and name of the Secret certificate <c> is made from, from
 * its file's name; false for a file of no Secret ("default.pem"). */
bool model_cert_secret(const struct model_cert *c, char ns[MODEL_NAME_MAX],
                       char name[MODEL_NAME_MAX]);
/* The backend of <m> named <name>, or NULL. */
const struct model_backend *model_find_backend(const struct model *m, const char *name);
/* Its index in <m>'s backends, or -1. */
ptrdiff_t model_backend_index(const struct model *m, const char *name);
/* Whether a build looked up the object of hash <h> (k8s_lookup_hash()) in
 * <l>, its lookups: a change to any other Service, Secret or EndpointSlice
 * would build the same model. */
bool model_looks_up(const struct model_lookups *l, uint64_t h);
/* Whether a build read Secret <h> for more than the certificate of a TLS
 * entry (its users, CAs or server-crt). */
bool model_reads_data(const struct model_lookups *l, uint64_t h);
/* Adds the lookups of <l> to those of <to>. */
void model_lookups_add(struct model_lookups *to, const struct model_lookups *l);
void model_lookups_free(struct model_lookups *l);
struct model *model_ref(struct model *m);
/* Drops a reference; the last one frees the arena. NULL is a no-op. */
void model_unref(struct model *m);
/* Name of a map for files and logs ("hosts", "exact", ...). */
const char *model_map_name(enum model_map map);
/* Room for a server's name and the NUL: "backup-", an IPv6 address, ':' and a
 * port. */
#define MODEL_SERVER_NAME_MAX 64
#define MODEL_BACKUP_PREFIX "backup-"
/* The address of server <s> as text ("10.0.0.1", "fd00::7") in <buf> (at
 * least MODEL_SERVER_NAME_MAX bytes), which it returns. */
const char *model_server_addr(const struct model_server *s, char *buf, size_t size);
/* The name of server <s>, "<addr>:<port>", in <buf> (at least
 * MODEL_SERVER_NAME_MAX bytes), which it returns: its name in HAProxy's
 * configuration and for the Runtime API. */
const char *model_server_name(const struct model_server *s, char *buf, size_t size);
/* The order of a backend's servers: IPv4 first, then by address, then port. */
int model_server_cmp(const struct model_server *a, const struct model_server *b);
/* The <n> servers <s>, in model_server_cmp() order, packed in <a> as a
 * backend keeps them; how many are IPv4 in *<n_v4>. */
const unsigned char *model_pack_servers(struct arena *a, const struct model_server *s, size_t n,
                                        uint32_t *n_v4);
/* The PEM of <c>, its pem_len bytes and a NUL, to <out>. */
void model_cert_pem(const struct model_cert *c, char *out);
/* Server <i> of <be>. */
struct model_server model_backend_server(const struct model_backend *be, size_t i);
/* Backup server <i> of <be>; its name has MODEL_BACKUP_PREFIX first. */
struct model_server model_backend_backup(const struct model_backend *be, size_t i);
#endif
