/* schema.c - iw_arch <-> metadata.architecture JSON (see schema.h). */
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/schema.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

/* Integer fields, table driven: key, offset inside the struct. */
typedef struct i64_field { const char *key; size_t off; } i64_field;

#define F(s, m) { #m, offsetof(s, m) }
static const i64_field TOP_I64[] = {
    F(iw_arch, num_layers), F(iw_arch, num_attention_heads), F(iw_arch, num_kv_heads),
    F(iw_arch, hidden_size), F(iw_arch, head_dim), F(iw_arch, intermediate_size),
    F(iw_arch, vocab_size), F(iw_arch, max_position_embeddings), F(iw_arch, context_length),
    F(iw_arch, encoder_layers), F(iw_arch, decoder_layers),
};
static const i64_field TOP_I64_TAIL[] = {
    F(iw_arch, weights_bytes), F(iw_arch, kv_bytes_per_token),
    F(iw_arch, kv_bytes_per_token_full), F(iw_arch, kv_bytes_per_token_swa),
};
static const i64_field ATTN_I64[] = {
    F(iw_attention, sliding_window), F(iw_attention, sliding_window_pattern),
    F(iw_attention, chunk_size), F(iw_attention, key_length), F(iw_attention, value_length),
    F(iw_attention, kv_lora_rank), F(iw_attention, q_lora_rank),
    F(iw_attention, qk_rope_head_dim), F(iw_attention, qk_nope_head_dim),
    F(iw_attention, num_cross_layers), F(iw_attention, encoder_length),
    F(iw_attention, num_kv_shared_layers),
};
static const i64_field MOE_I64[] = {
    F(iw_moe, num_experts), F(iw_moe, experts_per_token), F(iw_moe, expert_intermediate_size),
    F(iw_moe, shared_experts), F(iw_moe, shared_expert_intermediate_size),
    F(iw_moe, num_dense_layers), F(iw_moe, moe_layer_freq),
};
static const i64_field SSM_I64[] = {
    F(iw_ssm, d_state), F(iw_ssm, d_conv), F(iw_ssm, d_inner), F(iw_ssm, n_groups),
    F(iw_ssm, n_heads), F(iw_ssm, head_dim), F(iw_ssm, num_recurrent_layers),
};
static const i64_field VIS_I64[] = {
    F(iw_vision, image_size), F(iw_vision, patch_size), F(iw_vision, hidden_size),
    F(iw_vision, num_layers), F(iw_vision, num_heads), F(iw_vision, intermediate_size),
    F(iw_vision, projection_dim), F(iw_vision, params),
};
static const i64_field PARAM_I64[] = {
    F(iw_params, total), F(iw_params, active), F(iw_params, embedding),
};
static const i64_field COMP_I64[] = {
    F(iw_params, attention), F(iw_params, mlp), F(iw_params, experts),
    F(iw_params, norms), F(iw_params, lm_head), F(iw_params, vision),
};
#undef F
#define N(t) (sizeof(t) / sizeof((t)[0]))

static const char *const KNOWN_KEYS[] = {
    "model_type", "architecture", "num_layers", "num_attention_heads", "num_kv_heads",
    "hidden_size", "head_dim", "intermediate_size", "vocab_size", "max_position_embeddings",
    "context_length", "rope_theta", "rope_scaling", "torch_dtype", "kv_precision",
    "tie_word_embeddings", "is_encoder_decoder", "encoder_layers", "decoder_layers",
    "norm_type", "mlp_type", "attention", "moe", "ssm", "vision", "quantization",
    "parameters", "params_billion", "weights_bytes", "kv_bytes_per_token",
    "kv_bytes_per_token_full", "kv_bytes_per_token_swa", "field_sources", "source",
    "sources", "warnings", "collected_at", "runtime", "ollama",
};

