/* kv.c - KV-cache bytes per token (one sequence, all layers).
 *
 *   GQA/MQA/MHA layer: n_kv(l) * (d_k + d_v) * b     (head_dim, never hidden/heads
 *                                                     when head_dim is known)
 *   MLA layer:         (kv_lora_rank + qk_rope_head_dim) * b   (latent, no factor 2)
 *   linear / mamba / no-op layers: 0 (their state does not grow with context)
 *   cross-attention layers: 0 here (sized by the encoder length, not per token)
 * Full-attention layers with their own shape (gemma-4 global_head_dim /
 * num_global_key_value_heads) use it.
 * Full-attention layers go to kv_bytes_per_token_full, sliding and chunked
 * layers to kv_bytes_per_token_swa (the estimator caps those at the window).
 * The last num_kv_shared_layers layers reuse earlier KV and add nothing.
 * b comes from kv_precision (bf16/fp16 2, fp32 4, fp8/int8 1, q8_0 34/32,
 * q4_0 18/32), defaulting to 2 bytes (bf16) with a field source saying so.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "config_internal.h"

static double kv_elem_bytes(const char *p)
{
    if (!p)
        return 0;
    if (!strcasecmp(p, "bf16") || !strcasecmp(p, "fp16") || !strcasecmp(p, "f16") ||
        !strcasecmp(p, "bfloat16") || !strcasecmp(p, "float16") || !strcasecmp(p, "auto"))
        return 2;
    if (!strcasecmp(p, "fp32") || !strcasecmp(p, "f32") || !strcasecmp(p, "float32"))
        return 4;
    if (!strncasecmp(p, "fp8", 3) || !strcasecmp(p, "int8") || !strcasecmp(p, "i8") ||
        !strncasecmp(p, "float8", 6))
        return 1;
    if (!strcasecmp(p, "q8_0"))
        return 34.0 / 32.0;
    if (!strcasecmp(p, "q4_0"))
        return 18.0 / 32.0;
    if (!strcasecmp(p, "q4_1"))
        return 20.0 / 32.0;
    if (!strcasecmp(p, "q5_0"))
        return 22.0 / 32.0;
    if (!strcasecmp(p, "q5_1"))
        return 24.0 / 32.0;
    return 0;
}

int iw_kv_per_token(iw_arch *a)
{
    if (!a)
        return iw_error_set(IW_EINVAL, "iw_kv_per_token: NULL argument");
    double b = kv_elem_bytes(a->kv_precision);
    if (b == 0) {
        if (a->kv_precision)
            iw_arch_warn(a, "kv_precision '%s' is not known; KV sized at 2 bytes (bf16)", a->kv_precision);
        b = 2;
    }
    int64_t L = a->is_encoder_decoder && a->decoder_layers > 0 ? a->decoder_layers : a->num_layers;
    if (L <= 0 || L > IW_CONFIG_MAX_LAYERS)
        return iw_error_set(IW_EUNSUPPORTED, "KV per token: number of layers unknown");

    const iw_attention *at = &a->attention;
    bool mla = at->kv_lora_rank > 0 && (at->type == IW_ATTN_MLA || at->qk_rope_head_dim > 0);
    int64_t dk = at->key_length > 0 && !mla ? at->key_length : a->head_dim;
    int64_t dv = at->value_length > 0 && !mla ? at->value_length : a->head_dim;
    if (!mla && (dk <= 0 || dv <= 0))
        return iw_error_set(IW_EUNSUPPORTED, "KV per token: head_dim unknown");
    if (dk > IW_CONFIG_MAX_DIM || dv > IW_CONFIG_MAX_DIM)
        return iw_error_set(IW_ELIMIT, "KV per token: head width beyond the cap");

    int64_t shared = at->num_kv_shared_layers > 0 ? at->num_kv_shared_layers : 0;
    double full = 0, swa = 0;
    for (int64_t i = 0; i < L; i++) {
        iw_layer_kind k = at->layer_types && (size_t)i < at->n_layer_types ? at->layer_types[i]
                                                                          : IW_LAYER_FULL;
        double per;
        if (k == IW_LAYER_LINEAR || k == IW_LAYER_MAMBA || k == IW_LAYER_NONE || k == IW_LAYER_CROSS)
            continue;
        if (i >= L - shared)
            continue;
        if (mla) {
            per = (double)(at->kv_lora_rank + (at->qk_rope_head_dim > 0 ? at->qk_rope_head_dim : 0)) * b;
        } else {
            int64_t nkv = iw_arch_kv_heads_of_layer(a, (size_t)i);
            int64_t lk = dk, lv = dv;
            if (k == IW_LAYER_FULL && at->layer_types && (at->global_head_dim > 0 || at->global_kv_heads > 0)) {
                /* gemma-4 full-attention layers: their own head width and KV
                 * heads; with K=V the engines still cache K and V */
                if (at->global_kv_heads > 0)
                    nkv = at->global_kv_heads;
                if (at->global_head_dim > 0 && at->global_head_dim <= IW_CONFIG_MAX_DIM)
                    lk = lv = at->global_head_dim;
            }
            if (nkv <= 0 || nkv > IW_CONFIG_MAX_DIM)
                return iw_error_set(IW_EUNSUPPORTED, "KV per token: KV heads of layer %lld unknown",
                                    (long long)i);
            per = (double)nkv * (double)(lk + lv) * b;
        }
        if (k == IW_LAYER_SLIDING || k == IW_LAYER_CHUNKED)
            swa += per;
        else
            full += per;
    }
    if (full + swa > 9e18)
        return iw_error_set(IW_ELIMIT, "KV per token: overflows int64");
    a->kv_bytes_per_token_full = (int64_t)llround(full);
    a->kv_bytes_per_token_swa = (int64_t)llround(swa);
    a->kv_bytes_per_token = a->kv_bytes_per_token_full + a->kv_bytes_per_token_swa;
    int rc = iw_arch_set_source(a, "kv_bytes_per_token", "formula");
    if (rc == 0 && !a->kv_precision)
        rc = iw_arch_set_source(a, "kv_precision", "default:bf16 (2 bytes)");
    return rc;
}
