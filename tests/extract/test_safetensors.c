/* test_safetensors.c - exact counts from generated safetensors files:
 * dense, sharded (correct / wrong / zero total_size), GPTQ 4- and 3-bit, AWQ,
 * bitsandbytes 4-bit, mxfp4, fp8, compressed-tensors, MoE, MLA, CSV. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/safetensors.h"
#include <cjson/cJSON.h>   /* f.metadata is a cJSON tree */
#include "iwtest.h"
#include "safetensors_testutil.h"

/* tiny llama: hidden 64, 4 heads of 16, 2 kv heads, ffn 128, vocab 100, 2 layers */
#define H   64
#define NH  4
#define NKV 2
#define HD  16
#define FF  128
#define V   100
#define NL  2

static char g_names[512][128];
static size_t g_nn;

static const char *nm(const char *suffix, int l)
{
    snprintf(g_names[g_nn], sizeof g_names[0], "model.layers.%d.%s", l, suffix);
    return g_names[g_nn++];
}

#define T2(n, dt, a, b) ((stw_t){ (n), (dt), 2, { (a), (b) } })
#define T1(n, dt, a)    ((stw_t){ (n), (dt), 1, { (a) } })

/* Per-layer linear weights as plain BF16. */
static size_t dense_layer(stw_t *t, int l)
{
    size_t k = 0;
    t[k++] = T1(nm("input_layernorm.weight", l), "BF16", H);
    t[k++] = T2(nm("self_attn.q_proj.weight", l), "BF16", NH * HD, H);
    t[k++] = T2(nm("self_attn.k_proj.weight", l), "BF16", NKV * HD, H);
    t[k++] = T2(nm("self_attn.v_proj.weight", l), "BF16", NKV * HD, H);
    t[k++] = T2(nm("self_attn.o_proj.weight", l), "BF16", H, NH * HD);
    t[k++] = T1(nm("post_attention_layernorm.weight", l), "BF16", H);
    t[k++] = T2(nm("mlp.gate_proj.weight", l), "BF16", FF, H);
    t[k++] = T2(nm("mlp.up_proj.weight", l), "BF16", FF, H);
    t[k++] = T2(nm("mlp.down_proj.weight", l), "BF16", H, FF);
    return k;
}

static size_t build_dense(stw_t *t, bool tied)
{
    size_t k = 0;
    g_nn = 0;
    t[k++] = T2("model.embed_tokens.weight", "BF16", V, H);
    for (int l = 0; l < NL; l++)
        k += dense_layer(t + k, l);
    t[k++] = T1("model.norm.weight", "BF16", H);
    if (!tied)
        t[k++] = T2("lm_head.weight", "BF16", V, H);
    return k;
}

static const int64_t ATTN_L = (int64_t)NH * HD * H * 2 + (int64_t)NKV * HD * H * 2;
static const int64_t MLP_L = 3LL * FF * H;
static const int64_t DENSE_TOTAL = 2LL * V * H + NL * (ATTN_L + MLP_L + 2 * H) + H;

static bool has_warning(const iw_arch *a, const char *sub)
{
    for (size_t i = 0; i < a->warnings.n; i++)
        if (strstr(a->warnings.v[i], sub))
            return true;
    return false;
}

static void dump_warnings(const iw_arch *a)
{
    for (size_t i = 0; i < a->warnings.n; i++)
        fprintf(stderr, "  warning: %s\n", a->warnings.v[i]);
}

static char *g_tmp;

static void setup(void) { g_tmp = iwt_tmpdir("st"); cr_assert_not_null(g_tmp); }
static void teardown(void) { iwt_rm_rf(g_tmp); free(g_tmp); }

static char *path_in(const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", g_tmp, name);
    return p;
}

TestSuite(safetensors, .init = setup, .fini = teardown);

