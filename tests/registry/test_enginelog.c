/* Engine start-up logs -> measured starts (src/registry/enginelog.c).
 *
 * The fixtures in tests/fixtures/enginelog/ are real log lines from public
 * threads and published logs (tests/fixtures/enginelog/README.md):
 *   vllm-0.19-codellama-7b.log   https://github.com/llm-d-incubation/llm-d-planner/blob/d3121e059da88662db39a926a3ead964be97359b/accuracy/results/v0.19.0/logs/codellama-codellama-7b-h--h100-80gb--tp1pp1dp1--8192.log
 *   vllm-0.6.5-llama3-8b-tp1-tp2.log  https://github.com/vllm-project/vllm/pull/10511
 *   vllm-0.7-llama32-11b-vision.log   https://github.com/vllm-project/vllm/pull/12126
 *   vllm-0.8-tp4-workers.log          https://github.com/vllm-project/vllm/pull/14447
 *   llamacpp-mistral-7b-n_ctx-32768.log  https://github.com/fedora-copr/logdetective/pull/106
 *   llamasharp-qwen2.5-3b.log         https://github.com/SciSharp/LLamaSharp/issues/1099
 *   llamacpp-8gpu-deepseek.log        https://github.com/ggml-org/llama.cpp/issues/9390
 *   ollama-journald-r1-1.5b.log       https://github.com/ollama/ollama/issues/9362
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwtest.h"
#include "iwdl/enginelog.h"
#include "iwdl/error.h"
#include "iwdl/json.h"

#define GIB 1073741824.0
#define MIB 1048576.0

static cJSON *read_fixture(const char *name, iw_engine_log_report *rep)
{
    char rel[256];
    snprintf(rel, sizeof rel, "enginelog/%s", name);
    cJSON *starts = NULL;
    cr_assert_eq(iw_engine_log_read(iwt_fixture(rel), &starts, rep), 0, "%s", iw_error_last());
    return starts;
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
    cr_assert(cJSON_IsNumber(x), "%s.%s missing", a, b);
    return x->valuedouble;
}

static bool has(const cJSON *o, const char *a, const char *b)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b) != NULL;
}

static const char *str(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = b ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b)
                       : cJSON_GetObjectItemCaseSensitive(o, a);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

Test(enginelog, vllm_v1_0_19_all_figures_and_settings)
{
    iw_engine_log_report rep;
    cJSON *s = read_fixture("vllm-0.19-codellama-7b.log", &rep);
    cr_assert_eq(cJSON_GetArraySize(s), 1);
    cr_assert_eq(rep.starts, 1);
    const cJSON *o = cJSON_GetArrayItem(s, 0);
    cr_assert_str_eq(str(o, "engine", NULL), "vllm");
    cr_assert_str_eq(str(o, "engine_version", NULL), "0.19.0");
    cr_assert_str_eq(str(o, "engine_generation", NULL), "V1");
    cr_assert_str_eq(str(o, "model", NULL), "codellama/CodeLlama-7b-hf");
    cr_assert_str_eq(str(o, "served_name", NULL), "codellama/CodeLlama-7b-hf");
    cr_assert_eq(num(o, "settings", "max_model_len"), 8192);
    cr_assert_eq(num(o, "settings", "tensor_parallel_size"), 1);
    cr_assert_eq(num(o, "settings", "max_num_batched_tokens"), 8192);
    cr_assert_float_eq(num(o, "settings", "gpu_memory_utilization"), 0.95, 1e-9);
    cr_assert_str_eq(str(o, "settings", "dtype"), "bfloat16");
    cr_assert_str_eq(str(o, "settings", "kv_cache_dtype"), "auto");
    cr_assert(!has(o, "settings", "quantization"));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "settings"), "enforce_eager")));
    cr_assert_eq(num(o, "settings", "gpu_total_bytes"), round(79.19 * GIB));
    cr_assert_eq(num(o, "measured", "weights_bytes"), round(12.56 * GIB));
    cr_assert_eq(num(o, "resolution", "weights_bytes"), round(0.01 * GIB));
    cr_assert_eq(num(o, "measured", "activation_bytes"), round(0.77 * GIB));
    cr_assert_eq(num(o, "measured", "non_torch_bytes"), round(0.25 * GIB));
    cr_assert_eq(num(o, "measured", "cuda_graph_bytes"), round(0.89 * GIB));
    cr_assert_eq(num(o, "measured", "non_kv_bytes"), round(13.57 * GIB));
    cr_assert_eq(num(o, "measured", "requested_bytes"), round(75.23 * GIB));
    cr_assert_eq(num(o, "measured", "kv_available_bytes"), round(61.66 * GIB));
    cr_assert_eq(num(o, "measured", "kv_tokens"), 126256);
    cr_assert_eq(num(o, "source", "line"), 1);
    cJSON_Delete(s);
}

Test(enginelog, vllm_v0_table_two_startups_without_engine_lines)
{
    cJSON *s = read_fixture("vllm-0.6.5-llama3-8b-tp1-tp2.log", NULL);
    cr_assert_eq(cJSON_GetArraySize(s), 2);
    const cJSON *a = cJSON_GetArrayItem(s, 0), *b = cJSON_GetArrayItem(s, 1);
    cr_assert_str_eq(str(a, "engine_generation", NULL), "V0");   /* no version line: the lines say V0 */
    cr_assert_null(str(a, "engine_version", NULL));
    cr_assert_eq(num(a, "settings", "gpu_total_bytes"), round(79.22 * GIB));
    cr_assert_float_eq(num(a, "settings", "gpu_memory_utilization"), 0.90, 1e-9);
    cr_assert_eq(num(a, "measured", "weights_bytes"), round(14.96 * GIB));
    cr_assert_eq(num(a, "measured", "non_torch_bytes"), round(1.79 * GIB));
    cr_assert_eq(num(a, "measured", "activation_bytes"), round(1.26 * GIB));
    cr_assert_eq(num(a, "measured", "kv_available_bytes"), round(53.29 * GIB));
    cr_assert_eq(num(a, "measured", "requested_bytes"), round(71.29 * GIB));
    cr_assert_eq(num(b, "measured", "weights_bytes"), round(7.48 * GIB));
    cr_assert_eq(num(b, "measured", "non_torch_bytes"), round(3.58 * GIB));
    cr_assert(!has(b, "measured", "kv_available_bytes"));
    cr_assert_eq(num(b, "source", "line"), 13);
    cJSON_Delete(s);
}

