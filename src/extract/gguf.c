/* gguf.c - GGUF header reader: versions 1-3, little and big endian.
 *
 * One pass walks a prefix of the file held in memory with an iw_reader.
 * When a read runs past the prefix while more of the file exists, the pass
 * stops with NEED_MORE and restarts from offset 0 with a longer prefix;
 * parsing is cheap next to a fetch, and restarting keeps the parser a plain
 * sequential walk.  The prefix grows to where the pass estimates the header
 * ends when it stopped inside a long collection (a tokenizer array, the
 * tensor table: the bytes per element so far times the elements left), else
 * it doubles; never beyond the header cap.  So a remote read of a 8 MiB
 * header moves about 8 MiB, not the 16 MiB doubling would.
 *
 * Nothing is allocated from a count in the file before that count has been
 * checked against its cap and against the bytes that can still follow
 * (min(file size, header cap) - offset); tables grow as entries are actually
 * read, so memory stays proportional to the bytes really present.
 * Values are kept in place: the key/value records point into the header
 * buffer; keys, tensor names and scalar strings are copied NUL-terminated.
 */
#include "iwdl/gguf.h"
#include "iwdl/error.h"
#include "kvs.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEED_MORE 1          /* internal: the pass needs a longer prefix */

typedef union kv_scalar { uint64_t u; int64_t i; double f; } kv_scalar;

typedef struct gguf_kv {
    size_t   key_off;        /* arena offset while parsing */
    const char *key;         /* resolved after parsing */
    size_t   key_len;
    uint8_t  type;
    uint8_t  elem_type;      /* arrays */
    uint64_t count;          /* arrays: element count */
    size_t   pos;            /* buffer offset of the value (arrays: first element) */
    kv_scalar v;             /* decoded scalar (integers, floats, bool) */
    size_t   str_off;        /* strings: arena offset */
    const char *str;
    size_t   str_len;
} gguf_kv;

typedef struct hset {        /* open addressing; slot = index + 1, 0 = empty */
    uint32_t *slot;
    size_t    cap;           /* power of two */
    size_t    n;
} hset;

struct iw_gguf {
    char     name[512];
    uint8_t *buf;            /* header bytes [0, buf_len) */
    size_t   buf_len;
    uint32_t version;
    bool     be;
    uint32_t alignment;
    uint64_t data_offset;
    uint64_t header_end;     /* end of the tensor infos */
    uint64_t file_size;
    uint64_t fetched;
    unsigned fetches;

    gguf_kv *kv;
    size_t   n_kv, cap_kv;
    iw_gguf_tensor *t;
    size_t  *t_name_off;
    size_t   n_t, cap_t;
    char    *arena;
    size_t   arena_len, arena_cap;
    hset     kv_set, t_set;

    int64_t  n_params;
    int64_t  weight_bytes;   /* -1 when unknown */
    char   **warn;
    size_t   n_warn;
};

typedef struct parser {
    iw_gguf     *g;
    iw_reader    r;
    uint64_t     limit;      /* the header cannot extend past this offset */
    bool         complete;   /* buf holds everything up to limit */
    size_t       max_string;
    uint64_t     max_array, max_kv, max_tensors;
    int          max_depth;
    size_t       max_header;
    const char  *what;       /* what is being read, for truncation errors */
    uint64_t     hint;       /* NEED_MORE: estimated offset the header reaches (0: none) */
} parser;

/* Stopped at element i of n in a collection that began at `start`: the
 * collection probably ends near start + (bytes so far / i) x n. */
static void hint_collection(parser *p, uint64_t start, uint64_t pos, uint64_t i, uint64_t n)
{
    if (i == 0 || pos <= start || n <= i)
        return;
    double est = (double)start + (double)(pos - start) / (double)i * (double)n;
    if (est > (double)UINT64_MAX / 2)
        return;
    if ((uint64_t)est > p->hint)
        p->hint = (uint64_t)est;
}

/* ---- small helpers ------------------------------------------------------ */

