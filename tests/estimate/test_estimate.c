/* test_estimate.c - estimator formulas per layer class, hand-computed.
 * The iw_arch records are built by hand from the published config.json
 * values of each model (numbers quoted in the comments). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/json.h"   /* iw_estimate_to_json answers a cJSON tree */
#include "estfixture.h"

#define GIB ((int64_t)1 << 30)

static iw_layer_kind *kinds(size_t n, iw_layer_kind (*f)(size_t))
{
    iw_layer_kind *k = malloc(n * sizeof *k);
    cr_assert_not_null(k);
    for (size_t i = 0; i < n; i++)
        k[i] = f(i);
    return k;
}

static const iw_est_term *term(const iw_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_terms; i++)
        if (!strcmp(e->terms[i].name, name))
            return &e->terms[i];
    return NULL;
}

static int64_t term_bytes(const iw_estimate *e, const char *name)
{
    const iw_est_term *t = term(e, name);
    cr_assert_not_null(t, "term %s missing", name);
    return t->bytes;
}


Test(kv, llama3_8b_gqa)
{
    iw_arch a;
    est_llama3_8b(&a);
    int64_t kv = 0;
    /* 32 layers x 8 kv heads x (128 + 128) x 2 B = 131072 B/token */
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 1, &kv), 0, "%s", iw_error_last());
    cr_assert_eq(kv, 131072);
    /* fp8: 65536; TP 2 divides KV heads: 4 per rank -> 65536 at bf16 */
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_FP8, 1, &kv), 0);
    cr_assert_eq(kv, 65536);
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 2, &kv), 0);
    cr_assert_eq(kv, 65536);
    /* TP 16 > 8 kv heads: at least one head per rank -> 32 x 1 x 256 x 2 = 16384 */
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 16, &kv), 0);
    cr_assert_eq(kv, 16384);

    /* vLLM at ctx 8192, batch 1: KV term = 131072 x 8192 (already a multiple of 16) */
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)131072 * 8192);
    cr_assert_eq(term_bytes(&e, "weights"), 16060522496);
    cr_assert_str_eq(term(&e, "weights")->source, "exact: safetensors headers");
    cr_assert(strstr(term(&e, "kv_cache")->formula, "batch") != NULL);
    /* llama.cpp q8_0: 32 x 8 x 256 x 34/32 = 69632 B/token, n_ctx 8000 -> PAD 8192 */
    o.engine = IW_ENGINE_LLAMACPP;
    o.kv_dtype = IW_KV_Q8_0;
    o.context = 8000;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)69632 * 8192);
    /* compute buffer: the peak of ggml's allocator over llama.cpp's llama graph.  llama.cpp
     * itself (bench/llamacpp_oracle.sh, a synthetic GGUF of this shape in no_alloc mode)
     * reserves 121729056 B under llama-server (one output row per slot) and 287836160 B under
     * llama-cli (logits for the 512 tokens of the ubatch) */
    cr_assert_eq(term_bytes(&e, "compute"), 121729056);
    cr_assert_str_eq(term(&e, "compute")->source, "llama.cpp graph");
    o.llama_app = IW_LLAMA_CLI;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "compute"), 287836160);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

static iw_layer_kind gemma3_kind(size_t i) { return (i + 1) % 6 == 0 ? IW_LAYER_FULL : IW_LAYER_SLIDING; }

/* Gemma-3 27B text: 62 layers, 32 heads, 16 KV heads, head_dim 128,
 * sliding window 1024, pattern 6 (5 sliding : 1 full), hidden 5376. */
static void gemma3_27b(iw_arch *a, bool with_types)
{
    iw_arch_init(a);
    iw_arch_set_str(&a->torch_dtype, "bfloat16");
    a->num_layers = 62;
    a->num_attention_heads = 32;
    a->num_kv_heads = 16;
    a->head_dim = 128;
    a->hidden_size = 5376;
    a->intermediate_size = 21504;
    a->vocab_size = 262208;
    a->context_length = 131072;
    a->attention.sliding_window = 1024;
    a->attention.sliding_window_pattern = 6;
    if (with_types) {
        a->attention.layer_types = kinds(62, gemma3_kind);
        a->attention.n_layer_types = 62;
    }
    a->parameters.total = 27009002240;
}

Test(kv, gemma3_sliding)
{
    for (int pass = 0; pass < 2; pass++) {    /* layer_types, then the pattern rule */
        iw_arch a;
        gemma3_27b(&a, pass == 0);
        iw_est_opts o;
        iw_est_opts_init(&o);
        o.context = 32768;
        o.max_num_batched_tokens = 8192;
        iw_estimate e;
        iw_estimate_init(&e);
        cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
        /* full layers i = 5, 11, ..., 59: 10; sliding 52.  Per layer 16 x 256 x 2 = 8192 B/token.
         * vLLM's KV-cache groups (kv_cache_utils.py): group size 10 (the smaller bucket), so 1 full
         * group and cdiv(52, 10) = 6 sliding groups, 8 padding layers (vLLM logs "Add 8 padding
         * layers" for gemma-3-27b-it).  Every group is 10 layers wide:
         * full: 10 x 8192 x 32768 = 2684354560
         * sliding: tokens = (cdiv(min(1024-1+8192, 32768), 16) + 1) x 16 = (576 + 1) x 16 = 9232
         *          6 groups x 10 x 8192 x 9232 = 4537712640           total 7222067200 */
        cr_assert_eq(term_bytes(&e, "kv_cache"), 7222067200, "pass %d: %lld", pass,
                     (long long)term_bytes(&e, "kv_cache"));
        cr_assert_eq(e.kv_bytes_per_token, 62 * 8192);
        cr_assert_eq(e.kv_groups, 7);
        cr_assert_eq(e.kv_group_layers, 10);
        cr_assert_eq(e.kv_padding_layers, 8);
        cr_assert_eq(e.kv_block_bytes, 16 * 10 * 8192);
        /* before the hybrid allocator (vLLM 0.8 rules) every layer holds the whole context */
        iw_est_profiles *ps = NULL;
        cr_assert_eq(iw_est_profiles_new(&ps), 0);
        o.vllm_rules = iw_est_profiles_for_vllm(ps, IW_VLLM_VERSION(0, 8, 5));
        cr_assert_not_null(o.vllm_rules);
        cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
        cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)62 * 8192 * 32768);
        o.vllm_rules = NULL;
        iw_est_profiles_free(ps);
        /* llama.cpp: n_ctx 32768; SWA cells min(32768, PAD(1024 x 1 + 512, 256) = 1536)
         * 10 x 8192 x 32768 + 52 x 8192 x 1536 = 2684354560 + 654311424 = 3338665984 */
        o.engine = IW_ENGINE_LLAMACPP;
        cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
        cr_assert_eq(term_bytes(&e, "kv_cache"), 3338665984);
        /* weights from parameters (no headers): 27009002240 x 2 B, source "formula" */
        cr_assert_eq(e.weights_bytes, 54018004480);
        cr_assert_str_eq(term(&e, "weights")->source, "formula");
        iw_estimate_free(&e);
        iw_arch_free(&a);
    }
}

