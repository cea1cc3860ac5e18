/* safetensors.c - safetensors header reader, shard index parser and its
 * cross-check against the headers, CSV rows (which files make up a model:
 * headers.c; counting: tensors.c).  See include/iwdl/safetensors.h for
 * the accepted format and docs/formats/safetensors.md for the caps.
 *
 * Reads headers only: at most 8 + min(N, IW_ST_MAX_HEADER) bytes per file. */
#include "iwdl/safetensors.h"
#include "iwdl/error.h"
#include "iwdl/text.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "safetensors_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integers in the header are parsed by cJSON as doubles; above 2^53 they are
 * no longer exact, so such dims/offsets are refused rather than rounded. */
#define ST_MAX_EXACT_INT ((int64_t)1 << 53)

/* ---- small helpers -------------------------------------------------------- */

bool iw_st_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static uint64_t st_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int iw_st_strset_init(st_strset *s, size_t expected)
{
    memset(s, 0, sizeof *s);
    size_t cap = 16;
    while (cap < expected * 2 + 1) {
        if (cap > SIZE_MAX / 4)
            return iw_error_set(IW_ENOMEM, "name set too large (%zu entries)", expected);
        cap *= 2;
    }
    s->slot = calloc(cap, sizeof *s->slot);
    s->val = calloc(cap, sizeof *s->val);
    if (!s->slot || !s->val) {
        iw_st_strset_free(s);
        return iw_error_set(IW_ENOMEM, "out of memory (name set of %zu entries)", expected);
    }
    s->cap = cap;
    return 0;
}

static int iw_st_strset_grow(st_strset *s)
{
    st_strset n;
    int rc = iw_st_strset_init(&n, s->cap);   /* doubles the capacity */
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i])
            iw_st_strset_put(&n, s->slot[i], s->val[i], NULL);
    iw_st_strset_free(s);
    *s = n;
    return 0;
}

int iw_st_strset_put(st_strset *s, const char *key, size_t val, size_t *val_out)
{
    if ((s->n + 1) * 2 > s->cap) {
        int rc = iw_st_strset_grow(s);
        if (rc < 0)
            return rc;
    }
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)st_hash(key) & mask;; i = (i + 1) & mask) {
        if (!s->slot[i]) {
            s->slot[i] = key;
            s->val[i] = val;
            s->n++;
            return 1;
        }
        if (strcmp(s->slot[i], key) == 0) {
            if (val_out)
                *val_out = s->val[i];
            return 0;
        }
    }
}

bool iw_st_strset_get(const st_strset *s, const char *key, size_t *val_out)
{
    if (!s->cap)
        return false;
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)st_hash(key) & mask; s->slot[i]; i = (i + 1) & mask) {
        if (strcmp(s->slot[i], key) == 0) {
            if (val_out)
                *val_out = s->val[i];
            return true;
        }
    }
    return false;
}

void iw_st_strset_free(st_strset *s)
{
    free(s->slot);
    free(s->val);
    memset(s, 0, sizeof *s);
}

/* ---- dtypes ------------------------------------------------------------- */

static const struct { const char *name; unsigned bits; } dtype_tab[IW_ST_DTYPE_COUNT] = {
    [IW_ST_BOOL]    = { "BOOL", 8 },
    [IW_ST_F4]      = { "F4", 4 },
    [IW_ST_F6_E2M3] = { "F6_E2M3", 6 },
    [IW_ST_F6_E3M2] = { "F6_E3M2", 6 },
    [IW_ST_U8]      = { "U8", 8 },
    [IW_ST_I8]      = { "I8", 8 },
    [IW_ST_F8_E5M2] = { "F8_E5M2", 8 },
    [IW_ST_F8_E4M3] = { "F8_E4M3", 8 },
    [IW_ST_F8_E8M0] = { "F8_E8M0", 8 },
    [IW_ST_I16]     = { "I16", 16 },
    [IW_ST_U16]     = { "U16", 16 },
    [IW_ST_F16]     = { "F16", 16 },
    [IW_ST_BF16]    = { "BF16", 16 },
    [IW_ST_I32]     = { "I32", 32 },
    [IW_ST_U32]     = { "U32", 32 },
    [IW_ST_F32]     = { "F32", 32 },
    [IW_ST_C64]     = { "C64", 64 },
    [IW_ST_F64]     = { "F64", 64 },
    [IW_ST_I64]     = { "I64", 64 },
    [IW_ST_U64]     = { "U64", 64 },
};

