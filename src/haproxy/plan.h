/* SPDX-License-Identifier: Apache-2.0 */
/* The plan: what turns the generation HAProxy runs into the next one,
 * Runtime API updates or, with its reason, a reload. No I/O. */
#ifndef SRC_HAPROXY_PLAN_H
#define SRC_HAPROXY_PLAN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "haproxy/render.h"
#include "haproxy/runtime.h"

struct model;

/* A generation as the plan compares it: its model and the hashes of its
 * rendered files. */
struct plan_gen {
    struct model *model;  /* one reference, owned; NULL before the first */
    uint64_t hash;        /* of the whole rendering (rendered.hash) */
    uint64_t structure;   /* of all but what the Runtime API can change: map and
                           * certificate contents, servers, crt-list lines */
    char **names;         /* the parts (maps, certificates), in file order */
    uint64_t *hashes;     /* their contents' hashes */
    size_t n;
    char *crt_list;       /* the crt-list file, compared line by line */
    struct render_cfg cfg;/* haproxy.cfg's, as rendered for this generation or, patched,
                           * for the one it was patched from */
    bool cfg_changed;     /* patched with other servers since: haproxy.cfg is not <cfg> */
    uint64_t rest_hash;   /* rendered.rest_hash of the generation it was patched from */
    bool parts_changed;   /* rerouted since: its other files are not those either */
};

/* True for the files the Runtime API can replace: maps and certificates. */
bool plan_is_part(const char *name);
/* Makes <g> describe rendering <r> of model <m>, taking a reference to <m>;
 * what <g> held before is freed. */
void plan_gen_set(struct plan_gen *g, struct model *m, const struct rendered *r);
/* Sets <g> to generation <from> with model <m>, a model_patch() or
 * model_reroute() of from's: the same parts, crt-list, structure and
 * haproxy.cfg, servers aside (the caller sets cfg_changed for a patch). Its
 * hash is 0 until it is rendered (plan_gen_set()). */
void plan_gen_patched(struct plan_gen *g, const struct plan_gen *from, struct model *m);
/* Moves <src> into <dst> (whose content is freed); <src> is left empty. */
void plan_gen_move(struct plan_gen *dst, struct plan_gen *src);
void plan_gen_free(struct plan_gen *g);

/* Why a reload is needed, for metrics (the text says more). */
enum plan_why {
    PLAN_WHY_NONE = 0,       /* none: Runtime API updates */
    PLAN_WHY_START,          /* HAProxy serves no configuration yet */
    PLAN_WHY_BACKENDS,       /* a backend added or removed */
    PLAN_WHY_SETTINGS,       /* global, defaults, frontend or backend settings */
    PLAN_WHY_CERTIFICATES,   /* a certificate change the Runtime API cannot make */
    PLAN_WHY_RUNTIME_FAILED, /* the Runtime API did not take the updates */
    PLAN_WHY_OTHER,
    PLAN_WHY_STATIC_COOKIES, /* endpoints of a backend with cookie-persistence-no-dynamic */
    PLAN_WHY_COUNT,          /* number of reasons */
};

/* The name of <w> for metrics labels: "backends", "settings", ... */
const char *plan_why_name(enum plan_why w);

/* How many milliseconds a reload for <why> waits at <now_ms>, when the last
 * reload was started at <last_ms> (0: none since HAProxy started) and
 * reloads must be <interval_ms> apart (--min-reload-interval; 0: never
 * wait). Loading a first configuration (PLAN_WHY_START) never waits:
 * nothing serves meanwhile. */
uint64_t plan_reload_wait(enum plan_why why, uint64_t now_ms, uint64_t last_ms,
                          uint64_t interval_ms);

/* A reload's text names this many of its reasons, then how many more. */
#define PLAN_REASONS_SHOWN 3

struct plan {
    struct rt_update *u;  /* the updates, in the order they must be applied; their
                           * strings belong to the pending model's arena or to
                           * the rendering */
    size_t n;
    const char *reload;   /* NULL, or why a reload is needed instead: every reason
                           * found, the first PLAN_REASONS_SHOWN named ("backend a
                           * added, backend b added, backend c added and 2 more");
                           * static, or in the pending model's arena */
    enum plan_why why;    /* the first reason's kind */
    uint32_t n_why[PLAN_WHY_COUNT]; /* how many reasons of each kind */
    char **owned;         /* contents of updates the plan made, freed with it */
    size_t n_owned, cap_owned;
};

/* Plans the change from <running> (what HAProxy runs; <serving> false when
 * no worker runs it) to <pending>, rendered as <r>. Certificates and their
 * crt-list lines come first, then the maps (a host newly reachable over
 * HTTPS finds its certificate), then servers (additions before removals,
 * so a backend never runs empty), then crt-list removals (a host moving to
 * another certificate is never without one). <r> keeps the contents it
 * makes for the updates. Free <out> with plan_free(), before <r> and the
 * pending model. */
void plan_make(const struct plan_gen *running, const struct plan_gen *pending, bool serving,
               struct rendered *r, struct plan *out);
/* The plan from <running> to <pending>, made by plan_gen_patched() from it:
 * server additions and removals only, or a reload (static cookies). */
void plan_make_servers(const struct plan_gen *running, const struct plan_gen *pending,
                       struct plan *out);
/* The plan from <running> to <pending>, made by plan_gen_patched() from it
 * with a model_reroute() or model_recert() of its model and the crt-list of
 * that model: crt-list lines, certificates given another parsed Secret, the
 * servers of the spares the reroute filled, then maps, in the order
 * plan_make() gives them (a host gained after its paths, one lost before
 * them); or a reload, a line listed without host names. */
void plan_make_routes(const struct plan_gen *running, const struct plan_gen *pending,
                      struct plan *out);
void plan_free(struct plan *p);
#endif
