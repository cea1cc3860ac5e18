/* fuzz_ollama_show.c - libFuzzer harness: an Ollama server's POST /api/show
 * answer mapped to a model record (iw_ollama_show_to_arch), then the
 * formula and KV passes over whatever came out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"
#include "iwdl/ollama.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *t = malloc(size ? size : 1);
    if (!t)
        return 0;
    memcpy(t, data, size);
    iw_arch a;
    iw_arch_init(&a);
    if (iw_ollama_show_to_arch(t, size, "fuzz /api/show", &a) == 0) {
        (void)iw_params_formula(&a);
        (void)iw_kv_per_token(&a);
    }
    iw_arch_free(&a);
    free(t);
    iw_error_clear();
    return 0;
}
