/* test_fakehub.c - tools/fakehub speaks the Hub protocol and injects the
 * faults the downloader tests rely on (docs/fakehub.md). */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <sys/stat.h>

#include "iwtest.h"
#include "hubtest.c"

static iwt_hub g_hub;
static char *g_root;
static char *g_big;        /* content of org/plain/big.bin */
static size_t g_big_len = 200000;

static void put(const char *rel, const void *data, size_t len)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    cr_assert_eq(iwt_write(p, data, len), 0, "write %s", p);
}

static void puts_file(const char *rel, const char *text)
{
    put(rel, text, strlen(text));
}

static void hex(const unsigned char *d, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int l = 0;
    EVP_Digest(data, n, md, &l, EVP_sha256(), NULL);
    hex(md, l, out);
}

static void git_blob_hex(const void *data, size_t n, char out[41])
{
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "blob %zu", n);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha1(), NULL);
    EVP_DigestUpdate(c, hdr, (size_t)hl + 1);
    EVP_DigestUpdate(c, data, n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int l = 0;
    EVP_DigestFinal_ex(c, md, &l);
    EVP_MD_CTX_free(c);
    hex(md, l, out);
}

static void setup(void)
{
    g_root = iwt_tmpdir("hubroot");
    cr_assert_not_null(g_root);
    puts_file("org/plain/small.txt", "hello fakehub\n");
    puts_file("org/plain/sub/a.txt", "a\n");
    puts_file("org/plain/sub/deep/b.txt", "b\n");
    puts_file("org/plain/config.json", "{\"model_type\": \"llama\"}\n");
    char mid[2000];
    memset(mid, 'x', sizeof mid);
    put("org/plain/mid.txt", mid, sizeof mid);          /* LFS by size (>= 1024) */
    g_big = malloc(g_big_len);
    cr_assert_not_null(g_big);
    uint32_t s = 12345;
    for (size_t i = 0; i < g_big_len; i++) {
        s = s * 1103515245u + 12345u;
        g_big[i] = (char)(s >> 16);
    }
    put("org/plain/big.bin", g_big, g_big_len);          /* LFS by extension */
    char link[4096];
    snprintf(link, sizeof link, "%s/org/plain/escape", g_root);
    cr_assert_eq(symlink("/etc/passwd", link), 0);
    puts_file("org/gated/config.json", "{}\n");
    puts_file("org/gated.hub.json", "{\"gated\": true, \"tokens\": [\"hf_good\"]}");
    puts_file("org/old.hub.json", "{\"renamed_to\": \"org/plain\"}");
    puts_file("org/revs/x.txt", "x\n");
    puts_file("org/revs.hub.json",
              "{\"revisions\": {\"main\": \"1111111111111111111111111111111111111111\","
              " \"v1.0\": \"2222222222222222222222222222222222222222\","
              " \"refs/pr/1\": \"4444444444444444444444444444444444444444\"},"
              " \"card\": {\"base_model\": \"org/base\"}}");
    puts_file("org/evil/ok.txt", "ok\n");
    puts_file("org/evil.hub.json",
              "{\"extra_tree_entries\": [{\"type\": \"file\", \"oid\": \"0000000000000000000000000000000000000000\","
              " \"size\": 3, \"path\": \"../escape.txt\"}]}");
    const char *args[] = { "--page-size", "3", NULL };
    cr_assert_eq(iwt_hub_start(&g_hub, g_root, args), 0, "fakehub did not start");
}

static void teardown(void)
{
    iwt_hub_stop(&g_hub);
    iwt_rm_rf(g_root);
    free(g_root);
    free(g_big);
}

TestSuite(fakehub, .init = setup, .fini = teardown, .timeout = 60);

static void get(iwt_http *r, const char *method, const char *path, const char *const *hdrs)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", g_hub.hub_url, path);
    cr_assert_eq(iwt_http_do(r, method, url, hdrs, NULL), 0, "%s %s: no response", method, url);
}

static cJSON *get_json(const char *path, long want_status)
{
    iwt_http r;
    get(&r, "GET", path, NULL);
    cr_assert_eq(r.status, want_status, "%s: status %ld, body %s", path, r.status, r.body);
    cJSON *j = cJSON_Parse(r.body);
    cr_assert_not_null(j, "%s: body is not JSON: %s", path, r.body);
    iwt_http_free(&r);
    return j;
}

static void expect_error(const char *method, const char *path, const char *const *hdrs,
                         long status, const char *code)
{
    iwt_http r;
    char v[256];
    get(&r, method, path, hdrs);
    cr_expect_eq(r.status, status, "%s %s: status %ld", method, path, r.status);
    if (code) {
        cr_expect_not_null(iwt_http_header(&r, "X-Error-Code", v, sizeof v), "%s: no X-Error-Code", path);
        cr_expect_str_eq(v, code, "%s: X-Error-Code", path);
    }
    iwt_http_free(&r);
}

