/* test_estimate_cli.c - `imageworks-download estimate` on a generated model
 * folder (PATH) and on registry entries (NAME, --apply). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "iwtest.h"
#include "hubtest.c"

/* Llama-3-8B config.json (published values). */
static const char *LLAMA_CFG =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":4096,"
    "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
    "\"num_key_value_heads\":8,\"vocab_size\":128256,\"max_position_embeddings\":8192,"
    "\"torch_dtype\":\"bfloat16\",\"rope_theta\":500000.0,\"tie_word_embeddings\":false}";

static char *make_model(const char *tmp)
{
    char *dir = NULL;
    cr_assert(asprintf(&dir, "%s/models/llama3-8b", tmp) > 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    cr_assert_eq(iwt_write(path, LLAMA_CFG, strlen(LLAMA_CFG)), 0);
    return dir;
}

static int run(const char *regdir, const char *args, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "IMAGEWORKS_REGISTRY_DIR='%s' '%s' estimate %s", regdir, iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

Test(estimate_cli, path_json_and_inverse)
{
    char *tmp = iwt_tmpdir("estcli");
    char *model = make_model(tmp);
    char args[4096], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "'%s' --context 4096 --gpu rtx4090 --json", model);
    int rc = run(tmp, args, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err ? err : "");
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cJSON *terms = cJSON_GetObjectItem(j, "terms");
    cr_assert(cJSON_IsArray(terms));
    /* weights: 8030261248 params (formula) x 2 B */
    cJSON *w = cJSON_GetArrayItem(terms, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(w, "name")->valuestring, "weights");
    cr_assert_eq((long long)cJSON_GetObjectItem(w, "bytes")->valuedouble, 16060522496LL);
    /* KV at 4096 tokens: 131072 x 4096 */
    cJSON *kv = cJSON_GetArrayItem(terms, 1);
    cr_assert_eq((long long)cJSON_GetObjectItem(kv, "bytes")->valuedouble, 131072LL * 4096);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "fits")));
    cJSON *inv = cJSON_GetObjectItem(j, "inverse");
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(inv, "max_context")));
    cr_assert_eq((long long)cJSON_GetObjectItem(inv, "max_context")->valuedouble, 8192);   /* model max fits */
    double mb = cJSON_GetObjectItem(inv, "max_batch")->valuedouble;
    cr_assert(mb >= 2, "max_batch %g", mb);
    cJSON *ra = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "recommended"), "args");
    cr_assert(cJSON_IsArray(ra));
    cr_assert_str_eq(cJSON_GetArrayItem(ra, 0)->valuestring, "--max-model-len");
    cr_assert_str_eq(cJSON_GetArrayItem(ra, 1)->valuestring, "4096");
    cJSON_Delete(j);
    free(out);
    free(err);

    /* the table names every term and the recommendation */
    snprintf(args, sizeof args, "'%s' --gpu rtx4090", model);
    rc = run(tmp, args, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "kv_cache") && strstr(out, "activations") && strstr(out, "recommended:"), "%s", out);
    cr_assert(strstr(out, "#") != NULL);
    free(out);
    free(err);

    /* llama.cpp profile: -c and -ngl */
    snprintf(args, sizeof args, "'%s' --engine llama.cpp --kv-dtype q8_0 --vram 24GiB --json", model);
    rc = run(tmp, args, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "\"-ngl\"") && strstr(out, "\"-ctk\"") && strstr(out, "\"q8_0\""), "%s", out);
    free(out);
    free(err);

    /* budget smaller than the weights */
    snprintf(args, sizeof args, "'%s' --vram 8GiB", model);
    rc = run(tmp, args, &out, &err);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(err, "does not fit: weights alone need 14.96 GiB on a 7.20 GiB budget"), "%s", err);
    free(out);
    free(err);

    /* usage errors */
    snprintf(args, sizeof args, "'%s' --gpu rtx9999", model);
    cr_assert_eq(run(tmp, args, NULL, &err), 2);
    cr_assert(strstr(err, "unknown GPU"), "%s", err);
    free(err);
    snprintf(args, sizeof args, "'%s' --engine vllm --kv-dtype q4_0", model);
    cr_assert_eq(run(tmp, args, NULL, &err), 2);
    cr_assert(strstr(err, "llama.cpp/Ollama"), "%s", err);
    free(err);
    snprintf(args, sizeof args, "'%s' --engine llama.cpp --kv-dtype fp8", model);
    cr_assert_eq(run(tmp, args, NULL, &err), 2);
    cr_assert(strstr(err, "q8_0"), "%s", err);
    free(err);
    cr_assert_eq(run(tmp, "no-such-model-anywhere", NULL, &err), 1);
    cr_assert(strstr(err, "not a registry entry"), "%s", err);
    free(err);
    snprintf(args, sizeof args, "'%s' --apply --gpu rtx4090", model);
    cr_assert_eq(run(tmp, args, NULL, &err), 2);     /* --apply needs a NAME */
    free(err);

    iwt_rm_rf(tmp);
    free(model);
    free(tmp);
}

