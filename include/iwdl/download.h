/* download.h - transfer engine: fetch a repo snapshot into a destination.
 *
 * iw_download_repo() pins the revision to a commit, lists the repo, filters
 * with include/exclude globs and fetches the files over one libcurl multi
 * handle: up to `jobs` files at once; files of at least `split_min` bytes are
 * cut into ranges of about `chunk` bytes, handed out in file order into a
 * preallocated partial file by as many transfers per host as an adaptive
 * controller allows (8 at first, more while each step of connections raises
 * the aggregate rate, fewer on 429/503; at most `connections`), and when a
 * connection frees up the remaining range with the latest estimated finish
 * is split in two (never below IW_DL_MIN_SPLIT).
 * Every file is verified (sha256 for LFS files, git blob sha1 otherwise)
 * before it is renamed into place.  Partial data and the done ranges survive
 * kill -9 and are reused by the next run (see docs/download.md).
 */
#ifndef IWDL_DOWNLOAD_H
#define IWDL_DOWNLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hub.h"

#define IW_DL_DEFAULT_JOBS         8
#define IW_DL_DEFAULT_CONNECTIONS  32             /* per host, for the ranges of large files: the most the
                                                     adaptive count may reach (docs/download.md) */
#define IW_DL_MAX_CONNECTIONS      64             /* highest --connections accepted */
#define IW_DL_DEFAULT_SPLIT_MIN    (64ull << 20)  /* files >= 64 MiB use ranges */
#define IW_DL_MIN_SPLIT            (256ull << 10) /* never split a range below 256 KiB */
#define IW_DL_DEFAULT_CHUNK        (32ull << 20)  /* split files: ranges of ~32 MiB, in file order */
#define IW_DL_STATE_EVERY          (4ull << 20)   /* state rewritten every 4 MiB per file */
#define IW_DL_MAX_RETRIES          5              /* consecutive no-progress failures per range */
#define IW_DL_MAX_RETRY_AFTER_S    60             /* Retry-After is capped */

typedef enum iw_dl_layout {
    IW_DL_LAYOUT_PLAIN = 0,  /* <dest>/<path>, state under <dest>/.imageworks/ */
    IW_DL_LAYOUT_HF_CACHE    /* <cache>/models--org--name/{blobs,snapshots,refs}/ */
} iw_dl_layout;

typedef enum iw_dl_event_kind {
    IW_DL_EV_START = 0,     /* a file started (file, size) */
    IW_DL_EV_PROGRESS,      /* periodic: totals and active files (<= 4 per second) */
    IW_DL_EV_FILE_DONE,     /* a file verified and in place (or skipped) */
    IW_DL_EV_DONE,          /* whole run finished */
    IW_DL_EV_ERROR,         /* a file failed (message) */
    IW_DL_EV_VERIFY_RETRY   /* a file failed verification and is fetched once more (message) */
} iw_dl_event_kind;

typedef struct iw_dl_active {
    const char *path;
    uint64_t done, size;
    double   rate;          /* bytes/s over the last seconds */
    int      connections;
} iw_dl_active;

typedef struct iw_dl_event {
    iw_dl_event_kind kind;
    const char *path;       /* START, FILE_DONE, ERROR */
    uint64_t    size;       /* START, FILE_DONE */
    bool        skipped;    /* FILE_DONE: already present and verified */
    bool        reverified; /* FILE_DONE: verified on the second attempt (after VERIFY_RETRY) */
    const char *message;    /* ERROR, VERIFY_RETRY */
    uint64_t    total_done, total_size;
    double      rate, elapsed;
    const iw_dl_active *active; size_t n_active;   /* PROGRESS */
} iw_dl_event;

typedef void (*iw_dl_event_fn)(const iw_dl_event *ev, void *ud);

#define IW_DL_OPTIONS_VERSION 1

typedef struct iw_dl_options {
    unsigned    version;                /* IW_DL_OPTIONS_VERSION (set by iw_dl_options_init) */
    const char *revision;               /* NULL: "main" */
    const char *const *include; size_t n_include;
    const char *const *exclude; size_t n_exclude;
    iw_dl_layout layout;
    const char *dest;                   /* PLAIN: target dir (NULL: $IMAGEWORKS_MODEL_ROOT/<repo>);
                                           HF_CACHE: cache root (NULL: HF_HUB_CACHE or $HF_HOME/hub) */
    int      jobs;                      /* 0: 8 */
    int      connections;               /* 0: 32; most transfers open to one host for the
                                           ranges of large files; the engine starts with 8
                                           and adds more while they pay off (docs/download.md) */
    uint64_t split_min;                 /* 0: 64 MiB */
    uint64_t chunk;                     /* 0: 32 MiB; a split file is cut into ranges of this
                                           size (at least `connections`, at most 128), fetched
                                           in file order so hashing follows the download */
    long     retry_base_ms;             /* 0: 1000 (backoff 1,2,4,8,8 s) */
    iw_dl_event_fn on_event; void *ud;
    volatile int *cancel;               /* when *cancel != 0 the run stops, saves
                                           resume state and fails with "interrupted" */
} iw_dl_options;