Test(fakehub, model_info_and_revisions)
{
    cJSON *j = get_json("/api/models/org/plain", 200);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "id")->valuestring, "org/plain");
    const char *sha = cJSON_GetObjectItem(j, "sha")->valuestring;
    cr_expect_eq(strlen(sha), 40);
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(j, "gated")));
    /* 6 regular files; the symlink is not listed */
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "siblings")), 6);
    char path[256];
    snprintf(path, sizeof path, "/api/models/org/plain/revision/%s", sha);
    cJSON *k = get_json(path, 200);
    cr_expect_str_eq(cJSON_GetObjectItem(k, "sha")->valuestring, sha);
    cJSON_Delete(k);
    k = get_json("/api/models/org/plain/revision/main?blobs=true", 200);
    cJSON *sib;
    int lfs = 0;
    cJSON_ArrayForEach(sib, cJSON_GetObjectItem(k, "siblings"))
        lfs += cJSON_GetObjectItem(sib, "lfs") != NULL;
    cr_expect_eq(lfs, 2, "big.bin (extension) and mid.txt (size) are LFS");
    cJSON_Delete(k);
    cJSON_Delete(j);

    j = get_json("/api/models/org/revs/revision/v1.0", 200);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "sha")->valuestring, "2222222222222222222222222222222222222222");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "cardData"), "base_model")->valuestring,
                     "org/base");
    cJSON_Delete(j);
    j = get_json("/api/models/org/revs/revision/1111111111111111111111111111111111111111", 200);
    cJSON_Delete(j);
    j = get_json("/api/models/org/revs/revision/refs%2Fpr%2F1", 200);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "sha")->valuestring, "4444444444444444444444444444444444444444");
    cJSON_Delete(j);
    iwt_http rr;
    char hv[64];
    get(&rr, "GET", "/org/revs/resolve/refs%2Fpr%2F1/x.txt", NULL);
    cr_expect_eq(rr.status, 200);
    cr_expect_str_eq(iwt_http_header(&rr, "X-Repo-Commit", hv, sizeof hv), "4444444444444444444444444444444444444444");
    iwt_http_free(&rr);

    expect_error("GET", "/api/models/org/plain/revision/nope", NULL, 404, "RevisionNotFound");
    expect_error("GET", "/api/models/org/revs/revision/3333333333333333333333333333333333333333", NULL,
                 404, "RevisionNotFound");
    expect_error("GET", "/api/models/org/missing", NULL, 404, "RepoNotFound");
    expect_error("GET", "/org/plain/resolve/main/nothere.txt", NULL, 404, "EntryNotFound");
    expect_error("GET", "/org/plain/resolve/nope/small.txt", NULL, 404, "RevisionNotFound");
}

Test(fakehub, tree_is_paginated_with_absolute_links)
{
    char url[2048];
    snprintf(url, sizeof url, "%s/api/models/org/plain/tree/main?recursive=true", g_hub.hub_url);
    char seen[4096] = "";
    int pages = 0, entries = 0;
    for (;;) {
        iwt_http r;
        cr_assert_eq(iwt_http_do(&r, "GET", url, NULL, NULL), 0);
        cr_assert_eq(r.status, 200, "%s -> %ld", url, r.status);
        cJSON *j = cJSON_Parse(r.body), *e;
        cr_assert(cJSON_IsArray(j));
        cr_expect_leq(cJSON_GetArraySize(j), 3, "page size 3");
        cJSON_ArrayForEach(e, j) {
            strcat(seen, cJSON_GetObjectItem(e, "path")->valuestring);
            strcat(seen, cJSON_IsString(cJSON_GetObjectItem(e, "type")) &&
                   strcmp(cJSON_GetObjectItem(e, "type")->valuestring, "directory") == 0 ? "/ " : " ");
            entries++;
        }
        cJSON_Delete(j);
        pages++;
        char link[2048];
        if (!iwt_http_header(&r, "Link", link, sizeof link)) {
            iwt_http_free(&r);
            break;
        }
        iwt_http_free(&r);
        /* <absolute-url>; rel="next" */
        cr_assert_eq(link[0], '<');
        cr_assert_eq(strncmp(link + 1, g_hub.hub_url, strlen(g_hub.hub_url)), 0, "Link not absolute: %s", link);
        char *end = strstr(link, ">; rel=\"next\"");
        cr_assert_not_null(end, "Link: %s", link);
        *end = 0;
        snprintf(url, sizeof url, "%s", link + 1);
        cr_assert_lt(pages, 10);
    }
    cr_expect_eq(entries, 8, "6 files + 2 directories, got: %s", seen);
    cr_expect_eq(pages, 3);
    cr_expect_str_eq(seen, "big.bin config.json mid.txt small.txt sub/ sub/a.txt sub/deep/ sub/deep/b.txt ");

    cJSON *j = get_json("/api/models/org/plain/tree/main/sub", 200), *e;
    int n = 0;
    cJSON_ArrayForEach(e, j) {
        const char *p = cJSON_GetObjectItem(e, "path")->valuestring;
        cr_expect(strcmp(p, "sub/a.txt") == 0 || strcmp(p, "sub/deep") == 0, "non-recursive: %s", p);
        n++;
    }
    cr_expect_eq(n, 2);
    cJSON_Delete(j);
    expect_error("GET", "/api/models/org/plain/tree/main/nodir", NULL, 404, "EntryNotFound");
    expect_error("GET", "/api/models/org/plain/tree/main?cursor=abc", NULL, 400, NULL);
}

