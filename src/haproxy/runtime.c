/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime API updates. Each map goes through its own version: "prepare map"
 * opens an empty one, "add map @ver" fills it in chunks, and "commit map
 * @ver" swaps it in atomically, so requests never see a half filled map.
 * Certificates use HAProxy's transactions ("set ssl cert" then "commit ssl
 * cert"). A failure leaves the running version untouched. */
#include "haproxy/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "haproxy/escape.h"
#include "haproxy/mcli.h"
#include "haproxy/render.h"
#include "model/model.h"
#include "util/buf.h"
#include "util/fault.h"
#include "util/hmap.h"
#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* HAProxy reads one CLI line into a buffer of tune.bufsize (16 kB). */
#define RT_LINE_MAX 12000
#define RT_TIMEOUT_MS 5000
/* A certificate command refused because another CLI session holds the
 * certificates' lock (a "show ssl cert" running) is sent again this often,
 * this many times. */
#define RT_LOCKED_RETRY_MS 10
#define RT_LOCKED_TRIES 100

struct rt_job {
    uv_loop_t *loop;
    char *sock;
    char **names;
    char **contents;
    char **lines;        /* crt-list lines of RT_CERT_ADD and RT_CERT_RELIST updates */
    struct hmap old_lines; /* certificate -> its crt-list line number, before any update */
    enum rt_kind *kinds;
    bool *again; /* of each update: rt_update.again */
    size_t n;
    char **busy;         /* servers kept disabled: they still had connections */
    size_t n_busy;
    size_t map;          /* update being applied */
    const char *pos;     /* next entry of contents[map] to send */
    unsigned version;    /* version opened by "prepare map" */
    enum { RT_PREPARE = 0, RT_ADD, RT_COMMIT, RT_CERT_SET, RT_CERT_COMMIT, RT_SRV_ADD,
           RT_SRV_DEL, RT_CMDS, RT_CERT_NEW, RT_CRTLIST_ADD, RT_CRTLIST_DEL,
           RT_CERT_REMOVE, RT_CRTLIST_SHOW } step;
    unsigned locked;     /* times the step was refused for the certificates' lock */
    rt_done_fn *done;
    void *arg;
};

static void job_free(struct rt_job *j)
{
    void *v;

    for (size_t i = 0; i < j->n; i++) {
        free(j->names[i]);
        free(j->contents[i]);
        free(j->lines[i]);
    }
    free(j->lines);
    for (size_t i = 0; i < j->n_busy; i++)
        free(j->busy[i]);
    free(j->busy);
    for (size_t i = 0; hmap_next(&j->old_lines, &i, NULL, &v);)
        free(v);
    hmap_deinit(&j->old_lines);
    free(j->names);
    free(j->contents);
    free(j->kinds);
    free(j->again);
    free(j->sock);
    free(j);
}

const char *rt_kind_name(enum rt_kind k)
{
    static const char *const names[RT_KIND_COUNT] = {
        "map",        "cert",       "cert_add",   "cert_del",    "cert_relist",
        "cert_unlist", "server_add", "server_del", "map_entries", "server_cert",
    };

    return (unsigned)k < RT_KIND_COUNT ? names[k] : "other";
}

static void finish(struct rt_job *j, bool ok, const char *msg)
{
    struct rt_result res = {ok, j->map, msg, j->busy, j->n_busy};

    j->done(&res, j->arg);
    job_free(j);
}

static void next(struct rt_job *j);

static int first_step(enum rt_kind kind)
{
    switch (kind) {
    case RT_CERT:
        return RT_CERT_SET;
    case RT_CERT_ADD:
    case RT_SERVER_CERT:
        return RT_CERT_NEW;
    case RT_CERT_DEL:
    case RT_CERT_UNLIST:
        return RT_CRTLIST_DEL;
    case RT_CERT_RELIST:
        return RT_CRTLIST_ADD;
    case RT_SERVER_ADD:
        return RT_SRV_ADD;
    case RT_SERVER_DEL:
        return RT_SRV_DEL;
    case RT_COMMANDS:
        return RT_CMDS;
    case RT_MAP:
    case RT_KIND_COUNT:
        break;
    }
    return RT_PREPARE;
}

