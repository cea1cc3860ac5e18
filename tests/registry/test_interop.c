/* Interop with the original imageworks: every expectation here comes from
 * a fixture the original's own code produced (tests/fixtures/interop/,
 * README there says which function and how to regenerate it). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iwtest.h"
#include "iwdl/registry.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/schema.h"
#include "registry/pyjson.h"
#include <math.h>

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static char *fixture_text(const char *rel, size_t *len)
{
    char *t = iwt_slurp(iwt_fixture(rel), len);
    cr_assert_not_null(t, "fixture %s missing", rel);
    return t;
}

static void copy_fixture(const char *rel, const char *dir, const char *name)
{
    size_t len;
    char *t = fixture_text(rel, &len);
    char *p = path_in(dir, name);
    cr_assert_eq(iwt_write(p, t, len), 0);
    free(p);
    free(t);
}

/* item 9: the snapshot bytes the original's _materialize_snapshot writes */
Test(interop, snapshot_printed_as_the_original_materialises_it)
{
    size_t dl, cl, sl;
    char *d = fixture_text("interop/snapshot/model_registry.discovered.json", &dl);
    char *c = fixture_text("interop/snapshot/model_registry.curated.json", &cl);
    char *want = fixture_text("interop/snapshot/model_registry.json", &sl);
    iw_buf out = IW_BUF_INIT(IW_BUF_UNCAPPED);
    cr_assert_eq(iw_pyjson_snapshot(d, dl, c, cl, &out), 0, "%s", iw_error_last());
    cr_assert_eq(out.len, sl, "snapshot is %zu bytes, the original's %zu", out.len, sl);
    cr_assert(memcmp(out.data, want, sl) == 0, "snapshot bytes differ from the original's");
    iw_buf_free(&out);
    free(d);
    free(c);
    free(want);
}

/* Text that already is Python's print is copied whole; text one step away
 * from it (each case below; expected bytes from Python's json.dumps(indent=2))
 * is printed again, never copied. */
Test(interop, snapshot_copies_only_what_python_would_print_the_same)
{
    static const struct { const char *in, *want; } cases[] = {
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\\u00E9\"\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\\u00e9\"\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\\/\"\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": \"/\"\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": 1.0e3\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": 1000.0\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": -0\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": 0\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": [ ]\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": []\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\" : 1\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": 1\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": 1 ,\n    \"b\": 2\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": 1,\n    \"b\": 2\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\xc3""\xa9""\"\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\\u00e9\"\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\\ud83d\\ude00\"\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\\ud83d\\ude00\"\n  }\n]\n" },
    { "[\n  {\n   \"name\": \"x\",\n    \"a\": 1\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": 1\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\\u0041\"\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": \"A\"\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\x7f""\"\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": \"\\u007f\"\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": 1e-05,\n    \"b\": 1e+16,\n    \"c\": {},\n    \"d\": [\n      1,\n      \"\\u00e9\\n\\\"\\\\\"\n    ]\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": 1e-05,\n    \"b\": 1e+16,\n    \"c\": {},\n    \"d\": [\n      1,\n      \"\\u00e9\\n\\\"\\\\\"\n    ]\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": [1, 2]\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": [\n      1,\n      2\n    ]\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": 1\n }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": 1\n  }\n]\n" },
    { "[\n  {\n    \"name\": \"x\",\n    \"a\": 10000.0,\n    \"b\": 1E5\n  }\n]\n",
      "[\n  {\n    \"name\": \"x\",\n    \"a\": 10000.0,\n    \"b\": 100000.0\n  }\n]\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iw_buf out = IW_BUF_INIT(IW_BUF_UNCAPPED);
        cr_assert_eq(iw_pyjson_snapshot(cases[i].in, strlen(cases[i].in), NULL, 0, &out), 0, "case %zu: %s", i,
                     iw_error_last());
        cr_assert_str_eq(out.data, cases[i].want, "case %zu", i);
        iw_buf_free(&out);
    }
    /* the original's own snapshot, read as a layer, prints as itself */
    size_t sl;
    char *snap = fixture_text("interop/snapshot/model_registry.json", &sl);
    iw_buf out = IW_BUF_INIT(IW_BUF_UNCAPPED);
    cr_assert_eq(iw_pyjson_snapshot(snap, sl, NULL, 0, &out), 0, "%s", iw_error_last());
    cr_assert_eq(out.len, sl);
    cr_assert(memcmp(out.data, snap, sl) == 0, "the original's snapshot did not print as itself");
    iw_buf_free(&out);
    free(snap);
}

