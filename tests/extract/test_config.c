/* test_config.c - iw_config_parse: family aliases, nesting, head_dim,
 * sliding windows, hybrids, MoE/MLA fields and bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"

static iw_arch A;

static void setup(void) { iw_arch_init(&A); }
static void teardown(void) { iw_arch_free(&A); }

TestSuite(config, .init = setup, .fini = teardown);

static int parse(const char *json)
{
    return iw_config_parse(json, strlen(json), "config.json", &A);
}

static bool warned(const char *needle)
{
    for (size_t i = 0; i < A.warnings.n; i++)
        if (strstr(A.warnings.v[i], needle))
            return true;
    return false;
}

Test(config, llama_basic_fields_and_sources)
{
    cr_assert_eq(parse("{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"],"
                       "\"hidden_size\":4096,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
                       "\"num_key_value_heads\":8,\"intermediate_size\":14336,\"vocab_size\":128256,"
                       "\"max_position_embeddings\":131072,\"rope_theta\":500000.0,"
                       "\"rope_scaling\":{\"factor\":8.0,\"rope_type\":\"llama3\"},"
                       "\"rms_norm_eps\":1e-5,\"tie_word_embeddings\":false,\"torch_dtype\":\"bfloat16\"}"), 0,
              "%s", iw_error_last());
    cr_expect_str_eq(A.model_type, "llama");
    cr_expect_str_eq(A.architecture, "LlamaForCausalLM");
    cr_expect_eq(A.num_layers, 32);
    cr_expect_eq(A.num_kv_heads, 8);
    cr_expect_eq(A.head_dim, 128);
    cr_expect_str_eq(iw_arch_get_source(&A, "head_dim"), "derived:hidden_size/num_attention_heads");
    cr_expect_str_eq(iw_arch_get_source(&A, "num_layers"), "config.json");
    cr_expect_eq(A.attention.type, IW_ATTN_GQA);
    cr_expect_eq(A.context_length, 131072);
    cr_expect_float_eq(A.rope_theta, 500000.0, 1e-6);
    cr_expect_not_null(strstr(A.rope_scaling_json, "llama3"));
    cr_expect_str_eq(A.torch_dtype, "bfloat16");
    cr_expect_str_eq(A.kv_precision, "bf16");
    cr_expect_str_eq(A.norm_type, "rmsnorm");
    cr_expect_str_eq(A.mlp_type, "gated");
    cr_expect(!A.tie_word_embeddings);
    cr_expect_null(A.attention.layer_types);
}

Test(config, explicit_head_dim_wins_over_hidden_over_heads)
{
    cr_assert_eq(parse("{\"model_type\":\"qwen3\",\"hidden_size\":1024,\"num_hidden_layers\":28,"
                       "\"num_attention_heads\":16,\"num_key_value_heads\":8,\"head_dim\":128,"
                       "\"intermediate_size\":3072,\"vocab_size\":151936}"), 0);
    cr_expect_eq(A.head_dim, 128);   /* not 1024/16 = 64 */
    cr_expect_str_eq(iw_arch_get_source(&A, "head_dim"), "config.json");
}

Test(config, gpt2_aliases)
{
    cr_assert_eq(parse("{\"model_type\":\"gpt2\",\"n_embd\":768,\"n_layer\":12,\"n_head\":12,"
                       "\"n_positions\":1024,\"n_inner\":null,\"vocab_size\":50257,\"layer_norm_epsilon\":1e-5}"), 0);
    cr_expect_eq(A.hidden_size, 768);
    cr_expect_eq(A.num_layers, 12);
    cr_expect_eq(A.num_attention_heads, 12);
    cr_expect_eq(A.num_kv_heads, 12);
    cr_expect_eq(A.max_position_embeddings, 1024);
    cr_expect_eq(A.intermediate_size, 3072);
    cr_expect_str_eq(iw_arch_get_source(&A, "intermediate_size"), "default:4*hidden_size");
    cr_expect_str_eq(A.mlp_type, "plain");
    cr_expect_str_eq(A.norm_type, "layernorm");
    cr_expect(A.tie_word_embeddings);
    cr_expect_eq(A.attention.type, IW_ATTN_MHA);
}