const char *iw_st_dtype_name(iw_st_dtype t)
{
    return (unsigned)t < IW_ST_DTYPE_COUNT ? dtype_tab[t].name : "?";
}

unsigned iw_st_dtype_bits(iw_st_dtype t)
{
    return (unsigned)t < IW_ST_DTYPE_COUNT ? dtype_tab[t].bits : 0;
}

int iw_st_dtype_parse(const char *s, iw_st_dtype *out)
{
    if (!s)
        return IW_ENOTFOUND;
    for (int i = 0; i < IW_ST_DTYPE_COUNT; i++) {
        if (strcmp(s, dtype_tab[i].name) == 0) {
            *out = (iw_st_dtype)i;
            return 0;
        }
    }
    if (strcmp(s, "E8M0") == 0) { *out = IW_ST_F8_E8M0; return 0; }
    if (strcmp(s, "FP4") == 0)  { *out = IW_ST_F4; return 0; }
    return IW_ENOTFOUND;
}

/* ---- header ------------------------------------------------------------- */

void iw_st_file_free(iw_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->name);
    cJSON_Delete(f->metadata);
    memset(f, 0, sizeof *f);
    f->file_size = IW_SIZE_UNKNOWN;
}

const iw_st_tensor *iw_st_file_find(const iw_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

/* Non-negative integer that cJSON represents exactly. */
static bool st_get_uint(const cJSON *it, int64_t *out, bool *negative)
{
    int64_t v;
    *negative = false;
    if (!iw_json_item_i64(it, &v))
        return false;
    if (v < 0) {
        *negative = true;
        *out = v;
        return false;
    }
    if (v > ST_MAX_EXACT_INT)
        return false;
    *out = v;
    return true;
}

static int check_name(const char *src, const char *name)
{
    size_t n = strlen(name);
    if (n == 0)
        return iw_error_set(IW_EFORMAT, "%s: empty tensor name in the header", src);
    if (n > IW_ST_MAX_NAME)
        return iw_error_set(IW_ELIMIT, "%s: tensor name of %zu bytes exceeds the cap of %d ('%.40s...')",
                            src, n, IW_ST_MAX_NAME, name);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return iw_error_set(IW_EFORMAT, "%s: tensor name '%.60s' contains control character 0x%02x",
                                src, name, (unsigned char)name[i]);
    if (!iw_utf8_valid(name, n))   /* cJSON passes any byte through */
        return iw_error_set(IW_EFORMAT, "%s: tensor name is not valid UTF-8", src);
    return 0;
}

static int parse_tensor(const char *src, const cJSON *v, iw_st_tensor *t, uint64_t data_start,
                        uint64_t file_size)
{
    const char *name = t->name;
    if (!cJSON_IsObject(v))
        return iw_error_set(IW_EFORMAT, "%s: tensor '%s': entry is not an object", src, name);

    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(v, "dtype");
    if (!cJSON_IsString(dt))
        return iw_error_set(IW_EFORMAT, "%s: tensor '%s': missing or non-string \"dtype\"", src, name);
    if (iw_st_dtype_parse(dt->valuestring, &t->dtype) != 0)
        return iw_error_set(IW_EFORMAT, "%s: tensor '%s': unknown dtype '%.40s'", src, name, dt->valuestring);

    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(v, "shape");
    if (!cJSON_IsArray(sh))
        return iw_error_set(IW_EFORMAT, "%s: tensor '%s': missing or non-array \"shape\"", src, name);
    uint64_t elems = 1;
    size_t nd = 0;
    for (const cJSON *d = sh->child; d; d = d->next) {
        if (nd >= IW_ST_MAX_DIMS)
            return iw_error_set(IW_ELIMIT, "%s: tensor '%s': more than %d dimensions", src, name, IW_ST_MAX_DIMS);
        int64_t dim;
        bool neg;
        if (!st_get_uint(d, &dim, &neg)) {
            if (neg)
                return iw_error_set(IW_EFORMAT, "%s: tensor '%s': shape[%zu] is negative (%lld)",
                                    src, name, nd, (long long)dim);
            if (cJSON_IsNumber(d) && d->valuedouble == floor(d->valuedouble))
                return iw_error_set(IW_ELIMIT, "%s: tensor '%s': shape[%zu] = %.0f is too large",
                                    src, name, nd, d->valuedouble);
            return iw_error_set(IW_EFORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                                src, name, nd);
        }
        t->shape[nd++] = dim;
        if (__builtin_mul_overflow(elems, (uint64_t)dim, &elems) || elems > (uint64_t)INT64_MAX)
            return iw_error_set(IW_ELIMIT, "%s: tensor '%s': element count overflows (shape product beyond 2^63)",
                                src, name);
    }
    t->n_dims = nd;
    t->n_elements = elems;

    uint64_t bits;
    if (__builtin_mul_overflow(elems, (uint64_t)iw_st_dtype_bits(t->dtype), &bits))
        return iw_error_set(IW_ELIMIT, "%s: tensor '%s': byte size overflows (%llu elements of %s)",
                            src, name, (unsigned long long)elems, iw_st_dtype_name(t->dtype));
    if (bits % 8 != 0)
        return iw_error_set(IW_EFORMAT, "%s: tensor '%s': %llu elements of %s do not fill whole bytes",
                            src, name, (unsigned long long)elems, iw_st_dtype_name(t->dtype));
    uint64_t need = bits / 8;

    const cJSON *off = cJSON_GetObjectItemCaseSensitive(v, "data_offsets");
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return iw_error_set(IW_EFORMAT, "%s: tensor '%s': \"data_offsets\" must be an array of two integers",
                            src, name);
    int64_t b, e;
    bool nb, ne;
    if (!st_get_uint(off->child, &b, &nb) || !st_get_uint(off->child->next, &e, &ne))
        return iw_error_set(IW_EFORMAT, "%s: tensor '%s': data_offsets must be integers in [0, 2^53]",
                            src, name);
    if (b > e)
        return iw_error_set(IW_EFORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] end before they begin",
                            src, name, (long long)b, (long long)e);
    t->begin = (uint64_t)b;
    t->end = (uint64_t)e;
    if (t->end - t->begin != need)
        return iw_error_set(IW_EFORMAT,
            "%s: tensor '%s': data_offsets [%lld, %lld] hold %llu bytes but %llu elements of %s need %llu",
            src, name, (long long)b, (long long)e, (unsigned long long)(t->end - t->begin),
            (unsigned long long)elems, iw_st_dtype_name(t->dtype), (unsigned long long)need);
    if (file_size != IW_SIZE_UNKNOWN && t->end > file_size - data_start)
        return iw_error_set(IW_EFORMAT,
            "%s: tensor '%s': data_offsets end %lld (file offset %llu) is beyond the end of the file (%llu bytes)",
            src, name, (long long)e, (unsigned long long)(data_start + t->end), (unsigned long long)file_size);
    return 0;
}