typedef struct iw_dl_result {
    char     commit[41];
    char    *dest;          /* PLAIN: the directory; HF_CACHE: snapshots/<commit> */
    size_t   files, files_skipped, files_fetched;
    uint64_t bytes;         /* total size of the selected files */
    uint64_t bytes_fetched; /* bytes received this run */
    double   seconds;
    char   **paths;         /* repo paths of the selected files (n_paths) */
    size_t   n_paths;
} iw_dl_result;

void iw_dl_options_init(iw_dl_options *o);

/* Download repo; fills res (free with iw_dl_result_free).  On failure the
 * last error names the file and the cause; partial state stays resumable. */
int  iw_download_repo(iw_hub *hub, const char *repo, const iw_dl_options *o, iw_dl_result *res);
void iw_dl_result_free(iw_dl_result *res);

/* Default plain destination: $IMAGEWORKS_MODEL_ROOT/<owner>/<repo>
 * (root default ~/ai-models/weights). */
int iw_dl_default_dest(const char *repo, char **out);
/* Where the plain layout keeps its state for the install at dest (leaf
 * "manifest.json", "<hash>.part", ...): <parent>/.<name>.iwdl-<leaf>,
 * beside the folder, never in it (docs/download.md).  malloc'd. */
int iw_dl_state_path(const char *dest, const char *leaf, char **out);
/* HF cache root: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
int iw_dl_hf_cache_root(char **out);

/* Unpack a .tar/.tar.gz/.tgz/.zip archive into dir (created), refusing
 * entries that escape (.., absolute, symlinks pointing out, hardlinks,
 * devices) and capping totals.  The entries go to a fresh temp folder that
 * is moved to dir only when nothing exists there (IW_EEXISTS otherwise):
 * nothing is replaced or deleted, and nothing is left behind on refusal. */
#define IW_UNPACK_MAX_BYTES   (64ull << 30)
#define IW_UNPACK_MAX_ENTRIES 100000
int iw_unpack_archive(const char *archive, const char *dir);
/* Same with lower caps: max_bytes / max_entries of 0 (or above the
 * defaults) mean the defaults. */
int iw_unpack_archive_capped(const char *archive, const char *dir, uint64_t max_bytes, size_t max_entries);
/* True if the name ends in .tar, .tar.gz, .tgz or .zip; *stem_len = name
 * length without that extension. */
bool iw_is_archive_name(const char *name, size_t *stem_len);

/* The tool's state folder inside a plain destination. */
#define IW_DL_STATE_DIR ".imageworks"

/* Unpack the archives among a plain download's files (paths relative to
 * dest) into <dest>/<path without extension>/.  Everything is checked before
 * anything is unpacked; refused, naming the paths: a target with no name
 * (weights/.tar), one in the state folder (.imageworks.tar), two archives
 * with one target (a.tar, a.zip), and a target that exists and is not what
 * this function unpacked earlier from the same unchanged archive (that one
 * is skipped: fn gets already = true).  Each unpack is recorded beside the
 * install (iw_dl_state_path, "unpacked-<sha256>.json"), never inside it.
 * fn (may be NULL) hears of each archive. */
typedef void (*iw_unpack_fn)(const char *archive, const char *dir, bool already, void *ud);
int iw_unpack_download(const char *dest, char *const *paths, size_t n, uint64_t max_bytes, iw_unpack_fn fn, void *ud);

/* Hugging Face cache: is path <repo>/snapshots/<commit> of a models--,
 * datasets-- or spaces-- repo folder that has blobs/?  repo_dir (may be
 * NULL) receives the repo folder. */
bool iw_hf_cache_is_snapshot(const char *path, char *repo_dir, size_t n);

/* Delete that snapshot as `huggingface-cli delete-cache` deletes a revision:
 * the snapshot folder, the refs naming its commit, the blobs no other
 * snapshot links, its .no_exist markers, then the folders left empty (the
 * repo folder too).  out: bytes freed (blobs and copied files), counts. */
typedef struct iw_cache_freed {
    uint64_t bytes;
    size_t   blobs, blobs_kept, refs;
    bool     repo_removed;
} iw_cache_freed;
int iw_hf_cache_delete_snapshot(const char *snapshot, iw_cache_freed *out);

#endif
