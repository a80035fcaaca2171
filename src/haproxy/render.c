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
#include "model/keys.h"
#include "model/model.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/file.h"
#include "util/hmap.h"
#include "util/shared.h"
#include "util/strutil.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define RENDER_MAX_CFG (256u << 20)
#define RENDER_MAX_MAP (256u << 20)

static const unsigned redirect_codes[] = {301, 302, 303, 307, 308};

/* haproxy.cfg as it is made, file after file: in memory, or written out a
 * piece at a time when render_opts.cfg_path says where (at 50,000 endpoints
 * it is 7 MB, held beside the model otherwise). Pieces end at a line's end. */
struct cfg_out {
    struct buf b;
    size_t limit;   /* of all the files */
    size_t total;   /* bytes of the files before this one */
    struct rendered *out;
    const char *path; /* render_opts.cfg_path, or NULL */
    size_t file;    /* the one being made: out's last */
    int fd;         /* -1: in memory */
    size_t written;
    size_t hashed;  /* bytes of <b> hashed already: in <hash>, or a backend's */
    uint64_t hash;  /* of the file's bytes outside the backends' server lines */
    uint64_t shape; /* of the lines but the servers', of all the files */
    struct render_servers *srv; /* where the backends' server lines went */
    size_t reserve; /* bytes a file's buffer starts with */
};

#define CFG_PIECE 65536

/* How each file of RENDER_BACKENDS_DIR begins. */
#define RENDER_BACKENDS_HEAD "global\n    default-path parent\n"

static int cfg_begin(struct cfg_out *c, size_t k);
static int cfg_end(struct cfg_out *c);

/* Hashes the piece in <c>'s buffer and, when writing out, writes it once it
 * is big enough or <last>. Returns 0 or a negative errno. */
static int cfg_flush(struct cfg_out *c, bool last)
{
    const char *p = c->b.ptr, *end = p + c->b.len;
    int ret;

    if (!p)
        return -E2BIG; /* the buffer overflowed: buf_add() freed it */
    if (!last && (c->fd == -1 || c->b.len < CFG_PIECE))
        return 0;
    c->hash = hash_fnv1a_more(c->hash, p + c->hashed, c->b.len - c->hashed);
    c->hashed = c->b.len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);

        if (strncmp(p, "    server ", 11))
            c->shape = hash_fold(c->shape, hash_fnv1a(p, len));
        p += len;
    }
    if (c->fd == -1)
        return 0; /* the buffer's own limit is what the files before left */
    if (c->total + c->written + c->b.len > c->limit)
        return -E2BIG;
    ret = file_write_all(c->fd, c->b.ptr, c->b.len);
    c->written += c->b.len;
    c->hashed = 0;
    buf_reset(&c->b);
    return ret;
}

void render_cfg_file_name(char *name, size_t size, size_t k)
{
    if (k == 0)
        snprintf(name, size, "haproxy.cfg");
    else
        snprintf(name, size, RENDER_BACKENDS_DIR "/%05zu.cfg", k);
}

/* How many files haproxy.cfg takes for <n> backends, <per> in each. */
static size_t cfg_files(size_t n, size_t per)
{
    return n > per ? (n + per - 1) / per : 1;
}

/* Where file <k> of haproxy.cfg is written when its first is at <base>
 * (render_opts.cfg_path; malloc'd). */
static char *cfg_file_path(const char *base, size_t k)
{
    return k ? xasprintf("%s.%zu", base, k) : xstrdup(base);
}

/* The backend after the last of file <k> of table <t>. */
static size_t file_end(const struct render_servers *t, size_t k)
{
    return (k + 1) * t->per_file < t->n ? (k + 1) * t->per_file : t->n;
}

/* A table of where the server lines of <m>'s backends are (one reference),
 * <per> in each file. */
static struct render_servers *servers_new(const struct model *m, size_t per)
{
    size_t n = m->n_backends, n_files = cfg_files(n, per);
    struct render_servers *t = shared_new(sizeof(*t) + n_files * sizeof(*t->files) +
                                          n * (2 * sizeof(*t->at) + sizeof(*t->hash)));

    t->root = m->base ? m->base : m;
    t->n = n;
    t->per_file = per;
    t->n_files = n_files;
    t->files = (struct render_cfg_file *)(t + 1);
    t->hash = (uint64_t *)(t->files + n_files);
    t->at = (uint32_t *)(t->hash + n);
    return t;
}

/* Hashes file <k> of table <t> from its gaps and backends. */
static void servers_fold_file(struct render_servers *t, size_t k)
{
    size_t end = file_end(t, k);
    uint64_t h = t->files[k].gaps;

    for (size_t i = k * t->per_file; i < end; i++)
        h = hash_fold(h, t->hash[i]);
    t->files[k].hash = h;
}

/* The hash of haproxy.cfg whose files table <t> hashes. */
static uint64_t servers_fold(const struct render_servers *t)
{
    uint64_t h = HASH_FNV1A_INIT;

    for (size_t k = 0; k < t->n_files; k++)
        h = hash_fold(h, t->files[k].hash);
    return h;
}

/* Records that backend <i>'s server lines are <c>'s buffer from <start> on:
 * what came before them is hashed into the file's gaps. */
static void servers_at(struct cfg_out *c, size_t i, size_t start)
{
    const char *p = c->b.ptr;

    c->hash = hash_fnv1a_more(c->hash, p + c->hashed, start - c->hashed);
    c->srv->at[2 * i] = (uint32_t)(c->written + start);
    c->srv->at[2 * i + 1] = (uint32_t)(c->written + c->b.len);
    c->srv->hash[i] = hash_fnv1a(p + start, c->b.len - start);
    c->hashed = c->b.len;
}

static struct render_file *new_file(struct rendered *r, const char *name, mode_t mode)
{
    struct render_file *f;

    /* a file for each of 1,000 certificates: not a copy of the array each */
    r->files = xgrow(r->files, &r->cap_files, r->n_files + 1, sizeof(*r->files));
    f = &r->files[r->n_files++];
    memset(f, 0, sizeof(*f));
    f->name = xstrdup(name);
    f->mode = mode;
    f->map = -1;
    return f;
}

static void add_file(struct rendered *r, const char *name, struct buf *b, mode_t mode)
{
    struct render_file *f = new_file(r, name, mode);

    f->len = b->len;
    f->own = buf_take(b);
    f->data = f->own;
}

/* The defaults of the TCP proxies of ssl-passthrough. */
#define PASSTHROUGH_DEFAULTS "portico_tcp"

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

/* A snippet's lines (checked by keys.c: printable, no quotes, allowed
 * keywords only), indented. */
static int render_snippet(struct buf *b, const char *lines)
{
    int ret = 0;

    while (lines && *lines) {
        size_t len = strcspn(lines, "\n");

        ret |= buf_addf(b, "    %.*s\n", (int)len, lines);
        lines += len + (lines[len] == '\n');
    }
    return ret;
}

static bool has_tcp_services(const struct model *m)
{
    for (size_t i = 0; i < m->n_backends; i++) {
        if (m->backends[i]->listen_port)
            return true;
    }
    return false;
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
                       "    stats timeout 1m\n");
    /* in the largest unit that divides it: 30m, not 1800000ms */
    if (g->hard_stop_after_ms % 60000 == 0)
        ret |= buf_addf(b, "    hard-stop-after %um\n", g->hard_stop_after_ms / 60000);
    else if (g->hard_stop_after_ms % 1000 == 0)
        ret |= buf_addf(b, "    hard-stop-after %us\n", g->hard_stop_after_ms / 1000);
    else
        ret |= buf_addf(b, "    hard-stop-after %ums\n", g->hard_stop_after_ms);
    if (g->close_spread_time_ms)
        ret |= buf_addf(b, "    close-spread-time %ums\n", g->close_spread_time_ms);
    ret |= buf_adds(b, "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n"
                       "    tune.ssl.default-dh-param 2048\n");
    if (g->maxconn)
        ret |= buf_addf(b, "    maxconn %u\n", g->maxconn);
    if (g->nbthread)
        ret |= buf_addf(b, "    nbthread %u\n", g->nbthread);
    /* validated arguments of "log", a target a line (keys.c) */
    for (const char *t = g->log_targets; t && *t;) {
        size_t len = strcspn(t, "\n");

        ret |= buf_addf(b, "    log %.*s\n", (int)len, t);
        t += len + (t[len] == '\n');
    }
    ret |= render_snippet(b, g->global_snippet);
    if (o->fault)
        ret |= buf_adds(b, "    portico-fault-injected\n");
    /* the TCP proxies of ssl-passthrough and of TCP services: none of the
     * HTTP options */
    if (m->n_maps[MODEL_MAP_PASSTHROUGH] || has_tcp_services(m))
        ret |= buf_addf(b,
                        "\n"
                        "defaults " PASSTHROUGH_DEFAULTS "\n"
                        "    mode tcp\n"
                        "    timeout connect %ums\n"
                        "    timeout client %ums\n"
                        "    timeout server %ums\n",
                        g->timeout_connect_ms, g->timeout_client_ms, g->timeout_server_ms);
    /* idle-close-on-response: after a reload the old worker answers one more
     * request on an idle keep-alive connection (with "Connection: close")
     * instead of closing it, which races with a request the client is
     * sending (HAProxy 2.6.12 has it; checked by the golden tests' haproxy -c) */
    ret |= buf_addf(b,
                    "\n"
                    "defaults\n"
                    "    mode http\n"
                    "    option redispatch\n"
                    "    option idle-close-on-response\n"
                    "    retries 3\n"
                    "    timeout connect %ums\n"
                    "    timeout client %ums\n"
                    "    timeout server %ums\n"
                    "    timeout http-request %ums\n"
                    "    timeout http-keep-alive %ums\n"
                    "    timeout queue %ums\n"
                    "    timeout tunnel %ums\n",
                    g->timeout_connect_ms, g->timeout_client_ms, g->timeout_server_ms,
                    g->timeout_http_request_ms, g->timeout_http_keep_alive_ms,
                    g->timeout_queue_ms, g->timeout_tunnel_ms);
    for (size_t i = 0; i < m->n_errorfiles; i++)
        ret |= buf_addf(b, "    errorfile %u " RENDER_ERRORFILES "/%u.http\n",
                        m->errorfiles[i].code, m->errorfiles[i].code);
    if (g->timeout_client_fin_ms)
        ret |= buf_addf(b, "    timeout client-fin %ums\n", g->timeout_client_fin_ms);
    if (g->timeout_server_fin_ms)
        ret |= buf_addf(b, "    timeout server-fin %ums\n", g->timeout_server_fin_ms);
    if (g->http_connection_mode)
        ret |= buf_addf(b, "    option %s\n", g->http_connection_mode);
    if (g->timeout_check_ms)
        ret |= buf_addf(b, "    timeout check %ums\n", g->timeout_check_ms);
    if (g->log_targets) {
        ret |= buf_adds(b, "    log global\n");
        if (g->log_format) {
            ret |= buf_adds(b, "    log-format ");
            if (cfg_word_strong(b, g->log_format))
                return -EINVAL;
            ret |= buf_addc(b, '\n');
        } else {
            ret |= buf_adds(b, "    option httplog\n");
        }
        if (g->dontlognull)
            ret |= buf_adds(b, "    option dontlognull\n");
        if (g->logasap)
            ret |= buf_adds(b, "    option logasap\n");
    }
    ret |= buf_addc(b, '\n');
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

