/* test_vllm_rules.c - the vLLM rules that depend on the engine version
 * (docs/estimate.md, "vLLM versions"), each checked against the vLLM source
 * it follows and, where a public log gives the figure, against that figure.
 * Architectures are built by hand from published config.json values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "estfixture.h"

#define GIB ((int64_t)1 << 30)
#define MIB ((int64_t)1 << 20)

static iw_est_profiles *P;

static void setup(void) { cr_assert_eq(iw_est_profiles_new(&P), 0, "%s", iw_error_last()); }
static void teardown(void) { iw_est_profiles_free(P); }

TestSuite(vllm_rules, .init = setup, .fini = teardown);

static const iw_est_profile *rules(int maj, int min, int pat)
{
    const iw_est_profile *r = iw_est_profiles_for_vllm(P, IW_VLLM_VERSION(maj, min, pat));
    cr_assert_not_null(r, "no rules for %d.%d.%d", maj, min, pat);
    return r;
}

static int64_t term_bytes(const iw_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_terms; i++)
        if (!strcmp(e->terms[i].name, name))
            return e->terms[i].bytes;
    cr_assert_fail("term %s missing", name);
    return 0;
}

static bool has_term(const iw_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_terms; i++)
        if (!strcmp(e->terms[i].name, name))
            return true;
    return false;
}

static void compute(const iw_arch *a, const iw_est_opts *o, iw_estimate *e)
{
    cr_assert_eq(iw_estimate_compute(a, o, e), 0, "%s", iw_error_last());
}

/* Llama-3.1-8B-Instruct on an H100 (79.19 GiB, util 0.95, vLLM 0.19.0): the
 * llm-d-planner log (llm-d-incubation/llm-d-planner@d3121e05, accuracy/results/
 * v0.19.0/logs/meta-llama-llama-3-1-8b---h100-80gb--tp1pp1dp1--8192.log) says
 * "torch peak memory increase: 1.89GiB" with vLLM's serve defaults for a GPU
 * of 70 GiB and more: max_num_batched_tokens 8192, max_num_seqs 1024.  The
 * peak is the sampler of the profiling run, not the forward pass. */
