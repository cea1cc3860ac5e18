/* Registry commands through the CLI binary, IMAGEWORKS_REGISTRY_DIR in a tmpdir. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "iwdl/json.h"
#include "iwtest.h"
#include "hubtest.h"
#include "hubtest.c"

static char *g_dir;

static int run(const char *args, char **out, char **err)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "IMAGEWORKS_REGISTRY_DIR='%s/reg' IMAGEWORKS_METRICS_LOG='%s/none.jsonl' '%s' %s",
             g_dir, g_dir, iwt_cli(), args);
    return iwt_run(cmd, out, err);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static void put(const char *rel, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    cr_assert_eq(iwt_write(p, text, strlen(text)), 0);
}

static const char *CONFIG =
    "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":896,"
    "\"num_hidden_layers\":24,\"num_attention_heads\":14,\"num_key_value_heads\":2,"
    "\"intermediate_size\":4864,\"vocab_size\":151936,\"max_position_embeddings\":32768,"
    "\"torch_dtype\":\"bfloat16\",\"tie_word_embeddings\":true}";

static void setup(void)
{
    g_dir = iwt_tmpdir("regcli");
    put("w/Qwen/Qwen2.5-0.5B-Instruct/config.json", CONFIG);
    put("w/Qwen/Qwen2.5-0.5B-Instruct/tokenizer.json", "{}");
}

static void teardown(void)
{
    iwt_rm_rf(g_dir);
    free(g_dir);
}

TestSuite(regcli, .init = setup, .fini = teardown, .timeout = 240);

Test(regcli, help_and_usage)
{
    const char *cmds[] = { "list", "show", "remove", "verify", "scan", "migrate-architecture", "reconcile-architecture" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char a[128], *out = NULL, *err = NULL;
        snprintf(a, sizeof a, "%s --help", cmds[i]);
        cr_assert_eq(run(a, &out, &err), 0, "%s", a);
        cr_assert(strstr(out, "usage: imageworks-download"), "%s: %s", a, out);
        free(out); free(err);
        snprintf(a, sizeof a, "%s --bogus", cmds[i]);
        cr_assert_eq(run(a, &out, &err), 2, "%s", a);
        cr_assert_eq(count_lines(err), 1, "%s: %s", a, err);
        free(out); free(err);
    }
    char *out = NULL, *err = NULL;
    cr_assert_eq(run("show", &out, &err), 2);
    free(out); free(err);
    cr_assert_eq(run("migrate-architecture --limit x", &out, &err), 2);
    free(out); free(err);
}

Test(regcli, scan_list_show_verify_remove)
{
    char *out = NULL, *err = NULL, a[4096];
    snprintf(a, sizeof a, "scan '%s/w'", g_dir);
    cr_assert_eq(run(a, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "-> qwen2.5-0.5b-instruct_(BF16)"), "%s", out);
    free(out); free(err);
    /* scanning again updates, never duplicates */
    cr_assert_eq(run(a, &out, &err), 0);
    free(out); free(err);
    cr_assert_eq(run("list --json", &out, &err), 0, "%s", err);
    cJSON *rows = cJSON_Parse(out);
    cr_assert_eq(cJSON_GetArraySize(rows), 1, "%s", out);
    cJSON *row = cJSON_GetArrayItem(rows, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(row, "backend")->valuestring, "vllm");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(row, "installed")));
    cJSON_Delete(rows);
    free(out); free(err);
    cr_assert_eq(run("list", &out, &err), 0);
    cr_assert(strstr(out, "qwen2.5-0.5b-instruct_(BF16)"));
    free(out); free(err);
    cr_assert_eq(run("show 'qwen2.5-0.5b-instruct_(BF16)' --json", &out, &err), 0, "%s", err);
    cJSON *e = cJSON_Parse(out);
    cJSON *arch = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture");
    cr_assert_eq(cJSON_GetObjectItem(arch, "num_layers")->valueint, 24);
    cJSON *xa = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "extra_args");
    cr_assert_str_eq(cJSON_GetArrayItem(xa, 1)->valuestring, "19660");
    cJSON_Delete(e);
    free(out); free(err);
    cr_assert_eq(run("show 'qwen2.5-0.5b-instruct_(BF16)'", &out, &err), 0);
    cr_assert(strstr(out, "num_layers"), "%s", out);
    free(out); free(err);
    cr_assert_eq(run("show nope", &out, &err), 1);
    cr_assert_eq(count_lines(err), 1);
    free(out); free(err);
    cr_assert_eq(run("verify", &out, &err), 0, "%s", out);
    cr_assert(strstr(out, "0 missing, 0 changed"), "%s", out);
    free(out); free(err);
    put("w/Qwen/Qwen2.5-0.5B-Instruct/tokenizer.json", "{\"changed\":1}");
    cr_assert_eq(run("verify 'qwen2.5-0.5b-instruct_(BF16)'", &out, &err), 1, "%s", out);
    cr_assert(strstr(out, "SIZE"), "%s", out);
    free(out); free(err);
    snprintf(a, sizeof a, "%s/w/Qwen/Qwen2.5-0.5B-Instruct/tokenizer.json", g_dir);
    remove(a);
    cr_assert_eq(run("verify", &out, &err), 1);
    cr_assert(strstr(out, "MISSING"), "%s", out);
    free(out); free(err);
    /* an ollama: path is never deleted, and nothing changes */
    put("reg/model_registry.curated.json", "[{\"name\":\"olla\",\"download_path\":\"ollama:/qwen3:8b\"}]");
    cr_assert_eq(run("remove olla --delete-files", &out, &err), 1);
    cr_assert(strstr(err, "Ollama store reference") && strstr(err, "nothing changed"), "%s", err);
    cr_assert_eq(count_lines(err), 1);
    free(out); free(err);
    cr_assert_eq(run("show olla", &out, &err), 0, "%s", err);
    free(out); free(err);
    /* remove by name takes it out of the curated layer too */
    cr_assert_eq(run("remove olla", &out, &err), 0, "%s", err);
    free(out); free(err);
    cr_assert_eq(run("show olla", &out, &err), 1);
    free(out); free(err);
    cr_assert_eq(run("remove 'qwen2.5-0.5b-instruct_(BF16)' --delete-files", &out, &err), 0, "%s", err);
    free(out); free(err);
    snprintf(a, sizeof a, "%s/w/Qwen/Qwen2.5-0.5B-Instruct/config.json", g_dir);
    FILE *f = fopen(a, "r");
    cr_assert_null(f, "files not deleted");
    cr_assert_eq(run("list --json", &out, &err), 0);
    cr_assert_str_eq(out, "[]\n");
    free(out); free(err);
    cr_assert_eq(run("remove 'qwen2.5-0.5b-instruct_(BF16)'", &out, &err), 1);
    free(out); free(err);
}

