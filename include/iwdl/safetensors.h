/* safetensors.h - safetensors header reader, shard index, parameter counting
 * with quantization unpacking, tensor-name layer analysis and CSV listing.
 *
 * File layout (https://github.com/huggingface/safetensors):
 *   u64 little-endian N | N bytes of UTF-8 JSON header | data section
 * The header maps tensor names to {"dtype", "shape", "data_offsets": [b, e]}
 * (offsets relative to the data section) plus an optional "__metadata__"
 * object of string values.
 *
 * Everything here reads headers only, never tensor data.  Headers are read
 * through an iw_source (read-at callback), so a local file, a memory buffer,
 * an HTTP Range reader and fuzz input share one code path.
 *
 * Validation (each failure is one line naming the source and the tensor or
 * offset; nothing is allocated beyond the caps below):
 *   - header length <= IW_ST_MAX_HEADER and <= file size - 8 (when known);
 *   - at most IW_ST_MAX_TENSORS entries and IW_ST_MAX_JSON_VALUES values,
 *     counted before parsing;
 *   - strict JSON (iw_json_parse), top level an object, names unique,
 *     non-empty, <= IW_ST_MAX_NAME bytes, no control characters;
 *   - dtype from the table in docs/formats/safetensors.md;
 *   - shape an array of <= IW_ST_MAX_DIMS non-negative integers whose
 *     product (and product x dtype bits) does not overflow int64;
 *   - data_offsets two non-negative integers b <= e with e - b equal to
 *     elements x dtype bits / 8 (sub-byte dtypes must fill whole bytes);
 *   - sorted by offset, the tensors tile [0, data_end) with no gap and no
 *     overlap, and 8 + N + data_end <= file size (when known).
 */
#ifndef IWDL_SAFETENSORS_H
#define IWDL_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arch.h"
#include "buf.h"
#include "reader.h"

#define IW_ST_MAX_HEADER   (100u * 1024u * 1024u)  /* header JSON bytes */
#define IW_ST_MAX_INDEX    (256u * 1024u * 1024u)  /* *.index.json bytes */
#define IW_ST_MAX_DIMS     16
#define IW_ST_MAX_NAME     4096                    /* tensor name bytes */
#define IW_ST_MAX_SHARDS   100000                  /* distinct shard files in an index */
/* Per header, checked in one pass before the JSON is parsed (cJSON builds a
 * node per value: 1.5M tensors took 2 GB).  The largest real single file
 * holds a few thousand tensors (docs/formats/safetensors.md). */
#define IW_ST_MAX_TENSORS     262144u
#define IW_ST_MAX_JSON_VALUES (10u * IW_ST_MAX_TENSORS)

typedef enum iw_st_dtype {
    IW_ST_BOOL = 0,
    IW_ST_F4,        /* float4 e2m1, 4 bits per element ("F4"; alias "FP4") */
    IW_ST_F6_E2M3,   /* 6 bits */
    IW_ST_F6_E3M2,   /* 6 bits */
    IW_ST_U8, IW_ST_I8,
    IW_ST_F8_E5M2, IW_ST_F8_E4M3,
    IW_ST_F8_E8M0,   /* "F8_E8M0"; alias "E8M0" (MX scales) */
    IW_ST_I16, IW_ST_U16, IW_ST_F16, IW_ST_BF16,
    IW_ST_I32, IW_ST_U32, IW_ST_F32,
    IW_ST_C64,       /* complex64 */
    IW_ST_F64, IW_ST_I64, IW_ST_U64,
    IW_ST_DTYPE_COUNT
} iw_st_dtype;

/* Canonical name ("F8_E4M3"), or "?" when out of range. */
const char *iw_st_dtype_name(iw_st_dtype t);
/* Bits per element (4, 6, 8, 16, 32, 64), 0 when out of range. */
unsigned    iw_st_dtype_bits(iw_st_dtype t);
/* Parse a header dtype string (case-sensitive, plus the aliases above).
 * Returns 0 or IW_ENOTFOUND (no error message set). */
int         iw_st_dtype_parse(const char *s, iw_st_dtype *out);

