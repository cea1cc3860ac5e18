/* test_ollama.c - Ollama references, the local store and extraction.
 *
 * Every test builds its own Ollama store in a tmpdir: small GGUF blobs
 * written by the tiny GGUF writer below (v3, little endian), manifests,
 * a params blob and a vision projector.  Nothing here reads a real store. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/hash.h"
#include "iwdl/ollama.h"
#include "iwtest.h"

/* ---- a tiny GGUF writer ------------------------------------------------- */

typedef struct gw {
    unsigned char *p;
    size_t len, cap;
    uint64_t n_kv, n_tensors;
    size_t kv_count_pos;
} gw;

static void gw_put(gw *w, const void *d, size_t n)
{
    if (w->len + n > w->cap) {
        w->cap = (w->len + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        cr_assert(w->p);
    }
    memcpy(w->p + w->len, d, n);
    w->len += n;
}
static void gw_u32(gw *w, uint32_t v) { unsigned char b[4]; for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i)); gw_put(w, b, 4); }
static void gw_u64(gw *w, uint64_t v) { unsigned char b[8]; for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i)); gw_put(w, b, 8); }
static void gw_str(gw *w, const char *s) { gw_u64(w, strlen(s)); gw_put(w, s, strlen(s)); }

/* Header is written by gw_finish; kvs and tensor infos are collected first. */
typedef struct gguf_spec {
    gw kv;        /* serialized kv pairs */
    gw ti;        /* serialized tensor infos */
    uint64_t data_size;
} gguf_spec;

static void kv_u32(gguf_spec *s, const char *k, uint32_t v) { gw_str(&s->kv, k); gw_u32(&s->kv, 4); gw_u32(&s->kv, v); s->kv.n_kv++; }
static void kv_f32(gguf_spec *s, const char *k, float v) { uint32_t u; memcpy(&u, &v, 4); gw_str(&s->kv, k); gw_u32(&s->kv, 6); gw_u32(&s->kv, u); s->kv.n_kv++; }
static void kv_str(gguf_spec *s, const char *k, const char *v) { gw_str(&s->kv, k); gw_u32(&s->kv, 8); gw_str(&s->kv, v); s->kv.n_kv++; }
static void kv_strs(gguf_spec *s, const char *k, const char **v, size_t n)
{
    gw_str(&s->kv, k); gw_u32(&s->kv, 9); gw_u32(&s->kv, 8); gw_u64(&s->kv, n);
    for (size_t i = 0; i < n; i++)
        gw_str(&s->kv, v[i]);
    s->kv.n_kv++;
}

/* type: 0 = F32 (4 bytes/elem), 12 = Q4_K (256 elems / 144 bytes) */
static void tensor(gguf_spec *s, const char *name, int64_t ne0, int64_t ne1, uint32_t type)
{
    uint64_t nel = (uint64_t)ne0 * (uint64_t)ne1;
    uint64_t bytes = type == 0 ? nel * 4 : nel / 256 * 144;
    gw_str(&s->ti, name);
    gw_u32(&s->ti, 2);
    gw_u64(&s->ti, (uint64_t)ne0);
    gw_u64(&s->ti, (uint64_t)ne1);
    gw_u32(&s->ti, type);
    gw_u64(&s->ti, s->data_size);
    s->ti.n_tensors++;
    s->data_size += (bytes + 31) / 32 * 32;
}

/* Whole file bytes (caller frees). */
static unsigned char *gguf_finish(gguf_spec *s, size_t *len)
{
    gw w = { 0 };
    gw_put(&w, "GGUF", 4);
    gw_u32(&w, 3);
    gw_u64(&w, s->ti.n_tensors);
    gw_u64(&w, s->kv.n_kv);
    gw_put(&w, s->kv.p, s->kv.len);
    if (s->ti.len)
        gw_put(&w, s->ti.p, s->ti.len);
    static const unsigned char zero[64];
    while (w.len % 32)
        gw_put(&w, zero, 1);
    for (uint64_t i = 0; i < s->data_size; i += 32)
        gw_put(&w, zero, 32);
    free(s->kv.p);
    free(s->ti.p);
    memset(s, 0, sizeof *s);
    *len = w.len;
    return w.p;
}

