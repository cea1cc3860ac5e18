/* Calibration from measured start-ups (src/estimate/calibrate.c and
 * apply_calibration in estimate.c).  The starts are real logs read by the
 * engine-log reader (tests/fixtures/enginelog/, sources in its README.md):
 *   vllm-0.19-codellama-7b.log        llm-d-planner's published vLLM 0.19.0 log
 *   vllm-0.6.5-llama3-8b-tp1-tp2.log  https://github.com/vllm-project/vllm/pull/10511
 *   llamacpp-mistral-7b-n_ctx-32768.log  https://github.com/fedora-copr/logdetective/pull/106
 * At the logged settings the calibrated estimate gives every logged figure
 * to the log's printed precision (one unit of its last digit; KV tokens
 * exactly); elsewhere each correction carries over as docs/estimate.md
 * ("Calibration") says. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "iwtest.h"
#include "estimate/estfixture.h"
#include "iwdl/enginelog.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/extract.h"
#include "iwdl/json.h"

#define CODELLAMA_CFG                                                                                        \
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 4096, "           \
    "\"intermediate_size\": 11008, \"num_hidden_layers\": 32, \"num_attention_heads\": 32, "                 \
    "\"num_key_value_heads\": 32, \"vocab_size\": 32016, \"max_position_embeddings\": 16384, "               \
    "\"torch_dtype\": \"bfloat16\", \"rope_theta\": 1000000, \"tie_word_embeddings\": false}"
#define MISTRAL_CFG                                                                                          \
    "{\"architectures\": [\"MistralForCausalLM\"], \"hidden_size\": 4096, \"intermediate_size\": 14336, "    \
    "\"max_position_embeddings\": 32768, \"model_type\": \"mistral\", \"num_attention_heads\": 32, "          \
    "\"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-05, \"rope_theta\": 1000000.0, " \
    "\"sliding_window\": null, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"vocab_size\": 32000}"


static iw_est_profiles *P;
static void setup(void) { cr_assert_eq(iw_est_profiles_new(&P), 0, "%s", iw_error_last()); }
static void teardown(void) { iw_est_profiles_free(P); }
TestSuite(calibrate, .init = setup, .fini = teardown);

/* CodeLlama-7b-hf's published config.json: 32 layers, 32 heads (MHA),
 * hidden 4096, intermediate 11008, vocab 32016, 16384 positions, rope_theta
 * 1e6, bf16; no tensor headers (weights from the formula). */
static void codellama_7b(iw_arch *a)
{
    iw_arch_init(a);
    iw_arch_set_str(&a->torch_dtype, "bfloat16");
    a->num_layers = 32;
    a->num_attention_heads = 32;
    a->num_kv_heads = 32;
    a->head_dim = 128;
    a->hidden_size = 4096;
    a->intermediate_size = 11008;
    a->vocab_size = 32016;
    a->max_position_embeddings = 16384;
    a->context_length = 16384;
    a->rope_theta = 1000000;
    a->attention.type = IW_ATTN_MHA;
    a->parameters.total = 6738546688;
}

/* Mistral-7B-Instruct-v0.2's published config.json (no sliding window),
 * read as the registry's record of it is. */
static void mistral_7b(iw_arch *a)
{
    iw_arch_init(a);
    cr_assert_eq(iw_config_parse(MISTRAL_CFG, strlen(MISTRAL_CFG), "config.json", a), 0, "%s", iw_error_last());
    cr_assert_eq(iw_params_formula(a), 0, "%s", iw_error_last());
}

static cJSON *fixture_start(const char *name, int idx)
{
    char rel[256];
    snprintf(rel, sizeof rel, "enginelog/%s", name);
    cJSON *starts = NULL;
    cr_assert_eq(iw_engine_log_read(iwt_fixture(rel), &starts, NULL), 0, "%s", iw_error_last());
    cJSON *s = cJSON_DetachItemFromArray(starts, idx);
    cJSON_Delete(starts);
    cr_assert_not_null(s);
    return s;
}

