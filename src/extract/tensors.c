/* tensors.c - parameter counting with quantization unpacking and layer
 * analysis from Hugging Face tensor names and shapes, applied to iw_arch.
 *
 * Rules (docs/formats/safetensors.md):
 *   - bookkeeping tensors of quantized checkpoints are not parameters
 *     (scales, zero points, group indices, bnb quant state, E8M0 scales);
 *   - packed tensors count elements x container bits / quantized bits,
 *     exactly (3-bit GPTQ qweight: elements * 32 / 3);
 *   - components are decided by name: vision, experts, norms, embedding,
 *     lm_head, attention, mlp, else other (e.g. rotary inv_freq buffers). */
#include "iwdl/safetensors.h"
#include "iwdl/error.h"
#include "safetensors_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum comp { C_OTHER, C_EMBED, C_ATTN, C_MLP, C_EXPERT, C_NORM, C_LMHEAD, C_VISION };

static bool has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static bool method_is(const iw_st_quant *q, const char *m)
{
    return q && q->method && strcasecmp(q->method, m) == 0;
}

static bool method_in(const iw_st_quant *q, const char *const *list)
{
    for (; *list; list++)
        if (method_is(q, *list))
            return true;
    return false;
}

/* Nominal bits as a small integer, 0 when unknown or fractional. */
static unsigned quant_bits(const iw_st_quant *q)
{
    if (!q || !(q->bits > 0) || q->bits > 64 || q->bits != floor(q->bits))
        return 0;
    return (unsigned)q->bits;
}

static const char *const GPTQ_LIKE[] = { "gptq", "awq", "gptq_marlin", "awq_marlin", "marlin",
                                         "auto-round", "autoround", "gptq_v2", NULL };

/* Bookkeeping suffixes skipped for every checkpoint (fp8, compressed-tensors,
 * modelopt, kv-cache scales). */
static const char *const ALWAYS_SKIP[] = {
    ".weight_scale_inv", ".weight_scale", ".weight_scale_2", ".weight_global_scale",
    ".input_scale", ".input_global_scale", ".output_scale", ".weight_zero_point",
    ".weight_shape", ".weight_g_idx", ".k_scale", ".v_scale", NULL
};

static bool ends_any(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (iw_st_ends_with(s, *list))
            return true;
    return false;
}

static int64_t unpack(uint64_t n, unsigned container_bits, unsigned qbits, bool *ok)
{
    uint64_t x;
    *ok = !__builtin_mul_overflow(n, (uint64_t)container_bits, &x) && qbits > 0;
    if (!*ok)
        return -1;
    x /= qbits;
    if (x > (uint64_t)INT64_MAX) {
        *ok = false;
        return -1;
    }
    return (int64_t)x;
}

