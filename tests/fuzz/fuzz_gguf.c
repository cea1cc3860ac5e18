/* fuzz_gguf.c - libFuzzer harness for the GGUF header reader and its
 * iw_arch mapping.  The input is served through a buffer iw_source with a
 * tiny first prefix so that the prefix-growth path runs on every input. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "iwdl/arch.h"
#include "iwdl/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    iw_source src;
    iw_source_from_buffer(&src, data, size, "fuzz.gguf");
    iw_gguf_opts opts = IW_GGUF_OPTS_INIT;
    opts.prefix_bytes = 64;
    opts.max_header_bytes = 4u << 20;
    iw_gguf *g = NULL;
    if (iw_gguf_parse(&g, &src, &opts) == 0) {
        /* walk every accessor */
        for (size_t i = 0; i < iw_gguf_kv_count(g); i++) {
            const char *key = iw_gguf_kv_key(g, i);
            int64_t iv;
            double dv;
            const char *s;
            size_t l;
            iw_gguf_type et;
            uint64_t n;
            iw_gguf_kv_int(g, i, &iv);
            iw_gguf_kv_float(g, i, &dv);
            iw_gguf_kv_str(g, i, &s, &l);
            if (iw_gguf_kv_array(g, i, &et, &n) == 0 && n > 0) {
                iw_gguf_array_int(g, key, n - 1, &iv);
                iw_gguf_array_float(g, key, 0, &dv);
                iw_gguf_array_str(g, key, n - 1, &s, &l);
            }
        }
        for (size_t i = 0; i < iw_gguf_tensor_count(g); i++)
            (void)iw_gguf_tensor_find(g, iw_gguf_tensor_at(g, i)->name);
        iw_arch a;
        iw_arch_init(&a);
        const iw_gguf *one[1] = { g };
        iw_gguf_to_arch(one, 1, &a);
        iw_arch_free(&a);
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            iw_gguf_write_tensors_csv(g, f);
            fclose(f);
        }
        iw_gguf_free(g);
    }
    iw_source_close(&src);
    return 0;
}
