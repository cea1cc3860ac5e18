/* test_estimate_parity.c - the estimate command's parity with the seed tools
 * (vllm-wizard plan/generate, the imageworks VRAM page): overrides recorded
 * and reported, the verdict and its exit code, --emit printing only the
 * launch, --apply carrying what was estimated, profiles as data. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "iwtest.h"

/* Llama-3-8B config.json (published values); no weights: the formula path. */
static const char *LLAMA_CFG =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":4096,"
    "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
    "\"num_key_value_heads\":8,\"vocab_size\":128256,\"max_position_embeddings\":8192,"
    "\"torch_dtype\":\"bfloat16\",\"rope_theta\":500000.0,\"tie_word_embeddings\":false}";

typedef struct fx {
    char *tmp, *model, *reg;
} fx;

static void setup_fx(fx *f)
{
    f->tmp = iwt_tmpdir("estpar");
    cr_assert(asprintf(&f->model, "%s/models/llama3-8b", f->tmp) > 0);
    cr_assert(asprintf(&f->reg, "%s/reg", f->tmp) > 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", f->model);
    cr_assert_eq(iwt_write(path, LLAMA_CFG, strlen(LLAMA_CFG)), 0);
}

static void free_fx(fx *f)
{
    iwt_rm_rf(f->tmp);
    free(f->tmp);
    free(f->model);
    free(f->reg);
}

static int run(const fx *f, const char *args, char **out, char **err)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "XDG_CONFIG_HOME='%s/xdg' IMAGEWORKS_ESTIMATE_PROFILES= IMAGEWORKS_REGISTRY_DIR='%s' "
             "'%s' estimate %s", f->tmp, f->reg, iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

static cJSON *run_json(const fx *f, const char *args, int want_rc)
{
    char a[8192], *out = NULL, *err = NULL;
    snprintf(a, sizeof a, "%s --json", args);
    int rc = run(f, a, &out, &err);
    cr_assert_eq(rc, want_rc, "rc %d (want %d) for %s: %s", rc, want_rc, args, err ? err : "");
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "not JSON: %s", out);
    free(out);
    free(err);
    return j;
}

static const cJSON *override_of(const cJSON *j, const char *flag)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(j, "overrides"))
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "flag")), flag))
            return o;
    return NULL;
}

static double term_bytes(const cJSON *j, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "terms"))
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), name))
            return cJSON_GetNumberValue(cJSON_GetObjectItem(t, "bytes"));
    return -1;
}

Test(estimate_parity, overrides_recorded_and_applied)
{
    fx f;
    setup_fx(&f);
    char a[8192];
    /* the config gives no parameter count that headers confirm: --params-b applies */
    snprintf(a, sizeof a, "'%s' --context 4096 --params-b 8 --dtype fp32 --max-model-len 4096 --trust-remote-code",
             f.model);
    cJSON *j = run_json(&f, a, 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(override_of(j, "--params-b"), "status")), "applied");
    cr_assert_eq(term_bytes(j, "weights"), 8e9 * 4, "8B x 4 B (fp32)");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "dtype"), "value")), "fp32");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "trust_remote_code")));
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(override_of(j, "--max-model-len"), "status")), "applied");
    cJSON_Delete(j);

    /* auto: the checkpoint's torch_dtype, and the output says where it came from */
    snprintf(a, sizeof a, "'%s' --context 4096", f.model);
    j = run_json(&f, a, 0);
    const cJSON *d = cJSON_GetObjectItem(j, "dtype");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "value")), "bf16");
    cr_assert(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(d, "source")), "torch_dtype"));
    cJSON_Delete(j);

    /* a context beyond the model: capped, never extended */
    snprintf(a, sizeof a, "'%s' --max-model-len 65536", f.model);
    j = run_json(&f, a, 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(override_of(j, "--max-model-len"), "status")), "capped");
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "inputs"), "model_max_context")), 8192);
    cJSON_Delete(j);

    /* contradictions and nonsense are usage errors (exit 2), one line */
    char *out = NULL, *err = NULL;
    snprintf(a, sizeof a, "'%s' --dtype fp8 --quantization awq", f.model);
    cr_assert_eq(run(&f, a, &out, &err), 2);
    cr_assert(strstr(err, "contradict") && !strchr(strchr(err, '\n') + 1, '\n'), "%s", err);
    free(out);
    free(err);
    snprintf(a, sizeof a, "'%s' --params-b seven", f.model);
    cr_assert_eq(run(&f, a, NULL, NULL), 2);
    snprintf(a, sizeof a, "'%s' --quantization q3_k", f.model);
    cr_assert_eq(run(&f, a, NULL, NULL), 2);
    free_fx(&f);
}

