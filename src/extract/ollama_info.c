/* ollama_info.c - map an Ollama /api/show answer into iw_arch.
 *
 * model_info (and projector_info) are the GGUF key/value pairs of the model
 * (and projector) file, rendered as JSON.  They are read through the same
 * typed getter as a GGUF header (kvs.h), so gguf_arch.c maps both with one
 * set of rules; the verbose answer's "tensors" list becomes the tensor infos.
 * Pure function of the text: no network here (the HTTP request is in
 * src/downloader/ollama_api.c).
 *
 * JSON -> GGUF value types: string -> STRING, true/false -> BOOL, integral
 * numbers (up to 2^53) -> UINT32/UINT64 (negative: INT32/INT64), other
 * numbers -> FLOAT64, arrays of one of those kinds -> ARRAY of it; null (the
 * vocabulary of a non-verbose answer), empty, nested or mixed arrays and
 * objects have no GGUF form and are left out (a left-out non-null value is a
 * warning).  A GGUF file's metadata is written as version 3, which is what
 * Ollama's files are; the quantization format says "gguf-v3". */
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
#include "kvs.h"
#include "inspect_internal.h"

#define SHOW_SRC "ollama-api"

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

static iw_gguf_type int_type(double d)
{
    if (d >= 0)
        return d <= 4294967295.0 ? IW_GGUF_UINT32 : IW_GGUF_UINT64;
    return d >= -2147483648.0 ? IW_GGUF_INT32 : IW_GGUF_INT64;
}

/* The GGUF type of a scalar JSON value, or IW_GGUF_TYPE_COUNT when none. */
static iw_gguf_type scalar_type(const cJSON *v)
{
    switch (kind_of(v)) {
    case K_STR: return IW_GGUF_STRING;
    case K_BOOL: return IW_GGUF_BOOL;
    case K_INT: return int_type(v->valuedouble);
    case K_FLOAT: return IW_GGUF_FLOAT64;
    default: return IW_GGUF_TYPE_COUNT;
    }
}

/* The element type of an array: all strings, all bools, or all numbers (the
 * widest integer type, else FLOAT64); IW_GGUF_TYPE_COUNT when it has no GGUF
 * form (empty, nested, mixed). */
static iw_gguf_type array_type(const cJSON *v)
{
    if (cJSON_GetArraySize(v) <= 0)
        return IW_GGUF_TYPE_COUNT;
    kind k = kind_of(v->child);
    double lo = 0, hi = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        kind ek = kind_of(e);
        if (ek == K_NONE)
            return IW_GGUF_TYPE_COUNT;
        if ((k == K_INT || k == K_FLOAT) && (ek == K_INT || ek == K_FLOAT)) {
            if (ek == K_FLOAT)
                k = K_FLOAT;
            if (e->valuedouble < lo) lo = e->valuedouble;
            if (e->valuedouble > hi) hi = e->valuedouble;
        } else if (ek != k) {
            return IW_GGUF_TYPE_COUNT;
        }
    }
    if (k == K_STR)
        return IW_GGUF_STRING;
    if (k == K_BOOL)
        return IW_GGUF_BOOL;
    if (k == K_FLOAT)
        return IW_GGUF_FLOAT64;
    return lo < 0 ? (lo >= -2147483648.0 && hi <= 2147483647.0 ? IW_GGUF_INT32 : IW_GGUF_INT64) : int_type(hi);
}

/* A JSON number or bool held as a value of GGUF type t. */
static iw_kv_scalar scalar_of(const cJSON *v, iw_gguf_type t)
{
    iw_kv_scalar x;
    x.u = 0;
    switch (t) {
    case IW_GGUF_BOOL: x.u = cJSON_IsTrue(v) ? 1 : 0; break;
    case IW_GGUF_UINT32: x.u = (uint32_t)v->valuedouble; break;
    case IW_GGUF_UINT64: x.u = (uint64_t)v->valuedouble; break;
    case IW_GGUF_INT32: x.i = (int32_t)v->valuedouble; break;
    case IW_GGUF_INT64: x.i = (int64_t)v->valuedouble; break;
    default: x.f = v->valuedouble; break;
    }
    return x;
}

/* ---- model_info / projector_info as an iw_kvs --------------------------- */

typedef struct jkv {
    const cJSON *v;
    iw_gguf_type type, elem;
} jkv;

typedef struct jinfo {
    jkv *kv;                  /* the values with a GGUF form, in answer order */
    size_t n;
    iw_gguf_tensor *t;        /* from the verbose "tensors" list */
    size_t nt;
    char name[256];           /* "<what> (model_info)" */
} jinfo;