/* A llama-like model: 2 layers, 64 wide, 4 heads, 2 KV heads, 8 tokens. */
static unsigned char *model_gguf(size_t *len, uint32_t ctx)
{
    gguf_spec s = { 0 };
    static const char *toks[] = { "<s>", "</s>", "a", "b", "c", "d", "e", "f" };
    kv_str(&s, "general.architecture", "llama");
    kv_str(&s, "general.name", "tiny");
    kv_u32(&s, "general.file_type", 15);   /* Q4_K_M */
    kv_u32(&s, "llama.block_count", 2);
    kv_u32(&s, "llama.context_length", ctx);
    kv_u32(&s, "llama.embedding_length", 256);
    kv_u32(&s, "llama.feed_forward_length", 512);
    kv_u32(&s, "llama.attention.head_count", 4);
    kv_u32(&s, "llama.attention.head_count_kv", 2);
    kv_f32(&s, "llama.rope.freq_base", 10000.0f);
    kv_f32(&s, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    kv_str(&s, "tokenizer.ggml.model", "llama");
    kv_strs(&s, "tokenizer.ggml.tokens", toks, 8);
    tensor(&s, "token_embd.weight", 256, 8, 12);
    tensor(&s, "blk.0.attn_norm.weight", 256, 1, 0);
    tensor(&s, "blk.0.attn_q.weight", 256, 256, 12);
    tensor(&s, "output_norm.weight", 256, 1, 0);
    return gguf_finish(&s, len);
}

static unsigned char *projector_gguf(size_t *len)
{
    gguf_spec s = { 0 };
    kv_str(&s, "general.architecture", "clip");
    kv_str(&s, "clip.projector_type", "mlp");
    kv_u32(&s, "clip.has_vision_encoder", 1);
    kv_u32(&s, "clip.vision.image_size", 336);
    kv_u32(&s, "clip.vision.patch_size", 14);
    kv_u32(&s, "clip.vision.embedding_length", 64);
    kv_u32(&s, "clip.vision.feed_forward_length", 128);
    kv_u32(&s, "clip.vision.block_count", 3);
    kv_u32(&s, "clip.vision.attention.head_count", 2);
    kv_u32(&s, "clip.vision.projection_dim", 256);
    tensor(&s, "v.patch_embd.weight", 64, 4, 0);
    tensor(&s, "mm.0.weight", 64, 256, 0);
    return gguf_finish(&s, len);
}

/* ---- a fixture store ---------------------------------------------------- */

static char *root;

static void setup(void)
{
    root = iwt_tmpdir("ollama");
    cr_assert(root);
    iw_error_clear();
}

static void teardown(void)
{
    iwt_rm_rf(root);
    free(root);
    root = NULL;
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

/* Write a blob under root/blobs and return its hex (static per slot). */
static void put_blob(const void *data, size_t len, char hex[65])
{
    cr_assert_eq(iw_sha256_hex(data, len, hex), 0);
    char *p = pathf("%s/blobs/sha256-%s", root, hex);
    cr_assert_eq(iwt_write(p, data, len), 0);
    free(p);
}

static void put_manifest(const char *rel, const char *json)
{
    char *p = pathf("%s/manifests/%s", root, rel);
    cr_assert_eq(iwt_write(p, json, strlen(json)), 0);
    free(p);
}

typedef struct store { char model[65], proj[65], params[65], tmpl[65], config[65]; } store;

/* root/manifests/registry.ollama.ai/library/tiny/latest (text only),
 * .../library/tiny-vl/latest (with projector), .../library/tiny/broken (per test). */
static void build_store(store *st)
{
    size_t len;
    unsigned char *g = model_gguf(&len, 8192);
    put_blob(g, len, st->model);
    free(g);
    g = projector_gguf(&len);
    put_blob(g, len, st->proj);
    free(g);
    const char *params = "{\"num_ctx\": 4096, \"stop\": [\"<|eot_id|>\"], \"temperature\": 0.6}";
    put_blob(params, strlen(params), st->params);
    const char *tmpl = "{{ .Prompt }}";
    put_blob(tmpl, strlen(tmpl), st->tmpl);
    const char *cfg = "{\"model_format\":\"gguf\",\"model_family\":\"llama\",\"file_type\":\"Q4_K_M\"}";
    put_blob(cfg, strlen(cfg), st->config);

    char *m = pathf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                    "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"sha256:%s\",\"size\":70},"
                    "\"layers\":["
                    "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\",\"size\":1000},"
                    "{\"mediaType\":\"application/vnd.ollama.image.template\",\"digest\":\"sha256:%s\",\"size\":13},"
                    "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"sha256:%s\",\"size\":60}]}",
                    st->config, st->model, st->tmpl, st->params);
    put_manifest("registry.ollama.ai/library/tiny/latest", m);
    free(m);
    m = pathf("{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:%s\"},\"layers\":["
              "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:%s\"},"
              "{\"mediaType\":\"application/vnd.ollama.image.projector\",\"digest\":\"sha256:%s\"},"
              "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"sha256:%s\"}]}",
              st->config, st->model, st->proj, st->params);
    put_manifest("registry.ollama.ai/library/tiny-vl/latest", m);
    put_manifest("hf.co/bartowski/Tiny-GGUF/Q4_K_M", m);
    put_manifest("registry.ollama.ai/someone/tiny/q4", m);
    free(m);
}

/* Manifest with one model layer whose digest string is given verbatim. */
static void broken_manifest(const char *tag, const char *model_digest, const char *extra_layer)
{
    char *m = pathf("{\"schemaVersion\":2,\"layers\":["
                    "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"%s\"}%s%s]}",
                    model_digest, extra_layer ? "," : "", extra_layer ? extra_layer : "");
    char *rel = pathf("registry.ollama.ai/library/tiny/%s", tag);
    put_manifest(rel, m);
    free(rel);
    free(m);
}

static bool one_line(const char *s)
{
    return s && *s && !strchr(s, '\n');
}

/* ---- references --------------------------------------------------------- */

Test(ollama_ref, spellings)
{
    const char *same[] = { "ollama://tiny:latest", "ollama:/tiny:latest", "ollama:tiny:latest",
                           "tiny:latest", "tiny", "ollama:tiny", "library/tiny",
                           "registry.ollama.ai/library/tiny:latest", "ollama://registry.ollama.ai/library/tiny" };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        iw_ollama_ref r;
        cr_assert_eq(iw_ollama_parse_ref(same[i], &r), 0, "%s: %s", same[i], iw_error_last());
        cr_expect_str_eq(r.registry, "registry.ollama.ai", "%s", same[i]);
        cr_expect_str_eq(r.ns, "library", "%s", same[i]);
        cr_expect_str_eq(r.name, "tiny", "%s", same[i]);
        cr_expect_str_eq(r.tag, "latest", "%s", same[i]);
        char buf[64];
        cr_assert_eq(iw_ollama_ref_format(&r, buf, sizeof buf), 0);
        cr_expect_str_eq(buf, "tiny:latest");
    }
    iw_ollama_ref r;
    cr_assert_eq(iw_ollama_parse_ref("ollama:/aqualaguna/gemma-3-27b-it-abliterated-GGUF:q3_k_m", &r), 0);
    cr_expect_str_eq(r.ns, "aqualaguna");
    cr_expect_str_eq(r.name, "gemma-3-27b-it-abliterated-GGUF");
    cr_expect_str_eq(r.tag, "q3_k_m");
    cr_assert_eq(iw_ollama_parse_ref("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", &r), 0);
    cr_expect_str_eq(r.registry, "hf.co");
    cr_expect_str_eq(r.ns, "bartowski");
    cr_expect_str_eq(r.tag, "Q4_K_M");
    char buf[128];
    cr_assert_eq(iw_ollama_ref_format(&r, buf, sizeof buf), 0);
    cr_expect_str_eq(buf, "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M");
    cr_assert_eq(iw_ollama_parse_ref("localhost:5000/me/m", &r), 0, "%s", iw_error_last());
    cr_expect_str_eq(r.registry, "localhost:5000");
    cr_expect_str_eq(r.tag, "latest");
    cr_assert_eq(iw_ollama_parse_ref("qwen2.5:7b-instruct-q4_K_M", &r), 0);
    cr_expect_str_eq(r.name, "qwen2.5");
    cr_expect_str_eq(r.tag, "7b-instruct-q4_K_M");
    cr_expect(iw_ollama_is_ref("ollama:/x:y"));
    cr_expect(!iw_ollama_is_ref("/models/x"));
}

Test(ollama_ref, refused)
{
    char longpart[100];
    memset(longpart, 'a', 81);
    longpart[81] = 0;
    char longref[120];
    snprintf(longref, sizeof longref, "ollama:%s:latest", longpart);
    const char *bad[] = {
        "ollama:", "ollama://", "ollama:../etc:latest", "ollama:a/../b:t", "ollama:x:..",
        "ollama:x:../../t", "ollama:a/b/c/d:t", "ollama:x:", "ollama::t", "ollama:/x y:t",
        "ollama:x:t\n", "ollama:.hidden:t", "ollama:a..b:t", "ollama:x:-t", "ollama:x/:t",
        "ollama:/x//y:t", "ollama:x@sha256:abcd", "ollama:x:t:u", "ollama:host:99a/ns/m:t",
        "ollama:x\\y:t", "ollama:x%2f..:t", longref,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        iw_ollama_ref r;
        iw_error_clear();
        cr_expect_eq(iw_ollama_parse_ref(bad[i], &r), IW_EINVAL, "accepted '%s'", bad[i]);
        cr_expect(one_line(iw_error_last()), "'%s': no one-line error", bad[i]);
    }
}

