/* SPDX-License-Identifier: Apache-2.0 */
/* YAML documents -> jansson values, with the YAML 1.2 core schema for plain
 * scalars (what kubectl does). */
#include "source/yaml.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/err.h"
#include "util/hmap.h"
#include "util/banned.h"

/* Nodes one document may expand to, aliases included. */
#define YAML_MAX_NODES 1000000
#define YAML_MAX_DEPTH 128

struct yctx {
    yaml_parser_t parser;
    struct hmap anchors; /* anchor -> json_t (one reference held) */
    size_t nodes;        /* expanded node count of the document */
    size_t doc;
    char **err;
};

static void anchors_clear(struct hmap *m)
{
    void *v;

    for (size_t i = 0; hmap_next(m, &i, NULL, &v);)
        json_decref(v);
    hmap_deinit(m);
    hmap_init(m);
}

/* Plain scalars follow the YAML 1.2 core schema; quoted ones are strings. */
static json_t *scalar(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *digits;
    char *end;

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag)
        return json_stringn(s, len);
    if (len == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
        !strcmp(s, "NULL"))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    digits = s + (s[0] == '+' || s[0] == '-');
    if (*digits && strspn(digits, "0123456789") == strlen(digits)) {
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (!errno && *end == '\0')
            return json_integer(v);
    }
    if (strspn(s, "+-0123456789.eE") == len && strpbrk(s, "0123456789")) {
        double d = strtod(s, &end);

        if (*end == '\0')
            return json_real(d);
    }
    return json_stringn(s, len);
}

static int next_event(struct yctx *y, yaml_event_t *ev)
{
    if (yaml_parser_parse(&y->parser, ev))
        return 0;
    errmsg_set(y->err, "document %zu: line %zu: %s", y->doc,
               y->parser.problem_mark.line + 1,
               y->parser.problem ? y->parser.problem : "syntax error");
    return -EINVAL;
}

static int parse_node(struct yctx *y, yaml_event_t *ev, int depth, json_t **out);

static int remember(struct yctx *y, const yaml_char_t *anchor, json_t *v)
{
    json_t *prev;

    if (!anchor)
        return 0;
    prev = hmap_put(&y->anchors, (const char *)anchor, json_incref(v));
    json_decref(prev);
    return 0;
}

/* Number of nodes a value expands to, used to bound alias bombs. */
static size_t weight(json_t *v)
{
    size_t n = 1, i;
    const char *k;
    json_t *c;

    if (json_is_array(v)) {
        json_array_foreach(v, i, c) n += weight(c);
    } else if (json_is_object(v)) {
        json_object_foreach(v, k, c) n += weight(c);
    }
    return n;
}

static int parse_collection(struct yctx *y, yaml_event_t *start, int depth, json_t **out)
{
    bool map = start->type == YAML_MAPPING_START_EVENT;
    json_t *coll = map ? json_object() : json_array();
    yaml_char_t *anchor = map ? start->data.mapping_start.anchor
                              : start->data.sequence_start.anchor;
    int ret = 0;

    anchor = anchor ? (yaml_char_t *)strdup((const char *)anchor) : NULL;
    for (;;) {
        yaml_event_t ev;
        json_t *key = NULL, *val = NULL;

        if ((ret = next_event(y, &ev)))
            break;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (map) {
            size_t line = ev.start_mark.line + 1;

            ret = parse_node(y, &ev, depth + 1, &key);
            yaml_event_delete(&ev);
            if (ret)
                break;
            /* a key is a C string from here on: a NUL would cut it short */
            if (json_is_string(key) &&
                strlen(json_string_value(key)) != json_string_length(key)) {
                errmsg_set(y->err, "document %zu: line %zu: a mapping key holds a NUL byte",
                           y->doc, line);
                json_decref(key);
                ret = -EINVAL;
                break;
            }
            if (!json_is_string(key)) {
                /* Kubernetes keys are strings; stringify plain scalars like 80 */
                char *txt = json_dumps(key, JSON_ENCODE_ANY);

                json_decref(key);
                key = json_string(txt ? txt : "");
                free(txt);
            }
            if ((ret = next_event(y, &ev))) {
                json_decref(key);
                break;
            }
        }
        ret = parse_node(y, &ev, depth + 1, &val);
        yaml_event_delete(&ev);
        if (ret) {
            json_decref(key);
            break;
        }
        if (map) {
            json_object_set_new(coll, json_string_value(key), val);
            json_decref(key);
        } else {
            json_array_append_new(coll, val);
        }
    }
    if (ret) {
        json_decref(coll);
        free(anchor);
        return ret;
    }
    remember(y, anchor, coll);
    free(anchor);
    *out = coll;
    return 0;
}

