/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime API updates: maps, certificates, crt-list lines and servers
 * changed in the running HAProxy without a reload. */
#ifndef SRC_HAPROXY_RUNTIME_H
#define SRC_HAPROXY_RUNTIME_H
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "model/model-t.h"

/* What rt_apply() did; borrowed for the callback. */
struct rt_result {
    bool ok;              /* false: the caller must reload instead */
    size_t applied;       /* the first updates applied (all of them when ok) */
    const char *msg;      /* why not, when !ok */
    char *const *busy;    /* "backend/server" of removed servers HAProxy kept
                           * (disabled) as they still had connections */
    size_t n_busy;
};

/* Called once, with what the updates did. */
typedef void rt_done_fn(const struct rt_result *res, void *arg);

enum rt_kind {
    RT_MAP = 0,    /* replace a map's entries */
    RT_CERT,       /* replace a certificate's key and chain */
    RT_CERT_ADD,   /* load a new certificate and add its line to the crt-list */
    RT_CERT_DEL,   /* remove a certificate's line from the crt-list, then the certificate */
    RT_CERT_RELIST,/* add a certificate's new crt-list line (its host names changed)... */
    RT_CERT_UNLIST,/* ...and, later, remove the line it had when the updates started */
    RT_SERVER_ADD, /* add a server and enable it */
    RT_SERVER_DEL, /* put a server in maintenance and delete it once idle */
    RT_COMMANDS,   /* commands, one a line, each answered with nothing on success
                    * (a map's one changed entry: rt_map_one_change()) */
    RT_SERVER_CERT,/* load or replace a client certificate of servers (server-crt):
                    * new ssl cert (one HAProxy holds already is fine), set, commit */
    RT_KIND_COUNT, /* number of kinds */
};

/* The name of <k> for metrics labels: "map", "server_add", ... */
const char *rt_kind_name(enum rt_kind k);

struct rt_update {
    enum rt_kind kind;
    const char *name;    /* "maps/hosts.map", "certs/x.pem", or "backend/server" */
    const char *content; /* map file ("key value" lines), PEM, commands, or a server's
                          * address and keywords (render_server_words()) */
    const char *line;    /* RT_CERT_ADD, RT_CERT_RELIST: the certificate's crt-list line;
                          * RT_SERVER_ADD: non-empty when the backend's cookies are
                          * dynamic (the server gets its cookie from "enable
                          * dynamic-cookie backend", as at start) */
    bool again;          /* RT_SERVER_ADD: still in HAProxy, disabled since its removal:
                          * enabled again, not added */
};

/* Applies <n> updates in order through the admin socket <sock>. A map is
 * replaced atomically (prepare map, add map @ver in chunks that fit HAProxy's
 * CLI buffer, commit map), every key and value escaped with rt_api_arg(). A
 * certificate is replaced with set ssl cert + commit ssl cert; a new one is
 * loaded with new ssl cert first and then added to the crt-list, a removed
 * one leaves the crt-list and is deleted; one whose host names change gets
 * its new line, and loses the old one (numbered as "show ssl crt-list -n"
 * showed it before the first update) with its RT_CERT_UNLIST. A server is
 * added with add server + enable server (one that still exists is enabled
 * again); a removed one is disabled, which lets its requests finish, and
 * named in the result's busy list, for rt_del_servers() to delete. An answer other than the
 * command's success fails the job, which stops there: the caller reloads
 * instead. The updates are copied; <done> is called once. */
void rt_apply(uv_loop_t *loop, const char *sock, const struct rt_update *u, size_t n,
              rt_done_fn *done, void *arg);
/* What "del server" did to a server that was disabled earlier. */
enum rt_del {
    RT_DEL_DELETED = 0, /* gone now */
    RT_DEL_BUSY,        /* it still has connections: try again later */
    RT_DEL_GONE,        /* HAProxy no longer has it (reloaded or restarted since) */
    RT_DEL_REFUSED,     /* another answer: it is not in maintenance (enabled again) */
    RT_DEL_FAILED,      /* no answer: the admin socket failed, try again later */
    RT_DEL_COUNT,       /* number of results */
};

/* The name of <r> for metrics labels: "deleted", "busy", ... */
const char *rt_del_name(enum rt_del r);
/* Reads HAProxy's answer to "del server". */
enum rt_del rt_del_reply(const char *reply);

/* <res>[i] is what became of server <names>[i]; both borrowed for the call.
 * After a socket failure the servers left are not tried: RT_DEL_FAILED too. */
typedef void rt_del_done_fn(char *const *names, const enum rt_del *res, size_t n, void *arg);

/* Sends "del server" for each of the <n> servers <names> ("backend/server",
 * put in maintenance by an earlier RT_SERVER_DEL), one command at a time,
 * so that each answer is known. Only "del": a server enabled again since is
 * refused by HAProxy, not deleted. A server a stream still points to ("show
 * sess" first) is RT_DEL_BUSY without asking. The names are copied; <done>
 * is called once. */
void rt_del_servers(uv_loop_t *loop, const char *sock, char *const *names, size_t n,
                    rt_del_done_fn *done, void *arg);

struct hmap;
/* Adds to <set> the "backend/server" of the server of each stream that a
 * "show sess" <reply> lists. */
void rt_sess_servers(const char *reply, struct hmap *set);

struct buf;
struct model;

/* Appends to <out> the one "add map", "set map" or "del map" command (keys
 * and values escaped, newline-terminated) that turns map <m> of model <a>
 * into that of model <b>, or nothing when they are equal; <file> is the
 * map's name in HAProxy. Returns false when more than one entry differs or
 * the entry cannot be sent: replace the map instead (RT_MAP).
 *
 * The rule: one entry changed is one command, atomic by itself, and cheap
 * (0.1 ms at any map size). Several entries changed are a new version of
 * the whole map, swapped in by "commit map", because requests arriving
 * between single commands would see a state that is neither the old nor
 * the new one (a path renamed is a "del" and an "add": 404 in between; of
 * two nested prefixes added, the shorter, first in key order, sends the
 * longer one's requests to a backend that serves them in neither state).
 * A whole version costs with the map's size: about 7 ms at 1,000 entries,
 * 55 ms at 10,000, 0.7 s at 100,000 on HAProxy 2.6
 * (doc/internals/routing-maps.md). */
bool rt_map_one_change(const struct model *a, const struct model *b, enum model_map m,
                       const char *file, struct buf *out);

struct model_entry;

/* HAProxy's answer to "show map" ("0xADDR key value" lines, in any order)
 * checked a line at a time against the entries of a map, as its file has
 * them: rt_map_check_init(), rt_map_check_line() for each line as it comes,
 * then rt_map_check_end(). Holds a bit per entry, whatever the listing's
 * size. */
struct rt_map_check {
    const struct model_entry *want; /* sorted by key, each key once (a model's map) */
    size_t n;
    unsigned char *seen;            /* a bit per entry of <want> listed */
    int diff;                       /* -EINVAL once a line is no map entry */
};

void rt_map_check_init(struct rt_map_check *k, const struct model_entry *want, size_t n);
void rt_map_check_line(struct rt_map_check *k, const char *line, size_t len);
/* How many entries differ (missing, with another value, extra, or there
 * twice), 0 when HAProxy holds exactly the file's entries (those that
 * map_key() takes for key and value), or -EINVAL when a line was not a map
 * entry (the map is unknown to HAProxy). Frees what <k> holds. */
int rt_map_check_end(struct rt_map_check *k);
#endif
