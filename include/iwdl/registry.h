/* registry.h - the imageworks model registry (docs/registry.md).
 *
 * Three files in the registry directory (IMAGEWORKS_REGISTRY_DIR, else
 * $XDG_CONFIG_HOME/imageworks, else ~/.config/imageworks):
 *   model_registry.curated.json     hand-edited; an entry is rewritten only to
 *                                   change a value it holds (migrate, reconcile,
 *                                   iw_registry_upsert_both) and by
 *                                   iw_registry_remove(.., from_curated=true)
 *                                   (created as [] by the first write when absent)
 *   model_registry.discovered.json  what this tool writes
 *   model_registry.json             merged snapshot: discovered as base,
 *                                   curated deep-merged over it (curated
 *                                   wins, curated nulls skipped), printed
 *                                   exactly as the original's Python does
 *                                   (json.dumps(indent=2) + "\n")
 * Each is a JSON array of objects with a unique string "name".  A file is
 * validated and indexed by a scanner that builds no tree; an entry becomes a
 * cJSON object only when asked for.  Entry changes (upsert, remove,
 * register) print only the entries they change and copy every other byte of
 * the file; whole-array changes (iw_registry_update) print the file whole.
 * Either way keys this tool does not know survive every rewrite.
 *
 * Every change: exclusive fcntl lock on model_registry.lock, re-read of the
 * files under the lock, the edit, then: a temp file for each file touched,
 * fsync of all of them, for each a hard-link backup of the previous version
 * (model_registry[.layer].YYYYmmdd-HHMMSS.iwdl.bak.json, newest
 * IW_REGISTRY_BACKUPS of ours kept, the original's *.bak.json never
 * touched, pruned after the lock is released) + rename,
 * and one fsync of the directory.  A file that
 * does not parse, is not an array of objects with string names, or repeats a
 * name is refused ("<file>:<line>:<col>: ...") and never overwritten.
 *
 * fcntl locks are per process: a handle is not thread-safe, and threads of
 * one process must serialise their changes themselves.
 *
 * Caps: each registry file at most IW_REGISTRY_MAX_BYTES; lock wait
 * IW_REGISTRY_LOCK_TIMEOUT_MS.  Test-only: IW_TEST_PAUSE_BEFORE_RENAME_MS
 * (milliseconds, <= 60000) sleeps between the temp write and the rename so
 * tests can kill a writer at that point.
 */
#ifndef IWDL_REGISTRY_H
#define IWDL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch.h"
#include "json.h"

#define IW_REGISTRY_MAX_BYTES        (512u * 1024u * 1024u)
#define IW_REGISTRY_BACKUPS          5
#define IW_REGISTRY_LOCK_TIMEOUT_MS  120000
#define IW_REGISTRY_MAX_NAME         256

typedef enum iw_reg_layer {
    IW_REG_CURATED = 0,
    IW_REG_DISCOVERED = 1,
    IW_REG_MERGED = 2
} iw_reg_layer;

typedef struct iw_registry iw_registry;

/* Resolve the registry directory (malloc'd). */
int  iw_registry_default_dir(char **out);

/* Open (dir NULL = default) and load.  Missing files are empty layers (the
 * directory is created on the first write).  A legacy registry with only
 * model_registry.json loads it as the discovered layer. */
int  iw_registry_open(iw_registry **out, const char *dir);
void iw_registry_close(iw_registry *r);
const char *iw_registry_dir(const iw_registry *r);
/* Path of a layer's file (static per registry, valid until close). */
const char *iw_registry_path(const iw_registry *r, iw_reg_layer layer);

/* The layer's array (owned by r; valid until the next update).
 * Parses every entry not parsed yet: list-style callers only; look single
 * entries up with iw_registry_get.  NULL when out of memory. */
const cJSON *iw_registry_entries(const iw_registry *r, iw_reg_layer layer);
/* Entry by name in the merged view (or a layer); NULL when absent.  Only
 * that entry is parsed (owned by r; valid until the next update). */
const cJSON *iw_registry_get(const iw_registry *r, const char *name);
const cJSON *iw_registry_get_layer(const iw_registry *r, iw_reg_layer layer, const char *name);

