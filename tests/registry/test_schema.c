/* Schema: iw_arch <-> metadata.architecture JSON. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/schema.h"
#include "iwdl/arch.h"
#include "iwdl/json.h"

static void fill_full(iw_arch *a)
{
    iw_arch_init(a);
    iw_arch_set_str(&a->model_type, "deepseek_v3");
    iw_arch_set_str(&a->architecture, "DeepseekV3ForCausalLM");
    a->num_layers = 4; a->num_attention_heads = 16; a->num_kv_heads = 8;
    a->hidden_size = 2048; a->head_dim = 128; a->intermediate_size = 8192;
    a->vocab_size = 129280; a->max_position_embeddings = 163840; a->context_length = 163840;
    a->rope_theta = 10000.5;
    iw_arch_set_str(&a->rope_scaling_json, "{\"factor\":40,\"type\":\"yarn\"}");
    iw_arch_set_str(&a->torch_dtype, "bfloat16");
    iw_arch_set_str(&a->kv_precision, "bf16");
    a->tie_word_embeddings = true; a->is_encoder_decoder = true;
    a->encoder_layers = 2; a->decoder_layers = 2;
    iw_arch_set_str(&a->norm_type, "rmsnorm");
    iw_arch_set_str(&a->mlp_type, "moe");
    a->attention.type = IW_ATTN_MLA;
    a->attention.sliding_window = 4096; a->attention.sliding_window_pattern = 6;
    a->attention.chunk_size = 8192;
    a->attention.n_layer_types = 4;
    a->attention.layer_types = calloc(4, sizeof(iw_layer_kind));
    a->attention.layer_types[0] = IW_LAYER_FULL; a->attention.layer_types[1] = IW_LAYER_SLIDING;
    a->attention.layer_types[2] = IW_LAYER_MAMBA; a->attention.layer_types[3] = IW_LAYER_CROSS;
    a->attention.n_kv_heads_per_layer = 4;
    a->attention.kv_heads_per_layer = calloc(4, sizeof(int64_t));
    for (int i = 0; i < 4; i++) a->attention.kv_heads_per_layer[i] = 8 - i;
    a->attention.key_length = 192; a->attention.value_length = 128;
    a->attention.kv_lora_rank = 512; a->attention.q_lora_rank = 1536;
    a->attention.qk_rope_head_dim = 64; a->attention.qk_nope_head_dim = 128;
    a->attention.num_cross_layers = 1; a->attention.encoder_length = 1500;
    a->attention.num_kv_shared_layers = 0;
    a->moe.num_experts = 256; a->moe.experts_per_token = 8; a->moe.expert_intermediate_size = 2048;
    a->moe.shared_experts = 1; a->moe.shared_expert_intermediate_size = 2048;
    a->moe.num_dense_layers = 3; a->moe.moe_layer_freq = 1;
    a->ssm.d_state = 128; a->ssm.d_conv = 4; a->ssm.d_inner = 4096; a->ssm.n_groups = 8;
    a->ssm.n_heads = 64; a->ssm.head_dim = 64; a->ssm.num_recurrent_layers = 1;
    a->has_vision = true;
    a->vision.image_size = 896; a->vision.patch_size = 14; a->vision.hidden_size = 1152;
    a->vision.num_layers = 27; a->vision.num_heads = 16; a->vision.intermediate_size = 4304;
    a->vision.projection_dim = 2048; a->vision.params = 400000000;
    iw_arch_set_str(&a->vision.model_type, "siglip_vision_model");
    iw_arch_set_str(&a->quantization.method, "gptq");
    a->quantization.bits = 4; a->quantization.group_size = 128; a->quantization.effective_bits = 4.25;
    iw_arch_set_str(&a->quantization.format, "gptq");
    iw_arch_set_str(&a->quantization.label, "GPTQ-4bit-g128");
    iw_arch_set_str(&a->quantization.detail, "Q4_K 71%, Q6_K 24%, F32 5%");
    a->quantization.desc_act = true; a->quantization.sym = true;
    a->quantization.zero_point = true; a->quantization.double_quant = true;
    iw_strlist_push(&a->quantization.modules_not_converted, "lm_head");
    a->parameters.total = 20914757184LL; a->parameters.active = 3610000000LL;
    a->parameters.embedding = 1000000;
    iw_arch_set_str(&a->parameters.source, "safetensors");
    a->parameters.attention = 1; a->parameters.mlp = 2; a->parameters.experts = 3;
    a->parameters.norms = 4; a->parameters.lm_head = 5; a->parameters.vision = 6;
    a->weights_bytes = 13437642208LL; a->kv_bytes_per_token = 70272;
    a->kv_bytes_per_token_full = 60000; a->kv_bytes_per_token_swa = 10272;
    iw_arch_set_source(a, "num_layers", "config.json");
    iw_arch_set_source(a, "hidden_size", "config.json:text_config");
    iw_arch_set_str(&a->source, "safetensors");
    iw_strlist_push(&a->sources, "config:/m/config.json");
    iw_strlist_push(&a->sources, "runtime-log");
    iw_strlist_push(&a->warnings, "head_dim derived");
    iw_arch_set_str(&a->collected_at, "2025-11-06T22:32:45Z");
    iw_arch_set_str(&a->runtime_json, "{\"runtime_context_tokens\":4096,\"source\":{\"file\":\"m.jsonl\",\"line\":3}}");
}

Test(schema, round_trip_full_record)
{
    iw_arch a, b;
    fill_full(&a);
    cJSON *x = iw_arch_to_json(&a);
    cr_assert_not_null(x);
    iw_arch_init(&b);
    cr_assert_eq(iw_arch_from_json(x, &b), 0);
    cJSON *y = iw_arch_to_json(&b);
    cr_assert_not_null(y);
    char *sx = cJSON_PrintUnformatted(x), *sy = cJSON_PrintUnformatted(y);
    cr_assert_str_eq(sy, sx);
    cr_assert(cJSON_Compare(x, y, 1));
    /* every documented key is present in a full record */
    const char *keys[] = {"num_layers", "num_attention_heads", "num_kv_heads", "hidden_size",
        "head_dim", "intermediate_size", "vocab_size", "max_position_embeddings", "context_length",
        "rope_theta", "rope_scaling", "torch_dtype", "kv_precision", "attention", "moe", "vision",
        "quantization", "parameters", "weights_bytes", "kv_bytes_per_token",
        "kv_bytes_per_token_full", "kv_bytes_per_token_swa", "ssm", "field_sources", "source",
        "sources", "warnings", "collected_at", "runtime", "params_billion"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cr_assert_not_null(cJSON_GetObjectItemCaseSensitive(x, keys[i]), "missing %s", keys[i]);
        cr_assert(iw_schema_is_known_key(keys[i]));
    }
    cr_assert_float_eq(cJSON_GetObjectItem(x, "params_billion")->valuedouble, 20.91, 1e-9);
    cJSON *lt = cJSON_GetObjectItem(cJSON_GetObjectItem(x, "attention"), "layer_types");
    cr_assert_str_eq(cJSON_GetArrayItem(lt, 1)->valuestring, iw_layer_kind_name(IW_LAYER_SLIDING));
    cr_assert_eq(b.attention.type, IW_ATTN_MLA);
    cr_assert_eq(b.weights_bytes, 13437642208LL);
    cr_assert_str_eq(iw_arch_get_source(&b, "hidden_size"), "config.json:text_config");
    free(sx); free(sy);
    cJSON_Delete(x); cJSON_Delete(y);
    iw_arch_free(&a); iw_arch_free(&b);
}

