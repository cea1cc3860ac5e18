/* estimate_run.c - the estimate pipeline (catalog.h), shared by `estimate` and `serve`.
 *
 * NAME is a registry entry (metadata.architecture), PATH a local folder or
 * file (extracted), REPO an org/name read remotely by HTTP Range, and
 * ollama:NAME:TAG an Ollama model.  With a budget the inverse answers, the
 * verdict and the recommended launch arguments are produced; --apply writes
 * them into the registry entry; --emit renders a launch configuration
 * (docs/estimate.md).
 */
#include "iwdl/catalog.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/fs.h"
#include "iwdl/json.h"
#include "iwdl/registry.h"
#include "iwdl/schema.h"
#include "iwdl/catalog.h"

#define GIB_D 1073741824.0

void iw_catalog_estimate_request_init(iw_estimate_request *r)
{
    memset(r, 0, sizeof *r);
    iw_est_opts_init(&r->opts);
    iw_est_overrides_init(&r->ov);
}

void iw_catalog_estimate_answer_free(iw_estimate_answer *r)
{
    free(r->error);
    cJSON_Delete(r->json);
    free(r->text);
    free(r->emitted);
    free(r->applied_to);
    free(r->apply_warning);
    memset(r, 0, sizeof *r);
}

static int fail(iw_estimate_answer *res, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(iw_estimate_answer *res, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(res->error);
    if (vasprintf(&res->error, fmt, ap) < 0)
        res->error = NULL;
    va_end(ap);
    res->status = code;
    return code;
}

/* ---- the model ---------------------------------------------------------- */

static bool is_ollama_ref(const char *s)
{
    return !strncmp(s, "ollama:", 7);
}

/* "ollama:NAME:TAG", "ollama:/NAME:TAG", "ollama://NAME:TAG" -> "NAME:TAG" */
static const char *ollama_name(const char *ref)
{
    ref += 7;
    while (*ref == '/')
        ref++;
    return ref;
}

/* A model read from Ollama (its store or its /api/show): Ollama serves it. */
static bool from_ollama(const iw_arch *a)
{
    return a->source && (!strcmp(a->source, "ollama-store") || !strcmp(a->source, "ollama-api"));
}

typedef struct model_ref {
    bool        is_entry;
    const char *backend;      /* the entry's backend (owned by the registry) */
    char       *launch;       /* what an emitted launch loads: path, gguf file, repo, ollama name */
    char       *served_name;  /* the registry name */
    int         port;         /* backend_config.port of the entry, 0 if none */
    cJSON      *starts;       /* a copy of the entry's metadata.architecture.measured_starts, or NULL */
} model_ref;

static void model_ref_free(model_ref *m)
{
    free(m->launch);
    free(m->served_name);
    cJSON_Delete(m->starts);
}

/* The GGUF file the architecture came from ("gguf:/path/x.gguf" in sources),
 * skipping projector files. */
static char *gguf_source(const iw_arch *a)
{
    for (size_t i = 0; i < a->sources.n; i++) {
        const char *s = a->sources.v[i];
        if (!strncmp(s, "gguf:", 5) && !strstr(s, "mmproj"))
            return strdup(s + 5);
    }
    return NULL;
}

static int load_arch(const char *target, iw_registry *reg, bool names_only, iw_arch *a, model_ref *m)
{
    const cJSON *ent = reg ? iw_registry_get(reg, target) : NULL;
    if (ent) {
        m->is_entry = true;
        m->backend = iw_json_get_str(ent, "backend");
        m->served_name = strdup(target);
        const char *dp = iw_json_get_str(ent, "download_path");
        const char *sid = iw_json_get_str(ent, "served_model_id");
        if (dp && is_ollama_ref(dp))
            m->launch = strdup(ollama_name(dp));   /* what `ollama run` and FROM take */
        else if (dp)
            m->launch = strdup(dp);
        else if (sid)
            m->launch = strdup(sid);
        const cJSON *bc = cJSON_GetObjectItemCaseSensitive(ent, "backend_config");
        int64_t port = 0;
        if (bc && iw_json_get_i64(bc, "port", &port) && port > 0 && port < 65536)
            m->port = (int)port;
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(ent, "metadata");
        const cJSON *arch = md ? cJSON_GetObjectItemCaseSensitive(md, "architecture") : NULL;
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(arch, "measured_starts");
        if (cJSON_IsArray(ms) && cJSON_GetArraySize(ms) > 0)
            m->starts = cJSON_Duplicate(ms, 1);
        if (cJSON_IsObject(arch) && arch->child)
            return iw_arch_from_json(arch, a);
        if (dp && (iw_path_exists(dp) || is_ollama_ref(dp))) {
            iw_extract_opts eo = {0};
            return iw_extract_path(dp, &eo, a);
        }
        return iw_error_set(IW_ENOTFOUND, "registry entry '%s' has no metadata.architecture and no "
                            "download_path on disk; run migrate-architecture", target);
    }
    if (names_only)
        return iw_error_set(IW_ENOTFOUND, "no registry entry named '%s'", target);
    if (is_ollama_ref(target) || iw_path_exists(target)) {
        char real[PATH_MAX];
        m->launch = strdup(!is_ollama_ref(target) && realpath(target, real) ? real : target);
        if (is_ollama_ref(target)) {
            free(m->launch);
            m->launch = strdup(ollama_name(target));   /* Ollama's own name:tag */
        }
        iw_extract_opts eo = {0};
        return iw_extract_path(target, &eo, a);
    }
    if (iw_catalog_is_repo_id(target)) {
        m->launch = strdup(target);
        return iw_catalog_inspect(target, NULL, NULL, a, NULL);
    }
    return iw_error_set(IW_ENOTFOUND, "'%s' is not a registry entry, a local path or an org/name repo", target);
}

/* An environment variable, NULL when unset or empty. */
static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The entry's backend_config.port, for a launch of the entry's own engine
 * only: an Ollama entry's 11434 is the Ollama server's, never llama-server's. */
static int port_for_engine(const model_ref *m, iw_engine engine)
{
    iw_engine own;
    if (!m->port || !m->backend || iw_engine_parse(m->backend, &own) < 0) {
        iw_error_clear();
        return 0;
    }
    return own == engine ? m->port : 0;
}

/* ---- text output -------------------------------------------------------- */

static void bar(FILE *f, double v, double scale, int width)
{
    int n = scale > 0 ? (int)lround(v / scale * width) : 0;
    if (n > width)
        n = width;
    if (v > 0 && n == 0)
        n = 1;
    for (int i = 0; i < n; i++)
        fputc('#', f);
    for (int i = n; i < width; i++)
        fputc('.', f);
}

static void print_table(FILE *f, const char *target, const iw_estimate *e, const iw_est_profiles *ps,
                        const iw_ov_result *ovr)
{
    const iw_est_opts *in = &e->in;
    fprintf(f, "model:   %s\n", target);
    fprintf(f, "engine:  %s, context %" PRId64 ", batch %" PRId64 ", kv %s", iw_engine_name(in->engine),
            in->context, in->batch, iw_kv_dtype_name(in->kv_dtype));
    if (in->engine == IW_ENGINE_VLLM)
        fprintf(f, ", tp %d, max_num_batched_tokens %" PRId64 "%s\n", in->tp, in->max_num_batched_tokens,
                in->enforce_eager ? ", enforce_eager" : "");
    else
        fprintf(f, ", n_ubatch %" PRId64 ", n_batch %" PRId64 ", -ngl %" PRId64 ", flash-attn %s, %s\n",
                in->n_ubatch, in->n_batch, in->n_gpu_layers, in->flash_attn == 1 ? "on" : "off",
                in->llama_app == IW_LLAMA_CLI ? "llama-cli" : "llama-server");
    fprintf(f, "dtype:   %s (%s)\n", ovr->dtype, ovr->dtype_source);
    fprintf(f, "profile: %s (%s)\n", in->profile ? in->profile->name : "default", iw_est_profiles_origin(ps));
    if (in->engine == IW_ENGINE_VLLM) {
        const iw_est_profile *vr = in->vllm_rules ? in->vllm_rules : in->profile;
        char lo[32] = "", hi[32] = "";
        if (vr && vr->vllm_min_version)
            iw_vllm_version_format(vr->vllm_min_version, lo, sizeof lo);
        if (vr && vr->vllm_max_version)
            iw_vllm_version_format(vr->vllm_max_version, hi, sizeof hi);
        fprintf(f, "vllm:    rules of '%s' (vLLM %s%s%s%s), max_num_seqs %" PRId64 "\n", vr ? vr->name : "default",
                lo[0] ? lo : "?", hi[0] ? " to before " : " and later", hi, "", in->max_num_seqs);
    }
    for (size_t i = 0; i < ovr->n; i++) {
        const iw_ov_report *r = &ovr->r[i];
        fprintf(f, "%-8s %s%s%s: %s: %s\n", "override", r->flag, r->value[0] ? " " : "", r->value,
                iw_ov_status_name(r->status), r->reason);
    }
    double scale = (double)e->total;
    if (e->budget > 0 && (double)e->budget > scale)
        scale = (double)e->budget;
    fprintf(f, "\n%-13s %10s  %-30s  %s\n", "term", "GiB", "", "source");
    for (size_t i = 0; i < e->n_terms; i++) {
        const iw_est_term *t = &e->terms[i];
        fprintf(f, "%-13s %10.2f  ", t->name, (double)t->bytes / GIB_D);
        bar(f, (double)t->bytes, scale, 30);
        fprintf(f, "  %s\n", t->source);
    }
    fprintf(f, "%-13s %10.2f  ", "total", (double)e->total / GIB_D);
    bar(f, (double)e->total, scale, 30);
    fputc('\n', f);
    if (e->budget > 0) {
        fprintf(f, "%-13s %10.2f  ", "budget", (double)e->budget / GIB_D);
        bar(f, (double)e->budget, scale, 30);
        if (in->engine == IW_ENGINE_VLLM)
            fprintf(f, "  %.2f GiB x gpu_util %.2f -> %s\n", (double)in->vram_bytes / GIB_D, in->gpu_util,
                    e->fits ? "fits" : "DOES NOT FIT");
        else
            fprintf(f, "  -> %s\n", e->fits ? "fits" : "DOES NOT FIT");
    }
    if (in->engine != IW_ENGINE_VLLM && e->host_bytes > 0) {
        fprintf(f, "host RAM:     %10.2f GiB (", (double)e->host_bytes / GIB_D);
        for (size_t i = 0; i < e->n_host_terms; i++)
            fprintf(f, "%s%s %.2f GiB", i ? ", " : "", e->host_terms[i].name, (double)e->host_terms[i].bytes / GIB_D);
        fprintf(f, ")\n");
    }
    fprintf(f, "\nKV per token: %" PRId64 " B (all attention layers, uncapped)", e->kv_bytes_per_token);
    if (e->state_bytes_per_seq > 0)
        fprintf(f, "; recurrent state %" PRId64 " B per sequence", e->state_bytes_per_seq);
    fputc('\n', f);
    fprintf(f, "\nwhy:\n");
    for (size_t i = 0; i < e->n_terms; i++)
        fprintf(f, "  %-13s %s\n", e->terms[i].name, e->terms[i].formula);
    for (size_t i = 0; i < e->warnings.n; i++)
        fprintf(f, "warning: %s\n", e->warnings.v[i]);
}

static void print_verdict(FILE *f, const iw_est_verdict *v)
{
    if (v->fit == IW_FIT_UNKNOWN)
        return;
    char line[256];
    iw_estimate_verdict_summary(v, line, sizeof line);
    fprintf(f, "\nverdict: %s\n", line);
    if (v->n_fixes) {
        fprintf(f, "to fit (cheapest first):\n");
        for (size_t i = 0; i < v->n_fixes; i++) {
            const iw_est_fix *x = &v->fixes[i];
            fprintf(f, "  %-44s total %7.2f GiB  %s\n      gives up: %s\n", x->change, (double)x->total / GIB_D,
                    x->fits ? "fits" : "still over", x->note);
        }
        if (v->cheapest >= 0)
            fprintf(f, "cheapest: %s\n", v->fixes[v->cheapest].change);
        else
            fprintf(f, "cheapest: none of these fits\n");
    }
}

/* ---- measured starts and calibration ----------------------------------- */

static bool same_family(const cJSON *start, iw_engine e)
{
    const char *se = iw_json_get_str(start, "engine");
    return se && (!strcmp(se, "vllm") ? e == IW_ENGINE_VLLM : e != IW_ENGINE_VLLM);
}

/* Predict one start at its own settings (with `cal` when not NULL). */
static int predict_start(const iw_arch *a0, const cJSON *start, const iw_est_profiles *ps, const iw_est_opts *o,
                         const iw_est_overrides *ov, const iw_est_calibration *cal, iw_estimate *pe)
{
    iw_est_opts so;
    iw_est_overrides sov;
    iw_arch sa;
    iw_ov_result sr;
    iw_arch_init(&sa);
    int rc = iw_est_start_opts(start, ps, o, ov, &so, &sov);
    if (rc == 0 && (rc = iw_arch_copy(&sa, a0)) == 0) {
        sov.engine = so.engine;
        so.calibration = cal;
        memset(&sr, 0, sizeof sr);
        if ((rc = iw_estimate_apply_overrides(&sa, &sov, &sr)) == 0)
            rc = iw_estimate_compute(&sa, &so, pe);
    }
    iw_arch_free(&sa);
    return rc;
}

/* "calibration": {"starts": [...], "correction": {...} | null, "note"} and
 * its text lines; sets *cal (and *have_cal) for --calibrate. */
static int calibration_block(const iw_arch *a0, const cJSON *starts, const iw_est_profiles *ps, const iw_est_opts *o,
                             const iw_est_overrides *ov, bool calibrate, iw_est_calibration *cal, bool *have_cal,
                             cJSON **out, FILE *tf)
{
    *have_cal = false;
    cJSON *cj = cJSON_CreateObject();
    cJSON *arr = cj ? cJSON_AddArrayToObject(cj, "starts") : NULL;
    if (!arr) {
        cJSON_Delete(cj);
        return iw_error_set(IW_ENOMEM, "estimate: out of memory");
    }
    *out = cj;
    int chosen = -1, i = 0;
    const cJSON *st;
    if (calibrate)
        cJSON_ArrayForEach(st, starts) {
            if (chosen < 0 && cJSON_IsObject(st) && same_family(st, o->engine))
                chosen = i;
            i++;
        }
    /* the correction first, so the chosen start also shows it reproduced */
    if (chosen >= 0) {
        iw_estimate pe;
        iw_estimate_init(&pe);
        const cJSON *cs = cJSON_GetArrayItem(starts, chosen);
        if (predict_start(a0, cs, ps, o, ov, NULL, &pe) == 0 && iw_est_calibration_derive(&pe, cs, cal) == 0)
            *have_cal = true;
        else
            cJSON_AddStringToObject(cj, "note", iw_error_last());
        iw_estimate_free(&pe);
    }
    int n = cJSON_GetArraySize(starts);
    fprintf(tf, "\ncalibration: %d measured start%s (newest first; measured / predicted at the start's settings)\n", n,
            n == 1 ? "" : "s");
    i = 0;
    cJSON_ArrayForEach(st, starts) {
        if (i >= IW_MEASURED_STARTS_MAX || !cJSON_IsObject(st))
            break;
        iw_estimate pe;
        iw_estimate_init(&pe);
        cJSON *cmp = NULL;
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(st, "source");
        const char *file = iw_json_get_str(src, "file"), *ver = iw_json_get_str(st, "engine_version");
        const char *fb = file && strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        int64_t line = 0;
        iw_json_get_i64(src, "line", &line);
        fprintf(tf, "  %s%s%s start of %s (%s:%" PRId64 ")", iw_json_get_str(st, "engine") ? iw_json_get_str(st, "engine") : "?",
                ver ? " " : "", ver ? ver : "", iw_json_get_str(st, "observed_at") ? iw_json_get_str(st, "observed_at") : "?",
                fb ? fb : "?", line);
        if (predict_start(a0, st, ps, o, ov, NULL, &pe) < 0) {
            cmp = cJSON_CreateObject();
            if (cmp) {
                cJSON_AddItemToObject(cmp, "source", cJSON_Duplicate(src, 1));
                cJSON_AddStringToObject(cmp, "error", iw_error_last());
            }
            fprintf(tf, ": cannot predict: %s\n", iw_error_last());
        } else {
            cmp = iw_est_start_compare(&pe, st);
            fprintf(tf, ":");
            if (pe.in.engine == IW_ENGINE_VLLM)
                fprintf(tf, " tp %d, max_model_len %" PRId64 ", util %.2f, max_num_seqs %" PRId64
                        ", max_num_batched_tokens %" PRId64 "%s", pe.in.tp, pe.in.context, pe.in.gpu_util,
                        pe.in.max_num_seqs, pe.in.max_num_batched_tokens, pe.in.enforce_eager ? ", eager" : "");
            else
                fprintf(tf, " n_ctx %" PRId64 " x %" PRId64 " seq, n_ubatch %" PRId64 ", flash-attn %s", pe.in.context,
                        pe.in.batch, pe.in.n_ubatch, pe.in.flash_attn == 1 ? "on" : "off");
            if (pe.in.vram_bytes != IW_UNKNOWN)
                fprintf(tf, ", GPU %.2f GiB", (double)pe.in.vram_bytes / GIB_D);
            fputc('\n', tf);
            iw_estimate ce;
            iw_estimate_init(&ce);
            cJSON *calj = NULL;
            if (i == chosen && *have_cal && predict_start(a0, st, ps, o, ov, cal, &ce) == 0) {
                cJSON *tmp = iw_est_start_compare(&ce, st);
                if (tmp && cmp) {
                    calj = cJSON_DetachItemFromObjectCaseSensitive(tmp, "predicted");
                    cJSON_AddItemToObject(cmp, "calibrated", calj);
                }
                cJSON_Delete(tmp);
            }
            const cJSON *me = cJSON_GetObjectItemCaseSensitive(cmp, "measured");
            const cJSON *pr = cJSON_GetObjectItemCaseSensitive(cmp, "predicted");
            /* each engine's own unit: vLLM prints GiB, llama.cpp MiB */
            bool mib = pe.in.engine != IW_ENGINE_VLLM;
            double unit = mib ? 1048576.0 : GIB_D;
            const char *un = mib ? "MiB" : "GiB";
            const cJSON *mi;
            cJSON_ArrayForEach(mi, me) {
                if (!mi->string || !cJSON_IsNumber(mi))
                    continue;
                bool count = strstr(mi->string, "tokens") || strstr(mi->string, "blocks");
                const cJSON *pj = cJSON_GetObjectItemCaseSensitive(pr, mi->string);
                const cJSON *cjv = cJSON_GetObjectItemCaseSensitive(calj, mi->string);
                size_t ln = strlen(mi->string);
                int keep = !count && ln > 6 && !strcmp(mi->string + ln - 6, "_bytes") ? (int)ln - 6 : (int)ln;
                fprintf(tf, "    %-20.*s measured ", keep, mi->string);
                const cJSON *vals[3] = {mi, pj, cjv};
                const char *lab[3] = {"", "  predicted ", "  calibrated "};
                for (int k = 0; k < 3; k++) {
                    if (!cJSON_IsNumber(vals[k])) {
                        if (k == 1)
                            fprintf(tf, "  predicted (not modelled)");
                        continue;
                    }
                    if (count)
                        fprintf(tf, "%s%10.0f", lab[k], vals[k]->valuedouble);
                    else
                        fprintf(tf, "%s%9.2f %s", lab[k], vals[k]->valuedouble / unit, un);
                    if (k == 1 && mi->valuedouble > 0)
                        fprintf(tf, " (%+.1f%%)", (pj->valuedouble - mi->valuedouble) / mi->valuedouble * 100);
                }
                fputc('\n', tf);
            }
            iw_estimate_free(&ce);
        }
        if (cmp)
            cJSON_AddItemToArray(arr, cmp);
        iw_estimate_free(&pe);
        i++;
    }
    if (*have_cal) {
        cJSON_AddItemToObject(cj, "correction", iw_est_calibration_to_json(cal));
        fprintf(tf, "  corrected (--calibrate, from the %s):", cal->source);
        if (isfinite(cal->activations_ratio))
            fprintf(tf, " activations x %.4f;", cal->activations_ratio);
        if (cal->has_non_torch)
            fprintf(tf, " non_torch %+.1f MiB;", (double)cal->non_torch_delta / 1048576.0);
        if (isfinite(cal->cuda_graphs_ratio))
            fprintf(tf, " cuda_graphs x %.4f;", cal->cuda_graphs_ratio);
        if (isfinite(cal->compute_ratio))
            fprintf(tf, " compute x %.4f;", cal->compute_ratio);
        if (cal->has_residual)
            fprintf(tf, " load_residual %+.1f MiB%s", (double)cal->residual_bytes / 1048576.0,
                    cal->engine == IW_ENGINE_VLLM ? (cal->tp > 1 ? " at tp > 1: x start tp / tp" : " (x 1 / tp)") : "");
        fputc('\n', tf);
    } else {
        cJSON_AddNullToObject(cj, "correction");
        if (calibrate) {
            const cJSON *note = cJSON_GetObjectItemCaseSensitive(cj, "note");
            if (!note) {
                char buf[160];
                snprintf(buf, sizeof buf, "no measured start of %s for this entry: not calibrated",
                         o->engine == IW_ENGINE_VLLM ? "vLLM" : "llama.cpp/Ollama");
                cJSON_AddStringToObject(cj, "note", buf);
            }
            fprintf(tf, "  not calibrated: %s\n", iw_json_get_str(cj, "note"));
        }
    }
    cJSON_AddBoolToObject(cj, "applied", *have_cal);
    return 0;
}

/* ---- the run ------------------------------------------------------------ */

static bool kind_matches(iw_emit_kind k, iw_engine e)
{
    switch (k) {
    case IW_EMIT_VLLM:
    case IW_EMIT_COMPOSE:  return e == IW_ENGINE_VLLM;
    case IW_EMIT_LLAMACPP: return e == IW_ENGINE_LLAMACPP;
    case IW_EMIT_OLLAMA:   return e == IW_ENGINE_OLLAMA;
    }
    return false;
}

static iw_engine engine_of_kind(iw_emit_kind k)
{
    return k == IW_EMIT_LLAMACPP ? IW_ENGINE_LLAMACPP : k == IW_EMIT_OLLAMA ? IW_ENGINE_OLLAMA : IW_ENGINE_VLLM;
}

/* Launch arguments the overrides add for vLLM (so --apply launches what was estimated). */
static int override_args(iw_engine eng, const iw_ov_result *ovr, iw_strlist *args)
{
    if (eng != IW_ENGINE_VLLM)
        return 0;
    int rc = iw_ov_vllm_args(ovr, args);
    if (!rc && ovr->trust_remote_code && iw_strlist_push(args, "--trust-remote-code") < 0)
        rc = IW_ENOMEM;
    return rc;
}

static cJSON *overrides_json(const iw_ov_result *ovr)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < ovr->n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "flag", ovr->r[i].flag);
        cJSON_AddStringToObject(o, "value", ovr->r[i].value);
        cJSON_AddStringToObject(o, "status", iw_ov_status_name(ovr->r[i].status));
        cJSON_AddStringToObject(o, "reason", ovr->r[i].reason);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* ---- the run, step by step ------------------------------------------- */

