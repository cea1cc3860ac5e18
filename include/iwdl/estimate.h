/* estimate.h - GPU memory estimator: pure functions over iw_arch.
 *
 * Every modelled quantity is a "term" that carries its byte count (per GPU)
 * and the formula that produced it, so a user can see why.  Terms:
 *   weights      exact bytes from tensor headers, else parameters x effective
 *                bits per weight of the quantization; split across TP ranks
 *   kv_cache     per-layer KV (full / sliding / chunked / cross / MLA) x batch
 *   state        recurrent state of hybrid models (per sequence, constant in ctx)
 *   activations  vLLM activation peak of the profiling forward pass
 *   non_torch    vLLM non-torch allocations (cuBLAS workspace, NCCL)
 *   cuda_graphs  vLLM CUDA-graph pools (0 with enforce_eager)
 *   compute      llama.cpp compute buffer: ggml's allocator replayed over the
 *                graph llama.cpp reserves (src/estimate/llamacpp.c)
 *   overhead     llama.cpp platform footprint (CUDA context etc.)
 *   vision       vision tower + projector when not inside the exact weights
 *
 * Engines: vLLM (budget = vram x gpu_memory_utilization, 16-token blocks),
 * llama.cpp (n_ctx padded to 256, n_ubatch compute buffer, -ngl offload),
 * Ollama (llama.cpp with n_ctx = num_ctx x num_parallel).  docs/estimate.md
 * documents every formula.
 *
 * Caps on inputs (IW_ELIMIT beyond them): num_layers <= 100000, heads and
 * KV heads <= 100000, head dims <= 1000000, context <= 2^31, batch <= 2^20,
 * tp <= 1024.  Arithmetic is done in double (exact for integers < 2^53) and
 * results are checked to stay below 2^62 bytes.
 */
#ifndef IWDL_ESTIMATE_H
#define IWDL_ESTIMATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch.h"

struct cJSON;   /* the JSON answers are cJSON trees: include iwdl/json.h to use them */

typedef enum iw_engine {
    IW_ENGINE_VLLM = 0,
    IW_ENGINE_LLAMACPP,
    IW_ENGINE_OLLAMA
} iw_engine;

/* KV cache element types.  AUTO = the model's kv_precision / torch_dtype
 * for vLLM, f16 for llama.cpp and Ollama (their defaults). */
typedef enum iw_kv_dtype {
    IW_KV_AUTO = 0, IW_KV_F32, IW_KV_F16, IW_KV_BF16, IW_KV_FP8,
    IW_KV_Q8_0,     /* llama.cpp only: 34 bytes per 32 values */
    IW_KV_Q4_0      /* llama.cpp only: 18 bytes per 32 values */
} iw_kv_dtype;

const char *iw_engine_name(iw_engine e);                 /* "vllm", "llama.cpp", "ollama" */
int         iw_engine_parse(const char *s, iw_engine *out);

/* vLLM versions as one number: IW_VLLM_VERSION(0, 10, 1) = 10001.
 * 0 = not given (the newest rules). */
#define IW_VLLM_VERSION(maj, min, pat) ((int32_t)(maj) * 1000000 + (int32_t)(min) * 1000 + (int32_t)(pat))
/* "vllm", "vllm@0.10", "vllm@0.10.1", "llama.cpp", "ollama": the engine and,
 * for vLLM, the version whose rules apply (*vllm_version = 0 without one;
 * NULL refuses a version).  A version is 1-3 dot-separated numbers < 1000. */
int         iw_engine_parse_spec(const char *s, iw_engine *out, int32_t *vllm_version);
/* "0.10" or "0.10.1" -> IW_VLLM_VERSION; <0 with a one-line error otherwise. */
int         iw_vllm_version_parse(const char *s, int32_t *out);
/* Writes "0.10" (patch 0) or "0.10.1". */
void        iw_vllm_version_format(int32_t v, char *buf, size_t n);
const char *iw_kv_dtype_name(iw_kv_dtype t);             /* "auto","f32","fp16","bf16","fp8","q8_0","q4_0" */
/* Accepts auto, f32/float32, f16/fp16/float16/half, bf16/bfloat16,
 * fp8/fp8_e4m3/fp8_e5m2, q8_0, q4_0.  iw_estimate_compute rejects q8_0/q4_0
 * for vLLM and fp8 for llama.cpp/Ollama. */
