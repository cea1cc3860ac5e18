/* fuzz_safetensors.c - libFuzzer harness for the safetensors header reader
 * (through a buffer iw_source, the same path as files and HTTP Range), the
 * parameter counter / layer analysis under every unpacking rule, the CSV
 * lister and the shard-index parser (the same bytes as index text). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/buf.h"
#include "iwdl/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const iw_st_quant quants[] = {
        { NULL, 0 }, { "gptq", 4 }, { "gptq", 3 }, { "awq", 4 }, { "bitsandbytes", 4 },
        { "mxfp4", 4 }, { "fp8", 8 }, { "compressed-tensors", 4 }, { "mlx", 4 }, { "gptq", 0.5 },
    };
    iw_st_file f;
    if (iw_st_parse_buffer(data, size, "fuzz.safetensors", &f) == 0) {
        iw_arch hint;
        iw_arch_init(&hint);
        hint.num_attention_heads = 4;
        hint.hidden_size = 64;
        hint.intermediate_size = 128;
        hint.moe.experts_per_token = 2;
        const iw_st_quant *q = &quants[size % (sizeof quants / sizeof quants[0])];
        iw_st_summary s;
        if (iw_st_analyse_files(&f, 1, q, &hint, &s) == 0) {
            iw_arch a;
            iw_arch_init(&a);
            a.parameters.total = 1000;
            iw_arch_set_str(&a.parameters.source, "formula");
            iw_st_apply(&a, &s, NULL);
            iw_arch_free(&a);
        }
        iw_buf b = IW_BUF_INIT(64u << 20);
        iw_st_csv_append(&f, true, &b);
        iw_buf_free(&b);
        iw_arch_free(&hint);
        iw_st_file_free(&f);
    }
    /* The same bytes as index JSON (skip the 8-byte length when present). */
    const char *text = (const char *)data;
    size_t len = size;
    if (size >= 8 && data[0] != '{') {
        text += 8;
        len -= 8;
    }
    /* Real callers hand over an iw_buf (always NUL-terminated); do the same,
     * because iw_json_parse's error text may look at most 20 bytes past a
     * parse error (see docs/formats/safetensors.md, fuzzing). */
    char *copy = malloc(len + 1);
    if (!copy)
        return 0;
    memcpy(copy, text, len);
    copy[len] = 0;
    iw_st_index idx;
    if (iw_st_index_parse(copy, len, "fuzz.index.json", &idx) == 0)
        iw_st_index_free(&idx);
    free(copy);
    return 0;
}
