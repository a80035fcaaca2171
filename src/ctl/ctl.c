/* SPDX-License-Identifier: Apache-2.0 */
/* The controller loop. A store change only marks the controller dirty and
 * arms a short timer; one pass then builds the model and renders it and,
 * when the rendering differs from what HAProxy runs, writes it as a new
 * generation and applies the plan (haproxy/plan.h): Runtime API updates, or
 * haproxy -c and a reload. Passes are serialised: a change that arrives
 * meanwhile is handled by the next pass. */
#include "ctl/ctl.h"
#include "ctl/ctl-int.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "haproxy/runtime.h"
#include "kube/client.h"
#include "model/tls.h"
#include "source/manifests.h"
#include "store/objects.h"
#include "util/err.h"
#include "util/fault.h"
#include "util/file.h"
#include "util/log.h"
#include "util/shared.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* ====== Passes ====== */

static void log_issues(struct ctl *c, const struct model *m)
{
    struct hmap now;

    hmap_init(&now);
    for (size_t i = 0; i < m->n_issues; i++) {
        const struct model_issue *is = &m->issues[i];
        char key[2048];

        snprintf(key, sizeof(key), "%s|%s|%s", is->obj, is->field, is->msg);
        /* the severity, for ctl_events_replay() (+1: never NULL) */
        hmap_put(&now, key, (void *)(uintptr_t)(is->sev + 1));
        /* each problem is logged, and recorded as an Event, once, when it appears */
        if (hmap_get(&c->issues_seen, key))
            continue;
        if (log_on(LOG_WARN))
            log_emit(LOG_WARN, "model", is->obj, "%s%s%s%s%s", is->origin,
                     *is->origin ? ": " : "", is->field, *is->field ? ": " : "", is->msg);
        ctl_event_add(c, is);
    }
    hmap_deinit(&c->issues_seen);
    c->issues_seen = now;
    c->last_issues = m->n_issues;
}

void ctl_events_replay(struct ctl *c)
{
    size_t iter = 0;
    const char *key;
    void *val;

    while (hmap_next(&c->issues_seen, &iter, &key, &val)) {
        /* "obj|field|msg": object names and field paths have no '|' */
        const char *f = strchr(key, '|'), *m = f ? strchr(f + 1, '|') : NULL;
        char obj[512], field[512];
        struct model_issue is = { 0 };

        if (!m || f - key >= (ptrdiff_t)sizeof(obj) || m - f - 1 >= (ptrdiff_t)sizeof(field))
            continue;
        snprintf(obj, sizeof(obj), "%.*s", (int)(f - key), key);
        snprintf(field, sizeof(field), "%.*s", (int)(m - f - 1), f + 1);
        is.sev = (enum model_sev)((uintptr_t)val - 1);
        is.obj = obj;
        is.origin = "";
        is.field = field;
        is.msg = m + 1;
        ctl_event_add(c, &is);
    }
}

static void schedule(struct ctl *c);
static void forget_memo(struct ctl *c);

void ctl_resume(struct ctl *c)
{
    if (c->dirty && !c->busy && !c->stopping) {
        c->dirty = false;
        schedule(c);
    }
}

static void pass_done(struct ctl *c)
{
    c->busy = false;
    /* what the pass read: who owns which Ingress */
    ctl_status_sync(c);
    /* what the build and the rendering held until now */
    xtrim();
    ctl_resume(c);
}

const double ctl_latency_bounds[CTL_LATENCY_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* The pass's change reached HAProxy: observed in the change -> applied
 * histogram. */
static void observe_applied(struct ctl *c)
{
    struct ctl_histogram *h = &c->m_latency;
    double s;
    size_t b = 0;

    if (!c->pass_change_at)
        return;
    s = (double)(uv_hrtime() - c->pass_change_at) / 1e9;
    c->pass_change_at = 0;
    while (b < CTL_LATENCY_BUCKETS && s > ctl_latency_bounds[b])
        b++;
    h->buckets[b]++;
    h->count++;
    h->sum += s;
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

static void on_debounce(uv_timer_t *t);

/* ====== Servers deleted later ======
 *
 * A removed server is disabled by the pass, and deleted once idle: HAProxy
 * 2.6 refuses "del server" while the server has connections, idle ones in
 * its pool included (pool-purge-delay), but accepts it while a stream that
 * waits to try the server again still points to it, and then crashes (fixed
 * since by HAProxy's own check of the server's streams). rt_del_servers()
 * makes that check with "show sess". The written configuration no longer
 * has the server, so a reload would remove it; until then, it is asked
 * again every CTL_DEL_RETRY_MS. Retries and passes never overlap: a pass
 * adding the same server back could otherwise see it deleted between its
 * "add server" and its "enable server". */

/* A reload or a restart loaded the written configuration: none is left. */
static void del_wait_clear(struct ctl *c)
{
    if (c->del_wait.used)
        log_debug("ctl", "%zu disabled servers left with the old configuration",
                  c->del_wait.used);
    hmap_deinit(&c->del_wait);
    hmap_init(&c->del_wait);
    uv_timer_stop(&c->del_timer);
}

static void on_del_timer(uv_timer_t *t);

void ctl_del_wait_add(struct ctl *c, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        log_debug("ctl", "server %s disabled, deleted once nothing uses it", names[i]);
        hmap_put(&c->del_wait, names[i], (void *)1);
    }
    /* servers just disabled: asked at once, as soon as the pass is done */
    if (n)
        uv_timer_start(&c->del_timer, on_del_timer, 0, 0);
    else if (c->del_wait.used && !uv_is_active((uv_handle_t *)&c->del_timer))
        uv_timer_start(&c->del_timer, on_del_timer, CTL_DEL_RETRY_MS, 0);
}

static void on_del_done(char *const *names, const enum rt_del *res, size_t n, void *arg)
{
    struct ctl *c = arg;
    size_t deleted = 0;

    c->del_running = false;
    for (size_t i = 0; i < n; i++) {
        c->m_del[res[i]]++;
        deleted += res[i] == RT_DEL_DELETED;
        if (res[i] == RT_DEL_BUSY || res[i] == RT_DEL_FAILED)
            continue;
        if (res[i] == RT_DEL_REFUSED)
            log_warn("ctl", "haproxy refused to delete disabled server %s; left to the next "
                            "reload",
                     names[i]);
        else
            log_debug("ctl", "server %s %s", names[i],
                      res[i] == RT_DEL_DELETED ? "deleted" : "already gone");
        hmap_del(&c->del_wait, names[i]);
    }
    if (deleted)
        log_info("haproxy", "%zu removed servers deleted once idle, %zu still wait", deleted,
                 c->del_wait.used);
    if (c->stopping)
        return;
    ctl_del_wait_add(c, NULL, 0);
    /* a pass that waited for the retry */
    ctl_resume(c);
}

static void on_del_timer(uv_timer_t *t)
{
    struct ctl *c = t->data;
    size_t iter = 0, n = 0;
    const char *name;
    void *v;
    char **names;

    if (c->stopping || !c->del_wait.used)
        return;
    if (c->busy || c->drift_running || c->hap.op != HAP_OP_NONE || !c->hap.serving) {
        /* a pass, a reload or a drift check is under way: after it */
        uv_timer_start(&c->del_timer, on_del_timer, CTL_DEL_RETRY_MS, 0);
        return;
    }
    names = xcalloc(c->del_wait.used + 1, sizeof(*names));
    while (hmap_next(&c->del_wait, &iter, &name, &v))
        names[n++] = (char *)name;
    c->del_running = true;
    rt_del_servers(c->loop, c->admin_sock, names, n, on_del_done, c);
    free(names);
}

/* The pending generation's reload ended, loaded (<ok>) or not: counted in
 * total, once under each kind of reason it gathered and, when loaded, by
 * each of its reasons. */
static void count_reload(struct ctl *c, bool ok)
{
    c->m_reloads_total[ok]++;
    for (int w = 0; w < PLAN_WHY_COUNT; w++) {
        if (c->reload_n_why[w])
            c->m_reloads[w][ok]++;
        if (ok)
            c->m_reload_changes[w] += c->reload_n_why[w];
    }
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
        count_reload(c, false);
        log_err("haproxy", "configuration generation %u not loaded (%s): %s; %s", c->pending_gen,
                c->reload_reason, msg, said_summary(c, said, sizeof(said)));
        ctl_revert_current(c);
        if (c->hap.refused) {
            c->rejected_hash = c->pending.hash; /* not again until objects change */
            forget_memo(c); /* which would keep the model refused */
        } else {
            if (!c->change_at)
                c->change_at = c->pass_change_at;
            if (c->hap.running) /* it did not answer: again in a while */
                uv_timer_start(&c->debounce, on_debounce, CTL_RETRY_MS, 0);
            else /* it died: again once the last good one serves */
                c->dirty = true;
        }
        pass_done(c);
        return;
    }
    if (c->ready) {
        count_reload(c, true);
        observe_applied(c);
        log_info("haproxy", "haproxy reloaded (generation %u): %s; %.0f ms; %s", c->pending_gen,
                 c->reload_reason, ms, said_summary(c, said, sizeof(said)));
    } else {
        log_info("haproxy", "haproxy serves generation %u; ready; %.0f ms; %s", c->pending_gen, ms,
                 said_summary(c, said, sizeof(said)));
    }
    plan_gen_move(&c->running, &c->pending);
    ctl_spares_running(c, NULL);
    del_wait_clear(c);
    c->ready = true;
    c->in_step = true;
    ctl_prune_generations(c);
    /* its timer (0 ms) fires before the debounce of a pass that waited */
    ctl_drift_soon(c);
    pass_done(c);
}