/* ---- store root --------------------------------------------------------- */

Test(ollama_store, root_order, .init = setup, .fini = teardown)
{
    char *old_models = getenv("OLLAMA_MODELS") ? strdup(getenv("OLLAMA_MODELS")) : NULL;
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char *models = pathf("%s/custom", root);
    char *home_models = pathf("%s/home/.ollama/models", root);
    char *home = pathf("%s/home", root);
    cr_assert_eq(mkdir(models, 0700), 0);
    char *marker = pathf("%s/x", home_models);
    cr_assert_eq(iwt_write(marker, "", 0), 0);
    free(marker);

    char *got = NULL;
    setenv("OLLAMA_MODELS", models, 1);
    setenv("HOME", home, 1);
    cr_assert_eq(iw_ollama_store_root(&got), 0);
    cr_expect_str_eq(got, models);
    free(got);
    setenv("OLLAMA_MODELS", "/nonexistent/ollama/models", 1);
    cr_assert_eq(iw_ollama_store_root(&got), 0);
    cr_expect_str_eq(got, home_models);
    free(got);
    unsetenv("OLLAMA_MODELS");
    cr_assert_eq(iw_ollama_store_root(&got), 0);
    cr_expect_str_eq(got, home_models);
    free(got);

    if (old_models) setenv("OLLAMA_MODELS", old_models, 1); else unsetenv("OLLAMA_MODELS");
    if (old_home) setenv("HOME", old_home, 1); else unsetenv("HOME");
    free(old_models); free(old_home); free(models); free(home_models); free(home);
}

/* ---- resolution --------------------------------------------------------- */

static int resolve(const char *s, iw_ollama_manifest *m)
{
    iw_ollama_ref r;
    int rc = iw_ollama_parse_ref(s, &r);
    if (rc < 0)
        return rc;
    return iw_ollama_resolve(&r, root, m);
}

Test(ollama_store, resolves_layers, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    const char *refs[] = { "ollama://tiny:latest", "ollama:/tiny:latest", "ollama:tiny:latest", "tiny" };
    for (size_t i = 0; i < 4; i++) {
        iw_ollama_manifest m;
        cr_assert_eq(resolve(refs[i], &m), 0, "%s: %s", refs[i], iw_error_last());
        cr_expect_eq(m.n_layers, 3);
        const iw_ollama_layer *L = iw_ollama_manifest_find(&m, IW_OLLAMA_LAYER_MODEL);
        cr_assert(L);
        cr_expect_str_eq(L->hex, st.model);
        cr_expect_eq(L->size, 1000);
        cr_assert(L->path);
        cr_expect(strstr(L->path, st.model) && strstr(L->path, "/blobs/sha256-"), "%s", L->path);
        L = iw_ollama_manifest_find(&m, IW_OLLAMA_LAYER_PARAMS);
        cr_assert(L && L->path);
        cr_expect_str_eq(L->hex, st.params);
        cr_expect(iw_ollama_manifest_find(&m, IW_OLLAMA_LAYER_TEMPLATE));
        cr_expect(!iw_ollama_manifest_find(&m, IW_OLLAMA_LAYER_PROJECTOR));
        cr_expect_str_eq(m.config_hex, st.config);
        cr_expect_eq(m.warnings.n, 0);
        iw_ollama_manifest_free(&m);
    }
    iw_ollama_manifest m;
    cr_assert_eq(resolve("hf.co/bartowski/Tiny-GGUF:Q4_K_M", &m), 0, "%s", iw_error_last());
    cr_expect(iw_ollama_manifest_find(&m, IW_OLLAMA_LAYER_PROJECTOR));
    iw_ollama_manifest_free(&m);
    cr_assert_eq(resolve("ollama:/someone/tiny:q4", &m), 0, "%s", iw_error_last());
    iw_ollama_manifest_free(&m);
    /* case-insensitive fallback: the store keeps lowercase names */
    cr_assert_eq(resolve("ollama:TINY:Latest", &m), 0, "%s", iw_error_last());
    iw_ollama_manifest_free(&m);
}

Test(ollama_store, missing_manifest, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    iw_ollama_manifest m;
    cr_expect_eq(resolve("ollama:nothere:latest", &m), IW_ENOTFOUND);
    cr_expect(one_line(iw_error_last()));
    cr_expect(strstr(iw_error_last(), "nothere:latest") && strstr(iw_error_last(), "ollama pull"),
              "%s", iw_error_last());
    cr_expect_eq(resolve("ollama:tiny:other", &m), IW_ENOTFOUND);
    /* not a store at all */
    iw_ollama_ref r;
    iw_ollama_parse_ref("tiny", &r);
    char *sub = pathf("%s/blobs", root);
    cr_expect_eq(iw_ollama_resolve(&r, sub, &m), IW_ENOTFOUND);
    cr_expect(strstr(iw_error_last(), "manifests"), "%s", iw_error_last());
    free(sub);
    cr_expect_eq(iw_ollama_resolve(&r, "/nonexistent/store", &m), IW_ENOTFOUND);
    cr_expect(one_line(iw_error_last()));
}

Test(ollama_store, missing_blob, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    char d[80];
    snprintf(d, sizeof d, "sha256:%064d", 7);
    broken_manifest("noblob", d, NULL);
    iw_ollama_manifest m;
    cr_expect_eq(resolve("tiny:noblob", &m), IW_ENOTFOUND);
    cr_expect(one_line(iw_error_last()));
    cr_expect(strstr(iw_error_last(), "sha256-0000") && strstr(iw_error_last(), "missing blob"),
              "%s", iw_error_last());
    /* a missing optional blob (template) is only a warning */
    char model[80], extra[200];
    snprintf(model, sizeof model, "sha256:%s", st.model);
    snprintf(extra, sizeof extra, "{\"mediaType\":\"application/vnd.ollama.image.template\",\"digest\":\"%s\"}", d);
    broken_manifest("notemplate", model, extra);
    cr_assert_eq(resolve("tiny:notemplate", &m), 0, "%s", iw_error_last());
    cr_expect_eq(m.warnings.n, 1);
    cr_expect(strstr(m.warnings.v[0], "template"), "%s", m.warnings.v[0]);
    iw_ollama_manifest_free(&m);
}

