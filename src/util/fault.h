/* SPDX-License-Identifier: Apache-2.0 */
/* Fault injection, in test builds only (make FAULTS=1, which the sanitizer
 * builds the tests run imply): PORTICO_FAULT_AT=<site>:<n> makes the n-th
 * fault_hit(<site>) true. A release build has no such switch. */
#ifndef SRC_UTIL_FAULT_H
#define SRC_UTIL_FAULT_H
#include <stdbool.h>

#ifdef PORTICO_FAULTS
/* Reads PORTICO_FAULT_AT; an invalid value is logged and ignored. */
void fault_init(void);
/* Counts a pass through <site>; true when it is the one to fail. */
bool fault_hit(const char *site);
#else
static inline void fault_init(void)
{
}

static inline bool fault_hit(const char *site)
{
    (void)site;
    return false;
}
#endif
#endif
