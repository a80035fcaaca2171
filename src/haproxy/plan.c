/* SPDX-License-Identifier: Apache-2.0 */
/* The plan. HAProxy 2.6 can change at run time the contents of maps
 * (prepare/add/commit map, or single entries), certificates (new/set/commit
 * ssl cert), crt-list lines and servers (add/del server); everything else in
 * haproxy.cfg needs a reload. So a generation is compared as its
 * "structure" (haproxy.cfg without its server lines, and every file that is
 * not a part) plus its parts, its crt-list lines and its models' servers. */
#include "haproxy/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/hmap.h"
#include "util/shared.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PLAN_DEFAULT_CERT "certs/default.pem"

/* The client certificates of server-crt (model-t.h): parts, replaced at run
 * time. The CA files beside them are not: HAProxy 2.6 gives a CA file
 * committed at run time only to servers that also have a client
 * certificate, so a new CA reloads. */
#define PLAN_SERVER_CRT MODEL_SERVER_TLS_DIR "/crt-"

static bool is_server_crt(const char *name)
{
    size_t len = strlen(name);

    return str_has_prefix(name, PLAN_SERVER_CRT) && len > 4 && !strcmp(name + len - 4, ".pem");
}

bool plan_is_part(const char *name)
{
    size_t len = strlen(name);

    return (str_has_prefix(name, "maps/") && len > 4 && !strcmp(name + len - 4, ".map")) ||
           (str_has_prefix(name, "certs/") && len > 4 && !strcmp(name + len - 4, ".pem")) ||
           is_server_crt(name);
}

/* True for the certificate files the crt-list names (not the default one):
 * which of them exist is part of the crt-list, not of the structure. */
static bool is_listed_cert(const char *name)
{
    return str_has_prefix(name, "certs/") && plan_is_part(name) && strcmp(name, PLAN_DEFAULT_CERT);
}

void plan_gen_free(struct plan_gen *g)
{
    model_unref(g->model);
    for (size_t i = 0; i < g->n; i++)
        free(g->names[i]);
    free(g->names);
    free(g->hashes);
    free(g->crt_list);
    shared_unref(g->cfg.servers);
    memset(g, 0, sizeof(*g));
}

