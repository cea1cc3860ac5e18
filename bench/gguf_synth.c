/* gguf_synth.c - write a full-size synthetic GGUF from a Hugging Face
 * config.json: the metadata keys and the tensor names, shapes and types that
 * llama.cpp expects for the architecture, tensor data as a sparse file (one
 * ftruncate: no disk, no RAM), and the smallest tokenizer llama.cpp accepts
 * ("no_vocab" with <arch>.vocab_size dummy tokens).  Loaded by llama.cpp with
 * no_alloc (or mmap), such a file makes llama.cpp report the memory a real
 * model of that shape costs; bench/llamacpp_oracle.sh and the llamacpp_oracle
 * test use it to check the estimator against llama.cpp itself.
 *
 * Usage: gguf-synth CONFIG.json|DIR OUT.gguf [--type f16|bf16|q8_0|q4_k]
 *
 * What is written follows llama.cpp's converter (convert_hf_to_gguf.py and
 * conversion/<family>.py: which keys) and loader (src/models/<arch>.cpp
 * load_arch_tensors: which tensors, which shapes):
 *   llama (Llama, Mistral; Mixtral as llama with experts of feed_forward_length),
 *   qwen2 (q/k/v biases), qwen3 (q/k norms), qwen3moe, gemma2, gemma3,
 *   phi3 (fused qkv and gate+up), deepseek2 (MLA with split k_b/v_b, shared
 *   experts, leading dense layers), gpt-oss (MXFP4 experts, sinks, biases).
 * Matrices take --type when their rows divide into its blocks, else Q8_0,
 * else F16 (as llama-quantize falls back); with q4_k the output matrix is
 * Q6_K (as in Q4_K_M); norms, biases, sinks and the router are F32; gpt-oss
 * experts are MXFP4 whatever --type says (as published). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf_testwriter.h"

enum { T_F32 = 0, T_F16 = 1, T_Q8_0 = 8, T_Q4_K = 12, T_Q6_K = 14, T_BF16 = 30, T_MXFP4 = 39 };
enum { V_U32 = 4, V_I32 = 5, V_F32 = 6, V_BOOL = 7, V_STR = 8 };

/* ------------------------------------------------------------- config */

static cJSON *g_root, *g_text;   /* text_config (multimodal wrappers) first, then the root */