Test(regcli, corrupt_registry_refused_untouched)
{
    const char *bad = "[{\"name\":\"a\"},\n{\"name\":\"a\"}]";
    put("reg/model_registry.discovered.json", bad);
    char *out = NULL, *err = NULL, a[4096];
    cr_assert_eq(run("list", &out, &err), 1);
    cr_assert(strstr(err, "model_registry.discovered.json:2:1: duplicate entry name 'a'"), "%s", err);
    cr_assert_eq(count_lines(err), 1);
    free(out); free(err);
    snprintf(a, sizeof a, "scan '%s/w'", g_dir);
    cr_assert_neq(run(a, &out, &err), 0);
    free(out); free(err);
    snprintf(a, sizeof a, "%s/reg/model_registry.discovered.json", g_dir);
    char *now = iwt_slurp(a, NULL);
    cr_assert_str_eq(now, bad);
    free(now);
}

Test(regcli, concurrent_reconcile_and_migrate)
{
    char *out = NULL, *err = NULL, a[8192];
    /* N installs registered without architecture, and a log naming them all */
    char reg[65536] = "[", log[65536] = "";
    for (int i = 0; i < 20; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "w/o/m%d/config.json", i);
        put(rel, CONFIG);
        size_t n = strlen(reg);
        snprintf(reg + n, sizeof reg - n, "%s{\"name\":\"m%d\",\"download_path\":\"%s/w/o/m%d\"}", i ? "," : "", i, g_dir, i);
        n = strlen(log);
        snprintf(log + n, sizeof log - n,
                 "{\"timestamp\":\"2025-11-06T22:00:%02dZ\",\"model\":\"m%d\",\"payload\":{\"metrics\":{\"runtime_context_tokens\":%d}}}\n",
                 i, i, 1000 + i);
    }
    strcat(reg, "]");
    put("reg/model_registry.discovered.json", reg);
    put("metrics.jsonl", log);
    snprintf(a, sizeof a,
             "IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' migrate-architecture >/dev/null & "
             "IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' reconcile-architecture --metrics '%s/metrics.jsonl' >/dev/null & wait",
             g_dir, iwt_cli(), g_dir, iwt_cli(), g_dir);
    cr_assert_eq(iwt_run(a, &out, &err), 0, "%s", err);
    free(out); free(err);
    snprintf(a, sizeof a, "%s/reg/model_registry.json", g_dir);
    char *text = iwt_slurp(a, NULL);
    cJSON *m = cJSON_Parse(text);
    cr_assert_eq(cJSON_GetArraySize(m), 20);
    cJSON *e;
    cJSON_ArrayForEach(e, m) {
        cJSON *ar = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture");
        cr_assert_not_null(cJSON_GetObjectItem(ar, "num_layers"), "migrate lost: %s", cJSON_GetObjectItem(e, "name")->valuestring);
        cr_assert_not_null(cJSON_GetObjectItem(ar, "runtime"), "reconcile lost: %s", cJSON_GetObjectItem(e, "name")->valuestring);
    }
    cJSON_Delete(m);
    free(text);
    /* both again: nothing changes */
    cr_assert_eq(run("migrate-architecture", &out, &err), 0);
    cr_assert(strstr(out, "0 updated, 20 unchanged"), "%s", out);
    free(out); free(err);
    snprintf(a, sizeof a, "reconcile-architecture --metrics '%s/metrics.jsonl'", g_dir);
    cr_assert_eq(run(a, &out, &err), 0);
    cr_assert(strstr(out, "0 updated, 20 unchanged"), "%s", out);
    free(out); free(err);
}