int         iw_kv_dtype_parse(const char *s, iw_kv_dtype *out);

#define IW_EST_DEFAULT_GPU_UTIL      0.9
#define IW_EST_BYTES_CAP             4611686018427387904.0   /* 2^62: a size from here on is refused */
#define IW_EST_PARAMS_B_CAP          100000.0                /* 100T parameters: an override above is refused */
#define IW_EST_VLLM_BLOCK            16
#define IW_EST_VLLM_MBT_DEFAULT      8192
#define IW_EST_VLLM_MAX_SEQS_DEFAULT 256    /* vLLM's default max_num_seqs */
#define IW_EST_VLLM_MAX_SEQS_BIG     1024   /* ... on a GPU of >= 70 GiB that is not an A100 */
#define IW_EST_LLAMA_MAX_SEQ         256    /* llama.cpp LLAMA_MAX_SEQ: most -np slots */
#define IW_EST_LLAMA_PAD             256
#define IW_EST_LLAMA_UBATCH          512
#define IW_EST_OLLAMA_CTX_DEFAULT    4096

/* The llama.cpp program a context belongs to: llama-server (and Ollama,
 * which runs it) reserves one output row per slot; llama-cli, llama-bench
 * and the library's defaults reserve outputs for the whole batch (n_batch),
 * so their compute buffer holds logits for every token of a ubatch. */
typedef enum iw_llama_app { IW_LLAMA_SERVER = 0, IW_LLAMA_CLI } iw_llama_app;
const char *iw_llama_app_name(iw_llama_app a);           /* "server", "cli" */
int         iw_llama_app_parse(const char *s, iw_llama_app *out);

#define IW_EST_OPTS_VERSION 1

typedef struct iw_est_opts {
    unsigned    version;       /* IW_EST_OPTS_VERSION (set by iw_est_opts_init) */
    iw_engine   engine;
    int64_t     context;       /* tokens per sequence; IW_UNKNOWN = model maximum (Ollama: 4096) */
    int64_t     batch;         /* concurrent sequences (vLLM max_num_seqs in use, llama.cpp --parallel, Ollama num_parallel); IW_UNKNOWN = 1 */
    iw_kv_dtype kv_dtype;
    int         tp;            /* tensor-parallel ranks (vLLM); 1 otherwise */
    double      gpu_util;      /* vLLM gpu_memory_utilization; NAN = 0.9 */
    int64_t     vram_bytes;    /* total memory of one GPU; IW_UNKNOWN = no budget */
    /* vLLM */
    int64_t     max_num_batched_tokens;  /* IW_UNKNOWN = the rules' default for the GPU (V0: max(ctx, 2048)) */
    bool        no_chunked_prefill;
    bool        enforce_eager;
    int64_t     max_num_seqs;  /* vLLM max_num_seqs (sizes the sampler of the profiling run); IW_UNKNOWN = the
                                  rules' default for the GPU (V1: 1024 on >= 70 GiB GPUs but A100, else 256) */
    int32_t     vllm_version;  /* IW_VLLM_VERSION the rules follow; 0 = the newest (informational here) */
    const struct iw_est_profile *vllm_rules;  /* vLLM rules (the "vllm" block of the version's profile);
                                                 NULL = the profile's own */
    const char *gpu_name;      /* the --gpu name when known (vLLM's A100 default exception, MXFP4 backend) */
    const char *mxfp4_backend; /* "marlin", "triton", "flashinfer", "cutlass"; NULL = from the GPU */
    /* llama.cpp / Ollama */
    int64_t     n_ubatch;      /* IW_UNKNOWN = 512 (Ollama: 512 / 1024 / 2048 by context, its automatic batch) */
    int64_t     n_gpu_layers;  /* IW_UNKNOWN = all (including the output layer) */
    int         flash_attn;    /* -1 = engine default (llama.cpp and Ollama: auto, on for CUDA and CPU), 0 off, 1 on */
    int64_t     n_batch;       /* llama.cpp -b; IW_UNKNOWN = 2048 (Ollama passes -b = -ub) */
    iw_llama_app llama_app;    /* which llama.cpp program holds the context (IW_LLAMA_SERVER by default) */
    /* Overheads and margins (see "Profiles" below); NULL = the shipped
     * "default" profile, which adds no margin to the modelled terms. */
    const struct iw_est_profile *profile;
    /* Corrections from a measured start-up of this model (docs/estimate.md,
     * "Calibration"); NULL = none.  Applied to the heuristic terms only. */
    const struct iw_est_calibration *calibration;
} iw_est_opts;

