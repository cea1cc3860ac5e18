/* verdict.c - fits / tight / does not fit, and what would make it fit.
 *
 * The fixes are searched over combinations: every mix of a 4-bit variant, a
 * narrower KV cache and tensor parallelism, each as asked and with the
 * largest context / most sequences / most GPU layers that then fit.  Every
 * candidate is re-estimated with iw_estimate_compute (or the inverse solvers,
 * which are verified by plugging back), so each number is an estimate, not a
 * guess.  They are ordered by what they cost the user (docs/estimate.md,
 * "Verdict"): more GPUs last, then another download, then layers in host RAM
 * (slower), then the tokens given up, then a narrower KV cache; a candidate
 * that costs at least as much as another in every respect is dropped.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/json.h"

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

/* ------------------------------------------------------------ the search */

#define MAX_CANDS 320

typedef struct cand {
    iw_est_fix fix;          /* total, budget, fits, opts, quantized, and the texts */
    bool    kv;              /* a narrower KV cache */
    int     gpus;            /* GPUs added (tensor parallelism) */
    int64_t offloaded;       /* layers left in host RAM */
    double  lost_ctx;        /* share of the requested context given up */
    double  lost_batch;      /* share of the requested sequences given up */
    bool    single;          /* one change, as asked (the list when nothing fits) */
} cand;

typedef struct search {
    const iw_arch     *a;     /* the model as asked */
    const iw_arch     *q;     /* its 4-bit variant, or NULL */
    const iw_estimate *e;
    const iw_est_opts *in;    /* resolved inputs of the estimate judged */
    bool               vllm, gguf;
    iw_kv_dtype        narrow;
    int64_t            kv_now, kv_then;   /* KV bytes per token, as asked and narrower */
    cand               c[MAX_CANDS];
    size_t             n;
} search;

/* Nominal bits of the weights, or 16 when unquantized (for "is a 4-bit
 * variant smaller"); GGUF from the exact bytes. */
static double weight_bits(const iw_arch *a, const iw_estimate *e)
{
    if (a->parameters.total > 0 && e->weights_bytes > 0)
        return (double)e->weights_bytes * 8.0 / (double)a->parameters.total;
    const iw_quant *q = &a->quantization;
    return isfinite(q->bits) && q->bits > 0 ? q->bits : 16;
}

/* The 4-bit variant of a: for GGUF (or llama.cpp / Ollama, which load
 * GGUF) a Q4_K_M file (about 4.85 bits per weight); otherwise what
 * `--quantization awq` sizes (override.c).  Returns
 * 1 when there is one, 0 when not (already quantized, no parameter count). */
static int make_variant(const iw_arch *a, const iw_estimate *e, iw_arch *q)
{
    if (a->parameters.total <= 0 || weight_bits(a, e) <= 5)
        return 0;
    int rc = iw_arch_copy(q, a);
    if (rc)
        return rc;
    if (iw_arch_is_gguf(a) || e->in.engine != IW_ENGINE_VLLM) {   /* llama.cpp and Ollama load GGUF */
        q->weights_bytes = IW_UNKNOWN;
        q->quantization.bits = 4.85;
        q->quantization.group_size = IW_UNKNOWN;
        q->quantization.effective_bits = NAN;
        q->quantization.double_quant = false;
        q->quantization.zero_point = true;
        q->quantization.sym = false;
        if ((rc = iw_arch_set_str(&q->quantization.method, "gguf")) ||
            (rc = iw_arch_set_str(&q->quantization.format, NULL)))
            return rc;
        return 1;
    }
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    ov.engine = e->in.engine;
    ov.quantization = "awq";
    iw_ov_result r;
    if ((rc = iw_estimate_apply_overrides(q, &ov, &r)))
        return rc;
    for (size_t i = 0; i < r.n; i++)
        if (!strcmp(r.r[i].flag, "--quantization") && r.r[i].status == IW_OV_APPLIED)
            return 1;
    return 0;
}

