/* fuzz_quant.c - libFuzzer harness: arbitrary bytes as quantize_config.json /
 * quant_config.json, and as a config.json whose quantization block is
 * parsed by the same code.  Everything is freed. */
#include <stddef.h>
#include <stdint.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    iw_arch a;
    iw_arch_init(&a);
    (void)iw_quant_config_parse((const char *)data, size, "fuzz:quantize_config.json", &a);
    iw_arch_free(&a);
    iw_arch_init(&a);
    (void)iw_config_parse((const char *)data, size, "fuzz:config.json", &a);
    (void)iw_quant_config_parse((const char *)data, size, "fuzz:quant_config.json", &a);
    iw_arch_free(&a);
    iw_error_clear();
    return 0;
}
