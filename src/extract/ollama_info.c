/* ollama_info.c - map an Ollama /api/show answer into iw_arch.
 *
 * model_info (and projector_info) are the GGUF key/value pairs of the model
 * (and projector) file, rendered as JSON.  Rather than keep a second copy of
 * the GGUF key mapping, the pairs are re-encoded as a header-only GGUF v3 in
 * memory (plus tensor infos when the verbose answer lists "tensors") and
 * handed to the GGUF reader and iw_gguf_to_arch, so both paths map keys the
 * same way.  Pure function of the text: no network here (the HTTP request is
 * in src/downloader/ollama_api.c).
 *
 * JSON -> GGUF value types: string -> STRING, true/false -> BOOL, integral
 * numbers -> UINT32/UINT64 (negative: INT32/INT64), other numbers -> FLOAT64,
 * arrays of one of those kinds -> ARRAY of it; null (the vocabulary of a
 * non-verbose answer), empty, nested or mixed arrays and objects are skipped
 * (a skipped non-null value is a warning). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/buf.h"
#include "iwdl/error.h"
#include "iwdl/gguf.h"
#include "iwdl/json.h"
#include "iwdl/ollama.h"
#include "ollama_internal.h"

#define SHOW_SRC "ollama-api"

static int put(iw_buf *b, const void *d, size_t n) { return iw_buf_append(b, d, n); }
static int put_u32(iw_buf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    return put(b, x, 4);
}
static int put_u64(iw_buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    return put(b, x, 8);
}
static int put_str(iw_buf *b, const char *s)
{
    size_t n = strlen(s);
    int rc = put_u64(b, n);
    return rc < 0 ? rc : put(b, s, n);
}

typedef enum { K_NONE, K_STR, K_BOOL, K_INT, K_FLOAT } kind;

static bool integral(double d)
{
    return isfinite(d) && d == floor(d) && fabs(d) <= 9007199254740992.0;   /* 2^53 */
}

static kind kind_of(const cJSON *v)
{
    if (cJSON_IsString(v))
        return K_STR;
    if (cJSON_IsBool(v))
        return K_BOOL;
    if (cJSON_IsNumber(v))
        return integral(v->valuedouble) ? K_INT : K_FLOAT;
    return K_NONE;
}

static int int_type(double d)
{
    if (d >= 0)
        return d <= 4294967295.0 ? IW_GGUF_UINT32 : IW_GGUF_UINT64;
    return d >= -2147483648.0 ? IW_GGUF_INT32 : IW_GGUF_INT64;
}

static int put_scalar(iw_buf *b, int type, const cJSON *v)
{
    switch (type) {
    case IW_GGUF_STRING: return put_str(b, v->valuestring);
    case IW_GGUF_BOOL: { unsigned char c = cJSON_IsTrue(v) ? 1 : 0; return put(b, &c, 1); }
    case IW_GGUF_UINT32: return put_u32(b, (uint32_t)v->valuedouble);
    case IW_GGUF_INT32: return put_u32(b, (uint32_t)(int32_t)v->valuedouble);
    case IW_GGUF_UINT64: return put_u64(b, (uint64_t)v->valuedouble);
    case IW_GGUF_INT64: return put_u64(b, (uint64_t)(int64_t)v->valuedouble);
    default: { double d = v->valuedouble; uint64_t u; memcpy(&u, &d, 8); return put_u64(b, u); }
    }
}

static int scalar_type(const cJSON *v)
{
    switch (kind_of(v)) {
    case K_STR: return IW_GGUF_STRING;
    case K_BOOL: return IW_GGUF_BOOL;
    case K_INT: return int_type(v->valuedouble);
    case K_FLOAT: return IW_GGUF_FLOAT64;
    default: return -1;
    }
}

/* One key/value pair; *skipped = true (and nothing written) when the value
 * has no GGUF form. */