/* The estimate at the start's own settings, optionally calibrated. */
static void predict(const iw_arch *a0, const cJSON *start, const iw_est_calibration *cal, iw_estimate *e,
                    iw_est_opts *used)
{
    iw_est_opts base, o;
    iw_est_overrides bov, ov;
    iw_est_opts_init(&base);
    iw_est_overrides_init(&bov);
    cr_assert_eq(iw_est_start_opts(start, P, &base, &bov, &o, &ov), 0, "%s", iw_error_last());
    o.calibration = cal;
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_arch_copy(&a, a0), 0);
    iw_ov_result r;
    ov.engine = o.engine;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0, "%s", iw_error_last());
    iw_estimate_init(e);
    cr_assert_eq(iw_estimate_compute(&a, &o, e), 0, "%s", iw_error_last());
    if (used)
        *used = o;
    iw_arch_free(&a);
}

static int64_t term(const iw_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_terms; i++)
        if (!strcmp(e->terms[i].name, name))
            return e->terms[i].bytes;
    return 0;
}

static const char *term_source(const iw_estimate *e, const char *name)
{
    for (size_t i = 0; i < e->n_terms; i++)
        if (!strcmp(e->terms[i].name, name))
            return e->terms[i].source;
    return "";
}

/* Every measured figure of the start, predicted by `e`, within one unit of
 * the log's last printed digit (KV tokens exactly). */
static void assert_reproduced(const iw_estimate *e, const cJSON *start, int min_figures)
{
    cJSON *cmp = iw_est_start_compare(e, start);
    cr_assert_not_null(cmp);
    const cJSON *me = cJSON_GetObjectItem(start, "measured"), *res = cJSON_GetObjectItem(start, "resolution");
    const cJSON *pr = cJSON_GetObjectItem(cmp, "predicted");
    const cJSON *m;
    int n = 0;
    cJSON_ArrayForEach(m, me) {
        const cJSON *p = cJSON_GetObjectItem(pr, m->string);
        if (!p)
            continue;
        double r = cJSON_GetNumberValue(cJSON_GetObjectItem(res, m->string));
        if (strstr(m->string, "tokens") || strstr(m->string, "blocks"))
            cr_assert_eq(p->valuedouble, m->valuedouble, "%s: %.0f, logged %.0f", m->string, p->valuedouble,
                         m->valuedouble);
        else
            cr_assert_leq(fabs(p->valuedouble - m->valuedouble), r, "%s: %.0f, logged %.0f (+-%.0f)", m->string,
                          p->valuedouble, m->valuedouble, r);
        n++;
    }
    cr_assert_geq(n, min_figures, "too few figures compared: %d", n);
    cJSON_Delete(cmp);
}

Test(calibrate, vllm_v1_log_reproduced_at_its_settings)
{
    cJSON *st = fixture_start("vllm-0.19-codellama-7b.log", 0);
    iw_arch a;
    codellama_7b(&a);
    iw_estimate pred, cal_e;
    iw_est_opts used;
    predict(&a, st, NULL, &pred, &used);
    cr_assert_eq(used.vllm_version, IW_VLLM_VERSION(0, 19, 0));
    cr_assert_str_eq(used.vllm_rules->name, "vllm-0.10");
    cr_assert_eq(used.context, 8192);
    cr_assert_eq(used.max_num_batched_tokens, 8192);
    cr_assert_float_eq(used.gpu_util, 0.95, 1e-9);
    /* uncalibrated: the CUDA-graph heuristic is half of what 0.19 took */
    cr_assert_neq(pred.kv_capacity_tokens, 126256);
    iw_est_calibration cal;
    cr_assert_eq(iw_est_calibration_derive(&pred, st, &cal), 0, "%s", iw_error_last());
    cr_assert(isfinite(cal.activations_ratio) && isfinite(cal.cuda_graphs_ratio) && cal.has_non_torch &&
              cal.has_residual);
    cr_assert(strstr(cal.source, "vLLM 0.19.0 start of") && strstr(cal.source, "vllm-0.19-codellama-7b.log:1"),
              "%s", cal.source);
    cr_assert_str_eq(cal.warning, "");
    predict(&a, st, &cal, &cal_e, NULL);
    assert_reproduced(&cal_e, st, 8);
    cr_assert_eq(cal_e.kv_capacity_tokens, 126256);
    /* exact and formula terms are never corrected */
    cr_assert_eq(term(&cal_e, "weights"), term(&pred, "weights"));
    cr_assert_eq(term(&cal_e, "kv_cache"), term(&pred, "kv_cache"));
    cr_assert_eq(cal_e.kv_bytes_per_token, pred.kv_bytes_per_token);
    cr_assert_str_eq(term_source(&cal_e, "activations"), "calibrated");
    cr_assert_str_eq(term_source(&cal_e, "weights"), "formula");
    iw_estimate_free(&pred);
    iw_estimate_free(&cal_e);
    iw_arch_free(&a);
    cJSON_Delete(st);
}

