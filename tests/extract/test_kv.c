/* test_kv.c - KV bytes per token: GQA/MQA with head_dim, per-layer arrays,
 * MLA latent, sliding layers apart, hybrid models, precision. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"

static iw_arch A;
static void setup(void) { iw_arch_init(&A); }
static void teardown(void) { iw_arch_free(&A); }
TestSuite(kv, .init = setup, .fini = teardown);

static int cfg(const char *j) { return iw_config_parse(j, strlen(j), "config.json", &A); }

Test(kv, gqa_uses_head_dim)
{
    /* Qwen3-0.6B: 28 layers, 8 KV heads, head_dim 128 (not 1024/16 = 64), bf16 */
    cr_assert_eq(cfg("{\"model_type\":\"qwen3\",\"hidden_size\":1024,\"num_hidden_layers\":28,"
                     "\"num_attention_heads\":16,\"num_key_value_heads\":8,\"head_dim\":128,"
                     "\"torch_dtype\":\"bfloat16\"}"), 0);
    cr_assert_eq(iw_kv_per_token(&A), 0, "%s", iw_error_last());
    cr_expect_eq(A.kv_bytes_per_token, 28LL * 8 * (128 + 128) * 2);
    cr_expect_eq(A.kv_bytes_per_token_swa, 0);
    cr_expect_eq(A.kv_bytes_per_token_full, A.kv_bytes_per_token);
}

Test(kv, mqa_and_fp32)
{
    cr_assert_eq(cfg("{\"model_type\":\"falcon\",\"hidden_size\":4544,\"num_hidden_layers\":32,"
                     "\"num_attention_heads\":71,\"multi_query\":true,\"torch_dtype\":\"float32\"}"), 0);
    cr_assert_eq(iw_kv_per_token(&A), 0);
    cr_expect_eq(A.kv_bytes_per_token, 32LL * 1 * (64 + 64) * 4);
}

Test(kv, mla_latent_no_factor_two)
{
    cr_assert_eq(cfg("{\"model_type\":\"deepseek_v3\",\"hidden_size\":7168,\"num_hidden_layers\":61,"
                     "\"num_attention_heads\":128,\"num_key_value_heads\":128,\"kv_lora_rank\":512,"
                     "\"qk_rope_head_dim\":64,\"qk_nope_head_dim\":128,\"v_head_dim\":128,"
                     "\"torch_dtype\":\"bfloat16\"}"), 0);
    cr_assert_eq(iw_kv_per_token(&A), 0);
    cr_expect_eq(A.kv_bytes_per_token, 61LL * (512 + 64) * 2);   /* 1152 B per layer */
}

Test(kv, sliding_layers_reported_apart)
{
    /* gemma-3-1b: 26 layers, pattern 6 -> 4 full, 22 sliding; 1 KV head x 256 */
    cr_assert_eq(cfg("{\"model_type\":\"gemma3_text\",\"hidden_size\":1152,\"num_hidden_layers\":26,"
                     "\"num_attention_heads\":4,\"num_key_value_heads\":1,\"head_dim\":256,"
                     "\"sliding_window\":512,\"sliding_window_pattern\":6,\"torch_dtype\":\"bfloat16\"}"), 0);
    cr_assert_eq(iw_kv_per_token(&A), 0);
    int64_t per = 1LL * (256 + 256) * 2;
    cr_expect_eq(A.kv_bytes_per_token_full, 4 * per);
    cr_expect_eq(A.kv_bytes_per_token_swa, 22 * per);
    cr_expect_eq(A.kv_bytes_per_token, 26 * per);
}

Test(kv, hybrid_counts_attention_layers_only)
{
    cr_assert_eq(cfg("{\"model_type\":\"qwen3_next\",\"hidden_size\":2048,\"num_hidden_layers\":48,"
                     "\"num_attention_heads\":16,\"num_key_value_heads\":2,\"head_dim\":256,"
                     "\"full_attention_interval\":4,\"torch_dtype\":\"bfloat16\"}"), 0);
    cr_assert_eq(iw_kv_per_token(&A), 0);
    cr_expect_eq(A.kv_bytes_per_token, 12LL * 2 * 512 * 2);
}

Test(kv, per_layer_kv_heads_and_kv_precision)
{
    cr_assert_eq(cfg("{\"model_type\":\"openelm\",\"hidden_size\":1280,\"num_hidden_layers\":3,"
                     "\"num_attention_heads\":20,\"head_dim\":64,\"num_kv_heads\":[3,4,5]}"), 0);
    cr_assert_eq(A.attention.n_kv_heads_per_layer, 3);
    cr_assert_eq(iw_arch_set_str(&A.kv_precision, "fp8"), 0);
    cr_assert_eq(iw_kv_per_token(&A), 0);
    cr_expect_eq(A.kv_bytes_per_token, (3 + 4 + 5) * 128LL * 1);
}

Test(kv, default_bf16_and_unknowns)
{
    cr_assert_eq(cfg("{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2,"
                     "\"num_attention_heads\":4}"), 0);
    cr_assert_eq(iw_kv_per_token(&A), 0);
    cr_expect_eq(A.kv_bytes_per_token, 2LL * 4 * 32 * 2);
    cr_expect_not_null(iw_arch_get_source(&A, "kv_precision"));
    iw_arch_free(&A);
    iw_arch_init(&A);
    cr_expect_lt(iw_kv_per_token(&A), 0);
    cr_expect_lt(iw_kv_per_token(NULL), 0);
}

Test(kv, gemma4_full_layers_use_their_own_heads)
{
    /* sliding layers: 2 KV heads x 16; full layers: 1 global KV head x 64 (K=V
     * still cached as K and V), bf16 */
    cr_assert_eq(cfg("{\"model_type\":\"gemma4\",\"text_config\":{\"model_type\":\"gemma4_text\","
                     "\"hidden_size\":64,\"num_hidden_layers\":3,\"num_attention_heads\":4,"
                     "\"num_key_value_heads\":2,\"head_dim\":16,\"global_head_dim\":64,"
                     "\"num_global_key_value_heads\":1,\"attention_k_eq_v\":true,\"sliding_window\":8,"
                     "\"layer_types\":[\"sliding_attention\",\"sliding_attention\",\"full_attention\"]}}"), 0);
    cr_assert_eq(iw_kv_per_token(&A), 0, "%s", iw_error_last());
    cr_expect_eq(A.kv_bytes_per_token_swa, 2LL * 2 * (16 + 16) * 2);
    cr_expect_eq(A.kv_bytes_per_token_full, 1LL * (64 + 64) * 2);
}
