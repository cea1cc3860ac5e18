/* request.c - an estimate request from its fields (catalog.h): the ranges
 * and names every front end checks the same way, and the JSON body of
 * serve's POST /estimate (docs/api.md) read field by field. */
#include "iwdl/catalog.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/json.h"

#define STR_MAX 256   /* a string field of a JSON request */

static const struct int_field {
    const char *key;
    int64_t     lo, hi;
} int_fields[] = {
    {"context", 1, (int64_t)1 << 31},    {"batch", 1, 1 << 20},          {"tp", 1, 1024},
    {"max_model_len", 1, (int64_t)1 << 31}, {"port", 1, 65535},
    {"max_num_batched_tokens", 1, (int64_t)1 << 31}, {"max_num_seqs", 1, 1 << 20},
    {"ngl", 0, 100000},                  {"ubatch", 1, 1 << 20},         {"n_batch", 1, 1 << 20},
};

int iw_catalog_estimate_request_set_int(iw_estimate_request *rq, const char *key, int64_t v)
{
    const struct int_field *f = NULL;
    for (size_t i = 0; i < sizeof int_fields / sizeof *int_fields; i++)
        if (!strcmp(int_fields[i].key, key))
            f = &int_fields[i];
    if (!f)
        return iw_error_set(IW_EINVAL, "'%s' is not an integer field of an estimate request", key);
    if (v < f->lo || v > f->hi)
        return iw_error_set(IW_EINVAL, "'%s' must be an integer in %" PRId64 "..%" PRId64, key, f->lo, f->hi);
    iw_est_opts *o = &rq->opts;
    if (!strcmp(key, "context"))
        o->context = v, rq->ctx_set = true;
    else if (!strcmp(key, "batch"))
        o->batch = v, rq->batch_set = true;
    else if (!strcmp(key, "tp"))
        o->tp = (int)v;
    else if (!strcmp(key, "max_model_len"))
        rq->ov.max_model_len = v;
    else if (!strcmp(key, "port"))
        rq->port = (int)v;
    else if (!strcmp(key, "max_num_batched_tokens"))
        o->max_num_batched_tokens = v;
    else if (!strcmp(key, "max_num_seqs"))
        o->max_num_seqs = v;
    else if (!strcmp(key, "ngl"))
        o->n_gpu_layers = v;
    else if (!strcmp(key, "ubatch"))
        o->n_ubatch = v;
    else
        o->n_batch = v;
    return 0;
}

int iw_catalog_estimate_request_set_num(iw_estimate_request *rq, const char *key, double v)
{
    if (!strcmp(key, "gpu_util")) {
        if (!(v > 0 && v <= 1))
            return iw_error_set(IW_EINVAL, "'gpu_util' must be a fraction in (0, 1]");
        rq->opts.gpu_util = v;
    } else if (!strcmp(key, "params_b")) {
        if (!(v > 0 && v <= IW_EST_PARAMS_B_CAP))
            return iw_error_set(IW_EINVAL, "'params_b' must be a positive number of billions, at most %.0f",
                                IW_EST_PARAMS_B_CAP);
        rq->ov.params_b = v;
    } else {
        return iw_error_set(IW_EINVAL, "'%s' is not a numeric field of an estimate request", key);
    }
    return 0;
}

int iw_catalog_estimate_request_set_str(iw_estimate_request *rq, const char *key, const char *s)
{
    iw_est_opts *o = &rq->opts;
    int rc = 0;
    if (!strcmp(key, "model"))
        rq->target = s;
    else if (!strcmp(key, "engine")) {
        if ((rc = iw_engine_parse_spec(s, &o->engine, &o->vllm_version)) == 0)
            rq->engine_set = true;
    } else if (!strcmp(key, "kv_dtype"))
        rc = iw_kv_dtype_parse(s, &o->kv_dtype);
    else if (!strcmp(key, "vram"))
        rc = iw_parse_mem_size(s, &o->vram_bytes);
    else if (!strcmp(key, "gpu"))
        rq->gpu = s;
    else if (!strcmp(key, "profile"))
        rq->profile = s;
    else if (!strcmp(key, "dtype"))
        rc = iw_dtype_parse(s, &rq->ov.dtype);
    else if (!strcmp(key, "quantization"))
        rq->ov.quantization = s;
    else if (!strcmp(key, "emit")) {
        if ((rc = iw_emit_kind_parse(s, &rq->emit)) == 0)
            rq->emit_set = true;
    } else if (!strcmp(key, "llama_app"))
        rc = iw_llama_app_parse(s, &o->llama_app);
    else if (!strcmp(key, "mxfp4_backend")) {
        if (strcmp(s, "marlin") && strcmp(s, "triton") && strcmp(s, "flashinfer") && strcmp(s, "cutlass"))
            return iw_error_set(IW_EINVAL, "mxfp4_backend '%s': expected marlin, triton, flashinfer or cutlass", s);
        o->mxfp4_backend = s;
    } else
        return iw_error_set(IW_EINVAL, "'%s' is not a text field of an estimate request", key);
    return rc;
}

/* ---- the JSON body ---------------------------------------------------- */

typedef enum { K_STR, K_INT, K_NUM, K_SIZE, K_BOOL } kind;