Test(calibrate, vllm_v0_table_reproduced_with_exact_weights)
{
    cJSON *st = fixture_start("vllm-0.6.5-llama3-8b-tp1-tp2.log", 0);
    iw_arch a;
    est_llama3_8b(&a);
    iw_estimate pred, cal_e;
    predict(&a, st, NULL, &pred, NULL);
    iw_est_calibration cal;
    cr_assert_eq(iw_est_calibration_derive(&pred, st, &cal), 0, "%s", iw_error_last());
    predict(&a, st, &cal, &cal_e, NULL);
    assert_reproduced(&cal_e, st, 5);
    /* the weights come from the headers: the engine's 14.96 GiB is them plus
     * the rotary tables, to the log's 0.01 GiB */
    cr_assert_eq(term(&cal_e, "weights"), 16060522496);
    cr_assert_lt(fabs((double)cal.residual_bytes), 0.01 * 1073741824.0, "%lld", (long long)cal.residual_bytes);
    iw_estimate_free(&pred);
    iw_estimate_free(&cal_e);
    iw_arch_free(&a);
    cJSON_Delete(st);
}

Test(calibrate, corrections_carry_over_to_other_settings)
{
    cJSON *st = fixture_start("vllm-0.19-codellama-7b.log", 0);
    iw_arch a;
    codellama_7b(&a);
    iw_estimate pred;
    iw_est_opts o;
    predict(&a, st, NULL, &pred, &o);
    iw_est_calibration cal;
    cr_assert_eq(iw_est_calibration_derive(&pred, st, &cal), 0);
    iw_estimate_free(&pred);

    /* another context, batch sizes and tp: activations scale with the
     * ratio, non-torch shifts by the delta, the residual splits over tp */
    o.context = 4096;
    o.max_num_batched_tokens = 2048;
    o.max_num_seqs = 256;
    o.tp = 2;
    iw_estimate u, c;
    iw_estimate_init(&u);
    iw_estimate_init(&c);
    o.calibration = NULL;
    cr_assert_eq(iw_estimate_compute(&a, &o, &u), 0, "%s", iw_error_last());
    o.calibration = &cal;
    cr_assert_eq(iw_estimate_compute(&a, &o, &c), 0, "%s", iw_error_last());
    cr_assert_leq(llabs(term(&c, "activations") - llround((double)term(&u, "activations") * cal.activations_ratio)), 1);
    cr_assert_eq(term(&c, "non_torch"), term(&u, "non_torch") + cal.non_torch_delta);
    cr_assert_leq(llabs(term(&c, "cuda_graphs") - llround((double)term(&u, "cuda_graphs") * cal.cuda_graphs_ratio)), 1);
    cr_assert_eq(term(&c, "load_residual"), llround((double)cal.residual_bytes * 1 / 2));
    cr_assert_eq(term(&c, "weights"), term(&u, "weights"));
    cr_assert_eq(term(&c, "kv_cache"), term(&u, "kv_cache"));
    /* with enforce_eager there are no graphs to correct */
    o.enforce_eager = true;
    cr_assert_eq(iw_estimate_compute(&a, &o, &c), 0);
    cr_assert_eq(term(&c, "cuda_graphs"), 0);
    /* the inverse answers use the corrections */
    int64_t mc_u, mc_c;
    o.enforce_eager = false;
    o.tp = 1;
    o.calibration = NULL;
    o.context = 16;
    cr_assert_eq(iw_estimate_max_batch(&a, &o, 16, &mc_u), 0);
    o.calibration = &cal;
    cr_assert_eq(iw_estimate_max_batch(&a, &o, 16, &mc_c), 0);
    cr_assert_eq(iw_estimate_compute(&a, &o, &c), 0);
    cr_assert_eq(mc_c, c.kv_capacity_tokens / 16, "max batch %lld, pool %lld", (long long)mc_c,
                 (long long)c.kv_capacity_tokens);
    cr_assert_neq(mc_c, mc_u);
    /* a llama.cpp estimate ignores a vLLM start's corrections */
    iw_est_opts l;
    iw_est_opts_init(&l);
    l.engine = IW_ENGINE_LLAMACPP;
    l.context = 4096;
    l.calibration = NULL;
    cr_assert_eq(iw_estimate_compute(&a, &l, &u), 0);
    l.calibration = &cal;
    cr_assert_eq(iw_estimate_compute(&a, &l, &c), 0);
    cr_assert_eq(c.total, u.total);
    iw_estimate_free(&u);
    iw_estimate_free(&c);
    iw_arch_free(&a);
    cJSON_Delete(st);
}

