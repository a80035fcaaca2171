/* SPDX-License-Identifier: Apache-2.0 */
/* Drift repair: after each reload and now and then, the servers and the maps
 * HAProxy runs are compared with those of the running model, and any
 * difference a Runtime API command made behind Portico's back (or a lost
 * update) is undone, so that HAProxy serves what a fresh start on the
 * written configuration would. Never at the same time as a pass, a reload
 * or the deletion retries. One step at a time: "show servers state" of as
 * many backends as a command line takes, again until each was compared, and
 * the servers' repair, then "show map" of each map, then the maps' repair. */

#include "ctl/ctl-int.h"

#include <stdlib.h>
#include <string.h>

#include "haproxy/mcli.h"
#include "haproxy/render.h"
#include "haproxy/runtime.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define DRIFT_TIMEOUT_MS 10000
#define DRIFT_LINE_MAX 12000 /* of "show servers state" commands: HAProxy's line is 16 kB */
#define SRV_ADMIN_FMAINT 0x1 /* srv_admin_state: put in maintenance by a command */

static void on_drift_timer(uv_timer_t *t);

static void arm(struct ctl *c)
{
    if (!c->stopping && c->drift_interval_ms)
        uv_timer_start(&c->drift_timer, on_drift_timer, c->drift_interval_ms, 0);
}

/* The end of a check, whatever it found: a pass that waited runs now. */
static void check_done(struct ctl *c)
{
    for (int i = 0; i < MODEL_MAP_COUNT; i++)
        FREE_NULL(c->drift_fix[i]);
    c->drift_running = false;
    /* what the listings and the repairs held */
    xtrim();
    arm(c);
    ctl_resume(c);
}

/* True when what the check read may be old already: a pass, a reload or a
 * restart of HAProxy began, or Portico stops. */
static bool interrupted(struct ctl *c)
{
    return c->stopping || !c->running.model || c->busy || c->hap.op != HAP_OP_NONE ||
           !c->hap.serving;
}

/* ====== Maps ====== */

static void next_map(struct ctl *c);

static void on_maps_repaired(const struct rt_result *res, void *arg)
{
    struct ctl *c = arg;

    if (!res->ok)
        log_warn("haproxy", "drift repair of the maps failed: %s; checked again later",
                 res->msg);
    check_done(c);
}

static void on_map_line(const char *line, size_t len, void *arg)
{
    struct ctl *c = arg;

    rt_map_check_line(&c->drift_check, line, len);
}

static void on_map(int status, const char *reply, void *arg)
{
    struct ctl *c = arg;
    const char *name = model_map_name((enum model_map)c->drift_map);
    struct render_file f = {.map = (int)c->drift_map};
    int diff = rt_map_check_end(&c->drift_check);
    bool stale = interrupted(c) || c->drift_model != c->running.model;

    (void)reply;
    model_unref(c->drift_model);
    c->drift_model = NULL;
    if (stale) {
        check_done(c);
        return;
    }
    if (status < 0) {
        /* a line too long, or the socket: the next check sees */
        log_debug("haproxy", "drift: show map maps/%s.map: %s", name, strerror(-status));
        c->drift_map++;
        next_map(c);
        return;
    }
    if (diff > 0) {
        log_warn("haproxy", "drift: map maps/%s.map differs from the running model (%d %s "
                            "missing, extra or changed): replaced",
                 name, diff, diff == 1 ? "entry" : "entries");
        /* the map as the written configuration has it */
        render_file_data(&f, c->running.model);
        c->drift_fix[c->drift_map] = f.own ? f.own : xstrdup("");
    }
    /* diff < 0: a map haproxy.cfg does not use (no such rule kind now) */
    c->drift_map++;
    next_map(c);
}

/* Lists the next map, or, after the last one, replaces those that differ,
 * each as one new version (prepare/add/commit map): requests never see a
 * map half repaired. */
