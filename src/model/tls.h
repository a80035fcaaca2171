/* SPDX-License-Identifier: Apache-2.0 */
/* Certificates: validation and re-encoding of TLS Secrets, host coverage,
 * and the self-signed fallback certificate. */
#ifndef SRC_MODEL_TLS_H
#define SRC_MODEL_TLS_H
#include <stdbool.h>
#include <stddef.h>

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
/* True when the certificate is valid for <host> (exact or "*.suffix"). */
bool tls_cert_covers(const struct tls_cert *c, const char *host);
/* Generates a self-signed ECDSA P-256 certificate for <cn>, valid 10 years.
 * Returns key + certificate PEM (caller owns) or NULL. */
char *tls_selfsigned_pem(const char *cn);
#endif
