/* Ollama models through the CLI: scan of a store, migrate-architecture of
 * the original's warning-only entries, verify of blobs, inspect with the
 * /api/show fallback, and bad stores.
 *
 * Every test builds its own Ollama store in a tmpdir (small GGUF blobs from
 * tests/extract/gguf_testwriter.h, manifests, a params blob with num_ctx, a
 * vision projector) and points OLLAMA_MODELS at it; HOME is the tmpdir, so a
 * real store on this machine is never read.  The /api/show server is a
 * socket stub on 127.0.0.1 in a thread of this process. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "iwdl/hash.h"
#include "iwdl/json.h"
#include "iwtest.h"
#include "extract/gguf_testwriter.h"

static char *g_dir;    /* tmpdir: reg/, home/, ollama/models/ */
static char *g_store;  /* g_dir/ollama/models */

typedef struct store { char model[65], proj[65], params[65], tmpl[65], config[65]; } store;
static store g_st;

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    cr_assert(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    return s;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* Run the CLI with the fixture store and registry; env: extra "K=V ..." or "". */
static int run_env(const char *env, const char *args, char **out, char **err)
{
    char *cmd = pathf("env -u OLLAMA_HOST HOME='%s/home' IMAGEWORKS_REGISTRY_DIR='%s/reg' OLLAMA_MODELS='%s' %s '%s' %s",
                      g_dir, g_dir, g_store, env, iwt_cli(), args);
    int rc = iwt_run(cmd, out, err);
    free(cmd);
    return rc;
}

static int run(const char *args, char **out, char **err)
{
    return run_env("", args, out, err);
}

/* ---- the fixture store --------------------------------------------------- */

/* llama-like: 2 layers, 256 wide, 4 heads, 2 KV heads, 8 tokens, Q4_K_M */
static unsigned char *model_gguf(size_t *len)
{
    static const char *const toks[] = { "<s>", "</s>", "a", "b", "c", "d", "e", "f" };
    static const gw_t ts[] = {
        { "token_embd.weight", 2, { 256, 8 }, 12 },
        { "blk.0.attn_norm.weight", 1, { 256 }, 0 },
        { "blk.0.attn_q.weight", 2, { 256, 256 }, 12 },
        { "output_norm.weight", 1, { 256 }, 0 },
    };
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 4, 12);
    gw_kv_str(&w, "general.architecture", "llama");
    gw_kv_str(&w, "general.name", "tiny");
    gw_kv_u32(&w, "general.file_type", 15);   /* Q4_K_M */
    gw_kv_u32(&w, "llama.block_count", 2);
    gw_kv_u32(&w, "llama.context_length", 8192);
    gw_kv_u32(&w, "llama.embedding_length", 256);
    gw_kv_u32(&w, "llama.feed_forward_length", 512);
    gw_kv_u32(&w, "llama.attention.head_count", 4);
    gw_kv_u32(&w, "llama.attention.head_count_kv", 2);
    gw_kv_f32(&w, "llama.rope.freq_base", 10000.0f);
    gw_kv_str(&w, "tokenizer.ggml.model", "llama");
    gw_kv_arr_str(&w, "tokenizer.ggml.tokens", toks, 8);
    gw_tensors(&w, ts, 4, 32);
    *len = w.len;
    return w.p;
}

static unsigned char *projector_gguf(size_t *len)
{
    static const gw_t ts[] = {
        { "v.patch_embd.weight", 2, { 64, 4 }, 0 },
        { "mm.0.weight", 2, { 64, 256 }, 0 },
    };
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 2, 9);
    gw_kv_str(&w, "general.architecture", "clip");
    gw_kv_str(&w, "clip.projector_type", "mlp");
    gw_kv_bool(&w, "clip.has_vision_encoder", true);
    gw_kv_u32(&w, "clip.vision.image_size", 336);
    gw_kv_u32(&w, "clip.vision.patch_size", 14);
    gw_kv_u32(&w, "clip.vision.embedding_length", 64);
    gw_kv_u32(&w, "clip.vision.feed_forward_length", 128);
    gw_kv_u32(&w, "clip.vision.block_count", 3);
    gw_kv_u32(&w, "clip.vision.attention.head_count", 2);
    gw_tensors(&w, ts, 2, 32);
    *len = w.len;
    return w.p;
}

static void put_blob(const void *data, size_t len, char hex[65])
{
    cr_assert_eq(iw_sha256_hex(data, len, hex), 0);
    char *p = pathf("%s/blobs/sha256-%s", g_store, hex);
    cr_assert_eq(iwt_write(p, data, len), 0);
    free(p);
}

static void put_manifest(const char *rel, const char *json)
{
    char *p = pathf("%s/manifests/%s", g_store, rel);
    cr_assert_eq(iwt_write(p, json, strlen(json)), 0);
    free(p);
}

