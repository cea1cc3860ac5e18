/* gguf.h - native GGUF header reader (versions 1-3, either byte order).
 *
 * The reader pulls only the header (key/value metadata and tensor infos)
 * through an iw_source read-at callback: it fetches a prefix (1 MiB by
 * default), parses it, and when the header runs past the prefix it grows the
 * prefix to the estimated end of the collection it stopped in (tokenizer
 * arrays, the tensor table), else doubles it (up to max_header_bytes, 64 MiB
 * by default), and parses again.
 * The same code therefore serves local files, HTTP Range readers (a handful
 * of requests) and fuzz input.  Tensor data is never read.
 *
 * Every count and length from the file is checked against a documented cap
 * and against the bytes remaining before anything is allocated; see
 * docs/formats/gguf.md for the full list of checks.
 *
 * Ownership (libgit2 style): iw_gguf_parse() gives the caller an opaque
 * handle released with iw_gguf_free(); every pointer returned by an accessor
 * is borrowed and valid until iw_gguf_free().
 */
#ifndef IWDL_GGUF_H
#define IWDL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "arch.h"
#include "buf.h"
#include "reader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- format constants --------------------------------------------------- */

/* GGUF value types (enum gguf_type in ggml/include/gguf.h). */
typedef enum iw_gguf_type {
    IW_GGUF_UINT8 = 0, IW_GGUF_INT8 = 1, IW_GGUF_UINT16 = 2, IW_GGUF_INT16 = 3,
    IW_GGUF_UINT32 = 4, IW_GGUF_INT32 = 5, IW_GGUF_FLOAT32 = 6, IW_GGUF_BOOL = 7,
    IW_GGUF_STRING = 8, IW_GGUF_ARRAY = 9, IW_GGUF_UINT64 = 10, IW_GGUF_INT64 = 11,
    IW_GGUF_FLOAT64 = 12,
    IW_GGUF_TYPE_COUNT = 13
} iw_gguf_type;

#define IW_GGUF_DEFAULT_ALIGNMENT 32u
#define IW_GGUF_MAX_DIMS          4      /* GGML_MAX_DIMS */
#define IW_GGML_TYPE_COUNT        43     /* ids 0..42 (Q2_0 = 42) */

/* Default caps (each overridable in iw_gguf_opts; 0 there = default). */
#define IW_GGUF_DEFAULT_PREFIX      (1u << 20)           /* first fetch: 1 MiB */
#define IW_GGUF_DEFAULT_MAX_HEADER  (64u << 20)          /* whole header: 64 MiB */
#define IW_GGUF_HARD_MAX_HEADER     (1024u << 20)        /* opts cannot go above 1 GiB */
#define IW_GGUF_DEFAULT_MAX_STRING  (16u << 20)          /* one string: 16 MiB */
#define IW_GGUF_DEFAULT_MAX_ARRAY   (1u << 24)           /* one array: 16 Mi elements */
#define IW_GGUF_DEFAULT_MAX_KV      (1u << 20)           /* key/value pairs */
#define IW_GGUF_DEFAULT_MAX_TENSORS (1u << 20)           /* tensor infos */
#define IW_GGUF_DEFAULT_MAX_DEPTH   4                    /* nested arrays (1 = no nesting) */
#define IW_GGUF_MAX_NAME            1024                 /* tensor name bytes */
#define IW_GGUF_MAX_KEY             65535                /* key bytes */

#define IW_GGUF_OPTS_VERSION 1

typedef struct iw_gguf_opts {
    unsigned version;           /* IW_GGUF_OPTS_VERSION (iw_opts_version_check, error.h) */
    size_t   prefix_bytes;      /* first fetch; doubled while the header runs past it */
    size_t   max_header_bytes;  /* cap on the header (metadata + tensor infos) */
    size_t   max_string;        /* cap on one string value */
    uint64_t max_array;         /* cap on one array's element count */
    uint64_t max_kv;            /* cap on n_kv */
    uint64_t max_tensors;       /* cap on n_tensors */
    int      max_depth;         /* array nesting cap */
} iw_gguf_opts;

#define IW_GGUF_OPTS_INIT { IW_GGUF_OPTS_VERSION, 0, 0, 0, 0, 0, 0, 0 }

