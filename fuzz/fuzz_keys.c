/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_keys: the configuration keys (model/keys.c) and the escaping of
 * object text for HAProxy (haproxy/escape.c). The input is records
 * "key\0value\0": a key is an annotation ("portico.dev/timeout-connect",
 * "nginx.ingress.kubernetes.io/rewrite-target") or a bare key name. The
 * records are applied as an Ingress's and a Service's annotations and as
 * the ConfigMap's data, and each value goes through its key's parser (a
 * name not in the table picks a key by its hash), the value checks and
 * every escaping function. An escaped word must read back, with HAProxy's
 * rules, as exactly the value: one word, no newline, CR or NUL. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "haproxy/escape.h"
#include "model/keys.h"
#include "store/objects.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/banned.h"

#define RECORDS_MAX 64

static void on_issue(void *arg, const char *field, const char *msg)
{
    (void)field;
    (void)msg;
    (*(unsigned *)arg)++;
}

/* Reads one line of haproxy.cfg as HAProxy 2.6 splits it into words
 * (configuration.txt 2.2): blanks separate words; '#' outside quotes starts
 * a comment; a backslash escapes the next byte outside single quotes;
 * nothing is interpreted between single quotes; double quotes expand
 * environment variables, which an escaped word must not use. Quoted and
 * plain pieces next to each other make one word. Returns the number of
 * words, the first one in <w0> (at least <len> + 1 bytes), or -1 for what
 * an escaped word must never contain (double quotes, a backslash, an
 * unterminated quote, a control byte). */
static int cfg_words(const char *line, size_t len, char *w0)
{
    size_t o = 0;
    int words = 0;
    bool in_word = false, squote = false;

    for (size_t i = 0; i < len; i++) {
        char c = line[i];

        if ((unsigned char)c < 0x20 || c == 0x7f)
            return -1;
        if (squote) {
            if (c == '\'')
                squote = false;
            else if (words == 1)
                w0[o++] = c;
            continue;
        }
        if (c == ' ' || c == '\t') {
            in_word = false;
            continue;
        }
        if (c == '#' && !in_word)
            break;
        if (c == '"' || c == '\\')
            return -1;
        if (!in_word) {
            in_word = true;
            words++;
        }
        if (c == '\'')
            squote = true;
        else if (words == 1)
            w0[o++] = c;
    }
    if (squote)
        return -1;
    w0[o] = '\0';
    return words;
}

/* A log-format string's text: "%%" is '%'; a lone '%' starts an expression
 * (-1). */
static int logfmt_text(char *s)
{
    char *o = s;

    for (const char *p = s; *p; p++) {
        if (*p == '%' && *++p != '%')
            return -1;
        *o++ = *p;
    }
    *o = '\0';
    return 0;
}

/* One Runtime API argument: a backslash escapes the next byte, ';' ends the
 * command and a blank the argument. Returns the number of arguments (the
 * first in <w0>), or -1 when the command is cut by ';' or a control byte. */
static int cli_words(const char *s, char *w0)
{
    size_t o = 0;
    int words = 0;
    bool in_word = false;

    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ';')
            return -1;
        if (*p == ' ' || *p == '\t') {
            in_word = false;
            continue;
        }
        if (!in_word) {
            in_word = true;
            words++;
        }
        if (*p == '\\' && p[1])
            p++;
        if (words == 1)
            w0[o++] = *p;
    }
    w0[o] = '\0';
    return words;
}

static void check_escapes(const char *val)
{
    size_t len = strlen(val);
    char *w = xmalloc(2 * len + 3);
    struct buf b;

    buf_init(&b, 2 * len + 64);
    if (cfg_word_strong(&b, val) == 0) {
        if (cfg_words(b.ptr, b.len, w) != 1 || strcmp(w, val))
            abort();
    }
    buf_free(&b);
    if (cfg_word_logfmt(&b, val) == 0) {
        if (cfg_words(b.ptr, b.len, w) != 1 || logfmt_text(w) || strcmp(w, val))
            abort();
    }
    buf_free(&b);
    if (cfg_name(&b, val) == 0) {
        if (cfg_words(b.ptr, b.len, w) != 1 || strcmp(w, val))
            abort();
    }
    buf_free(&b);
    /* a map or crt-list line: "key value", the key up to the first blank, no
     * escapes; a line starting with '#' is a comment */
    if (map_key(&b, val) == 0) {
        if (b.ptr[0] == '#' || b.len != len || strcspn(b.ptr, " \t\r\n") != len ||
            memcmp(b.ptr, val, len))
            abort();
        for (size_t i = 0; i < len; i++) {
            if ((unsigned char)b.ptr[i] < 0x20 || b.ptr[i] == 0x7f)
                abort();
        }
    }
    buf_free(&b);
    if (rt_api_arg(&b, val) == 0) {
        if (cli_words(b.ptr, w) != 1 || strcmp(w, val))
            abort();
    }
    buf_free(&b);
    free(w);
}

static const struct key_def *find_key(const char *key)
{
    const char *slash = strrchr(key, '/'), *name = slash ? slash + 1 : key;
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < key_table_len; i++) {
        if (!strcmp(key_table[i].name, name) ||
            (key_table[i].alias && !strcmp(key_table[i].alias, name)))
            return &key_table[i];
    }
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return &key_table[h % key_table_len];
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_log_all();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct k8s_kv kv[RECORDS_MAX];
    struct key_values vals, one;
    struct arena a;
    size_t n = 0;
    unsigned issues = 0;

    while (n < RECORDS_MAX && (kv[n].key = fuzz_part(&in))) {
        kv[n].val = fuzz_part(&in);
        if (!kv[n].val)
            kv[n].val = xstrdup("");
        n++;
    }
    arena_init(&a);
    keys_defaults(&vals);
    keys_apply_configmap(&a, &vals, kv, n, on_issue, &issues);
    keys_apply_annotations(&a, &vals, kv, n, on_issue, &issues);
    keys_apply_nginx(&a, &vals, kv, n, on_issue, &issues);
    keys_apply_service(&a, &vals, kv, n, on_issue, &issues);
    keys_auth_secret(kv, n);
    for (size_t i = 0; i < n; i++) {
        const struct key_def *d = find_key(kv[i].key);
        char *err = NULL;

        keys_defaults(&one);
        if (d->parse(&a, kv[i].val, (char *)&one + d->offset, &err) == 0) {
            if (err)
                abort(); /* success says nothing */
        } else if (!err) {
            abort(); /* a refusal says why */
        }
        free(err);
        err = NULL;
        keys_value_ok(d->name, kv[i].val);
        keys_nginx_value_ok(kv[i].key, kv[i].val);
        keys_nginx_rewrite(&a, &one, kv[i].val, &err);
        free(err);
        check_escapes(kv[i].val);
        check_escapes(kv[i].key);
    }
    arena_deinit(&a);
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].val);
    }
    return 0;
}
