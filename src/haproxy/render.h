/* SPDX-License-Identifier: Apache-2.0 */
/* Routing model -> haproxy.cfg, map files and certificates: in memory, or
 * haproxy.cfg written to render_opts.cfg_path as it is made.
 *
 * haproxy.cfg holds the first RENDER_BACKENDS_PER_FILE backends; the others
 * follow, as many in each file, in RENDER_BACKENDS_DIR/NNNNN.cfg, which
 * HAProxy reads after it (haproxy -f haproxy.cfg -f backends). An endpoint
 * change rewrites the one file of its backend: at 50,000 servers a single
 * file was 7 MB, and copying and replacing it was most of the change's CPU. */
#ifndef SRC_HAPROXY_RENDER_H
#define SRC_HAPROXY_RENDER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/model-t.h"

struct buf;

/* The certificate list every HTTPS bind line loads, as HAProxy names it. */
#define RENDER_CRT_LIST "crt-list.txt"
/* the directory of haproxy.cfg's later backends, "NNNNN.cfg" each */
#define RENDER_BACKENDS_DIR "backends"
#define RENDER_BACKENDS_PER_FILE 256
/* client-ca's certificates, beside haproxy.cfg */
#define RENDER_CLIENT_CA "client-ca.crt"
/* the directory of the error pages, "<code>.http" each */
#define RENDER_ERRORFILES "errorfiles"

/* Where each backend's server lines are in haproxy.cfg's files: a shared
 * block (util/shared.h), so that a rendering of a patch of the same build
 * makes again only the server lines the patch changed, in the files that
 * hold them, and copies the rest (render_opts.cfg_from). A file's hash is
 * the fold of its <gaps>, the hash of its bytes outside the server lines,
 * and of each of its backends'; haproxy.cfg's as a whole, the fold of its
 * files'. */
struct render_servers {
    const struct model *root; /* the build whose backends these are (no reference:
                               * compared, never followed) */
    size_t n;                 /* its backends */
    size_t per_file;          /* backends in each file: file k holds those from
                               * k * per_file on */
    size_t n_files;           /* haproxy.cfg and those of RENDER_BACKENDS_DIR */
    uint32_t *at;             /* backend i's server lines: bytes [at[2i], at[2i + 1])
                               * of its file */
    uint64_t *hash;           /* backend i's: of those bytes */
    struct render_cfg_file {
        uint64_t gaps, hash;
        size_t len;
    } *files;
};

/* haproxy.cfg as a rendering made it, all its files (render_opts.cfg_same,
 * cfg_from). */
struct render_cfg {
    uint64_t hash, shape;
    size_t len;
    struct render_servers *servers; /* one reference, or NULL */
};

/* What rendering a model taught of its maps (render_opts.memo): a later
 * rendering of a model whose map shares all but a few entries with one of
 * these, as a reroute's does, hashes only the entries that differ. The
 * caller keeps the model last rendered with it alive, and with it the
 * arrays it names; a rendering that fails forgets them all. */
struct render_memo {
    struct render_memo_map {
        const struct model_entry *v; /* the entries rendered */
        size_t n;
        size_t len;                  /* of the file */
        size_t dropped;              /* entries an escaping function refused */
        uint64_t hash;
    } maps[MODEL_MAP_COUNT];
};

struct render_opts {
    const char *runtime_dir;   /* admin socket lives here */
    const char *ipv4_addr;     /* NULL: no IPv4 binds */
    const char *ipv6_addr;     /* NULL: no IPv6 binds */
    int http_port;             /* 0: no plain HTTP listener */
    int https_port;            /* 0: no HTTPS listener */
    int stats_port;
    int healthz_port;
    bool fault;                /* append an invalid line (fault injection) */
    const char *cfg_path;      /* NULL: haproxy.cfg is kept in memory; else it is
                                * written to this new file as it is made, and its
                                * render_file has no data; its later files to
                                * "<cfg_path>.<k>" */
    size_t cfg_limit;          /* bytes haproxy.cfg may take; 0: 256 MiB */
    size_t backends_per_file;  /* 0: RENDER_BACKENDS_PER_FILE */
    bool from_model;           /* the maps' and certificates' render_files have no
                                * data: their content is made from the model when
                                * it is needed (render_file_write(),
                                * render_file_data()) */
    const struct render_cfg *cfg_same; /* NULL, or haproxy.cfg as it was rendered from
                                * a model this one only rerouted (model_reroute()
                                * changes maps and crt-list lines alone): it is
                                * not rendered again, its render_file is <same> */
    const struct render_cfg *cfg_from; /* NULL, or haproxy.cfg as it was rendered from
                                * a model of the same build (its servers' root),
                                * into directory <cfg_from_dir>: the files of the
                                * model's patched backends are written, their
                                * server lines made again and the rest copied;
                                * the other files are <same> */
    const char *cfg_from_dir;
    bool cfg_only;             /* haproxy.cfg's files alone: no other file, no hash
                                * of the whole (render_hash_with_cfg()) */
    struct render_memo *memo;  /* NULL, or, with from_model, what the last rendering
                                * with it learnt, updated (struct render_memo) */
};

