/* inspect_internal.h - the steps of iw_inspect (inspect.c) that live beside
 * their formats, shared inside src/extract. */
#ifndef IW_EXTRACT_INSPECT_INTERNAL_H
#define IW_EXTRACT_INSPECT_INTERNAL_H

#include <stdbool.h>
#include "iwdl/inspect.h"

/* Safetensors headers of the model (headers.c): the index and its shards,
 * else model.safetensors, else every top-level *.safetensors (p->focus: that
 * file, or that index).  IW_ENOTFOUND when there are none, or when a file is
 * missing or a Git LFS pointer (then also a warning).  csv: tensor rows. */
int  iw__read_safetensors(iw_provider *p, const iw_file_list *l, iw_arch *a, iw_buf *csv);
/* True when the listing holds top-level safetensors files or an index. */
bool iw__has_safetensors(const iw_file_list *l);
/* GGUF headers (headers.c): files the provider marked as model/projector,
 * else by name: one model (the first by name, with its split set) and the
 * first mmproj*.gguf (p->focus: that file's split set only).  Parses,
 * warns, cites and maps them (iw_kvs_to_arch).  IW_ENOTFOUND when none. */
int  iw__read_gguf(iw_provider *p, const iw_file_list *l, iw_arch *a, iw_buf *csv);
/* pytorch_model.bin.index.json: tensor names only (headers.c). */
int  iw__read_torch_index(iw_provider *p, const char *path, iw_arch *a);

/* A GGUF model runs on llama.cpp or Ollama (engine "ollama"), whose KV cache
 * defaults to f16: kv_precision fp16, attributed to that default, when
 * nothing else said.  Fails only when out of memory. */
int  iw__gguf_kv_default(const char *engine, iw_arch *a);
/* KV bytes per token once every source has spoken (a warning when the
 * record cannot give it, never a failure). */
int  iw__finish_kv(iw_arch *a);

/* Ollama's params blob: num_ctx and every option (ollama_extract.c). */
int  iw__read_ollama_params(iw_provider *p, const char *path, iw_arch *a);

#endif
