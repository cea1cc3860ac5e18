/* calibrate.c - measured start-ups against the estimate: the settings of a
 * start as estimate options, its figures next to the predicted ones, and
 * the corrections of the heuristic terms they imply (estimate.h,
 * "Calibration"; docs/estimate.md, "Calibration").  estimate.c applies the
 * corrections (apply_calibration) when opts.calibration is set.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/estimate.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

void iw_est_calibration_init(iw_est_calibration *c)
{
    memset(c, 0, sizeof *c);
    c->engine = IW_ENGINE_VLLM;
    c->activations_ratio = NAN;
    c->cuda_graphs_ratio = NAN;
    c->compute_ratio = NAN;
    c->tp = 1;
}

static bool is_vllm(const cJSON *start)
{
    const char *e = iw_json_get_str(start, "engine");
    return e && !strcmp(e, "vllm");
}

/* "0.19.0", "0.6.4.post1", "0.6.6.post2.dev123+g..." -> the numeric part. */
static bool version_prefix(const char *s, int32_t *out)
{
    int32_t part[3] = {0, 0, 0};
    int n = 0;
    const char *p = s;
    while (n < 3 && *p >= '0' && *p <= '9') {
        int32_t v = 0;
        int d = 0;
        while (*p >= '0' && *p <= '9') {
            if (++d > 3)
                return false;
            v = v * 10 + (*p++ - '0');
        }
        part[n++] = v;
        if (*p != '.')
            break;
        p++;
    }
    if (n < 2)
        return false;
    *out = IW_VLLM_VERSION(part[0], part[1], part[2]);
    return true;
}

static bool get_count(const cJSON *o, const char *k, int64_t lo, int64_t hi, int64_t *v)
{
    return iw_json_get_i64(o, k, v) && *v >= lo && *v <= hi;
}

/* vLLM's --quantization names -> the overrides' (NULL: the checkpoint's
 * config names it, or nothing this estimator sizes differently). */
static const char *quant_override(const char *q)
{
    if (!q)
        return NULL;
    static const char *const map[][2] = {
        {"awq", "awq"}, {"awq_marlin", "awq"}, {"gptq", "gptq"}, {"gptq_marlin", "gptq"}, {"fp8", "fp8"},
        {"mxfp4", "mxfp4"}, {NULL, NULL}};
    for (size_t i = 0; map[i][0]; i++)
        if (!strcmp(q, map[i][0]))
            return map[i][1];
    return NULL;
}

