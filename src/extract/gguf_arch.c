/* gguf_arch.c - map GGUF metadata (a parsed header, or an Ollama answer,
 * both through kvs.h) onto iw_arch.  Which files make up a model (split
 * sets, mmproj) is decided in headers.c.
 *
 * Keys are read under the prefix named by general.architecture
 * ("<arch>.block_count", ...), so every architecture llama.cpp writes is
 * covered without a per-family table.  A known key with a value of the
 * wrong type is an error naming the key; absent keys stay unknown. */
#include "iwdl/gguf.h"
#include "iwdl/error.h"
#include "kvs.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stddef.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LAYERS 65536      /* per-layer arrays longer than this are rejected */
#define SRC "gguf"

typedef struct mapper {
    const iw_kvs *g;
    const char *arch;
    iw_arch *a;
} mapper;

static const char *key_of(const mapper *m, const char *suffix, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%s", m->arch, suffix);
    return buf;
}

/* 1 found, 0 absent, <0 error (wrong type) */
static int get_i(const mapper *m, const char *suffix, int64_t *v)
{
    char k[256];
    int rc = iw_kvs_get_int(m->g, key_of(m, suffix, k, sizeof k), v);
    return rc == IW_ENOTFOUND ? 0 : rc < 0 ? rc : 1;
}

static int get_f(const mapper *m, const char *suffix, double *v)
{
    char k[256];
    int rc = iw_kvs_get_float(m->g, key_of(m, suffix, k, sizeof k), v);
    return rc == IW_ENOTFOUND ? 0 : rc < 0 ? rc : 1;
}

static int set_int(iw_arch *a, int64_t *slot, const char *field, int64_t v, const char *src)
{
    *slot = v;
    return iw_arch_set_source(a, field, src);
}

/* Map "<arch>.<suffix>" (an integer) to a field. */
static int map_i(const mapper *m, const char *suffix, int64_t *slot, const char *field)
{
    int64_t v;
    int rc = get_i(m, suffix, &v);
    if (rc <= 0)
        return rc;
    if (v < 0) {
        char k[256];
        return iw_error_set(IW_EFORMAT, "%s: key '%s' is negative (%" PRId64 ")", m->g->name,
                            key_of(m, suffix, k, sizeof k), v);
    }
    return set_int(m->a, slot, field, v, SRC);
}

/* A value that is a scalar or a per-layer array of integers.
 * Returns 1 with the scalar set (array NULL) or the array and its length
 * set (malloc-ed); 0 when absent. */
static int get_i_or_layers(const mapper *m, const char *suffix, int64_t *scalar, int64_t **arr, size_t *n)
{
    char k[256];
    key_of(m, suffix, k, sizeof k);
    *arr = NULL;
    *n = 0;
    long idx = iw_kvs_find(m->g, k);
    if (idx < 0)
        return 0;
    if (iw_kvs_type(m->g, (size_t)idx) != IW_GGUF_ARRAY) {
        int rc = iw_kvs_int(m->g, (size_t)idx, scalar);
        if (rc < 0)
            return rc;
        if (*scalar < 0)
            return iw_error_set(IW_EFORMAT, "%s: key '%s' is negative", m->g->name, k);
        return 1;
    }
    iw_gguf_type et;
    uint64_t cnt;
    iw_kvs_array(m->g, (size_t)idx, &et, &cnt);
    if (cnt == 0 || cnt > MAX_LAYERS)
        return iw_error_set(IW_EFORMAT, "%s: key '%s': per-layer array of %" PRIu64 " elements"
                            " (expected 1..%d)", m->g->name, k, cnt, MAX_LAYERS);
    int64_t *v = malloc(cnt * sizeof *v);
    if (!v)
        return iw_error_set(IW_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < cnt; i++) {
        int rc = iw_kvs_array_int(m->g, k, i, &v[i]);
        if (rc == 0 && v[i] < 0)
            rc = iw_error_set(IW_EFORMAT, "%s: key '%s'[%" PRIu64 "] is negative", m->g->name, k, i);
        if (rc < 0) {
            free(v);
            return rc;
        }
    }
    *arr = v;
    *n = (size_t)cnt;
    return 1;
}

static int64_t max_of(const int64_t *v, size_t n)
{
    int64_t mx = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > mx)
            mx = v[i];
    return mx;
}

static bool has_prefix_key(const iw_kvs *g, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < iw_kvs_count(g); i++)
        if (strncmp(iw_kvs_key(g, i), prefix, pl) == 0)
            return true;
    return false;
}


