/* SPDX-License-Identifier: Apache-2.0 */
/* Fault injection (test builds only: see fault.h). One site at a time. */
#include "util/fault.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/strutil.h"
#include "util/banned.h"

static char fault_site[32];
static unsigned fault_at, fault_count;

void fault_init(void)
{
    const char *v = getenv("PORTICO_FAULT_AT"), *colon;
    uint32_t n;

    if (!v)
        return;
    colon = strchr(v, ':');
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof(fault_site) ||
        str_to_u32(colon + 1, 1, 1u << 30, &n)) {
        log_warn("fault", "PORTICO_FAULT_AT=%s: want <site>:<n>; ignored", v);
        return;
    }
    memcpy(fault_site, v, (size_t)(colon - v));
    fault_site[colon - v] = '\0';
    fault_at = n;
    fault_count = 0;
    log_warn("fault", "fault injection: pass %u through %s fails", n, fault_site);
}

bool fault_hit(const char *site)
{
    if (!fault_at || strcmp(site, fault_site) || ++fault_count != fault_at)
        return false;
    log_warn("fault", "pass %u through %s fails now", fault_at, site);
    return true;
}
