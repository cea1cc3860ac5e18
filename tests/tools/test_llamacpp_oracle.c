/* test_llamacpp_oracle.c - the llama.cpp estimate against llama.cpp itself,
 * so no change can drift from it: a subset of bench/llamacpp_oracle.sh.
 *
 * llama.cpp comes from node-llama-cpp 3.22.1 (prebuilt CPU libraries and the
 * source bundle), which scripts/setup.sh installs into bench/llamacpp;
 * bench/llamacpp/setup.sh (offline: it never runs npm here) clones the
 * bundle and builds the harness in the build folder.  For each architecture
 * a published config.json (embedded below) is written as a full-size sparse
 * GGUF by gguf-synth; llama.cpp sizes it in its memory-fit mode (no_alloc)
 * and the estimator must give the same bytes: weights and KV exactly, the
 * compute buffer exactly (the graph replay), the output buffer to the log's
 * 0.01 MiB.
 *
 * Without node-llama-cpp the test fails when CI is set (CI=true, as CI
 * services set it) and is skipped with a message otherwise. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwdl/arch.h"
#include "iwdl/error.h"
#include "iwdl/estimate.h"
#include "iwdl/extract.h"
#include "iwtest.h"

typedef struct model {
    const char *name, *type, *config;
} model;

/* published config.json values (Hugging Face) */
static const model MODELS[] = {
    {"tinyllama", "f16",
     "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":2048,"
     "\"intermediate_size\":5632,\"num_hidden_layers\":22,\"num_attention_heads\":32,\"num_key_value_heads\":4,"
     "\"vocab_size\":32000,\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-05,\"tie_word_embeddings\":false}"},
    {"qwen2.5-0.5b", "q8_0",
     "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"hidden_size\":896,"
     "\"intermediate_size\":4864,\"num_hidden_layers\":24,\"num_attention_heads\":14,\"num_key_value_heads\":2,"
     "\"vocab_size\":151936,\"max_position_embeddings\":32768,\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,"
     "\"tie_word_embeddings\":true}"},
    {"qwen3-30b-a3b", "q4_k",
     "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"model_type\":\"qwen3_moe\",\"hidden_size\":2048,"
     "\"intermediate_size\":6144,\"moe_intermediate_size\":768,\"num_hidden_layers\":48,\"num_attention_heads\":32,"
     "\"num_key_value_heads\":4,\"head_dim\":128,\"num_experts\":128,\"num_experts_per_tok\":8,"
     "\"vocab_size\":151936,\"max_position_embeddings\":40960,\"rms_norm_eps\":1e-06,\"tie_word_embeddings\":false}"},
    {"gemma-3-1b", "f16",
     "{\"architectures\":[\"Gemma3ForCausalLM\"],\"model_type\":\"gemma3_text\",\"hidden_size\":1152,"
     "\"intermediate_size\":6912,\"num_hidden_layers\":26,\"num_attention_heads\":4,\"num_key_value_heads\":1,"
     "\"head_dim\":256,\"vocab_size\":262144,\"max_position_embeddings\":32768,\"sliding_window\":512,"
     "\"sliding_window_pattern\":6,\"rms_norm_eps\":1e-06}"},
    {"phi-3.5-mini", "q4_k",
     "{\"architectures\":[\"Phi3ForCausalLM\"],\"model_type\":\"phi3\",\"hidden_size\":3072,"
     "\"intermediate_size\":8192,\"num_hidden_layers\":32,\"num_attention_heads\":32,\"num_key_value_heads\":32,"
     "\"vocab_size\":32064,\"max_position_embeddings\":131072,\"sliding_window\":262144,\"rms_norm_eps\":1e-05,"
     "\"tie_word_embeddings\":false}"},
    {"deepseek-v2-lite", "q4_k",
     "{\"architectures\":[\"DeepseekV2ForCausalLM\"],\"model_type\":\"deepseek_v2\",\"hidden_size\":2048,"
     "\"intermediate_size\":10944,\"moe_intermediate_size\":1408,\"num_hidden_layers\":27,\"num_attention_heads\":16,"
     "\"num_key_value_heads\":16,\"kv_lora_rank\":512,\"q_lora_rank\":null,\"qk_nope_head_dim\":128,"
     "\"qk_rope_head_dim\":64,\"v_head_dim\":128,\"n_routed_experts\":64,\"n_shared_experts\":2,"
     "\"num_experts_per_tok\":6,\"first_k_dense_replace\":1,\"vocab_size\":102400,"
     "\"max_position_embeddings\":163840,\"rms_norm_eps\":1e-06}"},
    {"gpt-oss-120b", "f16",
     "{\"architectures\":[\"GptOssForCausalLM\"],\"model_type\":\"gpt_oss\",\"hidden_size\":2880,"
     "\"intermediate_size\":2880,\"num_hidden_layers\":36,\"num_attention_heads\":64,\"num_key_value_heads\":8,"
     "\"head_dim\":64,\"num_local_experts\":128,\"num_experts_per_tok\":4,\"vocab_size\":201088,"
     "\"max_position_embeddings\":131072,\"sliding_window\":128,\"rms_norm_eps\":1e-05,"
     "\"layer_types\":[\"sliding_attention\",\"full_attention\"],\"tie_word_embeddings\":false}"},
};