/* Registry with a vLLM entry and an Ollama entry, both carrying
 * metadata.architecture; --apply must replace only our flags. */
static const char *REG =
    "[{\"name\":\"llama3-8b-vllm\",\"backend\":\"vllm\",\"backend_config\":{\"port\":24001,"
    "\"model_path\":\"/x\",\"extra_args\":[\"--max-model-len\",\"4096\",\"--trust-remote-code\","
    "\"--max-num-seqs=9\"]},\"custom_key\":{\"keep\":true},"
    "\"metadata\":{\"architecture\":{\"num_layers\":32,\"num_attention_heads\":32,\"num_kv_heads\":8,"
    "\"hidden_size\":4096,\"head_dim\":128,\"intermediate_size\":14336,\"vocab_size\":128256,"
    "\"max_position_embeddings\":8192,\"context_length\":8192,\"torch_dtype\":\"bfloat16\","
    "\"weights_bytes\":16060522496,\"parameters\":{\"total\":8030261248}}}},"
    "{\"name\":\"llama3-8b-ollama\",\"backend\":\"ollama\",\"backend_config\":{\"port\":11434,"
    "\"model_path\":\"ollama:llama3:8b\",\"extra_args\":[\"--num-ctx\",\"2048\",\"--num-gpu\",\"35\"]},"
    "\"generation_defaults\":{\"temperature\":0.7,\"context_window\":2048},"
    "\"metadata\":{\"architecture\":{\"num_layers\":32,\"num_attention_heads\":32,\"num_kv_heads\":8,"
    "\"hidden_size\":4096,\"head_dim\":128,\"intermediate_size\":14336,\"vocab_size\":128256,"
    "\"context_length\":8192,\"torch_dtype\":\"bfloat16\",\"weights_bytes\":4920000000,"
    "\"parameters\":{\"total\":8030261248}}}}]";

static cJSON *entry(const char *regdir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model_registry.discovered.json", regdir);
    char *t = iwt_slurp(path, NULL);
    cr_assert_not_null(t);
    cJSON *arr = cJSON_Parse(t);
    free(t);
    cr_assert(cJSON_IsArray(arr));
    cJSON *it, *found = NULL;
    cJSON_ArrayForEach(it, arr)
        if (!strcmp(cJSON_GetObjectItem(it, "name")->valuestring, name))
            found = cJSON_Duplicate(it, 1);
    cJSON_Delete(arr);
    cr_assert_not_null(found, "entry %s missing", name);
    return found;
}

