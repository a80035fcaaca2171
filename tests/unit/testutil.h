/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the unit tests (header-only, static functions). */
#ifndef TESTS_UNIT_TESTUTIL_H
#define TESTS_UNIT_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/decode.h"
#include "store/objects.h"

/* Small deterministic PRNG (xorshift64*) so property loops are reproducible. */
struct trng {
    uint64_t s;
};

static inline uint64_t trng_next(struct trng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static inline unsigned trng_below(struct trng *r, unsigned n)
{
    return (unsigned)(trng_next(r) % n);
}

/* Parses <json> (which must be valid) with jansson; aborts the test otherwise. */
static inline json_t *tu_json(const char *json)
{
    json_error_t e;
    json_t *j = json_loads(json, JSON_ALLOW_NUL, &e);

    if (!j)
        fail_msg("bad test JSON (line %d: %s): %s", e.line, e.text, json);
    return j;
}

/* Decodes <json> into an object; the test fails unless the result is DECODE_OK. */
static inline struct k8s_obj *tu_decode(const char *json)
{
    json_t *j = tu_json(json);
    struct k8s_obj *o = NULL;
    char *err = NULL, *ref = NULL;
    enum decode_result r = decode_object(j, &o, &ref, &err);

    json_decref(j);
    if (r != DECODE_OK) {
        char msg[512];

        snprintf(msg, sizeof(msg), "decode failed (%d): %s [%s]", (int)r, err ? err : "?",
                 ref ? ref : "-");
        free(err);
        free(ref);
        fail_msg("%s", msg);
    }
    free(err);
    free(ref);
    return o;
}
#endif
