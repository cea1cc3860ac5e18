/* recommend.c - how many concurrent sequences a recommendation may ask of
 * an engine.  Memory alone can allow thousands for a small model; the
 * engines stop earlier (docs/estimate.md, "Parallelism caps"):
 *
 *   llama.cpp  LLAMA_MAX_SEQ = 256 sequences (src/llama-cparams.h); the
 *              llama_context constructor (src/llama-context.cpp) refuses a
 *              larger n_seq_max, which llama-server's -np sets.
 *   Ollama     runs llama-server with -np OLLAMA_NUM_PARALLEL (llm/
 *              llama_server.go), so the same 256; and its scheduler serves
 *              some architectures one request at a time whatever the
 *              setting (server/sched.go, Scheduler.load).
 *   vLLM       no hard limit; its default max_num_seqs is 256, 1024 on a GPU
 *              of 70 GiB or more that is not an A100 (vllm/engine/
 *              arg_utils.py, get_batch_defaults), and the scheduler needs
 *              max_num_batched_tokens >= max_num_seqs.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iwdl/estimate.h"

/* ollama server/sched.go: "Some architectures are not safe with num_parallel > 1". */
static const char *const OLLAMA_SERIAL[] = {
    "mllama", "qwen3vl", "qwen3vlmoe", "qwen35", "qwen35moe", "qwen3next", "lfm2", "lfm2moe",
    "nemotron_h", "nemotron_h_moe", "nemotron_h_omni", NULL,
};

static bool has_ci(const char *hay, const char *needle)
{
    for (size_t n = strlen(needle); hay && *hay; hay++)
        if (!strncasecmp(hay, needle, n))
            return true;
    return false;
}

int64_t iw_estimate_batch_cap(const iw_estimate *e, const iw_arch *a, const char *gpu, char *why, size_t n)
{
    const iw_est_opts *in = &e->in;
    int64_t cap;
    if (in->engine == IW_ENGINE_VLLM) {
        bool big = in->vram_bytes != IW_UNKNOWN && in->vram_bytes >= (int64_t)70 << 30;
        bool a100 = gpu && has_ci(gpu, "a100");
        cap = big && !a100 ? IW_EST_VLLM_MAX_SEQS_BIG : IW_EST_VLLM_MAX_SEQS_DEFAULT;
        snprintf(why, n, "vLLM's default max_num_seqs on this GPU%s; vLLM takes more when its --max-num-seqs "
                 "says so", big && !gpu ? " (256 on an A100)" : "");
        if (in->max_num_batched_tokens > 0 && in->max_num_batched_tokens < cap) {
            cap = in->max_num_batched_tokens;
            snprintf(why, n, "vLLM needs max_num_batched_tokens (%lld) >= max_num_seqs",
                     (long long)in->max_num_batched_tokens);
        }
        return cap;
    }
    const char *arch = a ? (a->model_type ? a->model_type : a->architecture) : NULL;
    if (in->engine == IW_ENGINE_OLLAMA && arch)
        for (const char *const *s = OLLAMA_SERIAL; *s; s++)
            if (!strcasecmp(arch, *s)) {
                snprintf(why, n, "Ollama serves %s models one request at a time, whatever OLLAMA_NUM_PARALLEL says",
                         arch);
                return 1;
            }
    snprintf(why, n, "%s at most %d sequences (LLAMA_MAX_SEQ)",
             in->engine == IW_ENGINE_OLLAMA ? "Ollama's llama-server runs" : "llama-server runs",
             IW_EST_LLAMA_MAX_SEQ);
    return IW_EST_LLAMA_MAX_SEQ;
}
