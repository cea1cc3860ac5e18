/* test_cli_env.c - the download command and its environment, as a process
 * against fakehub: --hf-cache under HF_HUB_CACHE / HF_HOME checked file by
 * file, HF_HUB_OFFLINE against that cache, the token file under HF_HOME,
 * the revision pinned to one commit (also when the branch moves), and
 * HF_HUB_DOWNLOAD_TIMEOUT catching a stalled body. */
#include "hubtest.c"
#include "dltest.h"

#include <dirent.h>
#include <unistd.h>

#define BIG (3u << 20)

static char *g_root, *g_home;
static iwt_hub g_hub;

static void setup(void)
{
    g_root = iwt_tmpdir("envroot");
    g_home = iwt_tmpdir("envhome");
    dl_put_text(g_root, "t/e", "config.json", "{\"model_type\":\"llama\"}");
    dl_put_text(g_root, "t/e", "sub/dir/notes.txt", "hello");
    dl_put(g_root, "t/e", "model.safetensors", BIG, 21);
    cr_assert_eq(iwt_hub_start(&g_hub, g_root, NULL), 0, "fakehub did not start");
}

static void teardown(void)
{
    iwt_hub_stop(&g_hub);
    iwt_rm_rf(g_root);
    iwt_rm_rf(g_home);
    free(g_root);
    free(g_home);
}

TestSuite(cli_env, .init = setup, .fini = teardown, .timeout = 90);

static void put_meta(const char *repo, const char *json)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s.hub.json", g_root, repo);
    cr_assert_eq(iwt_write(p, json, strlen(json)), 0);
}

/* The commit fakehub reports for repo@main. */
static void main_commit(const char *repo, char out[41])
{
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_assert_eq(iw_hub_resolve_revision(hub, repo, "main", out), 0, "%s", iw_error_last());
    iw_hub_free(hub);
}