/* rope.scaling.* -> compact JSON object */
static int map_rope_scaling(const mapper *m)
{
    char prefix[256];
    int rc = 0;
    snprintf(prefix, sizeof prefix, "%s.rope.scaling.", m->arch);
    size_t pl = strlen(prefix);
    cJSON *o = NULL;
    for (size_t i = 0; i < iw_kvs_count(m->g); i++) {
        const char *k = iw_kvs_key(m->g, i);
        if (strncmp(k, prefix, pl) != 0 || !k[pl])
            continue;
        if (!o && !(o = cJSON_CreateObject()))
            return iw_error_set(IW_ENOMEM, "out of memory");
        iw_gguf_type t = iw_kvs_type(m->g, i);
        const char *name = k + pl;
        cJSON *item = NULL;
        if (t == IW_GGUF_STRING) {
            const char *s;
            iw_kvs_str(m->g, i, &s, NULL);
            item = cJSON_CreateString(s);
        } else if (t == IW_GGUF_BOOL) {
            int64_t b = 0;
            iw_kvs_int(m->g, i, &b);
            item = cJSON_CreateBool(b != 0);
        } else if (t == IW_GGUF_FLOAT32 || t == IW_GGUF_FLOAT64) {
            double d = 0;
            iw_kvs_float(m->g, i, &d);
            if (t == IW_GGUF_FLOAT32) {      /* print the float32 value, not its double expansion */
                char tmp[32];
                snprintf(tmp, sizeof tmp, "%.7g", d);
                d = strtod(tmp, NULL);
            }
            item = isfinite(d) ? cJSON_CreateNumber(d) : cJSON_CreateNull();
        } else if (t != IW_GGUF_ARRAY) {
            double d = 0;
            iw_kvs_float(m->g, i, &d);
            item = cJSON_CreateNumber(d);
        } else {
            continue;
        }
        if (!item || !cJSON_AddItemToObject(o, strcmp(name, "type") == 0 ? "rope_type" : name, item)) {
            cJSON_Delete(item);
            rc = iw_error_set(IW_ENOMEM, "out of memory");
            goto done;
        }
        if (strcmp(name, "type") == 0) {      /* HF spelling: both keys */
            cJSON *dup = cJSON_Duplicate(item, 0);
            if (!dup || !cJSON_AddItemToObject(o, "type", dup)) {
                cJSON_Delete(dup);
                rc = iw_error_set(IW_ENOMEM, "out of memory");
                goto done;
            }
        }
    }
    if (o) {
        char *txt = cJSON_PrintUnformatted(o);
        if (!txt) {
            rc = iw_error_set(IW_ENOMEM, "out of memory");
            goto done;
        }
        free(m->a->rope_scaling_json);
        m->a->rope_scaling_json = txt;
        rc = iw_arch_set_source(m->a, "rope_scaling", SRC);
    }
done:
    cJSON_Delete(o);
    return rc;
}

static int set_layer_types(iw_arch *a, iw_layer_kind *lt, size_t n, const char *src)
{
    free(a->attention.layer_types);
    a->attention.layer_types = lt;
    a->attention.n_layer_types = n;
    return iw_arch_set_source(a, "attention.layer_types", src);
}