/* ---- GGML tensor and file types (src/extract/gguf_types.c) --------------- */

typedef struct iw_ggml_type_info {
    const char *name;      /* "Q4_K" */
    uint32_t    blck_size; /* elements per block */
    uint32_t    type_size; /* bytes per block */
    double      nominal_bits; /* label bits: Q4_K -> 4, F16 -> 16 */
} iw_ggml_type_info;

/* NULL for ids outside 0..42 and for removed ids (4, 5, 31-33, 36-38). */
const iw_ggml_type_info *iw_ggml_type_info_get(int32_t id);
/* Name of a ggml type, or NULL when unknown. */
const char *iw_ggml_type_name(int32_t id);
/* Name of a GGUF value type ("UINT32"), "?" when out of range. */
const char *iw_gguf_type_name(int type);
/* general.file_type label ("Q4_K_M"), NULL when unknown.  Advisory only. */
const char *iw_gguf_file_type_name(uint32_t ft);
/* The ggml type that dominates a file of that file_type (Q4_K_M -> Q4_K),
 * -1 when unknown; used to check that the label agrees with the tensors. */
int32_t iw_gguf_file_type_main_type(uint32_t ft);

/* ---- the parsed header --------------------------------------------------- */

typedef struct iw_gguf iw_gguf;

typedef struct iw_gguf_tensor {
    const char *name;                  /* NUL-terminated */
    uint32_t    n_dims;
    int64_t     ne[IW_GGUF_MAX_DIMS];  /* ggml order: ne[0] is the innermost; unused = 1 */
    int32_t     type;                  /* ggml type id (may be unknown: see n_bytes) */
    uint64_t    offset;                /* relative to the data section */
    int64_t     n_elements;
    int64_t     n_bytes;               /* -1 when the type is unknown */
} iw_gguf_tensor;

/* Parse the header of `src` (which stays owned by the caller and is not
 * closed).  opts may be NULL.  On failure *out is NULL and the error names
 * the source, the offset and/or the key. */
int  iw_gguf_parse(iw_gguf **out, iw_source *src, const iw_gguf_opts *opts);
/* Convenience: open a local file, parse, close. */
int  iw_gguf_parse_file(iw_gguf **out, const char *path, const iw_gguf_opts *opts);
void iw_gguf_free(iw_gguf *g);

const char *iw_gguf_name(const iw_gguf *g);        /* source name (path or URL) */
uint32_t iw_gguf_version(const iw_gguf *g);        /* 1, 2 or 3 */
bool     iw_gguf_big_endian(const iw_gguf *g);
uint32_t iw_gguf_alignment(const iw_gguf *g);
uint64_t iw_gguf_data_offset(const iw_gguf *g);    /* start of the tensor data section */
uint64_t iw_gguf_bytes_fetched(const iw_gguf *g);  /* bytes read from the source */
unsigned iw_gguf_fetches(const iw_gguf *g);        /* read_at calls made */

/* Warnings collected while parsing (unknown tensor types, ...). */
size_t      iw_gguf_warning_count(const iw_gguf *g);
const char *iw_gguf_warning(const iw_gguf *g, size_t i);

/* ---- key/value metadata -------------------------------------------------- */

size_t      iw_gguf_kv_count(const iw_gguf *g);
const char *iw_gguf_kv_key(const iw_gguf *g, size_t i);
iw_gguf_type iw_gguf_kv_type(const iw_gguf *g, size_t i);
/* Index of `key`, or -1. */
long        iw_gguf_find_key(const iw_gguf *g, const char *key);

/* Typed getters by key.  Return 0, IW_ENOTFOUND when the key is absent (no
 * error message is set), or IW_EFORMAT with a message naming the key when
 * its type does not fit:
 *  - iw_gguf_get_int: any integer type (and BOOL), value as int64
 *    (UINT64 above INT64_MAX is an error);
 *  - iw_gguf_get_uint: any integer type, negative values are an error;
 *  - iw_gguf_get_float: FLOAT32/FLOAT64 (and integers, converted);
 *  - iw_gguf_get_bool: BOOL (or an integer 0/1);
 *  - iw_gguf_get_str: STRING, NUL-terminated (len excludes the NUL; a string
 *    with an embedded NUL is returned whole, len tells). */
