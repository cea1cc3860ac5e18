/* test_class_defaults.c - configs that rely on transformers' config-class
 * defaults (llava-hf text_config naming only vocab and context) get the
 * class's values, attributed "class-default:<Class>", with a warning; a key
 * the config sets, even to null, is never replaced; a real value from a
 * later config (support repo) wins over a class default. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwtest.h"

static iw_arch A;

static void setup(void) { iw_arch_init(&A); }
static void teardown(void) { iw_arch_free(&A); }

TestSuite(class_defaults, .init = setup, .fini = teardown);

static int parse(const char *json)
{
    return iw_config_parse(json, strlen(json), "config.json", &A);
}

static bool warned(const char *needle)
{
    for (size_t i = 0; i < A.warnings.n; i++)
        if (strstr(A.warnings.v[i], needle))
            return true;
    return false;
}

Test(class_defaults, llava_hf_text_config_gets_llama_config_defaults)
{
    iw_extract_opts o = {0};
    o.skip_headers = true;
    cr_assert_eq(iw_extract_path(iwt_fixture("models/llava-1.5-7b-hf"), &o, &A), 0, "%s", iw_error_last());
    /* LlamaConfig: 32 layers, 4096 wide, 32 heads, FFN 11008 */
    cr_expect_eq(A.num_layers, 32);
    cr_expect_eq(A.hidden_size, 4096);
    cr_expect_eq(A.num_attention_heads, 32);
    cr_expect_eq(A.intermediate_size, 11008);
    cr_expect_eq(A.head_dim, 128);
    cr_expect_eq(A.num_kv_heads, 32);
    /* what the file does say wins */
    cr_expect_eq(A.vocab_size, 32064);
    cr_expect_eq(A.context_length, 4096);
    cr_expect_str_eq(iw_arch_get_source(&A, "num_layers"), "class-default:LlamaConfig");
    cr_expect_str_eq(iw_arch_get_source(&A, "hidden_size"), "class-default:LlamaConfig");
    cr_expect_str_eq(iw_arch_get_source(&A, "vocab_size"), "config.json:text_config");
    cr_expect(warned("LlamaConfig defaults"), "no warning names the class");
    cr_expect(warned("num_layers"), "the warning does not list the fields");
    cr_expect(!warned("number of layers not found"));
    /* so the parameter formula and the KV size have every number they need */
    cr_expect_gt(A.parameters.total, 6700000000LL);
    cr_expect_eq(A.kv_bytes_per_token, 32 * 2 * 32 * 128 * 2);
}

Test(class_defaults, text_config_without_model_type_is_the_composites_default_class)
{
    /* LlavaConfig: text_config.model_type defaults to "llama" */
    cr_assert_eq(parse("{\"model_type\":\"llava\",\"text_config\":{\"vocab_size\":32064}}"), 0, "%s",
                 iw_error_last());
    cr_expect_eq(A.num_layers, 32);
    cr_expect_str_eq(iw_arch_get_source(&A, "num_layers"), "class-default:LlamaConfig");
}

Test(class_defaults, vision_config_gets_its_class_defaults)
{
    cr_assert_eq(parse("{\"model_type\":\"llava\",\"text_config\":{\"model_type\":\"llama\",\"num_hidden_layers\":2,"
                       "\"hidden_size\":64,\"num_attention_heads\":4},"
                       "\"vision_config\":{\"model_type\":\"siglip_vision_model\",\"hidden_size\":1152}}"), 0);
    cr_expect_eq(A.vision.hidden_size, 1152);
    cr_expect_eq(A.vision.patch_size, 16);
    cr_expect_eq(A.vision.num_layers, 12);
    cr_expect_str_eq(iw_arch_get_source(&A, "vision.patch_size"), "class-default:SiglipVisionConfig");
    cr_expect(warned("SiglipVisionConfig"));
    /* the text block is complete but for the FFN width and the context */
    cr_expect_eq(A.num_layers, 2);
    cr_expect_str_eq(iw_arch_get_source(&A, "num_layers"), "config.json:text_config");
    cr_expect_eq(A.intermediate_size, 11008);
}

