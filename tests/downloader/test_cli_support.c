/* test_cli_support.c - the download command's support repo: --support-repo,
 * and without it the model card's base_model (or a config's _name_or_path)
 * for repos that ship no config.json (GGUF-only, quantized).  Everything
 * through the CLI against fakehub, checking the registry entry's
 * field_sources and the request log. */
#include "hubtest.c"
#include "dltest.h"
#include "extract/gguf_testwriter.h"

#include <glob.h>

static char *g_root, *g_home;
static iwt_hub g_hub;

/* A GGUF that names the architecture and the layer count only: what the
 * support repo's config.json adds is visible in field_sources. */
static void put_gguf(const char *repo, const char *path)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 1, 3);
    gw_kv_str(&w, "general.architecture", "llama");
    gw_kv_u32(&w, "llama.block_count", 2);
    gw_kv_u32(&w, "llama.attention.head_count", 4);
    const gw_t t[] = { { "token_embd.weight", 2, { 64, 256 }, 0 } };
    gw_tensors(&w, t, 1, 32);
    char full[4096];
    snprintf(full, sizeof full, "%s/%s/%s", g_root, repo, path);
    cr_assert_eq(iwt_write(full, w.p, w.len), 0);
    gw_free(&w);
}

static const char BASE_CONFIG[] =
    "{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
    "\"intermediate_size\":128,\"vocab_size\":256,\"max_position_embeddings\":2048,"
    "\"rope_theta\":10000.0,\"torch_dtype\":\"float16\"}";

static void put_meta(const char *repo, const char *json)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s.hub.json", g_root, repo);
    cr_assert_eq(iwt_write(p, json, strlen(json)), 0);
}

static void setup(void)
{
    g_root = iwt_tmpdir("suproot");
    g_home = iwt_tmpdir("suphome");
    /* the base repos: config + tokenizer files, and weights never to be fetched */
    dl_put_text(g_root, "org/base", "config.json", BASE_CONFIG);
    dl_put_text(g_root, "org/base", "tokenizer_config.json", "{\"model_max_length\":2048}");
    dl_put_text(g_root, "org/base", "tokenizer.json", "{\"version\":\"1.0\"}");
    dl_put(g_root, "org/base", "model.safetensors", 300000, 3);
    dl_put_text(g_root, "org/other", "config.json", BASE_CONFIG);
    dl_put(g_root, "org/other", "pytorch_model.bin", 200000, 4);
    cr_assert_eq(iwt_hub_start(&g_hub, g_root, NULL), 0, "fakehub did not start");
}

static void teardown(void)
{
    iwt_hub_stop(&g_hub);
    iwt_rm_rf(g_root);
    iwt_rm_rf(g_home);
    free(g_root);
    free(g_home);
}

TestSuite(support, .init = setup, .fini = teardown, .timeout = 90);

static const cJSON *field_sources(const cJSON *entry)
{
    const cJSON *arch = cJSON_GetObjectItem(cJSON_GetObjectItem(entry, "metadata"), "architecture");
    cr_assert_not_null(arch, "entry without metadata.architecture");
    return cJSON_GetObjectItem(arch, "field_sources");
}

static int count_sources(const cJSON *fs, const char *value)
{
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, fs)
        if (cJSON_IsString(it) && !strcmp(it->valuestring, value))
            n++;
    return n;
}

static bool warnings_mention(const cJSON *entry, const char *a, const char *b)
{
    const cJSON *arch = cJSON_GetObjectItem(cJSON_GetObjectItem(entry, "metadata"), "architecture");
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(arch, "warnings"))
        if (cJSON_IsString(w) && strstr(w->valuestring, a) && (!b || strstr(w->valuestring, b)))
            return true;
    return false;
}

/* The support repo's config (and no weights) is in the HF cache, and
 * nothing of it in the model folder, which the original imageworks walks. */
static void expect_support_files(const char *dest, const char *folder)
{
    char p[4096];
    glob_t g;
    snprintf(p, sizeof p, "%s/hf/hub/models--%s/snapshots/*/config.json", g_home, folder);
    cr_expect_eq(glob(p, 0, NULL, &g), 0, "missing %s", p);
    if (g.gl_pathc == 1) {
        char *snap = strdup(g.gl_pathv[0]);
        *strrchr(snap, '/') = '\0';
        snprintf(p, sizeof p, "%s/model.safetensors", snap);
        cr_expect(!iw_path_exists(p), "support fetch took weights: %s", p);
        snprintf(p, sizeof p, "%s/pytorch_model.bin", snap);
        cr_expect(!iw_path_exists(p), "support fetch took weights: %s", p);
        free(snap);
    }
    globfree(&g);
    snprintf(p, sizeof p, "%s/.imageworks", dest);
    cr_expect(!iw_path_exists(p), "the support repo left %s in the model folder", p);
}

