/* SPDX-License-Identifier: Apache-2.0 */
/* The only ways object text reaches HAProxy: one function per sink context
 * (security.md, rule R1). Each either writes a form HAProxy reads back as
 * exactly the original bytes, or refuses with -EINVAL. */
#ifndef SRC_HAPROXY_ESCAPE_H
#define SRC_HAPROXY_ESCAPE_H
#include <stdbool.h>

#include "util/buf.h"

/* Appends <s> as one single-quoted configuration word. Inside single quotes
 * HAProxy interprets nothing, so no environment expansion can happen; "'",
 * CR, LF and other control bytes have no representation and are refused. */
int cfg_word_strong(struct buf *b, const char *s);
/* Appends <s> as one single-quoted word that HAProxy parses as a log-format
 * string (set-header values, replace-path replacements): as
 * cfg_word_strong(), with '%' doubled so that no sample expression can be
 * written; non-ASCII bytes and runs of spaces (which log-format merges) are
 * refused too. */
int cfg_word_logfmt(struct buf *b, const char *s);
/* Appends <s> as one pattern of an anonymous ACL ("{ fetch -m str -- <s> }"):
 * as cfg_word_strong(), and "}" alone is refused too, as HAProxy ends the
 * ACL at a word "}" whatever its quotes. */
int cfg_acl_word(struct buf *b, const char *s);
/* Appends <s> as a proxy, server or file name: [A-Za-z0-9_.:-] only. */
int cfg_name(struct buf *b, const char *s);
/* Appends <s> as a map or crt-list key: printable ASCII without spaces, not
 * starting with '#' (the map file format has no escapes). */
int map_key(struct buf *b, const char *s);
/* True when map_key() takes <s>. */
bool map_word_ok(const char *s);
/* Appends <s> as one Runtime API argument: ';' and '\' escaped with '\';
 * spaces, CR, LF and control bytes refused. */
int rt_api_arg(struct buf *b, const char *s);
#endif
