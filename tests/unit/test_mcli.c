/* SPDX-License-Identifier: Apache-2.0 */
/* mcli_send() against a socket served by a child process, and "show proc"
 * parsing: mcli_parse_proc(), src/haproxy/mcli.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "haproxy/mcli.h"
#include "util/buf.h"

static const char reply_26[] =
    "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
    "2981            master          0 [failed: 0]   0d00h00m01s     2.6.12-1+deb12u4\n"
    "# workers\n"
    "2984            worker          0               0d00h00m01s     2.6.12-1+deb12u4\n"
    "# old workers\n"
    "2990            worker          1               0d00h00m09s     2.6.12-1+deb12u4\n"
    "# programs\n"
    "\n";

static void test_show_proc_26(void **state)
{
    struct mcli_proc p;

    (void)state;
    assert_int_equal(mcli_parse_proc(reply_26, &p), 0);
    assert_int_equal(p.master_pid, 2981);
    assert_int_equal(p.reloads, 0);
    assert_int_equal(p.failed, 0);
    assert_int_equal(p.worker_pid, 2984);
    assert_int_equal(p.n_old, 1);
}

static void test_after_reloads(void **state)
{
    struct mcli_proc p;
    const char *reply =
        "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
        "100             master          3 [failed: 1]   0d01h02m03s     2.6.12-1+deb12u4\n"
        "# workers\n"
        "205             worker          0               0d00h00m02s     2.6.12-1+deb12u4\n"
        "# old workers\n"
        "190             worker          1               0d00h05m00s     2.6.12-1+deb12u4\n"
        "170             worker          2               0d00h10m00s     2.6.12-1+deb12u4\n"
        "# programs\n"
        "300             program         0               0d01h02m03s     -\n"
        "\n";

    (void)state;
    assert_int_equal(mcli_parse_proc(reply, &p), 0);
    assert_int_equal(p.master_pid, 100);
    assert_int_equal(p.reloads, 3);
    assert_int_equal(p.failed, 1);
    assert_int_equal(p.worker_pid, 205);
    assert_int_equal(p.n_old, 2);
}

static void test_no_worker(void **state)
{
    struct mcli_proc p;
    const char *reply =
        "#<PID>          <type>          <reloads>       <uptime>        <version>      \n"
        "2981            master          1 [failed: 1]   0d00h00m01s     2.6.12-1+deb12u4\n"
        "# workers\n"
        "# old workers\n"
        "# programs\n"
        "\n";

    (void)state;
    assert_int_equal(mcli_parse_proc(reply, &p), 0);
    assert_int_equal(p.master_pid, 2981);
    assert_int_equal(p.reloads, 1);
    assert_int_equal(p.failed, 1);
    assert_int_equal(p.worker_pid, 0);
    assert_int_equal(p.n_old, 0);
}

/* Without the "[failed: N]" counter (older versions), failed is -1. */
static void test_failed_not_reported(void **state)
{
    struct mcli_proc p;
    const char *reply = "#<PID>          <type>          <relative PID>  <reloads>       <uptime>\n"
                        "42              master          0               2               0d00h00m01s\n"
                        "# workers\n"
                        "43              worker          1               0               0d00h00m01s\n";

    (void)state;
    assert_int_equal(mcli_parse_proc(reply, &p), 0);
    assert_int_equal(p.master_pid, 42);
    assert_int_equal(p.failed, -1);
    assert_int_equal(p.worker_pid, 43);
    assert_int_equal(p.n_old, 0);
}

/* No trailing newline, CRLF-free input cut at the last line. */
static void test_no_trailing_newline(void **state)
{
    struct mcli_proc p;
    const char *reply = "#<PID> <type> <reloads> <uptime> <version>\n"
                        "7 master 5 [failed: 2] 0d00h00m01s 2.6.12\n"
                        "# workers\n"
                        "8 worker 0 0d00h00m01s 2.6.12";

    (void)state;
    assert_int_equal(mcli_parse_proc(reply, &p), 0);
    assert_int_equal(p.master_pid, 7);
    assert_int_equal(p.reloads, 5);
    assert_int_equal(p.failed, 2);
    assert_int_equal(p.worker_pid, 8);
}

static void test_invalid(void **state)
{
    struct mcli_proc p;

    (void)state;
    assert_int_equal(mcli_parse_proc("", &p), -EINVAL);
    assert_int_equal(mcli_parse_proc("\n\n", &p), -EINVAL);
    assert_int_equal(mcli_parse_proc("Unknown command: 'show'\n", &p), -EINVAL);
    assert_int_equal(mcli_parse_proc("#<PID>          <type>          <reloads>\n"
                                     "# workers\n"
                                     "2984            worker          0\n",
                                     &p),
                     -EINVAL);
    /* garbage that only looks like numbers */
    assert_int_equal(mcli_parse_proc("master worker 1 2 3\nabc def ghi\n", &p), -EINVAL);
}

static void test_long_lines(void **state)
{
    struct mcli_proc p;
    char reply[4096];
    size_t n;

    (void)state;
    n = (size_t)snprintf(reply, sizeof(reply), "#<PID> <type>");
    memset(reply + n, ' ', 2000);
    n += 2000;
    snprintf(reply + n, sizeof(reply) - n,
             "\n11 master 0 [failed: 0] 0d00h00m01s 2.6\n# workers\n12 worker 0 x 2.6\n");
    assert_int_equal(mcli_parse_proc(reply, &p), 0);
    assert_int_equal(p.master_pid, 11);
    assert_int_equal(p.worker_pid, 12);
}

