/* Registry store: load/validate/merge, locking, atomicity, preservation. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iwtest.h"
#include "iwdl/registry.h"
#include "iwdl/schema.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "registry/jscan.h"
#include "registry/pyjson.h"

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static cJSON *parse_file(const char *path)
{
    size_t len;
    char *t = iwt_slurp(path, &len);
    if (!t)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(t, len);
    free(t);
    return j;
}

static int set_meta(cJSON *e, bool is_new, void *ctx)
{
    cJSON *m = cJSON_GetObjectItem(e, "metadata");
    if (!m)
        m = cJSON_AddObjectToObject(e, "metadata");
    cJSON_DeleteItemFromObject(m, "touched");
    cJSON_AddStringToObject(m, "touched", (const char *)ctx);
    return 1;
}

static int no_change(cJSON *e, bool is_new, void *ctx) { return 0; }

Test(store, round_trip_preserves_original_and_unknown_keys)
{
    char *dir = iwt_tmpdir("reg-rt");
    char *disc = path_in(dir, "model_registry.discovered.json");
    size_t len;
    char *orig = iwt_slurp(iwt_fixture("registry/original.json"), &len);
    cr_assert_not_null(orig);
    cr_assert_eq(iwt_write(disc, orig, len), 0);
    cJSON *before = cJSON_Parse(orig);

    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    cr_assert_eq(cJSON_GetArraySize(iw_registry_entries(r, IW_REG_MERGED)), 3);
    /* touch one entry; every other byte of meaning must survive */
    cr_assert_eq(iw_registry_upsert(r, "vlm-caption", set_meta, "yes"), 1, "%s", iw_error_last());
    cJSON *after = parse_file(disc);
    cr_assert_not_null(after);
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetArrayItem(after, 0), "metadata"), "touched");
    cr_assert(cJSON_Compare(before, after, 1), "discovered layer lost data");
    char *mp = path_in(dir, "model_registry.json");
    cJSON *merged = parse_file(mp);
    free(mp);
    cr_assert_eq(cJSON_GetArraySize(merged), 3);
    cJSON *q = cJSON_GetArrayItem(after, 2);
    cr_assert_not_null(cJSON_GetObjectItem(q, "x_future_key"));
    cr_assert_str_eq(iw_json_get_str(q, "served_model_id"), "None");
    /* no-op upsert writes nothing */
    cr_assert_eq(iw_registry_upsert(r, "vlm-caption", no_change, NULL), 0);
    iw_registry_close(r);
    cJSON_Delete(before); cJSON_Delete(after); cJSON_Delete(merged);
    free(orig); free(disc);
    iwt_rm_rf(dir);
    free(dir);
}

Test(store, merge_curated_wins_nulls_skipped)
{
    cJSON *d = cJSON_Parse("[{\"name\":\"a\",\"backend\":\"vllm\",\"backend_config\":{\"port\":1,\"extra_args\":[\"x\"]},"
                           "\"license\":\"mit\",\"roles\":[\"chat\"]},{\"name\":\"b\",\"k\":1}]");
    cJSON *c = cJSON_Parse("[{\"name\":\"a\",\"backend\":\"ollama\",\"backend_config\":{\"port\":2},"
                           "\"license\":null,\"roles\":[]},{\"name\":\"c\",\"z\":null,\"y\":2}]");
    cJSON *m = iw_registry_merge(d, c);
    cr_assert_eq(cJSON_GetArraySize(m), 3);
    cJSON *a = cJSON_GetArrayItem(m, 0);
    cr_assert_str_eq(iw_json_get_str(a, "backend"), "ollama", "curated wins");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "backend_config"), "port")->valueint, 2);
    cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "backend_config"), "extra_args"), "deep merge");
    cr_assert_str_eq(iw_json_get_str(a, "license"), "mit", "curated null skipped");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(a, "roles")), 0, "curated empty list is a value");
    cJSON *cc = cJSON_GetArrayItem(m, 2);
    cr_assert_str_eq(iw_json_get_str(cc, "name"), "c");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(cc, "z")), "a curated-only entry is taken as it is (the original's merge)");
    cJSON_Delete(d); cJSON_Delete(c); cJSON_Delete(m);
}

/* metadata.architecture merges like every other object (the original's
 * _merge_entry_dicts): curated keys win over discovered's, so the merged
 * view is what the original's GUI reads from its snapshot; migrate and
 * reconcile write the curated record where it exists (issue 18 item 5). */
