/* SPDX-License-Identifier: Apache-2.0 */
/* Field validators with the rules of the Kubernetes API server, applied again
 * because file mode (and a careless API server) may let anything through. */
#ifndef SRC_MODEL_VALIDATE_H
#define SRC_MODEL_VALIDATE_H
#include <stdbool.h>

#include "store/objects-t.h"

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 bytes. */
bool valid_dns_label(const char *s);
/* RFC 1123 subdomain: labels joined by '.', at most 253 bytes. */
bool valid_dns_subdomain(const char *s);
/* Ingress rule or TLS host: a subdomain, optionally behind "*.". */
bool valid_host(const char *s);
/* Service port name: lower-case letters, digits and '-', at most 63 bytes. */
bool valid_port_name(const char *s);
/* Checks a path for its type; returns NULL or a static reason. */
const char *validate_path(const char *path, enum k8s_path_type type);
/* True when HAProxy 2.6 takes an error page for status <code>. */
bool valid_errorfile_code(unsigned code);
/* The codes valid_errorfile_code() takes, as text for messages and docs. */
#define ERRORFILE_CODES "200 400 401 403 404 405 407 408 410 413 421 422 425 429 500 501 502 503 504"
/* The same but 200: the error statuses (custom-http-errors). */
#define ERRORFILE_CODES_ERRORS                                                                    \
    "400 401 403 404 405 407 408 410 413 421 422 425 429 500 501 502 503 504"
/* Largest error page: far below the 16 kB buffer HAProxy reads one into. */
#define ERRORFILE_MAX 8192
/* Checks a whole HTTP/1 response of <len> bytes for an errorfile, as HAProxy
 * will parse it; returns NULL or a static reason. Empty is valid: HAProxy
 * then closes the connection without an answer. */
const char *validate_errorfile(const char *resp, size_t len);
#endif
