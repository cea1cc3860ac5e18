/* config.c - config.json -> iw_arch.
 *
 * One pass over the parsed JSON.  The language-model block is the nested
 * text_config / llm_config / language_config object when there is one, else
 * the root; every lookup tries that block first and the root second, so a
 * composite model's shared keys (torch_dtype, tie_word_embeddings) are still
 * found.  A field that already has a field_source is never overwritten: this
 * is what lets a support repo's config fill only the gaps.
 *
 * Family spellings (gpt2 n_embd, mpt d_model, t5 d_kv, chatglm kv_channels,
 * ...) are looked up as aliases in a fixed order; see docs/formats/config.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/config.h"
#include "iwdl/json.h"
#include "config_internal.h"

#define NBLK 2

typedef struct cfg {
    iw_arch     *a;
    const cJSON *blk[NBLK];     /* [0] language-model block, [1] root (may equal [0]) */
    char        *src[NBLK];
    size_t       n;
    const char  *mt;            /* language-model model_type ("" when absent) */
    const char  *root_mt;       /* root model_type ("" when absent) */
    int          rc;            /* first allocation failure */
    /* the defaults of the block's transformers config class
     * (class_defaults.c), consulted after every real block; NULL = none */
    const cJSON *defs;
    char        *defs_src;      /* "class-default:LlamaConfig" */
} cfg;

bool iw_family_is(const char *model_type, const char *const *list)
{
    if (!model_type)
        return false;
    for (size_t i = 0; list[i]; i++)
        if (strcasecmp(model_type, list[i]) == 0)
            return true;
    return false;
}

static bool fam(const cfg *c, const char *const *list)
{
    return iw_family_is(c->mt, list) || iw_family_is(c->root_mt, list);
}
#define FAM(c, ...) fam((c), (const char *const[]){__VA_ARGS__, NULL})

static void note(cfg *c, int rc)
{
    if (rc < 0 && c->rc == 0)
        c->rc = rc;
}

/* Look up `key` (a dotted path such as "attn_config.kv_n_heads") in one
 * object.  JSON null counts as absent. */
static const cJSON *lookup_in(const cJSON *obj, const char *key)
{
    char part[128];
    const char *p = key;
    const cJSON *cur = obj;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof(part) || !cJSON_IsObject(cur))
            return NULL;
        memcpy(part, p, n);
        part[n] = 0;
        cur = cJSON_GetObjectItemCaseSensitive(cur, part);
        p = dot ? dot + 1 : p + n;
    }
    if (!cur || cJSON_IsNull(cur))
        return NULL;
    return cur;
}

static const cJSON *find(const cfg *c, const char *key, const char **src)
{
    for (size_t i = 0; i < c->n; i++) {
        const cJSON *it = lookup_in(c->blk[i], key);
        if (it) {
            if (src)
                *src = c->src[i];
            return it;
        }
    }
    return NULL;
}

/* `key` as the config class would default it: only when no real block
 * names it at all (a key present as null is the config's own choice, as
 * for transformers: Mistral-7B-v0.2's "sliding_window": null). */
static const cJSON *find_default(const cfg *c, const char *key, const char **src)
{
    if (!c->defs || strchr(key, '.'))
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (cJSON_GetObjectItemCaseSensitive(c->blk[i], key))
            return NULL;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(c->defs, key);
    if (it && src)
        *src = c->defs_src;
    return it;
}

static bool has_src(const cfg *c, const char *field)
{
    return iw_arch_get_source(c->a, field) != NULL;
}

#define CLASS_DEFAULT_PREFIX "class-default:"

/* A source a config's own key gave: a class default (this parse's or an
 * earlier config's) yields to any real key, e.g. a support repo's. */
static bool has_real_src(const cfg *c, const char *field)
{
    const char *s = iw_arch_get_source(c->a, field);
    return s && strncmp(s, CLASS_DEFAULT_PREFIX, strlen(CLASS_DEFAULT_PREFIX)) != 0;
}

static void set_src(cfg *c, const char *field, const char *src)
{
    note(c, iw_arch_set_source(c->a, field, src));
}

static void warn_type(cfg *c, const char *src, const char *key, const char *want)
{
    note(c, iw_arch_warn(c->a, "%s: key '%s' has the wrong type (expected %s); ignored",
                         src, key, want));
}

/* First alias present with an integer value in [lo, IW_CONFIG_MAX_DIM]. */
static bool get_i64_any(cfg *c, const char *const *keys, int64_t lo, int64_t *out,
                        const char **src_out, const char **key_out)
{
    /* pass 1, when every alias is absent from the config: the class defaults */
    bool seen = false;
    for (int pass = 0; pass < 2 && !seen; pass++)
    for (size_t i = 0; keys[i]; i++) {
        const char *src = NULL;
        const cJSON *it = pass ? find_default(c, keys[i], &src) : find(c, keys[i], &src);
        int64_t v;
        if (!it)
            continue;
        seen = true;
        if (cJSON_IsBool(it) || !iw_json_item_i64(it, &v)) {
            warn_type(c, src, keys[i], "an integer");
            continue;
        }
        if (v < lo || v > IW_CONFIG_MAX_DIM) {
            note(c, iw_arch_warn(c->a, "%s: key '%s' = %lld is out of range; ignored",
                                 src, keys[i], (long long)v));
            continue;
        }
        *out = v;
        if (src_out)
            *src_out = src;
        if (key_out)
            *key_out = keys[i];
        return true;
    }
    return false;
}

static bool get_i64(cfg *c, const char *field, int64_t *dst, int64_t lo, const char *const *keys)
{
    const char *src;
    int64_t v;
    if (has_real_src(c, field))
        return false;
    if (!get_i64_any(c, keys, lo, &v, &src, NULL))
        return false;
    *dst = v;
    set_src(c, field, src);
    return true;
}
#define GETI(c, field, dst, ...) get_i64((c), (field), (dst), 1, (const char *const[]){__VA_ARGS__, NULL})
#define GETI0(c, field, dst, ...) get_i64((c), (field), (dst), 0, (const char *const[]){__VA_ARGS__, NULL})

static bool get_f64(cfg *c, const char *field, double *dst, const char *const *keys)
{
    if (has_real_src(c, field))
        return false;
    bool seen = false;
    for (int pass = 0; pass < 2 && !seen; pass++)
    for (size_t i = 0; keys[i]; i++) {
        const char *src = NULL;
        const cJSON *it = pass ? find_default(c, keys[i], &src) : find(c, keys[i], &src);
        if (!it)
            continue;
        seen = true;
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble <= 0) {
            warn_type(c, src, keys[i], "a positive number");
            continue;
        }
        *dst = it->valuedouble;
        set_src(c, field, src);
        return true;
    }
    return false;
}
#define GETF(c, field, dst, ...) get_f64((c), (field), (dst), (const char *const[]){__VA_ARGS__, NULL})

