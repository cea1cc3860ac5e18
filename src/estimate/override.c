/* override.c - what a user says about a model that the files describe
 * incompletely (estimate --params-b/--dtype/--quantization/--max-model-len/
 * --trust-remote-code), applied to a copy of the iw_arch.
 *
 * Rules (docs/estimate.md, "Overrides"): a file's exact value wins over a
 * user's number (--params-b is ignored when tensor headers counted the
 * parameters); a choice about how to run the model (dtype, an online or
 * what-if quantization, a shorter maximum context) is applied; a choice the
 * checkpoint cannot honour (--quantization none on a GPTQ checkpoint) is
 * ignored.  Every decision is reported with its reason; nothing is silent.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iwdl/error.h"
#include "iwdl/estimate.h"

#define CAP_PARAMS_B IW_EST_PARAMS_B_CAP
#define CAP_CTX      ((int64_t)1 << 31)

static const char *const dtype_names[] = {"auto", "fp32", "fp16", "bf16", "fp8", "int8"};

const char *iw_dtype_name(iw_dtype d)
{
    return (unsigned)d < sizeof dtype_names / sizeof dtype_names[0] ? dtype_names[d] : "?";
}

int iw_dtype_parse(const char *s, iw_dtype *out)
{
    static const struct { const char *n; iw_dtype d; } m[] = {
        {"auto", IW_DTYPE_AUTO}, {"fp32", IW_DTYPE_FP32}, {"float32", IW_DTYPE_FP32}, {"float", IW_DTYPE_FP32},
        {"f32", IW_DTYPE_FP32}, {"fp16", IW_DTYPE_FP16}, {"float16", IW_DTYPE_FP16}, {"half", IW_DTYPE_FP16},
        {"f16", IW_DTYPE_FP16}, {"bf16", IW_DTYPE_BF16}, {"bfloat16", IW_DTYPE_BF16}, {"fp8", IW_DTYPE_FP8},
        {"int8", IW_DTYPE_INT8},
    };
    for (size_t i = 0; s && i < sizeof m / sizeof m[0]; i++)
        if (!strcasecmp(s, m[i].n)) {
            *out = m[i].d;
            return 0;
        }
    return iw_error_set(IW_EINVAL, "dtype '%s': expected auto, fp32, fp16, bf16, fp8 or int8", s ? s : "");
}

const char *iw_ov_status_name(iw_ov_status s)
{
    switch (s) {
    case IW_OV_APPLIED: return "applied";
    case IW_OV_IGNORED: return "ignored";
    case IW_OV_CAPPED:  return "capped";
    case IW_OV_NOTE:    return "note";
    }
    return "?";
}

void iw_est_overrides_init(iw_est_overrides *ov)
{
    memset(ov, 0, sizeof *ov);
    ov->engine = IW_ENGINE_VLLM;
    ov->params_b = NAN;
    ov->dtype = IW_DTYPE_AUTO;
    ov->max_model_len = IW_UNKNOWN;
}

static void report(iw_ov_result *res, const char *flag, const char *value, iw_ov_status st, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void report(iw_ov_result *res, const char *flag, const char *value, iw_ov_status st, const char *fmt, ...)
{
    if (res->n >= IW_EST_MAX_OVERRIDES)
        return;
    iw_ov_report *r = &res->r[res->n++];
    snprintf(r->flag, sizeof r->flag, "%s", flag);
    snprintf(r->value, sizeof r->value, "%s", value ? value : "");
    r->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
}

/* Canonical short name of a weight dtype string; NULL when unknown. */
static const char *dtype_short(const char *s)
{
    if (!s)
        return NULL;
    if (!strcasecmp(s, "bfloat16") || !strcasecmp(s, "bf16"))
        return "bf16";
    if (!strcasecmp(s, "float16") || !strcasecmp(s, "fp16") || !strcasecmp(s, "f16") || !strcasecmp(s, "half"))
        return "fp16";
    if (!strcasecmp(s, "float32") || !strcasecmp(s, "fp32") || !strcasecmp(s, "f32") || !strcasecmp(s, "float"))
        return "fp32";
    return NULL;
}

