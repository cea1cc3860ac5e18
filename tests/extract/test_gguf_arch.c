/* test_gguf_arch.c - GGUF metadata -> iw_arch on generated files: per-layer
 * arrays, sliding-window patterns, hybrids, MoE, MLA, split sets, mmproj. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/gguf.h"
#include "gguf_testwriter.h"
#include "iwtest.h"

/* parse w and map it; returns the arch (caller frees) */
static void map_w(const gw *w, iw_arch *a)
{
    iw_source s;
    iw_source_from_buffer(&s, w->p, w->len, "t.gguf");
    iw_gguf *g = NULL;
    cr_assert_eq(iw_gguf_parse(&g, &s, NULL), 0, "%s", iw_error_last());
    iw_source_close(&s);
    iw_arch_init(a);
    const iw_gguf *one[] = { g };
    cr_assert_eq(iw_gguf_to_arch(one, 1, a), 0, "%s", iw_error_last());
    iw_gguf_free(g);
}

Test(gguf_arch, hybrid_per_layer_kv_heads)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 0, 10);
    gw_kv_str(&w, "general.architecture", "granitehybrid");
    gw_kv_u32(&w, "granitehybrid.block_count", 4);
    gw_kv_u32(&w, "granitehybrid.embedding_length", 256);
    gw_kv_u32(&w, "granitehybrid.attention.head_count", 8);
    int32_t kvh[] = { 0, 2, 0, 2 };
    gw_kv_arr_i32(&w, "granitehybrid.attention.head_count_kv", kvh, 4);
    gw_kv_u32(&w, "granitehybrid.ssm.conv_kernel", 4);
    gw_kv_u32(&w, "granitehybrid.ssm.inner_size", 512);
    gw_kv_u32(&w, "granitehybrid.ssm.state_size", 128);
    gw_kv_u32(&w, "granitehybrid.ssm.group_count", 1);
    gw_kv_u32(&w, "granitehybrid.ssm.time_step_rank", 8);
    iw_arch a;
    map_w(&w, &a);
    cr_assert_eq(a.attention.n_kv_heads_per_layer, 4);
    cr_assert_eq(a.attention.kv_heads_per_layer[1], 2);
    cr_assert_eq(a.num_kv_heads, 2);
    cr_assert_eq(a.attention.type, IW_ATTN_GQA);
    cr_assert_eq(a.attention.n_layer_types, 4);
    cr_assert_eq(a.attention.layer_types[0], IW_LAYER_MAMBA);
    cr_assert_eq(a.attention.layer_types[1], IW_LAYER_FULL);
    cr_assert_eq(a.attention.layer_types[2], IW_LAYER_MAMBA);
    cr_assert_eq(a.ssm.num_recurrent_layers, 2);
    cr_assert_eq(a.ssm.d_conv, 4);
    cr_assert_eq(a.ssm.d_inner, 512);
    cr_assert_eq(a.ssm.d_state, 128);
    cr_assert_eq(a.ssm.n_heads, 8);
    cr_assert_eq(a.ssm.head_dim, 64);
    cr_assert_eq(a.head_dim, 32);
    cr_assert_str_eq(iw_arch_get_source(&a, "attention.kv_heads_per_layer"), "gguf");
    iw_arch_free(&a);
    gw_free(&w);
}

Test(gguf_arch, per_layer_array_of_wrong_length_is_an_error)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 0, 4);
    gw_kv_str(&w, "general.architecture", "x");
    gw_kv_u32(&w, "x.block_count", 3);
    gw_kv_u32(&w, "x.attention.head_count", 8);
    int32_t kvh[] = { 1, 2 };
    gw_kv_arr_i32(&w, "x.attention.head_count_kv", kvh, 2);
    iw_source s;
    iw_source_from_buffer(&s, w.p, w.len, "t.gguf");
    iw_gguf *g = NULL;
    cr_assert_eq(iw_gguf_parse(&g, &s, NULL), 0);
    iw_source_close(&s);
    iw_arch a;
    iw_arch_init(&a);
    const iw_gguf *one[] = { g };
    cr_assert_eq(iw_gguf_to_arch(one, 1, &a), IW_EFORMAT);
    cr_assert(strstr(iw_error_last(), "x.attention.head_count_kv"), "%s", iw_error_last());
    iw_arch_free(&a);
    iw_gguf_free(g);
    gw_free(&w);
}