/* Transaction: under the lock, after re-reading, fn edits the arrays in
 * place and returns a mask of layers it changed ((1<<IW_REG_DISCOVERED) |
 * (1<<IW_REG_CURATED)), 0 for no change (nothing written), or a negative
 * error (nothing written, the error returned).  The merged snapshot is
 * rewritten whenever a layer changed.  Returns the mask or a negative code. */
typedef int (*iw_registry_txn_fn)(cJSON *discovered, cJSON *curated, void *ctx);
int  iw_registry_update(iw_registry *r, iw_registry_txn_fn fn, void *ctx);

/* Upsert of one discovered entry: fn gets the entry (created as
 * {"name": name} when absent; is_new tells) and returns 1 changed, 0
 * unchanged, <0 error.  Returns 1/0 or a negative code. */
typedef int (*iw_registry_entry_fn)(cJSON *entry, bool is_new, void *ctx);
int  iw_registry_upsert(iw_registry *r, const char *name, iw_registry_entry_fn fn, void *ctx);

/* Upsert of `name` where the merged view reads it: fn is called on the
 * discovered entry (created as {"name": name} when absent; is_new tells)
 * with curated false, then, when the curated layer has an entry of that
 * name, on that entry with curated true.  Curated values win in the merged
 * view (the original's merge), so a change to a value the curated entry
 * holds must be made there; fn should change only the keys a curated entry
 * already holds (the rest of the curated entry is the user's).  fn returns
 * 1 changed, 0 unchanged, <0 error.  *curated_changed (optional) tells
 * whether the curated file was rewritten.  Returns 1/0 or a negative code. */
typedef int (*iw_registry_layer_fn)(cJSON *entry, bool is_new, bool curated, void *ctx);
int  iw_registry_upsert_both(iw_registry *r, const char *name, iw_registry_layer_fn fn, void *ctx,
                             bool *curated_changed);

/* An estimate's launch (`estimate --apply`) written into entry `name` with
 * iw_registry_upsert_both: in backend_config.extra_args the flags the
 * estimate decides for `backend` ("vllm", "llama.cpp", "ollama"; the
 * context, sequences, memory share, KV type, parallelism, offload) are
 * replaced by `args`, any other flag only when args sets it again, and the
 * user's other flags stay; for Ollama generation_defaults.context_window
 * becomes `context`.  The curated entry gets only keys it already holds.
 * Returns 1/0 or a negative code; *curated_changed as upsert_both. */
int  iw_registry_apply_launch(iw_registry *r, const char *name, const char *backend, const iw_strlist *args,
                              int64_t context, bool *curated_changed);

/* Remove `name` from discovered, and from curated when from_curated.
 * IW_ENOTFOUND when no layer touched holds it. */
int  iw_registry_remove(iw_registry *r, const char *name, bool from_curated);

/* Merged view of two layers, the original's _merge_layered_fragments:
 * discovered as base, each curated entry deep-merged over the entry of the
 * same name (objects merge key by key, other values replace, curated nulls
 * are skipped, new keys go last); curated-only entries are appended as they
 * are (docs/registry.md).  New array (caller owns) or NULL on ENOMEM. */
cJSON *iw_registry_merge(const cJSON *discovered, const cJSON *curated);

/* Validate a parsed registry array (array of objects with unique string
 * names).  `text` (the file text, may be NULL) locates the offending entry
 * as line:col in the error, which names `what`. */
int  iw_registry_validate(const cJSON *arr, const char *text, size_t len, const char *what);

/* ---- names --------------------------------------------------------- */

/* This tool's slug for Ollama models and lone GGUF files (HF installs use
 * iw_registry_original_slug): "<family minus quant tokens>[_<N>b]_(<QUANT>)",
 * e.g. "qwen2.5-vl-7b-instruct_(AWQ)", "qwen3_8b_(Q4_K_M)".  repo may be
 * "owner/name" or "name"; quant_label NULL/"" = no suffix; params_total
 * IW_UNKNOWN = no size suffix.  Result malloc'd. */
int  iw_registry_slug(const char *repo, const char *quant_label, int64_t params_total, char **out);

/* Short quantization label for names and the entry's "quantization": the
 * method upper-cased for awq/gptq/fp8/mxfp4/exl2/hqq/aqlm/eetq/nvfp4 ("AWQ"),
 * else quantization.label ("Q4_K_M"), else the method upper-cased, else the
 * dtype ("BF16", "FP16", "FP32"); NULL if none. */