Test(fakehub, paths_info_json_and_form)
{
    char url[1024], sha[65];
    snprintf(url, sizeof url, "%s/api/models/org/plain/paths-info/main", g_hub.hub_url);
    const char *jh[] = { "Content-Type: application/json", NULL };
    iwt_http r;
    cr_assert_eq(iwt_http_do(&r, "POST", url, jh,
                             "{\"paths\": [\"big.bin\", \"small.txt\", \"missing\", \"sub\"], \"expand\": true}"), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cJSON *j = cJSON_Parse(r.body);
    cr_assert_eq(cJSON_GetArraySize(j), 3, "%s", r.body);
    cJSON *big = cJSON_GetArrayItem(j, 0);
    cr_expect_str_eq(cJSON_GetObjectItem(big, "path")->valuestring, "big.bin");
    sha256_hex(g_big, g_big_len, sha);
    cJSON *lfs = cJSON_GetObjectItem(big, "lfs");
    cr_assert_not_null(lfs);
    cr_expect_str_eq(cJSON_GetObjectItem(lfs, "oid")->valuestring, sha);
    cr_expect_eq(cJSON_GetObjectItem(lfs, "size")->valuedouble, (double)g_big_len);
    cr_expect_eq(cJSON_GetObjectItem(big, "size")->valuedouble, (double)g_big_len);
    cr_expect_not_null(cJSON_GetObjectItem(big, "lastCommit"), "expand adds lastCommit");
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 2), "type")->valuestring, "directory");
    cJSON_Delete(j);
    iwt_http_free(&r);

    cr_assert_eq(iwt_http_do(&r, "POST", url, NULL, "paths=small.txt&paths=sub%2Fa.txt"), 0);
    cr_assert_eq(r.status, 200);
    j = cJSON_Parse(r.body);
    cr_assert_eq(cJSON_GetArraySize(j), 2, "%s", r.body);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "path")->valuestring, "sub/a.txt");
    cr_expect_null(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "lfs"));
    cJSON_Delete(j);
    iwt_http_free(&r);
}

Test(fakehub, inline_resolve_etag_is_git_blob_sha1_with_ranges)
{
    const char *text = "hello fakehub\n";
    char want[41], v[256];
    git_blob_hex(text, strlen(text), want);
    /* cross-check our helper against git itself when git is installed */
    char *out = NULL;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "git hash-object '%s/org/plain/small.txt'", g_root);
    if (iwt_run(cmd, &out, NULL) == 0 && out) {
        out[strcspn(out, "\n")] = 0;
        cr_expect_str_eq(out, want, "git hash-object");
    }
    free(out);

    cJSON *info = get_json("/api/models/org/plain", 200);
    char sha[41];
    snprintf(sha, sizeof sha, "%s", cJSON_GetObjectItem(info, "sha")->valuestring);
    cJSON_Delete(info);

    iwt_http r;
    get(&r, "GET", "/org/plain/resolve/main/small.txt", NULL);
    cr_assert_eq(r.status, 200);
    cr_expect_eq(r.body_len, strlen(text));
    cr_expect_str_eq(r.body, text);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", want);
    cr_expect_str_eq(iwt_http_header(&r, "ETag", v, sizeof v), quoted);
    cr_expect_str_eq(iwt_http_header(&r, "X-Repo-Commit", v, sizeof v), sha);
    cr_expect_str_eq(iwt_http_header(&r, "Accept-Ranges", v, sizeof v), "bytes");
    iwt_http_free(&r);

    get(&r, "HEAD", "/org/plain/resolve/main/small.txt", NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(iwt_http_header(&r, "Content-Length", v, sizeof v), "14");
    iwt_http_free(&r);

    const char *rh[] = { "Range: bytes=6-12", NULL };
    get(&r, "GET", "/org/plain/resolve/main/small.txt", rh);
    cr_expect_eq(r.status, 206);
    cr_expect_str_eq(r.body, "fakehub");
    cr_expect_str_eq(iwt_http_header(&r, "Content-Range", v, sizeof v), "bytes 6-12/14");
    iwt_http_free(&r);

    const char *rs[] = { "Range: bytes=-3", NULL };
    get(&r, "GET", "/org/plain/resolve/main/small.txt", rs);
    cr_expect_eq(r.status, 206);
    cr_expect_str_eq(r.body, "ub\n");
    iwt_http_free(&r);

    /* If-Range: a matching ETag keeps the range, another one gets it all */
    char ifr[128];
    snprintf(ifr, sizeof ifr, "If-Range: \"%s\"", want);
    const char *ok_ifr[] = { "Range: bytes=6-12", ifr, NULL };
    get(&r, "GET", "/org/plain/resolve/main/small.txt", ok_ifr);
    cr_expect_eq(r.status, 206);
    iwt_http_free(&r);
    const char *stale[] = { "Range: bytes=6-12", "If-Range: \"0000\"", NULL };
    get(&r, "GET", "/org/plain/resolve/main/small.txt", stale);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, text);
    iwt_http_free(&r);

    const char *bad[] = { "Range: bytes=14-", NULL };
    get(&r, "GET", "/org/plain/resolve/main/small.txt", bad);
    cr_expect_eq(r.status, 416);
    cr_expect_str_eq(iwt_http_header(&r, "Content-Range", v, sizeof v), "bytes */14");
    iwt_http_free(&r);
}