Test(calibrate, llamacpp_exact_terms_are_shown_not_corrected)
{
    /* llama.cpp's KV cache and compute buffer are exact (its cache and its
     * graph replayed, estimate.c llamacpp_terms): the log's KV is
     * reproduced, its compute buffer (an older release) is shown next to
     * ours, and nothing is corrected */
    cJSON *st = fixture_start("llamacpp-mistral-7b-n_ctx-32768.log", 0);
    iw_arch a;
    mistral_7b(&a);
    iw_estimate pred;
    iw_est_opts o;
    predict(&a, st, NULL, &pred, &o);
    cr_assert_eq(o.engine, IW_ENGINE_LLAMACPP);
    cr_assert_eq(o.context, 32768);
    cr_assert_eq(o.flash_attn, 0);
    cr_assert_eq(term(&pred, "kv_cache"), 4096LL << 20, "the KV term is exact");
    cr_assert_str_eq(term_source(&pred, "compute"), "llama.cpp graph");
    cr_assert_lt(fabs((double)term(&pred, "compute") - 2144.0 * 1048576) / (2144.0 * 1048576), 0.01);
    iw_est_calibration cal;
    cr_assert_lt(iw_est_calibration_derive(&pred, st, &cal), 0);
    cr_assert(strstr(iw_error_last(), "no figure the estimate models heuristically"), "%s", iw_error_last());
    iw_estimate_free(&pred);
    iw_arch_free(&a);
    cJSON_Delete(st);
}