Test(ollama_store, bad_digests, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    char upper[80];
    snprintf(upper, sizeof upper, "sha256:%s", st.model);
    for (char *c = upper + 7; *c; c++)
        if (*c >= 'a' && *c <= 'f') { *c = (char)(*c - 32); break; }
    char shortd[80];
    snprintf(shortd, sizeof shortd, "sha256:%.63s", st.model);
    char sha512[200];
    snprintf(sha512, sizeof sha512, "sha512:%s%s", st.model, st.model);
    char dash[80];
    snprintf(dash, sizeof dash, "sha256-%s", st.model);
    const char *bad[] = { "sha256:../../../etc/passwd", "sha256:../manifests/x", upper, shortd, sha512, dash,
                          "", "sha256:" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        broken_manifest("bad", bad[i], NULL);
        iw_ollama_manifest m;
        iw_error_clear();
        cr_expect_eq(resolve("tiny:bad", &m), IW_EFORMAT, "accepted digest '%s'", bad[i]);
        cr_expect(one_line(iw_error_last()));
        cr_expect(strstr(iw_error_last(), "digest"), "%s", iw_error_last());
        cr_expect_eq(m.layers, NULL);
    }
    /* digest not a string / layers not an array / not JSON */
    put_manifest("registry.ollama.ai/library/tiny/bad", "{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":5}]}");
    iw_ollama_manifest m;
    cr_expect_eq(resolve("tiny:bad", &m), IW_EFORMAT);
    put_manifest("registry.ollama.ai/library/tiny/bad", "{\"layers\":{}}");
    cr_expect_eq(resolve("tiny:bad", &m), IW_EFORMAT);
    put_manifest("registry.ollama.ai/library/tiny/bad", "{\"layers\":[]}");
    cr_expect_eq(resolve("tiny:bad", &m), IW_EFORMAT);
    cr_expect(strstr(iw_error_last(), "image.model"), "%s", iw_error_last());
    put_manifest("registry.ollama.ai/library/tiny/bad", "{\"layers\":[");
    cr_expect_eq(resolve("tiny:bad", &m), IW_EFORMAT);
    cr_expect(one_line(iw_error_last()));
    put_manifest("registry.ollama.ai/library/tiny/bad", "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 3\n");
    cr_expect_lt(resolve("tiny:bad", &m), 0);
}

Test(ollama_store, outside_the_store, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    /* a blob that is a symlink to a file outside the store */
    char *outside = pathf("%s/outside.gguf", root);
    size_t len;
    unsigned char *g = model_gguf(&len, 8192);
    cr_assert_eq(iwt_write(outside, g, len), 0);
    char hex[65];
    cr_assert_eq(iw_sha256_hex("x", 1, hex), 0);
    char *store_root = pathf("%s/store", root);
    /* move the fixture into root/store so "outside" really is outside */
    char *old = pathf("%s/blobs", root), *nw = pathf("%s/store/blobs", root);
    char *oldm = pathf("%s/manifests", root), *nwm = pathf("%s/store/manifests", root);
    cr_assert_eq(mkdir(store_root, 0700), 0);
    cr_assert_eq(rename(old, nw), 0);
    cr_assert_eq(rename(oldm, nwm), 0);
    char *link = pathf("%s/blobs/sha256-%s", store_root, hex);
    cr_assert_eq(symlink(outside, link), 0);
    char d[80];
    snprintf(d, sizeof d, "sha256:%s", hex);
    char *m = pathf("{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"%s\"}]}", d);
    char *mp = pathf("%s/manifests/registry.ollama.ai/library/tiny/symlink", store_root);
    cr_assert_eq(iwt_write(mp, m, strlen(m)), 0);
    iw_ollama_ref r;
    iw_ollama_manifest man;
    cr_assert_eq(iw_ollama_parse_ref("tiny:symlink", &r), 0);
    cr_expect_eq(iw_ollama_resolve(&r, store_root, &man), IW_EUNSAFE);
    cr_expect(one_line(iw_error_last()));
    cr_expect(strstr(iw_error_last(), "outside"), "%s", iw_error_last());

    /* a symlink that stays inside blobs/ is fine */
    unlink(link);
    char *target = pathf("%s/blobs/sha256-%s", store_root, st.model);
    cr_assert_eq(symlink(target, link), 0);
    cr_expect_eq(iw_ollama_resolve(&r, store_root, &man), 0, "%s", iw_error_last());
    iw_ollama_manifest_free(&man);

    /* a manifest that is a symlink out of manifests/ */
    char *evil = pathf("%s/evil.json", root);
    cr_assert_eq(iwt_write(evil, m, strlen(m)), 0);
    char *ml = pathf("%s/manifests/registry.ollama.ai/library/tiny/evil", store_root);
    cr_assert_eq(symlink(evil, ml), 0);
    cr_assert_eq(iw_ollama_parse_ref("tiny:evil", &r), 0);
    cr_expect_eq(iw_ollama_resolve(&r, store_root, &man), IW_EUNSAFE);
    cr_expect(one_line(iw_error_last()));

    free(g); free(outside); free(store_root); free(old); free(nw); free(oldm); free(nwm);
    free(link); free(m); free(mp); free(target); free(evil); free(ml);
}

Test(ollama_store, unknown_media_type_warns, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    char model[80], extra[300];
    snprintf(model, sizeof model, "sha256:%s", st.model);
    snprintf(extra, sizeof extra,
             "{\"mediaType\":\"application/vnd.ollama.image.future-thing\",\"digest\":\"sha256:%s\"},"
             "{\"mediaType\":\"text/plain\",\"digest\":\"sha256:%s\"}", st.tmpl, st.tmpl);
    broken_manifest("unknown", model, extra);
    iw_ollama_manifest m;
    cr_assert_eq(resolve("tiny:unknown", &m), 0, "%s", iw_error_last());
    cr_expect_eq(m.n_layers, 3);
    cr_assert_eq(m.warnings.n, 2);
    cr_expect(strstr(m.warnings.v[0], "future-thing"), "%s", m.warnings.v[0]);
    cr_expect(strstr(m.warnings.v[1], "text/plain"), "%s", m.warnings.v[1]);
    cr_expect_eq(m.layers[1].kind, IW_OLLAMA_LAYER_UNKNOWN);
    iw_ollama_manifest_free(&m);
}