static uint64_t fnv1a(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void hset_free(hset *h)
{
    free(h->slot);
    memset(h, 0, sizeof *h);
}

typedef bool (*hset_eq_fn)(const iw_gguf *g, uint32_t idx, const void *p, size_t n);
typedef uint64_t (*hset_hash_fn)(const iw_gguf *g, uint32_t idx);

static const char *kv_key_ptr(const iw_gguf *g, uint32_t i)
{
    return g->kv[i].key ? g->kv[i].key : g->arena + g->kv[i].key_off;
}
static bool kv_eq(const iw_gguf *g, uint32_t i, const void *p, size_t n)
{
    return g->kv[i].key_len == n && memcmp(kv_key_ptr(g, i), p, n) == 0;
}
static uint64_t kv_hash(const iw_gguf *g, uint32_t i)
{
    return fnv1a(kv_key_ptr(g, i), g->kv[i].key_len);
}
static const char *t_name_ptr(const iw_gguf *g, uint32_t i)
{
    return g->t[i].name ? g->t[i].name : g->arena + g->t_name_off[i];
}
static bool t_eq(const iw_gguf *g, uint32_t i, const void *p, size_t n)
{
    const char *s = t_name_ptr(g, i);
    return strlen(s) == n && memcmp(s, p, n) == 0;
}
static uint64_t t_hash(const iw_gguf *g, uint32_t i)
{
    const char *s = t_name_ptr(g, i);
    return fnv1a(s, strlen(s));
}

/* Returns the index found, or -1. */
static long hset_find(const iw_gguf *g, const hset *h, hset_eq_fn eq, const void *p, size_t n)
{
    if (h->cap == 0)
        return -1;
    size_t mask = h->cap - 1;
    for (size_t i = (size_t)fnv1a(p, n) & mask;; i = (i + 1) & mask) {
        uint32_t s = h->slot[i];
        if (s == 0)
            return -1;
        if (eq(g, s - 1, p, n))
            return (long)(s - 1);
    }
}

static int hset_add(const iw_gguf *g, hset *h, hset_hash_fn hash, uint32_t idx)
{
    if ((h->n + 1) * 2 > h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return iw_error_set(IW_ENOMEM, "out of memory (gguf index)");
        for (size_t i = 0; i < h->cap; i++) {
            uint32_t s = h->slot[i];
            if (!s)
                continue;
            size_t j = (size_t)hash(g, s - 1) & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = s;
        }
        free(h->slot);
        h->slot = ns;
        h->cap = ncap;
    }
    size_t j = (size_t)hash(g, idx) & (h->cap - 1);
    while (h->slot[j])
        j = (j + 1) & (h->cap - 1);
    h->slot[j] = idx + 1;
    h->n++;
    return 0;
}

static int arena_put(iw_gguf *g, const void *p, size_t n, size_t *off)
{
    if (n + 1 > g->arena_cap - g->arena_len) {
        size_t ncap = g->arena_cap ? g->arena_cap : 4096;
        while (n + 1 > ncap - g->arena_len) {
            if (ncap > SIZE_MAX / 2)
                return iw_error_set(IW_ENOMEM, "out of memory (gguf strings)");
            ncap *= 2;
        }
        char *na = realloc(g->arena, ncap);
        if (!na)
            return iw_error_set(IW_ENOMEM, "out of memory (gguf strings)");
        g->arena = na;
        g->arena_cap = ncap;
    }
    *off = g->arena_len;
    if (n)
        memcpy(g->arena + g->arena_len, p, n);
    g->arena[g->arena_len + n] = 0;
    g->arena_len += n + 1;
    return 0;
}

static int add_warning(iw_gguf *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_warning(iw_gguf *g, const char *fmt, ...)
{
    if (g->n_warn >= 64)            /* a hostile file could ask for millions */
        return 0;
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    char **nw = realloc(g->warn, (g->n_warn + 1) * sizeof *nw);
    if (!nw)
        return iw_error_set(IW_ENOMEM, "out of memory");
    g->warn = nw;
    if (!(g->warn[g->n_warn] = strdup(tmp)))
        return iw_error_set(IW_ENOMEM, "out of memory");
    g->n_warn++;
    return 0;
}

static uint64_t off_of(const parser *p) { return iw_reader_offset(&p->r); }

/* Make sure n more bytes are in the buffer. */
static int need(parser *p, uint64_t n)
{
    uint64_t pos = off_of(p);
    if (n <= p->r.len - p->r.pos)
        return 0;
    if (!p->complete) {
        if (pos + n > p->hint && pos + n > pos)
            p->hint = pos + n;
        return NEED_MORE;
    }
    if (p->limit >= p->g->file_size || pos + n <= pos)
        return iw_error_set(IW_EFORMAT,
            "%s: truncated at offset %" PRIu64 " reading %s (need %" PRIu64 " bytes, %" PRIu64 " left in the file)",
            p->g->name, pos, p->what, n, (uint64_t)(p->r.len - p->r.pos));
    return iw_error_set(IW_ELIMIT,
        "%s: header exceeds the %zu-byte cap at offset %" PRIu64 " reading %s",
        p->g->name, p->max_header, pos, p->what);
}

/* Bytes that can still follow the current offset inside the header limit. */
static uint64_t room(const parser *p)
{
    uint64_t pos = off_of(p);
    return pos < p->limit ? p->limit - pos : 0;
}

static int rd_u32(parser *p, uint32_t *v)
{
    int rc = need(p, 4);
    return rc ? rc : iw_rd_u32(&p->r, v);
}
static int rd_u64(parser *p, uint64_t *v)
{
    int rc = need(p, 8);
    return rc ? rc : iw_rd_u64(&p->r, v);
}
/* A size: u32 in version 1, u64 after. */
static int rd_size(parser *p, uint64_t *v)
{
    if (p->g->version == 1) {
        uint32_t u;
        int rc = rd_u32(p, &u);
        if (rc == 0)
            *v = u;
        return rc;
    }
    return rd_u64(p, v);
}

/* Read a string header and borrow its bytes. */
static int rd_string(parser *p, size_t cap, const char *what, const uint8_t **s, size_t *len)
{
    uint64_t at = off_of(p), n;
    p->what = what;
    int rc = rd_size(p, &n);
    if (rc)
        return rc;
    if (n > cap)
        return iw_error_set(IW_ELIMIT, "%s: %s at offset %" PRIu64 " has length %" PRIu64
                            ", over the cap of %zu bytes", p->g->name, what, at, n, cap);
    if (n > room(p))
        return iw_error_set(p->limit >= p->g->file_size ? IW_EFORMAT : IW_ELIMIT,
                            "%s: %s at offset %" PRIu64 " has length %" PRIu64
                            ", past the end of the %s (%" PRIu64 " bytes)", p->g->name, what, at, n,
                            p->limit >= p->g->file_size ? "file" : "header cap", p->limit);
    if ((rc = need(p, n)) != 0)
        return rc;
    return iw_rd_bytes(&p->r, (size_t)n, s) ? IW_EFORMAT : (*len = (size_t)n, 0);
}

static size_t fixed_size(int t)
{
    switch (t) {
    case IW_GGUF_UINT8: case IW_GGUF_INT8: case IW_GGUF_BOOL: return 1;
    case IW_GGUF_UINT16: case IW_GGUF_INT16: return 2;
    case IW_GGUF_UINT32: case IW_GGUF_INT32: case IW_GGUF_FLOAT32: return 4;
    case IW_GGUF_UINT64: case IW_GGUF_INT64: case IW_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* Decode a fixed-size value at buffer position pos. */
static kv_scalar decode(const iw_gguf *g, int type, size_t pos)
{
    iw_reader r;
    kv_scalar v = { 0 };
    iw_reader_init(&r, g->buf, g->buf_len, g->be);
    r.pos = pos;
    switch (type) {
    case IW_GGUF_UINT8: case IW_GGUF_BOOL: { uint8_t x = 0; iw_rd_u8(&r, &x); v.u = x; break; }
    case IW_GGUF_INT8: { uint8_t x = 0; iw_rd_u8(&r, &x); v.i = (int8_t)x; break; }
    case IW_GGUF_UINT16: { uint16_t x = 0; iw_rd_u16(&r, &x); v.u = x; break; }
    case IW_GGUF_INT16: { uint16_t x = 0; iw_rd_u16(&r, &x); v.i = (int16_t)x; break; }
    case IW_GGUF_UINT32: { uint32_t x = 0; iw_rd_u32(&r, &x); v.u = x; break; }
    case IW_GGUF_INT32: { int32_t x = 0; iw_rd_i32(&r, &x); v.i = x; break; }
    case IW_GGUF_FLOAT32: { float x = 0; iw_rd_f32(&r, &x); v.f = x; break; }
    case IW_GGUF_UINT64: { uint64_t x = 0; iw_rd_u64(&r, &x); v.u = x; break; }
    case IW_GGUF_INT64: { int64_t x = 0; iw_rd_i64(&r, &x); v.i = x; break; }
    case IW_GGUF_FLOAT64: { double x = 0; iw_rd_f64(&r, &x); v.f = x; break; }
    default: break;
    }
    return v;
}

/* Skip (and validate) the elements of an array whose header was read. */
static int skip_array(parser *p, const char *key, int elem, uint64_t count, int depth);

static int read_array_header(parser *p, const char *key, int depth, uint32_t *elem, uint64_t *count)
{
    uint64_t at = off_of(p);
    int rc;
    p->what = "array element type";
    if ((rc = rd_u32(p, elem)) != 0)
        return rc;
    if (*elem >= IW_GGUF_TYPE_COUNT)
        return iw_error_set(IW_EFORMAT, "%s: key '%s': unknown array element type %" PRIu32
                            " at offset %" PRIu64, p->g->name, key, *elem, at);
    if (*elem == IW_GGUF_ARRAY && depth + 1 >= p->max_depth)
        return iw_error_set(IW_ELIMIT, "%s: key '%s': arrays nested deeper than %d at offset %" PRIu64,
                            p->g->name, key, p->max_depth, at);
    p->what = "array length";
    if ((rc = rd_size(p, count)) != 0)
        return rc;
    if (*count > p->max_array)
        return iw_error_set(IW_ELIMIT, "%s: key '%s': array at offset %" PRIu64 " has %" PRIu64
                            " elements, over the cap of %" PRIu64, p->g->name, key, at, *count, p->max_array);
    /* smallest possible element: fixed size, or a length field */
    uint64_t min = fixed_size((int)*elem);
    if (*elem == IW_GGUF_STRING)
        min = p->g->version == 1 ? 4 : 8;
    else if (*elem == IW_GGUF_ARRAY)
        min = p->g->version == 1 ? 8 : 12;
    if (*count > room(p) / min)
        return iw_error_set(p->limit >= p->g->file_size ? IW_EFORMAT : IW_ELIMIT,
                            "%s: key '%s': array at offset %" PRIu64 " claims %" PRIu64 " %s elements,"
                            " more than the %" PRIu64 " bytes left in the %s can hold",
                            p->g->name, key, at, *count, iw_gguf_type_name((int)*elem), room(p),
                            p->limit >= p->g->file_size ? "file" : "header cap");
    return 0;
}

static int skip_array(parser *p, const char *key, int elem, uint64_t count, int depth)
{
    int rc;
    size_t fs = fixed_size(elem);
    if (fs) {
        p->what = "array data";
        if ((rc = need(p, count * fs)) != 0)   /* count*fs <= room: no overflow */
            return rc;
        if (elem == IW_GGUF_BOOL) {
            /* bools are i8 0/1; other bytes are accepted as true (gguf.h: != 0) */
        }
        return iw_rd_skip(&p->r, (size_t)(count * fs)) ? IW_EFORMAT : 0;
    }
    uint64_t start = off_of(p);
    for (uint64_t i = 0; i < count; i++) {
        if (elem == IW_GGUF_STRING) {
            const uint8_t *s;
            size_t len;
            if ((rc = rd_string(p, p->max_string, "array string", &s, &len)) != 0) {
                if (rc == NEED_MORE)
                    hint_collection(p, start, off_of(p), i, count);
                return rc;
            }
        } else {
            uint32_t e2;
            uint64_t c2;
            if ((rc = read_array_header(p, key, depth + 1, &e2, &c2)) != 0)
                return rc;
            if ((rc = skip_array(p, key, (int)e2, c2, depth + 1)) != 0)
                return rc;
        }
    }
    return 0;
}

static int read_kv(parser *p, uint64_t i)
{
    iw_gguf *g = p->g;
    uint64_t at = off_of(p);
    const uint8_t *kp;
    size_t klen;
    int rc;
    char kshow[128];

    if ((rc = rd_string(p, IW_GGUF_MAX_KEY, "key", &kp, &klen)) != 0)
        return rc;
    if (klen == 0)
        return iw_error_set(IW_EFORMAT, "%s: key #%" PRIu64 " at offset %" PRIu64 " is empty",
                            g->name, i, at);
    snprintf(kshow, sizeof kshow, "%.*s", (int)(klen < 100 ? klen : 100), (const char *)kp);
    if (hset_find(g, &g->kv_set, kv_eq, kp, klen) >= 0)
        return iw_error_set(IW_EFORMAT, "%s: duplicate key '%s' at offset %" PRIu64, g->name, kshow, at);

    if (g->n_kv == g->cap_kv) {
        size_t ncap = g->cap_kv ? g->cap_kv * 2 : 32;
        gguf_kv *nk = realloc(g->kv, ncap * sizeof *nk);
        if (!nk)
            return iw_error_set(IW_ENOMEM, "out of memory (gguf keys)");
        g->kv = nk;
        g->cap_kv = ncap;
    }
    gguf_kv *kv = &g->kv[g->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key_len = klen;
    if ((rc = arena_put(g, kp, klen, &kv->key_off)) != 0)
        return rc;
    g->n_kv++;
    if ((rc = hset_add(g, &g->kv_set, kv_hash, (uint32_t)(g->n_kv - 1))) != 0)
        return rc;

    uint32_t type;
    uint64_t tat = off_of(p);
    p->what = "value type";
    if ((rc = rd_u32(p, &type)) != 0)
        return rc;
    if (type >= IW_GGUF_TYPE_COUNT)
        return iw_error_set(IW_EFORMAT, "%s: key '%s': unknown value type %" PRIu32 " at offset %" PRIu64,
                            g->name, kshow, type, tat);
    kv->type = (uint8_t)type;
    size_t fs = fixed_size((int)type);
    if (fs) {
        p->what = "value";
        if ((rc = need(p, fs)) != 0)
            return rc;
        kv->pos = p->r.pos;
        kv->v = decode(g, (int)type, p->r.pos);
        iw_rd_skip(&p->r, fs);
    } else if (type == IW_GGUF_STRING) {
        const uint8_t *s;
        size_t len;
        if ((rc = rd_string(p, p->max_string, "string value", &s, &len)) != 0)
            return rc;
        kv->pos = (size_t)(s - g->buf);
        kv->str_len = len;
        if ((rc = arena_put(g, s, len, &kv->str_off)) != 0)
            return rc;
    } else {
        uint32_t elem;
        uint64_t count;
        if ((rc = read_array_header(p, kshow, 0, &elem, &count)) != 0)
            return rc;
        kv->elem_type = (uint8_t)elem;
        kv->count = count;
        kv->pos = p->r.pos;
        if ((rc = skip_array(p, kshow, (int)elem, count, 0)) != 0)
            return rc;
    }

    if (klen == 17 && memcmp(kp, "general.alignment", 17) == 0) {
        if (type != IW_GGUF_UINT32)
            return iw_error_set(IW_EFORMAT, "%s: key 'general.alignment' at offset %" PRIu64
                                " has type %s, expected UINT32", g->name, at, iw_gguf_type_name((int)type));
        uint64_t a = kv->v.u;
        if (a == 0 || (a & (a - 1)) != 0)
            return iw_error_set(IW_EFORMAT, "%s: key 'general.alignment' at offset %" PRIu64
                                " is %" PRIu64 ", not a power of two", g->name, at, a);
        g->alignment = (uint32_t)a;
    }
    return 0;
}

static int read_tensor_info(parser *p, uint64_t i)
{
    iw_gguf *g = p->g;
    uint64_t at = off_of(p);
    const uint8_t *np;
    size_t nlen;
    int rc;
    char nshow[128];

    if ((rc = rd_string(p, IW_GGUF_MAX_NAME, "tensor name", &np, &nlen)) != 0)
        return rc;
    snprintf(nshow, sizeof nshow, "%.*s", (int)(nlen < 100 ? nlen : 100), (const char *)np);
    if (memchr(np, 0, nlen))
        return iw_error_set(IW_EFORMAT, "%s: tensor #%" PRIu64 " name at offset %" PRIu64
                            " contains a NUL byte", g->name, i, at);
    if (hset_find(g, &g->t_set, t_eq, np, nlen) >= 0)
        return iw_error_set(IW_EFORMAT, "%s: duplicate tensor name '%s' at offset %" PRIu64,
                            g->name, nshow, at);
    if (g->n_t == g->cap_t) {
        size_t ncap = g->cap_t ? g->cap_t * 2 : 64;
        iw_gguf_tensor *nt = realloc(g->t, ncap * sizeof *nt);
        if (!nt)
            return iw_error_set(IW_ENOMEM, "out of memory (gguf tensors)");
        g->t = nt;
        size_t *no = realloc(g->t_name_off, ncap * sizeof *no);
        if (!no)
            return iw_error_set(IW_ENOMEM, "out of memory (gguf tensors)");
        g->t_name_off = no;
        g->cap_t = ncap;
    }
    iw_gguf_tensor *t = &g->t[g->n_t];
    memset(t, 0, sizeof *t);
    if ((rc = arena_put(g, np, nlen, &g->t_name_off[g->n_t])) != 0)
        return rc;
    g->n_t++;
    if ((rc = hset_add(g, &g->t_set, t_hash, (uint32_t)(g->n_t - 1))) != 0)
        return rc;

    uint32_t nd;
    p->what = "tensor n_dims";
    if ((rc = rd_u32(p, &nd)) != 0)
        return rc;
    if (nd > IW_GGUF_MAX_DIMS)
        return iw_error_set(IW_EFORMAT, "%s: tensor '%s' at offset %" PRIu64 " has %" PRIu32
                            " dimensions (max %d)", g->name, nshow, at, nd, IW_GGUF_MAX_DIMS);
    t->n_dims = nd;
    int64_t nel = 1;
    for (int d = 0; d < IW_GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        int64_t v;
        uint64_t dat = off_of(p);
        p->what = "tensor dimension";
        if (g->version == 1) {
            uint32_t u;
            if ((rc = rd_u32(p, &u)) != 0)
                return rc;
            v = u;
        } else {
            uint64_t u;
            if ((rc = rd_u64(p, &u)) != 0)
                return rc;
            if (u > (uint64_t)INT64_MAX)
                return iw_error_set(IW_EFORMAT, "%s: tensor '%s': negative dimension %" PRId64
                                    " at offset %" PRIu64, g->name, nshow, (int64_t)u, dat);
            v = (int64_t)u;
        }
        t->ne[d] = v;
        if (v != 0 && nel > INT64_MAX / v)
            return iw_error_set(IW_EFORMAT, "%s: tensor '%s': element count overflows at offset %" PRIu64,
                                g->name, nshow, dat);
        nel *= v;
    }
    t->n_elements = nel;

    int32_t type;
    uint64_t tat = off_of(p);
    p->what = "tensor type";
    if ((rc = need(p, 4)) != 0 || (rc = iw_rd_i32(&p->r, &type)) != 0)
        return rc;
    t->type = type;
    const iw_ggml_type_info *ti = iw_ggml_type_info_get(type);
    if (!ti) {
        t->n_bytes = -1;
        if ((rc = add_warning(g, "tensor '%s' has unknown ggml type %" PRId32 " (offset %" PRIu64
                              "); its size in bytes is unknown", nshow, type, tat)) != 0)
            return rc;
    } else {
        if (t->ne[0] % ti->blck_size != 0)
            return iw_error_set(IW_EFORMAT, "%s: tensor '%s': first dimension %" PRId64
                                " is not a multiple of the %s block size %" PRIu32 " (offset %" PRIu64 ")",
                                g->name, nshow, t->ne[0], ti->name, ti->blck_size, tat);
        int64_t blocks = nel / ti->blck_size;
        if (blocks > INT64_MAX / ti->type_size)
            return iw_error_set(IW_EFORMAT, "%s: tensor '%s': byte size overflows (offset %" PRIu64 ")",
                                g->name, nshow, tat);
        t->n_bytes = blocks * ti->type_size;
    }
    p->what = "tensor offset";
    if ((rc = rd_u64(p, &t->offset)) != 0)
        return rc;
    return 0;
}

static void reset_tables(iw_gguf *g)
{
    g->n_kv = 0;
    g->n_t = 0;
    g->arena_len = 0;
    hset_free(&g->kv_set);
    hset_free(&g->t_set);
    for (size_t i = 0; i < g->n_warn; i++)
        free(g->warn[i]);
    free(g->warn);
    g->warn = NULL;
    g->n_warn = 0;
    g->alignment = IW_GGUF_DEFAULT_ALIGNMENT;
}

static int parse_pass(parser *p)
{
    iw_gguf *g = p->g;
    int rc;
    reset_tables(g);
    iw_reader_init(&p->r, g->buf, g->buf_len, false);

    const uint8_t *m;
    p->what = "magic";
    if ((rc = need(p, 4)) != 0)
        return rc;
    iw_rd_bytes(&p->r, 4, &m);
    if (memcmp(m, "GGUF", 4) != 0 && memcmp(m, "FUGG", 4) != 0)
        return iw_error_set(IW_EFORMAT, "%s: not a GGUF file: magic at offset 0 is %02x %02x %02x %02x",
                            g->name, m[0], m[1], m[2], m[3]);
    uint32_t raw;
    p->what = "version";
    if ((rc = rd_u32(p, &raw)) != 0)
        return rc;
    /* The version is written in the file's byte order: a big-endian file
     * read little-endian has its low 16 bits zero.  (The early "FUGG" magic
     * is a little-endian writer quirk, so the byte order is taken from the
     * version, not the magic.) */
    g->be = (raw & 0xFFFFu) == 0 && raw != 0;
    g->version = g->be ? __builtin_bswap32(raw) : raw;
    p->r.big_endian = g->be;
    if (g->version < 1 || g->version > 3)
        return iw_error_set(IW_EUNSUPPORTED, "%s: unsupported GGUF version %" PRIu32 " at offset 4",
                            g->name, g->version);

    uint64_t n_t, n_kv;
    p->what = "tensor count";
    if ((rc = rd_size(p, &n_t)) != 0)
        return rc;
    p->what = "key/value count";
    if ((rc = rd_size(p, &n_kv)) != 0)
        return rc;
    if (n_t > p->max_tensors)
        return iw_error_set(IW_ELIMIT, "%s: tensor count %" PRIu64 " at offset 8 is over the cap of %" PRIu64,
                            g->name, n_t, p->max_tensors);
    if (n_kv > p->max_kv)
        return iw_error_set(IW_ELIMIT, "%s: key/value count %" PRIu64 " (offset 8) is over the cap of %" PRIu64,
                            g->name, n_kv, p->max_kv);
    /* smallest kv: key length + 1 byte key + type + 1 byte value;
     * smallest tensor info: name length + n_dims + type + offset */
    uint64_t min_kv = g->version == 1 ? 4 + 1 + 4 + 1 : 8 + 1 + 4 + 1;
    uint64_t min_ti = g->version == 1 ? 4 + 4 + 4 + 8 : 8 + 4 + 4 + 8;
    if (n_kv > room(p) / min_kv || n_t > room(p) / min_ti ||
        n_kv * min_kv + n_t * min_ti > room(p))
        return iw_error_set(p->limit >= g->file_size ? IW_EFORMAT : IW_ELIMIT,
                            "%s: %" PRIu64 " keys and %" PRIu64 " tensors (counts at offset 8) cannot fit in the %"
                            PRIu64 " bytes left in the %s", g->name, n_kv, n_t, room(p),
                            p->limit >= g->file_size ? "file" : "header cap");

    for (uint64_t i = 0; i < n_kv; i++)
        if ((rc = read_kv(p, i)) != 0)
            return rc;
    uint64_t tstart = off_of(p);
    for (uint64_t i = 0; i < n_t; i++) {
        if ((rc = read_tensor_info(p, i)) != 0) {
            if (rc == NEED_MORE)
                hint_collection(p, tstart, off_of(p), i, n_t);
            return rc;
        }
    }

    g->header_end = off_of(p);
    uint64_t a = g->alignment;
    g->data_offset = (g->header_end + a - 1) / a * a;

    /* Tensor data must be contiguous in info order: each offset is the
     * running sum of the padded sizes before it (gguf.cpp).  After a tensor
     * of unknown type the sum is unknown; the next offset must still be
     * aligned and increasing, and the sum restarts from it. */
    uint64_t expect = 0;
    bool known = true, have_prev = false;
    uint64_t prev = 0;
    g->n_params = 0;
    g->weight_bytes = 0;
    for (size_t i = 0; i < g->n_t; i++) {
        iw_gguf_tensor *t = &g->t[i];
        const char *nm = g->arena + g->t_name_off[i];
        if (t->offset % a != 0)
            return iw_error_set(IW_EFORMAT, "%s: tensor '%s': offset %" PRIu64 " is not a multiple of the"
                                " alignment %" PRIu64, g->name, nm, t->offset, a);
        if (known && t->offset != expect)
            return iw_error_set(IW_EFORMAT, "%s: tensor '%s': offset %" PRIu64 " %s the previous tensor"
                                " (expected %" PRIu64 "; tensor data must be contiguous)", g->name, nm,
                                t->offset, t->offset < expect ? "overlaps" : "leaves a gap after", expect);
        if (!known && have_prev && t->offset <= prev)
            return iw_error_set(IW_EFORMAT, "%s: tensor '%s': offset %" PRIu64 " is not after the previous"
                                " tensor's offset %" PRIu64, g->name, nm, t->offset, prev);
        prev = t->offset;
        have_prev = true;
        if (g->n_params > INT64_MAX - t->n_elements)
            return iw_error_set(IW_EFORMAT, "%s: total element count overflows at tensor '%s'", g->name, nm);
        g->n_params += t->n_elements;
        if (t->n_bytes < 0) {
            known = false;
            g->weight_bytes = -1;
            continue;
        }
        uint64_t nb = (uint64_t)t->n_bytes;
        if (g->file_size != IW_SIZE_UNKNOWN &&
            (t->offset > g->file_size || nb > g->file_size - t->offset ||
             g->data_offset > g->file_size - t->offset - nb))
            return iw_error_set(IW_EFORMAT, "%s: tensor '%s' (data offset %" PRIu64 ", %" PRIu64
                                " bytes) ends past the end of the file (%" PRIu64 " bytes)", g->name, nm,
                                g->data_offset + t->offset, nb, g->file_size);
        uint64_t padded = (nb + a - 1) / a * a;
        if (padded < nb || t->offset > UINT64_MAX - padded)
            return iw_error_set(IW_EFORMAT, "%s: tensor '%s': size overflows", g->name, nm);
        expect = t->offset + padded;
        known = true;
        if (g->weight_bytes >= 0) {
            if (g->weight_bytes > INT64_MAX - t->n_bytes)
                return iw_error_set(IW_EFORMAT, "%s: total tensor bytes overflow", g->name);
            g->weight_bytes += t->n_bytes;
        }
    }
    return 0;
}

/* ---- fetching ----------------------------------------------------------- */

static int fetch_to(iw_gguf *g, iw_source *src, size_t want, bool *eof)
{
    if (want <= g->buf_len)
        return 0;
    uint8_t *nb = realloc(g->buf, want);
    if (!nb)
        return iw_error_set(IW_ENOMEM, "%s: out of memory reading a %zu-byte header prefix", g->name, want);
    g->buf = nb;
    size_t got = 0;
    int rc = iw_source_read_at(src, g->buf_len, g->buf + g->buf_len, want - g->buf_len, &got);
    g->fetches++;
    if (rc < 0)
        return rc;
    g->fetched += got;
    if (got < want - g->buf_len)
        *eof = true;
    g->buf_len += got;
    return 0;
}

static void resolve(iw_gguf *g)
{
    for (size_t i = 0; i < g->n_kv; i++) {
        g->kv[i].key = g->arena + g->kv[i].key_off;
        if (g->kv[i].type == IW_GGUF_STRING)
            g->kv[i].str = g->arena + g->kv[i].str_off;
    }
    for (size_t i = 0; i < g->n_t; i++)
        g->t[i].name = g->arena + g->t_name_off[i];
}

int iw_gguf_parse(iw_gguf **out, iw_source *src, const iw_gguf_opts *opts)
{
    int rc = 0;
    iw_gguf *g = NULL;
    parser p;

    if (!out || !src || !src->read_at)
        return iw_error_set(IW_EINVAL, "iw_gguf_parse: invalid argument");
    *out = NULL;
    if (opts && (rc = iw_opts_version_check(opts->version, IW_GGUF_OPTS_VERSION, "iw_gguf_parse")) < 0)
        return rc;
    if (!(g = calloc(1, sizeof *g)))
        return iw_error_set(IW_ENOMEM, "out of memory");
    snprintf(g->name, sizeof g->name, "%s", src->name[0] ? src->name : "<gguf>");
    g->file_size = src->size;
    g->alignment = IW_GGUF_DEFAULT_ALIGNMENT;

    memset(&p, 0, sizeof p);
    p.g = g;
    p.max_header  = opts && opts->max_header_bytes ? opts->max_header_bytes : IW_GGUF_DEFAULT_MAX_HEADER;
    if (p.max_header > IW_GGUF_HARD_MAX_HEADER)
        p.max_header = IW_GGUF_HARD_MAX_HEADER;
    p.max_string  = opts && opts->max_string ? opts->max_string : IW_GGUF_DEFAULT_MAX_STRING;
    p.max_array   = opts && opts->max_array ? opts->max_array : IW_GGUF_DEFAULT_MAX_ARRAY;
    p.max_kv      = opts && opts->max_kv ? opts->max_kv : IW_GGUF_DEFAULT_MAX_KV;
    p.max_tensors = opts && opts->max_tensors ? opts->max_tensors : IW_GGUF_DEFAULT_MAX_TENSORS;
    p.max_depth   = opts && opts->max_depth > 0 ? opts->max_depth : IW_GGUF_DEFAULT_MAX_DEPTH;
    size_t want   = opts && opts->prefix_bytes ? opts->prefix_bytes : IW_GGUF_DEFAULT_PREFIX;
    if (want > p.max_header)
        want = p.max_header;

    bool eof = false;
    for (;;) {
        if (g->file_size != IW_SIZE_UNKNOWN && want > g->file_size)
            want = (size_t)g->file_size;
        if ((rc = fetch_to(g, src, want, &eof)) != 0)
            goto done;
        if (eof)
            g->file_size = g->buf_len;
        p.limit = g->file_size < p.max_header ? g->file_size : p.max_header;
        p.complete = g->buf_len >= p.limit;
        p.hint = 0;
        rc = parse_pass(&p);
        if (rc != NEED_MORE)
            break;
        /* grow the prefix to the estimated end (+1/16 and 64 KiB of slack for
         * what follows the collection), else double; capped by the header cap */
        if (p.hint > g->buf_len && p.hint < p.max_header) {
            uint64_t w = p.hint + p.hint / 16 + 65536;
            want = w > p.max_header ? p.max_header : (size_t)w;
        } else {
            want = g->buf_len > p.max_header / 2 ? p.max_header : g->buf_len * 2;
        }
        if (want < 4096)
            want = 4096;
    }
    if (rc != 0)
        goto done;

    /* keep only the header bytes */
    if (g->header_end < g->buf_len) {
        uint8_t *nb = realloc(g->buf, g->header_end ? (size_t)g->header_end : 1);
        if (nb)
            g->buf = nb;
        g->buf_len = (size_t)g->header_end;
    }
    resolve(g);
    *out = g;
    g = NULL;
done:
    iw_gguf_free(g);
    return rc;
}

int iw_gguf_parse_file(iw_gguf **out, const char *path, const iw_gguf_opts *opts)
{
    iw_source src;
    int rc = iw_source_open_file(&src, path);
    if (rc < 0)
        return rc;
    rc = iw_gguf_parse(out, &src, opts);
    iw_source_close(&src);
    return rc;
}

void iw_gguf_free(iw_gguf *g)
{
    if (!g)
        return;
    reset_tables(g);
    free(g->buf);
    free(g->kv);
    free(g->t);
    free(g->t_name_off);
    free(g->arena);
    free(g);
}

/* ---- accessors ------------------------------------------------------------ */

const char *iw_gguf_name(const iw_gguf *g) { return g->name; }
uint32_t iw_gguf_version(const iw_gguf *g) { return g->version; }
bool     iw_gguf_big_endian(const iw_gguf *g) { return g->be; }
uint32_t iw_gguf_alignment(const iw_gguf *g) { return g->alignment; }
uint64_t iw_gguf_data_offset(const iw_gguf *g) { return g->data_offset; }
uint64_t iw_gguf_bytes_fetched(const iw_gguf *g) { return g->fetched; }
unsigned iw_gguf_fetches(const iw_gguf *g) { return g->fetches; }
size_t   iw_gguf_warning_count(const iw_gguf *g) { return g->n_warn; }
const char *iw_gguf_warning(const iw_gguf *g, size_t i) { return i < g->n_warn ? g->warn[i] : NULL; }

size_t iw_gguf_kv_count(const iw_gguf *g) { return g->n_kv; }
const char *iw_gguf_kv_key(const iw_gguf *g, size_t i) { return i < g->n_kv ? g->kv[i].key : NULL; }
iw_gguf_type iw_gguf_kv_type(const iw_gguf *g, size_t i)
{
    return i < g->n_kv ? (iw_gguf_type)g->kv[i].type : IW_GGUF_TYPE_COUNT;
}

long iw_gguf_find_key(const iw_gguf *g, const char *key)
{
    if (!g || !key)
        return -1;
    return hset_find(g, &g->kv_set, kv_eq, key, strlen(key));
}

/* ---- typed access: the getters of kvs.c over this header --------------- */

static size_t kvs_count(const iw_kvs *s) { return ((const iw_gguf *)s->ctx)->n_kv; }

static void kvs_item(const iw_kvs *s, size_t i, iw_kv_item *out)
{
    const gguf_kv *kv = &((const iw_gguf *)s->ctx)->kv[i];
    memset(out, 0, sizeof *out);
    out->key = kv->key;
    out->type = (iw_gguf_type)kv->type;
    out->v.u = kv->v.u;
    out->str = kv->str;
    out->str_len = kv->str_len;
    out->elem = (iw_gguf_type)kv->elem_type;
    out->count = kv->count;
}

static long kvs_find(const iw_kvs *s, const char *key) { return iw_gguf_find_key(s->ctx, key); }

static int kvs_elem(const iw_kvs *s, size_t i, uint64_t j, iw_kv_scalar *v, const char **str, size_t *len)
{
    const iw_gguf *g = s->ctx;
    const gguf_kv *kv = &g->kv[i];
    if (kv->elem_type != IW_GGUF_STRING) {
        kv_scalar x = decode(g, kv->elem_type, kv->pos + j * fixed_size(kv->elem_type));
        v->u = x.u;
        return 0;
    }
    /* validated while parsing: every length fits in the buffer */
    iw_reader r;
    iw_reader_init(&r, g->buf, g->buf_len, g->be);
    r.pos = kv->pos;
    for (uint64_t k = 0;; k++) {
        uint64_t n;
        if (g->version == 1) {
            uint32_t u;
            if (iw_rd_u32(&r, &u))
                return IW_EFORMAT;
            n = u;
        } else if (iw_rd_u64(&r, &n)) {
            return IW_EFORMAT;
        }
        if (k == j) {
            const uint8_t *b;
            if (iw_rd_bytes(&r, (size_t)n, &b))
                return IW_EFORMAT;
            *str = (const char *)b;
            *len = (size_t)n;
            return 0;
        }
        if (iw_rd_skip(&r, (size_t)n))
            return IW_EFORMAT;
    }
}

static size_t kvs_n_tensors(const iw_kvs *s) { return ((const iw_gguf *)s->ctx)->n_t; }
static const iw_gguf_tensor *kvs_tensor(const iw_kvs *s, size_t i) { return &((const iw_gguf *)s->ctx)->t[i]; }

static const iw_kvs_ops gguf_kvs_ops = { kvs_count, kvs_item, kvs_find, kvs_elem, kvs_n_tensors, kvs_tensor };

void iw_gguf_kvs(const iw_gguf *g, iw_kvs *out)
{
    memset(out, 0, sizeof *out);
    out->ops = &gguf_kvs_ops;
    out->ctx = g;
    out->name = g->name;
    out->version = g->version;
}

#define KVS(g) iw_kvs s_; iw_gguf_kvs((g), &s_)

int iw_gguf_kv_int(const iw_gguf *g, size_t idx, int64_t *out) { KVS(g); return iw_kvs_int(&s_, idx, out); }
int iw_gguf_kv_float(const iw_gguf *g, size_t idx, double *out) { KVS(g); return iw_kvs_float(&s_, idx, out); }
int iw_gguf_kv_str(const iw_gguf *g, size_t idx, const char **out, size_t *len)
{
    KVS(g);
    return iw_kvs_str(&s_, idx, out, len);
}
int iw_gguf_kv_array(const iw_gguf *g, size_t idx, iw_gguf_type *elem_type, uint64_t *count)
{
    KVS(g);
    return iw_kvs_array(&s_, idx, elem_type, count);
}
int iw_gguf_get_int(const iw_gguf *g, const char *key, int64_t *out) { KVS(g); return iw_kvs_get_int(&s_, key, out); }
int iw_gguf_get_uint(const iw_gguf *g, const char *key, uint64_t *out) { KVS(g); return iw_kvs_get_uint(&s_, key, out); }
int iw_gguf_get_float(const iw_gguf *g, const char *key, double *out) { KVS(g); return iw_kvs_get_float(&s_, key, out); }
int iw_gguf_get_bool(const iw_gguf *g, const char *key, bool *out) { KVS(g); return iw_kvs_get_bool(&s_, key, out); }
int iw_gguf_get_str(const iw_gguf *g, const char *key, const char **out, size_t *len)
{
    KVS(g);
    return iw_kvs_get_str(&s_, key, out, len);
}
int iw_gguf_get_array(const iw_gguf *g, const char *key, iw_gguf_type *elem_type, uint64_t *count)
{
    KVS(g);
    return iw_kvs_get_array(&s_, key, elem_type, count);
}
int iw_gguf_array_int(const iw_gguf *g, const char *key, uint64_t i, int64_t *out)
{
    KVS(g);
    return iw_kvs_array_int(&s_, key, i, out);
}
int iw_gguf_array_float(const iw_gguf *g, const char *key, uint64_t i, double *out)
{
    KVS(g);
    return iw_kvs_array_float(&s_, key, i, out);
}
int iw_gguf_array_str(const iw_gguf *g, const char *key, uint64_t i, const char **out, size_t *len)
{
    KVS(g);
    return iw_kvs_array_str(&s_, key, i, out, len);
}

/* ---- tensors ----------------------------------------------------------------- */

size_t iw_gguf_tensor_count(const iw_gguf *g) { return g->n_t; }
const iw_gguf_tensor *iw_gguf_tensor_at(const iw_gguf *g, size_t i) { return i < g->n_t ? &g->t[i] : NULL; }
const iw_gguf_tensor *iw_gguf_tensor_find(const iw_gguf *g, const char *name)
{
    long i = hset_find(g, &g->t_set, t_eq, name, strlen(name));
    return i < 0 ? NULL : &g->t[i];
}
int64_t iw_gguf_param_count(const iw_gguf *g) { return g->n_params; }
int64_t iw_gguf_weight_bytes(const iw_gguf *g) { return g->weight_bytes; }

int iw_gguf_write_tensors_csv_header(FILE *f)
{
    if (fputs("kind,name,shape,dtype\n", f) < 0)
        return iw_error_set_os(IW_EIO, errno, "writing tensor CSV");
    return 0;
}

int iw_gguf_tensors_csv(const iw_gguf *g, iw_buf *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < g->n_t; i++) {
        const iw_gguf_tensor *t = &g->t[i];
        rc = iw_buf_puts(out, "gguf,");
        if (!rc) rc = iw_buf_csv_field(out, t->name);
        if (!rc) rc = iw_buf_putc(out, ',');
        for (uint32_t d = 0; rc == 0 && d < t->n_dims; d++)
            rc = iw_buf_printf(out, d ? "x%" PRId64 : "%" PRId64, t->ne[d]);
        const char *tn = iw_ggml_type_name(t->type);
        if (!rc) rc = tn ? iw_buf_printf(out, ",%s\n", tn) : iw_buf_printf(out, ",TYPE%" PRId32 "\n", t->type);
    }
    return rc;
}

int iw_gguf_write_tensors_csv(const iw_gguf *g, FILE *f)
{
    iw_buf b = IW_BUF_INIT(IW_BUF_UNCAPPED);
    int rc = iw_gguf_tensors_csv(g, &b);
    if (rc == 0 && b.len && fwrite(b.data, 1, b.len, f) != b.len)
        rc = iw_error_set_os(IW_EIO, errno, "writing tensor CSV");
    iw_buf_free(&b);
    return rc;
}