void iw_est_opts_init(iw_est_opts *o);

#define IW_EST_FORMULA_MAX 512

typedef struct iw_est_term {
    char    name[24];
    int64_t bytes;             /* per GPU */
    char    formula[IW_EST_FORMULA_MAX];  /* human-readable formula with the numbers used (truncated to fit) */
    char    source[48];        /* "exact: safetensors headers", "exact: gguf tensors", "formula", "heuristic" */
} iw_est_term;

#define IW_EST_MAX_TERMS 16
#define IW_EST_MAX_HOST_TERMS 6

typedef struct iw_estimate {
    iw_est_opts in;            /* resolved inputs (defaults filled) */
    int64_t     max_context;   /* the model's real maximum context (IW_UNKNOWN when unknown) */
    iw_est_term terms[IW_EST_MAX_TERMS];
    size_t      n_terms;
    int64_t     total;         /* sum of the terms, per GPU */
    int64_t     budget;        /* usable bytes per GPU (vLLM: vram x util); IW_UNKNOWN without --vram */
    bool        fits;          /* total <= budget (false when no budget) */
    int64_t     host_bytes;    /* llama.cpp: the sum of host_terms */
    iw_est_term host_terms[IW_EST_MAX_HOST_TERMS];  /* llama.cpp and Ollama: host RAM (weights and KV
                                                        left on the CPU, the output buffer) */
    size_t      n_host_terms;
    int64_t     weights_bytes; /* whole model, before the TP split */
    int64_t     kv_bytes_per_token;   /* per sequence, all attention layers, per GPU, uncapped */
    int64_t     state_bytes_per_seq;  /* recurrent state per sequence, per GPU */
    int64_t     kv_capacity_tokens;   /* vLLM: KV pool size in tokens at this budget; IW_UNKNOWN otherwise */
    iw_strlist  warnings;
    /* vLLM KV pool layout (docs/estimate.md, "KV-cache groups"): the memory
     * left for the KV cache, and how vLLM cuts it into blocks.  A block of
     * the pool holds block_tokens tokens of group_layers layers; every group
     * (full, sliding, ...) takes whole blocks, and the reported size is
     * blocks / groups x block_tokens.  0 / IW_UNKNOWN when not vLLM. */
    int64_t     kv_available_bytes;   /* budget minus every term vLLM subtracts before sizing the pool */
    int64_t     kv_block_bytes;       /* group_layers x page bytes of one layer for block_tokens tokens */
    int64_t     kv_block_tokens;
    int64_t     kv_groups;            /* KV-cache groups sharing the pool (1 = uniform) */
    int64_t     kv_group_layers;      /* layers per group (padded) */
    int64_t     kv_padding_layers;    /* layer slots added to make the groups equal */
} iw_estimate;

void iw_estimate_init(iw_estimate *e);
void iw_estimate_free(iw_estimate *e);

/* Forward estimate for opts.  `e` must have been initialised with
 * iw_estimate_init (its previous content is freed); free it with
 * iw_estimate_free, also after a failure.  Fails (IW_EINVAL, one-line error) when a field
 * the formulas need is missing (no num_layers, no parameters and no
 * weights_bytes, no head dims) or out of the caps; never invents a value
 * silently: defaults used are listed in e->warnings. */
int iw_estimate_compute(const iw_arch *a, const iw_est_opts *o, iw_estimate *e);

/* Weights alone (whole model, before the TP split), with formula and source. */
int iw_estimate_weights(const iw_arch *a, int64_t *bytes, char *formula, size_t formula_len,
                        const char **source);

/* KV bytes per token per sequence for one GPU at full context (every
 * attention layer stores every token; sliding/chunked capping is applied by
 * iw_estimate_compute).  kv_dtype AUTO resolves as for vLLM. */
int iw_estimate_kv_per_token(const iw_arch *a, iw_kv_dtype kv, int tp, int64_t *out);

