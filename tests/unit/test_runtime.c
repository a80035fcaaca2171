/* SPDX-License-Identifier: Apache-2.0 */
/* Map differences sent over the Runtime API: src/haproxy/runtime.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "haproxy/runtime.h"
#include "model/model.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/hmap.h"
#include "modelutil.h"

#define T_OLD "2024-01-01T00:00:00Z"

static struct model *build(struct store *s)
{
    struct model_opts o;

    memset(&o, 0, sizeof(o));
    o.ingress_class = "portico";
    o.controller_name = CONTROLLER;
    return model_build(s, &o);
}

static char *diff(struct model *a, struct model *b, enum model_map m)
{
    struct buf out;

    buf_init(&out, 1 << 20);
    buf_adds(&out, "");
    if (!rt_map_one_change(a, b, m, "maps/prefix.map", &out)) {
        buf_free(&out);
        return NULL;
    }
    return buf_take(&out);
}

/* The model of an Ingress with paths <paths> ("path=service", comma
 * separated) on host h.test. */
static struct model *with_paths(struct store *s, const char *paths)
{
    struct buf spec;
    struct model *m;
    char *list = xstrdup(paths), *save = NULL;

    buf_init(&spec, 1 << 16);
    buf_adds(&spec, "'rules':[{'host':'h.test','http':{'paths':[");
    for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(p, '=');

        *eq = '\0';
        buf_addf(&spec,
                 "%s{'path':'%s','pathType':'ImplementationSpecific','backend':{'service':"
                 "{'name':'%s','port':{'name':'http'}}}}",
                 spec.ptr[spec.len - 1] == '[' ? "" : ",", p, eq + 1);
    }
    buf_adds(&spec, "]}}]");
    put_ingress(s, "default", "i", T_OLD, "portico", "", spec.ptr);
    m = build(s);
    buf_free(&spec);
    free(list);
    return m;
}

/* One entry added, removed or pointed elsewhere: that one command, which
 * HAProxy applies atomically (keys and values escaped for the CLI). */
static void test_one_entry_is_one_command(void **state)
{
    static const struct {
        const char *before, *after, *cmd;
    } cases[] = {
        {"/a=one,/b=one", "/a=one", "del map maps/prefix.map h.test/b\n"},
        {"/a=one", "/a=one,/b=two", "add map maps/prefix.map h.test/b default_two_http\n"},
        {"/a=one,/b=one", "/a=one,/b=two", "set map maps/prefix.map h.test/b default_two_http\n"},
        {"/a=one", "/a=one,/n;x\\\\y=two",
         "add map maps/prefix.map h.test/n\\;x\\\\y default_two_http\n"},
        {"/a=one", "/a=one", ""},
    };
    struct store s;

    (void)state;
    store_init(&s);
    put_class(&s, "portico", CONTROLLER, false);
    put_service(&s, "default", "one", "http", 80, 8080, "10.0.0.1");
    put_service(&s, "default", "two", "http", 80, 8080, "10.0.0.2");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct model *a = with_paths(&s, cases[i].before), *b = with_paths(&s, cases[i].after);
        char *cmds = diff(a, b, MODEL_MAP_PREFIX);

        if (!cmds)
            fail_msg("%s -> %s: no single command", cases[i].before, cases[i].after);
        assert_string_equal(cmds, cases[i].cmd);
        free(cmds);
        model_unref(a);
        model_unref(b);
    }
    store_deinit(&s);
}

/* Two entries or more: no per-key commands, whatever the change; the caller
 * replaces the whole map, atomically. A path renamed (a del and an add) and
 * two paths added are the cases one command each would break. */
