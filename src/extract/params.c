/* params.c - parameter count from architecture fields (source "formula").
 *
 * Dense decoder:  P = V*h*(tied ? 1 : 2) + L*(attn + mlp + norms) + final norm
 *   attn = h*q + 2*h*kv + q*h (+ biases), q = heads*head_dim, kv = kv_heads*head_dim
 *   mlp  = 3*h*I gated | 2*h*I plain (+ I + h biases)
 * MoE layers replace the MLP by E experts + router (+ shared experts);
 * MLA replaces the attention projections; encoder-decoder models count the
 * encoder stack and a decoder stack with cross-attention; a vision tower is
 * added when vision_config gives every width it needs.  The family decides
 * biases, norms, learned positions and the lm_head: see the table in
 * docs/formats/config.md.  Every product is overflow-checked; a result that
 * does not fit int64 leaves the count unknown.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/params.h"
#include "config_internal.h"

typedef struct acc { __int128 v; bool bad; } acc;

static void add(acc *s, __int128 x)
{
    if (x < 0)
        s->bad = true;
    s->v += x;
    if (s->v > (__int128)INT64_MAX)
        s->bad = true;
}

static bool has(const char *s, const char *needle)
{
    return s && strcasestr(s, needle) != NULL;
}

/* Family traits.  Tiny terms (biases, norms) only move totals by parts per
 * million; the large ones (positions, lm_head) matter for small models. */
typedef struct traits {
    bool qkv_bias, o_bias, mlp_bias, layernorm;
    int  norms_per_layer;     /* 2 usual, 1 parallel block, 4 gemma2/3 */
    bool qk_norm;             /* per-head q/k norms (qwen3, gemma3, olmo2 width differs but tiny) */
    int64_t learned_pos;      /* rows of a learned position table, 0 none */
    bool lm_head_bias;
    bool reward_head;         /* h -> 1 scalar head instead of an lm_head */
    bool emb_norm;            /* bloom word_embeddings_layernorm */
    bool qwen_shared_gate;    /* qwen2_moe / qwen3_next shared expert gate */
    bool expert_bias;         /* gpt-oss expert and router biases */
    bool router_bias;         /* aux-loss-free routing: e_score_correction_bias, one per expert */
    bool gated_q;             /* qwen3_next full attention: q_proj emits query and gate */
} traits;

static traits family_traits(const iw_arch *a)
{
    traits t;
    const char *mt = a->model_type ? a->model_type : "";
    const char *ar = a->architecture ? a->architecture : "";
    memset(&t, 0, sizeof(t));
    t.norms_per_layer = 2;
    t.layernorm = a->norm_type && !strcmp(a->norm_type, "layernorm");

    if (has(mt, "qwen2") || has(ar, "Qwen2") || !strcasecmp(mt, "qwen") || has(mt, "mimo") ||
        has(mt, "molmo") || has(mt, "chatglm") || (has(mt, "internlm") && !has(mt, "internlm2")))
        t.qkv_bias = true;
    if (!strcasecmp(mt, "internlm"))
        t.o_bias = true;
    if (has(mt, "qwen3") || has(mt, "gemma3") || has(mt, "gemma4") || has(mt, "bailing") || has(mt, "olmo2"))
        t.qk_norm = true;
    if (has(mt, "gemma2") || has(mt, "gemma3") || has(mt, "gemma4"))
        t.norms_per_layer = 4;
    if (has(mt, "gpt2") || has(mt, "gpt_bigcode") || has(mt, "gpt_neox") || has(mt, "bloom") ||
        !strcasecmp(mt, "opt") || has(mt, "mixformer") || has(mt, "phi-msft") || !strcasecmp(mt, "phi") ||
        has(mt, "starcoder2") || has(mt, "marian") || has(mt, "bert") || has(mt, "gpt_oss")) {
        t.qkv_bias = t.o_bias = true;
        t.mlp_bias = !has(mt, "gpt_oss");
    }
    if (has(mt, "gptj") || has(mt, "gpt-j")) {
        t.mlp_bias = true;
        t.norms_per_layer = 1;
        t.lm_head_bias = true;
    }
    if (has(mt, "mixformer") || has(mt, "phi-msft") || !strcasecmp(mt, "phi")) {
        t.norms_per_layer = 1;
        t.lm_head_bias = true;
    }
    if (has(mt, "falcon") || has(mt, "refinedweb") || !strcasecmp(mt, "rw")) {
        /* parallel attention: one norm, two with the new decoder architecture */
        t.norms_per_layer = (a->num_kv_heads > 1 && a->num_kv_heads < a->num_attention_heads) ? 2 : 1;
    }
    if (has(mt, "gpt2") || has(mt, "gpt_bigcode"))
        t.learned_pos = a->max_position_embeddings > 0 ? a->max_position_embeddings : 0;
    if (!strcasecmp(mt, "opt"))
        t.learned_pos = a->max_position_embeddings > 0 ? a->max_position_embeddings + 2 : 0;
    if (has(mt, "reward") || has(ar, "Reward"))
        t.reward_head = true;
    if (has(mt, "bloom"))
        t.emb_norm = true;
    if (has(mt, "qwen2_moe") || has(mt, "qwen3_next"))
        t.qwen_shared_gate = true;
    if (has(mt, "gpt_oss"))
        t.expert_bias = true;
    if (has(mt, "qwen3_next"))
        t.gated_q = true;
    if (has(mt, "deepseek_v3") || has(mt, "bailing_moe") || has(mt, "ernie4_5_moe"))
        t.router_bias = true;
    return t;
}

