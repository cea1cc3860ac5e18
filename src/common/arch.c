/* arch.c - the iw_arch record: lifetime, field sources, warnings. */
#include "iwdl/arch.h"
#include "iwdl/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int iw_strlist_push(iw_strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return iw_error_set(IW_ENOMEM, "out of memory");
        l->v = nv;
        l->cap = nc;
    }
    char *d = strdup(s ? s : "");
    if (!d)
        return iw_error_set(IW_ENOMEM, "out of memory");
    l->v[l->n++] = d;
    return 0;
}

int iw_strlist_pushf(iw_strlist *l, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return iw_strlist_push(l, buf);
}

bool iw_strlist_contains(const iw_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

int iw_strlist_push_unique(iw_strlist *l, const char *s)
{
    return iw_strlist_contains(l, s) ? 0 : iw_strlist_push(l, s);
}

void iw_strlist_free(iw_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static const char *const kind_names[] = {
    [IW_LAYER_FULL] = "full_attention",
    [IW_LAYER_SLIDING] = "sliding_attention",
    [IW_LAYER_CHUNKED] = "chunked_attention",
    [IW_LAYER_LINEAR] = "linear_attention",
    [IW_LAYER_MAMBA] = "mamba",
    [IW_LAYER_CROSS] = "cross_attention",
    [IW_LAYER_NONE] = "no_op",
};

const char *iw_layer_kind_name(iw_layer_kind k)
{
    return (unsigned)k < sizeof kind_names / sizeof kind_names[0] ? kind_names[k] : "unknown";
}

int iw_layer_kind_parse(const char *s, iw_layer_kind *out)
{
    static const struct { const char *name; iw_layer_kind k; } alias[] = {
        { "full_attention", IW_LAYER_FULL }, { "attention", IW_LAYER_FULL },
        { "full", IW_LAYER_FULL }, { "global", IW_LAYER_FULL },
        { "sliding_attention", IW_LAYER_SLIDING }, { "sliding", IW_LAYER_SLIDING },
        { "local", IW_LAYER_SLIDING }, { "sliding_window", IW_LAYER_SLIDING },
        { "chunked_attention", IW_LAYER_CHUNKED }, { "chunked", IW_LAYER_CHUNKED },
        { "linear_attention", IW_LAYER_LINEAR }, { "linear", IW_LAYER_LINEAR },
        { "mamba", IW_LAYER_MAMBA }, { "mamba2", IW_LAYER_MAMBA }, { "ssm", IW_LAYER_MAMBA },
        { "conv", IW_LAYER_MAMBA }, { "recurrent", IW_LAYER_MAMBA },
        { "cross_attention", IW_LAYER_CROSS }, { "cross", IW_LAYER_CROSS },
        { "no_op", IW_LAYER_NONE }, { "none", IW_LAYER_NONE }, { "mlp", IW_LAYER_NONE },
    };
    if (!s)
        return iw_error_set(IW_EINVAL, "layer type is not a string");
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strcmp(s, alias[i].name) == 0) {
            *out = alias[i].k;
            return 0;
        }
    return iw_error_set(IW_EFORMAT, "unknown layer type '%.64s'", s);
}

static const char *const attn_names[] = { "unknown", "mha", "gqa", "mqa", "mla" };

const char *iw_attn_type_name(iw_attn_type t)
{
    return (unsigned)t < 5 ? attn_names[t] : "unknown";
}

int iw_attn_type_parse(const char *s, iw_attn_type *out)
{
    for (int i = 0; s && i < 5; i++)
        if (strcmp(s, attn_names[i]) == 0) {
            *out = (iw_attn_type)i;
            return 0;
        }
    return iw_error_set(IW_EFORMAT, "unknown attention type '%.32s'", s ? s : "(null)");
}

void iw_arch_init(iw_arch *a)
{
    memset(a, 0, sizeof *a);
    int64_t *ints[] = {
        &a->num_layers, &a->num_attention_heads, &a->num_kv_heads, &a->hidden_size,
        &a->head_dim, &a->intermediate_size, &a->vocab_size, &a->max_position_embeddings,
        &a->context_length, &a->encoder_layers, &a->decoder_layers,
        &a->attention.sliding_window, &a->attention.sliding_window_pattern,
        &a->attention.chunk_size, &a->attention.key_length, &a->attention.value_length,
        &a->attention.kv_lora_rank, &a->attention.q_lora_rank, &a->attention.qk_rope_head_dim,
        &a->attention.qk_nope_head_dim, &a->attention.num_cross_layers,
        &a->attention.encoder_length, &a->attention.num_kv_shared_layers,
        &a->moe.num_experts, &a->moe.experts_per_token, &a->moe.expert_intermediate_size,
        &a->moe.shared_experts, &a->moe.shared_expert_intermediate_size,
        &a->moe.num_dense_layers, &a->moe.moe_layer_freq,
        &a->ssm.d_state, &a->ssm.d_conv, &a->ssm.d_inner, &a->ssm.n_groups, &a->ssm.n_heads,
        &a->ssm.head_dim, &a->ssm.num_recurrent_layers,
        &a->vision.image_size, &a->vision.patch_size, &a->vision.hidden_size,
        &a->vision.num_layers, &a->vision.num_heads, &a->vision.intermediate_size,
        &a->vision.projection_dim, &a->vision.params,
        &a->quantization.group_size,
        &a->parameters.total, &a->parameters.active, &a->parameters.embedding,
        &a->parameters.attention, &a->parameters.mlp, &a->parameters.experts,
        &a->parameters.norms, &a->parameters.lm_head, &a->parameters.vision,
        &a->weights_bytes, &a->kv_bytes_per_token, &a->kv_bytes_per_token_full,
        &a->kv_bytes_per_token_swa,
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        *ints[i] = IW_UNKNOWN;
    a->rope_theta = NAN;
    a->quantization.bits = NAN;
    a->quantization.effective_bits = NAN;
}

void iw_arch_free(iw_arch *a)
{
    char **strs[] = {
        &a->model_type, &a->architecture, &a->rope_scaling_json, &a->torch_dtype,
        &a->kv_precision, &a->norm_type, &a->mlp_type, &a->vision.model_type,
        &a->quantization.method, &a->quantization.format, &a->quantization.label,
        &a->quantization.detail, &a->parameters.source, &a->source, &a->collected_at,
        &a->runtime_json, &a->ollama_params_json,
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    free(a->attention.layer_types);
    free(a->attention.kv_heads_per_layer);
    iw_strlist_free(&a->quantization.modules_not_converted);
    for (size_t i = 0; i < a->n_field_sources; i++) {
        free(a->field_sources[i].field);
        free(a->field_sources[i].source);
    }
    free(a->field_sources);
    iw_strlist_free(&a->sources);
    iw_strlist_free(&a->warnings);
    iw_arch_init(a);
}

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = strdup(src)))
        return iw_error_set(IW_ENOMEM, "out of memory");
    return 0;
}