/* ====== Runtime API path ====== */

/* Makes the next pass reload, for <why> of kind <kind>. */
static void reload_next(struct ctl *c, const char *why, enum plan_why kind)
{
    c->reload_next = why;
    c->reload_next_why = kind;
}

/* Ends the pass running, whose change waits for another pass in <ms>. */
static void pass_again(struct ctl *c, uint64_t ms)
{
    if (!c->change_at)
        c->change_at = c->pass_change_at ? c->pass_change_at : uv_hrtime();
    pass_done(c);
    uv_timer_start(&c->debounce, on_debounce, ms, 0);
}

static void check_and_load(struct ctl *c, enum plan_why why, const uint32_t *n_why,
                           const char *reason);
static void on_reload_due(uv_timer_t *t);

/* Writes the pending generation, whose updates HAProxy has just been sent,
 * from c->rt_r, which is freed. The files come after the Runtime API, off the
 * path of a change to HAProxy, but before anything can load them: no pass,
 * reload or drift check runs meanwhile, and "current" still points at the
 * previous generation, which a restarted HAProxy would load. Returns 0, or
 * logs why not, makes the next pass reload, and returns a negative errno. */
static int write_applied(struct ctl *c)
{
    uint64_t t3 = uv_hrtime();
    char *err = NULL;
    int ret;

    ret = ctl_write_generation(c, &c->rt_r, c->pending_gen, &err);
    rendered_free(&c->rt_r);
    log_debug("ctl", "generation %u: model %.1f ms, render %.1f ms, files %.1f ms, runtime %.1f ms",
              c->pending_gen, (double)(c->pass_t[1] - c->pass_t[0]) / 1e6,
              (double)(c->pass_t[2] - c->pass_t[1]) / 1e6, (double)(uv_hrtime() - t3) / 1e6,
              (double)(t3 - c->pass_t[3]) / 1e6);
    if (ret) {
        log_err("ctl", "cannot write generation %u: %s; reloading once it can be written",
                c->pending_gen, err);
        free(err);
        /* HAProxy runs updates the running model and the files lack: a
         * reload of the next generation converges */
        reload_next(c, "the files of a runtime update could not be written", PLAN_WHY_OTHER);
        plan_gen_free(&c->pending);
        pass_again(c, CTL_RETRY_MS);
    }
    return ret;
}

static void on_writeback(uv_timer_t *t);

#ifdef PORTICO_FAULTS
/* Test builds: haproxy.cfg, which write_running() does not render again
 * after reroutes, renders as written; a difference is a bug that aborts. */
static void check_same_cfg(struct ctl *c, const struct model *m)
{
    struct render_opts o = c->ropts;
    struct rendered r;

    o.cfg_path = NULL;
    if (render(m, &o, &r, NULL))
        abort();
    if (r.cfg.hash != c->running.cfg.hash || r.cfg.shape != c->running.cfg.shape ||
        r.cfg.len != c->running.cfg.len) {
        log_err("ctl", "haproxy.cfg of the running model differs from the one written");
        abort();
    }
    rendered_free(&r);
}

/* Test builds: haproxy.cfg's files spliced from those of generation <gen>
 * (<r>'s, at their paths, or there when <same>) are byte for byte what a
 * rendering of <m> makes, with the same hashes; a difference is a bug that
 * aborts. */
static void check_spliced_cfg(struct ctl *c, const struct model *m, const struct rendered *r,
                              unsigned gen)
{
    struct render_opts o = c->ropts;
    char *dir = ctl_gen_dir(c, gen);
    struct rendered full;
    /* haproxy.cfg alone: with the rest of the running generation */
    uint64_t hash = r->n_files == r->n_cfg ? render_hash_with_cfg(c->running.rest_hash, r->cfg.hash)
                                           : r->hash;

    o.cfg_path = NULL;
    if (render(m, &o, &full, NULL) || full.n_cfg != r->n_cfg)
        abort();
    for (size_t k = 0; k < r->n_cfg; k++) {
        const struct render_file *f = &r->files[k], *w = &full.files[k];
        char *path = f->same ? xasprintf("%s/%s", dir, f->name) : xstrdup(f->path), *text;
        size_t len = 0;

        if (file_read(path, 1u << 30, &text, &len))
            abort();
        if (strcmp(f->name, w->name) || len != w->len || memcmp(text, w->data, len) ||
            f->len != len || f->hash != w->hash) {
            log_err("ctl", "%s spliced differs from a rendering of the running model", path);
            abort();
        }
        free(text);
        free(path);
    }
    if (r->cfg.hash != full.cfg.hash || r->cfg.shape != full.cfg.shape ||
        r->cfg.len != full.cfg.len || hash != full.hash) {
        log_err("ctl", "haproxy.cfg spliced hashes unlike a rendering of the running model");
        abort();
    }
    free(dir);
    rendered_free(&full);
}

/* Test builds: the maps of <r>, hashed by what differs from the last
 * rendering (struct render_memo), hash as a whole rendering of <m>'s do; a
 * difference is a bug that aborts. */