/* Boolean: true/false, or 0/1 numbers (some remote-code configs). */
static bool get_bool_key(cfg *c, const char *key, bool *out, const char **src_out)
{
    const char *src = NULL;
    const cJSON *it = find(c, key, &src);
    if (!it)
        it = find_default(c, key, &src);
    if (!it)
        return false;
    if (cJSON_IsBool(it)) {
        *out = cJSON_IsTrue(it);
    } else if (cJSON_IsNumber(it) && (it->valuedouble == 0 || it->valuedouble == 1)) {
        *out = it->valuedouble != 0;
    } else {
        warn_type(c, src, key, "a boolean");
        return false;
    }
    if (src_out)
        *src_out = src;
    return true;
}

static const char *get_str_key(cfg *c, const char *key, const char **src_out)
{
    const char *src = NULL;
    const cJSON *it = find(c, key, &src);
    if (!it)
        return NULL;
    if (!cJSON_IsString(it) || !it->valuestring) {
        warn_type(c, src, key, "a string");
        return NULL;
    }
    if (src_out)
        *src_out = src;
    return it->valuestring;
}

static void set_str_field(cfg *c, const char *field, char **slot, const char *v, const char *src)
{
    if (has_src(c, field) || !v)
        return;
    note(c, iw_arch_set_str(slot, v));
    set_src(c, field, src);
}

static void set_i64_field(cfg *c, const char *field, int64_t *slot, int64_t v, const char *src)
{
    if (has_src(c, field))
        return;
    *slot = v;
    set_src(c, field, src);
}

/* ---- class defaults ----------------------------------------------------- */

/* Point c at the defaults of `model_type`'s config class (none when the
 * table has no such class). */
static void load_defaults(cfg *c, const char *model_type)
{
    const iw_class_default *d = iw_class_default_find(model_type);
    c->defs = NULL;
    c->defs_src = NULL;
    if (!d)
        return;
    cJSON *j = cJSON_Parse(d->json);
    size_t n = strlen(CLASS_DEFAULT_PREFIX) + strlen(d->cls) + 1;
    char *s = malloc(n);
    if (!j || !s) {
        cJSON_Delete(j);
        free(s);
        note(c, iw_error_set(IW_ENOMEM, "out of memory"));
        return;
    }
    snprintf(s, n, "%s%s", CLASS_DEFAULT_PREFIX, d->cls);
    c->defs = j;
    c->defs_src = s;
}

static void free_defaults(cfg *c)
{
    cJSON_Delete((cJSON *)c->defs);
    free(c->defs_src);
    c->defs = NULL;
    c->defs_src = NULL;
}

/* One warning per class naming the fields it supplied. */
static void warn_defaults(cfg *c, const char *where)
{
    if (!c->defs_src)
        return;
    char list[512];
    size_t off = 0;
    list[0] = 0;
    for (size_t i = 0; i < c->a->n_field_sources; i++) {
        const iw_field_source *f = &c->a->field_sources[i];
        if (!f->source || strcmp(f->source, c->defs_src) != 0)
            continue;
        int k = snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", f->field);
        if (k < 0 || (size_t)k >= sizeof list - off)
            break;
        off += (size_t)k;
    }
    if (off)
        note(c, iw_arch_warn(c->a, "%s omits %s: filled from transformers' %s defaults (%s)", where, list,
                             c->defs_src + strlen(CLASS_DEFAULT_PREFIX), c->defs_src));
}

/* ---- blocks ------------------------------------------------------------- */

static const char *const LM_BLOCKS[] = {
    "text_config", "llm_config", "language_config", "language_model_config", NULL
};

static int pick_blocks(cfg *c, const cJSON *root, const char *source)
{
    const cJSON *lm = NULL;
    const char *name = NULL;
    for (size_t i = 0; LM_BLOCKS[i]; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, LM_BLOCKS[i]);
        if (it && cJSON_IsObject(it)) {
            lm = it;
            name = LM_BLOCKS[i];
            break;
        }
        if (it && !cJSON_IsNull(it))
            note(c, iw_arch_warn(c->a, "%s: key '%s' is not an object; ignored", source, LM_BLOCKS[i]));
    }
    c->n = 0;
    if (lm) {
        size_t n = strlen(source) + strlen(name) + 2;
        c->src[c->n] = malloc(n);
        if (!c->src[c->n])
            return iw_error_set(IW_ENOMEM, "out of memory");
        snprintf(c->src[c->n], n, "%s:%s", source, name);
        c->blk[c->n++] = lm;
    }
    c->src[c->n] = strdup(source);
    if (!c->src[c->n])
        return iw_error_set(IW_ENOMEM, "out of memory");
    c->blk[c->n++] = root;
    return 0;
}

/* ---- dtype -------------------------------------------------------------- */

static const char *kv_from_dtype(const char *dt)
{
    if (!dt)
        return NULL;
    if (!strcasecmp(dt, "bfloat16") || !strcasecmp(dt, "bf16"))
        return "bf16";
    if (!strcasecmp(dt, "float16") || !strcasecmp(dt, "fp16") || !strcasecmp(dt, "half"))
        return "fp16";
    if (!strcasecmp(dt, "float32") || !strcasecmp(dt, "fp32") || !strcasecmp(dt, "float"))
        return "fp32";
    if (!strncasecmp(dt, "float8", 6) || !strcasecmp(dt, "fp8"))
        return "fp8";
    return NULL;
}

static void parse_dtype(cfg *c)
{
    const char *src = NULL;
    const char *dt = get_str_key(c, "torch_dtype", &src);
    if (!dt)
        dt = get_str_key(c, "dtype", &src);
    if (!dt) {
        /* Qwen v1: bf16/fp16/fp32 booleans */
        bool b;
        if (get_bool_key(c, "bf16", &b, &src) && b)
            dt = "bfloat16";
        else if (get_bool_key(c, "fp16", &b, &src) && b)
            dt = "float16";
        else if (get_bool_key(c, "fp32", &b, &src) && b)
            dt = "float32";
    }
    if (dt)
        set_str_field(c, "torch_dtype", &c->a->torch_dtype, dt, src);

    /* compressed-tensors kv_cache_scheme -> fp8 KV */
    const cJSON *kvs = find(c, "quantization_config.kv_cache_scheme", NULL);
    if (kvs && cJSON_IsObject(kvs)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(kvs, "type");
        int64_t nb = 0;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(kvs, "num_bits");
        if (b)
            iw_json_item_i64(b, &nb);
        if (cJSON_IsString(t) && !strcmp(t->valuestring, "float") && nb == 8)
            set_str_field(c, "kv_precision", &c->a->kv_precision, "fp8",
                          "config.json:quantization_config.kv_cache_scheme");
        else if (nb == 8)
            set_str_field(c, "kv_precision", &c->a->kv_precision, "int8",
                          "config.json:quantization_config.kv_cache_scheme");
    }
    if (!has_src(c, "kv_precision") && c->a->torch_dtype) {
        const char *kv = kv_from_dtype(c->a->torch_dtype);
        if (kv)
            set_str_field(c, "kv_precision", &c->a->kv_precision, kv, "default:torch_dtype");
    }
}

