/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers to build stores and inspect models (test_model.c, test_render.c). */
#ifndef TESTS_UNIT_MODELUTIL_H
#define TESTS_UNIT_MODELUTIL_H
#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "model/model.h"
#include "store/store.h"
#include "util/xalloc.h"

#define CONTROLLER "portico.dev/ingress-controller"

/* JSON written with ' instead of " for readability. */
static inline char *q2j(const char *s)
{
    char *j = xstrdup(s);

    for (char *p = j; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return j;
}

/* Decodes <qjson> and puts it in <s>. */
static inline void put(struct store *s, const char *qjson)
{
    char *j = q2j(qjson);

    store_put(s, tu_decode(j));
    free(j);
}

#define BE_NUM(svc, num) "'backend':{'service':{'name':'" svc "','port':{'number':" #num "}}}"
#define BE_NAME(svc, port) "'backend':{'service':{'name':'" svc "','port':{'name':'" port "'}}}"
#define PATH(p, type, be) "{'path':'" p "','pathType':'" type "'," be "}"
#define RULE(host, paths) "{'host':'" host "','http':{'paths':[" paths "]}}"
#define RULE_NOHOST(paths) "{'http':{'paths':[" paths "]}}"

/* Adds an Ingress. <cls>: spec.ingressClassName or NULL; <ann>: annotation
 * members ("'k':'v'") or ""; <spec>: the other spec members or "". */
static inline void put_ingress(struct store *s, const char *ns, const char *name,
                               const char *created, const char *cls, const char *ann,
                               const char *spec)
{
    char *q = xasprintf("{'apiVersion':'networking.k8s.io/v1','kind':'Ingress','metadata':"
                        "{'name':'%s','namespace':'%s','creationTimestamp':'%s',"
                        "'annotations':{%s}},'spec':{%s%s%s%s%s}}",
                        name, ns, created, ann, cls ? "'ingressClassName':'" : "",
                        cls ? cls : "", cls ? "'" : "", cls && *spec ? "," : "", spec);

    put(s, q);
    free(q);
}

static inline void put_class(struct store *s, const char *name, const char *controller,
                             bool is_default)
{
    char *q = xasprintf("{'apiVersion':'networking.k8s.io/v1','kind':'IngressClass',"
                        "'metadata':{'name':'%s','annotations':{%s}},'spec':{'controller':'%s'}}",
                        name,
                        is_default ? "'ingressclass.kubernetes.io/is-default-class':'true'" : "",
                        controller);

    put(s, q);
    free(q);
}

/* A Service with one named port <port_name>:<port> -> <target>, and one
 * EndpointSlice with <addrs> (comma-separated, all ready) on <target>. */
static inline void put_service(struct store *s, const char *ns, const char *name,
                               const char *port_name, int port, int target, const char *addrs)
{
    char *q = xasprintf("{'apiVersion':'v1','kind':'Service','metadata':{'name':'%s',"
                        "'namespace':'%s'},'spec':{'type':'ClusterIP','ports':[{'name':'%s',"
                        "'port':%d,'targetPort':%d}]}}",
                        name, ns, port_name, port, target);
    char addr_json[1024];
    size_t n = 0;

    put(s, q);
    free(q);
    if (!addrs)
        return;
    addr_json[0] = '\0';
    for (const char *p = addrs; *p;) {
        size_t l = strcspn(p, ",");

        n += (size_t)snprintf(addr_json + n, sizeof(addr_json) - n, "%s{'addresses':['%.*s']}",
                              n ? "," : "", (int)l, p);
        p += l + (p[l] == ',');
    }
    q = xasprintf("{'apiVersion':'discovery.k8s.io/v1','kind':'EndpointSlice','metadata':"
                  "{'name':'%s-x1','namespace':'%s','labels':{'kubernetes.io/service-name':"
                  "'%s'}},'addressType':'IPv4','ports':[{'name':'%s','port':%d}],"
                  "'endpoints':[%s]}",
                  name, ns, name, port_name, target, addr_json);
    put(s, q);
    free(q);
}

/* Looks <key> up in a model map, checking that the map is sorted. */
static inline const char *map_get(const struct model *m, enum model_map map, const char *key)
{
    const char *found = NULL;

    for (size_t i = 0; i < m->n_maps[map]; i++) {
        if (i > 0 && strcmp(m->maps[map][i - 1].key, m->maps[map][i].key) >= 0)
            fail_msg("map %s not sorted or has duplicates at %zu", model_map_name(map), i);
        if (!strcmp(m->maps[map][i].key, key))
            found = m->maps[map][i].value;
    }
    return found;
}

static inline void assert_entry(const struct model *m, enum model_map map, const char *key,
                                const char *value)
{
    const char *v = map_get(m, map, key);

    if (!v)
        fail_msg("map %s: no key \"%s\"", model_map_name(map), key);
    if (strcmp(v, value))
        fail_msg("map %s: key \"%s\" -> \"%s\", want \"%s\"", model_map_name(map), key, v,
                 value);
}

static inline void assert_no_entry(const struct model *m, enum model_map map, const char *key)
{
    const char *v = map_get(m, map, key);

    if (v)
        fail_msg("map %s: unexpected key \"%s\" -> \"%s\"", model_map_name(map), key, v);
}

static inline size_t total_entries(const struct model *m)
{
    size_t n = 0;

    for (int i = 0; i < MODEL_MAP_COUNT; i++)
        n += m->n_maps[i];
    return n;
}

/* The PEM of certificate <c>, valid for the next three calls (an
 * assertion may compare two). */
static inline const char *cert_pem(const struct model_cert *c)
{
    static char bufs[4][65536];
    static unsigned next;
    char *buf = bufs[next++ % 4];

    assert_true(c->pem_len < sizeof(bufs[0]));
    model_cert_pem(c, buf);
    return buf;
}

/* The name of server <i> of <be> ("10.0.0.1:8080"), valid until the next
 * call. */
static inline const char *server_name(const struct model_backend *be, size_t i)
{
    static char name[MODEL_SERVER_NAME_MAX];
    struct model_server s = model_backend_server(be, i);

    return model_server_name(&s, name, sizeof(name));
}

/* Finds an issue on <obj> whose field contains <field> and message contains
 * <msg> (NULL: any). */
static inline const struct model_issue *find_issue(const struct model *m, enum model_sev sev,
                                                   const char *obj, const char *field,
                                                   const char *msg)
{
    for (size_t i = 0; i < m->n_issues; i++) {
        const struct model_issue *is = &m->issues[i];

        if (is->sev == sev && !strcmp(is->obj, obj) && (!field || strstr(is->field, field)) &&
            (!msg || strstr(is->msg, msg)))
            return is;
    }
    return NULL;
}

static inline void dump_issues(const struct model *m)
{
    for (size_t i = 0; i < m->n_issues; i++)
        print_message("issue %zu: sev=%d obj=%s field=%s msg=%s\n", i, (int)m->issues[i].sev,
                      m->issues[i].obj, m->issues[i].field, m->issues[i].msg);
}

static inline void assert_issue(const struct model *m, enum model_sev sev, const char *obj,
                                const char *field, const char *msg)
{
    if (!find_issue(m, sev, obj, field, msg)) {
        dump_issues(m);
        fail_msg("no issue sev=%d obj=%s field=%s msg=%s", (int)sev, obj, field ? field : "*",
                 msg ? msg : "*");
    }
}

static inline const struct model_backend *find_backend(const struct model *m, const char *name)
{
    for (size_t i = 0; i < m->n_backends; i++) {
        if (i > 0)
            assert_true(strcmp(m->backends[i - 1]->name, m->backends[i]->name) < 0);
        if (!strcmp(m->backends[i]->name, name))
            return m->backends[i];
    }
    return NULL;
}

/* ====== Certificates made with OpenSSL ====== */

static inline char *bio_string(BIO *bio)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *s = xstrndup(data, (size_t)n);

    BIO_free(bio);
    return s;
}