static __int128 norm_w(const traits *t, int64_t h)
{
    return t->layernorm ? 2 * (__int128)h : (__int128)h;
}

/* Self-attention projections of one layer (not MLA) with head width hd and
 * kvh KV heads; without v_proj (gemma-4 K=V full layers) only K is projected. */
static __int128 attn_params_shape(const iw_arch *a, const traits *t, int64_t kvh, int64_t head_dim, bool has_v)
{
    __int128 h = a->hidden_size, hd = head_dim;
    __int128 q = (__int128)a->num_attention_heads * hd;
    __int128 kv = (__int128)kvh * hd;
    int nkv = has_v ? 2 : 1;
    __int128 p = h * q * (t->gated_q ? 2 : 1) + nkv * h * kv + q * h;
    if (t->qkv_bias)
        p += q + nkv * kv;
    if (t->o_bias)
        p += h;
    if (t->qk_norm)
        p += 2 * hd;
    return p;
}

static __int128 attn_params(const iw_arch *a, const traits *t, int64_t kvh)
{
    return attn_params_shape(a, t, kvh, a->head_dim, true);
}

static __int128 mla_params(const iw_arch *a)
{
    const iw_attention *at = &a->attention;
    __int128 h = a->hidden_size, nh = a->num_attention_heads;
    __int128 dn = at->qk_nope_head_dim, dr = at->qk_rope_head_dim;
    __int128 dv = at->value_length > 0 ? at->value_length : dn;
    __int128 rkv = at->kv_lora_rank, p = 0;
    if (at->q_lora_rank > 0) {
        __int128 rq = at->q_lora_rank;
        p += h * rq + rq * nh * (dn + dr) + rq;
    } else {
        p += h * nh * (dn + dr);
    }
    p += h * (rkv + dr) + rkv * nh * (dn + dv) + rkv + nh * dv * h;
    return p;
}

static __int128 mlp_params(const traits *t, int64_t h, int64_t I, bool gated)
{
    __int128 p = (gated ? 3 : 2) * (__int128)h * I;
    if (t->mlp_bias)
        p += (gated ? 2 : 1) * (__int128)I + h;
    return p;
}

/* Linear-attention (gated delta net, qwen3_next) layer. */
static __int128 linear_attn_params(const iw_arch *a)
{
    const iw_ssm *s = &a->ssm;
    __int128 h = a->hidden_size;
    __int128 nk = s->n_groups, nv = s->n_heads, d = s->head_dim, K = s->d_conv > 0 ? s->d_conv : 4;
    __int128 conv_dim = 2 * nk * d + nv * d;
    return h * (2 * nk * d + 2 * nv * d) /* in_proj_qkvz */ + h * 2 * nv /* in_proj_ba */ +
           conv_dim * K /* conv1d */ + 2 * nv /* dt_bias, A_log */ + d /* norm */ + nv * d * h;
}