Test(store, merge_architecture_like_the_original)
{
    cJSON *d = cJSON_Parse("[{\"name\":\"g\",\"metadata\":{\"architecture\":{\"head_dim\":64,\"num_layers\":24,"
                           "\"sources\":[\"config:/w/config.json\"],\"collected_at\":\"2026-01-01T00:00:00+00:00\"}}}]");
    cJSON *c = cJSON_Parse("[{\"name\":\"g\",\"metadata\":{\"registry_layer\":\"curated\",\"architecture\":{\"head_dim\":45,"
                           "\"context_length\":null,\"my_note\":\"hand\"}}}]");
    cJSON *m = iw_registry_merge(d, c);
    cr_assert_not_null(m);
    cJSON *g = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "metadata"), "architecture");
    cr_assert_eq(cJSON_GetObjectItem(g, "head_dim")->valueint, 45, "curated wins, as in the original's merge");
    cr_assert_eq(cJSON_GetObjectItem(g, "num_layers")->valueint, 24);
    cr_assert_null(cJSON_GetObjectItem(g, "context_length"), "curated null skipped");
    cr_assert_str_eq(iw_json_get_str(g, "my_note"), "hand");
    cJSON_Delete(d); cJSON_Delete(c); cJSON_Delete(m);
}

/* Write `text` as the discovered layer; every operation must be refused and
 * the bytes left identical. */
static void check_refused(const char *text, const char *want)
{
    char *dir = iwt_tmpdir("reg-bad");
    char *disc = path_in(dir, "model_registry.discovered.json");
    cr_assert_eq(iwt_write(disc, text, strlen(text)), 0);
    iw_registry *r = NULL;
    int rc = iw_registry_open(&r, dir);
    cr_assert_lt(rc, 0, "bad registry accepted: %s", text);
    cr_assert(strstr(iw_error_last(), "model_registry.discovered.json:"), "%s", iw_error_last());
    cr_assert(strstr(iw_error_last(), want), "error '%s' lacks '%s'", iw_error_last(), want);
    cr_assert_null(strchr(iw_error_last(), '\n'));
    size_t len;
    char *now = iwt_slurp(disc, &len);
    cr_assert_eq(len, strlen(text));
    cr_assert_eq(memcmp(now, text, len), 0);
    free(now);
    free(disc);
    iwt_rm_rf(dir);
    free(dir);
}

Test(store, refuses_bad_files_untouched)
{
    check_refused("[{\"name\":\"a\"},\n {\"name\":", "truncated");
    check_refused("[{\"name\":\"a\"} garbage", ":1:");
    check_refused("[{\"name\":\"a\"},\n  {\"name\":\"b\"},\n  {\"name\":\"a\"}]", ":3:3: duplicate entry name 'a'");
    check_refused("{\"name\":\"a\"}", "expected a JSON array");
    check_refused("[{\"name\":\"a\"},\n 42]", ":2:2: entry is not an object");
    check_refused("[{\"name\":7}]", "no string \"name\"");
    check_refused("", "truncated");
    check_refused("[{\"name\":\"a\"},\n {\"name\":\"a\\u0000b\"}]", ":2:2: entry name contains a NUL character");
}

Test(store, update_refused_when_file_goes_bad_under_lock)
{
    char *dir = iwt_tmpdir("reg-bad2");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cr_assert_eq(iw_registry_upsert(r, "a", set_meta, "1"), 1, "%s", iw_error_last());
    char *disc = path_in(dir, "model_registry.discovered.json");
    const char *bad = "[{\"name\":\"a\"},{\"name\":\"a\"}]";
    cr_assert_eq(iwt_write(disc, bad, strlen(bad)), 0);
    cr_assert_lt(iw_registry_upsert(r, "b", set_meta, "1"), 0);
    size_t len;
    char *now = iwt_slurp(disc, &len);
    cr_assert_str_eq(now, bad);
    free(now);
    iw_registry_close(r);
    free(disc);
    iwt_rm_rf(dir);
    free(dir);
}

