/* inspect_model.c - read a model's architecture with libiwdl.
 *
 *   cc inspect_model.c $(pkg-config --cflags --libs iwdl) -o inspect_model
 *   ./inspect_model ~/models/org/name          a model folder
 *   ./inspect_model model.Q4_K_M.gguf          one GGUF or safetensors file
 *   ./inspect_model ollama:qwen3:8b            a model of the local Ollama store
 *   ./inspect_model Qwen/Qwen3-8B              a Hub repo: headers by HTTP Range
 *
 * Nothing is loaded: config.json, the quantization configs and the tensor
 * headers are read through a file provider, merged into one iw_arch and
 * checked against each other by the library's one pipeline, iw_inspect
 * (docs/library.md). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <iwdl/arch.h>
#include <iwdl/error.h>
#include <iwdl/hub.h>
#include <iwdl/inspect.h>

/* "org/name" that is not a path on this machine */
static int is_repo(const char *s)
{
    struct stat st;
    const char *slash = strchr(s, '/');
    return stat(s, &st) != 0 && s[0] != '.' && slash && slash != s && !strchr(slash + 1, '/');
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH|FILE|ollama:NAME:TAG\n", argv[0]);
        return 2;
    }
    iw_arch a;
    iw_arch_init(&a);
    iw_provider *p = NULL;
    int rc = is_repo(argv[1]) ? iw_hub_provider_new(&p, NULL, argv[1], NULL)   /* HF_ENDPOINT, HF_TOKEN */
                              : iw_provider_local(&p, argv[1]);                 /* also ollama:NAME:TAG */
    if (rc == 0)
        rc = iw_inspect(p, NULL, &a);
    iw_provider_free(p);
    if (rc < 0) {
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