Test(support, card_base_model_fills_gguf_only_repo)
{
    put_gguf("org/quant-gguf", "model-Q4_K_M.gguf");
    put_meta("org/quant-gguf", "{\"card\":{\"base_model\":\"org/base\",\"license\":\"mit\"}}");
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download org/quant-gguf --dest %s/d", g_home);
    cr_assert_eq(dl_cli(&g_hub, g_home, "", args, &out, &err), 0, "out: %s\nerr: %s", out, err);
    cr_expect(err && strstr(err, "warning") && strstr(err, "org/base") && strstr(err, "base_model"),
              "no warning naming the base model: %s", err);
    free(out);
    free(err);
    char dest[4096];
    snprintf(dest, sizeof dest, "%s/d", g_home);
    expect_support_files(dest, "org--base");
    /* only config/tokenizer files of the base repo were requested */
    cr_expect_eq(dl_log_count(&g_hub, "/org/base/resolve/main/model.safetensors"), 0);
    cr_expect_eq(dl_log_count(&g_hub, "model.safetensors"), 0, "a weight file of the base repo was requested");
    cJSON *root;
    const cJSON *e = dl_only_entry(g_home, &root);
    const cJSON *fs = field_sources(e);
    char *txt = cJSON_PrintUnformatted(fs);
    cr_expect_geq(count_sources(fs, "support_repo:org/base"), 3, "field_sources: %s", txt);
    const cJSON *hs = cJSON_GetObjectItem(fs, "intermediate_size");
    cr_expect(cJSON_IsString(hs) && !strcmp(hs->valuestring, "support_repo:org/base"), "field_sources: %s", txt);
    /* what the GGUF header says keeps its own source */
    const cJSON *nl = cJSON_GetObjectItem(fs, "num_layers");
    cr_expect(cJSON_IsString(nl) && strcmp(nl->valuestring, "support_repo:org/base"), "field_sources: %s", txt);
    free(txt);
    cr_expect(warnings_mention(e, "org/base", "base_model"), "the entry does not record where the config came from");
    cJSON_Delete(root);
}

Test(support, card_base_model_list_and_hf_cache)
{
    /* a list: the first that exists wins; the missing one is a warning */
    put_gguf("org/multi-gguf", "m.gguf");
    put_meta("org/multi-gguf", "{\"card\":{\"base_model\":[\"org/gone\",\"org/base\"]}}");
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download org/multi-gguf --hf-cache");
    cr_assert_eq(dl_cli(&g_hub, g_home, "", args, &out, &err), 0, "out: %s\nerr: %s", out, err);
    cr_expect(err && strstr(err, "org/gone") && strstr(err, "could not be fetched"), "stderr: %s", err);
    cr_expect(err && strstr(err, "taken from its base model org/base"), "stderr: %s", err);
    free(out);
    free(err);
    /* with --hf-cache the support files are in the same cache, and no
     * plain destination is made for them */
    char dest[4096];
    snprintf(dest, sizeof dest, "%s/models/org/multi-gguf", g_home);
    expect_support_files(dest, "org--base");
    cr_expect(!iw_path_exists(dest), "a plain folder %s was made for the support repo", dest);
    cJSON *root;
    const cJSON *e = dl_only_entry(g_home, &root);
    cr_expect_geq(count_sources(field_sources(e), "support_repo:org/base"), 3);
    cJSON_Delete(root);
}

Test(support, no_base_model_no_fetch_and_a_clear_warning)
{
    put_gguf("org/lone-gguf", "m.gguf");
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download org/lone-gguf --dest %s/d", g_home);
    iwt_hub_reset(&g_hub);
    cr_assert_eq(dl_cli(&g_hub, g_home, "", args, &out, &err), 0, "out: %s\nerr: %s", out, err);
    cr_expect(err && strstr(err, "names no base model") && strstr(err, "--support-repo"), "stderr: %s", err);
    free(out);
    free(err);
    /* the only repo asked about is the one downloaded */
    int all = 0, own = 0;
    dl_log_bytes(&g_hub, NULL, NULL, &all, NULL);
    dl_log_bytes(&g_hub, NULL, "org/lone-gguf", &own, NULL);
    cr_expect_eq(all, own, "%d requests, %d for the repo itself", all, own);
    char p[4096];
    snprintf(p, sizeof p, "%s/hf/hub", g_home);
    cr_expect(!iw_path_exists(p), "a support repo was fetched into the HF cache");
    cJSON *root;
    const cJSON *e = dl_only_entry(g_home, &root);
    cr_expect_eq(count_sources(field_sources(e), "support_repo:org/base"), 0);
    cJSON_Delete(root);
}