const char *iw_registry_quant_label(const iw_arch *a, char *buf, size_t bufsz);

/* The original's name for a new install (simplified_naming.py::
 * simplified_slug_for_fields with the family download_adapter.py::
 * _infer_family derives from the HF id): "<family minus quant tokens>"
 * [" <N>b" when the family names a size it lost], then "_(<QUANT>)" with
 * the quantization's '_' and '-' as '_', upper case ("gptq-int4" ->
 * "(GPTQ_INT4)"); no suffix for a missing or "unknown" quantization.
 * repo: "owner/name" or a bare name.  Result malloc'd. */
int  iw_registry_original_slug(const char *repo, const char *quantization, char **out);

/* ---- register a download --------------------------------------------- */

typedef struct iw_reg_file iw_reg_file;

/* The quantization label the original writes for the install in dir
 * (format_utils.py::detect_format_and_quant: "gptq-int4", "awq",
 * "awq-w4g128", "fp8", "mxfp4", "int4", "bitsandbytes", "q4_k_m", "fp16",
 * "bf16", ...), from its config files, the file names (files, relative to
 * dir) and, for GGUF, the record's type.  1 and buf set, or 0 when it
 * finds none. */
int  iw_registry_original_quant(const char *dir, const iw_reg_file *files, size_t n, const iw_arch *a,
                                char *buf, size_t bufsz);

struct iw_reg_file {
    const char *path;      /* relative to dest_path */
    const char *sha256;    /* lowercase hex, or NULL when not hashed */
    uint64_t    size;
};

typedef struct iw_reg_download {
    const char *repo_id;       /* "owner/name" */
    const char *revision;      /* requested revision or NULL */
    const char *commit;        /* resolved commit or NULL */
    const char *dest_path;     /* absolute install folder (or the file for a lone GGUF) */
    const iw_reg_file *files;
    size_t      n_files;
    const char *format;        /* "safetensors" | "gguf" | ...; NULL = from the files */
    const iw_arch *arch;       /* extracted record or NULL */
    const char *backend;       /* NULL = vllm for safetensors, llama.cpp for gguf */
    const char *name;          /* NULL = slug */
    const char *slug_from;     /* build the slug from this instead of repo_id (a GGUF file name); NULL = repo_id */
    const char *location;      /* download_location; NULL = "linux_wsl" */
} iw_reg_download;

/* Create or update the discovered entry for a download (see docs/registry.md
 * for every key written).  *name_out (optional, malloc'd) gets the name used. */
int  iw_registry_register_download(iw_registry *r, const iw_reg_download *d, char **name_out);

/* The original's formulas (docs/registry.md), so its duplicate-identity
 * check (backend, path, checksum) matches our entries:
 * artifacts.aggregate_sha256 (hashing.py): sha256 of the sorted
 * "<sha>  <rel>" lines joined by "\n" ("" when nothing was hashed);
 * download_directory_checksum (download_adapter.py): first 16 hex of the
 * sha256 over "<rel><size>" of each file in sorted path order (component
 * by component, as Python sorts paths).  The _path form walks a folder as
 * the original does (every regular file, hidden ones too, symlinked
 * folders not entered; a file or missing path: sha256 of nothing, or ""). */
int  iw_registry_aggregate_sha256(const iw_reg_file *files, size_t n, char out[65]);
int  iw_registry_dir_checksum(const iw_reg_file *files, size_t n, char out[17]);
int  iw_registry_dir_checksum_path(const char *dir, char out[17]);

/* Default port for a backend: vllm 24001, ollama 11434, else 8000. */
int  iw_registry_default_port(const char *backend);

/* ISO-8601 UTC "YYYY-mm-ddTHH:MM:SS.ffffff+00:00" (the original's format),
 * of now or of a time in seconds and microseconds since the epoch. */
void iw_registry_now_iso(char out[40]);
void iw_registry_iso_time(int64_t sec, long usec, char out[40]);

/* ---- Ollama models ------------------------------------------------------ */

/* served_model_id of an Ollama entry (backend "ollama"), or NULL when it has
 * none (the original writes the string "None"). */
const char *iw_registry_ollama_served_id(const cJSON *e);