static void next_map(struct ctl *c)
{
    struct rt_update u[MODEL_MAP_COUNT];
    char names[MODEL_MAP_COUNT][64], cmd[96];
    size_t n = 0;

    if (c->drift_map < MODEL_MAP_COUNT) {
        const struct model *m = c->running.model;

        snprintf(cmd, sizeof(cmd), "show map maps/%s.map",
                 model_map_name((enum model_map)c->drift_map));
        /* its maps stay as they are while the listing comes */
        c->drift_model = model_ref(c->running.model);
        rt_map_check_init(&c->drift_check, m->maps[c->drift_map], m->n_maps[c->drift_map]);
        mcli_send_lines(c->loop, c->admin_sock, cmd, DRIFT_TIMEOUT_MS, on_map_line, on_map, c);
        return;
    }
    for (int i = 0; i < MODEL_MAP_COUNT; i++) {
        if (!c->drift_fix[i])
            continue;
        snprintf(names[n], sizeof(names[n]), "maps/%s.map", model_map_name((enum model_map)i));
        u[n] = (struct rt_update){RT_MAP, names[n], c->drift_fix[i], NULL, false};
        n++;
    }
    if (!n) {
        log_debug("haproxy", "drift: the maps are as the running model has them");
        check_done(c);
        return;
    }
    c->m_drift[2] += n;
    /* rt_apply copies the updates */
    rt_apply(c->loop, c->admin_sock, u, n, on_maps_repaired, c);
}

static void check_maps(struct ctl *c)
{
    if (interrupted(c)) {
        check_done(c);
        return;
    }
    c->drift_map = 0;
    next_map(c);
}

/* ====== Servers ====== */

static void on_repaired(const struct rt_result *res, void *arg)
{
    struct ctl *c = arg;

    /* servers disabled with connections: deleted later, as a pass's are */
    ctl_del_wait_add(c, res->busy, res->n_busy);
    if (!res->ok) {
        log_warn("haproxy", "drift repair failed: %s; checked again later", res->msg);
        check_done(c);
        return;
    }
    check_maps(c);
}

/* One row of "show servers state": its backend, server and admin state;
 * the names point into the reply, with their lengths. */
struct srv_row {
    const char *backend, *server;
    unsigned backend_len, server_len;
    unsigned admin;
    bool seen;             /* a server of the model */
};

/* The rows of <reply> ("show servers state", format 1), in <rows>. Fields
 * are separated by one space; only the first seven are read. At 50,000
 * servers a check reads 6 MB of them. */
static size_t parse_state(const char *reply, struct srv_row **rows)
{
    size_t n = 0, cap = 0;

    *rows = NULL;
    for (const char *l = reply, *eol; *l; l = *eol ? eol + 1 : eol) {
        const char *f[7], *p = l;
        int k = 0;

        eol = strchr(l, '\n');
        if (!eol)
            eol = l + strlen(l);
        if (*l == '#')
            continue;
        while (k < 7 && p < eol) {
            f[k++] = p;
            while (p < eol && *p != ' ')
                p++;
            p++; /* past the space, or past eol: the loop ends */
        }
        if (k < 7)
            continue;
        *rows = xgrow(*rows, &cap, n + 1, sizeof(**rows));
        (*rows)[n] = (struct srv_row){f[1], f[3], (unsigned)(f[2] - f[1] - 1),
                                      (unsigned)(f[4] - f[3] - 1),
                                      (unsigned)strtoul(f[6], NULL, 10), false};
        n++;
    }
    return n;
}

static int cmp_rows(const struct srv_row *a, const char *name, size_t len)
{
    int d = memcmp(a->server, name, a->server_len < len ? a->server_len : len);

    return d ? d : (a->server_len > len) - (a->server_len < len);
}

static int cmp_row_server(const void *a, const void *b)
{
    const struct srv_row *y = b;

    return cmp_rows(a, y->server, y->server_len);
}

/* The row of server <name> among the <n> rows of one backend, sorted by
 * server name when there are more than a few. */
static struct srv_row *find_row(struct srv_row *rows, size_t n, const char *name)
{
    struct srv_row key = {.server = name, .server_len = (unsigned)strlen(name)};

    if (n > 8)
        return bsearch(&key, rows, n, sizeof(*rows), cmp_row_server);
    for (size_t i = 0; i < n; i++) {
        if (!cmp_rows(&rows[i], key.server, key.server_len))
            return &rows[i];
    }
    return NULL;
}