/* DeepSeek-V3: 61 layers, MLA kv_lora_rank 512 + qk_rope_head_dim 64 = 576. */
static void deepseek_v3(iw_arch *a)
{
    iw_arch_init(a);
    iw_arch_set_str(&a->torch_dtype, "bfloat16");
    a->num_layers = 61;
    a->num_attention_heads = 128;
    a->num_kv_heads = 128;
    a->head_dim = 192;
    a->hidden_size = 7168;
    a->intermediate_size = 18432;
    a->vocab_size = 129280;
    a->context_length = 163840;
    a->attention.type = IW_ATTN_MLA;
    a->attention.kv_lora_rank = 512;
    a->attention.qk_rope_head_dim = 64;
    a->attention.qk_nope_head_dim = 128;
    a->attention.value_length = 128;
    a->moe.num_experts = 256;
    a->moe.experts_per_token = 8;
    a->moe.expert_intermediate_size = 2048;
    a->moe.shared_experts = 1;
    a->moe.num_dense_layers = 3;
    a->parameters.total = 671026419200;
}

Test(kv, deepseek_v3_mla)
{
    iw_arch a;
    deepseek_v3(&a);
    int64_t kv = 0;
    /* 61 x (512 + 64) x 2 B = 70272 B/token, no factor 2, not divided by TP */
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 1, &kv), 0, "%s", iw_error_last());
    cr_assert_eq(kv, 70272);
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 8, &kv), 0);
    cr_assert_eq(kv, 70272);
    /* fp8: 61 x 576 = 35136 */
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_FP8, 8, &kv), 0);
    cr_assert_eq(kv, 35136);
    /* MLA without kv_lora_rank is refused, not guessed */
    a.attention.kv_lora_rank = IW_UNKNOWN;
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 1, &kv), IW_EINVAL);
    cr_assert(strstr(iw_error_last(), "kv_lora_rank") != NULL);
    iw_arch_free(&a);
}

static iw_layer_kind gptoss_kind(size_t i) { return i % 2 == 0 ? IW_LAYER_SLIDING : IW_LAYER_FULL; }

/* gpt-oss-120b: 36 layers, 64 heads, 8 KV heads x head_dim 64, window 128,
 * even layers sliding; MXFP4 experts (128 experts, top-4, width 2880). */
static void gpt_oss_120b(iw_arch *a)
{
    iw_arch_init(a);
    iw_arch_set_str(&a->model_type, "gpt_oss");
    iw_arch_set_str(&a->torch_dtype, "bfloat16");
    a->num_layers = 36;
    a->num_attention_heads = 64;
    a->num_kv_heads = 8;
    a->head_dim = 64;
    a->hidden_size = 2880;
    a->intermediate_size = 2880;
    a->vocab_size = 201088;
    a->context_length = 131072;
    a->attention.sliding_window = 128;
    a->attention.layer_types = kinds(36, gptoss_kind);
    a->attention.n_layer_types = 36;
    a->moe.num_experts = 128;
    a->moe.experts_per_token = 4;
    a->moe.expert_intermediate_size = 2880;
    iw_arch_set_str(&a->quantization.method, "mxfp4");
    a->quantization.bits = 4;
    a->parameters.total = 116829156672;
}

Test(kv, gpt_oss_alternating)
{
    iw_arch a;
    gpt_oss_120b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.max_num_batched_tokens = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(e.in.context, 131072);   /* default: the model's maximum */
    cr_assert_eq(e.kv_padding_layers, 0, "18 full + 18 sliding: two groups of 18, no padding");
    /* per layer 8 x (64 + 64) x 2 = 2048 B/token; 18 full + 18 sliding.
     * full 18 x 2048 x 131072 = 4831838208
     * sliding (cdiv(min(127 + 8192, 131072), 16) + 1) x 16 = 8336 tokens: 36864 x 8336 = 307298304 */
    cr_assert_eq(term_bytes(&e, "kv_cache"), 5139136512);
    /* llama.cpp: SWA cells min(131072, PAD(128 + 512, 256) = 768): 36864 x 768 = 28311552 */
    o.engine = IW_ENGINE_LLAMACPP;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), 4831838208 + 28311552);
    /* Ollama's llama-server log (ollama/ollama#16480, #16416): n_ctx 262144 = 2 seqs x 131072,
     * n_ubatch 1024, FA.  full: 18 x 2048 x 131072 x 2 = 9216 MiB; SWA per seq
     * PAD(min(131072, 128 + 1024), 256) = 1280 cells: 18 x 2048 x 1280 x 2 = 90 MiB;
     * compute: llama.cpp itself reserves 464822304 B for this shape under llama-server
     * (the oracle, bench/llamacpp_oracle.sh; the 796 MiB of that log came from Ollama's
     * older runner, which reserved logits for the whole ubatch) */
    o.context = 131072;
    o.batch = 2;
    o.n_ubatch = 1024;
    o.flash_attn = 1;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)(9216 + 90) << 20);
    cr_assert_eq(term_bytes(&e, "compute"), 464822304);
    iw_estimate_free(&e);

    /* MXFP4 weights, experts only: 36 x 128 x 3 x 2880 x 2880 = 114661785600 expert params
     * at 4.25 bits = 60914073600 B, the other 2167371072 params at 2 B = 4334742144;
     * total 65248815744 (published checkpoint: ~65.2 GB) */
    int64_t wb = 0;
    char f[256];
    const char *src = NULL;
    cr_assert_eq(iw_estimate_weights(&a, &wb, f, sizeof(f), &src), 0, "%s", iw_error_last());
    cr_assert_eq(wb, 65248815744, "%lld (%s)", (long long)wb, f);
    cr_assert_str_eq(src, "formula");
    cr_assert(strstr(f, "experts") != NULL);
    iw_arch_free(&a);
}