/* Records from a "show ssl crt-list -n" reply ("# list", then lines like
 * "certs/x.pem:3 host ...") each certificate's "file:N"; a certificate
 * listed more than once gets "", so that no line is guessed for it. */
static bool parse_crt_list(struct rt_job *j, const char *reply)
{
    if (strncmp(reply, "# ", 2))
        return false;
    for (const char *l = reply; *l;) {
        size_t len = strcspn(l, "\n"), word = strcspn(l, " \n");
        const char *colon = memrchr(l, ':', word);

        if (*l != '#' && colon) {
            char *file = xstrndup(l, (size_t)(colon - l)), *nr = xstrndup(l, word);
            char *prev = hmap_put(&j->old_lines, file, nr);

            if (prev) {
                nr[0] = '\0';
                free(prev);
            }
            free(file);
        }
        l += len + (l[len] == '\n');
    }
    return true;
}

/* A CLI reply is empty or a success message; anything else names an error. */
static bool reply_ok(const char *reply)
{
    while (*reply == '\n')
        reply++;
    return *reply == '\0' || !strncmp(reply, "New version created", 19) ||
           !strncmp(reply, "Done", 4);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void on_retry(uv_timer_t *t)
{
    struct rt_job *j = t->data;

    uv_close((uv_handle_t *)t, free_handle);
    next(j);
}

/* Whether <reply> refused the step for the certificates' lock, which another
 * CLI session holds for a moment: the step is sent again a little later. */
static bool retry_locked(struct rt_job *j, const char *reply)
{
    uv_timer_t *t;

    if (!strstr(reply, "Operations on certificates are currently locked") ||
        ++j->locked > RT_LOCKED_TRIES)
        return false;
    t = xmalloc(sizeof(*t));
    uv_timer_init(j->loop, t);
    t->data = j;
    uv_timer_start(t, on_retry, RT_LOCKED_RETRY_MS, 0);
    return true;
}

static void on_reply(int status, const char *reply, void *arg)
{
    struct rt_job *j = arg;
    bool ok;
    char msg[300];

    if (status < 0) {
        snprintf(msg, sizeof(msg), "admin socket: %s", strerror(-status));
        finish(j, false, msg);
        return;
    }
    if (fault_hit("runtime")) {
        finish(j, false, "fault injected (PORTICO_FAULT_AT=runtime)");
        return;
    }
    switch (j->step) {
    case RT_PREPARE:
        ok = sscanf(reply, "New version created: %u", &j->version) == 1;
        break;
    case RT_CERT_SET:
        ok = strstr(reply, "Transaction ") != NULL;
        break;
    case RT_CERT_COMMIT:
    case RT_CRTLIST_ADD:
        ok = strstr(reply, "Success!") != NULL;
        break;
    case RT_CERT_NEW:
        ok = strstr(reply, "New empty certificate store") != NULL ||
             (j->kinds[j->map] == RT_SERVER_CERT && strstr(reply, "already exists"));
        break;
    case RT_CRTLIST_DEL:
    case RT_CERT_REMOVE:
        ok = strstr(reply, "deleted") != NULL;
        break;
    case RT_CRTLIST_SHOW:
        ok = parse_crt_list(j, reply);
        break;
    case RT_SRV_ADD:
        /* a server kept in maintenance since its removal is simply enabled
         * again, and one that was there all the same (a drift repair) too */
        ok = j->again[j->map] ? reply_ok(reply)
                              : (strstr(reply, "New server registered") ||
                                 strstr(reply, "Already exists")) &&
                                    !strstr(reply, "No such");
        break;
    case RT_SRV_DEL:
        /* disabled: its requests finish, and rt_del_servers() deletes it
         * later, once no stream points to it */
        ok = reply_ok(reply);
        if (ok) {
            j->busy = xrealloc(j->busy, (j->n_busy + 1) * sizeof(*j->busy));
            j->busy[j->n_busy++] = xstrdup(j->names[j->map]);
        }
        break;
    default:
        ok = reply_ok(reply);
        break;
    }
    if (!ok && retry_locked(j, reply))
        return;
    if (!ok) {
        static const char *const what[] = {
            "prepare map",     "add map",      "commit map",       "set ssl cert",
            "commit ssl cert", "add server",   "disable server",   "update",
            "new ssl cert",    "add ssl crt-list", "del ssl crt-list", "del ssl cert",
            "show ssl crt-list"};

        snprintf(msg, sizeof(msg), "%s %s: %.200s", what[j->step], j->names[j->map], reply);
        finish(j, false, msg);
        return;
    }
    switch (j->step) {
    case RT_PREPARE:
        j->step = RT_ADD;
        j->pos = j->contents[j->map];
        break;
    case RT_CERT_NEW:
    case RT_CERT_SET:
        j->step = j->step == RT_CERT_NEW ? RT_CERT_SET : RT_CERT_COMMIT;
        break;
    case RT_CRTLIST_SHOW:
        j->step = first_step(j->kinds[j->map]);
        break;
    case RT_ADD:
        break;
    case RT_CMDS:
        if (*j->pos)
            break; /* more lines to send */
        /* fall through */
    case RT_CERT_COMMIT:
        if (j->kinds[j->map] == RT_CERT_ADD) {
            /* loaded: now SNI can find it */
            j->step = RT_CRTLIST_ADD;
            break;
        }
        /* fall through */
    case RT_CRTLIST_DEL:
        if (j->step == RT_CRTLIST_DEL && j->kinds[j->map] == RT_CERT_DEL) {
            j->step = RT_CERT_REMOVE;
            break;
        }
        /* fall through - RT_CERT_UNLIST only removes the line */
    case RT_COMMIT:
    case RT_CRTLIST_ADD:
    case RT_CERT_REMOVE:
    case RT_SRV_ADD:
    case RT_SRV_DEL:
        if (++j->map == j->n) {
            finish(j, true, NULL);
            return;
        }
        j->step = first_step(j->kinds[j->map]);
        j->pos = NULL;
        break;
    }
    next(j);
}

/* Appends "add map" commands for the entries at j->pos until the line is
 * full; returns -EINVAL for an entry that cannot be escaped. */
static int fill_adds(struct rt_job *j, struct buf *line)
{
    while (*j->pos) {
        const char *eol = strchr(j->pos, '\n');
        size_t len = eol ? (size_t)(eol - j->pos) : strlen(j->pos);
        char entry[8192], *sp;
        size_t mark = line->len;

        if (len >= sizeof(entry))
            return -EINVAL;
        memcpy(entry, j->pos, len);
        entry[len] = '\0';
        sp = strchr(entry, ' ');
        if (!sp)
            return -EINVAL;
        *sp = '\0';
        if (line->len)
            buf_addc(line, ';');
        buf_addf(line, "add map @%u ", j->version);
        buf_adds(line, j->names[j->map]);
        buf_addc(line, ' ');
        if (rt_api_arg(line, entry) || buf_addc(line, ' ') || rt_api_arg(line, sp + 1))
            return -EINVAL;
        if (line->len > RT_LINE_MAX && mark > 0) {
            /* this entry opens the next line */
            line->len = mark;
            line->ptr[mark] = '\0';
            return 0;
        }
        j->pos += len + (eol ? 1 : 0);
    }
    return 0;
}

static void next(struct rt_job *j)
{
    struct buf line;

    buf_init(&line, 1 << 20);
    switch (j->step) {
    case RT_CMDS:
        /* as many whole commands as fit on one CLI line */
        if (!j->pos)
            j->pos = j->contents[j->map];
        while (*j->pos) {
            size_t len = strcspn(j->pos, "\n");

            if (line.len && line.len + len + 1 > RT_LINE_MAX)
                break;
            if (line.len)
                buf_addc(&line, ';');
            buf_add(&line, j->pos, len);
            j->pos += len + (j->pos[len] == '\n');
        }
        break;
    case RT_SRV_ADD:
    case RT_SRV_DEL: {
        const char *name = j->names[j->map];
        bool add = j->step == RT_SRV_ADD;
        int bad = 0;

        bool again = add && j->again[j->map];

        bad |= buf_adds(&line, again ? "enable server " : add ? "add server " : "disable server ");
        bad |= rt_api_arg(&line, name);
        /* the address and keywords, as the server's line in haproxy.cfg has them */
        for (const char *w = j->contents[j->map]; add && !again && *w;) {
            size_t len = strcspn(w, " ");
            char word[256];

            if (len == 0 || len >= sizeof(word)) {
                bad = 1;
                break;
            }
            memcpy(word, w, len);
            word[len] = '\0';
            bad |= buf_addc(&line, ' ');
            bad |= rt_api_arg(&line, word);
            w += len + (w[len] == ' ');
        }
        if (add && !again) {
            bad |= buf_adds(&line, ";enable server ");
            bad |= rt_api_arg(&line, name);
        }
        /* a server added with "check" starts with its checks off */
        if (add && strstr(j->contents[j->map], " check ")) {
            bad |= buf_adds(&line, ";enable health ");
            bad |= rt_api_arg(&line, name);
        }
        /* and without a dynamic cookie until the backend's are made again */
        if (add && j->lines[j->map][0]) {
            char backend[256];

            snprintf(backend, sizeof(backend), "%.*s", (int)strcspn(name, "/"), name);
            bad |= buf_adds(&line, ";enable dynamic-cookie backend ");
            bad |= rt_api_arg(&line, backend);
        }
        if (bad) {
            buf_free(&line);
            finish(j, false, "a server name cannot be sent over the Runtime API");
            return;
        }
        break;
    }
    case RT_CERT_SET:
        /* the payload ends at the first empty line; re-encoded PEM has none */
        buf_adds(&line, "set ssl cert ");
        if (rt_api_arg(&line, j->names[j->map]) || strstr(j->contents[j->map], "\n\n")) {
            buf_free(&line);
            finish(j, false, "a certificate cannot be sent over the Runtime API");
            return;
        }
        buf_adds(&line, " <<\n");
        buf_adds(&line, j->contents[j->map]);
        buf_adds(&line, "\n");
        break;
    case RT_CERT_COMMIT:
        buf_addf(&line, "commit ssl cert %s", j->names[j->map]);
        break;
    case RT_CRTLIST_SHOW:
        buf_adds(&line, "show ssl crt-list -n " RENDER_CRT_LIST);
        break;
    case RT_CERT_NEW:
    case RT_CRTLIST_DEL:
    case RT_CERT_REMOVE: {
        const char *nr = j->kinds[j->map] == RT_CERT_UNLIST
                             ? hmap_get(&j->old_lines, j->names[j->map])
                             : NULL;
        int bad;

        buf_adds(&line, j->step == RT_CERT_NEW      ? "new ssl cert "
                        : j->step == RT_CERT_REMOVE ? "del ssl cert "
                                                    : "del ssl crt-list " RENDER_CRT_LIST " ");
        if (j->kinds[j->map] == RT_CERT_UNLIST && (!nr || !*nr)) {
            buf_free(&line);
            finish(j, false, "the certificate's crt-list line was not found");
            return;
        }
        /* "file:N" names one line of a certificate listed twice for a moment */
        bad = nr ? rt_api_arg(&line, nr) : rt_api_arg(&line, j->names[j->map]);
        if (bad) {
            buf_free(&line);
            finish(j, false, "a certificate name cannot be sent over the Runtime API");
            return;
        }
        break;
    }
    case RT_CRTLIST_ADD:
        /* the payload is the line as the crt-list file has it (rendered and
         * escaped there); it ends at the first empty line */
        if (!j->lines[j->map][0] || strchr(j->lines[j->map], '\n')) {
            buf_free(&line);
            finish(j, false, "a crt-list line cannot be sent over the Runtime API");
            return;
        }
        buf_addf(&line, "add ssl crt-list %s <<\n%s\n", RENDER_CRT_LIST, j->lines[j->map]);
        break;
    case RT_PREPARE:
        buf_addf(&line, "prepare map %s", j->names[j->map]);
        break;
    case RT_ADD:
        if (fill_adds(j, &line)) {
            buf_free(&line);
            finish(j, false, "a map entry cannot be sent over the Runtime API");
            return;
        }
        if (line.len)
            break;
        j->step = RT_COMMIT;
        /* fall through */
    case RT_COMMIT:
        buf_reset(&line);
        buf_addf(&line, "commit map @%u %s", j->version, j->names[j->map]);
        j->step = RT_COMMIT;
        break;
    }
    if (!line.ptr) {
        finish(j, false, "runtime command too large");
        return;
    }
    mcli_send(j->loop, j->sock, line.ptr, RT_TIMEOUT_MS, on_reply, j);
    buf_free(&line);
}

void rt_apply(uv_loop_t *loop, const char *sock, const struct rt_update *u, size_t n,
              rt_done_fn *done, void *arg)
{
    struct rt_job *j = xcalloc(1, sizeof(*j));

    j->loop = loop;
    hmap_init(&j->old_lines);
    j->sock = xstrdup(sock);
    j->names = xcalloc(n + 1, sizeof(*j->names));
    j->contents = xcalloc(n + 1, sizeof(*j->contents));
    j->lines = xcalloc(n + 1, sizeof(*j->lines));
    j->kinds = xcalloc(n + 1, sizeof(*j->kinds));
    j->again = xcalloc(n + 1, sizeof(*j->again));
    for (size_t i = 0; i < n; i++) {
        j->again[i] = u[i].again;
        j->names[i] = xstrdup(u[i].name);
        j->contents[i] = xstrdup(u[i].content ? u[i].content : "");
        j->lines[i] = xstrdup(u[i].line ? u[i].line : "");
        j->kinds[i] = u[i].kind;
    }
    j->n = n;
    j->done = done;
    j->arg = arg;
    if (n == 0) {
        finish(j, true, NULL);
        return;
    }
    j->step = first_step(j->kinds[0]);
    for (size_t i = 0; i < n; i++) {
        /* the line numbers of certificates about to change lines, first */
        if (j->kinds[i] == RT_CERT_UNLIST)
            j->step = RT_CRTLIST_SHOW;
    }
    j->pos = NULL;
    next(j);
}

/* ====== Servers deleted later ====== */

struct rt_del_job {
    uv_loop_t *loop;
    char *sock;
    char **names;
    enum rt_del *res;
    size_t n, i;         /* servers, the one asked */
    struct hmap streams; /* "backend/server" of the servers streams point to */
    bool unknown;        /* "show sess" was too long to read: every one is busy */
    rt_del_done_fn *done;
    void *arg;
};

const char *rt_del_name(enum rt_del r)
{
    static const char *const names[RT_DEL_COUNT] = {
        "deleted", "busy", "gone", "refused", "failure",
    };

    return (unsigned)r < RT_DEL_COUNT ? names[r] : "failure";
}

enum rt_del rt_del_reply(const char *reply)
{
    /* HAProxy 2.6's words (cli_parse_delete_server()) */
    if (strstr(reply, "Server deleted."))
        return RT_DEL_DELETED;
    if (strstr(reply, "Server still has connections attached to it"))
        return RT_DEL_BUSY;
    if (strstr(reply, "No such server.") || strstr(reply, "No such backend."))
        return RT_DEL_GONE;
    return RT_DEL_REFUSED;
}

static void del_next(struct rt_del_job *j);

/* Adds to <set> the "backend/server" of every stream of a "show sess"
 * <reply>, one line each: "0x...: proto=tcpv4 src=... fe=F be=B srv=S ts=...". */
void rt_sess_servers(const char *reply, struct hmap *set)
{
    for (const char *ln = reply; *ln;) {
        size_t len = strcspn(ln, "\n");
        const char *be = memmem(ln, len, " be=", 4);
        const char *srv = be ? memmem(be, len - (size_t)(be - ln), " srv=", 5) : NULL;

        if (srv) {
            char key[512];
            int be_len = (int)(srv - be - 4);
            int srv_len = (int)strcspn(srv + 5, " \n");

            if (snprintf(key, sizeof(key), "%.*s/%.*s", be_len, be + 4, srv_len, srv + 5) <
                (int)sizeof(key))
                hmap_put(set, key, (void *)1);
        }
        ln += len + (ln[len] == '\n');
    }
}

static void on_sess(int status, const char *reply, void *arg)
{
    struct rt_del_job *j = arg;

    if (status == -E2BIG) {
        j->unknown = true; /* more streams than a reply holds */
    } else if (status < 0) {
        /* the socket is down: nothing will get through now */
        while (j->i < j->n)
            j->res[j->i++] = RT_DEL_FAILED;
    } else {
        rt_sess_servers(reply, &j->streams);
    }
    del_next(j);
}

static void on_del_reply(int status, const char *reply, void *arg)
{
    struct rt_del_job *j = arg;

    if (status < 0) {
        /* the socket is down: nothing left will get through now */
        while (j->i < j->n)
            j->res[j->i++] = RT_DEL_FAILED;
    } else {
        j->res[j->i++] = rt_del_reply(reply);
    }
    del_next(j);
}

static void del_next(struct rt_del_job *j)
{
    struct buf line;

    while (j->i < j->n) {
        /* HAProxy 2.6 deletes a server a stream still points to (one waiting
         * to try it again, whose connection no longer counts) and crashes
         * later: not until the stream has gone */
        if (j->unknown || hmap_get(&j->streams, j->names[j->i])) {
            j->res[j->i++] = RT_DEL_BUSY;
            continue;
        }
        buf_init(&line, 1024);
        if (!buf_adds(&line, "del server ") && !rt_api_arg(&line, j->names[j->i])) {
            mcli_send(j->loop, j->sock, line.ptr, RT_TIMEOUT_MS, on_del_reply, j);
            buf_free(&line);
            return;
        }
        buf_free(&line);
        j->res[j->i++] = RT_DEL_REFUSED; /* a name the CLI cannot take: dropped */
    }
    j->done(j->names, j->res, j->n, j->arg);
    for (size_t i = 0; i < j->n; i++)
        free(j->names[i]);
    free(j->names);
    free(j->res);
    hmap_deinit(&j->streams);
    free(j->sock);
    free(j);
}

void rt_del_servers(uv_loop_t *loop, const char *sock, char *const *names, size_t n,
                    rt_del_done_fn *done, void *arg)
{
    struct rt_del_job *j = xcalloc(1, sizeof(*j));

    j->loop = loop;
    j->sock = xstrdup(sock);
    j->names = xcalloc(n + 1, sizeof(*j->names));
    j->res = xcalloc(n + 1, sizeof(*j->res));
    for (size_t i = 0; i < n; i++)
        j->names[i] = xstrdup(names[i]);
    j->n = n;
    j->done = done;
    j->arg = arg;
    hmap_init(&j->streams);
    mcli_send(loop, sock, "show sess", RT_TIMEOUT_MS, on_sess, j);
}

/* ====== Map differences ====== */

bool rt_map_one_change(const struct model *a, const struct model *b, enum model_map m,
                       const char *file, struct buf *out)
{
    const struct model_entry *ea = NULL, *eb = NULL; /* the one entry that differs */
    size_t x = 0, y = 0, n = 0;
    int cmp = 0, bad = 0;

    if (!a || !b)
        return false;
    while (x < a->n_maps[m] || y < b->n_maps[m]) {
        size_t same = model_entries_shared(a->maps[m] + x, a->n_maps[m] - x, b->maps[m] + y,
                                           b->n_maps[m] - y);
        const struct model_entry *pa, *pb;
        int c;

        x += same;
        y += same;
        if (x == a->n_maps[m] && y == b->n_maps[m])
            break;
        pa = x < a->n_maps[m] ? &a->maps[m][x] : NULL;
        pb = y < b->n_maps[m] ? &b->maps[m][y] : NULL;
        /* a patch shares most strings with the model it was made from */
        c = !pa ? 1 : !pb ? -1 : pa->key == pb->key ? 0 : strcmp(pa->key, pb->key);

        if (c <= 0)
            x++;
        if (c >= 0)
            y++;
        if (c == 0 && (pa->value == pb->value || !strcmp(pa->value, pb->value)))
            continue;
        /* a second entry: only a whole new version is atomic */
        if (++n > 1)
            return false;
        ea = pa;
        eb = pb;
        cmp = c;
    }
    if (n == 0)
        return true;
    /* set map changes a value in place: no moment without the key */
    bad |= buf_adds(out, cmp < 0 ? "del map " : cmp > 0 ? "add map " : "set map ");
    bad |= buf_adds(out, file);
    bad |= buf_addc(out, ' ');
    bad |= rt_api_arg(out, cmp < 0 ? ea->key : eb->key);
    if (cmp >= 0) {
        bad |= buf_addc(out, ' ');
        bad |= rt_api_arg(out, eb->value);
    }
    bad |= buf_addc(out, '\n');
    return !bad;
}

void rt_map_check_init(struct rt_map_check *k, const struct model_entry *want, size_t n)
{
    k->want = want;
    k->n = n;
    k->seen = xcalloc(n / 8 + 1, 1);
    k->diff = 0;
}

/* The entry of k->want with key <key> (<len> bytes), or -1. */
static ptrdiff_t find_entry(const struct rt_map_check *k, const char *key, size_t len)
{
    size_t lo = 0, hi = k->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *w = k->want[mid].key;
        /* <key> is bytes of a reply: a NUL in it is a byte like another */
        size_t wlen = strnlen(w, len + 1);
        int c = memcmp(w, key, wlen < len ? wlen : len);

        if (!c)
            c = (wlen > len) - (wlen < len);
        if (!c)
            return (ptrdiff_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void rt_map_check_line(struct rt_map_check *k, const char *line, size_t len)
{
    const char *end = line + len, *key, *val;
    ptrdiff_t at;

    if (!len || k->diff < 0)
        return; /* the empty line that ends every answer */
    key = memchr(line, ' ', len);
    val = key ? memchr(key + 1, ' ', (size_t)(end - key - 1)) : NULL;
    if (len < 2 || memcmp(line, "0x", 2) || !val) {
        k->diff = -EINVAL;
        return;
    }
    key++;
    at = find_entry(k, key, (size_t)(val - key));
    val++;
    /* an entry the file leaves out, or listed twice */
    if (at < 0 || !map_word_ok(k->want[at].key) || !map_word_ok(k->want[at].value) ||
        (k->seen[at / 8] & (1u << (at % 8)))) {
        k->diff++;
        return;
    }
    k->seen[at / 8] |= (unsigned char)(1u << (at % 8));
    /* with another value: one difference, not a missing one besides */
    if (strlen(k->want[at].value) != (size_t)(end - val) ||
        memcmp(k->want[at].value, val, (size_t)(end - val)))
        k->diff++;
}

int rt_map_check_end(struct rt_map_check *k)
{
    int diff = k->diff;

    for (size_t i = 0; diff >= 0 && i < k->n; i++) {
        if (!(k->seen[i / 8] & (1u << (i % 8))) && map_word_ok(k->want[i].key) &&
            map_word_ok(k->want[i].value))
            diff++;
    }
    FREE_NULL(k->seen);
    return diff;
}
