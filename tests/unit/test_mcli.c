/* SPDX-License-Identifier: Apache-2.0 */
/* "show proc" parsing: mcli_parse_proc() in src/haproxy/mcli.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "haproxy/mcli.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_show_proc_26),      cmocka_unit_test(test_after_reloads),
        cmocka_unit_test(test_no_worker),         cmocka_unit_test(test_failed_not_reported),
        cmocka_unit_test(test_no_trailing_newline), cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_long_lines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