static int dup_list(iw_strlist *dst, const iw_strlist *src)
{
    memset(dst, 0, sizeof *dst);
    for (size_t i = 0; i < src->n; i++)
        if (iw_strlist_push(dst, src->v[i]) < 0)
            return IW_ENOMEM;
    return 0;
}

int iw_arch_copy(iw_arch *dst, const iw_arch *src)
{
    *dst = *src;
    /* re-own every pointer */
    int rc = 0;
    rc |= dup_str(&dst->model_type, src->model_type);
    rc |= dup_str(&dst->architecture, src->architecture);
    rc |= dup_str(&dst->rope_scaling_json, src->rope_scaling_json);
    rc |= dup_str(&dst->torch_dtype, src->torch_dtype);
    rc |= dup_str(&dst->kv_precision, src->kv_precision);
    rc |= dup_str(&dst->norm_type, src->norm_type);
    rc |= dup_str(&dst->mlp_type, src->mlp_type);
    rc |= dup_str(&dst->vision.model_type, src->vision.model_type);
    rc |= dup_str(&dst->quantization.method, src->quantization.method);
    rc |= dup_str(&dst->quantization.format, src->quantization.format);
    rc |= dup_str(&dst->quantization.label, src->quantization.label);
    rc |= dup_str(&dst->quantization.detail, src->quantization.detail);
    rc |= dup_str(&dst->parameters.source, src->parameters.source);
    rc |= dup_str(&dst->source, src->source);
    rc |= dup_str(&dst->collected_at, src->collected_at);
    rc |= dup_str(&dst->runtime_json, src->runtime_json);
    rc |= dup_str(&dst->ollama_params_json, src->ollama_params_json);
    rc |= dup_list(&dst->quantization.modules_not_converted, &src->quantization.modules_not_converted);
    rc |= dup_list(&dst->sources, &src->sources);
    rc |= dup_list(&dst->warnings, &src->warnings);
    dst->attention.layer_types = NULL;
    dst->attention.kv_heads_per_layer = NULL;
    dst->field_sources = NULL;
    dst->n_field_sources = dst->cap_field_sources = 0;
    if (src->attention.layer_types && src->attention.n_layer_types) {
        size_t n = src->attention.n_layer_types * sizeof *src->attention.layer_types;
        if ((dst->attention.layer_types = malloc(n)))
            memcpy(dst->attention.layer_types, src->attention.layer_types, n);
        else
            rc = -1;
    }
    if (src->attention.kv_heads_per_layer && src->attention.n_kv_heads_per_layer) {
        size_t n = src->attention.n_kv_heads_per_layer * sizeof *src->attention.kv_heads_per_layer;
        if ((dst->attention.kv_heads_per_layer = malloc(n)))
            memcpy(dst->attention.kv_heads_per_layer, src->attention.kv_heads_per_layer, n);
        else
            rc = -1;
    }
    for (size_t i = 0; i < src->n_field_sources && rc == 0; i++)
        rc = iw_arch_set_source(dst, src->field_sources[i].field, src->field_sources[i].source);
    if (rc != 0) {
        iw_arch_free(dst);
        return iw_error_set(IW_ENOMEM, "out of memory copying an architecture record");
    }
    return 0;
}

