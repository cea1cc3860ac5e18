/* CLI behaviour of the tool itself and of `inspect` on local folders. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "iwtest.h"

static int run(const char *args, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s", iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

Test(cli, help_version_and_usage_errors)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(run("--help", &out, &err), 0);
    cr_assert(strstr(out, "download") && strstr(out, "migrate-architecture") && strstr(out, "estimate"));
    free(out); free(err);
    cr_assert_eq(run("--version", &out, &err), 0);
    cr_assert(strstr(out, "imageworks-download "));
    free(out); free(err);
    cr_assert_eq(run("", &out, &err), 2);
    free(out); free(err);
    cr_assert_eq(run("frobnicate", &out, &err), 2);
    cr_assert(strstr(err, "unknown command 'frobnicate'"), "%s", err);
    cr_assert_eq(count_lines(err), 1);
    free(out); free(err);
    cr_assert_eq(run("inspect", &out, &err), 2);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(out); free(err);
    cr_assert_eq(run("inspect --bogus x", &out, &err), 2);
    free(out); free(err);
    cr_assert_eq(run("inspect --help", &out, &err), 0);
    cr_assert(strstr(out, "--tensors"));
    free(out); free(err);
}

static char *make_model(const char *config, size_t len)
{
    char *d = iwt_tmpdir("cli");
    char p[4096];
    snprintf(p, sizeof p, "%s/model/config.json", d);
    iwt_write(p, config, len);
    return d;
}

Test(cli, inspect_bad_config_is_one_line_error)
{
    struct { const char *text; const char *expect; } cases[] = {
        { "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 42\n", "not downloaded" },
        { "{\"num_hidden_layers\": 32, \"hidden_size\": 40", "truncated" },
        { "[1, 2, 3]", "config.json" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *d = make_model(cases[i].text, strlen(cases[i].text));
        char args[4200], *out = NULL, *err = NULL;
        snprintf(args, sizeof args, "inspect '%s/model'", d);
        int rc = run(args, &out, &err);
        cr_assert_eq(rc, 1, "case %zu: exit %d, stderr %s", i, rc, err);
        cr_assert(strstr(err, cases[i].expect), "case %zu: %s", i, err);
        cr_assert_eq(count_lines(err), 1, "case %zu: %s", i, err);
        free(out); free(err);
        iwt_rm_rf(d);
        free(d);
    }
}

Test(cli, inspect_missing_path)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(run("inspect /nonexistent/model/dir", &out, &err), 1);
    cr_assert(strstr(err, "/nonexistent/model/dir"), "%s", err);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(out); free(err);
}

Test(cli, inspect_json_llama_folder)
{
    static const char cfg[] =
        "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\",\r\n"
        " \"hidden_size\": 4096, \"intermediate_size\": 14336, \"num_hidden_layers\": 32,\r\n"
        " \"num_attention_heads\": 32, \"num_key_value_heads\": 8, \"vocab_size\": 128256,\r\n"
        " \"max_position_embeddings\": 131072, \"rope_theta\": 500000.0, \"rms_norm_eps\": 1e-05,\r\n"
        " \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\"}\r\n";
    char *d = make_model(cfg, sizeof cfg - 1);
    char args[4200], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "inspect --json '%s/model'", d);
    cr_assert_eq(run(args, &out, &err), 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "not JSON: %s", out);
    cr_assert_eq(cJSON_GetObjectItem(j, "num_layers")->valueint, 32);
    cr_assert_eq(cJSON_GetObjectItem(j, "num_kv_heads")->valueint, 8);
    cr_assert_eq(cJSON_GetObjectItem(j, "head_dim")->valueint, 128);
    cr_assert_eq(cJSON_GetObjectItem(j, "context_length")->valueint, 131072);
    cJSON *p = cJSON_GetObjectItem(j, "parameters");
    cr_assert_not_null(p);
    /* Llama-3.1-8B published: 8,030,261,248 */
    cr_assert_eq((long long)cJSON_GetObjectItem(p, "total")->valuedouble, 8030261248LL);
    cr_assert_str_eq(cJSON_GetObjectItem(p, "source")->valuestring, "formula");
    /* GQA: 32 layers * 8 kv heads * 128 * 2 (K,V) * 2 bytes (bf16) */
    cr_assert_eq((long long)cJSON_GetObjectItem(j, "kv_bytes_per_token")->valuedouble, 131072LL);
    cJSON *fs = cJSON_GetObjectItem(j, "field_sources");
    cr_assert(cJSON_IsObject(fs));
    cr_assert_not_null(cJSON_GetObjectItem(fs, "num_layers"));
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(j, "sources")));
    cr_assert_not_null(cJSON_GetObjectItem(j, "collected_at"));
    cJSON_Delete(j);
    free(out); free(err);

    snprintf(args, sizeof args, "inspect '%s/model'", d);
    cr_assert_eq(run(args, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "8,030,261,248"), "%s", out);
    cr_assert(strstr(out, "kv_heads 8"), "%s", out);
    free(out); free(err);
    iwt_rm_rf(d);
    free(d);
}

