/* test_engine.c - transfer engine against fakehub faults: cut bodies resumed
 * with Range, 503/429 + Retry-After, corrupt bytes, rate limits with
 * multi-range splitting, chunks in file order, a 200 answer to a Range request, an ETag change
 * mid-transfer, EntryNotFound (.no_exist), skip without requests, HF cache
 * layout, offline mode. */
#include "hubtest.c"
#include "dltest.h"

#include <unistd.h>

#define BIG (3u << 20)  /* 3 MiB LFS file */

static char *g_root;
static iwt_hub g_hub;

static void setup(void)
{
    g_root = iwt_tmpdir("engroot");
    dl_put_text(g_root, "t/r", "config.json", "{\"model_type\":\"llama\"}");
    dl_put_text(g_root, "t/r", "sub/dir/notes.txt", "hello");
    dl_put(g_root, "t/r", "model.safetensors", BIG, 7);
    dl_put(g_root, "t/r", "small.bin", 2000, 8);
    cr_assert_eq(iwt_hub_start(&g_hub, g_root, NULL), 0, "fakehub did not start");
}

static void teardown(void)
{
    iwt_hub_stop(&g_hub);
    iwt_rm_rf(g_root);
    free(g_root);
}

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 60);

static void check_big(const char *dest)
{
    char p[4096], h[65], want[65];
    snprintf(p, sizeof p, "%s/model.safetensors", dest);
    dl_file_hash(p, true, h);
    char *b = dl_bytes(BIG, 7);
    iw_sha256_hex(b, BIG, want);
    free(b);
    cr_expect_str_eq(h, want, "model.safetensors content differs");
}

static int count_ranges_not_from_zero(iwt_hub *h)
{
    cJSON *log = iwt_hub_log_json(h);
    int n = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, log) {
        const char *r = cJSON_GetStringValue(cJSON_GetObjectItem(it, "range"));
        const char *host = cJSON_GetStringValue(cJSON_GetObjectItem(it, "host"));
        if (r && host && !strcmp(host, "cdn") && strncmp(r, "bytes=0-", 8))
            n++;
    }
    cJSON_Delete(log);
    return n;
}