Test(support, explicit_support_repo_wins_over_the_card)
{
    put_gguf("org/both-gguf", "m.gguf");
    put_meta("org/both-gguf", "{\"card\":{\"base_model\":\"org/base\"}}");
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download org/both-gguf --support-repo org/other --dest %s/d", g_home);
    iwt_hub_reset(&g_hub);
    cr_assert_eq(dl_cli(&g_hub, g_home, "", args, &out, &err), 0, "out: %s\nerr: %s", out, err);
    cr_expect(out && strstr(out, "support repo org/other"), "stdout: %s", out);
    cr_expect(!err || !strstr(err, "base model"), "stderr: %s", err);
    free(out);
    free(err);
    cr_expect_eq(dl_log_count(&g_hub, "org/base"), 0, "the card's base_model was fetched despite --support-repo");
    cr_expect_eq(dl_log_count(&g_hub, "pytorch_model.bin"), 0, "a weight file of the support repo was requested");
    char dest[4096];
    snprintf(dest, sizeof dest, "%s/d", g_home);
    expect_support_files(dest, "org--other");
    cJSON *root;
    const cJSON *e = dl_only_entry(g_home, &root);
    const cJSON *fs = field_sources(e);
    cr_expect_geq(count_sources(fs, "support_repo:org/other"), 3);
    cr_expect_eq(count_sources(fs, "support_repo:org/base"), 0);
    cJSON_Delete(root);
    /* a support repo that does not exist is an error when named explicitly */
    snprintf(args, sizeof args, "download org/both-gguf --support-repo org/nope --dest %s/d", g_home);
    cr_expect_eq(dl_cli(&g_hub, g_home, "", args, NULL, &err), 1);
    cr_expect(err && strstr(err, "org/nope") && strstr(err, "not found"), "stderr: %s", err);
    free(err);
}

Test(support, missing_base_model_is_a_warning_and_the_download_succeeds)
{
    put_gguf("org/orphan-gguf", "m.gguf");
    put_meta("org/orphan-gguf", "{\"card\":{\"base_model\":\"org/does-not-exist\"}}");
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download org/orphan-gguf --dest %s/d", g_home);
    cr_assert_eq(dl_cli(&g_hub, g_home, "", args, &out, &err), 0, "out: %s\nerr: %s", out, err);
    cr_expect(err && strstr(err, "org/does-not-exist") && strstr(err, "not found") &&
              strstr(err, "continuing without"), "stderr: %s", err);
    free(out);
    free(err);
    char p[4096];
    snprintf(p, sizeof p, "%s/d/m.gguf", g_home);
    cr_expect(iw_path_is_file(p), "the download itself did not complete");
    cJSON *root;
    const cJSON *e = dl_only_entry(g_home, &root);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "artifacts"), "files")), 1);
    cJSON_Delete(root);
}

Test(support, config_name_or_path_is_the_second_choice)
{
    /* no card, but a config of the quantizer names the original model */
    put_gguf("org/awq-like", "m.gguf");
    dl_put_text(g_root, "org/awq-like", "quant_config.json", "{\"_name_or_path\":\"org/base\",\"w_bit\":4}");
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download org/awq-like --dest %s/d --json", g_home);
    cr_assert_eq(dl_cli(&g_hub, g_home, "", args, &out, &err), 0, "out: %s\nerr: %s", out, err);
    /* --json: the warning is an event on stdout, stderr stays empty */
    cr_expect(out && strstr(out, "\"event\":\"warning\"") && strstr(out, "_name_or_path"), "stdout: %s", out);
    cr_expect(!err || !*err, "stderr: %s", err);
    free(out);
    free(err);
    cJSON *root;
    const cJSON *e = dl_only_entry(g_home, &root);
    cr_expect_geq(count_sources(field_sources(e), "support_repo:org/base"), 3);
    cJSON_Delete(root);
}

Test(support, no_architecture_skips_the_lookup)
{
    put_gguf("org/skip-gguf", "m.gguf");
    put_meta("org/skip-gguf", "{\"card\":{\"base_model\":\"org/base\"}}");
    char args[8192], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "download org/skip-gguf --no-architecture --quiet --dest %s/d", g_home);
    iwt_hub_reset(&g_hub);
    cr_assert_eq(dl_cli(&g_hub, g_home, "", args, &out, &err), 0, "%s", err);
    cr_expect(!out || !*out, "stdout: %s", out);
    cr_expect(!err || !*err, "stderr: %s", err);
    free(out);
    free(err);
    cr_expect_eq(dl_log_count(&g_hub, "org/base"), 0);
}