static int put_kv(iw_buf *b, const char *key, const cJSON *v, bool *skipped)
{
    int rc;
    *skipped = true;
    if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        if (n <= 0)
            return 0;
        /* element type: all strings, all bools, or all numbers (widest int type, else float) */
        kind k = kind_of(v->child);
        int et = -1;
        double lo = 0, hi = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            kind ek = kind_of(e);
            if (ek == K_NONE)
                return 0;
            if ((k == K_INT || k == K_FLOAT) && (ek == K_INT || ek == K_FLOAT)) {
                if (ek == K_FLOAT)
                    k = K_FLOAT;
                if (e->valuedouble < lo) lo = e->valuedouble;
                if (e->valuedouble > hi) hi = e->valuedouble;
            } else if (ek != k) {
                return 0;
            }
        }
        if (k == K_STR)
            et = IW_GGUF_STRING;
        else if (k == K_BOOL)
            et = IW_GGUF_BOOL;
        else if (k == K_FLOAT)
            et = IW_GGUF_FLOAT64;
        else
            et = lo < 0 ? (lo >= -2147483648.0 && hi <= 2147483647.0 ? IW_GGUF_INT32 : IW_GGUF_INT64)
                        : int_type(hi);
        if ((rc = put_str(b, key)) < 0 || (rc = put_u32(b, IW_GGUF_ARRAY)) < 0 ||
            (rc = put_u32(b, (uint32_t)et)) < 0 || (rc = put_u64(b, (uint64_t)n)) < 0)
            return rc;
        cJSON_ArrayForEach(e, v)
            if ((rc = put_scalar(b, et, e)) < 0)
                return rc;
        *skipped = false;
        return 0;
    }
    int t = scalar_type(v);
    if (t < 0)
        return 0;
    if ((rc = put_str(b, key)) < 0 || (rc = put_u32(b, (uint32_t)t)) < 0 || (rc = put_scalar(b, t, v)) < 0)
        return rc;
    *skipped = false;
    return 0;
}

static int32_t ggml_type_by_name(const char *s)
{
    for (int32_t id = 0; id < IW_GGML_TYPE_COUNT; id++) {
        const char *n = iw_ggml_type_name(id);
        if (n && strcmp(n, s) == 0)
            return id;
    }
    return -1;
}

/* Tensor infos from the verbose "tensors" array ({name, type, shape}).  Any
 * entry that does not fit (unknown type name, bad shape, name too long)
 * drops the whole list with a warning: a partial list would give wrong
 * parameter counts. */