/* The captures of backend <be>'s own (an Ingress's request-capture), or
 * NULL: none, or the ConfigMap's, which the frontend makes. */
static const char *backend_captures(const struct model *m, const struct model_backend *be)
{
    if (!be->opts || !be->opts->request_capture || be->opts->ssl_passthrough ||
        keys_same_captures(be->opts, &m->global))
        return NULL;
    return be->opts->request_capture;
}

/* The number of lines of <list>, '\n' separated. */
static size_t count_lines(const char *list)
{
    size_t n = list && *list ? 1 : 0;

    for (const char *p = list; p && *p; p++)
        n += *p == '\n';
    return n;
}

/* The slots of the backends' own captures, after the ConfigMap's: the k-th
 * capture of every backend is in slot <first> + k, as long as the longest
 * of them. */
struct capture_slots {
    size_t first, n;
    uint32_t len[KEY_LIST_MAX];
};

static void capture_slots(const struct model *m, struct capture_slots *cs)
{
    memset(cs, 0, sizeof(*cs));
    cs->first = count_lines(m->global.request_capture);
    for (size_t i = 0; i < m->n_backends; i++) {
        const char *list = backend_captures(m, m->backends[i]);
        size_t n = count_lines(list);

        n = n < KEY_LIST_MAX ? n : KEY_LIST_MAX;
        for (size_t k = 0; k < n; k++) {
            if (m->backends[i]->opts->request_capture_len > cs->len[k])
                cs->len[k] = m->backends[i]->opts->request_capture_len;
        }
        if (n > cs->n)
            cs->n = n;
    }
}

/* One "declare capture" a slot, in the routing frontend. */
static int declare_captures(struct buf *b, const struct model *m)
{
    struct capture_slots cs;
    int ret = 0;

    capture_slots(m, &cs);
    for (size_t k = 0; k < cs.n; k++)
        ret |= buf_addf(b, "    declare capture request len %u\n", cs.len[k]);
    return ret;
}

/* Backend <be>'s own captures, in the slots <cs>, each value cut to its
 * own length where the slot is longer. */
static int render_captures(struct buf *b, const struct model *m, const struct model_backend *be,
                           const struct capture_slots *cs)
{
    const char *t = backend_captures(m, be);
    int ret = 0;

    /* validated fetches (keys.c), a line each */
    for (size_t k = 0; t && *t && k < cs->n; k++) {
        size_t len = strcspn(t, "\n");

        ret |= buf_addf(b, "    http-request capture %.*s", (int)len, t);
        if (be->opts->request_capture_len < cs->len[k])
            ret |= buf_addf(b, ",bytes(0,%u)", be->opts->request_capture_len);
        ret |= buf_addf(b, " id %zu\n", cs->first + k);
        t += len + (t[len] == '\n');
    }
    return ret;
}

/* The routing frontend. Host key: Host header lower-cased, port and one
 * trailing dot removed, looked up exactly, then with its first label
 * stripped among wildcard suffixes. Path key: host key + path. */
/* One "http-request set-var(txn.cgo) str(<go>)" line for the canary <c>,
 * when <fetch>(<name>) matches <value> with the method <match> ("str", or
 * "reg" for a regex) and, unless <first>, nothing decided before it. */
static int canary_line(struct buf *b, const struct model_canary *c, const char *go, bool first,
                       const char *fetch, const char *name, const char *match, const char *value)
{
    char word[128];
    int ret;

    /* names are letters, digits, '-', '_' and '.' (keys.c): they fit */
    snprintf(word, sizeof(word), "%s(%s)", fetch, name);
    ret = buf_addf(b, "    http-request set-var(txn.cgo) str(%s) if %s{ var(txn.canary),field(5,:) "
                      "-m str ",
                   go, first ? "" : "!{ var(txn.cgo) -m found } ");
    ret |= cfg_name(b, c->id);
    ret |= buf_adds(b, " } { ");
    ret |= cfg_word_strong(b, word);
    ret |= buf_addf(b, " -m %s -- ", match);
    ret |= cfg_acl_word(b, value);
    ret |= buf_adds(b, " }\n");
    return ret;
}

/* The canaries (ingress-nginx's): a route with one has the map value
 * "MAIN:CANARY:WEIGHT:TOTAL:ID". Its header decides first, then its cookie,
 * then the weight, which is read from the map so that a new weight is a map
 * update, not a reload (doc/internals/routing-maps.md). */
static int render_canaries(struct buf *b, const struct model *m)
{
    int ret = 0;

    if (!m->n_canaries)
        return 0;
    ret |= buf_adds(b, "    http-request set-var(txn.canary) var(txn.backend) "
                       "if { var(txn.backend) -m sub : }\n"
                       "    http-request set-var(txn.backend) var(txn.canary),field(1,:) "
                       "if { var(txn.canary) -m found }\n");
    for (size_t i = 0; i < m->n_canaries; i++) {
        const struct model_canary *c = &m->canaries[i];

        /* a value, else a pattern, else always/never (build.c) */
        if (c->header && c->header_value) {
            ret |= canary_line(b, c, "1", true, "req.fhdr", c->header, "str", c->header_value);
        } else if (c->header && c->header_pattern) {
            ret |= canary_line(b, c, "1", true, "req.fhdr", c->header, "reg", c->header_pattern);
        } else if (c->header) {
            ret |= canary_line(b, c, "1", true, "req.fhdr", c->header, "str", "always");
            ret |= canary_line(b, c, "0", false, "req.fhdr", c->header, "str", "never");
        }
        if (c->cookie) {
            ret |= canary_line(b, c, "1", false, "req.cook", c->cookie, "str", "always");
            ret |= canary_line(b, c, "0", false, "req.cook", c->cookie, "str", "never");
        }
    }
    ret |= buf_adds(b, "    http-request set-var(txn.cw) var(txn.canary),field(3,:) "
                       "if { var(txn.canary) -m found } !{ var(txn.cgo) -m found }\n"
                       "    http-request set-var(txn.ct) var(txn.canary),field(4,:) "
                       "if { var(txn.canary) -m found } !{ var(txn.cgo) -m found }\n"
                       "    http-request set-var(txn.cgo) str(1) if { var(txn.ct) -m found } "
                       "{ rand,mod(txn.ct),sub(txn.cw) -m int lt 0 }\n"
                       "    http-request set-var(txn.backend) var(txn.canary),field(2,:) "
                       "if { var(txn.cgo) -m str 1 }\n");
    return ret;
}