/* Text model manifest (model, template, params) with the model digest given. */
static char *text_manifest(const char *model_hex)
{
    return pathf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                 "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"sha256:%s\"},"
                 "\"layers\":["
                 "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\",\"size\":1000},"
                 "{\"mediaType\":\"application/vnd.ollama.image.template\",\"digest\":\"sha256:%s\",\"size\":13},"
                 "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"sha256:%s\",\"size\":60}]}",
                 g_st.config, model_hex, g_st.tmpl, g_st.params);
}

/* tiny:latest (text), tiny-vl:latest (vision), hf.co/bartowski/Tiny-GGUF:Q4_K_M,
 * aqualaguna/tiny-GGUF:q3_k_m (the original's namespaced spelling). */
static void build_store(void)
{
    size_t len;
    unsigned char *g = model_gguf(&len);
    put_blob(g, len, g_st.model);
    free(g);
    g = projector_gguf(&len);
    put_blob(g, len, g_st.proj);
    free(g);
    const char *params = "{\"num_ctx\":4096,\"stop\":[\"<|eot_id|>\"],\"temperature\":0.6}";
    put_blob(params, strlen(params), g_st.params);
    const char *tmpl = "{{ .Prompt }}";
    put_blob(tmpl, strlen(tmpl), g_st.tmpl);
    const char *cfg = "{\"model_format\":\"gguf\",\"model_family\":\"llama\",\"file_type\":\"Q4_K_M\"}";
    put_blob(cfg, strlen(cfg), g_st.config);

    char *m = text_manifest(g_st.model);
    put_manifest("registry.ollama.ai/library/tiny/latest", m);
    put_manifest("hf.co/bartowski/Tiny-GGUF/Q4_K_M", m);
    put_manifest("registry.ollama.ai/aqualaguna/tiny-GGUF/q3_k_m", m);
    free(m);
    m = pathf("{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:%s\"},\"layers\":["
              "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\"},"
              "{\"mediaType\":\"application/vnd.ollama.image.projector\",\"digest\":\"sha256:%s\"},"
              "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"sha256:%s\"}]}",
              g_st.config, g_st.model, g_st.proj, g_st.params);
    put_manifest("registry.ollama.ai/library/tiny-vl/latest", m);
    free(m);
}

static void setup(void)
{
    g_dir = iwt_tmpdir("ollama-cli");
    cr_assert(g_dir);
    g_store = pathf("%s/ollama/models", g_dir);
    char *h = pathf("%s/home", g_dir);
    cr_assert_eq(mkdir(h, 0700), 0);
    free(h);
    build_store();
}

static void teardown(void)
{
    iwt_rm_rf(g_dir);
    free(g_dir);
    free(g_store);
}

TestSuite(ollama_cli, .init = setup, .fini = teardown, .timeout = 240);

/* ---- registry helpers ---------------------------------------------------- */

static cJSON *layer(const char *file)
{
    char *p = pathf("%s/reg/%s", g_dir, file);
    char *t = iwt_slurp(p, NULL);
    free(p);
    cr_assert(t, "%s missing", file);
    cJSON *a = cJSON_Parse(t);
    free(t);
    cr_assert(cJSON_IsArray(a));
    return a;
}

static const cJSON *by_key(const cJSON *arr, const char *key, const char *val)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *v = iw_json_get_str(e, key);
        if (v && strcmp(v, val) == 0)
            return e;
    }
    return NULL;
}

static const cJSON *arch_of(const cJSON *e)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "architecture");
}

static int64_t num(const cJSON *o, const char *key)
{
    int64_t v = -1;
    cr_assert(iw_json_get_i64(o, key, &v), "no integer %s", key);
    return v;
}

static void put_reg(const char *text)
{
    char *p = pathf("%s/reg/model_registry.discovered.json", g_dir);
    cr_assert_eq(iwt_write(p, text, strlen(text)), 0);
    free(p);
}

/* ---- scan ---------------------------------------------------------------- */

