/* SPDX-License-Identifier: Apache-2.0 */
/* TLS Secret validation with OpenSSL. A Secret that fails here is reported
 * and replaced by the default certificate; it never reaches haproxy -c. */
#include "model/tls.h"

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/err.h"
#include "util/hmap.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define TLS_MAX_CHAIN 16

struct tls_cert {
    EVP_PKEY *key;
    X509 *chain[TLS_MAX_CHAIN]; /* leaf first */
    int n;
};

void tls_cert_free(struct tls_cert *c)
{
    if (!c)
        return;
    EVP_PKEY_free(c->key);
    for (int i = 0; i < c->n; i++)
        X509_free(c->chain[i]);
    free(c);
}

static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    return r ? r : "no PEM data";
}

/* A PEM key decoder for one key type, set up once: OpenSSL 3.0 takes about
 * four times longer to set one up than to decode a key with it. It writes
 * each key it decodes to <out>, so it must not move. */
struct key_decoder {
    char type[32];
    EVP_PKEY *out;
    OSSL_DECODER_CTX *ctx;
};

#define TLS_KEY_DECODERS 6 /* RSA, RSA-PSS, EC, ED25519, ED448, and one spare */

static void key_decoder_free(struct key_decoder *d)
{
    OSSL_DECODER_CTX_free(d->ctx);
    EVP_PKEY_free(d->out);
    memset(d, 0, sizeof(*d));
}

/* Decodes <key> with <d>, made for keys of <type> if not yet. */
static EVP_PKEY *decode_key(struct key_decoder *d, const char *type,
                            const unsigned char *key, size_t key_len)
{
    const unsigned char *p = key;
    size_t left = key_len;
    EVP_PKEY *k;

    if (!d->ctx) {
        snprintf(d->type, sizeof(d->type), "%s", type);
        d->ctx = OSSL_DECODER_CTX_new_for_pkey(&d->out, "PEM", NULL, type, EVP_PKEY_KEYPAIR,
                                               NULL, NULL);
        if (!d->ctx)
            return NULL;
    }
    d->out = NULL;
    if (!OSSL_DECODER_from_data(d->ctx, &p, &left)) {
        EVP_PKEY_free(d->out);
        d->out = NULL;
    }
    k = d->out;
    d->out = NULL;
    return k;
}

/* The private key in <key>, decoded as the type of <pub> when possible, with
 * one of the <n> decoders of <decs> (or one made for this key when NULL).
 * OpenSSL 3.0 sets up every key decoder it has for a generic PEM read: 0.3 ms
 * per key against 0.08 ms for a typed one, and 0.015 ms with a typed decoder
 * made before. A key of another type falls back to the generic read. */
static EVP_PKEY *read_key(struct key_decoder *decs, size_t n, const unsigned char *key,
                          size_t key_len, EVP_PKEY *pub)
{
    const char *type = pub ? EVP_PKEY_get0_type_name(pub) : NULL;
    EVP_PKEY *k = NULL;
    BIO *bio;

    if (type && strlen(type) < sizeof(decs->type)) {
        struct key_decoder once = {0}, *d = &once;

        for (size_t i = 0; i < n; i++) {
            if (!decs[i].ctx || !strcmp(decs[i].type, type)) {
                d = &decs[i];
                break;
            }
        }
        k = decode_key(d, type, key, key_len);
        key_decoder_free(&once);
        if (k)
            return k;
        ERR_clear_error();
    }
    bio = BIO_new_mem_buf(key, (int)key_len);
    k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return k;
}