static int render_frontend(struct buf *b, const struct model *m, const struct render_opts *o)
{
    bool passthrough = o->https_port && m->n_maps[MODEL_MAP_PASSTHROUGH];
    char offload[64];
    int ret = 0;

    /* one abstract socket per Portico: its runtime directory names it */
    snprintf(offload, sizeof(offload), "abns@portico-%016llx",
             (unsigned long long)hash_fnv1a(o->runtime_dir, strlen(o->runtime_dir)));
    if (passthrough) {
        /* TLS hellos for a passed-through host go to its TCP backend as they
         * are; the others to the HTTPS frontend, client address kept */
        ret |= buf_adds(b, "frontend portico_tls from " PASSTHROUGH_DEFAULTS "\n");
        ret |= add_binds(b, o, o->https_port, "https", "");
        ret |= buf_addf(b,
                        "    tcp-request inspect-delay 5s\n"
                        "    tcp-request content accept if { req_ssl_hello_type 1 }\n"
                        "    use_backend %%[req_ssl_sni,lower,map_str(maps/passthrough.map)] "
                        "if { req_ssl_sni,lower,map_str(maps/passthrough.map) -m found }\n"
                        "    default_backend _tls_offload\n"
                        "\n"
                        "backend _tls_offload from " PASSTHROUGH_DEFAULTS "\n"
                        "    server https %s send-proxy-v2\n"
                        "\n",
                        offload);
    }
    ret |= buf_adds(b, "frontend portico\n");
    if (o->http_port)
        ret |= add_binds(b, o, o->http_port, "http", "");
    if (o->https_port) {
        char extra[200];

        /* tls_alpn: one of the protocol names parse_alpn() knows */
        snprintf(extra, sizeof(extra),
                 " ssl crt certs/default.pem crt-list " RENDER_CRT_LIST " alpn %s%s%s",
                 m->global.tls_alpn, m->global.client_strict_sni ? " strict-sni" : "",
                 !m->client_ca_pem                  ? ""
                 : m->global.client_crt_optional ? " ca-file " RENDER_CLIENT_CA " verify optional"
                                                 : " ca-file " RENDER_CLIENT_CA " verify required");
        if (passthrough)
            ret |= buf_addf(b, "    bind %s name https accept-proxy%s\n", offload, extra);
        else
            ret |= add_binds(b, o, o->https_port, "https", extra);
    }
    if (m->global.proxy_protocol)
        ret |= buf_addf(b, "    tcp-request connection expect-proxy layer4 if { src %s }\n",
                        m->global.proxy_protocol);
    /* validated fetches (keys.c), a line each */
    for (const char *t = m->global.request_capture; t && *t;) {
        size_t len = strcspn(t, "\n");

        ret |= buf_addf(b, "    http-request capture %.*s len %u\n", (int)len, t,
                        m->global.request_capture_len);
        t += len + (t[len] == '\n');
    }
    /* the slots of the Ingresses' own captures (render_captures()) */
    ret |= declare_captures(b, m);
    /* client-ca unusable: no HTTPS request is served without the check */
    if (m->client_ca_broken)
        ret |= buf_adds(b, "    http-request deny deny_status 403 if { ssl_fc }\n");
    /* what the endpoints learn of the client's certificate, never the client's say */
    if (m->client_ca_pem)
        ret |= buf_adds(b, "    http-request del-header X-SSL-Client-Verify\n"
                           "    http-request del-header X-SSL-Client-DN\n"
                           "    http-request set-header X-SSL-Client-Verify SUCCESS "
                           "if { ssl_c_used }\n"
                           "    http-request set-header X-SSL-Client-Verify NONE "
                           "if { ssl_fc } !{ ssl_c_used }\n"
                           "    http-request set-header X-SSL-Client-DN %[ssl_c_s_dn] "
                           "if { ssl_c_used }\n");
    /* every rule below runs on every request: each is written so that the
     * common case costs least (bench/throughput.py --explain) */
    ret |= buf_adds(
        b,
        "    http-request deny deny_status 400 if !{ req.hdr(host) -m found } { req.ver 1.1 }\n"
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
        "map_str(maps/host-default.map) if !{ var(txn.backend) -m found }\n");
    ret |= render_canaries(b, m);
    /* a miss leaves txn.backend as it is */
    ret |= buf_adds(b, "    http-request set-var(txn.backend) var(txn.hk),"
                       "map_str(maps/redirect.map) if !{ ssl_fc }\n"
                       "    http-request set-header X-Forwarded-Proto "
                       "%[ssl_fc,iif(https,http)]\n");
    ret |= render_snippet(b, m->global.frontend_snippet);
    /* no backend by that name, or no name: the default backend */
    ret |= buf_adds(b, "    use_backend %[var(txn.backend)]\n"
                       "    default_backend ");
    if (m->default_backend)
        ret |= cfg_name(b, m->default_backend);
    else
        ret |= buf_adds(b, MODEL_NOT_FOUND_BACKEND);
    ret |= buf_adds(b, "\n"
                       "    http-after-response add-header Server portico "
                       "if !{ res.hdr(server) -m found }\n"
                       "    http-after-response add-header Date %[date,http_date] "
                       "if !{ res.hdr(date) -m found }\n"
                       "\n");
    return ret;
}

/* Lines "acl NAME src ..." for <list> (space separated, validated), at most
 * 40 addresses a line: HAProxy reads no more than 64 words on one. */
static int render_src_acl(struct buf *b, const char *name, const char *list)
{
    int ret = 0;

    while (*list) {
        ret |= buf_addf(b, "    acl %s src", name);
        for (int i = 0; i < 40 && *list; i++) {
            size_t len = strcspn(list, " ");

            ret |= buf_addf(b, " %.*s", (int)len, list);
            list += len;
            list += *list == ' ';
        }
        ret |= buf_addc(b, '\n');
    }
    return ret;
}

/* "Name\nvalue\n" pairs as "    <directive> 'Name' 'value'" lines. */
static int render_headers(struct buf *b, const char *directive, const char *pairs)
{
    char name[KEY_TEXT_MAX + 1], value[KEY_TEXT_MAX + 1];
    int ret = 0;

    while (*pairs) {
        size_t nlen = strcspn(pairs, "\n"), vlen;

        vlen = strcspn(pairs + nlen + 1, "\n");
        snprintf(name, sizeof(name), "%.*s", (int)nlen, pairs);
        snprintf(value, sizeof(value), "%.*s", (int)vlen, pairs + nlen + 1);
        ret |= buf_addf(b, "    %s ", directive);
        if (cfg_word_strong(b, name) || buf_addc(b, ' ') || cfg_word_logfmt(b, value) ||
            buf_addc(b, '\n'))
            return -EINVAL;
        pairs += nlen + 1 + vlen + 1;
    }
    return ret;
}

/* The CORS headers of a preflight answer, as "hdr NAME VALUE" arguments
 * (<hdr> "hdr") or as set-header lines (<hdr> NULL, for the endpoints'
 * answers to preflights). */
static int render_cors_preflight(struct buf *b, const struct key_values *o, const char *hdr)
{
    const char *names[] = {"Access-Control-Allow-Methods", "Access-Control-Allow-Headers"};
    const char *values[] = {o->cors_allow_methods, o->cors_allow_headers};
    int ret = 0;

    for (int i = 0; i < 2; i++) {
        ret |= hdr ? buf_addf(b, " hdr %s ", names[i])
                   : buf_addf(b, "    http-response set-header %s ", names[i]);
        /* a header value is a log-format string: '%' doubled */
        if (cfg_word_logfmt(b, values[i]))
            return -EINVAL;
        if (!hdr)
            ret |= buf_adds(b, " if cors_origin_ok cors_preflight\n");
    }
    ret |= hdr ? buf_addf(b, " hdr Access-Control-Max-Age '%u'", o->cors_max_age)
               : buf_addf(b, "    http-response set-header Access-Control-Max-Age '%u' if "
                             "cors_origin_ok cors_preflight\n",
                          o->cors_max_age);
    return ret;
}

/* CORS: the allowed origins, the preflight answer (cors-respond-to-options)
 * and the headers of the endpoints' answers. */
static int render_cors(struct buf *b, const struct key_values *o)
{
    const char *origin = o->cors_allow_origin;
    bool any = !strcmp(origin, "*");
    /* "*" cannot go with credentials: browsers want the origin echoed */
    const char *allow = any && !o->cors_allow_credentials ? "'*'" : "'%[var(txn.cors_origin)]'";
    int ret = 0;

    ret |= buf_adds(b, "    http-request set-var(txn.cors_origin) req.hdr(origin)\n");
    if (any) {
        ret |= buf_adds(b, "    acl cors_origin_ok var(txn.cors_origin) -m found\n");
    } else if (*origin == '^') {
        ret |= buf_adds(b, "    acl cors_origin_ok var(txn.cors_origin) -m reg ");
        if (cfg_word_strong(b, origin) || buf_addc(b, '\n'))
            return -EINVAL;
    } else {
        ret |= buf_adds(b, "    acl cors_origin_ok var(txn.cors_origin) -m str");
        while (*origin) {
            size_t len = strcspn(origin, " ");
            char one[KEY_TEXT_MAX + 1];

            snprintf(one, sizeof(one), "%.*s", (int)len, origin);
            if (buf_addc(b, ' ') || cfg_word_strong(b, one))
                return -EINVAL;
            origin += len;
            origin += *origin == ' ';
        }
        ret |= buf_addc(b, '\n');
    }
    ret |= buf_adds(b, "    acl cors_preflight method OPTIONS\n"
                       "    acl cors_preflight_req req.hdr(access-control-request-method) -m found\n");
    if (o->cors_respond_to_options) {
        ret |= buf_addf(b, "    http-request return status 204 hdr Access-Control-Allow-Origin %s",
                        allow);
        if (render_cors_preflight(b, o, "hdr"))
            return -EINVAL;
        if (o->cors_allow_credentials)
            ret |= buf_adds(b, " hdr Access-Control-Allow-Credentials 'true'");
        if (!any || o->cors_allow_credentials)
            ret |= buf_adds(b, " hdr Vary 'Origin'");
        ret |= buf_adds(b, " if cors_preflight cors_origin_ok cors_preflight_req\n");
    }
    return ret;
}

/* The CORS headers of the endpoints' answers. */
static int render_cors_response(struct buf *b, const struct key_values *o)
{
    bool any = !strcmp(o->cors_allow_origin, "*");
    int ret = 0;

    ret |= buf_addf(b, "    http-response set-header Access-Control-Allow-Origin %s if "
                       "cors_origin_ok\n",
                    any && !o->cors_allow_credentials ? "'*'" : "'%[var(txn.cors_origin)]'");
    if (o->cors_allow_credentials)
        ret |= buf_adds(b, "    http-response set-header Access-Control-Allow-Credentials "
                           "'true' if cors_origin_ok\n");
    if (!any || o->cors_allow_credentials)
        ret |= buf_adds(b, "    http-response add-header Vary 'Origin' if cors_origin_ok\n");
    if (render_cors_preflight(b, o, NULL))
        return -EINVAL;
    return ret;
}

/* True when --configmap-errorfiles has a page for status <code>. */
static bool has_errorfile(const struct model *m, unsigned code)
{
    for (size_t i = 0; i < m->n_errorfiles; i++) {
        if (m->errorfiles[i].code == code)
            return true;
    }
    return false;
}

/* Basic authentication: the users' list, or a 503 when there is none
 * usable, rather than serve without it. */
static int render_auth(struct buf *b, const struct key_values *o, const struct model_userlist *ul)
{
    const char *realm = o->auth_realm ? o->auth_realm : KEY_AUTH_REALM;

    if (!ul)
        return buf_adds(b, "    http-request return status 503 content-type text/plain string "
                           "'503 service unavailable: authentication cannot be checked'\n");
    if (buf_adds(b, "    http-request auth realm ") || cfg_word_strong(b, realm) ||
        buf_adds(b, " unless { http_auth(") || cfg_name(b, ul->name) || buf_adds(b, ") }\n"))
        return -EINVAL;
    return 0;
}