int iw_est_start_opts(const cJSON *start, const struct iw_est_profiles *profiles, const iw_est_opts *base,
                      const iw_est_overrides *base_ov, iw_est_opts *o, iw_est_overrides *ov)
{
    if (!cJSON_IsObject(start))
        return iw_error_set(IW_EINVAL, "measured start: not an object");
    *o = *base;
    *ov = *base_ov;
    o->calibration = NULL;
    o->batch = 1;
    o->context = IW_UNKNOWN;
    o->gpu_name = NULL;
    o->mxfp4_backend = NULL;
    o->vram_bytes = IW_UNKNOWN;
    o->kv_dtype = IW_KV_AUTO;
    ov->max_model_len = IW_UNKNOWN;
    ov->dtype = IW_DTYPE_AUTO;
    ov->quantization = NULL;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(start, "settings");
    int64_t v;
    double d;
    const char *s;
    if (is_vllm(start)) {
        o->engine = IW_ENGINE_VLLM;
        o->vllm_version = 0;
        o->vllm_rules = NULL;
        int32_t ver;
        if ((s = iw_json_get_str(start, "engine_version")) && version_prefix(s, &ver)) {
            o->vllm_version = ver;
            o->vllm_rules = profiles ? iw_est_profiles_for_vllm(profiles, ver) : NULL;
        } else if ((s = iw_json_get_str(start, "engine_generation")) && !strcmp(s, "V0")) {
            /* no version line, but lines only V0 prints: the last V0-only series' rules */
            o->vllm_version = IW_VLLM_VERSION(0, 7, 0);
            o->vllm_rules = profiles ? iw_est_profiles_for_vllm(profiles, o->vllm_version) : NULL;
        }
        o->tp = get_count(st, "tensor_parallel_size", 1, 1024, &v) ? (int)v : 1;
        if (get_count(st, "max_model_len", 1, (int64_t)1 << 31, &v))
            o->context = v;
        o->max_num_seqs = get_count(st, "max_num_seqs", 1, 1 << 20, &v) ? v : IW_UNKNOWN;
        o->max_num_batched_tokens = get_count(st, "max_num_batched_tokens", 1, (int64_t)1 << 31, &v) ? v : IW_UNKNOWN;
        o->no_chunked_prefill = false;
        bool b;
        o->enforce_eager = iw_json_get_bool(st, "enforce_eager", &b) && b;
        const cJSON *me = cJSON_GetObjectItemCaseSensitive(start, "measured");
        double total = 0, req = 0;
        bool has_total = iw_json_get_f64(st, "gpu_total_bytes", &total) && total > 0;
        bool has_req = iw_json_get_f64(me, "requested_bytes", &req) && req > 0;
        o->gpu_util = NAN;
        if (iw_json_get_f64(st, "gpu_memory_utilization", &d) && d > 0 && d <= 1)
            o->gpu_util = d;
        else if (has_total && has_req && req <= total)
            o->gpu_util = req / total;
        if (has_total)
            o->vram_bytes = (int64_t)llround(total);
        else if (has_req && isfinite(o->gpu_util))
            o->vram_bytes = (int64_t)llround(req / o->gpu_util);
        if ((s = iw_json_get_str(st, "kv_cache_dtype")) && iw_kv_dtype_parse(s, &o->kv_dtype) < 0) {
            iw_error_clear();
            o->kv_dtype = IW_KV_AUTO;
        }
        if (o->kv_dtype == IW_KV_Q8_0 || o->kv_dtype == IW_KV_Q4_0)
            o->kv_dtype = IW_KV_AUTO;
        if ((s = iw_json_get_str(st, "dtype")) && iw_dtype_parse(s, &ov->dtype) < 0) {
            iw_error_clear();
            ov->dtype = IW_DTYPE_AUTO;
        }
        ov->quantization = quant_override(iw_json_get_str(st, "quantization"));
    } else {
        o->engine = IW_ENGINE_LLAMACPP;
        o->tp = 1;
        o->vllm_version = 0;
        o->vllm_rules = NULL;
        int64_t n_ctx = 0, n_seq = 0, per = 0;
        bool has_ctx = get_count(st, "n_ctx", 1, (int64_t)1 << 31, &n_ctx);
        bool has_per = get_count(st, "n_ctx_seq", 1, (int64_t)1 << 31, &per);
        if (!get_count(st, "n_seq", 1, 1 << 20, &n_seq))
            n_seq = has_ctx && has_per && per > 0 ? (n_ctx / per > 0 ? n_ctx / per : 1) : 1;
        o->batch = n_seq;
        if (has_per)
            o->context = per;
        else if (has_ctx)
            o->context = n_ctx / n_seq > 0 ? n_ctx / n_seq : 1;
        o->n_ubatch = get_count(st, "n_ubatch", 1, 1 << 20, &v) ? v : IW_UNKNOWN;
        o->n_gpu_layers = get_count(st, "n_gpu_layers", 0, 100000, &v) ? v : IW_UNKNOWN;
        const cJSON *fa = cJSON_GetObjectItemCaseSensitive(st, "flash_attn");
        o->flash_attn = cJSON_IsTrue(fa) ? 1 : cJSON_IsFalse(fa) ? 0 : cJSON_IsString(fa) ? 1 : -1;
        if ((s = iw_json_get_str(st, "type_k")) && iw_kv_dtype_parse(s, &o->kv_dtype) < 0) {
            iw_error_clear();
            o->kv_dtype = IW_KV_AUTO;
        }
        if (o->kv_dtype == IW_KV_FP8)
            o->kv_dtype = IW_KV_AUTO;
    }
    return 0;
}

static double term_bytes(const iw_estimate *e, const char *name, bool *found)
{
    for (size_t i = 0; i < e->n_terms; i++)
        if (!strcmp(e->terms[i].name, name)) {
            if (found)
                *found = true;
            return (double)e->terms[i].bytes;
        }
    return 0;
}

/* Only terms the estimate labels heuristic are corrected (estimate.c
 * apply_calibration uses the same test). */
static bool term_heuristic(const iw_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_terms; i++)
        if (!strcmp(e->terms[i].name, name))
            return !strncmp(e->terms[i].source, "heuristic", 9);
    return false;
}