int64_t iw_st_tensor_params(const char *name, iw_st_dtype dtype, uint64_t n,
                            const iw_st_quant *q, bool *skipped, bool *packed)
{
    bool sk = false, pk = false, ok = true;
    int64_t r;
    unsigned cbits = iw_st_dtype_bits(dtype);
    unsigned qb = quant_bits(q);

    if (dtype == IW_ST_F8_E8M0 || ends_any(name, ALWAYS_SKIP)) {
        sk = true;
        r = 0;
    } else if (method_in(q, GPTQ_LIKE)) {
        if (iw_st_ends_with(name, ".qzeros") || iw_st_ends_with(name, ".scales") || iw_st_ends_with(name, ".g_idx")) {
            sk = true;
            r = 0;
        } else if (iw_st_ends_with(name, ".qweight") && qb && cbits) {
            pk = true;
            r = unpack(n, cbits, qb, &ok);
        } else {
            r = (int64_t)n;
        }
    } else if (method_is(q, "bitsandbytes") || method_is(q, "bnb")) {
        if (iw_st_ends_with(name, ".absmax") || iw_st_ends_with(name, ".quant_map") || has(name, ".nested_")
            || has(name, ".quant_state.") || iw_st_ends_with(name, ".SCB") || iw_st_ends_with(name, ".weight_format")) {
            sk = true;
            r = 0;
        } else if (iw_st_ends_with(name, ".weight") && dtype == IW_ST_U8) {
            pk = true;                       /* 4-bit: two values per byte */
            r = unpack(n, 8, 4, &ok);
        } else {
            r = (int64_t)n;
        }
    } else if (method_is(q, "mxfp4")) {
        if (iw_st_ends_with(name, "_scales")) {
            sk = true;
            r = 0;
        } else if (iw_st_ends_with(name, "_blocks") && cbits) {
            pk = true;
            r = unpack(n, cbits, 4, &ok);
        } else {
            r = (int64_t)n;
        }
    } else if (method_is(q, "compressed-tensors") || method_is(q, "compressed_tensors")) {
        if (iw_st_ends_with(name, ".weight_packed") && cbits) {
            unsigned b = qb ? qb : (dtype == IW_ST_U8 ? 4 : 0);   /* nvfp4 packs two per byte */
            if (b) {
                pk = true;
                r = unpack(n, cbits, b, &ok);
            } else {
                r = (int64_t)n;
            }
        } else {
            r = (int64_t)n;
        }
    } else if (method_is(q, "modelopt") || method_is(q, "modelopt_fp4") || method_is(q, "nvfp4")) {
        /* NVFP4: U8 weights hold two 4-bit values per byte; FP8: as stored */
        if (iw_st_ends_with(name, ".weight") && dtype == IW_ST_U8 && (qb == 4 || !method_is(q, "modelopt"))) {
            pk = true;
            r = unpack(n, 8, 4, &ok);
        } else {
            r = (int64_t)n;
        }
    } else if (method_is(q, "mlx")) {
        if (iw_st_ends_with(name, ".scales") || iw_st_ends_with(name, ".biases")) {
            sk = true;
            r = 0;
        } else if (iw_st_ends_with(name, ".weight") && dtype == IW_ST_U32 && qb) {
            pk = true;
            r = unpack(n, 32, qb, &ok);
        } else {
            r = (int64_t)n;
        }
    } else {
        r = (int64_t)n;
    }
    if (!ok || r < 0) {
        iw_error_set(IW_ELIMIT, "tensor '%s': unpacked parameter count overflows", name);
        return -1;
    }
    if (skipped)
        *skipped = sk;
    if (packed)
        *packed = pk;
    return r;
}

