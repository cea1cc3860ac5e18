/* test_hub.c - hub client: listing parser, Link header, repo ids, pagination,
 * globs, gated repos and tokens, error kinds, renamed repos, remote source. */
#include "hubtest.c"
#include "dltest.h"

/* ---------------------------------------------------------------- units */

Test(hub_unit, tree_page_refuses_unsafe_names)
{
    static const char *bad[] = {
        "[{\"type\":\"file\",\"path\":\"../evil\",\"oid\":\"0000000000000000000000000000000000000000\",\"size\":1}]",
        "[{\"type\":\"file\",\"path\":\"/etc/passwd\",\"oid\":\"0000000000000000000000000000000000000000\",\"size\":1}]",
        "[{\"type\":\"file\",\"path\":\"a\\\\b\",\"oid\":\"0000000000000000000000000000000000000000\",\"size\":1}]",
        "[{\"type\":\"file\",\"path\":\"a\\u0000/../../x\",\"oid\":\"0000000000000000000000000000000000000000\",\"size\":1}]",
        "[{\"type\":\"directory\",\"path\":\"x/../../y\",\"oid\":\"0000000000000000000000000000000000000000\",\"size\":0}]",
        "[{\"type\":\"file\",\"path\":\"ok/./x\",\"oid\":\"0000000000000000000000000000000000000000\",\"size\":1}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        iw_hub_listing l = { 0 };
        int rc = iw_hub_parse_tree_page(bad[i], strlen(bad[i]), "test", &l);
        cr_expect_eq(rc, IW_EUNSAFE, "case %zu: rc %d (%s)", i, rc, iw_error_last());
        cr_expect_eq(l.n, 0u, "case %zu kept %zu entries", i, l.n);
        iw_hub_listing_free(&l);
    }
}

Test(hub_unit, tree_page_parses_files_and_lfs)
{
    const char *j =
        "[{\"type\":\"directory\",\"oid\":\"aa536c4e00000000000000000000000000000000\",\"path\":\"sub\",\"size\":0},"
        "{\"type\":\"file\",\"oid\":\"226b075200000000000000000000000000000000\",\"size\":12,\"path\":\"sub/a.txt\"},"
        "{\"type\":\"file\",\"oid\":\"64eaa9c500000000000000000000000000000000\",\"size\":5000,\"path\":\"m.bin\","
        "\"lfs\":{\"oid\":\"9be78edb00000000000000000000000000000000000000000000000000000000\",\"size\":5000,\"pointerSize\":134}}]";
    iw_hub_listing l = { 0 };
    cr_assert_eq(iw_hub_parse_tree_page(j, strlen(j), "t", &l), 0, "%s", iw_error_last());
    cr_assert_eq(l.n, 2u);
    cr_expect_str_eq(l.files[0].path, "sub/a.txt");
    cr_expect(!l.files[0].lfs);
    cr_expect_eq(l.files[0].size, 12u);
    cr_expect_str_eq(l.files[1].path, "m.bin");
    cr_expect(l.files[1].lfs);
    cr_expect_str_eq(l.files[1].sha256, "9be78edb00000000000000000000000000000000000000000000000000000000");
    iw_hub_listing_free(&l);

    /* wrong hash lengths, lfs size disagreement, duplicates, not an array */
    const char *bad[] = {
        "[{\"type\":\"file\",\"oid\":\"abc\",\"size\":1,\"path\":\"a\"}]",
        "[{\"type\":\"file\",\"oid\":\"64eaa9c500000000000000000000000000000000\",\"size\":5,\"path\":\"m\",\"lfs\":{\"oid\":\"9be7\",\"size\":5}}]",
        "[{\"type\":\"file\",\"oid\":\"64eaa9c500000000000000000000000000000000\",\"size\":5,\"path\":\"m\","
        "\"lfs\":{\"oid\":\"9be78edb00000000000000000000000000000000000000000000000000000000\",\"size\":6}}]",
        "[{\"type\":\"file\",\"oid\":\"64eaa9c500000000000000000000000000000000\",\"size\":5,\"path\":\"m\"},"
        "{\"type\":\"file\",\"oid\":\"64eaa9c500000000000000000000000000000000\",\"size\":5,\"path\":\"m\"}]",
        "{\"type\":\"file\"}",
        "[{\"type\":\"file\",\"oid\":\"64eaa9c500000000000000000000000000000000\",\"size\":-1,\"path\":\"m\"}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        iw_hub_listing m = { 0 };
        cr_expect_eq(iw_hub_parse_tree_page(bad[i], strlen(bad[i]), "t", &m), IW_EFORMAT, "case %zu", i);
        iw_hub_listing_free(&m);
    }
}