/* The budget (--gpu) and the profile (--profile, the GPU's, else the
 * set's default; a vLLM version's rules); -1 with res filled when refused. */
static int resolve_profile(const iw_estimate_request *req, iw_est_profiles *ps, iw_est_opts *o, iw_estimate_answer *res)
{
    const char *prof_name = req->profile;
    if (req->gpu) {
        const iw_est_gpu_spec *g = iw_est_profiles_gpu(ps, req->gpu);
        if (!g) {
            fail(res, 2, "unknown GPU '%s' (see --gpu list, or give --vram SIZE)", req->gpu);
            return -1;
        }
        o->vram_bytes = g->bytes;
        o->gpu_name = g->name;
        if (!prof_name && g->profile[0])
            prof_name = g->profile;
    }
    if (o->engine == IW_ENGINE_VLLM && o->vllm_version) {
        char vb[32];
        iw_vllm_version_format(o->vllm_version, vb, sizeof vb);
        if (!(o->vllm_rules = iw_est_profiles_for_vllm(ps, o->vllm_version))) {
            fail(res, 2, "no profile covers vLLM %s (see --profile list; profiles name their versions in "
                 "vllm.versions)", vb);
            return -1;
        }
    }
    if (!(o->profile = iw_est_profiles_get(ps, prof_name))) {
        fail(res, 2, "unknown profile '%s' (see --profile list)", prof_name ? prof_name : "");
        return -1;
    }
    return 0;
}