static struct tls_cert *parse(struct key_decoder *decs, size_t n_decs,
                              const unsigned char *crt, size_t crt_len,
                              const unsigned char *key, size_t key_len, char **err)
{
    struct tls_cert *c;
    BIO *bio;

    if (!crt || !crt_len) {
        errmsg_set(err, "data[\"tls.crt\"]: missing");
        return NULL;
    }
    if (!key || !key_len) {
        errmsg_set(err, "data[\"tls.key\"]: missing");
        return NULL;
    }
    if (crt_len > TLS_MAX_PEM || key_len > TLS_MAX_PEM) {
        errmsg_set(err, "data: tls.crt or tls.key larger than 1 MiB");
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    ERR_clear_error();
    bio = BIO_new_mem_buf(crt, (int)crt_len);
    while (bio && c->n < TLS_MAX_CHAIN) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

        if (!x)
            break;
        c->chain[c->n++] = x;
    }
    BIO_free(bio);
    if (c->n == 0) {
        errmsg_set(err, "data[\"tls.crt\"]: no PEM certificate (%s)", ssl_reason());
        goto fail;
    }
    ERR_clear_error();
    c->key = read_key(decs, n_decs, key, key_len, X509_get0_pubkey(c->chain[0]));
    if (!c->key) {
        errmsg_set(err, "data[\"tls.key\"]: no PEM private key (%s)", ssl_reason());
        goto fail;
    }
    if (X509_check_private_key(c->chain[0], c->key) != 1) {
        errmsg_set(err, "data[\"tls.key\"]: does not match the certificate in tls.crt");
        goto fail;
    }
    ERR_clear_error();
    return c;
fail:
    ERR_clear_error();
    tls_cert_free(c);
    return NULL;
}

struct tls_cert *tls_cert_parse(const unsigned char *crt, size_t crt_len,
                                const unsigned char *key, size_t key_len, char **err)
{
    return parse(NULL, 0, crt, crt_len, key, key_len, err);
}

char *tls_cert_pem(const struct tls_cert *c, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;

    if (!bio)
        abort();
    PEM_write_bio_PrivateKey(bio, c->key, NULL, NULL, 0, NULL, NULL);
    for (int i = 0; i < c->n; i++)
        PEM_write_bio_X509(bio, c->chain[i]);
    n = BIO_get_mem_data(bio, &data);
    out = xstrndup(data, (size_t)n);
    *len = (size_t)n;
    BIO_free(bio);
    return out;
}

char *tls_selfsigned_pem(const char *cn)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    char *pem = NULL;
    struct tls_cert c;
    size_t len;

    if (!key || !x)
        goto out;
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Portico", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, key, EVP_sha256()))
        goto out;
    c.key = key;
    c.chain[0] = x;
    c.n = 1;
    pem = tls_cert_pem(&c, &len);
out:
    EVP_PKEY_free(key);
    X509_free(x);
    return pem;
}

/* ====== Cache across builds ====== */

struct tls_cache {
    struct hmap entries; /* id -> struct tls_entry */
    unsigned build;
    struct key_decoder decoders[TLS_KEY_DECODERS];
};

static void entry_free(struct tls_entry *e)
{
    if (!e)
        return;
    if (e->der)
        memset(e->der, 0, e->der_len); /* private key bytes do not linger */
    free(e->der);
    free(e->err);
    for (size_t i = 0; i < e->n_names; i++)
        free(e->names[i]);
    free(e->names);
    free(e);
}

void tls_entry_hold(const struct tls_entry *e)
{
    ((struct tls_entry *)e)->refs++;
}

void tls_entry_release(const struct tls_entry *e)
{
    struct tls_entry *w = (struct tls_entry *)e;

    if (w && --w->refs == 0)
        entry_free(w);
}

struct tls_cache *tls_cache_new(void)
{
    struct tls_cache *c = xcalloc(1, sizeof(*c));

    hmap_init(&c->entries);
    return c;
}

void tls_cache_free(struct tls_cache *c)
{
    void *v;

    if (!c)
        return;
    for (size_t i = 0; hmap_next(&c->entries, &i, NULL, &v);)
        tls_entry_release(v);
    hmap_deinit(&c->entries);
    for (size_t i = 0; i < TLS_KEY_DECODERS; i++)
        key_decoder_free(&c->decoders[i]);
    free(c);
}

