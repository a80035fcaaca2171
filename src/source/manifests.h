/* SPDX-License-Identifier: Apache-2.0 */
/* File mode: a directory of Kubernetes manifests feeds the store, and is
 * watched so that edits are applied within milliseconds. */
#ifndef SRC_SOURCE_MANIFESTS_H
#define SRC_SOURCE_MANIFESTS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"

#define MANIFEST_MAX_FILE (16u << 20)

struct manifests;

/* What a change of the files changed in the store: the EndpointSlices of
 * the Services of lookup hashes <svcs> (k8s_obj_lookup_hash()), the Secrets
 * of lookup hashes <secrets>, Ingresses, and objects of other kinds. */
struct manifests_change {
    const uint64_t *svcs;
    size_t n_svcs;
    const uint64_t *secrets;
    size_t n_secrets;
    bool ingresses;
    bool others;
};

typedef void manifests_changed_fn(const struct manifests_change *ch, void *arg);

/* Reads every manifest below <dir> into <store>, replacing what was there.
 * Bad files and objects are logged (file, document, field, reason) and
 * skipped. Returns the number of effective store changes, or a negative errno
 * when <dir> itself cannot be read (*err says why). */
long manifests_read(const char *dir, struct store *store, char **err);

/* Starts watching <dir> on <loop>; <fn> is called after each change that
 * altered the store. Returns NULL with *err set when <dir> is unusable. */
struct manifests *manifests_watch(uv_loop_t *loop, const char *dir, struct store *store,
                                  manifests_changed_fn *fn, void *arg, char **err);
/* Stops watching; handles are closed on the loop, memory freed afterwards. */
void manifests_close(struct manifests *m);
#endif