/* The engine: asked, else --emit's, the entry's backend, Ollama for a model
 * read from Ollama, llama.cpp for a GGUF, else vLLM; then the options it
 * refuses.  -1 with res filled when refused. */
static int choose_engine(const iw_estimate_request *req, const model_ref *m, const iw_arch *a, iw_est_opts *o,
                         iw_estimate_answer *res)
{
    if (req->emit_set && req->engine_set && !kind_matches(req->emit, o->engine)) {
        fail(res, 2, "--emit %s does not match --engine %s", iw_emit_kind_name(req->emit), iw_engine_name(o->engine));
        return -1;
    }
    if (!req->engine_set) {
        if (req->emit_set)
            o->engine = engine_of_kind(req->emit);
        else if (m->backend && iw_engine_parse(m->backend, &o->engine) == 0)
            ;
        else if (from_ollama(a))
            o->engine = IW_ENGINE_OLLAMA;
        else if (iw_arch_is_gguf(a))
            o->engine = IW_ENGINE_LLAMACPP;
        else
            o->engine = IW_ENGINE_VLLM;
        iw_error_clear();
    }
    if (o->engine == IW_ENGINE_VLLM && (o->kv_dtype == IW_KV_Q8_0 || o->kv_dtype == IW_KV_Q4_0)) {
        fail(res, 2, "--kv-dtype %s is for llama.cpp/Ollama; vLLM takes auto, fp16, bf16 or fp8",
             iw_kv_dtype_name(o->kv_dtype));
        return -1;
    }
    if (o->engine != IW_ENGINE_VLLM && o->kv_dtype == IW_KV_FP8) {
        fail(res, 2, "llama.cpp has no fp8 KV cache; use --kv-dtype q8_0");
        return -1;
    }
    if (o->engine != IW_ENGINE_VLLM && o->tp != 1) {
        fail(res, 2, "--tp applies to vLLM only");
        return -1;
    }
    return 0;
}

