/* config_internal.h - helpers shared by the config.json / quantization
 * parsers of src/extract (not public). */
#ifndef IWDL_EXTRACT_CONFIG_INTERNAL_H
#define IWDL_EXTRACT_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "iwdl/arch.h"

/* Caps on untrusted config content (documented in docs/formats/config.md). */
#define IW_CONFIG_MAX_BYTES   (16u * 1024u * 1024u)  /* config.json text */
#define IW_CONFIG_MAX_LAYERS  4096                   /* layer_types / per-layer arrays */
#define IW_CONFIG_MAX_DIM     ((int64_t)1 << 40)     /* any width, count or length */

/* Parse one quantization object (quantization_config, compression_config or
 * MLX "quantization") into a->quantization.  `where` names it for messages
 * and field_sources.  Returns 0 or IW_ENOMEM; oddities become warnings. */
int iw_quant_apply_object(const cJSON *q, const char *where, iw_arch *a);

/* Fill quantization.effective_bits and label from method/bits/group_size
 * when they are still unknown. */
void iw_quant_finish(iw_arch *a, const char *where);

/* Defaults of a transformers config class (class_defaults.c): model_type,
 * the class name for field_sources ("class-default:LlamaConfig") and a JSON
 * object of the architecture keys the class fills when a config omits them. */
typedef struct iw_class_default {
    const char *model_type;
    const char *cls;
    const char *json;
} iw_class_default;

/* The class of a model_type, or NULL when the table has none. */
const iw_class_default *iw_class_default_find(const char *model_type);
/* The model_type a composite config (llava) gives a text or vision
 * sub-config that names none; NULL when the root is not such a config. */
const char *iw_class_default_subtype(const char *root_model_type, bool vision);

/* Lower-case family helpers used by params.c and kv.c. */
bool iw_family_is(const char *model_type, const char *const *list);

#endif