/* ---- core dimensions ---------------------------------------------------- */

static void parse_core(cfg *c)
{
    iw_arch *a = c->a;
    const char *src = NULL;
    const char *s;

    /* identity */
    s = get_str_key(c, "model_type", &src);
    if (s) {
        /* the root model_type names the checkpoint (gemma3, llava, ...) */
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(c->blk[c->n - 1], "model_type");
        if (cJSON_IsString(rt) && rt->valuestring)
            set_str_field(c, "model_type", &a->model_type, rt->valuestring, c->src[c->n - 1]);
        else
            set_str_field(c, "model_type", &a->model_type, s, src);
    }
    const cJSON *archs = find(c, "architectures", &src);
    if (archs) {
        const cJSON *rarchs = cJSON_GetObjectItemCaseSensitive(c->blk[c->n - 1], "architectures");
        if (rarchs && cJSON_IsArray(rarchs)) {
            archs = rarchs;
            src = c->src[c->n - 1];
        }
        const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
        if (a0 && cJSON_IsString(a0))
            set_str_field(c, "architecture", &a->architecture, a0->valuestring, src);
        else if (!cJSON_IsArray(archs))
            warn_type(c, src, "architectures", "an array of strings");
    }

    /* encoder-decoder (t5, marian, bart) */
    bool encdec = false;
    if (get_bool_key(c, "is_encoder_decoder", &encdec, &src) && !has_src(c, "is_encoder_decoder")) {
        a->is_encoder_decoder = encdec;
        set_src(c, "is_encoder_decoder", src);
    }

    if (a->is_encoder_decoder && find(c, "encoder_layers", NULL)) {
        /* marian / bart spelling */
        GETI(c, "encoder_layers", &a->encoder_layers, "encoder_layers");
        GETI(c, "decoder_layers", &a->decoder_layers, "decoder_layers");
        GETI(c, "num_layers", &a->num_layers, "decoder_layers", "num_hidden_layers");
        GETI(c, "num_attention_heads", &a->num_attention_heads, "decoder_attention_heads",
             "encoder_attention_heads", "num_attention_heads");
        GETI(c, "intermediate_size", &a->intermediate_size, "decoder_ffn_dim", "encoder_ffn_dim");
    } else if (a->is_encoder_decoder) {
        /* t5: num_layers = encoder, num_decoder_layers defaults to it */
        if (GETI(c, "encoder_layers", &a->encoder_layers, "num_layers", "num_hidden_layers")) {
            if (!GETI(c, "decoder_layers", &a->decoder_layers, "num_decoder_layers"))
                set_i64_field(c, "decoder_layers", &a->decoder_layers, a->encoder_layers,
                              "default:num_layers");
        }
    }
    GETI(c, "num_layers", &a->num_layers, "num_hidden_layers", "n_layer", "num_layers", "n_layers");
    GETI(c, "num_attention_heads", &a->num_attention_heads,
         "num_attention_heads", "n_head", "n_heads", "num_heads", "attn_config.n_heads");
    GETI(c, "hidden_size", &a->hidden_size,
         "hidden_size", "n_embd", "n_embed", "d_model", "model_dim", "dim");
    GETI(c, "vocab_size", &a->vocab_size, "padded_vocab_size", "vocab_size", "embedding_size", "n_vocab");
    GETI(c, "max_position_embeddings", &a->max_position_embeddings,
         "max_position_embeddings", "n_positions", "max_seq_len", "max_sequence_length",
         "seq_length", "n_ctx", "model_max_length");
    if (a->max_position_embeddings > 0)
        set_i64_field(c, "context_length", &a->context_length, a->max_position_embeddings,
                      iw_arch_get_source(a, "max_position_embeddings"));
    /* chatglm: seq_length is the trained context */
    GETI(c, "context_length", &a->context_length, "seq_length");

    /* head_dim: explicit always wins over hidden/heads */
    GETI(c, "head_dim", &a->head_dim, "head_dim", "d_kv", "kv_channels", "attention_head_dim", "head_size");
    if (!has_src(c, "head_dim") && a->hidden_size > 0 && a->num_attention_heads > 0) {
        if (a->hidden_size % a->num_attention_heads != 0)
            note(c, iw_arch_warn(a, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld",
                                 c->src[0], (long long)a->hidden_size, (long long)a->num_attention_heads));
        set_i64_field(c, "head_dim", &a->head_dim, a->hidden_size / a->num_attention_heads,
                      "derived:hidden_size/num_attention_heads");
    }

    /* KV heads */
    bool mq = false, newdec = false;
    const char *mqsrc = NULL;
    bool have_mq = get_bool_key(c, "multi_query_attention", &mq, &mqsrc);
    if (have_mq && mq)
        GETI(c, "num_kv_heads", &a->num_kv_heads, "multi_query_group_num");
    GETI(c, "num_kv_heads", &a->num_kv_heads, "num_key_value_heads", "n_head_kv", "attn_config.kv_n_heads",
         "num_kv_heads");
    if (!have_mq || mq) {
        /* falcon: multi_query without new_decoder_architecture means one KV head */
        bool fmq = false;
        get_bool_key(c, "new_decoder_architecture", &newdec, NULL);
        if (!has_src(c, "num_kv_heads") && get_bool_key(c, "multi_query", &fmq, &src) && fmq && !newdec)
            set_i64_field(c, "num_kv_heads", &a->num_kv_heads, 1, src);
    }
    if (!has_src(c, "num_kv_heads") && FAM(c, "gpt_bigcode")) {
        bool bmq = true;  /* GPTBigCodeConfig default multi_query=True */
        get_bool_key(c, "multi_query", &bmq, &src);
        set_i64_field(c, "num_kv_heads", &a->num_kv_heads, bmq ? 1 : a->num_attention_heads,
                      bmq ? "default:gpt_bigcode multi_query" : "default:num_attention_heads");
    }
    if (!has_src(c, "num_kv_heads") && a->num_attention_heads > 0)
        set_i64_field(c, "num_kv_heads", &a->num_kv_heads, a->num_attention_heads,
                      "default:num_attention_heads");
    if (a->num_kv_heads > 0 && a->num_attention_heads > 0 && !has_src(c, "attention.type")) {
        iw_attn_type t = a->num_kv_heads == 1 && a->num_attention_heads > 1 ? IW_ATTN_MQA
                       : a->num_kv_heads < a->num_attention_heads ? IW_ATTN_GQA : IW_ATTN_MHA;
        a->attention.type = t;
        set_src(c, "attention.type", iw_arch_get_source(a, "num_kv_heads"));
    }

    /* FFN width */
    if (FAM(c, "qwen", "molmo")) {
        /* Qwen v1 and Molmo: intermediate_size is the fused w1+w2 (gate+up)
         * width, twice the FFN width */
        int64_t v;
        if (!has_src(c, "intermediate_size") &&
            get_i64_any(c, (const char *const[]){"intermediate_size", NULL}, 1, &v, &src, NULL))
            set_i64_field(c, "intermediate_size", &a->intermediate_size, v / 2,
                          "derived:intermediate_size/2 (fused gate+up)");
    }
    GETI(c, "intermediate_size", &a->intermediate_size,
         "intermediate_size", "n_inner", "ffn_hidden_size", "d_ff", "ffn_dim", "decoder_ffn_dim",
         "ffn_config.ffn_hidden_size", "mlp_dim");
    if (!has_src(c, "intermediate_size") && a->hidden_size > 0) {
        int64_t er;
        if (get_i64_any(c, (const char *const[]){"expansion_ratio", NULL}, 1, &er, &src, NULL) &&
            er <= 64) {
            set_i64_field(c, "intermediate_size", &a->intermediate_size, er * a->hidden_size,
                          "derived:expansion_ratio*hidden_size");
        } else if (FAM(c, "gpt2", "gptj", "gpt-j", "mixformer-sequential", "phi-msft", "gpt_bigcode",
                       "codegen")) {
            /* n_inner null means 4 * n_embd */
            set_i64_field(c, "intermediate_size", &a->intermediate_size, 4 * a->hidden_size,
                          "default:4*hidden_size");
        } else if (FAM(c, "gpt_neox", "gpt_neox_reward", "gpt_neox_reward_model", "bloom", "falcon", "refinedweb",
                       "refinedwebmodel", "rw")) {
            set_i64_field(c, "intermediate_size", &a->intermediate_size, 4 * a->hidden_size,
                          "default:4*hidden_size");
        }
    }

    /* rope */
    GETF(c, "rope_theta", &a->rope_theta, "rope_theta", "rotary_emb_base", "rope_parameters.rope_theta",
         "rope_parameters.full_attention.rope_theta", "rotary_base");
    const cJSON *rs = find(c, "rope_scaling", &src);
    if (!rs)
        rs = find(c, "rope_parameters", &src);
    if (rs && !has_src(c, "rope_scaling")) {
        if (cJSON_IsObject(rs)) {
            char *txt = cJSON_PrintUnformatted(rs);
            if (!txt) {
                note(c, IW_ENOMEM);
            } else {
                note(c, iw_arch_set_str(&a->rope_scaling_json, txt));
                set_src(c, "rope_scaling", src);
                cJSON_free(txt);
            }
        } else {
            warn_type(c, src, "rope_scaling", "an object");
        }
    }

    /* tie_word_embeddings: explicit, else the family default of transformers */
    bool tie;
    if (!has_src(c, "tie_word_embeddings")) {
        if (get_bool_key(c, "tie_word_embeddings", &tie, &src) ||
            get_bool_key(c, "weight_tying", &tie, &src)) {
            a->tie_word_embeddings = tie;
            set_src(c, "tie_word_embeddings", src);
        } else {
            /* families whose config class defaults to untied heads */
            bool untied = FAM(c, "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
                              "qwen3_next", "gpt_neox", "gpt_neox_reward", "gptj", "chatglm", "internlm",
                              "internlm2", "deepseek_v2", "deepseek_v3", "falcon", "refinedweb",
                              "refinedwebmodel", "gpt_neox_reward_model", "mimo", "phi3", "phi", "mixformer-sequential",
                              "phi-msft", "baichuan", "qwen", "stablelm", "olmo2", "olmo",
                              "minicpm", "molmo", "llava", "minicpmv", "internvl_chat", "mistral3",
                              "ernie4_5_moe", "bailing_moe", "llama4_text", "granitemoe", "starcoder2_untied",
                              "exaone", "yi", "jamba", "dbrx", "gpt_oss");
            /* t5 v1.1 / flan-t5 untie through tie_word_embeddings=false;
             * falcon / RW checkpoints store lm_head.weight beside the embedding;
             * gpt2, bloom, opt, gemma, t5, mpt, starcoder2, bigcode tie. */
            if (FAM(c, "rw"))
                untied = true;
            a->tie_word_embeddings = !untied;
            set_src(c, "tie_word_embeddings", untied ? "default:family config class (untied)"
                                                     : "default:PretrainedConfig (tied)");
        }
    }
}

