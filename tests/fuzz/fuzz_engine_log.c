/* fuzz_engine_log.c - libFuzzer harness: arbitrary bytes as an engine
 * start-up log (iw_engine_log_parse), then every start-up it yields through
 * the calibration code that consumes stored starts: its settings as
 * estimate options, a prediction of a small fixed model, the comparison,
 * the corrections, and an estimate with them applied.  Errors are
 * expected; crashes, leaks and UB are bugs. */
#include <stddef.h>
#include <stdint.h>

#include "iwdl/arch.h"
#include "iwdl/enginelog.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/json.h"

static iw_est_profiles *P;

static void small_model(iw_arch *a)
{
    iw_arch_init(a);
    iw_arch_set_str(&a->torch_dtype, "bfloat16");
    a->num_layers = 4;
    a->num_attention_heads = 8;
    a->num_kv_heads = 2;
    a->head_dim = 64;
    a->hidden_size = 512;
    a->intermediate_size = 1536;
    a->vocab_size = 32000;
    a->max_position_embeddings = 4096;
    a->context_length = 4096;
    a->attention.type = IW_ATTN_GQA;
    a->parameters.total = 50000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!P && iw_est_profiles_new(&P) < 0)
        return 0;
    cJSON *starts = NULL;
    if (iw_engine_log_parse((const char *)data, size, "fuzz.log", &starts, NULL) == 0) {
        iw_arch a0;
        small_model(&a0);
        const cJSON *st;
        cJSON_ArrayForEach(st, starts) {
            iw_est_opts base, o;
            iw_est_overrides bov, ov;
            iw_est_opts_init(&base);
            iw_est_overrides_init(&bov);
            if (iw_est_start_opts(st, P, &base, &bov, &o, &ov) < 0)
                continue;
            iw_arch a;
            iw_arch_init(&a);
            iw_ov_result r;
            iw_estimate e, c;
            iw_estimate_init(&e);
            iw_estimate_init(&c);
            ov.engine = o.engine;
            if (iw_arch_copy(&a, &a0) == 0 && iw_estimate_apply_overrides(&a, &ov, &r) == 0 &&
                iw_estimate_compute(&a, &o, &e) == 0) {
                cJSON_Delete(iw_est_start_compare(&e, st));
                iw_est_calibration cal;
                if (iw_est_calibration_derive(&e, st, &cal) == 0) {
                    cJSON_Delete(iw_est_calibration_to_json(&cal));
                    o.calibration = &cal;
                    if (iw_estimate_compute(&a, &o, &c) == 0)
                        cJSON_Delete(iw_estimate_to_json(&c));
                }
            }
            iw_estimate_free(&e);
            iw_estimate_free(&c);
            iw_arch_free(&a);
        }
        iw_arch_free(&a0);
    }
    cJSON_Delete(starts);
    iw_error_clear();
    return 0;
}