Test(ollama_store, manifest_cap, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    size_t n = IW_OLLAMA_MAX_MANIFEST + 10;
    char *big = malloc(n + 1);
    cr_assert(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = 0;
    put_manifest("registry.ollama.ai/library/tiny/big", big);
    free(big);
    iw_ollama_manifest m;
    cr_expect_eq(resolve("tiny:big", &m), IW_ELIMIT);
    cr_expect(one_line(iw_error_last()));
}

Test(ollama_store, verify_blob, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    char *p = pathf("%s/blobs/sha256-%s", root, st.params);
    cr_expect_eq(iw_ollama_verify_blob(p, st.params), 0, "%s", iw_error_last());
    const char *tampered = "{\"num_ctx\": 999999}";
    cr_assert_eq(iwt_write(p, tampered, strlen(tampered)), 0);
    cr_expect_eq(iw_ollama_verify_blob(p, st.params), IW_EVERIFY);
    cr_expect(one_line(iw_error_last()));
    cr_expect(strstr(iw_error_last(), st.params), "%s", iw_error_last());
    cr_expect_lt(iw_ollama_verify_blob("/nonexistent/blob", st.params), 0);
    free(p);
}

/* ---- extraction --------------------------------------------------------- */

static bool has_prefix_entry(const iw_strlist *l, const char *prefix)
{
    for (size_t i = 0; i < l->n; i++)
        if (strncmp(l->v[i], prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

static bool any_contains(const iw_strlist *l, const char *needle)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->v[i], needle))
            return true;
    return false;
}

Test(ollama_extract, text_model, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    const char *refs[] = { "ollama://tiny:latest", "ollama:/tiny:latest", "ollama:tiny:latest", "tiny" };
    for (size_t i = 0; i < 4; i++) {
        iw_arch a;
        iw_arch_init(&a);
        cr_assert_eq(iw_ollama_extract(refs[i], root, &a), 0, "%s: %s", refs[i], iw_error_last());
        cr_expect_str_eq(a.source, "ollama-store");
        cr_assert(a.model_type);
        cr_expect_str_eq(a.model_type, "llama");
        cr_expect_eq(a.num_layers, 2);
        cr_expect_eq(a.hidden_size, 256);
        cr_expect_eq(a.intermediate_size, 512);
        cr_expect_eq(a.num_attention_heads, 4);
        cr_expect_eq(a.num_kv_heads, 2);
        cr_expect_eq(a.context_length, 8192, "context_length must stay the trained context");
        cr_expect_eq(a.vocab_size, 8);
        cr_expect_eq(a.ollama_num_ctx, 4096);
        cr_expect(iw_arch_get_source(&a, "ollama.num_ctx") &&
                  strncmp(iw_arch_get_source(&a, "ollama.num_ctx"), "ollama-params:", 14) == 0);
        /* the whole params blob is kept verbatim, not only num_ctx */
        cr_assert(a.ollama_params_json);
        cr_expect_str_eq(a.ollama_params_json, "{\"num_ctx\":4096,\"stop\":[\"<|eot_id|>\"],\"temperature\":0.6}");
        /* Ollama's KV cache is f16 by default: 2 layers x 2 KV heads x 64 x (K+V) x 2 bytes */
        cr_expect_str_eq(a.kv_precision, "fp16");
        cr_expect_eq(a.kv_bytes_per_token, 2 * 2 * 64 * 2 * 2);
        cr_expect_eq(a.parameters.total, 256 * 8 + 256 + 256 * 256 + 256);
        cr_expect_eq(a.weights_bytes, 1152 + 1024 + 36864 + 1024);
        cr_expect(!a.has_vision);
        cr_expect(iw_strlist_contains(&a.sources, "ollama:tiny:latest"));
        char *gp = pathf("gguf:%s", "");
        cr_expect(has_prefix_entry(&a.sources, gp) && any_contains(&a.sources, st.model));
        free(gp);
        cr_expect(has_prefix_entry(&a.sources, "ollama-params:"));
        cr_expect(a.collected_at);
        for (size_t w = 0; w < a.warnings.n; w++)
            cr_expect(0, "unexpected warning: %s", a.warnings.v[w]);
        iw_arch_free(&a);
    }
}

Test(ollama_extract, vision_projector, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_extract("ollama:hf.co/bartowski/Tiny-GGUF:Q4_K_M", root, &a), 0, "%s", iw_error_last());
    cr_expect_str_eq(a.source, "ollama-store");
    cr_expect_eq(a.num_layers, 2);
    cr_expect(a.has_vision);
    cr_expect_eq(a.vision.image_size, 336);
    cr_expect_eq(a.vision.patch_size, 14);
    cr_expect_eq(a.vision.hidden_size, 64);
    cr_expect_eq(a.vision.num_layers, 3);
    cr_expect_eq(a.vision.num_heads, 2);
    cr_expect_eq(a.vision.projection_dim, 256);
    cr_expect_eq(a.vision.params, 64 * 4 + 64 * 256);
    cr_expect(iw_strlist_contains(&a.sources, "ollama:hf.co/bartowski/Tiny-GGUF:Q4_K_M"));
    cr_expect(any_contains(&a.sources, st.proj));
    iw_arch_free(&a);
}

static void manifest_with(const char *tag, const char *model_hex, const char *extra)
{
    char d[80];
    snprintf(d, sizeof d, "sha256:%s", model_hex);
    broken_manifest(tag, d, extra);
}

Test(ollama_extract, params_oddities, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    /* num_ctx above the trained context: recorded, with a warning */
    const char *big = "{\"num_ctx\": 100000}";
    char hex[65], extra[200];
    put_blob(big, strlen(big), hex);
    snprintf(extra, sizeof extra, "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"sha256:%s\"}", hex);
    manifest_with("bigctx", st.model, extra);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_extract("tiny:bigctx", root, &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.ollama_num_ctx, 100000);
    cr_expect_eq(a.context_length, 8192);
    cr_expect(any_contains(&a.warnings, "num_ctx 100000 exceeds"));
    iw_arch_free(&a);

    /* malformed params: a warning, the architecture is still read */
    const char *bad = "{\"num_ctx\": ";
    put_blob(bad, strlen(bad), hex);
    snprintf(extra, sizeof extra, "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"sha256:%s\"}", hex);
    manifest_with("badparams", st.model, extra);
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_extract("tiny:badparams", root, &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.ollama_num_ctx, 0);
    cr_expect_eq(a.num_layers, 2);
    cr_expect(any_contains(&a.warnings, "params ignored"));
    cr_expect_str_eq(iw_error_last(), "");
    iw_arch_free(&a);

    const char *neg = "{\"num_ctx\": -5}";
    put_blob(neg, strlen(neg), hex);
    snprintf(extra, sizeof extra, "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"sha256:%s\"}", hex);
    manifest_with("negparams", st.model, extra);
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_extract("tiny:negparams", root, &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.ollama_num_ctx, 0);
    cr_expect(any_contains(&a.warnings, "num_ctx is not a positive integer"));
    iw_arch_free(&a);
}