int iw_gguf_get_int  (const iw_gguf *g, const char *key, int64_t *out);
int iw_gguf_get_uint (const iw_gguf *g, const char *key, uint64_t *out);
int iw_gguf_get_float(const iw_gguf *g, const char *key, double *out);
int iw_gguf_get_bool (const iw_gguf *g, const char *key, bool *out);
int iw_gguf_get_str  (const iw_gguf *g, const char *key, const char **out, size_t *len);

/* Arrays: element type and count (IW_EFORMAT when the key is not an array). */
int iw_gguf_get_array(const iw_gguf *g, const char *key, iw_gguf_type *elem_type, uint64_t *count);
/* Element i of a numeric/bool array (any integer type for _int, any number for _float). */
int iw_gguf_array_int  (const iw_gguf *g, const char *key, uint64_t i, int64_t *out);
int iw_gguf_array_float(const iw_gguf *g, const char *key, uint64_t i, double *out);
/* Element i of a string array: borrowed bytes, NOT NUL-terminated.  Walks
 * the array from the start (O(i)). */
int iw_gguf_array_str  (const iw_gguf *g, const char *key, uint64_t i, const char **out, size_t *len);

/* Same getters by index (for listing every key). */
int iw_gguf_kv_int  (const iw_gguf *g, size_t idx, int64_t *out);
int iw_gguf_kv_float(const iw_gguf *g, size_t idx, double *out);
int iw_gguf_kv_str  (const iw_gguf *g, size_t idx, const char **out, size_t *len);
int iw_gguf_kv_array(const iw_gguf *g, size_t idx, iw_gguf_type *elem_type, uint64_t *count);

/* ---- tensor infos -------------------------------------------------------- */

size_t iw_gguf_tensor_count(const iw_gguf *g);
const iw_gguf_tensor *iw_gguf_tensor_at(const iw_gguf *g, size_t i);
const iw_gguf_tensor *iw_gguf_tensor_find(const iw_gguf *g, const char *name);
/* Sum of elements over all tensors (exact parameter count of this file). */
int64_t iw_gguf_param_count(const iw_gguf *g);
/* Sum of tensor bytes; -1 when any tensor has an unknown type. */
int64_t iw_gguf_weight_bytes(const iw_gguf *g);

/* CSV rows "gguf,<name>,<shape>,<dtype>" for every tensor (no header line;
 * see iw_gguf_write_tensors_csv_header).  shape is ggml order joined with
 * 'x' ("64x512"); dtype the ggml type name or "TYPE<id>" when unknown.
 * Names containing ',', '"' or newlines are quoted per RFC 4180. */
int iw_gguf_write_tensors_csv_header(FILE *f);   /* "kind,name,shape,dtype\n" */
int iw_gguf_write_tensors_csv(const iw_gguf *g, FILE *f);
/* The same rows appended to a buffer. */
int iw_gguf_tensors_csv(const iw_gguf *g, iw_buf *out);

/* ---- architecture ------------------------------------------------------ */

/* Fill `a` from parsed GGUF files: the shards of one split model (any order;
 * metadata from the shard carrying general.architecture, tensors summed over
 * all) plus, optionally, mmproj files (general.architecture "clip" or
 * clip.vision.* keys), which give a->vision and has_vision.  Fields are
 * attributed "gguf" in field_sources.  Exact parameters (source "gguf") and
 * weights_bytes replace a formula count (a >0.5% disagreement is a warning).
 * Returns 0, or IW_EFORMAT naming the key whose value has the wrong type. */
int iw_gguf_to_arch(const iw_gguf *const *shards, size_t n, iw_arch *a);

/* A .gguf file or a folder: finds the model GGUF (all shards of a split set,
 * from one file name or by scanning the folder) and mmproj*.gguf files,
 * parses and maps them into `a`. */
int iw_gguf_extract_path(const char *path_or_dir, iw_arch *a);

/* Split-name helper: "x-00001-of-00003.gguf" -> prefix length, shard number
 * and count.  Returns false when the name is not a shard name. */
bool iw_gguf_split_name(const char *name, size_t *prefix_len, unsigned *no, unsigned *count);

#ifdef __cplusplus
}
#endif
#endif