static int add_tmp(cJSON *e, bool is_new, void *ctx)
{
    (void)is_new;
    (void)ctx;
    cJSON_AddStringToObject(e, "backend", "vllm");
    return 1;
}

/* item 9, end to end: after a change through the store the snapshot on
 * disk is exactly what the original would materialise from the layers, so
 * its next load leaves it alone (the original rewrites it when it differs) */
Test(interop, store_writes_the_original_snapshot)
{
    char *dir = iwt_tmpdir("interop-snap");
    copy_fixture("interop/snapshot/model_registry.discovered.json", dir, "model_registry.discovered.json");
    copy_fixture("interop/snapshot/model_registry.curated.json", dir, "model_registry.curated.json");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    cr_assert_eq(iw_registry_upsert(r, "zz-temp", add_tmp, NULL), 1, "%s", iw_error_last());
    cr_assert_eq(iw_registry_remove(r, "zz-temp", false), 0, "%s", iw_error_last());
    iw_registry_close(r);
    size_t sl, gl;
    char *want = fixture_text("interop/snapshot/model_registry.json", &sl);
    char *p = path_in(dir, "model_registry.json");
    char *got = iwt_slurp(p, &gl);
    cr_assert_not_null(got);
    cr_assert(gl == sl && memcmp(got, want, sl) == 0, "model_registry.json is not the original's bytes:\n%s", got);
    free(p);
    free(got);
    free(want);
    iwt_rm_rf(dir);
    free(dir);
}

/* item 6: the two checksums with the original's formulas, over the folder
 * the original hashed (fixture dirsum.json) */
Test(interop, checksums_use_the_original_formulas)
{
    size_t len;
    char *t = fixture_text("interop/dirsum.json", &len);
    cJSON *j = cJSON_Parse(t);
    free(t);
    cr_assert_not_null(j);
    char *dir = iwt_tmpdir("interop-dirsum");
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(j, "files")) {
        char *p = path_in(dir, f->string);
        cr_assert_eq(iwt_write(p, f->valuestring, strlen(f->valuestring)), 0);
        free(p);
    }
    char sum[17];
    cr_assert_eq(iw_registry_dir_checksum_path(dir, sum), 0, "%s", iw_error_last());
    cr_assert_str_eq(sum, iw_json_get_str(j, "download_directory_checksum"));
    /* a lone file (one GGUF of a folder): the original walks nothing */
    char *one = path_in(dir, "config.json");
    cr_assert_eq(iw_registry_dir_checksum_path(one, sum), 0);
    cr_assert_str_eq(sum, "e3b0c44298fc1c14");
    free(one);
    const cJSON *af = cJSON_GetObjectItem(j, "artifact_files");
    size_t n = (size_t)cJSON_GetArraySize(af), k = 0;
    iw_reg_file *files = calloc(n, sizeof *files);
    cJSON_ArrayForEach(f, af) {
        files[k].path = iw_json_get_str(f, "path");
        files[k].sha256 = iw_json_get_str(f, "sha256");
        k++;
    }
    char agg[65];
    cr_assert_eq(iw_registry_aggregate_sha256(files, n, agg), 0);
    cr_assert_str_eq(agg, iw_json_get_str(j, "aggregate_sha256"));
    free(files);
    cJSON_Delete(j);
    iwt_rm_rf(dir);
    free(dir);
}

/* item 6: a rescan keeps the first download's time */
Test(interop, downloaded_at_kept_on_rescan)
{
    char *dir = iwt_tmpdir("interop-dlat");
    char *w = path_in(dir, "w");
    char *cfg = path_in(dir, "w/config.json");
    cr_assert_eq(iwt_write(cfg, "{}", 2), 0);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    iw_reg_file file = { "config.json", NULL, 2 };
    iw_reg_download d = { .repo_id = "o/w", .dest_path = w, .files = &file, .n_files = 1 };
    char *name = NULL;
    cr_assert_eq(iw_registry_register_download(r, &d, &name), 0, "%s", iw_error_last());
    char first[64];
    snprintf(first, sizeof first, "%s", iw_json_get_str(iw_registry_get(r, name), "downloaded_at"));
    usleep(20000);
    cr_assert_eq(iw_registry_register_download(r, &d, NULL), 0, "%s", iw_error_last());
    const cJSON *e = iw_registry_get(r, name);
    cr_assert_str_eq(iw_json_get_str(e, "downloaded_at"), first, "downloaded_at moved on a rescan");
    cr_assert_str_neq(iw_json_get_str(e, "last_accessed"), first, "last_accessed not refreshed");
    free(name);
    iw_registry_close(r);
    free(w);
    free(cfg);
    iwt_rm_rf(dir);
    free(dir);
}