static void test_several_entries_replace_the_map(void **state)
{
    static const char *const cases[][2] = {
        {"/a=one,/old=one", "/a=one,/new=one"},     /* renamed: del + add */
        {"/a=one", "/a=one,/b=two,/b/c=one"},       /* nested prefixes added */
        {"/a=one,/b=one", "/a=two,/b=two"},         /* two moved */
        {"/a=one,/b=one,/c=one", "/c=one"},         /* two removed */
    };
    struct store s;

    (void)state;
    store_init(&s);
    put_class(&s, "portico", CONTROLLER, false);
    put_service(&s, "default", "one", "http", 80, 8080, "10.0.0.1");
    put_service(&s, "default", "two", "http", 80, 8080, "10.0.0.2");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct model *a = with_paths(&s, cases[i][0]), *b = with_paths(&s, cases[i][1]);
        char *cmds = diff(a, b, MODEL_MAP_PREFIX);

        if (cmds)
            fail_msg("%s -> %s: per-key commands \"%s\"", cases[i][0], cases[i][1], cmds);
        model_unref(a);
        model_unref(b);
    }
    store_deinit(&s);
}

/* ====== rt_apply() against a scripted admin socket ======
 *
 * The socket answers the n-th command it receives with replies[n], as
 * HAProxy 2.6 does (the replies below were taken from it). */

struct fake_cli {
    uv_pipe_t srv;
    const char *const *replies;
    size_t n_replies, n_cmds;
    char cmds[8][16384];
};

struct fake_conn {
    uv_pipe_t pipe;
    uv_write_t wr;
    struct fake_cli *cli;
    char buf[16384];
    size_t len;
};

static void fake_closed(uv_handle_t *h)
{
    free(h->data);
}

static void fake_written(uv_write_t *w, int status)
{
    struct fake_conn *c = w->data;

    (void)status;
    uv_close((uv_handle_t *)&c->pipe, fake_closed);
}

static void fake_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct fake_conn *c = h->data;

    (void)hint;
    b->base = c->buf + c->len;
    b->len = sizeof(c->buf) - 1 - c->len;
}

static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct fake_conn *c = s->data;
    struct fake_cli *cli = c->cli;
    const char *reply;
    uv_buf_t out;

    (void)b;
    if (n > 0) {
        c->len += (size_t)n;
        return;
    }
    if (n == 0)
        return;
    /* the client half-closed: answer */
    uv_read_stop(s);
    c->buf[c->len] = '\0';
    assert_true(cli->n_cmds < 8);
    snprintf(cli->cmds[cli->n_cmds], sizeof(cli->cmds[0]), "%s", c->buf);
    reply = cli->n_cmds < cli->n_replies ? cli->replies[cli->n_cmds] : "Unknown command.\n";
    cli->n_cmds++;
    out = uv_buf_init((char *)reply, (unsigned)strlen(reply));
    c->wr.data = c;
    assert_int_equal(uv_write(&c->wr, s, &out, 1, fake_written), 0);
}

static void fake_conn(uv_stream_t *srv, int status)
{
    struct fake_conn *c = xcalloc(1, sizeof(*c));

    assert_int_equal(status, 0);
    c->cli = srv->data;
    uv_pipe_init(srv->loop, &c->pipe, 0);
    c->pipe.data = c;
    assert_int_equal(uv_accept(srv, (uv_stream_t *)&c->pipe), 0);
    uv_read_start((uv_stream_t *)&c->pipe, fake_alloc, fake_read);
}

struct result {
    int calls;
    bool ok;
    size_t applied;
    char msg[300];
    size_t n_busy;
    char busy[300];
};

static void on_done(const struct rt_result *res, void *arg)
{
    struct result *r = arg;

    r->calls++;
    r->applied = res->applied;
    r->ok = res->ok;
    snprintf(r->msg, sizeof(r->msg), "%s", res->msg ? res->msg : "");
    r->n_busy = res->n_busy;
    snprintf(r->busy, sizeof(r->busy), "%s", res->n_busy ? res->busy[0] : "");
}

/* Applies <u> against a socket answering <replies>; returns the result and
 * leaves the commands received in <cli>. */
static struct result apply_scripted(const struct rt_update *u, size_t n,
                                    const char *const *replies, size_t n_replies,
                                    struct fake_cli *cli)
{
    char path[] = "/tmp/portico-rt-test.XXXXXX", sock[64];
    struct result r = {0};
    uv_loop_t loop;

