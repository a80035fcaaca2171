/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate parsing, parsed-Secret cache and certificate host coverage. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/tls.h"
#include "util/xalloc.h"

/* Self-signed certificate for CN <cn> with the SANs in <san> ("DNS:a,DNS:b",
 * or NULL); key and certificate PEM returned in *key and *crt (caller frees). */
static void make_with(EVP_PKEY *pk, bool traditional, const char *cn, const char *san,
                      char **crt, char **key)
{
    X509 *x = X509_new();
    X509V3_CTX ctx;
    BIO *b;
    char *p;
    long n;

    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    if (san) {
        X509_EXTENSION *ext;

        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    /* Ed25519 signs without a separate digest */
    X509_sign(x, pk, EVP_PKEY_get_id(pk) == EVP_PKEY_ED25519 ? NULL : EVP_sha256());
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &p);
    *crt = strndup(p, (size_t)n);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    if (traditional)
        PEM_write_bio_PrivateKey_traditional(b, pk, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(b, &p);
    *key = strndup(p, (size_t)n);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static void make(const char *cn, const char *san, char **crt, char **key)
{
    make_with(EVP_EC_gen("P-256"), false, cn, san, crt, key);
}

/* <crt> with <key>: NULL when it parses, else the error (caller frees). */
static char *parse_error(const char *crt, const char *key)
{
    char *err = NULL;
    struct tls_cert *c = tls_cert_parse((const unsigned char *)crt, strlen(crt),
                                        (const unsigned char *)key, strlen(key), &err);

    tls_cert_free(c);
    assert_true((c == NULL) == (err != NULL));
    return err;
}

/* Keys of every type and PEM form parse (the decoder is picked by the
 * certificate's key type, with a generic fallback); a key of another type or
 * another pair is refused as not matching. */
static void test_key_forms(void **state)
{
    char *crt[4], *key[4], *err;

    (void)state;
    make_with(EVP_EC_gen("P-256"), false, "ec8", NULL, &crt[0], &key[0]);
    make_with(EVP_EC_gen("P-384"), true, "ec", NULL, &crt[1], &key[1]);
    make_with(EVP_RSA_gen(2048), false, "rsa8", NULL, &crt[2], &key[2]);
    make_with(EVP_RSA_gen(2048), true, "rsa", NULL, &crt[3], &key[3]);
    assert_non_null(strstr(key[1], "BEGIN EC PRIVATE KEY"));
    assert_non_null(strstr(key[3], "BEGIN RSA PRIVATE KEY"));
    for (int i = 0; i < 4; i++)
        assert_null(parse_error(crt[i], key[i]));
    err = parse_error(crt[0], key[2]);
    assert_non_null(strstr(err, "does not match"));
    free(err);
    err = parse_error(crt[0], key[1]);
    assert_non_null(strstr(err, "does not match"));
    free(err);
    err = parse_error(crt[2], "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    assert_non_null(strstr(err, "tls.key"));
    free(err);
    for (int i = 0; i < 4; i++) {
        free(crt[i]);
        free(key[i]);
    }
}

static const struct tls_entry *get(struct tls_cache *c, const char *id, const char *crt,
                                   const char *key)
{
    return tls_cache_get(c, id, (const unsigned char *)crt, strlen(crt),
                         (const unsigned char *)key, strlen(key));
}

/* The PEM entry <e> makes from its DER is the one OpenSSL writes for <crt>
 * and <key>: the same bytes, as long as it says. */
static void assert_same_pem(const struct tls_entry *e, const char *crt, const char *key)
{
    struct tls_cert *tc = tls_cert_parse((const unsigned char *)crt, strlen(crt),
                                         (const unsigned char *)key, strlen(key), NULL);
    char *want, *got;
    size_t len;

    assert_non_null(tc);
    want = tls_cert_pem(tc, &len);
    assert_int_equal(e->pem_len, len);
    got = xmalloc(e->pem_len + 1);
    tls_entry_pem(e, got);
    assert_string_equal(got, want);
    free(got);
    free(want);
    tls_cert_free(tc);
}

/* assert_same_pem() for <e> and for a chain of two certificates (the leaf
 * twice), which checks the blocks after the first. */
static void assert_pem_is_openssls(const struct tls_entry *e, const char *crt, const char *key)
{
    char *chain = xasprintf("%s%s", crt, crt);
    struct tls_cache *c2 = tls_cache_new();

    assert_same_pem(e, crt, key);
    tls_cache_sweep(c2);
    assert_same_pem(get(c2, "ns/chain#1", chain, key), chain, key);
    tls_cache_free(c2);
    free(chain);
}

/* The cache decodes keys with one decoder per key type, made once: each key
 * still comes out as its own, whatever was decoded before it, a key that
 * failed included. */
static void test_cache_decoders_serve_each_key(void **state)
{
    struct tls_cache *c = tls_cache_new();
    char *crt[5], *key[5], id[32];
    const struct tls_entry *e;

    (void)state;
    make_with(EVP_EC_gen("P-256"), false, "ec8", NULL, &crt[0], &key[0]);
    make_with(EVP_RSA_gen(2048), true, "rsa", NULL, &crt[1], &key[1]);
    make_with(EVP_EC_gen("P-256"), true, "ec", NULL, &crt[2], &key[2]);
    make_with(EVP_RSA_gen(2048), false, "rsa8", NULL, &crt[3], &key[3]);
    make_with(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), false, "ed", NULL, &crt[4], &key[4]);
    tls_cache_sweep(c);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5; i++) {
            snprintf(id, sizeof(id), "ns/ok%d#%d", i, round);
            e = get(c, id, crt[i], key[i]);
            assert_non_null(e->der);
            assert_pem_is_openssls(e, crt[i], key[i]);
            /* the pair of the next one: same type or not, it fails */
            snprintf(id, sizeof(id), "ns/bad%d#%d", i, round);
            e = get(c, id, crt[i], key[(i + 2) % 5]);
            assert_null(e->der);
            assert_non_null(strstr(e->err, "does not match"));
        }
    }
    tls_cache_free(c);
    for (int i = 0; i < 5; i++) {
        free(crt[i]);
        free(key[i]);
    }
}