static iw_layer_kind qnext_kind(size_t i) { return i % 4 == 3 ? IW_LAYER_FULL : IW_LAYER_LINEAR; }

/* Qwen3-Next-80B-A3B: 48 layers, full attention every 4th (12), 2 KV heads
 * x head_dim 256; gated delta net: 16 key heads x 128, 32 value heads x 128,
 * conv kernel 4. */
Test(kv, qwen3_next_hybrid)
{
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    a.num_layers = 48;
    a.num_attention_heads = 16;
    a.num_kv_heads = 2;
    a.head_dim = 256;
    a.hidden_size = 2048;
    a.vocab_size = 151936;
    a.context_length = 262144;
    a.attention.layer_types = kinds(48, qnext_kind);
    a.attention.n_layer_types = 48;
    a.ssm.d_conv = 4;
    a.ssm.n_groups = 16;
    a.ssm.d_state = 128;
    a.ssm.n_heads = 32;
    a.ssm.head_dim = 128;
    a.ssm.d_inner = 4096;
    a.moe.num_experts = 512;
    a.moe.experts_per_token = 10;
    a.moe.expert_intermediate_size = 512;
    a.parameters.total = 81324862720;

    int64_t kv = 0;
    /* attention layers only: 12 x 2 x (256 + 256) x 2 B = 24576 B/token */
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 1, &kv), 0, "%s", iw_error_last());
    cr_assert_eq(kv, 24576);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 4096;
    o.batch = 2;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    /* state per layer: conv 3 x (4096 + 2 x 16 x 128) = 24576, ssm 32 x 128 x 128 = 524288,
     * 548864 elements x 2 B x 36 linear layers = 39518208 B per sequence; batch 2 */
    cr_assert_eq(e.state_bytes_per_seq, 39518208);
    cr_assert_eq(term_bytes(&e, "state"), 2 * 39518208);
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)2 * 24576 * 4096);
    /* state is constant in context */
    o.context = 65536;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    cr_assert_eq(term_bytes(&e, "state"), 2 * 39518208);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

static iw_layer_kind mllama_kind(size_t i)
{
    /* cross_attention_layers [3, 8, 13, 18, 23, 28, 33, 38] */
    return (i % 5 == 3) ? IW_LAYER_CROSS : IW_LAYER_FULL;
}

/* Llama-3.2-11B-Vision (mllama): 40 text layers of which 8 cross-attention,
 * 8 KV heads x 128; encoder length 4 tiles x (560/14)^2 + 1 = 6404. */
Test(kv, mllama_cross)
{
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    a.num_layers = 40;
    a.num_attention_heads = 32;
    a.num_kv_heads = 8;
    a.head_dim = 128;
    a.hidden_size = 4096;
    a.intermediate_size = 14336;
    a.vocab_size = 128256;
    a.context_length = 131072;
    a.attention.layer_types = kinds(40, mllama_kind);
    a.attention.n_layer_types = 40;
    a.attention.num_cross_layers = 8;
    a.attention.encoder_length = 6404;
    a.parameters.total = 10670220835;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    /* per layer 8 x 256 x 2 = 4096 B/token.  self: 32 x 4096 x 8192 = 1073741824
     * cross: 8 x 4096 x cdiv(6404, 16) x 16 = 32768 x 6416 = 210239488 (independent of ctx) */
    cr_assert_eq(term_bytes(&e, "kv_cache"), 1073741824 + 210239488);
    /* same result when only num_cross_layers is known (no per-layer types) */
    free(a.attention.layer_types);
    a.attention.layer_types = NULL;
    a.attention.n_layer_types = 0;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), 1073741824 + 210239488);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

Test(kv, per_layer_kv_heads)
{
    /* OpenELM-like: 4 layers with kv heads [1, 2, 3, 4] x head_dim 64, fp16:
     * (1+2+3+4) x 128 x 2 = 2560 B/token; a 0 entry is a layer without attention */
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "float16");
    a.num_layers = 5;
    a.num_attention_heads = 8;
    a.head_dim = 64;
    int64_t *h = malloc(5 * sizeof *h);
    cr_assert_not_null(h);
    h[0] = 1; h[1] = 2; h[2] = 3; h[3] = 4; h[4] = 0;
    a.attention.kv_heads_per_layer = h;
    a.attention.n_kv_heads_per_layer = 5;
    int64_t kv = 0;
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 1, &kv), 0, "%s", iw_error_last());
    cr_assert_eq(kv, 2560);
    iw_arch_free(&a);
}

Test(kv, shared_kv_layers)
{
    /* Gemma-3n-like: 30 layers, 2 KV heads x 256, the last 10 reuse earlier KV:
     * 20 x 2 x 512 x 2 B = 40960 B/token (not 30 x 2048 = 61440) */
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    a.num_layers = 30;
    a.num_attention_heads = 8;
    a.num_kv_heads = 2;
    a.head_dim = 256;
    a.attention.num_kv_shared_layers = 10;
    int64_t kv = 0;
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 1, &kv), 0, "%s", iw_error_last());
    cr_assert_eq(kv, 40960);
    iw_arch_free(&a);
}