/* What the budget allows: the inverse (largest context, largest batch), the
 * recommended context and concurrency (the engine's cap may decide it) and
 * their launch arguments. */
typedef struct est_fit {
    bool    have_budget, weights_too_big;
    double  w_gpu;                      /* the weights term on the GPU */
    int64_t max_ctx, max_batch, rec_ctx, rec_batch;
    int64_t cap, mem_batch;             /* mem_batch > 0: the engine's cap, not memory, decided */
    char    cap_why[200];
} est_fit;

static int size_to_budget(const iw_estimate_request *req, bool ctx_from_ollama, const iw_arch *a, const iw_est_opts *o,
                          const iw_estimate *e, const iw_ov_result *ovr, iw_strlist *args, const char *target, est_fit *f,
                          iw_estimate_answer *res)
{
    memset(f, 0, sizeof *f);
    f->max_ctx = f->max_batch = IW_UNKNOWN;
    f->have_budget = o->vram_bytes != IW_UNKNOWN;
    for (size_t i = 0; i < e->n_terms; i++)
        if (!strcmp(e->terms[i].name, "weights"))
            f->w_gpu = (double)e->terms[i].bytes;
    f->weights_too_big = f->have_budget && f->w_gpu > (double)e->budget;
    if (f->have_budget && !f->weights_too_big) {
        if (iw_estimate_max_context(a, o, e->in.batch, &f->max_ctx) < 0 ||
            iw_estimate_max_batch(a, o, e->in.context, &f->max_batch) < 0) {
            fail(res, 1, "%s: %s", target, iw_error_last());
            return -1;
        }
        if (req->ctx_set || ctx_from_ollama) {   /* the model's num_ctx is what it is asked for */
            f->rec_ctx = e->in.context;
            f->rec_batch = req->batch_set ? (e->fits ? e->in.batch : 0) : f->max_batch;
        } else {
            f->rec_ctx = f->max_ctx;
            f->rec_batch = e->in.batch;
            /* the model maximum fits: offer the concurrency at that context */
            if (!req->batch_set && f->max_ctx > 0 && f->max_ctx == e->max_context &&
                iw_estimate_max_batch(a, o, f->max_ctx, &f->rec_batch) < 0) {
                fail(res, 1, "%s: %s", target, iw_error_last());
                return -1;
            }
        }
        /* the engine's limit, not memory, may decide the concurrency */
        f->cap = iw_estimate_batch_cap(e, a, req->gpu, f->cap_why, sizeof f->cap_why);
        if (f->rec_batch > f->cap) {
            f->mem_batch = f->rec_batch;
            f->rec_batch = f->cap;
        }
        if (f->rec_ctx > 0 && f->rec_batch > 0 &&
            (iw_estimate_recommend(e, f->rec_ctx, f->rec_batch, args) < 0 || override_args(o->engine, ovr, args) < 0)) {
            fail(res, 1, "%s: %s", target, iw_error_last());
            return -1;
        }
    }
    return 0;
}

