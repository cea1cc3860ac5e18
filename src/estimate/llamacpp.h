/* llamacpp.h - llama.cpp's memory, derived from llama.cpp's own code
 * (internal to src/estimate; docs/estimate.md "llama.cpp and Ollama").
 *
 * llama.cpp sizes three things when it creates a context:
 *   - the KV cache: one K (and, unless MLA, one V) tensor per attention
 *     layer, n_ctx_seq cells per stream, one stream per sequence (or one
 *     shared stream with kv_unified), sliding-window layers in their own
 *     smaller cache (src/llama-kv-cache.cpp, src/llama-kv-cache-iswa.cpp);
 *   - the compute buffer: the peak of ggml's graph allocator over the
 *     worst-case graph it reserves (n_ubatch tokens, n_seq_max sequences,
 *     min(n_ubatch, n_outputs_max) outputs; src/llama-context.cpp
 *     sched_reserve / graph_reserve).  We build the same graph (shapes,
 *     views, the order ggml_build_forward_expand visits it; src/llama-graph.cpp
 *     and src/models/<arch>.cpp) and replay the allocator over it
 *     (ggml/src/ggml-alloc.c: best fit, in-place reuse, frees on last use);
 *   - the host output buffer: logits for max(n_seq_max, outputs) rows
 *     (llama_context::output_reserve).
 */
#ifndef IW_ESTIMATE_LLAMACPP_H
#define IW_ESTIMATE_LLAMACPP_H

#include <stdbool.h>
#include <stdint.h>
#include "iwdl/arch.h"

/* ggml type ids of the KV cache (ggml.h) */
#define IW_GGML_F32  0
#define IW_GGML_F16  1
#define IW_GGML_Q4_0 2
#define IW_GGML_Q8_0 8
#define IW_GGML_BF16 30

/* A context as llama.cpp creates it (llama_context_params after
 * llama-server / llama-cli / Ollama have filled them). */
typedef struct iw_llamacpp_ctx {
    int64_t n_ctx;          /* total cells asked for (-c): context per sequence x sequences */
    int64_t n_seq;          /* n_seq_max (-np, Ollama num_parallel) */
    int64_t n_batch;        /* 2048 by default */
    int64_t n_ubatch;       /* 512 by default */
    int64_t n_outputs_max;  /* 0 = n_batch (library, llama-cli); llama-server: one per slot */
    bool    flash_attn;
    bool    kv_unified;     /* one KV stream shared by all sequences */
    bool    swa_full;       /* full-size cache for sliding-window layers */
    int     type_k, type_v; /* IW_GGML_* */
} iw_llamacpp_ctx;

typedef struct iw_llamacpp_mem {
    int64_t n_ctx;          /* cells llama.cpp ends up with (n_ctx_seq x streams) */
    int64_t n_ctx_seq;      /* cells per stream */
    int64_t n_stream;
    int64_t swa_cells;      /* cells per stream of the sliding-window cache (0 when none) */
    int64_t kv_layers, kv_swa_layers;
    int64_t kv_bytes;       /* K and V of every attention layer (the memory module) */
    int64_t k_row, v_row;   /* bytes of one cell, summed over the full-attention layers */
    int64_t k_row_swa, v_row_swa;
    int64_t compute_bytes;  /* compute buffer */
    int64_t n_tokens, n_outputs;   /* the reserved ubatch */
    int64_t output_bytes;   /* host output buffer (logits) */
    int64_t graph_nodes;    /* nodes of the modelled graph */
    const char *graph;      /* which llama.cpp graph was modelled ("llama", "qwen3moe", ...) */
    bool    graph_exact;    /* false: the architecture's graph is not modelled; a llama-like graph stands in */
} iw_llamacpp_mem;

/* Sizes for architecture `a` in context `c`.  Fails (one-line error) when a
 * field the model needs is missing.  (llama.cpp refuses a quantized V cache
 * without flash attention; the caller warns, the sizes are still given.)
 * Warnings name any default assumed. */
int iw_llamacpp_memory(const iw_arch *a, const iw_llamacpp_ctx *c, iw_llamacpp_mem *out, iw_strlist *warn);

/* Development aid (tests, bench): the modelled graph of the last call in
 * the ORACLE_DUMP listing format of bench/llamacpp/oracle.cpp, to diff a
 * model against llama.cpp's own graph.  Returns 0 or a negative error. */
int iw_llamacpp_graph_dump(const iw_arch *a, const iw_llamacpp_ctx *c, const char *path);

#endif
