/* test_recommend.c - how many concurrent sequences a recommendation may ask
 * of each engine (iw_estimate_batch_cap, src/estimate/recommend.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "estfixture.h"

#define GIB ((int64_t)1 << 30)

static int64_t cap_for(iw_arch *a, iw_engine eng, int64_t vram, const char *gpu, int64_t mbt, char *why, size_t n)
{
    iw_est_opts o;
    iw_est_opts_init(&o);
    o.engine = eng;
    o.vram_bytes = vram;
    o.context = 4096;
    if (mbt > 0)
        o.max_num_batched_tokens = mbt;
    iw_estimate e;
    iw_estimate_init(&e);
    cr_assert_eq(iw_estimate_compute(a, &o, &e), 0, "%s", iw_error_last());
    int64_t c = iw_estimate_batch_cap(&e, a, gpu, why, n);
    iw_estimate_free(&e);
    return c;
}

Test(recommend, engine_limits_and_defaults)
{
    iw_arch a;
    est_llama3_8b(&a);
    char why[256];
    cr_expect_eq(cap_for(&a, IW_ENGINE_LLAMACPP, 24 * GIB, "rtx4090", 0, why, sizeof why), 256);
    cr_expect(strstr(why, "LLAMA_MAX_SEQ"), "%s", why);
    cr_expect_eq(cap_for(&a, IW_ENGINE_OLLAMA, 24 * GIB, NULL, 0, why, sizeof why), 256);
    /* vLLM: 256 by default, 1024 on a >= 70 GiB GPU that is not an A100 */
    cr_expect_eq(cap_for(&a, IW_ENGINE_VLLM, 24 * GIB, "rtx4090", 0, why, sizeof why), 256);
    cr_expect(strstr(why, "max_num_seqs"), "%s", why);
    cr_expect_eq(cap_for(&a, IW_ENGINE_VLLM, 80 * GIB, "h100", 0, why, sizeof why), 1024);
    cr_expect_eq(cap_for(&a, IW_ENGINE_VLLM, 80 * GIB, "a100-80", 0, why, sizeof why), 256);
    cr_expect_eq(cap_for(&a, IW_ENGINE_VLLM, 80 * GIB, NULL, 0, why, sizeof why), 1024);
    cr_expect(strstr(why, "256 on an A100"), "%s", why);
    /* and never above max_num_batched_tokens */
    cr_expect_eq(cap_for(&a, IW_ENGINE_VLLM, 24 * GIB, "rtx4090", 128, why, sizeof why), 128);
    cr_expect(strstr(why, "max_num_batched_tokens"), "%s", why);
    iw_arch_free(&a);
}

Test(recommend, ollama_serves_some_architectures_one_at_a_time)
{
    iw_arch a;
    est_llama3_8b(&a);
    iw_arch_set_str(&a.model_type, "qwen3vl");
    char why[256];
    cr_expect_eq(cap_for(&a, IW_ENGINE_OLLAMA, 24 * GIB, NULL, 0, why, sizeof why), 1);
    cr_expect(strstr(why, "one request at a time"), "%s", why);
    /* llama-server itself has no such rule */
    cr_expect_eq(cap_for(&a, IW_ENGINE_LLAMACPP, 24 * GIB, NULL, 0, why, sizeof why), 256);
    iw_arch_free(&a);
}