/* The entry's measured starts, each predicted at its own settings (a0: the
 * architecture before this request's overrides); with --calibrate the
 * correction from the newest start of this engine (*have_cal).  *calj the
 * JSON block, *ctext its text; -1 with res filled on failure. */
static int measured_starts(const iw_estimate_request *req, const model_ref *m, const iw_arch *a, const iw_est_profiles *ps,
                           const iw_est_opts *o, const iw_est_overrides *ov, const char *target, iw_arch *a0,
                           iw_est_calibration *cal, bool *have_cal, cJSON **calj, char **ctext, iw_estimate_answer *res)
{
    size_t ctext_len = 0;
    if (m->starts) {
        FILE *cf = open_memstream(ctext, &ctext_len);
        int crc = cf && iw_arch_copy(a0, a) == 0
                ? calibration_block(a0, m->starts, ps, o, ov, req->calibrate, cal, have_cal, calj, cf)
                : iw_error_set(IW_ENOMEM, "estimate: out of memory");
        if (cf)
            fclose(cf);
        if (crc < 0) {
            fail(res, 1, "%s: %s", target, iw_error_last());
            return -1;
        }
    } else if (req->calibrate) {
        const char *why = m->is_entry ? "the entry has no measured starts (reconcile-architecture --engine-log FILE "
                                        "stores them): not calibrated"
                                      : "--calibrate needs a registry entry NAME with measured starts: not calibrated";
        if ((*calj = cJSON_CreateObject())) {
            cJSON_AddArrayToObject(*calj, "starts");
            cJSON_AddNullToObject(*calj, "correction");
            cJSON_AddStringToObject(*calj, "note", why);
            cJSON_AddBoolToObject(*calj, "applied", false);
        }
        if (asprintf(ctext, "\ncalibration: %s\n", why) < 0)
            *ctext = NULL;
    }
    return 0;
}

