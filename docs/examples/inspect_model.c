/* inspect_model.c - read a model's architecture with libiwdl.
 *
 *   cc inspect_model.c $(pkg-config --cflags --libs iwdl) -o inspect_model
 *   ./inspect_model ~/models/org/name          a model folder
 *   ./inspect_model model.Q4_K_M.gguf          one GGUF or safetensors file
 *   ./inspect_model ollama:qwen3:8b            a model of the local Ollama store
 *
 * Nothing is loaded: config.json, the quantization configs and the tensor
 * headers are read, merged into one iw_arch and checked against each other
 * (docs/library.md). */
#include <inttypes.h>
#include <stdio.h>

#include <iwdl/arch.h>
#include <iwdl/error.h>
#include <iwdl/extract.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH|FILE|ollama:NAME:TAG\n", argv[0]);
        return 2;
    }
    iw_arch a;
    iw_arch_init(&a);
    if (iw_extract_path(argv[1], NULL, &a) < 0) {
        /* one line naming what failed and where */
        fprintf(stderr, "inspect_model: %s\n", iw_error_last());
        iw_arch_free(&a);
        return 1;
    }
    printf("model_type     %s\n", a.model_type ? a.model_type : "?");
    printf("num_layers     %" PRId64 "\n", a.num_layers);
    printf("hidden_size    %" PRId64 "\n", a.hidden_size);
    printf("kv_heads       %" PRId64 "\n", a.num_kv_heads);
    printf("context        %" PRId64 "\n", iw_arch_context(&a));
    printf("parameters     %" PRId64 " (%s)\n", a.parameters.total,
           a.parameters.source ? a.parameters.source : "unknown");
    printf("kv bytes/token %" PRId64 "\n", a.kv_bytes_per_token);
    for (size_t i = 0; i < a.sources.n; i++)
        printf("read           %s\n", a.sources.v[i]);
    for (size_t i = 0; i < a.warnings.n; i++)
        printf("warning        %s\n", a.warnings.v[i]);
    iw_arch_free(&a);
    return 0;
}
