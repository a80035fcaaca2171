/* SPDX-License-Identifier: Apache-2.0 */
/* YAML (and therefore JSON) documents -> jansson values, so that manifests
 * go through the same decoder as objects from the API server. */
#ifndef SRC_SOURCE_YAML_H
#define SRC_SOURCE_YAML_H
#include <jansson.h>
#include <stddef.h>

/* Called once per document, with its 0-based index. <doc> is borrowed (NULL
 * for an empty document). */
typedef void yaml_doc_fn(size_t index, json_t *doc, void *arg);

/* Parses every document of <data>. Documents before a syntax error are
 * delivered; on error returns -EINVAL and *<err> gives the document index,
 * line and reason. Alias expansion is bounded against "billion laughs". */
int yaml_parse_docs(const char *data, size_t len, yaml_doc_fn *fn, void *arg, char **err);
#endif
