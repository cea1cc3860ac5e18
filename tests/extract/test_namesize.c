/* test_namesize.c - sizes written in model names. */
#include <criterion/criterion.h>

#include "iwdl/arch.h"
#include "iwdl/extract.h"

static void ok(const char *name, int64_t t, int64_t a)
{
    int64_t tt = 0, aa = 0;
    cr_assert(iw_parse_size_from_name(name, &tt, &aa), "%s: no size found", name);
    cr_expect_eq(tt, t, "%s: total %lld", name, (long long)tt);
    cr_expect_eq(aa, a, "%s: active %lld", name, (long long)aa);
}

static void none(const char *name)
{
    int64_t t = 0, a = 0;
    cr_expect(!iw_parse_size_from_name(name, &t, &a), "%s: parsed as %lld", name, (long long)t);
}

Test(namesize, plain_sizes)
{
    ok("Llama-2-7b-hf", 7000000000LL, IW_UNKNOWN);
    ok("meta-llama/Llama-3.1-8B-Instruct", 8000000000LL, IW_UNKNOWN);
    ok("gpt-oss-20.9B", 20900000000LL, IW_UNKNOWN);
    ok("gemma-3-27.0B-it", 27000000000LL, IW_UNKNOWN);
    ok("opt-350M", 350000000LL, IW_UNKNOWN);
    ok("MobileLLM-R1-950M", 950000000LL, IW_UNKNOWN);
    ok("google/gemma-3-1b-it", 1000000000LL, IW_UNKNOWN);
    ok("llava-v1.5-7b", 7000000000LL, IW_UNKNOWN);
    ok("Qwen2.5-0.5B-Instruct-GGUF", 500000000LL, IW_UNKNOWN);
    ok("Mistral-7B-Instruct-v0.2.Q4_K_M.gguf", 7000000000LL, IW_UNKNOWN);
}

Test(namesize, moe_sizes)
{
    ok("Mixtral-8x7B-v0.1", 56000000000LL, IW_UNKNOWN);
    ok("WizardLM-2-8x22B", 176000000000LL, IW_UNKNOWN);
    ok("Qwen3-30B-A3B", 30000000000LL, 3000000000LL);
    ok("Qwen3-Next-80B-A3B-Instruct", 80000000000LL, 3000000000LL);
    ok("ERNIE-4.5-21B-A3B-Thinking", 21000000000LL, 3000000000LL);
}

Test(namesize, not_fooled)
{
    none("model-v1.5");
    none("llama.Q4_K_M.gguf");
    none("gpt2");
    none("Qwen2.5-Instruct");
    none("phi-4");
    none("t5-small");
    none("bert-4bit-int8");
    none("yarn-32k-1M");
    none("");
    none(NULL);
}