Test(regcli, scan_layouts_hash_and_changed_file)
{
    put("cache/hub/models--Qwen--Qwen3-8B/snapshots/abc123/config.json", CONFIG);
    put("g/TheBloke/Some-GGUF/some.Q4_K_M.gguf", "not really gguf");
    put("g/TheBloke/Some-GGUF/some.Q8_0.gguf", "not really gguf either");
    put("g/lone-model.Q5_K_M.gguf", "junk");
    char *out = NULL, *err = NULL, a[4096];
    snprintf(a, sizeof a, "scan '%s/cache'", g_dir);
    cr_assert_eq(run(a, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "-> qwen3-8b_(BF16)"), "%s", out);
    free(out); free(err);
    snprintf(a, sizeof a, "scan --hash '%s/g'", g_dir);
    cr_assert_eq(run(a, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "-> some_(Q4_K_M)") && strstr(out, "-> some_(Q8_0)") && strstr(out, "-> lone-model_(Q5_K_M)"), "%s", out);
    cr_assert(strstr(out, "3 installs found, 3 registered"), "%s", out);
    free(out); free(err);
    cr_assert_eq(run("show 'qwen3-8b_(BF16)' --json", &out, &err), 0);
    cJSON *e = cJSON_Parse(out);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "hf_commit")->valuestring, "abc123");
    cr_assert_str_eq(cJSON_GetObjectItem(e, "backend")->valuestring, "vllm");
    cJSON_Delete(e);
    free(out); free(err);
    cr_assert_eq(run("show 'some_(Q4_K_M)' --json", &out, &err), 0);
    e = cJSON_Parse(out);
    cr_assert_str_eq(cJSON_GetObjectItem(e, "backend")->valuestring, "llama.cpp");
    cr_assert_str_eq(cJSON_GetObjectItem(e, "download_format")->valuestring, "gguf");
    cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "artifacts"), "files"), 0);
    cr_assert_eq(strlen(cJSON_GetObjectItem(f0, "sha256")->valuestring), 64);
    cJSON_Delete(e);
    free(out); free(err);
    /* same size, different bytes: only the hash notices */
    put("g/TheBloke/Some-GGUF/some.Q4_K_M.gguf", "NOT REALLY GGUF");
    cr_assert_eq(run("verify", &out, &err), 1, "%s", out);
    cr_assert(strstr(out, "CHANGED  some_(Q4_K_M)"), "%s", out);
    cr_assert(strstr(out, "1 changed"), "%s", out);
    free(out); free(err);
    cr_assert_eq(run("verify 'some_(Q8_0)'", &out, &err), 0, "%s", out);
    free(out); free(err);
}

