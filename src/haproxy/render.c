/* SPDX-License-Identifier: Apache-2.0 */
/* Model -> HAProxy 2.6 configuration. Routing is done with tree-indexed maps
 * only (map_str, case-sensitive map_beg): see doc/internals/routing-maps.md.
 * Output is deterministic so that an unchanged model never reloads. */
#include "haproxy/render.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "haproxy/escape.h"
#include "model/model.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/file.h"
#include "util/hmap.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define RENDER_MAX_CFG (256u << 20)

static const unsigned redirect_codes[] = {301, 302, 303, 307, 308};

static struct render_file *new_file(struct rendered *r, const char *name, mode_t mode)
{
    struct render_file *f;

    r->files = xrealloc(r->files, (r->n_files + 1) * sizeof(*r->files));
    f = &r->files[r->n_files++];
    memset(f, 0, sizeof(*f));
    f->name = xstrdup(name);
    f->mode = mode;
    return f;
}

static struct render_file *add_file(struct rendered *r, const char *name, struct buf *b,
                                    mode_t mode)
{
    struct render_file *f = new_file(r, name, mode);

    f->len = b->len;
    f->own = buf_take(b);
    f->data = f->own;
    return f;
}

/* A file as it is made: in memory, or written out a piece at a time under
 * render_opts.out_dir (haproxy.cfg is 3 MB at 50,000 endpoints and the maps
 * 0.7 MB at 10,000 Ingresses, held beside the model otherwise). Pieces end
 * at a line's end. */
struct out {
    struct buf b;
    int fd;         /* -1: in memory */
    char *path;     /* the file written, or NULL */
    size_t max;     /* the file's size limit */
    size_t written;
    bool cfg;       /* haproxy.cfg: its shape is computed */
    uint64_t hash;  /* of the pieces passed to out_flush() */
    uint64_t shape; /* haproxy.cfg: of its lines but the servers' */
};

#define OUT_PIECE 65536

/* Starts file <name> of at most <max> bytes; <size> is what it will be
 * about, for the buffer of a file made in memory. */
static int out_open(struct out *w, const struct render_opts *o, const char *name, size_t max,
                    size_t size, char **err)
{
    int ret;

    memset(w, 0, sizeof(*w));
    w->fd = -1;
    w->max = max;
    w->cfg = !strcmp(name, "haproxy.cfg");
    w->hash = w->shape = HASH_FNV1A_INIT;
    buf_init(&w->b, max);
    if (o->out_dir) {
        w->path = xasprintf("%s/%s", o->out_dir, name);
        w->fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        /* exactly 0644, whatever the umask, as the other files */
        if (w->fd == -1 || fchmod(w->fd, 0644) == -1) {
            ret = -errno;
            errmsg_set(err, "create %s: %s", w->path, strerror(-ret));
            if (w->fd != -1) {
                close(w->fd);
                unlink(w->path);
            }
            FREE_NULL(w->path);
            return ret;
        }
    }
    buf_reserve(&w->b, w->fd != -1 ? OUT_PIECE + 4096 : size);
    return 0;
}

/* Hashes the piece in <w>'s buffer and, when writing out, writes it once it
 * is big enough or <last>. Returns 0 or a negative errno. */
static int out_flush(struct out *w, bool last)
{
    const char *p = w->b.ptr, *end = p + w->b.len;
    int ret;

    if (!p)
        return -E2BIG; /* the buffer overflowed: buf_add() freed it */
    if (!last && (w->fd == -1 || w->b.len < OUT_PIECE))
        return 0;
    w->hash = hash_fnv1a_more(w->hash, p, w->b.len);
    while (w->cfg && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);

        if (strncmp(p, "    server ", 11))
            w->shape = hash_fold(w->shape, hash_fnv1a(p, len));
        p += len;
    }
    if (w->fd == -1)
        return 0;
    if (w->written + w->b.len > w->max)
        return -E2BIG;
    ret = file_write_all(w->fd, w->b.ptr, w->b.len);
    w->written += w->b.len;
    buf_reset(&w->b);
    return ret;
}

/* Ends <w> as file <name> of <r>, or after the error <ret> (0: none yet)
 * removes what it wrote. Returns 0 or a negative errno, with *<err> set. */
static int out_close(struct out *w, struct rendered *r, const char *name, int ret, char **err)
{
    struct render_file *f;

    if (!ret)
        ret = out_flush(w, true);
    if (w->fd != -1 && close(w->fd) == -1 && !ret)
        ret = -errno;
    if (ret) {
        if (ret == -E2BIG)
            errmsg_set(err, "%s: larger than %zu bytes%s", name, w->max,
                       w->cfg ? " or a flag value cannot be written" : "");
        else
            errmsg_set(err, "write %s: %s", w->path, strerror(-ret));
        buf_free(&w->b);
        if (w->path)
            unlink(w->path);
        free(w->path);
        return ret;
    }
    if (w->path) {
        /* written out: no data, its path */
        f = new_file(r, name, 0644);
        f->path = w->path;
        f->len = w->written;
        buf_free(&w->b);
    } else {
        f = add_file(r, name, &w->b, 0644);
    }
    f->hash = w->hash;
    f->shape = w->shape;
    return 0;
}