void plan_gen_move(struct plan_gen *dst, struct plan_gen *src)
{
    plan_gen_free(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

void plan_gen_set(struct plan_gen *g, struct model *m, const struct rendered *r)
{
    uint64_t h = HASH_FNV1A_INIT;

    plan_gen_free(g);
    g->model = model_ref(m);
    g->hash = r->hash;
    g->rest_hash = r->rest_hash;
    g->names = xcalloc(r->n_files + 1, sizeof(*g->names));
    g->hashes = xcalloc(r->n_files + 1, sizeof(*g->hashes));
    for (size_t i = 0; i < r->n_files; i++) {
        const struct render_file *f = &r->files[i];

        if (!strcmp(f->name, RENDER_CRT_LIST)) {
            g->crt_list = xstrndup(f->data, f->len);
            continue;
        }
        if (!is_listed_cert(f->name))
            h = hash_fold(h, hash_fnv1a(f->name, strlen(f->name)));
        if (plan_is_part(f->name)) {
            g->names[g->n] = xstrdup(f->name);
            g->hashes[g->n++] = f->hash;
            continue;
        }
        /* server lines are compared on the models, and changed at run time */
        if (!f->cfg)
            h = hash_fold(h, f->hash);
    }
    g->structure = hash_fold(h, r->cfg.shape);
    g->cfg = r->cfg;
    shared_ref(g->cfg.servers);
}

void plan_gen_patched(struct plan_gen *g, const struct plan_gen *from, struct model *m)
{
    plan_gen_free(g);
    g->model = model_ref(m);
    g->structure = from->structure;
    g->names = xcalloc(from->n + 1, sizeof(*g->names));
    g->hashes = xcalloc(from->n + 1, sizeof(*g->hashes));
    for (size_t i = 0; i < from->n; i++) {
        g->names[i] = xstrdup(from->names[i]);
        g->hashes[i] = from->hashes[i];
    }
    g->n = from->n;
    g->crt_list = from->crt_list ? xstrdup(from->crt_list) : NULL;
    g->cfg = from->cfg;
    shared_ref(g->cfg.servers);
    g->cfg_changed = from->cfg_changed;
    g->rest_hash = from->rest_hash;
    g->parts_changed = from->parts_changed;
}

/* ====== Building the plan ====== */

/* The plan being made: the updates in their groups, applied in this order.
 * Servers are added before any route leads to them and removed after the
 * last one has gone; a map that gains keys is committed before one that
 * only loses some, so that a path moving from one map to another is in
 * both for a moment, never in neither. */
struct planner {
    const struct plan_gen *a, *b; /* running, pending */
    struct arena *ar;             /* the pending model's */
    struct rendered *r;
    struct updates {
        struct rt_update *v;
        size_t n, cap;
    } certs, relist, servers_added, hosts_first, maps, hosts_last, maps_late, servers_removed,
        late;
    struct hmap added;            /* new certificate file -> its crt-list line */
    struct hmap loaded;           /* client certificates (server-crt) loaded by the updates */
    const char *reload;           /* the first reason, or NULL: no reload */
    enum plan_why why;
    const char *shown[PLAN_REASONS_SHOWN]; /* the first reasons */
    size_t n_reasons;
    uint32_t n_why[PLAN_WHY_COUNT];
};

static void push(struct updates *l, enum rt_kind kind, const char *name, const char *content,
                 const char *line)
{
    l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof(*l->v));
    l->v[l->n++] = (struct rt_update){kind, name, content, line, false};
}

const char *plan_why_name(enum plan_why w)
{
    static const char *const names[PLAN_WHY_COUNT] = {
        "none",  "start",          "backends", "settings", "certificates", "runtime_failed",
        "other", "static_cookies",
    };

    return (unsigned)w < PLAN_WHY_COUNT ? names[w] : "other";
}

uint64_t plan_reload_wait(enum plan_why why, uint64_t now_ms, uint64_t last_ms,
                          uint64_t interval_ms)
{
    if (why == PLAN_WHY_START || !last_ms || now_ms >= last_ms + interval_ms)
        return 0;
    /* never longer than the interval, even for a clock before the last reload */
    return now_ms < last_ms ? interval_ms : last_ms + interval_ms - now_ms;
}

/* A reload is needed, for one more reason: every one is counted, the first
 * ones kept for the log, so that a reload that gathers several changes
 * names them (reasons()). */
static void need_reload(struct planner *p, enum plan_why why, const char *text)
{
    if (p->n_reasons < PLAN_REASONS_SHOWN)
        p->shown[p->n_reasons] = text;
    p->n_reasons++;
    p->n_why[why]++;
    if (p->reload)
        return;
    p->reload = text;
    p->why = why;
}

/* Fills <out>'s reload fields from the reasons found: one is its text, more
 * are joined in the pending model's arena. */
static void reasons(struct planner *p, struct plan *out)
{
    out->reload = p->reload;
    out->why = p->why;
    memcpy(out->n_why, p->n_why, sizeof(out->n_why));
    if (p->n_reasons < 2)
        return;
    out->reload = p->shown[0];
    for (size_t i = 1; i < p->n_reasons && i < PLAN_REASONS_SHOWN; i++)
        out->reload = arena_printf(p->ar, "%s, %s", out->reload, p->shown[i]);
    if (p->n_reasons > PLAN_REASONS_SHOWN)
        out->reload = arena_printf(p->ar, "%s and %zu more", out->reload,
                                   p->n_reasons - PLAN_REASONS_SHOWN);
}

/* The text of backend <name> added: it may have run in a spare until now. */
static const char *added(struct planner *p, const char *name)
{
    size_t n;
    struct model_backend *const *spares = model_spares(p->a->model, &n);

    for (size_t i = 0; i < n; i++) {
        if (spares[i]->origin && !strcmp(spares[i]->origin, name))
            return arena_printf(p->ar, "backend %s out of spare %s", name, spares[i]->name);
    }
    return arena_printf(p->ar, "backend %s added", name);
}

/* Why the structures differ, as far as the backends tell: each one added or
 * removed, named; else settings outside the backends. */
static void structure_changed(struct planner *p)
{
    const struct model *a = p->a->model, *b = p->b->model;
    size_t i = 0, j = 0, found = 0;
    bool named;

    while (i < a->n_backends || j < b->n_backends) {
        int cmp = i == a->n_backends   ? 1
                  : j == b->n_backends ? -1
                                       : strcmp(a->backends[i]->name, b->backends[j]->name);

        /* named only while the log shows them: thousands are counted */
        named = p->n_reasons < PLAN_REASONS_SHOWN;
        if (cmp < 0)
            need_reload(p, PLAN_WHY_BACKENDS,
                        named ? arena_printf(p->ar, "backend %s removed", a->backends[i]->name)
                              : NULL);
        else if (cmp > 0)
            need_reload(p, PLAN_WHY_BACKENDS, named ? added(p, b->backends[j]->name) : NULL);
        found += cmp != 0;
        if (cmp <= 0)
            i++;
        if (cmp >= 0)
            j++;
    }
    if (!found)
        need_reload(p, PLAN_WHY_SETTINGS,
                    "global, defaults, frontend or backend settings changed");
}

/* True when backends <a> and <b> have the same servers. */
static bool servers_equal(const struct model_backend *a, const struct model_backend *b)
{
    if (a->n_servers != b->n_servers)
        return false;
    for (size_t i = 0; i < a->n_servers; i++) {
        struct model_server sa = model_backend_server(a, i), sb = model_backend_server(b, i);

        if (model_server_cmp(&sa, &sb))
            return false;
    }
    return true;
}

/* One list of servers of a backend: its servers, or its backups. */
struct srv_list {
    const struct model_backend *be;
    bool backup;
    uint32_t n;
};

static struct model_server list_server(const struct srv_list *l, size_t i)
{
    return l->backup ? model_backend_backup(l->be, i) : model_backend_server(l->be, i);
}

/* The updates of pass <pass> (0: additions, 1: removals) that turn list
 * <la> of the running backend into <lb> of the pending one. False when a
 * reload is needed instead. */
static bool list_updates(struct planner *p, const struct srv_list *la, const struct srv_list *lb,
                         int pass, struct buf *words)
{
    const struct model_backend *bb = lb->be;
    size_t x = 0, y = 0;

    while (x < la->n || y < lb->n) {
        struct model_server sa = {0}, sb = {0};
        const struct model_server *sv;
        char name[MODEL_SERVER_NAME_MAX];
        int cmp;

        if (x < la->n)
            sa = list_server(la, x);
        if (y < lb->n)
            sb = list_server(lb, y);
        cmp = x == la->n ? 1 : y == lb->n ? -1 : model_server_cmp(&sa, &sb);
        sv = cmp < 0 ? &sa : &sb;
        if (cmp == 0) {
            x++;
            y++;
            continue;
        }
        cmp < 0 ? x++ : y++;
        if ((cmp > 0) != (pass == 0))
            continue;
        model_server_name(sv, name, sizeof(name));
        buf_reset(words);
        if (lb->backup ? render_backup_words(words, sv, true)
                       : render_server_words(words, bb, sv, true)) {
            need_reload(p, PLAN_WHY_OTHER, "a server's keywords do not fit a Runtime API command");
            return false;
        }
        push(cmp > 0 ? &p->servers_added : &p->servers_removed,
             cmp > 0 ? RT_SERVER_ADD : RT_SERVER_DEL,
             arena_printf(p->ar, "%s/%s%s", bb->name, lb->backup ? MODEL_BACKUP_PREFIX : "",
                          name),
             arena_strndup(p->ar, words->ptr, words->len),
             cmp > 0 && bb->opts && bb->opts->cookie_persistence && !bb->opts->cookie_static
                 ? "dynamic-cookie"
                 : NULL);
    }
    return true;
}

/* Loads (or replaces) client certificate <file> of the pending rendering
 * before the servers are added, once per plan. */
static void load_server_crt(struct planner *p, const char *file)
{
    if (hmap_get(&p->loaded, file))
        return;
    for (size_t i = 0; i < p->r->n_files; i++) {
        struct render_file *f = &p->r->files[i];

        if (!strcmp(f->name, file)) {
            hmap_put(&p->loaded, file, (void *)1);
            push(&p->certs, RT_SERVER_CERT, f->name, render_file_data(f, p->b->model), NULL);
            return;
        }
    }
}

/* The indexes of the backends whose servers <a> and <b> may not share, sorted,
 * in <n>: when both are patches of one build (model_patch()), those either
 * patched, since the others hold the build's; else NULL and every index.
 * At 10,000 backends, a loop over all of them was most of an endpoint
 * change's plan. */
static uint32_t *maybe_changed(const struct model *a, const struct model *b, size_t *n)
{
    const struct model *ra = a->base ? a->base : a, *rb = b->base ? b->base : b;
    uint32_t *v;
    size_t i = 0, j = 0;

    *n = a->n_backends;
    if (ra != rb)
        return NULL;
    v = xmalloc((a->n_patched + b->n_patched + 1) * sizeof(*v));
    *n = 0;
    while (i < a->n_patched || j < b->n_patched) {
        uint32_t x = i < a->n_patched ? a->patched[i] : UINT32_MAX;
        uint32_t y = j < b->n_patched ? b->patched[j] : UINT32_MAX;
        uint32_t lo = x < y ? x : y;

        v[(*n)++] = lo;
        i += x == lo;
        j += y == lo;
    }
    return v;
}

/* The server additions (first, so a backend never runs empty while
 * endpoints are replaced) and removals that turn the running model's
 * servers (and backup servers) into the pending model's; an update's
 * content is what follows the server's name on its line in haproxy.cfg. */
static void server_updates(struct planner *p)
{
    const struct model *a = p->a->model, *b = p->b->model;
    struct buf words; /* a server's address and keywords */
    uint32_t *idx;
    size_t n;

    if (a->n_backends != b->n_backends) {
        structure_changed(p);
        return;
    }
    idx = maybe_changed(a, b, &n);
    buf_init(&words, 4096);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < n; k++) {
            size_t i = idx ? idx[k] : k;
            const struct model_backend *ba = a->backends[i], *bb = b->backends[i];
            struct srv_list la = {ba, false, ba->n_servers}, lb = {bb, false, bb->n_servers};
            struct srv_list ka = {ba, true, ba->n_backups}, kb = {bb, true, bb->n_backups};

            if (ba->name != bb->name && strcmp(ba->name, bb->name)) {
                structure_changed(p);
                goto out;
            }
            /* a backend model_patch() left as it was */
            if (ba->servers == bb->servers && ba->n_servers == bb->n_servers &&
                ba->backups == bb->backups && ba->n_backups == bb->n_backups)
                continue;
            /* "add server" refuses "cookie": the fixed cookies of
             * cookie-persistence-no-dynamic come with a reload */
            if (bb->opts && bb->opts->cookie_static && !servers_equal(ba, bb)) {
                if (pass == 1)
                    continue;
                need_reload(p, PLAN_WHY_STATIC_COOKIES,
                            p->n_reasons < PLAN_REASONS_SHOWN
                                ? arena_printf(p->ar,
                                               "servers of %s changed, whose cookies are "
                                               "static (cookie-persistence-no-dynamic)",
                                               bb->name)
                                : NULL);
                continue;
            }
            if (!list_updates(p, &la, &lb, pass, &words) ||
                !list_updates(p, &ka, &kb, pass, &words))
                goto out;
        }
    }