static void check_memo(struct ctl *c, const struct model *m, const struct rendered *r)
{
    struct render_opts o = c->ropts;
    struct rendered full;

    o.cfg_path = NULL;
    if (render(m, &o, &full, NULL) || full.n_files != r->n_files)
        abort();
    for (size_t i = 0; i < r->n_files; i++) {
        const struct render_file *a = &r->files[i], *b = &full.files[i];

        if (strcmp(a->name, b->name) || (a->map >= 0 && (a->len != b->len || a->hash != b->hash))) {
            log_err("ctl", "%s hashed from the last rendering differs from its rendering",
                    b->name);
            abort();
        }
    }
    if (r->n_dropped != full.n_dropped)
        abort();
    rendered_free(&full);
}
#else
#define check_same_cfg(c, m) ((void)0)
#define check_spliced_cfg(c, m, r, gen) ((void)0)
#define check_memo(c, m, r) ((void)0)
#endif

/* Forgets what the last rendering learnt, and lets its model go. */
static void forget_memo(struct ctl *c)
{
    memset(&c->memo, 0, sizeof(c->memo));
    model_unref(c->memo_model);
    c->memo_model = NULL;
}

/* Renders <m> with <o> and what the last rendering learnt (struct
 * render_memo): the maps a reroute changed are hashed by their
 * differences. */
static int render_memo(struct ctl *c, struct model *m, struct render_opts *o,
                       struct rendered *r, char **err)
{
    int ret;

    o->memo = &c->memo;
    ret = render(m, o, r, err);
    if (!ret) {
        /* which keeps the arrays the memo names */
        model_ref(m);
        model_unref(c->memo_model);
        c->memo_model = m;
    }
    return ret;
}

/* Writes haproxy.cfg of the running model, whose patches changed only server
 * lines since its generation was written, into that generation: the files
 * of the backends patched spliced from those there (render_opts.cfg_from)
 * and renamed over them, so that "current" is what HAProxy runs; every
 * other file is as it was. Making a new generation would link each of its
 * files again: 20 ms with 1,000 certificates. Returns 0, or a negative
 * errno after logging why. */
static int write_cfg_in_place(struct ctl *c)
{
    struct render_opts o = c->ropts;
    char *dir = ctl_gen_dir(c, c->gen), *err = NULL;
    uint64_t t0 = uv_hrtime(), t1;
    struct rendered r;
    size_t written = 0, n_cfg;
    int ret;

    o.cfg_from = &c->running.cfg;
    o.cfg_from_dir = dir;
    o.cfg_only = true;
    ret = render(c->running.model, &o, &r, &err);
    t1 = uv_hrtime();
    if (!ret) {
        check_spliced_cfg(c, c->running.model, &r, c->gen);
        ret = ctl_replace_cfg_files(c, &r, dir, &err);
    }
    if (ret) {
        log_warn("ctl", "cannot write haproxy.cfg into generation %u: %s; writing a new one",
                 c->gen, err);
        free(err);
        if (r.n_files)
            rendered_free(&r);
        free(dir);
        return ret;
    }
    for (size_t k = 0; k < r.n_cfg; k++)
        written += !r.files[k].same;
    n_cfg = r.n_cfg;
    shared_unref(c->running.cfg.servers);
    c->running.cfg = r.cfg;
    shared_ref(c->running.cfg.servers);
    c->running.cfg_changed = false;
    c->running.hash = render_hash_with_cfg(c->running.rest_hash, r.cfg.hash);
    rendered_free(&r);
    free(dir);
    c->files_behind = false;
    log_debug("ctl", "generation %u written after runtime updates: render %.1f ms, files %.1f ms; "
                     "%zu of haproxy.cfg's %zu files, in place",
              c->gen, (double)(t1 - t0) / 1e6, (double)(uv_hrtime() - t1) / 1e6, written,
              n_cfg);
    return 0;
}

/* Writes the running model, patched since the last generation was written
 * (patch_pass()): into the running generation when only what the Runtime
 * API changes differs (ctl_write_in_place()), else as a new generation it
 * makes current. A patch's files wait for this, at most CTL_WRITEBACK_MS,
 * so that a burst of endpoint changes is rendered and written once, not
 * once each; a pass that builds and a HAProxy restart write them first.
 * Returns 0, or logs why not, tries again later and returns a negative
 * errno. It uses c->pending: no pass may have set it. */
static int write_running(struct ctl *c)
{
    struct model *m = c->running.model;
    struct render_opts o = c->ropts;
    struct rendered r;
    uint64_t t0 = uv_hrtime(), t1;
    char *err = NULL, *cfg_from = NULL;
    bool in_place;
    int ret;

    if (!c->files_behind)
        return 0;
    uv_timer_stop(&c->writeback);
    /* after endpoint patches alone, haproxy.cfg is all that changed */
    if (c->running.cfg_changed && !c->running.parts_changed && c->gen &&
        !write_cfg_in_place(c))
        return 0;
    /* after reroutes alone, haproxy.cfg is the written one: at 10,000
     * Ingresses, rendering it again was most of a route change's CPU */
    if (!c->running.cfg_changed) {
        o.cfg_same = &c->running.cfg;
        check_same_cfg(c, m);
    } else {
        /* after endpoint patches, only the server lines they changed are
         * made again: the rest is copied from the running generation's */
        cfg_from = ctl_gen_dir(c, c->gen);
        o.cfg_from = &c->running.cfg;
        o.cfg_from_dir = cfg_from;
    }
    ret = render_memo(c, m, &o, &r, &err);
    if (ret && o.cfg_from) {
        log_warn("ctl", "cannot copy haproxy.cfg from generation %u: %s; rendering it whole",
                 c->gen, err);
        FREE_NULL(err);
        o.cfg_from = NULL;
        ret = render_memo(c, m, &o, &r, &err);
    } else if (!ret && o.cfg_from) {
        check_spliced_cfg(c, m, &r, c->gen);
    }
    if (!ret)
        check_memo(c, m, &r);
    free(cfg_from);
    if (ret) {
        log_err("ctl", "cannot render the running model: %s", err);
        free(err);
        uv_timer_start(&c->writeback, on_writeback, CTL_RETRY_MS, 0);
        return ret;
    }
    t1 = uv_hrtime();
    plan_gen_set(&c->pending, m, &r);
    /* maps, crt-list and servers alone: the running generation's files
     * replaced, not a new generation made */
    in_place = ctl_same_files(c);
    c->pending_gen = in_place ? c->gen : c->gen + 1;
    ret = in_place ? ctl_write_in_place(c, &r, &err)
                   : ctl_write_generation(c, &r, c->pending_gen, &err);
    rendered_free(&r);
    if (ret) {
        log_err("ctl", "cannot write generation %u%s: %s; trying again in %u ms", c->pending_gen,
                in_place ? " in place" : "", err, CTL_RETRY_MS);
        free(err);
    } else if (!in_place) {
        ret = ctl_make_current(c);
    }
    if (ret) {
        plan_gen_free(&c->pending);
        c->running.cfg_changed = true; /* the next try writes haproxy.cfg anew */
        uv_timer_start(&c->writeback, on_writeback, CTL_RETRY_MS, 0);
        return ret;
    }
    plan_gen_move(&c->running, &c->pending);
    c->files_behind = false;
    if (!in_place)
        ctl_prune_generations(c);
    log_debug("ctl", "generation %u written after runtime updates: render %.1f ms, files %.1f ms%s",
              c->gen, (double)(t1 - t0) / 1e6, (double)(uv_hrtime() - t1) / 1e6,
              in_place ? "; in place" : "");
    /* what the rendering held */
    xtrim();
    return 0;
}

