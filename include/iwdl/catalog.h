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
#include "arch.h"
#include "download.h"
#include "estimate.h"
#include "hub.h"
#include "inspect.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;
typedef struct iw_registry iw_registry;   /* registry.h */

/* ---- what a user named: the model to read ---------------------------- */

/* A Hub repo id: "org/name" that is not an existing local path nor an
 * ollama: reference. */
bool iw_catalog_is_repo_id(const char *s);

/* The file provider (for iw_inspect, inspect.h) of what a user named:
 *   ollama:NAME[:TAG]   Ollama's store, then the server when OLLAMA_HOST is set
 *   org/name            a Hub repo by HTTP Range (headers only) at revision
 *   anything else       a local folder or .gguf / .safetensors file */
int iw_catalog_provider(const char *target, const char *revision, iw_provider **out);

/* iw_catalog_provider + iw_inspect.  *transferred (may be NULL): bytes a
 * remote repo moved, -1 for anything else. */
int iw_catalog_inspect(const char *target, const char *revision, const iw_inspect_opts *o, iw_arch *a,
                       int64_t *transferred);

/* Is the model of registry entry e on this machine?  An Ollama entry: its
 * manifest resolves in the store ($OLLAMA_MODELS or the default); any other:
 * its download_path exists.  Entries without a path are not installed. */
bool iw_catalog_entry_installed(const struct cJSON *e);

/* Has registry entry e been validated (metadata.architecture.validated true,
 * see iw_catalog_validate)? */
bool iw_catalog_entry_validated(const struct cJSON *e);


/* ---- the registry as rows (list --json, serve's GET /models) ---------- */

/* `list --json`: one row per merged entry (docs/registry.md): name,
 * display_name, backend, format, quantization, location, installed,
 * validated, size_bytes, roles, family, logical_only, served_model_id,
 * deprecated, capabilities, producer.  NULL when out of memory. */
struct cJSON *iw_catalog_list_rows(const iw_registry *reg);

/* Filters of the models listing: each NULL or "" lets every row through,
 * else the row's value must equal it (ASCII case ignored). */
typedef struct iw_models_filter {
    const char *format, *quantization, *backend;
} iw_models_filter;

/* GET /models (docs/api.md): {"models": [{name, display_name, backend,
 * format, quantization, parameters, context_length, size_bytes, installed,
 * validated, has_architecture}], "count"} for the entries f lets through
 * (f may be NULL).  NULL when out of memory. */
struct cJSON *iw_catalog_models(const iw_registry *reg, const iw_models_filter *f);

/* The same answer kept between calls, for a server: rebuilt when a file of
 * the registry changes (inode, size, mtime) and at least every
 * IW_MODELS_CACHE_TTL_MS, so `installed` follows installs that appear or
 * vanish; when only the time ran out one caller rebuilds while the others
 * answer from the rows they have.  Safe to call from many threads. */
#define IW_MODELS_CACHE_TTL_MS 2000
typedef struct iw_models_cache iw_models_cache;
int  iw_catalog_models_cache_new(iw_models_cache **out, const char *registry_dir);   /* opens the registry once */
void iw_catalog_models_cache_free(iw_models_cache *c);
const char *iw_catalog_models_cache_dir(const iw_models_cache *c);   /* the registry folder */
/* The answer as JSON text (malloc'd, the caller frees) in *json. */
int  iw_catalog_models_cached(iw_models_cache *c, const iw_models_filter *f, char **json);


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

/* ---- a download's registration -------------------------------------- */

#define IW_DL_REGISTER_MANIFEST_CAP (64u << 20)          /* the downloader's manifest.json */
#define IW_DL_REGISTER_REHASH_CAP   ((uint64_t)64 << 20)  /* files hashed when no sha256 is recorded */