Test(hub_unit, link_header)
{
    char *n = iw_hub_link_next("<http://h/x?cursor=2>; rel=\"next\"");
    cr_assert_str_eq(n, "http://h/x?cursor=2");
    free(n);
    n = iw_hub_link_next("<http://h/p>; rel=\"prev\", <http://h/n>; rel=\"next\"");
    cr_assert_str_eq(n, "http://h/n");
    free(n);
    cr_expect_null(iw_hub_link_next("<http://h/p>; rel=\"prev\""));
    cr_expect_null(iw_hub_link_next(NULL));
    cr_expect_null(iw_hub_link_next("<http://h/p; rel=\"next\""));
}

Test(hub_unit, repo_ids)
{
    cr_expect_eq(iw_hub_check_repo_id("org/name-1.5_x"), 0);
    cr_expect_eq(iw_hub_check_repo_id("gpt2"), 0);
    const char *bad[] = { "", "a/b/c", "../x", "a/..", "/a", "a/", "a b/c", "a/.hidden", "a\\b" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(iw_hub_check_repo_id(bad[i]), IW_EINVAL, "'%s' accepted", bad[i]);
}

Test(hub_unit, file_url_encoding_and_origin)
{
    iw_hub_options o = IW_HUB_OPTIONS_INIT;
    o.endpoint = "http://127.0.0.1:9/";
    o.token = "";
    o.offline = 0;
    iw_hub *hub;
    cr_assert_eq(iw_hub_new(&hub, &o), 0);
    cr_expect_str_eq(iw_hub_endpoint(hub), "http://127.0.0.1:9");
    char *u;
    cr_assert_eq(iw_hub_file_url(hub, "o/n", "refs/pr/1", "dir/a b#.json", &u), 0);
    cr_expect_str_eq(u, "http://127.0.0.1:9/o/n/resolve/refs%2Fpr%2F1/dir/a%20b%23.json");
    free(u);
    cr_expect(iw_hub_same_origin(hub, "http://127.0.0.1:9/x"));
    cr_expect(!iw_hub_same_origin(hub, "http://127.0.0.2:9/x"));
    cr_expect(!iw_hub_same_origin(hub, "http://127.0.0.1:10/x"));
    cr_expect(!iw_hub_same_origin(hub, "https://127.0.0.1:9/x"));
    iw_hub_free(hub);
}

Test(hub_unit, token_from_file_and_env, .init = NULL)
{
    char *d = iwt_tmpdir("tok");
    char p[4096];
    snprintf(p, sizeof p, "%s/token", d);
    cr_assert_eq(iwt_write(p, "hf_fromfile\r\n", 13), 0);
    unsetenv("HF_TOKEN");
    unsetenv("HUGGING_FACE_HUB_TOKEN");
    setenv("HF_TOKEN_PATH", p, 1);
    iw_hub_options o = IW_HUB_OPTIONS_INIT;
    o.endpoint = "http://127.0.0.1:9";
    iw_hub *hub;
    cr_assert_eq(iw_hub_new(&hub, &o), 0, "%s", iw_error_last());
    cr_expect(iw_hub_has_token(hub));
    iw_hub_free(hub);
    setenv("HF_TOKEN_PATH", "/nonexistent/token", 1);
    cr_assert_eq(iw_hub_new(&hub, &o), 0);
    cr_expect(!iw_hub_has_token(hub));
    iw_hub_free(hub);
    setenv("HF_HUB_OFFLINE", "yes", 1);
    cr_assert_eq(iw_hub_new(&hub, &o), 0);
    cr_expect(iw_hub_is_offline(hub));
    char c[41];
    cr_expect_eq(iw_hub_resolve_revision(hub, "o/n", "main", c), IW_EOFFLINE);
    iw_hub_free(hub);
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_TOKEN_PATH");
    iwt_rm_rf(d);
    free(d);
}

/* ------------------------------------------------------- against fakehub */

static char *g_root;
static iwt_hub g_hub;

static void setup(void)
{
    g_root = iwt_tmpdir("hubroot");
    /* 7 files in nested folders, page size 2 -> 4+ pages */
    dl_put_text(g_root, "t/many", "config.json", "{\"model_type\":\"llama\"}");
    dl_put_text(g_root, "t/many", "a/one.txt", "one");
    dl_put_text(g_root, "t/many", "a/b/two.txt", "two");
    dl_put_text(g_root, "t/many", "a/b/c/three.txt", "three");
    dl_put(g_root, "t/many", "w/model-00001.safetensors", 3000, 1);
    dl_put(g_root, "t/many", "w/model-00002.safetensors", 3000, 2);
    dl_put_text(g_root, "t/many", "tokenizer.json", "{}");
    /* gated */
    dl_put_text(g_root, "t/gated", "config.json", "{\"x\":1}");
    dl_put(g_root, "t/gated", "model.safetensors", 5000, 3);
    char p[4096];
    snprintf(p, sizeof p, "%s/t/gated.hub.json", g_root);
    const char *meta = "{\"gated\":true,\"tokens\":[\"hf_good\"]}";
    cr_assert_eq(iwt_write(p, meta, strlen(meta)), 0);
    /* renamed */
    snprintf(p, sizeof p, "%s/t/old.hub.json", g_root);
    meta = "{\"renamed_to\":\"t/many\"}";
    cr_assert_eq(iwt_write(p, meta, strlen(meta)), 0);
    const char *args[] = { "--page-size", "2", NULL };
    cr_assert_eq(iwt_hub_start(&g_hub, g_root, args), 0, "fakehub did not start");
}

static void teardown(void)
{
    iwt_hub_stop(&g_hub);
    iwt_rm_rf(g_root);
    free(g_root);
}

TestSuite(hub, .init = setup, .fini = teardown, .timeout = 60);

Test(hub, pagination_lists_every_file)
{
    iw_hub *hub = dl_hub(&g_hub, NULL);
    char commit[41];
    cr_assert_eq(iw_hub_resolve_revision(hub, "t/many", NULL, commit), 0, "%s", iw_error_last());
    iw_hub_listing l;
    cr_assert_eq(iw_hub_list_files(hub, "t/many", commit, &l), 0, "%s", iw_error_last());
    cr_expect_eq(l.n, 7u, "got %zu files", l.n);
    size_t lfs = 0;
    for (size_t i = 0; i < l.n; i++)
        lfs += l.files[i].lfs;
    cr_expect_eq(lfs, 2u);
    int pages = 0;
    dl_log_bytes(&g_hub, "hub", "/tree/", &pages, NULL);
    cr_expect_geq(pages, 4, "only %d tree pages requested", pages);
    iw_hub_listing_free(&l);
    iw_hub_free(hub);
}

Test(hub, globs_select_files)
{
    char *dest = iwt_tmpdir("glob");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_dl_options o;
    dl_opts(&o, dest);
    const char *inc[] = { "a/*", "*.json" };
    const char *exc[] = { "a/b/c/*", "tokenizer*" };
    o.include = inc; o.n_include = 2;
    o.exclude = exc; o.n_exclude = 2;
    iw_dl_result r;
    cr_assert_eq(iw_download_repo(hub, "t/many", &o, &r), 0, "%s", iw_error_last());
    cr_expect_eq(r.files, 3u, "selected %zu", r.files);
    char p[4096];
    const char *want[] = { "config.json", "a/one.txt", "a/b/two.txt" };
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dest, want[i]);
        cr_expect(iw_path_is_file(p), "missing %s", want[i]);
    }
    const char *not[] = { "a/b/c/three.txt", "tokenizer.json", "w/model-00001.safetensors" };
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dest, not[i]);
        cr_expect(!iw_path_exists(p), "%s should not be there", not[i]);
    }
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    iwt_rm_rf(dest);
    free(dest);
}