Test(ollama_extract, bad_blobs, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    /* a model layer that is not GGUF */
    manifest_with("notgguf", st.params, NULL);
    iw_arch a;
    iw_arch_init(&a);
    cr_expect_lt(iw_ollama_extract("tiny:notgguf", root, &a), 0);
    cr_expect(one_line(iw_error_last()));
    cr_expect(strstr(iw_error_last(), "tiny:notgguf") && strstr(iw_error_last(), st.params),
              "%s", iw_error_last());
    iw_arch_free(&a);

    /* a truncated GGUF */
    size_t len;
    unsigned char *g = model_gguf(&len, 8192);
    char hex[65];
    put_blob(g, 100, hex);
    free(g);
    manifest_with("truncated", hex, NULL);
    iw_arch_init(&a);
    cr_expect_lt(iw_ollama_extract("tiny:truncated", root, &a), 0);
    cr_expect(one_line(iw_error_last()));
    iw_arch_free(&a);

    /* a projector that is not a projector: warning, text model still read */
    char extra[200];
    snprintf(extra, sizeof extra, "{\"mediaType\":\"application/vnd.ollama.image.projector\",\"digest\":\"sha256:%s\"}", st.model);
    manifest_with("oddproj", st.model, extra);
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_extract("tiny:oddproj", root, &a), 0, "%s", iw_error_last());
    cr_expect(any_contains(&a.warnings, "clip.vision"));
    cr_expect(a.has_vision);
    cr_expect_eq(a.num_layers, 2);
    iw_arch_free(&a);

    /* errors from resolution surface unchanged */
    iw_arch_init(&a);
    cr_expect_eq(iw_ollama_extract("ollama:/missing:latest", root, &a), IW_ENOTFOUND);
    cr_expect(strstr(iw_error_last(), "ollama pull"), "%s", iw_error_last());
    cr_expect_eq(iw_ollama_extract("ollama:../x", root, &a), IW_EINVAL);
    cr_expect_eq(iw_ollama_extract(NULL, root, &a), IW_EINVAL);
    iw_arch_free(&a);
}

Test(ollama_extract, unknown_media_type_is_a_warning, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    char extra[200];
    snprintf(extra, sizeof extra, "{\"mediaType\":\"application/x-new\",\"digest\":\"sha256:%s\"}", st.tmpl);
    manifest_with("newlayer", st.model, extra);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_extract("tiny:newlayer", root, &a), 0, "%s", iw_error_last());
    cr_expect(any_contains(&a.warnings, "application/x-new"));
    iw_arch_free(&a);
}

/* ---- /api/show answers (pure mapping; HTTP is tested in tests/downloader) */

static char *fixture_text(const char *rel, size_t *len)
{
    char *t = iwt_slurp(iwt_fixture(rel), len);
    cr_assert(t, "fixture %s missing", rel);
    return t;
}

Test(ollama_show, llama_model_info)
{
    size_t len;
    char *t = fixture_text("ollama/show_llama.json", &len);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_show_to_arch(t, len, "http://127.0.0.1:11434/api/show", &a), 0, "%s", iw_error_last());
    cr_expect_str_eq(a.source, "ollama-api");
    cr_expect_str_eq(a.model_type, "llama");
    cr_expect_eq(a.num_layers, 28);
    cr_expect_eq(a.num_attention_heads, 24);
    cr_expect_eq(a.num_kv_heads, 8);
    cr_expect_eq(a.hidden_size, 3072);
    cr_expect_eq(a.intermediate_size, 8192);
    cr_expect_eq(a.head_dim, 128);
    cr_expect_eq(a.context_length, 131072);
    cr_expect_eq(a.vocab_size, 128256);
    cr_expect(fabs(a.rope_theta - 500000.0) < 1e-6, "rope_theta %g", a.rope_theta);
    cr_expect_eq(a.parameters.total, 3212749888LL);
    cr_expect_str_eq(iw_arch_get_source(&a, "parameters"), "ollama-api:general.parameter_count");
    cr_assert(a.quantization.label);
    cr_expect_str_eq(a.quantization.label, "Q4_K_M");
    cr_expect_eq(a.ollama_num_ctx, 4096);
    cr_expect_str_eq(iw_arch_get_source(&a, "ollama.num_ctx"), "ollama-api:parameters");
    /* the parameters text becomes an object shaped like the params blob */
    cr_assert(a.ollama_params_json);
    cr_expect_str_eq(a.ollama_params_json,
                     "{\"num_ctx\":4096,\"stop\":[\"<|start_header_id|>\",\"<|end_header_id|>\",\"<|eot_id|>\"]}");
    cr_expect_str_eq(a.kv_precision, "fp16");
    cr_expect_eq(a.kv_bytes_per_token, 28 * 8 * 128 * 2 * 2);
    cr_expect(!a.has_vision);
    cr_expect_eq(a.weights_bytes, IW_UNKNOWN);
    for (size_t w = 0; w < a.warnings.n; w++)
        cr_expect(0, "unexpected warning: %s", a.warnings.v[w]);
    iw_arch_free(&a);
    free(t);
}

Test(ollama_show, vision_projector_info)
{
    size_t len;
    char *t = fixture_text("ollama/show_vision.json", &len);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_show_to_arch(t, len, NULL, &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.num_layers, 32);
    cr_expect_eq(a.context_length, 4096);
    cr_expect_eq(a.ollama_num_ctx, 8192);
    cr_expect(any_contains(&a.warnings, "num_ctx 8192 exceeds"));
    cr_expect(a.has_vision);
    cr_expect_eq(a.vision.image_size, 336);
    cr_expect_eq(a.vision.patch_size, 14);
    cr_expect_eq(a.vision.num_layers, 23);
    cr_expect_eq(a.vision.hidden_size, 1024);
    cr_expect_eq(a.vision.num_heads, 16);
    cr_expect_eq(a.vision.intermediate_size, 4096);
    cr_expect_eq(a.vision.projection_dim, 768);
    cr_assert(a.vision.model_type);
    cr_expect_str_eq(a.vision.model_type, "mlp");
    cr_expect_str_eq(a.quantization.label, "Q4_0");
    iw_arch_free(&a);
    free(t);
}