Test(store, backups_bounded_and_remove)
{
    char *dir = iwt_tmpdir("reg-bak");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cr_assert_eq(iw_registry_upsert(r, "a", set_meta, "1"), 1);
    {
        /* the first write leaves all three files, the curated one empty */
        char *cp = path_in(dir, "model_registry.curated.json");
        char *ctext = iwt_slurp(cp, NULL);
        cr_assert_not_null(ctext);
        cr_assert_str_eq(ctext, "[]\n");
        free(ctext);
        free(cp);
    }
    /* 7 older backups of the discovered layer and 7 of the snapshot, at
     * distinct timestamps, plus files that only look like backups */
    const char *stems[2] = { "model_registry.discovered", "model_registry" };
    for (int st = 0; st < 2; st++)
        for (int k = 1; k <= 7; k++) {
            char n[128];
            snprintf(n, sizeof n, "%s.2020010%d-00000%d.iwdl.bak.json", stems[st], k, k);
            char *p = path_in(dir, n);
            cr_assert_eq(iwt_write(p, "[]\n", 3), 0);
            free(p);
            /* the original's own backups (cli.py): never pruned by us */
            snprintf(n, sizeof n, "%s.2019010%d-00000%d.bak.json", stems[st], k, k);
            p = path_in(dir, n);
            cr_assert_eq(iwt_write(p, "[]\n", 3), 0);
            free(p);
        }
    const char *lookalikes[] = { "model_registry.discovered.backup.pre_split.json",
                                 "model_registry.discovered.20200101-000000.bak.json.orig",
                                 "other.20200101-000000.bak.json" };
    for (size_t k = 0; k < 3; k++) {
        char *p = path_in(dir, lookalikes[k]);
        cr_assert_eq(iwt_write(p, "x", 1), 0);
        free(p);
    }
    cr_assert_eq(iw_registry_upsert(r, "a", set_meta, "2"), 1);
    /* exactly the newest IW_REGISTRY_BACKUPS remain per file: this write's
     * backup (named model_registry.discovered.YYYYmmdd-HHMMSS.iwdl.bak.json)
     * and the 4 newest seeded ones; the original's *.bak.json all stay */
    for (int st = 0; st < 2; st++) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int nbak = 0, seeded_kept = 0, fresh = 0, origs = 0;
        size_t sl = strlen(stems[st]);
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (len == sl + 1 + 15 + 9 && strncmp(de->d_name, stems[st], sl) == 0 &&
                strncmp(de->d_name + sl + 1, "2019", 4) == 0)
                origs++;
            if (len != sl + 1 + 15 + 14 || strncmp(de->d_name, stems[st], sl) != 0 || de->d_name[sl] != '.' ||
                strcmp(de->d_name + len - 14, ".iwdl.bak.json") != 0)
                continue;
            nbak++;
            if (strncmp(de->d_name + sl + 1, "2020", 4) == 0) {
                int k = de->d_name[sl + 8] - '0';
                cr_assert_geq(k, 4, "older backup %s kept over a newer one", de->d_name);
                seeded_kept++;
            } else {
                fresh++;
            }
        }
        closedir(d);
        cr_assert_eq(nbak, IW_REGISTRY_BACKUPS, "%s: %d backups kept", stems[st], nbak);
        cr_assert_eq(fresh, 1, "%s: this write's backup missing", stems[st]);
        cr_assert_eq(seeded_kept, IW_REGISTRY_BACKUPS - 1);
        cr_assert_eq(origs, 7, "%s: the original's backups were pruned (%d of 7 left)", stems[st], origs);
    }
    for (size_t k = 0; k < 3; k++) {
        char *p = path_in(dir, lookalikes[k]);
        cr_assert(access(p, F_OK) == 0, "%s was pruned", lookalikes[k]);
        free(p);
    }
    /* a curated entry is only removed when asked */
    char *cur = path_in(dir, "model_registry.curated.json");
    const char *ct = "[{\"name\":\"a\",\"roles\":[\"chat\"]},{\"name\":\"keep\"}]";
    cr_assert_eq(iwt_write(cur, ct, strlen(ct)), 0);
    cr_assert_eq(iw_registry_remove(r, "a", false), 0, "%s", iw_error_last());
    cr_assert_not_null(iw_registry_get(r, "a"), "still curated");
    cr_assert_null(iw_registry_get_layer(r, IW_REG_DISCOVERED, "a"));
    char *now = iwt_slurp(cur, NULL);
    cr_assert_str_eq(now, ct, "curated untouched");
    free(now);
    cr_assert_eq(iw_registry_remove(r, "a", true), 0, "%s", iw_error_last());
    cr_assert_null(iw_registry_get(r, "a"));
    cr_assert_not_null(iw_registry_get(r, "keep"));
    cr_assert_eq(iw_registry_remove(r, "nope", true), IW_ENOTFOUND);
    iw_registry_close(r);
    free(cur);
    iwt_rm_rf(dir);
    free(dir);
}