static int put_tensors(iw_buf *b, const cJSON *tensors, const char *what, iw_arch *a, uint64_t *count,
                       uint64_t *data_bytes)
{
    *count = 0;
    *data_bytes = 0;
    iw_buf tb = IW_BUF_INIT(b->max);
    const cJSON *t;
    uint64_t off = 0, n = 0;
    int rc = 0;
    const char *why = NULL;
    cJSON_ArrayForEach(t, tensors) {
        const char *name = iw_json_get_str(t, "name");
        const char *type = iw_json_get_str(t, "type");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        int32_t id = type ? ggml_type_by_name(type) : -1;
        const iw_ggml_type_info *ti = id >= 0 ? iw_ggml_type_info_get(id) : NULL;
        int nd = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
        if (!name || !*name || strlen(name) > IW_GGUF_MAX_NAME) { why = "a tensor without a usable name"; break; }
        if (!ti) { why = "a tensor type this reader does not know"; break; }
        if (nd < 1 || nd > IW_GGUF_MAX_DIMS) { why = "a tensor shape with 0 or more than 4 dimensions"; break; }
        uint64_t ne[IW_GGUF_MAX_DIMS], nel = 1;
        int i = 0;
        const cJSON *d;
        cJSON_ArrayForEach(d, shape) {
            int64_t v;
            if (!iw_json_item_i64(d, &v) || v <= 0 || v > (int64_t)1 << 40) { why = "a bad tensor dimension"; break; }
            ne[i++] = (uint64_t)v;
            if (nel > UINT64_MAX / (uint64_t)v) { why = "a tensor too large"; break; }
            nel *= (uint64_t)v;
        }
        if (why)
            break;
        if (ne[0] % ti->blck_size) { why = "a tensor whose first dimension is not a whole number of blocks"; break; }
        uint64_t bytes = nel / ti->blck_size * ti->type_size;
        if ((rc = put_str(&tb, name)) < 0 || (rc = put_u32(&tb, (uint32_t)nd)) < 0)
            goto done;
        for (int j = 0; j < nd; j++)
            if ((rc = put_u64(&tb, ne[j])) < 0)
                goto done;
        if ((rc = put_u32(&tb, (uint32_t)id)) < 0 || (rc = put_u64(&tb, off)) < 0)
            goto done;
        if (bytes > UINT64_MAX / 2 - off) { why = "tensors too large"; break; }
        off += (bytes + IW_GGUF_DEFAULT_ALIGNMENT - 1) / IW_GGUF_DEFAULT_ALIGNMENT * IW_GGUF_DEFAULT_ALIGNMENT;
        n++;
    }
    if (why) {
        rc = iw_arch_warn(a, "ollama: %s: \"tensors\" holds %s; parameters come from general.parameter_count",
                          what, why);
        goto done;
    }
    if ((rc = put(b, tb.data ? tb.data : "", tb.len)) < 0)
        goto done;
    *count = n;
    *data_bytes = off;
done:
    iw_buf_free(&tb);
    return rc;
}

typedef struct vfile { const unsigned char *p; size_t len; uint64_t size; } vfile;

static int vfile_read_at(void *ctx, uint64_t off, void *dst, size_t len, size_t *got)
{
    const vfile *v = ctx;
    *got = 0;
    if (off >= v->size)
        return 0;
    if (len > v->size - off)
        len = (size_t)(v->size - off);
    size_t from_buf = off < v->len ? (v->len - (size_t)off < len ? v->len - (size_t)off : len) : 0;
    if (from_buf)
        memcpy(dst, v->p + off, from_buf);
    memset((char *)dst + from_buf, 0, len - from_buf);
    *got = len;
    return 0;
}