typedef struct iw_st_tensor {
    char       *name;
    iw_st_dtype dtype;
    size_t      n_dims;
    int64_t     shape[IW_ST_MAX_DIMS];
    uint64_t    n_elements;          /* product of shape (1 for a scalar) */
    uint64_t    begin, end;          /* data_offsets, relative to the data section */
} iw_st_tensor;

typedef struct iw_st_file {
    char        *name;               /* source name (path or URL) */
    uint64_t     header_len;         /* N */
    uint64_t     data_start;         /* 8 + N */
    uint64_t     data_bytes;         /* end of the last tensor = sum of tensor bytes */
    uint64_t     file_size;          /* IW_SIZE_UNKNOWN when the source did not know */
    uint64_t     trailing_bytes;     /* bytes after the data section (0 when unknown) */
    iw_st_tensor *tensors;           /* in header order */
    size_t       n_tensors;
    struct cJSON *metadata;          /* __metadata__ object (owned; iwdl/json.h), or NULL */
} iw_st_file;

/* Read and validate the header of one safetensors file.  On failure `out`
 * is left empty (safe to free) and a one-line error is set. */
int  iw_st_read_header(iw_source *src, iw_st_file *out);
/* Convenience: the same over a memory buffer (fuzzing, tests). */
int  iw_st_parse_buffer(const void *data, size_t len, const char *name, iw_st_file *out);
void iw_st_file_free(iw_st_file *f);
/* Tensor by name (linear search), or NULL. */
const iw_st_tensor *iw_st_file_find(const iw_st_file *f, const char *name);

/* ---- shard index (model.safetensors.index.json, pytorch_model.bin.index.json) */

typedef struct iw_st_index {
    char   **shards;                 /* distinct shard file names, first-seen order */
    size_t   n_shards;
    char   **tensor_names;           /* weight_map keys, file order */
    size_t  *tensor_shard;           /* index into shards for each tensor */
    size_t   n_tensors;
    int64_t  total_size;             /* metadata.total_size, IW_UNKNOWN when absent */
    int64_t  total_parameters;       /* metadata.total_parameters, IW_UNKNOWN when absent */
} iw_st_index;

/* Parse an index.  Shard names are untrusted: each must pass
 * iw_path_check_relative (no "..", no absolute path, no backslash) and the
 * failure names the tensor and the shard.  metadata.total_size may be an
 * integral float (some exporters write 1.3e10 style numbers). */
int  iw_st_index_parse(const char *text, size_t len, const char *what, iw_st_index *out);
void iw_st_index_free(iw_st_index *idx);

/* ---- counting and layer analysis (src/extract/tensors.c) ---------------- */

/* Quantization facts the counter needs; usually taken from
 * iw_arch.quantization (config.json).  method NULL = unquantized. */
typedef struct iw_st_quant {
    const char *method;              /* "gptq","awq","bitsandbytes","mxfp4","fp8","compressed-tensors","mlx",... */
    double      bits;                /* nominal bits of quantized weights (NAN/<=0 unknown) */
} iw_st_quant;

typedef struct iw_st_summary {
    uint64_t weights_bytes;          /* sum of tensor data ranges (exact) */
    int64_t  params_total;           /* elements after unpacking, bookkeeping skipped */
    int64_t  params_active;          /* dense: total; MoE: total - experts + experts*k/E (IW_UNKNOWN without k) */
    int64_t  embedding, attention, mlp, experts, norms, lm_head, vision, other;
    int64_t  skipped_tensors;        /* quantization bookkeeping tensors not counted */
    int64_t  packed_tensors;         /* tensors whose elements were unpacked */
    /* layer analysis */
    iw_attn_type attn_type;          /* IW_ATTN_UNKNOWN when undecidable */
    const char  *mlp_type;           /* "gated" | "plain" | "moe" | NULL */
    const char  *norm_type;          /* "rmsnorm" | "layernorm" | NULL */
    int64_t  num_experts;            /* IW_UNKNOWN when not MoE */
    int64_t  num_layers;             /* max "layers.N" + 1 of the language model, IW_UNKNOWN */
    int      tied_embeddings;        /* 1 tied, 0 untied, -1 unknown */
    bool     has_vision;
    bool     unpack_unknown;         /* packed tensors seen but bits/method unknown */
    size_t   n_tensors;
    /* the token embedding's float [rows, cols] = [vocab, hidden]; IW_UNKNOWN when none */
    int64_t  embed_rows, embed_cols;
    const char *float_dtype;         /* "bfloat16"/"float16"/"float32" holding most of the bytes, else NULL */
} iw_st_summary;