void tls_cache_sweep(struct tls_cache *c)
{
    const char *key;
    void *v;
    char **gone = NULL;
    size_t n = 0, cap = 0;

    for (size_t i = 0; hmap_next(&c->entries, &i, &key, &v);) {
        if (((struct tls_entry *)v)->used != c->build) {
            gone = xgrow(gone, &cap, n + 1, sizeof(*gone));
            gone[n++] = xstrdup(key);
        }
    }
    for (size_t i = 0; i < n; i++) {
        tls_entry_release(hmap_del(&c->entries, gone[i]));
        free(gone[i]);
    }
    free(gone);
    c->build++;
}

static void add_name(struct tls_entry *e, const char *name, size_t len)
{
    e->names = xrealloc(e->names, (e->n_names + 1) * sizeof(*e->names));
    e->names[e->n_names++] = xstrndup(name, len);
}

static void collect_names(struct tls_entry *e, X509 *x)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

        if (gn->type == GEN_DNS)
            add_name(e, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
                     (size_t)ASN1_STRING_length(gn->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    if (e->n_names == 0) {
        /* no SAN: the common name, as older certificates do */
        char cn[256];
        int len = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
                                            sizeof(cn));

        if (len > 0)
            add_name(e, cn, (size_t)len);
    }
}

/* ====== DER and PEM ====== */

#define PEM_KEY "PRIVATE KEY"
#define PEM_CERT "CERTIFICATE"
#define PEM_LINE 48 /* bytes a line of base64 says */

/* The size of the DER element at <p>, made by OpenSSL: tag, length, content. */
static size_t der_size(const unsigned char *p)
{
    size_t n = p[1], len = 0;

    if (n < 0x80)
        return 2 + n;
    n &= 0x7f;
    for (size_t i = 0; i < n; i++)
        len = len << 8 | p[2 + i];
    return 2 + n + len;
}

/* Bytes of the PEM block of <label> holding <n> bytes, as OpenSSL writes it:
 * lines of 64 characters. */
static size_t pem_size(const char *label, size_t n)
{
    return 2 * strlen(label) + strlen("-----BEGIN -----\n-----END -----\n") +
           (n + 2) / 3 * 4 + (n + PEM_LINE - 1) / PEM_LINE;
}

static void set_der(struct tls_entry *e, const struct tls_cert *c)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(c->key);
    int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;
    unsigned char *at;

    if (n <= 0)
        abort(); /* a key OpenSSL just parsed */
    e->der_len = (size_t)n;
    e->pem_len = pem_size(PEM_KEY, (size_t)n);
    for (int i = 0; i < c->n; i++) {
        n = i2d_X509(c->chain[i], NULL);
        if (n <= 0)
            abort();
        e->der_len += (size_t)n;
        e->pem_len += pem_size(PEM_CERT, (size_t)n);
    }
    e->der = xmalloc(e->der_len);
    at = e->der;
    i2d_PKCS8_PRIV_KEY_INFO(p8, &at);
    for (int i = 0; i < c->n; i++)
        i2d_X509(c->chain[i], &at);
    PKCS8_PRIV_KEY_INFO_free(p8);
    e->der_hash = hash_fnv1a(e->der, e->der_len);
}

/* Writes the PEM block of <label> for the <n> bytes at <p> to <out>; returns
 * the end of what it wrote. */
static char *pem_block(char *out, const char *label, const unsigned char *p, size_t n)
{
    out += snprintf(out, 64, "-----BEGIN %s-----\n", label);
    for (size_t at = 0; at < n; at += PEM_LINE) {
        size_t len = n - at < PEM_LINE ? n - at : PEM_LINE;

        out += EVP_EncodeBlock((unsigned char *)out, p + at, (int)len);
        *out++ = '\n';
    }
    return out + snprintf(out, 64, "-----END %s-----\n", label);
}