/* Module name = the component before the last '.'; copied into buf. */
static const char *module_of(const char *name, char *buf, size_t cap)
{
    const char *last = strrchr(name, '.');
    if (!last) {
        snprintf(buf, cap, "%s", name);
        return buf;
    }
    const char *p = last;
    while (p > name && p[-1] != '.')
        p--;
    size_t n = (size_t)(last - p);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

static bool ci_has(const char *s, const char *sub)
{
    return strcasestr(s, sub) != NULL;
}

static bool is_vision(const char *n)
{
    static const char *const v[] = { "vision_tower", "vision_model", "visual.", "vision.", "vit.",
        "image_encoder", "mm_projector", "multi_modal_projector", "vision_embed", "img_projector",
        "vision_encoder", "vpm.", "resampler.", "image_newline", "patch_embed", "vision_proj", NULL };
    for (const char *const *p = v; *p; p++)
        if (has(n, *p))
            return true;
    return false;
}

static enum comp classify(const char *n)
{
    char mod[256];
    module_of(n, mod, sizeof mod);
    if (is_vision(n))
        return C_VISION;
    if (has(n, ".experts.") || strncmp(n, "experts.", 8) == 0)
        return C_EXPERT;
    if (ci_has(mod, "norm") || strncmp(mod, "ln", 2) == 0 || iw_st_ends_with(mod, "_ln"))
        return C_NORM;
    if (strncmp(n, "lm_head.", 8) == 0 || has(n, ".lm_head.") || strncmp(n, "embed_out.", 10) == 0
        || has(n, "output_layer.") || strcmp(n, "output.weight") == 0)
        return C_LMHEAD;
    if (ci_has(mod, "embed") || strcmp(mod, "wte") == 0 || strcmp(mod, "wpe") == 0
        || strcmp(mod, "tok_embeddings") == 0)
        return C_EMBED;
    static const char *const attn_mod[] = { "q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj",
        "query_key_value", "c_attn", "Wqkv", "wq", "wk", "wv", "wo", "query", "key", "value",
        "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "out_proj", NULL };
    for (const char *const *p = attn_mod; *p; p++)
        if (strcmp(mod, *p) == 0)
            return C_ATTN;
    if (ci_has(n, "attn") || ci_has(n, "attention"))
        return C_ATTN;
    static const char *const mlp_mod[] = { "gate_proj", "up_proj", "down_proj", "gate_up_proj",
        "fc1", "fc2", "w1", "w2", "w3", "c_fc", "dense_h_to_4h", "dense_4h_to_h", "router", "gate", NULL };
    for (const char *const *p = mlp_mod; *p; p++)
        if (strcmp(mod, *p) == 0)
            return C_MLP;
    if (has(n, "mlp") || has(n, "feed_forward") || has(n, "ffn") || has(n, "moe") || has(n, "shared_expert"))
        return C_MLP;
    return C_OTHER;
}

/* "…layers.N." / "h.N." / "blocks.N." / "layer.N." → N, else -1. */
static long layer_of(const char *n)
{
    static const char *const keys[] = { "layers.", "h.", "blocks.", "layer.", "block.", NULL };
    for (const char *const *k = keys; *k; k++) {
        size_t kl = strlen(*k);
        for (const char *p = strstr(n, *k); p; p = strstr(p + 1, *k)) {
            if (p != n && p[-1] != '.')
                continue;
            const char *d = p + kl;
            if (!isdigit((unsigned char)*d))
                continue;
            char *end;
            long v = strtol(d, &end, 10);
            if (*end == '.' && v >= 0 && v < 1000000)
                return v;
        }
    }
    return -1;
}

/* ".experts.N." → N, else -1 */
static long expert_of(const char *n)
{
    const char *p = strstr(n, ".experts.");
    if (!p)
        return -1;
    p += 9;
    if (!isdigit((unsigned char)*p))
        return -1;
    char *end;
    long v = strtol(p, &end, 10);
    return (*end == '.' && v >= 0 && v < 10000000) ? v : -1;
}

static bool add64(int64_t *acc, int64_t v)
{
    return !__builtin_add_overflow(*acc, v, acc);
}

/* Output features of a projection weight: [out, in] for Linear; GPTQ/AWQ
 * qweight keep the (possibly packed) N in dim 1. */
static int64_t out_features(const iw_st_tinfo *t)
{
    if (!t->has_shape || t->n_dims < 1)
        return -1;
    if (iw_st_ends_with(t->name, ".qweight"))
        return t->n_dims >= 2 ? t->shape[1] : -1;
    return t->shape[0];
}

static int64_t hint_head_dim(const iw_arch *h)
{
    if (!h)
        return -1;
    if (h->head_dim > 0)
        return h->head_dim;
    if (h->hidden_size > 0 && h->num_attention_heads > 0 && h->hidden_size % h->num_attention_heads == 0)
        return h->hidden_size / h->num_attention_heads;
    return -1;
}

static iw_attn_type type_from_kv(int64_t heads, int64_t kv)
{
    if (kv <= 0 || heads <= 0)
        return IW_ATTN_UNKNOWN;
    if (kv == heads)
        return IW_ATTN_MHA;
    if (kv == 1)
        return IW_ATTN_MQA;
    return kv < heads ? IW_ATTN_GQA : IW_ATTN_UNKNOWN;
}

int iw_st_analyse(const iw_st_tinfo *t, size_t n, const iw_st_quant *q,
                  const iw_arch *hint, iw_st_summary *out)
{
    memset(out, 0, sizeof *out);
    out->params_active = IW_UNKNOWN;
    out->num_experts = IW_UNKNOWN;
    out->num_layers = IW_UNKNOWN;
    out->tied_embeddings = -1;
    out->n_tensors = n;
    out->embed_rows = out->embed_cols = IW_UNKNOWN;
    uint64_t float_bytes[3] = {0, 0, 0}, all_bytes = 0;   /* BF16, F16, F32 */
    int64_t *comp[] = { [C_OTHER] = &out->other, [C_EMBED] = &out->embedding, [C_ATTN] = &out->attention,
                        [C_MLP] = &out->mlp, [C_EXPERT] = &out->experts, [C_NORM] = &out->norms,
                        [C_LMHEAD] = &out->lm_head, [C_VISION] = &out->vision };
    int rc = 0;

    bool have_counts = true, any_embed = false, any_lmhead = false, mla = false;
    bool norm_bias = false, norm_weight = false, gated = false, plain = false;
    long max_layer = -1, max_expert = -1;
    int64_t fused_experts = -1, router_experts = -1;
    int64_t q_out = -1, k_out = -1, qkv_out = -1, qkv_in = -1;
    long qk_layer = -1;

    for (size_t i = 0; i < n; i++) {
        const iw_st_tinfo *ti = &t[i];
        const char *nm = ti->name;
        enum comp c = classify(nm);
        if (c == C_VISION)
            out->has_vision = true;

        if (ti->has_shape && ti->dtype < IW_ST_DTYPE_COUNT) {
            bool sk = false, pk = false;
            int64_t p = iw_st_tensor_params(nm, ti->dtype, ti->n_elements, q, &sk, &pk);
            if (p < 0) {
                rc = iw_error_last_code();
                goto cleanup;
            }
            if (sk)
                out->skipped_tensors++;
            if (pk)
                out->packed_tensors++;
            if (!add64(&out->params_total, p) || !add64(comp[c], p)) {
                rc = iw_error_set(IW_ELIMIT, "parameter count overflows at tensor '%s'", nm);
                goto cleanup;
            }
            if (out->weights_bytes + ti->bytes < out->weights_bytes) {
                rc = iw_error_set(IW_ELIMIT, "weight bytes overflow at tensor '%s'", nm);
                goto cleanup;
            }
            out->weights_bytes += ti->bytes;
            all_bytes += ti->bytes;
            if (ti->dtype == IW_ST_BF16 || ti->dtype == IW_ST_F16 || ti->dtype == IW_ST_F32)
                float_bytes[ti->dtype == IW_ST_BF16 ? 0 : ti->dtype == IW_ST_F16 ? 1 : 2] += ti->bytes;
            if (!pk && (!q || !q->method || !quant_bits(q))
                && (iw_st_ends_with(nm, ".qweight") || iw_st_ends_with(nm, ".weight_packed") || iw_st_ends_with(nm, "_blocks")))
                out->unpack_unknown = true;
        } else {
            have_counts = false;
        }

        if (c == C_VISION)
            continue;
        long L = layer_of(nm);
        if (L > max_layer)
            max_layer = L;
        if (has(nm, "kv_a_proj_with_mqa"))
            mla = true;
        if (c == C_EMBED && (has(nm, "embed_tokens") || has(nm, "wte.") || has(nm, "word_embeddings")
                             || has(nm, "tok_embeddings") || has(nm, "embed_in") || has(nm, "embedding."))) {
            any_embed = true;
            /* an unquantized [vocab, hidden] table gives both (a packed one would not) */
            if (out->embed_rows == IW_UNKNOWN && ti->has_shape && ti->n_dims == 2 && iw_st_ends_with(nm, ".weight")
                && (ti->dtype == IW_ST_BF16 || ti->dtype == IW_ST_F16 || ti->dtype == IW_ST_F32)) {
                out->embed_rows = ti->shape[0];
                out->embed_cols = ti->shape[1];
            }
        }
        if (c == C_LMHEAD)
            any_lmhead = true;
        if (c == C_NORM) {
            if (iw_st_ends_with(nm, ".bias"))
                norm_bias = true;
            else if (iw_st_ends_with(nm, ".weight"))
                norm_weight = true;
        }
        if (c == C_EXPERT) {
            long e = expert_of(nm);
            if (e > max_expert)
                max_expert = e;
            if (e < 0 && ti->has_shape && ti->n_dims >= 3 && ti->shape[0] > fused_experts)
                fused_experts = ti->shape[0];     /* fused [E, ...] expert tensors (gpt-oss) */
        }
        char mod[256];
        module_of(nm, mod, sizeof mod);
        if (c == C_MLP) {
            if (strcmp(mod, "gate_proj") == 0 || strcmp(mod, "w3") == 0 || strcmp(mod, "gate_up_proj") == 0)
                gated = true;
            else if (strcmp(mod, "fc1") == 0 || strcmp(mod, "c_fc") == 0 || strcmp(mod, "dense_h_to_4h") == 0
                     || strcmp(mod, "up_proj") == 0)
                plain = true;
            if ((strcmp(mod, "gate") == 0 || strcmp(mod, "router") == 0) && iw_st_ends_with(nm, ".weight")
                && ti->has_shape && ti->n_dims == 2 && ti->shape[0] > router_experts)
                router_experts = ti->shape[0];
            /* chatglm: one dense_h_to_4h of 2 x ffn width is a gated MLP */
            if (strcmp(mod, "dense_h_to_4h") == 0 && hint && hint->intermediate_size > 0
                && ti->has_shape && ti->n_dims == 2 && ti->shape[0] == 2 * hint->intermediate_size)
                gated = true;
        }
        if (c == C_ATTN && ti->has_shape && (L < 0 || qk_layer < 0 || L <= qk_layer)
            && (iw_st_ends_with(nm, ".weight") || iw_st_ends_with(nm, ".qweight"))) {
            bool isq = strcmp(mod, "q_proj") == 0 || strcmp(mod, "wq") == 0 || strcmp(mod, "query") == 0;
            bool isk = strcmp(mod, "k_proj") == 0 || strcmp(mod, "wk") == 0 || strcmp(mod, "key") == 0;
            bool isf = strcmp(mod, "query_key_value") == 0 || strcmp(mod, "c_attn") == 0
                       || strcmp(mod, "qkv_proj") == 0 || strcmp(mod, "Wqkv") == 0;
            if ((isq || isk || isf) && (qk_layer < 0 || L < qk_layer)) {
                qk_layer = L;           /* lowest layer wins */
                q_out = k_out = qkv_out = -1;
            }
            if (isq && L == qk_layer)
                q_out = out_features(ti);
            else if (isk && L == qk_layer)
                k_out = out_features(ti);
            else if (isf && L == qk_layer && ti->n_dims == 2) {
                qkv_out = ti->shape[0];
                qkv_in = ti->shape[1];
            }
        }
    }

    if (!have_counts) {
        out->params_total = IW_UNKNOWN;
        out->embedding = out->attention = out->mlp = out->experts = IW_UNKNOWN;
        out->norms = out->lm_head = out->vision = out->other = IW_UNKNOWN;
    }
    if (max_layer >= 0)
        out->num_layers = max_layer + 1;
    if (max_expert >= 0)
        out->num_experts = max_expert + 1;
    else if (fused_experts > 0)
        out->num_experts = fused_experts;
    else if (router_experts > 0 && out->experts > 0)
        out->num_experts = router_experts;
    out->mlp_type = out->num_experts > 0 ? "moe" : gated ? "gated" : plain ? "plain" : NULL;
    out->norm_type = norm_bias ? "layernorm" : norm_weight ? "rmsnorm" : NULL;
    if (any_embed)
        out->tied_embeddings = any_lmhead ? 0 : 1;
    /* the float type of most of the bytes (an unquantized checkpoint's dtype) */
    static const char *const float_names[3] = {"bfloat16", "float16", "float32"};
    for (int k = 0; k < 3; k++)
        if (all_bytes && float_bytes[k] * 2 > all_bytes)
            out->float_dtype = float_names[k];

    /* attention type */
    int64_t heads = hint ? hint->num_attention_heads : -1;
    int64_t hd = hint_head_dim(hint);
    if (mla) {
        out->attn_type = IW_ATTN_MLA;
    } else if (q_out > 0 && k_out > 0) {
        if (q_out == k_out)
            out->attn_type = IW_ATTN_MHA;
        else if (q_out % k_out == 0 && heads > 0 && q_out / k_out == heads)
            out->attn_type = IW_ATTN_MQA;
        else if (q_out > k_out)
            out->attn_type = IW_ATTN_GQA;
    } else if (qkv_out > 0 && heads > 0 && hd > 0) {
        /* Conv1D (gpt2 c_attn) stores [in, out] */
        int64_t o = qkv_out;
        if (hint->hidden_size > 0 && qkv_out == hint->hidden_size && qkv_in != hint->hidden_size)
            o = qkv_in;
        if (o % hd == 0 && o / hd > heads && (o / hd - heads) % 2 == 0)
            out->attn_type = type_from_kv(heads, (o / hd - heads) / 2);
    }

    /* active parameters of MoE models */
    if (have_counts && out->experts > 0 && out->num_experts > 0 && hint && hint->moe.experts_per_token > 0
        && hint->moe.experts_per_token <= out->num_experts) {
        int64_t per = out->experts / out->num_experts;
        out->params_active = out->params_total - out->experts + per * hint->moe.experts_per_token;
    } else if (have_counts && out->experts == 0) {
        out->params_active = out->params_total;   /* dense: every parameter is active */
    }
    rc = 0;
cleanup:
    return rc;
}

int iw_st_analyse_files(const iw_st_file *files, size_t n_files, const iw_st_quant *q,
                        const iw_arch *hint, iw_st_summary *out)
{
    size_t total = 0;
    for (size_t i = 0; i < n_files; i++)
        total += files[i].n_tensors;
    iw_st_tinfo *ti = calloc(total ? total : 1, sizeof *ti);
    if (!ti) {
        memset(out, 0, sizeof *out);
        return iw_error_set(IW_ENOMEM, "out of memory for %zu tensors", total);
    }
    size_t k = 0;
    for (size_t i = 0; i < n_files; i++)
        for (size_t j = 0; j < files[i].n_tensors; j++, k++) {
            const iw_st_tensor *t = &files[i].tensors[j];
            ti[k].name = t->name;
            ti[k].dtype = t->dtype;
            ti[k].has_shape = true;
            ti[k].n_dims = t->n_dims;
            ti[k].shape = t->shape;
            ti[k].n_elements = t->n_elements;
            ti[k].bytes = t->end - t->begin;
        }
    int rc = iw_st_analyse(ti, total, q, hint, out);
    free(ti);
    return rc;
}

/* ---- applying to iw_arch --------------------------------------------------- */

static void set_comp(int64_t *dst, int64_t v) { *dst = v; }

int iw_st_apply(iw_arch *a, const iw_st_summary *s, const iw_st_index *idx)
{
    const char *SRC = "safetensors";
    if (s->weights_bytes > (uint64_t)INT64_MAX)
        return iw_error_set(IW_ELIMIT, "weight bytes %llu exceed int64", (unsigned long long)s->weights_bytes);

    a->weights_bytes = (int64_t)s->weights_bytes;
    iw_arch_set_source(a, "weights_bytes", SRC);

    if (idx && idx->total_size != IW_UNKNOWN) {
        if (idx->total_size == 0)
            iw_arch_warn(a, "index metadata.total_size is 0; using the headers' sum of tensor bytes (%lld)",
                         (long long)a->weights_bytes);
        else if (idx->total_size != a->weights_bytes)
            iw_arch_warn(a, "index metadata.total_size (%lld) disagrees with the headers' sum of tensor bytes (%lld); using the headers",
                         (long long)idx->total_size, (long long)a->weights_bytes);
    } else if (idx) {
        iw_arch_warn(a, "index has no metadata.total_size; weight bytes from the headers only");
    }

    if (s->unpack_unknown)
        iw_arch_warn(a, "packed quantized tensors found but the quantization method/bits are unknown (%s, bits %g): parameters counted as stored, an undercount",
                     a->quantization.method ? a->quantization.method : "none", a->quantization.bits);

    if (s->params_total != IW_UNKNOWN) {
        if (a->parameters.source && strcmp(a->parameters.source, "formula") == 0 && a->parameters.total > 0
            && s->params_total > 0) {
            double f = (double)a->parameters.total, h = (double)s->params_total;
            double d = fabs(f - h) / h;
            if (a->parameters.mtp > 0) {
                /* the checkpoint may store the MTP layers (originals do,
                 * some derivatives strip them): either count agrees */
                double dm = fabs(f + (double)a->parameters.mtp - h) / h;
                if (dm < d)
                    d = dm;
            }
            if (d > 0.005)
                iw_arch_warn(a, "parameter count from the config formula (%lld) differs from the safetensors headers (%lld) by %.2f%%; using the headers",
                             (long long)a->parameters.total, (long long)s->params_total, d * 100.0);
        }
        a->parameters.total = s->params_total;
        a->parameters.active = s->params_active;
        set_comp(&a->parameters.embedding, s->embedding);
        set_comp(&a->parameters.attention, s->attention);
        set_comp(&a->parameters.mlp, s->mlp);
        set_comp(&a->parameters.experts, s->experts);
        set_comp(&a->parameters.norms, s->norms);
        set_comp(&a->parameters.lm_head, s->lm_head);
        set_comp(&a->parameters.vision, s->vision);
        iw_arch_set_str(&a->parameters.source, SRC);
        iw_arch_set_source(a, "parameters", SRC);
    }

    if (s->attn_type != IW_ATTN_UNKNOWN) {
        if (a->attention.type == IW_ATTN_UNKNOWN) {
            a->attention.type = s->attn_type;
            iw_arch_set_source(a, "attention.type", SRC);
        } else if (a->attention.type != s->attn_type) {
            iw_arch_warn(a, "attention type from config (%s) differs from the tensor shapes (%s)",
                         iw_attn_type_name(a->attention.type), iw_attn_type_name(s->attn_type));
        }
    }
    if (s->num_experts > 0) {
        if (a->moe.num_experts == IW_UNKNOWN || a->moe.num_experts <= 0) {
            a->moe.num_experts = s->num_experts;
            iw_arch_set_source(a, "moe.num_experts", SRC);
        } else if (a->moe.num_experts != s->num_experts) {
            iw_arch_warn(a, "expert count from config (%lld) differs from the tensors (%lld)",
                         (long long)a->moe.num_experts, (long long)s->num_experts);
        }
    }
    if (s->mlp_type && !a->mlp_type) {
        iw_arch_set_str(&a->mlp_type, s->mlp_type);
        iw_arch_set_source(a, "mlp_type", SRC);
    }
    if (s->norm_type && !a->norm_type) {
        iw_arch_set_str(&a->norm_type, s->norm_type);
        iw_arch_set_source(a, "norm_type", SRC);
    }
    if (s->tied_embeddings >= 0) {
        bool tied = s->tied_embeddings == 1;
        if (!iw_arch_get_source(a, "tie_word_embeddings")) {
            a->tie_word_embeddings = tied;
            iw_arch_set_source(a, "tie_word_embeddings", SRC);
        } else if (a->tie_word_embeddings != tied) {
            iw_arch_warn(a, "tie_word_embeddings from config (%s) but the checkpoint %s an lm_head tensor",
                         a->tie_word_embeddings ? "true" : "false", tied ? "has no" : "has");
        }
    }
    if (s->has_vision && !a->has_vision) {
        a->has_vision = true;
        iw_arch_set_source(a, "vision", SRC);
    }
    if (s->num_layers > 0 && a->num_layers == IW_UNKNOWN) {
        a->num_layers = s->num_layers;
        iw_arch_set_source(a, "num_layers", SRC);
    }
    /* what a bare file (or a config that lacks them) leaves unknown */
    if (s->embed_rows > 0 && a->vocab_size <= 0) {
        a->vocab_size = s->embed_rows;
        iw_arch_set_source(a, "vocab_size", "safetensors:embedding shape");
    }
    if (s->embed_cols > 0 && a->hidden_size <= 0) {
        a->hidden_size = s->embed_cols;
        iw_arch_set_source(a, "hidden_size", "safetensors:embedding shape");
    }
    if (s->float_dtype && !a->torch_dtype && !a->quantization.method) {
        iw_arch_set_str(&a->torch_dtype, s->float_dtype);
        iw_arch_set_source(a, "torch_dtype", "safetensors:tensor dtypes");
    }
    if (!a->source)
        iw_arch_set_str(&a->source, SRC);
    return 0;
}
