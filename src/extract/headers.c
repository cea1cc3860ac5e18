/* headers.c - tensor headers and Ollama references for iw_extract_path.
 *
 * Kept apart from extract.c (the config.json flow) so each source of truth
 * has one home: this file decides which header reader a path needs. */
#include <dirent.h>
#include <string.h>

#include "iwdl/error.h"
#include "iwdl/fs.h"
#include "iwdl/gguf.h"
#include "iwdl/ollama.h"
#include "iwdl/safetensors.h"
#include "headers_internal.h"

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static bool dir_has(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *e;
    bool found = false;
    while (!found && (e = readdir(d)))
        found = e->d_name[0] != '.' && has_suffix(e->d_name, suffix);
    closedir(d);
    return found;
}

bool iw__is_ollama_ref(const char *path)
{
    return strncmp(path, "ollama:", 7) == 0;
}

int iw__extract_ollama(const char *ref, iw_arch *a)
{
    return iw_ollama_extract(ref, NULL, a);
}

/* A GGUF model runs on llama.cpp/Ollama, whose KV cache defaults to f16. */
static int gguf(const char *path, iw_arch *a)
{
    int rc = iw_gguf_extract_path(path, a);
    if (rc == 0 && !a->kv_precision) {
        rc = iw_arch_set_str(&a->kv_precision, "fp16");
        if (rc == 0)
            rc = iw_arch_set_source(a, "kv_precision", "default:llama.cpp f16 KV cache");
    }
    return rc;
}

int iw__extract_headers(const char *path, iw_arch *a)
{
    if (iw_path_is_file(path)) {
        if (has_suffix(path, ".gguf"))
            return gguf(path, a);
        if (has_suffix(path, ".safetensors"))
            return iw_safetensors_extract_dir(path, a);
        return iw_error_set(IW_EUNSUPPORTED,
                            "%s: not a model folder, .gguf or .safetensors file", path);
    }
    /* Safetensors first: a folder with both (a converted model kept beside
     * its source) describes the safetensors checkpoint, as vLLM would load it. */
    if (dir_has(path, ".safetensors") || dir_has(path, ".safetensors.index.json"))
        return iw_safetensors_extract_dir(path, a);
    if (dir_has(path, ".gguf"))
        return gguf(path, a);
    return iw_error_set(IW_ENOTFOUND, "%s: no safetensors or GGUF files", path);
}
