/* test_gguf_corpus.c - every GGUF in ../shared/corpus/gguf against the values
 * recorded in GGUF_INDEX.json (read in place, never copied). */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/gguf.h"
#include "iwtest.h"

static cJSON *load_index(char *dir, size_t n)
{
    const char *c = iwt_corpus_dir();
    if (!c)
        return NULL;
    snprintf(dir, n, "%s/gguf", c);
    char p[4096];
    snprintf(p, sizeof p, "%s/GGUF_INDEX.json", dir);
    size_t len;
    char *txt = iwt_slurp(p, &len);
    if (!txt)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(txt, len);
    free(txt);
    return j;
}

/* Compare one recorded hparam with the parsed value. */
static void check_value(const iw_gguf *g, const char *file, const cJSON *item)
{
    const char *key = item->string;
    long idx = iw_gguf_find_key(g, key);
    cr_assert(idx >= 0, "%s: key %s missing", file, key);
    iw_gguf_type t = iw_gguf_kv_type(g, (size_t)idx);
    if (cJSON_IsString(item)) {
        const char *s;
        cr_assert_eq(iw_gguf_kv_str(g, (size_t)idx, &s, NULL), 0, "%s: %s", file, iw_error_last());
        cr_assert_str_eq(s, item->valuestring, "%s: %s", file, key);
    } else if (cJSON_IsBool(item)) {
        int64_t v;
        cr_assert_eq(t, IW_GGUF_BOOL, "%s: %s type %d", file, key, t);
        cr_assert_eq(iw_gguf_kv_int(g, (size_t)idx, &v), 0);
        cr_assert_eq(v != 0, cJSON_IsTrue(item), "%s: %s", file, key);
    } else if (cJSON_IsNumber(item)) {
        double d;
        cr_assert_eq(iw_gguf_kv_float(g, (size_t)idx, &d), 0, "%s: %s: %s", file, key, iw_error_last());
        cr_assert(fabs(d - item->valuedouble) <= 1e-9 * fabs(item->valuedouble) + 1e-30,
                  "%s: %s = %.17g, index says %.17g", file, key, d, item->valuedouble);
    }
}

Test(gguf_corpus, every_file_matches_index)
{
    char dir[4096];
    cJSON *idx = load_index(dir, sizeof dir);
    if (!idx)
        cr_skip_test("corpus absent: ../shared/corpus/gguf/GGUF_INDEX.json");
    int checked = 0, rejected = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, idx) {
        const char *rel = cJSON_GetStringValue(cJSON_GetObjectItem(e, "file"));
        cr_assert(rel);
        /* index paths are "gguf/<origin>/<name>"; the corpus keeps the file names flat */
        const char *bn = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, bn);
        iw_gguf *g = NULL;
        int rc = iw_gguf_parse_file(&g, path, NULL);
        if (cJSON_GetObjectItem(e, "parse_error")) {
            /* test_writer__nonstandard_type13_OBJ: written by an experimental
             * writer on a llama.cpp side branch that used value type 13 for
             * nested objects; 13 is not a GGUF type (0..12), so the file is
             * genuinely invalid and must be refused naming the key and offset. */
            cr_assert_neq(rc, 0, "%s should be rejected", bn);
            cr_assert(strstr(iw_error_last(), "unknown value type 13"), "%s: %s", bn, iw_error_last());
            cr_assert(strstr(iw_error_last(), "offset"), "%s", iw_error_last());
            rejected++;
            continue;
        }
        cr_assert_eq(rc, 0, "%s: %s", bn, iw_error_last());
        cr_assert_eq(iw_gguf_version(g), (uint32_t)cJSON_GetObjectItem(e, "parsed_version")->valueint, "%s", bn);
        const char *endian = cJSON_GetStringValue(cJSON_GetObjectItem(e, "endian"));
        cr_assert_eq(iw_gguf_big_endian(g), strcmp(endian, "big") == 0, "%s", bn);
        cr_assert_eq(iw_gguf_tensor_count(g), (size_t)cJSON_GetObjectItem(e, "n_tensors")->valuedouble, "%s", bn);
        cr_assert_eq(iw_gguf_kv_count(g), (size_t)cJSON_GetObjectItem(e, "n_kv")->valuedouble, "%s", bn);
        const char *arch;
        cr_assert_eq(iw_gguf_get_str(g, "general.architecture", &arch, NULL), 0);
        cr_assert_str_eq(arch, cJSON_GetStringValue(cJSON_GetObjectItem(e, "general_architecture")));
        cJSON *item;
        cJSON_ArrayForEach(item, cJSON_GetObjectItem(e, "hparams"))
            check_value(g, bn, item);
        cJSON_ArrayForEach(item, cJSON_GetObjectItem(e, "tokenizer_kv")) {
            if (cJSON_IsString(item) && strncmp(item->valuestring, "<array type=", 12) == 0) {
                int et;
                unsigned long long n;
                cr_assert_eq(sscanf(item->valuestring, "<array type=%d n=%llu>", &et, &n), 2);
                iw_gguf_type t;
                uint64_t cnt;
                cr_assert_eq(iw_gguf_get_array(g, item->string, &t, &cnt), 0, "%s: %s", bn, item->string);
                cr_assert_eq((int)t, et, "%s: %s", bn, item->string);
                cr_assert_eq(cnt, (uint64_t)n, "%s: %s", bn, item->string);
            } else {
                check_value(g, bn, item);
            }
        }
        cJSON *ft;
        cJSON_ArrayForEach(ft, cJSON_GetObjectItem(e, "first_tensors")) {
            const char *name = cJSON_GetArrayItem(ft, 0)->valuestring;
            const iw_gguf_tensor *t = iw_gguf_tensor_find(g, name);
            cr_assert(t, "%s: tensor %s", bn, name);
            cJSON *shape = cJSON_GetArrayItem(ft, 1);
            cr_assert_eq(t->n_dims, (uint32_t)cJSON_GetArraySize(shape));
            for (int d = 0; d < cJSON_GetArraySize(shape); d++)
                cr_assert_eq(t->ne[d], (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble);
            cr_assert_eq(t->type, cJSON_GetArrayItem(ft, 2)->valueint);
            cr_assert_eq(t->offset, (uint64_t)cJSON_GetArrayItem(ft, 3)->valuedouble);
        }
        /* the whole token list is walkable */
        iw_gguf_type tt;
        uint64_t nt;
        if (iw_gguf_get_array(g, "tokenizer.ggml.tokens", &tt, &nt) == 0 && nt > 0) {
            const char *s;
            size_t l;
            cr_assert_eq(iw_gguf_array_str(g, "tokenizer.ggml.tokens", nt - 1, &s, &l), 0);
        }
        iw_gguf_free(g);
        checked++;
    }
    cr_assert_geq(checked, 15);
    cr_assert_eq(rejected, 1);
    cJSON_Delete(idx);
}