/* item 7: params_billion keeps small models above zero (the GUI replaces a
 * 0 by 8B) */
Test(interop, params_billion_keeps_small_models)
{
    const int64_t totals[] = { 260000, 4400000, 135000000, 8030261248LL };
    const double want[] = { 0.00026, 0.0044, 0.135, 8.03 };
    for (int i = 0; i < 4; i++) {
        iw_arch a;
        iw_arch_init(&a);
        a.parameters.total = totals[i];
        cJSON *o = iw_arch_to_json(&a);
        double pb = cJSON_GetObjectItem(o, "params_billion")->valuedouble;
        cr_assert(fabs(pb - want[i]) < want[i] * 1e-9, "%lld parameters -> params_billion %g, want %g",
                  (long long)totals[i], pb, want[i]);
        cJSON_Delete(o);
        iw_arch_free(&a);
    }
}

/* item 1: names as the original's simplified_slug_for_fields gives them */
Test(interop, slugs_as_the_original_names_them)
{
    size_t len;
    char *t = fixture_text("interop/slugs.json", &len);
    cJSON *j = cJSON_Parse(t);
    free(t);
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, j) {
        char *s = NULL;
        cr_assert_eq(iw_registry_original_slug(iw_json_get_str(c, "hf_id"), iw_json_get_str(c, "quantization"), &s), 0);
        cr_expect_str_eq(s, iw_json_get_str(c, "slug"), "%s with %s", iw_json_get_str(c, "hf_id"),
                         iw_json_get_str(c, "quantization"));
        free(s);
        n++;
    }
    cr_assert_geq(n, 20);
    cJSON_Delete(j);
}

/* item 3: the quantization label the original writes for each folder */
Test(interop, quant_labels_as_the_original_writes_them)
{
    size_t len;
    char *t = fixture_text("interop/labels.json", &len);
    cJSON *j = cJSON_Parse(t);
    free(t);
    char *root = iwt_tmpdir("interop-labels");
    const cJSON *c;
    cJSON_ArrayForEach(c, j) {
        char *dir = path_in(root, iw_json_get_str(c, "folder"));
        iw_reg_file files[8];
        size_t n = 0;
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(c, "files")) {
            char *p = path_in(dir, f->string);
            if (cJSON_IsString(f))
                cr_assert_eq(iwt_write(p, f->valuestring, strlen(f->valuestring)), 0);
            else
                cr_assert_eq(iwt_write(p, "", 0), 0);
            free(p);
            files[n].path = f->string;
            files[n].sha256 = NULL;
            files[n].size = 0;
            n++;
        }
        char got[64];
        const char *want = iw_json_get_str(c, "quantization");
        int has = iw_registry_original_quant(dir, files, n, NULL, got, sizeof got);
        cr_expect(has && want && !strcmp(got, want), "%s: '%s', the original writes '%s'", iw_json_get_str(c, "folder"),
                  has ? got : "(none)", want ? want : "(none)");
        free(dir);
    }
    /* a GGUF record: its type in the original's words */
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.quantization.method, "gguf");
    iw_arch_set_str(&a.source, "gguf");
    const char *in[] = { "Q4_K_M", "F16", "BF16", "Q8_0", "IQ3_XXS" }, *out[] = { "q4_k_m", "fp16", "bf16", "q8_0", "iq3_xxs" };
    for (int i = 0; i < 5; i++) {
        char got[64];
        iw_arch_set_str(&a.quantization.label, in[i]);
        cr_assert(iw_arch_is_gguf(&a));
        cr_assert_eq(iw_registry_original_quant(NULL, NULL, 0, &a, got, sizeof got), 1);
        cr_expect_str_eq(got, out[i]);
    }
    iw_arch_free(&a);
    cJSON_Delete(j);
    iwt_rm_rf(root);
    free(root);
}