Test(safetensors, dense_single_file_exact)
{
    stw_t t[64];
    size_t n = build_dense(t, false);
    cr_assert_eq(stw_write(path_in("model.safetensors"), t, n), 0);

    iw_arch a;
    iw_arch_init(&a);
    int rc = iw_safetensors_extract_dir(g_tmp, &a);
    cr_assert_eq(rc, 0, "%s", iw_error_last());
    cr_assert_eq(a.parameters.total, DENSE_TOTAL, "total %lld", (long long)a.parameters.total);
    cr_assert_eq(a.weights_bytes, DENSE_TOTAL * 2);
    cr_assert_str_eq(a.parameters.source, "safetensors");
    cr_assert_eq(a.parameters.embedding, (int64_t)V * H);
    cr_assert_eq(a.parameters.lm_head, (int64_t)V * H);
    cr_assert_eq(a.parameters.attention, NL * ATTN_L);
    cr_assert_eq(a.parameters.mlp, NL * MLP_L);
    cr_assert_eq(a.parameters.norms, (int64_t)(2 * NL + 1) * H);
    cr_assert_eq(a.parameters.active, DENSE_TOTAL, "dense: all parameters active");
    cr_assert_eq(a.attention.type, IW_ATTN_GQA);
    cr_assert_str_eq(a.mlp_type, "gated");
    cr_assert_str_eq(a.norm_type, "rmsnorm");
    cr_assert_not(a.tie_word_embeddings);
    cr_assert_str_eq(iw_arch_get_source(&a, "parameters"), "safetensors");
    cr_assert_str_eq(iw_arch_get_source(&a, "weights_bytes"), "safetensors");
    char want[1100];
    snprintf(want, sizeof want, "safetensors:%s/model.safetensors", g_tmp);
    cr_assert(iw_strlist_contains(&a.sources, want), "sources lack %s", want);
    cr_assert_eq(a.warnings.n, 0);
    iw_arch_free(&a);

    /* the file path itself gives the same */
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(path_in("model.safetensors"), &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.parameters.total, DENSE_TOTAL);
    iw_arch_free(&a);
}

Test(safetensors, tied_embeddings_and_mha_mqa_with_hint)
{
    stw_t t[64];
    size_t n = build_dense(t, true);
    /* make it MHA: k/v as wide as q */
    for (size_t i = 0; i < n; i++)
        if (strstr(t[i].name, "k_proj") || strstr(t[i].name, "v_proj"))
            t[i].shape[0] = NH * HD;
    cr_assert_eq(stw_write(path_in("model.safetensors"), t, n), 0);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert(a.tie_word_embeddings);
    cr_assert_eq(a.parameters.lm_head, 0);
    cr_assert_eq(a.attention.type, IW_ATTN_MHA);
    iw_arch_free(&a);

    /* MQA: one kv head, decided with the head count from config */
    for (size_t i = 0; i < n; i++)
        if (strstr(t[i].name, "k_proj") || strstr(t[i].name, "v_proj"))
            t[i].shape[0] = HD;
    cr_assert_eq(stw_write(path_in("model.safetensors"), t, n), 0);
    iw_arch_init(&a);
    a.num_attention_heads = NH;
    a.hidden_size = H;
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.attention.type, IW_ATTN_MQA);
    iw_arch_free(&a);
}

static void write_sharded(long long total_size)
{
    stw_t t[64];
    size_t n = build_dense(t, false);
    int shard_of[64];
    size_t half = n / 2;
    for (size_t i = 0; i < n; i++)
        shard_of[i] = i < half ? 0 : 1;
    cr_assert_eq(stw_write(path_in("model-00001-of-00002.safetensors"), t, half), 0);
    cr_assert_eq(stw_write(path_in("model-00002-of-00002.safetensors"), t + half, n - half), 0);
    char *idx = stw_index(t, n, shard_of, 2, total_size);
    cr_assert_eq(iwt_write(path_in("model.safetensors.index.json"), idx, strlen(idx)), 0);
    free(idx);
}

Test(safetensors, sharded_correct_total_size)
{
    write_sharded(DENSE_TOTAL * 2);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.weights_bytes, DENSE_TOTAL * 2);
    cr_assert_eq(a.parameters.total, DENSE_TOTAL);
    dump_warnings(&a);
    cr_assert_eq(a.warnings.n, 0);
    cr_assert_eq(a.sources.n, 3, "index + 2 shards, got %zu", a.sources.n);
    iw_arch_free(&a);
}

Test(safetensors, sharded_wrong_total_size_is_a_warning)
{
    write_sharded(DENSE_TOTAL * 2 + 4096);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.weights_bytes, DENSE_TOTAL * 2, "headers win");
    char num[64];
    snprintf(num, sizeof num, "%lld", (long long)(DENSE_TOTAL * 2 + 4096));
    cr_assert(has_warning(&a, num), "warning names the index value");
    snprintf(num, sizeof num, "%lld", (long long)(DENSE_TOTAL * 2));
    cr_assert(has_warning(&a, num), "warning names the header value");
    iw_arch_free(&a);
}