/* ---- norm / mlp type ---------------------------------------------------- */

static void parse_norm_mlp(cfg *c)
{
    iw_arch *a = c->a;
    const char *src = NULL;
    const char *nt = NULL;
    bool b;

    if (!has_src(c, "norm_type")) {
        const char *s = get_str_key(c, "norm_type", &src);
        if (!s)
            s = get_str_key(c, "layer_norm_type", &src);
        if (s) {
            nt = strstr(s, "rms") ? "rmsnorm" : "layernorm";
        } else if (get_bool_key(c, "rmsnorm", &b, &src) || get_bool_key(c, "use_rmsnorm", &b, &src)) {
            nt = b ? "rmsnorm" : "layernorm";
        } else if (find(c, "layer_norm_epsilon", &src) || find(c, "layer_norm_eps", &src) ||
                   find(c, "layernorm_epsilon", &src) || find(c, "norm_eps", &src)) {
            nt = "layernorm";
            /* t5 uses layer_norm_epsilon for its weight-only RMS-style norm */
            if (FAM(c, "t5", "mt5", "umt5"))
                nt = "rmsnorm";
        } else if (find(c, "rms_norm_eps", &src) || find(c, "rms_norm_epsilon", &src)) {
            nt = "rmsnorm";
        }
        if (nt)
            set_str_field(c, "norm_type", &a->norm_type, nt, src);
    }

    if (!has_src(c, "mlp_type")) {
        const char *mt = NULL;
        const char *why = NULL;
        const char *ffp = get_str_key(c, "feed_forward_proj", &src);
        if (a->moe.num_experts > 1) {
            mt = "moe";
            why = iw_arch_get_source(a, "moe.num_experts");
        } else if (ffp) {
            mt = strncmp(ffp, "gated-", 6) == 0 ? "gated" : "plain";
            why = src;
        } else if (FAM(c, "gpt2", "gptj", "gpt-j", "gpt_neox", "gpt_neox_reward", "gpt_neox_reward_model",
                       "bloom", "falcon",
                       "refinedweb", "refinedwebmodel", "rw", "mpt", "opt", "phi", "mixformer-sequential",
                       "phi-msft", "gpt_bigcode", "starcoder2", "bert", "marian", "bart", "codegen",
                       "t5", "whisper", "siglip_vision_model", "clip_vision_model")) {
            mt = "plain";
            why = "default:model_type";
        } else if (a->intermediate_size > 0) {
            mt = "gated";
            why = "default:model_type";
        }
        if (mt)
            set_str_field(c, "mlp_type", &a->mlp_type, mt, why);
    }
}