Test(names, slugs_in_the_original_style)
{
    char *s;
    cr_assert_eq(iw_registry_slug("Qwen/Qwen2.5-VL-7B-Instruct-AWQ", "AWQ", IW_UNKNOWN, &s), 0);
    cr_assert_str_eq(s, "qwen2.5-vl-7b-instruct_(AWQ)");
    free(s);
    cr_assert_eq(iw_registry_slug("qwen3", "Q4_K_M", 8190735360LL, &s), 0);
    cr_assert_str_eq(s, "qwen3_8b_(Q4_K_M)");
    free(s);
    cr_assert_eq(iw_registry_slug("someone/gpt-oss-abliterated-20.9B-GGUF", "F16", 20900000000LL, &s), 0);
    cr_assert_str_eq(s, "gpt-oss-abliterated-20.9b_(F16)", "size kept once, not 9b");
    free(s);
    cr_assert_eq(iw_registry_slug("someone/gpt-oss-abliterated", "F16", 20914757184LL, &s), 0);
    cr_assert_str_eq(s, "gpt-oss-abliterated_20.9b_(F16)");
    free(s);
    cr_assert_eq(iw_registry_slug("unsloth/Qwen3-8B-GGUF", "Q4_K_M", IW_UNKNOWN, &s), 0);
    cr_assert_str_eq(s, "qwen3-8b_(Q4_K_M)");
    free(s);
    cr_assert_eq(iw_registry_slug("org/Model_Q8_0", NULL, IW_UNKNOWN, &s), 0);
    cr_assert_str_eq(s, "model_(Q8_0)");
    free(s);
    cr_assert_eq(iw_registry_slug("org/plain-model", NULL, IW_UNKNOWN, &s), 0);
    cr_assert_str_eq(s, "plain-model");
    free(s);
    cr_assert_eq(iw_registry_slug("Qwen3-8B-Q4_K_M", "Q4_K_M", IW_UNKNOWN, &s), 0);
    cr_assert_str_eq(s, "qwen3-8b_(Q4_K_M)");
    free(s);
    cr_assert_eq(iw_registry_slug("some-model.IQ3_XXS", NULL, IW_UNKNOWN, &s), 0);
    cr_assert_str_eq(s, "some-model_(IQ3_XXS)", "quant read from the file name");
    free(s);
    cr_assert_eq(iw_registry_slug("Meta-Llama-3.1-8B-Instruct", "BF16", IW_UNKNOWN, &s), 0);
    cr_assert_str_eq(s, "meta-llama-3.1-8b-instruct_(BF16)");
    free(s);
    cr_assert_eq(iw_registry_slug("stories", "F32", 292800, &s), 0);
    cr_assert_str_eq(s, "stories_293k_(F32)");
    free(s);
    cr_assert_eq(iw_registry_slug("stories-260K", "F32", 292800, &s), 0);
    cr_assert_str_eq(s, "stories-260k_(F32)", "a 260K token is a size");
    free(s);
    cr_assert_lt(iw_registry_slug("", NULL, IW_UNKNOWN, &s), 0);
    cr_assert_eq(iw_registry_default_port("vllm"), 24001);
    cr_assert_eq(iw_registry_default_port("ollama"), 11434);
    cr_assert_eq(iw_registry_default_port("llama.cpp"), 8000);
}