bool iw_schema_is_known_key(const char *key)
{
    if (!key)
        return false;
    for (size_t i = 0; i < N(KNOWN_KEYS); i++)
        if (strcmp(KNOWN_KEYS[i], key) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------- writing */

static int64_t get_i64(const void *base, size_t off)
{
    int64_t v;
    memcpy(&v, (const char *)base + off, sizeof v);
    return v;
}

static void set_i64(void *base, size_t off, int64_t v)
{
    memcpy((char *)base + off, &v, sizeof v);
}

static bool any_known_i64(const void *base, const i64_field *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (get_i64(base, t[i].off) != IW_UNKNOWN)
            return true;
    return false;
}

/* All add helpers return false on allocation failure. */
static bool add_i64s(cJSON *o, const void *base, const i64_field *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t v = get_i64(base, t[i].off);
        if (v != IW_UNKNOWN && !cJSON_AddNumberToObject(o, t[i].key, (double)v))
            return false;
    }
    return true;
}

static bool add_str(cJSON *o, const char *key, const char *v)
{
    return !v || cJSON_AddStringToObject(o, key, v) != NULL;
}

static bool add_f64(cJSON *o, const char *key, double v)
{
    return !isfinite(v) || cJSON_AddNumberToObject(o, key, v) != NULL;
}

static bool add_true(cJSON *o, const char *key, bool v)
{
    return !v || cJSON_AddTrueToObject(o, key) != NULL;
}

static bool add_strlist(cJSON *o, const char *key, const iw_strlist *l, bool always)
{
    if (l->n == 0 && !always)
        return true;
    cJSON *arr = cJSON_AddArrayToObject(o, key);
    if (!arr)
        return false;
    for (size_t i = 0; i < l->n; i++) {
        cJSON *s = cJSON_CreateString(l->v[i] ? l->v[i] : "");
        if (!s)
            return false;
        cJSON_AddItemToArray(arr, s);
    }
    return true;
}

/* Adds obj as key if it has any member, else deletes it. */
static bool attach_nonempty(cJSON *parent, const char *key, cJSON *obj)
{
    if (!obj)
        return false;
    if (!obj->child) {
        cJSON_Delete(obj);
        return true;
    }
    return cJSON_AddItemToObject(parent, key, obj) != 0;
}

static cJSON *attention_json(const iw_attention *at)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (at->type != IW_ATTN_UNKNOWN && !add_str(o, "type", iw_attn_type_name(at->type)))
        goto fail;
    if (!add_i64s(o, at, ATTN_I64, N(ATTN_I64)))
        goto fail;
    if (at->layer_types && at->n_layer_types) {
        cJSON *arr = cJSON_AddArrayToObject(o, "layer_types");
        if (!arr)
            goto fail;
        for (size_t i = 0; i < at->n_layer_types; i++) {
            cJSON *s = cJSON_CreateString(iw_layer_kind_name(at->layer_types[i]));
            if (!s)
                goto fail;
            cJSON_AddItemToArray(arr, s);
        }
    }
    if (at->kv_heads_per_layer && at->n_kv_heads_per_layer) {
        cJSON *arr = cJSON_AddArrayToObject(o, "kv_heads_per_layer");
        if (!arr)
            goto fail;
        for (size_t i = 0; i < at->n_kv_heads_per_layer; i++) {
            cJSON *n = cJSON_CreateNumber((double)at->kv_heads_per_layer[i]);
            if (!n)
                goto fail;
            cJSON_AddItemToArray(arr, n);
        }
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static cJSON *quant_json(const iw_quant *q)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!add_str(o, "method", q->method) || !add_f64(o, "bits", q->bits) ||
        (q->group_size != IW_UNKNOWN && !cJSON_AddNumberToObject(o, "group_size", (double)q->group_size)) ||
        !add_f64(o, "effective_bits", q->effective_bits) || !add_str(o, "format", q->format) ||
        !add_str(o, "label", q->label) || !add_str(o, "detail", q->detail) ||
        !add_true(o, "desc_act", q->desc_act) || !add_true(o, "sym", q->sym) ||
        !add_true(o, "zero_point", q->zero_point) || !add_true(o, "double_quant", q->double_quant) ||
        !add_strlist(o, "modules_not_converted", &q->modules_not_converted, false))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static cJSON *params_json(const iw_params *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!add_i64s(o, p, PARAM_I64, N(PARAM_I64)) || !add_str(o, "source", p->source))
        goto fail;
    if (any_known_i64(p, COMP_I64, N(COMP_I64))) {
        cJSON *c = cJSON_AddObjectToObject(o, "components");
        if (!c || !add_i64s(c, p, COMP_I64, N(COMP_I64)))
            goto fail;
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* ollama: {num_ctx, params} for models read from Ollama's store or server. */
static cJSON *ollama_json(const iw_arch *a)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (a->ollama_num_ctx > 0 && !cJSON_AddNumberToObject(o, "num_ctx", (double)a->ollama_num_ctx))
        goto fail;
    if (a->ollama_params_json) {
        cJSON *p = cJSON_Parse(a->ollama_params_json);
        if (cJSON_IsObject(p))
            cJSON_AddItemToObject(o, "params", p);
        else
            cJSON_Delete(p); /* not an object: dropped (from_json only stores objects) */
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static cJSON *obj_i64s(const void *base, const i64_field *t, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !add_i64s(o, base, t, n)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *iw_arch_to_json(const iw_arch *a)
{
    cJSON *o = cJSON_CreateObject(), *sub;
    if (!o || !a)
        goto fail;
    if (!add_str(o, "model_type", a->model_type) || !add_str(o, "architecture", a->architecture) ||
        !add_i64s(o, a, TOP_I64, N(TOP_I64)) || !add_f64(o, "rope_theta", a->rope_theta))
        goto fail;
    if (a->rope_scaling_json) {
        cJSON *rs = cJSON_Parse(a->rope_scaling_json);
        if (rs && !cJSON_IsNull(rs))
            cJSON_AddItemToObject(o, "rope_scaling", rs);
        else
            cJSON_Delete(rs); /* unparseable text is dropped (from_json only stores valid JSON) */
    }
    if (!add_str(o, "torch_dtype", a->torch_dtype) || !add_str(o, "kv_precision", a->kv_precision) ||
        !add_true(o, "tie_word_embeddings", a->tie_word_embeddings) ||
        !add_true(o, "is_encoder_decoder", a->is_encoder_decoder) ||
        !add_str(o, "norm_type", a->norm_type) || !add_str(o, "mlp_type", a->mlp_type))
        goto fail;

    if (!attach_nonempty(o, "attention", attention_json(&a->attention)) ||
        !attach_nonempty(o, "moe", obj_i64s(&a->moe, MOE_I64, N(MOE_I64))) ||
        !attach_nonempty(o, "ssm", obj_i64s(&a->ssm, SSM_I64, N(SSM_I64))))
        goto fail;
    if (a->has_vision || a->vision.model_type || any_known_i64(&a->vision, VIS_I64, N(VIS_I64))) {
        sub = obj_i64s(&a->vision, VIS_I64, N(VIS_I64));
        if (!sub || !add_str(sub, "model_type", a->vision.model_type)) {
            cJSON_Delete(sub);
            goto fail;
        }
        cJSON_AddItemToObject(o, "vision", sub); /* kept even when empty: has_vision */
    }
    if (!attach_nonempty(o, "quantization", quant_json(&a->quantization)) ||
        !attach_nonempty(o, "parameters", params_json(&a->parameters)))
        goto fail;
    if (a->parameters.total != IW_UNKNOWN && a->parameters.total > 0) {
        /* four significant digits: 8.03, 0.1349 (135M), 0.00026 (260K); two
         * decimals made every model under 5M a 0, which the GUI reads as
         * unknown and replaces by 8B */
        double b = (double)a->parameters.total / 1e9;
        double sc = pow(10.0, 3 - floor(log10(b)));
        double pb = round(b * sc) / sc;
        if (!cJSON_AddNumberToObject(o, "params_billion", pb))
            goto fail;
    }
    if (!add_i64s(o, a, TOP_I64_TAIL, N(TOP_I64_TAIL)) ||
        !attach_nonempty(o, "ollama", ollama_json(a)))
        goto fail;
    if (a->n_field_sources) {
        sub = cJSON_AddObjectToObject(o, "field_sources");
        if (!sub)
            goto fail;
        for (size_t i = 0; i < a->n_field_sources; i++) {
            const iw_field_source *fs = &a->field_sources[i];
            if (fs->field && fs->source && !cJSON_AddStringToObject(sub, fs->field, fs->source))
                goto fail;
        }
    }
    if (!add_str(o, "source", a->source) || !add_strlist(o, "sources", &a->sources, false) ||
        !add_strlist(o, "warnings", &a->warnings, false) ||
        !add_str(o, "collected_at", a->collected_at))
        goto fail;
    if (a->runtime_json) {
        cJSON *rt = cJSON_Parse(a->runtime_json);
        if (rt && !cJSON_IsNull(rt))
            cJSON_AddItemToObject(o, "runtime", rt);
        else
            cJSON_Delete(rt);
    }
    return o;
fail:
    cJSON_Delete(o);
    iw_error_set(IW_ENOMEM, "metadata.architecture: out of memory");
    return NULL;
}

cJSON *iw_arch_to_json_keep(const iw_arch *a, const cJSON *old)
{
    cJSON *o = iw_arch_to_json(a);
    if (!o || !cJSON_IsObject(old))
        return o;
    for (const cJSON *it = old->child; it; it = it->next) {
        if (!it->string)
            continue;
        bool keep = !iw_schema_is_known_key(it->string) ||
                    (strcmp(it->string, "runtime") == 0 && !a->runtime_json) ||
                    (strcmp(it->string, "params_billion") == 0 &&
                     a->parameters.total == IW_UNKNOWN);
        if (!keep || cJSON_GetObjectItemCaseSensitive(o, it->string))
            continue;
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup) {
            cJSON_Delete(o);
            iw_error_set(IW_ENOMEM, "metadata.architecture: out of memory");
            return NULL;
        }
        cJSON_AddItemToObject(o, it->string, dup);
    }
    /* a kept runtime keeps its "runtime-log" marker in sources */
    const cJSON *osrc = cJSON_GetObjectItemCaseSensitive(old, "sources");
    if (!a->runtime_json && cJSON_GetObjectItemCaseSensitive(o, "runtime") && cJSON_IsArray(osrc)) {
        const cJSON *s;
        cJSON_ArrayForEach(s, osrc) {
            if (!cJSON_IsString(s) || strcmp(s->valuestring, "runtime-log") != 0)
                continue;
            cJSON *ns = cJSON_GetObjectItemCaseSensitive(o, "sources");
            if (!ns)
                ns = cJSON_AddArrayToObject(o, "sources");
            bool have = false;
            const cJSON *t;
            cJSON_ArrayForEach(t, ns)
                if (cJSON_IsString(t) && strcmp(t->valuestring, "runtime-log") == 0)
                    have = true;
            if (!ns || (!have && !cJSON_AddItemToArray(ns, cJSON_CreateString("runtime-log")))) {
                cJSON_Delete(o);
                iw_error_set(IW_ENOMEM, "metadata.architecture: out of memory");
                return NULL;
            }
            break;
        }
    }
    return o;
}

/* ---------------------------------------------------------------- reading */

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsObject(v)) return "object";
    if (cJSON_IsNull(v)) return "null";
    return "invalid";
}

static int wrong_type(iw_arch *a, const char *path, const char *want, const cJSON *v)
{
    char *w = NULL;
    size_t n = strlen(path) + strlen(want) + 64;
    w = malloc(n);
    if (!w)
        return iw_error_set(IW_ENOMEM, "metadata.architecture: out of memory");
    snprintf(w, n, "schema: %s: expected %s, got %s; ignored", path, want, type_name(v));
    int rc = iw_strlist_push_unique(&a->warnings, w);
    free(w);
    return rc;
}

/* Member `key` of obj, NULL when absent or JSON null. */
static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

static int read_i64s(const cJSON *obj, const char *prefix, void *base,
                     const i64_field *t, size_t n, iw_arch *a)
{
    char path[96];
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = member(obj, t[i].key);
        int64_t x;
        if (!v)
            continue;
        if (iw_json_item_i64(v, &x)) {
            set_i64(base, t[i].off, x);
            continue;
        }
        snprintf(path, sizeof path, "%s%s", prefix, t[i].key);
        int rc = wrong_type(a, path, "integer", v);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int read_str(const cJSON *obj, const char *prefix, const char *key, char **slot, iw_arch *a)
{
    const cJSON *v = member(obj, key);
    char path[96];
    if (!v)
        return 0;
    if (cJSON_IsString(v))
        return iw_arch_set_str(slot, v->valuestring);
    snprintf(path, sizeof path, "%s%s", prefix, key);
    return wrong_type(a, path, "string", v);
}

static int read_f64(const cJSON *obj, const char *prefix, const char *key, double *slot, iw_arch *a)
{
    const cJSON *v = member(obj, key);
    char path[96];
    if (!v)
        return 0;
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        *slot = v->valuedouble;
        return 0;
    }
    snprintf(path, sizeof path, "%s%s", prefix, key);
    return wrong_type(a, path, "number", v);
}

static int read_bool(const cJSON *obj, const char *prefix, const char *key, bool *slot, iw_arch *a)
{
    const cJSON *v = member(obj, key);
    char path[96];
    if (!v)
        return 0;
    if (cJSON_IsBool(v)) {
        *slot = cJSON_IsTrue(v);
        return 0;
    }
    snprintf(path, sizeof path, "%s%s", prefix, key);
    return wrong_type(a, path, "boolean", v);
}

/* Replace *l with the strings of array v (non-strings skipped with a warning). */
static int read_strlist(const cJSON *obj, const char *prefix, const char *key, iw_strlist *l, iw_arch *a)
{
    const cJSON *v = member(obj, key);
    char path[96];
    int rc;
    if (!v)
        return 0;
    snprintf(path, sizeof path, "%s%s", prefix, key);
    if (!cJSON_IsArray(v))
        return wrong_type(a, path, "array", v);
    iw_strlist fresh = {0};
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (cJSON_IsString(it))
            rc = iw_strlist_push(&fresh, it->valuestring);
        else
            rc = wrong_type(a, path, "array of strings", it);
        if (rc < 0) {
            iw_strlist_free(&fresh);
            return rc;
        }
    }
    if (l == &a->warnings) {
        /* keep any schema warnings already added while reading */
        for (size_t i = 0; i < l->n; i++)
            if ((rc = iw_strlist_push_unique(&fresh, l->v[i])) < 0) {
                iw_strlist_free(&fresh);
                return rc;
            }
    }
    iw_strlist_free(l);
    *l = fresh;
    return 0;
}