static int cmp_by_offset(const void *pa, const void *pb)
{
    const iw_st_tensor *a = *(const iw_st_tensor *const *)pa, *b = *(const iw_st_tensor *const *)pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return 0;
}

static int check_tiling(const char *src, iw_st_file *f)
{
    if (f->n_tensors == 0)
        return 0;
    iw_st_tensor **ord = malloc(f->n_tensors * sizeof *ord);
    if (!ord)
        return iw_error_set(IW_ENOMEM, "out of memory");
    for (size_t i = 0; i < f->n_tensors; i++)
        ord[i] = &f->tensors[i];
    qsort(ord, f->n_tensors, sizeof *ord, cmp_by_offset);
    uint64_t expect = 0;
    const iw_st_tensor *prev = NULL;
    int rc = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const iw_st_tensor *t = ord[i];
        if (t->begin < expect) {
            rc = iw_error_set(IW_EFORMAT, "%s: tensor '%s' data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]",
                              src, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                              prev->name, (unsigned long long)prev->begin, (unsigned long long)prev->end);
            goto cleanup;
        }
        if (t->begin > expect) {
            rc = iw_error_set(IW_EFORMAT, "%s: gap of %llu bytes in the data section before tensor '%s' at data offset %llu",
                              src, (unsigned long long)(t->begin - expect), t->name, (unsigned long long)t->begin);
            goto cleanup;
        }
        expect = t->end;
        prev = t;
    }
    f->data_bytes = expect;