    assert_non_null(mkdtemp(path));
    snprintf(sock, sizeof(sock), "%s/admin.sock", path);
    memset(cli, 0, sizeof(*cli));
    cli->replies = replies;
    cli->n_replies = n_replies;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_pipe_init(&loop, &cli->srv, 0);
    cli->srv.data = cli;
    assert_int_equal(uv_pipe_bind(&cli->srv, sock), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&cli->srv, 8, fake_conn), 0);
    rt_apply(&loop, sock, u, n, on_done, &r);
    while (r.calls == 0 && uv_run(&loop, UV_RUN_ONCE))
        ;
    uv_close((uv_handle_t *)&cli->srv, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(sock);
    rmdir(path);
    assert_int_equal(r.calls, 1);
    return r;
}

/* A removed server is disabled, and named in the result for
 * rt_del_servers() to delete later; any answer but HAProxy's empty success,
 * such as a server HAProxy does not have, fails the update, so that the
 * caller reloads instead of believing the two agree. */
static void test_server_removal_replies(void **state)
{
    static const struct {
        const char *reply;
        bool ok;
    } cases[] = {
        {"\n", true},
        {"", true},
        {"No such server.\n", false},
        {"No such backend.\n", false},
    };
    const struct rt_update u = {RT_SERVER_DEL, "be_shop_web_80/10.0.0.1:8080", "10.0.0.1:8080",
                                NULL, false};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake_cli cli;
        struct result r = apply_scripted(&u, 1, &cases[i].reply, 1, &cli);

        assert_int_equal(cli.n_cmds, 1);
        assert_string_equal(cli.cmds[0], "disable server be_shop_web_80/10.0.0.1:8080\n");
        if (r.ok != cases[i].ok)
            fail_msg("reply \"%s\": ok %d, want %d", cases[i].reply, r.ok, cases[i].ok);
        assert_int_equal(r.applied, r.ok ? 1 : 0);
        if (!r.ok)
            assert_non_null(strstr(r.msg, "disable server be_shop_web_80/10.0.0.1:8080"));
        assert_int_equal(r.n_busy, r.ok ? 1 : 0);
        if (r.ok)
            assert_string_equal(r.busy, "be_shop_web_80/10.0.0.1:8080");
    }
}

/* A certificate command HAProxy refuses because another CLI session holds
 * the certificates' lock (a "show ssl cert" running) is sent again a moment
 * later, instead of failing the update and reloading. */
static void test_certificate_lock_retried(void **state)
{
    static const char *const replies[] = {
        "Can't update the certificate!\nOperations on certificates are currently locked!\n",
        "Transaction created for certificate certs/shop_tls.pem!\n",
        "Can't commit the certificate!\nOperations on certificates are currently locked!\n",
        "\nCommitting certs/shop_tls.pem\nSuccess!\n",
    };
    const struct rt_update u = {RT_CERT, "certs/shop_tls.pem", "-----BEGIN PRIVATE KEY-----\n",
                                NULL, false};
    struct fake_cli cli;
    struct result r;

    (void)state;
    r = apply_scripted(&u, 1, replies, 4, &cli);
    assert_true(r.ok);
    assert_int_equal(r.applied, 1);
    assert_int_equal(cli.n_cmds, 4);
    assert_memory_equal(cli.cmds[0], "set ssl cert certs/shop_tls.pem <<\n", 35);
    assert_string_equal(cli.cmds[1], cli.cmds[0]);
    assert_string_equal(cli.cmds[2], "commit ssl cert certs/shop_tls.pem\n");
    assert_string_equal(cli.cmds[3], cli.cmds[2]);
}

/* "show sess" as HAProxy 2.6 prints it: the servers streams point to. */
static void test_sess_servers(void **state)
{
    const char *reply =
        "0x55d5c8a3e600: proto=tcpv4 src=127.0.0.1:53622 fe=http be=be_a srv=10.0.0.1:80 "
        "ts=00 epoch=0 age=1s calls=3 rate=0 cpu=0 lat=0 rq[f=848000h,i=0] rp[f=80048202h]\n"
        "0x55d5c8a3f000: proto=tcpv4 src=127.0.0.1:53630 fe=http be=be_a srv=<none> ts=00\n"
        "0x55d5c8a40000: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=02\n"
        "0x55d5c8a41000: proto=tcpv6 src=::1:40000 fe=https be=be_b srv=10.0.0.9:8443 ts=00";
    struct hmap set;

    (void)state;
    hmap_init(&set);
    rt_sess_servers(reply, &set);
    assert_non_null(hmap_get(&set, "be_a/10.0.0.1:80"));
    assert_non_null(hmap_get(&set, "be_b/10.0.0.9:8443"));
    assert_null(hmap_get(&set, "be_a/10.0.0.2:80"));
    assert_null(hmap_get(&set, "be_a/10.0.0.1:8"));
    hmap_deinit(&set);
}