out:
    buf_free(&words);
    free(idx);
}

/* Indexes the lines of crt-list <text> by certificate file (first word). */
static void index_crt_list(struct hmap *idx, char *text)
{
    for (char *l = text; l && *l;) {
        char *eol = strchr(l, '\n'), *sp;

        if (eol)
            *eol = '\0';
        sp = strchr(l, ' ');
        if (sp)
            *sp = '\0';
        hmap_put(idx, l, sp ? sp + 1 : (char *)"");
        l = eol ? eol + 1 : NULL;
    }
}

/* The crt-list lines that differ: certificates added (their lines in
 * p->added, for their files' updates), certificates whose host names
 * changed (a new line after the certificates' updates, the old one removed
 * late) and certificates
 * removed (late, after the line removals). A certificate listed without
 * host names of its own, now or before, needs a reload: it would serve
 * every name it holds, and a line added at run time would not keep the
 * file's order. */
static void crt_list_updates(struct planner *p)
{
    char *a = xstrdup(p->a->crt_list ? p->a->crt_list : "");
    char *b = xstrdup(p->b->crt_list ? p->b->crt_list : "");
    struct hmap ia, ib;
    const char *file;
    void *v;

    hmap_init(&ia);
    hmap_init(&ib);
    index_crt_list(&ia, a);
    index_crt_list(&ib, b);
    for (size_t i = 0; hmap_next(&ib, &i, &file, &v);) {
        const char *was = hmap_get(&ia, file), *line;

        if (was && !strcmp(was, v))
            continue;
        if (!*(const char *)v || (was && !*was)) {
            need_reload(p, PLAN_WHY_CERTIFICATES,
                        p->n_reasons < PLAN_REASONS_SHOWN
                            ? arena_printf(p->ar, "%s is listed without host names", file)
                            : NULL);
            continue;
        }
        line = arena_printf(p->ar, "%s %s", file, (const char *)v);
        if (!was) {
            hmap_put(&p->added, file, (void *)line);
        } else {
            push(&p->relist, RT_CERT_RELIST, arena_strdup(p->ar, file), NULL, line);
            push(&p->late, RT_CERT_UNLIST, arena_strdup(p->ar, file), NULL, NULL);
        }
    }
    for (size_t i = 0; !p->reload && hmap_next(&ia, &i, &file, &v);) {
        if (!hmap_get(&ib, file))
            push(&p->late, RT_CERT_DEL, arena_strdup(p->ar, file), NULL, NULL);
    }
    hmap_deinit(&ia);
    hmap_deinit(&ib);
    free(a);
    free(b);
}