Test(estimate_cli, apply_to_registry)
{
    char *tmp = iwt_tmpdir("estapply");
    char path[4096];
    snprintf(path, sizeof path, "%s/model_registry.discovered.json", tmp);
    cr_assert_eq(iwt_write(path, REG, strlen(REG)), 0);
    char *out = NULL, *err = NULL;

    int rc = run(tmp, "llama3-8b-vllm --gpu rtx4090 --apply", &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    cr_assert(strstr(out, "applied to registry entry"), "%s", out);
    free(out);
    free(err);
    cJSON *e = entry(tmp, "llama3-8b-vllm");
    cJSON *xa = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "extra_args");
    char *s = cJSON_PrintUnformatted(xa);
    /* old --max-model-len 4096 and --max-num-seqs=9 replaced; --trust-remote-code kept;
     * the model maximum (8192) fits on 24 GiB, so it is used and not exceeded */
    cr_assert(strstr(s, "\"--trust-remote-code\"") != NULL, "%s", s);
    cr_assert(strstr(s, "\"4096\"") == NULL && strstr(s, "--max-num-seqs=9") == NULL, "%s", s);
    cr_assert(strstr(s, "\"--max-model-len\",\"8192\"") != NULL, "%s", s);
    cr_assert(strstr(s, "\"--gpu-memory-utilization\",\"0.90\"") != NULL, "%s", s);
    int n_mml = 0;
    for (const char *p = s; (p = strstr(p, "--max-model-len")); p++)
        n_mml++;
    cr_assert_eq(n_mml, 1, "%s", s);
    free(s);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "custom_key"), "keep")));
    cJSON_Delete(e);

    /* Ollama: extra_args --num-ctx and generation_defaults.context_window; the
     * budget allows the model maximum 8192 (never more) */
    rc = run(tmp, "llama3-8b-ollama --vram 24GiB --apply", &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    free(out);
    free(err);
    e = entry(tmp, "llama3-8b-ollama");
    xa = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "extra_args");
    s = cJSON_PrintUnformatted(xa);
    cr_assert_str_eq(s, "[\"--num-gpu\",\"35\",\"--num-ctx\",\"8192\"]");
    free(s);
    cJSON *gd = cJSON_GetObjectItem(e, "generation_defaults");
    cr_assert_eq(cJSON_GetObjectItem(gd, "context_window")->valuedouble, 8192);
    cr_assert_eq(cJSON_GetObjectItem(gd, "temperature")->valuedouble, 0.7);
    cJSON_Delete(e);

    /* a small budget: the context written is what fits (multiple of 256), below 8192 */
    rc = run(tmp, "llama3-8b-ollama --vram 5.5GiB --apply --json", &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j);
    double mc = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "inverse"), "max_context")->valuedouble;
    cr_assert(mc > 0 && mc < 8192 && (long long)mc % 256 == 0, "%g", mc);
    cJSON_Delete(j);
    free(out);
    free(err);
    e = entry(tmp, "llama3-8b-ollama");
    gd = cJSON_GetObjectItem(e, "generation_defaults");
    cr_assert_eq(cJSON_GetObjectItem(gd, "context_window")->valuedouble, mc);
    cJSON_Delete(e);

    /* does not fit: nothing written */
    snprintf(path, sizeof path, "%s/model_registry.discovered.json", tmp);
    char *before = iwt_slurp(path, NULL);
    rc = run(tmp, "llama3-8b-vllm --vram 8GiB --apply", NULL, &err);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(err, "does not fit"), "%s", err);
    free(err);
    char *after = iwt_slurp(path, NULL);
    cr_assert_str_eq(before, after);
    free(before);
    free(after);

    iwt_rm_rf(tmp);
    free(tmp);
}

/* A curated entry that holds backend_config.extra_args wins in the merged
 * view (the original's merge, model_registry.json, what the GUI reads):
 * --apply writes the new flags there too, and gives the curated entry no
 * key it did not have (issue 18 item 5). */
Test(estimate_cli, apply_writes_where_the_merged_view_shows_it)
{
    char *tmp = iwt_tmpdir("estapplycur");
    char path[4096];
    snprintf(path, sizeof path, "%s/model_registry.discovered.json", tmp);
    cr_assert_eq(iwt_write(path, REG, strlen(REG)), 0);
    static const char CUR[] =
        "[{\"name\": \"llama3-8b-vllm\", \"backend_config\": {\"extra_args\": [\"--max-model-len\", \"2048\", \"--enforce-eager\"]}},\n"
        " {\"name\": \"llama3-8b-ollama\", \"display_name\": \"mine\"}]\n";
    snprintf(path, sizeof path, "%s/model_registry.curated.json", tmp);
    cr_assert_eq(iwt_write(path, CUR, strlen(CUR)), 0);
    char *out = NULL, *err = NULL;
    int rc = run(tmp, "llama3-8b-vllm --gpu rtx4090 --apply", &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    cr_assert(strstr(out, "model_registry.curated.json") || strstr(err, "model_registry.curated.json"),
              "no word of the curated file: %s %s", out, err);
    free(out);
    free(err);
    snprintf(path, sizeof path, "%s/model_registry.json", tmp);
    char *t = iwt_slurp(path, NULL);
    cJSON *snap = cJSON_Parse(t);
    free(t);
    cJSON *it, *e = NULL;
    cJSON_ArrayForEach(it, snap)
        if (!strcmp(cJSON_GetObjectItem(it, "name")->valuestring, "llama3-8b-vllm"))
            e = it;
    cr_assert_not_null(e);
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "extra_args"));
    cr_assert(strstr(s, "\"--max-model-len\",\"8192\"") && !strstr(s, "2048"), "merged view still shows the old flags: %s", s);
    free(s);
    cJSON_Delete(snap);
    /* an entry whose curated part holds none of the values: curated untouched */
    snprintf(path, sizeof path, "%s/model_registry.curated.json", tmp);
    char *before = iwt_slurp(path, NULL);
    rc = run(tmp, "llama3-8b-ollama --vram 24GiB --apply", &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    free(out);
    free(err);
    char *after = iwt_slurp(path, NULL);
    cJSON *cb = cJSON_Parse(before), *ca = cJSON_Parse(after);
    cr_assert(cJSON_Compare(cJSON_GetArrayItem(cb, 1), cJSON_GetArrayItem(ca, 1), 1), "curated entry changed: %s", after);
    cJSON_Delete(cb);
    cJSON_Delete(ca);
    free(before);
    free(after);
    iwt_rm_rf(tmp);
    free(tmp);
}

