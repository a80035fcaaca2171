/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_watch: a watch stream (kube/watch.c) as the API server's chunks
 * bring it, through the informer's own data callback: events framed by
 * newlines, split across chunks at any byte, Status objects and ERROR
 * events ending the stream. The first byte chooses the chunk sizes (the
 * framing's fault injection), the second the informer's kind and whether
 * it drops namespace "default"; the rest is the stream. */
#include "kube/watch.c"

#include "fuzz.h"
#include "util/banned.h"

static const struct informer_spec specs[] = {
    {K8S_INGRESS, "networking.k8s.io/v1", "Ingress", "/apis/networking.k8s.io/v1/ingresses",
     NULL, NULL, NULL, NULL, 0, false},
    {K8S_SERVICE, "v1", "Service", "/api/v1/services", NULL, NULL, NULL, NULL, 0, false},
    {K8S_ENDPOINT_SLICE, "discovery.k8s.io/v1", "EndpointSlice",
     "/apis/discovery.k8s.io/v1/endpointslices", NULL, NULL, NULL, NULL, 0, false},
    {K8S_SECRET, "v1", "Secret", "/api/v1/secrets", NULL, NULL, NULL, NULL, 0, true},
    {K8S_CONFIGMAP, "v1", "ConfigMap", "/api/v1/configmaps", NULL, NULL, NULL, NULL, 0, false},
    {K8S_INGRESS_CLASS, "networking.k8s.io/v1", "IngressClass",
     "/apis/networking.k8s.io/v1/ingressclasses", NULL, NULL, NULL, NULL, 0, false},
    {K8S_NAMESPACE, "v1", "Namespace", "/api/v1/namespaces", NULL, NULL, NULL, NULL, 0, true},
};

static char *const exclude[] = {"default", NULL};
static uv_loop_t loop;
static unsigned changes;

static void on_changed(struct informer *inf, const uint64_t *lookups, size_t n, void *arg)
{
    (void)inf;
    (void)arg;
    /* an object as it is and as it was: two hashes at most, never 0 */
    if (n > 2 || (!lookups && n))
        abort();
    for (size_t i = 0; i < n; i++) {
        if (!lookups[i])
            abort();
    }
    changes++;
}

static void on_synced(struct informer *inf, void *arg)
{
    on_changed(inf, NULL, 0, arg);
}

/* xorshift32: the chunk sizes of one input are always the same */
static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_log_all();
    uv_loop_init(&loop);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned chunking = fuzz_byte(&in), which = fuzz_byte(&in);
    uint32_t seed = chunking | 0x100u;
    struct informer inf;
    struct store store;

    memset(&inf, 0, sizeof(inf));
    store_init(&store);
    inf.loop = &loop;
    inf.store = &store;
    inf.spec = specs[(which & 0x7f) % (sizeof(specs) / sizeof(specs[0]))];
    if (which & 0x80)
        inf.spec.exclude = exclude;
    inf.changed = on_changed;
    inf.synced_fn = on_synced;
    inf.backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(&loop, &inf.timer);
    inf.timer.data = &inf;
    buf_init(&inf.body, EVENT_MAX);
    while (in.n) {
        /* 0: the stream in one chunk; 1-127: chunks of that size; 128 and
         * up: sizes from 1 to 64 at random */
        size_t len = chunking == 0 ? in.n
                     : chunking < 128 ? chunking
                                      : 1 + next_rand(&seed) % 64;

        if (len > in.n)
            len = in.n;
        if (on_watch_data((const char *)in.p, len, &inf))
            break; /* the stream ends: the request is cancelled */
        in.p += len;
        in.n -= len;
    }
    /* what the stream leaves behind, freed as on_watch_done() does */
    buf_free(&inf.body);
    free(inf.rv);
    free(inf.error);
    uv_close((uv_handle_t *)&inf.timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    store_deinit(&store);
    return 0;
}