static size_t j_count(const iw_kvs *s) { return ((const jinfo *)s->ctx)->n; }

static void j_item(const iw_kvs *s, size_t i, iw_kv_item *out)
{
    const jkv *e = &((const jinfo *)s->ctx)->kv[i];
    memset(out, 0, sizeof *out);
    out->key = e->v->string;
    out->type = e->type;
    if (e->type == IW_GGUF_STRING) {
        out->str = e->v->valuestring;
        out->str_len = strlen(e->v->valuestring);
    } else if (e->type == IW_GGUF_ARRAY) {
        out->elem = e->elem;
        out->count = (uint64_t)cJSON_GetArraySize(e->v);
    } else {
        out->v = scalar_of(e->v, e->type);
    }
}

static long j_find(const iw_kvs *s, const char *key)
{
    const jinfo *J = s->ctx;
    for (size_t i = 0; i < J->n; i++)
        if (strcmp(J->kv[i].v->string, key) == 0)
            return (long)i;
    return -1;
}

static int j_elem(const iw_kvs *s, size_t i, uint64_t j, iw_kv_scalar *v, const char **str, size_t *len)
{
    const jkv *e = &((const jinfo *)s->ctx)->kv[i];
    const cJSON *x = cJSON_GetArrayItem(e->v, (int)j);
    if (!x)
        return IW_ENOTFOUND;
    if (e->elem == IW_GGUF_STRING) {
        *str = x->valuestring;
        *len = strlen(x->valuestring);
    } else {
        *v = scalar_of(x, e->elem);
    }
    return 0;
}

static size_t j_n_tensors(const iw_kvs *s) { return ((const jinfo *)s->ctx)->nt; }
static const iw_gguf_tensor *j_tensor(const iw_kvs *s, size_t i) { return &((const jinfo *)s->ctx)->t[i]; }

static const iw_kvs_ops json_kvs_ops = { j_count, j_item, j_find, j_elem, j_n_tensors, j_tensor };

