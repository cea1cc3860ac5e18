/* test_overrides.c - estimate overrides (--params-b, --dtype, --quantization,
 * --max-model-len, --trust-remote-code) and the feasibility verdict, hand
 * computed on Llama-3-8B (numbers from its config.json and safetensors
 * headers, as in test_estimate.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/json.h"   /* the verdict's JSON answer is a cJSON tree */
#include "estfixture.h"

#define GIB ((int64_t)1 << 30)
#define P8B 8030261248LL
/* vocab 128256 x hidden 4096, untied: embeddings + lm_head */
#define KEEP (2LL * 128256 * 4096)

static void llama3_8b(iw_arch *a, bool exact)
{
    est_llama3_8b(a);
    iw_arch_set_source(a, "torch_dtype", "config.json");
    iw_arch_set_str(&a->kv_precision, "bf16");
    iw_arch_set_source(a, "kv_precision", "default:torch_dtype");
    iw_arch_set_str(&a->parameters.source, exact ? "safetensors" : "formula");
    if (!exact)
        a->weights_bytes = IW_UNKNOWN;
}

static const iw_ov_report *find(const iw_ov_result *r, const char *flag)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->r[i].flag, flag))
            return &r->r[i];
    return NULL;
}

static int64_t weights_of(const iw_arch *a)
{
    int64_t b = 0;
    char f[512];
    const char *src = NULL;
    cr_assert_eq(iw_estimate_weights(a, &b, f, sizeof f, &src), 0, "%s", iw_error_last());
    return b;
}

/* ---------------------------------------------------------------- --params-b */

Test(overrides, params_b_ignored_when_headers_count_exactly)
{
    iw_arch a;
    llama3_8b(&a, true);
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    ov.params_b = 7;
    iw_ov_result r;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0, "%s", iw_error_last());
    const iw_ov_report *p = find(&r, "--params-b");
    cr_assert_not_null(p);
    cr_assert_eq(p->status, IW_OV_IGNORED);
    cr_assert(strstr(p->reason, "header wins"), "%s", p->reason);
    cr_assert_eq(a.parameters.total, P8B);
    cr_assert_eq(weights_of(&a), 2 * P8B);
    iw_arch_free(&a);
}

Test(overrides, params_b_applied_on_the_formula_path)
{
    iw_arch a;
    llama3_8b(&a, false);
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    ov.params_b = 7.5;
    iw_ov_result r;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--params-b")->status, IW_OV_APPLIED);
    cr_assert_eq(a.parameters.total, 7500000000LL);
    cr_assert_str_eq(a.parameters.source, "override");
    cr_assert_eq(weights_of(&a), 15000000000LL);
    /* out of range is a usage error */
    double bad[] = {0, -1, 100001};
    for (size_t i = 0; i < 3; i++) {
        iw_est_overrides_init(&ov);
        ov.params_b = bad[i];
        cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), IW_EINVAL, "params_b %g accepted", bad[i]);
    }
    iw_arch_free(&a);
}

/* ---------------------------------------------------------------- --dtype */

Test(overrides, dtype_auto_resolves_and_says_so)
{
    iw_arch a;
    llama3_8b(&a, true);
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    iw_ov_result r;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_str_eq(r.dtype, "bf16");
    cr_assert_str_eq(r.dtype_source, "config.json torch_dtype");
    cr_assert_eq(r.n, 0, "nothing to report for a plain auto");

    /* unknown torch_dtype: assumed bf16, reported */
    iw_arch_set_str(&a.torch_dtype, NULL);
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_str_eq(r.dtype, "bf16");
    cr_assert(strstr(r.dtype_source, "assumed"), "%s", r.dtype_source);
    cr_assert_not_null(find(&r, "--dtype"));
    cr_assert_str_eq(a.torch_dtype, "bfloat16");
    iw_arch_free(&a);

    /* a float32 checkpoint under vLLM auto: 16-bit, weights re-sized from the exact count */
    llama3_8b(&a, true);
    iw_arch_set_str(&a.torch_dtype, "float32");
    iw_arch_set_str(&a.kv_precision, "fp32");
    a.weights_bytes = 4 * P8B;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(a.weights_bytes, 2 * P8B);
    int64_t kv = 0;
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 1, &kv), 0);
    cr_assert_eq(kv, 131072, "KV follows the 16-bit weights");
    iw_arch_free(&a);

    /* ... but llama.cpp is not vLLM: nothing changes there */
    llama3_8b(&a, true);
    iw_arch_set_str(&a.torch_dtype, "float32");
    a.weights_bytes = 4 * P8B;
    ov.engine = IW_ENGINE_LLAMACPP;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(a.weights_bytes, 4 * P8B);
    cr_assert_str_eq(r.dtype, "fp32");
    iw_arch_free(&a);
}