/* Every entry of dir (names only, sorted by the caller's needs): count. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* huggingface_hub's layout for t/e at commit under cache, file by file. */
static void check_hf_cache(const char *cache, const char *commit)
{
    char p[4096], q[4096];
    /* CACHEDIR.TAG */
    snprintf(p, sizeof p, "%s/CACHEDIR.TAG", cache);
    char *tag = iwt_slurp(p, NULL);
    cr_expect(tag && !strncmp(tag, "Signature: 8a477f597d28d172789f06886806bc55\n", 44), "CACHEDIR.TAG: %s", tag);
    free(tag);
    /* refs/main: the 40-hex commit, no newline */
    snprintf(p, sizeof p, "%s/models--t--e/refs/main", cache);
    size_t len = 0;
    char *ref = iwt_slurp(p, &len);
    cr_assert_not_null(ref, "missing %s", p);
    cr_expect_eq(len, 40u, "refs/main is %zu bytes", len);
    cr_expect(!strncmp(ref, commit, 40), "refs/main names %.40s, not %s", ref, commit);
    free(ref);
    /* one snapshot, one blob per file, relative links, one lock per blob */
    snprintf(p, sizeof p, "%s/models--t--e/snapshots", cache);
    cr_expect_eq(count_entries(p), 1, "more than one snapshot");
    snprintf(p, sizeof p, "%s/models--t--e/blobs", cache);
    cr_expect_eq(count_entries(p), 3, "blobs/ holds other than the 3 blobs");
    snprintf(p, sizeof p, "%s/.locks/models--t--e", cache);
    cr_expect_eq(count_entries(p), 3, ".locks holds other than the 3 locks");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_hub_listing l;
    cr_assert_eq(iw_hub_list_files(hub, "t/e", commit, &l), 0, "%s", iw_error_last());
    cr_assert_eq(l.n, 3u);
    for (size_t i = 0; i < l.n; i++) {
        const iw_hub_file *f = &l.files[i];
        const char *etag = f->lfs ? f->sha256 : f->oid;
        char target[512] = "", buf[512];
        for (const char *c = f->path; *c; c++)
            if (*c == '/')
                strcat(target, "../");
        strcat(target, "../../blobs/");
        strcat(target, etag);
        snprintf(p, sizeof p, "%s/models--t--e/snapshots/%s/%s", cache, commit, f->path);
        ssize_t n = readlink(p, buf, sizeof buf - 1);
        cr_assert_geq(n, 0, "%s is not a symlink", p);
        buf[n] = 0;
        cr_expect_str_eq(buf, target, "link %s", f->path);
        snprintf(q, sizeof q, "%s/models--t--e/blobs/%s", cache, etag);
        struct stat st;
        cr_expect(lstat(q, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == f->size, "blob %s", q);
        char h[65];
        dl_file_hash(q, f->lfs, h);
        cr_expect_str_eq(h, etag, "blob of %s holds other content", f->path);
        snprintf(q, sizeof q, "%s/.locks/models--t--e/%s.lock", cache, etag);
        cr_expect(iw_path_is_file(q), "missing lock %s", q);
    }
    iw_hub_listing_free(&l);
    iw_hub_free(hub);
}

Test(cli_env, hf_cache_under_hf_hub_cache_then_hf_home)
{
    char commit[41];
    main_commit("t/e", commit);
    /* HF_HUB_CACHE wins over HF_HOME */
    char env[8192], *out = NULL, *err = NULL;
    snprintf(env, sizeof env, "HF_HUB_CACHE=%s/hubcache HF_HOME=%s/hfhome", g_home, g_home);
    cr_assert_eq(dl_cli(&g_hub, g_home, env, "download t/e --hf-cache --revision main --no-architecture", &out, &err), 0,
                 "%s", err);
    char cache[4096], p[4096];
    snprintf(cache, sizeof cache, "%s/hubcache", g_home);
    cr_expect(out && strstr(out, cache) && strstr(out, commit), "summary: %s", out);
    free(out);
    free(err);
    check_hf_cache(cache, commit);
    snprintf(p, sizeof p, "%s/hfhome", g_home);
    cr_expect(!iw_path_exists(p), "HF_HOME was used although HF_HUB_CACHE is set");
    /* HF_HOME alone: $HF_HOME/hub */
    snprintf(env, sizeof env, "HF_HOME=%s/hfhome", g_home);
    cr_assert_eq(dl_cli(&g_hub, g_home, env, "download t/e --hf-cache --quiet --no-architecture", &out, &err), 0, "%s", err);
    free(out);
    free(err);
    snprintf(cache, sizeof cache, "%s/hfhome/hub", g_home);
    check_hf_cache(cache, commit);
}

Test(cli_env, offline_mode_serves_the_hf_cache_or_says_why_not)
{
    char commit[41];
    main_commit("t/e", commit);
    char env[8192], *out = NULL, *err = NULL;
    snprintf(env, sizeof env, "HF_HUB_CACHE=%s/c", g_home);
    cr_assert_eq(dl_cli(&g_hub, g_home, env, "download t/e --hf-cache --quiet", &out, &err), 0, "%s", err);
    free(out);
    free(err);
    /* offline: no request at all, the snapshot is served and registered */
    iwt_hub_reset(&g_hub);
    snprintf(env, sizeof env, "HF_HUB_CACHE=%s/c HF_HUB_OFFLINE=1", g_home);
    cr_assert_eq(dl_cli(&g_hub, g_home, env, "download t/e --hf-cache --json", &out, &err), 0, "%s", err);
    cr_expect(out && strstr(out, "\"files\":3") && strstr(out, commit) && strstr(out, "\"fetched\":0"), "stdout: %s", out);
    free(out);
    free(err);
    int all = 0;
    dl_log_bytes(&g_hub, NULL, NULL, &all, NULL);
    cr_expect_eq(all, 0, "offline mode made %d requests", all);
    cJSON *root;
    const cJSON *e = dl_only_entry(g_home, &root);
    const cJSON *files = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "artifacts"), "files");
    cr_expect_eq(cJSON_GetArraySize(files), 3, "the offline run registered %d files", cJSON_GetArraySize(files));
    cJSON_Delete(root);
    /* a filter applies offline too */
    cr_assert_eq(dl_cli(&g_hub, g_home, env, "download t/e --hf-cache --json --include '*.json' --no-architecture",
                        &out, &err), 0, "%s", err);
    cr_expect(out && strstr(out, "\"files\":1"), "stdout: %s", out);
    free(out);
    free(err);
    /* a broken link in the snapshot is not served */
    char p[4096];
    snprintf(p, sizeof p, "%s/c/models--t--e/snapshots/%s/sub/dir/notes.txt", g_home, commit);
    char target[4096];
    ssize_t n = readlink(p, target, sizeof target - 1);
    cr_assert_gt(n, 0);
    target[n] = 0;
    char blob[8192];
    snprintf(blob, sizeof blob, "%s/c/models--t--e/snapshots/%s/sub/dir/%s", g_home, commit, target);
    cr_assert_eq(unlink(blob), 0, "cannot remove %s", blob);
    cr_expect_eq(dl_cli(&g_hub, g_home, env, "download t/e --hf-cache --quiet", NULL, &err), 1);
    cr_expect(err && strstr(err, "HF_HUB_OFFLINE") && strstr(err, "notes.txt"), "stderr: %s", err);
    free(err);
    /* absent: one clear line, nothing contacted */
    iwt_hub_reset(&g_hub);
    snprintf(env, sizeof env, "HF_HUB_CACHE=%s/empty HF_HUB_OFFLINE=1", g_home);
    cr_expect_eq(dl_cli(&g_hub, g_home, env, "download t/e --hf-cache", &out, &err), 1);
    cr_expect(err && strstr(err, "HF_HUB_OFFLINE is set") && strstr(err, "t/e@main") &&
              !strchr(strchr(err, '\n') + 1, '\n'), "stderr: %s", err);
    free(out);
    free(err);
    snprintf(env, sizeof env, "HF_HUB_CACHE=%s/empty TRANSFORMERS_OFFLINE=yes", g_home);
    cr_expect_eq(dl_cli(&g_hub, g_home, env, "download t/e --hf-cache", NULL, &err), 1);
    cr_expect(err && strstr(err, "HF_HUB_OFFLINE is set"), "stderr: %s", err);
    free(err);
    all = 0;
    dl_log_bytes(&g_hub, NULL, NULL, &all, NULL);
    cr_expect_eq(all, 0, "offline mode made %d requests", all);
}