Test(weights, gptq_awq_fp8_bnb)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.weights_bytes = IW_UNKNOWN;
    a.parameters.total = 8000000000;
    a.parameters.embedding = 525336576;      /* 128256 x 4096 */
    iw_arch_set_str(&a.quantization.method, "gptq");
    a.quantization.bits = 4;
    a.quantization.group_size = 128;
    int64_t wb = 0;
    char f[256];
    const char *src;
    /* quantized 8e9 - 2 x 525336576 = 6949326848 at 4 + 20/128 = 4.15625 bits
     * = 3610392870.4 B, + embeddings and lm_head 1050673152 x 2 B -> 5711738768 (ceil) */
    cr_assert_eq(iw_estimate_weights(&a, &wb, f, sizeof(f), &src), 0, "%s", iw_error_last());
    cr_assert_eq(wb, 5711738768, "%lld: %s", (long long)wb, f);
    cr_assert(strstr(f, "4.156") != NULL, "%s", f);
    /* fp8 with 128x128 blocks: 8 + 32/16384 bits */
    iw_arch_set_str(&a.quantization.method, "fp8");
    a.quantization.bits = 8;
    cr_assert_eq(iw_estimate_weights(&a, &wb, f, sizeof(f), &src), 0);
    cr_assert_eq(wb, (int64_t)ceil(6949326848.0 * (8 + 32.0 / 16384) / 8 + 1050673152.0 * 2));
    /* nf4 double quant 4 + 8/64 + 32/16384 = 4.126953125 bits */
    iw_arch_set_str(&a.quantization.method, "bitsandbytes");
    a.quantization.bits = 4;
    a.quantization.double_quant = true;
    cr_assert_eq(iw_estimate_weights(&a, &wb, f, sizeof(f), &src), 0);
    cr_assert_eq(wb, (int64_t)ceil(6949326848.0 * 4.126953125 / 8 + 1050673152.0 * 2));
    /* a method without bits is refused */
    iw_arch_set_str(&a.quantization.method, "mystery");
    a.quantization.bits = NAN;
    cr_assert_eq(iw_estimate_weights(&a, &wb, f, sizeof(f), &src), IW_EINVAL);
    /* no headers, no parameters */
    iw_arch_set_str(&a.quantization.method, NULL);
    a.parameters.total = IW_UNKNOWN;
    cr_assert_eq(iw_estimate_weights(&a, &wb, f, sizeof(f), &src), IW_EINVAL);
    cr_assert(strstr(iw_error_last(), "parameters.total") != NULL);
    iw_arch_free(&a);
}

Test(weights, tp_split)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    o.tp = 2;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "weights"), 16060522496 / 2);
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)65536 * 8192);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* ---- inverse: plug the answers back ---------------------------------- */

static bool fits(const iw_arch *a, iw_est_opts o, int64_t ctx, int64_t batch)
{
    iw_estimate e;
    iw_estimate_init(&e);
    o.context = ctx;
    o.batch = batch;
    cr_assert_eq(iw_estimate_compute(a, &o, &e), 0, "%s", iw_error_last());
    bool f = e.fits;
    iw_estimate_free(&e);
    return f;
}

Test(inverse, max_context_vllm_and_llamacpp)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.context_length = 1 << 20;      /* large, so the budget decides */
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.vram_bytes = 24 * GIB;
    for (int eng = 0; eng < 2; eng++) {
        o.engine = eng ? IW_ENGINE_LLAMACPP : IW_ENGINE_VLLM;
        int64_t step = eng ? 256 : 16;
        for (int64_t batch = 1; batch <= 4; batch *= 2) {
            int64_t c = 0;
            cr_assert_eq(iw_estimate_max_context(&a, &o, batch, &c), 0, "%s", iw_error_last());
            cr_assert_gt(c, 0);
            cr_assert_eq(c % step, 0, "ctx %lld not a multiple of %lld", (long long)c, (long long)step);
            cr_assert(fits(&a, o, c, batch), "engine %d batch %lld: %lld should fit", eng, (long long)batch, (long long)c);
            cr_assert(!fits(&a, o, c + step, batch), "engine %d: %lld should not fit", eng, (long long)(c + step));
        }
        int64_t b = 0;
        cr_assert_eq(iw_estimate_max_batch(&a, &o, 8192, &b), 0, "%s", iw_error_last());
        cr_assert_gt(b, 0);
        cr_assert(fits(&a, o, 8192, b));
        cr_assert(!fits(&a, o, 8192, b + 1));
    }
    /* vLLM, 24 GiB x 0.9: budget 23192823398 - weights 16060522496 - activations/graphs...
     * the answer must be well below the 1M model maximum and above 16k */
    o.engine = IW_ENGINE_VLLM;
    int64_t c = 0;
    cr_assert_eq(iw_estimate_max_context(&a, &o, 1, &c), 0);
    cr_assert(c > 16384 && c < 65536, "%lld", (long long)c);
    iw_arch_free(&a);
}