int iw_arch_set_source(iw_arch *a, const char *field, const char *source)
{
    for (size_t i = 0; i < a->n_field_sources; i++) {
        if (strcmp(a->field_sources[i].field, field) == 0) {
            char *s = strdup(source);
            if (!s)
                return iw_error_set(IW_ENOMEM, "out of memory");
            free(a->field_sources[i].source);
            a->field_sources[i].source = s;
            return 0;
        }
    }
    if (a->n_field_sources == a->cap_field_sources) {
        size_t nc = a->cap_field_sources ? a->cap_field_sources * 2 : 16;
        iw_field_source *nv = realloc(a->field_sources, nc * sizeof *nv);
        if (!nv)
            return iw_error_set(IW_ENOMEM, "out of memory");
        a->field_sources = nv;
        a->cap_field_sources = nc;
    }
    char *f = strdup(field), *s = strdup(source);
    if (!f || !s) {
        free(f);
        free(s);
        return iw_error_set(IW_ENOMEM, "out of memory");
    }
    a->field_sources[a->n_field_sources].field = f;
    a->field_sources[a->n_field_sources].source = s;
    a->n_field_sources++;
    return 0;
}

const char *iw_arch_get_source(const iw_arch *a, const char *field)
{
    for (size_t i = 0; i < a->n_field_sources; i++)
        if (strcmp(a->field_sources[i].field, field) == 0)
            return a->field_sources[i].source;
    return NULL;
}

int iw_arch_warn(iw_arch *a, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    iw_text_sanitize(buf);   /* warnings quote file text and are printed */
    return iw_strlist_push_unique(&a->warnings, buf);
}

int iw_arch_set_str(char **slot, const char *value)
{
    char *d = NULL;
    if (value && !(d = strdup(value)))
        return iw_error_set(IW_ENOMEM, "out of memory");
    free(*slot);
    *slot = d;
    return 0;
}

void iw_arch_stamp_now(iw_arch *a)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char buf[64];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, ts.tv_nsec / 1000);
    (void)iw_arch_set_str(&a->collected_at, buf);
}

int64_t iw_arch_count_layers(const iw_arch *a, iw_layer_kind k)
{
    if (!a->attention.layer_types || a->attention.n_layer_types == 0)
        return k == IW_LAYER_FULL ? a->num_layers : (a->num_layers < 0 ? IW_UNKNOWN : 0);
    int64_t n = 0;
    for (size_t i = 0; i < a->attention.n_layer_types; i++)
        n += a->attention.layer_types[i] == k;
    return n;
}

int64_t iw_arch_kv_heads_of_layer(const iw_arch *a, size_t il)
{
    if (a->attention.kv_heads_per_layer && il < a->attention.n_kv_heads_per_layer)
        return a->attention.kv_heads_per_layer[il];
    if (a->num_kv_heads >= 0)
        return a->num_kv_heads;
    return a->num_attention_heads;
}

bool iw_arch_is_gguf(const iw_arch *a)
{
    return (a->source && !strcmp(a->source, "gguf")) ||
           (a->quantization.method && !strcasecmp(a->quantization.method, "gguf"));
}

int64_t iw_arch_context(const iw_arch *a)
{
    if (a && a->context_length > 0)
        return a->context_length;
    if (a && a->max_position_embeddings > 0)
        return a->max_position_embeddings;
    return IW_UNKNOWN;
}
