/* estfixture.h - architectures shared by the estimator suites, built by hand
 * from published config.json values (header-only: static inline). */
#ifndef ESTFIXTURE_H
#define ESTFIXTURE_H

#include "iwdl/arch.h"

/* Llama-3-8B: 32 layers, 32 heads, 8 KV heads, head_dim 128 (4096/32),
 * hidden 4096, intermediate 14336, vocab 128256, bf16, 8192 positions;
 * weights exact as the safetensors headers sum them (8030261248 x 2 B). */
static inline void est_llama3_8b(iw_arch *a)
{
    iw_arch_init(a);
    iw_arch_set_str(&a->model_type, "llama");
    iw_arch_set_str(&a->torch_dtype, "bfloat16");
    a->num_layers = 32;
    a->num_attention_heads = 32;
    a->num_kv_heads = 8;
    a->head_dim = 128;
    a->hidden_size = 4096;
    a->intermediate_size = 14336;
    a->vocab_size = 128256;
    a->max_position_embeddings = 8192;
    a->context_length = 8192;
    a->attention.type = IW_ATTN_GQA;
    a->parameters.total = 8030261248;
    a->weights_bytes = 16060522496;
}

#endif