Test(overrides, dtype_cast_resizes_exact_weights_and_kv)
{
    iw_arch a;
    llama3_8b(&a, true);
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    ov.dtype = IW_DTYPE_FP32;
    iw_ov_result r;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--dtype")->status, IW_OV_APPLIED);
    cr_assert_eq(a.weights_bytes, 4 * P8B);
    char f[512];
    const char *src;
    int64_t b;
    cr_assert_eq(iw_estimate_weights(&a, &b, f, sizeof f, &src), 0);
    cr_assert_str_eq(src, "exact parameters x dtype");
    cr_assert(strstr(f, "exact parameters 8030261248 x 4 B"), "%s", f);
    int64_t kv = 0;
    cr_assert_eq(iw_estimate_kv_per_token(&a, IW_KV_AUTO, 1, &kv), 0);
    cr_assert_eq(kv, 2 * 131072);
    iw_arch_free(&a);

    /* a KV dtype the config chose (fp8) does not follow the weights */
    llama3_8b(&a, true);
    iw_arch_set_str(&a.kv_precision, "fp8");
    iw_arch_set_source(&a, "kv_precision", "config.json");
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_str_eq(a.kv_precision, "fp8");
    iw_arch_free(&a);

    /* same as the checkpoint: a note, nothing changes */
    llama3_8b(&a, true);
    ov.dtype = IW_DTYPE_BF16;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--dtype")->status, IW_OV_NOTE);
    cr_assert_eq(a.weights_bytes, 2 * P8B);
    iw_arch_free(&a);

    /* a quantized checkpoint keeps its weight storage */
    llama3_8b(&a, true);
    iw_arch_set_str(&a.quantization.method, "gptq");
    a.quantization.bits = 4;
    a.weights_bytes = 5700000000LL;
    ov.dtype = IW_DTYPE_FP16;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--dtype")->status, IW_OV_APPLIED);
    cr_assert(strstr(find(&r, "--dtype")->reason, "keep their storage"));
    cr_assert_eq(a.weights_bytes, 5700000000LL);
    iw_arch_free(&a);
}

/* ---------------------------------------------------------------- --quantization */

Test(overrides, quantization_online_and_what_if)
{
    iw_arch a;
    iw_est_overrides ov;
    iw_ov_result r;
    /* fp8 online on an exact bf16 checkpoint: linear weights x 1 B, embeddings and lm_head 2 B */
    llama3_8b(&a, true);
    iw_est_overrides_init(&ov);
    ov.quantization = "fp8";
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0, "%s", iw_error_last());
    cr_assert_eq(find(&r, "--quantization")->status, IW_OV_APPLIED);
    cr_assert_eq(a.weights_bytes, IW_UNKNOWN, "the bf16 header bytes no longer describe the storage");
    cr_assert_eq(weights_of(&a), (P8B - KEEP) + KEEP * 2);   /* 9080934400 */
    iw_arch_free(&a);

    /* AWQ 4-bit g128 what-if: (P - keep) x (4 + 20/128) / 8 + keep x 2 = 5727460432 */
    llama3_8b(&a, true);
    ov.quantization = "AWQ";
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert(strstr(find(&r, "--quantization")->reason, "what-if"), "%s", find(&r, "--quantization")->reason);
    cr_assert_eq(weights_of(&a), 5727460432LL);
    iw_arch_free(&a);

    /* --dtype fp8 means the same storage as --quantization fp8 */
    llama3_8b(&a, true);
    iw_est_overrides_init(&ov);
    ov.dtype = IW_DTYPE_FP8;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--dtype")->status, IW_OV_APPLIED);
    cr_assert_eq(weights_of(&a), 9080934400LL);
    cr_assert_str_eq(r.dtype, "bf16", "activations stay in the checkpoint dtype");
    iw_arch_free(&a);
}