Test(safetensors, sharded_zero_and_missing_total_size)
{
    write_sharded(0);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.weights_bytes, DENSE_TOTAL * 2);
    cr_assert(has_warning(&a, "total_size is 0"));
    iw_arch_free(&a);

    write_sharded(-1);
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.weights_bytes, DENSE_TOTAL * 2);
    cr_assert(has_warning(&a, "no metadata.total_size"));
    iw_arch_free(&a);
}

Test(safetensors, sharded_missing_shard_is_enotfound)
{
    write_sharded(DENSE_TOTAL * 2);
    cr_assert_eq(unlink(path_in("model-00002-of-00002.safetensors")), 0);
    iw_arch a;
    iw_arch_init(&a);
    int rc = iw_safetensors_extract_dir(g_tmp, &a);
    cr_assert_eq(rc, IW_ENOTFOUND);
    cr_assert(strstr(iw_error_last(), "model-00002-of-00002.safetensors"), "%s", iw_error_last());
    cr_assert_eq(a.parameters.total, IW_UNKNOWN);
    iw_arch_free(&a);
}

Test(safetensors, no_safetensors_is_enotfound)
{
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), IW_ENOTFOUND);
    cr_assert(strstr(iw_error_last(), g_tmp));
    const char *bin = "{\"weight_map\":{\"w\":\"pytorch_model-00001-of-00001.bin\"}}";
    cr_assert_eq(iwt_write(path_in("pytorch_model.bin.index.json"), bin, strlen(bin)), 0);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), IW_ENOTFOUND);
    cr_assert_eq(iw_safetensors_extract_dir(path_in("pytorch_model.bin.index.json"), &a), IW_ENOTFOUND);
    cr_assert_eq(iw_torch_bin_index_extract(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.weights_bytes, IW_UNKNOWN);
    iw_arch_free(&a);
}

Test(safetensors, formula_disagreement_warns_and_headers_win)
{
    stw_t t[64];
    size_t n = build_dense(t, false);
    cr_assert_eq(stw_write(path_in("model.safetensors"), t, n), 0);
    iw_arch a;
    iw_arch_init(&a);
    a.parameters.total = DENSE_TOTAL + DENSE_TOTAL / 50;   /* 2% off */
    iw_arch_set_str(&a.parameters.source, "formula");
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.parameters.total, DENSE_TOTAL);
    cr_assert_str_eq(a.parameters.source, "safetensors");
    char num[64];
    snprintf(num, sizeof num, "%lld", (long long)(DENSE_TOTAL + DENSE_TOTAL / 50));
    cr_assert(has_warning(&a, num));
    snprintf(num, sizeof num, "%lld", (long long)DENSE_TOTAL);
    cr_assert(has_warning(&a, num));
    iw_arch_free(&a);

    /* within 0.5%: no warning */
    iw_arch_init(&a);
    a.parameters.total = DENSE_TOTAL + DENSE_TOTAL / 1000;
    iw_arch_set_str(&a.parameters.source, "formula");
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0);
    cr_assert_eq(a.warnings.n, 0);
    iw_arch_free(&a);
}

/* One layer whose seven linear weights are GPTQ/AWQ packed at `bits`. */
static size_t build_gptq(stw_t *t, int bits, bool awq)
{
    static const char *const lin[] = { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                       "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" };
    static const int outs[] = { NH * HD, NKV * HD, NKV * HD, H, FF, FF, H };
    static const int ins[] = { H, H, H, NH * HD, H, H, FF };
    static char names[7][4][96];
    const int G = 32;
    size_t k = 0;
    g_nn = 0;
    t[k++] = T2("model.embed_tokens.weight", "F16", V, H);
    for (int i = 0; i < 7; i++) {
        int K = ins[i], N = outs[i];
        snprintf(names[i][0], 96, "model.layers.0.%s.qweight", lin[i]);
        snprintf(names[i][1], 96, "model.layers.0.%s.qzeros", lin[i]);
        snprintf(names[i][2], 96, "model.layers.0.%s.scales", lin[i]);
        snprintf(names[i][3], 96, "model.layers.0.%s.g_idx", lin[i]);
        if (awq)
            t[k++] = T2(names[i][0], "I32", K, N * bits / 32);
        else
            t[k++] = T2(names[i][0], "I32", K * bits / 32, N);
        t[k++] = T2(names[i][1], "I32", K / G, N * bits / 32);
        t[k++] = T2(names[i][2], "F16", K / G, N);
        if (!awq)
            t[k++] = T1(names[i][3], "I32", K);
    }
    t[k++] = T1("model.layers.0.input_layernorm.weight", "F16", H);
    t[k++] = T1("model.layers.0.post_attention_layernorm.weight", "F16", H);
    t[k++] = T1("model.norm.weight", "F16", H);
    t[k++] = T2("lm_head.weight", "F16", V, H);
    return k;
}