Test(config, falcon_multi_query_and_new_decoder)
{
    cr_assert_eq(parse("{\"model_type\":\"falcon\",\"hidden_size\":4544,\"num_hidden_layers\":32,"
                       "\"num_attention_heads\":71,\"multi_query\":true,\"new_decoder_architecture\":false,"
                       "\"vocab_size\":65024}"), 0);
    cr_expect_eq(A.num_kv_heads, 1);
    cr_expect_eq(A.attention.type, IW_ATTN_MQA);
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(parse("{\"model_type\":\"falcon\",\"hidden_size\":14848,\"num_hidden_layers\":80,"
                       "\"num_attention_heads\":232,\"num_kv_heads\":8,\"new_decoder_architecture\":true,"
                       "\"multi_query\":true,\"vocab_size\":65024}"), 0);
    cr_expect_eq(A.num_kv_heads, 8);
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(parse("{\"model_type\":\"RefinedWeb\",\"hidden_size\":8192,\"n_layer\":60,"
                       "\"n_head\":128,\"n_head_kv\":8,\"vocab_size\":65024}"), 0);
    cr_expect_eq(A.num_kv_heads, 8);
    cr_expect_eq(A.num_layers, 60);
}

Test(config, mpt_nested_attn_config_and_expansion_ratio)
{
    cr_assert_eq(parse("{\"model_type\":\"mpt\",\"d_model\":3072,\"n_layers\":32,\"n_heads\":24,"
                       "\"max_seq_len\":4096,\"expansion_ratio\":4,\"vocab_size\":32768,"
                       "\"attn_config\":{\"kv_n_heads\":8,\"alibi\":true}}"), 0);
    cr_expect_eq(A.hidden_size, 3072);
    cr_expect_eq(A.num_layers, 32);
    cr_expect_eq(A.num_kv_heads, 8);
    cr_expect_eq(A.intermediate_size, 12288);
    cr_expect_eq(A.max_position_embeddings, 4096);
}

Test(config, t5_encoder_decoder)
{
    cr_assert_eq(parse("{\"model_type\":\"t5\",\"is_encoder_decoder\":true,\"d_model\":512,\"d_kv\":64,"
                       "\"d_ff\":1024,\"num_layers\":8,\"num_decoder_layers\":6,\"num_heads\":6,"
                       "\"feed_forward_proj\":\"gated-gelu\",\"vocab_size\":32128}"), 0);
    cr_expect(A.is_encoder_decoder);
    cr_expect_eq(A.encoder_layers, 8);
    cr_expect_eq(A.decoder_layers, 6);
    cr_expect_eq(A.head_dim, 64);
    cr_expect_eq(A.intermediate_size, 1024);
    cr_expect_str_eq(A.mlp_type, "gated");
}

Test(config, chatglm_keys)
{
    cr_assert_eq(parse("{\"model_type\":\"chatglm\",\"num_layers\":28,\"hidden_size\":4096,"
                       "\"ffn_hidden_size\":13696,\"kv_channels\":128,\"num_attention_heads\":32,"
                       "\"multi_query_attention\":true,\"multi_query_group_num\":2,\"seq_length\":32768,"
                       "\"padded_vocab_size\":65024,\"rmsnorm\":true}"), 0);
    cr_expect_eq(A.num_layers, 28);
    cr_expect_eq(A.num_kv_heads, 2);
    cr_expect_eq(A.head_dim, 128);
    cr_expect_eq(A.intermediate_size, 13696);
    cr_expect_eq(A.vocab_size, 65024);
    cr_expect_eq(A.context_length, 32768);
    cr_expect_str_eq(A.norm_type, "rmsnorm");
}

Test(config, qwen_v1_intermediate_is_halved)
{
    cr_assert_eq(parse("{\"model_type\":\"qwen\",\"hidden_size\":4096,\"num_hidden_layers\":32,"
                       "\"num_attention_heads\":32,\"kv_channels\":128,\"intermediate_size\":22016,"
                       "\"vocab_size\":151936,\"bf16\":true}"), 0);
    cr_expect_eq(A.intermediate_size, 11008);
    cr_expect_str_eq(A.torch_dtype, "bfloat16");
}