Test(vllm_rules, activation_peak_is_the_sampler_of_max_num_seqs)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.max_position_embeddings = a.context_length = 131072;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    o.vram_bytes = (int64_t)(79.19 * (double)GIB);
    o.gpu_util = 0.95;
    o.vllm_rules = rules(0, 19, 0);
    iw_estimate e;
    iw_estimate_init(&e);
    compute(&a, &o, &e);
    cr_assert_eq(e.in.max_num_batched_tokens, 8192);
    cr_assert_eq(e.in.max_num_seqs, 1024);
    /* forward 8192 x (2 x 4096 + 3 x 14336 + 4096 + 2 x 1024) x 2 = 939524096;
     * sampler 4 x 1024 x 128256 x 4 + hidden 8192 x 4096 x 2 = 2168455168 */
    int64_t act = term_bytes(&e, "activations");
    cr_assert_eq(act, 2168455168);
    double logged = 1.89 * (double)GIB;
    cr_assert_lt(fabs((double)act - logged) / logged, 0.10, "activation %.3f GiB vs logged 1.89", act / (double)GIB);
    /* the user's batch does not size the sampler: max_num_seqs does */
    o.batch = 1;
    compute(&a, &o, &e);
    cr_assert_eq(term_bytes(&e, "activations"), act);
    /* a GPU under 70 GiB gets 2048 tokens / 256 sequences: the forward pass
     * of 2048 tokens (234881024) is under the sampler 4 x 256 x 128256 x 4 +
     * 2048 x 4096 x 2 = 542113792 */
    o.vram_bytes = 24 * GIB;
    compute(&a, &o, &e);
    cr_assert_eq(e.in.max_num_seqs, 256);
    cr_assert_eq(e.in.max_num_batched_tokens, 2048);
    cr_assert_eq(term_bytes(&e, "activations"), 542113792);
    /* the A100 keeps the small defaults whatever its memory (vLLM PR #17885) */
    o.vram_bytes = 80 * GIB;
    o.gpu_name = "a100-80";
    compute(&a, &o, &e);
    cr_assert_eq(e.in.max_num_seqs, 256);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* V0 scheduled max_num_batched_tokens = max(max_model_len, 2048) without
 * chunked prefill, which it enabled by default only past 32K tokens.  Llama-3.1-8B
 * on an RTX 3090 (vllm-project/vllm#10517): max_model_len 20000 logged a torch
 * peak of 17.06 GiB over 14.99 GiB of weights (2.07 GiB), 29000: 2.99 GiB. */
Test(vllm_rules, v0_batches_the_whole_context_without_chunked_prefill)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.max_position_embeddings = a.context_length = 131072;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.vram_bytes = (int64_t)(23.58 * (double)GIB);
    o.vllm_rules = rules(0, 6, 4);
    o.max_num_seqs = 256;
    struct { int64_t ctx, mbt; double logged_gib; } c[] = {{20000, 20000, 2.07}, {29000, 29000, 2.99},
                                                          {131072, 2048, 0}};
    iw_estimate e;
    iw_estimate_init(&e);
    for (size_t i = 0; i < 3; i++) {
        o.context = c[i].ctx;
        compute(&a, &o, &e);
        cr_assert_eq(e.in.max_num_batched_tokens, c[i].mbt, "ctx %lld", (long long)c[i].ctx);
        if (c[i].logged_gib > 0) {
            double act = (double)term_bytes(&e, "activations") / (double)GIB;
            cr_assert_lt(fabs(act - c[i].logged_gib) / c[i].logged_gib, 0.06, "ctx %lld: %.3f GiB vs %.2f",
                         (long long)c[i].ctx, act, c[i].logged_gib);
        }
    }
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* Tensor parallelism adds NCCL buffers to the non-torch memory.  vLLM 0.19
 * on H100s logs 0.25 GiB non-torch at tp 1 and 2.07-2.21 GiB at tp 2 and 4
 * (llm-d-planner v0.19.0 logs); the 0.8 and 0.9 rules keep 512 MiB. */
Test(vllm_rules, non_torch_grows_with_tensor_parallelism)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    o.vllm_rules = rules(0, 19, 0);
    compute(&a, &o, &e);
    cr_assert_eq(term_bytes(&e, "non_torch"), 256 * MIB);
    o.tp = 4;
    compute(&a, &o, &e);
    cr_assert_eq(term_bytes(&e, "non_torch"), (256 + 2048) * MIB);
    o.vllm_rules = rules(0, 8, 5);
    compute(&a, &o, &e);
    cr_assert_eq(term_bytes(&e, "non_torch"), (256 + 512) * MIB);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* gpt-oss-120b: 36 layers, 128 experts of 2880 x 2880, MXFP4.  The MoE kernels
 * pad each rank's expert matrices (mxfp4.py create_weights): Marlin rounds the
 * intermediate to 128 (2944) and the hidden size to 256 (3072).  vLLM 0.10.1 on
 * an H100 with the Marlin backend logged "Model loading took 65.9651 GiB"
 * (vllm-project/vllm#23278). */
static void gpt_oss_120b(iw_arch *a)
{
    iw_arch_init(a);
    iw_arch_set_str(&a->torch_dtype, "bfloat16");
    a->num_layers = 36;
    a->num_attention_heads = 64;
    a->num_kv_heads = 8;
    a->head_dim = 64;
    a->hidden_size = 2880;
    a->intermediate_size = 2880;
    a->vocab_size = 201088;
    a->max_position_embeddings = a->context_length = 131072;
    a->moe.num_experts = 128;
    a->moe.experts_per_token = 4;
    a->moe.expert_intermediate_size = 2880;
    iw_arch_set_str(&a->quantization.method, "mxfp4");
    a->quantization.bits = 4;
    a->parameters.total = 116829156672;
}

Test(vllm_rules, mxfp4_experts_padded_by_the_moe_backend)
{
    iw_arch a;
    gpt_oss_120b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    o.mxfp4_backend = "marlin";
    iw_estimate e;
    iw_estimate_init(&e);
    compute(&a, &o, &e);
    double w = (double)term_bytes(&e, "weights");
    /* experts 36 x 128 x 3 x 2880^2 = 114661785600 params x 4.25 / 8 x (2944 x 3072) / 2880^2
     * + other 2167371072 x 2 B */
    double experts = 114661785600.0, other = 116829156672.0 - experts;
    double want = experts * 4.25 / 8 * (2944.0 * 3072) / (2880.0 * 2880) + other * 2;
    cr_assert_lt(fabs(w - want), 2, "%.0f vs %.0f", w, want);
    cr_assert_lt(fabs(w / (double)GIB - 65.9651) / 65.9651, 0.005, "%.3f GiB vs 65.97 logged", w / (double)GIB);
    /* Triton (Hopper) rounds the intermediate to 64 only: 2880 stays */
    o.mxfp4_backend = "triton";
    compute(&a, &o, &e);
    cr_assert_lt(fabs((double)term_bytes(&e, "weights") - (experts * 4.25 / 8 + other * 2)), 2);
    /* FlashInfer (Blackwell) pads both to 256: 3072 x 3072 */
    o.mxfp4_backend = "flashinfer";
    compute(&a, &o, &e);
    cr_assert_lt(fabs((double)term_bytes(&e, "weights") - (experts * 4.25 / 8 * 3072.0 * 3072 / (2880.0 * 2880) +
                                                          other * 2)), 2);
    /* from the GPU name: B200 -> FlashInfer, H100 -> Triton, else Marlin */
    o.mxfp4_backend = NULL;
    o.gpu_name = "h100";
    compute(&a, &o, &e);
    cr_assert(strstr(e.terms[0].formula, "experts") && !strstr(e.terms[0].formula, "pads"), "%s", e.terms[0].formula);
    o.gpu_name = "b200";
    compute(&a, &o, &e);
    cr_assert(strstr(e.terms[0].formula, "flashinfer pads"), "%s", e.terms[0].formula);
    /* per rank under tp 2: Marlin pads the rank's 1440 to 1536 */
    o.mxfp4_backend = "marlin";
    o.tp = 2;
    compute(&a, &o, &e);
    double want2 = (experts * 4.25 / 8 * (1536.0 * 3072) / (1440.0 * 2880) + other * 2) / 2;
    cr_assert_lt(fabs((double)term_bytes(&e, "weights") - ceil(want2)), 2);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* CUDA graphs: vLLM before 0.21 captures them after sizing the KV cache
 * (gpu_worker.py determine_available_memory subtracts weights, activation
 * peak and non-torch memory only), so they sit above gpu_memory_utilization;
 * 0.21 estimates them first and sizes the pool after (PR #30515, on by
 * default since 0.21.0). */
Test(vllm_rules, cuda_graphs_in_or_above_the_budget_by_version)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    o.vram_bytes = 24 * GIB;
    iw_estimate e10, e21;
    iw_estimate_init(&e10);
    iw_estimate_init(&e21);
    o.vllm_rules = rules(0, 10, 0);
    compute(&a, &o, &e10);
    o.vllm_rules = rules(0, 21, 0);
    compute(&a, &o, &e21);
    int64_t g = term_bytes(&e10, "cuda_graphs");
    cr_assert_eq(g, 448 * MIB);
    cr_assert_eq(e10.kv_available_bytes - e21.kv_available_bytes, g);
    cr_assert_gt(e10.kv_capacity_tokens, e21.kv_capacity_tokens);
    /* above the budget there must still be room for them: at util 1.0 there is none */
    o.vllm_rules = rules(0, 10, 0);
    o.gpu_util = 1.0;
    o.context = 1024;
    compute(&a, &o, &e10);
    cr_assert(!e10.fits);
    bool warned = false;
    for (size_t i = 0; i < e10.warnings.n; i++)
        warned |= strstr(e10.warnings.v[i], "above gpu_memory_utilization") != NULL;
    cr_assert(warned);
    o.enforce_eager = true;
    compute(&a, &o, &e10);
    cr_assert(e10.fits);
    iw_estimate_free(&e10);
    iw_estimate_free(&e21);
    iw_arch_free(&a);
}

/* DeepSeek-V2-Lite (MLA, kv_lora_rank 512 + rope 64): V0's CacheEngine aligns
 * each entry to 256 bytes (cache_engine.py align_to_256bytes): 1152 -> 1280 B
 * per layer, which is what vLLM 0.7's 59.75 GiB for 1856368 tokens gives
 * (vllm-project/vllm#13109: 27 x 1280 = 34560 B/token).  V1 stores 1152
 * (vLLM 0.19: 43.61 GiB for 1505552 tokens, llm-d-planner). */
Test(vllm_rules, mla_entries_aligned_in_v0)
{
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    a.num_layers = 27;
    a.num_attention_heads = 16;
    a.num_kv_heads = 16;
    a.hidden_size = 2048;
    a.intermediate_size = 10944;
    a.vocab_size = 102400;
    a.max_position_embeddings = a.context_length = 163840;
    a.attention.type = IW_ATTN_MLA;
    a.attention.kv_lora_rank = 512;
    a.attention.qk_rope_head_dim = 64;
    a.attention.qk_nope_head_dim = 128;
    a.attention.value_length = 128;
    a.weights_bytes = 31 * GIB;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    o.vllm_rules = rules(0, 7, 2);
    compute(&a, &o, &e);
    cr_assert_eq(e.kv_bytes_per_token, 27 * 1280);
    cr_assert_eq((int64_t)floor(59.75 * (double)GIB / (double)e.kv_bytes_per_token / 16) * 16, 1856352);
    o.vllm_rules = rules(0, 19, 0);
    compute(&a, &o, &e);
    cr_assert_eq(e.kv_bytes_per_token, 27 * 1152);
    /* the logged 43.61 GiB is rounded to 10 MiB: within 0.01% of the logged 1505552 tokens */
    double t = floor(43.61 * (double)GIB / (double)e.kv_bytes_per_token / 16) * 16;
    cr_assert_lt(fabs(t - 1505552) / 1505552, 1e-4, "%.0f", t);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* bitsandbytes 4-bit with double quantization: vLLM from 0.9.2 dequantizes the
 * nested absmax to f32 when loading (bitsandbytes_loader.py dequantize_dq, PR
 * #19742), so a double-quant checkpoint takes 4 + 32/64 = 4.5 bits like plain
 * nf4; before, the nested 8-bit constants stayed: 4 + 8/64 + 32/(64 x 256). */
Test(vllm_rules, bnb_double_quant_by_version)
{
    iw_arch a;
    est_llama3_8b(&a);
    a.weights_bytes = IW_UNKNOWN;
    iw_arch_set_str(&a.quantization.method, "bitsandbytes");
    a.quantization.bits = 4;
    a.quantization.double_quant = true;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 4096;
    iw_estimate e;
    iw_estimate_init(&e);
    double emb = 128256.0 * 4096 * 2, q = 8030261248.0 - emb;
    o.vllm_rules = rules(0, 10, 0);
    compute(&a, &o, &e);
    cr_assert_lt(fabs((double)term_bytes(&e, "weights") - (q * 4.5 / 8 + emb * 2)), 2);
    o.vllm_rules = rules(0, 8, 5);
    compute(&a, &o, &e);
    cr_assert_lt(fabs((double)term_bytes(&e, "weights") - (q * (4 + 8.0 / 64 + 32.0 / (64 * 256)) / 8 + emb * 2)), 2);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* vLLM's rotary embeddings keep a cos/sin table per distinct rope as a model
 * buffer (rotary_embedding.py): Gemma 3's global rope is linear x 8, so
 * 131072 x 8 positions x 256 x 2 B = 512 MiB, and its sliding layers add an
 * unscaled 64 MiB.  It is what the three Gemma-3 sizes load beyond their
 * parameters in vLLM 0.19 ("Model loading took" 8.58 / 23.31 / 51.45 GiB). */
Test(vllm_rules, rope_tables_count_in_the_loaded_weights)
{
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    iw_arch_set_str(&a.model_type, "gemma3");
    iw_arch_set_str(&a.rope_scaling_json, "{\"factor\":8.0,\"rope_type\":\"linear\"}");
    a.num_layers = 34;
    a.num_attention_heads = 8;
    a.num_kv_heads = 4;
    a.head_dim = 256;
    a.hidden_size = 2560;
    a.intermediate_size = 10240;
    a.vocab_size = 262208;
    a.max_position_embeddings = a.context_length = 131072;
    a.attention.sliding_window = 1024;
    a.attention.sliding_window_pattern = 6;
    iw_layer_kind *k = malloc(34 * sizeof *k);
    for (size_t i = 0; i < 34; i++)
        k[i] = (i + 1) % 6 ? IW_LAYER_SLIDING : IW_LAYER_FULL;
    a.attention.layer_types = k;
    a.attention.n_layer_types = 34;
    a.parameters.total = 4300079472;
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    compute(&a, &o, &e);
    cr_assert_eq(term_bytes(&e, "rope_cache"), (131072 * 8 + 131072) * 256 * 2);
    /* 5 full + 29 sliding layers: groups of 5, one padding layer (vLLM logs "Add 1 padding layers") */
    cr_assert_eq(e.kv_padding_layers, 1);
    cr_assert_eq(e.kv_groups, 7);
    /* the loaded bytes vLLM logs: parameters x 2 + the tables */
    double loaded = ((double)term_bytes(&e, "weights") + (double)term_bytes(&e, "rope_cache")) / (double)GIB;
    cr_assert_lt(fabs(loaded - 8.58) / 8.58, 0.01, "%.3f GiB vs 8.58 logged", loaded);
    /* llama.cpp has no such buffer */
    o.engine = IW_ENGINE_LLAMACPP;
    compute(&a, &o, &e);
    cr_assert(!has_term(&e, "rope_cache"));
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* modules_to_not_convert: the listed linear layers load at the model dtype
 * (vLLM's is_layer_skipped -> UnquantizedLinearMethod).  Meta's
 * Llama-3.1-405B-Instruct-FP8 keeps every self_attn and the first and last
 * MLP in bf16; tp 8 logged "Loading model weights took 57.7520 GB" per rank
 * (vllm-project/vllm#6746). */
Test(vllm_rules, modules_not_converted_stay_at_the_model_dtype)
{
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.torch_dtype, "bfloat16");
    a.num_layers = 126;
    a.num_attention_heads = 128;
    a.num_kv_heads = 8;
    a.head_dim = 128;
    a.hidden_size = 16384;
    a.intermediate_size = 53248;
    a.vocab_size = 128256;
    a.max_position_embeddings = a.context_length = 131072;
    /* the parameter formula's components for these shapes */
    double attn = 126.0 * (16384.0 * (16384 + 2 * 1024) + 16384.0 * 16384);
    double mlp = 126.0 * 3 * 16384 * 53248;
    double emb = 128256.0 * 16384;
    a.parameters.attention = (int64_t)attn;
    a.parameters.mlp = (int64_t)mlp;
    a.parameters.embedding = (int64_t)emb;
    a.parameters.lm_head = (int64_t)emb;
    a.parameters.total = (int64_t)(attn + mlp + 2 * emb);
    iw_arch_set_str(&a.quantization.method, "fbgemm_fp8");
    a.quantization.bits = 8;
    for (int i = 0; i < 126; i++)
        iw_strlist_pushf(&a.quantization.modules_not_converted, "model.layers.%d.self_attn", i);
    iw_strlist_push(&a.quantization.modules_not_converted, "model.layers.0.mlp");
    iw_strlist_push(&a.quantization.modules_not_converted, "model.layers.125.mlp");
    iw_strlist_push(&a.quantization.modules_not_converted, "lm_head");
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 4096;
    o.tp = 8;
    iw_estimate e;
    iw_estimate_init(&e);
    compute(&a, &o, &e);
    double kept = attn + mlp * 2 / 126 + 2 * emb, fp8 = mlp * 124 / 126;
    double want = ceil((kept * 2 + fp8) / 8);
    cr_assert_lt(fabs((double)term_bytes(&e, "weights") - want), 2, "%lld vs %.0f",
                 (long long)term_bytes(&e, "weights"), want);
    cr_assert_lt(fabs(want / (double)GIB - 57.752) / 57.752, 0.03);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}