Test(enginelog, vllm_v0_one_line_profile_and_cuda_blocks)
{
    cJSON *s = read_fixture("vllm-0.7-llama32-11b-vision.log", NULL);
    cr_assert_eq(cJSON_GetArraySize(s), 1);
    const cJSON *o = cJSON_GetArrayItem(s, 0);
    cr_assert_eq(num(o, "settings", "gpu_total_bytes"), round(79.22 * GIB));
    cr_assert_eq(num(o, "measured", "requested_bytes"), round(71.29 * GIB));
    cr_assert_eq(num(o, "measured", "weights_bytes"), round(19.86 * GIB));
    cr_assert_eq(num(o, "measured", "activation_bytes"), round(36.63 * GIB));
    cr_assert_eq(num(o, "measured", "non_torch_bytes"), round(0.16 * GIB));
    cr_assert_eq(num(o, "measured", "kv_available_bytes"), round(14.65 * GIB));
    cr_assert_eq(num(o, "measured", "kv_blocks"), 6001);
    cr_assert_eq(num(o, "measured", "kv_tokens"), 6001 * 16);
    cJSON_Delete(s);
}

Test(enginelog, other_ranks_lines_are_not_a_start)
{
    iw_engine_log_report rep;
    cJSON *s = read_fixture("vllm-0.8-tp4-workers.log", &rep);
    cr_assert_eq(cJSON_GetArraySize(s), 0);   /* every line is from a worker other than the driver */
    cr_assert_eq(rep.lines, 7);
    cJSON_Delete(s);
}

