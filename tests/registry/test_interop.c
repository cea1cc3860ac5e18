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
