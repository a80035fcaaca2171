/* SPDX-License-Identifier: Apache-2.0 */
/* Map differences sent over the Runtime API: src/haproxy/runtime.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "haproxy/runtime.h"
#include "model/model.h"
#include "store/store.h"
#include "util/buf.h"
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
    if (!rt_map_diff(a, b, m, "maps/prefix.map", &out)) {
        buf_free(&out);
        return NULL;
    }
    return buf_take(&out);
}

static void test_add_set_del(void **state)
{
    struct store s;
    struct model *a, *b;
    char *cmds;

    (void)state;
    store_init(&s);
    put_class(&s, "portico", CONTROLLER, false);
    put_service(&s, "default", "one", "http", 80, 8080, "10.0.0.1");
    put_service(&s, "default", "two", "http", 80, 8080, "10.0.0.2");
    put_ingress(&s, "default", "i", T_OLD, "portico", "",
                "'rules':[" RULE("h.test", PATH("/gone", "ImplementationSpecific",
                                                BE_NAME("one", "http")) ","
                                           PATH("/moved", "ImplementationSpecific",
                                                BE_NAME("one", "http")) ","
                                           PATH("/same", "ImplementationSpecific",
                                                BE_NAME("one", "http"))) "]");
    a = build(&s);
    put_ingress(&s, "default", "i", T_OLD, "portico", "",
                "'rules':[" RULE("h.test", PATH("/moved", "ImplementationSpecific",
                                                BE_NAME("two", "http")) ","
                                           PATH("/same", "ImplementationSpecific",
                                                BE_NAME("one", "http")) ","
                                           PATH("/new;x\\\\y", "ImplementationSpecific",
                                                BE_NAME("two", "http"))) "]");
    b = build(&s);
    cmds = diff(a, b, MODEL_MAP_PREFIX);
    assert_non_null(cmds);
    assert_string_equal(cmds, "del map maps/prefix.map h.test/gone\n"
                              "set map maps/prefix.map h.test/moved default_two_http\n"
                              "add map maps/prefix.map h.test/new\\;x\\\\y default_two_http\n");
    free(cmds);
    /* the same model: nothing to send */
    cmds = diff(b, b, MODEL_MAP_PREFIX);
    assert_string_equal(cmds, "");
    free(cmds);
    model_unref(a);
    model_unref(b);
    store_deinit(&s);
}

static void test_too_many_changes_replace_the_map(void **state)
{
    struct store s;
    struct model *a, *b;

    (void)state;
    store_init(&s);
    put_class(&s, "portico", CONTROLLER, false);
    put_service(&s, "default", "one", "http", 80, 8080, "10.0.0.1");
    a = build(&s);
    for (int i = 0; i < 2100; i++) {
        char name[32], *spec;

        snprintf(name, sizeof(name), "i%d", i);
        spec = xasprintf("'rules':[{'host':'h%d.test','http':{'paths':[" PATH(
                             "/", "Prefix", BE_NAME("one", "http")) "]}}]",
                         i);
        put_ingress(&s, "default", name, T_OLD, "portico", "", spec);
        free(spec);
    }
    b = build(&s);
    /* 2100 new keys: one prepare/add/commit of the whole map is cheaper */
    assert_null(diff(a, b, MODEL_MAP_PREFIX));
    model_unref(a);
    model_unref(b);
    store_deinit(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_set_del),
        cmocka_unit_test(test_too_many_changes_replace_the_map),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