cleanup:
    free(ord);
    return rc;
}

/* Before cJSON builds a node per value: refuse a header listing more than
 * IW_ST_MAX_TENSORS entries or holding more than IW_ST_MAX_JSON_VALUES
 * values (an upper bound: 1 + commas + opened objects and arrays, outside
 * strings), one linear pass with no allocation. */
static int check_budget(const char *nm, const char *h, size_t n)
{
    size_t values = 1, commas = 0, depth = 0;   /* entries = top-level commas + 1 */
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
            values++;
        } else if (c == '}' || c == ']') {
            depth -= depth > 0;
        } else if (c == ',') {
            values++;
            commas += depth == 1;
        }
        if (commas >= IW_ST_MAX_TENSORS)
            return iw_error_set(IW_ELIMIT, "%s: the header lists more than %u tensors (the cap); refused before "
                                "parsing it", nm, IW_ST_MAX_TENSORS);
        if (values > IW_ST_MAX_JSON_VALUES)
            return iw_error_set(IW_ELIMIT, "%s: the header holds more than %u JSON values (the cap); refused "
                                "before parsing it", nm, IW_ST_MAX_JSON_VALUES);
    }
    return 0;
}

int iw_st_read_header(iw_source *src, iw_st_file *out)
{
    memset(out, 0, sizeof *out);
    out->file_size = src->size;
    const char *nm = src->name[0] ? src->name : "<safetensors>";
    char *hdr = NULL;
    cJSON *root = NULL;
    st_strset names = { 0 };
    int rc;

    out->name = strdup(nm);
    if (!out->name) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto cleanup;
    }

    unsigned char lenb[8];
    size_t got = 0;
    rc = iw_source_read_at(src, 0, lenb, sizeof lenb, &got);
    if (rc < 0) {
        iw_error_prefix("%s", nm);
        goto cleanup;
    }
    if (got < 8) {
        rc = iw_error_set(IW_EFORMAT, "%s: %zu bytes, too short for a safetensors file (8-byte header length)", nm, got);
        goto cleanup;
    }
    if (memcmp(lenb, "version ", 8) == 0) {
        char probe[160];
        rc = iw_source_read_at(src, 0, probe, sizeof probe, &got);
        if (rc < 0)
            goto cleanup;
        if (iw_is_lfs_pointer(probe, got)) {
            rc = iw_error_set(IW_EFORMAT, "%s is a Git LFS pointer, not a safetensors file: the real file was not downloaded", nm);
            goto cleanup;
        }
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | lenb[i];
    out->header_len = n;
    if (n > IW_ST_MAX_HEADER) {
        rc = iw_error_set(IW_ELIMIT, "%s: header length %llu at offset 0 exceeds the cap of %u bytes",
                          nm, (unsigned long long)n, IW_ST_MAX_HEADER);
        goto cleanup;
    }
    if (src->size != IW_SIZE_UNKNOWN && n > src->size - 8) {
        rc = iw_error_set(IW_EFORMAT, "%s: header length %llu at offset 0 exceeds the file size (%llu bytes)",
                          nm, (unsigned long long)n, (unsigned long long)src->size);
        goto cleanup;
    }
    if (n < 2) {
        rc = iw_error_set(IW_EFORMAT, "%s: header length %llu at offset 0 is too small for a JSON object",
                          nm, (unsigned long long)n);
        goto cleanup;
    }
    out->data_start = 8 + n;
    hdr = malloc((size_t)n + 1);
    if (!hdr) {
        rc = iw_error_set(IW_ENOMEM, "%s: out of memory for a %llu-byte header", nm, (unsigned long long)n);
        goto cleanup;
    }
    rc = iw_source_read_at(src, 8, hdr, (size_t)n, &got);
    if (rc < 0) {
        iw_error_prefix("%s", nm);
        goto cleanup;
    }
    if (got < n) {
        rc = iw_error_set(IW_EFORMAT, "%s: header truncated: %llu bytes expected at offset 8, %zu present",
                          nm, (unsigned long long)n, got);
        goto cleanup;
    }
    hdr[n] = 0;
    if ((rc = check_budget(nm, hdr, (size_t)n)) < 0)
        goto cleanup;
    /* duplicates are found below in linear time (iw_json_parse's report is
     * not needed) */
    rc = iw_json_parse(hdr, (size_t)n, nm, &root, NULL);
    if (rc < 0)
        goto cleanup;
    if (!cJSON_IsObject(root)) {
        rc = iw_error_set(IW_EFORMAT, "%s: header is not a JSON object", nm);
        goto cleanup;
    }

    size_t count = 0;
    for (const cJSON *it = root->child; it; it = it->next)
        count++;
    if (count) {
        out->tensors = calloc(count, sizeof *out->tensors);
        if (!out->tensors) {
            rc = iw_error_set(IW_ENOMEM, "%s: out of memory for %zu tensors", nm, count);
            goto cleanup;
        }
    }
    rc = iw_st_strset_init(&names, count);
    if (rc < 0)
        goto cleanup;

    bool seen_meta = false;
    cJSON *it = root->child;
    while (it) {
        cJSON *next = it->next;
        const char *key = it->string ? it->string : "";
        if (strcmp(key, "__metadata__") == 0) {
            if (seen_meta) {
                rc = iw_error_set(IW_EFORMAT, "%s: duplicate \"__metadata__\" in the header", nm);
                goto cleanup;
            }
            seen_meta = true;
            if (cJSON_IsNull(it)) {
                it = next;
                continue;
            }
            if (!cJSON_IsObject(it)) {
                rc = iw_error_set(IW_EFORMAT, "%s: \"__metadata__\" is not an object", nm);
                goto cleanup;
            }
            for (const cJSON *m = it->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    rc = iw_error_set(IW_EFORMAT, "%s: __metadata__['%.60s'] is not a string", nm,
                                      m->string ? m->string : "");
                    goto cleanup;
                }
            }
            out->metadata = cJSON_DetachItemViaPointer(root, it);
            it = next;
            continue;
        }
        rc = check_name(nm, key);
        if (rc < 0)
            goto cleanup;
        iw_st_tensor *t = &out->tensors[out->n_tensors];
        t->name = strdup(key);
        if (!t->name) {
            rc = iw_error_set(IW_ENOMEM, "out of memory");
            goto cleanup;
        }
        out->n_tensors++;
        rc = iw_st_strset_put(&names, t->name, 0, NULL);
        if (rc < 0)
            goto cleanup;
        if (rc == 0) {
            rc = iw_error_set(IW_EFORMAT, "%s: duplicate tensor name '%s' in the header", nm, key);
            goto cleanup;
        }
        rc = parse_tensor(nm, it, t, out->data_start, src->size);
        if (rc < 0)
            goto cleanup;
        it = next;
    }
    rc = check_tiling(nm, out);
    if (rc < 0)
        goto cleanup;
    if (src->size != IW_SIZE_UNKNOWN)
        out->trailing_bytes = src->size - out->data_start - out->data_bytes;
    rc = 0;