Test(fakehub, lfs_resolve_redirects_to_cdn_with_linked_etag)
{
    char sha[65], v[1024], want[80];
    sha256_hex(g_big, g_big_len, sha);
    iwt_http r;
    get(&r, "HEAD", "/org/plain/resolve/main/big.bin", NULL);
    cr_assert_eq(r.status, 302);
    snprintf(want, sizeof want, "\"%s\"", sha);
    cr_expect_str_eq(iwt_http_header(&r, "X-Linked-Etag", v, sizeof v), want);
    cr_expect_str_eq(iwt_http_header(&r, "X-Linked-Size", v, sizeof v), "200000");
    cr_expect_not_null(iwt_http_header(&r, "X-Repo-Commit", v, sizeof v));
    cr_expect_str_eq(iwt_http_header(&r, "Content-Length", v, sizeof v), "0", "never the file size");
    cr_assert_not_null(iwt_http_header(&r, "Location", v, sizeof v));
    cr_expect_eq(strncmp(v, "http://127.0.0.2:", 17), 0, "CDN is a second host: %s", v);
    cr_expect_eq(strncmp(v, g_hub.cdn_url, strlen(g_hub.cdn_url)), 0);
    iwt_http_free(&r);

    char loc[1024];
    snprintf(loc, sizeof loc, "%s", v);
    cr_assert_eq(iwt_http_do(&r, "GET", loc, NULL, NULL), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, g_big_len);
    cr_expect_eq(memcmp(r.body, g_big, g_big_len), 0);
    cr_expect_str_eq(iwt_http_header(&r, "ETag", v, sizeof v), want);
    iwt_http_free(&r);

    const char *rh[] = { "Range: bytes=100-199", NULL };
    cr_assert_eq(iwt_http_do(&r, "GET", loc, rh, NULL), 0);
    cr_expect_eq(r.status, 206);
    cr_assert_eq(r.body_len, 100);
    cr_expect_eq(memcmp(r.body, g_big + 100, 100), 0);
    cr_expect_str_eq(iwt_http_header(&r, "Content-Range", v, sizeof v), "bytes 100-199/200000");
    iwt_http_free(&r);

    const char *bad[] = { "Range: bytes=200000-", NULL };
    cr_assert_eq(iwt_http_do(&r, "GET", loc, bad, NULL), 0);
    cr_expect_eq(r.status, 416);
    iwt_http_free(&r);

    /* a CDN URL whose content changed (wrong sha) is gone */
    snprintf(v, sizeof v, "%s/cdn/org/plain/%064d?path=big.bin", g_hub.cdn_url, 0);
    cr_assert_eq(iwt_http_do(&r, "GET", v, NULL, NULL), 0);
    cr_expect_eq(r.status, 404);
    iwt_http_free(&r);
}

Test(fakehub, gated_repo_needs_a_listed_token)
{
    expect_error("GET", "/api/models/org/gated", NULL, 401, "GatedRepo");
    expect_error("GET", "/org/gated/resolve/main/config.json", NULL, 401, "GatedRepo");
    const char *wrong[] = { "Authorization: Bearer hf_bad", NULL };
    expect_error("GET", "/org/gated/resolve/main/config.json", wrong, 401, "GatedRepo");
    const char *good[] = { "Authorization: Bearer hf_good", NULL };
    iwt_http r;
    get(&r, "GET", "/org/gated/resolve/main/config.json", good);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "{}\n");
    iwt_http_free(&r);
    get(&r, "GET", "/api/models/org/gated", good);
    cr_expect_eq(r.status, 200);
    cr_expect_not_null(strstr(r.body, "\"gated\":\"manual\""), "%s", r.body);
    iwt_http_free(&r);
}

Test(fakehub, renamed_repo_answers_relative_307)
{
    iwt_http r;
    char v[1024];
    get(&r, "GET", "/api/models/org/old/revision/main?blobs=true", NULL);
    cr_expect_eq(r.status, 307);
    cr_expect_str_eq(iwt_http_header(&r, "Location", v, sizeof v), "/api/models/org/plain/revision/main?blobs=true");
    iwt_http_free(&r);
    get(&r, "HEAD", "/org/old/resolve/main/sub/a.txt", NULL);
    cr_expect_eq(r.status, 307);
    cr_expect_str_eq(iwt_http_header(&r, "Location", v, sizeof v), "/org/plain/resolve/main/sub/a.txt");
    iwt_http_free(&r);
}

Test(fakehub, unsafe_paths_are_refused_and_symlinks_not_served)
{
    expect_error("GET", "/org/plain/resolve/main/..%2F..%2Fetc%2Fpasswd", NULL, 400, NULL);
    expect_error("GET", "/org/plain/resolve/main/sub%5Ca.txt", NULL, 400, NULL);
    expect_error("GET", "/org/plain/resolve/main/a%00b", NULL, 400, NULL);
    expect_error("GET", "/%2E%2E/plain/resolve/main/small.txt", NULL, 400, NULL);
    expect_error("GET", "/org/plain/resolve/main/escape", NULL, 404, "EntryNotFound");
    char url[1024];
    snprintf(url, sizeof url, "%s/cdn/org/plain/x?path=..%%2Fgated.hub.json", g_hub.cdn_url);
    iwt_http r;
    cr_assert_eq(iwt_http_do(&r, "GET", url, NULL, NULL), 0);
    cr_expect_eq(r.status, 400);
    iwt_http_free(&r);
}

Test(fakehub, extra_tree_entries_simulate_a_hostile_server)
{
    cJSON *j = get_json("/api/models/org/evil/tree/main?recursive=true", 200);
    cr_assert_eq(cJSON_GetArraySize(j), 2);
    cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "path")->valuestring, "../escape.txt");
    cJSON_Delete(j);
    j = get_json("/api/models/org/evil", 200);
    cJSON *sib = cJSON_GetObjectItem(j, "siblings");
    cr_expect_eq(cJSON_GetArraySize(sib), 2);
    cJSON_Delete(j);
    expect_error("GET", "/org/evil/resolve/main/..%2Fescape.txt", NULL, 400, NULL);
}

/* ---- faults ---- */

static void cdn_url_for_big(char *out, size_t n)
{
    iwt_http r;
    get(&r, "HEAD", "/org/plain/resolve/main/big.bin", NULL);
    cr_assert_not_null(iwt_http_header(&r, "Location", out, n));
    iwt_http_free(&r);
}

