/* ollama.h - architecture of Ollama-installed models.
 *
 * Ollama keeps its weights as ordinary GGUF files in a content-addressed
 * store (an OCI-like layout):
 *
 *   <root>/manifests/<registry>/<namespace>/<name>/<tag>   JSON manifest
 *   <root>/blobs/sha256-<64 lowercase hex>                  layers (GGUF, JSON, text)
 *
 * <root> is $OLLAMA_MODELS, else ~/.ollama/models, else
 * /usr/share/ollama/.ollama/models (the first directory that exists).
 *
 * The store (src/extract/ollama.c, ollama_extract.c) and the mapping of an
 * /api/show answer (ollama_info.c) never touch the network; asking a running
 * server is ollama_api.h (src/downloader), references are ollama_ref.h.
 * See docs/formats/ollama.md for what is accepted and refused.
 */
#ifndef IWDL_OLLAMA_H
#define IWDL_OLLAMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch.h"
#include "ollama_ref.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IW_OLLAMA_MAX_MANIFEST (1u << 20)   /* manifest JSON: 1 MiB */
#define IW_OLLAMA_MAX_PARAMS   (1u << 20)   /* params blob JSON: 1 MiB */
#define IW_OLLAMA_MAX_LAYERS   1024         /* layers in one manifest */

/* ---- the local store ---------------------------------------------------- */

/* *out (malloc'd) = $OLLAMA_MODELS, ~/.ollama/models or
 * /usr/share/ollama/.ollama/models, the first that is a directory.
 * IW_ENOTFOUND naming the candidates when none exists. */
int iw_ollama_store_root(char **out);

typedef enum iw_ollama_layer_kind {
    IW_OLLAMA_LAYER_UNKNOWN = 0,
    IW_OLLAMA_LAYER_MODEL,      /* application/vnd.ollama.image.model: GGUF weights */
    IW_OLLAMA_LAYER_PROJECTOR,  /* application/vnd.ollama.image.projector: vision projector GGUF */
    IW_OLLAMA_LAYER_ADAPTER,    /* application/vnd.ollama.image.adapter: LoRA GGUF */
    IW_OLLAMA_LAYER_PARAMS,     /* application/vnd.ollama.image.params: JSON options (num_ctx, stop, ...) */
    IW_OLLAMA_LAYER_TEMPLATE,   /* application/vnd.ollama.image.template */
    IW_OLLAMA_LAYER_SYSTEM,     /* application/vnd.ollama.image.system */
    IW_OLLAMA_LAYER_LICENSE,    /* application/vnd.ollama.image.license */
    IW_OLLAMA_LAYER_MESSAGES,   /* application/vnd.ollama.image.messages */
    IW_OLLAMA_LAYER_OTHER       /* older known kinds: embed, prompt */
} iw_ollama_layer_kind;

const char *iw_ollama_layer_kind_name(iw_ollama_layer_kind k);   /* "model", ... */
iw_ollama_layer_kind iw_ollama_layer_kind_of(const char *media_type);

typedef struct iw_ollama_layer {
    iw_ollama_layer_kind kind;
    char   *media_type;
    char    hex[65];      /* lowercase sha256 of the blob */
    int64_t size;         /* from the manifest, IW_UNKNOWN when absent */
    char   *path;         /* <root>/blobs/sha256-<hex> (realpath), NULL when the blob is missing */
} iw_ollama_layer;

typedef struct iw_ollama_manifest {
    iw_ollama_ref ref;
    char *root;            /* store root used */
    char *manifest_path;
    char  config_hex[65];  /* config blob digest ("" when absent) */
    iw_ollama_layer *layers;
    size_t n_layers;
    iw_strlist warnings;   /* unknown media types, missing optional blobs, ... */
    int64_t size;          /* bytes of the layers: the manifest's sizes, else the blobs' */
    int64_t pulled_sec;    /* the manifest's modification time (when the model was pulled), 0 unknown */
    long    pulled_usec;
} iw_ollama_manifest;

/* Read manifests/<registry>/<ns>/<name>/<tag> under root (NULL: the default
 * root, see iw_ollama_store_root) and resolve every layer's blob.
 * Refused with a one-line error: a missing manifest (IW_ENOTFOUND), a
 * manifest larger than IW_OLLAMA_MAX_MANIFEST (IW_ELIMIT), malformed JSON or
 * a layer without mediaType/digest (IW_EFORMAT), a digest that is not
 * "sha256:" + 64 lowercase hex (IW_EFORMAT), a manifest or blob whose real
 * path leaves the store's manifests/ or blobs/ directory (IW_EUNSAFE), a
 * missing model or projector blob (IW_ENOTFOUND).  Unknown media types and
 * missing blobs of other layers are warnings.  On failure *out is freed. */
