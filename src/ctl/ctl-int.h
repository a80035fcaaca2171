/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's state and what its files share: ctl.c runs the passes
 * and HAProxy's lifecycle, gen.c the generations on disk, cluster.c the
 * Kubernetes API side, metrics.c the controller's HTTP endpoint. */
#ifndef SRC_CTL_CTL_INT_H
#define SRC_CTL_CTL_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ctl/httpd.h"
#include "ctl/opts.h"
#include "haproxy/plan.h"
#include "haproxy/proc.h"
#include "haproxy/render.h"
#include "haproxy/runtime.h"
#include "kube/config.h"
#include "model/model.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/hmap.h"

#define CTL_RETRY_MS 1000 /* a reload HAProxy did not confirm is tried again after this */
#define CTL_STOP_GRACE_MS 10000
#define CTL_API_DRAIN_MS 2000 /* API requests in flight once HAProxy stopped may end */
#define CTL_DEL_RETRY_MS 2000 /* removed servers HAProxy kept are asked to go again after this */
#define CTL_DRIFT_MS 30000    /* HAProxy's servers and maps compared with the model's (drift.c) */
#define CTL_KEEP_GENERATIONS 2
#define CTL_LATENCY_BUCKETS 13 /* ctl_latency_bounds[] */
#define CTL_PATCH_SVCS 32     /* Services whose endpoints a pass patches at most */
#define CTL_WRITEBACK_MS 2000 /* a patch's files are written this much later at most */
#define CTL_WRITEBACK_BUSY_MS 50 /* or after what runs then */

/* The upper bounds of the change -> applied histogram's buckets, seconds. */
extern const double ctl_latency_bounds[CTL_LATENCY_BUCKETS];

struct manifests;
struct status;
struct leader;
struct events;
struct kube_client;
struct informer;
struct informer_spec;