/* Object or array -> compact JSON text in *slot.  path names the key in
 * warnings ("rope_scaling", "ollama.params"). */
static int read_json_text(const cJSON *obj, const char *key, const char *path, char **slot, bool need_object,
                          iw_arch *a)
{
    const cJSON *v = member(obj, key);
    if (!v)
        return 0;
    if (need_object ? !cJSON_IsObject(v) : !(cJSON_IsObject(v) || cJSON_IsArray(v)))
        return wrong_type(a, path, "object", v);
    char *txt = cJSON_PrintUnformatted(v);
    if (!txt)
        return iw_error_set(IW_ENOMEM, "metadata.architecture.%s: out of memory", path);
    free(*slot);
    *slot = txt;
    return 0;
}

static const cJSON *sub_object(const cJSON *obj, const char *key, iw_arch *a, int *rc)
{
    const cJSON *v = member(obj, key);
    *rc = 0;
    if (!v)
        return NULL;
    if (!cJSON_IsObject(v)) {
        *rc = wrong_type(a, key, "object", v);
        return NULL;
    }
    return v;
}

static int read_attention(const cJSON *o, iw_arch *a)
{
    iw_attention *at = &a->attention;
    int rc = read_i64s(o, "attention.", at, ATTN_I64, N(ATTN_I64), a);
    const cJSON *v;
    if (rc < 0)
        return rc;
    if ((v = member(o, "type"))) {
        iw_attn_type t;
        if (cJSON_IsString(v) && iw_attn_type_parse(v->valuestring, &t) == 0)
            at->type = t;
        else if ((rc = wrong_type(a, "attention.type", "mha|gqa|mqa|mla", v)) < 0)
            return rc;
    }
    if ((v = member(o, "layer_types"))) {
        int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
        bool ok = n > 0;
        iw_layer_kind *k = ok ? calloc((size_t)n, sizeof *k) : NULL;
        if (ok && !k)
            return iw_error_set(IW_ENOMEM, "attention.layer_types: out of memory");
        int i = 0;
        const cJSON *it;
        if (ok)
            cJSON_ArrayForEach(it, v) {
                if (!cJSON_IsString(it) || iw_layer_kind_parse(it->valuestring, &k[i]) != 0) {
                    ok = false;
                    break;
                }
                i++;
            }
        if (ok) {
            free(at->layer_types);
            at->layer_types = k;
            at->n_layer_types = (size_t)n;
        } else {
            free(k);
            if (n != 0 && (rc = wrong_type(a, "attention.layer_types", "array of layer kinds", v)) < 0)
                return rc;
        }
    }
    if ((v = member(o, "kv_heads_per_layer"))) {
        int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
        bool ok = n > 0;
        int64_t *h = ok ? calloc((size_t)n, sizeof *h) : NULL;
        if (ok && !h)
            return iw_error_set(IW_ENOMEM, "attention.kv_heads_per_layer: out of memory");
        int i = 0;
        const cJSON *it;
        if (ok)
            cJSON_ArrayForEach(it, v) {
                if (!iw_json_item_i64(it, &h[i])) {
                    ok = false;
                    break;
                }
                i++;
            }
        if (ok) {
            free(at->kv_heads_per_layer);
            at->kv_heads_per_layer = h;
            at->n_kv_heads_per_layer = (size_t)n;
        } else {
            free(h);
            if (n != 0 && (rc = wrong_type(a, "attention.kv_heads_per_layer", "array of integers", v)) < 0)
                return rc;
        }
    }
    return 0;
}

