/* kvs.h - GGUF-typed key/value metadata behind one getter (private to
 * src/extract).
 *
 * Two things carry a model's GGUF metadata: a GGUF header (gguf.c parses it)
 * and an Ollama /api/show answer, whose model_info / projector_info are the
 * same key/value pairs rendered as JSON (ollama_info.c).  Both are read
 * through an iw_kvs: one set of typed getters with the rules and messages of
 * gguf.h (an integer getter takes any integer type and BOOL, a float getter
 * takes integers too, a wrong type is IW_EFORMAT naming the key), and one
 * view of the tensor infos.  gguf_arch.c maps an iw_kvs onto iw_arch and
 * never asks which of the two it reads. */
#ifndef IW_EXTRACT_KVS_H
#define IW_EXTRACT_KVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "iwdl/arch.h"
#include "iwdl/gguf.h"

typedef union iw_kv_scalar { uint64_t u; int64_t i; double f; } iw_kv_scalar;

/* One key/value pair as stored. */
typedef struct iw_kv_item {
    const char  *key;
    iw_gguf_type type;       /* a scalar type, IW_GGUF_STRING or IW_GGUF_ARRAY */
    iw_kv_scalar v;          /* integers (u for unsigned types and BOOL, i for signed), floats */
    const char  *str;        /* IW_GGUF_STRING: NUL-terminated, str_len bytes */
    size_t       str_len;
    iw_gguf_type elem;       /* IW_GGUF_ARRAY: element type ... */
    uint64_t     count;      /* ... and count */
} iw_kv_item;

typedef struct iw_kvs iw_kvs;

typedef struct iw_kvs_ops {
    size_t (*count)(const iw_kvs *s);
    /* Item i (0 <= i < count). */
    void   (*item)(const iw_kvs *s, size_t i, iw_kv_item *out);
    /* Index of key, or -1. */
    long   (*find)(const iw_kvs *s, const char *key);
    /* Element j (< count) of array item i: a number in *v, or a string in
     * *str / *len (not NUL-terminated). */
    int    (*elem)(const iw_kvs *s, size_t i, uint64_t j, iw_kv_scalar *v, const char **str, size_t *len);
    size_t (*n_tensors)(const iw_kvs *s);
    const iw_gguf_tensor *(*tensor)(const iw_kvs *s, size_t i);
} iw_kvs_ops;

struct iw_kvs {
    const iw_kvs_ops *ops;
    const void *ctx;
    const char *name;        /* for messages: a file path, or "<url> (model_info)" */
    uint32_t    version;     /* GGUF version of the metadata */
    bool        projector;   /* known to be a vision projector, whatever its keys say */
};

/* A parsed GGUF header as an iw_kvs (gguf.c); valid while g lives. */
void iw_gguf_kvs(const iw_gguf *g, iw_kvs *out);

size_t       iw_kvs_count(const iw_kvs *s);
const char  *iw_kvs_key(const iw_kvs *s, size_t i);
iw_gguf_type iw_kvs_type(const iw_kvs *s, size_t i);     /* IW_GGUF_TYPE_COUNT when out of range */
long         iw_kvs_find(const iw_kvs *s, const char *key);

/* By index: IW_ENOTFOUND (no message) when out of range; IW_EFORMAT naming
 * the key when the type does not fit (rules of gguf.h). */
int iw_kvs_int  (const iw_kvs *s, size_t i, int64_t *out);
int iw_kvs_float(const iw_kvs *s, size_t i, double *out);
int iw_kvs_str  (const iw_kvs *s, size_t i, const char **out, size_t *len);
int iw_kvs_array(const iw_kvs *s, size_t i, iw_gguf_type *elem_type, uint64_t *count);

/* By key: IW_ENOTFOUND (no message) when absent. */
int iw_kvs_get_int  (const iw_kvs *s, const char *key, int64_t *out);
int iw_kvs_get_uint (const iw_kvs *s, const char *key, uint64_t *out);
int iw_kvs_get_float(const iw_kvs *s, const char *key, double *out);
int iw_kvs_get_bool (const iw_kvs *s, const char *key, bool *out);
int iw_kvs_get_str  (const iw_kvs *s, const char *key, const char **out, size_t *len);
int iw_kvs_get_array(const iw_kvs *s, const char *key, iw_gguf_type *elem_type, uint64_t *count);
int iw_kvs_array_int  (const iw_kvs *s, const char *key, uint64_t j, int64_t *out);
int iw_kvs_array_float(const iw_kvs *s, const char *key, uint64_t j, double *out);
int iw_kvs_array_str  (const iw_kvs *s, const char *key, uint64_t j, const char **out, size_t *len);

/* A vision projector: marked so, general.architecture "clip", or clip.vision.* keys. */
bool iw_kvs_is_projector(const iw_kvs *s);

/* Tensor infos (none for metadata without them). */
size_t iw_kvs_tensor_count(const iw_kvs *s);
const iw_gguf_tensor *iw_kvs_tensor_at(const iw_kvs *s, size_t i);

/* Map model metadata (the shards of one split model) and projectors onto a,
 * as iw_gguf_to_arch does for parsed files (gguf_arch.c). */
int iw_kvs_to_arch(const iw_kvs *const *v, size_t n, iw_arch *a);

#endif
