/* test_params.c - parameter formula by architecture class. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"

static iw_arch A;
static void setup(void) { iw_arch_init(&A); }
static void teardown(void) { iw_arch_free(&A); }
TestSuite(params, .init = setup, .fini = teardown);

static void run(const char *j)
{
    cr_assert_eq(iw_config_parse(j, strlen(j), "config.json", &A), 0, "%s", iw_error_last());
    cr_assert_eq(iw_params_formula(&A), 0, "%s", iw_error_last());
    cr_expect_str_eq(A.parameters.source, "formula");
}

Test(params, llama2_7b_exact)
{
    run("{\"model_type\":\"llama\",\"hidden_size\":4096,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
        "\"num_key_value_heads\":32,\"intermediate_size\":11008,\"vocab_size\":32000,\"rms_norm_eps\":1e-5,"
        "\"tie_word_embeddings\":false}");
    cr_expect_eq(A.parameters.total, 6738415616LL);     /* published safetensors total (minus inv_freq) */
    cr_expect_eq(A.parameters.active, A.parameters.total);
    cr_expect_eq(A.parameters.embedding, 32000LL * 4096);
    cr_expect_eq(A.parameters.lm_head, 32000LL * 4096);
}

Test(params, tied_embeddings_and_qkv_bias)
{
    /* Qwen2.5-0.5B: tied, q/k/v biases -> 494,032,768 */
    run("{\"model_type\":\"qwen2\",\"hidden_size\":896,\"num_hidden_layers\":24,\"num_attention_heads\":14,"
        "\"num_key_value_heads\":2,\"intermediate_size\":4864,\"vocab_size\":151936,\"rms_norm_eps\":1e-6,"
        "\"tie_word_embeddings\":true}");
    cr_expect_eq(A.parameters.total, 494032768LL);
    cr_expect_eq(A.parameters.lm_head, 0);
}

Test(params, plain_mlp_layernorm_learned_positions)
{
    /* gpt2 small without the attn.bias buffers: 124,439,808 */
    run("{\"model_type\":\"gpt2\",\"n_embd\":768,\"n_layer\":12,\"n_head\":12,\"n_positions\":1024,"
        "\"vocab_size\":50257,\"layer_norm_epsilon\":1e-5}");
    cr_expect_eq(A.parameters.total, 124439808LL);
}

Test(params, moe_total_and_active)
{
    /* Mixtral-8x7B: 46,702,792,704 total, ~12.9B active */
    run("{\"model_type\":\"mixtral\",\"hidden_size\":4096,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
        "\"num_key_value_heads\":8,\"intermediate_size\":14336,\"num_local_experts\":8,\"num_experts_per_tok\":2,"
        "\"vocab_size\":32000,\"rms_norm_eps\":1e-5,\"tie_word_embeddings\":false}");
    cr_expect_eq(A.parameters.total, 46702792704LL);
    cr_expect(A.parameters.active > 12.8e9 && A.parameters.active < 13.0e9, "active %lld",
              (long long)A.parameters.active);
    cr_expect_gt(A.parameters.experts, 0);
}

Test(params, deepseek_v3_mla_moe_check)
{
    run("{\"model_type\":\"deepseek_v3\",\"hidden_size\":7168,\"num_hidden_layers\":61,"
        "\"num_attention_heads\":128,\"num_key_value_heads\":128,\"intermediate_size\":18432,"
        "\"moe_intermediate_size\":2048,\"n_routed_experts\":256,\"n_shared_experts\":1,"
        "\"num_experts_per_tok\":8,\"first_k_dense_replace\":3,\"moe_layer_freq\":1,"
        "\"kv_lora_rank\":512,\"q_lora_rank\":1536,\"qk_rope_head_dim\":64,\"qk_nope_head_dim\":128,"
        "\"v_head_dim\":128,\"vocab_size\":129280,\"tie_word_embeddings\":false,\"rms_norm_eps\":1e-6,"
        "\"num_nextn_predict_layers\":1}");
    /* formats-and-estimation.md section 8 quotes 670.9 B; the formula with the
     * MLA norms and e_score_correction_bias gives 671,026,419,200 (MTP layer excluded) */
    cr_expect(fabs((double)A.parameters.total - 670.9e9) / 670.9e9 < 0.0005, "total %lld",
              (long long)A.parameters.total);
    cr_expect_eq(A.parameters.total, 671026419200LL);
    cr_expect(A.parameters.active > 36e9 && A.parameters.active < 38.5e9, "active %lld",
              (long long)A.parameters.active);
    /* The MTP module (model.layers.61.*), apart from total: one more MoE layer
     * (MLA 187,107,328 + 2 norms 14,336 + 256 experts and a shared one of
     * 3*7168*2048 + router 7168*256 + 256 bias = 11,320,164,608), eh_proj
     * 2*7168^2 = 102,760,448, 3 norms 21,504, and its own embed_tokens and
     * shared_head.head copies 2*129280*7168 = 1,853,358,080: 13,463,426,304
     * (DeepSeek: "14B of MTP module weights", 671 B + 14 B = the 685 B on the Hub). */
    cr_expect_eq(A.num_mtp_layers, 1);
    cr_expect_eq(A.parameters.mtp, 13463426304LL);
}