/* Encode one JSON object of GGUF keys as a GGUF v3 header and parse it. */
static int info_to_gguf(const cJSON *info, const cJSON *tensors, const char *what, const char *name,
                        bool is_projector, iw_arch *a, iw_gguf **out)
{
    *out = NULL;
    iw_buf b = IW_BUF_INIT(IW_GGUF_HARD_MAX_HEADER);
    iw_buf kv = IW_BUF_INIT(IW_GGUF_HARD_MAX_HEADER);
    uint64_t n_kv = 0, n_t = 0, data_bytes = 0;
    int rc = 0;
    const cJSON *it;
    size_t skipped = 0;
    const char *first_skipped = NULL;
    iw_source src;
    memset(&src, 0, sizeof src);

    if (is_projector && !cJSON_GetObjectItemCaseSensitive(info, "general.architecture")) {
        if ((rc = put_str(&kv, "general.architecture")) < 0 || (rc = put_u32(&kv, IW_GGUF_STRING)) < 0 ||
            (rc = put_str(&kv, "clip")) < 0)
            goto done;
        n_kv++;
    }
    cJSON_ArrayForEach(it, info) {
        bool sk;
        if (!it->string || !*it->string || strlen(it->string) > IW_GGUF_MAX_KEY) {
            rc = iw_error_set(IW_EFORMAT, "%s: %s has an empty or over-long key", what, name);
            goto done;
        }
        if ((rc = put_kv(&kv, it->string, it, &sk)) < 0)
            goto done;
        if (!sk)
            n_kv++;
        else if (!cJSON_IsNull(it) && !(cJSON_IsArray(it) && cJSON_GetArraySize(it) == 0) && !skipped++)
            first_skipped = it->string;
    }
    if (skipped && (rc = iw_arch_warn(a, "ollama: %s: %zu %s value(s) have no GGUF form and were skipped (first: %s)",
                                      what, skipped, name, first_skipped)) < 0)
        goto done;

    iw_buf tinfo = IW_BUF_INIT(IW_GGUF_HARD_MAX_HEADER);
    if (cJSON_IsArray(tensors) && cJSON_GetArraySize(tensors) > 0 &&
        (rc = put_tensors(&tinfo, tensors, what, a, &n_t, &data_bytes)) < 0) {
        iw_buf_free(&tinfo);
        goto done;
    }
    if ((rc = put(&b, "GGUF", 4)) < 0 || (rc = put_u32(&b, 3)) < 0 || (rc = put_u64(&b, n_t)) < 0 ||
        (rc = put_u64(&b, n_kv)) < 0 || (rc = put(&b, kv.data ? kv.data : "", kv.len)) < 0 ||
        (rc = put(&b, tinfo.data ? tinfo.data : "", n_t ? tinfo.len : 0)) < 0) {
        iw_buf_free(&tinfo);
        goto done;
    }
    iw_buf_free(&tinfo);
    while (b.len % IW_GGUF_DEFAULT_ALIGNMENT)
        if ((rc = put(&b, "", 1)) < 0)
            goto done;

    char sname[256];
    snprintf(sname, sizeof sname, "%s (%s)", what, name);
    /* The tensor data is not there: present the header as a file whose data
     * section reads as zeros, so the reader's "tensor ends past the end of
     * the file" check holds.  Only the header is ever fetched. */
    vfile vf = { (const unsigned char *)b.data, b.len, 0 };
    vf.size = (uint64_t)b.len + data_bytes;
    memset(&src, 0, sizeof src);
    src.read_at = vfile_read_at;
    src.ctx = &vf;
    src.size = vf.size;
    snprintf(src.name, sizeof src.name, "%s", sname);
    iw_gguf_opts o = IW_GGUF_OPTS_INIT;
    o.prefix_bytes = b.len;
    o.max_header_bytes = b.len + 64 < IW_GGUF_HARD_MAX_HEADER ? b.len + 64 : IW_GGUF_HARD_MAX_HEADER;
    rc = iw_gguf_parse(out, &src, &o);
done:
    iw_buf_free(&kv);
    iw_buf_free(&b);
    return rc;
}

/* Add key = v to obj; a repeated key (and "stop", a list in Ollama's own
 * params blob) becomes an array.  Takes v. */
static bool params_put(cJSON *obj, const char *key, cJSON *v)
{
    cJSON *have = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!have && strcmp(key, "stop") != 0)
        return cJSON_AddItemToObject(obj, key, v) != 0;
    if (!have) {
        cJSON *arr = cJSON_CreateArray();
        if (!arr || !cJSON_AddItemToObject(obj, key, arr)) {
            cJSON_Delete(arr);
            cJSON_Delete(v);
            return false;
        }
        have = arr;
    } else if (!cJSON_IsArray(have)) {
        cJSON *arr = cJSON_CreateArray();
        cJSON *old = cJSON_DetachItemViaPointer(obj, have);
        if (!arr || !cJSON_AddItemToArray(arr, old) || !cJSON_AddItemToObject(obj, key, arr)) {
            cJSON_Delete(arr);
            cJSON_Delete(v);
            return false;
        }
        have = arr;
    }
    return cJSON_AddItemToArray(have, v) != 0;
}

/* The Modelfile-style parameters text of /api/show ("num_ctx   4096",
 * "stop   \"<|eot_id|>\"", one option a line) as a JSON object in the shape
 * of the params blob: a value that reads as a JSON number, string or
 * boolean is that, anything else the raw text.  Lines whose key is not an
 * option name ([A-Za-z0-9_], at most 64) are skipped and counted. */
