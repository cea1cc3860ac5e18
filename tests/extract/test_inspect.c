/* test_inspect.c - the inspection pipeline over providers (inspect.h,
 * provider.h): a provider written against the public interface reads the
 * same record as the local one, the fallback chain, versions, and the GGUF
 * selection rules (one projector). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/inspect.h"
#include "iwdl/safetensors.h"
#include "iwtest.h"
#include "gguf_testwriter.h"
#include "safetensors_testutil.h"

static char *g_dir;

static void setup(void)
{
    g_dir = iwt_tmpdir("inspect");
    cr_assert(g_dir);
    iw_error_clear();
}

static void teardown(void)
{
    iwt_rm_rf(g_dir);
    free(g_dir);
}

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

static void put(const char *rel, const char *text)
{
    char *p = pathf("%s/%s", g_dir, rel);
    cr_assert_eq(iwt_write(p, text, strlen(text)), 0);
    free(p);
}

/* A small Llama folder: config.json + one safetensors file. */
static void make_model(const char *sub)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/config.json", sub);
    put(rel, "{\"model_type\":\"llama\",\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
             "\"intermediate_size\":128,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
             "\"num_key_value_heads\":2,\"vocab_size\":100,\"max_position_embeddings\":2048,"
             "\"torch_dtype\":\"bfloat16\",\"tie_word_embeddings\":false}");
    stw_t t[] = {
        { "model.embed_tokens.weight", "BF16", 2, { 100, 64 } },
        { "model.layers.0.self_attn.q_proj.weight", "BF16", 2, { 64, 64 } },
        { "model.layers.0.self_attn.k_proj.weight", "BF16", 2, { 32, 64 } },
        { "model.layers.0.self_attn.v_proj.weight", "BF16", 2, { 32, 64 } },
        { "model.layers.0.self_attn.o_proj.weight", "BF16", 2, { 64, 64 } },
        { "model.layers.0.mlp.gate_proj.weight", "BF16", 2, { 128, 64 } },
        { "model.layers.0.mlp.up_proj.weight", "BF16", 2, { 128, 64 } },
        { "model.layers.0.mlp.down_proj.weight", "BF16", 2, { 64, 128 } },
        { "model.layers.0.input_layernorm.weight", "BF16", 1, { 64 } },
        { "model.layers.0.post_attention_layernorm.weight", "BF16", 1, { 64 } },
        { "model.norm.weight", "BF16", 1, { 64 } },
        { "lm_head.weight", "BF16", 2, { 100, 64 } },
    };
    char *p = pathf("%s/%s/model.safetensors", g_dir, sub);
    cr_assert_eq(stw_write(p, t, sizeof t / sizeof t[0]), 0);
    free(p);
}

/* ---- a provider written against the public interface ------------------ */

/* Serves the files of a folder under "repo/" paths, cited "mem://...", with
 * no read() operation (so the pipeline's generic whole-file read is used),
 * like a remote listing: every path, sizes known. */
typedef struct mem_provider {
    iw_provider base;
    char *dir;
    int opens;
} mem_provider;

