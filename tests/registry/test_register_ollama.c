/* iw_registry_register_ollama and the Ollama entry helpers: the entry `scan`
 * writes for a model of Ollama's store (moved from the command into the
 * registry library; the CLI tests of scan cover the same through the tool). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/error.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"

static char *tmp;
static iw_registry *reg;
static iw_arch arch;

static void setup(void)
{
    tmp = iwt_tmpdir("reg-ollama");
    cr_assert(tmp);
    cr_assert_eq(iw_registry_open(&reg, tmp), 0, "%s", iw_error_last());
    iw_arch_init(&arch);
    arch.num_layers = 36;
    arch.context_length = 40960;
    arch.parameters.total = 8190735360LL;
    iw_arch_set_str(&arch.quantization.method, "gguf");
    iw_arch_set_str(&arch.quantization.label, "Q4_K_M");
    iw_arch_stamp_now(&arch);
}

static void teardown(void)
{
    iw_arch_free(&arch);
    iw_registry_close(reg);
    iwt_rm_rf(tmp);
    free(tmp);
}

static void put_curated(const char *json)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/model_registry.curated.json", tmp) > 0);
    cr_assert_eq(iwt_write(p, json, strlen(json)), 0);
    free(p);
}

Test(register_ollama, new_entry_in_the_importers_shape, .init = setup, .fini = teardown)
{
    iw_reg_ollama o = { .ref = "ollama:qwen3:8b", .arch = &arch, .size = 5225387923LL,
                        .pulled_sec = 1700000000, .pulled_usec = 123456 };
    char *name = NULL;
    bool changed = false;
    cr_assert_eq(iw_registry_register_ollama(reg, &o, &name, &changed), 0, "%s", iw_error_last());
    cr_expect(changed);
    cr_assert_str_eq(name, "qwen3_8b_(Q4_K_M)");
    const cJSON *e = iw_registry_get(reg, name);
    cr_assert(e);
    cr_expect_str_eq(iw_json_get_str(e, "backend"), "ollama");
    cr_expect_str_eq(iw_json_get_str(e, "download_path"), "ollama:/qwen3:8b");
    cr_expect_str_eq(iw_json_get_str(e, "served_model_id"), "qwen3:8b");
    cr_expect_str_eq(iw_json_get_str(e, "quantization"), "q4_k_m");
    cr_expect_str_eq(iw_json_get_str(e, "downloaded_at"), "2023-11-14T22:13:20.123456+00:00");
    const cJSON *xa = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "extra_args");
    cr_expect_str_eq(cJSON_GetArrayItem(xa, 1)->valuestring, "24576", "0.6 x 40960");
    const char *ref = NULL, *alt = NULL;
    cr_assert(iw_registry_ollama_refs(e, &ref, &alt));
    cr_expect_str_eq(ref, "ollama:/qwen3:8b");
    cr_expect_null(alt);
    free(name);

    /* again, the same record: nothing to write */
    cr_assert_eq(iw_registry_register_ollama(reg, &o, &name, &changed), 0, "%s", iw_error_last());
    cr_expect(!changed);
    cr_expect_str_eq(name, "qwen3_8b_(Q4_K_M)");
    free(name);
}

Test(register_ollama, an_entry_naming_the_model_is_updated, .init = setup, .fini = teardown)
{
    /* a curated entry names it by served_model_id (another case): its name is kept */
    put_curated("[{\"name\": \"my-qwen\", \"backend\": \"ollama\", \"served_model_id\": \"Qwen3:8B\"}]");
    iw_reg_ollama o = { .ref = "qwen3:8b", .arch = &arch, .size = IW_UNKNOWN };
    char *name = NULL;
    bool changed = false;
    cr_assert_eq(iw_registry_register_ollama(reg, &o, &name, &changed), 0, "%s", iw_error_last());
    cr_expect(changed);
    cr_expect_str_eq(name, "my-qwen");
    const cJSON *d = iw_registry_get_layer(reg, IW_REG_DISCOVERED, "my-qwen");
    cr_assert(d, "no thin discovered entry");
    const cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(d, "metadata"), "architecture");
    cr_expect(cJSON_IsObject(m));
    free(name);
}

Test(register_ollama, refs_of_entries)
{
    cJSON *e = cJSON_Parse("{\"download_path\": \"ollama://a:1\", \"backend\": \"ollama\", \"served_model_id\": \"b:2\"}");
    const char *ref, *alt;
    cr_assert(iw_registry_ollama_refs(e, &ref, &alt));
    cr_expect_str_eq(ref, "ollama://a:1");
    cr_expect_str_eq(alt, "b:2");
    cJSON_Delete(e);
    e = cJSON_Parse("{\"download_path\": \"/m/x\", \"backend\": \"ollama\", \"served_model_id\": \"None\"}");
    cr_expect(!iw_registry_ollama_refs(e, &ref, &alt));
    cr_expect_null(iw_registry_ollama_served_id(e));
    cJSON_Delete(e);
}
