/* test_emit.c - ready-to-run launch configurations (estimate --emit), as
 * golden files in tests/fixtures/estimate/emit/.  Regenerate with
 * IW_UPDATE_GOLDEN=1 and review the diff: every flag must exist in its
 * engine (docs/estimate.md, "Emit"). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "estfixture.h"

#define GIB ((int64_t)1 << 30)

static void llama3_8b(iw_arch *a)
{
    est_llama3_8b(a);
    iw_arch_set_str(&a->parameters.source, "safetensors");
}

static void golden(const char *name, const char *got)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/estimate/emit/%s", iwt_source_dir(), name);
    const char *upd = getenv("IW_UPDATE_GOLDEN");
    if (upd && *upd == '1') {
        cr_assert_eq(iwt_write(path, got, strlen(got)), 0, "cannot write %s", path);
        return;
    }
    char *want = iwt_slurp(path, NULL);
    cr_assert_not_null(want, "missing golden %s (run with IW_UPDATE_GOLDEN=1)", path);
    cr_expect_str_eq(got, want, "%s differs:\n--- got\n%s--- want\n%s", name, got, want);
    free(want);
}

static char *emit(iw_emit_kind k, const iw_arch *a, const iw_est_opts *o, const iw_emit_input *in)
{
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(a, o, &e), 0, "%s", iw_error_last());
    char *out = NULL;
    cr_assert_eq(iw_estimate_emit(k, &e, in, &out), 0, "%s", iw_error_last());
    iw_estimate_free(&e);
    return out;
}

Test(emit, vllm_serve_quotes_and_online_fp8)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    ov.quantization = "fp8";
    ov.trust_remote_code = true;
    iw_ov_result r;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.tp = 2;
    o.kv_dtype = IW_KV_FP8;
    o.gpu_util = 0.92;
    iw_emit_input in = {.model = "/models/Meta Llama 3 8B (it's mine)", .served_name = "llama3-8b_(FP8)",
                        .port = 24001, .context = 8192, .batch = 4, .num_layers = 32, .ov = &r};
    char *s = emit(IW_EMIT_VLLM, &a, &o, &in);
    golden("vllm_fp8_tp2.sh", s);
    /* the shell gives the program exactly the path and name back */
    char *dir = iwt_tmpdir("emit");
    char file[4096], cmd[8192];
    snprintf(file, sizeof file, "%s/launch.sh", dir);
    cr_assert_eq(iwt_write(file, s, strlen(s)), 0);
    snprintf(cmd, sizeof cmd, "sh -c 'vllm() { printf \"%%s|%%s\" \"$2\" \"$4\"; }; . \"$0\"' '%s'", file);
    char *out = NULL;
    cr_assert_eq(iwt_run(cmd, &out, NULL), 0);
    cr_assert_str_eq(out, "/models/Meta Llama 3 8B (it's mine)|llama3-8b_(FP8)");
    free(out);
    iwt_rm_rf(dir);
    free(dir);
    free(s);
    iw_arch_free(&a);
}

Test(emit, vllm_what_if_awq_says_which_checkpoint)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_overrides ov;
    iw_est_overrides_init(&ov);
    ov.quantization = "awq";
    iw_ov_result r;
    cr_assert_eq(iw_estimate_apply_overrides(&a, &ov, &r), 0);
    iw_est_opts o;
    iw_est_opts_init(&o);
    iw_emit_input in = {.model = "meta-llama/Meta-Llama-3-8B-Instruct", .context = 8192, .batch = 16, .ov = &r};
    char *s = emit(IW_EMIT_VLLM, &a, &o, &in);
    /* no --quantization awq: vLLM reads it from an AWQ checkpoint's config */
    cr_assert_null(strstr(s, "--quantization"), "%s", s);
    golden("vllm_awq_what_if.sh", s);
    free(s);
    iw_arch_free(&a);
}