static int mem_list(iw_provider *p, iw_file_list *out)
{
    mem_provider *m = (mem_provider *)p;
    static const char *const names[] = { "config.json", "model.safetensors" };
    for (size_t i = 0; i < 2; i++) {
        char *full = pathf("%s/%s", m->dir, names[i]);
        size_t len = 0;
        char *d = iwt_slurp(full, &len);
        free(full);
        if (!d)
            continue;
        free(d);
        int rc = iw_file_list_add(out, names[i], NULL, len, IW_FILE_BY_NAME);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int mem_stat(iw_provider *p, const char *path, uint64_t *size)
{
    mem_provider *m = (mem_provider *)p;
    char *full = pathf("%s/%s", m->dir, path);
    size_t len = 0;
    char *d = iwt_slurp(full, &len);
    free(full);
    if (!d)
        return IW_ENOTFOUND;
    free(d);
    *size = len;
    return 0;
}

static int mem_open(iw_provider *p, const char *path, iw_source *out)
{
    mem_provider *m = (mem_provider *)p;
    char *full = pathf("%s/%s", m->dir, path);
    int rc = iw_source_open_file(out, full);
    free(full);
    m->opens++;
    return rc;
}

static int mem_cite(iw_provider *p, const char *path, char **out)
{
    return asprintf(out, "mem://model/%s", path) < 0 ? IW_ENOMEM : 0;
}

static void mem_free(iw_provider *p)
{
    mem_provider *m = (mem_provider *)p;
    free(m->dir);
    free(m);
}

static iw_provider *mem_new(const char *dir)
{
    mem_provider *m = calloc(1, sizeof *m);
    cr_assert(m);
    m->dir = strdup(dir);
    m->base = (iw_provider){
        .version = IW_PROVIDER_VERSION, .name = "mem-model", .transferred = IW_UNKNOWN,
        .list = mem_list, .stat = mem_stat, .open = mem_open, .cite = mem_cite, .free = mem_free,
    };
    return &m->base;
}

/* The record without what names where it was read from (sources, time). */
static char *record(const iw_arch *a)
{
    iw_buf b = IW_BUF_INIT(IW_BUF_UNCAPPED);
    iw_buf_printf(&b, "%s %s %lld %lld %lld %lld %lld %lld %lld %lld %lld|%lld %lld %lld %s|%lld %lld|%s %s|%d",
                  a->model_type, a->source, (long long)a->num_layers, (long long)a->num_attention_heads,
                  (long long)a->num_kv_heads, (long long)a->head_dim, (long long)a->hidden_size,
                  (long long)a->intermediate_size, (long long)a->vocab_size, (long long)a->context_length,
                  (long long)a->max_position_embeddings, (long long)a->parameters.total,
                  (long long)a->parameters.active, (long long)a->parameters.embedding, a->parameters.source,
                  (long long)a->weights_bytes, (long long)a->kv_bytes_per_token, a->torch_dtype, a->kv_precision,
                  (int)a->attention.type);
    for (size_t i = 0; i < a->n_field_sources; i++)
        iw_buf_printf(&b, "|%s=%s", a->field_sources[i].field, a->field_sources[i].source);
    for (size_t i = 0; i < a->warnings.n; i++)
        iw_buf_printf(&b, "|warning %s", a->warnings.v[i]);
    return iw_buf_detach(&b);
}

Test(inspect, own_provider_reads_what_the_local_one_reads, .init = setup, .fini = teardown)
{
    make_model("m");
    char *dir = pathf("%s/m", g_dir);
    iw_arch local, mem;
    iw_arch_init(&local);
    iw_arch_init(&mem);
    cr_assert_eq(iw_extract_path(dir, NULL, &local), 0, "%s", iw_error_last());
    iw_provider *p = mem_new(dir);
    cr_assert_eq(iw_inspect(p, NULL, &mem), 0, "%s", iw_error_last());
    cr_expect_gt(((mem_provider *)p)->opens, 0);
    char *a = record(&local), *b = record(&mem);
    cr_expect_str_eq(b, a);
    cr_expect_eq(mem.parameters.total, 100 * 64 * 2 + 64 * 64 * 2 + 32 * 64 * 2 + 128 * 64 * 3 + 64 * 3);
    cr_expect(iw_strlist_contains(&mem.sources, "config:mem://model/config.json"));
    cr_expect(iw_strlist_contains(&mem.sources, "safetensors:mem://model/model.safetensors"));
    free(a);
    free(b);
    iw_provider_free(p);
    iw_arch_free(&local);
    iw_arch_free(&mem);
    free(dir);
}

Test(inspect, tensor_listing_is_the_files_read, .init = setup, .fini = teardown)
{
    make_model("m");
    char *dir = pathf("%s/m", g_dir);
    iw_buf csv = IW_BUF_INIT(IW_BUF_UNCAPPED), want = IW_BUF_INIT(IW_BUF_UNCAPPED);
    iw_inspect_opts o = IW_INSPECT_OPTS_INIT;
    o.tensors_csv = &csv;
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_extract_path(dir, &o, &a), 0, "%s", iw_error_last());
    cr_assert_eq(iw_safetensors_csv(dir, true, &want), 0, "%s", iw_error_last());
    cr_expect_str_eq(csv.data, want.data);
    iw_buf_free(&csv);
    iw_buf_free(&want);
    iw_arch_free(&a);
    free(dir);
}

Test(inspect, versions_are_checked, .init = setup, .fini = teardown)
{
    make_model("m");
    char *dir = pathf("%s/m", g_dir);
    iw_provider *p = mem_new(dir);
    iw_arch a;
    iw_arch_init(&a);
    p->version = IW_PROVIDER_VERSION + 1;
    cr_expect_eq(iw_inspect(p, NULL, &a), IW_EINVAL);
    cr_expect(strstr(iw_error_last(), "provider version"), "%s", iw_error_last());
    p->version = IW_PROVIDER_VERSION;
    iw_inspect_opts o;
    cr_expect_eq(iw_inspect_opts_init(&o, IW_INSPECT_OPTS_VERSION + 1), IW_EINVAL);
    cr_assert_eq(iw_inspect_opts_init(&o, IW_INSPECT_OPTS_VERSION), 0);
    cr_expect_eq(o.version, IW_INSPECT_OPTS_VERSION);
    o.version = IW_INSPECT_OPTS_VERSION + 1;
    cr_expect_eq(iw_inspect(p, &o, &a), IW_EINVAL);
    o.version = 0;     /* a zeroed struct reads as version 1 */
    cr_expect_eq(iw_inspect(p, &o, &a), 0, "%s", iw_error_last());
    iw_provider_free(p);
    iw_arch_free(&a);
    free(dir);
}

/* ---- the fallback chain ---------------------------------------------------- */

Test(inspect, chain_falls_back_only_when_the_first_has_nothing, .init = setup, .fini = teardown)
{
    make_model("m");
    char *dir = pathf("%s/m", g_dir);
    char *empty_store = pathf("%s/no-store", g_dir);
    iw_provider *store = NULL, *chain = NULL;
    iw_arch a;

    /* the store has no such model: the second provider answers */
    cr_assert_eq(iw_provider_ollama_store(&store, "ollama:nothere:1", empty_store), 0, "%s", iw_error_last());
    cr_assert_eq(iw_provider_chain(&chain, store, mem_new(dir), "the folder"), 0);
    iw_arch_init(&a);
    cr_assert_eq(iw_inspect(chain, NULL, &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.num_layers, 1);
    cr_expect(!a.warnings.n || !strstr(a.warnings.v[0], "ollama"));
    iw_arch_free(&a);
    iw_provider_free(chain);

    /* both fail: one line naming both, the second's code */
    cr_assert_eq(iw_provider_ollama_store(&store, "ollama:nothere:1", empty_store), 0);
    iw_provider *missing = NULL;
    cr_assert_eq(iw_provider_ollama_store(&missing, "ollama:other:2", empty_store), 0);
    cr_assert_eq(iw_provider_chain(&chain, store, missing, "the second store"), 0);
    iw_arch_init(&a);
    cr_expect_eq(iw_inspect(chain, NULL, &a), IW_ENOTFOUND);
    cr_expect(strstr(iw_error_last(), "; and from the second store: "), "%s", iw_error_last());
    cr_expect(!strchr(iw_error_last(), '\n'));
    iw_arch_free(&a);
    iw_provider_free(chain);

    /* a failure other than "not found" is not masked */
    char *badcfg = pathf("%s/bad", g_dir);
    put("bad/config.json", "{\"model_type\": ");
    iw_provider *bad = NULL;
    cr_assert_eq(iw_provider_local(&bad, badcfg), 0);
    cr_assert_eq(iw_provider_chain(&chain, bad, mem_new(dir), "the folder"), 0);
    iw_arch_init(&a);
    cr_expect_lt(iw_inspect(chain, NULL, &a), 0);
    cr_expect(strstr(iw_error_last(), "config.json"), "%s", iw_error_last());
    iw_arch_free(&a);
    iw_provider_free(chain);
    free(badcfg);
    free(empty_store);
    free(dir);
}

/* ---- GGUF: one model, one projector ---------------------------------------- */

static void write_gguf_model(const char *path)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 2, 4);
    gw_kv_str(&w, "general.architecture", "llama");
    gw_kv_u32(&w, "llama.block_count", 1);
    gw_kv_u32(&w, "llama.embedding_length", 64);
    gw_kv_u32(&w, "llama.attention.head_count", 4);
    gw_t t[] = { { "token_embd.weight", 2, { 64, 100 }, 0 }, { "blk.0.attn_q.weight", 2, { 64, 64 }, 0 } };
    gw_tensors(&w, t, 2, 32);
    cr_assert_eq(iwt_write(path, w.p, w.len), 0);
    gw_free(&w);
}