static void on_writeback(uv_timer_t *t)
{
    struct ctl *c = t->data;

    if (c->stopping)
        return;
    /* not beside a pass, a deletion or a drift check, which use the generations */
    if (c->busy || c->del_running || c->drift_running || c->hap.op != HAP_OP_NONE) {
        uv_timer_start(&c->writeback, on_writeback, CTL_WRITEBACK_BUSY_MS, 0);
        return;
    }
    write_running(c);
}

/* A patch's or reroute's updates are applied: it runs, its files wait
 * (write_running()). */
static void patch_applied(struct ctl *c)
{
    struct model *before = model_ref(c->running.model);

    log_debug("ctl", "patch: model %.1f ms, runtime %.1f ms",
              (double)(c->pass_t[1] - c->pass_t[0]) / 1e6,
              (double)(uv_hrtime() - c->pass_t[3]) / 1e6);
    c->m_runtime_ok++;
    c->in_step = true;
    observe_applied(c);
    plan_gen_move(&c->running, &c->pending);
    /* a reroute may have put a new backend in a spare */
    ctl_spares_running(c, before);
    model_unref(before);
    c->files_behind = true;
    log_info("haproxy", "%s updated through the runtime API, no reload (the files follow within "
                        "%u ms)",
             c->patch_what, CTL_WRITEBACK_MS);
    if (!c->hap.running) /* it died since: it starts again from current/ */
        write_running(c);
    else if (!uv_is_active((uv_handle_t *)&c->writeback))
        uv_timer_start(&c->writeback, on_writeback, CTL_WRITEBACK_MS, 0);
    pass_done(c);
}

static void on_runtime_done(const struct rt_result *res, void *arg)
{
    struct ctl *c = arg;
    struct model *before;

    for (size_t i = 0; i < c->rt_n && i <= res->applied; i++) {
        if (i < res->applied)
            c->m_rt[c->rt_kinds[i]][1]++;
        else if (!res->ok)
            c->m_rt[c->rt_kinds[i]][0]++;
    }
    FREE_NULL(c->rt_kinds);
    c->rt_n = 0;
    if (c->stopping) {
        rendered_free(&c->rt_r);
        return;
    }
    ctl_del_wait_add(c, res->busy, res->n_busy);
    if (!res->ok) {
        /* a pass of its own, not this generation: backends it had put in
         * spares get their own names in the same reload */
        c->m_runtime_failed++;
        log_warn("haproxy", "runtime update failed: %s; reloading instead", res->msg);
        rendered_free(&c->rt_r);
        plan_gen_free(&c->pending);
        reload_next(c, "a runtime update failed", PLAN_WHY_RUNTIME_FAILED);
        pass_again(c, 0);
        return;
    }
    if (!c->rt_r.n_files) {
        patch_applied(c);
        return;
    }
    if (write_applied(c))
        return;
    if (ctl_make_current(c)) {
        /* HAProxy runs the new maps but a restart would not: reload to converge */
        check_and_load(c, PLAN_WHY_OTHER, NULL, "the generation could not be made current");
        return;
    }
    c->m_runtime_ok++;
    c->in_step = true;
    observe_applied(c);
    before = c->running.model ? model_ref(c->running.model) : NULL;
    plan_gen_move(&c->running, &c->pending);
    ctl_spares_running(c, before);
    model_unref(before);
    log_info("haproxy", "routes, certificates or endpoints updated through the runtime API, no reload "
                        "(generation %u)",
             c->gen);
    ctl_prune_generations(c);
    pass_done(c);
}

static void on_checked(enum hap_check res, const char *output, void *arg)
{
    struct ctl *c = arg;

    if (c->stopping)
        return;
    if (res == HAP_CHECK_NOT_RUN) {
        /* nothing is known of the generation: the next pass checks it again */
        log_err("haproxy", "cannot check generation %u (%s): %s; trying again in %u ms",
                c->pending_gen, c->reload_reason, output, CTL_RETRY_MS);
        reload_next(c, "a configuration check could not run", c->reload_why);
        pass_again(c, CTL_RETRY_MS);
        return;
    }
    if (res == HAP_CHECK_REFUSED) {
        const char *line = output;
        unsigned shown = 0, more = 0;

        bool blamed = ctl_blame_snippets(c, output);

        c->m_rejected++;
        forget_memo(c); /* which would keep the model refused */
        /* without the refused snippets, the next build may load */
        if (!blamed)
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
        if (blamed)
            ctl_schedule(c);
        return;
    }
    log_debug("ctl", "haproxy -c accepted generation %u", c->pending_gen);
    if (ctl_make_current(c)) {
        pass_done(c);
        return;
    }
    if (c->hap.running) {
        c->last_reload_ms = uv_now(c->loop);
        hap_reload(&c->hap, on_loaded, c);
    } else {
        hap_start(&c->hap, on_loaded, c);
    }
}

static void on_build_due(uv_timer_t *t)
{
    struct ctl *c = t->data;

    if (c->stopping)
        return;
    c->must_build = true;
    if (c->busy)
        c->dirty = true;
    else
        uv_timer_start(&c->debounce, on_debounce, 0, 0);
}

/* --min-reload-interval: a reload due too soon after the last one waits,
 * and the pass is made again then, with every change that arrived meanwhile,
 * so that a burst of changes is one reload. Meanwhile endpoint changes patch
 * the running model (run_pass()): a removed endpoint is not sent requests
 * for the rest of the interval. True when the pass stops here. */
static bool reload_waits(struct ctl *c, const struct plan *plan)
{
    uint64_t wait = plan_reload_wait(plan->why, uv_now(c->loop), c->last_reload_ms,
                                     c->opts->min_reload_interval_ms);

    if (!wait)
        return false;
    c->m_reloads_delayed++;
    log_debug("ctl", "reload in %llu ms (--min-reload-interval): %s", (unsigned long long)wait,
              plan->reload);
    /* the wait counts in the change -> applied latency */
    if (!c->change_at)
        c->change_at = c->pass_change_at;
    uv_timer_start(&c->build_timer, on_build_due, wait, 0);
    return true;
}

/* Keeps what the build of <m> looked up, for the next changes. */
static void keep_lookups(struct ctl *c, struct model *m)
{
    model_lookups_free(&c->lookups);
    c->lookups = m->lookups;
    memset(&m->lookups, 0, sizeof(m->lookups));
    c->lookups_known = true;
}

/* Sends the updates of <plan>, which it frees, to HAProxy; the pending
 * generation's rendering <r> is written once HAProxy has them:
 * write_applied(). A patch has none (NULL): write_running(), later. */
static void apply_updates(struct ctl *c, struct plan *plan, struct rendered *r)
{
    log_debug("ctl", "%zu runtime API updates (maps, certificates, servers)", plan->n);
    c->rt_kinds = xmalloc(plan->n);
    c->rt_n = plan->n;
    for (size_t i = 0; i < plan->n; i++) {
        c->rt_kinds[i] = (unsigned char)plan->u[i].kind;
        /* a server waiting to be deleted is enabled again instead */
        if (plan->u[i].kind == RT_SERVER_ADD && hmap_del(&c->del_wait, plan->u[i].name))
            plan->u[i].again = true;
    }
    if (r)
        c->rt_r = *r;
    else
        memset(&c->rt_r, 0, sizeof(c->rt_r));
    c->pass_t[3] = uv_hrtime();
    rt_apply(c->loop, c->admin_sock, plan->u, plan->n, on_runtime_done, c);
    plan_free(plan);
}