/* Hard-wired SWA patterns of llama.cpp (llama-model.cpp set_swa_pattern). */
static int64_t default_swa_pattern(const char *arch)
{
    static const struct { const char *arch; int64_t n; } t[] = {
        { "gemma2", 2 }, { "gemma3", 6 }, { "cohere2", 4 }, { "gpt-oss", 2 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(arch, t[i].arch) == 0)
            return t[i].n;
    return 0;
}

static int map_layers(const mapper *m)
{
    iw_arch *a = m->a;
    int rc;
    int64_t L = a->num_layers;
    char k[256];
    if (L <= 0 || L > MAX_LAYERS)
        return 0;

    /* sliding window: window size, then which layers use it */
    int64_t win = 0;
    if ((rc = map_i(m, "attention.sliding_window", &a->attention.sliding_window, "attention.sliding_window")) < 0)
        return rc;
    win = a->attention.sliding_window > 0 ? a->attention.sliding_window : 0;
    long pidx = iw_kvs_find(m->g, key_of(m, "attention.sliding_window_pattern", k, sizeof k));
    if (win > 0 && pidx >= 0 && iw_kvs_type(m->g, (size_t)pidx) == IW_GGUF_ARRAY) {
        iw_gguf_type et;
        uint64_t cnt;
        iw_kvs_array(m->g, (size_t)pidx, &et, &cnt);
        if (cnt != (uint64_t)L)
            return iw_error_set(IW_EFORMAT, "%s: key '%s' has %" PRIu64 " elements, expected %" PRId64
                                " (block_count)", m->g->name, k, cnt, L);
        iw_layer_kind *lt = calloc((size_t)L, sizeof *lt);
        if (!lt)
            return iw_error_set(IW_ENOMEM, "out of memory");
        for (int64_t i = 0; i < L; i++) {
            int64_t v;
            if ((rc = iw_kvs_array_int(m->g, k, (uint64_t)i, &v)) < 0) {
                free(lt);
                return rc;
            }
            lt[i] = v ? IW_LAYER_SLIDING : IW_LAYER_FULL;
        }
        if ((rc = set_layer_types(a, lt, (size_t)L, SRC)) < 0)
            return rc;
    } else if (win > 0) {
        int64_t n = 0;
        const char *src = SRC;
        if (pidx >= 0) {
            if ((rc = iw_kvs_int(m->g, (size_t)pidx, &n)) < 0)
                return rc;
            a->attention.sliding_window_pattern = n;
            iw_arch_set_source(a, "attention.sliding_window_pattern", SRC);
        } else if ((n = default_swa_pattern(m->arch)) > 0) {
            src = "gguf+llama.cpp:set_swa_pattern";
            a->attention.sliding_window_pattern = n;
            iw_arch_set_source(a, "attention.sliding_window_pattern", src);
        }
        if (n > 0) {
            iw_layer_kind *lt = calloc((size_t)L, sizeof *lt);
            if (!lt)
                return iw_error_set(IW_ENOMEM, "out of memory");
            for (int64_t i = 0; i < L; i++)     /* llama.cpp: SWA iff il % n < n - 1 */
                lt[i] = (i % n) < (n - 1) ? IW_LAYER_SLIDING : IW_LAYER_FULL;
            if ((rc = set_layer_types(a, lt, (size_t)L, src)) < 0)
                return rc;
        }
    }

    /* hybrids: recurrent layers are those with no KV heads (jamba, granitehybrid,
     * falcon-h1, lfm2, ...) or, with full_attention_interval (qwen3next), all
     * but every n-th layer */
    bool ssm = has_prefix_key(m->g, key_of(m, "ssm.", k, sizeof k));
    int64_t interval = 0;
    if ((rc = get_i(m, "full_attention_interval", &interval)) < 0)
        return rc;
    iw_layer_kind *lt = NULL;
    int64_t nrec = 0;
    if (interval > 0) {
        if (!(lt = calloc((size_t)L, sizeof *lt)))
            return iw_error_set(IW_ENOMEM, "out of memory");
        for (int64_t i = 0; i < L; i++) {
            lt[i] = (i + 1) % interval == 0 ? IW_LAYER_FULL : IW_LAYER_LINEAR;
            nrec += lt[i] != IW_LAYER_FULL;
        }
    } else if (ssm) {
        if (!(lt = calloc((size_t)L, sizeof *lt)))
            return iw_error_set(IW_ENOMEM, "out of memory");
        for (int64_t i = 0; i < L; i++) {
            int64_t kvh = iw_arch_kv_heads_of_layer(a, (size_t)i);
            bool attn = a->attention.kv_heads_per_layer ? kvh > 0 : a->num_attention_heads > 0 && kvh != 0;
            lt[i] = attn ? (a->attention.layer_types ? a->attention.layer_types[i] : IW_LAYER_FULL) : IW_LAYER_MAMBA;
            nrec += !attn;
        }
    }
    if (lt) {
        if ((rc = set_layer_types(a, lt, (size_t)L, SRC)) < 0)
            return rc;
        if ((rc = set_int(a, &a->ssm.num_recurrent_layers, "ssm.num_recurrent_layers", nrec, SRC)) < 0)
            return rc;
    }
    return 0;
}

static int map_model(const mapper *m)
{
    iw_arch *a = m->a;
    int rc;
    int64_t v, *arr = NULL;
    size_t n = 0;

    if ((rc = iw_arch_set_str(&a->model_type, m->arch)) < 0 || (rc = iw_arch_set_source(a, "model_type", SRC)) < 0)
        return rc;
    if ((rc = map_i(m, "block_count", &a->num_layers, "num_layers")) < 0 ||
        (rc = map_i(m, "context_length", &a->context_length, "context_length")) < 0 ||
        (rc = map_i(m, "context_length", &a->max_position_embeddings, "max_position_embeddings")) < 0 ||
        (rc = map_i(m, "embedding_length", &a->hidden_size, "hidden_size")) < 0)
        return rc;

    /* feed_forward_length: scalar, or per layer (OpenELM): the widest layer */
    if ((rc = get_i_or_layers(m, "feed_forward_length", &v, &arr, &n)) < 0)
        return rc;
    if (rc > 0) {
        if (arr) {
            v = max_of(arr, n);
            free(arr);
            arr = NULL;
            rc = set_int(a, &a->intermediate_size, "intermediate_size", v, "gguf:max(per-layer)");
        } else {
            rc = set_int(a, &a->intermediate_size, "intermediate_size", v, SRC);
        }
        if (rc < 0)
            return rc;
    }

    if ((rc = get_i_or_layers(m, "attention.head_count", &v, &arr, &n)) < 0)
        return rc;
    if (rc > 0) {
        if (arr) {
            v = max_of(arr, n);
            free(arr);
            arr = NULL;
            rc = set_int(a, &a->num_attention_heads, "num_attention_heads", v, "gguf:max(per-layer)");
        } else {
            rc = set_int(a, &a->num_attention_heads, "num_attention_heads", v, SRC);
        }
        if (rc < 0)
            return rc;
    }

    if ((rc = get_i_or_layers(m, "attention.head_count_kv", &v, &arr, &n)) < 0)
        return rc;
    if (rc > 0 && arr) {
        if (a->num_layers > 0 && (int64_t)n != a->num_layers) {
            free(arr);
            return iw_error_set(IW_EFORMAT, "%s: key '%s.attention.head_count_kv' has %zu elements, expected %"
                                PRId64 " (block_count)", m->g->name, m->arch, n, a->num_layers);
        }
        free(a->attention.kv_heads_per_layer);
        a->attention.kv_heads_per_layer = arr;
        a->attention.n_kv_heads_per_layer = n;
        arr = NULL;
        if ((rc = iw_arch_set_source(a, "attention.kv_heads_per_layer", SRC)) < 0 ||
            (rc = set_int(a, &a->num_kv_heads, "num_kv_heads", max_of(a->attention.kv_heads_per_layer, n),
                          "gguf:max(per-layer)")) < 0)
            return rc;
    } else if (rc > 0) {
        if ((rc = set_int(a, &a->num_kv_heads, "num_kv_heads", v, SRC)) < 0)
            return rc;
    } else if (a->num_attention_heads >= 0) {
        /* llama.cpp: n_head_kv defaults to n_head */
        if ((rc = set_int(a, &a->num_kv_heads, "num_kv_heads", a->num_attention_heads,
                          "gguf:default(head_count)")) < 0)
            return rc;
    }

    /* explicit per-head widths; else embedding_length / head_count (llama.cpp default) */
    if ((rc = map_i(m, "attention.key_length", &a->attention.key_length, "attention.key_length")) < 0 ||
        (rc = map_i(m, "attention.value_length", &a->attention.value_length, "attention.value_length")) < 0)
        return rc;
    if (a->attention.key_length > 0) {
        if ((rc = set_int(a, &a->head_dim, "head_dim", a->attention.key_length, "gguf:attention.key_length")) < 0)
            return rc;
    } else if (a->hidden_size > 0 && a->num_attention_heads > 0) {
        if ((rc = set_int(a, &a->head_dim, "head_dim", a->hidden_size / a->num_attention_heads,
                          "gguf:embedding_length/head_count")) < 0)
            return rc;
    }

    double d;
    if ((rc = get_f(m, "rope.freq_base", &d)) < 0)
        return rc;
    if (rc > 0) {
        a->rope_theta = d;
        if ((rc = iw_arch_set_source(a, "rope_theta", SRC)) < 0)
            return rc;
    }
    if ((rc = map_rope_scaling(m)) < 0)
        return rc;

    /* MoE */
    if ((rc = map_i(m, "expert_count", &a->moe.num_experts, "moe.num_experts")) < 0 ||
        (rc = map_i(m, "expert_used_count", &a->moe.experts_per_token, "moe.experts_per_token")) < 0 ||
        (rc = map_i(m, "expert_feed_forward_length", &a->moe.expert_intermediate_size,
                    "moe.expert_intermediate_size")) < 0 ||
        (rc = map_i(m, "expert_shared_count", &a->moe.shared_experts, "moe.shared_experts")) < 0 ||
        (rc = map_i(m, "leading_dense_block_count", &a->moe.num_dense_layers, "moe.num_dense_layers")) < 0)
        return rc;
    if ((rc = get_i(m, "expert_shared_feed_forward_length", &v)) < 0)
        return rc;
    if (rc > 0) {
        int64_t cnt = a->moe.shared_experts > 0 ? a->moe.shared_experts : 1;
        if (v >= 0 && v <= INT64_MAX / cnt &&
            (rc = set_int(a, &a->moe.shared_expert_intermediate_size, "moe.shared_expert_intermediate_size",
                          v * cnt, SRC)) < 0)
            return rc;
    }
    if (a->moe.num_experts > 0) {
        if ((rc = iw_arch_set_str(&a->mlp_type, "moe")) < 0 || (rc = iw_arch_set_source(a, "mlp_type", SRC)) < 0)
            return rc;
        /* no expert_feed_forward_length: the experts' width is what llama.cpp
         * loads them with (src/models/llama.cpp: n_ff, the Mixtral
         * conversion; src/models/qwen3moe.cpp: n_ff / n_expert_used) */
        if (a->moe.expert_intermediate_size < 0 && a->intermediate_size > 0) {
            bool per_used = !strcmp(m->arch, "qwen3moe") && a->moe.experts_per_token > 0;
            int64_t w = per_used ? a->intermediate_size / a->moe.experts_per_token : a->intermediate_size;
            if ((rc = set_int(a, &a->moe.expert_intermediate_size, "moe.expert_intermediate_size", w,
                              per_used ? "gguf:feed_forward_length/expert_used_count (llama.cpp)"
                                       : "gguf:feed_forward_length (llama.cpp: experts use n_ff)")) < 0)
                return rc;
        }
    }

    /* MLA (DeepSeek-V2/V3, Kimi, GLM-4.7-Flash, ...) */
    if ((rc = map_i(m, "attention.kv_lora_rank", &a->attention.kv_lora_rank, "attention.kv_lora_rank")) < 0 ||
        (rc = map_i(m, "attention.q_lora_rank", &a->attention.q_lora_rank, "attention.q_lora_rank")) < 0)
        return rc;
    if (a->attention.kv_lora_rank > 0) {
        int64_t rope = -1, kmla = -1, vmla = -1;
        if ((rc = get_i(m, "rope.dimension_count", &rope)) < 0 ||
            (rc = get_i(m, "attention.key_length_mla", &kmla)) < 0 ||
            (rc = get_i(m, "attention.value_length_mla", &vmla)) < 0)
            return rc;
        int64_t kfull = kmla > 0 ? kmla : a->attention.key_length;
        if (rope > 0 && (rc = set_int(a, &a->attention.qk_rope_head_dim, "attention.qk_rope_head_dim", rope, SRC)) < 0)
            return rc;
        if (rope > 0 && kfull > rope &&
            (rc = set_int(a, &a->attention.qk_nope_head_dim, "attention.qk_nope_head_dim", kfull - rope, SRC)) < 0)
            return rc;
        if (vmla > 0 && (rc = set_int(a, &a->attention.value_length, "attention.value_length", vmla, SRC)) < 0)
            return rc;
        if (kmla > 0 && (rc = set_int(a, &a->head_dim, "head_dim", kmla, "gguf:attention.key_length_mla")) < 0)
            return rc;
    }

    /* attention type */
    iw_attn_type at = IW_ATTN_UNKNOWN;
    if (a->attention.kv_lora_rank > 0)
        at = IW_ATTN_MLA;
    else if (a->num_attention_heads > 0 && a->num_kv_heads > 0)
        at = a->num_kv_heads == a->num_attention_heads ? IW_ATTN_MHA
           : a->num_kv_heads == 1 ? IW_ATTN_MQA : IW_ATTN_GQA;
    if (at != IW_ATTN_UNKNOWN) {
        a->attention.type = at;
        if ((rc = iw_arch_set_source(a, "attention.type", SRC)) < 0)
            return rc;
    }

    /* SSM / recurrent */
    if ((rc = map_i(m, "ssm.conv_kernel", &a->ssm.d_conv, "ssm.d_conv")) < 0 ||
        (rc = map_i(m, "ssm.inner_size", &a->ssm.d_inner, "ssm.d_inner")) < 0 ||
        (rc = map_i(m, "ssm.state_size", &a->ssm.d_state, "ssm.d_state")) < 0 ||
        (rc = map_i(m, "ssm.group_count", &a->ssm.n_groups, "ssm.n_groups")) < 0 ||
        (rc = map_i(m, "ssm.time_step_rank", &a->ssm.n_heads, "ssm.n_heads")) < 0)
        return rc;
    if (a->ssm.d_inner > 0 && a->ssm.n_heads > 0 &&
        (rc = set_int(a, &a->ssm.head_dim, "ssm.head_dim", a->ssm.d_inner / a->ssm.n_heads,
                      "gguf:ssm.inner_size/time_step_rank")) < 0)
        return rc;

    if ((rc = map_layers(m)) < 0)
        return rc;

    /* norm type */
    char k[256];
    if (iw_kvs_find(m->g, key_of(m, "attention.layer_norm_rms_epsilon", k, sizeof k)) >= 0)
        rc = iw_arch_set_str(&a->norm_type, "rmsnorm");
    else if (iw_kvs_find(m->g, key_of(m, "attention.layer_norm_epsilon", k, sizeof k)) >= 0)
        rc = iw_arch_set_str(&a->norm_type, "layernorm");
    else
        rc = 1;
    if (rc < 0 || (rc == 0 && (rc = iw_arch_set_source(a, "norm_type", SRC)) < 0))
        return rc;

    /* vocabulary: tokenizer.ggml.tokens length, else <arch>.vocab_size */
    iw_gguf_type et;
    uint64_t cnt;
    rc = iw_kvs_get_array(m->g, "tokenizer.ggml.tokens", &et, &cnt);
    if (rc == 0) {
        if ((rc = set_int(a, &a->vocab_size, "vocab_size", (int64_t)cnt, "gguf:tokenizer.ggml.tokens")) < 0)
            return rc;
    } else if (rc != IW_ENOTFOUND) {
        return rc;
    } else if ((rc = map_i(m, "vocab_size", &a->vocab_size, "vocab_size")) < 0) {
        return rc;
    }
    return 0;
}

static int map_vision(const iw_kvs *g, iw_arch *a)
{
    static const struct { const char *key; size_t off; const char *field; } t[] = {
        { "clip.vision.image_size", offsetof(iw_vision, image_size), "vision.image_size" },
        { "clip.vision.patch_size", offsetof(iw_vision, patch_size), "vision.patch_size" },
        { "clip.vision.embedding_length", offsetof(iw_vision, hidden_size), "vision.hidden_size" },
        { "clip.vision.block_count", offsetof(iw_vision, num_layers), "vision.num_layers" },
        { "clip.vision.attention.head_count", offsetof(iw_vision, num_heads), "vision.num_heads" },
        { "clip.vision.feed_forward_length", offsetof(iw_vision, intermediate_size), "vision.intermediate_size" },
        { "clip.vision.projection_dim", offsetof(iw_vision, projection_dim), "vision.projection_dim" },
    };
    int rc;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int64_t v;
        rc = iw_kvs_get_int(g, t[i].key, &v);
        if (rc == IW_ENOTFOUND)
            continue;
        if (rc < 0)
            return rc;
        if ((rc = set_int(a, (int64_t *)((char *)&a->vision + t[i].off), t[i].field, v, SRC)) < 0)
            return rc;
    }
    const char *pt;
    rc = iw_kvs_get_str(g, "clip.projector_type", &pt, NULL);
    if (rc == 0) {
        if ((rc = iw_arch_set_str(&a->vision.model_type, pt)) < 0 ||
            (rc = iw_arch_set_source(a, "vision.model_type", SRC)) < 0)
            return rc;
    } else if (rc != IW_ENOTFOUND) {
        return rc;
    }
    a->has_vision = true;
    return iw_arch_set_source(a, "has_vision", SRC);
}