Test(class_defaults, a_key_set_to_null_is_not_defaulted)
{
    /* Mistral-7B-v0.2 says "sliding_window": null; MistralConfig's 4096 must not come back */
    cr_assert_eq(parse("{\"model_type\":\"mistral\",\"hidden_size\":4096,\"num_hidden_layers\":32,"
                       "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"intermediate_size\":14336,"
                       "\"vocab_size\":32000,\"max_position_embeddings\":32768,\"sliding_window\":null}"), 0);
    cr_expect_lt(A.attention.sliding_window, 0);
    cr_expect_null(A.attention.layer_types);
    iw_arch_free(&A);
    /* omitted: the class's 4096 window on every layer, as transformers and vLLM read it */
    cr_assert_eq(parse("{\"model_type\":\"mistral\",\"hidden_size\":4096,\"num_hidden_layers\":32,"
                       "\"num_attention_heads\":32,\"vocab_size\":32000}"), 0);
    cr_expect_eq(A.attention.sliding_window, 4096);
    cr_expect_eq(A.num_kv_heads, 8);
    cr_expect_str_eq(iw_arch_get_source(&A, "num_kv_heads"), "class-default:MistralConfig");
}

Test(class_defaults, an_alias_the_config_uses_beats_the_class_key)
{
    /* t5 spells layers num_layers and width d_model: nothing is defaulted */
    cr_assert_eq(parse("{\"model_type\":\"t5\",\"d_model\":1024,\"d_kv\":64,\"d_ff\":2816,\"num_layers\":24,"
                       "\"num_heads\":16,\"vocab_size\":32128,\"is_encoder_decoder\":true}"), 0);
    cr_expect_eq(A.hidden_size, 1024);
    for (size_t i = 0; i < A.n_field_sources; i++)
        cr_expect(strncmp(A.field_sources[i].source, "class-default:", 14) != 0, "%s came from %s",
                  A.field_sources[i].field, A.field_sources[i].source);
    cr_expect(!warned("defaults ("));
}

Test(class_defaults, a_wrong_typed_key_is_not_replaced_by_the_default)
{
    cr_assert_eq(parse("{\"model_type\":\"llama\",\"num_hidden_layers\":\"32\",\"hidden_size\":64,"
                       "\"num_attention_heads\":4}"), 0);
    cr_expect_lt(A.num_layers, 0);
    cr_expect(warned("wrong type"));
}

Test(class_defaults, a_later_config_with_real_values_wins)
{
    cr_assert_eq(parse("{\"model_type\":\"llava\",\"text_config\":{\"model_type\":\"llama\",\"vocab_size\":32064}}"), 0);
    cr_expect_eq(A.num_layers, 32);
    const char *sup = "{\"model_type\":\"llama\",\"num_hidden_layers\":40,\"hidden_size\":5120,"
                      "\"num_attention_heads\":40,\"intermediate_size\":13824}";
    cr_assert_eq(iw_config_parse(sup, strlen(sup), "support_repo:x", &A), 0);
    cr_expect_eq(A.num_layers, 40);
    cr_expect_eq(A.hidden_size, 5120);
    cr_expect_str_eq(iw_arch_get_source(&A, "num_layers"), "support_repo:x");
}

/* Every real corpus config is complete: none gets a class default, and
 * llava-v1.5-7b (the original LLaVA layout, every key at the top) reads as before. */
Test(class_defaults, corpus_configs_take_nothing_from_class_defaults)
{
    const char *corpus = iwt_corpus_dir();
    if (!corpus)
        cr_skip_test("corpus absent: set IW_CORPUS_DIR or provide ../shared/corpus");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/configs", corpus);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        iw_arch a;
        iw_arch_init(&a);
        iw_extract_opts o = {0};
        o.skip_headers = true;
        if (iw_extract_path(path, &o, &a) == 0) {
            n++;
            for (size_t i = 0; i < a.n_field_sources; i++)
                cr_expect(strncmp(a.field_sources[i].source, "class-default:", 14) != 0, "%s: %s from %s",
                          e->d_name, a.field_sources[i].field, a.field_sources[i].source);
            if (!strcmp(e->d_name, "llava__llava-v1.5-7b")) {
                cr_expect_eq(a.num_layers, 32);
                cr_expect_eq(a.hidden_size, 4096);
                cr_expect_eq(a.intermediate_size, 11008);
                cr_expect_str_eq(iw_arch_get_source(&a, "num_layers"), "config.json");
            }
        }
        iw_arch_free(&a);
    }
    closedir(d);
    cr_expect_gt(n, 80);
}