static void swa_file(gw *w, const char *arch, uint32_t layers, int pattern_kind)
{
    char k[128];
    gw_init(w, 3, false);
    gw_header(w, 0, pattern_kind ? 5 : 4);
    gw_kv_str(w, "general.architecture", arch);
    snprintf(k, sizeof k, "%s.block_count", arch);
    gw_kv_u32(w, k, layers);
    snprintf(k, sizeof k, "%s.attention.head_count", arch);
    gw_kv_u32(w, k, 8);
    snprintf(k, sizeof k, "%s.attention.sliding_window", arch);
    gw_kv_u32(w, k, 1024);
    snprintf(k, sizeof k, "%s.attention.sliding_window_pattern", arch);
    if (pattern_kind == 1) {
        gw_kv_u32(w, k, 2);
    } else if (pattern_kind == 2) {
        gw_kv_arr(w, k, 7, layers);
        for (uint32_t i = 0; i < layers; i++)
            gw_u8(w, i % 4 != 3);
    }
}

Test(gguf_arch, sliding_window_patterns)
{
    gw w;
    iw_arch a;
    /* gemma3 without a pattern key: llama.cpp's fixed pattern 6 */
    swa_file(&w, "gemma3", 12, 0);
    map_w(&w, &a);
    cr_assert_eq(a.attention.sliding_window, 1024);
    cr_assert_eq(a.attention.sliding_window_pattern, 6);
    cr_assert_eq(a.attention.n_layer_types, 12);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(a.attention.layer_types[i], i % 6 == 5 ? IW_LAYER_FULL : IW_LAYER_SLIDING, "layer %d", i);
    cr_assert(strstr(iw_arch_get_source(&a, "attention.layer_types"), "llama.cpp"));
    iw_arch_free(&a);
    gw_free(&w);

    /* scalar pattern key */
    swa_file(&w, "foo", 4, 1);
    map_w(&w, &a);
    cr_assert_eq(a.attention.layer_types[0], IW_LAYER_SLIDING);
    cr_assert_eq(a.attention.layer_types[1], IW_LAYER_FULL);
    cr_assert_eq(a.attention.sliding_window_pattern, 2);
    iw_arch_free(&a);
    gw_free(&w);

    /* per-layer bool array */
    swa_file(&w, "exaone4", 8, 2);
    map_w(&w, &a);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(a.attention.layer_types[i], i % 4 == 3 ? IW_LAYER_FULL : IW_LAYER_SLIDING);
    iw_arch_free(&a);
    gw_free(&w);

    /* an unknown architecture without a pattern: window only, layers unknown */
    swa_file(&w, "mistral", 4, 0);
    map_w(&w, &a);
    cr_assert_eq(a.attention.sliding_window, 1024);
    cr_assert_null(a.attention.layer_types);
    iw_arch_free(&a);
    gw_free(&w);
}

Test(gguf_arch, full_attention_interval)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 0, 5);
    gw_kv_str(&w, "general.architecture", "qwen3next");
    gw_kv_u32(&w, "qwen3next.block_count", 8);
    gw_kv_u32(&w, "qwen3next.attention.head_count", 16);
    gw_kv_u32(&w, "qwen3next.full_attention_interval", 4);
    gw_kv_u32(&w, "qwen3next.ssm.state_size", 128);
    iw_arch a;
    map_w(&w, &a);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(a.attention.layer_types[i], i % 4 == 3 ? IW_LAYER_FULL : IW_LAYER_LINEAR);
    cr_assert_eq(a.ssm.num_recurrent_layers, 6);
    iw_arch_free(&a);
    gw_free(&w);
}

