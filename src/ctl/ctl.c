/* SPDX-License-Identifier: Apache-2.0 */
/* The controller loop. A store change only marks the controller dirty and
 * arms a short timer; one pass then builds the model, renders it and, when
 * the rendering differs from what HAProxy runs, validates it with haproxy -c
 * and reloads. Passes are serialised: a change that arrives meanwhile is
 * handled by the next pass. */
#include "ctl/ctl.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ctl/httpd.h"
#include "haproxy/plan.h"
#include "haproxy/proc.h"
#include "haproxy/render.h"
#include "haproxy/runtime.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/fetch.h"
#include "kube/watch.h"
#include "model/model.h"
#include "model/tls.h"
#include "source/manifests.h"
#include "store/objects.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/file.h"
#include "util/hmap.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define CTL_DEBOUNCE_MS 1
#define CTL_STOP_GRACE_MS 10000
#define CTL_KEEP_GENERATIONS 2

struct ctl {
    uv_loop_t *loop;
    const struct opts *opts;
    struct model_opts mopts;
    struct render_opts ropts;
    struct store store;
    struct manifests *src;   /* file mode */
    struct kube_config kc;   /* cluster mode */
    struct kube_client *kube;
    struct informer **informers;
    struct informer_spec **specs;
    size_t n_informers, n_synced;
    struct hmap fetching;    /* "ns/name" -> struct kube_fetch: Secret data being read again */
    struct hmap fetch_retry; /* "ns/name" -> loop time before which it is not waited for */
    uv_timer_t token_timer;  /* re-reads a rotating service account token */
    bool synced;             /* every source has delivered its first complete state */
    struct hap hap;
    struct httpd http;
    uv_timer_t debounce;
    uv_signal_t sigterm, sigint;
    char *fallback_pem;
    char *current_link;      /* <config-dir>/current */
    char *next_cfg;          /* <config-dir>/haproxy.cfg.next: the rendering's, until
                              * it moves into its generation (render_opts.cfg_path) */
    struct hmap issues_seen; /* issue text -> 1, of the last generation */
    bool busy;               /* a validation or reload is in flight */
    bool dirty;              /* changes arrived since the pass started */
    bool ready;              /* HAProxy runs a complete configuration */
    bool stopping;
    unsigned gen;            /* last generation directory number */
    unsigned pending_gen;
    unsigned prev_gen;       /* gen and "current" before the pending generation */
    char prev_current[64];
    uint64_t rejected_hash;  /* last rendering HAProxy refused */
    struct plan_gen running; /* what HAProxy runs */
    struct plan_gen pending; /* the generation being validated or applied */
    const char *reload_reason; /* why the pending generation reloads (static or in
                                * its model's arena) */
    uint64_t reload_start;   /* uv_hrtime() when it was validated or loaded */
    char *admin_sock;
    unsigned validations;    /* for PORTICO_FAULT_AT=render:N */
    unsigned fault_at;
    uint64_t m_reloads_ok, m_reloads_failed, m_rejected, m_passes, m_runtime_ok, m_runtime_failed;
    uint64_t m_secret_fetches;
    size_t last_issues;
    int exit_code;
};

static void schedule(struct ctl *c);

/* ====== Generations on disk ====== */

static char *gen_dir(struct ctl *c, unsigned gen)
{
    return xasprintf("%s/gen-%u", c->opts->config_dir, gen);
}

/* Finds the highest generation left by an earlier run. */
static unsigned scan_generations(const char *config_dir)
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
static void prune_generations(struct ctl *c)
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
 * HAProxy loads it; where it pointed before is kept for revert_current().
 * Returns 0, or logs why not and returns a negative errno. */
