/* estimate.c - GPU memory estimator over iw_arch (see include/iwdl/estimate.h
 * and docs/estimate.md for every formula).
 *
 * All byte arithmetic is done in double: every product here is of integers
 * bounded by the input caps, exact below 2^53, and results are checked to
 * stay below 2^62 before they are stored as int64.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/json.h"
#include "llamacpp.h"

#define CAP_LAYERS   100000
#define CAP_HEADS    100000
#define CAP_DIM      1000000
#define CAP_CTX      ((int64_t)1 << 31)
#define CAP_BATCH    ((int64_t)1 << 20)
#define CAP_TP       1024
#define CAP_BYTES    IW_EST_BYTES_CAP
#define MiB          1048576.0
#define GiB          1073741824.0

/* ------------------------------------------------------------------ names */

const char *iw_engine_name(iw_engine e)
{
    switch (e) {
    case IW_ENGINE_VLLM:     return "vllm";
    case IW_ENGINE_LLAMACPP: return "llama.cpp";
    case IW_ENGINE_OLLAMA:   return "ollama";
    }
    return "?";
}

int iw_engine_parse(const char *s, iw_engine *out)
{
    if (!s)
        return iw_error_set(IW_EINVAL, "engine: missing value");
    if (!strcasecmp(s, "vllm"))
        *out = IW_ENGINE_VLLM;
    else if (!strcasecmp(s, "llama.cpp") || !strcasecmp(s, "llamacpp") || !strcasecmp(s, "llama-cpp"))
        *out = IW_ENGINE_LLAMACPP;
    else if (!strcasecmp(s, "ollama"))
        *out = IW_ENGINE_OLLAMA;
    else
        return iw_error_set(IW_EINVAL, "engine '%s': expected vllm, llama.cpp or ollama", s);
    return 0;
}

int iw_vllm_version_parse(const char *s, int32_t *out)
{
    int32_t part[3] = {0, 0, 0};
    int n = 0;
    const char *p = s;
    if (!s || !*s)
        return iw_error_set(IW_EINVAL, "vLLM version: empty");
    while (n < 3) {
        if (!isdigit((unsigned char)*p))
            break;
        int32_t v = 0;
        int digits = 0;
        while (isdigit((unsigned char)*p) && digits < 4) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        if (v >= 1000 || isdigit((unsigned char)*p))
            return iw_error_set(IW_EINVAL, "vLLM version '%.32s': each part must be below 1000", s);
        part[n++] = v;
        if (*p != '.')
            break;
        p++;
    }
    if (n == 0 || *p || p[-1] == '.')
        return iw_error_set(IW_EINVAL, "vLLM version '%.32s': expected MAJOR.MINOR[.PATCH], e.g. 0.10 or 0.10.1", s);
    *out = IW_VLLM_VERSION(part[0], part[1], part[2]);
    return 0;
}

void iw_vllm_version_format(int32_t v, char *buf, size_t n)
{
    int maj = v / 1000000, min = v / 1000 % 1000, pat = v % 1000;
    if (pat)
        snprintf(buf, n, "%d.%d.%d", maj, min, pat);
    else
        snprintf(buf, n, "%d.%d", maj, min);
}

int iw_engine_parse_spec(const char *s, iw_engine *out, int32_t *vllm_version)
{
    if (vllm_version)
        *vllm_version = 0;
    if (!s)
        return iw_error_set(IW_EINVAL, "engine: missing value");
    const char *at = strchr(s, '@');
    if (!at)
        return iw_engine_parse(s, out);
    if ((size_t)(at - s) != 4 || strncasecmp(s, "vllm", 4))
        return iw_error_set(IW_EINVAL, "engine '%.64s': only vllm takes a version (vllm@0.10)", s);
    if (!vllm_version)
        return iw_error_set(IW_EINVAL, "engine '%.64s': a version is not accepted here", s);
    int rc = iw_vllm_version_parse(at + 1, vllm_version);
    if (rc < 0)
        return rc;
    *out = IW_ENGINE_VLLM;
    return 0;
}

