/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_rt_reply: what Portico reads from HAProxy's sockets and output:
 * "show proc" on the master CLI (mcli_parse_proc()), the Runtime API's
 * answers to "del server" (rt_del_reply()), to "show sess"
 * (rt_sess_servers()), to other commands (reply_ok()),
 * to "show ssl crt-list -n" (parse_crt_list()) and to "show map"
 * (rt_map_compare()), and HAProxy's own lines (hap_line_kind()). The input
 * is two parts separated by a NUL byte: a reply, and a map file that the
 * reply is compared with. A map file compared with the listing HAProxy
 * would give of it differs in nothing. */
#include "haproxy/runtime.c"

#include "fuzz.h"
#include "haproxy/mcli.h"
#include "haproxy/proc.h"
#include "util/banned.h"

#define LINES_MAX 64

/* The "show map" listing of <content>, or NULL when a key is there twice
 * or the file has too many lines to check that. Caller frees. */
static char *listing(const char *content)
{
    const char *keys[LINES_MAX];
    size_t lens[LINES_MAX], n = 0;
    struct buf b;

    buf_init(&b, 1u << 20);
    for (const char *l = content, *end; *l; l = *end ? end + 1 : end) {
        const char *sp;

        end = l + strcspn(l, "\n");
        sp = memchr(l, ' ', (size_t)(end - l));
        if (!sp)
            continue;
        if (n == LINES_MAX)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            if (lens[i] == (size_t)(sp - l) && !memcmp(keys[i], l, lens[i]))
                goto fail;
        }
        keys[n] = l;
        lens[n++] = (size_t)(sp - l);
        buf_addf(&b, "0x%zx %.*s\n", n, (int)(end - l), l);
    }
    buf_addc(&b, '\n');
    return buf_take(&b);
fail:
    buf_free(&b);
    return NULL;
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
    rt_map_compare(content, reply);
    list = listing(content);
    if (list && rt_map_compare(content, list) != 0)
        abort();
    free(list);
    free(reply);
    free(content);
    return 0;
}