/* One tensor as the analyser sees it; shape may be unknown (n_dims = 0 and
 * has_shape false) when only names are known (pytorch .bin index). */
typedef struct iw_st_tinfo {
    const char *name;
    iw_st_dtype dtype;
    bool        has_shape;
    size_t      n_dims;
    const int64_t *shape;
    uint64_t    n_elements;
    uint64_t    bytes;
} iw_st_tinfo;

/* Analyse a set of tensors.  `hint` may give head counts for the attention
 * type (num_attention_heads, num_kv_heads, head_dim, hidden_size) and
 * moe.experts_per_token for the active count; it is read only, may be NULL. */
int iw_st_analyse(const iw_st_tinfo *t, size_t n, const iw_st_quant *q,
                  const iw_arch *hint, iw_st_summary *out);
/* Convenience over parsed files. */
int iw_st_analyse_files(const iw_st_file *files, size_t n_files, const iw_st_quant *q,
                        const iw_arch *hint, iw_st_summary *out);

/* Multiplier rule for one tensor: returns the parameter count it contributes
 * (0 for skipped bookkeeping), setting *skipped / *packed (either may be
 * NULL).  Returns -1 with an IW_ELIMIT error when the count overflows. */
int64_t iw_st_tensor_params(const char *name, iw_st_dtype dtype, uint64_t n_elements,
                            const iw_st_quant *q, bool *skipped, bool *packed);

/* ---- whole models --------------------------------------------------------- */

/* Apply a summary to `a`: weights_bytes, parameters (source "safetensors",
 * replacing a formula total with a warning naming both numbers when they
 * differ by more than 0.5%), attention/mlp/norm types and expert count when
 * unknown (a disagreement with config.json is a warning), field_sources.
 * `idx` (may be NULL) has its total_size cross-checked: a disagreement is a
 * warning. */
int iw_st_apply(iw_arch *a, const iw_st_summary *s, const iw_st_index *idx);

/* Cross-check an index against the headers of its shards (files[i] is the
 * header of idx->shards[i]): index tensors absent from the headers, placed
 * in another shard, or header tensors missing from the index become
 * warnings on `a`; a tensor present in two shards is an IW_EFORMAT error. */
int iw_st_check_index(const iw_st_index *idx, const char *idx_name, const iw_st_file *files,
                      size_t n_files, iw_arch *a);

/* A folder or one .safetensors file.  In a folder: the shards listed by
 * model.safetensors.index.json when it exists, else model.safetensors, else
 * every *.safetensors (consolidated*.safetensors and adapter_model* are left
 * out when other files exist; summing several files is a warning).  Reads
 * every header, fills `a` as iw_st_apply and pushes "safetensors:<path>" to
 * a->sources for every file read.  The quantization method/bits come from
 * a->quantization (parse config.json first).
 * Returns IW_ENOTFOUND (with a message) when there are no safetensors. */
int iw_safetensors_extract_dir(const char *path, iw_arch *a);

/* pytorch_model.bin.index.json in a folder (or the index path itself):
 * tensor names only.  Fills the layer analysis that names allow (MLA,
 * MoE expert count, tied embeddings) and warns that exact counts need
 * safetensors; weights_bytes is not set.  IW_ENOTFOUND when absent. */
int iw_torch_bin_index_extract(const char *path, iw_arch *a);

/* ---- tensor listing ------------------------------------------------------- */

/* Append CSV rows "safetensors,<name>,<shape>,<dtype>" (shape "4096x4096",
 * "" for a scalar; fields quoted when they contain a comma, quote, CR or LF).
 * With header true the line "kind,name,shape,dtype" comes first. */
int iw_st_csv_append(const iw_st_file *f, bool header, iw_buf *out);
/* The same for a folder or one file (the files iw_safetensors_extract_dir
 * would read; src/extract/headers.c). */
int iw_safetensors_csv(const char *path, bool header, iw_buf *out);

#endif
