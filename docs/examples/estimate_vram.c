/* estimate_vram.c - will a model fit a GPU, and with how much context?
 *
 *   cc estimate_vram.c $(pkg-config --cflags --libs iwdl) -o estimate_vram
 *   ./estimate_vram ~/models/org/name 24 vllm        24 GiB, vLLM
 *   ./estimate_vram model.Q4_K_M.gguf 8 llama.cpp    8 GiB, llama.cpp
 *
 * The architecture comes from iw_inspect (as in inspect_model.c); the
 * estimate is a pure function of it and the options: one term per memory
 * consumer with the formula it used, the total against the budget, and the
 * largest context that fits one sequence (docs/estimate.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <iwdl/arch.h>
#include <iwdl/error.h>
#include <iwdl/estimate.h>
#include <iwdl/inspect.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PATH GIB vllm|llama.cpp|ollama\n", argv[0]);
        return 2;
    }
    double gib = strtod(argv[2], NULL);
    iw_est_opts o;
    iw_est_opts_init(&o);                      /* sets the options' version */
    if (!(gib > 0) || iw_engine_parse(argv[3], &o.engine) < 0) {
        fprintf(stderr, "estimate_vram: want a size in GiB and vllm, llama.cpp or ollama\n");
        return 2;
    }
    o.vram_bytes = (int64_t)(gib * 1073741824.0);

    iw_arch a;
    iw_arch_init(&a);
    iw_provider *p = NULL;
    int rc = iw_provider_local(&p, argv[1]);
    if (rc == 0)
        rc = iw_inspect(p, NULL, &a);
    iw_provider_free(p);

    iw_estimate e;
    iw_estimate_init(&e);
    int64_t max_ctx = 0;
    if (rc == 0)
        rc = iw_estimate_compute(&a, &o, &e);  /* context: the model's maximum */
    if (rc == 0)
        rc = iw_estimate_max_context(&a, &o, 1, &max_ctx);
    if (rc < 0) {
        fprintf(stderr, "estimate_vram: %s\n", iw_error_last());
        iw_estimate_free(&e);
        iw_arch_free(&a);
        return 1;
    }
    printf("%s on %s, %g GiB, context %" PRId64 " x %" PRId64 " sequence(s):\n", a.model_type ? a.model_type : "?",
           iw_engine_name(e.in.engine), gib, e.in.context, e.in.batch);
    for (size_t i = 0; i < e.n_terms; i++)
        printf("  %-14s %10.1f MiB  %s\n", e.terms[i].name, (double)e.terms[i].bytes / 1048576.0,
               e.terms[i].formula);
    printf("total          %10.1f MiB of %.1f MiB usable: %s\n", (double)e.total / 1048576.0,
           (double)e.budget / 1048576.0, e.fits ? "fits" : "does not fit");
    printf("max context    %" PRId64 " tokens (one sequence)\n", max_ctx);
    for (size_t i = 0; i < e.warnings.n; i++)
        printf("warning        %s\n", e.warnings.v[i]);
    iw_estimate_free(&e);
    iw_arch_free(&a);
    return 0;
}
