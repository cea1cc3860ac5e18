/* ollama_internal.h - shared by ollama_extract.c and ollama_info.c. */
#ifndef IW_OLLAMA_INTERNAL_H
#define IW_OLLAMA_INTERNAL_H

#include "iwdl/arch.h"

/* Ollama runs GGUF with an f16 KV cache unless OLLAMA_KV_CACHE_TYPE says
 * otherwise: kv_precision defaults to fp16 (attributed as a default), then
 * kv_bytes_per_token is computed when the record allows it (a warning when
 * it does not).  Fails only on allocation failure. */
int iw_ollama_finish_kv(iw_arch *a);

#endif
