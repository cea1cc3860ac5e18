/* inspect.h - the architecture of a model from its files: one pipeline over
 * a file provider.
 *
 * A provider (provider.h) lists a model's files and opens them for reading
 * at offsets.  The library has four: a local folder or file
 * (iw_provider_local, here), a model of Ollama's store
 * (iw_provider_ollama_store, here), a Hub repo read by HTTP Range and a
 * running Ollama server (iw_hub_provider_new in hub.h and
 * iw_ollama_api_provider_new in ollama_api.h, which need the network).  A
 * caller may write its own.
 *
 * iw_inspect runs the same steps whatever the provider (docs/library.md):
 *   1. list the files; a provider may name what a file is (role), otherwise
 *      its name decides;
 *   2. config.json (+ nested text/vision blocks), generation_config.json,
 *      quantize_config.json and quant_config.json, a support repo's
 *      (opts->support_dir), then the parameter formula;
 *   3. tensor headers: safetensors (model.safetensors.index.json and its
 *      shards, else model.safetensors, else every top-level *.safetensors
 *      but consolidated* / adapter_model*), else GGUF (one model: its split
 *      set, plus the first vision projector mmproj*), exact parameters and
 *      weight bytes win over the formula;
 *   4. an Ollama params blob (num_ctx) or /api/show answer;
 *   5. the size written in the name checked against the count (or, without
 *      a count, used as one with a warning), KV bytes per token, collected_at.
 * Every file read is listed in a->sources; oddities are a->warnings.
 */
#ifndef IWDL_INSPECT_H
#define IWDL_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch.h"
#include "buf.h"
#include "provider.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A local model folder, or one .gguf / .safetensors (/ .safetensors.index.json)
 * file, which then is the focus.  `path` may also be an ollama: reference,
 * which gives iw_provider_ollama_store(path, NULL). */
int  iw_provider_local(iw_provider **out, const char *path);

/* A model of Ollama's store at root (NULL: $OLLAMA_MODELS or the default,
 * see ollama.h); ref in any spelling iw_ollama_parse_ref accepts.  Listing
 * resolves the manifest (IW_ENOTFOUND when the store lacks the model). */
int  iw_provider_ollama_store(iw_provider **out, const char *ref, const char *root);

/* `first`, and `then` when first's listing fails with IW_ENOTFOUND (a model
 * not in Ollama's store, asked of the server): nothing of the failed attempt
 * is kept, and when both fail the one-line error names both causes
 * ("<first's>; and from <then_label>: <then's>") with then's code.  Takes
 * both providers (also on failure). */
int  iw_provider_chain(iw_provider **out, iw_provider *first, iw_provider *then, const char *then_label);

#define IW_INSPECT_OPTS_VERSION 1

typedef struct iw_inspect_opts {
    unsigned    version;       /* IW_INSPECT_OPTS_VERSION (0 reads as 1) */
    const char *support_dir;   /* local folder with a support repo's config files, or NULL */
    const char *support_id;    /* "org/name" of the support repo, for field_sources */
    bool        skip_headers;  /* config only: do not read safetensors/GGUF headers */
    iw_buf     *tensors_csv;   /* when set: the tensor listing of the files read is
                                * appended ("kind,name,shape,dtype" header first) */
} iw_inspect_opts;

#define IW_INSPECT_OPTS_INIT { IW_INSPECT_OPTS_VERSION, NULL, NULL, false, NULL }
int  iw_inspect_opts_init(iw_inspect_opts *o, unsigned version);

/* The architecture of the model p provides (steps above).  `a` must be
 * initialised; collected_at is always stamped.  opts may be NULL.  Errors
 * are one line naming the model and the file: a provider's own failure (no
 * such folder, repo or Ollama model), malformed config.json, a corrupt
 * header, no model files at all. */
int  iw_inspect(iw_provider *p, const iw_inspect_opts *opts, iw_arch *a);

/* iw_inspect over iw_provider_local(path): a local model folder, a single
 * .gguf / .safetensors file (its header is the whole story), or an ollama:
 * reference (the store only). */
typedef iw_inspect_opts iw_extract_opts;
int  iw_extract_path(const char *path, const iw_extract_opts *opts, iw_arch *a);

#ifdef __cplusplus
}
#endif
#endif