Test(inverse, sliding_window_piecewise)
{
    /* Gemma-3 27B at fp8 weights would be ~27 GB; use an 80 GiB budget.
     * Past the window the sliding layers stop growing, so the answer grows by
     * budget / (10 full layers x 8192 B) per extra byte: the max must be
     * consistent with the plug-back at +16. */
    iw_arch a;
    gemma3_27b(&a, true);
    a.context_length = 1 << 22;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.vram_bytes = 80 * GIB;
    int64_t c = 0;
    cr_assert_eq(iw_estimate_max_context(&a, &o, 1, &c), 0, "%s", iw_error_last());
    cr_assert_gt(c, 9232);    /* past the sliding cap */
    cr_assert(fits(&a, o, c, 1));
    cr_assert(!fits(&a, o, c + 16, 1));
    /* hand check: budget 0.9 x 80 GiB = 77309411328; at c the KV is
     * 81920 x c + 491520 x 9232, so c is about (budget - rest) / 81920 */
    iw_estimate e;
    iw_estimate_init(&e);
    o.context = c;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    /* the 52 sliding layers sit in 6 groups of 10 (8 padding layers): 60 x 8192 B per token;
     * the newest rules (vLLM 0.21+) size the KV cache after the CUDA-graph estimate: inside */
    int64_t rest = e.total - term_bytes(&e, "kv_cache");
    double expect = floor((double)(e.budget - rest - (int64_t)491520 * 9232) / 81920 / 16) * 16;
    cr_assert_eq(c, (int64_t)expect, "%lld vs %.0f", (long long)c, expect);
    /* vLLM 0.10-0.20 capture the graphs after sizing the KV cache: the graphs sit above the
     * budget, so the answer grows by their bytes / 81920 per token (rounded to 16) */
    iw_est_profiles *ps = NULL;
    cr_assert_eq(iw_est_profiles_new(&ps), 0);
    o.vllm_rules = iw_est_profiles_for_vllm(ps, IW_VLLM_VERSION(0, 19, 0));
    cr_assert_str_eq(o.vllm_rules->name, "vllm-0.10");
    int64_t c10 = 0;
    cr_assert_eq(iw_estimate_max_context(&a, &o, 1, &c10), 0, "%s", iw_error_last());
    double expect10 = floor((double)(e.budget - rest + term_bytes(&e, "cuda_graphs") - (int64_t)491520 * 9232) /
                            81920 / 16) * 16;
    cr_assert_eq(c10, (int64_t)expect10, "%lld vs %.0f", (long long)c10, expect10);
    iw_est_profiles_free(ps);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

Test(inverse, capped_at_model_max)
{
    iw_arch a;
    est_llama3_8b(&a);          /* max 8192 */
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.vram_bytes = 80 * GIB;
    int64_t c = 0;
    cr_assert_eq(iw_estimate_max_context(&a, &o, 1, &c), 0);
    cr_assert_eq(c, 8192);
    iw_arch_free(&a);
}

/* ---- bad inputs --------------------------------------------------------- */

Test(bad, budget_smaller_than_weights)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.vram_bytes = 8 * GIB;
    o.context = 4096;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    cr_assert(!e.fits);
    cr_assert_gt(e.weights_bytes, e.budget);
    int64_t c = -1, b = -1;
    cr_assert_eq(iw_estimate_max_context(&a, &o, 1, &c), 0);
    cr_assert_eq(c, 0);
    cr_assert_eq(iw_estimate_max_batch(&a, &o, 4096, &b), 0);
    cr_assert_eq(b, 0);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

Test(bad, missing_fields)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.num_layers = IW_UNKNOWN;
    iw_est_opts o;
    iw_est_opts_init(&o);
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), IW_EINVAL);
    cr_assert(strstr(iw_error_last(), "num_layers") != NULL, "%s", iw_error_last());
    a.num_layers = 32;
    a.head_dim = IW_UNKNOWN;
    a.hidden_size = IW_UNKNOWN;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), IW_EINVAL);
    cr_assert(strstr(iw_error_last(), "head dimension") != NULL, "%s", iw_error_last());
    a.head_dim = 128;
    a.context_length = IW_UNKNOWN;
    a.max_position_embeddings = IW_UNKNOWN;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), IW_EINVAL);
    cr_assert(strstr(iw_error_last(), "--context") != NULL, "%s", iw_error_last());
    a.num_layers = 1000000;     /* beyond the cap */
    o.context = 10;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), IW_ELIMIT);
    a.num_layers = 32;
    o.kv_dtype = IW_KV_Q4_0;    /* llama.cpp only */
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), IW_EINVAL);
    o.kv_dtype = IW_KV_FP8;     /* no fp8 cache in llama.cpp */
    o.engine = IW_ENGINE_LLAMACPP;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), IW_EINVAL);
    o.engine = IW_ENGINE_VLLM;
    o.kv_dtype = IW_KV_AUTO;
    o.gpu_util = 1.5;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), IW_EINVAL);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

Test(misc, gpu_table_and_sizes)
{
    int64_t b = 0;
    cr_assert(iw_gpu_lookup("rtx4090", &b));
    cr_assert_eq(b, 24 * GIB);
    cr_assert(iw_gpu_lookup("A100-80GB", &b));
    cr_assert_eq(b, 80 * GIB);
    cr_assert(iw_gpu_lookup("nvidia-h100", &b));
    cr_assert_eq(b, 80 * GIB);
    cr_assert(iw_gpu_lookup("MI300X", &b));
    cr_assert_eq(b, 192 * GIB);
    cr_assert(!iw_gpu_lookup("rtx9999", &b));
    cr_assert_eq(iw_parse_mem_size("24GiB", &b), 0);
    cr_assert_eq(b, 24 * GIB);
    cr_assert_eq(iw_parse_mem_size("24GB", &b), 0);
    cr_assert_eq(b, 24000000000);
    cr_assert_eq(iw_parse_mem_size("1.5G", &b), 0);
    cr_assert_eq(b, 3 * GIB / 2);
    cr_assert_eq(iw_parse_mem_size("12x", &b), IW_EINVAL);
    cr_assert_eq(iw_parse_mem_size("-3G", &b), IW_EINVAL);
    cr_assert_eq(iw_parse_mem_size("1e30G", &b), IW_ELIMIT);
}

Test(misc, recommend_and_json)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.vram_bytes = 24 * GIB;
    o.kv_dtype = IW_KV_FP8;
    o.context = 4096;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    iw_strlist args = {0};
    cr_assert_eq(iw_estimate_recommend(&e, 100000, 3, &args), 0);   /* clamped to 8192 */
    cr_assert_eq(args.n, 8);
    cr_assert_str_eq(args.v[0], "--max-model-len");
    cr_assert_str_eq(args.v[1], "8192");
    cr_assert_str_eq(args.v[3], "3");
    cr_assert_str_eq(args.v[5], "0.90");
    cr_assert_str_eq(args.v[7], "fp8");
    iw_strlist_free(&args);
    cJSON *j = iw_estimate_to_json(&e);
    cr_assert_not_null(j);
    cJSON *terms = cJSON_GetObjectItem(j, "terms");
    cr_assert(cJSON_IsArray(terms));
    cr_assert_gt(cJSON_GetArraySize(terms), 3);
    cJSON *t0 = cJSON_GetArrayItem(terms, 0);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(t0, "formula")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "fits")));
    cJSON_Delete(j);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

static bool has_warning(const iw_estimate *e, const char *needle)
{
    for (size_t i = 0; i < e->warnings.n; i++)
        if (strstr(e->warnings.v[i], needle))
            return true;
    return false;
}

/* Llama-4-style chunked local attention: 48 layers, every 4th full (12), the
 * other 36 chunked with attention_chunk_size 8192; 8 KV heads x 128, bf16. */
static iw_layer_kind llama4_kind(size_t i) { return i % 4 == 3 ? IW_LAYER_FULL : IW_LAYER_CHUNKED; }