/* The --json document (res->json; takes *calj). */
static int result_json(const iw_estimate_request *req, const iw_estimate *e, const char *target, const iw_est_opts *o,
                       const iw_est_profiles *ps, const iw_ov_result *ovr, cJSON **calj, const est_fit *fit,
                       const iw_strlist *args, const iw_est_verdict *v, iw_estimate_answer *res)
{
    cJSON *out = iw_estimate_to_json(e);
    if (!out) {
        fail(res, 1, "estimate: out of memory");
        return -1;
    }
    res->json = out;
    cJSON_AddStringToObject(out, "model", target);
    cJSON *pj = cJSON_AddObjectToObject(out, "profile");
    if (pj) {
        cJSON_AddStringToObject(pj, "name", o->profile->name);
        cJSON_AddStringToObject(pj, "description", o->profile->description);
        cJSON_AddStringToObject(pj, "origin", iw_est_profiles_origin(ps));
    }
    cJSON *dj = cJSON_AddObjectToObject(out, "dtype");
    if (dj) {
        cJSON_AddStringToObject(dj, "value", ovr->dtype);
        cJSON_AddStringToObject(dj, "source", ovr->dtype_source);
    }
    cJSON_AddItemToObject(out, "overrides", overrides_json(ovr));
    if (*calj) {
        cJSON_AddItemToObject(out, "calibration", *calj);
        *calj = NULL;
    }
    cJSON_AddBoolToObject(out, "trust_remote_code", ovr->trust_remote_code);
    cJSON *inv = cJSON_AddObjectToObject(out, "inverse");
    if (inv && fit->max_ctx != IW_UNKNOWN) {
        cJSON_AddNumberToObject(inv, "max_context", (double)fit->max_ctx);
        cJSON_AddNumberToObject(inv, "max_context_at_batch", (double)e->in.batch);
        cJSON_AddNumberToObject(inv, "max_batch", (double)fit->max_batch);
        cJSON_AddNumberToObject(inv, "max_batch_at_context", (double)e->in.context);
    } else if (inv) {
        cJSON_AddNullToObject(inv, "max_context");
        cJSON_AddNullToObject(inv, "max_batch");
    }
    cJSON *rec = cJSON_AddObjectToObject(out, "recommended");
    cJSON *ra = rec ? cJSON_AddArrayToObject(rec, "args") : NULL;
    for (size_t i = 0; ra && i < args->n; i++)
        cJSON_AddItemToArray(ra, cJSON_CreateString(args->v[i]));
    if (rec && fit->rec_ctx > 0 && fit->rec_batch > 0) {
        cJSON_AddNumberToObject(rec, "context", (double)fit->rec_ctx);
        cJSON_AddNumberToObject(rec, "batch", (double)fit->rec_batch);
        if (fit->mem_batch > 0) {
            cJSON *cj = cJSON_AddObjectToObject(rec, "batch_cap");
            if (cj) {
                cJSON_AddNumberToObject(cj, "value", (double)fit->cap);
                cJSON_AddStringToObject(cj, "reason", fit->cap_why);
                cJSON_AddNumberToObject(cj, "memory_allows", (double)fit->mem_batch);
            }
        }
    }
    if (fit->have_budget)
        cJSON_AddItemToObject(out, "verdict", iw_estimate_verdict_to_json(v));
    if (req->emit_set) {
        cJSON *ej = cJSON_AddObjectToObject(out, "emit");
        if (ej) {
            cJSON_AddStringToObject(ej, "kind", iw_emit_kind_name(req->emit));
            if (res->emitted)
                cJSON_AddStringToObject(ej, "text", res->emitted);
            else
                cJSON_AddNullToObject(ej, "text");
        }
    }
    return 0;
}