/* True when map <m> of <b> has a key <a> has not. */
static bool map_gains(const struct model *a, const struct model *b, enum model_map m)
{
    size_t x = 0;

    for (size_t y = 0; y < b->n_maps[m]; y++) {
        size_t same = model_entries_shared(a->maps[m] + x, a->n_maps[m] - x, b->maps[m] + y,
                                           b->n_maps[m] - y);
        int cmp = 1;

        x += same;
        y += same;
        if (y == b->n_maps[m])
            break;
        /* a patch shares most keys with the model it was made from */
        while (x < a->n_maps[m] &&
               (cmp = a->maps[m][x].key == b->maps[m][y].key
                          ? 0
                          : strcmp(a->maps[m][x].key, b->maps[m][y].key)) < 0)
            x++;
        if (x == a->n_maps[m] || cmp > 0)
            return true;
        x++; /* keys are unique: b's next is above this one */
    }
    return false;
}

/* Where the update of map <f> goes. A host's paths are keyed by the host
 * that hosts.map (or wildcards.map) gives: a host added last finds its
 * paths there, one removed first sends its requests where they now belong
 * at once; either way no request meets a host without its paths. Of the
 * other maps, those that only lose keys come last (struct planner). */
static struct updates *map_group(struct planner *p, const struct render_file *f)
{
    bool gains = map_gains(p->a->model, p->b->model, (enum model_map)f->map);