struct render_file {
    char *name;                /* relative to the configuration directory */
    const char *data;          /* own; NULL: written to <path> as it was rendered, or
                                * a map or certificate made from the model when
                                * needed */
    char *path;                /* where haproxy.cfg's file was written (render_opts.
                                * cfg_path), which rendered_free() removes unless it
                                * was moved away, or NULL */
    char *own;                 /* data when the rendering allocated it, else NULL */
    size_t len;
    mode_t mode;
    uint64_t hash;             /* of data */
    int map;                   /* the enum model_map a map's file holds, else -1 */
    bool cfg;                  /* one of haproxy.cfg's files */
    bool same;                 /* haproxy.cfg's, as written before (render_opts.
                                * cfg_same, cfg_from): no data, the file written
                                * then is the one to use */
    const struct model_cert *cert; /* the certificate a certificate's file holds (its
                                * hash is of what its PEM is made from), or NULL */
    struct render_splice {     /* a map that differs from the last one rendered by
                                * a run of entries (render_opts.memo): its file is
                                * that one's, <skip> lines after its first <head>
                                * replaced by those of <n> entries from <head> on */
        uint64_t from_hash;    /* the last one's hash; 0: not such a map */
        size_t from_len;
        size_t head, skip, n;
    } splice;
};

/* A complete rendering: every file HAProxy needs, in a fixed order. */
struct rendered {
    struct render_file *files; /* haproxy.cfg's first, in order */
    size_t n_files, cap_files;
    size_t n_cfg;              /* haproxy.cfg's files */
    struct render_cfg cfg;     /* all of them; shape: of their lines but the
                                * servers', which the Runtime API changes */
    uint64_t hash;             /* over names and contents */
    uint64_t rest_hash;        /* the same of every file but haproxy.cfg's */
    size_t n_dropped;          /* entries refused by an escaping function */
};

/* The hash of a whole rendering (rendered.hash) whose files but haproxy.cfg
 * hash as <rest_hash>, and haproxy.cfg as <cfg_hash>. */
uint64_t render_hash_with_cfg(uint64_t rest_hash, uint64_t cfg_hash);

/* Renders <m>. Returns 0, -E2BIG when a file would exceed its limit, or
 * another negative errno when o->cfg_path cannot be written (the file is
 * removed then; *err says why). Map
 * entries an escaping function refuses are dropped and counted (the model
 * validates them first, so this is a second line of defence). The rendering
 * borrows from <m>: free it before the model. */
int render(const struct model *m, const struct render_opts *o, struct rendered *out,
           char **err);
/* Writes the content of <f> to <fd>: its data, or the map it holds made
 * again from <m>, the model it was rendered from. Returns 0 or a negative
 * errno. */
int render_file_write(const struct render_file *f, const struct model *m, int fd);
/* Writes map <f> to <fd> from <from>, a descriptor of the file last rendered
 * with the memo (f->splice): the lines they share copied, the others made
 * from <m>. Returns 0, -ESTALE when <from> does not hold that file (<fd>
 * holds part of the map then), or a negative errno. */
int render_file_splice(const struct render_file *f, const struct model *m, int from, int fd);
/* The content of <f>, <len> bytes: a map or certificate without data is
 * made from <m>, the model it was rendered from, and kept in <f> until
 * rendered_free(). */
const char *render_file_data(struct render_file *f, const struct model *m);
/* Appends what follows server <s>'s name on its "server" line in
 * haproxy.cfg, or with <added> in the "add server" command that creates it
 * at run time: its address, then its keywords, words separated by one
 * space, none of which needs escaping. One function for both, so that a
 * server added at run time is configured exactly as one HAProxy read from
 * the file: <added> gives it the connection pool a server of the file has
 * without a word. Returns 0 or -E2BIG. */
int render_server_words(struct buf *b, const struct model_backend *be,
                        const struct model_server *s, bool added);
/* The same for backup server <s> (ingress-nginx's default-backend): its
 * address, the pool of an added one, then "backup"; none of the route's
 * keys, which are for its own Service. */
int render_backup_words(struct buf *b, const struct model_server *s, bool added);
/* The name of haproxy.cfg's file <k>, the first being haproxy.cfg, into
 * <name> of <size> bytes. */
void render_cfg_file_name(char *name, size_t size, size_t k);
/* The crt-list file of <m> as render() writes it (malloc'd), or NULL when
 * it would exceed RENDER_MAX_MAP. */
char *render_crt_list(const struct model *m);
/* Frees <r> and removes the file it wrote at render_opts.cfg_path, if it is
 * still there. */
void rendered_free(struct rendered *r);
#endif
