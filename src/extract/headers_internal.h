/* headers_internal.h - dispatch from iw_extract_path to the header readers. */
#ifndef IW_EXTRACT_HEADERS_INTERNAL_H
#define IW_EXTRACT_HEADERS_INTERNAL_H

#include <stdbool.h>
#include "iwdl/arch.h"

bool iw__is_ollama_ref(const char *path);
int  iw__extract_ollama(const char *ref, iw_arch *a);
/* Read the tensor headers of a folder or a single .gguf/.safetensors file.
 * IW_ENOTFOUND when the folder holds neither. */
int  iw__extract_headers(const char *path, iw_arch *a);

#endif