struct del_result {
    int calls;
    size_t n;
    enum rt_del res[5];
    char names[5][64];
};

static void on_del_done(char *const *names, const enum rt_del *res, size_t n, void *arg)
{
    struct del_result *r = arg;

    r->calls++;
    r->n = n;
    for (size_t i = 0; i < n && i < 5; i++) {
        r->res[i] = res[i];
        snprintf(r->names[i], sizeof(r->names[i]), "%s", names[i]);
    }
}

/* Servers kept disabled are asked with "del server" alone, one command
 * each, and each answer read on its own (HAProxy 2.6's replies); but first
 * "show sess": a server a stream points to is not asked, as HAProxy 2.6
 * would delete it under the stream. */
static void test_server_deletion_retries(void **state)
{
    static const char *const replies[] = {
        "0x55d5c8a3e600: proto=tcpv4 src=127.0.0.1:53622 fe=http be=be_b srv=10.0.0.5:80 "
        "ts=00\n",
        "Server deleted.\n",
        "Server still has connections attached to it, cannot remove it.\n",
        "No such server.\n",
        "Only servers in maintenance mode can be deleted.\n",
    };
    char *names[] = {"be_a/10.0.0.1:80", "be_a/10.0.0.2:80", "be_b/10.0.0.5:80",
                     "be_b/10.0.0.3:80", "be_b/10.0.0.4:80"};
    char path[] = "/tmp/portico-rt-test.XXXXXX", sock[64];
    struct del_result r = {0};
    struct fake_cli cli;
    uv_loop_t loop;

    (void)state;
    assert_non_null(mkdtemp(path));
    snprintf(sock, sizeof(sock), "%s/admin.sock", path);
    memset(&cli, 0, sizeof(cli));
    cli.replies = replies;
    cli.n_replies = 5;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_pipe_init(&loop, &cli.srv, 0);
    cli.srv.data = &cli;
    assert_int_equal(uv_pipe_bind(&cli.srv, sock), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&cli.srv, 8, fake_conn), 0);
    rt_del_servers(&loop, sock, names, 5, on_del_done, &r);
    while (r.calls == 0 && uv_run(&loop, UV_RUN_ONCE))
        ;
    uv_close((uv_handle_t *)&cli.srv, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(sock);
    rmdir(path);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.n, 5);
    assert_int_equal(cli.n_cmds, 5);
    assert_string_equal(cli.cmds[0], "show sess\n");
    for (int i = 0, c = 1; i < 5; i++) {
        char want[96];

        assert_string_equal(r.names[i], names[i]);
        if (i == 2)
            continue; /* a stream points to it */
        snprintf(want, sizeof(want), "del server %s\n", names[i]);
        assert_string_equal(cli.cmds[c++], want);
    }
    assert_int_equal(r.res[0], RT_DEL_DELETED);
    assert_int_equal(r.res[1], RT_DEL_BUSY);
    assert_int_equal(r.res[2], RT_DEL_BUSY);
    assert_int_equal(r.res[3], RT_DEL_GONE);
    assert_int_equal(r.res[4], RT_DEL_REFUSED);
}

/* No admin socket: nothing is deleted and every server is tried again later. */
static void test_server_deletion_retries_without_socket(void **state)
{
    char *names[] = {"be_a/10.0.0.1:80", "be_a/10.0.0.2:80"};
    struct del_result r = {0};
    uv_loop_t loop;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    rt_del_servers(&loop, "/nonexistent/portico/admin.sock", names, 2, on_del_done, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.res[0], RT_DEL_FAILED);
    assert_int_equal(r.res[1], RT_DEL_FAILED);
}

