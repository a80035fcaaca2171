/* SPDX-License-Identifier: Apache-2.0 */
/* TLS Secret validation with OpenSSL. A Secret that fails here is reported
 * and replaced by the default certificate; it never reaches haproxy -c. */
#include "model/tls.h"

#include <openssl/bio.h>
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

struct tls_cert *tls_cert_parse(const unsigned char *crt, size_t crt_len,
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
    bio = BIO_new_mem_buf(key, (int)key_len);
    c->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
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

bool tls_cert_covers(const struct tls_cert *c, const char *host)
{
    GENERAL_NAMES *names;
    bool found = false;

    if (strncmp(host, "*.", 2) != 0)
        return X509_check_host(c->chain[0], host, 0, 0, NULL) == 1;
    /* a wildcard rule host is covered by the same wildcard in the certificate */
    names = X509_get_ext_d2i(c->chain[0], NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !found; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

        if (gn->type == GEN_DNS) {
            const char *s = (const char *)ASN1_STRING_get0_data(gn->d.dNSName);

            found = (size_t)ASN1_STRING_length(gn->d.dNSName) == strlen(host) &&
                    !strcasecmp(s, host);
        }
    }
    GENERAL_NAMES_free(names);
    return found;
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