/* ctx per sequence, sequences, flash attention, KV type, ubatch, llama-server (else llama-cli) */
typedef struct kase { int64_t ctx, seqs; int fa; iw_kv_dtype kv; int64_t ub; bool server; } kase;
static const kase CASES[] = {
    {4096, 1, 1, IW_KV_F16, 512, true},
    {1000, 3, 0, IW_KV_F16, 512, false},
    {2048, 4, 1, IW_KV_Q8_0, 256, true},
    {1536, 2, 1, IW_KV_Q4_0, 2048, false},
};

static int ggml_type(iw_kv_dtype t) { return t == IW_KV_Q8_0 ? 8 : t == IW_KV_Q4_0 ? 2 : 1; }

/* bench/llamacpp/setup.sh, offline; the oracle's library folder, or NULL */
static char *prepare(char *dir, size_t n)
{
    snprintf(dir, n, "%s/llamacpp-oracle", iwt_build_dir());
    char cmd[8192], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "IW_ORACLE_OFFLINE=1 '%s/bench/llamacpp/setup.sh' '%s'", iwt_source_dir(), dir);
    int rc = iwt_run(cmd, &out, &err);
    char *bins = NULL;
    if (rc == 0 && out) {
        char *nl;
        while ((nl = strrchr(out, '\n')) && nl[1] == 0)
            *nl = 0;
        char *last = strrchr(out, '\n');
        bins = strdup(last ? last + 1 : out);
    } else {
        const char *ci = getenv("CI");
        if (ci && *ci && strcmp(ci, "0") && strcmp(ci, "false"))
            cr_assert_fail("llama.cpp oracle unavailable in CI: %s", err ? err : "setup failed");
        fprintf(stderr, "llamacpp_oracle: skipped: %s", err ? err : "setup failed\n");
    }
    free(out);
    free(err);
    return bins;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int64_t term_of(const iw_est_term *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return t[i].bytes;
    return -1;
}