Test(config, text_config_nesting_and_vision)
{
    cr_assert_eq(parse("{\"model_type\":\"gemma3\",\"architectures\":[\"Gemma3ForConditionalGeneration\"],"
                       "\"torch_dtype\":\"bfloat16\","
                       "\"text_config\":{\"model_type\":\"gemma3_text\",\"hidden_size\":2560,\"num_hidden_layers\":12,"
                       "\"num_attention_heads\":8,\"num_key_value_heads\":4,\"head_dim\":256,\"vocab_size\":262208,"
                       "\"intermediate_size\":10240,\"sliding_window\":1024},"
                       "\"vision_config\":{\"model_type\":\"siglip_vision_model\",\"hidden_size\":1152,"
                       "\"num_hidden_layers\":27,\"intermediate_size\":4304,\"patch_size\":14,\"image_size\":896,"
                       "\"num_attention_heads\":16}}"), 0);
    cr_expect_str_eq(A.model_type, "gemma3");
    cr_expect_eq(A.hidden_size, 2560);
    cr_expect_str_eq(iw_arch_get_source(&A, "hidden_size"), "config.json:text_config");
    cr_expect_str_eq(iw_arch_get_source(&A, "torch_dtype"), "config.json");
    cr_expect(A.has_vision);
    cr_expect_eq(A.vision.hidden_size, 1152);
    cr_expect_eq(A.vision.num_layers, 27);
    cr_expect_str_eq(iw_arch_get_source(&A, "vision.hidden_size"), "config.json:vision_config");
    cr_expect_str_eq(A.vision.model_type, "siglip_vision_model");
    /* gemma3 default pattern: layer i full iff (i+1) % 6 == 0 */
    cr_assert_eq(A.attention.n_layer_types, 12);
    cr_expect_eq(A.attention.layer_types[0], IW_LAYER_SLIDING);
    cr_expect_eq(A.attention.layer_types[5], IW_LAYER_FULL);
    cr_expect_eq(A.attention.layer_types[11], IW_LAYER_FULL);
    cr_expect_eq(iw_arch_count_layers(&A, IW_LAYER_FULL), 2);
}

Test(config, llm_config_nesting)
{
    cr_assert_eq(parse("{\"model_type\":\"internvl_chat\",\"llm_config\":{\"model_type\":\"internlm2\","
                       "\"hidden_size\":2048,\"num_hidden_layers\":24,\"num_attention_heads\":16,"
                       "\"num_key_value_heads\":8,\"intermediate_size\":8192,\"vocab_size\":92553}}"), 0);
    cr_expect_eq(A.num_layers, 24);
    cr_expect_str_eq(iw_arch_get_source(&A, "num_layers"), "config.json:llm_config");
}

Test(config, gemma2_alternates_first_sliding)
{
    cr_assert_eq(parse("{\"model_type\":\"gemma2\",\"hidden_size\":3584,\"num_hidden_layers\":4,"
                       "\"num_attention_heads\":16,\"num_key_value_heads\":8,\"head_dim\":256,"
                       "\"sliding_window\":4096,\"intermediate_size\":14336,\"vocab_size\":256000}"), 0);
    cr_assert_eq(A.attention.n_layer_types, 4);
    cr_expect_eq(A.attention.layer_types[0], IW_LAYER_SLIDING);
    cr_expect_eq(A.attention.layer_types[1], IW_LAYER_FULL);
    cr_expect_eq(A.attention.sliding_window, 4096);
}

Test(config, gpt_oss_even_layers_sliding_and_mxfp4)
{
    cr_assert_eq(parse("{\"model_type\":\"gpt_oss\",\"hidden_size\":2880,\"num_hidden_layers\":4,"
                       "\"num_attention_heads\":64,\"num_key_value_heads\":8,\"head_dim\":64,"
                       "\"sliding_window\":128,\"num_local_experts\":32,\"num_experts_per_tok\":4,"
                       "\"intermediate_size\":2880,\"vocab_size\":201088,"
                       "\"quantization_config\":{\"quant_method\":\"mxfp4\",\"modules_to_not_convert\":"
                       "[\"model.layers.*.self_attn\",\"lm_head\"]}}"), 0);
    cr_assert_eq(A.attention.n_layer_types, 4);
    cr_expect_eq(A.attention.layer_types[0], IW_LAYER_SLIDING);
    cr_expect_eq(A.attention.layer_types[1], IW_LAYER_FULL);
    cr_expect_eq(A.attention.layer_types[2], IW_LAYER_SLIDING);
    cr_expect_eq(A.moe.num_experts, 32);
    cr_expect_eq(A.moe.expert_intermediate_size, 2880);
    cr_expect_str_eq(A.mlp_type, "moe");
    cr_expect_str_eq(A.quantization.method, "mxfp4");
    cr_expect_float_eq(A.quantization.effective_bits, 4.25, 1e-9);
    cr_expect(iw_strlist_contains(&A.quantization.modules_not_converted, "lm_head"));
}