Test(params, mtp_layers_counted_apart_from_total)
{
    /* MiMo: model.mtp_layers.N = a decoder layer (q/k/v biases) + input_proj
     * 2h -> h + hidden/token/final norms.  h 64, q 64, kv 32, I 128, V 100:
     * layer = 64*64 + 2*64*32 + 64*64 + (64 + 2*32) + 3*64*128 + 2*64 = 37,120;
     * MTP = 37,120 + 2*64*64 + 3*64 = 45,504 per MTP layer */
#define MIMO(extra) "{\"model_type\":\"mimo\",\"hidden_size\":64,\"num_hidden_layers\":2," \
                    "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":16," \
                    "\"intermediate_size\":128,\"vocab_size\":100,\"tie_word_embeddings\":false," \
                    "\"rms_norm_eps\":1e-5" extra "}"
    const char *j = MIMO("");
    run(j);
    int64_t without = A.parameters.total;
    cr_expect_eq(without, 2 * 100 * 64 + 2 * 37120 + 64);
    cr_expect_eq(A.parameters.mtp, 0);
    iw_arch_free(&A);
    iw_arch_init(&A);
    run(MIMO(",\"num_nextn_predict_layers\":2"));
#undef MIMO
    cr_expect_eq(A.num_mtp_layers, 2);
    cr_expect_eq(A.parameters.total, without, "MTP layers must stay out of total");
    cr_expect_eq(A.parameters.mtp, 2 * 45504);
    /* a family whose MTP layout is not known: not counted, and said so */
    iw_arch_free(&A);
    iw_arch_init(&A);
    run("{\"model_type\":\"somenew\",\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"intermediate_size\":128,\"vocab_size\":100,\"num_nextn_predict_layers\":1}");
    cr_expect_eq(A.parameters.mtp, 0);
    bool w = false;
    for (size_t i = 0; i < A.warnings.n; i++)
        w = w || strstr(A.warnings.v[i], "MTP layer");
    cr_expect(w, "no warning about the uncounted MTP layer");
}

Test(params, gemma4_full_attention_layers_have_their_own_shape)
{
    /* text: h 64, 4 heads; sliding layers head_dim 16 with 2 KV heads, full
     * layers global_head_dim 32 with 2 global KV heads and K=V (no v_proj);
     * per-head q/k norms, 4 norms per layer, tied embeddings.
     *   sliding attn = 64*64 + 2*64*32 + 64*64 + 2*16      = 12,320
     *   full attn    = 64*128 + 64*64 (k only) + 128*64 + 2*32 = 20,544
     *   mlp 3*64*128 = 24,576 and norms 4*64 = 256 per layer, final norm 64
     * vision (gemma4_vision: hidden 8, 2 layers, 2 heads, I 16, patch 2, 10 positions):
     *   3*2*2*8 + 2*10*8 + 2*(4*8*8 + 2*4 + 3*8*16 + 4*8) + 8*64 = 2,128 */
#define GEMMA4(k_eq_v) \
        "{\"model_type\":\"gemma4\",\"text_config\":{\"model_type\":\"gemma4_text\",\"hidden_size\":64," \
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":16," \
        "\"global_head_dim\":32,\"num_global_key_value_heads\":2,\"attention_k_eq_v\":" k_eq_v "," \
        "\"layer_types\":[\"sliding_attention\",\"full_attention\"],\"sliding_window\":8," \
        "\"intermediate_size\":128,\"vocab_size\":100,\"rms_norm_eps\":1e-6,\"tie_word_embeddings\":true}," \
        "\"vision_config\":{\"model_type\":\"gemma4_vision\",\"hidden_size\":8,\"num_hidden_layers\":2," \
        "\"num_attention_heads\":2,\"intermediate_size\":16,\"patch_size\":2," \
        "\"position_embedding_size\":10},\"tie_word_embeddings\":true}"
    run(GEMMA4("true"));
    cr_expect_eq(A.attention.global_head_dim, 32);
    cr_expect_eq(A.attention.global_kv_heads, 2);
    cr_expect(A.attention.global_k_eq_v);
    cr_expect_eq(A.parameters.attention, 12320 + 20544);
    cr_expect_eq(A.parameters.vision, 2128);
    cr_expect_eq(A.parameters.total, 100 * 64 + 12320 + 20544 + 2 * (24576 + 256) + 64 + 2128);
    int64_t k_eq_v = A.parameters.total;
    iw_arch_free(&A);
    iw_arch_init(&A);
    run(GEMMA4("false"));
#undef GEMMA4
    cr_expect_eq(A.parameters.total, k_eq_v + 64 * 64, "a v_proj of 2 heads x 32 adds 64*64");
}