/* ---- MoE ---------------------------------------------------------------- */

static void parse_moe(cfg *c)
{
    iw_arch *a = c->a;
    iw_moe *m = &a->moe;
    const char *src = NULL;

    int64_t ne = 0;
    const char *ksrc = NULL;
    if (!has_src(c, "moe.num_experts") &&
        get_i64_any(c, (const char *const[]){"num_experts", "num_local_experts", "n_routed_experts",
                                             "moe_num_experts", "ffn_config.moe_num_experts", NULL},
                    0, &ne, &ksrc, NULL) && ne > 1)
        set_i64_field(c, "moe.num_experts", &m->num_experts, ne, ksrc);
    if (m->num_experts <= 1)
        return;

    GETI(c, "moe.experts_per_token", &m->experts_per_token,
         "num_experts_per_tok", "experts_per_token", "moe_k", "moe_top_k", "ffn_config.moe_top_k",
         "top_k_experts", "num_selected_experts");
    if (!GETI(c, "moe.expert_intermediate_size", &m->expert_intermediate_size,
              "moe_intermediate_size", "expert_intermediate_size", "ffn_config.ffn_hidden_size")) {
        /* mixtral / gpt-oss / granitemoe: intermediate_size is the per-expert width */
        if (!has_src(c, "moe.expert_intermediate_size") && a->intermediate_size > 0)
            set_i64_field(c, "moe.expert_intermediate_size", &m->expert_intermediate_size,
                          a->intermediate_size, iw_arch_get_source(a, "intermediate_size"));
    }
    if (GETI0(c, "moe.shared_experts", &m->shared_experts,
              "n_shared_experts", "num_shared_experts", "moe_num_shared_experts")) {
        /* total width of the shared experts */
        int64_t w;
        if (!has_src(c, "moe.shared_expert_intermediate_size")) {
            if (get_i64_any(c, (const char *const[]){"moe_shared_expert_intermediate_size", NULL}, 1,
                            &w, &src, NULL))
                set_i64_field(c, "moe.shared_expert_intermediate_size",
                              &m->shared_expert_intermediate_size, w * m->shared_experts, src);
            else if (m->expert_intermediate_size > 0)
                set_i64_field(c, "moe.shared_expert_intermediate_size",
                              &m->shared_expert_intermediate_size,
                              m->shared_experts * m->expert_intermediate_size,
                              "derived:shared_experts*moe_intermediate_size");
        }
    }
    if (GETI0(c, "moe.shared_expert_intermediate_size", &m->shared_expert_intermediate_size,
              "shared_expert_intermediate_size") && m->shared_expert_intermediate_size > 0 &&
        !has_src(c, "moe.shared_experts"))
        set_i64_field(c, "moe.shared_experts", &m->shared_experts, 1,
                      iw_arch_get_source(a, "moe.shared_expert_intermediate_size"));

    /* dense layers */
    if (!GETI0(c, "moe.num_dense_layers", &m->num_dense_layers, "first_k_dense_replace",
               "moe_layer_start_index")) {
        const cJSON *mol = find(c, "mlp_only_layers", &src);
        if (mol && cJSON_IsArray(mol) && !has_src(c, "moe.num_dense_layers"))
            set_i64_field(c, "moe.num_dense_layers", &m->num_dense_layers, cJSON_GetArraySize(mol), src);
    }
    GETI(c, "moe.moe_layer_freq", &m->moe_layer_freq, "moe_layer_freq", "decoder_sparse_step",
         "moe_layer_interval");
}

/* ---- MLA ---------------------------------------------------------------- */

static void parse_mla(cfg *c)
{
    iw_arch *a = c->a;
    iw_attention *at = &a->attention;
    if (!GETI(c, "attention.kv_lora_rank", &at->kv_lora_rank, "kv_lora_rank"))
        if (!has_src(c, "attention.kv_lora_rank"))
            return;
    GETI(c, "attention.q_lora_rank", &at->q_lora_rank, "q_lora_rank");
    GETI(c, "attention.qk_rope_head_dim", &at->qk_rope_head_dim, "qk_rope_head_dim");
    GETI(c, "attention.qk_nope_head_dim", &at->qk_nope_head_dim, "qk_nope_head_dim");
    GETI(c, "attention.value_length", &at->value_length, "v_head_dim");
    if (at->qk_nope_head_dim > 0 && at->qk_rope_head_dim > 0)
        set_i64_field(c, "attention.key_length", &at->key_length,
                      at->qk_nope_head_dim + at->qk_rope_head_dim, "derived:qk_nope_head_dim+qk_rope_head_dim");
    /* hidden/heads means nothing for MLA (DeepSeek-V3: 7168/128 = 56): the
     * per-head q/k width is nope + rope (192), v is v_head_dim (128). */
    const char *hd_src = iw_arch_get_source(a, "head_dim");
    if (at->key_length > 0 && (!hd_src || strncmp(hd_src, "derived:hidden_size", 19) == 0)) {
        a->head_dim = at->key_length;
        note(c, iw_arch_set_source(a, "head_dim", "derived:qk_nope_head_dim+qk_rope_head_dim"));
    }
    /* the cached latent, not n_kv heads, is what MLA stores */
    if (iw_arch_get_source(a, "attention.type") == NULL ||
        a->attention.type != IW_ATTN_MLA) {
        a->attention.type = IW_ATTN_MLA;
        note(c, iw_arch_set_source(a, "attention.type", iw_arch_get_source(a, "attention.kv_lora_rank")));
    }
}

/* ---- layer kinds -------------------------------------------------------- */

static int kind_of(const char *s, iw_layer_kind *k)
{
    if (!strcmp(s, "attention") || !strcmp(s, "full_attention") || !strcmp(s, "global") ||
        !strcmp(s, "full"))
        *k = IW_LAYER_FULL;
    else if (!strcmp(s, "sliding_attention") || !strcmp(s, "sliding") || !strcmp(s, "local") ||
             !strcmp(s, "sliding_window"))
        *k = IW_LAYER_SLIDING;
    else if (!strcmp(s, "chunked_attention"))
        *k = IW_LAYER_CHUNKED;
    else if (!strcmp(s, "linear_attention") || !strcmp(s, "gated_deltanet") || !strcmp(s, "linear"))
        *k = IW_LAYER_LINEAR;
    else if (!strcmp(s, "mamba") || !strcmp(s, "mamba2") || !strcmp(s, "ssm"))
        *k = IW_LAYER_MAMBA;
    else if (!strcmp(s, "cross_attention"))
        *k = IW_LAYER_CROSS;
    else
        return iw_layer_kind_parse(s, k);
    return 0;
}