Test(calibrate, llamacpp_partial_offload_corrected)
{
    /* under partial offload the layer split of the weights and the compute
     * buffer are heuristic: a start measured there corrects both; the
     * figures below are this estimate's own at those settings, moved by
     * +5% (compute) and +48 MiB (model buffer) */
    iw_arch a;
    mistral_7b(&a);
    cJSON *st = cJSON_Parse("{\"engine\": \"llama.cpp\", \"settings\": {\"n_ctx\": 4096, \"n_ubatch\": 512,"
                            " \"flash_attn\": true, \"n_gpu_layers\": 20}, \"measured\": {}, \"resolution\": {},"
                            " \"source\": {\"file\": \"/logs/partial.log\", \"line\": 7}}");
    iw_estimate pred;
    iw_est_opts o;
    predict(&a, st, NULL, &pred, &o);
    cr_assert_str_eq(term_source(&pred, "compute"), "heuristic: partial offload");
    cr_assert_str_eq(term_source(&pred, "weights"), "heuristic: layer split of exact bytes");
    double comp_m = round((double)term(&pred, "compute") * 1.05 / 10485.76) * 10485.76;   /* to 0.01 MiB */
    double model_m = (double)term(&pred, "weights") + 48.0 * 1048576;
    cJSON *me = cJSON_GetObjectItem(st, "measured"), *rs = cJSON_GetObjectItem(st, "resolution");
    cJSON_AddNumberToObject(me, "compute_buffer_bytes", round(comp_m));
    cJSON_AddNumberToObject(me, "model_buffer_bytes", model_m);
    cJSON_AddNumberToObject(me, "kv_buffer_bytes", (double)term(&pred, "kv_cache"));
    cJSON_AddNumberToObject(rs, "compute_buffer_bytes", 10486);
    cJSON_AddNumberToObject(rs, "model_buffer_bytes", 10486);
    cJSON_AddNumberToObject(rs, "kv_buffer_bytes", 10486);
    iw_est_calibration cal;
    cr_assert_eq(iw_est_calibration_derive(&pred, st, &cal), 0, "%s", iw_error_last());
    cr_assert(isfinite(cal.compute_ratio) && cal.has_residual);
    iw_estimate cal_e;
    predict(&a, st, &cal, &cal_e, NULL);
    assert_reproduced(&cal_e, st, 3);
    cr_assert_eq(term(&cal_e, "kv_cache"), term(&pred, "kv_cache"), "the cache is exact");
    /* n_ubatch 256: the compute buffer x the same ratio; Ollama runs llama.cpp */
    o.n_ubatch = 256;
    o.engine = IW_ENGINE_OLLAMA;
    iw_estimate u, c;
    iw_estimate_init(&u);
    iw_estimate_init(&c);
    o.calibration = NULL;
    cr_assert_eq(iw_estimate_compute(&a, &o, &u), 0, "%s", iw_error_last());
    o.calibration = &cal;
    cr_assert_eq(iw_estimate_compute(&a, &o, &c), 0);
    cr_assert_leq(llabs(term(&c, "compute") - llround((double)term(&u, "compute") * cal.compute_ratio)), 1);
    cr_assert_eq(term(&c, "load_residual"), cal.residual_bytes);
    /* everything on the GPU: the graph and the weights are exact again, nothing corrected */
    o.n_gpu_layers = IW_UNKNOWN;
    o.calibration = NULL;
    cr_assert_eq(iw_estimate_compute(&a, &o, &u), 0);
    o.calibration = &cal;
    cr_assert_eq(iw_estimate_compute(&a, &o, &c), 0);
    cr_assert_eq(c.total, u.total);
    iw_estimate_free(&u);
    iw_estimate_free(&c);
    iw_estimate_free(&pred);
    iw_estimate_free(&cal_e);
    iw_arch_free(&a);
    cJSON_Delete(st);
}

Test(calibrate, another_models_log_keeps_the_kv_memory_and_warns)
{
    /* CodeLlama's log attributed to Llama-3-8B (with --name, say): the KV
     * memory vLLM logged is kept, the difference in loaded weights goes to
     * the residual, and the estimate says the log may not be this model's */
    cJSON *st = fixture_start("vllm-0.19-codellama-7b.log", 0);
    iw_arch a;
    est_llama3_8b(&a);
    iw_estimate pred, cal_e;
    predict(&a, st, NULL, &pred, NULL);
    iw_est_calibration cal;
    cr_assert_eq(iw_est_calibration_derive(&pred, st, &cal), 0);
    cr_assert(strstr(cal.warning, "is the log from this model and quantization?"), "%s", cal.warning);
    cr_assert_lt(cal.residual_bytes, -(2LL << 30), "%lld", (long long)cal.residual_bytes);
    predict(&a, st, &cal, &cal_e, NULL);
    cr_assert_leq(fabs((double)cal_e.kv_available_bytes - 61.66 * 1073741824.0), 0.005 * 1073741824.0);
    bool warned = false;
    for (size_t i = 0; i < cal_e.warnings.n; i++)
        warned |= strstr(cal_e.warnings.v[i], "is the log from this model") != NULL;
    cr_assert(warned);
    iw_estimate_free(&pred);
    iw_estimate_free(&cal_e);
    iw_arch_free(&a);
    cJSON_Delete(st);
}