int  iw_ollama_resolve(const iw_ollama_ref *ref, const char *root, iw_ollama_manifest *out);
void iw_ollama_manifest_free(iw_ollama_manifest *m);

/* First layer of kind k, or NULL. */
const iw_ollama_layer *iw_ollama_manifest_find(const iw_ollama_manifest *m, iw_ollama_layer_kind k);

/* True when dir has the manifests/ and blobs/ folders of an Ollama store. */
bool iw_ollama_is_store(const char *dir);

#define IW_OLLAMA_MAX_MODELS 100000   /* models listed from one store */

/* Every model of the store at root (NULL: default root), walking
 * manifests/<registry>/<namespace>/<name>/<tag>, as short references
 * (iw_ollama_ref_format: "qwen3:8b", "hf.co/org/Repo-GGUF:Q4_K_M") that
 * iw_ollama_extract accepts, sorted.  Paths whose components are not valid
 * names, hidden entries and non-files are skipped and counted in *skipped
 * (may be NULL).  IW_ELIMIT beyond IW_OLLAMA_MAX_MODELS. */
int iw_ollama_store_list(const char *root, iw_strlist *out, size_t *skipped);

/* sha256 of the file at path equals hex (64 lowercase hex): 0, IW_EVERIFY
 * naming the path and both digests, or an I/O error. */
int iw_ollama_verify_blob(const char *path, const char *hex);

typedef enum iw_ollama_check {
    IW_OLLAMA_BLOB_OK = 0,
    IW_OLLAMA_BLOB_MISSING,     /* not there, or unreadable */
    IW_OLLAMA_BLOB_CHANGED,     /* its sha256 is not the one in its name */
    IW_OLLAMA_BLOB_UNSAFE       /* it resolves outside the store's blobs/ */
} iw_ollama_check;

/* One blob checked: message is the one-line problem (NULL when OK). */
typedef void (*iw_ollama_check_fn)(iw_ollama_check status, const char *message, void *ctx);

/* Resolve ref and check every blob its manifest names -- each layer's
 * (model, projector, params, template, ...) and the config blob -- against
 * the sha256 in its name; fn (may be NULL) hears about each.  Returns a
 * resolution error as it is (fn not called), else the code of the first
 * problem (IW_ENOTFOUND missing, IW_EVERIFY changed, IW_EUNSAFE outside the
 * store) with that problem's message, else 0.  Reads whole blobs: as slow as
 * the disk. */
int iw_ollama_verify_model_each(const char *ref, const char *root, iw_ollama_check_fn fn, void *ctx);
/* The same without the per-blob report. */
int iw_ollama_verify_model(const char *ref, const char *root);

/* ---- architecture ------------------------------------------------------- */

/* Resolve `ref` (any spelling accepted by iw_ollama_parse_ref) in the store
 * at root (NULL: default root), parse the model GGUF blob(s) and the vision
 * projector through the GGUF reader (iw_gguf_to_arch), and read the params
 * blob.  Sets a->source = "ollama-store", adds sources "ollama:<ref>",
 * "gguf:<blob path>" (each GGUF blob) and "ollama-params:<blob path>",
 * a->ollama_num_ctx from params num_ctx (context_length stays the model's
 * trained context from GGUF) and a->ollama_params_json (the params blob
 * verbatim), kv_precision "fp16" when nothing else says (Ollama's default
 * KV cache) and kv_bytes_per_token, and stamps collected_at. */
int iw_ollama_extract(const char *ref, const char *root, iw_arch *a);

/* Map an Ollama /api/show answer (JSON text) into `a`: model_info (GGUF keys
 * with GGUF-typed values) and projector_info go through the same key mapping
 * as GGUF files (read through the getter GGUF headers are read with, no
 * GGUF is written); details.quantization_level labels the quantization,
 * parameters (the Modelfile-style "num_ctx 4096" lines) become
 * ollama_params_json (shaped like the params blob) and ollama_num_ctx.
 * kv_precision / kv_bytes_per_token as for iw_ollama_extract.  Sets
 * a->source = "ollama-api".  `what` names the answer in errors (a URL). */
int iw_ollama_show_to_arch(const char *json, size_t len, const char *what, iw_arch *a);

#ifdef __cplusplus
}
#endif
#endif