Test(cli_env, token_file_under_hf_home_is_used)
{
    dl_put_text(g_root, "t/gated", "config.json", "{}");
    dl_put(g_root, "t/gated", "model.safetensors", 100000, 5);
    put_meta("t/gated", "{\"gated\":true,\"tokens\":[\"hf_fromTheFile42\"]}");
    char env[8192], p[4096], *out = NULL, *err = NULL;
    /* no token anywhere: refused, naming HF_TOKEN */
    snprintf(env, sizeof env, "HF_TOKEN_PATH=");
    cr_expect_eq(dl_cli(&g_hub, g_home, env, "download t/gated --quiet --no-architecture", NULL, &err), 1);
    cr_expect(err && strstr(err, "gated") && strstr(err, "HF_TOKEN"), "stderr: %s", err);
    free(err);
    /* $HF_HOME/token (with a trailing newline, as `hf auth login` writes it) */
    snprintf(p, sizeof p, "%s/hf/token", g_home);
    cr_assert_eq(iwt_write(p, "hf_fromTheFile42\n", 17), 0);
    iwt_hub_reset(&g_hub);
    cr_assert_eq(dl_cli(&g_hub, g_home, env, "download t/gated --no-architecture", &out, &err), 0, "%s", err);
    cr_expect(!strstr(out ? out : "", "hf_fromTheFile42") && !strstr(err ? err : "", "hf_fromTheFile42"),
              "the token was printed");
    free(out);
    free(err);
    int hub_n = 0, hub_auth = 0, cdn_n = 0, cdn_auth = 0;
    dl_log_bytes(&g_hub, "hub", NULL, &hub_n, &hub_auth);
    dl_log_bytes(&g_hub, "cdn", NULL, &cdn_n, &cdn_auth);
    cr_expect_gt(hub_n, 0);
    cr_expect_eq(hub_auth, hub_n, "%d of %d hub requests carried the token", hub_auth, hub_n);
    cr_expect_gt(cdn_n, 0);
    cr_expect_eq(cdn_auth, 0, "the token went to the CDN");
    /* HF_TOKEN wins over the file */
    snprintf(env, sizeof env, "HF_TOKEN_PATH= HF_TOKEN=hf_wrong");
    cr_expect_eq(dl_cli(&g_hub, g_home, env, "download t/gated --quiet --no-architecture --hf-cache", NULL, &err), 1);
    cr_expect(err && strstr(err, "refused"), "stderr: %s", err);
    free(err);
}