static int alloc_kinds(cfg *c, size_t n)
{
    iw_arch *a = c->a;
    free(a->attention.layer_types);
    a->attention.layer_types = calloc(n ? n : 1, sizeof(*a->attention.layer_types));
    a->attention.n_layer_types = 0;
    if (!a->attention.layer_types) {
        note(c, iw_error_set(IW_ENOMEM, "out of memory"));
        return IW_ENOMEM;
    }
    a->attention.n_layer_types = n;
    return 0;
}

static bool layers_ok(cfg *c)
{
    return c->a->num_layers > 0 && c->a->num_layers <= IW_CONFIG_MAX_LAYERS;
}

static void parse_layers(cfg *c)
{
    iw_arch *a = c->a;
    iw_attention *at = &a->attention;
    const char *src = NULL;
    bool use_sw = true, have_use_sw;

    if (has_src(c, "attention.layer_types"))
        return;

    have_use_sw = get_bool_key(c, "use_sliding_window", &use_sw, NULL);
    if (!have_use_sw || use_sw)
        GETI(c, "attention.sliding_window", &at->sliding_window, "sliding_window", "attention_window_size",
             "sliding_window_size");
    GETI(c, "attention.sliding_window_pattern", &at->sliding_window_pattern, "sliding_window_pattern");
    GETI(c, "attention.chunk_size", &at->chunk_size, "attention_chunk_size");
    GETI0(c, "attention.num_kv_shared_layers", &at->num_kv_shared_layers, "num_kv_shared_layers");

    /* 1. explicit per-layer lists */
    const char *const lists[] = {"layer_types", "layers_block_type", "block_types", NULL};
    for (size_t li = 0; lists[li]; li++) {
        const cJSON *lt = find(c, lists[li], &src);
        if (!lt)
            continue;
        if (!cJSON_IsArray(lt)) {
            warn_type(c, src, lists[li], "an array of strings");
            continue;
        }
        int n = cJSON_GetArraySize(lt);
        if (n <= 0 || n > IW_CONFIG_MAX_LAYERS) {
            note(c, iw_arch_warn(a, "%s: %s has %d entries (cap %d); ignored", src, lists[li], n,
                                 IW_CONFIG_MAX_LAYERS));
            continue;
        }
        if (alloc_kinds(c, (size_t)n) < 0)
            return;
        int i = 0;
        const cJSON *e;
        bool bad = false;
        cJSON_ArrayForEach(e, lt) {
            iw_layer_kind k;
            if (!cJSON_IsString(e) || kind_of(e->valuestring, &k) < 0) {
                note(c, iw_arch_warn(a, "%s: %s[%d] is not a known layer kind; list ignored", src,
                                     lists[li], i));
                bad = true;
                break;
            }
            at->layer_types[i++] = k;
        }
        if (bad) {
            free(at->layer_types);
            at->layer_types = NULL;
            at->n_layer_types = 0;
            continue;
        }
        if (a->num_layers > 0 && (int64_t)n != a->num_layers)
            note(c, iw_arch_warn(a, "%s: %s has %d entries but num_layers is %lld", src, lists[li], n,
                                 (long long)a->num_layers));
        /* layer_types names sliding layers but the window was turned off */
        if (at->sliding_window <= 0)
            for (size_t j = 0; j < at->n_layer_types; j++)
                if (at->layer_types[j] == IW_LAYER_SLIDING)
                    at->layer_types[j] = IW_LAYER_FULL;
        set_src(c, "attention.layer_types", src);
        return;
    }
    if (!layers_ok(c))
        return;
    size_t L = (size_t)a->num_layers;

    /* 2a. mllama: cross-attention layers listed by index */
    const cJSON *xl = find(c, "cross_attention_layers", &src);
    if (xl && cJSON_IsArray(xl)) {
        if (alloc_kinds(c, L) < 0)
            return;
        int64_t nx = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, xl) {
            int64_t idx;
            if (!iw_json_item_i64(e, &idx) || idx < 0 || idx >= (int64_t)L) {
                note(c, iw_arch_warn(a, "%s: cross_attention_layers entry out of range; ignored", src));
                continue;
            }
            if (at->layer_types[idx] != IW_LAYER_CROSS)
                nx++;
            at->layer_types[idx] = IW_LAYER_CROSS;
        }
        set_src(c, "attention.layer_types", src);
        set_i64_field(c, "attention.num_cross_layers", &at->num_cross_layers, nx, src);
        return;
    }

    /* 2. hybrid patterns */
    int64_t period, offset, interval;
    const char *psrc = NULL;
    if (get_i64_any(c, (const char *const[]){"attn_layer_period", NULL}, 1, &period, &psrc, NULL)) {
        if (!get_i64_any(c, (const char *const[]){"attn_layer_offset", NULL}, 0, &offset, NULL, NULL))
            offset = 0;
        if (alloc_kinds(c, L) < 0)
            return;
        for (size_t i = 0; i < L; i++)
            at->layer_types[i] = ((int64_t)i % period == offset) ? IW_LAYER_FULL : IW_LAYER_MAMBA;
        set_src(c, "attention.layer_types", "derived:attn_layer_period/attn_layer_offset");
        return;
    }
    if (get_i64_any(c, (const char *const[]){"full_attention_interval", NULL}, 1, &interval, &psrc, NULL)) {
        if (alloc_kinds(c, L) < 0)
            return;
        for (size_t i = 0; i < L; i++)
            at->layer_types[i] = ((int64_t)(i + 1) % interval == 0) ? IW_LAYER_FULL : IW_LAYER_LINEAR;
        set_src(c, "attention.layer_types", "derived:full_attention_interval");
        return;
    }

    /* 3. sliding-window patterns */
    if (at->sliding_window > 0) {
        int64_t pat = at->sliding_window_pattern;
        const char *why = "derived:sliding_window_pattern";
        bool alt_even = false;
        if (pat <= 0) {
            if (FAM(c, "gemma2")) {
                pat = 2;
                why = "default:gemma2 alternates (first layer sliding)";
            } else if (FAM(c, "gemma3", "gemma3_text")) {
                pat = 6;
                why = "default:gemma3 sliding_window_pattern 6";
            } else if (FAM(c, "cohere2")) {
                pat = 4;
                why = "default:cohere2 sliding_window_pattern 4";
            } else if (FAM(c, "gpt_oss")) {
                alt_even = true;
                why = "default:gpt-oss even layers sliding";
            } else {
                pat = 0;
                why = "derived:sliding_window on every layer";
            }
        }
        if (alloc_kinds(c, L) < 0)
            return;
        for (size_t i = 0; i < L; i++) {
            bool swa;
            if (alt_even)
                swa = (i % 2) == 0;
            else if (pat > 1)
                swa = ((int64_t)(i + 1) % pat) != 0;
            else
                swa = true;
            at->layer_types[i] = swa ? IW_LAYER_SLIDING : IW_LAYER_FULL;
        }
        set_src(c, "attention.layer_types", why);
        return;
    }

    /* 4. llama4 chunked local attention: every 4th layer global */
    if (at->chunk_size > 0) {
        int64_t step = 4;
        if (alloc_kinds(c, L) < 0)
            return;
        for (size_t i = 0; i < L; i++)
            at->layer_types[i] = ((int64_t)(i + 1) % step == 0) ? IW_LAYER_FULL : IW_LAYER_CHUNKED;
        set_src(c, "attention.layer_types", "default:llama4 chunked attention, every 4th layer global");
    }
}