static size_t n_entries(iw_registry *r)
{
    return (size_t)cJSON_GetArraySize(iw_registry_entries(r, IW_REG_MERGED));
}

/* items 1 and 3: a new GPTQ install gets the original's name and label; an
 * install the original registered under another name (its path spelled
 * differently) is updated, not duplicated; a path-less entry that names
 * the repo is used too */
Test(interop, one_entry_per_install)
{
    char *dir = iwt_tmpdir("interop-dup");
    char *w = path_in(dir, "w/TheBloke/wizard-mega-13B-GPTQ");
    char *cfg = path_in(dir, "w/TheBloke/wizard-mega-13B-GPTQ/config.json");
    static const char CFG[] = "{\"model_type\":\"llama\",\"torch_dtype\":\"float16\",\"quantization_config\":"
                              "{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":128,\"desc_act\":false}}";
    cr_assert_eq(iwt_write(cfg, CFG, strlen(CFG)), 0);
    char *reg = path_in(dir, "reg");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, reg), 0);
    iw_reg_file file = { "config.json", NULL, sizeof CFG - 1 };
    iw_reg_download d = { .repo_id = "TheBloke/wizard-mega-13B-GPTQ", .dest_path = w, .files = &file, .n_files = 1 };
    char *name = NULL;
    cr_assert_eq(iw_registry_register_download(r, &d, &name), 0, "%s", iw_error_last());
    cr_assert_str_eq(name, "wizard-mega-13b_(GPTQ_INT4)", "not the original's name");
    cr_assert_str_eq(iw_json_get_str(iw_registry_get(r, name), "quantization"), "gptq-int4");
    free(name);
    iw_registry_close(r);

    /* the original registered it under its own (older) name with the path
     * spelled with a trailing slash */
    iwt_rm_rf(reg);
    char disc[8192];
    snprintf(disc, sizeof disc,
             "[{\"name\": \"wizard-mega-13b-vllm-safetensors-gptq\", \"backend\": \"vllm\", \"download_path\": \"%s/\","
             " \"metadata\": {\"created_from_download\": true}},\n"
             " {\"name\": \"my-other\", \"backend\": \"vllm\", \"download_path\": null,"
             " \"model_aliases\": [\"someone/Other-7B\"]}]\n", w);
    char *dp = path_in(reg, "model_registry.discovered.json");
    cr_assert_eq(iwt_write(dp, disc, strlen(disc)), 0);
    cr_assert_eq(iw_registry_open(&r, reg), 0);
    cr_assert_eq(iw_registry_register_download(r, &d, &name), 0, "%s", iw_error_last());
    cr_assert_str_eq(name, "wizard-mega-13b-vllm-safetensors-gptq", "a second entry for the same download_path");
    cr_assert_eq(n_entries(r), 2);
    free(name);
    /* a path-less entry naming the repo (model_aliases) takes the install */
    char *w2 = path_in(dir, "w/someone/Other-7B");
    char *c2 = path_in(dir, "w/someone/Other-7B/config.json");
    cr_assert_eq(iwt_write(c2, "{}", 2), 0);
    iw_reg_download d2 = { .repo_id = "someone/Other-7B", .dest_path = w2, .files = &file, .n_files = 1 };
    cr_assert_eq(iw_registry_register_download(r, &d2, &name), 0, "%s", iw_error_last());
    cr_assert_str_eq(name, "my-other");
    cr_assert_eq(n_entries(r), 2);
    free(name);
    iw_registry_close(r);
    free(w); free(cfg); free(reg); free(dp); free(w2); free(c2);
    iwt_rm_rf(dir);
    free(dir);
}

/* item 10: a legacy single-file registry is split as the original splits
 * it (curated + discovered + model_registry.backup.pre_split.json), and
 * the snapshot is the one the original then materialises */