/* The human table (res->text): terms, calibration, inverse, recommendation,
 * verdict. */
static int result_text(const char *target, const iw_estimate *e, const iw_est_profiles *ps, const iw_ov_result *ovr,
                       const char *ctext, const est_fit *fit, const iw_strlist *args, const iw_est_verdict *v,
                       iw_estimate_answer *res)
{
    char *text = NULL;
    size_t text_len = 0;
    FILE *tf = open_memstream(&text, &text_len);
    if (!tf) {
        fail(res, 1, "estimate: out of memory");
        return -1;
    }
    print_table(tf, target, e, ps, ovr);
    if (ctext)
        fputs(ctext, tf);
    if (fit->have_budget && !fit->weights_too_big) {
        fprintf(tf, "\ninverse (budget %.2f GiB):\n", (double)e->budget / GIB_D);
        if (fit->max_ctx > 0)
            fprintf(tf, "  max context at batch %" PRId64 ": %" PRId64 " tokens%s\n", e->in.batch, fit->max_ctx,
                    fit->max_ctx == e->max_context ? " (the model's maximum)" : "");
        else
            fprintf(tf, "  max context at batch %" PRId64 ": none fits\n", e->in.batch);
        fprintf(tf, "  max concurrency at context %" PRId64 ": %" PRId64 " sequence%s\n", e->in.context, fit->max_batch,
                fit->max_batch == 1 ? "" : "s");
        if (e->kv_capacity_tokens != IW_UNKNOWN)
            fprintf(tf, "  KV cache pool: %" PRId64 " tokens\n", e->kv_capacity_tokens);
        if (args->n) {
            fprintf(tf, "recommended:");
            for (size_t i = 0; i < args->n; i++)
                fprintf(tf, " %s", args->v[i]);
            fprintf(tf, "\n");
        }
        if (fit->mem_batch > 0)
            fprintf(tf, "  concurrency capped at %" PRId64 " (memory allows %" PRId64 "): %s\n", fit->cap, fit->mem_batch,
                    fit->cap_why);
    }
    print_verdict(tf, v);
    fclose(tf);
    res->text = text;
    return 0;
}