static void test_server_addition_replies(void **state)
{
    static const struct {
        const char *reply;
        bool ok;
    } cases[] = {
        {"New server registered.\n\n", true},
        /* kept in maintenance since its removal: enabled again */
        {"Already exists a server with the same name in backend.\n\n\n", true},
        {"No such backend.\n\nNo such backend.\n", false},
    };
    const struct rt_update u = {RT_SERVER_ADD, "be_shop_web_80/10.0.0.1:8080",
                                "10.0.0.1:8080 pool-purge-delay 5s pool-max-conn -1", NULL,
                                false};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake_cli cli;
        struct result r = apply_scripted(&u, 1, &cases[i].reply, 1, &cli);

        assert_int_equal(cli.n_cmds, 1);
        /* each word of the server's line is an argument of its own */
        assert_string_equal(cli.cmds[0], "add server be_shop_web_80/10.0.0.1:8080 10.0.0.1:8080 "
                                         "pool-purge-delay 5s pool-max-conn -1;"
                                         "enable server be_shop_web_80/10.0.0.1:8080\n");
        if (r.ok != cases[i].ok)
            fail_msg("reply \"%s\": ok %d, want %d", cases[i].reply, r.ok, cases[i].ok);
    }
}

/* A server back before it could be deleted is only enabled again: no "add
 * server", whose "Already exists" HAProxy logs as an alert. */
static void test_server_enabled_again(void **state)
{
    static const struct {
        const char *reply;
        bool ok;
    } cases[] = {
        {"\n", true},
        {"No such server.\n", false},
    };
    const struct rt_update u = {RT_SERVER_ADD, "be_shop_web_80/10.0.0.1:8080",
                                "10.0.0.1:8080 check inter 2s", NULL, true};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake_cli cli;
        struct result r = apply_scripted(&u, 1, &cases[i].reply, 1, &cli);

        assert_int_equal(cli.n_cmds, 1);
        assert_string_equal(cli.cmds[0], "enable server be_shop_web_80/10.0.0.1:8080;"
                                         "enable health be_shop_web_80/10.0.0.1:8080\n");
        if (r.ok != cases[i].ok)
            fail_msg("reply \"%s\": ok %d, want %d", cases[i].reply, r.ok, cases[i].ok);
    }
}

/* A map replaced: a new version opened, filled with "add map @ver" lines
 * that fit HAProxy's CLI buffer, every entry escaped, then committed: the
 * one moment requests switch from the old entries to the new ones. */
static void test_map_replaced_as_one_version(void **state)
{
    static const char *const replies[] = {"New version created: 7\n", "\n", "\n", "\n"};
    struct rt_update u = {RT_MAP, "maps/prefix.map", NULL, NULL, false};
    struct fake_cli cli;
    struct result r;
    struct buf content;
    size_t adds = 0;

    (void)state;
    buf_init(&content, 1 << 20);
    /* about 19 kB of entries: two "add map" lines */
    for (int i = 0; i < 400; i++)
        buf_addf(&content, "h%03d.test/p%s default_web_http\n", i, i == 7 ? ";x" : "");
    u.content = content.ptr;
    r = apply_scripted(&u, 1, replies, 4, &cli);
    assert_true(r.ok);
    assert_int_equal(r.applied, 1);
    assert_int_equal(cli.n_cmds, 4);
    assert_string_equal(cli.cmds[0], "prepare map maps/prefix.map\n");
    for (size_t i = 1; i < 3; i++) {
        size_t len = strlen(cli.cmds[i]);

        assert_true(len <= 12000 + 100);
        assert_true(!strncmp(cli.cmds[i], "add map @7 maps/prefix.map h", 28));
        assert_int_equal(cli.cmds[i][len - 1], '\n');
        for (const char *p = cli.cmds[i]; (p = strstr(p, "add map @7 maps/prefix.map ")); p++)
            adds++;
    }
    assert_int_equal(adds, 400);
    assert_non_null(strstr(cli.cmds[1], ";add map @7 maps/prefix.map h007.test/p\\;x "
                                        "default_web_http;"));
    assert_string_equal(cli.cmds[3], "commit map @7 maps/prefix.map\n");
    buf_free(&content);

    /* a refused "add map": no commit, the running version stays; reload */
    {
        static const char *const refused[] = {"New version created: 8\n",
                                              "Unknown map identifier.\n"};
        struct rt_update v = {RT_MAP, "maps/prefix.map", "a/ b\n", NULL, false};

        r = apply_scripted(&v, 1, refused, 2, &cli);
        assert_false(r.ok);
        assert_int_equal(cli.n_cmds, 2);
        assert_non_null(strstr(r.msg, "add map maps/prefix.map"));
    }
}