Test(interop, legacy_split_like_the_original)
{
    char *dir = iwt_tmpdir("interop-legacy");
    copy_fixture("interop/legacy/model_registry.backup.pre_split.json", dir, "model_registry.json");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    cr_assert_eq(n_entries(r), 4);
    cr_assert_eq(iw_registry_upsert(r, "zz-temp", add_tmp, NULL), 1, "%s", iw_error_last());
    cr_assert_eq(iw_registry_remove(r, "zz-temp", false), 0, "%s", iw_error_last());
    iw_registry_close(r);
    const char *files[] = { "model_registry.curated.json", "model_registry.discovered.json",
                            "model_registry.backup.pre_split.json", "model_registry.json" };
    for (int i = 0; i < 4; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "interop/legacy/%s", files[i]);
        size_t wl, gl;
        char *want = fixture_text(rel, &wl);
        char *p = path_in(dir, files[i]);
        char *got = iwt_slurp(p, &gl);
        cr_assert_not_null(got, "%s missing", files[i]);
        cr_expect(gl == wl && memcmp(got, want, wl) == 0, "%s differs from the original's split:\n%s", files[i], got);
        free(p);
        free(got);
        free(want);
    }
    iwt_rm_rf(dir);
    free(dir);
}

static int no_change(cJSON *e, bool is_new, void *ctx)
{
    (void)e;
    (void)is_new;
    (void)ctx;
    return 0;
}

static bool layer_has(const char *dir, const char *file, const char *name)
{
    char *p = path_in(dir, file);
    char *t = iwt_slurp(p, NULL);
    cJSON *arr = t ? cJSON_Parse(t) : NULL;
    bool found = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
        found |= iw_json_get_str(e, "name") && !strcmp(iw_json_get_str(e, "name"), name);
    cJSON_Delete(arr);
    free(t);
    free(p);
    return found;
}

/* An entry only the snapshot holds (added to model_registry.json by hand,
 * or by a tool that writes only the snapshot) is not dropped by the next
 * write: it is taken into the discovered layer, as the original's
 * registry.py::_adopt_snapshot_additions does on load.  A transaction that
 * writes nothing leaves it where it is, and the next one still adopts it. */
Test(interop, snapshot_only_entries_are_adopted_not_dropped)
{
    char *dir = iwt_tmpdir("interop-adopt");
    copy_fixture("interop/snapshot/model_registry.discovered.json", dir, "model_registry.discovered.json");
    copy_fixture("interop/snapshot/model_registry.curated.json", dir, "model_registry.curated.json");
    size_t sl;
    char *snap = fixture_text("interop/snapshot/model_registry.json", &sl);
    char *end = strrchr(snap, ']');
    cr_assert_not_null(end);
    char *p = path_in(dir, "model_registry.json");
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fprintf(f, "%.*s,\n  {\n    \"name\": \"hand-added\",\n    \"backend\": \"vllm\",\n    \"backend_config\": {\n"
               "      \"port\": 8123\n    }\n  }\n]\n", (int)(end - snap - 1), snap);
    fclose(f);
    free(snap);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    cr_assert_eq(iw_registry_upsert(r, "zz-temp", no_change, NULL), 0, "%s", iw_error_last());
    cr_assert_eq(iw_registry_upsert(r, "zz-temp", add_tmp, NULL), 1, "%s", iw_error_last());
    cr_assert_eq(iw_registry_remove(r, "zz-temp", false), 0, "%s", iw_error_last());
    iw_registry_close(r);
    cr_expect(layer_has(dir, "model_registry.json", "hand-added"), "the write dropped the snapshot-only entry");
    cr_expect(layer_has(dir, "model_registry.discovered.json", "hand-added"),
              "the snapshot-only entry was not taken into the discovered layer");
    cr_expect(!layer_has(dir, "model_registry.curated.json", "hand-added"));
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    const cJSON *e = iw_registry_get(r, "hand-added");
    cr_expect(e && cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "port")) == 8123,
              "the adopted entry lost its fields");
    /* removed through this tool, it stays removed */
    cr_assert_eq(iw_registry_remove(r, "hand-added", false), 0, "%s", iw_error_last());
    cr_assert_eq(iw_registry_upsert(r, "zz-temp", add_tmp, NULL), 1, "%s", iw_error_last());
    iw_registry_close(r);
    cr_expect(!layer_has(dir, "model_registry.json", "hand-added"), "a removed entry came back from the snapshot");
    cr_expect(!layer_has(dir, "model_registry.discovered.json", "hand-added"));
    free(p);
    iwt_rm_rf(dir);
    free(dir);
}