Test(gguf_arch, moe_active_parameters)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 3, 7);
    gw_kv_str(&w, "general.architecture", "qwen3moe");
    gw_kv_u32(&w, "qwen3moe.block_count", 1);
    gw_kv_u32(&w, "qwen3moe.attention.head_count", 4);
    gw_kv_u32(&w, "qwen3moe.expert_count", 8);
    gw_kv_u32(&w, "qwen3moe.expert_used_count", 2);
    gw_kv_u32(&w, "qwen3moe.expert_feed_forward_length", 32);
    gw_kv_u32(&w, "qwen3moe.expert_shared_count", 1);
    gw_t ts[] = {
        { "token_embd.weight", 2, { 64, 100 }, 0 },                 /* 6400, tied */
        { "blk.0.ffn_up_exps.weight", 3, { 64, 32, 8 }, 0 },        /* 16384 */
        { "blk.0.attn_q.weight", 2, { 64, 64 }, 1 },                /* 4096 */
    };
    gw_tensors(&w, ts, 3, 32);
    iw_arch a;
    map_w(&w, &a);
    cr_assert_eq(a.moe.num_experts, 8);
    cr_assert_eq(a.moe.experts_per_token, 2);
    cr_assert_eq(a.moe.expert_intermediate_size, 32);
    cr_assert_eq(a.moe.shared_experts, 1);
    cr_assert_str_eq(a.mlp_type, "moe");
    cr_assert_eq(a.parameters.total, 6400 + 16384 + 4096);
    cr_assert_eq(a.parameters.experts, 16384);
    cr_assert_eq(a.parameters.active, 6400 + 16384 / 4 + 4096);
    cr_assert_eq(a.parameters.attention, 4096);
    cr_assert_eq(a.parameters.embedding, 6400);
    cr_assert(a.tie_word_embeddings);
    cr_assert_eq(a.weights_bytes, 6400 * 4 + 16384 * 4 + 4096 * 2);
    /* mixed F32/F16 without a file_type: labelled by the dominant non-F32 type */
    cr_assert_str_eq(a.quantization.label, "F16");
    iw_arch_free(&a);
    gw_free(&w);
}

/* Mixtral converted as llama: no expert_feed_forward_length; llama.cpp loads
 * the experts with feed_forward_length (src/models/llama.cpp), so the width
 * must not stay unknown (the estimator then had no MoE width). */
Test(gguf_arch, moe_width_defaults_to_feed_forward_length)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 1, 6);
    gw_kv_str(&w, "general.architecture", "llama");
    gw_kv_u32(&w, "llama.block_count", 1);
    gw_kv_u32(&w, "llama.attention.head_count", 4);
    gw_kv_u32(&w, "llama.feed_forward_length", 96);
    gw_kv_u32(&w, "llama.expert_count", 8);
    gw_kv_u32(&w, "llama.expert_used_count", 2);
    gw_t ts[] = { { "blk.0.ffn_up_exps.weight", 3, { 64, 96, 8 }, 0 } };
    gw_tensors(&w, ts, 1, 32);
    iw_arch a;
    map_w(&w, &a);
    cr_assert_eq(a.moe.expert_intermediate_size, 96);
    cr_assert_not_null(strstr(iw_arch_get_source(&a, "moe.expert_intermediate_size"), "feed_forward_length"));
    iw_arch_free(&a);
    gw_free(&w);
}