/* Real published config.json files from the corpus, through extraction and
 * the estimator (PATH).  Expected values are the hand computations of
 * tests/estimate/test_estimate.c. */
static cJSON *est_corpus(const char *model, const char *args)
{
    const char *corpus = iwt_corpus_dir();
    if (!corpus)
        return NULL;
    char *tmp = iwt_tmpdir("estcorpus");
    char a[4096], *out = NULL, *err = NULL;
    snprintf(a, sizeof a, "'%s/configs/%s' %s --json", corpus, model, args);
    int rc = run(tmp, a, &out, &err);
    cr_assert_eq(rc, 0, "%s: rc %d: %s", model, rc, err ? err : "");
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    free(out);
    free(err);
    iwt_rm_rf(tmp);
    free(tmp);
    return j;
}

static double kv_term(const cJSON *j)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "terms"))
        if (!strcmp(cJSON_GetObjectItem(t, "name")->valuestring, "kv_cache"))
            return cJSON_GetObjectItem(t, "bytes")->valuedouble;
    cr_assert_fail("no kv_cache term");
    return 0;
}

Test(estimate_cli, corpus_configs)
{
    if (!iwt_corpus_dir())
        cr_skip_test("corpus absent: ../shared/corpus");
    /* Gemma-3 27B (medgemma-27b-it config): 62 layers, 10 full + 52 sliding (1024),
     * 16 kv heads x 128: vLLM ctx 32768, no GPU given so the serve default of a GPU
     * under 70 GiB (max_num_batched_tokens 2048): sliding (cdiv(1023 + 2048, 16) + 1) x 16
     * = 3088 tokens; KV-cache groups of 10 layers (1 full, 6 sliding, 8 padding):
     * 8192 x 10 x (32768 + 6 x 3088) = 4202168320 B */
    cJSON *j = est_corpus("gemma3__medgemma-27b-it", "--context 32768");
    cr_assert_eq(cJSON_GetObjectItem(j, "kv_bytes_per_token")->valuedouble, 62 * 8192);
    cr_assert_eq(kv_term(j), 4202168320.0);
    cJSON_Delete(j);
    /* DeepSeek-R1: MLA 61 x 576 x 2 = 70272 B/token, also under TP 8 */
    j = est_corpus("deepseek_v3__DeepSeek-R1", "--context 4096 --tp 8");
    cr_assert_eq(cJSON_GetObjectItem(j, "kv_bytes_per_token")->valuedouble, 70272);
    cJSON_Delete(j);
    /* Qwen3-Next-80B: 12 attention layers x 2 x 512 x 2 = 24576 B/token; GDN state
     * 36 x 548864 x 2 = 39518208 B per sequence */
    j = est_corpus("qwen3_next__Qwen3-Next-80B-A3B-Instruct", "--context 4096");
    cr_assert_eq(cJSON_GetObjectItem(j, "kv_bytes_per_token")->valuedouble, 24576);
    cr_assert_eq(cJSON_GetObjectItem(j, "state_bytes_per_sequence")->valuedouble, 39518208);
    cJSON_Delete(j);
    /* gpt-oss-120b in llama.cpp, 2 x 131072, n_ubatch 1024 (ollama/ollama#16480: 9216 + 90 MiB) */
    j = est_corpus("gpt_oss__gpt-oss-120b", "--engine llama.cpp --context 131072 --batch 2 --ubatch 1024 --flash-attn on");
    cr_assert_eq(kv_term(j), 9306.0 * 1048576.0);
    cJSON_Delete(j);
}