/* Inode, size and mtime of a registry file, to prove a run wrote nothing. */
static void file_stamp(const char *rel, char *out, size_t n)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    cr_assert_eq(stat(p, &st), 0, "%s", p);
    snprintf(out, n, "%llu %lld %ld.%09ld", (unsigned long long)st.st_ino, (long long)st.st_size,
             (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static cJSON *merged_arch_of(const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/reg/model_registry.json", g_dir);
    char *text = iwt_slurp(p, NULL);
    cr_assert_not_null(text);
    cJSON *m = cJSON_Parse(text), *e, *found = NULL;
    free(text);
    cJSON_ArrayForEach(e, m)
        if (strcmp(cJSON_GetObjectItem(e, "name")->valuestring, name) == 0)
            found = cJSON_Duplicate(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture"), 1);
    cJSON_Delete(m);
    cr_assert_not_null(found, "%s not in the snapshot", name);
    return found;
}

static bool has_string(const cJSON *arr, const char *prefix)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, arr)
        if (cJSON_IsString(s) && strncmp(s->valuestring, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

/* Real imageworks curated entries carry metadata.architecture (the
 * original's extractor wrote it, with gpt-oss's head_dim 45 and warnings of
 * an Ollama lookup), and curated wins in the merged view the GUI reads.
 * migrate and reconcile write the curated record too, so what the GUI reads
 * is corrected, and both settle after one run (issue 18 item 5). */
Test(regcli, curated_architecture_written_where_merged_shows_it)
{
    static const char *GPTOSS =
        "{\"architectures\":[\"GptOssForCausalLM\"],\"model_type\":\"gpt_oss\",\"hidden_size\":2880,"
        "\"num_hidden_layers\":24,\"num_attention_heads\":64,\"num_key_value_heads\":8,\"head_dim\":64,"
        "\"intermediate_size\":2880,\"vocab_size\":201088,\"max_position_embeddings\":131072,"
        "\"num_local_experts\":32,\"num_experts_per_tok\":4,\"torch_dtype\":\"bfloat16\"}";
    put("w/openai/gpt-oss-20b/config.json", GPTOSS);
    char cur[16384];
    snprintf(cur, sizeof cur,
        "[\n"
        "{\"name\": \"gpt-oss-20b_(MXFP4)\", \"display_name\": \"gpt-oss-20b (MXFP4)\", \"backend\": \"vllm\",\n"
        " \"backend_config\": {\"port\": 24001, \"model_path\": \"%s/w/openai/gpt-oss-20b\", \"extra_args\": [\"--max-model-len\", \"4096\"]},\n"
        " \"capabilities\": {\"text\": true, \"vision\": false}, \"artifacts\": {\"aggregate_sha256\": \"\", \"files\": []},\n"
        " \"chat_template\": {\"source\": \"embedded\", \"path\": null, \"sha256\": null}, \"probes\": {\"vision\": null}, \"profiles_placeholder\": null,\n"
        " \"metadata\": {\"architecture\": {\"num_layers\": 24, \"num_attention_heads\": 64, \"num_kv_heads\": 8, \"hidden_size\": 2880,\n"
        "   \"head_dim\": 45, \"context_length\": 131072, \"params_billion\": 9.0, \"max_generation_tokens\": 8192,\n"
        "   \"sources\": [\"ollama:gpt-oss:20b\"], \"warnings\": [\"Model directory not found: ollama:/gpt-oss:20b\"],\n"
        "   \"collected_at\": \"2025-11-06T22:32:45.240601+00:00\"}, \"registry_layer\": \"curated\"},\n"
        " \"served_model_id\": \"None\", \"model_aliases\": [], \"roles\": [], \"license\": null, \"source\": null, \"deprecated\": false,\n"
        " \"family\": \"gpt-oss-20b\", \"source_provider\": \"hf\", \"quantization\": \"mxfp4\", \"backend_alternatives\": [], \"role_priority\": {},\n"
        " \"download_format\": \"safetensors\", \"download_location\": \"linux_wsl\", \"download_path\": \"%s/w/openai/gpt-oss-20b\",\n"
        " \"download_size_bytes\": 13761300984, \"download_files\": [], \"download_directory_checksum\": \"\"},\n"
        "{\"name\": \"aqualaguna-gemma-3-27b-it-abliterated_(Q3_K_M)\", \"backend\": \"ollama\",\n"
        " \"backend_config\": {\"port\": 11434, \"model_path\": \"ollama:/aqualaguna/gemma-3-27b-it-abliterated-GGUF:q3_k_m\", \"extra_args\": [\"--num-ctx\", \"4096\"], \"host\": \"imageworks-ollama\"},\n"
        " \"metadata\": {\"ollama_family\": \"gemma3\", \"ollama_parameter_size\": \"27.0B\", \"architecture\": {\"sources\": [\"ollama:aqualaguna/gemma-3-27b-it-abliterated-GGUF:q3_k_m\"],\n"
        "   \"warnings\": [\"Model directory not found: ollama:/aqualaguna/gemma-3-27b-it-abliterated-GGUF:q3_k_m\"], \"collected_at\": \"2025-11-06T22:32:45.240601+00:00\"}, \"registry_layer\": \"curated\"},\n"
        " \"download_path\": \"ollama:/aqualaguna/gemma-3-27b-it-abliterated-GGUF:q3_k_m\"}\n"
        "]\n", g_dir, g_dir);
    put("reg/model_registry.curated.json", cur);
    put("metrics.jsonl",
        "{\"timestamp\":\"2025-11-06T22:00:00Z\",\"model\":\"gpt-oss-20b_(MXFP4)\",\"payload\":{\"source\":\"vllm-manager\",\"metrics\":{\"runtime_context_tokens\":4096},\"extra_args\":[\"--max-model-len\",\"4096\"]}}\n"
        "{\"timestamp\":\"2025-11-06T22:00:01Z\",\"model\":\"aqualaguna-gemma-3-27b-it-abliterated_(Q3_K_M)\",\"payload\":{\"metrics\":{\"runtime_context_tokens\":2048}}}\n");
    char *out = NULL, *err = NULL, a[4096];
    snprintf(a, sizeof a, "reconcile-architecture --metrics '%s/metrics.jsonl'", g_dir);
    cr_assert_eq(run(a, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "2 updated, 0 unchanged"), "%s", out);
    free(out); free(err);
    /* before any migrate the curated record still fills the merged view */
    cJSON *ar = merged_arch_of("gpt-oss-20b_(MXFP4)");
    cr_assert_eq(cJSON_GetObjectItem(ar, "num_layers")->valueint, 24);
    cr_assert_not_null(cJSON_GetObjectItem(ar, "runtime"), "runtime missing from the snapshot");
    cr_assert(has_string(cJSON_GetObjectItem(ar, "sources"), "runtime-log"));
    cr_assert(has_string(cJSON_GetObjectItem(ar, "sources"), "ollama:gpt-oss"), "curated sources dropped");
    cJSON_Delete(ar);
    /* a second run changes nothing and writes nothing */
    const char *files[] = { "reg/model_registry.json", "reg/model_registry.discovered.json", "reg/model_registry.curated.json" };
    char before[3][128], after[3][128];
    for (int i = 0; i < 3; i++)
        file_stamp(files[i], before[i], sizeof before[i]);
    usleep(20000);
    cr_assert_eq(run(a, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "0 updated, 2 unchanged"), "%s", out);
    free(out); free(err);
    for (int i = 0; i < 3; i++) {
        file_stamp(files[i], after[i], sizeof after[i]);
        cr_assert_str_eq(before[i], after[i], "%s rewritten by an idempotent reconcile", files[i]);
    }
    /* migrate corrects what the GUI reads: the explicit head_dim, not 45 */
    cr_assert_eq(run("migrate-architecture", &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "gpt-oss-20b_(MXFP4): updated"), "%s", out);
    free(out); free(err);
    ar = merged_arch_of("gpt-oss-20b_(MXFP4)");
    cr_assert_eq(cJSON_GetObjectItem(ar, "head_dim")->valueint, 64, "curated head_dim 45 hides the migration");
    cr_assert(!has_string(cJSON_GetObjectItem(ar, "warnings"), "Model directory not found"), "stale warning survived migrate");
    cr_assert_not_null(cJSON_GetObjectItem(ar, "runtime"), "migrate lost the runtime");
    cr_assert_eq(cJSON_GetObjectItem(ar, "max_generation_tokens")->valueint, 8192, "hand/unknown key lost");
    cr_assert_gt(cJSON_GetObjectItem(ar, "params_billion")->valuedouble, 20.0, "9.0 from '20.9B' survived");
    cJSON_Delete(ar);
    ar = merged_arch_of("aqualaguna-gemma-3-27b-it-abliterated_(Q3_K_M)");
    cr_assert_not_null(cJSON_GetObjectItem(ar, "runtime"));
    cJSON_Delete(ar);
    /* and both settle */
    cr_assert_eq(run(a, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "0 updated, 2 unchanged"), "%s", out);
    free(out); free(err);
    cr_assert_eq(run("migrate-architecture", &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "0 updated,"), "%s", out);
    free(out); free(err);
    /* architecture_override pins a value by hand over the extraction: the
     * next migrate writes it into the record the merged view shows */
    char *p = strstr(cur, "\"registry_layer\": \"curated\"}");
    cr_assert_not_null(p);
    char cur2[17000];
    snprintf(cur2, sizeof cur2, "%.*s\"architecture_override\": {\"context_length\": 8192}, %s", (int)(p - cur), cur, p);
    put("reg/model_registry.curated.json", cur2);
    cr_assert_eq(run("migrate-architecture", &out, &err), 0, "%s", err);
    free(out); free(err);
    cr_assert_eq(run("show 'gpt-oss-20b_(MXFP4)' --json", &out, &err), 0, "%s", err);
    cJSON *e = cJSON_Parse(out);
    ar = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture");
    cr_assert_eq(cJSON_GetObjectItem(ar, "context_length")->valueint, 8192, "%s", out);
    cr_assert_eq(cJSON_GetObjectItem(ar, "head_dim")->valueint, 64);
    cJSON_Delete(e);
    free(out); free(err);
}

/* download --name NAME registers under NAME instead of the slug; a second
 * download of the same install updates that entry. */
Test(regcli, download_name_overrides_slug)
{
    char root[4096], *out = NULL, *err = NULL, cmd[8192];
    iwt_hub hub;
    snprintf(root, sizeof root, "%s/hub", g_dir);
    cr_assert_eq(iwt_hub_make_demo(root), 0);
    cr_assert_eq(iwt_hub_start(&hub, root, NULL), 0);
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "HF_ENDPOINT='%s' HF_HOME='%s/hf' IMAGEWORKS_MODEL_ROOT='%s/models' IMAGEWORKS_REGISTRY_DIR='%s/reg' "
                 "'%s' download demo-org/tiny-llama --name 'my tiny (pinned)' --quiet",
                 hub.hub_url, g_dir, g_dir, g_dir, iwt_cli());
        int rc = iwt_run(cmd, &out, &err);
        if (rc != 0)
            iwt_hub_stop(&hub);
        cr_assert_eq(rc, 0, "%s%s", out, err);
        free(out); free(err);
    }
    iwt_hub_stop(&hub);
    cr_assert_eq(run("list --json", &out, &err), 0, "%s", err);
    cJSON *rows = cJSON_Parse(out);
    cr_assert_eq(cJSON_GetArraySize(rows), 1, "%s", out);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "name")->valuestring, "my tiny (pinned)");
    cJSON_Delete(rows);
    free(out); free(err);
    cr_assert_eq(run("show 'my tiny (pinned)' --json", &out, &err), 0, "%s", err);
    cJSON *e = cJSON_Parse(out);
    char want[4096];
    snprintf(want, sizeof want, "%s/models/demo-org/tiny-llama", g_dir);
    cr_assert_str_eq(cJSON_GetObjectItem(e, "download_path")->valuestring, want);
    cr_assert_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture"));
    cJSON_Delete(e);
    free(out); free(err);
}