/* <reply> given to a check of <want> a line at a time, as mcli_send_lines()
 * gives it. */
static int check_listing(const struct model_entry *want, size_t n, const char *reply)
{
    struct rt_map_check k;

    rt_map_check_init(&k, want, n);
    for (const char *l = reply, *end; *l; l = *end ? end + 1 : end) {
        end = l + strcspn(l, "\n");
        rt_map_check_line(&k, l, (size_t)(end - l));
    }
    return rt_map_check_end(&k);
}

/* A map's entries against HAProxy's "show map" (the replies' shape is
 * 2.6's): every entry missing, extra, changed or listed twice counts; an
 * entry its file leaves out (a space in it) must not be listed. */
static void test_map_compare(void **state)
{
    static const struct model_entry two[] = {{"a.test/x/", "be1"}, {"b.test/", "be2"}};
    static const struct model_entry odd[] = {{"a b", "be1"}, {"b.test/", "be2"}};
    static const struct {
        const struct model_entry *want;
        size_t n;
        const char *reply;
        int diff;
    } cases[] = {
        {two, 2, "0x5579ae1f72d0 a.test/x/ be1\n0x5579ae1f7320 b.test/ be2\n\n", 0},
        /* HAProxy lists in its own order */
        {two, 2, "0x5579ae1f7320 b.test/ be2\n0x5579ae1f72d0 a.test/x/ be1\n\n", 0},
        {two, 2, "0x5579ae1f72d0 a.test/x/ be1\n\n", 1},
        {two, 2, "0x5579ae1f72d0 a.test/x/ be1\n0x5579ae1f7320 b.test/ be3\n\n", 1},
        {two, 2, "0x1 a.test/x/ be1\n0x2 b.test/ be2\n0x3 c.test/ be2\n\n", 1},
        {two, 2, "0x1 a.test/x/ be1\n0x2 b.test/ be2\n0x3 b.test/ be2\n\n", 1},
        {two, 2, "0x1 a.test/x/ be1x\n0x2 b.test/ be\n\n", 2},
        /* keys that the entries' keys begin with, or that begin with them */
        {two, 2, "0x1 a.test/x be1\n0x2 b.test/x be2\n\n", 4},
        {two, 2, "\n", 2},
        {two, 0, "\n", 0},
        {two, 0, "0x1 a.test/ be1\n\n", 1},
        {odd, 2, "0x2 b.test/ be2\n\n", 0},
        {odd, 2, "0x1 a b be1\n0x2 b.test/ be2\n\n", 1},
        {two, 2, "Unknown map identifier. Please use #<id> or <file>.\n\n", -EINVAL},
    };
    struct rt_map_check k;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int diff = check_listing(cases[i].want, cases[i].n, cases[i].reply);

        if (diff != cases[i].diff)
            fail_msg("case %zu: %d differences, want %d", i, diff, cases[i].diff);
    }
    /* a NUL in a listed key is no end of it: "b.test/" then a byte more */
    rt_map_check_init(&k, two, 2);
    rt_map_check_line(&k, "0x1 a.test/x/ be1", 17);
    rt_map_check_line(&k, "0x2 b.test/\0x be2", 17);
    assert_int_equal(rt_map_check_end(&k), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_removal_replies),
        cmocka_unit_test(test_certificate_lock_retried),
        cmocka_unit_test(test_sess_servers),
        cmocka_unit_test(test_server_addition_replies),
        cmocka_unit_test(test_server_enabled_again),
        cmocka_unit_test(test_server_deletion_retries),
        cmocka_unit_test(test_server_deletion_retries_without_socket),
        cmocka_unit_test(test_one_entry_is_one_command),
        cmocka_unit_test(test_several_entries_replace_the_map),
        cmocka_unit_test(test_map_replaced_as_one_version),
        cmocka_unit_test(test_map_compare),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
