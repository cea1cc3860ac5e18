/* catalog.h - the steps that tie inspection, the registry, the estimator and
 * the downloader together: what the commands of imageworks-download do
 * beyond parsing arguments and printing (docs/library.md, "Catalog").
 *
 * src/catalog is the one module allowed to link extract, registry, estimate
 * and downloader; the four never link each other (docs/architecture.md).
 * Like the rest of the library it never prints: each step hands its caller
 * results in structs, and the caller decides what to show.
 */
#ifndef IWDL_CATALOG_H
#define IWDL_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- scan: register the installs found under a folder ---------------- */

#define IW_SCAN_MAX_FILES 100000   /* files listed per install */
#define IW_SCAN_MAX_DEPTH 8        /* folder depth listed per install */

#define IW_SCAN_OPTS_VERSION 1
typedef struct iw_scan_opts {
    unsigned    version;    /* IW_SCAN_OPTS_VERSION (iw_opts_version_check, error.h) */
    const char *backend;    /* backend of new entries: NULL = vllm (llama.cpp for GGUF) */
    const char *location;   /* download_location: NULL = linux_wsl */
    bool        hash;       /* record the sha256 of every file */
    bool        dry_run;    /* report what would be registered, write nothing */
} iw_scan_opts;
#define IW_SCAN_OPTS_INIT { IW_SCAN_OPTS_VERSION, NULL, NULL, false, false }

typedef enum iw_scan_kind {
    IW_SCAN_WOULD_REGISTER, /* dry run: path, repo + n_files, or store (an Ollama model) */
    IW_SCAN_REGISTERED,     /* path, name, unchanged (Ollama models only) */
    IW_SCAN_FAILED,         /* message: one line naming what and where */
    IW_SCAN_NOTE            /* message: one line about the whole scan */
} iw_scan_kind;

/* One result, handed to the caller as it happens (borrowed: valid during
 * the callback).  An Ollama model's path is "ollama:/NAME:TAG". */
typedef struct iw_scan_result {
    iw_scan_kind kind;
    const char  *path;      /* the install (WOULD_REGISTER, REGISTERED) */
    const char  *repo;      /* its repo id (WOULD_REGISTER of a folder or file) */
    size_t       n_files;   /* its files (WOULD_REGISTER of a folder or file) */
    const char  *store;     /* the Ollama store it is in (Ollama models), else NULL */
    const char  *name;      /* the entry's name (REGISTERED) */
    bool         unchanged; /* REGISTERED: the entry already said so (Ollama models) */
    const char  *message;   /* FAILED, NOTE */
} iw_scan_result;

typedef void (*iw_scan_fn)(const iw_scan_result *res, void *ud);

typedef struct iw_scan_stats { size_t found, registered, failed; } iw_scan_stats;

/* Find the model installs under dir and register them (discovered layer)
 * in the registry at registry_dir (NULL: the default, iw_registry_open), reading each one's architecture from its files: Hugging Face cache
 * snapshots, DIR/<owner>/<repo>/ and DIR/<repo>/ folders, loose GGUF files
 * (one entry each), or an Ollama store (dir, or dir/models).  An install
 * already registered at the same path is updated.  fn (may be NULL) gets
 * every result in order; st the counts.  Fails only when dir is not a
 * folder, the registry cannot be opened or opts is unreadable: one
 * install's failure is a result. */
int iw_catalog_scan(const char *registry_dir, const char *dir, const iw_scan_opts *opts,
                    iw_scan_fn fn, void *ud, iw_scan_stats *st);

#ifdef __cplusplus
}
#endif

#endif
