/* arch.h - iw_arch, the shared model record.
 *
 * Produced by src/extract (config.json, GGUF, safetensors, quant configs),
 * serialised by src/registry (metadata.architecture), consumed by
 * src/estimate.  It lives in common so registry and estimate depend on the
 * type only, never on the extractors.
 *
 * Unknown values: integers are IW_UNKNOWN (-1), doubles are NAN, strings
 * NULL, arrays NULL.  Nothing is guessed silently: a derived or guessed value
 * gets an entry in field_sources naming how, and a warning when it is a guess.
 * JSON key names (docs/registry.md) are given next to each field.
 */
#ifndef IWDL_ARCH_H
#define IWDL_ARCH_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define IW_UNKNOWN (-1)

typedef struct iw_strlist {
    char  **v;
    size_t  n;
    size_t  cap;
} iw_strlist;

int  iw_strlist_push(iw_strlist *l, const char *s);          /* copies s */
int  iw_strlist_pushf(iw_strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool iw_strlist_contains(const iw_strlist *l, const char *s);
int  iw_strlist_push_unique(iw_strlist *l, const char *s);
void iw_strlist_free(iw_strlist *l);

/* field -> source ("config.json", "config.json:text_config", "gguf",
 * "safetensors", "support_repo:<id>", "formula", "default:<why>", ...) */
typedef struct iw_field_source { char *field; char *source; } iw_field_source;

typedef enum iw_attn_type {
    IW_ATTN_UNKNOWN = 0, IW_ATTN_MHA, IW_ATTN_GQA, IW_ATTN_MQA, IW_ATTN_MLA
} iw_attn_type;

/* Per-layer kind, attention.layer_types[] in JSON. */
typedef enum iw_layer_kind {
    IW_LAYER_FULL = 0,      /* "full_attention" */
    IW_LAYER_SLIDING,       /* "sliding_attention" (window = attention.sliding_window) */
    IW_LAYER_CHUNKED,       /* "chunked_attention" (Llama 4 local chunks) */
    IW_LAYER_LINEAR,        /* "linear_attention" (gated delta net etc.: recurrent state, no KV) */
    IW_LAYER_MAMBA,         /* "mamba" (SSM: recurrent state, no KV) */
    IW_LAYER_CROSS,         /* "cross_attention" (KV sized by encoder length) */
    IW_LAYER_NONE           /* "no_op" / dense-only layer without attention */
} iw_layer_kind;

const char *iw_layer_kind_name(iw_layer_kind k);
int         iw_layer_kind_parse(const char *s, iw_layer_kind *out); /* accepts HF spellings */
const char *iw_attn_type_name(iw_attn_type t);
int         iw_attn_type_parse(const char *s, iw_attn_type *out);

typedef struct iw_attention {
    iw_attn_type type;
    int64_t sliding_window;          /* tokens; IW_UNKNOWN when none */
    int64_t sliding_window_pattern;  /* as in config/GGUF, informational */
    int64_t chunk_size;              /* chunked local attention (llama4 attention_chunk_size) */
    iw_layer_kind *layer_types;      /* n_layer_types entries, or NULL = all full */
    size_t  n_layer_types;
    int64_t *kv_heads_per_layer;     /* n_kv_heads_per_layer entries, or NULL */
    size_t  n_kv_heads_per_layer;
    int64_t key_length;              /* per-head K width when it differs from head_dim (GGUF key_length) */
    int64_t value_length;            /* per-head V width (MLA v_head_dim; GGUF value_length) */
    /* MLA */
    int64_t kv_lora_rank;
    int64_t q_lora_rank;
    int64_t qk_rope_head_dim;
    int64_t qk_nope_head_dim;
    /* encoder-decoder / cross attention */
    int64_t num_cross_layers;        /* decoder layers with cross-attention (mllama, t5 decoder) */
    int64_t encoder_length;          /* fixed encoder tokens per request when known (e.g. whisper 1500) */
    int64_t num_kv_shared_layers;    /* layers reusing earlier KV (gemma3n) */
    /* full-attention layers with their own shape (gemma-4 global_head_dim,
     * num_global_key_value_heads, attention_k_eq_v: no v_proj, V = K);
     * 0 / false = same as the other layers */
    int64_t global_head_dim;
    int64_t global_kv_heads;
    bool    global_k_eq_v;
} iw_attention;

typedef struct iw_moe {
    int64_t num_experts;
    int64_t experts_per_token;
    int64_t expert_intermediate_size;
    int64_t shared_experts;                   /* count of shared experts */
    int64_t shared_expert_intermediate_size;  /* total width of the shared expert(s) */
    int64_t num_dense_layers;                 /* leading dense layers (first_k_dense_replace) */
    int64_t moe_layer_freq;                   /* every Nth layer is MoE (1 = all) */
} iw_moe;

typedef struct iw_ssm {            /* recurrent layers of hybrid / SSM models */
    int64_t d_state, d_conv, d_inner, n_groups, n_heads, head_dim;
    int64_t num_recurrent_layers;
} iw_ssm;

typedef struct iw_vision {
    int64_t image_size, patch_size, hidden_size, num_layers, num_heads, intermediate_size;
    int64_t projection_dim;
    int64_t num_positions;         /* learned position-table size (gemma-4 position_embedding_size); 0 = not given */
    int64_t params;                /* vision tower (+projector) parameters when computable */
    char   *model_type;            /* vision_config.model_type / clip.projector_type */
} iw_vision;

typedef struct iw_quant {
    char   *method;           /* "gptq","awq","fp8","bitsandbytes","compressed-tensors","mxfp4","mlx","gguf",... ; NULL = none */
    double  bits;             /* nominal bits of the quantized weights */
    int64_t group_size;       /* -1 per-channel, IW_UNKNOWN unknown */
    double  effective_bits;   /* bits per quantized weight including scales/zeros */
    char   *format;           /* checkpoint_format / version / bnb quant type / compressed-tensors format */
    char   *label;            /* user-facing label: "Q4_K_M", "AWQ", "GPTQ-4bit-g128", "FP8", "MXFP4", "BF16" */
    char   *detail;           /* e.g. GGUF mix "Q4_K 71%, Q6_K 24%, F32 5%" */
    bool    desc_act, sym, zero_point, double_quant;
    iw_strlist modules_not_converted;
} iw_quant;

typedef struct iw_params {
    int64_t total, active, embedding;
    char   *source;           /* "safetensors" | "gguf" | "formula" | "table" */
    /* per component (from tensor-name analysis or the formula); IW_UNKNOWN when unknown */
    int64_t attention, mlp, experts, norms, lm_head, vision;
    /* multi-token-prediction layers the checkpoint stores beyond num_layers
     * (num_nextn_predict_layers): not in total (inference does not load
     * them), but in a checkpoint's tensor count; 0 = none or not known */
    int64_t mtp;
} iw_params;

typedef struct iw_arch {
    char   *model_type;               /* config model_type or GGUF general.architecture */
    char   *architecture;             /* config architectures[0] */
    int64_t num_layers;
    int64_t num_attention_heads;
    int64_t num_kv_heads;
    int64_t hidden_size;
    int64_t head_dim;
    int64_t intermediate_size;        /* dense FFN width (per-expert width is in moe) */
    int64_t vocab_size;
    int64_t max_position_embeddings;
    int64_t context_length;           /* usable context (max_position_embeddings, seq_length, GGUF context_length, or rope-scaled) */
    double  rope_theta;
    char   *rope_scaling_json;        /* rope_scaling / rope_parameters object as compact JSON text */
    char   *torch_dtype;              /* "bfloat16", "float16", "float32", ... */
    char   *kv_precision;             /* default KV dtype: "bf16","fp16","fp8",... */
    bool    tie_word_embeddings;
    bool    is_encoder_decoder;
    int64_t encoder_layers, decoder_layers;
    int64_t num_mtp_layers;           /* config num_nextn_predict_layers; 0 = none */
    char   *norm_type;                /* "rmsnorm" | "layernorm" */
    char   *mlp_type;                 /* "gated" | "plain" | "moe" */

    iw_attention attention;
    iw_moe       moe;
    iw_ssm       ssm;
    iw_vision    vision;
    bool         has_vision;
    iw_quant     quantization;
    iw_params    parameters;

    int64_t weights_bytes;            /* exact from tensor headers, else IW_UNKNOWN */
    int64_t kv_bytes_per_token;       /* all attention layers, full context, KV at kv_precision */
    int64_t kv_bytes_per_token_full;  /* full-attention layers only */
    int64_t kv_bytes_per_token_swa;   /* sliding/chunked layers only (capped at the window in use) */

    iw_field_source *field_sources;
    size_t  n_field_sources, cap_field_sources;
    char   *source;                   /* primary source: "config.json" | "gguf" | "safetensors" | "support_repo:<id>" | "ollama-store" */
    iw_strlist sources;               /* every file read: "config:/path/config.json", "gguf:/path/x.gguf" */
    iw_strlist warnings;
    char   *collected_at;             /* ISO-8601 UTC */
    char   *runtime_json;             /* metadata.architecture.runtime (reconcile) as JSON text, kept verbatim */
    /* Ollama models (src/extract/ollama*.c): num_ctx from the manifest's
     * params blob (or /api/show parameters), the context Ollama serves by
     * default; context_length stays the trained context from GGUF.
     * 0 = not set (iw_arch_init zeroes it; Ollama's num_ctx is always > 0).
     * JSON: ollama.num_ctx. */
    int64_t ollama_num_ctx;
    /* Every option of the params blob (or /api/show parameters) as one JSON
     * object text, kept verbatim (num_ctx, stop, temperature, ...); NULL
     * when none.  JSON: ollama.params. */
    char   *ollama_params_json;
} iw_arch;

void iw_arch_init(iw_arch *a);      /* everything unknown */
void iw_arch_free(iw_arch *a);      /* frees members; a is left initialised */
int  iw_arch_copy(iw_arch *dst, const iw_arch *src);

/* Record where a field came from (replaces an earlier source for that field). */
int  iw_arch_set_source(iw_arch *a, const char *field, const char *source);
const char *iw_arch_get_source(const iw_arch *a, const char *field);
int  iw_arch_warn(iw_arch *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int  iw_arch_set_str(char **slot, const char *value);   /* strdup helper (NULL clears) */
void iw_arch_stamp_now(iw_arch *a);                      /* collected_at = now (UTC) */

/* Number of layers whose kind is `k` (layer_types NULL => all FULL). */
int64_t iw_arch_count_layers(const iw_arch *a, iw_layer_kind k);
/* KV heads of layer il (per-layer array if present, else num_kv_heads, else heads). */
int64_t iw_arch_kv_heads_of_layer(const iw_arch *a, size_t il);
/* A GGUF record: its source is "gguf" or its quantization method is "gguf"
 * (the tensor types fix the storage and llama.cpp runs it). */
bool    iw_arch_is_gguf(const iw_arch *a);
/* The model's maximum context: context_length, else max_position_embeddings;
 * IW_UNKNOWN when neither is known (or a is NULL). */
int64_t iw_arch_context(const iw_arch *a);

/* ---- the KV-cache rule (src/common/kvlayer.c): one definition for
 * inspect's kv_bytes_per_token and for every engine of the estimator ---- */

/* What layer il stores per token.  kind is FULL, SLIDING, CHUNKED or CROSS
 * for a layer with its own KV cache, NONE otherwise (recurrent, no-op,
 * shared with an earlier layer, or 0 KV heads).  Elements per token:
 * n_kv_heads x (k_width + v_width); MLA: one latent of k_width
 * (kv_lora_rank + qk_rope_head_dim) and v_width 0. */
typedef struct iw_kv_layer {
    iw_layer_kind kind;
    int64_t n_kv_heads;
    int64_t k_width, v_width;       /* elements per head */
    bool    mla, shared, recurrent;
} iw_kv_layer;

/* Layers that can hold KV: decoder_layers of an encoder-decoder, else num_layers. */
int64_t iw_arch_kv_layer_count(const iw_arch *a);
/* 0, or a negative error when the layer's KV width cannot be known. */
int     iw_arch_kv_layer(const iw_arch *a, int64_t il, iw_kv_layer *out);
bool    iw_arch_is_mla(const iw_arch *a);
/* Bytes per element of a dtype name: bf16/fp16/f16 2, f32 4, fp8/int8 1,
 * q8_0 34/32, q4_0 18/32, q4_1 20/32, q5_0 22/32, q5_1 24/32; 0 unknown. */
double  iw_dtype_bytes(const char *name);

#endif