static const int64_t QLAYER_TOTAL = 2LL * V * H + ATTN_L + MLP_L + 3 * H;

static void check_quant(const char *method, double bits, size_t n, stw_t *t, int64_t want)
{
    cr_assert_eq(stw_write(path_in("model.safetensors"), t, n), 0);
    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.quantization.method, method);
    a.quantization.bits = bits;
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    dump_warnings(&a);
    cr_assert_eq(a.parameters.total, want, "%s %g-bit: got %lld want %lld", method, bits,
                 (long long)a.parameters.total, (long long)want);
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += stw_bytes(&t[i]);
    cr_assert_eq(a.weights_bytes, (int64_t)bytes, "bytes count packed storage");
    cr_assert_eq(a.warnings.n, 0);
    iw_arch_free(&a);
}

Test(safetensors, gptq_4bit_exact)
{
    stw_t t[64];
    size_t n = build_gptq(t, 4, false);
    check_quant("gptq", 4, n, t, QLAYER_TOTAL);
}

Test(safetensors, gptq_3bit_exact_not_floor)
{
    stw_t t[64];
    size_t n = build_gptq(t, 3, false);   /* K*3/32 rows: 64*3/32 = 6 */
    check_quant("gptq", 3, n, t, QLAYER_TOTAL);
}

Test(safetensors, awq_4bit_exact)
{
    stw_t t[64];
    size_t n = build_gptq(t, 4, true);
    check_quant("awq", 4, n, t, QLAYER_TOTAL);
}

Test(safetensors, gptq_without_method_warns)
{
    stw_t t[64];
    size_t n = build_gptq(t, 4, false);
    cr_assert_eq(stw_write(path_in("model.safetensors"), t, n), 0);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert(has_warning(&a, "quantization method/bits are unknown"));
    cr_assert_lt(a.parameters.total, QLAYER_TOTAL);
    iw_arch_free(&a);
}

Test(safetensors, bnb_4bit_exact)
{
    stw_t t[96];
    static char names[7][6][110];
    static const char *const lin[] = { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                       "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" };
    static const int outs[] = { NH * HD, NKV * HD, NKV * HD, H, FF, FF, H };
    static const int ins[] = { H, H, H, NH * HD, H, H, FF };
    size_t k = 0;
    t[k++] = T2("model.embed_tokens.weight", "BF16", V, H);
    for (int i = 0; i < 7; i++) {
        int64_t e = (int64_t)ins[i] * outs[i];
        snprintf(names[i][0], 110, "model.layers.0.%s.weight", lin[i]);
        snprintf(names[i][1], 110, "model.layers.0.%s.weight.absmax", lin[i]);
        snprintf(names[i][2], 110, "model.layers.0.%s.weight.quant_map", lin[i]);
        snprintf(names[i][3], 110, "model.layers.0.%s.weight.nested_absmax", lin[i]);
        snprintf(names[i][4], 110, "model.layers.0.%s.weight.nested_quant_map", lin[i]);
        snprintf(names[i][5], 110, "model.layers.0.%s.weight.quant_state.bitsandbytes__nf4", lin[i]);
        t[k++] = T2(names[i][0], "U8", e / 2, 1);
        t[k++] = T1(names[i][1], "U8", e / 64);
        t[k++] = T1(names[i][2], "F32", 16);
        t[k++] = T1(names[i][3], "F32", 1);
        t[k++] = T1(names[i][4], "F32", 256);
        t[k++] = T1(names[i][5], "U8", 100);
    }
    t[k++] = T1("model.layers.0.input_layernorm.weight", "BF16", H);
    t[k++] = T1("model.layers.0.post_attention_layernorm.weight", "BF16", H);
    t[k++] = T1("model.norm.weight", "BF16", H);
    t[k++] = T2("lm_head.weight", "BF16", V, H);
    check_quant("bitsandbytes", 4, k, t, QLAYER_TOTAL);
}