/* Per-layer KV head arrays (OpenELM num_kv_heads list, ...). */
static void parse_kv_array(cfg *c)
{
    iw_arch *a = c->a;
    const char *src = NULL;
    const cJSON *arr = find(c, "num_kv_heads", &src);
    if (!arr || !cJSON_IsArray(arr) || has_src(c, "attention.kv_heads_per_layer"))
        return;
    int n = cJSON_GetArraySize(arr);
    if (n <= 0 || n > IW_CONFIG_MAX_LAYERS)
        return;
    int64_t *v = calloc((size_t)n, sizeof(*v));
    if (!v) {
        note(c, iw_error_set(IW_ENOMEM, "out of memory"));
        return;
    }
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (!iw_json_item_i64(e, &v[i]) || v[i] < 0 || v[i] > IW_CONFIG_MAX_DIM) {
            free(v);
            warn_type(c, src, "num_kv_heads", "integers");
            return;
        }
        i++;
    }
    free(a->attention.kv_heads_per_layer);
    a->attention.kv_heads_per_layer = v;
    a->attention.n_kv_heads_per_layer = (size_t)n;
    set_src(c, "attention.kv_heads_per_layer", src);
}

/* ---- hybrid SSM --------------------------------------------------------- */

static void parse_ssm(cfg *c)
{
    iw_arch *a = c->a;
    iw_ssm *s = &a->ssm;
    GETI(c, "ssm.d_state", &s->d_state, "mamba_d_state", "state_size", "ssm_state_size");
    GETI(c, "ssm.d_conv", &s->d_conv, "mamba_d_conv", "conv_kernel", "linear_conv_kernel_dim");
    GETI(c, "ssm.n_heads", &s->n_heads, "mamba_n_heads", "linear_num_value_heads");
    GETI(c, "ssm.head_dim", &s->head_dim, "mamba_d_head", "linear_value_head_dim");
    GETI(c, "ssm.n_groups", &s->n_groups, "mamba_n_groups", "linear_num_key_heads", "n_groups");
    int64_t expand;
    const char *src = NULL;
    if (!has_src(c, "ssm.d_inner") && a->hidden_size > 0 &&
        get_i64_any(c, (const char *const[]){"mamba_expand", "expand", NULL}, 1, &expand, &src, NULL) &&
        expand <= 64)
        set_i64_field(c, "ssm.d_inner", &s->d_inner, expand * a->hidden_size, "derived:mamba_expand*hidden_size");
    int64_t rec = iw_arch_count_layers(a, IW_LAYER_MAMBA) + iw_arch_count_layers(a, IW_LAYER_LINEAR);
    if (a->attention.layer_types && rec > 0)
        set_i64_field(c, "ssm.num_recurrent_layers", &s->num_recurrent_layers, rec,
                      iw_arch_get_source(a, "attention.layer_types"));
}

/* ---- vision tower ------------------------------------------------------- */

static void parse_vision(cfg *c, const cJSON *root, const char *source)
{
    iw_arch *a = c->a;
    iw_vision *v = &a->vision;
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    const cJSON *fvc;
    if (vc && !cJSON_IsObject(vc)) {
        if (!cJSON_IsNull(vc))
            note(c, iw_arch_warn(a, "%s: key 'vision_config' is not an object; ignored", source));
        vc = NULL;
    }
    if (!vc) {
        /* llava-1.5 style: vision tower named only */
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "mm_vision_tower");
        if (!t)
            t = cJSON_GetObjectItemCaseSensitive(root, "vision_encoder");
        if (cJSON_IsString(t) && !has_src(c, "vision.model_type")) {
            a->has_vision = true;
            note(c, iw_arch_set_str(&v->model_type, t->valuestring));
            set_src(c, "vision.model_type", source);
            /* llava: the projector input width (the tower itself is not in the checkpoint) */
            const cJSON *mh = cJSON_GetObjectItemCaseSensitive(root, "mm_hidden_size");
            int64_t w;
            if (mh && iw_json_item_i64(mh, &w) && w > 0 && w <= IW_CONFIG_MAX_DIM &&
                !has_src(c, "vision.projection_dim")) {
                v->projection_dim = w;
                set_src(c, "vision.projection_dim", source);
            }
        }
        return;
    }
    a->has_vision = true;
    size_t n = strlen(source) + 16;
    char *vsrc = malloc(n);
    if (!vsrc) {
        note(c, iw_error_set(IW_ENOMEM, "out of memory"));
        return;
    }
    snprintf(vsrc, n, "%s:vision_config", source);
    /* read the vision block through a temporary context */
    cfg vcx = *c;
    vcx.blk[0] = vc;
    vcx.src[0] = vsrc;
    vcx.n = 1;
    fvc = cJSON_GetObjectItemCaseSensitive(vc, "model_type");
    vcx.mt = cJSON_IsString(fvc) ? fvc->valuestring : "";
    if (!*vcx.mt) {
        const char *sub = iw_class_default_subtype(c->root_mt, true);
        vcx.mt = sub ? sub : "";
    }
    vcx.root_mt = "";
    vcx.rc = 0;
    load_defaults(&vcx, vcx.mt);
    get_i64(&vcx, "vision.image_size", &v->image_size, 1, (const char *const[]){"image_size", NULL});
    get_i64(&vcx, "vision.patch_size", &v->patch_size, 1, (const char *const[]){"patch_size", NULL});
    get_i64(&vcx, "vision.hidden_size", &v->hidden_size, 1,
            (const char *const[]){"hidden_size", "width", "embed_dim", NULL});
    get_i64(&vcx, "vision.num_layers", &v->num_layers, 1,
            (const char *const[]){"num_hidden_layers", "depth", "layers", "num_layers", NULL});
    get_i64(&vcx, "vision.num_heads", &v->num_heads, 1,
            (const char *const[]){"num_attention_heads", "num_heads", "heads", NULL});
    get_i64(&vcx, "vision.intermediate_size", &v->intermediate_size, 1,
            (const char *const[]){"intermediate_size", "mlp_dim", NULL});
    get_i64(&vcx, "vision.projection_dim", &v->projection_dim, 1,
            (const char *const[]){"projection_dim", "out_hidden_size", NULL});
    get_i64(&vcx, "vision.num_positions", &v->num_positions, 1,
            (const char *const[]){"position_embedding_size", NULL});
    if (cJSON_IsString(fvc) && !has_src(c, "vision.model_type")) {
        note(c, iw_arch_set_str(&v->model_type, fvc->valuestring));
        set_src(c, "vision.model_type", vsrc);
    }
    warn_defaults(&vcx, vsrc);
    free_defaults(&vcx);
    note(c, vcx.rc);
    free(vsrc);
}