void tls_entry_pem(const struct tls_entry *e, char *out)
{
    const unsigned char *p = e->der, *end = e->der + e->der_len;

    for (const char *label = PEM_KEY; p < end; label = PEM_CERT) {
        size_t n = der_size(p);

        out = pem_block(out, label, p, n);
        p += n;
    }
    *out = '\0';
}

const struct tls_entry *tls_cache_find(struct tls_cache *c, const char *id)
{
    struct tls_entry *e = hmap_get(&c->entries, id);

    if (e)
        e->used = c->build;
    return e;
}

const struct tls_entry *tls_cache_peek(const struct tls_cache *c, const char *id)
{
    return hmap_get(&c->entries, id);
}

const struct tls_entry *tls_cache_last_good(struct tls_cache *c, const char *name)
{
    size_t len = strlen(name);
    struct tls_entry *best = NULL;
    const char *id;
    void *v;

    /* only when a Secret turned unusable: a scan rather than an index that
     * every Secret would pay for */
    for (size_t i = 0; hmap_next(&c->entries, &i, &id, &v);) {
        struct tls_entry *e = v;

        if (e->der && !strncmp(id, name, len) && id[len] == '#' &&
            (!best || e->used > best->used))
            best = e;
    }
    if (best)
        best->used = c->build;
    return best;
}

const struct tls_entry *tls_cache_get(struct tls_cache *c, const char *id,
                                      const unsigned char *crt, size_t crt_len,
                                      const unsigned char *key, size_t key_len)
{
    struct tls_entry *e = (struct tls_entry *)tls_cache_find(c, id);
    struct tls_cert *cert;

    if (e)
        return e;
    e = xcalloc(1, sizeof(*e));
    e->used = c->build;
    e->refs = 1;
    cert = parse(c->decoders, TLS_KEY_DECODERS, crt, crt_len, key, key_len, &e->err);
    if (cert) {
        set_der(e, cert);
        collect_names(e, cert->chain[0]);
        tls_cert_free(cert);
    }
    hmap_put(&c->entries, id, e);
    return e;
}

bool tls_entry_covers(const struct tls_entry *e, const char *host)
{
    for (size_t i = 0; i < e->n_names; i++) {
        const char *n = e->names[i];
        const char *dot;

        if (!strcasecmp(n, host))
            return true;
        /* "*.foo.com" covers exactly one more label; a wildcard rule host only
         * the same wildcard */
        if (n[0] == '*' && n[1] == '.' && host[0] != '*' && (dot = strchr(host, '.')) &&
            dot != host && !strcasecmp(dot, n + 1))
            return true;
    }
    return false;
}

char *tls_ca_pem(const unsigned char *data, size_t len, size_t *out_len, char **err)
{
    BIO *in, *out;
    X509 *x;
    char *pem = NULL, *p;
    size_t n = 0;
    long plen;

    if (!len || len > TLS_MAX_PEM) {
        errmsg_set(err, len ? "larger than 1 MiB" : "empty");
        return NULL;
    }
    in = BIO_new_mem_buf(data, (int)len);
    out = BIO_new(BIO_s_mem());
    if (!in || !out)
        goto done;
    while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL))) {
        n++;
        if (!PEM_write_bio_X509(out, x)) {
            X509_free(x);
            goto done;
        }
        X509_free(x);
    }
    ERR_clear_error();
    if (!n) {
        errmsg_set(err, "no PEM certificate in it");
        goto done;
    }
    plen = BIO_get_mem_data(out, &p);
    pem = xmalloc((size_t)plen + 1);
    memcpy(pem, p, (size_t)plen);
    pem[plen] = '\0';
    *out_len = (size_t)plen;
done:
    if (!pem && !*err)
        errmsg_set(err, "cannot be read");
    BIO_free(in);
    BIO_free(out);
    return pem;
}