    if (f->map != MODEL_MAP_HOSTS && f->map != MODEL_MAP_WILDCARDS)
        return gains ? &p->maps : &p->maps_late;
    return gains ? &p->hosts_last : &p->hosts_first;
}

/* The update that part <f>, the <k>-th of the pending generation, needs,
 * if any; <running> maps the running parts' names to their index + 1. */
static void part_update(struct planner *p, struct render_file *f, size_t k,
                        const struct hmap *running)
{
    uintptr_t was = (uintptr_t)hmap_get(running, f->name);
    struct buf cmds;

    if (is_server_crt(f->name)) {
        if (!was || p->b->hashes[k] != p->a->hashes[was - 1])
            load_server_crt(p, f->name);
        return;
    }
    if (!was) {
        /* a new certificate file: loaded, then listed */
        const char *line = hmap_get(&p->added, f->name);

        if (!line) {
            need_reload(p, PLAN_WHY_CERTIFICATES,
                        arena_printf(p->ar, "%s is not in the crt-list", f->name));
            return;
        }
        push(&p->certs, RT_CERT_ADD, f->name, render_file_data(f, p->b->model), line);
        return;
    }
    if (p->b->hashes[k] == p->a->hashes[was - 1])
        return;
    if (str_has_prefix(f->name, "certs/")) {
        push(&p->certs, RT_CERT, f->name, render_file_data(f, p->b->model), NULL);
        return;
    }
    /* one entry changed: that command alone; more: a new version of the
     * whole map, which alone switches atomically (runtime.h) */
    buf_init(&cmds, 1u << 20);
    if (f->map >= 0 &&
        rt_map_one_change(p->a->model, p->b->model, (enum model_map)f->map, f->name, &cmds) &&
        cmds.len)
        push(map_group(p, f), RT_COMMANDS, f->name, arena_strndup(p->ar, cmds.ptr, cmds.len),
             NULL);
    else /* the whole file, made only now */
        push(f->map >= 0 ? map_group(p, f) : &p->maps, RT_MAP, f->name,
             render_file_data(f, p->b->model), NULL);
    buf_free(&cmds);
}