Test(ollama_cli, scan_registers_the_store_in_the_original_shape)
{
    char *out = NULL, *err = NULL;
    cr_assert_eq(run("scan --dry-run ''", NULL, NULL), 1, "empty DIR");
    char *args = pathf("scan --dry-run '%s'", g_store);
    cr_assert_eq(run(args, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "would register ollama:/tiny:latest"), "%s", out);
    cr_assert(strstr(out, "dry run: 4 installs found, 0 registered"), "%s", out);
    free(args); free(out); free(err);

    args = pathf("scan '%s'", g_store);
    cr_assert_eq(run(args, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "4 installs found, 4 registered, 0 failed"), "%s", out);
    cr_assert_eq(count_lines(err), 0, "no note when OLLAMA_MODELS is the store: %s", err);
    free(out); free(err);

    cJSON *d = layer("model_registry.discovered.json");
    cr_assert_eq(cJSON_GetArraySize(d), 4);
    const cJSON *e = by_key(d, "download_path", "ollama:/tiny:latest");
    cr_assert(e, "no entry for ollama:/tiny:latest");
    cr_expect_str_eq(iw_json_get_str(e, "name"), "tiny_68k_(Q4_K_M)");
    cr_expect_str_eq(iw_json_get_str(e, "display_name"), "tiny (Q4 K M)");
    cr_expect_str_eq(iw_json_get_str(e, "backend"), "ollama");
    cr_expect_str_eq(iw_json_get_str(e, "served_model_id"), "tiny:latest");
    cr_expect_str_eq(iw_json_get_str(e, "source_provider"), "ollama");
    cr_expect_str_eq(iw_json_get_str(e, "download_format"), "gguf");
    cr_expect_str_eq(iw_json_get_str(e, "quantization"), "q4_k_m");
    cr_expect_str_eq(iw_json_get_str(e, "family"), "tiny");
    cr_expect_str_eq(iw_json_get_str(e, "download_location"), "linux_wsl");
    cr_expect_eq(num(e, "download_size_bytes"), 1000 + 13 + 60, "sum of the manifest's layer sizes");
    const cJSON *bc = cJSON_GetObjectItem(e, "backend_config");
    cr_expect_eq(num(bc, "port"), 11434);
    cr_expect_str_eq(iw_json_get_str(bc, "model_path"), "ollama:/tiny:latest");
    char *xa = cJSON_PrintUnformatted(cJSON_GetObjectItem(bc, "extra_args"));
    cr_expect_str_eq(xa, "[\"--num-ctx\",\"4096\"]", "num_ctx from the params blob");
    free(xa);
    const cJSON *a = arch_of(e);
    cr_assert(a);
    cr_expect_str_eq(iw_json_get_str(a, "source"), "ollama-store");
    cr_expect_eq(num(a, "num_layers"), 2);
    cr_expect_eq(num(a, "context_length"), 8192, "trained context, not num_ctx");
    cr_expect_str_eq(iw_json_get_str(a, "kv_precision"), "fp16");
    const cJSON *o = cJSON_GetObjectItem(a, "ollama");
    cr_expect_eq(num(o, "num_ctx"), 4096);
    char *pj = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "params"));
    cr_expect_str_eq(pj, "{\"num_ctx\":4096,\"stop\":[\"<|eot_id|>\"],\"temperature\":0.6}");
    free(pj);
    cr_expect(strncmp(iw_json_get_str(cJSON_GetObjectItem(a, "field_sources"), "ollama.num_ctx"),
                      "ollama-params:", 14) == 0);
    cr_expect_null(cJSON_GetObjectItem(a, "warnings"));

    /* vision: the projector layer */
    e = by_key(d, "download_path", "ollama:/tiny-vl:latest");
    cr_assert(e);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "capabilities"), "vision")));
    cr_expect_eq(num(cJSON_GetObjectItem(arch_of(e), "vision"), "image_size"), 336);
    /* other registries and namespaces keep their parts in the reference */
    e = by_key(d, "served_model_id", "hf.co/bartowski/Tiny-GGUF:Q4_K_M");
    cr_assert(e);
    cr_expect_str_eq(iw_json_get_str(e, "download_path"), "ollama:/hf.co/bartowski/Tiny-GGUF:Q4_K_M");
    e = by_key(d, "served_model_id", "aqualaguna/tiny-GGUF:q3_k_m");
    cr_assert(e);
    cr_expect_str_eq(iw_json_get_str(e, "family"), "aqualaguna-tiny-gguf");
    cJSON_Delete(d);

    /* a second scan changes nothing */
    char *p = pathf("%s/reg/model_registry.discovered.json", g_dir);
    char *before = iwt_slurp(p, NULL);
    cr_assert_eq(run(args, &out, &err), 0);
    cr_assert(strstr(out, "-> tiny_68k_(Q4_K_M) (unchanged)"), "%s", out);
    char *after = iwt_slurp(p, NULL);
    cr_assert_str_eq(after, before, "rescan rewrote the registry");
    free(before); free(after); free(p); free(out); free(err); free(args);

    /* ~/.ollama (the store's parent) is recognised too; a store that is not
     * the default one gets a note naming OLLAMA_MODELS */
    args = pathf("scan --dry-run '%s/ollama'", g_dir);
    cr_assert_eq(run_env("OLLAMA_MODELS=/nonexistent", args, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "dry run: 4 installs found"), "%s", out);
    cr_assert(strstr(err, "set OLLAMA_MODELS="), "%s", err);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(args); free(out); free(err);
}

/* The original's entry for this model (warning-only architecture, its own
 * name) is updated in place, not duplicated. */