/* reconcile's log: --metrics, else $IMAGEWORKS_METRICS_LOG, else
 * logs/model_loader_metrics.jsonl relative to the working directory. */
Test(regcli, metrics_log_default_path)
{
    put("reg/model_registry.discovered.json", "[{\"name\":\"m\"}]");
    put("cwd/logs/model_loader_metrics.jsonl",
        "{\"timestamp\":\"2025-11-06T22:00:00Z\",\"model\":\"m\",\"payload\":{\"metrics\":{\"from\":\"cwd\"}}}\n");
    put("env.jsonl",
        "{\"timestamp\":\"2025-11-06T22:00:00Z\",\"model\":\"m\",\"payload\":{\"metrics\":{\"from\":\"env\"}}}\n");
    char cmd[8192], *out = NULL, *err = NULL;
    /* no variable: the cwd default */
    snprintf(cmd, sizeof cmd, "cd '%s/cwd' && env -u IMAGEWORKS_METRICS_LOG IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' reconcile-architecture",
             g_dir, g_dir, iwt_cli());
    cr_assert_eq(iwt_run(cmd, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "1 models: 1 updated"), "%s", out);
    free(out); free(err);
    cr_assert_eq(run("show m --json", &out, &err), 0, "%s", err);
    cJSON *e = cJSON_Parse(out);
    cJSON *rt = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture"), "runtime");
    cr_assert_str_eq(iw_json_get_str(rt, "from"), "cwd");
    char want[4096];
    snprintf(want, sizeof want, "%s/cwd/logs/model_loader_metrics.jsonl", g_dir);
    char *real = realpath(want, NULL);
    cr_assert_str_eq(iw_json_get_str(cJSON_GetObjectItem(rt, "log"), "file"), real);
    free(real);
    cJSON_Delete(e);
    free(out); free(err);
    /* the variable wins over the cwd default */
    snprintf(cmd, sizeof cmd, "cd '%s/cwd' && IMAGEWORKS_METRICS_LOG='%s/env.jsonl' IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' reconcile-architecture",
             g_dir, g_dir, g_dir, iwt_cli());
    cr_assert_eq(iwt_run(cmd, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "1 models: 1 updated"), "%s", out);
    free(out); free(err);
    cr_assert_eq(run("show m --json", &out, &err), 0, "%s", err);
    e = cJSON_Parse(out);
    rt = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture"), "runtime");
    cr_assert_str_eq(iw_json_get_str(rt, "from"), "env");
    cJSON_Delete(e);
    free(out); free(err);
    /* neither present: reported, not fatal */
    snprintf(cmd, sizeof cmd, "cd '%s' && env -u IMAGEWORKS_METRICS_LOG IMAGEWORKS_REGISTRY_DIR='%s/reg' '%s' reconcile-architecture",
             g_dir, g_dir, iwt_cli());
    cr_assert_eq(iwt_run(cmd, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(err, "logs/model_loader_metrics.jsonl"), "%s", err);
    free(out); free(err);
}

/* `show` of a small model: params_billion is stored to 0.01 B, so a 0.3M
 * model read "params_billion 0"; show prints the parameter count itself. */
Test(regcli, show_prints_the_parameters_of_a_small_model)
{
    put("w/tiny/Stories-260K/config.json",
        "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":64,"
        "\"num_hidden_layers\":5,\"num_attention_heads\":8,\"num_key_value_heads\":4,"
        "\"intermediate_size\":172,\"vocab_size\":512,\"max_position_embeddings\":512,"
        "\"torch_dtype\":\"float32\",\"tie_word_embeddings\":true}");
    char args[4200], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "scan '%s/w/tiny'", g_dir);
    cr_assert_eq(run(args, &out, &err), 0, "%s", err);
    const char *arrow = strstr(out, "-> ");
    cr_assert_not_null(arrow, "%s", out);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arrow + 3, "\n"), arrow + 3);
    free(out);
    free(err);
    snprintf(args, sizeof args, "show '%s'", name);
    cr_assert_eq(run(args, &out, NULL), 0);
    const char *pb = strstr(out, "params_billion");
    if (pb) {
        pb += strlen("params_billion");
        while (*pb == ' ')
            pb++;
        cr_expect(strncmp(pb, "0\n", 2), "params_billion 0 for a 0.3M model:\n%s", out);
    }
    const char *p = strstr(out, "  parameters ");
    cr_expect(p && strstr(p, ",") && strchr(p, '(') , "no parameter count in:\n%s", out);
    free(out);
}

