/* kv_finish.c - the last facts of every record, whoever read it (the
 * pipeline, an Ollama answer): the KV cache type of the engine that runs a
 * GGUF model, and KV bytes per token (inspect_internal.h). */
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/kv.h"
#include "inspect_internal.h"

int iw__gguf_kv_default(const char *engine, iw_arch *a)
{
    int rc = 0;
    if (!a->kv_precision && (rc = iw_arch_set_str(&a->kv_precision, "fp16")) == 0)
        rc = iw_arch_set_source(a, "kv_precision", engine && !strcmp(engine, "ollama")
                                ? "default:Ollama f16 KV cache (OLLAMA_KV_CACHE_TYPE)"
                                : "default:llama.cpp f16 KV cache");
    return rc;
}

int iw__finish_kv(iw_arch *a)
{
    if (a->kv_bytes_per_token <= 0 && iw_kv_per_token(a) < 0) {
        int rc = iw_arch_warn(a, "%s", iw_error_last());
        iw_error_clear();
        return rc;
    }
    return 0;
}