Test(fakehub, fault_cut_drops_the_connection_after_n_bytes)
{
    char loc[1024];
    cdn_url_for_big(loc, sizeof loc);
    int id = iwt_hub_fault(&g_hub, "{\"path\": \"*.bin\", \"host\": \"cdn\", \"cut_after\": 1000}");
    cr_assert_gt(id, 0);
    iwt_http r;
    iwt_http_do(&r, "GET", loc, NULL, NULL);
    cr_expect_neq(r.transport_error, 0, "the body must be cut");
    cr_expect_eq(r.body_len, 1000);
    cr_expect_eq(memcmp(r.body, g_big, 1000), 0);
    iwt_http_free(&r);
    /* used up: the next request gets everything */
    cr_assert_eq(iwt_http_do(&r, "GET", loc, NULL, NULL), 0);
    cr_expect_eq(r.transport_error, 0);
    cr_expect_eq(r.body_len, g_big_len);
    iwt_http_free(&r);
    cJSON *log = iwt_hub_log_json(&g_hub), *e;
    int cut = 0;
    cJSON_ArrayForEach(e, log) {
        cJSON *f = cJSON_GetObjectItem(e, "fault");
        if (cJSON_IsNumber(f) && f->valueint == id) {
            cut++;
            cr_expect_eq(cJSON_GetObjectItem(e, "bytes")->valuedouble, 1000);
        }
    }
    cr_expect_eq(cut, 1);
    cJSON_Delete(log);
}

Test(fakehub, fault_status_with_retry_after_k_times)
{
    int id = iwt_hub_fault(&g_hub, "{\"path\": \"small.txt\", \"status\": 503, \"retry_after\": 2, \"times\": 2}");
    cr_assert_gt(id, 0);
    char v[64];
    for (int i = 0; i < 2; i++) {
        iwt_http r;
        get(&r, "GET", "/org/plain/resolve/main/small.txt", NULL);
        cr_expect_eq(r.status, 503, "attempt %d", i);
        cr_expect_str_eq(iwt_http_header(&r, "Retry-After", v, sizeof v), "2");
        iwt_http_free(&r);
    }
    iwt_http r;
    get(&r, "GET", "/org/plain/resolve/main/small.txt", NULL);
    cr_expect_eq(r.status, 200);
    iwt_http_free(&r);
    /* url faults reach API calls too; forever until reset */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"url\": \"/api/models/*\", \"status\": 429, \"times\": -1}"), 0);
    for (int i = 0; i < 3; i++)
        expect_error("GET", "/api/models/org/plain", NULL, 429, "FakehubFault");
    cr_assert_eq(iwt_hub_reset(&g_hub), 0);
    cJSON *j = get_json("/api/models/org/plain", 200);
    cJSON_Delete(j);
    cJSON *log = iwt_hub_log_json(&g_hub);
    cr_expect_eq(cJSON_GetArraySize(log), 1, "reset clears the log");
    cJSON_Delete(log);
}

Test(fakehub, fault_corrupt_flips_one_byte)
{
    char loc[1024];
    cdn_url_for_big(loc, sizeof loc);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"corrupt_offset\": 150}"), 0);
    iwt_http r;
    /* a range that does not hold the offset neither gets nor uses the fault */
    const char *other[] = { "Range: bytes=1000-1999", NULL };
    cr_assert_eq(iwt_http_do(&r, "GET", loc, other, NULL), 0);
    cr_expect_eq(r.status, 206);
    cr_expect_eq(memcmp(r.body, g_big + 1000, 1000), 0);
    iwt_http_free(&r);
    cr_assert_eq(iwt_http_do(&r, "GET", loc, NULL, NULL), 0);
    cr_assert_eq(r.body_len, g_big_len);
    size_t diffs = 0, where = 0;
    for (size_t i = 0; i < g_big_len; i++)
        if (r.body[i] != g_big[i]) {
            diffs++;
            where = i;
        }
    cr_expect_eq(diffs, 1);
    cr_expect_eq(where, 150);
    iwt_http_free(&r);

    /* the offset is a FILE offset: it lands inside a range starting before it */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\": \"small.txt\", \"corrupt_offset\": 7}"), 0);
    const char *rh[] = { "Range: bytes=6-12", NULL };
    get(&r, "GET", "/org/plain/resolve/main/small.txt", rh);
    cr_expect_eq(r.status, 206);
    cr_expect_eq((unsigned char)r.body[1], (unsigned char)('a' ^ 0xff));
    cr_expect_eq(memcmp(r.body + 2, "kehub", 5), 0);
    iwt_http_free(&r);
}

Test(fakehub, fault_ignore_range_answers_200_with_the_whole_file)
{
    char loc[1024];
    cdn_url_for_big(loc, sizeof loc);
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"ignore_range\": true}"), 0);
    const char *rh[] = { "Range: bytes=100-199", NULL };
    iwt_http r;
    cr_assert_eq(iwt_http_do(&r, "GET", loc, rh, NULL), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.body_len, g_big_len);
    iwt_http_free(&r);
    cr_assert_eq(iwt_http_do(&r, "GET", loc, rh, NULL), 0);
    cr_expect_eq(r.status, 206, "used up after one request");
    cr_expect_eq(r.body_len, 100);
    iwt_http_free(&r);
    /* a HEAD does not use a body fault up */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"cut_after\": 10}"), 0);
    cr_assert_eq(iwt_http_do(&r, "HEAD", loc, NULL, NULL), 0);
    cr_expect_eq(r.status, 200);
    iwt_http_free(&r);
    iwt_http_do(&r, "GET", loc, NULL, NULL);
    cr_expect_eq(r.body_len, 10);
    iwt_http_free(&r);
    /* bad fault bodies are refused */
    cr_expect_eq(iwt_hub_fault(&g_hub, "{\"path\": \"x\"}"), -1);
    cr_expect_eq(iwt_hub_fault(&g_hub, "{\"status\": 503, \"cut_after\": 3}"), -1);
    cr_expect_eq(iwt_hub_fault(&g_hub, "{\"cut_after\": -3}"), -1);
    cr_expect_eq(iwt_hub_fault(&g_hub, "not json"), -1);
}

