/* config.h - config.json and the quantization config files, as text
 * (src/extract/config.c, quant.c).
 *
 * Parsers take the text, never a path or a URL, so a local file, an HTTP
 * Range read and fuzz input share one code path (iw_inspect reads the files
 * through its provider). */
#ifndef IWDL_CONFIG_H
#define IWDL_CONFIG_H

#include <stddef.h>
#include "arch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill `a` from the text of a config.json.  `source` is how fields are
 * attributed in field_sources (e.g. "config.json" or "support_repo:org/name").
 * Nested text_config/llm_config/language_config/vision_config are followed;
 * fields from a nested block are attributed "<source>:<block>".
 * Returns 0, or a negative code with a one-line error (malformed JSON, LFS
 * pointer, not an object).  Recoverable oddities become warnings. */
int iw_config_parse(const char *text, size_t len, const char *source, iw_arch *a);

/* Quantization: quantize_config.json / quant_config.json text (GPTQ/AWQ
 * standalone files), applied only when config.json had no quantization_config. */
int iw_quant_config_parse(const char *text, size_t len, const char *source, iw_arch *a);

#ifdef __cplusplus
}
#endif
#endif
