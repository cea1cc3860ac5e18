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
 *   compute      llama.cpp compute buffer (gguf-parser style)
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
#include <cjson/cJSON.h>
#include "arch.h"

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
const char *iw_kv_dtype_name(iw_kv_dtype t);             /* "auto","f32","fp16","bf16","fp8","q8_0","q4_0" */
/* Accepts auto, f32/float32, f16/fp16/float16/half, bf16/bfloat16,
 * fp8/fp8_e4m3/fp8_e5m2, q8_0, q4_0.  iw_estimate_compute rejects q8_0/q4_0
 * for vLLM and fp8 for llama.cpp/Ollama. */
int         iw_kv_dtype_parse(const char *s, iw_kv_dtype *out);

#define IW_EST_DEFAULT_GPU_UTIL      0.9
#define IW_EST_VLLM_BLOCK            16
#define IW_EST_VLLM_MBT_DEFAULT      8192
#define IW_EST_VLLM_MAX_SEQS_DEFAULT 256
#define IW_EST_LLAMA_PAD             256
#define IW_EST_LLAMA_UBATCH          512
#define IW_EST_OLLAMA_CTX_DEFAULT    4096

typedef struct iw_est_opts {
    iw_engine   engine;
    int64_t     context;       /* tokens per sequence; IW_UNKNOWN = model maximum (Ollama: 4096) */
    int64_t     batch;         /* concurrent sequences (vLLM max_num_seqs in use, llama.cpp --parallel, Ollama num_parallel); IW_UNKNOWN = 1 */
    iw_kv_dtype kv_dtype;
    int         tp;            /* tensor-parallel ranks (vLLM); 1 otherwise */
    double      gpu_util;      /* vLLM gpu_memory_utilization; NAN = 0.9 */
    int64_t     vram_bytes;    /* total memory of one GPU; IW_UNKNOWN = no budget */
    /* vLLM */
    int64_t     max_num_batched_tokens;  /* IW_UNKNOWN = 8192 with chunked prefill, else max(ctx, 2048) */
    bool        no_chunked_prefill;
    bool        enforce_eager;
    /* llama.cpp / Ollama */
    int64_t     n_ubatch;      /* IW_UNKNOWN = 512 */
    int64_t     n_gpu_layers;  /* IW_UNKNOWN = all (including the output layer) */
    int         flash_attn;    /* -1 = engine default (llama.cpp on, Ollama off), 0 off, 1 on */
} iw_est_opts;

void iw_est_opts_init(iw_est_opts *o);

#define IW_EST_FORMULA_MAX 512

typedef struct iw_est_term {
    char    name[24];
    int64_t bytes;             /* per GPU */
    char    formula[IW_EST_FORMULA_MAX];  /* human-readable formula with the numbers used (truncated to fit) */
    char    source[48];        /* "exact: safetensors headers", "exact: gguf tensors", "formula", "heuristic" */
} iw_est_term;

#define IW_EST_MAX_TERMS 12

typedef struct iw_estimate {
    iw_est_opts in;            /* resolved inputs (defaults filled) */
    int64_t     max_context;   /* the model's real maximum context (IW_UNKNOWN when unknown) */
    iw_est_term terms[IW_EST_MAX_TERMS];
    size_t      n_terms;
    int64_t     total;         /* sum of the terms, per GPU */
    int64_t     budget;        /* usable bytes per GPU (vLLM: vram x util); IW_UNKNOWN without --vram */
    bool        fits;          /* total <= budget (false when no budget) */
    int64_t     host_bytes;    /* llama.cpp: weights and KV of layers left on the CPU */
    int64_t     weights_bytes; /* whole model, before the TP split */
    int64_t     kv_bytes_per_token;   /* per sequence, all attention layers, per GPU, uncapped */
    int64_t     state_bytes_per_seq;  /* recurrent state per sequence, per GPU */
    int64_t     kv_capacity_tokens;   /* vLLM: KV pool size in tokens at this budget; IW_UNKNOWN otherwise */
    iw_strlist  warnings;
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

/* {inputs, terms[{name,bytes,formula,source}], total, budget, fits,
 *  kv_bytes_per_token, ...}; the caller adds inverse/recommended. */
cJSON *iw_estimate_to_json(const iw_estimate *e);

/* GPU table: name (case-insensitive, "-" and "_" ignored: "rtx4090",
 * "a100-80", "h100") -> bytes.  Returns false when unknown. */
bool iw_gpu_lookup(const char *name, int64_t *bytes);
/* The table itself, for listing (NULL-terminated). */
typedef struct iw_gpu { const char *name; int64_t bytes; } iw_gpu;
const iw_gpu *iw_gpu_table(void);

/* Parse a memory size: "24GiB", "24G" (GiB), "24GB" (10^9), "80000MiB",
 * "1.5T", plain bytes.  0 or negative rejected. */
int iw_parse_mem_size(const char *s, int64_t *out);

#endif
