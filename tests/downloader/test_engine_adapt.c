/* test_engine_adapt.c - how many connections the engine opens to a host
 * (src/downloader/adapt.c through engine.c), against fakehub: more when each
 * connection is capped, not more when the link is shared, fewer when the
 * server refuses extra connections (503/429), one when it ignores Range.
 * Behaviour, not speed: the assertions count connections and requests on the
 * server's side (fakehub's peak of bodies in flight, its request log). */
#include "hubtest.c"
#include "dltest.h"
#include "downloader/adapt.h"

#include <unistd.h>

#define SIZE (16u << 20)   /* 16 MiB LFS file */
#define BIG  (40u << 20)   /* enough ranges of >= 512 KiB left for 32 connections */

static char *g_root;
static iwt_hub g_hub;

static void setup(void)
{
    g_root = iwt_tmpdir("adaptroot");
    dl_put(g_root, "t/a", "w.safetensors", SIZE, 11);
    dl_put(g_root, "t/a", "small.safetensors", 6u << 20, 12);
    dl_put(g_root, "t/a", "big.safetensors", BIG, 13);
    cr_assert_eq(iwt_hub_start(&g_hub, g_root, NULL), 0, "fakehub did not start");
}

static void teardown(void)
{
    iwt_hub_stop(&g_hub);
    iwt_rm_rf(g_root);
    free(g_root);
}

TestSuite(adaptive, .init = setup, .fini = teardown, .timeout = 120);

/* Connections the engine reported in progress events (sum over files). */
typedef struct conns {
    int max; double sum_late; int n_late; double t_late;
    int back;               /* > 0: report "back to at most `back`" ... */
    double back_done;       /* ... the share of the data that had arrived the first
                               time after the peak (-1: never) */
} conns;
static void on_progress(const iw_dl_event *ev, void *ud)
{
    conns *c = ud;
    if (ev->kind != IW_DL_EV_PROGRESS)
        return;
    int n = 0;
    for (size_t i = 0; i < ev->n_active; i++)
        n += ev->active[i].connections;
    if (n > c->max) {
        c->max = n;
        c->back_done = -1;
    } else if (c->back > 0 && n <= c->back && c->max > c->back && c->back_done < 0) {
        c->back_done = ev->total_size ? (double)ev->total_done / (double)ev->total_size : 0;
    }
    if (ev->elapsed >= c->t_late && n > 0) {
        c->sum_late += n;
        c->n_late++;
    }
}

/* Download one file of t/a with the given faults; returns the rc. */
static int fetch(const char *path, const char *const *faults, const char *tag, conns *c, double *secs)
{
    char *dest = iwt_tmpdir(tag);
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iwt_hub_reset(&g_hub);
    for (const char *const *f = faults; f && *f; f++)
        cr_assert_gt(iwt_hub_fault(&g_hub, *f), 0, "fault %s refused", *f);
    iw_dl_options o;
    dl_opts(&o, dest);
    const char *inc[] = { path };
    o.include = inc;
    o.n_include = 1;
    o.split_min = 1u << 20;
    o.on_event = on_progress;
    o.ud = c;
    iw_dl_result r;
    uint64_t t0 = iw_now_ms_test();
    int rc = iw_download_repo(hub, "t/a", &o, &r);
    if (secs)
        *secs = (double)(iw_now_ms_test() - t0) / 1000.0;
    if (rc == 0) {
        char p[4096], h[65], want[65];
        snprintf(p, sizeof p, "%s/%s", dest, path);
        dl_file_hash(p, true, h);
        bool w = !strcmp(path, "w.safetensors"), big = !strcmp(path, "big.safetensors");
        size_t n = w ? SIZE : big ? BIG : 6u << 20;
        char *b = dl_bytes(n, w ? 11 : big ? 13 : 12);
        iw_sha256_hex(b, n, want);
        free(b);
        cr_expect_str_eq(h, want, "%s content differs", path);
    }
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
    return rc;
}

Test(adaptive, connections_grow_when_each_connection_is_capped)
{
    /* every answer is limited to 1 MB/s: each added connection brings
     * 1 MB/s more, so the engine goes past its starting connections and
     * past the first doubling */
    const char *faults[] = { "{\"path\":\"big.safetensors\",\"host\":\"cdn\",\"rate_bps\":1000000,\"times\":-1}", NULL };
    conns c = { .t_late = 1e9 };
    cr_assert_eq(fetch("big.safetensors", faults, "grow", &c, NULL), 0, "%s", iw_error_last());
    long peak = iwt_hub_stat(&g_hub, "peak_active", "cdn");
    cr_expect_geq(peak, 2 * IW_ADAPT_START + 4, "at most %ld CDN bodies at once (engine reported %d connections)", peak, c.max);
    cr_expect_geq(c.max, 2 * IW_ADAPT_START + 4, "the engine reported at most %d connections", c.max);
    /* the cap, on the engine's count: fakehub's includes transfers the
     * engine ended (clipped by a re-split, or released) until its next
     * paced send notices the hang-up */
    cr_expect_leq(c.max, IW_DL_DEFAULT_CONNECTIONS, "%d connections, above the cap", c.max);
}