Test(gguf_arch, mla)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 0, 10);
    gw_kv_str(&w, "general.architecture", "deepseek2");
    gw_kv_u32(&w, "deepseek2.block_count", 61);
    gw_kv_u32(&w, "deepseek2.embedding_length", 7168);
    gw_kv_u32(&w, "deepseek2.attention.head_count", 128);
    gw_kv_u32(&w, "deepseek2.attention.head_count_kv", 1);
    gw_kv_u32(&w, "deepseek2.attention.kv_lora_rank", 512);
    gw_kv_u32(&w, "deepseek2.attention.q_lora_rank", 1536);
    gw_kv_u32(&w, "deepseek2.rope.dimension_count", 64);
    gw_kv_u32(&w, "deepseek2.attention.key_length_mla", 192);
    gw_kv_u32(&w, "deepseek2.attention.value_length_mla", 128);
    iw_arch a;
    map_w(&w, &a);
    cr_assert_eq(a.attention.type, IW_ATTN_MLA);
    cr_assert_eq(a.attention.kv_lora_rank, 512);
    cr_assert_eq(a.attention.q_lora_rank, 1536);
    cr_assert_eq(a.attention.qk_rope_head_dim, 64);
    cr_assert_eq(a.attention.qk_nope_head_dim, 128);
    cr_assert_eq(a.attention.value_length, 128);
    cr_assert_eq(a.head_dim, 192);
    iw_arch_free(&a);
    gw_free(&w);
}

/* ---- split sets and mmproj on disk ------------------------------------------ */

static void write_shard(const char *dir, const char *name, unsigned no, unsigned count, bool meta,
                        const gw_t *ts, size_t nt, uint64_t total_tensors)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, nt, meta ? 6 : 3);
    if (meta) {
        gw_kv_str(&w, "general.architecture", "llama");
        gw_kv_u32(&w, "llama.block_count", 2);
        gw_kv_u32(&w, "llama.attention.head_count", 4);
    }
    gw_key(&w, "split.no", 2); gw_u16(&w, (uint16_t)(no - 1));
    gw_key(&w, "split.count", 2); gw_u16(&w, (uint16_t)count);
    gw_key(&w, "split.tensors.count", 5); gw_u32(&w, (uint32_t)total_tensors);
    gw_tensors(&w, ts, nt, 32);
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(iwt_write(p, w.p, w.len), 0);
    gw_free(&w);
}

static void write_mmproj(const char *path)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 1, 8);
    gw_kv_str(&w, "general.architecture", "clip");
    gw_kv_str(&w, "clip.projector_type", "gemma3");
    gw_kv_u32(&w, "clip.vision.image_size", 896);
    gw_kv_u32(&w, "clip.vision.patch_size", 14);
    gw_kv_u32(&w, "clip.vision.embedding_length", 1152);
    gw_kv_u32(&w, "clip.vision.block_count", 27);
    gw_kv_u32(&w, "clip.vision.attention.head_count", 16);
    gw_kv_u32(&w, "clip.vision.feed_forward_length", 4304);
    gw_t t = { "v.patch_embd.weight", 4, { 14, 14, 3, 8 }, 1 };
    gw_tensors(&w, &t, 1, 32);
    cr_assert_eq(iwt_write(path, w.p, w.len), 0);
    gw_free(&w);
}