cleanup:
    iw_st_strset_free(&names);
    cJSON_Delete(root);
    free(hdr);
    if (rc < 0)
        iw_st_file_free(out);
    return rc;
}

int iw_st_parse_buffer(const void *data, size_t len, const char *name, iw_st_file *out)
{
    iw_source s;
    iw_source_from_buffer(&s, data, len, name);
    if (!s.read_at) {
        memset(out, 0, sizeof *out);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    int rc = iw_st_read_header(&s, out);
    iw_source_close(&s);
    return rc;
}

/* ---- index -------------------------------------------------------------- */

void iw_st_index_free(iw_st_index *idx)
{
    if (!idx)
        return;
    for (size_t i = 0; i < idx->n_shards; i++)
        free(idx->shards[i]);
    free(idx->shards);
    for (size_t i = 0; i < idx->n_tensors; i++)
        free(idx->tensor_names[i]);
    free(idx->tensor_names);
    free(idx->tensor_shard);
    memset(idx, 0, sizeof *idx);
    idx->total_size = IW_UNKNOWN;
    idx->total_parameters = IW_UNKNOWN;
}

static bool st_meta_int(const cJSON *meta, const char *key, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(meta, key);
    int64_t v;
    if (cJSON_IsString(it)) {      /* some exporters write numbers as strings */
        char *end = NULL;
        long long x = strtoll(it->valuestring, &end, 10);
        if (end == it->valuestring || *end || x < 0)
            return false;
        *out = x;
        return true;
    }
    if (!iw_json_item_i64(it, &v) || v < 0)
        return false;
    *out = v;
    return true;
}

int iw_st_index_parse(const char *text, size_t len, const char *what, iw_st_index *out)
{
    memset(out, 0, sizeof *out);
    out->total_size = IW_UNKNOWN;
    out->total_parameters = IW_UNKNOWN;
    if (!what)
        what = "<index>";
    cJSON *root = NULL;
    st_strset shards = { 0 }, names = { 0 };
    int rc = iw_json_parse(text, len, what, &root, NULL);
    if (rc < 0)
        goto cleanup;
    if (!cJSON_IsObject(root)) {
        rc = iw_error_set(IW_EFORMAT, "%s: index is not a JSON object", what);
        goto cleanup;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (cJSON_IsObject(meta)) {
        st_meta_int(meta, "total_size", &out->total_size);
        st_meta_int(meta, "total_parameters", &out->total_parameters);
    }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) {
        rc = iw_error_set(IW_EFORMAT, "%s: no \"weight_map\" object", what);
        goto cleanup;
    }
    size_t count = 0;
    for (const cJSON *it = wm->child; it; it = it->next)
        count++;
    if (count) {
        out->tensor_names = calloc(count, sizeof *out->tensor_names);
        out->tensor_shard = calloc(count, sizeof *out->tensor_shard);
        if (!out->tensor_names || !out->tensor_shard) {
            rc = iw_error_set(IW_ENOMEM, "%s: out of memory for %zu tensors", what, count);
            goto cleanup;
        }
    }
    if ((rc = iw_st_strset_init(&names, count)) < 0 || (rc = iw_st_strset_init(&shards, 64)) < 0)
        goto cleanup;
    size_t cap_shards = 0;
    for (const cJSON *it = wm->child; it; it = it->next) {
        const char *tn = it->string ? it->string : "";
        rc = check_name(what, tn);
        if (rc < 0)
            goto cleanup;
        if (!cJSON_IsString(it)) {
            rc = iw_error_set(IW_EFORMAT, "%s: weight_map['%s'] is not a string", what, tn);
            goto cleanup;
        }
        const char *sh = it->valuestring;
        if (iw_path_check_relative(sh, strlen(sh)) != 0) {
            rc = iw_error_set(IW_EUNSAFE, "%s: weight_map['%s'] names unsafe shard '%.200s' (absolute path, '..' or control characters refused)",
                              what, tn, sh);
            goto cleanup;
        }
        size_t si;
        if (!iw_st_strset_get(&shards, sh, &si)) {
            if (out->n_shards >= IW_ST_MAX_SHARDS) {
                rc = iw_error_set(IW_ELIMIT, "%s: more than %d shard files", what, IW_ST_MAX_SHARDS);
                goto cleanup;
            }
            if (out->n_shards == cap_shards) {
                size_t nc = cap_shards ? cap_shards * 2 : 16;
                char **nv = realloc(out->shards, nc * sizeof *nv);
                if (!nv) {
                    rc = iw_error_set(IW_ENOMEM, "out of memory");
                    goto cleanup;
                }
                out->shards = nv;
                cap_shards = nc;
            }
            si = out->n_shards;
            out->shards[si] = strdup(sh);
            if (!out->shards[si]) {
                rc = iw_error_set(IW_ENOMEM, "out of memory");
                goto cleanup;
            }
            out->n_shards++;
            if ((rc = iw_st_strset_put(&shards, out->shards[si], si, NULL)) < 0)
                goto cleanup;
        }
        size_t ti = out->n_tensors;
        out->tensor_names[ti] = strdup(tn);
        if (!out->tensor_names[ti]) {
            rc = iw_error_set(IW_ENOMEM, "out of memory");
            goto cleanup;
        }
        out->tensor_shard[ti] = si;
        out->n_tensors++;
        rc = iw_st_strset_put(&names, out->tensor_names[ti], ti, NULL);
        if (rc < 0)
            goto cleanup;
        if (rc == 0) {
            rc = iw_error_set(IW_EFORMAT, "%s: duplicate tensor name '%s' in weight_map", what, tn);
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    iw_st_strset_free(&names);
    iw_st_strset_free(&shards);
    cJSON_Delete(root);
    if (rc < 0)
        iw_st_index_free(out);
    return rc;
}

/* Index <-> headers cross-check: names listed in the index must be in the
 * shard the index names; tensors not in the index are reported. */
int iw_st_check_index(const iw_st_index *idx, const char *idx_name, const iw_st_file *files,
                      size_t n_files, iw_arch *a)
{
    st_strset where = { 0 };
    size_t total = 0;
    if (!idx_name)
        idx_name = "the index";
    for (size_t i = 0; i < n_files; i++)
        total += files[i].n_tensors;
    int rc = iw_st_strset_init(&where, total);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n_files; i++)
        for (size_t j = 0; j < files[i].n_tensors; j++) {
            size_t prev;
            rc = iw_st_strset_put(&where, files[i].tensors[j].name, i, &prev);
            if (rc < 0)
                goto cleanup;
            if (rc == 0) {
                rc = iw_error_set(IW_EFORMAT, "tensor '%s' appears in both '%s' and '%s'",
                                  files[i].tensors[j].name, files[prev].name, files[i].name);
                goto cleanup;
            }
        }
    size_t missing = 0, misplaced = 0;
    const char *first_missing = NULL, *first_misplaced = NULL;
    for (size_t t = 0; t < idx->n_tensors; t++) {
        size_t fi;
        if (!iw_st_strset_get(&where, idx->tensor_names[t], &fi)) {
            if (!missing++)
                first_missing = idx->tensor_names[t];
        } else if (fi != idx->tensor_shard[t]) {
            if (!misplaced++)
                first_misplaced = idx->tensor_names[t];
        }
    }
    if (missing)
        iw_arch_warn(a, "%s lists %zu tensor(s) absent from the shard headers (first: '%s')",
                     idx_name, missing, first_missing);
    if (misplaced)
        iw_arch_warn(a, "%s places %zu tensor(s) in a different shard than the headers (first: '%s')",
                     idx_name, misplaced, first_misplaced);
    if (total > idx->n_tensors - missing)
        iw_arch_warn(a, "the shard headers hold %zu tensor(s) not listed in %s (counted anyway)",
                     total - (idx->n_tensors - missing), idx_name);
    rc = 0;
cleanup:
    iw_st_strset_free(&where);
    return rc;
}

/* ---- CSV ------------------------------------------------------------------ */

int iw_st_csv_append(const iw_st_file *f, bool header, iw_buf *out)
{
    int rc = 0;
    if (header)
        rc = iw_buf_puts(out, "kind,name,shape,dtype\n");
    for (size_t i = 0; rc == 0 && i < f->n_tensors; i++) {
        const iw_st_tensor *t = &f->tensors[i];
        rc = iw_buf_puts(out, "safetensors,");
        if (!rc) rc = iw_buf_csv_field(out, t->name);
        if (!rc) rc = iw_buf_putc(out, ',');
        for (size_t d = 0; rc == 0 && d < t->n_dims; d++)
            rc = iw_buf_printf(out, d ? "x%lld" : "%lld", (long long)t->shape[d]);
        if (!rc) rc = iw_buf_printf(out, ",%s\n", iw_st_dtype_name(t->dtype));
    }
    return rc;
}