Test(kv, chunked_local_attention)
{
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    a.num_layers = 48;
    a.num_attention_heads = 40;
    a.num_kv_heads = 8;
    a.head_dim = 128;
    a.hidden_size = 5120;
    a.intermediate_size = 8192;
    a.vocab_size = 202048;
    a.context_length = 262144;
    a.attention.chunk_size = 8192;
    a.attention.layer_types = kinds(48, llama4_kind);
    a.attention.n_layer_types = 48;
    a.weights_bytes = 10 * GIB;
    int64_t kv = 0;
    /* uncapped per token: 48 x 8 x (128 + 128) x 2 B = 196608 */
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 1, &kv), 0, "%s", iw_error_last());
    cr_assert_eq(kv, 48 * 4096);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 32768;
    o.max_num_batched_tokens = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    /* per layer 8 x 256 x 2 = 4096 B/token; groups of 12: 1 full + 3 chunked, no padding.
     * vLLM full: 12 x 4096 x 32768 = 1610612736
     * chunked: cdiv(min(8192 + mbt 8192, 32768), 16) x 16 = 16384 tokens: 36 x 4096 x 16384 = 2415919104 */
    cr_assert_eq(term_bytes(&e, "kv_cache"), 1610612736 + 2415919104, "%lld",
                 (long long)term_bytes(&e, "kv_cache"));
    cr_assert(strstr(term(&e, "kv_cache")->formula, "chunked 36 L") != NULL, "%s", term(&e, "kv_cache")->formula);
    /* below the chunk every layer holds the whole context: 48 x 4096 x 4096 */
    o.context = 4096;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), 805306368);
    /* llama.cpp, n_ctx 32768: chunked cells min(PAD(32768, 256), PAD(8192 + n_ubatch 512, 256) = 8704)
     * 12 x 4096 x 32768 + 36 x 4096 x 8704 = 1610612736 + 1283457024 */
    o.engine = IW_ENGINE_LLAMACPP;
    o.context = 32768;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), 2894069760);
    /* two sequences: full n_ctx = 65536 cells, chunked 2 x 8704 cells
     * 12 x 4096 x 65536 + 36 x 4096 x 17408 = 3221225472 + 2566914048 */
    o.batch = 2;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), 5788139520);
    /* without attention.chunk_size the chunked layers are counted as full, with a warning */
    a.attention.chunk_size = IW_UNKNOWN;
    o.batch = 1;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)48 * 4096 * 32768);
    cr_assert(has_warning(&e, "chunk_size"));
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

Test(kv, llamacpp_q4_0_cache)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_LLAMACPP;
    o.kv_dtype = IW_KV_Q4_0;
    o.context = 8000;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    /* q4_0: 18 bytes per 32 values.  32 x 8 x 256 x 18/32 = 36864 B/token; n_ctx PAD(8000, 256) = 8192 */
    cr_assert_eq(e.kv_bytes_per_token, 36864);
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)36864 * 8192);
    cr_assert(strstr(term(&e, "kv_cache")->formula, "q4_0") != NULL, "%s", term(&e, "kv_cache")->formula);
    cr_assert(!has_warning(&e, "flash attention"));
    /* a quantized V cache needs flash attention: without it, a warning */
    o.flash_attn = 0;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)36864 * 8192);
    cr_assert(has_warning(&e, "flash attention"));
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

Test(llamacpp, partial_offload_ngl)
{
    iw_arch a;
    est_llama3_8b(&a);     /* exact weights 16060522496 B = 8030261248 params x 2 B */
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_LLAMACPP;
    o.context = 8192;
    o.n_gpu_layers = 16;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    /* token embeddings 128256 x 4096 x 2 B = 1050673152 stay in host RAM; the untied
     * output layer (same size) is on the GPU only with -ngl > 32.
     * repeating = 16060522496 - 2 x 1050673152 = 13959176192; on the GPU x 16/32 = 6979588096 */
    cr_assert_eq(term_bytes(&e, "weights"), 6979588096);
    /* KV f16: 131072 B/token x 8192 = 1073741824, half of it on the GPU */
    cr_assert_eq(term_bytes(&e, "kv_cache"), 536870912);
    /* host: weights 16060522496 - 6979588096 + KV 536870912 + the output buffer
     * (logits of one row, 128256 x 4 B = 513024) */
    cr_assert_eq(e.host_bytes, 9617805312 + 513024);
    cr_assert_eq(e.n_host_terms, 3);
    /* compute: llama.cpp's graph (130035744 B under llama-server, as llama.cpp reserves it for
     * ctx 8192 with every layer on one device); where part of it runs on the CPU is not
     * modelled, so the term is labelled a heuristic */
    cr_assert_eq(term_bytes(&e, "compute"), 130035744);
    cr_assert_str_eq(term(&e, "compute")->source, "heuristic: partial offload");
    cr_assert_eq(term_bytes(&e, "overhead"), 250 << 20);
    /* -ngl 32: every repeating layer, but not the output layer */
    o.n_gpu_layers = 32;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "weights"), 13959176192);
    cr_assert_eq(term_bytes(&e, "compute"), 130035744);
    cr_assert_eq(e.host_bytes, 16060522496 - 13959176192 + 513024);
    /* -ngl 33 = every layer + the output layer: 13959176192 + 1050673152; host keeps the embeddings */
    o.n_gpu_layers = 33;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "weights"), 15009849344);
    cr_assert_eq(term_bytes(&e, "kv_cache"), 1073741824);
    cr_assert_eq(e.host_bytes, 1050673152 + 513024);
    cr_assert_eq(term_bytes(&e, "compute"), 130035744);
    cr_assert_str_eq(term(&e, "compute")->source, "llama.cpp graph");
    /* -ngl 0: nothing on the GPU, everything in host RAM */
    o.n_gpu_layers = 0;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "weights"), 0);
    cr_assert_eq(term_bytes(&e, "kv_cache"), 0);
    cr_assert_eq(term_bytes(&e, "compute"), 0);
    cr_assert_eq(term_bytes(&e, "overhead"), 0);
    cr_assert_eq(e.host_bytes, 16060522496 + 1073741824 + 513024);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

