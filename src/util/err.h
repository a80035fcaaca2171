/* SPDX-License-Identifier: Apache-2.0 */
/* Error context carried in "char **err" (HAProxy memprintf style): whoever
 * decides what to do with an error logs it once and frees it. */
#ifndef SRC_UTIL_ERR_H
#define SRC_UTIL_ERR_H

/* Replaces *<err> with a formatted message. <err> may be NULL. */
void errmsg_set(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "<prefix>: " to *<err> (or sets it when empty). */
void errmsg_prefix(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