Test(calibrate, start_settings_become_options)
{
    cJSON *st = cJSON_Parse(
        "{\"engine\": \"vllm\", \"engine_version\": \"0.6.4.post1\", \"settings\": {\"tensor_parallel_size\": 2,"
        " \"max_model_len\": 20000, \"quantization\": \"awq_marlin\", \"kv_cache_dtype\": \"fp8\", \"dtype\": \"float16\","
        " \"enforce_eager\": true, \"max_num_seqs\": 64, \"gpu_total_bytes\": 25318064128},"
        " \"measured\": {\"requested_bytes\": 22786257715}}");
    iw_est_opts base, o;
    iw_est_overrides bov, ov;
    iw_est_opts_init(&base);
    iw_est_overrides_init(&bov);
    cr_assert_eq(iw_est_start_opts(st, P, &base, &bov, &o, &ov), 0);
    cr_assert_eq(o.vllm_version, IW_VLLM_VERSION(0, 6, 4));
    cr_assert_str_eq(o.vllm_rules->name, "vllm-0.6");
    cr_assert_eq(o.tp, 2);
    cr_assert_eq(o.context, 20000);
    cr_assert_eq(o.kv_dtype, IW_KV_FP8);
    cr_assert(o.enforce_eager);
    cr_assert_eq(o.max_num_seqs, 64);
    cr_assert_eq(o.vram_bytes, 25318064128);
    cr_assert_float_eq(o.gpu_util, 22786257715.0 / 25318064128.0, 1e-12);   /* requested / total */
    cr_assert_str_eq(ov.quantization, "awq");
    cr_assert_eq(ov.dtype, IW_DTYPE_FP16);
    cJSON_Delete(st);

    st = cJSON_Parse("{\"engine\": \"llama.cpp\", \"settings\": {\"n_ctx\": 8192, \"n_ctx_seq\": 2048,"
                     " \"n_ubatch\": 512, \"flash_attn\": \"auto\", \"type_k\": \"q8_0\"}}");
    cr_assert_eq(iw_est_start_opts(st, P, &base, &bov, &o, &ov), 0);
    cr_assert_eq(o.engine, IW_ENGINE_LLAMACPP);
    cr_assert_eq(o.batch, 4);
    cr_assert_eq(o.context, 2048);
    cr_assert_eq(o.flash_attn, 1);
    cr_assert_eq(o.kv_dtype, IW_KV_Q8_0);
    cJSON_Delete(st);
}

Test(calibrate, a_start_without_heuristic_figures_corrects_nothing)
{
    cJSON *st = cJSON_Parse("{\"engine\": \"llama.cpp\", \"settings\": {\"n_ctx\": 4096},"
                            " \"measured\": {\"kv_buffer_bytes\": 536870912}}");
    iw_arch a;
    mistral_7b(&a);
    iw_estimate pred;
    predict(&a, st, NULL, &pred, NULL);
    iw_est_calibration cal;
    cr_assert_lt(iw_est_calibration_derive(&pred, st, &cal), 0);
    cr_assert(strstr(iw_error_last(), "no figure the estimate models heuristically"), "%s", iw_error_last());
    iw_estimate_free(&pred);
    iw_arch_free(&a);
    cJSON_Delete(st);
}

/* ---------------------------------------------------------------- the CLI */

/* A registry holding codellama/CodeLlama-7b-hf and mistralai/Mistral-7B-Instruct-v0.2
 * (scanned from their published config.json); returns the temp dir. */