Test(config, layer_types_list_and_use_sliding_window_false)
{
    cr_assert_eq(parse("{\"model_type\":\"qwen2\",\"hidden_size\":896,\"num_hidden_layers\":2,"
                       "\"num_attention_heads\":14,\"num_key_value_heads\":2,\"sliding_window\":32768,"
                       "\"use_sliding_window\":false,\"intermediate_size\":4864,\"vocab_size\":151936}"), 0);
    cr_expect_null(A.attention.layer_types);
    cr_expect_eq(A.attention.sliding_window, IW_UNKNOWN);
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(parse("{\"model_type\":\"x\",\"hidden_size\":64,\"num_hidden_layers\":3,"
                       "\"num_attention_heads\":4,\"sliding_window\":512,\"intermediate_size\":128,\"vocab_size\":10,"
                       "\"layer_types\":[\"sliding_attention\",\"full_attention\",\"sliding_attention\"]}"), 0);
    cr_assert_eq(A.attention.n_layer_types, 3);
    cr_expect_eq(A.attention.layer_types[1], IW_LAYER_FULL);
    cr_expect_eq(A.attention.layer_types[2], IW_LAYER_SLIDING);
}

Test(config, hybrid_patterns)
{
    cr_assert_eq(parse("{\"model_type\":\"jamba\",\"hidden_size\":4096,\"num_hidden_layers\":8,"
                       "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"attn_layer_period\":8,"
                       "\"attn_layer_offset\":4,\"mamba_d_state\":16,\"mamba_d_conv\":4,\"mamba_expand\":2,"
                       "\"intermediate_size\":14336,\"vocab_size\":65536}"), 0);
    cr_assert_eq(A.attention.n_layer_types, 8);
    cr_expect_eq(A.attention.layer_types[4], IW_LAYER_FULL);
    cr_expect_eq(A.attention.layer_types[0], IW_LAYER_MAMBA);
    cr_expect_eq(iw_arch_count_layers(&A, IW_LAYER_FULL), 1);
    cr_expect_eq(A.ssm.d_inner, 8192);
    cr_expect_eq(A.ssm.num_recurrent_layers, 7);
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(parse("{\"model_type\":\"qwen3_next\",\"hidden_size\":2048,\"num_hidden_layers\":8,"
                       "\"num_attention_heads\":16,\"num_key_value_heads\":2,\"head_dim\":256,"
                       "\"full_attention_interval\":4,\"linear_num_value_heads\":32,\"linear_value_head_dim\":128,"
                       "\"linear_num_key_heads\":16,\"intermediate_size\":5120,\"vocab_size\":151936}"), 0);
    cr_expect_eq(A.attention.layer_types[3], IW_LAYER_FULL);
    cr_expect_eq(A.attention.layer_types[0], IW_LAYER_LINEAR);
    cr_expect_eq(iw_arch_count_layers(&A, IW_LAYER_FULL), 2);
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(parse("{\"model_type\":\"granitemoehybrid\",\"hidden_size\":64,\"num_hidden_layers\":3,"
                       "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":10,"
                       "\"layers_block_type\":[\"mamba\",\"attention\",\"mamba\"]}"), 0);
    cr_expect_eq(A.attention.layer_types[1], IW_LAYER_FULL);
    cr_expect_eq(A.attention.layer_types[2], IW_LAYER_MAMBA);
}

Test(config, deepseek_moe_and_mla)
{
    cr_assert_eq(parse("{\"model_type\":\"deepseek_v3\",\"hidden_size\":7168,\"num_hidden_layers\":61,"
                       "\"num_attention_heads\":128,\"num_key_value_heads\":128,\"intermediate_size\":18432,"
                       "\"moe_intermediate_size\":2048,\"n_routed_experts\":256,\"n_shared_experts\":1,"
                       "\"num_experts_per_tok\":8,\"first_k_dense_replace\":3,\"moe_layer_freq\":1,"
                       "\"kv_lora_rank\":512,\"q_lora_rank\":1536,\"qk_rope_head_dim\":64,\"qk_nope_head_dim\":128,"
                       "\"v_head_dim\":128,\"vocab_size\":129280,\"tie_word_embeddings\":false,"
                       "\"quantization_config\":{\"quant_method\":\"fp8\",\"fmt\":\"e4m3\","
                       "\"weight_block_size\":[128,128],\"activation_scheme\":\"dynamic\"}}"), 0);
    cr_expect_eq(A.attention.type, IW_ATTN_MLA);
    cr_expect_eq(A.attention.kv_lora_rank, 512);
    cr_expect_eq(A.attention.q_lora_rank, 1536);
    cr_expect_eq(A.attention.value_length, 128);
    cr_expect_eq(A.moe.num_experts, 256);
    cr_expect_eq(A.moe.shared_experts, 1);
    cr_expect_eq(A.moe.shared_expert_intermediate_size, 2048);
    cr_expect_eq(A.moe.num_dense_layers, 3);
    cr_expect_str_eq(A.quantization.method, "fp8");
    cr_expect_eq(A.quantization.group_size, 128 * 128);
    cr_expect_float_eq(A.quantization.effective_bits, 8.0 + 32.0 / 16384.0, 1e-9);
}