Test(ollama_cli, scan_updates_the_originals_entry)
{
    put_reg("[{\"name\":\"aqualaguna-tiny_(Q3_K_M)\",\"backend\":\"ollama\",\"backend_config\":{\"port\":11434,"
            "\"model_path\":\"ollama:/aqualaguna/tiny-GGUF:q3_k_m\",\"extra_args\":[\"--num-ctx\",\"2048\"]},"
            "\"metadata\":{\"ollama_family\":\"llama\",\"architecture\":{\"sources\":[\"ollama:aqualaguna/tiny-GGUF:q3_k_m\"],"
            "\"warnings\":[\"Model directory not found: ollama:/aqualaguna/tiny-GGUF:q3_k_m\"],"
            "\"collected_at\":\"2025-11-06T22:32:45.240601+00:00\"}},"
            "\"served_model_id\":\"aqualaguna/tiny-GGUF:q3_k_m\",\"source_provider\":\"ollama\",\"quantization\":\"q3_k_m\","
            "\"download_format\":\"gguf\",\"download_path\":\"ollama:/aqualaguna/tiny-GGUF:q3_k_m\",\"x_custom\":1}]");
    char *out = NULL, *err = NULL, *args = pathf("scan '%s'", g_store);
    cr_assert_eq(run(args, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "registered ollama:/aqualaguna/tiny-GGUF:q3_k_m -> aqualaguna-tiny_(Q3_K_M)"), "%s", out);
    cJSON *d = layer("model_registry.discovered.json");
    cr_assert_eq(cJSON_GetArraySize(d), 4, "three new models and the updated one");
    const cJSON *e = by_key(d, "name", "aqualaguna-tiny_(Q3_K_M)");
    cr_assert(e);
    cr_expect_eq(num(e, "x_custom"), 1, "unknown keys are kept");
    cr_expect_str_eq(iw_json_get_str(e, "quantization"), "q3_k_m", "an existing value is kept");
    char *xa = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "backend_config"), "extra_args"));
    cr_expect_str_eq(xa, "[\"--num-ctx\",\"2048\"]", "the user's extra_args are kept");
    free(xa);
    cr_expect_str_eq(iw_json_get_str(cJSON_GetObjectItem(e, "metadata"), "ollama_family"), "llama");
    const cJSON *a = arch_of(e);
    cr_expect_str_eq(iw_json_get_str(a, "source"), "ollama-store");
    cr_expect_eq(num(a, "num_layers"), 2);
    cr_expect_null(cJSON_GetObjectItem(a, "warnings"), "the original's warning is gone");
    cJSON_Delete(d);
    free(args); free(out); free(err);
}

/* ---- migrate-architecture ------------------------------------------------ */

Test(ollama_cli, migrate_fills_the_originals_warning_only_entries)
{
    put_reg("[{\"name\":\"aqualaguna-tiny_(Q3_K_M)\",\"backend\":\"ollama\","
            "\"metadata\":{\"architecture\":{\"sources\":[\"ollama:aqualaguna/tiny-GGUF:q3_k_m\"],"
            "\"warnings\":[\"Model directory not found: ollama:/aqualaguna/tiny-GGUF:q3_k_m\"],"
            "\"collected_at\":\"2025-11-06T22:32:45.240601+00:00\"}},"
            "\"served_model_id\":\"aqualaguna/tiny-GGUF:q3_k_m\",\"download_path\":\"ollama:/aqualaguna/tiny-GGUF:q3_k_m\"},"
            /* no download_path: found by served_model_id */
            "{\"name\":\"tiny-vl\",\"backend\":\"ollama\",\"served_model_id\":\"tiny-vl\",\"download_path\":null},"
            /* a download_path that is gone: the served_model_id is tried */
            "{\"name\":\"moved\",\"backend\":\"ollama\",\"served_model_id\":\"tiny:latest\",\"download_path\":\"ollama://old-name:1\"},"
            /* not in the store, no server: a migrate warning */
            "{\"name\":\"absent\",\"backend\":\"ollama\",\"served_model_id\":\"qwen3:8b\",\"download_path\":\"ollama:/qwen3:8b\"},"
            /* not an Ollama model */
            "{\"name\":\"remote\",\"backend\":\"vllm\",\"served_model_id\":\"x\",\"download_path\":null}]");
    char *out = NULL, *err = NULL;
    cr_assert_eq(run("migrate-architecture", &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "3 updated, 0 unchanged, 1 failed (4 installs, 1 entries skipped)"), "%s", out);
    free(out); free(err);
    cJSON *d = layer("model_registry.discovered.json");
    const cJSON *a = arch_of(by_key(d, "name", "aqualaguna-tiny_(Q3_K_M)"));
    cr_expect_str_eq(iw_json_get_str(a, "source"), "ollama-store");
    cr_expect_eq(num(a, "num_layers"), 2);
    cr_expect_eq(num(cJSON_GetObjectItem(a, "ollama"), "num_ctx"), 4096);
    cr_expect_null(cJSON_GetObjectItem(a, "warnings"));
    const cJSON *src;
    bool has_ref = false;
    cJSON_ArrayForEach(src, cJSON_GetObjectItem(a, "sources"))
        has_ref |= strcmp(src->valuestring, "ollama:aqualaguna/tiny-GGUF:q3_k_m") == 0;
    cr_expect(has_ref);
    a = arch_of(by_key(d, "name", "tiny-vl"));
    cr_expect_str_eq(iw_json_get_str(a, "source"), "ollama-store");
    cr_expect(cJSON_GetObjectItem(a, "vision"));
    a = arch_of(by_key(d, "name", "moved"));
    cr_expect_str_eq(iw_json_get_str(a, "source"), "ollama-store");
    a = arch_of(by_key(d, "name", "absent"));
    char *w = cJSON_PrintUnformatted(cJSON_GetObjectItem(a, "warnings"));
    cr_expect(strstr(w, "migrate: Ollama model qwen3:8b is not in the store"), "%s", w);
    free(w);
    cr_expect_null(arch_of(by_key(d, "name", "remote")));
    cJSON_Delete(d);
    /* idempotent */
    cr_assert_eq(run("migrate-architecture", &out, &err), 0);
    cr_assert(strstr(out, "0 updated, 3 unchanged, 1 failed"), "%s", out);
    free(out); free(err);
}