Test(ollama_show, tensors_give_exact_counts)
{
    const char *j =
        "{\"model_info\":{\"general.architecture\":\"llama\",\"general.file_type\":15,"
        "\"general.parameter_count\":1,"
        "\"llama.block_count\":1,\"llama.embedding_length\":256,\"llama.attention.head_count\":4,"
        "\"llama.attention.head_count_kv\":[2],\"llama.context_length\":2048},"
        "\"tensors\":[{\"name\":\"token_embd.weight\",\"type\":\"Q4_K\",\"shape\":[256,8]},"
        "{\"name\":\"blk.0.attn_q.weight\",\"type\":\"Q4_K\",\"shape\":[256,256]},"
        "{\"name\":\"output_norm.weight\",\"type\":\"F32\",\"shape\":[256]}]}";
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_show_to_arch(j, strlen(j), NULL, &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.parameters.total, 256 * 8 + 256 * 256 + 256);
    cr_expect_str_eq(iw_arch_get_source(&a, "parameters"), "gguf");
    cr_expect_eq(a.weights_bytes, 1152 + 36864 + 1024);
    cr_expect_eq(a.num_kv_heads, 2);
    cr_expect_str_eq(a.quantization.label, "Q4_K_M");
    iw_arch_free(&a);

    /* a tensor type the reader does not know: the list is dropped with a warning */
    const char *k =
        "{\"model_info\":{\"general.architecture\":\"llama\",\"general.parameter_count\":12345,"
        "\"llama.block_count\":1},"
        "\"tensors\":[{\"name\":\"a\",\"type\":\"Q9_Z\",\"shape\":[256]}]}";
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_show_to_arch(k, strlen(k), NULL, &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.parameters.total, 12345);
    cr_expect(any_contains(&a.warnings, "does not know"));
    iw_arch_free(&a);
}

Test(ollama_show, refused)
{
    const char *bad[] = {
        "", "not json", "[]", "{}", "{\"model_info\":{}}", "{\"model_info\":[1]}",
        "{\"model_info\":{\"general.architecture\":\"llama\"", "{\"error\":\"model 'x' not found\"}",
        "{\"model_info\":{\"general.architecture\":5}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        iw_arch a;
        iw_arch_init(&a);
        iw_error_clear();
        cr_expect_lt(iw_ollama_show_to_arch(bad[i], strlen(bad[i]), "fixture", &a), 0, "accepted '%s'", bad[i]);
        cr_expect(one_line(iw_error_last()), "'%s': %s", bad[i], iw_error_last());
        iw_arch_free(&a);
    }
    /* odd values are skipped with a warning, never fatal */
    const char *odd = "{\"model_info\":{\"general.architecture\":\"llama\",\"llama.block_count\":3,"
                      "\"x.obj\":{\"a\":1},\"x.mixed\":[1,\"a\"],\"x.nested\":[[1]],\"x.null\":null,"
                      "\"x.empty\":[],\"x.neg\":-3,\"x.big\":18446744073709551615,\"x.f\":[0.5,1]},"
                      "\"parameters\":\"num_ctx -1\"}";
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_show_to_arch(odd, strlen(odd), "fixture", &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.num_layers, 3);
    cr_expect(any_contains(&a.warnings, "3 model_info value(s)"), "warnings: %zu %s", a.warnings.n,
              a.warnings.n ? a.warnings.v[0] : "");
    cr_expect(any_contains(&a.warnings, "num_ctx is not a positive integer"));
    cr_expect_eq(a.ollama_num_ctx, 0);
    iw_arch_free(&a);
}

Test(ollama_show, vision_capability_without_projector_info)
{
    const char *j = "{\"model_info\":{\"general.architecture\":\"gemma3\",\"gemma3.block_count\":4},"
                    "\"capabilities\":[\"completion\",\"vision\"]}";
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_show_to_arch(j, strlen(j), NULL, &a), 0, "%s", iw_error_last());
    cr_expect(a.has_vision);
    cr_expect_str_eq(iw_arch_get_source(&a, "has_vision"), "ollama-api:capabilities");
    cr_expect_eq(a.num_layers, 4);
    iw_arch_free(&a);
}

/* ---- listing and verifying a store (scan / verify) ---------------------- */

Test(ollama_store, list_models, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    cr_expect(iw_ollama_is_store(root));
    char *blobs = pathf("%s/blobs", root);
    cr_expect(!iw_ollama_is_store(blobs));
    free(blobs);
    /* junk the walk must skip */
    put_manifest("registry.ollama.ai/library/tiny/.hidden", "{}");
    put_manifest("registry.ollama.ai/library/bad name/latest", "{}");
    put_manifest("registry.ollama.ai/stray-file", "{}");
    iw_strlist l = { 0 };
    size_t skipped = 0;
    cr_assert_eq(iw_ollama_store_list(root, &l, &skipped), 0, "%s", iw_error_last());
    const char *want[] = { "hf.co/bartowski/Tiny-GGUF:Q4_K_M", "someone/tiny:q4", "tiny-vl:latest", "tiny:latest" };
    cr_assert_eq(l.n, 4, "got %zu", l.n);
    for (size_t i = 0; i < 4; i++)
        cr_expect_str_eq(l.v[i], want[i]);
    cr_expect_eq(skipped, 2);
    /* every listed reference extracts */
    for (size_t i = 0; i < l.n; i++) {
        iw_arch a;
        iw_arch_init(&a);
        cr_expect_eq(iw_ollama_extract(l.v[i], root, &a), 0, "%s: %s", l.v[i], iw_error_last());
        iw_arch_free(&a);
    }
    iw_strlist_free(&l);
    cr_expect_eq(iw_ollama_store_list("/nonexistent/x", &l, NULL), IW_ENOTFOUND);
    cr_expect(one_line(iw_error_last()));
}

Test(ollama_store, verify_model, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    cr_expect_eq(iw_ollama_verify_model("ollama:tiny-vl:latest", root), 0, "%s", iw_error_last());
    /* flip one byte of the projector */
    char *p = pathf("%s/blobs/sha256-%s", root, st.proj);
    size_t len;
    char *b = iwt_slurp(p, &len);
    cr_assert(b && len > 10);
    b[len - 1] ^= 1;
    cr_assert_eq(iwt_write(p, b, len), 0);
    cr_expect_eq(iw_ollama_verify_model("ollama:tiny-vl:latest", root), IW_EVERIFY);
    cr_expect(strstr(iw_error_last(), st.proj), "%s", iw_error_last());
    cr_expect_eq(iw_ollama_verify_model("ollama:tiny:latest", root), 0, "%s", iw_error_last());
    free(b);
    free(p);
}

/* ---- a real GGUF served from a store: same record as reading the file ---- */

#include "iwdl/gguf.h"

