/* iw_catalog_scan: installs found under a folder, each a result for the caller. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

typedef struct seen { int would, registered, failed, notes; char path[512], repo[256], name[256]; size_t n_files; } seen;

static void collect(const iw_scan_result *res, void *ud)
{
    seen *s = ud;
    switch (res->kind) {
    case IW_SCAN_WOULD_REGISTER:
        s->would++;
        snprintf(s->path, sizeof s->path, "%s", res->path);
        snprintf(s->repo, sizeof s->repo, "%s", res->repo ? res->repo : "");
        s->n_files = res->n_files;
        break;
    case IW_SCAN_REGISTERED:
        s->registered++;
        snprintf(s->path, sizeof s->path, "%s", res->path);
        snprintf(s->name, sizeof s->name, "%s", res->name);
        break;
    case IW_SCAN_FAILED: s->failed++; break;
    case IW_SCAN_NOTE: s->notes++; break;
    }
}

/* DIR/<owner>/<repo>/ with the tiny-llama fixture's two files */
static char *make_models(const char *tmp)
{
    char *models = NULL;
    cr_assert(asprintf(&models, "%s/models", tmp) > 0);
    const char *files[] = { "config.json", "generation_config.json" };
    for (int i = 0; i < 2; i++) {
        char src[1024], dst[1024];
        snprintf(src, sizeof src, "models/tiny-llama/%s", files[i]);
        size_t n = 0;
        char *txt = iwt_slurp(iwt_fixture(src), &n);
        cr_assert_not_null(txt);
        snprintf(dst, sizeof dst, "%s/acme/tiny-llama/%s", models, files[i]);
        cr_assert_eq(iwt_write(dst, txt, n), 0);
        free(txt);
    }
    return models;
}

Test(catalog_scan, dry_run_reports_each_install_and_writes_nothing)
{
    char *tmp = iwt_tmpdir("cat-scan-dry"), *models = make_models(tmp), *reg = NULL;
    cr_assert(asprintf(&reg, "%s/registry", tmp) > 0);
    iw_scan_opts o = IW_SCAN_OPTS_INIT;
    o.dry_run = true;
    seen s = { 0 };
    iw_scan_stats st;
    cr_assert_eq(iw_catalog_scan(reg, models, &o, collect, &s, &st), 0, "%s", iw_error_last());
    cr_assert_eq(st.found, 1);
    cr_assert_eq(st.registered, 0);
    cr_assert_eq(s.would, 1);
    cr_assert_str_eq(s.repo, "acme/tiny-llama");
    cr_assert_eq(s.n_files, 2);
    cr_assert(strstr(s.path, "/acme/tiny-llama") != NULL, "%s", s.path);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, reg), 0);
    cr_assert_eq(cJSON_GetArraySize(iw_registry_entries(r, IW_REG_DISCOVERED)), 0);
    iw_registry_close(r);
    free(reg);
    free(models);
    iwt_rm_rf(tmp);
    free(tmp);
}

Test(catalog_scan, registers_and_counts)
{
    char *tmp = iwt_tmpdir("cat-scan"), *models = make_models(tmp), *reg = NULL;
    cr_assert(asprintf(&reg, "%s/registry", tmp) > 0);
    seen s = { 0 };
    iw_scan_stats st;
    cr_assert_eq(iw_catalog_scan(reg, models, NULL, collect, &s, &st), 0, "%s", iw_error_last());
    cr_assert_eq(st.found, 1);
    cr_assert_eq(st.registered, 1);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(s.registered, 1);
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, reg), 0);
    cr_assert_not_null(iw_registry_get(r, s.name), "no entry '%s'", s.name);
    iw_registry_close(r);
    free(reg);
    free(models);
    iwt_rm_rf(tmp);
    free(tmp);
}

Test(catalog_scan, not_a_folder_is_an_error_naming_it)
{
    iw_scan_stats st;
    cr_assert_lt(iw_catalog_scan(NULL, "/nonexistent/models", NULL, NULL, NULL, &st), 0);
    cr_assert_str_eq(iw_error_last(), "'/nonexistent/models' is not a folder");
    iw_scan_opts o = IW_SCAN_OPTS_INIT;
    o.version = IW_SCAN_OPTS_VERSION + 1;
    cr_assert_eq(iw_catalog_scan(NULL, "/", &o, NULL, NULL, &st), IW_EINVAL);
}