Test(cli_env, revision_is_pinned_even_when_the_branch_moves)
{
    const char *A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const char *B = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    dl_put(g_root, "t/pin", "a.safetensors", 1500000, 31);
    dl_put_text(g_root, "t/pin", "b.json", "{\"b\":1}");
    dl_put_text(g_root, "t/pin", "c.json", "{\"c\":1}");
    char meta[512];
    snprintf(meta, sizeof meta, "{\"revisions\":{\"main\":\"%s\"}}", A);
    put_meta("t/pin", meta);
    /* a.safetensors takes ~1.5 s; b and c are fetched after it (--jobs 1),
     * and main moves to B as soon as the hub has answered a's resolve (its
     * log line), i.e. after the pin and before b and c */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"a.safetensors\",\"host\":\"cdn\",\"rate_bps\":1000000,\"times\":1}"), 0);
    char cmd[16384], mp[4096], moved[512];
    snprintf(mp, sizeof mp, "%s/t/pin.hub.json", g_root);
    snprintf(moved, sizeof moved, "{\"revisions\":{\"main\":\"%s\",\"old\":\"%s\"}}", B, A);
    snprintf(cmd, sizeof cmd,
             "HF_ENDPOINT=%s HF_TOKEN= HF_TOKEN_PATH=/nonexistent HF_HUB_OFFLINE= HF_HUB_CACHE=%s/c "
             "IMAGEWORKS_REGISTRY_DIR=%s/reg %s download t/pin --revision main --hf-cache --jobs 1 --quiet "
             "--no-architecture & p=$!; i=0; until grep -q /resolve/ %s || [ $i -ge 200 ]; do sleep 0.05; i=$((i+1)); done; "
             "printf '%%s' '%s' > %s.tmp && mv %s.tmp %s; wait $p; echo rc=$?",
             g_hub.hub_url, g_home, g_home, iwt_cli(), g_hub.log_path, moved, mp, mp, mp);
    char *out = NULL, *err = NULL;
    iwt_run(cmd, &out, &err);
    cr_expect(out && strstr(out, "rc=0"), "out: %s err: %s", out, err);
    free(out);
    free(err);
    /* main was looked up once; everything after used the commit */
    cJSON *log = iwt_hub_log_json(&g_hub);
    int revs = 0, resolves = 0, pinned = 0, trees = 0;
    char want[128];
    snprintf(want, sizeof want, "/resolve/%s/", A);
    const cJSON *it;
    cJSON_ArrayForEach(it, log) {
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(it, "path"));
        if (!path)
            continue;
        if (strstr(path, "/revision/"))
            revs++;
        if (strstr(path, "/tree/")) {
            trees++;
            cr_expect(strstr(path, A) != NULL, "tree listed at %s", path);
        }
        if (strstr(path, "/resolve/")) {
            resolves++;
            if (strstr(path, want))
                pinned++;
        }
    }
    cJSON_Delete(log);
    cr_expect_eq(revs, 1, "the revision was resolved %d times", revs);
    cr_expect_geq(trees, 1);
    cr_expect_eq(resolves, 3, "%d resolve requests", resolves);
    cr_expect_eq(pinned, resolves, "%d of %d resolve URLs carry the commit", pinned, resolves);
    /* one snapshot, the commit main had when the run started */
    char p[4096];
    snprintf(p, sizeof p, "%s/c/models--t--pin/snapshots", g_home);
    cr_expect_eq(count_entries(p), 1, "snapshots of more than one commit");
    snprintf(p, sizeof p, "%s/c/models--t--pin/snapshots/%s/c.json", g_home, A);
    cr_expect(iw_path_is_file(p), "missing %s", p);
    snprintf(p, sizeof p, "%s/c/models--t--pin/refs/main", g_home);
    char *ref = iwt_slurp(p, NULL);
    cr_expect(ref && !strcmp(ref, A), "refs/main = %s", ref);
    free(ref);
    /* the next run follows the branch to B */
    snprintf(cmd, sizeof cmd, "HF_HUB_CACHE=%s/c", g_home);
    cr_assert_eq(dl_cli(&g_hub, g_home, cmd, "download t/pin --hf-cache --quiet --no-architecture", NULL, &err), 0, "%s", err);
    free(err);
    ref = iwt_slurp(p, NULL);
    cr_expect(ref && !strcmp(ref, B), "refs/main = %s after the move", ref);
    free(ref);
}

Test(cli_env, stalled_body_is_retried_after_hf_hub_download_timeout)
{
    /* the CDN stops sending for 8 s after 1 MB: with a 1 s timeout the
     * transfer is dropped and resumed from where it stopped */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"host\":\"cdn\",\"stall_after\":1000000,"
                                       "\"stall_ms\":8000,\"times\":1}"), 0);
    char args[8192], *err = NULL;
    snprintf(args, sizeof args, "download t/e --quiet --no-architecture --dest %s/d", g_home);
    uint64_t t0 = iw_now_ms_test();
    cr_assert_eq(dl_cli(&g_hub, g_home, "HF_HUB_DOWNLOAD_TIMEOUT=1", args, NULL, &err), 0, "%s", err);
    double s = (double)(iw_now_ms_test() - t0) / 1000.0;
    free(err);
    cr_expect_lt(s, 4.5, "took %.1f s: the stall was waited out, not timed out", s);
    char p[4096], h[65], want[65];
    snprintf(p, sizeof p, "%s/d/model.safetensors", g_home);
    dl_file_hash(p, true, h);
    char *b = dl_bytes(BIG, 21);
    iw_sha256_hex(b, BIG, want);
    free(b);
    cr_expect_str_eq(h, want);
    /* the second CDN request resumed past the first megabyte */
    cJSON *log = iwt_hub_log_json(&g_hub);
    bool resumed = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, log) {
        const char *rg = cJSON_GetStringValue(cJSON_GetObjectItem(it, "range"));
        unsigned long long a;
        if (rg && sscanf(rg, "bytes=%llu-", &a) == 1 && a >= 1000000)
            resumed = true;
    }
    cJSON_Delete(log);
    cr_expect(resumed, "no request resumed past the stall point");
}