Test(emit, llama_server_gguf_partial_offload_q8_kv)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_LLAMACPP;
    o.kv_dtype = IW_KV_Q8_0;
    o.flash_attn = 1;
    o.n_gpu_layers = 20;
    o.context = 8192;
    o.batch = 2;
    iw_emit_input in = {.model = "/srv/gguf/Meta-Llama-3-8B-Instruct.Q4_K_M.gguf", .served_name = "llama3-8b",
                        .context = 8192, .batch = 2, .num_layers = 32};
    char *s = emit(IW_EMIT_LLAMACPP, &a, &o, &in);
    cr_assert(strstr(s, "-c 16384 -np 2"), "n_ctx is the total over the slots: %s", s);
    golden("llama_server_gguf.sh", s);
    free(s);
    /* a repo id is loaded with -hf */
    o.n_gpu_layers = IW_UNKNOWN;
    o.kv_dtype = IW_KV_AUTO;
    in = (iw_emit_input){.model = "bartowski/Meta-Llama-3-8B-Instruct-GGUF", .context = 4096, .batch = 1};
    s = emit(IW_EMIT_LLAMACPP, &a, &o, &in);
    golden("llama_server_repo.sh", s);
    free(s);
    iw_arch_free(&a);
}

Test(emit, ollama_modelfile)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_OLLAMA;
    o.kv_dtype = IW_KV_Q8_0;
    o.flash_attn = 1;
    o.n_gpu_layers = 28;
    o.context = 16384;
    o.batch = 2;
    iw_emit_input in = {.model = "llama3:8b", .served_name = "llama3-8b-ollama", .context = 16384, .batch = 2,
                        .num_layers = 32};
    char *s = emit(IW_EMIT_OLLAMA, &a, &o, &in);
    cr_assert_null(strstr(s, "PARAMETER num_parallel"), "not a Modelfile parameter: %s", s);
    golden("ollama.Modelfile", s);
    free(s);
    /* everything on the GPU, one sequence, default KV: FROM + num_ctx only */
    iw_est_opts_init(&o);
    o.engine = IW_ENGINE_OLLAMA;
    in = (iw_emit_input){.model = "/srv/gguf/model.gguf", .context = 4096, .batch = 1, .num_layers = 32};
    s = emit(IW_EMIT_OLLAMA, &a, &o, &in);
    golden("ollama_plain.Modelfile", s);
    free(s);
    iw_arch_free(&a);
}

Test(emit, compose_local_and_repo)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.tp = 2;
    iw_emit_input in = {.model = "/srv/models/say \"hi\"\\llama", .served_name = "Llama3 8B", .context = 8192,
                        .batch = 8};
    char *s = emit(IW_EMIT_COMPOSE, &a, &o, &in);
    golden("compose_local.yaml", s);
    free(s);
    iw_est_opts_init(&o);
    in = (iw_emit_input){.model = "meta-llama/Meta-Llama-3-8B-Instruct", .port = 8001, .context = 8192, .batch = 1};
    s = emit(IW_EMIT_COMPOSE, &a, &o, &in);
    cr_assert(strstr(s, "${HF_TOKEN:-}"), "the token is referenced, never written: %s", s);
    golden("compose_repo.yaml", s);
    free(s);
    iw_arch_free(&a);
}

Test(emit, refusals)
{
    iw_arch a;
    llama3_8b(&a);
    iw_est_opts o;
    iw_est_opts_init(&o);
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0);
    char *out = NULL;
    iw_emit_input in = {.model = "/m", .context = 8192, .batch = 1};
    cr_assert_eq(iw_estimate_emit(IW_EMIT_LLAMACPP, &e, &in, &out), IW_EINVAL, "vLLM estimate, llama.cpp launch");
    cr_assert(strstr(iw_error_last(), "llama.cpp"), "%s", iw_error_last());
    cr_assert_eq(iw_estimate_emit(IW_EMIT_OLLAMA, &e, &in, &out), IW_EINVAL);
    in.model = "/m\n--evil";
    cr_assert_eq(iw_estimate_emit(IW_EMIT_VLLM, &e, &in, &out), IW_EINVAL, "a newline would split the command");
    in.model = "";
    cr_assert_eq(iw_estimate_emit(IW_EMIT_VLLM, &e, &in, &out), IW_EINVAL);
    in.model = "/m";
    in.context = 0;
    cr_assert_eq(iw_estimate_emit(IW_EMIT_VLLM, &e, &in, &out), IW_EINVAL, "nothing fits: nothing to launch");
    cr_assert_null(out);
    iw_emit_kind k;
    cr_assert_eq(iw_emit_kind_parse("llama-server", &k), 0);
    cr_assert_eq(k, IW_EMIT_LLAMACPP);
    cr_assert_eq(iw_emit_kind_parse("docker", &k), IW_EINVAL);
    iw_estimate_free(&e);
    iw_arch_free(&a);
}