struct ctl {
    uv_loop_t *loop;
    const struct opts *opts;
    struct model_opts mopts;
    uint16_t own_ports[5];    /* mopts.own_ports */
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
    struct status *status;   /* Ingress status publishing, or NULL */
    struct leader *leader;   /* --leader-elect, or NULL */
    struct events *events;   /* Events on objects (cluster mode), or NULL */
    bool leading;            /* this replica writes Ingress status */
    struct hap hap;
    struct httpd http;
    uv_timer_t debounce;     /* also, once HAProxy stopped, waits for the API */
    uint64_t drain_until;    /* uv_now() past which Portico stops all the same */
    uv_signal_t sigterm, sigint;
    char *fallback_pem;
    char *current_link;      /* <config-dir>/current */
    char *next_cfg;          /* <config-dir>/haproxy.cfg.next: the rendering's, until
                              * it moves into its generation (render_opts.cfg_path) */
    struct hmap issues_seen; /* issue text -> 1, of the last generation */
    struct hmap refused_snippets; /* model_snippet_id() -> HAProxy's message (owned) */
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
    enum plan_why reload_why;  /* the kind of its first reason */
    uint32_t reload_n_why[PLAN_WHY_COUNT]; /* how many reasons of each kind it has */
    uint64_t reload_start;   /* uv_hrtime() when it was validated or loaded */
    uint64_t last_reload_ms; /* uv_now() when the last reload was sent, 0: none yet */
    uv_timer_t reload_timer; /* a reload waiting for --min-reload-interval, its
                              * generation pending (no pass meanwhile) */
    uint64_t m_reloads_delayed; /* reloads that waited for --min-reload-interval */
    uv_timer_t build_timer;  /* a pass whose reload waits for --min-reload-interval
                              * (reload_waits()): a build when it fires; endpoint
                              * patches meanwhile */
    char *admin_sock;
    uint64_t m_reloads_total[2];           /* reloads, [1] when confirmed */
    uint64_t m_reloads[PLAN_WHY_COUNT][2]; /* the same, once under each kind of
                                            * reason a reload had */
    uint64_t m_reload_changes[PLAN_WHY_COUNT]; /* every reason of the confirmed ones */
    uint64_t m_rejected, m_passes, m_runtime_ok, m_runtime_failed;
    uint64_t m_rt[RT_KIND_COUNT][2]; /* Runtime API updates by kind, [1] when done */
    uint64_t m_events[2];    /* Events recorded ([1]) or refused by the API server */
    uint64_t m_events_dropped; /* problems not sent as Events: too many at once */
    unsigned char *rt_kinds; /* the kinds of the updates in flight */
    size_t rt_n;
    struct rendered rt_r;    /* the rendering of the updates in flight, written
                              * once HAProxy has them (ctl.c: "Runtime API path") */
    uint64_t pass_t[4];      /* uv_hrtime(): pass start, model built, rendered, sent */
    const char *reload_next; /* why the next pass reloads whatever it finds (the
                              * Runtime API failed or ran ahead of files that could
                              * not be written, a check could not run), or NULL */
    enum plan_why reload_next_why; /* and that reason's kind */
    uint64_t change_at;      /* uv_hrtime() of the first change no pass has taken yet */
    uint64_t pass_change_at; /* the same, for the pass running */
    uint64_t pass_began;     /* uv_now() when the last pass began: the next one waits
                              * until --debounce after it (schedule()) */
    struct ctl_histogram {
        uint64_t buckets[CTL_LATENCY_BUCKETS + 1]; /* the last one: +Inf */
        uint64_t count;
        double sum;                              /* seconds */
    } m_latency;             /* change -> applied */
    uint64_t m_secret_fetches;
    struct hmap del_wait;    /* "backend/server" -> (void *)1: removed servers HAProxy
                              * kept disabled, as they had connections; not in the
                              * written configuration, so gone at the next reload */
    uv_timer_t del_timer;    /* asks HAProxy to delete them again, while any remain */
    bool del_running;        /* that is in flight: no pass starts meanwhile */
    uint64_t m_del[RT_DEL_COUNT]; /* those retries by result */
    uv_timer_t drift_timer;  /* the next drift check (drift.c) */
    uint32_t drift_interval_ms;
    bool drift_running;      /* a check or its repair in flight: no pass starts meanwhile */
    unsigned drift_map;      /* the map being compared (enum model_map) */
    struct rt_map_check drift_check; /* its listing so far, against drift_model's */
    struct model *drift_model; /* a reference to the model it is compared with */
    size_t drift_first, drift_be; /* the running model's backends asked for, [first, be) */
    struct drift_servers *drift_srv; /* the servers' repairs found so far (drift.c) */
    char *drift_fix[MODEL_MAP_COUNT]; /* the content of each map found to differ, or NULL */
    uint64_t m_drift[3];     /* repaired: servers added or enabled, servers removed,
                              * maps replaced */
    size_t last_issues;
    bool tidy;               /* passes put no backend in a spare: the next reload
                              * gives each its own name (spare.c) */
    uv_timer_t tidy_timer;   /* sets <tidy> a while after a backend went into one */
    size_t spares_in_use;    /* backends running in spares */
    uint64_t m_spare_uses;   /* backends put in spares, applied */
    struct render_memo memo; /* what the last rendering with it learnt of its maps */
    struct model *memo_model; /* that rendering's model, which keeps the arrays <memo>
                               * names; a reference, or NULL */
    struct model_lookups lookups; /* the last build's (cluster.c: changes to objects
                                   * it did not look up start no pass) */
    bool lookups_known;      /* a build has run */
    uint64_t m_unused_changes; /* such changes */
    /* The changes since the last pass began, when only EndpointSlices made
     * them: the k8s_lookup_hash() of their Services. The next pass patches the
     * running model for them (model_patch()) rather than build one. */
    uint64_t patch_svcs[CTL_PATCH_SVCS];
    size_t n_patch_svcs;
    /* Those of TLS Secrets alone: their hashes. The next pass gives the
     * running model their new certificates (model_recert()). */
    uint64_t patch_secrets[CTL_PATCH_SVCS];
    size_t n_patch_secrets;
    bool must_build;         /* another change came, or too many: the next pass builds */
    bool in_step;            /* the running model is what a build made when the last
                              * pass began: that pass ended applying it, or nothing */
    uint64_t m_patches;      /* passes that patched the running model */
    uint64_t m_reroutes;     /* passes that built again only the routes of the hosts
                              * of changed Ingresses (model_reroute()) */
    uint64_t m_recerts;      /* passes that took rotated certificates (model_recert()) */
    const char *patch_what;  /* what the patch or reroute applied changes, for its log */
    bool files_behind;       /* the running model is a patch or reroute, not yet written:
                              * running.hash is 0 until it is */
    uv_timer_t writeback;    /* writes it (ctl.c: write_running()) */
    int exit_code;
};