/* tests/fixtures/models/tiny-llama: 4 layers, 4 KV heads x 32, bf16.
 * KV = 4 x 4 x (32 + 32) x 2 = 2048 B/token; parameters by formula:
 * 2 x 32000 x 256 (embeddings + lm_head) + 4 layers x (attention 256x256 + 2 x 256x128 + 256x256
 * = 196608, MLP 3 x 256 x 688 = 528384, norms 512) + final norm 256 = 19286272 params x 2 B = 38572544 B.
 * The inverse answer is plugged back through the command: B fits, B + 1 does not. */
Test(estimate_cli, fixture_tiny_llama_plug_back)
{
    char *tmp = iwt_tmpdir("esttiny");
    const char *model = iwt_fixture("models/tiny-llama");
    char args[4096], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "'%s' --vram 1GiB --json", model);
    int rc = run(tmp, args, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err ? err : "");
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_assert_eq(cJSON_GetObjectItem(j, "kv_bytes_per_token")->valuedouble, 2048);
    cr_assert_eq(cJSON_GetObjectItem(j, "weights_bytes")->valuedouble, 38572544);
    cJSON *inv = cJSON_GetObjectItem(j, "inverse");
    int b = (int)cJSON_GetObjectItem(inv, "max_batch")->valuedouble;
    cr_assert_eq(cJSON_GetObjectItem(inv, "max_context")->valuedouble, 4096);
    cr_assert_gt(b, 1);
    cJSON_Delete(j);
    free(out);
    free(err);
    snprintf(args, sizeof args, "'%s' --vram 1GiB --context 4096 --batch %d", model, b);
    cr_assert_eq(run(tmp, args, &out, &err), 0, "batch %d should fit: %s", b, err);
    cr_assert(strstr(out, "-> fits"), "%s", out);
    free(out);
    free(err);
    snprintf(args, sizeof args, "'%s' --vram 1GiB --context 4096 --batch %d", model, b + 1);
    cr_assert_eq(run(tmp, args, &out, &err), 1, "batch %d should not fit", b + 1);
    cr_assert(strstr(err, "does not fit"), "%s", err);
    free(out);
    free(err);
    iwt_rm_rf(tmp);
    free(tmp);
}

/* REPO: an org/name that is not a local path is read from the hub by HTTP
 * Range (headers only) - here the fixture hub's demo-org/tiny-llama. */
Test(estimate_cli, remote_repo_on_fakehub, .timeout = 90)
{
    char *root = iwt_tmpdir("esthub");
    cr_assert_eq(iwt_hub_make_demo(root), 0);
    iwt_hub hub;
    memset(&hub, 0, sizeof hub);
    cr_assert_eq(iwt_hub_start(&hub, root, NULL), 0, "fakehub did not start");
    char cmd[8192], *out = NULL, *err = NULL;
    /* the demo checkpoint is float32: vLLM's dtype auto loads it in 16-bit
     * (fp16, bf16 since 0.10.1), so the estimate says so and sizes 2 B */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && HF_ENDPOINT=%s HF_TOKEN= HF_TOKEN_PATH=/nonexistent HF_HUB_OFFLINE= "
             "IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' estimate demo-org/tiny-llama --context 1024 --json",
             root, hub.hub_url, root, iwt_cli());
    int rc = iwt_run(cmd, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err ? err : "");
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    /* demo: 2 layers x 2 KV heads x (16 + 16) x 2 B = 256 B/token; weights:
     * the safetensors header counts 106816 params exactly, x 2 B = 213632 */
    cr_assert_eq(cJSON_GetObjectItem(j, "kv_bytes_per_token")->valuedouble, 256);
    cr_assert_eq(cJSON_GetObjectItem(j, "weights_bytes")->valuedouble, 213632);
    cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "terms"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(w, "source")->valuestring, "exact parameters x dtype");
    cr_assert(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "dtype"), "source")->valuestring, "float32"),
              "the dtype choice is explained");
    cJSON_Delete(j);
    free(out);
    free(err);
    /* --dtype fp32 runs it as stored: 4 B, the header's own byte count */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && HF_ENDPOINT=%s HF_TOKEN= HF_TOKEN_PATH=/nonexistent HF_HUB_OFFLINE= "
             "IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' estimate demo-org/tiny-llama --context 1024 --dtype fp32 --json",
             root, hub.hub_url, root, iwt_cli());
    rc = iwt_run(cmd, &out, &err);
    iwt_hub_stop(&hub);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err ? err : "");
    j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_assert_eq(cJSON_GetObjectItem(j, "kv_bytes_per_token")->valuedouble, 512);
    cr_assert_eq(cJSON_GetObjectItem(j, "weights_bytes")->valuedouble, 427264);
    w = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "terms"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(w, "source")->valuestring, "exact: safetensors headers");
    cJSON_Delete(j);
    free(out);
    free(err);
    iwt_rm_rf(root);
    free(root);
}

