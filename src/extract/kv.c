/* kv.c - KV-cache bytes per token (one sequence, all layers), for inspect
 * and the registry (kv_bytes_per_token, _full, _swa).
 *
 * The per-layer rule is the library's one KV rule, iw_arch_kv_layer
 * (src/common/kvlayer.c), shared with the estimator:
 *   GQA/MQA/MHA layer: n_kv(l) * (d_k + d_v) * b
 *   MLA layer:         (kv_lora_rank + qk_rope_head_dim) * b   (latent, no factor 2)
 *   linear / mamba / no-op / shared layers: 0
 *   cross-attention layers: 0 here (sized by the encoder length, not per token)
 * Full-attention layers go to kv_bytes_per_token_full, sliding and chunked
 * layers to kv_bytes_per_token_swa (the estimator caps those at the window).
 * b is iw_dtype_bytes(kv_precision), defaulting to 2 bytes (bf16) with a
 * field source saying so.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/kv.h"
#include "config_internal.h"

int iw_kv_per_token(iw_arch *a)
{
    if (!a)
        return iw_error_set(IW_EINVAL, "iw_kv_per_token: NULL argument");
    double b = iw_dtype_bytes(a->kv_precision);
    if (a->kv_precision && !strcasecmp(a->kv_precision, "auto"))
        b = 2;
    if (b == 0) {
        if (a->kv_precision)
            iw_arch_warn(a, "kv_precision '%s' is not known; KV sized at 2 bytes (bf16)", a->kv_precision);
        b = 2;
    }
    int64_t L = iw_arch_kv_layer_count(a);
    if (L <= 0 || L > IW_CONFIG_MAX_LAYERS)
        return iw_error_set(IW_EUNSUPPORTED, "KV per token: number of layers unknown");
    if (a->attention.key_length > IW_CONFIG_MAX_DIM || a->attention.value_length > IW_CONFIG_MAX_DIM ||
        a->head_dim > IW_CONFIG_MAX_DIM || a->attention.global_head_dim > IW_CONFIG_MAX_DIM ||
        a->attention.kv_lora_rank > IW_CONFIG_MAX_DIM || a->attention.qk_rope_head_dim > IW_CONFIG_MAX_DIM)
        return iw_error_set(IW_ELIMIT, "KV per token: head width beyond the cap");

    double full = 0, swa = 0;
    for (int64_t i = 0; i < L; i++) {
        iw_kv_layer kl;
        int rc = iw_arch_kv_layer(a, i, &kl);
        if (rc < 0)
            return iw_error_set(IW_EUNSUPPORTED, "KV per token: %s", iw_error_last());
        if (kl.kind == IW_LAYER_NONE || kl.kind == IW_LAYER_CROSS)
            continue;
        if (kl.n_kv_heads > IW_CONFIG_MAX_DIM)
            return iw_error_set(IW_EUNSUPPORTED, "KV per token: KV heads of layer %lld unknown", (long long)i);
        double per = (double)kl.n_kv_heads * (double)(kl.k_width + kl.v_width) * b;
        if (kl.kind == IW_LAYER_SLIDING || kl.kind == IW_LAYER_CHUNKED)
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