/* The early side-branch files: version 1 (u32 sizes), one with the "FUGG"
 * magic that an early writer produced by storing the magic as a u32. */
Test(gguf_corpus, v1_and_fugg_magic)
{
    const char *c = iwt_corpus_dir();
    if (!c)
        cr_skip_test("corpus absent");
    const char *names[] = { "ggml-vocab-llama__v1_2023-08-18_sidebranch.gguf",
                            "ggml-vocab-llama__v1_FUGG-magic_2023-08-17_sidebranch.gguf" };
    for (int i = 0; i < 2; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/gguf/%s", c, names[i]);
        iw_gguf *g = NULL;
        cr_assert_eq(iw_gguf_parse_file(&g, p, NULL), 0, "%s", iw_error_last());
        cr_assert_eq(iw_gguf_version(g), 1);
        cr_assert_not(iw_gguf_big_endian(g));
        uint64_t n;
        cr_assert_eq(iw_gguf_get_array(g, "tokenizer.ggml.tokens", NULL, &n), 0);
        cr_assert_eq(n, 32000);
        iw_gguf_free(g);
    }
}

/* stories260K (llama2.c TinyStories 260K): dim 64, hidden 172, 5 layers,
 * 8 heads / 4 KV heads (head dim 8), vocab 512, untied output:
 *   2 * 512*64 (embed + output) + 64 (final norm)
 *   + 5 * (64*64*2 + 64*32*2 + 3*64*172 + 2*64) = 292800 parameters, all F32. */
Test(gguf_corpus, stories260k_exact)
{
    const char *c = iwt_corpus_dir();
    if (!c)
        cr_skip_test("corpus absent");
    char p[4096];
    snprintf(p, sizeof p, "%s/gguf/stories260K.gguf", c);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_gguf_extract_path(p, &a), 0, "%s", iw_error_last());
    cr_assert_eq(a.parameters.total, 292800);
    cr_assert_str_eq(a.parameters.source, "gguf");
    cr_assert_eq(a.weights_bytes, 292800 * 4);
    cr_assert_eq(a.parameters.embedding, 512 * 64);
    cr_assert_eq(a.parameters.lm_head, 512 * 64);
    cr_assert_eq(a.num_layers, 5);
    cr_assert_eq(a.hidden_size, 64);
    cr_assert_eq(a.intermediate_size, 172);
    cr_assert_eq(a.num_attention_heads, 8);
    cr_assert_eq(a.num_kv_heads, 4);
    cr_assert_eq(a.head_dim, 8);
    cr_assert_eq(a.vocab_size, 512);
    cr_assert_eq(a.context_length, 2048);
    cr_assert_eq(a.attention.type, IW_ATTN_GQA);
    cr_assert_str_eq(a.model_type, "llama");
    cr_assert_str_eq(a.quantization.method, "gguf");
    cr_assert_str_eq(a.quantization.label, "F32");
    cr_assert_str_eq(a.quantization.detail, "F32 100%");
    cr_assert_not(a.tie_word_embeddings);
    cr_assert_str_eq(iw_arch_get_source(&a, "num_layers"), "gguf");
    iw_arch_free(&a);
}