const char *iw_kv_dtype_name(iw_kv_dtype t)
{
    static const char *n[] = {"auto", "f32", "fp16", "bf16", "fp8", "q8_0", "q4_0"};
    return (unsigned)t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

int iw_kv_dtype_parse(const char *s, iw_kv_dtype *out)
{
    static const struct { const char *s; iw_kv_dtype t; } tab[] = {
        {"auto", IW_KV_AUTO}, {"f32", IW_KV_F32}, {"fp32", IW_KV_F32}, {"float32", IW_KV_F32},
        {"f16", IW_KV_F16}, {"fp16", IW_KV_F16}, {"float16", IW_KV_F16}, {"half", IW_KV_F16},
        {"bf16", IW_KV_BF16}, {"bfloat16", IW_KV_BF16},
        {"fp8", IW_KV_FP8}, {"fp8_e4m3", IW_KV_FP8}, {"fp8_e5m2", IW_KV_FP8}, {"f8", IW_KV_FP8},
        {"q8_0", IW_KV_Q8_0}, {"q4_0", IW_KV_Q4_0},
    };
    if (!s)
        return iw_error_set(IW_EINVAL, "kv dtype: missing value");
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (!strcasecmp(s, tab[i].s)) {
            *out = tab[i].t;
            return 0;
        }
    return iw_error_set(IW_EINVAL, "kv dtype '%s': expected auto, f32, fp16, bf16, fp8, q8_0 or q4_0", s);
}

const char *iw_llama_app_name(iw_llama_app a)
{
    return a == IW_LLAMA_CLI ? "cli" : "server";
}

int iw_llama_app_parse(const char *s, iw_llama_app *out)
{
    if (s && (!strcasecmp(s, "server") || !strcasecmp(s, "llama-server")))
        *out = IW_LLAMA_SERVER;
    else if (s && (!strcasecmp(s, "cli") || !strcasecmp(s, "llama-cli") || !strcasecmp(s, "library")))
        *out = IW_LLAMA_CLI;
    else
        return iw_error_set(IW_EINVAL, "llama.cpp program '%s': expected server or cli", s ? s : "");
    return 0;
}

/* ------------------------------------------------------------- options */

void iw_est_opts_init(iw_est_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->version = IW_EST_OPTS_VERSION;
    o->engine = IW_ENGINE_VLLM;
    o->context = IW_UNKNOWN;
    o->batch = IW_UNKNOWN;
    o->kv_dtype = IW_KV_AUTO;
    o->tp = 1;
    o->gpu_util = NAN;
    o->vram_bytes = IW_UNKNOWN;
    o->max_num_batched_tokens = IW_UNKNOWN;
    o->n_ubatch = IW_UNKNOWN;
    o->n_gpu_layers = IW_UNKNOWN;
    o->flash_attn = -1;
    o->n_batch = IW_UNKNOWN;
    o->llama_app = IW_LLAMA_SERVER;
    o->max_num_seqs = IW_UNKNOWN;
}

void iw_estimate_init(iw_estimate *e)
{
    memset(e, 0, sizeof(*e));
    iw_est_opts_init(&e->in);
    e->max_context = IW_UNKNOWN;
    e->budget = IW_UNKNOWN;
    e->kv_capacity_tokens = IW_UNKNOWN;
    e->kv_available_bytes = IW_UNKNOWN;
}

void iw_estimate_free(iw_estimate *e)
{
    iw_strlist_free(&e->warnings);
    iw_estimate_init(e);
}

/* -------------------------------------------------------------- helpers */

static int64_t to_i64(double v)
{
    if (!(v >= 0))
        return 0;
    if (v >= CAP_BYTES)
        return (int64_t)CAP_BYTES;
    return (int64_t)ceil(v);
}

static double pad_up(double v, double m) { return ceil(v / m) * m; }

static bool known(int64_t v) { return v > 0; }

/* Bytes of one element of a dtype name or of a KV cache type: the
 * library's one dtype table (iw_dtype_bytes, src/common/kvlayer.c). */
static double dtype_bytes(const char *s) { return iw_dtype_bytes(s); }

static double kv_elem_bytes(iw_kv_dtype t)
{
    return t == IW_KV_AUTO ? 0 : iw_dtype_bytes(iw_kv_dtype_name(t));
}

/* Resolve AUTO: vLLM follows kv_precision, then torch_dtype; llama.cpp and
 * Ollama default to f16.  *how names the choice for the formula text. */
static double resolve_kv_bytes(const iw_arch *a, iw_engine eng, iw_kv_dtype t, const char **how,
                               bool *guessed)
{
    *guessed = false;
    if (t != IW_KV_AUTO) {
        *how = iw_kv_dtype_name(t);
        return kv_elem_bytes(t);
    }
    if (eng != IW_ENGINE_VLLM) {
        *how = "f16 (engine default)";
        return 2;
    }
    double b = dtype_bytes(a->kv_precision);
    if (b > 0) {
        *how = a->kv_precision;
        return b;
    }
    b = dtype_bytes(a->torch_dtype);
    if (b > 0) {
        *how = a->torch_dtype;
        return b;
    }
    *how = "16-bit (dtype unknown, assumed)";
    *guessed = true;
    return 2;
}

static int check_cap(const char *what, int64_t v, int64_t cap)
{
    if (v > cap)
        return iw_error_set(IW_ELIMIT, "estimate: %s = %lld exceeds the cap %lld", what,
                            (long long)v, (long long)cap);
    return 0;
}

static int validate_arch(const iw_arch *a)
{
    int rc;
    if (!known(a->num_layers))
        return iw_error_set(IW_EINVAL, "estimate: num_layers is unknown; cannot size the KV cache "
                            "(re-run inspect or add metadata.architecture.num_layers)");
    if ((rc = check_cap("num_layers", a->num_layers, CAP_LAYERS)) ||
        (rc = check_cap("num_attention_heads", a->num_attention_heads, CAP_HEADS)) ||
        (rc = check_cap("num_kv_heads", a->num_kv_heads, CAP_HEADS)) ||
        (rc = check_cap("head_dim", a->head_dim, CAP_DIM)) ||
        (rc = check_cap("hidden_size", a->hidden_size, CAP_DIM)) ||
        (rc = check_cap("intermediate_size", a->intermediate_size, (int64_t)CAP_DIM * 100)) ||
        (rc = check_cap("vocab_size", a->vocab_size, (int64_t)CAP_DIM * 100)) ||
        (rc = check_cap("attention.key_length", a->attention.key_length, CAP_DIM)) ||
        (rc = check_cap("attention.value_length", a->attention.value_length, CAP_DIM)) ||
        (rc = check_cap("attention.kv_lora_rank", a->attention.kv_lora_rank, CAP_DIM)) ||
        (rc = check_cap("attention.qk_rope_head_dim", a->attention.qk_rope_head_dim, CAP_DIM)) ||
        (rc = check_cap("attention.sliding_window", a->attention.sliding_window, CAP_CTX)) ||
        (rc = check_cap("attention.chunk_size", a->attention.chunk_size, CAP_CTX)) ||
        (rc = check_cap("attention.encoder_length", a->attention.encoder_length, CAP_CTX)) ||
        (rc = check_cap("moe.num_experts", a->moe.num_experts, CAP_HEADS)) ||
        (rc = check_cap("moe.experts_per_token", a->moe.experts_per_token, CAP_HEADS)) ||
        (rc = check_cap("moe.expert_intermediate_size", a->moe.expert_intermediate_size, CAP_DIM * 10)) ||
        (rc = check_cap("ssm.d_state", a->ssm.d_state, CAP_DIM)) ||
        (rc = check_cap("ssm.d_conv", a->ssm.d_conv, CAP_DIM)) ||
        (rc = check_cap("ssm.d_inner", a->ssm.d_inner, CAP_DIM * 10)) ||
        (rc = check_cap("ssm.n_heads", a->ssm.n_heads, CAP_HEADS)) ||
        (rc = check_cap("ssm.n_groups", a->ssm.n_groups, CAP_HEADS)) ||
        (rc = check_cap("ssm.head_dim", a->ssm.head_dim, CAP_DIM)))
        return rc;
    for (size_t i = 0; i < a->attention.n_kv_heads_per_layer && a->attention.kv_heads_per_layer; i++)
        if ((rc = check_cap("attention.kv_heads_per_layer[]", a->attention.kv_heads_per_layer[i], CAP_HEADS)))
            return rc;
    return 0;
}

/* Per-class KV bytes per token (one sequence, one GPU) and layer counts. */
typedef struct kvsum {
    double full, swa, chunk, cross;     /* bytes per token summed over the layers of the class */
    int64_t n_full, n_swa, n_chunk, n_cross, n_rec, n_none, n_shared;
    double state;                       /* recurrent state bytes per sequence */
    double eb;                          /* KV element bytes */
    const char *kv_how;
    char desc[200];                     /* per-layer formula text */
} kvsum;

static double head_k(const iw_arch *a)
{
    if (known(a->attention.key_length))
        return (double)a->attention.key_length;
    if (known(a->head_dim))
        return (double)a->head_dim;
    if (known(a->hidden_size) && known(a->num_attention_heads))
        return (double)(a->hidden_size / a->num_attention_heads);
    return 0;
}

static double head_v(const iw_arch *a)
{
    if (known(a->attention.value_length))
        return (double)a->attention.value_length;
    return head_k(a);
}

static int kv_classes(const iw_arch *a, iw_engine eng, iw_kv_dtype t, int tp, kvsum *s,
                      iw_strlist *warn)
{
    bool guessed = false;
    memset(s, 0, sizeof(*s));
    s->eb = resolve_kv_bytes(a, eng, t, &s->kv_how, &guessed);
    if (guessed && warn)
        iw_strlist_push_unique(warn, "KV dtype unknown (no kv_precision/torch_dtype): assumed 16-bit");
    bool mla = iw_arch_is_mla(a);
    double dk = head_k(a), dv = head_v(a);
    if (mla) {
        if (!known(a->attention.kv_lora_rank))
            return iw_error_set(IW_EINVAL, "estimate: MLA attention without attention.kv_lora_rank");
        if (!known(a->attention.qk_rope_head_dim) && warn)
            iw_strlist_push_unique(warn, "MLA without qk_rope_head_dim: latent width = kv_lora_rank only");
        snprintf(s->desc, sizeof(s->desc), "MLA latent (kv_lora_rank %lld + qk_rope_head_dim %lld) x %g B, not split by TP",
                 (long long)a->attention.kv_lora_rank, (long long)(known(a->attention.qk_rope_head_dim) ? a->attention.qk_rope_head_dim : 0), s->eb);
    } else {
        if (!(dk > 0))
            return iw_error_set(IW_EINVAL, "estimate: head dimension unknown (no head_dim, key_length, "
                                "or hidden_size/num_attention_heads)");
        if (a->num_kv_heads < 0 && a->num_attention_heads < 0 && !a->attention.kv_heads_per_layer)
            return iw_error_set(IW_EINVAL, "estimate: number of KV heads unknown (no num_kv_heads or num_attention_heads)");
        if (a->num_kv_heads < 0 && !a->attention.kv_heads_per_layer && warn)
            iw_strlist_push_unique(warn, "num_kv_heads unknown: assumed = num_attention_heads (MHA)");
        snprintf(s->desc, sizeof(s->desc), "n_kv(l)/tp x (d_k %g + d_v %g) x %g B", dk, dv, s->eb);
    }

    /* the layers, by the library's one KV rule (iw_arch_kv_layer, shared
     * with inspect's kv_bytes_per_token and the llama.cpp cache) */
    if (known(a->attention.num_kv_shared_layers) && a->attention.num_kv_shared_layers >= iw_arch_kv_layer_count(a) && warn)
        iw_strlist_push_unique(warn, "attention.num_kv_shared_layers >= num_layers: ignored");
    int64_t L = iw_arch_kv_layer_count(a);
    for (int64_t il = 0; il < L; il++) {
        iw_kv_layer kl;
        int rc = iw_arch_kv_layer(a, il, &kl);
        if (rc < 0)
            return iw_error_set(rc, "estimate: %s", iw_error_last());
        iw_layer_kind k = kl.kind;
        double per = 0;
        if (kl.shared) {
            s->n_shared++;
            continue;
        }
        if (kl.recurrent) {
            s->n_rec++;
            continue;
        }
        if (k == IW_LAYER_NONE) {
            s->n_none++;
            continue;
        }
        if (kl.mla) {
            per = (double)kl.k_width * s->eb;      /* the latent, not split by TP */
        } else {
            int64_t r = kl.n_kv_heads / (tp > 0 ? tp : 1);
            if (r < 1)
                r = 1;
            per = (double)r * (double)(kl.k_width + kl.v_width) * s->eb;
        }
        switch (k) {
        case IW_LAYER_SLIDING:
            if (known(a->attention.sliding_window)) {
                s->swa += per; s->n_swa++;
            } else {
                if (warn)
                    iw_strlist_push_unique(warn, "sliding layers without attention.sliding_window: counted as full attention");
                s->full += per; s->n_full++;
            }
            break;
        case IW_LAYER_CHUNKED:
            if (known(a->attention.chunk_size)) {
                s->chunk += per; s->n_chunk++;
            } else {
                if (warn)
                    iw_strlist_push_unique(warn, "chunked layers without attention.chunk_size: counted as full attention");
                s->full += per; s->n_full++;
            }
            break;
        case IW_LAYER_CROSS:
            s->cross += per; s->n_cross++;
            break;
        default:
            s->full += per; s->n_full++;
            break;
        }
    }

    /* Recurrent state (per sequence).  Fields: d_conv (k), d_inner, n_groups,
     * d_state, n_heads, head_dim.  Per layer, elements:
     *   conv = (k-1) x (d_inner + 2 x n_groups x d_state)
     *   ssm  = n_heads x head_dim x d_state    (mamba2 / gated delta net)
     *        | d_inner x d_state                (mamba1: no n_heads)
     * For a gated delta net (Qwen3-Next) extract maps n_groups = linear key
     * heads, d_state = key head dim, n_heads = value heads, head_dim = value
     * head dim, d_inner = n_heads x head_dim: the same formulas give vLLM's
     * conv (k-1)(2 nk dk + nv dv) and ssm nv dv dk.  Divided by TP. */
    int64_t n_rec = s->n_rec;
    if (n_rec == 0 && known(a->ssm.num_recurrent_layers))
        n_rec = a->ssm.num_recurrent_layers;
    s->n_rec = n_rec;
    if (n_rec > 0) {
        const iw_ssm *m = &a->ssm;
        double d_inner = known(m->d_inner) ? (double)m->d_inner
                       : (known(m->n_heads) && known(m->head_dim)) ? (double)m->n_heads * (double)m->head_dim : 0;
        double d_state = known(m->d_state) ? (double)m->d_state : 0;
        bool gdn = iw_arch_count_layers(a, IW_LAYER_LINEAR) > 0;
        if (!(d_state > 0) && gdn && known(m->head_dim) && known(m->n_groups)) {
            /* gated delta net without linear_key_head_dim: the published
             * GDN models (Qwen3-Next, Qwen3.5) use equal key/value head dims */
            d_state = (double)m->head_dim;
            if (warn)
                iw_strlist_push_unique(warn, "ssm.d_state (linear key head dim) unknown: assumed = value head dim (ssm.head_dim)");
        }
        if (!(d_state > 0) || !(d_inner > 0)) {
            if (warn)
                iw_strlist_push_unique(warn, "recurrent layers without ssm.d_state/d_inner: recurrent state not counted");
        } else {
            double k = known(m->d_conv) ? (double)m->d_conv : 4;
            if (!known(m->d_conv) && warn)
                iw_strlist_push_unique(warn, "ssm.d_conv unknown: assumed 4");
            double g = known(m->n_groups) ? (double)m->n_groups : 1;
            double conv = (k - 1) * (d_inner + 2 * g * d_state);
            double ssm = (known(m->n_heads) && known(m->head_dim))
                       ? (double)m->n_heads * (double)m->head_dim * d_state
                       : d_inner * d_state;
            double sb = eng == IW_ENGINE_VLLM ? 2 : 4;  /* vLLM: model dtype; llama.cpp: F32 */
            double dt = dtype_bytes(a->torch_dtype);
            if (eng == IW_ENGINE_VLLM && dt > 0)
                sb = dt;
            s->state = (double)n_rec * (conv + ssm) / (tp > 0 ? tp : 1) * sb;
        }
    }
    return 0;
}

int iw_estimate_kv_per_token(const iw_arch *a, iw_kv_dtype kv, int tp, int64_t *out)
{
    kvsum s;
    int rc = validate_arch(a);
    if (rc)
        return rc;
    if (tp < 1 || tp > CAP_TP)
        return iw_error_set(IW_EINVAL, "estimate: tensor-parallel size %d out of range 1..%d", tp, CAP_TP);
    if ((rc = kv_classes(a, IW_ENGINE_VLLM, kv, tp, &s, NULL)))
        return rc;
    *out = to_i64(s.full + s.swa + s.chunk + s.cross);
    return 0;
}

/* -------------------------------------------------------------- weights */

static double weight_bytes_per_param(const iw_arch *a)
{
    double b = dtype_bytes(a->torch_dtype);
    return b > 0 ? b : 2;
}

static double embedding_params(const iw_arch *a)
{
    if (a->parameters.embedding >= 0)
        return (double)a->parameters.embedding;
    if (known(a->vocab_size) && known(a->hidden_size))
        return (double)a->vocab_size * (double)a->hidden_size;
    return 0;
}

static double lm_head_params(const iw_arch *a)
{
    if (a->parameters.lm_head >= 0)
        return (double)a->parameters.lm_head;
    return a->tie_word_embeddings ? 0 : embedding_params(a);
}

/* Routed-expert parameters (for mxfp4, which quantizes experts only). */
static double expert_params(const iw_arch *a)
{
    if (a->parameters.experts >= 0)
        return (double)a->parameters.experts;
    const iw_moe *m = &a->moe;
    if (!known(m->num_experts) || !known(m->expert_intermediate_size) || !known(a->hidden_size))
        return -1;
    double moe_layers = (double)a->num_layers - (m->num_dense_layers > 0 ? (double)m->num_dense_layers : 0);
    if (m->moe_layer_freq > 1)
        moe_layers = floor(moe_layers / (double)m->moe_layer_freq);
    return moe_layers * (double)m->num_experts * 3.0 * (double)a->hidden_size *
           (double)m->expert_intermediate_size;
}

static size_t fmt_app(char *buf, size_t n, size_t off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Layer index named by a module path ("model.layers.12.self_attn" -> 12);
 * -1 when the path names no single layer. */
static long module_layer(const char *m)
{
    const char *p = strstr(m, "layers.");
    if (!p)
        return -1;
    p += 7;
    if (!isdigit((unsigned char)*p))
        return -1;
    char *end = NULL;
    long v = strtol(p, &end, 10);
    return (end && (*end == '.' || !*end) && v >= 0 && v < CAP_LAYERS) ? v : -1;
}

/* Parameters of the linear layers a quantization leaves unquantized
 * (modules_to_not_convert / ignore): the engines load them at the model
 * dtype (vLLM: is_layer_skipped -> UnquantizedLinearMethod in each
 * quantization config).  Attention and MLP blocks are counted per layer
 * named (model.layers.N.self_attn), or for every layer when the entry names
 * none; embeddings and lm_head are counted by the caller already. */
static double not_converted_params(const iw_arch *a, char *what, size_t wn)
{
    const iw_strlist *m = &a->quantization.modules_not_converted;
    const iw_params *pp = &a->parameters;
    if (m->n == 0 || !known(a->num_layers))
        return 0;
    int64_t L = a->num_layers;
    /* a bitmap of layers per kind: 0 attention, 1 mlp */
    unsigned char *seen = calloc((size_t)L * 2, 1);
    if (!seen)
        return 0;
    bool all_attn = false, all_mlp = false, vision = false;
    for (size_t i = 0; i < m->n; i++) {
        const char *s = m->v[i];
        size_t sl = strlen(s);
        bool gate = sl >= 5 && !strcmp(s + sl - 5, ".gate");     /* the MoE router, not a projection */
        bool attn = strstr(s, "attn") != NULL, mlp = strstr(s, "mlp") != NULL && !strstr(s, "router") && !gate;
        long li = module_layer(s);
        if (strstr(s, "vision") || strstr(s, "visual"))
            vision = true;
        else if (attn && li < 0)
            all_attn = true;
        else if (mlp && li < 0)
            all_mlp = true;
        else if (attn && li < L)
            seen[li * 2] = 1;
        else if (mlp && li < L)
            seen[li * 2 + 1] = 1;
    }
    int64_t na = 0, nm = 0;
    for (int64_t l = 0; l < L; l++) {
        na += all_attn || seen[l * 2];
        nm += all_mlp || seen[l * 2 + 1];
    }
    free(seen);
    double kept = 0, mlp_all = (pp->mlp > 0 ? (double)pp->mlp : 0) + (pp->experts > 0 ? (double)pp->experts : 0);
    size_t o = 0;
    what[0] = 0;
    if (na > 0 && pp->attention > 0) {
        kept += (double)pp->attention * (double)na / (double)L;
        o = fmt_app(what, wn, o, "self_attn of %lld layers", (long long)na);
    }
    if (nm > 0 && mlp_all > 0) {
        kept += mlp_all * (double)nm / (double)L;
        o = fmt_app(what, wn, o, "%smlp of %lld layers", o ? ", " : "", (long long)nm);
    }
    if (vision && pp->vision > 0) {
        kept += (double)pp->vision;
        fmt_app(what, wn, o, "%svision", o ? ", " : "");
    }
    return kept;
}

/* How the engine stores what the checkpoint describes (vLLM only; all
 * zero = as stored). */
typedef struct wload {
    bool bnb_dq_f32;           /* double-quant absmax dequantized to f32 at load (vLLM >= 0.9.2) */
    int  mxfp4_pad_i, mxfp4_pad_h; /* MXFP4 experts: per-rank intermediate / hidden rounded up to these */
    const char *mxfp4_backend;
    int  tp;
} wload;

static int weights_impl(const iw_arch *a, const wload *wl, int64_t *bytes, char *formula, size_t flen,
                        const char **source);

int iw_estimate_weights(const iw_arch *a, int64_t *bytes, char *formula, size_t flen,
                        const char **source)
{
    wload none = {0};
    none.tp = 1;
    return weights_impl(a, &none, bytes, formula, flen, source);
}

static double round_up_d(double v, double m) { return m > 0 ? ceil(v / m) * m : v; }

static int weights_impl(const iw_arch *a, const wload *wl, int64_t *bytes, char *formula, size_t flen,
                        const char **source)
{
    const iw_quant *q = &a->quantization;
    const char *cast = iw_arch_get_source(a, "weights_bytes");
    if (a->weights_bytes > 0 && cast && !strncmp(cast, "cast:", 5)) {
        /* an override re-sized exact header bytes for the dtype the engine loads */
        *source = "exact parameters x dtype";
        snprintf(formula, flen, "%s = %lld", cast + 5, (long long)a->weights_bytes);
        *bytes = a->weights_bytes;
        return 0;
    }
    if (a->weights_bytes > 0) {
        bool gguf = iw_arch_is_gguf(a);
        *source = gguf ? "exact: gguf tensors" : "exact: safetensors headers";
        snprintf(formula, flen, "sum of tensor data bytes from the %s = %lld",
                 gguf ? "GGUF tensor infos" : "safetensors headers", (long long)a->weights_bytes);
        *bytes = a->weights_bytes;
        return 0;
    }
    if (a->parameters.total <= 0)
        return iw_error_set(IW_EINVAL, "estimate: weight size unknown: no tensor headers (weights_bytes) "
                            "and no parameter count (parameters.total)");
    *source = "formula";
    double P = (double)a->parameters.total;
    double db = weight_bytes_per_param(a);
    const char *dts = dtype_bytes(a->torch_dtype) > 0 ? a->torch_dtype : "16-bit (torch_dtype unknown)";
    const char *m = q->method;
    if (!m || !*m || !strcasecmp(m, "none") || !strcasecmp(m, "bf16") || !strcasecmp(m, "fp16")) {
        snprintf(formula, flen, "parameters %.0f x %g B (%s)", P, db, dts);
        *bytes = to_i64(P * db);
        return 0;
    }
    double b = isfinite(q->bits) && q->bits > 0 ? q->bits : 0;
    double G = q->group_size > 0 ? (double)q->group_size : 0;
    double eff = 0;
    char ebuf[120] = "";
    bool experts_only = false, all_params = false;
    if (isfinite(q->effective_bits) && q->effective_bits > 0) {
        eff = q->effective_bits;
        snprintf(ebuf, sizeof(ebuf), "%.4g bits (recorded effective_bits)", eff);
    }
    if (!strcasecmp(m, "mxfp4")) {
        experts_only = true;
        if (!(eff > 0)) {
            eff = 4.25;
            snprintf(ebuf, sizeof(ebuf), "4 + 8/32 = 4.25 bits (MXFP4 e8m0 scale per 32)");
        }
    } else if (eff > 0) {
        /* recorded */
    } else if (!strcasecmp(m, "gptq") || !strcasecmp(m, "awq") || !strcasecmp(m, "auto-round") ||
               !strcasecmp(m, "hqq") || !strcasecmp(m, "compressed-tensors") ||
               !strcasecmp(m, "compressed_tensors") || !strcasecmp(m, "modelopt") ||
               !strcasecmp(m, "modelopt_fp4") || !strcasecmp(m, "quark")) {
        bool nvfp4 = (q->format && strstr(q->format, "nvfp4")) || !strcasecmp(m, "modelopt_fp4");
        if (nvfp4) {
            eff = 4.5;
            snprintf(ebuf, sizeof(ebuf), "4 + 8/16 = 4.5 bits (NVFP4)");
        } else {
            if (!(b > 0))
                return iw_error_set(IW_EINVAL, "estimate: quantization %s without bits", m);
            bool ct_sym = (!strncasecmp(m, "compressed", 10) && q->sym && !q->zero_point);
            if (G > 0 && b < 8) {
                double extra = ct_sym ? 16.0 : 16.0 + b;
                eff = b + extra / G;
                snprintf(ebuf, sizeof(ebuf), "b + (%s)/G = %g + %g/%g = %.4g bits", ct_sym ? "16" : "16+b",
                         b, extra, G, eff);
            } else if (b >= 8 && G > 0) {
                eff = b + 32.0 / (G * G);
                snprintf(ebuf, sizeof(ebuf), "%g + 32/(%g x %g) = %.4g bits (block scales)", b, G, G, eff);
            } else {
                eff = b;
                snprintf(ebuf, sizeof(ebuf), "%g bits (per-channel scales ignored)", b);
            }
        }
    } else if (!strcasecmp(m, "fp8") || !strcasecmp(m, "fbgemm_fp8")) {
        if (G > 0) {
            eff = 8 + 32.0 / (G * G);
            snprintf(ebuf, sizeof(ebuf), "8 + 32/(%g x %g) = %.5g bits (fp8 + f32 block scales)", G, G, eff);
        } else {
            eff = 8;
            snprintf(ebuf, sizeof(ebuf), "8 bits (fp8, per-tensor scale)");
        }
    } else if (!strcasecmp(m, "bitsandbytes") || !strcasecmp(m, "bnb")) {
        if (b > 0 && b <= 4) {
            bool dq = q->double_quant && !wl->bnb_dq_f32;
            eff = dq ? 4 + 8.0 / 64 + 32.0 / (64 * 256) : 4.5;
            snprintf(ebuf, sizeof(ebuf), dq
                     ? "4 + 8/64 + 32/(64 x 256) = %.4g bits (nf4, double quant)"
                     : q->double_quant
                     ? "4 + 32/64 = %.4g bits (nf4; vLLM dequantizes the double-quant absmax to f32 at load)"
                     : "4 + 32/64 = %.4g bits (nf4/fp4, f32 absmax per 64)", eff);
        } else {
            eff = 8;
            snprintf(ebuf, sizeof(ebuf), "8 bits (LLM.int8)");
        }
    } else if (!strcasecmp(m, "mlx")) {
        if (!(b > 0))
            return iw_error_set(IW_EINVAL, "estimate: quantization mlx without bits");
        double g = G > 0 ? G : 64;
        eff = b + 32.0 / g;
        all_params = true;
        snprintf(ebuf, sizeof(ebuf), "b + 32/G = %g + 32/%g = %.4g bits (f16 scale+bias)", b, g, eff);
    } else {
        if (!(b > 0))
            return iw_error_set(IW_EINVAL, "estimate: quantization '%s' without bits or effective_bits; "
                                "weight size unknown", m);
        eff = b;
        all_params = !strcasecmp(m, "gguf");
        snprintf(ebuf, sizeof(ebuf), "%g bits (%s nominal)", b, m);
    }

    double qp, keep;
    if (experts_only) {
        double ep = expert_params(a);
        if (ep < 0)
            return iw_error_set(IW_EINVAL, "estimate: mxfp4 quantizes experts only, but expert parameters "
                                "are unknown (no parameters.experts or moe fields)");
        if (ep > P)
            ep = P;
        qp = ep;
        keep = P - ep;
        /* the MoE kernel's layout pads each rank's expert matrices
         * (vllm/model_executor/layers/quantization/mxfp4.py create_weights) */
        double pad = 1;
        if ((wl->mxfp4_pad_i > 0 || wl->mxfp4_pad_h > 0) && known(a->moe.expert_intermediate_size) &&
            known(a->hidden_size)) {
            double tp = wl->tp > 0 ? wl->tp : 1;
            double ip = (double)a->moe.expert_intermediate_size / tp, h = (double)a->hidden_size;
            pad = round_up_d(ip, wl->mxfp4_pad_i) * round_up_d(h, wl->mxfp4_pad_h) / (ip * h);
        }
        if (pad > 1) {
            snprintf(formula, flen, "experts %.0f x %s / 8 x %.4f (%s pads each rank's intermediate to a multiple "
                     "of %d, hidden to %d) + other %.0f x %g B", qp, ebuf, pad,
                     wl->mxfp4_backend ? wl->mxfp4_backend : "the MoE kernel", wl->mxfp4_pad_i,
                     wl->mxfp4_pad_h > 0 ? wl->mxfp4_pad_h : 1, keep, db);
            *bytes = to_i64(qp * eff / 8.0 * pad + keep * db);
            return 0;
        }
        snprintf(formula, flen, "experts %.0f x %s / 8 + other %.0f x %g B (modules_to_not_convert kept at %s)",
                 qp, ebuf, keep, db, dts);
    } else if (all_params) {
        qp = P;
        keep = 0;
        snprintf(formula, flen, "parameters %.0f x %s / 8", P, ebuf);
    } else {
        keep = embedding_params(a) + lm_head_params(a);
        if (keep > P)
            keep = 0;
        char skip[96] = "";
        double kept = not_converted_params(a, skip, sizeof skip);
        if (keep + kept > P)
            kept = 0;
        qp = P - keep - kept;
        if (kept > 0)
            snprintf(formula, flen, "quantized %.0f x %s / 8 + embeddings/lm_head %.0f + not converted (%s) %.0f "
                     "x %g B", qp, ebuf, keep, skip, kept, db);
        else
            snprintf(formula, flen, "quantized %.0f x %s / 8 + embeddings/lm_head %.0f x %g B", qp, ebuf, keep, db);
        keep += kept;
    }
    *bytes = to_i64(qp * eff / 8.0 + keep * db);
    return 0;
}

/* -------------------------------------------------------------- vision */

/* llava-1.5 style: the config names the vision tower by repo
 * (mm_vision_tower: "openai/clip-vit-large-patch14-336") and gives no tower
 * shape.  The checkpoint holds only the projector (counted in the weights or
 * in parameters.total); the tower is loaded from its own repo. */
static bool external_tower(const iw_arch *a)
{
    const iw_vision *v = &a->vision;
    return v->model_type && strchr(v->model_type, '/') && !known(v->hidden_size) &&
           !known(v->num_layers) && !known(v->params);
}

/* The published shapes of the towers llava-style configs name. */
static const struct tower {
    const char *name;                  /* matched case-insensitively inside the repo id */
    int64_t layers, hidden, inter, patch;
} towers[] = {
    {"clip-vit-large-patch14", 24, 1024, 4096, 14},
    {"clip-vit-base-patch16", 12, 768, 3072, 16},
    {"clip-vit-base-patch32", 12, 768, 3072, 32},
    {"siglip-so400m-patch14", 27, 1152, 4304, 14},
};

static double external_tower_bytes(const iw_arch *a, char *formula, size_t flen)
{
    const char *id = a->vision.model_type;
    double db = weight_bytes_per_param(a);
    for (size_t i = 0; i < sizeof(towers) / sizeof(towers[0]); i++) {
        const struct tower *t = &towers[i];
        size_t n = strlen(t->name);
        for (const char *p = id; *p; p++) {
            if (strncasecmp(p, t->name, n))
                continue;
            double h = (double)t->hidden, I = (double)t->inter, pp = (double)t->patch;
            double params = (double)t->layers * (4 * h * h + 2 * h * I) + 3 * pp * pp * h;
            snprintf(formula, flen, "tower %s, loaded from its own repo (not in the checkpoint; the projector is "
                     "in the weights): ViT L %lld x (4h^2 + 2hI) + 3p^2h with h %lld, I %lld, p %lld = %.0f params x %g B",
                     id, (long long)t->layers, (long long)t->hidden, (long long)t->inter, (long long)t->patch, params, db);
            return params * db;
        }
    }
    snprintf(formula, flen, "tower %s is loaded from its own repo and its size is unknown: not counted", id);
    return 0;
}

/* Vision tower bytes when they are not inside weights: vision.params x dtype,
 * else a ViT formula L x (4h^2 + 2hI) + patch embedding 3 p^2 h + projector. */
static double vision_bytes(const iw_arch *a, char *formula, size_t flen, bool *included)
{
    *included = false;
    if (!a->has_vision && !known(a->vision.params) && !known(a->vision.num_layers))
        return 0;
    bool gguf = (a->source && !strcmp(a->source, "gguf"));
    if (!gguf && external_tower(a))
        return external_tower_bytes(a, formula, flen);
    if (a->weights_bytes > 0 && !gguf) {
        *included = true;
        snprintf(formula, flen, "included in the exact weights (safetensors headers)");
        return 0;
    }
    if (a->parameters.vision > 0 && a->weights_bytes <= 0) {
        *included = true;
        snprintf(formula, flen, "included in parameters.total (vision component %lld)", (long long)a->parameters.vision);
        return 0;
    }
    double db = weight_bytes_per_param(a);
    if (gguf)
        db = 2;     /* mmproj files are usually f16 */
    if (known(a->vision.params)) {
        snprintf(formula, flen, "vision.params %lld x %g B", (long long)a->vision.params, db);
        return (double)a->vision.params * db;
    }
    const iw_vision *v = &a->vision;
    if (known(v->num_layers) && known(v->hidden_size)) {
        double h = (double)v->hidden_size;
        double I = known(v->intermediate_size) ? (double)v->intermediate_size : 4 * h;
        double p = known(v->patch_size) ? (double)v->patch_size : 14;
        double proj = known(v->projection_dim) ? (double)v->projection_dim :
                      known(a->hidden_size) ? (double)a->hidden_size : h;
        double params = (double)v->num_layers * (4 * h * h + 2 * h * I) + 3 * p * p * h + h * proj + proj * proj;
        snprintf(formula, flen, "ViT formula (L %lld x (4h^2 + 2hI) + 3p^2h + h*proj + proj^2) = %.0f params x %g B "
                 "(vision.params unknown)", (long long)v->num_layers, params, db);
        return params * db;
    }
    snprintf(formula, flen, "vision tower present but its size is unknown: not counted");
    return 0;
}

/* -------------------------------------------------------------- terms */

/* Append to a formula buffer; returns the new length (clamped to n-1). */
static size_t fmt_app(char *buf, size_t n, size_t off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t fmt_app(char *buf, size_t n, size_t off, const char *fmt, ...)
{
    if (off >= n)
        return off;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + off, n - off, fmt, ap);
    va_end(ap);
    if (k < 0)
        return off;
    off += (size_t)k;
    return off < n ? off : n - 1;
}

static void set_term(iw_est_term *t, const char *name, double bytes, const char *source, const char *fmt,
                     va_list ap) __attribute__((format(printf, 5, 0)));
static void set_term(iw_est_term *t, const char *name, double bytes, const char *source, const char *fmt,
                     va_list ap)
{
    snprintf(t->name, sizeof(t->name), "%s", name);
    snprintf(t->source, sizeof(t->source), "%s", source);
    vsnprintf(t->formula, sizeof(t->formula), fmt, ap);
    t->bytes = to_i64(bytes);
}

static void add_term(iw_estimate *e, const char *name, double bytes, const char *source,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_term(iw_estimate *e, const char *name, double bytes, const char *source,
                     const char *fmt, ...)
{
    if (e->n_terms >= IW_EST_MAX_TERMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    set_term(&e->terms[e->n_terms++], name, bytes, source, fmt, ap);
    va_end(ap);
}

/* a term of host RAM (llama.cpp, Ollama); host_bytes is their sum */
static void add_host_term(iw_estimate *e, const char *name, double bytes, const char *source,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_host_term(iw_estimate *e, const char *name, double bytes, const char *source,
                          const char *fmt, ...)
{
    if (e->n_host_terms >= IW_EST_MAX_HOST_TERMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    set_term(&e->host_terms[e->n_host_terms], name, bytes, source, fmt, ap);
    va_end(ap);
    e->host_bytes += e->host_terms[e->n_host_terms++].bytes;
}

static int64_t model_max_ctx(const iw_arch *a)
{
    return iw_arch_context(a);
}

/* Effective FFN width per token for activations (dense I, or MoE top-k). */
static void ffn_widths(const iw_arch *a, double *dense, double *moe_per_tok, double *n_exp)
{
    *dense = known(a->intermediate_size) ? (double)a->intermediate_size : 0;
    *moe_per_tok = 0;
    *n_exp = 0;
    if (known(a->moe.num_experts) && known(a->moe.expert_intermediate_size)) {
        double k = known(a->moe.experts_per_token) ? (double)a->moe.experts_per_token : 1;
        *moe_per_tok = k * (double)a->moe.expert_intermediate_size;
        if (known(a->moe.shared_expert_intermediate_size))
            *moe_per_tok += (double)a->moe.shared_expert_intermediate_size;
        else if (known(a->moe.shared_experts))
            *moe_per_tok += (double)a->moe.shared_experts * (double)a->moe.expert_intermediate_size;
        *n_exp = (double)a->moe.num_experts;
    }
    if (!(*dense > 0) && known(a->hidden_size) && !(*moe_per_tok > 0))
        *dense = 4.0 * (double)a->hidden_size;
}

/* Tokens a cross-attention layer holds per sequence: attention.encoder_length,
 * else (mllama) 4 tiles x ((image/patch)^2 + 1), with a warning; 0 (their KV
 * not counted, with a warning) when neither is known.  Both engines. */
static double cross_encoder_len(const iw_arch *a, const kvsum *s, iw_strlist *warn)
{
    if (known(a->attention.encoder_length))
        return (double)a->attention.encoder_length;
    if (s->n_cross == 0)
        return 0;
    if (known(a->vision.image_size) && known(a->vision.patch_size)) {
        double side = floor((double)a->vision.image_size / (double)a->vision.patch_size);
        double enc = 4 * (side * side + 1);
        iw_strlist_pushf(warn, "encoder length unknown: assumed 4 tiles x (%g^2 + 1) = %g tokens (mllama)", side, enc);
        return enc;
    }
    iw_strlist_push_unique(warn, "cross-attention layers without encoder_length: their KV is not counted");
    return 0;
}

/* ggml type of the cache for a KV dtype (llama.cpp's -ctk / -ctv) */
static int ggml_kv_type(iw_kv_dtype t)
{
    switch (t) {
    case IW_KV_F32:  return IW_GGML_F32;
    case IW_KV_BF16: return IW_GGML_BF16;
    case IW_KV_Q8_0: return IW_GGML_Q8_0;
    case IW_KV_Q4_0: return IW_GGML_Q4_0;
    default:         return IW_GGML_F16;
    }
}

/* llama.cpp and Ollama (which runs llama-server).  The KV cache, the
 * compute buffer and the output buffer come from src/estimate/llamacpp.c,
 * which follows llama.cpp's own code; models it cannot build (recurrent and
 * cross-attention layers) keep the per-class formulas. */
static int llamacpp_terms(const iw_arch *a, iw_estimate *e, const kvsum *ks, int64_t wb, const char *wf,
                          const char *wsrc, double vis, bool vis_incl, const char *vf)
{
    int rc;
    iw_est_opts *in = &e->in;
    const iw_est_profile *prof = in->profile;
    bool ollama = in->engine == IW_ENGINE_OLLAMA;
    const kvsum s = *ks;
    double ctx = (double)in->context, B = (double)in->batch, L = (double)a->num_layers;
    /* Ollama's automatic batch (server/sched.go generationBatchForContext):
     * -b = -ub = 512, 1024 above 4096 tokens, 2048 above 32768 (of ctx x num_parallel) */
    double ub = known(in->n_ubatch) ? (double)in->n_ubatch
              : !ollama ? IW_EST_LLAMA_UBATCH : ctx * B > 32768 ? 2048 : ctx * B > 4096 ? 1024 : 512;
    in->n_ubatch = (int64_t)ub;
    double nb = known(in->n_batch) ? (double)in->n_batch : ollama ? ub : 2048;
    in->n_batch = (int64_t)nb;
    if (ollama)
        in->llama_app = IW_LLAMA_SERVER;
    /* flash attention "auto" resolves to on where the backend has it (CUDA, CPU) */
    int fa = in->flash_attn >= 0 ? in->flash_attn : 1;
    in->flash_attn = fa;
    if (!fa && (in->kv_dtype == IW_KV_Q8_0 || in->kv_dtype == IW_KV_Q4_0))
        iw_strlist_push_unique(&e->warnings, "quantized V cache needs flash attention (-fa on): llama.cpp refuses "
                               "to create this context");
    double ngl = known(in->n_gpu_layers) || in->n_gpu_layers == 0 ? (double)in->n_gpu_layers : L + 1;
    if (ngl < 0)
        ngl = L + 1;
    in->n_gpu_layers = (int64_t)ngl;
    double n_off = fmin(ngl, L);
    bool out_gpu = ngl > L;
    double frac = n_off / L;

    /* weights: exact total; the GPU/host split is a heuristic (gguf-parser's
     * placement: token embeddings on the host, repeating layers by -ngl, the
     * output layer on the GPU with the last layer) */
    double P = a->parameters.total > 0 ? (double)a->parameters.total : 0;
    double bpp = P > 0 ? (double)wb / P : weight_bytes_per_param(a);
    double emb = embedding_params(a) * bpp;
    double outb = a->tie_word_embeddings ? emb : lm_head_params(a) * bpp;
    double layers_b = (double)wb - emb - (a->tie_word_embeddings ? 0 : outb);
    if (layers_b < 0)
        layers_b = 0;
    int64_t gpu_w = to_i64(layers_b * n_off / L + (out_gpu ? outb : 0));
    if (gpu_w > wb && !a->tie_word_embeddings)
        gpu_w = wb;
    int64_t host_w = wb - gpu_w + (a->tie_word_embeddings && out_gpu ? to_i64(outb) : 0);
    if (host_w < 0)
        host_w = 0;
    add_term(e, "weights", (double)gpu_w, n_off < L ? "heuristic: layer split of exact bytes" : wsrc,
             "%s; on GPU: repeating layers x %g/%g%s (token embeddings stay in host RAM; the split is gguf-parser's "
             "placement, a heuristic)", wf, n_off, L, out_gpu ? " + output layer" : "");

    /* llama.cpp's graph for what llama.cpp can run; more sequences than
     * LLAMA_MAX_SEQ (a what-if of the inverse: memory alone) use the formulas */
    bool graph = s.n_rec == 0 && s.n_cross == 0 && B <= IW_EST_LLAMA_MAX_SEQ;
    if (B > IW_EST_LLAMA_MAX_SEQ)
        iw_strlist_pushf(&e->warnings, "llama.cpp holds at most %d sequences in one context (LLAMA_MAX_SEQ); "
                         "%g is a what-if sized by formula", IW_EST_LLAMA_MAX_SEQ, B);
    iw_llamacpp_mem m;
    memset(&m, 0, sizeof m);
    if (graph) {
        iw_llamacpp_ctx c = {
            .n_ctx = (int64_t)(ctx * B), .n_seq = (int64_t)B, .n_batch = (int64_t)nb, .n_ubatch = (int64_t)ub,
            .n_outputs_max = in->llama_app == IW_LLAMA_SERVER ? (int64_t)B : 0,
            .flash_attn = fa != 0, .kv_unified = false, .swa_full = false,
            .type_k = ggml_kv_type(in->kv_dtype), .type_v = ggml_kv_type(in->kv_dtype),
        };
        if ((rc = iw_llamacpp_memory(a, &c, &m, &e->warnings)))
            return rc;
        char f[IW_EST_FORMULA_MAX];
        size_t fo = fmt_app(f, sizeof f, 0, "llama.cpp cache (src/llama-kv-cache.cpp): n_ctx = seqs %g x PAD(ctx %g, 256) "
                            "= %lld cells in %lld streams", B, ctx, (long long)m.n_ctx, (long long)m.n_stream);
        if (m.kv_layers)
            fo = fmt_app(f, sizeof f, fo, "; %lld layers x (K %lld + V %lld B per cell, summed) x %lld cells",
                         (long long)m.kv_layers, (long long)m.k_row, (long long)m.v_row, (long long)m.n_ctx);
        if (m.kv_swa_layers)
            fo = fmt_app(f, sizeof f, fo, "; sliding %lld layers x (K %lld + V %lld B) x %lld cells "
                         "(PAD(min(ctx, window + n_ubatch %g), 256) per stream)", (long long)m.kv_swa_layers,
                         (long long)m.k_row_swa, (long long)m.v_row_swa, (long long)(m.swa_cells * m.n_stream), ub);
        fo = fmt_app(f, sizeof f, fo, "; %s", s.kv_how);
        if (n_off < L)
            fmt_app(f, sizeof f, fo, "; x %g/%g offloaded layers (rest in host RAM)", n_off, L);
        add_term(e, "kv_cache", (double)m.kv_bytes * frac, "llama.cpp cache", "%s", f);
        add_term(e, "compute", n_off > 0 ? (double)m.compute_bytes : 0,
                 !m.graph_exact ? "heuristic" : n_off < L ? "heuristic: partial offload" : "llama.cpp graph",
                 "peak of ggml's graph allocator over llama.cpp's %s graph (%lld nodes): n_tokens %lld (n_ubatch %g), "
                 "%g seqs, %lld outputs (%s), flash attention %s, %lld KV cells per stream%s",
                 m.graph, (long long)m.graph_nodes, (long long)m.n_tokens, ub, B, (long long)m.n_outputs,
                 in->llama_app == IW_LLAMA_SERVER ? "llama-server: one per slot" : "llama-cli: n_batch",
                 fa ? "on" : "off", (long long)m.n_ctx_seq, n_off > 0 ? "" : "; no layer on the GPU");
    } else {
        /* recurrent or cross-attention layers: per-class formulas */
        double ncells = B * pad_up(ctx, IW_EST_LLAMA_PAD);
        double w = known(a->attention.sliding_window) ? (double)a->attention.sliding_window : 0;
        double seq_cells = pad_up(ctx, IW_EST_LLAMA_PAD);
        double swa_cells = B * fmin(seq_cells, pad_up(w + ub, IW_EST_LLAMA_PAD));
        double ch = known(a->attention.chunk_size) ? (double)a->attention.chunk_size : 0;
        double chunk_cells = B * fmin(seq_cells, pad_up(ch + ub, IW_EST_LLAMA_PAD));
        double enc = cross_encoder_len(a, &s, &e->warnings);
        m.kv_bytes = to_i64(s.full * ncells + s.swa * swa_cells + s.chunk * chunk_cells + s.cross * enc * B);
        char f[IW_EST_FORMULA_MAX];
        size_t fo = 0;
        fo = fmt_app(f, sizeof f, fo, "n_ctx = seqs %g x PAD(ctx %g, 256) = %g cells: ", B, ctx, ncells);
        if (s.n_full)
            fo = fmt_app(f, sizeof f, fo, "full %lld L x %.0f B x %g", (long long)s.n_full, s.full / s.n_full, ncells);
        if (s.n_swa)
            fo = fmt_app(f, sizeof f, fo, "%sSWA %lld L x %.0f B x seqs x min(PAD(ctx, 256), PAD(window %g + n_ubatch %g, 256)) = %g",
                        s.n_full ? " + " : "", (long long)s.n_swa, s.swa / s.n_swa, w, ub, swa_cells);
        if (s.n_chunk)
            fo = fmt_app(f, sizeof f, fo, " + chunked %lld L x %.0f B x %g", (long long)s.n_chunk, s.chunk / s.n_chunk, chunk_cells);
        if (s.n_cross)
            fo = fmt_app(f, sizeof f, fo, " + cross %lld L x %.0f B x encoder %g x seqs", (long long)s.n_cross, s.cross / s.n_cross, enc);
        fo = fmt_app(f, sizeof f, fo, "; per layer %s (%s)", s.desc, s.kv_how);
        if (s.n_shared)
            fo = fmt_app(f, sizeof f, fo, "; %lld layers reuse earlier KV", (long long)s.n_shared);
        if (n_off < L)
            fmt_app(f, sizeof f, fo, "; x %g/%g offloaded layers (rest in host RAM)", n_off, L);
        add_term(e, "kv_cache", (double)m.kv_bytes * frac, "formula", "%s", f);
        if (s.n_rec > 0)
            add_term(e, "state", B * s.state * frac, "formula",
                     "seqs %g x %lld recurrent layers x [(d_conv-1)(d_inner + 2 n_groups d_state) + n_heads head_dim d_state] x 4 B (F32)",
                     B, (long long)s.n_rec);
        double h = known(a->hidden_size) ? (double)a->hidden_size : 0;
        double V = known(a->vocab_size) ? (double)a->vocab_size : 0;
        double dense_I, moe_I, n_exp;
        ffn_widths(a, &dense_I, &moe_I, &n_exp);
        double nh = known(a->num_attention_heads) ? (double)a->num_attention_heads : 0;
        double qdim = nh * head_k(a);
        double kvdim = (double)(a->num_kv_heads > 0 ? a->num_kv_heads : (int64_t)nh) * head_k(a);
        double nT = fmin(ncells, ub);
        double out_rows = in->llama_app == IW_LLAMA_SERVER ? fmin(nT, B) : fmin(nT, nb);
        double out_stage = out_gpu ? out_rows * V * 4 + nT * h * 4 : 0;
        double ffn = nT * (2 * h + 3 * fmax(dense_I, moe_I) + n_exp) * 4;
        double attn = fa ? nT * (qdim + 2 * kvdim) * 4 + ncells * nT * 2
                         : nT * (qdim + 2 * kvdim) * 4 + ncells * nT * nh * 4 + ncells * nT * 4;
        double comp = n_off > 0 ? fmax(out_stage, fmax(ffn, attn)) : 0;
        add_term(e, "compute", comp, "heuristic",
                 "max(output outputs x vocab x 4 + nT x h x 4, ffn nT x (2h + 3 I_ffn) x 4, attention %s) with nT = "
                 "min(n_ctx, n_ubatch %g) = %g (recurrent or cross-attention layers: llama.cpp's graph not replayed)",
                 fa ? "FA nT x (q + 2kv) x 4 + mask n_ctx x nT x 2" : "nT x (q+2kv) x 4 + KQ n_ctx x nT x heads x 4 + mask",
                 ub, nT);
        m.output_bytes = to_i64(V * B * 4);
    }
    add_term(e, "overhead", n_off > 0 ? (double)prof->llama_overhead : 0, "heuristic",
             "platform footprint %g MiB (CUDA context, gguf-parser default)", (double)prof->llama_overhead / MiB);
    if (vis > 0)
        add_term(e, "vision", vis, "formula", "%s (mmproj)", vf);
    else if (vis_incl)
        add_term(e, "vision", 0, "formula", "%s", vf);

    /* host RAM */
    e->host_bytes = 0;
    add_host_term(e, "weights", (double)host_w, n_off < L || !out_gpu ? "heuristic: layer split of exact bytes" : wsrc,
                  "token embeddings%s%s", n_off < L ? " + the layers left on the CPU" : "",
                  a->tie_word_embeddings && out_gpu ? " (tied: the output layer's copy is on the GPU)" : "");
    if (n_off < L)
        add_host_term(e, "kv_cache", (double)m.kv_bytes * (1 - frac), "heuristic: layer split",
                      "KV of the %g layers left on the CPU", L - n_off);
    add_host_term(e, "output", (double)m.output_bytes, graph ? "llama.cpp output buffer" : "formula",
                  "logits: vocab %lld x max(seqs %g, 1) x 4 B (llama_context::output_reserve)",
                  (long long)(known(a->vocab_size) ? a->vocab_size : 0), B);
    if (known(in->vram_bytes))
        e->budget = in->vram_bytes;
    return 0;
}

/* vLLM's rotary embeddings keep a cos/sin table as a buffer of the model,
 * so "Model loading took" counts it (vllm/model_executor/layers/
 * rotary_embedding.py _compute_cos_sin_cache): rotary_dim values per
 * position at the model dtype, for max_position_embeddings positions,
 * x factor for linear and dynamic scaling, original_max_position x factor for
 * YaRN.  One table per distinct rope (shared by the layers); Gemma 3's
 * sliding layers have their own, unscaled one. */
static double rope_cache_bytes(const iw_arch *a, double eb, char *desc, size_t dn)
{
    double pos = known(a->max_position_embeddings) ? (double)a->max_position_embeddings
               : known(a->context_length) ? (double)a->context_length : 0;
    double rdim = known(a->attention.qk_rope_head_dim) ? (double)a->attention.qk_rope_head_dim : head_k(a);
    desc[0] = 0;
    if (!(pos > 0) || !(rdim > 0))
        return 0;
    double global = pos, factor = 1;
    const char *type = "default";
    cJSON *rs = a->rope_scaling_json ? cJSON_Parse(a->rope_scaling_json) : NULL;
    if (cJSON_IsObject(rs)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!cJSON_IsString(t))
            t = cJSON_GetObjectItemCaseSensitive(rs, "type");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(rs, "factor");
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings");
        if (cJSON_IsString(t))
            type = t->valuestring;
        if (cJSON_IsNumber(f) && f->valuedouble >= 1 && f->valuedouble <= 1024)
            factor = f->valuedouble;
        if (!strcmp(type, "linear") || !strcmp(type, "dynamic"))
            global = pos * factor;
        else if (!strcmp(type, "yarn"))
            global = (cJSON_IsNumber(o) && o->valuedouble > 0 && o->valuedouble <= pos ? o->valuedouble : pos) * factor;
        type = !strcmp(type, "linear") || !strcmp(type, "dynamic") || !strcmp(type, "yarn") ? type : "default";
    }
    bool local = a->model_type && !strncasecmp(a->model_type, "gemma3", 6) &&
                 iw_arch_count_layers(a, IW_LAYER_SLIDING) > 0;
    double bytes = (global + (local ? pos : 0)) * rdim * eb;
    if (local)
        snprintf(desc, dn, "rotary cos/sin tables: (%s %.0f + local %.0f positions) x rotary_dim %.0f x %g B",
                 type, global, pos, rdim, eb);
    else
        snprintf(desc, dn, "rotary cos/sin table: %.0f positions (%s%s) x rotary_dim %.0f x %g B", global, type,
                 factor > 1 && strcmp(type, "default") ? " x factor" : "", rdim, eb);
    cJSON_Delete(rs);
    return bytes;
}

/* vLLM's serve defaults differ on GPUs of 70 GiB and more, except the A100
 * (vllm/engine/arg_utils.py, _set_default_args / get_batch_defaults:
 * "device_memory >= 70 * GiB_bytes and 'a100' not in device_name"; PR #17885). */
static bool vllm_big_gpu(const iw_est_opts *in)
{
    if (!known(in->vram_bytes) || (double)in->vram_bytes < 70 * GiB)
        return false;
    if (in->gpu_name) {
        char n[64];
        size_t j = 0;
        for (const char *p = in->gpu_name; *p && j + 1 < sizeof n; p++)
            n[j++] = (char)tolower((unsigned char)*p);
        n[j] = 0;
        if (strstr(n, "a100"))
            return false;
    }
    return true;
}

static bool name_has(const char *name, const char *const *keys)
{
    char n[64];
    size_t j = 0;
    if (!name)
        return false;
    for (const char *p = name; *p && j + 1 < sizeof n; p++)
        if (*p != '-' && *p != '_' && *p != ' ')
            n[j++] = (char)tolower((unsigned char)*p);
    n[j] = 0;
    for (size_t i = 0; keys[i]; i++)
        if (strstr(n, keys[i]))
            return true;
    return false;
}

/* MXFP4 MoE backends pad each rank's expert matrices
 * (vllm/model_executor/layers/quantization/mxfp4.py, Mxfp4MoEMethod.create_weights):
 * Marlin: intermediate to 128, hidden to 256 ("n % 256 == 0 and k % 128 == 0");
 * FlashInfer TRT-LLM (SM100): both to 256; CUTLASS: both to 128; otherwise
 * (Triton on Hopper): intermediate to 64.  The backend follows the GPU
 * (get_mxfp4_backend): SM90 Triton, SM100 FlashInfer, others Marlin. */
static void mxfp4_padding(const iw_est_opts *in, wload *wl)
{
    static const char *const sm90[] = {"h100", "h200", "h800", "h20", "gh200", NULL};
    static const char *const sm100[] = {"b200", "b100", "gb200", "b300", "rtx50", "rtxpro6000", NULL};
    const char *b = in->mxfp4_backend;
    if (!b)
        b = name_has(in->gpu_name, sm90) ? "triton" : name_has(in->gpu_name, sm100) ? "flashinfer" : "marlin";
    wl->mxfp4_backend = b;
    if (!strcasecmp(b, "marlin")) {
        wl->mxfp4_pad_i = 128;
        wl->mxfp4_pad_h = 256;
    } else if (!strcasecmp(b, "flashinfer")) {
        wl->mxfp4_pad_i = 256;
        wl->mxfp4_pad_h = 256;
    } else if (!strcasecmp(b, "cutlass")) {
        wl->mxfp4_pad_i = 128;
        wl->mxfp4_pad_h = 128;
    } else {
        wl->mxfp4_pad_i = 64;
        wl->mxfp4_pad_h = 0;
    }
}

/* vLLM's KV-cache groups (vllm/v1/core/kv_cache_utils.py,
 * _get_kv_cache_groups_uniform_page_size): the layers of each attention type
 * form a bucket; the group size is the smallest bucket (the largest when it is
 * under 1.5 x the smallest); every bucket is cut into cdiv(n, size) groups of
 * that size, padded with empty layer slots ("Add N padding layers").  One
 * block of the pool holds block_size tokens of one group's layers; each group
 * takes whole blocks. */
typedef struct kvgroups {
    int64_t size, groups, padding;
    int64_t g_full, g_swa, g_chunk;     /* groups per bucket */
    double  page_tok;                    /* bytes per token of one layer */
    bool    ok;                          /* equal page sizes: grouped */
} kvgroups;

static void kv_grouping(const kvsum *s, kvgroups *g)
{
    memset(g, 0, sizeof *g);
    int64_t n[3] = {s->n_full, s->n_swa, s->n_chunk};
    double b[3] = {s->full, s->swa, s->chunk};
    int64_t mn = 0, mx = 0;
    double page = 0;
    int buckets = 0;
    for (int i = 0; i < 3; i++) {
        if (n[i] <= 0)
            continue;
        double p = b[i] / (double)n[i];
        if (buckets && fabs(p - page) > 0.5)
            return;     /* different page sizes: vLLM does not group these the same way */
        page = p;
        mn = buckets ? (n[i] < mn ? n[i] : mn) : n[i];
        mx = buckets ? (n[i] > mx ? n[i] : mx) : n[i];
        buckets++;
    }
    if (buckets == 0)
        return;
    int64_t size = mn;
    if ((double)mx < (double)mn * 1.5)
        size = mx;
    int64_t *gb[3] = {&g->g_full, &g->g_swa, &g->g_chunk};
    for (int i = 0; i < 3; i++) {
        if (n[i] <= 0)
            continue;
        *gb[i] = (n[i] + size - 1) / size;
        g->groups += *gb[i];
        g->padding += *gb[i] * size - n[i];
    }
    g->size = size;
    g->page_tok = page;
    g->ok = true;
}

/* A measured start's corrections (opts.calibration, derived by
 * calibrate.c; docs/estimate.md "Calibration"): the heuristic terms scaled
 * or shifted, and the non-KV memory the engine measured beyond the terms as
 * its own term.  Exact terms are left alone. */
static void apply_calibration(iw_estimate *e, const iw_est_calibration *c)
{
    const iw_est_opts *in = &e->in;
    bool vllm = in->engine == IW_ENGINE_VLLM;
    if ((c->engine == IW_ENGINE_VLLM) != vllm)
        return;
    bool weights_heuristic = false;   /* llama.cpp's layer split under partial offload */
    for (size_t i = 0; i < e->n_terms; i++) {
        iw_est_term *t = &e->terms[i];
        if (!strcmp(t->name, "weights") && !strncmp(t->source, "heuristic", 9))
            weights_heuristic = true;
        if (strncmp(t->source, "heuristic", 9) != 0)
            continue;       /* exact terms (tensor bytes, llama.cpp's cache and graph) are never corrected */
        double f = NAN, d = 0;
        if (vllm && !strcmp(t->name, "activations"))
            f = c->activations_ratio;
        else if (vllm && !strcmp(t->name, "cuda_graphs") && !in->enforce_eager)
            f = c->cuda_graphs_ratio;
        else if (!vllm && !strcmp(t->name, "compute"))
            f = c->compute_ratio;
        else if (vllm && !strcmp(t->name, "non_torch") && c->has_non_torch)
            d = (double)c->non_torch_delta;
        if (!(isfinite(f) && f >= 0) && d == 0)
            continue;
        double was = (double)t->bytes;
        double now = isfinite(f) && f >= 0 ? was * f : fmax(0, was + d);
        size_t fl = strlen(t->formula);
        if (isfinite(f) && f >= 0)
            fmt_app(t->formula, sizeof t->formula, fl, "; calibrated: x %.4f = %.0f (%s)", f, now, c->source);
        else
            fmt_app(t->formula, sizeof t->formula, fl, "; calibrated: %+.0f B = %.0f (%s)", d, now, c->source);
        snprintf(t->source, sizeof t->source, "calibrated");
        t->bytes = to_i64(now);
    }
    if (c->has_residual && (vllm || weights_heuristic)) {
        double tp_from = c->tp > 0 ? c->tp : 1, tp_to = vllm ? in->tp : 1;
        double r = (double)c->residual_bytes * tp_from / tp_to;
        add_term(e, "load_residual", 0, "calibrated",
                 "measured non-KV memory beyond the terms: %+.0f B at tp %g%s (%s)", (double)c->residual_bytes,
                 tp_from, tp_from != tp_to ? " x start tp / tp" : "", c->source);
        if (c->warning[0])
            iw_strlist_push_unique(&e->warnings, c->warning);
        /* the one term that may be negative: the engine loaded less than modelled */
        if (e->n_terms && !strcmp(e->terms[e->n_terms - 1].name, "load_residual"))
            e->terms[e->n_terms - 1].bytes = (int64_t)fmax(-(double)CAP_BYTES, fmin((double)CAP_BYTES, round(r)));
    }
}

/* The request completed and checked: the profile's defaults, the model's
 * context (Ollama: its default num_ctx), one sequence; e->in holds it. */
static int resolve_request(const iw_arch *a, const iw_est_opts *o, iw_estimate *e)
{
    int rc;
    e->in = *o;
    iw_est_opts *in = &e->in;
    if ((rc = validate_arch(a)))
        return rc;
    if (in->tp < 1 || in->tp > CAP_TP)
        return iw_error_set(IW_EINVAL, "estimate: tensor-parallel size %d out of range 1..%d", in->tp, CAP_TP);
    if (in->engine != IW_ENGINE_VLLM && in->tp != 1)
        return iw_error_set(IW_EINVAL, "estimate: --tp applies to vLLM only (llama.cpp splits layers, not heads)");
    if (in->engine == IW_ENGINE_VLLM && (in->kv_dtype == IW_KV_Q8_0 || in->kv_dtype == IW_KV_Q4_0))
        return iw_error_set(IW_EINVAL, "estimate: KV dtype %s is llama.cpp only; vLLM accepts auto, fp16, bf16, fp8",
                            iw_kv_dtype_name(in->kv_dtype));
    if (in->engine != IW_ENGINE_VLLM && in->kv_dtype == IW_KV_FP8)
        return iw_error_set(IW_EINVAL, "estimate: llama.cpp has no fp8 KV cache; use q8_0 (or f16, bf16, f32, q4_0)");
    const iw_est_profile *prof = in->profile ? in->profile : iw_est_profile_default();
    in->profile = prof;
    if (isnan(in->gpu_util))
        in->gpu_util = prof->gpu_util;
    if (!(in->gpu_util > 0 && in->gpu_util <= 1))
        return iw_error_set(IW_EINVAL, "estimate: gpu memory utilization %g outside (0, 1]", in->gpu_util);
    e->max_context = model_max_ctx(a);
    if (in->context == IW_UNKNOWN) {
        if (in->engine == IW_ENGINE_OLLAMA) {
            /* Ollama's default num_ctx by VRAM tier (server/routes.go): 262144
             * from 47 GiB, 32768 from 23 GiB, else 4096; capped at the
             * model's trained context (server/sched.go effectiveModelContext) */
            double v = known(in->vram_bytes) ? (double)in->vram_bytes : 0;
            in->context = v >= 47 * GiB ? 262144 : v >= 23 * GiB ? 32768 : IW_EST_OLLAMA_CTX_DEFAULT;
            if (known(e->max_context) && in->context > e->max_context)
                in->context = e->max_context;
        }
        else if (known(e->max_context))
            in->context = e->max_context;
        else
            return iw_error_set(IW_EINVAL, "estimate: the model's maximum context is unknown; give --context N");
    }
    if (in->context < 1 || in->context > CAP_CTX)
        return iw_error_set(IW_EINVAL, "estimate: context %lld outside 1..%lld", (long long)in->context, (long long)CAP_CTX);
    if (in->batch == IW_UNKNOWN)
        in->batch = 1;
    if (in->batch < 1 || in->batch > CAP_BATCH)
        return iw_error_set(IW_EINVAL, "estimate: batch %lld outside 1..%lld", (long long)in->batch, (long long)CAP_BATCH);
    if (known(e->max_context) && in->context > e->max_context)
        iw_strlist_pushf(&e->warnings, "context %lld exceeds the model's maximum %lld",
                         (long long)in->context, (long long)e->max_context);

    return 0;
}

/* vLLM's terms: the scheduler's limits (max_num_batched_tokens,
 * max_num_seqs), weights / tp, the KV cache in 16-token blocks of each
 * layer kind (s is adjusted to the version's allocator), recurrent state,
 * the profiling run's activation peak, non-torch memory, CUDA graphs,
 * vision tower, rope cache, the budget and the pool's block layout. */
static void vllm_terms(const iw_arch *a, iw_estimate *e, kvsum *ps, int64_t wb, const char *wf, const char *wsrc,
                       double vis, bool vis_incl, const char *vf)
{
    iw_est_opts *in = &e->in;
    const iw_est_profile *R = in->vllm_rules ? in->vllm_rules : in->profile;
    bool big_gpu = vllm_big_gpu(in);
    kvsum s = *ps;
    double ctx = (double)in->context, B = (double)in->batch;
    double h = known(a->hidden_size) ? (double)a->hidden_size : 0;
    double V = known(a->vocab_size) ? (double)a->vocab_size : 0;
    double L = (double)a->num_layers;
    double dense_I, moe_I, n_exp;
    ffn_widths(a, &dense_I, &moe_I, &n_exp);
    double nh = known(a->num_attention_heads) ? (double)a->num_attention_heads : 0;
    double qdim = nh * head_k(a);
    double kvdim = (double)(a->num_kv_heads > 0 ? a->num_kv_heads : (int64_t)nh) * head_k(a);
    double tp = in->tp, blk = IW_EST_VLLM_BLOCK;
    /* max_num_batched_tokens and max_num_seqs: given, else the version's
     * serve default for this GPU (0 = V0 without chunked prefill:
     * max(max_model_len, 2048), vllm/config.py SchedulerConfig) */
    double mbt;
    if (known(in->max_num_batched_tokens))
        mbt = (double)in->max_num_batched_tokens;
    else if (in->no_chunked_prefill)
        mbt = fmax(ctx, 2048);
    else if (R->vllm_mbt[big_gpu] == 0) {
        /* V0 (vllm/engine/arg_utils.py create_engine_config): chunked
         * prefill is on by default only beyond 32K tokens, and not for
         * MLA, multimodal or sliding-window models; with it the
         * scheduler takes 2048 tokens, without it max(max_model_len, 2048) */
        bool chunked = ctx > 32768 && !iw_arch_is_mla(a) && !a->has_vision && !known(a->attention.sliding_window);
        mbt = chunked ? 2048 : fmax(ctx, 2048);
    } else
        mbt = (double)R->vllm_mbt[big_gpu];
    in->max_num_batched_tokens = (int64_t)mbt;
    double seqs = known(in->max_num_seqs) ? (double)in->max_num_seqs : (double)R->vllm_max_num_seqs[big_gpu];
    if (!(seqs > 0))
        seqs = IW_EST_VLLM_MAX_SEQS_DEFAULT;
    seqs = fmin(seqs, mbt);     /* max_num_seqs = min(default, max_num_batched_tokens) */
    in->max_num_seqs = (int64_t)seqs;
    double weights = ceil((double)wb / tp);
    add_term(e, "weights", weights, wsrc, "%s%s", wf, in->tp > 1 ? " / tp" : "");

    /* V0's CacheEngine pads every MLA entry to 256 bytes (align_to_256bytes,
     * vllm/worker/cache_engine.py): 576 x 2 B = 1152 -> 1280 B */
    if (iw_arch_is_mla(a) && R->vllm_mla_align_bytes > 0) {
        double per = s.n_full ? s.full / (double)s.n_full : 0;
        double al = per > 0 ? ceil(per / (double)R->vllm_mla_align_bytes) * (double)R->vllm_mla_align_bytes : 0;
        if (per > 0 && al > per) {
            double f = al / per;
            s.full *= f; s.swa *= f; s.chunk *= f; s.cross *= f;
            e->kv_bytes_per_token = to_i64(s.full + s.swa + s.chunk + s.cross);
            iw_strlist_pushf(&e->warnings, "vLLM %s aligns MLA cache entries to %lld bytes: %.0f B per layer "
                             "and token instead of %.0f", R->name, (long long)R->vllm_mla_align_bytes, al, per);
        }
    }
    /* Before the hybrid allocator every attention layer holds the whole
     * context: sliding and chunked layers are allocated as full ones */
    bool hybrid = R->vllm_hybrid_kv_groups;
    if (!hybrid && (s.n_swa || s.n_chunk)) {
        s.full += s.swa + s.chunk;
        s.n_full += s.n_swa + s.n_chunk;
        s.swa = s.chunk = 0;
        s.n_swa = s.n_chunk = 0;
    }
    kvgroups g;
    kv_grouping(&s, &g);
    if (!g.ok && (s.n_full + s.n_swa + s.n_chunk) > 0)
        iw_strlist_push_unique(&e->warnings, "attention types with different per-layer KV sizes: the KV pool is "
                               "counted layer by layer (vLLM pads their pages to one size)");

    /* KV per sequence, in 16-token blocks */
    double full_tok = pad_up(ctx, blk);
    double w = known(a->attention.sliding_window) ? (double)a->attention.sliding_window : 0;
    double swa_tok = pad_up(fmin(w - 1 + mbt, ctx), blk) + blk;
    double ch = known(a->attention.chunk_size) ? (double)a->attention.chunk_size : 0;
    double chunk_tok = pad_up(fmin(ch + mbt, ctx), blk);
    double enc = cross_encoder_len(a, &s, &e->warnings);
    double cross_tok = enc > 0 ? pad_up(enc, blk) : 0;
    double kv_seq;
    if (g.ok && g.padding > 0)   /* padded groups: every group is group-size layers wide */
        kv_seq = g.page_tok * (double)g.size *
                 ((double)g.g_full * full_tok + (double)g.g_swa * swa_tok + (double)g.g_chunk * chunk_tok) +
                 s.cross * cross_tok;
    else
        kv_seq = s.full * full_tok + s.swa * swa_tok + s.chunk * chunk_tok + s.cross * cross_tok;
    {
        char f[IW_EST_FORMULA_MAX];
        size_t fo = 0;
        fo = fmt_app(f, sizeof f, fo, "batch %g x [", B);
        if (s.n_full)
            fo = fmt_app(f, sizeof f, fo, "full %lld L x %.0f B x %.0f tok", (long long)s.n_full, s.full / s.n_full, full_tok);
        if (s.n_swa)
            fo = fmt_app(f, sizeof f, fo, "%ssliding %lld L x %.0f B x (cdiv(min(window %g - 1 + mbt %g, ctx), 16) + 1) x 16 = %.0f tok",
                        s.n_full ? " + " : "", (long long)s.n_swa, s.swa / s.n_swa, w, mbt, swa_tok);
        if (s.n_chunk)
            fo = fmt_app(f, sizeof f, fo, " + chunked %lld L x %.0f B x cdiv(min(chunk %g + mbt, ctx), 16) x 16 = %.0f tok",
                        (long long)s.n_chunk, s.chunk / s.n_chunk, ch, chunk_tok);
        if (s.n_cross)
            fo = fmt_app(f, sizeof f, fo, " + cross %lld L x %.0f B x encoder %.0f tok", (long long)s.n_cross,
                        s.cross / s.n_cross, cross_tok);
        fo = fmt_app(f, sizeof f, fo, "]; per layer %s (%s)", s.desc, s.kv_how);
        if (g.ok && g.padding > 0)
            fo = fmt_app(f, sizeof f, fo, "; %lld KV-cache groups of %lld layers (%lld padding layers)",
                         (long long)g.groups, (long long)g.size, (long long)g.padding);
        if (s.n_shared)
            fmt_app(f, sizeof f, fo, "; %lld layers reuse earlier KV (num_kv_shared_layers)", (long long)s.n_shared);
        add_term(e, "kv_cache", B * kv_seq, "formula", "%s", f);
    }
    if (s.n_rec > 0)
        add_term(e, "state", B * s.state, "formula",
                 "batch %g x %lld recurrent layers x [(d_conv-1)(d_inner + 2 n_groups d_state) + n_heads head_dim d_state] / tp x dtype = %.0f B/seq",
                 B, (long long)s.n_rec, s.state);
    /* activation peak of the profiling run (gpu_model_runner.py
     * profile_run): a forward pass over max_num_batched_tokens, then the
     * sampler over max_num_seqs rows of logits while the hidden states of
     * the pass are kept; the peak is the larger of the two phases.  The
     * sampler holds f32 logits, their sorted copy and its int64 indices
     * (top-k/top-p, vllm/v1/sample/ops/topk_topp_sampler.py): 4 x rows x
     * vocab x 4 B. */
    double T = mbt;
    double layer = h * 2 + (dense_I * 3 + (qdim + 2 * kvdim)) / tp;
    if (moe_I > 0) {
        double k = known(a->moe.experts_per_token) ? (double)a->moe.experts_per_token : 1;
        double fmoe = h * 2 + k * h + moe_I * 3 / tp + n_exp * 2;
        if (fmoe > layer)
            layer = fmoe;
    }
    double fwd = T * layer * 2;
    double smp = R->vllm_sampler_copies * seqs * V * 4 + T * h * 2;
    double act = fmax(fwd, smp);
    add_term(e, "activations", act, "heuristic",
             "max(forward: max_num_batched_tokens %g x (2h + (3 I_ffn + q + 2kv)/tp | MoE 2h + k h + 3 k I_e/tp) x 2 B = %.0f, "
             "sampler: %g x max_num_seqs %g x vocab %g x 4 B + hidden %g x h x 2 B = %.0f)",
             T, fwd, R->vllm_sampler_copies, seqs, V, T, smp);
    double nt = (double)R->vllm_non_torch + (in->tp > 1 ? (double)R->vllm_nccl : 0);
    if (in->tp > 1)
        add_term(e, "non_torch", nt, "heuristic", "%g MiB (cuBLAS workspace, allocator) + %g MiB NCCL buffers (tp > 1)",
                 (double)R->vllm_non_torch / MiB, (double)R->vllm_nccl / MiB);
    else
        add_term(e, "non_torch", nt, "heuristic", "%g MiB (cuBLAS workspace, allocator)",
                 (double)R->vllm_non_torch / MiB);
    double cg = in->enforce_eager ? 0 : (double)R->vllm_graphs_base + L * (double)R->vllm_graphs_per_layer / tp;
    if (in->enforce_eager)
        add_term(e, "cuda_graphs", cg, "heuristic", "0 (enforce_eager)");
    else
        add_term(e, "cuda_graphs", cg, "heuristic", "%g MiB + num_layers %g x %g MiB / tp%s",
                 (double)R->vllm_graphs_base / MiB, L, (double)R->vllm_graphs_per_layer / MiB,
                 R->vllm_cuda_graphs_in_budget ? " (estimated before the KV cache is sized: inside the budget)"
                 : " (captured after the KV cache is sized: above gpu_memory_utilization)");
    if (vis > 0)
        add_term(e, "vision", ceil(vis / tp), "formula", "%s%s", vf, in->tp > 1 ? " / tp" : "");
    else if (vis_incl)
        add_term(e, "vision", 0, "formula", "%s", vf);
    char rf[200];
    double rope = rope_cache_bytes(a, weight_bytes_per_param(a), rf, sizeof rf);
    if (rope > 0)   /* a buffer of the model: inside vLLM's "Model loading took", on every rank */
        add_term(e, "rope_cache", rope, "formula", "%s", rf);
    if (known(in->vram_bytes))
        e->budget = (int64_t)floor((double)in->vram_bytes * in->gpu_util);
    /* the pool's block layout */
    if (g.ok) {
        e->kv_groups = g.groups;
        e->kv_group_layers = g.size;
        e->kv_padding_layers = g.padding;
        e->kv_block_tokens = IW_EST_VLLM_BLOCK;
        e->kv_block_bytes = to_i64(g.page_tok * (double)g.size * IW_EST_VLLM_BLOCK);
    }
    *ps = s;
}

/* The profile's margins (all 0 in the shipped "default"): base overhead,
 * communication buffers, fragmentation; *f the fragmentation factor and
 * the sums of the terms the KV pool is solved from. */
static void profile_margins(iw_estimate *e, double *pf, double *pall, double *pkv, double *pstate)
{
    const iw_est_opts *in = &e->in;
    const iw_est_profile *prof = in->profile;
    double base_oh = (double)prof->base_overhead;
    if (prof->base_overhead_vram_frac > 0 && known(in->vram_bytes) &&
        prof->base_overhead_vram_frac * (double)in->vram_bytes > base_oh)
        base_oh = prof->base_overhead_vram_frac * (double)in->vram_bytes;
    if (base_oh > 0)
        add_term(e, "base_overhead", base_oh, "profile",
                 "profile '%s': max(%g GiB, %g x VRAM%s) outside the engine's accounting", prof->name,
                 (double)prof->base_overhead / GiB, prof->base_overhead_vram_frac,
                 known(in->vram_bytes) ? "" : " (VRAM not given)");
    if (in->engine == IW_ENGINE_VLLM && in->tp > 1 && prof->comm_per_extra_gpu > 0)
        add_term(e, "comm_buffers", (double)prof->comm_per_extra_gpu * (in->tp - 1), "profile",
                 "profile '%s': %g GiB x (tp %d - 1) communication buffers", prof->name,
                 (double)prof->comm_per_extra_gpu / GiB, in->tp);
    double kv_part = 0, all_part = 0, state_part = 0;
    for (size_t i = 0; i < e->n_terms; i++) {
        all_part += (double)e->terms[i].bytes;
        if (!strcmp(e->terms[i].name, "kv_cache") || !strcmp(e->terms[i].name, "state"))
            kv_part += (double)e->terms[i].bytes;
        if (!strcmp(e->terms[i].name, "state"))
            state_part += (double)e->terms[i].bytes;
    }
    double f = prof->fragmentation > 1 ? prof->fragmentation : 1;
    if (f > 1)
        add_term(e, "fragmentation", (f - 1) * (prof->frag_scope == IW_FRAG_TOTAL ? all_part : kv_part), "profile",
                 "profile '%s': (%g - 1) x %s", prof->name, f,
                 prof->frag_scope == IW_FRAG_TOTAL ? "every other term" : "(kv_cache + state)");
    *pf = f;
    *pall = all_part;
    *pkv = kv_part;
    *pstate = state_part;
}

/* vLLM's KV pool: what the budget leaves, its capacity in tokens; the
 * CUDA graphs held above the budget (0 when inside it) returned. */
static double vllm_kv_pool(iw_estimate *e, const kvsum *ps, double f, double all_part, double kv_part,
                           double state_part)
{
    const iw_est_opts *in = &e->in;
    const iw_est_profile *prof = in->profile;
    const kvsum s = *ps;
    /* vLLM's KV pool: what the budget leaves after everything that does not
     * grow with tokens (the recurrent state of `batch` sequences included),
     * in whole blocks.  With fragmentation f on the KV and state (f_rest = 1)
     * or on the total (f_rest = f): f_rest x non_kv + f x (state + kv) <= budget. */
    /* CUDA graphs captured after the KV cache is sized use memory above the
     * budget (vLLM before 0.21: gpu_worker.py determine_available_memory
     * subtracts weights, activation peak and non-torch memory only) */
    const iw_est_profile *VR = in->vllm_rules ? in->vllm_rules : prof;
    double graphs_out = 0;
    if (in->engine == IW_ENGINE_VLLM && !VR->vllm_cuda_graphs_in_budget)
        for (size_t i = 0; i < e->n_terms; i++)
            if (!strcmp(e->terms[i].name, "cuda_graphs"))
                graphs_out = (double)e->terms[i].bytes;
    if (in->engine == IW_ENGINE_VLLM && e->budget != IW_UNKNOWN) {
        double f_rest = prof->frag_scope == IW_FRAG_TOTAL ? f : 1;
        double per_tok = s.full + s.swa + s.chunk + (VR->vllm_hybrid_kv_groups ? 0 : s.cross);
        double avail = (double)e->budget - f_rest * (all_part - kv_part - graphs_out) - f * state_part;
        e->kv_available_bytes = avail >= CAP_BYTES ? (int64_t)CAP_BYTES : avail <= -CAP_BYTES ? -(int64_t)CAP_BYTES
                              : (int64_t)floor(avail);
        if (e->kv_groups > 1 && e->kv_block_bytes > 0) {
            /* num_blocks = available // block bytes; tokens = blocks // groups x block_size */
            double blocks = avail > 0 ? floor(avail / f / (double)e->kv_block_bytes) : 0;
            e->kv_capacity_tokens = (int64_t)(floor(blocks / (double)e->kv_groups) * (double)e->kv_block_tokens);
        } else if (per_tok > 0) {
            e->kv_capacity_tokens = avail > 0 ? (int64_t)(floor(avail / f / per_tok / IW_EST_VLLM_BLOCK) * IW_EST_VLLM_BLOCK) : 0;
            e->kv_groups = 1;
            e->kv_group_layers = s.n_full + s.n_swa + s.n_chunk + (VR->vllm_hybrid_kv_groups ? 0 : s.n_cross);
            e->kv_padding_layers = 0;
            e->kv_block_tokens = IW_EST_VLLM_BLOCK;
            e->kv_block_bytes = to_i64(per_tok * IW_EST_VLLM_BLOCK);
        }
    }
    return graphs_out;
}

/* The total and the verdict against the budget. */
static void total_and_fit(iw_estimate *e, double graphs_out)
{
    const iw_est_opts *in = &e->in;
    double total = 0;
    for (size_t i = 0; i < e->n_terms; i++)
        total += (double)e->terms[i].bytes;
    e->total = to_i64(total);
    e->fits = e->budget != IW_UNKNOWN && (double)e->total - graphs_out <= (double)e->budget;
    if (e->fits && graphs_out > 0 && known(in->vram_bytes) && graphs_out > (double)(in->vram_bytes - e->budget)) {
        e->fits = false;
        iw_strlist_pushf(&e->warnings, "CUDA graphs (%.2f GiB) are captured after the KV cache and need memory above "
                         "gpu_memory_utilization, but only %.2f GiB are left: lower --gpu-util or use --enforce-eager",
                         graphs_out / GiB, (double)(in->vram_bytes - e->budget) / GiB);
    }
}

int iw_estimate_compute(const iw_arch *a, const iw_est_opts *o, iw_estimate *e)
{
    int rc;
    iw_estimate_free(e);
    if ((rc = iw_opts_version_check(o->version, IW_EST_OPTS_VERSION, "iw_estimate_compute")) < 0)
        return rc;
    if ((rc = resolve_request(a, o, e)))
        return rc;
    iw_est_opts *in = &e->in;

    /* weights (vLLM: the version's rules decide bitsandbytes and MXFP4 layout) */
    const iw_est_profile *R = in->vllm_rules ? in->vllm_rules : in->profile;
    int64_t wb = 0;
    char wf[320];
    const char *wsrc = NULL;
    wload wl = {0};
    wl.tp = in->tp;
    if (in->engine == IW_ENGINE_VLLM) {
        wl.bnb_dq_f32 = R->vllm_bnb_dq_dequantized;
        mxfp4_padding(in, &wl);
    }
    if ((rc = weights_impl(a, &wl, &wb, wf, sizeof(wf), &wsrc)))
        return rc;
    e->weights_bytes = wb;

    /* the KV cache per token by layer kind, the recurrent state */
    kvsum s;
    if ((rc = kv_classes(a, in->engine, in->kv_dtype, in->tp, &s, &e->warnings)))
        return rc;
    e->kv_bytes_per_token = to_i64(s.full + s.swa + s.chunk + s.cross);
    e->state_bytes_per_seq = to_i64(s.state);
    if (!known(a->hidden_size) || !known(a->vocab_size))
        iw_strlist_push_unique(&e->warnings, "hidden_size or vocab_size unknown: activation/compute terms undercounted");
    char vf[256] = "";
    bool vis_incl = false;
    double vis = vision_bytes(a, vf, sizeof(vf), &vis_incl);
    if (!(vis > 0) && !vis_incl && vf[0])
        iw_strlist_push_unique(&e->warnings, vf);     /* a tower of unknown size is not counted: say so */

    /* the engine's terms */
    if (in->engine == IW_ENGINE_VLLM)
        vllm_terms(a, e, &s, wb, wf, wsrc, vis, vis_incl, vf);
    else if ((rc = llamacpp_terms(a, e, &s, wb, wf, wsrc, vis, vis_incl, vf)))
        return rc;
    if (in->calibration)
        apply_calibration(e, in->calibration);
    double f, all_part, kv_part, state_part;
    profile_margins(e, &f, &all_part, &kv_part, &state_part);
    double graphs_out = vllm_kv_pool(e, &s, f, all_part, kv_part, state_part);
    total_and_fit(e, graphs_out);
    return 0;
}

/* -------------------------------------------------------------- inverse */

static int64_t engine_step(iw_engine e) { return e == IW_ENGINE_VLLM ? IW_EST_VLLM_BLOCK : IW_EST_LLAMA_PAD; }

static int fits_at(const iw_arch *a, const iw_est_opts *o, int64_t ctx, int64_t batch, bool *fits)
{
    iw_est_opts t = *o;
    iw_estimate e;
    iw_estimate_init(&e);
    t.context = ctx;
    t.batch = batch;
    int rc = iw_estimate_compute(a, &t, &e);
    *fits = rc == 0 && e.fits;
    iw_estimate_free(&e);
    return rc;
}

int iw_estimate_max_context(const iw_arch *a, const iw_est_opts *o, int64_t batch, int64_t *out)
{
    int rc;
    bool f;
    *out = 0;
    if (!known(o->vram_bytes))
        return iw_error_set(IW_EINVAL, "estimate: the inverse needs a memory budget (--vram or --gpu)");
    if (batch < 1 || batch > CAP_BATCH)
        return iw_error_set(IW_EINVAL, "estimate: batch %lld outside 1..%lld", (long long)batch, (long long)CAP_BATCH);
    int64_t step = engine_step(o->engine);
    int64_t mx = model_max_ctx(a);
    if (!known(mx))
        mx = CAP_CTX;
    if (mx > CAP_CTX)
        mx = CAP_CTX;
    if ((rc = fits_at(a, o, mx, batch, &f)))
        return rc;
    if (f) {
        *out = mx;
        return 0;
    }
    /* total(ctx) is non-decreasing in ctx (every term is; sliding terms stop
     * growing past the window), so bisect over multiples of the block. */
    int64_t lo = 0, hi = mx / step;     /* fits(lo*step) (0 = nothing), !fits(hi*step) or hi*step>=mx */
    if (hi * step >= mx)
        hi = (mx - 1) / step + 1;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((rc = fits_at(a, o, mid * step, batch, &f)))
            return rc;
        if (f)
            lo = mid;
        else
            hi = mid;
    }
    *out = lo * step;
    return 0;
}

int iw_estimate_max_batch(const iw_arch *a, const iw_est_opts *o, int64_t context, int64_t *out)
{
    int rc;
    bool f;
    *out = 0;
    if (!known(o->vram_bytes))
        return iw_error_set(IW_EINVAL, "estimate: the inverse needs a memory budget (--vram or --gpu)");
    if ((rc = fits_at(a, o, context, 1, &f)))
        return rc;
    if (!f)
        return 0;
    int64_t lo = 1, hi = 2;
    while (hi <= CAP_BATCH) {
        if ((rc = fits_at(a, o, context, hi, &f)))
            return rc;
        if (!f)
            break;
        lo = hi;
        hi *= 2;
    }
    if (hi > CAP_BATCH) {
        *out = lo;
        return 0;
    }
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((rc = fits_at(a, o, context, mid, &f)))
            return rc;
        if (f)
            lo = mid;
        else
            hi = mid;
    }
    *out = lo;
    return 0;
}

/* -------------------------------------------------------------- output */

int iw_estimate_recommend(const iw_estimate *e, int64_t context, int64_t batch, iw_strlist *args)
{
    int rc = 0;
    const iw_est_opts *in = &e->in;
    if (context < 1 || batch < 1)
        return iw_error_set(IW_EINVAL, "estimate: nothing to recommend (context %lld, batch %lld)",
                            (long long)context, (long long)batch);
    if (known(e->max_context) && context > e->max_context)
        context = e->max_context;
    if (in->engine == IW_ENGINE_VLLM) {
        if ((rc = iw_strlist_push(args, "--max-model-len")) || (rc = iw_strlist_pushf(args, "%lld", (long long)context)) ||
            (rc = iw_strlist_push(args, "--max-num-seqs")) || (rc = iw_strlist_pushf(args, "%lld", (long long)batch)) ||
            (rc = iw_strlist_push(args, "--gpu-memory-utilization")) || (rc = iw_strlist_pushf(args, "%.2f", in->gpu_util)))
            return rc;
        if (in->kv_dtype == IW_KV_FP8 &&
            ((rc = iw_strlist_push(args, "--kv-cache-dtype")) || (rc = iw_strlist_push(args, "fp8"))))
            return rc;
        if (in->tp > 1 && ((rc = iw_strlist_push(args, "--tensor-parallel-size")) ||
                           (rc = iw_strlist_pushf(args, "%d", in->tp))))
            return rc;
        if (in->enforce_eager && (rc = iw_strlist_push(args, "--enforce-eager")))
            return rc;
    } else if (in->engine == IW_ENGINE_LLAMACPP) {
        if ((rc = iw_strlist_push(args, "-c")) || (rc = iw_strlist_pushf(args, "%lld", (long long)(context * batch))) ||
            (rc = iw_strlist_push(args, "-ngl")) || (rc = iw_strlist_pushf(args, "%lld", (long long)in->n_gpu_layers)))
            return rc;
        /* -np always: without it llama-server runs 4 slots sharing a unified cache */
        if ((rc = iw_strlist_push(args, "-np")) || (rc = iw_strlist_pushf(args, "%lld", (long long)batch)))
            return rc;
        if (in->kv_dtype != IW_KV_AUTO && in->kv_dtype != IW_KV_F16) {
            /* llama.cpp cache type names: f32, f16, bf16, q8_0, q4_0 */
            const char *t = in->kv_dtype == IW_KV_BF16 ? "bf16" : in->kv_dtype == IW_KV_F32 ? "f32"
                          : iw_kv_dtype_name(in->kv_dtype);
            if ((rc = iw_strlist_push(args, "-ctk")) || (rc = iw_strlist_push(args, t)) ||
                (rc = iw_strlist_push(args, "-ctv")) || (rc = iw_strlist_push(args, t)))
                return rc;
        }
        if (in->flash_attn == 1 && ((rc = iw_strlist_push(args, "-fa")) || (rc = iw_strlist_push(args, "on"))))
            return rc;
    } else {
        if ((rc = iw_strlist_push(args, "--num-ctx")) || (rc = iw_strlist_pushf(args, "%lld", (long long)context)))
            return rc;
    }
    return 0;
}

/* {name, bytes, formula, source} appended to arr; false when out of memory */
static bool term_json(cJSON *arr, const iw_est_term *term)
{
    cJSON *t = cJSON_CreateObject();
    if (!t)
        return false;
    cJSON_AddItemToArray(arr, t);
    cJSON_AddStringToObject(t, "name", term->name);
    cJSON_AddNumberToObject(t, "bytes", (double)term->bytes);
    cJSON_AddStringToObject(t, "formula", term->formula);
    cJSON_AddStringToObject(t, "source", term->source);
    return true;
}

cJSON *iw_estimate_to_json(const iw_estimate *e)
{
    const iw_est_opts *in = &e->in;
    cJSON *root = cJSON_CreateObject(), *inputs = NULL, *terms = NULL, *w = NULL;
    if (!root)
        goto oom;
    if (!(inputs = cJSON_AddObjectToObject(root, "inputs")))
        goto oom;
    cJSON_AddStringToObject(inputs, "engine", iw_engine_name(in->engine));
    cJSON_AddNumberToObject(inputs, "context", (double)in->context);
    cJSON_AddNumberToObject(inputs, "batch", (double)in->batch);
    cJSON_AddStringToObject(inputs, "kv_dtype", iw_kv_dtype_name(in->kv_dtype));
    cJSON_AddNumberToObject(inputs, "tp", in->tp);
    if (in->engine == IW_ENGINE_VLLM) {
        const iw_est_profile *vr = in->vllm_rules ? in->vllm_rules : in->profile;
        if (in->vllm_version) {
            char vb[32];
            iw_vllm_version_format(in->vllm_version, vb, sizeof vb);
            cJSON_AddStringToObject(inputs, "engine_version", vb);
        } else {
            cJSON_AddNullToObject(inputs, "engine_version");
        }
        if (vr)
            cJSON_AddStringToObject(inputs, "vllm_rules", vr->name);
        cJSON_AddNumberToObject(inputs, "gpu_util", in->gpu_util);
        cJSON_AddNumberToObject(inputs, "max_num_batched_tokens", (double)in->max_num_batched_tokens);
        cJSON_AddNumberToObject(inputs, "max_num_seqs", (double)in->max_num_seqs);
        cJSON_AddBoolToObject(inputs, "enforce_eager", in->enforce_eager);
        cJSON_AddNumberToObject(inputs, "block_size", IW_EST_VLLM_BLOCK);
    } else {
        cJSON_AddNumberToObject(inputs, "n_ubatch", (double)in->n_ubatch);
        cJSON_AddNumberToObject(inputs, "n_batch", (double)in->n_batch);
        cJSON_AddStringToObject(inputs, "llama_app", iw_llama_app_name(in->llama_app));
        cJSON_AddNumberToObject(inputs, "n_gpu_layers", (double)in->n_gpu_layers);
        cJSON_AddBoolToObject(inputs, "flash_attn", in->flash_attn == 1);
    }
    if (known(in->vram_bytes))
        cJSON_AddNumberToObject(inputs, "vram", (double)in->vram_bytes);
    else
        cJSON_AddNullToObject(inputs, "vram");
    if (known(e->max_context))
        cJSON_AddNumberToObject(inputs, "model_max_context", (double)e->max_context);
    if (!(terms = cJSON_AddArrayToObject(root, "terms")))
        goto oom;
    for (size_t i = 0; i < e->n_terms; i++)
        if (!term_json(terms, &e->terms[i]))
            goto oom;
    cJSON_AddNumberToObject(root, "total", (double)e->total);
    if (e->budget != IW_UNKNOWN)
        cJSON_AddNumberToObject(root, "budget", (double)e->budget);
    else
        cJSON_AddNullToObject(root, "budget");
    cJSON_AddBoolToObject(root, "fits", e->fits);
    cJSON_AddNumberToObject(root, "weights_bytes", (double)e->weights_bytes);
    cJSON_AddNumberToObject(root, "kv_bytes_per_token", (double)e->kv_bytes_per_token);
    if (e->state_bytes_per_seq > 0)
        cJSON_AddNumberToObject(root, "state_bytes_per_sequence", (double)e->state_bytes_per_seq);
    if (in->engine != IW_ENGINE_VLLM) {
        cJSON_AddNumberToObject(root, "host_bytes", (double)e->host_bytes);
        cJSON *ht = cJSON_AddArrayToObject(root, "host_terms");
        if (!ht)
            goto oom;
        for (size_t i = 0; i < e->n_host_terms; i++)
            if (!term_json(ht, &e->host_terms[i]))
                goto oom;
    }
    if (e->kv_capacity_tokens != IW_UNKNOWN)
        cJSON_AddNumberToObject(root, "kv_capacity_tokens", (double)e->kv_capacity_tokens);
    if (in->engine == IW_ENGINE_VLLM && e->kv_block_bytes > 0) {
        cJSON *kp = cJSON_AddObjectToObject(root, "kv_pool");
        if (!kp)
            goto oom;
        if (e->kv_available_bytes != IW_UNKNOWN)
            cJSON_AddNumberToObject(kp, "available_bytes", (double)e->kv_available_bytes);
        cJSON_AddNumberToObject(kp, "block_bytes", (double)e->kv_block_bytes);
        cJSON_AddNumberToObject(kp, "block_tokens", (double)e->kv_block_tokens);
        cJSON_AddNumberToObject(kp, "groups", (double)e->kv_groups);
        cJSON_AddNumberToObject(kp, "group_layers", (double)e->kv_group_layers);
        cJSON_AddNumberToObject(kp, "padding_layers", (double)e->kv_padding_layers);
    }
    if (!(w = cJSON_AddArrayToObject(root, "warnings")))
        goto oom;
    for (size_t i = 0; i < e->warnings.n; i++)
        cJSON_AddItemToArray(w, cJSON_CreateString(e->warnings.v[i]));
    return root;
oom:
    cJSON_Delete(root);
    iw_error_set(IW_ENOMEM, "estimate: out of memory building JSON");
    return NULL;
}

/* The GPU table and iw_gpu_lookup live in profile.c (they are data). */

int iw_parse_mem_size(const char *s, int64_t *out)
{
    if (!s || !*s)
        return iw_error_set(IW_EINVAL, "memory size: empty");
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || !isfinite(v))
        return iw_error_set(IW_EINVAL, "memory size '%s': expected a positive number with an optional unit (24GiB, 80G, 16000MiB)", s);
    double mul = 1;
    if (!*end || !strcasecmp(end, "b"))
        mul = 1;
    else if (!strcasecmp(end, "k") || !strcasecmp(end, "kib")) mul = 1024.0;
    else if (!strcasecmp(end, "m") || !strcasecmp(end, "mib")) mul = MiB;
    else if (!strcasecmp(end, "g") || !strcasecmp(end, "gib")) mul = GiB;
    else if (!strcasecmp(end, "t") || !strcasecmp(end, "tib")) mul = GiB * 1024;
    else if (!strcasecmp(end, "kb")) mul = 1e3;
    else if (!strcasecmp(end, "mb")) mul = 1e6;
    else if (!strcasecmp(end, "gb")) mul = 1e9;
    else if (!strcasecmp(end, "tb")) mul = 1e12;
    else
        return iw_error_set(IW_EINVAL, "memory size '%s': unknown unit '%s' (use B, MiB, GiB, TiB, MB, GB, TB)", s, end);
    double b = v * mul;
    if (b >= CAP_BYTES)
        return iw_error_set(IW_ELIMIT, "memory size '%s' is too large", s);
    if (b < 1)
        return iw_error_set(IW_EINVAL, "memory size '%s' is below one byte", s);
    *out = (int64_t)b;
    return 0;
}
