/* The registry as rows: `list --json`, serve's GET /models with its
 * filters, and the cache a server keeps between registry changes
 * (src/catalog/listing.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iwtest.h"
#include "entry_fill.h"
#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

/* Two entries: an installed, validated GGUF (its path is the registry
 * folder itself) and a logical safetensors one. */
static char *make_registry(void)
{
    char *dir = iwt_tmpdir("cat-listing");
    iw_registry *r = NULL;
    cr_assert_eq(iw_registry_open(&r, dir), 0, "%s", iw_error_last());
    char a[2048];
    snprintf(a, sizeof a, "{\"display_name\":\"A\",\"backend\":\"llama.cpp\",\"download_format\":\"gguf\","
             "\"quantization\":\"Q4_K_M\",\"download_path\":\"%s\",\"download_size_bytes\":1234,"
             "\"metadata\":{\"architecture\":{\"validated\":true,\"context_length\":4096,"
             "\"parameters\":{\"total\":7000000}}}}", dir);
    cr_assert_geq(iw_registry_upsert(r, "a-gguf", iwt_fill_entry, a), 0, "%s", iw_error_last());
    cr_assert_geq(iw_registry_upsert(r, "b-st", iwt_fill_entry,
                                     "{\"backend\":\"vllm\",\"download_format\":\"safetensors\",\"roles\":[\"chat\"]}"),
                  0, "%s", iw_error_last());
    iw_registry_close(r);
    return dir;
}

static const cJSON *row_named(const cJSON *rows, const char *name)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, rows)
        if (iw_json_get_str(m, "name") && !strcmp(iw_json_get_str(m, "name"), name))
            return m;
    return NULL;
}

Test(catalog_listing, list_rows_copy_the_entry_and_add_what_is_derived)
{
    char *dir = make_registry();
    iw_registry *r = NULL;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cJSON *rows = iw_catalog_list_rows(r);
    cr_assert_eq(cJSON_GetArraySize(rows), 2);
    const cJSON *a = row_named(rows, "a-gguf"), *b = row_named(rows, "b-st");
    cr_assert(a && b);
    cr_assert_str_eq(iw_json_get_str(a, "format"), "gguf");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(a, "installed")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(a, "validated")));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(a, "logical_only")));
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(a, "roles")), "roles default to []");
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(a, "capabilities")), "capabilities default to {}");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(b, "display_name")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(b, "logical_only")));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(b, "installed")));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "roles")), 1);
    cJSON_Delete(rows);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

Test(catalog_listing, models_rows_and_filters)
{
    char *dir = make_registry();
    iw_registry *r = NULL;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cJSON *all = iw_catalog_models(r, NULL);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(all, "models")), 2);
    int64_t n = 0, v = 0;
    cr_assert(iw_json_get_i64(all, "count", &n) && n == 2);
    const cJSON *a = row_named(cJSON_GetObjectItem(all, "models"), "a-gguf");
    cr_assert(iw_json_get_i64(a, "parameters", &v) && v == 7000000);
    cr_assert(iw_json_get_i64(a, "context_length", &v) && v == 4096);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(a, "has_architecture")));
    const cJSON *b = row_named(cJSON_GetObjectItem(all, "models"), "b-st");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(b, "parameters")));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(b, "has_architecture")));
    cJSON_Delete(all);

    iw_models_filter f = { "GGUF", NULL, "" };   /* case ignored; "" lets everything through */
    cJSON *some = iw_catalog_models(r, &f);
    cr_assert(iw_json_get_i64(some, "count", &n) && n == 1);
    cr_assert_str_eq(iw_json_get_str(cJSON_GetArrayItem(cJSON_GetObjectItem(some, "models"), 0), "name"), "a-gguf");
    cJSON_Delete(some);
    iw_models_filter none = { NULL, "awq", NULL };
    cJSON *zero = iw_catalog_models(r, &none);
    cr_assert(iw_json_get_i64(zero, "count", &n) && n == 0);
    cJSON_Delete(zero);
    iw_registry_close(r);
    iwt_rm_rf(dir);
    free(dir);
}

Test(catalog_listing, the_cache_follows_registry_changes)
{
    char *dir = make_registry();
    iw_models_cache *c = NULL;
    cr_assert_eq(iw_catalog_models_cache_new(&c, dir), 0, "%s", iw_error_last());
    cr_assert_str_eq(iw_catalog_models_cache_dir(c), dir);
    char *s = NULL;
    cr_assert_eq(iw_catalog_models_cached(c, NULL, &s), 0, "%s", iw_error_last());
    cr_assert(strstr(s, "\"count\":2") != NULL, "%s", s);
    free(s);
    iw_models_filter f = { NULL, NULL, "vllm" };
    cr_assert_eq(iw_catalog_models_cached(c, &f, &s), 0);
    cr_assert(strstr(s, "\"count\":1") != NULL && strstr(s, "b-st"), "%s", s);
    free(s);
    /* a third entry, written by another process: the next answer has it */
    iw_registry *r = NULL;
    cr_assert_eq(iw_registry_open(&r, dir), 0);
    cr_assert_geq(iw_registry_upsert(r, "c-new", iwt_fill_entry, "{\"backend\":\"ollama\"}"), 0);
    iw_registry_close(r);
    cr_assert_eq(iw_catalog_models_cached(c, NULL, &s), 0);
    cr_assert(strstr(s, "\"count\":3") != NULL, "the cache kept an old answer: %s", s);
    free(s);
    iw_catalog_models_cache_free(c);
    iwt_rm_rf(dir);
    free(dir);
}

Test(catalog_listing, an_unreadable_registry_is_refused_at_start)
{
    char *dir = iwt_tmpdir("cat-listing-bad"), *file = NULL;
    cr_assert(asprintf(&file, "%s/model_registry.discovered.json", dir) > 0);
    cr_assert_eq(iwt_write(file, "[{\"name\":", 10), 0);
    iw_models_cache *c = (iw_models_cache *)1;
    cr_assert_lt(iw_catalog_models_cache_new(&c, dir), 0);
    cr_assert_null(c);
    cr_assert(strstr(iw_error_last(), "model_registry.discovered.json") != NULL, "%s", iw_error_last());
    iwt_rm_rf(dir);
    free(file);
    free(dir);
}