static cJSON *cfg(const char *k)
{
    cJSON *v = g_text ? cJSON_GetObjectItemCaseSensitive(g_text, k) : NULL;
    if (!v || cJSON_IsNull(v))
        v = cJSON_GetObjectItemCaseSensitive(g_root, k);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int64_t cfg_i(const char *k, int64_t def)
{
    cJSON *v = cfg(k);
    return v && cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

static double cfg_f(const char *k, double def)
{
    cJSON *v = cfg(k);
    return v && cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int cfg_b(const char *k, int def)
{
    cJSON *v = cfg(k);
    return v && cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static const char *cfg_s(cJSON *o, const char *k)
{
    cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return v && cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t need(const char *k)
{
    int64_t v = cfg_i(k, -1);
    if (v <= 0) {
        fprintf(stderr, "gguf-synth: config.json has no positive '%s'\n", k);
        exit(1);
    }
    return v;
}

/* ------------------------------------------------------------- writer */

static gw g_kv;                  /* the key/value section, counted */
static uint64_t g_nkv;
static gw_t *g_t;                /* the tensor infos */
static size_t g_nt, g_capt;
static const char *g_arch;
static int g_type = T_F16;

static const char *ak(const char *suffix)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s.%s", g_arch, suffix);
    return buf;
}

static void kv_u32(const char *k, int64_t v) { gw_kv_u32(&g_kv, k, (uint32_t)v); g_nkv++; }
static void kv_f32(const char *k, double v) { gw_kv_f32(&g_kv, k, (float)v); g_nkv++; }
static void kv_bool(const char *k, int v) { gw_kv_bool(&g_kv, k, v != 0); g_nkv++; }
static void kv_str(const char *k, const char *v) { gw_kv_str(&g_kv, k, v); g_nkv++; }

static void tensor(int type, uint32_t nd, int64_t a, int64_t b, int64_t c, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void tensor(int type, uint32_t nd, int64_t a, int64_t b, int64_t c, const char *fmt, ...)
{
    if (g_nt == g_capt) {
        g_capt = g_capt ? 2 * g_capt : 256;
        g_t = realloc(g_t, g_capt * sizeof *g_t);
        if (!g_t) {
            fprintf(stderr, "gguf-synth: out of memory\n");
            exit(1);
        }
    }
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    gw_t *t = &g_t[g_nt++];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->nd = nd;
    t->ne[0] = a;
    t->ne[1] = b;
    t->ne[2] = c;
    t->type = type;
}

/* the type of a matrix whose rows have ne0 elements */
static int mat_type(int64_t ne0, int want)
{
    int64_t blk = want == T_Q4_K || want == T_Q6_K ? 256 : want == T_Q8_0 || want == T_MXFP4 ? 32 : 1;
    if (ne0 % blk == 0)
        return want;
    return ne0 % 32 == 0 ? T_Q8_0 : T_F16;
}

/* a vector (F32), a matrix of --type, a stack of expert matrices */
#define norm(n, ...) tensor(T_F32, 1, (n), 0, 0, __VA_ARGS__)
#define mat(in, out, ...) tensor(mat_type((in), g_type), 2, (in), (out), 0, __VA_ARGS__)
#define exps(in, out, n, type, ...) tensor(mat_type((in), (type)), 3, (in), (out), (n), __VA_ARGS__)

/* ------------------------------------------------------------- arch */

typedef struct shape {
    int64_t h, L, nh, nkv, hd, ff, V, ctx;
    int tied;
} shape;

static void common_keys(const shape *s, int head_dim_explicit)
{
    kv_u32(ak("context_length"), s->ctx);
    kv_u32(ak("embedding_length"), s->h);
    kv_u32(ak("block_count"), s->L);
    kv_u32(ak("feed_forward_length"), s->ff);
    kv_u32(ak("attention.head_count"), s->nh);
    kv_u32(ak("attention.head_count_kv"), s->nkv);
    kv_f32(ak("rope.freq_base"), cfg_f("rope_theta", 10000.0));
    kv_f32(ak("attention.layer_norm_rms_epsilon"), cfg_f("rms_norm_eps", 1e-6));
    if (head_dim_explicit) {
        kv_u32(ak("attention.key_length"), s->hd);
        kv_u32(ak("attention.value_length"), s->hd);
    }
    kv_u32(ak("vocab_size"), s->V);
}

/* rope_scaling: linear / yarn keys as the converter writes them; returns the type */
static const char *rope_keys(void)
{
    cJSON *rs = cfg("rope_scaling");
    if (!rs || !cJSON_IsObject(rs))
        return NULL;
    const char *t = cfg_s(rs, "rope_type");
    if (!t)
        t = cfg_s(rs, "type");
    if (!t)
        return NULL;
    cJSON *f = cJSON_GetObjectItemCaseSensitive(rs, "factor");
    cJSON *o = cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings");
    if (!strcmp(t, "linear") || !strcmp(t, "yarn")) {
        kv_str(ak("rope.scaling.type"), t);
        if (cJSON_IsNumber(f))
            kv_f32(ak("rope.scaling.factor"), f->valuedouble);
        if (cJSON_IsNumber(o))
            kv_u32(ak("rope.scaling.original_context_length"), (int64_t)o->valuedouble);
    }
    return t;
}

static void tok_out(const shape *s, int out_type_q6)
{
    tensor(mat_type(s->h, g_type), 2, s->h, s->V, 0, "token_embd.weight");
    tensor(T_F32, 1, s->h, 0, 0, "output_norm.weight");
    if (!s->tied)
        tensor(mat_type(s->h, out_type_q6 && g_type == T_Q4_K ? T_Q6_K : g_type), 2, s->h, s->V, 0, "output.weight");
}

static void attn_sep(const shape *s, int il, int bias)
{
    mat(s->h, s->nh * s->hd, "blk.%d.attn_q.weight", il);
    mat(s->h, s->nkv * s->hd, "blk.%d.attn_k.weight", il);
    mat(s->h, s->nkv * s->hd, "blk.%d.attn_v.weight", il);
    if (bias) {
        norm(s->nh * s->hd, "blk.%d.attn_q.bias", il);
        norm(s->nkv * s->hd, "blk.%d.attn_k.bias", il);
        norm(s->nkv * s->hd, "blk.%d.attn_v.bias", il);
    }
    mat(s->nh * s->hd, s->h, "blk.%d.attn_output.weight", il);
}

static void ffn_dense(int64_t h, int64_t ff, int il)
{
    mat(h, ff, "blk.%d.ffn_gate.weight", il);
    mat(ff, h, "blk.%d.ffn_down.weight", il);
    mat(h, ff, "blk.%d.ffn_up.weight", il);
}

static void ffn_moe(int64_t h, int64_t ffe, int64_t E, int type, int il)
{
    tensor(T_F32, 2, h, E, 0, "blk.%d.ffn_gate_inp.weight", il);
    exps(h, ffe, E, type, "blk.%d.ffn_gate_exps.weight", il);
    exps(ffe, h, E, type, "blk.%d.ffn_down_exps.weight", il);
    exps(h, ffe, E, type, "blk.%d.ffn_up_exps.weight", il);
}

static shape base_shape(void)
{
    shape s;
    s.h = need("hidden_size");
    s.L = need("num_hidden_layers");
    s.nh = need("num_attention_heads");
    s.nkv = cfg_i("num_key_value_heads", s.nh);
    s.hd = cfg_i("head_dim", s.h / s.nh);
    s.ff = cfg_i("intermediate_size", 4 * s.h);
    s.V = need("vocab_size");
    s.ctx = cfg_i("max_position_embeddings", 4096);
    s.tied = cfg_b("tie_word_embeddings", 0);
    return s;
}

static void arch_llama_like(const char *arch, int bias, int qk_norm, int moe_exp_len)
{
    shape s = base_shape();
    g_arch = arch;
    kv_str("general.architecture", arch);
    common_keys(&s, cfg("head_dim") != NULL);
    int64_t E = cfg_i("num_local_experts", cfg_i("num_experts", 0));
    int64_t k = cfg_i("num_experts_per_tok", 0);
    int64_t ffe = moe_exp_len ? cfg_i("moe_intermediate_size", s.ff) : s.ff;
    if (E > 0) {
        kv_u32(ak("expert_count"), E);
        kv_u32(ak("expert_used_count"), k);
        if (moe_exp_len)
            kv_u32(ak("expert_feed_forward_length"), ffe);
    }
    const char *rt = rope_keys();
    tok_out(&s, 1);
    if (rt && !strcmp(rt, "llama3"))     /* the converter writes llama3's frequency factors */
        tensor(T_F32, 1, s.hd / 2, 0, 0, "rope_freqs.weight");
    for (int il = 0; il < s.L; il++) {
        norm(s.h, "blk.%d.attn_norm.weight", il);
        attn_sep(&s, il, bias);
        if (qk_norm) {
            norm(s.hd, "blk.%d.attn_q_norm.weight", il);
            norm(s.hd, "blk.%d.attn_k_norm.weight", il);
        }
        norm(s.h, "blk.%d.ffn_norm.weight", il);
        if (E > 0)
            ffn_moe(s.h, ffe, E, g_type, il);
        else
            ffn_dense(s.h, s.ff, il);
    }
}

static void arch_gemma(int v3)
{
    shape s = base_shape();
    g_arch = v3 ? "gemma3" : "gemma2";
    if (!v3)
        s.tied = 1;                        /* gemma2's output is token_embd */
    else if (!cfg("tie_word_embeddings"))
        s.tied = 1;                        /* Gemma 3 ties by default */
    kv_str("general.architecture", g_arch);
    common_keys(&s, 1);
    if (cfg("sliding_window"))
        kv_u32(ak("attention.sliding_window"), cfg_i("sliding_window", 4096));
    if (!v3) {
        kv_f32(ak("attn_logit_softcapping"), cfg_f("attn_logit_softcapping", 50.0));
        kv_f32(ak("final_logit_softcapping"), cfg_f("final_logit_softcapping", 30.0));
    } else if (cfg("final_logit_softcapping")) {
        kv_f32(ak("final_logit_softcapping"), cfg_f("final_logit_softcapping", 0));
    }
    rope_keys();
    tok_out(&s, 1);
    for (int il = 0; il < s.L; il++) {
        norm(s.h, "blk.%d.attn_norm.weight", il);
        attn_sep(&s, il, 0);
        norm(s.h, "blk.%d.post_attention_norm.weight", il);
        if (v3) {
            norm(s.hd, "blk.%d.attn_q_norm.weight", il);
            norm(s.hd, "blk.%d.attn_k_norm.weight", il);
        }
        norm(s.h, "blk.%d.ffn_norm.weight", il);
        ffn_dense(s.h, s.ff, il);
        norm(s.h, "blk.%d.post_ffw_norm.weight", il);
    }
}

static void arch_phi3(void)
{
    shape s = base_shape();
    g_arch = "phi3";
    kv_str("general.architecture", g_arch);
    common_keys(&s, 0);
    kv_u32(ak("rope.dimension_count"), s.hd);
    if (cfg("sliding_window"))
        kv_u32(ak("attention.sliding_window"), cfg_i("sliding_window", 0));
    cJSON *rs = cfg("rope_scaling");
    const char *rt = rs ? cfg_s(rs, "type") : NULL;
    if (rt && !strcmp(rt, "longrope")) {
        tensor(T_F32, 1, s.hd / 2, 0, 0, "rope_factors_long.weight");
        tensor(T_F32, 1, s.hd / 2, 0, 0, "rope_factors_short.weight");
    }
    tok_out(&s, 1);
    for (int il = 0; il < s.L; il++) {
        norm(s.h, "blk.%d.attn_norm.weight", il);
        mat(s.h, s.nh * s.hd + 2 * s.nkv * s.hd, "blk.%d.attn_qkv.weight", il);
        mat(s.nh * s.hd, s.h, "blk.%d.attn_output.weight", il);
        norm(s.h, "blk.%d.ffn_norm.weight", il);
        mat(s.ff, s.h, "blk.%d.ffn_down.weight", il);
        mat(s.h, 2 * s.ff, "blk.%d.ffn_up.weight", il);
    }
}

static void arch_deepseek2(void)
{
    shape s = base_shape();
    g_arch = "deepseek2";
    s.nkv = 1;                             /* MLA is converted to MQA over the latent */
    int64_t qlr = cfg_i("q_lora_rank", 0);
    int64_t kvr = cfg_i("kv_lora_rank", 512);
    int64_t rope = need("qk_rope_head_dim"), nope = need("qk_nope_head_dim"), vhd = need("v_head_dim");
    int64_t E = cfg_i("n_routed_experts", 0), ffe = cfg_i("moe_intermediate_size", s.ff);
    int64_t ns = cfg_i("n_shared_experts", 0);
    int64_t dense = cfg_i("first_k_dense_replace", E > 0 ? 0 : s.L);
    kv_str("general.architecture", g_arch);
    common_keys(&s, 0);
    kv_u32(ak("leading_dense_block_count"), dense);
    if (qlr > 0)
        kv_u32(ak("attention.q_lora_rank"), qlr);
    kv_u32(ak("attention.kv_lora_rank"), kvr);
    kv_u32(ak("attention.key_length"), kvr + rope);
    kv_u32(ak("attention.value_length"), kvr);
    kv_u32(ak("attention.key_length_mla"), nope + rope);
    kv_u32(ak("attention.value_length_mla"), vhd);
    kv_u32(ak("expert_feed_forward_length"), ffe);
    if (E > 0) {
        kv_u32(ak("expert_count"), E);
        kv_u32(ak("expert_used_count"), cfg_i("num_experts_per_tok", 1));
    }
    kv_u32(ak("expert_shared_count"), ns);
    kv_f32(ak("expert_weights_scale"), cfg_f("routed_scaling_factor", 1.0));
    if (cfg_b("norm_topk_prob", 0))
        kv_bool(ak("expert_weights_norm"), 1);
    const char *sf = cfg_s(g_text ? g_text : g_root, "scoring_func");
    if (!sf)
        sf = cfg_s(g_root, "scoring_func");
    kv_u32(ak("expert_gating_func"), sf && !strcmp(sf, "sigmoid") ? 2 : 1);
    if (cfg_i("n_group", 0) > 1) {
        kv_u32(ak("expert_group_count"), cfg_i("n_group", 0));
        kv_u32(ak("expert_group_used_count"), cfg_i("topk_group", 0));
    }
    kv_u32(ak("rope.dimension_count"), rope);
    rope_keys();
    tok_out(&s, 1);
    const char *tm = cfg_s(g_root, "topk_method");
    int probs_b = tm && !strcmp(tm, "noaux_tc");
    for (int il = 0; il < s.L; il++) {
        norm(s.h, "blk.%d.attn_norm.weight", il);
        if (qlr > 0) {
            norm(qlr, "blk.%d.attn_q_a_norm.weight", il);
            mat(s.h, qlr, "blk.%d.attn_q_a.weight", il);
            mat(qlr, s.nh * (nope + rope), "blk.%d.attn_q_b.weight", il);
        } else {
            mat(s.h, s.nh * (nope + rope), "blk.%d.attn_q.weight", il);
        }
        norm(kvr, "blk.%d.attn_kv_a_norm.weight", il);
        mat(s.h, kvr + rope, "blk.%d.attn_kv_a_mqa.weight", il);
        tensor(mat_type(nope, g_type), 3, nope, kvr, s.nh, "blk.%d.attn_k_b.weight", il);
        tensor(mat_type(kvr, g_type), 3, kvr, vhd, s.nh, "blk.%d.attn_v_b.weight", il);
        mat(s.nh * vhd, s.h, "blk.%d.attn_output.weight", il);
        norm(s.h, "blk.%d.ffn_norm.weight", il);
        if (il < dense) {
            ffn_dense(s.h, s.ff, il);
        } else {
            ffn_moe(s.h, ffe, E, g_type, il);
            if (probs_b)
                norm(E, "blk.%d.exp_probs_b.bias", il);
            if (ns > 0) {
                mat(s.h, ffe * ns, "blk.%d.ffn_gate_shexp.weight", il);
                mat(ffe * ns, s.h, "blk.%d.ffn_down_shexp.weight", il);
                mat(s.h, ffe * ns, "blk.%d.ffn_up_shexp.weight", il);
            }
        }
    }
}

static void arch_gpt_oss(void)
{
    shape s = base_shape();
    g_arch = "gpt-oss";
    int64_t E = need("num_local_experts"), ffe = s.ff;
    kv_str("general.architecture", g_arch);
    common_keys(&s, 1);
    kv_u32(ak("expert_count"), E);
    kv_u32(ak("expert_used_count"), cfg_i("num_experts_per_tok", cfg_i("experts_per_token", 4)));
    kv_u32(ak("expert_feed_forward_length"), ffe);
    kv_u32(ak("attention.sliding_window"), need("sliding_window"));
    rope_keys();
    tok_out(&s, 0);
    for (int il = 0; il < s.L; il++) {
        norm(s.h, "blk.%d.attn_norm.weight", il);
        norm(s.h, "blk.%d.post_attention_norm.weight", il);
        attn_sep(&s, il, 1);
        norm(s.h, "blk.%d.attn_output.bias", il);
        norm(s.nh, "blk.%d.attn_sinks.weight", il);
        ffn_moe(s.h, ffe, E, T_MXFP4, il);
        tensor(T_F32, 1, E, 0, 0, "blk.%d.ffn_gate_inp.bias", il);
        tensor(T_F32, 2, ffe, E, 0, "blk.%d.ffn_gate_exps.bias", il);
        tensor(T_F32, 2, s.h, E, 0, "blk.%d.ffn_down_exps.bias", il);
        tensor(T_F32, 2, ffe, E, 0, "blk.%d.ffn_up_exps.bias", il);
    }
}

/* ------------------------------------------------------------- main */

static char *read_all(const char *path)
{
    struct stat st;
    char buf[4096];
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(buf, sizeof buf, "%s/config.json", path);
        path = buf;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gguf-synth: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char *text = NULL;
    size_t n = 0, cap = 0, k;
    char chunk[65536];
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + k + 1 > cap) {
            cap = (n + k + 1) * 2;
            text = realloc(text, cap);
            if (!text) {
                fprintf(stderr, "gguf-synth: out of memory\n");
                exit(1);
            }
        }
        memcpy(text + n, chunk, k);
        n += k;
    }
    fclose(f);
    if (!text) {
        fprintf(stderr, "gguf-synth: %s is empty\n", path);
        exit(1);
    }
    text[n] = 0;
    return text;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gguf-synth CONFIG.json|DIR OUT.gguf [--type f16|bf16|q8_0|q4_k]\n");
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            const char *t = argv[++i];
            g_type = !strcmp(t, "f16") ? T_F16 : !strcmp(t, "bf16") ? T_BF16 : !strcmp(t, "q8_0") ? T_Q8_0
                   : !strcmp(t, "q4_k") ? T_Q4_K : -1;
            if (g_type < 0) {
                fprintf(stderr, "gguf-synth: --type %s: expected f16, bf16, q8_0 or q4_k\n", t);
                return 2;
            }
        } else {
            fprintf(stderr, "gguf-synth: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char *text = read_all(argv[1]);
    g_root = cJSON_Parse(text);
    free(text);
    if (!g_root) {
        fprintf(stderr, "gguf-synth: %s: invalid JSON\n", argv[1]);
        return 1;
    }
    g_text = cJSON_GetObjectItemCaseSensitive(g_root, "text_config");
    const char *mt = cfg_s(g_root, "model_type");
    const char *ar = NULL;
    cJSON *archs = cJSON_GetObjectItemCaseSensitive(g_root, "architectures");
    if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
        ar = cJSON_GetArrayItem(archs, 0)->valuestring;
    if (!mt)
        mt = "";
    gw_init(&g_kv, 3, false);
    if (!strcmp(mt, "llama") || !strcmp(mt, "mistral") || !strcmp(mt, "mixtral"))
        arch_llama_like("llama", 0, 0, 0);
    else if (!strcmp(mt, "qwen2"))
        arch_llama_like("qwen2", 1, 0, 0);
    else if (!strcmp(mt, "qwen3"))
        arch_llama_like("qwen3", 0, 1, 0);
    else if (!strcmp(mt, "qwen3_moe"))
        arch_llama_like("qwen3moe", 0, 1, 1);
    else if (!strcmp(mt, "gemma2"))
        arch_gemma(0);
    else if (!strcmp(mt, "gemma3") || !strcmp(mt, "gemma3_text"))
        arch_gemma(1);
    else if (!strcmp(mt, "phi3"))
        arch_phi3();
    else if (!strcmp(mt, "deepseek_v2") || !strcmp(mt, "deepseek_v3"))
        arch_deepseek2();
    else if (!strcmp(mt, "gpt_oss"))
        arch_gpt_oss();
    else {
        fprintf(stderr, "gguf-synth: %s: model_type '%s' (%s) is not one the synthetic writer knows\n",
                argv[1], mt, ar ? ar : "?");
        return 1;
    }
    kv_str("general.name", "synthetic");
    kv_u32("general.file_type", g_type == T_F16 ? 1 : g_type == T_BF16 ? 32 : g_type == T_Q8_0 ? 7 : 15);
    kv_str("tokenizer.ggml.model", "no_vocab");

    gw out;
    gw_init(&out, 3, false);
    gw_header(&out, g_nt, g_nkv);
    gw_raw(&out, g_kv.p, g_kv.len);
    uint64_t data = gw_tensor_infos(&out, g_t, g_nt, 32);
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "gguf-synth: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    size_t off = 0;
    while (off < out.len) {
        ssize_t w = write(fd, out.p + off, out.len - off);
        if (w <= 0) {
            fprintf(stderr, "gguf-synth: %s: %s\n", argv[2], strerror(errno));
            return 1;
        }
        off += (size_t)w;
    }
    /* the tensor data: a hole */
    if (ftruncate(fd, (off_t)(out.len + data)) != 0 || close(fd) != 0) {
        fprintf(stderr, "gguf-synth: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    uint64_t params = 0;
    for (size_t i = 0; i < g_nt; i++) {
        uint64_t n = 1;
        for (uint32_t d = 0; d < g_t[i].nd; d++)
            n *= (uint64_t)g_t[i].ne[d];
        params += n;
        free((char *)g_t[i].name);
    }
    printf("%s: %s, %zu tensors, %" PRIu64 " parameters, %" PRIu64 " data bytes, %zu header bytes\n",
           argv[2], g_arch, g_nt, params, data, out.len);
    free(g_t);
    gw_free(&out);
    gw_free(&g_kv);
    cJSON_Delete(g_root);
    return 0;
}