/* A file of <m>'s bytes, not copied. */
static void add_blob(struct rendered *r, const char *name, const char *data, size_t len,
                     mode_t mode)
{
    struct render_file *f = new_file(r, name, mode);

    f->data = data;
    f->own = NULL;
    f->len = len;
    f->hash = hash_fnv1a(data, len);
}

/* "bind" lines for one listener on every enabled address family. */
static int add_binds(struct buf *b, const struct render_opts *o, int port, const char *name,
                     const char *extra)
{
    char addr[300];
    int ret = 0;

    if (o->ipv4_addr) {
        snprintf(addr, sizeof(addr), "%s:%d", o->ipv4_addr, port);
        ret |= buf_adds(b, "    bind ");
        ret |= cfg_word_strong(b, addr);
        ret |= buf_addf(b, " name %s4%s\n", name, extra);
    }
    if (o->ipv6_addr) {
        snprintf(addr, sizeof(addr), "[%s]:%d", o->ipv6_addr, port);
        ret |= buf_adds(b, "    bind ");
        ret |= cfg_word_strong(b, addr);
        ret |= buf_addf(b, " name %s6 v6only%s\n", name, extra);
    }
    return ret ? -EINVAL : 0;
}

static int render_global(struct buf *b, const struct model *m, const struct render_opts *o)
{
    const struct key_values *g = &m->global;
    int ret = 0;

    ret |= buf_adds(b, "# Generated by Portico; changes are overwritten.\n"
                       "global\n"
                       "    default-path config\n"
                       "    stats socket ");
    {
        char path[4096];

        snprintf(path, sizeof(path), "%s/admin.sock", o->runtime_dir);
        ret |= cfg_word_strong(b, path);
    }
    ret |= buf_adds(b, " mode 600 level admin expose-fd listeners\n"
                       "    stats timeout 1m\n"
                       "    hard-stop-after 30m\n"
                       "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n"
                       "    tune.ssl.default-dh-param 2048\n");
    if (g->maxconn)
        ret |= buf_addf(b, "    maxconn %u\n", g->maxconn);
    if (g->nbthread)
        ret |= buf_addf(b, "    nbthread %u\n", g->nbthread);
    if (o->fault)
        ret |= buf_adds(b, "    portico-fault-injected\n");
    ret |= buf_addf(b,
                    "\n"
                    "defaults\n"
                    "    mode http\n"
                    "    option forwardfor\n"
                    "    option redispatch\n"
                    "    retries 3\n"
                    "    timeout connect %ums\n"
                    "    timeout client %ums\n"
                    "    timeout server %ums\n"
                    "    timeout http-request %ums\n"
                    "    timeout http-keep-alive %ums\n"
                    "    timeout queue %ums\n"
                    "    timeout tunnel %ums\n"
                    "\n",
                    g->timeout_connect_ms, g->timeout_client_ms, g->timeout_server_ms,
                    g->timeout_http_request_ms, g->timeout_http_keep_alive_ms,
                    g->timeout_queue_ms, g->timeout_tunnel_ms);
    return ret ? -E2BIG : 0;
}

static int render_aux_frontends(struct buf *b, const struct render_opts *o)
{
    int ret = 0;

    ret |= buf_adds(b, "frontend healthz\n");
    ret |= add_binds(b, o, o->healthz_port, "healthz", "");
    ret |= buf_adds(b, "    monitor-uri /healthz\n"
                       "    http-request return status 404\n"
                       "\n"
                       "frontend stats\n");
    ret |= add_binds(b, o, o->stats_port, "stats", "");
    ret |= buf_adds(b, "    http-request use-service prometheus-exporter if { path /metrics }\n"
                       "    stats enable\n"
                       "    stats uri /\n"
                       "    stats refresh 10s\n"
                       "\n");
    return ret;
}

/* The routing frontend. Host key: Host header lower-cased, port and one
 * trailing dot removed, looked up exactly, then with its first label
 * stripped among wildcard suffixes. Path key: host key + path. */