/* The fields in the order they are checked: the first wrong one is named. */
static const struct json_field {
    const char *key;
    kind        k;
} json_fields[] = {
    {"engine", K_STR}, {"context", K_INT}, {"batch", K_INT}, {"kv_dtype", K_STR}, {"tp", K_INT},
    {"gpu_util", K_NUM}, {"vram", K_SIZE}, {"gpu", K_STR}, {"profile", K_STR}, {"params_b", K_NUM},
    {"dtype", K_STR}, {"quantization", K_STR}, {"max_model_len", K_INT}, {"trust_remote_code", K_BOOL},
    {"enforce_eager", K_BOOL}, {"calibrate", K_BOOL}, {"emit", K_STR}, {"port", K_INT},
    {"max_num_batched_tokens", K_INT}, {"max_num_seqs", K_INT}, {"ngl", K_INT}, {"ubatch", K_INT},
    {"n_batch", K_INT}, {"llama_app", K_STR}, {"flash_attn", K_BOOL},
};

static int set_bool(iw_estimate_request *rq, const char *key, bool v)
{
    if (!strcmp(key, "trust_remote_code"))
        rq->ov.trust_remote_code = v;
    else if (!strcmp(key, "enforce_eager"))
        rq->opts.enforce_eager = v;
    else if (!strcmp(key, "calibrate"))
        rq->calibrate = v;
    else
        rq->opts.flash_attn = v ? 1 : 0;
    return 0;
}

static int json_field(const cJSON *it, const struct json_field *f, iw_estimate_request *rq)
{
    int64_t v;
    switch (f->k) {
    case K_STR:
        if (!cJSON_IsString(it) || strlen(it->valuestring) > STR_MAX)
            return iw_error_set(IW_EINVAL, "'%s' must be a string (at most %d characters)", f->key, STR_MAX);
        if (iw_catalog_estimate_request_set_str(rq, f->key, it->valuestring) < 0)
            return iw_error_prefix("'%s'", f->key);
        return 0;
    case K_INT:
        if (!iw_json_item_i64(it, &v))
            v = INT64_MIN;   /* out of every range: the range is the message */
        return iw_catalog_estimate_request_set_int(rq, f->key, v);
    case K_NUM:
        return iw_catalog_estimate_request_set_num(rq, f->key, cJSON_IsNumber(it) ? it->valuedouble : NAN);
    case K_SIZE:
        if (cJSON_IsString(it)) {
            if (iw_catalog_estimate_request_set_str(rq, f->key, it->valuestring) < 0)
                return iw_error_prefix("'%s'", f->key);
        } else if (!iw_json_item_i64(it, &rq->opts.vram_bytes) || rq->opts.vram_bytes <= 0 ||
                   (double)rq->opts.vram_bytes >= IW_EST_BYTES_CAP) {
            return iw_error_set(IW_EINVAL, "'%s' must be a size (\"24GiB\") or a positive number of bytes below 2^62",
                                f->key);
        }
        return 0;
    case K_BOOL:
        /* "true", 1 or "on" is refused rather than read as absent: the
         * answer would leave the flag out without a word */
        if (!cJSON_IsBool(it))
            return iw_error_set(IW_EINVAL, "'%s' must be true or false", f->key);
        return set_bool(rq, f->key, cJSON_IsTrue(it));
    }
    return 0;
}

int iw_catalog_estimate_request_from_json(const struct cJSON *o, bool need_model, iw_estimate_request *rq)
{
    if (!cJSON_IsObject(o))
        return iw_error_set(IW_EINVAL, "the body must be a JSON object");
    for (const cJSON *it = o->child; it; it = it->next) {
        bool known = it->string && !strcmp(it->string, "model");
        for (size_t i = 0; !known && i < sizeof json_fields / sizeof *json_fields; i++)
            known = it->string && !strcmp(it->string, json_fields[i].key);
        if (!known)
            return iw_error_set(IW_EINVAL, "unknown field '%s'", it->string ? it->string : "?");
    }
    if (need_model) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
        if (m && !cJSON_IsNull(m) && (!cJSON_IsString(m) || strlen(m->valuestring) > STR_MAX))
            return iw_error_set(IW_EINVAL, "'model' must be a string (at most %d characters)", STR_MAX);
        if (!cJSON_IsString(m) || !*m->valuestring)
            return iw_error_set(IW_EINVAL, "'model' (a registry name) is required");
        rq->target = m->valuestring;
    }
    for (size_t i = 0; i < sizeof json_fields / sizeof *json_fields; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, json_fields[i].key);
        if (it && !cJSON_IsNull(it) && json_field(it, &json_fields[i], rq) < 0)
            return iw_error_last_code();
    }
    return 0;
}

int iw_catalog_estimate_request_parse(const char *text, size_t len, bool need_model, iw_estimate_request *rq,
                                      struct cJSON **tree)
{
    *tree = NULL;
    if (iw_json_has_nul_escape(text ? text : "", len))
        return iw_error_set(IW_EINVAL, "request body: a string holds \\u0000 (a NUL would cut a name into another)");
    int rc = iw_json_parse(text ? text : "", len, "request body", tree, NULL);
    if (rc < 0)
        return rc;
    rc = iw_catalog_estimate_request_from_json(*tree, need_model, rq);
    if (rc < 0) {
        cJSON_Delete(*tree);
        *tree = NULL;
    }
    return rc;
}