Test(enginelog, llamacpp_buffers_gpu_and_host)
{
    cJSON *s = read_fixture("llamacpp-mistral-7b-n_ctx-32768.log", NULL);
    cr_assert_eq(cJSON_GetArraySize(s), 1);
    const cJSON *o = cJSON_GetArrayItem(s, 0);
    cr_assert_str_eq(str(o, "engine", NULL), "llama.cpp");
    cr_assert_eq(num(o, "settings", "n_ctx"), 32768);
    cr_assert_eq(num(o, "settings", "n_batch"), 512);
    cr_assert_eq(num(o, "settings", "n_ubatch"), 512);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "settings"), "flash_attn")));
    cr_assert_str_eq(str(o, "settings", "type_k"), "f16");
    cr_assert_eq(num(o, "measured", "kv_buffer_bytes"), 4096 * MIB);
    cr_assert_eq(num(o, "measured", "compute_buffer_bytes"), 2144 * MIB);
    cr_assert_eq(num(o, "measured", "host_compute_buffer_bytes"), round(72.01 * MIB));
    cr_assert_eq(num(o, "measured", "output_buffer_bytes"), round(0.12 * MIB));
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "settings"), "output_buffer_on_gpu")));
    cr_assert_eq(num(o, "settings", "gpu_devices"), 1);
    cJSON_Delete(s);
}

Test(enginelog, llamacpp_prefixed_lines_and_multi_gpu_sums)
{
    cJSON *s = read_fixture("llamasharp-qwen2.5-3b.log", NULL);
    cr_assert_eq(cJSON_GetArraySize(s), 1);
    const cJSON *o = cJSON_GetArrayItem(s, 0);
    cr_assert_eq(num(o, "measured", "kv_buffer_bytes"), 144 * MIB);
    cr_assert_eq(num(o, "measured", "compute_buffer_bytes"), round(300.75 * MIB));
    cJSON_Delete(s);

    s = read_fixture("llamacpp-8gpu-deepseek.log", NULL);
    cr_assert_eq(cJSON_GetArraySize(s), 1);
    o = cJSON_GetArrayItem(s, 0);
    cr_assert_eq(num(o, "settings", "n_seq"), 8);
    cr_assert_eq(num(o, "settings", "n_ctx"), 16384);
    cr_assert_eq(num(o, "settings", "n_ctx_seq"), 2048);
    cr_assert_str_eq(str(o, "settings", "type_k"), "q4_0");
    cr_assert_str_eq(str(o, "settings", "type_v"), "f16");
    cr_assert_eq(num(o, "settings", "gpu_devices"), 8);   /* CUDA0..7 */
    cr_assert_float_eq(num(o, "measured", "model_buffer_bytes"),
                       round((25338.47 * 4 + 22171.16 + 19728.83) * MIB), 4);
    cr_assert_eq(num(o, "measured", "kv_buffer_bytes"), (5824.0 * 3 + 5096) * MIB);
    cJSON_Delete(s);
}

Test(enginelog, a_context_without_buffers_is_dropped)
{
    iw_engine_log_report rep;
    cJSON *s = read_fixture("ollama-journald-r1-1.5b.log", &rep);
    cr_assert_eq(cJSON_GetArraySize(s), 0);
    cr_assert_eq(rep.empty_starts, 1);
    cJSON_Delete(s);
}