/* ---- verify -------------------------------------------------------------- */

/* ---- estimate and launches of an Ollama model ---------------------------- */

/* A part of an Ollama model name as ollama's types/model/name.go accepts it:
 * 1..80 characters, the first a letter, digit or '_', the others also '-'
 * and '.' ('.' not in a namespace). */
static bool ollama_part_ok(const char *s, size_t n, bool ns)
{
    if (n < 1 || n > 80)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool an = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!an && (i == 0 || !(c == '-' || (c == '.' && !ns))))
            return false;
    }
    return true;
}

/* [namespace/]model[:tag] */
static bool ollama_name_ok(const char *name)
{
    const char *slash = strrchr(name, '/'), *colon = strrchr(name, ':');
    const char *model = slash ? slash + 1 : name;
    if (colon && colon < model)
        colon = NULL;
    size_t ml = colon ? (size_t)(colon - model) : strlen(model);
    if (!ollama_part_ok(model, ml, false) || (colon && !ollama_part_ok(colon + 1, strlen(colon + 1), false)))
        return false;
    return !slash || (!strchr(name, '/') || strchr(name, '/') == slash ? ollama_part_ok(name, (size_t)(slash - name), true)
                                                                     : false);
}

/* The command after `marker` on its line, checked by `bash -n`, and run with
 * `ollama` defined as a function printing its second argument. */
static char *create_name(const char *text)
{
    const char *c = strstr(text, "ollama create ");
    cr_assert_not_null(c, "no ollama create command in:\n%s", text);
    char *cmd = strndup(c, strcspn(c, "\n"));
    char *dir = iwt_tmpdir("ocreate");
    char *f = pathf("%s/cmd.sh", dir);
    cr_assert_eq(iwt_write(f, cmd, strlen(cmd)), 0);
    char *check = pathf("bash -n '%s'", f);
    cr_expect_eq(iwt_run(check, NULL, NULL), 0, "bash -n rejects: %s", cmd);
    free(check);
    char *sh = pathf("bash -c 'ollama() { printf \"%%s\" \"$2\"; }; . \"$0\"' '%s'", f);
    char *name = NULL;
    cr_expect_eq(iwt_run(sh, &name, NULL), 0, "%s", cmd);
    free(sh);
    free(f);
    iwt_rm_rf(dir);
    free(dir);
    free(cmd);
    return name;
}