static int render_userlists(struct buf *b, const struct model *m)
{
    for (size_t i = 0; i < m->n_userlists; i++) {
        const struct model_userlist *ul = m->userlists[i];

        if (buf_adds(b, "userlist ") || cfg_name(b, ul->name) || buf_addc(b, '\n'))
            return -EINVAL;
        for (size_t j = 0; j < ul->n_users; j++) {
            if (buf_adds(b, "    user ") || cfg_word_strong(b, ul->users[j]) ||
                buf_adds(b, " password ") || cfg_word_strong(b, ul->hashes[j]) ||
                buf_addc(b, '\n'))
                return -EINVAL;
        }
        if (buf_addc(b, '\n'))
            return -EINVAL;
    }
    return 0;
}

/* ingress-nginx's custom-http-errors, <codes> space separated (the
 * ConfigMap's or an Ingress's): the endpoint's answer replaced by the error
 * page of its status (--configmap-errorfiles's, else HAProxy's); codes
 * validated against those HAProxy has a page for (keys.c). */
static int render_http_errors(struct buf *b, const char *codes)
{
    int ret = 0;

    for (const char *c = codes; c && *c;) {
        size_t len = strcspn(c, " ");

        ret |= buf_addf(b, "    http-response return status %.*s default-errorfiles "
                           "if { status %.*s }\n",
                        (int)len, c, (int)len, c);
        c += len + (c[len] == ' ');
    }
    return ret;
}

/* The lines a backend's keys add (doc/config/ names them), in the order
 * HAProxy runs them: access first, then CORS preflights (answered without
 * the endpoints), then the request's rewrites, then the response's.
 * Nonzero when a value cannot be written (the caller drops them all). */
static int render_backend_keys(struct buf *b, const struct model *m,
                               const struct model_backend *be, const struct capture_slots *cs)
{
    const char *name = be->name;
    const struct key_values *o = be->opts, *g = &m->global;
    const struct model_userlist *ul = be->userlist;
    int ret = 0;

    ret |= buf_addf(b, "    balance %s\n", o->load_balance);
    if (!strcmp(o->load_balance, "source") || !strcmp(o->load_balance, "uri"))
        ret |= buf_adds(b, "    hash-type consistent\n"); /* servers added at run time */
    if (!o->ssl_passthrough && o->forwarded_for)
        ret |= buf_adds(b, "    option forwardfor\n");
    /* TLS passed through: bytes, no HTTP to act on */
    if (o->ssl_passthrough) {
        if (o->timeout_connect_ms != g->timeout_connect_ms)
            ret |= buf_addf(b, "    timeout connect %ums\n", o->timeout_connect_ms);
        if (o->timeout_server_ms != g->timeout_server_ms)
            ret |= buf_addf(b, "    timeout server %ums\n", o->timeout_server_ms);
        return ret ? -E2BIG : 0;
    }
    if (o->abortonclose)
        ret |= buf_adds(b, "    option abortonclose\n");
    /* ingress-nginx's default-backend: every endpoint of it serves, not the first */
    if (o->nginx_default_backend)
        ret |= buf_adds(b, "    option allbackups\n");
    /* dynamic: each server's cookie a hash of its address and the key, as
     * "add server" can give one (it refuses "cookie"); the backend's name
     * as the key keeps the values across replicas and reloads */
    if (o->cookie_static)
        ret |= buf_addf(b, "    cookie %s insert indirect nocache\n", o->cookie_static);
    else if (o->cookie_persistence)
        ret |= buf_addf(b, "    cookie %s insert indirect nocache dynamic\n"
                           "    dynamic-cookie-key %s\n",
                        o->cookie_persistence, name);
    /* a validated method and path: no space, quote or '#' */
    if (o->check && o->check_http)
        ret |= buf_addf(b, "    option httpchk %s\n", o->check_http);
    if (o->timeout_connect_ms != g->timeout_connect_ms)
        ret |= buf_addf(b, "    timeout connect %ums\n", o->timeout_connect_ms);
    if (o->timeout_server_ms != g->timeout_server_ms)
        ret |= buf_addf(b, "    timeout server %ums\n", o->timeout_server_ms);
    if (o->timeout_queue_ms != g->timeout_queue_ms)
        ret |= buf_addf(b, "    timeout queue %ums\n", o->timeout_queue_ms);
    if (o->timeout_tunnel_ms != g->timeout_tunnel_ms)
        ret |= buf_addf(b, "    timeout tunnel %ums\n", o->timeout_tunnel_ms);
    if (o->timeout_check_ms != g->timeout_check_ms)
        ret |= buf_addf(b, "    timeout check %ums\n", o->timeout_check_ms);
    /* a validated header name; before every rule that reads the address */
    if (o->src_ip_header)
        ret |= buf_addf(b, "    http-request set-src hdr(%s)\n", o->src_ip_header);
    ret |= render_captures(b, m, be, cs);
    /* redirects and the body limit answer before access control, as nginx's
     * rewrite phase comes before its access phase; a location is a
     * log-format string */
    if (o->permanent_redirect || o->temporal_redirect) {
        ret |= buf_adds(b, "    http-request redirect location ");
        if (cfg_word_logfmt(b, o->permanent_redirect ? o->permanent_redirect
                                                     : o->temporal_redirect))
            return -EINVAL;
        ret |= buf_addf(b, " code %u\n",
                        o->permanent_redirect ? o->permanent_redirect_code : 302);
    }
    if (o->app_root) {
        ret |= buf_adds(b, "    http-request redirect location ");
        if (cfg_word_logfmt(b, o->app_root))
            return -EINVAL;
        ret |= buf_adds(b, " code 302 if { path / }\n");
    }
    if (o->proxy_body_size)
        ret |= buf_addf(b, "    http-request deny deny_status 413 if "
                           "{ req.hdr_val(content-length) gt %u }\n",
                        o->proxy_body_size);
    if (o->allow_list) {
        ret |= render_src_acl(b, "allowed", o->allow_list);
        ret |= buf_adds(b, "    http-request deny deny_status 403 if !allowed\n");
    }
    if (o->deny_list) {
        ret |= render_src_acl(b, "denied", o->deny_list);
        ret |= buf_adds(b, "    http-request deny deny_status 403 if denied\n");
    }
    /* one table per backend for both limits: its rate, its open connections */
    if (o->rate_limit_requests || o->limit_connections) {
        const char *exempt = o->rate_limit_whitelist ? " !rate_exempt" : "";

        ret |= buf_addf(b, "    stick-table type ip size %u expire %ums store ",
                        o->rate_limit_size, o->rate_limit_period_ms);
        if (o->rate_limit_requests)
            ret |= buf_addf(b, "http_req_rate(%ums)%s", o->rate_limit_period_ms,
                            o->limit_connections ? "," : "");
        if (o->limit_connections)
            ret |= buf_adds(b, "conn_cur");
        ret |= buf_addc(b, '\n');
        if (o->rate_limit_whitelist)
            ret |= render_src_acl(b, "rate_exempt", o->rate_limit_whitelist);
        ret |= buf_adds(b, "    http-request track-sc0 src\n");
        if (o->rate_limit_requests)
            ret |= buf_addf(b, "    http-request deny deny_status %u if "
                               "{ sc_http_req_rate(0) gt %u }%s\n",
                            o->rate_limit_status_code, o->rate_limit_requests, exempt);
        if (o->limit_connections)
            ret |= buf_addf(b, "    http-request deny deny_status 503 if "
                               "{ sc_conn_cur(0) gt %u }%s\n",
                            o->limit_connections, exempt);
    }
    if (o->auth_type && render_auth(b, o, ul))
        return -EINVAL;
    if (o->request_redirect) {
        const char *scheme[] = {"http", "https"};

        for (int k = 0; k < 2; k++) {
            ret |= buf_addf(b, "    http-request redirect location '%s://", scheme[k]);
            /* a validated host name: nothing log-format reads */
            ret |= buf_adds(b, o->request_redirect);
            ret |= buf_addf(b, "%%[capture.req.uri]' code %u if %s{ ssl_fc }\n",
                            o->request_redirect_code, k ? "" : "!");
        }
    }
    if (o->cors_enable && render_cors(b, o))
        return -EINVAL;
    if (o->set_host) {
        ret |= buf_adds(b, "    http-request set-header Host ");
        if (cfg_word_logfmt(b, o->set_host) || buf_addc(b, '\n'))
            return -EINVAL;
    }
    for (const char *p = o->path_rewrite; p && *p;) {
        size_t re_len = strcspn(p, "\n"), to_len = strcspn(p + re_len + 1, "\n");
        char re[KEY_TEXT_MAX + 1], to[KEY_TEXT_MAX + 1];

        snprintf(re, sizeof(re), "%.*s", (int)re_len, p);
        snprintf(to, sizeof(to), "%.*s", (int)to_len, p + re_len + 1);
        ret |= buf_adds(b, "    http-request replace-path ");
        if (cfg_word_strong(b, re) || buf_addc(b, ' ') || cfg_word_logfmt(b, to) ||
            buf_addc(b, '\n'))
            return -EINVAL;
        p += re_len + 1 + to_len + 1;
    }
    if (o->request_set_header && render_headers(b, "http-request set-header",
                                                o->request_set_header))
        return -EINVAL;
    ret |= render_http_errors(b, o->nginx_http_errors);
    if (o->response_set_header && render_headers(b, "http-response set-header",
                                                 o->response_set_header))
        return -EINVAL;
    if (o->cors_enable && render_cors_response(b, o))
        return -EINVAL;
    ret |= render_snippet(b, o->backend_snippet);
    return ret ? -E2BIG : 0;
}

/* A TCP service's proxy: its listeners and balancing; the servers follow.
 * Its name, "tcp-<port>", needs no quoting. */
