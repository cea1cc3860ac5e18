/* verdict.c - fits / tight / does not fit, and what would make it fit.
 *
 * Every candidate change is re-estimated with iw_estimate_compute (or the
 * inverse solvers, which are verified by plugging back), so each number in a
 * suggestion is an estimate, not a guess.  The order is the cost to the user
 * (docs/estimate.md, "Verdict"): a flag that keeps what was asked (narrower
 * KV cache), then asking for less (context, then concurrency), then slower
 * (partial offload, llama.cpp), then another download (a 4-bit variant),
 * then more hardware (tensor parallelism).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/estimate.h"

#define GiB 1073741824.0

const char *iw_fit_name(iw_fit f)
{
    switch (f) {
    case IW_FIT_FITS:    return "fits";
    case IW_FIT_TIGHT:   return "tight";
    case IW_FIT_NO:      return "does not fit";
    case IW_FIT_UNKNOWN: break;
    }
    return "unknown";
}

static iw_est_fix *add_fix(iw_est_verdict *v, const char *kind)
{
    if (v->n_fixes >= IW_EST_MAX_FIXES)
        return NULL;
    iw_est_fix *f = &v->fixes[v->n_fixes++];
    memset(f, 0, sizeof *f);
    snprintf(f->kind, sizeof f->kind, "%s", kind);
    return f;
}

/* Estimate with (a2, o2) and record the result in f. */
static int try_fix(const iw_arch *a2, const iw_est_opts *o2, iw_est_fix *f)
{
    iw_estimate t;
    iw_estimate_init(&t);
    int rc = iw_estimate_compute(a2, o2, &t);
    if (rc == 0) {
        f->total = t.total;
        f->budget = t.budget;
        f->fits = t.fits;
    }
    iw_estimate_free(&t);
    return rc;
}

/* Nominal bits of the weights, or 16 when unquantized (for "is a 4-bit
 * variant smaller"); GGUF from the exact bytes. */
static double weight_bits(const iw_arch *a, const iw_estimate *e)
{
    if (a->parameters.total > 0 && e->weights_bytes > 0)
        return (double)e->weights_bytes * 8.0 / (double)a->parameters.total;
    const iw_quant *q = &a->quantization;
    return isfinite(q->bits) && q->bits > 0 ? q->bits : 16;
}