Test(store, corrupt_snapshot_refused_on_write)
{
    char *dir = iwt_tmpdir("reg-snap");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cr_assert_eq(iw_registry_upsert(r, "a", set_meta, "1"), 1);
    iw_registry_close(r);
    char *snap = path_in(dir, "model_registry.json");
    const char *bad = "[{\"name\":\"a\"}";
    cr_assert_eq(iwt_write(snap, bad, strlen(bad)), 0);
    /* reading does not need the derived snapshot */
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    cr_assert_not_null(iw_registry_get(r, "a"));
    /* writing would replace it: refused, bytes kept */
    cr_assert_lt(iw_registry_upsert(r, "b", set_meta, "2"), 0);
    cr_assert(strstr(iw_error_last(), "model_registry.json:1:"), "%s", iw_error_last());
    char *now = iwt_slurp(snap, NULL);
    cr_assert_str_eq(now, bad);
    cr_assert_null(iw_registry_get_layer(r, IW_REG_DISCOVERED, "b"), "rolled back");
    free(now);
    free(snap);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

/* The writer skips re-validating a snapshot it wrote itself (its signature
 * is recorded in the lock file).  An edit in place that keeps the size and
 * inode must still be seen (mtime changes) and refused. */
Test(store, snapshot_edited_in_place_same_size_refused)
{
    char *dir = iwt_tmpdir("reg-snap2");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cr_assert_eq(iw_registry_upsert(r, "a", set_meta, "1"), 1);
    char *snap = path_in(dir, "model_registry.json");
    size_t len = 0;
    char *before = iwt_slurp(snap, &len);
    cr_assert(before && len > 2);
    usleep(20000);   /* past the kernel's coarse timestamp tick */
    int fd = open(snap, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, "{", 1, 0), 1);   /* '[' -> '{': same size, same inode, invalid */
    close(fd);
    cr_assert_lt(iw_registry_upsert(r, "b", set_meta, "2"), 0, "an edited snapshot was overwritten");
    cr_assert(strstr(iw_error_last(), "model_registry.json"), "%s", iw_error_last());
    size_t len2 = 0;
    char *after = iwt_slurp(snap, &len2);
    cr_assert_eq(len2, len);
    cr_assert_eq(after[0], '{', "snapshot bytes changed");
    free(before);
    free(after);
    free(snap);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

/* Span of entry `name` in text (via the scanner). */
static void span_of(const char *text, const char *name, size_t *start, size_t *end)
{
    iw_jscan sc;
    cr_assert_eq(iw_jscan_registry(text, strlen(text), "t", &sc), 0, "%s", iw_error_last());
    bool found = false;
    for (size_t i = 0; i < sc.n; i++)
        if (strcmp(sc.ents[i].name, name) == 0) {
            *start = sc.ents[i].start;
            *end = sc.ents[i].end;
            found = true;
        }
    iw_jscan_free(&sc);
    cr_assert(found, "%s not in the text", name);
}

static char *slurp_in(const char *dir, const char *name)
{
    char *p = path_in(dir, name);
    char *t = iwt_slurp(p, NULL);
    cr_assert_not_null(t, "%s", p);
    free(p);
    return t;
}

/* text == before[0, a) + <anything> + before[b, end) */
static void same_outside(const char *before, size_t a, size_t b, const char *text, const char *what)
{
    size_t bl = strlen(before), tl = strlen(text);
    cr_assert_geq(tl, a + (bl - b), "%s: too short", what);
    cr_assert_eq(memcmp(text, before, a), 0, "%s: bytes before the change differ", what);
    cr_assert_eq(memcmp(text + tl - (bl - b), before + b, bl - b), 0, "%s: bytes after the change differ", what);
}

/* A hand-formatted registry: an upsert, an addition and a removal rewrite
 * only the entry concerned; every other byte (layout, number spellings,
 * escapes, key order) stays as it was. */
Test(store, untouched_entries_byte_identical)
{
    static const char *HAND =
        "[\n"
        "    {\"name\": \"a\",   \"n\": 1.0e3, \"s\": \"caf\\u00e9\", \"big\": 12345678901234567890},\n"
        "  {\n"
        "      \"name\":\"b\", \"x\" : [ 1,2 ,3 ], \"metadata\": {}\n"
        "  } ,\n"
        "\t{\"name\": \"c\", \"f\": -0.50E-2}\n"
        " ,{\"name\":\"d\"}\n"
        "]";
    char *dir = iwt_tmpdir("reg-bytes");
    char *disc = path_in(dir, "model_registry.discovered.json");
    cr_assert_eq(iwt_write(disc, HAND, strlen(HAND)), 0);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    size_t a, b;
    /* change b */
    span_of(HAND, "b", &a, &b);
    cr_assert_eq(iw_registry_upsert(r, "b", set_meta, "1"), 1, "%s", iw_error_last());
    char *t1 = slurp_in(dir, "model_registry.discovered.json");
    same_outside(HAND, a, b, t1, "upsert");
    cr_assert_not_null(strstr(t1, "\"touched\": \"1\""), "%s", t1);
    char *snap = slurp_in(dir, "model_registry.json");
    cJSON *sj = cJSON_Parse(snap), *tj = cJSON_Parse(t1);
    cr_assert(cJSON_Compare(sj, tj, 1), "no curated entries: the snapshot holds the discovered entries");
    cJSON_Delete(sj); cJSON_Delete(tj);
    free(snap);
    /* add e: appended after d, the rest as it was */
    size_t dstart, dend;
    span_of(t1, "d", &dstart, &dend);
    cr_assert_eq(iw_registry_upsert(r, "e", set_meta, "2"), 1, "%s", iw_error_last());
    char *t2 = slurp_in(dir, "model_registry.discovered.json");
    same_outside(t1, dend, dend, t2, "add");
    /* remove c: its bytes and the separator after it go, nothing else */
    size_t cs, ce;
    span_of(t2, "c", &cs, &ce);
    span_of(t2, "d", &dstart, &dend);
    cr_assert_eq(iw_registry_remove(r, "c", false), 0, "%s", iw_error_last());
    char *t3 = slurp_in(dir, "model_registry.discovered.json");
    same_outside(t2, cs, dstart, t3, "remove");
    cr_assert_eq(strlen(t3), strlen(t2) - (dstart - cs), "remove changed more than entry c");
    /* every version is still what a reader expects */
    cJSON *j = cJSON_Parse(t3);
    cr_assert_eq(cJSON_GetArraySize(j), 4);
    cr_assert_str_eq(iw_json_get_str(cJSON_GetArrayItem(j, 3), "name"), "e");
    cJSON_Delete(j);
    /* a hand-edited curated file loses only the entry removed by name */
    static const char *CUR = "[ {\"name\": \"a\", \"roles\": [\"chat\"]},\n  {\"name\":\"keep\",  \"n\": 1E2} ]\n";
    char *cur = path_in(dir, "model_registry.curated.json");
    cr_assert_eq(iwt_write(cur, CUR, strlen(CUR)), 0);
    cr_assert_eq(iw_registry_remove(r, "a", true), 0, "%s", iw_error_last());
    char *c1 = iwt_slurp(cur, NULL);
    cr_assert_str_eq(c1, "[ {\"name\":\"keep\",  \"n\": 1E2} ]\n");
    free(c1);
    iw_registry_close(r);
    free(t1); free(t2); free(t3); free(cur); free(disc);
    iwt_rm_rf(dir);
    free(dir);
}

static int set_big(cJSON *e, bool is_new, void *ctx)
{
    cJSON_DeleteItemFromObject(e, "x");
    cJSON *x = cJSON_AddObjectToObject(e, "x");
    cJSON_AddStringToObject(x, "s", (const char *)ctx);
    cJSON *arr = cJSON_AddArrayToObject(x, "list");
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(1.5));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNullToObject(o, "n");
    cJSON_AddItemToArray(arr, o);
    cJSON_AddItemToObject(x, "empty", cJSON_CreateObject());
    return 1;
}