/* Mamba(2) layer: in_proj, conv, dt/A/D, norm, out_proj. */
static __int128 mamba_params(const iw_arch *a)
{
    const iw_ssm *s = &a->ssm;
    __int128 h = a->hidden_size, di = s->d_inner, ds = s->d_state;
    __int128 ng = s->n_groups > 0 ? s->n_groups : 1, nh = s->n_heads > 0 ? s->n_heads : 1;
    __int128 K = s->d_conv > 0 ? s->d_conv : 4;
    __int128 conv_dim = di + 2 * ng * ds;
    return h * (2 * di + 2 * ng * ds + nh) + conv_dim * (K + 1) + 3 * nh + di + di * h;
}

/* Vision tower + projector when the block gives every width. */
static bool vision_params(const iw_arch *a, __int128 *out)
{
    const iw_vision *v = &a->vision;
    const char *vt = v->model_type ? v->model_type : "";
    const char *mt = a->model_type ? a->model_type : "";
    if (v->hidden_size <= 0 && v->projection_dim > 0 && has(mt, "llava") && a->hidden_size > 0) {
        /* llava-1.5: the checkpoint holds only the 2-layer projector (mlp2x_gelu);
         * the CLIP tower is loaded from its own repo and is not counted */
        __int128 w = v->projection_dim, h = a->hidden_size;
        *out = w * h + h + h * h + h;
        return true;
    }
    if (v->hidden_size <= 0 || v->num_layers <= 0 || v->intermediate_size <= 0 || v->patch_size <= 0)
        return false;
    __int128 hv = v->hidden_size, Iv = v->intermediate_size, p = v->patch_size, Lv = v->num_layers;
    __int128 h = a->hidden_size > 0 ? a->hidden_size : 0, P = 0;
    if (has(vt, "gemma4")) {
        /* patch input_proj without bias, x and y position tables of
         * position_embedding_size rows, layers as the text model's (q/k/v/o
         * without biases, per-head q/k norms, gated MLP, 4 RMS norms), and
         * the projection into the text width.  std_bias / std_scale are
         * buffers, not parameters. */
        if (v->num_positions <= 0 || v->num_heads <= 0)
            return false;
        __int128 hdv = hv / v->num_heads;
        P += 3 * p * p * hv + 2 * (__int128)v->num_positions * hv;
        P += Lv * (4 * hv * hv + 2 * hdv + 3 * hv * Iv + 4 * hv);
        P += hv * h;
        *out = P;
        return true;
    }
    if (has(vt, "pixtral")) {
        /* conv without bias, RMS ln_pre, gated MLP without biases, 2 RMS norms */
        P += 3 * p * p * hv + hv;
        P += Lv * (4 * hv * hv + 3 * hv * Iv + 2 * hv);
        if (has(mt, "mistral3"))   /* norm + patch merger (2x2) + 2-layer projector */
            P += hv + 4 * hv * hv + hv * h + h * h;
        else
            P += hv * h + h + h * h + h;
        *out = P;
        return true;
    }
    if (has(vt, "siglip") || has(vt, "clip") || has(vt, "intern_vit")) {
        if (v->image_size <= 0)
            return false;
        __int128 np = (v->image_size / p) * (v->image_size / p);
        bool cls = has(vt, "clip") || has(vt, "intern_vit");
        P += 3 * p * p * hv + (has(vt, "clip") && !has(vt, "intern") ? 0 : hv);   /* patch conv (+bias) */
        P += (np + (cls ? 1 : 0)) * hv + (cls ? hv : 0);                           /* positions, class token */
        P += Lv * (4 * hv * hv + 4 * hv + 2 * hv * Iv + Iv + hv + 4 * hv + (has(vt, "intern") ? 2 * hv : 0));
        P += has(vt, "clip") ? 4 * hv : 2 * hv;                                    /* pre/post layernorm */
        if (has(mt, "gemma3"))
            P += hv * h + hv;   /* mm_input_projection + soft-embedding norm */
        if (has(mt, "internvl"))   /* mlp1: LayerNorm + 2 linears over 2x2 pixel-shuffled features */
            P += 2 * 4 * hv + 4 * hv * h + h + h * h + h;
        *out = P;
        return true;
    }
    return false;
}

/* One decoder layer (index i) added to s: attention by layer kind (full
 * layers take the full-attention shape when the config gives one), norms,
 * dense MLP or MoE block by the MoE layer rule. */
typedef struct layer_sum { __int128 attn, norms, mlp, experts, inactive; } layer_sum;

