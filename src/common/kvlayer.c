/* kvlayer.c - the one KV-cache rule of the library: what one layer of a
 * model stores per token, and how many bytes an element of a cache dtype
 * takes.  inspect's kv_bytes_per_token (src/extract/kv.c), the estimator's
 * per-layer classes (src/estimate/estimate.c) and its llama.cpp cache
 * (src/estimate/llamacpp.c) all read layers through iw_arch_kv_layer and
 * dtypes through iw_dtype_bytes, so they agree by construction.
 *
 * Per layer il (docs/estimate.md, "KV cache per token, per layer class"):
 *   kind      layer_types[il]; without them the sliding_window_pattern
 *             convention (layer i full iff (i+1) % n == 0, llama.cpp's
 *             il % n < n-1 for SWA) when a window is known; else full.
 *             Without per-layer kinds, the last num_cross_layers layers are
 *             cross-attention (mllama; the decoder layers of an
 *             encoder-decoder keep their self-attention KV).
 *   none      recurrent (linear_attention, mamba) and no-op layers, layers
 *             with 0 KV heads, and the last num_kv_shared_layers layers
 *             (they reuse earlier KV; ignored when >= the layer count).
 *   MLA       kv_lora_rank > 0: one latent of kv_lora_rank +
 *             qk_rope_head_dim per token, no separate V.
 *   else      n_kv(il) heads of d_k (key_length, else head_dim, else
 *             hidden/heads) and d_v (value_length, else d_k); full layers
 *             of a model with global_head_dim / num_global_key_value_heads
 *             (gemma-4) use those.
 */
#include <string.h>
#include <strings.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"

double iw_dtype_bytes(const char *s)
{
    static const struct { const char *name; double bytes; } tab[] = {
        {"bfloat16", 2}, {"bf16", 2}, {"float16", 2}, {"fp16", 2}, {"f16", 2}, {"half", 2},
        {"float32", 4}, {"fp32", 4}, {"f32", 4}, {"float", 4},
        {"int8", 1}, {"i8", 1}, {"f8", 1},
        /* llama.cpp block types: bytes per 32 values */
        {"q8_0", 34.0 / 32.0}, {"q4_0", 18.0 / 32.0}, {"q4_1", 20.0 / 32.0},
        {"q5_0", 22.0 / 32.0}, {"q5_1", 24.0 / 32.0},
    };
    if (!s)
        return 0;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcasecmp(s, tab[i].name))
            return tab[i].bytes;
    if (!strncasecmp(s, "fp8", 3) || !strncasecmp(s, "float8", 6))
        return 1;
    return 0;
}

int64_t iw_arch_kv_layer_count(const iw_arch *a)
{
    if (a->is_encoder_decoder && a->decoder_layers > 0)
        return a->decoder_layers;
    return a->num_layers;
}

static iw_layer_kind kind_of(const iw_arch *a, int64_t il)
{
    const iw_attention *at = &a->attention;
    if (at->layer_types && at->n_layer_types > 0)
        return (size_t)il < at->n_layer_types ? at->layer_types[il] : IW_LAYER_FULL;
    if (at->sliding_window_pattern > 1 && at->sliding_window > 0)
        return ((il + 1) % at->sliding_window_pattern) != 0 ? IW_LAYER_SLIDING : IW_LAYER_FULL;
    if (at->num_cross_layers > 0 && !a->is_encoder_decoder &&
        il >= iw_arch_kv_layer_count(a) - at->num_cross_layers)
        return IW_LAYER_CROSS;
    return IW_LAYER_FULL;
}

bool iw_arch_is_mla(const iw_arch *a)
{
    return a->attention.kv_lora_rank > 0 || a->attention.type == IW_ATTN_MLA;
}

int iw_arch_kv_layer(const iw_arch *a, int64_t il, iw_kv_layer *out)
{
    const iw_attention *at = &a->attention;
    int64_t L = iw_arch_kv_layer_count(a);
    memset(out, 0, sizeof *out);
    out->kind = kind_of(a, il);
    if (out->kind == IW_LAYER_LINEAR || out->kind == IW_LAYER_MAMBA) {
        out->recurrent = true;
        out->kind = IW_LAYER_NONE;
        return 0;
    }
    if (out->kind == IW_LAYER_NONE)
        return 0;
    if (at->num_kv_shared_layers > 0 && at->num_kv_shared_layers < L && il >= L - at->num_kv_shared_layers) {
        out->shared = true;
        out->kind = IW_LAYER_NONE;
        return 0;
    }
    if (iw_arch_is_mla(a)) {
        if (at->kv_lora_rank <= 0)
            return iw_error_set(IW_EINVAL, "KV cache: MLA attention without attention.kv_lora_rank");
        out->n_kv_heads = 1;
        out->k_width = at->kv_lora_rank + (at->qk_rope_head_dim > 0 ? at->qk_rope_head_dim : 0);
        out->v_width = 0;
        out->mla = true;
        return 0;
    }
    int64_t dk = at->key_length > 0 ? at->key_length : a->head_dim > 0 ? a->head_dim
               : (a->hidden_size > 0 && a->num_attention_heads > 0) ? a->hidden_size / a->num_attention_heads : 0;
    int64_t dv = at->value_length > 0 ? at->value_length : dk;
    int64_t nkv = iw_arch_kv_heads_of_layer(a, (size_t)il);
    if (out->kind == IW_LAYER_FULL && at->layer_types && (at->global_head_dim > 0 || at->global_kv_heads > 0)) {
        /* gemma-4 full-attention layers: their own head width and KV heads;
         * with K = V the engines still cache both */
        if (at->global_kv_heads > 0)
            nkv = at->global_kv_heads;
        if (at->global_head_dim > 0)
            dk = dv = at->global_head_dim;
    }
    if (nkv == 0) {                 /* a per-layer array says: no attention here */
        out->kind = IW_LAYER_NONE;
        return 0;
    }
    if (!(dk > 0))
        return iw_error_set(IW_EINVAL, "KV cache: head dimension unknown (no head_dim, key_length, "
                            "or hidden_size/num_attention_heads)");
    if (nkv < 0)
        return iw_error_set(IW_EINVAL, "KV cache: number of KV heads of layer %lld unknown", (long long)il);
    out->n_kv_heads = nkv;
    out->k_width = dk;
    out->v_width = dv;
    return 0;
}