static double short_bytes(const char *s)
{
    return !s ? 0 : !strcmp(s, "fp32") ? 4 : 2;
}

static const char *torch_name(const char *s)
{
    return !strcmp(s, "fp32") ? "float32" : !strcmp(s, "fp16") ? "float16" : "bfloat16";
}

static bool quantized(const iw_arch *a)
{
    const char *m = a->quantization.method;
    return m && *m && strcasecmp(m, "none") && strcasecmp(m, "bf16") && strcasecmp(m, "fp16");
}

static bool exact_params(const iw_arch *a)
{
    const char *s = a->parameters.source;
    return a->parameters.total > 0 && s && (!strcmp(s, "safetensors") || !strcmp(s, "gguf"));
}

/* The checkpoint's quantization family in the spelling of --quantization. */
static const char *ckpt_family(const iw_arch *a)
{
    const iw_quant *q = &a->quantization;
    const char *m = q->method;
    if (!strcasecmp(m, "awq")) return "awq";
    if (!strcasecmp(m, "gptq")) return "gptq";
    if (!strcasecmp(m, "fp8") || !strcasecmp(m, "fbgemm_fp8")) return "fp8";
    if (!strcasecmp(m, "mxfp4")) return "mxfp4";
    if (!strcasecmp(m, "bitsandbytes") || !strcasecmp(m, "bnb"))
        return isfinite(q->bits) && q->bits > 4 ? "bnb8" : "bnb4";
    if (!strcasecmp(m, "int8")) return "int8";
    return m;
}

/* Keep kv_precision following the weights when it was derived from them. */
static int follow_kv(iw_arch *a, const char *short_name)
{
    const char *src = iw_arch_get_source(a, "kv_precision");
    if (a->kv_precision && !(src && !strcmp(src, "default:torch_dtype")))
        return 0;
    int rc = iw_arch_set_str(&a->kv_precision, short_name);
    if (rc == 0)
        rc = iw_arch_set_source(a, "kv_precision", "default:torch_dtype");
    return rc;
}

static int set_quant(iw_arch *a, const char *method, double bits, int64_t group, const char *label)
{
    iw_quant *q = &a->quantization;
    int rc;
    if ((rc = iw_arch_set_str(&q->method, method)) || (rc = iw_arch_set_str(&q->label, label)) ||
        (rc = iw_arch_set_str(&q->format, NULL)) || (rc = iw_arch_set_str(&q->detail, NULL)))
        return rc;
    q->bits = bits;
    q->group_size = group;
    q->effective_bits = NAN;
    q->double_quant = false;
    q->zero_point = !strcmp(method, "awq");
    q->sym = !strcmp(method, "gptq");
    return iw_arch_set_source(a, "quantization", "override:--quantization");
}