#define IW_DL_REGISTER_OPTS_VERSION 1
typedef struct iw_dl_register_opts {
    unsigned    version;       /* IW_DL_REGISTER_OPTS_VERSION */
    const char *registry_dir;  /* NULL: the default registry */
    const char *repo, *revision, *name, *backend;
    const char *support_dir;   /* folder holding the support repo's files, or NULL */
    const char *support_id;    /* its repo id */
    const char *support_note;  /* why that support repo was used (base model), recorded as a warning; or NULL */
} iw_dl_register_opts;
#define IW_DL_REGISTER_OPTS_INIT { IW_DL_REGISTER_OPTS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL }

/* What a registration did, for the caller to show (set up with
 * iw_dl_registration_init, released with iw_dl_registration_free). */
typedef struct iw_dl_registration {
    char       *name;               /* the entry's name (on success) */
    iw_arch     arch;               /* the architecture recorded, its warnings included */
    bool        have_arch;          /* it was read from the files */
    char       *arch_error;         /* why it could not be (the entry then records a warning), or NULL */
    char       *manifest_warning;   /* the manifest was unreadable (sizes and hashes read from the files), or NULL */
    const char *failed_at;          /* on failure: "register", "registry" or the file's repo path */
} iw_dl_registration;

void iw_dl_registration_init(iw_dl_registration *g);
void iw_dl_registration_free(iw_dl_registration *g);

/* After iw_download_repo: read the architecture of what arrived at r->dest
 * (an unreadable one is a warning on the entry, not a failure), each file's
 * size and sha256 (the downloader's manifest, an HF cache blob name, else
 * hashing files up to IW_DL_REGISTER_REHASH_CAP), and create or update the
 * registry entry (iw_registry_register_download).  g must be initialised;
 * it is filled also on failure (failed_at names the step). */
int iw_catalog_register_download(const iw_dl_result *r, const iw_dl_register_opts *o, iw_dl_registration *g);

/* ---- a download's support repo -------------------------------------- *
 * The config and tokenizer files (never weights) of another repo, in the HF
 * cache, for the architecture of a download that lacks them (a GGUF or an
 * adapter repo).  With support_repo that repo; without, when the download
 * has no top-level config.json, its base model: the model card's
 * base_model, then the _name_or_path / base_model_name_or_path of its
 * top-level *config.json files, the first that can be fetched. */

#define IW_SUPPORT_OPTS_VERSION 1
typedef struct iw_support_opts {
    unsigned       version;        /* IW_SUPPORT_OPTS_VERSION */
    const char    *support_repo;   /* the repo to fetch; NULL: look for the base model */
    iw_dl_event_fn on_event;       /* the support download's progress (as iw_dl_options) */
    void          *ud;             /* for the three callbacks */
    /* a warning about the search, as it happens (one line; may be NULL) */
    void (*on_note)(const char *msg, void *ud);
    /* a support repo arrived (r->dest its folder, r->files its count; may be NULL) */
    void (*on_fetched)(const char *id, const iw_dl_result *r, void *ud);
} iw_support_opts;
#define IW_SUPPORT_OPTS_INIT { IW_SUPPORT_OPTS_VERSION, NULL, NULL, NULL, NULL, NULL }

/* What was fetched (all NULL when nothing was): for iw_dl_register_opts's
 * support_id, support_dir and support_note. */
typedef struct iw_support { char *id, *dir, *note; } iw_support;
void iw_support_free(iw_support *s);

/* After iw_download_repo of repo (r): the support repo, if any.  Fails only
 * when the named support_repo cannot be fetched; a base model that cannot be
 * found or fetched is a note, and out stays empty. */
int iw_catalog_support(iw_hub *hub, const char *repo, const iw_dl_result *r, const iw_support_opts *o,
                       iw_support *out);

/* ---- remove: an entry's install deleted ------------------------------- */

/* Why the install of registry entry e must not be deleted, one phrase
 * ("download_path is a top-level folder", "another entry uses the same
 * download_path", ...), or NULL when it may be: refused for no path,
 * ollama: references, relative paths, '/' and top-level folders, '.' or '..'
 * components, the home folder, and a path another entry of reg uses. */
const char *iw_catalog_delete_refusal(const iw_registry *reg, const struct cJSON *e);