Test(estimate_parity, verdict_text_json_and_exit_code)
{
    fx f;
    setup_fx(&f);
    char a[8192], *out = NULL, *err = NULL;
    /* 16 GiB of bf16 weights + 32 x 8192 tokens of 128 KiB KV on 24 GiB */
    snprintf(a, sizeof a, "'%s' --context 8192 --batch 32 --gpu rtx4090", f.model);
    cr_assert_eq(run(&f, a, &out, &err), 1, "a misfit exits 1");
    cr_assert(strstr(out, "verdict: DOES NOT FIT"), "%s", out);
    cr_assert(strstr(out, "to fit (cheapest first):"), "%s", out);
    cr_assert(strstr(out, "--kv-dtype fp8"), "%s", out);
    cr_assert(strstr(err, "does not fit") && strstr(err, "cheapest fix: "), "%s", err);
    free(out);
    free(err);

    cJSON *j = run_json(&f, a, 1);
    const cJSON *v = cJSON_GetObjectItem(j, "verdict");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(v, "fit")), "does not fit");
    cr_assert_lt(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "headroom_bytes")), 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(v, "dominant_term")), "kv_cache");
    const char *ch = cJSON_GetStringValue(cJSON_GetObjectItem(v, "cheapest"));
    cr_assert_not_null(ch);
    char cheapest[128];
    snprintf(cheapest, sizeof cheapest, "%s", ch);
    cJSON_Delete(j);

    /* the cheapest fix, applied, fits */
    snprintf(a, sizeof a, "'%s' --context 8192 --batch 32 --gpu rtx4090 %s", f.model, cheapest);
    j = run_json(&f, a, 0);
    cr_assert_str_neq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "verdict"), "fit")),
                      "does not fit", "after %s", cheapest);
    cJSON_Delete(j);

    /* plenty of room: fits, with the headroom */
    snprintf(a, sizeof a, "'%s' --context 8192 --gpu h100", f.model);
    cr_assert_eq(run(&f, a, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "verdict: fits, "), "%s", out);
    free(out);
    free(err);
    free_fx(&f);
}

Test(estimate_parity, emit_prints_only_the_launch)
{
    fx f;
    setup_fx(&f);
    char a[8192], *out = NULL, *err = NULL;
    snprintf(a, sizeof a, "'%s' --gpu rtx4090 --context 8192 --emit vllm --quantization fp8 --trust-remote-code",
             f.model);
    cr_assert_eq(run(&f, a, &out, &err), 0, "%s", err);
    cr_assert(!strncmp(out, "vllm serve ", 11), "stdout is the launch only: %s", out);
    cr_assert(strstr(out, "--quantization fp8") && strstr(out, "--trust-remote-code"), "%s", out);
    cr_assert(strstr(out, "--max-model-len 8192"), "%s", out);
    cr_assert_null(strstr(out, "verdict"), "%s", out);
    free(out);
    free(err);

    /* an Ollama Modelfile for the same model; --emit picks the engine */
    snprintf(a, sizeof a, "'%s' --gpu rtx4090 --context 8192 --emit ollama", f.model);
    cr_assert_eq(run(&f, a, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "FROM ") && strstr(out, "PARAMETER num_ctx 8192"), "%s", out);
    free(out);
    free(err);

    /* an engine that contradicts the launch kind is a usage error */
    snprintf(a, sizeof a, "'%s' --engine llama.cpp --emit vllm", f.model);
    cr_assert_eq(run(&f, a, NULL, &err), 2);
    cr_assert(strstr(err, "--emit vllm"), "%s", err);
    free(err);

    /* nothing fits: nothing to launch */
    snprintf(a, sizeof a, "'%s' --vram 8GiB --emit vllm", f.model);
    cr_assert_eq(run(&f, a, &out, &err), 1);
    cr_assert(out == NULL || !*out, "no launch printed: %s", out);
    free(out);
    free(err);
    free_fx(&f);
}

