/* provider.h - a model's files, wherever they are: the file-provider
 * interface iw_inspect (inspect.h) reads through.
 *
 * A provider lists a model's files and opens them for reads at offsets
 * (iw_source, reader.h), so the same pipeline reads a local folder, a Hub
 * repo by HTTP Range, Ollama's store or an Ollama server.  A caller may
 * write its own (an object store, a tarball): embed an iw_provider as the
 * first member of its own struct, set version to IW_PROVIDER_VERSION and the
 * operations, and free everything in free().
 */
#ifndef IWDL_PROVIDER_H
#define IWDL_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch.h"
#include "buf.h"
#include "reader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a listed file is, when the provider knows (Ollama's manifest names
 * each layer's media type).  IW_FILE_BY_NAME: the pipeline decides from the
 * name (config.json, *.safetensors, *.gguf, mmproj*.gguf, ...). */
typedef enum iw_file_role {
    IW_FILE_BY_NAME = 0,
    IW_FILE_GGUF_MODEL,        /* GGUF weights */
    IW_FILE_GGUF_PROJECTOR,    /* GGUF vision projector */
    IW_FILE_GGUF_ADAPTER,      /* LoRA adapter: noted, not read */
    IW_FILE_OLLAMA_PARAMS,     /* Ollama params blob (JSON options: num_ctx, stop, ...) */
    IW_FILE_OLLAMA_SHOW,       /* an Ollama POST /api/show answer */
    IW_FILE_OTHER              /* known and not needed (template, license, ...) */
} iw_file_role;

typedef struct iw_file {
    char        *path;     /* the provider's name for it, '/'-separated: "config.json", "Q4_K_M/x.gguf" */
    char        *label;    /* short name in warnings, or NULL: the last path component */
    uint64_t     size;     /* IW_SIZE_UNKNOWN when not known */
    iw_file_role role;
} iw_file;

typedef struct iw_file_list {
    iw_file   *v;
    size_t     n, cap;
    iw_strlist sources;    /* what the provider consulted besides the files ("ollama:tiny:latest") */
    iw_strlist warnings;   /* what it noticed while listing (a manifest's unknown media type) */
} iw_file_list;

/* Copies path and label (label may be NULL). */
int  iw_file_list_add(iw_file_list *l, const char *path, const char *label, uint64_t size, iw_file_role role);
void iw_file_list_free(iw_file_list *l);     /* leaves it empty */

#define IW_PROVIDER_VERSION 1

typedef struct iw_provider iw_provider;
struct iw_provider {
    unsigned    version;      /* IW_PROVIDER_VERSION */
    const char *name;         /* the model as the user named it: a folder, a file, "org/name", "tiny:latest" */
    const char *focus;        /* one file the user named (its path as listed), or NULL: the whole model */
    const char *engine;       /* "ollama" when Ollama runs these files (its KV default is named), or NULL */
    const char *source;       /* a->source to record ("ollama-store"), or NULL: what was read decides */
    bool        name_sizes;   /* name carries a model name whose size ("7B") is checked against the count */
    int64_t     transferred;  /* bytes moved over the network so far, IW_UNKNOWN when not counted */

    /* The model's files: a folder's own files (a remote repo: every path). */
    int  (*list)(iw_provider *p, iw_file_list *out);
    /* One file by path (an index's shard, a split set's sibling):
     * 0 with *size (IW_SIZE_UNKNOWN when not known), or IW_ENOTFOUND. */
    int  (*stat)(iw_provider *p, const char *path, uint64_t *size);
    /* Open a file for reads at offsets (iw_source_close releases it). */
    int  (*open)(iw_provider *p, const char *path, iw_source *out);
    /* How sources and messages name a file: "<folder>/config.json",
     * "org/name/config.json", "/store/blobs/sha256-..." (malloc'd). */
    int  (*cite)(iw_provider *p, const char *path, char **out);
    /* Optional: read a whole small file (at most max bytes) into out
     * (initialised here); NULL: open + read. */
    int  (*read)(iw_provider *p, const char *path, size_t max, iw_buf *out);
    void (*free)(iw_provider *p);
};

void iw_provider_free(iw_provider *p);

/* p->cite(path) as a string (malloc'd), or NULL with the error set. */
char *iw_provider_cite(iw_provider *p, const char *path);

/* Read a whole small file of p (at most max bytes, out initialised here):
 * p->read when it has one, else p->stat + p->open.  IW_ELIMIT over max. */
int  iw_provider_read(iw_provider *p, const char *path, size_t max, iw_buf *out);

#ifdef __cplusplus
}
#endif
#endif