/* ---- full-attention layer shapes, MTP layers ------------------------------ */

/* gemma-4: full-attention layers have their own head width and KV heads
 * (global_head_dim, num_global_key_value_heads) and, with attention_k_eq_v,
 * no v_proj (V is K).  DeepSeek-V3 / MiMo / GLM-4.5: num_nextn_predict_layers
 * multi-token-prediction layers follow the num_layers decoder layers. */
static void parse_global_and_mtp(cfg *c)
{
    iw_arch *a = c->a;
    const char *src = NULL;
    bool b;
    GETI(c, "attention.global_head_dim", &a->attention.global_head_dim, "global_head_dim");
    GETI(c, "attention.global_kv_heads", &a->attention.global_kv_heads, "num_global_key_value_heads");
    if ((a->attention.global_head_dim > 0 || a->attention.global_kv_heads > 0) &&
        get_bool_key(c, "attention_k_eq_v", &b, &src) && !has_src(c, "attention.global_k_eq_v")) {
        a->attention.global_k_eq_v = b;
        set_src(c, "attention.global_k_eq_v", src);
    }
    if (GETI0(c, "num_mtp_layers", &a->num_mtp_layers, "num_nextn_predict_layers") &&
        a->num_mtp_layers > IW_CONFIG_MAX_LAYERS) {
        note(c, iw_arch_warn(a, "%s: num_nextn_predict_layers %lld is beyond the cap of %d; ignored",
                             iw_arch_get_source(a, "num_mtp_layers"), (long long)a->num_mtp_layers,
                             IW_CONFIG_MAX_LAYERS));
        a->num_mtp_layers = 0;
    }
}

/* ---- quantization (quant.c does the object) ----------------------------- */

static void parse_quant(cfg *c)
{
    const char *src = NULL;
    const char *const keys[] = {"quantization_config", "compression_config", "quantization", NULL};
    if (has_src(c, "quantization.method"))
        return;
    for (size_t i = 0; keys[i]; i++) {
        const cJSON *q = find(c, keys[i], &src);
        if (!q)
            continue;
        if (!cJSON_IsObject(q)) {
            warn_type(c, src, keys[i], "an object");
            continue;
        }
        char where[256];
        snprintf(where, sizeof(where), "%s:%s", src, keys[i]);
        note(c, iw_quant_apply_object(q, where, c->a));
        return;
    }
}

/* ---- entry -------------------------------------------------------------- */

int iw_config_parse(const char *text, size_t len, const char *source, iw_arch *a)
{
    cJSON *root = NULL;
    char *dup = NULL;
    cfg c;
    int rc;

    if (!text || !a)
        return iw_error_set(IW_EINVAL, "iw_config_parse: NULL argument");
    if (!source || !*source)
        source = "config.json";
    if (len > IW_CONFIG_MAX_BYTES)
        return iw_error_set(IW_ELIMIT, "%s: %zu bytes exceeds the config cap of %u bytes", source, len,
                            IW_CONFIG_MAX_BYTES);
    if (iw_is_lfs_pointer(text, len))
        return iw_error_set(IW_EFORMAT,
                            "%s: is a Git LFS pointer, the real file was not downloaded (run git lfs pull "
                            "or download it again)", source);

    /* parse a NUL-terminated copy: the bytes may come straight from a
     * reader or a fuzzer, and error messages quote the text */
    {
        char *copy = malloc(len + 1);
        if (!copy)
            return iw_error_set(IW_ENOMEM, "%s: out of memory", source);
        memcpy(copy, text, len);
        copy[len] = 0;
        rc = iw_json_parse(copy, len, source, &root, &dup);
        free(copy);
    }
    if (rc < 0)
        return rc;
    memset(&c, 0, sizeof(c));
    c.a = a;
    if (!cJSON_IsObject(root)) {
        rc = iw_error_set(IW_EFORMAT, "%s: top level is not a JSON object", source);
        goto cleanup;
    }
    if (dup)
        note(&c, iw_arch_warn(a, "%s: duplicate key '%s' (the last value is used)", source, dup));

    rc = pick_blocks(&c, root, source);
    if (rc < 0)
        goto cleanup;
    {
        const cJSON *mt = lookup_in(c.blk[0], "model_type");
        const cJSON *rmt = lookup_in(root, "model_type");
        c.mt = cJSON_IsString(mt) ? mt->valuestring : "";
        c.root_mt = cJSON_IsString(rmt) ? rmt->valuestring : "";
        /* a llava text_config without model_type is a LlamaConfig */
        const char *sub = c.n > 1 && !*c.mt ? iw_class_default_subtype(c.root_mt, false) : NULL;
        if (sub)
            c.mt = sub;
    }
    load_defaults(&c, c.mt);

    parse_core(&c);
    parse_dtype(&c);
    parse_moe(&c);
    parse_mla(&c);
    parse_norm_mlp(&c);
    parse_layers(&c);
    if (a->is_encoder_decoder && a->decoder_layers > 0 && !iw_arch_get_source(a, "attention.num_cross_layers")) {
        /* every decoder layer of t5 / marian / bart attends to the encoder */
        a->attention.num_cross_layers = a->decoder_layers;
        note(&c, iw_arch_set_source(a, "attention.num_cross_layers", "derived:decoder_layers"));
    }
    parse_global_and_mtp(&c);
    parse_kv_array(&c);
    parse_ssm(&c);
    warn_defaults(&c, c.src[0]);
    parse_vision(&c, root, source);
    parse_quant(&c);

    if (!a->source)
        note(&c, iw_arch_set_str(&a->source, source));

    if (c.rc < 0) {
        rc = c.rc;
        if (rc == IW_ENOMEM)
            iw_error_set(IW_ENOMEM, "%s: out of memory", source);
        goto cleanup;
    }
    if (a->num_layers <= 0 && a->hidden_size <= 0 && !a->model_type) {
        rc = iw_error_set(IW_EFORMAT, "%s: no model_type, num_layers or hidden_size: not a model config",
                          source);
        goto cleanup;
    }
    if (a->num_layers <= 0)
        iw_arch_warn(a, "%s: number of layers not found", source);
    if (a->hidden_size <= 0)
        iw_arch_warn(a, "%s: hidden size not found", source);
    rc = 0;

cleanup:
    free_defaults(&c);
    for (size_t i = 0; i < NBLK; i++)
        free(c.src[i]);
    free(dup);
    cJSON_Delete(root);
    return rc;
}