/* Files this tool wrote keep exactly the layout a whole-array print gives,
 * whether written by the entry path (upsert) or the whole path (update),
 * and the snapshot is the merged print. */
Test(store, entry_writes_match_whole_print)
{
    char *dir = iwt_tmpdir("reg-print");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    const char *names[] = { "n0", "n1", "n2", "n3", "n1" };
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(iw_registry_upsert(r, names[i], set_big, i == 4 ? "again" : "first"), 1, "%s", iw_error_last());
        char *t = slurp_in(dir, "model_registry.discovered.json");
        cJSON *j = cJSON_Parse(t);
        char *want = iw_json_print(j);
        cr_assert_str_eq(t, want, "entry-path layout differs from the whole print after %s", names[i]);
        free(want);
        cJSON_Delete(j);
        free(t);
    }
    /* curated entries: the snapshot is the original's print of the merge */
    char *cur = path_in(dir, "model_registry.curated.json");
    const char *ct = "[{\"name\":\"n2\",\"roles\":[\"chat\"],\"x\":{\"s\":\"curated\"}},{\"name\":\"only\",\"z\":null,\"y\":2}]";
    cr_assert_eq(iwt_write(cur, ct, strlen(ct)), 0);
    cr_assert_eq(iw_registry_upsert(r, "n3", set_big, "third"), 1, "%s", iw_error_last());
    char *dt = slurp_in(dir, "model_registry.discovered.json"), *st = slurp_in(dir, "model_registry.json");
    cJSON *d = cJSON_Parse(dt), *c = cJSON_Parse(ct), *m = iw_registry_merge(d, c);
    iw_buf pb = IW_BUF_INIT(IW_BUF_UNCAPPED);
    cr_assert_eq(iw_pyjson_snapshot(dt, strlen(dt), ct, strlen(ct), &pb), 0);
    char *want = iw_buf_detach(&pb);
    cr_assert_str_eq(st, want, "snapshot differs from the merged print");
    cJSON *sj = cJSON_Parse(st);
    cr_assert(cJSON_Compare(sj, m, 1), "snapshot is not the merge");
    cJSON_Delete(sj);
    cr_assert_eq(cJSON_GetArraySize(m), 5);
    /* the in-memory merged view agrees with the file */
    const cJSON *g = iw_registry_get(r, "n2");
    cr_assert_str_eq(iw_json_get_str(cJSON_GetObjectItem(g, "x"), "s"), "curated");
    cr_assert_not_null(cJSON_GetObjectItem(g, "roles"));
    cr_assert(cJSON_Compare(iw_registry_entries(r, IW_REG_MERGED), m, 1));
    free(want); free(dt); free(st);
    cJSON_Delete(d); cJSON_Delete(c); cJSON_Delete(m);
    iw_registry_close(r);
    free(cur);
    iwt_rm_rf(dir);
    free(dir);
}

/* A registry written by the original (only model_registry.json) is read
 * as one layer; the first write splits it as the original does
 * (tests/registry/test_interop.c checks the bytes against its split). */