/* ---- tensors: parameters, bytes, quantization mix ------------------------- */

typedef struct tally {
    int64_t total, embedding, attention, mlp, experts, norms, lm_head;
    int64_t bytes;              /* -1 unknown */
    int64_t by_type[IW_GGML_TYPE_COUNT];
    int64_t unknown_type_tensors;
    bool has_embd, has_output;
} tally;

static bool has_sub(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static int tally_add(tally *T, const iw_kvs *g)
{
    for (size_t i = 0; i < iw_kvs_tensor_count(g); i++) {
        const iw_gguf_tensor *t = iw_kvs_tensor_at(g, i);
        int64_t ne = t->n_elements;
        if (T->total > INT64_MAX - ne)
            return iw_error_set(IW_EFORMAT, "%s: parameter count overflows", g->name);
        T->total += ne;
        const char *nm = t->name;
        if (strcmp(nm, "token_embd.weight") == 0 || strcmp(nm, "position_embd.weight") == 0 ||
            strcmp(nm, "token_types.weight") == 0) {
            T->embedding += ne;
            T->has_embd |= strcmp(nm, "token_embd.weight") == 0;
        } else if (strcmp(nm, "output.weight") == 0) {
            T->lm_head += ne;
            T->has_output = true;
        } else if (has_sub(nm, "norm")) {
            T->norms += ne;
        } else if (has_sub(nm, "_exps")) {
            T->experts += ne;
        } else if (has_sub(nm, ".attn_")) {
            T->attention += ne;
        } else if (has_sub(nm, ".ffn_")) {
            T->mlp += ne;
        }
        if (t->n_bytes < 0) {
            T->bytes = -1;
            T->unknown_type_tensors++;
        } else {
            if (T->bytes >= 0)
                T->bytes += t->n_bytes;
            T->by_type[t->type] += t->n_bytes;
        }
    }
    return 0;
}

static int map_quant(iw_arch *a, const iw_kvs *meta, const tally *T, size_t n_tensors)
{
    int rc;
    iw_quant *q = &a->quantization;
    uint64_t ft = 0;
    bool have_ft = false;
    rc = iw_kvs_get_uint(meta, "general.file_type", &ft);
    if (rc == 0)
        have_ft = true;
    else if (rc != IW_ENOTFOUND)
        return rc;
    const char *ft_name = have_ft && ft <= UINT32_MAX ? iw_gguf_file_type_name((uint32_t)ft) : NULL;

    if ((rc = iw_arch_set_str(&q->method, "gguf")) < 0)
        return rc;
    char fmt[32];
    snprintf(fmt, sizeof fmt, "gguf-v%" PRIu32, meta->version);
    if ((rc = iw_arch_set_str(&q->format, fmt)) < 0)
        return rc;

    /* bytes by type; the dominant type ignores F32 (norms, biases) unless alone */
    int64_t sum = 0;
    int dom = -1;
    for (int t = 0; t < IW_GGML_TYPE_COUNT; t++) {
        sum += T->by_type[t];
        if (T->by_type[t] > 0 && t != 0 && (dom < 0 || T->by_type[t] > T->by_type[dom]))
            dom = t;
    }
    if (dom < 0 && T->by_type[0] > 0)
        dom = 0;

    if (n_tensors == 0 || dom < 0) {
        if (ft_name) {
            if ((rc = iw_arch_set_str(&q->label, ft_name)) < 0)
                return rc;
            return iw_arch_set_source(a, "quantization", "gguf:general.file_type");
        }
        return iw_arch_set_source(a, "quantization", SRC);
    }

    /* detail: "Q4_K 71%, Q6_K 24%, F32 5%" by bytes */
    int order[IW_GGML_TYPE_COUNT], no = 0;
    for (int t = 0; t < IW_GGML_TYPE_COUNT; t++)
        if (T->by_type[t] > 0)
            order[no++] = t;
    for (int i = 1; i < no; i++)
        for (int j = i; j > 0 && T->by_type[order[j]] > T->by_type[order[j - 1]]; j--) {
            int x = order[j]; order[j] = order[j - 1]; order[j - 1] = x;
        }
    char detail[1024];
    size_t o = 0;
    detail[0] = 0;
    for (int i = 0; i < no && o < sizeof detail - 64; i++) {
        double pct = 100.0 * (double)T->by_type[order[i]] / (double)sum;
        if (pct >= 0.5)
            o += (size_t)snprintf(detail + o, sizeof detail - o, "%s%s %.0f%%", o ? ", " : "",
                                  iw_ggml_type_name(order[i]), pct);
        else
            o += (size_t)snprintf(detail + o, sizeof detail - o, "%s%s <1%%", o ? ", " : "",
                                  iw_ggml_type_name(order[i]));
    }
    if (T->unknown_type_tensors && o < sizeof detail - 64)
        snprintf(detail + o, sizeof detail - o, "%s%" PRId64 " tensors of unknown type", o ? ", " : "",
                 T->unknown_type_tensors);
    if ((rc = iw_arch_set_str(&q->detail, detail)) < 0)
        return rc;

    /* label: the file_type name when the tensors agree, else the dominant type */
    const char *label = iw_ggml_type_name(dom);
    if (ft_name) {
        int32_t main_t = iw_gguf_file_type_main_type((uint32_t)ft);
        bool agrees = main_t >= 0 && main_t < IW_GGML_TYPE_COUNT &&
                      (main_t == dom || 4 * T->by_type[main_t] >= sum);
        if (agrees)
            label = ft_name;
        else if ((rc = iw_arch_warn(a, "gguf: general.file_type %" PRIu64 " (%s) does not match the tensors"
                                    " (mostly %s); the label follows the tensors", ft, ft_name,
                                    iw_ggml_type_name(dom))) < 0)
            return rc;
    }
    if ((rc = iw_arch_set_str(&q->label, label)) < 0)
        return rc;
    const iw_ggml_type_info *ti = iw_ggml_type_info_get(dom);
    q->bits = ti->nominal_bits;
    q->group_size = ti->blck_size > 1 ? (int64_t)ti->blck_size : IW_UNKNOWN;
    if (T->bytes >= 0 && T->total > 0)
        q->effective_bits = 8.0 * (double)T->bytes / (double)T->total;
    return iw_arch_set_source(a, "quantization", SRC);
}

static int map_tensors(iw_arch *a, const iw_kvs *meta, const iw_kvs *const *model, size_t nm, const tally *T)
{
    int rc;
    size_t n_tensors = 0;
    for (size_t i = 0; i < nm; i++)
        n_tensors += iw_kvs_tensor_count(model[i]);

    if ((rc = map_quant(a, meta, T, n_tensors)) < 0)
        return rc;
    if (n_tensors == 0)   /* vocab-only file: nothing to count */
        return 0;

    iw_params *P = &a->parameters;
    int64_t formula = (P->source && strcmp(P->source, "formula") == 0) ? P->total : IW_UNKNOWN;
    if (formula > 0) {
        double diff = fabs((double)T->total - (double)formula) / (double)formula;
        if (diff > 0.005 && (rc = iw_arch_warn(a, "gguf: exact parameter count %" PRId64 " differs from the"
                                               " formula estimate %" PRId64 " by %.1f%%; using the GGUF count",
                                               T->total, formula, 100.0 * diff)) < 0)
            return rc;
    }
    P->total = T->total;
    P->embedding = T->embedding;
    P->attention = T->attention;
    P->mlp = T->mlp;
    P->experts = T->experts;
    P->norms = T->norms;
    P->lm_head = T->has_output ? T->lm_head : 0;
    P->active = T->total;
    if (T->experts > 0 && a->moe.num_experts > 0 && a->moe.experts_per_token > 0 &&
        a->moe.experts_per_token <= a->moe.num_experts) {
        double idle = (double)T->experts * (1.0 - (double)a->moe.experts_per_token / (double)a->moe.num_experts);
        P->active = T->total - (int64_t)llround(idle);
    }
    if ((rc = iw_arch_set_str(&P->source, SRC)) < 0 || (rc = iw_arch_set_source(a, "parameters", SRC)) < 0)
        return rc;
    a->weights_bytes = T->bytes >= 0 ? T->bytes : IW_UNKNOWN;
    if (T->bytes >= 0 && (rc = iw_arch_set_source(a, "weights_bytes", SRC)) < 0)
        return rc;
    if (T->bytes < 0 && (rc = iw_arch_warn(a, "gguf: %" PRId64 " tensors have an unknown ggml type;"
                                           " weights_bytes unknown", T->unknown_type_tensors)) < 0)
        return rc;
    if (T->has_embd) {
        a->tie_word_embeddings = !T->has_output;
        if ((rc = iw_arch_set_source(a, "tie_word_embeddings", SRC)) < 0)
            return rc;
    }
    return 0;
}

/* Sum of the tensors' elements (the exact parameter count of one file). */
static int64_t param_count(const iw_kvs *s)
{
    int64_t n = 0;
    for (size_t i = 0; i < iw_kvs_tensor_count(s); i++) {
        int64_t ne = iw_kvs_tensor_at(s, i)->n_elements;
        n = ne > INT64_MAX - n ? INT64_MAX : n + ne;
    }
    return n;
}

int iw_kvs_to_arch(const iw_kvs *const *shards, size_t n, iw_arch *a)
{
    int rc = 0;
    const iw_kvs **model = NULL, **clip = NULL;
    size_t nm = 0, nc = 0;
    if (!shards || !a || n == 0)
        return iw_error_set(IW_EINVAL, "iw_gguf_to_arch: no GGUF given");
    model = calloc(n, sizeof *model);
    clip = calloc(n, sizeof *clip);
    if (!model || !clip) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (iw_kvs_is_projector(shards[i]))
            clip[nc++] = shards[i];
        else
            model[nm++] = shards[i];
    }

    /* the shard with the metadata: split.no 0, else the first with general.architecture */
    const iw_kvs *meta = NULL;
    const char *arch = NULL;
    for (size_t i = 0; i < nm && !meta; i++) {
        uint64_t no;
        if (iw_kvs_get_uint(model[i], "split.no", &no) == 0 && no == 0)
            meta = model[i];
    }
    for (size_t i = 0; i < nm && !meta; i++)
        if (iw_kvs_find(model[i], "general.architecture") >= 0)
            meta = model[i];
    if (nm && !meta)
        meta = model[0];

    if (meta) {
        rc = iw_kvs_get_str(meta, "general.architecture", &arch, NULL);
        if (rc == IW_ENOTFOUND) {
            rc = 0;
            arch = NULL;
            if ((rc = iw_arch_warn(a, "gguf: %s has no general.architecture; architecture fields unknown",
                                   meta->name)) < 0)
                goto done;
        } else if (rc < 0) {
            goto done;
        }
        if (arch && (!*arch || strlen(arch) > 64 || strchr(arch, '%'))) {
            rc = iw_error_set(IW_EFORMAT, "%s: key 'general.architecture' has an invalid value",
                              meta->name);
            goto done;
        }

        /* split set: all shards present, numbered once each */
        uint64_t count = 0, tcount = 0;
        rc = iw_kvs_get_uint(meta, "split.count", &count);
        if (rc < 0 && rc != IW_ENOTFOUND)
            goto done;
        bool complete = true;
        if (rc == 0 && count > 1) {
            if (count != nm) {
                complete = false;
                if ((rc = iw_arch_warn(a, "gguf: split set declares %" PRIu64 " shards but %zu were read;"
                                       " parameters and weight bytes are incomplete", count, nm)) < 0)
                    goto done;
            }
            for (size_t i = 0; i < nm; i++)
                for (size_t j = i + 1; j < nm; j++) {
                    uint64_t ni = UINT64_MAX, nj = UINT64_MAX - 1;
                    iw_kvs_get_uint(model[i], "split.no", &ni);
                    iw_kvs_get_uint(model[j], "split.no", &nj);
                    if (ni == nj) {
                        rc = iw_error_set(IW_EFORMAT, "%s and %s are both split.no %" PRIu64,
                                          model[i]->name, model[j]->name, ni);
                        goto done;
                    }
                }
            rc = iw_kvs_get_uint(meta, "split.tensors.count", &tcount);
            if (rc < 0 && rc != IW_ENOTFOUND)
                goto done;
            size_t have = 0;
            for (size_t i = 0; i < nm; i++)
                have += iw_kvs_tensor_count(model[i]);
            if (rc == 0 && complete && tcount != have &&
                (rc = iw_arch_warn(a, "gguf: split.tensors.count is %" PRIu64 " but the shards hold %zu tensors",
                                   tcount, have)) < 0)
                goto done;
        } else if (nm > 1) {
            rc = iw_error_set(IW_EINVAL, "%zu GGUF files given but %s is not part of a split set",
                              nm, meta->name);
            goto done;
        }

        if (arch) {
            mapper m = { meta, arch, a };
            if ((rc = map_model(&m)) < 0)
                goto done;
        }
        tally T;
        memset(&T, 0, sizeof T);
        for (size_t i = 0; i < nm; i++)
            if ((rc = tally_add(&T, model[i])) < 0)
                goto done;
        if (complete) {
            if ((rc = map_tensors(a, meta, model, nm, &T)) < 0)
                goto done;
        }
        if (!a->source && (rc = iw_arch_set_str(&a->source, SRC)) < 0)
            goto done;
    }

    for (size_t i = 0; i < nc; i++) {
        if ((rc = map_vision(clip[i], a)) < 0)
            goto done;
        int64_t vp = param_count(clip[i]);
        if (iw_kvs_tensor_count(clip[i]) > 0) {
            a->vision.params = (a->vision.params > 0 && i > 0 ? a->vision.params : 0) + vp;
            a->parameters.vision = a->vision.params;
            if ((rc = iw_arch_set_source(a, "vision.params", SRC)) < 0)
                goto done;
        }
        if (!meta && i == 0) {
            if ((rc = iw_arch_set_str(&a->model_type, "clip")) < 0)
                goto done;
        }
    }
    rc = 0;
done:
    free(model);
    free(clip);
    return rc;
}