static bool layer_sum_over(const layer_sum *s)
{
    return s->attn < 0 || s->norms < 0 || s->mlp < 0 || s->experts < 0 || s->inactive < 0 ||
           s->attn + s->norms + s->mlp + s->experts > (__int128)INT64_MAX || s->inactive > (__int128)INT64_MAX;
}

static void decoder_layer(const iw_arch *a, const traits *t, int64_t i, bool mla, bool moe, bool gated,
                          layer_sum *s)
{
    const iw_moe *m = &a->moe;
    const iw_attention *at = &a->attention;
    int64_t h = a->hidden_size;
    int64_t nd = moe ? (m->num_dense_layers > 0 ? m->num_dense_layers : 0) : INT64_MAX;
    int64_t freq = m->moe_layer_freq > 0 ? m->moe_layer_freq : 1;
    iw_layer_kind k = at->layer_types && (size_t)i < at->n_layer_types ? at->layer_types[i] : IW_LAYER_FULL;
    bool global = k == IW_LAYER_FULL && at->layer_types && (at->global_head_dim > 0 || at->global_kv_heads > 0);
    if (k == IW_LAYER_LINEAR)
        s->attn += linear_attn_params(a);
    else if (k == IW_LAYER_MAMBA)
        s->attn += mamba_params(a);
    else if (mla)
        s->attn += mla_params(a);
    else if (global)
        s->attn += attn_params_shape(a, t,
                                     at->global_kv_heads > 0 ? at->global_kv_heads
                                                             : iw_arch_kv_heads_of_layer(a, (size_t)i),
                                     at->global_head_dim > 0 ? at->global_head_dim : a->head_dim,
                                     !at->global_k_eq_v);
    else
        s->attn += attn_params(a, t, iw_arch_kv_heads_of_layer(a, (size_t)i));
    s->norms += t->norms_per_layer * norm_w(t, h);
    bool sparse = moe && i >= nd && ((i + 1) % freq == 0);
    if (!sparse) {
        s->mlp += mlp_params(t, h, a->intermediate_size > 0 ? a->intermediate_size : m->expert_intermediate_size,
                             gated);
        return;
    }
    __int128 E = m->num_experts, Ie = m->expert_intermediate_size;
    __int128 one = 3 * (__int128)h * Ie + (t->expert_bias ? 2 * Ie + h : 0);
    s->experts += E * one;
    s->mlp += (__int128)h * E + (t->expert_bias || t->router_bias ? E : 0);   /* router */
    if (m->shared_expert_intermediate_size > 0)
        s->mlp += 3 * (__int128)h * m->shared_expert_intermediate_size + (t->qwen_shared_gate ? h : 0);
    if (m->experts_per_token > 0 && m->experts_per_token < m->num_experts)
        s->inactive += (E - m->experts_per_token) * one;
}

/* Multi-token-prediction layers stored after the num_layers decoder layers
 * (num_nextn_predict_layers).  Each is one more decoder layer (index L + j,
 * so MoE where the MoE rule says so) plus:
 *   mimo:      input_proj 2h -> h, hidden / token / final norms
 *              (model.mtp_layers.N.*)
 *   deepseek:  eh_proj 2h -> h, enorm, hnorm, shared_head.norm, and the
 *              layer's own copies of embed_tokens and shared_head.head, V x h
 *              each (model.layers.L.*; DeepSeek-V3's 14 B "MTP module")
 * Other families: unknown layout, IW_EUNSUPPORTED. */
static int mtp_params(const iw_arch *a, const traits *t, bool mla, bool moe, bool gated, __int128 *out)
{
    const char *mt = a->model_type ? a->model_type : "";
    __int128 h = a->hidden_size, V = a->vocab_size, extra;
    if (has(mt, "mimo"))
        extra = 2 * h * h + 3 * norm_w(t, a->hidden_size);
    else if (has(mt, "deepseek") || has(mt, "kimi_k2"))
        extra = 2 * h * h + 3 * norm_w(t, a->hidden_size) + 2 * V * h;
    else
        return iw_error_set(IW_EUNSUPPORTED, "parameter formula: the layout of %s's %lld MTP layer(s) is not "
                            "known; they are not counted", *mt ? mt : "this model", (long long)a->num_mtp_layers);
    layer_sum ls = {0, 0, 0, 0, 0};
    for (int64_t j = 0; j < a->num_mtp_layers; j++) {
        decoder_layer(a, t, a->num_layers + j, mla, moe, gated, &ls);
        if (layer_sum_over(&ls) || extra > (__int128)INT64_MAX)
            return iw_error_set(IW_ELIMIT, "parameter formula: MTP layer count overflows int64");
    }
    *out = ls.attn + ls.norms + ls.mlp + ls.experts + a->num_mtp_layers * extra;
    return 0;
}