#ifdef PORTICO_FAULTS
static bool same_packed(const unsigned char *a, const unsigned char *b, uint32_t n, uint32_t n_v4,
                        uint32_t bn, uint32_t bn_v4)
{
    return n == bn && n_v4 == bn_v4 &&
           (!n || !memcmp(a, b, 2 * (size_t)n + 4 * (size_t)n_v4 + 16 * (size_t)(n - n_v4)));
}

/* The issues of <m> as sorted "obj|field|msg" lines, in one string. */
static char *issue_lines(const struct model *m)
{
    char **v = xcalloc(m->n_issues + 1, sizeof(*v));
    struct buf b;

    buf_init(&b, 1u << 30);
    for (size_t i = 0; i < m->n_issues; i++)
        v[i] = xasprintf("%s|%s|%s", m->issues[i].obj, m->issues[i].field, m->issues[i].msg);
    qsort(v, m->n_issues, sizeof(*v), str_cmp_ptrs);
    for (size_t i = 0; i < m->n_issues; i++) {
        buf_addf(&b, "%s\n", v[i]);
        free(v[i]);
    }
    free(v);
    return buf_take(&b);
}

/* True when <p> renders as build <m> does, file for file, with the same
 * issues; else logs the first difference. */
static bool same_rendering(struct ctl *c, const struct model *m, const struct model *p)
{
    struct render_opts o = c->ropts;
    struct rendered a, b;
    char *ia, *ib;
    bool same;

    o.cfg_path = NULL;
    if (render(m, &o, &a, NULL) || render(p, &o, &b, NULL))
        abort();
    same = a.n_files == b.n_files && m->n_ingresses == p->n_ingresses;
    for (size_t i = 0; same && i < a.n_files; i++) {
        same = !strcmp(a.files[i].name, b.files[i].name) && a.files[i].hash == b.files[i].hash;
        if (!same)
            log_err("ctl", "the model differs from a build's: %s", a.files[i].name);
    }
    ia = issue_lines(m);
    ib = issue_lines(p);
    if (strcmp(ia, ib)) {
        log_err("ctl", "the model's issues differ from a build's:\n%s---\n%s", ib, ia);
        same = false;
    }
    free(ia);
    free(ib);
    rendered_free(&a);
    rendered_free(&b);
    return same;
}

/* Test builds: a patch is the model a build of the store makes, server for
 * server, and renders as it does unless a backend runs in a spare (under
 * the spare's name); any difference is a bug that aborts. While a build
 * waits for its reload, the store is ahead of the patch: only the backends
 * both resolve from the same Service's endpoints are compared. */
static void check_patch(struct ctl *c, const struct model *p)
{
    struct model *m = model_build(&c->store, &c->mopts);
    bool whole = !uv_is_active((uv_handle_t *)&c->build_timer), spares = false;

    for (size_t i = 0; i < p->n_backends; i++) {
        const struct model_backend *a = p->backends[i], *b;

        if (a->spare && !a->origin)
            continue;
        spares |= a->origin != NULL;
        b = model_find_backend(m, a->origin ? a->origin : a->name);
        if (!whole && (!b || b->svc_hash != a->svc_hash))
            continue;
        if (!b || !same_packed(a->servers, b->servers, a->n_servers, a->n_v4, b->n_servers,
                               b->n_v4) ||
            !same_packed(a->backups, b->backups, a->n_backups, a->n_backups_v4, b->n_backups,
                         b->n_backups_v4)) {
            log_err("ctl", "the patched model differs from a build: backend %s", a->name);
            abort();
        }
    }
    if (whole && !spares && !same_rendering(c, m, p))
        abort();
    model_unref(m);
}

/* Test builds: a reroute renders as a build of the store does; any
 * difference is a bug that aborts. */
static void check_reroute(struct ctl *c, const struct model *p)
{
    struct model *m = model_build(&c->store, &c->mopts);

    ctl_use_spares(c, m);

    if (!same_rendering(c, m, p))
        abort();
    model_unref(m);
}
#else
#define check_patch(c, p) ((void)0)
#define check_reroute(c, p) ((void)0)
#endif

/* A patch or reroute that changes nothing HAProxy runs: the running model
 * stays, in step. */
static void pass_in_step(struct ctl *c)
{
    c->in_step = true;
    pass_done(c);
}

/* Sends the updates <plan> of a patch or reroute begun at <t0>, which
 * change <what> ("endpoints", "routes"); its files wait (patch_applied()). */
static void apply_patch(struct ctl *c, struct plan *plan, uint64_t t0, const char *what)
{
    c->patch_what = what;
    c->pending_gen = c->gen + 1;
    c->pass_t[0] = t0;
    c->pass_t[1] = c->pass_t[2] = uv_hrtime();
    apply_updates(c, plan, NULL);
}

/* A pass for changed endpoints alone: the running model patched for the
 * Services of hashes <svcs> (model_patch()), its servers changed through the
 * Runtime API, the generation rendered and written later (patch_applied()).
 * False when the pass must build instead. */
static bool patch_pass(struct ctl *c, const uint64_t *svcs, size_t n)
{
    uint64_t t0 = uv_hrtime();
    struct model *m = model_patch(c->running.model, &c->store, svcs, n);
    struct plan plan;

    if (!m)
        return false;
    if (m == c->running.model) {
        model_unref(m);
        log_debug("ctl", "endpoints of %zu services changed, used by no backend", n);
        pass_in_step(c);
        return true;
    }
    check_patch(c, m);
    plan_gen_patched(&c->pending, &c->running, m);
    c->pending.cfg_changed = true; /* its server lines */
    model_unref(m);
    plan_make_servers(&c->running, &c->pending, &plan);
    if (plan.reload || !plan.n) {
        bool reload = plan.reload != NULL;

        plan_gen_free(&c->pending);
        plan_free(&plan);
        if (reload)
            return false; /* which a build plans again, and names */
        log_debug("ctl", "endpoints of %zu services changed, no ready one", n);
        pass_in_step(c);
        return true;
    }
    c->m_patches++;
    log_debug("ctl", "endpoints of %zu services changed: the running model patched (%zu backends)",
              n, c->pending.model->n_patched);
    apply_patch(c, &plan, t0, "endpoints");
    return true;
}

/* Makes <m>, a reroute or recert of the running model for <n> changes to
 * <what> ("ingresses", "secrets"), the pending generation: false when it is
 * the running model, which no <part> ("route", "certificate") of those
 * changed; it stays in step. */
static bool patch_pending(struct ctl *c, struct model *m, size_t n, const char *what,
                          const char *part)
{
    check_reroute(c, m);
    if (m == c->running.model) {
        model_unref(m);
        log_debug("ctl", "%zu %s changed, no %s with them", n, what, part);
        pass_in_step(c);
        return false;
    }
    plan_gen_patched(&c->pending, &c->running, m);
    c->pending.parts_changed = true; /* its maps or certificates, perhaps its crt-list */
    return true;
}

/* A pass for changed Ingresses alone: the routes of their hosts built again
 * into the running model (model_reroute()), the maps changed through the
 * Runtime API, the generation rendered and written later (patch_applied()).
 * False when the pass must build instead. */