Test(overrides, quantization_the_checkpoint_cannot_honour_is_ignored)
{
    iw_arch a;
    iw_est_overrides ov;
    iw_ov_result r;
    iw_est_overrides_init(&ov);
    llama3_8b(&a, true);
    iw_arch_set_str(&a.quantization.method, "gptq");
    a.quantization.bits = 4;
    a.weights_bytes = 5700000000LL;
    const char *qs[] = {"none", "awq", "gptq"};
    iw_ov_status want[] = {IW_OV_IGNORED, IW_OV_IGNORED, IW_OV_NOTE};
    for (size_t i = 0; i < 3; i++) {
        ov.quantization = qs[i];
        cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
        cr_assert_eq(find(&r, "--quantization")->status, want[i], "%s", qs[i]);
        cr_assert_eq(a.weights_bytes, 5700000000LL, "%s changed the weights", qs[i]);
    }
    iw_arch_free(&a);

    /* GGUF tensor types fix the storage */
    llama3_8b(&a, true);
    iw_arch_set_str(&a.source, "gguf");
    iw_arch_set_str(&a.quantization.method, "gguf");
    ov.quantization = "awq";
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--quantization")->status, IW_OV_IGNORED);
    iw_arch_free(&a);

    /* mxfp4 on a dense model; unknown parameter count */
    llama3_8b(&a, false);
    ov.quantization = "mxfp4";
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--quantization")->status, IW_OV_IGNORED);
    a.parameters.total = IW_UNKNOWN;
    ov.quantization = "awq";
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--quantization")->status, IW_OV_IGNORED);
    cr_assert(strstr(find(&r, "--quantization")->reason, "--params-b"));
    /* ... which --params-b in the same call supplies */
    ov.params_b = 8;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--quantization")->status, IW_OV_APPLIED);
    iw_arch_free(&a);

    /* unknown methods and contradictions are usage errors */
    llama3_8b(&a, true);
    iw_est_overrides_init(&ov);
    ov.quantization = "q3_k";
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), IW_EINVAL);
    ov.quantization = "awq";
    ov.dtype = IW_DTYPE_FP8;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), IW_EINVAL);
    cr_assert(strstr(iw_error_last(), "contradict"), "%s", iw_error_last());
    iw_arch_free(&a);
}

/* ---------------------------------------------------------------- --max-model-len */

Test(overrides, max_model_len_caps_never_extends)
{
    iw_arch a;
    llama3_8b(&a, true);
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    iw_ov_result r;
    ov.max_model_len = 65536;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--max-model-len")->status, IW_OV_CAPPED);
    cr_assert_eq(a.context_length, 8192);
    ov.max_model_len = 4096;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(find(&r, "--max-model-len")->status, IW_OV_APPLIED);
    cr_assert_eq(a.context_length, 4096);
    /* the estimate's default context and model maximum follow */
    iw_est_opts o;
    iw_est_opts_init(&o);
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    cr_assert_eq(e.in.context, 4096);
    cr_assert_eq(e.max_context, 4096);
    iw_estimate_free(&e);
    /* no maximum in the files: the override is it */
    a.context_length = a.max_position_embeddings = IW_UNKNOWN;
    ov.max_model_len = 32768;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert_eq(a.context_length, 32768);
    ov.max_model_len = 0;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), IW_EINVAL);
    iw_arch_free(&a);

    llama3_8b(&a, true);
    iw_est_overrides_init(&ov);
    ov.trust_remote_code = true;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    cr_assert(r.trust_remote_code);
    cr_assert_eq(find(&r, "--trust-remote-code")->status, IW_OV_NOTE);
    iw_arch_free(&a);
}

/* ---------------------------------------------------------------- verdict */

static void est(const iw_arch *a, const iw_est_opts *o, iw_estimate *e)
{
    cr_assert_eq(iw_estimate_compute(a, o, e), 0, "%s", iw_error_last());
}

Test(verdict, fits_tight_and_unknown)
{
    iw_arch a;
    llama3_8b(&a, true);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    /* fixed, so the total does not follow vLLM's GPU-size defaults */
    o.max_num_seqs = 256;
    o.max_num_batched_tokens = 8192;
    iw_estimate e;
    iw_estimate_init(&e);
    iw_est_verdict v;

    est(&a, &o, &e);     /* no budget */
    cr_assert_eq(iw_estimate_verdict(&a, &o, &e, &v), 0);
    cr_assert_eq(v.fit, IW_FIT_UNKNOWN);
    cr_assert_str_eq(v.dominant, "weights");
    cr_assert_eq(v.n_fixes, 0);

    o.vram_bytes = 80 * GIB;
    est(&a, &o, &e);
    cr_assert_eq(iw_estimate_verdict(&a, &o, &e, &v), 0);
    cr_assert_eq(v.fit, IW_FIT_FITS);
    cr_assert_eq(v.headroom, e.budget - e.total);
    cr_assert_eq(v.dominant_bytes, 2 * P8B);

    /* a budget 5% above the total is tight; 12% above fits */
    int64_t total = e.total;
    o.vram_bytes = (int64_t)ceil((double)total / 0.95 / 0.9);
    est(&a, &o, &e);
    cr_assert_eq(e.total, total);
    cr_assert_eq(iw_estimate_verdict(&a, &o, &e, &v), 0);
    cr_assert_eq(v.fit, IW_FIT_TIGHT, "headroom %.3f", v.headroom_frac);
    o.vram_bytes = (int64_t)ceil((double)total / 0.88 / 0.9);
    est(&a, &o, &e);
    cr_assert_eq(iw_estimate_verdict(&a, &o, &e, &v), 0);
    cr_assert_eq(v.fit, IW_FIT_FITS, "headroom %.3f", v.headroom_frac);
    cJSON *j = iw_estimate_verdict_to_json(&v);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(j, "fit")), "fits");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "cheapest")));
    cJSON_Delete(j);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* Re-estimate a fix independently: its options, and for a 4-bit variant
 * the same what-if `estimate --quantization awq` sizes (GGUF: Q4_K_M). */
