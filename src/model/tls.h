/* SPDX-License-Identifier: Apache-2.0 */
/* Certificates: validation and re-encoding of TLS Secrets, host coverage,
 * and the self-signed fallback certificate. */
#ifndef SRC_MODEL_TLS_H
#define SRC_MODEL_TLS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_MAX_PEM (1u << 20)

struct tls_cert;

/* Parses a PEM chain and key, checks that they belong together, and returns
 * a parsed certificate (caller frees with tls_cert_free) or NULL with *err
 * set. Only the parsed objects are kept, so text around the PEM blocks never
 * reaches HAProxy. */
struct tls_cert *tls_cert_parse(const unsigned char *crt, size_t crt_len,
                                const unsigned char *key, size_t key_len, char **err);
void tls_cert_free(struct tls_cert *c);
/* Key then chain as PEM; caller owns the string, length in *<len>. */
char *tls_cert_pem(const struct tls_cert *c, size_t *len);
/* A parsed Secret as the model uses it, remembered across model builds so
 * that a change elsewhere does not parse every certificate again. It keeps
 * the key and chain as DER, a third smaller than PEM: the PEM HAProxy reads
 * is made when it is written (tls_entry_pem()). */
struct tls_entry {
    unsigned char *der; /* key (PKCS#8) then chain, re-encoded; NULL when unusable */
    size_t der_len;
    size_t pem_len;     /* of their PEM */
    uint64_t der_hash;  /* hash_fnv1a() of <der>: each rendering hashes it */
    char *err;          /* why it is unusable, or NULL */
    char **names;       /* DNS names the certificate is valid for (SAN, else CN) */
    size_t n_names;
    unsigned used;      /* last build that used it */
    unsigned refs;      /* the cache's, and one per model holding its PEM */
};

struct tls_cache;

struct tls_cache *tls_cache_new(void);
void tls_cache_free(struct tls_cache *c);
/* Returns the entry for <id> (which must change with the content, e.g.
 * "ns/name#hash"), parsing <crt> and <key> on a miss. Borrowed, valid until
 * the next tls_cache_sweep(). */
const struct tls_entry *tls_cache_get(struct tls_cache *c, const char *id,
                                      const unsigned char *crt, size_t crt_len,
                                      const unsigned char *key, size_t key_len);
/* The entry for <id> if the cache has it (a Secret whose data the store no
 * longer keeps), else NULL. Borrowed, as above. */
const struct tls_entry *tls_cache_find(struct tls_cache *c, const char *id);
/* The same, not counted as used by the current build: the next sweep drops
 * it as before (for a build of some routes, model_build_routes()). */
const struct tls_entry *tls_cache_peek(const struct tls_cache *c, const char *id);
/* The usable entry of the Secret <name> ("ns/name": its ids' part before
 * '#') that the latest build used, still in the cache, or NULL: what keeps
 * serving while a rotation brought an unusable certificate. Marked used, as
 * tls_cache_find(). */
const struct tls_entry *tls_cache_last_good(struct tls_cache *c, const char *name);
/* Starts a build: entries not used since the previous one leave the cache
 * (and are freed once no model holds them). */
void tls_cache_sweep(struct tls_cache *c);
/* A model's certificates are made from entries, not copies of them: it
 * holds each until it is freed. */
void tls_entry_hold(const struct tls_entry *e);
void tls_entry_release(const struct tls_entry *e);
/* Writes the PEM of usable entry <e>, key then chain, its pem_len bytes
 * and a NUL, to <out>. */
void tls_entry_pem(const struct tls_entry *e, char *out);
/* True when the entry's certificate is valid for <host> (exact or "*.x"). */
bool tls_entry_covers(const struct tls_entry *e, const char *host);

/* The certificates of a CA bundle (PEM, one or more), re-encoded: nothing
 * but certificates reaches HAProxy. Returns the PEM (caller owns), its
 * length in *<len>, or NULL with *<err> set. */
char *tls_ca_pem(const unsigned char *data, size_t len, size_t *out_len, char **err);

/* Generates a self-signed ECDSA P-256 certificate for <cn>, valid 10 years.
 * Returns key + certificate PEM (caller owns) or NULL. */
char *tls_selfsigned_pem(const char *cn);
#endif