Test(gguf_arch, split_set_and_mmproj)
{
    char *dir = iwt_tmpdir("gguf-split");
    cr_assert(dir);
    gw_t s1[] = { { "token_embd.weight", 2, { 64, 100 }, 0 } };
    gw_t s2[] = { { "blk.0.attn_q.weight", 2, { 64, 64 }, 1 }, { "blk.0.ffn_up.weight", 2, { 64, 128 }, 1 } };
    gw_t s3[] = { { "output.weight", 2, { 64, 100 }, 8 } };
    write_shard(dir, "m-00001-of-00003.gguf", 1, 3, true, s1, 1, 4);
    write_shard(dir, "m-00002-of-00003.gguf", 2, 3, false, s2, 2, 4);
    write_shard(dir, "m-00003-of-00003.gguf", 3, 3, false, s3, 1, 4);
    char p[4096];
    snprintf(p, sizeof p, "%s/mmproj-model-f16.gguf", dir);
    write_mmproj(p);
    int64_t total = 6400 + 4096 + 8192 + 6400;
    int64_t bytes = 6400 * 4 + 4096 * 2 + 8192 * 2 + 6400 / 32 * 34;

    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_gguf_extract_path(dir, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.parameters.total, total);
    cr_assert_eq(a.weights_bytes, bytes);
    cr_assert_eq(a.num_layers, 2);
    cr_assert_eq(a.sources.n, 4);
    cr_assert(a.has_vision);
    cr_assert_eq(a.vision.image_size, 896);
    cr_assert_eq(a.vision.patch_size, 14);
    cr_assert_eq(a.vision.hidden_size, 1152);
    cr_assert_eq(a.vision.num_layers, 27);
    cr_assert_eq(a.vision.num_heads, 16);
    cr_assert_eq(a.vision.intermediate_size, 4304);
    cr_assert_eq(a.vision.params, 14 * 14 * 3 * 8);
    cr_assert_str_eq(a.vision.model_type, "gemma3");
    cr_assert_eq(a.warnings.n, 0, "%s", a.warnings.n ? a.warnings.v[0] : "");
    iw_arch_free(&a);

    /* any shard's file name finds the whole set (no mmproj for a single file) */
    snprintf(p, sizeof p, "%s/m-00002-of-00003.gguf", dir);
    iw_arch_init(&a);
    cr_assert_eq(iw_gguf_extract_path(p, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.parameters.total, total);
    cr_assert_not(a.has_vision);
    iw_arch_free(&a);

    /* a missing shard is an error naming it */
    snprintf(p, sizeof p, "%s/m-00003-of-00003.gguf", dir);
    cr_assert_eq(remove(p), 0);
    iw_arch_init(&a);
    cr_assert_eq(iw_gguf_extract_path(dir, &a), IW_ENOTFOUND);
    cr_assert(strstr(iw_error_last(), "m-00003-of-00003.gguf"), "%s", iw_error_last());
    iw_arch_free(&a);

    /* the mmproj alone */
    snprintf(p, sizeof p, "%s/mmproj-model-f16.gguf", dir);
    iw_arch_init(&a);
    cr_assert_eq(iw_gguf_extract_path(p, &a), 0, "%s", iw_error_last());
    cr_assert(a.has_vision);
    cr_assert_str_eq(a.model_type, "clip");
    iw_arch_free(&a);
    iwt_rm_rf(dir);
    free(dir);
}

Test(gguf_arch, split_name)
{
    size_t pl;
    unsigned no, count;
    cr_assert(iw_gguf_split_name("Qwen3-235B-Q4_K_M-00002-of-00005.gguf", &pl, &no, &count));
    cr_assert_eq(pl, strlen("Qwen3-235B-Q4_K_M"));
    cr_assert_eq(no, 2);
    cr_assert_eq(count, 5);
    cr_assert_not(iw_gguf_split_name("model-00006-of-00005.gguf", NULL, NULL, NULL));
    cr_assert_not(iw_gguf_split_name("model-0001-of-0005.gguf", NULL, NULL, NULL));
    cr_assert_not(iw_gguf_split_name("model.gguf", NULL, NULL, NULL));
}

Test(gguf_arch, incomplete_split_set_warns_and_leaves_totals_unknown)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 1, 3);
    gw_kv_str(&w, "general.architecture", "llama");
    gw_key(&w, "split.no", 2); gw_u16(&w, 0);
    gw_key(&w, "split.count", 2); gw_u16(&w, 2);
    gw_t t = { "token_embd.weight", 2, { 64, 10 }, 0 };
    gw_tensors(&w, &t, 1, 32);
    iw_arch a;
    map_w(&w, &a);
    cr_assert_eq(a.parameters.total, IW_UNKNOWN);
    cr_assert_eq(a.warnings.n, 1);
    cr_assert(strstr(a.warnings.v[0], "2 shards"), "%s", a.warnings.v[0]);
    iw_arch_free(&a);
    gw_free(&w);
}