static int parse_node(struct yctx *y, yaml_event_t *ev, int depth, json_t **out)
{
    json_t *v;

    if (depth > YAML_MAX_DEPTH) {
        errmsg_set(y->err, "document %zu: line %zu: nested deeper than %d levels", y->doc,
                   ev->start_mark.line + 1, YAML_MAX_DEPTH);
        return -EINVAL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        v = scalar(ev);
        if (!v) {
            errmsg_set(y->err, "document %zu: line %zu: invalid UTF-8 in scalar", y->doc,
                       ev->start_mark.line + 1);
            return -EINVAL;
        }
        y->nodes++;
        remember(y, ev->data.scalar.anchor, v);
        break;
    case YAML_ALIAS_EVENT:
        v = hmap_get(&y->anchors, (const char *)ev->data.alias.anchor);
        if (!v) {
            errmsg_set(y->err, "document %zu: line %zu: unknown alias *%s", y->doc,
                       ev->start_mark.line + 1, ev->data.alias.anchor);
            return -EINVAL;
        }
        y->nodes += weight(v);
        json_incref(v);
        break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        y->nodes++;
        if (parse_collection(y, ev, depth, &v))
            return -EINVAL;
        break;
    default:
        errmsg_set(y->err, "document %zu: line %zu: unexpected YAML event", y->doc,
                   ev->start_mark.line + 1);
        return -EINVAL;
    }
    if (y->nodes > YAML_MAX_NODES) {
        json_decref(v);
        errmsg_set(y->err, "document %zu: more than %d nodes after alias expansion", y->doc,
                   YAML_MAX_NODES);
        return -E2BIG;
    }
    *out = v;
    return 0;
}

int yaml_parse_docs(const char *data, size_t len, yaml_doc_fn *fn, void *arg, char **err)
{
    struct yctx y;
    int ret = 0;

    memset(&y, 0, sizeof(y));
    y.err = err;
    hmap_init(&y.anchors);
    if (!yaml_parser_initialize(&y.parser)) {
        errmsg_set(err, "cannot initialise the YAML parser");
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)data, len);
    for (;;) {
        yaml_event_t ev;

        if ((ret = next_event(&y, &ev)))
            break;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_t root;
            json_t *doc = NULL;

            yaml_event_delete(&ev);
            if ((ret = next_event(&y, &root)))
                break;
            if (root.type != YAML_DOCUMENT_END_EVENT) {
                ret = parse_node(&y, &root, 0, &doc);
                yaml_event_delete(&root);
                if (ret)
                    break;
                if ((ret = next_event(&y, &root))) {
                    json_decref(doc);
                    break;
                }
            }
            yaml_event_delete(&root);
            fn(y.doc, json_is_null(doc) ? NULL : doc, arg);
            json_decref(doc);
            anchors_clear(&y.anchors);
            y.nodes = 0;
            y.doc++;
            continue;
        }
        yaml_event_delete(&ev);
    }
    anchors_clear(&y.anchors);
    hmap_deinit(&y.anchors);
    yaml_parser_delete(&y.parser);
    return ret;
}
