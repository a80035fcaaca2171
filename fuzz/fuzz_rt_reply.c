/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_rt_reply: what Portico reads from HAProxy's sockets and output:
 * "show proc" on the master CLI (mcli_parse_proc()), the Runtime API's
 * answers to "del server" (rt_del_reply()), to "show sess"
 * (rt_sess_servers()), to other commands (reply_ok()),
 * to "show ssl crt-list -n" (parse_crt_list()) and to "show map"
 * (rt_map_check_line()), and HAProxy's own lines (hap_line_kind()). The
 * input is two parts separated by a NUL byte: a reply, and the "key value"
 * lines of a map that the reply is checked against. A map checked against
 * the listing HAProxy would give of it differs in nothing. */
#include "haproxy/runtime.c"

#include "fuzz.h"
#include "haproxy/mcli.h"
#include "haproxy/proc.h"
#include "util/banned.h"

#define LINES_MAX 64

/* A map's entries: the "key value" lines of <content> (cut in place), each
 * key once, sorted as a model's map. Returns how many, or SIZE_MAX when a
 * key is there twice or there are too many lines. */
static size_t entries(char *content, struct model_entry *out)
{
    size_t n = 0;

    for (char *l = content, *end; *l; l = end + 1) {
        char *sp;
        bool last;

        end = l + strcspn(l, "\n");
        last = !*end;
        *end = '\0';
        sp = strchr(l, ' ');
        if (sp) {
            if (n == LINES_MAX)
                return SIZE_MAX;
            *sp = '\0';
            for (size_t i = 0; i < n; i++) {
                if (!strcmp(out[i].key, l))
                    return SIZE_MAX;
            }
            out[n++] = (struct model_entry){l, sp + 1};
        }
        if (last)
            break;
    }
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j && strcmp(out[j - 1].key, out[j].key) > 0; j--) {
            struct model_entry t = out[j];

            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    }
    return n;
}

/* How many entries of <want> <reply> differs in, given a line at a time. */
static int check(const struct model_entry *want, size_t n, const char *reply)
{
    struct rt_map_check k;

    rt_map_check_init(&k, want, n);
    for (const char *l = reply, *end; *l; l = *end ? end + 1 : end) {
        end = l + strcspn(l, "\n");
        rt_map_check_line(&k, l, (size_t)(end - l));
    }
    return rt_map_check_end(&k);
}

/* The "show map" listing of <want>: the entries its file has. Caller frees. */
static char *listing(const struct model_entry *want, size_t n)
{
    struct buf b;

    buf_init(&b, 1u << 20);
    for (size_t i = 0; i < n; i++) {
        if (map_word_ok(want[i].key) && map_word_ok(want[i].value))
            buf_addf(&b, "0x%zx %s %s\n", i + 1, want[i].key, want[i].value);
    }
    buf_addc(&b, '\n');
    return buf_take(&b);
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
    char *reply = fuzz_part(&in), *content = fuzz_part(&in), *list;
    struct model_entry want[LINES_MAX];
    size_t n;
    struct mcli_proc proc;
    struct rt_job job;
    struct hmap sess;
    const char *k;
    void *v;

    if (!reply)
        reply = xstrdup("");
    if (!content)
        content = xstrdup("");
    if (mcli_parse_proc(reply, &proc) == 0 && proc.n_old < 0)
        abort();
    if ((unsigned)rt_del_reply(reply) >= RT_DEL_COUNT)
        abort();
    reply_ok(reply);
    hmap_init(&sess);
    rt_sess_servers(reply, &sess);
    /* each key is "backend/server" */
    for (size_t i = 0; hmap_next(&sess, &i, &k, &v);)
        if (!strchr(k, '/'))
            abort();
    hmap_deinit(&sess);
    memset(&job, 0, sizeof(job));
    hmap_init(&job.old_lines);
    parse_crt_list(&job, reply);
    for (size_t i = 0; hmap_next(&job.old_lines, &i, &k, &v);)
        free(v);
    hmap_deinit(&job.old_lines);
    for (const char *l = reply, *end; *l; l = *end ? end + 1 : end) {
        end = l + strcspn(l, "\n");
        hap_line_kind(l, (size_t)(end - l));
    }
    n = entries(content, want);
    if (n != SIZE_MAX) {
        check(want, n, reply);
        list = listing(want, n);
        if (check(want, n, list) != 0)
            abort();
        free(list);
    }
    free(reply);
    free(content);
    return 0;
}