Test(safetensors, fp8_scale_inv_skipped)
{
    stw_t t[32];
    size_t k = 0;
    t[k++] = T2("model.embed_tokens.weight", "BF16", V, H);
    t[k++] = T2("model.layers.0.self_attn.q_proj.weight", "F8_E4M3", 256, 256);
    t[k++] = T2("model.layers.0.self_attn.q_proj.weight_scale_inv", "F32", 2, 2);
    t[k++] = T2("model.layers.0.mlp.up_proj.weight", "F8_E4M3", 256, 128);
    t[k++] = T2("model.layers.0.mlp.up_proj.weight_scale_inv", "F32", 2, 1);
    t[k++] = T1("model.layers.0.mlp.up_proj.input_scale", "F32", 1);
    t[k++] = T1("model.norm.weight", "BF16", H);
    check_quant("fp8", 8, k, t, (int64_t)V * H + 256 * 256 + 256 * 128 + H);
}

Test(safetensors, compressed_tensors_packed)
{
    stw_t t[32];
    size_t k = 0;
    t[k++] = T2("model.embed_tokens.weight", "BF16", V, H);
    /* W4A16 pack-quantized: I32 [N, K*4/32] */
    t[k++] = T2("model.layers.0.mlp.down_proj.weight_packed", "I32", H, FF * 4 / 32);
    t[k++] = T2("model.layers.0.mlp.down_proj.weight_scale", "BF16", H, FF / 32);
    t[k++] = T2("model.layers.0.mlp.down_proj.weight_zero_point", "I32", H / 8, FF / 32);
    t[k++] = T1("model.layers.0.mlp.down_proj.weight_shape", "I64", 2);
    t[k++] = T1("model.norm.weight", "BF16", H);
    check_quant("compressed-tensors", 4, k, t, (int64_t)V * H + (int64_t)H * FF + H);
}

Test(safetensors, modelopt_nvfp4_packed_u8)
{
    stw_t t[32];
    size_t k = 0;
    t[k++] = T2("model.embed_tokens.weight", "BF16", V, H);
    t[k++] = T2("model.layers.0.mlp.up_proj.weight", "U8", FF, H / 2);
    t[k++] = T2("model.layers.0.mlp.up_proj.weight_scale", "F8_E4M3", FF, H / 16);
    t[k++] = T1("model.layers.0.mlp.up_proj.weight_scale_2", "F32", 1);
    t[k++] = T1("model.layers.0.mlp.up_proj.input_scale", "F32", 1);
    check_quant("modelopt", 4, k, t, (int64_t)V * H + (int64_t)FF * H);
}

Test(safetensors, mxfp4_experts_blocks_and_active)
{
    const int E = 4, I = 32, K = H;
    stw_t t[32];
    size_t k = 0;
    t[k++] = T2("model.embed_tokens.weight", "BF16", V, H);
    t[k++] = T2("model.layers.0.self_attn.q_proj.weight", "BF16", NH * HD, H);
    t[k++] = T2("model.layers.0.self_attn.k_proj.weight", "BF16", NKV * HD, H);
    t[k++] = T2("model.layers.0.mlp.router.weight", "BF16", E, H);
    t[k++] = (stw_t){ "model.layers.0.mlp.experts.gate_up_proj_blocks", "U8", 4, { E, 2 * I, K / 32, 16 } };
    t[k++] = (stw_t){ "model.layers.0.mlp.experts.gate_up_proj_scales", "U8", 3, { E, 2 * I, K / 32 } };
    t[k++] = T2("model.layers.0.mlp.experts.gate_up_proj_bias", "BF16", E, 2 * I);
    t[k++] = (stw_t){ "model.layers.0.mlp.experts.down_proj_blocks", "U8", 4, { E, H, I / 32, 16 } };
    t[k++] = (stw_t){ "model.layers.0.mlp.experts.down_proj_scales", "U8", 3, { E, H, I / 32 } };
    t[k++] = T2("model.layers.0.mlp.experts.down_proj_bias", "BF16", E, H);
    t[k++] = T2("lm_head.weight", "BF16", V, H);
    int64_t experts = (int64_t)E * (2 * I * K + 2 * I + H * I + H);
    int64_t dense = 2LL * V * H + (int64_t)NH * HD * H + (int64_t)NKV * HD * H + (int64_t)E * H;
    check_quant("mxfp4", 4, k, t, dense + experts);

    iw_arch a;
    iw_arch_init(&a);
    iw_arch_set_str(&a.quantization.method, "mxfp4");
    a.moe.experts_per_token = 2;
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.moe.num_experts, E);
    cr_assert_str_eq(a.mlp_type, "moe");
    cr_assert_eq(a.parameters.experts, experts);
    cr_assert_eq(a.parameters.active, dense + experts / E * 2);
    iw_arch_free(&a);
}