/* Inverse.  Largest context per sequence (a multiple of the engine's block:
 * vLLM 16, llama.cpp/Ollama 256, and never above the model's maximum) such
 * that `batch` sequences fit o->vram_bytes; *out = 0 when nothing fits.
 * Verified by plugging back: fits at *out, not at *out + block (unless
 * *out is the model maximum). */
int iw_estimate_max_context(const iw_arch *a, const iw_est_opts *o, int64_t batch, int64_t *out);
/* Largest number of concurrent sequences of `context` tokens that fits
 * (capped at 2^20); *out = 0 when not even one fits. */
int iw_estimate_max_batch(const iw_arch *a, const iw_est_opts *o, int64_t context, int64_t *out);

/* Launch arguments for the engine from the resolved estimate and inverse
 * answers (context, batch): vLLM --max-model-len/--max-num-seqs/
 * --gpu-memory-utilization[/--kv-cache-dtype][/--tensor-parallel-size];
 * llama.cpp -c/-ngl[/-ctk/-ctv][/-np]; Ollama --num-ctx (num_ctx). */
int iw_estimate_recommend(const iw_estimate *e, int64_t context, int64_t batch, iw_strlist *args);

/* The most concurrent sequences a recommendation may ask of e's engine,
 * whatever memory allows, with the reason in `why` (src/estimate/
 * recommend.c): llama.cpp and Ollama 256 (LLAMA_MAX_SEQ), Ollama 1 for the
 * architectures its scheduler serves one at a time, vLLM its default
 * max_num_seqs (256; 1024 on a GPU of 70 GiB or more that is not an A100,
 * `gpu` being the GPU's name when known) and at most max_num_batched_tokens. */
int64_t iw_estimate_batch_cap(const iw_estimate *e, const iw_arch *a, const char *gpu, char *why, size_t n);

/* {inputs, terms[{name,bytes,formula,source}], total, budget, fits,
 *  kv_bytes_per_token, ...}; the caller adds inverse/recommended. */
struct cJSON *iw_estimate_to_json(const iw_estimate *e);

/* GPU table: name (case-insensitive, "-" and "_" ignored: "rtx4090",
 * "a100-80", "h100") -> bytes.  Returns false when unknown. */
bool iw_gpu_lookup(const char *name, int64_t *bytes);
/* The table itself, for listing (NULL-terminated). */
typedef struct iw_gpu { const char *name; int64_t bytes; } iw_gpu;
const iw_gpu *iw_gpu_table(void);

/* Parse a memory size: "24GiB", "24G" (GiB), "24GB" (10^9), "80000MiB",
 * "1.5T", plain bytes.  0 or negative rejected. */
int iw_parse_mem_size(const char *s, int64_t *out);


/* ====================================================================
 * Profiles (src/estimate/profile.c).
 *
 * The overheads and safety margins an estimate adds to the modelled terms,
 * and the GPU table, are data: src/estimate/estimate_profiles.json is
 * compiled into the library ("shipped") and a user file may add or refine
 * profiles and GPUs (docs/estimate.md, "Profiles").  A profile names:
 *   gpu_memory_utilization   vLLM default when --gpu-util is not given
 *   fragmentation            factor >= 1 applied to the KV cache (and the
 *                            recurrent state) or to the whole total
 *   base_overhead            bytes per GPU the engine cannot use (desktop,
 *                            driver reserve): max(gib, vram_fraction x vram)
 *   comm_per_extra_gpu       bytes per GPU for each tensor-parallel rank
 *                            beyond the first (communication buffers)
 *   vllm_* / llama_overhead  the engine heuristics (docs/estimate.md)
 * The shipped "default" reproduces the modelled terms with no margin.
 * ==================================================================== */

#define IW_EST_NAME_MAX 48
#define IW_EST_DESC_MAX 240
#define IW_EST_PROFILES_MAX_FILE  (1u << 20)  /* a profiles file larger than 1 MiB is refused */
#define IW_EST_PROFILES_MAX       256
#define IW_EST_GPUS_MAX           1024

typedef enum iw_frag_scope { IW_FRAG_KV_CACHE = 0, IW_FRAG_TOTAL } iw_frag_scope;