static int read_quant(const cJSON *o, iw_arch *a)
{
    iw_quant *q = &a->quantization;
    const char *p = "quantization.";
    int rc;
    const cJSON *v;
    if ((rc = read_str(o, p, "method", &q->method, a)) < 0 ||
        (rc = read_f64(o, p, "bits", &q->bits, a)) < 0 ||
        (rc = read_f64(o, p, "effective_bits", &q->effective_bits, a)) < 0 ||
        (rc = read_str(o, p, "format", &q->format, a)) < 0 ||
        (rc = read_str(o, p, "label", &q->label, a)) < 0 ||
        (rc = read_str(o, p, "detail", &q->detail, a)) < 0 ||
        (rc = read_bool(o, p, "desc_act", &q->desc_act, a)) < 0 ||
        (rc = read_bool(o, p, "sym", &q->sym, a)) < 0 ||
        (rc = read_bool(o, p, "zero_point", &q->zero_point, a)) < 0 ||
        (rc = read_bool(o, p, "double_quant", &q->double_quant, a)) < 0 ||
        (rc = read_strlist(o, p, "modules_not_converted", &q->modules_not_converted, a)) < 0)
        return rc;
    if ((v = member(o, "group_size"))) {
        int64_t g;
        if (iw_json_item_i64(v, &g))
            q->group_size = g;
        else if ((rc = wrong_type(a, "quantization.group_size", "integer", v)) < 0)
            return rc;
    }
    return 0;
}