static double host_term_bytes(const iw_estimate *e, const char *name, bool *found)
{
    for (size_t i = 0; i < e->n_host_terms; i++)
        if (!strcmp(e->host_terms[i].name, name)) {
            *found = true;
            return (double)e->host_terms[i].bytes;
        }
    return 0;
}

/* The estimate's figure for a measured key; false when it has none. */
static bool predicted_of(const iw_estimate *e, const char *key, double *out)
{
    bool f = false;
    bool vllm = e->in.engine == IW_ENGINE_VLLM;
    if (vllm && !strcmp(key, "weights_bytes")) {
        *out = term_bytes(e, "weights", &f) + term_bytes(e, "rope_cache", NULL) + term_bytes(e, "vision", NULL) +
               term_bytes(e, "load_residual", NULL);
        return f;
    }
    if (vllm && !strcmp(key, "activation_bytes")) {
        *out = term_bytes(e, "activations", &f);
        return f;
    }
    if (vllm && !strcmp(key, "non_torch_bytes")) {
        *out = term_bytes(e, "non_torch", &f);
        return f;
    }
    if (vllm && !strcmp(key, "cuda_graph_bytes")) {
        *out = term_bytes(e, "cuda_graphs", &f);
        return f;
    }
    if (vllm && !strcmp(key, "kv_available_bytes") && e->budget != IW_UNKNOWN) {
        *out = (double)e->kv_available_bytes;
        return true;
    }
    if (vllm && !strcmp(key, "kv_tokens") && e->kv_capacity_tokens != IW_UNKNOWN) {
        *out = (double)e->kv_capacity_tokens;
        return true;
    }
    if (vllm && !strcmp(key, "kv_blocks") && e->kv_capacity_tokens != IW_UNKNOWN && e->kv_block_tokens > 0) {
        *out = (double)(e->kv_capacity_tokens / e->kv_block_tokens);
        return true;
    }
    if (vllm && !strcmp(key, "requested_bytes") && e->budget != IW_UNKNOWN) {
        *out = (double)e->budget;
        return true;
    }
    if (vllm && !strcmp(key, "non_kv_bytes") && e->budget != IW_UNKNOWN) {
        *out = (double)e->budget - (double)e->kv_available_bytes;
        return true;
    }
    if (!vllm && !strcmp(key, "model_buffer_bytes")) {
        *out = term_bytes(e, "weights", &f) + term_bytes(e, "load_residual", NULL);
        return f;
    }
    if (!vllm && !strcmp(key, "kv_buffer_bytes")) {
        *out = term_bytes(e, "kv_cache", &f) + term_bytes(e, "state", NULL);
        return f;
    }
    if (!vllm && !strcmp(key, "compute_buffer_bytes")) {
        *out = term_bytes(e, "compute", &f);
        return f;
    }
    /* llama.cpp's host buffers: what stays in host RAM */
    if (!vllm && !strcmp(key, "host_model_buffer_bytes")) {
        *out = host_term_bytes(e, "weights", &f);
        return f;
    }
    if (!vllm && !strcmp(key, "host_kv_buffer_bytes")) {
        *out = host_term_bytes(e, "kv_cache", &f);
        return f;
    }
    if (!vllm && !strcmp(key, "output_buffer_bytes")) {
        *out = host_term_bytes(e, "output", &f);
        return f;
    }
    return false;
}

cJSON *iw_est_start_compare(const iw_estimate *pred, const cJSON *start)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    static const char *const keys[] = {"engine", "engine_version", "observed_at", "observed_from", "source",
                                       "settings", "measured", NULL};
    for (const char *const *k = keys; *k; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(start, *k);
        if (v)
            cJSON_AddItemToObject(o, *k, cJSON_Duplicate(v, 1));
    }
    cJSON *p = cJSON_AddObjectToObject(o, "predicted");
    if (!p) {
        cJSON_Delete(o);
        return NULL;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(start, "measured")) {
        double v;
        if (m->string && predicted_of(pred, m->string, &v))
            cJSON_AddNumberToObject(p, m->string, round(v));
    }
    return o;
}