typedef struct iw_install_deleted {
    bool           gone_already;  /* nothing was there */
    bool           snapshot;      /* a Hugging Face cache snapshot: cache says what went */
    iw_cache_freed cache;
    uint64_t       bytes;         /* a folder: bytes of the files deleted */
} iw_install_deleted;

/* A file or folder that could not be deleted (why: strerror's text). */
typedef void (*iw_undeleted_fn)(const char *path, const char *why, void *ud);

/* Delete the install at path (after iw_catalog_delete_refusal said it may
 * be): a Hugging Face cache snapshot as huggingface-cli delete-cache removes
 * a revision (its refs, the blobs no other revision uses), anything else
 * file by file, fn (may be NULL) told of each that stays.  Fails when
 * something is left. */
int iw_catalog_delete_install(const char *path, iw_undeleted_fn fn, void *ud, iw_install_deleted *out);

/* ---- verify: installed files against the registry --------------------- */

typedef enum iw_verify_status {
    IW_VERIFY_OK = 0,
    IW_VERIFY_MISSING,   /* not there, or unreadable */
    IW_VERIFY_SIZE,      /* another size than recorded */
    IW_VERIFY_CHANGED,   /* another sha256 (or directory checksum, or blob hash) than recorded */
    IW_VERIFY_UNSAFE     /* a recorded path that leaves the install, a blob outside the store */
} iw_verify_status;

typedef struct iw_verify_stats { size_t entries, files, ok, missing, changed; } iw_verify_stats;

/* One problem, as found: name the entry's, message one line naming the file. */
typedef void (*iw_verify_fn)(iw_verify_status status, const char *name, const char *message, void *ud);

/* Check registry entry e's install: every artifacts.files[] entry must exist
 * under download_path with the recorded size and sha256 (when recorded);
 * files with neither are checked through download_directory_checksum; an
 * Ollama model's manifest and every blob it names must resolve in the store
 * and hash to the sha256 in the blob's name.  fn (may be NULL) gets each
 * problem; st (zeroed by the caller, added to) the counts (SIZE, CHANGED and
 * UNSAFE count as changed).  False when e records nothing to verify. */
bool iw_catalog_verify_entry(const struct cJSON *e, iw_verify_fn fn, void *ud, iw_verify_stats *st);

/* ---- validate: an entry against published values ---------------------- */

#define IW_VALIDATE_PARAMS_TOLERANCE 0.01   /* parameters within 1% */

#define IW_VALIDATE_OPTS_VERSION 1
typedef struct iw_validate_opts {
    unsigned    version;          /* IW_VALIDATE_OPTS_VERSION */
    int64_t     expected_params;  /* -1: not checked */
    int64_t     expected_layers;  /* -1: not checked */
    const char *notes;            /* where the expectation comes from, or NULL */
} iw_validate_opts;
#define IW_VALIDATE_OPTS_INIT { IW_VALIDATE_OPTS_VERSION, -1, -1, NULL }

typedef struct iw_validation {
    bool          ok;             /* every expectation holds */
    int64_t       params, layers; /* what the architecture says (-1 unknown) */
    struct cJSON *record;         /* what was recorded: {validated, validation_notes,
                                     validation_discrepancies [{field, expected, actual, error_pct?}],
                                     validation_expected, validated_at} */
    const char   *failed_at;      /* on failure: "validate" or the entry's name; NULL: no such entry */
} iw_validation;
void iw_validation_free(iw_validation *v);

/* Compare entry name's architecture (metadata.architecture, else read from
 * its download_path and recorded too) with o's expectations and record the
 * outcome in its metadata.architecture (docs/registry.md, "Validation").  A
 * discrepancy is a result (v->ok false), not a failure. */
int iw_catalog_validate(iw_registry *reg, const char *name, const iw_validate_opts *o, iw_validation *v);

/* ---- the estimate pipeline (the estimate command, serve's POST /estimate) */