static char *scanned_registry(void)
{
    char *tmp = iwt_tmpdir("calib-cli");
    char p[4096];
    snprintf(p, sizeof p, "%s/w/codellama/CodeLlama-7b-hf/config.json", tmp);
    cr_assert_eq(iwt_write(p, CODELLAMA_CFG, strlen(CODELLAMA_CFG)), 0);
    snprintf(p, sizeof p, "%s/w/mistralai/Mistral-7B-Instruct-v0.2/config.json", tmp);
    cr_assert_eq(iwt_write(p, MISTRAL_CFG, strlen(MISTRAL_CFG)), 0);
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' scan '%s/w'", tmp, iwt_cli(), tmp);
    cr_assert_eq(iwt_run(cmd, &out, NULL), 0, "%s", out);
    free(out);
    return tmp;
}

static int cli(const char *tmp, const char *args, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "XDG_CONFIG_HOME='%s/xdg' IMAGEWORKS_ESTIMATE_PROFILES= IMAGEWORKS_REGISTRY_DIR='%s/reg' "
             "'%s' %s", tmp, tmp, iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

static cJSON *cli_json(const char *tmp, const char *args)
{
    char *out = NULL, *err = NULL;
    int rc = cli(tmp, args, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    free(out);
    free(err);
    return j;
}

static double jterm(const cJSON *j, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "terms"))
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), name))
            return cJSON_GetNumberValue(cJSON_GetObjectItem(t, "bytes"));
    return NAN;
}

#define VLLM_AT_THE_LOG "--engine vllm@0.19 --context 8192 --gpu-util 0.95 --vram 79.19GiB --max-num-batched-tokens 8192"

Test(calibrate, cli_vllm_log_to_estimate_serve_json_and_apply)
{
    char *tmp = scanned_registry();
    char args[4096], *out = NULL, *err = NULL;
    const char *name = "'codellama-7b-hf_(BF16)'";
    snprintf(args, sizeof args, "reconcile-architecture --engine-log '%s'",
             iwt_fixture("enginelog/vllm-0.19-codellama-7b.log"));
    cr_assert_eq(cli(tmp, args, &out, &err), 0, "%s %s", out, err);
    cr_assert(strstr(out, "stored codellama-7b-hf_(BF16): vllm 0.19.0 start from ") &&
              strstr(out, "KV 126256 tokens") && strstr(out, "1 stored, 0 already stored, 0 skipped"), "%s", out);
    free(out);
    free(err);

    /* without --calibrate: the start is shown next to its prediction, nothing corrected */
    snprintf(args, sizeof args, "estimate %s " VLLM_AT_THE_LOG " --json", name);
    cJSON *plain = cli_json(tmp, args);
    const cJSON *c = cJSON_GetObjectItem(plain, "calibration");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(c, "applied")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(c, "correction")));
    const cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "starts"), 0);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(s0, "measured"), "kv_tokens")), 126256);
    cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(s0, "predicted"), "kv_tokens"));
    cr_assert_null(cJSON_GetObjectItem(s0, "calibrated"));

    /* --calibrate at the logged settings gives the logged figures */
    snprintf(args, sizeof args, "estimate %s " VLLM_AT_THE_LOG " --calibrate --json", name);
    cJSON *cal = cli_json(tmp, args);
    c = cJSON_GetObjectItem(cal, "calibration");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(c, "applied")));
    cr_assert(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "correction"), "source")),
                     "vllm-0.19-codellama-7b.log:1"));
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cal, "kv_capacity_tokens")), 126256);
    const double GiB = 1073741824.0, r = 0.01 * GiB;
    cr_assert_leq(fabs(jterm(cal, "activations") - 0.77 * GiB), r / 2);
    cr_assert_leq(fabs(jterm(cal, "non_torch") - 0.25 * GiB), r / 2);
    cr_assert_leq(fabs(jterm(cal, "cuda_graphs") - 0.89 * GiB), r / 2);
    double avail = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cal, "kv_pool"), "available_bytes"));
    cr_assert_leq(fabs(avail - 61.66 * GiB), r / 2, "%.4f GiB", avail / GiB);
    cr_assert_eq(jterm(cal, "weights"), jterm(plain, "weights"), "an exact/formula term was changed");
    s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "starts"), 0);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(s0, "calibrated"), "kv_tokens")), 126256);
    /* the inverse answers use the corrections (the pool above, at this context) */
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(cal, "inverse"), "max_batch")),
                 126256 / 8192);
    char *cal_args = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(cal, "recommended"), "args"));

    /* the text: one line per figure, measured, predicted and calibrated */
    snprintf(args, sizeof args, "estimate %s " VLLM_AT_THE_LOG " --calibrate", name);
    cr_assert_eq(cli(tmp, args, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "calibration: 1 measured start"), "%s", out);
    cr_assert(strstr(out, "    kv_tokens            measured     126256  predicted "), "%s", out);
    cr_assert(strstr(out, "calibrated     126256"), "%s", out);
    cr_assert(strstr(out, "corrected (--calibrate, from the measured vLLM 0.19.0 start of "), "%s", out);
    free(out);
    free(err);

    /* --apply with --calibrate writes the calibrated recommendation */
    snprintf(args, sizeof args, "estimate %s " VLLM_AT_THE_LOG " --calibrate --apply", name);
    cr_assert_eq(cli(tmp, args, &out, &err), 0, "%s", err);
    free(out);
    free(err);
    snprintf(args, sizeof args, "show %s --json", name);
    cJSON *e = cli_json(tmp, args);
    char *xa = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "extra_args"));
    cr_assert(strstr(xa, cal_args + 1) || !strcmp(xa, cal_args), "applied %s, calibrated %s", xa, cal_args);
    free(xa);
    free(cal_args);
    cJSON_Delete(e);
    cJSON_Delete(plain);
    cJSON_Delete(cal);
    iwt_rm_rf(tmp);
    free(tmp);
}