typedef struct iw_est_profile {
    char          name[IW_EST_NAME_MAX];
    char          description[IW_EST_DESC_MAX];
    double        gpu_util;
    double        fragmentation;
    iw_frag_scope frag_scope;
    int64_t       base_overhead;
    double        base_overhead_vram_frac;
    int64_t       comm_per_extra_gpu;
    int64_t       vllm_non_torch, vllm_nccl, vllm_graphs_base, vllm_graphs_per_layer;
    int64_t       llama_overhead;
    /* vLLM engine rules (docs/estimate.md, "vLLM versions"): the versions
     * they follow and what those versions do.  JSON: the "vllm" block. */
    int32_t       vllm_min_version, vllm_max_version;  /* [min, max); 0 = open */
    bool          vllm_v0;                  /* V0 engine: CacheEngine and block manager */
    bool          vllm_hybrid_kv_groups;    /* KV-cache groups of equal size; sliding layers hold the window */
    bool          vllm_cuda_graphs_in_budget; /* the KV pool is sized after (an estimate of) the CUDA graphs */
    int64_t       vllm_mla_align_bytes;     /* MLA cache entries aligned to this many bytes; 0 = not */
    bool          vllm_bnb_dq_dequantized;  /* bitsandbytes double-quant constants kept as f32 after loading */
    int64_t       vllm_max_num_seqs[2];     /* default max_num_seqs: [GPU < 70 GiB or A100, >= 70 GiB] */
    int64_t       vllm_mbt[2];              /* default max_num_batched_tokens, same split; 0 = max(max_model_len, 2048) */
    double        vllm_sampler_copies;      /* sampler peak = copies x max_num_seqs x vocab x 4 B */
} iw_est_profile;

typedef struct iw_est_gpu_spec {
    char    name[IW_EST_NAME_MAX];
    int64_t bytes;
    char    profile[IW_EST_NAME_MAX];   /* "" = the set's default profile */
} iw_est_gpu_spec;

typedef struct iw_est_profiles iw_est_profiles;

/* The shipped "default" profile (what opts.profile = NULL means). */
const iw_est_profile *iw_est_profile_default(void);
/* The shipped JSON text (for `estimate --profiles-json` and docs). */
const char *iw_est_profiles_shipped_json(size_t *len);

/* A set holding the shipped profiles and GPUs. */
int  iw_est_profiles_new(iw_est_profiles **out);
/* Merge a profiles document over the set: profiles and GPUs replace those
 * of the same name; a profile inherits the fields it omits from "base"
 * (default: the profile of the same name, else "default").  Strict: unknown
 * keys, wrong types, out-of-range values, duplicate names and caps give a
 * one-line error naming `what` and the item, and leave the set unchanged. */
int  iw_est_profiles_merge(iw_est_profiles *p, const char *text, size_t len, const char *what);
int  iw_est_profiles_merge_file(iw_est_profiles *p, const char *path);
/* Shipped set + the user's file: `user_path`, else $IMAGEWORKS_ESTIMATE_PROFILES,
 * else $XDG_CONFIG_HOME/imageworks/estimate_profiles.json (~/.config/...)
 * when it exists.  A named file that is missing is an error. */
int  iw_est_profiles_load(iw_est_profiles **out, const char *user_path);
void iw_est_profiles_free(iw_est_profiles *p);
/* "shipped" or "shipped + /path/to/file". */
const char *iw_est_profiles_origin(const iw_est_profiles *p);
/* Profile by name; NULL name = the set's default_profile.  NULL if absent. */
const iw_est_profile *iw_est_profiles_get(const iw_est_profiles *p, const char *name);
/* The profile whose vLLM version range holds `version` (the last one listed
 * when several do); NULL when none does. */
const iw_est_profile *iw_est_profiles_for_vllm(const iw_est_profiles *p, int32_t version);
/* GPU by name (case, '-', '_', ' ', a leading "nvidia" and a trailing "gb"
 * ignored: "RTX-4090", "A100-80GB").  NULL if absent. */
const iw_est_gpu_spec *iw_est_profiles_gpu(const iw_est_profiles *p, const char *name);
size_t iw_est_profiles_count(const iw_est_profiles *p);
const iw_est_profile *iw_est_profiles_at(const iw_est_profiles *p, size_t i);
size_t iw_est_profiles_gpu_count(const iw_est_profiles *p);
const iw_est_gpu_spec *iw_est_profiles_gpu_at(const iw_est_profiles *p, size_t i);
/* The set as JSON (serve's GET /profiles, docs/api.md): {origin, default,
 * profiles: [{name, description}], gpus: [{name, memory_gib, profile?}]};
 * NULL when out of memory. */