/* The servers' repairs found so far, over the backends compared. */
struct drift_servers {
    struct arena ar; /* the updates' strings */
    struct rt_update *u;
    size_t n, cap, added, removed;
};

static void servers_free(struct ctl *c)
{
    if (!c->drift_srv)
        return;
    arena_deinit(&c->drift_srv->ar);
    free(c->drift_srv->u);
    FREE_NULL(c->drift_srv);
}

/* Queues the repair of server <sv> of <be>, <name> in HAProxy, which has it
 * disabled (<again>) or not at all. */
static void repair_add(struct drift_servers *d, const struct model_backend *be,
                       const struct model_server *sv, bool backup, const char *name, bool again)
{
    struct buf words;
    int bad;

    buf_init(&words, 4096);
    bad = backup ? render_backup_words(&words, sv, true)
                 : render_server_words(&words, be, sv, true);
    if (!bad) {
        d->u = xgrow(d->u, &d->cap, d->n + 1, sizeof(*d->u));
        d->u[d->n++] = (struct rt_update){
            RT_SERVER_ADD, arena_printf(&d->ar, "%s/%s", be->name, name),
            arena_strndup(&d->ar, words.ptr, words.len),
            be->opts && be->opts->cookie_persistence && !be->opts->cookie_static
                ? "dynamic-cookie"
                : NULL,
            again};
        d->added++;
    }
    buf_free(&words);
}

/* Compares the running model's backends [first, end) with <rows>, the
 * servers HAProxy has in them, and adds the repairs to c->drift_srv. The
 * rows of a backend come together, in the order the backends were asked
 * for: a backend's are those at the cursor that name it. */
static void compare_servers(struct ctl *c, size_t first, size_t end, struct srv_row *rows,
                            size_t n_rows)
{
    const struct model *m = c->running.model;
    struct drift_servers *d = c->drift_srv;
    size_t at = 0;

    for (size_t i = first; i < end; i++) {
        const struct model_backend *be = m->backends[i];
        const size_t backup_len = sizeof(MODEL_BACKUP_PREFIX) - 1, name_len = strlen(be->name);
        struct srv_row *g = rows + at;
        size_t n = 0;

        while (at < n_rows && rows[at].backend_len == name_len &&
               !memcmp(rows[at].backend, be->name, name_len)) {
            at++;
            n++;
        }
        if (n > 8)
            qsort(g, n, sizeof(*g), cmp_row_server);
        /* the model's servers: each there and enabled */
        for (size_t j = 0; j < be->n_servers + be->n_backups; j++) {
            bool backup = j >= be->n_servers;
            struct model_server sv = backup ? model_backend_backup(be, j - be->n_servers)
                                            : model_backend_server(be, j);
            char name[sizeof(MODEL_BACKUP_PREFIX) + MODEL_SERVER_NAME_MAX];
            const char *key = backup ? name : name + backup_len;
            struct srv_row *r;

            memcpy(name, MODEL_BACKUP_PREFIX, backup_len);
            model_server_name(&sv, name + backup_len, MODEL_SERVER_NAME_MAX);
            r = find_row(g, n, key);
            if (r)
                r->seen = true;
            if (!r || (r->admin & SRV_ADMIN_FMAINT))
                repair_add(d, be, &sv, backup, key, r != NULL);
        }
        /* servers HAProxy has that the model does not, serving: those
         * waiting to be deleted are already out of service */
        for (size_t j = 0; j < n; j++) {
            char *name;

            if (g[j].seen || (g[j].admin & SRV_ADMIN_FMAINT))
                continue;
            name = arena_printf(&d->ar, "%s/%.*s", be->name, (int)g[j].server_len, g[j].server);
            if (hmap_get(&c->del_wait, name))
                continue;
            d->u = xgrow(d->u, &d->cap, d->n + 1, sizeof(*d->u));
            d->u[d->n++] = (struct rt_update){RT_SERVER_DEL, name, "", NULL, false};
            d->removed++;
        }
    }
}