Test(safetensors, moe_numbered_experts_and_mla)
{
    const int E = 8;
    stw_t t[64];
    static char names[8][3][96];
    size_t k = 0;
    t[k++] = T2("model.embed_tokens.weight", "BF16", V, H);
    t[k++] = T2("model.layers.0.self_attn.q_a_proj.weight", "BF16", 32, H);
    t[k++] = T2("model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "BF16", 24, H);
    t[k++] = T2("model.layers.0.self_attn.kv_b_proj.weight", "BF16", 128, 16);
    t[k++] = T2("model.layers.0.mlp.gate.weight", "BF16", E, H);
    for (int e = 0; e < E; e++) {
        snprintf(names[e][0], 96, "model.layers.0.mlp.experts.%d.gate_proj.weight", e);
        snprintf(names[e][1], 96, "model.layers.0.mlp.experts.%d.up_proj.weight", e);
        snprintf(names[e][2], 96, "model.layers.0.mlp.experts.%d.down_proj.weight", e);
        t[k++] = T2(names[e][0], "BF16", 16, H);
        t[k++] = T2(names[e][1], "BF16", 16, H);
        t[k++] = T2(names[e][2], "BF16", H, 16);
    }
    t[k++] = T2("model.layers.0.mlp.shared_experts.up_proj.weight", "BF16", 16, H);
    t[k++] = T2("lm_head.weight", "BF16", V, H);
    cr_assert_eq(stw_write(path_in("model.safetensors"), t, k), 0);
    iw_arch a;
    iw_arch_init(&a);
    a.moe.experts_per_token = 2;
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.attention.type, IW_ATTN_MLA);
    cr_assert_eq(a.moe.num_experts, E);
    cr_assert_eq(a.parameters.experts, (int64_t)E * 3 * 16 * H);
    cr_assert_eq(a.parameters.mlp, (int64_t)E * H + 16 * H, "router + shared expert are always active");
    int64_t total = a.parameters.total;
    cr_assert_eq(a.parameters.active, total - (int64_t)E * 3 * 16 * H + 2LL * 3 * 16 * H);
    iw_arch_free(&a);
}

Test(safetensors, csv_listing)
{
    stw_t t[4];
    t[0] = T2("model.embed_tokens.weight", "BF16", V, H);
    t[1] = T1("odd,name \\\"q\\\"", "F32", 3);   /* JSON-escaped in the header */
    t[2] = (stw_t){ "scalar", "F64", 0, { 0 } };
    cr_assert_eq(stw_write(path_in("model.safetensors"), t, 3), 0);
    iw_buf b = IW_BUF_INIT(1 << 20);
    cr_assert_eq(iw_safetensors_csv(g_tmp, true, &b), 0, "%s", iw_error_last());
    cr_assert_str_eq(b.data,
                     "kind,name,shape,dtype\n"
                     "safetensors,model.embed_tokens.weight,100x64,BF16\n"
                     "safetensors,\"odd,name \"\"q\"\"\",3,F32\n"
                     "safetensors,scalar,,F64\n");
    iw_buf_free(&b);
}

Test(safetensors, metadata_kept_and_all_dtypes)
{
    static const char *const dts[] = { "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2",
        "F8_E4M3", "F8_E8M0", "E8M0", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64",
        "I64", "U64" };
    size_t n = sizeof dts / sizeof dts[0];
    stw_t t[32];
    static char names[32][16];
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "t%zu", i);
        t[i] = T1(names[i], dts[i], 8);   /* 8 elements fill whole bytes for 4/6-bit types */
    }
    uint64_t db;
    char *h = stw_header(t, n, "{\"format\":\"pt\",\"producer\":\"test\"}", &db);
    size_t len;
    unsigned char *buf = stw_buffer(h, db, &len);
    iw_st_file f;
    cr_assert_eq(iw_st_parse_buffer(buf, len, "mem", &f), 0, "%s", iw_error_last());
    cr_assert_eq(f.n_tensors, n);
    cr_assert_eq(f.data_bytes, db);
    cr_assert_str_eq(cJSON_GetObjectItem(f.metadata, "producer")->valuestring, "test");
    cr_assert_eq(iw_st_file_find(&f, "t1")->end - iw_st_file_find(&f, "t1")->begin, 4, "F4: 8 x 4 bits");
    cr_assert_eq(iw_st_file_find(&f, "t9")->dtype, IW_ST_F8_E8M0, "E8M0 alias");
    iw_st_file_free(&f);
    free(buf);
    free(h);
}