Test(adaptive, connections_do_not_grow_on_a_shared_link)
{
    /* all answers share 3 MB/s: a doubling brings nothing, so it is taken
     * back, while most of the file is still to come, and never repeated
     * (counted by the engine: fakehub notices a connection the engine let
     * go only at its next send, so its own peak can include those) */
    const char *faults[] = { "{\"path\":\"w.safetensors\",\"host\":\"cdn\",\"shared_rate_bps\":3000000,\"times\":-1}", NULL };
    conns c = { .t_late = 1e9, .back = IW_ADAPT_START, .back_done = -1 };
    cr_assert_eq(fetch("w.safetensors", faults, "link", &c, NULL), 0, "%s", iw_error_last());
    cr_expect_leq(c.max, 2 * IW_ADAPT_START, "%d connections on a shared 3 MB/s", c.max);
    cr_expect(c.back_done >= 0 && c.back_done <= 0.8, "back to %d connections after the peak of %d at %.0f%% of the file",
              IW_ADAPT_START, c.max, 100 * c.back_done);
}

/* Logged CDN answers: with the given status (0: any), and only those to a
 * Range request when `ranged`. */
static int cdn_count(long status, bool ranged)
{
    cJSON *log = iwt_hub_log_json(&g_hub);
    cr_assert_not_null(log);
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, log) {
        const char *host = cJSON_GetStringValue(cJSON_GetObjectItem(it, "host"));
        if (!host || strcmp(host, "cdn"))
            continue;
        if (status && cJSON_GetNumberValue(cJSON_GetObjectItem(it, "status")) != (double)status)
            continue;
        if (ranged && !cJSON_IsString(cJSON_GetObjectItem(it, "range")))
            continue;
        n++;
    }
    cJSON_Delete(log);
    return n;
}

Test(adaptive, added_connections_take_ranges_without_cutting_fresh_ones)
{
    /* 1 MB/s per answer: the engine grows from 8 connections.  Each added
     * connection splits the running range that would finish last; a range
     * handed out a moment ago has no rate yet and counts as running at the
     * average, so it is not cut again at once (which would end its
     * connection before it delivered anything, over and over) */
    const char *faults[] = { "{\"path\":\"big.safetensors\",\"host\":\"cdn\",\"rate_bps\":1000000,\"times\":-1}", NULL };
    conns c = { .t_late = 1e9 };
    cr_assert_eq(fetch("big.safetensors", faults, "nocut", &c, NULL), 0, "%s", iw_error_last());
    usleep(300000);   /* let fakehub log the answers the engine cut */
    int n = cdn_count(0, true);
    /* each connection asks for its range once, and ranges near the end may
     * be halved once more each (the rule cutting fresh ranges made 86 for
     * 32 connections here) */
    cr_expect_geq(c.max, 2 * IW_ADAPT_START, "the engine did not grow (%d connections)", c.max);
    cr_expect_leq(n, 2 * c.max, "%d ranged requests for %d connections: ranges just handed out were cut again", n, c.max);
}


static void refused_beyond_two(long status)
{
    /* 1 MB/s per answer, and at most 2 bodies at once: the rest get
     * `status`.  The engine shrinks to what flows and backs off, so it
     * completes without error: the starting connections beyond 2 are
     * refused once, then a third one is tried only after 1, 2, 4... s */
    char cap[256];
    snprintf(cap, sizeof cap, "{\"path\":\"small.safetensors\",\"host\":\"cdn\",\"max_active\":2,\"status\":%ld,\"times\":-1}", status);
    const char *faults[] = { cap, "{\"path\":\"small.safetensors\",\"host\":\"cdn\",\"rate_bps\":1000000,\"times\":-1}", NULL };
    conns c = { .t_late = 1.0 };
    double secs = 0;
    int rc = fetch("small.safetensors", faults, "cap2", &c, &secs);
    cr_assert_eq(rc, 0, "HTTP %ld beyond 2 connections: %s", status, iw_error_last());
    int refused = cdn_count(status, false);
    cr_expect_geq(refused, 1, "the cap was never reached (no %ld)", status);
    cr_expect_leq(refused, IW_ADAPT_START + 2, "%d answers %ld in %.1f s: the engine kept asking for more", refused, status, secs);
    cr_expect_leq(iwt_hub_stat(&g_hub, "peak_active", "cdn"), 2);
    cr_expect(c.n_late > 0 && c.sum_late / c.n_late <= 2.5, "%.1f connections on average after 1 s",
              c.n_late ? c.sum_late / c.n_late : -1.0);
}

Test(adaptive, a_server_allowing_two_connections_gets_two_503)
{
    refused_beyond_two(503);
}

Test(adaptive, a_server_allowing_two_connections_gets_two_429)
{
    refused_beyond_two(429);
}

Test(adaptive, a_server_refusing_range_completes_with_one_connection)
{
    /* every ranged answer is 200 with the whole file: the first one shows
     * it and, asked from byte 0 with nothing received yet, is kept as the
     * file's one plain GET; no other range was asked for meanwhile (the
     * first answer is awaited before fanning out) and nothing twice */
    const char *faults[] = { "{\"path\":\"small.safetensors\",\"host\":\"cdn\",\"ignore_range\":true,\"times\":-1}", NULL };
    conns c = { .t_late = 1e9 };
    cr_assert_eq(fetch("small.safetensors", faults, "norange", &c, NULL), 0, "%s", iw_error_last());
    usleep(300000);   /* let fakehub log the aborted first answer */
    int ranged = cdn_count(0, true), plain = cdn_count(0, false) - ranged;
    cr_expect_eq(ranged, 1, "%d ranged CDN requests to a server that ignores Range", ranged);
    cr_expect_eq(plain, 0, "%d plain CDN requests: the first answer, the whole file, was asked for again", plain);
    cr_expect_leq(c.max, 1, "%d connections reported for a file without ranges", c.max);
}