/* One connection served on a thread: the command read until the client's
 * half-close, then answered with itself followed by <size> bytes of digits
 * and newlines. A thread, not a child process: under valgrind a child's
 * exit reports the parent's heap as its own leaks. */
struct server {
    int ls;
    size_t size;
};

static void *serve(void *arg)
{
    const struct server *sv = arg;
    char cmd[256], *reply = malloc(sv->size + 1);
    size_t got = 0;
    ssize_t n;
    int fd = accept(sv->ls, NULL, NULL);

    while (fd >= 0 && got < sizeof(cmd) && (n = read(fd, cmd + got, sizeof(cmd) - got)) > 0)
        got += (size_t)n;
    for (size_t i = 0; reply && i < sv->size; i++)
        reply[i] = i % 64 == 63 ? '\n' : (char)('0' + i % 10);
    /* MSG_NOSIGNAL: the client closes on a reply too large */
    if (fd >= 0 && send(fd, cmd, got, MSG_NOSIGNAL) == (ssize_t)got) {
        for (size_t off = 0; reply && off < sv->size; off += (size_t)n) {
            n = send(fd, reply + off, sv->size - off, MSG_NOSIGNAL);
            if (n <= 0)
                break;
        }
    }
    if (fd >= 0)
        close(fd);
    free(reply);
    return NULL;
}

struct answer {
    int status;
    char *reply;
    struct buf lines; /* mcli_send_lines(): each line given, a newline after it */
    size_t n_lines;
};

static void on_answer(int status, const char *reply, void *arg)
{
    struct answer *a = arg;

    a->status = status;
    a->reply = strdup(reply);
}

static void on_line(const char *line, size_t len, void *arg)
{
    struct answer *a = arg;

    assert_null(memchr(line, '\n', len));
    assert_int_equal(buf_add(&a->lines, line, len), 0);
    assert_int_equal(buf_addc(&a->lines, '\n'), 0);
    a->n_lines++;
}

static struct answer ask(size_t size, bool lines)
{
    char path[] = "/tmp/portico-test-mcli-XXXXXX";
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct server sv = {socket(AF_UNIX, SOCK_STREAM, 0), size};
    struct answer a = {1, NULL, {0}, 0};
    uv_loop_t loop;
    pthread_t t;

    assert_non_null(mkdtemp(path));
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", path);
    assert_true(sv.ls >= 0);
    assert_int_equal(bind(sv.ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(sv.ls, 1), 0);
    assert_int_equal(pthread_create(&t, NULL, serve, &sv), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    buf_init(&a.lines, 16u << 20);
    if (lines)
        mcli_send_lines(&loop, sa.sun_path, "show servers state", 10000, on_line, on_answer,
                        &a);
    else
        mcli_send(&loop, sa.sun_path, "show servers state", 10000, on_answer, &a);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(mcli_in_flight(), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(sv.ls);
    unlink(sa.sun_path);
    rmdir(path);
    return a;
}

/* Megabytes arrive whole, read into the reply as it grows. */
static void test_send_large_reply(void **state)
{
    const size_t size = 3u << 20;
    const char *cmd = "show servers state\n";
    struct answer a;

    (void)state;
    a = ask(size, false);
    assert_int_equal(a.status, 0);
    assert_int_equal(strlen(a.reply), strlen(cmd) + size);
    assert_memory_equal(a.reply, cmd, strlen(cmd));
    for (size_t i = 0; i < size; i++) {
        if (a.reply[strlen(cmd) + i] != (i % 64 == 63 ? '\n' : (char)('0' + i % 10)))
            fail_msg("byte %zu differs", i);
    }
    free(a.reply);
    /* nothing at all is an empty reply */
    a = ask(0, false);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.reply, cmd);
    free(a.reply);
}

/* A reply past 4 MiB is refused, not cut. */
static void test_send_reply_too_large(void **state)
{
    struct answer a;

    (void)state;
    a = ask(5u << 20, false);
    assert_int_equal(a.status, -E2BIG);
    free(a.reply);
}

/* A reply of any length a line at a time: past the whole reply's limit,
 * cut across reads, the last line without its newline given too. */
static void test_send_lines(void **state)
{
    const size_t size = (6u << 20) + 10;
    const char *cmd = "show servers state\n";
    struct answer a;

    (void)state;
    a = ask(size, true);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.reply, "");
    assert_int_equal(a.n_lines, 1 + size / 64 + 1);
    assert_int_equal(a.lines.len, strlen(cmd) + size + 1);
    assert_memory_equal(a.lines.ptr, cmd, strlen(cmd));
    for (size_t i = 0; i < size; i++) {
        if (a.lines.ptr[strlen(cmd) + i] != (i % 64 == 63 ? '\n' : (char)('0' + i % 10)))
            fail_msg("byte %zu differs", i);
    }
    free(a.reply);
    buf_free(&a.lines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_show_proc_26),      cmocka_unit_test(test_after_reloads),
        cmocka_unit_test(test_no_worker),         cmocka_unit_test(test_failed_not_reported),
        cmocka_unit_test(test_no_trailing_newline), cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_long_lines),        cmocka_unit_test(test_send_large_reply),
        cmocka_unit_test(test_send_reply_too_large), cmocka_unit_test(test_send_lines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
