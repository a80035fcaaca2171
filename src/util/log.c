/* SPDX-License-Identifier: Apache-2.0 */
/* Structured logging: logfmt by default, JSON on request. Values are escaped
 * and control characters dropped so a hostile object name cannot forge lines. */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/banned.h"

enum log_level log_threshold = LOG_INFO;
enum log_format log_fmt = LOG_FMT_LOGFMT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *s, enum log_level *out)
{
    if (!strcmp(s, "error"))
        *out = LOG_ERR;
    else if (!strcmp(s, "warning") || !strcmp(s, "warn"))
        *out = LOG_WARN;
    else if (!strcmp(s, "info"))
        *out = LOG_INFO;
    else if (!strcmp(s, "debug") || !strcmp(s, "trace"))
        *out = LOG_DEBUG;
    else
        return -EINVAL;
    return 0;
}

/* Appends <s> quoted for logfmt or JSON: '"' and '\' escaped, control bytes
 * shown as \n, \t or dropped. */
static void add_quoted(struct buf *b, const char *s)
{
    buf_addc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            buf_addc(b, '\\');
            buf_addc(b, (char)c);
        } else if (c == '\n') {
            buf_adds(b, "\\n");
        } else if (c == '\t') {
            buf_adds(b, "\\t");
        } else if (c == '\r') {
            buf_adds(b, "\\r");
        } else if (c >= 0x20 && c != 0x7f) {
            buf_addc(b, (char)c);
        }
    }
    buf_addc(b, '"');
}

static void add_field(struct buf *b, const char *key, const char *val, bool quote)
{
    if (log_fmt == LOG_FMT_JSON) {
        buf_adds(b, b->len > 1 ? ",\"" : "\"");
        buf_adds(b, key);
        buf_adds(b, "\":");
        add_quoted(b, val);
        return;
    }
    if (b->len)
        buf_addc(b, ' ');
    buf_adds(b, key);
    buf_addc(b, '=');
    if (quote)
        add_quoted(b, val);
    else
        buf_adds(b, val);
}

void log_emit(enum log_level lvl, const char *mod, const char *obj, const char *fmt, ...)
{
    char ts[96], msg[4096];
    struct timespec now;
    struct tm tm;
    struct buf b;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(now.tv_nsec / 1000000));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    buf_init(&b, 16384);
    if (log_fmt == LOG_FMT_JSON)
        buf_addc(&b, '{');
    add_field(&b, "ts", ts, log_fmt == LOG_FMT_JSON);
    add_field(&b, "level", level_names[lvl], log_fmt == LOG_FMT_JSON);
    add_field(&b, "mod", mod, log_fmt == LOG_FMT_JSON);
    if (obj)
        add_field(&b, "obj", obj, true);
    add_field(&b, "msg", msg, true);
    if (log_fmt == LOG_FMT_JSON)
        buf_addc(&b, '}');
    buf_addc(&b, '\n');
    if (b.ptr)
        fputs(b.ptr, stderr);
    buf_free(&b);
}
