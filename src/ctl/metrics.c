/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's own HTTP endpoint: probes and Prometheus metrics. */
#include "ctl/ctl-int.h"

#include <string.h>

#include "store/objects.h"
#include "util/banned.h"

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
        buf_addf(body,
                 "# HELP portico_ready Whether HAProxy runs a complete configuration.\n"
                 "# TYPE portico_ready gauge\nportico_ready %d\n"
                 "# HELP portico_reloads_total HAProxy reloads by result.\n"
                 "# TYPE portico_reloads_total counter\n"
                 "portico_reloads_total{result=\"success\"} %llu\n"
                 "portico_reloads_total{result=\"failure\"} %llu\n"
                 "# HELP portico_runtime_updates_total Map, certificate and server updates through "
                 "the Runtime API, without reload.\n"
                 "# TYPE portico_runtime_updates_total counter\n"
                 "portico_runtime_updates_total{result=\"success\"} %llu\n"
                 "portico_runtime_updates_total{result=\"failure\"} %llu\n"
                 "# HELP portico_config_rejected_total Configurations haproxy -c refused.\n"
                 "# TYPE portico_config_rejected_total counter\n"
                 "portico_config_rejected_total %llu\n"
                 "# HELP portico_haproxy_restarts_total Unexpected HAProxy exits.\n"
                 "# TYPE portico_haproxy_restarts_total counter\n"
                 "portico_haproxy_restarts_total %llu\n"
                 "# HELP portico_sync_passes_total Model builds.\n"
                 "# TYPE portico_sync_passes_total counter\n"
                 "portico_sync_passes_total %llu\n"
                 "# HELP portico_leader Whether this replica writes Ingress status (it holds "
                 "the --leader-elect Lease, or there is no election).\n"
                 "# TYPE portico_leader gauge\nportico_leader %d\n"
                 "# HELP portico_object_issues Problems found on objects in the last pass.\n"
                 "# TYPE portico_object_issues gauge\nportico_object_issues %zu\n"
                 "# HELP portico_store_objects Objects in the store by kind.\n"
                 "# TYPE portico_store_objects gauge\n",
                 c->ready, (unsigned long long)c->m_reloads_ok,
                 (unsigned long long)c->m_reloads_failed, (unsigned long long)c->m_runtime_ok,
                 (unsigned long long)c->m_runtime_failed, (unsigned long long)c->m_rejected,
                 (unsigned long long)c->hap.restarts, (unsigned long long)c->m_passes,
                 c->leading, c->last_issues);
        for (int k = 0; k < K8S_KIND_COUNT; k++)
            buf_addf(body, "portico_store_objects{kind=\"%s\"} %zu\n",
                     k8s_kind_name((enum k8s_kind)k), store_count(&c->store, (enum k8s_kind)k));
        buf_addf(body,
                 "# HELP portico_secret_fetches_total Secrets read again by GET: their data had "
                 "been dropped while nothing named them.\n"
                 "# TYPE portico_secret_fetches_total counter\n"
                 "portico_secret_fetches_total %llu\n",
                 (unsigned long long)c->m_secret_fetches);
        return 200;
    }
    buf_adds(body, "not found\n");
    return 404;
}