Test(params, huge_widths_overflow_cleanly)
{
    /* every width at the 2^40 cap: one MoE layer is ~3*2^120, 4096 of them
     * would pass 2^127; the formula must stop with IW_ELIMIT, not overflow */
    const char *j = "{\"model_type\":\"mixtral\",\"hidden_size\":1099511627776,\"num_hidden_layers\":4096,"
                    "\"num_attention_heads\":1,\"num_key_value_heads\":1,\"head_dim\":1,"
                    "\"intermediate_size\":1099511627776,\"num_local_experts\":1099511627776,"
                    "\"num_experts_per_tok\":2,\"vocab_size\":1,\"num_nextn_predict_layers\":4096}";
    cr_assert_eq(iw_config_parse(j, strlen(j), "config.json", &A), 0, "%s", iw_error_last());
    cr_expect_eq(iw_params_formula(&A), IW_ELIMIT, "%s", iw_error_last());
}

Test(params, mla_without_q_lora)
{
    /* DeepSeek-V2-Lite: q_lora_rank null, ~15.7B */
    run("{\"model_type\":\"deepseek_v2\",\"hidden_size\":2048,\"num_hidden_layers\":27,"
        "\"num_attention_heads\":16,\"intermediate_size\":10944,\"moe_intermediate_size\":1408,"
        "\"n_routed_experts\":64,\"n_shared_experts\":2,\"num_experts_per_tok\":6,\"first_k_dense_replace\":1,"
        "\"kv_lora_rank\":512,\"q_lora_rank\":null,\"qk_rope_head_dim\":64,\"qk_nope_head_dim\":128,"
        "\"v_head_dim\":128,\"vocab_size\":102400,\"tie_word_embeddings\":false}");
    cr_expect(A.parameters.total > 15.5e9 && A.parameters.total < 15.9e9, "total %lld",
              (long long)A.parameters.total);
}

Test(params, encoder_decoder_t5_small)
{
    run("{\"model_type\":\"t5\",\"is_encoder_decoder\":true,\"d_model\":512,\"d_kv\":64,\"d_ff\":2048,"
        "\"num_layers\":6,\"num_heads\":8,\"vocab_size\":32128,\"feed_forward_proj\":\"relu\","
        "\"layer_norm_epsilon\":1e-6}");
    cr_expect_eq(A.parameters.total, 60506624LL);
}

Test(params, vision_tower_when_complete)
{
    /* siglip-so400m-like tower inside a gemma3 config is counted; removing a width drops it */
    const char *j = "{\"model_type\":\"gemma3\",\"text_config\":{\"model_type\":\"gemma3_text\","
                    "\"hidden_size\":2560,\"num_hidden_layers\":34,\"num_attention_heads\":8,"
                    "\"num_key_value_heads\":4,\"head_dim\":256,\"intermediate_size\":10240,"
                    "\"vocab_size\":262208},\"vision_config\":{\"model_type\":\"siglip_vision_model\","
                    "\"hidden_size\":1152,\"num_hidden_layers\":27,\"intermediate_size\":4304,"
                    "\"patch_size\":14,\"image_size\":896}}";
    run(j);
    cr_expect(A.parameters.vision > 400e6 && A.parameters.vision < 440e6, "vision %lld",
              (long long)A.parameters.vision);
    iw_arch_free(&A);
    iw_arch_init(&A);
    run("{\"model_type\":\"llava\",\"mm_vision_tower\":\"openai/clip-vit-large-patch14-336\","
        "\"hidden_size\":64,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":128,"
        "\"vocab_size\":100}");
    cr_expect_eq(A.parameters.vision, IW_UNKNOWN);
    cr_expect_geq(A.warnings.n, 1);
}

Test(params, missing_fields_fail_cleanly)
{
    /* a model type with no class defaults to fall back on */
    const char *j = "{\"model_type\":\"mystery\",\"hidden_size\":64,\"num_hidden_layers\":2}";
    cr_assert_eq(iw_config_parse(j, strlen(j), "config.json", &A), 0);
    cr_expect_lt(iw_params_formula(&A), 0);
    cr_expect(iw_error_last()[0] != 0);
    cr_expect_eq(A.parameters.total, IW_UNKNOWN);
    cr_expect_lt(iw_params_formula(NULL), 0);
}

Test(params, llama_fields_left_to_the_class_take_its_defaults)
{
    /* transformers' LlamaConfig fills what a llama config.json omits
     * (heads 32, intermediate 11008, vocab 32000): so does the formula */
    const char *j = "{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2}";
    cr_assert_eq(iw_config_parse(j, strlen(j), "config.json", &A), 0);
    cr_expect_eq(A.num_attention_heads, 32);
    cr_expect_eq(A.intermediate_size, 11008);
    cr_expect_eq(A.vocab_size, 32000);
    cr_expect_eq(iw_params_formula(&A), 0, "%s", iw_error_last());
    cr_expect_gt(A.parameters.total, 0);
}