Test(hub, gated_needs_token_and_token_stays_on_hub)
{
    char *dest = iwt_tmpdir("gated");
    iw_dl_options o;
    dl_opts(&o, dest);
    iw_dl_result r;
    /* no token */
    iw_hub *hub = dl_hub(&g_hub, NULL);
    cr_expect_eq(iw_download_repo(hub, "t/gated", &o, &r), IW_EAUTH);
    cr_expect(strstr(iw_error_last(), "HF_TOKEN") != NULL, "message: %s", iw_error_last());
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    /* wrong token */
    hub = dl_hub(&g_hub, "hf_wrong");
    cr_expect_eq(iw_download_repo(hub, "t/gated", &o, &r), IW_EAUTH);
    cr_expect(strstr(iw_error_last(), "hf_wrong") == NULL, "token leaked in: %s", iw_error_last());
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    /* good token */
    iwt_hub_reset(&g_hub);
    hub = dl_hub(&g_hub, "hf_good");
    cr_assert_eq(iw_download_repo(hub, "t/gated", &o, &r), 0, "%s", iw_error_last());
    cr_expect_eq(r.files, 2u);
    iw_dl_result_free(&r);
    iw_hub_free(hub);
    int cdn_req = 0, cdn_auth = 0, hub_req = 0, hub_auth = 0;
    uint64_t cdn_bytes = dl_log_bytes(&g_hub, "cdn", NULL, &cdn_req, &cdn_auth);
    dl_log_bytes(&g_hub, "hub", NULL, &hub_req, &hub_auth);
    cr_expect_geq(cdn_req, 1, "the LFS file did not come from the CDN");
    cr_expect_eq(cdn_bytes, 5000u);
    cr_expect_eq(cdn_auth, 0, "token sent to the CDN %d times", cdn_auth);
    cr_expect_eq(hub_auth, hub_req, "hub requests without the token: %d of %d", hub_req - hub_auth, hub_req);
    char p[4096];
    snprintf(p, sizeof p, "%s/model.safetensors", dest);
    char h[65];
    dl_file_hash(p, true, h);
    char *b = dl_bytes(5000, 3), want[65];
    iw_sha256_hex(b, 5000, want);
    free(b);
    cr_expect_str_eq(h, want);
    /* the token never lands on disk */
    char *m = NULL;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "grep -r hf_good %s", dest);
    cr_expect_neq(iwt_run(cmd, &m, NULL), 0, "token written under dest: %s", m ? m : "");
    free(m);
    iwt_rm_rf(dest);
    free(dest);
}