static int render_frontend(struct buf *b, const struct model *m, const struct render_opts *o)
{
    int ret = 0;

    ret |= buf_adds(b, "frontend portico\n");
    if (o->http_port)
        ret |= add_binds(b, o, o->http_port, "http", "");
    if (o->https_port)
        ret |= add_binds(b, o, o->https_port, "https",
                         " ssl crt certs/default.pem crt-list " RENDER_CRT_LIST
                         " alpn h2,http/1.1");
    ret |= buf_adds(
        b,
        "    http-request deny deny_status 400 if { req.ver 1.1 } !{ req.hdr(host) -m found }\n"
        "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower,regsub('\\.$','')\n"
        "    http-request set-var(txn.hk) var(txn.host),map_str(maps/hosts.map)\n"
        "    http-request set-var(txn.hk) var(txn.host),regsub('^[^.]*',''),"
        "map_str(maps/wildcards.map) if !{ var(txn.hk) -m found } !{ var(txn.host) -m beg . }\n"
        "    http-request set-var(txn.hk) str('') if !{ var(txn.hk) -m found }\n"
        "    http-request set-var(txn.path) path\n"
        "    http-request set-var(txn.pk) var(txn.hk),concat(,txn.path,)\n"
        "    http-request set-var(txn.backend) var(txn.pk),map_str(maps/exact.map)\n"
        "    http-request set-var(txn.backend) var(txn.pk),map_str(maps/prefix-exact.map) "
        "if !{ var(txn.backend) -m found }\n"
        "    http-request set-var(txn.backend) var(txn.pk),map_beg(maps/prefix.map) "
        "if !{ var(txn.backend) -m found }\n"
        "    http-request set-var(txn.backend) var(txn.hk),concat(,,/),"
        "map_str(maps/host-default.map) if !{ var(txn.backend) -m found }\n"
        "    http-request set-var(txn.redirect) var(txn.hk),map_str(maps/redirect.map) "
        "if !{ ssl_fc }\n");
    for (size_t i = 0; i < sizeof(redirect_codes) / sizeof(redirect_codes[0]); i++)
        ret |= buf_addf(b,
                        "    http-request redirect scheme https code %u "
                        "if { var(txn.redirect) -m str %u }\n",
                        redirect_codes[i], redirect_codes[i]);
    ret |= buf_adds(
        b, "    http-request set-header X-Forwarded-Proto https if { ssl_fc }\n"
           "    http-request set-header X-Forwarded-Proto http if !{ ssl_fc }\n"
           "    use_backend %[var(txn.backend)] if { var(txn.backend) -m found }\n"
           "    default_backend ");
    if (m->default_backend)
        ret |= cfg_name(b, m->default_backend);
    else
        ret |= buf_adds(b, "portico_default_404");
    ret |= buf_adds(b, "\n"
                       "    http-after-response set-header Server portico "
                       "if !{ res.hdr(server) -m found }\n"
                       "    http-after-response set-header Date %[date,http_date] "
                       "if !{ res.hdr(date) -m found }\n"
                       "\n");
    return ret;
}

static int render_backends(struct out *c, const struct model *m, size_t *dropped)
{
    struct buf *b = &c->b;
    int ret = 0;

    ret |= buf_adds(b, "backend portico_default_404\n"
                       "    http-request return status 404 content-type text/plain "
                       "string '404 page not found'\n");
    for (size_t i = 0; i < m->n_backends; i++) {
        const struct model_backend *be = &m->backends[i];
        struct buf name;

        buf_init(&name, 1024);
        if (cfg_name(&name, be->name)) {
            (*dropped)++;
            buf_free(&name);
            continue;
        }
        ret |= buf_addf(b, "\nbackend %s\n    balance roundrobin\n", name.ptr);
        buf_free(&name);
        for (size_t j = 0; j < be->n_servers; j++) {
            const struct model_server *s = &be->servers[j];
            char sname[MODEL_SERVER_NAME_MAX], addr[MODEL_SERVER_NAME_MAX];
            size_t mark = b->len;

            model_server_name(s, sname, sizeof(sname));
            model_server_addr(s, addr, sizeof(addr));
            ret |= buf_adds(b, "    server ");
            if (cfg_name(b, sname) || buf_adds(b, s->v6 ? " [" : " ") || cfg_name(b, addr)) {
                /* refused: cut the partial line */
                b->len = mark;
                b->ptr[mark] = '\0';
                (*dropped)++;
                continue;
            }
            ret |= buf_addf(b, "%s:%u\n", s->v6 ? "]" : "", s->port);
        }
        if (ret || (ret = out_flush(c, false)))
            return ret;
    }
    return 0;
}

static int render_map(struct rendered *r, const struct model *m, const struct render_opts *o,
                      enum model_map map, char **err)
{
    size_t size = 0;
    struct out w;
    char name[64];
    int ret;