static int render_listen(struct buf *b, const struct model_backend *be,
                         const struct render_opts *o)
{
    int ret = buf_addf(b, "\nlisten %s from " PASSTHROUGH_DEFAULTS "\n", be->name);

    ret |= add_binds(b, o, be->listen_port, "tcp",
                     be->listen_ssl ? " ssl crt certs/default.pem crt-list " RENDER_CRT_LIST : "");
    ret |= buf_adds(b, "    balance roundrobin\n");
    return ret;
}

static int server_words(struct buf *b, const struct model_backend *be,
                        const struct model_server *s, const char *name, bool added);

static int backends_with(struct cfg_out *c, const struct model *m, const struct render_opts *o,
                         size_t *dropped, const struct capture_slots *cs);

static int render_backends(struct cfg_out *c, const struct model *m, const struct render_opts *o,
                           size_t *dropped)
{
    struct capture_slots *cs = xmalloc(sizeof(*cs)); /* 4 kB: not on the stack */
    int ret;

    capture_slots(m, cs);
    ret = backends_with(c, m, o, dropped, cs);
    free(cs);
    return ret;
}

/* The "server" lines of <be>, its servers' then its backups'. A line an
 * escaping function refuses is left out and counted in <dropped>. */
static int render_server_lines(struct buf *b, const struct model_backend *be, size_t *dropped)
{
    int ret = 0;

    for (size_t j = 0; j < be->n_servers; j++) {
        struct model_server sv = model_backend_server(be, j);
        char sname[MODEL_SERVER_NAME_MAX];
        size_t mark = b->len;

        /* hex digits, '.' and ':', made from the address: a name as it is */
        model_server_name(&sv, sname, sizeof(sname));
        ret |= buf_adds(b, "    server ");
        if (buf_adds(b, sname) || buf_addc(b, ' ') ||
            server_words(b, be, &sv, sname, false) || buf_addc(b, '\n')) {
            if (!b->ptr)
                return -E2BIG; /* the buffer overflowed: buf_add() freed it */
            /* refused: cut the partial line */
            b->len = mark;
            b->ptr[mark] = '\0';
            (*dropped)++;
            continue;
        }
    }
    for (size_t j = 0; j < be->n_backups; j++) {
        struct model_server sv = model_backend_backup(be, j);
        char sname[MODEL_SERVER_NAME_MAX];
        size_t mark = b->len;

        /* as a server's name above */
        model_server_name(&sv, sname, sizeof(sname));
        ret |= buf_adds(b, "    server " MODEL_BACKUP_PREFIX);
        if (buf_adds(b, sname) || buf_addc(b, ' ') || render_backup_words(b, &sv, false) ||
            buf_addc(b, '\n')) {
            if (!b->ptr)
                return -E2BIG;
            b->len = mark;
            b->ptr[mark] = '\0';
            (*dropped)++;
            continue;
        }
    }
    return ret;
}

static int backends_with(struct cfg_out *c, const struct model *m, const struct render_opts *o,
                         size_t *dropped, const struct capture_slots *cs)
{
    struct buf *b = &c->b;
    int ret = 0;

    if (render_userlists(b, m))
        return b->ptr ? -EINVAL : -E2BIG;
    ret |= buf_adds(b, "backend " MODEL_NOT_FOUND_BACKEND "\n");
    if (has_errorfile(m, 404))
        ret |= buf_adds(b, "    http-request return status 404 default-errorfiles\n");
    else
        ret |= buf_adds(b, "    http-request return status 404 content-type text/plain "
                           "string '404 page not found'\n");
    ret |= buf_adds(b, "\nbackend " MODEL_FORBIDDEN_BACKEND "\n"
                       "    http-request return status 403 content-type text/plain "
                       "string '403 forbidden: this route is closed until its access control "
                       "can be enforced'\n");
    /* all of them, always: a new TLS host or code is a map update */
    for (size_t i = 0; i < ARRAY_SIZE(redirect_codes); i++) {
        ret |= buf_addf(b, "\nbackend " MODEL_REDIRECT_BACKEND "%u\n", redirect_codes[i]);
        if (m->global.ssl_redirect_port)
            /* the host without its port (txn.host), then the one asked for */
            ret |= buf_addf(b,
                            "    http-request redirect location "
                            "https://%%[var(txn.host)]:%u%%[capture.req.uri] code %u\n",
                            m->global.ssl_redirect_port, redirect_codes[i]);
        else
            ret |= buf_addf(b, "    http-request redirect scheme https code %u\n",
                            redirect_codes[i]);
    }
    for (size_t i = 0; i < m->n_backends; i++) {
        const struct model_backend *be = m->backends[i];
        struct buf name;
        size_t start;

        if (i && i % c->srv->per_file == 0) {
            if ((ret = cfg_end(c)) || (ret = cfg_begin(c, i / c->srv->per_file)))
                return ret;
        }
        if (be->listen_port) {
            ret |= render_listen(b, be, o);
            goto servers;
        }
        buf_init(&name, 1024);
        if (cfg_name(&name, be->name)) {
            (*dropped)++;
            buf_free(&name);
            servers_at(c, i, b->len);
            continue;
        }
        ret |= buf_addf(b, "\nbackend %s%s\n", name.ptr,
                        be->opts && be->opts->ssl_passthrough ? " from " PASSTHROUGH_DEFAULTS
                                                              : "");
        buf_free(&name);
        /* server-ca or server-crt unusable: never the endpoints unverified */
        if (be->tls_closed)
            ret |= buf_adds(b, "    http-request return status 503 content-type text/plain "
                               "string '503 service unavailable: the TLS settings of this "
                               "route (server-ca, server-crt) cannot be applied'\n");
        /* loads the CA file when HAProxy starts: "add server" only finds
         * files HAProxy holds, and a backend may have no server yet */
        if (be->server_ca)
            ret |= buf_addf(b, "    default-server ca-file %s\n", be->server_ca);
        if (be->opts) {
            size_t mark = b->len;

            if (render_backend_keys(b, m, be, cs)) {
                if (!b->ptr)
                    return -E2BIG;
                /* a value that cannot be written: the backend refuses every
                 * request rather than serve without what its keys ask */
                b->len = mark;
                b->ptr[mark] = '\0';
                ret |= buf_adds(b, "    http-request return status 503 content-type text/plain "
                                   "string '503 service unavailable: a key of this route "
                                   "cannot be applied'\n");
                (*dropped)++;
            }
        } else {
            ret |= buf_addf(b, "    balance roundrobin\n%s",
                            m->global.forwarded_for ? "    option forwardfor\n" : "");
            ret |= render_http_errors(b, m->global.nginx_http_errors);
        }
servers:
        start = b->len;
        ret |= render_server_lines(b, be, dropped);
        if (!b->ptr)
            return -E2BIG;
        servers_at(c, i, start);
        if (ret || (ret = cfg_flush(c, false)))
            return ret;
    }
    return 0;
}

/* The connection pool of a server read from haproxy.cfg, which "add server"
 * in HAProxy 2.6 does not give one it creates: idle connections kept 5 s
 * (pool-purge-delay) and no limit on them (pool-max-conn -1). Without them a
 * server added at run time reuses no connection: a third of the throughput
 * after endpoint changes. Only there: on each of 50,000 lines of the file it
 * took 1.9 MB more, for what HAProxy does anyway. */
#define ADDED_KEYWORDS " pool-purge-delay 5s pool-max-conn -1"

/* render_server_words() for server <s> named <name> (model_server_name()) */
static int server_words(struct buf *b, const struct model_backend *be,
                        const struct model_server *s, const char *name, bool added)
{
    const struct key_values *o = be->opts;
    char addr[MODEL_SERVER_NAME_MAX];
    int ret;

    if (s->v6) {
        model_server_addr(s, addr, sizeof(addr));
        ret = buf_addf(b, "[%s]:%u", addr, s->port);
    } else {
        /* "address:port" is the name too: no printf for every server */
        ret = buf_adds(b, name);
    }
    if (added)
        ret |= buf_adds(b, ADDED_KEYWORDS);
    if (o && o->check)
        ret |= buf_addf(b, " check inter %ums", o->check_interval_ms);
    if (o && o->pod_maxconn)
        ret |= buf_addf(b, " maxconn %u", o->pod_maxconn);
    if (o && o->send_proxy_protocol)
        ret |= buf_addf(b, " %s", o->send_proxy_protocol);
    if (o && o->ssl_passthrough)
        return ret; /* the client's TLS goes through as it is */
    /* the name, a fixed value: "add server" refuses "cookie", so the plan
     * reloads for these backends' endpoint changes */
    if (o && o->cookie_static)
        ret |= buf_addf(b, " cookie %s", name);
    /* Portico's file names (model-t.h), no text of the objects */
    if ((o && o->server_ssl) || be->server_ca || be->server_crt) {
        if (be->server_ca)
            ret |= buf_addf(b, " ssl verify required ca-file %s", be->server_ca);
        else
            ret |= buf_adds(b, " ssl verify none");
        if (be->server_crt)
            ret |= buf_addf(b, " crt %s", be->server_crt);
        if (o && o->server_proto)
            ret |= buf_adds(b, " alpn h2");
    } else if (o && o->server_proto) {
        ret |= buf_adds(b, " proto h2");
    }
    return ret;
}

int render_server_words(struct buf *b, const struct model_backend *be,
                        const struct model_server *s, bool added)
{
    char name[MODEL_SERVER_NAME_MAX];

    return server_words(b, be, s, model_server_name(s, name, sizeof(name)), added);
}

int render_backup_words(struct buf *b, const struct model_server *s, bool added)
{
    char addr[MODEL_SERVER_NAME_MAX];

    model_server_addr(s, addr, sizeof(addr));
    return buf_addf(b, s->v6 ? "[%s]:%u%s backup" : "%s:%u%s backup", addr, s->port,
                    added ? ADDED_KEYWORDS : "");
}

/* Where the lines of a map go: into a buffer that holds them all, or a
 * piece at a time to <flush>, which empties the buffer. */