/* reconcile-architecture names each malformed line of the metrics log
 * (file:line and why), at most IW_RECONCILE_MAX_BAD of them, then how many
 * more; it used to count them only. */
Test(regcli, reconcile_names_the_malformed_lines)
{
    char log[8192];
    int o = snprintf(log, sizeof log,
        "{\"timestamp\":\"2025-11-06T22:00:00+00:00\",\"model\":\"m1\",\"payload\":{\"metrics\":{}}}\n"
        "{broken\n"
        "\n"
        "{\"timestamp\":\"yesterday\",\"model\":\"m1\",\"payload\":{}}\n"
        "[1,2]\n"
        "{\"timestamp\":\"2025-11-06T22:00:00Z\",\"payload\":{}}\n");
    for (int i = 0; i < 25; i++)         /* lines 7..31: more than the cap */
        o += snprintf(log + o, sizeof log - (size_t)o, "not json %d\n", i);
    put("metrics.jsonl", log);
    char args[4200], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "reconcile-architecture --metrics '%s/metrics.jsonl' --dry-run", g_dir);
    cr_assert_eq(run(args, &out, &err), 0, "%s", err);
    char want[4400];
    static const struct { int line; const char *why; } bad[] = {
        {2, "not JSON"}, {4, "timestamp"}, {5, "not an object"}, {6, "model"}, {7, "not JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(want, sizeof want, "metrics.jsonl:%d: ", bad[i].line);
        const char *p = err ? strstr(err, want) : NULL;
        cr_expect(p, "no %s in:\n%s", want, err);
        if (p)
            cr_expect(strstr(p, bad[i].why) && strstr(p, bad[i].why) < strchr(p, '\n'), "%s: why: %s", want, err);
    }
    cr_expect(strstr(err, "and 9 more malformed lines"), "the cap (20): %s", err);
    cr_expect(strstr(out, "29 malformed"), "%s", out);
    free(out);
    free(err);
}