static bool measured(const cJSON *start, const char *key, double *v, double *res)
{
    const cJSON *me = cJSON_GetObjectItemCaseSensitive(start, "measured");
    if (!iw_json_get_f64(me, key, v) || !isfinite(*v) || *v < 0)
        return false;
    if (res && (!iw_json_get_f64(cJSON_GetObjectItemCaseSensitive(start, "resolution"), key, res) || !(*res > 0)))
        *res = 1;
    return true;
}

/* A start whose engine loaded far more or less than this entry's weights is
 * probably another model's (or another quantization's): say so. */
static void residual_warning(iw_est_calibration *cal, double weights)
{
    double r = fabs((double)cal->residual_bytes);
    if (r > 256.0 * 1048576 && r > 0.1 * weights)
        snprintf(cal->warning, sizeof cal->warning,
                 "the measured start loaded %+.2f GiB beyond this entry's weights (%.2f GiB): is the log from this "
                 "model and quantization?", (double)cal->residual_bytes / 1073741824.0, weights / 1073741824.0);
}

int iw_est_calibration_derive(const iw_estimate *pred, const cJSON *start, iw_est_calibration *cal)
{
    iw_est_calibration_init(cal);
    bool vllm = is_vllm(start);
    if (vllm != (pred->in.engine == IW_ENGINE_VLLM))
        return iw_error_set(IW_EINVAL, "calibration: the start's engine is not the estimate's");
    cal->engine = vllm ? IW_ENGINE_VLLM : IW_ENGINE_LLAMACPP;
    cal->tp = pred->in.tp > 0 ? pred->in.tp : 1;
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(start, "source");
    const char *file = iw_json_get_str(src, "file"), *ver = iw_json_get_str(start, "engine_version");
    const char *when = iw_json_get_str(start, "observed_at");
    int64_t line = 0;
    iw_json_get_i64(src, "line", &line);
    const char *base = file ? strrchr(file, '/') : NULL;
    snprintf(cal->source, sizeof cal->source, "measured %s%s%s start of %s, %s:%lld", vllm ? "vLLM" : "llama.cpp",
             ver ? " " : "", ver ? ver : "", when ? when : "?", base ? base + 1 : file ? file : "?", (long long)line);
    double m, r;
    bool any = false;
    if (vllm) {
        bool fa = false, fn = false, fg = false, fw = false;
        double a_p = term_bytes(pred, "activations", &fa), n_p = term_bytes(pred, "non_torch", &fn);
        double g_p = term_bytes(pred, "cuda_graphs", &fg);
        double w_p = term_bytes(pred, "weights", &fw) + term_bytes(pred, "rope_cache", NULL) +
                     term_bytes(pred, "vision", NULL);
        double a_c = a_p, n_c = n_p, g_c = g_p;
        if (fa && a_p > 0 && measured(start, "activation_bytes", &m, NULL)) {
            cal->activations_ratio = m / a_p;
            a_c = m;
            any = true;
        }
        if (fn && measured(start, "non_torch_bytes", &m, NULL)) {
            cal->has_non_torch = true;
            cal->non_torch_delta = (int64_t)llround(m - n_p);
            n_c = m;
            any = true;
        }
        if (fg && g_p > 0 && !pred->in.enforce_eager && measured(start, "cuda_graph_bytes", &m, NULL)) {
            cal->cuda_graphs_ratio = m / g_p;
            g_c = m;
            any = true;
        }
        double resid = 0;
        bool has_resid = false;
        if (fw && measured(start, "weights_bytes", &m, NULL)) {
            resid = m - w_p;
            has_resid = true;
        }
        /* What vLLM logged pins the memory left for the KV cache: each figure
         * is known to half a unit of its last printed digit, so each gives an
         * interval for it.  Intersected in the order the figures matter (KV
         * memory, KV tokens, loaded weights, the DEBUG non-KV total), skipping
         * one that would leave nothing; the middle of what remains is the
         * target, and the difference to it goes to the residual. */
        const iw_est_profile *R = pred->in.vllm_rules ? pred->in.vllm_rules : pred->in.profile;
        bool graphs_in = R && R->vllm_cuda_graphs_in_budget;
        if (pred->budget != IW_UNKNOWN) {
            double avail_c = (double)pred->kv_available_bytes - (a_c - a_p) - (n_c - n_p) -
                             (graphs_in ? g_c - g_p : 0) - resid;
            double iv[4][2];
            int n_iv = 0;
            double t_m, w_m, w_r, nk, nk_r;
            if (measured(start, "kv_available_bytes", &m, &r)) {
                iv[n_iv][0] = m - r / 2;
                iv[n_iv++][1] = m + r / 2;
            }
            if (measured(start, "kv_tokens", &t_m, NULL) && pred->kv_block_bytes > 0 && pred->kv_block_tokens > 0 &&
                pred->kv_groups > 0 && pred->in.profile && !(pred->in.profile->fragmentation > 1)) {
                /* tokens = floor(floor(avail / block bytes) / groups) x block tokens */
                double bt = (double)pred->kv_block_tokens, g = (double)pred->kv_groups, bb = (double)pred->kv_block_bytes;
                iv[n_iv][0] = floor(t_m / bt) * g * bb;
                iv[n_iv++][1] = (floor(t_m / bt) + 1) * g * bb;
            }
            if (has_resid && measured(start, "weights_bytes", &w_m, &w_r)) {
                iv[n_iv][0] = avail_c - w_r / 2;   /* avail_c already has the measured weights in */
                iv[n_iv++][1] = avail_c + w_r / 2;
            }
            if (measured(start, "non_kv_bytes", &nk, &nk_r)) {
                iv[n_iv][0] = (double)pred->budget - nk - nk_r / 2;
                iv[n_iv++][1] = (double)pred->budget - nk + nk_r / 2;
            }
            if (n_iv > 0 && !(n_iv == 1 && has_resid && iv[0][0] == avail_c - w_r / 2)) {
                double lo = iv[0][0], hi = iv[0][1];
                for (int k = 1; k < n_iv; k++)   /* an overlap of a tenth of the narrower one at least */
                    if (fmin(hi, iv[k][1]) - fmax(lo, iv[k][0]) > 0.1 * fmin(hi - lo, iv[k][1] - iv[k][0])) {
                        lo = fmax(lo, iv[k][0]);
                        hi = fmin(hi, iv[k][1]);
                    }
                resid += avail_c - (lo + hi) / 2;
                has_resid = true;
            }
        }
        if (has_resid) {
            cal->has_residual = true;
            cal->residual_bytes = (int64_t)llround(resid);
            any = true;
            residual_warning(cal, w_p);
        }
    } else {
        /* llama.cpp's cache, graph and tensor bytes are exact: only the
         * heuristic parts (partial offload's layer split and its compute,
         * models whose graph is not replayed) are corrected */
        bool fc = false, fw = false;
        double c_p = term_bytes(pred, "compute", &fc), w_p = term_bytes(pred, "weights", &fw);
        if (fc && c_p > 0 && term_heuristic(pred, "compute") && measured(start, "compute_buffer_bytes", &m, NULL)) {
            cal->compute_ratio = m / c_p;
            any = true;
        }
        if (fw && term_heuristic(pred, "weights") && measured(start, "model_buffer_bytes", &m, NULL)) {
            cal->has_residual = true;
            cal->residual_bytes = (int64_t)llround(m - w_p);
            any = true;
            residual_warning(cal, w_p);
        }
    }
    if (!any)
        return iw_error_set(IW_EINVAL, "calibration: the start measured no figure the estimate models heuristically");
    return 0;
}

cJSON *iw_est_calibration_to_json(const iw_est_calibration *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "source", c->source);
    cJSON_AddStringToObject(o, "engine", iw_engine_name(c->engine));
    if (c->engine == IW_ENGINE_VLLM)
        cJSON_AddNumberToObject(o, "tp", c->tp);
    if (isfinite(c->activations_ratio))
        cJSON_AddNumberToObject(o, "activations_ratio", c->activations_ratio);
    if (c->has_non_torch)
        cJSON_AddNumberToObject(o, "non_torch_delta_bytes", (double)c->non_torch_delta);
    if (isfinite(c->cuda_graphs_ratio))
        cJSON_AddNumberToObject(o, "cuda_graphs_ratio", c->cuda_graphs_ratio);
    if (isfinite(c->compute_ratio))
        cJSON_AddNumberToObject(o, "compute_ratio", c->compute_ratio);
    if (c->has_residual)
        cJSON_AddNumberToObject(o, "load_residual_bytes", (double)c->residual_bytes);
    if (c->warning[0])
        cJSON_AddStringToObject(o, "warning", c->warning);
    return o;
}