static int run(iw_registry *reg, const iw_estimate_request *req, iw_estimate_answer *res)
{
    memset(res, 0, sizeof *res);
    iw_est_profiles *ps = NULL;
    iw_arch a;
    iw_arch_init(&a);
    iw_estimate e;
    iw_estimate_init(&e);
    iw_strlist args = {0};
    model_ref m = {0};
    iw_ov_result ovr;
    memset(&ovr, 0, sizeof ovr);
    iw_est_verdict v;
    memset(&v, 0, sizeof v);
    v.cheapest = -1;
    iw_est_opts o = req->opts;
    iw_est_overrides ov = req->ov;
    const char *target = req->target;
    iw_arch a0;
    iw_arch_init(&a0);
    iw_est_calibration cal;
    iw_est_calibration_init(&cal);
    bool have_cal = false;
    cJSON *calj = NULL;
    char *ctext = NULL;

    if (!target || !*target) {
        fail(res, 2, "expected one NAME, PATH or REPO");
        goto done;
    }
    if (iw_est_profiles_load(&ps, req->profiles_file) < 0) {
        fail(res, 1, "profiles: %s", iw_error_last());
        goto done;
    }
    if (resolve_profile(req, ps, &o, res) < 0)
        goto done;
    if (req->apply && o.vram_bytes == IW_UNKNOWN) {
        fail(res, 2, "--apply needs a budget (--vram SIZE or --gpu NAME)");
        goto done;
    }
    if (load_arch(target, reg, req->names_only, &a, &m) < 0) {
        const char *msg = iw_error_last();
        if (strstr(msg, target))
            fail(res, 1, "%s", msg);
        else
            fail(res, 1, "%s: %s", target, msg);
        goto done;
    }
    if (req->apply && !m.is_entry) {
        fail(res, 2, "--apply needs a registry entry NAME ('%s' is not one)", target);
        goto done;
    }
    if (choose_engine(req, &m, &a, &o, res) < 0)
        goto done;
    /* Ollama serves a model at the num_ctx its manifest (or Modelfile) sets */
    bool ctx_from_ollama = false;
    if (o.engine == IW_ENGINE_OLLAMA && !req->ctx_set && a.ollama_num_ctx > 0) {
        o.context = a.ollama_num_ctx;
        ctx_from_ollama = true;
    }
    ov.engine = o.engine;
    /* measured starts: each predicted at its own settings from the entry's
     * architecture (before this request's overrides); --calibrate takes the
     * corrections of the newest start of this engine */
    if (measured_starts(req, &m, &a, ps, &o, &ov, target, &a0, &cal, &have_cal, &calj, &ctext, res) < 0)
        goto done;
    if (have_cal)
        o.calibration = &cal;
    if (iw_estimate_apply_overrides(&a, &ov, &ovr) < 0) {
        fail(res, 2, "%s", iw_error_last());
        goto done;
    }
    if (iw_estimate_compute(&a, &o, &e) < 0) {
        fail(res, 1, "%s: %s", target, iw_error_last());
        goto done;
    }
    if (ctx_from_ollama)
        iw_strlist_pushf(&e.warnings, "context %lld is the model's Ollama num_ctx (its params); give --context to "
                         "change it", (long long)a.ollama_num_ctx);

    est_fit fit;
    if (size_to_budget(req, ctx_from_ollama, &a, &o, &e, &ovr, &args, target, &fit, res) < 0)
        goto done;
    if (fit.have_budget && iw_estimate_verdict(&a, &o, &e, &v) < 0) {
        fail(res, 1, "%s: verdict: %s", target, iw_error_last());
        goto done;
    }
    bool fits_somehow = !fit.have_budget || (!fit.weights_too_big && fit.rec_ctx > 0 && fit.rec_batch > 0);

    /* --emit: the recommended values with a budget, else what was asked */
    if (req->emit_set && fits_somehow) {
        char *gg = NULL;
        const char *launch = m.launch;
        if (o.engine == IW_ENGINE_LLAMACPP && (gg = gguf_source(&a)))
            launch = gg;
        if (!launch) {
            free(gg);
            fail(res, 1, "%s: no path, file or repo to launch", target);
            goto done;
        }
        iw_emit_input ei = {
            .model = launch, .served_name = m.served_name, .port = req->port > 0 ? req->port : port_for_engine(&m, o.engine),
            .context = fit.have_budget ? fit.rec_ctx : e.in.context, .batch = fit.have_budget ? fit.rec_batch : e.in.batch,
            .num_layers = a.num_layers > 0 ? a.num_layers : 0, .ov = &ovr,
            .hf_home = env_or_null("HF_HOME"), .hf_hub_cache = env_or_null("HF_HUB_CACHE"),
            .hf_endpoint = env_or_null("HF_ENDPOINT"),
        };
        int rc = iw_estimate_emit(req->emit, &e, &ei, &res->emitted);
        free(gg);
        if (rc < 0) {
            fail(res, 1, "%s: %s", target, iw_error_last());
            goto done;
        }
    }

    if (result_json(req, &e, target, &o, ps, &ovr, &calj, &fit, &args, &v, res) < 0 ||
        result_text(target, &e, ps, &ovr, ctext, &fit, &args, &v, res) < 0)
        goto done;

    if (fit.weights_too_big) {
        fail(res, 1, "%s: does not fit: weights alone need %.2f GiB on a %.2f GiB budget", target, fit.w_gpu / GIB_D,
             (double)e.budget / GIB_D);
        goto done;
    }
    if (fit.have_budget && (fit.rec_ctx <= 0 || fit.rec_batch <= 0)) {
        fail(res, 1, "%s: does not fit: %.2f GiB needed at context %" PRId64 " x batch %" PRId64
             " on a %.2f GiB budget (max context at this batch: %" PRId64 ")%s%s", target, (double)e.total / GIB_D,
             e.in.context, e.in.batch, (double)e.budget / GIB_D, fit.max_ctx > 0 ? fit.max_ctx : 0,
             v.cheapest >= 0 ? "; cheapest fix: " : "", v.cheapest >= 0 ? v.fixes[v.cheapest].change : "");
        goto done;
    }
    if (req->apply) {
        bool in_curated = false;
        int urc = iw_registry_apply_launch(reg, target, iw_engine_name(e.in.engine), &args, fit.rec_ctx, &in_curated);
        if (urc < 0) {
            res->apply_error = urc;
            fail(res, 1, "estimate --apply: %s", iw_error_last());
            goto done;
        }
        if (in_curated &&
            asprintf(&res->apply_warning, "the curated entry '%s' holds these values, so they were also written to %s "
                     "(curated wins in the merged registry)", target, iw_registry_path(reg, IW_REG_CURATED)) < 0)
            res->apply_warning = NULL;
        res->applied_to = strdup(iw_registry_path(reg, IW_REG_DISCOVERED));
        if (res->json) {
            cJSON *ap = cJSON_AddObjectToObject(res->json, "applied");
            if (ap) {
                cJSON_AddStringToObject(ap, "entry", target);
                cJSON_AddStringToObject(ap, "file", res->applied_to ? res->applied_to : "");
            }
        }
    }
    res->status = 0;
done:
    model_ref_free(&m);
    iw_arch_free(&a0);
    cJSON_Delete(calj);
    free(ctext);
    iw_strlist_free(&args);
    iw_estimate_free(&e);
    iw_arch_free(&a);
    iw_est_profiles_free(ps);
    return res->status;
}

int iw_catalog_estimate(iw_registry *reg, const iw_estimate_request *req, iw_estimate_answer *res)
{
    int status = run(reg, req, res);
    if (status == 0)
        return 0;
    return iw_error_set(status == 2 ? IW_EINVAL : IW_ERR, "%s", res->error ? res->error : "estimate failed");
}
