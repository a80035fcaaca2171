/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_manifests: file mode (source/manifests.c, source/yaml.c), reading a
 * directory of manifests into the store twice, as the watcher does after an
 * edit: the second scan finds the files it read the first time in its cache
 * (an unchanged file is not parsed again, a broken one keeps the objects it
 * had, an object two files define belongs to the first). The input is up to
 * six parts separated by NUL bytes: a.yaml, b.yml and c.json of the first
 * scan, then of the second (a part left out is a file removed). */
#include "source/manifests.c"

#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/banned.h"

static const char *const names[] = {"a.yaml", "b.yml", "c.json"};
static char dir[256];

static void put_file(const char *name, const char *data)
{
    char path[300];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!data) {
        unlink(path);
        return;
    }
    if (file_replace(path, data, strlen(data), 0600, 0, NULL))
        abort();
}

/* libFuzzer ends with exit(): take the empty directory away then. */
static void remove_dir(void)
{
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    fuzz_log_all();
    if (snprintf(dir, sizeof(dir), "%s/fuzz-manifests.XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
            (int)sizeof(dir) ||
        !mkdtemp(dir))
        abort();
    atexit(remove_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *parts[6] = {NULL};
    struct store store;
    struct hmap cache;
    struct scan sc;
    char *err = NULL;

    for (size_t i = 0; i < 6; i++)
        parts[i] = fuzz_part(&in);
    store_init(&store);
    hmap_init(&cache);
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < 3; i++)
            put_file(names[i], parts[pass * 3 + i]);
        if (read_into(dir, &store, &sc, &cache, &err) < 0)
            abort(); /* the directory is there */
        scan_free(&sc);
    }
    for (size_t i = 0; i < 3; i++)
        put_file(names[i], NULL);
    cache_clear(&cache);
    hmap_deinit(&cache);
    store_deinit(&store);
    for (size_t i = 0; i < 6; i++)
        free(parts[i]);
    return 0;
}