struct map_out {
    struct buf b;
    int (*flush)(struct map_out *o); /* NULL: all in b; else returns 0 or a negative errno */
    size_t len;                      /* bytes flushed */
    bool hashing;                    /* <hash> wanted */
    uint64_t hash;                   /* of the lines (line_hash()) */
    int fd;                          /* for write_piece() */
};

/* A map file's hash is the sum of the hashes of its lines: the lines are
 * sorted by key, each key once, so their set says what the file holds, and
 * a map that differs from the last one rendered by a few entries is hashed
 * by those alone (struct render_memo). Each line's FNV-1a is mixed
 * (splitmix64's finalizer) so that the sum spreads over every bit. */
static uint64_t line_hash(const char *p, size_t len)
{
    uint64_t h = hash_fnv1a(p, len);

    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static int drop_piece(struct map_out *o)
{
    buf_reset(&o->b);
    return 0;
}

static int write_piece(struct map_out *o)
{
    int ret = file_write_all(o->fd, o->b.ptr, o->b.len);

    buf_reset(&o->b);
    return ret;
}

/* Appends the line of map entry <e> to <b>: 0, or non-zero when an escaping
 * function refuses it (<b> holds part of it then). */
static int map_line(struct buf *b, const struct model_entry *e)
{
    return map_key(b, e->key) || buf_addc(b, ' ') || map_key(b, e->value) || buf_addc(b, '\n');
}

/* Passes the piece <o> holds to o->flush. */
static int flush_piece(struct map_out *o)
{
    if (o->len + o->b.len > RENDER_MAX_MAP)
        return -E2BIG;
    o->len += o->b.len;
    return o->flush(o);
}

/* Puts the lines of map entries <v> (<n> of them) out to <o>, counting those
 * an escaping function refuses, which are left out, in *<dropped> (or not,
 * NULL). Returns 0, -E2BIG when the map would exceed RENDER_MAX_MAP, or what
 * o->flush returned. */
static int entry_lines(const struct model_entry *v, size_t n, struct map_out *o, size_t *dropped)
{
    int ret = 0;

    buf_adds(&o->b, "");
    for (size_t i = 0; i < n; i++) {
        size_t mark = o->b.len;

        if (map_line(&o->b, &v[i])) {
            if (!o->b.ptr)
                return -E2BIG;
            o->b.len = mark;
            o->b.ptr[mark] = '\0';
            if (dropped)
                (*dropped)++;
        } else if (o->hashing) {
            o->hash += line_hash(o->b.ptr + mark, o->b.len - mark);
        }
        if (o->flush && o->b.len >= CFG_PIECE)
            ret = flush_piece(o);
        if (ret)
            return ret;
    }
    return o->flush ? flush_piece(o) : 0;
}

/* entry_lines() of map <map> of <m>. */
static int map_lines(const struct model *m, enum model_map map, struct map_out *o,
                     size_t *dropped)
{
    return entry_lines(m->maps[map], m->n_maps[map], o, dropped);
}

/* Adds to <mm> (<sign> 1) or takes from it (-1) the lines of entries <v>
 * (<n> of them) of a map, made in <b>. */
static void memo_lines(struct render_memo_map *mm, struct buf *b, const struct model_entry *v,
                       size_t n, int sign)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t h = 0;
        size_t len = 0, dropped = 1;

        buf_reset(b);
        if (!map_line(b, &v[i])) {
            h = line_hash(b->ptr, b->len);
            len = b->len;
            dropped = 0;
        }
        mm->hash += sign > 0 ? h : -h;
        mm->len += sign > 0 ? len : -len;
        mm->dropped += sign > 0 ? dropped : -dropped;
    }
}

/* Map <map> of <m> from what o->memo says of the last one rendered with it,
 * when they differ by a few entries in a row (a reroute's map shares the
 * rest of its entries' pointers): false when it cannot. *<sp> says how its
 * file is made from that one's, when that one has a line for each entry. */
static bool render_map_memo(const struct model *m, const struct render_opts *o,
                            enum model_map map, struct render_splice *sp)
{
    struct render_memo_map *mm = &o->memo->maps[map];
    const struct model_entry *v = m->maps[map];
    size_t n = m->n_maps[map], head, tail;
    bool same = mm->v == v && mm->n == n;
    struct buf b;

    if (!mm->v || !n)
        return false;
    if (same) {
        head = n;
        tail = 0;
    } else {
        head = model_entries_shared(mm->v, mm->n, v, n);
        tail = model_entries_shared_end(mm->v + head, mm->n - head, v + head, n - head);
    }
    /* hashing a quarter of the map again costs what hashing it whole does */
    if ((mm->n - head - tail) + (n - head - tail) > n / 4 + 64)
        return false;
    if (!mm->dropped)
        *sp = (struct render_splice){mm->hash, mm->len, head, mm->n - head - tail,
                                     n - head - tail};
    if (same)
        return true;
    buf_init(&b, RENDER_MAX_MAP);
    memo_lines(mm, &b, mm->v + head, mm->n - head - tail, -1);
    memo_lines(mm, &b, v + head, n - head - tail, 1);
    buf_free(&b);
    mm->v = v;
    mm->n = n;
    return true;
}

/* A map's file: its content in memory, or, with o->from_model, only
 * its length and hash (render_file_write() and render_file_data() make it
 * again from the model). At 10,000 Ingresses the maps weigh a megabyte. */
static int render_map(struct rendered *r, const struct model *m, const struct render_opts *o,
                      enum model_map map)
{
    struct map_out out = {.hashing = true, .flush = o->from_model ? drop_piece : NULL};
    struct render_memo_map *mm = o->from_model && o->memo ? &o->memo->maps[map] : NULL;
    struct render_splice splice = {0};
    struct render_file *f;
    size_t dropped = 0;
    char name[64];
    int ret;

    snprintf(name, sizeof(name), "maps/%s.map", model_map_name(map));
    if (mm && render_map_memo(m, o, map, &splice)) {
        if (mm->len > RENDER_MAX_MAP)
            return -E2BIG;
        f = new_file(r, name, 0644);
        f->map = (int)map;
        f->len = mm->len;
        f->hash = mm->hash;
        f->splice = splice;
        r->n_dropped += mm->dropped;
        return 0;
    }
    buf_init(&out.b, RENDER_MAX_MAP);
    if (!o->from_model) {
        size_t size = 0;

        for (size_t i = 0; i < m->n_maps[map]; i++)
            size += strlen(m->maps[map][i].key) + strlen(m->maps[map][i].value) + 2;
        buf_reserve(&out.b, size);
    }
    ret = map_lines(m, map, &out, &dropped);
    if (ret) {
        buf_free(&out.b);
        return ret;
    }
    r->n_dropped += dropped;
    if (!o->from_model) {
        add_file(r, name, &out.b, 0644);
        r->files[r->n_files - 1].map = (int)map;
        r->files[r->n_files - 1].hash = out.hash;
        return 0;
    }
    buf_free(&out.b);
    f = new_file(r, name, 0644);
    f->map = (int)map;
    f->len = out.len;
    f->hash = out.hash;
    if (mm)
        *mm = (struct render_memo_map){m->maps[map], m->n_maps[map], out.len, dropped, out.hash};
    return 0;
}

int render_file_write(const struct render_file *f, const struct model *m, int fd)
{
    struct map_out out = {.flush = write_piece, .fd = fd};
    int ret;

    if (f->same)
        return -ENODATA; /* the caller has the file */
    if (f->data || (f->map < 0 && !f->cert))
        return file_write_all(fd, f->data, f->len);
    if (f->cert) {
        char *pem = xmalloc(f->len + 1);

        model_cert_pem(f->cert, pem);
        ret = file_write_all(fd, pem, f->len);
        memset(pem, 0, f->len); /* key material */
        free(pem);
        return ret;
    }
    buf_init(&out.b, RENDER_MAX_MAP);
    ret = map_lines(m, (enum model_map)f->map, &out, NULL);
    buf_free(&out.b);
    return ret;
}

const char *render_file_data(struct render_file *f, const struct model *m)
{
    struct map_out out = {0};

    if (f->data || (f->map < 0 && !f->cert))
        return f->data;
    if (f->cert) {
        f->own = xmalloc(f->len + 1);
        model_cert_pem(f->cert, f->own);
        f->data = f->own;
        return f->data;
    }
    buf_init(&out.b, RENDER_MAX_MAP);
    buf_reserve(&out.b, f->len);
    /* the same model made it once already: it fits */
    map_lines(m, (enum model_map)f->map, &out, NULL);
    f->len = out.b.len;
    f->own = buf_take(&out.b);
    f->data = f->own;
    return f->data;
}

/* A certificate's file: its PEM in memory, or, with o->from_model, none.
 * Either way its hash is of what the PEM is made from (a parsed Secret's
 * DER): making the PEM of 1,000 certificates to hash it on every rendering
 * would cost more than the rendering. */
static void add_cert(struct rendered *r, const struct render_opts *o, const char *name,
                     const struct model_cert *c)
{
    struct render_file *f = new_file(r, name, 0600);

    f->cert = c;
    f->len = c->pem_len;
    f->hash = c->hash;
    if (!o->from_model)
        render_file_data(f, NULL);
}

/* Adds the crt-list line of certificate <c> to <list>; false when an
 * escaping function refuses it (<list> unchanged). */
static bool crt_list_line(struct buf *list, const struct model_cert *c)
{
    size_t mark = list->len;
    int bad = 0;

    bad |= buf_adds(list, "certs/");
    bad |= cfg_name(list, c->file);
    for (size_t j = 0; j < c->n_snis; j++) {
        bad |= buf_addc(list, ' ');
        bad |= map_key(list, c->snis[j]);
    }
    bad |= buf_addc(list, '\n');
    if (bad && list->ptr) {
        list->len = mark;
        list->ptr[mark] = '\0';
    }
    return !bad;
}