Test(store, legacy_single_file)
{
    char *dir = iwt_tmpdir("reg-legacy");
    char *snap = path_in(dir, "model_registry.json");
    const char *old = "[\n  {\"name\": \"x\", \"backend\": \"vllm\"},\n  {\"name\": \"y\", \"backend\": \"ollama\"}\n]";
    cr_assert_eq(iwt_write(snap, old, strlen(old)), 0);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    cr_assert_str_eq(iw_json_get_str(iw_registry_get(r, "x"), "backend"), "vllm");
    cr_assert_eq(iw_registry_upsert(r, "y", set_meta, "1"), 1, "%s", iw_error_last());
    char *c = slurp_in(dir, "model_registry.curated.json");
    char *d = slurp_in(dir, "model_registry.discovered.json");
    cr_assert(strstr(c, "\"x\"") && !strstr(c, "\"y\""), "%s", c);
    cr_assert(strstr(d, "\"y\"") && strstr(d, "touched") && !strstr(d, "\"x\""), "%s", d);
    char *bk = slurp_in(dir, "model_registry.backup.pre_split.json");
    cr_assert_str_eq(bk, old);
    cr_assert_str_eq(iw_json_get_str(cJSON_GetObjectItem(iw_registry_get(r, "y"), "metadata"), "touched"), "1");
    free(c); free(d); free(bk); free(snap);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

/* Symlinks in the registry folder are refused, not written through or
 * replaced: the lock file (its target was overwritten), a registry file
 * (it was replaced by a regular file), a dangling one (it counted as an
 * empty layer, so the next write dropped its entries). */
Test(store, symlinks_refused_untouched)
{
    char *dir = iwt_tmpdir("reg-link");
    char *victim = path_in(dir, "victim.txt"), *lock = path_in(dir, "reg/model_registry.lock");
    char *real = path_in(dir, "real.json"), *disc = path_in(dir, "reg/model_registry.discovered.json");
    char *regdir = path_in(dir, "reg");
    cr_assert_eq(iwt_write(victim, "precious", 8), 0);
    cr_assert_eq(iwt_write(real, "[{\"name\":\"kept\"}]", 17), 0);
    /* the lock file */
    cr_assert_eq(mkdir(regdir, 0755), 0);
    cr_assert_eq(symlink(victim, lock), 0);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, regdir), 0, "%s", iw_error_last());
    cr_assert_lt(iw_registry_upsert(r, "a", set_meta, "1"), 0, "a write through a symlinked lock file");
    cr_assert(strstr(iw_error_last(), "model_registry.lock") && strstr(iw_error_last(), "symbolic link"), "%s",
              iw_error_last());
    char *v = iwt_slurp(victim, NULL);
    cr_assert_str_eq(v, "precious", "the lock's target was overwritten");
    free(v);
    iw_registry_close(r);
    unlink(lock);
    /* a registry file */
    cr_assert_eq(symlink(real, disc), 0);
    cr_assert_lt(iw_registry_open(&r, regdir), 0, "a symlinked registry file was read");
    cr_assert(strstr(iw_error_last(), "model_registry.discovered.json") && strstr(iw_error_last(), "symbolic link"),
              "%s", iw_error_last());
    struct stat st;
    cr_assert(lstat(disc, &st) == 0 && S_ISLNK(st.st_mode), "the symlink was replaced");
    v = iwt_slurp(real, NULL);
    cr_assert_str_eq(v, "[{\"name\":\"kept\"}]");
    free(v);
    /* a dangling one */
    unlink(disc);
    cr_assert_eq(symlink("/nonexistent/registry.json", disc), 0);
    cr_assert_lt(iw_registry_open(&r, regdir), 0, "a dangling registry link counted as an empty layer");
    cr_assert(lstat(disc, &st) == 0 && S_ISLNK(st.st_mode), "the dangling symlink was replaced");
    iwt_rm_rf(dir);
    free(victim); free(lock); free(real); free(disc); free(regdir);
    free(dir);
}

/* A registry file that is not JSON (a key, a token) is never quoted in the
 * error, which serve sends in its 500 body. */
Test(store, errors_never_quote_a_non_json_file)
{
    char *dir = iwt_tmpdir("reg-quote");
    char *disc = path_in(dir, "model_registry.discovered.json");
    const char *texts[] = {"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n",
                           "[{\"name\":\"a\"}, SECRETTOKEN123]", "[{\"name\":\"a\"}] SECRETTOKEN123"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        cr_assert_eq(iwt_write(disc, texts[i], strlen(texts[i])), 0);
        iw_registry *r;
        cr_assert_lt(iw_registry_open(&r, dir), 0);
        const char *e = iw_error_last();
        cr_expect(!strstr(e, "BEGIN") && !strstr(e, "OPENSSH") && !strstr(e, "SECRET") && !strstr(e, "b3Bl"),
                  "the error quotes the file: %s", e);
        cr_expect(strstr(e, "model_registry.discovered.json:"), "%s", e);
    }
    iwt_rm_rf(dir);
    free(disc);
    free(dir);
}

static int set_one(cJSON *e, bool is_new, void *ctx)
{
    (void)is_new; (void)ctx;
    cJSON_SetNumberValue(cJSON_GetObjectItem(e, "x_one"), 2);
    return 1;
}