static int params_object(const char *text, cJSON **out, size_t *bad)
{
    cJSON *obj = cJSON_CreateObject();
    const char *p = text;
    *out = NULL;
    *bad = 0;
    if (!obj)
        return iw_error_set(IW_ENOMEM, "out of memory");
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        const char *line = p;
        p = eol ? eol + 1 : p + n;
        while (n && (*line == ' ' || *line == '\t')) {
            line++;
            n--;
        }
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            n--;
        if (!n)
            continue;
        size_t k = 0;
        while (k < n && ((line[k] >= 'a' && line[k] <= 'z') || (line[k] >= 'A' && line[k] <= 'Z') ||
                         (line[k] >= '0' && line[k] <= '9') || line[k] == '_'))
            k++;
        size_t v = k;
        while (v < n && (line[v] == ' ' || line[v] == '\t'))
            v++;
        if (k == 0 || k > 64 || v == k || v == n) {
            (*bad)++;
            continue;
        }
        char key[65];
        memcpy(key, line, k);
        key[k] = 0;
        cJSON *val = cJSON_ParseWithLength(line + v, n - v);
        if (val && !(cJSON_IsNumber(val) || cJSON_IsString(val) || cJSON_IsBool(val))) {
            cJSON_Delete(val);
            val = NULL;
        }
        if (!val) {
            char *raw = strndup(line + v, n - v);
            val = raw ? cJSON_CreateString(raw) : NULL;
            free(raw);
        }
        if (!val || !params_put(obj, key, val)) {
            cJSON_Delete(obj);
            return iw_error_set(IW_ENOMEM, "out of memory");
        }
    }
    *out = obj;
    return 0;
}

/* parameters text -> ollama_params_json and ollama_num_ctx; odd content is
 * a warning, never fatal (the architecture does not depend on it). */
static int read_parameters(const char *text, const char *what, iw_arch *a)
{
    cJSON *obj = NULL;
    size_t bad = 0;
    int rc = params_object(text, &obj, &bad);
    if (rc < 0)
        return rc;
    if (bad && (rc = iw_arch_warn(a, "ollama: %s: %zu parameters line%s not 'name value'; skipped", what, bad,
                                  bad == 1 ? "" : "s")) < 0)
        goto done;
    if (obj->child) {
        char *txt = cJSON_PrintUnformatted(obj);
        if (!txt) {
            rc = iw_error_set(IW_ENOMEM, "out of memory");
            goto done;
        }
        if (strlen(txt) > IW_OLLAMA_MAX_PARAMS) {
            free(txt);
            rc = iw_arch_warn(a, "ollama: %s: parameters exceed %u bytes; not recorded", what, IW_OLLAMA_MAX_PARAMS);
            if (rc < 0)
                goto done;
        } else {
            free(a->ollama_params_json);
            a->ollama_params_json = txt;
        }
    }
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(obj, "num_ctx");
    int64_t v;
    if (nc && iw_json_item_i64(nc, &v) && v > 0) {
        a->ollama_num_ctx = v;
        rc = iw_arch_set_source(a, "ollama.num_ctx", SHOW_SRC ":parameters");
    } else if (nc) {
        rc = iw_arch_warn(a, "ollama: %s: parameters num_ctx is not a positive integer; ignored", what);
    }
done:
    cJSON_Delete(obj);
    return rc < 0 ? rc : 0;
}