Test(vllm, non_torch_and_cuda_graphs)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    /* non_torch 256 MiB; CUDA graphs 192 MiB + 32 layers x 8 MiB = 448 MiB */
    cr_assert_eq(term_bytes(&e, "non_torch"), (int64_t)256 << 20);
    cr_assert_eq(term_bytes(&e, "cuda_graphs"), (int64_t)448 << 20);
    int64_t total_graphs = e.total;
    /* enforce_eager: no CUDA graphs, and the total drops by exactly their 448 MiB */
    o.enforce_eager = true;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "cuda_graphs"), 0);
    cr_assert(strstr(term(&e, "cuda_graphs")->formula, "enforce_eager") != NULL);
    cr_assert_eq(e.total, total_graphs - ((int64_t)448 << 20));
    /* tp 2: + 2048 MiB NCCL buffers (the default rules); graphs 192 + 32 x 8 / 2 = 320 MiB */
    o.enforce_eager = false;
    o.tp = 2;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "non_torch"), (int64_t)2304 << 20);
    cr_assert_eq(term_bytes(&e, "cuda_graphs"), (int64_t)320 << 20);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

Test(vision, vit_formula_included_and_external_tower)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.has_vision = true;
    a.hidden_size = 3584;
    /* SigLIP-so400m-like tower, no vision.params: ViT formula with proj = text hidden 3584:
     * 27 x (4 x 1152^2 + 2 x 1152 x 4304) + 3 x 14^2 x 1152 + 1152 x 3584 + 3584^2 = 428721664 params, x 2 B */
    a.vision.num_layers = 27;
    a.vision.hidden_size = 1152;
    a.vision.intermediate_size = 4304;
    a.vision.patch_size = 14;
    a.weights_bytes = IW_UNKNOWN;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 4096;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "vision"), 857443328, "%lld", (long long)term_bytes(&e, "vision"));
    cr_assert(strstr(term(&e, "vision")->formula, "vision.params unknown") != NULL);
    /* vision.params known: params x 2 B; tp 2 splits it */
    a.vision.params = 400000000;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "vision"), 800000000);
    o.tp = 2;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "vision"), 400000000);
    o.tp = 1;
    /* exact safetensors weights hold the tower: 0 bytes, "included" */
    a.weights_bytes = 16060522496;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "vision"), 0);
    cr_assert(strstr(term(&e, "vision")->formula, "included in the exact weights") != NULL);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* llava-1.5: config.json names the CLIP tower (mm_vision_tower) and only its
 * projector is in the checkpoint, so the tower is counted separately whether
 * the weights are exact or from parameters.total. */
Test(vision, llava_external_tower)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.has_vision = true;
    iw_arch_set_str(&a.torch_dtype, "float16");
    iw_arch_set_str(&a.vision.model_type, "openai/clip-vit-large-patch14-336");
    a.vision.projection_dim = 1024;
    a.parameters.vision = 20979712;      /* projector: 1024 x 4096 + 4096 + 4096^2 + 4096 */
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 4096;
    iw_estimate e;
    iw_estimate_init(&e);
    /* CLIP ViT-L/14: 24 x (4 x 1024^2 + 2 x 1024 x 4096) + 3 x 14^2 x 1024 = 302592000 params x 2 B */
    for (int pass = 0; pass < 2; pass++) {      /* exact weights, then the parameter formula */
        a.weights_bytes = pass == 0 ? 16060522496 : IW_UNKNOWN;
        cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
        cr_assert_eq(term_bytes(&e, "vision"), 605184000, "pass %d: %lld", pass, (long long)term_bytes(&e, "vision"));
        cr_assert(strstr(term(&e, "vision")->formula, "own repo") != NULL, "%s", term(&e, "vision")->formula);
    }
    /* a tower we do not know is not counted, and a warning says so */
    iw_arch_set_str(&a.vision.model_type, "someone/custom-vision-tower");
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_null(term(&e, "vision"));
    cr_assert(has_warning(&e, "someone/custom-vision-tower"));
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* Llama-3.2-11B-Vision text layers without an encoder length: llama.cpp
 * warns like vLLM instead of silently counting 0 cross-attention tokens. */
Test(kv, llamacpp_cross_attention_encoder_length)
{
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    a.num_layers = 40;
    a.num_attention_heads = 32;
    a.num_kv_heads = 8;
    a.head_dim = 128;
    a.hidden_size = 4096;
    a.intermediate_size = 14336;
    a.vocab_size = 128256;
    a.context_length = 131072;
    a.attention.layer_types = kinds(40, mllama_kind);
    a.attention.n_layer_types = 40;
    a.parameters.total = 10670220835;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_LLAMACPP;
    o.context = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    /* self-attention only: 32 x 4096 B x 8192; the warning names the missing length */
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)32 * 4096 * 8192);
    cr_assert(has_warning(&e, "without encoder_length"));
    /* with the mllama vision shape: 4 tiles x ((560/14)^2 + 1) = 6404 tokens per cross layer,
     * assumed with a warning: 32 x 4096 x 8192 + 8 x 4096 x 6404 = 1283588096 */
    a.vision.image_size = 560;
    a.vision.patch_size = 14;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_eq(term_bytes(&e, "kv_cache"), 1283588096);
    cr_assert(has_warning(&e, "assumed 4 tiles"));
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* Qwen3-Next-like hybrid on an 80 GiB GPU: the KV pool vLLM reports is what
 * the budget leaves after the non-KV terms AND the recurrent state of the
 * batch, which is allocated per sequence and does not hold tokens. */
