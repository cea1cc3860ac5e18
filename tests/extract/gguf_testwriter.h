/* gguf_testwriter.h - a tiny GGUF writer for the tests: versions 1-3, either
 * byte order, every value type, nested arrays, tensor infos with correct
 * (or deliberately wrong) offsets.  Header-only (static functions).
 * Also the writer of bench/gguf_synth.c (full-size synthetic models whose
 * tensor data is a sparse file): one GGUF writer for tests and benches. */
#ifndef GGUF_TESTWRITER_H
#define GGUF_TESTWRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gw {
    uint8_t *p;
    size_t len, cap;
    int version;
    bool be;
} gw;

static inline void gw_init(gw *w, int version, bool be)
{
    memset(w, 0, sizeof *w);
    w->version = version;
    w->be = be;
}

static inline void gw_raw(gw *w, const void *d, size_t n)
{
    if (w->len + n > w->cap) {
        size_t nc = w->cap ? w->cap : 256;
        while (nc < w->len + n)
            nc *= 2;
        w->p = realloc(w->p, nc);
        w->cap = nc;
    }
    if (n)
        memcpy(w->p + w->len, d, n);
    w->len += n;
}

static inline void gw_uint(gw *w, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++) {
        int sh = w->be ? (n - 1 - i) * 8 : i * 8;
        b[i] = (uint8_t)(v >> sh);
    }
    gw_raw(w, b, (size_t)n);
}
static inline void gw_u8(gw *w, uint8_t v) { gw_uint(w, v, 1); }
static inline void gw_u16(gw *w, uint16_t v) { gw_uint(w, v, 2); }
static inline void gw_u32(gw *w, uint32_t v) { gw_uint(w, v, 4); }
static inline void gw_u64(gw *w, uint64_t v) { gw_uint(w, v, 8); }
static inline void gw_f32(gw *w, float f) { uint32_t u; memcpy(&u, &f, 4); gw_u32(w, u); }
static inline void gw_f64(gw *w, double f) { uint64_t u; memcpy(&u, &f, 8); gw_u64(w, u); }
/* a size: u32 in v1, u64 after */
static inline void gw_size(gw *w, uint64_t n) { if (w->version == 1) gw_u32(w, (uint32_t)n); else gw_u64(w, n); }
static inline void gw_str(gw *w, const char *s) { gw_size(w, strlen(s)); gw_raw(w, s, strlen(s)); }

static inline void gw_header(gw *w, uint64_t n_tensors, uint64_t n_kv)
{
    gw_raw(w, "GGUF", 4);
    gw_u32(w, (uint32_t)w->version);
    gw_size(w, n_tensors);
    gw_size(w, n_kv);
}

/* key + type; the caller writes the value */
static inline void gw_key(gw *w, const char *key, uint32_t type) { gw_str(w, key); gw_u32(w, type); }
static inline void gw_kv_u32(gw *w, const char *k, uint32_t v) { gw_key(w, k, 4); gw_u32(w, v); }
static inline void gw_kv_i32(gw *w, const char *k, int32_t v) { gw_key(w, k, 5); gw_u32(w, (uint32_t)v); }
static inline void gw_kv_f32(gw *w, const char *k, float v) { gw_key(w, k, 6); gw_f32(w, v); }
static inline void gw_kv_bool(gw *w, const char *k, bool v) { gw_key(w, k, 7); gw_u8(w, v); }
static inline void gw_kv_str(gw *w, const char *k, const char *v) { gw_key(w, k, 8); gw_str(w, v); }
static inline void gw_kv_u64(gw *w, const char *k, uint64_t v) { gw_key(w, k, 10); gw_u64(w, v); }
/* array header (elements follow) */
static inline void gw_kv_arr(gw *w, const char *k, uint32_t elem, uint64_t n) { gw_key(w, k, 9); gw_u32(w, elem); gw_size(w, n); }
static inline void gw_kv_arr_i32(gw *w, const char *k, const int32_t *v, size_t n)
{
    gw_kv_arr(w, k, 5, n);
    for (size_t i = 0; i < n; i++)
        gw_u32(w, (uint32_t)v[i]);
}
static inline void gw_kv_arr_f32(gw *w, const char *k, const float *v, size_t n)
{
    gw_kv_arr(w, k, 6, n);
    for (size_t i = 0; i < n; i++)
        gw_f32(w, v[i]);
}
static inline void gw_kv_arr_str(gw *w, const char *k, const char *const *v, size_t n)
{
    gw_kv_arr(w, k, 8, n);
    for (size_t i = 0; i < n; i++)
        gw_str(w, v[i]);
}

static inline void gw_tensor(gw *w, const char *name, uint32_t n_dims, const int64_t *ne, int32_t type, uint64_t off)
{
    gw_str(w, name);
    gw_u32(w, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) {
        if (w->version == 1)
            gw_u32(w, (uint32_t)ne[d]);
        else
            gw_u64(w, (uint64_t)ne[d]);
    }
    gw_u32(w, (uint32_t)type);
    gw_u64(w, off);
}

static inline void gw_pad(gw *w, size_t align)
{
    static const uint8_t z[256] = { 0 };
    while (w->len % align)
        gw_raw(w, z, 1);
}
static inline void gw_zeros(gw *w, size_t n)
{
    static const uint8_t z[4096] = { 0 };
    while (n) {
        size_t k = n < sizeof z ? n : sizeof z;
        gw_raw(w, z, k);
        n -= k;
    }
}
static inline void gw_free(gw *w) { free(w->p); memset(w, 0, sizeof *w); }

/* Tensor list helper: computes contiguous offsets for (name, dims, type)
 * with the ggml bytes table used by the tests and the synthetic models
 * (F32, F16, BF16, Q8_0, Q4_K, Q6_K, MXFP4, Q2_0).  It is its own table on
 * purpose: the tests check the library's type table against it. */
typedef struct gw_t { const char *name; uint32_t nd; int64_t ne[4]; int32_t type; } gw_t;

static inline uint64_t gw_tbytes(const gw_t *t)
{
    int64_t n = 1;
    for (uint32_t d = 0; d < t->nd; d++)
        n *= t->ne[d];
    switch (t->type) {
    case 0: return (uint64_t)n * 4;
    case 1: case 30: return (uint64_t)n * 2;
    case 8: return (uint64_t)n / 32 * 34;
    case 12: return (uint64_t)n / 256 * 144;
    case 14: return (uint64_t)n / 256 * 210;
    case 39: return (uint64_t)n / 32 * 17;
    case 42: return (uint64_t)n / 64 * 18;
    default: return 0;
    }
}

/* Write the tensor infos and pad to the data section; returns the size of
 * the data section (each tensor padded to `align`). */
static inline uint64_t gw_tensor_infos(gw *w, const gw_t *ts, size_t n, size_t align)
{
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        gw_tensor(w, ts[i].name, ts[i].nd, ts[i].ne, ts[i].type, off);
        off += (gw_tbytes(&ts[i]) + align - 1) / align * align;
    }
    gw_pad(w, align);
    return off;
}

/* Write the tensor infos, pad, and the zero data section. */
static inline void gw_tensors(gw *w, const gw_t *ts, size_t n, size_t align)
{
    gw_zeros(w, (size_t)gw_tensor_infos(w, ts, n, align));
}

#endif
