/* SPDX-License-Identifier: Apache-2.0 */
/* Generations on disk: every configuration is written to its own
 * <config-dir>/gen-N directory, and "current" points at the one HAProxy
 * runs, so that HAProxy restarted after a crash loads it.
 *
 * A generation's certificates are not in its own directory: its "certs" is
 * a symbolic link to <config-dir>/certs-M, which every generation with the
 * same certificates shares, M being the first of them. A generation gets a
 * directory of its own only when a certificate changes, with the others
 * hard-linked into it; otherwise writing it links one directory instead of
 * each of a thousand certificates again (6 ms of system time, and 2 ms more
 * to remove them with the generation).
 *
 * What the Runtime API changed (maps, certificates, the crt-list, servers)
 * is written into the running generation instead, each file replaced:
 * ctl_write_in_place(). A map that differs by a few entries is spliced from
 * the file it replaces. */
#include "ctl/ctl-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/fault.h"
#include "util/file.h"
#include "util/log.h"
#include "util/shared.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

char *ctl_gen_dir(const struct ctl *c, unsigned gen)
{
    return xasprintf("%s/gen-%u", c->opts->config_dir, gen);
}

#define CERTS_DIR "certs/"

static bool is_cert_file(const char *name)
{
    return str_has_prefix(name, CERTS_DIR);
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
 * those an earlier run left behind, then the certificate directories no
 * generation left links. */
void ctl_prune_generations(struct ctl *c)
{
    DIR *d = opendir(c->opts->config_dir);
    struct dirent *de;
    struct hmap used;

    if (!d)
        return;
    hmap_init(&used);
    while ((de = readdir(d))) {
        char target[64], *path;
        uint32_t n;
        ssize_t len;

        if (!str_has_prefix(de->d_name, "gen-") || str_to_u32(de->d_name + 4, 0, 1u << 30, &n))
            continue;
        if (n + CTL_KEEP_GENERATIONS <= c->gen) {
            path = ctl_gen_dir(c, n);
            file_rmtree(path); /* not what its "certs" links to */
            free(path);
            continue;
        }
        path = xasprintf("%s/%s/certs", c->opts->config_dir, de->d_name);
        len = readlink(path, target, sizeof(target) - 1);
        if (len > 3) {
            target[len] = '\0';
            hmap_put(&used, target + 3, (void *)1); /* "../certs-M" */
        }
        free(path);
    }
    rewinddir(d);
    while ((de = readdir(d))) {
        char *path;

        if (!str_has_prefix(de->d_name, "certs-") || hmap_get(&used, de->d_name))
            continue;
        path = xasprintf("%s/%s", c->opts->config_dir, de->d_name);
        file_rmtree(path);
        free(path);
    }
    closedir(d);
    hmap_deinit(&used);
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
    char *from;         /* the running generation's file, from which a map that
                         * differs by a few entries is spliced, or NULL */
};

#ifdef PORTICO_FAULTS
/* Test builds: map <f> spliced into <path> is byte for byte its rendering
 * from <m>; a difference is a bug that aborts. */
static void check_spliced_map(const struct render_file *f, const struct model *m,
                              const char *path)
{
    struct render_file whole = *f;
    size_t len = 0;
    char *text;

    whole.data = whole.own = NULL;
    render_file_data(&whole, m);
    if (file_read(path, 1u << 30, &text, &len))
        abort();
    if (len != whole.len || memcmp(text, whole.data, len)) {
        log_err("ctl", "%s spliced differs from its rendering", f->name);
        abort();
    }
    free(text);
    free(whole.own);
}
#else
#define check_spliced_map(f, m, path) ((void)0)
#endif

static int write_file_of_model(int fd, void *arg)
{
    const struct file_of_model *fm = arg;
    int in, ret;

    if (fm->from) {
        /* a new host among 10,000: its line made, the others copied */
        in = open(fm->from, O_RDONLY | O_CLOEXEC);
        ret = in == -1 ? -errno : render_file_splice(fm->f, fm->m, in, fd);
        if (in != -1)
            close(in);
        if (!ret)
            return 0;
        log_debug("ctl", "%s not spliced from %s: %s", fm->f->name, fm->from, strerror(-ret));
        if (ftruncate(fd, 0) == -1 || lseek(fd, 0, SEEK_SET) == -1)
            return -errno;
    }
    return render_file_write(fm->f, fm->m, fd);
}

/* The file of running generation <dir> that part <f> of the rendering can be
 * spliced from (render_file.splice), <running_hash> being the hash of that
 * part in it, or NULL. */
static char *splice_from(const struct render_file *f, const char *dir, uint64_t running_hash)
{
    if (f->map < 0 || !f->splice.from_hash || f->splice.from_hash != running_hash)
        return NULL;
    return xasprintf("%s/%s", dir, f->name);
}

/* Writes <f> of c->pending's rendering into <path>: a new file, or with
 * <replace> a temporary one renamed over <path>; a map spliced from <from>
 * (splice_from(), freed here) when it can. Returns 0 or a negative errno
 * with *<err> set. */
static int write_model_file(struct ctl *c, const char *path, const struct render_file *f,
                            char *from, bool replace, char **err)
{
    struct file_of_model fm = {f, c->pending.model, from};
    int ret = replace ? file_replace_with(path, f->mode, 0, write_file_of_model, &fm, err)
                      : file_create_with(path, f->mode, write_file_of_model, &fm, err);

    if (ret == 0 && from)
        check_spliced_map(f, c->pending.model, path);
    free(from);
    return ret;
}

/* Whether the certificate files of <r>, which c->pending describes, are
 * those of the running generation, which has as many. */
static bool same_certs(struct ctl *c, const struct rendered *r, const struct hmap *old)
{
    size_t part = 0, n = 0, n_old = 0;

    for (size_t i = 0; i < c->running.n; i++)
        n_old += is_cert_file(c->running.names[i]);
    for (size_t i = 0; i < r->n_files; i++) {
        const char *name = r->files[i].name;
        uint64_t hash = plan_is_part(name) ? c->pending.hashes[part++] : 0;
        uintptr_t k;

        if (!is_cert_file(name))
            continue;
        k = (uintptr_t)hmap_get(old, name);
        if (!k || c->running.hashes[k - 1] != hash)
            return false;
        n++;
    }
    return n == n_old;
}

/* Links <dir>/certs to the certificate directory of the running generation
 * <prev> when <same>, else to a new one for generation <gen>, whose name it
 * puts in *<certs>. Returns 0, or a negative errno with *<err> set. */
static int link_certs(struct ctl *c, const char *dir, const char *prev, unsigned gen, bool same,
                      char **certs, char **err)
{
    char target[64], *from = xasprintf("%s/certs", prev), *link = xasprintf("%s/certs", dir);
    ssize_t len = same ? readlink(from, target, sizeof(target) - 1) : -1;
    int ret = 0;

    *certs = NULL;
    if (len > 0) {
        target[len] = '\0';
    } else {
        /* a change, or the generations of an older Portico: a directory of
         * their own */
        snprintf(target, sizeof(target), "../certs-%u", gen);
        *certs = xasprintf("%s/certs-%u", c->opts->config_dir, gen);
        file_rmtree(*certs);
        ret = file_mkdirs(*certs, 0700, err);
    }
    if (ret == 0 && symlink(target, link) == -1) {
        ret = -errno;
        errmsg_set(err, "symlink %s to %s: %s", link, target, strerror(errno));
    }
    free(from);
    free(link);
    return ret;
}

/* Writes generation <gen>, rendered as <r>, which c->pending describes. A
 * map or certificate identical to the one of the running generation is
 * hard-linked from it instead of written again: with a thousand Secrets,
 * rewriting them all made every change slow. */
int ctl_write_generation(struct ctl *c, const struct rendered *r, unsigned gen, char **err)
{
    char *dir = ctl_gen_dir(c, gen), *prev = ctl_gen_dir(c, c->gen), *made = NULL, *certs = NULL;
    char *backends;
    struct hmap old; /* name -> index + 1 in c->running's parts */
    size_t part = 0;
    bool same;
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
    same = c->gen && same_certs(c, r, &old);
    /* the directory of haproxy.cfg's later backends, which HAProxy is
     * given even when it holds none */
    backends = xasprintf("%s/" RENDER_BACKENDS_DIR, dir);
    ret = file_mkdirs(backends, 0700, err);
    free(backends);
    if (ret == 0)
        ret = link_certs(c, dir, prev, gen, same, &certs, err);
    for (size_t i = 0; ret == 0 && i < r->n_files; i++) {
        const struct render_file *f = &r->files[i];
        bool cert = is_cert_file(f->name);
        uintptr_t k = (uintptr_t)hmap_get(&old, f->name);
        uint64_t hash = plan_is_part(f->name) ? c->pending.hashes[part++] : 0;
        char *path, *slash;

        if (cert && !certs)
            continue; /* the running generation's, linked whole */
        path = cert ? xasprintf("%s/%s", certs, f->name + strlen(CERTS_DIR))
                    : xasprintf("%s/%s", dir, f->name);
        slash = strrchr(path, '/');
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

            /* a file of haproxy.cfg not written again: the running one is its only copy */
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
            /* a fresh directory, not current yet: no temporary file; no
             * fsync: a generation is rebuilt from the objects after a crash */
            ret = write_model_file(c, path, f,
                                   k ? splice_from(f, prev, c->running.hashes[k - 1]) : NULL,
                                   false, err);
        }
        free(path);
    }
    free(made);
    free(certs);
    hmap_deinit(&old);
    free(prev);
    free(dir);
    return ret;
}