Test(hub, not_found_kinds)
{
    iw_hub *hub = dl_hub(&g_hub, NULL);
    char c[41];
    cr_expect_eq(iw_hub_resolve_revision(hub, "t/nope", "main", c), IW_ENOTFOUND);
    cr_expect(strstr(iw_error_last(), "repository not found") != NULL, "%s", iw_error_last());
    cr_expect_eq(iw_hub_resolve_revision(hub, "t/many", "v9", c), IW_ENOTFOUND);
    cr_expect(strstr(iw_error_last(), "revision not found") != NULL, "%s", iw_error_last());
    iw_source s;
    cr_expect_eq(iw_hub_open_source(&s, hub, "t/many", "main", "nope.json"), IW_ENOTFOUND);
    cr_expect(strstr(iw_error_last(), "file not found") != NULL, "%s", iw_error_last());
    iw_hub_free(hub);
}

Test(hub, renamed_repo_follows_relative_redirect)
{
    iw_hub *hub = dl_hub(&g_hub, NULL);
    char c1[41], c2[41];
    cr_assert_eq(iw_hub_resolve_revision(hub, "t/old", "main", c1), 0, "%s", iw_error_last());
    cr_assert_eq(iw_hub_resolve_revision(hub, "t/many", "main", c2), 0);
    cr_expect_str_eq(c1, c2);
    iw_hub_free(hub);
}

Test(hub, remote_source_reads_ranges_only)
{
    iw_hub *hub = dl_hub(&g_hub, "hf_good");
    iw_source s;
    cr_assert_eq(iw_hub_open_source(&s, hub, "t/gated", "main", "model.safetensors"), 0, "%s", iw_error_last());
    cr_expect_eq(s.size, 5000u);
    char buf[100];
    size_t got = 0;
    cr_assert_eq(iw_source_read_at(&s, 4950, buf, 100, &got), 0, "%s", iw_error_last());
    cr_expect_eq(got, 50u);
    char *b = dl_bytes(5000, 3);
    cr_expect(memcmp(buf, b + 4950, 50) == 0);
    free(b);
    cr_expect_leq(iw_hub_source_transferred(&s), 5000u);
    iw_source_close(&s);
    int cdn_auth = 0;
    dl_log_bytes(&g_hub, "cdn", NULL, NULL, &cdn_auth);
    cr_expect_eq(cdn_auth, 0, "token sent to the CDN");
    iw_hub_free(hub);
}