Test(ollama_corpus, real_gguf_matches_file_path, .init = setup, .fini = teardown)
{
    const char *corpus = iwt_corpus_dir();
    if (!corpus)
        cr_skip_test("corpus absent: ../shared/corpus");
    char *src = pathf("%s/gguf/stories260K.gguf", corpus);
    size_t len;
    char *g = iwt_slurp(src, &len);
    if (!g) {
        free(src);
        cr_skip_test("corpus file absent: gguf/stories260K.gguf");
    }
    /* the copy lives in the test's tmpdir only */
    char hex[65];
    put_blob(g, len, hex);
    free(g);
    char *m = pathf("{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\","
                    "\"digest\":\"sha256:%s\",\"size\":%zu}]}", hex, len);
    put_manifest("registry.ollama.ai/library/stories/260k", m);
    free(m);

    iw_arch fa, oa;
    iw_arch_init(&fa);
    iw_arch_init(&oa);
    cr_assert_eq(iw_gguf_extract_path(src, &fa), 0, "%s", iw_error_last());
    cr_assert_eq(iw_ollama_extract("ollama:/stories:260k", root, &oa), 0, "%s", iw_error_last());
    cr_expect_str_eq(oa.source, "ollama-store");
    cr_assert(fa.model_type && oa.model_type);
    cr_expect_str_eq(oa.model_type, fa.model_type);
    cr_expect_eq(oa.num_layers, fa.num_layers);
    cr_expect_gt(oa.num_layers, 0);
    cr_expect_eq(oa.hidden_size, fa.hidden_size);
    cr_expect_eq(oa.num_attention_heads, fa.num_attention_heads);
    cr_expect_eq(oa.num_kv_heads, fa.num_kv_heads);
    cr_expect_eq(oa.vocab_size, fa.vocab_size);
    cr_expect_eq(oa.context_length, fa.context_length);
    cr_expect_eq(oa.parameters.total, fa.parameters.total);
    cr_expect_gt(oa.parameters.total, 0);
    cr_expect_eq(oa.weights_bytes, fa.weights_bytes);
    cr_expect_eq(oa.warnings.n, fa.warnings.n);
    cr_expect_eq(iw_ollama_verify_model("stories:260k", root), 0, "%s", iw_error_last());
    iw_arch_free(&fa);
    iw_arch_free(&oa);
    free(src);
}

/* ---- robustness: mutated inputs never crash and fail with one line ------ */

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

Test(ollama_show, mutated_answers)
{
    size_t len;
    char *t = fixture_text("ollama/show_vision.json", &len);
    static const char alphabet[] = "{}[]\",:0123456789-.eE truefalsnul\\";
    size_t ok = 0, failed = 0;
    for (int iter = 0; iter < 400; iter++) {
        char *m = malloc(len + 1);
        cr_assert(m);
        memcpy(m, t, len + 1);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++)
            m[rnd() % len] = alphabet[rnd() % (sizeof alphabet - 1)];
        size_t mlen = iter % 5 == 0 ? rnd() % len : len;   /* sometimes truncated */
        iw_arch a;
        iw_arch_init(&a);
        iw_error_clear();
        int rc = iw_ollama_show_to_arch(m, mlen, "mutant", &a);
        if (rc == 0) {
            ok++;
        } else {
            failed++;
            cr_expect(one_line(iw_error_last()), "iteration %d: rc %d without a one-line error", iter, rc);
        }
        iw_arch_free(&a);
        free(m);
    }
    cr_expect_gt(ok, 0);
    cr_expect_gt(failed, 0);
    free(t);
}

Test(ollama_store, mutated_manifests, .init = setup, .fini = teardown)
{
    store st;
    build_store(&st);
    char *mp = pathf("%s/manifests/registry.ollama.ai/library/tiny-vl/latest", root);
    size_t len;
    char *orig = iwt_slurp(mp, &len);
    cr_assert(orig);
    static const char alphabet[] = "{}[]\",:0123456789abcdef./-";
    size_t ok = 0, failed = 0;
    for (int iter = 0; iter < 200; iter++) {
        char *m = malloc(len + 1);
        cr_assert(m);
        memcpy(m, orig, len + 1);
        int flips = 1 + (int)(rnd() % 3);
        for (int f = 0; f < flips; f++)
            m[rnd() % len] = alphabet[rnd() % (sizeof alphabet - 1)];
        cr_assert_eq(iwt_write(mp, m, iter % 7 == 0 ? rnd() % len : len), 0);
        iw_arch a;
        iw_arch_init(&a);
        iw_error_clear();
        int rc = iw_ollama_extract("tiny-vl", root, &a);
        if (rc == 0) {
            ok++;
            cr_expect_str_eq(a.source, "ollama-store");
        } else {
            failed++;
            cr_expect(one_line(iw_error_last()), "iteration %d: rc %d without a one-line error", iter, rc);
        }
        iw_arch_free(&a);
        free(m);
    }
    cr_expect_gt(failed, 0);
    free(orig);
    free(mp);
}

/* The /api/show parameters text becomes the params object: JSON values where
 * they read as JSON, raw text otherwise, repeated keys as arrays; lines that
 * are not "name value" are skipped with one warning. */
Test(ollama_show, parameters_text)
{
    size_t len;
    char *t = fixture_text("ollama/show_llama.json", &len);
    cJSON *doc = cJSON_Parse(t);
    cr_assert(doc);
    cJSON_ReplaceItemInObject(doc, "parameters",
        cJSON_CreateString("num_ctx 8192\r\n  temperature\t0.7\nmirostat_tau 5\nstop \"a\"\nstop b c\n"
                           "num_predict  -1\nseed 42\nuse_mmap true\n\n== not a key\nlonely\n"));
    char *txt = cJSON_PrintUnformatted(doc);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_show_to_arch(txt, strlen(txt), "show", &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.ollama_num_ctx, 8192);
    cr_assert(a.ollama_params_json);
    cr_expect_str_eq(a.ollama_params_json,
                     "{\"num_ctx\":8192,\"temperature\":0.7,\"mirostat_tau\":5,\"stop\":[\"a\",\"b c\"],"
                     "\"num_predict\":-1,\"seed\":42,\"use_mmap\":true}");
    cr_expect(any_contains(&a.warnings, "2 parameters lines not 'name value'"));
    iw_arch_free(&a);
    free(txt);

    /* num_ctx that is not a positive integer: a warning, nothing recorded for it */
    cJSON_ReplaceItemInObject(doc, "parameters", cJSON_CreateString("num_ctx 4096.5\n"));
    txt = cJSON_PrintUnformatted(doc);
    iw_arch_init(&a);
    cr_assert_eq(iw_ollama_show_to_arch(txt, strlen(txt), "show", &a), 0, "%s", iw_error_last());
    cr_expect_eq(a.ollama_num_ctx, 0);
    cr_expect(any_contains(&a.warnings, "num_ctx is not a positive integer"));
    iw_arch_free(&a);
    free(txt);
    cJSON_Delete(doc);
    free(t);
}