/* migrate-architecture over entries the original wrote: a kv_precision the
 * user (or the original) set stays unless the files say otherwise, the KV
 * bytes follow it, and field_sources keep the original's "config:/path"
 * form.  It used to rewrite "fp8" to the bf16 default and write
 * "config.json" sources into the original's entries. */
Test(regcli, migrate_keeps_kv_precision_and_the_originals_source_form)
{
    /* the second model's config names an fp8 KV cache itself */
    put("w/RedHat/Qwen2.5-0.5B-FP8-KV/config.json",
        "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":896,"
        "\"num_hidden_layers\":24,\"num_attention_heads\":14,\"num_key_value_heads\":2,"
        "\"intermediate_size\":4864,\"vocab_size\":151936,\"max_position_embeddings\":32768,"
        "\"torch_dtype\":\"bfloat16\",\"tie_word_embeddings\":true,\"quantization_config\":{"
        "\"quant_method\":\"compressed-tensors\",\"kv_cache_scheme\":{\"type\":\"float\",\"num_bits\":8}}}");
    char disc[16384];
    snprintf(disc, sizeof disc,
        "[\n"
        "{\"name\": \"qwen2.5-0.5b-instruct_(BF16)\", \"backend\": \"vllm\", \"download_path\": \"%s/w/Qwen/Qwen2.5-0.5B-Instruct\",\n"
        " \"metadata\": {\"architecture\": {\"num_layers\": 24, \"num_kv_heads\": 2, \"hidden_size\": 896, \"head_dim\": 64,\n"
        "   \"kv_precision\": \"fp8\",\n"
        "   \"field_sources\": {\"num_layers\": \"config:%s/w/Qwen/Qwen2.5-0.5B-Instruct/config.json\",\n"
        "                     \"hidden_size\": \"config:%s/w/Qwen/Qwen2.5-0.5B-Instruct/config.json\"},\n"
        "   \"sources\": [\"config:%s/w/Qwen/Qwen2.5-0.5B-Instruct/config.json\"],\n"
        "   \"collected_at\": \"2025-11-06T22:32:45.311208+00:00\"}}},\n"
        "{\"name\": \"qwen2.5-0.5b-fp8-kv\", \"backend\": \"vllm\", \"download_path\": \"%s/w/RedHat/Qwen2.5-0.5B-FP8-KV\",\n"
        " \"metadata\": {\"architecture\": {\"num_layers\": 24, \"kv_precision\": \"bf16\",\n"
        "   \"field_sources\": {\"num_layers\": \"config:%s/w/RedHat/Qwen2.5-0.5B-FP8-KV/config.json\"},\n"
        "   \"collected_at\": \"2025-11-06T22:32:45.311208+00:00\"}}}\n"
        "]\n", g_dir, g_dir, g_dir, g_dir, g_dir, g_dir);
    put("reg/model_registry.discovered.json", disc);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run("migrate-architecture", &out, &err), 0, "%s", err);
    free(out);
    free(err);
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "config:%s/w/Qwen/Qwen2.5-0.5B-Instruct/config.json", g_dir);
    cJSON *a = merged_arch_of("qwen2.5-0.5b-instruct_(BF16)");
    cr_expect_str_eq(iw_json_get_str(a, "kv_precision"), "fp8", "the user's fp8 was replaced by a default");
    /* 24 layers x 2 KV heads x (64 + 64) x 1 byte */
    cr_expect_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(a, "kv_bytes_per_token")), 24 * 2 * 128 * 1);
    const cJSON *fs = cJSON_GetObjectItem(a, "field_sources");
    cr_expect_str_eq(iw_json_get_str(fs, "num_layers"), cfg);
    cr_expect_str_eq(iw_json_get_str(fs, "vocab_size"), cfg, "a field the original did not list, in its form too");
    const cJSON *it;
    cJSON_ArrayForEach(it, fs)
        cr_expect(!cJSON_IsString(it) || strncmp(it->valuestring, "config.json", 11),
                  "%s: '%s' is not the original's form", it->string, it->valuestring);
    cJSON_Delete(a);
    /* the files name an fp8 KV cache: that wins over the entry's bf16 */
    a = merged_arch_of("qwen2.5-0.5b-fp8-kv");
    cr_expect_str_eq(iw_json_get_str(a, "kv_precision"), "fp8");
    cJSON_Delete(a);
}

/* remove --delete-files on Hugging Face cache snapshots: the revision goes
 * as huggingface-cli delete-cache removes it (its refs, the blobs no other
 * revision links), and the repo folder goes with the last revision. */
#define REV1 "1111111111111111111111111111111111111111"
#define REV2 "2222222222222222222222222222222222222222"