char *render_crt_list(const struct model *m)
{
    struct buf list;

    buf_init(&list, RENDER_MAX_MAP);
    buf_adds(&list, "");
    for (size_t i = 0; i < m->n_certs; i++)
        crt_list_line(&list, &m->certs[i]);
    return list.ptr ? buf_take(&list) : NULL;
}

static int render_certs(struct rendered *r, const struct model *m, const struct render_opts *o)
{
    struct buf list;
    char name[300];

    buf_init(&list, RENDER_MAX_MAP);
    buf_adds(&list, "");
    add_cert(r, o, "certs/default.pem", &m->default_cert);
    for (size_t i = 0; i < m->n_certs; i++) {
        const struct model_cert *c = &m->certs[i];

        if (!crt_list_line(&list, c)) {
            if (!list.ptr)
                return -E2BIG;
            r->n_dropped++;
            continue;
        }
        snprintf(name, sizeof(name), "certs/%s", c->file);
        add_cert(r, o, name, c);
    }
    add_file(r, RENDER_CRT_LIST, &list, 0644);
    return 0;
}

/* The client certificates of server-crt, loaded when HAProxy starts by a
 * listener nothing connects to (its abstract socket is named after the
 * runtime directory, and it refuses every connection). A server's "crt"
 * would load its file only after parsing, relative to HAProxy's own
 * directory rather than default-path's, and "add server" only finds a
 * certificate HAProxy holds already. Files named by Portico (model-t.h). */
static int render_server_crts(struct buf *b, const struct model *m, const struct render_opts *o)
{
    bool any = false;
    int ret = 0;

    for (size_t i = 0; i < m->n_server_files; i++) {
        const char *name = m->server_files[i].name;

        if (!str_has_prefix(name, MODEL_SERVER_TLS_DIR "/crt-"))
            continue;
        if (!any)
            ret |= buf_addf(b, "\nfrontend portico_server_crt\n"
                               "    bind abns@portico-%016llx-crt ssl",
                            (unsigned long long)hash_fnv1a(o->runtime_dir,
                                                           strlen(o->runtime_dir)));
        any = true;
        ret |= buf_addf(b, " crt %s", name);
    }
    if (any)
        ret |= buf_adds(b, "\n    tcp-request connection reject\n");
    return ret;
}

/* About the size of the configuration: its backends are most of it. */
static size_t cfg_size(const struct model *m)
{
    size_t size = 16384; /* global, defaults, frontends */

    for (size_t i = 0; i < m->n_backends; i++) {
        size += strlen(m->backends[i]->name) + 40;
        size += m->backends[i]->n_servers * 60; /* two IPv4 names and the rest */
        size += m->backends[i]->n_backups * 70;
    }
    return size;
}

/* Creates a file of haproxy.cfg at <path>, empty: its descriptor, or a
 * negative errno. */
static int create_cfg(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), ret;

    /* exactly 0644, whatever the umask, as the other files */
    if (fd != -1 && fchmod(fd, 0644) == 0)
        return fd;
    ret = -errno;
    if (fd != -1) {
        close(fd);
        unlink(path);
    }
    return ret;
}

/* Starts haproxy.cfg's file <k> as <c>'s next render_file: created at its
 * path when writing out. Returns 0 or a negative errno. */
static int cfg_begin(struct cfg_out *c, size_t k)
{
    char name[64];
    struct render_file *f;

    render_cfg_file_name(name, sizeof(name), k);
    f = new_file(c->out, name, 0644);
    f->cfg = true;
    c->file = k;
    c->written = c->hashed = 0;
    c->hash = HASH_FNV1A_INIT;
    if (c->path) {
        f->path = cfg_file_path(c->path, k);
        c->fd = create_cfg(f->path);
        if (c->fd < 0)
            return c->fd;
    }
    buf_init(&c->b, c->limit - c->total);
    buf_reserve(&c->b, c->reserve);
    /* haproxy.cfg's "default-path config" would make its paths (server-tls/,
     * certs/) relative to the directory of this file */
    return k ? buf_adds(&c->b, RENDER_BACKENDS_HEAD) : 0;
}

/* Ends <c>'s file: written out, or its content moved into its render_file;
 * hashed. Returns 0 or a negative errno. */
static int cfg_end(struct cfg_out *c)
{
    struct render_file *f = &c->out->files[c->out->n_files - 1];
    struct render_cfg_file *t = &c->srv->files[c->file];
    int ret = cfg_flush(c, true);

    if (c->fd != -1) {
        if (close(c->fd) == -1 && !ret)
            ret = -errno;
        c->fd = -1;
        f->len = c->written;
        buf_free(&c->b);
    } else if (!ret) {
        f->len = c->b.len;
        f->own = buf_take(&c->b);
        f->data = f->own;
    }
    if (ret)
        return ret;
    t->gaps = c->hash;
    t->len = f->len;
    servers_fold_file(c->srv, c->file);
    f->hash = t->hash;
    c->total += f->len;
    return 0;
}

/* Renders haproxy.cfg's files as <out>'s first, in memory or into
 * o->cfg_path and the paths that follow it. */
static int render_cfg(const struct model *m, const struct render_opts *o, struct rendered *out,
                      char **err)
{
    struct cfg_out c = {.fd = -1, .shape = HASH_FNV1A_INIT, .out = out, .path = o->cfg_path};
    size_t per = o->backends_per_file ? o->backends_per_file : RENDER_BACKENDS_PER_FILE;
    int ret;

    c.limit = o->cfg_limit ? o->cfg_limit : RENDER_MAX_CFG;
    c.srv = servers_new(m, per);
    c.reserve = o->cfg_path ? CFG_PIECE + 4096 : cfg_size(m) / c.srv->n_files;
    ret = cfg_begin(&c, 0);
    if (!ret && (render_global(&c.b, m, o) || render_aux_frontends(&c.b, o) ||
                 render_frontend(&c.b, m, o) || render_server_crts(&c.b, m, o)))
        ret = -E2BIG;
    else if (!ret)
        ret = render_backends(&c, m, o, &out->n_dropped);
    if (!ret)
        ret = cfg_end(&c);
    if (ret) {
        if (ret == -E2BIG)
            errmsg_set(err, "haproxy.cfg: larger than %zu bytes or a flag value cannot be "
                            "written", c.limit);
        else
            errmsg_set(err, "write %s: %s", out->files[out->n_files - 1].path, strerror(-ret));
        if (c.fd != -1)
            close(c.fd);
        buf_free(&c.b);
        shared_unref(c.srv);
        rendered_free(out);
        return ret;
    }
    out->n_cfg = out->n_files;
    out->cfg = (struct render_cfg){servers_fold(c.srv), c.shape, c.total, c.srv};
    return 0;
}

/* Copies bytes [<from>, <to>) of file <in> to the end of file <out>: in the
 * kernel where it can. Returns 0 or a negative errno. */
static int copy_range(int in, size_t from, size_t to, int out)
{
    loff_t pos = (loff_t)from;
    char buf[16384];
    int ret;

    while ((size_t)pos < to) {
        ssize_t n = copy_file_range(in, &pos, out, NULL, to - (size_t)pos, 0);

        if (n > 0)
            continue;
        if (n == 0)
            return -EIO; /* the file is shorter than it was rendered */
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
            return -errno;
        /* not between these files: read and write */
        n = pread(in, buf, to - (size_t)pos < sizeof(buf) ? to - (size_t)pos : sizeof(buf), pos);
        if (n <= 0)
            return n ? -errno : -EIO;
        ret = file_write_all(out, buf, (size_t)n);
        if (ret)
            return ret;
        pos += n;
    }
    return 0;
}

/* The offset in file <in> past <lines> more lines from offset *<pos>, put
 * in *<pos>. Returns 0, -ESTALE when the file ends before, or a negative
 * errno. */
static int skip_lines(int in, size_t lines, size_t *pos)
{
    char buf[16384];

    while (lines) {
        ssize_t n = pread(in, buf, sizeof(buf), (off_t)*pos);
        const char *p = buf, *end = buf + (n > 0 ? n : 0), *nl;

        if (n <= 0)
            return n ? -errno : -ESTALE;
        while (lines && (nl = memchr(p, '\n', (size_t)(end - p)))) {
            p = nl + 1;
            lines--;
        }
        *pos += (size_t)(lines ? end - buf : p - buf);
    }
    return 0;
}

int render_file_splice(const struct render_file *f, const struct model *m, int from, int fd)
{
    const struct render_splice *sp = &f->splice;
    struct map_out out = {.flush = write_piece, .fd = fd};
    size_t head = 0, tail;
    struct stat st;
    int ret;

    if (f->map < 0 || !sp->from_hash)
        return -ENODATA;
    if (fstat(from, &st) == -1)
        return -errno;
    if ((size_t)st.st_size != sp->from_len)
        return -ESTALE;
    ret = skip_lines(from, sp->head, &head);
    tail = head;
    if (!ret)
        ret = skip_lines(from, sp->skip, &tail);
    if (!ret)
        ret = copy_range(from, 0, head, fd);
    if (!ret) {
        buf_init(&out.b, RENDER_MAX_MAP);
        out.len = head;
        ret = entry_lines(m->maps[f->map] + sp->head, sp->n, &out, NULL);
        buf_free(&out.b);
    }
    if (!ret)
        ret = copy_range(from, tail, sp->from_len, fd);
    /* the lines copied, and so the file, are not the ones rendered */
    if (!ret && out.len + sp->from_len - tail != f->len)
        ret = -ESTALE;
    return ret;
}

/* File <k> of haproxy.cfg, as table <t> placed it in directory <dir>, into
 * <path> with the server lines of backends <patched> (<n>, ascending, all in
 * that file) made again from <m> and the rest copied; <t> is updated.
 * Returns 0 or a negative errno. */