Test(hub, card_base_models_are_checked_repo_ids)
{
    /* a list with junk: only valid org/name ids survive, once each, in order */
    char p[4096];
    snprintf(p, sizeof p, "%s/t/card.hub.json", g_root);
    const char *meta = "{\"card\":{\"base_model\":[\"../etc\",\"org/base\",5,\"org/base\",\"justname\","
                       "\"/abs/path\",\"org/second\"]}}";
    cr_assert_eq(iwt_write(p, meta, strlen(meta)), 0);
    dl_put_text(g_root, "t/card", "m.gguf", "GGUF");
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iw_strlist l = { 0 };
    cr_assert_eq(iw_hub_card_base_models(hub, "t/card", "main", &l), 0, "%s", iw_error_last());
    cr_expect_eq(l.n, 2u, "got %zu ids", l.n);
    cr_expect(l.n == 2 && !strcmp(l.v[0], "org/base") && !strcmp(l.v[1], "org/second"));
    iw_strlist_free(&l);
    /* a string; and a repo without a card: nothing, not an error */
    meta = "{\"card\":{\"base_model\":\"org/only\"}}";
    cr_assert_eq(iwt_write(p, meta, strlen(meta)), 0);
    cr_assert_eq(iw_hub_card_base_models(hub, "t/card", NULL, &l), 0, "%s", iw_error_last());
    cr_expect(l.n == 1 && !strcmp(l.v[0], "org/only"));
    iw_strlist_free(&l);
    cr_assert_eq(iw_hub_card_base_models(hub, "t/many", NULL, &l), 0, "%s", iw_error_last());
    cr_expect_eq(l.n, 0u);
    /* errors are the model-info errors */
    cr_expect_eq(iw_hub_card_base_models(hub, "t/nothere", NULL, &l), IW_ENOTFOUND);
    cr_expect_eq(iw_hub_card_base_models(hub, "t/gated", NULL, &l), IW_EAUTH);
    cr_expect_eq(l.n, 0u);
    iw_hub_free(hub);
}

/* A server that answers a Range request with 200 and the whole file: the
 * remote reader stops at the first such answer, with one request and a
 * message saying so (it used to retry and fail after ~9 s with libcurl's
 * "Failed writing received data"). */
Test(hub, range_ignored_stops_at_once)
{
    dl_put(g_root, "t/norange", "model.safetensors", 300000, 4);
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iwt_hub_reset(&g_hub);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"model.safetensors\",\"ignore_range\":true,\"times\":-1}"), 0);
    uint64_t t0 = iw_now_ms_test();
    iw_source s;
    int rc = iw_hub_open_source(&s, hub, "t/norange", "main", "model.safetensors");
    if (rc == 0) {
        char buf[100];
        size_t got = 0;
        rc = iw_source_read_at(&s, 0, buf, sizeof buf, &got);
        iw_source_close(&s);
    }
    uint64_t ms = iw_now_ms_test() - t0;
    cr_expect_eq(rc, IW_EUNSUPPORTED, "rc %d: %s", rc, iw_error_last());
    cr_expect(strstr(iw_error_last(), "ignored the Range request"), "%s", iw_error_last());
    cr_expect_lt(ms, 3000u, "took %llu ms", (unsigned long long)ms);
    int n = 0;
    dl_log_bytes(&g_hub, NULL, "model.safetensors", &n, NULL);
    cr_expect_leq(n, 2, "%d requests for the file (a redirect and one GET at most)", n);
    iwt_hub_reset(&g_hub);
    iw_hub_free(hub);
}

/* A redirect to file: or ftp: is refused with the scheme named, by the API
 * client and by the transfer engine. */
Test(hub, redirect_to_another_scheme_is_named)
{
    iw_hub *hub = dl_hub(&g_hub, NULL);
    iwt_hub_reset(&g_hub);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"url\":\"/api/models/t/many/revision/*\",\"status\":302,"
                                       "\"location\":\"file:///etc/passwd\",\"times\":-1}"), 0);
    char c[41];
    cr_expect_eq(iw_hub_resolve_revision(hub, "t/many", "main", c), IW_EUNSAFE, "%s", iw_error_last());
    cr_expect(strstr(iw_error_last(), "redirected to a file: URL"), "%s", iw_error_last());
    iwt_hub_reset(&g_hub);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\":\"config.json\",\"host\":\"hub\",\"status\":302,"
                                       "\"location\":\"ftp://example.com/config.json\",\"times\":-1}"), 0);
    char *dest = iwt_tmpdir("ftp");
    iw_dl_options o;
    dl_opts(&o, dest);
    const char *inc[] = { "config.json" };
    o.include = inc;
    o.n_include = 1;
    iw_dl_result r;
    cr_expect_eq(iw_download_repo(hub, "t/many", &o, &r), IW_EUNSAFE, "%s", iw_error_last());
    cr_expect(strstr(iw_error_last(), "config.json") && strstr(iw_error_last(), "redirected to a ftp: URL"), "%s",
              iw_error_last());
    iw_dl_result_free(&r);
    iwt_hub_reset(&g_hub);
    iwt_rm_rf(dest);
    free(dest);
    iw_hub_free(hub);
}