static bool route_pass(struct ctl *c, const struct store_change *changes, size_t n)
{
    uint64_t t0 = uv_hrtime();
    /* ctl_use_spares() after a build would put a new backend in a spare too */
    struct model *m = model_reroute(c->running.model, &c->store, &c->mopts, changes, n,
                                    c->ready && !c->tidy);
    struct plan plan;

    if (!m)
        return false;
    if (!patch_pending(c, m, n, "ingresses", "route"))
        return true;
    /* a spare it filled: its server lines */
    if (m->n_patched != c->running.model->n_patched)
        c->pending.cfg_changed = true;
    model_unref(m);
    /* the same certificates' array: the same crt-list (model_reroute()) */
    if (c->pending.model->certs != c->running.model->certs) {
        free(c->pending.crt_list);
        c->pending.crt_list = render_crt_list(c->pending.model);
    }
    plan_make_routes(&c->running, &c->pending, &plan);
    if (!c->pending.crt_list || plan.reload) {
        /* which a build plans again, and names */
        plan_free(&plan);
        plan_gen_free(&c->pending);
        return false;
    }
    /* with what the build looked up */
    model_lookups_add(&c->lookups, &c->pending.model->lookups);
    if (c->pending.model->issues != c->running.model->issues)
        log_issues(c, c->pending.model);
    c->m_reroutes++;
    log_debug("ctl", "%zu ingresses changed: the routes of their hosts built again", n);
    apply_patch(c, &plan, t0, "routes");
    return true;
}

/* A pass for changed TLS Secrets alone: the running model given their new
 * certificates (model_recert()), set through the Runtime API, the
 * generation rendered and written later (patch_applied()). False when the
 * pass must build instead. */
static bool cert_pass(struct ctl *c, const uint64_t *secrets, size_t n)
{
    uint64_t t0 = uv_hrtime();
    struct model *m =
        model_recert(c->running.model, &c->store, &c->mopts, &c->lookups, secrets, n);
    struct plan plan;

    if (!m)
        return false;
    if (!patch_pending(c, m, n, "secrets", "certificate"))
        return true;
    model_unref(m);
    plan_make_routes(&c->running, &c->pending, &plan);
    if (plan.reload) {
        plan_free(&plan);
        plan_gen_free(&c->pending);
        return false;
    }
    if (c->kube)
        ctl_drop_cert_data(c, c->running.model, c->pending.model);
    c->m_recerts++;
    log_debug("ctl", "%zu secrets changed: %zu certificates replaced", n, plan.n);
    apply_patch(c, &plan, t0, "certificates");
    return true;
}

static void run_pass(struct ctl *c)
{
    uint64_t t0, t1, t2;
    struct model *m;
    struct render_opts o;
    struct rendered r;
    struct plan plan;
    char *err = NULL;
    size_t spared;
    bool unchanged, retried = false;
    int ret;

    uint64_t svcs[CTL_PATCH_SVCS], secrets[CTL_PATCH_SVCS];
    size_t n_svcs = c->n_patch_svcs, n_secrets = c->n_patch_secrets, n_changes;
    struct store_change *changes;
    /* Ingresses kept as they were since the last pass, unless too many */
    bool kept = store_take_changes(&c->store, &changes, &n_changes);
    bool waits = uv_is_active((uv_handle_t *)&c->build_timer);
    bool live = !c->must_build && kept && c->ready && c->hap.serving && c->running.model &&
                !c->reload_next;
    bool incremental = live && c->in_step && !waits;
    /* while a reload waits, endpoints still change: what runs is patched,
     * the rest of the store waits for the build */
    bool patch = ((incremental && !n_secrets) || (live && waits)) && n_svcs && !n_changes;
    bool reroute = incremental && n_changes && !n_svcs && !n_secrets;
    bool recert = incremental && n_secrets && !n_svcs && !n_changes;

    memcpy(svcs, c->patch_svcs, n_svcs * sizeof(*svcs));
    memcpy(secrets, c->patch_secrets, n_secrets * sizeof(*secrets));
    c->pass_began = uv_now(c->loop);
    c->n_patch_svcs = 0;
    c->n_patch_secrets = 0;
    c->must_build = false;
    c->in_step = false;
    c->busy = true;
    c->dirty = false;
    c->m_passes++;
    c->pass_change_at = c->change_at;
    c->change_at = 0;
    c->ropts.fault = false;
    if (patch && patch_pass(c, svcs, n_svcs)) {
        store_changes_free(changes, n_changes);
        return;
    }
    if (reroute && route_pass(c, changes, n_changes)) {
        store_changes_free(changes, n_changes);
        return;
    }
    if (recert && cert_pass(c, secrets, n_secrets)) {
        store_changes_free(changes, n_changes);
        return;
    }
    store_changes_free(changes, n_changes);
    if (waits) {
        /* the build due when the reload may be made takes these changes */
        if (!c->change_at)
            c->change_at = c->pass_change_at;
        pass_done(c);
        return;
    }
    /* what a build is compared with: the running model's rendering */
    write_running(c);
    t0 = uv_hrtime();
    if (c->kube)
        ctl_drop_secret_data(c);
    m = model_build(&c->store, &c->mopts);
    keep_lookups(c, m);
    t1 = uv_hrtime();
    if (c->kube && ctl_fetch_wanted_secrets(c, m)) {
        /* built again once the data is back: the change waits with it */
        if (!c->change_at)
            c->change_at = c->pass_change_at;
        model_unref(m);
        pass_done(c);
        return;
    }
    /* the builder's tables are gone: their pages go back before the
     * rendering takes its own */
    xtrim();
    log_issues(c, m);
    spared = ctl_use_spares(c, m);
again:
    o = c->ropts;
    ret = render_memo(c, m, &o, &r, &err);
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
    unchanged = (c->ready || c->hap.running) && r.hash == c->running.hash && !c->reload_next;
    if (unchanged || r.hash == c->rejected_hash) {
        if (unchanged) {
            log_debug("ctl", "configuration unchanged; nothing to do");
            c->in_step = true;
        }
        rendered_free(&r);
        forget_memo(c); /* which would keep <m> */
        model_unref(m);
        pass_done(c);
        return;
    }
    if (!retried && fault_hit("render")) {
        /* the same rendering with an invalid line */
        rendered_free(&r);
        c->ropts.fault = true;
        render(m, &c->ropts, &r, NULL);
    }
    c->pending_gen = c->gen + 1;
    plan_gen_set(&c->pending, m, &r);
    plan_make(&c->running, &c->pending, c->ready && c->hap.serving, &r, &plan);
    if (c->reload_next && !c->ropts.fault) {
        /* counted by its own kind too: a backend that was to run in a spare
         * is planned as a new one now */
        if (!plan.reload) {
            plan.reload = c->reload_next;
            plan.why = c->reload_next_why;
        }
        plan.n_why[c->reload_next_why]++;
    }
    if (plan.reload && spared && !c->ropts.fault) {
        /* a reload all the same: every backend under its own name, as a
         * fresh start would have them */
        log_debug("ctl", "spare backends save no reload: %s", plan.reload);
        plan_free(&plan);
        rendered_free(&r);
        model_unref(m);
        m = model_build(&c->store, &c->mopts);
        keep_lookups(c, m);
        spared = 0;
        retried = true;
        goto again;
    }
    model_unref(m);
    if (c->ropts.fault) {
        plan.reload = "fault injection";
        plan.why = PLAN_WHY_OTHER;
    }
    /* a fault injected into this rendering would not be made again: this
     * generation itself waits, in check_and_load() */
    if (plan.reload && !c->ropts.fault && reload_waits(c, &plan)) {
        plan_free(&plan);
        rendered_free(&r);
        plan_gen_free(&c->pending);
        pass_done(c);
        return;
    }
    if (!plan.reload) {
        c->pass_t[0] = t0;
        c->pass_t[1] = t1;
        c->pass_t[2] = t2;
        apply_updates(c, &plan, &r);
        return;
    }
    ret = ctl_write_generation(c, &r, c->pending_gen, &err);
    log_debug("ctl", "generation %u: model %.1f ms, render %.1f ms, files %.1f ms",
              c->pending_gen, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
              (double)(uv_hrtime() - t2) / 1e6);
    if (ret) {
        plan_free(&plan);
        rendered_free(&r);
        log_err("ctl", "cannot write generation %u: %s; trying again in %u ms", c->pending_gen,
                err, CTL_RETRY_MS);
        free(err);
        pass_again(c, CTL_RETRY_MS);
        return;
    }
    c->reload_next = NULL;
    rendered_free(&r);
    log_debug("ctl", "generation %u written; reloading: %s", c->pending_gen, plan.reload);
    check_and_load(c, plan.why, plan.n_why, plan.reload);
    plan_free(&plan);
}

