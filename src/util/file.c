/* SPDX-License-Identifier: Apache-2.0 */
/* File helpers: atomic replacement, directories, whole-file reads. */
#define _XOPEN_SOURCE 700
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

int file_write_all(int fd, const void *buf, size_t len)
{
    const char *data = buf;

    while (len) {
        ssize_t n = write(fd, data, len);

        if (n == -1) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int file_replace_with(const char *path, mode_t mode, unsigned flags,
                      int (*fill)(int fd, void *arg), void *arg, char **err)
{
    char tmp[PATH_MAX];
    int fd, ret;

    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = mkstemp(tmp);
    if (fd == -1) {
        ret = -errno;
        errmsg_set(err, "create %s: %s", tmp, strerror(-ret));
        return ret;
    }
    ret = fchmod(fd, mode) == -1 ? -errno : 0;
    if (ret == 0)
        ret = fill(fd, arg);
    if (ret == 0 && (((flags & FILE_F_SYNC) && fsync(fd) == -1) || rename(tmp, path) == -1))
        ret = -errno;
    if (ret != 0) {
        errmsg_set(err, "write %s: %s", path, strerror(-ret));
        close(fd);
        unlink(tmp);
        return ret;
    }
    close(fd);
    return 0;
}

struct bytes {
    const void *data;
    size_t len;
};

static int write_bytes(int fd, void *arg)
{
    const struct bytes *b = arg;

    return file_write_all(fd, b->data, b->len);
}

int file_replace(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                 char **err)
{
    struct bytes b = {data, len};

    return file_replace_with(path, mode, flags, write_bytes, &b, err);
}

int file_create(const char *path, const void *data, size_t len, mode_t mode, char **err)
{
    struct bytes b = {data, len};

    return file_create_with(path, mode, write_bytes, &b, err);
}

int file_create_with(const char *path, mode_t mode, int (*fill)(int fd, void *arg), void *arg,
                     char **err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode), ret;

    if (fd == -1) {
        ret = -errno;
        errmsg_set(err, "create %s: %s", path, strerror(-ret));
        return ret;
    }
    /* exactly <mode>, whatever the umask */
    ret = fchmod(fd, mode) == -1 ? -errno : fill(fd, arg);
    if (close(fd) == -1 && ret == 0)
        ret = -errno;
    if (ret != 0) {
        errmsg_set(err, "write %s: %s", path, strerror(-ret));
        unlink(path);
    }
    return ret;
}

int file_mkdirs(const char *path, mode_t mode, char **err)
{
    char tmp[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) == -1 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(tmp, mode) == -1 && errno != EEXIST)
        goto fail;
    return 0;
fail:
    errmsg_set(err, "mkdir %s: %s", tmp, strerror(errno));
    return -errno;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == -1 ? -1 : 0;
}

int file_rmtree(const char *path)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == -1)
        return errno == ENOENT ? 0 : -errno;
    return 0;
}

int file_read(const char *path, size_t limit, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *data;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1)
        return -errno;
    data = xmalloc(cap + 1);
    for (;;) {
        ssize_t r;

        if (n == cap) {
            if (cap >= limit) {
                free(data);
                close(fd);
                return -E2BIG;
            }
            cap = cap * 2 > limit ? limit : cap * 2;
            data = xrealloc(data, cap + 1);
        }
        r = read(fd, data + n, cap - n);
        if (r == -1) {
            if (errno == EINTR)
                continue;
            r = -errno;
            free(data);
            close(fd);
            return (int)r;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    data[n] = '\0';
    *out = data;
    *len = n;
    return 0;
}

int file_symlink_replace(const char *target, const char *link, char **err)
{
    char tmp[PATH_MAX];

    if (snprintf(tmp, sizeof(tmp), "%s.new", link) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    unlink(tmp);
    if (symlink(target, tmp) == -1 || rename(tmp, link) == -1) {
        int ret = -errno;

        errmsg_set(err, "symlink %s: %s", link, strerror(-ret));
        unlink(tmp);
        return ret;
    }
    return 0;
}