static int make_current(struct ctl *c)
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
static void revert_current(struct ctl *c)
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
static int write_generation(struct ctl *c, const struct rendered *r, unsigned gen, char **err)
{
    char *dir = gen_dir(c, gen), *prev = gen_dir(c, c->gen), *made = NULL;
    struct hmap old; /* name -> index + 1 in c->running's parts */
    size_t part = 0;
    int ret;

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
        if (ret == 0 && k && c->running.hashes[k - 1] == hash) {
            char *from = xasprintf("%s/%s", prev, f->name);
            bool linked = link(from, path) == 0;

            free(from);
            if (linked) {
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

/* ====== Passes ====== */

static void log_issues(struct ctl *c, const struct model *m)
{
    struct hmap now;

    hmap_init(&now);
    for (size_t i = 0; i < m->n_issues; i++) {
        const struct model_issue *is = &m->issues[i];
        char key[2048];

        snprintf(key, sizeof(key), "%s|%s|%s", is->obj, is->field, is->msg);
        hmap_put(&now, key, (void *)1);
        /* each problem is logged once, when it appears */
        if (!hmap_get(&c->issues_seen, key) && log_on(LOG_WARN))
            log_emit(LOG_WARN, "model", is->obj, "%s%s%s%s%s", is->origin,
                     *is->origin ? ": " : "", is->field, *is->field ? ": " : "", is->msg);
    }
    hmap_deinit(&c->issues_seen);
    c->issues_seen = now;
    c->last_issues = m->n_issues;
}

static void pass_done(struct ctl *c)
{
    c->busy = false;
    /* what the build and the rendering held until now */
    xtrim();
    if (c->dirty && !c->stopping) {
        c->dirty = false;
        schedule(c);
    }
}

/* What HAProxy printed since the last reload, for that reload's log line. */
static const char *said_summary(struct ctl *c, char *buf, size_t size)
{
    struct hap_output o;
    int n;

    hap_output_take(&c->hap, &o);
    n = snprintf(buf, size, "haproxy printed %llu routine lines, %llu warnings, %llu alerts",
                 (unsigned long long)o.routine, (unsigned long long)o.warnings,
                 (unsigned long long)o.alerts);
    if (o.unshown && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " (%llu of them not shown)",
                 (unsigned long long)o.unshown);
    return buf;
}

static void on_loaded(struct hap *h, bool ok, const char *msg, void *arg)
{
    struct ctl *c = arg;
    double ms = (double)(uv_hrtime() - c->reload_start) / 1e6;
    char said[200];

    (void)h;
    if (c->stopping)
        return;
    if (!ok) {
        c->m_reloads_failed++;
        log_err("haproxy", "configuration generation %u not loaded (%s): %s; %s", c->pending_gen,
                c->reload_reason, msg, said_summary(c, said, sizeof(said)));
        revert_current(c);
        if (c->hap.running)
            c->rejected_hash = c->pending.hash; /* refused: not again until objects change */
        else
            c->dirty = true; /* exited meanwhile: again, once the last good one serves */
        pass_done(c);
        return;
    }
    if (c->ready) {
        c->m_reloads_ok++;
        log_info("haproxy", "haproxy reloaded (generation %u): %s; %.0f ms; %s", c->pending_gen,
                 c->reload_reason, ms, said_summary(c, said, sizeof(said)));
    } else {
        log_info("haproxy", "haproxy serves generation %u; ready; %.0f ms; %s", c->pending_gen, ms,
                 said_summary(c, said, sizeof(said)));
    }
    plan_gen_move(&c->running, &c->pending);
    c->ready = true;
    prune_generations(c);
    pass_done(c);
}

/* ====== Runtime API path ====== */

static void check_and_load(struct ctl *c, const char *reason);

static void on_runtime_done(bool ok, const char *msg, void *arg)
{
    struct ctl *c = arg;

    if (c->stopping)
        return;
    if (!ok) {
        c->m_runtime_failed++;
        log_warn("haproxy", "runtime update failed: %s; reloading instead", msg);
        check_and_load(c, "a runtime update failed");
        return;
    }
    if (make_current(c)) {
        /* HAProxy runs the new maps but a restart would not: reload to converge */
        check_and_load(c, "the generation could not be made current");
        return;
    }
    c->m_runtime_ok++;
    plan_gen_move(&c->running, &c->pending);
    log_info("haproxy", "routes, certificates or endpoints updated through the runtime API, no reload "
                        "(generation %u)",
             c->gen);
    prune_generations(c);
    pass_done(c);
}

static void on_checked(bool ok, const char *output, void *arg)
{
    struct ctl *c = arg;

    if (c->stopping)
        return;
    if (!ok) {
        const char *line = output;
        unsigned shown = 0, more = 0;

        c->m_rejected++;
        c->rejected_hash = c->pending.hash;
        log_err("haproxy", "haproxy -c refused generation %u (%s); the running configuration stays",
                c->pending_gen, c->reload_reason);
        /* HAProxy's own words, one log line each, the first ones */
        while (*line) {
            const char *eol = strchr(line, '\n');
            int len = eol ? (int)(eol - line) : (int)strlen(line);

            if (len > 0 && shown++ < HAP_OUTPUT_SHOWN)
                log_err("haproxy", "%.*s", len, line);
            else if (len > 0)
                more++;
            line += len + (eol ? 1 : 0);
        }
        if (more)
            log_err("haproxy", "haproxy -c printed %u more lines", more);
        pass_done(c);
        return;
    }
    log_debug("ctl", "haproxy -c accepted generation %u", c->pending_gen);
    if (make_current(c)) {
        pass_done(c);
        return;
    }
    if (c->hap.running)
        hap_reload(&c->hap, on_loaded, c);
    else
        hap_start(&c->hap, on_loaded, c);
}

/* ====== Secret data ======
 *
 * In cluster mode Secrets are kept without their certificate and key: before
 * each build, those Ingresses name are parsed into the certificate cache and
 * the data of all dropped (drop_secret_data()); builds use the cache. When a
 * build needs a Secret the cache does not have, its data is read again by GET
 * and the build waits for it (a new Ingress naming a Secret that was there
 * before). */

#define FETCH_RETRY_MS 30000

static void on_secret_fetched(struct kube_fetch *f, struct k8s_obj *obj, long http,
                              const char *msg, void *arg)
{
    struct ctl *c = arg;
    const char *key;
    void *v;

    for (size_t i = 0; hmap_next(&c->fetching, &i, &key, &v);) {
        if (v != f)
            continue;
        if (obj && obj->kind == K8S_SECRET) {
            log_debug("kube", "Secret %s read again", key);
            store_put(&c->store, obj);
        } else {
            log_warn("kube", "cannot read Secret %s (HTTP %ld: %s); its Ingresses get the default "
                             "certificate until it changes or 30 s pass",
                     key, http, msg ? msg : "not a Secret");
            hmap_put(&c->fetch_retry, key, (void *)(uintptr_t)(uv_now(c->loop) + FETCH_RETRY_MS));
            k8s_obj_free(obj);
        }
        hmap_del(&c->fetching, key);
        break;
    }
    schedule(c);
}

/* Starts reading the data the build <m> missed; true when the pass must
 * wait for it. A Secret whose read failed recently is not waited for. */
static bool fetch_wanted_secrets(struct ctl *c, const struct model *m)
{
    bool wait = false;

    for (size_t i = 0; i < m->n_wanted; i++) {
        const char *key = m->wanted[i], *slash = strchr(key, '/');
        uintptr_t retry = (uintptr_t)hmap_get(&c->fetch_retry, key);
        char *path;

        if (!slash || (retry && uv_now(c->loop) < retry))
            continue;
        wait = true;
        if (hmap_get(&c->fetching, key))
            continue;
        path = xasprintf("/api/v1/namespaces/%.*s/secrets/%s", (int)(slash - key), key,
                         slash + 1);
        hmap_put(&c->fetching, key, kube_fetch(c->kube, path, on_secret_fetched, c));
        c->m_secret_fetches++;
        free(path);
    }
    return wait;
}

/* Before a build, parses the Secrets that Ingresses or flags name into the
 * certificate cache and drops the data of every Secret: the build finds the
 * parsed form there, and the others are read again if a later build names
 * them. One at a time, so that a certificate is never held twice for long
 * (its data beside its parsed form was 0.7 MB at 1,000 Secrets). */
static void drop_secret_data(struct ctl *c)
{
    const struct k8s_obj **secrets;
    size_t n = store_list_unsorted(&c->store, K8S_SECRET, &secrets), dropped = 0, i = 0;
    struct hmap refs;

    /* most passes find no data: they need not look at the Ingresses */
    while (i < n && !k8s_secret_holds_data((const struct k8s_secret *)secrets[i]))
        i++;
    if (i == n) {
        free(secrets);
        return;
    }
    hmap_init(&refs);
    model_secret_refs(&c->store, &c->mopts, &refs);
    for (i = 0; i < n; i++) {
        const struct k8s_secret *s = (const struct k8s_secret *)secrets[i];

        if (hmap_get(&refs, s->obj.meta.key))
            model_parse_secret(&c->mopts, s);
        dropped += store_drop_data(&c->store, s);
    }
    free(secrets);
    hmap_deinit(&refs);
    if (dropped)
        log_debug("ctl", "dropped the data of %zu Secrets", dropped);
}

static void run_pass(struct ctl *c)
{
    uint64_t t0, t1, t2;
    struct model *m;
    struct rendered r;
    struct plan plan;
    char *err = NULL;
    bool unchanged;
    int ret;

    c->busy = true;
    c->dirty = false;
    c->m_passes++;
    c->ropts.fault = false;
    t0 = uv_hrtime();
    if (c->kube)
        drop_secret_data(c);
    m = model_build(&c->store, &c->mopts);
    t1 = uv_hrtime();
    if (c->kube && fetch_wanted_secrets(c, m)) {
        /* built again once the data is back */
        model_unref(m);
        pass_done(c);
        return;
    }
    /* the builder's tables are gone: their pages go back before the
     * rendering takes its own */
    xtrim();
    log_issues(c, m);
    ret = render(m, &c->ropts, &r, &err);
    t2 = uv_hrtime();
    if (ret) {
        log_err("render", "%s", err);
        free(err);
        model_unref(m);
        pass_done(c);
        return;
    }
    if (r.n_dropped)
        log_warn("render", "%zu entries refused by the escaping functions were left out",
                 r.n_dropped);
    unchanged = (c->ready || c->hap.running) && r.hash == c->running.hash;
    if (unchanged || r.hash == c->rejected_hash) {
        if (unchanged)
            log_debug("ctl", "configuration unchanged; nothing to do");
        rendered_free(&r);
        model_unref(m);
        pass_done(c);
        return;
    }
    c->validations++;
    if (c->fault_at && c->validations == c->fault_at) {
        /* fault injection: the same rendering with an invalid line */
        rendered_free(&r);
        c->ropts.fault = true;
        render(m, &c->ropts, &r, NULL);
    }
    c->pending_gen = c->gen + 1;
    plan_gen_set(&c->pending, m, &r);
    model_unref(m);
    ret = write_generation(c, &r, c->pending_gen, &err);
    log_debug("ctl", "generation %u: model %.1f ms, render %.1f ms, files %.1f ms",
              c->pending_gen, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
              (double)(uv_hrtime() - t2) / 1e6);
    if (ret) {
        rendered_free(&r);
        log_err("ctl", "cannot write generation %u: %s", c->pending_gen, err);
        free(err);
        pass_done(c);
        return;
    }
    plan_make(&c->running, &c->pending, c->ready && c->hap.serving, &r, &plan);
    if (c->ropts.fault)
        plan.reload = "fault injection";
    if (!plan.reload) {
        log_debug("ctl", "%zu runtime API updates (maps, certificates, servers)", plan.n);
        rt_apply(c->loop, c->admin_sock, plan.u, plan.n, on_runtime_done, c);
        plan_free(&plan);
        rendered_free(&r);
        return;
    }
    rendered_free(&r);
    log_debug("ctl", "generation %u written; reloading: %s", c->pending_gen, plan.reload);
    check_and_load(c, plan.reload);
    plan_free(&plan);
}

static void on_first_start(struct hap *h, bool ok, const char *msg, void *arg);

static void on_start_checked(bool ok, const char *output, void *arg)
{
    struct ctl *c = arg;

    if (c->stopping)
        return;
    if (ok) {
        /* not the configuration (a port in use...): keep trying it */
        log_err("haproxy", "configuration generation %u not loaded: haproxy exited at start",
                c->pending_gen);
        c->m_reloads_failed++;
        hap_schedule_restart(&c->hap, on_first_start, c);
        pass_done(c);
        return;
    }
    /* as if haproxy -c had refused the generation first */
    revert_current(c);
    on_checked(false, output, c);
}

/* HAProxy did not start on a generation no haproxy -c had checked: ask it
 * whether the configuration is at fault (then it is refused like any other)
 * or something else is (then HAProxy is started again with backoff). */
static void on_first_start(struct hap *h, bool ok, const char *msg, void *arg)
{
    struct ctl *c = arg;
    char *cfg;

    if (ok || c->stopping) {
        on_loaded(h, ok, msg, arg);
        return;
    }
    hap_cancel_restart(&c->hap);
    log_warn("haproxy", "haproxy did not start on generation %u (%s); checking it", c->pending_gen,
             msg);
    cfg = xasprintf("%s/gen-%u/haproxy.cfg", c->opts->config_dir, c->pending_gen);
    hap_check(c->loop, c->opts->haproxy_bin, cfg, on_start_checked, c);
    free(cfg);
}

/* Validates the pending generation with haproxy -c, then loads it; <reason>
 * (static, or in the pending model's arena) says why. The first
 * start skips the check: nothing serves yet, and HAProxy checks the
 * configuration as it starts. Checking first would parse every certificate
 * twice, 0.8 s more with 1,000 of them before the first request is served. */
static void check_and_load(struct ctl *c, const char *reason)
{
    char *cfg;

    c->reload_reason = reason;
    c->reload_start = uv_hrtime();
    if (!c->hap.running && !c->ready && !hap_restart_pending(&c->hap)) {
        if (make_current(c)) {
            pass_done(c);
            return;
        }
        hap_start(&c->hap, on_first_start, c);
        return;
    }
    cfg = xasprintf("%s/gen-%u/haproxy.cfg", c->opts->config_dir, c->pending_gen);
    hap_check(c->loop, c->opts->haproxy_bin, cfg, on_checked, c);
    free(cfg);
}

static void on_debounce(uv_timer_t *t)
{
    struct ctl *c = t->data;

    /* never render from a partial cache: an empty store is not an empty cluster */
    if (c->stopping || !c->synced)
        return;
    if (c->busy) {
        c->dirty = true;
        return;
    }
    if (c->hap.op != HAP_OP_NONE || hap_restart_pending(&c->hap)) {
        /* HAProxy is (re)starting from the last good configuration: let it */
        uv_timer_start(&c->debounce, on_debounce, 20, 0);
        return;
    }
    run_pass(c);
}

static void schedule(struct ctl *c)
{
    if (c->busy) {
        c->dirty = true;
        return;
    }
    if (!uv_is_active((uv_handle_t *)&c->debounce))
        uv_timer_start(&c->debounce, on_debounce, CTL_DEBOUNCE_MS, 0);
}

static void on_source_changed(void *arg)
{
    schedule(arg);
}

/* ====== Cluster mode ====== */

static void on_informer_changed(struct informer *inf, void *arg)
{
    (void)inf;
    schedule(arg);
}

static void on_informer_synced(struct informer *inf, void *arg)
{
    struct ctl *c = arg;

    log_info("kube", "%s: initial list complete", informer_name(inf));
    if (++c->n_synced < c->n_informers)
        return;
    log_info("kube", "every resource listed: %zu ingresses, %zu services, %zu endpointslices",
             store_count(&c->store, K8S_INGRESS), store_count(&c->store, K8S_SERVICE),
             store_count(&c->store, K8S_ENDPOINT_SLICE));
    c->synced = true;
    schedule(c);
}

static void on_token_timer(uv_timer_t *t)
{
    struct ctl *c = t->data;
    char *err = NULL;

    /* bound service account tokens rotate about hourly */
    if (kube_config_reload_token(&c->kc, &err)) {
        log_warn("kube", "%s; keeping the previous token", err);
        free(err);
    }
}

/* What Portico lists and watches; namespaced resources can be limited to
 * the whitelisted namespaces. */
static const struct {
    enum k8s_kind kind;
    const char *api_version;
    const char *kind_name;
    const char *prefix;   /* "/api/v1" or "/apis/<group>/<version>" */
    const char *resource; /* plural */
    bool namespaced;
    const char *selector; /* fieldSelector, URL-encoded */
} watched[] = {
    {K8S_INGRESS_CLASS, "networking.k8s.io/v1", "IngressClass", "/apis/networking.k8s.io/v1",
     "ingressclasses", false, NULL},
    {K8S_INGRESS, "networking.k8s.io/v1", "Ingress", "/apis/networking.k8s.io/v1", "ingresses",
     true, NULL},
    {K8S_SERVICE, "v1", "Service", "/api/v1", "services", true, NULL},
    {K8S_ENDPOINT_SLICE, "discovery.k8s.io/v1", "EndpointSlice", "/apis/discovery.k8s.io/v1",
     "endpointslices", true, NULL},
    /* only TLS Secrets: the others are none of our business */
    {K8S_SECRET, "v1", "Secret", "/api/v1", "secrets", true, "type%3Dkubernetes.io%2Ftls"},
};

static void add_informer(struct ctl *c, const struct informer_spec *spec)
{
    struct informer_spec *own = xcalloc(1, sizeof(*own));

    /* the informer borrows the spec's strings: keep them with the controller */
    *own = *spec;
    own->path = xstrdup(spec->path);
    own->selector = spec->selector ? xstrdup(spec->selector) : NULL;
    own->ns = spec->ns ? xstrdup(spec->ns) : NULL;
    c->specs = xrealloc(c->specs, (c->n_informers + 1) * sizeof(*c->specs));
    c->specs[c->n_informers] = own;
    c->informers = xrealloc(c->informers, (c->n_informers + 1) * sizeof(*c->informers));
    c->informers[c->n_informers++] = informer_start(c->loop, c->kube, &c->store, own,
                                                    on_informer_changed, on_informer_synced, c);
}

/* PORTICO_WATCH_TIMEOUT=SECONDS: every watch's timeout (normally 300 to 600 s
 * at random), so that tests see a stalled stream detected in seconds. */
static unsigned watch_timeout_from_env(void)
{
    const char *v = getenv("PORTICO_WATCH_TIMEOUT");
    uint32_t s;

    if (!v)
        return 0;
    if (str_to_u32(v, 1, 3600, &s)) {
        log_warn("kube", "PORTICO_WATCH_TIMEOUT=%s: want seconds from 1 to 3600; ignored", v);
        return 0;
    }
    return s;
}

static int start_cluster(struct ctl *c, const struct opts *o)
{
    unsigned watch_s = watch_timeout_from_env();
    char *err = NULL;

    if (kube_config_load(&c->kc, o->kubeconfig, o->context, &err)) {
        log_err("kube", "%s", err);
        free(err);
        return -EINVAL;
    }
    log_info("kube", "cluster mode: API server %s (%s)", c->kc.server, c->kc.source);
    c->kube = kube_client_new(c->loop, &c->kc, &err);
    if (!c->kube) {
        log_err("kube", "%s", err);
        free(err);
        return -EINVAL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(watched); i++) {
        struct informer_spec spec = {watched[i].kind, watched[i].api_version,
                                     watched[i].kind_name, NULL, watched[i].selector, NULL,
                                     o->ns_blacklist.v, watch_s};
        char *path;

        if (!watched[i].namespaced || !o->ns_whitelist.n) {
            path = xasprintf("%s/%s", watched[i].prefix, watched[i].resource);
            spec.path = path;
            add_informer(c, &spec);
            free(path);
            continue;
        }
        for (size_t n = 0; n < o->ns_whitelist.n; n++) {
            path = xasprintf("%s/namespaces/%s/%s", watched[i].prefix, o->ns_whitelist.v[n],
                             watched[i].resource);
            spec.path = path;
            spec.ns = o->ns_whitelist.v[n];
            add_informer(c, &spec);
            free(path);
        }
    }
    if (o->configmap) {
        const char *slash = strchr(o->configmap, '/');
        struct informer_spec cm = {K8S_CONFIGMAP, "v1", "ConfigMap", NULL, NULL, NULL, NULL,
                                   watch_s};
        char *ns = xstrndup(o->configmap, (size_t)(slash - o->configmap));

        cm.path = xasprintf("/api/v1/namespaces/%s/configmaps", ns);
        cm.selector = xasprintf("metadata.name%%3D%s", slash + 1);
        cm.ns = ns;
        add_informer(c, &cm);
        free((char *)cm.path);
        free((char *)cm.selector);
        free(ns);
    }
    if (c->kc.token_file) {
        uv_timer_init(c->loop, &c->token_timer);
        c->token_timer.data = c;
        uv_timer_start(&c->token_timer, on_token_timer, 60000, 60000);
    }
    return 0;
}

static void stop_cluster(struct ctl *c)
{
    void *v;

    for (size_t i = 0; hmap_next(&c->fetching, &i, NULL, &v);)
        kube_fetch_cancel(v);
    hmap_deinit(&c->fetching);
    hmap_deinit(&c->fetch_retry);
    for (size_t i = 0; i < c->n_informers; i++) {
        informer_stop(c->informers[i]);
        free((char *)c->specs[i]->path);
        free((char *)c->specs[i]->selector);
        free((char *)c->specs[i]->ns);
        free(c->specs[i]);
    }
    FREE_NULL(c->informers);
    FREE_NULL(c->specs);
    c->n_informers = 0;
    kube_client_free(c->kube);
    c->kube = NULL;
}

static void on_haproxy_restarted(struct hap *h, void *arg)
{
    struct ctl *c = arg;

    (void)h;
    /* HAProxy restarts from the last good configuration: current/ */
    log_info("ctl", "haproxy will restart from generation %u", c->gen);
}

/* ====== HTTP endpoint ====== */

static int on_http(const char *path, struct buf *body, const char **ctype, void *arg)
{
    struct ctl *c = arg;

    if (!strcmp(path, "/healthz")) {
        buf_adds(body, "ok\n");
        return 200;
    }
    if (!strcmp(path, "/readyz")) {
        bool ready = c->ready && c->hap.serving && !c->stopping;

        buf_adds(body, ready ? "ready\n" : "not ready\n");
        return ready ? 200 : 503;
    }
    if (!strcmp(path, "/metrics")) {
        *ctype = "text/plain; version=0.0.4";
        buf_addf(body,
                 "# HELP portico_ready Whether HAProxy runs a complete configuration.\n"
                 "# TYPE portico_ready gauge\nportico_ready %d\n"
                 "# HELP portico_reloads_total HAProxy reloads by result.\n"
                 "# TYPE portico_reloads_total counter\n"
                 "portico_reloads_total{result=\"success\"} %llu\n"
                 "portico_reloads_total{result=\"failure\"} %llu\n"
                 "# HELP portico_runtime_updates_total Map and certificate updates without reload.\n"
                 "# TYPE portico_runtime_updates_total counter\n"
                 "portico_runtime_updates_total{result=\"success\"} %llu\n"
                 "portico_runtime_updates_total{result=\"failure\"} %llu\n"
                 "# HELP portico_config_rejected_total Configurations haproxy -c refused.\n"
                 "# TYPE portico_config_rejected_total counter\n"
                 "portico_config_rejected_total %llu\n"
                 "# HELP portico_haproxy_restarts_total Unexpected HAProxy exits.\n"
                 "# TYPE portico_haproxy_restarts_total counter\n"
                 "portico_haproxy_restarts_total %llu\n"
                 "# HELP portico_sync_passes_total Model builds.\n"
                 "# TYPE portico_sync_passes_total counter\n"
                 "portico_sync_passes_total %llu\n"
                 "# HELP portico_object_issues Problems found on objects in the last pass.\n"
                 "# TYPE portico_object_issues gauge\nportico_object_issues %zu\n"
                 "# HELP portico_store_objects Objects in the store by kind.\n"
                 "# TYPE portico_store_objects gauge\n",
                 c->ready, (unsigned long long)c->m_reloads_ok,
                 (unsigned long long)c->m_reloads_failed, (unsigned long long)c->m_runtime_ok,
                 (unsigned long long)c->m_runtime_failed, (unsigned long long)c->m_rejected,
                 (unsigned long long)c->hap.restarts, (unsigned long long)c->m_passes,
                 c->last_issues);
        for (int k = 0; k < K8S_KIND_COUNT; k++)
            buf_addf(body, "portico_store_objects{kind=\"%s\"} %zu\n",
                     k8s_kind_name((enum k8s_kind)k), store_count(&c->store, (enum k8s_kind)k));
        buf_addf(body,
                 "# HELP portico_secret_fetches_total Secrets read again by GET: their data had "
                 "been dropped while nothing named them.\n"
                 "# TYPE portico_secret_fetches_total counter\n"
                 "portico_secret_fetches_total %llu\n",
                 (unsigned long long)c->m_secret_fetches);
        return 200;
    }
    buf_adds(body, "not found\n");
    return 404;
}

/* ====== Start and stop ====== */

static void on_last_good(struct hap *h, bool ok, const char *msg, void *arg)
{
    struct ctl *c = arg;

    (void)h;
    if (ok)
        log_info("haproxy", "serving the last good configuration (generation %u) until the "
                            "API server has been listed; not ready yet",
                 c->gen);
    else
        log_warn("haproxy", "the last good configuration did not start: %s", msg);
}

/* Cluster mode: until every resource is listed, HAProxy serves the last
 * configuration it accepted, from disk; the data plane does not wait for the
 * control plane. /readyz stays 503 until a complete configuration runs. */
static void serve_last_good(struct ctl *c)
{
    char *cfg = xasprintf("%s/haproxy.cfg", c->current_link);
    bool exists = access(cfg, R_OK) == 0;

    free(cfg);
    if (exists && c->gen)
        hap_start(&c->hap, on_last_good, c);
}

static void on_stopped(struct hap *h, bool ok, const char *msg, void *arg)
{
    struct ctl *c = arg;

    (void)h;
    (void)ok;
    (void)msg;
    uv_stop(c->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct ctl *c = s->data;

    if (c->stopping)
        return;
    log_info("ctl", "received %s; stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    c->stopping = true;
    manifests_close(c->src);
    c->src = NULL;
    stop_cluster(c);
    uv_timer_stop(&c->debounce);
    hap_stop(&c->hap, CTL_STOP_GRACE_MS, on_stopped, c);
}

/* True when this host can listen on <addr> over IPv6: many containers and CI
 * machines have IPv6 disabled, where a [::] bind line would stop HAProxy. */
static bool ipv6_usable(const char *addr)
{
    struct sockaddr_in6 sa;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd == -1)
        return false;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    ok = inet_pton(AF_INET6, addr, &sa.sin6_addr) == 1 &&
         bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* <probe>: check the host can listen on IPv6 (not when only rendering). */
static void setup_opts(struct ctl *c, const struct opts *o, bool probe)
{
    const char *fault = getenv("PORTICO_FAULT_AT");
    uint32_t n;

    c->mopts.ingress_class = o->ingress_class;
    c->mopts.controller_name = o->controller_name;
    c->mopts.watch_without_class = o->watch_without_class;
    c->mopts.default_backend_svc = o->default_backend_service;
    c->mopts.default_ssl_cert = o->default_ssl_certificate;
    c->mopts.configmap = o->configmap;
    c->mopts.fallback_cert_pem = c->fallback_pem;
    c->ropts.runtime_dir = o->runtime_dir;
    c->ropts.ipv4_addr = o->ipv4_addr;
    c->ropts.ipv6_addr = o->disable_ipv6 ? NULL : o->ipv6_addr;
    if (c->ropts.ipv6_addr && probe && !ipv6_usable(c->ropts.ipv6_addr)) {
        log_warn("ctl", "cannot listen on IPv6 address %s here; listening on IPv4 only "
                        "(--disable-ipv6 silences this)",
                 c->ropts.ipv6_addr);
        c->ropts.ipv6_addr = NULL;
    }
    c->ropts.http_port = o->disable_http ? 0 : o->http_port;
    c->ropts.https_port = o->disable_https ? 0 : o->https_port;
    c->ropts.stats_port = o->stats_port;
    c->ropts.healthz_port = o->healthz_port;
    if (fault && str_has_prefix(fault, "render:") && !str_to_u32(fault + 7, 1, 1u << 30, &n)) {
        c->fault_at = n;
        log_warn("ctl", "fault injection: validation %u gets an invalid line", n);
    }
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int ctl_run(const struct opts *o)
{
    struct ctl *c = xcalloc(1, sizeof(*c));
    char *err = NULL, *cfg;
    int ret = 1;

    c->loop = uv_default_loop();
    c->opts = o;
    /* backoff jitter: replicas restarted together must not retry in step */
    srandom((unsigned)time(NULL) ^ ((unsigned)getpid() << 16));
    store_init(&c->store);
    hmap_init(&c->issues_seen);
    hmap_init(&c->fetching);
    hmap_init(&c->fetch_retry);
    signal(SIGPIPE, SIG_IGN);
    if (file_mkdirs(o->config_dir, 0700, &err) || file_mkdirs(o->runtime_dir, 0700, &err)) {
        log_err("ctl", "%s", err);
        goto out;
    }
    c->fallback_pem = tls_selfsigned_pem("portico-default");
    if (!c->fallback_pem) {
        log_err("ctl", "cannot generate the self-signed default certificate");
        goto out;
    }
    setup_opts(c, o, true);
    c->mopts.tls_cache = tls_cache_new();
    c->gen = scan_generations(o->config_dir);
    c->current_link = xasprintf("%s/current", o->config_dir);
    c->next_cfg = xasprintf("%s/haproxy.cfg.next", o->config_dir);
    c->ropts.cfg_path = c->next_cfg;
    c->ropts.from_model = true;
    c->admin_sock = xasprintf("%s/admin.sock", o->runtime_dir);
    cfg = xasprintf("%s/haproxy.cfg", c->current_link);
    hap_init(&c->hap, c->loop, o->haproxy_bin, cfg, o->runtime_dir);
    free(cfg);
    c->hap.on_restart = on_haproxy_restarted;
    c->hap.restart_arg = c;
    uv_timer_init(c->loop, &c->debounce);
    c->debounce.data = c;
    if (httpd_start(&c->http, c->loop, o->ipv4_addr, o->controller_port, on_http, c)) {
        log_err("ctl", "cannot listen on %s:%d for /healthz and /readyz", o->ipv4_addr,
                o->controller_port);
        goto out_loop;
    }
    uv_signal_init(c->loop, &c->sigterm);
    uv_signal_init(c->loop, &c->sigint);
    c->sigterm.data = c;
    c->sigint.data = c;
    uv_signal_start(&c->sigterm, on_signal, SIGTERM);
    uv_signal_start(&c->sigint, on_signal, SIGINT);
    if (o->manifests) {
        c->src = manifests_watch(c->loop, o->manifests, &c->store, on_source_changed, c, &err);
        if (!c->src) {
            log_err("source", "cannot read manifests: %s", err);
            goto out_loop;
        }
        log_info("ctl", "file mode: %zu ingresses, %zu services read from %s",
                 store_count(&c->store, K8S_INGRESS), store_count(&c->store, K8S_SERVICE),
                 o->manifests);
        c->synced = true;
        schedule(c);
    } else if (start_cluster(c, o)) {
        goto out_loop;
    } else {
        serve_last_good(c);
    }
    uv_run(c->loop, UV_RUN_DEFAULT);
    ret = 0;
    log_info("ctl", "stopped");
out_loop:
    /* a check or CLI request in flight frees itself when it ends: let it */
    while (hap_in_flight() > 0 && uv_run(c->loop, UV_RUN_ONCE))
        ;
    manifests_close(c->src);
    stop_cluster(c);
    hap_close(&c->hap);
    uv_walk(c->loop, close_walk, NULL);
    uv_run(c->loop, UV_RUN_DEFAULT);
    uv_loop_close(c->loop);
out:
    free(err);
    store_deinit(&c->store);
    hmap_deinit(&c->issues_seen);
    free(c->fallback_pem);
    tls_cache_free(c->mopts.tls_cache);
    free(c->current_link);
    free(c->next_cfg);
    free(c->admin_sock);
    kube_config_free(&c->kc);
    plan_gen_free(&c->running);
    plan_gen_free(&c->pending);
    free(c);
    return ret;
}

int ctl_render(const struct opts *o)
{
    struct store store;
    struct model_opts mopts;
    struct render_opts ropts;
    struct rendered r;
    struct model *m;
    char *err = NULL, *pem;
    struct ctl tmp;
    int ret = 1;

    memset(&tmp, 0, sizeof(tmp));
    store_init(&store);
    if (manifests_read(o->manifests, &store, &err) < 0) {
        log_err("source", "cannot read manifests: %s", err);
        goto out;
    }
    pem = tls_selfsigned_pem("portico-default");
    tmp.fallback_pem = pem;
    setup_opts(&tmp, o, false);
    mopts = tmp.mopts;
    ropts = tmp.ropts;
    m = model_build(&store, &mopts);
    for (size_t i = 0; i < m->n_issues; i++) {
        const struct model_issue *is = &m->issues[i];

        log_emit(LOG_WARN, "model", is->obj, "%s%s%s%s%s", is->origin,
                 *is->origin ? ": " : "", is->field, *is->field ? ": " : "", is->msg);
    }
    if (render(m, &ropts, &r, &err)) {
        log_err("render", "%s", err);
        model_unref(m);
        free(pem);
        goto out;
    }
    ret = 0;
    for (size_t i = 0; i < r.n_files; i++) {
        const struct render_file *f = &r.files[i];

        if (o->output_dir) {
            char *path = xasprintf("%s/%s", o->output_dir, f->name);
            char *slash = strrchr(path, '/');

            *slash = '\0';
            if (file_mkdirs(path, 0700, &err) == 0) {
                *slash = '/';
                file_replace(path, f->data, f->len, f->mode, FILE_F_SYNC, &err);
            }
            if (err) {
                log_err("render", "%s", err);
                FREE_NULL(err);
                ret = 1;
            }
            free(path);
            continue;
        }
        printf("### %s\n", f->name);
        if (f->mode == 0600)
            printf("(%zu bytes of key and certificate, not shown)\n", f->len);
        else
            fwrite(f->data, 1, f->len, stdout);
    }
    rendered_free(&r);
    model_unref(m);
    free(pem);
out:
    free(err);
    store_deinit(&store);
    return ret;
}