/* Every width the formula multiplies is at most IW_CONFIG_MAX_DIM (2^40) and
 * every layer count at most IW_CONFIG_MAX_LAYERS, whatever filled the record
 * (config, GGUF, registry): then no single layer term reaches 2^127. */
static bool widths_within_caps(const iw_arch *a)
{
    const int64_t dims[] = {
        a->num_attention_heads, a->num_kv_heads, a->head_dim, a->intermediate_size,
        a->attention.key_length, a->attention.value_length, a->attention.kv_lora_rank,
        a->attention.q_lora_rank, a->attention.qk_rope_head_dim, a->attention.qk_nope_head_dim,
        a->attention.global_head_dim, a->attention.global_kv_heads,
        a->moe.num_experts, a->moe.experts_per_token, a->moe.expert_intermediate_size,
        a->moe.shared_expert_intermediate_size, a->moe.num_dense_layers, a->moe.moe_layer_freq,
        a->ssm.d_state, a->ssm.d_conv, a->ssm.d_inner, a->ssm.n_groups, a->ssm.n_heads, a->ssm.head_dim,
        a->vision.image_size, a->vision.patch_size, a->vision.hidden_size, a->vision.num_layers,
        a->vision.num_heads, a->vision.intermediate_size, a->vision.projection_dim, a->vision.num_positions,
        a->max_position_embeddings,
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i] > IW_CONFIG_MAX_DIM)
            return false;
    for (size_t i = 0; i < a->attention.n_kv_heads_per_layer; i++)
        if (a->attention.kv_heads_per_layer && a->attention.kv_heads_per_layer[i] > IW_CONFIG_MAX_DIM)
            return false;
    return a->encoder_layers <= IW_CONFIG_MAX_LAYERS && a->decoder_layers <= IW_CONFIG_MAX_LAYERS &&
           a->num_mtp_layers <= IW_CONFIG_MAX_LAYERS;
}