Test(estimate_parity, apply_carries_online_quantization_keeps_user_flags)
{
    fx f;
    setup_fx(&f);
    char reg[4096], path[4096];
    snprintf(reg, sizeof reg,
             "[{\"name\":\"l3\",\"backend\":\"vllm\",\"download_path\":\"%s\",\"backend_config\":{\"port\":24001,"
             "\"model_path\":\"%s\",\"extra_args\":[\"--trust-remote-code\",\"--max-model-len\",\"4096\"]}}]",
             f.model, f.model);
    snprintf(path, sizeof path, "%s/model_registry.discovered.json", f.reg);
    cr_assert_eq(iwt_write(path, reg, strlen(reg)), 0);
    char a[8192], *out = NULL, *err = NULL;
    cr_assert_eq(run(&f, "l3 --gpu rtx4090 --quantization fp8 --trust-remote-code --apply", &out, &err), 0, "%s", err);
    free(out);
    free(err);
    char *txt = iwt_slurp(path, NULL);
    cJSON *arr = cJSON_Parse(txt);
    free(txt);
    cr_assert_not_null(arr);
    char *xa = cJSON_PrintUnformatted(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "backend_config"), "extra_args"));
    cr_assert(strstr(xa, "\"--quantization\",\"fp8\""), "the launch must load what was estimated: %s", xa);
    cr_assert(strstr(xa, "\"--max-model-len\",\"8192\""), "%s", xa);
    const char *first = strstr(xa, "--trust-remote-code");
    cr_assert(first && !strstr(first + 1, "--trust-remote-code"), "kept once: %s", xa);
    free(xa);
    cJSON_Delete(arr);
    /* the emitted launch uses the entry's port and name */
    cr_assert_eq(run(&f, "l3 --gpu rtx4090 --emit vllm", &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "--port 24001") && strstr(out, "--served-model-name l3"), "%s", out);
    free(out);
    free(err);
    (void)a;
    free_fx(&f);
}

Test(estimate_parity, profiles_as_data)
{
    fx f;
    setup_fx(&f);
    char a[8192], *out = NULL, *err = NULL;
    /* the shipped profiles and GPUs */
    cr_assert_eq(run(&f, "--profile list", &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "* default ") && strstr(out, "vllm-wizard") && strstr(out, "imageworks-ada_16gb"), "%s", out);
    free(out);
    free(err);
    /* a user file adds a GPU bound to a profile with a 2 GiB desktop reserve */
    char pf[4096];
    snprintf(pf, sizeof pf, "%s/xdg/imageworks/estimate_profiles.json", f.tmp);
    const char *doc = "{\"format_version\":1,\"profiles\":[{\"name\":\"desk\",\"base_overhead_gib\":2}],"
                      "\"gpus\":[{\"name\":\"my-4090\",\"memory_gib\":24,\"profile\":\"desk\"}]}";
    cr_assert_eq(iwt_write(pf, doc, strlen(doc)), 0);
    cr_assert_eq(run(&f, "--gpu list", &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "my-4090") && strstr(out, "profile desk") && strstr(out, "estimate_profiles.json"), "%s", out);
    free(out);
    free(err);
    snprintf(a, sizeof a, "'%s' --context 4096 --gpu my-4090", f.model);
    cJSON *j = run_json(&f, a, 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "profile"), "name")), "desk");
    cr_assert_eq(term_bytes(j, "base_overhead"), 2.0 * (1 << 30));
    cJSON_Delete(j);
    /* --profile wins over the GPU's; the default adds no margin term */
    snprintf(a, sizeof a, "'%s' --context 4096 --gpu my-4090 --profile default", f.model);
    j = run_json(&f, a, 0);
    cr_assert_eq(term_bytes(j, "base_overhead"), -1);
    cJSON_Delete(j);
    /* unknown profile: usage; a broken profiles file: one-line failure naming it */
    snprintf(a, sizeof a, "'%s' --profile nope", f.model);
    cr_assert_eq(run(&f, a, NULL, &err), 2);
    cr_assert(strstr(err, "nope"), "%s", err);
    free(err);
    const char *bad = "{\"format_version\":1,\"gpus\":[{\"name\":\"x\"}]}";
    cr_assert_eq(iwt_write(pf, bad, strlen(bad)), 0);
    snprintf(a, sizeof a, "'%s' --gpu rtx4090", f.model);
    cr_assert_eq(run(&f, a, NULL, &err), 1);
    cr_assert(strstr(err, "estimate_profiles.json") && strstr(err, "memory_gib"), "%s", err);
    cr_assert_null(strchr(err, '\n') == err + strlen(err) - 1 ? NULL : strchr(err, '\n'), "one line: %s", err);
    free(err);
    free_fx(&f);
}