typedef struct iw_estimate_request {
    const char      *target;         /* registry NAME, PATH, org/name REPO, ollama:NAME:TAG */
    iw_est_opts      opts;           /* engine, context, batch, kv, tp, gpu_util, vram, engine knobs */
    iw_est_overrides ov;
    bool             engine_set, ctx_set, batch_set;
    const char      *profile;        /* --profile NAME; NULL = the GPU's, else the set's default */
    const char      *profiles_file;  /* --profiles FILE; NULL = env / XDG / shipped only */
    const char      *gpu;            /* --gpu NAME, looked up in the profile set */
    bool             apply;
    bool             calibrate;      /* correct the heuristic terms with the entry's newest measured start */
    bool             emit_set;
    iw_emit_kind     emit;
    int              port;           /* for emitted launches; 0 = the entry's port, else the engine default */
    bool             names_only;     /* only registry NAMEs (serve: never a path or a network fetch) */
} iw_estimate_request;

void iw_catalog_estimate_request_init(iw_estimate_request *r);

/* One field of a request by its JSON key (docs/api.md), checked as every
 * front end checks it; 0, or IW_EINVAL with a one-line message naming the
 * field.  Strings are borrowed (they must outlive the request).
 *   _int:  context, batch, tp, max_model_len, port, max_num_batched_tokens,
 *          max_num_seqs, ngl, ubatch, n_batch ("'K' must be an integer in LO..HI")
 *   _num:  gpu_util (0, 1], params_b (positive billions)
 *   _str:  model, engine (vllm[@VERSION] | llama.cpp | ollama), kv_dtype, vram
 *          (a size: 24GiB), gpu, profile, dtype, quantization, emit, llama_app,
 *          mxfp4_backend (the message of a name that does not parse is the parser's) */
int iw_catalog_estimate_request_set_int(iw_estimate_request *rq, const char *key, int64_t v);
int iw_catalog_estimate_request_set_num(iw_estimate_request *rq, const char *key, double v);
int iw_catalog_estimate_request_set_str(iw_estimate_request *rq, const char *key, const char *s);

/* A request from a JSON object (serve's POST /estimate body): every key must
 * be a field above (or trust_remote_code, enforce_eager, calibrate,
 * flash_attn: booleans), null reads as absent, and "model" is required when
 * need_model.  The first wrong field is the message.  Strings borrow from o. */
int iw_catalog_estimate_request_from_json(const struct cJSON *o, bool need_model, iw_estimate_request *rq);
/* The same from JSON text (len bytes, refused when a string holds \u0000);
 * *tree gets the parsed body, which the request borrows from: free it with
 * cJSON_Delete after the request (NULL on failure). */
int iw_catalog_estimate_request_parse(const char *text, size_t len, bool need_model, iw_estimate_request *rq,
                                      struct cJSON **tree);

typedef struct iw_estimate_answer {
    int    status;      /* 0 ok, 1 failure (does not fit, model unreadable), 2 a request that cannot be answered as asked */
    char  *error;       /* one line, without the program prefix; NULL when ok */
    struct cJSON *json; /* the JSON answer (also on "does not fit"; docs/api.md) */
    char  *text;        /* the human table */
    char  *emitted;     /* --emit text, when asked and something fits */
    char  *applied_to;  /* --apply: the file written */
    char  *apply_warning;
    int    apply_error; /* --apply fitted but writing the registry failed: the iw_error_code */
} iw_estimate_answer;

void iw_catalog_estimate_answer_free(iw_estimate_answer *r);

/* The request answered: the model resolved (a registry NAME's
 * metadata.architecture, else iw_catalog_inspect), overrides and the
 * profile applied, the estimate, the inverse against the budget, the
 * verdict, the recommended launch, --emit's text and --apply's write.  reg
 * may be NULL (then NAME targets are unknown and apply fails).  res is
 * filled also on failure (the JSON of a model that does not fit); returns 0,
 * or a negative code with res->status 1 or 2 and res->error the one line. */
int iw_catalog_estimate(iw_registry *reg, const iw_estimate_request *req, iw_estimate_answer *res);

#ifdef __cplusplus
}
#endif

#endif