static void jinfo_free(jinfo *J)
{
    free(J->kv);
    free(J->t);
    memset(J, 0, sizeof *J);
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
static int read_tensors(jinfo *J, const cJSON *tensors, const char *what, iw_arch *a)
{
    int n = cJSON_GetArraySize(tensors);
    if (n <= 0)
        return 0;
    iw_gguf_tensor *t = calloc((size_t)n, sizeof *t);
    if (!t)
        return iw_error_set(IW_ENOMEM, "out of memory");
    size_t k = 0;
    uint64_t all_bytes = 0, all_elements = 0;   /* kept below INT64_MAX / 2: the tally sums them */
    const char *why = NULL;
    const cJSON *e;
    cJSON_ArrayForEach(e, tensors) {
        const char *name = iw_json_get_str(e, "name");
        const char *type = iw_json_get_str(e, "type");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        int32_t id = type ? ggml_type_by_name(type) : -1;
        const iw_ggml_type_info *ti = id >= 0 ? iw_ggml_type_info_get(id) : NULL;
        int nd = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
        if (!name || !*name || strlen(name) > IW_GGUF_MAX_NAME) { why = "a tensor without a usable name"; break; }
        if (!ti) { why = "a tensor type this reader does not know"; break; }
        if (nd < 1 || nd > IW_GGUF_MAX_DIMS) { why = "a tensor shape with 0 or more than 4 dimensions"; break; }
        iw_gguf_tensor *x = &t[k];
        x->name = name;
        x->n_dims = (uint32_t)nd;
        for (int d = 0; d < IW_GGUF_MAX_DIMS; d++)
            x->ne[d] = 1;
        uint64_t nel = 1;
        int d = 0;
        const cJSON *dim;
        cJSON_ArrayForEach(dim, shape) {
            int64_t v;
            if (!iw_json_item_i64(dim, &v) || v <= 0 || v > (int64_t)1 << 40) { why = "a bad tensor dimension"; break; }
            x->ne[d++] = v;
            if (nel > (uint64_t)INT64_MAX / (uint64_t)v) { why = "a tensor too large"; break; }
            nel *= (uint64_t)v;
        }
        if (why)
            break;
        if ((uint64_t)x->ne[0] % ti->blck_size) { why = "a tensor whose first dimension is not a whole number of blocks"; break; }
        uint64_t bytes = nel / ti->blck_size * ti->type_size;
        if (bytes > (uint64_t)INT64_MAX / 2 - all_bytes || nel > (uint64_t)INT64_MAX / 2 - all_elements) {
            why = "tensors too large";
            break;
        }
        all_bytes += bytes;
        all_elements += nel;
        x->type = id;
        x->n_elements = (int64_t)nel;
        x->n_bytes = (int64_t)bytes;
        k++;
    }
    if (why) {
        free(t);
        return iw_arch_warn(a, "ollama: %s: \"tensors\" holds %s; parameters come from general.parameter_count",
                            what, why);
    }
    J->t = t;
    J->nt = k;
    return 0;
}

static int cmp_key(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* One JSON object of GGUF keys (model_info or projector_info) as an iw_kvs. */
static int info_kvs(const cJSON *info, const cJSON *tensors, const char *what, const char *name,
                    bool is_projector, iw_arch *a, jinfo *J, iw_kvs *s)
{
    size_t skipped = 0;
    const char *first_skipped = NULL;
    const cJSON *it;
    memset(J, 0, sizeof *J);
    snprintf(J->name, sizeof J->name, "%s (%s)", what, name);
    J->kv = calloc((size_t)cJSON_GetArraySize(info) + 1, sizeof *J->kv);
    if (!J->kv)
        return iw_error_set(IW_ENOMEM, "out of memory");
    cJSON_ArrayForEach(it, info) {
        if (!it->string || !*it->string || strlen(it->string) > IW_GGUF_MAX_KEY)
            return iw_error_set(IW_EFORMAT, "%s: %s has an empty or over-long key", what, name);
        iw_gguf_type t = cJSON_IsArray(it) ? IW_GGUF_ARRAY : scalar_type(it);
        iw_gguf_type et = t == IW_GGUF_ARRAY ? array_type(it) : IW_GGUF_TYPE_COUNT;
        if (t == IW_GGUF_TYPE_COUNT || (t == IW_GGUF_ARRAY && et == IW_GGUF_TYPE_COUNT)) {
            if (!cJSON_IsNull(it) && !(cJSON_IsArray(it) && cJSON_GetArraySize(it) == 0) && !skipped++)
                first_skipped = it->string;
            continue;
        }
        J->kv[J->n++] = (jkv){ it, t, et };
    }
    int rc;
    /* GGUF keys are unique: a repeated one is refused, as in a GGUF header */
    const char **keys = malloc((J->n ? J->n : 1) * sizeof *keys);
    if (!keys)
        return iw_error_set(IW_ENOMEM, "out of memory");
    for (size_t i = 0; i < J->n; i++)
        keys[i] = J->kv[i].v->string;
    qsort(keys, J->n, sizeof *keys, cmp_key);
    for (size_t i = 1; i < J->n; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            rc = iw_error_set(IW_EFORMAT, "%s: %s has the key '%s' twice", what, name, keys[i]);
            free(keys);
            return rc;
        }
    free(keys);
    if (skipped && (rc = iw_arch_warn(a, "ollama: %s: %zu %s value(s) have no GGUF form and were skipped (first: %s)",
                                      what, skipped, name, first_skipped)) < 0)
        return rc;
    if (cJSON_IsArray(tensors) && (rc = read_tensors(J, tensors, what, a)) < 0)
        return rc;
    memset(s, 0, sizeof *s);
    s->ops = &json_kvs_ops;
    s->ctx = J;
    s->name = J->name;
    s->version = 3;
    s->projector = is_projector;
    return 0;
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
    jinfo J[2];
    iw_kvs kv[2];
    const iw_kvs *pkv[2] = { &kv[0], &kv[1] };
    size_t ng = 0;
    int rc;
    memset(J, 0, sizeof J);
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
    ng++;
    if ((rc = info_kvs(mi, tensors, what, "model_info", false, a, &J[0], &kv[0])) < 0)
        goto cleanup;
    const cJSON *pi = cJSON_GetObjectItemCaseSensitive(doc, "projector_info");
    if (cJSON_IsObject(pi) && pi->child) {
        ng++;
        if ((rc = info_kvs(pi, NULL, what, "projector_info", true, a, &J[1], &kv[1])) < 0)
            goto cleanup;
    }
    if ((rc = iw_kvs_to_arch(pkv, ng, a)) < 0)
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
    if ((rc = iw__gguf_kv_default("ollama", a)) < 0 || (rc = iw__finish_kv(a)) < 0)
        goto cleanup;
    if ((rc = iw_arch_set_str(&a->source, SHOW_SRC)) < 0)
        goto cleanup;
    iw_arch_stamp_now(a);
    rc = 0;
cleanup:
    for (size_t i = 0; i < ng; i++)
        jinfo_free(&J[i]);
    cJSON_Delete(doc);
    return rc;
}