/* Is registry entry e an Ollama model?  True when its download_path is an
 * ollama: reference, or its backend is "ollama" and it has a
 * served_model_id.  *ref is the reference to try first (download_path when
 * it is one, else served_model_id); *alt (may be NULL) the served_model_id
 * when it names another reference, to try when *ref is not found. */
bool iw_registry_ollama_refs(const cJSON *e, const char **ref, const char **alt);

typedef struct iw_reg_ollama {
    const char    *ref;          /* the model, any spelling of ollama_ref.h */
    const iw_arch *arch;         /* its extracted record */
    int64_t        size;         /* bytes of its blobs, IW_UNKNOWN when not known */
    int64_t        pulled_sec;   /* when it was pulled (its manifest's mtime), 0 when not known */
    long           pulled_usec;
    const char    *location;     /* download_location of a new entry; NULL = "linux_wsl" */
} iw_reg_ollama;

/* Register (or update) the discovered entry of an Ollama model, in the
 * shape the original's importer (scripts/import_ollama_models.py) writes:
 * backend "ollama", download_path "ollama:/<name:tag>", served_model_id
 * "<name:tag>", source_provider "ollama", download_format "gguf".  An entry
 * that already names the same model (by download_path or served_model_id,
 * in either layer; names compare without case, as Ollama's do) is updated
 * in place: metadata.architecture, the size, and only the keys it lacks.  A
 * curated entry naming it gets a thin discovered entry of its name carrying
 * the architecture.  *name_out (malloc'd) the entry's name; *changed false
 * when nothing had to be written. */
int iw_registry_register_ollama(iw_registry *r, const iw_reg_ollama *o, char **name_out, bool *changed);

/* ---- migrate-architecture -------------------------------------------- */

/* Extraction callback (the CLI passes iw_extract_path): fill the
 * initialised `out` for the install at `path`; <0 with iw_error set on failure. */
typedef int (*iw_registry_extract_fn)(const char *path, iw_arch *out, void *ctx);

#define IW_MIGRATE_OPTS_VERSION 1

typedef struct iw_migrate_opts {
    unsigned version; /* IW_MIGRATE_OPTS_VERSION (iw_opts_version_check, error.h) */
    bool dry_run;     /* compute and report, write nothing */
    bool force;       /* rewrite even when only collected_at would change */
    long limit;       /* process at most this many installs; <= 0 = all */
    /* optional: called before each extraction (done = installs finished so far) */
    void (*progress)(size_t done, size_t total, const char *name, void *ctx);
    void *progress_ctx;
    /* optional: recomputes kv_bytes_per_token* of a record (the CLI passes
     * iw_kv_per_token) after migrate kept an entry's own kv_precision over an
     * extraction default; NULL: those figures are left out then */
    int (*kv_recompute)(iw_arch *a);
} iw_migrate_opts;

#define IW_MIGRATE_OPTS_INIT { IW_MIGRATE_OPTS_VERSION, false, false, 0, NULL, NULL, NULL }

typedef struct iw_migrate_report {
    size_t candidates;  /* entries with a local download_path, and Ollama models */
    size_t updated, unchanged, failed, skipped;
    cJSON *changes;     /* array of {name, status, before, after, error?} (caller frees) */
} iw_migrate_report;

/* For each entry with a local download_path, and each Ollama model (an
 * ollama: download_path, or backend "ollama" with a served_model_id: fn gets
 * "ollama:<served_model_id>" when the download_path is null or a URL, and is
 * called again with it when the download_path fails with IW_ENOTFOUND or
 * IW_EINVAL), run fn and write
 * metadata.architecture = iw_arch_to_json_keep(new, old) into the discovered
 * layer: runtime, manual (unknown) keys and the "runtime-log" source are
 * kept; so is a kv_precision the entry has (set by the user or the original,
 * not one of this tool's "default:" values) when the extraction only
 * defaulted it, and an entry the original wrote (its field_sources in the
 * "config:/path/config.json" form) gets its config sources in that form.  An entry whose record is unchanged apart from collected_at is left
 * alone (idempotent) unless opts->force.  A failed extraction records the
 * warning "migrate: <error>" in the entry's metadata.architecture.warnings
 * and the run continues.  When the curated entry holds a
 * metadata.architecture of its own (which the merged view shows), the new
 * record is written there too; curated metadata.architecture_override is
 * merged over every record written.  Extraction runs outside the lock; all
 * changes are applied in one locked transaction against a fresh re-read. */