static void re_estimate(const iw_arch *a, const iw_est_fix *f, iw_estimate *t)
{
    iw_arch q;
    iw_arch_init(&q);
    cr_assert_eq(iw_arch_copy(&q, a), 0);
    if (f->quantized) {
        cr_assert(!iw_arch_is_gguf(a), "GGUF variants are checked by their own test");
        iw_est_overrides ov;
        iw_est_overrides_init(&ov);
        ov.engine = f->opts.engine;
        ov.quantization = "awq";
        iw_ov_result r;
        cr_assert_eq(iw_estimate_apply_overrides(&q, &ov, &r), 0, "%s", iw_error_last());
    }
    est(&q, &f->opts, t);
    iw_arch_free(&q);
}

/* Each suggested change is re-estimated: its total equals an independent
 * estimate with every change it names, and "fits" is that estimate's own
 * answer; the list goes from what costs the user least to more hardware. */
Test(verdict, misfit_fixes_are_real_estimates)
{
    iw_arch a;
    llama3_8b(&a, true);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 8192;
    o.batch = 32;
    o.vram_bytes = 24 * GIB;
    iw_estimate e, t;
    iw_estimate_init(&e);
    iw_estimate_init(&t);
    est(&a, &o, &e);
    cr_assert(!e.fits);
    iw_est_verdict v;
    cr_assert_eq(iw_estimate_verdict(&a, &o, &e, &v), 0, "%s", iw_error_last());
    cr_assert_eq(v.fit, IW_FIT_NO);
    cr_assert_lt(v.headroom, 0);
    cr_assert_str_eq(v.dominant, "kv_cache", "32 x 8192 tokens x 128 KiB = 32 GiB of KV");
    cr_assert_geq(v.n_fixes, 3);
    cr_assert_eq(v.cheapest, 0, "the list holds what fits, cheapest first");
    bool seen_kv_ctx = false, seen_batch = false;
    int gpus = 0;
    for (size_t i = 0; i < v.n_fixes; i++) {
        const iw_est_fix *f = &v.fixes[i];
        re_estimate(&a, f, &t);
        cr_assert_eq(f->total, t.total, "%s: %lld vs %lld", f->change, (long long)f->total, (long long)t.total);
        cr_assert_eq(f->fits, t.fits, "%s", f->change);
        cr_assert(f->fits, "%s: only changes that fit are listed when some fit", f->change);
        cr_assert_geq(f->opts.tp, gpus, "%s: more hardware before a cheaper fix", f->change);
        gpus = f->opts.tp;
        cr_assert(f->note[0], "%s says nothing of what it gives up", f->change);
        if (strstr(f->change, "--kv-dtype fp8") && strstr(f->change, "--context"))
            seen_kv_ctx = true;
        if (!strcmp(f->kind, "batch"))
            seen_batch = true;
        /* a context that was cut is the largest that fits with the other changes */
        if (f->opts.context > 0 && f->opts.context < 8192) {
            iw_est_fix g = *f;
            g.opts.context += 16;
            re_estimate(&a, &g, &t);
            cr_assert(!t.fits, "%s: %lld tokens also fit", f->change, (long long)g.opts.context);
        }
    }
    cr_assert(seen_kv_ctx, "a narrower KV cache with a shorter context is a combination worth listing");
    cr_assert(seen_batch);
    iw_estimate_free(&t);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* The case of the issue: a 12 GiB card asked for 131072 tokens of an 8B
 * bf16 model (16 GiB of weights).  One change at a time, only more GPUs fit
 * ("cheapest: --tp 4"); a 4-bit checkpoint with a shorter context fits on
 * the one card, and hardware comes last. */
Test(verdict, twelve_gib_and_131072_tokens_prefers_a_download_to_more_gpus)
{
    iw_arch a;
    llama3_8b(&a, true);
    a.context_length = a.max_position_embeddings = 131072;     /* Llama 3.1 8B */
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.context = 131072;
    o.vram_bytes = 12 * GIB;
    iw_estimate e, t;
    iw_estimate_init(&e);
    iw_estimate_init(&t);
    est(&a, &o, &e);
    cr_assert(!e.fits);
    iw_est_verdict v;
    cr_assert_eq(iw_estimate_verdict(&a, &o, &e, &v), 0, "%s", iw_error_last());
    cr_assert_geq(v.cheapest, 0, "something fits");
    const iw_est_fix *c = &v.fixes[v.cheapest];
    cr_assert_eq(c->opts.tp, 1, "cheapest: '%s' buys GPUs though one card can do", c->change);
    cr_assert(c->quantized && c->fits, "%s", c->change);
    cr_assert(strstr(c->change, "--quantization awq") && strstr(c->change, "--context "), "%s", c->change);
    cr_assert(strstr(c->note, "context 131072 -> ") && strstr(c->note, "AWQ"), "%s", c->note);
    re_estimate(&a, c, &t);
    cr_assert(t.fits && t.total == c->total);
    /* more GPUs are still offered, after everything that needs none */
    bool tp = false;
    for (size_t i = 0; i < v.n_fixes; i++) {
        if (v.fixes[i].opts.tp > 1)
            tp = true;
        else
            cr_assert(!tp, "'%s' comes after a fix that needs more GPUs", v.fixes[i].change);
    }
    cr_assert(tp, "no tensor-parallel fix listed");
    iw_estimate_free(&t);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* llama.cpp: the offload suggestion is the most layers that fit. */
Test(verdict, llamacpp_offload_is_the_most_layers_that_fit)
{
    iw_arch a;
    llama3_8b(&a, true);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_LLAMACPP;
    o.context = 8192;
    o.vram_bytes = 12 * GIB;
    iw_estimate e, t;
    iw_estimate_init(&e);
    iw_estimate_init(&t);
    est(&a, &o, &e);
    cr_assert(!e.fits, "16 GiB of bf16 weights on 12 GiB");
    iw_est_verdict v;
    cr_assert_eq(iw_estimate_verdict(&a, &o, &e, &v), 0, "%s", iw_error_last());
    const iw_est_fix *off = NULL;
    for (size_t i = 0; i < v.n_fixes; i++)
        if (!strcmp(v.fixes[i].kind, "offload"))
            off = &v.fixes[i];
    cr_assert_not_null(off);
    long long n = atoll(off->change + strlen("--ngl "));
    cr_assert(n > 0 && n < 32, "%s", off->change);
    iw_est_opts o2 = o;
    o2.n_gpu_layers = n;
    est(&a, &o2, &t);
    cr_assert(t.fits);
    o2.n_gpu_layers = n + 1;
    est(&a, &o2, &t);
    cr_assert(!t.fits, "-ngl %lld also fits", n + 1);
    iw_estimate_free(&t);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}

/* A quantization the command line gives for a checkpoint whose config.json
 * names another: with no tensor headers only the config speaks for the
 * weights, so the command line (the user's statement about the files being
 * served) sizes them; the reason says vLLM's own check of the two. */
Test(overrides, command_line_quantization_over_a_config_declared_one)
{
    iw_arch a;
    iw_est_overrides ov;
    iw_ov_result r;
    iw_est_overrides_init(&ov);
    llama3_8b(&a, true);
    a.weights_bytes = IW_UNKNOWN;          /* config.json only */
    iw_arch_set_str(&a.quantization.method, "fp8");
    a.quantization.bits = 8;
    ov.quantization = "awq";
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0, "%s", iw_error_last());
    const iw_ov_report *q = find(&r, "--quantization");
    cr_assert_eq(q->status, IW_OV_APPLIED, "%s", q->reason);
    cr_assert(strstr(q->reason, "config.json names fp8"), "%s", q->reason);
    cr_assert_str_eq(a.quantization.method, "awq");
    cr_assert_eq(a.quantization.bits, 4);
    /* the estimate now sizes 4-bit weights, not fp8 ones */
    int64_t wb = 0;
    char f[256];
    const char *src;
    cr_assert_eq(iw_estimate_weights(&a, &wb, f, sizeof f, &src), 0, "%s", iw_error_last());
    cr_assert_lt(wb, 6000000000LL, "%lld: %s", (long long)wb, f);
    iw_arch_free(&a);
}