Test(llamacpp_oracle, estimate_equals_llama_cpp, .timeout = 600)
{
    char dir[4096];
    char *bins = prepare(dir, sizeof dir);
    if (!bins)
        cr_skip_test("node-llama-cpp not installed (scripts/setup.sh installs it)");
    char *tmp = iwt_tmpdir("oracle");
    int compared = 0;
    for (size_t mi = 0; mi < sizeof MODELS / sizeof MODELS[0]; mi++) {
        const model *m = &MODELS[mi];
        char cfg[4400], gguf[4400], cmd[16384], *out = NULL, *err = NULL;
        snprintf(cfg, sizeof cfg, "%s/%s/config.json", tmp, m->name);
        cr_assert_eq(iwt_write(cfg, m->config, strlen(m->config)), 0);
        snprintf(gguf, sizeof gguf, "%s/%s.gguf", tmp, m->name);
        snprintf(cmd, sizeof cmd, "'%s/gguf-synth' '%s' '%s' --type %s", iwt_build_dir(), cfg, gguf, m->type);
        cr_assert_eq(iwt_run(cmd, NULL, &err), 0, "gguf-synth %s: %s", m->name, err ? err : "");
        free(err);
        err = NULL;
        /* llama.cpp's figures for every case */
        char lines[2048] = "";
        size_t off = 0;
        for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++) {
            const kase *k = &CASES[ci];
            off += (size_t)snprintf(lines + off, sizeof lines - off, "%lld %lld %d %d %d %lld 2048 %lld 0\\n",
                                    (long long)k->ctx, (long long)k->seqs, k->fa, ggml_type(k->kv), ggml_type(k->kv),
                                    (long long)k->ub, (long long)(k->server ? k->seqs : 0));
        }
        snprintf(cmd, sizeof cmd, "printf '%s' | '%s/oracle' '%s' '%s'", lines, dir, bins, gguf);
        int rc = iwt_run(cmd, &out, &err);
        cr_assert_eq(rc, 0, "oracle on %s: %s", m->name, err ? err : "");
        iw_arch a;
        iw_arch_init(&a);
        cr_assert_eq(iw_extract_path(gguf, NULL, &a), 0, "%s: %s", m->name, iw_error_last());
        char *line = out;
        for (size_t ci = 0; ci < sizeof CASES / sizeof CASES[0]; ci++) {
            const kase *k = &CASES[ci];
            char *nl = strchr(line, '\n');
            cr_assert_not_null(nl, "%s: oracle output cut: %s", m->name, out);
            *nl = 0;
            cJSON *j = cJSON_Parse(line);
            cr_assert_not_null(j, "%s: %s", m->name, line);
            line = nl + 1;
            cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")), "%s case %zu: llama.cpp: %s", m->name, ci, nl);
            iw_est_opts o;
            iw_est_opts_init(&o);
            o.engine = IW_ENGINE_LLAMACPP;
            o.context = k->ctx;
            o.batch = k->seqs;
            o.flash_attn = k->fa;
            o.kv_dtype = k->kv;
            o.n_ubatch = k->ub;
            o.n_batch = 2048;
            o.llama_app = k->server ? IW_LLAMA_SERVER : IW_LLAMA_CLI;
            iw_estimate e;
            iw_estimate_init(&e);
            cr_assert_eq(iw_estimate_compute(&a, &o, &e), 0, "%s: %s", m->name, iw_error_last());
            cr_expect_eq((double)e.weights_bytes, num(j, "model"), "%s case %zu weights: ours %lld", m->name, ci,
                         (long long)e.weights_bytes);
            cr_expect_eq((double)term_of(e.terms, e.n_terms, "kv_cache"), num(j, "kv"), "%s case %zu KV: ours %lld, "
                         "llama.cpp %.0f", m->name, ci, (long long)term_of(e.terms, e.n_terms, "kv_cache"), num(j, "kv"));
            cr_expect_eq((double)term_of(e.terms, e.n_terms, "compute"), num(j, "compute"), "%s case %zu compute: "
                         "ours %lld, llama.cpp %.0f", m->name, ci, (long long)term_of(e.terms, e.n_terms, "compute"),
                         num(j, "compute"));
            const cJSON *mib = cJSON_GetObjectItem(j, "output_mib");
            double ob = (double)term_of(e.host_terms, e.n_host_terms, "output") / 1048576.0;
            cr_expect(cJSON_IsString(mib) && fabs(round(ob * 100) / 100 - atof(mib->valuestring)) < 0.005,
                      "%s case %zu output buffer: ours %.4f MiB, llama.cpp %s MiB", m->name, ci, ob,
                      cJSON_IsString(mib) ? mib->valuestring : "?");
            compared++;
            iw_estimate_free(&e);
            cJSON_Delete(j);
        }
        iw_arch_free(&a);
        free(out);
        free(err);
    }
    cr_expect_eq(compared, (int)(sizeof MODELS / sizeof MODELS[0] * sizeof CASES / sizeof CASES[0]));
    iwt_rm_rf(tmp);
    free(tmp);
    free(bins);
}