int iw_registry_migrate(iw_registry *r, iw_registry_extract_fn fn, void *ctx,
                        const iw_migrate_opts *opts, iw_migrate_report *rep);

/* ---- reconcile-architecture ------------------------------------------ */

#define IW_METRICS_MAX_LINE   (1u << 20)     /* longer lines count as malformed */
#define IW_METRICS_MAX_MODELS 1000000

#define IW_RECONCILE_MAX_BAD  20           /* malformed lines named in the report */

typedef struct iw_reconcile_report {
    size_t lines, malformed, models, updated, unchanged, unknown;
    bool   missing_file;
    /* the first IW_RECONCILE_MAX_BAD malformed lines (malformed counts all):
     * line number (1-based) and what is wrong with it */
    struct { size_t line; char why[64]; } bad[IW_RECONCILE_MAX_BAD];
    size_t n_bad;
    cJSON *changes;     /* array of {name, status, before, after} (caller frees) */
    cJSON *unknown_models; /* array of model names not in the registry */
} iw_reconcile_report;

/* Default log path: IMAGEWORKS_METRICS_LOG or logs/model_loader_metrics.jsonl. */
const char *iw_registry_default_metrics_log(void);

/* Read the vLLM manager's JSONL log; the newest line per model (by
 * timestamp, ties by line order) becomes metadata.architecture.runtime =
 * {<payload.metrics...>, extra_args_snapshot, observed_at, source:
 * payload.source or "runtime-log" (the original's), log: {file, line}} of
 * the discovered entry (and of the curated record when the curated entry
 * has one), and "runtime-log" is added to metadata.architecture.sources.  Malformed lines (not JSON, no string
 * model/timestamp, unparseable timestamp, payload not an object) and models
 * not in the registry are counted, never fatal (the first malformed ones are
 * named in rep->bad); a missing file sets
 * missing_file and returns 0.  A second run changes nothing. */
int iw_registry_reconcile(iw_registry *r, const char *log_path, bool dry_run, iw_reconcile_report *rep);

/* ---- measured starts from engine logs (--engine-log) ------------------ */

#define IW_MEASURED_STARTS_MAX 8   /* starts kept per model, newest first */

typedef struct iw_engine_reconcile_report {
    size_t files, lines, long_lines, starts;   /* read */
    size_t stored, unchanged, skipped;         /* per start: kept new; already stored or older than the
                                                  IW_MEASURED_STARTS_MAX kept; matching no or several entries */
    cJSON *changes;   /* array of {name, start} stored (caller frees) */
    cJSON *skipped_starts; /* array of {file, line, model, reason} (caller frees) */
} iw_engine_reconcile_report;

/* Read engine start-up logs (iw_engine_log_read, enginelog.h) and store each
 * start-up in metadata.architecture.measured_starts of the registry entry it
 * belongs to (discovered layer; newest first by observed_at, then by line;
 * at most IW_MEASURED_STARTS_MAX; an identical start already stored is
 * left alone, so a second run changes nothing).  A start-up belongs to
 * `name` when given (it must exist), else to the one entry whose name,
 * served_model_id, metadata.hf_repo_id, download_path or
 * backend_config.model_path is the log's served name or model (a model
 * file inside a download_path folder counts); starts that match no entry or
 * several are skipped and listed.  observed_at is the log's own timestamp
 * when it prints full ones (Ollama), else the log file's modification time
 * (observed_from says which).  Every log is read before anything is written;
 * a log that cannot be read fails the whole call. */
int iw_registry_reconcile_engine_logs(iw_registry *r, const char *const *paths, size_t n_paths, const char *name,
                                      bool dry_run, iw_engine_reconcile_report *rep);

/* Seconds since the epoch -> "YYYY-mm-ddTHH:MM:SS.ffffff+00:00". */
void iw_registry_time_iso(int64_t sec, int32_t usec, char out[40]);

/* Parse an ISO-8601 timestamp ("2025-11-06T22:32:45.240601+00:00", "...Z",
 * no zone = UTC) to seconds since the epoch with microseconds. */
int iw_parse_iso8601(const char *s, int64_t *sec, int32_t *usec);

#endif