static const cJSON *term_named(const cJSON *j, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "terms"))
        if (!strcmp(cJSON_GetObjectItem(t, "name")->valuestring, name))
            return t;
    cr_assert_fail("no %s term", name);
    return NULL;
}

static double term_bytes_of(const cJSON *j, const char *name)
{
    return cJSON_GetObjectItem(term_named(j, name), "bytes")->valuedouble;
}

/* A GGUF file from the corpus, estimated from its own tensor infos.
 * stories260K: dim 64, 5 layers, 8 heads / 4 KV heads of 8, FFN 172, vocab 512,
 * untied output, every tensor F32, context 2048.
 *   weights: 292800 params x 4 B = 1171200 (exact: gguf tensors)
 *   on the GPU: all but the token embeddings (512 x 64 x 4 = 131072, host RAM) = 1040128
 *   KV f16: 5 x 4 x (8 + 8) x 2 = 640 B/token; n_ctx 2048 -> 1310720
 *   compute nT = 512: max(output 512 x (512 + 64) x 4 = 1179648, FFN 512 x (128 + 516) x 4 = 1318912,
 *                         FA attention 512 x 128 x 4 + 2048 x 512 x 2 = 2359296) = 2359296 */
Test(estimate_cli, corpus_gguf_stories260k)
{
    const char *corpus = iwt_corpus_dir();
    if (!corpus)
        cr_skip_test("corpus absent: ../shared/corpus (gguf/stories260K.gguf)");
    char *tmp = iwt_tmpdir("estgguf");
    char a[4096], *out = NULL, *err = NULL;
    snprintf(a, sizeof a, "'%s/gguf/stories260K.gguf' --json", corpus);
    int rc = run(tmp, a, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err ? err : "");
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "inputs"), "engine")->valuestring, "llama.cpp");
    cr_assert_eq(cJSON_GetObjectItem(j, "weights_bytes")->valuedouble, 1171200);
    cr_assert_str_eq(cJSON_GetObjectItem(term_named(j, "weights"), "source")->valuestring, "exact: gguf tensors");
    cr_assert_eq(term_bytes_of(j, "weights"), 1040128);
    /* host: token embeddings 131072 + the output buffer (512 logits x 4 B) */
    cr_assert_eq(cJSON_GetObjectItem(j, "host_bytes")->valuedouble, 131072 + 2048);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "host_terms")), 2);
    cr_assert_eq(cJSON_GetObjectItem(j, "kv_bytes_per_token")->valuedouble, 640);
    cr_assert_eq(term_bytes_of(j, "kv_cache"), 640.0 * 2048);
    /* what llama.cpp itself reserves for this file under llama-server at ctx 2048 (the oracle) */
    cr_assert_eq(term_bytes_of(j, "compute"), 3690528);
    cJSON_Delete(j);
    free(out);
    free(err);
    /* -ctk/-ctv q8_0 at 1000 tokens: 5 x 4 x 16 x 34/32 = 340 B/token, n_ctx PAD(1000, 256) = 1024 */
    snprintf(a, sizeof a, "'%s/gguf/stories260K.gguf' --context 1000 --kv-dtype q8_0 --json", corpus);
    rc = run(tmp, a, &out, &err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err ? err : "");
    j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_assert_eq(cJSON_GetObjectItem(j, "kv_bytes_per_token")->valuedouble, 340);
    cr_assert_eq(term_bytes_of(j, "kv_cache"), 340.0 * 1024);
    cJSON_Delete(j);
    free(out);
    free(err);
    iwt_rm_rf(tmp);
    free(tmp);
}

/* The issue's case through the command: Llama-3.1-8B (bf16, 131072
 * positions) on a 12 GiB card at 131072 tokens.  Trying one change at a time
 * answered "cheapest: --tp 4" (three more GPUs); a 4-bit checkpoint with a
 * shorter context fits on the one card. */