static int touch_all(cJSON *disc, cJSON *cur, void *ctx)
{
    (void)cur;
    cJSON *e;
    cJSON_ArrayForEach(e, disc) set_meta(e, false, ctx);
    return 1 << IW_REG_DISCOVERED;
}

/* Numbers of keys this tool does not own keep their spelling when their
 * entry is rewritten (a double would turn 1e99999 into null and round
 * 2^53 + 1), through the entry path and the whole-array path; the merged
 * snapshot spells them as Python would unless that changes the number; a
 * value the tool changes is printed anew. */
Test(store, untouched_numbers_keep_their_tokens)
{
    static const char *DISC =
        "[{\"name\": \"a\", \"x_inf\": 1e99999, \"x_big\": 12345678901234567890123, \"x_2p53\": 9007199254740993,"
        " \"x_exp\": 1.5E3, \"x_one\": 1.0, \"x_neg0\": -0, \"x_tiny\": 1e-400,"
        " \"nested\": {\"arr\": [-1e400, 18446744073709551617, {\"deep\": 0.10000000000000000001}]},"
        " \"metadata\": {\"n\": 2.50}},\n"
        " {\"name\": \"b\", \"x_inf\": 1e99999}]";
    static const char *CUR = "[{\"name\": \"b\", \"roles\": [\"chat\"], \"x_c\": 1e-99999, \"x_big\": 123456789012345678901}]";
    static const char *TOKENS[] = {"1e99999", "12345678901234567890123", "9007199254740993", "1.5E3", "1.0",
                                   "-0", "1e-400", "-1e400", "18446744073709551617", "0.10000000000000000001",
                                   "2.50"};
    /* the snapshot as Python prints it (1500.0, 2.5, 0) where that is the
     * same number, else the token as read (Python: Infinity, 0.0, 0.1);
     * b merged with its curated entry */
    static const char *SNAP[] = {"\"x_inf\": 1e99999,", "\"x_big\": 12345678901234567890123,",
                                 "\"x_2p53\": 9007199254740993,", "\"x_exp\": 1500.0,", "\"x_one\": 1.0,",
                                 "\"x_neg0\": 0,", "\"x_tiny\": 1e-400,", "\n        -1e400,",
                                 "\n        18446744073709551617,", "\"deep\": 0.10000000000000000001\n",
                                 "\"n\": 2.5,", "\"x_c\": 1e-99999,", "\"x_big\": 123456789012345678901\n"};
    char *dir = iwt_tmpdir("reg-num");
    char *disc = path_in(dir, "model_registry.discovered.json"), *cur = path_in(dir, "model_registry.curated.json");
    cr_assert_eq(iwt_write(disc, DISC, strlen(DISC)), 0);
    cr_assert_eq(iwt_write(cur, CUR, strlen(CUR)), 0);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            cr_assert_eq(iw_registry_upsert(r, "a", set_meta, "1"), 1, "%s", iw_error_last());
        else
            cr_assert_eq(iw_registry_update(r, touch_all, "2"), 1 << IW_REG_DISCOVERED, "%s", iw_error_last());
        char *t = slurp_in(dir, "model_registry.discovered.json");
        for (size_t i = 0; i < sizeof TOKENS / sizeof *TOKENS; i++) {
            const char *at = strstr(t, TOKENS[i]);
            cr_expect(at && strchr(" [", at[-1]) && !strchr("0123456789.eE", at[strlen(TOKENS[i])]),
                      "pass %d: token %s lost:\n%s", pass, TOKENS[i], t);
        }
        cr_expect(!strstr(t, "null"), "pass %d: a number became null:\n%s", pass, t);
        free(t);
        t = slurp_in(dir, "model_registry.json");
        for (size_t i = 0; i < sizeof SNAP / sizeof *SNAP; i++)
            cr_expect(strstr(t, SNAP[i]), "pass %d: snapshot lacks %s:\n%s", pass, SNAP[i], t);
        cr_expect(!strstr(t, "null") && !strstr(t, "Infinity"), "pass %d: a number was lost:\n%s", pass, t);
        free(t);
    }
    /* a number the tool changes is printed from its new value */
    cr_assert_eq(iw_registry_upsert(r, "a", set_one, NULL), 1, "%s", iw_error_last());
    char *t = slurp_in(dir, "model_registry.discovered.json");
    cr_expect(strstr(t, "\"x_one\": 2,") && strstr(t, "\"x_inf\": 1e99999,"), "%s", t);
    free(t);
    iw_registry_close(r);
    free(disc);
    free(cur);
    iwt_rm_rf(dir);
    free(dir);
}