Test(schema, unknown_is_omitted_not_invented)
{
    iw_arch a;
    iw_arch_init(&a);
    a.num_layers = 28;
    cJSON *x = iw_arch_to_json(&a);
    char *s = cJSON_PrintUnformatted(x);
    cr_assert_str_eq(s, "{\"num_layers\":28}");
    free(s);
    cJSON_Delete(x);
    iw_arch_free(&a);
}

/* The original's metadata.architecture (imageworks-compat.md, verbatim). */
static const char *ORIGINAL =
    "{\"num_layers\": 28, \"num_attention_heads\": 28, \"num_kv_heads\": 4, \"hidden_size\": 3584, \"intermediate_size\": 18944,"
    " \"max_position_embeddings\": 128000, \"context_length\": 128000, \"rope_theta\": 1000000.0,"
    " \"rope_scaling\": {\"mrope_section\": [16, 24, 24], \"rope_type\": \"default\", \"type\": \"default\"}, \"vocab_size\": 152064,"
    " \"vision\": {\"image_size\": null, \"patch_size\": null, \"hidden_size\": 1280, \"num_layers\": null, \"projection_dim\": null}, \"head_dim\": 128,"
    " \"field_sources\": {\"num_layers\": \"config:/home/stewa/ai-models/weights/Qwen/Qwen2.5-VL-7B-Instruct-AWQ/config.json\"},"
    " \"sources\": [\"config:/home/stewa/ai-models/weights/Qwen/Qwen2.5-VL-7B-Instruct-AWQ/config.json\", \"generation_config:/home/stewa/ai-models/weights/Qwen/Qwen2.5-VL-7B-Instruct-AWQ/generation_config.json\"],"
    " \"collected_at\": \"2025-11-06T22:32:45.311208+00:00\", \"params_billion\": 9.0, \"max_generation_tokens\": 8192}";

