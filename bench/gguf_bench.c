/* gguf_bench.c - the GGUF reader as a tiny process, for bench/gguf_vs_hfjs.sh
 * when `imageworks-download inspect` cannot read a .gguf yet: parse the file
 * (header only), map it to iw_arch and print a one-line summary. */
#include <inttypes.h>
#include <stdio.h>

#include "iwdl/error.h"
#include "iwdl/gguf.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gguf_bench FILE.gguf\n");
        return 2;
    }
    iw_arch a;
    iw_arch_init(&a);
    if (iw_gguf_extract_path(argv[1], &a) < 0) {
        fprintf(stderr, "gguf_bench: %s\n", iw_error_last());
        return 1;
    }
    printf("{\"architecture\":\"%s\",\"num_layers\":%" PRId64 ",\"vocab_size\":%" PRId64
           ",\"parameters\":%" PRId64 "}\n", a.model_type ? a.model_type : "", a.num_layers,
           a.vocab_size, a.parameters.total);
    iw_arch_free(&a);
    return 0;
}