/* ctl.c */

/* A pass that waited (for a pass, a deletion retry or a drift check to
 * end) runs now, unless one is under way or Portico stops. */
void ctl_resume(struct ctl *c);
/* Marks the controller dirty: a pass runs soon (or after the one running). */
void ctl_schedule(struct ctl *c);
/* The same for changes of the EndpointSlices of the Services of hashes
 * <svcs> alone (k8s_lookup_hash()): the pass may patch the running model. */
void ctl_schedule_endpoints(struct ctl *c, const uint64_t *svcs, size_t n);
/* A pass for changes to the Secrets of hashes <secrets>. */
void ctl_schedule_secrets(struct ctl *c, const uint64_t *secrets, size_t n);
/* The same for changes of Ingresses alone, which the store keeps
 * (store_track()): the pass may build again only the routes of their hosts. */
void ctl_schedule_routes(struct ctl *c);
/* After haproxy -c refused the pending generation with <output>: the
 * snippets its error lines point at are refused from then on (the next
 * build leaves them out). True when one was. */
bool ctl_blame_snippets(struct ctl *c, const char *output);

/* gen.c: generations on disk, <config-dir>/gen-N, and the "current" link */

/* The highest generation an earlier run left in <config_dir>, or 0. */
unsigned ctl_scan_generations(const char *config_dir);
/* Removes generations older than the last CTL_KEEP_GENERATIONS. */
void ctl_prune_generations(struct ctl *c);
/* The directory of generation <gen> (malloc'd). */
char *ctl_gen_dir(const struct ctl *c, unsigned gen);
/* Writes generation <gen>, rendered as <r>, which c->pending describes.
 * Returns 0 or a negative errno with *<err> set. */
int ctl_write_generation(struct ctl *c, const struct rendered *r, unsigned gen, char **err);
/* Whether c->pending differs from the running generation in the content
 * of its maps and certificates, its crt-list and the servers of haproxy.cfg
 * alone, as after reroutes, certificate passes and endpoint patches:
 * ctl_write_in_place() can write it. */
bool ctl_same_files(const struct ctl *c);
/* Writes rendering <r>, which c->pending describes, into the running
 * generation: each file that differs replaced (a temporary file renamed over
 * it), haproxy.cfg last; a certificate in the directory the generation's
 * "certs" links, which only older generations, never loaded again, may
 * share. A new generation would create a directory and link every unchanged
 * file again (1,000 certificates for a rotation), then remove the oldest
 * one. Returns 0 or a negative errno with *<err> set. */
int ctl_write_in_place(struct ctl *c, const struct rendered *r, char **err);
/* Puts haproxy.cfg's files of <r> that were written (not render_file.same)
 * into generation directory <dir>, each over the one there, haproxy.cfg
 * last. Returns 0 or a negative errno with *<err> set; then some files may
 * be new and others not, and c->running.cfg no longer says where their
 * server lines are: the next writing renders haproxy.cfg whole. */
int ctl_replace_cfg_files(struct ctl *c, const struct rendered *r, const char *dir, char **err);
/* Points "current" at the pending generation, so a restarted HAProxy loads
 * it; where it pointed before is kept for ctl_revert_current(). Returns 0,
 * or logs why not and returns a negative errno. */