Test(fakehub, fault_stall_pauses_mid_body_then_completes)
{
    char loc[1024];
    cdn_url_for_big(loc, sizeof loc);
    cr_assert_eq(iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"stall_after\": 1000}"), -1,
                 "stall_after needs stall_ms");
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"stall_after\": 1000, \"stall_ms\": 1200}"), 0);
    iwt_http r;
    cr_assert_eq(iwt_http_do(&r, "GET", loc, NULL, NULL), 0);
    cr_expect_eq(r.transport_error, 0);
    cr_expect_eq(r.body_len, g_big_len);
    cr_expect_eq(memcmp(r.body, g_big, g_big_len), 0);
    cr_expect_geq(r.seconds, 1.1, "stalled transfer took %.3f s", r.seconds);
    iwt_http_free(&r);
}

Test(fakehub, fault_no_length_sends_chunked_without_content_length)
{
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\": \"config.json\", \"no_length\": true}"), 0);
    iwt_http r;
    char v[64];
    get(&r, "GET", "/org/plain/resolve/main/config.json", NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_null(iwt_http_header(&r, "Content-Length", v, sizeof v));
    cr_expect_str_eq(iwt_http_header(&r, "Transfer-Encoding", v, sizeof v), "chunked");
    cr_expect_str_eq(r.body, "{\"model_type\": \"llama\"}\n");
    iwt_http_free(&r);
    get(&r, "GET", "/org/plain/resolve/main/config.json", NULL);
    cr_expect_str_eq(iwt_http_header(&r, "Content-Length", v, sizeof v), "24");
    iwt_http_free(&r);
}

Test(fakehub, fault_rate_limit_is_measurably_slower)
{
    char loc[1024];
    cdn_url_for_big(loc, sizeof loc);
    iwt_http r;
    cr_assert_eq(iwt_http_do(&r, "GET", loc, NULL, NULL), 0);
    double fast = r.seconds;
    iwt_http_free(&r);
    /* 200000 bytes at 250000 B/s: about 0.8 s */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"rate_bps\": 250000}"), 0);
    cr_assert_eq(iwt_http_do(&r, "GET", loc, NULL, NULL), 0);
    cr_expect_eq(r.body_len, g_big_len);
    cr_expect_eq(memcmp(r.body, g_big, g_big_len), 0);
    /* the limiter never hands out byte k before k/rate seconds: >= 0.8 s */
    cr_expect_geq(r.seconds, 0.75, "rate-limited transfer took %.3f s", r.seconds);
    cr_expect_lt(fast, r.seconds, "unlimited %.3f s vs limited %.3f s", fast, r.seconds);
    iwt_http_free(&r);
}

/* A GET of url on its own thread (for answers that must overlap). */
typedef struct bg_get { pthread_t th; const char *url; iwt_http r; double end; } bg_get;
static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static void *bg_get_main(void *arg)
{
    bg_get *g = arg;
    iwt_http_do(&g->r, "GET", g->url, NULL, NULL);
    g->end = mono_now();
    return NULL;
}

Test(fakehub, fault_max_active_refuses_bodies_beyond_the_cap)
{
    char loc[1024];
    cdn_url_for_big(loc, sizeof loc);
    iwt_hub_reset(&g_hub);
    /* two slow bodies are in flight; a third request gets 503 */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"host\": \"cdn\", \"rate_bps\": 250000, \"times\": -1}"), 0);
    int id = iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"host\": \"cdn\", \"max_active\": 2, \"times\": -1}");
    cr_assert_gt(id, 0);
    bg_get g[2] = { { .url = loc }, { .url = loc } };
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&g[i].th, NULL, bg_get_main, &g[i]), 0);
    usleep(300000);
    cr_expect_eq(iwt_hub_stat(&g_hub, "active", "cdn"), 2);
    iwt_http r;
    cr_assert_eq(iwt_http_do(&r, "GET", loc, NULL, NULL), 0);
    cr_expect_eq(r.status, 503, "third body while two are in flight: HTTP %ld", r.status);
    iwt_http_free(&r);
    /* HEAD carries no body: not counted, not refused */
    cr_assert_eq(iwt_http_do(&r, "HEAD", loc, NULL, NULL), 0);
    cr_expect_eq(r.status, 200);
    iwt_http_free(&r);
    for (int i = 0; i < 2; i++) {
        pthread_join(g[i].th, NULL);
        cr_expect_eq(g[i].r.status, 200);
        cr_expect_eq(g[i].r.body_len, g_big_len);
        iwt_http_free(&g[i].r);
    }
    cr_expect_eq(iwt_hub_stat(&g_hub, "peak_active", "cdn"), 2);
    cr_expect_eq(iwt_hub_stat(&g_hub, "active", "cdn"), 0);
    /* with both done, a body is admitted again */
    cr_assert_eq(iwt_http_do(&r, "GET", loc, NULL, NULL), 0);
    cr_expect_eq(r.status, 200);
    iwt_http_free(&r);
    /* a status may replace 503; body faults go in their own fault */
    cr_expect_gt(iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"max_active\": 1, \"status\": 429, \"retry_after\": 3}"), 0);
    char url[512];
    snprintf(url, sizeof url, "%s/_control/fault", g_hub.hub_url);
    cr_assert_eq(iwt_http_do(&r, "POST", url, NULL, "{\"path\": \"big.bin\", \"max_active\": 1, \"rate_bps\": 10}"), 0);
    cr_expect_eq(r.status, 400);
    cr_expect(r.body && strstr(r.body, "max_active cannot also carry body faults"), "%s", r.body);
    iwt_http_free(&r);
}