static int apply_quant(iw_arch *a, const char *flag, const char *q, iw_ov_result *res)
{
    static const char *const known[] = {"none", "awq", "gptq", "int8", "fp8", "bnb4", "bnb8", "mxfp4", NULL};
    char lc[24];
    size_t n = 0;
    for (; q[n] && n + 1 < sizeof lc; n++)
        lc[n] = (char)tolower((unsigned char)q[n]);
    lc[n] = 0;
    if (!strcmp(lc, "bitsandbytes"))
        snprintf(lc, sizeof lc, "bnb4");
    bool ok = false;
    for (const char *const *k = known; *k; k++)
        if (!strcmp(lc, *k))
            ok = true;
    if (!ok || q[n])
        return iw_error_set(IW_EINVAL, "%s '%s': expected none, awq, gptq, int8, fp8, bnb4, bnb8 or mxfp4", flag, q);
    if (iw_arch_is_gguf(a)) {
        report(res, flag, lc, IW_OV_IGNORED, "the GGUF tensor types fix the storage (%s); choose another GGUF file",
               a->quantization.label ? a->quantization.label : "gguf");
        return 0;
    }
    const char *declared = NULL;    /* a quantization only the config names (no tensor bytes) */
    if (quantized(a)) {
        const char *fam = ckpt_family(a);
        if (!strcmp(fam, lc)) {
            report(res, flag, lc, IW_OV_NOTE, "matches the checkpoint's own quantization");
            return 0;
        }
        if (!strcmp(lc, "none")) {
            report(res, flag, lc, IW_OV_IGNORED, "the checkpoint is %s-quantized; its weights cannot be loaded "
                   "unquantized (download the unquantized repo)", fam);
            return 0;
        }
        if (a->weights_bytes > 0) {
            report(res, flag, lc, IW_OV_IGNORED, "the tensor headers give the exact %s bytes; %s needs another "
                   "checkpoint", fam, lc);
            return 0;
        }
        /* Only config.json says what the weights are: the command line is the
         * user's statement about the files being served (a config copied from
         * another repo, a support repo's config), so it sizes the weights.
         * vLLM checks the two against each other (vllm/config ModelConfig.
         * _verify_quantization): it accepts the command line when it is an
         * override of the config's method and refuses to start otherwise. */
        declared = fam;
    }
    if (!strcmp(lc, "none")) {
        report(res, flag, lc, IW_OV_NOTE, "matches the checkpoint (unquantized)");
        return 0;
    }
    if (a->parameters.total <= 0) {
        report(res, flag, lc, IW_OV_IGNORED, "the parameter count is unknown, so quantized weights cannot be sized "
               "(give --params-b)");
        return 0;
    }
    if (!strcmp(lc, "mxfp4") && !(a->moe.num_experts > 0)) {
        report(res, flag, lc, IW_OV_IGNORED, "mxfp4 quantizes MoE experts only and this model has none");
        return 0;
    }
    int64_t had = a->weights_bytes;
    int rc;
    const char *why;
    if (!strcmp(lc, "fp8")) {
        rc = set_quant(a, "fp8", 8, IW_UNKNOWN, "FP8");
        why = "vLLM quantizes the weights to fp8 at load (--quantization fp8); embeddings and lm_head stay 16-bit";
    } else if (!strcmp(lc, "bnb4")) {
        rc = set_quant(a, "bitsandbytes", 4, 64, "BNB-4bit");
        why = "vLLM quantizes in flight with bitsandbytes (--quantization bitsandbytes), nf4 with an f32 absmax per 64";
    } else if (!strcmp(lc, "bnb8")) {
        rc = set_quant(a, "bitsandbytes", 8, IW_UNKNOWN, "BNB-8bit");
        why = "what-if: needs an 8-bit bitsandbytes checkpoint of this model";
    } else if (!strcmp(lc, "int8")) {
        rc = set_quant(a, "int8", 8, IW_UNKNOWN, "INT8");
        why = "what-if: needs an int8 (W8A8) checkpoint of this model";
    } else if (!strcmp(lc, "mxfp4")) {
        rc = set_quant(a, "mxfp4", 4, 32, "MXFP4");
        why = "what-if: needs an MXFP4 checkpoint (experts at 4.25 bits, the rest 16-bit)";
    } else {
        bool awq = !strcmp(lc, "awq");
        rc = set_quant(a, lc, 4, 128, awq ? "AWQ" : "GPTQ");
        why = awq ? "what-if: needs an AWQ 4-bit g128 checkpoint of this model"
                  : "what-if: needs a GPTQ 4-bit g128 checkpoint of this model";
    }
    if (rc)
        return rc;
    a->weights_bytes = IW_UNKNOWN;   /* the header bytes describe the unquantized storage */
    if (declared)
        report(res, flag, lc, IW_OV_APPLIED, "config.json names %s; the weights are sized as %s (%s). vLLM starts only "
               "if the config's quantization_config names %s too, or %s overrides it", declared, lc, why, lc, lc);
    else if (had > 0)
        report(res, flag, lc, IW_OV_APPLIED, "%s; the exact header bytes (%lld) are replaced by parameters x its bits",
               why, (long long)had);
    else
        report(res, flag, lc, IW_OV_APPLIED, "%s", why);
    return 0;
}

