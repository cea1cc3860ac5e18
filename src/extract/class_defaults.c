/* class_defaults.c - the defaults of transformers' config classes, as data.
 *
 * Some published configs list only the keys that differ from their config
 * class (llava-hf/llava-1.5-7b-hf: a text_config naming the vocab and the
 * context, leaving layers, widths and heads to LlamaConfig).  transformers
 * fills the rest from the class; config.c does the same with this table,
 * consulting it only after every alias of a key is absent from the real
 * blocks (a key present as null is not absent), and records the field's
 * source as "class-default:<Class>" (docs/formats/config.md).
 *
 * Only the keys that shape the architecture are carried; None defaults
 * (head_dim, num_key_value_heads of LlamaConfig) are left out because
 * config.c already derives them the way the class does.  Each row names the
 * transformers file it was read from (src/transformers/models/...).
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

static const iw_class_default table[] = {
    /* llama/configuration_llama.py, LlamaConfig (commit 008e5743) */
    {"llama", "LlamaConfig",
     "{\"vocab_size\":32000,\"hidden_size\":4096,\"intermediate_size\":11008,\"num_hidden_layers\":32,"
     "\"num_attention_heads\":32,\"max_position_embeddings\":2048}"},
    /* mistral/configuration_mistral.py, MistralConfig (commit 008e5743) */
    {"mistral", "MistralConfig",
     "{\"vocab_size\":32000,\"hidden_size\":4096,\"intermediate_size\":14336,\"num_hidden_layers\":32,"
     "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"max_position_embeddings\":131072,"
     "\"sliding_window\":4096}"},
    /* mixtral/configuration_mixtral.py, MixtralConfig (commit 008e5743) */
    {"mixtral", "MixtralConfig",
     "{\"vocab_size\":32000,\"hidden_size\":4096,\"intermediate_size\":14336,\"num_hidden_layers\":32,"
     "\"num_attention_heads\":32,\"num_key_value_heads\":8,\"max_position_embeddings\":131072,"
     "\"num_experts_per_tok\":2,\"num_local_experts\":8}"},
    /* qwen2/configuration_qwen2.py, Qwen2Config (commit 008e5743); sliding_window
     * applies only with use_sliding_window, which defaults to false */
    {"qwen2", "Qwen2Config",
     "{\"vocab_size\":151936,\"hidden_size\":4096,\"intermediate_size\":22016,\"num_hidden_layers\":32,"
     "\"num_attention_heads\":32,\"num_key_value_heads\":32,\"max_position_embeddings\":32768}"},
    /* qwen3/configuration_qwen3.py, Qwen3Config (commit 008e5743) */
    {"qwen3", "Qwen3Config",
     "{\"vocab_size\":151936,\"hidden_size\":4096,\"intermediate_size\":22016,\"num_hidden_layers\":32,"
     "\"num_attention_heads\":32,\"num_key_value_heads\":32,\"head_dim\":128,\"max_position_embeddings\":32768}"},
    /* gemma/configuration_gemma.py, GemmaConfig (commit 008e5743) */
    {"gemma", "GemmaConfig",
     "{\"vocab_size\":256000,\"hidden_size\":3072,\"intermediate_size\":24576,\"num_hidden_layers\":28,"
     "\"num_attention_heads\":16,\"num_key_value_heads\":16,\"head_dim\":256,\"max_position_embeddings\":8192}"},
    /* gemma2/configuration_gemma2.py, Gemma2Config (commit 008e5743) */
    {"gemma2", "Gemma2Config",
     "{\"vocab_size\":256000,\"hidden_size\":2304,\"intermediate_size\":9216,\"num_hidden_layers\":26,"
     "\"num_attention_heads\":8,\"num_key_value_heads\":4,\"head_dim\":256,\"max_position_embeddings\":8192,"
     "\"sliding_window\":4096}"},
    /* t5/configuration_t5.py, T5Config (commit 038869d4) */
    {"t5", "T5Config",
     "{\"vocab_size\":32128,\"d_model\":512,\"d_kv\":64,\"d_ff\":2048,\"num_layers\":6,\"num_heads\":8,"
     "\"is_encoder_decoder\":true}"},
    /* clip/configuration_clip.py, CLIPVisionConfig (commit 01841b34) */
    {"clip_vision_model", "CLIPVisionConfig",
     "{\"hidden_size\":768,\"intermediate_size\":3072,\"projection_dim\":512,\"num_hidden_layers\":12,"
     "\"num_attention_heads\":12,\"image_size\":224,\"patch_size\":32}"},
    /* siglip/configuration_siglip.py, SiglipVisionConfig (released classes:
     * patch_size 16; an early draft of the file had 32) */
    {"siglip_vision_model", "SiglipVisionConfig",
     "{\"hidden_size\":768,\"intermediate_size\":3072,\"num_hidden_layers\":12,\"num_attention_heads\":12,"
     "\"image_size\":224,\"patch_size\":16}"},
};

/* Composite configs whose sub-configs default their model_type
 * (llava/configuration_llava.py, LlavaConfig: text_config "llama",
 * vision_config "clip_vision_model"). */
static const struct { const char *root, *text, *vision; } composite[] = {
    {"llava", "llama", "clip_vision_model"},
};

const iw_class_default *iw_class_default_find(const char *model_type)
{
    if (!model_type || !*model_type)
        return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcasecmp(table[i].model_type, model_type))
            return &table[i];
    return NULL;
}

const char *iw_class_default_subtype(const char *root_model_type, bool vision)
{
    if (!root_model_type)
        return NULL;
    for (size_t i = 0; i < sizeof composite / sizeof composite[0]; i++)
        if (!strcasecmp(composite[i].root, root_model_type))
            return vision ? composite[i].vision : composite[i].text;
    return NULL;
}