/* A read-at source that does not know its size (like an HTTP reader before
 * Content-Range) and counts every byte delivered. */
typedef struct mem_ctx { const unsigned char *p; size_t len; } mem_ctx;

static int mem_read_at(void *ctx, uint64_t off, void *dst, size_t len, size_t *got)
{
    mem_ctx *m = ctx;
    *got = 0;
    if (off >= m->len)
        return 0;
    size_t n = m->len - (size_t)off < len ? m->len - (size_t)off : len;
    memcpy(dst, m->p + off, n);
    *got = n;
    return 0;
}

Test(safetensors, unknown_size_source_reads_header_only)
{
    stw_t t[64];
    size_t n = build_dense(t, false);
    uint64_t db;
    char *h = stw_header(t, n, NULL, &db);
    size_t len;
    unsigned char *buf = stw_buffer(h, db, &len);
    mem_ctx m = { buf, len };
    iw_source s;
    memset(&s, 0, sizeof s);
    s.read_at = mem_read_at;
    s.ctx = &m;
    s.size = IW_SIZE_UNKNOWN;
    snprintf(s.name, sizeof s.name, "https://127.0.0.1/x/model.safetensors");
    iw_st_file f;
    cr_assert_eq(iw_st_read_header(&s, &f), 0, "%s", iw_error_last());
    cr_assert_eq(f.n_tensors, n);
    cr_assert_eq(f.data_bytes, db);
    cr_assert_eq(f.file_size, IW_SIZE_UNKNOWN);
    cr_assert_eq(s.bytes_read, 8 + strlen(h), "never reads tensor data: %llu",
                 (unsigned long long)s.bytes_read);
    iw_st_file_free(&f);
    free(buf);
    free(h);
}

Test(safetensors, big_sparse_file_reads_header_only)
{
    /* 2 GiB of (sparse) data behind a tiny header */
    stw_t t[2] = { T2("model.embed_tokens.weight", "F32", 32768, 16384), T1("model.norm.weight", "F32", 16384) };
    cr_assert_eq(stw_write(path_in("model.safetensors"), t, 2), 0);
    iw_source s;
    cr_assert_eq(iw_source_open_file(&s, path_in("model.safetensors")), 0);
    iw_st_file f;
    cr_assert_eq(iw_st_read_header(&s, &f), 0, "%s", iw_error_last());
    cr_assert_eq(f.data_bytes, 32768ULL * 16384 * 4 + 16384 * 4);
    cr_assert_eq(s.bytes_read, f.data_start);
    iw_source_close(&s);
    iw_st_file_free(&f);
}

Test(safetensors, many_tensors_stay_linear)
{
    /* 100k tensors in one header: duplicate detection and tiling must not
     * be quadratic (a quadratic check would take minutes here). */
    const size_t N = 100000;
    stw_str js = { 0 };
    stw_cat(&js, "{");
    for (size_t i = 0; i < N; i++)
        stw_cat(&js, "%s\"model.layers.%zu.w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}",
                i ? "," : "", i, i, i + 1);
    stw_cat(&js, "}");
    size_t len;
    unsigned char *buf = stw_buffer(js.p, N, &len);
    iw_st_file f;
    cr_assert_eq(iw_st_parse_buffer(buf, len, "many", &f), 0, "%s", iw_error_last());
    cr_assert_eq(f.n_tensors, N);
    iw_st_summary s;
    cr_assert_eq(iw_st_analyse_files(&f, 1, NULL, NULL, &s), 0);
    cr_assert_eq(s.params_total, (int64_t)N);
    cr_assert_eq(s.num_layers, (int64_t)N);
    iw_st_file_free(&f);
    free(buf);
    free(js.p);
}