Test(fakehub, fault_shared_rate_is_one_rate_for_all_answers)
{
    char loc[1024];
    cdn_url_for_big(loc, sizeof loc);
    /* two bodies of 200000 bytes share 250000 B/s: the later one ends after
     * about 1.6 s (each alone at that rate would take 0.8 s) */
    cr_assert_gt(iwt_hub_fault(&g_hub, "{\"path\": \"big.bin\", \"host\": \"cdn\", \"shared_rate_bps\": 250000, \"times\": -1}"), 0);
    bg_get g[2] = { { .url = loc }, { .url = loc } };
    double t0 = mono_now();
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&g[i].th, NULL, bg_get_main, &g[i]), 0);
    double last = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(g[i].th, NULL);
        cr_expect_eq(g[i].r.status, 200);
        cr_expect_eq(g[i].r.body_len, g_big_len);
        cr_expect_eq(memcmp(g[i].r.body, g_big, g_big_len), 0);
        if (g[i].end > last)
            last = g[i].end;
        iwt_http_free(&g[i].r);
    }
    cr_expect_geq(last - t0, 1.5, "400000 bytes at a shared 250000 B/s took %.2f s", last - t0);
}

Test(fakehub, log_records_auth_header_per_host)
{
    const char *tok[] = { "Authorization: Bearer hf_secret", NULL };
    char loc[1024];
    iwt_http r;
    get(&r, "GET", "/org/plain/resolve/main/big.bin", tok);
    cr_assert_eq(r.status, 302);
    cr_assert_not_null(iwt_http_header(&r, "Location", loc, sizeof loc));
    iwt_http_free(&r);
    cr_assert_eq(iwt_http_do(&r, "GET", loc, NULL, NULL), 0);      /* a good client */
    iwt_http_free(&r);
    cr_assert_eq(iwt_http_do(&r, "GET", loc, tok, NULL), 0);       /* a leaky client */
    cr_expect_eq(r.status, 200, "the CDN ignores auth");
    iwt_http_free(&r);

    cJSON *log = iwt_hub_log_json(&g_hub);
    cr_assert_eq(cJSON_GetArraySize(log), 3);
    cJSON *e0 = cJSON_GetArrayItem(log, 0), *e1 = cJSON_GetArrayItem(log, 1), *e2 = cJSON_GetArrayItem(log, 2);
    cr_expect_str_eq(cJSON_GetObjectItem(e0, "host")->valuestring, "hub");
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(e0, "auth")));
    cr_expect_eq(cJSON_GetObjectItem(e0, "status")->valueint, 302);
    cr_expect_str_eq(cJSON_GetObjectItem(e1, "host")->valuestring, "cdn");
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(e1, "auth")));
    cr_expect_str_eq(cJSON_GetObjectItem(e1, "query")->valuestring, "path=big.bin");
    cr_expect_eq(cJSON_GetObjectItem(e1, "bytes")->valuedouble, (double)g_big_len);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(e2, "auth")));
    cJSON_Delete(log);

    /* the --log file has the same records as JSON lines */
    size_t n = 0;
    char *text = iwt_slurp(g_hub.log_path, &n);
    cr_assert_not_null(text);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    cr_expect_eq(lines, 3);
    free(text);
}

static size_t sink(char *d, size_t s, size_t n, void *u)
{
    (void)d; (void)u;
    return s * n;
}

Test(fakehub, keep_alive_reuses_one_connection)
{
    CURL *c = curl_easy_init();
    char url[1024];
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    for (int i = 0; i < 3; i++) {
        snprintf(url, sizeof url, "%s/org/plain/resolve/main/%s", g_hub.hub_url, i % 2 ? "sub/a.txt" : "small.txt");
        curl_easy_setopt(c, CURLOPT_URL, url);
        cr_assert_eq(curl_easy_perform(c), CURLE_OK);
    }
    curl_easy_cleanup(c);
    cJSON *log = iwt_hub_log_json(&g_hub), *e;
    double conn = -1;
    cJSON_ArrayForEach(e, log) {
        double k = cJSON_GetObjectItem(e, "conn")->valuedouble;
        if (conn < 0)
            conn = k;
        cr_expect_eq(k, conn, "all three requests on one connection");
    }
    cr_expect_eq(cJSON_GetArraySize(log), 3);
    cJSON_Delete(log);
}