Test(estimate_cli, cheapest_fix_is_not_more_gpus_when_one_card_can_do)
{
    char *tmp = iwt_tmpdir("est131k");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/llama31-8b", tmp);
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *cfg =
        "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":4096,"
        "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
        "\"num_key_value_heads\":8,\"vocab_size\":128256,\"max_position_embeddings\":131072,"
        "\"rope_scaling\":{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
        "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},"
        "\"torch_dtype\":\"bfloat16\",\"rope_theta\":500000.0,\"tie_word_embeddings\":false}";
    cr_assert_eq(iwt_write(path, cfg, strlen(cfg)), 0);
    char args[8192], *out = NULL;
    snprintf(args, sizeof args, "'%s' --vram 12GiB --context 131072", dir);
    cr_assert_eq(run(tmp, args, &out, NULL), 1, "does not fit: exit 1");
    const char *c = out ? strstr(out, "\ncheapest: ") : NULL;
    cr_assert_not_null(c, "%s", out);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(c + 1, "\n"), c + 1);
    cr_expect_null(strstr(line, "--tp"), "%s\n(the whole answer:\n%s)", line, out);
    cr_expect(strstr(line, "--quantization awq") && strstr(line, "--context "), "%s", line);
    free(out);
    iwt_rm_rf(tmp);
    free(tmp);
}

/* Recommended parallelism stops at what the engine takes: tiny-llama on a
 * 24 GiB card has memory for thousands of sequences, but llama-server has
 * at most 256 slots (LLAMA_MAX_SEQ; -np 3703 does not start), Ollama runs
 * llama-server with -np OLLAMA_NUM_PARALLEL, and vLLM's default
 * max_num_seqs is 256.  The answer says when the cap, not memory, decides. */
Test(estimate_cli, recommended_parallelism_is_capped_at_engine_limits)
{
    char *tmp = iwt_tmpdir("estcap");
    const char *model = iwt_fixture("models/tiny-llama");
    static const struct { const char *engine, *flag; } cases[] = {
        {"vllm", "--max-num-seqs"}, {"llama.cpp", "-np"}, {"ollama", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[4096], *out = NULL;
        snprintf(args, sizeof args, "'%s' --gpu rtx4090 --context 4096 --engine %s --json", model, cases[i].engine);
        cr_assert_eq(run(tmp, args, &out, NULL), 0, "%s", out);
        cJSON *j = cJSON_Parse(out);
        cr_assert_not_null(j, "%s", out);
        const cJSON *rec = cJSON_GetObjectItem(j, "recommended");
        double b = cJSON_GetNumberValue(cJSON_GetObjectItem(rec, "batch"));
        cr_expect_leq(b, 256, "%s: recommended batch %.0f", cases[i].engine, b);
        double mem = cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "inverse"), "max_batch"));
        cr_expect_gt(mem, 256, "%s: memory alone allows %.0f", cases[i].engine, mem);
        const cJSON *cap = cJSON_GetObjectItem(rec, "batch_cap");
        cr_expect(cJSON_IsObject(cap) && cJSON_GetNumberValue(cJSON_GetObjectItem(cap, "value")) == b &&
                  cJSON_GetStringValue(cJSON_GetObjectItem(cap, "reason")),
                  "%s: the answer does not say the cap decided: %s", cases[i].engine, out);
        if (cases[i].flag) {
            const cJSON *a = cJSON_GetObjectItem(rec, "args");
            for (int k = 0; k + 1 < cJSON_GetArraySize(a); k++)
                if (!strcmp(cJSON_GetStringValue(cJSON_GetArrayItem(a, k)), cases[i].flag))
                    cr_expect_leq(atof(cJSON_GetStringValue(cJSON_GetArrayItem(a, k + 1))), 256, "%s", out);
        }
        cJSON_Delete(j);
        free(out);
        /* the text says so too, and an Ollama Modelfile never asks for more */
        snprintf(args, sizeof args, "'%s' --gpu rtx4090 --context 4096 --engine %s", model, cases[i].engine);
        cr_assert_eq(run(tmp, args, &out, NULL), 0);
        cr_expect(out && strstr(out, "capped at 256"), "%s: %s", cases[i].engine, out);
        free(out);
    }
    char args[4096], *out = NULL;
    snprintf(args, sizeof args, "'%s' --gpu rtx4090 --context 4096 --emit ollama", model);
    cr_assert_eq(run(tmp, args, &out, NULL), 0);
    const char *p = out ? strstr(out, "OLLAMA_NUM_PARALLEL=") : NULL;
    cr_expect(p && atoi(p + 20) <= 256, "%s", out);
    free(out);
    iwt_rm_rf(tmp);
    free(tmp);
}