static void write_projector(const char *path, int64_t width)
{
    gw w;
    gw_init(&w, 3, false);
    gw_header(&w, 1, 3);
    gw_kv_str(&w, "general.architecture", "clip");
    gw_kv_u32(&w, "clip.vision.image_size", 336);
    gw_kv_u32(&w, "clip.vision.block_count", 2);
    gw_t t = { "v.patch_embd.weight", 2, { 14, width }, 0 };
    gw_tensors(&w, &t, 1, 32);
    cr_assert_eq(iwt_write(path, w.p, w.len), 0);
    gw_free(&w);
}

/* Regression: a folder with a projector in two precisions (as GGUF repos
 * ship them) used to add both projectors' parameters. */
Test(inspect, one_projector_of_several, .init = setup, .fini = teardown)
{
    char *m = pathf("%s/model-Q8_0.gguf", g_dir);
    char *p16 = pathf("%s/mmproj-F16.gguf", g_dir);
    char *p32 = pathf("%s/mmproj-F32.gguf", g_dir);
    write_gguf_model(m);
    write_projector(p16, 64);
    write_projector(p32, 64);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_extract_path(g_dir, NULL, &a), 0, "%s", iw_error_last());
    cr_expect(a.has_vision);
    cr_expect_eq(a.vision.params, 14 * 64, "vision params %lld", (long long)a.vision.params);
    bool warned = false;
    for (size_t i = 0; i < a.warnings.n; i++)
        warned |= strstr(a.warnings.v[i], "2 vision projectors") && strstr(a.warnings.v[i], "mmproj-F16.gguf");
    cr_expect(warned, "no warning about the second projector");
    size_t ggufs = 0;
    for (size_t i = 0; i < a.sources.n; i++)
        ggufs += strncmp(a.sources.v[i], "gguf:", 5) == 0;
    cr_expect_eq(ggufs, 2, "model + one projector read, got %zu", ggufs);
    iw_arch_free(&a);
    free(m);
    free(p16);
    free(p32);
}

/* An Ollama answer is read through the GGUF getter, not a GGUF written out
 * and parsed back; the rule a GGUF header enforces on its own still holds:
 * a key may appear once. */
#include "iwdl/ollama.h"

Test(inspect, show_answer_keys_are_unique)
{
    const char *j = "{\"model_info\":{\"general.architecture\":\"llama\",\"llama.block_count\":2,"
                    "\"llama.block_count\":3}}";
    iw_arch a;
    iw_arch_init(&a);
    cr_expect_eq(iw_ollama_show_to_arch(j, strlen(j), "answer", &a), IW_EFORMAT);
    cr_expect(strstr(iw_error_last(), "llama.block_count") && strstr(iw_error_last(), "twice"), "%s",
              iw_error_last());
    iw_arch_free(&a);
}