/* Every backend compared: the repairs, if any, then the maps. */
static void repair_servers(struct ctl *c)
{
    struct drift_servers *d = c->drift_srv;

    if (!d->n) {
        servers_free(c);
        check_maps(c);
        return;
    }
    c->m_drift[0] += d->added;
    c->m_drift[1] += d->removed;
    log_warn("haproxy", "drift: %zu servers missing or disabled, %zu serving that should "
                        "not: repaired",
             d->added, d->removed);
    /* rt_apply copies the updates */
    rt_apply(c->loop, c->admin_sock, d->u, d->n, on_repaired, c);
    servers_free(c);
}

static void next_servers(struct ctl *c);

static void on_state(int status, const char *reply, void *arg)
{
    struct ctl *c = arg;
    struct srv_row *rows;
    size_t n_rows;

    if (status < 0) {
        log_warn("haproxy", "drift check: show servers state: %s; checked again later",
                 strerror(-status));
        servers_free(c);
        check_done(c);
        return;
    }
    /* a pass or reload started meanwhile: this state may already be old */
    if (interrupted(c)) {
        servers_free(c);
        check_done(c);
        return;
    }
    n_rows = parse_state(reply, &rows);
    compare_servers(c, c->drift_first, c->drift_be, rows, n_rows);
    free(rows);
    next_servers(c);
}

/* "show servers state" of the running model's next backends, as many as one
 * CLI line takes: the whole answer for 50,000 servers would be more than a
 * reply may hold (and than Portico's memory should). */
static void next_servers(struct ctl *c)
{
    const struct model *m = c->running.model;
    struct buf cmd;

    if (c->drift_be == m->n_backends) {
        repair_servers(c);
        return;
    }
    buf_init(&cmd, DRIFT_LINE_MAX + 1);
    c->drift_first = c->drift_be;
    while (c->drift_be < m->n_backends) {
        const char *name = m->backends[c->drift_be]->name;

        if (cmd.len && cmd.len + strlen(name) + 21 > DRIFT_LINE_MAX)
            break;
        if ((cmd.len && buf_addc(&cmd, ';')) || buf_adds(&cmd, "show servers state ") ||
            buf_adds(&cmd, name))
            break;
        c->drift_be++;
    }
    if (!cmd.ptr || c->drift_be == c->drift_first) {
        /* a name longer than a line: nothing can be asked */
        log_warn("haproxy", "drift check: backend %s cannot be asked for",
                 m->backends[c->drift_be]->name);
        buf_free(&cmd);
        servers_free(c);
        check_done(c);
        return;
    }
    mcli_send(c->loop, c->admin_sock, cmd.ptr, DRIFT_TIMEOUT_MS, on_state, c);
    buf_free(&cmd);
}

static void on_drift_timer(uv_timer_t *t)
{
    struct ctl *c = t->data;

    if (c->stopping)
        return;
    if (c->busy || c->del_running || c->hap.op != HAP_OP_NONE || !c->hap.serving ||
        !c->running.model) {
        arm(c);
        return;
    }
    c->drift_running = true;
    c->drift_srv = xcalloc(1, sizeof(*c->drift_srv));
    arena_init(&c->drift_srv->ar);
    c->drift_be = 0;
    next_servers(c);
}

void ctl_drift_start(struct ctl *c)
{
    const char *env = getenv("PORTICO_DRIFT_INTERVAL_MS");
    uint32_t ms = CTL_DRIFT_MS;

    /* tests check in a second rather than half a minute */
    if (env && str_to_u32(env, 100, 3600000, &ms))
        ms = CTL_DRIFT_MS;
    c->drift_interval_ms = ms;
    uv_timer_init(c->loop, &c->drift_timer);
    c->drift_timer.data = c;
    arm(c);
}

void ctl_drift_soon(struct ctl *c)
{
    if (!c->stopping && c->drift_interval_ms && !c->drift_running)
        uv_timer_start(&c->drift_timer, on_drift_timer, 0, 0);
}

void ctl_drift_stop(struct ctl *c)
{
    uv_timer_stop(&c->drift_timer);
}
