/* SPDX-License-Identifier: Apache-2.0 */
/* File helpers: atomic replacement, directories, whole-file reads. */
#ifndef SRC_UTIL_FILE_H
#define SRC_UTIL_FILE_H
#include <stddef.h>
#include <sys/types.h>

#define FILE_F_SYNC 0x1u /* fsync before the rename: survives a power loss */

/* Atomically replaces <path> with <len> bytes of <data>, created with <mode>
 * (temp file, optional fsync, rename). Returns 0 or a negative errno; *err
 * says why. */
int file_replace(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                 char **err);
/* file_replace() of the content <fill> writes to the temporary file's
 * descriptor, returning 0 or a negative errno. */
int file_replace_with(const char *path, mode_t mode, unsigned flags,
                      int (*fill)(int fd, void *arg), void *arg, char **err);
/* Creates the new file <path> (it must not exist) with <len> bytes of <data>
 * and <mode>, without the temporary file: for directories nothing reads
 * until they are complete. Returns 0 or a negative errno; *err says why. */
int file_create(const char *path, const void *data, size_t len, mode_t mode, char **err);
/* file_create() of the content <fill> writes to the file's descriptor,
 * returning 0 or a negative errno: a file made a piece at a time. */
int file_create_with(const char *path, mode_t mode, int (*fill)(int fd, void *arg), void *arg,
                     char **err);
/* Writes all <len> bytes of <buf> to <fd>. Returns 0 or a negative errno. */
int file_write_all(int fd, const void *buf, size_t len);
/* Creates <path> and its parents with <mode>. Returns 0 or a negative errno. */
int file_mkdirs(const char *path, mode_t mode, char **err);
/* Removes <path> recursively. Returns 0 or a negative errno. */
int file_rmtree(const char *path);
/* Reads at most <limit> bytes of <path> into a new NUL-terminated buffer
 * that the caller owns. Returns 0, -E2BIG past the limit, or a negative errno. */
int file_read(const char *path, size_t limit, char **out, size_t *len);
/* Points symlink <link> at <target> atomically (new link, then rename). */
int file_symlink_replace(const char *target, const char *link, char **err);
#endif
