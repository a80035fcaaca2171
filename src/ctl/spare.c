/* SPDX-License-Identifier: Apache-2.0 */
/* Spare backends (--spare-backends): HAProxy keeps a few empty backends with
 * the ConfigMap's settings. A new backend with those settings is put in a
 * free one (model_run_in_spare()): its servers and routes go through the
 * Runtime API like any other change, so a new Service is served in
 * milliseconds instead of after a reload. A reload later, when it costs no
 * one any waiting, gives it its own name and the spares back ("tidy"). */

#include "ctl/ctl-int.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The tidy reload waits at least this long: a burst of new Services (one
 * release of an application) is one reload. */
#define SPARE_TIDY_MIN_MS 1000

size_t ctl_use_spares(struct ctl *c, struct model *m)
{
    const struct model *run = c->running.model;
    struct model_backend *const *spares;
    const char **news;
    size_t used = 0, n_new = 0, n_free = 0, n_spares, s = 0;

    if (!run || !c->ready || c->tidy || !c->opts->spare_backends)
        return 0;
    spares = model_spares(run, &n_spares);
    /* those running in spares stay there, while they exist and can */
    for (size_t i = 0; i < n_spares; i++) {
        const struct model_backend *rb = spares[i];

        if (rb->origin && !model_run_in_spare(m, rb->origin, rb->name))
            used++;
        else if (!rb->origin)
            n_free++;
    }
    news = xmalloc((m->n_backends + 1) * sizeof(*news));
    for (size_t i = 0; i < m->n_backends; i++) {
        if (model_fits_spare(m->backends[i]) && !model_find_backend(run, m->backends[i]->name))
            news[n_new++] = m->backends[i]->name;
    }
    /* more than the spares take: a reload for all, the spares kept */
    if (n_new > n_free)
        n_new = 0;
    for (size_t i = 0; i < n_new; i++) {
        /* a spare free in HAProxy now, never one just left: its servers go
         * while another backend's come */
        while (s < n_spares && spares[s]->origin)
            s++;
        if (s == n_spares || model_run_in_spare(m, news[i], spares[s]->name))
            break;
        log_debug("ctl", "backend %s runs in spare %s until the next reload", news[i],
                  spares[s]->name);
        s++;
        used++;
    }
    free(news);
    return used;
}

static void on_tidy(uv_timer_t *t)
{
    struct ctl *c = t->data;

    if (c->stopping)
        return;
    c->tidy = true;
    ctl_schedule(c);
}

void ctl_spares_running(struct ctl *c, const struct model *before)
{
    const struct model *run = c->running.model;
    struct model_backend *const *spares = NULL;
    size_t in_use = 0, n_spares = 0;

    if (run)
        spares = model_spares(run, &n_spares);
    for (size_t i = 0; i < n_spares; i++) {
        const struct model_backend *be = spares[i], *was;

        if (!be->origin)
            continue;
        in_use++;
        was = before ? model_find_backend(before, be->name) : NULL;
        if (!was || !was->origin || strcmp(was->origin, be->origin))
            c->m_spare_uses++;
    }
    c->spares_in_use = in_use;
    if (!in_use) {
        c->tidy = false;
        uv_timer_stop(&c->tidy_timer);
        return;
    }
    if (!c->tidy && !uv_is_active((uv_handle_t *)&c->tidy_timer)) {
        uint64_t wait = c->opts->min_reload_interval_ms;

        uv_timer_start(&c->tidy_timer, on_tidy, wait < SPARE_TIDY_MIN_MS ? SPARE_TIDY_MIN_MS : wait,
                       0);
    }
}
