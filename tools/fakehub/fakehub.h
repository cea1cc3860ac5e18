/* fakehub.h - internal declarations of the loopback test hub (docs/fakehub.md). */
#ifndef FAKEHUB_H
#define FAKEHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

enum { FH_HUB = 0, FH_CDN = 1 };

#define FH_MAX_ENTRIES   1000000u     /* files + directories per repo */
#define FH_MAX_DEPTH     64           /* directory nesting per repo */
#define FH_MAX_BODY      (1u << 20)   /* request body cap (paths-info, control) */
#define FH_MAX_META      (1u << 20)   /* <repo>.hub.json cap */

typedef struct fh_config {
    char    *root;            /* realpath of --root */
    const char *host, *cdn_host;
    unsigned port, cdn_port;
    size_t   page_size;
    uint64_t lfs_threshold;
    const char *log_path;
    const char *ready_file;
    char     hub_url[128];
    char     cdn_url[128];
} fh_config;

extern fh_config g_fh;

/* ---- repo.c ---- */
typedef struct fh_entry {
    char    *path;            /* relative, '/'-separated */
    bool     is_dir;
    bool     lfs;
    uint64_t size;
    dev_t    dev;
    ino_t    ino;
    int64_t  mtime_ns;
    bool     hashed;
    char     oid[41];         /* git blob sha1 (of the pointer for LFS); tree id for dirs */
    char     sha256[65];      /* content sha256 (files) */
    uint64_t pointer_size;    /* LFS pointer length */
} fh_entry;

typedef struct fh_repo {
    char    *org, *name, *id; /* id = "org/name" */
    char    *dir;             /* root/org/name */
    cJSON   *meta;            /* parsed <name>.hub.json or NULL */
    bool     exists;          /* the repo folder exists */
    fh_entry *entries;        /* sorted by path (bytewise) */
    size_t   n;
    bool     listed, hashed_all;
    char     main_sha[41];
} fh_repo;

/* Open org/name (segments already checked): loads metadata, notes whether the
 * folder exists.  Returns 0, or -1 with msg set (bad metadata). */
int  fh_repo_open(fh_repo *r, const char *org, const char *name, char *msg, size_t msgn);
void fh_repo_free(fh_repo *r);
/* Scan the folder (once per fh_repo).  0 or -1. */
int  fh_repo_list(fh_repo *r, char *msg, size_t msgn);
/* Fill hashes of one file entry (cached across requests) / of all entries
 * (plus directory ids and the default main commit). */
int  fh_repo_hash_entry(fh_repo *r, fh_entry *e, char *msg, size_t msgn);
int  fh_repo_hash_all(fh_repo *r, char *msg, size_t msgn);
fh_entry *fh_repo_find(fh_repo *r, const char *path);
/* Map a revision to its commit; 0, or -1 when unknown. */
int  fh_repo_resolve_rev(fh_repo *r, const char *rev, char out[41], char *msg, size_t msgn);
/* Tree entry JSON (as /tree and paths-info answer). */
cJSON *fh_entry_json(const fh_repo *r, const fh_entry *e, bool expand, const char *commit);
bool fh_is_lfs_name(const char *path, uint64_t size);
void fh_hash_cache_free(void);
void fh_prehash_all(void);

/* ---- control.c ---- */
/* A rate shared by every answer of one fault (a "link"), refcounted: the
 * fault and each answer using it hold a reference. */
typedef struct fh_bucket fh_bucket;
/* Wait until n more bytes fit the shared rate. */
void fh_bucket_wait(fh_bucket *b, uint64_t n);
uint64_t fh_bucket_rate(const fh_bucket *b);
void fh_bucket_unref(fh_bucket *b);

typedef struct fh_body_fault {
    int      id;              /* first fault applied, 0 if none */
    uint64_t cut_after;       /* UINT64_MAX = none */
    int64_t  corrupt_offset;  /* file offset, -1 = none */
    uint64_t rate_bps;        /* 0 = none */
    bool     ignore_range;    /* answer 200 + whole body to a Range request */
    uint64_t stall_after;     /* UINT64_MAX = none: pause after this many body bytes */
    uint64_t stall_ms;        /* ... for this long (connection stays open) */
    bool     no_length;       /* chunked answer without Content-Length */
    fh_bucket *shared;        /* NULL = none; else a reference (fh_bucket_unref) */
} fh_body_fault;

typedef struct fh_status_fault {
    unsigned status;
    long     retry_after;     /* -1 none */
    char     location[1024];  /* "" none: a Location header (a redirect fault) */
} fh_status_fault;

/* First matching status fault (consumes one use): returns its id (> 0) and
 * fills *out, or 0 when none matches. */
int  fh_fault_take_status(int host, const char *file_path, const char *url_path, fh_status_fault *out);
/* A file body is about to be sent on host.  0: admitted, and counted as in
 * flight until fh_body_end; else the id of the max_active fault that refuses
 * it (this many bodies are already in flight), filling *out as
 * fh_fault_take_status does (status 503 unless given). */
int  fh_body_begin(int host, const char *file_path, const char *url_path, fh_status_fault *out);
void fh_body_end(int host);
/* Merge every matching body fault (consuming one use each) for an answer
 * serving file bytes [lo, hi]; a corruption outside them does not match. */
void fh_fault_take_body(int host, const char *file_path, const char *url_path,
                        uint64_t lo, uint64_t hi, fh_body_fault *out);

typedef struct fh_logrec {
    int host;
    const char *method, *path, *query, *range;
    bool auth;
    unsigned status;
    uint64_t bytes;
    uint64_t conn;
    int fault;
} fh_logrec;
void fh_log_request(const fh_logrec *rec);
int  fh_control_init(const char *log_path, char *msg, size_t msgn);
void fh_control_shutdown(void);
/* Control endpoints: returns malloc'd JSON and sets *status; NULL = not found. */
char *fh_control_handle(const char *method, const char *what, const char *body, size_t body_len,
                        unsigned *status);
void fh_stats_connection(int host);

/* ---- demo.c ---- */
int fh_make_demo(const char *dir);

/* ---- server.c ---- */
struct MHD_Daemon;
struct MHD_Daemon *fh_server_start(int host, const char *addr, unsigned port, unsigned *bound_port);
/* Make in-flight bodies end (connections drop) so the daemons stop quickly. */
void fh_server_stopping(void);

#endif