/* ---- bad input ---------------------------------------------------------- */

Test(config, crlf_and_bom_accepted)
{
    const char *j = "\xEF\xBB\xBF{\r\n  \"model_type\": \"llama\",\r\n  \"hidden_size\": 64,\r\n"
                    "  \"num_hidden_layers\": 2,\r\n  \"num_attention_heads\": 4\r\n}\r\n";
    cr_assert_eq(parse(j), 0, "%s", iw_error_last());
    cr_expect_eq(A.hidden_size, 64);
}

Test(config, duplicate_key_warns)
{
    cr_assert_eq(parse("{\"model_type\":\"llama\",\"hidden_size\":64,\"hidden_size\":128,"
                       "\"num_hidden_layers\":2,\"num_attention_heads\":4}"), 0);
    cr_expect(warned("duplicate key"), "no duplicate-key warning");
    cr_expect(warned("the last value is used"), "warning does not say which value is used");
    /* Python's json (transformers, vLLM) keeps the last value: so do we */
    cr_expect_eq(A.hidden_size, 128);
    cr_expect_eq(A.head_dim, 32);
}

Test(config, duplicate_key_in_nested_block_keeps_the_last_value)
{
    cr_assert_eq(parse("{\"model_type\":\"llava\",\"text_config\":{\"model_type\":\"llama\","
                       "\"hidden_size\":64,\"num_hidden_layers\":2,\"num_hidden_layers\":6,"
                       "\"num_attention_heads\":4}}"), 0);
    cr_expect(warned("text_config.num_hidden_layers"), "warning does not name the nested key");
    cr_expect_eq(A.num_layers, 6);
}

Test(config, lfs_pointer_is_an_error_naming_the_cause)
{
    const char *p = "version https://git-lfs.github.com/spec/v1\noid sha256:"
                    "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n";
    int rc = parse(p);
    cr_expect_lt(rc, 0);
    cr_expect_not_null(strstr(iw_error_last(), "not downloaded"), "%s", iw_error_last());
    cr_expect_null(strchr(iw_error_last(), '\n'));
}

Test(config, truncated_json_is_one_line_error)
{
    int rc = parse("{\"model_type\":\"llama\",\"hidden_size\":4096,\"num_hidden");
    cr_expect_lt(rc, 0);
    cr_expect(iw_error_last()[0] != 0);
    cr_expect_null(strchr(iw_error_last(), '\n'));
}

Test(config, wrong_types_warn_and_skip)
{
    cr_assert_eq(parse("{\"model_type\":\"llama\",\"hidden_size\":\"4096\",\"num_hidden_layers\":32.5,"
                       "\"num_attention_heads\":true,\"rope_theta\":\"big\",\"text_config\":7,"
                       "\"layer_types\":\"sliding\",\"quantization_config\":[1],"
                       "\"n_embd\":256}"), 0, "%s", iw_error_last());
    cr_expect_eq(A.hidden_size, 256);          /* the next alias that has the right type */
    cr_expect_eq(A.num_layers, IW_UNKNOWN);
    cr_expect_eq(A.num_attention_heads, IW_UNKNOWN);
    cr_expect(isnan(A.rope_theta));
    cr_expect(warned("'hidden_size' has the wrong type"));
    cr_expect(warned("'num_hidden_layers'"));
    cr_expect(warned("'text_config' is not an object"));
    cr_expect(warned("'layer_types' has the wrong type"));
    cr_expect_null(A.quantization.method);
}

