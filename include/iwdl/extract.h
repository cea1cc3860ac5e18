/* extract.h - everything that reads a model's architecture, in one include:
 *   config.h    config.json and quantization config text
 *   params.h    parameter formula, size from a name
 *   kv.h        KV bytes per token
 *   inspect.h   the pipeline over a file provider, iw_extract_path
 * The format readers have their own headers (gguf.h, safetensors.h,
 * ollama.h).  This module never links libcurl: remote providers live in the
 * downloader (download.h, ollama_api.h). */
#ifndef IWDL_EXTRACT_H
#define IWDL_EXTRACT_H

#include "config.h"
#include "inspect.h"
#include "kv.h"
#include "params.h"

#endif
