/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's own HTTP endpoint: probes and Prometheus metrics. */
#include "ctl/ctl-int.h"

#include <string.h>

#include "kube/watch.h"
#include "store/objects.h"
#include "util/banned.h"

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
    head(b, name, "counter", help);
    buf_addf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct buf *b, const char *name, const char *help, uint64_t v)
{
    head(b, name, "gauge", help);
    buf_addf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void metrics(struct ctl *c, struct buf *b)
{
    static const char *const result[2] = {"failure", "success"};
    const struct ctl_histogram *h = &c->m_latency;
    uint64_t cumulative = 0;

    gauge(b, "portico_ready", "Whether HAProxy runs a complete configuration.", c->ready);
    head(b, "portico_reloads_total", "counter", "HAProxy reloads by result (confirmed or not).");
    for (int r = 1; r >= 0; r--)
        buf_addf(b, "portico_reloads_total{result=\"%s\"} %llu\n", result[r],
                 (unsigned long long)c->m_reloads_total[r]);
    head(b, "portico_reloads_by_reason_total", "counter",
         "HAProxy reloads by reason and result (confirmed or not); a reload that gathered "
         "changes of several kinds counts once under each.");
    for (int w = 1; w < PLAN_WHY_COUNT; w++) {
        for (int r = 1; r >= 0; r--)
            buf_addf(b, "portico_reloads_by_reason_total{reason=\"%s\",result=\"%s\"} %llu\n",
                     plan_why_name((enum plan_why)w), result[r],
                     (unsigned long long)c->m_reloads[w][r]);
    }
    head(b, "portico_reload_changes_total", "counter",
         "Changes that needed a reload (a backend added...), by reason, counted when a reload "
         "that gathered them is confirmed.");
    for (int w = 1; w < PLAN_WHY_COUNT; w++)
        buf_addf(b, "portico_reload_changes_total{reason=\"%s\"} %llu\n",
                 plan_why_name((enum plan_why)w), (unsigned long long)c->m_reload_changes[w]);
    counter(b, "portico_reloads_delayed_total",
            "Reloads that waited for --min-reload-interval after the previous one.",
            c->m_reloads_delayed);
    head(b, "portico_runtime_updates_total", "counter",
         "Changes applied through the Runtime API, without reload, by result.");
    buf_addf(b, "portico_runtime_updates_total{result=\"success\"} %llu\n",
             (unsigned long long)c->m_runtime_ok);
    buf_addf(b, "portico_runtime_updates_total{result=\"failure\"} %llu\n",
             (unsigned long long)c->m_runtime_failed);
    head(b, "portico_runtime_commands_total", "counter",
         "Runtime API updates (a map, a certificate, a server...) by kind and result.");
    for (int k = 0; k < RT_KIND_COUNT; k++) {
        for (int r = 1; r >= 0; r--)
            buf_addf(b, "portico_runtime_commands_total{kind=\"%s\",result=\"%s\"} %llu\n",
                     rt_kind_name((enum rt_kind)k), result[r],
                     (unsigned long long)c->m_rt[k][r]);
    }
    gauge(b, "portico_servers_awaiting_delete",
          "Removed servers HAProxy keeps disabled until no connection or request is on them; "
          "deleted then, or by the next reload.",
          c->del_wait.used);
    head(b, "portico_server_delete_retries_total", "counter",
         "Deletions of removed servers, asked once each update is applied and again while "
         "busy, by result.");
    for (int r = 0; r < RT_DEL_COUNT; r++)
        buf_addf(b, "portico_server_delete_retries_total{result=\"%s\"} %llu\n",
                 rt_del_name((enum rt_del)r), (unsigned long long)c->m_del[r]);
    head(b, "portico_drift_repairs_total", "counter",
         "Servers and maps found to differ from the running model, and repaired: servers "
         "added (or enabled again) or removed, maps replaced.");
    buf_addf(b, "portico_drift_repairs_total{kind=\"server_added\"} %llu\n"
                "portico_drift_repairs_total{kind=\"server_removed\"} %llu\n"
                "portico_drift_repairs_total{kind=\"map\"} %llu\n",
             (unsigned long long)c->m_drift[0], (unsigned long long)c->m_drift[1],
             (unsigned long long)c->m_drift[2]);
    head(b, "portico_spare_backends", "gauge",
         "Spare backends (--spare-backends): free, or running a new backend until the next "
         "reload gives it its own name.");
    buf_addf(b, "portico_spare_backends{state=\"free\"} %llu\n"
                "portico_spare_backends{state=\"in_use\"} %llu\n",
             (unsigned long long)(c->opts->spare_backends > c->spares_in_use
                                      ? c->opts->spare_backends - c->spares_in_use
                                      : 0),
             (unsigned long long)c->spares_in_use);
    counter(b, "portico_spare_backend_uses_total",
            "New backends served from a spare through the Runtime API, without waiting for "
            "a reload.",
            c->m_spare_uses);
    head(b, "portico_change_applied_seconds", "histogram",
         "From a change of the objects to HAProxy serving it (Runtime API or reload).");
    for (int i = 0; i < CTL_LATENCY_BUCKETS; i++) {
        cumulative += h->buckets[i];
        buf_addf(b, "portico_change_applied_seconds_bucket{le=\"%g\"} %llu\n",
                 ctl_latency_bounds[i], (unsigned long long)cumulative);
    }
    buf_addf(b, "portico_change_applied_seconds_bucket{le=\"+Inf\"} %llu\n",
             (unsigned long long)h->count);
    buf_addf(b, "portico_change_applied_seconds_sum %.6f\n", h->sum);
    buf_addf(b, "portico_change_applied_seconds_count %llu\n", (unsigned long long)h->count);
    counter(b, "portico_config_rejected_total", "Configurations haproxy -c refused.",
            c->m_rejected);
    counter(b, "portico_haproxy_restarts_total", "Unexpected HAProxy exits.", c->hap.restarts);
    counter(b, "portico_sync_passes_total",
            "Passes: model builds, patches, reroutes and certificate passes.",
            c->m_passes);
    counter(b, "portico_model_patches_total",
            "Passes for changed endpoints alone, which patched the running model instead of "
            "building one.",
            c->m_patches);
    counter(b, "portico_model_reroutes_total",
            "Passes for changed Ingresses alone, which built again only the routes of their "
            "hosts instead of a whole model.",
            c->m_reroutes);
    counter(b, "portico_model_recerts_total",
            "Passes for changed TLS Secrets alone, which gave the running model their new "
            "certificates instead of building one.",
            c->m_recerts);
    counter(b, "portico_unused_changes_total",
            "Changes to Services, Secrets and EndpointSlices no route, certificate or key "
            "uses: no model build.",
            c->m_unused_changes);
    gauge(b, "portico_leader",
          "Whether this replica writes Ingress status (it holds the --leader-elect Lease, or "
          "there is no election).",
          c->leading);
    gauge(b, "portico_object_issues", "Problems found on objects in the last pass.",
          c->last_issues);
    head(b, "portico_store_objects", "gauge", "Objects in the store by kind.");
    for (int k = 0; k < K8S_KIND_COUNT; k++)
        buf_addf(b, "portico_store_objects{kind=\"%s\"} %zu\n", k8s_kind_name((enum k8s_kind)k),
                 store_count(&c->store, (enum k8s_kind)k));
    head(b, "portico_watch_restarts_total", "counter",
         "Lists and watches started again after a failure, a 410 Gone or a stalled stream, "
         "by resource (cluster mode).");
    for (size_t i = 0; i < c->n_informers; i++) {
        const char *ns = c->specs[i]->ns;

        buf_addf(b, "portico_watch_restarts_total{resource=\"%s\"%s%s%s} %llu\n",
                 informer_name(c->informers[i]), ns ? ",namespace=\"" : "", ns ? ns : "",
                 ns ? "\"" : "", (unsigned long long)informer_restarts(c->informers[i]));
    }
    head(b, "portico_events_total", "counter",
         "Warning Events on objects: recorded, refused by the API server, or not sent (too "
         "many at once).");
    buf_addf(b, "portico_events_total{result=\"success\"} %llu\n",
             (unsigned long long)c->m_events[1]);
    buf_addf(b, "portico_events_total{result=\"failure\"} %llu\n",
             (unsigned long long)c->m_events[0]);
    buf_addf(b, "portico_events_total{result=\"dropped\"} %llu\n",
             (unsigned long long)c->m_events_dropped);
    counter(b, "portico_secret_fetches_total",
            "Secrets read again by GET: their data had been dropped while nothing named them.",
            c->m_secret_fetches);
}

int ctl_http(const char *path, struct buf *body, const char **ctype, void *arg)
{
    struct ctl *c = arg;

    if (!strcmp(path, "/healthz")) {
        buf_adds(body, "ok\n");
        return 200;
    }
    if (!strcmp(path, "/readyz")) {
        bool ready = c->ready && c->hap.serving && !c->stopping;

        buf_adds(body, ready ? "ready\n" : "not ready\n");
        return ready ? 200 : 503;
    }
    if (!strcmp(path, "/metrics")) {
        *ctype = "text/plain; version=0.0.4";
        metrics(c, body);
        return 200;
    }
    buf_adds(body, "not found\n");
    return 404;
}