int iw_gguf_to_arch(const iw_gguf *const *shards, size_t n, iw_arch *a)
{
    if (!shards || !a || n == 0)
        return iw_error_set(IW_EINVAL, "iw_gguf_to_arch: no GGUF given");
    iw_kvs *v = calloc(n, sizeof *v);
    const iw_kvs **pv = calloc(n, sizeof *pv);
    int rc;
    if (!v || !pv) {
        rc = iw_error_set(IW_ENOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            iw_gguf_kvs(shards[i], &v[i]);
            pv[i] = &v[i];
        }
        rc = iw_kvs_to_arch(pv, n, a);
    }
    free(v);
    free(pv);
    return rc;
}

/* ---- file names ------------------------------------------------------------------ */

bool iw_gguf_split_name(const char *name, size_t *prefix_len, unsigned *no, unsigned *count)
{
    /* <prefix>-NNNNN-of-MMMMM.gguf */
    size_t n = strlen(name);
    const size_t tail = 1 + 5 + 4 + 5 + 5;     /* "-00001-of-00003.gguf" */
    if (n <= tail || strcasecmp(name + n - 5, ".gguf") != 0)
        return false;
    const char *s = name + n - tail;
    if (s[0] != '-' || memcmp(s + 6, "-of-", 4) != 0)
        return false;
    unsigned a = 0, b = 0;
    for (int i = 0; i < 5; i++) {
        if (!isdigit((unsigned char)s[1 + i]) || !isdigit((unsigned char)s[10 + i]))
            return false;
        a = a * 10 + (unsigned)(s[1 + i] - '0');
        b = b * 10 + (unsigned)(s[10 + i] - '0');
    }
    if (a == 0 || b == 0 || a > b)
        return false;
    if (prefix_len) *prefix_len = (size_t)(s - name);
    if (no) *no = a;
    if (count) *count = b;
    return true;
}