int iw_estimate_verdict(const iw_arch *a, const iw_est_opts *o, const iw_estimate *e, iw_est_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->cheapest = -1;
    for (size_t i = 0; i < e->n_terms; i++)
        if (e->terms[i].bytes > v->dominant_bytes) {
            v->dominant_bytes = e->terms[i].bytes;
            snprintf(v->dominant, sizeof v->dominant, "%s", e->terms[i].name);
        }
    if (e->budget == IW_UNKNOWN || e->budget <= 0) {
        v->fit = IW_FIT_UNKNOWN;
        return 0;
    }
    v->headroom = e->budget - e->total;
    v->headroom_frac = (double)v->headroom / (double)e->budget;
    if (e->total > e->budget)
        v->fit = IW_FIT_NO;
    else
        v->fit = v->headroom_frac < IW_EST_TIGHT_FRACTION ? IW_FIT_TIGHT : IW_FIT_FITS;
    if (v->fit != IW_FIT_NO)
        return 0;

    /* read resolved values from e->in; start every candidate from the
     * caller's options (defaults still unresolved, as the inverse expects) */
    const iw_est_opts *in = &e->in;
    const iw_est_opts *base = o ? o : in;
    bool vllm = in->engine == IW_ENGINE_VLLM;
    int rc;
    iw_est_opts o2;

    /* 1. a narrower KV cache, when it is narrower than what is in use */
    {
        iw_kv_dtype narrow = vllm ? IW_KV_FP8 : IW_KV_Q8_0;
        int64_t now = 0, then = 0;
        if (iw_estimate_kv_per_token(a, in->kv_dtype, in->tp, &now) == 0 &&
            iw_estimate_kv_per_token(a, narrow, in->tp, &then) == 0 && then < now && now > 0) {
            o2 = *base;
            o2.kv_dtype = narrow;
            if (!vllm)
                o2.flash_attn = 1;   /* a quantized V cache needs flash attention */
            iw_est_fix *f = add_fix(v, "kv_dtype");
            if (f) {
                snprintf(f->change, sizeof f->change, vllm ? "--kv-dtype fp8" : "--kv-dtype q8_0%s",
                         !vllm && in->flash_attn != 1 ? " --flash-attn on" : "");
                snprintf(f->note, sizeof f->note, "KV %lld -> %lld bytes per token%s", (long long)now,
                         (long long)then, vllm ? " (fp8 e4m3; small accuracy cost)" : " (q8_0)");
                if ((rc = try_fix(a, &o2, f)))
                    return rc;
            }
        }
    }
    /* 2. the largest context that fits at this batch */
    {
        int64_t c = 0;
        if ((rc = iw_estimate_max_context(a, base, in->batch, &c)))
            return rc;
        if (c > 0 && c < in->context) {
            o2 = *base;
            o2.context = c;
            iw_est_fix *f = add_fix(v, "context");
            if (f) {
                snprintf(f->change, sizeof f->change, "--context %lld", (long long)c);
                snprintf(f->note, sizeof f->note, "context %lld -> %lld tokens per sequence", (long long)in->context,
                         (long long)c);
                if ((rc = try_fix(a, &o2, f)))
                    return rc;
            }
        }
    }
    /* 3. fewer concurrent sequences at this context */
    if (in->batch > 1) {
        int64_t b = 0;
        if ((rc = iw_estimate_max_batch(a, base, in->context, &b)))
            return rc;
        if (b > 0 && b < in->batch) {
            o2 = *base;
            o2.batch = b;
            iw_est_fix *f = add_fix(v, "batch");
            if (f) {
                snprintf(f->change, sizeof f->change, "--batch %lld", (long long)b);
                snprintf(f->note, sizeof f->note, "%lld -> %lld concurrent sequences", (long long)in->batch,
                         (long long)b);
                if ((rc = try_fix(a, &o2, f)))
                    return rc;
            }
        }
    }
    /* 4. llama.cpp: the most layers on the GPU that fit (the rest runs from host RAM) */
    if (!vllm && a->num_layers > 0) {
        int64_t lo = 0, hi = a->num_layers, best = -1;
        while (lo <= hi) {
            int64_t mid = lo + (hi - lo) / 2;
            o2 = *base;
            o2.n_gpu_layers = mid;
            iw_est_fix probe;
            if ((rc = try_fix(a, &o2, &probe)))
                return rc;
            if (probe.fits) {
                best = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (best > 0 && best < in->n_gpu_layers) {
            o2 = *base;
            o2.n_gpu_layers = best;
            iw_est_fix *f = add_fix(v, "offload");
            if (f) {
                snprintf(f->change, sizeof f->change, "--ngl %lld", (long long)best);
                snprintf(f->note, sizeof f->note, "%lld of %lld layers on the GPU, the rest in host RAM (slower)",
                         (long long)best, (long long)a->num_layers);
                if ((rc = try_fix(a, &o2, f)))
                    return rc;
            }
        }
    }
    /* 5. a 4-bit variant of the same model */
    if (a->parameters.total > 0 && weight_bits(a, e) > 5) {
        iw_arch q;
        iw_arch_init(&q);
        if ((rc = iw_arch_copy(&q, a)))
            return rc;
        bool gguf = iw_arch_is_gguf(a);
        q.weights_bytes = IW_UNKNOWN;
        q.quantization.bits = gguf ? 4.85 : 4;
        q.quantization.group_size = gguf ? IW_UNKNOWN : 128;
        q.quantization.effective_bits = NAN;
        q.quantization.double_quant = false;
        q.quantization.zero_point = true;
        q.quantization.sym = false;
        rc = iw_arch_set_str(&q.quantization.method, gguf ? "gguf" : "awq");
        if (!rc)
            rc = iw_arch_set_str(&q.quantization.format, NULL);
        iw_est_fix *f = rc ? NULL : add_fix(v, "quantization");
        if (f) {
            snprintf(f->change, sizeof f->change, gguf ? "a Q4_K_M GGUF" : "--quantization awq");
            snprintf(f->note, sizeof f->note, gguf ? "needs the Q4_K_M file of this model (about 4.85 bits per weight)"
                                                   : "needs an AWQ 4-bit g128 checkpoint of this model");
            o2 = *base;
            rc = try_fix(&q, &o2, f);
        }
        iw_arch_free(&q);
        if (rc)
            return rc;
    }
    /* 6. vLLM: more GPUs with tensor parallelism */
    if (vllm) {
        for (int tp = in->tp * 2; tp <= 8 && tp <= 1024; tp *= 2) {
            o2 = *base;
            o2.tp = tp;
            iw_est_fix probe;
            if ((rc = try_fix(a, &o2, &probe)))
                return rc;
            if (probe.fits || tp * 2 > 8) {
                iw_est_fix *f = add_fix(v, "tp");
                if (f) {
                    *f = probe;
                    snprintf(f->kind, sizeof f->kind, "tp");
                    snprintf(f->change, sizeof f->change, "--tp %d", tp);
                    snprintf(f->note, sizeof f->note, "%d GPUs of %.1f GiB each (tensor parallel)", tp,
                             (double)in->vram_bytes / GiB);
                }
                break;
            }
        }
    }
    /* a change that does not shrink the total is no suggestion */
    size_t k = 0;
    for (size_t i = 0; i < v->n_fixes; i++)
        if (v->fixes[i].fits || v->fixes[i].total < e->total)
            v->fixes[k++] = v->fixes[i];
    v->n_fixes = k;
    for (size_t i = 0; i < v->n_fixes; i++)
        if (v->fixes[i].fits) {
            v->cheapest = (int)i;
            break;
        }
    return 0;
}

void iw_estimate_verdict_summary(const iw_est_verdict *v, char *out, size_t n)
{
    if (!n)
        return;
    out[0] = 0;
    double pct = v->headroom_frac * 100, dom = (double)v->dominant_bytes / GiB;
    switch (v->fit) {
    case IW_FIT_FITS:
        snprintf(out, n, "fits, %.2f GiB headroom (%.0f%% of the budget); largest term: %s %.2f GiB",
                 (double)v->headroom / GiB, pct, v->dominant, dom);
        break;
    case IW_FIT_TIGHT:
        snprintf(out, n, "TIGHT, %.2f GiB headroom (%.1f%% of the budget, under %.0f%%); largest term: %s %.2f GiB",
                 (double)v->headroom / GiB, pct, IW_EST_TIGHT_FRACTION * 100, v->dominant, dom);
        break;
    case IW_FIT_NO:
        snprintf(out, n, "DOES NOT FIT, %.2f GiB over the budget; largest term: %s %.2f GiB",
                 -(double)v->headroom / GiB, v->dominant, dom);
        break;
    case IW_FIT_UNKNOWN:
        break;
    }
}

cJSON *iw_estimate_verdict_to_json(const iw_est_verdict *v)
{
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    cJSON_AddStringToObject(j, "fit", iw_fit_name(v->fit));
    char line[256];
    iw_estimate_verdict_summary(v, line, sizeof line);
    cJSON_AddStringToObject(j, "summary", line);
    if (v->fit != IW_FIT_UNKNOWN) {
        cJSON_AddNumberToObject(j, "headroom_bytes", (double)v->headroom);
        cJSON_AddNumberToObject(j, "headroom_gib", round((double)v->headroom / GiB * 100) / 100);
        cJSON_AddNumberToObject(j, "headroom_fraction", round(v->headroom_frac * 10000) / 10000);
    }
    cJSON_AddStringToObject(j, "dominant_term", v->dominant);
    cJSON_AddNumberToObject(j, "dominant_bytes", (double)v->dominant_bytes);
    cJSON *fx = cJSON_AddArrayToObject(j, "fixes");
    for (size_t i = 0; fx && i < v->n_fixes; i++) {
        const iw_est_fix *f = &v->fixes[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "kind", f->kind);
        cJSON_AddStringToObject(o, "change", f->change);
        cJSON_AddNumberToObject(o, "total_bytes", (double)f->total);
        cJSON_AddNumberToObject(o, "budget_bytes", (double)f->budget);
        cJSON_AddBoolToObject(o, "fits", f->fits);
        cJSON_AddStringToObject(o, "note", f->note);
        cJSON_AddItemToArray(fx, o);
    }
    if (v->cheapest >= 0)
        cJSON_AddStringToObject(j, "cheapest", v->fixes[v->cheapest].change);
    else
        cJSON_AddNullToObject(j, "cheapest");
    return j;
}