Test(enginelog, hostile_input_one_line_errors)
{
    cJSON *s = NULL;
    const char nul[] = "INFO Model loading took 1.0 GiB\n\0junk\n";
    cr_assert_lt(iw_engine_log_parse(nul, sizeof nul - 1, "x.log", &s, NULL), 0);
    cr_assert_str_eq(iw_error_last(), "x.log:2: NUL byte: not a text log");
    const char *bad = "a\nINFO [gpu_worker.py:436] Available KV cache memory: lots GiB\n";
    cr_assert_lt(iw_engine_log_parse(bad, strlen(bad), "y.log", &s, NULL), 0);
    cr_assert_str_eq(iw_error_last(), "y.log:2: 'Available KV cache memory:' is not followed by a number");
    const char *big = "Model loading took 99999999999 GiB\n";
    cr_assert_lt(iw_engine_log_parse(big, strlen(big), "z.log", &s, NULL), 0);
    cr_assert(strstr(iw_error_last(), "z.log:1: ") && strstr(iw_error_last(), "out of range"), "%s", iw_error_last());
    const char *nounit = "GPU KV cache size: 12 tokens\nModel loading took 3\n";
    cr_assert_lt(iw_engine_log_parse(nounit, strlen(nounit), "u.log", &s, NULL), 0);
    cr_assert(strstr(iw_error_last(), "u.log:2: ") && strstr(iw_error_last(), "no unit"), "%s", iw_error_last());
    cr_assert_null(s);

    /* a line over the cap is skipped and counted, the rest read */
    size_t n = IW_ENGINE_LOG_MAX_LINE + 100;
    char *t = malloc(n + 64);
    memset(t, 'x', n);
    strcpy(t + n, "\nGPU KV cache size: 1,024 tokens\n");
    iw_engine_log_report rep;
    cr_assert_eq(iw_engine_log_parse(t, strlen(t), "long.log", &s, &rep), 0, "%s", iw_error_last());
    cr_assert_eq(rep.long_lines, 1);
    cr_assert_eq(cJSON_GetArraySize(s), 1);
    cr_assert_eq(num(cJSON_GetArrayItem(s, 0), "measured", "kv_tokens"), 1024);
    cJSON_Delete(s);
    free(t);

    /* more start-ups than the cap */
    size_t cap = (IW_ENGINE_LOG_MAX_STARTS + 1) * 64;
    char *many = malloc(cap);
    size_t off = 0;
    for (unsigned i = 0; i <= IW_ENGINE_LOG_MAX_STARTS; i++)
        off += (size_t)snprintf(many + off, cap - off, "Loading model weights took 1.0 GB\n");
    cr_assert_lt(iw_engine_log_parse(many, off, "m.log", &s, NULL), 0);
    cr_assert(strstr(iw_error_last(), "more than 256 start-ups"), "%s", iw_error_last());
    free(many);

    cr_assert_lt(iw_engine_log_read("/nonexistent/engine.log", &s, NULL), 0);
    cr_assert(strstr(iw_error_last(), "cannot open engine log '/nonexistent/engine.log'"));
}

Test(enginelog, a_second_engine_line_begins_another_start)
{
    const char *t =
        "INFO 11-21 llm_engine.py:249] Initializing an LLM engine (v0.6.4.post1) with config: model='m', "
        "dtype=torch.float16, max_seq_len=20000, tensor_parallel_size=1, quantization=awq, enforce_eager=True, "
        "kv_cache_dtype=fp8, served_model_name=mine, num_scheduler_steps=1\n"
        "INFO model_runner.py:1077] Loading model weights took 14.9888 GB\n"
        "INFO worker.py:232] Memory profiling results: total_gpu_memory=23.58GiB initial_memory_usage=15.26GiB "
        "peak_torch_memory=16.19GiB memory_usage_post_profile=15.30GiB non_torch_memory=0.31GiB "
        "kv_cache_size=4.72GiB gpu_memory_utilization=0.90\n"
        "INFO distributed_gpu_executor.py:57] # GPU blocks: 1952, # CPU blocks: 2048\n"
        "INFO 11-21 llm_engine.py:249] Initializing an LLM engine (v0.6.4.post1) with config: model='m', "
        "max_seq_len=29000, served_model_name=mine\n"
        "INFO model_runner.py:1077] Loading model weights took 14.9888 GB\n";
    cJSON *s = NULL;
    cr_assert_eq(iw_engine_log_parse(t, strlen(t), "v.log", &s, NULL), 0, "%s", iw_error_last());
    cr_assert_eq(cJSON_GetArraySize(s), 2);
    const cJSON *a = cJSON_GetArrayItem(s, 0);
    cr_assert_str_eq(str(a, "engine_version", NULL), "0.6.4.post1");
    cr_assert_str_eq(str(a, "served_name", NULL), "mine");
    cr_assert_str_eq(str(a, "settings", "quantization"), "awq");
    cr_assert_str_eq(str(a, "settings", "kv_cache_dtype"), "fp8");
    cr_assert_str_eq(str(a, "settings", "dtype"), "float16");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "settings"), "enforce_eager")));
    cr_assert_eq(num(a, "measured", "weights_bytes"), round(14.9888 * GIB));
    cr_assert_eq(num(a, "resolution", "weights_bytes"), round(0.0001 * GIB));
    /* 0.6.4 logs the torch peak with the weights in it */
    cr_assert_eq(num(a, "measured", "activation_bytes"), round((16.19 - 14.9888) * GIB));
    cr_assert_eq(num(a, "measured", "kv_available_bytes"), round(4.72 * GIB));
    cr_assert_eq(num(a, "measured", "kv_tokens"), 1952 * 16);
    const cJSON *b = cJSON_GetArrayItem(s, 1);
    cr_assert_eq(num(b, "settings", "max_model_len"), 29000);
    cr_assert_eq(num(b, "source", "line"), 5);
    cJSON_Delete(s);
}