Test(engine, cut_body_resumes_with_range)
{
    char *dest = iwt_tmpdir("cut");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"cut_after\":1000000,\"times\":2}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    check_big(dest);
    uint64_t cdn = dl_log_bytes(&g_hub, "cdn", NULL, NULL, NULL);
    /* nothing fetched twice: resumed, not restarted (small.bin is LFS too) */
    cr_expect_eq(cdn, (uint64_t)BIG + 2000, "CDN sent %llu bytes for a %u-byte file", (unsigned long long)cdn, BIG);
    cr_expect_geq(count_ranges_not_from_zero(&g_hub), 2, "no Range resume seen");
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, status_503_with_retry_after)
{
    char *dest = iwt_tmpdir("503");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"config.json\",\"status\":503,\"retry_after\":1,\"times\":2}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    uint64_t t0 = iw_now_ms_test();
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    uint64_t ms = iw_now_ms_test() - t0;
    cr_expect_geq(ms, 1900u, "Retry-After not honoured (%llu ms)", (unsigned long long)ms);
    int n = 0;
    dl_log_bytes(&g_hub, "hub", "config.json", &n, NULL);
    cr_expect_eq(n, 3, "config.json requested %d times (2 x 503 + 1)", n);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, persistent_5xx_fails_with_one_line)
{
    char *dest = iwt_tmpdir("500");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"small.bin\",\"status\":500,\"times\":-1}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    o.retry_base_ms = 10;
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), IW_ENET);
    cr_expect(strstr(iw_error_last(), "small.bin") && strstr(iw_error_last(), "500"), "%s", iw_error_last());
    char p[4096];
    snprintf(p, sizeof p, "%s/small.bin", dest);
    cr_expect(!iw_path_exists(p), "failed file placed");
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, corrupt_once_is_retried)
{
    char *dest = iwt_tmpdir("corr1");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"corrupt_offset\":12345,\"times\":1}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    check_big(dest);
    uint64_t cdn = dl_log_bytes(&g_hub, "cdn", NULL, NULL, NULL);
    cr_expect_eq(cdn, 2ull * BIG + 2000, "expected one full retry, CDN sent %llu", (unsigned long long)cdn);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, corrupt_always_fails_naming_both_hashes)
{
    char *dest = iwt_tmpdir("corr2");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"small.bin\",\"corrupt_offset\":10,\"times\":-1}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), IW_EVERIFY);
    char *b = dl_bytes(2000, 8), want[65];
    iw_sha256_hex(b, 2000, want);
    free(b);
    const char *msg = iw_error_last();
    cr_expect(strstr(msg, "small.bin") && strstr(msg, want) && strstr(msg, "got "), "%s", msg);
    char p[4096];
    snprintf(p, sizeof p, "%s/small.bin", dest);
    cr_expect(!iw_path_exists(p), "unverified file placed");
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

static double timed_download(const char *tag, int connections)
{
    char *dest = iwt_tmpdir(tag);
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iwt_hub_reset(&g_hub);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":1500000,\"times\":-1}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    const char *inc[] = { "model.safetensors" };
    o.include = inc; o.n_include = 1;
    o.connections = connections;
    o.split_min = 1u << 20;
    iw_dl_result r;
    uint64_t t0 = iw_now_ms_test();
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    double s = (double)(iw_now_ms_test() - t0) / 1000.0;
    check_big(dest);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
    return s;
}

Test(engine, rate_limited_multi_range_is_faster)
{
    double single = timed_download("rate1", 1);
    int reqs = 0;
    double multi = timed_download("rate8", 8);
    dl_log_bytes(&g_hub, "cdn", NULL, &reqs, NULL);
    cr_expect_geq(reqs, 4, "only %d CDN requests with 8 connections", reqs);
    cr_expect_lt(multi, single * 0.5, "multi %.2fs vs single %.2fs", multi, single);
}

Test(engine, present_files_skipped_without_requests)
{
    char *dest = iwt_tmpdir("skip");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    cr_expect_eq(r.files_fetched, 4u);
    iw_dl_result_free(&r);
    iwt_hub_reset(&g_hub);
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    cr_expect_eq(r.files_skipped, 4u);
    cr_expect_eq(r.bytes_fetched, 0u);
    int n = 0;
    dl_log_bytes(&g_hub, NULL, "/resolve/", &n, NULL);
    cr_expect_eq(n, 0, "%d resolve requests for files already present", n);
    iw_dl_result_free(&r);
    /* a damaged local file is fetched again */
    char p[4096];
    snprintf(p, sizeof p, "%s/small.bin", dest);
    cr_assert_eq(iwt_write(p, "x", 1), 0);
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    cr_expect_eq(r.files_fetched, 1u);
    iw_dl_result_free(&r);
    /* offline: served from the destination, no request */
    iwt_hub_reset(&g_hub);
    iw_hub_options ho = IW_HUB_OPTIONS_INIT;
    ho.endpoint = g_hub.hub_url;
    ho.token = "";
    ho.offline = 1;
    iw_hub *off;
    cr_assert_eq(iw_hub_new(&off, &ho), 0);
    cr_assert_eq(iw_download_repo(off, "t/r", &o, &r), 0, "%s", iw_error_last());
    cr_expect_eq(r.files, 4u);
    iw_dl_result_free(&r);
    int all = 0;
    dl_log_bytes(&g_hub, NULL, NULL, &all, NULL);
    cr_expect_eq(all, 0, "offline mode made %d requests", all);
    /* offline and absent: clear error */
    char *other = iwt_tmpdir("offnone");
    dl_opts(&o, other);
    cr_expect_eq(iw_download_repo(off, "t/r", &o, &r), IW_EOFFLINE);
    cr_expect(strstr(iw_error_last(), "HF_HUB_OFFLINE"), "%s", iw_error_last());
    iw_dl_result_free(&r);
    iw_hub_free(off);
    iw_hub_free(hub);
    iwt_rm_rf(other);
    free(other);
    iwt_rm_rf(dest);
    free(dest);
}

static void expect_link(const char *snap, const char *path, const char *target)
{
    char p[4096], buf[4096];
    snprintf(p, sizeof p, "%s/%s", snap, path);
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    cr_assert_geq(n, 0, "%s is not a symlink", p);
    buf[n] = 0;
    cr_expect_str_eq(buf, target, "link %s", path);
    cr_expect(iw_path_is_file(p), "%s dangling", p);
}

Test(engine, hf_cache_layout_file_by_file)
{
    char *cache = iwt_tmpdir("hfc");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_dl_options o;
    dl_opts(&o, cache);
    o.layout = IW_DL_LAYOUT_HF_CACHE;
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    char p[4096];
    /* refs/main = commit, no newline */
    snprintf(p, sizeof p, "%s/models--t--r/refs/main", cache);
    size_t len = 0;
    char *ref = iwt_slurp(p, &len);
    cr_assert_not_null(ref);
    cr_expect_eq(len, 40u);
    cr_expect(strncmp(ref, r.commit, 40) == 0);
    free(ref);
    snprintf(p, sizeof p, "%s/models--t--r/snapshots/%s", cache, r.commit);
    cr_expect_str_eq(r.dest, p);
    iw_hub_listing l;
    cr_assert_eq(iw_hub_list_files(hub, "t/r", r.commit, &l), 0);
    for (size_t i = 0; i < l.n; i++) {
        const iw_hub_file *f = &l.files[i];
        const char *etag = f->lfs ? f->sha256 : f->oid;
        char target[512] = "";
        for (const char *c = f->path; *c; c++)
            if (*c == '/') strcat(target, "../");
        strcat(target, "../../blobs/");
        strcat(target, etag);
        expect_link(r.dest, f->path, target);
        char blob[4096], h[65];
        snprintf(blob, sizeof blob, "%s/models--t--r/blobs/%s", cache, etag);
        dl_file_hash(blob, f->lfs, h);
        cr_expect_str_eq(h, etag, "blob %s content", f->path);
        snprintf(blob, sizeof blob, "%s/.locks/models--t--r/%s.lock", cache, etag);
        cr_expect(iw_path_exists(blob), "lock file %s", blob);
    }
    snprintf(p, sizeof p, "%s/CACHEDIR.TAG", cache);
    char *tag = iwt_slurp(p, NULL);
    cr_expect(tag && !strncmp(tag, "Signature: 8a477f597d28d172789f06886806bc55", 43));
    free(tag);
    /* no stray partials left in blobs */
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls %s/models--t--r/blobs | grep -c incomplete", cache);
    iwt_run(cmd, &out, NULL);
    cr_expect(out && atoi(out) == 0, "partials left: %s", out);
    free(out);
    iw_hub_listing_free(&l);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(cache);
    free(cache);
}

/* Delete a file from fakehub's root when the first file starts: it was in
 * the listing, so its resolve answers 404 EntryNotFound + X-Repo-Commit. */
typedef struct vanish { const char *when, *victim; bool done; } vanish;
static void vanish_on_start(const iw_dl_event *ev, void *ud)
{
    vanish *v = ud;
    if (ev->kind == IW_DL_EV_START && !v->done && !strcmp(ev->path, v->when)) {
        cr_assert_eq(unlink(v->victim), 0, "cannot delete %s", v->victim);
        v->done = true;
    }
}

Test(engine, missing_entry_writes_no_exist)
{
    /* a fixed commit, so deleting a file does not change the revision */
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    char p[4096], meta[256];
    snprintf(meta, sizeof meta, "{\"revisions\":{\"main\":\"%s\"}}", commit);
    snprintf(p, sizeof p, "%s/t/ne.hub.json", g_root);
    cr_assert_eq(iwt_write(p, meta, strlen(meta)), 0);
    dl_put_text(g_root, "t/ne", "a.json", "{}");
    dl_put_text(g_root, "t/ne", "sub/zz.txt", "soon gone");
    char victim[4096];
    snprintf(victim, sizeof victim, "%s/t/ne/sub/zz.txt", g_root);
    vanish v = { "a.json", victim, false };

    char *cache = iwt_tmpdir("noexist");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_dl_options o;
    dl_opts(&o, cache);
    o.layout = IW_DL_LAYOUT_HF_CACHE;
    o.jobs = 1;                      /* a.json first, then sub/zz.txt */
    o.on_event = vanish_on_start;
    o.ud = &v;
    iw_dl_result r;
    int rc = iw_download_repo(hub, "t/ne", &o, &r);
    cr_assert(v.done, "a.json never started");
    cr_expect_eq(rc, IW_ENOTFOUND, "rc %d: %s", rc, iw_error_last());
    cr_expect(strstr(iw_error_last(), "sub/zz.txt") && strstr(iw_error_last(), "not found"), "%s", iw_error_last());
    /* huggingface_hub's marker: an empty file at .no_exist/<commit>/<path> */
    snprintf(p, sizeof p, "%s/models--t--ne/.no_exist/%s/sub/zz.txt", cache, commit);
    struct stat st;
    cr_expect(stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0, "no empty marker %s", p);
    /* the file that exists was placed; the missing one was not */
    snprintf(p, sizeof p, "%s/models--t--ne/snapshots/%s/a.json", cache, commit);
    cr_expect(iw_path_is_file(p), "a.json not placed");
    snprintf(p, sizeof p, "%s/models--t--ne/snapshots/%s/sub/zz.txt", cache, commit);
    cr_expect(!iw_path_exists(p), "a link for the missing file");
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(cache);
    free(cache);
}

Test(engine, cdn_404_is_not_a_missing_entry)
{
    /* a CDN 404 (with X-Error-Code: EntryNotFound but no X-Repo-Commit) says
     * nothing about the repo at this commit: no .no_exist marker; the
     * engine goes back to the hub for a fresh location and succeeds */
    char *cache = iwt_tmpdir("cdn404");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"small.bin\",\"host\":\"cdn\",\"status\":404,\"times\":2}"), 0);
    iw_dl_options o;
    dl_opts(&o, cache);
    o.layout = IW_DL_LAYOUT_HF_CACHE;
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    char p[4096];
    snprintf(p, sizeof p, "%s/models--t--r/.no_exist", cache);
    cr_expect(!iw_path_exists(p), ".no_exist written for a CDN answer");
    int hub_n = 0, cdn_n = 0;
    dl_log_bytes(&g_hub, "hub", "small.bin", &hub_n, NULL);
    dl_log_bytes(&g_hub, "cdn", NULL, &cdn_n, NULL);
    cr_expect_eq(hub_n, 3, "small.bin resolved %d times on the hub (expected one per CDN attempt)", hub_n);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(cache);
    free(cache);
}