Test(fakehub, make_demo_writes_a_valid_tiny_llama)
{
    char *dir = iwt_tmpdir("demo");
    cr_assert_eq(iwt_hub_make_demo(dir), 0);
    char p[4096];
    snprintf(p, sizeof p, "%s/demo-org/tiny-llama/config.json", dir);
    char *cfg = iwt_slurp(p, NULL);
    cJSON *j = cJSON_Parse(cfg);
    cr_assert_not_null(j, "config.json parses");
    cr_expect_eq(cJSON_GetObjectItem(j, "hidden_size")->valueint, 64);
    cr_expect_eq(cJSON_GetObjectItem(j, "num_key_value_heads")->valueint, 2);
    cJSON_Delete(j);
    free(cfg);

    snprintf(p, sizeof p, "%s/demo-org/tiny-llama/model.safetensors", dir);
    size_t n = 0;
    char *st = iwt_slurp(p, &n);
    cr_assert_not_null(st);
    cr_assert_gt(n, 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | (unsigned char)st[i];
    cr_assert_leq(8 + hl, n);
    cr_expect_eq(hl % 8, 0);
    cJSON *h = cJSON_ParseWithLength(st + 8, hl);
    cr_assert_not_null(h, "safetensors header is JSON");
    uint64_t params = 0, end = 0;
    cJSON *t;
    cJSON_ArrayForEach(t, h) {
        if (strcmp(t->string, "__metadata__") == 0)
            continue;
        cr_expect_str_eq(cJSON_GetObjectItem(t, "dtype")->valuestring, "F32");
        uint64_t count = 1;
        cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItem(t, "shape"))
            count *= (uint64_t)d->valuedouble;
        cJSON *off = cJSON_GetObjectItem(t, "data_offsets");
        uint64_t a = (uint64_t)cJSON_GetArrayItem(off, 0)->valuedouble;
        uint64_t b = (uint64_t)cJSON_GetArrayItem(off, 1)->valuedouble;
        cr_expect_eq(b - a, count * 4, "%s offsets match its shape", t->string);
        cr_expect_eq(a, end, "%s is contiguous", t->string);
        end = b;
        params += count;
    }
    cJSON *k = cJSON_GetObjectItem(h, "model.layers.1.self_attn.k_proj.weight");
    cr_assert_not_null(k);
    cr_expect_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(k, "shape"), 0)->valueint, 32);
    cJSON *dp = cJSON_GetObjectItem(h, "model.layers.0.mlp.down_proj.weight");
    cr_expect_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(dp, "shape"), 1)->valueint, 128);
    cr_expect_eq(params, 106816);
    cr_expect_eq(8 + hl + end, n, "data fills the file exactly");
    cJSON_Delete(h);

    /* deterministic: a second run writes the same bytes */
    char *dir2 = iwt_tmpdir("demo2");
    cr_assert_eq(iwt_hub_make_demo(dir2), 0);
    snprintf(p, sizeof p, "%s/demo-org/tiny-llama/model.safetensors", dir2);
    size_t n2 = 0;
    char *st2 = iwt_slurp(p, &n2);
    cr_expect(n2 == n && memcmp(st, st2, n) == 0);
    free(st);
    free(st2);
    iwt_rm_rf(dir);
    iwt_rm_rf(dir2);
    free(dir);
    free(dir2);
}

Test(fakehub, command_line_errors_are_clear)
{
    char cmd[8192], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "'%s'", iwt_fakehub());
    cr_expect_eq(iwt_run(cmd, &out, &err), 2, "no --root is a usage error");
    cr_expect_not_null(strstr(err, "--root"), "%s", err);
    free(out); free(err);
    snprintf(cmd, sizeof cmd, "'%s' --root '%s' --page-size 0", iwt_fakehub(), g_root);
    cr_expect_eq(iwt_run(cmd, &out, &err), 2);
    free(out); free(err);
    snprintf(cmd, sizeof cmd, "'%s' --root '%s/nope'", iwt_fakehub(), g_root);
    cr_expect_eq(iwt_run(cmd, &out, &err), 1);
    cr_expect_not_null(strstr(err, "not a directory"), "%s", err);
    free(out); free(err);
    /* a CDN address that is not on this machine cannot be bound */
    snprintf(cmd, sizeof cmd, "'%s' --root '%s' --cdn-host 192.0.2.1", iwt_fakehub(), g_root);
    cr_expect_eq(iwt_run(cmd, &out, &err), 1);
    cr_expect_not_null(strstr(err, "cannot listen on CDN address 192.0.2.1"), "%s", err);
    free(out); free(err);
}

Test(fakehub, private_repo_and_bad_metadata)
{
    puts_file("org/priv/a.txt", "a\n");
    puts_file("org/priv.hub.json", "{\"private\": true, \"tokens\": [\"hf_p\"]}");
    expect_error("GET", "/api/models/org/priv", NULL, 401, "RepoNotFound");
    const char *good[] = { "Authorization: Bearer hf_p", NULL };
    iwt_http r;
    get(&r, "GET", "/org/priv/resolve/main/a.txt", good);
    cr_expect_eq(r.status, 200);
    iwt_http_free(&r);
    puts_file("org/broken/a.txt", "a\n");
    puts_file("org/broken.hub.json", "{not json");
    expect_error("GET", "/api/models/org/broken", NULL, 500, NULL);
    /* files added while fakehub runs are served (listings are not cached) */
    puts_file("org/plain/new.txt", "new\n");
    get(&r, "GET", "/org/plain/resolve/main/new.txt", NULL);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "new\n");
    iwt_http_free(&r);
    /* a file rewritten in place (same size) gets a new ETag: hashes are
     * cached by inode, size AND mtime */
    char before[128], after[128], want[41];
    get(&r, "HEAD", "/org/plain/resolve/main/small.txt", NULL);
    cr_assert_not_null(iwt_http_header(&r, "ETag", before, sizeof before));
    iwt_http_free(&r);
    puts_file("org/plain/small.txt", "HELLO FAKEHUB\n");
    get(&r, "HEAD", "/org/plain/resolve/main/small.txt", NULL);
    cr_assert_not_null(iwt_http_header(&r, "ETag", after, sizeof after));
    iwt_http_free(&r);
    git_blob_hex("HELLO FAKEHUB\n", 14, want);
    cr_expect_str_neq(before, after);
    cr_expect_eq(strncmp(after + 1, want, 40), 0, "%s vs %s", after, want);
}