int iw_ollama_show_to_arch(const char *json, size_t len, const char *what, iw_arch *a)
{
    cJSON *doc = NULL;
    iw_gguf *g[2] = { NULL, NULL };
    size_t ng = 0;
    int rc;
    if (!json || !a)
        return iw_error_set(IW_EINVAL, "iw_ollama_show_to_arch: invalid argument");
    if (!what)
        what = "/api/show";
    if (len > IW_OLLAMA_MAX_SHOW)
        return iw_error_set(IW_ELIMIT, "%s: answer of %zu bytes exceeds the %u byte cap", what, len,
                            IW_OLLAMA_MAX_SHOW);
    if ((rc = iw_json_parse(json, len, what, &doc, NULL)) < 0)
        return rc;
    if (!cJSON_IsObject(doc)) {
        rc = iw_error_set(IW_EFORMAT, "%s: answer is not a JSON object", what);
        goto cleanup;
    }
    const cJSON *mi = cJSON_GetObjectItemCaseSensitive(doc, "model_info");
    if (!cJSON_IsObject(mi) || !mi->child) {
        rc = iw_error_set(IW_EFORMAT, "%s: answer has no model_info object (Ollama older than 0.3?)", what);
        goto cleanup;
    }
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(doc, "tensors");
    if ((rc = info_to_gguf(mi, tensors, what, "model_info", false, a, &g[ng])) < 0)
        goto cleanup;
    ng++;
    const cJSON *pi = cJSON_GetObjectItemCaseSensitive(doc, "projector_info");
    if (cJSON_IsObject(pi) && pi->child) {
        if ((rc = info_to_gguf(pi, NULL, what, "projector_info", true, a, &g[ng])) < 0)
            goto cleanup;
        ng++;
    }
    if ((rc = iw_gguf_to_arch((const iw_gguf *const *)g, ng, a)) < 0)
        goto cleanup;

    /* no tensor list: the converter's own count */
    int64_t pc;
    if (a->parameters.total <= 0 && iw_json_get_i64(mi, "general.parameter_count", &pc) && pc > 0) {
        a->parameters.total = pc;
        if ((rc = iw_arch_set_str(&a->parameters.source, "gguf")) < 0 ||
            (rc = iw_arch_set_source(a, "parameters", SHOW_SRC ":general.parameter_count")) < 0)
            goto cleanup;
    }
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(doc, "details");
    const char *ql = cJSON_IsObject(details) ? iw_json_get_str(details, "quantization_level") : NULL;
    if (ql && *ql && strlen(ql) < 64 && !a->quantization.label) {
        if ((rc = iw_arch_set_str(&a->quantization.label, ql)) < 0 ||
            (!a->quantization.method && (rc = iw_arch_set_str(&a->quantization.method, "gguf")) < 0) ||
            (rc = iw_arch_set_source(a, "quantization", SHOW_SRC ":details.quantization_level")) < 0)
            goto cleanup;
    }
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(doc, "capabilities");
    const cJSON *c;
    if (!cJSON_IsArray(caps))
        caps = NULL;
    cJSON_ArrayForEach(c, caps) {
        if (cJSON_IsString(c) && strcmp(c->valuestring, "vision") == 0 && !a->has_vision) {
            a->has_vision = true;
            if ((rc = iw_arch_set_source(a, "has_vision", SHOW_SRC ":capabilities")) < 0)
                goto cleanup;
        }
    }
    const char *params = iw_json_get_str(doc, "parameters");
    if (params && (rc = read_parameters(params, what, a)) < 0)
        goto cleanup;
    if (a->ollama_num_ctx > 0 && a->context_length > 0 && a->ollama_num_ctx > a->context_length &&
        (rc = iw_arch_warn(a, "ollama: num_ctx %" PRId64 " exceeds the model's trained context %" PRId64,
                           a->ollama_num_ctx, a->context_length)) < 0)
        goto cleanup;
    if ((rc = iw_ollama_finish_kv(a)) < 0)
        goto cleanup;
    if ((rc = iw_arch_set_str(&a->source, SHOW_SRC)) < 0)
        goto cleanup;
    iw_arch_stamp_now(a);
    rc = 0;
cleanup:
    for (size_t i = 0; i < ng; i++)
        iw_gguf_free(g[i]);
    cJSON_Delete(doc);
    return rc;
}