int iw_arch_from_json(const cJSON *obj, iw_arch *a)
{
    int rc;
    const cJSON *sub, *v;
    if (!a)
        return iw_error_set(IW_EINVAL, "iw_arch_from_json: no record");
    if (!cJSON_IsObject(obj))
        return iw_error_set(IW_EINVAL, "metadata.architecture: expected an object, got %s",
                            obj ? type_name(obj) : "nothing");
    if ((rc = read_str(obj, "", "model_type", &a->model_type, a)) < 0 ||
        (rc = read_str(obj, "", "architecture", &a->architecture, a)) < 0 ||
        (rc = read_i64s(obj, "", a, TOP_I64, N(TOP_I64), a)) < 0 ||
        (rc = read_i64s(obj, "", a, TOP_I64_TAIL, N(TOP_I64_TAIL), a)) < 0 ||
        (rc = read_f64(obj, "", "rope_theta", &a->rope_theta, a)) < 0 ||
        (rc = read_json_text(obj, "rope_scaling", "rope_scaling", &a->rope_scaling_json, true, a)) < 0 ||
        (rc = read_str(obj, "", "torch_dtype", &a->torch_dtype, a)) < 0 ||
        (rc = read_str(obj, "", "kv_precision", &a->kv_precision, a)) < 0 ||
        (rc = read_bool(obj, "", "tie_word_embeddings", &a->tie_word_embeddings, a)) < 0 ||
        (rc = read_bool(obj, "", "is_encoder_decoder", &a->is_encoder_decoder, a)) < 0 ||
        (rc = read_str(obj, "", "norm_type", &a->norm_type, a)) < 0 ||
        (rc = read_str(obj, "", "mlp_type", &a->mlp_type, a)) < 0)
        return rc;

    if ((sub = sub_object(obj, "attention", a, &rc)) && (rc = read_attention(sub, a)) < 0)
        return rc;
    if (rc < 0)
        return rc;
    if ((sub = sub_object(obj, "moe", a, &rc)) &&
        (rc = read_i64s(sub, "moe.", &a->moe, MOE_I64, N(MOE_I64), a)) < 0)
        return rc;
    if (rc < 0)
        return rc;
    if ((sub = sub_object(obj, "ssm", a, &rc)) &&
        (rc = read_i64s(sub, "ssm.", &a->ssm, SSM_I64, N(SSM_I64), a)) < 0)
        return rc;
    if (rc < 0)
        return rc;
    if ((sub = sub_object(obj, "vision", a, &rc))) {
        a->has_vision = true;
        if ((rc = read_i64s(sub, "vision.", &a->vision, VIS_I64, N(VIS_I64), a)) < 0 ||
            (rc = read_str(sub, "vision.", "model_type", &a->vision.model_type, a)) < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if ((sub = sub_object(obj, "quantization", a, &rc)) && (rc = read_quant(sub, a)) < 0)
        return rc;
    if (rc < 0)
        return rc;
    if ((sub = sub_object(obj, "parameters", a, &rc))) {
        if ((rc = read_i64s(sub, "parameters.", &a->parameters, PARAM_I64, N(PARAM_I64), a)) < 0 ||
            (rc = read_str(sub, "parameters.", "source", &a->parameters.source, a)) < 0)
            return rc;
        const cJSON *c = member(sub, "components");
        if (c && !cJSON_IsObject(c) && (rc = wrong_type(a, "parameters.components", "object", c)) < 0)
            return rc;
        if (c && cJSON_IsObject(c) &&
            (rc = read_i64s(c, "parameters.components.", &a->parameters, COMP_I64, N(COMP_I64), a)) < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if ((sub = sub_object(obj, "ollama", a, &rc))) {
        if ((v = member(sub, "num_ctx"))) {
            int64_t nc;
            if (iw_json_item_i64(v, &nc) && nc > 0)
                a->ollama_num_ctx = nc;
            else if ((rc = wrong_type(a, "ollama.num_ctx", "positive integer", v)) < 0)
                return rc;
        }
        if ((rc = read_json_text(sub, "params", "ollama.params", &a->ollama_params_json, true, a)) < 0)
            return rc;
    }
    if (rc < 0)
        return rc;
    if ((sub = sub_object(obj, "field_sources", a, &rc))) {
        for (v = sub->child; v; v = v->next) {
            if (!v->string || cJSON_IsNull(v))
                continue;
            if (cJSON_IsString(v))
                rc = iw_arch_set_source(a, v->string, v->valuestring);
            else
                rc = wrong_type(a, "field_sources", "string values", v);
            if (rc < 0)
                return rc;
        }
    }
    if (rc < 0)
        return rc;
    if ((rc = read_str(obj, "", "source", &a->source, a)) < 0 ||
        (rc = read_strlist(obj, "", "sources", &a->sources, a)) < 0 ||
        (rc = read_strlist(obj, "", "warnings", &a->warnings, a)) < 0 ||
        (rc = read_str(obj, "", "collected_at", &a->collected_at, a)) < 0 ||
        (rc = read_json_text(obj, "runtime", "runtime", &a->runtime_json, true, a)) < 0)
        return rc;
    return 0;
}

bool iw_arch_json_same(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    cJSON *x = cJSON_Duplicate(a, 1), *y = cJSON_Duplicate(b, 1);
    bool eq = false;
    if (x && y) {
        cJSON_DeleteItemFromObjectCaseSensitive(x, "collected_at");
        cJSON_DeleteItemFromObjectCaseSensitive(y, "collected_at");
        eq = cJSON_Compare(x, y, 1);
    }
    cJSON_Delete(x);
    cJSON_Delete(y);
    return eq;
}