struct cJSON *iw_est_profiles_to_json(const iw_est_profiles *p);

/* ====================================================================
 * Overrides (src/estimate/override.c): what the user says about a model
 * the files describe incompletely.  Applied to a copy of the iw_arch before
 * estimating.  The files win where they are exact: --params-b is ignored
 * when tensor headers gave the parameter count, a quantization that
 * contradicts the checkpoint's own is ignored; each decision is reported.
 * ==================================================================== */

typedef enum iw_dtype {
    IW_DTYPE_AUTO = 0, IW_DTYPE_FP32, IW_DTYPE_FP16, IW_DTYPE_BF16, IW_DTYPE_FP8, IW_DTYPE_INT8
} iw_dtype;
const char *iw_dtype_name(iw_dtype d);                   /* "auto","fp32","fp16","bf16","fp8","int8" */
int         iw_dtype_parse(const char *s, iw_dtype *out); /* also float32, float16, half, bfloat16 */

typedef struct iw_est_overrides {
    iw_engine engine;           /* the engine the estimate is for (dtype "auto" differs) */
    double   params_b;          /* billions; NAN = not given */
    iw_dtype dtype;             /* AUTO = the checkpoint's torch_dtype, else bf16 */
    const char *quantization;   /* "none","awq","gptq","int8","fp8","bnb4","mxfp4",...; NULL = not given */
    int64_t  max_model_len;     /* IW_UNKNOWN = not given */
    bool     trust_remote_code; /* recorded; emitted for vLLM */
} iw_est_overrides;

void iw_est_overrides_init(iw_est_overrides *ov);

typedef enum iw_ov_status { IW_OV_APPLIED = 0, IW_OV_IGNORED, IW_OV_CAPPED, IW_OV_NOTE } iw_ov_status;
const char *iw_ov_status_name(iw_ov_status s);          /* "applied","ignored","capped","note" */

typedef struct iw_ov_report {
    char         flag[24];      /* "--params-b", "--dtype", ... */
    char         value[48];
    iw_ov_status status;
    char         reason[256];
} iw_ov_report;

#define IW_EST_MAX_OVERRIDES 8
typedef struct iw_ov_result {
    iw_ov_report r[IW_EST_MAX_OVERRIDES];
    size_t       n;
    char         dtype[16];        /* resolved weight dtype: "bf16", "fp16", "fp32", "fp8", "int8", "gguf" */
    char         dtype_source[96]; /* "config.json torch_dtype", "--dtype", "assumed: torch_dtype unknown", ... */
    bool         trust_remote_code;
} iw_ov_result;

/* Apply ov to `a` in place (pass a copy: iw_arch_copy).  Fails (IW_EINVAL)
 * only on contradictory or out-of-range input (e.g. --dtype fp8 with
 * --quantization awq); everything else is applied or reported as ignored. */
int iw_estimate_apply_overrides(iw_arch *a, const iw_est_overrides *ov, iw_ov_result *res);

/* The vLLM arguments a launch needs to load what the overrides estimated,
 * appended to args: --dtype float32|float16|bfloat16 for an explicit weight
 * dtype, --quantization fp8|bitsandbytes for an online quantization.
 * (--trust-remote-code is the caller's: ov->trust_remote_code.)  ov may be NULL. */
int iw_ov_vllm_args(const iw_ov_result *ov, iw_strlist *args);

/* ====================================================================
 * Calibration (src/estimate/calibrate.c; docs/estimate.md, "Calibration").
 *
 * A measured start-up (a "start": the JSON object reconcile-architecture
 * --engine-log stores in metadata.architecture.measured_starts, enginelog.h)
 * is predicted at its own settings and compared figure by figure.  Its
 * differences then correct the heuristic terms at any other settings:
 *   vLLM       activations x (measured / predicted activation peak),
 *              non_torch + (measured - predicted),
 *              cuda_graphs x (measured / predicted) when the log gives them,
 *              load_residual: the non-KV memory the engine measured that
 *              the terms (after those corrections) do not hold -- loaded
 *              weights beyond the modelled ones, and the log's rounding,
 *              pinned by its KV memory and KV tokens -- x start tp / tp;
 *   llama.cpp  compute x (measured / predicted compute buffer),
 *              load_residual: model buffer - weights on the GPU.
 * Exact terms (weights from headers, the KV cache) are never changed.  At
 * the start's own settings the calibrated estimate gives the logged figures
 * to the precision the log printed them.
 * ==================================================================== */

