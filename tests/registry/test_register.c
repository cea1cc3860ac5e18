/* iw_registry_register_download: entry keys, checksums, names, defaults. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/registry.h"
#include "iwdl/hash.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

static const iw_reg_file FILES[] = {
    { "model-00002-of-00002.safetensors", "bbbb", 200 },
    { "config.json", "aaaa", 10 },
};

Test(register, checksums_follow_the_original)
{
    char agg[65], dir[17], want[65];
    cr_assert_eq(iw_registry_aggregate_sha256(FILES, 2, agg), 0);
    /* hashing.py: the sorted lines joined by "\n", none after the last */
    const char *lines = "aaaa  config.json\nbbbb  model-00002-of-00002.safetensors";
    iw_sha256_hex(lines, strlen(lines), want);
    cr_assert_str_eq(agg, want);
    cr_assert_eq(iw_registry_dir_checksum(FILES, 2, dir), 0);
    /* download_adapter.py: path then size, nothing between, sorted by path */
    const char *dl = "config.json10model-00002-of-00002.safetensors200";
    iw_sha256_hex(dl, strlen(dl), want);
    want[16] = 0;
    cr_assert_str_eq(dir, want);
}

Test(register, new_vllm_entry_and_name_clash)
{
    char *tmp = iwt_tmpdir("reg-dl");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, tmp), 0);
    iw_arch a;
    iw_arch_init(&a);
    a.num_layers = 28;
    a.context_length = 32768;
    iw_arch_set_str(&a.quantization.method, "awq");
    iw_arch_set_str(&a.quantization.label, "AWQ");
    iw_reg_download d = { .repo_id = "Qwen/Qwen2.5-7B-Instruct-AWQ", .revision = "main",
        .commit = "0123456789abcdef0123456789abcdef01234567", .dest_path = "/m/Qwen/Qwen2.5-7B-Instruct-AWQ",
        .files = FILES, .n_files = 2, .arch = &a };
    char *name = NULL;
    cr_assert_eq(iw_registry_register_download(r, &d, &name), 0, "%s", iw_error_last());
    cr_assert_str_eq(name, "qwen2.5-7b-instruct_(AWQ)");
    const cJSON *e = iw_registry_get(r, name);
    cr_assert_not_null(e);
    cr_assert_str_eq(iw_json_get_str(e, "backend"), "vllm");
    cr_assert_str_eq(iw_json_get_str(e, "download_format"), "safetensors");
    cr_assert_str_eq(iw_json_get_str(e, "quantization"), "awq");
    cr_assert_eq(cJSON_GetObjectItem(e, "download_size_bytes")->valuedouble, 210);
    /* no such folder: the original's compute_directory_checksum gives "" */
    cr_assert_str_eq(iw_json_get_str(e, "download_directory_checksum"), "");
    const cJSON *bc = cJSON_GetObjectItem(e, "backend_config");
    cr_assert_eq(cJSON_GetObjectItem(bc, "port")->valueint, 24001);
    const cJSON *xa = cJSON_GetObjectItem(bc, "extra_args");
    cr_assert_str_eq(cJSON_GetArrayItem(xa, 0)->valuestring, "--max-model-len");
    cr_assert_str_eq(cJSON_GetArrayItem(xa, 1)->valuestring, "19660", "0.6 * 32768");
    cr_assert_str_eq(cJSON_GetArrayItem(xa, 5)->valuestring, "0.85");
    const cJSON *arch = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture");
    cr_assert_eq(cJSON_GetObjectItem(arch, "num_layers")->valueint, 28);
    const cJSON *files = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "artifacts"), "files");
    cr_assert_eq(cJSON_GetArraySize(files), 2);
    /* the same install again updates in place */
    char *n2 = NULL;
    cr_assert_eq(iw_registry_register_download(r, &d, &n2), 0);
    cr_assert_str_eq(n2, name);
    cr_assert_eq(cJSON_GetArraySize(iw_registry_entries(r, IW_REG_DISCOVERED)), 1);
    /* a different install with the same slug gets -2 */
    d.dest_path = "/other/place";
    char *n3 = NULL;
    cr_assert_eq(iw_registry_register_download(r, &d, &n3), 0);
    cr_assert_str_eq(n3, "qwen2.5-7b-instruct_(AWQ)-2");
    /* small context: max-model-len capped at the model's context */
    a.context_length = 2048;
    iw_arch_set_str(&a.quantization.label, NULL);
    iw_arch_set_str(&a.quantization.method, NULL);
    d.dest_path = "/small";
    d.repo_id = "org/tiny-model";
    char *n4 = NULL;
    cr_assert_eq(iw_registry_register_download(r, &d, &n4), 0);
    cr_assert_str_eq(n4, "tiny-model");
    xa = cJSON_GetObjectItem(cJSON_GetObjectItem(iw_registry_get(r, n4), "backend_config"), "extra_args");
    cr_assert_str_eq(cJSON_GetArrayItem(xa, 1)->valuestring, "2048");
    free(name); free(n2); free(n3); free(n4);
    iw_arch_free(&a);
    iw_registry_close(r);
    iwt_rm_rf(tmp);
    free(tmp);
}

Test(register, gguf_defaults_to_llama_cpp_with_real_quant)
{
    char *tmp = iwt_tmpdir("reg-gguf");
    iw_registry *r;
    cr_assert_eq(iw_registry_open(&r, tmp), 0);
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.quantization.method, "gguf");
    iw_arch_set_str(&a.quantization.label, "Q4_K_M");
    iw_arch_set_str(&a.torch_dtype, "float32");
    a.parameters.total = 8190735360LL;
    iw_reg_file f = { "Qwen3-8B-Q4_K_M.gguf", NULL, 5000 };
    iw_reg_download d = { .repo_id = "Qwen/Qwen3-8B-GGUF", .dest_path = "/m/Qwen/Qwen3-8B-GGUF",
        .files = &f, .n_files = 1, .arch = &a };
    char *name = NULL;
    cr_assert_eq(iw_registry_register_download(r, &d, &name), 0, "%s", iw_error_last());
    const cJSON *e = iw_registry_get(r, name);
    cr_assert_str_eq(name, "qwen3-8b_(Q4_K_M)");
    cr_assert_str_eq(iw_json_get_str(e, "backend"), "llama.cpp");
    cr_assert_str_eq(iw_json_get_str(e, "quantization"), "q4_k_m", "not fp32");
    cr_assert_str_eq(iw_json_get_str(e, "download_format"), "gguf");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "port")->valueint, 8000);
    cr_assert_str_eq(iw_json_get_str(cJSON_GetObjectItem(e, "artifacts"), "aggregate_sha256"), "", "no hashes, no aggregate");
    /* --name overrides */
    d.name = "mine";
    char *n2 = NULL;
    cr_assert_eq(iw_registry_register_download(r, &d, &n2), 0);
    cr_assert_str_eq(n2, "mine");
    free(name); free(n2);
    iw_arch_free(&a);
    iw_registry_close(r);
    iwt_rm_rf(tmp);
    free(tmp);
}
