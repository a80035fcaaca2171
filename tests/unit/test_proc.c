/* SPDX-License-Identifier: Apache-2.0 */
/* HAProxy supervision: src/haproxy/proc.h. The lines below were printed by
 * HAProxy 2.6.12 on reloads, stops and Runtime API commands. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "haproxy/proc.h"

static void assert_kind(const char *line, enum hap_line want)
{
    enum hap_line got = hap_line_kind(line, strlen(line));

    if (got != want)
        fail_msg("\"%s\": kind %d, want %d", line, got, want);
}

static void test_line_kinds(void **state)
{
    static const char *const routine[] = {
        "",
        "[NOTICE]   (16531) : New worker (16714) forked",
        "[NOTICE]   (16531) : Loading success.",
        "[NOTICE]   (16531) : haproxy version is 2.6.12-1+deb12u4",
        "[NOTICE]   (16531) : Reloading HAProxy",
        "[WARNING]  (16714) : Proxy f stopped (cumulated conns: FE: 0, BE: 0).",
        "[WARNING]  (16714) : Proxy <HTTPCLIENT> stopped (cumulated conns: FE: 0, BE: 0).",
        "[WARNING]  (16531) : Former worker (16714) exited with code 0 (Exit)",
        "[WARNING]  (16531) : Exiting Master process...",
        "[WARNING]  (16531) : Current worker (18840) exited with code 0 (Exit)",
        "[WARNING]  (16531) : All workers exited. Exiting... (0)",
        "[WARNING]  (30927) : Server be/127.0.0.1:39067 is going DOWN for maintenance. 0 active "
        "and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        "[WARNING]  (30927) : CLI : Server be/127.0.0.1:39067 is UP/READY (leaving forced "
        "maintenance).",
        "[WARNING]  (16714) : Proxy f stopped (cumulated conns: FE: 0, BE: 0).  \r",
        /* the old worker stopped by a reload while it answered a command */
        "[WARNING]  (4013) : CLI : Proxy tcp-25552 stopped (cumulated conns: FE: 12, BE: 12).",
        "[ALERT]    (28956) : CLI : backend '_spare_1' has no server available!",
        "[ALERT]    (28956) : backend '_spare_12' has no server available!",
    };
    static const char *const warnings[] = {
        "[WARNING]  (16531) : Loading failure!",
        "[WARNING]  (1) : config : missing timeouts for backend 'b'.",
        "[WARNING]  (1) : Proxy f started.",
        "[WARNING]  (1) : Server be/s1 is DOWN, reason: Layer4 connection problem.",
        "[WARNING]  (1) : CLI : Server be/s1 is DOWN, reason: Layer4 connection problem.",
        "[WARNING] no separator",
        "a line not in HAProxy's format",
    };
    static const char *const alerts[] = {
        "[ALERT]    (16531) : config : parsing [w.cfg:15] : 'timeout queue' : unexpected extra "
        "argument 'xx' after value '5s'.",
        "[ALERT]    (16531) : config : Fatal errors found in configuration.",
        "[ALERT]    (1) : Starting frontend portico: cannot bind socket (Address already in use) "
        "[0.0.0.0:8080]",
        "[ALERT]    (1) : Current worker (18840) exited with code 143 (Terminated)",
        "[ALERT]    (30927) : backend 'be' has no server available!",
        /* Portico enables a server it knows is there: never added twice */
        "[ALERT]    (30927) : CLI : 'server be/127.0.0.1:39067' : Already exists a server with "
        "the same name in backend.",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(routine) / sizeof(routine[0]); i++)
        assert_kind(routine[i], HAP_LINE_ROUTINE);
    for (size_t i = 0; i < sizeof(warnings) / sizeof(warnings[0]); i++)
        assert_kind(warnings[i], HAP_LINE_WARNING);
    for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++)
        assert_kind(alerts[i], HAP_LINE_ALERT);
    /* the length counts, not a NUL: the start of a routine line is not one */
    assert_int_equal(hap_line_kind("[WARNING]  (1) : Proxy f stopped (cumulated", 27),
                     HAP_LINE_WARNING);
}

struct check_result {
    int calls;
    enum hap_check res;
    size_t len;
    char head[16];
};

static void on_checked(enum hap_check res, const char *output, void *arg)
{
    struct check_result *r = arg;

    r->calls++;
    r->res = res;
    r->len = strlen(output);
    snprintf(r->head, sizeof(r->head), "%s", output);
}

/* Runs hap_check() with a script standing in for haproxy, executable or
 * not. */
static struct check_result run_check(const char *script, bool executable)
{
    char dir[] = "/tmp/portico-proc-test.XXXXXX", bin[64];
    struct check_result r = {0};
    uv_loop_t loop;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(bin, sizeof(bin), "%s/haproxy", dir);
    f = fopen(bin, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", script);
    fclose(f);
    assert_int_equal(chmod(bin, executable ? 0700 : 0600), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    hap_check(&loop, bin, "/nonexistent.cfg", on_checked, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(hap_in_flight(), 0);
    unlink(bin);
    rmdir(dir);
    assert_int_equal(r.calls, 1);
    return r;
}

static void test_check_accepts_and_refuses(void **state)
{
    struct check_result r;

    (void)state;
    r = run_check("echo 'Configuration file is valid'; exit 0", true);
    assert_int_equal(r.res, HAP_CHECK_VALID);
    r = run_check("echo '[ALERT] bad' >&2; exit 1", true);
    assert_int_equal(r.res, HAP_CHECK_REFUSED);
    assert_string_equal(r.head, "[ALERT] bad\n");
}

/* A check that cannot be started says nothing of the configuration: the
 * caller must not take it as a refusal. */
static void test_check_not_run(void **state)
{
    struct check_result r;

    (void)state;
    r = run_check("exit 1", false);
    assert_int_equal(r.res, HAP_CHECK_NOT_RUN);
    assert_string_equal(r.head, "cannot run /tmp");
}

/* Past 64 KiB the output is cut, never dropped: the check once appended
 * what followed an overflow to a fresh buffer. */
static void test_check_output_cut_at_its_limit(void **state)
{
    struct check_result r;

    (void)state;
    r = run_check("head -c 200000 /dev/zero | tr '\\0' x >&2; exit 1", true);
    assert_int_equal(r.res, HAP_CHECK_REFUSED);
    assert_int_equal(r.len, 64 * 1024);
    assert_string_equal(r.head, "xxxxxxxxxxxxxxx");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_kinds),
        cmocka_unit_test(test_check_accepts_and_refuses),
        cmocka_unit_test(test_check_not_run),
        cmocka_unit_test(test_check_output_cut_at_its_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