static void hf_link(const char *repo, const char *rel, const char *target)
{
    char p[4096], d[4096];
    snprintf(p, sizeof p, "%s/%s", repo, rel);
    snprintf(d, sizeof d, "%s", p);
    *strrchr(d, '/') = 0;
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    cr_assert_eq(iwt_run(cmd, NULL, NULL), 0);
    cr_assert_eq(symlink(target, p), 0, "%s", p);
}

static bool exists_in(const char *repo, const char *rel)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", repo, rel);
    return lstat(p, &st) == 0;
}

/* The name scan gave the snapshot folder ending in rev. */
static void name_of(const char *scan_out, const char *rev, char *name, size_t n)
{
    char key[128];
    snprintf(key, sizeof key, "/snapshots/%s -> ", rev);
    const char *a = strstr(scan_out, key);
    cr_assert_not_null(a, "%s", scan_out);
    a += strlen(key);
    snprintf(name, n, "%.*s", (int)strcspn(a, "\n"), a);
}

Test(regcli, delete_files_of_an_hf_cache_revision)
{
    char repo[4096], a[8192], n1[256], n2[256], *out = NULL, *err = NULL;
    snprintf(repo, sizeof repo, "%s/hf/hub/models--Qwen--Qwen2.5-0.5B-Instruct", g_dir);
    static char wa[100], wb[200];
    put("hf/hub/models--Qwen--Qwen2.5-0.5B-Instruct/blobs/cfg", CONFIG);
    put("hf/hub/models--Qwen--Qwen2.5-0.5B-Instruct/blobs/tok", "{}");
    cr_assert_eq(iwt_write(strcat(strcpy(a, repo), "/blobs/wa"), wa, sizeof wa), 0);
    cr_assert_eq(iwt_write(strcat(strcpy(a, repo), "/blobs/wb"), wb, sizeof wb), 0);
    hf_link(repo, "snapshots/" REV1 "/config.json", "../../blobs/cfg");
    hf_link(repo, "snapshots/" REV1 "/tokenizer.json", "../../blobs/tok");
    hf_link(repo, "snapshots/" REV1 "/extra.bin", "../../blobs/wa");
    hf_link(repo, "snapshots/" REV1 "/sub/extra2.bin", "../../../blobs/wa");
    hf_link(repo, "snapshots/" REV2 "/config.json", "../../blobs/cfg");
    hf_link(repo, "snapshots/" REV2 "/tokenizer.json", "../../blobs/tok");
    hf_link(repo, "snapshots/" REV2 "/other.bin", "../../blobs/wb");
    put("hf/hub/models--Qwen--Qwen2.5-0.5B-Instruct/refs/main", REV1);
    put("hf/hub/models--Qwen--Qwen2.5-0.5B-Instruct/refs/pr/1", REV1);
    put("hf/hub/models--Qwen--Qwen2.5-0.5B-Instruct/refs/v2", REV2);
    put("hf/hub/models--Qwen--Qwen2.5-0.5B-Instruct/.no_exist/" REV1 "/generation_config.json", "");
    snprintf(a, sizeof a, "scan '%s/hf/hub'", g_dir);
    cr_assert_eq(run(a, &out, &err), 0, "%s%s", out, err);
    name_of(out, REV1, n1, sizeof n1);
    name_of(out, REV2, n2, sizeof n2);
    free(out); free(err);
    /* revision 1: its own blob (wa, linked twice) and its two refs go */
    snprintf(a, sizeof a, "remove '%s' --delete-files", n1);
    cr_assert_eq(run(a, &out, &err), 0, "%s", err);
    cr_expect(strstr(out, "1 blob, 100 bytes freed; 2 blobs shared with other revisions kept; 2 refs removed"), "%s",
              out);
    free(out); free(err);
    cr_expect(!exists_in(repo, "blobs/wa"), "the revision's own blob was left");
    cr_expect(exists_in(repo, "blobs/cfg") && exists_in(repo, "blobs/tok") && exists_in(repo, "blobs/wb"),
              "a blob another revision links was deleted");
    cr_expect(!exists_in(repo, "refs/main") && !exists_in(repo, "refs/pr"), "a ref to the removed revision was left");
    cr_expect(exists_in(repo, "refs/v2"), "another revision's ref was deleted");
    cr_expect(!exists_in(repo, "snapshots/" REV1) && exists_in(repo, "snapshots/" REV2 "/other.bin"));
    cr_expect(!exists_in(repo, ".no_exist/" REV1));
    snprintf(a, sizeof a, "verify '%s'", n2);
    cr_expect_eq(run(a, &out, &err), 0, "the other revision broke: %s", out);
    free(out); free(err);
    /* the last revision: everything, and the repo folder */
    snprintf(a, sizeof a, "remove '%s' --delete-files", n2);
    cr_assert_eq(run(a, &out, &err), 0, "%s", err);
    char want[128];
    snprintf(want, sizeof want, "3 blobs, %zu bytes freed; 0 blobs shared", strlen(CONFIG) + 2 + sizeof wb);
    cr_expect(strstr(out, want) && strstr(out, "1 ref removed; the repo folder is gone"), "%s", out);
    free(out); free(err);
    cr_expect(!exists_in(repo, ""), "the emptied repo folder was left");
}