/* The update groups of <p>, in the order they are applied (struct planner). */
#define PLAN_GROUPS 9
static void groups(struct planner *p, struct updates *v[PLAN_GROUPS])
{
    struct updates *order[PLAN_GROUPS] = {
        &p->certs, &p->relist, &p->servers_added, &p->hosts_first, &p->maps,
        &p->hosts_last, &p->maps_late, &p->servers_removed, &p->late,
    };

    memcpy(v, order, sizeof(order));
}

/* Puts the updates of every group of <p> in <out>, in that order. */
static void take_updates(struct planner *p, struct plan *out)
{
    struct updates *v[PLAN_GROUPS];
    size_t n = 1;

    groups(p, v);
    for (size_t i = 0; i < PLAN_GROUPS; i++)
        n += v[i]->n;
    out->u = xcalloc(n, sizeof(*out->u));
    for (size_t i = 0; i < PLAN_GROUPS; i++) {
        if (v[i]->n)
            memcpy(&out->u[out->n], v[i]->v, v[i]->n * sizeof(*v[i]->v));
        out->n += v[i]->n;
    }
}

static void planner_free(struct planner *p)
{
    struct updates *v[PLAN_GROUPS];

    groups(p, v);
    for (size_t i = 0; i < PLAN_GROUPS; i++)
        free(v[i]->v);
}

void plan_make(const struct plan_gen *running, const struct plan_gen *pending, bool serving,
               struct rendered *r, struct plan *out)
{
    struct planner p = {.a = running, .b = pending, .r = r};
    struct hmap parts; /* running part name -> index + 1 */
    size_t n_new = 0;

    memset(out, 0, sizeof(*out));
    if (!running->model || !serving) {
        out->reload = "haproxy does not serve a configuration";
        out->why = PLAN_WHY_START;
        out->n_why[PLAN_WHY_START] = 1;
        return;
    }
    p.ar = &pending->model->arena;
    if (running->structure != pending->structure) {
        structure_changed(&p);
        reasons(&p, out);
        return;
    }
    hmap_init(&parts);
    hmap_init(&p.added);
    hmap_init_borrowing(&p.loaded);
    for (size_t i = 0; i < running->n; i++)
        hmap_put(&parts, running->names[i], (void *)(uintptr_t)(i + 1));
    crt_list_updates(&p);
    for (size_t i = 0, k = 0; !p.reload && i < r->n_files; i++) {
        if (plan_is_part(r->files[i].name))
            part_update(&p, &r->files[i], k++, &parts);
    }
    /* every line the crt-list gains belongs to a certificate file just added */
    for (size_t i = 0; i < p.certs.n; i++)
        n_new += p.certs.v[i].kind == RT_CERT_ADD;
    if (!p.reload && p.added.used != n_new)
        need_reload(&p, PLAN_WHY_CERTIFICATES, "a crt-list line names no certificate file");
    if (!p.reload)
        server_updates(&p);
    if (!p.reload) {
        take_updates(&p, out);
        if (!out->n) /* the renderings differ, yet no part does */
            need_reload(&p, PLAN_WHY_OTHER,
                        "the configuration changed outside what the Runtime API updates");
    }
    reasons(&p, out);
    hmap_deinit(&parts);
    hmap_deinit(&p.added);
    hmap_deinit(&p.loaded);
    planner_free(&p);
}