Test(calibrate, cli_llamacpp_log_with_name)
{
    char *tmp = scanned_registry();
    char args[4096], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "reconcile-architecture --engine-log '%s'",
             iwt_fixture("enginelog/llamacpp-mistral-7b-n_ctx-32768.log"));
    cr_assert_eq(cli(tmp, args, &out, &err), 1, "the log names no model: %s", out);
    cr_assert(strstr(out, "skipped ") && strstr(out, "give --name"), "%s", out);
    cr_assert(strstr(err, "no start-up matched a registry entry; give --name NAME"), "%s", err);
    free(out);
    free(err);
    snprintf(args, sizeof args, "reconcile-architecture --engine-log '%s' --name 'mistral-7b-instruct-v0.2_(BF16)'",
             iwt_fixture("enginelog/llamacpp-mistral-7b-n_ctx-32768.log"));
    cr_assert_eq(cli(tmp, args, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "compute buffer 2144.00 MiB"), "%s", out);
    free(out);
    free(err);
    /* the log's KV is reproduced; its compute buffer (an older llama.cpp) is
     * shown next to ours; both are exact terms, so nothing is corrected */
    cJSON *j = cli_json(tmp, "estimate 'mistral-7b-instruct-v0.2_(BF16)' --engine llama.cpp --context 32768 "
                             "--ubatch 512 --flash-attn off --calibrate --json");
    cr_assert_eq(jterm(j, "kv_cache"), 4096.0 * 1048576);
    const cJSON *cj = cJSON_GetObjectItem(j, "calibration");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cj, "applied")));
    cr_assert(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(cj, "note")), "no figure the estimate models heuristically"));
    const cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cj, "starts"), 0);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(s0, "predicted"), "kv_buffer_bytes")),
                 4096.0 * 1048576);
    cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(s0, "predicted"), "compute_buffer_bytes"));
    cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(s0, "predicted"), "output_buffer_bytes"));
    cJSON_Delete(j);
    /* a vLLM estimate of the same entry has no vLLM start to calibrate from */
    j = cli_json(tmp, "estimate 'mistral-7b-instruct-v0.2_(BF16)' --engine vllm --context 4096 --calibrate --json");
    const cJSON *c = cJSON_GetObjectItem(j, "calibration");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(c, "applied")));
    cr_assert(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(c, "note")), "no measured start of vLLM"), "%s",
              cJSON_GetStringValue(cJSON_GetObjectItem(c, "note")));
    cJSON_Delete(j);
    iwt_rm_rf(tmp);
    free(tmp);
}