bool ctl_same_files(const struct ctl *c)
{
    const struct plan_gen *p = &c->pending, *g = &c->running;

    if (!c->gen || p->structure != g->structure || p->n != g->n)
        return false;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->names[i], g->names[i]))
            return false;
    }
    return true;
}

/* Replaces the file of <f> in directory <dir> with its content, spliced
 * from the file it replaces when it can (<running_hash>: that file's hash).
 * Returns 0 or a negative errno with *<err> set. */
static int replace_file(struct ctl *c, const char *dir, const struct render_file *f,
                        uint64_t running_hash, char **err)
{
    char *path = xasprintf("%s/%s", dir, f->name);
    int ret = write_model_file(c, path, f, splice_from(f, dir, running_hash), true, err);

    free(path);
    return ret;
}

int ctl_write_in_place(struct ctl *c, const struct rendered *r, char **err)
{
    char *dir = ctl_gen_dir(c, c->gen);
    size_t part = 0;
    int ret = 0;

    if (fault_hit("files")) {
        errmsg_set(err, "fault injection");
        free(dir);
        return -EIO;
    }
    for (size_t i = r->n_cfg; ret == 0 && i < r->n_files; i++) {
        const struct render_file *f = &r->files[i];

        if (plan_is_part(f->name)) {
            size_t k = part++;

            if (c->pending.hashes[k] == c->running.hashes[k])
                continue;
            ret = replace_file(c, dir, f, c->running.hashes[k], err);
            /* what the running generation holds now, should a later file fail */
            if (ret == 0)
                c->running.hashes[k] = c->pending.hashes[k];
        } else if (!strcmp(f->name, RENDER_CRT_LIST)) {
            if (!c->running.crt_list || strcmp(c->pending.crt_list, c->running.crt_list))
                ret = replace_file(c, dir, f, 0, err);
        }
    }
    /* last: a failure before leaves the running generation's haproxy.cfg,
     * which c->running.cfg describes and the next rendering splices */
    if (ret == 0)
        ret = ctl_replace_cfg_files(c, r, dir, err);
    free(dir);
    return ret;
}

int ctl_replace_cfg_files(struct ctl *c, const struct rendered *r, const char *dir, char **err)
{
    int ret = 0;

    for (size_t k = r->n_cfg; ret == 0 && k-- > 0;) {
        const struct render_file *f = &r->files[k];
        char *path;

        if (f->same)
            continue;
        path = xasprintf("%s/%s", dir, f->name);
        if (fault_hit("cfg-file")) {
            ret = -EIO;
            errmsg_set(err, "fault injection");
        } else if (!f->path) {
            ret = file_replace(path, f->data, f->len, f->mode, 0, err);
        } else if (rename(f->path, path) == -1) {
            ret = -errno;
            errmsg_set(err, "rename %s to %s: %s", f->path, path, strerror(errno));
        }
        free(path);
    }
    if (ret) {
        /* nothing may be spliced from those files now (render()) */
        shared_unref(c->running.cfg.servers);
        c->running.cfg.servers = NULL;
    }
    return ret;
}
