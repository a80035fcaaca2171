/* SPDX-License-Identifier: Apache-2.0 */
/* Structured logging to stderr: one logfmt (or JSON) line per event. */
#ifndef SRC_UTIL_LOG_H
#define SRC_UTIL_LOG_H
#include <stdbool.h>

enum log_level {
    LOG_ERR = 0,
    LOG_WARN,
    LOG_INFO,
    LOG_DEBUG,
    /* LOG_LEVEL_COUNT */
};

enum log_format {
    LOG_FMT_LOGFMT = 0,
    LOG_FMT_JSON,
};

extern enum log_level log_threshold;
extern enum log_format log_fmt;

static inline bool log_on(enum log_level lvl)
{
    return lvl <= log_threshold;
}

/* Parses "error|warning|info|debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
/* Writes one line. <obj> names the object ("ingress/ns/name") or is NULL. */
void log_emit(enum log_level lvl, const char *mod, const char *obj, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_err(mod, ...)                                                                          \
    do {                                                                                           \
        if (log_on(LOG_ERR))                                                                       \
            log_emit(LOG_ERR, mod, NULL, __VA_ARGS__);                                             \
    } while (0)
#define log_warn(mod, ...)                                                                         \
    do {                                                                                           \
        if (log_on(LOG_WARN))                                                                      \
            log_emit(LOG_WARN, mod, NULL, __VA_ARGS__);                                            \
    } while (0)
#define log_info(mod, ...)                                                                         \
    do {                                                                                           \
        if (log_on(LOG_INFO))                                                                      \
            log_emit(LOG_INFO, mod, NULL, __VA_ARGS__);                                            \
    } while (0)
#define log_debug(mod, ...)                                                                        \
    do {                                                                                           \
        if (log_on(LOG_DEBUG))                                                                     \
            log_emit(LOG_DEBUG, mod, NULL, __VA_ARGS__);                                           \
    } while (0)
#endif
