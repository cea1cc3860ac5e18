/* fuzz_config.c - libFuzzer harness: arbitrary bytes as config.json, then
 * the formula and KV passes over whatever record came out.  Everything is
 * freed; errors are expected, crashes and leaks are bugs. */
#include <stddef.h>
#include <stdint.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    iw_arch a;
    iw_arch_init(&a);
    if (iw_config_parse((const char *)data, size, "fuzz:config.json", &a) == 0) {
        (void)iw_params_formula(&a);
        (void)iw_kv_per_token(&a);
        /* a second config over the same record: the support-repo path */
        (void)iw_config_parse((const char *)data, size, "support_repo:fuzz", &a);
    }
    iw_arch_free(&a);
    iw_error_clear();
    return 0;
}