static void on_first_start(struct hap *h, bool ok, const char *msg, void *arg);

static void on_start_checked(enum hap_check res, const char *output, void *arg)
{
    struct ctl *c = arg;

    if (c->stopping)
        return;
    if (res != HAP_CHECK_REFUSED) {
        /* not the configuration (a port in use...): keep trying it */
        log_err("haproxy", "configuration generation %u not loaded: haproxy exited at start",
                c->pending_gen);
        count_reload(c, false);
        hap_schedule_restart(&c->hap, on_first_start, c);
        pass_done(c);
        return;
    }
    /* as if haproxy -c had refused the generation first */
    ctl_revert_current(c);
    on_checked(HAP_CHECK_REFUSED, output, c);
}

/* HAProxy did not start on a generation no haproxy -c had checked: ask it
 * whether the configuration is at fault (then it is refused like any other)
 * or something else is (then HAProxy is started again with backoff). */
static void on_first_start(struct hap *h, bool ok, const char *msg, void *arg)
{
    struct ctl *c = arg;
    char *dir;

    if (ok || c->stopping) {
        on_loaded(h, ok, msg, arg);
        return;
    }
    hap_cancel_restart(&c->hap);
    log_warn("haproxy", "haproxy did not start on generation %u (%s); checking it", c->pending_gen,
             msg);
    dir = ctl_gen_dir(c, c->pending_gen);
    hap_check(c->loop, c->opts->haproxy_bin, dir, on_start_checked, c);
    free(dir);
}

/* Validates the pending generation with haproxy -c, then loads it; <reason>
 * (static, or in the pending model's arena) says why, <why> is the kind of
 * its first reason and <n_why> counts its reasons by kind (NULL: one, of
 * kind <why>). The first
 * start skips the check: nothing serves yet, and HAProxy checks the
 * configuration as it starts. Checking first would parse every certificate
 * twice, 0.8 s more with 1,000 of them before the first request is served. */
static void check_and_load(struct ctl *c, enum plan_why why, const uint32_t *n_why,
                           const char *reason)
{
    uint64_t wait;
    char *dir;

    c->reload_reason = reason;
    c->reload_why = why;
    if (!n_why) {
        memset(c->reload_n_why, 0, sizeof(c->reload_n_why));
        c->reload_n_why[why] = 1;
    } else if (n_why != c->reload_n_why) {
        memcpy(c->reload_n_why, n_why, sizeof(c->reload_n_why));
    }
    c->reload_start = uv_hrtime();
    if (!c->hap.running && !c->ready && !hap_restart_pending(&c->hap)) {
        if (ctl_make_current(c)) {
            pass_done(c);
            return;
        }
        hap_start(&c->hap, on_first_start, c);
        return;
    }
    /* a reload that no pass planned (a Runtime API update failed) waits
     * too, with its generation: there is nothing to gather */
    wait = plan_reload_wait(why, uv_now(c->loop), c->last_reload_ms,
                            c->opts->min_reload_interval_ms);
    if (wait) {
        c->m_reloads_delayed++;
        log_debug("ctl", "reload in %llu ms (--min-reload-interval): %s",
                  (unsigned long long)wait, reason);
        uv_timer_start(&c->reload_timer, on_reload_due, wait, 0);
        return;
    }
    dir = ctl_gen_dir(c, c->pending_gen);
    hap_check(c->loop, c->opts->haproxy_bin, dir, on_checked, c);
    free(dir);
}

static void on_reload_due(uv_timer_t *t)
{
    struct ctl *c = t->data;

    if (!c->stopping)
        check_and_load(c, c->reload_why, c->reload_n_why, c->reload_reason);
}