/* Synthetic lines in the shapes of Ollama's server log and a vLLM V1 tp2
 * log (the seeds tests/fuzz/seeds/engine_log/ollama-cmd-and-time.log and
 * vllm-v1-tp2-args.log). */
Test(enginelog, ollama_command_line_and_timestamps)
{
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/tests/fuzz/seeds/engine_log/ollama-cmd-and-time.log", iwt_source_dir()) > 0);
    cJSON *s = NULL;
    cr_assert_eq(iw_engine_log_read(path, &s, NULL), 0, "%s", iw_error_last());
    free(path);
    cr_assert_eq(cJSON_GetArraySize(s), 1);
    const cJSON *o = cJSON_GetArrayItem(s, 0);
    cr_assert_str_eq(str(o, "engine", NULL), "llama.cpp");
    cr_assert_str_eq(str(o, "model", NULL), "/root/.ollama/models/blobs/sha256-0123abcd");
    cr_assert_str_eq(str(o, "observed_at", NULL), "2025-01-10T12:34:56.789-06:00");
    cr_assert_eq(num(o, "settings", "n_ctx"), 8192);
    cr_assert_eq(num(o, "settings", "n_seq"), 4);
    cr_assert_eq(num(o, "settings", "n_gpu_layers"), 29);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "settings"), "flash_attn")));
    cr_assert_eq(num(o, "measured", "model_buffer_bytes"), round(4168.09 * MIB));
    cr_assert_eq(num(o, "measured", "compute_buffer_bytes"), round(300.75 * MIB));
    cJSON_Delete(s);
}

Test(enginelog, vllm_v1_tp2_takes_rank_0)
{
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/tests/fuzz/seeds/engine_log/vllm-v1-tp2-args.log", iwt_source_dir()) > 0);
    cJSON *s = NULL;
    cr_assert_eq(iw_engine_log_read(path, &s, NULL), 0, "%s", iw_error_last());
    free(path);
    cr_assert_eq(cJSON_GetArraySize(s), 1);
    const cJSON *o = cJSON_GetArrayItem(s, 0);
    cr_assert_str_eq(str(o, "engine_version", NULL), "0.10.1");
    cr_assert_str_eq(str(o, "served_name", NULL), "qwen3-8b");
    cr_assert_str_eq(str(o, "model", NULL), "/models/Qwen3-8B");
    cr_assert_eq(num(o, "settings", "tensor_parallel_size"), 2);
    cr_assert_eq(num(o, "settings", "max_num_seqs"), 64);
    cr_assert_eq(num(o, "settings", "max_num_batched_tokens"), 4096);
    cr_assert_float_eq(num(o, "settings", "gpu_memory_utilization"), 0.92, 1e-9);
    cr_assert_str_eq(str(o, "settings", "quantization"), "fp8");
    cr_assert_str_eq(str(o, "settings", "kv_cache_dtype"), "fp8");
    cr_assert_eq(num(o, "measured", "weights_bytes"), round(8.8745 * GIB));   /* rank 1's 9.1 GiB skipped */
    cr_assert_eq(num(o, "measured", "kv_tokens"), 1759568);
    cr_assert_eq(num(o, "measured", "cuda_graph_bytes"), round(0.61 * GIB));
    cJSON_Delete(s);
}