typedef struct iw_est_calibration {
    iw_engine engine;          /* IW_ENGINE_VLLM or IW_ENGINE_LLAMACPP (also Ollama) */
    double    activations_ratio;  /* NAN = not measured */
    double    cuda_graphs_ratio;
    double    compute_ratio;
    bool      has_non_torch;
    int64_t   non_torch_delta;    /* bytes per GPU */
    bool      has_residual;
    int64_t   residual_bytes;     /* per GPU at the start's tp */
    int       tp;                 /* the start's tensor-parallel size */
    char      source[400];        /* "<engine> <version> start of <observed_at>, <file>:<line>" */
    char      warning[200];       /* "" or why the start may not be this model's (a large residual) */
} iw_est_calibration;

void iw_est_calibration_init(iw_est_calibration *c);

/* The estimate options and overrides that reproduce a start's settings:
 * engine (a llama.cpp start is estimated as llama.cpp, also under Ollama),
 * vLLM version and its rules from `profiles` (NULL: the newest), tp,
 * context, sequences, batch sizes, utilisation, GPU memory, KV dtype,
 * enforce_eager, and the dtype / quantization vLLM was started with.  `o`
 * and `ov` start from *base and *base_ov (profile, defaults).  Settings the
 * log did not print keep the rules' defaults. */
int iw_est_start_opts(const struct cJSON *start, const struct iw_est_profiles *profiles, const iw_est_opts *base,
                      const iw_est_overrides *base_ov, iw_est_opts *o, iw_est_overrides *ov);

/* {"engine", "engine_version", "observed_at", "source", "settings",
 *  "measured", "predicted"}: predicted holds the estimate's figure for each
 * measured key (vLLM weights = weights + rope_cache + vision; llama.cpp
 * model buffer = weights on the GPU).  NULL on ENOMEM. */
struct cJSON *iw_est_start_compare(const iw_estimate *predicted, const struct cJSON *start);

/* The corrections of a start from its uncalibrated prediction (computed
 * with the options iw_est_start_opts gave).  IW_EINVAL when the start
 * measured no heuristic figure (nothing to correct). */
int iw_est_calibration_derive(const iw_estimate *predicted, const struct cJSON *start, iw_est_calibration *cal);

/* {"source", "engine", "tp", "activations_ratio", "non_torch_delta_bytes",
 *  "cuda_graphs_ratio", "compute_ratio", "load_residual_bytes", "warning"}
 * (only the corrections that apply).  NULL on ENOMEM. */
struct cJSON *iw_est_calibration_to_json(const iw_est_calibration *c);

/* ====================================================================
 * Verdict (src/estimate/verdict.c): fits / tight / does not fit against
 * the budget, the headroom, the largest term, and for a misfit the changes
 * that would fit, each with its number (re-estimated, never guessed).
 * ==================================================================== */

typedef enum iw_fit { IW_FIT_UNKNOWN = 0, IW_FIT_FITS, IW_FIT_TIGHT, IW_FIT_NO } iw_fit;
const char *iw_fit_name(iw_fit f);                     /* "unknown","fits","tight","does not fit" */

#define IW_EST_TIGHT_FRACTION 0.10   /* headroom under 10% of the budget is "tight" */
#define IW_EST_MAX_FIXES 8

typedef struct iw_est_fix {
    char    kind[64];       /* the changes, '+'-joined in this order: "quantization", "kv_dtype", "tp",
                               "offload", "context", "batch" (e.g. "quantization+kv_dtype+context") */
    char    change[192];    /* how to ask for it: "--quantization awq --kv-dtype fp8 --context 27648",
                               "--tp 2", "a Q4_K_M GGUF, --context 32768" */
    int64_t total;          /* per-GPU total after the change */
    int64_t budget;         /* per-GPU budget after the change */
    bool    fits;
    char    note[400];      /* what it gives up, one clause per change: "context 131072 -> 27648 tokens
                               per sequence; needs an AWQ 4-bit g128 checkpoint of this model (a download)" */
    /* what was estimated, so the number can be reproduced: the options, and
     * for `quantized` the 4-bit variant (AWQ g128 as `--quantization awq`
     * sizes it; GGUF: a Q4_K_M file, about 4.85 bits per weight) */
    iw_est_opts opts;
    bool    quantized;
} iw_est_fix;