Test(safetensors, lfs_pointer_shard_is_enotfound_with_warning)
{
    const char *ptr = "version https://git-lfs.github.com/spec/v1\n"
                      "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
                      "size 2669283096\n";
    cr_assert_eq(iwt_write(path_in("model.safetensors"), ptr, strlen(ptr)), 0);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), IW_ENOTFOUND);
    cr_assert(strstr(iw_error_last(), "Git LFS pointer"), "%s", iw_error_last());
    cr_assert(has_warning(&a, "Git LFS pointer"));
    cr_assert_eq(a.weights_bytes, IW_UNKNOWN);
    iw_arch_free(&a);
}

Test(safetensors, index_and_headers_disagree)
{
    /* index lists "ghost" (absent), puts "b" in shard 2 (it is in 1), and
     * omits "c" (present in shard 2) */
    stw_t s1[2] = { T1("a", "F32", 2), T1("b", "F32", 2) };
    stw_t s2[1] = { T1("c", "F32", 2) };
    cr_assert_eq(stw_write(path_in("m-1.safetensors"), s1, 2), 0);
    cr_assert_eq(stw_write(path_in("m-2.safetensors"), s2, 1), 0);
    const char *idx = "{\"metadata\":{\"total_size\":24},\"weight_map\":{\"a\":\"m-1.safetensors\","
                      "\"b\":\"m-2.safetensors\",\"ghost\":\"m-1.safetensors\"}}";
    cr_assert_eq(iwt_write(path_in("model.safetensors.index.json"), idx, strlen(idx)), 0);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), 0, "%s", iw_error_last());
    dump_warnings(&a);
    cr_assert(has_warning(&a, "1 tensor(s) absent from the shard headers (first: 'ghost')"));
    cr_assert(has_warning(&a, "1 tensor(s) in a different shard than the headers (first: 'b')"));
    cr_assert(has_warning(&a, "1 tensor(s) not listed in"));
    cr_assert_eq(a.weights_bytes, 24, "every header tensor counted");
    cr_assert_eq(a.parameters.total, 6);
    iw_arch_free(&a);

    /* the same tensor in two shards is an error */
    stw_t s3[1] = { T1("a", "F32", 2) };
    cr_assert_eq(stw_write(path_in("m-2.safetensors"), s3, 1), 0);
    iw_arch_init(&a);
    cr_assert_eq(iw_safetensors_extract_dir(g_tmp, &a), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "tensor 'a' appears in both"), "%s", iw_error_last());
    iw_arch_free(&a);
}

/* Formula vs headers: a MiMo checkpoint with its MTP layer (model.mtp_layers.*)
 * or without it (a derivative that stripped it) agrees; anything else warns. */
static bool formula_warns_for(int64_t delta_from_total, bool with_mtp)
{
    static const char cfg[] = "{\"model_type\":\"mimo\",\"hidden_size\":64,\"num_hidden_layers\":2,"
                              "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":16,"
                              "\"intermediate_size\":128,\"vocab_size\":100,\"tie_word_embeddings\":false,"
                              "\"num_nextn_predict_layers\":1}";
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_config_parse(cfg, strlen(cfg), "config.json", &a), 0, "%s", iw_error_last());
    cr_assert_eq(iw_params_formula(&a), 0, "%s", iw_error_last());
    cr_assert_gt(a.parameters.mtp, 0);
    iw_st_summary s;
    memset(&s, 0, sizeof s);
    s.params_total = a.parameters.total + (with_mtp ? a.parameters.mtp : 0) + delta_from_total;
    s.params_active = s.params_total;
    s.weights_bytes = 2 * (uint64_t)s.params_total;
    s.embedding = s.attention = s.mlp = s.experts = s.norms = s.lm_head = s.vision = s.other = IW_UNKNOWN;
    s.attn_type = IW_ATTN_UNKNOWN;
    s.num_experts = s.num_layers = IW_UNKNOWN;
    s.tied_embeddings = -1;
    cr_assert_eq(iw_st_apply(&a, &s, NULL), 0, "%s", iw_error_last());
    cr_expect_eq(a.parameters.total, s.params_total);
    bool w = has_warning(&a, "differs from the safetensors headers");
    iw_arch_free(&a);
    return w;
}

Test(safetensors, formula_check_accepts_checkpoints_with_or_without_mtp_layers)
{
    cr_expect(!formula_warns_for(0, true), "checkpoint with the MTP layer");
    cr_expect(!formula_warns_for(0, false), "checkpoint without the MTP layer");
    cr_expect(formula_warns_for(20000, true), "a 20k-parameter gap (~20%) must warn");
}
