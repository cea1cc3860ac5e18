/* test_quant.c - quantization configs: in config.json and standalone files. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"

static iw_arch A;
static void setup(void) { iw_arch_init(&A); }
static void teardown(void) { iw_arch_free(&A); }
TestSuite(quant, .init = setup, .fini = teardown);

static int cfg(const char *j) { return iw_config_parse(j, strlen(j), "config.json", &A); }
static int qfile(const char *j, const char *name) { return iw_quant_config_parse(j, strlen(j), name, &A); }

#define BASE "\"model_type\":\"llama\",\"hidden_size\":4096,\"num_hidden_layers\":2,\"num_attention_heads\":32,"

Test(quant, gptq_in_config)
{
    cr_assert_eq(cfg("{" BASE "\"quantization_config\":{\"quant_method\":\"gptq\",\"bits\":4,\"group_size\":128,"
                     "\"desc_act\":true,\"sym\":true,\"checkpoint_format\":\"gptq_v2\"}}"), 0);
    cr_expect_str_eq(A.quantization.method, "gptq");
    cr_expect_float_eq(A.quantization.bits, 4, 1e-9);
    cr_expect_eq(A.quantization.group_size, 128);
    cr_expect(A.quantization.desc_act);
    cr_expect(A.quantization.sym);
    cr_expect_str_eq(A.quantization.format, "gptq_v2");
    cr_expect_float_eq(A.quantization.effective_bits, 4 + 20.0 / 128, 1e-9);
    cr_expect_str_eq(A.quantization.label, "GPTQ-4bit-g128");
    cr_expect_str_eq(iw_arch_get_source(&A, "quantization.method"), "config.json:quantization_config");
}

Test(quant, quantization_config_inside_text_config)
{
    cr_assert_eq(cfg("{\"model_type\":\"llava\",\"text_config\":{" BASE "\"quantization_config\":"
                     "{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":64,\"zero_point\":true,\"version\":\"gemm\"}}}"), 0);
    cr_expect_str_eq(A.quantization.method, "awq");
    cr_expect_eq(A.quantization.group_size, 64);
    cr_expect(A.quantization.zero_point);
    cr_expect_str_eq(A.quantization.format, "gemm");
    cr_expect_float_eq(A.quantization.effective_bits, 4 + 20.0 / 64, 1e-9);
}

Test(quant, bitsandbytes_4bit_nf4_double_quant_and_8bit)
{
    cr_assert_eq(cfg("{" BASE "\"quantization_config\":{\"quant_method\":\"bitsandbytes\",\"load_in_4bit\":true,"
                     "\"bnb_4bit_quant_type\":\"nf4\",\"bnb_4bit_use_double_quant\":true,"
                     "\"llm_int8_skip_modules\":[\"lm_head\"]}}"), 0);
    cr_expect_float_eq(A.quantization.bits, 4, 1e-9);
    cr_expect_str_eq(A.quantization.format, "nf4");
    cr_expect(A.quantization.double_quant);
    cr_expect_float_eq(A.quantization.effective_bits, 4.0 + 0.125 + 32.0 / 16384.0, 1e-9);
    cr_expect_str_eq(A.quantization.label, "BNB-NF4-DQ");
    cr_expect(iw_strlist_contains(&A.quantization.modules_not_converted, "lm_head"));
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(cfg("{" BASE "\"quantization_config\":{\"quant_method\":\"bitsandbytes\",\"load_in_8bit\":true,"
                     "\"load_in_4bit\":false}}"), 0);
    cr_expect_float_eq(A.quantization.bits, 8, 1e-9);
    cr_expect_str_eq(A.quantization.label, "BNB-INT8");
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(cfg("{" BASE "\"quantization_config\":{\"quant_method\":\"bitsandbytes\",\"load_in_4bit\":true,"
                     "\"bnb_4bit_quant_type\":\"fp4\"}}"), 0);
    cr_expect_float_eq(A.quantization.effective_bits, 4.5, 1e-9);
    cr_expect_str_eq(A.quantization.label, "BNB-FP4");
}

Test(quant, compressed_tensors_groups)
{
    cr_assert_eq(cfg("{" BASE "\"quantization_config\":{\"quant_method\":\"compressed-tensors\","
                     "\"format\":\"pack-quantized\",\"ignore\":[\"lm_head\"],\"config_groups\":{\"group_0\":"
                     "{\"targets\":[\"Linear\"],\"weights\":{\"num_bits\":4,\"type\":\"int\",\"strategy\":\"group\","
                     "\"group_size\":128,\"symmetric\":true}}}}}"), 0);
    cr_expect_str_eq(A.quantization.method, "compressed-tensors");
    cr_expect_float_eq(A.quantization.bits, 4, 1e-9);
    cr_expect_eq(A.quantization.group_size, 128);
    cr_expect_float_eq(A.quantization.effective_bits, 4.125, 1e-9);
    cr_expect_str_eq(A.quantization.label, "W4A16-g128");
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(cfg("{" BASE "\"quantization_config\":{\"quant_method\":\"compressed-tensors\","
                     "\"format\":\"nvfp4-pack-quantized\",\"config_groups\":{\"g\":{\"weights\":{\"num_bits\":4,"
                     "\"type\":\"float\",\"group_size\":16}}},"
                     "\"kv_cache_scheme\":{\"num_bits\":8,\"type\":\"float\"}}}"), 0);
    cr_expect_float_eq(A.quantization.effective_bits, 4.5, 1e-9);
    cr_expect_str_eq(A.quantization.label, "NVFP4");
    cr_expect_str_eq(A.kv_precision, "fp8");
}

Test(quant, mlx_quantization_block)
{
    cr_assert_eq(cfg("{" BASE "\"quantization\":{\"group_size\":64,\"bits\":4}}"), 0);
    cr_expect_str_eq(A.quantization.method, "mlx");
    cr_expect_eq(A.quantization.group_size, 64);
    cr_expect_float_eq(A.quantization.effective_bits, 4.5, 1e-9);
}

Test(quant, gptq_quantize_config_file)
{
    cr_assert_eq(qfile("{\"bits\":3,\"group_size\":-1,\"desc_act\":true,\"sym\":true,\"damp_percent\":0.1}",
                       "quantize_config.json"), 0, "%s", iw_error_last());
    cr_expect_str_eq(A.quantization.method, "gptq");
    cr_expect_eq(A.quantization.group_size, -1);
    cr_expect_float_eq(A.quantization.bits, 3, 1e-9);
    cr_expect_str_eq(A.quantization.label, "GPTQ-3bit");
    cr_expect_str_eq(iw_arch_get_source(&A, "quantization.bits"), "quantize_config.json");
}

Test(quant, duplicate_key_in_quantize_config_keeps_the_last_value)
{
    cr_assert_eq(qfile("{\"bits\":8,\"group_size\":128,\"bits\":4}", "quantize_config.json"), 0,
                 "%s", iw_error_last());
    cr_expect_float_eq(A.quantization.bits, 4, 1e-9);
    bool w = false;
    for (size_t i = 0; i < A.warnings.n; i++)
        w = w || (strstr(A.warnings.v[i], "duplicate key 'bits'") && strstr(A.warnings.v[i], "last value"));
    cr_expect(w, "no duplicate-key warning naming 'bits'");
}

Test(quant, awq_quant_config_file)
{
    cr_assert_eq(qfile("{\"w_bit\":4,\"q_group_size\":128,\"zero_point\":true,\"version\":\"GEMM\"}",
                       "quant_config.json"), 0);
    cr_expect_str_eq(A.quantization.method, "awq");
    cr_expect_eq(A.quantization.group_size, 128);
    cr_expect_str_eq(A.quantization.format, "GEMM");
    cr_expect_str_eq(A.quantization.label, "AWQ-4bit-g128");
}

Test(quant, config_json_wins_over_standalone_file)
{
    cr_assert_eq(cfg("{" BASE "\"quantization_config\":{\"quant_method\":\"awq\",\"bits\":4,\"group_size\":32}}"), 0);
    cr_assert_eq(qfile("{\"bits\":8,\"group_size\":128}", "quantize_config.json"), 0);
    cr_expect_str_eq(A.quantization.method, "awq");
    cr_expect_eq(A.quantization.group_size, 32);
}

Test(quant, bad_files)
{
    cr_expect_lt(qfile("{\"bits\":", "quantize_config.json"), 0);
    cr_expect_lt(qfile("[]", "quantize_config.json"), 0);
    cr_expect_lt(qfile("{\"damp_percent\":0.1}", "quantize_config.json"), 0);
    cr_expect_not_null(strstr(iw_error_last(), "quantize_config.json"));
    cr_expect_lt(qfile("{\"bits\":\"four\",\"group_size\":128}", "quantize_config.json"), 0);
    cr_expect_lt(qfile("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3\n", "q.json"), 0);
    cr_expect_not_null(strstr(iw_error_last(), "not downloaded"));
}

Test(quant, wrong_types_warn)
{
    cr_assert_eq(cfg("{" BASE "\"quantization_config\":{\"quant_method\":\"gptq\",\"bits\":99,\"group_size\":0}}"), 0);
    cr_expect(isnan(A.quantization.bits));
    cr_expect_eq(A.quantization.group_size, IW_UNKNOWN);
    cr_expect_geq(A.warnings.n, 2);
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(cfg("{" BASE "\"quantization_config\":{\"quant_method\":\"fp8\",\"weight_block_size\":[128]}}"), 0);
    cr_expect_str_eq(A.quantization.method, "fp8");
    cr_expect_float_eq(A.quantization.effective_bits, 8.0, 1e-9);
    cr_expect_geq(A.warnings.n, 1);
}