/* Self-signed certificate for the DNS names in <sans> (comma-separated).
 * PEM certificate and key in *<crt> and *<key> (caller frees). */
static inline void make_cert(const char *sans, char **crt, char **key)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *nm;
    X509_EXTENSION *ext;
    char san[512], cn[256];
    size_t n = 0;
    BIO *bio;

    assert_non_null(k);
    assert_non_null(x);
    snprintf(cn, sizeof(cn), "%.*s", (int)strcspn(sans, ","), sans);
    san[0] = '\0';
    for (const char *p = sans; *p;) {
        size_t l = strcspn(p, ",");

        n += (size_t)snprintf(san + n, sizeof(san) - n, "%sDNS:%.*s", n ? "," : "", (int)l, p);
        p += l + (p[l] == ',');
    }
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
    X509_set_pubkey(x, k);
    nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, nm);
    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    *crt = bio_string(bio);
    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
    *key = bio_string(bio);
    X509_free(x);
    EVP_PKEY_free(k);
}

static inline char *b64(const char *s)
{
    size_t n = strlen(s);
    unsigned char *out = xmalloc(4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock(out, (const unsigned char *)s, (int)n);
    return (char *)out;
}

/* Adds a kubernetes.io/tls Secret with base64 data. */
static inline void put_tls_secret(struct store *s, const char *ns, const char *name,
                                  const char *crt, const char *key)
{
    char *bc = b64(crt), *bk = b64(key);
    json_t *j = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s, s:s}}", "apiVersion", "v1",
                          "kind", "Secret", "metadata", "name", name, "namespace", ns, "type",
                          "kubernetes.io/tls", "data", "tls.crt", bc, "tls.key", bk);
    struct k8s_obj *o = NULL;
    char *err = NULL;

    assert_non_null(j);
    assert_int_equal(decode_object(j, &o, NULL, &err), DECODE_OK);
    store_put(s, o);
    json_decref(j);
    free(bc);
    free(bk);
}
#endif