void plan_make_servers(const struct plan_gen *running, const struct plan_gen *pending,
                       struct plan *out)
{
    struct planner p = {.a = running, .b = pending, .ar = &pending->model->arena};

    memset(out, 0, sizeof(*out));
    server_updates(&p);
    if (!p.reload)
        take_updates(&p, out);
    reasons(&p, out);
    planner_free(&p);
}

/* Keeps <data>, made for an update of <out>, until plan_free(). */
static void own(struct plan *out, char *data)
{
    out->owned = xgrow(out->owned, &out->cap_owned, out->n_owned + 1, sizeof(*out->owned));
    out->owned[out->n_owned++] = data;
}

/* The certificates of the pending model made from another parsed Secret
 * than the running one's (model_recert()): replaced, as a build's would be. */
static void cert_updates(struct planner *p, struct plan *out)
{
    const struct model *a = p->a->model, *b = p->b->model;

    for (size_t i = 0; i < b->n_certs; i++) {
        const struct model_cert *y = &b->certs[i], *x;
        struct render_file f = {.map = -1, .cert = y, .len = y->pem_len};

        /* a patch's array is a copy of its parent's: most are in place */
        x = i < a->n_certs && a->certs[i].file == y->file ? &a->certs[i]
                                                          : model_find_cert(a, y->file);
        if (!x || (x->tls == y->tls && x->pem == y->pem))
            continue;
        f.name = arena_printf(p->ar, "certs/%s", y->file);
        push(&p->certs, RT_CERT, f.name, render_file_data(&f, b), NULL);
        own(out, f.own);
    }
}

void plan_make_routes(const struct plan_gen *running, const struct plan_gen *pending,
                      struct plan *out)
{
    struct planner p = {.a = running, .b = pending, .ar = &pending->model->arena};
    const struct model *a = running->model, *b = pending->model;
    struct buf cmds;

    memset(out, 0, sizeof(*out));
    hmap_init(&p.added);
    if (strcmp(running->crt_list ? running->crt_list : "",
               pending->crt_list ? pending->crt_list : ""))
        crt_list_updates(&p);
    /* a reroute adds no certificate file */
    if (!p.reload && p.added.used)
        need_reload(&p, PLAN_WHY_CERTIFICATES, "a crt-list line names no certificate file");
    if (!p.reload && a->certs != b->certs)
        cert_updates(&p, out);
    /* the servers of the spares it filled (added to its patched backends),
     * before the routes to them */
    if (!p.reload && a->n_patched != b->n_patched)
        server_updates(&p);
    buf_init(&cmds, 1u << 20);
    for (int k = 0; !p.reload && k < MODEL_MAP_COUNT; k++) {
        struct render_file f = {.map = k};
        struct updates *to;

        if (a->maps[k] == b->maps[k] && a->n_maps[k] == b->n_maps[k])
            continue;
        f.name = arena_printf(p.ar, "maps/%s.map", model_map_name((enum model_map)k));
        buf_reset(&cmds);
        to = map_group(&p, &f);
        if (rt_map_one_change(a, b, (enum model_map)k, f.name, &cmds)) {
            if (cmds.len)
                push(to, RT_COMMANDS, f.name, arena_strndup(p.ar, cmds.ptr, cmds.len), NULL);
            continue;
        }
        /* more than one entry: a new version of the whole map */
        render_file_data(&f, b);
        push(to, RT_MAP, f.name, f.data, NULL);
        own(out, f.own);
    }
    buf_free(&cmds);
    if (!p.reload)
        take_updates(&p, out);
    reasons(&p, out);
    hmap_deinit(&p.added);
    planner_free(&p);
}

void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        /* the keys the plan made (cert_updates()), not a rendering's */
        for (size_t k = 0; p->u[i].kind == RT_CERT && k < p->n_owned; k++) {
            if (p->owned[k] == p->u[i].content)
                memset(p->owned[k], 0, strlen(p->owned[k]));
        }
    }
    for (size_t i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->u);
    memset(p, 0, sizeof(*p));
}