static int splice_cfg_file(const struct model *m, struct render_servers *t, size_t k,
                           const char *dir, const uint32_t *patched, size_t n, const char *path,
                           size_t limit, size_t *dropped)
{
    struct render_cfg_file *cf = &t->files[k];
    size_t first = k * t->per_file, end = file_end(t, k);
    size_t pos = 0, len = 0;
    char name[64], *from;
    int in, fd, ret = 0;
    int64_t delta = 0;
    struct stat st;
    struct buf b;

    render_cfg_file_name(name, sizeof(name), k);
    from = xasprintf("%s/%s", dir, name);
    in = open(from, O_RDONLY | O_CLOEXEC);
    free(from);
    if (in == -1)
        return -errno;
    if (fstat(in, &st) == -1)
        ret = -errno;
    else if ((size_t)st.st_size != cf->len)
        ret = -ESTALE; /* not the file <t> describes */
    if (ret) {
        close(in);
        return ret;
    }
    fd = create_cfg(path);
    if (fd < 0) {
        close(in);
        return fd;
    }
    buf_init(&b, limit);
    for (size_t j = 0, next = first; !ret && j <= n; j++) {
        /* each backend's lines move by what those before them grew */
        size_t i = j < n ? patched[j] : end;
        uint32_t at, to;

        for (; next < i; next++) {
            t->at[2 * next] = (uint32_t)((int64_t)t->at[2 * next] + delta);
            t->at[2 * next + 1] = (uint32_t)((int64_t)t->at[2 * next + 1] + delta);
        }
        if (i == end)
            break;
        at = t->at[2 * i];
        to = t->at[2 * i + 1];
        ret = copy_range(in, pos, at, fd);
        len += at - pos;
        buf_reset(&b);
        if (!ret && render_server_lines(&b, m->backends[i], dropped) && !b.ptr)
            ret = -E2BIG; /* the buffer overflowed: buf_add() freed it */
        if (ret)
            break;
        ret = file_write_all(fd, b.ptr ? b.ptr : "", b.len);
        t->at[2 * i] = (uint32_t)len;
        t->at[2 * i + 1] = (uint32_t)(len + b.len);
        t->hash[i] = hash_fnv1a(b.ptr ? b.ptr : "", b.len);
        len += b.len;
        delta += (int64_t)b.len - (int64_t)(to - at);
        pos = to;
        next = i + 1;
        if (len > limit)
            ret = -E2BIG;
    }
    if (!ret)
        ret = copy_range(in, pos, cf->len, fd);
    len += cf->len - pos;
    buf_free(&b);
    close(in);
    if (close(fd) == -1 && !ret)
        ret = -errno;
    if (!ret && len > limit)
        ret = -E2BIG;
    cf->len = len;
    servers_fold_file(t, k);
    return ret;
}

/* Whether any of backends <patched> (<n>) of <m> has other server lines
 * than table <t> hashed; if none, those refused are counted in <dropped>.
 * A patch names every backend patched since the build: most of them are
 * as the files hold them already. */
static bool servers_differ(const struct model *m, const struct render_servers *t,
                           const uint32_t *patched, size_t n, size_t *dropped)
{
    size_t refused = 0;
    bool differ = false;
    struct buf b;

    buf_init(&b, RENDER_MAX_CFG);
    for (size_t j = 0; !differ && j < n; j++) {
        buf_reset(&b);
        differ = (render_server_lines(&b, m->backends[patched[j]], &refused) && !b.ptr) ||
                 hash_fnv1a(b.ptr ? b.ptr : "", b.len) != t->hash[patched[j]];
    }
    buf_free(&b);
    if (!differ)
        *dropped += refused;
    return differ;
}

/* haproxy.cfg of <m>, a patch of the build o->cfg_from was rendered from:
 * the files of the backends whose server lines the patches changed since
 * are written to the paths of o->cfg_path, those lines made again and
 * everything else copied from their files in o->cfg_from_dir; the other
 * files are <same>. At
 * 10,000 backends, rendering the whole configuration again was most of an
 * endpoint change's CPU, and copying it whole most of what remained. */
static int splice_cfg(const struct model *m, const struct render_opts *o, struct rendered *out,
                      char **err)
{
    const struct render_servers *old = o->cfg_from->servers;
    size_t limit = o->cfg_limit ? o->cfg_limit : RENDER_MAX_CFG, len = 0;
    struct render_servers *t = servers_new(m, old->per_file);
    int ret = 0;

    memcpy(t->files, old->files, old->n_files * sizeof(*t->files));
    memcpy(t->hash, old->hash, old->n * sizeof(*t->hash));
    memcpy(t->at, old->at, 2 * old->n * sizeof(*t->at));
    for (size_t k = 0, j = 0; k < t->n_files; k++) {
        size_t end = file_end(t, k), n = 0;
        struct render_file *f;
        char name[64];

        while (j + n < m->n_patched && m->patched[j + n] < end)
            n++;
        render_cfg_file_name(name, sizeof(name), k);
        f = new_file(out, name, 0644);
        f->cfg = true;
        if (n && servers_differ(m, t, m->patched + j, n, &out->n_dropped)) {
            f->path = cfg_file_path(o->cfg_path, k);
            ret = splice_cfg_file(m, t, k, o->cfg_from_dir, m->patched + j, n, f->path, limit,
                                  &out->n_dropped);
            if (ret == -E2BIG)
                errmsg_set(err, "haproxy.cfg: larger than %zu bytes", limit);
            else if (ret)
                errmsg_set(err, "%s from %s: %s", name, o->cfg_from_dir, strerror(-ret));
            if (ret)
                break;
        } else {
            f->same = true;
        }
        f->len = t->files[k].len;
        f->hash = t->files[k].hash;
        len += f->len;
        j += n;
    }
    if (!ret && len > limit) {
        errmsg_set(err, "haproxy.cfg: larger than %zu bytes", limit);
        ret = -E2BIG;
    }
    if (ret) {
        shared_unref(t);
        rendered_free(out);
        return ret;
    }
    out->n_cfg = out->n_files;
    /* the server lines alone changed */
    out->cfg = (struct render_cfg){servers_fold(t), o->cfg_from->shape, len, t};
    return 0;
}

/* A rendering failed: the memo may name arrays of a model its caller does
 * not keep. */
static void forget(const struct render_opts *o)
{
    if (o->memo)
        memset(o->memo, 0, sizeof(*o->memo));
}

int render(const struct model *m, const struct render_opts *o, struct rendered *out, char **err)
{
    uint64_t h = HASH_FNV1A_INIT;
    int ret;

    memset(out, 0, sizeof(*out));
    if (o->cfg_same) {
        const struct render_servers *t = o->cfg_same->servers;

        for (size_t k = 0; k < t->n_files; k++) {
            char name[64];
            struct render_file *f;

            render_cfg_file_name(name, sizeof(name), k);
            f = new_file(out, name, 0644);
            f->cfg = f->same = true;
            f->len = t->files[k].len;
            f->hash = t->files[k].hash;
        }
        out->n_cfg = out->n_files;
        out->cfg = *o->cfg_same;
        shared_ref(out->cfg.servers);
    } else {
        const struct render_servers *t = o->cfg_from ? o->cfg_from->servers : NULL;

        /* only where the backends are those the lines were placed for */
        if (t && t->root == (m->base ? m->base : m) && t->n == m->n_backends && o->cfg_path)
            ret = splice_cfg(m, o, out, err);
        else
            ret = render_cfg(m, o, out, err);
        if (ret)
            return ret;
    }
    if (o->cfg_only)
        return 0;
    for (int map = 0; map < MODEL_MAP_COUNT; map++) {
        if (render_map(out, m, o, (enum model_map)map)) {
            forget(o);
            rendered_free(out);
            errmsg_set(err, "maps: larger than %u bytes", RENDER_MAX_MAP);
            return -E2BIG;
        }
    }
    if (render_certs(out, m, o)) {
        forget(o);
        rendered_free(out);
        errmsg_set(err, "crt-list: too large");
        return -E2BIG;
    }
    if (m->client_ca_pem) {
        /* not a part: a change of it changes the structure, a reload */
        struct render_file *f = new_file(out, RENDER_CLIENT_CA, 0644);

        f->own = xstrndup(m->client_ca_pem, m->client_ca_len);
        f->data = f->own;
        f->len = m->client_ca_len;
    }
    for (size_t i = 0; i < m->n_server_files; i++) {
        /* a CA file is not a part (a change reloads: HAProxy 2.6 commits a
         * new one only to servers with a client certificate); a client
         * certificate is (plan.c) */
        const struct model_file *sf = &m->server_files[i];
        struct render_file *f = new_file(out, sf->name, 0600);

        f->own = xstrndup(sf->data, sf->len);
        f->data = f->own;
        f->len = sf->len;
    }
    for (size_t i = 0; i < m->n_errorfiles; i++) {
        /* HAProxy reads them when it starts: a change of one is a reload */
        char name[64];
        struct render_file *f;

        snprintf(name, sizeof(name), RENDER_ERRORFILES "/%u.http", m->errorfiles[i].code);
        f = new_file(out, name, 0644);
        f->own = xstrndup(m->errorfiles[i].data, m->errorfiles[i].len);
        f->data = f->own;
        f->len = m->errorfiles[i].len;
    }
    for (size_t i = out->n_cfg; i < out->n_files; i++) {
        struct render_file *f = &out->files[i];

        /* maps and certificates were hashed as they were made */
        if (f->data && !f->cert && f->map < 0)
            f->hash = hash_fnv1a(f->data, f->len);
        h = hash_fold(h, hash_fnv1a(f->name, strlen(f->name)));
        h = hash_fold(h, f->hash);
    }
    out->rest_hash = h;
    out->hash = render_hash_with_cfg(h, out->cfg.hash);
    return 0;
}

uint64_t render_hash_with_cfg(uint64_t rest_hash, uint64_t cfg_hash)
{
    return hash_fold(hash_fold(rest_hash, hash_fnv1a("haproxy.cfg", 11)), cfg_hash);
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
    shared_unref(r->cfg.servers);
    memset(r, 0, sizeof(*r));
}