Test(schema, reads_original_record)
{
    cJSON *o = cJSON_Parse(ORIGINAL);
    cr_assert_not_null(o);
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_arch_from_json(o, &a), 0);
    cr_assert_eq(a.num_layers, 28);
    cr_assert_eq(a.num_kv_heads, 4);
    cr_assert_eq(a.context_length, 128000);
    cr_assert_float_eq(a.rope_theta, 1e6, 1e-6);
    cr_assert(a.has_vision);
    cr_assert_eq(a.vision.hidden_size, 1280);
    cr_assert_eq(a.vision.image_size, IW_UNKNOWN);
    cr_assert_eq(a.sources.n, 2);
    cr_assert_eq(a.warnings.n, 0, "nulls are not type errors");
    cr_assert_str_eq(a.collected_at, "2025-11-06T22:32:45.311208+00:00");
    cJSON *rs = cJSON_Parse(a.rope_scaling_json);
    cr_assert(cJSON_Compare(rs, cJSON_GetObjectItem(o, "rope_scaling"), 1));
    /* keep: unknown keys (max_generation_tokens) and params_billion without a total survive */
    cJSON *k = iw_arch_to_json_keep(&a, o);
    cr_assert_eq(cJSON_GetObjectItem(k, "max_generation_tokens")->valueint, 8192);
    cr_assert_float_eq(cJSON_GetObjectItem(k, "params_billion")->valuedouble, 9.0, 1e-9);
    cJSON_Delete(k);
    /* with a real total, params_billion is recomputed (20.9B, not 9.0) */
    a.parameters.total = 20900000000LL;
    k = iw_arch_to_json_keep(&a, o);
    cr_assert_float_eq(cJSON_GetObjectItem(k, "params_billion")->valuedouble, 20.9, 1e-9);
    cJSON_Delete(k);
    cJSON_Delete(rs);
    cJSON_Delete(o);
    iw_arch_free(&a);
}