int ctl_make_current(struct ctl *c);
/* The pending generation did not load: "current" points where it did
 * before (or nowhere), so that a restarted HAProxy never tries a
 * configuration that never ran, and the next generation is made from the
 * running one. */
void ctl_revert_current(struct ctl *c);

/* cluster.c: cluster mode */

/* Lists and watches the API server named by <o>. Returns 0 or -EINVAL
 * (logged). */
int ctl_cluster_start(struct ctl *c, const struct opts *o);
/* Stops every watch and request, but for the Lease given up by
 * ctl_leader_stop(), which the client, kept, sends meanwhile; a no-op in
 * file mode. */
void ctl_cluster_stop(struct ctl *c);
/* Stops what is left and frees the API client: what ctl_cluster_stop()
 * started (the Lease given up) is cancelled if it has not finished. */
void ctl_cluster_free(struct ctl *c);
/* Before a build: parses the Secrets that Ingresses or flags name into the
 * certificate cache and drops the data of every Secret. */
void ctl_drop_secret_data(struct ctl *c);
/* Drops the data of the Secrets whose certificates <now>, a model_recert()
 * of <was>, took: parsed, as before a build. */
void ctl_drop_cert_data(struct ctl *c, const struct model *was, const struct model *now);
/* Starts reading again the Secrets that build <m> missed; true when the
 * pass must wait for them. */
bool ctl_fetch_wanted_secrets(struct ctl *c, const struct model *m);

/* ctl.c: removed servers */

/* Remembers servers HAProxy kept disabled (connections left), to delete
 * them later. */
void ctl_del_wait_add(struct ctl *c, char *const *names, size_t n);

/* drift.c: a check every CTL_DRIFT_MS, or PORTICO_DRIFT_INTERVAL_MS, and
 * one after each reload. */
void ctl_drift_start(struct ctl *c);
/* A check as soon as nothing else runs: HAProxy has just loaded a
 * configuration. */
void ctl_drift_soon(struct ctl *c);
void ctl_drift_stop(struct ctl *c);

/* spare.c: --spare-backends */

/* Puts the backends of <m> that run in spares in the running generation in
 * the same ones, and new backends that can in free ones, unless a tidy
 * reload is due. Returns how many run in spares. */
size_t ctl_use_spares(struct ctl *c, struct model *m);
/* After a generation became the running one (<before>: the model it
 * replaced, or NULL): counts the backends newly in spares, arms the tidy
 * reload when any runs in one, forgets it when none does. */
void ctl_spares_running(struct ctl *c, const struct model *before);

/* status.c: Ingress status (--publish-service, --publish-address) */

/* Starts publishing, in cluster mode when a flag asks for it. */
void ctl_status_start(struct ctl *c);
/* Writes the status of the Ingresses whose status differs from what it
 * should be, a few at a time (the others when those are done). */
void ctl_status_sync(struct ctl *c);
void ctl_status_stop(struct ctl *c);

/* leader.c: --leader-elect */

/* Starts taking part in the election; without --leader-elect this replica
 * simply leads. Returns 0, or -EINVAL (logged) without POD_NAME and
 * POD_NAMESPACE. */
int ctl_leader_start(struct ctl *c);
/* Stops, giving the Lease up if this replica holds it. */
void ctl_leader_stop(struct ctl *c);

/* events.c: Warning Events on objects (cluster mode) */

void ctl_events_start(struct ctl *c);
/* Queues an Event for issue <is>, which a pass found for the first time;
 * only the replica that writes Ingress status sends it. */
void ctl_event_add(struct ctl *c, const struct model_issue *is);
/* Queues an Event for every problem of the running generation: a replica
 * that becomes the leader records them again, as the replica that saw them
 * appear may have been a follower, or have stopped before sending them. */
void ctl_events_replay(struct ctl *c);
void ctl_events_stop(struct ctl *c);

/* metrics.c */

/* Answers /healthz, /readyz and /metrics (httpd_handler_fn; <arg> is the
 * controller). */
int ctl_http(const char *path, struct buf *body, const char **ctype, void *arg);
#endif