int iw_params_formula(iw_arch *a)
{
    if (!a)
        return iw_error_set(IW_EINVAL, "iw_params_formula: NULL argument");
    int64_t h = a->hidden_size, V = a->vocab_size, L = a->num_layers;
    const char *mt = a->model_type ? a->model_type : "";
    bool mla = a->attention.kv_lora_rank > 0 && a->attention.qk_rope_head_dim > 0 &&
               (a->attention.qk_nope_head_dim > 0);
    if (h <= 0 || V <= 0 || (L <= 0 && !a->is_encoder_decoder))
        return iw_error_set(IW_EUNSUPPORTED, "parameter formula: hidden_size, vocab_size or num_layers unknown");
    if (!mla && (a->num_attention_heads <= 0 || a->head_dim <= 0))
        return iw_error_set(IW_EUNSUPPORTED, "parameter formula: attention heads or head_dim unknown");
    if (h > IW_CONFIG_MAX_DIM || V > IW_CONFIG_MAX_DIM || L > IW_CONFIG_MAX_LAYERS || !widths_within_caps(a))
        return iw_error_set(IW_ELIMIT, "parameter formula: dimensions beyond the caps");

    traits t = family_traits(a);
    const iw_moe *m = &a->moe;
    bool moe = m->num_experts > 1 && m->expert_intermediate_size > 0;
    bool gated = !a->mlp_type || strcmp(a->mlp_type, "plain") != 0;
    if (!moe && a->intermediate_size <= 0)
        return iw_error_set(IW_EUNSUPPORTED, "parameter formula: intermediate_size unknown");

    acc tot = {0, false}, inactive = {0, false}, mtp_acc = {0, false};
    __int128 mtp = 0;
    int rc_mtp = 0;
    __int128 emb = (__int128)V * h;
    __int128 lm_head = 0, attn_sum = 0, mlp_sum = 0, experts_sum = 0, norms_sum = 0, vis = 0;

    add(&tot, emb);
    if (t.reward_head)
        lm_head = h + 1;
    else if (!a->tie_word_embeddings)
        lm_head = emb + (t.lm_head_bias ? V : 0);
    else if (t.lm_head_bias)
        lm_head = V;
    add(&tot, lm_head);
    if (t.learned_pos)
        add(&tot, (__int128)t.learned_pos * h);
    if (t.emb_norm)
        add(&tot, norm_w(&t, h));

    if (a->is_encoder_decoder) {
        int64_t Le = a->encoder_layers > 0 ? a->encoder_layers : L;
        int64_t Ld = a->decoder_layers > 0 ? a->decoder_layers : Le;
        if (Le <= 0 || Ld <= 0 || Le > IW_CONFIG_MAX_LAYERS || Ld > IW_CONFIG_MAX_LAYERS)
            return iw_error_set(IW_EUNSUPPORTED, "parameter formula: encoder/decoder layer counts unknown");
        __int128 at = attn_params(a, &t, a->num_attention_heads);
        __int128 ml = mlp_params(&t, h, a->intermediate_size, gated);
        __int128 nw = norm_w(&t, h);
        attn_sum = (Le + 2 * (__int128)Ld) * at;
        mlp_sum = (Le + (__int128)Ld) * ml;
        norms_sum = (2 * (__int128)Le + 3 * (__int128)Ld + 2) * nw;
        add(&tot, attn_sum);
        add(&tot, mlp_sum);
        add(&tot, norms_sum);
        if (has(mt, "t5"))   /* relative attention bias: 32 buckets x heads, encoder and decoder */
            add(&tot, 2 * 32 * (__int128)a->num_attention_heads);
        if (has(mt, "marian") || has(mt, "bart"))
            add(&tot, 2 * (__int128)(a->max_position_embeddings > 0 ? a->max_position_embeddings : 0) * h);
    } else {
        layer_sum ls = {0, 0, 0, 0, 0};
        for (int64_t i = 0; i < L && !tot.bad; i++) {
            decoder_layer(a, &t, i, mla, moe, gated, &ls);
            /* one layer adds < 2^125 (every width <= 2^40), so stopping once
             * the running sums pass INT64_MAX keeps __int128 from overflowing */
            if (layer_sum_over(&ls))
                tot.bad = true;
        }
        attn_sum = ls.attn;
        mlp_sum = ls.mlp;
        experts_sum = ls.experts;
        norms_sum = ls.norms;
        add(&inactive, ls.inactive);
        add(&tot, attn_sum);
        add(&tot, mlp_sum);
        add(&tot, experts_sum);
        add(&tot, norms_sum + norm_w(&t, h));
        if (a->num_mtp_layers > 0 && (rc_mtp = mtp_params(a, &t, mla, moe, gated, &mtp)) == 0)
            add(&mtp_acc, mtp);
    }
    if (a->has_vision && vision_params(a, &vis))
        add(&tot, vis);
    else
        vis = -1;

    if (tot.bad || inactive.bad)
        return iw_error_set(IW_ELIMIT, "parameter formula: count overflows int64");
    if (mtp_acc.bad)
        rc_mtp = iw_error_set(IW_ELIMIT, "parameter formula: MTP layer count overflows int64");

    iw_params *p = &a->parameters;
    p->total = (int64_t)tot.v;
    p->active = moe && inactive.v > 0 ? (int64_t)(tot.v - inactive.v) : p->total;
    p->embedding = (int64_t)emb;
    p->attention = (int64_t)attn_sum;
    p->mlp = (int64_t)mlp_sum;
    p->experts = moe ? (int64_t)experts_sum : 0;
    p->norms = (int64_t)norms_sum;
    p->lm_head = (int64_t)lm_head;
    p->vision = (int64_t)vis;
    p->mtp = rc_mtp == 0 ? (int64_t)mtp_acc.v : 0;
    int rc = iw_arch_set_str(&p->source, "formula");
    if (rc == 0)
        rc = iw_arch_set_source(a, "parameters.total", "formula");
    if (rc == 0)
        rc = iw_arch_set_source(a, "parameters.active", "formula");
    if (rc == 0 && a->has_vision && vis < 0)
        rc = iw_arch_warn(a, "parameter formula: vision tower not counted (its config is incomplete)");
    if (rc == 0 && rc_mtp < 0) {
        rc = iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
    }
    return rc;
}