/* --emit compose for a remote repo: the container fetches the repo itself,
 * so it must use the Hub endpoint and cache the estimate was run with
 * (HF_ENDPOINT, HF_HOME), unless `docker compose up` sets its own.  (Run
 * away from the hub's folder, so that org/name is not also a local path.) */
Test(estimate_cli, compose_of_a_remote_repo_uses_hf_endpoint_and_hf_home, .timeout = 90)
{
    char *root = iwt_tmpdir("estcompose");
    cr_assert_eq(iwt_hub_make_demo(root), 0);
    iwt_hub hub;
    memset(&hub, 0, sizeof hub);
    cr_assert_eq(iwt_hub_start(&hub, root, NULL), 0, "fakehub did not start");
    char cmd[8192], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/elsewhere' && cd '%s/elsewhere' && HF_ENDPOINT=%s HF_HOME='%s/hf $home' HF_HUB_CACHE= HF_TOKEN= HF_TOKEN_PATH=/nonexistent "
             "HF_HUB_OFFLINE= IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' estimate demo-org/tiny-llama --context 1024 "
             "--vram 8GiB --emit compose",
             root, root, hub.hub_url, root, root, iwt_cli());
    int rc = iwt_run(cmd, &out, &err);
    iwt_hub_stop(&hub);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err ? err : "");
    char want[4096];
    snprintf(want, sizeof want, "HF_ENDPOINT: \"${HF_ENDPOINT:-%s}\"", hub.hub_url);
    cr_expect(strstr(out, want), "no %s in:\n%s", want, out);
    snprintf(want, sizeof want, "\"${HF_HOME:-%s/hf $$home}\"", root);
    cr_expect(strstr(out, want), "no %s in:\n%s", want, out);
    /* and it is YAML that says so (when python3-yaml is there to read it) */
    if (iwt_run("python3 -c 'import yaml'", NULL, NULL) == 0) {
        char file[4096];
        snprintf(file, sizeof file, "%s/compose.yaml", root);
        cr_assert_eq(iwt_write(file, out, strlen(out)), 0);
        snprintf(cmd, sizeof cmd,
                 "python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); "
                 "s = list(d[\"services\"].values())[0]; print(s[\"environment\"][\"HF_ENDPOINT\"]); "
                 "print(s[\"volumes\"][0][\"source\"]); print(s[\"volumes\"][0][\"target\"])' '%s'", file);
        char *py = NULL;
        cr_assert_eq(iwt_run(cmd, &py, NULL), 0, "not YAML:\n%s", out);
        snprintf(want, sizeof want, "${HF_ENDPOINT:-%s}\n${HF_HOME:-%s/hf $$home}\n/root/.cache/huggingface\n",
                 hub.hub_url, root);
        cr_expect_str_eq(py, want);
        free(py);
    }
    free(out);
    free(err);
    iwt_rm_rf(root);
    free(root);
}

/* One is "1 sequence", in the inverse answer and in a fix's cost. */
Test(estimate_cli, one_sequence_is_singular)
{
    char *tmp = iwt_tmpdir("est1seq");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/llama31-8b", tmp);
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *cfg =
        "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":4096,"
        "\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
        "\"num_key_value_heads\":8,\"vocab_size\":128256,\"max_position_embeddings\":131072,"
        "\"torch_dtype\":\"bfloat16\",\"tie_word_embeddings\":false}";
    cr_assert_eq(iwt_write(path, cfg, strlen(cfg)), 0);
    char args[8192], *out = NULL;
    /* 32768 tokens of KV are 4 GiB: one sequence fits next to 15 GiB of weights */
    snprintf(args, sizeof args, "'%s' --vram 24GiB --context 32768 --batch 3", dir);
    run(tmp, args, &out, NULL);
    cr_assert_not_null(out);
    cr_expect(strstr(out, ": 1 sequence\n") && strstr(out, "3 -> 1 concurrent sequence\n"), "%s", out);
    cr_expect_null(strstr(out, " 1 sequences"), "%s", out);
    cr_expect_null(strstr(out, " 1 concurrent sequences"), "%s", out);
    free(out);
    iwt_rm_rf(tmp);
    free(tmp);
}