static void cat(char *dst, size_t n, const char *sep, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void cat(char *dst, size_t n, const char *sep, const char *fmt, ...)
{
    size_t l = strlen(dst);
    if (l && l + strlen(sep) < n) {
        snprintf(dst + l, n - l, "%s", sep);
        l += strlen(sep);
    }
    if (l >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst + l, n - l, fmt, ap);
    va_end(ap);
}

/* Estimate candidate c (its fix.opts and fix.quantized set) and word it. */
static int judge(search *s, cand *c)
{
    iw_est_fix *f = &c->fix;
    const iw_est_opts *o = &f->opts, *in = s->in;
    iw_estimate t;
    iw_estimate_init(&t);
    int rc = iw_estimate_compute(f->quantized ? s->q : s->a, o, &t);
    if (rc == 0) {
        f->total = t.total;
        f->budget = t.budget;
        f->fits = t.fits;
    }
    iw_estimate_free(&t);
    if (rc)
        return rc;
    const char *sep = " ";
    if (f->quantized) {
        cat(f->kind, sizeof f->kind, "+", "quantization");
        cat(f->change, sizeof f->change, sep, s->gguf ? "a Q4_K_M GGUF" : "--quantization awq");
        cat(f->note, sizeof f->note, "; ", s->gguf ? "needs the Q4_K_M file of this model (about 4.85 bits per "
                                                     "weight; a download)"
                                                   : "needs an AWQ 4-bit g128 checkpoint of this model (a download; "
                                                     "a small quality loss)");
        if (s->gguf)
            sep = ", ";
    }
    if (c->kv) {
        cat(f->kind, sizeof f->kind, "+", "kv_dtype");
        cat(f->change, sizeof f->change, sep, s->vllm ? "--kv-dtype fp8" : "--kv-dtype q8_0%s",
            !s->vllm && in->flash_attn != 1 ? " --flash-attn on" : "");
        cat(f->note, sizeof f->note, "; ", "KV %lld -> %lld bytes per token%s", (long long)s->kv_now,
            (long long)s->kv_then, s->vllm ? " (fp8 e4m3; small accuracy cost)" : " (q8_0)");
        sep = " ";
    }
    if (c->gpus) {
        cat(f->kind, sizeof f->kind, "+", "tp");
        cat(f->change, sizeof f->change, sep, "--tp %d", o->tp);
        cat(f->note, sizeof f->note, "; ", "%d GPUs of %.1f GiB each (tensor parallel)", o->tp,
            (double)in->vram_bytes / GiB);
        sep = " ";
    }
    if (c->offloaded) {
        cat(f->kind, sizeof f->kind, "+", "offload");
        cat(f->change, sizeof f->change, sep, "--ngl %lld", (long long)o->n_gpu_layers);
        cat(f->note, sizeof f->note, "; ", "%lld of %lld layers on the GPU, the rest in host RAM (slower)",
            (long long)o->n_gpu_layers, (long long)s->a->num_layers);
        sep = " ";
    }
    if (o->context != IW_UNKNOWN && o->context < in->context) {
        cat(f->kind, sizeof f->kind, "+", "context");
        cat(f->change, sizeof f->change, sep, "--context %lld", (long long)o->context);
        cat(f->note, sizeof f->note, "; ", "context %lld -> %lld tokens per sequence", (long long)in->context,
            (long long)o->context);
        sep = " ";
    }
    if (o->batch != IW_UNKNOWN && o->batch < in->batch) {
        cat(f->kind, sizeof f->kind, "+", "batch");
        cat(f->change, sizeof f->change, sep, "--batch %lld", (long long)o->batch);
        cat(f->note, sizeof f->note, "; ", "%lld -> %lld concurrent sequence%s", (long long)in->batch,
            (long long)o->batch, o->batch == 1 ? "" : "s");
    }
    return 0;
}

static cand *new_cand(search *s, const iw_est_opts *o, bool quant, bool kv, int gpus)
{
    if (s->n >= MAX_CANDS)
        return NULL;
    cand *c = &s->c[s->n++];
    memset(c, 0, sizeof *c);
    c->fix.opts = *o;
    c->fix.quantized = quant;
    c->kv = kv;
    c->gpus = gpus;
    return c;
}

/* One combination of the discrete changes: as asked, then with the largest
 * context, the most sequences and (llama.cpp) the most layers that fit. */
static int explore(search *s, const iw_est_opts *o2, bool quant, bool kv, int gpus)
{
    const iw_est_opts *in = s->in;
    const iw_arch *arch = quant ? s->q : s->a;
    int rc;
    cand *c;
    if (quant || kv || gpus) {
        if (!(c = new_cand(s, o2, quant, kv, gpus)))
            return 0;
        c->single = (quant + kv + (gpus > 0)) == 1;
        if ((rc = judge(s, c)))
            return rc;
        if (c->fix.fits)
            return 0;       /* asking for less would only cost more */
    }
    int64_t ctx = 0;
    if ((rc = iw_estimate_max_context(arch, o2, in->batch, &ctx)))
        return rc;
    if (ctx > 0 && ctx < in->context && (c = new_cand(s, o2, quant, kv, gpus))) {
        c->fix.opts.context = ctx;
        c->lost_ctx = 1.0 - (double)ctx / (double)in->context;
        if ((rc = judge(s, c)))
            return rc;
    }
    if (in->batch > 1) {
        int64_t b = 0;
        if ((rc = iw_estimate_max_batch(arch, o2, in->context, &b)))
            return rc;
        if (b > 0 && b < in->batch && (c = new_cand(s, o2, quant, kv, gpus))) {
            c->fix.opts.batch = b;
            c->lost_batch = 1.0 - (double)b / (double)in->batch;
            if ((rc = judge(s, c)))
                return rc;
        }
    }
    if (!s->vllm && s->a->num_layers > 0) {
        int64_t lo = 0, hi = s->a->num_layers, best = -1;
        while (lo <= hi) {
            int64_t mid = lo + (hi - lo) / 2;
            iw_est_opts o3 = *o2;
            o3.n_gpu_layers = mid;
            iw_estimate t;
            iw_estimate_init(&t);
            rc = iw_estimate_compute(arch, &o3, &t);
            bool fits = t.fits;
            iw_estimate_free(&t);
            if (rc)
                return rc;
            if (fits) {
                best = mid;
                lo = mid + 1;
            } else {
                hi = mid - 1;
            }
        }
        if (best > 0 && best < in->n_gpu_layers && (c = new_cand(s, o2, quant, kv, gpus))) {
            c->fix.opts.n_gpu_layers = best;
            c->offloaded = in->n_gpu_layers - best;
            if ((rc = judge(s, c)))
                return rc;
        }
    }
    return 0;
}

/* Share of the requested tokens (context x sequences) given up. */
static double lost(const cand *c)
{
    return 1.0 - (1.0 - c->lost_ctx) * (1.0 - c->lost_batch);
}

/* What a candidate costs the user, most significant first: GPUs added,
 * a download, layers in host RAM, tokens given up, a narrower KV cache. */
static int cost_cmp(const cand *x, const cand *y)
{
    if (x->gpus != y->gpus)
        return x->gpus < y->gpus ? -1 : 1;
    if (x->fix.quantized != y->fix.quantized)
        return x->fix.quantized ? 1 : -1;
    if (x->offloaded != y->offloaded)
        return x->offloaded < y->offloaded ? -1 : 1;
    if (fabs(lost(x) - lost(y)) > 1e-9)
        return lost(x) < lost(y) ? -1 : 1;
    if (x->kv != y->kv)
        return x->kv ? 1 : -1;
    return x->fix.total < y->fix.total ? -1 : x->fix.total > y->fix.total;
}

/* x costs at most what y costs in every respect (a shorter context and
 * fewer sequences are different costs: neither stands for the other). */
static bool no_dearer(const cand *x, const cand *y)
{
    return x->gpus <= y->gpus && (!x->fix.quantized || y->fix.quantized) && x->offloaded <= y->offloaded &&
           x->lost_ctx <= y->lost_ctx + 1e-9 && x->lost_batch <= y->lost_batch + 1e-9 && (!x->kv || y->kv);
}

static int by_cost(const void *x, const void *y) { return cost_cmp(x, y); }

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
    const iw_est_opts *base = o ? o : &e->in;
    search *s = calloc(1, sizeof *s);
    if (!s)
        return iw_error_set(IW_ENOMEM, "verdict: out of memory");
    iw_arch q;
    iw_arch_init(&q);
    s->a = a;
    s->e = e;
    s->in = &e->in;
    s->vllm = e->in.engine == IW_ENGINE_VLLM;
    s->gguf = iw_arch_is_gguf(a) || !s->vllm;
    s->narrow = s->vllm ? IW_KV_FP8 : IW_KV_Q8_0;
    bool can_kv = iw_estimate_kv_per_token(a, e->in.kv_dtype, e->in.tp, &s->kv_now) == 0 &&
                  iw_estimate_kv_per_token(a, s->narrow, e->in.tp, &s->kv_then) == 0 &&
                  s->kv_then < s->kv_now && s->kv_now > 0;
    iw_error_clear();
    int rc = make_variant(a, e, &q);
    if (rc > 0)
        s->q = &q;
    rc = rc < 0 ? rc : 0;
    int tps[4] = {e->in.tp, 0, 0, 0}, ntp = 1;
    for (int tp = e->in.tp * 2; s->vllm && tp <= 8; tp *= 2)
        tps[ntp++] = tp;
    for (int quant = 0; !rc && quant <= (s->q != NULL); quant++)
        for (int kv = 0; !rc && kv <= can_kv; kv++)
            for (int t = 0; !rc && t < ntp; t++) {
                iw_est_opts o2 = *base;
                if (kv) {
                    o2.kv_dtype = s->narrow;
                    if (!s->vllm)
                        o2.flash_attn = 1;   /* a quantized V cache needs flash attention */
                }
                o2.tp = tps[t];
                rc = explore(s, &o2, quant, kv, tps[t] / e->in.tp - 1);
            }
    if (rc)
        goto done;

    /* what fits, without the candidates another one beats in every respect */
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        cand *y = &s->c[i];
        if (!y->fix.fits)
            continue;
        bool beaten = false;
        for (size_t j = 0; j < s->n && !beaten; j++) {
            const cand *x = &s->c[j];
            if (j != i && x->fix.fits && no_dearer(x, y) && (!no_dearer(y, x) || j < i))
                beaten = true;
        }
        if (!beaten)
            s->c[k++] = *y;
    }
    if (k == 0) {
        /* nothing fits: the single changes that shrink the total */
        for (size_t i = 0; i < s->n; i++)
            if (s->c[i].single && s->c[i].fix.total < e->total)
                s->c[k++] = s->c[i];
    }
    qsort(s->c, k, sizeof s->c[0], by_cost);
    /* at most IW_EST_MAX_FIXES, but the cheapest of each kind of cost (more
     * GPUs, a download, host RAM) stays on the list */
    bool keep[MAX_CANDS] = {false}, seen[8] = {false};
    size_t kept = 0;
    for (size_t i = 0; i < k && kept < IW_EST_MAX_FIXES; i++) {
        int cat = (s->c[i].gpus > 0) | (s->c[i].fix.quantized << 1) | ((s->c[i].offloaded > 0) << 2);
        if (!seen[cat]) {
            seen[cat] = keep[i] = true;
            kept++;
        }
    }
    for (size_t i = 0; i < k && kept < IW_EST_MAX_FIXES; i++)
        if (!keep[i]) {
            keep[i] = true;
            kept++;
        }
    for (size_t i = 0; i < k; i++)
        if (keep[i])
            v->fixes[v->n_fixes++] = s->c[i].fix;
    if (v->n_fixes && v->fixes[0].fits)
        v->cheapest = 0;
done:
    iw_arch_free(&q);
    free(s);
    return rc;
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