Test(schema, wrong_types_become_warnings)
{
    cJSON *o = cJSON_Parse("{\"num_layers\":\"28\",\"hidden_size\":1.5,\"attention\":[1],"
                           "\"sources\":[\"a\",3],\"vocab_size\":1000,\"bogus\":{}}");
    iw_arch a;
    iw_arch_init(&a);
    cr_assert_eq(iw_arch_from_json(o, &a), 0);
    cr_assert_eq(a.num_layers, IW_UNKNOWN);
    cr_assert_eq(a.hidden_size, IW_UNKNOWN);
    cr_assert_eq(a.vocab_size, 1000);
    cr_assert_eq(a.sources.n, 1);
    cr_assert_geq(a.warnings.n, 4);
    bool found = false;
    for (size_t i = 0; i < a.warnings.n; i++)
        if (strstr(a.warnings.v[i], "num_layers: expected integer, got string"))
            found = true;
    cr_assert(found);
    cr_assert_neq(iw_arch_from_json(cJSON_GetObjectItem(o, "vocab_size"), &a), 0);
    cJSON_Delete(o);
    iw_arch_free(&a);
}

/* Ollama models: ollama.num_ctx and ollama.params (the manifest's params
 * blob, verbatim) survive to_json -> from_json; bad values are warnings. */
Test(schema, ollama_params_round_trip)
{
    iw_arch a, b;
    iw_arch_init(&a);
    a.num_layers = 2;
    a.ollama_num_ctx = 4096;
    iw_arch_set_str(&a.ollama_params_json, "{\"num_ctx\":4096,\"stop\":[\"<|eot_id|>\"],\"temperature\":0.6}");
    iw_arch_set_source(&a, "ollama.num_ctx", "ollama-params:/store/blobs/sha256-ab");
    iw_arch_set_str(&a.source, "ollama-store");
    cJSON *x = iw_arch_to_json(&a);
    cr_assert_not_null(x);
    char *sx = cJSON_PrintUnformatted(cJSON_GetObjectItem(x, "ollama"));
    cr_assert_str_eq(sx, "{\"num_ctx\":4096,\"params\":{\"num_ctx\":4096,\"stop\":[\"<|eot_id|>\"],\"temperature\":0.6}}");
    free(sx);
    cr_assert(iw_schema_is_known_key("ollama"));
    iw_arch_init(&b);
    cr_assert_eq(iw_arch_from_json(x, &b), 0);
    cr_assert_eq(b.ollama_num_ctx, 4096);
    cr_assert_str_eq(b.ollama_params_json, a.ollama_params_json);
    cr_assert_str_eq(iw_arch_get_source(&b, "ollama.num_ctx"), "ollama-params:/store/blobs/sha256-ab");
    cJSON *y = iw_arch_to_json(&b);
    cr_assert(cJSON_Compare(x, y, 1));
    cJSON_Delete(y);
    iw_arch_free(&b);

    /* a copy owns its own params text */
    iw_arch c;
    cr_assert_eq(iw_arch_copy(&c, &a), 0);
    cr_assert(c.ollama_params_json && c.ollama_params_json != a.ollama_params_json);
    cr_assert_str_eq(c.ollama_params_json, a.ollama_params_json);
    iw_arch_free(&c);

    /* wrong types: skipped with schema warnings */
    cJSON *bad = cJSON_Parse("{\"ollama\":{\"num_ctx\":-1,\"params\":[1]}}");
    iw_arch_init(&b);
    cr_assert_eq(iw_arch_from_json(bad, &b), 0);
    cr_assert_eq(b.ollama_num_ctx, 0);
    cr_assert_null(b.ollama_params_json);
    cr_assert_eq(b.warnings.n, 2);
    cr_assert(strstr(b.warnings.v[0], "ollama.num_ctx") || strstr(b.warnings.v[1], "ollama.num_ctx"));
    cr_assert(strstr(b.warnings.v[0], "ollama.params") || strstr(b.warnings.v[1], "ollama.params"));
    iw_arch_free(&b);
    cJSON_Delete(bad);

    /* a record without Ollama data writes no "ollama" key */
    iw_arch_free(&a);
    iw_arch_init(&a);
    a.num_layers = 2;
    cJSON_Delete(x);
    x = iw_arch_to_json(&a);
    cr_assert_null(cJSON_GetObjectItem(x, "ollama"));
    cJSON_Delete(x);
    iw_arch_free(&a);
}