Test(vllm, kv_capacity_subtracts_recurrent_state)
{
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    a.num_layers = 48;
    a.num_attention_heads = 16;
    a.num_kv_heads = 2;
    a.head_dim = 256;
    a.hidden_size = 2048;
    a.vocab_size = 151936;
    a.context_length = 262144;
    a.attention.layer_types = kinds(48, qnext_kind);
    a.attention.n_layer_types = 48;
    a.ssm.d_conv = 4;
    a.ssm.n_groups = 16;
    a.ssm.d_state = 128;
    a.ssm.n_heads = 32;
    a.ssm.head_dim = 128;
    a.ssm.d_inner = 4096;
    a.moe.num_experts = 512;
    a.moe.experts_per_token = 10;
    a.moe.expert_intermediate_size = 512;
    a.weights_bytes = 10 * GIB;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 4096;
    o.batch = 2;
    o.enforce_eager = true;
    o.vram_bytes = 80 * GIB;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    /* budget floor(80 GiB x 0.9) = 77309411328; an 80 GiB GPU gets vLLM's large serve defaults:
     * max_num_batched_tokens 8192, max_num_seqs 1024.
     * activations = max(forward, sampler):
     *   forward: MoE layer 2h + k h + 3 k I_e + 2E = 4096 + 20480 + 15360 + 1024 = 40960;
     *            8192 x 40960 x 2 = 671088640
     *   sampler: 4 x 1024 x 151936 x 4 + hidden 8192 x 2048 x 2 = 2489319424 + 33554432 = 2522873856
     * rope_cache: 262144 positions x 256 x 2 B = 134217728
     * non-KV: 10737418240 + 2522873856 + 134217728 + non_torch 268435456 = 13662945280
     * state: 2 x 39518208 = 79036416
     * pool: (77309411328 - 13662945280 - 79036416) / 24576 B/token = 2586575.6 -> 2586560 (16-token blocks) */
    cr_assert_eq(term_bytes(&e, "activations"), 2522873856);
    cr_assert_eq(term_bytes(&e, "rope_cache"), 134217728);
    cr_assert_eq(term_bytes(&e, "state"), 2 * 39518208);
    cr_assert_eq(e.kv_capacity_tokens, 2586560, "%lld", (long long)e.kv_capacity_tokens);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* Gemma-3-270m: 18 layers (every 6th full: 3 full, 15 sliding), 1 KV head x 256,
 * window 512 -> 1 x 512 x 2 B = 1024 B per token per layer.  llama.cpp pads each
 * sequence's share of n_ctx to 256 (kv_unified = false); the figures are the
 * llama-server allocations quoted in unslothai/unsloth#5225 and #7530. */
static iw_layer_kind g270m_kind(size_t i) { return (i + 1) % 6 == 0 ? IW_LAYER_FULL : IW_LAYER_SLIDING; }

Test(llamacpp, per_sequence_padding_and_swa_slots)
{
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    a.num_layers = 18;
    a.num_attention_heads = 4;
    a.num_kv_heads = 1;
    a.head_dim = 256;
    a.hidden_size = 640;
    a.vocab_size = 262144;
    a.context_length = 32768;
    a.attention.sliding_window = 512;
    a.attention.layer_types = kinds(18, g270m_kind);
    a.attention.n_layer_types = 18;
    a.weights_bytes = 536223744;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_LLAMACPP;
    iw_estimate e;
    iw_estimate_init(&e);
    static const struct { int64_t ctx, seqs, mib2; } cases[] = {
        /* full: 3 x 1024 x seqs x PAD(ctx, 256); SWA: 15 x 1024 x seqs x min(PAD(ctx), PAD(512 + 512) = 1024)
         * (mib2 = 2 x MiB, to keep 27.0 and 25.5 exact) */
        {4096, 1, 54},   /* 12 + 15 = 27 MiB */
        {1024, 4, 144},  /* 12 + 60 = 72 MiB */
        {512, 8, 144},   /* 12 + 15 x 8 x 512 cells = 72 MiB */
        {341, 3, 54},    /* -c 1023 -np 3: 3 x 512 = 1536 cells; 4.5 + 22.5 = 27 MiB (not 25.5 with PAD(1023) = 1024) */
        {256, 4, 36},    /* 1024 cells on all 18 layers = 18 MiB */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        o.context = cases[i].ctx;
        o.batch = cases[i].seqs;
        cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
        cr_assert_eq(term_bytes(&e, "kv_cache") * 2, cases[i].mib2 << 20, "ctx %lld x %lld: %lld",
                     (long long)cases[i].ctx, (long long)cases[i].seqs, (long long)term_bytes(&e, "kv_cache"));
    }
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* Hostile shapes: the llama.cpp graph is refused in one line, never built
 * beyond its caps (2^21 tensors, 4e18 B per tensor) or overflowed. */
Test(llamacpp, hostile_shapes_are_refused_in_one_line)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.num_layers = 100000;                 /* within the input caps, ~4M graph tensors */
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_LLAMACPP;
    o.context = 4096;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_lt(iw_estimate_compute(&a, &o, &e), 0);
    cr_assert(strstr(iw_error_last(), "exceeds") != NULL, "%s", iw_error_last());
    cr_assert_null(strchr(iw_error_last(), '\n'));
    a.num_layers = 32;
    a.num_attention_heads = 100000;        /* KQ of 2^31 cells x 2^20 tokens x 1e5 heads: beyond int64 */
    a.num_kv_heads = 100000;
    a.head_dim = 128;
    o.context = (int64_t)1 << 31;
    o.n_ubatch = (int64_t)1 << 20;
    o.n_batch = (int64_t)1 << 20;
    o.flash_attn = 0;
    cr_assert_lt(iw_estimate_compute(&a, &o, &e), 0);
    cr_assert(strstr(iw_error_last(), "exceeds") != NULL, "%s", iw_error_last());
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* llama.cpp holds at most 256 sequences in one context (LLAMA_MAX_SEQ):
 * beyond that the estimate is a what-if of memory alone (the inverse asks
 * it, the recommendation caps it), sized by formula with a warning, never
 * by a graph llama.cpp would not build. */
Test(llamacpp, beyond_llama_max_seq_is_a_formula_what_if)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_LLAMACPP;
    o.vram_bytes = (int64_t)1 << 50;       /* everything fits */
    int64_t mb = 0;
    cr_assert_eq(iw_estimate_max_batch(&a, &o, 256, &mb), 0, "%s", iw_error_last());
    cr_assert_gt(mb, IW_EST_LLAMA_MAX_SEQ);
    o.batch = IW_EST_LLAMA_MAX_SEQ + 1;
    o.context = 256;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert(has_warning(&e, "LLAMA_MAX_SEQ"));
    cr_assert_str_eq(term(&e, "compute")->source, "heuristic");
    /* the KV is the same rule either way: 257 x 256 cells x 131072 B */
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)257 * 256 * 131072);
    o.batch = IW_EST_LLAMA_MAX_SEQ;
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s", iw_error_last());
    cr_assert_str_eq(term(&e, "compute")->source, "llama.cpp graph");
    cr_assert_eq(term_bytes(&e, "kv_cache"), (int64_t)256 * 256 * 131072);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}
