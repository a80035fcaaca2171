/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration keys: one table drives ConfigMap parsing, annotation parsing
 * and the documentation (doc/config/, checked by scripts/gen-docs.sh). */
#ifndef SRC_MODEL_KEYS_H
#define SRC_MODEL_KEYS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/keys-t.h"
#include "store/objects.h"

enum key_type {
    KEY_BOOL = 0,
    KEY_INT,
    KEY_DURATION,
    /* KEY_TYPE_COUNT */
};

#define KEY_S_ANNOT 0x1u /* accepted as an Ingress annotation */
#define KEY_S_CMAP 0x2u  /* accepted in the --configmap ConfigMap */

struct key_def {
    const char *name;
    enum key_type type;
    const char *def;        /* default, run through the same parser */
    unsigned scopes;        /* KEY_S_* */
    int (*parse)(const char *val, void *dst, char **err);
    size_t offset;          /* into struct key_values */
    const char *doc;        /* one paragraph for the reference */
    const char *example;    /* an example value */
};

/* Called for a value that is rejected or a key that is unknown. */
typedef void keys_issue_fn(void *arg, const char *field, const char *msg);

extern const struct key_def key_table[];
extern const size_t key_table_len;

void keys_defaults(struct key_values *kv);
/* Applies the keys of a ConfigMap's data. Bad values keep the previous value. */
void keys_apply_configmap(struct key_values *kv, const struct k8s_kv *data, size_t n,
                          keys_issue_fn *fn, void *arg);
/* Applies annotations under our prefixes. Bad values keep the previous value. */
void keys_apply_annotations(struct key_values *kv, const struct k8s_kv *ann, size_t n,
                            keys_issue_fn *fn, void *arg);
const char *key_type_name(enum key_type t);
#endif
