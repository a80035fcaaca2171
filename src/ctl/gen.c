/* SPDX-License-Identifier: Apache-2.0 */
/* Generations on disk: every configuration is written to its own
 * <config-dir>/gen-N directory, and "current" points at the one HAProxy
 * runs, so that HAProxy restarted after a crash loads it. */
#include "ctl/ctl-int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/fault.h"
#include "util/file.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

static char *gen_dir(struct ctl *c, unsigned gen)
{
    return xasprintf("%s/gen-%u", c->opts->config_dir, gen);
}

char *ctl_gen_cfg(const struct ctl *c, unsigned gen)
{
    return xasprintf("%s/gen-%u/haproxy.cfg", c->opts->config_dir, gen);
}

/* Finds the highest generation left by an earlier run. */
unsigned ctl_scan_generations(const char *config_dir)
{
    DIR *d = opendir(config_dir);
    struct dirent *de;
    unsigned max = 0;

    if (!d)
        return 0;
    while ((de = readdir(d))) {
        uint32_t n;

        if (str_has_prefix(de->d_name, "gen-") && !str_to_u32(de->d_name + 4, 0, 1u << 30, &n) &&
            n > max)
            max = n;
    }
    closedir(d);
    return max;
}

/* Removes generations older than the last CTL_KEEP_GENERATIONS, including
 * those an earlier run left behind. */
void ctl_prune_generations(struct ctl *c)
{
    DIR *d = opendir(c->opts->config_dir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d))) {
        uint32_t n;
        char *dir;

        if (!str_has_prefix(de->d_name, "gen-") || str_to_u32(de->d_name + 4, 0, 1u << 30, &n) ||
            n + CTL_KEEP_GENERATIONS > c->gen)
            continue;
        dir = gen_dir(c, n);
        file_rmtree(dir);
        free(dir);
    }
    closedir(d);
}

/* Points <config-dir>/current at the pending generation, so a restarted
 * HAProxy loads it; where it pointed before is kept for ctl_revert_current().
 * Returns 0, or logs why not and returns a negative errno. */
int ctl_make_current(struct ctl *c)
{
    char *err = NULL, target[64];
    ssize_t n;
    int ret;

    n = readlink(c->current_link, c->prev_current, sizeof(c->prev_current) - 1);
    c->prev_current[n > 0 ? n : 0] = '\0';
    c->prev_gen = c->gen;
    snprintf(target, sizeof(target), "gen-%u", c->pending_gen);
    ret = file_symlink_replace(target, c->current_link, &err);
    if (ret) {
        log_err("ctl", "%s", err);
        free(err);
        return ret;
    }
    c->gen = c->pending_gen;
    return 0;
}

/* The pending generation did not load: "current" points where it did before
 * (or nowhere), so that a restarted HAProxy never tries a configuration that
 * never ran, and the next generation is made from the running one. */
void ctl_revert_current(struct ctl *c)
{
    char *err = NULL;

    c->gen = c->prev_gen;
    if (c->prev_current[0]) {
        if (file_symlink_replace(c->prev_current, c->current_link, &err)) {
            log_err("ctl", "%s", err);
            free(err);
        }
    } else if (unlink(c->current_link) && errno != ENOENT) {
        log_err("ctl", "cannot remove %s: %s", c->current_link, strerror(errno));
    }
}


struct file_of_model {
    const struct render_file *f;
    const struct model *m;
};

static int write_file_of_model(int fd, void *arg)
{
    const struct file_of_model *fm = arg;

    return render_file_write(fm->f, fm->m, fd);
}

/* Writes generation <gen>, rendered as <r>, which c->pending describes. A map or certificate identical to the one of the
 * running generation is hard-linked from it instead of written again: with a
 * thousand Secrets, rewriting them all made every change slow. */
int ctl_write_generation(struct ctl *c, const struct rendered *r, unsigned gen, char **err)
{
    char *dir = gen_dir(c, gen), *prev = gen_dir(c, c->gen), *made = NULL;
    struct hmap old; /* name -> index + 1 in c->running's parts */
    size_t part = 0;
    int ret;

    if (fault_hit("files")) {
        errmsg_set(err, "fault injection");
        free(dir);
        free(prev);
        return -EIO;
    }
    hmap_init(&old);
    for (size_t i = 0; c->gen && i < c->running.n; i++)
        hmap_put(&old, c->running.names[i], (void *)(uintptr_t)(i + 1));
    file_rmtree(dir);
    ret = file_mkdirs(dir, 0700, err);
    for (size_t i = 0; ret == 0 && i < r->n_files; i++) {
        const struct render_file *f = &r->files[i];
        char *path = xasprintf("%s/%s", dir, f->name);
        char *slash = strrchr(path, '/');
        uintptr_t k = (uintptr_t)hmap_get(&old, f->name);
        uint64_t hash = plan_is_part(f->name) ? c->pending.hashes[part++] : 0;

        *slash = '\0';
        if (!made || strcmp(made, path)) {
            ret = file_mkdirs(path, 0700, err);
            free(made);
            made = xstrdup(path);
        }
        *slash = '/';
        if (ret == 0 && (f->same || (k && c->running.hashes[k - 1] == hash))) {
            char *from = xasprintf("%s/%s", prev, f->name);
            bool linked = link(from, path) == 0;

            /* haproxy.cfg not rendered again: the running one is its only copy */
            if (!linked && f->same) {
                ret = -errno;
                errmsg_set(err, "link %s to %s: %s", from, path, strerror(-ret));
            }
            free(from);
            if (linked || ret) {
                free(path);
                continue;
            }
        }
        if (ret == 0 && f->path) {
            /* the configuration, written while it was rendered */
            if (rename(f->path, path) == -1) {
                ret = -errno;
                errmsg_set(err, "rename %s to %s: %s", f->path, path, strerror(errno));
            }
        } else if (ret == 0) {
            struct file_of_model fm = {f, c->pending.model};

            /* a fresh directory, not current yet: no temporary file; no
             * fsync: a generation is rebuilt from the objects after a crash */
            ret = file_create_with(path, f->mode, write_file_of_model, &fm, err);
        }
        free(path);
    }
    free(made);
    hmap_deinit(&old);
    free(prev);
    free(dir);
    return ret;
}