    snprintf(name, sizeof(name), "maps/%s.map", model_map_name(map));
    if (!o->out_dir) {
        for (size_t i = 0; i < m->n_maps[map]; i++)
            size += strlen(m->maps[map][i].key) + strlen(m->maps[map][i].value) + 2;
    }
    ret = out_open(&w, o, name, RENDER_MAX_MAP, size, err);
    if (ret)
        return ret;
    buf_adds(&w.b, ""); /* an empty map is an empty file, not a buffer never made */
    for (size_t i = 0; !ret && i < m->n_maps[map]; i++) {
        struct buf *b = &w.b;
        size_t mark = b->len;

        if (map_key(b, m->maps[map][i].key) || buf_addc(b, ' ') ||
            map_key(b, m->maps[map][i].value) || buf_addc(b, '\n')) {
            if (!b->ptr) {
                ret = -E2BIG;
                break;
            }
            b->len = mark;
            b->ptr[mark] = '\0';
            r->n_dropped++;
            continue;
        }
        ret = out_flush(&w, false);
    }
    return out_close(&w, r, name, ret, err);
}

static int render_certs(struct rendered *r, const struct model *m)
{
    struct render_file *f;
    struct buf list;
    char name[300];

    buf_init(&list, RENDER_MAX_MAP);
    buf_adds(&list, "");
    add_blob(r, "certs/default.pem", m->default_cert.pem ? m->default_cert.pem : "",
             m->default_cert.pem_len, 0600);
    for (size_t i = 0; i < m->n_certs; i++) {
        const struct model_cert *c = &m->certs[i];
        size_t mark = list.len;
        int bad = 0;

        bad |= buf_adds(&list, "certs/");
        bad |= cfg_name(&list, c->file);
        for (size_t j = 0; j < c->n_snis; j++) {
            bad |= buf_addc(&list, ' ');
            bad |= map_key(&list, c->snis[j]);
        }
        bad |= buf_addc(&list, '\n');
        if (bad) {
            if (!list.ptr)
                return -E2BIG;
            list.len = mark;
            list.ptr[mark] = '\0';
            r->n_dropped++;
            continue;
        }
        snprintf(name, sizeof(name), "certs/%s", c->file);
        add_blob(r, name, c->pem, c->pem_len, 0600);
    }
    f = add_file(r, RENDER_CRT_LIST, &list, 0644);
    f->hash = hash_fnv1a(f->data, f->len);
    return 0;
}

/* About the size of the configuration: its backends are most of it. */
static size_t cfg_size(const struct model *m)
{
    size_t size = 16384; /* global, defaults, frontends */

    for (size_t i = 0; i < m->n_backends; i++) {
        size += strlen(m->backends[i].name) + 40;
        size += m->backends[i].n_servers * 60; /* two IPv4 names and the rest */
    }
    return size;
}

/* Renders haproxy.cfg as <out>'s first file. */
static int render_cfg(const struct model *m, const struct render_opts *o, struct rendered *out,
                      char **err)
{
    struct out c;
    int ret = out_open(&c, o, "haproxy.cfg", RENDER_MAX_CFG, o->out_dir ? 0 : cfg_size(m), err);

    if (ret)
        return ret;
    if (render_global(&c.b, m, o) || render_aux_frontends(&c.b, o) || render_frontend(&c.b, m, o))
        ret = -E2BIG;
    else
        ret = render_backends(&c, m, &out->n_dropped);
    return out_close(&c, out, "haproxy.cfg", ret, err);
}

int render(const struct model *m, const struct render_opts *o, struct rendered *out, char **err)
{
    uint64_t h = HASH_FNV1A_INIT;
    int ret;

    memset(out, 0, sizeof(*out));
    ret = render_cfg(m, o, out, err);
    if (ret)
        return ret;
    for (int map = 0; map < MODEL_MAP_COUNT; map++) {
        ret = render_map(out, m, o, (enum model_map)map, err);
        if (ret) {
            rendered_free(out);
            return ret;
        }
    }
    if (render_certs(out, m)) {
        rendered_free(out);
        errmsg_set(err, "crt-list: too large");
        return -E2BIG;
    }
    for (size_t i = 0; i < out->n_files; i++) {
        struct render_file *f = &out->files[i];

        h = hash_fold(h, hash_fnv1a(f->name, strlen(f->name)));
        h = hash_fold(h, f->hash);
    }
    out->hash = h;
    return 0;
}

void rendered_free(struct rendered *r)
{
    for (size_t i = 0; i < r->n_files; i++) {
        if (r->files[i].own && r->files[i].mode == 0600)
            memset(r->files[i].own, 0, r->files[i].len); /* key material */
        if (r->files[i].path)
            unlink(r->files[i].path);
        free(r->files[i].path);
        free(r->files[i].name);
        free(r->files[i].own);
    }
    free(r->files);
    memset(r, 0, sizeof(*r));
}