int iw_ov_vllm_args(const iw_ov_result *ov, iw_strlist *args)
{
    if (!ov)
        return 0;
    int rc = 0;
    if (!strcmp(ov->dtype_source, "--dtype")) {
        const char *d = !strcmp(ov->dtype, "fp32") ? "float32" : !strcmp(ov->dtype, "fp16") ? "float16"
                      : !strcmp(ov->dtype, "bf16") ? "bfloat16" : NULL;
        if (d)
            rc = iw_strlist_push(args, "--dtype") || iw_strlist_push(args, d);
    }
    for (size_t i = 0; !rc && i < ov->n; i++) {
        const iw_ov_report *r = &ov->r[i];
        if (r->status != IW_OV_APPLIED || (strcmp(r->flag, "--quantization") && strcmp(r->flag, "--dtype")))
            continue;
        if (!strcmp(r->value, "fp8") || !strcmp(r->value, "bnb4")) {
            rc = iw_strlist_push(args, "--quantization") ||
                 iw_strlist_push(args, !strcmp(r->value, "fp8") ? "fp8" : "bitsandbytes");
            break;
        }
    }
    return rc ? iw_error_set(IW_ENOMEM, "out of memory") : 0;
}

int iw_estimate_apply_overrides(iw_arch *a, const iw_est_overrides *ov, iw_ov_result *res)
{
    int rc;
    memset(res, 0, sizeof *res);
    res->trust_remote_code = ov->trust_remote_code;

    /* contradictions are usage errors */
    if ((ov->dtype == IW_DTYPE_FP8 || ov->dtype == IW_DTYPE_INT8) && ov->quantization &&
        strcasecmp(ov->quantization, iw_dtype_name(ov->dtype)))
        return iw_error_set(IW_EINVAL, "--dtype %s and --quantization %s contradict each other: give one",
                            iw_dtype_name(ov->dtype), ov->quantization);
    if (!isnan(ov->params_b) && !(ov->params_b > 0 && ov->params_b <= CAP_PARAMS_B))
        return iw_error_set(IW_EINVAL, "--params-b %g: expected billions of parameters in (0, %g]", ov->params_b,
                            CAP_PARAMS_B);
    if (ov->max_model_len != IW_UNKNOWN && !(ov->max_model_len >= 1 && ov->max_model_len <= CAP_CTX))
        return iw_error_set(IW_EINVAL, "--max-model-len %lld: expected 1..%lld tokens", (long long)ov->max_model_len,
                            (long long)CAP_CTX);

    /* --params-b: a fact about the model; the headers' count wins */
    if (!isnan(ov->params_b)) {
        char v[48];
        snprintf(v, sizeof v, "%g", ov->params_b);
        if (exact_params(a) || a->weights_bytes > 0) {
            if (a->parameters.total > 0)
                report(res, "--params-b", v, IW_OV_IGNORED, "the %s headers count %.4gB parameters exactly; the "
                       "header wins", a->parameters.source ? a->parameters.source : "tensor",
                       (double)a->parameters.total / 1e9);
            else
                report(res, "--params-b", v, IW_OV_IGNORED, "the tensor headers give the exact weight bytes "
                       "(%lld); the header wins", (long long)a->weights_bytes);
        } else {
            int64_t was = a->parameters.total;
            const char *was_src = a->parameters.source;
            a->parameters.total = (int64_t)llround(ov->params_b * 1e9);
            if (a->parameters.active > a->parameters.total)
                a->parameters.active = IW_UNKNOWN;
            if (was > 0)
                report(res, "--params-b", v, IW_OV_APPLIED, "replaces %.4gB from the %s", (double)was / 1e9,
                       was_src ? was_src : "files");
            else
                report(res, "--params-b", v, IW_OV_APPLIED, "the files gave no parameter count");
            if ((rc = iw_arch_set_str(&a->parameters.source, "override")) ||
                (rc = iw_arch_set_source(a, "parameters.total", "override:--params-b")))
                return rc;
        }
    }

    /* --quantization (or --dtype fp8/int8, which means the same storage) */
    if (ov->quantization) {
        if ((rc = apply_quant(a, "--quantization", ov->quantization, res)))
            return rc;
    } else if (ov->dtype == IW_DTYPE_FP8 || ov->dtype == IW_DTYPE_INT8) {
        if ((rc = apply_quant(a, "--dtype", iw_dtype_name(ov->dtype), res)))
            return rc;
    }

    /* --dtype: the weight (and activation) dtype the engine loads */
    const char *ck = dtype_short(a->torch_dtype);
    const char *ts = iw_arch_get_source(a, "torch_dtype");
    if (iw_arch_is_gguf(a)) {
        snprintf(res->dtype, sizeof res->dtype, "gguf");
        snprintf(res->dtype_source, sizeof res->dtype_source, "GGUF tensor types");
        if (ov->dtype != IW_DTYPE_AUTO && ov->dtype != IW_DTYPE_FP8 && ov->dtype != IW_DTYPE_INT8)
            report(res, "--dtype", iw_dtype_name(ov->dtype), IW_OV_IGNORED,
                   "the GGUF tensor types fix the storage; --dtype applies to vLLM checkpoints");
    } else if (ov->dtype == IW_DTYPE_AUTO || ov->dtype == IW_DTYPE_FP8 || ov->dtype == IW_DTYPE_INT8) {
        const char *use = ck;
        if (!ck) {
            use = "bf16";
            snprintf(res->dtype_source, sizeof res->dtype_source, "assumed: the checkpoint's torch_dtype is unknown");
            report(res, "--dtype", "auto", IW_OV_NOTE, "the checkpoint's torch_dtype is unknown: assumed bf16");
            if ((rc = iw_arch_set_str(&a->torch_dtype, "bfloat16")) ||
                (rc = iw_arch_set_source(a, "torch_dtype", "default:assumed bf16")) || (rc = follow_kv(a, "bf16")))
                return rc;
        } else if (!strcmp(ck, "fp32") && ov->engine == IW_ENGINE_VLLM) {
            /* vLLM's auto never runs a float32 checkpoint in float32: fp16
             * ("following common practice"), bf16 since vLLM 0.10.1; 2 B either way */
            use = "bf16";
            snprintf(res->dtype_source, sizeof res->dtype_source,
                     "vLLM auto: a float32 checkpoint loads in 16-bit (fp16 before 0.10.1)");
            report(res, "--dtype", "auto", IW_OV_NOTE, "vLLM's auto loads a float32 checkpoint in 16-bit (bf16; "
                   "fp16 before vLLM 0.10.1): 2 B per weight, not 4");
            if (!quantized(a) && a->weights_bytes > 0 && a->parameters.total > 0) {
                a->weights_bytes = a->parameters.total * 2;
                char cs[128];
                snprintf(cs, sizeof cs, "cast:exact parameters %lld x 2 B (vLLM auto, float32 checkpoint)",
                         (long long)a->parameters.total);
                if ((rc = iw_arch_set_source(a, "weights_bytes", cs)))
                    return rc;
            }
            if ((rc = iw_arch_set_str(&a->torch_dtype, "bfloat16")) || (rc = follow_kv(a, "bf16")))
                return rc;
        } else {
            snprintf(res->dtype_source, sizeof res->dtype_source, "%s torch_dtype", ts ? ts : "checkpoint");
        }
        snprintf(res->dtype, sizeof res->dtype, "%s", use);
    } else {
        const char *want = iw_dtype_name(ov->dtype);
        snprintf(res->dtype, sizeof res->dtype, "%s", want);
        snprintf(res->dtype_source, sizeof res->dtype_source, "--dtype");
        if (ck && !strcmp(ck, want)) {
            report(res, "--dtype", want, IW_OV_NOTE, "matches the checkpoint");
        } else if (quantized(a)) {
            report(res, "--dtype", want, IW_OV_APPLIED, "sets the activation and unquantized-tensor dtype; the "
                   "%s weights keep their storage", ckpt_family(a));
            if ((rc = iw_arch_set_str(&a->torch_dtype, torch_name(want))) || (rc = follow_kv(a, want)))
                return rc;
        } else {
            int64_t had = a->weights_bytes;
            if (had > 0) {
                if (a->parameters.total > 0)
                    a->weights_bytes = (int64_t)((double)a->parameters.total * short_bytes(want));
                else if (ck)
                    a->weights_bytes = (int64_t)((double)had * short_bytes(want) / short_bytes(ck));
                else {
                    report(res, "--dtype", want, IW_OV_IGNORED, "the checkpoint's dtype and parameter count are "
                           "unknown, so the cast cannot be sized");
                    return 0;
                }
                report(res, "--dtype", want, IW_OV_APPLIED, "the engine casts every weight to %s: %lld -> %lld bytes",
                       want, (long long)had, (long long)a->weights_bytes);
                char cs[128];
                if (a->parameters.total > 0)
                    snprintf(cs, sizeof cs, "cast:exact parameters %lld x %g B (--dtype %s)",
                             (long long)a->parameters.total, short_bytes(want), want);
                else
                    snprintf(cs, sizeof cs, "cast:header bytes %lld x %g/%g (--dtype %s)", (long long)had,
                             short_bytes(want), short_bytes(ck), want);
                if ((rc = iw_arch_set_source(a, "weights_bytes", cs)))
                    return rc;
            } else {
                report(res, "--dtype", want, IW_OV_APPLIED, "weights sized at %g B per parameter%s%s",
                       short_bytes(want), ck ? " instead of the checkpoint's " : "", ck ? ck : "");
            }
            if ((rc = iw_arch_set_str(&a->torch_dtype, torch_name(want))) ||
                (rc = iw_arch_set_source(a, "torch_dtype", "override:--dtype")) || (rc = follow_kv(a, want)))
                return rc;
        }
    }

    /* --max-model-len: never beyond the model's own maximum */
    if (ov->max_model_len != IW_UNKNOWN) {
        char v[48];
        snprintf(v, sizeof v, "%lld", (long long)ov->max_model_len);
        int64_t mx = iw_arch_context(a);
        if (mx > 0 && ov->max_model_len > mx) {
            report(res, "--max-model-len", v, IW_OV_CAPPED, "exceeds the model's maximum %lld; kept at %lld (vLLM "
                   "refuses more without VLLM_ALLOW_LONG_MAX_MODEL_LEN)", (long long)mx, (long long)mx);
        } else {
            if (mx > 0)
                report(res, "--max-model-len", v, IW_OV_APPLIED, "caps the context (the model's maximum is %lld)",
                       (long long)mx);
            else
                report(res, "--max-model-len", v, IW_OV_APPLIED, "the files give no maximum context");
            a->context_length = ov->max_model_len;
            if ((rc = iw_arch_set_source(a, "context_length", "override:--max-model-len")))
                return rc;
        }
    }
    if (ov->trust_remote_code)
        report(res, "--trust-remote-code", "", IW_OV_NOTE, "recorded and passed to vLLM; it does not change memory");
    return 0;
}