static void on_debounce(uv_timer_t *t)
{
    struct ctl *c = t->data;

    /* never render from a partial cache: an empty store is not an empty cluster */
    if (c->stopping || !c->synced)
        return;
    if (c->busy || c->del_running || c->drift_running) {
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

/* Passes begin at least --debounce apart: a change after a quiet spell is
 * applied at the next turn of the loop, with whatever that turn read; the
 * changes that follow wait for the rest of the interval and go together. */
static void schedule(struct ctl *c)
{
    uint64_t due = c->pass_began + c->opts->debounce_ms, now = uv_now(c->loop);

    if (!c->change_at)
        c->change_at = uv_hrtime();
    if (c->busy) {
        c->dirty = true;
        return;
    }
    if (!uv_is_active((uv_handle_t *)&c->debounce))
        uv_timer_start(&c->debounce, on_debounce, due > now ? due - now : 0, 0);
}

void ctl_schedule(struct ctl *c)
{
    c->must_build = true;
    schedule(c);
}

void ctl_schedule_routes(struct ctl *c)
{
    schedule(c);
}

/* Adds the <n> hashes of <add> to the <*n_v> of <v>, each once; past
 * CTL_PATCH_SVCS, the next pass builds. */
static void add_hashes(struct ctl *c, uint64_t v[CTL_PATCH_SVCS], size_t *n_v,
                       const uint64_t *add, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;

        while (k < *n_v && v[k] != add[i])
            k++;
        if (k < *n_v)
            continue;
        if (k == CTL_PATCH_SVCS)
            c->must_build = true;
        else
            v[(*n_v)++] = add[i];
    }
}

void ctl_schedule_endpoints(struct ctl *c, const uint64_t *svcs, size_t n)
{
    add_hashes(c, c->patch_svcs, &c->n_patch_svcs, svcs, n);
    schedule(c);
}

void ctl_schedule_secrets(struct ctl *c, const uint64_t *secrets, size_t n)
{
    add_hashes(c, c->patch_secrets, &c->n_patch_secrets, secrets, n);
    schedule(c);
}

/* A change of the manifests: as the informers' in cluster mode, endpoints
 * alone patch the running model, Ingresses alone reroute it and Secrets
 * alone give it their certificates. */
static void on_source_changed(const struct manifests_change *ch, void *arg)
{
    struct ctl *c = arg;

    if (ch->others)
        ctl_schedule(c);
    if (ch->n_svcs)
        ctl_schedule_endpoints(c, ch->svcs, ch->n_svcs);
    if (ch->n_secrets)
        ctl_schedule_secrets(c, ch->secrets, ch->n_secrets);
    if (ch->ingresses)
        ctl_schedule_routes(c);
}

static void on_haproxy_restarted(struct hap *h, void *arg)
{
    struct ctl *c = arg;

    (void)h;
    /* HAProxy restarts from the last good configuration: current/, with
     * the endpoints of the patches applied since it was written (a pass in
     * flight reloads when its updates fail, or writes them: patch_applied()) */
    if (!c->busy)
        write_running(c);
    log_info("ctl", "haproxy will restart from generation %u", c->gen);
    del_wait_clear(c);
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
    char *backends = xasprintf("%s/" RENDER_BACKENDS_DIR, c->current_link);
    bool exists = access(cfg, R_OK) == 0;

    /* a generation of an older Portico has no such directory: HAProxy is
     * given it all the same */
    if (exists && mkdir(backends, 0700) == -1 && errno != EEXIST)
        log_warn("ctl", "cannot create %s: %s", backends, strerror(errno));
    free(cfg);
    free(backends);
    if (exists && c->gen)
        hap_start(&c->hap, on_last_good, c);
}

/* Once HAProxy has stopped, requests to the API server still in flight
 * (the Lease given up, for the next replica to lead at once) get a while
 * to end. */
static void on_drain_tick(uv_timer_t *t)
{
    struct ctl *c = t->data;

    if (kube_client_busy(c->kube) && uv_now(c->loop) < c->drain_until) {
        uv_timer_start(t, on_drain_tick, 10, 0);
        return;
    }
    uv_stop(c->loop);
}

static void on_stopped(struct hap *h, bool ok, const char *msg, void *arg)
{
    struct ctl *c = arg;

    (void)h;
    (void)ok;
    (void)msg;
    c->drain_until = uv_now(c->loop) + CTL_API_DRAIN_MS;
    on_drain_tick(&c->debounce);
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
    ctl_cluster_stop(c);
    uv_timer_stop(&c->debounce);
    uv_timer_stop(&c->del_timer);
    uv_timer_stop(&c->reload_timer);
    uv_timer_stop(&c->build_timer);
    uv_timer_stop(&c->writeback);
    ctl_drift_stop(c);
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

/* The ports Portico and HAProxy listen on, which no TCP service may take. */
static void set_own_ports(struct ctl *c, const struct opts *o)
{
    const int ports[] = {o->disable_http ? 0 : o->http_port, o->disable_https ? 0 : o->https_port,
                         o->stats_port, o->healthz_port, o->controller_port};

    c->mopts.n_own_ports = 0;
    for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
        if (ports[i] > 0)
            c->own_ports[c->mopts.n_own_ports++] = (uint16_t)ports[i];
    }
    c->mopts.own_ports = c->own_ports;
}

/* <probe>: check the host can listen on IPv6 (not when only rendering). */
static void setup_opts(struct ctl *c, const struct opts *o, bool probe)
{
    c->mopts.ingress_class = o->ingress_class;
    c->mopts.controller_name = o->controller_name;
    c->mopts.watch_without_class = o->watch_without_class;
    c->mopts.snippets = o->enable_snippets;
    c->mopts.refused_snippets = &c->refused_snippets;
    c->mopts.default_backend_svc = o->default_backend_service;
    c->mopts.default_ssl_cert = o->default_ssl_certificate;
    c->mopts.configmap = o->configmap;
    c->mopts.configmap_errorfiles = o->configmap_errorfiles;
    c->mopts.configmap_tcp_services = o->configmap_tcp_services;
    c->mopts.spare_backends = o->spare_backends;
    set_own_ports(c, o);
    c->mopts.fallback_cert_pem = c->fallback_pem;
    c->ropts.runtime_dir = o->runtime_dir;
    c->ropts.ipv4_addr = o->disable_ipv4 ? NULL : o->ipv4_addr;
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
    char *err = NULL;
    int ret = 1;

    c->loop = uv_default_loop();
    c->opts = o;
    /* backoff jitter: replicas restarted together must not retry in step */
    srandom((unsigned)time(NULL) ^ ((unsigned)getpid() << 16));
    store_init(&c->store);
    hmap_init(&c->issues_seen);
    hmap_init(&c->refused_snippets);
    hmap_init(&c->fetching);
    hmap_init(&c->fetch_retry);
    hmap_init(&c->del_wait);
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
    fault_init();
    c->mopts.tls_cache = tls_cache_new();
    c->gen = ctl_scan_generations(o->config_dir);
    c->current_link = xasprintf("%s/current", o->config_dir);
    c->next_cfg = xasprintf("%s/haproxy.cfg.next", o->config_dir);
    c->ropts.cfg_path = c->next_cfg;
    c->ropts.from_model = true;
    c->admin_sock = xasprintf("%s/admin.sock", o->runtime_dir);
    hap_init(&c->hap, c->loop, o->haproxy_bin, c->current_link, o->runtime_dir);
    c->hap.on_restart = on_haproxy_restarted;
    c->hap.restart_arg = c;
    uv_timer_init(c->loop, &c->debounce);
    c->debounce.data = c;
    uv_timer_init(c->loop, &c->tidy_timer);
    c->tidy_timer.data = c;
    uv_timer_init(c->loop, &c->del_timer);
    c->del_timer.data = c;
    uv_timer_init(c->loop, &c->reload_timer);
    c->reload_timer.data = c;
    uv_timer_init(c->loop, &c->build_timer);
    c->build_timer.data = c;
    uv_timer_init(c->loop, &c->writeback);
    c->writeback.data = c;
    ctl_drift_start(c);
    if (httpd_start(&c->http, c->loop, o->ipv4_addr, o->controller_port, ctl_http, c)) {
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
        /* an Ingress as it was, for a pass that builds again its hosts' routes alone */
        store_track(&c->store, K8S_INGRESS);
        c->src = manifests_watch(c->loop, o->manifests, &c->store, on_source_changed, c, &err);
        if (!c->src) {
            log_err("source", "cannot read manifests: %s", err);
            goto out_loop;
        }
        log_info("ctl", "file mode: %zu ingresses, %zu services read from %s",
                 store_count(&c->store, K8S_INGRESS), store_count(&c->store, K8S_SERVICE),
                 o->manifests);
        c->synced = true;
        ctl_schedule(c);
    } else if (ctl_cluster_start(c, o)) {
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
    ctl_cluster_free(c);
    hap_close(&c->hap);
    uv_walk(c->loop, close_walk, NULL);
    uv_run(c->loop, UV_RUN_DEFAULT);
    uv_loop_close(c->loop);
out:
    free(err);
    store_deinit(&c->store);
    hmap_deinit(&c->issues_seen);
    hmap_deinit(&c->del_wait);
    {
        size_t iter = 0;
        const char *k;
        void *v;

        while (hmap_next(&c->refused_snippets, &iter, &k, &v))
            free(v);
        hmap_deinit(&c->refused_snippets);
    }
    free(c->fallback_pem);
    tls_cache_free(c->mopts.tls_cache);
    free(c->current_link);
    free(c->next_cfg);
    free(c->admin_sock);
    free(c->rt_kinds);
    model_lookups_free(&c->lookups);
    rendered_free(&c->rt_r);
    for (int i = 0; i < MODEL_MAP_COUNT; i++)
        free(c->drift_fix[i]);
    kube_config_free(&c->kc);
    plan_gen_free(&c->running);
    model_unref(c->memo_model);
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
    if (o->output_dir) {
        /* given to HAProxy even when it holds no file */
        char *backends = xasprintf("%s/" RENDER_BACKENDS_DIR, o->output_dir);

        if (file_mkdirs(backends, 0700, &err)) {
            log_err("render", "%s", err);
            FREE_NULL(err);
            ret = 1;
        }
        free(backends);
    }
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