Test(cli, inspect_single_gguf_file_from_corpus)
{
    const char *corpus = iwt_corpus_dir();
    if (!corpus)
        cr_skip_test("corpus absent: ../shared/corpus not found");
    char args[4200], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "inspect --json '%s/gguf/stories260K.gguf'", corpus);
    cr_assert_eq(run(args, &out, &err), 0, "%s", err);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j, "%s", out);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "source")->valuestring, "gguf");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "kv_precision")->valuestring, "fp16");
    cJSON *p = cJSON_GetObjectItem(j, "parameters");
    cr_assert_str_eq(cJSON_GetObjectItem(p, "source")->valuestring, "gguf");
    cr_assert_gt(cJSON_GetObjectItem(p, "total")->valuedouble, 0);
    cJSON_Delete(j);
    free(out); free(err);
}

/* ---- the text output: what is known, nothing else ----------------------- */

#include "extract/safetensors_testutil.h"

/* No line is a label alone, no value is "?", and no label is empty-valued
 * after it ("widths    " with nothing). */
static void expect_no_empty_fields(const char *what, const char *out)
{
    for (const char *l = out; *l; ) {
        size_t n = strcspn(l, "\n");
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)n, l);
        size_t k = strlen(line);
        while (k && line[k - 1] == ' ')
            line[--k] = 0;
        cr_expect(strchr(line, ' '), "%s: the line '%s' has a label and nothing else:\n%s", what, line, out);
        cr_expect_null(strstr(line, " ?"), "%s: unknown shown as '?': '%s'\n%s", what, line, out);
        l += n + (l[n] ? 1 : 0);
    }
}

/* A bare .safetensors file: the embedding [vocab, hidden] gives both. */
Test(cli, inspect_bare_safetensors_prints_what_the_embedding_gives)
{
    char *d = iwt_tmpdir("bare");
    char path[4200], args[4300], *out = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    stw_t t[] = {
        {"model.embed_tokens.weight", "BF16", 2, {32000, 256}},
        {"model.layers.0.self_attn.q_proj.weight", "BF16", 2, {256, 256}},
        {"model.layers.0.self_attn.k_proj.weight", "BF16", 2, {128, 256}},
        {"model.layers.0.mlp.up_proj.weight", "BF16", 2, {688, 256}},
        {"lm_head.weight", "BF16", 2, {32000, 256}},
    };
    cr_assert_eq(stw_write(path, t, sizeof t / sizeof t[0]), 0);
    snprintf(args, sizeof args, "inspect '%s'", path);
    cr_assert_eq(run(args, &out, NULL), 0);
    cr_expect(strstr(out, "hidden 256") && strstr(out, "vocab 32000"), "%s", out);
    cr_expect(strstr(out, "dtype      bfloat16"), "%s", out);
    expect_no_empty_fields("bare safetensors", out);
    free(out);
    snprintf(args, sizeof args, "inspect --json '%s'", path);
    cr_assert_eq(run(args, &out, NULL), 0);
    cJSON *j = cJSON_Parse(out);
    cr_assert_not_null(j);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "hidden_size")), 256);
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "vocab_size")), 32000);
    const char *src = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "field_sources"), "hidden_size"));
    cr_expect(src && strstr(src, "safetensors"), "%s", out);
    cJSON_Delete(j);
    free(out);
    iwt_rm_rf(d);
    free(d);
}

/* llava (a vision tower the config does not size), an F32 GGUF and T5 (no
 * torch_dtype in its config): each line says something. */
Test(cli, inspect_prints_no_empty_line)
{
    const char *corpus = iwt_corpus_dir();
    if (!corpus)
        cr_skip_test("corpus absent: ../shared/corpus not found");
    char args[4300], *out = NULL;
    snprintf(args, sizeof args, "inspect '%s/configs/llava__llava-v1.5-7b'", corpus);
    cr_assert_eq(run(args, &out, NULL), 0);
    expect_no_empty_fields("llava", out);
    cr_expect(strstr(out, "\nvision "), "the vision tower is known to be there:\n%s", out);
    free(out);
    snprintf(args, sizeof args, "inspect '%s/gguf/stories260K.gguf'", corpus);
    cr_assert_eq(run(args, &out, NULL), 0);
    expect_no_empty_fields("F32 GGUF", out);
    cr_expect(strstr(out, "dtype      float32"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "inspect '%s/configs/t5__t5-small'", corpus);
    cr_assert_eq(run(args, &out, NULL), 0);
    expect_no_empty_fields("t5-small", out);
    free(out);
}