static void test_cache_reuses_and_sweeps(void **state)
{
    struct tls_cache *c = tls_cache_new();
    char *crt, *key;
    const struct tls_entry *a, *b;

    (void)state;
    make("a.test", "DNS:a.test", &crt, &key);
    tls_cache_sweep(c);
    a = get(c, "ns/a#1", crt, key);
    assert_non_null(a->der);
    assert_null(a->err);
    tls_cache_sweep(c);
    b = get(c, "ns/a#1", crt, key);
    assert_ptr_equal(a, b); /* used in the previous build: kept, not parsed again */
    tls_cache_sweep(c);     /* used in the last build: kept */
    tls_cache_sweep(c);     /* not used in the last build: dropped */
    b = get(c, "ns/a#1", crt, key);
    assert_non_null(b->der);
    /* an unusable Secret is remembered with its reason */
    b = get(c, "ns/bad#2", "garbage", key);
    assert_null(b->der);
    assert_non_null(strstr(b->err, "tls.crt"));
    tls_cache_free(c);
    free(crt);
    free(key);
}

/* A Secret rotated to an unusable certificate: the usable one the last
 * build used is found (and kept by the next sweep); none for another
 * Secret whose name starts alike, none once unused for a build. */
static void test_cache_last_good(void **state)
{
    struct tls_cache *c = tls_cache_new();
    char *crt, *key;
    const struct tls_entry *good, *bad;

    (void)state;
    make("a.test", "DNS:a.test", &crt, &key);
    tls_cache_sweep(c);
    good = get(c, "ns/a#1", crt, key);
    get(c, "ns/ab#7", crt, key);
    tls_cache_sweep(c);
    bad = get(c, "ns/a#2", "garbage", key);
    assert_null(bad->der);
    assert_ptr_equal(tls_cache_last_good(c, "ns/a"), good);
    assert_null(tls_cache_last_good(c, "ns/abc"));
    tls_cache_sweep(c); /* used in the last build, through last_good: kept */
    assert_ptr_equal(tls_cache_last_good(c, "ns/a"), good);
    tls_cache_sweep(c);
    tls_cache_sweep(c); /* then a build without it: gone */
    assert_null(tls_cache_last_good(c, "ns/a"));
    tls_cache_free(c);
    free(crt);
    free(key);
}

/* client-ca: every certificate of a bundle, re-encoded; what is around
 * them (text, a key) left out; no certificate at all is an error. */
static void test_ca_pem(void **state)
{
    char *crt1, *key1, *crt2, *key2, *bundle, *pem, *err = NULL;
    size_t len = 0;

    (void)state;
    make("ca one", NULL, &crt1, &key1);
    make("ca two", NULL, &crt2, &key2);
    bundle = xasprintf("# a comment\n%s\n%s%s", crt1, key1, crt2);
    pem = tls_ca_pem((const unsigned char *)bundle, strlen(bundle), &len, &err);
    assert_non_null(pem);
    assert_null(err);
    assert_int_equal(len, strlen(pem));
    assert_non_null(strstr(pem, crt1));
    assert_non_null(strstr(pem, crt2));
    assert_null(strstr(pem, "PRIVATE KEY"));
    assert_null(strstr(pem, "comment"));
    free(pem);
    pem = tls_ca_pem((const unsigned char *)key1, strlen(key1), &len, &err);
    assert_null(pem);
    assert_string_equal(err, "no PEM certificate in it");
    free(err);
    err = NULL;
    assert_null(tls_ca_pem((const unsigned char *)"", 0, &len, &err));
    assert_string_equal(err, "empty");
    free(err);
    free(bundle);
    free(crt1);
    free(key1);
    free(crt2);
    free(key2);
}

static void test_covers(void **state)
{
    struct tls_cache *c = tls_cache_new();
    char *crt, *key, *crt2, *key2;
    const struct tls_entry *e, *cn;

    (void)state;
    make("ignored.test", "DNS:*.foo.test,DNS:exact.test", &crt, &key);
    make("legacy.test", NULL, &crt2, &key2);
    tls_cache_sweep(c);
    e = get(c, "e", crt, key);
    cn = get(c, "cn", crt2, key2);
    assert_true(tls_entry_covers(e, "exact.test"));
    assert_true(tls_entry_covers(e, "EXACT.test"));
    assert_true(tls_entry_covers(e, "bar.foo.test"));
    assert_true(tls_entry_covers(e, "*.foo.test"));
    assert_false(tls_entry_covers(e, "foo.test"));
    assert_false(tls_entry_covers(e, "a.bar.foo.test"));
    assert_false(tls_entry_covers(e, "ignored.test")); /* SANs present: CN not used */
    assert_false(tls_entry_covers(e, "*.exact.test"));
    assert_true(tls_entry_covers(cn, "legacy.test"));
    assert_false(tls_entry_covers(cn, "other.test"));
    tls_cache_free(c);
    free(crt);
    free(key);
    free(crt2);
    free(key2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_forms),
        cmocka_unit_test(test_cache_decoders_serve_each_key),
        cmocka_unit_test(test_cache_reuses_and_sweeps),
        cmocka_unit_test(test_covers),
        cmocka_unit_test(test_ca_pem),
        cmocka_unit_test(test_cache_last_good),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