Test(config, negative_and_huge_values_rejected)
{
    cr_assert_eq(parse("{\"model_type\":\"llama\",\"hidden_size\":-5,\"num_hidden_layers\":1e300,"
                       "\"num_attention_heads\":4,\"vocab_size\":99999999999999999}"), 0);
    cr_expect_eq(A.hidden_size, IW_UNKNOWN);
    cr_expect_eq(A.num_layers, IW_UNKNOWN);
    cr_expect_eq(A.vocab_size, IW_UNKNOWN);
    cr_expect(warned("out of range") || warned("wrong type"));
}

Test(config, missing_fields_warn_not_crash)
{
    cr_assert_eq(parse("{\"model_type\":\"mystery\"}"), 0);
    cr_expect(warned("number of layers not found"));
    cr_expect_eq(iw_params_formula(&A) < 0, true);
    cr_expect_eq(iw_kv_per_token(&A) < 0, true);
}

Test(config, not_a_config)
{
    cr_expect_lt(parse("[1,2,3]"), 0);
    cr_expect_not_null(strstr(iw_error_last(), "not a JSON object"));
    cr_expect_lt(parse("{\"foo\":1}"), 0);
    cr_expect_lt(parse(""), 0);
    cr_expect_lt(iw_config_parse(NULL, 0, "x", &A), 0);
}

Test(config, existing_sources_are_not_overwritten)
{
    cr_assert_eq(parse("{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,"
                       "\"num_attention_heads\":4}"), 0);
    cr_assert_eq(iw_config_parse("{\"hidden_size\":128,\"vocab_size\":1000,\"num_hidden_layers\":9}",
                                 strlen("{\"hidden_size\":128,\"vocab_size\":1000,\"num_hidden_layers\":9}"),
                                 "support_repo:org/base", &A), 0);
    cr_expect_eq(A.hidden_size, 64);
    cr_expect_eq(A.num_layers, 2);
    cr_expect_eq(A.vocab_size, 1000);
    cr_expect_str_eq(iw_arch_get_source(&A, "vocab_size"), "support_repo:org/base");
}

/* ---- iw_extract_path over folders --------------------------------------- */

#include "iwtest.h"