typedef struct iw_est_verdict {
    iw_fit     fit;
    int64_t    headroom;        /* budget - total (negative when it does not fit) */
    double     headroom_frac;   /* headroom / budget */
    char       dominant[24];    /* largest term */
    int64_t    dominant_bytes;
    iw_est_fix fixes[IW_EST_MAX_FIXES];
    size_t     n_fixes;
    int        cheapest;        /* index of the cheapest fix that fits (0 when any fits); -1 none */
} iw_est_verdict;

/* Judge e (computed from a and o).  For a misfit it searches combinations
 * of changes -- a 4-bit variant (AWQ g128 for vLLM, Q4_K_M for GGUF), a
 * narrower KV cache (vLLM fp8; llama.cpp q8_0 with flash attention), tensor
 * parallelism 2/4/8 (vLLM) -- each as asked, with the largest context that
 * then fits at this batch, with the most sequences that fit at this context,
 * and (llama.cpp/Ollama) with the most layers on the GPU; every candidate is
 * re-estimated.  The ones that fit are listed cheapest first by what they
 * cost the user, in this order of weight: more GPUs (hardware last), another
 * download, layers in host RAM (slower), the share of the requested tokens
 * given up, a narrower KV cache; a candidate that costs at least as much as
 * another in every respect is dropped.  When nothing fits, the single
 * changes that shrink the total are listed ("still over"). */
int iw_estimate_verdict(const iw_arch *a, const iw_est_opts *o, const iw_estimate *e, iw_est_verdict *v);
/* The verdict in one line, as the CLI prints it after "verdict: " and the
 * serve page shows it: "fits, 21.04 GiB headroom (97% of the budget);
 * largest term: kv_cache 4.00 GiB", "TIGHT, ...", "DOES NOT FIT, 3.77 GiB
 * over the budget; ..."; "" for an unknown fit. */
void iw_estimate_verdict_summary(const iw_est_verdict *v, char *out, size_t n);
/* {fit, summary, headroom_*, dominant_*, fixes[], cheapest} */
struct cJSON *iw_estimate_verdict_to_json(const iw_est_verdict *v);

/* ====================================================================
 * Launch configurations (src/estimate/emit.c): a ready-to-run command or
 * file for the engine, using only flags that exist in that engine.
 * ==================================================================== */

typedef enum iw_emit_kind { IW_EMIT_VLLM = 0, IW_EMIT_LLAMACPP, IW_EMIT_OLLAMA, IW_EMIT_COMPOSE } iw_emit_kind;
int         iw_emit_kind_parse(const char *s, iw_emit_kind *out);  /* vllm, llama.cpp|llamacpp|llama-server, ollama, compose */
const char *iw_emit_kind_name(iw_emit_kind k);

typedef struct iw_emit_input {
    const char *model;            /* local path, org/name repo, or GGUF file */
    const char *served_name;      /* registry name (vLLM --served-model-name, llama-server --alias); may be NULL */
    int         port;             /* 0 = engine default (vLLM 8000, llama-server 8080) */
    int64_t     context;          /* per sequence */
    int64_t     batch;            /* concurrent sequences */
    int64_t     num_layers;       /* the model's layers (Ollama num_gpu when offloading part); 0 = unknown */
    const iw_ov_result *ov;       /* dtype/quantization/trust_remote_code decisions; may be NULL */
    /* compose of a repo: the Hub settings in effect (HF_HOME, HF_HUB_CACHE,
     * HF_ENDPOINT as the environment gives them), written as the defaults of
     * ${HF_HOME:-...} etc.; NULL = not set */
    const char *hf_home, *hf_hub_cache, *hf_endpoint;
} iw_emit_input;

/* Writes a malloc'd text to *out (a shell command line for vllm and
 * llama.cpp, a Modelfile for ollama, a docker compose YAML document for
 * compose).  The engine of e must match the kind (compose = vLLM). */
int iw_estimate_emit(iw_emit_kind kind, const iw_estimate *e, const iw_emit_input *in, char **out);

#endif