Test(ollama_cli, estimate_and_launches_of_an_ollama_model)
{
    char *args = pathf("scan '%s'", g_store), *out = NULL;
    cr_assert_eq(run(args, NULL, NULL), 0);
    free(args);
    /* the registry entry and the ollama: reference are estimated as Ollama
     * serves them: the Ollama engine at the model's own num_ctx (4096 from
     * its params blob), not llama.cpp at the trained 8192 */
    static const char *const targets[] = {"'tiny_68k_(Q4_K_M)'", "ollama:tiny:latest"};
    for (size_t i = 0; i < 2; i++) {
        args = pathf("estimate %s --json", targets[i]);
        cr_assert_eq(run(args, &out, NULL), 0, "%s", out);
        cJSON *j = cJSON_Parse(out);
        cr_assert_not_null(j, "%s", out);
        const cJSON *in = cJSON_GetObjectItem(j, "inputs");
        cr_expect_str_eq(iw_json_get_str(in, "engine"), "ollama", "%s", targets[i]);
        cr_expect_eq(num(in, "context"), 4096, "%s: the model's num_ctx", targets[i]);
        cJSON_Delete(j);
        free(out);
        free(args);
    }
    /* the Modelfile's create command is valid bash and a valid Ollama name */
    cr_assert_eq(run("estimate 'tiny_68k_(Q4_K_M)' --vram 8GiB --emit ollama", &out, NULL), 0, "%s", out);
    char *name = create_name(out);
    cr_expect(name && ollama_name_ok(name), "'%s' is not a valid Ollama model name", name ? name : "");
    cr_expect(strstr(out, "FROM tiny:latest\n"), "%s", out);
    free(name);
    free(out);
    /* a llama.cpp launch of it never takes Ollama's own port */
    cr_assert_eq(run("estimate 'tiny_68k_(Q4_K_M)' --vram 8GiB --emit llama.cpp", &out, NULL), 0, "%s", out);
    cr_expect_null(strstr(out, "11434"), "llama-server on Ollama's port:\n%s", out);
    char *dir = iwt_tmpdir("olaunch");
    char *f = pathf("%s/l.sh", dir), *chk = pathf("bash -n '%s'", f);
    cr_assert_eq(iwt_write(f, out, strlen(out)), 0);
    cr_expect_eq(iwt_run(chk, NULL, NULL), 0, "%s", out);
    free(chk);
    free(f);
    iwt_rm_rf(dir);
    free(dir);
    free(out);
}

Test(ollama_cli, verify_checks_blobs_against_their_names)
{
    char *out = NULL, *err = NULL, *args = pathf("scan '%s'", g_store);
    cr_assert_eq(run(args, &out, &err), 0, "%s%s", out, err);
    free(args); free(out); free(err);

    cr_assert_eq(run("verify 'tiny_68k_(Q4_K_M)'", &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "verified 1 entry, 4 files: 4 ok, 0 missing, 0 changed"), "%s", out);
    free(out); free(err);
    cr_assert_eq(run("verify", &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "verified 4 entries"), "%s", out);
    free(out); free(err);

    /* one byte of the model blob changes: same size, other sha256 */
    char *blob = pathf("%s/blobs/sha256-%s", g_store, g_st.model);
    size_t len;
    unsigned char *b = (unsigned char *)iwt_slurp(blob, &len);
    cr_assert(b && len > 100);
    b[len - 7] ^= 0x5a;
    cr_assert_eq(iwt_write(blob, b, len), 0);
    free(b);
    cr_assert_eq(run("verify 'tiny_68k_(Q4_K_M)'", &out, &err), 1, "%s%s", out, err);
    char *want = pathf("CHANGED  tiny_68k_(Q4_K_M): Ollama blob %s is corrupt", blob);
    cr_assert(strstr(out, want), "%s", out);
    cr_assert(strstr(out, "3 ok, 0 missing, 1 changed"), "%s", out);
    free(want); free(out); free(err);

    /* a missing params blob (optional for extraction) is MISSING for verify */
    char *pb = pathf("%s/blobs/sha256-%s", g_store, g_st.params);
    cr_assert_eq(unlink(pb), 0);
    cr_assert_eq(run("verify 'tiny_68k_(Q4_K_M)'", &out, &err), 1);
    cr_assert(strstr(out, "MISSING  tiny_68k_(Q4_K_M): ") && strstr(out, g_st.params) && strstr(out, "(params layer"),
              "%s", out);
    free(out); free(err);
    /* a missing model blob: the manifest cannot be used at all */
    cr_assert_eq(unlink(blob), 0);
    cr_assert_eq(run("verify 'tiny_68k_(Q4_K_M)'", &out, &err), 1);
    cr_assert(strstr(out, "MISSING  tiny_68k_(Q4_K_M): ") && strstr(out, "missing blob"), "%s", out);
    cr_assert_eq(count_lines(out), 2, "one problem line and the summary: %s", out);
    free(out); free(err);
    free(pb); free(blob);
}

/* ---- inspect with the /api/show fallback ----------------------------------- */

typedef struct stub {
    int fd, port, status, served;
    pthread_t th;
    const char *body;
    size_t body_len;
    char request[8192];   /* last request: line, headers and body */
} stub;

static void *stub_main(void *arg)
{
    stub *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        size_t got = 0;
        char *hdr_end = NULL;
        memset(s->request, 0, sizeof s->request);
        while (got + 1 < sizeof s->request) {
            ssize_t n = read(c, s->request + got, sizeof s->request - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            if (!hdr_end)
                hdr_end = strstr(s->request, "\r\n\r\n");
            const char *cl = strcasestr(s->request, "\r\ncontent-length:");
            if (hdr_end && (!cl || got >= (size_t)(hdr_end + 4 - s->request) + strtoul(cl + 17, NULL, 10)))
                break;
        }
        char head[256];
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 %d X\r\nContent-Type: application/json; charset=utf-8\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n", s->status, s->body_len);
        if (write(c, head, (size_t)hl) < 0 || write(c, s->body, s->body_len) < 0)
            perror("stub write");
        s->served++;
        close(c);
    }
}