static bool has_source_prefix(const iw_arch *a, const char *prefix)
{
    for (size_t i = 0; i < a->sources.n; i++)
        if (strncmp(a->sources.v[i], prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

Test(config, extract_fixture_folder)
{
    const char *dir = iwt_fixture("models/tiny-llama");
    cr_assert_eq(iw_extract_path(dir, NULL, &A), 0, "%s", iw_error_last());
    cr_expect_eq(A.num_layers, 4);
    cr_expect_eq(A.head_dim, 32);
    cr_expect_eq(A.parameters.total, 19286272LL);
    cr_expect_str_eq(A.parameters.source, "formula");
    cr_expect_eq(A.kv_bytes_per_token, 4LL * 4 * 64 * 2);
    cr_expect_not_null(A.collected_at);
    cr_expect(has_source_prefix(&A, "config:"));
    cr_expect(has_source_prefix(&A, "generation_config:"));
    cr_expect_eq(A.warnings.n, 0, "unexpected warning: %s", A.warnings.n ? A.warnings.v[0] : "");
}

Test(config, extract_folder_without_config_is_enotfound)
{
    char *d = iwt_tmpdir("cfg-empty");
    cr_assert_not_null(d);
    cr_expect_eq(iw_extract_path(d, NULL, &A), IW_ENOTFOUND);
    cr_expect_not_null(strstr(iw_error_last(), "no config.json"));
    cr_expect_null(strchr(iw_error_last(), '\n'));
    cr_expect_eq(iw_extract_path("/nonexistent/iw/model", NULL, &A), IW_ENOTFOUND);
    iwt_rm_rf(d);
    free(d);
}

Test(config, extract_lfs_pointer_config)
{
    char *d = iwt_tmpdir("cfg-lfs");
    char p[4200];
    const char *ptr = "version https://git-lfs.github.com/spec/v1\noid sha256:"
                      "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 700\n";
    snprintf(p, sizeof p, "%s/config.json", d);
    cr_assert_eq(iwt_write(p, ptr, strlen(ptr)), 0);
    cr_expect_lt(iw_extract_path(d, NULL, &A), 0);
    cr_expect_not_null(strstr(iw_error_last(), "not downloaded"), "%s", iw_error_last());
    iwt_rm_rf(d);
    free(d);
}

Test(config, extract_support_dir_fills_only_unknown_and_quant_files)
{
    char *root = iwt_tmpdir("cfg-support");
    char p[4200], model[4200], sup[4200];
    snprintf(model, sizeof model, "%s/Foo-7B-GPTQ", root);
    snprintf(sup, sizeof sup, "%s/base", root);
    /* the model's config lacks vocab_size and intermediate_size */
    const char *mc = "{\"model_type\":\"llama\",\"hidden_size\":4096,\"num_hidden_layers\":32,"
                     "\"num_attention_heads\":32,\"tie_word_embeddings\":false}";
    const char *sc = "{\"model_type\":\"llama\",\"hidden_size\":1,\"vocab_size\":32000,"
                     "\"intermediate_size\":11008,\"num_hidden_layers\":1}";
    const char *qc = "{\"bits\":4,\"group_size\":128,\"desc_act\":false,\"sym\":true}";
    snprintf(p, sizeof p, "%s/config.json", model);
    cr_assert_eq(iwt_write(p, mc, strlen(mc)), 0);
    snprintf(p, sizeof p, "%s/quantize_config.json", model);
    cr_assert_eq(iwt_write(p, qc, strlen(qc)), 0);
    snprintf(p, sizeof p, "%s/config.json", sup);
    cr_assert_eq(iwt_write(p, sc, strlen(sc)), 0);
    iw_extract_opts o = {.support_dir = sup, .support_id = "org/base", .skip_headers = true};
    cr_assert_eq(iw_extract_path(model, &o, &A), 0, "%s", iw_error_last());
    cr_expect_eq(A.hidden_size, 4096);
    cr_expect_eq(A.num_layers, 32);
    cr_expect_eq(A.vocab_size, 32000);
    cr_expect_str_eq(iw_arch_get_source(&A, "vocab_size"), "support_repo:org/base");
    cr_expect_str_eq(iw_arch_get_source(&A, "hidden_size"), "config.json");
    cr_expect_str_eq(A.quantization.method, "gptq");
    cr_expect_str_eq(A.quantization.label, "GPTQ-4bit-g128");
    cr_expect_eq(A.parameters.total, 6738415616LL);
    cr_expect(!warned("parameters but"), "7B name agrees with 6.74B");
    iwt_rm_rf(root);
    free(root);
}

Test(config, extract_name_size_disagreement_warns)
{
    char *root = iwt_tmpdir("cfg-name");
    char p[4200];
    const char *mc = "{\"model_type\":\"llama\",\"hidden_size\":256,\"num_hidden_layers\":4,"
                     "\"num_attention_heads\":8,\"intermediate_size\":688,\"vocab_size\":32000}";
    snprintf(p, sizeof p, "%s/Mislabelled-70B/config.json", root);
    cr_assert_eq(iwt_write(p, mc, strlen(mc)), 0);
    snprintf(p, sizeof p, "%s/Mislabelled-70B", root);
    cr_assert_eq(iw_extract_path(p, NULL, &A), 0, "%s", iw_error_last());
    cr_expect(warned("name 'Mislabelled-70B' says 70B"), "no name-size warning (%zu warnings)", A.warnings.n);
    iwt_rm_rf(root);
    free(root);
}

Test(config, extract_name_table_is_last_resort)
{
    char *root = iwt_tmpdir("cfg-table");
    char p[4200];
    const char *mc = "{\"model_type\":\"mystery\",\"hidden_size\":5120,\"num_hidden_layers\":40}";
    snprintf(p, sizeof p, "%s/Mystery-13B/config.json", root);
    cr_assert_eq(iwt_write(p, mc, strlen(mc)), 0);
    snprintf(p, sizeof p, "%s/Mystery-13B", root);
    cr_assert_eq(iw_extract_path(p, NULL, &A), 0, "%s", iw_error_last());
    cr_expect_eq(A.parameters.total, 13000000000LL);
    cr_expect_str_eq(A.parameters.source, "table");
    cr_expect(warned("guessed from the name"));
    iwt_rm_rf(root);
    free(root);
}

Test(config, extract_moe_name_is_not_a_total)
{
    char *root = iwt_tmpdir("cfg-nx");
    char p[4200];
    const char *mc = "{\"model_type\":\"mixtral\",\"hidden_size\":4096,\"num_hidden_layers\":32,"
                     "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"intermediate_size\":14336,"
                     "\"num_local_experts\":8,\"num_experts_per_tok\":2,\"vocab_size\":32000}";
    snprintf(p, sizeof p, "%s/Mixtral-8x7B-v0.1/config.json", root);
    cr_assert_eq(iwt_write(p, mc, strlen(mc)), 0);
    snprintf(p, sizeof p, "%s/Mixtral-8x7B-v0.1", root);
    cr_assert_eq(iw_extract_path(p, NULL, &A), 0, "%s", iw_error_last());
    cr_expect_eq(A.parameters.total, 46702792704LL);
    cr_expect(!warned("parameters but"), "8x7B naming warned: %s", A.warnings.n ? A.warnings.v[0] : "");
    iwt_rm_rf(root);
    free(root);
}

Test(config, cross_attention_layers_and_encoder_decoder)
{
    cr_assert_eq(parse("{\"model_type\":\"mllama\",\"text_config\":{\"model_type\":\"mllama_text_model\","
                       "\"hidden_size\":64,\"num_hidden_layers\":5,\"num_attention_heads\":4,"
                       "\"num_key_value_heads\":2,\"intermediate_size\":128,\"vocab_size\":100,"
                       "\"cross_attention_layers\":[1,3,99]}}"), 0);
    cr_assert_eq(A.attention.n_layer_types, 5);
    cr_expect_eq(A.attention.layer_types[1], IW_LAYER_CROSS);
    cr_expect_eq(A.attention.layer_types[2], IW_LAYER_FULL);
    cr_expect_eq(A.attention.num_cross_layers, 2);
    cr_expect(warned("out of range"));
    cr_assert_eq(iw_kv_per_token(&A), 0);
    cr_expect_eq(A.kv_bytes_per_token, 3LL * 2 * (16 + 16) * 2);   /* self-attention layers only, head_dim 64/4 */
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(parse("{\"model_type\":\"t5\",\"is_encoder_decoder\":true,\"d_model\":32,\"d_kv\":8,"
                       "\"d_ff\":64,\"num_layers\":3,\"num_decoder_layers\":2,\"num_heads\":4,\"vocab_size\":10}"), 0);
    cr_expect_eq(A.attention.num_cross_layers, 2);
}

Test(config, global_head_dim_and_mtp_layers_are_read)
{
    cr_assert_eq(parse("{\"model_type\":\"gemma4\",\"text_config\":{\"model_type\":\"gemma4_text\","
                       "\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"head_dim\":16,"
                       "\"global_head_dim\":32,\"num_global_key_value_heads\":1,\"attention_k_eq_v\":true,"
                       "\"intermediate_size\":128,\"vocab_size\":100,\"num_nextn_predict_layers\":1},"
                       "\"vision_config\":{\"model_type\":\"gemma4_vision\",\"position_embedding_size\":10}}"), 0);
    cr_expect_eq(A.head_dim, 16);
    cr_expect_eq(A.attention.global_head_dim, 32);
    cr_expect_eq(A.attention.global_kv_heads, 1);
    cr_expect(A.attention.global_k_eq_v);
    cr_expect_str_eq(iw_arch_get_source(&A, "attention.global_head_dim"), "config.json:text_config");
    cr_expect_eq(A.num_mtp_layers, 1);
    cr_expect_eq(A.vision.num_positions, 10);
    cr_expect(!warned("approximate"), "global_head_dim is used now, not approximated");
    /* without a global shape, attention_k_eq_v means nothing */
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_assert_eq(parse("{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,"
                       "\"num_attention_heads\":4,\"attention_k_eq_v\":true}"), 0);
    cr_expect(!A.attention.global_k_eq_v);
    cr_expect_eq(A.num_mtp_layers, 0);
}

Test(config, mla_head_dim_is_nope_plus_rope_not_hidden_over_heads)
{
    /* DeepSeek-V3 shape: hidden/heads = 7168/128 = 56 is meaningless for MLA */
    static const char cfg[] =
        "{\"model_type\": \"deepseek_v3\", \"hidden_size\": 7168, \"num_attention_heads\": 128,"
        " \"num_key_value_heads\": 128, \"num_hidden_layers\": 61, \"kv_lora_rank\": 512,"
        " \"q_lora_rank\": 1536, \"qk_nope_head_dim\": 128, \"qk_rope_head_dim\": 64,"
        " \"v_head_dim\": 128, \"vocab_size\": 129280}";
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_config_parse(cfg, sizeof cfg - 1, "config.json", &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.attention.type, IW_ATTN_MLA);
    cr_assert_eq(a.head_dim, 192);
    cr_assert_eq(a.attention.value_length, 128);
    cr_assert_str_eq(iw_arch_get_source(&a, "head_dim"), "derived:qk_nope_head_dim+qk_rope_head_dim");
    iw_arch_free(&a);
}
