/* What a user named: repo ids, the local provider's inspection, installed entries. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/catalog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

Test(catalog_target, repo_ids)
{
    cr_assert(iw_catalog_is_repo_id("Qwen/Qwen2.5-7B"));
    cr_assert_not(iw_catalog_is_repo_id("Qwen"));
    cr_assert_not(iw_catalog_is_repo_id("a/b/c"));
    cr_assert_not(iw_catalog_is_repo_id("/abs/path"));
    cr_assert_not(iw_catalog_is_repo_id("./rel/x"));
    cr_assert_not(iw_catalog_is_repo_id("ollama:qwen/x"));
    cr_assert_not(iw_catalog_is_repo_id("/x"));
    cr_assert_not(iw_catalog_is_repo_id("x/"));
}

Test(catalog_target, a_local_folder_is_inspected_without_the_network)
{
    iw_arch a;
    iw_arch_init(&a);
    int64_t moved = 0;
    cr_assert_eq(iw_catalog_inspect(iwt_fixture("models/tiny-llama"), NULL, NULL, &a, &moved), 0, "%s",
                 iw_error_last());
    cr_assert_gt(a.num_layers, 0);
    cr_assert_eq(moved, -1);
    iw_arch_free(&a);
    cr_assert_lt(iw_catalog_inspect("/nonexistent/model", NULL, NULL, &a, &moved), 0);
    iw_arch_free(&a);
}

Test(catalog_target, installed_follows_the_download_path)
{
    char json[1024];
    snprintf(json, sizeof json, "{\"name\":\"x\",\"backend\":\"vllm\",\"download_path\":\"%s\"}",
             iwt_fixture("models/tiny-llama"));
    cJSON *e = cJSON_Parse(json);
    cr_assert(iw_catalog_entry_installed(e));
    cJSON_Delete(e);
    e = cJSON_Parse("{\"name\":\"x\",\"backend\":\"vllm\",\"download_path\":\"/nonexistent/m\"}");
    cr_assert_not(iw_catalog_entry_installed(e));
    cJSON_Delete(e);
    e = cJSON_Parse("{\"name\":\"x\",\"backend\":\"vllm\"}");
    cr_assert_not(iw_catalog_entry_installed(e));
    cJSON_Delete(e);
}