static void stub_start(stub *s, int status, const char *body, size_t len)
{
    memset(s, 0, sizeof *s);
    s->status = status;
    s->body = body;
    s->body_len = len;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(s->fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(s->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    cr_assert_eq(getsockname(s->fd, (struct sockaddr *)&sa, &sl), 0);
    s->port = ntohs(sa.sin_port);
    cr_assert_eq(listen(s->fd, 8), 0);
    cr_assert_eq(pthread_create(&s->th, NULL, stub_main, s), 0);
}

static void stub_stop(stub *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->th, NULL);
}

Test(ollama_cli, inspect_asks_the_server_when_the_store_lacks_the_model)
{
    size_t len;
    char *body = iwt_slurp(iwt_fixture("ollama/show_llama.json"), &len);
    cr_assert(body);
    stub s;
    stub_start(&s, 200, body, len);
    char *env = pathf("OLLAMA_HOST=127.0.0.1:%d", s.port);
    char *out = NULL, *err = NULL;
    cr_assert_eq(run_env(env, "inspect ollama:llama3.2:3b --json", &out, &err), 0, "%s%s", out, err);
    cr_assert_eq(s.served, 1);
    cr_assert(strstr(s.request, "POST /api/show HTTP/1.1"), "%s", s.request);
    cr_assert(strstr(s.request, "\"model\":\"llama3.2:3b\""), "%s", s.request);
    cJSON *j = cJSON_Parse(out);
    cr_assert(j, "%s", out);
    cr_expect_str_eq(iw_json_get_str(j, "source"), "ollama-api");
    cr_expect_eq(num(j, "num_layers"), 28);
    cr_expect_eq(num(j, "context_length"), 131072);
    cr_expect_eq(num(cJSON_GetObjectItem(j, "ollama"), "num_ctx"), 4096);
    cr_expect_str_eq(iw_json_get_str(cJSON_GetObjectItem(j, "field_sources"), "ollama.num_ctx"), "ollama-api:parameters");
    cJSON_Delete(j);
    free(out); free(err);

    /* a model the store has is read from the store, the server is not asked */
    cr_assert_eq(run_env(env, "inspect ollama:tiny --json", &out, &err), 0, "%s%s", out, err);
    cr_assert_eq(s.served, 1, "the server was asked for a model in the store");
    j = cJSON_Parse(out);
    cr_expect_str_eq(iw_json_get_str(j, "source"), "ollama-store");
    cJSON_Delete(j);
    free(out); free(err);
    /* --tensors of a server answer: no blob to list */
    cr_assert_eq(run_env(env, "inspect ollama:llama3.2:3b --tensors /dev/null", &out, &err), 1);
    cr_assert(strstr(err, "--tensors needs ollama:llama3.2:3b in the local Ollama store"), "%s", err);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(out); free(err);
    stub_stop(&s);

    /* without OLLAMA_HOST nothing asks a server: one line naming the store */
    cr_assert_eq(run("inspect ollama:llama3.2:3b", &out, &err), 1);
    cr_assert(strstr(err, "Ollama model llama3.2:3b is not in the store"), "%s", err);
    cr_assert(!strstr(err, "server"), "%s", err);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(out); free(err);

    /* a server that does not have it either: both causes on one line */
    stub_start(&s, 404, "{\"error\":\"model 'llama3.2:3b' not found\"}", 41);
    free(env);
    env = pathf("OLLAMA_HOST=127.0.0.1:%d", s.port);
    cr_assert_eq(run_env(env, "inspect ollama:llama3.2:3b", &out, &err), 1);
    cr_assert(strstr(err, "is not in the store") && strstr(err, "HTTP 404") &&
              strstr(err, "model 'llama3.2:3b' not found"), "%s", err);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(out); free(err);
    stub_stop(&s);
    free(env);
    free(body);
}

Test(ollama_cli, inspect_store_model_text_and_tensors)
{
    char *out = NULL, *err = NULL;
    char *csv = pathf("%s/t.csv", g_dir);
    char *args = pathf("inspect ollama:/tiny-vl:latest --tensors '%s'", csv);
    cr_assert_eq(run(args, &out, &err), 0, "%s%s", out, err);
    cr_assert(strstr(out, "source: ollama-store"), "%s", out);
    cr_assert(strstr(out, "ollama     num_ctx 4096"), "%s", out);
    cr_assert(strstr(out, "vision") && strstr(out, "layers 3") && strstr(out, "image 336"), "%s", out);
    char *t = iwt_slurp(csv, NULL);
    cr_assert(t && strstr(t, "blk.0.attn_q.weight"), "%s", t ? t : "(no csv)");
    free(t); free(args); free(csv); free(out); free(err);
}

/* ---- bad stores ------------------------------------------------------------ */

Test(ollama_cli, bad_input_gives_one_line_errors)
{
    char *out = NULL, *err = NULL;
    /* missing manifest */
    cr_assert_eq(run("inspect ollama:nothere:1", &out, &err), 1);
    cr_assert(strstr(err, "no manifest"), "%s", err);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(out); free(err);
    /* a bad reference */
    cr_assert_eq(run("inspect 'ollama:../x'", &out, &err), 1);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(out); free(err);

    /* a manifest naming a blob that is not there */
    static const char zeros[] = "0000000000000000000000000000000000000000000000000000000000000000";
    char *m = text_manifest(zeros);
    put_manifest("registry.ollama.ai/library/broken/missing", m);
    free(m);
    cr_assert_eq(run("inspect ollama:broken:missing", &out, &err), 1);
    cr_assert(strstr(err, "missing blob"), "%s", err);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(out); free(err);

    /* a manifest whose model blob is a symlink leaving the store */
    const char *outside = "not a model, and outside the store";
    char hex[65];
    cr_assert_eq(iw_sha256_hex(outside, strlen(outside), hex), 0);
    char *op = pathf("%s/outside-blob", g_dir), *lp = pathf("%s/blobs/sha256-%s", g_store, hex);
    cr_assert_eq(iwt_write(op, outside, strlen(outside)), 0);
    cr_assert_eq(symlink(op, lp), 0);
    m = text_manifest(hex);
    put_manifest("registry.ollama.ai/library/broken/outside", m);
    free(m);
    cr_assert_eq(run("inspect ollama:broken:outside", &out, &err), 1);
    cr_assert(strstr(err, "outside"), "%s", err);
    cr_assert_eq(count_lines(err), 1, "%s", err);
    free(out); free(err);

    /* a model blob that is not GGUF */
    const char *junk = "this is not GGUF";
    char jh[65];
    put_blob(junk, strlen(junk), jh);
    m = text_manifest(jh);
    put_manifest("registry.ollama.ai/library/broken/junk", m);
    free(m);
    /* a manifest that is not JSON */
    put_manifest("registry.ollama.ai/library/broken/notjson", "{\"schemaVersion\":2,\"layers\":[");

    /* scan: the good models are registered, each bad one is one line on stderr */
    char *args = pathf("scan '%s'", g_store);
    cr_assert_eq(run(args, &out, &err), 1, "%s%s", out, err);
    cr_assert(strstr(out, "8 installs found, 4 registered, 4 failed"), "%s", out);
    cr_assert_eq(count_lines(err), 4, "%s", err);
    cr_assert(strstr(err, "scan: ollama:/broken:missing: ") && strstr(err, "scan: ollama:/broken:outside: ") &&
              strstr(err, "scan: ollama:/broken:junk: ") && strstr(err, "scan: ollama:/broken:notjson: "), "%s", err);
    cr_assert(!strstr(err, "Sanitizer") && !strstr(err, "runtime error"), "%s", err);
    free(args); free(out); free(err);

    /* verify of entries naming them: MISSING / UNSAFE, never a crash; a
     * download registered for the ollama backend keeps its file check */
    char *gguf = pathf("%s/dl/tiny.gguf", g_dir);
    cr_assert_eq(iwt_write(gguf, "GGUF", 4), 0);
    char *reg = pathf("[{\"name\":\"m\",\"backend\":\"ollama\",\"download_path\":\"ollama:/broken:missing\"},"
                      "{\"name\":\"o\",\"backend\":\"ollama\",\"download_path\":\"ollama:/broken:outside\"},"
                      "{\"name\":\"n\",\"backend\":\"ollama\",\"download_path\":\"ollama:/nothere:1\"},"
                      "{\"name\":\"j\",\"backend\":\"ollama\",\"download_path\":\"ollama:/broken:notjson\"},"
                      "{\"name\":\"dl\",\"backend\":\"ollama\",\"served_model_id\":\"nothere:2\","
                      "\"download_path\":\"%s/dl\",\"artifacts\":{\"files\":[{\"path\":\"tiny.gguf\",\"size\":4}]}}]",
                      g_dir);
    put_reg(reg);
    free(reg);
    free(gguf);
    cr_assert_eq(run("verify", &out, &err), 1);
    cr_assert(strstr(out, "MISSING  m: ") && strstr(out, "UNSAFE   o: ") && strstr(out, "MISSING  n: ") &&
              strstr(out, "CHANGED  j: "), "%s", out);
    cr_assert(!strstr(out, " dl: "), "%s", out);
    cr_assert(strstr(out, "verified 5 entries, 5 files: 1 ok, 2 missing, 2 changed"), "%s", out);
    cr_assert_eq(count_lines(out), 5, "%s", out);
    free(out); free(err);
    free(op); free(lp);
}