Test(engine, a_whole_file_answered_200_still_resumes_with_range)
{
    /* a file asked for whole (below split_min: bytes=0-(size-1)) that the
     * CDN answers 200 and then cuts: the 200 was the whole file as asked,
     * not a server that ignores Range, so the retry resumes where the cut
     * left it (a rule that kept a first 200 as "no Range" for every file
     * restarted it from byte 0) */
    char *dest = iwt_tmpdir("whole200");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"ignore_range\":true,"
                                        "\"cut_after\":1000000,\"times\":1}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    check_big(dest);
    cr_expect_geq(count_ranges_not_from_zero(&g_hub), 1, "the retry after the cut did not resume with a Range");
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, ignored_range_restarts_the_file_cleanly)
{
    /* the CDN answers one ranged request after the first (which, from
     * byte 0 and alone, would simply be kept as the whole file) with 200 +
     * the whole file (what a gzip-ing CDN does): the file's ranges are
     * dropped and it is fetched again from byte 0 as one plain GET */
    char *dest = iwt_tmpdir("ign");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"ignore_range\":true,\"from_offset\":1,\"times\":1}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    const char *inc[] = { "model.safetensors" };
    o.include = inc; o.n_include = 1;
    o.connections = 4;
    o.split_min = 1u << 20;
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    check_big(dest);
    /* the last CDN request is the restart: no Range, the whole file */
    usleep(300000);   /* let fakehub log the aborted answers */
    cJSON *log = iwt_hub_log_json(&g_hub);
    int ranged = 0, plain = 0, faulted = 0;
    const cJSON *it, *last = NULL;
    cJSON_ArrayForEach(it, log) {
        const char *host = cJSON_GetStringValue(cJSON_GetObjectItem(it, "host"));
        if (!host || strcmp(host, "cdn"))
            continue;
        if (cJSON_IsNumber(cJSON_GetObjectItem(it, "fault")))
            faulted++;
        if (cJSON_IsString(cJSON_GetObjectItem(it, "range"))) {
            ranged++;
        } else {
            plain++;
            last = it;
        }
    }
    cr_expect_eq(faulted, 1, "the ignore_range fault was used %d times", faulted);
    cr_expect_geq(ranged, 1, "no ranged request before the restart");
    cr_expect_eq(plain, 1, "%d CDN requests without Range (expected the one restart)", plain);
    cr_expect(last && cJSON_GetNumberValue(cJSON_GetObjectItem(last, "bytes")) == (double)BIG,
              "the restart did not fetch the whole file");
    cJSON_Delete(log);
    cr_expect_eq(dl_partials(dest), 0, "partials left");
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, status_429_with_retry_after_on_the_cdn)
{
    char *dest = iwt_tmpdir("429");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"small.bin\",\"host\":\"cdn\",\"status\":429,\"retry_after\":1,\"times\":2}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    const char *inc[] = { "small.bin" };
    o.include = inc; o.n_include = 1;
    iw_dl_result r;
    uint64_t t0 = iw_now_ms_test();
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    uint64_t ms = iw_now_ms_test() - t0;
    cr_expect_geq(ms, 1900u, "Retry-After not honoured (%llu ms; the retry base is 50 ms)", (unsigned long long)ms);
    int n = 0;
    dl_log_bytes(&g_hub, "cdn", "/cdn/", &n, NULL);
    cr_expect_eq(n, 3, "small.bin requested %d times on the CDN (2 x 429 + 1)", n);
    char p[4096], h[65], want[65];
    snprintf(p, sizeof p, "%s/small.bin", dest);
    dl_file_hash(p, true, h);
    char *b = dl_bytes(2000, 8);
    iw_sha256_hex(b, 2000, want);
    free(b);
    cr_expect_str_eq(h, want);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

/* Replace the served file (new inode, new content) once `at` bytes of it
 * have arrived. */
typedef struct swap { const char *path; uint64_t at; size_t size; bool done; } swap;
static void swap_on_progress(const iw_dl_event *ev, void *ud)
{
    swap *s = ud;
    if (ev->kind != IW_DL_EV_PROGRESS || s->done || ev->n_active == 0 || ev->active[0].done < s->at)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.new", s->path);
    char *b = dl_bytes(s->size, 99);
    cr_assert_eq(iwt_write(tmp, b, s->size), 0);
    free(b);
    cr_assert_eq(rename(tmp, s->path), 0);
    s->done = true;
}

Test(engine, etag_change_mid_transfer_discards_the_partial)
{
    const size_t size = 5u << 20;    /* >= 4 MiB: keeps resume state */
    dl_put(g_root, "t/et", "w.safetensors", size, 1);
    /* a fixed commit that keeps resolving while the content changes (the
     * Hub never changes a commit; a proxy or a mirror can) */
    char p[4096];
    const char *meta = "{\"revisions\":{\"main\":\"00000000000000000000000000000000000000e7\"}}";
    snprintf(p, sizeof p, "%s/t/et.hub.json", g_root);
    cr_assert_eq(iwt_write(p, meta, strlen(meta)), 0);
    char served[4096];
    snprintf(served, sizeof served, "%s/t/et/w.safetensors", g_root);
    /* the first CDN answer is slow and breaks at 1.5 MB; the file changes
     * on the server before that, so the resumed request meets new content */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"w.safetensors\",\"host\":\"cdn\",\"rate_bps\":1500000,\"times\":1}"), 0);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"w.safetensors\",\"host\":\"cdn\",\"cut_after\":1500000,\"times\":1}"), 0);
    char *dest = iwt_tmpdir("etag");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_dl_options o;
    dl_opts(&o, dest);
    swap sw = { served, 300000, size, false };
    o.on_event = swap_on_progress;
    o.ud = &sw;
    iw_dl_result r;
    int rc = iw_download_repo(hub, "t/et", &o, &r);
    cr_assert(sw.done, "the file was never swapped");
    cr_expect_eq(rc, IW_EVERIFY, "rc %d: %s", rc, iw_error_last());
    cr_expect(strstr(iw_error_last(), "w.safetensors") && strstr(iw_error_last(), "ETag"), "%s", iw_error_last());
    iw_dl_result_free(&r);
    /* the partial of the old content is gone, nothing was placed */
    char cmd[8192];
    cr_expect_eq(dl_partials(dest), 0, "partial data of the old content left");
    snprintf(cmd, sizeof cmd, "%s/w.safetensors", dest);
    cr_expect(!iw_path_exists(cmd), "a file was placed");
    /* the next run lists the new content and gets it */
    iwt_hub_reset(&g_hub);
    cr_assert_eq(iw_download_repo(hub, "t/et", &o, &r), 0, "%s", iw_error_last());
    char h[65], want[65];
    dl_file_hash(cmd, true, h);
    char *b = dl_bytes(size, 99);
    iw_sha256_hex(b, size, want);
    free(b);
    cr_expect_str_eq(h, want, "the new content was not fetched");
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, stale_partial_of_changed_file_is_discarded)
{
    char *dest = iwt_tmpdir("stale");
    const char *old = "1111111111111111111111111111111111111111111111111111111111111111";
    char p[4096], st[1024];
    char leaf[128];
    snprintf(leaf, sizeof leaf, "%s.part", old);
    dl_state_file(dest, leaf, p, sizeof p);
    cr_assert_eq(iwt_write(p, "partial", 7), 0);
    snprintf(st, sizeof st, "{\"version\":1,\"path\":\"model.safetensors\",\"size\":7,\"hash\":\"%s\","
             "\"segments\":[[0,3,7]]}", old);
    snprintf(leaf, sizeof leaf, "%s.state", old);
    dl_state_file(dest, leaf, p, sizeof p);
    cr_assert_eq(iwt_write(p, st, strlen(st)), 0);
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    check_big(dest);
    cr_expect(!iw_path_exists(p), "stale state kept");
    snprintf(leaf, sizeof leaf, "%s.part", old);
    dl_state_file(dest, leaf, p, sizeof p);
    cr_expect(!iw_path_exists(p), "stale partial kept");
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, duplicate_content_in_one_repo)
{
    dl_put(g_root, "t/dup", "a/model.safetensors", 300000, 5);
    dl_put(g_root, "t/dup", "b/model.safetensors", 300000, 5);
    char *dest = iwt_tmpdir("dup");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/dup", &o, &r), 0, "%s", iw_error_last());
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/a/model.safetensors", dest);
    snprintf(b, sizeof b, "%s/b/model.safetensors", dest);
    dl_same_file(a, b);
    char h[65], want[65];
    dl_file_hash(a, true, h);
    char *x = dl_bytes(300000, 5);
    iw_sha256_hex(x, 300000, want);
    free(x);
    cr_expect_str_eq(h, want);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, split_file_is_fetched_as_chunks_in_file_order)
{
    /* 3 MiB in 512 KiB ranges over 2 connections: six ranges, one chunk
     * each, handed out in file order (the hashing thread reads the
     * contiguous prefix, so it must grow during the download) */
    char *dest = iwt_tmpdir("chunks");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iwt_hub_reset(&g_hub);
    iw_dl_options o;
    dl_opts(&o, dest);
    const char *inc[] = { "model.safetensors" };
    o.include = inc; o.n_include = 1;
    o.connections = 2;
    o.split_min = 1u << 20;
    o.chunk = 512u << 10;
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    check_big(dest);
    cJSON *log = iwt_hub_log_json(&g_hub);
    cr_assert_not_null(log);
    const uint64_t C = 512u << 10;
    int seen[6] = { 0 }, starts = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, log) {
        const char *host = cJSON_GetStringValue(cJSON_GetObjectItem(it, "host"));
        const char *rg = cJSON_GetStringValue(cJSON_GetObjectItem(it, "range"));
        if (!host || strcmp(host, "cdn"))
            continue;
        unsigned long long a = 0, b = 0;
        cr_assert(rg && sscanf(rg, "bytes=%llu-%llu", &a, &b) == 2, "CDN request without a closed range: %s", rg);
        size_t k = (size_t)(a / C);
        cr_assert_lt(k, 6u, "range %s past the end", rg);
        /* a re-split of the last running chunk asks for its second half */
        cr_expect_eq(b + 1, (k + 1) * C, "range %s does not end at its chunk's end", rg);
        if (a % C)
            continue;
        seen[k]++;
        /* chunk k (k >= 2) starts once k - 1 earlier ones have finished
         * (no re-split happens while a chunk is waiting), and fakehub logs
         * an answer before the client sees its end */
        cr_expect_geq(starts, (int)k - 1, "chunk %zu is CDN answer %d: not in file order", k, starts);
        starts++;
    }
    cJSON_Delete(log);
    cr_expect_eq(starts, 6, "%d chunk requests, expected 6", starts);
    for (int k = 0; k < 6; k++)
        cr_expect_eq(seen[k], 1, "chunk %d requested %d times", k, seen[k]);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(engine, slow_range_is_resplit_so_the_tail_does_not_crawl)
{
    /* only the first CDN response is throttled (150 kB/s: alone it would
     * need ~10 s for its 1.5 MiB half); the free connection must take over
     * halves of it as it goes */
    char *dest = iwt_tmpdir("resplit");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"rate_bps\":150000,\"times\":1}"), 0);
    iw_dl_options o;
    dl_opts(&o, dest);
    const char *inc[] = { "model.safetensors" };
    o.include = inc; o.n_include = 1;
    o.connections = 2;
    o.split_min = 1u << 20;
    iw_dl_result r;
    uint64_t t0 = iw_now_ms_test();
    cr_assert_eq(iw_download_repo(hub, "t/r", &o, &r), 0, "%s", iw_error_last());
    double s = (double)(iw_now_ms_test() - t0) / 1000.0;
    check_big(dest);
    /* fakehub logs a client-aborted answer when it next tries to send, and
     * the throttled one sleeps between sends: wait (bounded) for it */
    int reqs = 0;
    uint64_t bytes = 0;
    for (int waited = 0; waited <= 3000; waited += 100) {
        bytes = dl_log_bytes(&g_hub, "cdn", NULL, &reqs, NULL);
        if (reqs >= 4)
            break;
        usleep(100000);
    }
    cr_expect_geq(reqs, 4, "no re-split: %d CDN requests", reqs);
    /* a range that starts inside one of the two initial halves is a split */
    cr_expect_geq(dl_log_count_range_not_starting(&g_hub, "cdn", (const uint64_t[]){ 0, BIG / 2 }, 2), 1,
                  "every CDN range starts at an initial half: nothing was re-split");
    cr_expect_lt(s, 6.0, "took %.1f s", s);
    /* clipping a split range may waste what was in flight, not much more */
    cr_expect_lt(bytes, (uint64_t)BIG + (2u << 20), "CDN sent %llu bytes", (unsigned long long)bytes);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}
