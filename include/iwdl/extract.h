/* extract.h - architecture extraction: config.json, quantization configs,
 * GGUF and safetensors headers, merged into one iw_arch.
 *
 * Parsers take a buffer or an iw_source (read-at callback), never a FILE or a
 * URL, so local files, HTTP Range readers and fuzz input share one code path.
 * This module never links libcurl.
 */
#ifndef IWDL_EXTRACT_H
#define IWDL_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch.h"
#include "reader.h"

/* ---- config.json (src/extract/config.c) -------------------------------- */

/* Fill `a` from the text of a config.json.  `source` is how fields are
 * attributed in field_sources (e.g. "config.json" or "support_repo:org/name").
 * Nested text_config/llm_config/language_config/vision_config are followed;
 * fields from a nested block are attributed "<source>:<block>".
 * Returns 0, or a negative code with a one-line error (malformed JSON, LFS
 * pointer, not an object).  Recoverable oddities become warnings. */
int iw_config_parse(const char *text, size_t len, const char *source, iw_arch *a);

/* Quantization: quantize_config.json / quant_config.json text (GPTQ/AWQ
 * standalone files), applied only when config.json had no quantization_config. */
int iw_quant_config_parse(const char *text, size_t len, const char *source, iw_arch *a);

/* Parameter count from architecture fields (parameters.source = "formula").
 * Fills total/active/embedding and components when the fields suffice. */
int iw_params_formula(iw_arch *a);

/* KV bytes per token (kv_bytes_per_token, _full, _swa) at a->kv_precision
 * (bf16 when unknown).  Pure function of the record. */
int iw_kv_per_token(iw_arch *a);

/* Parse a size written in a model name: "7B" -> 7e9, "20.9B" -> 20.9e9,
 * "8x7B" -> 56e9 (total, *active_out = IW_UNKNOWN), "30B-A3B" -> 30e9 with
 * *active_out = 3e9, "350M" -> 350e6.  Returns false when none is found. */
bool iw_parse_size_from_name(const char *name, int64_t *total_out, int64_t *active_out);

/* ---- whole folders / single files (src/extract/extract.c) -------------- */

typedef struct iw_extract_opts {
    const char *support_dir;   /* folder holding a support repo's config files, or NULL */
    const char *support_id;    /* "org/name" of the support repo, for field_sources */
    bool        skip_headers;  /* config only: do not read safetensors/GGUF headers */
} iw_extract_opts;

/* Extract the architecture of a local model folder (or a single .gguf /
 * .safetensors file).  Sources, in order of trust: tensor headers (exact
 * parameters and bytes), config.json (+ nested), quantization configs,
 * support repo, name heuristics (table).  Always stamps collected_at. */
int iw_extract_path(const char *path, const iw_extract_opts *opts, iw_arch *a);

#endif
